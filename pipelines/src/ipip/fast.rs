//! IP-in-IP's state for speed — the tunnel map that matches outer headers
//! and each tunnel's prepared outer header and last outer route — and its
//! two hooks into the router's fused path ([`crate::router::fast`]).
//!
//! There is one copy of each function: the hooks call the same code as
//! the nodes (`Core::strip_tunnel` after `Core::tunnel_match`, and
//! `Core::encap_into`), so a tunnel packet gets the same bytes, verdict
//! and counters whichever way it goes; the router's differential test
//! (fast path on vs off) checks that.

use std::net::IpAddr;

use super::TC_DROPS;
use crate::router::fast::{Ingress, LocalHit};
use crate::router::resolve::memo_ip;
use crate::router::spec::{IfaceId, OuterModes, RpfMode, MAX_TUNNELS, TUN_BASE};
use crate::router::{Core, IP4_INPUT, IP6_INPUT, IP_REWRITE, L2, TO_REWRITE};
use crate::wire::ethernet::MacAddr;
use crate::{Ctx, Packet, PortId, Verdict};

/// Entries of the tunnel map used to match IP-in-IP packets.
pub(crate) const TUN_MAP: usize = 64;

/// One slot of the tunnel map: outer (protocol, destination = our local
/// end, source = the remote end), IPv4 as `::ffff:a.b.c.d`.
#[derive(Clone, Copy, Default)]
pub(crate) struct TunSlot {
    proto: u8,
    local: u128,
    remote: u128,
    /// `TUN_BASE + slot`; 0: empty; `AMBIGUOUS`: two tunnels share the
    /// slot (the exact scan decides).
    id: IfaceId,
    hit: TunHit,
}

/// A tunnel an outer header matched: its interface, inner family,
/// reverse-path filter and counter serial.
#[derive(Clone, Copy, Default)]
pub(crate) struct TunHit {
    pub id: IfaceId,
    pub inner_v6: bool,
    pub rpf: RpfMode,
    pub serial: u64,
}

impl TunHit {
    fn of(id: IfaceId, t: &crate::router::table::Tunnel) -> Self {
        TunHit {
            id,
            inner_v6: t.spec.kind.inner_v6(),
            rpf: t.iface.rpf,
            serial: t.serial,
        }
    }
}

const AMBIGUOUS: IfaceId = IfaceId::MAX;

#[inline(always)]
fn tun_slot(proto: u8, local: u128, remote: u128) -> usize {
    let x = local ^ remote.rotate_left(17) ^ u128::from(proto);
    let x = (x as u64) ^ ((x >> 64) as u64);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % TUN_MAP
}

/// A tunnel as encapsulation sees it: the outer header prepared once
/// (everything but the per-packet fields), the modes, and the last route
/// of the outer packet.
#[derive(Clone, Copy)]
pub(crate) struct TunOut {
    pub live: bool,
    /// The endpoints are not of one family (no outer header can be made).
    pub mixed: bool,
    pub serial: u64,
    pub outer_v6: bool,
    pub inner_v6: bool,
    pub proto: u8,
    /// The outer IPv4 (20 bytes) or IPv6 (40 bytes) header; length, TOS,
    /// identification, flags, TTL and checksum are per packet.
    pub hdr: [u8; 40],
    pub modes: OuterModes,
    /// The outer destination's key.
    pub remote: u128,
    pub out: OuterRoute,
}

impl Default for TunOut {
    fn default() -> Self {
        TunOut {
            live: false,
            mixed: false,
            serial: 0,
            outer_v6: false,
            inner_v6: false,
            proto: 0,
            hdr: [0; 40],
            modes: OuterModes::default(),
            remote: 0,
            out: OuterRoute::default(),
        }
    }
}

