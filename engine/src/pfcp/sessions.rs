//! PFCP sessions (TS 29.244 §6.3, §7.5): Establishment, Modification,
//! Deletion and Report, mapped onto GTP-U sessions.
//!
//! A PFCP session is one GTP-U session of the dataplane (id
//! `1 << 63 | UP SEID`): its uplink PDRs (source interface Access) give
//! the local F-TEID (xgw chooses it on CHOOSE, one per CHOOSE ID), its
//! downlink PDRs (source interface Core or SGi-LAN) the UE address, their
//! FARs what each direction does (FORW with Outer Header Creation: the
//! base station's F-TEID; BUFF: buffered and, with NOCP, reported; DROP),
//! their QERs the gates, maximum bit rates and the QFI sent downlink, and
//! their URRs what is measured and reported. The rules are kept as the SMF
//! sent them and compiled into one [`SessionSpec`] after every change; a
//! session whose rules cannot be one (different F-TEIDs for uplink PDRs,
//! PDRs of one direction with different actions: per-SDF-filter
//! forwarding) is refused with cause 73 and a Failed Rule ID, and nothing
//! changes.
//!
//! Usage is measured from the dataplane's per-session counters (inner
//! packets and bytes per direction); a URR linked to uplink PDRs counts
//! uplink, to downlink PDRs downlink. Reports reset the measurement.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use xgw_pipelines::gtpu::session::MAX_RULES;
use xgw_pipelines::gtpu::session::{Downlink, COUNTERS, DL_BYTES, DL_PKTS, UL_BYTES, UL_PKTS};
use xgw_pipelines::gtpu::{FlowRule, SdfFilter, SessionError, SessionSpec, Sessions};

use super::rules::{self, action, method, report, t, trigger, Bad, Far, Pdr, Qer, Urr, Usage};
use super::{cause, ie, msg, ntp_seconds, Agent, Header, NodeId, Writer, PORT};

/// A session's rules of one kind by ID: a vector sorted by ID (a few
/// rules per session: a search beats a tree, and holds no empty slots).
#[derive(Clone, Debug)]
pub(super) struct Rules<K, V>(Vec<(K, V)>);

impl<K, V> Default for Rules<K, V> {
    fn default() -> Self {
        Rules(Vec::new())
    }
}

impl<K: Ord + Copy, V> Rules<K, V> {
    fn at(&self, k: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(x, _)| x.cmp(k))
    }
    pub fn get(&self, k: &K) -> Option<&V> {
        self.at(k).ok().map(|i| &self.0[i].1)
    }
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.at(k).ok().map(|i| &mut self.0[i].1)
    }
    pub fn contains_key(&self, k: &K) -> bool {
        self.at(k).is_ok()
    }
    pub fn insert(&mut self, k: K, v: V) {
        match self.at(&k) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (k, v)),
        }
    }
    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.at(k).ok().map(|i| self.0.remove(i).1)
    }
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn compact(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl<K: Ord + Copy, V> std::ops::Index<&K> for Rules<K, V> {
    type Output = V;
    fn index(&self, k: &K) -> &V {
        self.get(k).expect("a rule of this ID")
    }
}

/// Rules one session holds at most (more: cause 75).
pub const MAX_PDRS: usize = 64;
pub const MAX_FARS: usize = 64;
pub const MAX_QERS: usize = 32;
pub const MAX_URRS: usize = 32;

/// Session Report Requests waiting for their response at most (more are
/// not sent, counted as `session_reports_unsent`).
pub const MAX_PENDING_REPORTS: usize = 4096;

/// The dataplane session id of UP SEID `seid`.
pub fn gtp_id(seid: u64) -> u64 {
    1 << 63 | seid
}

/// A URR and its measurement.
#[derive(Clone, Debug)]
pub(super) struct UrrState {
    pub urr: Urr,
    seqn: u32,
    /// Counters ([ul pkts, ul bytes, dl pkts, dl bytes]) when the
    /// measurement (re)started, and when the quota was given.
    base: [u64; 4],
    qbase: [u64; 4],
    start_ntp: u32,
    start: Instant,
    quota_start: Instant,
    next_period: Option<Instant>,
    /// The quota is used up: the linked PDRs' traffic stops.
    exhausted: bool,
    /// Linked from uplink / downlink PDRs (set when compiled).
    ul: bool,
    dl: bool,
    pub reports: u64,
}

impl UrrState {
    fn new(urr: Urr, now: Instant, c: [u64; 4]) -> UrrState {
        let next_period = urr
            .period_s
            .map(|p| now + Duration::from_secs(u64::from(p)));
        UrrState {
            urr,
            seqn: 0,
            base: c,
            qbase: c,
            start_ntp: ntp_seconds(SystemTime::now()),
            start: now,
            quota_start: now,
            next_period,
            exhausted: false,
            ul: false,
            dl: false,
            reports: 0,
        }
    }

    /// [ul pkts, ul bytes, dl pkts, dl bytes] since `base`, as linked.
    fn since(&self, c: [u64; 4], base: [u64; 4]) -> [u64; 4] {
        let d = |i: usize| c[i].saturating_sub(base[i]);
        [
            if self.ul { d(0) } else { 0 },
            if self.ul { d(1) } else { 0 },
            if self.dl { d(2) } else { 0 },
            if self.dl { d(3) } else { 0 },
        ]
    }

    /// A report with `trigger`; the measurement restarts.
    fn report(&mut self, trig: u32, c: [u64; 4], now: Instant) -> Usage {
        let end = ntp_seconds(SystemTime::now());
        let u = Usage {
            urr: self.urr.id,
            seqn: self.seqn,
            trigger: trig,
            start: self.start_ntp,
            end,
            volume: (self.urr.method & method::VOLUM != 0).then(|| self.since(c, self.base)),
            duration_s: (self.urr.method & method::DURAT != 0)
                .then(|| now.duration_since(self.start).as_secs() as u32),
        };
        self.seqn = self.seqn.wrapping_add(1);
        self.base = c;
        self.start = now;
        self.start_ntp = end;
        self.reports += 1;
        u
    }
}

/// One PFCP session.
#[derive(Clone, Debug)]
pub(super) struct PSession {
    pub up_seid: u64,
    pub cp_seid: u64,
    /// Where Session Report Requests go (the CP F-SEID's address, port
    /// 8805).
    pub cp: SocketAddr,
    pub node: NodeId,
    pub pdrs: Rules<u16, Pdr>,
    pub fars: Rules<u32, Far>,
    pub qers: Rules<u32, Qer>,
    pub urrs: Rules<u32, UrrState>,
    /// TEIDs chosen by CHOOSE ID.
    chosen: Rules<u8, (IpAddr, u32)>,
    /// The dataplane session as last installed.
    pub gtp: Option<SessionSpec>,
    pub slot: u32,
    pub since: Instant,
}

/// Why a request fails: its cause, Offending IE and Failed Rule ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fail {
    pub cause: u8,
    pub offending: Option<u16>,
    /// (0 PDR, 1 FAR, 2 QER, 3 URR; id)
    pub rule: Option<(u8, u32)>,
}

