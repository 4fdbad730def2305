//! PARSE: Ethernet (+802.1Q), interface lookup, ARP/IPv4/IPv6 validation,
//! the IPv6 extension-header walk, and the one decision per frame: to us,
//! to forward, or drop.

use super::{Router, ARP, FWD4, FWD6, L2, LOCAL4, LOCAL6};
use crate::wire::{ethernet, ipv4, ipv6, vlan};
use crate::{DropReason, Meta, Packet, Verdict};

const ETH_ARP: u16 = 0x0806;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
/// IP-in-IP protocol numbers (RFC 2003, RFC 4213).
const IPIP: u8 = 4;
const IPV6_IN_IP: u8 = 41;
/// Extension headers walked at most (RFC 8200 leaves the chain unbounded;
/// RFC 7045 lets a router drop what it cannot walk).
const MAX_EXT_HEADERS: usize = 8;

impl Router {
    pub(crate) fn parse(&mut self, p: &mut Packet<'_>) -> Verdict {
        use DropReason::*;
        let d = p.data();
        let Some(eth) = ethernet::Frame::new_checked(d) else {
            return Verdict::Drop(L2Runt);
        };
        let dst = eth.dst();
        let mut ethertype = eth.ethertype();
        let mut vid = 0;
        if vlan::is_tpid(ethertype) {
            let Some(tag) = vlan::parse_tag(d) else {
                return Verdict::Drop(L2Runt);
            };
            vid = tag.vid;
            ethertype = tag.inner_ethertype;
            // Strip the tag: move the two MACs over it.
            p.data_mut().copy_within(0..12, vlan::TAG_LEN);
            p.pull_head(vlan::TAG_LEN);
        }
        let Some(iface) = self.iface_of(p.port.index(), vid) else {
            return Verdict::Drop(L2NoInterface);
        };
        let mut meta = Meta {
            l3: L2 as u16,
            ethertype,
            vlan: vid,
            iface,
            ..Meta::default()
        };
        if dst.is_multicast() {
            meta.flags |= Meta::L2_MULTICAST;
        } else if dst != self.iface(iface).mac {
            return Verdict::Drop(L2NotForUs);
        }
        let v = match ethertype {
            ETH_ARP => Verdict::Next(ARP),
            ETH_IPV4 => self.parse4(p, &mut meta),
            ETH_IPV6 => self.parse6(p, &mut meta),
            _ => Verdict::Drop(L2UnknownEthertype),
        };
        p.meta = meta;
        v
    }

    pub(crate) fn parse4(&mut self, p: &mut Packet<'_>, m: &mut Meta) -> Verdict {
        use DropReason::*;
        let Some(l3) = p.data().get(L2..) else {
            return Verdict::Drop(Ip4Malformed);
        };
        let ip = match ipv4::Packet::new_checked(l3) {
            Ok(ip) => ip,
            Err(_) => return Verdict::Drop(Ip4Malformed),
        };
        if !ip.verify_checksum() {
            return Verdict::Drop(Ip4BadChecksum);
        }
        let (src, dst, total, hl) = (
            ip.src_addr(),
            ip.dst_addr(),
            ip.total_len() as usize,
            ip.header_len(),
        );
        m.proto = ip.protocol();
        if ip.is_fragment() {
            m.flags |= Meta::FRAGMENT;
        }
        m.l4 = if ip.frag_offset() == 0 {
            (L2 + hl) as u16
        } else {
            0
        };
        // Ethernet padding is not part of the packet.
        p.set_len(L2 + total);
        if src.is_multicast()
            || src.is_broadcast()
            || src.is_unspecified()
            || src.is_loopback()
            || self.bcast4.contains(&src)
        {
            return Verdict::Drop(Ip4MartianSource);
        }
        // Nobody outside (nor inside a tunnel) sends from our addresses:
        // a spoof, or a loop; answering it would make us resolve ourselves.
        if self.is_local4(src) {
            return Verdict::Drop(Ip4OwnSource);
        }
        // The limited broadcast, or the directed broadcast of any of our
        // subnets: received, never forwarded (RFC 2644 makes not
        // forwarding directed broadcasts the default; forwarding one as
        // unicast would ARP for the broadcast address).
        let bcast = dst.is_broadcast() || self.bcast4.contains(&dst);
        if dst.is_multicast() || bcast {
            m.flags |= Meta::L3_MULTICAST;
            // Only broadcasts (and no multicast groups) are for us.
            return if bcast {
                Verdict::Next(LOCAL4)
            } else {
                Verdict::Drop(Ip4NotForwarded)
            };
        }
        // RFC 1812 §5.3.7 (and RFC 6890): "this network", loopback and
        // the reserved class E are never forwarded (nor ours).
        if martian4(dst) {
            return Verdict::Drop(Ip4MartianDestination);
        }
        if self.is_local4(dst) {
            m.flags |= Meta::TO_US;
            if m.proto == IPIP || m.proto == IPV6_IN_IP {
                return self.decap(p, m);
            }
            return Verdict::Next(LOCAL4);
        }
        // RFC 1812 §5.3.4: a unicast packet received as a link-layer
        // broadcast or multicast is never forwarded (every router on the
        // link would forward a copy), and no error is sent about it.
        if m.flags & Meta::L2_MULTICAST != 0 {
            return Verdict::Drop(Ip4NotForwarded);
        }
        Verdict::Next(FWD4)
    }

