//! The router: parsing and input checks, local delivery (ARP, NDP, ICMP
//! echo, and the nodes features registered for a protocol or UDP port),
//! IPv4/IPv6 forwarding with ICMP errors and reverse-path filtering, and
//! neighbour resolution with parked frames — a graph of named nodes with
//! a fused fast path in front.
//!
//! One [`Router`] per worker ([`build_worker`]) owns a [`Core`] (its
//! interfaces, the route table in use, the neighbour cache, the memos),
//! which all its nodes share without locks; each node is its own struct
//! with its own state. Over a fresh burst the fast path ([`fast`], node
//! `router-fast`) runs first. A frame it leaves untouched goes to
//! ethernet-input; a frame it changed and cannot finish is handed, by node
//! index, to the node that comes next (ip4-input / ip6-input for a
//! decapsulated packet, a feature's output node, ip-rewrite). The graph
//! ([`NodeGraph`] over [`graph_nodes`]) then moves frames along named
//! arcs. Features (IP-in-IP, GTP-U) are reached only through [`registry`]: local
//! delivery and the interfaces' outputs (adjacencies).
//!
//! ```text
//!  fresh burst ─► router-fast ──────────────────────────────────► tx, drop
//!                  │ untouched
//!                  ▼
//!  ethernet-input ─┬─► arp-input ───────────────────────────────► tx, local
//!                  └─► ip4-input / ip6-input ◄────────────────────────┐
//!                        │ to us              │ to forward            │ inner
//!                        ▼                    │                       │ packet
//!                  ip4-local / ip6-local ─────┼──► ipip-decap ────────┘
//!                   │   │                     │
//!                   │   └─────────────────────┼──► ipip-icmp-relay ───┐
//!                   │ echo reply,             │                       │ relayed
//!                   │ ICMP error              ▼                       │ error
//!                   └──────────────► ip4-lookup / ip6-lookup ◄────────┘
//!                                      │ adjacency: the egress interface's output
//!                                      ├──► ip-rewrite ─────────────────► tx, park
//!                                      └──► ipip-encap ──► ip-rewrite, tx
//! ```
//! GTP-U plugs in the same way: UDP 2152 to us → gtpu-input → ip4-input
//! / ip6-input (by the inner version); the GTP-U interface's adjacency →
//! gtpu-encap → ip4-lookup / ip6-lookup (the outer route).
//! Every node can also end a frame at `drop`; the local nodes end what
//! they consume at `local`, and ip6-local sends its Neighbor
//! Advertisements at once (`tx`). Inside the router every frame is
//! untagged after ethernet-input (a VLAN tag is removed and remembered as
//! the ingress interface); ip-rewrite writes the egress Ethernet header,
//! with a tag if the egress interface has one.

pub mod fast;
pub mod forward;
pub mod icmp;
pub mod local;
pub mod neigh;
pub mod parse;
pub mod ra;
pub mod registry;
pub mod resolve;
pub mod spec;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::graph::{NodeInfo, StageId};
use crate::nodes::{self, Node, NodeGraph, NodeId};
use crate::{Ctx, DropReason, Meta, Packet, Pipeline, Verdict, MAX_BURST, MAX_PORTS};
use neigh::{NeighCache, NeighborBus};
use spec::{IfaceId, IfaceSpec, RouterSpec};
use table::{Rib, RouteHandle, RouteTable};

/// The router's nodes by index in its graph (see [`graph_nodes`], which
/// lists them in this order; [`build_worker`] checks it). The fast path
/// hands frames it changed to these; everywhere else frames move along
/// named arcs.
pub const ETHERNET_INPUT: NodeId = 0;
pub const ARP_INPUT: NodeId = 1;
pub const IP4_INPUT: NodeId = 2;
pub const IP6_INPUT: NodeId = 3;
pub const IP4_LOCAL: NodeId = 4;
pub const IP6_LOCAL: NodeId = 5;
pub const IPIP_DECAP: NodeId = 6;
pub const IPIP_ICMP_RELAY: NodeId = 7;
pub const GTPU_INPUT: NodeId = 8;
pub const IP4_LOOKUP: NodeId = 9;
pub const IP6_LOOKUP: NodeId = 10;
pub const NAT64_XLAT: NodeId = 11;
pub const IPIP_ENCAP: NodeId = 12;
pub const GTPU_ENCAP: NodeId = 13;
pub const IP_REWRITE: NodeId = 14;

