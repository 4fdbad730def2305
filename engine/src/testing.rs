//! Ready-made workers on in-memory ports for tests and benchmarks (no
//! root, no I/O): they measure and check the runtime and pipelines alone.

use crate::config::Config;
use crate::engine::{build, PortIo};
use crate::port::PortQueue;
use crate::worker::Worker;

/// Two loopback mem ports cross-connected by the L2 forwarder in `mode`
/// ("io", "mac" or "macswap"), with `frames` copies of `frame` circulating.
/// Every `poll_once` then moves exactly `2 * burst` frames once warm.
pub fn l2fwd_worker(mode: &str, burst: usize, frames: usize, frame: &[u8]) -> Worker {
    let peers = if mode == "mac" {
        "a_peer = \"02:00:00:00:01:0a\"\nb_peer = \"02:00:00:00:01:0b\""
    } else {
        ""
    };
    let cfg = format!(
        r#"
[engine]
cores = [0]
burst = {burst}
[engine.umem]
frames = 4096
[[ports]]
name = "a"
driver = "mem"
mac = "02:00:00:00:00:0a"
loopback = true
capacity = 2048
[[ports]]
name = "b"
driver = "mem"
mac = "02:00:00:00:00:0b"
loopback = true
capacity = 2048
[pipeline]
kind = "l2fwd"
[pipeline.l2fwd]
mode = "{mode}"
[[pipeline.l2fwd.pairs]]
a = "a"
b = "b"
{peers}
"#
    );
    let cfg = Config::parse(&cfg, "bench").expect("bench config");
    let mut w = build(&cfg, &PortIo::Live)
        .expect("mem ports need no privileges")
        .workers
        .remove(0);
    for _ in 0..frames {
        let PortQueue::Mem(q) = &mut w.ports[0] else {
            unreachable!("mem port")
        };
        assert!(q.inject(&mut w.pool, frame));
    }
    w
}

/// A 60-byte Ethernet/IPv4/UDP frame (the classic "64-byte" frame without FCS).
pub fn udp4_frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x0a]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 1, 0x0a]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f
}

/// MAC addresses of [`router_worker`]'s ports and the hosts behind them.
pub const ROUTER_PORT_A: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];
pub const ROUTER_PORT_B: [u8; 6] = [2, 0, 0, 0, 0, 0x0b];
pub const ROUTER_HOST_A: [u8; 6] = [2, 0, 0, 0, 1, 0x0a];
pub const ROUTER_HOST_B: [u8; 6] = [2, 0, 0, 0, 1, 0x0b];

/// A router worker on two mem ports (not loopback: the caller injects and
/// takes frames). Port `a` is interface `lan` (10.1.0.1/24,
/// 2001:db8:1::1/64), port `b` is `wan` (10.2.0.1/24, 2001:db8:2::1/64);
/// the hosts 10.1.0.2 / 2001:db8:1::2 and the gateway 10.2.0.2 /
/// 2001:db8:2::2 are static neighbours, so ip-rewrite always knows their
/// MACs (nothing is parked for them). `extra` is TOML appended to the
/// config (routes, tunnels). The router's control side comes back too,
/// for adding routes in bulk.
pub fn router_worker(burst: usize, extra: &str) -> (Worker, crate::routectl::RouterControl) {
    router_worker_with(burst, extra, |_| {})
}

/// [`router_worker`] with the parsed configuration edited by `edit` before
/// the engine is built (tables too big for TOML, e.g. a million GTP-U
/// sessions pushed into `RouterCfg::gtpu`).
pub fn router_worker_with(
    burst: usize,
    extra: &str,
    edit: impl FnOnce(&mut Config),
) -> (Worker, crate::routectl::RouterControl) {
    let cfg = router_fixture(burst, extra);
    let mut cfg = Config::parse(&cfg, "router-fixture").expect("router fixture config");
    edit(&mut cfg);
    let mut built = build(&cfg, &PortIo::Live).expect("mem ports need no privileges");
    let rc = crate::function::router::control(built.function).expect("a router pipeline");
    (built.workers.remove(0), rc)
}

/// The TOML of [`router_worker`]'s engine, `extra` appended (reload tests
/// parse a second version of it).
pub fn router_fixture(burst: usize, extra: &str) -> String {
    format!(
        r#"
[engine]
cores = [0]
burst = {burst}
[engine.umem]
frames = 4096
[[ports]]
name = "a"
driver = "mem"
mac = "02:00:00:00:00:0a"
capacity = 2048
[[ports]]
name = "b"
driver = "mem"
mac = "02:00:00:00:00:0b"
capacity = 2048
[pipeline]
kind = "router"
[[interfaces]]
name = "lan"
port = "a"
ipv4 = ["10.1.0.1/24"]
ipv6 = ["2001:db8:1::1/64"]
[[interfaces]]
name = "wan"
port = "b"
ipv4 = ["10.2.0.1/24"]
ipv6 = ["2001:db8:2::1/64"]
[[neighbors]]
interface = "lan"
ip = "10.1.0.2"
mac = "02:00:00:00:01:0a"
[[neighbors]]
interface = "lan"
ip = "2001:db8:1::2"
mac = "02:00:00:00:01:0a"
[[neighbors]]
interface = "wan"
ip = "10.2.0.2"
mac = "02:00:00:00:01:0b"
[[neighbors]]
interface = "wan"
ip = "2001:db8:2::2"
mac = "02:00:00:00:01:0b"
{extra}
"#
    )
}

/// Puts `frames` on port `port`'s RX queue, runs one burst and frees what
/// the ports transmitted. Returns (frames processed, frames transmitted).
pub fn router_round(w: &mut Worker, port: usize, frames: &[Vec<u8>]) -> (usize, usize) {
    let PortQueue::Mem(q) = &mut w.ports[port] else {
        unreachable!("mem port")
    };
    for f in frames {
        assert!(q.inject(&mut w.pool, f), "mem port RX full");
    }
    let n = w.poll_once();
    (n, router_drain(w))
}

/// Frees every frame the ports transmitted; returns how many.
pub fn router_drain(w: &mut Worker) -> usize {
    let mut out = 0;
    for p in &mut w.ports {
        if let PortQueue::Mem(q) = p {
            out += q.take_tx(&mut w.pool, |_| {});
        }
    }
    out
}
