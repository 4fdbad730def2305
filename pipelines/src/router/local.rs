//! arp-input, ip4-local, ip6-local: what is addressed to xgw itself.
//! ip4-local / ip6-local first hand a packet to the feature registered for
//! its protocol or UDP port ([`super::registry`]). ARP requests and
//! Neighbor Solicitations for our addresses are answered in place (the
//! NA always carries the Target Link-Layer Address option, with R/S/O set
//! as RFC 4861 §7.2.4 says); echo requests become echo replies; replies
//! and advertisements feed the neighbour cache.

use std::net::{IpAddr, Ipv6Addr};

use super::neigh::Key;
use super::registry::{LocalArcs, Registry, NONE};
use super::{Core, L2, ROUTE_ARCS, TO_IP4_LOOKUP, TO_IP6_LOOKUP};
use crate::nodes::Node;
use crate::wire::ethernet::MacAddr;
use crate::wire::ndp::{emit_tlla, NdpError, NeighborAdvert, NeighborAdvertRepr, NeighborSolicit};
use crate::wire::{arp, icmpv4, icmpv6, ipv4, ipv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

const TCP: u8 = 6;
const UDP: u8 = 17;
const NO_NEXT_HEADER: u8 = 59;

/// arp-input: requests for our addresses answered in place, replies and
/// gratuitous ARP learned.
pub struct ArpInput;

impl Node<Core> for ArpInput {
    fn name(&self) -> &'static str {
        "arp-input"
    }
    fn next(&self) -> &[&'static str] {
        &["tx", "local", "drop"]
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[ArpMalformed, ArpNotForUs, ArpBadSenderMac]
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
            v[i as usize] = core.arp(cx, &mut pkts[i as usize]);
        }
    }
}

/// ip4-local (`v6` false) and ip6-local: local delivery. A unicast packet
/// to us goes to the node registered for its protocol or UDP destination
/// port; the rest gets the router's answers (echo, NDP, Router
/// Solicitations, unreachable errors), and an ICMP error about a
/// registered protocol goes to its feature.
pub struct IpLocal {
    v6: bool,
    arcs: LocalArcs,
}

impl IpLocal {
    pub fn new(v6: bool, reg: &Registry) -> Self {
        let mut arcs = reg.local_arcs(v6, &ROUTE_ARCS[..2]);
        // Not arcs: shown by `xgw graph` (NDP answers leave at once).
        let ends: &[&str] = if v6 {
            &["tx", "local", "drop"]
        } else {
            &["local", "drop"]
        };
        arcs.names.extend_from_slice(ends);
        IpLocal { v6, arcs }
    }

    /// The registered node for a unicast packet to us, if any.
    #[inline]
    fn registered(&self, p: &Packet<'_>) -> Option<Verdict> {
        let m = &p.meta;
        if m.flags & Meta::TO_US == 0 || m.flags & Meta::L3_MULTICAST != 0 {
            return None;
        }
        let arc = self.arcs.proto[m.proto as usize];
        if arc != NONE {
            return Some(Verdict::Next(arc));
        }
        if m.proto == UDP && m.l4 != 0 && !self.arcs.udp.is_empty() {
            let l4 = m.l4 as usize;
            let port = p.data().get(l4 + 2..l4 + 4)?;
            let port = u16::from_be_bytes([port[0], port[1]]);
            let &(_, arc) = self.arcs.udp.iter().find(|&&(x, _)| x == port)?;
            return Some(Verdict::Next(arc));
        }
        None
    }
}

