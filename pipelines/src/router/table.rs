//! Route tables: the control thread's RIB and the snapshots workers read.
//!
//! The [`Rib`] is owned by one thread (the control thread in `xgw run`). It
//! keeps every route with its origin, the FIB builders ([`Fib4`], [`Fib6`])
//! and the next-hop table, and after each change publishes an immutable
//! [`RouteTable`] through a [`RouteHandle`]. Workers check the handle's
//! version once per burst (one atomic load) and only on a change take the
//! new `Arc` — they never lock and never free a table: the RIB keeps every
//! table it retired until it is the last holder, then drops it itself.
//!
//! Next-hop ids are stored in the FIB and, for frames parked at
//! ip-rewrite, in their metadata. A freed id is therefore not reused for
//! [`NH_REUSE_GRACE`] publications, so a frame parked under the old table
//! never resolves through an unrelated new next hop.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::spec::{
    IfaceId, IfaceSpec, RouteSpec, RouteTarget, RouterSpec, TunnelSpec, MAX_TUNNELS, TUN_BASE,
};
use super::NextHop;
use crate::fib::{Fib4, Fib4Table, Fib6, Fib6Table, FibError, NextHopId, MAX_NEXT_HOP};

/// Publications a freed next-hop id waits before it is reused.
pub const NH_REUSE_GRACE: u64 = 64;

/// Default bound on the number of routes (config + runtime).
pub const DEFAULT_MAX_ROUTES: usize = 2_000_000;

/// One immutable version of the forwarding tables.
pub struct RouteTable {
    pub fib4: Fib4Table,
    pub fib6: Fib6Table,
    /// Indexed by [`NextHopId`]; freed slots hold `Unreachable`.
    pub nexthops: Vec<NextHop>,
    /// Indexed by tunnel slot (interface `TUN_BASE + slot`).
    pub tunnels: Vec<Option<Tunnel>>,
    pub version: u64,
    /// The Ethernet interfaces' addresses, by interface, when a reload
    /// changed them since the start (`None`: the spec's); workers take
    /// them when `addrs_gen` moves.
    pub addrs: Option<Arc<[IfaceAddrs]>>,
    pub addrs_gen: u64,
}

/// One interface's addresses (see [`Rib::set_addresses`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfaceAddrs {
    pub ipv4: Vec<(std::net::Ipv4Addr, u8)>,
    pub ipv6: Vec<(std::net::Ipv6Addr, u8)>,
}

/// A tunnel with its interface view.
#[derive(Clone, Debug)]
pub struct Tunnel {
    pub spec: TunnelSpec,
    pub iface: IfaceSpec,
    /// Unique over the RIB's life: counters of a reused slot start over.
    pub serial: u64,
}

impl RouteTable {
    /// The table's virtual interfaces (ids from [`TUN_BASE`]; today the
    /// tunnels): interfaces of the router that come and go with the table,
    /// whose output is a feature's node.
    pub fn virt_ifaces(&self) -> impl Iterator<Item = (IfaceId, &IfaceSpec)> {
        self.tunnels
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((TUN_BASE + i as IfaceId, &t.as_ref()?.iface)))
    }

    /// The tunnel behind interface `id`, if `id` is a live tunnel.
    #[inline]
    pub fn tunnel(&self, id: IfaceId) -> Option<&Tunnel> {
        let slot = id.checked_sub(TUN_BASE)? as usize;
        self.tunnels.get(slot)?.as_ref()
    }
}

/// Where workers find the current [`RouteTable`].
pub struct RouteHandle {
    version: AtomicU64,
    current: ArcSwap<RouteTable>,
}

impl RouteHandle {
    /// The version of the current table (cheap: one atomic load).
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current table.
    pub fn load(&self) -> Arc<RouteTable> {
        self.current.load_full()
    }
}

/// Where a route came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// From an interface address (not removable at run time).
    Connected,
    /// From the configuration file.
    Config,
    /// Added through the control socket.
    Runtime,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Connected => "connected",
            Origin::Config => "config",
            Origin::Runtime => "runtime",
        }
    }
}

