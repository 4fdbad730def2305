//! Shared helpers for xgw benchmarks.
