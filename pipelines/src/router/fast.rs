//! The forwarding fast path: one pass per frame for the common cases — a
//! unicast IPv4 or IPv6 packet in an untagged frame, addressed to our MAC,
//! not to us, routed to an untagged interface (or into a tunnel) whose next
//! hop's MAC RESOLVE has already memoised; and an IP-in-IP packet from a
//! tunnel's remote end, decapsulated and its inner packet forwarded the
//! same way. It does exactly what PARSE → FWD4/FWD6 → (ENCAP →) RESOLVE
//! would do to such a frame (same bytes out, same verdict, same metadata,
//! same counters), without the step runner, the generic header views or
//! the neighbour cache lookup.
//!
//! Anything else — a check that fails, an option, a fragment, an extension
//! header, a packet for us, a TTL about to expire, an MTU exceeded, a next
//! hop not memoised — is left untouched for the full steps, which decide
//! (and count) it. Once the fast path has changed a frame (a TTL
//! decremented, an outer header added or removed) and then meets such a
//! case, it hands the frame on in the state the steps would have it at
//! that point: the verdict is then `Next(step)` and the runner goes on.
//!
//! `fast_tests::fast_path_matches_the_steps` runs frames of every kind through
//! a router with and without this path and compares the results.

use std::net::IpAddr;

use super::resolve::{memo_ip, V4_KEY};
use super::spec::{IfaceId, OuterModes, RpfMode, TUN_BASE};
use super::{Core, NextHop, IP4_INPUT, IP6_INPUT, IPIP_ENCAP, IP_REWRITE, L2, TO_REWRITE};
use crate::ipip::{ecn_decap, TC_DEC_BYTES, TC_DEC_PKTS, TC_DROPS, TC_ENC_BYTES, TC_ENC_PKTS};
use crate::wire::ethernet::MacAddr;
use crate::wire::{ipv4, ipv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict, MAX_PORTS};

/// What the fast path needs about a port's untagged interface.
#[derive(Clone, Copy)]
pub(crate) struct FastIn {
    /// The untagged interface on the port (`NO_IFACE`: none).
    pub iface: IfaceId,
    pub mac: MacAddr,
    pub rpf: RpfMode,
}

pub(crate) const NO_IFACE: IfaceId = IfaceId::MAX;

impl Default for FastIn {
    fn default() -> Self {
        FastIn {
            iface: NO_IFACE,
            mac: MacAddr::default(),
            rpf: RpfMode::Off,
        }
    }
}

pub(crate) type FastPorts = [FastIn; MAX_PORTS];

/// The interface a packet is seen as received on (a port's untagged
/// interface, or a tunnel for a decapsulated packet).
#[derive(Clone, Copy)]
struct Ingress {
    iface: IfaceId,
    rpf: RpfMode,
    /// Decapsulated (never decapsulated again).
    decapped: bool,
}

impl Ingress {
    /// The metadata the steps give a routed packet received here
    /// (`hl`: its IP header length).
    #[inline(always)]
    fn meta(self, ethertype: u16, hl: usize, proto: u8, nh: u32) -> Meta {
        Meta {
            l3: L2 as u16,
            l4: (L2 + hl) as u16,
            ethertype,
            vlan: 0,
            iface: self.iface,
            proto,
            flags: if self.decapped { Meta::DECAPPED } else { 0 },
            nh,
            feature: crate::FeatureData::default(),
        }
    }
}

/// Entries of the tunnel map used to match IP-in-IP packets.
pub(crate) const TUN_MAP: usize = 64;

/// One slot of the tunnel map: outer (protocol, destination = our local
/// end, source = the remote end), IPv4 as `::ffff:a.b.c.d`.
#[derive(Clone, Copy, Default)]
pub(crate) struct TunSlot {
    proto: u8,
    local: u128,
    remote: u128,
    /// `TUN_BASE + slot`; 0: empty; `AMBIGUOUS`: two tunnels share the
    /// slot (the full steps decide).
    id: IfaceId,
    /// The tunnel's reverse-path filter and counter serial.
    rpf: RpfMode,
    serial: u64,
}

