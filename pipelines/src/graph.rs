//! Stages, verdicts and the vector runner.
//!
//! As in VPP's graph, a stage works on a vector of frames and writes one
//! verdict per frame; the runner hands each stage the frames whose verdict
//! names it, so a stage's per-packet body stays one small function.
//! Stages are ordered: a stage may only send frames to stages after it,
//! which makes every burst finish in at most `stages.len()` steps.
//!
//! Every node (a [`Graph`]'s stages; the router's fast path and the nodes
//! of its [`crate::nodes::NodeGraph`]) has runtime figures, like VPP's `show runtime`: the runner brackets each
//! call of a node with two clock reads ([`NodeClock`]) and adds the call,
//! its frames and its cycles to the node's [`NodeCounters`]. That is two
//! clock reads and four counter updates per node call, not per frame.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{DropReason, Meta, Packet, PortId, MAX_BURST};

/// Index of a stage inside its [`Graph`].
pub type StageId = u8;

/// What happens to a frame after a stage or node looked at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// In a [`Graph`]: continue at this stage (must come after the
    /// current one). From a node of a [`crate::nodes::NodeGraph`]: take
    /// the node's arc with this index; into [`crate::nodes::NodeGraph::run`]
    /// (a fresh or resumed frame, or one the router's fast path hands on):
    /// start at the node with this index.
    Next(StageId),
    /// Transmit on this port.
    Tx(PortId),
    /// Consumed by xgw itself (an ARP reply or advertisement it learned
    /// from); counted as `local`.
    Local,
    /// Drop and count under this reason.
    Drop(DropReason),
    /// Hold the frame until the pipeline releases or discards `token`
    /// (e.g. a neighbour being resolved). The engine keeps it, with its
    /// port and metadata, in a bounded per-worker lot; when the lot is full
    /// the frame is dropped as `pending.full`.
    Park(u32),
}

/// Sends frames that a stage or node makes itself (the router's ARP
/// requests, Neighbor Solicitations, gratuitous ARP). The engine takes a fresh frame, lets
/// `build` write it from the standard data offset (returning its length,
/// 0 to give up) and queues it for TX on `port` after the burst. Returns
/// `false` if no frame could be had; the engine counts that.
pub trait Emit {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;

    /// Re-runs every frame parked under `token` from stage `at` (in a
    /// node graph: node `at`, e.g. the router's ip-rewrite), right after
    /// the current burst or tick.
    /// Returns `false` if the request could not be taken (too many this
    /// burst): ask again later.
    fn release(&mut self, _token: u32, _at: StageId) -> bool {
        false
    }

    /// Drops every frame parked under `token`, counted under `reason`
    /// (`false`: as for `release`).
    fn discard(&mut self, _token: u32, _reason: DropReason) -> bool {
        false
    }

    /// Takes a fresh frame, lets `build` write it (as for `emit`) and runs
    /// it through the pipeline from stage `at` with metadata `meta`, as
    /// received on `port`, right after the current burst or tick: a frame
    /// another worker handed over (counted as emitted here). `false`: no
    /// frame could be had, or too many this burst.
    fn inject(
        &mut self,
        _port: PortId,
        _meta: Meta,
        _at: StageId,
        _build: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        false
    }
}

/// An emitter that refuses everything (pipelines that never emit).
pub struct NoEmit;

impl Emit for NoEmit {
    fn emit(&mut self, _: PortId, _: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        false
    }
}

/// An emitter that keeps what is emitted, for tests and offline tools
/// (it allocates; never use it on the fast path).
#[derive(Default)]
pub struct CollectEmit {
    pub frames: Vec<(PortId, Vec<u8>)>,
}

impl Emit for CollectEmit {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut buf = vec![0u8; 2048];
        let n = build(&mut buf).min(buf.len());
        if n == 0 {
            return false;
        }
        buf.truncate(n);
        self.frames.push((port, buf));
        true
    }
}

/// A node as `xgw graph` and `xgw runtime` show it: its name, where it
/// may send frames and the reasons it drops them under. `next` names
/// other nodes of the same pipeline, or one of the ends [`ENDS`] (`tx`,
/// `local`, `drop`, `park`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: &'static str,
    /// Borrowed for a fixed list; owned when the node builds its arcs at
    /// run time (lookup's adjacencies come from the feature registry).
    pub next: Cow<'static, [&'static str]>,
    /// Declared next to the node's code; `xgw drop-reasons` shows, for
    /// each reason of the one table, the nodes that use it.
    pub drops: Cow<'static, [DropReason]>,
}

/// Where a frame can end instead of at another node: sent (`tx`),
/// consumed by xgw (`local`), dropped with a reason (`drop`) or parked
/// until the pipeline releases it (`park`).
pub const ENDS: [&str; 4] = ["tx", "local", "drop", "park"];

