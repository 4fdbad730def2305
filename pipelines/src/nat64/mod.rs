//! Stateless IP/ICMP translation (SIIT, RFC 7915) with RFC 6052 address
//! mapping (the pool6 prefix), Explicit Address Mappings (RFC 7757) and
//! RFC 6791 pools: a feature of the router, plugged in through
//! [`FEATURE`] with one node.
//!
//! - **The translator's interface** is one fixed virtual interface,
//!   [`NAT64_IFACE`], named by `[nat64] interface`; its output is
//!   **nat64-xlat**. Routes decide what is translated: the pool6 prefix is
//!   routed into it (added with the config), and so is whatever IPv4 or
//!   IPv6 space the operator routes there (`interface = "siit0"`: the
//!   IPv4 side of EAM entries whose IPv6 side is local, the IPv4 images
//!   of the IPv6 network, ...). ip4-lookup / ip6-lookup have already
//!   checked the TTL / hop limit and decremented it (the translator is a
//!   router: once).
//! - **nat64-xlat** maps both addresses (EAM first, then pool6), looks
//!   the translated destination up in the other family's FIB, checks the
//!   egress MTU (Packet Too Big / Fragmentation Needed about the original
//!   packet, sent from our address; or, for DF-clear IPv4, IPv6 fragments
//!   of at most `lowest_ipv6_mtu`), then rewrites the headers in place:
//!   IPv6 extension headers are skipped (one after a Fragment Header gets
//!   ICMPv6 1/1, a Routing header with segments left a Parameter
//!   Problem), IPv4 options dropped, the Fragment Header and IPv4
//!   fragment fields carried over, TCP/UDP checksums updated
//!   incrementally (a bad one stays bad), ICMP echo translated, ICMP
//!   errors translated with their quoted packet (RFC 4884 extensions
//!   kept when they fit, 576 / 1280-byte ceilings). The translated packet
//!   goes straight to the egress interface's output; one routed into the
//!   translator again (EAM hairpinning) is translated back once more.

pub mod addr;
pub(crate) mod fast;

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod proptests;
pub mod stateful;
pub mod xlat;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nodes::Node;
use crate::router::registry::{self, Feature};
use crate::router::spec::{IfaceId, IfaceSpec};
use crate::router::{Core, NextHop, L2, ROUTE_ARCS, TO_REWRITE};
use crate::wire::{checksum, icmpv4, icmpv6};
use crate::{Ctx, DropReason, Meta, Packet, Verdict};
use addr::{EamTable, Pool6};
use stateful::{Flags, StatefulSpec, Table};
use xlat::{Maps, Rest, V6Err};

pub use crate::router::spec::NAT64_IFACE;

/// What the translator plugs into the router: its interface's output.
pub const FEATURE: Feature = Feature {
    name: "nat64",
    local: &[],
    claim4: Some((claim4, "nat64-xlat")),
    output: Some("nat64-xlat"),
    fused: Some(crate::router::registry::Fused::Nat64),
    rebuild: None,
    prefetch: Some(fast::prefetch),
    iface_drop: None,
    inner: None,
};

/// The default `lowest_ipv6_mtu` (RFC 7915 §4.1: the IPv6 minimum).
pub const DEFAULT_LOWEST_IPV6_MTU: u16 = 1280;

/// The translator's configuration (`[nat64]`), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nat64Spec {
    /// The translator's interface name (routes point into it).
    pub iface: String,
    pub pool6: Option<Pool6>,
    pub eam: EamTable,
    /// RFC 6791: sources for translated ICMP errors whose source has no
    /// mapping (none: our own address toward the destination).
    pub rfc6791_v4: Option<(Ipv4Addr, u8)>,
    pub rfc6791_v6: Option<(Ipv6Addr, u8)>,
    /// DF-clear IPv4 packets become IPv6 fragments of at most this size.
    pub lowest_ipv6_mtu: u16,
    /// Translate IPv4/UDP with checksum 0 by computing one (unfragmented
    /// only), instead of answering ICMPv4 3/13.
    pub amend_udp_checksum_zero: bool,
    /// Stateful NAT64 (RFC 6146): pool4, static BIB, timers; `None`:
    /// stateless (SIIT).
    pub stateful: Option<StatefulSpec>,
}

impl Nat64Spec {
    /// The interface the router sees.
    pub fn iface_spec(&self) -> IfaceSpec {
        IfaceSpec {
            name: self.iface.clone(),
            mtu: u16::MAX,
            output: registry::output_of("nat64"),
            ..IfaceSpec::default()
        }
    }
}

impl Nat64Spec {
    #[inline(always)]
    fn to4(&self, a: [u8; 16]) -> Option<[u8; 4]> {
        let x = u128::from_be_bytes(a);
        let v = if self.eam.is_empty() {
            None
        } else {
            self.eam.to4_u(x)
        };
        v.or_else(|| self.pool6.and_then(|p| p.extract_u(x)))
            .map(u32::to_be_bytes)
    }
    #[inline(always)]
    fn to6(&self, a: [u8; 4]) -> Option<[u8; 16]> {
        let x = u32::from_be_bytes(a);
        let v = if self.eam.is_empty() {
            None
        } else {
            self.eam.to6_u(x)
        };
        v.or_else(|| self.pool6.and_then(|p| p.embed_checked_u(x)))
            .map(u128::to_be_bytes)
    }
    fn to6_pool(&self, a: [u8; 4]) -> Option<[u8; 16]> {
        match self.pool6 {
            Some(p) => p.embed_checked(Ipv4Addr::from(a)).map(|v| v.octets()),
            None => self.to6(a),
        }
    }

    /// Why IPv6 address `a` did not map to IPv4: the Well-Known Prefix's
    /// RFC 6052 §3.1 rule, or else `other`.
    fn why6(&self, a: [u8; 16], other: DropReason) -> DropReason {
        match self.pool6 {
            Some(p) if p.refuses6(u128::from_be_bytes(a)) => DropReason::Nat64WkpNonGlobal,
            _ => other,
        }
    }

    /// Why IPv4 address `a` did not map to IPv6 (as [`Nat64Spec::why6`]).
    fn why4(&self, a: [u8; 4], other: DropReason) -> DropReason {
        match self.pool6 {
            Some(p) if p.refuses(u32::from_be_bytes(a)) => DropReason::Nat64WkpNonGlobal,
            _ => other,
        }
    }
}

