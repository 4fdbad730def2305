//! Zero-copy views of the headers xgw reads and rewrites in place.

pub mod ethernet;