/// A route in the RIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RibRoute {
    pub prefix: IpAddr,
    pub len: u8,
    pub target: RouteTarget,
    pub origin: Origin,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("{0}/{1} already exists; delete it first")]
    Exists(IpAddr, u8),
    #[error("no route {0}/{1}")]
    NotFound(IpAddr, u8),
    #[error(
        "{0}/{1} is the connected route of an interface address; change the interface instead"
    )]
    Connected(IpAddr, u8),
    #[error("fe80::/10 destinations are routed by interface and cannot have routes")]
    LinkLocal,
    #[error("route table full ({0} routes); raise the limit or remove routes")]
    Full(usize),
    #[error("no free next-hop id (at most {MAX_NEXT_HOP} distinct next hops)")]
    NextHopsFull,
    #[error("a tunnel or interface named \"{0}\" exists already")]
    TunnelExists(String),
    #[error("tunnel {0} has the same kind and endpoints; decapsulation could not tell them apart")]
    TunnelSameEndpoints(String),
    #[error("no tunnel named \"{0}\"")]
    TunnelNotFound(String),
    #[error("at most {MAX_TUNNELS} tunnels")]
    TunnelsFull,
    #[error(transparent)]
    Fib(#[from] FibError),
}

/// The routing information base: every route, and the tables built from
/// them. See the module documentation.
pub struct Rib {
    fib4: Fib4,
    fib6: Fib6,
    nexthops: Vec<NextHop>,
    refs: Vec<u32>,
    /// Freed next-hop ids with the version that freed them.
    freed: Vec<(NextHopId, u64)>,
    routes: BTreeMap<(IpAddr, u8), RibRoute>,
    handle: Arc<RouteHandle>,
    retired: Vec<Arc<RouteTable>>,
    version: u64,
    max_routes: usize,
    /// Next hops 0..n_ifaces are "connected on interface i".
    n_ifaces: usize,
    iface_names: Vec<String>,
    /// Features' fixed interfaces (the GTP-U interface) by name.
    virt_names: Vec<(String, IfaceId)>,
    tunnels: Vec<Option<Tunnel>>,
    /// Freed tunnel slots with the version that freed them.
    tunnels_freed: Vec<(usize, u64)>,
    serial: u64,
    addrs: Option<Arc<[IfaceAddrs]>>,
    addrs_gen: u64,
}

fn is_link_local(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80)
}

fn nexthop_of(t: RouteTarget) -> NextHop {
    match t {
        RouteTarget::Via { gateway, iface } => NextHop::Via { iface, gateway },
        RouteTarget::Connected { iface } => NextHop::Connected { iface },
        RouteTarget::Blackhole => NextHop::Blackhole,
        RouteTarget::Unreachable => NextHop::Unreachable,
    }
}

impl Rib {
    /// Builds the RIB from the configuration (connected routes first, then
    /// configured ones, which may override a connected prefix) and
    /// publishes version 1.
    pub fn new(spec: &RouterSpec) -> Result<Rib, String> {
        Self::with_limit(spec, DEFAULT_MAX_ROUTES)
    }

