//! Shared helpers for xgw benchmarks.

pub use xgw_engine::testing::{l2fwd_worker, udp4_frame};

pub mod gtpu;
pub mod nat64;

/// `k` (or `n`, if fewer) distinct indexes out of `0..n` scattered over
/// the whole range: `j × 2654435761 mod n` for `j < k` (Knuth's
/// multiplier, a prime: a bijection of `0..n` for any `n` it does not
/// divide). What a busy gateway's traffic touches:
/// sessions all over its tables, not in one corner, and not at a fixed
/// stride either (sessions `256 × j` of a million put every 128-byte
/// GTP-U entry in use at a 32 KiB stride, in the same few cache sets:
/// conflict misses no real traffic has).
pub fn scattered(n: u32, k: u32) -> impl Iterator<Item = u32> {
    (0..n.min(k)).map(move |j| (u64::from(j) * 2_654_435_761 % u64::from(n)) as u32)
}
