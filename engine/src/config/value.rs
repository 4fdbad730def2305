//! Validating newtypes: value kinds whose check needs no other key.
//!
//! Each one deserialises through `#[serde(try_from = ...)]` from the plain
//! TOML value, so a bad value is refused while serde still knows where it
//! is, and the error names its key like any serde error. Checks that need
//! other keys (duplicates, overlaps, "one of our own addresses", ranges
//! that depend on another value) stay in the validation passes.
//!
//! The messages are the ones the hand checks gave: `Config::parse` takes
//! an [`Invalid`] message as it is, without the location toml adds to its
//! own (the key already says where), and [`clip`](super::clip) shortens
//! the echoed value as for every other message.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use serde::Deserialize;
use xgw_pipelines::router::spec::{addr_problem, network};
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::MAX_BURST;

/// Starts the text of every [`Invalid`], so that `Config::parse` can tell
/// a newtype's message from serde's and toml's own.
pub(super) const MARK: char = '\u{1}';

/// Why a value was refused (the message, without the key).
#[derive(Debug)]
pub(super) struct Invalid(String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{MARK}{}", self.0)
    }
}

fn invalid<T>(msg: String) -> Result<T, Invalid> {
    Err(Invalid(msg))
}

/// `s` in double quotes, control characters escaped: a message is one
/// line whatever the value holds.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(256) + 2);
    out.push('"');
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Defines a newtype over a number: `$name($inner)` read from `$from`,
/// kept when `$ok` holds for it (`$v`), refused with `$msg` otherwise.
macro_rules! number {
    ($(#[$doc:meta])* $name:ident($inner:ty) from $from:ty = $froms:literal, |$v:ident| $ok:expr, $msg:expr) => {
        $(#[$doc])*
        #[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
        #[serde(try_from = $froms)]
        pub(super) struct $name(pub(super) $inner);

        impl TryFrom<$from> for $name {
            type Error = Invalid;
            fn try_from($v: $from) -> Result<Self, Invalid> {
                if $ok {
                    // The check bounds the value to the inner type.
                    Ok($name($v as $inner))
                } else {
                    invalid($msg)
                }
            }
        }
    };
}

// ------------------------------------------------------------ [engine]

number!(
    /// `engine.burst`: frames per burst, 1 to `MAX_BURST`.
    Burst(usize) from usize = "usize",
    |v| (1..=MAX_BURST).contains(&v),
    format!("{v} is out of range; expected 1 to {MAX_BURST}")
);

number!(
    /// `engine.umem.frame_size`: 2048 or 4096.
    FrameSize(u32) from u32 = "u32",
    |v| v == 2048 || v == 4096,
    format!("{v} is not supported; expected 2048 or 4096")
);

number!(
    /// `engine.umem.frames`: frames per worker, 64 to 2^20.
    Frames(u32) from u32 = "u32",
    |v| (64..=1 << 20).contains(&v),
    format!("{v} is out of range; expected 64 to 1048576 frames per worker")
);

/// `control.socket`: a path a Unix socket can bind: not empty, at most
/// 107 bytes (`sockaddr_un.sun_path` holds 108 with the NUL), no NUL, not
/// a directory.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct SocketPath(pub(super) PathBuf);

impl TryFrom<String> for SocketPath {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        if s.is_empty() {
            return invalid(
                "empty; expected the path of the control socket, e.g. \"/run/xgw/xgw.sock\"".into(),
            );
        }
        if s.len() > 107 {
            return invalid(format!(
                "a path of {} bytes; a Unix socket path holds at most 107",
                s.len()
            ));
        }
        if s.contains('\0') {
            return invalid("contains a NUL character".into());
        }
        if s.ends_with('/') {
            return invalid(format!(
                "{} names a directory; expected the socket's file path",
                quoted(&s)
            ));
        }
        Ok(SocketPath(PathBuf::from(s)))
    }
}

// ------------------------------------------------------------- [[ports]]

/// `ports[].name`: 1 to 32 letters, digits, `-` or `_`.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct PortName(pub(super) String);

impl TryFrom<String> for PortName {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        if s.is_empty()
            || s.len() > 32
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid(format!(
                "{} is not a port name; expected 1-32 letters, digits, - or _",
                quoted(&s)
            ));
        }
        Ok(PortName(s))
    }
}