/// Arcs every node that routes packets it made or changed (echo replies,
/// ICMP errors, outer headers) has first, in this order: the shared
/// helpers (`icmp4_error`, `echo_reply6`, ...) return `Next(TO_IP4_LOOKUP)`
/// and so on whichever node calls them.
pub const ROUTE_ARCS: [&str; 3] = ["ip4-lookup", "ip6-lookup", "ip-rewrite"];
pub(crate) const TO_IP4_LOOKUP: StageId = 0;
pub(crate) const TO_IP6_LOOKUP: StageId = 1;
pub(crate) const TO_REWRITE: StageId = 2;

/// The router's graph nodes, in [`ETHERNET_INPUT`].. order: the generic
/// IP nodes and the features' nodes (listed here by hand, in the place
/// their arcs need; [`registry::FEATURES`] says what reaches them).
pub fn graph_nodes() -> Vec<Box<dyn Node<Core>>> {
    let reg = registry::Registry::new();
    vec![
        Box::new(parse::EthernetInput),
        Box::new(local::ArpInput),
        Box::new(parse::Ip4Input),
        Box::new(parse::Ip6Input),
        Box::new(local::IpLocal::new(false, &reg)),
        Box::new(local::IpLocal::new(true, &reg)),
        Box::new(crate::ipip::Decap),
        Box::new(crate::ipip::IcmpRelay),
        Box::new(crate::gtpu::Input),
        Box::new(forward::Lookup::new(false, &reg)),
        Box::new(forward::Lookup::new(true, &reg)),
        Box::new(crate::nat64::Xlat::default()),
        Box::new(crate::ipip::Encap),
        Box::new(crate::gtpu::Encap),
        Box::new(resolve::Rewrite),
    ]
}

/// The router's nodes as `xgw runtime` counts them and `xgw graph` shows
/// them: the fast path, then the graph's nodes.
pub fn nodes() -> Vec<NodeInfo> {
    let g = NodeGraph::new(graph_nodes(), 1).expect("the router graph resolves");
    std::iter::once(fast_info())
        .chain(g.info().iter().cloned())
        .collect()
}

/// The fast path as a node of `xgw runtime` (it runs before the graph;
/// its node counters come first). Untouched frames go to ethernet-input;
/// a frame it changed and cannot finish goes to the node that comes
/// next: an input node (after a feature's decapsulation), a feature's
/// output node, ip-rewrite. It drops what the features fused into it
/// ([`registry::Fused::drops`]) drop, as their nodes would.
fn fast_info() -> NodeInfo {
    let mut next: Vec<&'static str> = vec!["ethernet-input", "ip4-input", "ip6-input"];
    next.extend(registry::outputs());
    next.extend(["tx", "drop"]);
    let mut drops: Vec<DropReason> = Vec::new();
    for f in registry::FEATURES.iter().filter_map(|f| f.fused) {
        for r in f.drops().iter().copied().flatten() {
            if !drops.contains(r) {
                drops.push(*r);
            }
        }
    }
    NodeInfo {
        name: "router-fast",
        next: std::borrow::Cow::Owned(next),
        drops: std::borrow::Cow::Owned(drops),
    }
}

/// Internal L2 header length (VLAN tags are stripped at ethernet-input).
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

