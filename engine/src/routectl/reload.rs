//! `xgw reload` for the router: the difference between the running
//! configuration and a new one, in routes, tunnels and GTP-U sessions,
//! planned whole (nothing changes if any part is refused), then applied to
//! the RIB and published as one table version, so workers see all route and
//! tunnel changes at once, between two bursts.
//!
//! Interface addresses may change too: the connected routes follow in the
//! same publication, and each worker takes the new addresses with that
//! table. What else differs (an interface's other keys, static neighbours,
//! `[gtpu]` other than its sessions, `[nat64]`, `[pfcp]`) is refused with
//! the key named: those need a restart.

use std::collections::HashMap;
use std::net::IpAddr;

use xgw_pipelines::gtpu::SessionSpec;
use xgw_pipelines::router::spec::{
    IfaceId, RouteSpec, RouteTarget, RouterSpec, TunnelSpec, GTP_IFACE, NAT64_IFACE, TUN_BASE,
};
use xgw_pipelines::router::table::{IfaceAddrs, Origin, RibRoute};

use super::RouterControl;
use crate::config::router::RouterCfg;

/// A route with its interface named (ids differ between two specs).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Named {
    prefix: IpAddr,
    len: u8,
    kind: u8,
    gateway: Option<IpAddr>,
    iface: Option<String>,
}

fn iface_name(spec: &RouterSpec, id: IfaceId) -> String {
    if let Some(f) = spec.ifaces.get(id as usize) {
        return f.name.clone();
    }
    if id >= TUN_BASE {
        if let Some(t) = spec.tunnels.get((id - TUN_BASE) as usize) {
            return t.name.clone();
        }
    }
    match id {
        GTP_IFACE => spec.gtpu.as_ref().map(|g| g.iface.clone()),
        NAT64_IFACE => spec.nat64.as_ref().map(|n| n.iface.clone()),
        _ => None,
    }
    .unwrap_or_else(|| format!("#{id}"))
}

fn named(spec: &RouterSpec, r: &RouteSpec) -> Named {
    let (kind, gateway, iface) = match r.target {
        RouteTarget::Via { gateway, iface } => (0, Some(gateway), Some(iface_name(spec, iface))),
        RouteTarget::Connected { iface } => (1, None, Some(iface_name(spec, iface))),
        RouteTarget::Blackhole => (2, None, None),
        RouteTarget::Unreachable => (3, None, None),
    };
    Named {
        prefix: r.prefix,
        len: r.len,
        kind,
        gateway,
        iface,
    }
}

fn target_iface(t: RouteTarget) -> Option<IfaceId> {
    match t {
        RouteTarget::Via { iface, .. } | RouteTarget::Connected { iface } => Some(iface),
        _ => None,
    }
}

/// The router's part of a reload: computed by [`RouterControl::plan_reload`]
/// without changing anything, applied by [`RouterControl::apply_reload`].
pub struct ReloadPlan {
    spec: RouterSpec,
    /// The Ethernet interfaces' addresses before and after, if they change.
    addrs: Option<(Vec<IfaceAddrs>, Vec<IfaceAddrs>)>,
    routes_out: Vec<(IpAddr, u8)>,
    /// With the new spec's interface ids (tunnels renumbered on apply).
    routes_in: Vec<RouteSpec>,
    tunnels_out: Vec<String>,
    tunnels_in: Vec<TunnelSpec>,
    sessions_out: Vec<u64>,
    sessions_in: Vec<SessionSpec>,
    sessions_mod: Vec<SessionSpec>,
    /// One line per change, for the answer and the log.
    pub changes: Vec<String>,
}

/// An applied step, undone in reverse order if a later one fails.
enum Done {
    RouteIn(IpAddr, u8),
    /// With the name of the tunnel it led into (re-created under another id).
    RouteOut(RibRoute, Option<String>),
    /// A tunnel removed, with the configured/runtime routes that went with it.
    TunnelOut(TunnelSpec, Vec<RibRoute>),
    TunnelIn(String),
    SessionIn(u64),
    SessionOut(SessionSpec),
    SessionMod(SessionSpec),
    Addrs(Vec<IfaceAddrs>, Vec<IfaceAddrs>),
}

