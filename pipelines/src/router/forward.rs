//! ip4-lookup / ip6-lookup: reverse-path filter, TTL / hop limit,
//! longest-prefix match, MTU, and the ICMP errors these call for. The
//! route's egress interface names the node that finishes the packet (its
//! adjacency, [`super::registry::outputs`]): ip-rewrite for Ethernet
//! interfaces, a feature's node for its virtual ones.

use super::registry;
use super::spec::RpfMode;
use super::{Core, NextHop, L2, ROUTE_ARCS, TO_IP4_LOOKUP, TO_IP6_LOOKUP, TO_REWRITE};
use crate::nodes::Node;
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

/// ip4-lookup (`v6` false) and ip6-lookup. Arcs: [`ROUTE_ARCS`] (the
/// second lookup for ICMP errors made here, ip-rewrite), then the other
/// interface outputs.
pub struct Lookup {
    v6: bool,
    arcs: Vec<&'static str>,
}

impl Lookup {
    pub fn new(v6: bool, _reg: &registry::Registry) -> Self {
        let mut arcs = ROUTE_ARCS[..2].to_vec();
        arcs.extend(registry::outputs());
        arcs.push("drop");
        Lookup { v6, arcs }
    }
}

impl Node<Core> for Lookup {
    fn name(&self) -> &'static str {
        if self.v6 {
            "ip6-lookup"
        } else {
            "ip4-lookup"
        }
    }
    fn next(&self) -> &[&'static str] {
        &self.arcs
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[
            Ip4Malformed,
            Ip6Malformed,
            RpfStrict,
            RpfLoose,
            RouteNone,
            RouteBlackhole,
            FragOptions,
            IcmpRateLimited,
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
            v[i as usize] = if self.v6 {
                core.forward6(cx, p)
            } else {
                core.forward4(cx, p)
            };
        }
    }
}

impl Core {
    /// RFC 3704 feasibility of `src` arriving on interface `iface`.
    pub(crate) fn rpf_ok(
        &self,
        mode: RpfMode,
        nh: Option<u32>,
        iface: u16,
    ) -> Result<(), DropReason> {
        let nh = nh.and_then(|n| self.table.nexthops.get(n as usize).copied());
        match (mode, nh) {
            (RpfMode::Off, _) => Ok(()),
            (_, None | Some(NextHop::Blackhole | NextHop::Unreachable)) => {
                Err(if mode == RpfMode::Strict {
                    DropReason::RpfStrict
                } else {
                    DropReason::RpfLoose
                })
            }
            (RpfMode::Loose, Some(_)) => Ok(()),
            (
                RpfMode::Strict,
                Some(NextHop::Via { iface: i, .. } | NextHop::Connected { iface: i }),
            ) => {
                if i == iface {
                    Ok(())
                } else {
                    Err(DropReason::RpfStrict)
                }
            }
        }
    }

    pub(crate) fn forward4(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let v = self.forward4_once(cx, p);
        // An ICMP error made here is routed straight away (once: errors
        // are ORIGINATED and never cause another).
        if v == Verdict::Next(TO_IP4_LOOKUP) {
            self.forward4_once(cx, p)
        } else {
            v
        }
    }

    fn forward4_once(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        use icmpv4::{dest_unreach as du, DEST_UNREACH, TIME_EXCEEDED};
        let m = p.meta;
        let d = p.data();
        let Ok(ip) = ipv4::Packet::new_checked(&d[L2.min(d.len())..]) else {
            return Verdict::Drop(DropReason::Ip4Malformed);
        };
        let (src, dst, ttl, total, df, hl) = (
            ip.src_addr(),
            ip.dst_addr(),
            ip.ttl(),
            ip.total_len() as usize,
            ip.dont_frag(),
            ip.header_len(),
        );
        let originated = m.flags & Meta::ORIGINATED != 0;
        if !originated {
            let mode = self.iface(m.iface).rpf;
            if mode != RpfMode::Off {
                if let Err(r) = self.rpf_ok(mode, self.table.fib4.lookup(src), m.iface) {
                    return Verdict::Drop(r);
                }
            }
            if ttl <= 1 {
                return self.icmp4_error(cx, p, TIME_EXCEEDED, icmpv4::time_exceeded::TTL, 0);
            }
        }
        let Some(nh) = self.table.fib4.lookup(dst) else {
            return if originated {
                Verdict::Drop(DropReason::RouteNone)
            } else {
                self.icmp4_error(cx, p, DEST_UNREACH, du::NET, 0)
            };
        };
        let egress = match self.table.nexthops.get(nh as usize) {
            Some(NextHop::Via { iface, .. } | NextHop::Connected { iface }) => *iface,
            Some(NextHop::Blackhole) => return Verdict::Drop(DropReason::RouteBlackhole),
            Some(NextHop::Unreachable) | None => {
                return if originated {
                    Verdict::Drop(DropReason::RouteNone)
                } else {
                    self.icmp4_error(cx, p, DEST_UNREACH, du::HOST, 0)
                };
            }
        };
        let mtu = self.iface(egress).mtu as usize;
        // An inner packet a feature (ipip-encap, gtpu-encap) left marked
        // for fragmentation is fragmented inside this (outer) header at
        // ip-rewrite, whatever its size.
        let inner_frag = originated && m.flags & Meta::NEEDS_FRAG != 0;
        if total > mtu && !inner_frag {
            if df {
                // RFC 1191: Fragmentation Needed carries the next-hop MTU.
                return self.icmp4_error(cx, p, DEST_UNREACH, du::FRAG_NEEDED, mtu as u32 & 0xffff);
            }
            if hl != ipv4::HEADER_LEN {
                return Verdict::Drop(DropReason::FragOptions);
            }
            p.meta.flags |= Meta::NEEDS_FRAG;
        }
        if !originated {
            let Ok(mut ip) = ipv4::Packet::new_checked(&mut p.data_mut()[L2..]) else {
                return Verdict::Drop(DropReason::Ip4Malformed);
            };
            ip.decrement_ttl();
        }
        p.meta.nh = nh;
        // The adjacency: the egress interface's output node.
        Verdict::Next(TO_REWRITE + self.iface(egress).output)
    }

