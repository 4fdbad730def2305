//! The malformed-input table: every row of tests/malformed/cases.jsonl
//! (written by tests/malformed/make_cases.py from the RFCs) is one crafted
//! frame replayed alone through the real `xgw replay` on its config and
//! port. A row expects either a drop under exactly one reason (and nothing
//! sent), or exactly one frame out on a given port of a given kind (an ARP
//! reply, an ICMP/ICMPv6 type and code, or the packet forwarded), or the
//! frame consumed by xgw (`local`). Every replay's counters must add up
//! (rx + emitted = tx + local + dropped + pending) with nothing pending.
//!
//! What xgw sends on its own at start (announcements) is learned from a
//! replay without input per config and discounted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::{read_pcap, Rec};

const PORTS: [&str; 2] = ["west", "east"];
/// The table must not shrink unnoticed.
const MIN_ROWS: usize = 300;

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Runs `xgw replay` on `config` with `frames` (none or one) into
/// `port`; returns the stats JSON and what each port sent.
fn replay(dir: &Path, config: &Path, port: &str, frames: &[&[u8]]) -> (Value, Vec<Vec<Rec>>) {
    let mut cmd = Command::new(xgw_tests::xgw_bin());
    cmd.arg("replay").arg("--config").arg(config).arg("--json");
    let p = dir.join("in.pcap");
    common::write_pcap(&p, frames);
    cmd.arg(format!("--input={port}={}", p.display()));
    for port in PORTS {
        cmd.arg(format!(
            "--output={port}={}",
            dir.join(format!("{port}.pcap")).display()
        ));
    }
    let res = cmd.output().expect("run xgw replay");
    assert!(
        res.status.success(),
        "xgw replay failed on {}: {}",
        config.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    let v: Value = serde_json::from_slice(&res.stdout).expect("replay JSON");
    let outs = PORTS
        .iter()
        .map(|p| read_pcap(&dir.join(format!("{p}.pcap"))))
        .collect();
    (v, outs)
}

/// The L3 part of an Ethernet frame (one 802.1Q tag skipped) and its
/// EtherType.
fn l3(f: &[u8]) -> Option<(u16, &[u8])> {
    let et = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    if et == 0x8100 {
        return Some((u16::from_be_bytes([*f.get(16)?, *f.get(17)?]), f.get(18..)?));
    }
    Some((et, f.get(14..)?))
}

fn ip4_header_ok(ip: &[u8]) -> bool {
    let hl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || hl < 20 || ip.len() < hl {
        return false;
    }
    let mut s: u32 = (0..hl)
        .step_by(2)
        .map(|i| u32::from(u16::from_be_bytes([ip[i], ip[i + 1]])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff && usize::from(u16::from_be_bytes([ip[2], ip[3]])) <= ip.len()
}

/// Whether frame `f` is of `kind` (see make_cases.py); an error if not.
fn check_kind(kind: &str, f: &[u8]) -> Result<(), String> {
    let (et, ip) = l3(f).ok_or("frame shorter than Ethernet")?;
    check_l3(kind, et, ip).map_err(|e| format!("{e}: {:02x?}", &f[..f.len().min(64)]))
}

fn check_l3(kind: &str, et: u16, ip: &[u8]) -> Result<(), String> {
    let words: Vec<&str> = kind.split_whitespace().collect();
    let num = |i: usize| -> u16 { words[i].parse().expect("number in kind") };
    if let Some(inner) = kind.strip_prefix("tun ") {
        // Outer IPv4 or IPv6 carrying protocol 4 or 41, no options.
        let (proto, oh) = match et {
            0x0800 if ip.len() >= 20 && ip4_header_ok(ip) => (ip[9], usize::from(ip[0] & 15) * 4),
            0x86dd if ip.len() >= 40 => (ip[6], 40),
            _ => return Err("not an IP packet".into()),
        };
        let et = match proto {
            4 => 0x0800,
            41 => 0x86dd,
            _ => return Err(format!("not IP-in-IP (protocol {proto})")),
        };
        return check_l3(inner, et, &ip[oh..]).map_err(|e| format!("inner: {e}"));
    }
    let ok = match words[0] {
        "arp-reply" => et == 0x0806 && ip.len() >= 28 && ip[6..8] == [0, 2],
        "icmp4" | "ip4" => {
            if et != 0x0800 || ip.len() < 20 || !ip4_header_ok(ip) {
                return Err("not a well-formed IPv4 packet".into());
            }
            let hl = usize::from(ip[0] & 0x0f) * 4;
            if words[0] == "ip4" {
                u16::from(ip[9]) == num(1)
            } else {
                ip[9] == 1
                    && ip.len() >= hl + 2
                    && u16::from(ip[hl]) == num(1)
                    && u16::from(ip[hl + 1]) == num(2)
            }
        }
        "icmp6" | "ip6" => {
            if et != 0x86dd || ip.len() < 40 || ip[0] >> 4 != 6 {
                return Err("not an IPv6 packet".into());
            }
            if usize::from(u16::from_be_bytes([ip[4], ip[5]])) + 40 != ip.len() {
                return Err("IPv6 payload length does not match the frame".into());
            }
            if words[0] == "ip6" {
                u16::from(ip[6]) == num(1)
            } else {
                // An echo reply keeps the request's extension headers.
                let (mut nh, mut at) = (ip[6], 40);
                while matches!(nh, 0 | 43 | 60) && ip.len() >= at + 2 {
                    (nh, at) = (ip[at], at + (usize::from(ip[at + 1]) + 1) * 8);
                }
                nh == 58
                    && ip.len() >= at + 2
                    && u16::from(ip[at]) == num(1)
                    && u16::from(ip[at + 1]) == num(2)
            }
        }
        k => return Err(format!("unknown kind {k} in the table")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not {kind}"))
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// The row's checks against one replay; a list of problems.
fn check_row(row: &Value, v: &Value, sent: &[Vec<&Rec>]) -> Vec<String> {
    let mut errs = Vec::new();
    let port = row["port"].as_str().unwrap();
    let expect = &row["expect"];
    let t = &v["totals"];
    if u(&t["rx"]) + u(&t["emitted"])
        != u(&t["tx"]) + u(&t["local"]) + u(&t["dropped"]) + u(&t["pending"])
    {
        errs.push(format!("totals do not add up: {t}"));
    }
    if u(&t["pending"]) != 0 {
        errs.push(format!("{} frames pending at the end", t["pending"]));
    }
    for (i, name) in PORTS.iter().enumerate() {
        let p = &v["ports"][i];
        assert_eq!(p["name"], *name, "port order in the stats");
        let want_rx = u64::from(*name == port);
        if u(&p["rx"]) != want_rx {
            errs.push(format!("{name}.rx = {}, expected {want_rx}", p["rx"]));
        }
    }
    // Every nonzero drop counter, on any port.
    let mut drops = Vec::new();
    for p in v["ports"].as_array().unwrap() {
        for (r, n) in p["drops"].as_object().unwrap() {
            if u(n) != 0 {
                drops.push(format!("{}:{r}={n}", p["name"].as_str().unwrap()));
            }
        }
    }
    let new_frames: usize = sent.iter().map(Vec::len).sum();
    if let Some(reason) = expect["drop"].as_str() {
        let i = PORTS.iter().position(|p| *p == port).unwrap();
        if v["ports"][i]["drops"].get(reason).is_none() {
            errs.push(format!("xgw has no drop reason named {reason}"));
        }
        let want = vec![format!("{port}:{reason}=1")];
        if drops != want {
            errs.push(format!("drops {drops:?}, expected {want:?}"));
        }
        if new_frames != 0 {
            errs.push(format!("{new_frames} frames sent, expected none"));
        }
    } else if let Some(out) = expect["out"].as_str() {
        if !drops.is_empty() {
            errs.push(format!("drops {drops:?}, expected none"));
        }
        for (i, name) in PORTS.iter().enumerate() {
            let want = usize::from(*name == out);
            if sent[i].len() != want {
                errs.push(format!(
                    "{} frames sent on {name}, expected {want}",
                    sent[i].len()
                ));
            } else if want == 1 {
                if let Err(e) = check_kind(expect["kind"].as_str().unwrap(), &sent[i][0].data) {
                    errs.push(format!("on {name}: {e}"));
                }
            }
        }
    } else if expect["local"] == true {
        if !drops.is_empty() || new_frames != 0 || u(&t["local"]) != 1 {
            errs.push(format!(
                "expected consumed by xgw: local = {}, drops {drops:?}, {new_frames} frames sent",
                t["local"]
            ));
        }
    } else {
        errs.push(format!("row has no expectation: {expect}"));
    }
    errs
}

/// What a config sends without input (start-up announcements), by port.
type Baseline = Vec<Vec<Vec<u8>>>;

/// Replays `frames` into `port` and returns the stats and the frames
/// sent beyond `base` (each baseline frame discounted once).
fn run(
    dir: &Path,
    cfg: &Path,
    base: &Baseline,
    port: &str,
    frames: &[&[u8]],
) -> (Value, Vec<Vec<Rec>>) {
    let (v, outs) = replay(dir, cfg, port, frames);
    let sent = outs
        .into_iter()
        .zip(base.iter())
        .map(|(got, base)| {
            let mut left: Vec<&Vec<u8>> = base.iter().collect();
            got.into_iter()
                .filter(|r| match left.iter().position(|b| **b == r.data) {
                    Some(k) => {
                        left.swap_remove(k);
                        false
                    }
                    None => true,
                })
                .collect()
        })
        .collect();
    (v, sent)
}

/// Drop rows replayed together (same config and port): a batch passes
/// when its drops are exactly the rows' reasons, nothing is sent and the
/// counters add up; otherwise its rows are replayed one by one.
const BATCH: usize = 8;

fn check_batch(rows: &[&Value], v: &Value, sent: &[Vec<Rec>]) -> bool {
    let t = &v["totals"];
    let port = rows[0]["port"].as_str().unwrap();
    let mut want: HashMap<String, u64> = HashMap::new();
    for r in rows {
        *want
            .entry(format!("{port}:{}", r["expect"]["drop"].as_str().unwrap()))
            .or_default() += 1;
    }
    let mut got: HashMap<String, u64> = HashMap::new();
    for p in v["ports"].as_array().unwrap() {
        let rx = u(&p["rx"]);
        if rx
            != if p["name"] == port {
                rows.len() as u64
            } else {
                0
            }
        {
            return false;
        }
        for (r, n) in p["drops"].as_object().unwrap() {
            if u(n) != 0 {
                got.insert(format!("{}:{r}", p["name"].as_str().unwrap()), u(n));
            }
        }
    }
    got == want
        && sent.iter().all(Vec::is_empty)
        && u(&t["pending"]) == 0
        && u(&t["rx"]) + u(&t["emitted"]) == u(&t["tx"]) + u(&t["local"]) + u(&t["dropped"])
}

#[test]
fn malformed_table() {
    let table = tests_dir().join("malformed/cases.jsonl");
    let text = std::fs::read_to_string(&table).expect("tests/malformed/cases.jsonl");
    let rows: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON row"))
        .collect();
    assert!(
        rows.len() >= MIN_ROWS,
        "{} rows in the table, expected at least {MIN_ROWS}",
        rows.len()
    );
    let dir = std::env::temp_dir().join(format!("xgw-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut baseline: HashMap<String, Baseline> = HashMap::new();
    for row in &rows {
        let config = row["config"].as_str().expect("config");
        baseline.entry(config.to_string()).or_insert_with(|| {
            let (_, outs) = replay(&dir, &tests_dir().join(config), "west", &[]);
            outs.into_iter()
                .map(|o| o.into_iter().map(|r| r.data).collect())
                .collect()
        });
    }
    // Groups: up to BATCH consecutive drop rows of one config and port;
    // every other row alone.
    let mut groups: Vec<Vec<&Value>> = Vec::new();
    for row in &rows {
        let key = |r: &Value| (r["config"].clone(), r["port"].clone());
        match groups.last_mut() {
            Some(g)
                if row["expect"]["drop"].is_string()
                    && g[0]["expect"]["drop"].is_string()
                    && g.len() < BATCH
                    && key(g[0]) == key(row) =>
            {
                g.push(row)
            }
            _ => groups.push(vec![row]),
        }
    }
    let mut errs = Vec::new();
    let mut checked = 0;
    let (mut replays, mut retried) = (0, 0);
    for g in &groups {
        let config = g[0]["config"].as_str().unwrap();
        let (cfg, base) = (tests_dir().join(config), &baseline[config]);
        let port = g[0]["port"].as_str().expect("port");
        let frames: Vec<Vec<u8>> = g
            .iter()
            .map(|r| hex(r["frame"].as_str().expect("frame")))
            .collect();
        if g.len() > 1 {
            let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            let (v, sent) = run(&dir, &cfg, base, port, &refs);
            replays += 1;
            if check_batch(g, &v, &sent) {
                checked += g.len();
                continue;
            }
            retried += g.len();
        }
        for (row, frame) in g.iter().zip(&frames) {
            let name = row["name"].as_str().expect("name");
            let port = row["port"].as_str().expect("port");
            let (v, sent) = run(&dir, &cfg, base, port, &[frame]);
            replays += 1;
            let sent: Vec<Vec<&Rec>> = sent.iter().map(|s| s.iter().collect()).collect();
            let e = check_row(row, &v, &sent);
            if !e.is_empty() {
                errs.push(format!(
                    "{name} ({port}, {config}, expect {}): {}\n    frame {}",
                    row["expect"],
                    e.join("; "),
                    row["frame"].as_str().unwrap()
                ));
            }
            checked += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(checked, rows.len(), "every row checked");
    if retried > 0 && errs.is_empty() {
        errs.push(format!(
            "{retried} rows failed in a batch but passed alone: frames of one replay interfere"
        ));
    }
    assert!(
        errs.is_empty(),
        "{} of {} rows failed ({replays} replays; table: tests/malformed/make_cases.py):\n{}",
        errs.len(),
        rows.len(),
        errs.join("\n")
    );
    eprintln!("{} rows checked in {replays} replays", rows.len());
}