/// Where a tunnel's outer packets went last: valid while the route table
/// and the neighbour cache are unchanged and the neighbour's reachable
/// time lasts.
#[derive(Clone, Copy, Default)]
pub(crate) struct OuterRoute {
    pub valid: bool,
    pub version: u64,
    pub gen: u64,
    pub until: u64,
    pub nh: u32,
    pub port: PortId,
    pub mtu: u16,
    pub src: MacAddr,
    pub dst: MacAddr,
}

/// IP-in-IP's per-worker state kept in the router's [`Core`].
pub(crate) struct State {
    pub map: Box<[TunSlot; TUN_MAP]>,
    pub out: Box<[TunOut]>,
}

impl Default for State {
    fn default() -> Self {
        State {
            map: Box::new([TunSlot::default(); TUN_MAP]),
            out: vec![TunOut::default(); MAX_TUNNELS].into_boxed_slice(),
        }
    }
}

/// Rebuilds the map and the prepared headers from the route table's
/// tunnels (a [`crate::router::registry::Feature`] hook: at start and when
/// a new table is published). A tunnel whose serial is unchanged keeps its
/// last outer route (it is checked per use anyway).
pub(crate) fn rebuild(core: &mut Core) {
    let table = core.table.clone();
    let st = &mut core.ipip;
    for (slot, ft) in st.out.iter_mut().enumerate() {
        let Some(Some(t)) = table.tunnels.get(slot) else {
            *ft = TunOut::default();
            continue;
        };
        if ft.live && ft.serial == t.serial {
            continue;
        }
        let s = &t.spec;
        let mut hdr = [0u8; 40];
        let (outer_v6, remote, mixed) = match (s.local, s.remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                hdr[0] = 0x45;
                hdr[9] = s.kind.proto();
                hdr[12..16].copy_from_slice(&l.octets());
                hdr[16..20].copy_from_slice(&r.octets());
                (false, u128::from(r.to_bits()), false)
            }
            (IpAddr::V6(l), IpAddr::V6(r)) => {
                hdr[0] = 0x60;
                hdr[6] = s.kind.proto();
                hdr[8..24].copy_from_slice(&l.octets());
                hdr[24..40].copy_from_slice(&r.octets());
                (true, r.to_bits(), false)
            }
            _ => (false, 0, true),
        };
        *ft = TunOut {
            live: true,
            mixed,
            serial: t.serial,
            outer_v6,
            inner_v6: s.kind.inner_v6(),
            proto: s.kind.proto(),
            hdr,
            modes: s.modes(),
            remote,
            out: OuterRoute::default(),
        };
    }
    *st.map = [TunSlot::default(); TUN_MAP];
    for (i, t) in table.tunnels.iter().enumerate() {
        let Some(t) = t else { continue };
        let (proto, local, remote) = (
            t.spec.kind.proto(),
            memo_ip(t.spec.local),
            memo_ip(t.spec.remote),
        );
        let slot = &mut st.map[tun_slot(proto, local, remote)];
        let id = TUN_BASE + i as IfaceId;
        *slot = if slot.id == 0 {
            TunSlot {
                proto,
                local,
                remote,
                id,
                hit: TunHit::of(id, t),
            }
        } else {
            TunSlot {
                id: AMBIGUOUS,
                ..*slot
            }
        };
    }
}

impl Core {
    /// The tunnel (its interface id, and whether it carries IPv6) whose
    /// outer protocol, local and remote ends are `proto`, `dst`, `src`
    /// (address keys): the map's answer, or the first in slot order when
    /// two tunnels share a map slot.
    #[inline(always)]
    pub(crate) fn tunnel_match(&self, proto: u8, dst: u128, src: u128) -> Option<TunHit> {
        let e = &self.ipip.map[tun_slot(proto, dst, src)];
        match e.id {
            0 => None,
            AMBIGUOUS => self.table.tunnels.iter().enumerate().find_map(|(i, t)| {
                let t = t.as_ref()?;
                (t.spec.kind.proto() == proto
                    && memo_ip(t.spec.local) == dst
                    && memo_ip(t.spec.remote) == src)
                    .then(|| TunHit::of(TUN_BASE + i as IfaceId, t))
            }),
            _ if e.proto == proto && e.local == dst && e.remote == src => Some(e.hit),
            _ => None,
        }
    }
}

