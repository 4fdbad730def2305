//! Every reason xgw drops a frame, declared once.
//!
//! Each reason has a stable dotted name (used in `xgw stats`, JSON output
//! and Prometheus labels, so never renamed) and one sentence for operators.
//! Counters are kept per worker and per ingress port, indexed by
//! [`DropReason::index`].

macro_rules! drop_reasons {
    ($( $(#[$m:meta])* $variant:ident = $name:literal : $desc:literal ,)*) => {
        /// Why a frame was dropped.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum DropReason {
            $( $(#[$m])* $variant, )*
        }

        impl DropReason {
            /// All reasons, in counter-index order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            /// Number of reasons (size of a per-port counter row).
            pub const COUNT: usize = Self::ALL.len();

            /// Stable dotted name, e.g. `l2.runt`.
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)* }
            }

            /// One sentence saying what happened to the frame.
            pub const fn description(self) -> &'static str {
                match self { $(DropReason::$variant => $desc,)* }
            }
        }
    };
}

drop_reasons! {
    /// Frame too short to hold an Ethernet header.
    L2Runt = "l2.runt": "frame shorter than an Ethernet header (14 bytes)",
    /// The L2 forwarder has no cross-connect for the ingress port.
    L2NoCrossConnect = "l2.no_cross_connect": "frame arrived on a port that no cross-connect serves",
    /// The egress TX ring was full when the burst was flushed.
    TxRingFull = "tx.ring_full": "the egress port's TX ring had no free slot for the frame",
    /// A verdict named a port that does not exist (pipeline bug).
    TxNoSuchPort = "tx.no_such_port": "a stage sent the frame to a port that is not configured (internal error)",
    /// A stage named a next stage that does not come after it; a node
    /// sent a frame along an arc it does not have (or one naming an end);
    /// a frame entered a node graph at a node it does not have.
    PipelineBadNext = "pipeline.bad_next": "a node sent a frame along an arc it does not have (internal error)",
    /// A frame took too many arcs (a loop through the graph).
    GraphHopLimit = "graph.hop_limit": "the frame went through more graph nodes than any real path takes (a loop, e.g. tunnels inside tunnels); dropped",
    /// A frame read from a capture does not fit in a UMEM chunk.
    RxOversize = "rx.oversize": "frame larger than a UMEM chunk minus headroom (captures only; AF_XDP enforces it in the kernel)",
    // ---- router: parse / classify
    L2NotForUs = "l2.not_for_us": "unicast frame for another host's MAC address",
    L2NoInterface = "l2.no_interface": "frame on a port/VLAN with no interface configured",
    L2UnknownEthertype = "l2.unknown_ethertype": "EtherType the router does not handle (not ARP, IPv4 or IPv6)",
    ArpMalformed = "arp.malformed": "ARP packet that is not Ethernet/IPv4 or is truncated",
    ArpNotForUs = "arp.not_for_us": "ARP request for an address that is not ours",
    Ip4Malformed = "ip4.malformed": "IPv4 header truncated or invalid (version, IHL, total length)",
    Ip4BadChecksum = "ip4.bad_checksum": "IPv4 header checksum is wrong",
    Ip4MartianSource = "ip4.martian_source": "IPv4 source is multicast, broadcast, 0.0.0.0 or loopback",
    Ip4NotForwarded = "ip4.multicast_not_forwarded": "IPv4 multicast/broadcast not addressed to us (no multicast routing)",
    Ip6Malformed = "ip6.malformed": "IPv6 header truncated or not version 6",
    Ip6BadExtHeader = "ip6.bad_ext_header": "IPv6 extension header chain truncated, too long or misordered",
    Ip6MartianSource = "ip6.martian_source": "IPv6 source is multicast or loopback",
    Ip6NotForwarded = "ip6.multicast_not_forwarded": "IPv6 multicast not for us (no multicast routing)",
    Ip6LinkLocalNotForwarded = "ip6.link_local_not_forwarded": "IPv6 packet with a link-local source or destination cannot be forwarded (RFC 4291)",
    Ip4MartianDestination = "ip4.martian_destination": "IPv4 destination in 0.0.0.0/8, 127.0.0.0/8 or 240.0.0.0/4 (never forwarded, RFC 1812 §5.3.7)",
    Ip6MartianDestination = "ip6.martian_destination": "IPv6 destination that the IANA special-purpose registry marks not forwardable (::, ::1, ::ffff:0:0/96, 100:0:0:1::/64)",
    Ip4OwnSource = "ip4.own_source": "IPv4 packet from outside (or out of a tunnel) claiming one of xgw's own addresses as source",
    Ip6OwnSource = "ip6.own_source": "IPv6 packet from outside (or out of a tunnel) claiming one of xgw's own addresses as source",
    Ip6UnspecifiedSource = "ip6.unspecified_source": "IPv6 packet to xgw from :: that is not Neighbor Discovery (nothing can be answered to ::)",
    // ---- router: local delivery
    LocalFragment = "local.fragment": "fragmented packet addressed to xgw itself (no reassembly)",
    LocalNoService = "local.no_service": "TCP or other traffic to xgw's own address with nothing listening",
    LocalEchoToBroadcast = "local.echo_to_broadcast": "ICMP echo to a broadcast address is ignored",
    IcmpBadChecksum = "icmp.bad_checksum": "ICMP/ICMPv6 message with a wrong checksum",
    IcmpTruncated = "icmp.truncated": "ICMP/ICMPv6 message to xgw shorter than its 8-byte header inside a valid IP packet",
    NdpTruncated = "ndp.truncated": "Neighbor Discovery message shorter than its fixed part (RFC 4861 §7.1: length 24 for NS/NA, 8 for RS)",
    NdpBadLladdr = "ndp.bad_lladdr": "NS/NA/RS whose link-layer address option is zero, multicast/broadcast or xgw's own MAC: never learned, not answered",
    ArpBadSenderMac = "arp.bad_sender_mac": "ARP packet whose sender MAC is zero, multicast/broadcast or xgw's own MAC: never learned, not answered",
    Udp6ZeroChecksum = "udp.ip6_zero_checksum": "UDP over IPv6 to xgw with checksum 0, silently discarded (RFC 8200 §8.1)",
    UdpBadChecksum = "udp.bad_checksum": "UDP datagram to xgw whose checksum is wrong (RFC 1122 §4.1.3.4: silently discarded)",
    UdpTruncated = "udp.truncated": "UDP datagram to xgw shorter than its 8-byte header inside a valid IP packet",
    NdpInvalid = "ndp.invalid": "Neighbor Discovery message failing RFC 4861 validation (hop limit, code, options)",
    NdpNotForUs = "ndp.not_for_us": "Neighbor Solicitation for a target that is not ours",
    // ---- router: forwarding
    RpfStrict = "rpf.strict_failed": "strict reverse-path check: the route back to the source uses another interface",
    RpfLoose = "rpf.loose_failed": "loose reverse-path check: no usable route back to the source",
    RouteBlackhole = "route.blackhole": "destination matched a blackhole route",
    RouteNone = "route.no_route": "no route to the destination (ICMP error not sent)",
    FragOptions = "ip4.frag_with_options": "IPv4 packet with options (IHL > 5) needs fragmenting; xgw fragments only option-less packets",
    IcmpRateLimited = "icmp.rate_limited": "an ICMP error was due but the per-worker rate limit was exhausted",
    IcmpSuppressed = "icmp.suppressed": "an ICMP error was due but not allowed (about an ICMP error, a fragment, to/from multicast, or toward one of xgw's own or broadcast addresses)",
    IcmpNoSource = "icmp.no_source": "an ICMP error was due but the interface has no address of that family to send it from",
    IcmpNoHeadroom = "icmp.no_headroom": "an ICMP error was due but the frame had no headroom left for the error's new IP and ICMP headers",
    IcmpHeaderWriteFailed = "icmp.header_write_failed": "an ICMP error was due but its IP or ICMP header could not be written into the frame (internal error)",
    // ---- router: egress
    VlanNoHeadroom = "vlan.no_headroom": "no headroom left in the frame for the egress interface's 802.1Q tag",
    // ---- router: neighbours
    NeighQueueFull = "neigh.queue_full": "frames waiting for this neighbour's resolution exceeded the per-neighbour limit",
    NeighTableFull = "neigh.table_full": "the neighbour table is full of entries that cannot be evicted",
    NeighFailed = "neigh.resolution_failed": "the next hop never answered ARP / Neighbor Solicitation",
    NeighNoSource = "neigh.no_source_address": "cannot resolve: the egress interface has no address of that family",
    // ---- tunnels
    TunnelNoMatch = "tunnel.no_match": "IP-in-IP packet to us from an outer source/destination/protocol that matches no configured tunnel (no open relay)",
    TunnelNested = "tunnel.nested": "a decapsulated packet is itself a tunnel packet to us (nested decapsulation is not done)",
    TunnelInnerMalformed = "tunnel.inner_malformed": "the decapsulated packet is truncated or not of the tunnel's inner family",
    TunnelEcnDrop = "tunnel.ecn_ce_not_ect": "outer header marked CE but the inner packet is Not-ECT (RFC 6040 §4.2: drop)",
    TunnelOuterFragment = "tunnel.outer_fragment": "fragmented outer IP-in-IP packet (xgw does not reassemble; the sender should lower the tunnel MTU)",
    TunnelNoHeadroom = "tunnel.no_headroom": "no headroom left in the frame for the outer header",
    TunnelGone = "tunnel.gone": "the route pointed to a tunnel that was removed",
    TunnelHeaderWriteFailed = "tunnel.header_write_failed": "the outer header could not be written (the tunnel's endpoints are not both of the outer family; internal error)",
    // ---- GTP-U (TS 29.281)
    GtpuMalformed = "gtpu.malformed": "GTP-U message to one of our endpoints that is truncated, not version 1 / PT 1, or whose length fields do not cover its own fields or extension headers",
    GtpuOuterFragment = "gtpu.outer_fragment": "fragmented outer packet to a GTP-U endpoint (xgw does not reassemble; the sender should lower its MTU)",
    GtpuNested = "gtpu.nested": "a decapsulated packet is itself GTP-U to one of our endpoints (nested decapsulation is not done)",
    GtpuUnknownMessage = "gtpu.unknown_message": "GTP-U message type a user-plane endpoint does not handle (TS 29.281 §7.1)",
    GtpuUnknownTeid = "gtpu.unknown_teid": "G-PDU for a TEID no session owns (an Error Indication is sent to its sender, rate-limited)",
    GtpuExtUnsupported = "gtpu.ext_unsupported": "G-PDU with an extension header that must be understood and is not (a Supported Extension Headers Notification is sent, rate-limited)",
    GtpuInnerMalformed = "gtpu.inner_malformed": "the T-PDU of a G-PDU is not a whole IPv4 or IPv6 packet",
    GtpuInnerSpoofed = "gtpu.inner_spoofed": "uplink packet whose source is not the session's UE address or prefix",
    GtpuGateClosed = "gtpu.gate_closed": "the session's gate for this direction is closed",
    GtpuMbrExceeded = "gtpu.mbr_exceeded": "the packet exceeds the session's maximum bit rate for this direction",
    GtpuSdfNoMatch = "gtpu.sdf_no_match": "the session has per-flow rules (PDRs with SDF filters) and none of its direction matched the packet (TS 29.244 §5.2.1)",
    GtpuNoSession = "gtpu.no_session": "packet routed into the GTP-U interface for a destination no session has as UE address or prefix",
    GtpuNoHeadroom = "gtpu.no_headroom": "no headroom left in the frame for the outer IP, UDP and GTP-U headers",
    GtpuBufferFull = "gtpu.buffer_full": "downlink packet of a buffering session (idle UE) beyond what a worker holds for it (64 packets, 1024 sessions)",
    GtpuBufferDiscarded = "gtpu.buffer_discarded": "buffered downlink packet dropped: its session was deleted, set to drop, or the control plane asked (PFCP DROBU)",
    GtpuBufferExpired = "gtpu.buffer_expired": "buffered downlink packet held 30 s without the session forwarding again",
    // ---- NAT64 / SIIT (RFC 7915)
    Nat64Malformed = "nat64.malformed": "packet routed into the translator whose IPv6 extension headers or ICMP header are truncated or inconsistent",
    Nat64SrcUntranslatable = "nat64.src_untranslatable": "the source address has no mapping (neither an EAM entry nor the pool6 prefix) and the packet is not an ICMP error",
    Nat64DstUntranslatable = "nat64.dst_untranslatable": "packet routed into the translator whose destination has no mapping (neither an EAM entry nor the pool6 prefix)",
    Nat64WkpNonGlobal = "nat64.wkp_non_global": "an IPv4 address that is not global (private, shared, loopback, documentation, ...) would be carried in the Well-Known Prefix 64:ff9b::/96, which RFC 6052 §3.1 forbids (`wkp_strict = true`)",
    Nat64IcmpUntranslatable = "nat64.icmp_untranslatable": "ICMP type or code with no counterpart in the other protocol (RFC 7915 §4.2, §5.2: silently dropped)",
    Nat64InnerUntranslatable = "nat64.inner_untranslatable": "the packet quoted in an ICMP error cannot be translated (truncated header, unmapped address, or an ICMP error inside)",
    Nat64IcmpFragmented = "nat64.icmp_fragmented": "fragmented ICMP message (its checksum covers the whole message, which a stateless translator never sees)",
    Nat64IcmpBadChecksum = "nat64.icmp_bad_checksum": "ICMP error with a wrong checksum (the translator rebuilds errors whole and will not vouch for a corrupted one)",
    Nat64HairpinLoop = "nat64.hairpin_loop": "a translated packet was routed into the translator a third time",
    Nat64NoRoom = "nat64.no_room": "no headroom or tailroom left in the frame for the translated headers",
    Nat64ProtoUnsupported = "nat64.proto_unsupported": "stateful NAT64 translates TCP, UDP and ICMP queries only (RFC 6146)",
    Nat64FragmentNoState = "nat64.fragment_no_state": "non-first fragment in stateful NAT64: its ports are in the first fragment, and fragments are not collected",
    Nat64NoState = "nat64.no_state": "TCP segment other than a SYN for which no session exists (RFC 6146 §3.5.2)",
    Nat64NoBinding = "nat64.no_binding": "packet to a pool4 transport address no binding (BIB entry) holds",
    Nat64Filtered = "nat64.filtered": "IPv4 packet refused by the filtering policy (address-dependent filtering, or externally initiated TCP turned off)",
    Nat64TableFull = "nat64.table_full": "new flow refused: this worker's session table is full (existing sessions keep working)",
    Nat64HeldSynSuperseded = "nat64.held_syn_superseded": "an unsolicited IPv4 SYN held for a simultaneous open, dropped because the IPv6 side opened the connection (RFC 6146 §3.5.2.2)",
    Nat64HandoffFull = "nat64.handoff_full": "packet for a binding another worker owns, and that worker's hand-off ring (1024 packets) is full",
    Nat64HandoffTooBig = "nat64.handoff_too_big": "packet for a binding another worker owns, larger than a hand-off slot (2048 bytes)",
    Nat64Pool4Exhausted = "nat64.pool4_exhausted": "new flow refused: no free port (or ICMP identifier) left in this worker's share of pool4",
    /// The worker's lot for parked frames was full.
    PendingFull = "pending.full": "a frame had to wait (e.g. for neighbour resolution) but the worker's pending lot was full",
    /// The engine was stopping and frames still queued for TX were released.
    ShutdownFlush = "engine.shutdown": "frame still queued inside xgw when the engine stopped",
}

impl DropReason {
    /// Position of this reason in a counter row.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Looks a reason up by its dotted name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }
}

/// The reasons the engine itself (not a pipeline node) files frames under:
/// at RX, at TX, in the pending lot, at shutdown, and the graph runner's.
pub const ENGINE_DROPS: &[DropReason] = &[
    DropReason::RxOversize,
    DropReason::TxRingFull,
    DropReason::TxNoSuchPort,
    DropReason::PendingFull,
    DropReason::ShutdownFlush,
    DropReason::PipelineBadNext,
    DropReason::GraphHopLimit,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_dotted_and_described() {
        let mut seen = HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(seen.insert(r.name()), "duplicate name {}", r.name());
            let (area, what) = r.name().split_once('.').expect("dotted");
            assert!(!area.is_empty() && !what.is_empty());
            assert!(r
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'));
            assert!(r.description().len() > 10);
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
        }
        assert_eq!(DropReason::COUNT, DropReason::ALL.len());
        assert_eq!(DropReason::from_name("no.such"), None);
    }
}
