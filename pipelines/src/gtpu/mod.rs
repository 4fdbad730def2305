//! GTP-U tunnel endpoint (3GPP TS 29.281): a feature of the router,
//! plugged in through [`FEATURE`] (see [`crate::router::registry`]) with
//! two nodes of its own.
//!
//! - **gtpu-input** gets every UDP datagram to port 2152 of ours (ip4-local
//!   / ip6-local dispatch it). To one of the configured endpoints it reads
//!   the GTP-U message: a G-PDU whose TEID a session owns is decapsulated
//!   (the whole extension-header chain walked, the inner source checked
//!   against the session's UE address or prefix, gate and uplink MBR
//!   applied, counted) and its inner packet goes to ip4-input or ip6-input
//!   **by its own version nibble**, as received on the GTP-U interface; an
//!   Echo Request is answered in place with an Echo Response; an Error
//!   Indication, End Marker, Echo Response or Supported Extension Headers
//!   Notification is counted and consumed. A G-PDU for a TEID nobody owns
//!   is dropped and answered with an Error Indication, one with an unknown
//!   comprehension-required extension header with a Supported Extension
//!   Headers Notification (both rate-limited). To an address that is not
//!   an endpoint, port 2152 is closed (ICMP port unreachable), as it is
//!   when GTP-U is not configured.
//! - **gtpu-encap** is the output of the GTP-U interface ([`GTP_IFACE`]):
//!   routes to UE pools point into it. It finds the session by the
//!   packet's destination (IPv4 /32, IPv6 /128, then /64), applies gate
//!   and downlink MBR, prepends outer IPv4 or IPv6 + UDP + GTP-U (with a
//!   PDU Session Container carrying the session's QFI) in the headroom and
//!   routes the outer packet as one xgw originated. The outer UDP source
//!   port (and the IPv6 flow label) is a hash of the inner flow, so
//!   receivers spread one base station's traffic over their queues.
//!
//! Sessions: [`session`].

pub(crate) mod fast;
pub mod session;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::nodes::Node;
use crate::router::registry::{Family, Feature, Local, LocalMatch};
use crate::router::resolve::Originated;
use crate::router::spec::IfaceSpec;
use crate::router::{Core, RateLimit, L2, ROUTE_ARCS, TO_IP4_LOOKUP, TO_IP6_LOOKUP};
use crate::wire::gtpu::{self as wire, msg};
use crate::wire::{checksum, icmpv4, icmpv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};
use session::{stat, Entry, Replica, DL_PKTS, DROPS, NO_QFI, UL_PKTS};
pub use session::{FlowRule, GtpuSpec, SdfFilter, SessionBus, SessionError, SessionSpec, Sessions};
use std::sync::atomic::Ordering::Relaxed;

pub use crate::router::spec::GTP_IFACE;

/// What GTP-U plugs into the router: UDP port 2152 to us goes to
/// gtpu-input; the GTP-U interface's output is gtpu-encap.
pub const FEATURE: Feature = Feature {
    name: "gtpu",
    claim4: None,
    local: &[Local {
        family: Family::Both,
        what: LocalMatch::UdpPort(wire::PORT),
        node: "gtpu-input",
    }],
    output: Some("gtpu-encap"),
    fused: Some(crate::router::registry::Fused::Gtpu),
    rebuild: None,
    prefetch: Some(fast::prefetch),
    iface_drop: None,
    inner: Some(inner_of),
};

/// The headers of a G-PDU gtpu-encap made around an IPv4 packet it left
/// marked NEEDS_FRAG (bigger than the GTP-U interface's MTU, DF clear):
/// ip-rewrite fragments the inner packet and each fragment gets a copy of
/// the outer IP, UDP and GTP-U headers ([`fix_outer`] sets their lengths),
/// so the base station never reassembles outer fragments (TS 23.060
/// Annex C).
fn inner_of(core: &Core, p: &Packet<'_>) -> Option<crate::router::registry::Inner> {
    let m = p.meta;
    if m.flags & Meta::ORIGINATED == 0 || m.proto != 17 || m.feature.0[3] != ENCAP_MARK {
        return None;
    }
    let pre = m.feature.0[2] as usize;
    Some(crate::router::registry::Inner {
        pre,
        mtu: usize::from(core.gtpu.iface.mtu),
        fix: fix_outer,
    })
}

/// `Meta::feature[3]` of a packet gtpu-encap made (with `[2]` the length
/// of its headers before the inner packet).
/// `Meta::feature` word 3 of a frame gtpu-encap built (`[slot, peer TEID,
/// header bytes, ENCAP_MARK]`; `xgw trace` reads it too).
pub const ENCAP_MARK: u32 = 0x6774_7075;