/// `ports[].interface`: a network device name as the kernel takes it
/// (1 to 15 bytes, no `/` or space).
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct NetdevName(pub(super) String);

impl TryFrom<String> for NetdevName {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() >= 16 || s.contains(['/', ' ']) {
            return invalid(format!(
                "{} is not an interface name (1-15 characters, no / or space)",
                quoted(&s)
            ));
        }
        Ok(NetdevName(s))
    }
}

number!(
    /// An AF_XDP ring size: a power of two from 64 to 65536.
    RingSize(u32) from u32 = "u32",
    |v| v.is_power_of_two() && (64..=65536).contains(&v),
    format!("{v} is not a ring size; expected a power of two from 64 to 65536")
);

number!(
    /// `ports[].busy_poll_budget`: 0 (off) to 1024.
    BusyPollBudget(u32) from u32 = "u32",
    |v| v <= 1024,
    format!("{v} is too large; expected 0 (off) to 1024")
);

number!(
    /// `ports[].capacity` of a mem port: 1 to 2^20 frames.
    Capacity(u32) from u32 = "u32",
    |v| (1..=1 << 20).contains(&v),
    format!("{v} is out of range; expected 1 to 1048576")
);

/// An IPv4 address (no prefix length).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct Ipv4(pub(super) Ipv4Addr);

impl TryFrom<String> for Ipv4 {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        match s.parse() {
            Ok(a) => Ok(Ipv4(a)),
            Err(_) => invalid(format!("{} is not an IPv4 address", quoted(&s))),
        }
    }
}

/// An IPv6 address (no prefix length).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct Ipv6(pub(super) Ipv6Addr);

impl TryFrom<String> for Ipv6 {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        match s.parse() {
            Ok(a) => Ok(Ipv6(a)),
            Err(_) => invalid(format!("{} is not an IPv6 address", quoted(&s))),
        }
    }
}

// ------------------------------------------------------------------ MACs

fn parse_mac(s: &str) -> Result<MacAddr, Invalid> {
    s.parse().or_else(|_| {
        invalid(format!(
            "{} is not a MAC address; expected six hex octets like 02:00:00:00:00:01",
            quoted(s)
        ))
    })
}

/// Any MAC address (`pipeline.l2fwd.pairs[].a_peer`).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct Mac(pub(super) MacAddr);

impl TryFrom<String> for Mac {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        parse_mac(&s).map(Mac)
    }
}

/// Whose MAC a [`UnicastMac`] is, for its message.
pub(super) trait Whose {
    /// "a port", "an interface", "a neighbour".
    const WHO: &'static str;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OfPort {}
impl Whose for OfPort {
    const WHO: &'static str = "a port";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OfIface {}
impl Whose for OfIface {
    const WHO: &'static str = "an interface";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OfNeighbor {}
impl Whose for OfNeighbor {
    const WHO: &'static str = "a neighbour";
}

/// A MAC a port or interface sends from, or a neighbour's: unicast (I/G
/// bit clear, so not broadcast) and not all zero.
#[derive(Deserialize, Debug, PartialEq, Eq)]
#[serde(try_from = "String", bound = "")]
pub(super) struct UnicastMac<W: Whose>(pub(super) MacAddr, PhantomData<W>);

// Not derived: a derive would want `W: Clone`.
impl<W: Whose> Clone for UnicastMac<W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: Whose> Copy for UnicastMac<W> {}

impl<W: Whose> TryFrom<String> for UnicastMac<W> {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        let m = parse_mac(&s)?;
        let why = if m.0 == [0xff; 6] {
            "the broadcast address"
        } else if m.is_multicast() {
            "a multicast address (the I/G bit of the first octet is set)"
        } else if m.0 == [0; 6] {
            "all zero"
        } else {
            return Ok(UnicastMac(m, PhantomData));
        };
        invalid(format!(
            "{m} is {why}; {} needs a unicast MAC like 02:00:00:00:00:01",
            W::WHO
        ))
    }
}

// -------------------------------------------------------- [[interfaces]]

/// `interfaces[].name`: 1 to 32 letters, digits, `-`, `_` or `.`.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct IfaceName(pub(super) String);

impl TryFrom<String> for IfaceName {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        if s.is_empty()
            || s.len() > 32
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return invalid(format!(
                "{} is not an interface name; expected 1-32 letters, digits, - _ .",
                quoted(&s)
            ));
        }
        Ok(IfaceName(s))
    }
}

