//! FIBs against a naive reference (linear scan for the longest match).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

/// xorshift64* — deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn u128(&mut self) -> u128 {
        (u128::from(self.next()) << 64) | u128::from(self.next())
    }
}

fn full(w: u32) -> u128 {
    if w == 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    }
}

fn mask(w: u32, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        full(w) & !((1u128 << (w - u32::from(len))) - 1)
    }
}

trait TestFib: Clone {
    type Snap;
    const W: u32;
    fn make(max_groups: u32) -> Self;
    fn ins(&mut self, p: u128, len: u8, nh: u32) -> Result<Option<u32>, FibError>;
    fn rem(&mut self, p: u128, len: u8) -> Option<u32>;
    fn look(&self, a: u128) -> Option<u32>;
    fn snap(&self) -> Self::Snap;
    fn snap_look(s: &Self::Snap, a: u128) -> Option<u32>;
    fn routes(&self) -> Vec<(u128, u8, u32)>;
    fn count(&self) -> usize;
    fn groups_used(&self) -> u32;
}

impl TestFib for Fib4 {
    type Snap = Fib4Table;
    const W: u32 = 32;
    fn make(max_groups: u32) -> Self {
        Fib4::with_max_groups(max_groups)
    }
    fn ins(&mut self, p: u128, len: u8, nh: u32) -> Result<Option<u32>, FibError> {
        self.insert(Ipv4Addr::from_bits(p as u32), len, nh)
    }
    fn rem(&mut self, p: u128, len: u8) -> Option<u32> {
        self.remove(Ipv4Addr::from_bits(p as u32), len)
    }
    fn look(&self, a: u128) -> Option<u32> {
        let r = self.lookup(Ipv4Addr::from_bits(a as u32));
        assert_eq!(r, self.lookup_u32(a as u32));
        r
    }
    fn snap(&self) -> Fib4Table {
        self.snapshot()
    }
    fn snap_look(s: &Fib4Table, a: u128) -> Option<u32> {
        s.lookup_u32(a as u32)
    }
    fn routes(&self) -> Vec<(u128, u8, u32)> {
        self.iter()
            .map(|(p, l, nh)| (u128::from(p.to_bits()), l, nh))
            .collect()
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn groups_used(&self) -> u32 {
        self.groups().0
    }
}

impl TestFib for Fib6 {
    type Snap = Fib6Table;
    const W: u32 = 128;
    fn make(max_groups: u32) -> Self {
        Fib6::with_max_groups(max_groups)
    }
    fn ins(&mut self, p: u128, len: u8, nh: u32) -> Result<Option<u32>, FibError> {
        self.insert(Ipv6Addr::from_bits(p), len, nh)
    }
    fn rem(&mut self, p: u128, len: u8) -> Option<u32> {
        self.remove(Ipv6Addr::from_bits(p), len)
    }
    fn look(&self, a: u128) -> Option<u32> {
        let r = self.lookup(Ipv6Addr::from_bits(a));
        assert_eq!(r, self.lookup_u128(a));
        r
    }
    fn snap(&self) -> Fib6Table {
        self.snapshot()
    }
    fn snap_look(s: &Fib6Table, a: u128) -> Option<u32> {
        s.lookup_u128(a)
    }
    fn routes(&self) -> Vec<(u128, u8, u32)> {
        self.iter().map(|(p, l, nh)| (p.to_bits(), l, nh)).collect()
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn groups_used(&self) -> u32 {
        self.groups().0
    }
}

#[derive(Default)]
struct Reference(BTreeMap<(u128, u8), u32>);

impl Reference {
    fn lookup(&self, w: u32, a: u128) -> Option<u32> {
        self.0
            .iter()
            .filter(|(&(p, l), _)| a & mask(w, l) == p)
            .max_by_key(|(&(_, l), _)| l)
            .map(|(_, &nh)| nh)
    }
}

/// Addresses clustered around a few bases so that prefixes overlap a lot,
/// plus some uniform ones.
fn addr(rng: &mut Rng, w: u32, bases: &[u128]) -> u128 {
    if rng.below(8) == 0 {
        return rng.u128() & full(w);
    }
    let base = bases[rng.below(bases.len() as u64) as usize];
    let low_bits = rng.below(u64::from(w) + 1) as u32;
    let low = if low_bits == 0 {
        0
    } else {
        rng.u128() & (full(w) >> (w - low_bits))
    };
    (base ^ low) & full(w)
}

fn random_len(rng: &mut Rng, w: u32) -> u8 {
    // Favour the interesting lengths: around the root boundary and the end.
    match rng.below(4) {
        0 => {
            let l = rng.below(u64::from(w) + 1) as u8;
            // A short v4 prefix repaints up to 2^24 entries: slow in debug
            // builds, so keep them rare.
            if w == 32 && l < 8 && rng.below(16) != 0 {
                l + 8
            } else {
                l
            }
        }
        1 => (w - rng.below(4) as u32) as u8,
        _ => {
            let root = if w == 32 { 24 } else { 16 };
            let d = rng.below(17) as i64 - 8;
            (i64::from(root) + d).clamp(0, i64::from(w)) as u8
        }
    }
}

fn check<F: TestFib>(fib: &F, reference: &Reference, rng: &mut Rng, bases: &[u128], n: usize) {
    let w = F::W;
    let snap = fib.snap();
    for _ in 0..n {
        let a = addr(rng, w, bases);
        let want = reference.lookup(w, a);
        assert_eq!(fib.look(a), want, "lookup {a:#x}");
        assert_eq!(F::snap_look(&snap, a), want, "snapshot lookup {a:#x}");
    }
    // Every route's own first and last address.
    for (&(p, l), _) in reference.0.iter().take(300) {
        for a in [p, p | (full(w) & !mask(w, l))] {
            assert_eq!(fib.look(a), reference.lookup(w, a), "edge {a:#x}");
        }
    }
    let want: Vec<_> = reference
        .0
        .iter()
        .map(|(&(p, l), &nh)| (p, l, nh))
        .collect();
    assert_eq!(fib.routes(), want);
    assert_eq!(fib.count(), want.len());
}

fn random_against_reference<F: TestFib>(seed: u64) {
    let w = F::W;
    let mut rng = Rng(seed);
    let bases: Vec<u128> = (0..6).map(|_| rng.u128() & full(w)).collect();
    let mut fib = F::make(1 << 16);
    let mut reference = Reference::default();
    let mut keys: Vec<(u128, u8)> = Vec::new();
    for round in 0..12 {
        // Grow for the first rounds, then shrink.
        let p_insert = if round < 8 { 75 } else { 25 };
        for _ in 0..500 {
            if rng.below(100) < p_insert || keys.is_empty() {
                let len = random_len(&mut rng, w);
                let p = addr(&mut rng, w, &bases) & mask(w, len);
                let nh = rng.below(u64::from(MAX_NEXT_HOP) + 1) as u32;
                let old = fib.ins(p, len, nh).expect("insert");
                assert_eq!(old, reference.0.insert((p, len), nh));
                if old.is_none() {
                    keys.push((p, len));
                }
            } else {
                let (p, len) = keys.swap_remove(rng.below(keys.len() as u64) as usize);
                assert_eq!(fib.rem(p, len), reference.0.remove(&(p, len)));
                assert_eq!(fib.rem(p, len), None, "removed twice");
            }
        }
        check(&fib, &reference, &mut rng, &bases, 2000);
    }
    // Removing everything frees every group.
    for (p, len) in keys.drain(..) {
        assert!(fib.rem(p, len).is_some());
    }
    assert_eq!(fib.count(), 0);
    assert_eq!(fib.groups_used(), 0, "groups leaked");
    for _ in 0..1000 {
        assert_eq!(fib.look(addr(&mut rng, w, &bases)), None);
    }
}

#[test]
fn fib4_random_against_reference() {
    for seed in [1, 0x9e37_79b9_7f4a_7c15, 42] {
        random_against_reference::<Fib4>(seed);
    }
}

#[test]
fn fib6_random_against_reference() {
    for seed in [7, 0xdead_beef_cafe_f00d, 1234] {
        random_against_reference::<Fib6>(seed);
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn fib4_basics() {
    let mut f = Fib4::new();
    assert!(f.is_empty());
    assert_eq!(f.lookup(v4("1.2.3.4")), None);
    assert_eq!(f.insert(v4("0.0.0.0"), 0, 1), Ok(None));
    assert_eq!(f.lookup(v4("1.2.3.4")), Some(1));
    assert_eq!(f.lookup(v4("255.255.255.255")), Some(1));
    f.insert(v4("10.0.0.0"), 8, 2).unwrap();
    f.insert(v4("10.1.0.0"), 16, 3).unwrap();
    f.insert(v4("10.1.2.0"), 24, 4).unwrap();
    f.insert(v4("10.1.2.128"), 25, 5).unwrap();
    f.insert(v4("10.1.2.200"), 32, 6).unwrap();
    let at = |f: &Fib4, a| f.lookup(v4(a));
    assert_eq!(at(&f, "10.1.2.200"), Some(6));
    assert_eq!(at(&f, "10.1.2.201"), Some(5));
    assert_eq!(at(&f, "10.1.2.127"), Some(4));
    assert_eq!(at(&f, "10.1.3.1"), Some(3));
    assert_eq!(at(&f, "10.2.0.0"), Some(2));
    assert_eq!(at(&f, "11.0.0.0"), Some(1));
    assert_eq!(f.groups(), (1, DEFAULT_TBL8_GROUPS4));

    // Replace returns the old next hop; more specifics are untouched.
    assert_eq!(f.insert(v4("10.0.0.0"), 8, 20), Ok(Some(2)));
    assert_eq!(at(&f, "10.2.0.0"), Some(20));
    assert_eq!(at(&f, "10.1.2.200"), Some(6));

    let snap = f.snapshot();
    // Removing restores the covering route.
    assert_eq!(f.remove(v4("10.1.2.0"), 24), Some(4));
    assert_eq!(at(&f, "10.1.2.127"), Some(3));
    assert_eq!(at(&f, "10.1.2.130"), Some(5));
    assert_eq!(f.remove(v4("10.1.2.128"), 25), Some(5));
    assert_eq!(at(&f, "10.1.2.130"), Some(3));
    assert_eq!(at(&f, "10.1.2.200"), Some(6));
    assert_eq!(f.remove(v4("10.1.2.200"), 32), Some(6));
    assert_eq!(at(&f, "10.1.2.200"), Some(3));
    assert_eq!(f.groups().0, 0, "tbl8 group freed");
    assert_eq!(f.remove(v4("10.1.0.0"), 16), Some(3));
    assert_eq!(at(&f, "10.1.2.200"), Some(20));
    assert_eq!(f.remove(v4("10.1.0.0"), 16), None);
    assert_eq!(f.remove(v4("0.0.0.0"), 0), Some(1));
    assert_eq!(at(&f, "11.0.0.0"), None);
    assert_eq!(at(&f, "10.9.9.9"), Some(20));

    // The snapshot still answers as before.
    assert_eq!(snap.lookup(v4("10.1.2.200")), Some(6));
    assert_eq!(snap.lookup(v4("10.1.2.127")), Some(4));
    assert_eq!(snap.lookup(v4("11.0.0.0")), Some(1));

    let routes: Vec<_> = f.iter().collect();
    assert_eq!(routes, vec![(v4("10.0.0.0"), 8, 20)]);
    assert_eq!(f.get(v4("10.0.0.0"), 8), Some(20));
    assert_eq!(f.get(v4("10.0.0.0"), 9), None);
}

#[test]
fn fib4_host_routes_and_sort_order() {
    let mut f = Fib4::new();
    f.insert(v4("192.0.2.1"), 32, 1).unwrap();
    f.insert(v4("192.0.2.0"), 32, 2).unwrap();
    f.insert(v4("192.0.2.0"), 24, 3).unwrap();
    f.insert(v4("255.255.255.255"), 32, 4).unwrap();
    f.insert(v4("0.0.0.0"), 32, 5).unwrap();
    assert_eq!(f.lookup(v4("192.0.2.1")), Some(1));
    assert_eq!(f.lookup(v4("192.0.2.0")), Some(2));
    assert_eq!(f.lookup(v4("192.0.2.2")), Some(3));
    assert_eq!(f.lookup(v4("255.255.255.255")), Some(4));
    assert_eq!(f.lookup(v4("255.255.255.254")), None);
    assert_eq!(f.lookup(v4("0.0.0.0")), Some(5));
    assert_eq!(f.lookup(v4("0.0.0.1")), None);
    let routes: Vec<_> = f.iter().map(|(p, l, _)| (p, l)).collect();
    assert_eq!(
        routes,
        vec![
            (v4("0.0.0.0"), 32),
            (v4("192.0.2.0"), 24),
            (v4("192.0.2.0"), 32),
            (v4("192.0.2.1"), 32),
            (v4("255.255.255.255"), 32),
        ]
    );
}

#[test]
fn fib4_errors() {
    let mut f = Fib4::new();
    assert_eq!(
        f.insert(v4("10.0.0.0"), 33, 1),
        Err(FibError::BadLength { len: 33, max: 32 })
    );
    let e = f.insert(v4("10.0.0.1"), 24, 1).unwrap_err();
    assert_eq!(
        e,
        FibError::HostBitsSet {
            prefix: v4("10.0.0.1").into(),
            len: 24,
            canonical: v4("10.0.0.0").into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "10.0.0.1/24 has host bits set (the network is 10.0.0.0/24)"
    );
    assert!(f.insert(v4("0.0.0.1"), 0, 1).is_err());
    assert_eq!(
        f.insert(v4("10.0.0.0"), 8, MAX_NEXT_HOP + 1),
        Err(FibError::NextHopOutOfRange(MAX_NEXT_HOP + 1))
    );
    assert_eq!(f.insert(v4("10.0.0.0"), 8, MAX_NEXT_HOP), Ok(None));
    assert_eq!(f.lookup(v4("10.0.0.0")), Some(MAX_NEXT_HOP));
    assert_eq!(f.remove(v4("10.0.0.1"), 24), None);
    assert_eq!(f.remove(v4("10.0.0.0"), 40), None);
    assert_eq!(f.len(), 1);
}

#[test]
fn fib4_full_is_an_error_and_changes_nothing() {
    let mut f = Fib4::with_max_groups(2);
    f.insert(v4("10.0.0.0"), 25, 1).unwrap();
    f.insert(v4("10.0.0.128"), 25, 2).unwrap();
    f.insert(v4("10.0.1.0"), 32, 3).unwrap();
    assert_eq!(f.groups(), (2, 2));
    assert_eq!(
        f.insert(v4("10.0.2.0"), 26, 4),
        Err(FibError::Full { max_groups: 2 })
    );
    assert_eq!(f.len(), 3);
    assert_eq!(f.lookup(v4("10.0.2.0")), None);
    // Routes within existing groups, and short routes, still fit.
    f.insert(v4("10.0.1.128"), 25, 5).unwrap();
    f.insert(v4("10.0.0.0"), 16, 6).unwrap();
    assert_eq!(f.lookup(v4("10.0.2.0")), Some(6));
    assert_eq!(f.lookup(v4("10.0.1.1")), Some(6));
    f.remove(v4("10.0.1.0"), 32).unwrap();
    f.remove(v4("10.0.1.128"), 25).unwrap();
    assert_eq!(f.groups().0, 1);
    f.insert(v4("10.0.2.0"), 26, 4).unwrap();
    assert_eq!(f.lookup(v4("10.0.2.0")), Some(4));
}

#[test]
fn fib6_basics() {
    let mut f = Fib6::new();
    assert_eq!(f.lookup(v6("2001:db8::1")), None);
    f.insert(v6("::"), 0, 1).unwrap();
    f.insert(v6("2001:db8::"), 32, 2).unwrap();
    f.insert(v6("2001:db8:1::"), 48, 3).unwrap();
    f.insert(v6("2001:db8:1:2::"), 64, 4).unwrap();
    f.insert(v6("2001:db8:1:2::1"), 128, 5).unwrap();
    f.insert(v6("2001:db8:1:2:8000::"), 65, 6).unwrap();
    let at = |f: &Fib6, a| f.lookup(v6(a));
    assert_eq!(at(&f, "2001:db8:1:2::1"), Some(5));
    assert_eq!(at(&f, "2001:db8:1:2::2"), Some(4));
    assert_eq!(at(&f, "2001:db8:1:2:8000::1"), Some(6));
    assert_eq!(at(&f, "2001:db8:1:3::"), Some(3));
    assert_eq!(at(&f, "2001:db8:2::"), Some(2));
    assert_eq!(at(&f, "2001:db9::"), Some(1));
    assert_eq!(at(&f, "ffff::"), Some(1));
    assert_eq!(f.insert(v6("2001:db8::"), 32, 22), Ok(Some(2)));
    assert_eq!(at(&f, "2001:db8:2::"), Some(22));

    let snap = f.snapshot();
    assert_eq!(f.remove(v6("2001:db8:1:2::"), 64), Some(4));
    assert_eq!(at(&f, "2001:db8:1:2::2"), Some(3));
    assert_eq!(at(&f, "2001:db8:1:2::1"), Some(5));
    assert_eq!(f.remove(v6("2001:db8:1:2::1"), 128), Some(5));
    assert_eq!(at(&f, "2001:db8:1:2::1"), Some(3));
    assert_eq!(f.remove(v6("2001:db8:1:2:8000::"), 65), Some(6));
    assert_eq!(f.remove(v6("2001:db8:1::"), 48), Some(3));
    assert_eq!(at(&f, "2001:db8:1:2::1"), Some(22));
    assert_eq!(f.groups().0, 2, "only the /32's path remains");
    assert_eq!(f.remove(v6("2001:db8::"), 32), Some(22));
    assert_eq!(f.groups().0, 0);
    assert_eq!(at(&f, "2001:db8:1:2::1"), Some(1));
    assert_eq!(snap.lookup(v6("2001:db8:1:2::1")), Some(5));
    assert_eq!(snap.lookup(v6("2001:db8:1:2::2")), Some(4));

    f.insert(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 128, 9)
        .unwrap();
    assert_eq!(at(&f, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some(9));
    assert_eq!(at(&f, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), Some(1));
}

#[test]
fn fib6_errors_and_full() {
    let mut f = Fib6::with_max_groups(4);
    assert_eq!(
        f.insert(v6("2001:db8::"), 129, 1),
        Err(FibError::BadLength { len: 129, max: 128 })
    );
    assert_eq!(
        f.insert(v6("2001:db8::1"), 64, 1).unwrap_err().to_string(),
        "2001:db8::1/64 has host bits set (the network is 2001:db8::/64)"
    );
    // A /48 needs groups for bits 16.., 24.., 32.. and 40..: four.
    f.insert(v6("2001:db8:1::"), 48, 1).unwrap();
    assert_eq!(f.groups(), (4, 4));
    // A /128 would need ten more: refused whole.
    assert_eq!(
        f.insert(v6("2001:db8:1::1"), 128, 2),
        Err(FibError::Full { max_groups: 4 })
    );
    assert_eq!(f.groups(), (4, 4));
    assert_eq!(f.lookup(v6("2001:db8:1::1")), Some(1));
    assert_eq!(f.len(), 1);
}

#[test]
fn fib6_burst_matches_lookup() {
    let mut rng = Rng(77);
    let bases: Vec<u128> = (0..4).map(|_| rng.u128()).collect();
    let mut f = Fib6::new();
    for _ in 0..3000 {
        let len = random_len(&mut rng, 128);
        let p = addr(&mut rng, 128, &bases) & mask(128, len);
        f.insert(Ipv6Addr::from_bits(p), len, rng.below(1000) as u32)
            .unwrap();
    }
    let addrs: Vec<u128> = (0..1000).map(|_| addr(&mut rng, 128, &bases)).collect();
    let mut out = vec![Some(u32::MAX); 1000];
    let t = f.snapshot();
    t.lookup_burst(&addrs, &mut out);
    for (a, o) in addrs.iter().zip(&out) {
        assert_eq!(*o, t.lookup_u128(*a));
    }
    // A short `out` bounds the work.
    let mut short = [Some(u32::MAX); 3];
    t.lookup_burst(&addrs, &mut short);
    assert_eq!(short[..], out[..3]);
}
