//! What the router is configured with, after validation: interfaces,
//! static routes and static neighbours. The engine's config loader builds
//! it; the router's tables are built from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::ethernet::MacAddr;
use crate::wire::ndp::PrefixInfo;
use crate::PortId;

/// Index of an interface in [`RouterSpec::ifaces`].
pub type IfaceId = u16;

/// Reverse-path filter (RFC 3704 §2.2–2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RpfMode {
    /// No check.
    #[default]
    Off,
    /// The source must be reachable through some route (not a blackhole
    /// or unreachable route).
    Loose,
    /// The best route back to the source must leave through the interface
    /// the packet came in on.
    Strict,
}

/// One logical interface: a port, optionally one 802.1Q VLAN on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceSpec {
    pub name: String,
    pub port: PortId,
    /// VLAN ID, 0 for untagged.
    pub vlan: u16,
    /// MAC used as source and answered for (the port's by default).
    pub mac: MacAddr,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// IPv6 link-local address (derived from the MAC by default).
    pub link_local: Ipv6Addr,
    /// IP MTU (bytes of IP packet, without the Ethernet header).
    pub mtu: u16,
    pub rpf: RpfMode,
    /// Router Advertisements sent on this interface; `None`: none.
    pub ra: Option<RaSpec>,
    /// The node that outputs packets routed to this interface, as an
    /// index into [`super::registry::outputs`]: 0 (`ip-rewrite`) for
    /// Ethernet interfaces, a feature's for its virtual interfaces.
    pub output: u8,
}

impl Default for IfaceSpec {
    /// An unnamed untagged interface on port 0 with no addresses, MTU
    /// 1500 and no router advertisements; set what matters with
    /// `IfaceSpec { name, port, mac, .., ..Default::default() }`.
    fn default() -> Self {
        IfaceSpec {
            name: String::new(),
            port: PortId(0),
            vlan: 0,
            mac: MacAddr::default(),
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            link_local: Ipv6Addr::UNSPECIFIED,
            mtu: 1500,
            rpf: RpfMode::Off,
            ra: None,
            output: 0,
        }
    }
}

/// Router Advertisements on one interface ([RFC 4861 § 6.2.1] variables),
/// with the RDNSS ([RFC 8106]) and PREF64 ([RFC 8781]) options. Every
/// value is final: the config loader fills in the defaults (prefixes from
/// the interface's /64s, MTU from the interface).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaSpec {
    /// MaxRtrAdvInterval, milliseconds (4 s to 1800 s).
    pub max_interval_ms: u32,
    /// MinRtrAdvInterval, milliseconds (3 s to 0.75 × the maximum).
    pub min_interval_ms: u32,
    /// Cur Hop Limit advertised; 0 = unspecified.
    pub hop_limit: u8,
    /// M flag: addresses via DHCPv6.
    pub managed: bool,
    /// O flag: other configuration via DHCPv6.
    pub other_config: bool,
    /// Seconds; 0 = not a default router.
    pub router_lifetime: u16,
    /// Milliseconds; 0 = unspecified.
    pub reachable_time: u32,
    /// Milliseconds; 0 = unspecified.
    pub retrans_timer: u32,
    /// MTU option value; `None`: no MTU option.
    pub mtu: Option<u32>,
    /// Prefix Information options, in order.
    pub prefixes: Vec<PrefixInfo>,
    /// Recursive DNS Server option.
    pub rdnss: Option<RdnssSpec>,
    /// NAT64 prefix option.
    pub pref64: Option<Pref64Spec>,
}

/// DNS servers advertised in one RDNSS option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdnssSpec {
    /// 1 to 127 addresses.
    pub servers: Vec<Ipv6Addr>,
    /// Seconds.
    pub lifetime: u32,
}

/// The NAT64 prefix advertised in a PREF64 option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pref64Spec {
    pub prefix: Ipv6Addr,
    /// 32, 40, 48, 56, 64 or 96.
    pub len: u8,
    /// Seconds, at most 65528 (sent in units of 8 s, rounded up).
    pub lifetime: u32,
}

impl Default for RaSpec {
    /// The RFC 4861 defaults: MaxRtrAdvInterval 600 s, MinRtrAdvInterval
    /// 0.33 × that, hop limit 64, router lifetime 1800 s; no options.
    fn default() -> Self {
        RaSpec {
            max_interval_ms: 600_000,
            min_interval_ms: 198_000,
            hop_limit: 64,
            managed: false,
            other_config: false,
            router_lifetime: 1800,
            reachable_time: 0,
            retrans_timer: 0,
            mtu: None,
            prefixes: Vec::new(),
            rdnss: None,
            pref64: None,
        }
    }
}

