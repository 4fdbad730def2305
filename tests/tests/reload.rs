//! `xgw reload` on the router, against a real worker on mem ports:
//!
//! - a reload that adds a route, deletes a tunnel (and the route into it)
//!   and adds an interface address takes effect at the worker's next
//!   burst: a packet with no route before is forwarded after, the deleted
//!   tunnel's prefix is unreachable, the new address answers echo;
//! - a change only a restart applies (an interface's MTU, a static
//!   neighbour) is refused with its key named and changes nothing;
//! - a plan that fails while being applied (a tunnel of the same name was
//!   added at run time in between) is undone: the route table and the
//!   workers' view stay as they were.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use serde_json::{json, Value};
use xgw_engine::config::{Config, PipelineCfg, RouterCfg};
use xgw_engine::port::PortQueue;
use xgw_engine::testing::{router_fixture, router_worker_with};
use xgw_engine::worker::Worker;

const LAN_HOST_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0x0a];
const PORT_A_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];

/// The tunnel and route the running config starts with.
const BEFORE: &str = r#"
[[tunnels]]
name = "sit9"
kind = "6in4"
local = "10.2.0.1"
remote = "10.2.0.2"
ipv6 = ["2001:db8:ff::1/64"]
[[routes]]
prefix = "2001:db8:8::/64"
via = "2001:db8:ff::2"
"#;

/// The reloaded one: no tunnel, a route to 10.9.0.0/16, and lan gets
/// 10.3.0.1/24 too.
const AFTER: &str = r#"
[[routes]]
prefix = "10.9.0.0/16"
via = "10.2.0.2"
"#;

fn cfg(extra: &str) -> Config {
    Config::parse(&router_fixture(32, extra), "reload-test").expect("valid config")
}

fn router(c: &Config) -> &RouterCfg {
    match &c.pipeline {
        PipelineCfg::Router(r) => r,
        _ => panic!("router config"),
    }
}

/// Ethernet + IPv4 from the lan host: UDP, or an echo request.
fn v4(dst: [u8; 4], echo: bool) -> Vec<u8> {
    let b =
        etherparse::PacketBuilder::ethernet2(LAN_HOST_MAC, PORT_A_MAC).ipv4([10, 1, 0, 2], dst, 64);
    let mut out = Vec::new();
    if echo {
        b.icmpv4_echo_request(7, 1)
            .write(&mut out, b"ping")
            .unwrap();
    } else {
        b.udp(4000, 5000).write(&mut out, b"hello").unwrap();
    }
    out
}

