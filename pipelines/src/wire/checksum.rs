//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! ```text
//!   [RFC 1071 § 1] (1) Adjacent octets to be checksummed are paired to form
//!   16-bit integers, and the 1's complement sum of these 16-bit integers is
//!   formed.  (2) To generate a checksum, the checksum field itself is
//!   cleared, the 16-bit 1's complement sum is computed over the octets
//!   concerned, and the 1's complement of this sum is placed in the checksum
//!   field.  (3) To check a checksum, the 1's complement sum is computed over
//!   the same set of octets, including the checksum field.  If the result is
//!   all 1 bits (-0 in 1's complement arithmetic), the check succeeds.
//! ```
//!
//! Partial sums are `u32` values that callers may add together (`sum(a) +
//! sum(b) + pseudo_v4(..)`) before calling [`finish`]. [`sum`] returns a
//! value already folded to 16 bits, so a handful of additions never
//! overflows. Each summed slice must start at an even offset of the
//! checksummed data, since an odd-length slice is padded with a zero octet.

/// Ones' complement sum of `data` as big-endian 16-bit words; an odd final
/// octet is padded with zero on the right ([RFC 1071 § 4.1]).
///
/// The result is folded to at most 16 significant bits.
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    sum_in(data)
}

#[inline(always)]
fn sum_in(data: &[u8]) -> u32 {
    fold64(add_words(0, data))
}

/// `acc` plus `data` as native-order 64-bit words, end-around carries
/// added back (the tail padded with zeros on the right, as one more
/// word). `data` must start at an even offset of the summed run.
#[inline(always)]
fn add_words(mut acc: u64, data: &[u8]) -> u64 {
    // Eight octets at a time, as native-order 64-bit words with the
    // end-around carry added back at once (RFC 1071 § 2 (B) and (C): the
    // sum is independent of byte order, a native-order sum being the
    // big-endian one byte-swapped; four 16-bit columns summed side by
    // side fold to the same 16-bit sum). The tail is padded with zeros on
    // the right, as one more word.
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let (s, carry) = acc.overflowing_add(w);
        acc = s + u64::from(carry);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // (The tail in fixed-size pieces: a copy of variable length would
        // be a `memcpy` call.)
        let mut t = [0u8; 8];
        let mut k = 0;
        if let Some(r) = rest.first_chunk::<4>() {
            t[..4].copy_from_slice(r);
            k = 4;
        }
        if let (Some(r), Some(d)) = (
            rest.get(k..).and_then(|r| r.first_chunk::<2>()),
            t.get_mut(k..k + 2),
        ) {
            d.copy_from_slice(r);
            k += 2;
        }
        if let (Some(&r), Some(d)) = (rest.get(k), t.get_mut(k)) {
            *d = r;
        }
        let (s, carry) = acc.overflowing_add(u64::from_ne_bytes(t));
        acc = s + u64::from(carry);
    }
    acc
}

/// Folds the carries of a 32-bit partial sum into 16 bits (end-around
/// carry, [RFC 1071 § 2 (B)]).
#[inline(always)]
pub fn fold(sum: u32) -> u16 {
    // The word plus itself rotated by 16: the upper half is high + low
    // with the end-around carry (no loop, no branch; Linux's csum_fold).
    (sum.wrapping_add(sum.rotate_right(16)) >> 16) as u16
}

/// [`sum`] of a fixed-size run (an address, a header): the same sum,
/// unrolled where it is inlined.
#[inline(always)]
pub fn sum_n<const N: usize>(data: &[u8; N]) -> u32 {
    // `sum`'s code inlined with the length known at compile time:
    // straight-line loads and adds, no loop and no bounds checks.
    sum_in(data)
}

/// The sum of two runs of equal, even length (a source and a
/// destination address): [`sum`] of the two side by side, with one fold.
#[inline(always)]
pub fn sum_pair<const N: usize>(a: &[u8; N], b: &[u8; N]) -> u32 {
    const { assert!(N % 2 == 0) };
    if N % 8 != 0 && 2 * N <= 8 {
        // (Both in one word: an IPv4 address pair.)
        let mut t = [0u8; 8];
        t[..N].copy_from_slice(a);
        t[N..2 * N].copy_from_slice(b);
        return fold64(add_words(0, &t));
    }
    fold64(add_words(add_words(0, a), b))
}

