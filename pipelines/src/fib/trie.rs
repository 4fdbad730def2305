//! The multibit trie shared by [`Fib4`](super::Fib4) (24-bit root, one 8-bit
//! level: DIR-24-8) and [`Fib6`](super::Fib6) (16-bit root, up to fourteen
//! 8-bit levels), with copy-on-write chunks so that a snapshot is a few
//! hundred reference-count increments rather than a 64 MB copy.
//!
//! Keys are left-aligned in a `u128` (an IPv4 address `a` is `a << 96`), so
//! bit positions mean the same thing for both families.
//!
//! Entries are `u32`:
//! - `0`: no route;
//! - bit 31 set ([`EXT`]): bits 0..29 are a group index, look one level
//!   deeper (bit 30, [`JUMP`]: that group has a jump);
//! - otherwise `(depth + 1) << 22 | next_hop`: a route of prefix length
//!   `depth` (kept so updates know which entries a route owns; DPDK's
//!   scheme) and its next hop (22 bits).
//!
//! Invariants: every leaf entry holds the longest route covering its whole
//! range; a leaf entry in a level ending at bit `B` has depth `<= B`; a group
//! exists only while some entry in it is deeper than its parent's level (or
//! points deeper still), so removing every route frees every group.

use std::sync::Arc;

use super::FibError;

pub(crate) const EXT: u32 = 1 << 31;
/// In an [`EXT`] entry: the group it points to has a [`Jump`] worth
/// taking (two levels or more), so a lookup reads it.
pub(crate) const JUMP: u32 = 1 << 30;
pub(crate) const IDX_MASK: u32 = !(EXT | JUMP);
const DEPTH_SHIFT: u32 = 22;
pub(crate) const NH_MASK: u32 = (1 << DEPTH_SHIFT) - 1;

/// Entries per root chunk (the unit of copy-on-write at the root: 256 KiB).
pub(crate) const ROOT_CHUNK: usize = 1 << 16;
/// Entries per group (8-bit stride).
pub(crate) const GROUP: usize = 256;
/// Groups per pool chunk (the unit of copy-on-write below the root: 64 KiB
/// of entries and 3 KiB of their jumps).
pub(crate) const GROUPS_PER_CHUNK: usize = 64;
const GCHUNK: usize = GROUP * GROUPS_PER_CHUNK;

type RootChunk = [u32; ROOT_CHUNK];

/// 64 groups and their jumps: the unit of copy-on-write below the root
/// (one reference count for both, so a snapshot clones no more pointers
/// than the groups alone took).
#[derive(Clone)]
pub(crate) struct Chunk {
    e: [u32; GCHUNK],
    j: [Jump; GROUPS_PER_CHUNK],
}

/// A shortcut down a chain of groups that each have exactly one child
/// group (path compression beside the groups, in their chunk: they stay
/// as they are). A long prefix alone in its part of the space (an IPv6
/// /96 such as NAT64's 64:ff9b::/96 is ten 8-bit levels below the root;
/// a /64 six) makes such a chain: every group on it holds one pointer
/// deeper and leaves. The jump of the chain's first group says: a key
/// whose bytes under `mask` equal `val` reaches group `to`, `n` bytes
/// further down, through pointers only. The lookup takes it when the key
/// matches and walks as before when it does not, so the answer is always
/// the walk's; a jump depends only on the pointers of the groups on its
/// chain, which change only on the path of an update, where
/// [`Trie::apply`] recomputes them. Every group with one child group has
/// its jump (a longer one is built from its child's), but only one of two
/// levels or more is worth a read: the pointer to such a group has
/// [`JUMP`] set, and a lookup reads no jump elsewhere.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Jump {
    mask: u128,
    val: u128,
    to: u32,
    /// Key bytes the jump covers (0: no jump).
    n: u32,
}

#[inline(always)]
pub(crate) fn encode(len: u8, nh: u32) -> u32 {
    ((u32::from(len) + 1) << DEPTH_SHIFT) | (nh & NH_MASK)
}

/// Decodes a leaf (non-[`EXT`]) entry.
#[inline(always)]
pub(crate) fn decode(e: u32) -> Option<u32> {
    if e >> DEPTH_SHIFT != 0 {
        Some(e & NH_MASK)
    } else {
        None
    }
}

/// Depth of a leaf entry, `None` for "no route".
#[inline]
fn depth(e: u32) -> Option<u32> {
    (e >> DEPTH_SHIFT).checked_sub(1)
}

