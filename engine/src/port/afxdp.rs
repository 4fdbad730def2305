//! AF_XDP sockets and their four rings, spoken to directly (no libxdp).
//!
//! Why not xsk-rs: its frame descriptors cannot move the data start into
//! the headroom (encapsulation would need a memmove of the whole packet),
//! its UMEM handle sits behind `Arc<Mutex>`, and its libxdp underneath
//! attaches its own XDP program through netlink when bpffs is missing,
//! which survives a crash. The rings are a small, stable kernel ABI
//! (Documentation/networking/af_xdp.rst); owning them lets a descriptor
//! be an `(addr, len)` pair the pipeline can move freely.
//!
//! One socket per (port, queue); all sockets of a worker share the
//! worker's UMEM (`XDP_SHARED_UMEM`), each with its own fill and completion
//! ring (the kernel requires one pair per device queue).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::umem::{Desc, FramePool, Umem};

use super::XskStats;

const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_TX_RING: libc::c_int = 3;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_STATISTICS: libc::c_int = 7;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;

const XDP_SHARED_UMEM: u16 = 1 << 0;
const XDP_COPY: u16 = 1 << 1;
const XDP_ZEROCOPY: u16 = 1 << 2;
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
const XDP_RING_NEED_WAKEUP: u32 = 1;

const XDP_PGOFF_RX_RING: libc::off_t = 0;
const XDP_PGOFF_TX_RING: libc::off_t = 0x8000_0000;
const XDP_UMEM_PGOFF_FILL_RING: libc::off_t = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: libc::off_t = 0x1_8000_0000;

const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Copy-mode TX sends at most this many frames per kick (the kernel's
/// `TX_BATCH_SIZE` in xsk_generic_xmit).
const COPY_TX_PER_KICK: u32 = 32;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

#[repr(C)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct XdpDesc {
    addr: u64,
    len: u32,
    options: u32,
}

#[repr(C)]
#[derive(Default)]
struct XdpStatistics {
    rx_dropped: u64,
    rx_invalid_descs: u64,
    tx_invalid_descs: u64,
    rx_ring_full: u64,
    rx_fill_ring_empty_descs: u64,
    tx_ring_empty_descs: u64,
}

/// Ring sizes and socket options for one queue.
#[derive(Clone, Copy, Debug)]
pub struct XskConfig {
    pub rx_ring: u32,
    pub tx_ring: u32,
    pub fill_ring: u32,
    pub comp_ring: u32,
    pub need_wakeup: bool,
    /// `SO_BUSY_POLL_BUDGET`; 0 disables preferred busy polling.
    pub busy_poll_budget: u32,
}

/// Zero-copy or copy, as requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindRequest {
    Auto,
    ZeroCopy,
    Copy,
}

/// What a bind gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    ZeroCopy,
    Copy,
}

impl BindMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
        }
    }
}

/// A mapped ring. Producer rings (fill, TX) and consumer rings (RX,
/// completion) share the layout; `E` is the entry type.
struct Ring<E: Copy> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut E,
    mask: u32,
    size: u32,
    /// Our copy of the index we advance.
    local: u32,
    /// Last seen value of the index the kernel advances.
    peer: u32,
    map: *mut libc::c_void,
    map_len: usize,
}

impl<E: Copy> Ring<E> {
    /// Maps a ring of `size` entries at `pgoff` of socket `fd`.
    fn map(fd: RawFd, off: &RingOffset, size: u32, pgoff: libc::off_t) -> io::Result<Self> {
        let map_len = off.desc as usize + size as usize * std::mem::size_of::<E>();
        // SAFETY: maps the kernel's ring for this socket; length and offset
        // come from XDP_MMAP_OFFSETS and the ring size we set. Checked below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let b = map as *mut u8;
        // SAFETY: the offsets are inside the mapping (kernel-provided).
        let (producer, consumer, flags, descs) = unsafe {
            (
                b.add(off.producer as usize) as *const AtomicU32,
                b.add(off.consumer as usize) as *const AtomicU32,
                b.add(off.flags as usize) as *const AtomicU32,
                b.add(off.desc as usize) as *mut E,
            )
        };
        Ok(Ring {
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            size,
            local: 0,
            peer: 0,
            map,
            map_len,
        })
    }

    #[inline]
    fn prod(&self) -> &AtomicU32 {
        // SAFETY: points into the mapping, alive as long as self.
        unsafe { &*self.producer }
    }