impl Fail {
    fn rule(kind: u8, id: u32, why: &str) -> Fail {
        tracing::info!("pfcp: rule refused ({why})");
        Fail {
            cause: cause::RULE_FAILURE,
            offending: None,
            rule: Some((kind, id)),
        }
    }

    fn of(cause: u8) -> Fail {
        Fail {
            cause,
            offending: None,
            rule: None,
        }
    }
}

impl From<Bad> for Fail {
    fn from(b: Bad) -> Fail {
        match b {
            Bad::Missing(t) => Fail {
                cause: cause::MANDATORY_IE_MISSING,
                offending: Some(t),
                rule: None,
            },
            Bad::Incorrect(t) => Fail {
                cause: cause::MANDATORY_IE_INCORRECT,
                offending: Some(t),
                rule: None,
            },
        }
    }
}

const PDR: u8 = 0;
const FAR: u8 = 1;
const QER: u8 = 2;
const URR: u8 = 3;

/// A session's counters as a URR reads them.
fn usage_counters(c: [u64; COUNTERS]) -> [u64; 4] {
    [c[UL_PKTS], c[UL_BYTES], c[DL_PKTS], c[DL_BYTES]]
}

/// What a downlink FAR does.
fn dl_effect(f: &Far) -> (Downlink, bool, Option<rules::Ohc>) {
    let notify = f.action & action::NOCP != 0;
    let mode = if f.action & action::DROP != 0 {
        Downlink::Drop
    } else if f.action & action::BUFF != 0 {
        Downlink::Buffer
    } else if f.action & action::FORW != 0 {
        Downlink::Forward
    } else {
        Downlink::Drop
    };
    (mode, notify, f.ohc)
}

/// A compiled session: its dataplane spec and the F-TEIDs it chose, as
/// (PDR ID, TEID, address) for Created PDR IEs.
type Compiled = (SessionSpec, Vec<(u16, u32, IpAddr)>);

