//! `xgw reload` and SIGHUP: re-read the configuration file, validate it
//! whole, and apply the difference to the running engine without
//! restarting workers — the XDP pass rules of each port (the host stack's
//! addresses and ports) and what the pipeline function changes at run time
//! (the router: routes, tunnels, GTP-U sessions, published as one table
//! version). Anything else that differs (cores, ports, interfaces, …) is
//! refused with its key named, and a refused or invalid file changes
//! nothing.
//!
//! The control thread owns the [`Reloader`]; the `reload` command runs it.
//! SIGHUP makes the main thread send that command to its own socket.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::bpf::PassHandle;
use crate::config::{Config, PortKind};
use crate::function::{self, Instance};
use crate::netdev;

/// The running configuration and what a reload changes besides the
/// function's state.
pub struct Reloader {
    /// The file `xgw run` read; `None`: the embedded demo (nothing to re-read).
    path: Option<PathBuf>,
    current: Config,
    /// Per port index: its XDP program's pass rules (live af_xdp ports).
    pass: Vec<(usize, PassHandle)>,
    /// Per port index: the multicast groups joined for the function (its
    /// addresses' solicited-node groups), joined anew when a reload
    /// changes them.
    groups: Vec<(usize, netdev::Memberships)>,
}

impl Reloader {
    pub fn new(current: Config, path: Option<PathBuf>, pass: Vec<(usize, PassHandle)>) -> Self {
        Reloader {
            path,
            current,
            pass,
            groups: Vec::new(),
        }
    }

    /// Hands the reloader the multicast memberships the engine joined
    /// (live ports), to join anew what a reload changes.
    pub fn with_memberships(mut self, groups: Vec<(usize, netdev::Memberships)>) -> Self {
        self.groups = groups;
        self
    }

    /// The configuration in force.
    pub fn current(&self) -> &Config {
        &self.current
    }