/// SIIT: the quoted packet's addresses map like any, ports stay.
impl Maps for Nat64Spec {
    fn quoted64(
        &self,
        _: u8,
        src: [u8; 16],
        sport: u16,
        dst: [u8; 16],
        dport: u16,
    ) -> Option<([u8; 4], u16, [u8; 4], u16)> {
        Some((self.to4(src)?, sport, self.to4(dst)?, dport))
    }
    fn quoted46(
        &self,
        _: u8,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        hairpin: bool,
    ) -> Option<([u8; 16], u16, [u8; 16], u16)> {
        // (Hairpinned: the quoted packet's destination is the error's
        // source side.)
        let d6 = if hairpin {
            self.to6_pool(dst)
        } else {
            self.to6(dst)
        };
        Some((self.to6(src)?, sport, d6?, dport))
    }
}

/// Stateful NAT64: the quoted packet's binding gives the host side; the
/// other side maps through pool6.
struct NatMaps<'a> {
    cfg: &'a Nat64Spec,
    table: &'a Table,
}

impl Maps for NatMaps<'_> {
    fn quoted64(
        &self,
        proto: u8,
        src: [u8; 16],
        sport: u16,
        dst: [u8; 16],
        dport: u16,
    ) -> Option<([u8; 4], u16, [u8; 4], u16)> {
        let b = self.table.bib(self.table.bib_by6(proto, dst, dport)?);
        let s4 = self.cfg.pool6?.extract(Ipv6Addr::from(src))?.octets();
        let sport = if proto == stateful::ICMP { b.p4 } else { sport };
        Some((s4, sport, b.a4, b.p4))
    }
    fn quoted46(
        &self,
        proto: u8,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        _: bool,
    ) -> Option<([u8; 16], u16, [u8; 16], u16)> {
        let b = self.table.bib(self.table.bib_by4(proto, src, sport)?);
        let d6 = self.cfg.pool6?.embed_checked(Ipv4Addr::from(dst))?.octets();
        let dport = if proto == stateful::ICMP { b.p6 } else { dport };
        Some((b.a6, b.p6, d6, dport))
    }
}

/// The binding of the packet an ICMP error quotes (IPv6 error: the
/// quoted packet went to the IPv6 host), for the translated error's
/// outer source (RFC 6146 §3.4: the host's IPv4 transport address).
fn quoted_bib64(table: &Table, msg: &[u8]) -> Option<[u8; 4]> {
    let q = msg.get(8..)?;
    let h = xlat::parse6(q, true).ok()?;
    let proto = xlat::proto64(h.proto);
    let (_, dp) = xlat::ports(q.get(h.l4..)?, proto)?;
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&q[24..40]);
    table.bib_by6(proto, dst, dp).map(|b| table.bib(b).a4)
}

/// The same for an ICMPv4 error: the quoted packet came from pool4; its
/// binding's IPv6 address is where the error goes.
fn quoted_bib46(table: &Table, msg: &[u8]) -> Option<[u8; 16]> {
    let q = msg.get(8..)?;
    let h = xlat::parse4(q, true)?;
    let (sp, _) = xlat::ports(q.get(h.ihl..)?, h.proto)?;
    table.bib_by4(h.proto, h.src, sp).map(|b| table.bib(b).a6)
}

/// ip4-local hands the translator a packet to one of its pool4 transport
/// addresses (the address may be shared with the host: what is outside
/// the pool4 ranges keeps the router's answers). ICMP: an echo with an
/// identifier in range, or an error quoting such a packet.
fn claim4(core: &Core, p: &Packet<'_>) -> bool {
    claim4_at(core, p.data(), p.meta.l4 as usize, p.meta.proto)
}

/// [`claim4`] on a frame `d` (no Ethernet padding) of IP protocol
/// `proto` whose upper layer starts at `l4` (0: none): also the fused
/// path's test ([`fast::fast_claim`]).
#[inline]
pub(crate) fn claim4_at(core: &Core, d: &[u8], l4: usize, proto: u8) -> bool {
    let Some(st) = core.nat64.table.as_ref() else {
        return false;
    };
    let Some(ip) = d.get(L2..) else {
        return false;
    };
    if ip.len() < 20 || l4 > d.len() {
        return false;
    }
    let dst = [ip[16], ip[17], ip[18], ip[19]];
    // (Looked up once for the tests below.)
    let at = st.pool4_at(dst);
    if !at.any() {
        return false;
    }
    // A later fragment carries no ports: the translator follows it if
    // its first one passed (the first may be in the same burst, not yet
    // translated, so every later fragment to pool4 is taken; the router
    // would drop it anyway: it reassembles nothing).
    if xlat::parse4(ip, false).is_some_and(|v| v.off != 0) {
        return matches!(proto, 6 | 17);
    }
    if l4 == 0 {
        return false;
    }
    let body = &d[l4..];
    match proto {
        6 | 17 => xlat::ports(body, proto).is_some_and(|(_, dp)| at.has(proto, dp)),
        1 => match body.first() {
            Some(0 | 8) => xlat::ports(body, 1).is_some_and(|(id, _)| at.has(1, id)),
            Some(&t) if icmpv4::is_error(t) => {
                let Some(q) = body.get(8..).and_then(|q| xlat::parse4(q, true)) else {
                    return false;
                };
                let qb = &body[8 + q.ihl..];
                q.src == dst && xlat::ports(qb, q.proto).is_some_and(|(sp, _)| at.has(q.proto, sp))
            }
            _ => false,
        },
        _ => false,
    }
}

/// The most sessions (and bindings) a worker copies into its view.
pub const VIEW_MAX: usize = 4096;

/// What a worker last published of its NAT64 tables, for `xgw nat64`:
/// the exact totals and counters, and at most [`VIEW_MAX`] rows of each
/// table (copied every 500 ms with the neighbour view, into vectors
/// reserved once).
#[derive(Default)]
pub struct View {
    pub at_ns: u64,
    pub sessions: Vec<SessionRow>,
    pub bibs: Vec<stateful::Bib>,
    pub session_total: usize,
    pub bib_total: usize,
    pub counts: stateful::Counts,
}

/// A session as `xgw nat64 session` shows it.
#[derive(Clone, Copy, Debug)]
pub struct SessionRow {
    pub bib: stateful::Bib,
    pub r4: [u8; 4],
    pub rp: u16,
    pub tcp: Option<stateful::TcpState>,
    /// Nanoseconds left (at `at_ns`).
    pub left_ns: u64,
}

