//! IP-in-IP tunnels (RFC 2003 4in4, RFC 4213 6in4, RFC 2473 4in6 / 6in6):
//! a feature of the router, plugged in through [`FEATURE`] (see
//! [`crate::router::registry`]) with three nodes of its own —
//! `ipip-decap`, `ipip-icmp-relay`, `ipip-encap` — RFC 6040 ECN handling
//! and per-tunnel counters. Nothing in the router's generic nodes knows
//! about tunnels.
//!
//! A tunnel is an interface (`TUN_BASE + slot`) of the route table: routes
//! point into it like into any interface, its addresses are ours, its MTU
//! and reverse-path filter apply, and its output node is `ipip-encap`
//! (the adjacency). ip4-lookup / ip6-lookup do the usual TTL, MTU and
//! ICMP-error work on the inner packet and send it there; ipip-encap
//! prepends the outer header in the headroom and routes the outer packet
//! (as ORIGINATED) to ip-rewrite. ip4-local / ip6-local hand protocols 4
//! and 41 to ipip-decap, which decapsulates only if a tunnel has exactly
//! the outer source, destination and protocol; the inner packet is input
//! again (ip4-input / ip6-input) as received on the tunnel interface, so
//! it is routed, answered or filtered like any other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::nodes::Node;
use crate::router::fast::ip4_checksum;
use crate::router::registry::{self, Family, Feature, Local, LocalMatch};
use crate::router::resolve::memo_ip;
use crate::router::spec::{EcnMode, IfaceId, MAX_TUNNELS, TUN_BASE};
use crate::router::{Core, NextHop, L2, ROUTE_ARCS, TO_REWRITE};

pub(crate) mod fast;
use crate::wire::{checksum, ipv4, ipv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

/// What IP-in-IP plugs into the router: protocols 4 and 41 to us are
/// decapsulated (if a tunnel matches), ICMP errors about them relayed to
/// the inner sender, and tunnels are interfaces whose output is
/// `ipip-encap`.
pub const FEATURE: Feature = Feature {
    name: "ipip",
    claim4: None,
    local: &[
        Local {
            family: Family::Both,
            what: LocalMatch::Proto(4),
            node: "ipip-decap",
        },
        Local {
            family: Family::Both,
            what: LocalMatch::Proto(41),
            node: "ipip-decap",
        },
        Local {
            family: Family::Both,
            what: LocalMatch::ErrorAbout(4),
            node: "ipip-icmp-relay",
        },
        Local {
            family: Family::Both,
            what: LocalMatch::ErrorAbout(41),
            node: "ipip-icmp-relay",
        },
    ],
    output: Some("ipip-encap"),
    fused: Some(crate::router::registry::Fused::Ipip),
    inner: Some(inner_of),
    rebuild: Some(fast::rebuild),
    prefetch: None,
    iface_drop: Some(count_iface_drop),
};

/// Drops of packets that came out of a tunnel count against it too (the
/// registry calls this for frames whose ingress is a tunnel interface).
fn count_iface_drop(core: &mut Core, m: &Meta, r: DropReason) {
    core.tunnel_drop(m, r);
}

/// ipip-decap: an IP-in-IP packet to one of our addresses, from ip4-local
/// or ip6-local. Decapsulated if a tunnel has exactly its outer source,
/// destination and protocol; the inner packet is input again as received
/// on the tunnel interface.
pub struct Decap;
const TO_IP4_INPUT: u8 = 0;
const TO_IP6_INPUT: u8 = 1;

impl Node<Core> for Decap {
    fn name(&self) -> &'static str {
        "ipip-decap"
    }
    fn next(&self) -> &[&'static str] {
        &["ip4-input", "ip6-input", "drop"]
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[
            TunnelNested,
            TunnelOuterFragment,
            TunnelNoMatch,
            TunnelInnerMalformed,
            TunnelEcnDrop,
            Ip4Malformed,
            Ip6Malformed,
        ]
    }
    fn process(
        &mut self,
        core: &mut Core,
        _cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        v: &mut [Verdict],
    ) {
        for &i in sel {
            let p = &mut pkts[i as usize];
            let m = p.meta;
            v[i as usize] = core.decap(p, &m);
        }
    }
}

/// ipip-icmp-relay: a Fragmentation Needed or Packet Too Big to us about
/// an outer packet of one of our tunnels, relayed to the inner sender
/// (RFC 2003 §4, RFC 2473 §8.3); consumed if it is about none.
pub struct IcmpRelay;

impl Node<Core> for IcmpRelay {
    fn name(&self) -> &'static str {
        "ipip-icmp-relay"
    }
    fn next(&self) -> &[&'static str] {
        &[ROUTE_ARCS[0], ROUTE_ARCS[1], "local", "drop"]
    }
    /// The relayed error's own (rate limit, no source, no headroom).
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[
            IcmpSuppressed,
            IcmpNoSource,
            IcmpNoHeadroom,
            IcmpHeaderWriteFailed,
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
            let p = &mut pkts[i as usize];
            let l4 = p.meta.l4 as usize;
            let d = p.data();
            // ICMPv4 Fragmentation Needed: the next-hop MTU in bytes 6..8;
            // ICMPv6 Packet Too Big: the MTU in bytes 4..8.
            let mtu = if p.meta.ethertype == 0x86dd {
                d.get(l4 + 4..l4 + 8)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            } else {
                d.get(l4 + 6..l4 + 8)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as u32)
            };
            v[i as usize] = core.tunnel_relay(cx, p, l4, mtu).unwrap_or(Verdict::Local);
        }
    }
}

