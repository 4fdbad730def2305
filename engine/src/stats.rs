//! Lock-free statistics.
//!
//! Each worker owns one [`WorkerStats`] and is its only writer: counters
//! are plain Relaxed load+store (no locked instruction), padded to cache
//! lines per port. A per-worker sequence number brackets each burst's
//! updates (a single-writer seqlock) so a reader never sees a burst half
//! counted: `rx = tx + dropped + pending` holds in every snapshot.
//! Histograms (burst latency, burst size) are recorded worker-locally and
//! handed to the stats side through a bounded lock-free queue, with the
//! emptied ones coming back, so nothing is allocated in steady state.

use std::sync::atomic::{fence, AtomicU64, Ordering::*};

use crossbeam::queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use xgw_pipelines::DropReason;

/// Adds to a counter that only the calling thread writes.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Counters of one port as seen by one worker.
pub struct PortCounters {
    pub rx: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Frames xgw made itself (ARP requests, solicitations…) for this port;
    /// they are part of `tx` (or of `dropped` if the TX ring was full).
    pub emitted: AtomicU64,
    /// Frames that arrived on this port and were consumed by xgw itself
    /// (`Verdict::Local`: ARP replies and advertisements it learned from).
    pub local: AtomicU64,
    /// Frames from this port the pipeline parked / that left the lot again
    /// (pending = parked − unparked).
    pub parked: AtomicU64,
    pub unparked: AtomicU64,
    /// Frames that arrived on this port and were dropped (sum of `drops`).
    pub dropped: AtomicU64,
    pub drops: [AtomicU64; DropReason::COUNT],
}