impl RaSpec {
    /// Length of the ICMPv6 message (fixed part and every option, the
    /// Source Link-Layer Address option included).
    pub fn message_len(&self) -> usize {
        16 + 8
            + if self.mtu.is_some() { 8 } else { 0 }
            + 32 * self.prefixes.len()
            + self.rdnss.as_ref().map_or(0, |r| 8 + 16 * r.servers.len())
            + if self.pref64.is_some() { 16 } else { 0 }
    }
}

/// Where a route sends packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// Through a gateway on an interface.
    Via { gateway: IpAddr, iface: IfaceId },
    /// Directly on an interface (connected route): the destination itself
    /// is the next hop.
    Connected { iface: IfaceId },
    /// Silently discarded (counted).
    Blackhole,
    /// Discarded with ICMP Destination Unreachable.
    Unreachable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub prefix: IpAddr,
    pub len: u8,
    pub target: RouteTarget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborSpec {
    pub iface: IfaceId,
    pub ip: IpAddr,
    pub mac: MacAddr,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterSpec {
    pub ifaces: Vec<IfaceSpec>,
    pub routes: Vec<RouteSpec>,
    pub neighbors: Vec<NeighborSpec>,
    /// Tunnel `i` is interface `TUN_BASE + i` at start.
    pub tunnels: Vec<TunnelSpec>,
    /// GTP-U endpoints, interface and sessions; `None`: off.
    pub gtpu: Option<crate::gtpu::GtpuSpec>,
    /// The NAT64 / SIIT translator; `None`: off.
    pub nat64: Option<crate::nat64::Nat64Spec>,
}

/// Masks host bits off an address.
pub fn network(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// Whether `addr` lies in `prefix/len`.
pub fn contains(prefix: IpAddr, len: u8, addr: IpAddr) -> bool {
    match (prefix, addr) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            network(addr, len) == network(prefix, len)
        }
        _ => false,
    }
}

/// Why `addr/len` cannot be an address of one of the router's interfaces
/// or tunnels, or `None` if it can: see [`special_addr`].
pub fn addr_problem(addr: IpAddr, len: u8) -> Option<String> {
    if len == 0 {
        return Some(format!(
            "{addr}/0 would put every address on this link; expected a prefix length of 1 or more"
        ));
    }
    special_addr(addr, len).map(|why| format!("{why}, not an interface address"))
}

/// What makes `addr`, on a link with prefix length `len`, no host's
/// address, or `None`: the unspecified, "this network" (0.0.0.0/8),
/// loopback, multicast, reserved (240.0.0.0/4) or IPv4-mapped address,
/// or the network or broadcast address of an IPv4 prefix shorter than /31
/// (RFC 1122 § 3.2.1.3, RFC 3021, RFC 4291 § 2.5). The text starts with
/// the address.
pub fn special_addr(addr: IpAddr, len: u8) -> Option<String> {
    let what = match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            let host = (u64::from(u32::MAX) >> len.min(32)) as u32;
            if o[0] == 0 {
                "in 0.0.0.0/8 (\"this network\", RFC 1122)"
            } else if a.is_loopback() {
                "a loopback address (127.0.0.0/8)"
            } else if a.is_multicast() {
                "a multicast address (224.0.0.0/4)"
            } else if a.is_broadcast() {
                "the limited broadcast address"
            } else if o[0] >= 240 {
                "in the reserved range 240.0.0.0/4"
            } else if len < 31 && u32::from(a) & host == 0 {
                return Some(format!("{a} is the network address of {a}/{len}"));
            } else if len < 31 && u32::from(a) & host == host {
                return Some(format!(
                    "{a} is the broadcast address of {}/{len}",
                    network(addr, len)
                ));
            } else {
                return None;
            }
        }
        IpAddr::V6(a) => {
            if a.is_unspecified() {
                "the unspecified address"
            } else if a.is_loopback() {
                "the loopback address"
            } else if a.is_multicast() {
                "a multicast address (ff00::/8)"
            } else if a.segments()[..6] == [0, 0, 0, 0, 0, 0xffff] {
                "an IPv4-mapped address (::ffff:0:0/96)"
            } else {
                return None;
            }
        }
    };
    Some(format!("{addr} is {what}"))
}