/// Sets the outer IP, UDP and GTP-U lengths in `o` for the T-PDU `inner`
/// (and the outer IPv4 identification, checksums).
fn fix_outer(o: &mut [u8], v4: bool, inner: &[u8], ident: Option<u16>) -> bool {
    let oh = if v4 { 20 } else { 40 };
    let Some(gh) = o.len().checked_sub(oh + 8).filter(|&g| g >= 8) else {
        return false;
    };
    let ulen = 8 + gh + inner.len();
    let (ip, rest) = o.split_at_mut(oh);
    rest[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
    rest[10..12].copy_from_slice(&((gh - 8 + inner.len()) as u16).to_be_bytes());
    if v4 {
        ip[2..4].copy_from_slice(&((oh + ulen) as u16).to_be_bytes());
        if let Some(id) = ident {
            ip[4..6].copy_from_slice(&id.to_be_bytes());
        }
        ip[10..12].fill(0);
        let c = checksum::finish(checksum::sum(ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        ip[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
        let (s, t) = (addr16(ip, 8), addr16(ip, 24));
        rest[6..8].fill(0);
        let sum = checksum::pseudo_v6(&s, &t, 17, ulen as u32)
            + checksum::sum(rest)
            + checksum::sum(inner);
        // (`rest` ends at the GTP-U header, an even length: the sums join.)
        let c = match checksum::finish(sum) {
            0 => 0xffff,
            c => c,
        };
        rest[6..8].copy_from_slice(&c.to_be_bytes());
    }
    true
}

/// GTP-U's per-worker state in the router's [`Core`].
pub(crate) struct State {
    /// The worker's sessions (`None`: GTP-U is not configured).
    pub(crate) sessions: Option<Replica>,
    /// The GTP-U interface.
    pub(crate) iface: IfaceSpec,
    /// Error Indications and Supported Extension Headers Notifications.
    limit: RateLimit,
    seq: u16,
    /// Worker 0's echo timers, one per configured peer.
    echo: Vec<EchoTimer>,
}

/// Worker 0's echo state for one peer (the shared part is `session::Peer`).
#[derive(Clone, Copy, Debug, Default)]
struct EchoTimer {
    /// When the next request is due.
    next_ns: u64,
    /// Tries of the request in flight (0: none in flight).
    tries: u32,
    seq: u16,
}

impl State {
    pub(crate) fn new(
        spec: Option<&GtpuSpec>,
        bus: Option<std::sync::Arc<SessionBus>>,
        worker: usize,
    ) -> State {
        let iface = IfaceSpec {
            name: spec.map_or_else(|| "gtp0".into(), |s| s.iface.clone()),
            mtu: spec.map_or(1436, |s| s.mtu),
            output: crate::router::registry::output_of("gtpu"),
            ..IfaceSpec::default()
        };
        let rate = spec.map_or(100, |s| s.error_rate).max(1);
        let echo = match (&bus, worker) {
            (Some(b), 0) if b.echo.interval_s > 0 => vec![EchoTimer::default(); b.peers.len()],
            _ => Vec::new(),
        };
        State {
            echo,
            sessions: bus.map(|b| Replica::new(b, worker)),
            iface,
            limit: RateLimit::new(u64::from(rate), u64::from(rate).div_ceil(2).max(1)),
            seq: 0,
        }
    }

    /// Applies queued session changes (before a burst, in a tick).
    #[inline]
    pub(crate) fn apply(&mut self, n: usize, cx: &mut Ctx<'_>) {
        if let Some(r) = self.sessions.as_mut() {
            r.apply(n, cx, crate::router::GTPU_ENCAP);
        }
    }

    /// Releases or discards buffered downlink (in the tick: what
    /// `apply` could not yet).
    pub(crate) fn settle(&mut self, cx: &mut Ctx<'_>) {
        if let Some(r) = self.sessions.as_mut() {
            r.settle(cx, crate::router::GTPU_ENCAP);
        }
    }
}

/// gtpu-input's arcs: the route arcs first (answers are routed), then the
/// input nodes decapsulated packets go to.
pub(crate) const TO_IP4_INPUT: u8 = 3;
pub(crate) const TO_IP6_INPUT: u8 = 4;

/// What gtpu-input files drops under.
pub(crate) const INPUT_DROPS: &[DropReason] = {
    use DropReason::*;
    &[
        GtpuMalformed,
        GtpuOuterFragment,
        GtpuNested,
        GtpuUnknownMessage,
        GtpuUnknownTeid,
        GtpuExtUnsupported,
        GtpuInnerMalformed,
        GtpuInnerSpoofed,
        GtpuGateClosed,
        GtpuMbrExceeded,
        GtpuSdfNoMatch,
        GtpuNoHeadroom,
        UdpTruncated,
        Udp6ZeroChecksum,
        UdpBadChecksum,
        Ip4Malformed,
        Ip6Malformed,
        IcmpRateLimited,
        IcmpSuppressed,
        IcmpNoSource,
        IcmpNoHeadroom,
        IcmpHeaderWriteFailed,
    ]
};

/// gtpu-input: see the module documentation.
pub struct Input;

impl Node<Core> for Input {
    fn name(&self) -> &'static str {
        "gtpu-input"
    }
    fn next(&self) -> &[&'static str] {
        &[
            ROUTE_ARCS[0],
            ROUTE_ARCS[1],
            ROUTE_ARCS[2],
            "ip4-input",
            "ip6-input",
            "local",
            "drop",
        ]
    }
    fn drops(&self) -> &'static [DropReason] {
        INPUT_DROPS
    }
    fn process(
        &mut self,
        core: &mut Core,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        v: &mut [Verdict],
    ) {
        for &i in sel {
            let p = &mut pkts[i as usize];
            v[i as usize] = core.gtpu_input(cx, p, None);
        }
    }
}

/// What gtpu-encap files drops under.
pub(crate) const ENCAP_DROPS: &[DropReason] = {
    use DropReason::*;
    &[
        GtpuNoSession,
        GtpuGateClosed,
        GtpuBufferFull,
        // (The engine drops these parked frames when told to.)
        GtpuBufferDiscarded,
        GtpuBufferExpired,
        GtpuMbrExceeded,
        GtpuSdfNoMatch,
        GtpuNoHeadroom,
        Ip4Malformed,
        Ip6Malformed,
    ]
};

/// gtpu-encap: the output of the GTP-U interface (see the module
/// documentation).
pub struct Encap;

impl Node<Core> for Encap {
    fn name(&self) -> &'static str {
        "gtpu-encap"
    }
    fn next(&self) -> &[&'static str] {
        &[ROUTE_ARCS[0], ROUTE_ARCS[1], ROUTE_ARCS[2], "drop", "park"]
    }
    fn drops(&self) -> &'static [DropReason] {
        ENCAP_DROPS
    }
    fn process(
        &mut self,
        core: &mut Core,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        v: &mut [Verdict],
    ) {
        for &i in sel {
            let p = &mut pkts[i as usize];
            v[i as usize] = core.gtpu_encap(cx, p);
        }
    }
}