fn zero_chunk() -> Arc<Chunk> {
    // (67 KiB built once; copies are made on the heap by make_mut.)
    Arc::new(Chunk {
        e: [0; GCHUNK],
        j: [Jump::default(); GROUPS_PER_CHUNK],
    })
}

fn zeroed<const N: usize>() -> Arc<[u32; N]> {
    // Built on the heap: `Arc::new([0; N])` would go through the stack.
    let s: Arc<[u32]> = vec![0u32; N].into();
    match s.try_into() {
        Ok(a) => a,
        Err(_) => unreachable!("the slice has N elements"),
    }
}

#[derive(Clone, Copy)]
enum Op {
    /// Overwrite entries whose route is no longer than `len` (or empty).
    Insert(u8),
    /// Overwrite entries owned by the route of length `len`.
    Remove(u8),
}

impl Op {
    #[inline]
    fn matches(self, e: u32) -> bool {
        match (self, depth(e)) {
            (Op::Insert(_), None) => true,
            (Op::Insert(l), Some(d)) => d <= u32::from(l),
            (Op::Remove(_), None) => false,
            (Op::Remove(l), Some(d)) => d == u32::from(l),
        }
    }
}

/// The groups below the root: `max` groups of 256 entries, allocated in
/// chunks of 64 groups that are shared between snapshots until written.
#[derive(Clone)]
pub(crate) struct Pool {
    dir: Box<[Arc<Chunk>]>,
    zero: Arc<Chunk>,
    free: Vec<u32>,
    /// Groups `[0, next)` have been handed out at least once.
    next: u32,
    used: u32,
    max: u32,
}

impl Pool {
    fn new(max: u32) -> Self {
        let zero = zero_chunk();
        let chunks = (max as usize).div_ceil(GROUPS_PER_CHUNK);
        Pool {
            dir: vec![zero.clone(); chunks].into_boxed_slice(),
            zero,
            free: Vec::new(),
            next: 0,
            used: 0,
            max,
        }
    }

    #[inline(always)]
    pub(crate) fn entry(&self, g: u32, byte: u32) -> u32 {
        match self.dir.get((g as usize) / GROUPS_PER_CHUNK) {
            Some(c) => c.e[((g as usize % GROUPS_PER_CHUNK) << 8) | (byte as usize & 0xff)],
            None => 0,
        }
    }

    /// Group `g`'s jump (`n == 0`: none).
    #[inline(always)]
    pub(crate) fn jump(&self, g: u32) -> Jump {
        match self.dir.get((g as usize) / GROUPS_PER_CHUNK) {
            Some(c) => c.j[g as usize % GROUPS_PER_CHUNK],
            None => Jump::default(),
        }
    }

    fn set_jump(&mut self, g: u32, j: Jump) {
        if self.jump(g) == j {
            return;
        }
        let c = Arc::make_mut(&mut self.dir[g as usize / GROUPS_PER_CHUNK]);
        c.j[g as usize % GROUPS_PER_CHUNK] = j;
    }

    /// Recomputes the jump of group `g`, whose entries cover key byte
    /// `at` (the jumps of the groups below it are up to date). Returns
    /// whether it is worth taking (two levels or more).
    fn rejump(&mut self, g: u32, at: u32) -> bool {
        let mut child = None;
        for (i, &e) in self.group(g).iter().enumerate() {
            if e & EXT != 0 {
                if child.is_some() {
                    child = None;
                    break;
                }
                child = Some((i as u128, e & IDX_MASK));
            }
        }
        let j = match child {
            None => Jump::default(),
            Some((byte, c)) => {
                let shift = 120 - 8 * at;
                let (mask, val) = (0xffu128 << shift, byte << shift);
                let below = self.jump(c);
                if below.n != 0 {
                    Jump {
                        mask: mask | below.mask,
                        val: val | below.val,
                        to: below.to,
                        n: 1 + below.n,
                    }
                } else {
                    Jump {
                        mask,
                        val,
                        to: c,
                        n: 1,
                    }
                }
            }
        };
        self.set_jump(g, j);
        j.n >= 2
    }

    fn group(&self, g: u32) -> &[u32] {
        let c = &self.dir[g as usize / GROUPS_PER_CHUNK];
        let o = (g as usize % GROUPS_PER_CHUNK) * GROUP;
        &c.e[o..o + GROUP]
    }

