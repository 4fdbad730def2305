//! `[[ports]]`: the af_xdp, mem and pcap drivers.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::MAX_PORTS;

use super::{ConfigError, V};
use crate::bpf::{PassRules, XdpModeRequest};
use crate::port::afxdp::{BindRequest, XskConfig};

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Driver {
    AfXdp,
    Mem,
    Pcap,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawXdpMode {
    Auto,
    Native,
    Generic,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawBind {
    Auto,
    ZeroCopy,
    Copy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub(super) name: String,
    pub(super) driver: Driver,
    pub(super) interface: Option<String>,
    pub(super) mac: Option<String>,
    pub(super) queues: Option<u32>,
    pub(super) xdp_mode: Option<RawXdpMode>,
    pub(super) bind: Option<RawBind>,
    pub(super) rx_ring: Option<u32>,
    pub(super) tx_ring: Option<u32>,
    pub(super) fill_ring: Option<u32>,
    pub(super) comp_ring: Option<u32>,
    pub(super) need_wakeup: Option<bool>,
    pub(super) busy_poll_budget: Option<u32>,
    pub(super) pass_ethertypes: Option<Vec<u16>>,
    pub(super) pass_ipv4: Option<Vec<String>>,
    pub(super) pass_ipv6: Option<Vec<String>>,
    pub(super) capacity: Option<u32>,
    pub(super) loopback: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct PortCfg {
    pub name: String,
    /// Configured MAC (required for mem/pcap ports; af_xdp ports read the
    /// device's when absent).
    pub mac: Option<MacAddr>,
    pub kind: PortKind,
}

#[derive(Clone, Debug)]
pub enum PortKind {
    AfXdp(AfXdpCfg),
    Mem { capacity: u32, loopback: bool },
    Pcap,
}

impl PortKind {
    pub fn driver(&self) -> &'static str {
        match self {
            PortKind::AfXdp(_) => "af_xdp",
            PortKind::Mem { .. } => "mem",
            PortKind::Pcap => "pcap",
        }
    }
}

#[derive(Clone, Debug)]
pub struct AfXdpCfg {
    pub interface: String,
    /// Queues used; must equal the number of workers (worker i owns queue i).
    pub queues: u32,
    pub xdp_mode: XdpModeRequest,
    pub bind: BindRequest,
    pub xsk: XskConfig,
    pub pass: PassRules,
}

/// Checks `[[ports]]` for `workers` workers; returns the ports and each
/// port's index by name.
pub(super) fn validate_ports<'a>(
    v: &V<'_>,
    raw_ports: &'a [RawPort],
    workers: u32,
) -> Result<(Vec<PortCfg>, HashMap<&'a str, usize>), ConfigError> {
    if raw_ports.is_empty() {
        return v.err(
            "ports",
            "no ports configured; add at least one [[ports]] table",
        );
    }
    if raw_ports.len() > MAX_PORTS {
        return v.err(
            "ports",
            format!(
                "{} ports configured; at most {MAX_PORTS} are supported",
                raw_ports.len()
            ),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut ifaces: HashMap<&str, usize> = HashMap::new();
    let mut ports = Vec::new();
    for (i, p) in raw_ports.iter().enumerate() {
        let k = |f: &str| format!("ports[{i}].{f}");
        if p.name.is_empty()
            || p.name.len() > 32
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return v.err(
                k("name"),
                format!(
                    "\"{}\" is not a port name; expected 1-32 letters, digits, - or _",
                    p.name
                ),
            );
        }
        if let Some(j) = names.insert(&p.name, i) {
            return v.err(
                k("name"),
                format!("\"{}\" is already the name of ports[{j}]", p.name),
            );
        }
        let mac = match &p.mac {
            Some(m) => Some(v.unicast_mac(k("mac"), m, "a port")?),
            None => None,
        };
        let afxdp_only: [(&str, bool); 12] = [
            ("interface", p.interface.is_some()),
            ("queues", p.queues.is_some()),
            ("xdp_mode", p.xdp_mode.is_some()),
            ("bind", p.bind.is_some()),
            ("rx_ring", p.rx_ring.is_some()),
            ("tx_ring", p.tx_ring.is_some()),
            ("fill_ring", p.fill_ring.is_some()),
            ("comp_ring", p.comp_ring.is_some()),
            ("need_wakeup", p.need_wakeup.is_some()),
            ("busy_poll_budget", p.busy_poll_budget.is_some()),
            ("pass_ethertypes", p.pass_ethertypes.is_some()),
            ("pass_ipv4", p.pass_ipv4.is_some() || p.pass_ipv6.is_some()),
        ];
        let kind = match p.driver {
            Driver::AfXdp => {
                let Some(ifname) = p.interface.as_deref() else {
                    return v.err(k("interface"), "missing; an af_xdp port needs the network interface to bind, e.g. \"eth1\"");
                };
                if ifname.is_empty() || ifname.len() >= 16 || ifname.contains(['/', ' ']) {
                    return v.err(k("interface"), format!("\"{ifname}\" is not an interface name (1-15 characters, no / or space)"));
                }
                if let Some(j) = ifaces.insert(ifname, i) {
                    return v.err(
                        k("interface"),
                        format!("\"{ifname}\" is already used by ports[{j}]"),
                    );
                }
                let queues = p.queues.unwrap_or(workers);
                if queues != workers {
                    return v.err(
                        k("queues"),
                        format!("{queues} queues but {workers} workers (engine.cores); worker i owns queue i of every port, so they must match"),
                    );
                }
                let xsk = XskConfig {
                    rx_ring: v.ring(k("rx_ring"), p.rx_ring, 2048)?,
                    tx_ring: v.ring(k("tx_ring"), p.tx_ring, 2048)?,
                    fill_ring: v.ring(k("fill_ring"), p.fill_ring, 2048)?,
                    comp_ring: v.ring(k("comp_ring"), p.comp_ring, 2048)?,
                    need_wakeup: p.need_wakeup.unwrap_or(true),
                    busy_poll_budget: p.busy_poll_budget.unwrap_or(0),
                };
                if xsk.busy_poll_budget > 1024 {
                    return v.err(
                        k("busy_poll_budget"),
                        format!(
                            "{} is too large; expected 0 (off) to 1024",
                            xsk.busy_poll_budget
                        ),
                    );
                }
                let mut pass = PassRules {
                    ethertypes: p.pass_ethertypes.clone().unwrap_or_default(),
                    ..Default::default()
                };
                for (j, a) in p.pass_ipv4.iter().flatten().enumerate() {
                    match a.parse::<Ipv4Addr>() {
                        Ok(ip) => pass.ipv4_dst.push(ip),
                        Err(_) => {
                            return v.err(
                                format!("ports[{i}].pass_ipv4[{j}]"),
                                format!("\"{a}\" is not an IPv4 address"),
                            )
                        }
                    }
                }
                for (j, a) in p.pass_ipv6.iter().flatten().enumerate() {
                    match a.parse::<Ipv6Addr>() {
                        Ok(ip) => pass.ipv6_dst.push(ip),
                        Err(_) => {
                            return v.err(
                                format!("ports[{i}].pass_ipv6[{j}]"),
                                format!("\"{a}\" is not an IPv6 address"),
                            )
                        }
                    }
                }
                if pass.ethertypes.len() + pass.ipv4_dst.len() + pass.ipv6_dst.len() > 64 {
                    return v.err(
                        k("pass_ethertypes"),
                        "too many pass rules; at most 64 in all",
                    );
                }
                PortKind::AfXdp(AfXdpCfg {
                    interface: ifname.to_string(),
                    queues,
                    xdp_mode: match p.xdp_mode.unwrap_or(RawXdpMode::Auto) {
                        RawXdpMode::Auto => XdpModeRequest::Auto,
                        RawXdpMode::Native => XdpModeRequest::Native,
                        RawXdpMode::Generic => XdpModeRequest::Generic,
                    },
                    bind: match p.bind.unwrap_or(RawBind::Auto) {
                        RawBind::Auto => BindRequest::Auto,
                        RawBind::ZeroCopy => BindRequest::ZeroCopy,
                        RawBind::Copy => BindRequest::Copy,
                    },
                    xsk,
                    pass,
                })
            }
            Driver::Mem | Driver::Pcap => {
                if let Some((f, _)) = afxdp_only.iter().find(|(_, set)| *set) {
                    return v.err(
                        k(f),
                        format!(
                            "only af_xdp ports take `{f}`; this port's driver is {:?}",
                            p.driver
                        )
                        .to_lowercase(),
                    );
                }
                if p.driver == Driver::Pcap && (p.capacity.is_some() || p.loopback.is_some()) {
                    return v.err(
                        k(if p.capacity.is_some() {
                            "capacity"
                        } else {
                            "loopback"
                        }),
                        "only mem ports take this key",
                    );
                }
                if p.driver == Driver::Mem {
                    let capacity = p.capacity.unwrap_or(1024);
                    if !(1..=1 << 20).contains(&capacity) {
                        return v.err(
                            k("capacity"),
                            format!("{capacity} is out of range; expected 1 to 1048576"),
                        );
                    }
                    PortKind::Mem {
                        capacity,
                        loopback: p.loopback.unwrap_or(false),
                    }
                } else {
                    PortKind::Pcap
                }
            }
        };
        if p.driver == Driver::AfXdp && (p.capacity.is_some() || p.loopback.is_some()) {
            return v.err(
                k(if p.capacity.is_some() {
                    "capacity"
                } else {
                    "loopback"
                }),
                "only mem ports take this key",
            );
        }
        ports.push(PortCfg {
            name: p.name.clone(),
            mac,
            kind,
        });
    }
    Ok((ports, names))
}
