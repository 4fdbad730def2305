//! Stats aggregation and the Unix control socket.
//!
//! The control thread is the stats thread: it merges the histograms the
//! workers hand over, reads kernel socket counters, and answers requests on
//! a Unix socket (mode 0600). A request is one line — a bare command
//! (`stats`) or JSON (`{"cmd":"stats"}`) — and the answer is one JSON
//! object per line. Garbage gets `{"error": ...}`, never a crash.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use xgw_pipelines::{DropReason, NodeInfo};

use crate::engine::PortInfo;
use crate::function::{self, Instance};
use crate::port::afxdp::read_stats;
use crate::port::XskStats;
use crate::stats::{tsc_hz, Hists, NodeSnapshot, PortSnapshot, WorkerStats};

/// Largest request line accepted.
const MAX_REQUEST: u64 = 4096;

/// Aggregates what workers publish.
pub struct StatsSource {
    started: Instant,
    ports: Vec<PortInfo>,
    workers: Vec<Arc<WorkerStats>>,
    hists: Vec<Hists>,
    function: Option<Box<dyn Instance>>,
    /// `reload` (`xgw run` only).
    reloader: Option<crate::reload::Reloader>,
}

fn pct(h: &hdrhistogram::Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!(null);
    }
    json!({
        "count": h.len(),
        "min": h.min(),
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "max": h.max(),
        "mean": (h.mean() * 10.0).round() / 10.0,
    })
}

impl StatsSource {
    pub fn new(ports: Vec<PortInfo>, workers: Vec<Arc<WorkerStats>>) -> Self {
        let hists = workers.iter().map(|_| Hists::new()).collect();
        StatsSource {
            started: Instant::now(),
            ports,
            workers,
            hists,
            function: None,
            reloader: None,
        }
    }

    /// Answers `reload`: re-reads the configuration file and applies the
    /// difference (see [`crate::reload`]).
    pub fn with_reloader(mut self, r: crate::reload::Reloader) -> Self {
        self.reloader = Some(r);
        self
    }

    /// Adds the pipeline function's commands (the router's routes,
    /// tunnels and neighbours) and `stats` sections.
    pub fn with_function(mut self, function: Box<dyn Instance>) -> Self {
        self.function = Some(function);
        self
    }

    /// Merges the histograms workers have handed over and gives the
    /// emptied ones back.
    pub fn collect(&mut self) {
        for (w, acc) in self.workers.iter().zip(self.hists.iter_mut()) {
            while let Some(mut h) = w.full.pop() {
                acc.add(&h);
                h.reset();
                let _ = w.empty.push(h);
            }
        }
    }

    /// The whole picture as JSON (the `stats` answer).
    pub fn snapshot(&mut self) -> Value {
        self.collect();
        let nports = self.ports.len();
        let mut per_port = vec![PortSnapshot::default(); nports];
        let mut workers = Vec::new();
        let mut pending = 0u64;
        let mut dead = Vec::new();
        for (w, h) in self.workers.iter().zip(&self.hists) {
            let read = w.read();
            let snap = read.ports;
            if w.is_dead() {
                dead.push(w.id);
            }
            let (mut rx, mut tx, mut dropped, mut emitted, mut local) = (0, 0, 0, 0, 0);
            let mut wports = Map::new();
            for ((acc, s), info) in per_port.iter_mut().zip(&snap).zip(&self.ports) {
                acc.add(s);
                rx += s.rx;
                tx += s.tx;
                dropped += s.dropped;
                emitted += s.emitted;
                local += s.local;
                wports.insert(
                    info.name.clone(),
                    json!({"rx": s.rx, "tx": s.tx, "emitted": s.emitted, "local": s.local,
                           "dropped": s.dropped, "pending": s.parked - s.unparked}),
                );
            }
            let wp: u64 = snap.iter().map(|s| s.parked - s.unparked).sum();
            let mut wdrops = Map::new();
            for r in DropReason::ALL {
                let n: u64 = snap
                    .iter()
                    .map(|s| s.drops.get(r.index()).copied().unwrap_or(0))
                    .sum();
                if n > 0 {
                    wdrops.insert(r.name().into(), json!(n));
                }
            }
            pending += wp;
            workers.push(json!({
                "id": w.id,
                "core": w.core,
                "state": if w.is_dead() { "dead" } else { "running" },
                "death": w.death(),
                "torn": read.torn,
                "rx": rx, "tx": tx, "dropped": dropped,
                "emitted": emitted, "local": local, "pending": wp,
                "ports": wports,
                "drops": wdrops,
                "bursts": w.bursts.load(Ordering::Relaxed),
                "emit_failed": w.emit_failed.load(Ordering::Relaxed),
                "idle_polls": w.idle_polls.load(Ordering::Relaxed),
                "burst_size": pct(&h.burst_size),
                "burst_latency_ns": pct(&h.latency_ns),
                "frames": {
                    "total": w.frames_total.load(Ordering::Relaxed),
                    "free": w.frames_free.load(Ordering::Relaxed),
                    "in_ports": w.frames_in_ports.load(Ordering::Relaxed),
                    "pending": wp,
                },
            }));
        }
        let mut all_drops = [0u64; DropReason::COUNT];
        let mut ports = Vec::new();
        for (info, s) in self.ports.iter().zip(&per_port) {
            let mut drops = Map::new();
            for r in DropReason::ALL {
                let n = s.drops.get(r.index()).copied().unwrap_or(0);
                all_drops[r.index()] += n;
                drops.insert(r.name().into(), json!(n));
            }
            let kernel = if info.xsk_fds.is_empty() {
                Value::Null
            } else {
                let mut k = XskStats::default();
                for fd in &info.xsk_fds {
                    if let Ok(s) = read_stats(std::os::fd::AsRawFd::as_raw_fd(fd)) {
                        k += s;
                    }
                }
                serde_json::to_value(k).unwrap_or(Value::Null)
            };
            ports.push(json!({
                "name": info.name,
                "driver": info.driver,
                "interface": info.interface,
                "mac": info.mac.map(|m| m.to_string()),
                "xdp_mode": info.xdp_mode,
                "bind_mode": info.bind_mode,
                "rx": s.rx, "rx_bytes": s.rx_bytes, "emitted": s.emitted, "local": s.local,
                "pending": s.parked - s.unparked,
                "parked": s.parked, "unparked": s.unparked,
                "tx": s.tx, "tx_bytes": s.tx_bytes,
                "dropped": s.dropped,
                "drops": drops,
                "kernel": kernel,
            }));
        }
        let rx: u64 = per_port.iter().map(|s| s.rx).sum();
        let tx: u64 = per_port.iter().map(|s| s.tx).sum();
        let dropped: u64 = per_port.iter().map(|s| s.dropped).sum();
        let emitted: u64 = per_port.iter().map(|s| s.emitted).sum();
        let local: u64 = per_port.iter().map(|s| s.local).sum();
        let parked: u64 = per_port.iter().map(|s| s.parked).sum();
        let unparked: u64 = per_port.iter().map(|s| s.unparked).sum();
        let mut drops = Map::new();
        for r in DropReason::ALL {
            if all_drops[r.index()] > 0 {
                drops.insert(
                    r.name().into(),
                    json!({"count": all_drops[r.index()], "description": r.description()}),
                );
            }
        }
        let mut v = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "workers_dead": dead,
            "totals": {"rx": rx, "emitted": emitted, "tx": tx, "local": local, "dropped": dropped, "pending": pending, "parked": parked, "unparked": unparked},
            "drops": drops,
            "ports": ports,
            "workers": workers,
        });
        if let (Some(f), Value::Object(m)) = (&mut self.function, &mut v) {
            f.stats(m);
        }
        v
    }

    /// Per-node runtime figures (the `runtime` answer).
    pub fn runtime(&self) -> Value {
        runtime_json(&self.workers)
    }

    /// Answers one request line.
    pub fn answer(&mut self, line: &str) -> Value {
        let line = line.trim();
        let (cmd, req) = if line.starts_with('{') {
            match serde_json::from_str::<Value>(line) {
                Ok(v) => match v.get("cmd").and_then(Value::as_str) {
                    Some(c) => (c.to_string(), v),
                    None => {
                        return json!({"error": "request has no \"cmd\" string; expected {\"cmd\":\"stats\"}"})
                    }
                },
                Err(e) => return json!({"error": format!("request is not valid JSON: {e}")}),
            }
        } else {
            (line.to_string(), json!({}))
        };
        match cmd.as_str() {
            "stats" => self.snapshot(),
            "runtime" => self.runtime(),
            "ping" => json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}),
            "reload" => match &mut self.reloader {
                Some(r) => r.reload(
                    self.function.as_mut(),
                    req["dry_run"].as_bool().unwrap_or(false),
                ),
                None => {
                    json!({"error": "reload: this engine was not started by `xgw run` with a file"})
                }
            },
            "capture-arm" => capture_arm(&req),
            "capture-read" => capture_read(),
            "capture-stop" => {
                crate::capture::CAPTURE.disarm();
                capture_read()
            }
            "drop-reasons" => Value::Array(
                DropReason::ALL
                    .iter()
                    .map(|&r| {
                        json!({
                            "name": r.name(),
                            "nodes": xgw_pipelines::drop_owners(r),
                            "description": r.description(),
                        })
                    })
                    .collect(),
            ),
            c => match (function::command_owner(c), &mut self.function) {
                (Some(f), Some(i)) if i.function().name() == f.name() => i.answer(c, &req),
                (Some(f), _) => {
                    json!({"error": format!("{c}: this engine runs no {} pipeline", f.name())})
                }
                (None, _) => {
                    let shown: String = c.chars().take(40).collect();
                    let mut known = String::from(
                        "stats, runtime, ping, reload, drop-reasons, capture-arm, capture-read, capture-stop",
                    );
                    for k in function::all_commands() {
                        known.push_str(", ");
                        known.push_str(k);
                    }
                    json!({"error": format!("unknown command {shown:?}; expected one of: {known}")})
                }
            },
        }
    }
}

