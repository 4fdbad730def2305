//! The router's fused fast path (node `router-fast`): one pass per frame
//! for the common cases — a unicast IPv4 or IPv6 packet in an untagged
//! frame, addressed to our MAC, not to us, routed to an untagged interface
//! whose next hop's MAC ip-rewrite has already memoised, or to a feature's
//! interface (a tunnel); and a packet to us of a protocol a feature
//! registered (IP-in-IP from a tunnel's remote end: decapsulated, and its
//! inner packet forwarded the same way). It does exactly what
//! ethernet-input → ip4-input / ip6-input → ip4-lookup / ip6-lookup →
//! (the feature's output node →) ip-rewrite, or ip4-local / ip6-local →
//! the feature's node → input again, would do to such a frame (same bytes
//! out, same verdict, same metadata, same counters), without the graph's
//! runner, the generic header views or the neighbour cache lookup. It
//! names no feature: a feature's code is reached through
//! [`super::registry::Fused`] (its local and output hooks), the same code
//! its nodes run.
//!
//! Anything else — a check that fails, an option, a fragment, an extension
//! header, a packet for us no feature takes, a TTL about to expire, an MTU
//! exceeded, a next hop not memoised — is left untouched for the graph
//! (from ethernet-input), whose nodes decide (and count) it. Once the fast
//! path has changed a frame (a TTL decremented, an outer header added or
//! removed) and then meets such a case, it hands the frame, by node index,
//! to the node that comes next, in the state that node expects: a
//! decapsulated inner packet to ip4-input / ip6-input, a packet for a
//! feature's interface to its output node (also once an earlier frame of
//! the burst went to the graph: `Core::output_defer`, arrival order), an
//! outer packet whose route is not memoised to ip-rewrite. The verdict is
//! then `Next(node)` and the graph goes on from that node.
//!
//! `fast_tests::fast_path_matches_the_steps` runs frames of every kind through
//! a router with and without this path and compares the results.

use super::resolve::V4_KEY;
use super::spec::{IfaceId, RpfMode, VIRT_BASE};
use super::{Core, NextHop, IP4_INPUT, IP6_INPUT, L2};
use crate::wire::checksum;
use crate::wire::ethernet::MacAddr;
use crate::{Ctx, Meta, Packet, Verdict, MAX_PORTS};

/// What the fused path knows of a packet maybe to us when it calls a
/// feature's [`super::registry::Fused::local`].
pub struct LocalHit {
    pub v6: bool,
    pub proto: u8,
    /// Source and destination as 128-bit keys (IPv4 as `::ffff:a.b.c.d`).
    pub src: u128,
    pub dst: u128,
    /// The outer ECN bits.
    pub ecn: u8,
    /// IP header length (no options / extension headers here).
    pub hl: usize,
    /// The frame's end without Ethernet padding.
    pub end: usize,
    pub ingress: Ingress,
}

impl LocalHit {
    /// Leaves the packet as ip4-input / ip6-input leave one to us: padding
    /// cut, metadata set. A hook calls it once the packet is its own.
    #[inline(always)]
    pub fn commit(&self, p: &mut Packet<'_>) {
        p.set_len(self.end);
        let mut m = self.ingress.meta(
            if self.v6 { 0x86dd } else { 0x0800 },
            self.hl,
            self.proto,
            0,
        );
        m.flags |= Meta::TO_US;
        p.meta = m;
    }
}

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
/// interface, or a feature's virtual interface for a decapsulated packet).
#[derive(Clone, Copy)]
pub struct Ingress {
    pub iface: IfaceId,
    pub rpf: RpfMode,
    /// Decapsulated (never decapsulated again).
    pub decapped: bool,
}

impl Ingress {
    /// The metadata the graph's nodes give a routed packet received here
    /// (ip4-input / ip6-input, and the lookup's next hop `nh`; `hl`: its
    /// IP header length).
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

/// An IPv6 link-local address (fe80::/10).
#[inline(always)]
fn link_local6(a: u128) -> bool {
    (a >> 118) == 0xfe80 >> 6
}

/// A route the fast path can finish from memos alone: out of an untagged
/// port to a memoised neighbour.
#[derive(Clone, Copy)]
pub(crate) struct MemoRoute {
    pub nh: u32,
    pub port: crate::PortId,
    pub src: MacAddr,
    pub dst: MacAddr,
    pub mtu: u16,
    /// Until when the neighbour answer holds.
    pub until: u64,
}

/// Entries of [`Core::memo_out`]'s memo (direct-mapped by destination).
pub(crate) const DST_MEMO: usize = 64;

/// A [`MemoRoute`] for a destination of packets we originate, valid for
/// the neighbour generation and route table version it was found in.
#[derive(Clone, Copy, Default)]
pub(crate) struct DstMemo {
    key: u128,
    gen: u64,
    version: u64,
    r: Option<MemoRoute>,
}

/// Where a routed packet goes, as far as the fast path can tell.
enum Egress<'a> {
    /// Out of a port: its number, our MAC there, the next hop's MAC, the
    /// interface MTU, and until when the neighbour answer holds. (The
    /// MACs by reference: copying six-byte arrays through `Option`s costs
    /// more than reading them where they are.)
    Port(crate::PortId, &'a MacAddr, &'a MacAddr, u16, u64),
    /// To a feature's interface: its output index and the interface.
    Output(u8, IfaceId),
}

