//! TCP header (RFC 9293 § 3.1), read-mostly: enough for NAT port and
//! checksum rewrites and for flow classification.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! TCP has no length field: the segment is the whole IP payload, so the
//! view's buffer must be exactly that (padding removed).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;

/// Header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol / Next Header number of TCP.
pub const PROTOCOL: u8 = 6;

/// Control bits, as returned by [`Packet::flags`].
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Why a buffer is not a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    /// Shorter than 20 octets or than Data Offset says.
    #[error("truncated TCP segment")]
    Truncated,
    /// Data Offset below 5 ([RFC 9293 § 3.1]: "The TCP header (even one
    /// including options) is an integer multiple of 32 bits long").
    #[error("TCP data offset below 5")]
    BadDataOffset,
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

/// A view of a TCP segment; the buffer is exactly the segment.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates Data Offset (5..=15, within the buffer) once; afterwards
    /// no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self, TcpError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(TcpError::Truncated);
        }
        let hl = usize::from(b[field::DATA_OFF] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(TcpError::BadDataOffset);
        }
        if hl > b.len() {
            return Err(TcpError::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    pub fn seq(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ])
    }

    pub fn ack(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK])
    }

    /// Header length in octets (Data Offset × 4), 20..=60.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The eight control bits CWR..FIN; see [`flags`].
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    pub fn window(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WINDOW])
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    pub fn urgent(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }

    /// Option octets between the fixed header and the data.
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }

    fn seg_len(&self) -> u32 {
        u32::try_from(self.buffer.as_ref().len()).unwrap_or(u32::MAX)
    }

    /// Checks the checksum with the IPv4 pseudo-header.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        // The pseudo-header length is 16 bits over IPv4.
        let len = u16::try_from(self.seg_len()).unwrap_or(u16::MAX);
        let p = checksum::pseudo_v4(src.octets(), dst.octets(), PROTOCOL, len);
        checksum::fold(p + checksum::sum(self.buffer.as_ref())) == 0xffff
    }

    /// Checks the checksum with the IPv6 pseudo-header.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let p = checksum::pseudo_v6(&src.octets(), &dst.octets(), PROTOCOL, self.seg_len());
        checksum::fold(p + checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, p: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&p.to_be_bytes());
    }

    pub fn set_dst_port(&mut self, p: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&p.to_be_bytes());
    }

    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// Mutable option octets (e.g. for MSS clamping).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..hl)
            .unwrap_or(&mut [])
    }

    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = u16::try_from(self.seg_len()).unwrap_or(u16::MAX);
        let p = checksum::pseudo_v4(src.octets(), dst.octets(), PROTOCOL, len);
        let c = checksum::finish(p + checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let p = checksum::pseudo_v6(&src.octets(), &dst.octets(), PROTOCOL, self.seg_len());
        let c = checksum::finish(p + checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }

    /// Incrementally updates the checksum after covered octets `old`
    /// (ports, or pseudo-header addresses, at an even offset) became `new`
    /// ([RFC 1624]). Unlike UDP, zero is an ordinary TCP checksum value.
    pub fn adjust_checksum(&mut self, old: &[u8], new: &[u8]) {
        let c = checksum::update_bytes(self.checksum(), old, new);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    // A SYN from 10.0.0.1:40000 to 10.0.0.2:80 with an MSS option.
    static SYN: [u8; 24] = [
        0x9c, 0x40, 0x00, 0x50, // src port 40000, dst port 80
        0x00, 0x00, 0x00, 0x01, // sequence number 1
        0x00, 0x00, 0x00, 0x00, // acknowledgment number 0
        0x60, 0x02, 0xfa, 0xf0, // data offset 6, SYN, window 64240
        0x00, 0x00, 0x00, 0x00, // checksum (filled in tests), urgent 0
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!((p.seq(), p.ack()), (1, 0));
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), flags::SYN);
        assert!(p.syn() && !p.fin() && !p.rst());
        assert_eq!(p.window(), 64240);
        assert_eq!((p.checksum(), p.urgent()), (0, 0));
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn construct() {
        let mut b = SYN;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_flags(flags::SYN | flags::ACK);
        p.options_mut()[2..4].copy_from_slice(&1400u16.to_be_bytes());
        assert_eq!(&b[..4], &[0, 1, 0, 2]);
        assert_eq!(b[13], 0x12);
        assert_eq!(&b[20..], &[2, 4, 0x05, 0x78]);
    }

    #[test]
    fn checksum_and_etherparse() {
        let mut b = SYN;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v4(SRC, DST);
        assert!(p.verify_checksum_v4(SRC, DST));
        let (h, _) = etherparse::TcpHeader::from_slice(&b).unwrap();
        assert_eq!(
            h.calc_checksum_ipv4_raw(SRC.octets(), DST.octets(), &[])
                .unwrap(),
            h.checksum
        );

        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "64:ff9b::a00:2".parse().unwrap(),
        );
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v6(s6, d6);
        assert!(p.verify_checksum_v6(s6, d6));
        let (h, _) = etherparse::TcpHeader::from_slice(&b).unwrap();
        assert_eq!(
            h.calc_checksum_ipv6_raw(s6.octets(), d6.octets(), &[])
                .unwrap(),
            h.checksum
        );
    }

    #[test]
    fn adjust_matches_recompute() {
        // NAT64-style: IPv4 pseudo-header addresses replaced by IPv6 ones.
        let mut b = SYN;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v4(SRC, DST);
        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "64:ff9b::a00:2".parse().unwrap(),
        );
        let mut old = [0u8; 8];
        old[..4].copy_from_slice(&SRC.octets());
        old[4..].copy_from_slice(&DST.octets());
        let mut new = [0u8; 32];
        new[..16].copy_from_slice(&s6.octets());
        new[16..].copy_from_slice(&d6.octets());
        // The length and protocol words are the same in both pseudo-headers.
        p.adjust_checksum(&old, &new);
        assert!(p.verify_checksum_v6(s6, d6));
        p.adjust_checksum(&40000u16.to_be_bytes(), &1024u16.to_be_bytes());
        p.set_src_port(1024);
        assert!(p.verify_checksum_v6(s6, d6));
    }

    #[test]
    fn offsets_and_prefixes() {
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(TcpError::BadDataOffset)
        );
        b[12] = 0x70;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(TcpError::Truncated));
        b[12] = 0xf0;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(TcpError::Truncated));
        for n in 0..=SYN.len() {
            match Packet::new_checked(&SYN[..n]) {
                Ok(p) => {
                    let _ = (
                        p.options(),
                        p.payload(),
                        p.flags(),
                        p.verify_checksum_v4(SRC, DST),
                    );
                    assert!(n >= 24);
                }
                Err(e) => assert_eq!(e, TcpError::Truncated),
            }
        }
    }
}
