//! Stateful NAT64 fixtures shared by the criterion bench
//! (`benches/nat64.rs`) and `scale`: a router worker translating
//! 64:ff9b::/96 with pool4 10.2.0.1 ports 1..=65535 and `n` sessions made
//! by traffic, and the frames of flow `i` (the client 2001:db8:1::2 from
//! port `1 + i % 65535` to 64:ff9b::10.9.0.(i / 65535) port 2000).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xgw_engine::gen::template::{Encap, Spec, Vary, L4};
use xgw_engine::port::PortQueue;
use xgw_engine::testing::{router_drain, router_worker, ROUTER_HOST_A, ROUTER_PORT_A};
use xgw_engine::worker::Worker;
use xgw_pipelines::wire::ethernet::MacAddr;

/// The IPv4 route the translated packets leave by.
pub const ROUTE4: &str = "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.2.0.2\"\n";

/// Flow `i`'s IPv6 frame (84 bytes).
pub fn frame(i: u32) -> Vec<u8> {
    let r = Ipv4Addr::new(10, 9, 0, (i / 65535) as u8);
    let dst = Ipv6Addr::from((0x0064_ff9bu128 << 96) | u128::from(u32::from(r)));
    let s = Spec {
        src_mac: MacAddr(ROUTER_HOST_A),
        dst_mac: MacAddr(ROUTER_PORT_A),
        encap: Encap::None,
        src: "2001:db8:1::2".parse().unwrap(),
        dst: IpAddr::V6(dst),
        l4: L4::Udp,
        src_port: 1 + (i % 65535) as u16,
        dst_port: 2000,
        vary: Vary::SrcPort,
    };
    s.build(84).expect("frame").packet(0, 1, 0, 0)
}

/// A stateful NAT64 worker (bursts of `burst`) with flows `0..n` made,
/// one session each (`max_sessions = n`). Panics if a flow was dropped.
pub fn stateful_worker(burst: usize, n: u32) -> Worker {
    let cfg = format!(
        "[nat64]\nmode = \"nat64\"\npool6 = \"64:ff9b::/96\"\n\
         pool4 = [ {{ address = \"10.2.0.1\", ports = [1, 65535] }} ]\nmax_sessions = {n}\n{ROUTE4}"
    );
    let (mut w, _rc) = router_worker(burst, &cfg);
    let mut made = 0u32;
    while made < n {
        let PortQueue::Mem(q) = &mut w.ports[0] else {
            unreachable!()
        };
        let k = (n - made).min(burst as u32);
        for j in 0..k {
            assert!(q.inject(&mut w.pool, &frame(made + j)));
        }
        made += k;
        w.poll_once();
        router_drain(&mut w);
    }
    let snap = w.stats.snapshot();
    let dropped: u64 = snap.iter().map(|p| p.dropped).sum();
    assert_eq!(dropped, 0, "{n} sessions made without a drop");
    w
}

/// The 4096 (or `n`, if fewer) flows of a run over `n` sessions,
/// scattered over all of them (see [`crate::scattered`]).
pub fn pool(n: u32) -> Vec<Vec<u8>> {
    crate::scattered(n, 4096).map(frame).collect()
}