impl Node<Core> for IpLocal {
    fn name(&self) -> &'static str {
        if self.v6 {
            "ip6-local"
        } else {
            "ip4-local"
        }
    }
    fn next(&self) -> &[&'static str] {
        &self.arcs.names
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        if self.v6 {
            &[
                LocalFragment,
                Ip6Malformed,
                IcmpTruncated,
                IcmpBadChecksum,
                NdpInvalid,
                NdpTruncated,
                NdpBadLladdr,
                NdpNotForUs,
                Ip6UnspecifiedSource,
                UdpTruncated,
                Udp6ZeroChecksum,
                LocalNoService,
                IcmpRateLimited,
                IcmpSuppressed,
                IcmpNoSource,
                IcmpNoHeadroom,
                IcmpHeaderWriteFailed,
            ]
        } else {
            &[
                LocalFragment,
                IcmpTruncated,
                IcmpBadChecksum,
                LocalEchoToBroadcast,
                UdpTruncated,
                LocalNoService,
                IcmpRateLimited,
                IcmpSuppressed,
                IcmpNoSource,
                IcmpNoHeadroom,
                IcmpHeaderWriteFailed,
            ]
        }
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
            let claimed = (p.meta.flags & Meta::TO_US != 0)
                .then(|| self.arcs.claims.iter().find(|(f, _)| f(core, p)))
                .flatten()
                .map(|&(_, arc)| Verdict::Next(arc));
            v[i as usize] = match claimed.or_else(|| self.registered(p)) {
                Some(x) => x,
                None if self.v6 => core.local6(cx, p, &self.arcs.error_about),
                None => core.local4(cx, p, &self.arcs.error_about),
            };
        }
    }
}

/// The protocol of the packet an ICMP error at `icmp` quotes (its IPv4 or
/// IPv6 header right after the 8-byte ICMP header).
fn quoted_proto(d: &[u8], icmp: usize) -> Option<u8> {
    let q = icmp + 8;
    match *d.get(q)? >> 4 {
        4 => d.get(q + 9).copied(),
        6 => d.get(q + 6).copied(),
        _ => None,
    }
}

impl Core {
    pub(crate) fn arp(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
        let iface = p.meta.iface;
        let Some(Ok(a)) = p.data().get(L2..).map(arp::Packet::new_checked) else {
            return Verdict::Drop(DropReason::ArpMalformed);
        };
        let (oper, sha, spa, tpa) = (a.oper(), a.sha(), a.spa(), a.tpa());
        if oper != arp::REQUEST && oper != arp::REPLY {
            return Verdict::Drop(DropReason::ArpMalformed);
        }
        // Never learned (it would send our traffic for `spa` nowhere, to
        // everyone, or back to us), and not answered either: RFC 826's
        // reply goes to `sha`, which is no station's address.
        if self.bad_lladdr(sha) {
            return Verdict::Drop(DropReason::ArpBadSenderMac);
        }
        let f = self.iface(iface);
        let for_us = f.ipv4.iter().any(|&(x, _)| x == tpa);
        let mac = f.mac;
        // RFC 826 merge: refresh a known sender; add it only when the
        // packet is for us (a reply to us confirms reachability).
        if !spa.is_unspecified() {
            self.learned(
                cx,
                Key {
                    iface,
                    ip: IpAddr::V4(spa),
                },
                sha,
                for_us && oper == arp::REPLY,
                true,
                for_us,
            );
        }
        if oper == arp::REPLY || (spa == tpa && !for_us) {
            return Verdict::Local; // replies and gratuitous ARP: learned
        }
        if !for_us {
            return Verdict::Drop(DropReason::ArpNotForUs);
        }
        let reply = arp::Repr {
            oper: arp::REPLY,
            sha: mac,
            spa: tpa,
            tha: sha,
            tpa: spa,
        };
        p.set_len(L2 + arp::PACKET_LEN);
        if reply.emit(&mut p.data_mut()[L2..]).is_err() {
            return Verdict::Drop(DropReason::ArpMalformed);
        }
        p.meta.ethertype = 0x0806;
        self.send_on(p, iface, sha)
    }