    fn group_mut(&mut self, g: u32) -> &mut [u32] {
        let c = Arc::make_mut(&mut self.dir[g as usize / GROUPS_PER_CHUNK]);
        let o = (g as usize % GROUPS_PER_CHUNK) * GROUP;
        &mut c.e[o..o + GROUP]
    }

    fn available(&self) -> u32 {
        self.max - self.used
    }

    /// Caller checked [`available`](Self::available).
    fn alloc(&mut self, fill: u32) -> u32 {
        let g = match self.free.pop() {
            Some(g) => g,
            None => {
                self.next += 1;
                self.next - 1
            }
        };
        self.used += 1;
        self.group_mut(g).fill(fill);
        self.set_jump(g, Jump::default());
        g
    }

    fn release(&mut self, g: u32) {
        self.used -= 1;
        self.set_jump(g, Jump::default());
        self.free.push(g);
    }

    /// Applies `op` to every entry of group `g` and of the groups below it.
    fn apply_all(&mut self, g: u32, op: Op, new: u32) {
        let mut stack = vec![g];
        while let Some(g) = stack.pop() {
            for e in self.group_mut(g) {
                if *e & EXT != 0 {
                    stack.push(*e & IDX_MASK);
                } else if op.matches(*e) {
                    *e = new;
                }
            }
        }
    }

    /// The value group `g` can be replaced by, if it is redundant: all
    /// entries equal leaves no deeper than `start` (the group's first bit).
    fn collapsible(&self, g: u32, start: u32) -> Option<u32> {
        let grp = self.group(g);
        let first = grp[0];
        let ok = first & EXT == 0
            && !matches!(depth(first), Some(d) if d > start)
            && grp.iter().all(|&e| e == first);
        ok.then_some(first)
    }

    fn bytes(&self) -> usize {
        let chunks = self
            .dir
            .iter()
            .filter(|c| !Arc::ptr_eq(c, &self.zero))
            .count();
        chunks * std::mem::size_of::<Chunk>()
            + self.dir.len() * std::mem::size_of::<Arc<Chunk>>()
            + self.free.capacity() * 4
    }
}

#[derive(Clone, Copy)]
enum Loc {
    Root(usize),
    Group(u32, usize),
}

/// Root of `R * 65536` entries (`F = 16 + log2 R` bits), then 8-bit groups.
#[derive(Clone)]
pub(crate) struct Trie<const R: usize> {
    root: [Arc<RootChunk>; R],
    zero: Arc<RootChunk>,
    pub(crate) pool: Pool,
}

impl<const R: usize> Trie<R> {
    /// Bits resolved by the root.
    pub(crate) const F: u32 = 16 + R.trailing_zeros();

    pub(crate) fn new(max_groups: u32) -> Self {
        let zero = zeroed::<ROOT_CHUNK>();
        Trie {
            root: std::array::from_fn(|_| zero.clone()),
            zero,
            pool: Pool::new(max_groups.min(IDX_MASK)),
        }
    }

    #[inline(always)]
    pub(crate) fn root_entry(&self, chunk: usize, off: usize) -> u32 {
        self.root[chunk % R][off % ROOT_CHUNK]
    }

    fn root_index(k: u128) -> usize {
        (k >> (128 - Self::F)) as usize
    }

    fn root_get(&self, i: usize) -> u32 {
        self.root[i / ROOT_CHUNK][i % ROOT_CHUNK]
    }

    fn root_set(&mut self, i: usize, v: u32) {
        Arc::make_mut(&mut self.root[i / ROOT_CHUNK])[i % ROOT_CHUNK] = v;
    }

    /// The 8 key bits starting at bit `s`.
    fn byte(k: u128, s: u32) -> usize {
        ((k >> (120 - s)) & 0xff) as usize
    }

    /// Generic lookup of a left-aligned key (Fib4 has a faster special
    /// case), taking a group's [`Jump`] when the key follows it.
    #[inline(always)]
    pub(crate) fn lookup(&self, k: u128) -> Option<u32> {
        let i = Self::root_index(k);
        let mut e = self.root_entry(i / ROOT_CHUNK, i);
        // The key's bytes once, instead of a 128-bit shift per level.
        let bytes = k.to_be_bytes();
        let mut b = (Self::F / 8) as usize;
        while e & EXT != 0 {
            let mut g = e & IDX_MASK;
            if e & JUMP != 0 {
                let j = self.pool.jump(g);
                if k & j.mask == j.val {
                    // A jump ends at a group that has no child group or
                    // several: its entry is next.
                    g = j.to;
                    b += j.n as usize;
                }
            }
            let &byte = bytes.get(b)?;
            e = self.pool.entry(g, u32::from(byte));
            b += 1;
        }
        decode(e)
    }