/// A hash of the inner flow at `ip` (addresses, protocol and, for TCP and
/// UDP, ports; IPv4 fragments by addresses only, protocol taken as 0; an
/// IPv6 packet whose next header is not TCP or UDP by addresses and next
/// header): the outer UDP source port (0xc000 | low 14 bits) and IPv6
/// flow label (low 20 bits) come from it. docs/GTPU.md gives it in full.
#[inline]
fn flow_hash(ip: &[u8], v6: bool) -> u32 {
    let word = |b: &[u8], at: usize| -> u32 {
        b.get(at..at + 4)
            .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let (mut h, proto, l4) = if v6 {
        let mut h = 0u32;
        for k in 0..8 {
            h = (h ^ word(ip, 8 + 4 * k)).wrapping_mul(0x9e37_79b1);
        }
        (h, ip.get(6).copied().unwrap_or(0), 40)
    } else {
        let h = (word(ip, 12) ^ word(ip, 16).rotate_left(16)).wrapping_mul(0x9e37_79b1);
        let ihl = usize::from(ip.first().map_or(5, |b| b & 0x0f)) * 4;
        // A fragment's ports are not where a whole packet's are (and
        // later fragments have none): fragments hash by addresses only.
        let frag = ip.get(6..8).is_some_and(|f| f[0] & 0x3f != 0 || f[1] != 0);
        let proto = if frag {
            0
        } else {
            ip.get(9).copied().unwrap_or(0)
        };
        (h, proto, ihl)
    };
    if proto == 6 || proto == 17 {
        h ^= word(ip, l4);
    }
    h ^= u32::from(proto);
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^ (h >> 15)
}

impl Core {
    /// `known`: the endpoint, when the caller (the fused path's hook)
    /// has matched the destination already.
    pub(crate) fn gtpu_input(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        known: Option<u8>,
    ) -> Verdict {
        let m = p.meta;
        let v6 = m.ethertype == 0x86dd;
        let l4 = m.l4 as usize;
        let d = p.data();
        let dst = if v6 {
            d.get(L2 + 24..L2 + 40)
        } else {
            d.get(L2 + 16..L2 + 20)
        };
        let ep = match (self.gtpu.sessions.as_ref(), dst) {
            (Some(_), Some(_)) if known.is_some() => known,
            (Some(r), Some(a)) => r.endpoint(a),
            _ => None,
        };
        let Some(ep) = ep else {
            // Not an endpoint (or GTP-U is off): port 2152 is closed.
            return self.port_unreachable(cx, p, v6);
        };
        if m.flags & Meta::FRAGMENT != 0 {
            return Verdict::Drop(DropReason::GtpuOuterFragment);
        }
        if m.flags & Meta::DECAPPED != 0 {
            return Verdict::Drop(DropReason::GtpuNested);
        }
        let Some(u) = d.get(l4..l4 + 8) else {
            return Verdict::Drop(DropReason::UdpTruncated);
        };
        let ulen = usize::from(u16::from_be_bytes([u[4], u[5]]));
        if ulen < 8 || l4 + ulen > d.len() {
            return Verdict::Drop(DropReason::UdpTruncated);
        }
        // RFC 768 / RFC 8200 §8.1: IPv4 checksum 0 means none; over IPv6
        // it is mandatory. A wrong one is discarded (RFC 1122 §4.1.3.4).
        let csum = u16::from_be_bytes([u[6], u[7]]);
        if v6 && csum == 0 {
            return Verdict::Drop(DropReason::Udp6ZeroChecksum);
        }
        if csum != 0 {
            let pseudo = if v6 {
                checksum::pseudo_v6(&addr16(d, L2 + 8), &addr16(d, L2 + 24), 17, ulen as u32)
            } else {
                checksum::pseudo_v4(addr4(d, L2 + 12), addr4(d, L2 + 16), 17, ulen as u16)
            };
            if checksum::fold(pseudo + checksum::sum(&d[l4..l4 + ulen])) != 0xffff {
                return Verdict::Drop(DropReason::UdpBadChecksum);
            }
        }
        let g0 = l4 + 8;
        let h = match wire::parse(&d[g0..l4 + ulen]) {
            Ok(h) => h,
            Err(_) => return Verdict::Drop(DropReason::GtpuMalformed),
        };
        let rep = self.gtpu.sessions.as_ref().expect("an endpoint matched");
        match h.msg_type {
            msg::G_PDU => {}
            msg::ECHO_REQUEST => {
                rep.stat(stat::ECHO_REQUEST_IN);
                return self.gtpu_echo_response(p, h.seq.unwrap_or(0), v6);
            }
            msg::ECHO_RESPONSE => {
                rep.stat(stat::ECHO_RESPONSE_IN);
                let from = if v6 {
                    &d[L2 + 8..L2 + 24]
                } else {
                    &d[L2 + 12..L2 + 16]
                };
                rep.bus().echo_response(from, h.seq.unwrap_or(0), cx.now_ns);
                return Verdict::Local;
            }
            msg::ERROR_INDICATION => {
                let ies = &d[g0 + h.payload..g0 + h.end];
                let Some((teid, peer)) = wire::parse_error_indication(ies) else {
                    return Verdict::Drop(DropReason::GtpuMalformed);
                };
                rep.stat(stat::ERROR_INDICATION_IN);
                rep.error_indication(peer, teid);
                return Verdict::Local;
            }
            msg::END_MARKER => {
                rep.stat(stat::END_MARKER_IN);
                return Verdict::Local;
            }
            msg::SUPPORTED_EXT_HEADERS_NOTIFICATION => {
                rep.stat(stat::EXT_NOTIFICATION_IN);
                return Verdict::Local;
            }
            _ => return Verdict::Drop(DropReason::GtpuUnknownMessage),
        }
        if h.unknown_required.is_some() {
            self.gtpu_answer(cx, p, v6, None);
            return Verdict::Drop(DropReason::GtpuExtUnsupported);
        }
        let Some(slot) = rep.uplink(ep, h.teid) else {
            rep.stat(stat::UNKNOWN_TEID);
            // TS 29.281 §7.3.1: not for a G-PDU to TEID 0.
            if h.teid != 0 {
                self.gtpu_answer(cx, p, v6, Some(h.teid));
            }
            return Verdict::Drop(DropReason::GtpuUnknownTeid);
        };
        let (off, end) = (g0 + h.payload, g0 + h.end);
        let inner = &d[off..end];
        let inner_v6 = match inner.first().map(|b| b >> 4) {
            Some(4) if inner.len() >= 20 => false,
            Some(6) if inner.len() >= 40 => true,
            _ => return Verdict::Drop(DropReason::GtpuInnerMalformed),
        };
        let rep = self.gtpu.sessions.as_mut().expect("an endpoint matched");
        let e = &mut rep.entries[slot as usize];
        let spoofed = if inner_v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&inner[8..24]);
            !e.ue6_matches(u128::from_be_bytes(a))
        } else {
            !e.has(Entry::UE4)
                || u32::from_be_bytes([inner[12], inner[13], inner[14], inner[15]]) != e.ue4
        };
        let verdict = if spoofed {
            Some(DropReason::GtpuInnerSpoofed)
        } else if !e.has(Entry::GATE_UL) {
            Some(DropReason::GtpuGateClosed)
        } else if !e.has(Entry::FLOWS) {
            (!e.take_ul(cx.now_ns, inner.len())).then_some(DropReason::GtpuMbrExceeded)
        } else {
            // Per-flow rules (rare), then the session's rate.
            match rep.flows(slot, true, inner, inner_v6, cx.now_ns) {
                Err(r) => Some(r),
                Ok(_) => (!rep.entries[slot as usize].take_ul(cx.now_ns, inner.len()))
                    .then_some(DropReason::GtpuMbrExceeded),
            }
        };
        if let Some(r) = verdict {
            rep.count(slot, DROPS, 1);
            return Verdict::Drop(r);
        }
        rep.count_packet(slot, UL_PKTS, inner.len() as u64);
        rep.stat(stat::GPDU_IN);
        // Strip Ethernet-to-GTP-U: the Ethernet header moves up to the
        // inner packet (and what follows the GTP-U message goes).
        let Some(&eth) = d.first_chunk::<12>() else {
            return Verdict::Drop(DropReason::GtpuInnerMalformed);
        };
        if !p.set_len(end) || !p.pull_head(off - L2) {
            return Verdict::Drop(DropReason::GtpuInnerMalformed);
        }
        let et: u16 = if inner_v6 { 0x86dd } else { 0x0800 };
        let Some(h) = p.data_mut().first_chunk_mut::<14>() else {
            return Verdict::Drop(DropReason::GtpuInnerMalformed);
        };
        h[..12].copy_from_slice(&eth);
        h[12..14].copy_from_slice(&et.to_be_bytes());
        p.meta = crate::router::reinput_meta(GTP_IFACE, inner_v6);
        p.meta.feature.0 = [slot, 0, 0, 0];
        Verdict::Next(if inner_v6 { TO_IP6_INPUT } else { TO_IP4_INPUT })
    }

    /// ICMP port unreachable for a datagram to port 2152 of an address
    /// that is not an endpoint.
    fn port_unreachable(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>, v6: bool) -> Verdict {
        if p.data().len() < p.meta.l4 as usize + 8 {
            return Verdict::Drop(DropReason::UdpTruncated);
        }
        if v6 {
            self.icmp6_error(cx, p, icmpv6::DEST_UNREACH, icmpv6::dest_unreach::PORT, 0)
        } else {
            self.icmp4_error(cx, p, icmpv4::DEST_UNREACH, icmpv4::dest_unreach::PORT, 0)
        }
    }

    /// Turns an Echo Request into the Echo Response, back to its sender.
    fn gtpu_echo_response(&mut self, p: &mut Packet<'_>, seq: u16, v6: bool) -> Verdict {
        let l4 = p.meta.l4 as usize;
        let g0 = l4 + 8;
        // (The response, with its Recovery IE, may be longer than the
        // request: the frame grows into its tailroom.)
        if !p.set_len(g0 + wire::ECHO_RESPONSE_LEN) {
            return Verdict::Drop(DropReason::GtpuNoHeadroom);
        }
        let Ok(n) = wire::write_echo_response(p.data_mut().get_mut(g0..).unwrap_or(&mut []), seq)
        else {
            return Verdict::Drop(DropReason::GtpuMalformed);
        };
        let total = g0 + n;
        let d = p.data_mut();
        // UDP: from 2152 back to the request's source port.
        let sport = [d[l4], d[l4 + 1]];
        d[l4..l4 + 2].copy_from_slice(&wire::PORT.to_be_bytes());
        d[l4 + 2..l4 + 4].copy_from_slice(&sport);
        d[l4 + 4..l4 + 6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
        d[l4 + 6..l4 + 8].fill(0);
        if v6 {
            let (src, dst) = (addr16(d, L2 + 8), addr16(d, L2 + 24));
            d[L2 + 8..L2 + 24].copy_from_slice(&dst);
            d[L2 + 24..L2 + 40].copy_from_slice(&src);
            d[L2 + 4..L2 + 6].copy_from_slice(&((total - L2 - 40) as u16).to_be_bytes());
            d[L2 + 7] = 64;
            udp6_checksum(d, l4, &dst, &src);
        } else {
            let ihl = l4 - L2;
            let (src, dst) = (addr4(d, L2 + 12), addr4(d, L2 + 16));
            d[L2 + 12..L2 + 16].copy_from_slice(&dst);
            d[L2 + 16..L2 + 20].copy_from_slice(&src);
            d[L2 + 2..L2 + 4].copy_from_slice(&((total - L2) as u16).to_be_bytes());
            d[L2 + 6..L2 + 8].fill(0);
            d[L2 + 8] = 64;
            d[L2 + 10..L2 + 12].fill(0);
            let c = checksum::finish(checksum::sum(&d[L2..L2 + ihl]));
            d[L2 + 10..L2 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let rep = self.gtpu.sessions.as_ref().expect("an endpoint matched");
        rep.stat(stat::ECHO_RESPONSE_OUT);
        p.meta.flags = (p.meta.flags & !(Meta::TO_US | Meta::L2_MULTICAST)) | Meta::ORIGINATED;
        Verdict::Next(if v6 { TO_IP6_LOOKUP } else { TO_IP4_LOOKUP })
    }

    /// Sends the sender of the G-PDU in `p` an Error Indication about
    /// `teid` (`Some`) or a Supported Extension Headers Notification
    /// (`None`), rate-limited, out of the interface it came in on to the
    /// hop it came from. `p` is left as it is (it is dropped).
    fn gtpu_answer(&mut self, cx: &mut Ctx<'_>, p: &Packet<'_>, v6: bool, teid: Option<u32>) {
        if !self.gtpu.limit.take(cx.now_ns) {
            return;
        }
        let m = p.meta;
        let d = p.data();
        let l4 = m.l4 as usize;
        let Some(eth) = d.get(6..12) else { return };
        let mut hop = [0u8; 6];
        hop.copy_from_slice(eth);
        let Some(u) = d.get(l4..l4 + 4) else { return };
        let sport = u16::from_be_bytes([u[0], u[1]]);
        let (ours, theirs): (IpAddr, IpAddr) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::from(addr16(d, L2 + 24))),
                IpAddr::V6(Ipv6Addr::from(addr16(d, L2 + 8))),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::from(addr4(d, L2 + 16))),
                IpAddr::V4(Ipv4Addr::from(addr4(d, L2 + 12))),
            )
        };
        self.gtpu.seq = self.gtpu.seq.wrapping_add(1);
        let seq = self.gtpu.seq;
        // TS 29.281 §4.4.2.4: an Error Indication goes to port 2152;
        // §4.4.2.5: a Supported Extension Headers Notification to the
        // source port of the message that caused it.
        let dport = if teid.is_some() { wire::PORT } else { sport };
        // (The IPv4 identification counts IPv4 headers only.)
        if !v6 {
            self.ip_ident = self.ip_ident.wrapping_add(1);
        }
        let ident = self.ip_ident;
        let sent = self.emit_on(
            cx,
            m.iface,
            crate::wire::ethernet::MacAddr(hop),
            m.ethertype,
            &mut |b: &mut [u8]| {
                path_frame(b, ours, theirs, dport, ident, &mut |g| match teid {
                    Some(t) => wire::write_error_indication(g, seq, t, ours),
                    None => wire::write_supported_ext_notification(g, seq),
                })
            },
        );
        if sent {
            if let Some(r) = self.gtpu.sessions.as_ref() {
                r.stat(if teid.is_some() {
                    stat::ERROR_INDICATION_OUT
                } else {
                    stat::EXT_NOTIFICATION_OUT
                });
            }
        }
    }

    /// Worker 0's GTP-U timers: queued End Markers and Echo Requests to
    /// the configured peers (their path states).
    pub(crate) fn gtpu_tick(&mut self, cx: &mut Ctx<'_>) {
        if self.worker != 0 {
            return;
        }
        let Some(rep) = self.gtpu.sessions.as_ref() else {
            return;
        };
        let bus = std::sync::Arc::clone(rep.bus_arc());
        while let Some(&em) = self
            .gtpu
            .sessions
            .as_ref()
            .and_then(|r| r.end_markers.front())
        {
            let ours = bus.endpoint(em.ep);
            let r = self.gtpu_originate(cx, ours, em.peer, &mut |g| {
                wire::write_end_marker(g, em.teid)
            });
            let rep = self.gtpu.sessions.as_mut().expect("checked above");
            match r {
                Originated::Sent => rep.stat(stat::END_MARKER_OUT),
                Originated::Resolving
                    if cx.now_ns.saturating_sub(em.queued_ns) < session::END_MARKER_WAIT_NS =>
                {
                    break
                }
                _ => rep.stat(stat::END_MARKER_UNSENT),
            }
            rep.end_markers.pop_front();
        }
        let echo = bus.echo;
        let t3 = u64::from(echo.t3_ms) * 1_000_000;
        for i in 0..self.gtpu.echo.len() {
            let now = cx.now_ns;
            let mut t = self.gtpu.echo[i];
            let p = &bus.peers[i];
            if t.tries > 0 {
                // A request is in flight: answered (the worker that got the
                // answer cleared the in-flight bit), or due again, or lost.
                let answered = p.seq.load(Relaxed) & (1 << 16) == 0;
                if answered {
                    p.state.store(session::path::UP, Relaxed);
                    t.tries = 0;
                } else if now.saturating_sub(p.sent_ns.load(Relaxed)) >= t3 {
                    if t.tries >= echo.n3 {
                        if p.state.swap(session::path::DOWN, Relaxed) != session::path::DOWN {
                            p.failures.fetch_add(1, Relaxed);
                        }
                        p.seq.store(u32::from(t.seq), Relaxed);
                        t.tries = 0;
                    } else {
                        t.tries += 1;
                        self.gtpu_echo_request(cx, i, t.seq);
                    }
                }
            } else if now >= t.next_ns {
                self.gtpu.seq = self.gtpu.seq.wrapping_add(1);
                t.seq = self.gtpu.seq;
                t.tries = 1;
                t.next_ns = now + u64::from(echo.interval_s) * 1_000_000_000;
                p.seq.store((1 << 16) | u32::from(t.seq), Relaxed);
                self.gtpu_echo_request(cx, i, t.seq);
            }
            self.gtpu.echo[i] = t;
        }
    }

    /// Sends peer `i` an Echo Request (a retransmission keeps `seq`).
    fn gtpu_echo_request(&mut self, cx: &mut Ctx<'_>, i: usize, seq: u16) {
        let Some(bus) = self
            .gtpu
            .sessions
            .as_ref()
            .map(|r| std::sync::Arc::clone(r.bus_arc()))
        else {
            return;
        };
        let p = &bus.peers[i];
        p.sent_ns.store(cx.now_ns, Relaxed);
        p.requests.fetch_add(1, Relaxed);
        let ours = bus.endpoint(p.ep);
        if self.gtpu_originate(cx, ours, p.addr, &mut |g| wire::write_echo_request(g, seq))
            == Originated::Sent
        {
            if let Some(r) = self.gtpu.sessions.as_ref() {
                r.stat(stat::ECHO_REQUEST_OUT);
            }
        }
    }

    /// Sends a GTP-U message of our own from endpoint address `ours` to
    /// port 2152 of `peer` (see [`Core::originate`]).
    fn gtpu_originate(
        &mut self,
        cx: &mut Ctx<'_>,
        ours: IpAddr,
        peer: IpAddr,
        msg: &mut dyn FnMut(&mut [u8]) -> Result<usize, wire::TooShort>,
    ) -> Originated {
        if peer.is_ipv4() {
            self.ip_ident = self.ip_ident.wrapping_add(1);
        }
        let ident = self.ip_ident;
        self.originate(cx, peer, &mut |b: &mut [u8]| {
            path_frame(b, ours, peer, wire::PORT, ident, msg)
        })
    }

    pub(crate) fn gtpu_encap(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let m = p.meta;
        let inner_v6 = m.ethertype == 0x86dd;
        let inner_len = p.len().saturating_sub(L2);
        let d = p.data();
        let Some(rep) = self.gtpu.sessions.as_mut() else {
            return Verdict::Drop(DropReason::GtpuNoSession);
        };
        let slot = if inner_v6 {
            if inner_len < 40 {
                return Verdict::Drop(DropReason::Ip6Malformed);
            }
            rep.downlink6(u128::from_be_bytes(addr16(d, L2 + 24)))
        } else {
            if inner_len < 20 {
                return Verdict::Drop(DropReason::Ip4Malformed);
            }
            rep.downlink4(u32::from_be_bytes(addr4(d, L2 + 16)))
        };
        let Some(slot) = slot else {
            return Verdict::Drop(DropReason::GtpuNoSession);
        };
        let hash = flow_hash(&d[L2..], inner_v6);
        let tos = if inner_v6 {
            (d[L2] << 4) | (d[L2 + 1] >> 4)
        } else {
            d[L2 + 1]
        };
        // Per-flow rules (rare): the matched one's gate, rate and QFI.
        let mut flow_qfi = NO_QFI;
        let f = rep.entries[slot as usize].flags;
        if f & (Entry::FLOWS | Entry::GATE_DL) == Entry::FLOWS | Entry::GATE_DL {
            match rep.flows(slot, false, &d[L2..], inner_v6, cx.now_ns) {
                Ok(q) => flow_qfi = q,
                Err(r) => {
                    rep.count(slot, DROPS, 1);
                    return Verdict::Drop(r);
                }
            }
        }
        let e = &mut rep.entries[slot as usize];
        let drop = if !e.has(Entry::GATE_DL) {
            Some(DropReason::GtpuGateClosed)
        } else if e.mode & Entry::BUFFER != 0 {
            return rep.buffer(slot, cx.now_ns);
        } else if !e.take_dl(cx.now_ns, inner_len) {
            Some(DropReason::GtpuMbrExceeded)
        } else {
            None
        };
        if let Some(r) = drop {
            rep.count(slot, DROPS, 1);
            return Verdict::Drop(r);
        }
        let e = *e;
        let outer_v6 = e.has(Entry::V6);
        let qfi = match flow_qfi {
            NO_QFI => (e.qfi != NO_QFI).then_some(e.qfi),
            q => Some(q),
        };
        let gh = wire::gpdu_header_len(qfi.is_some());
        let oh = if outer_v6 { 40 } else { 20 };
        if p.push_head(oh + 8 + gh).is_none() {
            rep.count(slot, DROPS, 1);
            return Verdict::Drop(DropReason::GtpuNoHeadroom);
        }
        rep.count_packet(slot, DL_PKTS, inner_len as u64);
        rep.stat(stat::GPDU_OUT);
        let ours = rep.endpoint_addr(e.ep);
        let peer = if outer_v6 {
            IpAddr::V6(Ipv6Addr::from(e.peer))
        } else {
            IpAddr::V4(Ipv4Addr::new(e.peer[0], e.peer[1], e.peer[2], e.peer[3]))
        };
        if !outer_v6 {
            self.ip_ident = self.ip_ident.wrapping_add(1);
        }
        let ident = self.ip_ident;
        let ulen = 8 + gh + inner_len;
        let b = &mut p.data_mut()[L2..];
        write_outer(b, ours, peer, ulen, tos, ident, hash & 0xf_ffff, outer_v6);
        let sport = 0xc000 | (hash as u16 & 0x3fff);
        write_udp(b, oh, sport, wire::PORT, ulen);
        if let Some(g) = b.get_mut(oh + 8..) {
            let _ = wire::write_gpdu_header(g, e.peer_teid, qfi, inner_len);
        }
        if outer_v6 {
            let (s, t) = (addr16(b, 8), addr16(b, 24));
            udp6_checksum(b, oh, &s, &t);
        }
        let ethertype: u16 = if outer_v6 { 0x86dd } else { 0x0800 };
        p.data_mut()[12..14].copy_from_slice(&ethertype.to_be_bytes());
        p.meta = Meta {
            l3: L2 as u16,
            l4: (L2 + oh) as u16,
            ethertype,
            proto: 17,
            // An inner IPv4 packet too big for the GTP-U interface with DF
            // clear is fragmented at ip-rewrite, inside the outer headers
            // (see `inner_of`).
            flags: Meta::ORIGINATED | (m.flags & Meta::NEEDS_FRAG),
            ..m
        };
        p.meta.feature.0 = [slot, e.peer_teid, (oh + 8 + gh) as u32, ENCAP_MARK];
        Verdict::Next(if outer_v6 {
            TO_IP6_LOOKUP
        } else {
            TO_IP4_LOOKUP
        })
    }
}