number!(
    /// `interfaces[].vlan`: an 802.1Q VLAN ID, 1 to 4094 (no key:
    /// untagged).
    VlanId(u16) from u32 = "u32",
    |v| (1..=4094).contains(&v),
    format!("{v} is not a VLAN ID; expected 1 to 4094 (omit the key for untagged)")
);

number!(
    /// `interfaces[].mtu`: 68 (the IPv4 minimum) to 9000; an interface
    /// with IPv6 addresses needs 1280 (checked with the addresses).
    IfaceMtu(u16) from u32 = "u32",
    |v| (68..=9000).contains(&v),
    format!("{v} is out of range; expected 68 to 9000 (1280, the IPv6 minimum, with IPv6 addresses)")
);

/// `interfaces[].link_local`: an address in fe80::/10.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct LinkLocal(pub(super) Ipv6Addr);

impl TryFrom<String> for LinkLocal {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        match s.parse::<Ipv6Addr>() {
            Ok(a) if is_link_local(a) => Ok(LinkLocal(a)),
            _ => invalid(format!(
                "{} is not an IPv6 link-local address (fe80::/10)",
                quoted(&s)
            )),
        }
    }
}

/// Whether `a` is in fe80::/10.
pub(super) fn is_link_local(a: Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// An address family: what [`Cidr`] and [`IfaceAddr`] need to know.
pub(super) trait Family: std::str::FromStr + Copy + fmt::Debug + PartialEq {
    const NAME: &'static str;
    const MAX_LEN: u8;
    const EXAMPLE: &'static str;
    fn ip(self) -> IpAddr;
}

impl Family for Ipv4Addr {
    const NAME: &'static str = "IPv4";
    const MAX_LEN: u8 = 32;
    const EXAMPLE: &'static str = "10.0.0.1/24";
    fn ip(self) -> IpAddr {
        IpAddr::V4(self)
    }
}

impl Family for Ipv6Addr {
    const NAME: &'static str = "IPv6";
    const MAX_LEN: u8 = 128;
    const EXAMPLE: &'static str = "2001:db8::1/64";
    fn ip(self) -> IpAddr {
        IpAddr::V6(self)
    }
}

/// An address with a prefix length, `A/len`, host bits allowed.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String", bound = "")]
pub(super) struct Cidr<A: Family> {
    pub(super) addr: A,
    pub(super) len: u8,
}

impl<A: Family> TryFrom<String> for Cidr<A> {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        let parsed = s
            .split_once('/')
            .and_then(|(a, l)| Some((a.parse::<A>().ok()?, l.parse::<u8>().ok()?)));
        match parsed {
            Some((addr, len)) if len <= A::MAX_LEN => Ok(Cidr { addr, len }),
            _ => invalid(format!(
                "{} is not an {} address with a prefix length, e.g. {}",
                quoted(&s),
                A::NAME,
                A::EXAMPLE
            )),
        }
    }
}

impl<A: Family> Cidr<A> {
    /// `Err(message)` if host bits are set (`text` is the value as written).
    fn no_host_bits(&self, text: &str) -> Result<(), Invalid> {
        let net = network(self.addr.ip(), self.len);
        if net != self.addr.ip() {
            return invalid(format!(
                "{} has host bits set; did you mean {net}/{}?",
                quoted(text),
                self.len
            ));
        }
        Ok(())
    }
}

/// `interfaces[].ipv4[]`, `interfaces[].ipv6[]`: an address with a prefix
/// length that can be an interface's (see
/// `xgw_pipelines::router::spec::addr_problem`).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String", bound = "")]
pub(super) struct IfaceAddr<A: Family>(pub(super) Cidr<A>);

impl<A: Family> TryFrom<String> for IfaceAddr<A> {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        let c = Cidr::<A>::try_from(s)?;
        if let Some(why) = addr_problem(c.addr.ip(), c.len) {
            return invalid(why);
        }
        Ok(IfaceAddr(c))
    }
}

// ------------------------------------------------------ [interfaces.ra]