/// What ipip-encap (`Core::encap_into` and the outer route) files drops
/// under; the fused path's output hook files the same.
pub(crate) const ENCAP_DROPS: &[DropReason] = {
    use DropReason::*;
    &[
        TunnelGone,
        TunnelNoHeadroom,
        TunnelHeaderWriteFailed,
        TunnelNested,
        RouteNone,
        RouteBlackhole,
        Ip4Malformed,
        Ip6Malformed,
    ]
};

/// What `Core::strip_tunnel` files drops under (ipip-decap files these
/// and more; the fused path's local hook only these).
pub(crate) const STRIP_DROPS: &[DropReason] =
    &[DropReason::TunnelInnerMalformed, DropReason::TunnelEcnDrop];

/// ipip-encap: the output of tunnel interfaces (the adjacency a route
/// into a tunnel resolves to). Prepends the outer header and routes the
/// outer packet.
pub struct Encap;

impl Node<Core> for Encap {
    fn name(&self) -> &'static str {
        "ipip-encap"
    }
    fn next(&self) -> &[&'static str] {
        &[ROUTE_ARCS[0], ROUTE_ARCS[1], ROUTE_ARCS[2], "tx", "drop"]
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
            v[i as usize] = core.encap(cx, &mut pkts[i as usize]);
        }
    }
}

/// Counter slots per tunnel: encapsulated packets and bytes (inner),
/// decapsulated packets and bytes (inner), ICMP errors relayed to inner
/// senders, then one per drop reason.
pub const TC_ENC_PKTS: usize = 0;
pub const TC_ENC_BYTES: usize = 1;
pub const TC_DEC_PKTS: usize = 2;
pub const TC_DEC_BYTES: usize = 3;
pub const TC_RELAYED: usize = 4;
pub const TC_DROPS: usize = 5;
pub const TC_N: usize = TC_DROPS + DropReason::COUNT;

/// One tunnel's counters in one worker.
#[derive(Clone, Copy, Debug)]
pub struct TunnelCount {
    /// The [`super::table::Tunnel::serial`] they belong to.
    pub serial: u64,
    pub c: [u64; TC_N],
}

impl Default for TunnelCount {
    fn default() -> Self {
        TunnelCount {
            serial: 0,
            c: [0; TC_N],
        }
    }
}

/// ECN codepoints (RFC 3168).
pub const NOT_ECT: u8 = 0;
pub const ECT1: u8 = 1;
pub const ECT0: u8 = 2;
pub const CE: u8 = 3;

/// RFC 6040 §4.2: the inner ECN field after decapsulation, or `None` to
/// drop (outer CE over a Not-ECT inner packet).
pub fn ecn_decap(inner: u8, outer: u8) -> Option<u8> {
    match (inner & 3, outer & 3) {
        (NOT_ECT, CE) => None,
        (_, CE) => Some(CE),
        (ECT0, ECT1) => Some(ECT1),
        (i, _) => Some(i),
    }
}

/// RFC 6040 §4.1: the outer ECN field at encapsulation.
pub fn ecn_encap(inner: u8, mode: EcnMode) -> u8 {
    match mode {
        EcnMode::Normal => inner & 3,
        EcnMode::Compatibility => NOT_ECT,
    }
}

impl Core {
    pub(crate) fn tunnel_count(&mut self, id: u16, k: usize, n: u64) {
        let Some(serial) = self.table.tunnel(id).map(|t| t.serial) else {
            return;
        };
        if let Some(c) = self.tunnel_row((id - TUN_BASE) as usize, serial) {
            c[k] += n;
        }
    }

    /// Counts a decapsulation drop against the tunnel (out of line: off
    /// the decapsulation path).
    #[cold]
    #[inline(never)]
    fn decap_failed(&mut self, slot: usize, serial: u64, r: DropReason) -> DropReason {
        self.count_row(slot, serial, TC_DROPS + r.index(), 1);
        r
    }

    /// Adds `n` to counter `k` of the tunnel with `serial` in `slot`.
    #[inline]
    pub(crate) fn count_row(&mut self, slot: usize, serial: u64, k: usize, n: u64) {
        if let Some(c) = self.tunnel_row(slot, serial) {
            c[k] += n;
        }
    }

    /// The counters of the tunnel with `serial` in `slot` (restarted when
    /// a new tunnel took the slot).
    #[inline]
    pub(crate) fn tunnel_row(&mut self, slot: usize, serial: u64) -> Option<&mut [u64; TC_N]> {
        let row = self.tcount.get_mut(slot)?;
        if row.serial != serial {
            *row = TunnelCount {
                serial,
                c: [0; TC_N],
            };
        }
        Some(&mut row.c)
    }