/// Runtime figures of one node on one worker. The worker that runs the
/// node is their only writer (Relaxed load + store, no locked
/// instruction, as every engine counter); readers get a consistent copy
/// through the worker's stats sequence (the engine runs the pipeline
/// inside its burst's write section).
#[derive(Debug, Default)]
pub struct NodeCounters {
    /// Times the runner called the node.
    pub calls: AtomicU64,
    /// Calls with at least one frame.
    pub vectors: AtomicU64,
    /// Frames handed to the node.
    pub packets: AtomicU64,
    /// Clock ticks spent in it (TSC cycles on x86_64; see [`NodeClock`]).
    pub cycles: AtomicU64,
}

#[inline(always)]
fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl NodeCounters {
    /// Counts one call over `packets` frames that took `cycles`
    /// (single writer).
    #[inline]
    pub fn record(&self, packets: usize, cycles: u64) {
        add(&self.calls, 1);
        add(&self.vectors, (packets > 0) as u64);
        add(&self.packets, packets as u64);
        add(&self.cycles, cycles);
    }
}

fn no_clock() -> u64 {
    0
}

/// The clock and the counters a pipeline's node runner records into.
/// `now` is the engine's cycle counter (RDTSC on x86_64: reading it needs
/// `unsafe`, which this crate forbids, so the engine hands in a safe
/// function); `nodes[i]` counts node `i` of [`Pipeline::nodes`].
/// [`NodeClock::OFF`] records nothing (tests, tools).
#[derive(Clone, Copy)]
pub struct NodeClock<'a> {
    now: fn() -> u64,
    nodes: &'a [NodeCounters],
}

impl<'a> NodeClock<'a> {
    /// Records nothing.
    pub const OFF: NodeClock<'static> = NodeClock {
        now: no_clock,
        nodes: &[],
    };

    pub fn new(now: fn() -> u64, nodes: &'a [NodeCounters]) -> Self {
        NodeClock { now, nodes }
    }

    /// The clock, before a node call.
    #[inline(always)]
    pub fn start(&self) -> u64 {
        (self.now)()
    }

    /// After a call of node `node` over `packets` frames that began at
    /// `t0` (from [`NodeClock::start`]): reads the clock again and counts.
    #[inline(always)]
    pub fn stop(&self, node: usize, packets: usize, t0: u64) {
        if let Some(c) = self.nodes.get(node) {
            c.record(packets, (self.now)().wrapping_sub(t0));
        }
    }
}

/// What a stage or node gets besides the frames.
pub struct Ctx<'a> {
    /// Monotonic time of this burst, in nanoseconds (CLOCK_MONOTONIC; the
    /// same time base on every worker).
    pub now_ns: u64,
    emit: &'a mut dyn Emit,
    /// Where node runners record their runtime figures.
    pub clock: NodeClock<'a>,
}

impl<'a> Ctx<'a> {
    pub fn new(now_ns: u64, emit: &'a mut dyn Emit) -> Self {
        Ctx {
            now_ns,
            emit,
            clock: NodeClock::OFF,
        }
    }

    /// As [`Ctx::new`], recording node runtime figures into `clock`.
    pub fn with_clock(now_ns: u64, emit: &'a mut dyn Emit, clock: NodeClock<'a>) -> Self {
        Ctx {
            now_ns,
            emit,
            clock,
        }
    }

    /// See [`Emit::emit`].
    #[inline]
    pub fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.emit.emit(port, build)
    }

    /// See [`Emit::release`].
    pub fn release(&mut self, token: u32, at: StageId) -> bool {
        self.emit.release(token, at)
    }

    /// See [`Emit::discard`].
    pub fn discard(&mut self, token: u32, reason: DropReason) -> bool {
        self.emit.discard(token, reason)
    }

    /// See [`Emit::inject`].
    pub fn inject(
        &mut self,
        port: PortId,
        meta: Meta,
        at: StageId,
        build: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        self.emit.inject(port, meta, at, build)
    }
}

/// One processing step.
pub trait Stage: Send {
    /// Short name used in traces, errors and runtime figures.
    fn name(&self) -> &'static str;

    /// Where this stage may send frames: names of later stages of its
    /// graph, or ends ([`ENDS`]). Shown by `xgw graph`.
    fn next(&self) -> &'static [&'static str] {
        &[]
    }

    /// The drop reasons this stage files frames under.
    fn drops(&self) -> &'static [DropReason] {
        &[]
    }

    /// Looks at `pkts[i]` for every `i` in `sel` and sets `verdicts[i]`.
    /// Frames not in `sel` must not be touched.
    fn process(
        &mut self,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        verdicts: &mut [Verdict],
    );

    /// Timers, about every 10 ms (see [`Pipeline::tick`]).
    fn tick(&mut self, _cx: &mut Ctx<'_>) {}
}

