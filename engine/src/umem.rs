//! UMEM: one anonymous, page-aligned region per worker, cut into equal
//! chunks, plus the worker's free list. Every port of the worker (one
//! AF_XDP socket per port queue, or an in-memory/pcap port) uses the same
//! region, so forwarding between ports moves a descriptor, never bytes.
//!
//! Frame accounting: every chunk is in exactly one place at any time —
//! the free list, a port (fill ring, kernel RX, RX ring, TX ring,
//! completion ring, or a mem/pcap port's queue), the burst being
//! processed, or a pipeline's pending queue. [`FramePool::total`] equals
//! the sum of those places; the worker checks it in debug builds and
//! reports it in `xgw stats`.

use std::io;
use std::ptr::NonNull;

/// Bytes the kernel reserves in front of received data in every chunk
/// (`XDP_PACKET_HEADROOM`). Mem and pcap ports place frames the same way so
/// that every port gives stages the same headroom.
pub const XDP_PACKET_HEADROOM: u32 = 256;

/// The huge page size MAP_HUGETLB gives by default on x86_64.
const HUGE_PAGE: usize = 2 << 20;

/// A frame descriptor: where the data starts (offset from the start of the
/// UMEM) and how long it is. The chunk is `addr & !(frame_size - 1)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
}

/// The memory region.
pub struct Umem {
    ptr: NonNull<u8>,
    /// What the frames use (registered with the kernel).
    len: usize,
    /// What was mapped (whole huge pages with MAP_HUGETLB).
    map_len: usize,
    frame_size: u32,
    frames: u32,
    headroom: u32,
}

// SAFETY: the region is plain memory owned by this value; which thread may
// touch which chunk is governed by frame ownership (one place at a time),
// not by the pointer itself.
unsafe impl Send for Umem {}

impl Umem {
    /// Maps `frames * frame_size` bytes. `frame_size` must be a power of
    /// two between 2048 and 4096 (the kernel's aligned-chunk limits);
    /// `headroom` is extra room the kernel leaves in front of each received
    /// frame, beyond its own 256 bytes.
    pub fn new(frames: u32, frame_size: u32, headroom: u32, huge_pages: bool) -> io::Result<Self> {
        if !frame_size.is_power_of_two() || !(2048..=4096).contains(&frame_size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame_size must be 2048 or 4096",
            ));
        }
        if frames == 0 || headroom + XDP_PACKET_HEADROOM + 128 > frame_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad UMEM geometry",
            ));
        }
        let len = frames as usize * frame_size as usize;
        // A huge-page mapping is whole huge pages (2 MiB): munmap needs
        // that length too, or it fails and the pages stay reserved.
        let map_len = if huge_pages {
            len.next_multiple_of(HUGE_PAGE)
        } else {
            len
        };
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        if huge_pages {
            flags |= libc::MAP_HUGETLB;
        }
        // SAFETY: anonymous mapping with no address hint; the result is
        // checked before use and unmapped exactly once in Drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Umem {
            ptr,
            len,
            map_len,
            frame_size,
            frames,
            headroom,
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Size of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Extra headroom configured for the kernel (beyond 256 bytes).
    pub fn headroom(&self) -> u32 {
        self.headroom
    }

    /// Offset inside a chunk where a freshly received frame starts.
    #[inline]
    pub fn data_offset(&self) -> u32 {
        XDP_PACKET_HEADROOM + self.headroom
    }

    /// Start of the chunk holding `addr`.
    #[inline]
    pub fn chunk_of(&self, addr: u64) -> u64 {
        addr & !(self.frame_size as u64 - 1)
    }

    /// Offset of `addr` inside its chunk.
    #[inline]
    pub fn offset_in_chunk(&self, addr: u64) -> u32 {
        (addr & (self.frame_size as u64 - 1)) as u32
    }

    /// Index of the chunk holding `addr`.
    #[inline]
    pub fn chunk_index(&self, addr: u64) -> usize {
        (addr / self.frame_size as u64) as usize
    }

    /// Whether a descriptor lies inside one chunk of this region.
    #[inline]
    pub fn valid(&self, d: Desc) -> bool {
        let end = d.addr + d.len as u64;
        (end as usize) <= self.len
            && self.chunk_of(d.addr) == self.chunk_of(end.saturating_sub(1).max(d.addr))
    }

    /// The whole chunk holding `addr`, writable.
    ///
    /// # Safety
    /// The caller must own that chunk (it is in the burst or being filled
    /// by a port), so no other reference to it and no kernel access exist
    /// while the returned slice lives. `addr` must be inside the region.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn chunk_mut(&self, addr: u64) -> &mut [u8] {
        let base = self.chunk_of(addr) as usize;
        debug_assert!(base + self.frame_size as usize <= self.len);
        // SAFETY: base is a chunk start inside the mapping (caller's
        // contract), the chunk is frame_size long, and exclusive ownership
        // of the chunk is the caller's contract.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(base), self.frame_size as usize)
        }
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap in `new` and are
        // unmapped only here. Sockets using the region are closed first
        // (workers drop their ports before their pool).
        unsafe {
            libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.map_len);
        }
    }
}

