//! Neighbor Discovery for IPv6 (RFC 4861): the four messages xgw sends or
//! answers, and their options, including RDNSS (RFC 8106) and PREF64
//! (RFC 8781).
//!
//! Messages are views over the whole ICMPv6 message; the checksum is
//! handled by [`super::icmpv6::Packet`]. To build one: `emit` the message
//! Repr, append options with the `emit_*` functions, then
//! `icmpv6::Packet::new_checked(&mut msg[..len])?.fill_checksum(src, dst)`.
//!
//! ```text
//! Router Solicitation (133)            Router Advertisement (134)
//! +-------+-------+---------------+    +-------+-------+---------------+
//! | Type  | Code  |   Checksum    |    | Type  | Code  |   Checksum    |
//! +-------+-------+---------------+    +-------+-+-+---+---------------+
//! |           Reserved            |    |Cur Hop|M|O|Rsv|Router Lifetime|
//! +-------------------------------+    +-------+-+-+---+---------------+
//! | Options ...                        |         Reachable Time        |
//!                                      +-------------------------------+
//!                                      |          Retrans Timer        |
//!                                      +-------------------------------+
//!                                      | Options ...
//!
//! Neighbor Solicitation (135)          Neighbor Advertisement (136)
//! +-------+-------+---------------+    +-------+-------+---------------+
//! | Type  | Code  |   Checksum    |    | Type  | Code  |   Checksum    |
//! +-------+-------+---------------+    +-+-+-+---------+---------------+
//! |           Reserved            |    |R|S|O|        Reserved         |
//! +-------------------------------+    +-+-+-+-------------------------+
//! |     Target Address (16)       |    |     Target Address (16)       |
//! +-------------------------------+    +-------------------------------+
//! | Options ...                        | Options ...
//!
//! Option (RFC 4861 § 4.6)
//! +-------+-------+-------------------------------
//! | Type  |Length |  ... (Length × 8 octets in all)
//! +-------+-------+-------------------------------
//! ```
//!
//! Receivers must also check that the IPv6 Hop Limit is 255
//! ([RFC 4861 § 6.1.1, § 7.1.1]); that is the caller's job, as the IPv6
//! header is not part of these views.

use std::net::Ipv6Addr;

use crate::wire::ethernet::MacAddr;
use crate::wire::icmpv6::{NA, NS, RA, RS};

pub mod option;

pub use option::{
    emit_lladdr, emit_mtu, emit_pref64, emit_prefix_info, emit_rdnss, emit_slla, emit_tlla, opt,
    NdpOption, NdpOptions, Pref64, PrefixInfo, Rdnss,
};

/// Why an NDP message or option was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    /// Message shorter than its fixed part, an option running past the
    /// message, or an output buffer too small.
    #[error("truncated NDP message or option")]
    Truncated,
    #[error("ICMPv6 type is not the NDP message expected")]
    WrongType,
    /// [RFC 4861 § 7.1.1]: "ICMP Code is 0" or the message is discarded.
    #[error("NDP message with a non-zero ICMPv6 code")]
    BadCode,
    /// [RFC 4861 § 4.6]: "The value 0 is invalid. Nodes MUST silently
    /// discard an ND packet that contains an option with length zero."
    #[error("NDP option with length zero")]
    ZeroOptionLength,
    /// A known option whose Length is not the one its RFC defines.
    #[error("NDP option {kind} has an invalid length")]
    BadOptionLength { kind: u8 },
    /// PREF64 prefix length other than 32, 40, 48, 56, 64 or 96.
    #[error("NAT64 prefix length not one of 32, 40, 48, 56, 64, 96")]
    BadPrefixLength,
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

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(..16) {
        a.copy_from_slice(s);
    }
    Ipv6Addr::from(a)
}

fn mac(b: &[u8]) -> MacAddr {
    let mut a = [0u8; 6];
    if let Some(s) = b.get(..6) {
        a.copy_from_slice(s);
    }
    MacAddr(a)
}

