//! Sorted (key, value) lists for the per-packet "is this one of ours"
//! tests on configured sets whose size is the operator's: GTP-U endpoints,
//! the router's own addresses, NAT64's pool4. A scan of a handful of
//! entries is cheapest; past [`SCAN`] a binary search keeps the cost
//! logarithmic (a scan of 256 endpoints or 1024 pool4 addresses cost
//! thousands of instructions per packet).

/// Up to this many entries the lookups scan.
pub(crate) const SCAN: usize = 8;

/// The value of `x` in `v` (sorted by key, keys unique).
#[inline(always)]
pub(crate) fn find<K: Ord + Copy, V: Copy>(v: &[(K, V)], x: K) -> Option<V> {
    if v.len() <= SCAN {
        for &(k, val) in v {
            if k == x {
                return Some(val);
            }
        }
        return None;
    }
    let i = v.binary_search_by_key(&x, |e| e.0).ok()?;
    v.get(i).map(|e| e.1)
}

/// The entries of `x` in `v` (sorted by key; a key may repeat).
#[inline(always)]
pub(crate) fn all<K: Ord + Copy, V>(v: &[(K, V)], x: K) -> &[(K, V)] {
    let lo = if v.len() <= SCAN {
        match v.iter().position(|e| e.0 == x) {
            Some(i) => i,
            None => return &[],
        }
    } else {
        v.partition_point(|e| e.0 < x)
    };
    let n = v
        .get(lo..)
        .map_or(0, |r| r.iter().take_while(|e| e.0 == x).count());
    v.get(lo..lo + n).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both lookups answer as a scan, below and above [`SCAN`], with
    /// repeated keys for [`all`].
    #[test]
    fn lookups_match_a_scan() {
        for n in [0usize, 1, 3, SCAN, SCAN + 1, 40, 300] {
            let mut v: Vec<(u32, usize)> = (0..n).map(|i| ((i as u32 * 7) / 3 * 5, i)).collect();
            v.sort_unstable();
            for x in 0..(n as u32 * 12 + 3) {
                let want: Vec<(u32, usize)> = v.iter().copied().filter(|e| e.0 == x).collect();
                assert_eq!(all(&v, x), &want[..], "all, n {n}, x {x}");
            }
            let mut u = v.clone();
            u.dedup_by_key(|e| e.0);
            for x in 0..(n as u32 * 12 + 3) {
                let want = u.iter().find(|e| e.0 == x).map(|e| e.1);
                assert_eq!(find(&u, x), want, "find, n {n}, x {x}");
            }
        }
    }
}