    pub(crate) fn parse6(&mut self, p: &mut Packet<'_>, m: &mut Meta) -> Verdict {
        use DropReason::*;
        let Some(l3) = p.data().get(L2..) else {
            return Verdict::Drop(Ip6Malformed);
        };
        let ip = match ipv6::Packet::new_checked(l3) {
            Ok(ip) => ip,
            Err(_) => return Verdict::Drop(Ip6Malformed),
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let walk = match ip.walk_ext_headers(MAX_EXT_HEADERS) {
            Ok(w) => w,
            Err(_) => return Verdict::Drop(Ip6BadExtHeader),
        };
        m.proto = walk.upper_proto;
        m.l4 = (L2 + ipv6::HEADER_LEN + walk.upper_offset) as u16;
        if walk.fragment.is_some() {
            m.flags |= Meta::FRAGMENT;
        }
        let total = L2 + ipv6::HEADER_LEN + ip.payload_len() as usize;
        p.set_len(total);
        if src.is_multicast() || src.is_loopback() {
            return Verdict::Drop(Ip6MartianSource);
        }
        if self.is_own_src6(src, m.iface) {
            return Verdict::Drop(Ip6OwnSource);
        }
        if dst.is_multicast() {
            m.flags |= Meta::L3_MULTICAST;
            // All-nodes, all-routers, or the solicited-node group of one of
            // our addresses on this interface.
            let seg = dst.segments();
            let ours = seg == [0xff02, 0, 0, 0, 0, 0, 0, 1]
                || seg == [0xff02, 0, 0, 0, 0, 0, 0, 2]
                || self
                    .local6
                    .iter()
                    .any(|&(a, f)| f == m.iface && ipv6::solicited_node(&a) == dst);
            return if ours {
                Verdict::Next(LOCAL6)
            } else {
                Verdict::Drop(Ip6NotForwarded)
            };
        }
        let is_ll = |a: std::net::Ipv6Addr| (a.segments()[0] & 0xffc0) == 0xfe80;
        if martian6(dst) {
            return Verdict::Drop(Ip6MartianDestination);
        }
        if self
            .local6
            .iter()
            .any(|&(a, f)| a == dst && (!is_ll(a) || f == m.iface))
            || self.is_tunnel_local6(dst)
        {
            m.flags |= Meta::TO_US;
            if m.proto == IPIP || m.proto == IPV6_IN_IP {
                return self.decap(p, m);
            }
            return Verdict::Next(LOCAL6);
        }
        if is_ll(dst) || is_ll(src) {
            return Verdict::Drop(Ip6LinkLocalNotForwarded);
        }
        // As for IPv4 (RFC 1812 §5.3.4; RFC 4443 §2.4(e.4) forbids the
        // error too): unicast in a link-layer multicast is not forwarded.
        if m.flags & Meta::L2_MULTICAST != 0 {
            return Verdict::Drop(Ip6NotForwarded);
        }
        // RFC 4291 §2.5.2: "An IPv6 packet with a source address of
        // unspecified must never be forwarded by an IPv6 router."
        if src.is_unspecified() {
            return Verdict::Drop(Ip6MartianSource);
        }
        Verdict::Next(FWD6)
    }
}

/// An IPv4 destination never forwarded nor ours: 0.0.0.0/8, 127.0.0.0/8,
/// 240.0.0.0/4 but 255.255.255.255 (the limited broadcast, handled before).
#[inline]
pub(crate) fn martian4(a: std::net::Ipv4Addr) -> bool {
    let a = u32::from(a);
    let top = a >> 24;
    top == 0 || top == 127 || (top >= 240 && a != u32::MAX)
}

/// An IPv6 destination the IANA IPv6 Special-Purpose Address Registry
/// (RFC 6890) marks "Forwardable: False": ::/128, ::1/128,
/// ::ffff:0:0/96 (IPv4-mapped) and 100:0:0:1::/64 (the dummy prefix,
/// RFC 9780); fe80::/10 is `ip6.link_local_not_forwarded`. Forwardable
/// entries (64:ff9b::/96, 100::/64, 2001:db8::/32, fc00::/7, ...) pass.
#[inline]
pub(crate) fn martian6(a: std::net::Ipv6Addr) -> bool {
    let a = u128::from(a);
    a <= 1 || a >> 32 == 0xffff || a >> 64 == 0x0100_0000_0000_0001
}
