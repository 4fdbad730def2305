//! The one place this crate uses `unsafe`: a software prefetch, which
//! Rust offers on stable only as an `unsafe` architecture intrinsic.
//! The API is safe: it takes a reference, so the address is always that
//! of a live value, and a prefetch never faults and changes no value a
//! later load returns (Intel SDM, PREFETCHh: "a hint").
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
