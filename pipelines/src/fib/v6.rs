//! IPv6: a 16-bit root and up to fourteen 8-bit levels, copy-on-write.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use super::trie::{encode, Trie};
use super::{FibError, NextHopId, MAX_NEXT_HOP};

/// Default cap on 8-bit groups (1 KiB each): 262144 groups, 256 MiB at
/// most (100k routes of the benchmark's distribution use about 150k).
pub const DEFAULT_GROUPS6: u32 = 1 << 18;

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// The lookup-only part of a [`Fib6`]: what workers hold. Cloning it is
/// cheap (1 + max_groups/64 reference-count increments); the chunks are
/// shared until the owning [`Fib6`] writes to them.
#[derive(Clone)]
pub struct Fib6Table {
    trie: Trie<1>,
}

impl Fib6Table {
    /// Longest-prefix match: one root load plus one per 8 bits beyond /16
    /// of the matching route's depth (a /48 match costs five loads).
    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<NextHopId> {
        self.trie.lookup(addr.to_bits())
    }

    /// [`lookup`](Self::lookup) on an address as a host-order `u128`.
    #[inline]
    pub fn lookup_u128(&self, addr: u128) -> Option<NextHopId> {
        self.trie.lookup(addr)
    }

    /// Looks up `addrs[i]` into `out[i]` for `i < min(addrs.len(),
    /// out.len())`, walking the trie one level at a time across the burst
    /// so that the cache misses of different addresses overlap (several
    /// times faster than a loop of [`lookup`](Self::lookup) on tables
    /// larger than the cache). No allocation.
    #[inline]
    pub fn lookup_burst(&self, addrs: &[u128], out: &mut [Option<NextHopId>]) {
        self.trie.lookup_burst(addrs, out)
    }

    /// Table memory referenced by this snapshot, in bytes (chunks shared
    /// with other snapshots are counted in full).
    pub fn memory_bytes(&self) -> usize {
        self.trie.bytes()
    }
}

/// An IPv6 FIB: the route set (source of truth, sorted) and the multibit
/// trie built from it, updated in place.
#[derive(Clone)]
pub struct Fib6 {
    table: Fib6Table,
    routes: BTreeMap<(u128, u8), NextHopId>,
}

impl Default for Fib6 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fib6 {
    /// An empty FIB with room for [`DEFAULT_GROUPS6`] groups.
    pub fn new() -> Self {
        Self::with_max_groups(DEFAULT_GROUPS6)
    }

    /// An empty FIB with room for `max_groups` 8-bit groups; memory for them is allocated as
    /// they are used, 64 groups (64 KiB) at a time.
    pub fn with_max_groups(max_groups: u32) -> Self {
        Fib6 {
            table: Fib6Table {
                trie: Trie::new(max_groups),
            },
            routes: BTreeMap::new(),
        }
    }

    /// Adds or replaces `prefix/len`; returns the next hop it replaced.
    pub fn insert(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        nh: NextHopId,
    ) -> Result<Option<NextHopId>, FibError> {
        if len > 128 {
            return Err(FibError::BadLength { len, max: 128 });
        }
        let p = prefix.to_bits();
        if p & !mask6(len) != 0 {
            return Err(FibError::HostBitsSet {
                prefix: prefix.into(),
                len,
                canonical: Ipv6Addr::from_bits(p & mask6(len)).into(),
            });
        }
        if nh > MAX_NEXT_HOP {
            return Err(FibError::NextHopOutOfRange(nh));
        }
        self.table.trie.insert(p, len, encode(len, nh))?;
        Ok(self.routes.insert((p, len), nh))
    }

    /// Removes `prefix/len`, returning its next hop; the addresses it
    /// covered fall back to the longest remaining covering route. `None`
    /// (and no change) if there is no such route.
    pub fn remove(&mut self, prefix: Ipv6Addr, len: u8) -> Option<NextHopId> {
        let p = prefix.to_bits();
        let old = self.routes.remove(&(p, len))?;
        let cover = (0..len)
            .rev()
            .find_map(|l| {
                let q = p & mask6(l);
                self.routes.get(&(q, l)).map(|&nh| encode(l, nh))
            })
            .unwrap_or(0);
        self.table.trie.remove(p, len, cover);
        Some(old)
    }

    /// The next hop of exactly `prefix/len`, if that route exists.
    pub fn get(&self, prefix: Ipv6Addr, len: u8) -> Option<NextHopId> {
        self.routes.get(&(prefix.to_bits(), len)).copied()
    }

    /// Longest-prefix match (see [`Fib6Table::lookup`]).
    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<NextHopId> {
        self.table.lookup_u128(addr.to_bits())
    }

    /// Longest-prefix match on an address as a host-order `u128`.
    #[inline]
    pub fn lookup_u128(&self, addr: u128) -> Option<NextHopId> {
        self.table.lookup_u128(addr)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Routes as `(prefix, len, next hop)`, sorted by prefix then length.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Addr, u8, NextHopId)> + '_ {
        self.routes
            .iter()
            .map(|(&(p, l), &nh)| (Ipv6Addr::from_bits(p), l, nh))
    }

    /// The lookup table as it is now, for publication to workers. Cheap:
    /// later changes to `self` copy the chunks they touch (256 KiB of root
    /// or 64 KiB of groups each) instead of changing the snapshot.
    pub fn snapshot(&self) -> Fib6Table {
        self.table.clone()
    }

    /// The lookup table, borrowed.
    pub fn table(&self) -> &Fib6Table {
        &self.table
    }

    /// Groups in use and the cap.
    pub fn groups(&self) -> (u32, u32) {
        (self.table.trie.groups_used(), self.table.trie.max_groups())
    }

    /// Table memory in bytes (excluding the route set; see the module docs).
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes()
    }
}
