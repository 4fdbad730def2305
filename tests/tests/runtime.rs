//! Per-node runtime figures (`xgw runtime`, `xgw replay --runtime`) and
//! the node graph (`xgw graph`).
//!
//! - a router worker on mem ports counts exactly which nodes saw which
//!   frames: fast-path frames only at `router-fast`, frames the fast path
//!   leaves at `ethernet-input`, `ip4-input`, `ip4-lookup` and
//!   `ip-rewrite` too;
//! - an l2fwd worker counts its one node;
//! - `xgw replay --runtime` on the router golden `forward` case lists
//!   every node with figures that agree with each other and with the
//!   port counters, as JSON and as a table;
//! - `xgw graph` names every node, and every arc ends at a node or an end.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use xgw_engine::stats::NodeSnapshot;
use xgw_engine::testing::{
    l2fwd_worker, router_round, router_worker, udp4_frame, ROUTER_HOST_A, ROUTER_PORT_A,
};
use xgw_engine::worker::Worker;

const ROUTER_NODES: [&str; 16] = [
    "router-fast",
    "ethernet-input",
    "arp-input",
    "ip4-input",
    "ip6-input",
    "ip4-local",
    "ip6-local",
    "ipip-decap",
    "ipip-icmp-relay",
    "gtpu-input",
    "ip4-lookup",
    "ip6-lookup",
    "nat64-xlat",
    "ipip-encap",
    "gtpu-encap",
    "ip-rewrite",
];

/// The worker's node figures by name (a consistent copy).
fn nodes(w: &Worker) -> Vec<(&'static str, NodeSnapshot)> {
    let r = w.stats.read();
    assert!(!r.torn);
    w.stats
        .node_info
        .iter()
        .map(|n| n.name)
        .zip(r.nodes)
        .collect()
}