    pub(crate) fn forward6(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let v = self.forward6_once(cx, p);
        if v == Verdict::Next(TO_IP6_LOOKUP) {
            self.forward6_once(cx, p)
        } else {
            v
        }
    }

    fn forward6_once(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        use icmpv6::{dest_unreach as du, DEST_UNREACH, PACKET_TOO_BIG, TIME_EXCEEDED};
        let m = p.meta;
        let d = p.data();
        let Ok(ip) = ipv6::Packet::new_checked(&d[L2.min(d.len())..]) else {
            return Verdict::Drop(DropReason::Ip6Malformed);
        };
        let (src, dst, hops, total) = (
            ip.src_addr(),
            ip.dst_addr(),
            ip.hop_limit(),
            ipv6::HEADER_LEN + ip.payload_len() as usize,
        );
        let originated = m.flags & Meta::ORIGINATED != 0;
        let link_local = (dst.segments()[0] & 0xffc0) == 0xfe80;
        if !originated {
            let mode = self.iface(m.iface).rpf;
            if mode != RpfMode::Off {
                if let Err(r) = self.rpf_ok(mode, self.table.fib6.lookup(src), m.iface) {
                    return Verdict::Drop(r);
                }
            }
            if hops <= 1 {
                return self.icmp6_error(cx, p, TIME_EXCEEDED, icmpv6::time_exceeded::HOP_LIMIT, 0);
            }
        }
        // Link-local destinations (our replies to link-local sources) leave
        // by the interface they came in on.
        let nh = if link_local && originated {
            m.iface as u32
        } else {
            match self.table.fib6.lookup(dst) {
                Some(nh) => nh,
                None => {
                    return if originated {
                        Verdict::Drop(DropReason::RouteNone)
                    } else {
                        self.icmp6_error(cx, p, DEST_UNREACH, du::NO_ROUTE, 0)
                    };
                }
            }
        };
        let egress = match self.table.nexthops.get(nh as usize) {
            Some(NextHop::Via { iface, .. } | NextHop::Connected { iface }) => *iface,
            Some(NextHop::Blackhole) => return Verdict::Drop(DropReason::RouteBlackhole),
            Some(NextHop::Unreachable) | None => {
                return if originated {
                    Verdict::Drop(DropReason::RouteNone)
                } else {
                    self.icmp6_error(cx, p, DEST_UNREACH, du::REJECT_ROUTE, 0)
                };
            }
        };
        let mtu = self.iface(egress).mtu as usize;
        // Routers never fragment IPv6 (RFC 8200 §5); an IPv4 packet we put
        // in a 4in6 tunnel with DF clear is fragmented inside (at
        // ip-rewrite).
        let inner_frag = originated && m.flags & Meta::NEEDS_FRAG != 0;
        if total > mtu && !inner_frag {
            return self.icmp6_error(cx, p, PACKET_TOO_BIG, 0, mtu as u32);
        }
        if !originated {
            let Ok(mut ip) = ipv6::Packet::new_checked(&mut p.data_mut()[L2..]) else {
                return Verdict::Drop(DropReason::Ip6Malformed);
            };
            ip.decrement_hop_limit();
        }
        p.meta.nh = nh;
        // The adjacency: the egress interface's output node.
        Verdict::Next(TO_REWRITE + self.iface(egress).output)
    }
}
