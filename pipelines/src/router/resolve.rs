//! ip-rewrite: next hop → MAC (neighbour cache), the egress Ethernet header
//! (with an 802.1Q tag if the egress interface has one), IPv4
//! fragmentation; and what the cache needs: ARP requests / Neighbor
//! Solicitations, timers, announcements at start.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayVec;

use super::neigh::{Key, Learned, Lookup, State, Timer, REACHABLE_TIME_NS};
use super::spec::IfaceId;
use super::{Core, NextHop, IP_REWRITE, L2};
use crate::nodes::Node;

/// What [`Core::originate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Originated {
    Sent,
    /// The next hop's MAC is not known yet (it was asked for).
    Resolving,
    /// No route, or the route leads into a tunnel.
    NoRoute,
    /// No free frame.
    NoFrame,
}

/// ip-rewrite: the output of Ethernet interfaces. Resolves the next hop
/// (parking the packet while it is being resolved), fragments IPv4 if
/// needed, writes the Ethernet header and sends.
pub struct Rewrite;

impl Node<Core> for Rewrite {
    fn name(&self) -> &'static str {
        "ip-rewrite"
    }
    fn next(&self) -> &[&'static str] {
        &["tx", "park", "drop"]
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[
            RouteNone,
            VlanNoHeadroom,
            NeighQueueFull,
            NeighTableFull,
            NeighFailed,
            NeighNoSource,
            Ip4Malformed,
            Ip6Malformed,
        ]
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
            v[i as usize] = core.resolve(cx, &mut pkts[i as usize]);
        }
    }
}
use crate::wire::ethernet::MacAddr;
use crate::wire::ndp::{emit_slla, emit_tlla, NeighborAdvertRepr, NeighborSolicitRepr};
use crate::wire::{arp, checksum, icmpv6, ipv4, ipv6, vlan};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

/// Entries in the next-hop → MAC memo.
pub(crate) const NH_MEMO: usize = 64;

/// Entries in the on-link host → MAC memo.
pub(crate) const HOST_MEMO: usize = 256;

/// What ip-rewrite last answered for a gateway next hop.
///
/// Validity is per entry: the answer holds while next hop `nh` of the
/// route table is still `hop` and the neighbour entry in `slot` still has
/// `stamp`. Checking that per packet would cost a few loads more than
/// needed, so `gen` / `version` say when it was last checked: a memo whose
/// pair matches the current neighbour-cache generation and route-table
/// version is valid at once, and when either moves (a route published, any
/// neighbour learned) [`Core::revalidate_memos`] re-checks every memo per
/// entry once, keeping the unaffected ones. A control plane changing
/// routes or tunnels thousands of times a second thus never sends the
/// traffic of unrelated next hops back through the slow path.
#[derive(Clone, Copy, Default)]
pub(crate) struct NhMemo {
    nh: u32,
    hop: Option<NextHop>,
    slot: u32,
    stamp: u64,
    gen: u64,
    version: u64,
    until: u64,
    mac: MacAddr,
}

/// What ip-rewrite last answered for an on-link destination (a connected
/// next hop), keyed by interface and address (IPv4 as `::ffff:a.b.c.d`);
/// valid while the neighbour entry in `slot` keeps `stamp` (checked as
/// for [`NhMemo`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct HostMemo {
    ip: u128,
    iface: IfaceId,
    slot: u32,
    stamp: u64,
    gen: u64,
    version: u64,
    until: u64,
    mac: MacAddr,
}

/// `::ffff:0:0`: the prefix IPv4 addresses carry as 128-bit keys.
pub(crate) const V4_KEY: u128 = 0xffff_0000_0000;

