//! IP-in-IP tunnels: the router's per-packet cost of encapsulation and
//! decapsulation on the mem port, from RX burst to TX enqueue, for bursts
//! of 64-byte-inner UDP frames (a 46-byte IP packet: the classic 64-byte
//! Ethernet frame before encapsulation).
//!
//! - `encap`: lan → route into the tunnel → ipip-encap's code (outer
//!   header in the headroom, outer route) → the neighbour (static) → wan.
//! - `decap`: wan → ip4-local's registration for protocol 4 → IP-in-IP
//!   matches the tunnel and strips the outer header (RFC 6040 ECN) → the
//!   inner packet routed to the lan host.
//!
//! (Both through the router's fused path, which calls IP-in-IP's own code
//! through `registry::Fused`.)
//! - `forward`: the same inner packet routed lan → wan without a tunnel,
//!   measured in the same run for comparison.
//!
//! Each measured iteration is one `poll_once` over a full burst injected
//! beforehand; injecting (a copy into UMEM, as the kernel does in AF_XDP
//! copy mode) and freeing the transmitted frames are outside the timing.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket};
use xgw_engine::port::PortQueue;
use xgw_engine::testing::{
    router_drain, router_worker, ROUTER_HOST_A as HA, ROUTER_HOST_B as HB, ROUTER_PORT_A as PA,
    ROUTER_PORT_B as PB,
};
use xgw_engine::worker::Worker;

const BURST: usize = 64;

/// The fixture's lan is 10.1.0.1/24 (host 10.1.0.2) and its wan
/// 10.2.0.1/24 (far end 10.2.0.2, a static neighbour). The tunnels run
/// from wan to the far end; the far sites are 10.8.0.0/16 and
/// 2001:db8:8::/48.
const TUNNELS: &str = r#"
[[tunnels]]
name = "t44"
kind = "4in4"
local = "10.2.0.1"
remote = "10.2.0.2"
ipv4 = ["1.1.1.1/24"]

[[tunnels]]
name = "t66"
kind = "6in6"
local = "2001:db8:2::1"
remote = "2001:db8:2::2"
ipv6 = ["fd01:66::1/64"]

[[routes]]
prefix = "10.8.0.0/16"
via = "1.1.1.2"

[[routes]]
prefix = "2001:db8:8::/48"
via = "fd01:66::2"

[[routes]]
prefix = "10.9.0.0/16"
via = "10.2.0.2"
"#;

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

/// The inner packet, IPv4 or IPv6 UDP with 18 payload bytes, between the
/// lan host and far host `i` (`from_far`: the far host sends it).
fn inner(v6_inner: bool, from_far: bool, i: u16) -> Vec<u8> {
    let mut f = Vec::new();
    if v6_inner {
        let near = v6("2001:db8:1::2");
        let mut far = v6("2001:db8:8::");
        far[14..].copy_from_slice(&i.to_be_bytes());
        let (s, d) = if from_far { (far, near) } else { (near, far) };
        PacketBuilder::ipv6(s, d, 64)
            .udp(1000, 2000)
            .write(&mut f, &[0u8; 18])
            .unwrap();
    } else {
        let (near, far) = ([10, 1, 0, 2], [10, 8, (i >> 8) as u8, i as u8]);
        let (s, d) = if from_far { (far, near) } else { (near, far) };
        PacketBuilder::ipv4(s, d, 64)
            .udp(1000, 2000)
            .write(&mut f, &[0u8; 18])
            .unwrap();
    }
    f
}

