//! ICMP / ICMPv6 errors, built in place: the offending packet becomes the
//! error's payload (RFC 792, RFC 1812 §4.3.2.3: as much of it as fits in
//! 576 bytes; RFC 4443 §2.4(c): as much as fits in the minimum MTU), a new
//! IP and ICMP header are written into the headroom in front of it, and
//! the result is routed back to the source like any packet we originate.
//!
//! Never sent (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e)): about an ICMP error,
//! about a non-first IPv4 fragment or a non-first fragment of an ICMPv6
//! message (which may be an error's), about a packet to or from a multicast or
//! broadcast address, or about a packet we originated ourselves; never
//! toward one of our own addresses (or a loopback / unspecified one); and
//! at most as fast as the per-worker token bucket allows.

use super::{Core, L2, TO_IP4_LOOKUP, TO_IP6_LOOKUP};
use crate::wire::{icmpv4, icmpv6, ipv4, ipv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};

const V4_LIMIT: usize = 576;
const V6_LIMIT: usize = 1280;

impl Core {
    fn icmp_allowed(
        &mut self,
        cx: &Ctx<'_>,
        m: &Meta,
        is_error_msg: bool,
    ) -> Result<(), DropReason> {
        if m.flags & (Meta::ORIGINATED | Meta::L2_MULTICAST | Meta::L3_MULTICAST) != 0
            || (m.flags & Meta::FRAGMENT != 0 && m.l4 == 0)
            || is_error_msg
        {
            return Err(DropReason::IcmpSuppressed);
        }
        if !self.icmp_limit.take(cx.now_ns) {
            return Err(DropReason::IcmpRateLimited);
        }
        Ok(())
    }

    /// Replaces the IPv4 packet in `p` by an ICMP error about it and
    /// returns `Next(TO_IP4_LOOKUP)` (or a drop when no error may be sent).
    pub(crate) fn icmp4_error(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Packet<'_>,
        msg_type: u8,
        code: u8,
        rest: u32,
    ) -> Verdict {
        let m = p.meta;
        let d = p.data();
        let Ok(ip) = ipv4::Packet::new_checked(&d[L2.min(d.len())..]) else {
            return Verdict::Drop(DropReason::Ip4Malformed);
        };
        let orig_src = ip.src_addr();
        let about_error = ip.protocol() == ipv4::proto::ICMP
            && m.l4 != 0
            && d.get(m.l4 as usize).is_some_and(|&t| icmpv4::is_error(t));
        self.icmp4_error_about(cx, p, orig_src, about_error, msg_type, code, rest)
    }