impl State {
    /// Copies this worker's tables into `v` (worker's tick).
    pub(crate) fn publish(&self, v: &mut View, now: u64) {
        let Some(t) = self.table.as_ref() else {
            return;
        };
        if v.sessions.capacity() == 0 {
            v.sessions.reserve_exact(VIEW_MAX);
            v.bibs.reserve_exact(VIEW_MAX);
        }
        v.at_ns = now;
        v.sessions.clear();
        v.bibs.clear();
        v.sessions
            .extend(t.sessions().take(VIEW_MAX).map(|(b, s)| SessionRow {
                bib: *b,
                r4: s.r4,
                rp: s.rp,
                tcp: s.tcp,
                left_ns: s.expires_ns.saturating_sub(now),
            }));
        v.bibs.extend(t.bibs().take(VIEW_MAX).copied());
        v.session_total = t.session_count();
        v.bib_total = t.bib_count();
        v.counts = t.counts;
    }
}

/// Packets a worker's hand-off ring holds.
pub const HANDOFF_SLOTS: usize = 1024;
/// The largest frame handed over.
pub const HANDOFF_BYTES: usize = 2048;
/// Packets a worker takes from its ring per burst or tick.
const HANDOFF_PER_RUN: usize = 32;

/// `Meta::feature` word 3 of a frame stateful 6→4 translation gave a
/// binding to (`[pool4 address, port << 8 | protocol, 0, BINDING_MARK]`;
/// `xgw trace` reads it).
pub const BINDING_MARK: u32 = 0x6e61_7436;

/// A packet handed from one worker to the one owning its binding: the
/// frame's bytes, its ingress port and its metadata as nat64-xlat got
/// it. It is run again from nat64-xlat on the owner.
pub struct Handoff {
    len: u16,
    port: u16,
    meta: Meta,
    bytes: [u8; HANDOFF_BYTES],
}

impl Core {
    /// Hands `p` to worker `owner` (stateful NAT64 with several workers:
    /// the binding is that worker's). The frame itself is done here
    /// (`Local`); the owner runs a copy.
    fn handoff(&mut self, p: &Packet<'_>, owner: usize) -> Verdict {
        let Some(q) = self.bus.handoff.get().and_then(|r| r.get(owner)) else {
            return Verdict::Drop(DropReason::Nat64HandoffFull);
        };
        let d = p.data();
        if d.len() > HANDOFF_BYTES {
            return Verdict::Drop(DropReason::Nat64HandoffTooBig);
        }
        let mut h = Handoff {
            len: d.len() as u16,
            port: p.port.0,
            meta: p.meta,
            bytes: [0; HANDOFF_BYTES],
        };
        h.bytes[..d.len()].copy_from_slice(d);
        if q.push(h).is_err() {
            return Verdict::Drop(DropReason::Nat64HandoffFull);
        }
        if let Some(t) = self.nat64.table.as_mut() {
            t.counts.handoff_out += 1;
        }
        Verdict::Local
    }

    /// Takes what other workers handed this one and runs it from
    /// nat64-xlat (after the current burst or tick).
    pub(crate) fn nat64_drain(&mut self, cx: &mut Ctx<'_>) {
        let Some(q) = self.bus.handoff.get().and_then(|r| r.get(self.worker)) else {
            return;
        };
        let (mut taken, mut lost) = (0, 0);
        for _ in 0..HANDOFF_PER_RUN {
            let Some(h) = q.pop() else { break };
            let n = usize::from(h.len);
            let ok = cx.inject(
                crate::PortId(h.port),
                h.meta,
                crate::router::NAT64_XLAT,
                &mut |b: &mut [u8]| {
                    if b.len() < n {
                        return 0;
                    }
                    b[..n].copy_from_slice(&h.bytes[..n]);
                    n
                },
            );
            if ok {
                taken += 1;
            } else {
                lost += 1;
            }
        }
        if let Some(t) = self.nat64.table.as_mut() {
            t.counts.handoff_in += taken;
            t.counts.handoff_lost += lost;
        }
    }

    /// The owner of the static binding an IPv6 packet's source is, if
    /// that is another worker.
    fn static_owner6(&self, ip: &[u8], h: &xlat::V6, src: [u8; 16]) -> Option<usize> {
        let t = self.nat64.table.as_ref()?;
        // (Without static bindings there is nothing to look up: a
        // dynamic binding is always this worker's.)
        if t.workers() < 2 || t.spec().static_bib.is_empty() {
            return None;
        }
        let proto = xlat::proto64(h.proto);
        let (sp, _) = xlat::ports(ip.get(h.l4..h.end)?, proto)?;
        let b = *t.bib(t.bib_by6(proto, src, sp)?);
        let o = t.owner(b.a4, proto, b.p4);
        (b.is_static && o != self.worker).then_some(o)
    }

    /// Stateful NAT64 with several workers: the worker owning the binding
    /// an IPv4 packet to pool4 is for (an ICMP error: the binding of the
    /// packet it quotes), if that is not this one.
    fn owner4(&self, p: &Packet<'_>) -> Option<usize> {
        let t = self.nat64.table.as_ref()?;
        if t.workers() < 2 {
            return None;
        }
        let ip = p.data().get(L2..)?;
        let v = xlat::parse4(ip, false)?;
        if v.off != 0 {
            // (A later fragment stays where it is: its first one's record
            // is on the worker that saw it, most likely this one.)
            return None;
        }
        let l4 = ip.get(v.ihl..v.total)?;
        let (a4, proto, port) = match (v.proto, l4.first()) {
            (1, Some(&ty)) if icmpv4::is_error(ty) => {
                let q = l4.get(8..)?;
                let h = xlat::parse4(q, true)?;
                let (sp, _) = xlat::ports(q.get(h.ihl..)?, h.proto)?;
                (h.src, h.proto, sp)
            }
            (proto, _) => (v.dst, proto, xlat::ports(l4, proto)?.1),
        };
        if !t.is_pool4_addr(a4) {
            return None;
        }
        let o = t.owner(a4, proto, port);
        (o != self.worker).then_some(o)
    }
}

/// The largest packet the translator builds an ICMP error into.
const SCRATCH: usize = 4096;