fn check(b: &[u8], msg_type: u8, fixed: usize) -> Result<(), NdpError> {
    match b {
        _ if b.len() < fixed => Err(NdpError::Truncated),
        [t, ..] if *t != msg_type => Err(NdpError::WrongType),
        [_, c, ..] if *c != 0 => Err(NdpError::BadCode),
        _ => Ok(()),
    }
}

/// Writes type, code 0, a zero checksum and zeroes the rest of `fixed`.
fn emit_fixed(buf: &mut [u8], msg_type: u8, fixed: usize) -> Result<&mut [u8], NdpError> {
    let b = buf.get_mut(..fixed).ok_or(NdpError::Truncated)?;
    b.fill(0);
    b[0] = msg_type;
    Ok(b)
}

/// Finds the first well-formed option of `kind` that carries a link-layer
/// address.
fn find_lladdr(options: &[u8], want: u8) -> Option<MacAddr> {
    NdpOptions::new(options).find_map(|o| match o {
        Ok(NdpOption::SourceLinkLayerAddr(m)) if want == opt::SOURCE_LL_ADDR => Some(m),
        Ok(NdpOption::TargetLinkLayerAddr(m)) if want == opt::TARGET_LL_ADDR => Some(m),
        _ => None,
    })
}

const RS_LEN: usize = 8;
const RA_LEN: usize = 16;
const NS_LEN: usize = 24;
const NA_LEN: usize = 24;

// ---------------------------------------------------------------- RS

/// Router Solicitation ([RFC 4861 § 4.1]).
#[derive(Debug, Clone)]
pub struct RouterSolicit<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouterSolicit<T> {
    /// Checks type, code 0 and length.
    pub fn new_checked(buffer: T) -> Result<Self, NdpError> {
        check(buffer.as_ref(), RS, RS_LEN)?;
        Ok(RouterSolicit { buffer })
    }

    pub fn options(&self) -> NdpOptions<'_> {
        NdpOptions::new(&self.buffer.as_ref()[RS_LEN..])
    }

    /// The Source Link-Layer Address option, if present and well formed.
    pub fn source_lladdr(&self) -> Option<MacAddr> {
        find_lladdr(&self.buffer.as_ref()[RS_LEN..], opt::SOURCE_LL_ADDR)
    }
}

/// A Router Solicitation has no fields besides its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterSolicitRepr;

impl RouterSolicitRepr {
    /// Writes the 8-octet fixed part; returns where options start.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NdpError> {
        emit_fixed(buf, RS, RS_LEN)?;
        Ok(RS_LEN)
    }
}

// ---------------------------------------------------------------- RA

const RA_MANAGED: u8 = 0x80;
const RA_OTHER: u8 = 0x40;

/// Router Advertisement ([RFC 4861 § 4.2]).
#[derive(Debug, Clone)]
pub struct RouterAdvert<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RouterAdvert<T> {
    pub fn new_checked(buffer: T) -> Result<Self, NdpError> {
        check(buffer.as_ref(), RA, RA_LEN)?;
        Ok(RouterAdvert { buffer })
    }

    /// Hop Limit hosts should use; 0 = unspecified.
    pub fn cur_hop_limit(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// M: addresses are available via DHCPv6.
    pub fn managed(&self) -> bool {
        self.buffer.as_ref()[5] & RA_MANAGED != 0
    }

    /// O: other configuration is available via DHCPv6.
    pub fn other_config(&self) -> bool {
        self.buffer.as_ref()[5] & RA_OTHER != 0
    }

    /// Seconds; 0 = not a default router.
    pub fn router_lifetime(&self) -> u16 {
        be16(&self.buffer.as_ref()[6..8])
    }

    /// Milliseconds; 0 = unspecified.
    pub fn reachable_time(&self) -> u32 {
        be32(&self.buffer.as_ref()[8..12])
    }

    /// Milliseconds; 0 = unspecified.
    pub fn retrans_timer(&self) -> u32 {
        be32(&self.buffer.as_ref()[12..16])
    }

    pub fn options(&self) -> NdpOptions<'_> {
        NdpOptions::new(&self.buffer.as_ref()[RA_LEN..])
    }
}

