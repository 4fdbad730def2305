//! GTP-U's two hooks into the router's fused path ([`crate::router::fast`]):
//! they call gtpu-input's and gtpu-encap's own code (`Core::gtpu_input`,
//! `Core::gtpu_encap`), so a GTP-U packet gets the same bytes, verdict and
//! counters whichever way it goes, and a decapsulated packet goes on in
//! the fused path (forwarded without the graph when it can be). The
//! outer packet of an encapsulation leaves by the router's memoised route
//! ([`Core::memo_out`]) when there is one.

use super::session::Ahead;
use super::{addr16, addr4, GTP_IFACE};
use crate::router::fast::{Ingress, LocalHit};
use crate::router::spec::IfaceId;
use crate::router::{Core, IP4_INPUT, IP4_LOOKUP, IP6_INPUT, IP6_LOOKUP, IP_REWRITE, L2};
use crate::wire::gtpu::PORT;
use crate::{Ctx, Meta, Packet, Verdict};

/// A gtpu-input / gtpu-encap verdict with its arcs as the router's node
/// indexes.
#[inline(always)]
fn to_nodes(v: Verdict) -> Verdict {
    match v {
        Verdict::Next(0) => Verdict::Next(IP4_LOOKUP),
        Verdict::Next(1) => Verdict::Next(IP6_LOOKUP),
        Verdict::Next(2) => Verdict::Next(IP_REWRITE),
        v => v,
    }
}

/// The fused path's hook for UDP to us: a datagram to port 2152 of one of
/// the endpoints is gtpu-input's; anything else (another port, an address
/// that is not an endpoint or not even ours: the fused path's filter is
/// approximate) is left to the graph, unchanged (`None`).
#[inline(always)]
pub(crate) fn fast_local(
    core: &mut Core,
    cx: &mut Ctx<'_>,
    p: &mut Packet<'_>,
    hit: &mut LocalHit,
) -> Option<Verdict> {
    let rep = core.gtpu.sessions.as_ref()?;
    let l4 = L2 + hit.hl;
    let d = p.data();
    let port = d.get(l4 + 2..l4 + 4)?;
    if u16::from_be_bytes([port[0], port[1]]) != PORT {
        return None;
    }
    let dst = if hit.v6 {
        d.get(L2 + 24..L2 + 40)?
    } else {
        d.get(L2 + 16..L2 + 20)?
    };
    let ep = rep.endpoint(dst)?;
    // Committed: as ip4-input / ip6-input and the local node leave it.
    hit.commit(p);
    let v = core.gtpu_input(cx, p, Some(ep));
    match v {
        Verdict::Next(super::TO_IP4_INPUT) | Verdict::Next(super::TO_IP6_INPUT) => {
            // The inner packet goes on as received on the GTP-U interface.
            hit.ingress = Ingress {
                iface: GTP_IFACE,
                rpf: core.gtpu.iface.rpf,
                decapped: true,
            };
            Some(Verdict::Next(if v == Verdict::Next(super::TO_IP6_INPUT) {
                IP6_INPUT
            } else {
                IP4_INPUT
            }))
        }
        v => Some(to_nodes(v)),
    }
}

/// The fused path's hook for packets routed into the GTP-U interface:
/// gtpu-encap's code, then the outer packet straight out of its port when
/// the router has a memoised route for it (else the lookup node).
#[inline(always)]
pub(crate) fn fast_output(
    core: &mut Core,
    cx: &mut Ctx<'_>,
    p: &mut Packet<'_>,
    _iface: IfaceId,
) -> Verdict {
    let v = core.gtpu_encap(cx, p);
    let outer_v6 = match v {
        Verdict::Next(0) => false,
        Verdict::Next(1) => true,
        v => return to_nodes(v),
    };
    // An inner packet to fragment takes the graph (ip-rewrite does it).
    if p.meta.flags & Meta::NEEDS_FRAG != 0 {
        return to_nodes(v);
    }
    let d = p.data();
    let total = d.len() - L2;
    let dst = if outer_v6 {
        d.get(L2 + 24..L2 + 40)
            .and_then(|b| b.try_into().ok())
            .map(u128::from_be_bytes)
    } else {
        d.get(L2 + 16..L2 + 20)
            .and_then(|b| b.try_into().ok())
            .map(|b| u128::from(u32::from_be_bytes(b)))
    };
    let Some(r) = dst.and_then(|dst| core.memo_out(cx.now_ns, dst, outer_v6, total)) else {
        return to_nodes(v);
    };
    if let Some(h) = p.data_mut().first_chunk_mut::<12>() {
        h[..6].copy_from_slice(&r.dst.0);
        h[6..].copy_from_slice(&r.src.0);
    }
    p.meta.nh = r.nh;
    Verdict::Tx(r.port)
}

