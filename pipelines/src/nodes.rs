//! A graph of named nodes sharing state `S`, with named arcs resolved when
//! the graph is built — the shape of VPP's graph.
//!
//! Each node is its own struct (its own state, its own file) implementing
//! [`Node`]. It declares where it may send frames by name ([`Node::next`]):
//! other nodes of the graph, or the ends ([`crate::graph::ENDS`]: `tx`,
//! `local`, `drop`, `park`), which are listed for `xgw graph` only. A node
//! sends frame `i` along its `k`-th arc by writing `Verdict::Next(k)`; the
//! runner maps the arc to the node it names (VPP's next index).
//! [`NodeGraph::new`] refuses a graph whose arcs name a node it does not
//! have.
//!
//! Nodes process vectors: the runner keeps one queue of frame indices per
//! node, and calls each node that has frames with all of them at once, in
//! node order, sweeping again while any queue is non-empty. So an arc to a
//! later node is taken in the same sweep, and an arc back (a decapsulated
//! packet input again) in the next one. Loops are bounded per frame: a
//! frame that has taken [`MAX_HOPS`] arcs is dropped as
//! `graph.hop_limit`. Arcs cost one table read and one queue push per
//! frame; every node call is timed ([`crate::NodeClock`]).

use std::borrow::Cow;

use crate::graph::{NodeInfo, ENDS};
use crate::{Ctx, DropReason, Meta, Packet, Verdict, MAX_BURST};

/// A node's index in its graph.
pub type NodeId = u8;

/// Arcs one frame may take through a graph before it is dropped as
/// `graph.hop_limit` (the longest real path — input, local, decap, input
/// again, lookup, encap, rewrite — takes 8).
pub const MAX_HOPS: u8 = 24;

/// A node of a [`NodeGraph`] over shared state `S`.
pub trait Node<S>: Send {
    /// Stable name (runtime figures, `xgw graph`, traces).
    fn name(&self) -> &'static str;

    /// Named arcs: `Verdict::Next(k)` sends a frame to the node named
    /// `next()[k]`. Names in [`ENDS`] are shown by `xgw graph` but are not
    /// arcs (a node ends a frame with `Tx`, `Local`, `Drop` or `Park`).
    fn next(&self) -> &[&'static str];

    /// The drop reasons this node files frames under, declared next to
    /// its code (`xgw drop-reasons` lists the nodes of each reason; a test
    /// checks every reason has one).
    fn drops(&self) -> &'static [DropReason] {
        &[]
    }

    /// Looks at `pkts[i]` for every `i` in `sel` and sets `v[i]`. Frames
    /// not in `sel` must not be touched.
    fn process(
        &mut self,
        s: &mut S,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        v: &mut [Verdict],
    );