impl PSession {
    /// Compiles the rules into one dataplane session; `alloc` chooses a
    /// TEID on an endpoint. New F-TEIDs chosen are written back into the
    /// PDRs and returned as (PDR ID, TEID, address) for Created PDR IEs.
    fn compile(
        &mut self,
        endpoints: &[IpAddr],
        alloc: &mut dyn FnMut(IpAddr) -> Option<u32>,
    ) -> Result<Compiled, Fail> {
        let mut created = Vec::new();
        let mut ul: Vec<u16> = Vec::new();
        let mut dl: Vec<u16> = Vec::new();
        for p in self.pdrs.values() {
            match p.source {
                0 => ul.push(p.id),
                1 | 2 => dl.push(p.id),
                _ => {
                    return Err(Fail::rule(
                        PDR,
                        p.id.into(),
                        "source interface not supported",
                    ))
                }
            }
        }
        let by_prec = |v: &mut Vec<u16>, pdrs: &Rules<u16, Pdr>| {
            v.sort_by_key(|id| (pdrs[id].precedence, *id));
        };
        by_prec(&mut ul, &self.pdrs);
        by_prec(&mut dl, &self.pdrs);
        // The local F-TEID: every uplink PDR's (chosen ones resolved).
        let mut fteid: Option<(IpAddr, u32)> = None;
        for id in &ul {
            let p = self.pdrs.get_mut(id).expect("listed");
            let Some(f) = p.fteid.clone() else {
                return Err(Fail::rule(
                    PDR,
                    (*id).into(),
                    "an uplink PDR needs a local F-TEID",
                ));
            };
            let got = if f.choose {
                if let Some(x) = f.choose_id.and_then(|c| self.chosen.get(&c)).copied() {
                    x
                } else {
                    let local = endpoints
                        .iter()
                        .copied()
                        .find(|e| (f.want_v4 && e.is_ipv4()) || (f.want_v6 && e.is_ipv6()))
                        .ok_or_else(|| {
                            Fail::rule(PDR, (*id).into(), "no GTP-U endpoint of the family asked")
                        })?;
                    let teid = alloc(local).ok_or(Fail::of(cause::NO_RESOURCES))?;
                    if let Some(c) = f.choose_id {
                        self.chosen.insert(c, (local, teid));
                    }
                    created.push((*id, teid, local));
                    (local, teid)
                }
            } else {
                let local = [f.v4.map(IpAddr::V4), f.v6.map(IpAddr::V6)]
                    .into_iter()
                    .flatten()
                    .find(|a| endpoints.contains(a))
                    .ok_or_else(|| {
                        Fail::rule(
                            PDR,
                            (*id).into(),
                            "F-TEID address is no GTP-U endpoint of xgw",
                        )
                    })?;
                (local, f.teid)
            };
            // Resolved from now on (a retransmission of the rules keeps it).
            p.fteid = Some(rules::Fteid {
                choose: false,
                choose_id: None,
                v4: match got.0 {
                    IpAddr::V4(a) => Some(a),
                    _ => None,
                },
                v6: match got.0 {
                    IpAddr::V6(a) => Some(a),
                    _ => None,
                },
                want_v4: got.0.is_ipv4(),
                want_v6: got.0.is_ipv6(),
                teid: got.1,
            });
            match fteid {
                None => fteid = Some(got),
                Some(x) if x == got => {}
                Some(_) => {
                    return Err(Fail::rule(
                        PDR,
                        (*id).into(),
                        "uplink PDRs with different F-TEIDs in one session",
                    ))
                }
            }
        }
        // The UE address: the same in every PDR that has one.
        #[allow(clippy::type_complexity)]
        let mut ue: Option<(Option<Ipv4Addr>, Option<(std::net::Ipv6Addr, u8)>)> = None;
        for id in dl.iter().chain(&ul) {
            if let Some(u) = &self.pdrs[id].ue {
                let k = (u.v4, u.v6);
                match ue {
                    None => ue = Some(k),
                    Some(x) if x == k => {}
                    Some(_) => {
                        return Err(Fail::rule(
                            PDR,
                            (*id).into(),
                            "PDRs with different UE addresses",
                        ))
                    }
                }
            }
        }
        let Some((ue4, ue6)) = ue else {
            let id = dl.first().or(ul.first()).copied().unwrap_or(0);
            return Err(Fail::rule(PDR, id.into(), "no PDR has a UE IP address"));
        };
        // What each PDR does: its FAR, its QERs (those every PDR of its
        // direction shares are the session's), its URRs.
        let far_of = |id: &u16| -> Result<&Far, Fail> {
            let p = &self.pdrs[id];
            p.far
                .and_then(|f| self.fars.get(&f))
                .ok_or_else(|| Fail::rule(PDR, (*id).into(), "its FAR does not exist"))
        };
        let min_rate = |a: u64, b: u64| match (a, b) {
            (0, x) | (x, 0) => x,
            (x, y) => x.min(y),
        };
        for id in ul.iter().chain(&dl) {
            if let Some(q) = self.pdrs[id]
                .qers
                .iter()
                .find(|q| !self.qers.contains_key(q))
            {
                let _ = q;
                return Err(Fail::rule(PDR, (*id).into(), "its QER does not exist"));
            }
        }
        let shared = |ids: &[u16]| -> Vec<u32> {
            let Some(first) = ids.first() else {
                return Vec::new();
            };
            self.pdrs[first]
                .qers
                .iter()
                .copied()
                .filter(|q| ids.iter().all(|id| self.pdrs[id].qers.contains(q)))
                .collect()
        };
        let (sh_ul, sh_dl) = (shared(&ul), shared(&dl));
        let (mut gate_ul, mut gate_dl, mut mbr_ul, mut mbr_dl, mut qfi) =
            (true, true, 0u64, 0u64, None);
        for q in &sh_ul {
            let q = &self.qers[q];
            gate_ul &= q.gate_ul;
            mbr_ul = min_rate(mbr_ul, q.mbr_ul);
        }
        for q in &sh_dl {
            let q = &self.qers[q];
            gate_dl &= q.gate_dl;
            mbr_dl = min_rate(mbr_dl, q.mbr_dl);
            qfi = qfi.or(q.qfi);
        }
        for u in self.urrs.values_mut() {
            u.ul = false;
            u.dl = false;
        }
        /// A PDR's effect: (uplink, forwarded, QFI, MBR) and its filters.
        struct Eff {
            id: u16,
            up: bool,
            pass: bool,
            qfi: Option<u8>,
            mbr: u64,
            filters: Vec<SdfFilter>,
        }
        let mut effs: Vec<Eff> = Vec::new();
        let mut dl_mode = None;
        let mut urr_links: Vec<(u32, u16, bool)> = Vec::new();
        for (ids, up) in [(&ul, true), (&dl, false)] {
            for id in ids {
                let f = far_of(id)?;
                let mut pass = if up {
                    f.action & action::FORW != 0 && f.action & (action::DROP | action::BUFF) == 0
                } else {
                    let e = dl_effect(f);
                    if e.0 == Downlink::Forward && e.2.is_none() {
                        return Err(Fail::rule(
                            FAR,
                            f.id,
                            "downlink FORW without Outer Header Creation",
                        ));
                    }
                    if e.0 == Downlink::Drop {
                        false
                    } else {
                        if dl_mode.is_some_and(|x| x != e) {
                            return Err(Fail::rule(
                                PDR,
                                (*id).into(),
                                "downlink PDRs that forward differently (another tunnel, \
                                 or buffering for some flows only)",
                            ));
                        }
                        dl_mode = Some(e);
                        true
                    }
                };
                let p = &self.pdrs[id];
                let (mut q_fi, mut mbr) = (None, 0u64);
                for q in p
                    .qers
                    .iter()
                    .filter(|q| !(if up { &sh_ul } else { &sh_dl }).contains(q))
                {
                    let q = &self.qers[q];
                    if up {
                        pass &= q.gate_ul;
                        mbr = min_rate(mbr, q.mbr_ul);
                    } else {
                        pass &= q.gate_dl;
                        mbr = min_rate(mbr, q.mbr_dl);
                        q_fi = q_fi.or(q.qfi);
                    }
                }
                for u in &p.urrs {
                    let us = self
                        .urrs
                        .get_mut(u)
                        .ok_or_else(|| Fail::rule(PDR, (*id).into(), "its URR does not exist"))?;
                    if up {
                        us.ul = true;
                    } else {
                        us.dl = true;
                    }
                    pass &= !us.exhausted;
                    urr_links.push((*u, *id, up));
                }
                let mut filters = Vec::new();
                for d in &p.sdf {
                    let fs =
                        rules::parse_flow(d).map_err(|why| Fail::rule(PDR, (*id).into(), &why))?;
                    filters.extend(fs);
                }
                // A filter that matches everything is no filter.
                if filters.iter().any(|f| *f == SdfFilter::default()) {
                    filters.clear();
                }
                effs.push(Eff {
                    id: *id,
                    up,
                    pass,
                    qfi: if up { None } else { q_fi },
                    mbr,
                    filters,
                });
            }
        }
        let (downlink, notify, ohc) = dl_mode.unwrap_or((Downlink::Drop, false, None));
        // Per-flow rules when the PDRs of a direction differ or filter.
        let differ = |up: bool| {
            let mut it = effs.iter().filter(|e| e.up == up);
            let first = it.next();
            it.any(|e| first.is_some_and(|f| (f.pass, f.qfi, f.mbr) != (e.pass, e.qfi, e.mbr)))
        };
        let per_flow = effs.iter().any(|e| !e.filters.is_empty()) || differ(true) || differ(false);
        let mut flows = Vec::new();
        if per_flow {
            // A URR then measures a whole direction: per-flow charging
            // (a URR on some flows of a direction only) is not offered.
            for &(u, id, up) in &urr_links {
                let all = effs
                    .iter()
                    .filter(|e| e.up == up)
                    .all(|e| self.pdrs[&e.id].urrs.contains(&u));
                if !all {
                    return Err(Fail::rule(
                        PDR,
                        id.into(),
                        "a URR on some SDF flows of a direction only (per-flow charging)",
                    ));
                }
            }
            effs.sort_by_key(|e| (self.pdrs[&e.id].precedence, e.id));
            for e in &effs {
                let precedence = self.pdrs[&e.id].precedence;
                let filters = if e.filters.is_empty() {
                    vec![SdfFilter::default()]
                } else {
                    e.filters.clone()
                };
                for filter in filters {
                    flows.push(FlowRule {
                        uplink: e.up,
                        precedence,
                        filter,
                        pass: e.pass,
                        qfi: e.qfi,
                        mbr: e.mbr,
                    });
                }
                if flows.len() > MAX_RULES {
                    return Err(Fail::rule(
                        PDR,
                        e.id.into(),
                        "more SDF filters in one session than xgw holds (16)",
                    ));
                }
            }
            gate_ul &= !ul.is_empty();
        } else {
            // Every PDR of a direction alike: the session's values.
            if let Some(e) = effs.iter().find(|e| e.up) {
                gate_ul &= e.pass;
                mbr_ul = min_rate(mbr_ul, e.mbr);
            } else {
                gate_ul = false;
            }
            if let Some(e) = effs.iter().find(|e| !e.up) {
                gate_dl &= e.pass || downlink == Downlink::Drop;
                mbr_dl = min_rate(mbr_dl, e.mbr);
                qfi = qfi.or(e.qfi);
            }
        }
        let (local, teid) = match fteid {
            Some(x) => x,
            None => {
                // No uplink PDR: the session still needs a TEID of its
                // own; its uplink is closed.
                gate_ul = false;
                let local = endpoints
                    .first()
                    .copied()
                    .ok_or(Fail::of(cause::NO_RESOURCES))?;
                let teid = alloc(local).ok_or(Fail::of(cause::NO_RESOURCES))?;
                self.chosen.insert(0xff, (local, teid));
                (local, teid)
            }
        };
        let instance = ul
            .iter()
            .chain(&dl)
            .find_map(|id| self.pdrs[id].instance.clone())
            .unwrap_or_default();
        let (peer, peer_teid) = match ohc {
            Some(o) => (o.addr, o.teid),
            None => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        };
        Ok((
            SessionSpec {
                id: gtp_id(self.up_seid),
                local,
                teid,
                ue4,
                ue6,
                peer,
                peer_teid,
                qfi,
                mbr_ul,
                mbr_dl,
                gate_ul,
                gate_dl,
                instance,
                downlink,
                notify,
                flows,
            },
            created,
        ))
    }

