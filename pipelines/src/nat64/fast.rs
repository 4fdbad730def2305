//! The translator in the router's fused path ([`crate::router::fast`]):
//! a packet routed into the translator's interface is translated by
//! nat64-xlat's own code ([`Core::translate`]) and, when the router has a
//! memoised route for the translated packet, sent straight out of its
//! port; anything else continues at the node nat64-xlat would have sent
//! it to.

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
