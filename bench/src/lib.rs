//! Shared helpers for xgw benchmarks.

pub use xgw_engine::testing::{l2fwd_worker, udp4_frame};

pub mod gtpu;