    /// The rules of a Create/Update/Remove list, applied to `self`.
    fn apply_rules(&mut self, list: &[(u16, &[u8])], now: Instant) -> Result<Vec<UrrState>, Fail> {
        // Removed URRs leave the session before anything is created, as
        // the other rules do: a Create URR with the same ID in the same
        // request is a new URR (measured from now), and the removed one's
        // final report carries the removed one's usage.
        let mut removed_urrs = Vec::new();
        for &(ty, v) in list {
            match ty {
                t::REMOVE_PDR => {
                    let id = rules::id_in(ty, v, t::PDR_ID, 2)?;
                    self.pdrs.remove(&(id as u16));
                }
                t::REMOVE_FAR => {
                    let id = rules::id_in(ty, v, t::FAR_ID, 4)?;
                    self.fars.remove(&id);
                }
                t::REMOVE_QER => {
                    let id = rules::id_in(ty, v, t::QER_ID, 4)?;
                    self.qers.remove(&id);
                }
                t::REMOVE_URR => {
                    let id = rules::id_in(ty, v, t::URR_ID, 4)?;
                    if let Some(u) = self.urrs.remove(&id) {
                        removed_urrs.push(u);
                    }
                }
                _ => {}
            }
        }
        for &(ty, v) in list {
            match ty {
                t::CREATE_PDR => {
                    let p = Pdr::create(v)?;
                    if self.pdrs.contains_key(&p.id) {
                        return Err(Fail::rule(PDR, p.id.into(), "PDR ID exists"));
                    }
                    self.pdrs.insert(p.id, p);
                }
                t::CREATE_FAR => {
                    let f = Far::create(v)?;
                    if self.fars.contains_key(&f.id) {
                        return Err(Fail::rule(FAR, f.id, "FAR ID exists"));
                    }
                    self.fars.insert(f.id, f);
                }
                t::CREATE_QER => {
                    let q = Qer::create(v)?;
                    if self.qers.contains_key(&q.id) {
                        return Err(Fail::rule(QER, q.id, "QER ID exists"));
                    }
                    self.qers.insert(q.id, q);
                }
                t::CREATE_URR => {
                    let u = Urr::create(v)?;
                    if self.urrs.contains_key(&u.id) {
                        return Err(Fail::rule(URR, u.id, "URR ID exists"));
                    }
                    // (Its counters are set when the session is known.)
                    self.urrs.insert(u.id, UrrState::new(u, now, [u64::MAX; 4]));
                }
                t::UPDATE_PDR => {
                    let id = rules::id_in(ty, v, t::PDR_ID, 2)? as u16;
                    let p = self
                        .pdrs
                        .get_mut(&id)
                        .ok_or_else(|| Fail::rule(PDR, id.into(), "no such PDR"))?;
                    p.update(v)?;
                }
                t::UPDATE_FAR => {
                    let id = rules::id_in(ty, v, t::FAR_ID, 4)?;
                    let f = self
                        .fars
                        .get_mut(&id)
                        .ok_or_else(|| Fail::rule(FAR, id, "no such FAR"))?;
                    f.update(v)?;
                }
                t::UPDATE_QER => {
                    let id = rules::id_in(ty, v, t::QER_ID, 4)?;
                    let q = self
                        .qers
                        .get_mut(&id)
                        .ok_or_else(|| Fail::rule(QER, id, "no such QER"))?;
                    q.update(v)?;
                }
                t::UPDATE_URR => {
                    let id = rules::id_in(ty, v, t::URR_ID, 4)?;
                    let u = self
                        .urrs
                        .get_mut(&id)
                        .ok_or_else(|| Fail::rule(URR, id, "no such URR"))?;
                    let quota = (u.urr.vol_quota, u.urr.time_quota_s);
                    u.urr.update(v)?;
                    if (u.urr.vol_quota, u.urr.time_quota_s) != quota {
                        // A new quota: measured from now.
                        u.exhausted = false;
                        u.qbase = [u64::MAX; 4];
                        u.quota_start = now;
                    }
                }
                _ => {}
            }
        }
        if self.pdrs.len() > MAX_PDRS
            || self.fars.len() > MAX_FARS
            || self.qers.len() > MAX_QERS
            || self.urrs.len() > MAX_URRS
        {
            return Err(Fail::of(cause::NO_RESOURCES));
        }
        Ok(removed_urrs)
    }