    #[inline]
    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.consumer }
    }

    #[inline]
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as above.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }

    #[inline]
    fn write(&mut self, idx: u32, e: E) {
        // SAFETY: idx is masked into the ring; the slot belongs to the
        // producer (us) until the producer index is published.
        unsafe { self.descs.add((idx & self.mask) as usize).write(e) }
    }

    #[inline]
    fn read(&self, idx: u32) -> E {
        // SAFETY: idx is masked; the slot was published by the kernel and
        // is ours until we advance the consumer index.
        unsafe { self.descs.add((idx & self.mask) as usize).read() }
    }

    // ----- producer side (fill, TX): `local` = producer, `peer` = consumer

    /// Free slots, refreshing the consumer index only when needed.
    #[inline]
    fn free_slots(&mut self, want: u32) -> u32 {
        let free = self.size - self.local.wrapping_sub(self.peer);
        if free >= want {
            return free;
        }
        self.peer = self.cons().load(Ordering::Acquire);
        self.size - self.local.wrapping_sub(self.peer)
    }

    #[inline]
    fn submit(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.prod().store(self.local, Ordering::Release);
    }

    /// Entries produced and not yet consumed by the kernel.
    #[inline]
    fn in_flight(&self) -> u32 {
        self.local.wrapping_sub(self.cons().load(Ordering::Acquire))
    }

    // ----- consumer side (RX, completion): `local` = consumer, `peer` = producer

    #[inline]
    fn available(&mut self, want: u32) -> u32 {
        let avail = self.peer.wrapping_sub(self.local);
        if avail >= want {
            return avail;
        }
        self.peer = self.prod().load(Ordering::Acquire);
        self.peer.wrapping_sub(self.local)
    }

    #[inline]
    fn release(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.cons().store(self.local, Ordering::Release);
    }
}