/// The router's per-burst pre-pass ([`crate::router::registry::Feature::prefetch`]):
/// with a session table too big for the caches
/// ([`super::session::Replica::prefetch_on`]), every frame's session is
/// looked up ahead in two loops, so the misses of the burst overlap (no
/// iteration depends on another) instead of each packet stalling on its
/// own in turn: VPP's two-pass lookup. The first loop hashes each frame's
/// key — a G-PDU's endpoint and TEID, anything else's destination as a
/// UE — and prefetches its index bucket, whose address the hash alone
/// gives ([`crate::flat::FlatIndex`]); the second reads the bucket's
/// fingerprint match and prefetches that session's entry (its first
/// line: all a session without a maximum bit rate needs) and counters;
/// a third, only when some session has a rate, prefetches the second
/// line (the token buckets) of those that do.
/// Frames are only read; what is not an untagged IPv4 / IPv6 frame with
/// a plain header is passed over, and the packets' own pass decides
/// everything as before (its lookups then hit the cache).
pub(crate) fn prefetch(core: &Core, pkts: &[Packet<'_>]) {
    let Some(rep) = core.gtpu.sessions.as_ref() else {
        return;
    };
    if !rep.prefetch_on() {
        return;
    }
    let mut ahead = arrayvec::ArrayVec::<Ahead, { crate::MAX_BURST }>::new();
    for p in pkts.iter().take(crate::MAX_BURST) {
        let d = p.data();
        let a = match d.get(12..14) {
            Some([0x08, 0x00]) => {
                let Some(h) = d.first_chunk::<{ L2 + 28 + 8 }>() else {
                    continue;
                };
                let dst = &h[L2 + 16..L2 + 20];
                // IPv4 without options, UDP to port 2152: a G-PDU's TEID.
                if h[L2] == 0x45 && h[L2 + 9] == 17 && h[L2 + 22..L2 + 24] == PORT.to_be_bytes() {
                    let Some(ep) = rep.endpoint(dst) else {
                        continue;
                    };
                    rep.ahead_uplink(ep, u32::from_be_bytes(addr4(h, L2 + 32)))
                } else {
                    rep.ahead_downlink4(u32::from_be_bytes(addr4(h, L2 + 16)))
                }
            }
            Some([0x86, 0xdd]) => {
                let Some(h) = d.first_chunk::<{ L2 + 48 + 8 }>() else {
                    continue;
                };
                let dst = &h[L2 + 24..L2 + 40];
                if h[L2 + 6] == 17 && h[L2 + 42..L2 + 44] == PORT.to_be_bytes() {
                    let Some(ep) = rep.endpoint(dst) else {
                        continue;
                    };
                    rep.ahead_uplink(ep, u32::from_be_bytes(addr4(h, L2 + 52)))
                } else {
                    rep.ahead_downlink6(u128::from_be_bytes(addr16(h, L2 + 24)))
                }
            }
            _ => continue,
        };
        ahead.push(a);
    }
    let mut slots = arrayvec::ArrayVec::<u32, { crate::MAX_BURST }>::new();
    for a in ahead {
        if let Some(s) = rep.ahead_slot(a) {
            slots.push(s);
        }
    }
    if rep.any_rated() {
        for s in slots {
            rep.prefetch_rated(s);
        }
    }
}
