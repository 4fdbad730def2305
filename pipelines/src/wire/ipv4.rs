//! IPv4 header (RFC 791 § 3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |   DSCP    |ECN|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The old Type of Service octet is read as DSCP + ECN (RFC 2474 § 3,
//! RFC 3168 § 5).

use std::net::Ipv4Addr;

use super::checksum;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Protocol numbers (IANA "Assigned Internet Protocol Numbers").
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const IGMP: u8 = 2;
    /// IP in IP (RFC 2003).
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IPv4 (RFC 4213).
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    /// TTL and protocol as the one 16-bit word the checksum sees.
    pub const TTL_PROTO: Range<usize> = 8..10;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// Why a buffer is not an IPv4 packet. Each maps to one drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    /// Shorter than 20 bytes, than IHL says, or than Total Length says.
    #[error("truncated IPv4 packet")]
    Truncated,
    #[error("IP version is not 4")]
    BadVersion,
    /// IHL below 5 ([RFC 791 § 3.1]: "the minimum value for a correct
    /// header is 5").
    #[error("IPv4 IHL below 5")]
    BadIhl,
    /// Total Length smaller than the header.
    #[error("IPv4 total length smaller than the header")]
    BadTotalLength,
}

/// A view of an IPv4 packet at the start of `buffer`.
///
/// The buffer may extend past Total Length (Ethernet padding);
/// [`payload`](Self::payload) stops at Total Length.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates version, IHL and both lengths once; afterwards no accessor
    /// can panic.
    ///
    /// Total Length beyond the buffer is reported as `Truncated` (Linux
    /// counts it as InTruncatedPkts), below the header as `BadTotalLength`
    /// (InHdrErrors).
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Ipv4Error::BadVersion);
        }
        let hl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if hl < HEADER_LEN {
            return Err(Ipv4Error::BadIhl);
        }
        if hl > b.len() {
            return Err(Ipv4Error::Truncated);
        }
        let total = usize::from(be16(&b[field::LENGTH]));
        if total < hl {
            return Err(Ipv4Error::BadTotalLength);
        }
        if total > b.len() {
            return Err(Ipv4Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Header length in bytes (IHL × 4), 20..=60.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated Services Code Point ([RFC 2474 § 3]).
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// ECN field ([RFC 3168 § 5]).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The whole former TOS octet.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }

    fn flg_off(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLG_OFF])
    }

    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-octet units).
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) << 3
    }

    /// Part of a fragmented datagram: MF set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header, options included.
    pub fn header(&self) -> &[u8] {
        // `get` because `header_mut` lets a caller rewrite IHL.
        let b = self.buffer.as_ref();
        b.get(..self.header_len()).unwrap_or(b)
    }

    /// Option octets between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// Octets after the header, up to Total Length (padding excluded).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        b.get(self.header_len()..end).unwrap_or(&[])
    }

    /// Header checksum check ([RFC 791 § 3.1]: "The checksum field is the
    /// 16 bit one's complement of the one's complement sum of all 16 bit
    /// words in the header").
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.header())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set16(&mut self, at: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[at].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets TTL without touching the checksum.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    pub fn set_protocol(&mut self, proto: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = proto;
    }

    pub fn set_checksum(&mut self, csum: u16) {
        self.set16(field::CHECKSUM, csum);
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.header()));
        self.set_checksum(c);
    }

    pub fn set_src(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    pub fn set_dst(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }

    /// Sets Total Length. A value beyond the buffer is stored as given;
    /// [`payload`](Self::payload) then stops at the end of the buffer.
    pub fn set_total_len(&mut self, len: u16) {
        self.set16(field::LENGTH, len);
    }

    pub fn set_ident(&mut self, ident: u16) {
        self.set16(field::IDENT, ident);
    }

    /// Sets DF, MF and the fragment offset in bytes (the low 3 bits of
    /// `offset_bytes` are dropped: offsets count 8-octet units).
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, offset_bytes: u16) {
        let mut v = (offset_bytes >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        self.set16(field::FLG_OFF, v);
    }

    pub fn set_dscp_ecn(&mut self, tos: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = tos;
    }

    /// Decrements TTL by one, updates the checksum incrementally
    /// ([RFC 1624 § 3], [RFC 1812 § 5.3.1]) and returns the new TTL.
    /// A TTL of 0 is left alone (the caller should already have dropped it).
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        let old = be16(&self.buffer.as_ref()[field::TTL_PROTO]);
        self.set_ttl(ttl - 1);
        let new = be16(&self.buffer.as_ref()[field::TTL_PROTO]);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_checksum(c);
        ttl - 1
    }

    /// Mutable header octets (options included).
    pub fn header_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        let end = hl.min(b.len());
        &mut b[..end]
    }

    /// Mutable octets after the header, up to Total Length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let total = usize::from(self.total_len());
        let b = self.buffer.as_mut();
        let end = total.min(b.len());
        b.get_mut(hl..end).unwrap_or(&mut [])
    }
}