    /// URRs created since the counters were last known start from `c`.
    fn settle_urrs(&mut self, c: [u64; 4]) {
        for u in self.urrs.values_mut() {
            if u.base == [u64::MAX; 4] {
                u.base = c;
            }
            if u.qbase == [u64::MAX; 4] {
                u.qbase = c;
            }
        }
    }

    /// Gives back what growing the rule lists left spare.
    fn compact(&mut self) {
        for p in self.pdrs.values_mut() {
            p.qers.shrink_to_fit();
            p.urrs.shrink_to_fit();
            p.sdf.shrink_to_fit();
        }
        self.pdrs.compact();
        self.fars.compact();
        self.qers.compact();
        self.urrs.compact();
        self.chosen.compact();
    }

    /// A dataplane refusal as a cause, naming the PDR it is about.
    fn refusal(&self, e: SessionError) -> Fail {
        let first = |f: &dyn Fn(&Pdr) -> bool| {
            let mut v: Vec<&Pdr> = self.pdrs.values().filter(|p| f(p)).collect();
            v.sort_by_key(|p| (p.source == 0, p.precedence, p.id));
            v.first().map(|p| u32::from(p.id))
        };
        let rule = match &e {
            SessionError::UeTaken(..) => first(&|p| p.ue.is_some()),
            SessionError::TeidTaken(..) => first(&|p| p.source == 0 && p.fteid.is_some()),
            _ => None,
        };
        match rule {
            Some(id) => Fail::rule(PDR, id, &e.to_string()),
            None => refused(e),
        }
    }

    pub(super) fn json(&self, gtp: Option<Value>) -> Value {
        let fteid = |p: &Pdr| {
            p.fteid.as_ref().map(|f| {
                let a = f.v4.map(IpAddr::V4).or(f.v6.map(IpAddr::V6));
                json!({"teid": f.teid, "address": a.map(|a| a.to_string())})
            })
        };
        json!({
            "up_seid": self.up_seid,
            "cp_seid": self.cp_seid,
            "cp_address": self.cp.to_string(),
            "node_id": self.node.to_string(),
            "up_s": self.since.elapsed().as_secs(),
            "pdrs": self.pdrs.values().map(|p| json!({
                "id": p.id,
                "precedence": p.precedence,
                "source_interface": rules::interface_name(p.source),
                "f_teid": fteid(p),
                "ue_ip": p.ue.as_ref().map(|u| u.show()),
                "network_instance": p.instance,
                "qfi": p.qfi,
                "sdf_filters": p.sdf,
                "outer_header_removal": p.ohr,
                "far_id": p.far,
                "qer_ids": p.qers,
                "urr_ids": p.urrs,
            })).collect::<Vec<_>>(),
            "fars": self.fars.values().map(|f| json!({
                "id": f.id,
                "apply_action": f.actions(),
                "destination_interface": f.dest.map(rules::interface_name),
                "network_instance": f.instance,
                "outer_header_creation": f.ohc.map(|o| json!({
                    "teid": o.teid, "address": o.addr.to_string(),
                })),
            })).collect::<Vec<_>>(),
            "qers": self.qers.values().map(|q| json!({
                "id": q.id,
                "gate_ul": if q.gate_ul { "open" } else { "closed" },
                "gate_dl": if q.gate_dl { "open" } else { "closed" },
                "mbr_ul": q.mbr_ul,
                "mbr_dl": q.mbr_dl,
                "qfi": q.qfi,
            })).collect::<Vec<_>>(),
            "urrs": self.urrs.values().map(|u| json!({
                "id": u.urr.id,
                "measurement_method": method_names(u.urr.method),
                "reporting_triggers": u.urr.trigger_names(),
                "measurement_period_s": u.urr.period_s,
                "volume_threshold": u.urr.vol_threshold,
                "volume_quota": u.urr.vol_quota,
                "time_threshold_s": u.urr.time_threshold_s,
                "time_quota_s": u.urr.time_quota_s,
                "quota_exhausted": u.exhausted,
                "reports": u.reports,
                "ul": u.ul,
                "dl": u.dl,
            })).collect::<Vec<_>>(),
            "gtp": gtp,
        })
    }
}

fn method_names(m: u8) -> Vec<&'static str> {
    [
        (method::DURAT, "DURAT"),
        (method::VOLUM, "VOLUM"),
        (method::EVENT, "EVENT"),
    ]
    .iter()
    .filter(|(b, _)| m & b != 0)
    .map(|(_, n)| *n)
    .collect()
}

/// What a session request's answer needs.
struct Answer {
    seid: u64,
    fail: Option<Fail>,
    created: Vec<(u16, u32, IpAddr)>,
    up_fseid: Option<u64>,
    reports: Vec<Usage>,
}

impl Answer {
    fn fail(seid: u64, f: Fail) -> Answer {
        Answer {
            seid,
            fail: Some(f),
            created: Vec::new(),
            up_fseid: None,
            reports: Vec::new(),
        }
    }
}