/// The free chunks of one UMEM (their start addresses). Kept apart from
/// the region so a burst can lend frames to stages (borrowing the region)
/// while an emitter takes fresh ones (borrowing the list).
///
/// Debug builds also keep one bit per chunk saying whether it is on the
/// list (allocated once, with the list), and check every hand-over
/// against it: releasing a chunk that is already free (a double release)
/// or taking one that is not free (the list is corrupt) panics naming the
/// chunk. Release builds have neither the bitmap nor the checks.
pub struct FreeList {
    stack: Vec<u64>,
    chunk_mask: u64,
    #[cfg(debug_assertions)]
    owned: FreeBits,
}

/// Debug-build ownership check of a [`FreeList`]: bit `i` of the map is
/// set while chunk `i` is on the list.
#[cfg(debug_assertions)]
struct FreeBits {
    bits: Vec<u64>,
    /// log2 of the chunk size: chunk index = address >> shift.
    shift: u32,
}

#[cfg(debug_assertions)]
impl FreeBits {
    fn new(chunks: usize, frame_size: u64) -> Self {
        let mut bits = vec![0u64; chunks.div_ceil(64)];
        for i in 0..chunks {
            bits[i / 64] |= 1 << (i % 64);
        }
        FreeBits {
            bits,
            shift: frame_size.trailing_zeros(),
        }
    }

    /// Marks the chunk at `chunk` (its start address) taken; it must be free.
    #[track_caller]
    fn take(&mut self, chunk: u64) {
        let i = (chunk >> self.shift) as usize;
        let (w, b) = (i / 64, 1u64 << (i % 64));
        assert!(
            self.bits.get(w).is_some_and(|x| x & b != 0),
            "frame ownership: chunk {i} (address {chunk:#x}) was taken from the free list but is not free"
        );
        self.bits[w] &= !b;
    }

    /// Marks the chunk at `chunk` (its start address) free; it must not
    /// be free already.
    #[track_caller]
    fn put(&mut self, chunk: u64) {
        let i = (chunk >> self.shift) as usize;
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let Some(x) = self.bits.get_mut(w) else {
            panic!("frame ownership: chunk {i} (address {chunk:#x}) released to the free list is outside the UMEM");
        };
        assert!(
            *x & b == 0,
            "frame ownership: chunk {i} (address {chunk:#x}) released twice (it is already on the free list)"
        );
        *x |= b;
    }
}

impl FreeList {
    /// Chunks on the list.
    #[inline]
    pub fn len(&self) -> usize {
        self.stack.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }

    /// Takes a free chunk (its start address).
    #[inline]
    pub fn alloc(&mut self) -> Option<u64> {
        let c = self.stack.pop();
        #[cfg(debug_assertions)]
        if let Some(c) = c {
            self.owned.take(c);
        }
        c
    }

    /// Returns the chunk holding `addr` to the list. Debug builds panic if
    /// the chunk is already on it (a double release).
    #[inline]
    #[track_caller]
    pub fn release(&mut self, addr: u64) {
        let c = addr & self.chunk_mask;
        #[cfg(debug_assertions)]
        self.owned.put(c);
        debug_assert!(
            self.stack.len() < self.stack.capacity(),
            "free list overflow: a frame was freed twice"
        );
        self.stack.push(c);
    }
}