#[inline]
fn addr4(d: &[u8], at: usize) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(&d[at..at + 4]);
    a
}

#[inline]
fn addr16(d: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[at..at + 16]);
    a
}

/// Writes a GTP-U signalling message of ours into `b`: the IP header from
/// `ours` to `theirs`, UDP from port 2152 to `dport` (with its checksum
/// over IPv6; none over IPv4) and the message `msg` writes. Returns the
/// length, 0 if it does not fit.
fn path_frame(
    b: &mut [u8],
    ours: IpAddr,
    theirs: IpAddr,
    dport: u16,
    ident: u16,
    msg: &mut dyn FnMut(&mut [u8]) -> Result<usize, wire::TooShort>,
) -> usize {
    let v6 = ours.is_ipv6();
    let oh = if v6 { 40 } else { 20 };
    let Some(g) = b.get_mut(oh + 8..) else {
        return 0;
    };
    let Ok(n) = msg(g) else { return 0 };
    let ulen = 8 + n;
    write_outer(b, ours, theirs, ulen, 0, ident, 0, v6);
    write_udp(b, oh, wire::PORT, dport, ulen);
    if v6 {
        let (s, t) = (addr16(b, 8), addr16(b, 24));
        udp6_checksum(b, oh, &s, &t);
    }
    oh + ulen
}