/// Whether `a/la` and `b/lb` share any address (one holds the other).
pub fn overlaps(a: IpAddr, la: u8, b: IpAddr, lb: u8) -> bool {
    contains(a, la.min(lb), b)
}

impl RouterSpec {
    /// The interface whose subnet holds `ip` (any interface for an IPv6
    /// link-local address: the first).
    pub fn on_link(&self, ip: IpAddr) -> Option<IfaceId> {
        self.ifaces
            .iter()
            .position(|f| match ip {
                IpAddr::V4(a) => f
                    .ipv4
                    .iter()
                    .any(|&(p, l)| contains(IpAddr::V4(p), l, IpAddr::V4(a))),
                IpAddr::V6(a) => {
                    (a.segments()[0] & 0xffc0) == 0xfe80
                        || f.ipv6
                            .iter()
                            .any(|&(p, l)| contains(IpAddr::V6(p), l, IpAddr::V6(a)))
                }
            })
            .map(|i| i as IfaceId)
    }

    /// Routes for the interfaces' own subnets (connected routes), plus the
    /// configured ones. Configured routes win on an identical prefix.
    pub fn all_routes(&self) -> Vec<RouteSpec> {
        let mut out: Vec<RouteSpec> = Vec::new();
        for (i, f) in self.ifaces.iter().enumerate() {
            let target = RouteTarget::Connected {
                iface: i as IfaceId,
            };
            // (Two addresses of one subnet on an interface: one route.)
            let subnets = f
                .ipv4
                .iter()
                .map(|&(a, l)| (IpAddr::V4(a), l))
                .chain(f.ipv6.iter().map(|&(a, l)| (IpAddr::V6(a), l)));
            for (a, l) in subnets {
                let prefix = network(a, l);
                if !out.iter().any(|r| r.prefix == prefix && r.len == l) {
                    out.push(RouteSpec {
                        prefix,
                        len: l,
                        target,
                    });
                }
            }
            out.push(RouteSpec {
                prefix: "fe80::".parse().expect("literal"),
                len: 64,
                target,
            });
        }
        for r in &self.routes {
            out.retain(|o| !(o.prefix == r.prefix && o.len == r.len));
            out.push(*r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(network(a, 24), "10.1.2.0".parse::<IpAddr>().unwrap());
        assert_eq!(network(a, 0), "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(network(a, 32), a);
        assert!(contains("10.1.0.0".parse().unwrap(), 16, a));
        assert!(!contains("10.2.0.0".parse().unwrap(), 16, a));
        assert!(
            !contains("::".parse().unwrap(), 0, a),
            "families never match"
        );
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(network(b, 32), "2001:db8::".parse::<IpAddr>().unwrap());
        assert!(contains("::".parse().unwrap(), 0, b));
    }

    #[test]
    fn two_addresses_of_one_subnet_make_one_connected_route() {
        let spec = RouterSpec {
            ifaces: vec![IfaceSpec {
                ipv4: vec![
                    ("192.168.0.1".parse().unwrap(), 24),
                    ("192.168.0.11".parse().unwrap(), 24),
                ],
                ipv6: vec![
                    ("fd00::1".parse().unwrap(), 64),
                    ("fd00::11".parse().unwrap(), 64),
                ],
                ..IfaceSpec::default()
            }],
            ..RouterSpec::default()
        };
        let r = spec.all_routes();
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(crate::router::table::Rib::new(&spec).is_ok());
    }

    fn problem(s: &str) -> Option<String> {
        let (a, l) = parse_cidr(s).unwrap();
        addr_problem(a, l)
    }

    #[test]
    fn spec_interface_addresses() {
        for good in [
            "10.0.0.1/24",
            "10.0.0.254/24",
            "192.0.2.0/31",
            "192.0.2.1/31",
            "192.0.2.7/32",
            "1.1.1.1/24",
            "223.255.255.1/24",
            "2001:db8::1/64",
            "2001:db8::/64",
            "fd00::1/128",
            "fe80::1/64",
        ] {
            assert_eq!(problem(good), None, "{good}");
        }
        for (bad, what) in [
            ("0.0.0.0/0", "/0"),
            ("10.0.0.1/0", "/0"),
            ("0.0.0.0/8", "this network"),
            ("0.1.2.3/24", "this network"),
            ("127.0.0.1/8", "loopback"),
            ("127.5.5.5/32", "loopback"),
            ("224.0.0.1/24", "multicast"),
            ("239.1.1.1/32", "multicast"),
            ("240.0.0.1/4", "reserved"),
            ("250.1.1.1/24", "reserved"),
            ("255.255.255.255/32", "limited broadcast"),
            ("10.0.0.0/24", "network address of 10.0.0.0/24"),
            ("10.0.0.255/24", "broadcast address of 10.0.0.0/24"),
            ("10.0.0.3/30", "broadcast address of 10.0.0.0/30"),
            ("::/0", "/0"),
            ("2001:db8::1/0", "/0"),
            ("::/128", "unspecified"),
            ("::1/128", "loopback"),
            ("ff02::1/64", "multicast"),
            ("ff00::/8", "multicast"),
            ("::ffff:10.0.0.1/96", "IPv4-mapped"),
        ] {
            let why = problem(bad).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(why.contains(what), "{bad}: {why}");
        }
    }

    fn tunnel(
        local: &str,
        remote: &str,
        mtu: Option<u32>,
    ) -> Result<TunnelSpec, (&'static str, String)> {
        let ours: IpAddr = "192.0.2.1".parse().unwrap();
        parse_tunnel(
            &TunnelInput {
                name: "t",
                kind: "4in4",
                local,
                remote,
                ipv4: vec!["10.255.0.1/30"],
                mtu,
                ..Default::default()
            },
            |a| a == ours,
        )
    }

    #[test]
    fn spec_tunnel_endpoints_and_mtu() {
        let t = tunnel("192.0.2.1", "198.51.100.1", Some(1400)).unwrap();
        assert_eq!(t.mtu, 1400);
        let e = tunnel("192.0.2.1", "192.0.2.1", None).unwrap_err();
        assert_eq!(e.0, "remote");
        assert!(e.1.contains("also the tunnel's local address"), "{}", e.1);
        let e = tunnel("192.0.2.9", "192.0.2.1", None).unwrap_err();
        assert_eq!(e.0, "local", "local is checked first");
        let e = tunnel("192.0.2.1", "127.0.0.1", None).unwrap_err();
        assert_eq!(e.0, "remote");
        assert!(e.1.contains("cannot be a tunnel endpoint"), "{}", e.1);
        let e = tunnel("192.0.2.1", "198.51.100.1", Some(70000)).unwrap_err();
        assert_eq!(
            e,
            (
                "mtu",
                "70000 is out of range; expected 68 to 9000".to_string()
            ),
            "the value given, not 65535"
        );
        let e = tunnel("192.0.2.1", "198.51.100.1", Some(67)).unwrap_err();
        assert_eq!(e.1, "67 is out of range; expected 68 to 9000");
        // the remote is one of our addresses
        let e = parse_tunnel(
            &TunnelInput {
                name: "t",
                kind: "4in4",
                local: "192.0.2.1",
                remote: "192.0.2.2",
                ..Default::default()
            },
            |a| a.is_ipv4() && a.to_string().starts_with("192.0.2."),
        )
        .unwrap_err();
        assert_eq!(e.0, "remote");
        assert!(e.1.contains("one of our own"), "{}", e.1);
        // the tunnel's own addresses
        let mut i = TunnelInput {
            name: "t",
            kind: "4in4",
            local: "192.0.2.1",
            remote: "198.51.100.1",
            ipv4: vec!["10.255.0.0/24"],
            ..Default::default()
        };
        let e = parse_tunnel(&i, |a| a == "192.0.2.1".parse::<IpAddr>().unwrap()).unwrap_err();
        assert_eq!(e.0, "ipv4");
        assert!(e.1.contains("network address"), "{}", e.1);
        i.ipv4 = vec!["10.255.0.1/32", "10.255.0.1/32"];
        let e = parse_tunnel(&i, |a| a == "192.0.2.1".parse::<IpAddr>().unwrap()).unwrap_err();
        assert!(e.1.contains("listed twice"), "{}", e.1);
    }
}

/// A route as an operator writes it, in the config or with `xgw route add`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteInput<'a> {
    pub prefix: &'a str,
    pub via: Option<&'a str>,
    pub interface: Option<&'a str>,
    /// "forward" (default), "blackhole" or "unreachable".
    pub kind: Option<&'a str>,
}

/// Checks a route and resolves its interface. Errors name the field
/// (`prefix`, `via`, `interface`, `kind`) and say what is expected.
pub fn parse_route(
    r: &RouteInput<'_>,
    iface_named: impl Fn(&str) -> Option<IfaceId>,
    on_link: impl Fn(IpAddr) -> Option<IfaceId>,
) -> Result<RouteSpec, (&'static str, String)> {
    let bad = || {
        (
            "prefix",
            format!(
                "\"{}\" is not a prefix like 10.2.0.0/16 or 2001:db8:2::/48",
                r.prefix
            ),
        )
    };
    let (a, l) = r.prefix.split_once('/').ok_or_else(bad)?;
    let (Ok(addr), Ok(len)) = (a.parse::<IpAddr>(), l.parse::<u8>()) else {
        return Err(bad());
    };
    if len > if addr.is_ipv4() { 32 } else { 128 } {
        return Err(bad());
    }
    if network(addr, len) != addr {
        return Err((
            "prefix",
            format!(
                "\"{}\" has host bits set; did you mean {}/{len}?",
                r.prefix,
                network(addr, len)
            ),
        ));
    }
    let iface = |n: &str| {
        iface_named(n).ok_or_else(|| ("interface", format!("no interface named \"{n}\"")))
    };
    let target = match r.kind.unwrap_or("forward") {
        k @ ("blackhole" | "unreachable") => {
            if r.via.is_some() || r.interface.is_some() {
                let f = if r.via.is_some() { "via" } else { "interface" };
                return Err((f, format!("a {k} route has no next hop; remove `{f}`")));
            }
            if k == "blackhole" {
                RouteTarget::Blackhole
            } else {
                RouteTarget::Unreachable
            }
        }
        "forward" => match (r.via, r.interface) {
            (Some(g), ifn) => {
                let gw: IpAddr = g.parse().map_err(|_| ("via", format!("\"{g}\" is not an IP address")))?;
                if gw.is_ipv4() != addr.is_ipv4() {
                    return Err(("via", format!("gateway {gw} is not of the prefix's address family")));
                }
                let iface = match ifn {
                    Some(n) => iface(n)?,
                    None => on_link(gw).ok_or_else(|| {
                        ("via", format!("gateway {gw} is on none of the interfaces' subnets; name the interface too"))
                    })?,
                };
                RouteTarget::Via { gateway: gw, iface }
            }
            (None, Some(n)) => RouteTarget::Connected { iface: iface(n)? },
            (None, None) => {
                return Err(("via", "missing; a route needs a gateway (via), an interface, or kind blackhole/unreachable".into()))
            }
        },
        other => return Err(("kind", format!("\"{other}\" is not a route kind; expected forward, blackhole or unreachable"))),
    };
    Ok(RouteSpec {
        prefix: addr,
        len,
        target,
    })
}

/// The first interface id of tunnels: tunnel slot `s` is interface
/// `TUN_BASE + s`. Physical interfaces are `0..TUN_BASE`.
pub const TUN_BASE: IfaceId = 0x8000;

/// The first id of virtual interfaces (features' fixed interfaces, then
/// tunnels from [`TUN_BASE`]): ids below are Ethernet interfaces.
pub const VIRT_BASE: IfaceId = 0x7f00;

/// The GTP-U interface (see [`crate::gtpu`]): routes to UE pools point
/// into it; decapsulated uplink packets come in on it.
pub const GTP_IFACE: IfaceId = VIRT_BASE;

/// The NAT64 / SIIT translator's interface (see [`crate::nat64`]): routes
/// to pool6 and to translated address space point into it.
pub const NAT64_IFACE: IfaceId = VIRT_BASE + 1;

/// Tunnels a router holds at most (config and run time together).
pub const MAX_TUNNELS: usize = 256;

/// An IP-in-IP tunnel's encapsulation: inner family in outer family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// IPv4 in IPv4, IP protocol 4 (RFC 2003).
    FourInFour,
    /// IPv6 in IPv4, IP protocol 41 (RFC 4213).
    SixInFour,
    /// IPv4 in IPv6, next header 4 (RFC 2473).
    FourInSix,
    /// IPv6 in IPv6, next header 41 (RFC 2473).
    SixInSix,
}

impl TunnelKind {
    pub const ALL: [TunnelKind; 4] = [
        TunnelKind::FourInFour,
        TunnelKind::SixInFour,
        TunnelKind::FourInSix,
        TunnelKind::SixInSix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::FourInFour => "4in4",
            TunnelKind::SixInFour => "6in4",
            TunnelKind::FourInSix => "4in6",
            TunnelKind::SixInSix => "6in6",
        }
    }