const AMBIGUOUS: IfaceId = IfaceId::MAX;

pub(crate) type TunMap = [TunSlot; TUN_MAP];

#[inline(always)]
fn tun_slot(proto: u8, local: u128, remote: u128) -> usize {
    let x = local ^ remote.rotate_left(17) ^ u128::from(proto);
    let x = (x as u64) ^ ((x >> 64) as u64);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % TUN_MAP
}

/// An IPv6 link-local address (fe80::/10).
#[inline(always)]
fn link_local6(a: u128) -> bool {
    (a >> 118) == 0xfe80 >> 6
}

/// A tunnel as the fast path encapsulates into it: the outer header
/// prepared once (everything but the per-packet fields), the modes, and
/// the last route of the outer packet, valid while the route table, the
/// neighbour cache and the neighbour's reachable time are unchanged.
#[derive(Clone, Copy)]
pub(crate) struct FastTun {
    live: bool,
    serial: u64,
    outer_v6: bool,
    inner_v6: bool,
    proto: u8,
    /// The outer IPv4 (20 bytes) or IPv6 (40 bytes) header; length, TOS,
    /// identification, flags, TTL and checksum are per packet.
    hdr: [u8; 40],
    modes: OuterModes,
    /// The outer destination's key.
    remote: u128,
    out: OuterRoute,
}

impl Default for FastTun {
    fn default() -> Self {
        FastTun {
            live: false,
            serial: 0,
            outer_v6: false,
            inner_v6: false,
            proto: 0,
            hdr: [0; 40],
            modes: OuterModes::default(),
            remote: 0,
            out: OuterRoute::default(),
        }
    }
}

/// Where a tunnel's outer packets went last.
#[derive(Clone, Copy, Default)]
struct OuterRoute {
    valid: bool,
    version: u64,
    gen: u64,
    until: u64,
    nh: u32,
    port: crate::PortId,
    mtu: u16,
    src: MacAddr,
    dst: MacAddr,
}

/// Where a routed packet goes, as far as the fast path can tell.
enum Egress {
    /// Out of a port: its number, our MAC there, the next hop's MAC, the
    /// interface MTU, and until when the neighbour answer holds.
    Port(crate::PortId, MacAddr, MacAddr, u16, u64),
    /// Into tunnel `id`.
    Tunnel(IfaceId),
}

impl Egress {
    /// Writes the Ethernet addresses for a port into the frame's first
    /// bytes (nothing for a tunnel: RESOLVE's job after ENCAP).
    #[inline(always)]
    fn write_macs<const N: usize>(&self, h: &mut [u8; N]) {
        if let Egress::Port(_, src, dst, _, _) = *self {
            h[..6].copy_from_slice(&dst.0);
            h[6..12].copy_from_slice(&src.0);
        }
    }
}

/// A 1024-bit filter of addresses that are ours (or broadcast addresses
/// of our subnets): a set bit sends the packet to the full steps, which
/// check exactly. False positives only cost speed (a handful of addresses
/// set about 1 % of the bits).
#[derive(Clone, Copy, Default)]
pub(crate) struct AddrFilter([u64; 16]);

impl AddrFilter {
    #[inline(always)]
    fn bit(h: u16) -> (usize, u64) {
        ((h >> 6) as usize % 16, 1u64 << (h & 63))
    }

    pub fn clear(&mut self) {
        self.0 = [0; 16];
    }

    pub fn add(&mut self, h: u16) {
        let (w, b) = Self::bit(h);
        self.0[w] |= b;
    }

    #[inline(always)]
    pub fn maybe(&self, h: u16) -> bool {
        let (w, b) = Self::bit(h);
        self.0[w] & b != 0
    }
}

/// Hash of an IPv4 address (host order) for [`AddrFilter`]: 10 bits of a
/// multiplicative (Fibonacci) hash.
#[inline(always)]
pub(crate) fn hash4(a: u32) -> u16 {
    (a.wrapping_mul(0x9e37_79b1) >> 22) as u16
}

/// Hash of an IPv6 address (host order) for [`AddrFilter`].
#[inline(always)]
pub(crate) fn hash6(a: u128) -> u16 {
    let x = (a as u64) ^ ((a >> 64) as u64);
    hash4((x ^ (x >> 32)) as u32)
}