    /// [`lookup`](Self::lookup) of many keys, one level at a time across
    /// the burst so that the cache misses of different keys overlap.
    /// Answers `min(keys.len(), out.len())` keys.
    #[inline]
    pub(crate) fn lookup_burst(&self, keys: &[u128], out: &mut [Option<u32>]) {
        const N: usize = 64;
        for (ks, os) in keys.chunks(N).zip(out.chunks_mut(N)) {
            let n = ks.len().min(os.len());
            let mut e = [0u32; N];
            for (e, &k) in e.iter_mut().zip(&ks[..n]) {
                let i = Self::root_index(k);
                *e = self.root_entry(i / ROOT_CHUNK, i);
            }
            let mut s = Self::F;
            while s < 128 {
                let mut deeper = false;
                for (e, &k) in e.iter_mut().zip(&ks[..n]) {
                    if *e & EXT != 0 {
                        *e = self.pool.entry(*e & IDX_MASK, (k >> (120 - s)) as u32);
                        deeper = true;
                    }
                }
                if !deeper {
                    break;
                }
                s += 8;
            }
            for (o, &e) in os[..n].iter_mut().zip(&e) {
                *o = decode(e);
            }
        }
    }

    /// Groups an insert of `k/len` would allocate.
    fn groups_needed(&self, k: u128, len: u8) -> u32 {
        let len = u32::from(len);
        let mut s = Self::F;
        if len <= s {
            return 0;
        }
        let mut e = self.root_get(Self::root_index(k));
        loop {
            if e & EXT == 0 {
                return (len - s).div_ceil(8);
            }
            if len <= s + 8 {
                return 0;
            }
            e = self.pool.group(e & IDX_MASK)[Self::byte(k, s)];
            s += 8;
        }
    }

    /// Points every address of `k/len` not covered by a longer route at
    /// `new` (an encoded leaf of depth `len`).
    pub(crate) fn insert(&mut self, k: u128, len: u8, new: u32) -> Result<(), FibError> {
        let need = self.groups_needed(k, len);
        if need > self.pool.available() {
            return Err(FibError::Full {
                max_groups: self.pool.max,
            });
        }
        self.apply(k, len, Op::Insert(len), new);
        Ok(())
    }

    /// Points the addresses owned by route `k/len` at `new` (the covering
    /// route's encoded leaf, or 0) and frees groups left redundant.
    pub(crate) fn remove(&mut self, k: u128, len: u8, new: u32) {
        self.apply(k, len, Op::Remove(len), new);
    }

    fn apply(&mut self, k: u128, len: u8, op: Op, new: u32) {
        let f = Self::F;
        let l = u32::from(len);
        if l <= f {
            let start = Self::root_index(k);
            let end = start + (1usize << (f - l));
            let mut i = start;
            while i < end {
                let c = i / ROOT_CHUNK;
                let stop = end.min((c + 1) * ROOT_CHUNK);
                let chunk = Arc::make_mut(&mut self.root[c]);
                for e in &mut chunk[i % ROOT_CHUNK..=(stop - 1) % ROOT_CHUNK] {
                    if *e & EXT != 0 {
                        self.pool.apply_all(*e & IDX_MASK, op, new);
                    } else if op.matches(*e) {
                        *e = new;
                    }
                }
                i = stop;
            }
            return;
        }
        let ri = Self::root_index(k);
        let mut e = self.root_get(ri);
        if e & EXT == 0 {
            if let Op::Remove(_) = op {
                return;
            }
            let g = self.pool.alloc(e);
            e = EXT | g;
            self.root_set(ri, e);
        }
        let mut parent = Loc::Root(ri);
        let mut s = f;
        let mut path: Vec<(Loc, u32, u32)> = Vec::with_capacity(16);
        loop {
            let g = e & IDX_MASK;
            path.push((parent, g, s));
            let b = Self::byte(k, s);
            if l <= s + 8 {
                let n = 1usize << (s + 8 - l);
                let mut deeper = Vec::new();
                for e in &mut self.pool.group_mut(g)[b..b + n] {
                    if *e & EXT != 0 {
                        deeper.push(*e & IDX_MASK);
                    } else if op.matches(*e) {
                        *e = new;
                    }
                }
                for d in deeper {
                    self.pool.apply_all(d, op, new);
                }
                break;
            }
            e = self.pool.group(g)[b];
            if e & EXT == 0 {
                if let Op::Remove(_) = op {
                    break;
                }
                let child = self.pool.alloc(e);
                e = EXT | child;
                self.pool.group_mut(g)[b] = e;
            }
            parent = Loc::Group(g, b);
            s += 8;
        }
        let mut live = path.len();
        if let Op::Remove(_) = op {
            for &(parent, g, s) in path.iter().rev() {
                let Some(v) = self.pool.collapsible(g, s) else {
                    break;
                };
                match parent {
                    Loc::Root(i) => self.root_set(i, v),
                    Loc::Group(pg, b) => self.pool.group_mut(pg)[b] = v,
                }
                self.pool.release(g);
                live -= 1;
            }
        }
        // Pointers changed only on this path (a group made or freed):
        // its groups' jumps, bottom-up (each builds on the one below), and
        // the flag in the pointer to each.
        for &(parent, g, s) in path[..live].iter().rev() {
            let worth = self.pool.rejump(g, s / 8);
            let e = match parent {
                Loc::Root(i) => self.root_get(i),
                Loc::Group(pg, b) => self.pool.group(pg)[b],
            };
            if (e & JUMP != 0) != worth {
                let e = e ^ JUMP;
                match parent {
                    Loc::Root(i) => self.root_set(i, e),
                    Loc::Group(pg, b) => self.pool.group_mut(pg)[b] = e,
                }
            }
        }
    }

