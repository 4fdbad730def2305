//! IPv6 fixed header (RFC 8200 § 3), a bounded walk over the extension
//! headers (RFC 8200 § 4), and the address helpers neighbour discovery
//! needs (RFC 4291, RFC 2464).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +                         Source Address                        +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +                      Destination Address                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use super::ethernet::MacAddr;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Next Header values of the extension headers walked by
/// [`walk_ext_headers`] (RFC 8200 § 4.1, RFC 7045).
pub mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const NO_NEXT_HEADER: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Why a buffer is not an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv6Error {
    /// Shorter than 40 bytes or than 40 + Payload Length.
    #[error("truncated IPv6 packet")]
    Truncated,
    #[error("IP version is not 6")]
    BadVersion,
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(..16) {
        a.copy_from_slice(s);
    }
    Ipv6Addr::from(a)
}

fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// A view of an IPv6 packet at the start of `buffer`.
///
/// The buffer may extend past the payload (Ethernet padding);
/// [`payload`](Self::payload) stops at Payload Length. Jumbograms
/// (Payload Length 0 with a Jumbo Payload option, RFC 2675) do not occur on
/// Ethernet and are read as an empty payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates version and lengths once; afterwards no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self, Ipv6Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Ipv6Error::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(Ipv6Error::BadVersion);
        }
        if HEADER_LEN + usize::from(be16(&b[field::LENGTH])) > b.len() {
            return Err(Ipv6Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word0(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    /// Traffic Class octet (DSCP << 2 | ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.word0() >> 20) as u8
    }

    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 3
    }

    /// 20-bit flow label ([RFC 6437]).
    pub fn flow_label(&self) -> u32 {
        self.word0() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::SRC])
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[field::DST])
    }

    /// Octets after the fixed header, up to Payload Length.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(b.len());
        b.get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// Walks the extension headers of the payload; see [`walk_ext_headers`].
    pub fn walk_ext_headers(&self, max_headers: usize) -> Result<ExtWalk, ExtError> {
        walk_ext_headers(self.payload(), self.next_header(), max_headers)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_word0(&mut self, v: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.word0() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_word0(w);
    }

    /// Sets the flow label (the top 12 bits of `label` are ignored).
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.word0() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_word0(w);
    }

    /// Sets Payload Length. A value beyond the buffer is stored as given;
    /// [`payload`](Self::payload) then stops at the end of the buffer.
    pub fn set_payload_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = nh;
    }

    pub fn set_hop_limit(&mut self, hl: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hl;
    }

    /// Decrements Hop Limit (no checksum in IPv6) and returns the new value;
    /// 0 stays 0.
    pub fn decrement_hop_limit(&mut self) -> u8 {
        let hl = self.hop_limit().saturating_sub(1);
        self.set_hop_limit(hl);
        hl
    }

    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    pub fn set_dst(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Mutable octets after the fixed header, up to Payload Length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.payload_len());
        let b = self.buffer.as_mut();
        let end = (HEADER_LEN + len).min(b.len());
        b.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// The fields of an IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: u16,
    pub traffic_class: u8,
    pub flow_label: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            payload_len: p.payload_len(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
        }
    }

    /// Writes the 40-byte fixed header at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Ipv6Error> {
        let h = buf.get_mut(..HEADER_LEN).ok_or(Ipv6Error::Truncated)?;
        let w = (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xfffff);
        h[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
        h[field::LENGTH].copy_from_slice(&self.payload_len.to_be_bytes());
        h[field::NXT_HDR] = self.next_header;
        h[field::HOP_LIMIT] = self.hop_limit;
        h[field::SRC].copy_from_slice(&self.src.octets());
        h[field::DST].copy_from_slice(&self.dst.octets());
        Ok(())
    }
}

/// Fragment header contents ([RFC 8200 § 4.5]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    /// Offset of this fragment's data in bytes.
    pub offset_bytes: u16,
    /// M flag: more fragments follow.
    pub more: bool,
    pub ident: u32,
}

/// Result of [`walk_ext_headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtWalk {
    /// The first Next Header value that is not a walked extension header:
    /// an upper-layer protocol, 59 (No Next Header) or 50 (ESP).
    pub upper_proto: u8,
    /// Where that header starts, counted from the start of the payload.
    pub upper_offset: usize,
    /// Present when a Fragment header was seen.
    pub fragment: Option<FragInfo>,
    /// Number of extension headers walked.
    pub headers: u8,
}

