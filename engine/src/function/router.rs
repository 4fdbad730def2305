//! The router (`pipeline.kind = "router"`): its config section, its
//! shared state ([`RouterControl`]: the RIB and its route handle, the
//! neighbour bus), its workers, its control commands (routes, tunnels,
//! neighbours) and their `xgw` subcommands, and the multicast groups its
//! live ports join.
//!
//! This file and `routectl.rs` / `config/router.rs` are the engine's only
//! callers of the router pipeline crate (`xgw_pipelines::router`).

use std::any::Any;

use clap::{FromArgMatches, Subcommand};
use serde_json::Value;
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::wire::ipv6;
use xgw_pipelines::{NodeInfo, Pipeline};

use super::{Function, Instance, PortGroups};
use crate::cli::{ask, Endpoint};
use crate::config::{Config, ConfigError, PipelineCfg, Section};
use crate::routectl::{self, RouterControl};

/// The router function.
pub struct Router;

impl Function for Router {
    fn name(&self) -> &'static str {
        "router"
    }

    fn owns(&self, cfg: &PipelineCfg) -> bool {
        matches!(cfg, PipelineCfg::Router(_))
    }

    fn validate(&self, section: &Section<'_>) -> Result<PipelineCfg, ConfigError> {
        Ok(PipelineCfg::Router(crate::config::router::validate(
            section,
        )?))
    }

    fn refuse_tables(&self, section: &Section<'_>) -> Result<(), ConfigError> {
        crate::config::router::refuse_tables(section)
    }

    fn nodes(&self, _cfg: &PipelineCfg) -> Vec<NodeInfo> {
        xgw_pipelines::router::nodes()
    }

    fn instance(
        &self,
        cfg: &Config,
        macs: &[Option<MacAddr>],
        workers: usize,
    ) -> Result<Box<dyn Instance>, String> {
        let PipelineCfg::Router(r) = &cfg.pipeline else {
            return Err("not a router config".into());
        };
        let spec = r.spec(macs)?;
        let bus = xgw_pipelines::router::neigh::NeighborBus::new(workers);
        let mut ctl = RouterControl::new(spec, bus)?;
        if let Some(p) = &r.pfcp {
            ctl.pfcp = Some(crate::pfcp::Agent::bind(p)?);
        }
        Ok(Box::new(ctl))
    }

    fn commands(&self) -> &'static [&'static str] {
        routectl::COMMANDS
    }

    fn cli(&self, cmd: clap::Command) -> clap::Command {
        RouterCmd::augment_subcommands(cmd)
    }

    fn run_cli(&self, m: &clap::ArgMatches) -> Option<anyhow::Result<()>> {
        let (name, _) = m.subcommand()?;
        if !RouterCmd::has_subcommand(name) {
            return None;
        }
        Some(
            RouterCmd::from_arg_matches(m)
                .map_err(anyhow::Error::from)
                .and_then(RouterCmd::run),
        )
    }
}

