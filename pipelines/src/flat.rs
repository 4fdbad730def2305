//! A flat, bucketised index from a key to a slot (`u32`) of an array the
//! caller owns: the dataplane's per-session lookup tables (GTP-U's
//! uplink TEID and downlink UE address indexes).
//!
//! Why not `HashMap`: a lookup in hashbrown first reads a control group
//! and only then learns which bucket holds the key, so a burst's lookups
//! cannot all be started ahead; in a table far bigger than the caches
//! each one stalls on two dependent misses. Here the one cache line a
//! key can live in (its home bucket, save for overflow) follows from the
//! hash alone, so a pre-pass prefetches every frame's bucket first
//! ([`FlatIndex::prefetch`]) and the slots' own lines next
//! ([`FlatIndex::candidate`]), VPP's bihash way. It is also smaller: a
//! slot costs 8 bytes (a 32-bit fingerprint and the slot), at most 4/7
//! of them used, against hashbrown's key + value + control byte in a
//! power of two of buckets; and its array is advised onto huge pages
//! ([`crate::hint::huge_vec`]).
//!
//! Layout: `max / 4` 64-byte buckets (16 bytes per key the index is
//! made for, whatever `max`), each seven (fingerprint, slot) pairs and an
//! overflow count. A key's home bucket (the hash's high half scaled to
//! the bucket count, Lemire's multiply-shift) and its fingerprint (the
//! low half) come from one keyed 64-bit hash. The index keeps no
//! keys: the caller's `is(slot)` says whether slot's key is the one looked
//! up, and is asked only when a fingerprint matches (a false match, one
//! in 2^31 per pair, costs one more compare, never a wrong answer). A key
//! whose home bucket is full goes to the next bucket with room; every
//! bucket it passed counts it in `over`, so a lookup stops at the first
//! bucket whose `over` is 0 (F14's scheme). Capacity is fixed at
//! construction for `max` keys (7 × buckets ≥ 7/4 × max): inserting
//! never allocates and never finds the table full while at most `max`
//! keys are in it.

/// Pairs per bucket.
const WAYS: usize = 7;
/// A fingerprint never is 0: 0 marks a free pair.
const FREE: u32 = 0;

#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Bucket {
    /// The ways' fingerprints, then ([`OVER`]) the number of keys whose
    /// probe passed this bucket (it was full when they were inserted)
    /// and that are still in the table: eight lanes, compared at once.
    head: [u32; WAYS + 1],
    /// The ways' slots (the eighth lane unused: indexes are masked, not
    /// bounds-checked).
    slot: [u32; WAYS + 1],
}

/// The lane of [`Bucket::head`] that holds the overflow count.
const OVER: usize = WAYS;

/// What [`FlatIndex::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Put {
    /// A pair was added for the key.
    Added,
    /// The key's pair (another slot's) now names the slot.
    Moved,
    /// No room (more keys than the index was made for): nothing changed.
    Full,
}

/// Something that says whether a slot holds the key looked up (the
/// index keeps no keys).
pub(crate) trait Key {
    fn is(&self, slot: u32) -> bool;
}