/// The translator's per-worker state.
pub struct State {
    /// Its interface (what `Core::iface(NAT64_IFACE)` answers).
    pub iface: IfaceSpec,
    /// The configuration (taken out while a packet is translated).
    cfg: Option<Box<Nat64Spec>>,
    /// `lowest_ipv6_mtu` (ip-rewrite's IPv6 fragmentation reads it).
    pub(crate) lowest_mtu: u16,
    /// Where ICMP errors are rebuilt.
    scratch: Box<[u8; SCRATCH]>,
    /// Stateful NAT64: this worker's BIB and sessions.
    pub table: Option<Table>,
}

impl State {
    /// Worker `worker` of `workers`.
    pub fn new(spec: Option<&Nat64Spec>, worker: usize, workers: usize) -> State {
        State {
            table: spec
                .and_then(|s| s.stateful.as_ref())
                .map(|s| Table::new(s, worker, workers)),
            iface: spec.map_or_else(IfaceSpec::default, |s| s.iface_spec()),
            cfg: spec.map(|s| Box::new(s.clone())),
            lowest_mtu: spec.map_or(DEFAULT_LOWEST_IPV6_MTU, |s| s.lowest_ipv6_mtu),
            scratch: Box::new([0; SCRATCH]),
        }
    }
}

/// Every reason nat64-xlat files frames under.
pub const DROPS: &[DropReason] = &[
    DropReason::Nat64Malformed,
    DropReason::Nat64SrcUntranslatable,
    DropReason::Nat64DstUntranslatable,
    DropReason::Nat64WkpNonGlobal,
    DropReason::Nat64IcmpUntranslatable,
    DropReason::Nat64InnerUntranslatable,
    DropReason::Nat64IcmpFragmented,
    DropReason::Nat64IcmpBadChecksum,
    DropReason::Nat64HairpinLoop,
    DropReason::Nat64NoRoom,
    DropReason::Nat64ProtoUnsupported,
    DropReason::Nat64FragmentNoState,
    DropReason::Nat64NoState,
    DropReason::Nat64NoBinding,
    DropReason::Nat64Filtered,
    DropReason::Nat64TableFull,
    DropReason::Nat64Pool4Exhausted,
    DropReason::Nat64HandoffFull,
    DropReason::Nat64HeldSynSuperseded,
    DropReason::Nat64HandoffTooBig,
    DropReason::RouteBlackhole,
    DropReason::IcmpRateLimited,
    DropReason::IcmpSuppressed,
    DropReason::IcmpNoSource,
    DropReason::IcmpNoHeadroom,
    DropReason::IcmpHeaderWriteFailed,
    DropReason::Ip4Malformed,
    DropReason::Ip6Malformed,
];

/// nat64-xlat: the output of the translator's interface.
pub struct Xlat {
    arcs: Vec<&'static str>,
}

impl Default for Xlat {
    fn default() -> Self {
        let mut arcs = ROUTE_ARCS[..2].to_vec();
        arcs.extend(registry::outputs());
        arcs.push("drop");
        Xlat { arcs }
    }
}

impl Node<Core> for Xlat {
    fn name(&self) -> &'static str {
        "nat64-xlat"
    }
    fn next(&self) -> &[&'static str] {
        &self.arcs
    }
    fn drops(&self) -> &'static [DropReason] {
        DROPS
    }
    fn process(
        &mut self,
        core: &mut Core,
        cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        v: &mut [Verdict],
    ) {
        let Some(cfg) = core.nat64.cfg.take() else {
            for &i in sel {
                v[i as usize] = Verdict::Drop(DropReason::RouteNone);
            }
            return;
        };
        for &i in sel {
            v[i as usize] = core.translate(cx, &mut pkts[i as usize], &cfg);
        }
        core.nat64.cfg = Some(cfg);
    }
}

/// Where a translated packet goes.
#[derive(Clone, Copy)]
struct Route {
    nh: u32,
    egress: IfaceId,
    mtu: usize,
    output: u8,
}

impl Core {
    pub(crate) fn translate(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        cfg: &Nat64Spec,
    ) -> Verdict {
        let own = TO_REWRITE + self.nat64.iface.output;
        let mut v = self.translate_once(cx, p, cfg, false);
        if v == Verdict::Next(own) {
            // Routed into the translator again (EAM hairpinning): back to
            // the family it came from, once.
            v = self.translate_once(cx, p, cfg, true);
            if v == Verdict::Next(own) {
                v = Verdict::Drop(DropReason::Nat64HairpinLoop);
            }
        }
        v
    }

    /// `hairpin`: the packet was translated once already and routed back
    /// into the translator (RFC 7757 §4.2 "intrinsic" hairpinning: the
    /// source then maps through pool6, not the EAM table, so that replies
    /// come back through the translator).
    fn translate_once(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        cfg: &Nat64Spec,
        hairpin: bool,
    ) -> Verdict {
        match p.meta.ethertype {
            0x86dd => self.xlat64(cx, p, cfg, hairpin),
            0x0800 => self.xlat46(cx, p, cfg, hairpin),
            _ => Verdict::Drop(DropReason::Nat64Malformed),
        }
    }

    fn route_to(&self, nh: Option<u32>) -> Result<Route, bool> {
        let nh = nh.ok_or(false)?;
        let egress = match self.table.nexthops.get(nh as usize) {
            Some(NextHop::Via { iface, .. } | NextHop::Connected { iface }) => *iface,
            Some(NextHop::Blackhole) => return Err(true),
            _ => return Err(false),
        };
        let f = self.iface(egress);
        Ok(Route {
            nh,
            egress,
            mtu: usize::from(f.mtu),
            output: f.output,
        })
    }

    /// An ICMPv6 error about the packet as it arrived (the lookup that
    /// sent it here already took one off its hop limit).
    fn error_about6(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        again: bool,
        (t, c, rest): (u8, u8, u32),
    ) -> Verdict {
        if !again {
            if let Some(h) = p.data_mut().get_mut(L2 + 7) {
                *h = h.wrapping_add(1);
            }
        }
        self.icmp6_error(cx, p, t, c, rest)
    }

