//! A poll-mode worker: owns one UMEM (its [`FramePool`]), queue *i* of
//! every port, its own pipeline instance and its stats. Nothing in the
//! loop allocates, locks or makes a syscall per packet (AF_XDP kicks are
//! per burst).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrayvec::ArrayVec;
use xgw_pipelines::{
    Ctx, DropReason, Emit, Meta, NodeClock, Packet, Pipeline, PortId, StageId, Verdict, MAX_BURST,
};

use crate::config::Idle;
use crate::port::PortQueue;
use crate::stats::{bump, now_tsc, Hists, WorkerStats};
use crate::umem::{now_ns, Desc, FramePool, FreeList, Umem};

/// How often gauges and histograms are published.
const PUBLISH_EVERY_NS: u64 = 100_000_000;
/// Most frames stages may emit per burst or tick.
const MAX_EMIT: usize = 64;
/// Most release/discard requests per burst or tick.
const MAX_PARK_OPS: usize = 64;
/// How often the pipeline's timers run.
const TICK_NS: u64 = 10_000_000;
/// Default size of the lot for parked frames.
pub const DEFAULT_PENDING: usize = 1024;

/// A frame the pipeline asked the engine to hold.
#[derive(Clone, Copy)]
struct Parked {
    desc: Desc,
    port: u16,
    meta: Meta,
    token: u32,
}

/// A frame a stage injected (see [`Emit::inject`]): its ingress port,
/// descriptor, metadata and the stage it starts at.
#[derive(Clone, Copy)]
struct Injected {
    port: u16,
    desc: Desc,
    meta: Meta,
    at: StageId,
}

/// How the frames `dispatch` sends came to be run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// A fresh burst from a port.
    Fresh,
    /// Parked frames released.
    Resumed,
    /// Frames stages injected.
    Injected,
}

#[derive(Clone, Copy)]
enum ParkOp {
    Release(u32, StageId),
    Discard(u32, DropReason),
}

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
    /// The current burst: descriptors, their ingress ports and metadata
    /// (metadata matters for resumed frames), and one verdict each.
    rx: [Desc; MAX_BURST],
    rx_port: [u16; MAX_BURST],
    rx_meta: [Meta; MAX_BURST],
    verdicts: [Verdict; MAX_BURST],
    /// Per egress port, the frames of the current burst going there.
    txq: Vec<ArrayVec<Desc, MAX_BURST>>,
    /// The ingress port of each frame in `txq` (drops count there).
    txq_ingress: Vec<ArrayVec<u16, MAX_BURST>>,
    hists: Box<Hists>,
    /// `now_ns()` of the last publication.
    last_publish: u64,
    empty_polls: u32,
    pollfds: Vec<libc::pollfd>,
    /// Frames stages emitted during the current burst or tick.
    emitq: ArrayVec<(u16, Desc), MAX_EMIT>,
    /// Frames stages injected during the current burst or tick.
    injq: ArrayVec<Injected, MAX_EMIT>,
    emit_failed: u32,
    /// Capture clock: the latest capture timestamp received (pcap ports
    /// only; 0 otherwise). Frames stages emit, and parked frames when they
    /// are released, are stamped with it, i.e. with the time of the burst
    /// (or tick) that caused them, so replayed output is deterministic.
    capture_ns: u64,
    last_tick: u64,
    /// Parked frames (fixed capacity) and what stages asked about them.
    lot: Vec<Parked>,
    lot_cap: usize,
    park_ops: ArrayVec<ParkOp, MAX_PARK_OPS>,
    /// Test-only fault (see [`Worker::arm_fault`]): panic this long after
    /// `run` starts. Checked once per tick, never per packet or burst.
    fault_after: Option<Duration>,
    /// `now_ns()` at which the armed fault fires (0: none).
    fault_at: u64,
    /// Replay: how long to keep running once the captures are read.
    linger: Duration,
    /// `xgw capture` is armed (read once per burst).
    capturing: bool,
}

/// Puts `batch` on port `q`'s TX queue and counts it: what was taken as
/// `tx`, what did not fit as `tx.ring_full` on the port `ingress(i)` names
/// for the `i`-th frame (where every drop of a received frame counts), and
/// frees the latter.
#[inline]
fn send_counted(
    port: &mut PortQueue,
    pool: &mut FramePool,
    stats: &WorkerStats,
    q: usize,
    batch: &[Desc],
    ingress: impl Fn(usize) -> usize,
) {
    let sent = port.tx(pool, batch);
    let bytes: u64 = batch[..sent].iter().map(|d| d.len as u64).sum();
    bump(&stats.ports[q].tx, sent as u64);
    bump(&stats.ports[q].tx_bytes, bytes);
    for (i, d) in batch.iter().enumerate().skip(sent) {
        stats.drop_one(ingress(i), DropReason::TxRingFull);
        pool.release(d.addr);
    }
}

