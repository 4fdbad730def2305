//! xgw's protocol logic: packet views, stages and graphs of nodes, tables
//! and the drop-reason table. Nothing here does I/O or needs root, and
//! nothing here is `unsafe` but two hints (`hint.rs`: a software
//! prefetch and huge-page advice, behind safe functions): the engine crate owns
//! UMEM, sockets and threads and hands stages and nodes plain `&mut [u8]`
//! views of the frames of one burst.
#![deny(unsafe_code)]

pub mod drop;
pub mod fib;
mod flat;
pub mod graph;
pub mod gtpu;
mod hint;
pub mod ipip;
pub mod l2fwd;
pub mod nat64;
pub mod nodes;
pub mod packet;
pub mod router;
mod sorted;
pub mod trace;
pub mod wire;

pub use drop::DropReason;
pub use graph::{
    CollectEmit, Ctx, Emit, Graph, NoEmit, NodeClock, NodeCounters, NodeInfo, Pipeline, Stage,
    StageId, Verdict,
};
pub use packet::{FeatureData, Meta, Packet, PortId};

/// Largest burst any port, stage or node is asked to handle. Per-burst scratch
/// arrays are sized by it, so a burst never allocates.
pub const MAX_BURST: usize = 256;

/// Largest number of ports an engine instance may configure. Per-port
/// tables in stages and nodes are fixed arrays of this size.
pub const MAX_PORTS: usize = 32;

/// The nodes (of every pipeline function) that file frames under `reason`,
/// `engine` for the engine's own ([`drop::ENGINE_DROPS`]): what
/// `xgw drop-reasons` shows next to each reason.
pub fn drop_owners(reason: DropReason) -> Vec<&'static str> {
    let l2 = Graph::new(vec![Box::new(l2fwd::L2Fwd::new(l2fwd::MacMode::Io, &[]))]);
    let mut out: Vec<&'static str> = router::nodes()
        .iter()
        .chain(l2.nodes())
        .filter(|n| n.drops.contains(&reason))
        .map(|n| n.name)
        .collect();
    if drop::ENGINE_DROPS.contains(&reason) {
        out.push("engine");
    }
    out
}

#[cfg(test)]
mod drop_owner_tests {
    use super::*;

    /// Every reason of the one table is declared by the node (or the
    /// engine part) that uses it.
    #[test]
    fn every_drop_reason_has_a_declaring_node() {
        for &r in DropReason::ALL {
            assert!(
                !drop_owners(r).is_empty(),
                "{} is declared by no node",
                r.name()
            );
        }
        assert_eq!(drop_owners(DropReason::TunnelNoMatch), ["ipip-decap"]);
        assert_eq!(drop_owners(DropReason::L2NoCrossConnect), ["l2fwd"]);
        assert_eq!(drop_owners(DropReason::GraphHopLimit), ["engine"]);
    }
}