    pub(crate) fn local4(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        error_about: &[u8; 256],
    ) -> Verdict {
        use icmpv4::{dest_unreach as du, DEST_UNREACH};
        let m = p.meta;
        let bcast = m.flags & Meta::L3_MULTICAST != 0;
        if m.flags & Meta::FRAGMENT != 0 {
            return Verdict::Drop(DropReason::LocalFragment);
        }
        match m.proto {
            ipv4::proto::ICMP => {
                let Some(Ok(icmp)) = p
                    .data()
                    .get(m.l4 as usize..)
                    .map(icmpv4::Packet::new_checked)
                else {
                    return Verdict::Drop(DropReason::IcmpTruncated);
                };
                if !icmp.verify_checksum() {
                    return Verdict::Drop(DropReason::IcmpBadChecksum);
                }
                let (ty, code) = (icmp.msg_type(), icmp.code());
                if ty == icmpv4::DEST_UNREACH && code == du::FRAG_NEEDED && !bcast {
                    // About a registered protocol: its feature's.
                    let arc = quoted_proto(p.data(), m.l4 as usize)
                        .map_or(NONE, |q| error_about[q as usize]);
                    if arc != NONE {
                        return Verdict::Next(arc);
                    }
                }
                if ty != icmpv4::ECHO_REQUEST || code != 0 {
                    return Verdict::Local;
                }
                if bcast {
                    return Verdict::Drop(DropReason::LocalEchoToBroadcast);
                }
                self.echo_reply4(p)
            }
            UDP if p.data().len() < m.l4 as usize + 8 => Verdict::Drop(DropReason::UdpTruncated),
            UDP if !bcast => self.icmp4_error(cx, p, DEST_UNREACH, du::PORT, 0),
            TCP if !bcast => Verdict::Drop(DropReason::LocalNoService),
            _ if bcast => Verdict::Local,
            _ => self.icmp4_error(cx, p, DEST_UNREACH, du::PROTO, 0),
        }
    }

