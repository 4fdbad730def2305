//! ICMPv6 (RFC 4443). Neighbor Discovery messages and options are in
//! [`super::ndp`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                         Message Body                          +
//! |   echo:          Identifier   |        Sequence Number        |
//! |   packet too big:             MTU                             |
//! |   param problem:              Pointer                         |
//! |   other errors:               Unused                          |
//! ```
//!
//! The view covers the whole ICMPv6 message, because the checksum does,
//! together with the IPv6 pseudo-header ([RFC 4443 § 2.3]).

use std::net::Ipv6Addr;

use super::checksum;

/// Type, code, checksum and the first 32-bit word of the body. Every
/// ICMPv6 message defined by RFC 4443 and RFC 4861 is at least this long.
pub const HEADER_LEN: usize = 8;

/// IPv6 Next Header value of ICMPv6.
pub const NEXT_HEADER: u8 = 58;

pub const DEST_UNREACH: u8 = 1;
/// Carries the MTU of the next-hop link ([RFC 4443 § 3.2]).
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAM_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
/// Router Solicitation ([RFC 4861 § 4.1]).
pub const RS: u8 = 133;
/// Router Advertisement ([RFC 4861 § 4.2]).
pub const RA: u8 = 134;
/// Neighbor Solicitation ([RFC 4861 § 4.3]).
pub const NS: u8 = 135;
/// Neighbor Advertisement ([RFC 4861 § 4.4]).
pub const NA: u8 = 136;
pub const REDIRECT: u8 = 137;

/// Codes of [`DEST_UNREACH`] ([RFC 4443 § 3.1]).
pub mod dest_unreach {
    pub const NO_ROUTE: u8 = 0;
    /// "communication with destination administratively prohibited"
    pub const ADMIN: u8 = 1;
    pub const BEYOND_SCOPE: u8 = 2;
    pub const ADDR_UNREACH: u8 = 3;
    pub const PORT: u8 = 4;
    pub const SOURCE_POLICY: u8 = 5;
    pub const REJECT_ROUTE: u8 = 6;
}

/// Codes of [`TIME_EXCEEDED`] ([RFC 4443 § 3.3]).
pub mod time_exceeded {
    pub const HOP_LIMIT: u8 = 0;
    pub const REASSEMBLY: u8 = 1;
}

/// Codes of [`PARAM_PROBLEM`] ([RFC 4443 § 3.4]).
pub mod param_problem {
    pub const ERRONEOUS_HEADER: u8 = 0;
    pub const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
    pub const UNRECOGNIZED_OPTION: u8 = 2;
}

/// [RFC 4443 § 2.1]: "Error messages are identified as such by a zero in
/// the high-order bit of their message Type field values."
pub fn is_error(msg_type: u8) -> bool {
    msg_type < 128
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const WORD1: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
}

/// Why a buffer is not an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Icmpv6Error {
    #[error("ICMPv6 message shorter than 8 bytes")]
    Truncated,
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

/// Checksum of `msg` (checksum field included) with the IPv6
/// pseudo-header; 0xffff when valid.
fn folded(msg: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    checksum::fold(
        checksum::pseudo_v6(&src.octets(), &dst.octets(), NEXT_HEADER, len) + checksum::sum(msg),
    )
}