/// `capture-arm`: captures the next `count` frames (at most 4096) in the
/// directions `dirs` (a mask: 1 rx, 2 tx, 4 drop) matching the given
/// fields (`port` index, `proto`, `src`, `dst`, `sport`, `dport`, `teid`).
fn capture_arm(req: &Value) -> Value {
    let count = req["count"].as_u64().unwrap_or(100);
    if !(1..=crate::capture::MAX_FRAMES as u64).contains(&count) {
        return json!({"error": format!("count: 1 to {} frames", crate::capture::MAX_FRAMES)});
    }
    let dirs = req["dirs"].as_u64().unwrap_or(7);
    if dirs == 0 || dirs > 7 {
        return json!({"error": "dirs: a mask of 1 (rx), 2 (tx), 4 (drop)"});
    }
    let spec = match_spec(req, false);
    match spec {
        Ok(spec) => {
            crate::capture::CAPTURE.arm(spec, dirs as u8, count as u32);
            json!({"armed": true, "count": count, "dirs": dirs})
        }
        Err(e) => e,
    }
}

/// The frames a trace or capture request selects: its `port` index,
/// `proto`, `src`, `dst`, `sport`, `dport`, `teid` (all optional), and
/// `drops_only` if `drops`.
pub fn match_spec(req: &Value, drops: bool) -> Result<xgw_pipelines::trace::TraceSpec, Value> {
    let num = |k: &str, max: u64| -> Result<Option<u64>, Value> {
        match &req[k] {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .filter(|&n| n <= max)
                .map(Some)
                .ok_or_else(|| json!({"error": format!("{k}: a number up to {max}")})),
        }
    };
    let addr = |k: &str| -> Result<Option<std::net::IpAddr>, Value> {
        match req[k].as_str() {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| json!({"error": format!("{k}: \"{s}\" is not an IP address")})),
        }
    };
    Ok(xgw_pipelines::trace::TraceSpec {
        port: num("port", 0xffff)?.map(|n| n as u16),
        proto: num("proto", 255)?.map(|n| n as u8),
        src: addr("src")?,
        dst: addr("dst")?,
        sport: num("sport", 0xffff)?.map(|n| n as u16),
        dport: num("dport", 0xffff)?.map(|n| n as u16),
        teid: num("teid", u64::from(u32::MAX))?.map(|n| n as u32),
        drops_only: drops && req["drops_only"].as_bool().unwrap_or(false),
    })
}

/// `capture-read`: the frames captured since the last read.
fn capture_read() -> Value {
    let (frames, armed) = crate::capture::CAPTURE.take();
    let rows: Vec<Value> = frames
        .iter()
        .map(|f| {
            json!({
                "ts_ns": f.ts_ns,
                "port": f.port,
                "dir": match f.dir { crate::capture::RX => "rx", crate::capture::TX => "tx", _ => "drop" },
                "reason": f.reason.map(|r| r.name()),
                "why": f.reason.map(|r| r.description()),
                "len": f.len,
                "bytes": f.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            })
        })
        .collect();
    json!({"armed": armed, "frames": rows})
}

