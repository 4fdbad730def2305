//! xgw's protocol logic: packet views, stages, tables and the drop-reason
//! table. Nothing here does I/O or needs root, and nothing here is `unsafe`:
//! the engine crate owns UMEM, sockets and threads and hands stages plain
//! `&mut [u8]` views of the frames of one burst.
#![forbid(unsafe_code)]

pub mod drop;
pub mod fib;
pub mod graph;
pub mod ipip;
pub mod l2fwd;
pub mod nodes;
pub mod packet;
pub mod router;
pub mod wire;

pub use drop::DropReason;
pub use graph::{
    CollectEmit, Ctx, Emit, Graph, NoEmit, NodeClock, NodeCounters, NodeInfo, Pipeline, Stage,
    StageId, Verdict,
};
pub use packet::{Meta, Packet, PortId};

/// Largest burst any port or stage is asked to handle. Per-burst scratch
/// arrays are sized by it, so a burst never allocates.
pub const MAX_BURST: usize = 256;

/// Largest number of ports an engine instance may configure. Per-port
/// tables in stages are fixed arrays of this size.
pub const MAX_PORTS: usize = 32;
