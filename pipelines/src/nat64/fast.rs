//! The translator in the router's fused path ([`crate::router::fast`]):
//! a packet routed into the translator's interface is translated by
//! nat64-xlat's own code ([`Core::translate`]) and, when the router has a
//! memoised route for the translated packet, sent straight out of its
//! port; anything else continues at the node nat64-xlat would have sent
//! it to.

use crate::router::fast::{be128, be16, LocalHit};
use crate::router::spec::IfaceId;
use crate::router::{Core, IP4_LOOKUP, IP6_LOOKUP, IP_REWRITE, L2, NAT64_XLAT, TO_REWRITE};
use crate::{Ctx, Meta, Packet, Verdict};

/// The fused path's hook for packets routed into the translator.
#[inline(always)]
pub(crate) fn fast_output(
    core: &mut Core,
    cx: &mut Ctx<'_>,
    p: &mut Packet<'_>,
    _iface: IfaceId,
) -> Verdict {
    translate(core, cx, p)
}

/// The fused path's hook for IPv4 packets to us (stateful NAT64 only): one
/// that ip4-local would hand the translator (its pool4 transport address,
/// [`super::claim4_at`]) is translated here, as nat64-xlat would; any
/// other is left to the rest of the fused path (`None`, unchanged).
#[inline(always)]
pub(crate) fn fast_claim(
    core: &mut Core,
    cx: &mut Ctx<'_>,
    p: &mut Packet<'_>,
    hit: &mut LocalHit,
) -> Option<Verdict> {
    if hit.v6 || !super::claim4_at(core, p.data().get(..hit.end)?, L2 + hit.hl, hit.proto) {
        return None;
    }
    // Committed: as ip4-input and ip4-local's claim leave it.
    hit.commit(p);
    Some(translate(core, cx, p))
}

/// nat64-xlat's code, then the translated packet straight out of its port
/// when the router has a memoised route for it (else the node nat64-xlat
/// would have sent it to).
#[inline(always)]
fn translate(core: &mut Core, cx: &mut Ctx<'_>, p: &mut Packet<'_>) -> Verdict {
    let Some(cfg) = core.nat64.cfg.take() else {
        return Verdict::Next(NAT64_XLAT);
    };
    let v = core.translate(cx, p, &cfg);
    core.nat64.cfg = Some(cfg);
    // nat64-xlat's arcs: ip4-lookup, ip6-lookup, then the interface
    // outputs (ip-rewrite first), then drop.
    let o = match v {
        Verdict::Next(0) => return Verdict::Next(IP4_LOOKUP),
        Verdict::Next(1) => return Verdict::Next(IP6_LOOKUP),
        Verdict::Next(k) => k - TO_REWRITE,
        v => return v,
    };
    let Some(&node) = core.output_node.get(usize::from(o)) else {
        return Verdict::Next(IP_REWRITE);
    };
    if o != 0 || p.meta.flags & Meta::NEEDS_FRAG != 0 {
        return Verdict::Next(node);
    }
    let v6 = p.meta.ethertype == 0x86dd;
    let d = p.data();
    let total = d.len() - L2;
    let dst = if v6 {
        d.get(L2 + 24..L2 + 40)
            .and_then(|b| b.try_into().ok())
            .map(u128::from_be_bytes)
    } else {
        d.get(L2 + 16..L2 + 20)
            .and_then(|b| b.try_into().ok())
            .map(|b| u128::from(u32::from_be_bytes(b)))
    };
    // (nat64-xlat looked the next hop up already: `Meta.nh`.)
    let nh = p.meta.nh;
    let Some(r) = dst.and_then(|dst| core.memo_nh(cx.now_ns, nh, dst, v6, total)) else {
        return Verdict::Next(node);
    };
    let et = p.meta.ethertype.to_be_bytes();
    if let Some(h) = p.data_mut().first_chunk_mut::<14>() {
        h[..6].copy_from_slice(&r.dst.0);
        h[6..12].copy_from_slice(&r.src.0);
        h[12..14].copy_from_slice(&et);
    }
    Verdict::Tx(r.port)
}

/// The router's per-burst pre-pass ([`crate::router::registry::Feature::prefetch`])
/// for stateful NAT64 with a table too big for the caches
/// ([`super::stateful::Table::prefetch_on`]): each frame that looks like
/// a TCP or UDP packet of a flow through the translator (IPv6 into
/// pool6, IPv4 to a pool4 address; plain headers only) is looked up
/// ahead in three loops, so the burst's cache misses overlap instead of
/// stalling each packet in turn: the session's index bucket (whose
/// address the hash of the flow gives, [`crate::flat::FlatIndex`]) is
/// prefetched; then the session the bucket names; then its binding. (Each loop's lookups are independent of one another;
/// with hashbrown tables one loop doing both lookups, the session's key
/// waiting on the binding's, measured 19.21 against 17.34 µs per burst
/// at 1M sessions for two.) Frames are only read; the packets' own pass
/// decides everything.
pub(crate) fn prefetch(core: &Core, pkts: &[Packet<'_>]) {
    let (Some(t), Some(cfg)) = (core.nat64.table.as_ref(), core.nat64.cfg.as_deref()) else {
        return;
    };
    if !t.prefetch_on() {
        return;
    }
    // (session hash, from IPv6)
    let mut later = arrayvec::ArrayVec::<(u64, bool), { crate::MAX_BURST }>::new();
    for p in pkts.iter().take(crate::MAX_BURST) {
        let d = p.data();
        match d.get(12..14) {
            Some([0x86, 0xdd]) => {
                let Some(h) = d.first_chunk::<{ L2 + 44 }>() else {
                    continue;
                };
                let proto = h[L2 + 6];
                if proto != 6 && proto != 17 {
                    continue;
                }
                let dst = be128(h, L2 + 24);
                let Some(r4) = cfg.pool6.as_ref().and_then(|p6| p6.extract_u(dst)) else {
                    continue;
                };
                let a6 = be128(h, L2 + 8).to_be_bytes();
                let (sp, dp) = (be16(h, L2 + 40), be16(h, L2 + 42));
                let r4 = r4.to_be_bytes();
                later.push((t.ahead_session(proto, Some(a6), [0; 4], sp, (r4, dp)), true));
            }
            Some([0x08, 0x00]) => {
                let Some(h) = d.first_chunk::<{ L2 + 24 }>() else {
                    continue;
                };
                let proto = h[L2 + 9];
                if h[L2] != 0x45 || (proto != 6 && proto != 17) {
                    continue;
                }
                let a4 = [h[L2 + 16], h[L2 + 17], h[L2 + 18], h[L2 + 19]];
                if !t.is_pool4_addr(a4) {
                    continue;
                }
                let r4 = [h[L2 + 12], h[L2 + 13], h[L2 + 14], h[L2 + 15]];
                let (sp, dp) = (be16(h, L2 + 20), be16(h, L2 + 22));
                later.push((t.ahead_session(proto, None, a4, dp, (r4, sp)), false));
            }
            _ => {}
        }
    }
    let mut last = arrayvec::ArrayVec::<u32, { crate::MAX_BURST }>::new();
    for &(h, v6) in &later {
        if let Some(i) = t.ahead_entry(h, v6) {
            last.push(i);
        }
    }
    for i in last {
        t.ahead_bib(i);
    }
}