/// The fixed fields of a Router Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterAdvertRepr {
    pub cur_hop_limit: u8,
    pub managed: bool,
    pub other_config: bool,
    pub router_lifetime: u16,
    pub reachable_time: u32,
    pub retrans_timer: u32,
}

impl RouterAdvertRepr {
    pub fn parse<T: AsRef<[u8]>>(ra: &RouterAdvert<T>) -> Self {
        RouterAdvertRepr {
            cur_hop_limit: ra.cur_hop_limit(),
            managed: ra.managed(),
            other_config: ra.other_config(),
            router_lifetime: ra.router_lifetime(),
            reachable_time: ra.reachable_time(),
            retrans_timer: ra.retrans_timer(),
        }
    }

    /// Writes the 16-octet fixed part; returns where options start.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NdpError> {
        let b = emit_fixed(buf, RA, RA_LEN)?;
        b[4] = self.cur_hop_limit;
        b[5] = if self.managed { RA_MANAGED } else { 0 }
            | if self.other_config { RA_OTHER } else { 0 };
        b[6..8].copy_from_slice(&self.router_lifetime.to_be_bytes());
        b[8..12].copy_from_slice(&self.reachable_time.to_be_bytes());
        b[12..16].copy_from_slice(&self.retrans_timer.to_be_bytes());
        Ok(RA_LEN)
    }
}

// ---------------------------------------------------------------- NS

/// Neighbor Solicitation ([RFC 4861 § 4.3]).
#[derive(Debug, Clone)]
pub struct NeighborSolicit<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NeighborSolicit<T> {
    pub fn new_checked(buffer: T) -> Result<Self, NdpError> {
        check(buffer.as_ref(), NS, NS_LEN)?;
        Ok(NeighborSolicit { buffer })
    }

    pub fn target(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[8..24])
    }

    pub fn options(&self) -> NdpOptions<'_> {
        NdpOptions::new(&self.buffer.as_ref()[NS_LEN..])
    }

    /// The Source Link-Layer Address option, if present and well formed
    /// ([RFC 4861 § 7.1.1]: it MUST NOT be present when the IP source is
    /// the unspecified address — duplicate address detection).
    pub fn source_lladdr(&self) -> Option<MacAddr> {
        find_lladdr(&self.buffer.as_ref()[NS_LEN..], opt::SOURCE_LL_ADDR)
    }
}

/// The fields of a Neighbor Solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborSolicitRepr {
    pub target: Ipv6Addr,
}

impl NeighborSolicitRepr {
    pub fn parse<T: AsRef<[u8]>>(ns: &NeighborSolicit<T>) -> Self {
        NeighborSolicitRepr {
            target: ns.target(),
        }
    }

    /// Writes the 24-octet fixed part; returns where options start.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NdpError> {
        let b = emit_fixed(buf, NS, NS_LEN)?;
        b[8..24].copy_from_slice(&self.target.octets());
        Ok(NS_LEN)
    }
}

// ---------------------------------------------------------------- NA

const NA_ROUTER: u8 = 0x80;
const NA_SOLICITED: u8 = 0x40;
const NA_OVERRIDE: u8 = 0x20;

/// Neighbor Advertisement ([RFC 4861 § 4.4]).
#[derive(Debug, Clone)]
pub struct NeighborAdvert<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NeighborAdvert<T> {
    pub fn new_checked(buffer: T) -> Result<Self, NdpError> {
        check(buffer.as_ref(), NA, NA_LEN)?;
        Ok(NeighborAdvert { buffer })
    }

    /// R: the sender is a router.
    pub fn router(&self) -> bool {
        self.buffer.as_ref()[4] & NA_ROUTER != 0
    }

    /// S: sent in response to a Neighbor Solicitation.
    pub fn solicited(&self) -> bool {
        self.buffer.as_ref()[4] & NA_SOLICITED != 0
    }

