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
//!
//! Per-node runtime figures ([`NodeCounters`]: calls, vectors, packets,
//! cycles of every node of the worker's pipeline) live here too, sized
//! from the pipeline's node list when the worker is built. They have the
//! same single writer and are written inside the same sections: the worker
//! runs its pipeline inside the burst's write section, so a consistent
//! snapshot has the figures of exactly the bursts its port counters have.
//! Cycles come from [`now_tsc`] (RDTSC); [`tsc_hz`] converts them to time.
//!
//! A worker that panics is marked dead here ([`WorkerStats::mark_dead`],
//! from its thread as it unwinds); readers never wait on a dead worker,
//! and wait at most [`READ_PATIENCE`] on a live one, so a worker that died
//! inside a write section (sequence left odd) cannot hang the stats side.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::*};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use xgw_pipelines::{DropReason, NodeCounters, NodeInfo};

/// The cycle counter node runners read (twice per node call): the TSC on
/// x86_64.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn now_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter; every x86_64 CPU
    // has it and it touches no memory. `_rdtsc` is an `unsafe fn` only
    // because arch intrinsics are (it needs no target feature).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Elsewhere the monotonic clock in nanoseconds stands in for a cycle
/// counter ([`tsc_hz`] is then 10^9).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn now_tsc() -> u64 {
    crate::umem::now_ns()
}

/// Ticks of [`now_tsc`] per second. Measured once (the first call takes
/// about 50 ms) against CLOCK_MONOTONIC; later calls return the figure.
pub fn tsc_hz() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1_000_000_000;
        }
        let (n0, c0) = (crate::umem::now_ns(), now_tsc());
        std::thread::sleep(Duration::from_millis(50));
        let (n1, c1) = (crate::umem::now_ns(), now_tsc());
        let ns = n1.saturating_sub(n0).max(1) as u128;
        let hz = (c1.wrapping_sub(c0) as u128 * 1_000_000_000 / ns) as u64;
        hz.max(1)
    })
}

/// A plain copy of one node's [`NodeCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSnapshot {
    pub calls: u64,
    pub vectors: u64,
    pub packets: u64,
    pub cycles: u64,
}

impl NodeSnapshot {
    pub fn add(&mut self, o: &NodeSnapshot) {
        self.calls += o.calls;
        self.vectors += o.vectors;
        self.packets += o.packets;
        self.cycles += o.cycles;
    }
}

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
    /// The pipeline's nodes and their runtime figures (same index).
    pub node_info: Box<[NodeInfo]>,
    pub nodes: Box<[NodeCounters]>,
    /// Set once, when the worker's thread dies (panics); never cleared.
    dead: AtomicBool,
    /// Why it died (the panic message and location), set before `dead`.
    death: OnceLock<String>,
}

/// How long a reader retries a snapshot while a live worker is inside a
/// write section (one burst: microseconds, unless the worker lost its CPU)
/// before it gives up and reports the figures as torn.
pub const READ_PATIENCE: Duration = Duration::from_millis(100);

/// A copy of a worker's port and node counters and whether it is
/// consistent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Read {
    pub ports: Vec<PortSnapshot>,
    pub nodes: Vec<NodeSnapshot>,
    /// The copy may contain half a burst: the worker was inside a write
    /// section on every try (it died there, or was stalled for longer
    /// than [`READ_PATIENCE`]).
    pub torn: bool,
}

impl WorkerStats {
    /// Stats for a worker without pipeline nodes (see
    /// [`WorkerStats::with_nodes`]).
    pub fn new(id: usize, core: Option<usize>, ports: usize) -> Self {
        Self::with_nodes(id, core, ports, &[])
    }