/// What stages reach through [`Ctx`]: fresh frames from the worker's free
/// list, and release/discard requests for parked frames.
struct Effects<'a> {
    umem: &'a Umem,
    free: &'a mut FreeList,
    q: &'a mut ArrayVec<(u16, Desc), MAX_EMIT>,
    inj: &'a mut ArrayVec<Injected, MAX_EMIT>,
    ops: &'a mut ArrayVec<ParkOp, MAX_PARK_OPS>,
    nports: usize,
    failed: u32,
}

impl Emit for Effects<'_> {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        if port.index() >= self.nports || self.q.is_full() {
            self.failed += 1;
            return false;
        }
        let Some(c) = self.free.alloc() else {
            self.failed += 1;
            return false;
        };
        let off = self.umem.data_offset() as usize;
        // SAFETY: the chunk was just taken off the free list, so nothing
        // else refers to it; it is either queued for TX or released below.
        let chunk = unsafe { self.umem.chunk_mut(c) };
        let len = build(&mut chunk[off..]).min(chunk.len() - off);
        if len == 0 {
            self.free.release(c);
            return false;
        }
        self.q.push((
            port.0,
            Desc {
                addr: c + off as u64,
                len: len as u32,
            },
        ));
        true
    }

    fn release(&mut self, token: u32, at: StageId) -> bool {
        // A full op list refuses the request: the stage asks again later
        // or its own timeout discards the frames, so nothing is held
        // forever.
        self.ops.try_push(ParkOp::Release(token, at)).is_ok()
    }

    fn discard(&mut self, token: u32, reason: DropReason) -> bool {
        self.ops.try_push(ParkOp::Discard(token, reason)).is_ok()
    }

    fn inject(
        &mut self,
        port: PortId,
        meta: Meta,
        at: StageId,
        build: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        if port.index() >= self.nports || self.inj.is_full() {
            self.failed += 1;
            return false;
        }
        let Some(c) = self.free.alloc() else {
            self.failed += 1;
            return false;
        };
        let off = self.umem.data_offset() as usize;
        // SAFETY: as in `emit`: the chunk was just taken off the free
        // list; it is either run and dispatched after the burst or
        // released below.
        let chunk = unsafe { self.umem.chunk_mut(c) };
        let len = build(&mut chunk[off..]).min(chunk.len() - off);
        if len == 0 {
            self.free.release(c);
            return false;
        }
        self.inj.push(Injected {
            port: port.0,
            desc: Desc {
                addr: c + off as u64,
                len: len as u32,
            },
            meta,
            at,
        });
        true
    }
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
        Self::with_pending(
            id,
            core,
            pool,
            ports,
            pipeline,
            burst,
            idle,
            DEFAULT_PENDING,
        )
    }

    /// As [`Worker::new`], with the size of the lot for parked frames.
    #[allow(clippy::too_many_arguments)]
    pub fn with_pending(
        id: usize,
        core: Option<usize>,
        pool: FramePool,
        ports: Vec<PortQueue>,
        pipeline: Box<dyn Pipeline>,
        burst: usize,
        idle: Idle,
        pending: usize,
    ) -> Self {
        let stats = Arc::new(WorkerStats::with_nodes(
            id,
            core,
            ports.len(),
            pipeline.nodes(),
        ));
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
            txq_ingress: (0..ports.len()).map(|_| ArrayVec::new()).collect(),
            ports,
            pipeline,
            stats,
            burst: burst.clamp(1, MAX_BURST),
            idle,
            rx: [Desc::default(); MAX_BURST],
            rx_port: [0; MAX_BURST],
            rx_meta: [Meta::default(); MAX_BURST],
            verdicts: [Verdict::Local; MAX_BURST],
            hists: Box::new(Hists::new()),
            last_publish: now_ns(),
            empty_polls: 0,
            pollfds,
            emitq: ArrayVec::new(),
            injq: ArrayVec::new(),
            emit_failed: 0,
            capture_ns: 0,
            last_tick: 0,
            lot: Vec::with_capacity(pending),
            lot_cap: pending,
            park_ops: ArrayVec::new(),
            fault_after: None,
            fault_at: 0,
            linger: Duration::ZERO,
            capturing: false,
        };
        w.publish_gauges();
        w
    }

    /// Frames held by ports.
    pub fn frames_in_ports(&self) -> usize {
        self.ports.iter().map(|p| p.outstanding()).sum()
    }

    /// Starts the capture clock (see `capture_ns`) at `ns`, e.g. the first
    /// timestamp of a replay's inputs, so frames emitted before any frame
    /// is received (start-up announcements) carry a sensible stamp.
    pub fn set_capture_clock(&mut self, ns: u64) {
        self.capture_ns = ns;
    }

    /// TEST ONLY: makes the worker panic `after` its `run` starts, from
    /// its next tick, inside a stats write section, as a worker dying
    /// mid-burst would (sequence left odd, the burst's frames lost). It is
    /// how the tests prove a dying dataplane is loud (`XGW_TEST_FAULT`,
    /// see [`crate::engine::Fault`]).
    pub fn arm_fault(&mut self, after: Duration) {
        self.fault_after = Some(after);
    }

    /// Frames parked by the pipeline.
    pub fn frames_pending(&self) -> usize {
        self.lot.len()
    }

    /// Checks that every frame is in exactly one place (between bursts).
    pub fn frames_accounted(&self) -> bool {
        self.pool.free_len() + self.frames_in_ports() + self.lot.len() == self.pool.total()
    }

    /// One pass over all ports: timers, then per port service, receive a
    /// burst, process, send. Returns the number of frames received.
    pub fn poll_once(&mut self) -> usize {
        let now = now_ns();
        if now.wrapping_sub(self.last_tick) >= TICK_NS {
            self.tick(now);
        }
        let mut work = 0;
        for p in 0..self.ports.len() {
            self.ports[p].service(&mut self.pool);
            let n = self.ports[p].rx(&mut self.pool, &mut self.rx[..self.burst]);
            let oversize = match &mut self.ports[p] {
                PortQueue::Pcap(q) => {
                    for d in &self.rx[..n] {
                        self.capture_ns = self.capture_ns.max(self.pool.stamp(d.addr));
                    }
                    q.take_oversize()
                }
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
            // `xgw capture`: one relaxed load per burst while it is off.
            self.capturing = crate::capture::CAPTURE.armed();
            if self.capturing {
                self.capture(&self.rx[..n], p as u16, crate::capture::RX, None);
            }
            let t0 = now_ns();
            // A burst comes from one port: count it once, with the bytes
            // as received (before any stage moves the window).
            let bytes: u64 = self.rx[..n].iter().map(|d| d.len as u64).sum();
            self.rx_port[..n].fill(p as u16);
            // The pipeline runs inside the section too: its node runtime
            // figures are counted with the burst.
            self.stats.begin();
            self.run_pipeline(n, None, t0);
            bump(&self.stats.ports[p].rx, n as u64);
            bump(&self.stats.ports[p].rx_bytes, bytes);
            self.dispatch(n, Run::Fresh);
            self.stats.end();
            self.settle_parked();
            self.settle_injected();
            let t1 = now_ns();
            let _ = self.hists.latency_ns.record(t1.saturating_sub(t0));
            let _ = self.hists.burst_size.record(n as u64);
            if t1.saturating_sub(self.last_publish) >= PUBLISH_EVERY_NS {
                self.publish(t1);
            }
        }
        work
    }

    /// Runs the pipeline over `rx[..n]`: a fresh burst (`at = None`) or
    /// released frames resumed at a stage. `now` is the burst's time.
    /// Runs inside a stats section (the pipeline's node runtime figures).
    #[inline]
    fn run_pipeline(&mut self, n: usize, at: Option<StageId>, now: u64) {
        let umem = &self.pool.umem;
        let mut fx = Effects {
            umem,
            free: &mut self.pool.free,
            q: &mut self.emitq,
            inj: &mut self.injq,
            ops: &mut self.park_ops,
            nports: self.txq.len(),
            failed: 0,
        };
        let mut pkts: ArrayVec<Packet<'_>, MAX_BURST> = ArrayVec::new();
        for (i, d) in self.rx[..n].iter().enumerate() {
            // SAFETY: each descriptor of the burst names a distinct chunk
            // that the worker owns from RX (or unparking) until dispatch
            // (frame accounting: one place per frame); the borrow ends with
            // `pkts` at the end of this function.
            let chunk = unsafe { umem.chunk_mut(d.addr) };
            let head = umem.offset_in_chunk(d.addr);
            let meta = if at.is_some() {
                self.rx_meta[i]
            } else {
                Meta::default()
            };
            // The window is clamped into the chunk (a kernel descriptor
            // never exceeds it; this keeps a bad one from panicking).
            // n <= MAX_BURST: the push cannot overflow.
            pkts.push(Packet::clamped(
                chunk,
                head,
                d.len,
                PortId(self.rx_port[i]),
                meta,
            ));
        }
        let clock = NodeClock::new(now_tsc, &self.stats.nodes);
        let mut cx = Ctx::with_clock(now, &mut fx, clock);
        match at {
            None => self
                .pipeline
                .process(&mut cx, &mut pkts, &mut self.verdicts[..n]),
            Some(s) => self
                .pipeline
                .resume(&mut cx, &mut pkts, &mut self.verdicts[..n], s),
        }
        self.emit_failed += fx.failed;
        for (i, pk) in pkts.iter().enumerate() {
            let d = &mut self.rx[i];
            d.addr = umem.chunk_of(d.addr) + pk.head() as u64;
            d.len = pk.len() as u32;
            // Only parked frames need their metadata later.
            if let Verdict::Park(_) = self.verdicts[i] {
                self.rx_meta[i] = pk.meta;
            }
        }
    }

    /// Offers frames to `xgw capture` (only while it is armed).
    #[cold]
    fn capture(&self, descs: &[Desc], port: u16, dir: u8, reason: Option<DropReason>) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        for d in descs {
            // SAFETY: the worker owns these frames until it sends or frees
            // them, which happens after this call.
            let b = unsafe { self.pool.bytes(*d) };
            crate::capture::CAPTURE.offer(port, dir, reason, b, ts);
        }
    }

    /// Sends each frame of `rx[..n]` where its verdict says and counts
    /// everything but reception (the caller counts a fresh burst as
    /// received; `resumed` frames were received and parked before, so they
    /// are counted as unparked here). Runs inside a stats section.
    #[inline]
    fn dispatch(&mut self, n: usize, run: Run) {
        let resumed = run != Run::Fresh;
        let stats = &*self.stats;
        // The common case: the whole burst leaves by one port. Hand the
        // burst's descriptors to it as they are (no per-frame sorting).
        if let Verdict::Tx(q) = self.verdicts[0] {
            if !resumed
                && q.index() < self.ports.len()
                && self.verdicts[1..n].iter().all(|v| *v == Verdict::Tx(q))
            {
                let ingress = self.rx_port[0] as usize;
                if self.capturing {
                    self.capture(&self.rx[..n], q.0, crate::capture::TX, None);
                }
                let (port, batch) = (&mut self.ports[q.index()], &self.rx[..n]);
                send_counted(port, &mut self.pool, stats, q.index(), batch, |_| ingress);
                bump(&stats.bursts, 1);
                self.flush_emitted();
                return;
            }
        }
        for i in 0..n {
            let d = self.rx[i];
            let p = self.rx_port[i] as usize;
            if run == Run::Resumed {
                bump(&stats.ports[p].unparked, 1);
            }
            let reason = match self.verdicts[i] {
                Verdict::Tx(q) => match self.txq.get(q.index()) {
                    Some(_) => {
                        if self.capturing {
                            self.capture(&[d], q.0, crate::capture::TX, None);
                        }
                        let batch = &mut self.txq[q.index()];
                        batch.push(d);
                        self.txq_ingress[q.index()].push(p as u16);
                        continue;
                    }
                    None => DropReason::TxNoSuchPort,
                },
                Verdict::Drop(r) => r,
                Verdict::Local => {
                    // Consumed by xgw itself (ARP/NDP it learned from…).
                    bump(&stats.ports[p].local, 1);
                    self.pool.release(d.addr);
                    continue;
                }
                Verdict::Park(token) => {
                    if self.lot.len() < self.lot_cap {
                        self.lot.push(Parked {
                            desc: d,
                            port: p as u16,
                            meta: self.rx_meta[i],
                            token,
                        });
                        bump(&stats.ports[p].parked, 1);
                        continue;
                    }
                    DropReason::PendingFull
                }
                Verdict::Next(_) => DropReason::PipelineBadNext,
            };
            if self.capturing {
                self.capture(&[d], p as u16, crate::capture::DROP, Some(reason));
            }
            stats.drop_one(p, reason);
            self.pool.release(d.addr);
        }
        for q in 0..self.txq.len() {
            if self.txq[q].is_empty() {
                continue;
            }
            let (batch, ingress) = (&self.txq[q], &self.txq_ingress[q]);
            send_counted(&mut self.ports[q], &mut self.pool, stats, q, batch, |i| {
                ingress[i] as usize
            });
            self.txq[q].clear();
            self.txq_ingress[q].clear();
        }
        if !resumed {
            bump(&stats.bursts, 1);
        }
        self.flush_emitted();
    }

    /// Carries out the release/discard requests stages made, running
    /// released frames through the pipeline again (bounded: a request made
    /// while resuming is served in the same loop, at most 8 rounds).
    fn settle_parked(&mut self) {
        for _ in 0..8 {
            if self.park_ops.is_empty() {
                return;
            }
            let ops = std::mem::take(&mut self.park_ops);
            for op in ops {
                match op {
                    ParkOp::Discard(token, reason) => {
                        self.stats.begin();
                        let mut i = 0;
                        while i < self.lot.len() {
                            if self.lot[i].token == token {
                                let f = self.lot.swap_remove(i);
                                bump(&self.stats.ports[f.port as usize].unparked, 1);
                                self.stats.drop_one(f.port as usize, reason);
                                self.pool.release(f.desc.addr);
                            } else {
                                i += 1;
                            }
                        }
                        self.stats.end();
                    }
                    ParkOp::Release(token, at) => loop {
                        // Gather up to a burst of this token's frames, in
                        // the order they were parked.
                        let mut n = 0;
                        let mut i = 0;
                        while i < self.lot.len() && n < MAX_BURST {
                            if self.lot[i].token == token {
                                let f = self.lot.remove(i);
                                // It leaves now, not when it arrived.
                                self.pool.set_stamp(f.desc.addr, self.capture_ns);
                                self.rx[n] = f.desc;
                                self.rx_port[n] = f.port;
                                self.rx_meta[n] = f.meta;
                                n += 1;
                            } else {
                                i += 1;
                            }
                        }
                        if n == 0 {
                            break;
                        }
                        self.stats.begin();
                        self.run_pipeline(n, Some(at), now_ns());
                        self.dispatch(n, Run::Resumed);
                        self.stats.end();
                    },
                }
            }
        }
    }

    /// Runs the frames stages injected (handed over by another worker)
    /// through the pipeline from their stage, counted as emitted on their
    /// port; what that run injects in turn waits for the next burst or
    /// tick.
    fn settle_injected(&mut self) {
        if self.injq.is_empty() {
            return;
        }
        let inj = std::mem::take(&mut self.injq);
        let mut k = 0;
        while k < inj.len() {
            // One stage per run, in order.
            let at = inj[k].at;
            let mut n = 0;
            while k < inj.len() && inj[k].at == at && n < MAX_BURST {
                let f = inj[k];
                self.pool.set_stamp(f.desc.addr, self.capture_ns);
                self.rx[n] = f.desc;
                self.rx_port[n] = f.port;
                self.rx_meta[n] = f.meta;
                n += 1;
                k += 1;
            }
            self.stats.begin();
            for i in 0..n {
                bump(&self.stats.ports[self.rx_port[i] as usize].emitted, 1);
            }
            self.run_pipeline(n, Some(at), now_ns());
            self.dispatch(n, Run::Injected);
            self.stats.end();
        }
        self.settle_parked();
    }

    /// Sends the frames stages made themselves (inside a stats section).
    fn flush_emitted(&mut self) {
        let stats = &*self.stats;
        if self.emit_failed > 0 {
            bump(&stats.emit_failed, self.emit_failed as u64);
            self.emit_failed = 0;
        }
        if self.emitq.is_empty() {
            return;
        }
        // Emitted frames come from the free list with whatever stamp their
        // chunk last had: give them the time of what caused them.
        for (_, d) in &self.emitq {
            self.pool.set_stamp(d.addr, self.capture_ns);
        }
        if crate::capture::CAPTURE.armed() {
            for &(port, d) in &self.emitq {
                self.capture(&[d], port, crate::capture::TX, None);
            }
        }
        for q in 0..self.ports.len() {
            let mut batch: ArrayVec<Desc, MAX_EMIT> = ArrayVec::new();
            for (port, d) in &self.emitq {
                if *port as usize == q {
                    batch.push(*d);
                }
            }
            if batch.is_empty() {
                continue;
            }
            bump(&stats.ports[q].emitted, batch.len() as u64);
            // Our own frames: a drop counts on the port they were meant
            // to leave by.
            send_counted(&mut self.ports[q], &mut self.pool, stats, q, &batch, |_| q);
        }
        self.emitq.clear();
    }

    /// Gives the pipeline its periodic turn (timers: retransmissions,
    /// aging, announcements), sends what it emitted and serves its
    /// release/discard requests.
    fn tick(&mut self, now: u64) {
        self.last_tick = now;
        if self.fault_at != 0 && now >= self.fault_at {
            self.fault_at = 0;
            self.stats.begin();
            panic!(
                "XGW_TEST_FAULT: injected panic in worker {} ({:?} after start, inside a stats section)",
                self.id,
                self.fault_after.unwrap_or_default()
            );
        }
        let mut fx = Effects {
            umem: &self.pool.umem,
            free: &mut self.pool.free,
            q: &mut self.emitq,
            inj: &mut self.injq,
            ops: &mut self.park_ops,
            nports: self.txq.len(),
            failed: 0,
        };
        let mut cx = Ctx::new(now, &mut fx);
        self.pipeline.tick(&mut cx);
        self.emit_failed += fx.failed;
        if !self.emitq.is_empty() || self.emit_failed > 0 {
            self.stats.begin();
            self.flush_emitted();
            self.stats.end();
        }
        self.settle_parked();
        self.settle_injected();
    }

    fn publish_gauges(&self) {
        let s = &self.stats;
        s.frames_total
            .store(self.pool.total() as u64, Ordering::Relaxed);
        s.frames_free
            .store(self.pool.free_len() as u64, Ordering::Relaxed);
        s.frames_in_ports
            .store(self.frames_in_ports() as u64, Ordering::Relaxed);
        s.frames_pending
            .store(self.lot.len() as u64, Ordering::Relaxed);
    }

    fn publish(&mut self, now: u64) {
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
        // MSRV 1.80: `is_multiple_of` is 1.87.
        #[allow(clippy::manual_is_multiple_of)]
        let publish_check = self.empty_polls % 1024 == 0;
        if publish_check {
            let now = now_ns();
            if now.saturating_sub(self.last_publish) >= PUBLISH_EVERY_NS {
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
        if let Some(after) = self.fault_after {
            self.fault_at = now_ns().saturating_add(after.as_nanos() as u64).max(1);
        }
        let finite =
            !self.ports.is_empty() && self.ports.iter().any(|p| matches!(p, PortQueue::Pcap(_)));
        let mut ended_at = None;
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
                    // (Captures: keep the timers going for `linger`.)
                    let now = now_ns();
                    let t0 = *ended_at.get_or_insert(now);
                    if now.saturating_sub(t0) >= self.linger.as_nanos() as u64 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                self.idle();
            }
        }
        self.shutdown();
    }

    /// Replay: keep polling this long after the captures are read, so
    /// the pipeline's timers fire (`xgw replay --linger-ms`).
    pub fn set_linger(&mut self, linger: Duration) {
        self.linger = linger;
    }

    /// Returns frames from ports, flushes outputs and publishes final stats.
    pub fn shutdown(&mut self) {
        self.stats.begin();
        for f in std::mem::take(&mut self.lot) {
            bump(&self.stats.ports[f.port as usize].unparked, 1);
            self.stats
                .drop_one(f.port as usize, DropReason::ShutdownFlush);
            self.pool.release(f.desc.addr);
        }
        self.stats.end();
        for p in &mut self.ports {
            p.drain(&mut self.pool);
        }
        self.publish(now_ns());
        // Make sure the final histograms reach the stats side.
        if !self.hists.burst_size.is_empty() {
            let full = std::mem::take(&mut self.hists);
            let _ = self.stats.full.push(full);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::mem::MemQueue;

    /// Forwards everything to port 1, emits one frame on port 0 per burst
    /// and one on port 1 per tick.
    struct Emitting {
        ticks: u32,
    }

    impl Pipeline for Emitting {
        fn process(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], verdicts: &mut [Verdict]) {
            for (p, v) in pkts.iter().zip(verdicts.iter_mut()) {
                *v = if p.len() >= 14 {
                    Verdict::Tx(PortId(1))
                } else {
                    Verdict::Drop(DropReason::L2Runt)
                };
            }
            assert!(cx.emit(PortId(0), &mut |b: &mut [u8]| {
                b[..42].fill(0xee);
                42
            }));
            // Impossible port: refused and counted.
            assert!(!cx.emit(PortId(9), &mut |_: &mut [u8]| 42));
        }

        fn tick(&mut self, cx: &mut Ctx<'_>) {
            self.ticks += 1;
            cx.emit(PortId(1), &mut |b: &mut [u8]| {
                b[..60].fill(0x77);
                60
            });
        }
    }

    #[test]
    fn emitted_frames_are_sent_counted_and_accounted() {
        let pool = FramePool::new(Umem::new(256, 2048, 0, false).unwrap());
        let ports = vec![
            PortQueue::Mem(MemQueue::new(128, false)),
            PortQueue::Mem(MemQueue::new(128, false)),
        ];
        let mut w = Worker::new(
            0,
            None,
            pool,
            ports,
            Box::new(Emitting { ticks: 0 }),
            32,
            Idle::BusyPoll,
        );
        for len in [60usize, 60, 10] {
            let PortQueue::Mem(q) = &mut w.ports[0] else {
                unreachable!()
            };
            assert!(q.inject(&mut w.pool, &vec![1u8; len]));
        }
        assert_eq!(w.poll_once(), 3); // first poll also ticks
        let s = w.stats.snapshot();
        assert_eq!(s[0].rx, 3);
        assert_eq!(s[0].emitted, 1);
        assert_eq!(s[1].emitted, 1, "tick emission");
        assert_eq!(s[1].tx, 2 + 1);
        assert_eq!(s[0].tx, 1);
        assert_eq!(s[0].dropped, 1);
        let rx: u64 = s.iter().map(|p| p.rx).sum();
        let emitted: u64 = s.iter().map(|p| p.emitted).sum();
        let tx: u64 = s.iter().map(|p| p.tx).sum();
        let dropped: u64 = s.iter().map(|p| p.dropped).sum();
        assert_eq!(rx + emitted, tx + dropped);
        assert_eq!(w.stats.emit_failed.load(Ordering::Relaxed), 1);
        let mut out0 = Vec::new();
        let PortQueue::Mem(q) = &mut w.ports[0] else {
            unreachable!()
        };
        q.take_tx(&mut w.pool, |b| out0.push(b.to_vec()));
        assert_eq!(out0, vec![vec![0xee; 42]]);
        assert!(w.frames_accounted());
    }

    /// Forwards everything to port 1 (a burst with one egress port).
    struct AllToOne;

    impl Pipeline for AllToOne {
        fn process(&mut self, _: &mut Ctx<'_>, _: &mut [Packet<'_>], verdicts: &mut [Verdict]) {
            verdicts.fill(Verdict::Tx(PortId(1)));
        }
    }

    /// A burst that leaves by one port goes to it whole; what its TX queue
    /// cannot take is dropped as tx.ring_full on the ingress port, and the
    /// byte counters count what was received and sent.
    #[test]
    fn one_port_burst_counts_ring_full_on_ingress() {
        let pool = FramePool::new(Umem::new(256, 2048, 0, false).unwrap());
        let ports = vec![
            PortQueue::Mem(MemQueue::new(128, false)),
            PortQueue::Mem(MemQueue::new(3, false)),
        ];
        let mut w = Worker::new(0, None, pool, ports, Box::new(AllToOne), 32, Idle::BusyPoll);
        for len in [60usize, 61, 62, 63, 64] {
            let PortQueue::Mem(q) = &mut w.ports[0] else {
                unreachable!()
            };
            assert!(q.inject(&mut w.pool, &vec![1u8; len]));
        }
        assert_eq!(w.poll_once(), 5);
        let s = w.stats.snapshot();
        assert_eq!((s[0].rx, s[0].rx_bytes), (5, 310));
        assert_eq!((s[1].tx, s[1].tx_bytes), (3, 60 + 61 + 62));
        assert_eq!(s[0].dropped, 2);
        assert_eq!(s[0].drops[DropReason::TxRingFull.index()], 2);
        assert_eq!(s[1].dropped, 0);
        assert!(w.frames_accounted());
        let mut out = Vec::new();
        let PortQueue::Mem(q) = &mut w.ports[1] else {
            unreachable!()
        };
        q.take_tx(&mut w.pool, |b| out.push(b.len()));
        assert_eq!(out, vec![60, 61, 62], "the burst's first frames, in order");
    }

    /// Emitted frames carry the capture time of the burst that caused them
    /// (the latest stamp of that burst), and tick emissions the capture
    /// clock, never a stale stamp left in a recycled chunk.
    #[test]
    fn emitted_frames_are_stamped_with_their_burst() {
        use crate::port::pcap::PcapQueue;
        use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
        use std::time::Duration;

        let dir = std::env::temp_dir().join(format!("xgw-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (input, out0, out1) = (
            dir.join("in.pcap"),
            dir.join("o0.pcap"),
            dir.join("o1.pcap"),
        );
        {
            let mut w = PcapWriter::new(std::fs::File::create(&input).unwrap()).unwrap();
            for (i, t) in [10u64, 20, 30].into_iter().enumerate() {
                let data = vec![i as u8; 60];
                let ts = Duration::from_secs(t);
                w.write_packet(&PcapPacket::new(ts, 60, &data)).unwrap();
            }
        }
        let mut pool = FramePool::new(Umem::new(64, 2048, 0, false).unwrap());
        // Leave stale stamps in every chunk.
        for _ in 0..64 {
            let c = pool.alloc().unwrap();
            pool.set_stamp(c, 999_000_000_000);
            pool.release(c);
        }
        let ports = vec![
            PortQueue::Pcap(PcapQueue::open(Some(&input), Some(&out0)).unwrap()),
            PortQueue::Pcap(PcapQueue::open(None, Some(&out1)).unwrap()),
        ];
        let mut w = Worker::new(
            0,
            None,
            pool,
            ports,
            Box::new(Emitting { ticks: 0 }),
            2,
            Idle::BusyPoll,
        );
        w.set_capture_clock(5_000_000_000);
        w.run(&AtomicBool::new(false));
        let stamps = |p: &std::path::Path| -> Vec<(u64, u8)> {
            let mut r = PcapReader::new(std::fs::File::open(p).unwrap()).unwrap();
            let mut v = Vec::new();
            while let Some(pkt) = r.next_packet() {
                let pkt = pkt.unwrap();
                v.push((pkt.timestamp.as_secs(), pkt.data[0]));
            }
            v
        };
        // Bursts of 2: [10 s, 20 s] then [30 s]; one emission each.
        assert_eq!(stamps(&out0), vec![(20, 0xee), (30, 0xee)]);
        // The first tick runs before anything is received: the clock's
        // start. Forwarded frames keep their own stamps.
        let o1 = stamps(&out1);
        assert_eq!(o1[0], (5, 0x77));
        let fwd: Vec<_> = o1.iter().filter(|f| f.1 != 0x77).copied().collect();
        assert_eq!(fwd, vec![(10, 0), (20, 1), (30, 2)]);
        // Later ticks (if the test is slow) carry the clock of their time.
        assert!(o1[1..].iter().all(|&(t, b)| b != 0x77 || t >= 20), "{o1:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Parks long frames under token 1 and short ones under token 2; the
    /// test then releases 1 (resumed frames go out on port 1) and discards 2.
    struct Parking {
        resumed: usize,
        op: Option<(bool, u32)>,
    }

    impl Pipeline for Parking {
        fn process(
            &mut self,
            _cx: &mut Ctx<'_>,
            pkts: &mut [Packet<'_>],
            verdicts: &mut [Verdict],
        ) {
            for (p, v) in pkts.iter_mut().zip(verdicts.iter_mut()) {
                p.meta.nh = p.len() as u32;
                *v = Verdict::Park(if p.len() > 30 { 1 } else { 2 });
            }
        }

        fn resume(
            &mut self,
            _cx: &mut Ctx<'_>,
            pkts: &mut [Packet<'_>],
            verdicts: &mut [Verdict],
            at: StageId,
        ) {
            assert_eq!(at, 3);
            for (p, v) in pkts.iter().zip(verdicts.iter_mut()) {
                assert_eq!(p.meta.nh as usize, p.len(), "metadata survives parking");
                assert_eq!(p.port, PortId(0), "ingress port survives parking");
                self.resumed += 1;
                *v = Verdict::Tx(PortId(1));
            }
        }

        fn tick(&mut self, cx: &mut Ctx<'_>) {
            match self.op.take() {
                Some((true, t)) => {
                    cx.release(t, 3);
                }
                Some((false, t)) => {
                    cx.discard(t, DropReason::L2Runt);
                }
                None => {}
            }
        }
    }

    #[test]
    fn parked_frames_are_pending_then_released_or_discarded() {
        let pool = FramePool::new(Umem::new(256, 2048, 0, false).unwrap());
        let ports = vec![
            PortQueue::Mem(MemQueue::new(128, false)),
            PortQueue::Mem(MemQueue::new(128, false)),
        ];
        let pipe = Box::new(Parking {
            resumed: 0,
            op: None,
        });
        let mut w = Worker::with_pending(0, None, pool, ports, pipe, 32, Idle::BusyPoll, 4);
        for len in [60usize, 61, 62, 20, 21] {
            let PortQueue::Mem(q) = &mut w.ports[0] else {
                unreachable!()
            };
            assert!(q.inject(&mut w.pool, &vec![1u8; len]));
        }
        assert_eq!(w.poll_once(), 5);
        let total = |w: &Worker| {
            let s = w.stats.snapshot();
            let f = |g: fn(&crate::stats::PortSnapshot) -> u64| s.iter().map(g).sum::<u64>();
            (
                f(|p| p.rx),
                f(|p| p.tx),
                f(|p| p.dropped),
                f(|p| p.parked - p.unparked),
            )
        };
        // A lot of 4: the fifth frame is dropped as pending.full.
        assert_eq!(total(&w), (5, 0, 1, 4));
        assert_eq!(w.frames_pending(), 4);
        assert!(w.frames_accounted());
        // Release token 1: the three long frames (the fifth frame, a short
        // one, found the lot full).
        let release = |w: &mut Worker, op| {
            w.last_tick = 0;
            w.pipeline = Box::new(Parking {
                resumed: 0,
                op: Some(op),
            });
            w.poll_once();
        };
        release(&mut w, (true, 1));
        assert_eq!(total(&w), (5, 3, 1, 1));
        let mut out = Vec::new();
        let PortQueue::Mem(q) = &mut w.ports[1] else {
            unreachable!()
        };
        q.take_tx(&mut w.pool, |b| out.push(b.len()));
        assert_eq!(out, vec![60, 61, 62], "released in the order parked");
        release(&mut w, (false, 2));
        assert_eq!(total(&w), (5, 3, 2, 0));
        assert_eq!(
            w.stats.snapshot()[0].drops[DropReason::PendingFull.index()],
            1
        );
        assert!(w.frames_accounted());
    }
}