    pub fn with_limit(spec: &RouterSpec, max_routes: usize) -> Result<Rib, String> {
        let n = spec.ifaces.len();
        let nexthops: Vec<NextHop> = (0..n)
            .map(|i| NextHop::Connected {
                iface: i as IfaceId,
            })
            .collect();
        let empty = Arc::new(RouteTable {
            fib4: Fib4::new().snapshot(),
            fib6: Fib6::new().snapshot(),
            nexthops: nexthops.clone(),
            tunnels: Vec::new(),
            version: 0,
            addrs: None,
            addrs_gen: 0,
        });
        let mut rib = Rib {
            fib4: Fib4::new(),
            fib6: Fib6::new(),
            refs: vec![1; n],
            nexthops,
            freed: Vec::new(),
            routes: BTreeMap::new(),
            handle: Arc::new(RouteHandle {
                version: AtomicU64::new(0),
                current: ArcSwap::new(empty),
            }),
            retired: Vec::new(),
            version: 0,
            max_routes,
            n_ifaces: n,
            iface_names: spec.ifaces.iter().map(|f| f.name.clone()).collect(),
            virt_names: spec
                .gtpu
                .iter()
                .map(|g| (g.iface.clone(), super::spec::GTP_IFACE))
                .chain(
                    spec.nat64
                        .iter()
                        .map(|n| (n.iface.clone(), super::spec::NAT64_IFACE)),
                )
                .collect(),
            tunnels: Vec::new(),
            tunnels_freed: Vec::new(),
            serial: 0,
            addrs: None,
            addrs_gen: 0,
        };
        for t in &spec.tunnels {
            rib.add_tunnel(t.clone())
                .map_err(|e| format!("tunnel {}: {e}", t.name))?;
        }
        let configured: Vec<&RouteSpec> = spec.routes.iter().collect();
        for r in spec.all_routes() {
            if is_link_local(r.prefix) {
                continue;
            }
            let origin = if configured
                .iter()
                .any(|c| c.prefix == r.prefix && c.len == r.len)
            {
                Origin::Config
            } else {
                Origin::Connected
            };
            rib.insert(r, origin)
                .map_err(|e| format!("route {}/{}: {e}", r.prefix, r.len))?;
        }
        rib.publish();
        Ok(rib)
    }

    /// The handle workers read.
    pub fn handle(&self) -> Arc<RouteHandle> {
        self.handle.clone()
    }

    /// The published version.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route, IPv4 first, in prefix order.
    pub fn iter(&self) -> impl Iterator<Item = &RibRoute> {
        self.routes.values()
    }

    pub fn get(&self, prefix: IpAddr, len: u8) -> Option<&RibRoute> {
        self.routes.get(&(prefix, len))
    }

    /// Adds a route (not yet published).
    pub fn insert(&mut self, r: RouteSpec, origin: Origin) -> Result<(), RouteError> {
        if is_link_local(r.prefix) && r.len >= 10 {
            return Err(RouteError::LinkLocal);
        }
        if self.routes.contains_key(&(r.prefix, r.len)) {
            return Err(RouteError::Exists(r.prefix, r.len));
        }
        if self.routes.len() >= self.max_routes {
            return Err(RouteError::Full(self.max_routes));
        }
        let id = self.nexthop_ref(nexthop_of(r.target))?;
        let res = match r.prefix {
            IpAddr::V4(p) => self.fib4.insert(p, r.len, id),
            IpAddr::V6(p) => self.fib6.insert(p, r.len, id),
        };
        if let Err(e) = res {
            self.nexthop_unref(id);
            return Err(e.into());
        }
        self.routes.insert(
            (r.prefix, r.len),
            RibRoute {
                prefix: r.prefix,
                len: r.len,
                target: r.target,
                origin,
            },
        );
        Ok(())
    }

    /// Removes a configured or runtime route (not yet published).
    /// Connected routes stay.
    pub fn remove(&mut self, prefix: IpAddr, len: u8) -> Result<RibRoute, RouteError> {
        let Some(r) = self.routes.get(&(prefix, len)).copied() else {
            return Err(RouteError::NotFound(prefix, len));
        };
        if r.origin == Origin::Connected {
            return Err(RouteError::Connected(prefix, len));
        }
        self.remove_any(prefix, len)
    }