    pub fn from_name(s: &str) -> Option<TunnelKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn outer_v6(self) -> bool {
        matches!(self, TunnelKind::FourInSix | TunnelKind::SixInSix)
    }

    pub fn inner_v6(self) -> bool {
        matches!(self, TunnelKind::SixInFour | TunnelKind::SixInSix)
    }

    /// The outer header's protocol / next header.
    pub fn proto(self) -> u8 {
        if self.inner_v6() {
            41
        } else {
            4
        }
    }

    /// Bytes the outer header adds.
    pub fn overhead(self) -> usize {
        if self.outer_v6() {
            40
        } else {
            20
        }
    }
}

/// Outer TTL / hop limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlMode {
    Fixed(u8),
    /// The inner packet's (after this router's decrement).
    Inherit,
}

/// Outer DSCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DscpMode {
    Fixed(u8),
    Copy,
}

/// Outer IPv4 DF bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DfMode {
    /// The inner IPv4 packet's DF; always set for IPv6 inside.
    Copy,
    Set,
    Clear,
}

/// RFC 6040 §4.1 encapsulation mode (decapsulation always follows
/// RFC 6040 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcnMode {
    /// Copy the inner ECN field to the outer header.
    Normal,
    /// Outer ECN field Not-ECT (for legacy decapsulators).
    Compatibility,
}

