//! UDP header (RFC 768).
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |                 |                 |
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! |
//! |          data octets ...
//! +---------------- ...
//! ```
//!
//! A zero checksum means "none computed". Over IPv4 that is allowed
//! ([RFC 768]: "An all zero transmitted checksum value means that the
//! transmitter generated no checksum"); over IPv6 it is not ([RFC 8200
//! § 8.1]: "IPv6 receivers must discard UDP packets containing a zero
//! checksum"). A computed checksum of zero is sent as all ones.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;

pub const HEADER_LEN: usize = 8;

/// IP protocol / Next Header number of UDP.
pub const PROTOCOL: u8 = 17;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Why a buffer is not a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Shorter than 8 octets or than the Length field says.
    #[error("truncated UDP datagram")]
    Truncated,
    /// Length field below 8.
    #[error("UDP length below 8")]
    BadLength,
}

fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// A view of a UDP datagram (the IP payload; it may extend past Length).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates the header and Length once; afterwards no accessor can
    /// panic.
    pub fn new_checked(buffer: T) -> Result<Self, UdpError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(UdpError::Truncated);
        }
        let len = usize::from(be16(&b[field::LENGTH]));
        if len < HEADER_LEN {
            return Err(UdpError::BadLength);
        }
        if len > b.len() {
            return Err(UdpError::Truncated);
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

    /// Header plus data, in octets.
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Never true for a validated datagram (Length ≥ 8); here for clippy's
    /// `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The datagram as Length says (header and data).
    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..usize::from(self.len())).unwrap_or(b)
    }

    /// Data octets, up to Length.
    pub fn payload(&self) -> &[u8] {
        self.datagram().get(HEADER_LEN..).unwrap_or(&[])
    }

    fn sum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let d = self.datagram();
        let pseudo = checksum::pseudo_v4(src.octets(), dst.octets(), PROTOCOL, self.len());
        checksum::fold(pseudo + checksum::sum(d))
    }

    fn sum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let d = self.datagram();
        let len = u32::from(self.len());
        let pseudo = checksum::pseudo_v6(&src.octets(), &dst.octets(), PROTOCOL, len);
        checksum::fold(pseudo + checksum::sum(d))
    }

    /// Checks the checksum over IPv4; a zero checksum (none sent) passes.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || self.sum_v4(src, dst) == 0xffff
    }

    /// Checks the checksum over IPv6; a zero checksum fails
    /// ([RFC 8200 § 8.1]).
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.checksum() != 0 && self.sum_v6(src, dst) == 0xffff
    }
}

/// A computed checksum of zero is sent as all ones ([RFC 768]: "If the
/// computed checksum is zero, it is transmitted as all ones").
fn nonzero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, p: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&p.to_be_bytes());
    }

    pub fn set_dst_port(&mut self, p: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&p.to_be_bytes());
    }

    /// Sets Length. A value beyond the buffer is stored as given; the
    /// payload and checksums then stop at the end of the buffer.
    pub fn set_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        let b = self.buffer.as_mut();
        let end = len.min(b.len());
        b.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }

    /// Computes the checksum with the IPv4 pseudo-header.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = !self.sum_v4(src, dst);
        self.set_checksum(nonzero(c));
    }

    /// Computes the checksum with the IPv6 pseudo-header.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = !self.sum_v6(src, dst);
        self.set_checksum(nonzero(c));
    }

    /// Incrementally updates the checksum after covered octets `old`
    /// (header fields or pseudo-header parts, at an even offset) became
    /// `new` ([RFC 1624]). A zero checksum (none sent, IPv4 only) is left
    /// zero; a result of zero is stored as all ones.
    pub fn adjust_checksum(&mut self, old: &[u8], new: &[u8]) {
        let c = self.checksum();
        if c != 0 {
            self.set_checksum(nonzero(checksum::update_bytes(c, old, new)));
        }
    }
}