#[inline(always)]
fn be16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be128<const N: usize>(b: &[u8; N], at: usize) -> u128 {
    (u128::from(be32(b, at)) << 96)
        | (u128::from(be32(b, at + 4)) << 64)
        | (u128::from(be32(b, at + 8)) << 32)
        | u128::from(be32(b, at + 12))
}

#[inline(always)]
fn be32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Ones' complement sum of the 20 bytes at `h[at..at + 20]`, folded to 16
/// bits, in native byte order (RFC 1071 §2(B): summing native-order words
/// gives the big-endian sum byte-swapped).
#[inline(always)]
fn sum20<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    let w = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let mut s = w(at) + w(at + 4) + w(at + 8) + w(at + 12) + w(at + 16);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The header checksum of the 20-byte IPv4 header at `h[at..]` whose
/// checksum field is zero (as `checksum::finish(checksum::sum(..))`).
#[inline(always)]
pub(crate) fn ip4_checksum<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    !u16::from_be(sum20(h, at))
}

/// The checksum after TTL − 1 (RFC 1624 Eqn. 3, as
/// `ipv4::Packet::decrement_ttl`): the 16-bit word (TTL, protocol) loses
/// 0x0100, so ~m + m' is 0xfeff whatever the protocol (TTL ≥ 1).
#[inline(always)]
fn ttl_checksum(c: u16) -> u16 {
    let s = u32::from(!c) + 0xfeff;
    !((s & 0xffff) + (s >> 16)) as u16
}