/// One tunnel, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelSpec {
    pub name: String,
    pub kind: TunnelKind,
    /// Outer source: one of our interface addresses.
    pub local: IpAddr,
    /// Outer destination: the other end.
    pub remote: IpAddr,
    /// Addresses on the tunnel interface (its connected routes).
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// Largest inner packet.
    pub mtu: u16,
    pub ttl: TtlMode,
    pub dscp: DscpMode,
    pub df: DfMode,
    pub ecn: EcnMode,
    /// Reverse-path filter applied to decapsulated packets.
    pub rpf: RpfMode,
}

/// How a tunnel's outer header takes its TOS / traffic class, TTL / hop
/// limit and DF from the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuterModes {
    pub ttl: TtlMode,
    pub dscp: DscpMode,
    pub df: DfMode,
    pub ecn: EcnMode,
}

impl Default for OuterModes {
    fn default() -> Self {
        OuterModes {
            ttl: TtlMode::Fixed(64),
            dscp: DscpMode::Copy,
            df: DfMode::Copy,
            ecn: EcnMode::Normal,
        }
    }
}

impl OuterModes {
    /// The outer (TOS, TTL, DF) for an inner packet with these (DSCP
    /// copied or fixed, ECN per RFC 6040 §4.1, TTL fixed or inherited,
    /// DF copied, set or cleared).
    #[inline]
    pub fn outer(self, tos: u8, ttl: u8, df: bool) -> (u8, u8, bool) {
        let dscp = match self.dscp {
            DscpMode::Copy => tos >> 2,
            DscpMode::Fixed(x) => x,
        };
        let ecn = crate::ipip::ecn_encap(tos, self.ecn);
        let ttl = match self.ttl {
            TtlMode::Fixed(x) => x,
            TtlMode::Inherit => ttl.max(1),
        };
        let df = match self.df {
            DfMode::Copy => df,
            DfMode::Set => true,
            DfMode::Clear => false,
        };
        ((dscp << 2) | ecn, ttl, df)
    }
}

