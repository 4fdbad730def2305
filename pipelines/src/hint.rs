//! The one place this crate uses `unsafe`: hints to the CPU and the
//! kernel that change no value the program sees.
//! - A software prefetch, which Rust offers on stable only as an
//!   `unsafe` architecture intrinsic. The API is safe: it takes a
//!   reference, so the address is always that of a live value, and a
//!   prefetch never faults and changes no value a later load returns
//!   (Intel SDM, PREFETCHh: "a hint").
//! - `madvise(MADV_HUGEPAGE)` on a vector's own, not yet written memory
//!   (an FFI call): it only chooses the page size of later faults.
//! - One SIMD compare ([`eq_lanes`]): SSE2 intrinsics are `unsafe` to
//!   call from code not itself compiled for SSE2, though every x86-64
//!   CPU has it.
#![allow(unsafe_code)]

/// Asks the CPU to bring the cache line holding `v` (and, for values
/// that straddle lines, only that first line) into the caches ahead of
/// use. A no-op on other architectures.
#[inline(always)]
pub(crate) fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it does not fault on any address,
    // reads nothing the program sees and writes nothing; the pointer
    // comes from a reference. SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (v as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Allocations from which [`huge_vec`] asks for huge pages: smaller
/// ones hold no whole 2 MiB page.
const HUGE_MIN: usize = 4 << 20;

/// A vector of `n` copies of `v` whose memory, when it is big, is
/// advised onto transparent huge pages (`madvise(MADV_HUGEPAGE)`) before
/// it is first written, so the page faults that fill it map 2 MiB pages:
/// a lookup table of millions of sessions then costs a few dozen TLB
/// entries instead of one per 4 KiB page touched (DPDK keeps its tables
/// on huge pages for the same reason). The advice changes no content; if
/// the kernel refuses it (THP `never`, or not Linux) the vector is the
/// same on small pages.
pub(crate) fn huge_vec<T: Clone>(n: usize, v: T) -> Vec<T> {
    let mut x: Vec<T> = Vec::with_capacity(n);
    advise_huge(x.spare_capacity_mut());
    x.resize(n, v);
    x
}

/// An empty vector with room for `n`, that room advised as in
/// [`huge_vec`] (an arena filled as it is used).
pub(crate) fn huge_capacity<T>(n: usize) -> Vec<T> {
    let mut x: Vec<T> = Vec::with_capacity(n);
    advise_huge(x.spare_capacity_mut());
    x
}

/// The same for values that are not `Clone` (atomics): `n` made by `f`.
pub(crate) fn huge_vec_with<T>(n: usize, f: impl FnMut() -> T) -> Vec<T> {
    let mut x: Vec<T> = Vec::with_capacity(n);
    advise_huge(x.spare_capacity_mut());
    x.extend(std::iter::repeat_with(f).take(n));
    x
}

fn advise_huge<T>(spare: &mut [std::mem::MaybeUninit<T>]) {
    let bytes = std::mem::size_of_val(spare);
    if bytes < HUGE_MIN {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = spare.as_mut_ptr() as usize;
        let first = start.next_multiple_of(PAGE);
        let end = (start + bytes) & !(PAGE - 1);
        if end > first {
            // SAFETY: [first, end) lies inside the allocation `spare`
            // borrows mutably (page-aligned inward); MADV_HUGEPAGE is
            // advice only: it changes no byte, mapping or protection,
            // and an error (EINVAL where THP is off) is ignored.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// The lanes of `v` equal to `x`, as bits (lane `i` → bit `i`): two SSE2
/// compares and masks on x86-64, a loop elsewhere.
#[inline(always)]
pub(crate) fn eq_lanes(v: &[u32; 8], x: u32) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use core::arch::x86_64::{
            _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_movemask_ps, _mm_set1_epi32, _mm_set_epi32,
        };
        let h = v.map(|y| y as i32);
        // SAFETY: SSE2 is enabled for this build (the cfg above; it is
        // part of the x86-64 baseline), and these intrinsics take values,
        // not pointers.
        unsafe {
            let lo = _mm_set_epi32(h[3], h[2], h[1], h[0]);
            let hi = _mm_set_epi32(h[7], h[6], h[5], h[4]);
            let xx = _mm_set1_epi32(x as i32);
            let a = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lo, xx)));
            let b = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(hi, xx)));
            (a | b << 4) as u32
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        let mut m = 0;
        for (i, &y) in v.iter().enumerate() {
            m |= u32::from(y == x) << i;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    /// Every lane, with and without matches, against the plain loop.
    #[test]
    fn eq_lanes_is_a_lane_compare() {
        let v = [5, 0, 5, 7, u32::MAX, 5, 1 << 31, 5];
        assert_eq!(super::eq_lanes(&v, 5), 0b1010_0101);
        assert_eq!(super::eq_lanes(&v, 0), 0b0000_0010);
        assert_eq!(super::eq_lanes(&v, u32::MAX), 0b0001_0000);
        assert_eq!(super::eq_lanes(&v, 1 << 31), 0b0100_0000);
        assert_eq!(super::eq_lanes(&v, 9), 0);
        for m in 0u32..256 {
            let w: [u32; 8] =
                std::array::from_fn(|i| if m >> i & 1 == 1 { 3 } else { i as u32 + 10 });
            assert_eq!(super::eq_lanes(&w, 3), m);
        }
    }
}
