//! `xgw trace` names the key fields each node used: the route's next hop
//! and the neighbour's MAC at the lookups and ip-rewrite, the tunnel at
//! ipip-encap, the GTP-U session at gtpu-encap (a worker on mem ports, its
//! router control answering `trace-arm` / `trace-read`).

use serde_json::{json, Value};
use xgw_engine::port::PortQueue;
use xgw_engine::testing::router_worker_with;
use xgw_engine::worker::Worker;

const LAN_HOST_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0x0a];
const PORT_A_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

const EXTRA: &str = r#"
[[tunnels]]
name = "sit9"
kind = "6in4"
local = "10.2.0.1"
remote = "10.2.0.2"
ipv6 = ["2001:db8:ff::1/64"]
[[routes]]
prefix = "2001:db8:8::/64"
via = "2001:db8:ff::2"
[[routes]]
prefix = "10.9.0.0/16"
via = "10.2.0.2"
[[routes]]
prefix = "10.50.0.0/16"
interface = "gtp0"
[gtpu]
endpoints = ["10.2.0.1"]
[[gtpu.sessions]]
id = 7
local = "10.2.0.1"
teid = 0x100
ue4 = "10.50.0.9"
peer = "10.2.0.2"
peer_teid = 0x2000
"#;

fn run(w: &mut Worker, f: &[u8]) {
    let PortQueue::Mem(q) = &mut w.ports[0] else {
        panic!("mem port")
    };
    assert!(q.inject(&mut w.pool, f));
    w.poll_once();
    for p in &mut w.ports {
        if let PortQueue::Mem(q) = p {
            q.take_tx(&mut w.pool, |_| {});
        }
    }
}

fn udp4(dst: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(LAN_HOST_MAC, PORT_A_MAC)
        .ipv4([10, 1, 0, 2], dst, 64)
        .udp(4000, 5000)
        .write(&mut out, b"hello")
        .unwrap();
    out
}

fn udp6(dst: &str) -> Vec<u8> {
    let dst: std::net::Ipv6Addr = dst.parse().unwrap();
    let src: std::net::Ipv6Addr = "2001:db8:1::2".parse().unwrap();
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2(LAN_HOST_MAC, PORT_A_MAC)
        .ipv6(src.octets(), dst.octets(), 64)
        .udp(4000, 5000)
        .write(&mut out, b"hello")
        .unwrap();
    out
}

/// Traces one frame; the (node, key) pairs of its hops.
fn trace(
    w: &mut Worker,
    rc: &mut xgw_engine::routectl::RouterControl,
    f: &[u8],
) -> Vec<(String, String)> {
    let a = rc.answer("trace-arm", &json!({"cmd": "trace-arm", "count": 1}));
    assert_eq!(a["armed"], json!(true), "{a}");
    run(w, f);
    let r: Value = rc.answer("trace-read", &json!({}));
    let frames = r["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 1, "{r}");
    frames[0]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["node"].as_str().unwrap().to_string(),
                h["key"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn key<'a>(hops: &'a [(String, String)], node: &str) -> &'a str {
    hops.iter()
        .find(|(n, _)| n == node)
        .map(|(_, k)| k.as_str())
        .unwrap_or_else(|| panic!("no {node} hop in {hops:?}"))
}

#[test]
fn trace_names_next_hop_neighbour_tunnel_and_session() {
    let (mut w, mut rc) = router_worker_with(32, EXTRA, |_| {});
    // A first burst: announcements out, neighbour views published.
    run(&mut w, &udp4([10, 2, 0, 2]));
    std::thread::sleep(std::time::Duration::from_millis(600));
    run(&mut w, &udp4([10, 2, 0, 2]));

    let hops = trace(&mut w, &mut rc, &udp4([10, 9, 0, 5]));
    let k = key(&hops, "ip4-lookup");
    assert!(k.contains("via 10.2.0.2 dev wan"), "{hops:?}");
    assert!(k.contains("neighbour 02:00:00:00:01:0b"), "{hops:?}");

    let hops = trace(&mut w, &mut rc, &udp6("2001:db8:8::5"));
    assert_eq!(
        key(&hops, "ipip-encap"),
        "tunnel sit9 (6in4 10.2.0.1 -> 10.2.0.2)",
        "{hops:?}"
    );
    assert!(
        key(&hops, "ip6-lookup").contains("via 2001:db8:ff::2 dev sit9"),
        "{hops:?}"
    );

    let hops = trace(&mut w, &mut rc, &udp4([10, 50, 0, 9]));
    assert_eq!(
        key(&hops, "gtpu-encap"),
        "GTP-U session 7 -> peer 10.2.0.2 TEID 0x2000",
        "{hops:?}"
    );
}