/// The meaningful fields of an option-less, unfragmented IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// Octets after the header.
    pub payload_len: u16,
    pub dscp_ecn: u8,
    pub dont_frag: bool,
    pub ident: u16,
}

impl Repr {
    /// Reads the fields of a validated packet. Options and fragment
    /// fields are not represented.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            // new_checked guarantees total_len >= header_len <= 60.
            payload_len: p.total_len().saturating_sub(p.header_len() as u16),
            dscp_ecn: p.dscp_ecn(),
            dont_frag: p.dont_frag(),
            ident: p.ident(),
        }
    }

    /// Header plus payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len)
    }

    /// Writes a 20-byte header with a valid checksum at the start of `buf`.
    /// Total Length is `20 + payload_len`, saturating at 65535.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), Ipv4Error> {
        let hdr = buf.get_mut(..HEADER_LEN).ok_or(Ipv4Error::Truncated)?;
        hdr[field::VER_IHL] = 0x45;
        hdr[field::DSCP_ECN] = self.dscp_ecn;
        let total = self.payload_len.saturating_add(HEADER_LEN as u16);
        hdr[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        hdr[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        let flags = if self.dont_frag { FLAG_DF } else { 0 };
        hdr[field::FLG_OFF].copy_from_slice(&flags.to_be_bytes());
        hdr[field::TTL] = self.ttl;
        hdr[field::PROTOCOL] = self.protocol;
        hdr[field::CHECKSUM].copy_from_slice(&[0, 0]);
        hdr[field::SRC].copy_from_slice(&self.src.octets());
        hdr[field::DST].copy_from_slice(&self.dst.octets());
        let c = checksum::finish(checksum::sum(hdr));
        hdr[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A UDP datagram 192.168.0.1 -> 192.168.0.199 with 4 payload octets,
    // followed by 2 octets of Ethernet padding.
    static PACKET: [u8; 34] = [
        0x45, 0x00, 0x00, 0x20, // version 4, IHL 5, DSCP 0, ECN 0, total length 32
        0x1c, 0x46, 0x40, 0x00, // ident 0x1c46, DF, offset 0
        0x40, 0x11, 0x9c, 0x6e, // TTL 64, protocol UDP, checksum
        0xc0, 0xa8, 0x00, 0x01, // src 192.168.0.1
        0xc0, 0xa8, 0x00, 0xc7, // dst 192.168.0.199
        0x04, 0xd2, 0x16, 0x2e, // payload: UDP src port 1234, dst port 5678
        0x00, 0x0c, 0x00, 0x00, // payload: UDP length 12, no checksum
        0xde, 0xad, 0xbe, 0xef, // payload: data
        0x00, 0x00, // Ethernet padding
    ];

    fn repr() -> Repr {
        Repr {
            src: Ipv4Addr::new(192, 168, 0, 1),
            dst: Ipv4Addr::new(192, 168, 0, 199),
            protocol: proto::UDP,
            ttl: 64,
            payload_len: 12,
            dscp_ecn: 0,
            dont_frag: true,
            ident: 0x1c46,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 32);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), proto::UDP);
        assert_eq!(p.checksum(), 0x9c6e);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &PACKET[20..32]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 34];
        buf[0] = 0x45;
        buf[3] = 20;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_total_len(32);
        p.set_ident(0x1c46);
        p.set_flags_frag(true, false, 0);
        p.set_ttl(64);
        p.set_protocol(proto::UDP);
        p.set_src(Ipv4Addr::new(192, 168, 0, 1));
        p.set_dst(Ipv4Addr::new(192, 168, 0, 199));
        p.payload_mut().copy_from_slice(&PACKET[20..32]);
        p.fill_checksum();
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(Repr::parse(&p), repr());
    }

    #[test]
    fn emit() {
        let mut buf = PACKET;
        buf[..20].fill(0);
        repr().emit(&mut buf).unwrap();
        assert_eq!(buf, PACKET);
        assert_eq!(repr().emit(&mut [0u8; 19]), Err(Ipv4Error::Truncated));
    }

    #[test]
    fn decrement_ttl_matches_recompute() {
        let mut buf = PACKET;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        for expect in (0..64).rev() {
            assert_eq!(p.decrement_ttl(), expect);
            assert!(p.verify_checksum(), "ttl {expect}");
            let inc = p.checksum();
            p.fill_checksum();
            assert_eq!(inc, p.checksum());
        }
        assert_eq!(p.decrement_ttl(), 0);
        assert_eq!(p.ttl(), 0);
    }

    #[test]
    fn fragments_and_tos() {
        let mut buf = PACKET;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_flags_frag(false, true, 1480);
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        assert!(p.is_fragment());
        p.set_flags_frag(false, false, 65528);
        assert_eq!(p.frag_offset(), 65528);
        assert!(p.is_fragment());
        p.set_dscp_ecn(0xb8 | 0x02); // EF, ECT(0)
        assert_eq!((p.dscp(), p.ecn()), (46, 2));
    }

    #[test]
    fn options_and_errors() {
        // IHL 6 with a 4-octet NOP/EOL option.
        let mut buf = [0u8; 28];
        buf[..20].copy_from_slice(&PACKET[..20]);
        buf[0] = 0x46;
        buf[3] = 28;
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload().len(), 4);

        let bad = |f: &dyn Fn(&mut [u8; 34])| {
            let mut b = PACKET;
            f(&mut b);
            Packet::new_checked(&b[..]).err()
        };
        assert_eq!(bad(&|b| b[0] = 0x65), Some(Ipv4Error::BadVersion));
        assert_eq!(bad(&|b| b[0] = 0x44), Some(Ipv4Error::BadIhl));
        assert_eq!(bad(&|b| b[0] = 0x4f), Some(Ipv4Error::Truncated));
        assert_eq!(bad(&|b| b[3] = 19), Some(Ipv4Error::BadTotalLength));
        assert_eq!(bad(&|b| b[3] = 35), Some(Ipv4Error::Truncated));
        assert_eq!(bad(&|b| b[3] = 34), None);
    }

    fn touch<T: AsRef<[u8]>>(p: &Packet<T>) {
        let _ = (p.header_len(), p.dscp(), p.ecn(), p.total_len(), p.ident());
        let _ = (
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.is_fragment(),
        );
        let _ = (
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src_addr(),
            p.dst_addr(),
        );
        let _ = (
            p.options(),
            p.payload(),
            p.verify_checksum(),
            Repr::parse(p),
        );
    }

    #[test]
    fn prefixes_and_garbage_never_panic() {
        for n in 0..=PACKET.len() {
            let mut b = PACKET[..n].to_vec();
            if let Ok(mut p) = Packet::new_checked(&mut b[..]) {
                touch(&p);
                p.set_total_len(0xffff);
                touch(&p);
                let _ = p.payload_mut();
                p.decrement_ttl();
                // A caller may rewrite IHL through header_mut.
                p.header_mut()[0] = 0x4f;
                touch(&p);
                p.header_mut()[0] = 0x41;
                touch(&p);
                p.fill_checksum();
            }
        }
        let mut st = 1u32;
        for _ in 0..5000 {
            let mut b = [0u8; 64];
            for x in &mut b {
                st = st.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *x = (st >> 16) as u8;
            }
            b[0] = 0x40 | (b[0] & 0x0f);
            let len = usize::from(b[1]) % 65;
            if let Ok(p) = Packet::new_checked(&b[..len]) {
                touch(&p);
            }
        }
    }

    #[test]
    fn checksum_matches_etherparse() {
        let builder =
            etherparse::PacketBuilder::ipv4([10, 1, 2, 3], [203, 0, 113, 9], 17).udp(4242, 53);
        let payload = [0x55u8; 23];
        let mut out = Vec::new();
        builder.write(&mut out, &payload).unwrap();
        let theirs = u16::from_be_bytes([out[10], out[11]]);
        let mut p = Packet::new_checked(&mut out[..]).unwrap();
        assert!(p.verify_checksum());
        p.set_checksum(0);
        p.fill_checksum();
        assert_eq!(p.checksum(), theirs);
        let r = Repr::parse(&p);
        let mut mine = [0u8; 20];
        r.emit(&mut mine).unwrap();
        // etherparse sets DF and ident 0, as the Repr read them.
        assert_eq!(&mine[..], &out[..20]);

        // And after a TTL decrement, etherparse's own header parser agrees.
        let mut p = Packet::new_checked(&mut out[..]).unwrap();
        p.decrement_ttl();
        let (h, _) = etherparse::Ipv4Header::from_slice(&out).unwrap();
        assert_eq!(h.time_to_live, 16);
        assert_eq!(h.header_checksum, h.calc_header_checksum());
    }
}
