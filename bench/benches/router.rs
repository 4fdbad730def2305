//! The router pipeline's per-packet cost on the mem port, from RX burst to
//! TX enqueue (parse, FIB lookup, TTL with incremental checksum, neighbour
//! hit, MAC rewrite), with large FIBs (1M IPv4 routes, 100k IPv6 routes)
//! and destinations spread over them, plus the ARP and NDP answer paths.
//!
//! Each measured iteration is one `poll_once` over a full burst injected
//! beforehand; injecting (a copy into UMEM, as the kernel does in AF_XDP
//! copy mode) and freeing the transmitted frames are outside the timing.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use etherparse::{Icmpv6Type, PacketBuilder};
use xgw_engine::testing::{router_drain, router_worker, ROUTER_HOST_A as HA, ROUTER_PORT_A as PA};
use xgw_engine::worker::Worker;
use xgw_pipelines::router::spec::{RouteSpec, RouteTarget};
use xgw_pipelines::router::table::Origin;

const BURST: usize = 64;

/// xorshift: reproducible spread of destinations.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn udp4(dst: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(HA, PA)
        .ipv4([10, 1, 0, 2], dst, 64)
        .udp(1000, 2000)
        .write(&mut f, &[0u8; 18])
        .unwrap();
    f
}

fn udp6(dst: [u8; 16]) -> Vec<u8> {
    let mut f = Vec::new();
    let src = "2001:db8:1::2"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    PacketBuilder::ethernet2(HA, PA)
        .ipv6(src, dst, 64)
        .udp(1000, 2000)
        .write(&mut f, &[0u8; 18])
        .unwrap();
    f
}

/// Routes `n` IPv4 /24s (from 11.0.0.0) or IPv6 /56s (from 2001:db9::)
/// via the wan gateway, published once.
fn load(rc: &mut xgw_engine::routectl::RouterControl, v6: bool, n: u32) {
    let rib = rc.rib_mut();
    for i in 0..n {
        let (prefix, len, gateway) = if v6 {
            let p = (0x2001_0db9u128 << 96) | ((i as u128) << 72);
            (
                std::net::Ipv6Addr::from(p).into(),
                56,
                "2001:db8:2::2".parse().unwrap(),
            )
        } else {
            let p = (11u32 << 24) + (i << 8);
            (
                std::net::Ipv4Addr::from(p).into(),
                24,
                "10.2.0.2".parse().unwrap(),
            )
        };
        rib.insert(
            RouteSpec {
                prefix,
                len,
                target: RouteTarget::Via { gateway, iface: 1 },
            },
            Origin::Runtime,
        )
        .expect("route");
    }
    rib.publish();
}

/// Bursts of frames drawn from `pool`, cycling.
fn run(
    c: &mut Criterion,
    group: &str,
    name: &str,
    mut w: Worker,
    pool: &[Vec<u8>],
    expect_tx: bool,
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BURST as u64));
    let mut at = 0;
    let mut next_burst = |w: &mut Worker| {
        let xgw_engine::port::PortQueue::Mem(q) = &mut w.ports[0] else {
            unreachable!()
        };
        for _ in 0..BURST {
            assert!(q.inject(&mut w.pool, &pool[at % pool.len()]));
            at += 1;
        }
    };
    // Warm up (start-up announcements go out too) and check the path
    // does what it should.
    let mut out = 0;
    for _ in 0..50 {
        next_burst(&mut w);
        w.poll_once();
        out = router_drain(&mut w);
    }
    assert_eq!(
        out == BURST,
        expect_tx,
        "{name}: {out} of {BURST} frames sent"
    );
    g.bench_function(BenchmarkId::new(name, BURST), |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                next_burst(&mut w);
                let t0 = Instant::now();
                let n = w.poll_once();
                t += t0.elapsed();
                debug_assert_eq!(n, BURST);
                router_drain(&mut w);
            }
            t
        })
    });
    g.finish();
    let snap = w.stats.snapshot();
    let dropped: u64 = snap.iter().map(|p| p.dropped).sum();
    assert_eq!(dropped, 0, "{name}: drops in the benchmark");
    assert!(w.frames_accounted());
}

fn route4(c: &mut Criterion) {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    // Small FIB: one route, hot.
    let (w, _rc) = router_worker(
        BURST,
        "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.2.0.2\"\n",
    );
    let pool: Vec<_> = (0..1024)
        .map(|i| udp4([10, 9, (i >> 8) as u8, i as u8]))
        .collect();
    run(c, "router", "ipv4/1-route", w, &pool, true);
    // 1M /24s, destinations spread over all of them.
    let (w, mut rc) = router_worker(BURST, "");
    load(&mut rc, false, 1_000_000);
    let pool: Vec<_> = (0..65536)
        .map(|_| {
            let i = (rng(&mut seed) % 1_000_000) as u32;
            let a = (11u32 << 24) + (i << 8) + 7;
            udp4(a.to_be_bytes())
        })
        .collect();
    run(c, "router", "ipv4/1M-routes", w, &pool, true);
}

fn route6(c: &mut Criterion) {
    let mut seed = 0x2545_f491_4f6c_dd1d;
    let (w, _rc) = router_worker(
        BURST,
        "[[routes]]\nprefix = \"2001:db8:9::/48\"\nvia = \"2001:db8:2::2\"\n",
    );
    let pool: Vec<_> = (0..1024u128)
        .map(|i| udp6(((0x2001_0db8_0009u128 << 80) | i).to_be_bytes()))
        .collect();
    run(c, "router", "ipv6/1-route", w, &pool, true);
    let (w, mut rc) = router_worker(BURST, "");
    load(&mut rc, true, 100_000);
    let pool: Vec<_> = (0..65536)
        .map(|_| {
            let i = (rng(&mut seed) % 100_000) as u128;
            udp6(((0x2001_0db9u128 << 96) | (i << 72) | 7).to_be_bytes())
        })
        .collect();
    run(c, "router", "ipv6/100k-routes", w, &pool, true);
}

fn neighbour_answers(c: &mut Criterion) {
    // ARP requests for us: answered in place.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&HA);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&HA);
    arp.extend_from_slice(&[10, 1, 0, 2, 0, 0, 0, 0, 0, 0, 10, 1, 0, 1]);
    let (w, _rc) = router_worker(BURST, "");
    run(c, "router", "arp-reply", w, &[arp], true);
    // Neighbor Solicitations for us: NA with TLLA.
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut ns = Vec::new();
    PacketBuilder::ethernet2(HA, [0x33, 0x33, 0xff, 0, 0, 1])
        .ipv6(v6("2001:db8:1::2"), v6("ff02::1:ff00:1"), 255)
        .icmpv6(Icmpv6Type::NeighborSolicitation)
        .write(&mut ns, &[&v6("2001:db8:1::1")[..], &[1, 1], &HA].concat())
        .unwrap();
    let (w, _rc) = router_worker(BURST, "");
    run(c, "router", "ndp-na", w, &[ns], true);
}

criterion_group!(benches, route4, route6, neighbour_answers);
criterion_main!(benches);