/// A native-order 64-bit ones' complement sum folded to 16 bits,
/// big-endian (what [`sum`] returns).
#[inline(always)]
fn fold64(acc: u64) -> u32 {
    u32::from(u16::from_be(fold64_ne(acc)))
}

/// A 64-bit ones' complement sum folded to 16 bits, in the byte order it
/// was summed in (native-order words give the big-endian sum
/// byte-swapped, RFC 1071 §2(B)). 64 → 32 bits the way [`fold`] does
/// 32 → 16 (Linux's from64to32); a non-zero sum never folds to zero.
#[inline(always)]
pub(crate) fn fold64_ne(acc: u64) -> u16 {
    fold((acc.wrapping_add(acc.rotate_right(32)) >> 32) as u32)
}

/// The value to store in a checksum field: the ones' complement of the
/// folded sum.
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Partial sum of the IPv4 pseudo-header used by UDP and TCP
/// ([RFC 768], [RFC 9293 § 3.1]): source, destination, zero, protocol,
/// upper-layer length.
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
    u32::from(u16::from_be_bytes([src[0], src[1]]))
        + u32::from(u16::from_be_bytes([src[2], src[3]]))
        + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
        + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
        + u32::from(proto)
        + u32::from(len)
}

/// Partial sum of the IPv6 pseudo-header ([RFC 8200 § 8.1]): source,
/// destination, 32-bit upper-layer packet length, three zero octets, next
/// header.
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], proto: u8, len: u32) -> u32 {
    sum_pair(src, dst) + (len >> 16) + (len & 0xffff) + u32::from(proto)
}

/// Updates checksum `csum` after a 16-bit word of the covered data changed
/// from `old` to `new`.
///
/// ```text
///   [RFC 1624 § 3] HC' = ~(~HC + ~m + m')    -- [Eqn. 3]
/// ```
///
/// Eqn. 3 rather than Eqn. 2 (`HC - ~m - m'`) because it never produces the
/// 0xFFFF that a full recomputation can not produce ([RFC 1624 § 4]).
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!csum) + u32::from(!old) + u32::from(new))
}

/// [`update16`] for an aligned 32-bit field (an IPv4 address, a TCP
/// sequence number).
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let s = u32::from(!csum)
        + u32::from(!(old >> 16) as u16)
        + u32::from(!old as u16)
        + (new >> 16)
        + (new & 0xffff);
    !fold(s)
}

/// [`update16`] for a run of octets that changed from `old` to `new`
/// (e.g. an IPv6 address, or a whole pseudo-header when translating
/// between IPv4 and IPv6). Both runs must start at an even offset of the
/// covered data; they are normally of equal, even length, but a length
/// change is handled as "remove `old`, add `new`".
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    update_sums(csum, sum(old), sum(new))
}