    /// Counts a drop against the tunnel a packet came out of.
    #[inline]
    pub(crate) fn tunnel_drop(&mut self, m: &Meta, r: DropReason) {
        if m.iface >= TUN_BASE {
            self.tunnel_count(m.iface, TC_DROPS + r.index(), 1);
        }
    }

    /// ipip-encap: the packet at `L2..` leaves through the tunnel its next
    /// hop names.
    pub(crate) fn encap(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        match self.table.nexthops.get(p.meta.nh as usize) {
            Some(&(NextHop::Via { iface, .. } | NextHop::Connected { iface }))
                if iface >= TUN_BASE =>
            {
                self.encap_counted(cx, p, iface)
            }
            _ => Verdict::Drop(DropReason::TunnelGone),
        }
    }

    /// Encapsulates the packet at `L2..` for tunnel `id` with its prepared
    /// outer header, then sends the outer packet along the tunnel's last
    /// outer route if that still holds (`Tx`), else routes it
    /// (`Next(TO_REWRITE)` or a drop). The one copy of encapsulation: the
    /// node and the fused path's hook both call it.
    pub(crate) fn encap_into(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        id: IfaceId,
    ) -> Verdict {
        let slot = (id - TUN_BASE) as usize;
        let Some(t) = self.ipip.out.get(slot).filter(|t| t.live) else {
            return Verdict::Drop(DropReason::TunnelGone);
        };
        if t.mixed {
            return Verdict::Drop(DropReason::TunnelHeaderWriteFailed);
        }
        let (outer_v6, inner_v6, proto, serial) = (t.outer_v6, t.inner_v6, t.proto, t.serial);
        let (modes, hdr) = (t.modes, t.hdr);
        let oh = if outer_v6 { 40 } else { 20 };
        let inner_len = p.len().saturating_sub(L2);
        // The inner packet's TOS / traffic class, TTL / hop limit and DF;
        // it must be of the tunnel's inner family (a lookup passed it).
        let d = p.data();
        let (tos, ttl, df) = match d.get(L2..L2 + 20) {
            Some(i) if inner_v6 && i[0] >> 4 == 6 && inner_len >= 40 => {
                (((i[0] & 0x0f) << 4) | (i[1] >> 4), i[7], true)
            }
            Some(i) if !inner_v6 && i[0] >> 4 == 4 => (i[1], i[8], i[6] & 0x40 != 0),
            _ if inner_v6 => return Verdict::Drop(DropReason::Ip6Malformed),
            _ => return Verdict::Drop(DropReason::Ip4Malformed),
        };
        let (outer_tos, outer_ttl, outer_df) = modes.outer(tos, ttl, df);
        if p.push_head(oh).is_none() {
            return Verdict::Drop(DropReason::TunnelNoHeadroom);
        }
        let ethertype: u16 = if outer_v6 { 0x86dd } else { 0x0800 };
        // The L2 addresses are written below or by ip-rewrite; only the
        // EtherType matters inside the router.
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
            // An inner IPv4 packet too big for the tunnel with DF clear is
            // fragmented at ip-rewrite, inside the outer header.
            flags: Meta::ORIGINATED | (m.flags & Meta::NEEDS_FRAG),
            ..m
        };
        if let Some(c) = self.tunnel_row(slot, serial) {
            c[TC_ENC_PKTS] += 1;
            c[TC_ENC_BYTES] += inner_len as u64;
        }
        // The outer packet's route over the underlay: the tunnel's last
        // one while it holds (not for a packet to fragment), else routed.
        let total = p.len() - L2;
        if p.meta.flags & Meta::NEEDS_FRAG == 0 {
            if let Some(r) = self.outer_memo(cx.now_ns, slot, total) {
                return send_outer(p, r);
            }
            if let Some(r) = self.outer_fresh(cx.now_ns, slot, total) {
                return send_outer(p, &r);
            }
        }
        self.route_outer(cx, p, outer_v6)
    }

    /// Routes a packet ipip-encap has just wrapped over the underlay, with
    /// the lookup code (`forward4` / `forward6`, as ip4-lookup / ip6-lookup
    /// run it; the outer packet being ORIGINATED): `Next(TO_REWRITE)` (on
    /// to ip-rewrite) or a final verdict. An outer route to any other
    /// output (a tunnel again) is `tunnel.nested`.
    pub(crate) fn route_outer(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        v6: bool,
    ) -> Verdict {
        let v = if v6 {
            self.forward6(cx, p)
        } else {
            self.forward4(cx, p)
        };
        match v {
            Verdict::Next(TO_REWRITE) => v,
            // The route to the remote end points into a tunnel (or another
            // feature's interface) again.
            Verdict::Next(o) if o > TO_REWRITE => Verdict::Drop(DropReason::TunnelNested),
            Verdict::Next(_) => Verdict::Drop(DropReason::RouteNone),
            other => other,
        }
    }

    /// ipip-decap: an IP-in-IP packet addressed to us (`m` as ip4-input /
    /// ip6-input left it: `m.l4` is the inner header).
    pub(crate) fn decap(&mut self, p: &mut Packet<'_>, m: &Meta) -> Verdict {
        if m.flags & Meta::DECAPPED != 0 {
            return Verdict::Drop(DropReason::TunnelNested);
        }
        if m.flags & Meta::FRAGMENT != 0 {
            return Verdict::Drop(DropReason::TunnelOuterFragment);
        }
        let d = p.data();
        let (src, dst, outer_ecn): (IpAddr, IpAddr, u8) = if m.ethertype == 0x0800 {
            let Ok(ip) = ipv4::Packet::new_checked(&d[L2..]) else {
                return Verdict::Drop(DropReason::Ip4Malformed);
            };
            (ip.src_addr().into(), ip.dst_addr().into(), ip.ecn())
        } else {
            let Ok(ip) = ipv6::Packet::new_checked(&d[L2..]) else {
                return Verdict::Drop(DropReason::Ip6Malformed);
            };
            (ip.src_addr().into(), ip.dst_addr().into(), ip.ecn())
        };
        let Some(t) = self.tunnel_match(m.proto, memo_ip(dst), memo_ip(src)) else {
            return Verdict::Drop(DropReason::TunnelNoMatch);
        };
        match self.strip_tunnel(p, m.l4 as usize, t, outer_ecn) {
            Ok(()) => Self::decapped(p, t.id, t.inner_v6),
            Err(r) => Verdict::Drop(r),
        }
    }

    /// Decapsulates the packet whose inner header is at `off`, which
    /// tunnel `t` matched: checks the inner header, applies RFC 6040 to its
    /// ECN field, strips the outer header (the Ethernet header moves up)
    /// and counts; the metadata is left to the caller (the inner packet
    /// goes to input again as received on the tunnel). The one copy of
    /// decapsulation: the node and the fused path's hook call it.
    #[inline(always)]
    pub(crate) fn strip_tunnel(
        &mut self,
        p: &mut Packet<'_>,
        off: usize,
        t: fast::TunHit,
        outer_ecn: u8,
    ) -> Result<(), DropReason> {
        let (id, inner_v6) = (t.id, t.inner_v6);
        let slot = (id - TUN_BASE) as usize;
        let d = p.data_mut();
        // (new_checked checks the version too.)
        let inner_ok = d.get(off..).is_some_and(|i| {
            if inner_v6 {
                ipv6::Packet::new_checked(i).is_ok()
            } else {
                ipv4::Packet::new_checked(i).is_ok()
            }
        });
        if !inner_ok {
            return Err(self.decap_failed(slot, t.serial, DropReason::TunnelInnerMalformed));
        }
        // RFC 6040 §4.2 on the inner ECN field.
        if inner_v6 {
            let tc = ((d[off] & 0x0f) << 4) | (d[off + 1] >> 4);
            let Some(e) = ecn_decap(tc & 3, outer_ecn) else {
                return Err(self.decap_failed(slot, t.serial, DropReason::TunnelEcnDrop));
            };
            let tc = (tc & !3) | e;
            d[off] = (d[off] & 0xf0) | (tc >> 4);
            d[off + 1] = (d[off + 1] & 0x0f) | (tc << 4);
        } else {
            let tos = d[off + 1];
            let Some(e) = ecn_decap(tos & 3, outer_ecn) else {
                return Err(self.decap_failed(slot, t.serial, DropReason::TunnelEcnDrop));
            };
            let new = (tos & !3) | e;
            if new != tos {
                let old_w = u16::from_be_bytes([d[off], tos]);
                let new_w = u16::from_be_bytes([d[off], new]);
                d[off + 1] = new;
                let c = u16::from_be_bytes([d[off + 10], d[off + 11]]);
                let c = checksum::update16(c, old_w, new_w);
                d[off + 10..off + 12].copy_from_slice(&c.to_be_bytes());
            }
        }
        // Strip the outer header: the Ethernet header moves up to the
        // inner packet.
        let oh = off - L2;
        // (Kept aside and written back after the pull: `copy_within` is a
        // memmove call.)
        let Some(&eth) = d.first_chunk::<12>() else {
            return Err(DropReason::TunnelInnerMalformed);
        };
        if !p.pull_head(oh) {
            return Err(DropReason::TunnelInnerMalformed);
        }
        let et: u16 = if inner_v6 { 0x86dd } else { 0x0800 };
        let Some(h) = p.data_mut().first_chunk_mut::<14>() else {
            return Err(DropReason::TunnelInnerMalformed);
        };
        h[..12].copy_from_slice(&eth);
        h[12..].copy_from_slice(&et.to_be_bytes());
        let inner_len = p.len() - L2;
        if let Some(c) = self.tunnel_row(slot, t.serial) {
            c[TC_DEC_PKTS] += 1;
            c[TC_DEC_BYTES] += inner_len as u64;
        }
        Ok(())
    }

    /// The metadata of a packet just decapsulated from tunnel `id`: as
    /// received on the tunnel interface, never decapsulated again; and the
    /// arc of its input node.
    pub(crate) fn decapped(p: &mut Packet<'_>, id: u16, inner_v6: bool) -> Verdict {
        p.meta = crate::router::reinput_meta(id, inner_v6);
        Verdict::Next(if inner_v6 { TO_IP6_INPUT } else { TO_IP4_INPUT })
    }

    /// RFC 2003 §4 / RFC 2473 §8.3: an ICMP Fragmentation Needed or
    /// Packet Too Big from inside the tunnel about an outer packet we sent
    /// is relayed to the inner packet's sender, with the MTU lowered by the
    /// outer header. `icmp` is the offset of the ICMP header in `p`,
    /// `reported` the MTU the message carries. `None` when the message is
    /// not about one of our tunnels (or quotes too little to relay).
    pub(crate) fn tunnel_relay(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        icmp: usize,
        reported: u32,
    ) -> Option<Verdict> {
        let d = p.data();
        let q = icmp + 8;
        let first = *d.get(q)?;
        let (src, dst, proto, ohl): (IpAddr, IpAddr, u8, usize) = match first >> 4 {
            4 => {
                let h = d.get(q..q + 20)?;
                let hl = (first & 0x0f) as usize * 4;
                if hl < 20 {
                    return None;
                }
                let a = |o: usize| IpAddr::from([h[o], h[o + 1], h[o + 2], h[o + 3]]);
                (a(12), a(16), h[9], hl)
            }
            6 => {
                let h = d.get(q..q + 40)?;
                let a = |o: usize| {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&h[o..o + 16]);
                    IpAddr::from(b)
                };
                (a(8), a(24), h[6], 40)
            }
            _ => return None,
        };
        let (id, kind, tmtu) = self.table.tunnels.iter().enumerate().find_map(|(i, t)| {
            let t = t.as_ref()?;
            (t.spec.local == src && t.spec.remote == dst && t.spec.kind.proto() == proto)
                .then_some((TUN_BASE + i as u16, t.spec.kind, t.spec.mtu as u32))
        })?;
        let inner = q + ohl;
        let (isrc, about_error): (IpAddr, bool) = if kind.inner_v6() {
            let h = d.get(inner..inner + 40).filter(|h| h[0] >> 4 == 6)?;
            let s = <[u8; 16]>::try_from(&h[8..24]).ok()?;
            let err = h[6] == crate::wire::icmpv6::NEXT_HEADER
                && d.get(inner + 40)
                    .is_some_and(|&t| crate::wire::icmpv6::is_error(t));
            (IpAddr::from(s), err)
        } else {
            let h = d.get(inner..inner + 20).filter(|h| h[0] >> 4 == 4)?;
            let s = <[u8; 4]>::try_from(&h[12..16]).ok()?;
            let hl = (h[0] & 0x0f) as usize * 4;
            let err = h[9] == ipv4::proto::ICMP
                && d.get(inner + hl)
                    .is_some_and(|&t| crate::wire::icmpv4::is_error(t));
            (IpAddr::from(s), err)
        };
        let floor = if kind.inner_v6() { 1280 } else { 68 };
        let mtu = reported
            .saturating_sub(kind.overhead() as u32)
            .clamp(floor, tmtu.max(floor));
        // RFC 1812 §4.3.2.4: an ICMP message's source is an address of the
        // interface it leaves by, the one towards the inner sender (the
        // interface the offending packet came in on), not the underlay
        // interface the underlay's message arrived on.
        let nh = match isrc {
            IpAddr::V4(a) => self.table.fib4.lookup(a),
            IpAddr::V6(a) => self.table.fib6.lookup(a),
        };
        let back = match nh.and_then(|n| self.table.nexthops.get(n as usize)) {
            Some(&(NextHop::Via { iface, .. } | NextHop::Connected { iface })) => iface,
            _ => p.meta.iface,
        };
        // The quoted inner packet becomes the packet the error is about.
        let cut = inner - L2;
        p.data_mut().copy_within(0..12, cut);
        p.pull_head(cut);
        let et: u16 = if kind.inner_v6() { 0x86dd } else { 0x0800 };
        p.data_mut()[12..14].copy_from_slice(&et.to_be_bytes());
        p.meta = Meta {
            l3: L2 as u16,
            ethertype: et,
            iface: back,
            ..Meta::default()
        };
        self.tunnel_count(id, TC_RELAYED, 1);
        Some(match isrc {
            IpAddr::V4(s) => self.icmp4_error_about(
                cx,
                p,
                s,
                about_error,
                crate::wire::icmpv4::DEST_UNREACH,
                crate::wire::icmpv4::dest_unreach::FRAG_NEEDED,
                mtu,
            ),
            IpAddr::V6(s) => self.icmp6_error_about(
                cx,
                p,
                s,
                about_error,
                crate::wire::icmpv6::PACKET_TOO_BIG,
                0,
                mtu,
            ),
        })
    }

    /// This worker's per-tunnel counters (indexed by slot).
    pub fn tunnel_counts(&self) -> &[TunnelCount] {
        &self.tcount
    }
}