/// `a / b` rounded to two decimals, `null` when `b` is 0.
fn ratio(a: f64, b: f64) -> Value {
    if b == 0.0 {
        Value::Null
    } else {
        json!(((a / b) * 100.0).round() / 100.0)
    }
}

fn node_rows(info: &[NodeInfo], snaps: &[NodeSnapshot], hz: u64) -> Value {
    Value::Array(
        info.iter()
            .zip(snaps)
            .map(|(n, s)| {
                let cpp = (s.packets > 0).then(|| s.cycles as f64 / s.packets as f64);
                json!({
                    "name": n.name,
                    "calls": s.calls,
                    "vectors": s.vectors,
                    "packets": s.packets,
                    "cycles": s.cycles,
                    "packets_per_vector": ratio(s.packets as f64, s.vectors as f64),
                    "cycles_per_packet": cpp.map_or(Value::Null, |c| ratio(c, 1.0)),
                    "ns_per_packet": cpp.map_or(Value::Null, |c| ratio(c * 1e9, hz as f64)),
                })
            })
            .collect(),
    )
}

/// Per-node runtime figures of `workers`, each worker's and their sum
/// (the `runtime` answer, also in `xgw replay --runtime`). Cycles are
/// [`crate::stats::now_tsc`] ticks; `tsc_hz` converts them to time (the
/// first call measures it, ~50 ms).
pub fn runtime_json(workers: &[Arc<WorkerStats>]) -> Value {
    let hz = tsc_hz();
    let info: &[NodeInfo] = workers.first().map_or(&[], |w| &w.node_info);
    let mut total = vec![NodeSnapshot::default(); info.len()];
    let mut per = Vec::new();
    for w in workers {
        let r = w.read();
        for (t, n) in total.iter_mut().zip(&r.nodes) {
            t.add(n);
        }
        per.push(json!({
            "id": w.id,
            "core": w.core,
            "state": if w.is_dead() { "dead" } else { "running" },
            "torn": r.torn,
            "nodes": node_rows(&w.node_info, &r.nodes, hz),
        }));
    }
    json!({
        "clock": if cfg!(target_arch = "x86_64") { "tsc" } else { "monotonic-ns" },
        "tsc_hz": hz,
        "workers": per,
        "total": node_rows(info, &total, hz),
    })
}

