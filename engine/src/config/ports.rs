//! `[[ports]]`: the af_xdp, mem and pcap drivers.

use serde::Deserialize;
use std::collections::HashMap;
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::MAX_PORTS;

use super::value::{
    BusyPollBudget, Capacity, Ipv4, Ipv6, NetdevName, OfPort, PortName, RingSize, UnicastMac,
};
use super::{ConfigError, V};
use crate::bpf::{PassPort, PassRules, XdpModeRequest};
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
    pub(super) name: PortName,
    pub(super) driver: Driver,
    pub(super) interface: Option<NetdevName>,
    pub(super) mac: Option<UnicastMac<OfPort>>,
    pub(super) queues: Option<u32>,
    pub(super) xdp_mode: Option<RawXdpMode>,
    pub(super) bind: Option<RawBind>,
    pub(super) rx_ring: Option<RingSize>,
    pub(super) tx_ring: Option<RingSize>,
    pub(super) fill_ring: Option<RingSize>,
    pub(super) comp_ring: Option<RingSize>,
    pub(super) need_wakeup: Option<bool>,
    pub(super) busy_poll_budget: Option<BusyPollBudget>,
    pub(super) pass_ethertypes: Option<Vec<u16>>,
    pub(super) pass_ipv4: Option<Vec<Ipv4>>,
    pub(super) pass_ipv6: Option<Vec<Ipv6>>,
    pub(super) pass_ports: Option<Vec<String>>,
    pub(super) capacity: Option<Capacity>,
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
        let name = p.name.0.as_str();
        if let Some(j) = names.insert(name, i) {
            return v.err(
                k("name"),
                format!("\"{name}\" is already the name of ports[{j}]"),
            );
        }
        let mac = p.mac.map(|m| m.0);
        let afxdp_only: [(&str, bool); 13] = [
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
            ("pass_ports", p.pass_ports.is_some()),
        ];
        let kind = match p.driver {
            Driver::AfXdp => {
                let Some(NetdevName(ifname)) = &p.interface else {
                    return v.err(k("interface"), "missing; an af_xdp port needs the network interface to bind, e.g. \"eth1\"");
                };
                if let Some(j) = ifaces.insert(ifname.as_str(), i) {
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
                let ring = |r: Option<RingSize>| r.map_or(2048, |r| r.0);
                let xsk = XskConfig {
                    rx_ring: ring(p.rx_ring),
                    tx_ring: ring(p.tx_ring),
                    fill_ring: ring(p.fill_ring),
                    comp_ring: ring(p.comp_ring),
                    need_wakeup: p.need_wakeup.unwrap_or(true),
                    busy_poll_budget: p.busy_poll_budget.map_or(0, |b| b.0),
                };
                let mut pass = PassRules {
                    ethertypes: p.pass_ethertypes.clone().unwrap_or_default(),
                    ipv4_dst: p.pass_ipv4.iter().flatten().map(|a| a.0).collect(),
                    ipv6_dst: p.pass_ipv6.iter().flatten().map(|a| a.0).collect(),
                    ports: Vec::new(),
                };
                for (j, e) in p.pass_ports.iter().flatten().enumerate() {
                    match PassPort::parse(e) {
                        Ok(v) => pass.ports.extend(v),
                        Err(why) => return v.err(format!("ports[{i}].pass_ports[{j}]"), why),
                    }
                }
                if p.pass_ports.is_some() && pass.ipv4_dst.is_empty() && pass.ipv6_dst.is_empty() {
                    return v.err(
                        k("pass_ports"),
                        "says which traffic to the host's addresses passes to the kernel, \
                         but no address is given: add pass_ipv4 or pass_ipv6",
                    );
                }
                if pass.ethertypes.len() + pass.ipv4_dst.len() + pass.ipv6_dst.len() > 64 {
                    return v.err(
                        k("pass_ethertypes"),
                        "too many pass rules; at most 64 in all",
                    );
                }
                PortKind::AfXdp(AfXdpCfg {
                    interface: ifname.clone(),
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
                    PortKind::Mem {
                        capacity: p.capacity.map_or(1024, |c| c.0),
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
            name: p.name.0.clone(),
            mac,
            kind,
        });
    }
    Ok((ports, names))
}
