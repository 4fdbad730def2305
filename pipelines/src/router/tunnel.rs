//! IP-in-IP tunnels (RFC 2003 4in4, RFC 4213 6in4, RFC 2473 4in6 / 6in6):
//! ENCAP, the decapsulation done at PARSE, RFC 6040 ECN handling, and
//! per-tunnel counters.
//!
//! A tunnel is an interface (`TUN_BASE + slot`) of the route table: routes
//! point into it like into any interface, its addresses are ours, its MTU
//! and reverse-path filter apply. FWD4/FWD6 send a packet whose egress
//! interface is a tunnel to ENCAP (instead of RESOLVE) after the usual TTL,
//! MTU and ICMP-error work on the inner packet. ENCAP prepends the outer
//! header in the headroom and routes the outer packet (as ORIGINATED) to
//! RESOLVE. An IP-in-IP packet to one of our addresses is decapsulated at
//! PARSE only if a tunnel has exactly its outer source, destination and
//! protocol; the inner packet is then parsed as if received on the
//! tunnel interface, so it is routed, answered or filtered like any other.

use std::net::IpAddr;

use super::spec::{DfMode, DscpMode, EcnMode, TtlMode, MAX_TUNNELS, TUN_BASE};
use super::{NextHop, Router, ENCAP, L2, RESOLVE};
use crate::wire::{checksum, ipv4, ipv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

/// Counter slots per tunnel: encapsulated packets and bytes (inner),
/// decapsulated packets and bytes (inner), then one per drop reason.
pub const TC_ENC_PKTS: usize = 0;
pub const TC_ENC_BYTES: usize = 1;
pub const TC_DEC_PKTS: usize = 2;
pub const TC_DEC_BYTES: usize = 3;
pub const TC_DROPS: usize = 4;
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

impl Router {
    pub(crate) fn tunnel_count(&mut self, id: u16, k: usize, n: u64) {
        let Some(t) = self.table.tunnel(id) else {
            return;
        };
        let serial = t.serial;
        let Some(row) = self.tcount.get_mut((id - TUN_BASE) as usize) else {
            return;
        };
        if row.serial != serial {
            *row = TunnelCount {
                serial,
                c: [0; TC_N],
            };
        }
        row.c[k] += n;
    }

    /// Counts a drop against the tunnel a packet came out of.
    #[inline]
    pub(crate) fn tunnel_drop(&mut self, m: &Meta, r: DropReason) {
        if m.iface >= TUN_BASE {
            self.tunnel_count(m.iface, TC_DROPS + r.index(), 1);
        }
    }

    /// ENCAP: the packet at `L2..` leaves through the tunnel named by its
    /// next hop.
    pub(crate) fn encap(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let v = self.encap_once(cx, p);
        if let Verdict::Drop(r) = v {
            if let Some(&(NextHop::Via { iface, .. } | NextHop::Connected { iface })) =
                self.table.nexthops.get(p.meta.nh as usize)
            {
                if iface >= TUN_BASE {
                    self.tunnel_count(iface, TC_DROPS + r.index(), 1);
                }
            }
        }
        v
    }

    fn encap_once(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let m = p.meta;
        let id = match self.table.nexthops.get(m.nh as usize) {
            Some(&(NextHop::Via { iface, .. } | NextHop::Connected { iface })) => iface,
            _ => return Verdict::Drop(DropReason::TunnelGone),
        };
        let Some(t) = self.table.tunnel(id) else {
            return Verdict::Drop(DropReason::TunnelGone);
        };
        let s = &t.spec;
        let (kind, local, remote, ttl_mode, dscp_mode, df_mode, ecn_mode) =
            (s.kind, s.local, s.remote, s.ttl, s.dscp, s.df, s.ecn);
        let d = p.data();
        let inner_len = d.len() - L2;
        // The inner packet's TOS / traffic class, TTL / hop limit and DF.
        let (tos, ttl, df) = if kind.inner_v6() {
            let Ok(ip) = ipv6::Packet::new_checked(&d[L2..]) else {
                return Verdict::Drop(DropReason::Ip6Malformed);
            };
            (ip.traffic_class(), ip.hop_limit(), true)
        } else {
            let Ok(ip) = ipv4::Packet::new_checked(&d[L2..]) else {
                return Verdict::Drop(DropReason::Ip4Malformed);
            };
            (ip.dscp_ecn(), ip.ttl(), ip.dont_frag())
        };
        let dscp = match dscp_mode {
            DscpMode::Copy => tos >> 2,
            DscpMode::Fixed(x) => x,
        };
        let outer_tos = (dscp << 2) | ecn_encap(tos, ecn_mode);
        let outer_ttl = match ttl_mode {
            TtlMode::Fixed(x) => x,
            TtlMode::Inherit => ttl.max(1),
        };
        let outer_df = match df_mode {
            DfMode::Copy => df,
            DfMode::Set => true,
            DfMode::Clear => false,
        };
        let oh = kind.overhead();
        if p.push_head(oh).is_none() {
            return Verdict::Drop(DropReason::TunnelNoHeadroom);
        }
        // The L2 bytes are a placeholder (RESOLVE writes them); only the
        // EtherType matters inside the router.
        let d = p.data_mut();
        let (ethertype, ok) = match (local, remote) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                self.ip_ident = self.ip_ident.wrapping_add(1);
                let repr = ipv4::Repr {
                    src,
                    dst,
                    protocol: kind.proto(),
                    ttl: outer_ttl,
                    payload_len: inner_len as u16,
                    dscp_ecn: outer_tos,
                    dont_frag: outer_df,
                    ident: self.ip_ident,
                };
                (0x0800u16, repr.emit(&mut d[L2..L2 + oh]).is_ok())
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let repr = ipv6::Repr {
                    src,
                    dst,
                    next_header: kind.proto(),
                    hop_limit: outer_ttl,
                    payload_len: inner_len as u16,
                    traffic_class: outer_tos,
                    flow_label: 0,
                };
                (0x86ddu16, repr.emit(&mut d[L2..L2 + oh]).is_ok())
            }
            _ => (0, false),
        };
        if !ok {
            return Verdict::Drop(DropReason::TunnelGone);
        }
        d[12..14].copy_from_slice(&ethertype.to_be_bytes());
        p.meta = Meta {
            l3: L2 as u16,
            l4: (L2 + oh) as u16,
            ethertype,
            proto: kind.proto(),
            flags: Meta::ORIGINATED,
            ..m
        };
        self.tunnel_count(id, TC_ENC_PKTS, 1);
        self.tunnel_count(id, TC_ENC_BYTES, inner_len as u64);
        // Route the outer packet over the underlay.
        let v = if ethertype == 0x0800 {
            self.forward4(cx, p)
        } else {
            self.forward6(cx, p)
        };
        match v {
            Verdict::Next(RESOLVE) => v,
            // The route to the remote end points into a tunnel again.
            Verdict::Next(ENCAP) => Verdict::Drop(DropReason::TunnelNested),
            Verdict::Next(_) => Verdict::Drop(DropReason::RouteNone),
            other => other,
        }
    }

    /// Decapsulates an IP-in-IP packet addressed to us (PARSE found it:
    /// `m.l4` is the inner header) and parses the inner packet as received
    /// on the tunnel.
    pub(crate) fn decap(&mut self, p: &mut Packet<'_>, m: &mut Meta) -> Verdict {
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
        let found = self.table.tunnels.iter().enumerate().find_map(|(i, t)| {
            let t = t.as_ref()?;
            (t.spec.kind.proto() == m.proto && t.spec.local == dst && t.spec.remote == src)
                .then_some((TUN_BASE + i as u16, t.spec.kind.inner_v6()))
        });
        let Some((id, inner_v6)) = found else {
            return Verdict::Drop(DropReason::TunnelNoMatch);
        };
        let off = m.l4 as usize;
        let inner_ok = d
            .get(off)
            .is_some_and(|&b| b >> 4 == if inner_v6 { 6 } else { 4 })
            && if inner_v6 {
                ipv6::Packet::new_checked(&d[off..]).is_ok()
            } else {
                ipv4::Packet::new_checked(&d[off..]).is_ok()
            };
        if !inner_ok {
            self.tunnel_count(id, TC_DROPS + DropReason::TunnelInnerMalformed.index(), 1);
            return Verdict::Drop(DropReason::TunnelInnerMalformed);
        }
        // RFC 6040 §4.2 on the inner ECN field.
        let d = p.data_mut();
        if inner_v6 {
            let tc = ((d[off] & 0x0f) << 4) | (d[off + 1] >> 4);
            let Some(e) = ecn_decap(tc & 3, outer_ecn) else {
                self.tunnel_count(id, TC_DROPS + DropReason::TunnelEcnDrop.index(), 1);
                return Verdict::Drop(DropReason::TunnelEcnDrop);
            };
            let tc = (tc & !3) | e;
            d[off] = (d[off] & 0xf0) | (tc >> 4);
            d[off + 1] = (d[off + 1] & 0x0f) | (tc << 4);
        } else {
            let tos = d[off + 1];
            let Some(e) = ecn_decap(tos & 3, outer_ecn) else {
                self.tunnel_count(id, TC_DROPS + DropReason::TunnelEcnDrop.index(), 1);
                return Verdict::Drop(DropReason::TunnelEcnDrop);
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
        d.copy_within(0..12, oh);
        if !p.pull_head(oh) {
            return Verdict::Drop(DropReason::TunnelInnerMalformed);
        }
        let et: u16 = if inner_v6 { 0x86dd } else { 0x0800 };
        p.data_mut()[12..14].copy_from_slice(&et.to_be_bytes());
        let inner_len = p.len() - L2;
        self.tunnel_count(id, TC_DEC_PKTS, 1);
        self.tunnel_count(id, TC_DEC_BYTES, inner_len as u64);
        *m = Meta {
            l3: L2 as u16,
            ethertype: et,
            vlan: 0,
            iface: id,
            flags: Meta::DECAPPED,
            ..Meta::default()
        };
        let v = if inner_v6 {
            self.parse6(p, m)
        } else {
            self.parse4(p, m)
        };
        if let Verdict::Drop(r) = v {
            self.tunnel_count(id, TC_DROPS + r.index(), 1);
        }
        v
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

#[cfg(test)]
mod tests {
    use super::*;

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