    /// An ICMPv4 error about the packet as it arrived (TTL restored).
    fn error_about4(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        again: bool,
        (t, c, rest): (u8, u8, u32),
    ) -> Verdict {
        if !again {
            if let Some(h) = p.data_mut().get_mut(L2..L2 + 20) {
                let old = u16::from_be_bytes([h[8], h[9]]);
                h[8] = h[8].wrapping_add(1);
                let new = u16::from_be_bytes([h[8], h[9]]);
                let c = checksum::update16(u16::from_be_bytes([h[10], h[11]]), old, new);
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
        }
        self.icmp4_error(cx, p, t, c, rest)
    }

    fn xlat64(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        cfg: &Nat64Spec,
        again: bool,
    ) -> Verdict {
        use icmpv6::{dest_unreach as du, DEST_UNREACH, PACKET_TOO_BIG, PARAM_PROBLEM};
        let d = p.data();
        let Some(ip) = d.get(L2..) else {
            return Verdict::Drop(DropReason::Ip6Malformed);
        };
        let h = match xlat::parse6(ip, false) {
            Ok(h) => h,
            Err(V6Err::Malformed) => return Verdict::Drop(DropReason::Nat64Malformed),
            Err(V6Err::ExtAfterFrag) => {
                return self.error_about6(cx, p, again, (DEST_UNREACH, du::ADMIN, 0))
            }
            Err(V6Err::SegmentsLeft(at)) => {
                return self.error_about6(cx, p, again, (PARAM_PROBLEM, 0, at))
            }
        };
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&ip[8..24]);
        dst.copy_from_slice(&ip[24..40]);
        let (tc, hop) = ((ip[0] << 4) | (ip[1] >> 4), ip[7]);
        let fragmented = h.frag.is_some_and(|f| f.more || f.off != 0);
        let first = h.frag.map_or(true, |f| f.off == 0);
        let is_err = h.proto == 58 && first && ip.get(h.l4).is_some_and(|&t| t < 128);
        // ICMPv4 inside IPv6 is no protocol of either side: copied across
        // it would be an ICMP message nobody checked (fuzz: nat64).
        if h.proto == 1 {
            return Verdict::Drop(DropReason::Nat64IcmpUntranslatable);
        }
        if h.proto == 58 && fragmented {
            return Verdict::Drop(DropReason::Nat64IcmpFragmented);
        }
        let Some(d4) = cfg.to4(dst) else {
            return Verdict::Drop(cfg.why6(dst, DropReason::Nat64DstUntranslatable));
        };
        // Stateful, several workers: a static binding's flows are its
        // owner's (dynamic ones are made from this worker's own slice).
        if !is_err && first {
            if let Some(o) = self.static_owner6(ip, &h, src) {
                return self.handoff(p, o);
            }
        }
        // Stateful: the source is the binding's (made if need be), or for
        // an error the binding of the packet it quotes.
        let mut nat_port = None;
        let s4 = match self.nat64.table.as_mut() {
            None => cfg.to4(src),
            Some(t) if is_err => match quoted_bib64(t, &ip[h.l4..h.end]) {
                Some(a) => Some(a),
                None => return Verdict::Drop(DropReason::Nat64InnerUntranslatable),
            },
            Some(t) => {
                let proto4 = xlat::proto64(h.proto);
                if !matches!(proto4, 6 | 17 | 1) {
                    return Verdict::Drop(DropReason::Nat64ProtoUnsupported);
                }
                let fkey = h.frag.map(|f| (6, proto4, src, dst, f.id));
                if !first {
                    // A later fragment: its first one's binding (RFC 6146
                    // §3.7, through the bounded fragment cache).
                    let to = fkey.and_then(|k| t.frag_next(&k, cx.now_ns));
                    let Some(to) = to else {
                        return Verdict::Drop(DropReason::Nat64FragmentNoState);
                    };
                    Some([to[0], to[1], to[2], to[3]])
                } else {
                    let l4 = &ip[h.l4..h.end];
                    if proto4 == 1 && l4.first().and_then(|&t| xlat::info64(t)).is_none() {
                        return Verdict::Drop(DropReason::Nat64IcmpUntranslatable);
                    }
                    let Some((sp, dp)) = xlat::ports(l4, proto4) else {
                        return Verdict::Drop(DropReason::Nat64Malformed);
                    };
                    let flags = if proto4 == 6 {
                        Flags::of(l4)
                    } else {
                        Flags::default()
                    };
                    // (An ICMP query session is the binding and the remote
                    // address: the identifier is the binding's, RFC 6146
                    // §3.5.3.)
                    let rp = if proto4 == 1 { 0 } else { dp };
                    match t.from6(proto4, src, sp, d4, rp, flags, cx.now_ns) {
                        Ok((a4, p4)) => {
                            nat_port = Some((p4, dp));
                            // The other half of a simultaneous open: an
                            // IPv6 SYN makes the held IPv4 SYN go
                            // (silently, RFC 6146 §3.5.2.2; counted). Only
                            // a SYN looks (the held slots are a scan).
                            let held = if proto4 == 6 && flags.syn {
                                t.held_for(d4, dp)
                            } else {
                                None
                            };
                            if let Some((i, h)) = held {
                                if (h.a4, h.p4) == (a4, p4)
                                    && cx.discard(
                                        stateful::HELD_TOKEN | i,
                                        DropReason::Nat64HeldSynSuperseded,
                                    )
                                {
                                    t.unhold(i);
                                }
                            }
                            if let (Some(k), true) = (fkey, fragmented) {
                                let mut to = [0u8; 16];
                                to[..4].copy_from_slice(&a4);
                                t.frag_first(k, to, cx.now_ns);
                            }
                            Some(a4)
                        }
                        Err(r) => return Verdict::Drop(r),
                    }
                }
            }
        };
        if s4.is_none() && !is_err {
            return Verdict::Drop(cfg.why6(src, DropReason::Nat64SrcUntranslatable));
        }
        // Stateful hairpinning: to one of our pool4 addresses, the
        // translated packet comes straight back in (RFC 6146 §3.8).
        let pool4_dst = self
            .nat64
            .table
            .as_ref()
            .is_some_and(|t| t.is_pool4_addr(d4));
        let r = match self.route_to(self.table.fib4.lookup(Ipv4Addr::from(d4))) {
            Ok(r) if pool4_dst => Route {
                output: self.nat64.iface.output,
                ..r
            },
            Ok(r) => r,
            Err(true) => return Verdict::Drop(DropReason::RouteBlackhole),
            Err(false) => return self.error_about6(cx, p, again, (DEST_UNREACH, du::NO_ROUTE, 0)),
        };
        // (Routed back into the translator: no MTU of its own.)
        let back = r.output == self.nat64.iface.output;
        let s4 = match s4 {
            Some(a) => a,
            None => match cfg.rfc6791_v4 {
                Some((a, _)) => a.octets(),
                None => match self.src4(r.egress, Ipv4Addr::from(d4)) {
                    Some(a) => a.octets(),
                    None => return Verdict::Drop(DropReason::IcmpNoSource),
                },
            },
        };
        if is_err {
            return self.error64(p, cfg, &h, (src, dst), (s4, d4), (tc, hop), &r);
        }
        let ulen = h.end - h.l4;
        let total = 20 + ulen;
        let mut needs_frag = false;
        if total > r.mtu && !back {
            if h.frag.is_none() && total <= 1260 {
                needs_frag = true;
            } else {
                let mtu = (r.mtu as u32 + 20).max(1280);
                return self.error_about6(cx, p, again, (PACKET_TOO_BIG, 0, mtu));
            }
        }
        let (id, df, mf, off) = match h.frag {
            Some(f) => (f.id as u16, false, f.more, f.off),
            None => {
                self.ip_ident = self.ip_ident.wrapping_add(1);
                (self.ip_ident, total > 1260, false, 0)
            }
        };
        let proto = xlat::proto64(h.proto);
        if first {
            let l4 = &mut p.data_mut()[L2 + h.l4..L2 + h.end];
            if let Err(r) = xlat::fix_transport_64(l4, h.proto, &src, &dst, s4, d4, ulen) {
                return Verdict::Drop(r);
            }
            if let Some((sp, dp)) = nat_port {
                xlat::set_ports(l4, proto, sp, dp);
                // The binding, for `xgw trace` (its IPv4 side).
                p.meta.feature.0 = [
                    u32::from_be_bytes(s4),
                    u32::from(sp) << 8 | u32::from(proto),
                    0,
                    BINDING_MARK,
                ];
            }
        }
        // The IPv4 header ends where the upper layer starts; the Ethernet
        // header moves up in front of it.
        let shift = h.l4 - 20;
        move_eth(p.data_mut(), 0, shift);
        if !p.pull_head(shift) || !p.set_len(L2 + total) {
            return Verdict::Drop(DropReason::Nat64Malformed);
        }
        xlat::write4(
            &mut p.data_mut()[L2..L2 + 20],
            tc,
            total as u16,
            id,
            df,
            mf,
            off,
            hop,
            proto,
            s4,
            d4,
        );
        self.translated(p, r, false, proto, fragmented, needs_frag)
    }

