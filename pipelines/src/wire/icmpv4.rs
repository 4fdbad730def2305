//! ICMP for IPv4 (RFC 792), with the Next-Hop MTU of RFC 1191.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Rest of Header                            |
//! |   echo:           Identifier  |        Sequence Number        |
//! |   frag needed:    unused = 0  |        Next-Hop MTU           |
//! |   param problem:  Pointer     |  unused                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data ...  (errors: Internet Header + 64 bits of Data)
//! +-+-+-+-+-
//! ```
//!
//! The view covers the whole ICMP message (the IPv4 payload), because the
//! checksum does: [RFC 792] "The checksum is the 16-bit ones's complement of
//! the one's complement sum of the ICMP message starting with the ICMP
//! Type."

use super::checksum;

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = 8;

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACH: u8 = 3;
pub const SOURCE_QUENCH: u8 = 4;
pub const REDIRECT: u8 = 5;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAM_PROBLEM: u8 = 12;

/// Codes of [`DEST_UNREACH`] ([RFC 792], [RFC 1812 § 5.2.7.1]).
pub mod dest_unreach {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTO: u8 = 2;
    pub const PORT: u8 = 3;
    /// "fragmentation needed and DF set"; carries the Next-Hop MTU
    /// ([RFC 1191 § 4]).
    pub const FRAG_NEEDED: u8 = 4;
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Codes of [`TIME_EXCEEDED`].
pub mod time_exceeded {
    /// "time to live exceeded in transit"
    pub const TTL: u8 = 0;
    /// "fragment reassembly time exceeded"
    pub const REASSEMBLY: u8 = 1;
}

/// Error messages, which must never be answered by another error
/// ([RFC 1812 § 4.3.2.7]: "An ICMP error message MUST NOT be sent as the
/// result of receiving ... An ICMP error message").
pub fn is_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        DEST_UNREACH | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM
    )
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    pub const MTU: Range<usize> = 6..8;
    pub const POINTER: usize = 4;
}

/// Why a buffer is not an ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Icmpv4Error {
    #[error("ICMP message shorter than 8 bytes")]
    Truncated,
}

fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// A view of an ICMP message; the buffer is exactly the message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Requires the 8-octet header; afterwards no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self, Icmpv4Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Icmpv4Error::Truncated);
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

    /// The four octets after the checksum, as one big-endian word.
    pub fn rest_of_header(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::REST];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Echo / echo reply identifier.
    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Echo / echo reply sequence number.
    pub fn echo_seq(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// Next-Hop MTU of a "fragmentation needed" message ([RFC 1191 § 4]);
    /// 0 from routers that predate RFC 1191.
    pub fn next_hop_mtu(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::MTU])
    }

    /// Parameter Problem pointer: the octet of the original header in error.
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// Everything after the 8-octet header (echo data, or the quoted
    /// datagram of an error).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The checksum over the whole message is valid.
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
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

    pub fn set_rest_of_header(&mut self, v: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_echo_seq(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQ].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the Next-Hop MTU and zeroes the unused half ([RFC 1191 § 4]).
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        self.set_rest_of_header(u32::from(mtu));
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::finish(checksum::sum(self.buffer.as_ref()));
        self.set_checksum(c);
    }
}

/// The header fields of an ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    /// Identifier/sequence, Next-Hop MTU, pointer… as one word.
    pub rest_of_header: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest_of_header: p.rest_of_header(),
        }
    }

    pub fn echo(msg_type: u8, ident: u16, seq: u16) -> Repr {
        Repr {
            msg_type,
            code: 0,
            rest_of_header: (u32::from(ident) << 16) | u32::from(seq),
        }
    }

    /// Destination Unreachable / fragmentation needed with `mtu`.
    pub fn frag_needed(mtu: u16) -> Repr {
        Repr {
            msg_type: DEST_UNREACH,
            code: dest_unreach::FRAG_NEEDED,
            rest_of_header: u32::from(mtu),
        }
    }

    /// Writes the header into `msg` (the whole ICMP message, whose octets
    /// after the header must already hold the data) and fills the checksum.
    pub fn emit(&self, msg: &mut [u8]) -> Result<(), Icmpv4Error> {
        let mut p = Packet::new_checked(msg)?;
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_rest_of_header(self.rest_of_header);
        p.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // An echo request, ident 0x1234, seq 1, 4 data octets.
    static ECHO: [u8; 12] = [
        0x08, 0x00, 0x23, 0x08, // type echo request, code 0, checksum
        0x12, 0x34, 0x00, 0x01, // identifier, sequence number
        0x61, 0x61, 0x61, 0x61, // data
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x2308);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq(), 1);
        assert_eq!(p.rest_of_header(), 0x1234_0001);
        assert_eq!(p.data(), b"aaaa");
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 12];
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.set_msg_type(ECHO_REQUEST);
        p.set_code(0);
        p.set_echo_ident(0x1234);
        p.set_echo_seq(1);
        p.data_mut().copy_from_slice(b"aaaa");
        p.fill_checksum();
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
        buf[..8].fill(0xee);
        Repr::echo(ECHO_REQUEST, 0x1234, 1).emit(&mut buf).unwrap();
        assert_eq!(buf, ECHO);
        assert_eq!(
            Repr::echo(0, 0, 0).emit(&mut [0u8; 7]),
            Err(Icmpv4Error::Truncated)
        );
    }

    // Fragmentation needed, next-hop MTU 1400, quoting a 20-byte IPv4
    // header and 8 octets of its payload.
    #[test]
    fn frag_needed_and_zero_checksum_data() {
        let mut msg = [0u8; 36];
        msg[8] = 0x45;
        let r = Repr::frag_needed(1400);
        r.emit(&mut msg).unwrap();
        assert_eq!(&msg[..2], &[3, 4]);
        assert_eq!(&msg[4..8], &[0x00, 0x00, 0x05, 0x78]); // unused, next-hop MTU
        let p = Packet::new_checked(&msg[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p), r);
        let mut bad = msg;
        bad[20] ^= 1;
        assert!(!Packet::new_checked(&bad[..]).unwrap().verify_checksum());
    }

    #[test]
    fn error_types() {
        for t in [3, 4, 5, 11, 12] {
            assert!(is_error(t));
        }
        for t in [0, 8, 13, 14, 255] {
            assert!(!is_error(t));
        }
    }

    #[test]
    fn prefixes_never_panic() {
        for n in 0..=ECHO.len() {
            let mut b = ECHO[..n].to_vec();
            match Packet::new_checked(&mut b[..]) {
                Ok(mut p) => {
                    let _ = (p.msg_type(), p.code(), p.rest_of_header(), p.next_hop_mtu());
                    let _ = (p.pointer(), p.data(), p.verify_checksum(), Repr::parse(&p));
                    p.fill_checksum();
                    let _ = p.data_mut();
                }
                Err(e) => assert!(n < 8 && e == Icmpv4Error::Truncated),
            }
        }
    }

    #[test]
    fn checksum_matches_etherparse() {
        let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(0xbeef, 7);
        let mut out = Vec::new();
        b.write(&mut out, b"hello, xgw").unwrap();
        let theirs = u16::from_be_bytes([out[22], out[23]]);
        let mut msg = out[20..].to_vec();
        let p = Packet::new_checked(&msg[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p), Repr::echo(ECHO_REQUEST, 0xbeef, 7));
        Repr::echo(ECHO_REQUEST, 0xbeef, 7).emit(&mut msg).unwrap();
        assert_eq!(Packet::new_checked(&msg[..]).unwrap().checksum(), theirs);
    }
}