fn find<'a>(l: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    l.iter().find(|(x, _)| *x == ty).map(|(_, v)| *v)
}

/// Maps a dataplane refusal onto a cause.
fn refused(e: SessionError) -> Fail {
    match e {
        SessionError::Full(_) => Fail::of(cause::NO_RESOURCES),
        SessionError::Busy(_) => Fail::of(cause::CONGESTION),
        SessionError::UeTaken(..) | SessionError::TeidTaken(..) | SessionError::Invalid(_) => {
            tracing::info!("pfcp: session refused: {e}");
            Fail {
                cause: cause::RULE_FAILURE,
                offending: None,
                rule: None,
            }
        }
        _ => {
            tracing::info!("pfcp: session refused: {e}");
            Fail::of(cause::REQUEST_REJECTED)
        }
    }
}

impl Agent {
    /// A TEID not in use on `local` (xgw's choice for CHOOSE).
    fn alloc_teid(next: &mut u32, up: &Sessions, local: IpAddr) -> Option<u32> {
        for _ in 0..=up.max() + 1 {
            *next = next.wrapping_add(1);
            if *next == 0 {
                *next = 1;
            }
            if !up.teid_taken(local, *next) {
                return Some(*next);
            }
        }
        None
    }

    /// A Session Establishment / Modification / Deletion Request.
    pub(super) fn session_request(
        &mut self,
        h: &Header,
        list: &[(u16, &[u8])],
        from: SocketAddr,
        now: Instant,
        up: &mut Sessions,
    ) -> Vec<u8> {
        let t = h.msg_type + 1;
        let a = match h.msg_type {
            msg::SESSION_ESTABLISHMENT_REQUEST => self.establish(list, from, now, up),
            msg::SESSION_MODIFICATION_REQUEST => self.modify(h, list, from, now, up),
            _ => self.delete(h, from, up),
        };
        let mut w = Writer::new(t, Some(a.seid), h.seq);
        if t == msg::SESSION_ESTABLISHMENT_REQUEST + 1 {
            w = w.node_id(&self.cfg.node_id.clone());
        }
        match a.fail {
            Some(f) => {
                self.count("session_requests_refused");
                if f.cause == cause::MANDATORY_IE_MISSING {
                    self.count("mandatory_ie_missing");
                }
                w = w.ie(ie::CAUSE, &[f.cause]);
                if let Some(o) = f.offending {
                    w = w.ie(ie::OFFENDING_IE, &o.to_be_bytes());
                }
                if let Some((k, id)) = f.rule {
                    w = w.ie(t::FAILED_RULE_ID, &rules::failed_rule(k, id));
                }
            }
            None => {
                w = w.ie(ie::CAUSE, &[cause::ACCEPTED]);
                if let Some(s) = a.up_fseid {
                    w = w.ie(ie::F_SEID, &rules::fseid(s, self.cfg.listen.ip()));
                }
                for (id, teid, addr) in &a.created {
                    w = w.ie(t::CREATED_PDR, &rules::created_pdr(*id, *teid, *addr));
                }
                let rt = if t == msg::SESSION_DELETION_REQUEST + 1 {
                    t::USAGE_REPORT_DEL
                } else {
                    t::USAGE_REPORT_MOD
                };
                for r in &a.reports {
                    w = w.ie(rt, &r.encode());
                }
            }
        }
        w.finish()
    }

    fn node_of(&self, from: SocketAddr) -> Option<NodeId> {
        self.assocs
            .values()
            .find(|a| a.addr.ip() == from.ip())
            .map(|a| a.node.clone())
    }

    fn establish(
        &mut self,
        list: &[(u16, &[u8])],
        from: SocketAddr,
        now: Instant,
        up: &mut Sessions,
    ) -> Answer {
        // The response's SEID: the CP F-SEID's (0 if it has none).
        let cp = find(list, ie::F_SEID).map(rules::parse_fseid);
        let seid = match cp {
            Some(Ok((s, _))) => s,
            _ => 0,
        };
        if find(list, ie::NODE_ID).is_none() {
            return Answer::fail(seid, Bad::Missing(ie::NODE_ID).into());
        }
        let (cp_seid, cp_addr) = match cp {
            None => return Answer::fail(0, Bad::Missing(ie::F_SEID).into()),
            Some(Err(b)) => return Answer::fail(0, b.into()),
            Some(Ok(x)) => x,
        };
        let Some(node) = self.node_of(from) else {
            return Answer::fail(seid, Fail::of(cause::NO_ASSOCIATION));
        };
        for need in [t::CREATE_PDR, t::CREATE_FAR] {
            if find(list, need).is_none() {
                return Answer::fail(seid, Bad::Missing(need).into());
            }
        }
        self.next_seid = self.next_seid.wrapping_add(1).max(1);
        while self.sessions.contains_key(&self.next_seid) {
            self.next_seid = self.next_seid.wrapping_add(1).max(1);
        }
        let up_seid = self.next_seid;
        let mut ps = PSession {
            up_seid,
            cp_seid,
            cp: SocketAddr::new(cp_addr, PORT),
            node,
            pdrs: Rules::default(),
            fars: Rules::default(),
            qers: Rules::default(),
            urrs: Rules::default(),
            chosen: Rules::default(),
            gtp: None,
            slot: 0,
            since: now,
        };
        if let Err(f) = ps.apply_rules(list, now) {
            return Answer::fail(seid, f);
        }
        let endpoints = up.endpoints().to_vec();
        let mut next = self.next_teid;
        let (spec, created) = {
            let upr: &Sessions = up;
            match ps.compile(&endpoints, &mut |l| Self::alloc_teid(&mut next, upr, l)) {
                Ok(x) => x,
                Err(f) => return Answer::fail(seid, f),
            }
        };
        self.next_teid = next;
        if let Err(e) = up.add(spec.clone()) {
            return Answer::fail(seid, ps.refusal(e));
        }
        ps.slot = up.get(spec.id).map_or(0, |s| s.slot);
        // A new session's counters start at zero: the workers clear the
        // slot when they take the session, so what it holds now may still
        // be a deleted session's.
        ps.settle_urrs([0; 4]);
        ps.gtp = Some(spec);
        ps.compact();
        self.sessions.insert(up_seid, ps);
        self.count("sessions_established");
        Answer {
            seid,
            fail: None,
            created,
            up_fseid: Some(up_seid),
            reports: Vec::new(),
        }
    }

