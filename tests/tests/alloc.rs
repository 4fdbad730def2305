//! Zero allocations per burst in steady state, on the mem port: a counting
//! global allocator watches a worker forward frames between two loopback
//! mem ports (frames circulate: tx on a port feeds its own rx), and a
//! router worker takes every per-packet path (forwarding v4/v6, ARP, NDP,
//! echo, ICMP errors, tunnel encap/decap, drops) for over a second of
//! timers, neighbour views and histogram hand-offs.

use std::alloc::{GlobalAlloc, Layout, System};

use xgw_engine::testing::{l2fwd_worker, udp4_frame};

struct Counting;

thread_local! {
    /// This thread's allocations: the test harness runs tests on parallel
    /// threads, and one test's setup must not count against another.
    static MINE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn allocs() -> u64 {
    MINE.with(|c| c.get())
}

fn count() {
    // try_with: the thread-local may be gone while a thread exits.
    let _ = MINE.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_bursts_do_not_allocate() {
    let mut w = l2fwd_worker("mac", 64, 512, &udp4_frame());
    // Warm up: histogram buckets touched, hand-off queues cycled.
    for _ in 0..2_000 {
        w.poll_once();
    }
    let before_rx: u64 = w.stats.snapshot().iter().map(|p| p.rx).sum();
    let a0 = allocs();
    let mut moved = 0;
    let t = std::time::Instant::now();
    while t.elapsed() < std::time::Duration::from_millis(400) {
        // Long enough that histogram hand-offs (every 100 ms) happen too.
        for _ in 0..1000 {
            moved += w.poll_once();
        }
        // Give the histograms back as the stats thread would (outside the
        // measured worker path this is the control thread's job).
        while let Some(mut h) = w.stats.full.pop() {
            h.reset();
            let _ = w.stats.empty.push(h);
        }
    }
    let allocs = allocs() - a0;
    let after_rx: u64 = w.stats.snapshot().iter().map(|p| p.rx).sum();
    assert!(moved > 100_000, "only {moved} frames moved");
    assert_eq!(after_rx - before_rx, moved as u64);
    assert_eq!(
        allocs, 0,
        "{allocs} allocations while forwarding {moved} frames"
    );
    assert!(w.frames_accounted(), "every frame is in exactly one place");
    let snap = w.stats.snapshot();
    let (rx, tx, dropped): (u64, u64, u64) = snap
        .iter()
        .fold((0, 0, 0), |a, p| (a.0 + p.rx, a.1 + p.tx, a.2 + p.dropped));
    assert_eq!(rx, tx + dropped);
    assert_eq!(dropped, 0);
}

/// Frames for the router test: a mix of every per-packet path.
fn router_frames() -> Vec<(usize, Vec<u8>)> {
    use etherparse::{IpNumber, PacketBuilder};
    use xgw_engine::testing::{
        ROUTER_HOST_A as HA, ROUTER_HOST_B as HB, ROUTER_PORT_A as PA, ROUTER_PORT_B as PB,
    };
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut out = Vec::new();
    let mut push = |port: usize, f: Vec<u8>| out.push((port, f));
    let udp4 = |src: [u8; 4], dst: [u8; 4], ttl: u8| {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(HA, PA)
            .ipv4(src, dst, ttl)
            .udp(1000, 2000)
            .write(&mut f, &[0u8; 18])
            .unwrap();
        f
    };
    // Routed IPv4 and IPv6.
    push(0, udp4([10, 1, 0, 2], [10, 9, 0, 5], 64));
    let mut f = Vec::new();
    PacketBuilder::ethernet2(HA, PA)
        .ipv6(v6("2001:db8:1::2"), v6("2001:db8:9::5"), 64)
        .udp(1000, 2000)
        .write(&mut f, &[0u8; 18])
        .unwrap();
    push(0, f);
    // TTL 1: Time Exceeded (then the rate limit).
    push(0, udp4([10, 1, 0, 2], [10, 9, 0, 5], 1));
    // Echo request to us.
    let mut f = Vec::new();
    PacketBuilder::ethernet2(HA, PA)
        .ipv4([10, 1, 0, 2], [10, 1, 0, 1], 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut f, &[0u8; 16])
        .unwrap();
    push(0, f);
    // ARP request for us.
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&HA);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&HA);
    f.extend_from_slice(&[10, 1, 0, 2]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 1, 0, 1]);
    push(0, f);
    // Neighbor Solicitation for us (with the SLLA option).
    let mut f = Vec::new();
    PacketBuilder::ethernet2(HA, [0x33, 0x33, 0xff, 0, 0, 1])
        .ipv6(v6("2001:db8:1::2"), v6("ff02::1:ff00:1"), 255)
        .icmpv6(etherparse::Icmpv6Type::NeighborSolicitation)
        .write(&mut f, &[&v6("2001:db8:1::1")[..], &[1, 1], &HA].concat())
        .unwrap();
    push(0, f);
    // Into the 4in4 tunnel.
    push(0, udp4([10, 1, 0, 2], [10, 8, 0, 5], 64));
    // Out of it: 10.2.0.2 → 10.2.0.1 carrying 10.8.0.5 → 10.1.0.2.
    let mut inner = Vec::new();
    PacketBuilder::ipv4([10, 8, 0, 5], [10, 1, 0, 2], 64)
        .udp(2000, 1000)
        .write(&mut inner, &[0u8; 18])
        .unwrap();
    let mut f = Vec::new();
    PacketBuilder::ethernet2(HB, PB)
        .ipv4([10, 2, 0, 2], [10, 2, 0, 1], 64)
        .write(&mut f, IpNumber(4), &inner)
        .unwrap();
    push(1, f);
    // Garbage.
    push(1, vec![0xee; 60]);
    out
}