/// The state the router's nodes share on one worker: interfaces, the
/// route table, the neighbour cache, memos. Each node keeps its own state
/// in its own struct; this is what VPP keeps in its `*_main` globals.
pub struct Core {
    pub(crate) ifaces: Vec<IfaceSpec>,
    /// Per port: (VLAN, interface) pairs.
    by_port: Vec<Vec<(u16, IfaceId)>>,
    pub(crate) local4: Vec<(Ipv4Addr, IfaceId)>,
    /// Directed broadcast addresses of our IPv4 subnets (not /31, /32).
    pub(crate) bcast4: Vec<Ipv4Addr>,
    pub(crate) local6: Vec<(Ipv6Addr, IfaceId)>,
    /// Exact sets behind the address filters, rebuilt with them
    /// (`rebuild_fast`), for the per-packet tests ([`crate::sorted`]):
    /// every IPv4 address of ours (virtual interfaces' too) and directed
    /// broadcast address of our subnets, with what it is ([`OURS4`],
    /// [`BCAST4`]); every IPv6
    /// address of ours with its interface ([`ANY_IFACE`] for a virtual
    /// interface's, which match as a source whatever the interface).
    pub(crate) ours4_set: Vec<(u32, u8)>,
    pub(crate) own6_set: Vec<(u128, IfaceId)>,
    /// Our interfaces' MACs (as 48-bit numbers), distinct and sorted: an
    /// ARP or NDP packet claiming one is refused (`bad_lladdr`) without a
    /// scan of every interface (VLAN sub-interfaces may be thousands).
    pub(crate) own_macs: Vec<(u64, ())>,
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
    pub(crate) tcount: Vec<crate::ipip::TunnelCount>,
    /// IPv4 identification for headers we write (outer tunnel headers).
    pub(crate) ip_ident: u16,
    /// What `iface()` answers for a tunnel removed under a packet.
    gone: IfaceSpec,
    /// Gateway next hop → MAC answers (see `resolve`).
    pub(crate) nh_memo: [resolve::NhMemo; resolve::NH_MEMO],
    /// Routes of our own outer packets by destination ([`Core::memo_out`]).
    pub(crate) dst_memo: [fast::DstMemo; fast::DST_MEMO],
    /// IP-in-IP's per-worker state (its tunnel map and prepared headers).
    pub(crate) ipip: crate::ipip::fast::State,
    /// GTP-U's per-worker state (its interface and session replica).
    pub(crate) gtpu: crate::gtpu::State,
    /// The translator's per-worker state (its interface and config).
    pub(crate) nat64: crate::nat64::State,
    /// The fused path's hooks (see [`registry::Feature`]): by IP protocol
    /// for packets to us, by output index for routed packets; and the node
    /// each output index names.
    pub(crate) fast_local4: [Option<registry::Fused>; 256],
    /// The feature whose IPv4 claim ([`registry::Feature::claim4`]) the
    /// fused path tries first for a packet maybe to us (stateful NAT64
    /// configured), as ip4-local does before its registrations.
    pub(crate) fast_claim4: Option<registry::Fused>,
    pub(crate) fast_local6: [Option<registry::Fused>; 256],
    pub(crate) fast_output: Vec<Option<registry::Fused>>,
    pub(crate) output_node: Vec<NodeId>,
    /// On-link host → MAC answers (see `resolve`).
    pub(crate) host_memo: Box<[resolve::HostMemo; resolve::HOST_MEMO]>,
    /// The (neighbour generation, route version) the memos were last
    /// checked against ([`Core::revalidate_memos`]).
    pub(crate) memo_epoch: (u64, u64),
    /// The generation of interface addresses this worker holds.
    addrs_gen: u64,
    /// An earlier frame of this burst went to the graph: the fast path
    /// leaves feature outputs to their nodes (arrival order).
    pub(crate) output_defer: bool,
    /// How often the fast path forwarded, encapsulated, decapsulated and
    /// let a feature take a packet to us (tests check that their frames
    /// really took it).
    #[cfg(test)]
    pub(crate) fast_seen: [u64; 4],
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
    let sessions = match &spec.gtpu {
        Some(g) => Some(crate::gtpu::Sessions::new(g, 1)?.bus().clone()),
        None => None,
    };
    build_worker_with(spec, worker, bus, routes, sessions)
}

