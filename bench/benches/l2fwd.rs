//! The runtime's own per-packet cost: a worker forwarding between two
//! in-memory ports with the L2 cross-connect (testpmd io/mac equivalent).
//! Each iteration is one `poll_once` = one burst from each port, RX to TX
//! enqueue, with stats and histograms as in production.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use xgw_bench::{l2fwd_worker, udp4_frame};
use xgw_pipelines::l2fwd::{L2Fwd, MacMode, Side};
use xgw_pipelines::{Ctx, NoEmit, Packet, PortId, Stage, Verdict};

fn runtime(c: &mut Criterion) {
    let mut g = c.benchmark_group("l2fwd_runtime");
    for mode in ["io", "mac"] {
        for burst in [32usize, 64, 256] {
            let mut w = l2fwd_worker(mode, burst, 4 * burst, &udp4_frame());
            for _ in 0..100 {
                w.poll_once();
            }
            assert_eq!(
                w.poll_once(),
                2 * burst,
                "steady state moves two full bursts per poll"
            );
            g.throughput(Throughput::Elements(2 * burst as u64));
            g.bench_with_input(BenchmarkId::new(mode, burst), &burst, |b, _| {
                b.iter(|| w.poll_once())
            });
            assert!(w.frames_accounted());
        }
    }
    g.finish();
}

/// The stage alone, without the runtime around it.
fn stage(c: &mut Criterion) {
    let side = |p: u16| Side {
        port: PortId(p),
        mac: Default::default(),
        peer: Default::default(),
    };
    let mut st = L2Fwd::new(MacMode::Rewrite, &[(side(0), side(1))]);
    let mut bufs: Vec<Vec<u8>> = (0..64).map(|_| udp4_frame()).collect();
    let sel: Vec<u16> = (0..64).collect();
    let mut v = vec![Verdict::Local; 64];
    let mut g = c.benchmark_group("l2fwd_stage");
    g.throughput(Throughput::Elements(64));
    g.bench_function("mac/64", |b| {
        b.iter(|| {
            let mut pkts: Vec<Packet<'_>> = bufs
                .iter_mut()
                .map(|f| Packet::new(f, 0, 60, PortId(0)).unwrap())
                .collect();
            st.process(&mut Ctx::new(0, &mut NoEmit), &mut pkts, &sel, &mut v);
        })
    });
    g.finish();
}

criterion_group!(benches, runtime, stage);
criterion_main!(benches);
