//! What features plug into the router's generic nodes, declared by the
//! features themselves and read when a graph is built:
//!
//! - **local delivery**: ip4-local / ip6-local hand a packet addressed to
//!   us to the node registered for its IP protocol or its UDP destination
//!   port (GTP-U will register UDP 2152); what nobody registered keeps the
//!   router's own answers (echo, NDP, port/protocol unreachable).
//! - **ICMP errors about a protocol**: a Fragmentation Needed / Packet Too
//!   Big quoting a packet of a registered protocol goes to that feature
//!   (IP-in-IP relays it to the inner sender); otherwise it is consumed.
//! - **interface output**: a route's egress interface names the node that
//!   finishes the packet (an adjacency): `ip-rewrite` for Ethernet
//!   interfaces, a feature's node for its virtual interfaces (a tunnel's
//!   `ipip-encap`). ip4-lookup / ip6-lookup send packets there without
//!   knowing what is behind it.

/// IPv4, IPv6 or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
    Both,
}

impl Family {
    fn has(self, v6: bool) -> bool {
        matches!(
            (self, v6),
            (Family::Both, _) | (Family::V4, false) | (Family::V6, true)
        )
    }
}

/// What a local-delivery registration matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalMatch {
    /// Packets to us of this IP protocol.
    Proto(u8),
    /// UDP datagrams to us with this destination port.
    UdpPort(u16),
    /// ICMP Fragmentation Needed / Packet Too Big to us quoting a packet of
    /// this IP protocol.
    ErrorAbout(u8),
}

/// One local-delivery registration: `node` gets the matching packets.
#[derive(Clone, Copy, Debug)]
pub struct Local {
    pub family: Family,
    pub what: LocalMatch,
    pub node: &'static str,
}