/// What the engine's burst runner calls: one verdict per frame, final
/// (`Tx`, `Local`, `Drop` or `Park`; never `Next`).
pub trait Pipeline: Send {
    fn process(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], verdicts: &mut [Verdict]);

    /// Runs released frames (see [`Verdict::Park`]) from stage `at` (in a
    /// node graph: node `at`).
    fn resume(
        &mut self,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        verdicts: &mut [Verdict],
        at: StageId,
    ) {
        let _ = at;
        self.process(cx, pkts, verdicts)
    }

    /// Called about every 10 ms, between bursts: timers (retransmissions,
    /// aging, periodic announcements). May emit frames.
    fn tick(&mut self, _cx: &mut Ctx<'_>) {}

    /// The pipeline's nodes, in the order of the counters its runner
    /// records into ([`NodeClock`]): the engine sizes each worker's
    /// runtime counters from this list when it builds the worker.
    fn nodes(&self) -> &[NodeInfo] {
        &[]
    }
}

const fn identity() -> [u16; MAX_BURST] {
    let mut a = [0u16; MAX_BURST];
    let mut i = 0;
    while i < MAX_BURST {
        a[i] = i as u16;
        i += 1;
    }
    a
}
static IDENTITY: [u16; MAX_BURST] = identity();

/// An ordered list of stages run over each burst.
pub struct Graph {
    stages: Vec<Box<dyn Stage>>,
    /// Node `i` is stage `i`.
    nodes: Vec<NodeInfo>,
    sel: [u16; MAX_BURST],
}

impl Graph {
    /// Builds a graph; at least one stage and at most 255.
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Self {
        assert!(!stages.is_empty() && stages.len() < StageId::MAX as usize);
        Graph {
            nodes: stages
                .iter()
                .map(|s| NodeInfo {
                    name: s.name(),
                    next: Cow::Borrowed(s.next()),
                    drops: Cow::Borrowed(s.drops()),
                })
                .collect(),
            stages,
            sel: [0; MAX_BURST],
        }
    }

    /// Stage names in order.
    pub fn stage_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.stages.iter().map(|s| s.name())
    }
}

impl Graph {
    fn run_from(
        &mut self,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        verdicts: &mut [Verdict],
        at: usize,
    ) {
        let n = pkts.len().min(verdicts.len()).min(MAX_BURST);
        let (pkts, verdicts) = (&mut pkts[..n], &mut verdicts[..n]);
        let clock = cx.clock;
        let first = if at == 0 {
            // Stage 0 sees the whole burst.
            let t0 = clock.start();
            self.stages[0].process(cx, pkts, &IDENTITY[..n], verdicts);
            clock.stop(0, n, t0);
            1
        } else {
            verdicts.fill(Verdict::Next(at.min(StageId::MAX as usize) as StageId));
            at
        };
        for s in first..self.stages.len() {
            let t0 = clock.start();
            let mut k = 0;
            for (i, v) in verdicts.iter_mut().enumerate() {
                match *v {
                    Verdict::Next(t) if t as usize == s => {
                        self.sel[k] = i as u16;
                        k += 1;
                    }
                    Verdict::Next(t) if (t as usize) < s => {
                        *v = Verdict::Drop(DropReason::PipelineBadNext)
                    }
                    _ => {}
                }
            }
            if k > 0 {
                self.stages[s].process(cx, pkts, &self.sel[..k], verdicts);
                clock.stop(s, k, t0);
            }
        }
        for v in verdicts.iter_mut() {
            if let Verdict::Next(_) = v {
                *v = Verdict::Drop(DropReason::PipelineBadNext);
            }
        }
    }
}