impl<E: Copy> Drop for Ring<E> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`.
        unsafe {
            libc::munmap(self.map, self.map_len);
        }
    }
}

/// One bound AF_XDP socket with its rings.
pub struct XskQueue {
    rx: Ring<XdpDesc>,
    tx: Ring<XdpDesc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    fd: OwnedFd,
    mode: BindMode,
    busy_poll: bool,
    need_wakeup: bool,
    /// Frames given to the kernel through the fill ring and not yet
    /// received back through RX.
    in_fill: u32,
    /// Frames put on the TX ring and not yet returned by completion.
    in_tx: u32,
    /// Most frames this queue keeps on its fill ring: the worker's frames
    /// are shared by all its ports, so no port may hoard them.
    fill_target: u32,
    frame_size: u32,
}

// SAFETY: the raw pointers point into mappings owned by this value; the
// queue is used by one thread at a time (the worker that owns it).
unsafe impl Send for XskQueue {}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: passes a pointer to a live T and its exact size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as u32,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn getsockopt<T: Default>(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into v.
    let r = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut v as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v)
}

/// Where a setup step failed, for error messages.
#[derive(Debug)]
pub struct XskError {
    pub step: &'static str,
    pub err: io::Error,
}

impl std::fmt::Display for XskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.err)
    }
}

fn step<T>(step: &'static str, r: io::Result<T>) -> Result<T, XskError> {
    r.map_err(|err| XskError { step, err })
}

impl XskQueue {
    /// Creates and binds a socket on (`ifindex`, `queue`). The first socket
    /// of a UMEM registers it (`shared_with = None`); later ones pass the
    /// first socket's fd and inherit its copy/zero-copy mode.
    pub fn open(
        umem: &Umem,
        ifindex: u32,
        queue: u32,
        cfg: &XskConfig,
        bind: BindRequest,
        shared_with: Option<RawFd>,
        fill_budget: u32,
    ) -> Result<Self, XskError> {
        // SAFETY: plain socket(2) call; result checked.
        let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(XskError {
                step: "socket(AF_XDP)",
                err: io::Error::last_os_error(),
            });
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let f = fd.as_raw_fd();
        if shared_with.is_none() {
            let reg = UmemReg {
                addr: umem.as_ptr() as u64,
                len: umem.len() as u64,
                chunk_size: umem.frame_size(),
                headroom: umem.headroom(),
                flags: 0,
                tx_metadata_len: 0,
            };
            step("XDP_UMEM_REG", setsockopt(f, SOL_XDP, XDP_UMEM_REG, &reg))?;
        }
        step(
            "XDP_UMEM_FILL_RING",
            setsockopt(f, SOL_XDP, XDP_UMEM_FILL_RING, &cfg.fill_ring),
        )?;
        step(
            "XDP_UMEM_COMPLETION_RING",
            setsockopt(f, SOL_XDP, XDP_UMEM_COMPLETION_RING, &cfg.comp_ring),
        )?;
        step(
            "XDP_RX_RING",
            setsockopt(f, SOL_XDP, XDP_RX_RING, &cfg.rx_ring),
        )?;
        step(
            "XDP_TX_RING",
            setsockopt(f, SOL_XDP, XDP_TX_RING, &cfg.tx_ring),
        )?;
        let off: MmapOffsets = step("XDP_MMAP_OFFSETS", getsockopt(f, SOL_XDP, XDP_MMAP_OFFSETS))?;
        let rx = step(
            "mmap RX ring",
            Ring::map(f, &off.rx, cfg.rx_ring, XDP_PGOFF_RX_RING),
        )?;
        let tx = step(
            "mmap TX ring",
            Ring::map(f, &off.tx, cfg.tx_ring, XDP_PGOFF_TX_RING),
        )?;
        let fill = step(
            "mmap fill ring",
            Ring::map(f, &off.fr, cfg.fill_ring, XDP_UMEM_PGOFF_FILL_RING),
        )?;
        let comp = step(
            "mmap completion ring",
            Ring::map(f, &off.cr, cfg.comp_ring, XDP_UMEM_PGOFF_COMPLETION_RING),
        )?;

        let mut busy_poll = false;
        if cfg.busy_poll_budget > 0 {
            let one: libc::c_int = 1;
            let budget = cfg.busy_poll_budget as libc::c_int;
            let us: libc::c_int = 20;
            let ok = setsockopt(f, libc::SOL_SOCKET, SO_PREFER_BUSY_POLL, &one).is_ok()
                && setsockopt(f, libc::SOL_SOCKET, libc::SO_BUSY_POLL, &us).is_ok()
                && setsockopt(f, libc::SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget).is_ok();
            if ok {
                busy_poll = true;
            } else {
                tracing::warn!(
                    "busy polling not available on this kernel/socket; continuing without it"
                );
            }
        }

        let flags = match (shared_with, bind) {
            // The kernel refuses mode flags on a shared bind: the mode is
            // inherited from the socket that registered the UMEM.
            (Some(_), _) => XDP_SHARED_UMEM,
            (None, BindRequest::ZeroCopy | BindRequest::Auto) => XDP_ZEROCOPY,
            (None, BindRequest::Copy) => XDP_COPY,
        } | if shared_with.is_none() && cfg.need_wakeup {
            XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        let sa = SockaddrXdp {
            family: AF_XDP as u16,
            flags,
            ifindex,
            queue_id: queue,
            shared_umem_fd: shared_with.unwrap_or(0) as u32,
        };
        // Rebinding a queue right after its previous owner exited can fail
        // with EBUSY for a moment; retry briefly.
        let mut tries = 0;
        loop {
            // SAFETY: sa is a valid sockaddr_xdp of the given size.
            let r = unsafe {
                libc::bind(
                    f,
                    &sa as *const SockaddrXdp as *const libc::sockaddr,
                    std::mem::size_of::<SockaddrXdp>() as u32,
                )
            };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBUSY) && tries < 40 {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
            return Err(XskError {
                step: "bind",
                err: e,
            });
        }
        let opts: u32 = getsockopt(f, SOL_XDP, XDP_OPTIONS).unwrap_or(0);
        let mode = if opts & XDP_OPTIONS_ZEROCOPY != 0 {
            BindMode::ZeroCopy
        } else {
            BindMode::Copy
        };
        let fill_target = cfg.fill_ring.min(fill_budget).max(1);
        Ok(XskQueue {
            rx,
            tx,
            fill,
            comp,
            fd,
            mode,
            busy_poll,
            need_wakeup: cfg.need_wakeup,
            in_fill: 0,
            in_tx: 0,
            fill_target,
            frame_size: umem.frame_size(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn mode(&self) -> BindMode {
        self.mode
    }

    /// A duplicate of the socket fd for reading statistics from another
    /// thread.
    pub fn stats_fd(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// Completions back to the pool; the fill ring topped up from it.
    #[inline]
    pub fn service(&mut self, pool: &mut FramePool) {
        // Frames left on the TX ring by a kick the kernel refused (EAGAIN
        // when the peer is busy) must not wait for the next burst.
        if self.in_tx > 0 && self.tx.in_flight() > 0 {
            self.kick();
        }
        // Completions.
        let n = self.comp.available(self.comp.size);
        if n > 0 {
            let start = self.comp.local;
            for i in 0..n {
                pool.release(self.comp.read(start.wrapping_add(i)));
            }
            self.comp.release(n);
            self.in_tx -= n;
        }
        // Fill: keep the ring as full as the pool allows, in batches so
        // that the kernel sees one producer update per batch.
        let room = self.fill_target.saturating_sub(self.in_fill);
        let give = if room == 0 {
            0
        } else {
            self.fill
                .free_slots(room)
                .min(room)
                .min(pool.free_len() as u32)
        };
        if give >= 16 || (give > 0 && self.in_fill < 64) {
            let start = self.fill.local;
            for i in 0..give {
                let c = pool.alloc().unwrap_or_default();
                self.fill.write(start.wrapping_add(i), c);
            }
            self.fill.submit(give);
            self.in_fill += give;
        }
        if self.busy_poll || self.fill.needs_wakeup() {
            // SAFETY: zero-length non-blocking recvfrom on our socket only
            // wakes the kernel's RX processing (or busy-polls its NAPI).
            unsafe {
                libc::recvfrom(
                    self.fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                );
            }
        }
    }

    #[inline]
    pub fn rx(&mut self, out: &mut [Desc]) -> usize {
        let n = self.rx.available(out.len() as u32).min(out.len() as u32);
        if n == 0 {
            return 0;
        }
        let start = self.rx.local;
        for (i, o) in out.iter_mut().take(n as usize).enumerate() {
            let d = self.rx.read(start.wrapping_add(i as u32));
            *o = Desc {
                addr: d.addr,
                len: d.len,
            };
        }
        self.rx.release(n);
        self.in_fill -= n;
        n as usize
    }

    #[inline]
    pub fn tx(&mut self, pool: &mut FramePool, descs: &[Desc]) -> usize {
        let want = descs.len() as u32;
        let mut free = self.tx.free_slots(want);
        if free < want {
            self.service(pool);
            free = self.tx.free_slots(want);
        }
        let n = want.min(free);
        let start = self.tx.local;
        for (i, d) in descs.iter().take(n as usize).enumerate() {
            self.tx.write(
                start.wrapping_add(i as u32),
                XdpDesc {
                    addr: d.addr,
                    len: d.len,
                    options: 0,
                },
            );
        }
        if n > 0 {
            self.tx.submit(n);
            self.in_tx += n;
        }
        self.kick();
        n as usize
    }

    /// Makes the kernel send what is on the TX ring. Copy mode sends at
    /// most 32 frames per call and only when kicked, so kick until the
    /// ring is drained (bounded).
    #[inline]
    fn kick(&mut self) {
        let pending = self.tx.in_flight();
        if pending == 0 {
            return;
        }
        // Zero-copy drivers send from their NAPI; with need_wakeup they
        // say when a kick is needed. Copy mode always needs one.
        if self.mode == BindMode::ZeroCopy && self.need_wakeup && !self.tx.needs_wakeup() {
            return;
        }
        // Copy mode answers EAGAIN both when it stopped after its 32-frame
        // batch (call again) and when the device or completion ring is
        // full (calling again is useless). So kick again only while the
        // previous kick made progress.
        let mut left = pending;
        for _ in 0..pending.div_ceil(COPY_TX_PER_KICK).min(16) {
            // SAFETY: zero-length non-blocking sendto on our own socket.
            let r = unsafe {
                libc::sendto(
                    self.fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error().raw_os_error();
                if !matches!(
                    e,
                    Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS)
                ) {
                    // ENETDOWN, ENXIO…: nothing to do from here; the frames
                    // stay on the ring and are retried on the next service.
                    break;
                }
            }
            let now = self.tx.in_flight();
            if now == 0 || now >= left {
                break;
            }
            left = now;
        }
    }

    pub fn outstanding(&self) -> usize {
        (self.in_fill + self.in_tx) as usize
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }
}

/// Reads a socket's kernel counters (works from any thread).
pub fn read_stats(fd: RawFd) -> io::Result<XskStats> {
    let s: XdpStatistics = getsockopt(fd, SOL_XDP, XDP_STATISTICS)?;
    Ok(XskStats {
        rx_dropped: s.rx_dropped,
        rx_invalid: s.rx_invalid_descs,
        tx_invalid: s.tx_invalid_descs,
        rx_ring_full: s.rx_ring_full,
        rx_fill_ring_empty: s.rx_fill_ring_empty_descs,
        tx_ring_empty: s.tx_ring_empty_descs,
    })
}