/// A feature: its local-delivery registrations, the output node of its
/// virtual interfaces (if it has any), and its hooks into the router's
/// fused path ([`super::fast`]), which call the same code as its nodes.
pub struct Feature {
    pub name: &'static str,
    pub local: &'static [Local],
    /// IPv4 packets to us that the feature takes before any other
    /// registration or answer of the router's (stateful NAT64: its pool4
    /// transport addresses, on an address it may share with the host):
    /// the test, and the node that gets them.
    pub claim4: Option<(Claim, &'static str)>,
    pub output: Option<&'static str>,
    /// Its entry points into the fused path (for packets to us of the
    /// protocols it registered with [`LocalMatch::Proto`], and for packets
    /// routed to one of its interfaces).
    pub fused: Option<Fused>,
    /// When the route table changes (its per-worker state follows).
    pub rebuild: Option<fn(&mut super::Core)>,
    /// Once per burst, before the fused path takes its frames one by one:
    /// a look at the whole burst to prefetch the state its frames will
    /// touch (so their cache misses overlap rather than stall each frame
    /// in turn). It changes nothing.
    pub prefetch: Option<fn(&super::Core, &[crate::Packet<'_>])>,
    /// A frame that came in on one of its interfaces was dropped.
    pub iface_drop: Option<fn(&mut super::Core, &crate::Meta, crate::DropReason)>,
    /// Where the inner packet of an outer packet it made starts and how
    /// big its fragments may be (ip-rewrite fragments an inner IPv4
    /// packet marked NEEDS_FRAG inside a copy of the outer headers), if
    /// the packet is one of its.
    pub inner: Option<InnerOf>,
}

/// See [`Feature::claim4`].
pub type Claim = fn(&super::Core, &crate::Packet<'_>) -> bool;

/// See [`Feature::inner`].
pub type InnerOf = fn(&super::Core, &crate::Packet<'_>) -> Option<Inner>;

/// The encapsulation of an outer packet a feature made around an inner
/// IPv4 packet to fragment (see [`Feature::inner`]).
#[derive(Clone, Copy)]
pub struct Inner {
    /// Bytes of the feature's headers (outer IP and any others) before
    /// the inner packet.
    pub pre: usize,
    /// The largest inner fragment (the feature's interface MTU).
    pub mtu: usize,
    /// Sets the lengths (and checksums) of the headers `o` (outer IPv4 or
    /// IPv6 first: `v4`) for an inner packet `inner` (a fragment), with
    /// the outer IPv4 identification `ident` if given. False: they could
    /// not be written.
    pub fix: fn(o: &mut [u8], v4: bool, inner: &[u8], ident: Option<u16>) -> bool,
}

/// The encapsulation of an outer packet marked NEEDS_FRAG, from the
/// feature that made it (ip-rewrite's fragmentation; off the fast path).
pub(crate) fn inner_of(core: &super::Core, p: &crate::Packet<'_>) -> Option<Inner> {
    FEATURES
        .iter()
        .filter_map(|f| f.inner)
        .find_map(|f| f(core, p))
}

/// The features with entry points into the router's fused path
/// ([`super::fast`]). Dispatch is a `match`, one line per feature: calling
/// through a table of function pointers cost 16 more instructions per
/// decapsulated packet (`bench/callgrind.sh ipip-decap`, 823.4 vs 807.4)
/// and keeps the compiler from inlining the feature's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fused {
    Ipip,
    Gtpu,
    Nat64,
}

impl Fused {
    /// The reasons the feature's fused code drops frames under (as its
    /// nodes would; lists to be joined): `router-fast`'s declared drops.
    pub fn drops(self) -> &'static [&'static [crate::DropReason]] {
        match self {
            Fused::Ipip => &[crate::ipip::STRIP_DROPS, crate::ipip::ENCAP_DROPS],
            Fused::Gtpu => &[crate::gtpu::INPUT_DROPS, crate::gtpu::ENCAP_DROPS],
            Fused::Nat64 => &[crate::nat64::DROPS],
        }
    }

    /// A packet maybe to us of a protocol the feature registered
    /// (`hit` says what the fused path knows). `None`: not the feature's
    /// (nothing changed; the graph decides). Otherwise its verdict, `Next`
    /// naming a node; `Next(IP4_INPUT / IP6_INPUT)` with `hit.ingress` set
    /// hands an inner packet back to input as received there.
    #[inline(always)]
    pub(crate) fn local(
        self,
        core: &mut super::Core,
        cx: &mut crate::Ctx<'_>,
        p: &mut crate::Packet<'_>,
        hit: &mut super::fast::LocalHit,
    ) -> Option<crate::Verdict> {
        match self {
            Fused::Ipip => crate::ipip::fast::fast_local(core, cx, p, hit),
            Fused::Gtpu => crate::gtpu::fast::fast_local(core, cx, p, hit),
            // The translator's claim (stateful NAT64's pool4), which
            // comes before any registration (`Core::fast_claim4`).
            Fused::Nat64 => crate::nat64::fast::fast_claim(core, cx, p, hit),
        }
    }

    /// A packet routed to one of the feature's interfaces (TTL already
    /// decremented, metadata as ip4-lookup / ip6-lookup leave it): its
    /// output node's code, the verdict's `Next` naming a node.
    #[inline(always)]
    pub(crate) fn output(
        self,
        core: &mut super::Core,
        cx: &mut crate::Ctx<'_>,
        p: &mut crate::Packet<'_>,
        iface: super::spec::IfaceId,
    ) -> crate::Verdict {
        match self {
            Fused::Ipip => crate::ipip::fast::fast_output(core, cx, p, iface),
            Fused::Gtpu => crate::gtpu::fast::fast_output(core, cx, p, iface),
            Fused::Nat64 => crate::nat64::fast::fast_output(core, cx, p, iface),
        }
    }
}

/// Every feature plugged into the router.
pub const FEATURES: &[&Feature] = &[
    &crate::ipip::FEATURE,
    &crate::gtpu::FEATURE,
    &crate::nat64::FEATURE,
];

/// The output nodes of interfaces: index 0 is Ethernet (`ip-rewrite`),
/// then every feature's in [`FEATURES`] order. An interface's
/// [`super::spec::IfaceSpec::output`] indexes this list.
pub fn outputs() -> impl Iterator<Item = &'static str> {
    std::iter::once("ip-rewrite").chain(FEATURES.iter().filter_map(|f| f.output))
}

/// The output index of the feature named `feature` (its virtual
/// interfaces carry it).
pub fn output_of(feature: &str) -> u8 {
    FEATURES
        .iter()
        .filter(|f| f.output.is_some())
        .position(|f| f.name == feature)
        .map_or(0, |i| i as u8 + 1)
}

/// The feature owning output index `o` (see [`outputs`]); none for 0.
pub fn feature_of_output(o: u8) -> Option<&'static Feature> {
    let o = (o as usize).checked_sub(1)?;
    FEATURES
        .iter()
        .filter(|f| f.output.is_some())
        .nth(o)
        .copied()
}

/// "No registration": an arc index no node has.
pub const NONE: u8 = u8::MAX;

/// The registrations of one family, turned into arcs of a local node
/// whose arcs start with `first` (the names before the registered ones).
pub struct LocalArcs {
    pub names: Vec<&'static str>,
    /// IPv4 claims ([`Feature::claim4`]) and their arcs.
    pub claims: Vec<(Claim, u8)>,
    pub proto: [u8; 256],
    pub error_about: [u8; 256],
    pub udp: Vec<(u16, u8)>,
}

/// All registrations, read once per graph build.
pub struct Registry {
    local: Vec<Local>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        Registry {
            local: FEATURES
                .iter()
                .flat_map(|f| f.local.iter().copied())
                .collect(),
        }
    }