/// A worker's frames: the region, the free list and a per-chunk timestamp
/// slot (pcap ports keep the capture time of each frame there so replayed
/// output carries the input's timestamps).
pub struct FramePool {
    pub umem: Umem,
    pub free: FreeList,
    stamps: Box<[u64]>,
}

impl FramePool {
    pub fn new(umem: Umem) -> Self {
        let n = umem.frames() as usize;
        let fs = umem.frame_size() as u64;
        // Hand chunks out from the low addresses first.
        let stack: Vec<u64> = (0..n as u64).rev().map(|i| i * fs).collect();
        FramePool {
            free: FreeList {
                stack,
                chunk_mask: !(fs - 1),
                #[cfg(debug_assertions)]
                owned: FreeBits::new(n, fs),
            },
            umem,
            stamps: vec![0; n].into_boxed_slice(),
        }
    }

    /// Number of chunks in the region.
    pub fn total(&self) -> usize {
        self.umem.frames() as usize
    }

    /// Chunks on the free list.
    #[inline]
    pub fn free_len(&self) -> usize {
        self.free.len()
    }

    /// Takes a free chunk (its start address).
    #[inline]
    pub fn alloc(&mut self) -> Option<u64> {
        self.free.alloc()
    }

    /// Returns the chunk holding `addr` to the free list (debug builds
    /// panic on a double release, see [`FreeList`]).
    #[inline]
    #[track_caller]
    pub fn release(&mut self, addr: u64) {
        self.free.release(addr);
    }

    #[inline]
    pub fn stamp(&self, addr: u64) -> u64 {
        self.stamps[self.umem.chunk_index(addr)]
    }

    #[inline]
    pub fn set_stamp(&mut self, addr: u64, t: u64) {
        let i = self.umem.chunk_index(addr);
        self.stamps[i] = t;
    }

