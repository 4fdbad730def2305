//! IPv4: DIR-24-8 with copy-on-write chunks.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::trie::{decode, encode, Trie, EXT, IDX_MASK, ROOT_CHUNK};
use super::{FibError, NextHopId, MAX_NEXT_HOP};

/// Default cap on tbl8 groups (1 KiB each): 65536 groups, 64 MiB at most,
/// i.e. 65536 distinct /24s holding routes longer than /24.
pub const DEFAULT_TBL8_GROUPS4: u32 = 1 << 16;

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The lookup-only part of a [`Fib4`]: what workers hold. Cloning it is
/// cheap (256 + max_groups/64 reference-count increments); the chunks are
/// shared until the owning [`Fib4`] writes to them.
#[derive(Clone)]
pub struct Fib4Table {
    trie: Trie<256>,
}

impl Fib4Table {
    /// Longest-prefix match: two dependent loads at most (tbl24, tbl8).
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<NextHopId> {
        self.lookup_u32(addr.to_bits())
    }

    /// [`lookup`](Self::lookup) on an address in host order.
    #[inline(always)]
    pub fn lookup_u32(&self, addr: u32) -> Option<NextHopId> {
        let mut e = self
            .trie
            .root_entry((addr >> 24) as usize, ((addr >> 8) as usize) % ROOT_CHUNK);
        if e & EXT != 0 {
            e = self.trie.pool.entry(e & IDX_MASK, addr & 0xff);
        }
        decode(e)
    }

    /// Table memory referenced by this snapshot, in bytes (chunks shared
    /// with other snapshots are counted in full).
    pub fn memory_bytes(&self) -> usize {
        self.trie.bytes()
    }
}

/// An IPv4 FIB: the route set (source of truth, sorted) and the DIR-24-8
/// table built from it, updated in place.
#[derive(Clone)]
pub struct Fib4 {
    table: Fib4Table,
    routes: BTreeMap<(u32, u8), NextHopId>,
}

impl Default for Fib4 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fib4 {
    /// An empty FIB with room for [`DEFAULT_TBL8_GROUPS4`] tbl8 groups.
    pub fn new() -> Self {
        Self::with_max_groups(DEFAULT_TBL8_GROUPS4)
    }

    /// An empty FIB with room for `max_groups` tbl8 groups (one per /24
    /// that holds routes longer than /24); memory for them is allocated as
    /// they are used, 64 groups (64 KiB) at a time.
    pub fn with_max_groups(max_groups: u32) -> Self {
        Fib4 {
            table: Fib4Table {
                trie: Trie::new(max_groups),
            },
            routes: BTreeMap::new(),
        }
    }

    /// Adds or replaces `prefix/len`; returns the next hop it replaced.
    pub fn insert(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        nh: NextHopId,
    ) -> Result<Option<NextHopId>, FibError> {
        if len > 32 {
            return Err(FibError::BadLength { len, max: 32 });
        }
        let p = prefix.to_bits();
        if p & !mask4(len) != 0 {
            return Err(FibError::HostBitsSet {
                prefix: prefix.into(),
                len,
                canonical: Ipv4Addr::from_bits(p & mask4(len)).into(),
            });
        }
        if nh > MAX_NEXT_HOP {
            return Err(FibError::NextHopOutOfRange(nh));
        }
        self.table
            .trie
            .insert(u128::from(p) << 96, len, encode(len, nh))?;
        Ok(self.routes.insert((p, len), nh))
    }

    /// Removes `prefix/len`, returning its next hop; the addresses it
    /// covered fall back to the longest remaining covering route. `None`
    /// (and no change) if there is no such route.
    pub fn remove(&mut self, prefix: Ipv4Addr, len: u8) -> Option<NextHopId> {
        let p = prefix.to_bits();
        let old = self.routes.remove(&(p, len))?;
        let cover = (0..len)
            .rev()
            .find_map(|l| {
                let q = p & mask4(l);
                self.routes.get(&(q, l)).map(|&nh| encode(l, nh))
            })
            .unwrap_or(0);
        self.table.trie.remove(u128::from(p) << 96, len, cover);
        Some(old)
    }

    /// The next hop of exactly `prefix/len`, if that route exists.
    pub fn get(&self, prefix: Ipv4Addr, len: u8) -> Option<NextHopId> {
        self.routes.get(&(prefix.to_bits(), len)).copied()
    }

    /// Longest-prefix match (see [`Fib4Table::lookup`]).
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<NextHopId> {
        self.table.lookup_u32(addr.to_bits())
    }

    /// Longest-prefix match on an address in host order.
    #[inline]
    pub fn lookup_u32(&self, addr: u32) -> Option<NextHopId> {
        self.table.lookup_u32(addr)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Routes as `(prefix, len, next hop)`, sorted by prefix then length.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, u8, NextHopId)> + '_ {
        self.routes
            .iter()
            .map(|(&(p, l), &nh)| (Ipv4Addr::from_bits(p), l, nh))
    }

    /// The lookup table as it is now, for publication to workers. Cheap:
    /// later changes to `self` copy the chunks they touch (256 KiB of tbl24
    /// or 64 KiB of tbl8 each) instead of changing the snapshot.
    pub fn snapshot(&self) -> Fib4Table {
        self.table.clone()
    }

    /// The lookup table, borrowed.
    pub fn table(&self) -> &Fib4Table {
        &self.table
    }

    /// tbl8 groups in use and the cap.
    pub fn groups(&self) -> (u32, u32) {
        (self.table.trie.groups_used(), self.table.trie.max_groups())
    }

    /// Table memory in bytes (excluding the route set; see the module docs).
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes()
    }
}