impl TunnelSpec {
    /// The outer header modes.
    pub fn modes(&self) -> OuterModes {
        OuterModes {
            ttl: self.ttl,
            dscp: self.dscp,
            df: self.df,
            ecn: self.ecn,
        }
    }

    /// A tunnel with the defaults: MTU 1500 minus the outer header, TTL
    /// 64, DSCP copied, DF copied, ECN normal mode, no reverse-path filter.
    pub fn new(name: &str, kind: TunnelKind, local: IpAddr, remote: IpAddr) -> Self {
        TunnelSpec {
            name: name.to_string(),
            kind,
            local,
            remote,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            mtu: (1500 - kind.overhead()) as u16,
            ttl: TtlMode::Fixed(64),
            dscp: DscpMode::Copy,
            df: DfMode::Copy,
            ecn: EcnMode::Normal,
            rpf: RpfMode::Off,
        }
    }

    /// The interface view of the tunnel (addresses, MTU, RPF).
    pub fn iface(&self) -> IfaceSpec {
        IfaceSpec {
            name: self.name.clone(),
            port: PortId(u16::MAX),
            ipv4: self.ipv4.clone(),
            ipv6: self.ipv6.clone(),
            mtu: self.mtu,
            rpf: self.rpf,
            // Packets routed into it are ipip-encap's.
            output: super::registry::output_of(crate::ipip::FEATURE.name),
            ..IfaceSpec::default()
        }
    }