    /// The arcs and dispatch tables of ip4-local (`v6` false) or ip6-local.
    pub fn local_arcs(&self, v6: bool, first: &[&'static str]) -> LocalArcs {
        let mut a = LocalArcs {
            names: first.to_vec(),
            claims: Vec::new(),
            proto: [NONE; 256],
            error_about: [NONE; 256],
            udp: Vec::new(),
        };
        for r in self.local.iter().filter(|r| r.family.has(v6)) {
            let arc = match a.names.iter().position(|&n| n == r.node) {
                Some(i) => i,
                None => {
                    a.names.push(r.node);
                    a.names.len() - 1
                }
            } as u8;
            match r.what {
                LocalMatch::Proto(p) => a.proto[p as usize] = arc,
                LocalMatch::ErrorAbout(p) => a.error_about[p as usize] = arc,
                LocalMatch::UdpPort(port) => a.udp.push((port, arc)),
            }
        }
        if !v6 {
            for &(f, node) in FEATURES.iter().filter_map(|f| f.claim4.as_ref()) {
                let arc = match a.names.iter().position(|&n| n == node) {
                    Some(i) => i,
                    None => {
                        a.names.push(node);
                        a.names.len() - 1
                    }
                } as u8;
                a.claims.push((f, arc));
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fused feature files only what its nodes declare (the fused code
    /// is their code), and `router-fast` declares all of it.
    #[test]
    fn fused_drops_are_the_feature_nodes_drops() {
        let nodes = crate::router::nodes();
        let fast = &nodes[0];
        assert_eq!(fast.name, "router-fast");
        for f in FEATURES {
            let Some(fused) = f.fused else { continue };
            let mine: Vec<&str> = f.local.iter().map(|l| l.node).chain(f.output).collect();
            for r in fused.drops().iter().copied().flatten() {
                assert!(
                    nodes
                        .iter()
                        .any(|n| mine.contains(&n.name) && n.drops.contains(r)),
                    "{}: {} is not declared by its nodes",
                    f.name,
                    r.name()
                );
                assert!(fast.drops.contains(r), "router-fast lacks {}", r.name());
            }
        }
    }

    #[test]
    fn features_register_their_protocols_ports_and_outputs() {
        let r = Registry::new();
        for v6 in [false, true] {
            let a = r.local_arcs(v6, &["ip4-lookup", "ip6-lookup"]);
            let mut names = vec![
                "ip4-lookup",
                "ip6-lookup",
                "ipip-decap",
                "ipip-icmp-relay",
                "gtpu-input",
            ];
            if !v6 {
                // NAT64's pool4 claim, after the registrations.
                names.push("nat64-xlat");
            }
            assert_eq!(a.names, names);
            assert_eq!(a.claims.len(), usize::from(!v6));
            assert_eq!((a.proto[4], a.proto[41], a.proto[17]), (2, 2, NONE));
            assert_eq!((a.error_about[4], a.error_about[41]), (3, 3));
            assert_eq!(a.udp, [(2152, 4)]);
        }
        assert_eq!(
            outputs().collect::<Vec<_>>(),
            ["ip-rewrite", "ipip-encap", "gtpu-encap", "nat64-xlat"]
        );
        assert_eq!(output_of("ipip"), 1);
        assert_eq!(output_of("gtpu"), 2);
        assert_eq!(output_of("nat64"), 3);
        assert_eq!(output_of("nothing"), 0);
    }
}
