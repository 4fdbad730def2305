//! `[[interfaces]]`, `[[routes]]` and `[[neighbors]]`: the router
//! pipeline's tables (with `[interfaces.ra]` in `ra.rs` and `[[tunnels]]`
//! in `tunnels.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use xgw_pipelines::gtpu::GtpuSpec;
use xgw_pipelines::router::neigh::NEIGH_CAPACITY;
use xgw_pipelines::router::spec::{
    contains, network, overlaps, parse_route, special_addr, IfaceSpec, NeighborSpec, RaSpec,
    RouteInput, RouteSpec, RouteTarget, RouterSpec, RpfMode, TunnelSpec, GTP_IFACE, NAT64_IFACE,
    TUN_BASE, VIRT_BASE,
};
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::PortId;

use super::gtpu::validate_gtpu;
use super::ra::{validate_ra, RawRa};
use super::tunnels::validate_tunnels;
use super::value::{
    IfaceAddr, IfaceMtu, IfaceName, LinkLocal, OfIface, OfNeighbor, UnicastMac, VlanId,
};
use super::{ConfigError, Raw, V};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIface {
    pub(super) name: IfaceName,
    pub(super) port: String,
    pub(super) vlan: Option<VlanId>,
    pub(super) mac: Option<UnicastMac<OfIface>>,
    #[serde(default)]
    pub(super) ipv4: Vec<IfaceAddr<Ipv4Addr>>,
    #[serde(default)]
    pub(super) ipv6: Vec<IfaceAddr<Ipv6Addr>>,
    pub(super) link_local: Option<LinkLocal>,
    pub(super) mtu: Option<IfaceMtu>,
    pub(super) rpf: Option<RawRpf>,
    pub(super) ra: Option<RawRa>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawRpf {
    Off,
    Loose,
    Strict,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) prefix: String,
    pub(super) via: Option<String>,
    pub(super) interface: Option<String>,
    pub(super) kind: Option<RawRouteKind>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawRouteKind {
    Forward,
    Blackhole,
    Unreachable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    pub(super) interface: String,
    pub(super) ip: String,
    pub(super) mac: UnicastMac<OfNeighbor>,
}

/// The router's configuration; interface MACs and link-local addresses
/// that default to the device's are filled in when the ports are opened
/// ([`RouterCfg::spec`]).
#[derive(Clone, Debug)]
pub struct RouterCfg {
    pub ifaces: Vec<IfaceCfg>,
    pub routes: Vec<RouteSpec>,
    pub neighbors: Vec<NeighborSpec>,
    pub tunnels: Vec<TunnelSpec>,
    /// `[gtpu]`; `None`: GTP-U is off.
    pub gtpu: Option<GtpuSpec>,
    /// `[pfcp]`; `None`: no PFCP agent.
    pub pfcp: Option<crate::pfcp::PfcpCfg>,
    /// `[nat64]`; `None`: no translator.
    pub nat64: Option<xgw_pipelines::nat64::Nat64Spec>,
}

#[derive(Clone, Debug)]
pub struct IfaceCfg {
    pub name: String,
    pub port: usize,
    pub vlan: u16,
    pub mac: Option<MacAddr>,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    pub link_local: Option<Ipv6Addr>,
    pub mtu: u16,
    pub rpf: RpfMode,
    /// Router Advertisements, defaults filled in; `None`: not sent.
    pub ra: Option<RaSpec>,
}

impl RouterCfg {
    /// The router spec, given each port's MAC (`None` if unknown).
    pub fn spec(&self, port_macs: &[Option<MacAddr>]) -> Result<RouterSpec, String> {
        let mut ifaces = Vec::new();
        for f in &self.ifaces {
            let Some(mac) = f.mac.or(port_macs.get(f.port).copied().flatten()) else {
                return Err(format!(
                    "interface \"{}\": no MAC known for its port; set interfaces[].mac",
                    f.name
                ));
            };
            ifaces.push(IfaceSpec {
                name: f.name.clone(),
                port: PortId(f.port as u16),
                vlan: f.vlan,
                mac,
                ipv4: f.ipv4.clone(),
                ipv6: f.ipv6.clone(),
                link_local: f.link_local.unwrap_or_else(|| link_local_from_mac(mac)),
                mtu: f.mtu,
                rpf: f.rpf,
                ra: f.ra.clone(),
                // Ethernet: ip-rewrite.
                output: 0,
            });
        }
        Ok(RouterSpec {
            ifaces,
            routes: self.routes.clone(),
            neighbors: self.neighbors.clone(),
            tunnels: self.tunnels.clone(),
            gtpu: self.gtpu.clone(),
            nat64: self.nat64.clone(),
        })
    }
}

/// fe80::/64 with a modified EUI-64 interface identifier (RFC 4291 App. A).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// The addresses of the interfaces and tunnels, checked as they are
/// added: each one a possible interface address, none on two of them, no
/// two of their prefixes overlapping (link-local ones excepted: every
/// link has fe80::/64).
#[derive(Default)]
pub(super) struct Owned {
    /// Address, prefix length, owner (`interfaces[i]` or `tunnels[i]`,
    /// with its name), owner number (tunnels from `TUN_BASE`).
    list: Vec<(IpAddr, u8, String, usize)>,
}

impl Owned {
    pub(super) fn claim(
        &mut self,
        v: &V<'_>,
        key: String,
        addr: IpAddr,
        len: u8,
        owner: usize,
        name: &str,
    ) -> Result<(), ConfigError> {
        let ll = |a: IpAddr| matches!(a, IpAddr::V6(x) if (x.segments()[0] & 0xffc0) == 0xfe80);
        for (a, l, who, o) in &self.list {
            if *a == addr {
                return v.err(
                    key,
                    if *o == owner {
                        format!("{addr} is listed twice")
                    } else {
                        format!("{addr} is already an address of {who}")
                    },
                );
            }
            if *o != owner && !ll(addr) && !ll(*a) && overlaps(*a, *l, addr, len) {
                return v.err(
                    key,
                    format!(
                        "{}/{len} overlaps {}/{l} of {who}; a subnet belongs to one interface or tunnel",
                        network(addr, len),
                        network(*a, *l)
                    ),
                );
            }
        }
        let who = if owner >= usize::from(TUN_BASE) {
            format!("tunnels[{}] (\"{name}\")", owner - usize::from(TUN_BASE))
        } else {
            format!("interfaces[{owner}] (\"{name}\")")
        };
        self.list.push((addr, len, who, owner));
        Ok(())
    }

    pub(super) fn owner(&self, ip: IpAddr) -> Option<&str> {
        self.list
            .iter()
            .find(|(a, ..)| *a == ip)
            .map(|(_, _, who, _)| who.as_str())
    }
}

/// `pipeline.kind = "router"`: its tables, validated (for
/// [`crate::function::router`]).
pub(crate) fn validate(s: &super::Section<'_>) -> Result<RouterCfg, ConfigError> {
    validate_router(s.v, s.raw, s.names)
}

/// Another pipeline is configured: the router's tables must be absent.
pub(crate) fn refuse_tables(s: &super::Section<'_>) -> Result<(), ConfigError> {
    for (what, n) in [
        ("interfaces", s.raw.interfaces.len()),
        ("routes", s.raw.routes.len()),
        ("neighbors", s.raw.neighbors.len()),
        ("gtpu", usize::from(s.raw.gtpu.is_some())),
        ("pfcp", usize::from(s.raw.pfcp.is_some())),
        ("nat64", usize::from(s.raw.nat64.is_some())),
    ] {
        if n > 0 {
            return s.v.err(
                what,
                "only the router pipeline (pipeline.kind = \"router\") uses this table",
            );
        }
    }
    Ok(())
}

pub(super) fn validate_router(
    v: &V<'_>,
    raw: &Raw,
    ports: &HashMap<&str, usize>,
) -> Result<RouterCfg, ConfigError> {
    if raw.interfaces.is_empty() {
        return v.err(
            "interfaces",
            "the router needs at least one [[interfaces]] table (name, port, addresses)",
        );
    }
    // An interface's id is its index (a u16); from VIRT_BASE up the ids
    // are the features' interfaces and the tunnels'.
    if raw.interfaces.len() > usize::from(VIRT_BASE) {
        return v.err(
            "interfaces",
            format!("{} interfaces; at most {VIRT_BASE}", raw.interfaces.len()),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut seen_l2: HashMap<(usize, u16), usize> = HashMap::new();
    let mut ifaces = Vec::new();
    let mut owned = Owned::default();
    for (i, f) in raw.interfaces.iter().enumerate() {
        let k = |x: &str| format!("interfaces[{i}].{x}");
        let name = f.name.0.as_str();
        if let Some(j) = names.insert(name, i) {
            return v.err(
                k("name"),
                format!("\"{name}\" is already the name of interfaces[{j}]"),
            );
        }
        let Some(&port) = ports.get(f.port.as_str()) else {
            let known: Vec<&str> = raw.ports.iter().map(|p| p.name.0.as_str()).collect();
            return v.err(
                k("port"),
                format!(
                    "no port named \"{}\"; configured ports: {}",
                    f.port,
                    known.join(", ")
                ),
            );
        };
        let vlan = f.vlan.map_or(0, |x| x.0);
        if let Some(j) = seen_l2.insert((port, vlan), i) {
            return v.err(
                k("vlan"),
                format!("port \"{}\" VLAN {vlan} is already interfaces[{j}]", f.port),
            );
        }
        let mac = f.mac.map(|m| m.0);
        let mut ipv4 = Vec::new();
        for (j, a) in f.ipv4.iter().enumerate() {
            let (addr, len) = (a.0.addr, a.0.len);
            let key = format!("interfaces[{i}].ipv4[{j}]");
            owned.claim(v, key, IpAddr::V4(addr), len, i, name)?;
            ipv4.push((addr, len));
        }
        let mut ipv6 = Vec::new();
        for (j, a) in f.ipv6.iter().enumerate() {
            let (addr, len) = (a.0.addr, a.0.len);
            let key = format!("interfaces[{i}].ipv6[{j}]");
            owned.claim(v, key, IpAddr::V6(addr), len, i, name)?;
            ipv6.push((addr, len));
        }
        let link_local = f.link_local.map(|a| a.0);
        let mtu = f.mtu.map_or(1500, |m| m.0);
        if mtu < 1280 && (!ipv6.is_empty() || f.ra.is_some()) {
            return v.err(
                format!("interfaces[{i}].mtu"),
                format!("{mtu} is below 1280, the IPv6 minimum (RFC 8200 §5), on an interface with IPv6 addresses"),
            );
        }
        let rpf = match f.rpf.unwrap_or(RawRpf::Off) {
            RawRpf::Off => RpfMode::Off,
            RawRpf::Loose => RpfMode::Loose,
            RawRpf::Strict => RpfMode::Strict,
        };
        let ra = match &f.ra {
            Some(r) => validate_ra(v, &format!("interfaces[{i}].ra"), r, &ipv6, mtu)?,
            None => None,
        };
        ifaces.push(IfaceCfg {
            name: f.name.0.clone(),
            port,
            vlan,
            mac,
            ipv4,
            ipv6,
            link_local,
            mtu,
            rpf,
            ra,
        });
    }
    let tunnels = validate_tunnels(v, &raw.tunnels, &names, &ifaces, &mut owned)?;
    let gtpu = match &raw.gtpu {
        Some(g) => Some(validate_gtpu(v, g, &ifaces, |n| {
            names.contains_key(n) || tunnels.iter().any(|t| t.name == n)
        })?),
        None => None,
    };
    let nat64 = match &raw.nat64 {
        Some(n) => Some(super::nat64::validate_nat64(v, n, |name| {
            names.contains_key(name)
                || tunnels.iter().any(|t| t.name == name)
                || gtpu.as_ref().is_some_and(|g| g.iface == name)
        })?),
        None => None,
    };
    let gtp_id = |name: &str| {
        gtpu.as_ref()
            .filter(|g| g.iface == name)
            .map(|_| GTP_IFACE)
            .or_else(|| {
                nat64
                    .as_ref()
                    .filter(|n| n.iface == name)
                    .map(|_| NAT64_IFACE)
            })
    };
    let tunnel_id = |name: &str| {
        tunnels
            .iter()
            .position(|t| t.name == name)
            .map(|i| TUN_BASE + i as u16)
    };
    let iface_named = |key: String, name: &str| -> Result<u16, ConfigError> {
        match names.get(name) {
            Some(&i) => Ok(i as u16),
            None => {
                let known: Vec<&str> = raw.interfaces.iter().map(|f| f.name.0.as_str()).collect();
                v.err(
                    key,
                    format!(
                        "no interface named \"{name}\"; configured interfaces: {}",
                        known.join(", ")
                    ),
                )
            }
        }
    };
    let on_link = |ip: IpAddr| -> Option<u16> {
        ifaces
            .iter()
            .position(|f| match ip {
                IpAddr::V4(a) => f
                    .ipv4
                    .iter()
                    .any(|&(p, l)| network(IpAddr::V4(p), l) == network(IpAddr::V4(a), l)),
                IpAddr::V6(a) => {
                    (a.segments()[0] & 0xffc0) == 0xfe80
                        || f.ipv6
                            .iter()
                            .any(|&(p, l)| network(IpAddr::V6(p), l) == network(IpAddr::V6(a), l))
                }
            })
            .map(|i| i as u16)
            .or_else(|| {
                tunnels
                    .iter()
                    .position(|t| {
                        let f = t.iface();
                        match ip {
                            IpAddr::V4(a) => f.ipv4.iter().any(|&(p, l)| {
                                network(IpAddr::V4(p), l) == network(IpAddr::V4(a), l)
                            }),
                            IpAddr::V6(a) => f.ipv6.iter().any(|&(p, l)| {
                                network(IpAddr::V6(p), l) == network(IpAddr::V6(a), l)
                            }),
                        }
                    })
                    .map(|i| TUN_BASE + i as u16)
            })
    };
    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let k = |x: &str| format!("routes[{i}].{x}");
        let input = RouteInput {
            prefix: &r.prefix,
            via: r.via.as_deref(),
            interface: r.interface.as_deref(),
            kind: r.kind.map(|k| match k {
                RawRouteKind::Forward => "forward",
                RawRouteKind::Blackhole => "blackhole",
                RawRouteKind::Unreachable => "unreachable",
            }),
        };
        let named = |n: &str| {
            names
                .get(n)
                .map(|&i| i as u16)
                .or_else(|| tunnel_id(n))
                .or_else(|| gtp_id(n))
        };
        let route = parse_route(&input, named, on_link).map_err(|(f, msg)| {
            let msg = if f == "interface" {
                let known: Vec<&str> = raw
                    .interfaces
                    .iter()
                    .map(|f| f.name.0.as_str())
                    .chain(raw.tunnels.iter().map(|t| t.name.as_str()))
                    .chain(gtpu.iter().map(|g| g.iface.as_str()))
                    .chain(nat64.iter().map(|n| n.iface.as_str()))
                    .collect();
                format!(
                    "{msg}; configured interfaces and tunnels: {}",
                    known.join(", ")
                )
            } else {
                msg
            };
            ConfigError::Key {
                file: v.file.to_string(),
                key: k(f),
                msg,
            }
        })?;
        if let RouteTarget::Via { gateway: gw, iface } = route.target {
            if iface == NAT64_IFACE {
                return v.err(
                    k("via"),
                    "routes into the translator's interface name no gateway (interface = \"...\" alone)",
                );
            }
            if iface == GTP_IFACE {
                return v.err(
                    k("via"),
                    "routes into the GTP-U interface name no gateway: each packet goes to its UE's session",
                );
            }
            if let Some(t) = tunnels.iter().find(|t| t.local == gw) {
                return v.err(
                    k("via"),
                    format!(
                        "{gw} is the local address of tunnel \"{}\", one of our own; a gateway is a neighbour's address",
                        t.name
                    ),
                );
            }
            if let Some(who) = owned.owner(gw) {
                return v.err(
                    k("via"),
                    format!("{gw} is an address of {who}, one of our own; a gateway is a neighbour's address"),
                );
            }
            // The prefix of the gateway's link, for its network and
            // broadcast address.
            let link_len = owned
                .list
                .iter()
                .find(|(a, l, _, o)| *o == usize::from(iface) && contains(*a, *l, gw))
                .map_or(if gw.is_ipv4() { 32 } else { 128 }, |x| x.1);
            if let Some(why) = special_addr(gw, link_len) {
                return v.err(
                    k("via"),
                    format!("{why}; a gateway is a neighbour's unicast address"),
                );
            }
        }
        let (addr, len) = (route.prefix, route.len);
        if routes
            .iter()
            .any(|x: &RouteSpec| x.prefix == addr && x.len == len)
        {
            return v.err(k("prefix"), format!("{} is configured twice", r.prefix));
        }
        routes.push(route);
    }
    // The pool6 prefix leads into the translator (unless a route of the
    // config already says where it goes).
    if let Some(pool) = nat64.as_ref().and_then(|n| n.pool6) {
        let prefix = IpAddr::V6(pool.prefix);
        if !routes
            .iter()
            .any(|r| r.prefix == prefix && r.len == pool.len)
        {
            routes.push(RouteSpec {
                prefix,
                len: pool.len,
                target: RouteTarget::Connected { iface: NAT64_IFACE },
            });
        }
    }
    // pool4 addresses that are no interface's lead into the translator
    // too (one that is an interface's is claimed at local delivery).
    for p in nat64
        .iter()
        .filter_map(|n| n.stateful.as_ref())
        .flat_map(|s| &s.pool4)
    {
        let prefix = IpAddr::V4(p.addr);
        let owned_by_iface = ifaces
            .iter()
            .any(|f| f.ipv4.iter().any(|&(a, _)| a == p.addr));
        if !owned_by_iface && !routes.iter().any(|r| r.prefix == prefix && r.len == 32) {
            routes.push(RouteSpec {
                prefix,
                len: 32,
                target: RouteTarget::Connected { iface: NAT64_IFACE },
            });
        }
    }
    // Static entries are never evicted from a worker's neighbour cache:
    // past its size they were left out, silently.
    if raw.neighbors.len() > NEIGH_CAPACITY {
        return v.err(
            "neighbors",
            format!(
                "{} static neighbours; at most {NEIGH_CAPACITY} (the neighbour cache's size)",
                raw.neighbors.len()
            ),
        );
    }
    let mut neighbors = Vec::new();
    for (i, n) in raw.neighbors.iter().enumerate() {
        let k = |x: &str| format!("neighbors[{i}].{x}");
        let iface = iface_named(k("interface"), &n.interface)?;
        let Ok(ip) = n.ip.parse::<IpAddr>() else {
            return v.err(k("ip"), format!("\"{}\" is not an IP address", n.ip));
        };
        let f = &ifaces[usize::from(iface)];
        let link_len = match ip {
            IpAddr::V4(a) => f
                .ipv4
                .iter()
                .find(|&&(p, l)| contains(IpAddr::V4(p), l, IpAddr::V4(a)))
                .map(|x| x.1),
            IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => Some(64),
            IpAddr::V6(a) => f
                .ipv6
                .iter()
                .find(|&&(p, l)| contains(IpAddr::V6(p), l, IpAddr::V6(a)))
                .map(|x| x.1),
        };
        let Some(link_len) = link_len else {
            let subnets: Vec<String> = match ip {
                IpAddr::V4(_) => f
                    .ipv4
                    .iter()
                    .map(|(a, l)| format!("{}/{l}", network(IpAddr::V4(*a), *l)))
                    .collect(),
                IpAddr::V6(_) => f
                    .ipv6
                    .iter()
                    .map(|(a, l)| format!("{}/{l}", network(IpAddr::V6(*a), *l)))
                    .chain(["fe80::/10".to_string()])
                    .collect(),
            };
            return v.err(
                k("ip"),
                format!(
                    "{ip} is on none of interface \"{}\"'s subnets ({}); a neighbour is on the link",
                    f.name,
                    if subnets.is_empty() { "none".to_string() } else { subnets.join(", ") }
                ),
            );
        };
        if let Some(who) = owned.owner(ip) {
            return v.err(
                k("ip"),
                format!("{ip} is an address of {who}, one of our own, not a neighbour's"),
            );
        }
        if let Some(why) = special_addr(ip, link_len) {
            return v.err(k("ip"), format!("{why}; a neighbour has a unicast address"));
        }
        if neighbors
            .iter()
            .any(|x: &NeighborSpec| x.iface == iface && x.ip == ip)
        {
            return v.err(
                k("ip"),
                format!("{ip} on interface \"{}\" is listed twice", f.name),
            );
        }
        let mac = n.mac.0;
        let port_macs = raw.ports.iter().filter_map(|p| p.mac.map(|m| m.0));
        let iface_macs = raw.interfaces.iter().filter_map(|f| f.mac.map(|m| m.0));
        if port_macs.chain(iface_macs).any(|m| m == mac) {
            return v.err(
                k("mac"),
                format!("{mac} is one of our own ports' or interfaces' MACs, not a neighbour's"),
            );
        }
        neighbors.push(NeighborSpec { iface, ip, mac });
    }
    let pfcp = match &raw.pfcp {
        Some(p) => Some(super::pfcp::validate_pfcp(v, p, gtpu.is_some())?),
        None => None,
    };
    Ok(RouterCfg {
        ifaces,
        routes,
        neighbors,
        tunnels,
        gtpu,
        pfcp,
        nat64,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Config, PipelineCfg};
    use super::*;

    pub(crate) const ROUTER: &str = r#"
        [engine]
        cores = [0]
        [[ports]]
        name = "p0"
        driver = "mem"
        mac = "02:00:00:00:00:01"
        [[ports]]
        name = "p1"
        driver = "mem"
        mac = "02:00:00:00:00:02"
        [pipeline]
        kind = "router"
        [[interfaces]]
        name = "lan"
        port = "p0"
        ipv4 = ["10.1.0.1/24"]
        ipv6 = ["2001:db8:1::1/64"]
        rpf = "strict"
        [[interfaces]]
        name = "wan"
        port = "p1"
        vlan = 100
        ipv4 = ["192.0.2.1/30"]
        mtu = 1400
        [[routes]]
        prefix = "0.0.0.0/0"
        via = "192.0.2.2"
        [[routes]]
        prefix = "203.0.113.0/24"
        kind = "blackhole"
        [[neighbors]]
        interface = "wan"
        ip = "192.0.2.2"
        mac = "02:00:00:00:99:99"
    "#;

    pub(crate) fn err(text: &str) -> String {
        Config::parse(text, "r.toml").unwrap_err().to_string()
    }

    #[test]
    fn interface_ids_past_the_virtual_ones_are_refused() {
        // Interface ids are u16 indices, and from VIRT_BASE (32512) up
        // they name the GTP-U and NAT64 interfaces and the tunnels:
        // interface 32512 was taken for the GTP-U interface (65536 would
        // have been interface 0 again).
        let mut text = String::from("[engine]\ncores = [0]\n");
        for p in 0..8 {
            text += &format!(
                "[[ports]]\nname = \"p{p}\"\ndriver = \"mem\"\nmac = \"02:00:00:00:01:{p:02x}\"\n"
            );
        }
        text += "[pipeline]\nkind = \"router\"\n";
        for i in 0..=usize::from(VIRT_BASE) {
            text += &format!("[[interfaces]]\nname = \"i{i}\"\nport = \"p{}\"\n", i % 8);
            if i >= 8 {
                text += &format!("vlan = {}\n", i / 8);
            }
        }
        let e = err(&text);
        assert!(
            e.contains("interfaces") && e.contains("32513 interfaces; at most 32512"),
            "{e}"
        );
    }

    #[test]
    fn more_static_neighbours_than_the_cache_holds_are_refused() {
        // A static entry is never evicted: those past NEIGH_CAPACITY did
        // not fit in the cache and were left out without a word.
        let mut text = ROUTER.replace("ipv4 = [\"10.1.0.1/24\"]", "ipv4 = [\"10.1.0.1/16\"]");
        // (ROUTER has one already.)
        for k in 0..NEIGH_CAPACITY {
            text += &format!(
                "[[neighbors]]\ninterface = \"lan\"\nip = \"10.1.{}.{}\"\nmac = \"02:00:00:00:99:01\"\n",
                1 + k / 250,
                1 + k % 250
            );
        }
        let e = err(&text);
        assert!(
            e.contains("neighbors") && e.contains("4097 static neighbours; at most 4096"),
            "{e}"
        );
        // As many as the cache holds are fine, and all of them are in it.
        let text = text.replace(
            "[[neighbors]]\n        interface = \"wan\"\n        ip = \"192.0.2.2\"\n        mac = \"02:00:00:00:99:99\"\n",
            "",
        );
        let c = Config::parse(&text, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.neighbors.len(), NEIGH_CAPACITY);
    }

    #[test]
    fn router_config_validates_and_resolves() {
        let c = Config::parse(ROUTER, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.ifaces[1].vlan, 100);
        assert_eq!(r.ifaces[1].mtu, 1400);
        assert_eq!(r.ifaces[0].rpf, RpfMode::Strict);
        assert_eq!(
            r.routes[0].target,
            RouteTarget::Via {
                gateway: "192.0.2.2".parse().unwrap(),
                iface: 1
            },
            "gateway resolved to the interface whose subnet holds it"
        );
        assert!(r
            .spec(&[Some(MacAddr([2, 0, 0, 0, 0, 1])), None])
            .unwrap_err()
            .contains("\"wan\""));
        let spec = r
            .spec(&[
                Some(MacAddr([2, 0, 0, 0, 0, 1])),
                Some(MacAddr([2, 0, 0, 0, 0, 2])),
            ])
            .unwrap();
        assert_eq!(
            spec.ifaces[1].mac,
            MacAddr([2, 0, 0, 0, 0, 2]),
            "the port's MAC by default"
        );
        assert_eq!(
            spec.ifaces[0].link_local,
            "fe80::ff:fe00:1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn router_errors_name_their_key() {
        let e = err(&ROUTER.replace("via = \"192.0.2.2\"", "via = \"198.51.100.1\""));
        assert!(
            e.contains("key `routes[0].via`") && e.contains("none of the interfaces"),
            "{e}"
        );
        let e = err(&ROUTER.replace(
            "interface = \"wan\"\n        ip",
            "interface = \"dmz\"\n        ip",
        ));
        assert!(
            e.contains("key `neighbors[0].interface`") && e.contains("no interface named \"dmz\""),
            "{e}"
        );
        let e = err(&ROUTER.replace("10.1.0.1/24", "10.1.0.1/33"));
        assert!(e.contains("key `interfaces[0].ipv4[0]`"), "{e}");
        let e = err(&ROUTER.replace("203.0.113.0/24", "203.0.113.7/24"));
        assert!(
            e.contains("key `routes[1].prefix`") && e.contains("host bits"),
            "{e}"
        );
        let e = err(&ROUTER.replace("vlan = 100", "vlan = 5000"));
        assert!(e.contains("key `interfaces[1].vlan`"), "{e}");
        let e = err(&ROUTER.replace("port = \"p1\"", "port = \"p7\""));
        assert!(e.contains("key `interfaces[1].port`"), "{e}");
        let e = err(&ROUTER.replace("kind = \"router\"", "kind = \"l2fwd\""));
        assert!(
            e.contains("key `interfaces`") || e.contains("pipeline.l2fwd"),
            "{e}"
        );
    }

    #[test]
    fn router_addresses_that_stay_accepted() {
        // a /31 and a /32 (RFC 3021), link-local addresses on two
        // interfaces, a neighbour at a link-local address, a gateway on
        // a tunnel's subnet
        let text = ROUTER
            .replace("192.0.2.1/30", "192.0.2.0/31")
            .replace("via = \"192.0.2.2\"", "via = \"192.0.2.1\"")
            .replace("ip = \"192.0.2.2\"", "ip = \"192.0.2.1\"")
            .replace(
                "ipv6 = [\"2001:db8:1::1/64\"]",
                "ipv6 = [\"2001:db8:1::1/64\", \"fe80::1/64\"]",
            )
            .replace("mtu = 1400", "mtu = 1400\nipv6 = [\"fe80::2/64\"]")
            + r#"
        [[neighbors]]
        interface = "lan"
        ip = "fe80::99"
        mac = "02:00:00:00:99:98"
        [[tunnels]]
        name = "t"
        kind = "4in4"
        local = "10.1.0.1"
        remote = "198.51.100.1"
        ipv4 = ["10.255.0.1/32", "10.254.0.1/24"]
        [[routes]]
        prefix = "10.77.0.0/16"
        via = "10.254.0.2"
        "#;
        let c = Config::parse(&text, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.ifaces[1].ipv4, vec![("192.0.2.0".parse().unwrap(), 31)]);
        assert_eq!(r.neighbors.len(), 2);
        assert_eq!(
            r.routes[2].target,
            RouteTarget::Via {
                gateway: "10.254.0.2".parse().unwrap(),
                iface: TUN_BASE
            }
        );
        // and a neighbour on the wrong one of two subnets is refused
        let e = err(&ROUTER.replace(
            "interface = \"wan\"\n        ip",
            "interface = \"lan\"\n        ip",
        ));
        assert!(
            e.contains("key `neighbors[0].ip`")
                && e.contains("none of interface \"lan\"'s subnets (10.1.0.0/24)"),
            "{e}"
        );
    }
}