    fn modify(
        &mut self,
        h: &Header,
        list: &[(u16, &[u8])],
        from: SocketAddr,
        now: Instant,
        up: &mut Sessions,
    ) -> Answer {
        let Some(old) = h.seid.and_then(|s| self.sessions.get(&s)) else {
            return Answer::fail(0, Fail::of(cause::SESSION_CONTEXT_NOT_FOUND));
        };
        let seid = old.cp_seid;
        if self.node_of(from).as_ref() != Some(&old.node) {
            // Another node's session (or ours after the association went).
            return Answer::fail(seid, Fail::of(cause::NO_ASSOCIATION));
        }
        let mut ps = old.clone();
        if let Some(v) = find(list, ie::F_SEID) {
            match rules::parse_fseid(v) {
                Ok((s, a)) => {
                    ps.cp_seid = s;
                    ps.cp = SocketAddr::new(a, PORT);
                }
                Err(b) => return Answer::fail(seid, b.into()),
            }
        }
        let flags = find(list, t::PFCPSMREQ_FLAGS)
            .and_then(|v| v.first().copied())
            .unwrap_or(0);
        let (drobu, sndem, qaurr) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
        let removed = match ps.apply_rules(list, now) {
            Ok(r) => r,
            Err(f) => return Answer::fail(seid, f),
        };
        let mut queried = Vec::new();
        for v in list
            .iter()
            .filter(|(x, _)| *x == t::QUERY_URR)
            .map(|(_, v)| *v)
        {
            match rules::id_in(t::QUERY_URR, v, t::URR_ID, 4) {
                Ok(id) if ps.urrs.contains_key(&id) => queried.push(id),
                Ok(id) => return Answer::fail(seid, Fail::rule(URR, id, "no such URR")),
                Err(b) => return Answer::fail(seid, b.into()),
            }
        }
        if qaurr {
            queried = ps.urrs.keys().copied().collect();
        }
        let endpoints = up.endpoints().to_vec();
        let mut next = self.next_teid;
        let (spec, created) = {
            let upr: &Sessions = up;
            match ps.compile(&endpoints, &mut |l| Self::alloc_teid(&mut next, upr, l)) {
                Ok(x) => x,
                Err(f) => return Answer::fail(seid, f),
            }
        };
        self.next_teid = next;
        if drobu {
            if let Err(e) = up.flush(spec.id) {
                return Answer::fail(seid, refused(e));
            }
        }
        if ps.gtp.as_ref() != Some(&spec) {
            if let Err(e) = up.modify(spec.clone(), sndem) {
                return Answer::fail(seid, ps.refusal(e));
            }
        }
        let c = usage_counters(up.counters(ps.slot));
        ps.settle_urrs(c);
        let mut reports = Vec::new();
        for mut u in removed {
            reports.push(u.report(report::TERMR, c, now));
        }
        for id in queried {
            if let Some(u) = ps.urrs.get_mut(&id) {
                reports.push(u.report(report::IMMER, c, now));
            }
        }
        ps.gtp = Some(spec);
        ps.compact();
        self.sessions.insert(ps.up_seid, ps);
        self.count("sessions_modified");
        Answer {
            seid,
            fail: None,
            created,
            up_fseid: None,
            reports,
        }
    }

    fn delete(&mut self, h: &Header, from: SocketAddr, up: &mut Sessions) -> Answer {
        let Some(ps) = h.seid.and_then(|s| self.sessions.get(&s)) else {
            return Answer::fail(0, Fail::of(cause::SESSION_CONTEXT_NOT_FOUND));
        };
        let seid = ps.cp_seid;
        if self.node_of(from).as_ref() != Some(&ps.node) {
            return Answer::fail(seid, Fail::of(cause::NO_ASSOCIATION));
        }
        let up_seid = ps.up_seid;
        let c = match up.delete(gtp_id(up_seid), false) {
            Ok((_, c)) => usage_counters(c),
            Err(SessionError::NotFound(_)) => [0; 4],
            Err(e) => return Answer::fail(seid, refused(e)),
        };
        let mut ps = self.sessions.remove(&up_seid).expect("found above");
        let now = Instant::now();
        let reports = ps
            .urrs
            .values_mut()
            .map(|u| u.report(report::TERMR, c, now))
            .collect();
        self.count("sessions_deleted");
        Answer {
            seid,
            fail: None,
            created: Vec::new(),
            up_fseid: None,
            reports,
        }
    }