    pub(crate) fn groups_used(&self) -> u32 {
        self.pool.used
    }

    pub(crate) fn max_groups(&self) -> u32 {
        self.pool.max
    }

    /// Bytes of table memory this instance references (shared chunks are
    /// counted in full; untouched root chunks are one shared zero chunk).
    pub(crate) fn bytes(&self) -> usize {
        let root_chunks = self
            .root
            .iter()
            .filter(|c| !Arc::ptr_eq(c, &self.zero))
            .count()
            + 1;
        root_chunks * std::mem::size_of::<RootChunk>() + self.pool.bytes()
    }
}

#[cfg(test)]
mod jump_tests {
    use super::*;

    /// The jump the walk of `k` meets first below the root.
    fn first_jump(t: &Trie<1>, k: u128) -> Jump {
        let i = Trie::<1>::root_index(k);
        let e = t.root_entry(i / ROOT_CHUNK, i);
        assert_ne!(e & EXT, 0, "the root points deeper");
        let j = t.pool.jump(e & IDX_MASK);
        assert_eq!(e & JUMP != 0, j.n >= 2, "the pointer's flag");
        j
    }

    /// A lone /96 (NAT64's well-known prefix) is ten levels below the
    /// root: one jump takes a lookup through the nine one-child groups to
    /// the group that holds the leaves; a second route beside it on the
    /// chain shortens the jump, and its removal restores it.
    #[test]
    fn a_lone_long_prefix_is_one_jump() {
        let wkp: u128 = 0x0064_ff9b << 96;
        let mut t = Trie::<1>::new(1024);
        t.insert(wkp, 96, encode(96, 7)).unwrap();
        let j = first_jump(&t, wkp);
        assert_eq!(j.n, 9, "bytes 2..11 in one jump");
        assert_eq!(t.lookup(wkp | 0xc000_0201), Some(7));
        assert_eq!(t.lookup(wkp ^ (1 << 40)), None, "off the chain: walked");
        // 64:ff9b:1::/56 needs a group below byte 5 = 1: the group of
        // byte 5 has two children, and the chain ends there.
        let other = wkp | (1 << 80);
        t.insert(other, 56, encode(56, 8)).unwrap();
        assert_eq!(first_jump(&t, wkp).n, 3, "bytes 2..4, then two children");
        assert_eq!(t.lookup(wkp | 5), Some(7));
        assert_eq!(t.lookup(other | 5), Some(8));
        t.remove(other, 56, 0);
        assert_eq!(first_jump(&t, wkp).n, 9);
        assert_eq!(t.lookup(wkp | 5), Some(7));
        assert_eq!(t.lookup(other | 5), None);
        // A snapshot keeps its jumps while the table changes.
        let snap = t.clone();
        t.remove(wkp, 96, 0);
        assert_eq!(t.lookup(wkp | 5), None);
        assert_eq!(snap.lookup(wkp | 5), Some(7));
        assert_eq!(first_jump(&snap, wkp).n, 9);
    }
}