fn v6(dst: &str) -> Vec<u8> {
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

/// Sends one frame in on port a and returns what each port sent.
fn round(w: &mut Worker, f: &[u8]) -> [Vec<Vec<u8>>; 2] {
    let PortQueue::Mem(q) = &mut w.ports[0] else {
        panic!("mem port")
    };
    assert!(q.inject(&mut w.pool, f));
    w.poll_once();
    let mut out: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for (i, o) in out.iter_mut().enumerate() {
        if let PortQueue::Mem(q) = &mut w.ports[i] {
            q.take_tx(&mut w.pool, |d| o.push(d.to_vec()));
        }
    }
    out
}

/// What the frame is: "udp", "echo-reply", "unreachable", ….
fn kind(f: &[u8]) -> String {
    let p = SlicedPacket::from_ethernet(f).expect("parses");
    match (&p.net, &p.transport) {
        (_, Some(TransportSlice::Udp(_))) => "udp".into(),
        (Some(NetSlice::Ipv4(_)), Some(TransportSlice::Icmpv4(i))) => match i.type_u8() {
            0 => "echo-reply".into(),
            3 => "unreachable".into(),
            t => format!("icmp{t}"),
        },
        (Some(NetSlice::Ipv6(_)), Some(TransportSlice::Icmpv6(i))) => match i.type_u8() {
            1 => "unreachable".into(),
            t => format!("icmp6-{t}"),
        },
        (Some(NetSlice::Ipv4(ip)), _) if ip.header().protocol() == etherparse::IpNumber(41) => {
            "6in4".into()
        }
        _ => "other".into(),
    }
}

/// Runs the first burst (its gratuitous ARPs and unsolicited NAs) and
/// frees what it sent.
fn settle(w: &mut Worker) {
    w.poll_once();
    for p in &mut w.ports {
        if let PortQueue::Mem(q) = p {
            q.take_tx(&mut w.pool, |_| {});
        }
    }
}

/// (frames out of port a, out of port b), by kind.
fn outcome(w: &mut Worker, f: &[u8]) -> (Vec<String>, Vec<String>) {
    let [a, b] = round(w, f);
    (
        a.iter().map(|f| kind(f)).collect(),
        b.iter().map(|f| kind(f)).collect(),
    )
}

fn ask(rc: &mut xgw_engine::routectl::RouterControl, cmd: &str, req: Value) -> Value {
    rc.answer(cmd, &req)
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn reload_adds_a_route_deletes_a_tunnel_and_adds_an_address() {
    let old = cfg(BEFORE);
    let after = AFTER.to_string();
    let mut text = router_fixture(32, &after);
    text = text.replace(
        "ipv4 = [\"10.1.0.1/24\"]",
        "ipv4 = [\"10.1.0.1/24\", \"10.3.0.1/24\"]",
    );
    let new = Config::parse(&text, "reload-test").unwrap();
    let (mut w, mut rc) = router_worker_with(32, BEFORE, |_| {});
    settle(&mut w);

    // Before: no route to 10.9.0.5 (unreachable back to lan), 10.3.0.1 is
    // not ours (no route either), 2001:db8:8::5 goes into the tunnel (out
    // of port b, as IPv4).
    assert_eq!(
        outcome(&mut w, &v4([10, 9, 0, 5], false)),
        (s(&["unreachable"]), s(&[]))
    );
    assert_eq!(
        outcome(&mut w, &v4([10, 3, 0, 1], true)),
        (s(&["unreachable"]), s(&[]))
    );
    assert_eq!(
        outcome(&mut w, &v6("2001:db8:8::5")),
        (s(&[]), s(&["6in4"]))
    );

    let plan = rc.plan_reload(router(&old), router(&new)).expect("plan");
    let mut changes = plan.changes.clone();
    changes.sort();
    assert_eq!(
        changes,
        s(&[
            "interface lan: address 10.3.0.1/24 added",
            "route 10.9.0.0/16 added",
            "route 2001:db8:8::/64 deleted",
            "tunnel sit9 deleted",
        ])
    );
    let version = ask(&mut rc, "route-list", json!({}))["version"].clone();
    rc.apply_reload(plan).expect("applies");
    let v2 = ask(&mut rc, "route-list", json!({}))["version"].clone();
    assert_eq!(
        v2.as_u64(),
        version.as_u64().map(|v| v + 1),
        "one publication"
    );

    // After: forwarded out of port b; the new address answers; the
    // tunnel's prefix has no route.
    assert_eq!(
        outcome(&mut w, &v4([10, 9, 0, 5], false)),
        (s(&[]), s(&["udp"]))
    );
    assert_eq!(
        outcome(&mut w, &v4([10, 3, 0, 1], true)),
        (s(&["echo-reply"]), s(&[]))
    );
    assert_eq!(
        outcome(&mut w, &v6("2001:db8:8::5")),
        (s(&["unreachable"]), s(&[]))
    );
    let routes = ask(&mut rc, "route-list", json!({}));
    let text = routes.to_string();
    assert!(
        text.contains("10.3.0.0/24"),
        "connected route of the new address: {text}"
    );
    assert!(
        !text.contains("2001:db8:ff::/64"),
        "tunnel's connected route gone: {text}"
    );
    assert_eq!(ask(&mut rc, "tunnel-list", json!({}))["tunnels"], json!([]));

    // And back: the address and its connected route go again.
    let plan = rc
        .plan_reload(router(&new), router(&old))
        .expect("plan back");
    rc.apply_reload(plan).expect("applies back");
    assert_eq!(
        outcome(&mut w, &v4([10, 3, 0, 1], true)),
        (s(&["unreachable"]), s(&[]))
    );
    assert_eq!(
        outcome(&mut w, &v6("2001:db8:8::5")),
        (s(&[]), s(&["6in4"])),
        "re-created"
    );
}

#[test]
fn changes_only_a_restart_applies_are_refused_by_key() {
    let old = cfg(BEFORE);
    let (_w, mut rc) = router_worker_with(32, BEFORE, |_| {});
    let before = ask(&mut rc, "route-list", json!({}));
    // The same file again: nothing changes, nothing is published.
    let plan = rc.plan_reload(router(&old), router(&old)).expect("plan");
    assert!(plan.changes.is_empty());
    rc.apply_reload(plan).expect("applies");
    assert_eq!(
        ask(&mut rc, "route-list", json!({})),
        before,
        "same version"
    );
    let cases = [
        (
            router_fixture(32, BEFORE).replacen(
                "ipv4 = [\"10.2.0.1/24\"]",
                "ipv4 = [\"10.2.0.1/24\"]\nmtu = 1400",
                1,
            ),
            "`interfaces[1]`",
        ),
        (
            router_fixture(32, BEFORE)
                .replace("mac = \"02:00:00:00:01:0b\"", "mac = \"02:00:00:00:01:0c\""),
            "`neighbors[2]`",
        ),
    ];
    for (text, key) in cases {
        let new = Config::parse(&text, "reload-test").unwrap();
        let e = rc
            .plan_reload(router(&old), router(&new))
            .err()
            .unwrap_or_else(|| panic!("{key}: accepted"));
        assert!(e.contains(key) && e.contains("restart"), "{key}: {e}");
    }
    assert_eq!(ask(&mut rc, "route-list", json!({})), before);
}

#[test]
fn a_plan_that_fails_midway_is_undone() {
    let old = cfg(BEFORE);
    // The new file replaces 2001:db8:8::/64 by a route into a new tunnel.
    let extra = r#"
[[tunnels]]
name = "sit7"
kind = "6in4"
local = "10.2.0.1"
remote = "10.2.0.7"
ipv6 = ["2001:db8:fe::1/64"]
[[routes]]
prefix = "2001:db8:7::/64"
via = "2001:db8:fe::2"
[[routes]]
prefix = "10.9.0.0/16"
via = "10.2.0.2"
"#;
    let new = cfg(extra);
    let (mut w, mut rc) = router_worker_with(32, BEFORE, |_| {});
    settle(&mut w);
    let before = ask(&mut rc, "route-list", json!({}));
    let plan = rc.plan_reload(router(&old), router(&new)).expect("plan");
    // In between, an operator adds a tunnel of the same name.
    let r = ask(
        &mut rc,
        "tunnel-add",
        json!({"cmd": "tunnel-add", "name": "sit7", "kind": "4in4", "local": "10.2.0.1",
               "remote": "10.2.0.77", "ipv4": ["10.77.0.1/30"]}),
    );
    assert_eq!(r["ok"], json!(true), "{r}");
    let mid = ask(&mut rc, "route-list", json!({}));
    let e = rc.apply_reload(plan).expect_err("sit7 exists now");
    assert!(e.contains("sit7"), "{e}");
    // Undone: the table (routes, origins, version) is what it was.
    let after = ask(&mut rc, "route-list", json!({}));
    assert_eq!(after, mid, "undone");
    assert_ne!(
        after, before,
        "(the runtime tunnel's connected route is there)"
    );
    // The workers never saw a half: the old tunnel route still works.
    assert_eq!(
        outcome(&mut w, &v6("2001:db8:8::5")),
        (s(&[]), s(&["6in4"])),
        "sit9"
    );
    assert_eq!(
        outcome(&mut w, &v4([10, 9, 0, 5], false)),
        (s(&["unreachable"]), s(&[]))
    );
}