/// A view of an ICMPv6 message; the buffer is exactly the message (the
/// upper-layer payload of the IPv6 packet).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Requires 8 octets; afterwards no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self, Icmpv6Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Icmpv6Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Everything after the checksum.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[4..]
    }

    /// The first 32-bit word of the body (MTU, pointer, ident/seq, flags).
    pub fn word1(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::WORD1])
    }

    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    pub fn echo_seq(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// MTU of a Packet Too Big message.
    pub fn mtu(&self) -> u32 {
        self.word1()
    }

    /// Pointer of a Parameter Problem message.
    pub fn pointer(&self) -> u32 {
        self.word1()
    }

    /// Everything after the first 8 octets (echo data, or the invoking
    /// packet quoted by an error message).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The message as a whole.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Checks the checksum over the pseudo-header and the whole message
    /// ([RFC 4443 § 2.3]).
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        folded(self.buffer.as_ref(), &src, &dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    pub fn set_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    pub fn set_checksum(&mut self, c: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    pub fn set_word1(&mut self, v: u32) {
        self.buffer.as_mut()[field::WORD1].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_echo_seq(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQ].copy_from_slice(&v.to_be_bytes());
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[4..]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum over the pseudo-header and the whole message.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = !folded(self.buffer.as_ref(), &src, &dst);
        self.set_checksum(c);
    }
}

/// The header fields of an ICMPv6 message (NDP messages have their own
/// Reprs in [`super::ndp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    /// MTU, pointer, identifier/sequence… as one word.
    pub word1: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            word1: p.word1(),
        }
    }

    pub fn echo(msg_type: u8, ident: u16, seq: u16) -> Repr {
        Repr {
            msg_type,
            code: 0,
            word1: (u32::from(ident) << 16) | u32::from(seq),
        }
    }

    pub fn packet_too_big(mtu: u32) -> Repr {
        Repr {
            msg_type: PACKET_TOO_BIG,
            code: 0,
            word1: mtu,
        }
    }

    /// Writes the header into `msg` (the whole message, whose octets after
    /// the first 8 must already hold the data) and fills the checksum.
    pub fn emit(&self, msg: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), Icmpv6Error> {
        let mut p = Packet::new_checked(msg)?;
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_word1(self.word1);
        p.fill_checksum(src, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Ipv6Addr {
        "fe80::1".parse().unwrap()
    }
    fn dst() -> Ipv6Addr {
        "fe80::2".parse().unwrap()
    }

    // Echo request fe80::1 -> fe80::2, ident 0x1234, seq 1, data "xgw!".
    static ECHO: [u8; 12] = [
        0x80, 0x00, 0x80, 0xf6, // type echo request, code 0, checksum
        0x12, 0x34, 0x00, 0x01, // identifier, sequence number
        0x78, 0x67, 0x77, 0x21, // data "xgw!"
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x80f6);
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x1234, 1));
        assert_eq!(p.body(), &ECHO[4..]);
        assert_eq!(p.data(), b"xgw!");
        assert!(p.verify_checksum(src(), dst()));
        assert!(!p.verify_checksum(dst(), "fe80::3".parse().unwrap()));
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 12];
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_msg_type(ECHO_REQUEST);
        p.set_code(0);
        p.set_echo_ident(0x1234);
        p.set_echo_seq(1);
        p.data_mut().copy_from_slice(b"xgw!");
        p.fill_checksum(src(), dst());
        assert_eq!(buf, ECHO);
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(Repr::parse(&p), Repr::echo(ECHO_REQUEST, 0x1234, 1));
    }

    #[test]
    fn emit() {
        let mut buf = ECHO;
        buf[..8].fill(0);
        Repr::echo(ECHO_REQUEST, 0x1234, 1)
            .emit(&mut buf, src(), dst())
            .unwrap();
        assert_eq!(buf, ECHO);
        let r = Repr::packet_too_big(1280).emit(&mut [0; 7], src(), dst());
        assert_eq!(r, Err(Icmpv6Error::Truncated));
    }

    #[test]
    fn packet_too_big_and_error_types() {
        let mut msg = [0u8; 48];
        msg[8] = 0x60;
        Repr::packet_too_big(1280)
            .emit(&mut msg, src(), dst())
            .unwrap();
        assert_eq!(&msg[..2], &[2, 0]);
        assert_eq!(&msg[4..8], &[0x00, 0x00, 0x05, 0x00]); // MTU 1280
        let p = Packet::new_checked(&msg[..]).unwrap();
        assert_eq!(p.mtu(), 1280);
        assert!(p.verify_checksum(src(), dst()));
        assert!(is_error(DEST_UNREACH) && is_error(PARAM_PROBLEM) && is_error(127));
        assert!(!is_error(ECHO_REQUEST) && !is_error(NA));
    }

    #[test]
    fn prefixes_never_panic() {
        for n in 0..=ECHO.len() {
            let mut b = ECHO[..n].to_vec();
            if let Ok(mut p) = Packet::new_checked(&mut b[..]) {
                let _ = (p.msg_type(), p.code(), p.word1(), p.body(), p.data());
                let _ = (p.verify_checksum(src(), dst()), Repr::parse(&p));
                p.fill_checksum(src(), dst());
                let _ = (p.body_mut().len(), p.data_mut().len());
            } else {
                assert!(n < HEADER_LEN);
            }
        }
    }

    #[test]
    fn checksum_matches_etherparse() {
        let (s, d) = (src().octets(), dst().octets());
        let b = etherparse::PacketBuilder::ipv6(s, d, 64).icmpv6_echo_request(0x1234, 1);
        let mut out = Vec::new();
        b.write(&mut out, b"xgw!").unwrap();
        assert_eq!(&out[40..], &ECHO[..]);
    }
}
