//! Prometheus text exposition (format 0.0.4) of what `xgw stats --json`
//! and `xgw runtime` answer, on a local TCP address (`[control]
//! prometheus`, off by default), served by the control thread: counters
//! named `xgw_..._total` in base units, labelled by port, worker, drop
//! reason or node, never by flow or session. docs/OPERATIONS.md lists
//! the names.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Scrape connections served at once (more wait in the backlog).
pub const MAX_SCRAPES: usize = 8;
/// From accept to the whole answer written.
const DEADLINE: Duration = Duration::from_secs(2);
/// The most request bytes read (a GET with its headers).
const MAX_REQUEST: usize = 8192;

/// One scrape in progress (non-blocking).
pub struct Scrape {
    pub stream: TcpStream,
    deadline: Instant,
    req: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    writing: bool,
}

impl Scrape {
    pub fn new(stream: TcpStream, now: Instant) -> Option<Scrape> {
        stream.set_nonblocking(true).ok()?;
        Some(Scrape {
            stream,
            deadline: now + DEADLINE,
            req: Vec::new(),
            out: Vec::new(),
            sent: 0,
            writing: false,
        })
    }

    pub fn interest(&self) -> libc::c_short {
        if self.writing {
            libc::POLLOUT
        } else {
            libc::POLLIN
        }
    }

