//! GTP-U's two hooks into the router's fused path ([`crate::router::fast`]):
//! they call gtpu-input's and gtpu-encap's own code (`Core::gtpu_input`,
//! `Core::gtpu_encap`), so a GTP-U packet gets the same bytes, verdict and
//! counters whichever way it goes, and a decapsulated packet goes on in
//! the fused path (forwarded without the graph when it can be). The
//! outer packet of an encapsulation leaves by the router's memoised route
//! ([`Core::memo_out`]) when there is one.

use super::GTP_IFACE;
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
    rep.endpoint(dst)?;
    // Committed: as ip4-input / ip6-input and the local node leave it.
    hit.commit(p);
    let v = core.gtpu_input(cx, p);
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