/// The fused path's hook for protocols 4 and 41 to us: decapsulates (as
/// ipip-decap) if a tunnel matches exactly, and hands the inner packet
/// back to input as received on the tunnel. `None`: no tunnel matches
/// (the address may not even be ours: the fused path's filter is
/// approximate) or the packet came out of a tunnel already — the graph
/// decides, nothing was changed.
#[inline(always)]
pub(crate) fn fast_local(
    core: &mut Core,
    _cx: &mut Ctx<'_>,
    p: &mut Packet<'_>,
    hit: &mut LocalHit,
) -> Option<Verdict> {
    // (A packet that came out of a tunnel is never offered here: the
    // fused path does not call features for it.)
    let t = core.tunnel_match(hit.proto, hit.dst, hit.src)?;
    // Committed: ip4-input's / ip6-input's padding cut, then ipip-decap.
    p.set_len(hit.end);
    if let Err(r) = core.strip_tunnel(p, L2 + hit.hl, t, hit.ecn) {
        hit.commit(p);
        return Some(Verdict::Drop(r));
    }
    // The inner packet continues as received on the tunnel.
    hit.ingress = Ingress {
        iface: t.id,
        rpf: t.rpf,
        decapped: true,
    };
    Some(Verdict::Next(if t.inner_v6 {
        IP6_INPUT
    } else {
        IP4_INPUT
    }))
}

/// The fused path's hook for packets routed into a tunnel (the output of
/// tunnel interfaces): ipip-encap's own code, its verdict naming nodes.
#[inline(always)]
pub(crate) fn fast_output(
    core: &mut Core,
    cx: &mut Ctx<'_>,
    p: &mut Packet<'_>,
    id: IfaceId,
) -> Verdict {
    match core.encap_counted(cx, p, id) {
        Verdict::Next(TO_REWRITE) => Verdict::Next(IP_REWRITE),
        v => v,
    }
}

impl Core {
    /// [`Core::encap_into`], with its drops counted against the tunnel.
    #[inline(always)]
    pub(crate) fn encap_counted(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &mut Packet<'_>,
        id: IfaceId,
    ) -> Verdict {
        let v = self.encap_into(cx, p, id);
        if let Verdict::Drop(r) = v {
            self.tunnel_count(id, TC_DROPS + r.index(), 1);
        }
        v
    }

    /// Tunnel `slot`'s last outer route, if it still holds for an outer
    /// packet of `total` bytes: the route table and the neighbour cache
    /// unchanged, the neighbour's reachable time not over.
    #[inline(always)]
    pub(crate) fn outer_memo(&self, now: u64, slot: usize, total: usize) -> Option<&OuterRoute> {
        let r = &self.ipip.out.get(slot)?.out;
        (r.valid
            && r.version == self.table.version
            && r.gen == self.neigh.gen()
            && now < r.until
            && total <= r.mtu as usize)
            .then_some(r)
    }

    /// The router's memoised route to tunnel `slot`'s remote end for an
    /// outer packet of `total` bytes, kept as the tunnel's outer route.
    /// Out of line: once per tunnel and route or neighbour change.
    #[inline(never)]
    pub(crate) fn outer_fresh(
        &mut self,
        now: u64,
        slot: usize,
        total: usize,
    ) -> Option<OuterRoute> {
        let t = self.ipip.out.get(slot)?;
        let m = self.memo_route(now, t.remote, t.outer_v6, total)?;
        let fresh = OuterRoute {
            valid: true,
            version: self.table.version,
            gen: self.neigh.gen(),
            until: m.until,
            nh: m.nh,
            port: m.port,
            mtu: m.mtu,
            src: m.src,
            dst: m.dst,
        };
        if let Some(t) = self.ipip.out.get_mut(slot) {
            t.out = fresh;
        }
        Some(fresh)
    }
}