impl<F: Fn(u32) -> bool> Key for F {
    #[inline(always)]
    fn is(&self, slot: u32) -> bool {
        self(slot)
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct FlatIndex {
    buckets: Vec<Bucket>,
    /// `buckets.len()`, at least 2.
    n: usize,
    seed: u64,
    len: usize,
}

/// One 64 × 64 → 128-bit multiply folded to 64 bits (wyhash's and
/// ahash's mixer): every input bit reaches every output bit.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;

impl FlatIndex {
    /// An index for at most `max` keys, its buckets reserved (and
    /// touched) now.
    pub(crate) fn with_capacity(max: usize) -> FlatIndex {
        let n = max.div_ceil(4).max(2);
        FlatIndex {
            buckets: crate::hint::huge_vec(n, Bucket::default()),
            n,
            seed: random_seed(),
            len: 0,
        }
    }

    /// The hash of a 64-bit key.
    #[inline(always)]
    pub(crate) fn hash64(&self, k: u64) -> u64 {
        fold(k ^ self.seed, K0)
    }

    /// The hash of a 128-bit key.
    #[inline(always)]
    pub(crate) fn hash128(&self, k: u128) -> u64 {
        fold((k as u64) ^ self.seed, ((k >> 64) as u64) ^ K1)
    }

    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.n as u64) >> 32) as usize
    }

    /// The bucket after `b`, round the end.
    #[inline(always)]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.n {
            0
        } else {
            b + 1
        }
    }

    #[inline(always)]
    fn fp(h: u64) -> u32 {
        h as u32 | 1
    }

    /// Keys in the index.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the index reserved.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    /// The ways of bucket `k` whose fingerprint is `f`, as bits (the
    /// eight lanes of `head` compared at once, the count's lane masked).
    #[inline(always)]
    fn matches(k: &Bucket, f: u32) -> u32 {
        crate::hint::eq_lanes(&k.head, f) & ((1 << WAYS) - 1)
    }

    /// The slot of the key hashing to `h` for which `is(slot)` holds.
    #[inline(always)]
    pub(crate) fn get(&self, h: u64, key: impl Key) -> Option<u32> {
        self.locate(h, &key).map(|(b, i)| self.buckets[b].slot[i])
    }

    /// Where the key's pair is: bucket and way.
    #[inline(always)]
    fn locate<K: Key>(&self, h: u64, key: &K) -> Option<(usize, usize)> {
        let f = Self::fp(h);
        let mut b = self.home(h);
        for _ in 0..self.n {
            let k = self.buckets.get(b)?;
            let mut m = Self::matches(k, f);
            while m != 0 {
                let i = m.trailing_zeros() as usize & WAYS;
                if key.is(k.slot[i]) {
                    return Some((b, i));
                }
                m &= m - 1;
            }
            if k.head[OVER] == 0 {
                return None;
            }
            b = self.next(b);
        }
        None
    }

    /// The slot of the first pair in `h`'s home bucket whose fingerprint
    /// matches, unverified: for a pre-pass that prefetches the slot's
    /// own data without waiting for it.
    #[inline(always)]
    pub(crate) fn candidate(&self, h: u64) -> Option<u32> {
        let f = Self::fp(h);
        let k = self.buckets.get(self.home(h))?;
        let m = Self::matches(k, f);
        (m != 0).then(|| k.slot[m.trailing_zeros() as usize & WAYS])
    }

    /// Prefetches `h`'s home bucket.
    #[inline(always)]
    pub(crate) fn prefetch(&self, h: u64) {
        crate::hint::prefetch(&self.buckets[self.home(h)]);
    }

    /// Maps the key hashing to `h` to `slot`: the pair of a slot for
    /// which `is` holds (the key's present slot) is pointed at `slot`
    /// ([`Put::Moved`]), else a pair is added ([`Put::Added`]; [`Put::Full`]
    /// only if the index already holds more keys than it was made for,
    /// and then nothing changed).
    pub(crate) fn insert(&mut self, h: u64, slot: u32, key: impl Key) -> Put {
        let f = Self::fp(h);
        if let Some((b, i)) = self.locate(h, &key) {
            self.buckets[b].slot[i] = slot;
            return Put::Moved;
        }
        // The first free pair from home; every full bucket passed counts
        // the key (counted only once the free pair is known to exist).
        let home = self.home(h);
        let mut b = home;
        for n in 0..self.n {
            if let Some(i) = self.buckets[b].head[..WAYS].iter().position(|&x| x == FREE) {
                let k = &mut self.buckets[b];
                k.head[i] = f;
                k.slot[i] = slot;
                let mut p = home;
                for _ in 0..n {
                    self.buckets[p].head[OVER] += 1;
                    p = self.next(p);
                }
                self.len += 1;
                return Put::Added;
            }
            b = self.next(b);
        }
        Put::Full
    }

    /// Removes the pair mapping the key hashing to `h` to `slot`, if
    /// there is one (the key may have been pointed at another slot since).
    pub(crate) fn remove(&mut self, h: u64, slot: u32) -> bool {
        let f = Self::fp(h);
        let home = self.home(h);
        let mut b = home;
        for n in 0..self.n {
            let k = &mut self.buckets[b];
            if let Some(i) = (0..WAYS).find(|&i| k.head[i] == f && k.slot[i] == slot) {
                k.head[i] = FREE;
                k.slot[i] = 0;
                let mut p = home;
                for _ in 0..n {
                    self.buckets[p].head[OVER] -= 1;
                    p = self.next(p);
                }
                self.len -= 1;
                return true;
            }
            if k.head[OVER] == 0 {
                return false;
            }
            b = self.next(b);
        }
        false
    }
}