    /// The smallest MTU the tunnel may have: 1280 if it carries IPv6,
    /// 68 otherwise (RFC 8200 § 5, RFC 791).
    pub fn min_mtu(&self) -> u16 {
        if self.kind.inner_v6() || !self.ipv6.is_empty() {
            1280
        } else {
            68
        }
    }

    /// Checks what the config and `tunnel-add` share. Errors name the
    /// field.
    pub fn check(&self, is_ours: impl Fn(IpAddr) -> bool) -> Result<(), (&'static str, String)> {
        let v6 = self.kind.outer_v6();
        for (f, a) in [("local", self.local), ("remote", self.remote)] {
            if a.is_ipv6() != v6 {
                return Err((
                    f,
                    format!(
                        "{a} is not an IPv{} address, as a {} tunnel's outer header needs",
                        if v6 { 6 } else { 4 },
                        self.kind.name()
                    ),
                ));
            }
            let bad = match a {
                IpAddr::V4(x) => {
                    x.is_multicast()
                        || x.is_broadcast()
                        || x.octets()[0] == 0
                        || x.is_loopback()
                        || x.octets()[0] >= 240
                }
                IpAddr::V6(x) => x.is_multicast() || x.is_unspecified() || x.is_loopback(),
            };
            if bad {
                return Err((f, format!("{a} cannot be a tunnel endpoint (unspecified, loopback, multicast, broadcast or reserved)")));
            }
        }
        if !is_ours(self.local) {
            return Err((
                "local",
                format!("{} is none of the interfaces' addresses", self.local),
            ));
        }
        if self.remote == self.local {
            return Err((
                "remote",
                format!(
                    "{} is also the tunnel's local address; the remote is the other end",
                    self.remote
                ),
            ));
        }
        if is_ours(self.remote) {
            return Err((
                "remote",
                format!(
                    "{} is one of our own interfaces' addresses; the remote is the other end",
                    self.remote
                ),
            ));
        }
        let min = self.min_mtu();
        if !(min..=9000).contains(&self.mtu) {
            return Err((
                "mtu",
                format!("{} is out of range; expected {min} to 9000", self.mtu),
            ));
        }
        if self.ttl == TtlMode::Fixed(0) {
            return Err(("ttl", "0; expected 1 to 255 or \"inherit\"".into()));
        }
        if matches!(self.dscp, DscpMode::Fixed(d) if d > 63) {
            return Err(("dscp", "expected 0 to 63 or \"copy\"".into()));
        }
        if v6 && self.df != DfMode::Copy {
            return Err((
                "df",
                "an IPv6 outer header has no DF bit; remove this key".into(),
            ));
        }
        Ok(())
    }
}

/// A tunnel as an operator writes it (config or `xgw tunnel add`).
#[derive(Clone, Debug, Default)]
pub struct TunnelInput<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub local: &'a str,
    pub remote: &'a str,
    pub ipv4: Vec<&'a str>,
    pub ipv6: Vec<&'a str>,
    pub mtu: Option<u32>,
    /// "inherit" or 1..255.
    pub ttl: Option<String>,
    /// "copy" or 0..63.
    pub dscp: Option<String>,
    /// "copy", "set" or "clear".
    pub df: Option<&'a str>,
    /// "normal" or "compatibility".
    pub ecn: Option<&'a str>,
    /// "off", "loose" or "strict".
    pub rpf: Option<&'a str>,
}

/// `a.b.c.d/len` or `x::y/len`, an address with its prefix length.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = s.split_once('/')?;
    let a: IpAddr = a.parse().ok()?;
    let l: u8 = l.parse().ok()?;
    (l <= if a.is_ipv4() { 32 } else { 128 }).then_some((a, l))
}