/// [`update_bytes`] given the partial sums of the old and the new octets
/// (from [`sum`] / [`sum_n`], or sums of such sums).
#[inline]
pub fn update_sums(csum: u16, old: u32, new: u32) -> u16 {
    // ~m summed word by word equals ~(sum m) in ones' complement.
    !fold(u32::from(!csum) + u32::from(!fold(old)) + u32::from(fold(new)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic xorshift so the "random" inputs are reproducible.
    fn xorshift(state: &mut u64) -> u64 {
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x
    }

    /// `sum_n` is `sum` for fixed sizes (with and without a tail),
    /// `sum_pair` is `sum` of the two runs side by side, and the
    /// branch-free `fold` is the loop it replaced, at the edges too.
    #[test]
    fn fixed_size_sums_and_fold() {
        fn check<const N: usize>(st: &mut u64) {
            for _ in 0..500 {
                let mut a = [0u8; N];
                for b in a.iter_mut() {
                    *b = xorshift(st) as u8;
                }
                assert_eq!(sum_n(&a), sum(&a), "{N} {a:?}");
            }
            assert_eq!(sum_n(&[0xffu8; N]), sum(&[0xffu8; N]));
            assert_eq!(sum_n(&[0u8; N]), 0);
        }
        let mut st = 0x1234_5678_9abc_def1;
        check::<2>(&mut st);
        check::<4>(&mut st);
        check::<8>(&mut st);
        check::<16>(&mut st);
        check::<20>(&mut st);
        check::<32>(&mut st);
        check::<40>(&mut st);
        for _ in 0..500 {
            let mut a = [0u8; 32];
            for b in a.iter_mut() {
                *b = xorshift(&mut st) as u8;
            }
            let (s, d) = (a[..16].try_into().unwrap(), a[16..].try_into().unwrap());
            assert_eq!(sum_pair::<16>(s, d), sum(&a));
            let (s, d) = (a[..4].try_into().unwrap(), a[4..8].try_into().unwrap());
            assert_eq!(sum_pair::<4>(s, d), sum(&a[..8]));
        }
        let by_loop = |mut s: u32| {
            while s >> 16 != 0 {
                s = (s & 0xffff) + (s >> 16);
            }
            s as u16
        };
        for s in [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0xfffe_ffff,
            0x8000_8000,
        ] {
            assert_eq!(fold(s), by_loop(s), "{s:#x}");
        }
        for _ in 0..10_000 {
            let s = xorshift(&mut st) as u32;
            assert_eq!(fold(s), by_loop(s), "{s:#x}");
        }
        // The 64-bit fold (rotations) against the loop, at the carries'
        // edges and at random.
        let by_loop64 = |mut s: u128| {
            while s >> 16 != 0 {
                s = (s & 0xffff) + (s >> 16);
            }
            u32::from(u16::from_be(s as u16))
        };
        for a in [
            0u64,
            1,
            0xffff,
            0xffff_ffff,
            1 << 32,
            0xffff_ffff_0000_0001,
            0x0001_0000_ffff_ffff,
            0x8000_0000_8000_0000,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(fold64(a), by_loop64(u128::from(a)), "{a:#x}");
        }
        for _ in 0..10_000 {
            let a = xorshift(&mut st);
            assert_eq!(fold64(a), by_loop64(u128::from(a)), "{a:#x}");
        }
    }

    // [RFC 1071 § 3] worked example: bytes 00 01 f2 03 f4 f5 f6 f7.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(finish(sum(&data)), !0xddf2);
    }

    /// RFC 1071's definition, 16 bits at a time (what `sum` was).
    fn sum_by_words(data: &[u8]) -> u32 {
        let mut acc: u64 = 0;
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            acc += u64::from(*last) << 8;
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u32
    }

    #[test]
    fn wide_sum_matches_the_definition() {
        let mut st = 0x9e37_79b9_7f4a_7c15u64;
        let mut buf = [0u8; 300];
        for round in 0..20_000 {
            let len = (xorshift(&mut st) % 300) as usize;
            match round % 5 {
                0 => buf.fill(0xff),
                1 => buf.fill(0),
                _ => buf.iter_mut().for_each(|b| *b = xorshift(&mut st) as u8),
            }
            // Slices at every alignment.
            let at = (xorshift(&mut st) % 8) as usize;
            let d = &buf[at.min(len)..len];
            assert_eq!(sum(d), sum_by_words(d), "{d:x?}");
        }
    }

    #[test]
    fn odd_length_pads_right() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
        assert_eq!(finish(0), 0xffff);
    }

    #[test]
    fn large_input_does_not_overflow() {
        let data = vec![0xff; 200_000];
        assert_eq!(fold(sum(&data)), 0xffff);
    }

    #[test]
    fn verify_yields_all_ones() {
        // An IPv4 header with a valid checksum sums to 0xffff.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum(&hdr)), 0xffff);
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_v4([192, 168, 0, 1], [10, 0, 0, 2], 17, 20);
        let manual = sum(&[192, 168, 0, 1, 10, 0, 0, 2, 0, 17, 0, 20]);
        assert_eq!(fold(v4), fold(manual));

        let mut s = [0u8; 16];
        s[0] = 0x20;
        s[1] = 0x01;
        s[15] = 1;
        let mut d = s;
        d[15] = 2;
        let v6 = pseudo_v6(&s, &d, 58, 0x0001_0020);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&s);
        bytes.extend_from_slice(&d);
        bytes.extend_from_slice(&0x0001_0020u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(fold(v6), fold(sum(&bytes)));
    }

    // [RFC 1624 § 4]: m = 0x5555 -> 0x3285, sum of the other octets 0xCD7A.
    // Eqn. 2 would give 0xFFFF; Eqn. 3 gives the recomputed 0x0000.
    #[test]
    fn rfc1624_corner_case() {
        let hc = finish(0xcd7a + 0x5555);
        assert_eq!(hc, 0xdd2f);
        let recomputed = finish(0xcd7a + 0x3285);
        assert_eq!(recomputed, 0x0000);
        assert_eq!(update16(hc, 0x5555, 0x3285), recomputed);
    }

    #[test]
    fn incremental_equals_recompute_for_all_ones_and_zero_words() {
        // Words 0x0000 and 0xffff are both "zero" in ones' complement; the
        // update must still agree with recomputation.
        for (other, old, new) in [
            (0x1234u16, 0x0000u16, 0xffffu16),
            (0x1234, 0xffff, 0x0000),
            (0xffff, 0x0000, 0x0001),
            (0x0001, 0xfffe, 0x0000),
            (0x0000, 0x0001, 0xffff),
            (0x8000, 0x7fff, 0x0000),
        ] {
            let mut data = [0u8; 4];
            data[..2].copy_from_slice(&other.to_be_bytes());
            data[2..].copy_from_slice(&old.to_be_bytes());
            let hc = finish(sum(&data));
            data[2..].copy_from_slice(&new.to_be_bytes());
            let full = finish(sum(&data));
            let inc = update16(hc, old, new);
            // Both are valid encodings of the same sum; when the covered
            // data is not all zero they are bit-identical.
            assert_eq!(
                fold(u32::from(!inc)),
                fold(u32::from(!full)),
                "{other:04x} {old:04x}->{new:04x}"
            );
            if data != [0; 4] {
                assert_eq!(inc, full, "{other:04x} {old:04x}->{new:04x}");
            }
        }
    }

    #[test]
    fn incremental_equals_recompute_random() {
        let mut st = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let len = 2 * (2 + (xorshift(&mut st) % 40) as usize);
            let mut data: Vec<u8> = (0..len).map(|_| xorshift(&mut st) as u8).collect();
            let hc = finish(sum(&data));

            // One 16-bit word.
            let i = 2 * ((xorshift(&mut st) as usize) % (len / 2));
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            let new = xorshift(&mut st) as u16;
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let hc2 = update16(hc, old, new);
            assert_eq!(hc2, finish(sum(&data)));

            // One aligned 32-bit word.
            let j = 2 * ((xorshift(&mut st) as usize) % (len / 2 - 1));
            let old = u32::from_be_bytes([data[j], data[j + 1], data[j + 2], data[j + 3]]);
            let new = xorshift(&mut st) as u32;
            data[j..j + 4].copy_from_slice(&new.to_be_bytes());
            let hc3 = update32(hc2, old, new);
            assert_eq!(hc3, finish(sum(&data)));

            // A run of bytes at an even offset.
            let k = 2 * ((xorshift(&mut st) as usize) % (len / 2));
            let n = (len - k).min(16) & !1;
            let old: Vec<u8> = data[k..k + n].to_vec();
            for b in &mut data[k..k + n] {
                *b = xorshift(&mut st) as u8;
            }
            let hc4 = update_bytes(hc3, &old, &data[k..k + n]);
            assert_eq!(hc4, finish(sum(&data)));
        }
    }

    #[test]
    fn update_bytes_changes_length() {
        // Replacing an IPv4 pseudo-header by an IPv6 one (NAT64).
        let payload = [0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc];
        let p4 = [192u8, 0, 2, 1, 198, 51, 100, 7, 0, 17, 0, 6];
        let mut p6 = [0u8; 40];
        p6[0] = 0x20;
        p6[15] = 1;
        p6[16] = 0x20;
        p6[31] = 7;
        p6[35] = 6;
        p6[39] = 17;
        let c4 = finish(sum(&p4) + sum(&payload));
        let c6 = finish(sum(&p6) + sum(&payload));
        assert_eq!(update_bytes(c4, &p4, &p6), c6);
    }
}