    /// Deletes the sessions of nodes no longer associated (released,
    /// lost, restarted).
    pub(super) fn reap(&mut self, up: &mut Sessions) {
        let gone: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| !self.assocs.contains_key(&s.node) || self.restarted.contains(&s.node))
            .map(|s| s.up_seid)
            .collect();
        self.restarted.clear();
        for seid in gone {
            if up.delete(gtp_id(seid), false).is_ok() || up.get(gtp_id(seid)).is_none() {
                self.sessions.remove(&seid);
                self.count("sessions_deleted");
            }
        }
    }

    /// Reports due: first buffered downlink packets (DLDR) and usage
    /// (thresholds, quotas, periods): one Session Report Request per
    /// session.
    pub(super) fn report_tick(&mut self, now: Instant, up: &mut Sessions) {
        let mut dldr: Vec<u64> = up
            .take_downlink_data()
            .into_iter()
            .filter(|id| id >> 63 == 1)
            .map(|id| id & !(1 << 63))
            .collect();
        if now < self.next_urr_check && dldr.is_empty() {
            return;
        }
        let check_urrs = now >= self.next_urr_check;
        if check_urrs {
            self.next_urr_check = now + Duration::from_millis(100);
        }
        dldr.sort_unstable();
        let mut out = Vec::new();
        let mut recompile = Vec::new();
        for ps in self.sessions.values_mut() {
            let dl_pdrs: Vec<u16> = if dldr.binary_search(&ps.up_seid).is_ok() {
                ps.pdrs
                    .values()
                    .filter(|p| {
                        matches!(p.source, 1 | 2)
                            && p.far
                                .and_then(|f| ps.fars.get(&f))
                                .is_some_and(|f| f.action & action::BUFF != 0)
                    })
                    .map(|p| p.id)
                    .collect()
            } else {
                Vec::new()
            };
            let mut usage = Vec::new();
            if check_urrs && !ps.urrs.is_empty() {
                let c = usage_counters(up.counters(ps.slot));
                for u in ps.urrs.values_mut() {
                    let tr = u.urr.triggers;
                    let mut why = 0;
                    let m = u.since(c, u.base);
                    let vol = [m[1] + m[3], m[1], m[3]];
                    if tr & trigger::VOLTH != 0
                        && u.urr
                            .vol_threshold
                            .iter()
                            .zip(vol)
                            .any(|(t, v)| t.is_some_and(|t| v >= t))
                    {
                        why |= report::VOLTH;
                    }
                    if tr & trigger::TIMTH != 0
                        && u.urr.time_threshold_s.is_some_and(|t| {
                            now.duration_since(u.start) >= Duration::from_secs(u64::from(t))
                        })
                    {
                        why |= report::TIMTH;
                    }
                    if tr & trigger::PERIO != 0 && u.next_period.is_some_and(|p| now >= p) {
                        why |= report::PERIO;
                        let p = Duration::from_secs(u64::from(u.urr.period_s.unwrap_or(60)));
                        u.next_period = Some(now + p);
                    }
                    if !u.exhausted {
                        let q = u.since(c, u.qbase);
                        let qv = [q[1] + q[3], q[1], q[3]];
                        let vq = u
                            .urr
                            .vol_quota
                            .iter()
                            .zip(qv)
                            .any(|(t, v)| t.is_some_and(|t| v >= t));
                        let tq = u.urr.time_quota_s.is_some_and(|t| {
                            now.duration_since(u.quota_start) >= Duration::from_secs(u64::from(t))
                        });
                        if vq || tq {
                            // The quota is used up: its traffic stops
                            // (reported whether or not VOLQU/TIMQU ask).
                            u.exhausted = true;
                            recompile.push(ps.up_seid);
                            why |= if vq { report::VOLQU } else { report::TIMQU };
                        }
                    }
                    if why != 0 {
                        usage.push(u.report(why, c, now));
                    }
                }
            }
            if dl_pdrs.is_empty() && usage.is_empty() {
                continue;
            }
            let mut rt = 0u8;
            let mut body = Vec::new();
            if !dl_pdrs.is_empty() {
                rt |= 0x01;
                for id in &dl_pdrs {
                    let mut v = Vec::new();
                    rules::put(&mut v, t::PDR_ID, &id.to_be_bytes());
                    body.push((t::DOWNLINK_DATA_REPORT, v));
                }
            }
            if !usage.is_empty() {
                rt |= 0x02;
                for u in &usage {
                    body.push((t::USAGE_REPORT_REPORT, u.encode()));
                }
            }
            out.push((ps.cp, ps.cp_seid, rt, body));
        }
        for seid in recompile {
            self.recompile(seid, up);
        }
        for (to, cp_seid, rt, body) in out {
            let seq = self.next_seq();
            let mut w = Writer::new(msg::SESSION_REPORT_REQUEST, Some(cp_seid), seq)
                .ie(t::REPORT_TYPE, &[rt]);
            for (ty, v) in &body {
                w = w.ie(*ty, v);
            }
            let b = w.finish();
            if self.pending.len() >= MAX_PENDING_REPORTS {
                // (Bounded: an SMF that answers nothing cannot make the
                // agent hold more.)
                self.count("session_reports_unsent");
                continue;
            }
            self.count("session_reports_sent");
            self.send(to, &b);
            self.pending.push(super::Pending {
                addr: to,
                seq,
                bytes: b,
                sent: now,
                tries: 1,
                report: true,
            });
        }
    }

    /// Installs a session's rules again after its URR state changed.
    fn recompile(&mut self, seid: u64, up: &mut Sessions) {
        let Some(ps) = self.sessions.get_mut(&seid) else {
            return;
        };
        let endpoints = up.endpoints().to_vec();
        let mut next = self.next_teid;
        let upr: &Sessions = up;
        let r = ps.compile(&endpoints, &mut |l| Self::alloc_teid(&mut next, upr, l));
        self.next_teid = next;
        match r {
            Ok((spec, _)) => {
                if ps.gtp.as_ref() != Some(&spec) && up.modify(spec.clone(), false).is_ok() {
                    ps.gtp = Some(spec);
                }
            }
            Err(f) => tracing::warn!("pfcp: session {seid}: rules no longer compile: {f:?}"),
        }
    }

    /// `xgw pfcp sessions [--seid N]`.
    pub fn sessions_json(&self, seid: Option<u64>, up: Option<&mut Sessions>) -> Value {
        let mut up = up;
        let mut v: Vec<Value> = Vec::new();
        for ps in self.sessions.values() {
            if seid.is_some_and(|s| s != ps.up_seid) {
                continue;
            }
            let gtp = up.as_deref_mut().and_then(|u| {
                let (c, fc) = (u.counters(ps.slot), u.flow_counters(ps.slot));
                u.get(gtp_id(ps.up_seid)).map(|s| {
                    let mut v = crate::gtpctl::GtpControl::session_json(s, c);
                    v["flows"] = crate::gtpctl::GtpControl::flows_json(s, &fc);
                    v
                })
            });
            v.push(ps.json(gtp));
        }
        v.sort_by_key(|s| s["up_seid"].as_u64());
        json!({ "sessions": v })
    }

    /// Sessions held.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

/// A Session Report Response's cause (None: none readable).
pub(super) fn report_response_cause(list: &[(u16, &[u8])]) -> Option<u8> {
    find(list, ie::CAUSE).and_then(|v| v.first().copied())
}

/// For tests: the IEs of a grouped IE value.
#[cfg(test)]
pub(super) fn members(v: &[u8]) -> Vec<(u16, Vec<u8>)> {
    super::ies(v)
        .unwrap()
        .into_iter()
        .map(|(t, v)| (t, v.to_vec()))
        .collect()
}
