//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       Hardware Type (1)       |     Protocol Type (0x0800)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  HLEN (6)     |   PLEN (4)    |           Operation           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Sender Hardware Address (6 octets)             |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Sender Protocol Address ...  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   ... (4 octets)              | Target Hardware Address ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                        ... (6 octets)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Target Protocol Address (4 octets)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use super::ethernet::MacAddr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// `ar$hrd` for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// `ar$pro` for IPv4 (the IPv4 EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

/// `ar$op` values.
pub const REQUEST: u16 = 1;
pub const REPLY: u16 = 2;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Why a buffer is not an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    #[error("ARP packet shorter than 28 bytes")]
    Truncated,
    /// Hardware or protocol type/length other than Ethernet/IPv4.
    #[error("ARP for a hardware or protocol other than Ethernet/IPv4")]
    Unsupported,
}

fn mac(b: &[u8]) -> MacAddr {
    let mut a = [0u8; 6];
    if let Some(s) = b.get(..6) {
        a.copy_from_slice(s);
    }
    MacAddr(a)
}

fn ip(b: &[u8]) -> Ipv4Addr {
    match b {
        [a, b, c, d, ..] => Ipv4Addr::new(*a, *b, *c, *d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// A view of an ARP packet (the Ethernet payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Requires 28 octets and Ethernet/IPv4 types and lengths
    /// ([RFC 826]: "?Do I have the hardware type in ar$hrd? ... ?Do I speak
    /// the protocol in ar$pro?" — if not, discard). Trailing padding is
    /// allowed.
    pub fn new_checked(buffer: T) -> Result<Self, ArpError> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(ArpError::Truncated);
        }
        if be16(&b[field::HTYPE]) != HTYPE_ETHERNET
            || be16(&b[field::PTYPE]) != PTYPE_IPV4
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(ArpError::Unsupported);
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// [`REQUEST`], [`REPLY`] or another value.
    pub fn oper(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::OPER])
    }

    pub fn sha(&self) -> MacAddr {
        mac(&self.buffer.as_ref()[field::SHA])
    }

    pub fn spa(&self) -> Ipv4Addr {
        ip(&self.buffer.as_ref()[field::SPA])
    }

    pub fn tha(&self) -> MacAddr {
        mac(&self.buffer.as_ref()[field::THA])
    }

    pub fn tpa(&self) -> Ipv4Addr {
        ip(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_oper(&mut self, op: u16) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&op.to_be_bytes());
    }

    pub fn set_sha(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&m.0);
    }

    pub fn set_spa(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets());
    }

    pub fn set_tha(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&m.0);
    }

    pub fn set_tpa(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets());
    }
}

/// The fields of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub oper: u16,
    pub sha: MacAddr,
    pub spa: Ipv4Addr,
    pub tha: MacAddr,
    pub tpa: Ipv4Addr,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            oper: p.oper(),
            sha: p.sha(),
            spa: p.spa(),
            tha: p.tha(),
            tpa: p.tpa(),
        }
    }

    /// A request from `sha`/`spa` for `tpa` (target hardware address zero).
    pub fn request(sha: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Repr {
        Repr {
            oper: REQUEST,
            sha,
            spa,
            tha: MacAddr::default(),
            tpa,
        }
    }

    /// The reply to this request, sent by `mac` which owns `self.tpa`
    /// ([RFC 826]: "swap hardware and protocol fields, putting the local
    /// hardware and protocol addresses in the sender fields ... set the
    /// ar$op field to ares_op$REPLY").
    pub fn reply(&self, mac: MacAddr) -> Repr {
        Repr {
            oper: REPLY,
            sha: mac,
            spa: self.tpa,
            tha: self.sha,
            tpa: self.spa,
        }
    }

    /// Writes the 28-octet packet at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), ArpError> {
        let b = buf.get_mut(..PACKET_LEN).ok_or(ArpError::Truncated)?;
        b[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        b[field::PTYPE].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::OPER].copy_from_slice(&self.oper.to_be_bytes());
        b[field::SHA].copy_from_slice(&self.sha.0);
        b[field::SPA].copy_from_slice(&self.spa.octets());
        b[field::THA].copy_from_slice(&self.tha.0);
        b[field::TPA].copy_from_slice(&self.tpa.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 192.168.0.1? Tell 192.168.0.2 (02:00:00:00:00:02).
    static REQ: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, // htype Ethernet, ptype IPv4
        0x06, 0x04, 0x00, 0x01, // hlen 6, plen 4, oper request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // sha
        0xc0, 0xa8, 0x00, 0x02, // spa 192.168.0.2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tha (unknown)
        0xc0, 0xa8, 0x00, 0x01, // tpa 192.168.0.1
    ];

    const HOST: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn repr() -> Repr {
        Repr::request(
            HOST,
            Ipv4Addr::new(192, 168, 0, 2),
            Ipv4Addr::new(192, 168, 0, 1),
        )
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQ[..]).unwrap();
        assert_eq!(p.oper(), REQUEST);
        assert_eq!(p.sha(), HOST);
        assert_eq!(p.spa(), Ipv4Addr::new(192, 168, 0, 2));
        assert_eq!(p.tha(), MacAddr::default());
        assert_eq!(p.tpa(), Ipv4Addr::new(192, 168, 0, 1));
    }

    #[test]
    fn construct() {
        let mut buf = REQ;
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        // Turn the request into its reply in place.
        let me = MacAddr([2, 0, 0, 0, 0, 1]);
        p.set_oper(REPLY);
        p.set_tha(p.sha());
        p.set_tpa(p.spa());
        p.set_sha(me);
        p.set_spa(Ipv4Addr::new(192, 168, 0, 1));
        let mut want = [0u8; 28];
        repr().reply(me).emit(&mut want).unwrap();
        assert_eq!(buf, want);
        assert_eq!(&buf[6..8], &[0, 2]);
    }

    #[test]
    fn parse() {
        let p = Packet::new_checked(&REQ[..]).unwrap();
        assert_eq!(Repr::parse(&p), repr());
    }

    #[test]
    fn emit() {
        let mut buf = [0xffu8; 28];
        repr().emit(&mut buf).unwrap();
        assert_eq!(buf, REQ);
        assert_eq!(repr().emit(&mut [0u8; 27]), Err(ArpError::Truncated));
    }

    #[test]
    fn rejects_other_types() {
        for (i, v) in [(1, 6), (2, 0x86), (4, 8), (5, 16)] {
            let mut b = REQ;
            b[i] = v;
            assert_eq!(
                Packet::new_checked(&b[..]).err(),
                Some(ArpError::Unsupported)
            );
        }
        for n in 0..28 {
            assert_eq!(
                Packet::new_checked(&REQ[..n]).err(),
                Some(ArpError::Truncated)
            );
        }
        // Padded to the Ethernet minimum is fine.
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&REQ);
        assert!(Packet::new_checked(&padded[..]).is_ok());
    }

    #[test]
    fn matches_etherparse() {
        let ep = etherparse::ArpPacket::new(
            etherparse::ArpHardwareId::ETHERNET,
            etherparse::EtherType::IPV4,
            etherparse::ArpOperation::REQUEST,
            &HOST.0,
            &[192, 168, 0, 2],
            &[0; 6],
            &[192, 168, 0, 1],
        )
        .unwrap();
        assert_eq!(&ep.to_bytes()[..], &REQ[..]);
    }
}