/// Counter rows for [`MAX_TUNNELS`] tunnels.
pub fn new_counts() -> Vec<TunnelCount> {
    vec![TunnelCount::default(); MAX_TUNNELS]
}

/// The outer header of an IPv4-in-IP packet ipip-encap marked
/// NEEDS_FRAG and the MTU of its tunnel: ip-rewrite fragments the inner
/// packet inside copies of it (asked through
/// [`crate::router::registry::inner_of`]).
pub(crate) fn inner_of(core: &Core, p: &Packet<'_>) -> Option<registry::Inner> {
    let m = p.meta;
    if m.flags & Meta::ORIGINATED == 0 || m.proto != 4 || (m.l4 as usize) <= L2 {
        return None;
    }
    let pre = m.l4 as usize - L2;
    let o = p.data().get(L2..L2 + pre)?;
    let (src, dst): (IpAddr, IpAddr) = match pre {
        20 => (
            Ipv4Addr::new(o[12], o[13], o[14], o[15]).into(),
            Ipv4Addr::new(o[16], o[17], o[18], o[19]).into(),
        ),
        40 => {
            let a = |i: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&o[i..i + 16]);
                IpAddr::from(Ipv6Addr::from(b))
            };
            (a(8), a(24))
        }
        _ => return None,
    };
    // (A tunnel removed since: the egress MTU alone.)
    let mtu = core
        .table
        .tunnels
        .iter()
        .flatten()
        .find_map(|t| {
            (t.spec.local == src && t.spec.remote == dst && t.spec.kind.proto() == 4)
                .then_some(t.spec.mtu as usize)
        })
        .unwrap_or(usize::MAX);
    Some(registry::Inner {
        pre,
        mtu,
        fix: crate::router::resolve::set_outer_len,
    })
}