    /// O: should override an existing cache entry.
    pub fn override_(&self) -> bool {
        self.buffer.as_ref()[4] & NA_OVERRIDE != 0
    }

    pub fn target(&self) -> Ipv6Addr {
        addr(&self.buffer.as_ref()[8..24])
    }

    pub fn options(&self) -> NdpOptions<'_> {
        NdpOptions::new(&self.buffer.as_ref()[NA_LEN..])
    }

    /// The Target Link-Layer Address option, if present and well formed.
    pub fn target_lladdr(&self) -> Option<MacAddr> {
        find_lladdr(&self.buffer.as_ref()[NA_LEN..], opt::TARGET_LL_ADDR)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NeighborAdvert<T> {
    pub fn set_flags(&mut self, router: bool, solicited: bool, override_: bool) {
        let mut f = 0;
        if router {
            f |= NA_ROUTER;
        }
        if solicited {
            f |= NA_SOLICITED;
        }
        if override_ {
            f |= NA_OVERRIDE;
        }
        self.buffer.as_mut()[4] = f;
    }

    pub fn set_target(&mut self, t: Ipv6Addr) {
        self.buffer.as_mut()[8..24].copy_from_slice(&t.octets());
    }
}

/// The fields of a Neighbor Advertisement.
///
/// [RFC 4861 § 4.4] Target Link-Layer Address: "When responding to
/// multicast solicitations, the option MUST be included." Linux enforces
/// it: an NA without the option cannot complete an INCOMPLETE neighbour
/// entry, so always append [`emit_tlla`] when answering address
/// resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborAdvertRepr {
    pub router: bool,
    pub solicited: bool,
    pub override_: bool,
    pub target: Ipv6Addr,
}

impl NeighborAdvertRepr {
    pub fn parse<T: AsRef<[u8]>>(na: &NeighborAdvert<T>) -> Self {
        NeighborAdvertRepr {
            router: na.router(),
            solicited: na.solicited(),
            override_: na.override_(),
            target: na.target(),
        }
    }

    /// Writes the 24-octet fixed part; returns where options start.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NdpError> {
        emit_fixed(buf, NA, NA_LEN)?;
        let mut na = NeighborAdvert {
            buffer: buf.get_mut(..NA_LEN).ok_or(NdpError::Truncated)?,
        };
        na.set_flags(self.router, self.solicited, self.override_);
        na.set_target(self.target);
        Ok(NA_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmpv6;

    const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    // fe80::1 (router, 02:00:00:00:00:01) answers the host fe80::2, which
    // solicited by multicast; hence the Target Link-Layer Address option.
    static NA_TLLA: [u8; 32] = [
        0x88, 0x00, 0x98, 0x1b, // type NA, code 0, checksum
        0xe0, 0x00, 0x00, 0x00, // R S O, reserved
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target fe80::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //        ...:1
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // TLLA option, length 1, MAC
    ];

    // fe80::2 asks ff02::1:ff00:1 who has fe80::1, with its SLLA.
    static NS_SLLA: [u8; 32] = [
        0x87, 0x00, 0x7a, 0x97, // type NS, code 0, checksum
        0x00, 0x00, 0x00, 0x00, // reserved
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target fe80::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, //        ...:1
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // SLLA option, length 1, MAC
    ];

    fn na_repr() -> NeighborAdvertRepr {
        NeighborAdvertRepr {
            router: true,
            solicited: true,
            override_: true,
            target: ip("fe80::1"),
        }
    }

    #[test]
    fn deconstruct() {
        let na = NeighborAdvert::new_checked(&NA_TLLA[..]).unwrap();
        assert!(na.router() && na.solicited() && na.override_());
        assert_eq!(na.target(), ip("fe80::1"));
        assert_eq!(na.target_lladdr(), Some(ROUTER_MAC));
        let opts: Vec<_> = na.options().collect();
        assert_eq!(opts, vec![Ok(NdpOption::TargetLinkLayerAddr(ROUTER_MAC))]);
        let p = icmpv6::Packet::new_checked(&NA_TLLA[..]).unwrap();
        assert!(p.verify_checksum(ip("fe80::1"), ip("fe80::2")));

        let ns = NeighborSolicit::new_checked(&NS_SLLA[..]).unwrap();
        assert_eq!(ns.target(), ip("fe80::1"));
        assert_eq!(ns.source_lladdr(), Some(HOST_MAC));
        let p = icmpv6::Packet::new_checked(&NS_SLLA[..]).unwrap();
        assert!(p.verify_checksum(ip("fe80::2"), ip("ff02::1:ff00:1")));
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 32];
        buf[0] = NA;
        let mut na = NeighborAdvert::new_checked(&mut buf[..]).unwrap();
        na.set_flags(true, true, true);
        na.set_target(ip("fe80::1"));
        emit_tlla(&mut buf[24..], ROUTER_MAC).unwrap();
        let mut p = icmpv6::Packet::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum(ip("fe80::1"), ip("fe80::2"));
        assert_eq!(buf, NA_TLLA);
    }