/// [`build_worker`] with the GTP-U session bus the control thread's
/// [`crate::gtpu::Sessions`] feeds (all workers share it).
pub fn build_worker_with(
    spec: &RouterSpec,
    worker: usize,
    bus: Arc<NeighborBus>,
    routes: Arc<RouteHandle>,
    sessions: Option<Arc<crate::gtpu::SessionBus>>,
) -> Result<Router, String> {
    let mut by_port: Vec<Vec<(u16, IfaceId)>> = vec![Vec::new(); MAX_PORTS];
    for (i, f) in spec.ifaces.iter().enumerate() {
        let id = i as IfaceId;
        by_port
            .get_mut(f.port.index())
            .ok_or_else(|| format!("interface {}: port out of range", f.name))?
            .push((f.vlan, id));
    }
    let (local4, local6, bcast4) = local_addresses(&spec.ifaces);
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
    let workers = bus.workers();
    let mut r = Core {
        ifaces: spec.ifaces.clone(),
        bcast4,
        by_port,
        local4,
        local6,
        ours4_set: Vec::new(),
        own6_set: Vec::new(),
        own_macs: Vec::new(),
        table: routes.load(),
        routes,
        neigh,
        bus,
        worker,
        icmp_limit: RateLimit::new(200, 100),
        announced: false,
        ra: ra::RaTimers::new(&spec.ifaces, worker),
        viewed_ns: 0,
        tcount: crate::ipip::new_counts(),
        ip_ident: (worker as u16) << 12,
        gone: IfaceSpec {
            name: "(removed tunnel)".into(),
            ..IfaceSpec::default()
        },
        nh_memo: [resolve::NhMemo::default(); resolve::NH_MEMO],
        dst_memo: [fast::DstMemo::default(); fast::DST_MEMO],
        host_memo: Box::new([resolve::HostMemo::default(); resolve::HOST_MEMO]),
        memo_epoch: (0, 0),
        addrs_gen: 0,
        output_defer: false,
        #[cfg(test)]
        fast_seen: [0; 4],
        ipip: crate::ipip::fast::State::default(),
        gtpu: crate::gtpu::State::new(spec.gtpu.as_ref(), sessions, worker),
        nat64: crate::nat64::State::new(spec.nat64.as_ref(), worker, workers),
        fast_local4: [None; 256],
        fast_claim4: None,
        fast_local6: [None; 256],
        fast_output: registry::outputs()
            .map(|name| {
                registry::FEATURES
                    .iter()
                    .find(|f| f.output == Some(name))
                    .and_then(|f| f.fused)
            })
            .collect(),
        output_node: Vec::new(),
        fast_in: [fast::FastIn::default(); MAX_PORTS],
        local4_filter: fast::AddrFilter::default(),
        local6_filter: fast::AddrFilter::default(),
    };
    for f in registry::FEATURES {
        let Some(hook) = f.fused else { continue };
        // Only with a stateful translator: the claim test would answer
        // no to every packet to us otherwise.
        if f.claim4.is_some() && spec.nat64.as_ref().is_some_and(|n| n.stateful.is_some()) {
            r.fast_claim4 = Some(hook);
        }
        for l in f.local {
            // A UDP port registration hooks UDP (the hook checks the port
            // and leaves other datagrams to the graph; one fused feature
            // with UDP ports at most).
            let proto = match l.what {
                registry::LocalMatch::Proto(proto) => proto,
                registry::LocalMatch::UdpPort(_) => 17,
                registry::LocalMatch::ErrorAbout(_) => continue,
            };
            if l.family != registry::Family::V6 {
                r.fast_local4[proto as usize] = Some(hook);
            }
            if l.family != registry::Family::V4 {
                r.fast_local6[proto as usize] = Some(hook);
            }
        }
    }
    r.rebuild_fast();
    if workers > 1 && spec.nat64.as_ref().is_some_and(|n| n.stateful.is_some()) {
        r.bus.handoff.get_or_init(|| {
            (0..workers)
                .map(|_| crossbeam_queue::ArrayQueue::new(crate::nat64::HANDOFF_SLOTS))
                .collect()
        });
    }
    let graph = NodeGraph::new(graph_nodes(), 1)?;
    r.output_node = registry::outputs()
        .map(|name| {
            graph
                .id(name)
                .ok_or_else(|| format!("router graph: no output node {name}"))
        })
        .collect::<Result<_, _>>()?;
    for (id, name) in [
        (ETHERNET_INPUT, "ethernet-input"),
        (IP4_INPUT, "ip4-input"),
        (IP6_INPUT, "ip6-input"),
        (IP4_LOCAL, "ip4-local"),
        (IP6_LOCAL, "ip6-local"),
        (IP4_LOOKUP, "ip4-lookup"),
        (IP6_LOOKUP, "ip6-lookup"),
        (IPIP_ENCAP, "ipip-encap"),
        (GTPU_INPUT, "gtpu-input"),
        (GTPU_ENCAP, "gtpu-encap"),
        (NAT64_XLAT, "nat64-xlat"),
        (IP_REWRITE, "ip-rewrite"),
    ] {
        if graph.id(name) != Some(id) {
            return Err(format!("router graph: node {name} is not at index {id}"));
        }
    }
    let info = nodes();
    Ok(Router {
        core: r,
        graph,
        info,
        fast_on: true,
    })
}