impl Instance for RouterControl {
    fn function(&self) -> &'static dyn Function {
        &Router
    }

    fn io_fd(&self) -> Option<std::os::fd::RawFd> {
        self.pfcp.as_ref().map(|a| a.fd())
    }

    fn io(&mut self) {
        self.pfcp_poll(std::time::Instant::now());
    }

    fn build_worker(&self, worker: usize) -> Result<Box<dyn Pipeline>, String> {
        Ok(Box::new(xgw_pipelines::router::build_worker_with(
            self.spec(),
            worker,
            self.bus().clone(),
            self.routes(),
            self.sessions_bus(),
        )?))
    }

    /// All-routers (Router Solicitations) and the solicited-node group of
    /// every IPv6 address on the port (NS for us).
    fn port_groups(&self, port: usize) -> Option<PortGroups> {
        let spec = self.spec();
        let addrs = spec
            .ifaces
            .iter()
            .filter(|f| f.port.index() == port)
            .flat_map(|f| f.ipv6.iter().map(|&(a, _)| a).chain([f.link_local]));
        Some(groups_of(addrs))
    }

    fn planned_groups(&self, new: &Config, port: usize) -> Option<PortGroups> {
        let PipelineCfg::Router(n) = &new.pipeline else {
            return None;
        };
        // An interface without a link-local address in the file gets the
        // EUI-64 one of its MAC: the file's, or the one its port has now.
        let spec = self.spec();
        let port_mac = spec
            .ifaces
            .iter()
            .find(|f| f.port.index() == port)
            .map(|f| f.mac);
        let addrs = n.ifaces.iter().filter(|f| f.port == port).flat_map(|f| {
            let ll = f
                .link_local
                .or_else(|| f.mac.or(port_mac).map(crate::config::link_local_from_mac));
            f.ipv6.iter().map(|&(a, _)| a).chain(ll)
        });
        Some(groups_of(addrs))
    }

    fn answer(&mut self, cmd: &str, req: &Value) -> Value {
        RouterControl::answer(self, cmd, req)
    }

    fn plan_reload(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<(Vec<String>, Box<dyn Any + Send>), String> {
        let (PipelineCfg::Router(o), PipelineCfg::Router(n)) = (&old.pipeline, &new.pipeline)
        else {
            return Err("key `pipeline.kind` changed, which only a restart applies".into());
        };
        let plan = RouterControl::plan_reload(self, o, n)?;
        Ok((plan.changes.clone(), Box::new(plan)))
    }

    fn apply_reload(&mut self, plan: Box<dyn Any + Send>) -> Result<(), String> {
        match plan.downcast::<routectl::ReloadPlan>() {
            Ok(p) => RouterControl::apply_reload(self, *p),
            Err(_) => Err("internal: not a router reload plan".into()),
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The router's control state inside an engine's instance (`None` if the
/// instance is another function's): for tests and benches that load
/// routes in bulk.
pub fn control(inst: Box<dyn Instance>) -> Option<RouterControl> {
    inst.into_any().downcast::<RouterControl>().ok().map(|b| *b)
}

// The router's `xgw` subcommands, added after the engine's own (no doc
// comment: clap would make it the about text of `xgw` itself).
#[derive(Subcommand)]
enum RouterCmd {
    /// Show, add or delete routes of a running router (applied at once, no restart).
    Route {
        #[command(subcommand)]
        op: RouteOp,
    },
    /// Show, add or delete IP-in-IP tunnels of a running router.
    Tunnel {
        #[command(subcommand)]
        op: TunnelOp,
    },
    /// GTP-U sessions and counters of a running gateway (`[gtpu]`).
    Gtp {
        #[command(subcommand)]
        op: GtpOp,
    },
    /// The PFCP agent of a running gateway (`[pfcp]`): its associations and counters.
    Pfcp {
        #[command(subcommand)]
        op: PfcpOp,
    },
    /// Stateful NAT64 of a running gateway (`[nat64] mode = "nat64"`): its sessions and bindings.
    Nat64 {
        #[command(subcommand)]
        op: Nat64Op,
    },
    /// Trace the next frames through the router's graph: each node, its
    /// verdict or drop reason, the interface and next hop it used.
    Trace {
        /// How many frames (1 to 256).
        #[arg(long, default_value_t = 10)]
        count: u32,
        /// Only frames received on this port (its name).
        #[arg(long)]
        port: Option<String>,
        /// Match fields, comma-separated: proto=udp|tcp|icmp|icmpv6|N,
        /// src=IP, dst=IP, sport=N, dport=N, teid=N.
        #[arg(long = "match", value_name = "EXPR")]
        expr: Option<String>,
        /// Keep only frames that end dropped.
        #[arg(long)]
        drops_only: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Show the neighbour (ARP / NDP) cache of a running router.
    Neigh {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
}

#[derive(Subcommand)]
pub enum RouteOp {
    /// List every route with its origin (connected, config, runtime).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Add a route: `xgw route add 10.9.0.0/16 --via 10.2.0.2`,
    /// `--interface lan-b`, or `--kind blackhole|unreachable`.
    Add {
        prefix: String,
        /// Gateway address (its interface is found from the subnets unless --interface is given).
        #[arg(long)]
        via: Option<String>,
        /// Interface name from the config's [[interfaces]].
        #[arg(long, short = 'i', alias = "dev")]
        interface: Option<String>,
        /// forward (default), blackhole (silent drop) or unreachable (ICMP error).
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Delete a configured or runtime route (connected routes stay).
    Del {
        prefix: String,
        #[command(flatten)]
        at: Endpoint,
    },
}

/// A TEID: decimal or 0x-prefixed hexadecimal.
fn parse_teid(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("\"{s}\" is not a TEID (0 to 4294967295, or 0x-hex)"))
}

/// A session's fields (`xgw gtp session add` / `mod`).
#[derive(clap::Args)]
pub struct SessionArgs {
    /// The session's id (the operator's or SMF's handle).
    id: u64,
    /// Our TEID: uplink G-PDUs with it belong to the session.
    #[arg(long, value_parser = parse_teid)]
    teid: u32,
    /// The base station's GTP-U address (downlink goes there).
    #[arg(long)]
    peer: String,
    /// The base station's TEID for downlink.
    #[arg(long, value_parser = parse_teid)]
    peer_teid: u32,
    /// The UE's IPv4 address.
    #[arg(long)]
    ue4: Option<String>,
    /// The UE's IPv6 address (/128) or prefix (/64).
    #[arg(long)]
    ue6: Option<String>,
    /// Our endpoint address (default: the first of the peer's family).
    #[arg(long)]
    local: Option<String>,
    /// QoS Flow Identifier sent in a PDU Session Container downlink.
    #[arg(long)]
    qfi: Option<u8>,
    /// Maximum bit rate uplink, bits per second (0: none).
    #[arg(long)]
    mbr_ul: Option<u64>,
    /// Maximum bit rate downlink, bits per second (0: none).
    #[arg(long)]
    mbr_dl: Option<u64>,
    /// Uplink gate: open (default) or closed.
    #[arg(long)]
    gate_ul: Option<String>,
    /// Downlink gate: open (default) or closed.
    #[arg(long)]
    gate_dl: Option<String>,
    /// Network instance (APN / DNN) name.
    #[arg(long)]
    instance: Option<String>,
}

impl SessionArgs {
    fn request(&self, cmd: &str) -> serde_json::Value {
        serde_json::json!({"cmd": cmd, "id": self.id, "teid": self.teid, "peer": self.peer,
            "peer_teid": self.peer_teid, "ue4": self.ue4, "ue6": self.ue6, "local": self.local,
            "qfi": self.qfi, "mbr_ul": self.mbr_ul, "mbr_dl": self.mbr_dl,
            "gate_ul": self.gate_ul, "gate_dl": self.gate_dl, "instance": self.instance})
    }
}

#[derive(Subcommand)]
pub enum PfcpOp {
    /// The associated SMFs (Node ID, address, heartbeats) and the agent's counters.
    Associations {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// The PFCP sessions the SMFs set up: their PDRs, FARs, QERs, URRs and
    /// the GTP-U session each became, with its counters.
    Sessions {
        /// Only the session with this UP SEID.
        #[arg(long)]
        seid: Option<u64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
}

// Parsed once per command: the size of the `session` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum GtpOp {
    /// GTP-U sessions: list, show, add, modify, delete.
    Session {
        #[command(subcommand)]
        op: SessionOp,
    },
    /// GTP-U's counters: G-PDUs, echo, error indications, end markers.
    Stats {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// The configured peers' paths: echo requests and answers, up or down.
    Peers {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
}

// Parsed once per command: the size of the `add` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum SessionOp {
    /// List every session with its counters.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// One session with its counters.
    Show {
        id: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Add a session: `xgw gtp session add 1 --teid 0x100 --peer 192.0.2.2 --peer-teid 0x200 --ue4 10.45.0.2`.
    Add {
        #[command(flatten)]
        s: SessionArgs,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Replace a session's fields (its counters go on).
    Mod {
        #[command(flatten)]
        s: SessionArgs,
        /// If the peer or its TEID changes, send an End Marker to the old
        /// one (a handover's path switch).
        #[arg(long)]
        end_marker: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Delete a session (its final counters are printed).
    Del {
        id: u64,
        /// Send an End Marker to the session's peer.
        #[arg(long)]
        end_marker: bool,
        #[command(flatten)]
        at: Endpoint,
    },
}

#[derive(Subcommand)]
pub enum Nat64Op {
    /// The sessions (like `jool session display`): at most 4096 per worker are listed, the totals are exact.
    Session {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// The bindings, BIB (like `jool bib display`).
    Bib {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
}

// Parsed once per command: the size of the `add` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum TunnelOp {
    /// List tunnels with their counters.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Add a tunnel: `xgw tunnel add tun0 --kind 4in4 --local 192.0.2.1 --remote 198.51.100.1 --ipv4 1.1.1.1/24`.
    Add {
        name: String,
        /// 4in4 (IP proto 4), 6in4 (proto 41), 4in6, 6in6.
        #[arg(long)]
        kind: String,
        /// Outer source: one of xgw's interface addresses.
        #[arg(long)]
        local: String,
        /// Outer destination: the other end.
        #[arg(long)]
        remote: String,
        /// Tunnel interface IPv4 address with prefix length (repeatable).
        #[arg(long)]
        ipv4: Vec<String>,
        /// Tunnel interface IPv6 address with prefix length (repeatable).
        #[arg(long)]
        ipv6: Vec<String>,
        /// Largest inner packet (default 1500 minus the outer header).
        #[arg(long)]
        mtu: Option<u32>,
        /// Outer TTL / hop limit: 1..255 or "inherit" (default 64).
        #[arg(long)]
        ttl: Option<String>,
        /// Outer DSCP: 0..63 or "copy" (default copy).
        #[arg(long)]
        dscp: Option<String>,
        /// Outer IPv4 DF: copy (default), set, clear.
        #[arg(long)]
        df: Option<String>,
        /// RFC 6040 mode: normal (default) or compatibility.
        #[arg(long)]
        ecn: Option<String>,
        /// Reverse-path filter on decapsulated packets: off (default), loose, strict.
        #[arg(long)]
        rpf: Option<String>,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Delete a tunnel and every route into it.
    Del {
        name: String,
        #[command(flatten)]
        at: Endpoint,
    },
}

/// Asks the engine for `cmd` and prints the answer: as JSON, or as
/// `render` lays it out.
/// `xgw trace`: arms the trace, collects frames until `count` or the
/// timeout, stops it.
#[allow(clippy::too_many_arguments)]
fn run_trace(
    count: u32,
    port: Option<String>,
    expr: Option<String>,
    drops_only: bool,
    timeout: u64,
    json: bool,
    at: Endpoint,
) -> anyhow::Result<()> {
    use anyhow::bail;
    let path = at.path()?;
    let ask = |req: serde_json::Value| -> anyhow::Result<serde_json::Value> {
        let v = crate::control::request_json(&path, &req).map_err(anyhow::Error::msg)?;
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        Ok(v)
    };
    let mut req = serde_json::json!({"cmd": "trace-arm", "count": count, "drops_only": drops_only});
    if let Some(p) = port {
        req["port"] = serde_json::json!(crate::cli::port_index(&path, &p)?);
    }
    crate::cli::match_request(&mut req, expr.as_deref())?;
    ask(req)?;
    let end = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut frames = Vec::new();
    loop {
        let v = ask(serde_json::json!({"cmd": "trace-read"}))?;
        frames.extend(v["frames"].as_array().cloned().unwrap_or_default());
        if v["armed"] != true || frames.len() >= count as usize || std::time::Instant::now() >= end
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let v = ask(serde_json::json!({"cmd": "trace-stop"}))?;
    frames.extend(v["frames"].as_array().cloned().unwrap_or_default());
    let out = serde_json::json!({"frames": frames});
    if json {
        println!("{out}");
    } else {
        print!("{}", crate::routectl::render_trace(&out));
    }
    Ok(())
}

fn show(
    at: crate::cli::Endpoint,
    cmd: &str,
    json: bool,
    render: fn(&serde_json::Value) -> String,
) -> anyhow::Result<()> {
    let v = ask(at, serde_json::json!({ "cmd": cmd }))?;
    if json {
        println!("{v}");
    } else {
        print!("{}", render(&v));
    }
    Ok(())
}

impl RouterCmd {
    fn run(self) -> anyhow::Result<()> {
        match self {
            RouterCmd::Route { op } => match op {
                RouteOp::List { json, at } => {
                    show(at, "route-list", json, crate::routectl::render_routes)
                }
                RouteOp::Add {
                    prefix,
                    via,
                    interface,
                    kind,
                    at,
                } => {
                    let v = ask(
                        at,
                        serde_json::json!({"cmd": "route-add", "prefix": prefix, "via": via,
                                       "interface": interface, "kind": kind}),
                    )?;
                    println!(
                        "added {}",
                        crate::routectl::render_routes(
                            &serde_json::json!({"routes": [v["route"]]})
                        )
                        .trim_end()
                    );
                    Ok(())
                }
                RouteOp::Del { prefix, at } => {
                    let v = ask(
                        at,
                        serde_json::json!({"cmd": "route-del", "prefix": prefix}),
                    )?;
                    println!(
                        "deleted {}",
                        crate::routectl::render_routes(
                            &serde_json::json!({"routes": [v["route"]]})
                        )
                        .trim_end()
                    );
                    Ok(())
                }
            },
            RouterCmd::Nat64 { op } => match op {
                Nat64Op::Session { json, at } => {
                    show(at, "nat64-sessions", json, crate::routectl::render_nat64)
                }
                Nat64Op::Bib { json, at } => {
                    show(at, "nat64-bib", json, crate::routectl::render_nat64)
                }
            },
            RouterCmd::Tunnel { op } => match op {
                TunnelOp::List { json, at } => {
                    show(at, "tunnel-list", json, crate::routectl::render_tunnels)
                }
                TunnelOp::Add {
                    name,
                    kind,
                    local,
                    remote,
                    ipv4,
                    ipv6,
                    mtu,
                    ttl,
                    dscp,
                    df,
                    ecn,
                    rpf,
                    at,
                } => {
                    let v = ask(
                        at,
                        serde_json::json!({"cmd": "tunnel-add", "name": name, "kind": kind,
                        "local": local, "remote": remote, "ipv4": ipv4, "ipv6": ipv6, "mtu": mtu,
                        "ttl": ttl, "dscp": dscp, "df": df, "ecn": ecn, "rpf": rpf}),
                    )?;
                    print!(
                        "added {}",
                        crate::routectl::render_tunnels(
                            &serde_json::json!({"tunnels": [v["tunnel"]]})
                        )
                    );
                    Ok(())
                }
                TunnelOp::Del { name, at } => {
                    let v = ask(at, serde_json::json!({"cmd": "tunnel-del", "name": name}))?;
                    println!(
                        "deleted {name} ({} routes into it removed)",
                        v["routes_removed"]
                    );
                    Ok(())
                }
            },
            RouterCmd::Neigh { json, at } => show(at, "neigh", json, crate::routectl::render_neigh),
            RouterCmd::Trace {
                count,
                port,
                expr,
                drops_only,
                timeout,
                json,
                at,
            } => run_trace(count, port, expr, drops_only, timeout, json, at),
            RouterCmd::Gtp { op } => run_gtp(op),
            RouterCmd::Pfcp {
                op: PfcpOp::Associations { json, at },
            } => show(at, "pfcp-associations", json, crate::pfcp::render),
            RouterCmd::Pfcp {
                op: PfcpOp::Sessions { seid, json, at },
            } => {
                let v = ask(
                    at,
                    serde_json::json!({ "cmd": "pfcp-sessions", "seid": seid }),
                )?;
                if json {
                    println!("{v}");
                } else {
                    print!("{}", crate::pfcp::render_sessions(&v));
                }
                Ok(())
            }
        }
    }
}

fn run_gtp(op: GtpOp) -> anyhow::Result<()> {
    use crate::gtpctl::{render_peers, render_session, render_sessions, render_stats};
    let print = |v: serde_json::Value, json: bool, render: fn(&serde_json::Value) -> String| {
        if json {
            println!("{v}");
        } else {
            print!("{}", render(&v));
        }
    };
    match op {
        GtpOp::Stats { json, at } => show(at, "gtp-stats", json, render_stats),
        GtpOp::Peers { json, at } => show(at, "gtp-peers", json, render_peers),
        GtpOp::Session { op } => match op {
            SessionOp::List { json, at } => show(at, "gtp-session-list", json, render_sessions),
            SessionOp::Show { id, json, at } => {
                let v = ask(at, serde_json::json!({"cmd": "gtp-session-show", "id": id}))?;
                print(v, json, render_session);
                Ok(())
            }
            SessionOp::Add { s, at } => {
                let v = ask(at, s.request("gtp-session-add"))?;
                println!("added session {}", v["session"]["id"]);
                Ok(())
            }
            SessionOp::Mod { s, end_marker, at } => {
                let mut req = s.request("gtp-session-mod");
                req["end_marker"] = end_marker.into();
                let v = ask(at, req)?;
                println!(
                    "modified session {}{}",
                    v["session"]["id"],
                    if v["end_marker"] == true {
                        " (End Marker to the old peer)"
                    } else {
                        ""
                    }
                );
                Ok(())
            }
            SessionOp::Del { id, end_marker, at } => {
                let v = ask(
                    at,
                    serde_json::json!({"cmd": "gtp-session-del", "id": id, "end_marker": end_marker}),
                )?;
                print!("deleted session {id}\n{}", render_session(&v));
                Ok(())
            }
        },
    }
}

/// The groups a router port joins for its IPv6 addresses: all-routers
/// and each address's solicited-node group.
fn groups_of(addrs: impl Iterator<Item = std::net::Ipv6Addr>) -> PortGroups {
    let mut groups = vec![MacAddr([0x33, 0x33, 0, 0, 0, 2])];
    for a in addrs {
        let g = ipv6::multicast_mac(&ipv6::solicited_node(&a));
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    PortGroups {
        groups,
        what: "IPv6 multicast groups",
        joined: "solicited-node and all-routers groups",
    }
}