    /// Gives the Ethernet interfaces new addresses (not yet published):
    /// `old` and `new` list every interface's; the connected routes of
    /// subnets no address covers any more go, those of new subnets come
    /// (unless a configured or runtime route holds the prefix), and the
    /// workers take the addresses with the next table.
    pub fn set_addresses(
        &mut self,
        old: &[IfaceAddrs],
        new: &[IfaceAddrs],
    ) -> Result<(), RouteError> {
        let subnets = |a: &[IfaceAddrs]| -> Vec<(IpAddr, u8, IfaceId)> {
            let mut v = Vec::new();
            for (i, f) in a.iter().enumerate() {
                let nets = f
                    .ipv4
                    .iter()
                    .map(|&(x, l)| (IpAddr::V4(x), l))
                    .chain(f.ipv6.iter().map(|&(x, l)| (IpAddr::V6(x), l)));
                for (x, l) in nets {
                    let n = (super::spec::network(x, l), l, i as IfaceId);
                    if !v.contains(&n) {
                        v.push(n);
                    }
                }
            }
            v
        };
        let (was, now) = (subnets(old), subnets(new));
        for &(p, l, _) in was.iter().filter(|n| !now.contains(n)) {
            self.remove_connected(p, l);
        }
        for &(p, l, i) in now.iter().filter(|n| !was.contains(n)) {
            if self.routes.contains_key(&(p, l)) {
                continue;
            }
            self.insert(
                RouteSpec {
                    prefix: p,
                    len: l,
                    target: RouteTarget::Connected { iface: i },
                },
                Origin::Connected,
            )?;
        }
        self.addrs = Some(new.into());
        self.addrs_gen += 1;
        Ok(())
    }

    /// Removes a connected route (not yet published), for a configured
    /// route that overrides it; whether there was one.
    pub fn remove_connected(&mut self, prefix: IpAddr, len: u8) -> bool {
        match self.routes.get(&(prefix, len)) {
            Some(r) if r.origin == Origin::Connected => self.remove_any(prefix, len).is_ok(),
            _ => false,
        }
    }

    /// Removes any route, connected ones included.
    fn remove_any(&mut self, prefix: IpAddr, len: u8) -> Result<RibRoute, RouteError> {
        let Some(r) = self.routes.get(&(prefix, len)).copied() else {
            return Err(RouteError::NotFound(prefix, len));
        };
        let id = match prefix {
            IpAddr::V4(p) => self.fib4.remove(p, len),
            IpAddr::V6(p) => self.fib6.remove(p, len),
        };
        self.routes.remove(&(prefix, len));
        if let Some(id) = id {
            self.nexthop_unref(id);
        }
        Ok(r)
    }

    fn nexthop_ref(&mut self, nh: NextHop) -> Result<NextHopId, RouteError> {
        if let Some(i) = self
            .nexthops
            .iter()
            .zip(&self.refs)
            .position(|(&x, &r)| x == nh && r > 0)
        {
            self.refs[i] += 1;
            return Ok(i as NextHopId);
        }
        let ready = self
            .freed
            .iter()
            .position(|&(_, at)| self.version >= at + NH_REUSE_GRACE);
        let id = match ready {
            Some(k) => self.freed.swap_remove(k).0,
            None => {
                if self.nexthops.len() as u64 > MAX_NEXT_HOP as u64 {
                    return Err(RouteError::NextHopsFull);
                }
                self.nexthops.push(NextHop::Unreachable);
                self.refs.push(0);
                (self.nexthops.len() - 1) as NextHopId
            }
        };
        self.nexthops[id as usize] = nh;
        self.refs[id as usize] = 1;
        Ok(id)
    }

    fn nexthop_unref(&mut self, id: NextHopId) {
        let i = id as usize;
        self.refs[i] = self.refs[i].saturating_sub(1);
        // Interface next hops (0..n) are permanent.
        if self.refs[i] == 0 && i >= self.n_ifaces {
            self.nexthops[i] = NextHop::Unreachable;
            self.freed.push((id, self.version));
        }
    }