    /// Copies `bytes` into a fresh chunk at the standard data offset.
    /// `None` if no chunk is free or the bytes do not fit.
    pub fn alloc_with(&mut self, bytes: &[u8]) -> Option<Desc> {
        let off = self.umem.data_offset();
        if bytes.len() > (self.umem.frame_size() - off) as usize {
            return None;
        }
        let c = self.alloc()?;
        // SAFETY: the chunk was just taken off the free list, so we own it.
        let chunk = unsafe { self.umem.chunk_mut(c) };
        chunk[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
        Some(Desc {
            addr: c + off as u64,
            len: bytes.len() as u32,
        })
    }

    /// The bytes a descriptor points at.
    ///
    /// # Safety
    /// As [`Umem::chunk_mut`]: the caller owns the frame.
    #[inline]
    pub unsafe fn bytes(&self, d: Desc) -> &[u8] {
        let base = self.umem.chunk_of(d.addr);
        // SAFETY: caller owns the frame.
        let chunk = unsafe { self.umem.chunk_mut(d.addr) };
        let off = (d.addr - base) as usize;
        &chunk[off..off + d.len as usize]
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the time base stages see (`Ctx::now_ns`),
/// shared by all workers.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into ts; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {

    fn huge_free() -> u64 {
        std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("HugePages_Free:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// A huge-page UMEM that is not a whole number of huge pages gives
    /// its pages back when dropped (munmap of the rounded length). Needs
    /// root to reserve two pages (then put back); skipped loudly otherwise.
    #[test]
    fn huge_page_umem_is_unmapped_whole() {
        const NR: &str = "/proc/sys/vm/nr_hugepages";
        let before_nr = std::fs::read_to_string(NR).unwrap_or_default();
        let reserved = std::fs::write(NR, "2").is_ok() && huge_free() >= 2;
        if !reserved {
            // SAFETY: geteuid(2) takes no arguments and always succeeds.
            let euid = unsafe { libc::geteuid() };
            assert_ne!(euid, 0, "root, yet no huge pages could be reserved");
            eprintln!("SKIPPED huge_page_umem_is_unmapped_whole: not root");
            return;
        }
        let free = huge_free();
        // 300 chunks of 2048 bytes: 600 KiB, one huge page mapped.
        let u = Umem::new(300, 2048, 0, true);
        let in_use = huge_free();
        let len = u.as_ref().map(|u| u.len()).ok();
        drop(u);
        let after = huge_free();
        let _ = std::fs::write(NR, before_nr.trim());
        assert_eq!(len, Some(300 * 2048), "a huge-page UMEM");
        assert_eq!(in_use, free - 1, "one huge page in use");
        assert_eq!(after, free, "the page came back");
    }

    use super::*;

    #[test]
    fn pool_hands_out_each_chunk_once() {
        let mut p = FramePool::new(Umem::new(8, 2048, 0, false).unwrap());
        assert_eq!(p.total(), 8);
        let mut seen = std::collections::HashSet::new();
        while let Some(c) = p.alloc() {
            assert_eq!(c % 2048, 0);
            assert!(seen.insert(c));
        }
        assert_eq!(seen.len(), 8);
        for c in seen {
            p.release(c + 300); // any address inside the chunk frees it
        }
        assert_eq!(p.free_len(), 8);
        assert!(p.alloc().is_some());
        assert_eq!(p.free_len(), 7);
    }

    #[test]
    fn alloc_with_places_data_after_kernel_headroom() {
        let mut p = FramePool::new(Umem::new(2, 4096, 64, false).unwrap());
        let d = p.alloc_with(&[1, 2, 3]).unwrap();
        assert_eq!(d.addr % 4096, 256 + 64);
        // SAFETY: test owns the frame.
        assert_eq!(unsafe { p.bytes(d) }, &[1, 2, 3]);
        assert!(p.umem.valid(d));
        assert!(!p.umem.valid(Desc {
            addr: 4000,
            len: 200
        }));
        assert!(p.alloc_with(&vec![0; 4096]).is_none());
    }

    /// Debug builds: a chunk released while it is on the free list panics,
    /// naming the chunk, also through another address inside it.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "chunk 1 (address 0x800) released twice")]
    fn double_release_is_caught() {
        let mut p = FramePool::new(Umem::new(4, 2048, 0, false).unwrap());
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        assert_eq!((a, b), (0, 2048));
        p.release(b + 300);
        p.release(b + 1000);
    }

    /// Debug builds: releasing a chunk nobody took (it never left the
    /// list) is a double release too, even while the list has room.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "chunk 3 (address 0x1800) released twice")]
    fn releasing_a_free_chunk_is_caught() {
        let mut p = FramePool::new(Umem::new(4, 2048, 0, false).unwrap());
        let _ = p.alloc().unwrap();
        p.release(3 * 2048);
    }

    /// Debug builds: a chunk outside the region is refused by name.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "is outside the UMEM")]
    fn releasing_outside_the_region_is_caught() {
        let mut p = FramePool::new(Umem::new(4, 2048, 0, false).unwrap());
        let _ = p.alloc().unwrap();
        p.release(64 * 2048);
    }

    /// Debug builds: a corrupt list handing out a chunk that is not free
    /// is caught when it is taken.
    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "chunk 0 (address 0x0) was taken from the free list but is not free")]
    fn taking_a_chunk_that_is_not_free_is_caught() {
        let mut p = FramePool::new(Umem::new(4, 2048, 0, false).unwrap());
        let a = p.alloc().unwrap();
        // Corrupt the list behind the check's back.
        p.free.stack.push(a);
        let _ = p.alloc();
    }

    /// Every chunk can go round many times without tripping the check.
    #[test]
    fn alloc_release_cycles_keep_ownership_straight() {
        let mut p = FramePool::new(Umem::new(130, 2048, 0, false).unwrap());
        for round in 0..5 {
            let mut held = Vec::new();
            while let Some(c) = p.alloc() {
                held.push(c);
            }
            assert_eq!(held.len(), 130, "round {round}");
            for c in held.into_iter().rev() {
                p.release(c + 17);
            }
            assert_eq!(p.free_len(), 130);
        }
    }

    #[test]
    fn rejects_bad_geometry() {
        assert!(Umem::new(4, 3000, 0, false).is_err());
        assert!(Umem::new(4, 8192, 0, false).is_err());
        assert!(Umem::new(0, 4096, 0, false).is_err());
        assert!(Umem::new(4, 2048, 2000, false).is_err());
    }
}