    fn echo_reply4(&mut self, p: &mut Packet<'_>) -> Verdict {
        let l4 = p.meta.l4 as usize;
        let d = p.data_mut();
        let Ok(mut ip) = ipv4::Packet::new_checked(&mut d[L2..]) else {
            return Verdict::Drop(DropReason::Ip4Malformed);
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        ip.set_src(dst);
        ip.set_dst(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        let Ok(mut icmp) = icmpv4::Packet::new_checked(&mut d[l4..]) else {
            return Verdict::Drop(DropReason::Ip4Malformed);
        };
        icmp.set_msg_type(icmpv4::ECHO_REPLY);
        icmp.fill_checksum();
        p.meta.flags = (p.meta.flags & !(Meta::TO_US | Meta::L2_MULTICAST)) | Meta::ORIGINATED;
        Verdict::Next(TO_IP4_LOOKUP)
    }

    pub(crate) fn local6(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        error_about: &[u8; 256],
    ) -> Verdict {
        use icmpv6::{dest_unreach as du, DEST_UNREACH};
        let m = p.meta;
        let mcast = m.flags & Meta::L3_MULTICAST != 0;
        if m.flags & Meta::FRAGMENT != 0 {
            return Verdict::Drop(DropReason::LocalFragment);
        }
        let Some(Ok(ip)) = p.data().get(L2..).map(ipv6::Packet::new_checked) else {
            return Verdict::Drop(DropReason::Ip6Malformed);
        };
        let (src, dst, hops) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
        // RFC 8200 §4.4: a Routing header with Segments Left > 0 at its
        // destination names a type to process; xgw knows none (type 0 is
        // deprecated, RFC 5095), so: Parameter Problem code 0 pointing at
        // the Routing Type (never about multicast: `icmp_allowed`).
        if let Some(at) = routing_pending(p.data(), m.l4 as usize) {
            return self.icmp6_error(
                cx,
                p,
                icmpv6::PARAM_PROBLEM,
                icmpv6::param_problem::ERRONEOUS_HEADER,
                (at - L2) as u32,
            );
        }
        // Nothing but Neighbor Discovery (DAD, RS) comes from ::, and
        // nothing can be answered to it.
        if src.is_unspecified() && m.proto != icmpv6::NEXT_HEADER {
            return Verdict::Drop(DropReason::Ip6UnspecifiedSource);
        }
        match m.proto {
            icmpv6::NEXT_HEADER => {
                let Some(Ok(icmp)) = p
                    .data()
                    .get(m.l4 as usize..)
                    .map(icmpv6::Packet::new_checked)
                else {
                    return Verdict::Drop(DropReason::IcmpTruncated);
                };
                if !icmp.verify_checksum(src, dst) {
                    return Verdict::Drop(DropReason::IcmpBadChecksum);
                }
                match icmp.msg_type() {
                    icmpv6::NS => self.ndp_ns(cx, p, src, dst, hops),
                    icmpv6::NA => self.ndp_na(cx, p, dst, hops),
                    icmpv6::RS => self.router_solicit(cx, p, src, hops),
                    icmpv6::RA | icmpv6::REDIRECT => {
                        if hops != 255 || icmp.code() != 0 {
                            Verdict::Drop(DropReason::NdpInvalid)
                        } else {
                            Verdict::Local
                        }
                    }
                    icmpv6::ECHO_REQUEST if src.is_unspecified() => {
                        Verdict::Drop(DropReason::Ip6UnspecifiedSource)
                    }
                    icmpv6::ECHO_REQUEST if icmp.code() == 0 => self.echo_reply6(p, src, dst),
                    icmpv6::PACKET_TOO_BIG if !mcast => {
                        // About a registered protocol: its feature's.
                        let arc = quoted_proto(p.data(), m.l4 as usize)
                            .map_or(NONE, |q| error_about[q as usize]);
                        if arc != NONE {
                            Verdict::Next(arc)
                        } else {
                            Verdict::Local
                        }
                    }
                    _ => Verdict::Local,
                }
            }
            UDP => match p.data().get(m.l4 as usize + 6..m.l4 as usize + 8) {
                None => Verdict::Drop(DropReason::UdpTruncated),
                // RFC 8200 §8.1: "IPv6 receivers must discard UDP packets
                // containing a zero checksum", silently.
                Some([0, 0]) => Verdict::Drop(DropReason::Udp6ZeroChecksum),
                Some(_) if mcast => Verdict::Local,
                Some(_) => self.icmp6_error(cx, p, DEST_UNREACH, du::PORT, 0),
            },
            NO_NEXT_HEADER => Verdict::Local,
            _ if mcast => Verdict::Local,
            _ => Verdict::Drop(DropReason::LocalNoService),
        }
    }

    fn echo_reply6(&mut self, p: &mut Packet<'_>, src: Ipv6Addr, dst: Ipv6Addr) -> Verdict {
        // A ping to a multicast group is answered from our own address.
        let from = if dst.is_multicast() {
            self.src6(p.meta.iface, src)
        } else {
            dst
        };
        let l4 = p.meta.l4 as usize;
        let d = p.data_mut();
        let Ok(mut ip) = ipv6::Packet::new_checked(&mut d[L2..]) else {
            return Verdict::Drop(DropReason::Ip6Malformed);
        };
        ip.set_src(from);
        ip.set_dst(src);
        ip.set_hop_limit(64);
        let Ok(mut icmp) = icmpv6::Packet::new_checked(&mut d[l4..]) else {
            return Verdict::Drop(DropReason::Ip6Malformed);
        };
        icmp.set_msg_type(icmpv6::ECHO_REPLY);
        icmp.fill_checksum(from, src);
        p.meta.flags = (p.meta.flags & !(Meta::TO_US | Meta::L2_MULTICAST | Meta::L3_MULTICAST))
            | Meta::ORIGINATED;
        Verdict::Next(TO_IP6_LOOKUP)
    }

    /// RFC 4861 §7.1.1 validation, §7.2.3 processing, §7.2.4 response.
    fn ndp_ns(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hops: u8,
    ) -> Verdict {
        let iface = p.meta.iface;
        let l4 = p.meta.l4 as usize;
        let ns = match p.data().get(l4..).map(NeighborSolicit::new_checked) {
            Some(Ok(ns)) => ns,
            Some(Err(NdpError::Truncated)) => return Verdict::Drop(DropReason::NdpTruncated),
            _ => return Verdict::Drop(DropReason::NdpInvalid),
        };
        if hops != 255 || ns.options().check().is_err() {
            return Verdict::Drop(DropReason::NdpInvalid);
        }
        let target = ns.target();
        let slla = ns.source_lladdr();
        let dad = src.is_unspecified();
        if target.is_multicast() || (dad && (slla.is_some() || !dst.is_multicast())) {
            return Verdict::Drop(DropReason::NdpInvalid);
        }
        // RFC 4861 §7.2.3 would update the cache and answer to the SLLA:
        // neither for an address no station has (the NA is not sent).
        if slla.is_some_and(|l| self.bad_lladdr(l)) {
            return Verdict::Drop(DropReason::NdpBadLladdr);
        }
        let f = self.iface(iface);
        if f.link_local != target && !f.ipv6.iter().any(|&(a, _)| a == target) {
            return Verdict::Drop(DropReason::NdpNotForUs);
        }
        let mac = f.mac;
        let eth_src = {
            let mut m = [0u8; 6];
            m.copy_from_slice(&p.data()[6..12]);
            MacAddr(m)
        };
        if let (false, Some(l)) = (dad, slla) {
            self.learned(
                cx,
                Key {
                    iface,
                    ip: IpAddr::V6(src),
                },
                l,
                false,
                true,
                true,
            );
        }
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        let (na_dst, mac_dst) = if dad {
            (all_nodes, ipv6::multicast_mac(&all_nodes))
        } else {
            (src, slla.unwrap_or(eth_src))
        };
        let na = NeighborAdvertRepr {
            router: true,
            solicited: !dad,
            override_: true,
            target,
        };
        p.set_len(L2 + ipv6::HEADER_LEN + 32);
        let n = super::resolve::ndp_message(&mut p.data_mut()[L2..], target, na_dst, |msg| {
            let n = na.emit(msg).ok()?;
            Some(n + emit_tlla(&mut msg[n..], mac).ok()?)
        });
        if n == 0 {
            return Verdict::Drop(DropReason::NdpInvalid);
        }
        p.set_len(L2 + n);
        p.meta.ethertype = 0x86dd;
        self.send_on(p, iface, mac_dst)
    }

    /// RFC 4861 §7.1.2 validation, §7.2.5 processing.
    fn ndp_na(&mut self, cx: &mut Ctx<'_>, p: &mut Packet<'_>, dst: Ipv6Addr, hops: u8) -> Verdict {
        let iface = p.meta.iface;
        let l4 = p.meta.l4 as usize;
        let na = match p.data().get(l4..).map(NeighborAdvert::new_checked) {
            Some(Ok(na)) => na,
            Some(Err(NdpError::Truncated)) => return Verdict::Drop(DropReason::NdpTruncated),
            _ => return Verdict::Drop(DropReason::NdpInvalid),
        };
        if hops != 255
            || na.options().check().is_err()
            || na.target().is_multicast()
            || (na.solicited() && dst.is_multicast())
        {
            return Verdict::Drop(DropReason::NdpInvalid);
        }
        if let Some(mac) = na.target_lladdr() {
            if self.bad_lladdr(mac) {
                return Verdict::Drop(DropReason::NdpBadLladdr);
            }
            let (target, solicited, overrides) = (na.target(), na.solicited(), na.override_());
            let key = Key {
                iface,
                ip: IpAddr::V6(target),
            };
            let create = solicited && self.bus.asked_recently(&key, cx.now_ns);
            // A solicited advertisement (unicast to us: checked above) that
            // answers a solicitation this router sent within the last few
            // seconds, maybe from another worker whose queue the answer did
            // not land on, creates the entry here too (otherwise this
            // worker would solicit the same neighbour again on its first
            // packet). Any other advertisement only updates entries: with
            // no entry it is discarded (RFC 4861 §7.2.5), so a forged
            // solicited NA cannot plant one.
            self.learned(cx, key, mac, solicited, overrides, create);
        }
        Verdict::Local
    }
}

/// The offset of the Routing Type of a Routing header whose Segments
/// Left is not 0 in the IPv6 packet at `L2` (upper-layer header at `upper`)
/// (ip6-input walked the chain: every header before `upper` is whole).
fn routing_pending(d: &[u8], upper: usize) -> Option<usize> {
    let mut nh = *d.get(L2 + 6)?;
    let mut off = L2 + ipv6::HEADER_LEN;
    while off < upper {
        let len = match nh {
            ipv6::ext::FRAGMENT => 8,
            ipv6::ext::AH => (usize::from(*d.get(off + 1)?) + 2) * 4,
            ipv6::ext::ROUTING if *d.get(off + 3)? > 0 => return Some(off + 2),
            _ => (usize::from(*d.get(off + 1)?) + 1) * 8,
        };
        nh = *d.get(off)?;
        off += len;
    }
    None
}
