//! The router's control side: the RIB (routes added and removed at run
//! time, published to the workers as snapshots) and the neighbour views
//! the workers publish. The control thread owns it; its commands are
//! `route-list`, `route-add`, `route-del` and `neigh` on the control socket.

use std::net::IpAddr;
use std::sync::Arc;

mod reload;
pub use reload::ReloadPlan;

use serde_json::{json, Value};
use std::net::{Ipv4Addr, Ipv6Addr};
use xgw_pipelines::ipip::{
    TC_DEC_BYTES, TC_DEC_PKTS, TC_DROPS, TC_ENC_BYTES, TC_ENC_PKTS, TC_N, TC_RELAYED,
};
use xgw_pipelines::router::neigh::NeighborBus;
use xgw_pipelines::router::spec::{
    parse_route, parse_tunnel, DfMode, DscpMode, EcnMode, IfaceId, RouteInput, RouteTarget,
    RouterSpec, RpfMode, TtlMode, TunnelInput, TunnelSpec, TUN_BASE,
};
use xgw_pipelines::router::table::{Origin, Rib, RouteHandle};
use xgw_pipelines::DropReason;

/// Commands this module answers.
pub const COMMANDS: &[&str] = &[
    "route-list",
    "route-add",
    "route-del",
    "neigh",
    "tunnel-list",
    "tunnel-add",
    "tunnel-del",
    "gtp-session-add",
    "gtp-session-mod",
    "gtp-session-del",
    "gtp-session-list",
    "gtp-session-show",
    "gtp-stats",
    "gtp-peers",
    "pfcp-associations",
    "pfcp-sessions",
    "nat64-sessions",
    "nat64-bib",
    "trace-arm",
    "trace-read",
    "trace-stop",
];

pub struct RouterControl {
    spec: RouterSpec,
    rib: Rib,
    bus: Arc<NeighborBus>,
    /// GTP-U's sessions, when `[gtpu]` is configured.
    gtp: Option<crate::gtpctl::GtpControl>,
    /// The PFCP agent, when `[pfcp]` is configured (bound at start).
    pub(crate) pfcp: Option<crate::pfcp::Agent>,
}

impl RouterControl {
    /// The router's control state for as many workers as `bus` serves.
    pub fn new(spec: RouterSpec, bus: Arc<NeighborBus>) -> Result<Self, String> {
        let rib = Rib::new(&spec)?;
        let gtp = match &spec.gtpu {
            Some(g) => Some(crate::gtpctl::GtpControl::new(g, bus.workers())?),
            None => None,
        };
        Ok(RouterControl {
            spec,
            rib,
            bus,
            gtp,
            pfcp: None,
        })
    }

    /// Runs the PFCP agent (its socket and timers) over GTP-U's sessions.
    pub(crate) fn pfcp_poll(&mut self, now: std::time::Instant) {
        if let Some(a) = self.pfcp.as_mut() {
            a.poll(now, self.gtp.as_mut().map(|g| g.sessions_mut()));
        }
    }

    /// GTP-U's control state (`None`: not configured).
    pub fn gtp(&mut self) -> Option<&mut crate::gtpctl::GtpControl> {
        self.gtp.as_mut()
    }

    /// The session bus the workers read (`None`: GTP-U is off).
    pub fn sessions_bus(&self) -> Option<Arc<xgw_pipelines::gtpu::SessionBus>> {
        self.gtp.as_ref().map(|g| g.sessions().bus().clone())
    }

    pub fn spec(&self) -> &RouterSpec {
        &self.spec
    }

    pub fn bus(&self) -> &Arc<NeighborBus> {
        &self.bus
    }

    pub fn routes(&self) -> Arc<RouteHandle> {
        self.rib.handle()
    }

    /// The RIB itself (bulk loading in benchmarks and tests; publish after).
    pub fn rib_mut(&mut self) -> &mut Rib {
        &mut self.rib
    }

    fn iface_name(&self, i: IfaceId) -> String {
        if let Some(f) = self.spec.ifaces.get(i as usize) {
            return f.name.clone();
        }
        // The features' fixed interfaces (GTP-U, the translator).
        let fixed = [
            (
                xgw_pipelines::router::spec::GTP_IFACE,
                self.spec.gtpu.as_ref().map(|g| &g.iface),
            ),
            (
                xgw_pipelines::router::spec::NAT64_IFACE,
                self.spec.nat64.as_ref().map(|n| &n.iface),
            ),
        ];
        if let Some(name) = fixed.iter().find(|(id, _)| *id == i).and_then(|(_, n)| *n) {
            return name.clone();
        }
        self.rib
            .tunnels()
            .find(|&(id, _)| id == i)
            .map(|(_, t)| t.spec.name.clone())
            .unwrap_or_else(|| "?".into())
    }

    fn route_json(&self, prefix: IpAddr, len: u8, t: RouteTarget, origin: Origin) -> Value {
        let mut v = json!({
            "prefix": format!("{prefix}/{len}"),
            "origin": origin.as_str(),
        });
        match t {
            RouteTarget::Via { gateway, iface } => {
                v["kind"] = json!("forward");
                v["via"] = json!(gateway.to_string());
                v["interface"] = json!(self.iface_name(iface));
            }
            RouteTarget::Connected { iface } => {
                v["kind"] = json!("forward");
                v["interface"] = json!(self.iface_name(iface));
            }
            RouteTarget::Blackhole => v["kind"] = json!("blackhole"),
            RouteTarget::Unreachable => v["kind"] = json!("unreachable"),
        }
        v
    }

