//! ethernet-input (Ethernet, 802.1Q, interface lookup) and ip4-input /
//! ip6-input (validation, the IPv6 extension-header walk, and the one
//! decision per packet: to us, to forward, or drop).

use super::{Core, L2};
use crate::nodes::Node;
use crate::wire::{ethernet, ipv4, ipv6, vlan};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

/// ethernet-input: the Ethernet header and any 802.1Q tag (removed), the
/// logical interface, our MAC or multicast; then by EtherType.
pub struct EthernetInput;
const TO_ARP: u8 = 0;
const TO_IP4: u8 = 1;
const TO_IP6: u8 = 2;

impl Node<Core> for EthernetInput {
    fn name(&self) -> &'static str {
        "ethernet-input"
    }
    fn next(&self) -> &[&'static str] {
        &["arp-input", "ip4-input", "ip6-input", "drop"]
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[L2Runt, L2NoInterface, L2NotForUs, L2UnknownEthertype]
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
            v[i as usize] = core.parse(&mut pkts[i as usize]);
        }
    }
}

/// ip4-input / ip6-input: header validation (and the IPv6 extension-header
/// walk), source and destination policy, and the one decision: to us
/// (ip4-local / ip6-local) or to forward (ip4-lookup / ip6-lookup).
pub struct Ip4Input;
pub struct Ip6Input;
const TO_LOCAL: u8 = 0;
const TO_LOOKUP: u8 = 1;

impl Node<Core> for Ip4Input {
    fn name(&self) -> &'static str {
        "ip4-input"
    }
    fn next(&self) -> &[&'static str] {
        &["ip4-local", "ip4-lookup", "drop"]
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[
            Ip4Malformed,
            Ip4BadChecksum,
            Ip4MartianSource,
            Ip4OwnSource,
            Ip4NotForwarded,
            Ip4MartianDestination,
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
            let mut m = p.meta;
            v[i as usize] = core.parse4(p, &mut m);
            p.meta = m;
        }
    }
}

impl Node<Core> for Ip6Input {
    fn name(&self) -> &'static str {
        "ip6-input"
    }
    fn next(&self) -> &[&'static str] {
        &["ip6-local", "ip6-lookup", "drop"]
    }
    fn drops(&self) -> &'static [DropReason] {
        use DropReason::*;
        &[
            Ip6Malformed,
            Ip6BadExtHeader,
            Ip6MartianSource,
            Ip6OwnSource,
            Ip6NotForwarded,
            Ip6MartianDestination,
            Ip6LinkLocalNotForwarded,
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
            let mut m = p.meta;
            v[i as usize] = core.parse6(p, &mut m);
            p.meta = m;
        }
    }
}

const ETH_ARP: u16 = 0x0806;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
/// Extension headers walked at most (RFC 8200 leaves the chain unbounded;
/// RFC 7045 lets a router drop what it cannot walk).
pub(crate) const MAX_EXT_HEADERS: usize = 8;

impl Core {
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
            ETH_ARP => Verdict::Next(TO_ARP),
            ETH_IPV4 => Verdict::Next(TO_IP4),
            ETH_IPV6 => Verdict::Next(TO_IP6),
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
            || self.is_bcast4(src)
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
        let bcast = dst.is_broadcast() || self.is_bcast4(dst);
        if dst.is_multicast() || bcast {
            m.flags |= Meta::L3_MULTICAST;
            // Only broadcasts (and no multicast groups) are for us.
            return if bcast {
                Verdict::Next(TO_LOCAL)
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
            return Verdict::Next(TO_LOCAL);
        }
        // RFC 1812 §5.3.4: a unicast packet received as a link-layer
        // broadcast or multicast is never forwarded (every router on the
        // link would forward a copy), and no error is sent about it.
        if m.flags & Meta::L2_MULTICAST != 0 {
            return Verdict::Drop(Ip4NotForwarded);
        }
        Verdict::Next(TO_LOOKUP)
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
                Verdict::Next(TO_LOCAL)
            } else {
                Verdict::Drop(Ip6NotForwarded)
            };
        }
        let is_ll = |a: std::net::Ipv6Addr| (a.segments()[0] & 0xffc0) == 0xfe80;
        if martian6(dst) {
            return Verdict::Drop(Ip6MartianDestination);
        }
        if self.is_own_src6(dst, m.iface) {
            m.flags |= Meta::TO_US;
            return Verdict::Next(TO_LOCAL);
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
        Verdict::Next(TO_LOOKUP)
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
