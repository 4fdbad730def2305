//! Golden replays: a capture goes through `xgw replay` and the output must
//! equal, byte for byte, the expectation written by scapy
//! (tests/golden/make_l2fwd.py), with the counters to match.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use xgw_engine::Config;

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/l2fwd")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xgw-golden-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn assert_same(got: &Path, want: &Path) {
    let (g, w) = (std::fs::read(got).unwrap(), std::fs::read(want).unwrap());
    assert!(
        g == w,
        "{} differs from {} ({} vs {} bytes)",
        got.display(),
        want.display(),
        g.len(),
        w.len()
    );
}

#[test]
fn l2fwd_mac_mode_replay_is_byte_exact() {
    let g = golden();
    let cfg = Config::load(&g.join("config.toml")).unwrap();
    let (e_out, w_out) = (tmp("lib-east.pcap"), tmp("lib-west.pcap"));
    let inputs = HashMap::from([
        ("west".into(), g.join("west-in.pcap")),
        ("east".into(), g.join("east-in.pcap")),
    ]);
    let outputs = HashMap::from([
        ("east".into(), e_out.clone()),
        ("west".into(), w_out.clone()),
    ]);
    let v = xgw_engine::replay::run(&cfg, inputs, outputs).unwrap();
    assert_same(&e_out, &g.join("east-out.pcap"));
    assert_same(&w_out, &g.join("west-out.pcap"));
    // 24 frames in on west (one a runt), 5 on east.
    assert_eq!(v["ports"][0]["rx"], 24);
    assert_eq!(v["ports"][0]["tx"], 5);
    assert_eq!(v["ports"][1]["rx"], 5);
    assert_eq!(v["ports"][1]["tx"], 23);
    assert_eq!(v["ports"][0]["drops"]["l2.runt"], 1);
    assert_eq!(v["drops"]["l2.runt"]["count"], 1);
    let t = &v["totals"];
    assert_eq!(t["rx"], 29);
    assert_eq!(
        t["tx"].as_u64().unwrap() + t["dropped"].as_u64().unwrap() + t["pending"].as_u64().unwrap(),
        29
    );
}

/// The same through the command line, as an operator would run it.
#[test]
fn xgw_replay_cli_matches_golden() {
    let bin = xgw_tests::xgw_bin();
    let g = golden();
    let (e_out, w_out) = (tmp("cli-east.pcap"), tmp("cli-west.pcap"));
    let out = Command::new(&bin)
        .arg("replay")
        .arg("--config")
        .arg(g.join("config.toml"))
        .arg(format!("--input=west={}", g.join("west-in.pcap").display()))
        .arg(format!("--input=east={}", g.join("east-in.pcap").display()))
        .arg(format!("--output=east={}", e_out.display()))
        .arg(format!("--output=west={}", w_out.display()))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xgw replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["totals"]["dropped"], 1);
    assert_same(&e_out, &g.join("east-out.pcap"));
    assert_same(&w_out, &g.join("west-out.pcap"));

    // A port that is not configured is a clear error.
    let out = Command::new(&bin)
        .args(["replay", "--config"])
        .arg(g.join("config.toml"))
        .arg("--input=north=/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no port named \"north\"") && err.contains("west, east"),
        "{err}"
    );
}

/// A capture that is not a pcap file is an error naming the file.
#[test]
fn garbage_capture_is_rejected() {
    let g = golden();
    let cfg = Config::load(&g.join("config.toml")).unwrap();
    let junk = tmp("junk.pcap");
    std::fs::write(&junk, b"definitely not a capture").unwrap();
    let err = xgw_engine::replay::run(
        &cfg,
        HashMap::from([("west".into(), junk.clone())]),
        HashMap::new(),
    )
    .unwrap_err();
    assert!(
        err.contains("junk.pcap") && err.contains("not a pcap"),
        "{err}"
    );
}