    #[test]
    fn parse() {
        let na = NeighborAdvert::new_checked(&NA_TLLA[..]).unwrap();
        assert_eq!(NeighborAdvertRepr::parse(&na), na_repr());
        let ns = NeighborSolicit::new_checked(&NS_SLLA[..]).unwrap();
        assert_eq!(
            NeighborSolicitRepr::parse(&ns),
            NeighborSolicitRepr {
                target: ip("fe80::1")
            }
        );
    }

    #[test]
    fn emit() {
        let mut buf = [0xaau8; 40];
        let n = na_repr().emit(&mut buf).unwrap();
        let n = n + emit_tlla(&mut buf[n..], ROUTER_MAC).unwrap();
        assert_eq!(n, 32);
        let mut p = icmpv6::Packet::new_checked(&mut buf[..n]).unwrap();
        p.fill_checksum(ip("fe80::1"), ip("fe80::2"));
        assert_eq!(&buf[..n], &NA_TLLA[..]);

        let mut buf = [0u8; 32];
        let n = NeighborSolicitRepr {
            target: ip("fe80::1"),
        }
        .emit(&mut buf)
        .unwrap();
        let n = n + emit_slla(&mut buf[n..], HOST_MAC).unwrap();
        let mut p = icmpv6::Packet::new_checked(&mut buf[..n]).unwrap();
        p.fill_checksum(ip("fe80::2"), ip("ff02::1:ff00:1"));
        assert_eq!(buf, NS_SLLA);

        assert_eq!(na_repr().emit(&mut [0u8; 23]), Err(NdpError::Truncated));
    }

    /// The NA xgw sends must be bit-identical to one etherparse builds.
    #[test]
    fn na_with_tlla_matches_etherparse() {
        use etherparse::icmpv6::NeighborAdvertisementHeader;
        let b =
            etherparse::PacketBuilder::ipv6(ip("fe80::1").octets(), ip("fe80::2").octets(), 255)
                .icmpv6(etherparse::Icmpv6Type::NeighborAdvertisement(
                    NeighborAdvertisementHeader {
                        router: true,
                        solicited: true,
                        r#override: true,
                    },
                ));
        let mut out = Vec::new();
        b.write(&mut out, &NA_TLLA[8..]).unwrap();
        assert_eq!(&out[40..], &NA_TLLA[..]);
        assert_eq!(out[7], 255); // hop limit, RFC 4861 § 7.1.2
    }

    // Router Advertisement: hop limit 64, O flag, lifetime 1800 s,
    // reachable 30000 ms, retrans 1000 ms, one MTU option.
    static RA_MTU: [u8; 24] = [
        0x86, 0x00, 0x00, 0x00, // type RA, code 0, checksum (not filled)
        0x40, 0x40, 0x07, 0x08, // cur hop limit 64, M=0 O=1, router lifetime 1800
        0x00, 0x00, 0x75, 0x30, // reachable time 30000
        0x00, 0x00, 0x03, 0xe8, // retrans timer 1000
        0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, // MTU option 1500
    ];