/// A frame from the lan host carrying `ip`.
fn from_lan(ip: &[u8]) -> Vec<u8> {
    let et: u16 = if ip[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
    [&PA[..], &HA[..], &et.to_be_bytes()[..], ip].concat()
}

/// A frame from the far end of the tunnel carrying `ip` encapsulated.
fn from_far(ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    if ip[0] >> 4 == 6 {
        PacketBuilder::ethernet2(HB, PB)
            .ipv6(v6("2001:db8:2::2"), v6("2001:db8:2::1"), 64)
            .write(&mut f, etherparse::IpNumber(41), ip)
            .unwrap();
    } else {
        PacketBuilder::ethernet2(HB, PB)
            .ipv4([10, 2, 0, 2], [10, 2, 0, 1], 64)
            .write(&mut f, etherparse::IpNumber(4), ip)
            .unwrap();
    }
    f
}

/// What one transmitted frame looks like: (outer protocol or next header
/// if encapsulated, IP packet length).
fn shape(f: &[u8]) -> (Option<u8>, usize) {
    let s = SlicedPacket::from_ethernet(f).expect("a frame xgw sent parses");
    match s.net {
        Some(NetSlice::Ipv4(ip)) => {
            let p = ip.header().protocol().0;
            (
                (p == 4 || p == 41).then_some(p),
                ip.header().total_len() as usize,
            )
        }
        Some(NetSlice::Ipv6(ip)) => {
            let p = ip.header().next_header().0;
            (
                (p == 4 || p == 41).then_some(p),
                40 + ip.header().payload_length() as usize,
            )
        }
        _ => panic!("not IP: {f:02x?}"),
    }
}

/// Bursts of frames drawn from `pool` injected on `port`; `want` is the
/// shape every transmitted frame must have.
fn run(
    c: &mut Criterion,
    name: &str,
    mut w: Worker,
    port: usize,
    pool: &[Vec<u8>],
    want: (Option<u8>, usize),
) {
    let mut g = c.benchmark_group("ipip");
    g.throughput(Throughput::Elements(BURST as u64));
    let mut at = 0;
    let mut next_burst = |w: &mut Worker| {
        let PortQueue::Mem(q) = &mut w.ports[port] else {
            unreachable!()
        };
        for _ in 0..BURST {
            assert!(q.inject(&mut w.pool, &pool[at % pool.len()]));
            at += 1;
        }
    };
    // Warm up (the start-up announcements go out too), then check that a
    // burst does what the name says.
    for _ in 0..50 {
        next_burst(&mut w);
        w.poll_once();
        router_drain(&mut w);
    }
    next_burst(&mut w);
    w.poll_once();
    let mut shapes = Vec::new();
    for p in &mut w.ports {
        if let PortQueue::Mem(q) = p {
            q.take_tx(&mut w.pool, |f| shapes.push(shape(f)));
        }
    }
    assert_eq!(shapes.len(), BURST, "{name}: frames sent of a burst");
    assert!(
        shapes.iter().all(|&s| s == want),
        "{name}: sent {:?}, want {want:?}",
        shapes[0]
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

fn ipip(c: &mut Criterion) {
    for (kind, v6_inner, proto, oh) in [("4in4", false, 4u8, 20usize), ("6in6", true, 41, 40)] {
        let ilen = if v6_inner { 66 } else { 46 };
        let enc: Vec<_> = (0..256)
            .map(|i| from_lan(&inner(v6_inner, false, i)))
            .collect();
        let dec: Vec<_> = (0..256)
            .map(|i| from_far(&inner(v6_inner, true, i)))
            .collect();
        let (w, _rc) = router_worker(BURST, TUNNELS);
        run(
            c,
            &format!("{kind}/encap"),
            w,
            0,
            &enc,
            (Some(proto), oh + ilen),
        );
        let (w, _rc) = router_worker(BURST, TUNNELS);
        run(c, &format!("{kind}/decap"), w, 1, &dec, (None, ilen));
    }
    // The same inner packets routed without a tunnel (10.9.0.0/16 via the
    // wan gateway), in the same run.
    let fwd: Vec<_> = (0..256u16)
        .map(|i| {
            let mut ip = inner(false, false, i);
            ip[17] = 9; // 10.8.x.y -> 10.9.x.y
            let c = etherparse::Ipv4HeaderSlice::from_slice(&ip)
                .unwrap()
                .to_header()
                .calc_header_checksum();
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            from_lan(&ip)
        })
        .collect();
    let (w, _rc) = router_worker(BURST, TUNNELS);
    run(c, "ipv4/forward", w, 0, &fwd, (None, 46));
}

criterion_group!(benches, ipip);
criterion_main!(benches);