    /// Answers one of [`COMMANDS`]; `req` is the whole request object.
    pub fn answer(&mut self, cmd: &str, req: &Value) -> Value {
        self.rib.reap();
        match cmd {
            "route-list" => {
                let routes: Vec<Value> = self
                    .rib
                    .iter()
                    .map(|r| self.route_json(r.prefix, r.len, r.target, r.origin))
                    .collect();
                json!({"version": self.rib.version(), "routes": routes})
            }
            "route-add" => self.add(req),
            "route-del" => self.del(req),
            "neigh" => self.neigh(),
            "tunnel-list" => self.tunnel_list(),
            "trace-arm" => self.trace_arm(req),
            "trace-read" => self.trace_read(),
            "trace-stop" => {
                self.bus.trace.disarm();
                self.trace_read()
            }
            "nat64-sessions" => self.nat64(true),
            "nat64-bib" => self.nat64(false),
            "tunnel-add" => self.tunnel_add(req),
            "tunnel-del" => self.tunnel_del(req),
            "pfcp-associations" => match self.pfcp.as_ref() {
                Some(a) => a.associations_json(std::time::Instant::now()),
                None => json!({"error": "PFCP is not configured (no [pfcp] section)"}),
            },
            "pfcp-sessions" => match self.pfcp.as_ref() {
                Some(a) => {
                    let seid = match req.get("seid") {
                        None | Some(Value::Null) => None,
                        Some(v) => match v.as_u64() {
                            Some(s) => Some(s),
                            None => return json!({"error": "seid: a number (the UP SEID)"}),
                        },
                    };
                    a.sessions_json(seid, self.gtp.as_mut().map(|g| g.sessions_mut()))
                }
                None => json!({"error": "PFCP is not configured (no [pfcp] section)"}),
            },
            c if crate::gtpctl::COMMANDS.contains(&c) => match self.gtp.as_mut() {
                Some(g) => g.answer(c, req),
                None => json!({"error": "GTP-U is not configured (no [gtpu] section)"}),
            },
            other => json!({"error": format!("unknown router command {other:?}")}),
        }
    }