number!(
    /// `ra.interval`: MaxRtrAdvInterval, 4 to 1800 seconds.
    RaInterval(u32) from u32 = "u32",
    |v| (4..=1800).contains(&v),
    format!("{v} is out of range; expected 4 to 1800 seconds (MaxRtrAdvInterval, RFC 4861 § 6.2.1)")
);

number!(
    /// `ra.hop_limit`: 0 (unspecified) to 255.
    HopLimit(u8) from u32 = "u32",
    |v| v <= 255,
    format!("{v} is out of range; expected 0 (unspecified) to 255")
);

number!(
    /// `ra.reachable_time_ms`: 0 (unspecified) to 3600000 ms.
    ReachableTime(u32) from u32 = "u32",
    |v| v <= 3_600_000,
    format!("{v} is out of range; expected 0 (unspecified) to 3600000 milliseconds")
);

number!(
    /// `ra.pref64.lifetime`: at most 65528 seconds (8191 units of 8 s).
    Pref64Lifetime(u32) from u32 = "u32",
    |v| v <= 65528,
    format!("{v} is out of range; expected at most 65528 seconds (8191 units of 8 s, RFC 8781 § 4)")
);

/// `ra.prefixes[].prefix`: an IPv6 prefix hosts can use: no host bits,
/// not link-local or multicast.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct RaPrefix {
    pub(super) net: Cidr<Ipv6Addr>,
    /// As written, for messages.
    pub(super) text: String,
}

impl TryFrom<String> for RaPrefix {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        let net = Cidr::<Ipv6Addr>::try_from(s.clone())?;
        net.no_host_bits(&s)?;
        if net.addr.is_multicast() || is_link_local(net.addr) {
            return invalid(format!(
                "{} is link-local or multicast; hosts ignore it (RFC 4862 § 5.5.3)",
                quoted(&s)
            ));
        }
        Ok(RaPrefix { net, text: s })
    }
}

/// `ra.pref64.prefix`: a NAT64 prefix (RFC 6052 lengths, no host bits).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct Nat64Prefix(pub(super) Cidr<Ipv6Addr>);

impl TryFrom<String> for Nat64Prefix {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        let c = Cidr::<Ipv6Addr>::try_from(s.clone())?;
        if ![32, 40, 48, 56, 64, 96].contains(&c.len) {
            return invalid(format!(
                "/{} is not a NAT64 prefix length; expected 32, 40, 48, 56, 64 or 96 (RFC 6052, RFC 8781)",
                c.len
            ));
        }
        c.no_host_bits(&s)?;
        Ok(Nat64Prefix(c))
    }
}

/// `ra.rdnss.servers[]`: a unicast IPv6 address.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "String")]
pub(super) struct UnicastV6(pub(super) Ipv6Addr);

impl TryFrom<String> for UnicastV6 {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        match s.parse::<Ipv6Addr>() {
            Ok(a) if !a.is_multicast() && !a.is_unspecified() => Ok(UnicastV6(a)),
            _ => invalid(format!("{} is not a unicast IPv6 address", quoted(&s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtypes_check_alone() {
        assert_eq!(VlanId::try_from(4094).unwrap(), VlanId(4094));
        assert!(VlanId::try_from(0).is_err());
        assert!(RingSize::try_from(96).is_err());
        assert_eq!(
            UnicastMac::<OfPort>::try_from("ff:ff:ff:ff:ff:ff".to_string())
                .unwrap_err()
                .to_string(),
            format!(
                "{MARK}ff:ff:ff:ff:ff:ff is the broadcast address; a port needs a unicast MAC like 02:00:00:00:00:01"
            )
        );
        let a = IfaceAddr::<Ipv4Addr>::try_from("10.0.0.1/24".to_string()).unwrap();
        assert_eq!((a.0.addr, a.0.len), (Ipv4Addr::new(10, 0, 0, 1), 24));
        assert!(IfaceAddr::<Ipv4Addr>::try_from("10.0.0.0/24".to_string()).is_err());
        // a newline in a value never splits the message
        let e = PortName::try_from("w\nan".to_string()).unwrap_err().0;
        assert_eq!(
            e,
            "\"w\\nan\" is not a port name; expected 1-32 letters, digits, - or _"
        );
        assert!(SocketPath::try_from("/run/".to_string()).is_err());
        assert!(SocketPath::try_from("a\0b".to_string()).is_err());
    }
}