    /// The metadata of a translated packet, and its way out.
    fn translated(
        &mut self,
        p: &mut Packet<'_>,
        r: Route,
        v6: bool,
        proto: u8,
        fragment: bool,
        needs_frag: bool,
    ) -> Verdict {
        let v6_frag = v6 && p.data().get(L2 + 6) == Some(&44);
        let m = &mut p.meta;
        m.ethertype = if v6 { 0x86dd } else { 0x0800 };
        m.l3 = L2 as u16;
        m.proto = proto;
        m.nh = r.nh;
        m.flags &= !(Meta::FRAGMENT | Meta::NEEDS_FRAG | Meta::TO_US);
        if fragment {
            m.flags |= Meta::FRAGMENT;
        }
        if needs_frag {
            m.flags |= Meta::NEEDS_FRAG;
        }
        m.l4 = if v6 {
            (L2 + 40 + if v6_frag { 8 } else { 0 }) as u16
        } else {
            (L2 + 20) as u16
        };
        Verdict::Next(TO_REWRITE + r.output)
    }

    #[allow(clippy::too_many_arguments)]
    fn error64(
        &mut self,
        p: &mut Packet<'_>,
        cfg: &Nat64Spec,
        h: &xlat::V6,
        (src, dst): ([u8; 16], [u8; 16]),
        (s4, d4): ([u8; 4], [u8; 4]),
        (tc, hop): (u8, u8),
        r: &Route,
    ) -> Verdict {
        let ingress_mtu = usize::from(self.iface(p.meta.iface).mtu);
        let ip = &p.data()[L2..];
        let msg = &ip[h.l4..h.end];
        if msg.len() < 8 {
            return Verdict::Drop(DropReason::Nat64Malformed);
        }
        let sum = checksum::pseudo_v6(&src, &dst, 58, msg.len() as u32) + checksum::sum(msg);
        if checksum::fold(sum) != 0xffff {
            return Verdict::Drop(DropReason::Nat64IcmpBadChecksum);
        }
        let ptr = u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]);
        let Some((t, c, kind)) = xlat::error64(msg[0], msg[1], ptr) else {
            return Verdict::Drop(DropReason::Nat64IcmpUntranslatable);
        };
        let rest = match kind {
            Rest::Zero => 0,
            Rest::Pointer(x) => u32::from(x) << 24,
            Rest::Mtu => {
                let m = (ptr.saturating_sub(20) as usize)
                    .min(r.mtu)
                    .min(ingress_mtu.saturating_sub(20))
                    .max(68);
                m as u32 & 0xffff
            }
        };
        let limit = 576 - 20;
        let st = &mut self.nat64;
        let out = &mut st.scratch[..];
        let n = match st.table.as_ref() {
            Some(table) => xlat::body64(msg, out, limit, (t, c, rest), &NatMaps { cfg, table }),
            None => xlat::body64(msg, out, limit, (t, c, rest), cfg),
        };
        let n = match n {
            Ok(n) => n,
            Err(r) => return Verdict::Drop(r),
        };
        let cs = checksum::finish(checksum::sum(&out[..n]));
        out[2..4].copy_from_slice(&cs.to_be_bytes());
        if !p.set_len(L2 + 20 + n) {
            return Verdict::Drop(DropReason::Nat64NoRoom);
        }
        let id = match h.frag {
            Some(f) => f.id as u16,
            None => {
                self.ip_ident = self.ip_ident.wrapping_add(1);
                self.ip_ident
            }
        };
        let d = p.data_mut();
        d[L2 + 20..L2 + 20 + n].copy_from_slice(&self.nat64.scratch[..n]);
        xlat::write4(
            &mut d[L2..L2 + 20],
            tc,
            (20 + n) as u16,
            id,
            false,
            false,
            0,
            hop,
            1,
            s4,
            d4,
        );
        self.translated(p, *r, false, 1, false, false)
    }

    fn xlat46(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        cfg: &Nat64Spec,
        hairpin: bool,
    ) -> Verdict {
        use icmpv4::{dest_unreach as du, DEST_UNREACH, TIME_EXCEEDED};
        if !hairpin {
            if let Some(owner) = self.owner4(p) {
                return self.handoff(p, owner);
            }
        }
        if p.meta.flags & Meta::TO_US != 0 && !hairpin {
            // Claimed at ip4-local (a pool4 address is ours): no lookup
            // has taken a hop off yet.
            let Some(h) = p.data_mut().get_mut(L2..L2 + 20) else {
                return Verdict::Drop(DropReason::Ip4Malformed);
            };
            if h[8] <= 1 {
                return self.icmp4_error(cx, p, TIME_EXCEEDED, 0, 0);
            }
            let old = u16::from_be_bytes([h[8], h[9]]);
            h[8] -= 1;
            let c = checksum::update16(u16::from_be_bytes([h[10], h[11]]), old, old - 0x100);
            h[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let d = p.data();
        let Some(v) = d.get(L2..).and_then(|ip| xlat::parse4(ip, false)) else {
            return Verdict::Drop(DropReason::Ip4Malformed);
        };
        let ip = &d[L2..L2 + v.total];
        let first = v.off == 0;
        let l4 = &ip[v.ihl..];
        let is_err = v.proto == 1 && first && l4.first().is_some_and(|&t| icmpv4::is_error(t));
        // (ICMPv6 inside IPv4: the same, the other way.)
        if v.proto == 58 {
            return Verdict::Drop(DropReason::Nat64IcmpUntranslatable);
        }
        if v.proto == 1 && v.is_fragment() {
            return Verdict::Drop(DropReason::Nat64IcmpFragmented);
        }
        let mut amend = false;
        if v.proto == 17 && first && l4.len() >= 8 && l4[6..8] == [0, 0] {
            if cfg.amend_udp_checksum_zero && !v.is_fragment() {
                amend = true;
            } else {
                return self.error_about4(cx, p, hairpin, (DEST_UNREACH, du::ADMIN_PROHIBITED, 0));
            }
        }
        let mut nat_port = None;
        let (s6, d6) = match self.nat64.table.as_mut() {
            None => {
                let Some(d6) = cfg.to6(v.dst) else {
                    return Verdict::Drop(cfg.why4(v.dst, DropReason::Nat64DstUntranslatable));
                };
                let s6 = if hairpin {
                    cfg.to6_pool(v.src)
                } else {
                    cfg.to6(v.src)
                };
                (s6, d6)
            }
            // Stateful: the destination is a binding's (or, for an error,
            // the binding of the packet it quotes); the source maps
            // through pool6.
            Some(t) => {
                let Some(pool6) = cfg.pool6 else {
                    return Verdict::Drop(DropReason::Nat64SrcUntranslatable);
                };
                // (An ICMP error from a source the Well-Known Prefix may
                // not carry takes an RFC 6791 source below.)
                let s6 = pool6
                    .embed_checked_u(u32::from_be_bytes(v.src))
                    .map(u128::to_be_bytes);
                if s6.is_none() && !is_err {
                    return Verdict::Drop(DropReason::Nat64WkpNonGlobal);
                }
                if is_err {
                    match quoted_bib46(t, l4) {
                        Some(a6) => (s6, a6),
                        None => return Verdict::Drop(DropReason::Nat64InnerUntranslatable),
                    }
                } else {
                    if !matches!(v.proto, 6 | 17 | 1) {
                        return Verdict::Drop(DropReason::Nat64ProtoUnsupported);
                    }
                    let mut k4 = ([0u8; 16], [0u8; 16]);
                    k4.0[..4].copy_from_slice(&v.src);
                    k4.1[..4].copy_from_slice(&v.dst);
                    let fkey = (4, v.proto, k4.0, k4.1, u32::from(v.id));
                    if !first {
                        // A later fragment: its first one's binding.
                        let Some(to) = t.frag_next(&fkey, cx.now_ns) else {
                            return Verdict::Drop(DropReason::Nat64FragmentNoState);
                        };
                        (s6, to)
                    } else {
                        if v.proto == 1 && l4.first().and_then(|&t| xlat::info46(t)).is_none() {
                            return Verdict::Drop(DropReason::Nat64IcmpUntranslatable);
                        }
                        let Some((sp, dp)) = xlat::ports(l4, v.proto) else {
                            return Verdict::Drop(DropReason::Nat64Malformed);
                        };
                        let flags = if v.proto == 6 {
                            Flags::of(l4)
                        } else {
                            Flags::default()
                        };
                        let rp = if v.proto == 1 { 0 } else { sp };
                        match t.from4(v.proto, v.dst, dp, v.src, rp, flags, cx.now_ns) {
                            Ok((a6, p6)) => {
                                nat_port = Some((sp, p6));
                                if v.is_fragment() {
                                    t.frag_first(fkey, a6, cx.now_ns);
                                }
                                (s6, a6)
                            }
                            Err(DropReason::Nat64NoBinding)
                                if v.proto == 6
                                    && flags.syn
                                    && !t.spec().drop_externally_initiated_tcp =>
                            {
                                // RFC 6146 §3.5.2.2: an unsolicited SYN
                                // waits 6 s for the IPv6 side to open the
                                // same connection; back from the lot with
                                // its time up, it gets Port Unreachable.
                                if let Some(i) = t.expired_held(v.dst, dp, v.src, sp) {
                                    t.unhold(i);
                                    return self.error_about4(
                                        cx,
                                        p,
                                        hairpin,
                                        (DEST_UNREACH, du::PORT, 0),
                                    );
                                }
                                return match t.hold(v.dst, dp, v.src, sp, cx.now_ns) {
                                    Some(i) => {
                                        // (Its TTL is taken off already:
                                        // not again when it comes back.)
                                        p.meta.flags &= !Meta::TO_US;
                                        Verdict::Park(stateful::HELD_TOKEN | i)
                                    }
                                    None => Verdict::Drop(DropReason::Nat64NoBinding),
                                };
                            }
                            Err(DropReason::Nat64NoBinding) if v.proto != 6 => {
                                // RFC 6146 §3.5.1: no binding, so nobody behind
                                // it (Destination Unreachable, administratively
                                // prohibited).
                                return self.error_about4(
                                    cx,
                                    p,
                                    hairpin,
                                    (DEST_UNREACH, du::ADMIN_PROHIBITED, 0),
                                );
                            }
                            Err(r) => return Verdict::Drop(r),
                        }
                    }
                }
            }
        };
        if s6.is_none() && !is_err {
            return Verdict::Drop(DropReason::Nat64SrcUntranslatable);
        }
        let r = match self.route_to(self.table.fib6.lookup(Ipv6Addr::from(d6))) {
            Ok(r) => r,
            Err(true) => return Verdict::Drop(DropReason::RouteBlackhole),
            Err(false) => return self.error_about4(cx, p, hairpin, (DEST_UNREACH, du::HOST, 0)),
        };
        let back = r.output == self.nat64.iface.output;
        let s6 = match s6 {
            Some(a) => a,
            None => match cfg.rfc6791_v6 {
                Some((a, _)) => a.octets(),
                None => self.src6(r.egress, Ipv6Addr::from(d6)).octets(),
            },
        };
        if is_err {
            return self.error46(p, cfg, &v, (s6, d6), &r, hairpin);
        }
        let ulen = v.total - v.ihl;
        let mut fh = if v.is_fragment() { 8 } else { 0 };
        let mut needs_frag = false;
        if !back {
            if 40 + fh + ulen > r.mtu && v.df {
                let mtu = r.mtu.saturating_sub(20).max(68) as u32;
                return self.error_about4(cx, p, hairpin, (DEST_UNREACH, du::FRAG_NEEDED, mtu));
            }
            let size = r.mtu.min(usize::from(self.nat64.lowest_mtu));
            if 40 + fh + ulen > size && !v.df {
                needs_frag = true;
                fh = 8;
            }
        }
        let proto = xlat::proto46(v.proto);
        if first {
            let l4 = &mut p.data_mut()[L2 + v.ihl..L2 + v.total];
            if let Err(r) = xlat::fix_transport_46(l4, v.proto, v.src, v.dst, &s6, &d6, ulen) {
                return Verdict::Drop(r);
            }
            if let Some((sp, dp)) = nat_port {
                if v.proto == 1 {
                    xlat::set_ports(l4, 1, dp, dp);
                } else {
                    xlat::set_ports(l4, v.proto, sp, dp);
                }
            }
            if amend {
                let s = checksum::pseudo_v6(&s6, &d6, 17, ulen as u32) + checksum::sum(l4);
                let c = match checksum::finish(s) {
                    0 => 0xffff,
                    c => c,
                };
                l4[6..8].copy_from_slice(&c.to_be_bytes());
            }
        }
        let hl = 40 + fh;
        if hl > v.ihl {
            let grow = hl - v.ihl;
            if p.push_head(grow).is_none() {
                return Verdict::Drop(DropReason::Nat64NoRoom);
            }
            move_eth(p.data_mut(), grow, 0);
        } else {
            let shrink = v.ihl - hl;
            move_eth(p.data_mut(), 0, shrink);
            p.pull_head(shrink);
        }
        if !p.set_len(L2 + hl + ulen) {
            return Verdict::Drop(DropReason::Nat64NoRoom);
        }
        let d = p.data_mut();
        let nh = if fh != 0 { 44 } else { proto };
        xlat::write6(
            &mut d[L2..L2 + 40],
            v.tos,
            (fh + ulen) as u16,
            nh,
            v.ttl,
            &s6,
            &d6,
        );
        if fh != 0 {
            xlat::write_frag(
                &mut d[L2 + 40..L2 + 48],
                proto,
                xlat::Frag {
                    off: v.off,
                    more: v.mf,
                    id: u32::from(v.id),
                },
            );
        }
        self.translated(p, r, true, proto, v.is_fragment(), needs_frag)
    }

    fn error46(
        &mut self,
        p: &mut Packet<'_>,
        cfg: &Nat64Spec,
        v: &xlat::V4,
        (s6, d6): ([u8; 16], [u8; 16]),
        r: &Route,
        hairpin: bool,
    ) -> Verdict {
        let ingress_mtu = usize::from(self.iface(p.meta.iface).mtu);
        let ip = &p.data()[L2..L2 + v.total];
        let msg = &ip[v.ihl..];
        if msg.len() < 8 {
            return Verdict::Drop(DropReason::Nat64Malformed);
        }
        if checksum::fold(checksum::sum(msg)) != 0xffff {
            return Verdict::Drop(DropReason::Nat64IcmpBadChecksum);
        }
        let Some((t, c, kind)) = xlat::error46(msg[0], msg[1], msg[4]) else {
            return Verdict::Drop(DropReason::Nat64IcmpUntranslatable);
        };
        let rest = match kind {
            Rest::Zero => 0,
            Rest::Pointer(x) => u32::from(x),
            Rest::Mtu => {
                let mut m4 = u16::from_be_bytes([msg[6], msg[7]]);
                if m4 == 0 {
                    let quoted = msg
                        .get(10..12)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                    m4 = xlat::plateau(quoted);
                }
                (usize::from(m4) + 20)
                    .min(r.mtu)
                    .min(ingress_mtu + 20)
                    .max(1280) as u32
            }
        };
        let limit = 1280 - 40;
        let st = &mut self.nat64;
        let out = &mut st.scratch[..];
        let n = match st.table.as_ref() {
            Some(table) => xlat::body46(
                msg,
                out,
                limit,
                (t, c, rest),
                &NatMaps { cfg, table },
                hairpin,
            ),
            None => xlat::body46(msg, out, limit, (t, c, rest), cfg, hairpin),
        };
        let n = match n {
            Ok(n) => n,
            Err(r) => return Verdict::Drop(r),
        };
        let sum = checksum::pseudo_v6(&s6, &d6, 58, n as u32) + checksum::sum(&out[..n]);
        let cs = checksum::finish(sum);
        out[2..4].copy_from_slice(&cs.to_be_bytes());
        let (tos, ttl) = (v.tos, v.ttl);
        if !p.set_len(L2 + 40 + n) {
            return Verdict::Drop(DropReason::Nat64NoRoom);
        }
        let d = p.data_mut();
        d[L2 + 40..L2 + 40 + n].copy_from_slice(&self.nat64.scratch[..n]);
        xlat::write6(&mut d[L2..L2 + 40], tos, n as u16, 58, ttl, &s6, &d6);
        self.translated(p, *r, true, 58, false, false)
    }
}

/// Moves the Ethernet header from `d[from..]` to `d[to..]` in two
/// fixed-size copies (`copy_within` calls memmove for its 14 bytes).
/// Offsets the caller checked; out of range, nothing moves.
#[inline(always)]
fn move_eth(d: &mut [u8], from: usize, to: usize) {
    let Some(eth) = d
        .get(from..from + L2)
        .and_then(|b| <[u8; L2]>::try_from(b).ok())
    else {
        return;
    };
    if let Some(t) = d.get_mut(to..to + L2) {
        t.copy_from_slice(&eth);
    }
}