    fn field<'a>(req: &'a Value, k: &str) -> Result<Option<&'a str>, Value> {
        match req.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(json!({"error": format!("\"{k}\" must be a string")})),
        }
    }

    fn add(&mut self, req: &Value) -> Value {
        let get = |k| Self::field(req, k);
        let (prefix, via, interface, kind) = match (
            get("prefix"),
            get("via"),
            get("interface"),
            get("kind"),
        ) {
            (Ok(Some(p)), Ok(v), Ok(i), Ok(k)) => (p, v, i, k),
            (Ok(None), ..) => {
                return json!({"error": "route-add needs \"prefix\", e.g. {\"cmd\":\"route-add\",\"prefix\":\"10.9.0.0/16\",\"via\":\"10.2.0.2\"}"})
            }
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
        };
        if let Some(Value::Object(m)) = Some(req) {
            if let Some(k) = m
                .keys()
                .find(|k| !["cmd", "prefix", "via", "interface", "kind"].contains(&k.as_str()))
            {
                return json!({"error": format!("unknown field \"{k}\"; route-add takes prefix, via, interface, kind")});
            }
        }
        let input = RouteInput {
            prefix,
            via,
            interface,
            kind,
        };
        let spec = &self.spec;
        let rib = &self.rib;
        let on_link = |ip: IpAddr| spec.on_link(ip).or_else(|| rib.tunnel_on_link(ip));
        let route = match parse_route(&input, |n| rib.iface_named(n), on_link) {
            Ok(r) => r,
            Err((f, msg)) => return json!({"error": format!("{f}: {msg}")}),
        };
        match self.rib.insert(route, Origin::Runtime) {
            Ok(()) => {
                self.rib.publish();
                tracing::info!(route = %format!("{}/{}", route.prefix, route.len), version = self.rib.version(), "route added");
                json!({"ok": true, "version": self.rib.version(),
                       "route": self.route_json(route.prefix, route.len, route.target, Origin::Runtime)})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    fn del(&mut self, req: &Value) -> Value {
        let prefix = match Self::field(req, "prefix") {
            Ok(Some(p)) => p,
            Ok(None) => return json!({"error": "route-del needs \"prefix\""}),
            Err(e) => return e,
        };
        let parsed = prefix
            .split_once('/')
            .and_then(|(a, l)| Some((a.parse::<IpAddr>().ok()?, l.parse::<u8>().ok()?)));
        let Some((addr, len)) = parsed else {
            return json!({"error": format!("prefix: \"{prefix}\" is not a prefix like 10.2.0.0/16")});
        };
        match self.rib.remove(addr, len) {
            Ok(r) => {
                self.rib.publish();
                tracing::info!(route = %prefix, version = self.rib.version(), "route deleted");
                json!({"ok": true, "version": self.rib.version(),
                       "route": self.route_json(r.prefix, r.len, r.target, r.origin)})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    fn tunnel_json(&self, id: IfaceId, t: &TunnelSpec, serial: u64) -> Value {
        let mut counts = [0u64; TC_N];
        self.bus.read_views(|_, v| {
            if let Some(c) = v.tunnels.get((id - TUN_BASE) as usize) {
                if c.serial == serial {
                    for (a, b) in counts.iter_mut().zip(c.c.iter()) {
                        *a += b;
                    }
                }
            }
        });
        let mut drops = serde_json::Map::new();
        for r in DropReason::ALL {
            let n = counts[TC_DROPS + r.index()];
            if n > 0 {
                drops.insert(r.name().into(), json!(n));
            }
        }
        let cidrs = |v: Vec<String>| json!(v);
        json!({
            "name": t.name,
            "kind": t.kind.name(),
            "local": t.local.to_string(),
            "remote": t.remote.to_string(),
            "ipv4": cidrs(t.ipv4.iter().map(|(a, l)| format!("{a}/{l}")).collect()),
            "ipv6": cidrs(t.ipv6.iter().map(|(a, l)| format!("{a}/{l}")).collect()),
            "mtu": t.mtu,
            "ttl": match t.ttl { TtlMode::Inherit => json!("inherit"), TtlMode::Fixed(x) => json!(x) },
            "dscp": match t.dscp { DscpMode::Copy => json!("copy"), DscpMode::Fixed(x) => json!(x) },
            "df": match t.df { DfMode::Copy => "copy", DfMode::Set => "set", DfMode::Clear => "clear" },
            "ecn": match t.ecn { EcnMode::Normal => "normal", EcnMode::Compatibility => "compatibility" },
            "rpf": match t.rpf { RpfMode::Off => "off", RpfMode::Loose => "loose", RpfMode::Strict => "strict" },
            "encap": {"packets": counts[TC_ENC_PKTS], "bytes": counts[TC_ENC_BYTES]},
            "decap": {"packets": counts[TC_DEC_PKTS], "bytes": counts[TC_DEC_BYTES]},
            "icmp_relayed": counts[TC_RELAYED],
            "drops": drops,
        })
    }

    fn tunnel_list(&self) -> Value {
        let tunnels: Vec<Value> = self
            .rib
            .tunnels()
            .map(|(id, t)| self.tunnel_json(id, &t.spec, t.serial))
            .collect();
        json!({"tunnels": tunnels})
    }

    fn tunnel_add(&mut self, req: &Value) -> Value {
        const FIELDS: &[&str] = &[
            "cmd", "name", "kind", "local", "remote", "ipv4", "ipv6", "mtu", "ttl", "dscp", "df",
            "ecn", "rpf",
        ];
        let Some(m) = req.as_object() else {
            return json!({"error": "tunnel-add takes a JSON object"});
        };
        if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return json!({"error": format!("unknown field \"{k}\"; tunnel-add takes {}", FIELDS[1..].join(", "))});
        }
        let text = |k: &str| -> Result<Option<String>, Value> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(json!({"error": format!("\"{k}\" must be a string or number")})),
            }
        };
        let list = |k: &str| -> Result<Vec<String>, Value> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str().map(String::from).ok_or_else(
                            || json!({"error": format!("\"{k}\" must be a list of strings")}),
                        )
                    })
                    .collect(),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(_) => Err(json!({"error": format!("\"{k}\" must be a list of strings")})),
            }
        };
        let fields = (|| -> Result<_, Value> {
            Ok((
                text("name")?,
                text("kind")?,
                text("local")?,
                text("remote")?,
                list("ipv4")?,
                list("ipv6")?,
                text("mtu")?,
                text("ttl")?,
                text("dscp")?,
                text("df")?,
                text("ecn")?,
                text("rpf")?,
            ))
        })();
        let (name, kind, local, remote, ipv4, ipv6, mtu, ttl, dscp, df, ecn, rpf) = match fields {
            Ok(f) => f,
            Err(e) => return e,
        };
        for (k, v) in [
            ("name", &name),
            ("kind", &kind),
            ("local", &local),
            ("remote", &remote),
        ] {
            if v.is_none() {
                return json!({"error": format!("tunnel-add needs \"{k}\" (and name, kind, local, remote)")});
            }
        }
        let mtu = match mtu.map(|x| x.parse::<u32>()) {
            None => None,
            Some(Ok(x)) => Some(x),
            Some(Err(_)) => return json!({"error": "mtu: expected a number"}),
        };
        let input = TunnelInput {
            name: name.as_deref().unwrap_or_default(),
            kind: kind.as_deref().unwrap_or_default(),
            local: local.as_deref().unwrap_or_default(),
            remote: remote.as_deref().unwrap_or_default(),
            ipv4: ipv4.iter().map(String::as_str).collect(),
            ipv6: ipv6.iter().map(String::as_str).collect(),
            mtu,
            ttl,
            dscp,
            df: df.as_deref(),
            ecn: ecn.as_deref(),
            rpf: rpf.as_deref(),
        };
        let spec = &self.spec;
        let is_ours = |ip: IpAddr| {
            spec.ifaces.iter().any(|f| match ip {
                IpAddr::V4(a) => f.ipv4.iter().any(|&(x, _)| x == a),
                IpAddr::V6(a) => f.ipv6.iter().any(|&(x, _)| x == a),
            })
        };
        let t = match parse_tunnel(&input, is_ours) {
            Ok(t) => t,
            Err((f, msg)) => return json!({"error": format!("{f}: {msg}")}),
        };
        match self.rib.add_tunnel(t) {
            Ok(id) => {
                self.rib.publish();
                let (_, t) = self
                    .rib
                    .tunnels()
                    .find(|&(i, _)| i == id)
                    .expect("just added");
                tracing::info!(tunnel = %t.spec.name, kind = t.spec.kind.name(), "tunnel added");
                json!({"ok": true, "version": self.rib.version(), "tunnel": self.tunnel_json(id, &t.spec, t.serial)})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    fn tunnel_del(&mut self, req: &Value) -> Value {
        let name = match Self::field(req, "name") {
            Ok(Some(n)) => n,
            Ok(None) => return json!({"error": "tunnel-del needs \"name\""}),
            Err(e) => return e,
        };
        match self.rib.remove_tunnel(name) {
            Ok((t, routes)) => {
                self.rib.publish();
                tracing::info!(tunnel = %name, routes, "tunnel deleted");
                json!({"ok": true, "version": self.rib.version(), "name": t.spec.name, "routes_removed": routes})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    }

    /// `trace-arm`: traces the next `count` frames (at most 256) matching
    /// the given fields (`port` index, `proto`, `src`, `dst`, `sport`,
    /// `dport`, `teid`, `drops_only`).
    fn trace_arm(&mut self, req: &Value) -> Value {
        let count = req["count"].as_u64().unwrap_or(10);
        if !(1..=256).contains(&count) {
            return json!({"error": "count: 1 to 256 frames"});
        }
        let spec = crate::control::match_spec(req, true);
        match spec {
            Ok(spec) => {
                self.bus.trace.arm(spec, count as u32);
                json!({"armed": true, "count": count})
            }
            Err(e) => e,
        }
    }

    /// `trace-read`: the frames traced since the last read, each with the
    /// nodes it went through.
    fn trace_read(&self) -> Value {
        let (recs, armed) = self.bus.trace.take();
        let table = self.rib.handle().load();
        let nodes = xgw_pipelines::router::nodes();
        // (Graph node n is `nodes()[1 + n]`: router-fast comes first.)
        let name = |n: u8| nodes.get(usize::from(n) + 1).map_or("?", |i| i.name);
        let rows: Vec<Value> = recs
            .iter()
            .map(|r| {
                let mut prev_nh = None;
                let hops: Vec<Value> = r
                    .hops
                    .iter()
                    .map(|h| {
                        let to = match h.verdict {
                            xgw_pipelines::Verdict::Next(t) => json!({"next": name(t)}),
                            xgw_pipelines::Verdict::Tx(p) => json!({"tx": p.0}),
                            xgw_pipelines::Verdict::Drop(d) => {
                                json!({"drop": d.name(), "why": d.description()})
                            }
                            xgw_pipelines::Verdict::Local => json!({"local": true}),
                            xgw_pipelines::Verdict::Park(t) => json!({"park": t}),
                        };
                        let mut hop = json!({
                            "node": name(h.node),
                            "verdict": to,
                            "iface": self.iface_name(h.iface),
                            "nh": h.nh,
                            "feature": h.feature,
                        });
                        if let Some(k) = self.trace_key(name(h.node), h, prev_nh, &r.head, &table) {
                            hop["key"] = json!(k);
                        }
                        prev_nh = Some(h.nh);
                        hop
                    })
                    .collect();
                json!({
                    "worker": r.worker,
                    "port": r.port,
                    "len": r.len,
                    "head": r.head.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    "hops": hops,
                })
            })
            .collect();
        json!({"armed": armed, "frames": rows})
    }

    /// The key fields a traced hop used, in words: the route's next hop
    /// (and the neighbour's MAC) at the lookups and ip-rewrite, the GTP-U
    /// session at gtpu-input / gtpu-encap, the tunnel at ipip-*, the NAT64
    /// binding at nat64-xlat (looked up in the workers' published tables
    /// from the traced frame's head).
    fn trace_key(
        &self,
        node: &str,
        h: &xgw_pipelines::nodes::Hop,
        prev_nh: Option<u32>,
        head: &[u8],
        table: &xgw_pipelines::router::table::RouteTable,
    ) -> Option<String> {
        use xgw_pipelines::router::NextHop;
        let passed = !matches!(h.verdict, xgw_pipelines::Verdict::Drop(_));
        match node {
            "ip4-lookup" | "ip6-lookup" | "ip-rewrite" if passed => {
                let nh = table.nexthops.get(h.nh as usize)?;
                let (gw, iface) = match *nh {
                    NextHop::Via { iface, gateway } => (Some(gateway), iface),
                    NextHop::Connected { iface } => (None, iface),
                    NextHop::Blackhole => return Some(format!("next hop {}: blackhole", h.nh)),
                    NextHop::Unreachable => return Some(format!("next hop {}: unreachable", h.nh)),
                };
                let mut s = match gw {
                    Some(g) => format!("next hop {}: via {g} dev {}", h.nh, self.iface_name(iface)),
                    None => format!(
                        "next hop {}: dev {} (connected)",
                        h.nh,
                        self.iface_name(iface)
                    ),
                };
                if let Some(g) = gw {
                    let mut mac = None;
                    self.bus.read_views(|_, v| {
                        if let Some(e) = v
                            .entries
                            .iter()
                            .find(|e| e.key.ip == g && e.key.iface == iface)
                        {
                            if e.state != xgw_pipelines::router::neigh::State::Incomplete {
                                mac = Some(e.mac);
                            }
                        }
                    });
                    if let Some(m) = mac {
                        s.push_str(&format!(", neighbour {m}"));
                    }
                }
                Some(s)
            }
            "gtpu-input" if passed => {
                let g = self.gtp.as_ref()?;
                let s = g.sessions().at_slot(h.feature[0])?;
                Some(format!(
                    "GTP-U session {} (local TEID {:#x} on {})",
                    s.spec.id, s.spec.teid, s.spec.local
                ))
            }
            "gtpu-encap" if h.feature[3] == xgw_pipelines::gtpu::ENCAP_MARK => {
                let g = self.gtp.as_ref()?;
                let s = g.sessions().at_slot(h.feature[0])?;
                Some(format!(
                    "GTP-U session {} -> peer {} TEID {:#x}",
                    s.spec.id, s.spec.peer, h.feature[1]
                ))
            }
            "ipip-decap" | "ipip-encap" | "ipip-icmp-relay" => {
                // Decap: the frame's interface is the tunnel; encap: the
                // route's next hop (the hop before) leads into it.
                let via = match prev_nh.and_then(|n| table.nexthops.get(n as usize)) {
                    Some(&NextHop::Via { iface, .. }) | Some(&NextHop::Connected { iface }) => {
                        Some(iface)
                    }
                    _ => None,
                };
                let (_, t) = self
                    .rib
                    .tunnels()
                    .find(|&(id, _)| id == h.iface)
                    .or_else(|| self.rib.tunnels().find(|&(id, _)| Some(id) == via))?;
                Some(format!(
                    "tunnel {} ({} {} -> {})",
                    t.spec.name,
                    t.spec.kind.name(),
                    t.spec.local,
                    t.spec.remote
                ))
            }
            "nat64-xlat" if h.feature[3] == xgw_pipelines::nat64::BINDING_MARK => {
                let proto = match h.feature[1] & 0xff {
                    6 => "tcp",
                    17 => "udp",
                    _ => "icmp",
                };
                Some(format!(
                    "NAT64 binding -> {}:{} ({proto}){}",
                    Ipv4Addr::from(h.feature[0]),
                    h.feature[1] >> 8,
                    self.trace_binding(head)
                        .map(|b| format!("; {b}"))
                        .unwrap_or_default()
                ))
            }
            "nat64-xlat" => self.trace_binding(head),
            _ => None,
        }
    }

    /// The NAT64 binding a traced frame (its head) belongs to, from the
    /// tables the workers last published.
    fn trace_binding(&self, head: &[u8]) -> Option<String> {
        let et = u16::from_be_bytes([*head.get(12)?, *head.get(13)?]);
        let ip = head.get(14..)?;
        let port = |l4: &[u8], o: usize| Some(u16::from_be_bytes([*l4.get(o)?, *l4.get(o + 1)?]));
        // (side, proto, address, port): the IPv6 source or the IPv4 destination.
        let (v6, proto, key) = match et {
            0x86dd if ip.len() >= 40 => {
                let proto = match ip[6] {
                    58 => 1,
                    p => p,
                };
                let l4 = &ip[40..];
                let p = if proto == 1 {
                    port(l4, 4)?
                } else {
                    port(l4, 0)?
                };
                let mut a = [0u8; 16];
                a.copy_from_slice(&ip[8..24]);
                (true, proto, (a.to_vec(), p))
            }
            0x0800 if ip.len() >= 20 => {
                let l4 = ip.get(usize::from(ip[0] & 15) * 4..)?;
                let p = if ip[9] == 1 {
                    port(l4, 4)?
                } else {
                    port(l4, 2)?
                };
                (false, ip[9], (ip[16..20].to_vec(), p))
            }
            _ => return None,
        };
        let mut found = None;
        for m in &self.bus.nat64 {
            let Ok(v) = m.lock() else { continue };
            let hit = v.bibs.iter().find(|b| {
                b.proto == proto
                    && if v6 {
                        (b.a6.as_slice(), b.p6) == (key.0.as_slice(), key.1)
                    } else {
                        (b.a4.as_slice(), b.p4) == (key.0.as_slice(), key.1)
                    }
            });
            if let Some(b) = hit {
                found = Some(format!(
                    "NAT64 binding [{}]:{} <-> {}:{} ({}{})",
                    Ipv6Addr::from(b.a6),
                    b.p6,
                    Ipv4Addr::from(b.a4),
                    b.p4,
                    match b.proto {
                        6 => "tcp",
                        17 => "udp",
                        _ => "icmp",
                    },
                    if b.is_static { ", static" } else { "" }
                ));
                break;
            }
        }
        found
    }

    /// `nat64-sessions` / `nat64-bib`: what the workers last published of
    /// their stateful NAT64 tables (like `jool session display` / `jool
    /// bib display`).
    fn nat64(&self, sessions: bool) -> Value {
        let Some(n) = self.spec.nat64.as_ref() else {
            return json!({"error": "no [nat64] table in this router's config"});
        };
        if n.stateful.is_none() {
            return json!({"error": "the translator is stateless (mode = \"siit\"): it keeps no sessions or bindings"});
        }
        let proto = |p: u8| match p {
            6 => "tcp",
            17 => "udp",
            _ => "icmp",
        };
        let pool6 = n.pool6;
        let mut rows = Vec::new();
        let mut workers = Vec::new();
        for (w, m) in self.bus.nat64.iter().enumerate() {
            let Ok(v) = m.lock() else { continue };
            workers.push(json!({
                "worker": w,
                "sessions": v.session_total,
                "bib": v.bib_total,
                "shown": if sessions { v.sessions.len() } else { v.bibs.len() },
                "sessions_created": v.counts.sessions_created,
                "sessions_expired": v.counts.sessions_expired,
                "bib_created": v.counts.bib_created,
                "handoff_out": v.counts.handoff_out,
                "handoff_in": v.counts.handoff_in,
                "handoff_lost": v.counts.handoff_lost,
            }));
            if sessions {
                for s in &v.sessions {
                    let b = &s.bib;
                    let r6 = pool6.map(|p| p.embed(Ipv4Addr::from(s.r4)).to_string());
                    // (An ICMP query's identifier is the binding's on each
                    // side: (X',Y',i1) <--> (T,Z,i2), RFC 6146 §3.5.3.)
                    let (rp6, rp4) = if b.proto == 1 {
                        (b.p6, b.p4)
                    } else {
                        (s.rp, s.rp)
                    };
                    rows.push(json!({
                        "worker": w,
                        "protocol": proto(b.proto),
                        "ipv6_local": format!("[{}]:{}", Ipv6Addr::from(b.a6), b.p6),
                        "ipv6_remote": format!("[{}]:{}", r6.unwrap_or_default(), rp6),
                        "ipv4_local": format!("{}:{}", Ipv4Addr::from(b.a4), b.p4),
                        "ipv4_remote": format!("{}:{}", Ipv4Addr::from(s.r4), rp4),
                        "state": s.tcp.map(|t| t.name()),
                        "expires_in_s": s.left_ns / 1_000_000_000,
                    }));
                }
            } else {
                for b in &v.bibs {
                    rows.push(json!({
                        "worker": w,
                        "protocol": proto(b.proto),
                        "ipv6": format!("[{}]:{}", Ipv6Addr::from(b.a6), b.p6),
                        "ipv4": format!("{}:{}", Ipv4Addr::from(b.a4), b.p4),
                        "static": b.is_static,
                        "sessions": b.sessions,
                    }));
                }
            }
        }
        let key = if sessions { "sessions" } else { "bib" };
        json!({key: rows, "workers": workers})
    }

    fn neigh(&self) -> Value {
        let mut rows = Vec::new();
        self.bus.read_views(|w, v| {
            for e in &v.entries {
                rows.push(json!({
                    "worker": w,
                    "interface": self.iface_name(e.key.iface),
                    "ip": e.key.ip.to_string(),
                    "mac": if e.state == xgw_pipelines::router::neigh::State::Incomplete {
                        Value::Null
                    } else {
                        json!(e.mac.to_string())
                    },
                    "state": e.state.as_str(),
                    "confirmed_ms_ago": v.at_ns.saturating_sub(e.confirmed_ns) / 1_000_000,
                    "parked": e.parked,
                }));
            }
        });
        rows.sort_by(|a, b| {
            (
                a["interface"].as_str(),
                a["ip"].as_str(),
                a["worker"].as_u64(),
            )
                .cmp(&(
                    b["interface"].as_str(),
                    b["ip"].as_str(),
                    b["worker"].as_u64(),
                ))
        });
        json!({"neighbors": rows})
    }
}

/// Renders a `route-list` answer for people.
pub fn render_routes(v: &Value) -> String {
    let mut out = String::new();
    for r in v["routes"].as_array().into_iter().flatten() {
        let s = |k: &str| r[k].as_str().unwrap_or("");
        let mut line = format!("{:<28}", s("prefix"));
        match s("kind") {
            "forward" => {
                if !s("via").is_empty() {
                    line += &format!(" via {}", s("via"));
                }
                line += &format!(" dev {}", s("interface"));
            }
            k => line += &format!(" {k}"),
        }
        line += &format!("  ({})\n", s("origin"));
        out += &line;
    }
    out
}

/// Renders a `tunnel-list` answer for people.
pub fn render_tunnels(v: &Value) -> String {
    let mut out = String::new();
    for t in v["tunnels"].as_array().into_iter().flatten() {
        let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
        let addrs: Vec<String> = ["ipv4", "ipv6"]
            .iter()
            .flat_map(|k| t[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        out += &format!(
            "{}: {} {} -> {} mtu {} ttl {} dscp {} df {} ecn {} rpf {}{}\n",
            s("name"),
            s("kind"),
            s("local"),
            s("remote"),
            t["mtu"],
            t["ttl"].to_string().trim_matches('"'),
            t["dscp"].to_string().trim_matches('"'),
            s("df"),
            s("ecn"),
            s("rpf"),
            if addrs.is_empty() {
                String::new()
            } else {
                format!(" addr {}", addrs.join(" "))
            }
        );
        out += &format!(
            "    encap {} pkts {} bytes, decap {} pkts {} bytes, icmp relayed {}\n",
            t["encap"]["packets"],
            t["encap"]["bytes"],
            t["decap"]["packets"],
            t["decap"]["bytes"],
            t["icmp_relayed"]
        );
        if let Some(d) = t["drops"].as_object() {
            for (k, n) in d {
                out += &format!("    drop {k}: {n}\n");
            }
        }
    }
    out
}

/// Renders traced frames for people: one line per node.
pub fn render_trace(v: &Value) -> String {
    let mut out = String::new();
    for (k, f) in v["frames"].as_array().into_iter().flatten().enumerate() {
        out.push_str(&format!(
            "frame {} (worker {}, port {}, {} bytes)\n",
            k + 1,
            f["worker"],
            f["port"],
            f["len"]
        ));
        for h in f["hops"].as_array().into_iter().flatten() {
            let vd = &h["verdict"];
            let what = if let Some(n) = vd["next"].as_str() {
                format!("-> {n}")
            } else if let Some(d) = vd["drop"].as_str() {
                format!("DROP {d}: {}", vd["why"].as_str().unwrap_or(""))
            } else if vd["tx"].is_number() {
                format!("tx on port {}", vd["tx"])
            } else if vd["local"] == true {
                "local (consumed)".to_string()
            } else {
                format!("parked ({})", vd["park"])
            };
            out.push_str(&format!(
                "  {:<18} {what:<40} [iface {}, nh {}]\n",
                h["node"].as_str().unwrap_or("?"),
                h["iface"].as_str().unwrap_or("?"),
                h["nh"]
            ));
            if let Some(k) = h["key"].as_str() {
                out.push_str(&format!("  {:<18}   {k}\n", ""));
            }
        }
    }
    if out.is_empty() {
        out.push_str("no frame traced\n");
    }
    out
}

/// Renders a `nat64-sessions` or `nat64-bib` answer for people.
pub fn render_nat64(v: &Value) -> String {
    let mut out = String::new();
    if let Some(rows) = v["sessions"].as_array() {
        out.push_str(&format!(
            "{:<5} {:<44} {:<44} {:<21} {:<21} {:<18} {}\n",
            "proto", "ipv6 local", "ipv6 remote", "ipv4 local", "ipv4 remote", "state", "expires"
        ));
        for r in rows {
            out.push_str(&format!(
                "{:<5} {:<44} {:<44} {:<21} {:<21} {:<18} {}s\n",
                r["protocol"].as_str().unwrap_or(""),
                r["ipv6_local"].as_str().unwrap_or(""),
                r["ipv6_remote"].as_str().unwrap_or(""),
                r["ipv4_local"].as_str().unwrap_or(""),
                r["ipv4_remote"].as_str().unwrap_or(""),
                r["state"].as_str().unwrap_or("-"),
                r["expires_in_s"]
            ));
        }
    }
    if let Some(rows) = v["bib"].as_array() {
        out.push_str(&format!(
            "{:<5} {:<44} {:<21} {:<7} {}\n",
            "proto", "ipv6", "ipv4", "static", "sessions"
        ));
        for r in rows {
            out.push_str(&format!(
                "{:<5} {:<44} {:<21} {:<7} {}\n",
                r["protocol"].as_str().unwrap_or(""),
                r["ipv6"].as_str().unwrap_or(""),
                r["ipv4"].as_str().unwrap_or(""),
                if r["static"] == true { "yes" } else { "no" },
                r["sessions"]
            ));
        }
    }
    for w in v["workers"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "worker {}: {} sessions, {} bindings ({} shown); {} sessions created, {} expired; \
             handed over {} out, {} in, {} lost\n",
            w["worker"],
            w["sessions"],
            w["bib"],
            w["shown"],
            w["sessions_created"],
            w["sessions_expired"],
            w["handoff_out"],
            w["handoff_in"],
            w["handoff_lost"]
        ));
    }
    out
}

/// Renders a `neigh` answer for people (like `ip neigh`).
pub fn render_neigh(v: &Value) -> String {
    let rows = v["neighbors"].as_array().cloned().unwrap_or_default();
    let multi = rows.iter().any(|r| r["worker"].as_u64().unwrap_or(0) > 0);
    let mut out = String::new();
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("");
        let mac = r["mac"]
            .as_str()
            .map(|m| format!(" lladdr {m}"))
            .unwrap_or_default();
        out += &format!("{} dev {}{mac} {}", s("ip"), s("interface"), s("state"));
        if r["parked"].as_u64().unwrap_or(0) > 0 {
            out += &format!(" parked {}", r["parked"]);
        }
        if multi {
            out += &format!(" worker {}", r["worker"]);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, PipelineCfg};
    use xgw_pipelines::router::NextHop;
    use xgw_pipelines::wire::ethernet::MacAddr;

    const CFG: &str = r#"
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
        [[interfaces]]
        name = "wan"
        port = "p1"
        ipv4 = ["192.0.2.1/30"]
        ipv6 = ["2001:db8:2::1/64"]
        [[routes]]
        prefix = "0.0.0.0/0"
        via = "192.0.2.2"
    "#;

    fn control() -> RouterControl {
        let cfg = Config::parse(CFG, "test.toml").unwrap();
        let PipelineCfg::Router(r) = &cfg.pipeline else {
            panic!("not a router")
        };
        let macs = [
            Some(MacAddr([2, 0, 0, 0, 0, 1])),
            Some(MacAddr([2, 0, 0, 0, 0, 2])),
        ];
        RouterControl::new(r.spec(&macs).unwrap(), NeighborBus::new(1)).unwrap()
    }

    fn ask(c: &mut RouterControl, req: Value) -> Value {
        let cmd = req["cmd"].as_str().unwrap().to_string();
        c.answer(&cmd, &req)
    }

    fn lookup6(c: &RouterControl, a: &str) -> Option<NextHop> {
        let t = c.routes().load();
        t.fib6
            .lookup(a.parse().unwrap())
            .map(|n| t.nexthops[n as usize])
    }

    #[test]
    fn routes_are_added_listed_and_deleted_at_run_time() {
        let mut c = control();
        let h = c.routes();
        let v0 = h.version();
        let v = ask(
            &mut c,
            json!({"cmd":"route-add","prefix":"2001:db8:9::/48","via":"2001:db8:2::2"}),
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(
            v["route"]["interface"], "wan",
            "gateway's interface found from subnets"
        );
        assert_eq!(h.version(), v0 + 1);
        assert_eq!(
            lookup6(&c, "2001:db8:9::5"),
            Some(NextHop::Via {
                iface: 1,
                gateway: "2001:db8:2::2".parse().unwrap()
            })
        );
        let list = ask(&mut c, json!({"cmd":"route-list"}));
        let rows = list["routes"].as_array().unwrap();
        let find = |p: &str| rows.iter().find(|r| r["prefix"] == p).cloned();
        assert_eq!(find("2001:db8:9::/48").unwrap()["origin"], "runtime");
        assert_eq!(find("0.0.0.0/0").unwrap()["origin"], "config");
        assert_eq!(find("10.1.0.0/24").unwrap()["origin"], "connected");
        let text = render_routes(&list);
        assert!(text.contains("2001:db8:9::/48"), "{text}");
        assert!(
            text.contains("via 2001:db8:2::2 dev wan  (runtime)"),
            "{text}"
        );

        let v = ask(
            &mut c,
            json!({"cmd":"route-del","prefix":"2001:db8:9::/48"}),
        );
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(lookup6(&c, "2001:db8:9::5"), None);
        // The configured default route can go too; connected ones cannot.
        let v = ask(&mut c, json!({"cmd":"route-del","prefix":"0.0.0.0/0"}));
        assert_eq!(v["ok"], true, "{v}");
        let v = ask(&mut c, json!({"cmd":"route-del","prefix":"10.1.0.0/24"}));
        assert!(v["error"].as_str().unwrap().contains("connected"), "{v}");
    }

    #[test]
    fn bad_route_requests_get_errors_naming_the_field() {
        let mut c = control();
        let v0 = c.routes().version();
        for (req, want) in [
            (json!({"cmd":"route-add"}), "needs \"prefix\""),
            (
                json!({"cmd":"route-add","prefix":5}),
                "\"prefix\" must be a string",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/33","via":"192.0.2.2"}),
                "prefix:",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.1/16","via":"192.0.2.2"}),
                "host bits",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","via":"bogus"}),
                "via:",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","via":"2001:db8::1"}),
                "family",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","via":"172.16.0.1"}),
                "none of the interfaces",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","interface":"nope"}),
                "no interface named",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","kind":"teleport"}),
                "kind:",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","kind":"blackhole","via":"192.0.2.2"}),
                "no next hop",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.9.0.0/16","gateway":"192.0.2.2"}),
                "unknown field \"gateway\"",
            ),
            (
                json!({"cmd":"route-add","prefix":"fe80::/64","interface":"lan"}),
                "fe80::/10",
            ),
            (
                json!({"cmd":"route-add","prefix":"10.1.0.0/24","interface":"lan"}),
                "already exists",
            ),
            (
                json!({"cmd":"route-del","prefix":"10.77.0.0/16"}),
                "no route",
            ),
            (
                json!({"cmd":"route-del","prefix":"garbage"}),
                "not a prefix",
            ),
        ] {
            let v = ask(&mut c, req.clone());
            let e = v["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{req} gave {v}"));
            assert!(e.contains(want), "{req}: {e:?} lacks {want:?}");
        }
        assert_eq!(
            c.routes().version(),
            v0,
            "a failed request published a table"
        );
    }

    #[test]
    fn neigh_lists_what_workers_published() {
        use xgw_pipelines::router::neigh::{Entry, Key, State};
        let c = control();
        let e = Entry {
            key: Key {
                iface: 1,
                ip: "192.0.2.2".parse().unwrap(),
            },
            mac: MacAddr([2, 0, 0, 0, 0x99, 0x99]),
            state: State::Reachable,
            confirmed_ns: 1_000_000_000,
            next_ns: 0,
            probes: 0,
            parked: 0,
            token: 1,
            stamp: 0,
        };
        assert!(c.bus().publish_view(0, 3_000_000_000, [e].iter(), &[]));
        let v = c.neigh();
        let r = &v["neighbors"][0];
        assert_eq!(r["ip"], "192.0.2.2");
        assert_eq!(r["interface"], "wan");
        assert_eq!(r["state"], "REACHABLE");
        assert_eq!(r["confirmed_ms_ago"], 2000);
        assert_eq!(
            render_neigh(&v),
            format!("192.0.2.2 dev wan lladdr {} REACHABLE\n", e.mac)
        );
    }
}
