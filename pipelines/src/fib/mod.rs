//! Longest-prefix-match FIBs for IPv4 and IPv6.
//!
//! A FIB maps prefixes to an opaque [`NextHopId`] (the router's next-hop
//! table says what it means: interface + gateway, connected, local,
//! blackhole, unreachable). Each FIB keeps the route set (a `BTreeMap`,
//! the source of truth, iterated sorted by prefix then length) and a lookup
//! table derived from it and updated in place.
//!
//! # Structures
//!
//! - [`Fib4`]: DIR-24-8. A 2^24-entry tbl24 indexed by the top 24 bits, and
//!   tbl8 groups of 256 entries for /24s that hold routes longer than /24.
//!   A lookup is one load, or two when the /24 has longer routes; the only
//!   branch is that indirection.
//! - [`Fib6`]: the same scheme with a 2^16-entry root and up to fourteen
//!   levels of 8-bit groups (DPDK's `rte_lpm6` layout, smaller root). A
//!   walk costs one load plus one per 8 bits of the matching route beyond
//!   /16 (five for a /48), but a chain of groups with one child group each
//!   (a long prefix alone in its part of the space: 64:ff9b::/96 is ten
//!   levels deep) is crossed in one step by the first group's *jump*
//!   (`trie.rs`: a masked compare of the key, then the group at the chain's
//!   end), so a lone /96 costs the root, one jump and one group.
//!   [`Fib6Table::lookup_burst`] walks a burst one level at a time (no
//!   jumps) so that the misses of different addresses overlap.
//!
//! Entries are `u32`: 0 (no route), a group index with the top bit set, or
//! `(route length + 1) << 22 | next hop`. The length is what makes updates
//! local (DPDK's trick): an insert overwrites only entries of no longer
//! routes, a remove only entries of its own length, replacing them with the
//! longest covering route from the route set. A group whose entries become
//! all equal and no longer than its parent level is freed, so removing
//! every route frees every group.
//!
//! # Snapshots
//!
//! Tables are published as snapshots ([`Fib4::snapshot`],
//! [`Fib6::snapshot`]; the control thread wraps one in an `Arc` and swaps
//! it in; workers only read). Cloning a 64 MiB tbl24 per change costs
//! ~36 ms on the development machine (a plain `Vec<u32>` clone, mostly page
//! faults), so the tables are split into copy-on-write chunks: the root in
//! chunks of 65536 entries (256 KiB) and the groups in chunks of 64 groups
//! (64 KiB), each an `Arc`. A snapshot clones the chunk pointers only; a
//! change made while a snapshot is alive copies just the chunks it writes.
//! Workers never touch these reference counts (they hold the outer `Arc`).
//! `Fib4`'s own `Clone` also copies the route set: use `snapshot`.
//!
//! Measured (`cargo bench -p xgw-bench --bench fib -- --warm-up-time 1
//! --measurement-time 3`, 2 noisy cores, release):
//!
//! | | IPv4, 1M routes | IPv6, 100k routes |
//! |---|---|---|
//! | build (insert each) | 1.6 s (1.6 µs/route) | 0.24 s (2.4 µs/route) |
//! | lookup, burst of 64 cached | 1.1 ns/lookup | 8.4 ns/lookup |
//! | lookup, random over 1M destinations | 11 ns/lookup | 129 ns (60 ns with `lookup_burst`) |
//! | snapshot (clone of the table) | 18 µs | 55 µs |
//! | one insert while a snapshot is alive | 21 µs (/24), 23 µs (/28) | 5 µs (/48) |
//! | full `clone()` incl. route set | 39 ms | 2.3 ms |
//!
//! The IPv6 jumps, measured against the code before them in one sitting
//! (`... --bench fib -- ... fib6`, this tree and 48ec628 alternately; the
//! machine's noise moves a figure by up to ±30 % between runs): a burst of
//! 64 cached lookups 598 / 526 / 690 ns against 630 / 647 / 912 ns, 64 cold
//! ones 6.8 / 8.8 / 11.8 µs against 9.0 / 16.6 / 13.3 µs (the random /48s
//! sit under /32s that are alone under their /16: a two-level jump), a
//! snapshot 27.8 against 27.9 µs, an insert with a live snapshot 5.8
//! against 5.1 µs (an update rescans the groups on its path for their
//! jumps).
//!
//! # Memory
//!
//! - IPv4: tbl24 64 MiB once any route touches each /8 (untouched 256 KiB
//!   chunks share one zero chunk); tbl8 1 KiB per /24 holding longer routes,
//!   allocated 64 KiB at a time. The benchmark's 1M routes (4075 groups):
//!   table 68.3 MiB, route set ~30 MiB (process RSS grew 97.8 MiB).
//! - Each group also has a 48-byte jump, kept in its chunk (3 KiB more per
//!   64 groups).
//! - IPv6: 256 KiB root plus 1 KiB per group; the benchmark's 100k routes
//!   (mostly /48 in 8192 random /32s) need 158k groups: 155 MiB, about
//!   1.5 KiB per route. This is the price of 8-bit strides on sparse
//!   prefixes; a compressed trie (poptrie-like) or a range search would be
//!   far smaller at some lookup cost. The route set is ~5 MiB (estimated).
//! - Snapshots share all unchanged chunks; a live snapshot plus the
//!   current table cost only the chunks changed since.
//!
//! # Limits
//!
//! - Prefix length at most 32 / 128; host bits must be zero
//!   ([`FibError::BadLength`], [`FibError::HostBitsSet`]).
//! - Next hops at most [`MAX_NEXT_HOP`] (2^22 - 1).
//! - Groups are capped ([`DEFAULT_TBL8_GROUPS4`] = 65536, i.e. 64 MiB of
//!   tbl8; [`DEFAULT_GROUPS6`] = 262144, 256 MiB; or `with_max_groups`).
//!   An insert that would exceed the cap fails whole with
//!   [`FibError::Full`]; removes never allocate and never fail. Freed groups
//!   are reused but their chunks are not returned to the allocator.
//! - Short prefixes are expensive to change: a v4 /8 rewrites 65536
//!   entries, a /0 all 2^24 (and copies every chunk a snapshot shares).
//!   Control-plane only; lookups are unaffected.

use std::net::IpAddr;

mod trie;
mod v4;
mod v6;

#[cfg(test)]
mod tests;

pub use v4::{Fib4, Fib4Table, DEFAULT_TBL8_GROUPS4};
pub use v6::{Fib6, Fib6Table, DEFAULT_GROUPS6};

/// Opaque index into the router's next-hop table (interface, gateway, or
/// blackhole/unreachable/local). The FIB only stores it.
pub type NextHopId = u32;

/// Largest storable [`NextHopId`]: table entries keep 22 bits for it.
pub const MAX_NEXT_HOP: NextHopId = trie::NH_MASK;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    #[error("prefix length /{len} is longer than /{max}")]
    BadLength { len: u8, max: u8 },
    #[error("{prefix}/{len} has host bits set (the network is {canonical}/{len})")]
    HostBitsSet {
        prefix: IpAddr,
        len: u8,
        canonical: IpAddr,
    },
    #[error("next hop id {0} is out of range (at most {MAX_NEXT_HOP})")]
    NextHopOutOfRange(NextHopId),
    #[error("FIB full: all {max_groups} table groups are in use")]
    Full { max_groups: u32 },
}