#[test]
fn router_bursts_do_not_allocate() {
    use xgw_engine::port::PortQueue;
    let (mut w, _rc) = xgw_engine::testing::router_worker(
        64,
        r#"
[[tunnels]]
name = "tun0"
kind = "4in4"
local = "10.2.0.1"
remote = "10.2.0.2"
[[routes]]
prefix = "10.9.0.0/16"
via = "10.2.0.2"
[[routes]]
prefix = "2001:db8:9::/48"
via = "2001:db8:2::2"
[[routes]]
prefix = "10.8.0.0/16"
interface = "tun0"
"#,
    );
    let frames = router_frames();
    let round = |w: &mut xgw_engine::worker::Worker| -> usize {
        for _ in 0..4 {
            for (port, f) in &frames {
                let PortQueue::Mem(q) = &mut w.ports[*port] else {
                    unreachable!("mem port")
                };
                assert!(q.inject(&mut w.pool, f));
            }
        }
        let n = w.poll_once();
        let mut out = 0;
        for p in 0..2 {
            let PortQueue::Mem(q) = &mut w.ports[p] else {
                unreachable!("mem port")
            };
            out += q.take_tx(&mut w.pool, |_| {});
        }
        while let Some(mut h) = w.stats.full.pop() {
            h.reset();
            let _ = w.stats.empty.push(h);
        }
        n + out
    };
    for _ in 0..2_000 {
        round(&mut w);
    }
    let a0 = allocs();
    let t = std::time::Instant::now();
    let mut rounds = 0;
    // Over a second: neighbour views (500 ms), histogram hand-offs
    // (100 ms) and timers (10 ms) all happen.
    while t.elapsed() < std::time::Duration::from_millis(1200) {
        round(&mut w);
        rounds += 1;
    }
    let allocs = allocs() - a0;
    assert!(rounds > 1000, "only {rounds} rounds");
    assert_eq!(allocs, 0, "{allocs} allocations in {rounds} router bursts");
    assert!(w.frames_accounted(), "every frame is in exactly one place");
    let s = w.stats.snapshot();
    let sum = |f: fn(&xgw_engine::stats::PortSnapshot) -> u64| s.iter().map(f).sum::<u64>();
    let (rx, em, tx, local, dropped, parked, unparked) = (
        sum(|p| p.rx),
        sum(|p| p.emitted),
        sum(|p| p.tx),
        sum(|p| p.local),
        sum(|p| p.dropped),
        sum(|p| p.parked),
        sum(|p| p.unparked),
    );
    assert_eq!(rx + em, tx + local + dropped + (parked - unparked));
    // Every path ran: forwarded, answered, encapsulated and dropped.
    assert!(tx > rx / 2, "tx {tx} of rx {rx}");
    assert!(dropped > 0, "garbage is dropped");
    assert!(em > 0, "replies and ICMP errors are emitted or rewritten");
}
