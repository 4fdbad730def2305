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
            for &(a, l) in &f.ipv4 {
                out.push(RouteSpec {
                    prefix: network(IpAddr::V4(a), l),
                    len: l,
                    target,
                });
            }
            for &(a, l) in &f.ipv6 {
                out.push(RouteSpec {
                    prefix: network(IpAddr::V6(a), l),
                    len: l,
                    target,
                });
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