/// Why the extension-header chain could not be walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExtError {
    #[error("IPv6 extension header runs past the packet")]
    Truncated,
    #[error("more IPv6 extension headers than allowed")]
    TooMany,
    /// [RFC 8200 § 4.1]: "The Hop-by-Hop Options header, when present, must
    /// immediately follow the IPv6 header."
    #[error("IPv6 Hop-by-Hop Options header not first")]
    HopByHopNotFirst,
}

/// Walks at most `max_headers` extension headers of `payload` (the octets
/// after the fixed header), starting with Next Header value `first`.
///
/// Walked: Hop-by-Hop (0), Routing (43), Fragment (44), Destination
/// Options (60), AH (51), and the other headers of the RFC 6564 uniform
/// format (Mobility 135, HIP 139, Shim6 140).
///
/// ```text
///   [RFC 8200 § 4.3] Hdr Ext Len  8-bit unsigned integer.  Length of the
///   Hop-by-Hop Options header in 8-octet units, not including the first
///   8 octets.
///   [RFC 4302 § 2.2] Payload Len  ... the length of AH in 32-bit words
///   (4-byte units), minus "2".
/// ```
///
/// The walk stops at ESP (its contents are encrypted), at No Next Header,
/// at any other protocol, and after a Fragment header with a non-zero
/// offset: a non-first fragment carries data, not headers (RFC 8200 § 4.5),
/// so `upper_proto` is then the fragment's Next Header and `upper_offset`
/// points at fragment data.
pub fn walk_ext_headers(
    payload: &[u8],
    first: u8,
    max_headers: usize,
) -> Result<ExtWalk, ExtError> {
    let mut nh = first;
    let mut off = 0usize;
    let mut count = 0usize;
    let mut fragment = None;
    loop {
        let generic = matches!(
            nh,
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS | ext::MOBILITY | ext::HIP | ext::SHIM6
        );
        if !generic && nh != ext::AH && nh != ext::FRAGMENT {
            break;
        }
        if count == max_headers {
            return Err(ExtError::TooMany);
        }
        if nh == ext::HOP_BY_HOP && count != 0 {
            return Err(ExtError::HopByHopNotFirst);
        }
        let len = if nh == ext::FRAGMENT {
            8
        } else {
            let l = payload.get(off + 1).ok_or(ExtError::Truncated)?;
            if generic {
                (usize::from(*l) + 1) * 8
            } else {
                (usize::from(*l) + 2) * 4
            }
        };
        let h = payload.get(off..off + len).ok_or(ExtError::Truncated)?;
        count += 1;
        let this = nh;
        nh = h[0];
        off += len;
        if this == ext::FRAGMENT {
            // Fragment Offset (13 bits, 8-octet units) | Res (2) | M (1).
            let w = be16(&h[2..4]);
            let frag = FragInfo {
                offset_bytes: w & 0xfff8,
                more: w & 1 != 0,
                ident: be32(&h[4..8]),
            };
            fragment = Some(frag);
            if frag.offset_bytes != 0 {
                break;
            }
        }
    }
    Ok(ExtWalk {
        upper_proto: nh,
        upper_offset: off,
        fragment,
        headers: u8::try_from(count).unwrap_or(u8::MAX),
    })
}

/// `ff00::/8` ([RFC 4291 § 2.7]).
pub fn is_multicast(addr: &Ipv6Addr) -> bool {
    addr.octets()[0] == 0xff
}