impl Pipeline for Graph {
    fn process(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], verdicts: &mut [Verdict]) {
        self.run_from(cx, pkts, verdicts, 0)
    }

    fn resume(
        &mut self,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        verdicts: &mut [Verdict],
        at: StageId,
    ) {
        self.run_from(cx, pkts, verdicts, at as usize)
    }

    fn tick(&mut self, cx: &mut Ctx<'_>) {
        for s in &mut self.stages {
            s.tick(cx);
        }
    }

    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends even-length frames to stage 1, odd ones out of port 1.
    struct Split;
    impl Stage for Split {
        fn name(&self) -> &'static str {
            "split"
        }
        fn process(
            &mut self,
            _cx: &mut Ctx<'_>,
            pkts: &mut [Packet<'_>],
            sel: &[u16],
            v: &mut [Verdict],
        ) {
            for &i in sel {
                let i = i as usize;
                // MSRV 1.80: `is_multiple_of` is 1.87.
                #[allow(clippy::manual_is_multiple_of)]
                let even = pkts[i].len() % 2 == 0;
                v[i] = if even {
                    Verdict::Next(1)
                } else {
                    Verdict::Tx(PortId(1))
                };
            }
        }
    }
    /// Marks frames and drops the ones starting with 0xff; loops back
    /// (illegally) on 0xee.
    struct Mark(u32);
    impl Stage for Mark {
        fn name(&self) -> &'static str {
            "mark"
        }
        fn process(
            &mut self,
            _cx: &mut Ctx<'_>,
            pkts: &mut [Packet<'_>],
            sel: &[u16],
            v: &mut [Verdict],
        ) {
            for &i in sel {
                let i = i as usize;
                self.0 += 1;
                let d = pkts[i].data_mut();
                v[i] = match d[0] {
                    0xff => Verdict::Drop(DropReason::L2Runt),
                    0xee => Verdict::Next(0),
                    _ => {
                        d[1] = 0xaa;
                        Verdict::Local
                    }
                };
            }
        }
    }

    #[test]
    fn frames_go_only_through_named_stages() {
        let mut bufs = [[0u8; 8]; 4];
        bufs[0][0] = 0xff;
        bufs[2][0] = 0xee;
        let lens = [2u32, 3, 4, 4];
        let mut it = bufs.iter_mut();
        let mut pkts: Vec<Packet<'_>> = lens
            .iter()
            .map(|&l| Packet::new(it.next().unwrap(), 0, l, PortId(0)).unwrap())
            .collect();
        let mut v = [Verdict::Local; 4];
        let mut g = Graph::new(vec![Box::new(Split), Box::new(Mark(0))]);
        g.process(&mut Ctx::new(0, &mut NoEmit), &mut pkts, &mut v);
        assert_eq!(v[0], Verdict::Drop(DropReason::L2Runt));
        assert_eq!(v[1], Verdict::Tx(PortId(1)));
        assert_eq!(v[2], Verdict::Drop(DropReason::PipelineBadNext));
        assert_eq!(v[3], Verdict::Local);
        assert_eq!(pkts[3].data()[1], 0xaa);
        assert_eq!(pkts[1].data()[1], 0, "odd frame never reached stage 1");
        assert_eq!(g.stage_names().collect::<Vec<_>>(), ["split", "mark"]);
    }

    /// A fake clock that advances 10 per read.
    fn tick10() -> u64 {
        use std::sync::atomic::AtomicU64;
        static T: AtomicU64 = AtomicU64::new(0);
        T.fetch_add(10, Relaxed)
    }

    /// The runner counts one call per stage that got frames, the frames
    /// it got and the clock between the two reads around it.
    #[test]
    fn node_figures_count_calls_frames_and_cycles() {
        let mut bufs = [[0u8; 8]; 3];
        let lens = [2u32, 3, 4];
        let mut it = bufs.iter_mut();
        let mut pkts: Vec<Packet<'_>> = lens
            .iter()
            .map(|&l| Packet::new(it.next().unwrap(), 0, l, PortId(0)).unwrap())
            .collect();
        let mut v = [Verdict::Local; 3];
        let mut g = Graph::new(vec![Box::new(Split), Box::new(Mark(0))]);
        assert_eq!(
            g.nodes().iter().map(|n| n.name).collect::<Vec<_>>(),
            ["split", "mark"]
        );
        let counters = [NodeCounters::default(), NodeCounters::default()];
        let clock = NodeClock::new(tick10, &counters);
        g.process(
            &mut Ctx::with_clock(0, &mut NoEmit, clock),
            &mut pkts,
            &mut v,
        );
        // Odd lengths only: stage 1 gets no frame and is not called.
        g.process(
            &mut Ctx::with_clock(0, &mut NoEmit, clock),
            &mut pkts[1..2],
            &mut v[1..2],
        );
        let get = |c: &NodeCounters| {
            (
                c.calls.load(Relaxed),
                c.vectors.load(Relaxed),
                c.packets.load(Relaxed),
                c.cycles.load(Relaxed),
            )
        };
        let (calls, vectors, packets, cycles) = get(&counters[0]);
        assert_eq!((calls, vectors, packets), (2, 2, 4));
        assert!(cycles >= 20);
        let (calls, vectors, packets, cycles) = get(&counters[1]);
        assert_eq!((calls, vectors, packets), (1, 1, 2));
        assert!(cycles >= 10);
        // Off: nothing is counted, nothing breaks.
        g.process(&mut Ctx::new(0, &mut NoEmit), &mut pkts, &mut v);
        assert_eq!(get(&counters[0]).0, 2);
    }
}