    /// As [`Router::icmp4_error`], for a packet at `L2..` that may be
    /// truncated (a quoted packet being relayed): the caller read its
    /// source and whether it is an ICMP error.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn icmp4_error_about(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Packet<'_>,
        orig_src: std::net::Ipv4Addr,
        about_error: bool,
        msg_type: u8,
        code: u8,
        rest: u32,
    ) -> Verdict {
        let m = p.meta;
        let d = p.data();
        // Never toward a broadcast, multicast, unspecified or loopback
        // address, nor toward ourselves (we would resolve our own address).
        if super::parse::martian4(orig_src)
            || orig_src.is_multicast()
            || orig_src.is_broadcast()
            || self.is_bcast4(orig_src)
            || self.is_local4(orig_src)
        {
            return Verdict::Drop(DropReason::IcmpSuppressed);
        }
        if let Err(r) = self.icmp_allowed(cx, &m, about_error) {
            return Verdict::Drop(r);
        }
        let Some(src) = self.src4(m.iface, orig_src) else {
            return Verdict::Drop(DropReason::IcmpNoSource);
        };
        let keep = (d.len() - L2).min(V4_LIMIT - ipv4::HEADER_LEN - icmpv4::HEADER_LEN);
        let hdr = ipv4::HEADER_LEN + icmpv4::HEADER_LEN;
        if p.push_head(hdr).is_none() {
            return Verdict::Drop(DropReason::IcmpNoHeadroom);
        }
        p.set_len(L2 + hdr + keep);
        let d = p.data_mut();
        d[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let repr = ipv4::Repr {
            src,
            dst: orig_src,
            protocol: ipv4::proto::ICMP,
            ttl: 64,
            payload_len: (icmpv4::HEADER_LEN + keep) as u16,
            dscp_ecn: 0xc0, // CS6, network control (RFC 4594)
            dont_frag: false,
            ident: 0,
        };
        if repr.emit(&mut d[L2..L2 + ipv4::HEADER_LEN]).is_err() {
            return Verdict::Drop(DropReason::IcmpHeaderWriteFailed);
        }
        let icmp = icmpv4::Repr {
            msg_type,
            code,
            rest_of_header: rest,
        };
        if icmp.emit(&mut d[L2 + ipv4::HEADER_LEN..]).is_err() {
            return Verdict::Drop(DropReason::IcmpHeaderWriteFailed);
        }
        p.meta = Meta {
            l3: L2 as u16,
            l4: (L2 + ipv4::HEADER_LEN) as u16,
            ethertype: 0x0800,
            proto: ipv4::proto::ICMP,
            flags: Meta::ORIGINATED,
            ..m
        };
        Verdict::Next(TO_IP4_LOOKUP)
    }

    /// Replaces the IPv6 packet in `p` by an ICMPv6 error about it and
    /// returns `Next(TO_IP6_LOOKUP)` (or a drop).
    pub(crate) fn icmp6_error(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Packet<'_>,
        msg_type: u8,
        code: u8,
        word1: u32,
    ) -> Verdict {
        let m = p.meta;
        let d = p.data();
        let Ok(ip) = ipv6::Packet::new_checked(&d[L2.min(d.len())..]) else {
            return Verdict::Drop(DropReason::Ip6Malformed);
        };
        let orig_src = ip.src_addr();
        // A non-first fragment of an ICMPv6 message carries no type, only
        // data: it may be part of an error message, so it is treated as
        // one (RFC 4443 §2.4(e.1): never an error about an error). (A
        // non-first TCP / UDP fragment may be answered: RFC 4443 has no
        // rule like RFC 1812's for IPv4.)
        let non_first = m.flags & Meta::FRAGMENT != 0
            && ip
                .walk_ext_headers(super::parse::MAX_EXT_HEADERS)
                .ok()
                .and_then(|w| w.fragment)
                .is_some_and(|f| f.offset_bytes != 0);
        let about_error = m.proto == icmpv6::NEXT_HEADER
            && m.l4 != 0
            && (non_first || d.get(m.l4 as usize).is_some_and(|&t| icmpv6::is_error(t)));
        self.icmp6_error_about(cx, p, orig_src, about_error, msg_type, code, word1)
    }

    /// As [`Router::icmp6_error`], for a packet at `L2..` that may be
    /// truncated (a quoted packet being relayed).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn icmp6_error_about(
        &mut self,
        cx: &Ctx<'_>,
        p: &mut Packet<'_>,
        orig_src: std::net::Ipv6Addr,
        about_error: bool,
        msg_type: u8,
        code: u8,
        word1: u32,
    ) -> Verdict {
        let m = p.meta;
        let d = p.data();
        if orig_src.is_unspecified()
            || orig_src.is_multicast()
            || orig_src.is_loopback()
            || self.is_own_src6(orig_src, m.iface)
        {
            return Verdict::Drop(DropReason::IcmpSuppressed);
        }
        if let Err(r) = self.icmp_allowed(cx, &m, about_error) {
            return Verdict::Drop(r);
        }
        let src = self.src6(m.iface, orig_src);
        let hdr = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
        let keep = (d.len() - L2).min(V6_LIMIT - hdr);
        if p.push_head(hdr).is_none() {
            return Verdict::Drop(DropReason::IcmpNoHeadroom);
        }
        p.set_len(L2 + hdr + keep);
        let d = p.data_mut();
        d[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        let repr = ipv6::Repr {
            src,
            dst: orig_src,
            next_header: icmpv6::NEXT_HEADER,
            hop_limit: 64,
            payload_len: (icmpv6::HEADER_LEN + keep) as u16,
            traffic_class: 0xc0,
            flow_label: 0,
        };
        if repr.emit(&mut d[L2..L2 + ipv6::HEADER_LEN]).is_err() {
            return Verdict::Drop(DropReason::IcmpHeaderWriteFailed);
        }
        let icmp = icmpv6::Repr {
            msg_type,
            code,
            word1,
        };
        if icmp
            .emit(&mut d[L2 + ipv6::HEADER_LEN..], src, orig_src)
            .is_err()
        {
            return Verdict::Drop(DropReason::IcmpHeaderWriteFailed);
        }
        p.meta = Meta {
            l3: L2 as u16,
            l4: (L2 + ipv6::HEADER_LEN) as u16,
            ethertype: 0x86dd,
            proto: icmpv6::NEXT_HEADER,
            flags: Meta::ORIGINATED,
            ..m
        };
        Verdict::Next(TO_IP6_LOOKUP)
    }
}