/// Where [`Core::fast_send`] sends a packet once its addresses are written.
enum Send {
    Port(crate::PortId),
    Output(u8, IfaceId),
}

impl Egress<'_> {
    /// Writes the Ethernet addresses for a port into the frame's first
    /// bytes (nothing for a feature's interface: its output node's job).
    #[inline(always)]
    fn write_macs<const N: usize>(self, h: &mut [u8; N]) -> Send {
        match self {
            Egress::Port(port, src, dst, _, _) => {
                h[..6].copy_from_slice(&dst.0);
                h[6..12].copy_from_slice(&src.0);
                Send::Port(port)
            }
            Egress::Output(o, iface) => Send::Output(o, iface),
        }
    }
}

/// A 1024-bit filter of addresses that are ours (or broadcast addresses
/// of our subnets): a set bit sends the packet to the graph, which checks
/// exactly (or, for a protocol a feature registered, to the feature's
/// local hook, which checks exactly too). False positives only cost speed (a handful of addresses
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
pub(crate) fn be16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be128<const N: usize>(b: &[u8; N], at: usize) -> u128 {
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
    checksum::fold64_ne(w(at) + w(at + 4) + w(at + 8) + w(at + 12) + w(at + 16))
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
    /// Tries the fast path on a fresh frame (before ethernet-input).
    /// `None`: the frame is untouched and must take the graph from
    /// ethernet-input; `Some(Next(n))`: it was changed and goes on at node
    /// `n` of the router's graph (ip4-input / ip6-input, a feature's output
    /// node, ip-rewrite); anything else is final.
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
            0x0800 => self.fast4::<false>(cx, p, ing),
            0x86dd => self.fast6::<false>(cx, p, ing),
            _ => None,
        }
    }

    /// An IPv4 packet at `L2` received on `ing`.
    #[inline(always)]
    fn fast4<const INNER: bool>(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        ing: Ingress,
    ) -> Option<Verdict> {
        let len = p.len();
        let mut h: &mut [u8; 34] = p.data_mut().first_chunk_mut::<34>()?;
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
        // graph.
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
            // Maybe ours: a feature's claim (stateful NAT64's pool4
            // transport addresses) first, as ip4-local tries claims first,
            // then the hook of the protocol's registration; each checks
            // exactly. Not for a packet that came out of a feature's
            // interface (`INNER`: never handed to a feature again here),
            // nor from our own address (ip4-input drops it before any
            // claim). What the hooks leave, and what no hook takes, takes
            // the graph if it is really ours; a false positive of the
            // filter is forwarded here.
            let (claim, hook) = (self.fast_claim4, self.fast_local4[proto as usize]);
            if !INNER && (claim.is_some() || hook.is_some()) {
                if claim.is_some() && self.local4_filter.maybe(hash4(src)) && self.ours4(src) {
                    return None;
                }
                let (s, d) = (V4_KEY | u128::from(src), V4_KEY | u128::from(dst));
                let (ecn, end) = (h[15] & 3, L2 + total);
                if let Some(c) = claim {
                    let v = self.fast_local::<false>(cx, p, c, ing, proto, s, d, ecn, end);
                    if v.is_some() {
                        return v;
                    }
                }
                if let Some(k) = hook {
                    let v = self.fast_local::<false>(cx, p, k, ing, proto, s, d, ecn, end);
                    if v.is_some() {
                        return v;
                    }
                }
                h = p.data_mut().first_chunk_mut::<34>()?;
            }
            if self.ours4(dst) {
                return None;
            }
        }
        // Our own address (or a broadcast of ours) as source: ip4-input
        // drops it.
        if self.local4_filter.maybe(hash4(src)) && self.ours4(src) {
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
        let out = self.fast_egress(cx.now_ns, nh, V4_KEY | u128::from(dst), total)?;
        // Committed: from here on, what the graph's nodes would have done.
        h[22] = ttl - 1;
        let c = ttl_checksum(be16(h, 24));
        h[24..26].copy_from_slice(&c.to_be_bytes());
        let out = out.write_macs(h);
        // Ethernet padding is not part of the packet.
        p.set_len(L2 + total);
        let meta = ing.meta(0x0800, 20, proto, nh);
        Some(self.fast_send(cx, p, meta, out))
    }

    /// An IPv6 packet at `L2` received on `ing`.
    #[inline(always)]
    fn fast6<const INNER: bool>(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        ing: Ingress,
    ) -> Option<Verdict> {
        let len = p.len();
        let mut h: &mut [u8; 54] = p.data_mut().first_chunk_mut::<54>()?;
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
        // the graph.
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
            // As in fast4.
            if let (false, Some(hook)) = (INNER, self.fast_local6[proto as usize]) {
                let (ecn, end) = ((h[15] >> 4) & 3, L2 + total);
                let v = self.fast_local::<true>(cx, p, hook, ing, proto, src, dst, ecn, end);
                if v.is_some() {
                    return v;
                }
                h = p.data_mut().first_chunk_mut::<54>()?;
            }
            if self.ours6(dst, ing.iface) {
                return None;
            }
        }
        // Our own address as source: ip6-input drops it.
        if self.local6_filter.maybe(hash6(src)) && self.ours6(src, ing.iface) {
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
        let out = self.fast_egress(cx.now_ns, nh, dst, total)?;
        h[21] = hops - 1;
        let out = out.write_macs(h);
        p.set_len(L2 + total);
        let meta = ing.meta(0x86dd, 40, proto, nh);
        Some(self.fast_send(cx, p, meta, out))
    }

    /// After an address-filter hit (a false positive for about 1 % of
    /// foreign addresses): exactly whether `a` is one of our IPv4
    /// addresses or a broadcast address of one of our subnets, as
    /// ip4-input decides. A foreign address the filter let through stays
    /// on the fast path (before, it took the graph, and every packet of
    /// the burst routed to a feature's interface after it waited there
    /// too, `Core::output_defer`). Out of line: rare.
    #[inline(never)]
    pub(crate) fn ours4(&self, a: u32) -> bool {
        crate::sorted::find(&self.ours4_set, a).is_some()
    }

    /// As [`Core::ours4`], for an IPv6 address seen on `iface` (the
    /// test ip6-input makes for sources and destinations alike).
    #[inline(never)]
    fn ours6(&self, a: u128, iface: IfaceId) -> bool {
        self.is_own_src6(std::net::Ipv6Addr::from(a), iface)
    }

    /// Where next hop `nh` sends a packet of `total` bytes to `dst` (its
    /// key): out of an untagged port whose neighbour is memoised, or to a
    /// feature's interface (its output hook) if the packet fits its MTU.
    /// `None`: the graph must decide (nothing changed yet).
    #[inline(always)]
    fn fast_egress(&self, now: u64, nh: u32, dst: u128, total: usize) -> Option<Egress<'_>> {
        let iface = match self.table.nexthops.get(nh as usize)? {
            &NextHop::Via { iface, .. } | &NextHop::Connected { iface } => iface,
            NextHop::Blackhole | NextHop::Unreachable => return None,
        };
        // Ids from VIRT_BASE on are virtual interfaces (features' own, the
        // route table's tunnels).
        if iface >= VIRT_BASE {
            return self.virt_egress(iface, total);
        }
        let (iface, mac, until) = self.fast_next_hop(now, nh, dst)?;
        let f = self.ifaces.get(iface as usize)?;
        if f.vlan != 0 || total > f.mtu as usize {
            return None;
        }
        Some(Egress::Port(f.port, &f.mac, mac, f.mtu, until))
    }

    /// [`Core::fast_egress`] to a virtual interface (out of line).
    #[inline(never)]
    fn virt_egress(&self, iface: IfaceId, total: usize) -> Option<Egress<'_>> {
        let f = self.iface(iface);
        (f.output != 0 && total <= f.mtu as usize).then_some(Egress::Output(f.output, iface))
    }

    /// Sends a routed packet (TTL already decremented, Ethernet addresses
    /// written for a port, metadata as the graph would have it) where
    /// `out` says.
    #[inline(always)]
    fn fast_send(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        meta: Meta,
        out: Send,
    ) -> Verdict {
        p.meta = meta;
        match out {
            Send::Port(port) => {
                #[cfg(test)]
                {
                    self.fast_seen[0] += 1;
                }
                Verdict::Tx(port)
            }
            // After a frame that went to the graph, a feature's output
            // runs there, in arrival order (e.g. outer IPv4
            // identifications follow the arrival order).
            Send::Output(o, _) if self.output_defer => Verdict::Next(self.output_node[o as usize]),
            Send::Output(o, iface) => self.fast_output(cx, p, o, iface),
        }
    }

    /// A packet routed to a feature's interface: the feature's output code
    /// ([`super::registry::Fused::output`]), or its node. Out of line, off
    /// the plain forwarding path.
    #[inline(never)]
    fn fast_output(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        o: u8,
        iface: IfaceId,
    ) -> Verdict {
        let Some(&Some(f)) = self.fast_output.get(o as usize) else {
            return Verdict::Next(self.output_node[o as usize]);
        };
        let v = f.output(self, cx, p, iface);
        #[cfg(test)]
        if let Verdict::Tx(_) = v {
            self.fast_seen[1] += 1;
        }
        // As the graph's runner would count it.
        if let Verdict::Drop(r) = v {
            let m = p.meta;
            crate::nodes::Shared::dropped(self, &m, r);
        }
        v
    }

    /// A packet maybe to us of a protocol a feature registered: the
    /// feature's code ([`super::registry::Fused::local`]); a packet it
    /// hands back to input (decapsulated) continues in the fused path as
    /// received on the interface it names (`fast4::<true>` /
    /// `fast6::<true>`, which hand no packet to a feature again). Out of
    /// line, off the forwarding path.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn fast_local<const V6: bool>(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        f: super::registry::Fused,
        ing: Ingress,
        proto: u8,
        src: u128,
        dst: u128,
        ecn: u8,
        end: usize,
    ) -> Option<Verdict> {
        // Built here, next to the inlined feature code, the hit stays in
        // registers.
        let mut hit = LocalHit {
            v6: V6,
            proto,
            src,
            dst,
            ecn,
            hl: if V6 { 40 } else { 20 },
            end,
            ingress: ing,
        };
        let v = f.local(self, cx, p, &mut hit)?;
        #[cfg(test)]
        {
            self.fast_seen[3] += 1;
        }
        let v6 = match v {
            Verdict::Next(IP4_INPUT) => false,
            Verdict::Next(IP6_INPUT) => true,
            Verdict::Drop(r) => {
                // As the graph's runner would count it.
                let m = p.meta;
                crate::nodes::Shared::dropped(self, &m, r);
                return Some(v);
            }
            v => return Some(v),
        };
        #[cfg(test)]
        {
            self.fast_seen[2] += 1;
        }
        let fast = if v6 {
            self.fast6::<true>(cx, p, hit.ingress)
        } else {
            self.fast4::<true>(cx, p, hit.ingress)
        };
        Some(fast.unwrap_or_else(|| {
            // To the graph's input node, as received on that interface.
            p.meta = super::reinput_meta(hit.ingress.iface, v6);
            v
        }))
    }

    /// The route of a packet we originate (no TTL work, no RPF) of `total`
    /// bytes to `dst` (IPv4 in its low 32 bits) if it leaves by an untagged
    /// port with a memoised neighbour: what a feature's output node uses
    /// for its outer packets. `None`: the graph's lookup must route it.
    #[inline(always)]
    pub(crate) fn memo_route(
        &self,
        now: u64,
        dst: u128,
        v6: bool,
        total: usize,
    ) -> Option<MemoRoute> {
        let nh = if v6 {
            if link_local6(dst) {
                return None;
            }
            self.table.fib6.lookup_u128(dst)?
        } else {
            self.table.fib4.lookup_u32(dst as u32)?
        };
        self.memo_nh(now, nh, dst, v6, total)
    }

    /// [`Core::memo_route`] behind a small memo by destination, for
    /// features whose outer packets go to few destinations (GTP-U's base
    /// stations): a hit costs a compare and three checks instead of a
    /// FIB lookup and the next hop's memo. An entry holds while the
    /// neighbour cache and the route table have not moved (what the
    /// answer was computed from; the neighbour's own expiry and the MTU
    /// are checked per packet).
    #[inline(always)]
    pub(crate) fn memo_out(
        &mut self,
        now: u64,
        dst: u128,
        v6: bool,
        total: usize,
    ) -> Option<MemoRoute> {
        let key = if v6 { dst } else { V4_KEY | dst };
        let i = hash6(key) as usize % DST_MEMO;
        let (gen, version) = (self.neigh.gen(), self.table.version);
        if let Some(e) = self.dst_memo.get(i) {
            if let Some(r) = e.r {
                if e.key == key
                    && e.gen == gen
                    && e.version == version
                    && now < r.until
                    && total <= r.mtu as usize
                {
                    return Some(r);
                }
            }
        }
        let r = self.memo_route(now, dst, v6, total)?;
        self.remember_out(
            i,
            DstMemo {
                key,
                gen,
                version,
                r: Some(r),
            },
        );
        Some(r)
    }

    /// [`Core::memo_out`] on a miss: the route found, remembered (out of
    /// line).
    #[inline(never)]
    fn remember_out(&mut self, i: usize, e: DstMemo) {
        if let Some(slot) = self.dst_memo.get_mut(i) {
            *slot = e;
        }
    }

    /// As [`Core::memo_route`], for a next hop already looked up (the
    /// translator routes its packets itself).
    #[inline(always)]
    pub(crate) fn memo_nh(
        &self,
        now: u64,
        nh: u32,
        dst: u128,
        v6: bool,
        total: usize,
    ) -> Option<MemoRoute> {
        if v6 && link_local6(dst) {
            return None;
        }
        let key = if v6 { dst } else { V4_KEY | dst };
        let Egress::Port(port, src, mac, mtu, until) = self.fast_egress(now, nh, key, total)?
        else {
            return None;
        };
        Some(MemoRoute {
            nh,
            port,
            src: *src,
            dst: *mac,
            mtu,
            until,
        })
    }

    /// The memoised egress interface and MAC for next hop `nh` to `dst`
    /// (its key), an Ethernet interface.
    #[inline(always)]
    fn fast_next_hop(&self, now: u64, nh: u32, dst: u128) -> Option<(IfaceId, &MacAddr, u64)> {
        let (iface, (mac, until)) = match self.table.nexthops.get(nh as usize)? {
            &NextHop::Via { iface, .. } => (iface, self.memo_gateway(now, nh)?),
            &NextHop::Connected { iface } => (iface, self.memo_host(now, iface, dst)?),
            NextHop::Blackhole | NextHop::Unreachable => return None,
        };
        (iface < VIRT_BASE).then_some((iface, mac, until))
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
        // Ours: the addresses of every interface, virtual ones included.
        let virt = self.table.virt_ifaces().map(|(_, f)| f);
        for f in self.ifaces.iter().chain(virt) {
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
        // The exact sets (allocates: once per table or address change).
        let mut s4: Vec<(u32, u8)> = Vec::new();
        let mut s6: Vec<(u128, IfaceId)> = Vec::new();
        for &(a, f) in &self.local6 {
            s6.push((a.to_bits(), f));
        }
        for &(a, _) in &self.local4 {
            s4.push((a.to_bits(), super::OURS4));
        }
        for (_, f) in self.table.virt_ifaces() {
            s4.extend(f.ipv4.iter().map(|&(a, _)| (a.to_bits(), super::OURS4)));
            s6.extend(f.ipv6.iter().map(|&(a, _)| (a.to_bits(), super::ANY_IFACE)));
        }
        s4.extend(self.bcast4.iter().map(|a| (a.to_bits(), super::BCAST4)));
        // One entry per address, with what it is (both, should an address
        // of ours be another subnet's broadcast address).
        s4.sort_unstable();
        s4.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 |= next.1;
            }
            same
        });
        s6.sort_unstable();
        s6.dedup();
        self.ours4_set = s4;
        self.own6_set = s6;
        let mut macs: Vec<(u64, ())> = self
            .ifaces
            .iter()
            .map(|f| (super::mac_key(f.mac), ()))
            .collect();
        macs.sort_unstable();
        macs.dedup();
        self.own_macs = macs;
        // The features' own state follows the table.
        for f in super::registry::FEATURES {
            if let Some(rebuild) = f.rebuild {
                rebuild(self);
            }
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
            // The folds' edges: nothing to carry, and every word's carry
            // landing in one place.
            if round % 11 == 0 {
                h[14..34].fill(0);
            }
            if round % 13 == 0 {
                h[14..34].fill(0);
                h[14 + (round / 13) % 20] = 0xff;
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
    fn address_filter() {
        let mut f = AddrFilter::default();
        f.add(hash4(0x0a01_0001));
        assert!(f.maybe(hash4(0x0a01_0001)));
        let set = (0..65536u32)
            .filter(|&i| f.maybe(hash4(0x0a09_0000 | i)))
            .count();
        assert!(set < 65536 / 256, "{set} of a /16 collide with one address");
    }
}