/// Our IPv4 and IPv6 addresses by interface (link-locals included) and the
/// directed broadcast addresses of our IPv4 subnets (not /31, /32).
#[allow(clippy::type_complexity)]
fn local_addresses(
    ifaces: &[IfaceSpec],
) -> (
    Vec<(Ipv4Addr, IfaceId)>,
    Vec<(Ipv6Addr, IfaceId)>,
    Vec<Ipv4Addr>,
) {
    let (mut local4, mut local6) = (Vec::new(), Vec::new());
    for (i, f) in ifaces.iter().enumerate() {
        let id = i as IfaceId;
        local4.extend(f.ipv4.iter().map(|&(a, _)| (a, id)));
        local6.extend(f.ipv6.iter().map(|&(a, _)| (a, id)));
        local6.push((f.link_local, id));
    }
    let bcast4 = ifaces
        .iter()
        .flat_map(|f| f.ipv4.iter())
        .filter(|&&(_, l)| l < 31)
        .map(|&(a, l)| Ipv4Addr::from(u32::from(a) | (u32::MAX >> l)))
        .collect();
    (local4, local6, bcast4)
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

impl Core {
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
            None if id == spec::GTP_IFACE => &self.gtpu.iface,
            None if id == spec::NAT64_IFACE => &self.nat64.iface,
            None => self.table.tunnel(id).map_or(&self.gone, |t| &t.iface),
        }
    }

    pub(crate) fn is_local4(&self, a: Ipv4Addr) -> bool {
        // The address filter (rebuilt with every route table) rules out
        // almost every foreign address before the exact scans.
        if !self.local4_filter.maybe(fast::hash4(u32::from(a))) {
            return false;
        }
        crate::sorted::find(&self.ours4_set, u32::from(a)).is_some_and(|k| k & OURS4 != 0)
    }

    /// A directed broadcast address of one of our subnets.
    pub(crate) fn is_bcast4(&self, a: Ipv4Addr) -> bool {
        self.local4_filter.maybe(fast::hash4(u32::from(a)))
            && crate::sorted::find(&self.ours4_set, u32::from(a)).is_some_and(|k| k & BCAST4 != 0)
    }

    /// One of our IPv6 addresses, as a source or destination seen on
    /// `iface` (ip6-input's test): a global address of any interface
    /// (virtual ones too), or the link-local address of `iface` itself
    /// (link-locals are only unique per link).
    pub(crate) fn is_own_src6(&self, a: Ipv6Addr, iface: IfaceId) -> bool {
        if !self.local6_filter.maybe(fast::hash6(u128::from(a))) {
            return false;
        }
        let ll = (a.segments()[0] & 0xffc0) == 0xfe80;
        !a.is_unspecified()
            && crate::sorted::all(&self.own6_set, u128::from(a))
                .iter()
                .any(|&(_, f)| !ll || f == iface || f == ANY_IFACE)
    }

    /// A link-layer address no neighbour may have: zero, multicast or
    /// broadcast, or one of our own ports' MACs.
    pub(crate) fn bad_lladdr(&self, mac: crate::wire::ethernet::MacAddr) -> bool {
        mac.0 == [0; 6]
            || mac.is_multicast()
            || crate::sorted::find(&self.own_macs, mac_key(mac)).is_some()
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

    /// Interface addresses a reload changed (see `Rib::set_addresses`):
    /// this worker's copies, its local-address lists and broadcast
    /// addresses follow (allocates; once per change, never per packet).
    #[cold]
    fn take_addresses(&mut self) {
        self.addrs_gen = self.table.addrs_gen;
        let Some(addrs) = self.table.addrs.clone() else {
            return;
        };
        for (f, a) in self.ifaces.iter_mut().zip(addrs.iter()) {
            f.ipv4.clone_from(&a.ipv4);
            f.ipv6.clone_from(&a.ipv6);
        }
        let (local4, local6, bcast4) = local_addresses(&self.ifaces);
        self.local4 = local4;
        self.local6 = local6;
        self.bcast4 = bcast4;
    }

    /// The neighbour entries, for `xgw neigh`.
    pub fn neighbours(&self) -> impl Iterator<Item = &neigh::Entry> {
        self.neigh.iter()
    }

    /// Takes the newest route table if the control thread published one.
    #[inline]
    fn refresh_routes(&mut self) {
        if self.routes.version() != self.table.version {
            self.table = self.routes.load();
            if self.table.addrs_gen != self.addrs_gen {
                self.take_addresses();
            }
            // Tunnels (and their addresses) come with the table.
            self.rebuild_fast();
        }
    }
}