    /// Re-reads the file and applies it (`dry_run`: only says what would
    /// change). The answer: `{"ok": true, "changes": [...]}` or
    /// `{"error": "reload refused, nothing changed: ..."}`.
    pub fn reload(&mut self, function: Option<&mut Box<dyn Instance>>, dry_run: bool) -> Value {
        let refused = |why: String| {
            tracing::warn!("reload refused, nothing changed: {why}");
            json!({"error": format!("reload refused, nothing changed: {why}")})
        };
        let Some(path) = &self.path else {
            return refused(
                "this engine runs the embedded demo configuration; there is no file to re-read \
                 (start it with `xgw run --config FILE`)"
                    .into(),
            );
        };
        let new = match Config::load(path) {
            Ok(c) => c,
            Err(e) => return refused(e.to_string()),
        };
        if let Some(key) = fixed_diff(&self.current, &new) {
            return refused(format!(
                "{}: key {key} changed, which only a restart applies \
                 (a reload applies routes, tunnels, interface addresses, gtpu.sessions and ports[].pass_*)",
                new.source
            ));
        }
        let (mut changes, plan) = match function.as_deref() {
            Some(f) => match f.plan_reload(&self.current, &new) {
                Ok(p) => p,
                Err(e) => return refused(format!("{}: {e}", new.source)),
            },
            None => (Vec::new(), Box::new(()) as Box<dyn std::any::Any + Send>),
        };
        let mut pass_new = Vec::new();
        for (i, h) in &self.pass {
            if let Some(PortKind::AfXdp(x)) = new.ports.get(*i).map(|p| &p.kind) {
                if &x.pass != h.current() {
                    changes.push(format!(
                        "port {} ({}): pass rules replaced",
                        new.ports[*i].name,
                        h.ifname()
                    ));
                    pass_new.push((*i, x.pass.clone()));
                }
            }
        }
        if dry_run {
            if let Some(f) = function.as_deref() {
                self.planned_rejoin(f.as_ref(), &new, &mut changes);
            }
            return json!({"ok": true, "dry_run": true, "changes": changes});
        }
        // Pass rules first (a map update may fail: then they go back),
        // then the function's plan (which undoes itself on failure).
        let mut changed: Vec<(usize, crate::bpf::PassRules)> = Vec::new();
        let mut failed = None;
        for (i, rules) in &pass_new {
            let h = &mut self
                .pass
                .iter_mut()
                .find(|(j, _)| j == i)
                .expect("listed")
                .1;
            let old = h.current().clone();
            match h.replace(rules) {
                Ok(()) => changed.push((*i, old)),
                Err(e) => {
                    let _ = h.replace(&old);
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        let mut function = function;
        if failed.is_none() {
            if let Some(f) = function.as_deref_mut() {
                if let Err(e) = f.apply_reload(plan) {
                    failed = Some(e);
                }
            }
        }
        if let Some(e) = failed {
            for (i, old) in changed {
                if let Some((_, h)) = self.pass.iter_mut().find(|(j, _)| *j == i) {
                    let _ = h.replace(&old);
                }
            }
            return refused(e);
        }
        if let Some(f) = function.as_deref() {
            self.rejoin(f.as_ref(), &new, &mut changes);
        }
        for c in &changes {
            tracing::info!("reload: {c}");
        }
        tracing::info!(config = %new.source, changes = changes.len(), "configuration reloaded");
        self.current = new;
        json!({"ok": true, "changes": changes})
    }
}

impl Reloader {
    /// What [`Reloader::rejoin`] would do with configuration `new`: the
    /// ports whose groups would change, listed (a dry run).
    fn planned_rejoin(&self, f: &dyn Instance, new: &Config, changes: &mut Vec<String>) {
        for (port, m) in &self.groups {
            let Some(g) = f.planned_groups(new, *port) else {
                continue;
            };
            if g.groups != m.groups {
                let name = new.ports.get(*port).map_or("?", |p| p.name.as_str());
                changes.push(format!(
                    "port {name}: {} to join anew ({} groups, were {})",
                    g.what,
                    g.groups.len(),
                    m.groups.len()
                ));
            }
        }
    }

    /// Joins the multicast groups the function now wants on each port
    /// (an added IPv6 address's solicited-node group: without it a NIC
    /// that filters multicast hides the Neighbor Solicitations for the
    /// address). The new memberships are in place before the old ones go,
    /// so groups kept are never left. A failure does not undo the reload
    /// (the address works wherever multicast is not filtered): it is
    /// logged and listed with the changes.
    fn rejoin(&mut self, f: &dyn Instance, new: &Config, changes: &mut Vec<String>) {
        for (port, m) in &mut self.groups {
            let Some(g) = f.port_groups(*port) else {
                continue;
            };
            if g.groups == m.groups {
                continue;
            }
            let name = new.ports.get(*port).map_or("?", |p| p.name.as_str());
            match netdev::join_multicast(m.ifindex, &g.groups) {
                Ok(joined) => {
                    changes.push(format!(
                        "port {name}: {} joined anew ({} groups, were {})",
                        g.what,
                        joined.groups.len(),
                        m.groups.len()
                    ));
                    *m = joined;
                }
                Err(e) => {
                    tracing::warn!(port = %name, "joining {} failed: {e}", g.what);
                    changes.push(format!(
                        "port {name}: joining {} failed ({e}); the old groups stay, and a NIC that \
                         filters multicast may hide Neighbor Solicitations for new IPv6 addresses \
                         until a restart",
                        g.what
                    ));
                }
            }
        }
    }
}

/// The first key outside what a reload changes that differs, if any.
fn fixed_diff(old: &Config, new: &Config) -> Option<String> {
    let d = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    if d(&old.cores, &new.cores) {
        return Some("`engine.cores`".into());
    }
    if old.burst != new.burst {
        return Some("`engine.burst`".into());
    }
    if d(&old.idle, &new.idle) {
        return Some("`engine.idle`".into());
    }
    if d(&old.umem, &new.umem) {
        return Some("`engine.umem`".into());
    }
    if old.control_socket != new.control_socket {
        return Some("`control.socket`".into());
    }
    if old.prometheus != new.prometheus {
        return Some("`control.prometheus`".into());
    }
    if old.ports.len() != new.ports.len() {
        return Some("`ports`".into());
    }
    for (i, (a, b)) in old.ports.iter().zip(&new.ports).enumerate() {
        let bare = |p: &crate::config::PortCfg| {
            let mut p = p.clone();
            if let PortKind::AfXdp(x) = &mut p.kind {
                x.pass = Default::default();
            }
            format!("{p:?}")
        };
        if bare(a) != bare(b) {
            return Some(format!("`ports[{i}]`"));
        }
    }
    if function::of(old).name() != function::of(new).name() {
        return Some("`pipeline.kind`".into());
    }
    None
}