/// `after - before`, node by node.
fn diff(
    before: &[(&'static str, NodeSnapshot)],
    after: &[(&'static str, NodeSnapshot)],
) -> Vec<(&'static str, NodeSnapshot)> {
    before
        .iter()
        .zip(after)
        .map(|((n, b), (m, a))| {
            assert_eq!(n, m);
            (
                *n,
                NodeSnapshot {
                    calls: a.calls - b.calls,
                    vectors: a.vectors - b.vectors,
                    packets: a.packets - b.packets,
                    cycles: a.cycles - b.cycles,
                },
            )
        })
        .collect()
}

/// A UDP packet 10.1.0.2 → 10.9.0.5 from the lan host to port a, with
/// `opts` bytes of IPv4 options (NOPs; 0 or a multiple of 4).
fn routed4(opts: usize) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2(ROUTER_HOST_A, ROUTER_PORT_A)
        .ipv4([10, 1, 0, 2], [10, 9, 0, 5], 64)
        .udp(1000, 2000)
        .write(&mut f, &[0u8; 18])
        .unwrap();
    if opts > 0 {
        f.splice(34..34, vec![1u8; opts]);
        f[14] = 0x45 + (opts / 4) as u8;
        let tl = u16::from_be_bytes([f[16], f[17]]) + opts as u16;
        f[16..18].copy_from_slice(&tl.to_be_bytes());
        f[24..26].fill(0);
        let mut sum = 0u32;
        for c in f[14..34 + opts].chunks(2) {
            sum += u16::from_be_bytes([c[0], c[1]]) as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    f
}

/// Checks one burst's figures: `want` lists (node, packets) for the nodes
/// that ran once; every other node did not run at all.
fn expect_burst(d: &[(&'static str, NodeSnapshot)], want: &[(&str, u64)]) {
    for (name, s) in d {
        match want.iter().find(|(n, _)| n == name) {
            Some(&(_, packets)) => {
                assert_eq!(
                    (s.calls, s.vectors, s.packets),
                    (1, 1, packets),
                    "{name}: {s:?}"
                );
                assert!(s.cycles > 0, "{name}: no cycles counted: {s:?}");
            }
            None => assert_eq!(*s, NodeSnapshot::default(), "{name} should not have run"),
        }
    }
}

#[test]
fn router_nodes_count_exactly_the_frames_they_saw() {
    let (mut w, _rc) = router_worker(
        64,
        "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.2.0.2\"\n",
    );
    let names: Vec<&str> = w.stats.node_info.iter().map(|n| n.name).collect();
    assert_eq!(names, ROUTER_NODES);
    // One frame through the graph fills ip-rewrite's memo for the gateway:
    // from then on the fast path finishes such frames alone.
    // (The first poll also ticks: worker 0's start-up announcements
    // leave with it.)
    let (n, tx) = router_round(&mut w, 0, &[routed4(0)]);
    assert_eq!(n, 1);
    assert!(tx >= 1);
    let first = nodes(&w);
    expect_burst(
        &first,
        &[
            ("router-fast", 1),
            ("ethernet-input", 1),
            ("ip4-input", 1),
            ("ip4-lookup", 1),
            ("ip-rewrite", 1),
        ],
    );

    // 64 forwarded frames: all at the fast path, none at the graph's nodes.
    assert_eq!(router_round(&mut w, 0, &vec![routed4(0); 64]), (64, 64));
    let fast = nodes(&w);
    expect_burst(&diff(&first, &fast), &[("router-fast", 64)]);

    // 40 frames with IPv4 options: the fast path hands them, untouched,
    // to ethernet-input; ip4-input, ip4-lookup and ip-rewrite forward them.
    assert_eq!(router_round(&mut w, 0, &vec![routed4(4); 40]), (40, 40));
    let steps = nodes(&w);
    expect_burst(
        &diff(&fast, &steps),
        &[
            ("router-fast", 40),
            ("ethernet-input", 40),
            ("ip4-input", 40),
            ("ip4-lookup", 40),
            ("ip-rewrite", 40),
        ],
    );

    // A mixed burst: each node counts its own frames, once per burst.
    let mut mixed = vec![routed4(0); 10];
    mixed.extend(vec![routed4(4); 6]);
    assert_eq!(router_round(&mut w, 0, &mixed), (16, 16));
    let end = nodes(&w);
    expect_burst(
        &diff(&steps, &end),
        &[
            ("router-fast", 16),
            ("ethernet-input", 6),
            ("ip4-input", 6),
            ("ip4-lookup", 6),
            ("ip-rewrite", 6),
        ],
    );

    // Every fresh frame enters at the fast path: its packets are the rx
    // counter, in the same consistent snapshot.
    let r = w.stats.read();
    let rx: u64 = r.ports.iter().map(|p| p.rx).sum();
    assert_eq!(r.nodes[0].packets, rx);
    assert_eq!(rx, 1 + 64 + 40 + 16);
    assert!(w.frames_accounted());
}

#[test]
fn l2fwd_counts_its_one_node() {
    let mut w = l2fwd_worker("io", 32, 64, &udp4_frame());
    let names: Vec<&str> = w.stats.node_info.iter().map(|n| n.name).collect();
    assert_eq!(names, ["l2fwd"]);
    let mut moved = 0u64;
    for _ in 0..10 {
        moved += w.poll_once() as u64;
    }
    let n = nodes(&w)[0].1;
    // One call per non-empty burst (one burst per port per poll).
    assert_eq!(n.packets, moved);
    assert_eq!(n.calls, n.vectors);
    assert!(n.calls >= moved / 32 && n.calls <= 20, "{n:?}");
    assert!(n.cycles > 0);
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/router")
}

fn xgw(args: &[&str]) -> String {
    let out = Command::new(xgw_tests::xgw_bin())
        .args(args)
        .output()
        .expect("run xgw");
    assert!(
        out.status.success(),
        "xgw {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn replay_args(json: bool) -> Vec<String> {
    let g = golden();
    let case = g.join("forward");
    let mut a = vec![
        "replay".to_string(),
        "-c".into(),
        g.join("config.toml").display().to_string(),
        "--input".into(),
        format!("west={}", case.join("west-in.pcap").display()),
        "--input".into(),
        format!("east={}", case.join("east-in.pcap").display()),
        "--runtime".into(),
    ];
    if json {
        a.push("--json".into());
    }
    a
}

#[test]
fn replay_runtime_lists_every_node_with_consistent_figures() {
    let args = replay_args(true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v: Value = serde_json::from_str(xgw(&args).trim()).expect("JSON");
    let rt = &v["runtime"];
    assert!(rt["tsc_hz"].as_u64().unwrap() > 0, "{rt}");
    let total = rt["total"].as_array().expect("total rows");
    let names: Vec<&str> = total.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ROUTER_NODES);
    // One worker: its rows are the total.
    assert_eq!(rt["workers"].as_array().unwrap().len(), 1);
    assert_eq!(rt["workers"][0]["nodes"], rt["total"]);
    let u = |r: &Value, k: &str| r[k].as_u64().unwrap();
    for r in total {
        let (calls, vectors, packets, cycles) = (
            u(r, "calls"),
            u(r, "vectors"),
            u(r, "packets"),
            u(r, "cycles"),
        );
        assert!(vectors <= calls && vectors <= packets, "{r}");
        assert_eq!(packets == 0, vectors == 0, "{r}");
        assert_eq!(packets == 0, cycles == 0, "{r}");
        if packets > 0 {
            let ppv = r["packets_per_vector"].as_f64().unwrap();
            assert!((ppv - packets as f64 / vectors as f64).abs() < 0.01, "{r}");
            let cpp = r["cycles_per_packet"].as_f64().unwrap();
            assert!((cpp - cycles as f64 / packets as f64).abs() < 0.01, "{r}");
            assert!(r["ns_per_packet"].as_f64().unwrap() > 0.0, "{r}");
        } else {
            assert!(r["packets_per_vector"].is_null(), "{r}");
        }
    }
    // Every received frame enters at the fast path; what the graph's nodes
    // see comes from it (or from parked frames resumed at ip-rewrite).
    let rx = u(&v["totals"], "rx");
    assert!(rx > 0);
    assert_eq!(u(&total[0], "packets"), rx, "router-fast saw every frame");
    assert!(u(&total[1], "packets") <= rx, "ethernet-input");
    // The forward case forwards IPv4 and IPv6 through the lookups and
    // ip-rewrite.
    for n in ["ip4-lookup", "ip6-lookup", "ip-rewrite"] {
        let i = names.iter().position(|&x| x == n).unwrap();
        assert!(u(&total[i], "packets") > 0, "{n} ran");
    }

    // The table: every node on the worker's and on the total's lines.
    let args = replay_args(false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = xgw(&args);
    let rt_text = &text[text.find("runtime:").expect("runtime section")..];
    assert!(rt_text.contains("CLOCKS/PKT"), "{rt_text}");
    for n in ROUTER_NODES {
        assert_eq!(
            rt_text.matches(&format!("  {n} ")).count(),
            2,
            "{n}: {rt_text}"
        );
    }
}

#[test]
fn graph_names_every_node_and_arc() {
    let cfg = golden().join("config.toml");
    let cfg = cfg.display().to_string();
    let text = xgw(&["graph", "-c", &cfg]);
    for n in ROUTER_NODES {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{n} "))),
            "{n}: {text}"
        );
    }
    let v: Value = serde_json::from_str(xgw(&["graph", "-c", &cfg, "--json"]).trim()).unwrap();
    let nodes = v.as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ROUTER_NODES);
    for n in nodes {
        let next = n["next"].as_array().unwrap();
        assert!(!next.is_empty(), "{n}");
        for t in next {
            let t = t.as_str().unwrap();
            let later = names.iter().position(|&x| x == t);
            let here = names.iter().position(|&x| x == n["name"]).unwrap();
            // Arcs go to other nodes of the graph or to ends; back only
            // where real traffic needs it (a decapsulated packet input
            // again, an ICMP error made by a lookup routed by it).
            let back_ok = [
                ("ipip-decap", "ip4-input"),
                ("ipip-decap", "ip6-input"),
                ("ip4-lookup", "ip4-lookup"),
                ("ip6-lookup", "ip6-lookup"),
                ("ip6-lookup", "ip4-lookup"),
                ("ipip-encap", "ip4-lookup"),
                ("ipip-encap", "ip6-lookup"),
                ("gtpu-input", "ip4-input"),
                ("gtpu-input", "ip6-input"),
                ("gtpu-encap", "ip4-lookup"),
                ("gtpu-encap", "ip6-lookup"),
                ("nat64-xlat", "ip4-lookup"),
                ("nat64-xlat", "ip6-lookup"),
                ("nat64-xlat", "nat64-xlat"),
            ]
            .contains(&(names[here], t));
            assert!(
                later.is_some_and(|i| i > here || back_ok)
                    || ["tx", "local", "drop", "park"].contains(&t),
                "{n}: arc to {t}"
            );
        }
    }
    let l2 = xgw(&["graph"]);
    assert!(l2.lines().any(|l| l.starts_with("l2fwd ")), "{l2}");
}

/// A running engine (two idle l2fwd workers on mem ports, no root)
/// answers `xgw runtime`: every worker with every node, and the total.
#[test]
fn xgw_runtime_asks_a_running_engine() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(format!("xgw-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("xgw.sock");
    let cfg = dir.join("xgw.toml");
    std::fs::write(&cfg, xgw_tests::two_worker_mem_config(&socket)).unwrap();
    let mut child = Command::new(xgw_tests::xgw_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let sock = socket.display().to_string();
    let answer = loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no control socket"
        );
        if socket.exists() {
            let out = Command::new(xgw_tests::xgw_bin())
                .args(["runtime", "--json", "--socket", &sock])
                .output()
                .unwrap();
            if out.status.success() {
                break String::from_utf8(out.stdout).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let table = xgw(&["runtime", "--socket", &sock]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let v: Value = serde_json::from_str(answer.trim()).unwrap();
    assert!(v["tsc_hz"].as_u64().unwrap() > 0, "{v}");
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{v}");
    for w in workers {
        assert_eq!(w["nodes"][0]["name"], "l2fwd", "{v}");
    }
    assert_eq!(v["total"][0]["name"], "l2fwd", "{v}");
    assert!(table.contains("total (2 workers)"), "{table}");
    assert_eq!(table.matches("  l2fwd ").count(), 3, "{table}");
}