    /// The live tunnels with their interface ids.
    pub fn tunnels(&self) -> impl Iterator<Item = (IfaceId, &Tunnel)> {
        self.tunnels
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((TUN_BASE + i as IfaceId, t.as_ref()?)))
    }

    /// The interface id of a physical interface or tunnel by name.
    pub fn iface_named(&self, name: &str) -> Option<IfaceId> {
        if let Some(i) = self.iface_names.iter().position(|n| n == name) {
            return Some(i as IfaceId);
        }
        if let Some(&(_, id)) = self.virt_names.iter().find(|(n, _)| n == name) {
            return Some(id);
        }
        self.tunnels()
            .find(|(_, t)| t.spec.name == name)
            .map(|(id, _)| id)
    }

    /// The interface (physical or tunnel) whose subnet holds `ip`.
    pub fn tunnel_on_link(&self, ip: IpAddr) -> Option<IfaceId> {
        self.tunnels()
            .find(|(_, t)| match ip {
                IpAddr::V4(a) => t
                    .iface
                    .ipv4
                    .iter()
                    .any(|&(p, l)| super::spec::contains(IpAddr::V4(p), l, IpAddr::V4(a))),
                IpAddr::V6(a) => t
                    .iface
                    .ipv6
                    .iter()
                    .any(|&(p, l)| super::spec::contains(IpAddr::V6(p), l, IpAddr::V6(a))),
            })
            .map(|(id, _)| id)
    }

    /// Adds a tunnel and the connected routes of its addresses (not yet
    /// published). Returns its interface id.
    pub fn add_tunnel(&mut self, spec: TunnelSpec) -> Result<IfaceId, RouteError> {
        if self.iface_named(&spec.name).is_some() {
            return Err(RouteError::TunnelExists(spec.name));
        }
        if let Some((_, t)) = self.tunnels().find(|(_, t)| {
            t.spec.kind == spec.kind && t.spec.local == spec.local && t.spec.remote == spec.remote
        }) {
            return Err(RouteError::TunnelSameEndpoints(t.spec.name.clone()));
        }
        let ready = self
            .tunnels_freed
            .iter()
            .position(|&(_, at)| self.version >= at + NH_REUSE_GRACE);
        let slot = match ready {
            Some(k) => self.tunnels_freed.swap_remove(k).0,
            None if self.tunnels.len() < MAX_TUNNELS => {
                self.tunnels.push(None);
                self.tunnels.len() - 1
            }
            None => return Err(RouteError::TunnelsFull),
        };
        let id = TUN_BASE + slot as IfaceId;
        let iface = spec.iface();
        let connected: Vec<RouteSpec> = iface
            .ipv4
            .iter()
            .map(|&(a, l)| (IpAddr::V4(a), l))
            .chain(iface.ipv6.iter().map(|&(a, l)| (IpAddr::V6(a), l)))
            .map(|(a, l)| RouteSpec {
                prefix: super::spec::network(a, l),
                len: l,
                target: RouteTarget::Connected { iface: id },
            })
            .collect();
        self.serial += 1;
        self.tunnels[slot] = Some(Tunnel {
            spec,
            iface,
            serial: self.serial,
        });
        let mut done = Vec::new();
        for r in connected {
            if let Err(e) = self.insert(r, Origin::Connected) {
                for (p, l) in done {
                    let _ = self.remove_any(p, l);
                }
                self.tunnels[slot] = None;
                self.tunnels_freed.push((slot, 0));
                return Err(e);
            }
            done.push((r.prefix, r.len));
        }
        Ok(id)
    }

    /// Removes a tunnel and every route into it (not yet published).
    /// Returns it and the number of routes removed.
    pub fn remove_tunnel(&mut self, name: &str) -> Result<(Tunnel, usize), RouteError> {
        let Some((id, _)) = self.tunnels().find(|(_, t)| t.spec.name == name) else {
            return Err(RouteError::TunnelNotFound(name.to_string()));
        };
        let into: Vec<(IpAddr, u8)> = self
            .routes
            .values()
            .filter(|r| {
                matches!(r.target, RouteTarget::Via { iface, .. } | RouteTarget::Connected { iface } if iface == id)
            })
            .map(|r| (r.prefix, r.len))
            .collect();
        for &(p, l) in &into {
            let _ = self.remove_any(p, l);
        }
        let slot = (id - TUN_BASE) as usize;
        let t = self.tunnels[slot].take().expect("found above");
        self.tunnels_freed.push((slot, self.version));
        Ok((t, into.len()))
    }

    /// Publishes the current state as a new table version.
    pub fn publish(&mut self) {
        self.version += 1;
        let t = Arc::new(RouteTable {
            fib4: self.fib4.snapshot(),
            fib6: self.fib6.snapshot(),
            nexthops: self.nexthops.clone(),
            tunnels: self.tunnels.clone(),
            version: self.version,
            addrs: self.addrs.clone(),
            addrs_gen: self.addrs_gen,
        });
        let old = self.handle.current.swap(t);
        self.handle.version.store(self.version, Ordering::Release);
        self.retired.push(old);
        self.reap();
    }

    /// Drops retired tables no worker holds any more.
    pub fn reap(&mut self) {
        self.retired.retain(|t| Arc::strong_count(t) > 1);
    }

    /// Retired tables still held by a worker.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::spec::IfaceSpec;
    use crate::wire::ethernet::MacAddr;
    use crate::PortId;

    fn iface() -> IfaceSpec {
        IfaceSpec::default()
    }

    fn spec() -> RouterSpec {
        RouterSpec {
            ifaces: vec![
                IfaceSpec {
                    name: "a".into(),
                    port: PortId(0),
                    mac: MacAddr([2, 0, 0, 0, 0, 1]),
                    ipv4: vec![("10.1.0.1".parse().unwrap(), 24)],
                    ipv6: vec![("2001:db8:1::1".parse().unwrap(), 64)],
                    ..iface()
                },
                IfaceSpec {
                    name: "b".into(),
                    port: PortId(1),
                    mac: MacAddr([2, 0, 0, 0, 0, 2]),
                    ipv4: vec![("10.2.0.1".parse().unwrap(), 24)],
                    ..iface()
                },
            ],
            routes: vec![RouteSpec {
                prefix: "10.9.0.0".parse().unwrap(),
                len: 16,
                target: RouteTarget::Via {
                    gateway: "10.2.0.2".parse().unwrap(),
                    iface: 1,
                },
            }],
            neighbors: vec![],
            tunnels: vec![],
            gtpu: None,
            nat64: None,
        }
    }

    fn via(gw: &str, iface: IfaceId) -> RouteTarget {
        RouteTarget::Via {
            gateway: gw.parse().unwrap(),
            iface,
        }
    }

    fn lookup(h: &RouteHandle, a: &str) -> Option<NextHop> {
        let t = h.load();
        let nh = match a.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => t.fib4.lookup(a),
            IpAddr::V6(a) => t.fib6.lookup(a),
        }?;
        Some(t.nexthops[nh as usize])
    }

    #[test]
    fn config_and_connected_routes_are_published_with_origins() {
        let rib = Rib::new(&spec()).unwrap();
        let h = rib.handle();
        assert_eq!(h.version(), 1);
        assert_eq!(
            lookup(&h, "10.1.0.7"),
            Some(NextHop::Connected { iface: 0 })
        );
        assert_eq!(
            lookup(&h, "10.9.3.4"),
            Some(NextHop::Via {
                iface: 1,
                gateway: "10.2.0.2".parse().unwrap()
            })
        );
        assert_eq!(lookup(&h, "192.0.2.1"), None);
        let origins: Vec<_> = rib.iter().map(|r| (r.len, r.origin)).collect();
        assert!(origins.contains(&(16, Origin::Config)));
        assert!(origins.contains(&(24, Origin::Connected)));
        assert!(origins.contains(&(64, Origin::Connected)));
    }

    #[test]
    fn add_remove_publish_and_errors() {
        let mut rib = Rib::new(&spec()).unwrap();
        let h = rib.handle();
        let r = RouteSpec {
            prefix: "2001:db8:9::".parse().unwrap(),
            len: 48,
            target: RouteTarget::Blackhole,
        };
        rib.insert(r, Origin::Runtime).unwrap();
        // Not visible before publication.
        assert_eq!(lookup(&h, "2001:db8:9::1"), None);
        rib.publish();
        assert_eq!(h.version(), 2);
        assert_eq!(lookup(&h, "2001:db8:9::1"), Some(NextHop::Blackhole));
        assert_eq!(
            rib.insert(r, Origin::Runtime),
            Err(RouteError::Exists(r.prefix, 48))
        );
        assert_eq!(
            rib.remove("10.1.0.0".parse().unwrap(), 24),
            Err(RouteError::Connected("10.1.0.0".parse().unwrap(), 24))
        );
        assert!(matches!(
            rib.remove("10.7.0.0".parse().unwrap(), 16),
            Err(RouteError::NotFound(..))
        ));
        assert_eq!(
            rib.insert(
                RouteSpec {
                    prefix: "fe80::".parse().unwrap(),
                    len: 64,
                    target: RouteTarget::Blackhole
                },
                Origin::Runtime
            ),
            Err(RouteError::LinkLocal)
        );
        let gone = rib.remove(r.prefix, 48).unwrap();
        assert_eq!(gone.origin, Origin::Runtime);
        rib.publish();
        assert_eq!(lookup(&h, "2001:db8:9::1"), None);
    }

    #[test]
    fn next_hops_are_shared_and_freed_ids_wait_before_reuse() {
        let mut rib = Rib::new(&spec()).unwrap();
        let add = |rib: &mut Rib, p: &str, gw: &str| {
            rib.insert(
                RouteSpec {
                    prefix: p.parse().unwrap(),
                    len: 24,
                    target: via(gw, 1),
                },
                Origin::Runtime,
            )
            .unwrap();
            rib.publish();
        };
        add(&mut rib, "10.20.1.0", "10.2.0.2"); // shares 10.9/16's next hop
        let n = rib.nexthops.len();
        add(&mut rib, "10.20.2.0", "10.2.0.3"); // a new one
        assert_eq!(rib.nexthops.len(), n + 1);
        let id = rib.fib4.get("10.20.2.0".parse().unwrap(), 24).unwrap();
        rib.remove("10.20.2.0".parse().unwrap(), 24).unwrap();
        rib.publish();
        add(&mut rib, "10.20.3.0", "10.2.0.4");
        let id2 = rib.fib4.get("10.20.3.0".parse().unwrap(), 24).unwrap();
        assert_ne!(id, id2, "a freed id is reused before its grace period");
        for _ in 0..NH_REUSE_GRACE {
            rib.publish();
        }
        add(&mut rib, "10.20.4.0", "10.2.0.5");
        let id3 = rib.fib4.get("10.20.4.0".parse().unwrap(), 24).unwrap();
        assert_eq!(id, id3, "the freed id is reused after its grace period");
    }

    #[test]
    fn retired_tables_are_freed_by_the_rib_not_the_reader() {
        let mut rib = Rib::new(&spec()).unwrap();
        let h = rib.handle();
        let held = h.load(); // a worker holds version 1
        rib.publish();
        rib.publish();
        assert_eq!(rib.retired(), 1, "only the held table stays retired");
        drop(held);
        rib.reap();
        assert_eq!(rib.retired(), 0);
    }

    #[test]
    fn route_limit_is_enforced() {
        let mut rib = Rib::with_limit(&spec(), 6).unwrap();
        let mut added = 0;
        let mut err = None;
        for i in 0..10u8 {
            match rib.insert(
                RouteSpec {
                    prefix: IpAddr::V4([10, 30, i, 0].into()),
                    len: 24,
                    target: RouteTarget::Blackhole,
                },
                Origin::Runtime,
            ) {
                Ok(()) => added += 1,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(rib.len(), 6);
        assert!(added < 10);
        assert_eq!(err, Some(RouteError::Full(6)));
    }
}