    /// Advances as far as it goes without blocking; `body` makes the
    /// exposition when a request is complete. False: finished, drop it.
    pub fn step(&mut self, now: Instant, body: &mut dyn FnMut() -> String) -> bool {
        if now >= self.deadline {
            return false;
        }
        if !self.writing {
            let mut b = [0u8; 2048];
            loop {
                match self.stream.read(&mut b) {
                    Ok(0) => return false,
                    Ok(n) => {
                        self.req.extend_from_slice(&b[..n]);
                        if self.req.len() > MAX_REQUEST {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            let whole = self.req.windows(4).any(|w| w == b"\r\n\r\n")
                || self.req.windows(2).any(|w| w == b"\n\n");
            let too_big = self.req.len() > MAX_REQUEST;
            if !whole && !too_big {
                return true;
            }
            let line = self
                .req
                .split(|&c| c == b'\r' || c == b'\n')
                .next()
                .unwrap_or(&[]);
            let line = String::from_utf8_lossy(line);
            let mut words = line.split(' ');
            let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let (status, ctype, text) = match (method, path.split('?').next().unwrap_or("")) {
                _ if too_big => (
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    "request too large\n".into(),
                ),
                ("GET", "/metrics") => {
                    ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body())
                }
                ("GET", _) => ("404 Not Found", "text/plain", "try /metrics\n".into()),
                _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
            };
            let allow = if status.starts_with("405") {
                "Allow: GET\r\n"
            } else {
                ""
            };
            self.out = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n{text}",
                text.len()
            )
            .into_bytes();
            self.writing = true;
        }
        loop {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.sent += n;
                    if self.sent == self.out.len() {
                        let _ = self.stream.shutdown(std::net::Shutdown::Write);
                        return false;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
}

/// A label value, escaped (backslash, quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

/// The exposition of a `stats` snapshot `v` and a `runtime` answer `rt`.
pub fn exposition(v: &Value, rt: &Value) -> String {
    let mut o = String::new();
    family(
        &mut o,
        "xgw_up",
        "gauge",
        "1 while every worker runs, 0 once one has died.",
    );
    let dead = v["workers_dead"].as_array().is_some_and(|d| !d.is_empty());
    let _ = writeln!(o, "xgw_up {}", u8::from(!dead));
    family(
        &mut o,
        "xgw_uptime_seconds",
        "gauge",
        "Seconds since the engine started.",
    );
    let _ = writeln!(
        o,
        "xgw_uptime_seconds {}",
        v["uptime_s"].as_f64().unwrap_or(0.0)
    );
    let ports = v["ports"].as_array().cloned().unwrap_or_default();
    for (key, name, help) in [
        (
            "rx",
            "xgw_port_rx_packets_total",
            "Frames received on the port.",
        ),
        (
            "rx_bytes",
            "xgw_port_rx_bytes_total",
            "Bytes received on the port.",
        ),
        (
            "tx",
            "xgw_port_tx_packets_total",
            "Frames transmitted on the port.",
        ),
        (
            "tx_bytes",
            "xgw_port_tx_bytes_total",
            "Bytes transmitted on the port.",
        ),
        (
            "emitted",
            "xgw_port_emitted_packets_total",
            "Frames xgw made itself for the port (ARP, NDP, ICMP, handed-over packets).",
        ),
        (
            "local",
            "xgw_port_local_packets_total",
            "Frames received on the port and consumed by xgw itself.",
        ),
        (
            "dropped",
            "xgw_port_dropped_packets_total",
            "Frames received on (or meant for) the port and dropped, all reasons.",
        ),
        (
            "parked",
            "xgw_port_parked_packets_total",
            "Frames held (neighbour resolution, buffering, held SYNs).",
        ),
        (
            "unparked",
            "xgw_port_unparked_packets_total",
            "Held frames released or discarded.",
        ),
    ] {
        family(&mut o, name, "counter", help);
        for p in &ports {
            let _ = writeln!(
                o,
                "{name}{{port=\"{}\"}} {}",
                esc(p["name"].as_str().unwrap_or("")),
                p[key].as_u64().unwrap_or(0)
            );
        }
    }
    family(
        &mut o,
        "xgw_port_pending_packets",
        "gauge",
        "Frames held right now.",
    );
    for p in &ports {
        let _ = writeln!(
            o,
            "xgw_port_pending_packets{{port=\"{}\"}} {}",
            esc(p["name"].as_str().unwrap_or("")),
            p["pending"].as_u64().unwrap_or(0)
        );
    }
    family(
        &mut o,
        "xgw_drops_total",
        "counter",
        "Frames dropped, by port and reason (`xgw drop-reasons` says what each means).",
    );
    for p in &ports {
        let pn = esc(p["name"].as_str().unwrap_or(""));
        if let Some(d) = p["drops"].as_object() {
            for (reason, n) in d {
                let _ = writeln!(
                    o,
                    "xgw_drops_total{{port=\"{pn}\",reason=\"{}\"}} {}",
                    esc(reason),
                    n.as_u64().unwrap_or(0)
                );
            }
        }
    }
    let workers = v["workers"].as_array().cloned().unwrap_or_default();
    family(
        &mut o,
        "xgw_worker_up",
        "gauge",
        "1 while the worker runs, 0 once it has died.",
    );
    for w in &workers {
        let _ = writeln!(
            o,
            "xgw_worker_up{{worker=\"{}\"}} {}",
            w["id"],
            u8::from(w["state"] == "running")
        );
    }
    for (key, name, help) in [
        (
            "bursts",
            "xgw_worker_bursts_total",
            "Bursts the worker received.",
        ),
        (
            "idle_polls",
            "xgw_worker_idle_polls_total",
            "Polls that found nothing.",
        ),
        (
            "emit_failed",
            "xgw_worker_emit_failed_total",
            "Frames a node wanted to make and could not (no free frame, or too many in a burst).",
        ),
    ] {
        family(&mut o, name, "counter", help);
        for w in &workers {
            let _ = writeln!(
                o,
                "{name}{{worker=\"{}\"}} {}",
                w["id"],
                w[key].as_u64().unwrap_or(0)
            );
        }
    }
    family(
        &mut o,
        "xgw_worker_frames_free",
        "gauge",
        "UMEM frames on the worker's free list.",
    );
    for w in &workers {
        let _ = writeln!(
            o,
            "xgw_worker_frames_free{{worker=\"{}\"}} {}",
            w["id"],
            w["frames"]["free"].as_u64().unwrap_or(0)
        );
    }
    let hz = rt["tsc_hz"].as_f64().unwrap_or(0.0);
    let nodes = rt["total"].as_array().cloned().unwrap_or_default();
    for (key, name, help) in [
        (
            "calls",
            "xgw_node_calls_total",
            "Times the node ran (summed over workers).",
        ),
        (
            "vectors",
            "xgw_node_vectors_total",
            "Times the node ran with at least one frame.",
        ),
        (
            "packets",
            "xgw_node_packets_total",
            "Frames the node processed.",
        ),
    ] {
        family(&mut o, name, "counter", help);
        for n in &nodes {
            let _ = writeln!(
                o,
                "{name}{{node=\"{}\"}} {}",
                esc(n["name"].as_str().unwrap_or("")),
                n[key].as_u64().unwrap_or(0)
            );
        }
    }
    if hz > 0.0 {
        family(
            &mut o,
            "xgw_node_seconds_total",
            "counter",
            "Time spent in the node.",
        );
        for n in &nodes {
            let _ = writeln!(
                o,
                "xgw_node_seconds_total{{node=\"{}\"}} {}",
                esc(n["name"].as_str().unwrap_or("")),
                n["cycles"].as_f64().unwrap_or(0.0) / hz
            );
        }
    }
    o
}