/// A MAC as the key of `Core::own_macs`.
pub(crate) fn mac_key(mac: crate::wire::ethernet::MacAddr) -> u64 {
    let m = mac.0;
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// What an address in `Core::ours4_set` is: one of ours, and/or a
/// directed broadcast address of one of our subnets.
pub(crate) const OURS4: u8 = 1;
pub(crate) const BCAST4: u8 = 2;

/// The interface of a virtual interface's address in `Core::own6_set`.
pub(crate) const ANY_IFACE: IfaceId = IfaceId::MAX;

/// The metadata of a packet handed back to ip4-input / ip6-input (`v6`)
/// as received on interface `iface` after a feature took an outer header
/// off (never decapsulated again): the Ethernet header at the front.
pub(crate) fn reinput_meta(iface: IfaceId, v6: bool) -> Meta {
    Meta {
        l3: L2 as u16,
        ethertype: if v6 { 0x86dd } else { 0x0800 },
        vlan: 0,
        iface,
        flags: Meta::DECAPPED,
        ..Meta::default()
    }
}

impl nodes::Shared for Core {
    /// Drops of packets that came in on a feature's virtual interface
    /// (out of a tunnel) count against it too.
    #[inline]
    fn dropped(&mut self, meta: &Meta, reason: DropReason) {
        if meta.iface as usize >= self.ifaces.len() {
            let f = registry::feature_of_output(self.iface(meta.iface).output);
            if let Some(hook) = f.and_then(|f| f.iface_drop) {
                hook(self, meta, reason);
            }
        }
    }
}

/// The router pipeline of one worker: the fast path, then the graph of
/// nodes over the shared [`Core`].
pub struct Router {
    core: Core,
    graph: NodeGraph<Core>,
    info: Vec<NodeInfo>,
    /// The fast path (see [`fast`]): on unless a test turns it off.
    fast_on: bool,
}

impl std::ops::Deref for Router {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl std::ops::DerefMut for Router {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

impl Router {
    /// Turns the fast path off or on (tests compare the two).
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_on = on;
    }

    /// The router's state, for tests that set a feature's knobs.
    #[cfg(test)]
    pub(crate) fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn run(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], v: &mut [Verdict], at: NodeId) {
        let core = &mut self.core;
        core.refresh_routes();
        core.gtpu.apply(crate::gtpu::session::APPLY_PER_BURST, cx);
        core.revalidate_memos();
        let n = pkts.len().min(v.len()).min(MAX_BURST);
        let (pkts, v) = (&mut pkts[..n], &mut v[..n]);
        // `xgw trace`: one relaxed load per burst while it is off.
        if at == ETHERNET_INPUT && core.bus.trace.armed() && self.run_traced(cx, pkts, v) {
            return;
        }
        let core = &mut self.core;
        if at == ETHERNET_INPUT && self.fast_on {
            // The fast path first; what it leaves (or hands on) takes the
            // graph.
            let clock = cx.clock;
            let t0 = clock.start();
            for f in registry::FEATURES {
                if let Some(prefetch) = f.prefetch {
                    prefetch(core, pkts);
                }
            }
            core.output_defer = false;
            let mut pending = false;
            for (p, x) in pkts.iter_mut().zip(v.iter_mut()) {
                *x = core.fast(cx, p).unwrap_or(Verdict::Next(ETHERNET_INPUT));
                if let Verdict::Next(t) = *x {
                    pending = true;
                    // This frame may still reach a feature's output node
                    // (ipip-encap): later ones wait for it there too, so
                    // what it does in order (outer IPv4 identifications)
                    // follows the arrival order.
                    core.output_defer |= t != IP_REWRITE;
                }
            }
            clock.stop(0, n, t0);
            if !pending {
                return;
            }
        } else {
            v.fill(Verdict::Next(at));
        }
        self.graph.run(core, cx, pkts, v);
    }
}

impl Router {
    /// A burst while `xgw trace` is armed: the frames that match (as many
    /// as are still wanted) go through the graph (no fused path, so every
    /// node shows) with the traced runner; their records are published.
    /// False: nothing matched, run the burst as usual.
    #[cold]
    fn run_traced(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], v: &mut [Verdict]) -> bool {
        let bus = self.core.bus.clone();
        let Some((spec, want)) = bus.trace.want() else {
            return false;
        };
        let mut marked = [false; MAX_BURST];
        let mut picked = 0u32;
        let mut heads: Vec<(usize, u16, usize, Vec<u8>)> = Vec::new();
        for (i, p) in pkts.iter().enumerate() {
            if picked < want && crate::trace::matches(&spec, p.port.0, p.data()) {
                marked[i] = true;
                picked += 1;
                let d = p.data();
                heads.push((
                    i,
                    p.port.0,
                    d.len(),
                    d[..d.len().min(crate::trace::HEAD)].to_vec(),
                ));
            }
        }
        if picked == 0 {
            return false;
        }
        v.fill(Verdict::Next(ETHERNET_INPUT));
        let mut log = Vec::with_capacity(MAX_BURST * 8);
        self.graph
            .run_traced(&mut self.core, cx, pkts, v, &marked[..pkts.len()], &mut log);
        let recs = heads
            .into_iter()
            .map(|(i, port, len, head)| crate::trace::TraceRecord {
                worker: self.core.worker,
                port,
                len,
                head,
                hops: log
                    .iter()
                    .filter(|h| usize::from(h.frame) == i)
                    .copied()
                    .collect(),
            })
            .collect();
        bus.trace.publish(recs);
        true
    }
}