    fn ra_repr() -> RouterAdvertRepr {
        RouterAdvertRepr {
            cur_hop_limit: 64,
            managed: false,
            other_config: true,
            router_lifetime: 1800,
            reachable_time: 30000,
            retrans_timer: 1000,
        }
    }

    #[test]
    fn router_advert() {
        let ra = RouterAdvert::new_checked(&RA_MTU[..]).unwrap();
        assert_eq!(ra.cur_hop_limit(), 64);
        assert!(!ra.managed() && ra.other_config());
        assert_eq!(ra.router_lifetime(), 1800);
        assert_eq!(ra.reachable_time(), 30000);
        assert_eq!(ra.retrans_timer(), 1000);
        assert_eq!(RouterAdvertRepr::parse(&ra), ra_repr());
        assert_eq!(
            ra.options().collect::<Vec<_>>(),
            vec![Ok(NdpOption::Mtu(1500))]
        );

        let mut buf = [0xffu8; 24];
        let n = ra_repr().emit(&mut buf).unwrap();
        emit_mtu(&mut buf[n..], 1500).unwrap();
        assert_eq!(buf, RA_MTU);
    }

    #[test]
    fn router_solicit() {
        let mut buf = [0u8; 16];
        let n = RouterSolicitRepr.emit(&mut buf).unwrap();
        emit_slla(&mut buf[n..], HOST_MAC).unwrap();
        assert_eq!(&buf[..8], &[133, 0, 0, 0, 0, 0, 0, 0]);
        let rs = RouterSolicit::new_checked(&buf[..]).unwrap();
        assert_eq!(rs.source_lladdr(), Some(HOST_MAC));
        assert!(rs.options().check().is_ok());
        // RS without options is legal (unspecified source).
        assert_eq!(
            RouterSolicit::new_checked(&buf[..8])
                .unwrap()
                .source_lladdr(),
            None
        );
    }

    #[test]
    fn type_code_and_length_checks() {
        assert_eq!(
            NeighborAdvert::new_checked(&NS_SLLA[..]).err(),
            Some(NdpError::WrongType)
        );
        let mut b = NA_TLLA;
        b[1] = 1;
        assert_eq!(
            NeighborAdvert::new_checked(&b[..]).err(),
            Some(NdpError::BadCode)
        );
        assert_eq!(
            NeighborAdvert::new_checked(&NA_TLLA[..23]).err(),
            Some(NdpError::Truncated)
        );
        assert_eq!(
            RouterAdvert::new_checked(&RA_MTU[..15]).err(),
            Some(NdpError::Truncated)
        );
        // An option of length zero poisons the whole message.
        let mut b = NA_TLLA;
        b[25] = 0;
        let na = NeighborAdvert::new_checked(&b[..]).unwrap();
        assert_eq!(na.options().check(), Err(NdpError::ZeroOptionLength));
        assert_eq!(na.target_lladdr(), None);
    }

    #[test]
    fn prefixes_never_panic() {
        for msg in [&NA_TLLA[..], &NS_SLLA[..], &RA_MTU[..]] {
            for n in 0..=msg.len() {
                let b = &msg[..n];
                if let Ok(na) = NeighborAdvert::new_checked(b) {
                    let _ = (NeighborAdvertRepr::parse(&na), na.target_lladdr());
                    let _ = na.options().count();
                }
                if let Ok(ns) = NeighborSolicit::new_checked(b) {
                    let _ = (NeighborSolicitRepr::parse(&ns), ns.source_lladdr());
                    let _ = ns.options().check();
                }
                if let Ok(ra) = RouterAdvert::new_checked(b) {
                    let _ = (RouterAdvertRepr::parse(&ra), ra.options().count());
                }
                if let Ok(rs) = RouterSolicit::new_checked(b) {
                    let _ = (rs.source_lladdr(), rs.options().count());
                }
            }
        }
    }
}
