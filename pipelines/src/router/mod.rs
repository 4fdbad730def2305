//! The router core: parse/classify, local delivery (ARP, NDP, ICMP echo),
//! IPv4/IPv6 forwarding with ICMP errors and reverse-path filtering, and
//! neighbour resolution with a pending queue.
//!
//! One [`Router`] per worker owns its tables (interfaces, FIB, neighbour
//! cache), so its steps share state without locks. It runs like a
//! [`crate::Graph`]: each step takes the frames whose verdict names it.
//!
//! ```text
//!  PARSE ─┬─ ARP ───────────────(reply)────────────────┐
//!         ├─ LOCAL4 (echo, errors) ──┐                  │
//!         ├─ LOCAL6 (NDP, echo) ─────┼─(reply)──┐       │
//!         ├─ FWD4 ◄──────────────────┘          │       │
//!         └─ FWD6 ◄─────────────────────────────┘       │
//!              └──► RESOLVE (neighbour, MAC/VLAN) ──► Tx ◄┘
//! ```
//! Internally every frame is untagged after PARSE (a VLAN tag is removed
//! and remembered as the ingress interface); RESOLVE writes the egress
//! Ethernet header, with a tag if the egress interface has one.

pub mod fast;
pub mod forward;
pub mod icmp;
pub mod local;
pub mod neigh;
pub mod parse;
pub mod ra;
pub mod resolve;
pub mod spec;
pub mod table;
pub mod tunnel;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::graph::{NodeInfo, StageId};
use crate::{Ctx, DropReason, Packet, Pipeline, Verdict, MAX_BURST, MAX_PORTS};
use neigh::{NeighCache, NeighborBus};
use spec::{IfaceId, IfaceSpec, RouterSpec};
use table::{Rib, RouteHandle, RouteTable};

pub const PARSE: StageId = 0;
pub const ARP: StageId = 1;
pub const LOCAL4: StageId = 2;
pub const LOCAL6: StageId = 3;
pub const FWD4: StageId = 4;
pub const FWD6: StageId = 5;
pub const ENCAP: StageId = 6;
pub const RESOLVE: StageId = 7;
const STEPS: usize = 8;

/// The router's nodes, as `xgw runtime` counts them and `xgw graph` shows
/// them: the fast path (node 0), then step `s` as node `1 + s`. The arcs
/// are what each step's code returns today (read from `fast.rs`,
/// `parse.rs`, `tunnel.rs` (decap, encap), `local.rs`, `ra.rs`, `icmp.rs`,
/// `forward.rs`, `resolve.rs`); a step's ICMP error or echo reply is routed
/// by sending it to FWD4/FWD6, and FWD4/FWD6 route the errors they make
/// themselves inline.
pub const NODES: [NodeInfo; 1 + STEPS] = [
    NodeInfo {
        name: "router-fast",
        // Untouched frames go to PARSE; a frame it changed and cannot
        // finish goes to the step that comes next (a decapsulated inner
        // packet: as PARSE would send it).
        next: &[
            "router-parse",
            "router-local4",
            "router-local6",
            "router-fwd4",
            "router-fwd6",
            "router-encap",
            "router-resolve",
            "tx",
            "drop",
        ],
    },
    NodeInfo {
        name: "router-parse",
        next: &[
            "router-arp",
            "router-local4",
            "router-local6",
            "router-fwd4",
            "router-fwd6",
            "drop",
        ],
    },
    NodeInfo {
        name: "router-arp",
        next: &["tx", "local", "drop"],
    },
    NodeInfo {
        name: "router-local4",
        // Echo replies and ICMP errors to FWD4; an underlay Fragmentation
        // Needed relayed to a tunnel's inner sender to FWD4 or FWD6.
        next: &["router-fwd4", "router-fwd6", "local", "drop"],
    },
    NodeInfo {
        name: "router-local6",
        // NDP answers leave at once; echo replies, errors and relayed
        // Packet Too Big to FWD6 (or FWD4 for a 4in6 inner sender).
        next: &["router-fwd4", "router-fwd6", "tx", "local", "drop"],
    },
    NodeInfo {
        name: "router-fwd4",
        next: &["router-encap", "router-resolve", "drop"],
    },
    NodeInfo {
        name: "router-fwd6",
        next: &["router-encap", "router-resolve", "drop"],
    },
    NodeInfo {
        name: "router-encap",
        next: &["router-resolve", "drop"],
    },
    NodeInfo {
        name: "router-resolve",
        next: &["tx", "park", "drop"],
    },
];