/// An address as the 128-bit key the memos and the fast path's maps use
/// (IPv4 as `::ffff:a.b.c.d`).
#[inline]
pub(crate) fn memo_ip(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => V4_KEY | u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

#[inline]
fn host_slot(ip: u128, iface: IfaceId) -> usize {
    let x = ip ^ (ip >> 64);
    let x = (x as u64) ^ ((x as u64) >> 29) ^ u64::from(iface);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize % HOST_MEMO
}

/// Sets the length of an outer (tunnel) header `o` in front of an inner
/// packet of `inner` bytes, and its IPv4 identification if given, then
/// its checksum. Nothing to do for an empty `o`.
pub(crate) fn set_outer_len(o: &mut [u8], v4: bool, inner: &[u8], ident: Option<u16>) -> bool {
    let inner = inner.len();
    if o.is_empty() {
        return true;
    }
    if v4 {
        // The header alone: a checked view would refuse it (its Total
        // Length covers the packet behind it).
        let hl = ((o[0] & 0x0f) as usize) * 4;
        if hl < ipv4::HEADER_LEN || hl > o.len() {
            return false;
        }
        let total = (o.len() + inner) as u16;
        o[2..4].copy_from_slice(&total.to_be_bytes());
        if let Some(id) = ident {
            o[4..6].copy_from_slice(&id.to_be_bytes());
        }
        o[10..12].fill(0);
        let c = checksum::finish(checksum::sum(&o[..hl]));
        o[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        o[4..6].copy_from_slice(&(inner as u16).to_be_bytes());
    }
    true
}

/// Writes the Ethernet header (18 bytes with a tag, else 14) for
/// `iface` into `buf`; returns its length.
/// See [`super::registry::Inner::fix`].
type FixOuter = fn(&mut [u8], bool, &[u8], Option<u16>) -> bool;

fn l2_header(buf: &mut [u8], src: MacAddr, vid: u16, dst: MacAddr, ethertype: u16) -> usize {
    buf[0..6].copy_from_slice(&dst.0);
    buf[6..12].copy_from_slice(&src.0);
    if vid == 0 {
        buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
        14
    } else {
        buf[12..14].copy_from_slice(&vlan::TPID_8021Q.to_be_bytes());
        buf[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
        buf[16..18].copy_from_slice(&ethertype.to_be_bytes());
        18
    }
}

impl Core {
    /// Gives `p` (internal layout: 14-byte L2 header) its egress Ethernet
    /// header and sends it out of `iface`'s port.
    pub(crate) fn send_on(&self, p: &mut Packet<'_>, iface: IfaceId, dst: MacAddr) -> Verdict {
        let f = self.iface(iface);
        if f.vlan != 0 && p.push_head(vlan::TAG_LEN).is_none() {
            return Verdict::Drop(DropReason::VlanNoHeadroom);
        }
        let ethertype = p.meta.ethertype;
        l2_header(p.data_mut(), f.mac, f.vlan, dst, ethertype);
        Verdict::Tx(f.port)
    }

    /// Emits a frame on `iface` whose L3 part `l3` writes (returning its
    /// length). `false` if no frame could be had.
    pub(crate) fn emit_on(
        &self,
        cx: &mut Ctx<'_>,
        iface: IfaceId,
        dst: MacAddr,
        ethertype: u16,
        l3: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        let f = self.iface(iface);
        let (mac, vid, port) = (f.mac, f.vlan, f.port);
        cx.emit(port, &mut |buf: &mut [u8]| {
            let h = l2_header(buf, mac, vid, dst, ethertype);
            match l3(&mut buf[h..]) {
                0 => 0,
                n => h + n,
            }
        })
    }

    pub(crate) fn resolve(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let m = p.meta;
        let d = p.data();
        let (iface, target) = match self.table.nexthops.get(m.nh as usize) {
            Some(&NextHop::Via { iface, gateway }) => (iface, gateway),
            Some(&NextHop::Connected { iface }) => {
                let dst = match m.ethertype {
                    0x0800 => d
                        .get(L2 + 16..L2 + 20)
                        .map(|b| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
                    _ => d.get(L2 + 24..L2 + 40).map(|b| {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        IpAddr::V6(Ipv6Addr::from(a))
                    }),
                };
                match dst {
                    Some(t) => (iface, t),
                    None if m.ethertype == 0x0800 => {
                        return Verdict::Drop(DropReason::Ip4Malformed)
                    }
                    None => return Verdict::Drop(DropReason::Ip6Malformed),
                }
            }
            _ => return Verdict::Drop(DropReason::RouteNone),
        };
        // A small direct-mapped memo of the last answer per gateway and
        // per on-link host, valid while the cache and route table are
        // unchanged and the entry's reachable time lasts (skips hashing
        // the key per packet).
        let via = matches!(
            self.table.nexthops.get(m.nh as usize),
            Some(NextHop::Via { .. })
        );
        let memo = if via {
            self.memo_gateway(cx.now_ns, m.nh)
        } else {
            self.memo_host(cx.now_ns, iface, memo_ip(target))
        };
        if let Some((&mac, _)) = memo {
            return self.transmit(cx, p, iface, mac);
        }
        let key = Key { iface, ip: target };
        match self.neigh.lookup(key, cx.now_ns) {
            Lookup::Hit(mac) => {
                self.remember(m.nh, via, key, mac);
                self.transmit(cx, p, iface, mac)
            }
            Lookup::HitProbe(mac) => {
                self.solicit(cx, key, Some(mac));
                self.transmit(cx, p, iface, mac)
            }
            Lookup::Park { token, probe } => {
                if probe && !self.solicit(cx, key, None) {
                    self.neigh.remove(&key);
                    return Verdict::Drop(DropReason::NeighNoSource);
                }
                Verdict::Park(token)
            }
            Lookup::QueueFull => Verdict::Drop(DropReason::NeighQueueFull),
            Lookup::TableFull => Verdict::Drop(DropReason::NeighTableFull),
        }
    }

    /// The memoised MAC of gateway next hop `nh`, if still valid, and
    /// until when the answer holds.
    #[inline(always)]
    pub(crate) fn memo_gateway(&self, now: u64, nh: u32) -> Option<(&MacAddr, u64)> {
        let e = &self.nh_memo[nh as usize % NH_MEMO];
        (e.nh == nh
            && e.gen == self.neigh.gen()
            && e.version == self.table.version
            && now < e.until)
            .then_some((&e.mac, e.until))
    }

    /// The memoised MAC of on-link host `ip` (see [`HostMemo`]) on
    /// `iface`, if still valid, and until when the answer holds.
    #[inline(always)]
    pub(crate) fn memo_host(&self, now: u64, iface: IfaceId, ip: u128) -> Option<(&MacAddr, u64)> {
        let e = &self.host_memo[host_slot(ip, iface)];
        (e.ip == ip
            && e.iface == iface
            && e.gen == self.neigh.gen()
            && e.version == self.table.version
            && now < e.until)
            .then_some((&e.mac, e.until))
    }

    /// After the neighbour cache or the route table moved: checks every
    /// memo per entry (see [`NhMemo`]), marks the ones that still hold as
    /// checked now and forgets the others. Once per burst at most, and
    /// only when something moved.
    pub(crate) fn revalidate_memos(&mut self) {
        let (gen, version) = (self.neigh.gen(), self.table.version);
        if self.memo_epoch == (gen, version) {
            return;
        }
        self.memo_epoch = (gen, version);
        for e in self.nh_memo.iter_mut().filter(|e| e.until != 0) {
            let same_hop =
                e.hop.is_some() && self.table.nexthops.get(e.nh as usize).copied() == e.hop;
            if same_hop && self.neigh.stamp_at(e.slot as usize) == Some(e.stamp) {
                (e.gen, e.version) = (gen, version);
            } else {
                *e = NhMemo::default();
            }
        }
        for e in self.host_memo.iter_mut().filter(|e| e.until != 0) {
            if self.neigh.stamp_at(e.slot as usize) == Some(e.stamp) {
                (e.gen, e.version) = (gen, version);
            } else {
                *e = HostMemo::default();
            }
        }
    }

    /// Memoises a cache hit for next hop `nh` (a gateway if `via`, else the
    /// on-link host `key`), valid as long as the entry is reachable.
    fn remember(&mut self, nh: u32, via: bool, key: Key, mac: MacAddr) {
        let Some((slot, e)) = self.neigh.get_slot(&key) else {
            return;
        };
        let (slot, stamp) = (slot as u32, e.stamp);
        let until = match e.state {
            State::Reachable => e.confirmed_ns.saturating_add(REACHABLE_TIME_NS),
            State::Static | State::Probe => u64::MAX,
            _ => 0,
        };
        let (gen, version) = (self.neigh.gen(), self.table.version);
        if via {
            self.nh_memo[nh as usize % NH_MEMO] = NhMemo {
                nh,
                hop: self.table.nexthops.get(nh as usize).copied(),
                slot,
                stamp,
                gen,
                version,
                until,
                mac,
            };
        } else {
            let ip = memo_ip(key.ip);
            self.host_memo[host_slot(ip, key.iface)] = HostMemo {
                ip,
                iface: key.iface,
                slot,
                stamp,
                gen,
                version,
                until,
                mac,
            };
        }
    }

    fn transmit(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        iface: IfaceId,
        mac: MacAddr,
    ) -> Verdict {
        if p.meta.flags & Meta::NEEDS_FRAG != 0 {
            // (The translator's IPv6 packets carry a Fragment Header
            // first; a feature's outer IPv6 header never does.)
            let cut = if p.meta.ethertype == 0x86dd && p.data().get(L2 + 6) == Some(&44) {
                self.fragment6(cx, p, iface, mac)
            } else {
                self.fragment4(cx, p, iface, mac)
            };
            if let Err(r) = cut {
                return Verdict::Drop(r);
            }
        }
        self.send_on(p, iface, mac)
    }

    /// RFC 791 fragmentation of an option-less IPv4 packet to the egress
    /// MTU: the first fragment stays in `p`, the others are emitted.
    fn fragment4(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        iface: IfaceId,
        mac: MacAddr,
    ) -> Result<(), DropReason> {
        // An IPv4 packet we encapsulated (ipip-encap keeps NEEDS_FRAG for
        // the inner packet): the inner packet is fragmented and each fragment
        // gets a copy of the outer header, so the far end never has to
        // reassemble outer fragments.
        let m = p.meta;
        let inner = super::registry::inner_of(self, p);
        let pre = inner.map_or(0, |i| i.pre);
        // Inside a feature's encapsulation the inner fragments must fit
        // its interface's MTU too.
        let mtu = (self.iface(iface).mtu as usize)
            .saturating_sub(pre)
            .min(inner.map_or(usize::MAX, |i| i.mtu));
        let fix = inner.map_or(set_outer_len as FixOuter, |i| i.fix);
        if pre > 64 {
            return Ok(());
        }
        let Some(chunk) = mtu
            .checked_sub(ipv4::HEADER_LEN)
            .map(|c| c / 8 * 8)
            .filter(|&c| c >= 8)
        else {
            return Ok(());
        };
        let at = L2 + pre;
        let (hdr, payload_len, orig_off, orig_mf) = {
            let d = p.data();
            let Ok(ip) = ipv4::Packet::new_checked(&d[at..]) else {
                return Ok(());
            };
            let mut h = [0u8; ipv4::HEADER_LEN];
            h.copy_from_slice(&d[at..at + ipv4::HEADER_LEN]);
            (
                h,
                ip.total_len() as usize - ipv4::HEADER_LEN,
                ip.frag_offset(),
                ip.more_frags(),
            )
        };
        if payload_len <= chunk {
            p.meta.flags &= !Meta::NEEDS_FRAG;
            return Ok(());
        }
        // RFC 791: a datagram is at most 65,535 octets. A fragment whose
        // offset and length go past that is malformed, and its pieces'
        // offsets (`orig_off + off` below) would not fit in 16 bits.
        if usize::from(orig_off) + ipv4::HEADER_LEN + payload_len > usize::from(u16::MAX) {
            return Err(DropReason::Ip4Malformed);
        }
        let mut outer = [0u8; 64];
        outer[..pre].copy_from_slice(&p.data()[L2..at]);
        let outer_v4 = m.ethertype == 0x0800;
        let mut off = chunk;
        while off < payload_len {
            let len = chunk.min(payload_len - off);
            let last = off + len == payload_len;
            let data = &p.data()[at + ipv4::HEADER_LEN + off..at + ipv4::HEADER_LEN + off + len];
            let frag_off = orig_off + off as u16;
            self.ip_ident = self.ip_ident.wrapping_add(1);
            let ident = self.ip_ident;
            self.emit_on(cx, iface, mac, m.ethertype, &mut |b: &mut [u8]| {
                let n = ipv4::HEADER_LEN + len;
                if b.len() < pre + n {
                    return 0;
                }
                b[..pre].copy_from_slice(&outer[..pre]);
                let b = &mut b[..pre + n];
                let (o, inner) = b.split_at_mut(pre);
                inner[..ipv4::HEADER_LEN].copy_from_slice(&hdr);
                inner[ipv4::HEADER_LEN..].copy_from_slice(data);
                // Total Length first: new_checked rejects a header whose
                // (original, whole-datagram) length exceeds the fragment.
                inner[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                let Ok(mut ip) = ipv4::Packet::new_checked(&mut *inner) else {
                    return 0;
                };
                ip.set_flags_frag(false, !last || orig_mf, frag_off);
                ip.fill_checksum();
                if !fix(o, outer_v4, inner, Some(ident)) {
                    return 0;
                }
                pre + n
            });
            off += len;
        }
        // Shorten Total Length while the frame is still whole: once it is
        // cut, new_checked would reject the header.
        if let Ok(mut ip) = ipv4::Packet::new_checked(&mut p.data_mut()[at..]) {
            ip.set_total_len((ipv4::HEADER_LEN + chunk) as u16);
            ip.set_flags_frag(false, true, orig_off);
            ip.fill_checksum();
        }
        p.set_len(at + ipv4::HEADER_LEN + chunk);
        let (o, rest) = p.data_mut()[L2..].split_at_mut(pre);
        fix(o, outer_v4, rest, None);
        p.meta.flags &= !Meta::NEEDS_FRAG;
        Ok(())
    }

    /// IPv6 fragmentation of a packet the translator made from a DF-clear
    /// IPv4 packet (RFC 7915 §4.1; routers never fragment IPv6 otherwise):
    /// it carries a Fragment Header right after the IPv6 header (the
    /// translator wrote it, with the IPv4 identification), and is cut into
    /// fragments of at most the egress MTU and `lowest_ipv6_mtu`; the
    /// first stays in `p`, the others are emitted.
    fn fragment6(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        iface: IfaceId,
        mac: MacAddr,
    ) -> Result<(), DropReason> {
        const FH: usize = 8;
        let size = usize::from(self.iface(iface).mtu).min(usize::from(self.nat64.lowest_mtu));
        let d = p.data();
        if d.len() < L2 + 40 + FH || d[L2 + 6] != 44 {
            return Ok(());
        }
        let Some(chunk) = size
            .checked_sub(40 + FH)
            .map(|c| c / 8 * 8)
            .filter(|&c| c >= 8)
        else {
            return Ok(());
        };
        let plen = usize::from(u16::from_be_bytes([d[L2 + 4], d[L2 + 5]]));
        let Some(data_len) = plen.checked_sub(FH).filter(|_| L2 + 40 + plen <= d.len()) else {
            return Ok(());
        };
        let mut hdr = [0u8; 40 + FH];
        hdr.copy_from_slice(&d[L2..L2 + 40 + FH]);
        p.meta.flags &= !Meta::NEEDS_FRAG;
        if data_len <= chunk {
            return Ok(());
        }
        let fo = u16::from_be_bytes([hdr[42], hdr[43]]);
        let (orig_off, orig_more) = (fo & 0xfff8, fo & 1 != 0);
        // RFC 8200 §4.5: a fragment whose offset and length would make the
        // reassembled payload longer than 65,535 octets is malformed, and
        // its pieces' offsets (`orig_off + off` below) would not fit.
        if usize::from(orig_off) + data_len > usize::from(u16::MAX) {
            return Err(DropReason::Ip6Malformed);
        }
        let at = L2 + 40 + FH;
        let mut off = chunk;
        while off < data_len {
            let len = chunk.min(data_len - off);
            let last = off + len == data_len;
            let data = &p.data()[at + off..at + off + len];
            let field = (orig_off + off as u16) | u16::from(!last || orig_more);
            self.emit_on(cx, iface, mac, 0x86dd, &mut |b: &mut [u8]| {
                let n = 40 + FH + len;
                if b.len() < n {
                    return 0;
                }
                b[..40 + FH].copy_from_slice(&hdr);
                b[4..6].copy_from_slice(&((FH + len) as u16).to_be_bytes());
                b[42..44].copy_from_slice(&field.to_be_bytes());
                b[40 + FH..n].copy_from_slice(data);
                n
            });
            off += len;
        }
        let d = p.data_mut();
        d[L2 + 4..L2 + 6].copy_from_slice(&((FH + chunk) as u16).to_be_bytes());
        d[L2 + 42..L2 + 44].copy_from_slice(&(orig_off | 1).to_be_bytes());
        p.set_len(at + chunk);
        Ok(())
    }

    /// Sends a packet xgw makes on its own, outside any burst (a timer, a
    /// control-plane change), to `dst`: routes it, finds the next hop's
    /// MAC in the neighbour cache and emits the frame whose IP packet `l3`
    /// writes (returning its length). Nothing is parked: with no usable
    /// binding the next hop is solicited (its answer creates the entry,
    /// see `NeighborBus::asked_recently`) and the caller tries again later.
    pub(crate) fn originate(
        &mut self,
        cx: &mut Ctx<'_>,
        dst: IpAddr,
        l3: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> Originated {
        let nh = match dst {
            IpAddr::V4(a) => self.table.fib4.lookup(a),
            IpAddr::V6(a) => self.table.fib6.lookup(a),
        };
        let (iface, target) = match nh.and_then(|n| self.table.nexthops.get(n as usize)) {
            Some(&NextHop::Via { iface, gateway }) => (iface, gateway),
            Some(&NextHop::Connected { iface }) => (iface, dst),
            _ => return Originated::NoRoute,
        };
        // (Only out of an Ethernet interface: not into a tunnel.)
        if iface as usize >= self.ifaces.len() {
            return Originated::NoRoute;
        }
        let key = Key { iface, ip: target };
        let mac = self
            .neigh
            .get(&key)
            .filter(|e| e.state != State::Incomplete)
            .map(|e| e.mac);
        let Some(mac) = mac else {
            if self.neigh.get(&key).is_none() && !self.bus.asked_recently(&key, cx.now_ns) {
                self.solicit(cx, key, None);
            }
            return Originated::Resolving;
        };
        let ethertype = if dst.is_ipv4() { 0x0800 } else { 0x86dd };
        if self.emit_on(cx, iface, mac, ethertype, l3) {
            Originated::Sent
        } else {
            Originated::NoFrame
        }
    }

    /// Sends an ARP request / Neighbor Solicitation for `key`: broadcast /
    /// solicited-node multicast, or unicast to `known` (a reachability
    /// probe). `false` if the interface has no address to send it from.
    pub(crate) fn solicit(&self, cx: &mut Ctx<'_>, key: Key, known: Option<MacAddr>) -> bool {
        let mac = self.iface(key.iface).mac;
        // The answer may reach another worker: it may create the entry
        // there (see `NeighborBus::asked_recently`).
        self.bus.note_asked(&key, cx.now_ns);
        match key.ip {
            IpAddr::V4(t) => {
                let Some(src) = self.src4(key.iface, t) else {
                    return false;
                };
                let req = arp::Repr::request(mac, src, t);
                self.emit_on(
                    cx,
                    key.iface,
                    known.unwrap_or(MacAddr::BROADCAST),
                    0x0806,
                    &mut |b: &mut [u8]| req.emit(b).map(|_| arp::PACKET_LEN).unwrap_or(0),
                );
                true
            }
            IpAddr::V6(t) => {
                let src = self.src6(key.iface, t);
                let (dst_ip, dst_mac) = match known {
                    Some(m) => (t, m),
                    None => {
                        let g = ipv6::solicited_node(&t);
                        (g, ipv6::multicast_mac(&g))
                    }
                };
                self.emit_on(cx, key.iface, dst_mac, 0x86dd, &mut |b: &mut [u8]| {
                    ndp_message(b, src, dst_ip, |msg| {
                        let n = NeighborSolicitRepr { target: t }.emit(msg).ok()?;
                        Some(n + emit_slla(&mut msg[n..], mac).ok()?)
                    })
                });
                true
            }
        }
    }

    /// Records a binding learned on this worker, releases what waited for
    /// it and tells the other workers.
    pub(crate) fn learned(
        &mut self,
        cx: &mut Ctx<'_>,
        key: Key,
        mac: MacAddr,
        confirmed: bool,
        overrides: bool,
        create: bool,
    ) {
        // The callers drop such packets with their reason; this keeps any
        // path from caching an address no neighbour may have.
        if self.bad_lladdr(mac) {
            return;
        }
        if let Some(token) = self
            .neigh
            .learn(key, mac, confirmed, overrides, create, cx.now_ns)
        {
            cx.release(token, IP_REWRITE);
        }
        self.bus.publish(
            self.worker,
            Learned {
                key,
                mac,
                confirmed,
                overrides,
                create,
            },
        );
    }

    /// Timers: bindings learned by other workers, retransmissions, probes,
    /// failures.
    pub(crate) fn neigh_tick(&mut self, cx: &mut Ctx<'_>) {
        while let Some(l) = self.bus.take(self.worker) {
            if let Some(token) =
                self.neigh
                    .learn(l.key, l.mac, l.confirmed, l.overrides, l.create, cx.now_ns)
            {
                cx.release(token, IP_REWRITE);
            }
        }
        let mut due: ArrayVec<Timer, 64> = ArrayVec::new();
        self.neigh.tick(cx.now_ns, 64, |t| {
            let _ = due.try_push(t);
        });
        for t in due {
            match t {
                Timer::Retransmit(k) => {
                    self.solicit(cx, k, None);
                }
                Timer::Probe(k, mac) => {
                    self.solicit(cx, k, Some(mac));
                }
                Timer::Failed(_, token) => {
                    let _ = cx.discard(token, DropReason::NeighFailed);
                }
            }
        }
    }

    /// Gratuitous ARP and unsolicited Neighbor Advertisements for every
    /// address, so neighbours update stale entries at start (RFC 5227 §3,
    /// RFC 4861 §7.2.6).
    pub(crate) fn announce(&self, cx: &mut Ctx<'_>) {
        let all_nodes: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        for (i, f) in self.ifaces.iter().enumerate() {
            let id = i as IfaceId;
            for &(a, _) in &f.ipv4 {
                let garp = arp::Repr::request(f.mac, a, a);
                self.emit_on(cx, id, MacAddr::BROADCAST, 0x0806, &mut |b: &mut [u8]| {
                    garp.emit(b).map(|_| arp::PACKET_LEN).unwrap_or(0)
                });
            }
            // The link-local is announced only where IPv6 is in use (an
            // address or Router Advertisements): an IPv4-only interface
            // stays silent in IPv6 until someone solicits it.
            let v6 = !f.ipv6.is_empty() || f.ra.is_some();
            let link_local = v6.then_some(&f.link_local);
            for &a in f.ipv6.iter().map(|(a, _)| a).chain(link_local) {
                let na = NeighborAdvertRepr {
                    router: true,
                    solicited: false,
                    override_: true,
                    target: a,
                };
                let mac = f.mac;
                self.emit_on(
                    cx,
                    id,
                    ipv6::multicast_mac(&all_nodes),
                    0x86dd,
                    &mut |b: &mut [u8]| {
                        ndp_message(b, a, all_nodes, |msg| {
                            let n = na.emit(msg).ok()?;
                            Some(n + emit_tlla(&mut msg[n..], mac).ok()?)
                        })
                    },
                );
            }
        }
    }
}

/// Writes an IPv6 header (hop limit 255, as NDP requires) and an ICMPv6
/// message built by `body` into `b`, with its checksum; returns the length.
pub(crate) fn ndp_message(
    b: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    body: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> usize {
    let Some(msg) = b.get_mut(ipv6::HEADER_LEN..) else {
        return 0;
    };
    let Some(n) = body(msg) else { return 0 };
    let Ok(mut icmp) = icmpv6::Packet::new_checked(&mut msg[..n]) else {
        return 0;
    };
    icmp.fill_checksum(src, dst);
    let repr = ipv6::Repr {
        src,
        dst,
        next_header: icmpv6::NEXT_HEADER,
        hop_limit: 255,
        payload_len: n as u16,
        traffic_class: 0,
        flow_label: 0,
    };
    if repr.emit(&mut b[..ipv6::HEADER_LEN]).is_err() {
        return 0;
    }
    ipv6::HEADER_LEN + n
}
