//! Longest-prefix match with large FIBs: 1M IPv4 routes (DIR-24-8) and
//! 100k IPv6 routes (16-bit root + 8-bit levels), lookups in bursts of 64,
//! and the control-plane costs of publishing a snapshot.
//!
//! `lookup_cold` walks 1M pre-drawn destinations 64 at a time (the tables
//! do not fit in cache, so most lookups miss it); `lookup_hot` repeats one
//! burst of 64 (cache-resident: the best case).

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use xgw_pipelines::fib::{Fib4, Fib6};

const BURST: usize = 64;
const DESTS: usize = 1 << 20;
const V4_ROUTES: usize = 1_000_000;
const V6_ROUTES: usize = 100_000;

/// xorshift64*: deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// Mostly /24 (60%) and /16–/23 (36%), a few /8–/15 (2%) and 2% longer
/// than /24 inside 4096 "customer" /24s (so ~4k tbl8 groups), all in
/// 1.0.0.0–223.255.255.255, plus a default route for misses.
fn build_v4() -> (Fib4, Vec<(u32, u8)>) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let unicast = |rng: &mut Rng| 0x0100_0000 + rng.below(0xdf00_0000) as u32;
    let customers: Vec<u32> = (0..4096).map(|_| unicast(&mut rng) & !0xff).collect();
    let mut fib = Fib4::new();
    fib.insert(Ipv4Addr::UNSPECIFIED, 0, 0).unwrap();
    let mut routes = Vec::with_capacity(V4_ROUTES);
    while fib.len() < V4_ROUTES + 1 {
        let r = rng.below(100);
        let (base, len) = match r {
            0..60 => (unicast(&mut rng), 24),
            60..96 => (unicast(&mut rng), 16 + rng.below(8) as u8),
            96..98 => (unicast(&mut rng), 8 + rng.below(8) as u8),
            _ => (
                customers[rng.below(4096) as usize] | rng.below(256) as u32,
                25 + rng.below(8) as u8,
            ),
        };
        let p = base & (u32::MAX << (32 - len));
        let nh = 1 + rng.below(4096) as u32;
        if fib.insert(Ipv4Addr::from(p), len, nh).unwrap().is_none() {
            routes.push((p, len));
        }
    }
    (fib, routes)
}