impl Default for PortCounters {
    fn default() -> Self {
        PortCounters {
            rx: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            tx: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            local: AtomicU64::new(0),
            parked: AtomicU64::new(0),
            unparked: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A plain copy of [`PortCounters`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSnapshot {
    pub rx: u64,
    pub rx_bytes: u64,
    pub tx: u64,
    pub tx_bytes: u64,
    pub emitted: u64,
    pub local: u64,
    pub parked: u64,
    pub unparked: u64,
    pub dropped: u64,
    pub drops: Vec<u64>,
}

impl PortSnapshot {
    pub fn add(&mut self, o: &PortSnapshot) {
        self.rx += o.rx;
        self.rx_bytes += o.rx_bytes;
        self.tx += o.tx;
        self.tx_bytes += o.tx_bytes;
        self.emitted += o.emitted;
        self.local += o.local;
        self.parked += o.parked;
        self.unparked += o.unparked;
        self.dropped += o.dropped;
        if self.drops.len() < o.drops.len() {
            self.drops.resize(o.drops.len(), 0);
        }
        for (a, b) in self.drops.iter_mut().zip(&o.drops) {
            *a += b;
        }
    }
}

/// Histograms a worker fills between hand-offs.
pub struct Hists {
    /// Nanoseconds from a burst's RX to its last TX enqueue.
    pub latency_ns: Histogram<u64>,
    /// Frames per non-empty burst.
    pub burst_size: Histogram<u64>,
}

impl Hists {
    pub fn new() -> Self {
        Hists {
            latency_ns: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("static bounds"),
            burst_size: Histogram::new_with_bounds(1, 1024, 3).expect("static bounds"),
        }
    }

    pub fn reset(&mut self) {
        self.latency_ns.reset();
        self.burst_size.reset();
    }

    pub fn add(&mut self, o: &Hists) {
        // Same bounds on both sides: cannot fail or allocate.
        let _ = self.latency_ns.add(&o.latency_ns);
        let _ = self.burst_size.add(&o.burst_size);
    }
}

impl Default for Hists {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything one worker publishes.
pub struct WorkerStats {
    pub id: usize,
    pub core: Option<usize>,
    seq: CachePadded<AtomicU64>,
    pub ports: Box<[CachePadded<PortCounters>]>,
    pub bursts: AtomicU64,
    pub idle_polls: AtomicU64,
    /// Frames a stage wanted to emit but could not (no free frame, emit
    /// queue full).
    pub emit_failed: AtomicU64,
    /// Gauges: where the worker's frames are (refreshed every ~100 ms).
    pub frames_total: AtomicU64,
    pub frames_free: AtomicU64,
    pub frames_in_ports: AtomicU64,
    pub frames_pending: AtomicU64,
    /// Filled histograms, worker → stats side.
    pub full: ArrayQueue<Box<Hists>>,
    /// Emptied histograms, stats side → worker.
    pub empty: ArrayQueue<Box<Hists>>,
}

impl WorkerStats {
    pub fn new(id: usize, core: Option<usize>, ports: usize) -> Self {
        let empty = ArrayQueue::new(2);
        let _ = empty.push(Box::new(Hists::new()));
        let _ = empty.push(Box::new(Hists::new()));
        WorkerStats {
            id,
            core,
            seq: CachePadded::new(AtomicU64::new(0)),
            ports: (0..ports)
                .map(|_| CachePadded::new(PortCounters::default()))
                .collect(),
            bursts: AtomicU64::new(0),
            idle_polls: AtomicU64::new(0),
            emit_failed: AtomicU64::new(0),
            frames_total: AtomicU64::new(0),
            frames_free: AtomicU64::new(0),
            frames_in_ports: AtomicU64::new(0),
            frames_pending: AtomicU64::new(0),
            full: ArrayQueue::new(2),
            empty,
        }
    }

    /// Opens a write section (worker only).
    #[inline]
    pub fn begin(&self) {
        let s = self.seq.load(Relaxed);
        self.seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
    }

    /// Closes a write section (worker only).
    #[inline]
    pub fn end(&self) {
        let s = self.seq.load(Relaxed);
        self.seq.store(s.wrapping_add(1), Release);
    }

    /// Counts one dropped frame that arrived on `port`.
    #[inline]
    pub fn drop_one(&self, port: usize, reason: DropReason) {
        let p = &self.ports[port];
        bump(&p.drops[reason.index()], 1);
        bump(&p.dropped, 1);
    }

    /// A consistent copy of all port counters (never half a burst).
    pub fn snapshot(&self) -> Vec<PortSnapshot> {
        loop {
            let s1 = self.seq.load(Acquire);
            if s1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let snap: Vec<PortSnapshot> = self
                .ports
                .iter()
                .map(|p| PortSnapshot {
                    rx: p.rx.load(Relaxed),
                    rx_bytes: p.rx_bytes.load(Relaxed),
                    tx: p.tx.load(Relaxed),
                    tx_bytes: p.tx_bytes.load(Relaxed),
                    emitted: p.emitted.load(Relaxed),
                    local: p.local.load(Relaxed),
                    parked: p.parked.load(Relaxed),
                    unparked: p.unparked.load(Relaxed),
                    dropped: p.dropped.load(Relaxed),
                    drops: p.drops.iter().map(|d| d.load(Relaxed)).collect(),
                })
                .collect();
            fence(Acquire);
            if self.seq.load(Relaxed) == s1 {
                return snap;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn snapshots_never_see_half_a_burst() {
        let w = Arc::new(WorkerStats::new(0, None, 2));
        let stop = Arc::new(AtomicBool::new(false));
        let (w2, stop2) = (w.clone(), stop.clone());
        let writer = std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop2.load(Relaxed) {
                w2.begin();
                bump(&w2.ports[0].rx, 3);
                bump(&w2.ports[1].tx, 2);
                w2.drop_one(0, DropReason::L2Runt);
                w2.end();
                i += 1;
                // A real worker spends most of its time between sections
                // (polling, processing); give the reader those gaps too.
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
            }
            i
        });
        // Keep reading until the writer has really raced us for a while
        // (threads may start late on a loaded machine).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut reads = 0u64;
        loop {
            let s = w.snapshot();
            assert_eq!(s[0].rx, s[1].tx + s[0].dropped, "{s:?}");
            assert_eq!(s[0].drops[DropReason::L2Runt.index()], s[0].dropped);
            reads += 1;
            if (s[0].dropped >= 10_000 && reads >= 1_000) || std::time::Instant::now() > deadline {
                break;
            }
        }
        stop.store(true, Relaxed);
        let writes = writer.join().unwrap();
        assert!(
            writes >= 10_000,
            "writer only managed {writes} bursts in 20 s"
        );
    }

    #[test]
    fn hists_merge() {
        let mut a = Hists::new();
        let mut b = Hists::new();
        a.burst_size.record(32).unwrap();
        b.burst_size.record(64).unwrap();
        a.add(&b);
        assert_eq!(a.burst_size.len(), 2);
        a.reset();
        assert_eq!(a.burst_size.len(), 0);
    }
}
