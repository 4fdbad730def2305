//! A poll-mode worker: owns one UMEM (its [`FramePool`]), queue *i* of
//! every port, its own pipeline instance and its stats. Nothing in the
//! loop allocates, locks or makes a syscall per packet (AF_XDP kicks are
//! per burst).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;
use xgw_pipelines::{DropReason, Packet, Pipeline, PortId, Verdict, MAX_BURST};

use crate::config::Idle;
use crate::port::PortQueue;
use crate::stats::{bump, Hists, WorkerStats};
use crate::umem::{Desc, FramePool};

/// How often gauges and histograms are published.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

pub struct Worker {
    pub id: usize,
    pub core: Option<usize>,
    // Ports come before the pool so sockets close before the UMEM is unmapped.
    pub ports: Vec<PortQueue>,
    pub pool: FramePool,
    pipeline: Box<dyn Pipeline>,
    pub stats: Arc<WorkerStats>,
    burst: usize,
    idle: Idle,
    rx: [Desc; MAX_BURST],
    verdicts: [Verdict; MAX_BURST],
    /// Per egress port, the frames of the current burst going there.
    txq: Vec<ArrayVec<Desc, MAX_BURST>>,
    hists: Box<Hists>,
    last_publish: Instant,
    empty_polls: u32,
    pollfds: Vec<libc::pollfd>,
}

impl Worker {
    pub fn new(
        id: usize,
        core: Option<usize>,
        pool: FramePool,
        ports: Vec<PortQueue>,
        pipeline: Box<dyn Pipeline>,
        burst: usize,
        idle: Idle,
    ) -> Self {
        let stats = Arc::new(WorkerStats::new(id, core, ports.len()));
        let pollfds = ports
            .iter()
            .filter_map(|p| p.poll_fd())
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let w = Worker {
            id,
            core,
            pool,
            txq: (0..ports.len()).map(|_| ArrayVec::new()).collect(),
            ports,
            pipeline,
            stats,
            burst: burst.clamp(1, MAX_BURST),
            idle,
            rx: [Desc::default(); MAX_BURST],
            verdicts: [Verdict::Local; MAX_BURST],
            hists: Box::new(Hists::new()),
            last_publish: Instant::now(),
            empty_polls: 0,
            pollfds,
        };
        w.publish_gauges();
        w
    }

    /// Frames held by ports.
    pub fn frames_in_ports(&self) -> usize {
        self.ports.iter().map(|p| p.outstanding()).sum()
    }

    /// Checks that every frame is in exactly one place (between bursts).
    pub fn frames_accounted(&self) -> bool {
        self.pool.free_len() + self.frames_in_ports() == self.pool.total()
    }

    /// One pass over all ports: service, receive a burst, process, send.
    /// Returns the number of frames received.
    pub fn poll_once(&mut self) -> usize {
        let mut work = 0;
        for p in 0..self.ports.len() {
            self.ports[p].service(&mut self.pool);
            let n = self.ports[p].rx(&mut self.pool, &mut self.rx[..self.burst]);
            let oversize = match &mut self.ports[p] {
                PortQueue::Pcap(q) => q.take_oversize(),
                _ => 0,
            };
            if oversize > 0 {
                self.stats.begin();
                bump(&self.stats.ports[p].rx, oversize);
                for _ in 0..oversize {
                    self.stats.drop_one(p, DropReason::RxOversize);
                }
                self.stats.end();
            }
            if n == 0 {
                continue;
            }
            work += n;
            let t0 = Instant::now();
            self.burst(p, n);
            let t1 = Instant::now();
            let _ = self
                .hists
                .latency_ns
                .record(t1.duration_since(t0).as_nanos() as u64);
            let _ = self.hists.burst_size.record(n as u64);
            if t1.duration_since(self.last_publish) >= PUBLISH_EVERY {
                self.publish(t1);
            }
        }
        work
    }

    /// Runs one burst of `n` frames received on port `p`.
    #[inline]
    fn burst(&mut self, p: usize, n: usize) {
        let port = PortId(p as u16);
        {
            let umem = &self.pool.umem;
            let mut pkts: ArrayVec<Packet<'_>, MAX_BURST> = ArrayVec::new();
            for d in &self.rx[..n] {
                let base = umem.chunk_of(d.addr);
                // SAFETY: each descriptor of the burst names a distinct
                // chunk that the worker owns from RX until dispatch below
                // (frame accounting: one place per frame); the borrow ends
                // with `pkts` at the end of this block.
                let chunk = unsafe { umem.chunk_mut(d.addr) };
                let head = ((d.addr - base) as u32).min(chunk.len() as u32);
                let len = d.len.min(chunk.len() as u32 - head);
                let pkt =
                    Packet::new(chunk, head, len, port).expect("window clamped into the chunk");
                pkts.push(pkt);
            }
            self.pipeline.process(&mut pkts, &mut self.verdicts[..n]);
            for (d, pk) in self.rx[..n].iter_mut().zip(pkts.iter()) {
                d.addr = umem.chunk_of(d.addr) + pk.head() as u64;
                d.len = pk.len() as u32;
            }
        }
        self.dispatch(p, n);
    }