/// Solicited-node multicast address of `addr`: `ff02::1:ff00:0/104` plus
/// the low 24 bits ([RFC 4291 § 2.7.1]).
pub fn solicited_node(addr: &Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// Ethernet destination for an IPv6 multicast address: `33:33` followed by
/// the low 32 bits ([RFC 2464 § 7]).
pub fn multicast_mac(addr: &Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// Link-local address `fe80::/64` with a modified EUI-64 interface
/// identifier: `ff:fe` inserted in the middle of the MAC and the
/// universal/local bit inverted ([RFC 4291 Appendix A]).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    // UDP 2001:db8::1 -> 2001:db8::2, DSCP EF, flow label 0x12345, plus
    // 2 octets of padding after the payload.
    static PACKET: [u8; 54] = [
        0x6b, 0x81, 0x23, 0x45, // version 6, traffic class 0xb8, flow label 0x12345
        0x00, 0x0c, 0x11, 0x40, // payload length 12, next header UDP, hop limit 64
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // src 2001:db8::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //     ...:1
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // dst 2001:db8::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, //     ...:2
        0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0x00, 0x00, // payload: UDP header
        0xde, 0xad, 0xbe, 0xef, // payload: data
        0x00, 0x00, // padding
    ];

    fn repr() -> Repr {
        Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: 17,
            hop_limit: 64,
            payload_len: 12,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!((p.dscp(), p.ecn()), (46, 0));
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 12);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), repr().src);
        assert_eq!(p.dst_addr(), repr().dst);
        assert_eq!(p.payload(), &PACKET[40..52]);
        let w = p.walk_ext_headers(8).unwrap();
        assert_eq!(
            (w.upper_proto, w.upper_offset, w.headers, w.fragment),
            (17, 0, 0, None)
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 54];
        buf[0] = 0x60;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_traffic_class(0xb8);
        p.set_flow_label(0xfff1_2345);
        p.set_payload_len(12);
        p.set_next_header(17);
        p.set_hop_limit(65);
        assert_eq!(p.decrement_hop_limit(), 64);
        p.set_src(repr().src);
        p.set_dst(repr().dst);
        p.payload_mut().copy_from_slice(&PACKET[40..52]);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(Repr::parse(&p), repr());
        let (h, _) = etherparse::Ipv6Header::from_slice(&PACKET).unwrap();
        assert_eq!(h.flow_label.value(), p.flow_label());
        assert_eq!(h.traffic_class, p.traffic_class());
    }

    #[test]
    fn emit() {
        let mut buf = PACKET;
        buf[..40].fill(0xaa);
        repr().emit(&mut buf).unwrap();
        assert_eq!(buf, PACKET);
        assert_eq!(repr().emit(&mut [0u8; 39]), Err(Ipv6Error::Truncated));
    }

    #[test]
    fn length_and_version_errors() {
        assert_eq!(
            Packet::new_checked(&PACKET[..39]).err(),
            Some(Ipv6Error::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&PACKET[..51]).err(),
            Some(Ipv6Error::Truncated)
        );
        assert!(Packet::new_checked(&PACKET[..52]).is_ok());
        let mut b = PACKET;
        b[0] = 0x4b;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(Ipv6Error::BadVersion)
        );
        let mut b = PACKET;
        b[5] = 0; // payload length 0: empty payload
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.payload().is_empty());
        let mut b = PACKET;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_payload_len(0xffff);
        assert_eq!(p.payload().len(), 14);
        assert_eq!(p.payload_mut().len(), 14);
        p.set_hop_limit(0);
        assert_eq!(p.decrement_hop_limit(), 0);
    }

    // Hop-by-Hop, Routing, Fragment (first fragment), then UDP.
    static CHAIN: [u8; 40] = [
        0x2b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH: next Routing, len 0, PadN
        0x2c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // Routing: next Fragment, len 1 (16 octets)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //   routing data continued
        0x11, 0x00, 0x00, 0x01, 0xca, 0xfe, 0xf0,
        0x0d, // Fragment: next UDP, offset 0, M, ident
        0x04, 0xd2, 0x16, 0x2e, 0x00, 0x08, 0x00, 0x00, // UDP header
    ];

    #[test]
    fn walk_chain() {
        let w = walk_ext_headers(&CHAIN, ext::HOP_BY_HOP, 8).unwrap();
        assert_eq!(w.upper_proto, 17);
        assert_eq!(w.upper_offset, 32);
        assert_eq!(w.headers, 3);
        assert_eq!(
            w.fragment,
            Some(FragInfo {
                offset_bytes: 0,
                more: true,
                ident: 0xcafe_f00d
            })
        );
        assert_eq!(walk_ext_headers(&CHAIN, 0, 2), Err(ExtError::TooMany));
        assert!(walk_ext_headers(&CHAIN, 0, 3).is_ok());
        // Every prefix that cuts a header is Truncated; none panics.
        for n in 0..CHAIN.len() {
            let r = walk_ext_headers(&CHAIN[..n], 0, 8);
            if n < 32 {
                assert_eq!(r, Err(ExtError::Truncated), "{n}");
            } else {
                assert!(r.is_ok());
            }
        }
    }

    #[test]
    fn walk_non_first_fragment_stops() {
        // Fragment: next TCP, offset 1448 bytes (181 units), M=0.
        let f = [0x06, 0x00, 0x05, 0xa8, 0, 0, 0, 7, 0xff, 0xff];
        let w = walk_ext_headers(&f, ext::FRAGMENT, 8).unwrap();
        assert_eq!((w.upper_proto, w.upper_offset, w.headers), (6, 8, 1));
        assert_eq!(
            w.fragment,
            Some(FragInfo {
                offset_bytes: 1448,
                more: false,
                ident: 7
            })
        );
    }

    #[test]
    fn walk_ah_esp_none_and_order() {
        // AH with Payload Len 4: (4 + 2) * 4 = 24 octets, then ICMPv6.
        let mut ah = [0u8; 28];
        ah[0] = 58;
        ah[1] = 4;
        let w = walk_ext_headers(&ah, ext::AH, 8).unwrap();
        assert_eq!((w.upper_proto, w.upper_offset), (58, 24));
        assert_eq!(
            walk_ext_headers(&ah[..23], ext::AH, 8),
            Err(ExtError::Truncated)
        );

        let w = walk_ext_headers(&[0xaa; 16], ext::ESP, 8).unwrap();
        assert_eq!((w.upper_proto, w.upper_offset, w.headers), (50, 0, 0));

        let dst = [ext::NO_NEXT_HEADER, 0, 1, 4, 0, 0, 0, 0, 0xee];
        let w = walk_ext_headers(&dst, ext::DEST_OPTS, 8).unwrap();
        assert_eq!((w.upper_proto, w.upper_offset, w.headers), (59, 8, 1));

        let bad = [
            ext::HOP_BY_HOP,
            0,
            1,
            4,
            0,
            0,
            0,
            0,
            17,
            0,
            1,
            4,
            0,
            0,
            0,
            0,
        ];
        assert_eq!(
            walk_ext_headers(&bad, ext::DEST_OPTS, 8),
            Err(ExtError::HopByHopNotFirst)
        );
        assert_eq!(
            walk_ext_headers(&[], ext::HOP_BY_HOP, 0),
            Err(ExtError::TooMany)
        );
        assert_eq!(walk_ext_headers(&[], 6, 0).map(|w| w.upper_proto), Ok(6));
    }

    #[test]
    fn walk_garbage_never_panics() {
        let mut st = 7u32;
        for _ in 0..5000 {
            let mut b = [0u8; 48];
            for x in &mut b {
                st = st.wrapping_mul(1_103_515_245).wrapping_add(12345);
                // Bias towards extension-header numbers.
                *x = match (st >> 16) % 5 {
                    0 => 0,
                    1 => 43,
                    2 => 44,
                    3 => 60,
                    _ => (st >> 8) as u8,
                };
            }
            let _ = walk_ext_headers(&b[..(st as usize % 49)], b[0], 6);
        }
    }

    #[test]
    fn address_helpers() {
        let a: Ipv6Addr = "2001:db8::5054:12:3456".parse().unwrap();
        let sn = solicited_node(&a);
        assert_eq!(sn, "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        assert!(is_multicast(&sn) && !is_multicast(&a));
        assert_eq!(
            multicast_mac(&sn),
            MacAddr([0x33, 0x33, 0xff, 0x12, 0x34, 0x56])
        );
        assert_eq!(
            multicast_mac(&"ff02::1".parse().unwrap()),
            MacAddr([0x33, 0x33, 0, 0, 0, 1])
        );
        // RFC 4291 App. A: 52:54:00:12:34:56 -> 5054:00ff:fe12:3456.
        let ll = link_local_from_mac(MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(ll, "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
        let ll = link_local_from_mac(MacAddr([0x02, 0, 0, 0, 0, 1]));
        assert_eq!(ll, "fe80::ff:fe00:1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn prefixes_never_panic() {
        for n in 0..=PACKET.len() {
            if let Ok(p) = Packet::new_checked(&PACKET[..n]) {
                let _ = (
                    p.traffic_class(),
                    p.flow_label(),
                    p.payload(),
                    Repr::parse(&p),
                );
                let _ = p.walk_ext_headers(4);
            }
        }
    }
}
