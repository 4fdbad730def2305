//! What the router is configured with, after validation: interfaces,
//! static routes and static neighbours. The engine's config loader builds
//! it; the router's tables are built from it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::ethernet::MacAddr;
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