    /// Timers, about every 10 ms.
    fn tick(&mut self, _s: &mut S, _cx: &mut Ctx<'_>) {}
}

/// What the runner tells the shared state: a frame dropped by a node (for
/// per-interface drop counters; the engine counts the drop itself).
pub trait Shared {
    fn dropped(&mut self, _meta: &Meta, _reason: DropReason) {}
}

impl Shared for () {}

/// Not a node: an arc naming an end.
const END: NodeId = NodeId::MAX;

/// One node a traced frame went through (`xgw trace`): the node, where it
/// sent the frame (`Next` holds the next node's index, not an arc) and
/// the metadata it left (ingress interface, next hop, feature words).
#[derive(Clone, Copy, Debug)]
pub struct Hop {
    pub frame: u16,
    pub node: NodeId,
    pub verdict: Verdict,
    pub iface: u16,
    pub nh: u32,
    pub feature: [u32; 4],
}

/// Nodes, their resolved arcs and the per-node queues.
pub struct NodeGraph<S> {
    nodes: Vec<Box<dyn Node<S>>>,
    /// Per node: arc `k` → node index (`END` for an end).
    arcs: Vec<Vec<NodeId>>,
    info: Vec<NodeInfo>,
    /// `queues[n * MAX_BURST..][..lens[n]]`: frames waiting for node `n`.
    queues: Vec<u16>,
    lens: Vec<u16>,
    /// Queue `n` may not be in frame order (a frame came back to it).
    unsorted: Vec<bool>,
    /// Node `n` records its runtime figures as node `clock_base + n`.
    clock_base: usize,
}

impl<S: Shared> NodeGraph<S> {
    /// Builds the graph, resolving every node's arcs by name. At most 254
    /// nodes with unique names.
    pub fn new(nodes: Vec<Box<dyn Node<S>>>, clock_base: usize) -> Result<Self, String> {
        if nodes.is_empty() || nodes.len() >= END as usize {
            return Err(format!("a graph has 1 to 254 nodes, not {}", nodes.len()));
        }
        let id = |name: &str| nodes.iter().position(|n| n.name() == name);
        let mut arcs = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if id(n.name()) != Some(i) {
                return Err(format!("two nodes are named {}", n.name()));
            }
            let mut a = Vec::with_capacity(n.next().len());
            for &to in n.next() {
                a.push(match id(to) {
                    Some(t) => t as NodeId,
                    None if ENDS.contains(&to) => END,
                    None => return Err(format!("node {}: arc to unknown node {to}", n.name())),
                });
            }
            arcs.push(a);
        }
        let info = nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.name(),
                next: Cow::Owned(n.next().to_vec()),
                drops: Cow::Borrowed(n.drops()),
            })
            .collect();
        Ok(NodeGraph {
            queues: vec![0; nodes.len() * MAX_BURST],
            lens: vec![0; nodes.len()],
            unsorted: vec![false; nodes.len()],
            arcs,
            info,
            nodes,
            clock_base,
        })
    }

    /// The index of the node named `name`.
    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.info
            .iter()
            .position(|n| n.name == name)
            .map(|i| i as NodeId)
    }

    /// The nodes as `xgw graph` shows them.
    pub fn info(&self) -> &[NodeInfo] {
        &self.info
    }

    /// The drop reasons node `n` declares.
    pub fn drops(&self, n: usize) -> &'static [DropReason] {
        self.nodes.get(n).map_or(&[], |n| n.drops())
    }

    /// Runs every frame whose verdict is `Next(n)` — `n` a node index of
    /// this graph, not an arc — through the graph until each has a final
    /// verdict. Other verdicts are left as they are.
    pub fn run(&mut self, s: &mut S, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], v: &mut [Verdict]) {
        self.run_inner::<false>(s, cx, pkts, v, &[], &mut Vec::new());
    }

    /// As [`NodeGraph::run`], writing into `log` one [`Hop`] per node each
    /// frame `i` with `marked[i]` goes through (`xgw trace`; the untraced
    /// runner is a separate instance of the same code, so tracing costs
    /// nothing when it is off).
    pub fn run_traced(
        &mut self,
        s: &mut S,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        v: &mut [Verdict],
        marked: &[bool],
        log: &mut Vec<Hop>,
    ) {
        self.run_inner::<true>(s, cx, pkts, v, marked, log);
    }

    fn run_inner<const TRACE: bool>(
        &mut self,
        s: &mut S,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        v: &mut [Verdict],
        marked: &[bool],
        log: &mut Vec<Hop>,
    ) {
        let n = pkts.len().min(v.len()).min(MAX_BURST);
        let (pkts, v) = (&mut pkts[..n], &mut v[..n]);
        let count = self.nodes.len();
        let mut waiting = 0usize;
        for (i, x) in v.iter_mut().enumerate() {
            if let Verdict::Next(t) = *x {
                if (t as usize) < count {
                    self.queues[t as usize * MAX_BURST + self.lens[t as usize] as usize] = i as u16;
                    self.lens[t as usize] += 1;
                    waiting += 1;
                } else {
                    *x = Verdict::Drop(DropReason::PipelineBadNext);
                }
            }
        }
        let mut hops = [0u8; MAX_BURST];
        let mut sel = [0u16; MAX_BURST];
        let clock = cx.clock;
        // Nodes run in index order; a frame sent back to an earlier node
        // makes the runner go back there first, so frames meet later nodes
        // together and each node sees its frames in burst order (what a
        // node does in order, like numbering outer IPv4 headers, follows
        // the arrival order whatever path each frame took).
        let mut node = 0;
        while waiting > 0 && node < count {
            let k = self.lens[node] as usize;
            if k == 0 {
                node += 1;
                continue;
            }
            sel[..k].copy_from_slice(&self.queues[node * MAX_BURST..][..k]);
            if self.unsorted[node] {
                sel[..k].sort_unstable();
                self.unsorted[node] = false;
            }
            self.lens[node] = 0;
            waiting -= k;
            let t0 = clock.start();
            self.nodes[node].process(s, cx, pkts, &sel[..k], v);
            clock.stop(self.clock_base + node, k, t0);
            let arcs = &self.arcs[node];
            let mut back = node + 1;
            for &i in &sel[..k] {
                let i = i as usize;
                if TRACE && marked.get(i).copied().unwrap_or(false) && log.len() < log.capacity() {
                    let m = &pkts[i].meta;
                    log.push(Hop {
                        frame: i as u16,
                        node: node as NodeId,
                        verdict: match v[i] {
                            Verdict::Next(a) => Verdict::Next(
                                self.arcs[node].get(a as usize).copied().unwrap_or(END),
                            ),
                            x => x,
                        },
                        iface: m.iface,
                        nh: m.nh,
                        feature: m.feature.0,
                    });
                }
                match v[i] {
                    Verdict::Next(a) => {
                        let to = arcs.get(a as usize).copied().unwrap_or(END);
                        hops[i] += 1;
                        v[i] = if to == END {
                            Verdict::Drop(DropReason::PipelineBadNext)
                        } else if hops[i] > MAX_HOPS {
                            Verdict::Drop(DropReason::GraphHopLimit)
                        } else {
                            let t = to as usize;
                            let at = t * MAX_BURST + self.lens[t] as usize;
                            if self.lens[t] > 0 && self.queues[at - 1] as usize > i {
                                self.unsorted[t] = true;
                            }
                            self.queues[at] = i as u16;
                            self.lens[t] += 1;
                            waiting += 1;
                            back = back.min(t);
                            Verdict::Next(to)
                        };
                        if let Verdict::Drop(r) = v[i] {
                            s.dropped(&pkts[i].meta, r);
                        }
                    }
                    Verdict::Drop(r) => s.dropped(&pkts[i].meta, r),
                    _ => {}
                }
            }
            node = back;
        }
    }

    /// Calls every node's timers.
    pub fn tick(&mut self, s: &mut S, cx: &mut Ctx<'_>) {
        for n in &mut self.nodes {
            n.tick(s, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoEmit, NodeClock, NodeCounters, PortId};
    use std::sync::atomic::Ordering::Relaxed;

    #[derive(Default)]
    struct Seen {
        dropped: Vec<DropReason>,
    }
    impl Shared for Seen {
        fn dropped(&mut self, _m: &Meta, r: DropReason) {
            self.dropped.push(r);
        }
    }

    /// "in": even lengths to "work", odd ones out of port 1; byte 0xee
    /// goes to "nowhere" (an end named as an arc).
    struct In;
    impl Node<Seen> for In {
        fn name(&self) -> &'static str {
            "in"
        }
        fn next(&self) -> &[&'static str] {
            &["work", "tx"]
        }
        fn process(
            &mut self,
            _: &mut Seen,
            _: &mut Ctx<'_>,
            p: &mut [Packet<'_>],
            sel: &[u16],
            v: &mut [Verdict],
        ) {
            for &i in sel {
                let i = i as usize;
                v[i] = match (p[i].data()[0], p[i].len() % 2) {
                    (0xee, _) => Verdict::Next(1),
                    (_, 0) => Verdict::Next(0),
                    _ => Verdict::Tx(PortId(1)),
                };
            }
        }
    }
    /// "work": counts byte 1 up; 0xff drops; 0x11 loops back to "in"
    /// (once per pass, so forever); otherwise local.
    struct Work;
    impl Node<Seen> for Work {
        fn name(&self) -> &'static str {
            "work"
        }
        fn next(&self) -> &[&'static str] {
            &["in", "local", "drop"]
        }
        fn process(
            &mut self,
            _: &mut Seen,
            _: &mut Ctx<'_>,
            p: &mut [Packet<'_>],
            sel: &[u16],
            v: &mut [Verdict],
        ) {
            for &i in sel {
                let i = i as usize;
                let d = p[i].data_mut();
                d[1] = d[1].wrapping_add(1);
                v[i] = match d[0] {
                    0xff => Verdict::Drop(DropReason::L2Runt),
                    0x11 => Verdict::Next(0),
                    _ => Verdict::Local,
                };
            }
        }
    }

    fn graph() -> NodeGraph<Seen> {
        NodeGraph::new(vec![Box::new(In), Box::new(Work)], 0).unwrap()
    }

    #[test]
    fn arcs_are_resolved_by_name_and_loops_are_bounded() {
        let mut bufs = [[0u8; 8]; 5];
        bufs[0][0] = 0xff;
        bufs[2][0] = 0xee;
        bufs[4][0] = 0x11;
        let lens = [2u32, 3, 4, 4, 6];
        let mut it = bufs.iter_mut();
        let mut pkts: Vec<Packet<'_>> = lens
            .iter()
            .map(|&l| Packet::new(it.next().unwrap(), 0, l, PortId(0)).unwrap())
            .collect();
        let mut v = [Verdict::Next(0); 5];
        let mut g = graph();
        let mut s = Seen::default();
        let counters: Vec<NodeCounters> = (0..2).map(|_| NodeCounters::default()).collect();
        fn one() -> u64 {
            1
        }
        let mut emit = NoEmit;
        let mut cx = Ctx::with_clock(0, &mut emit, NodeClock::new(one, &counters));
        g.run(&mut s, &mut cx, &mut pkts, &mut v);
        assert_eq!(v[0], Verdict::Drop(DropReason::L2Runt));
        assert_eq!(v[1], Verdict::Tx(PortId(1)));
        assert_eq!(
            v[2],
            Verdict::Drop(DropReason::PipelineBadNext),
            "an end is not an arc"
        );
        assert_eq!(v[3], Verdict::Local);
        assert_eq!(pkts[3].data()[1], 1, "through work once");
        assert_eq!(v[4], Verdict::Drop(DropReason::GraphHopLimit));
        // in → work is hop 1, work → in hop 2, ...: MAX_HOPS arcs taken,
        // the next one refused; work ran after every odd hop.
        assert_eq!(pkts[4].data()[1], MAX_HOPS / 2);
        assert_eq!(
            s.dropped,
            [
                DropReason::PipelineBadNext,
                DropReason::L2Runt,
                DropReason::GraphHopLimit
            ]
        );
        // "in" ran in every sweep that had frames for it.
        assert_eq!(counters[0].packets.load(Relaxed), 5 + MAX_HOPS as u64 / 2);
        assert_eq!(g.id("work"), Some(1));
        assert_eq!(*g.info()[1].next, ["in", "local", "drop"]);
    }

    #[test]
    fn unknown_arcs_and_duplicate_names_are_refused() {
        struct Bad;
        impl Node<Seen> for Bad {
            fn name(&self) -> &'static str {
                "bad"
            }
            fn next(&self) -> &[&'static str] {
                &["nowhere"]
            }
            fn process(
                &mut self,
                _: &mut Seen,
                _: &mut Ctx<'_>,
                _: &mut [Packet<'_>],
                _: &[u16],
                _: &mut [Verdict],
            ) {
            }
        }
        let e = NodeGraph::new(vec![Box::new(In), Box::new(Work), Box::new(Bad)], 0).err();
        assert_eq!(e.as_deref(), Some("node bad: arc to unknown node nowhere"));
        let e = NodeGraph::new(vec![Box::new(In), Box::new(Work), Box::new(Work)], 0).err();
        assert_eq!(e.as_deref(), Some("two nodes are named work"));
    }

    #[test]
    fn frames_entering_at_a_bad_node_are_dropped() {
        let mut b = [0u8; 4];
        let mut pkts = vec![Packet::new(&mut b, 0, 4, PortId(0)).unwrap()];
        let mut v = [Verdict::Next(9)];
        graph().run(
            &mut Seen::default(),
            &mut Ctx::new(0, &mut NoEmit),
            &mut pkts,
            &mut v,
        );
        assert_eq!(v[0], Verdict::Drop(DropReason::PipelineBadNext));
    }
}