    /// Sends each frame where its verdict says and counts everything.
    #[inline]
    fn dispatch(&mut self, p: usize, n: usize) {
        let stats = &*self.stats;
        stats.begin();
        let mut rx_bytes = 0u64;
        for i in 0..n {
            let d = self.rx[i];
            rx_bytes += d.len as u64;
            let reason = match self.verdicts[i] {
                Verdict::Tx(q) => match self.txq.get_mut(q.index()) {
                    Some(batch) => {
                        batch.push(d);
                        continue;
                    }
                    None => DropReason::TxNoSuchPort,
                },
                Verdict::Drop(r) => r,
                Verdict::Local => DropReason::LocalUnhandled,
                Verdict::Next(_) => DropReason::PipelineBadNext,
            };
            stats.drop_one(p, reason);
            self.pool.release(d.addr);
        }
        bump(&stats.ports[p].rx, n as u64);
        bump(&stats.ports[p].rx_bytes, rx_bytes);
        for q in 0..self.txq.len() {
            if self.txq[q].is_empty() {
                continue;
            }
            let batch = &self.txq[q];
            let sent = self.ports[q].tx(&mut self.pool, batch);
            let bytes: u64 = batch[..sent].iter().map(|d| d.len as u64).sum();
            bump(&stats.ports[q].tx, sent as u64);
            bump(&stats.ports[q].tx_bytes, bytes);
            for d in &batch[sent..] {
                // Counted on the ingress port, like every drop.
                stats.drop_one(p, DropReason::TxRingFull);
                self.pool.release(d.addr);
            }
            self.txq[q].clear();
        }
        bump(&stats.bursts, 1);
        stats.end();
    }

    fn publish_gauges(&self) {
        let s = &self.stats;
        s.frames_total
            .store(self.pool.total() as u64, Ordering::Relaxed);
        s.frames_free
            .store(self.pool.free_len() as u64, Ordering::Relaxed);
        s.frames_in_ports
            .store(self.frames_in_ports() as u64, Ordering::Relaxed);
        s.frames_pending.store(0, Ordering::Relaxed);
    }

    fn publish(&mut self, now: Instant) {
        self.last_publish = now;
        self.publish_gauges();
        debug_assert!(
            self.frames_accounted(),
            "frame accounting broken on worker {}",
            self.id
        );
        if self.hists.burst_size.is_empty() {
            return;
        }
        // Swap in an empty set if the stats side has returned one; otherwise
        // keep accumulating into the current one.
        if let Some(fresh) = self.stats.empty.pop() {
            let full = std::mem::replace(&mut self.hists, fresh);
            if let Err(back) = self.stats.full.push(full) {
                self.hists = back;
            }
        }
    }

    fn idle(&mut self) {
        bump(&self.stats.idle_polls, 1);
        self.empty_polls = self.empty_polls.saturating_add(1);
        if self.empty_polls.is_multiple_of(1024) {
            let now = Instant::now();
            if now.duration_since(self.last_publish) >= PUBLISH_EVERY {
                self.publish(now);
            }
        }
        match self.idle {
            Idle::BusyPoll => std::hint::spin_loop(),
            Idle::Adaptive => {
                if self.empty_polls < 256 {
                    std::hint::spin_loop();
                } else if self.empty_polls < 2048 {
                    std::thread::yield_now();
                } else if !self.pollfds.is_empty() {
                    // SAFETY: pollfds is a valid array of pollfd for its length.
                    unsafe {
                        libc::poll(
                            self.pollfds.as_mut_ptr(),
                            self.pollfds.len() as libc::nfds_t,
                            1,
                        );
                    }
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    /// Runs until `stop` is set (or every finite source is exhausted and
    /// drained), then drains what it can.
    pub fn run(&mut self, stop: &AtomicBool) {
        let finite =
            !self.ports.is_empty() && self.ports.iter().any(|p| matches!(p, PortQueue::Pcap(_)));
        while !stop.load(Ordering::Relaxed) {
            if self.poll_once() > 0 {
                self.empty_polls = 0;
            } else {
                if finite
                    && self
                        .ports
                        .iter()
                        .all(|p| !matches!(p, PortQueue::Pcap(_)) || p.exhausted())
                {
                    break;
                }
                self.idle();
            }
        }
        self.shutdown();
    }

    /// Returns frames from ports, flushes outputs and publishes final stats.
    pub fn shutdown(&mut self) {
        for p in &mut self.ports {
            p.drain(&mut self.pool);
        }
        let now = Instant::now();
        self.publish(now);
        // Make sure the final histograms reach the stats side.
        if !self.hists.burst_size.is_empty() {
            let full = std::mem::take(&mut self.hists);
            let _ = self.stats.full.push(full);
        }
    }
}