/// The node (index into [`NODES`]) of the fast path and of step `s`.
const NODE_FAST: usize = 0;
#[inline(always)]
const fn node_of(step: usize) -> usize {
    1 + step
}

/// Internal L2 header length (VLAN tags are stripped at parse).
pub const L2: usize = 14;

/// A resolved route target, indexed by [`NextHopId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    Via { iface: IfaceId, gateway: IpAddr },
    Connected { iface: IfaceId },
    Blackhole,
    Unreachable,
}

/// ICMP error token bucket (RFC 4443 §2.4(f), RFC 1812 §4.3.2.8).
pub struct RateLimit {
    tokens: u64,
    burst: u64,
    per_sec: u64,
    last_ns: u64,
}

impl RateLimit {
    pub fn new(per_sec: u64, burst: u64) -> Self {
        RateLimit {
            tokens: burst,
            burst,
            per_sec,
            last_ns: 0,
        }
    }

    pub fn take(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last_ns);
        let add = elapsed.saturating_mul(self.per_sec) / 1_000_000_000;
        if add > 0 {
            self.tokens = (self.tokens + add).min(self.burst);
            self.last_ns = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The router pipeline of one worker.
pub struct Router {
    pub(crate) ifaces: Vec<IfaceSpec>,
    /// Per port: (VLAN, interface) pairs.
    by_port: Vec<Vec<(u16, IfaceId)>>,
    pub(crate) local4: Vec<(Ipv4Addr, IfaceId)>,
    /// Directed broadcast addresses of our IPv4 subnets (not /31, /32).
    pub(crate) bcast4: Vec<Ipv4Addr>,
    pub(crate) local6: Vec<(Ipv6Addr, IfaceId)>,
    /// The route handle, and the table this worker currently uses
    /// (refreshed once per burst when the version moves).
    routes: Arc<RouteHandle>,
    pub(crate) table: Arc<RouteTable>,
    pub(crate) neigh: NeighCache,
    pub(crate) bus: Arc<NeighborBus>,
    pub(crate) worker: usize,
    pub(crate) icmp_limit: RateLimit,
    announced: bool,
    /// Router Advertisement timers (see [`ra`]).
    pub(crate) ra: ra::RaTimers,
    /// When this worker last published its neighbour view.
    viewed_ns: u64,
    /// Per-tunnel counters, by slot.
    pub(crate) tcount: Vec<tunnel::TunnelCount>,
    /// IPv4 identification for headers we write (outer tunnel headers).
    pub(crate) ip_ident: u16,
    /// What `iface()` answers for a tunnel removed under a packet.
    gone: IfaceSpec,
    /// Gateway next hop → MAC answers (see `resolve`).
    pub(crate) nh_memo: [resolve::NhMemo; resolve::NH_MEMO],
    /// Tunnels as the fast path encapsulates into them, by slot.
    pub(crate) fast_tun: Box<[fast::FastTun]>,
    /// Tunnels by outer addresses, for the fast path's decapsulation.
    pub(crate) tun_map: Box<fast::TunMap>,
    /// On-link host → MAC answers (see `resolve`).
    pub(crate) host_memo: Box<[resolve::HostMemo; resolve::HOST_MEMO]>,
    /// The fast path (see [`fast`]): on unless a test turns it off.
    fast_on: bool,
    /// An earlier frame of this burst may still reach ENCAP: the fast path
    /// leaves encapsulation to that step.
    pub(crate) encap_defer: bool,
    /// How often the fast path forwarded, encapsulated and decapsulated
    /// (tests check that their frames really took it).
    #[cfg(test)]
    pub(crate) fast_seen: [u64; 3],
    pub(crate) fast_in: fast::FastPorts,
    pub(crate) local4_filter: fast::AddrFilter,
    pub(crate) local6_filter: fast::AddrFilter,
}

/// Builds the router pipeline for worker `worker`, sharing `bus` (learned
/// neighbours) with the other workers and reading routes from `routes`
/// (see [`table::Rib`]).
pub fn build_worker(
    spec: &RouterSpec,
    worker: usize,
    bus: Arc<NeighborBus>,
    routes: Arc<RouteHandle>,
) -> Result<Router, String> {
    let mut by_port: Vec<Vec<(u16, IfaceId)>> = vec![Vec::new(); MAX_PORTS];
    let mut local4 = Vec::new();
    let mut local6 = Vec::new();
    for (i, f) in spec.ifaces.iter().enumerate() {
        let id = i as IfaceId;
        by_port
            .get_mut(f.port.index())
            .ok_or_else(|| format!("interface {}: port out of range", f.name))?
            .push((f.vlan, id));
        local4.extend(f.ipv4.iter().map(|&(a, _)| (a, id)));
        local6.extend(f.ipv6.iter().map(|&(a, _)| (a, id)));
        local6.push((f.link_local, id));
    }
    let mut neigh = NeighCache::new(neigh::NEIGH_CAPACITY);
    for n in &spec.neighbors {
        neigh.add_static(
            neigh::Key {
                iface: n.iface,
                ip: n.ip,
            },
            n.mac,
        );
    }
    let bcast4 = spec
        .ifaces
        .iter()
        .flat_map(|f| f.ipv4.iter())
        .filter(|&&(_, l)| l < 31)
        .map(|&(a, l)| Ipv4Addr::from(u32::from(a) | (u32::MAX >> l)))
        .collect();
    let mut r = Router {
        ifaces: spec.ifaces.clone(),
        bcast4,
        by_port,
        local4,
        local6,
        table: routes.load(),
        routes,
        neigh,
        bus,
        worker,
        icmp_limit: RateLimit::new(200, 100),
        announced: false,
        ra: ra::RaTimers::new(&spec.ifaces, worker),
        viewed_ns: 0,
        tcount: tunnel::new_counts(),
        ip_ident: (worker as u16) << 12,
        gone: IfaceSpec {
            name: "(removed tunnel)".into(),
            ..IfaceSpec::default()
        },
        nh_memo: [resolve::NhMemo::default(); resolve::NH_MEMO],
        host_memo: Box::new([resolve::HostMemo::default(); resolve::HOST_MEMO]),
        fast_on: true,
        encap_defer: false,
        #[cfg(test)]
        fast_seen: [0; 3],
        tun_map: Box::new([fast::TunSlot::default(); fast::TUN_MAP]),
        fast_tun: vec![fast::FastTun::default(); spec::MAX_TUNNELS].into_boxed_slice(),
        fast_in: [fast::FastIn::default(); MAX_PORTS],
        local4_filter: fast::AddrFilter::default(),
        local6_filter: fast::AddrFilter::default(),
    };
    r.rebuild_fast();
    Ok(r)
}

/// Builds a single-worker router pipeline with the configured routes only
/// (tests, replay).
pub fn build(spec: &RouterSpec) -> Result<Box<dyn Pipeline>, String> {
    let rib = Rib::new(spec)?;
    Ok(Box::new(build_worker(
        spec,
        0,
        NeighborBus::new(1),
        rib.handle(),
    )?))
}

impl Router {
    pub(crate) fn iface_of(&self, port: usize, vlan: u16) -> Option<IfaceId> {
        self.by_port
            .get(port)?
            .iter()
            .find(|&&(v, _)| v == vlan)
            .map(|&(_, i)| i)
    }

    /// A physical interface or a tunnel.
    pub(crate) fn iface(&self, id: IfaceId) -> &IfaceSpec {
        match self.ifaces.get(id as usize) {
            Some(f) => f,
            None => self.table.tunnel(id).map_or(&self.gone, |t| &t.iface),
        }
    }

    pub(crate) fn is_local4(&self, a: Ipv4Addr) -> bool {
        // The address filter (rebuilt with every route table) rules out
        // almost every foreign address before the exact scans.
        if !self.local4_filter.maybe(fast::hash4(u32::from(a))) {
            return false;
        }
        self.local4.iter().any(|&(x, _)| x == a)
            || self
                .table
                .tunnels
                .iter()
                .flatten()
                .any(|t| t.iface.ipv4.iter().any(|&(x, _)| x == a))
    }

    /// One of our IPv6 addresses as a source seen on `iface`: a global
    /// address of any interface or tunnel, or the link-local address of
    /// `iface` itself (link-locals are only unique per link).
    pub(crate) fn is_own_src6(&self, a: Ipv6Addr, iface: IfaceId) -> bool {
        if !self.local6_filter.maybe(fast::hash6(u128::from(a))) {
            return false;
        }
        let ll = (a.segments()[0] & 0xffc0) == 0xfe80;
        !a.is_unspecified()
            && (self
                .local6
                .iter()
                .any(|&(x, f)| x == a && (!ll || f == iface))
                || self.is_tunnel_local6(a))
    }

    pub(crate) fn is_tunnel_local6(&self, a: Ipv6Addr) -> bool {
        self.table
            .tunnels
            .iter()
            .flatten()
            .any(|t| t.iface.ipv6.iter().any(|&(x, _)| x == a))
    }

    /// A link-layer address no neighbour may have: zero, multicast or
    /// broadcast, or one of our own ports' MACs.
    pub(crate) fn bad_lladdr(&self, mac: crate::wire::ethernet::MacAddr) -> bool {
        mac.0 == [0; 6] || mac.is_multicast() || self.ifaces.iter().any(|f| f.mac == mac)
    }

    /// Any IPv4 address of ours (ICMP errors from an interface without one).
    fn any4(&self) -> Option<Ipv4Addr> {
        self.local4.first().map(|&(a, _)| a)
    }

    /// Our address on `iface` to send from towards `dst` (same subnet
    /// preferred), else any address of the interface.
    pub(crate) fn src4(&self, iface: IfaceId, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let f = self.iface(iface);
        f.ipv4
            .iter()
            .find(|&&(a, l)| spec::contains(IpAddr::V4(a), l, IpAddr::V4(dst)))
            .or(f.ipv4.first())
            .map(|&(a, _)| a)
            .or_else(|| self.any4())
    }

    /// Our IPv6 source towards `dst` on `iface` (RFC 6724 in brief: the
    /// link-local for link-local destinations, else a global in the same
    /// prefix, else the first global, else the link-local).
    pub(crate) fn src6(&self, iface: IfaceId, dst: Ipv6Addr) -> Ipv6Addr {
        let f = self.iface(iface);
        if (dst.segments()[0] & 0xffc0) == 0xfe80
            || dst.is_multicast() && (dst.segments()[0] & 0x000f) <= 2
        {
            return f.link_local;
        }
        f.ipv6
            .iter()
            .find(|&&(a, l)| spec::contains(IpAddr::V6(a), l, IpAddr::V6(dst)))
            .or(f.ipv6.first())
            .map(|&(a, _)| a)
            .or_else(|| (!f.link_local.is_unspecified()).then_some(f.link_local))
            .or_else(|| {
                self.ifaces
                    .iter()
                    .find_map(|g| g.ipv6.first().map(|&(a, _)| a))
            })
            .unwrap_or(f.link_local)
    }

    /// The neighbour entries, for `xgw neigh`.
    pub fn neighbours(&self) -> impl Iterator<Item = &neigh::Entry> {
        self.neigh.iter()
    }

    /// Runs step `s` over the frames in `sel`; returns the steps their
    /// verdicts name (a bit per step).
    fn step(
        &mut self,
        s: StageId,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        v: &mut [Verdict],
    ) -> u32 {
        let mut next = 0u32;
        for &i in sel {
            let i = i as usize;
            let p = &mut pkts[i];
            let out = match s {
                PARSE => self.parse(p),
                ARP => self.arp(cx, p),
                LOCAL4 => self.local4(cx, p),
                LOCAL6 => self.local6(cx, p),
                FWD4 => self.forward4(cx, p),
                FWD6 => self.forward6(cx, p),
                ENCAP => self.encap(cx, p),
                RESOLVE => self.resolve(cx, p),
                _ => Verdict::Drop(DropReason::PipelineBadNext),
            };
            v[i] = match out {
                // Only later steps: every burst ends in at most STEPS passes.
                Verdict::Next(t) if t <= s || t as usize >= STEPS => {
                    Verdict::Drop(DropReason::PipelineBadNext)
                }
                Verdict::Next(t) => {
                    next |= 1 << t;
                    out
                }
                // Drops of decapsulated packets count against their
                // tunnel (PARSE counts its own).
                Verdict::Drop(r) if s != PARSE => {
                    let m = p.meta;
                    self.tunnel_drop(&m, r);
                    out
                }
                _ => out,
            };
        }
        next
    }

    /// Takes the newest route table if the control thread published one.
    #[inline]
    fn refresh_routes(&mut self) {
        if self.routes.version() != self.table.version {
            self.table = self.routes.load();
            // Tunnels (and their addresses) come with the table.
            self.rebuild_fast();
        }
    }

    /// Turns the fast path off or on (tests compare the two).
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_on = on;
    }

    fn run(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], v: &mut [Verdict], at: StageId) {
        self.refresh_routes();
        let n = pkts.len().min(v.len()).min(MAX_BURST);
        let (pkts, v) = (&mut pkts[..n], &mut v[..n]);
        if at as usize >= STEPS {
            v.fill(Verdict::Drop(DropReason::PipelineBadNext));
            return;
        }
        let mut sel = [0u16; MAX_BURST];
        // Steps some frame is waiting for: the others are skipped.
        let mut pending = 0u32;
        // Runtime figures: two clock reads per node call.
        let clock = cx.clock;
        if at == PARSE && self.fast_on {
            // The fast path first; what it leaves (or hands on) takes the
            // steps.
            let t0 = clock.start();
            self.encap_defer = false;
            for (p, x) in pkts.iter_mut().zip(v.iter_mut()) {
                *x = self.fast(cx, p).unwrap_or(Verdict::Next(PARSE));
                if let Verdict::Next(t) = *x {
                    pending |= 1 << t;
                    // This frame may still be encapsulated at ENCAP: later
                    // ones wait for that step too, so outer IPv4
                    // identifications keep the arrival order.
                    self.encap_defer |= t <= ENCAP;
                }
            }
            clock.stop(NODE_FAST, n, t0);
            if pending == 0 {
                return;
            }
        } else {
            v.fill(Verdict::Next(at));
            pending = 1 << at;
        }
        for s in at as usize..STEPS {
            if pending & (1 << s) == 0 {
                continue;
            }
            let t0 = clock.start();
            let mut k = 0;
            for (i, x) in v.iter().enumerate() {
                if *x == Verdict::Next(s as StageId) {
                    sel[k] = i as u16;
                    k += 1;
                }
            }
            pending |= self.step(s as StageId, cx, pkts, &sel[..k], v);
            clock.stop(node_of(s), k, t0);
        }
    }
}

impl Pipeline for Router {
    fn nodes(&self) -> &[NodeInfo] {
        &NODES
    }

    fn process(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], verdicts: &mut [Verdict]) {
        self.run(cx, pkts, verdicts, PARSE)
    }

    fn resume(
        &mut self,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        verdicts: &mut [Verdict],
        at: StageId,
    ) {
        self.run(cx, pkts, verdicts, at)
    }

    fn tick(&mut self, cx: &mut Ctx<'_>) {
        self.refresh_routes();
        if !self.announced {
            self.announced = true;
            if self.worker == 0 {
                self.announce(cx);
            }
        }
        self.neigh_tick(cx);
        self.ra_tick(cx);
        if cx.now_ns.saturating_sub(self.viewed_ns) >= neigh::VIEW_INTERVAL_NS
            && self
                .bus
                .publish_view(self.worker, cx.now_ns, self.neigh.iter(), &self.tcount)
        {
            self.viewed_ns = cx.now_ns;
        }
    }
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod tests;