/// Builds and checks a tunnel. `is_ours` says whether an address belongs
/// to one of the router's interfaces. Errors name the field.
pub fn parse_tunnel(
    t: &TunnelInput<'_>,
    is_ours: impl Fn(IpAddr) -> bool,
) -> Result<TunnelSpec, (&'static str, String)> {
    if t.name.is_empty()
        || t.name.len() > 32
        || !t
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err((
            "name",
            format!(
                "\"{}\" is not a name; expected 1-32 letters, digits, - _ .",
                t.name
            ),
        ));
    }
    let kind = TunnelKind::from_name(t.kind).ok_or_else(|| {
        (
            "kind",
            format!(
                "\"{}\" is not a tunnel kind; expected 4in4, 6in4, 4in6 or 6in6",
                t.kind
            ),
        )
    })?;
    let addr = |f: &'static str, s: &str| {
        s.parse::<IpAddr>()
            .map_err(|_| (f, format!("\"{s}\" is not an IP address")))
    };
    let mut spec = TunnelSpec::new(
        t.name,
        kind,
        addr("local", t.local)?,
        addr("remote", t.remote)?,
    );
    for s in &t.ipv4 {
        match parse_cidr(s) {
            Some((IpAddr::V4(a), l)) => {
                if let Some(why) = addr_problem(IpAddr::V4(a), l) {
                    return Err(("ipv4", why));
                }
                if spec.ipv4.iter().any(|&(x, _)| x == a) {
                    return Err(("ipv4", format!("{a} is listed twice")));
                }
                spec.ipv4.push((a, l))
            }
            _ => {
                return Err((
                    "ipv4",
                    format!("\"{s}\" is not an IPv4 address with prefix length, like 1.1.1.1/24"),
                ))
            }
        }
    }
    for s in &t.ipv6 {
        match parse_cidr(s) {
            Some((IpAddr::V6(a), l)) => {
                if let Some(why) = addr_problem(IpAddr::V6(a), l) {
                    return Err(("ipv6", why));
                }
                if spec.ipv6.iter().any(|&(x, _)| x == a) {
                    return Err(("ipv6", format!("{a} is listed twice")));
                }
                spec.ipv6.push((a, l))
            }
            _ => {
                return Err((
                    "ipv6",
                    format!(
                        "\"{s}\" is not an IPv6 address with prefix length, like 2001:db8:ff::1/64"
                    ),
                ))
            }
        }
    }
    if let Some(m) = t.mtu {
        // Checked here on the value given: a u16 would turn 70000 into
        // 65535 in the message.
        let min = spec.min_mtu();
        if !(u32::from(min)..=9000).contains(&m) {
            return Err((
                "mtu",
                format!("{m} is out of range; expected {min} to 9000"),
            ));
        }
        spec.mtu = m as u16;
    }
    if let Some(x) = &t.ttl {
        spec.ttl = match x.as_str() {
            "inherit" => TtlMode::Inherit,
            n => match n.parse::<u8>() {
                Ok(v) if v > 0 => TtlMode::Fixed(v),
                _ => return Err(("ttl", format!("\"{n}\"; expected 1 to 255 or \"inherit\""))),
            },
        };
    }
    if let Some(x) = &t.dscp {
        spec.dscp = match x.as_str() {
            "copy" => DscpMode::Copy,
            n => match n.parse::<u8>() {
                Ok(v) if v < 64 => DscpMode::Fixed(v),
                _ => return Err(("dscp", format!("\"{n}\"; expected 0 to 63 or \"copy\""))),
            },
        };
    }
    if let Some(x) = t.df {
        spec.df = match x {
            "copy" => DfMode::Copy,
            "set" => DfMode::Set,
            "clear" => DfMode::Clear,
            n => return Err(("df", format!("\"{n}\"; expected copy, set or clear"))),
        };
    }
    if let Some(x) = t.ecn {
        spec.ecn = match x {
            "normal" => EcnMode::Normal,
            "compatibility" => EcnMode::Compatibility,
            n => {
                return Err((
                    "ecn",
                    format!("\"{n}\"; expected normal or compatibility (RFC 6040)"),
                ))
            }
        };
    }
    if let Some(x) = t.rpf {
        spec.rpf = match x {
            "off" => RpfMode::Off,
            "loose" => RpfMode::Loose,
            "strict" => RpfMode::Strict,
            n => return Err(("rpf", format!("\"{n}\"; expected off, loose or strict"))),
        };
    }
    spec.check(is_ours)?;
    Ok(spec)
}