    /// Stats for a worker with `ports` ports whose pipeline has `nodes`.
    pub fn with_nodes(id: usize, core: Option<usize>, ports: usize, nodes: &[NodeInfo]) -> Self {
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
            node_info: nodes.into(),
            nodes: nodes.iter().map(|_| NodeCounters::default()).collect(),
            dead: AtomicBool::new(false),
            death: OnceLock::new(),
        }
    }

    /// Marks the worker dead with the reason (its panic). Called once by
    /// the worker's thread when it dies; later calls keep the first reason.
    pub fn mark_dead(&self, why: String) {
        let _ = self.death.set(why);
        self.dead.store(true, Release);
    }

    /// Whether the worker's thread has died.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Acquire)
    }

    /// Why the worker died, if it did.
    pub fn death(&self) -> Option<&str> {
        if self.is_dead() {
            self.death.get().map(String::as_str)
        } else {
            None
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

    /// A consistent copy of all port counters (never half a burst), or,
    /// if none could be had in time (see [`WorkerStats::read`]), the last
    /// torn copy.
    pub fn snapshot(&self) -> Vec<PortSnapshot> {
        self.read().ports
    }

    /// A copy of all port counters that never waits for long: a live
    /// worker is retried for up to [`READ_PATIENCE`], a dead one is read
    /// once. `torn` says whether the copy may hold half a burst.
    pub fn read(&self) -> Read {
        let mut tries = 0u32;
        let mut since: Option<Instant> = None;
        loop {
            // Out of patience (or the writer is dead): take what is there.
            let give_up = self.is_dead()
                || (tries >= 1000
                    && since.get_or_insert_with(Instant::now).elapsed() >= READ_PATIENCE);
            let s1 = self.seq.load(Acquire);
            if s1 & 1 == 1 && !give_up {
                tries += 1;
                if tries < 1000 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            let ports = self.copy_ports();
            let nodes = self.copy_nodes();
            fence(Acquire);
            let whole = s1 & 1 == 0 && self.seq.load(Relaxed) == s1;
            if whole || give_up {
                return Read {
                    ports,
                    nodes,
                    torn: !whole,
                };
            }
            tries += 1;
        }
    }

    fn copy_nodes(&self) -> Vec<NodeSnapshot> {
        self.nodes
            .iter()
            .map(|n| NodeSnapshot {
                calls: n.calls.load(Relaxed),
                vectors: n.vectors.load(Relaxed),
                packets: n.packets.load(Relaxed),
                cycles: n.cycles.load(Relaxed),
            })
            .collect()
    }

    fn copy_ports(&self) -> Vec<PortSnapshot> {
        self.ports
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
            .collect()
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

    /// A worker that died inside a write section leaves the sequence odd:
    /// readers give up (at once if it is marked dead, after
    /// READ_PATIENCE if not) and say the figures are torn.
    #[test]
    fn a_writer_that_never_closes_its_section_does_not_hang_readers() {
        let w = WorkerStats::new(0, None, 1);
        w.begin();
        bump(&w.ports[0].rx, 5);
        w.end();
        assert_eq!(
            w.read(),
            Read {
                ports: w.snapshot(),
                nodes: Vec::new(),
                torn: false
            }
        );
        w.begin();
        bump(&w.ports[0].rx, 7);
        // No end(): the writer stalled (or died) mid-burst.
        let t0 = Instant::now();
        let r = w.read();
        let waited = t0.elapsed();
        assert!(r.torn);
        assert_eq!(r.ports[0].rx, 12, "the torn copy is still a copy");
        assert!(
            waited >= READ_PATIENCE && waited < READ_PATIENCE * 20,
            "a live writer gets READ_PATIENCE, no more: waited {waited:?}"
        );
        assert_eq!(w.death(), None);
        w.mark_dead("boom at here.rs:1:1".into());
        w.mark_dead("second reason is ignored".into());
        assert!(w.is_dead());
        assert_eq!(w.death(), Some("boom at here.rs:1:1"));
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(w.read().torn);
        }
        assert!(
            t0.elapsed() < READ_PATIENCE,
            "a dead writer is read once, without waiting: {:?}",
            t0.elapsed()
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