/// Writes a UDP header at `b[at..]` (checksum zero).
#[inline(always)]
fn write_udp(b: &mut [u8], at: usize, sport: u16, dport: u16, ulen: usize) {
    if let Some(u) = b.get_mut(at..).and_then(|u| u.first_chunk_mut::<8>()) {
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
        u[6..8].fill(0);
    }
}

/// Writes an outer IPv4 (DF clear: the underlay may fragment) or IPv6
/// header for a UDP datagram of `ulen` octets at the start of `b`
/// (nothing if `b` is shorter), over fixed-size arrays, the IPv4 header
/// checksum as the fast path computes it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn write_outer(
    b: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    ulen: usize,
    tos: u8,
    ident: u16,
    flow: u32,
    v6: bool,
) {
    match (src, dst) {
        (IpAddr::V6(s), IpAddr::V6(t)) if v6 => {
            let Some(h) = b.first_chunk_mut::<40>() else {
                return;
            };
            let w = 0x6000_0000u32 | (u32::from(tos) << 20) | (flow & 0xf_ffff);
            h[0..4].copy_from_slice(&w.to_be_bytes());
            h[4..6].copy_from_slice(&(ulen as u16).to_be_bytes());
            h[6] = 17;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&t.octets());
        }
        (IpAddr::V4(s), IpAddr::V4(t)) => {
            let Some(h) = b.first_chunk_mut::<20>() else {
                return;
            };
            h[0] = 0x45;
            h[1] = tos;
            h[2..4].copy_from_slice(&((20 + ulen) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&ident.to_be_bytes());
            h[6] = 0;
            h[7] = 0;
            h[8] = 64;
            h[9] = 17;
            h[10..12].fill(0);
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&t.octets());
            let c = crate::router::fast::ip4_checksum(h, 0);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}

/// Fills the UDP checksum of the datagram at `u` in an IPv6 packet (the
/// datagram runs to the end of `b`; zero becomes 0xffff, RFC 8200 §8.1).
fn udp6_checksum(b: &mut [u8], u: usize, src: &[u8; 16], dst: &[u8; 16]) {
    let len = u16::from_be_bytes([b[u + 4], b[u + 5]]) as usize;
    let end = (u + len).min(b.len());
    b[u + 6..u + 8].fill(0);
    let s = checksum::pseudo_v6(src, dst, 17, len as u32) + checksum::sum(&b[u..end]);
    let c = match checksum::finish(s) {
        0 => 0xffff,
        c => c,
    };
    b[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests;