/// A random 64-bit seed (the standard library's per-process keys for
/// `RandomState`, themselves from the OS).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The index with its keys kept beside it, as the GTP-U replica keeps
    /// them in its entries.
    struct Model {
        ix: FlatIndex,
        keys: Vec<Option<u64>>,
    }

    impl Model {
        fn new(max: usize, seed: u64) -> Model {
            let mut ix = FlatIndex::with_capacity(max);
            ix.seed = seed;
            Model {
                ix,
                keys: vec![None; max],
            }
        }
        fn get(&self, k: u64) -> Option<u32> {
            let keys = &self.keys;
            self.ix
                .get(self.ix.hash64(k), |s| keys[s as usize] == Some(k))
        }
        fn put(&mut self, slot: u32, k: u64) {
            self.unkey(slot);
            let h = self.ix.hash64(k);
            let keys = &self.keys;
            assert_ne!(
                self.ix.insert(h, slot, |s| keys[s as usize] == Some(k)),
                Put::Full
            );
            self.keys[slot as usize] = Some(k);
        }
        fn unkey(&mut self, slot: u32) {
            if let Some(k) = self.keys[slot as usize].take() {
                let h = self.ix.hash64(k);
                self.ix.remove(h, slot);
            }
        }
        /// Every bucket's `over` is what the keys' positions say.
        fn check_over(&self) {
            let n = self.ix.buckets.len();
            let mut want = vec![0u32; n];
            for (b, k) in self.ix.buckets.iter().enumerate() {
                for i in 0..WAYS {
                    if k.head[i] != FREE {
                        let s = k.slot[i];
                        let key = self.keys[s as usize].expect("a pair of a keyed slot");
                        let mut p = self.ix.home(self.ix.hash64(key));
                        while p != b {
                            want[p] += 1;
                            p = self.ix.next(p);
                        }
                    }
                }
            }
            let got: Vec<u32> = self.ix.buckets.iter().map(|b| b.head[OVER]).collect();
            assert_eq!(got, want);
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Put(u32, u64),
        Del(u32),
        Get(u64),
    }

    fn ops(max: u32, keys: u64) -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (0..max, 0..keys).prop_map(|(s, k)| Op::Put(s, k)),
                1 => (0..max).prop_map(Op::Del),
                2 => (0..keys).prop_map(Op::Get),
            ],
            0..400,
        )
    }

    proptest! {
        /// Against a `HashMap` (key → slot; a slot has at most one key, the
        /// last put wins), with few buckets and seeds that force long
        /// overflow chains: every lookup agrees, `len` and every `over`
        /// stay exact, and a full-to-capacity index still inserts.
        #[test]
        fn it_is_a_map(max in 1u32..40, keys in 1u64..80, seed in any::<u64>(), ops in ops(40, 80)) {
            let mut m = Model::new(max as usize, seed);
            let mut want: HashMap<u64, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Put(s, k) if s < max => {
                        let k = k % keys;
                        if let Some(old) = m.keys[s as usize] {
                            want.remove(&old);
                        }
                        let prev = want.insert(k, s);
                        m.put(s, k);
                        if let Some(prev) = prev {
                            // The key moved from slot `prev` (whose pair
                            // was pointed at `s`): `prev` has no key now.
                            m.keys[prev as usize] = None;
                        }
                    }
                    Op::Del(s) if s < max => {
                        if let Some(old) = m.keys[s as usize] {
                            want.remove(&old);
                        }
                        m.unkey(s);
                    }
                    Op::Get(k) => prop_assert_eq!(m.get(k % keys), want.get(&(k % keys)).copied()),
                    _ => {}
                }
                prop_assert_eq!(m.ix.len(), want.len());
                m.check_over();
            }
            for (k, s) in &want {
                prop_assert_eq!(m.get(*k), Some(*s));
            }
        }
    }

    /// A key moved to another slot is not removed by the old slot's
    /// removal (the GTP-U replica's re-keying order).
    #[test]
    fn a_moved_key_stays() {
        let mut m = Model::new(8, 7);
        m.put(1, 42);
        // Slot 2 takes key 42 while slot 1 still has it.
        let h = m.ix.hash64(42);
        let keys = m.keys.clone();
        assert_eq!(
            m.ix.insert(h, 2, |s| keys[s as usize] == Some(42)),
            Put::Moved
        );
        m.keys[2] = Some(42);
        assert_eq!(m.ix.len(), 1);
        // Slot 1 goes: its pair is gone already.
        assert!(!m.ix.remove(h, 1));
        assert_eq!(m.get(42), Some(2));
    }

    /// Many keys into one home bucket: they overflow into the following
    /// buckets and are all found, then all removed.
    #[test]
    fn overflow_chains_are_walked() {
        let max = 64;
        let mut m = Model::new(max, 1);
        // Keys with the same home bucket (searched for).
        let home = |m: &Model, k: u64| m.ix.home(m.ix.hash64(k));
        let h0 = home(&m, 0);
        let same: Vec<u64> = (0..).filter(|&k| home(&m, k) == h0).take(30).collect();
        for (s, &k) in same.iter().enumerate() {
            m.put(s as u32, k);
        }
        m.check_over();
        assert!(m.ix.buckets[h0].head[OVER] > 0);
        for (s, &k) in same.iter().enumerate() {
            assert_eq!(m.get(k), Some(s as u32));
        }
        for s in 0..same.len() {
            m.unkey(s as u32);
            m.check_over();
        }
        assert_eq!(m.ix.len(), 0);
        assert!(m.ix.buckets.iter().all(|b| b.head == [FREE; WAYS + 1]));
    }

    /// The bytes reserved: 64 per bucket, a bucket per 4 keys (at least 2).
    #[test]
    fn size() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(FlatIndex::with_capacity(1 << 20).reserved_bytes(), 16 << 20);
        assert_eq!(
            FlatIndex::with_capacity(57_344).reserved_bytes(),
            57_344 * 16
        );
        assert_eq!(
            FlatIndex::with_capacity(1_000_001).reserved_bytes(),
            250_001 * 64
        );
        assert_eq!(FlatIndex::with_capacity(1).reserved_bytes(), 128);
    }
}