/// 8192 /32 "allocations" in 2000::/3; within them mostly /48 (60%),
/// /33–/47 (17%), /49–/64 (15%), /128 (3%), and the allocations
/// themselves or shorter (/19–/32, 5%); plus ::/0 for misses.
fn build_v6() -> (Fib6, Vec<(u128, u8)>) {
    let mut rng = Rng(0xfeed_face_0bad_f00d);
    let rand128 = |rng: &mut Rng| (u128::from(rng.next()) << 64) | u128::from(rng.next());
    let allocs: Vec<u128> = (0..8192)
        .map(|_| (0x2u128 << 124) | (rand128(&mut rng) >> 3) & (u128::MAX << 96))
        .collect();
    let mut fib = Fib6::new();
    fib.insert(Ipv6Addr::UNSPECIFIED, 0, 0).unwrap();
    let mut routes = Vec::with_capacity(V6_ROUTES);
    while fib.len() < V6_ROUTES + 1 {
        let len = match rng.below(100) {
            0..60 => 48,
            60..77 => 33 + rng.below(15) as u8,
            77..92 => 49 + rng.below(16) as u8,
            92..95 => 128,
            _ => 19 + rng.below(14) as u8,
        };
        let a = allocs[rng.below(8192) as usize] | (rand128(&mut rng) >> 32);
        let p = a & (u128::MAX << (128 - u32::from(len)));
        let nh = 1 + rng.below(4096) as u32;
        match fib.insert(Ipv6Addr::from(p), len, nh) {
            Ok(None) => routes.push((p, len)),
            Ok(Some(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    (fib, routes)
}

/// Destinations inside random routes (a random host of the prefix).
fn dests<T: Copy>(n: usize, routes: &[(T, u8)], host: impl Fn(T, u8, u64) -> T) -> Vec<T> {
    let mut rng = Rng(99);
    (0..n)
        .map(|_| {
            let (p, l) = routes[rng.below(routes.len() as u64) as usize];
            host(p, l, rng.next())
        })
        .collect()
}

fn v4(c: &mut Criterion) {
    let rss0 = rss_bytes();
    let t = Instant::now();
    let (mut fib, routes) = build_v4();
    let took = t.elapsed();
    let (groups, max) = fib.groups();
    eprintln!(
        "fib4: {} routes built in {:.2?} ({:.0} ns/insert); table {:.1} MiB, \
         tbl8 groups {groups}/{max}; process RSS grew {:.1} MiB (table + route set)",
        fib.len(),
        took,
        took.as_nanos() as f64 / fib.len() as f64,
        mib(fib.memory_bytes()),
        mib(rss_bytes().saturating_sub(rss0)),
    );
    let t = Instant::now();
    let full = black_box(fib.clone());
    eprintln!(
        "fib4: one full clone (table + route set) took {:.2?}",
        t.elapsed()
    );
    drop(full);

    let cold: Vec<u32> = dests(DESTS, &routes, |p, l, r| {
        p | (r as u32 & u32::MAX.checked_shr(u32::from(l)).unwrap_or(0))
    });
    let mut g = c.benchmark_group("fib4");
    g.throughput(Throughput::Elements(BURST as u64));
    let table = fib.snapshot();
    let mut i = 0;
    g.bench_function("lookup_cold/64", |b| {
        b.iter(|| {
            let burst = &cold[i..i + BURST];
            i = (i + BURST) % DESTS;
            let mut acc = 0u32;
            for &a in burst {
                acc = acc.wrapping_add(table.lookup_u32(a).unwrap_or(u32::MAX));
            }
            acc
        })
    });
    let hot = &cold[..BURST];
    g.bench_function("lookup_hot/64", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for &a in black_box(hot) {
                acc = acc.wrapping_add(table.lookup_u32(a).unwrap_or(u32::MAX));
            }
            acc
        })
    });
    drop(table);
    g.throughput(Throughput::Elements(1));
    g.bench_function("snapshot", |b| b.iter(|| fib.snapshot()));
    // One route change published: take a snapshot (workers hold it), then
    // change the FIB — the change copies the 256 KiB tbl24 chunk it touches.
    let mut rng = Rng(5);
    g.bench_function("insert_24_with_live_snapshot", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let p = Ipv4Addr::from((0x0100_0000 + rng.below(0xdf00_0000) as u32) & !0xff);
                let snap = fib.snapshot();
                let t = Instant::now();
                black_box(fib.insert(p, 24, 7).unwrap());
                spent += t.elapsed();
                fib.remove(p, 24);
                drop(snap);
            }
            spent
        })
    });
    g.bench_function("insert_28_with_live_snapshot", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let p = Ipv4Addr::from((0x0100_0000 + rng.below(0xdf00_0000) as u32) & !0xf);
                let snap = fib.snapshot();
                let t = Instant::now();
                black_box(fib.insert(p, 28, 7).unwrap());
                spent += t.elapsed();
                fib.remove(p, 28);
                drop(snap);
            }
            spent
        })
    });
    g.sample_size(10);
    g.bench_function("clone_full", |b| b.iter(|| fib.clone()));
    g.bench_function("insert_24_into_full_clone", |b| {
        b.iter_batched(
            || fib.clone(),
            |mut f| {
                f.insert(Ipv4Addr::new(203, 0, 113, 0), 24, 7).unwrap();
                f
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn v6(c: &mut Criterion) {
    let rss0 = rss_bytes();
    let t = Instant::now();
    let (mut fib, routes) = build_v6();
    let took = t.elapsed();
    let (groups, max) = fib.groups();
    eprintln!(
        "fib6: {} routes built in {:.2?} ({:.0} ns/insert); table {:.1} MiB, \
         groups {groups}/{max}; process RSS grew {:.1} MiB (table + route set)",
        fib.len(),
        took,
        took.as_nanos() as f64 / fib.len() as f64,
        mib(fib.memory_bytes()),
        mib(rss_bytes().saturating_sub(rss0)),
    );
    let cold: Vec<u128> = dests(DESTS, &routes, |p, l, r| {
        let r = (u128::from(r) << 64) | u128::from(r.rotate_left(17));
        p | (r & u128::MAX.checked_shr(u32::from(l)).unwrap_or(0))
    });
    let mut g = c.benchmark_group("fib6");
    g.throughput(Throughput::Elements(BURST as u64));
    let table = fib.snapshot();
    let mut i = 0;
    g.bench_function("lookup_cold/64", |b| {
        b.iter(|| {
            let burst = &cold[i..i + BURST];
            i = (i + BURST) % DESTS;
            let mut acc = 0u32;
            for &a in burst {
                acc = acc.wrapping_add(table.lookup_u128(a).unwrap_or(u32::MAX));
            }
            acc
        })
    });
    let mut out = [None; BURST];
    g.bench_function("lookup_burst_cold/64", |b| {
        b.iter(|| {
            let burst = &cold[i..i + BURST];
            i = (i + BURST) % DESTS;
            table.lookup_burst(burst, &mut out);
            out.iter()
                .fold(0u32, |acc, o| acc.wrapping_add(o.unwrap_or(u32::MAX)))
        })
    });
    let hot = &cold[..BURST];
    g.bench_function("lookup_hot/64", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for &a in black_box(hot) {
                acc = acc.wrapping_add(table.lookup_u128(a).unwrap_or(u32::MAX));
            }
            acc
        })
    });
    drop(table);
    g.throughput(Throughput::Elements(1));
    g.bench_function("snapshot", |b| b.iter(|| fib.snapshot()));
    let mut rng = Rng(6);
    g.bench_function("insert_48_with_live_snapshot", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let p =
                    Ipv6Addr::from((0x2001u128 << 112) | (u128::from(rng.below(1 << 32)) << 80));
                let snap = fib.snapshot();
                let t = Instant::now();
                black_box(fib.insert(p, 48, 7).unwrap());
                spent += t.elapsed();
                fib.remove(p, 48);
                drop(snap);
            }
            spent
        })
    });
    g.sample_size(10);
    g.bench_function("clone_full", |b| b.iter(|| fib.clone()));
    g.finish();
}

criterion_group!(benches, v4, v6);
criterion_main!(benches);