/// `xgw drops`: the reasons that counted something, from a `stats`
/// answer: per port and per worker, the nodes that file it, its sentence;
/// with `prev` (an earlier answer) also what each counted since.
pub fn drops_json(v: &Value, prev: Option<&Value>) -> Value {
    let mut rows = Vec::new();
    for r in DropReason::ALL {
        let name = r.name();
        let mut ports = Map::new();
        let mut total = 0u64;
        for p in v["ports"].as_array().into_iter().flatten() {
            let n = p["drops"][name].as_u64().unwrap_or(0);
            if n > 0 {
                ports.insert(p["name"].as_str().unwrap_or("?").into(), json!(n));
            }
            total += n;
        }
        if total == 0 {
            continue;
        }
        let mut workers = Map::new();
        for w in v["workers"].as_array().into_iter().flatten() {
            if let Some(n) = w["drops"][name].as_u64() {
                workers.insert(w["id"].to_string(), json!(n));
            }
        }
        let mut row = json!({
            "reason": name,
            "count": total,
            "ports": ports,
            "workers": workers,
            "nodes": xgw_pipelines::drop_owners(*r),
            "description": r.description(),
        });
        if let Some(p) = prev {
            let before: u64 = p["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| x["drops"][name].as_u64().unwrap_or(0))
                .sum();
            row["since_last"] = json!(total.saturating_sub(before));
        }
        rows.push(row);
    }
    json!({"drops": rows})
}

/// Renders `xgw drops` for people.
pub fn render_drops(d: &Value) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let rows = d["drops"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        o.push_str("no drops\n");
        return o;
    }
    for r in rows {
        let ports: Vec<String> = r["ports"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let workers: Vec<String> = r["workers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| format!("w{k}={n}"))
            .collect();
        let nodes: Vec<&str> = r["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .collect();
        let since = r["since_last"]
            .as_u64()
            .map_or(String::new(), |n| format!(" (+{n})"));
        let _ = writeln!(
            o,
            "{:<30} {:>10}{since}  {}  {}  [{}]\n    {}",
            r["reason"].as_str().unwrap_or(""),
            r["count"],
            ports.join(" "),
            workers.join(" "),
            nodes.join(","),
            r["description"].as_str().unwrap_or("")
        );
    }
    o
}

/// Per-port rates between two `stats` answers `dt` apart (`xgw stats
/// --watch`).
pub fn render_rates(prev: &Value, v: &Value, dt: Duration) -> String {
    use std::fmt::Write as _;
    let s = dt.as_secs_f64().max(1e-3);
    let mut o = String::from("rates (per second):\n");
    let ports = v["ports"].as_array().cloned().unwrap_or_default();
    let before = prev["ports"].as_array().cloned().unwrap_or_default();
    for (p, b) in ports.iter().zip(&before) {
        let d = |k: &str| {
            p[k].as_u64()
                .unwrap_or(0)
                .saturating_sub(b[k].as_u64().unwrap_or(0)) as f64
                / s
        };
        let _ = writeln!(
            o,
            "  {:<12} rx {:>12.0} pps {:>14.0} bps   tx {:>12.0} pps {:>14.0} bps   dropped {:>10.0}/s",
            p["name"].as_str().unwrap_or("?"),
            d("rx"),
            d("rx_bytes") * 8.0,
            d("tx"),
            d("tx_bytes") * 8.0,
            d("dropped"),
        );
    }
    o
}

/// The nodes' figures over an interval (`xgw stats --watch`): for each
/// node that saw packets between two `runtime` answers, packets per
/// second, packets per vector and clocks per packet in that interval.
pub fn render_node_rates(prev: &Value, v: &Value, dt: Duration) -> String {
    use std::fmt::Write as _;
    let s = dt.as_secs_f64().max(1e-3);
    let mut o = String::new();
    let now = v["total"].as_array().cloned().unwrap_or_default();
    let before = prev["total"].as_array().cloned().unwrap_or_default();
    for (n, b) in now.iter().zip(&before) {
        let d = |k: &str| {
            n[k].as_u64()
                .unwrap_or(0)
                .saturating_sub(b[k].as_u64().unwrap_or(0))
        };
        let (pk, vec, cyc) = (d("packets"), d("vectors"), d("cycles"));
        if pk == 0 {
            continue;
        }
        if o.is_empty() {
            o.push_str("nodes (this interval):       packets/s   pkts/vector   clocks/pkt\n");
        }
        let _ = writeln!(
            o,
            "  {:<24} {:>12.0} {:>13.1} {:>12.1}",
            n["name"].as_str().unwrap_or("?"),
            pk as f64 / s,
            pk as f64 / vec.max(1) as f64,
            cyc as f64 / pk as f64,
        );
    }
    o
}

/// Renders a `runtime` answer for people, like VPP's `show runtime`: per
/// worker, then the total over workers.
pub fn render_runtime(v: &Value) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let hz = v["tsc_hz"].as_u64().unwrap_or(0);
    let _ = writeln!(
        o,
        "clock: {} at {:.3} GHz (cycles per packet x 1e9 / Hz = ns per packet)",
        v["clock"].as_str().unwrap_or("?"),
        hz as f64 / 1e9
    );
    let f = |x: &Value| match x.as_f64() {
        Some(x) => format!("{x:.2}"),
        None => "-".into(),
    };
    let table = |o: &mut String, title: String, rows: &Value| {
        let _ = writeln!(o, "{title}");
        let _ = writeln!(
            o,
            "  {:<16} {:>12} {:>12} {:>14} {:>10} {:>12} {:>10}",
            "NAME", "CALLS", "VECTORS", "PACKETS", "PKTS/VEC", "CLOCKS/PKT", "NS/PKT"
        );
        for r in rows.as_array().into_iter().flatten() {
            let _ = writeln!(
                o,
                "  {:<16} {:>12} {:>12} {:>14} {:>10} {:>12} {:>10}",
                r["name"].as_str().unwrap_or("?"),
                r["calls"].as_u64().unwrap_or(0),
                r["vectors"].as_u64().unwrap_or(0),
                r["packets"].as_u64().unwrap_or(0),
                f(&r["packets_per_vector"]),
                f(&r["cycles_per_packet"]),
                f(&r["ns_per_packet"])
            );
        }
    };
    let workers = v["workers"].as_array().map_or(&[][..], |w| w.as_slice());
    for w in workers {
        let mut title = format!("worker {} (core {})", w["id"], w["core"]);
        if w["state"] == "dead" {
            title.push_str(": DEAD, figures as it left them");
        }
        if w["torn"] == true {
            title.push_str(" (torn: mid-burst copy)");
        }
        table(&mut o, title, &w["nodes"]);
    }
    table(
        &mut o,
        format!(
            "total ({} worker{})",
            workers.len(),
            if workers.len() == 1 { "" } else { "s" }
        ),
        &v["total"],
    );
    o
}

/// The nodes of the pipeline `cfg` configures, with their arcs (what
/// every worker's pipeline reports through `Pipeline::nodes`).
pub fn pipeline_nodes(cfg: &crate::config::Config) -> Vec<NodeInfo> {
    function::of(cfg).nodes(&cfg.pipeline)
}

/// The nodes of a pipeline with their arcs as JSON (`xgw graph --json`).
pub fn graph_json(nodes: &[NodeInfo]) -> Value {
    Value::Array(
        nodes
            .iter()
            .map(|n| json!({"name": n.name, "next": n.next}))
            .collect(),
    )
}

/// Renders a pipeline's nodes and arcs (`xgw graph`): one line per node
/// with the nodes it may send frames to, then the ends (tx, local, drop,
/// park) it may finish frames at.
pub fn render_graph(nodes: &[NodeInfo]) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let rows: Vec<(&str, String, String)> = nodes
        .iter()
        .map(|n| {
            let (ends, next): (Vec<&str>, Vec<&str>) = n
                .next
                .iter()
                .partition(|x| xgw_pipelines::graph::ENDS.contains(x));
            let next = if next.is_empty() {
                "-".to_string()
            } else {
                next.join(" ")
            };
            (n.name, next, ends.join(" "))
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(10);
    let _ = writeln!(o, "{:<w0$}  {:<w1$}  ENDS", "NODE", "NEXT NODES");
    for (name, next, ends) in rows {
        let _ = writeln!(o, "{name:<w0$}  {next:<w1$}  {ends}");
    }
    o
}

/// Renders a `stats` answer for people.
pub fn render_table(v: &Value) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let u = |x: &Value| x.as_u64().unwrap_or(0);
    let _ = writeln!(
        o,
        "xgw {} — up {} s",
        v["version"].as_str().unwrap_or("?"),
        v["uptime_s"]
    );
    let dead: Vec<String> = v["workers_dead"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w.to_string())
        .collect();
    if !dead.is_empty() {
        let _ = writeln!(
            o,
            "DEAD WORKERS: {} (the engine is stopping; see the worker lines below)",
            dead.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "{:<10} {:<7} {:<12} {:<16} {:>12} {:>12} {:>10} {:>14} {:>14}",
        "PORT", "DRIVER", "INTERFACE", "MODE", "RX", "TX", "DROPPED", "RX_BYTES", "TX_BYTES"
    );
    for p in v["ports"].as_array().into_iter().flatten() {
        let mode = match (p["xdp_mode"].as_str(), p["bind_mode"].as_str()) {
            (Some(x), Some(b)) => format!("{x}/{b}"),
            _ => "-".into(),
        };
        let _ = writeln!(
            o,
            "{:<10} {:<7} {:<12} {:<16} {:>12} {:>12} {:>10} {:>14} {:>14}",
            p["name"].as_str().unwrap_or("?"),
            p["driver"].as_str().unwrap_or("?"),
            p["interface"].as_str().unwrap_or("-"),
            mode,
            u(&p["rx"]),
            u(&p["tx"]),
            u(&p["dropped"]),
            u(&p["rx_bytes"]),
            u(&p["tx_bytes"])
        );
    }
    let kernel: Vec<String> = v["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["kernel"].is_object())
        .map(|p| {
            let k = &p["kernel"];
            format!(
                "  {:<10} rx_dropped={} rx_ring_full={} fill_ring_empty={} rx_invalid={} tx_invalid={} tx_ring_empty={}",
                p["name"].as_str().unwrap_or("?"),
                u(&k["rx_dropped"]),
                u(&k["rx_ring_full"]),
                u(&k["rx_fill_ring_empty"]),
                u(&k["rx_invalid"]),
                u(&k["tx_invalid"]),
                u(&k["tx_ring_empty"])
            )
        })
        .collect();
    if !kernel.is_empty() {
        let _ = writeln!(o, "kernel AF_XDP socket counters:");
        for k in kernel {
            let _ = writeln!(o, "{k}");
        }
    }
    let drops = v["drops"].as_object();
    if drops.is_some_and(|d| !d.is_empty()) {
        let _ = writeln!(o, "drops:");
        for (name, d) in drops.into_iter().flatten() {
            let _ = writeln!(
                o,
                "  {:<22} {:>12}  {}",
                name,
                u(&d["count"]),
                d["description"].as_str().unwrap_or("")
            );
        }
    } else {
        let _ = writeln!(o, "drops: none");
    }
    for w in v["workers"].as_array().into_iter().flatten() {
        let f = &w["frames"];
        if w["state"] == "dead" {
            let _ = writeln!(
                o,
                "worker {} (core {}): DEAD: {}; its counters are as it left them{}",
                w["id"],
                w["core"],
                w["death"].as_str().unwrap_or("panicked"),
                if w["torn"] == true {
                    " (torn: it died mid-burst)"
                } else {
                    ""
                }
            );
            continue;
        }
        let mut line = format!(
            "worker {} (core {}): {} bursts; frames {} free, {} in ports, {} pending of {}",
            w["id"],
            w["core"],
            u(&w["bursts"]),
            u(&f["free"]),
            u(&f["in_ports"]),
            u(&f["pending"]),
            u(&f["total"])
        );
        if w["burst_size"].is_object() {
            let _ = write!(
                line,
                "; burst size p50 {} max {}; burst latency p50 {} ns p99 {} ns max {} ns",
                w["burst_size"]["p50"],
                w["burst_size"]["max"],
                w["burst_latency_ns"]["p50"],
                w["burst_latency_ns"]["p99"],
                w["burst_latency_ns"]["max"]
            );
        }
        let _ = writeln!(o, "{line}");
    }
    for f in function::ALL {
        f.render_stats(v, &mut o);
    }
    let t = &v["totals"];
    let (rx, em, tx, lo, dr, pe) = (
        u(&t["rx"]),
        u(&t["emitted"]),
        u(&t["tx"]),
        u(&t["local"]),
        u(&t["dropped"]),
        u(&t["pending"]),
    );
    let _ = writeln!(
        o,
        "totals: rx {rx} + emitted {em} = tx {tx} + local {lo} + dropped {dr} + pending {pe}{}",
        if rx + em == tx + lo + dr + pe {
            ""
        } else {
            "  (MISMATCH: frames unaccounted for)"
        }
    );
    o
}

/// The running control thread.
pub struct ControlServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<StatsSource>>,
    path: PathBuf,
}

/// Binds the control socket (mode 0600, parent directory created 0700).
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "another xgw is already answering on {}; stop it or set [control] socket to another path",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("removing stale {}: {e}", path.display()))?;
    }
    // SAFETY: umask only changes this process's file-creation mask; it is
    // restored right after bind so the socket is created 0600 without a
    // window in which others could connect.
    let old = unsafe { libc::umask(0o177) };
    let l = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let l = l.map_err(|e| format!("binding control socket {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    Ok(l)
}

/// Most connections served at once; one more is answered
/// `{"error": "busy ..."}` at once and closed.
pub const MAX_CONNECTIONS: usize = 64;
/// Deadline from accept to a complete request line (not per read: a
/// client trickling bytes gets no more than this).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Deadline from a complete request to its answer fully written (a client
/// that does not read its answer).
pub const WRITE_DEADLINE: Duration = Duration::from_secs(2);
/// After the answer, unread request bytes are discarded for this long
/// (up to [`MAX_DRAIN`]) so the client sees the answer and EOF rather than
/// a reset.
const DRAIN_DEADLINE: Duration = Duration::from_millis(100);
const MAX_DRAIN: usize = 1 << 16;
/// The control loop wakes at least this often (stop flag, histograms).
const TICK: Duration = Duration::from_millis(20);

enum Phase {
    /// Collecting the request line into `buf`.
    Reading,
    /// Writing the answer in `buf` from `sent`.
    Writing,
    /// Answer written and write side shut: discarding what the client
    /// still sends until EOF.
    Draining,
}

/// One client connection (non-blocking), with its own deadline.
struct Conn {
    stream: UnixStream,
    phase: Phase,
    deadline: Instant,
    buf: Vec<u8>,
    sent: usize,
    drained: usize,
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

impl Conn {
    fn new(stream: UnixStream, now: Instant) -> Self {
        Conn {
            stream,
            phase: Phase::Reading,
            deadline: now + REQUEST_DEADLINE,
            buf: Vec::new(),
            sent: 0,
            drained: 0,
        }
    }

    fn interest(&self) -> libc::c_short {
        match self.phase {
            Phase::Writing => libc::POLLOUT,
            _ => libc::POLLIN,
        }
    }

    fn respond(&mut self, answer: Value, now: Instant) {
        self.buf = answer.to_string().into_bytes();
        self.buf.push(b'\n');
        self.sent = 0;
        self.phase = Phase::Writing;
        self.deadline = now + WRITE_DEADLINE;
    }

    /// Advances the connection as far as it goes without blocking.
    /// Returns false once it is finished (or failed): drop it.
    fn step(&mut self, src: &mut StatsSource, now: Instant) -> bool {
        if let Phase::Reading = self.phase {
            let mut chunk = [0u8; 1024];
            loop {
                let room = (MAX_REQUEST as usize - self.buf.len()).min(chunk.len());
                match (&self.stream).read(&mut chunk[..room]) {
                    Ok(0) => {
                        // EOF: answer what came (an unterminated line).
                        let a = answer_request(src, &self.buf);
                        self.respond(a, now);
                        break;
                    }
                    Ok(n) => {
                        let got = &chunk[..n];
                        if let Some(i) = got.iter().position(|&b| b == b'\n') {
                            self.buf.extend_from_slice(&got[..=i]);
                            let a = answer_request(src, &self.buf);
                            self.respond(a, now);
                            break;
                        }
                        self.buf.extend_from_slice(got);
                        if self.buf.len() as u64 >= MAX_REQUEST {
                            let a = json!({"error": format!("request longer than {MAX_REQUEST} bytes")});
                            self.respond(a, now);
                            break;
                        }
                    }
                    Err(e) if would_block(&e) => {
                        if now >= self.deadline {
                            let a = json!({"error": format!(
                                "no complete request line within {} s of connecting; closing",
                                REQUEST_DEADLINE.as_secs_f64()
                            )});
                            self.respond(a, now);
                            break;
                        }
                        return true;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
        }
        if let Phase::Writing = self.phase {
            while self.sent < self.buf.len() {
                match (&self.stream).write(&self.buf[self.sent..]) {
                    Ok(0) => return false,
                    Ok(n) => self.sent += n,
                    Err(e) if would_block(&e) => return now < self.deadline,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
            self.buf = Vec::new();
            self.phase = Phase::Draining;
            self.deadline = now + DRAIN_DEADLINE;
        }
        // Draining.
        let mut chunk = [0u8; 4096];
        loop {
            match (&self.stream).read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.drained += n;
                    if self.drained > MAX_DRAIN {
                        return false;
                    }
                }
                Err(e) if would_block(&e) => return now < self.deadline,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

fn answer_request(src: &mut StatsSource, line: &[u8]) -> Value {
    match std::str::from_utf8(line) {
        Ok(s) => src.answer(s),
        Err(_) => json!({"error": "request is not UTF-8 text"}),
    }
}

/// Best effort, without blocking: one short answer to a connection that is
/// then closed (busy, stopping). Reads what the client already sent first,
/// so the close is less likely to reset the answer away.
fn refuse(stream: UnixStream, answer: Value) {
    let _ = stream.set_nonblocking(true);
    let mut chunk = [0u8; 4096];
    let _ = (&stream).read(&mut chunk);
    let _ = writeln!(&stream, "{answer}");
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// The control thread's loop: non-blocking accept, up to
/// [`MAX_CONNECTIONS`] non-blocking connections each with its own deadline,
/// poll(2) over all of them with a [`TICK`] timeout, and the histograms
/// merged every turn. No client can hold up another.
fn serve(
    listener: UnixListener,
    prom: Option<std::net::TcpListener>,
    src: &mut StatsSource,
    stop: &AtomicBool,
) {
    let mut conns: Vec<Conn> = Vec::with_capacity(MAX_CONNECTIONS);
    let mut scrapes: Vec<crate::prometheus::Scrape> =
        Vec::with_capacity(crate::prometheus::MAX_SCRAPES);
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(MAX_CONNECTIONS + 1);
    while !stop.load(Ordering::Relaxed) {
        fds.clear();
        fds.push(libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        if let Some(p) = &prom {
            if scrapes.len() < crate::prometheus::MAX_SCRAPES {
                fds.push(libc::pollfd {
                    fd: p.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        for s in &scrapes {
            fds.push(libc::pollfd {
                fd: s.stream.as_raw_fd(),
                events: s.interest(),
                revents: 0,
            });
        }
        let io_fd = src.function.as_ref().and_then(|f| f.io_fd());
        if let Some(fd) = io_fd {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        for c in &conns {
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: c.interest(),
                revents: 0,
            });
        }
        let now = Instant::now();
        let wait = conns
            .iter()
            .map(|c| c.deadline.saturating_duration_since(now))
            .fold(TICK, Duration::min);
        // Round up so a deadline is not polled for in a busy loop.
        let ms = wait.as_micros().div_ceil(1000) as libc::c_int;
        // SAFETY: fds is a valid array of pollfd for its length.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if let Some(f) = src.function.as_mut() {
            f.io();
        }
        src.collect();
        let now = Instant::now();
        conns.retain_mut(|c| c.step(src, now));
        if let Some(p) = &prom {
            while scrapes.len() < crate::prometheus::MAX_SCRAPES {
                match p.accept() {
                    Ok((s, _)) => {
                        if let Some(s) = crate::prometheus::Scrape::new(s, now) {
                            scrapes.push(s);
                        }
                    }
                    Err(_) => break,
                }
            }
            scrapes.retain_mut(|s| {
                s.step(now, &mut || {
                    let v = src.snapshot();
                    crate::prometheus::exposition(&v, &src.runtime())
                })
            });
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if conns.len() >= MAX_CONNECTIONS {
                        refuse(
                            stream,
                            json!({"error": format!(
                                "busy: {MAX_CONNECTIONS} control connections are open; try again"
                            )}),
                        );
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let mut c = Conn::new(stream, now);
                    if c.step(src, now) {
                        conns.push(c);
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("control socket accept: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
        }
    }
    // Stopping: nobody is left waiting for an answer that will not come.
    for c in conns {
        if let Phase::Reading = c.phase {
            refuse(c.stream, json!({"error": "xgw is stopping"}));
        }
    }
}

impl ControlServer {
    pub fn start(listener: UnixListener, path: PathBuf, src: StatsSource) -> Result<Self, String> {
        Self::start_with(listener, path, src, None)
    }

    /// As [`ControlServer::start`], also serving Prometheus scrapes on
    /// `prom` (`[control] prometheus`).
    pub fn start_with(
        listener: UnixListener,
        path: PathBuf,
        mut src: StatsSource,
        prom: Option<std::net::TcpListener>,
    ) -> Result<Self, String> {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        if let Some(p) = &prom {
            p.set_nonblocking(true).map_err(|e| e.to_string())?;
        }
        // Measure the TSC frequency (~50 ms) now, off the control loop,
        // so the first `runtime` request does not wait for it.
        let _ = std::thread::Builder::new()
            .name("xgw-tsc".into())
            .spawn(|| {
                tsc_hz();
            });
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("xgw-control".into())
            .spawn(move || {
                serve(listener, prom, &mut src, &s2);
                src
            })
            .map_err(|e| e.to_string())?;
        Ok(ControlServer {
            stop,
            thread: Some(thread),
            path,
        })
    }

    /// Stops the thread, removes the socket and returns the stats source
    /// (for a final report).
    pub fn stop(mut self) -> Option<StatsSource> {
        self.stop.store(true, Ordering::Relaxed);
        let src = self.thread.take().and_then(|t| t.join().ok());
        let _ = std::fs::remove_file(&self.path);
        src
    }
}

/// Client side: sends one request and returns the JSON answer.
pub fn request(path: &Path, cmd: &str) -> Result<Value, String> {
    request_json(path, &json!({"cmd": cmd}))
}

/// Client side: sends one JSON request object and returns the answer.
pub fn request_json(path: &Path, req: &Value) -> Result<Value, String> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!("cannot reach xgw at {}: {e}; is `xgw run` running (and is this the socket from its [control] section)?", path.display())
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    // A server that refused the connection (busy) may have answered and
    // closed before the request went out: read its answer all the same.
    let sent = writeln!(s, "{req}");
    let mut out = Vec::new();
    let read = s.read_to_end(&mut out);
    let v: Value = match serde_json::from_slice(out.trim_ascii()) {
        Ok(v) => v,
        Err(e) => {
            return Err(match (sent, read) {
                (Err(w), _) => format!("sending request to {}: {w}", path.display()),
                (_, Err(r)) => format!("reading answer from {}: {r}", path.display()),
                _ => format!("bad answer from xgw: {e}"),
            })
        }
    };
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("xgw answered: {e}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_rates_cover_the_interval_only() {
        let rt = |p: u64, v: u64, c: u64| {
            json!({"total": [
                {"name": "ip4-input", "packets": p, "vectors": v, "cycles": c},
                {"name": "idle-node", "packets": 5, "vectors": 1, "cycles": 50},
            ]})
        };
        let out = render_node_rates(
            &rt(1000, 10, 100_000),
            &rt(3000, 30, 160_000),
            Duration::from_secs(2),
        );
        assert!(out.contains("ip4-input"), "{out}");
        // 2000 packets in 2 s, 100 per vector, 60000 clocks / 2000.
        assert!(
            out.contains("1000") && out.contains("100.0") && out.contains("30.0"),
            "{out}"
        );
        assert!(
            !out.contains("idle-node"),
            "no packets in the interval: {out}"
        );
    }

    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn source() -> StatsSource {
        let w = Arc::new(WorkerStats::new(0, Some(0), 1));
        let port = PortInfo {
            name: "p".into(),
            driver: "mem",
            interface: None,
            mac: None,
            xdp_mode: None,
            bind_mode: None,
            xsk_fds: Vec::new(),
        };
        StatsSource::new(vec![port], vec![w])
    }

    /// `runtime` gives each worker's node figures and their sum, with
    /// the derived ratios; `graph` rendering names every node and arc.
    #[test]
    fn runtime_sums_node_figures_over_workers() {
        let info = xgw_pipelines::router::nodes();
        let rw = info.iter().position(|n| n.name == "ip-rewrite").unwrap();
        let ws: Vec<Arc<WorkerStats>> = (0..2)
            .map(|i| Arc::new(WorkerStats::with_nodes(i, Some(i), 1, &info)))
            .collect();
        // Worker 0: two calls of node 0 (64 + 0 frames); worker 1: one
        // call of node 0 (32 frames) and one of ip-rewrite.
        ws[0].begin();
        ws[0].nodes[0].record(64, 6400);
        ws[0].nodes[0].record(0, 100);
        ws[0].end();
        ws[1].begin();
        ws[1].nodes[0].record(32, 3200);
        ws[1].nodes[rw].record(2, 50);
        ws[1].end();
        let src = StatsSource::new(Vec::new(), ws);
        let v = src.runtime();
        assert!(v["tsc_hz"].as_u64().unwrap() > 0);
        let t = &v["total"];
        assert_eq!(t.as_array().unwrap().len(), info.len());
        assert_eq!(t[0]["name"], "router-fast");
        assert_eq!(
            (
                &t[0]["calls"],
                &t[0]["vectors"],
                &t[0]["packets"],
                &t[0]["cycles"]
            ),
            (&json!(3), &json!(2), &json!(96), &json!(9700))
        );
        assert_eq!(t[0]["packets_per_vector"], json!(48.0));
        assert_eq!(t[0]["cycles_per_packet"], json!(101.04));
        assert_eq!(t[rw]["packets"], json!(2));
        assert_eq!(t[1]["packets_per_vector"], Value::Null);
        assert_eq!(v["workers"][0]["nodes"][0]["packets"], json!(64));
        assert_eq!(v["workers"][1]["nodes"][0]["packets"], json!(32));
        assert_eq!(v["workers"][1]["nodes"][rw]["calls"], json!(1));
        let text = render_runtime(&v);
        assert!(text.contains("total (2 workers)"), "{text}");
        assert_eq!(text.matches("  ip-rewrite ").count(), 3, "{text}");
        let g = render_graph(&info);
        for n in info {
            assert!(g.lines().any(|l| l.starts_with(&format!("{} ", n.name))));
        }
        assert!(
            g.lines().any(|l| l.starts_with("ip-rewrite ")
                && l.contains(" - ")
                && l.ends_with("tx park drop")),
            "{g}"
        );
    }

    fn raw(path: &Path, bytes: &[u8]) -> Value {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(bytes).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        serde_json::from_str(out.trim()).unwrap()
    }

    #[test]
    fn garbage_gets_errors_and_the_server_keeps_answering() {
        let dir = std::env::temp_dir().join(format!("xgw-ctl-{}", std::process::id()));
        let path = dir.join("sub/ctl.sock");
        let l = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(bind(&path).unwrap_err().contains("already answering"));
        let srv = ControlServer::start(l, path.clone(), source()).unwrap();
        let cases: [&[u8]; 6] = [
            b"\xff\xfe\x00garbage\n",
            b"{not json\n",
            b"{\"cmd\": 5}\n",
            b"reboot\n",
            &[b'x'; 5000],
            b"",
        ];
        for c in cases {
            let v = raw(&path, c);
            assert!(
                v["error"].is_string(),
                "{:?} -> {v}",
                String::from_utf8_lossy(c)
            );
        }
        let v = raw(&path, b"{\"cmd\":\"stats\"}\n");
        assert_eq!(v["totals"]["rx"], 0);
        assert_eq!(v["ports"][0]["name"], "p");
        assert!(request(&path, "stats").is_ok());
        assert!(request(&path, "nope")
            .unwrap_err()
            .contains("unknown command"));
        assert_eq!(raw(&path, b"ping\n")["ok"], true);
        srv.stop();
        assert!(!path.exists(), "socket removed on stop");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn server(tag: &str) -> (ControlServer, PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("xgw-ctl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("ctl.sock");
        let l = bind(&path).unwrap();
        (
            ControlServer::start(l, path.clone(), source()).unwrap(),
            path,
            dir,
        )
    }

    /// Reads a connection's whole answer (tolerating the reset a close may
    /// leave behind once the answer is in).
    fn answer_of(s: &mut UnixStream) -> Value {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let r = s.read_to_end(&mut out);
        serde_json::from_slice(out.trim_ascii()).unwrap_or_else(|e| {
            panic!(
                "no JSON answer ({r:?}, {e}): {:?}",
                String::from_utf8_lossy(&out)
            )
        })
    }

    /// 20 idle clients and one sending a byte every 1.5 s do not delay a
    /// `stats` request (the old one-at-a-time server with a 2-s timeout per
    /// read made it wait 40 s and more); the idle and the slow ones are
    /// answered with a timeout error and closed at their own deadline.
    #[test]
    fn idle_and_slow_clients_do_not_hold_up_a_request() {
        let (srv, path, dir) = server("idle");
        let t0 = Instant::now();
        let mut idle: Vec<UnixStream> = (0..20)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        let slow_path = path.clone();
        let slow = std::thread::spawn(move || {
            let mut s = UnixStream::connect(&slow_path).unwrap();
            let started = Instant::now();
            for b in b"stats\n" {
                if s.write_all(&[*b]).is_err() {
                    break; // closed by the server: that is the point
                }
                std::thread::sleep(Duration::from_millis(1500));
            }
            (answer_of(&mut s), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..3 {
            let t = Instant::now();
            let v = request(&path, "stats").unwrap();
            let took = t.elapsed();
            assert_eq!(v["ports"][0]["name"], "p");
            assert!(
                took < Duration::from_secs(1),
                "stats took {took:?} with 20 idle clients and a slow one connected"
            );
        }
        for s in &mut idle {
            let v = answer_of(s);
            let at = t0.elapsed();
            assert!(
                v["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("no complete request line")),
                "{v}"
            );
            assert!(
                at >= REQUEST_DEADLINE - Duration::from_millis(100)
                    && at < REQUEST_DEADLINE + Duration::from_millis(1500),
                "idle client answered after {at:?}, deadline {REQUEST_DEADLINE:?}"
            );
        }
        let (v, at) = slow.join().unwrap();
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("no complete request line")),
            "the slow client's request never completes in time: {v}"
        );
        // Its third byte (at 3 s) finds the connection closed.
        assert!(
            at < Duration::from_millis(3000 + 1500),
            "slow client held on for {at:?}"
        );
        srv.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// With MAX_CONNECTIONS connections open, the next one is told busy at
    /// once; when the idle ones time out the server answers again.
    #[test]
    fn connections_over_the_cap_are_told_busy() {
        let (srv, path, dir) = server("cap");
        let held: Vec<UnixStream> = (0..MAX_CONNECTIONS)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        // Let the server accept them all (it accepts every TICK at worst).
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let e = request(&path, "stats").unwrap_err();
        assert!(e.contains("busy"), "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "busy answer took {:?}",
            t.elapsed()
        );
        let mut raw_busy = UnixStream::connect(&path).unwrap();
        let v = answer_of(&mut raw_busy);
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("busy: 64")),
            "{v}"
        );
        // The held ones reach their deadline and are closed; then there is
        // room again.
        std::thread::sleep(REQUEST_DEADLINE + Duration::from_millis(500));
        let v = request(&path, "stats").unwrap();
        assert_eq!(v["ports"][0]["name"], "p");
        drop(held);
        srv.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Each worker's entry carries its own emitted, local and pending
    /// counts and its per-port rx/tx, so the accounting invariant can be
    /// checked worker by worker, and the workers add up to the totals.
    #[test]
    fn workers_carry_their_own_accounting() {
        let port = |n: &str| PortInfo {
            name: n.into(),
            driver: "mem",
            interface: None,
            mac: None,
            xdp_mode: None,
            bind_mode: None,
            xsk_fds: Vec::new(),
        };
        let w0 = Arc::new(WorkerStats::new(0, Some(0), 2));
        let w1 = Arc::new(WorkerStats::new(1, Some(1), 2));
        // worker 0: 10 in on a, 9 out on b, 1 local; emits 2 on b, both sent
        crate::stats::bump(&w0.ports[0].rx, 10);
        crate::stats::bump(&w0.ports[1].tx, 11);
        crate::stats::bump(&w0.ports[1].emitted, 2);
        crate::stats::bump(&w0.ports[0].local, 1);
        // worker 1: 5 in on b, 3 out on a, 1 dropped, 1 parked
        crate::stats::bump(&w1.ports[1].rx, 5);
        crate::stats::bump(&w1.ports[0].tx, 3);
        w1.drop_one(1, DropReason::ALL[0]);
        crate::stats::bump(&w1.ports[1].parked, 1);
        let mut src = StatsSource::new(vec![port("a"), port("b")], vec![w0, w1]);
        let v = src.answer("stats");
        let f = |w: usize, k: &str| v["workers"][w][k].as_u64().unwrap();
        for w in 0..2 {
            assert_eq!(
                f(w, "rx") + f(w, "emitted"),
                f(w, "tx") + f(w, "local") + f(w, "dropped") + f(w, "pending"),
                "worker {w}: {}",
                v["workers"][w]
            );
        }
        assert_eq!((f(0, "emitted"), f(0, "local"), f(0, "pending")), (2, 1, 0));
        assert_eq!(
            (f(1, "emitted"), f(1, "dropped"), f(1, "pending")),
            (0, 1, 1)
        );
        assert_eq!(v["workers"][0]["ports"]["a"]["rx"], 10);
        assert_eq!(v["workers"][0]["ports"]["b"]["tx"], 11);
        assert_eq!(v["workers"][1]["ports"]["b"]["rx"], 5);
        assert_eq!(v["workers"][1]["ports"]["b"]["pending"], 1);
        for k in ["rx", "tx", "emitted", "local", "dropped", "pending"] {
            assert_eq!(v["totals"][k].as_u64().unwrap(), f(0, k) + f(1, k), "{k}");
        }
    }

    /// A dead worker shows in `stats` (JSON and table) and a stats request
    /// does not hang on it, even if it died inside a write section.
    #[test]
    fn a_dead_worker_is_reported_and_does_not_hang_stats() {
        let mut src = source();
        let w = src.workers[0].clone();
        w.begin(); // died mid-burst: sequence left odd
        w.mark_dead("boom (at worker.rs:1:1)".into());
        let t = Instant::now();
        let v = src.answer("stats");
        assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
        assert_eq!(v["workers_dead"], json!([0]));
        assert_eq!(v["workers"][0]["state"], "dead");
        assert_eq!(v["workers"][0]["torn"], true);
        assert_eq!(v["workers"][0]["death"], "boom (at worker.rs:1:1)");
        let table = render_table(&v);
        assert!(table.contains("DEAD WORKERS: 0"), "{table}");
        assert!(table.contains("worker 0 (core 0): DEAD: boom"), "{table}");
        let live = source().answer("stats");
        assert_eq!(live["workers"][0]["state"], "running");
        assert_eq!(live["workers_dead"], json!([]));
        assert!(!render_table(&live).contains("DEAD"));
    }
}
