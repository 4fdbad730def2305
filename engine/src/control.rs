//! Stats aggregation and the Unix control socket.
//!
//! The control thread is the stats thread: it merges the histograms the
//! workers hand over, reads kernel socket counters, and answers requests on
//! a Unix socket (mode 0600). A request is one line — a bare command
//! (`stats`) or JSON (`{"cmd":"stats"}`) — and the answer is one JSON
//! object per line. Garbage gets `{"error": ...}`, never a crash.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use xgw_pipelines::DropReason;

use crate::engine::PortInfo;
use crate::port::afxdp::read_stats;
use crate::port::XskStats;
use crate::routectl::{self, RouterControl};
use crate::stats::{Hists, PortSnapshot, WorkerStats};

/// Largest request line accepted.
const MAX_REQUEST: u64 = 4096;

/// Aggregates what workers publish.
pub struct StatsSource {
    started: Instant,
    ports: Vec<PortInfo>,
    workers: Vec<Arc<WorkerStats>>,
    hists: Vec<Hists>,
    router: Option<RouterControl>,
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
            router: None,
        }
    }

    /// Adds the router's commands (routes, neighbours).
    pub fn with_router(mut self, router: Option<RouterControl>) -> Self {
        self.router = router;
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
            let (mut rx, mut tx, mut dropped) = (0, 0, 0);
            for (acc, s) in per_port.iter_mut().zip(&snap) {
                acc.add(s);
                rx += s.rx;
                tx += s.tx;
                dropped += s.dropped;
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
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "workers_dead": dead,
            "totals": {"rx": rx, "emitted": emitted, "tx": tx, "local": local, "dropped": dropped, "pending": pending, "parked": parked, "unparked": unparked},
            "drops": drops,
            "ports": ports,
            "workers": workers,
        })
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
            "ping" => json!({"ok": true, "version": env!("CARGO_PKG_VERSION")}),
            "drop-reasons" => Value::Array(
                DropReason::ALL
                    .iter()
                    .map(|r| json!({"name": r.name(), "description": r.description()}))
                    .collect(),
            ),
            c if routectl::COMMANDS.contains(&c) => match &mut self.router {
                Some(r) => r.answer(c, &req),
                None => json!({"error": format!("{c}: this engine runs no router pipeline")}),
            },
            other => {
                let shown: String = other.chars().take(40).collect();
                json!({"error": format!("unknown command {shown:?}; expected one of: stats, ping, drop-reasons, {}", routectl::COMMANDS.join(", "))})
            }
        }
    }
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

fn handle(stream: UnixStream, src: &mut StatsSource) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut reader = BufReader::new((&stream).take(MAX_REQUEST));
    let mut buf = Vec::new();
    let answer = match reader.read_until(b'\n', &mut buf) {
        Ok(_) if buf.len() as u64 >= MAX_REQUEST && !buf.ends_with(b"\n") => {
            json!({"error": format!("request longer than {MAX_REQUEST} bytes")})
        }
        Ok(_) => match std::str::from_utf8(&buf) {
            Ok(s) => src.answer(s),
            Err(_) => json!({"error": "request is not UTF-8 text"}),
        },
        Err(e) => json!({"error": format!("reading request: {e}")}),
    };
    let mut w = &stream;
    let _ = writeln!(w, "{answer}");
    // Discard what an oversized request left unread, so the client sees the
    // answer and EOF rather than a reset.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = std::io::copy(&mut (&stream).take(1 << 16), &mut std::io::sink());
}

impl ControlServer {
    pub fn start(
        listener: UnixListener,
        path: PathBuf,
        mut src: StatsSource,
    ) -> Result<Self, String> {
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("xgw-control".into())
            .spawn(move || {
                while !s2.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            handle(stream, &mut src);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            src.collect();
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => {
                            tracing::warn!("control socket accept: {e}");
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
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
    writeln!(s, "{req}").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("reading answer from {}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(out.trim()).map_err(|e| format!("bad answer from xgw: {e}"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("xgw answered: {e}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
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
