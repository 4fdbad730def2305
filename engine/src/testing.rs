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
