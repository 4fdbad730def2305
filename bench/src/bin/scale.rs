//! Cost per packet with a small and with a large session table, measured
//! interleaved in one process: the issues' "1k vs 1M sessions ≤ 1.3×".
//!
//! ```text
//! scale [CASE ...]        # gtpu-encap gtpu-decap nat64-6to4 (default: all)
//! ```
//!
//! For each case it builds two workers, one with 1024 sessions and one
//! with 1048576, and feeds each the frames of 4096 (or 1024) sessions
//! scattered over its whole table ([`xgw_bench::scattered`]). Then, for
//! `ROUNDS` rounds, it times `BURSTS` calls of `Worker::poll_once` (a
//! full burst of 64 waiting each time, fed and drained outside the
//! timing, as the criterion benches do) on one worker and then on the
//! other, the order alternating. On this shared, noisy machine criterion's
//! 1k and 1M runs come minutes apart and their ratio moves with the
//! neighbours' load; here both see the same minute. It prints each
//! table's median ns per burst and per packet, the median of the rounds'
//! ratios (large / small: the figure the issues ask for) and the lowest
//! and highest round ratio. It fails if a frame is dropped or a burst
//! does not leave whole.
//!
//! Knobs (environment): ROUNDS=21 BURSTS=2000.

use std::process::ExitCode;
use std::time::Instant;

use xgw_bench::gtpu::{downlink, gtpu_worker, uplink};
use xgw_bench::nat64::stateful_worker;
use xgw_engine::port::PortQueue;
use xgw_engine::testing::router_drain;
use xgw_engine::worker::Worker;

const BURST: usize = 64;
const SMALL: u32 = 1024;
const LARGE: u32 = 1 << 20;

/// A worker and what it is fed.
struct Rig {
    w: Worker,
    port: usize,
    pool: Vec<Vec<u8>>,
    at: usize,
}

impl Rig {
    fn new(case: &str, n: u32) -> Result<Rig, String> {
        let (w, port, pool) = match case {
            "gtpu-encap" => (
                gtpu_worker(BURST, n, false).0,
                0,
                xgw_bench::scattered(n, 4096)
                    .map(|i| downlink(i, false))
                    .collect(),
            ),
            "gtpu-decap" => (
                gtpu_worker(BURST, n, false).0,
                1,
                xgw_bench::scattered(n, 4096)
                    .map(|i| uplink(i, false, false))
                    .collect(),
            ),
            "nat64-6to4" => (stateful_worker(BURST, n), 0, xgw_bench::nat64::pool(n)),
            _ => return Err(format!("unknown case {case}")),
        };
        let mut r = Rig {
            w,
            port,
            pool,
            at: 0,
        };
        for _ in 0..200 {
            r.burst()?;
        }
        Ok(r)
    }

    /// One burst: fed, then timed through `poll_once`, then drained.
    fn burst(&mut self) -> Result<u128, String> {
        let PortQueue::Mem(q) = &mut self.w.ports[self.port] else {
            return Err("not a mem port".into());
        };
        for _ in 0..BURST {
            if !q.inject(&mut self.w.pool, &self.pool[self.at % self.pool.len()]) {
                return Err("the pool ran out of frames".into());
            }
            self.at += 1;
        }
        let t0 = Instant::now();
        self.w.poll_once();
        let ns = t0.elapsed().as_nanos();
        let sent = router_drain(&mut self.w);
        // (More: the router's own frames, advertisements and the like.)
        if sent < BURST {
            return Err(format!("a burst sent {sent} of {BURST} frames"));
        }
        Ok(ns)
    }

    fn run(&mut self, bursts: usize) -> Result<f64, String> {
        let mut t = 0u128;
        for _ in 0..bursts {
            t += self.burst()?;
        }
        Ok(t as f64 / bursts as f64)
    }

    fn dropped(&self) -> u64 {
        self.w.stats.snapshot().iter().map(|p| p.dropped).sum()
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn case(name: &str, rounds: usize, bursts: usize) -> Result<(), String> {
    let t0 = Instant::now();
    let mut small = Rig::new(name, SMALL)?;
    let mut large = Rig::new(name, LARGE)?;
    eprintln!(
        "[scale] {name}: workers with {SMALL} and {LARGE} sessions ready in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (mut s, mut l, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..rounds {
        let (a, b) = if k % 2 == 0 {
            let a = small.run(bursts)?;
            (a, large.run(bursts)?)
        } else {
            let b = large.run(bursts)?;
            (small.run(bursts)?, b)
        };
        s.push(a);
        l.push(b);
        r.push(b / a);
    }
    for (rig, n) in [(&small, SMALL), (&large, LARGE)] {
        if rig.dropped() != 0 {
            return Err(format!("{name}/{n}: {} frames dropped", rig.dropped()));
        }
    }
    let (ms, ml, mr) = (median(&mut s), median(&mut l), median(&mut r));
    println!(
        "{name:<12} {ms:>9.0} {ml:>9.0} {:>7.1} {:>7.1} {mr:>7.2} {:>5.2}..{:.2}",
        ms / BURST as f64,
        ml / BURST as f64,
        r[0],
        r[r.len() - 1],
    );
    Ok(())
}

fn main() -> ExitCode {
    let rounds = env("ROUNDS", 21).max(1);
    let bursts = env("BURSTS", 2000).max(1);
    let mut cases: Vec<String> = std::env::args().skip(1).collect();
    if cases.is_empty() {
        cases = ["gtpu-encap", "gtpu-decap", "nat64-6to4"]
            .map(String::from)
            .to_vec();
    }
    println!(
        "{:<12} {:>9} {:>9} {:>7} {:>7} {:>7} {:>11}",
        "case", "1k ns/b", "1M ns/b", "1k ns/p", "1M ns/p", "1M/1k", "rounds"
    );
    for c in &cases {
        if let Err(e) = case(c, rounds, bursts) {
            eprintln!("[scale] {c}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
