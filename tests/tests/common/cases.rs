//! One golden case of a router feature (tests/golden/<suite>/<case>/:
//! config.toml, {west,east}-in.pcap, {west,east}-out.pcap, expect.json)
//! through `xgw replay`: outputs byte and timestamp exact, every counter
//! and drop reason exact, tshark clean (a case's expect.json may name a
//! `tolerant` port: a rate limiter's output, see `check_tolerant`). The
//! config is the case's own config.toml or the suite's. Shared by
//! golden_router.rs, golden_ipip.rs and golden_gtpu.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{compare, read_pcap, tshark_present, tshark_problems, Rec};

pub const PORTS: [&str; 2] = ["west", "east"];

pub fn golden(suite: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(suite)
}

fn tmp_dir(suite: &str, case: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xgw-golden-{suite}-{}/{case}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn check_counters(case: &str, v: &Value, expect: &Value, errs: &mut Vec<String>) {
    let tolerant = &expect["tolerant"];
    for (i, port) in PORTS.iter().enumerate() {
        let got = &v["ports"][i];
        let want = &expect["ports"][port];
        assert_eq!(got["name"], *port, "port order in the stats");
        for k in [
            "rx", "tx", "emitted", "local", "dropped", "pending", "parked", "unparked",
        ] {
            if tolerant["port"] == *port && (k == "tx" || k == "dropped") {
                continue;
            }
            if got[k] != want[k] {
                errs.push(format!(
                    "{case}: {port}.{k} = {}, expected {}",
                    got[k], want[k]
                ));
            }
        }
        let drops = got["drops"].as_object().expect("drops object");
        for (reason, n) in drops {
            if tolerant["port"] == *port && tolerant["reason"] == reason.as_str() {
                continue;
            }
            let w = want["drops"][reason].as_u64().unwrap_or(0);
            if n.as_u64() != Some(w) {
                errs.push(format!("{case}: {port} drop {reason} = {n}, expected {w}"));
            }
        }
        if let Some(w) = want["drops"].as_object() {
            for r in w.keys() {
                if !drops.contains_key(r) {
                    errs.push(format!("{case}: xgw has no drop reason named {r}"));
                }
            }
        }
    }
    let t = &v["totals"];
    let n = |k: &str| t[k].as_u64().unwrap_or(u64::MAX);
    if n("rx") + n("emitted") != n("tx") + n("local") + n("dropped") + n("pending") {
        errs.push(format!("{case}: totals do not add up: {t}"));
    }
}

/// The rate-limit case: the announcements and the first `min_errors`
/// errors exactly, then an in-order subset of the remaining expected
/// errors (tokens refilled while the replay ran), and tx + drops = frames.
fn check_tolerant(
    case: &str,
    t: &Value,
    v: &Value,
    got: &[Rec],
    want: &[Rec],
    errs: &mut Vec<String>,
) {
    let port = t["port"].as_str().unwrap();
    let i = PORTS.iter().position(|p| *p == port).unwrap();
    let (min, frames) = (
        t["min_errors"].as_u64().unwrap() as usize,
        t["frames"].as_u64().unwrap(),
    );
    let ann = want.len() - frames as usize;
    let head = ann + min;
    if got.len() < head {
        errs.push(format!(
            "{case}: {port} sent {} frames, expected at least {head}",
            got.len()
        ));
        return;
    }
    errs.extend(compare(
        &format!("{case}/{port}-out.pcap"),
        &got[..head],
        &want[..head],
    ));
    let mut rest = want[head..].iter();
    for (k, g) in got[head..].iter().enumerate() {
        if !rest.any(|w| w == g) {
            errs.push(format!(
                "{case}: {port} frame {} is none of the expected later errors (in order)",
                head + k + 1
            ));
            break;
        }
    }
    let p = &v["ports"][i];
    let errors = p["tx"].as_u64().unwrap() - ann as u64;
    let limited = p["drops"][t["reason"].as_str().unwrap()].as_u64().unwrap();
    if errors + limited != frames || limited == 0 || errors < min as u64 {
        errs.push(format!(
            "{case}: {errors} errors sent and {limited} rate-limited of {frames}; expected at least {min} \
             sent, at least one limited, and the two adding up"
        ));
    }
    if p["dropped"].as_u64() != Some(limited) {
        errs.push(format!(
            "{case}: {port}.dropped = {}, expected {limited}",
            p["dropped"]
        ));
    }
    if errors as usize + ann != got.len() {
        errs.push(format!(
            "{case}: {port}.tx = {} but the capture has {} frames",
            p["tx"],
            got.len()
        ));
    }
}

pub fn run_case(suite: &str, case: &str) {
    tshark_present();
    let dir = golden(suite).join(case);
    let expect: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expect.json")).unwrap()).unwrap();
    let out = tmp_dir(suite, case);
    // (The case's own config, or the suite's shared one.)
    let config = Some(dir.join("config.toml"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| golden(suite).join("config.toml"));
    let mut cmd = Command::new(xgw_tests::xgw_bin());
    cmd.arg("replay").arg("--config").arg(config).arg("--json");
    for port in PORTS {
        let input = dir.join(format!("{port}-in.pcap"));
        if input.exists() {
            cmd.arg(format!("--input={port}={}", input.display()));
        }
        cmd.arg(format!(
            "--output={port}={}",
            out.join(format!("{port}-out.pcap")).display()
        ));
    }
    let res = cmd.output().unwrap();
    assert!(
        res.status.success(),
        "{case}: xgw replay failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let v: Value = serde_json::from_slice(&res.stdout).unwrap();
    let mut errs = Vec::new();
    check_counters(case, &v, &expect, &mut errs);
    for port in PORTS {
        let got_path = out.join(format!("{port}-out.pcap"));
        let want_path = dir.join(format!("{port}-out.pcap"));
        let (got, want) = (read_pcap(&got_path), read_pcap(&want_path));
        if expect["tolerant"]["port"] == port {
            check_tolerant(case, &expect["tolerant"], &v, &got, &want, &mut errs);
        } else {
            errs.extend(compare(&format!("{case}/{port}-out.pcap"), &got, &want));
        }
        let bad = tshark_problems(&got_path);
        if !bad.is_empty() {
            errs.push(format!(
                "{case}: tshark finds problems in {}:\n{}",
                got_path.display(),
                bad.join("\n")
            ));
        }
    }
    if errs.is_empty() {
        let _ = std::fs::remove_dir_all(&out);
    } else {
        panic!(
            "{case} ({}):\n{}\n(xgw's output kept in {}; expectations: tests/golden/make_{suite}.py)",
            expect["doc"].as_str().unwrap_or(""),
            errs.join("\n"),
            out.display()
        );
    }
}
