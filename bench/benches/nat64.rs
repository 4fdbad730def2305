//! Stateful NAT64: the router's per-packet cost of translating IPv6 to
//! IPv4 through existing sessions, with 1k and with 1M sessions in the
//! worker's tables (the issue asks the 1M cost to stay within 1.3 × the
//! 1k one), and the same for SIIT (stateless, no table: the reference).
//!
//! - `6to4/<n>`: `n` sessions made first (the client 2001:db8:1::2 from
//!   ports 1..=65535 toward up to 16 remotes 64:ff9b::10.9.0.r#2000:
//!   65535 bindings, `n` sessions), then traffic over 4096 of them spaced
//!   evenly over all `n`: lan → ip6 → nat64-xlat (binding and session
//!   lookup, TCP-less UDP timer refresh) → the IPv4 route → wan.
//! - `siit/6to4`: the same packets through the stateless translator.
//!
//! Each measured iteration is one `poll_once` over a full burst injected
//! beforehand, as in benches/gtpu.rs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use xgw_engine::gen::template::{Encap, Spec, Vary, L4};
use xgw_engine::port::PortQueue;
use xgw_engine::testing::{router_drain, router_worker, ROUTER_HOST_A, ROUTER_PORT_A};
use xgw_engine::worker::Worker;
use xgw_pipelines::wire::ethernet::MacAddr;

const BURST: usize = 64;
const ROUTE4: &str = "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.2.0.2\"\n";

/// Flow `i`: client port `1 + i % 65535`, remote `10.9.0.(i / 65535)`.
fn frame(i: u32) -> Vec<u8> {
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

fn inject(w: &mut Worker, pool: &[Vec<u8>], at: &mut usize) {
    let PortQueue::Mem(q) = &mut w.ports[0] else {
        unreachable!()
    };
    for _ in 0..BURST {
        assert!(q.inject(&mut w.pool, &pool[*at % pool.len()]));
        *at += 1;
    }
}

fn measure(c: &mut Criterion, name: &str, n: u32, mut w: Worker) {
    let stride = (n / 4096).max(1);
    let pool: Vec<Vec<u8>> = (0..n.min(4096)).map(|k| frame(k * stride)).collect();
    let mut at = 0;
    for _ in 0..100 {
        inject(&mut w, &pool, &mut at);
        w.poll_once();
        router_drain(&mut w);
    }
    let mut g = c.benchmark_group("nat64");
    g.throughput(Throughput::Elements(BURST as u64));
    g.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                inject(&mut w, &pool, &mut at);
                let t0 = Instant::now();
                w.poll_once();
                t += t0.elapsed();
                let sent = router_drain(&mut w);
                debug_assert_eq!(sent, BURST);
            }
            t
        })
    });
    g.finish();
    let snap = w.stats.snapshot();
    let dropped: u64 = snap.iter().map(|p| p.dropped).sum();
    assert_eq!(dropped, 0, "{name}/{n}: drops in the benchmark");
}

fn stateful(c: &mut Criterion, n: u32) {
    let cfg = format!(
        "[nat64]\nmode = \"nat64\"\npool6 = \"64:ff9b::/96\"\n\
         pool4 = [ {{ address = \"10.2.0.1\", ports = [1, 65535] }} ]\nmax_sessions = {n}\n{ROUTE4}"
    );
    let (mut w, _rc) = router_worker(BURST, &cfg);
    // Make the n sessions (one packet each), then check they are there.
    let mut made = 0u32;
    while made < n {
        let PortQueue::Mem(q) = &mut w.ports[0] else {
            unreachable!()
        };
        let k = (n - made).min(BURST as u32);
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
    measure(c, "6to4", n, w);
}

fn siit(c: &mut Criterion) {
    let cfg = format!(
        "[nat64]\nmode = \"siit\"\npool6 = \"64:ff9b::/96\"\n\
         eam = [ {{ ipv6 = \"2001:db8:1::/120\", ipv4 = \"10.98.0.0/24\" }} ]\n{ROUTE4}"
    );
    let (w, _rc) = router_worker(BURST, &cfg);
    measure(c, "siit-6to4", 1024, w);
}

fn benches(c: &mut Criterion) {
    siit(c);
    for n in [1024, 1 << 20] {
        stateful(c, n);
    }
}

criterion_group! {
    name = nat64;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(nat64);