/// Sends an outer packet by a tunnel's outer route: the Ethernet addresses
/// written, out of its port.
#[inline(always)]
fn send_outer(p: &mut Packet<'_>, r: &fast::OuterRoute) -> Verdict {
    if let Some(h) = p.data_mut().first_chunk_mut::<12>() {
        h[..6].copy_from_slice(&r.dst.0);
        h[6..].copy_from_slice(&r.src.0);
    }
    p.meta.nh = r.nh;
    Verdict::Tx(r.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::spec::{IfaceSpec, NeighborSpec, RouterSpec, TunnelKind, TunnelSpec};
    use crate::wire::ethernet::MacAddr;
    use crate::{CollectEmit, Pipeline, PortId};
    use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

    const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const WAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const HOST: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 0x20];

    fn spec() -> RouterSpec {
        let mut t = TunnelSpec::new(
            "tun0",
            TunnelKind::FourInFour,
            "192.168.0.1".parse().unwrap(),
            "192.168.0.2".parse().unwrap(),
        );
        t.ipv4 = vec![("1.1.1.1".parse().unwrap(), 24)];
        RouterSpec {
            ifaces: vec![
                IfaceSpec {
                    name: "lan".into(),
                    port: PortId(0),
                    mac: LAN_MAC,
                    ipv4: vec![("10.1.5.1".parse().unwrap(), 24)],
                    ..IfaceSpec::default()
                },
                IfaceSpec {
                    name: "wan".into(),
                    port: PortId(1),
                    mac: WAN_MAC,
                    ipv4: vec![("192.168.0.1".parse().unwrap(), 24)],
                    ..IfaceSpec::default()
                },
            ],
            routes: vec![crate::router::spec::RouteSpec {
                prefix: "10.1.8.0".parse().unwrap(),
                len: 24,
                target: crate::router::spec::RouteTarget::Via {
                    gateway: "1.1.1.2".parse().unwrap(),
                    iface: TUN_BASE,
                },
            }],
            neighbors: vec![
                NeighborSpec {
                    iface: 0,
                    ip: "10.1.5.10".parse().unwrap(),
                    mac: MacAddr(HOST),
                },
                NeighborSpec {
                    iface: 1,
                    ip: "192.168.0.2".parse().unwrap(),
                    mac: MacAddr(PEER),
                },
            ],
            tunnels: vec![t],
            gtpu: None,
            nat64: None,
        }
    }

    /// Runs one frame received on `port`; the verdict and the frame after.
    fn rx(r: &mut dyn Pipeline, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
        let (v, f, _) = rx_emit(r, port, frame);
        (v, f)
    }

    type Emitted = Vec<(PortId, Vec<u8>)>;

    /// As [`rx`], with the frames the router emitted.
    fn rx_emit(r: &mut dyn Pipeline, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>, Emitted) {
        let mut buf = vec![0u8; 4096];
        buf[256..256 + frame.len()].copy_from_slice(frame);
        let mut pkts =
            [crate::Packet::new(&mut buf, 256, frame.len() as u32, PortId(port)).unwrap()];
        let mut v = [Verdict::Local];
        let mut e = CollectEmit::default();
        r.process(&mut Ctx::new(1_000_000_000, &mut e), &mut pkts, &mut v);
        (v[0], pkts[0].data().to_vec(), e.frames)
    }

    #[test]
    fn df_clear_inner_packets_are_fragmented_inside_the_outer_header() {
        let mut r = crate::router::build(&spec()).unwrap();
        let mut f = udp([10, 1, 5, 10], [10, 1, 8, 10], 64, 0, 1700);
        // DF clear.
        f[20] = 0;
        let mut ip = ipv4::Packet::new_checked(&mut f[14..]).unwrap();
        ip.fill_checksum();
        let (v, first, rest) = rx_emit(r.as_mut(), 0, &f);
        assert_eq!(v, Verdict::Tx(PortId(1)), "{v:?}");
        let frames: Vec<Vec<u8>> = std::iter::once(first)
            .chain(rest.into_iter().map(|(port, b)| {
                assert_eq!(port, PortId(1));
                b
            }))
            .collect();
        assert_eq!(
            frames.len(),
            2,
            "{:?}",
            frames.iter().map(|f| f.len()).collect::<Vec<_>>()
        );
        let mut payload = Vec::new();
        let mut ids = Vec::new();
        for (i, b) in frames.iter().enumerate() {
            assert!(b.len() - 14 <= 1500, "fits the underlay MTU");
            let o = ipv4::Packet::new_checked(&b[14..]).unwrap();
            assert!(o.verify_checksum());
            assert!(!o.is_fragment(), "the outer header is never fragmented");
            assert_eq!(o.total_len() as usize, b.len() - 14);
            assert_eq!(o.protocol(), 4);
            ids.push(o.ident());
            let inner = ipv4::Packet::new_checked(&b[34..]).unwrap();
            assert!(inner.verify_checksum());
            assert_eq!(inner.more_frags(), i == 0);
            assert_eq!(inner.frag_offset() as usize, payload.len());
            payload.extend_from_slice(inner.payload());
        }
        assert_ne!(ids[0], ids[1], "outer headers without DF need distinct IDs");
        assert_eq!(
            payload,
            f[34..],
            "the fragments carry the whole UDP datagram"
        );
    }

    fn udp(src: [u8; 4], dst: [u8; 4], ttl: u8, tos: u8, len: usize) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(HOST, LAN_MAC.0)
            .ipv4(src, dst, ttl)
            .udp(5000, 6000);
        let mut out = Vec::new();
        b.write(&mut out, &vec![0xab; len]).unwrap();
        out[15] = tos;
        let mut ip = ipv4::Packet::new_checked(&mut out[14..]).unwrap();
        ip.fill_checksum();
        out
    }

    /// `inner` (an IPv4 packet) inside 192.168.0.2 → 192.168.0.1, from PEER.
    fn outer(src: [u8; 4], inner: &[u8], tos: u8) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(PEER, WAN_MAC.0).ipv4(src, [192, 168, 0, 1], 60);
        let mut out = Vec::new();
        b.write(&mut out, etherparse::IpNumber(4), inner).unwrap();
        out[15] = tos;
        let mut ip = ipv4::Packet::new_checked(&mut out[14..]).unwrap();
        ip.fill_checksum();
        out
    }

    #[test]
    fn encap_builds_the_outer_header_and_routes_it() {
        let mut r = crate::router::build(&spec()).unwrap();
        let f = udp([10, 1, 5, 10], [10, 1, 8, 10], 64, 0xb8 | ECT0, 100);
        let (v, out) = rx(r.as_mut(), 0, &f);
        assert_eq!(v, Verdict::Tx(PortId(1)), "{v:?}");
        assert_eq!(&out[0..6], &PEER);
        assert_eq!(&out[6..12], &WAN_MAC.0);
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let Some(NetSlice::Ipv4(o)) = p.net else {
            panic!("no outer IPv4")
        };
        let h = o.header();
        assert_eq!(h.source(), [192, 168, 0, 1]);
        assert_eq!(h.destination(), [192, 168, 0, 2]);
        assert_eq!(h.protocol().0, 4);
        assert_eq!(h.ttl(), 64);
        assert_eq!(h.dcp().value(), 0xb8 >> 2, "DSCP copied");
        assert_eq!(h.ecn().value(), ECT0, "ECN copied (RFC 6040 normal mode)");
        assert!(h.dont_fragment(), "DF copied from the inner packet");
        assert_eq!(h.total_len() as usize, out.len() - 14);
        assert!(ipv4::Packet::new_checked(&out[14..])
            .unwrap()
            .verify_checksum());
        let inner = ipv4::Packet::new_checked(&out[34..]).unwrap();
        assert_eq!(inner.ttl(), 63, "the inner packet was routed (TTL - 1)");
        assert!(inner.verify_checksum());
    }

    #[test]
    fn decap_routes_the_inner_packet_and_applies_rfc6040() {
        let mut r = crate::router::build(&spec()).unwrap();
        let inner = &udp([10, 1, 8, 10], [10, 1, 5, 10], 64, ECT0, 40)[14..];
        let (v, out) = rx(r.as_mut(), 1, &outer([192, 168, 0, 2], inner, CE));
        assert_eq!(v, Verdict::Tx(PortId(0)), "{v:?}");
        assert_eq!(&out[0..6], &HOST);
        let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
        assert_eq!(ip.src_addr(), std::net::Ipv4Addr::new(10, 1, 8, 10));
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ip.ecn(), CE, "outer CE marks the ECT inner packet");
        assert!(ip.verify_checksum(), "checksum fixed after the ECN change");
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        assert!(matches!(p.transport, Some(TransportSlice::Udp(_))));

        // CE over Not-ECT: dropped (RFC 6040 §4.2).
        let inner = &udp([10, 1, 8, 10], [10, 1, 5, 10], 64, NOT_ECT, 40)[14..];
        let (v, _) = rx(r.as_mut(), 1, &outer([192, 168, 0, 2], inner, CE));
        assert_eq!(v, Verdict::Drop(DropReason::TunnelEcnDrop));
        // An unknown outer source: no open relay.
        let (v, _) = rx(r.as_mut(), 1, &outer([192, 168, 0, 99], inner, 0));
        assert_eq!(v, Verdict::Drop(DropReason::TunnelNoMatch));
        // IPv6 inside a 4in4 tunnel.
        let mut bad = inner.to_vec();
        bad[0] = 0x60;
        let (v, _) = rx(r.as_mut(), 1, &outer([192, 168, 0, 2], &bad, 0));
        assert_eq!(v, Verdict::Drop(DropReason::TunnelInnerMalformed));
    }

    #[test]
    fn frag_needed_from_the_underlay_is_relayed_to_the_inner_sender() {
        let mut r = crate::router::build(&spec()).unwrap();
        // What gw sent: 10.1.5.10 → 10.1.8.10 inside 192.168.0.1 → .2.
        let sent = udp([10, 1, 5, 10], [10, 1, 8, 10], 63, 0, 1400);
        let mut outer_pkt = Vec::new();
        PacketBuilder::ipv4([192, 168, 0, 1], [192, 168, 0, 2], 64)
            .write(&mut outer_pkt, etherparse::IpNumber(4), &sent[14..])
            .unwrap();
        // A router in the underlay quotes 548 bytes of it (576 in all).
        let quote = &outer_pkt[..548];
        let b = PacketBuilder::ethernet2(PEER, WAN_MAC.0)
            .ipv4([192, 168, 0, 254], [192, 168, 0, 1], 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: 1400,
                },
            ));
        let mut f = Vec::new();
        b.write(&mut f, quote).unwrap();
        let (v, out) = rx(r.as_mut(), 1, &f);
        assert_eq!(v, Verdict::Tx(PortId(0)), "{v:?}");
        assert_eq!(&out[0..6], &HOST);
        let ip = ipv4::Packet::new_checked(&out[14..]).unwrap();
        assert_eq!(ip.dst_addr(), std::net::Ipv4Addr::new(10, 1, 5, 10));
        assert_eq!(
            ip.src_addr(),
            std::net::Ipv4Addr::new(10, 1, 5, 1),
            "from lan's address, the interface it leaves by (RFC 1812 §4.3.2.4)"
        );
        assert!(ip.verify_checksum());
        let icmp = &out[34..];
        assert_eq!((icmp[0], icmp[1]), (3, 4), "Fragmentation Needed");
        assert_eq!(
            u16::from_be_bytes([icmp[6], icmp[7]]),
            1380,
            "1400 - 20 bytes of outer header"
        );
        assert_eq!(&icmp[8..28], &sent[14..34], "quotes the inner header");
        assert_eq!(
            crate::wire::checksum::finish(crate::wire::checksum::sum(icmp)),
            0
        );
        // Not about one of our tunnels: just received.
        let mut other = f.clone();
        other[14 + 28 + 16..14 + 28 + 20].copy_from_slice(&[192, 168, 0, 77]);
        other[36..38].fill(0);
        let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&other[34..]));
        other[36..38].copy_from_slice(&c.to_be_bytes());
        let (v, _) = rx(r.as_mut(), 1, &other);
        assert_eq!(v, Verdict::Local);
    }

    #[test]
    fn rfc6040_decap_table() {
        // RFC 6040 Figure 4: rows inner, columns outer (Not-ECT, ECT(0),
        // ECT(1), CE); None = drop.
        let want = [
            (NOT_ECT, [Some(NOT_ECT), Some(NOT_ECT), Some(NOT_ECT), None]),
            (ECT0, [Some(ECT0), Some(ECT0), Some(ECT1), Some(CE)]),
            (ECT1, [Some(ECT1), Some(ECT1), Some(ECT1), Some(CE)]),
            (CE, [Some(CE), Some(CE), Some(CE), Some(CE)]),
        ];
        for (inner, row) in want {
            for (outer, w) in [NOT_ECT, ECT0, ECT1, CE].into_iter().zip(row) {
                assert_eq!(ecn_decap(inner, outer), w, "inner {inner} outer {outer}");
            }
        }
    }

    #[test]
    fn rfc6040_encap_modes() {
        for e in [NOT_ECT, ECT0, ECT1, CE] {
            assert_eq!(ecn_encap(0xb8 | e, EcnMode::Normal), e);
            assert_eq!(ecn_encap(0xb8 | e, EcnMode::Compatibility), NOT_ECT);
        }
    }
}