impl Core {
    /// Tries the fast path on a frame at PARSE. `None`: the frame is
    /// untouched and must take the full steps; `Some(Next(step))`: it was
    /// changed and goes on at `step`; anything else is final.
    #[inline(always)]
    pub(crate) fn fast(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Option<Verdict> {
        let fi = *self.fast_in.get(p.port.index())?;
        let eth: &[u8; 14] = p.data().first_chunk::<14>()?;
        if eth[..6] != fi.mac.0 || fi.iface == NO_IFACE {
            return None;
        }
        let ing = Ingress {
            iface: fi.iface,
            rpf: fi.rpf,
            decapped: false,
        };
        match be16(eth, 12) {
            0x0800 => self.fast4(cx, p, ing),
            0x86dd => self.fast6(cx, p, ing),
            _ => None,
        }
    }

    /// An IPv4 packet at `L2` received on `ing`.
    #[inline(always)]
    fn fast4(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>, ing: Ingress) -> Option<Verdict> {
        let len = p.len();
        let h: &mut [u8; 34] = p.data_mut().first_chunk_mut::<34>()?;
        // Version 4, no options; not a fragment (MF clear, offset 0).
        if h[14] != 0x45 || h[20] & 0x3f != 0 || h[21] != 0 {
            return None;
        }
        let total = be16(h, 16) as usize;
        if total < 20 || L2 + total > len || sum20(h, 14) != 0xffff {
            return None;
        }
        let src = be32(h, 26);
        let dst = be32(h, 30);
        // Martian sources (multicast, broadcast, 0.0.0.0, 127/8), and
        // multicast / broadcast / class E / 0/8 / 127/8 destinations: the
        // full steps.
        let top = dst >> 24;
        if src >= 0xe000_0000
            || src == 0
            || src >> 24 == 127
            || top >= 0xe0
            || top == 0
            || top == 127
        {
            return None;
        }
        let (ttl, proto) = (h[22], h[23]);
        if self.local4_filter.maybe(hash4(dst)) {
            // Maybe ours: an IP-in-IP packet from a tunnel's remote end is
            // decapsulated here, anything else takes the steps. (No own-
            // source check needed first: a tunnel's remote is never one of
            // our addresses, so such a packet matches no tunnel.)
            if !ing.decapped && (proto == 4 || proto == 41) {
                let ecn = h[15] & 3;
                let (src, dst) = (V4_KEY | u128::from(src), V4_KEY | u128::from(dst));
                return self.fast_decap(cx, p, proto, src, dst, ecn, 20, L2 + total);
            }
            return None;
        }
        // Maybe our own address (or a broadcast of ours) as source: the
        // steps drop it.
        if self.local4_filter.maybe(hash4(src)) {
            return None;
        }
        if ttl <= 1 {
            return None;
        }
        if ing.rpf != RpfMode::Off
            && self
                .rpf_ok(ing.rpf, self.table.fib4.lookup_u32(src), ing.iface)
                .is_err()
        {
            return None;
        }
        let nh = self.table.fib4.lookup_u32(dst)?;
        let out = self.fast_egress(cx.now_ns, nh, V4_KEY | u128::from(dst), total, false)?;
        // Committed: from here on, what the steps would have done.
        h[22] = ttl - 1;
        let c = ttl_checksum(be16(h, 24));
        h[24..26].copy_from_slice(&c.to_be_bytes());
        out.write_macs(h);
        // Ethernet padding is not part of the packet.
        p.set_len(L2 + total);
        let meta = ing.meta(0x0800, 20, proto, nh);
        Some(self.fast_send(cx, p, meta, out))
    }

    /// An IPv6 packet at `L2` received on `ing`.
    #[inline(always)]
    fn fast6(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>, ing: Ingress) -> Option<Verdict> {
        let len = p.len();
        let h: &mut [u8; 54] = p.data_mut().first_chunk_mut::<54>()?;
        if h[14] >> 4 != 6 {
            return None;
        }
        let total = 40 + be16(h, 18) as usize;
        // Upper-layer protocols right after the header (TCP, UDP, ICMPv6,
        // IP-in-IP): no extension header to walk.
        let proto = h[20];
        if L2 + total > len || !matches!(proto, 4 | 6 | 17 | 41 | 58) {
            return None;
        }
        let src = be128(h, 22);
        let dst = be128(h, 38);
        let multicast = |a: u128| (a >> 120) == 0xff;
        // Multicast, loopback, unspecified, link-local; destinations in
        // ::/64 (::, ::1, IPv4-mapped) or the dummy prefix 100:0:0:1::/64:
        // the full steps.
        let dst_hi = (dst >> 64) as u64;
        if multicast(src)
            || src <= 1
            || link_local6(src)
            || multicast(dst)
            || link_local6(dst)
            || dst_hi == 0
            || dst_hi == 0x0100_0000_0000_0001
        {
            return None;
        }
        if self.local6_filter.maybe(hash6(dst)) {
            // As in fast4: a tunnel's remote is never our own address.
            if !ing.decapped && (proto == 4 || proto == 41) {
                let ecn = (h[15] >> 4) & 3;
                return self.fast_decap(cx, p, proto, src, dst, ecn, 40, L2 + total);
            }
            return None;
        }
        // Maybe our own address as source: the steps drop it.
        if self.local6_filter.maybe(hash6(src)) {
            return None;
        }
        let hops = h[21];
        if hops <= 1 {
            return None;
        }
        if ing.rpf != RpfMode::Off
            && self
                .rpf_ok(ing.rpf, self.table.fib6.lookup_u128(src), ing.iface)
                .is_err()
        {
            return None;
        }
        let nh = self.table.fib6.lookup_u128(dst)?;
        let out = self.fast_egress(cx.now_ns, nh, dst, total, true)?;
        h[21] = hops - 1;
        out.write_macs(h);
        p.set_len(L2 + total);
        let meta = ing.meta(0x86dd, 40, proto, nh);
        Some(self.fast_send(cx, p, meta, out))
    }

    /// Where next hop `nh` sends a packet of `total` bytes to `dst` (its
    /// key): out of an untagged port whose neighbour is memoised, or into a
    /// tunnel that takes packets of this family and size. `None`: the
    /// steps must decide (nothing changed yet).
    #[inline(always)]
    fn fast_egress(&self, now: u64, nh: u32, dst: u128, total: usize, v6: bool) -> Option<Egress> {
        let iface = match self.table.nexthops.get(nh as usize)? {
            &NextHop::Via { iface, .. } | &NextHop::Connected { iface } => iface,
            NextHop::Blackhole | NextHop::Unreachable => return None,
        };
        if iface >= TUN_BASE {
            let t = self.table.tunnel(iface)?;
            return (t.spec.kind.inner_v6() == v6 && total <= t.iface.mtu as usize)
                .then_some(Egress::Tunnel(iface));
        }
        let (iface, mac, until) = self.fast_next_hop(now, nh, dst)?;
        let f = self.ifaces.get(iface as usize)?;
        (f.vlan == 0 && total <= f.mtu as usize)
            .then_some(Egress::Port(f.port, f.mac, mac, f.mtu, until))
    }

    /// Sends a routed packet (TTL already decremented, Ethernet addresses
    /// written for a port, metadata as the steps would have it) where
    /// `out` says.
    #[inline(always)]
    fn fast_send(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        meta: Meta,
        out: Egress,
    ) -> Verdict {
        p.meta = meta;
        match out {
            Egress::Port(port, ..) => {
                #[cfg(test)]
                {
                    self.fast_seen[0] += 1;
                }
                Verdict::Tx(port)
            }
            // After a frame that may still be encapsulated at ENCAP, in
            // that step and in arrival order.
            Egress::Tunnel(_) if self.encap_defer => Verdict::Next(IPIP_ENCAP),
            Egress::Tunnel(id) => self.fast_encap(cx, p, id),
        }
    }

    /// ENCAP for a packet routed into tunnel `id` (as `encap`), then the
    /// outer packet's route and neighbour.
    fn fast_encap(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>, id: IfaceId) -> Verdict {
        let slot = (id - TUN_BASE) as usize;
        let Some(t) = self.fast_tun.get(slot).filter(|t| t.live) else {
            return Verdict::Next(IPIP_ENCAP);
        };
        let (outer_v6, inner_v6, proto, serial) = (t.outer_v6, t.inner_v6, t.proto, t.serial);
        let (modes, hdr, remote, route) = (t.modes, t.hdr, t.remote, t.out);
        let oh = if outer_v6 { 40 } else { 20 };
        let inner_len = p.len() - L2;
        // The inner packet's TOS / traffic class, TTL / hop limit and DF
        // (its family matches the tunnel's: `fast_egress` checked).
        let (tos, ttl, df) = match p.data().get(L2..L2 + 9) {
            Some(i) if inner_v6 => (((i[0] & 0x0f) << 4) | (i[1] >> 4), i[7], true),
            Some(i) => (i[1], i[8], i[6] & 0x40 != 0),
            None => return Verdict::Next(IPIP_ENCAP),
        };
        let (outer_tos, outer_ttl, outer_df) = modes.outer(tos, ttl, df);
        if p.headroom() < oh {
            return Verdict::Next(IPIP_ENCAP);
        }
        p.push_head(oh);
        let ethertype: u16 = if outer_v6 { 0x86dd } else { 0x0800 };
        if outer_v6 {
            let Some(h) = p.data_mut().first_chunk_mut::<54>() else {
                return Verdict::Drop(DropReason::TunnelHeaderWriteFailed);
            };
            h[14..54].copy_from_slice(&hdr);
            h[14] = 0x60 | (outer_tos >> 4);
            h[15] = outer_tos << 4;
            h[18..20].copy_from_slice(&(inner_len as u16).to_be_bytes());
            h[21] = outer_ttl;
            h[12..14].copy_from_slice(&ethertype.to_be_bytes());
        } else {
            self.ip_ident = self.ip_ident.wrapping_add(1);
            let Some(h) = p.data_mut().first_chunk_mut::<34>() else {
                return Verdict::Drop(DropReason::TunnelHeaderWriteFailed);
            };
            h[14..34].copy_from_slice(&hdr[..20]);
            h[15] = outer_tos;
            h[16..18].copy_from_slice(&(inner_len as u16).saturating_add(20).to_be_bytes());
            h[18..20].copy_from_slice(&self.ip_ident.to_be_bytes());
            h[20] = if outer_df { 0x40 } else { 0 };
            h[22] = outer_ttl;
            let c = ip4_checksum(h, 14);
            h[24..26].copy_from_slice(&c.to_be_bytes());
            h[12..14].copy_from_slice(&ethertype.to_be_bytes());
        }
        let m = p.meta;
        p.meta = Meta {
            l3: L2 as u16,
            l4: (L2 + oh) as u16,
            ethertype,
            proto,
            flags: Meta::ORIGINATED | (m.flags & Meta::NEEDS_FRAG),
            ..m
        };
        self.count_tunnel(slot, serial, TC_ENC_PKTS, TC_ENC_BYTES, inner_len as u64);
        // The outer packet's route over the underlay: the tunnel's last
        // one while it holds, else looked up (and kept).
        let (now, total) = (cx.now_ns, p.len() - L2);
        let route = if p.meta.flags & Meta::NEEDS_FRAG != 0 {
            None
        } else if route.valid
            && route.version == self.table.version
            && route.gen == self.neigh.gen()
            && now < route.until
            && total <= route.mtu as usize
        {
            Some(route)
        } else {
            let fresh = self.fast_outer(now, remote, outer_v6, total);
            if let (Some(r), Some(t)) = (fresh, self.fast_tun.get_mut(slot)) {
                t.out = r;
            }
            fresh
        };
        if let Some(r) = route {
            if let Some(h) = p.data_mut().first_chunk_mut::<12>() {
                h[..6].copy_from_slice(&r.dst.0);
                h[6..].copy_from_slice(&r.src.0);
            }
            p.meta.nh = r.nh;
            #[cfg(test)]
            {
                self.fast_seen[1] += 1;
            }
            return Verdict::Tx(r.port);
        }
        // As `encap` routes and counts it (its arc to ip-rewrite is the
        // node ip-rewrite here, where verdicts name nodes).
        match self.route_outer(cx, p, outer_v6) {
            Verdict::Next(TO_REWRITE) => Verdict::Next(IP_REWRITE),
            Verdict::Drop(r) => {
                self.tunnel_count(id, TC_DROPS + r.index(), 1);
                let m = p.meta;
                self.tunnel_drop(&m, r);
                Verdict::Drop(r)
            }
            v => v,
        }
    }

    /// Counts one packet of `bytes` bytes for the tunnel in `slot`.
    #[inline(always)]
    fn count_tunnel(
        &mut self,
        slot: usize,
        serial: u64,
        k_pkts: usize,
        k_bytes: usize,
        bytes: u64,
    ) {
        if let Some(c) = self.tunnel_row(slot, serial) {
            c[k_pkts] += 1;
            c[k_bytes] += bytes;
        }
    }

    /// The route of a tunnel's outer packet of `total` bytes
    /// (ORIGINATED: no TTL work, no RPF) to `dst` (the remote end, IPv4 in
    /// its low 32 bits) if it leaves by an untagged port with a memoised
    /// neighbour; `None`: the steps' code routes it.
    #[inline(always)]
    fn fast_outer(&self, now: u64, dst: u128, v6: bool, total: usize) -> Option<OuterRoute> {
        let (nh, key) = if v6 {
            if link_local6(dst) {
                return None;
            }
            (self.table.fib6.lookup_u128(dst)?, dst)
        } else {
            (self.table.fib4.lookup_u32(dst as u32)?, V4_KEY | dst)
        };
        let Egress::Port(port, src, mac, mtu, until) = self.fast_egress(now, nh, key, total, v6)?
        else {
            return None;
        };
        Some(OuterRoute {
            valid: true,
            version: self.table.version,
            gen: self.neigh.gen(),
            until,
            nh,
            port,
            mtu,
            src,
            dst: mac,
        })
    }

    /// PARSE's decapsulation (as `decap`) of an IP-in-IP packet whose outer
    /// header (`oh` bytes at `L2`) came from `src` to `dst` in a frame of
    /// `end` bytes without padding, then the inner packet as received on
    /// the tunnel. `None`: no tunnel matches here, or a case the steps
    /// handle (nothing changed).
    #[allow(clippy::too_many_arguments)]
    fn fast_decap(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        proto: u8,
        src: u128,
        dst: u128,
        outer_ecn: u8,
        oh: usize,
        end: usize,
    ) -> Option<Verdict> {
        let e = self.tun_map[tun_slot(proto, dst, src)];
        if e.id == 0 || e.id == AMBIGUOUS || e.proto != proto || e.local != dst || e.remote != src {
            return None;
        }
        let id = e.id;
        let inner_v6 = proto == 41;
        let (rpf, serial) = (e.rpf, e.serial);
        let off = L2 + oh;
        let inner = p.data().get(off..end)?;
        // The header must be whole before its ECN bits are read: an empty
        // or truncated inner packet (total length 20, say) is the steps'
        // to drop with its reason.
        let (ok, ecn) = if inner_v6 {
            let ok = ipv6::Packet::new_checked(inner).is_ok();
            (ok, inner.get(1).map_or(0, |b| (b >> 4) & 3))
        } else {
            let ok = ipv4::Packet::new_checked(inner).is_ok();
            (ok, inner.get(1).map_or(0, |b| b & 3))
        };
        // A malformed inner packet, or RFC 6040 changing (or dropping) the
        // inner ECN field: the steps.
        if !ok || ecn_decap(ecn, outer_ecn) != Some(ecn) {
            return None;
        }
        // PARSE's padding cut, then the outer header stripped: the
        // Ethernet header moves up to the inner packet.
        p.set_len(end);
        let d = p.data_mut();
        d.copy_within(0..12, oh);
        p.pull_head(oh);
        let et: u16 = if inner_v6 { 0x86dd } else { 0x0800 };
        p.data_mut()[12..14].copy_from_slice(&et.to_be_bytes());
        let inner_len = p.len() - L2;
        self.count_tunnel(
            (id - TUN_BASE) as usize,
            serial,
            TC_DEC_PKTS,
            TC_DEC_BYTES,
            inner_len as u64,
        );
        #[cfg(test)]
        {
            self.fast_seen[2] += 1;
        }
        let ing = Ingress {
            iface: id,
            rpf,
            decapped: true,
        };
        let fast = if inner_v6 {
            self.fast6(cx, p, ing)
        } else {
            self.fast4(cx, p, ing)
        };
        if let Some(v) = fast {
            return Some(v);
        }
        // The inner packet is input again as received on the tunnel, as
        // after ipip-decap.
        Core::decapped(p, id, inner_v6);
        Some(Verdict::Next(if inner_v6 { IP6_INPUT } else { IP4_INPUT }))
    }

    /// The memoised egress interface and MAC for next hop `nh` to `dst`
    /// (its key), never a tunnel.
    #[inline(always)]
    fn fast_next_hop(&self, now: u64, nh: u32, dst: u128) -> Option<(IfaceId, MacAddr, u64)> {
        let (iface, (mac, until)) = match self.table.nexthops.get(nh as usize)? {
            &NextHop::Via { iface, .. } => (iface, self.memo_gateway(now, nh)?),
            &NextHop::Connected { iface } => (iface, self.memo_host(now, iface, dst)?),
            NextHop::Blackhole | NextHop::Unreachable => return None,
        };
        (iface < TUN_BASE).then_some((iface, mac, until))
    }

    /// Rebuilds the per-port facts, the local-address filters and the
    /// tunnel map (at start, and when a new route table brings other
    /// tunnels).
    pub(crate) fn rebuild_fast(&mut self) {
        self.fast_in = [FastIn::default(); MAX_PORTS];
        for (port, list) in self.by_port.iter().enumerate().take(MAX_PORTS) {
            if let Some(&(_, id)) = list.iter().find(|&&(vlan, _)| vlan == 0) {
                let f = &self.ifaces[id as usize];
                self.fast_in[port] = FastIn {
                    iface: id,
                    mac: f.mac,
                    rpf: f.rpf,
                };
            }
        }
        self.local4_filter.clear();
        self.local6_filter.clear();
        let tunnels = self.table.tunnels.iter().flatten().map(|t| &t.iface);
        for f in self.ifaces.iter().chain(tunnels) {
            for &(a, _) in &f.ipv4 {
                self.local4_filter.add(hash4(a.to_bits()));
            }
            for &(a, _) in &f.ipv6 {
                self.local6_filter.add(hash6(a.to_bits()));
            }
        }
        for a in &self.bcast4 {
            self.local4_filter.add(hash4(a.to_bits()));
        }
        for &(a, _) in &self.local6 {
            self.local6_filter.add(hash6(a.to_bits()));
        }
        for (slot, ft) in self.fast_tun.iter_mut().enumerate() {
            *ft = FastTun::default();
            let Some(Some(t)) = self.table.tunnels.get(slot) else {
                continue;
            };
            let s = &t.spec;
            let mut hdr = [0u8; 40];
            let (outer_v6, remote) = match (s.local, s.remote) {
                (IpAddr::V4(l), IpAddr::V4(r)) => {
                    hdr[0] = 0x45;
                    hdr[9] = s.kind.proto();
                    hdr[12..16].copy_from_slice(&l.octets());
                    hdr[16..20].copy_from_slice(&r.octets());
                    (false, u128::from(r.to_bits()))
                }
                (IpAddr::V6(l), IpAddr::V6(r)) => {
                    hdr[0] = 0x60;
                    hdr[6] = s.kind.proto();
                    hdr[8..24].copy_from_slice(&l.octets());
                    hdr[24..40].copy_from_slice(&r.octets());
                    (true, r.to_bits())
                }
                _ => continue,
            };
            *ft = FastTun {
                live: true,
                serial: t.serial,
                outer_v6,
                inner_v6: s.kind.inner_v6(),
                proto: s.kind.proto(),
                hdr,
                modes: s.modes(),
                remote,
                out: OuterRoute::default(),
            };
        }
        *self.tun_map = [TunSlot::default(); TUN_MAP];
        for (i, t) in self.table.tunnels.iter().enumerate() {
            let Some(t) = t else { continue };
            let (proto, local, remote) = (
                t.spec.kind.proto(),
                memo_ip(t.spec.local),
                memo_ip(t.spec.remote),
            );
            let slot = &mut self.tun_map[tun_slot(proto, local, remote)];
            *slot = if slot.id == 0 {
                TunSlot {
                    proto,
                    local,
                    remote,
                    id: TUN_BASE + i as IfaceId,
                    rpf: t.iface.rpf,
                    serial: t.serial,
                }
            } else {
                TunSlot {
                    id: AMBIGUOUS,
                    ..*slot
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;

    #[test]
    fn header_checksum_matches_the_generic_one() {
        let mut h = [0u8; 34];
        let mut x = 0x1234_5678u32;
        for round in 0..2000 {
            for b in h[14..34].iter_mut() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *b = (x >> 16) as u8;
            }
            if round % 7 == 0 {
                h[14..34].fill(0xff);
            }
            h[24..26].fill(0);
            let want = checksum::finish(checksum::sum(&h[14..34]));
            assert_eq!(ip4_checksum(&h, 14), want, "{:x?}", &h[14..34]);
            h[24..26].copy_from_slice(&want.to_be_bytes());
            assert_eq!(sum20(&h, 14), 0xffff);
        }
    }

    #[test]
    fn ttl_update_matches_rfc1624() {
        for c in 0..=0xffffu16 {
            for ttl in [1u8, 2, 64, 255] {
                for proto in [0u8, 4, 17, 255] {
                    let old = u16::from_be_bytes([ttl, proto]);
                    let new = u16::from_be_bytes([ttl - 1, proto]);
                    assert_eq!(
                        ttl_checksum(c),
                        checksum::update16(c, old, new),
                        "{c:#x} {ttl} {proto}"
                    );
                }
            }
        }
    }

    #[test]
    fn address_filter_and_tunnel_slots() {
        let mut f = AddrFilter::default();
        f.add(hash4(0x0a01_0001));
        assert!(f.maybe(hash4(0x0a01_0001)));
        let set = (0..65536u32)
            .filter(|&i| f.maybe(hash4(0x0a09_0000 | i)))
            .count();
        assert!(set < 65536 / 256, "{set} of a /16 collide with one address");
        assert!(tun_slot(4, 1, 2) < TUN_MAP);
    }
}