/// The first index where two lists differ in `what`, as a config key.
fn first_diff<T: std::fmt::Debug>(key: &str, old: &[T], new: &[T]) -> Option<String> {
    if old.len() != new.len() {
        return Some(format!("`{key}`"));
    }
    old.iter()
        .zip(new)
        .position(|(a, b)| format!("{a:?}") != format!("{b:?}"))
        .map(|i| format!("`{key}[{i}]`"))
}

fn restart(key: String, what: &str) -> String {
    format!(
        "key {key}: {what} changed, which only a restart applies \
         (a reload applies routes, tunnels, interface addresses, gtpu.sessions and ports[].pass_*)"
    )
}

impl RouterControl {
    /// Plans moving from `old` (the running configuration) to `new`.
    /// `Err`: a sentence naming the key that cannot change at run time or
    /// the entry that cannot be applied; nothing is changed either way.
    pub fn plan_reload(&self, old: &RouterCfg, new: &RouterCfg) -> Result<ReloadPlan, String> {
        // An interface's addresses may change; nothing else of it.
        let bare = |l: &[crate::config::IfaceCfg]| -> Vec<crate::config::IfaceCfg> {
            l.iter()
                .map(|f| {
                    let mut f = f.clone();
                    f.ipv4.clear();
                    f.ipv6.clear();
                    f
                })
                .collect()
        };
        if let Some(k) = first_diff("interfaces", &bare(&old.ifaces), &bare(&new.ifaces)) {
            return Err(restart(k, "an interface's key other than ipv4/ipv6"));
        }
        if let Some(k) = first_diff("neighbors", &old.neighbors, &new.neighbors) {
            return Err(restart(k, "a static neighbour"));
        }
        if old.pfcp != new.pfcp {
            return Err(restart("`pfcp`".into(), "the PFCP agent"));
        }
        if old.nat64 != new.nat64 {
            return Err(restart("`nat64`".into(), "the translator"));
        }
        let strip = |g: &Option<xgw_pipelines::gtpu::GtpuSpec>| {
            g.clone().map(|mut g| {
                g.sessions.clear();
                g
            })
        };
        if strip(&old.gtpu) != strip(&new.gtpu) {
            return Err(restart(
                "`gtpu`".into(),
                "a GTP-U setting other than its sessions",
            ));
        }
        // The MACs the running spec was built with, per port.
        let mut macs = Vec::new();
        for (c, f) in old.ifaces.iter().zip(&self.spec.ifaces) {
            if macs.len() <= c.port {
                macs.resize(c.port + 1, None);
            }
            if c.mac.is_none() {
                macs[c.port] = Some(f.mac);
            }
        }
        let spec = new.spec(&macs)?;
        let cur = &self.spec;
        let mut changes = Vec::new();

        let addrs_of = |s: &RouterSpec| -> Vec<IfaceAddrs> {
            s.ifaces
                .iter()
                .map(|f| IfaceAddrs {
                    ipv4: f.ipv4.clone(),
                    ipv6: f.ipv6.clone(),
                })
                .collect()
        };
        let (was, now) = (addrs_of(cur), addrs_of(&spec));
        let addrs = if was != now {
            for ((f, a), b) in cur.ifaces.iter().zip(&was).zip(&now) {
                let show4 = |v: &[(std::net::Ipv4Addr, u8)]| {
                    v.iter()
                        .map(|(a, l)| format!("{a}/{l}"))
                        .collect::<Vec<_>>()
                };
                let show6 = |v: &[(std::net::Ipv6Addr, u8)]| {
                    v.iter()
                        .map(|(a, l)| format!("{a}/{l}"))
                        .collect::<Vec<_>>()
                };
                let (a4, b4) = (show4(&a.ipv4), show4(&b.ipv4));
                let (a6, b6) = (show6(&a.ipv6), show6(&b.ipv6));
                for x in a4
                    .iter()
                    .chain(&a6)
                    .filter(|x| !b4.contains(x) && !b6.contains(x))
                {
                    changes.push(format!("interface {}: address {x} removed", f.name));
                }
                for x in b4
                    .iter()
                    .chain(&b6)
                    .filter(|x| !a4.contains(x) && !a6.contains(x))
                {
                    changes.push(format!("interface {}: address {x} added", f.name));
                }
            }
            // What was added at run time must still stand on the new
            // addresses: a tunnel's local address, a route's gateway.
            let ours = |ip: IpAddr| {
                spec.ifaces.iter().any(|f| match ip {
                    IpAddr::V4(a) => f.ipv4.iter().any(|&(x, _)| x == a),
                    IpAddr::V6(a) => f.ipv6.iter().any(|&(x, _)| x == a),
                })
            };
            for (_, t) in self.rib.tunnels() {
                let in_file = spec.tunnels.iter().any(|n| n.name == t.spec.name);
                if !in_file && !ours(t.spec.local) {
                    return Err(format!(
                        "key `interfaces`: tunnel {} (added at run time) has local address {}, \
                         which the new interface addresses drop; delete the tunnel first",
                        t.spec.name, t.spec.local
                    ));
                }
            }
            for r in self.rib.iter().filter(|r| r.origin == Origin::Runtime) {
                if let RouteTarget::Via { gateway, iface } = r.target {
                    if (iface as usize) < spec.ifaces.len() && spec.on_link(gateway) != Some(iface)
                    {
                        return Err(format!(
                            "key `interfaces`: route {}/{} (added at run time) has gateway {gateway}, \
                             which is on none of {}'s new subnets; delete the route first",
                            r.prefix,
                            r.len,
                            iface_name(&spec, iface)
                        ));
                    }
                }
            }
            Some((was, now))
        } else {
            None
        };

        // Tunnels: by name; a changed one is replaced.
        let mut tunnels_out = Vec::new();
        let mut tunnels_in = Vec::new();
        for t in &cur.tunnels {
            match spec.tunnels.iter().find(|n| n.name == t.name) {
                None => {
                    changes.push(format!("tunnel {} deleted", t.name));
                    tunnels_out.push(t.name.clone());
                }
                Some(n) if n != t => {
                    changes.push(format!("tunnel {} replaced", t.name));
                    tunnels_out.push(t.name.clone());
                    tunnels_in.push(n.clone());
                }
                Some(_) => {}
            }
        }
        for (j, n) in spec.tunnels.iter().enumerate() {
            if cur.tunnels.iter().any(|t| t.name == n.name) {
                continue;
            }
            if self.rib.iface_named(&n.name).is_some() {
                return Err(format!(
                    "key `tunnels[{j}]`: an interface or tunnel named \"{}\" exists already \
                     (added at run time?); delete it first",
                    n.name
                ));
            }
            changes.push(format!("tunnel {} added", n.name));
            tunnels_in.push(n.clone());
        }
        let replaced = |s: &RouterSpec, r: &RouteSpec| {
            target_iface(r.target)
                .filter(|&i| i >= TUN_BASE)
                .map(|i| iface_name(s, i))
                .is_some_and(|n| tunnels_out.contains(&n))
        };

        // Routes: by prefix, target named; routes into a replaced tunnel
        // go out with it and come back.
        let old_named: Vec<Named> = cur.routes.iter().map(|r| named(cur, r)).collect();
        let new_named: Vec<Named> = spec.routes.iter().map(|r| named(&spec, r)).collect();
        let mut routes_out = Vec::new();
        for (r, n) in cur.routes.iter().zip(&old_named) {
            if !new_named.contains(n) || replaced(cur, r) {
                routes_out.push((r.prefix, r.len));
            }
        }
        let mut routes_in = Vec::new();
        for (j, (r, n)) in spec.routes.iter().zip(&new_named).enumerate() {
            if old_named.contains(n) && !replaced(&spec, r) {
                continue;
            }
            if let Some(x) = self.rib.get(r.prefix, r.len) {
                if !routes_out.contains(&(r.prefix, r.len)) {
                    return Err(format!(
                        "key `routes[{j}]`: {}/{} is in the route table already ({} route); \
                         {}",
                        r.prefix,
                        r.len,
                        x.origin.as_str(),
                        if x.origin == Origin::Connected {
                            "overriding a connected route needs a restart"
                        } else {
                            "delete it first (xgw route del)"
                        }
                    ));
                }
            }
            routes_in.push(*r);
        }
        for &(p, l) in &routes_out {
            if !routes_in.iter().any(|r| r.prefix == p && r.len == l) {
                changes.push(format!("route {p}/{l} deleted"));
            }
        }
        for r in &routes_in {
            let verb = if routes_out.contains(&(r.prefix, r.len)) {
                "replaced"
            } else {
                "added"
            };
            changes.push(format!("route {}/{} {verb}", r.prefix, r.len));
        }

        // GTP-U sessions from the file: by id.
        let (mut sessions_out, mut sessions_in, mut sessions_mod) = (vec![], vec![], vec![]);
        if let (Some(o), Some(n)) = (&cur.gtpu, &spec.gtpu) {
            let by_id: HashMap<u64, &SessionSpec> = o.sessions.iter().map(|s| (s.id, s)).collect();
            for s in &o.sessions {
                if !n.sessions.iter().any(|x| x.id == s.id) {
                    changes.push(format!("GTP-U session {} deleted", s.id));
                    sessions_out.push(s.id);
                }
            }
            for s in &n.sessions {
                match by_id.get(&s.id) {
                    None => {
                        changes.push(format!("GTP-U session {} added", s.id));
                        sessions_in.push(s.clone());
                    }
                    Some(&x) if x != s => {
                        changes.push(format!("GTP-U session {} modified", s.id));
                        sessions_mod.push(s.clone());
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(ReloadPlan {
            spec,
            addrs,
            routes_out,
            routes_in,
            tunnels_out,
            tunnels_in,
            sessions_out,
            sessions_in,
            sessions_mod,
            changes,
        })
    }

    /// Applies a plan: routes and tunnels in the RIB, published once;
    /// sessions through GTP-U's store. On an error every step already
    /// taken is undone (and nothing was published).
    pub fn apply_reload(&mut self, plan: ReloadPlan) -> Result<(), String> {
        if plan.changes.is_empty() {
            // Nothing to publish (the table version stays).
            self.spec = plan.spec;
            return Ok(());
        }
        let mut done = Vec::new();
        match self.apply_steps(&plan, &mut done) {
            Ok(()) => {
                self.rib.publish();
                self.spec = plan.spec;
                Ok(())
            }
            Err(e) => {
                self.undo(done);
                Err(e)
            }
        }
    }

    fn apply_steps(&mut self, plan: &ReloadPlan, done: &mut Vec<Done>) -> Result<(), String> {
        // Connected routes a configured route overrode come back when it goes.
        let connected: Vec<RouteSpec> = {
            let mut bare = self.spec.clone();
            bare.routes.clear();
            bare.all_routes()
        };
        for &(p, l) in &plan.routes_out {
            // (An error: gone with its tunnel, or deleted by hand.)
            let via = self.rib.get(p, l).and_then(|r| target_iface(r.target));
            let tunnel = via
                .filter(|&i| i >= TUN_BASE)
                .and_then(|i| self.rib.tunnels().find(|&(id, _)| id == i))
                .map(|(_, t)| t.spec.name.clone());
            if let Ok(r) = self.rib.remove(p, l) {
                done.push(Done::RouteOut(r, tunnel));
                if let Some(c) = connected.iter().find(|c| c.prefix == p && c.len == l) {
                    if self.rib.insert(*c, Origin::Connected).is_ok() {
                        done.push(Done::RouteIn(p, l));
                    }
                }
            }
        }
        for name in &plan.tunnels_out {
            let id = self.rib.iface_named(name);
            let routes: Vec<RibRoute> = self
                .rib
                .iter()
                .filter(|r| r.origin != Origin::Connected && target_iface(r.target) == id)
                .copied()
                .collect();
            let (t, _) = self
                .rib
                .remove_tunnel(name)
                .map_err(|e| format!("tunnel {name}: {e}"))?;
            done.push(Done::TunnelOut(t.spec, routes));
        }
        if let Some((was, now)) = &plan.addrs {
            self.rib
                .set_addresses(was, now)
                .map_err(|e| format!("interface addresses: {e}"))?;
            done.push(Done::Addrs(was.clone(), now.clone()));
        }
        for t in &plan.tunnels_in {
            self.rib
                .add_tunnel(t.clone())
                .map_err(|e| format!("tunnel {}: {e}", t.name))?;
            done.push(Done::TunnelIn(t.name.clone()));
        }
        for r in &plan.routes_in {
            let mut r = *r;
            // New-spec tunnel ids to the RIB's.
            if let Some(i) = target_iface(r.target).filter(|&i| i >= TUN_BASE) {
                let name = iface_name(&plan.spec, i);
                let id = self
                    .rib
                    .iface_named(&name)
                    .ok_or_else(|| format!("route {}/{}: no tunnel {name}", r.prefix, r.len))?;
                r.target = match r.target {
                    RouteTarget::Via { gateway, .. } => RouteTarget::Via { gateway, iface: id },
                    _ => RouteTarget::Connected { iface: id },
                };
            }
            // A connected route this one overrides again.
            if let Some(x) = self.rib.get(r.prefix, r.len).copied() {
                if x.origin == Origin::Connected && self.rib.remove_connected(r.prefix, r.len) {
                    done.push(Done::RouteOut(x, None));
                }
            }
            self.rib
                .insert(r, Origin::Config)
                .map_err(|e| format!("route {}/{}: {e}", r.prefix, r.len))?;
            done.push(Done::RouteIn(r.prefix, r.len));
        }
        if let Some(g) = self.gtp.as_mut() {
            let s = g.sessions_mut();
            for &id in &plan.sessions_out {
                match s.delete(id, false) {
                    Ok((old, _)) => done.push(Done::SessionOut(old.spec)),
                    Err(xgw_pipelines::gtpu::SessionError::NotFound(_)) => {}
                    Err(e) => return Err(format!("GTP-U session {id}: {e}")),
                }
            }
            for x in &plan.sessions_mod {
                let old = s.get(x.id).map(|o| o.spec.clone());
                match old {
                    Some(old) => {
                        s.modify(x.clone(), true)
                            .map_err(|e| format!("GTP-U session {}: {e}", x.id))?;
                        done.push(Done::SessionMod(old));
                    }
                    None => {
                        s.add(x.clone())
                            .map_err(|e| format!("GTP-U session {}: {e}", x.id))?;
                        done.push(Done::SessionIn(x.id));
                    }
                }
            }
            for x in &plan.sessions_in {
                s.add(x.clone())
                    .map_err(|e| format!("GTP-U session {}: {e}", x.id))?;
                done.push(Done::SessionIn(x.id));
            }
        }
        Ok(())
    }

    /// Undoes applied steps, last first (best effort: each undo re-creates
    /// what a step removed, which the RIB held a moment before).
    fn undo(&mut self, done: Vec<Done>) {
        for d in done.into_iter().rev() {
            let r = match d {
                Done::RouteIn(p, l) => self.rib.remove(p, l).map(drop).map_err(|e| e.to_string()),
                Done::RouteOut(r, tunnel) => {
                    let mut target = r.target;
                    if let Some(id) = tunnel.and_then(|n| self.rib.iface_named(&n)) {
                        target = match target {
                            RouteTarget::Via { gateway, .. } => {
                                RouteTarget::Via { gateway, iface: id }
                            }
                            _ => RouteTarget::Connected { iface: id },
                        };
                    }
                    let spec = RouteSpec {
                        prefix: r.prefix,
                        len: r.len,
                        target,
                    };
                    self.rib.insert(spec, r.origin).map_err(|e| e.to_string())
                }
                Done::TunnelIn(name) => self
                    .rib
                    .remove_tunnel(&name)
                    .map(drop)
                    .map_err(|e| e.to_string()),
                Done::TunnelOut(spec, routes) => match self.rib.add_tunnel(spec) {
                    Ok(id) => {
                        for r in routes {
                            let target = match r.target {
                                RouteTarget::Via { gateway, .. } => {
                                    RouteTarget::Via { gateway, iface: id }
                                }
                                _ => RouteTarget::Connected { iface: id },
                            };
                            let spec = RouteSpec {
                                prefix: r.prefix,
                                len: r.len,
                                target,
                            };
                            let _ = self.rib.insert(spec, r.origin);
                        }
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                },
                Done::Addrs(was, now) => self
                    .rib
                    .set_addresses(&now, &was)
                    .map_err(|e| e.to_string()),
                Done::SessionIn(id) => match self.gtp.as_mut() {
                    Some(g) => g
                        .sessions_mut()
                        .delete(id, false)
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                },
                Done::SessionOut(s) => match self.gtp.as_mut() {
                    Some(g) => g.sessions_mut().add(s).map_err(|e| e.to_string()),
                    None => Ok(()),
                },
                Done::SessionMod(s) => match self.gtp.as_mut() {
                    Some(g) => g
                        .sessions_mut()
                        .modify(s, false)
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                },
            };
            if let Err(e) = r {
                tracing::error!("reload: undoing a step failed: {e}");
            }
        }
    }
}