/// The fields of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Data octets after the header.
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.len().saturating_sub(HEADER_LEN as u16),
        }
    }

    /// Writes the 8-octet header with a zero checksum; call
    /// `fill_checksum_v4`/`_v6` once the data is in place.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), UdpError> {
        let b = buf.get_mut(..HEADER_LEN).ok_or(UdpError::Truncated)?;
        b[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        let len = self.payload_len.saturating_add(HEADER_LEN as u16);
        b[field::LENGTH].copy_from_slice(&len.to_be_bytes());
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 199);

    // 192.168.0.1:1234 -> 192.168.0.199:5678, 4 data octets, 2 of padding.
    static DGRAM: [u8; 14] = [
        0x04, 0xd2, 0x16, 0x2e, // src port 1234, dst port 5678
        0x00, 0x0c, 0x00, 0x00, // length 12, checksum (filled in tests)
        0xde, 0xad, 0xbe, 0xef, // data
        0x00, 0x00, // padding
    ];

    fn filled() -> [u8; 14] {
        let mut b = DGRAM;
        Packet::new_checked(&mut b[..])
            .unwrap()
            .fill_checksum_v4(SRC, DST);
        b
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&DGRAM[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (1234, 5678, 12));
        assert_eq!(p.checksum(), 0);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        // Zero checksum: fine over IPv4, not over IPv6.
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 14];
        b[5] = 8;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1234);
        p.set_dst_port(5678);
        p.set_len(12);
        p.payload_mut().copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(b, DGRAM);
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&DGRAM[..]).unwrap();
        let r = Repr {
            src_port: 1234,
            dst_port: 5678,
            payload_len: 4,
        };
        assert_eq!(Repr::parse(&p), r);
    }

    #[test]
    fn emit() {
        let mut b = DGRAM;
        b[..8].fill(0xff);
        Repr {
            src_port: 1234,
            dst_port: 5678,
            payload_len: 4,
        }
        .emit(&mut b)
        .unwrap();
        assert_eq!(b, DGRAM);
        let r = Repr {
            src_port: 1,
            dst_port: 2,
            payload_len: 0,
        }
        .emit(&mut [0; 7]);
        assert_eq!(r, Err(UdpError::Truncated));
    }

    #[test]
    fn length_errors() {
        for n in 0..12 {
            assert_eq!(
                Packet::new_checked(&DGRAM[..n]).err(),
                Some(UdpError::Truncated)
            );
        }
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(UdpError::BadLength));
        let mut b = DGRAM;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_len(0xffff);
        assert_eq!(p.payload().len(), 6);
        assert_eq!(p.payload_mut().len(), 6);
        p.fill_checksum_v4(SRC, DST);
        let _ = p.verify_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
    }

    #[test]
    fn checksum_v4_matches_etherparse() {
        let b = etherparse::PacketBuilder::ipv4(SRC.octets(), DST.octets(), 64).udp(1234, 5678);
        let mut out = Vec::new();
        b.write(&mut out, &[0xde, 0xad, 0xbe, 0xef]).unwrap();
        assert_eq!(&out[20..], &filled()[..12]);
        let p = Packet::new_checked(&out[20..]).unwrap();
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v4(SRC, Ipv4Addr::new(192, 168, 0, 198)));
    }

    #[test]
    fn checksum_v6_matches_etherparse() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let b = etherparse::PacketBuilder::ipv6(s.octets(), d.octets(), 64).udp(53, 40000);
        let mut out = Vec::new();
        b.write(&mut out, b"odd").unwrap();
        let theirs = u16::from_be_bytes([out[46], out[47]]);
        let mut mine = out[40..].to_vec();
        let mut p = Packet::new_checked(&mut mine[..]).unwrap();
        assert!(p.verify_checksum_v6(s, d));
        p.fill_checksum_v6(s, d);
        assert_eq!(p.checksum(), theirs);
    }

    #[test]
    fn adjust_matches_recompute_and_keeps_zero() {
        // NAT44: rewrite the source address and port.
        let mut b = filled();
        let new_src = Ipv4Addr::new(203, 0, 113, 7);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.adjust_checksum(&SRC.octets(), &new_src.octets());
        p.adjust_checksum(&1234u16.to_be_bytes(), &40000u16.to_be_bytes());
        p.set_src_port(40000);
        assert!(p.verify_checksum_v4(new_src, DST));
        let inc = p.checksum();
        p.fill_checksum_v4(new_src, DST);
        assert_eq!(inc, p.checksum());

        let mut b = DGRAM;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.adjust_checksum(&SRC.octets(), &new_src.octets());
        assert_eq!(p.checksum(), 0);
    }

    #[test]
    fn zero_result_sent_as_all_ones() {
        // Choose a source port that makes the computed checksum 0.
        let mut b = DGRAM;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v4(SRC, DST);
        let c = p.checksum();
        // sum(rest) + 1234 == !c, so a port of c + 1234 makes the sum -0.
        let port = checksum::fold(u32::from(c) + 1234);
        p.set_src_port(port);
        p.fill_checksum_v4(SRC, DST);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum_v4(SRC, DST));
    }

    #[test]
    fn prefixes_never_panic() {
        let f = filled();
        for n in 0..=f.len() {
            if let Ok(p) = Packet::new_checked(&f[..n]) {
                let _ = (
                    p.src_port(),
                    p.dst_port(),
                    p.len(),
                    p.payload(),
                    Repr::parse(&p),
                );
                assert!(p.verify_checksum_v4(SRC, DST));
            }
        }
    }
}