impl Pipeline for Router {
    fn nodes(&self) -> &[NodeInfo] {
        &self.info
    }

    fn process(&mut self, cx: &mut Ctx<'_>, pkts: &mut [Packet<'_>], verdicts: &mut [Verdict]) {
        self.core.nat64_drain(cx);
        self.run(cx, pkts, verdicts, ETHERNET_INPUT)
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
        let core = &mut self.core;
        core.refresh_routes();
        core.gtpu.apply(crate::gtpu::session::APPLY_PER_TICK, cx);
        core.gtpu.settle(cx);
        core.gtpu_tick(cx);
        if let Some(t) = core.nat64.table.as_mut() {
            t.expire(cx.now_ns);
            // Held SYNs whose time is up come back to nat64-xlat, which
            // answers them with Port Unreachable.
            let mut due = [0u32; 16];
            let n = t.held_due(cx.now_ns, &mut due);
            for &i in &due[..n] {
                cx.release(crate::nat64::stateful::HELD_TOKEN | i, NAT64_XLAT);
            }
        }
        core.nat64_drain(cx);
        if !core.announced {
            core.announced = true;
            if core.worker == 0 {
                core.announce(cx);
            }
        }
        core.neigh_tick(cx);
        core.ra_tick(cx);
        if cx.now_ns.saturating_sub(core.viewed_ns) >= neigh::VIEW_INTERVAL_NS
            && core
                .bus
                .publish_view(core.worker, cx.now_ns, core.neigh.iter(), &core.tcount)
        {
            core.viewed_ns = cx.now_ns;
            if let Some(m) = core.bus.nat64.get(core.worker) {
                if let Ok(mut v) = m.try_lock() {
                    core.nat64.publish(&mut v, cx.now_ns);
                }
            }
        }
        self.graph.tick(core, cx);
    }
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
pub(crate) mod tests;
