//! The generator's AF_XDP ports and the pinned threads that drive them.
//!
//! A port thread enters the interface's network namespace (`setns` is per
//! thread, and AF_XDP's `bind` resolves the ifindex in the namespace the
//! socket was created in), opens its sockets with the engine's own
//! [`XskQueue`] over a [`FramePool`], and for a receiving port attaches the
//! engine's [`XdpProgram`] (a bpf_link: gone with the process) redirecting
//! every queue to a socket, ARP passed to the kernel. Then it busy-polls:
//! transmitting paced bursts of stamped template copies (one `sendto` kick
//! per burst, as copy mode needs), receiving and counting.
//!
//! The main thread talks to port threads through channels: a [`TxJob`] in,
//! a [`TxReport`] out; [`RxCmd::Start`]/[`RxCmd::Stop`] in, an
//! [`RxReport`] out. Sockets stay open across trials (an RFC 2544 search
//! runs many), and every trial has its own run id so stragglers of the
//! previous one are told apart.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use xgw_pipelines::wire::ethernet::MacAddr;

use crate::bpf::{PassRules, XdpModeRequest, XdpProgram};
use crate::port::afxdp::{read_stats, BindRequest, XskConfig, XskQueue};
use crate::port::XskStats;
use crate::umem::{now_ns, Desc, FramePool, Umem};

use super::rx::{parse, Parsed, SeqTracker};
use super::template::Frame;

/// Chunk size of the generator's UMEMs.
const FRAME_SIZE: u32 = 4096;
/// Highest latency the histograms hold (longer ones saturate).
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Most frames per TX or RX burst.
pub const MAX_BURST: usize = 256;

/// Which interface, where, and what to do on it.
#[derive(Clone, Debug)]
pub struct PortSpec {
    pub ifname: String,
    pub netns: Option<String>,
    pub core: Option<usize>,
    pub tx: bool,
    pub rx: bool,
    pub xdp_mode: XdpModeRequest,
    pub bind: BindRequest,
    pub burst: usize,
    pub verify: bool,
    /// Receive: sleep in poll(2) while the RX rings are empty (instead of
    /// spinning), so the thread can share a CPU with the transmitter.
    pub rx_wait: bool,
    /// Transmit: with a rate, send whole bursts and sleep between them
    /// (instead of spinning between single packets).
    pub tx_sleep: bool,
}

impl PortSpec {
    pub fn place(&self) -> String {
        match &self.netns {
            Some(ns) => format!("{} (netns {ns})", self.ifname),
            None => self.ifname.clone(),
        }
    }
}

/// What a port thread found when it opened its port.
#[derive(Clone, Debug)]
pub struct PortReady {
    pub ifname: String,
    pub netns: Option<String>,
    pub ifindex: u32,
    pub mac: MacAddr,
    pub mtu: u32,
    /// Sockets bound (one per RX queue for a receiving port, else one).
    pub queues: u32,
    pub bind_mode: &'static str,
    pub xdp_mode: Option<&'static str>,
}

/// Progress counters, written by the port threads, read for the live line.
#[derive(Default)]
pub struct Shared {
    /// Ctrl-C: transmitters stop, the current trial ends.
    pub stop: Arc<AtomicBool>,
    /// Port threads exit.
    pub quit: AtomicBool,
    pub tx_sent: AtomicU64,
    pub rx_received: AtomicU64,
    /// The run id the receiver counts (set once it has started).
    pub rx_run: AtomicU32,
}

/// One transmission.
pub struct TxJob {
    pub run: u16,
    /// Packets per second; 0 = as fast as possible.
    pub rate: u64,
    pub count: Option<u64>,
    pub duration_ns: Option<u64>,
    /// Frame templates, cycled by sequence number.
    pub frames: Arc<Vec<Frame>>,
    pub flows: u32,
}

/// What a transmission did.
#[derive(Clone, Debug, Default)]
pub struct TxReport {
    pub sent: u64,
    pub bytes: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Kernel socket counters over the job.
    pub kernel: XskStats,
}

pub enum RxCmd {
    Start { run: u16 },
    Stop,
}

/// What a reception counted.
#[derive(Clone, Debug)]
pub struct RxReport {
    pub received: u64,
    pub bytes: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub late: u64,
    /// Generator frames with a bad checksum (not counted as received).
    pub corrupt: u64,
    /// Frames without a signature.
    pub foreign: u64,
    /// Generator frames of another run (an earlier trial's stragglers).
    pub stale: u64,
    /// Lost between the lowest and highest number seen (for receivers
    /// without a sender count).
    pub lost_in_range: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    pub latency: Histogram<u64>,
    pub kernel: XskStats,
}

// ---------------------------------------------------------------------------
// namespaces and interfaces

/// Moves the calling thread into network namespace `ns` (a name under
/// /run/netns, or a path such as /proc/PID/ns/net).
pub fn enter_netns(ns: &str) -> Result<(), String> {
    let path = if ns.contains('/') {
        PathBuf::from(ns)
    } else {
        Path::new("/run/netns").join(ns)
    };
    let f = File::open(&path).map_err(|e| {
        format!(
            "network namespace {ns:?}: cannot open {}: {e}; `ip netns list` shows the names",
            path.display()
        )
    })?;
    // SAFETY: setns on an fd we hold open; CLONE_NEWNET affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "entering network namespace {ns:?}: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// `struct ifreq`: a name and a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

const SIOCGIFMTU: libc::c_ulong = 0x8921;
const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GCHANNELS: u32 = 0x3c;

#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// An interface as seen from the calling thread's namespace.
pub struct IfInfo {
    pub ifindex: u32,
    pub mac: MacAddr,
    pub mtu: u32,
    pub rx_queues: u32,
}

/// Looks an interface up with ioctls (not /sys, which shows the
/// namespace /sys was mounted in, not the thread's).
pub fn if_info(name: &str) -> Result<IfInfo, String> {
    let ifindex = crate::netdev::ifindex(name).ok_or_else(|| {
        format!("interface {name} does not exist in this network namespace; check the name (ip link), or give its namespace with --tx-netns/--rx-netns")
    })?;
    if name.len() >= 16 {
        return Err(format!("interface name {name:?} is too long"));
    }
    // SAFETY: plain socket(2); result checked and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh socket we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let req = || {
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        r.name[..name.len()].copy_from_slice(name.as_bytes());
        r
    };
    let ioctl = |code: libc::c_ulong, r: &mut IfReq| -> io::Result<()> {
        // SAFETY: r is a valid ifreq-sized buffer for these requests; for
        // SIOCETHTOOL its data holds a pointer to a live EthtoolChannels.
        if unsafe { libc::ioctl(sock.as_raw_fd(), code as _, r as *mut IfReq) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    let mut r = req();
    ioctl(SIOCGIFHWADDR, &mut r).map_err(|e| format!("{name}: reading its MAC address: {e}"))?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&r.data[2..8]);
    let mut r = req();
    ioctl(SIOCGIFMTU, &mut r).map_err(|e| format!("{name}: reading its MTU: {e}"))?;
    let mtu = i32::from_ne_bytes([r.data[0], r.data[1], r.data[2], r.data[3]]).max(0) as u32;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut r = req();
    let p = &mut ch as *mut EthtoolChannels as usize;
    r.data[..8].copy_from_slice(&p.to_ne_bytes());
    let rx_queues = match ioctl(SIOCETHTOOL, &mut r) {
        Ok(()) => ch.rx_count.max(ch.combined_count).max(1),
        Err(_) => 1,
    };
    Ok(IfInfo {
        ifindex,
        mac: MacAddr(mac),
        mtu,
        rx_queues,
    })
}

// ---------------------------------------------------------------------------
// the port

/// Sockets, their frames and the XDP program. Field order is drop order:
/// sockets close before the UMEM is unmapped and before the program goes.
struct Port {
    queues: Vec<XskQueue>,
    pool: FramePool,
    _xdp: Option<XdpProgram>,
    ready: PortReady,
    /// Frames held by a TX-only queue when nothing is in flight.
    idle_outstanding: usize,
}

fn open(spec: &PortSpec) -> Result<Port, String> {
    if let Some(ns) = &spec.netns {
        enter_netns(ns)?;
    }
    let info = if_info(&spec.ifname)?;
    let place = spec.place();
    let nq = if spec.rx { info.rx_queues } else { 1 };
    let xdp = if spec.rx {
        let pass = PassRules {
            // the host keeps answering ARP for its own address
            ethertypes: vec![0x0806],
            ..Default::default()
        };
        Some(
            XdpProgram::attach(&spec.ifname, info.ifindex, nq, spec.xdp_mode, &pass)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    // A transmit-only port keeps at most frames - 1 on the TX ring, so the
    // ring never refuses a burst: running out of free frames is the
    // back-pressure, before any template is copied.
    // A receiving port keeps 8192 frames on its fill ring: about 20 ms at
    // 400 kpps, so a receive thread that loses its CPU for a while (a
    // shared machine) does not make the generator itself drop frames.
    let (frames, xcfg, fill_budget) = if spec.rx {
        let frames = 16384;
        (
            frames,
            XskConfig {
                rx_ring: 8192,
                tx_ring: 2048,
                fill_ring: 8192,
                comp_ring: 2048,
                need_wakeup: true,
                busy_poll_budget: 0,
            },
            frames / (2 * nq),
        )
    } else {
        (
            2048,
            XskConfig {
                rx_ring: 64,
                tx_ring: 2048,
                fill_ring: 64,
                comp_ring: 2048,
                need_wakeup: true,
                busy_poll_budget: 0,
            },
            1,
        )
    };
    crate::netdev::ensure_memlock(u64::from(frames) * u64::from(FRAME_SIZE))?;
    let try_open = |bind: BindRequest| -> Result<(FramePool, Vec<XskQueue>), String> {
        let umem = Umem::new(frames, FRAME_SIZE, 0, false)
            .map_err(|e| format!("{place}: allocating the UMEM: {e}"))?;
        let mut pool = FramePool::new(umem);
        let mut queues: Vec<XskQueue> = Vec::new();
        for q in 0..nq {
            let first = queues.first().map(|x| x.fd());
            let x = XskQueue::open(&pool.umem, info.ifindex, q, &xcfg, bind, first, fill_budget)
                .map_err(|e| {
                    let hint = match e.err.raw_os_error() {
                        Some(libc::EOPNOTSUPP) => {
                            " (zero-copy not supported here; use --bind copy or auto)"
                        }
                        Some(libc::EBUSY) => {
                            " (the queue is used by another AF_XDP program: stop it first)"
                        }
                        Some(libc::ENOBUFS) | Some(libc::ENOMEM) => {
                            " (memlock limit: run `ulimit -l unlimited`)"
                        }
                        Some(libc::EPERM) => " (needs root)",
                        _ => "",
                    };
                    format!("{place}: AF_XDP socket on queue {q}: {e}{hint}")
                })?;
            queues.push(x);
        }
        for q in &mut queues {
            q.service(&mut pool);
        }
        Ok((pool, queues))
    };
    let (pool, queues) = match try_open(spec.bind) {
        Ok(r) => r,
        Err(e) if spec.bind == BindRequest::Auto => {
            tracing::debug!("zero-copy bind failed ({e}); trying copy mode");
            try_open(BindRequest::Copy)?
        }
        Err(e) => return Err(e),
    };
    if let Some(p) = &xdp {
        for (i, q) in queues.iter().enumerate() {
            p.register_socket(i as u32, q.fd())
                .map_err(|e| e.to_string())?;
        }
    }
    let idle_outstanding = queues[0].outstanding();
    let ready = PortReady {
        ifname: spec.ifname.clone(),
        netns: spec.netns.clone(),
        ifindex: info.ifindex,
        mac: info.mac,
        mtu: info.mtu,
        queues: nq,
        bind_mode: queues[0].mode().as_str(),
        xdp_mode: xdp.as_ref().map(|p| p.mode().as_str()),
    };
    Ok(Port {
        queues,
        pool,
        _xdp: xdp,
        ready,
        idle_outstanding,
    })
}

fn sub_stats(a: XskStats, b: XskStats) -> XskStats {
    XskStats {
        rx_dropped: a.rx_dropped.saturating_sub(b.rx_dropped),
        rx_invalid: a.rx_invalid.saturating_sub(b.rx_invalid),
        tx_invalid: a.tx_invalid.saturating_sub(b.tx_invalid),
        rx_ring_full: a.rx_ring_full.saturating_sub(b.rx_ring_full),
        rx_fill_ring_empty: a.rx_fill_ring_empty.saturating_sub(b.rx_fill_ring_empty),
        tx_ring_empty: a.tx_ring_empty.saturating_sub(b.tx_ring_empty),
    }
}

fn kernel_stats(queues: &[XskQueue]) -> XskStats {
    let mut s = XskStats::default();
    for q in queues {
        if let Ok(x) = read_stats(q.fd()) {
            s += x;
        }
    }
    s
}

// ---------------------------------------------------------------------------
// transmit

enum TxPhase {
    Idle,
    Sending,
    /// Sent everything; waiting (bounded) for the TX ring to drain.
    Draining {
        until: u64,
    },
}

struct TxState {
    job: Option<TxJob>,
    phase: TxPhase,
    sent: u64,
    bytes: u64,
    t0: u64,
    t_end: u64,
    kernel0: XskStats,
    /// Which template each chunk holds (u8::MAX: none): only the
    /// per-packet fields are rewritten when a chunk comes back.
    tag: Vec<u8>,
    burst: usize,
    /// Longest wait for the TX ring to drain after the last packet.
    drain_ns: u64,
    /// Paced jobs: send whole bursts and sleep between them.
    sleep: bool,
    /// When the next whole burst is due (sleeping pacing).
    next_due: u64,
    out: [Desc; MAX_BURST],
}

impl TxState {
    fn new(chunks: usize, burst: usize, drain_ns: u64, sleep: bool) -> Self {
        TxState {
            job: None,
            phase: TxPhase::Idle,
            sent: 0,
            bytes: 0,
            t0: 0,
            t_end: 0,
            kernel0: XskStats::default(),
            tag: vec![u8::MAX; chunks],
            burst: burst.clamp(1, MAX_BURST),
            drain_ns,
            sleep,
            next_due: 0,
            out: [Desc::default(); MAX_BURST],
        }
    }

    fn start(&mut self, job: TxJob, kernel0: XskStats) {
        self.tag.fill(u8::MAX);
        self.sent = 0;
        self.bytes = 0;
        self.t0 = now_ns();
        self.kernel0 = kernel0;
        self.job = Some(job);
        self.phase = TxPhase::Sending;
    }

    /// A chunk was overwritten by reception.
    #[inline]
    fn forget(&mut self, chunk: usize) {
        if let Some(t) = self.tag.get_mut(chunk) {
            *t = u8::MAX;
        }
    }

    /// One pacing step. Returns true when something was sent.
    fn step(&mut self, pool: &mut FramePool, q: &mut XskQueue, shared: &Shared) -> bool {
        let Some(job) = &self.job else { return false };
        let now = now_ns();
        let el = now.saturating_sub(self.t0);
        if shared.stop.load(Ordering::Relaxed)
            || job.count.is_some_and(|c| self.sent >= c)
            || job.duration_ns.is_some_and(|d| el >= d)
        {
            self.t_end = now;
            self.phase = TxPhase::Draining {
                until: now + self.drain_ns,
            };
            return false;
        }
        let mut want = self.burst as u64;
        let left = job.count.map_or(u64::MAX, |c| c - self.sent);
        if job.rate > 0 {
            // packet k leaves at t0 + k / rate
            let due = (u128::from(el) * u128::from(job.rate) / 1_000_000_000) as u64 + 1;
            want = want.min(due.saturating_sub(self.sent));
            if self.sleep && want < (self.burst as u64).min(left) {
                // Bursty pacing: wait until a whole burst is due (the loop
                // sleeps until then), so the CPU is free in between.
                let k = u128::from(self.sent + self.burst as u64 - 1);
                self.next_due = self.t0 + (k * 1_000_000_000 / u128::from(job.rate)) as u64;
                return false;
            }
        }
        want = want.min(left);
        if want == 0 {
            return false;
        }
        let frames = &job.frames;
        let off = pool.umem.data_offset() as usize;
        let fs = u64::from(pool.umem.frame_size());
        let mut n = 0;
        let mut bytes = 0u64;
        while (n as u64) < want {
            let Some(c) = pool.alloc() else { break };
            let seq = self.sent + n as u64;
            let fi = (seq % frames.len() as u64) as usize;
            let f = &frames[fi];
            let len = f.bytes.len();
            let ci = (c / fs) as usize;
            // SAFETY: the chunk was just taken off the free list: nothing
            // else (kernel or user) refers to it until it is queued below.
            let chunk = unsafe { pool.umem.chunk_mut(c) };
            let buf = &mut chunk[off..off + len];
            if self.tag[ci] != fi as u8 {
                buf.copy_from_slice(&f.bytes);
                self.tag[ci] = fi as u8;
            }
            f.stamp(
                buf,
                (seq % u64::from(job.flows)) as u32,
                job.run,
                seq as u32,
                now,
            );
            self.out[n] = Desc {
                addr: c + off as u64,
                len: len as u32,
            };
            bytes += (len + super::template::FCS) as u64;
            n += 1;
        }
        if n == 0 {
            return false;
        }
        let took = q.tx(pool, &self.out[..n]);
        for d in &self.out[took..n] {
            pool.release(d.addr);
        }
        if took < n {
            // bytes of the refused ones
            bytes = self.out[..took]
                .iter()
                .map(|d| u64::from(d.len) + super::template::FCS as u64)
                .sum();
        }
        self.sent += took as u64;
        self.bytes += bytes;
        shared.tx_sent.store(self.sent, Ordering::Relaxed);
        took > 0
    }
}

// ---------------------------------------------------------------------------
// receive

struct RxState {
    active: bool,
    run: u16,
    verify: bool,
    seq: SeqTracker,
    latency: Histogram<u64>,
    bytes: u64,
    corrupt: u64,
    foreign: u64,
    stale: u64,
    first_ns: u64,
    last_ns: u64,
    kernel0: XskStats,
}

impl RxState {
    fn new(verify: bool) -> Self {
        RxState {
            active: false,
            run: 0,
            verify,
            seq: SeqTracker::new(),
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("histogram bounds"),
            bytes: 0,
            corrupt: 0,
            foreign: 0,
            stale: 0,
            first_ns: 0,
            last_ns: 0,
            kernel0: XskStats::default(),
        }
    }

    fn start(&mut self, run: u16, kernel0: XskStats) {
        self.seq.reset();
        self.latency.reset();
        self.bytes = 0;
        self.corrupt = 0;
        self.foreign = 0;
        self.stale = 0;
        self.first_ns = 0;
        self.last_ns = 0;
        self.run = run;
        self.kernel0 = kernel0;
        self.active = true;
    }

    #[inline]
    fn frame(&mut self, p: Parsed, len: u32, now: u64) {
        if !self.active {
            return;
        }
        match p {
            Parsed::Sig(s) if s.run == self.run => {
                let before = self.seq.received;
                self.seq.record32(s.seq);
                if self.seq.received != before {
                    self.bytes += u64::from(len) + super::template::FCS as u64;
                    self.latency
                        .saturating_record(now.saturating_sub(s.ts).max(1));
                    if self.first_ns == 0 {
                        self.first_ns = now;
                    }
                    self.last_ns = now;
                }
            }
            Parsed::Sig(_) => self.stale += 1,
            Parsed::Foreign => self.foreign += 1,
            Parsed::Corrupt => self.corrupt += 1,
        }
    }

    fn report(&mut self, kernel: XskStats) -> RxReport {
        self.active = false;
        RxReport {
            received: self.seq.received,
            bytes: self.bytes,
            duplicates: self.seq.duplicates,
            reordered: self.seq.reordered,
            late: self.seq.late,
            corrupt: self.corrupt,
            foreign: self.foreign,
            stale: self.stale,
            lost_in_range: self.seq.lost_in_range(),
            first_ns: self.first_ns,
            last_ns: self.last_ns,
            latency: self.latency.clone(),
            kernel: sub_stats(kernel, self.kernel0),
        }
    }
}

// ---------------------------------------------------------------------------
// the thread

/// The main thread's ends of a port thread's channels.
pub struct TxLink {
    pub jobs: Sender<TxJob>,
    pub reports: Receiver<TxReport>,
}
pub struct RxLink {
    pub cmds: Sender<RxCmd>,
    pub reports: Receiver<RxReport>,
}

/// The thread's ends.
pub struct TxEnd {
    pub jobs: Receiver<TxJob>,
    pub reports: Sender<TxReport>,
}
pub struct RxEnd {
    pub cmds: Receiver<RxCmd>,
    pub reports: Sender<RxReport>,
}

/// Body of a port thread: opens the port (answering on `ready`), then
/// polls until `shared.quit` or the main thread hangs up.
pub fn run(
    spec: PortSpec,
    shared: Arc<Shared>,
    ready: Sender<Result<PortReady, String>>,
    tx_end: Option<TxEnd>,
    rx_end: Option<RxEnd>,
) {
    if let Some(c) = spec.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
            tracing::warn!(core = c, "could not pin the {} thread", spec.place());
        }
    }
    let mut port = match open(&spec) {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(port.ready.clone())).is_err() {
        return;
    }
    let chunks = port.pool.total();
    // A TX-only queue knows when its ring is empty (outstanding frames back
    // to the idle level); a queue that also receives does not, so it waits
    // a fixed 20 ms.
    let drain_ns = if spec.rx { 20_000_000 } else { 200_000_000 };
    let mut tx = tx_end
        .as_ref()
        .map(|_| TxState::new(chunks, spec.burst, drain_ns, spec.tx_sleep));
    if spec.tx_sleep {
        // sleeps of tens of µs: no 50 µs timer slack
        // SAFETY: prctl with an integer argument; affects this thread only.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
    }
    let mut rx = rx_end.as_ref().map(|_| RxState::new(spec.verify));
    let mut descs = [Desc::default(); MAX_BURST];
    let rx_burst = MAX_BURST.min(spec.burst.max(64));
    let fs = u64::from(port.pool.umem.frame_size());
    let mut pollfds = vec![
        libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        };
        port.queues.len()
    ];
    loop {
        if shared.quit.load(Ordering::Relaxed) {
            break;
        }
        // commands
        if let (Some(end), Some(st)) = (&rx_end, &mut rx) {
            match end.cmds.try_recv() {
                Ok(RxCmd::Start { run }) => {
                    st.start(run, kernel_stats(&port.queues));
                    shared.rx_run.store(u32::from(run), Ordering::Release);
                }
                Ok(RxCmd::Stop) => {
                    let r = st.report(kernel_stats(&port.queues));
                    if end.reports.send(r).is_err() {
                        break;
                    }
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => break,
            }
        }
        if let (Some(end), Some(st)) = (&tx_end, &mut tx) {
            if matches!(st.phase, TxPhase::Idle) {
                match end.jobs.try_recv() {
                    Ok(job) => {
                        let k = kernel_stats(&port.queues[..1]);
                        st.start(job, k);
                    }
                    Err(TryRecvError::Empty) => {}
                    Err(TryRecvError::Disconnected) => break,
                }
            }
        }
        for q in &mut port.queues {
            q.service(&mut port.pool);
        }
        let mut busy = false;
        if let Some(st) = &mut rx {
            for q in &mut port.queues {
                let n = q.rx(&mut descs[..rx_burst]);
                if n == 0 {
                    continue;
                }
                busy = true;
                let now = now_ns();
                for d in &descs[..n] {
                    let p = {
                        // SAFETY: the frame came off our RX ring: it is
                        // ours until released just below.
                        let b = unsafe { port.pool.bytes(*d) };
                        parse(b, st.verify)
                    };
                    st.frame(p, d.len, now);
                    if let Some(t) = &mut tx {
                        t.forget((d.addr / fs) as usize);
                    }
                    port.pool.release(d.addr);
                }
            }
            if st.active {
                shared.rx_received.store(st.seq.received, Ordering::Relaxed);
            }
        }
        if let (Some(end), Some(st)) = (&tx_end, &mut tx) {
            match st.phase {
                TxPhase::Idle => {}
                TxPhase::Sending => {
                    busy |= st.step(&mut port.pool, &mut port.queues[0], &shared);
                    if !busy && st.sleep && rx.as_ref().map_or(true, |r| !r.active) {
                        let now = now_ns();
                        if st.next_due > now + 20_000 {
                            // complete the TX ring's work first, then sleep
                            port.queues[0].service(&mut port.pool);
                            let d = (st.next_due - now - 10_000).min(10_000_000);
                            std::thread::sleep(Duration::from_nanos(d));
                        }
                    }
                }
                TxPhase::Draining { until } => {
                    let drained =
                        rx.is_none() && port.queues[0].outstanding() <= port.idle_outstanding;
                    if drained || now_ns() >= until {
                        let k = kernel_stats(&port.queues[..1]);
                        let r = TxReport {
                            sent: st.sent,
                            bytes: st.bytes,
                            start_ns: st.t0,
                            end_ns: st.t_end,
                            kernel: sub_stats(k, st.kernel0),
                        };
                        st.job = None;
                        st.phase = TxPhase::Idle;
                        if end.reports.send(r).is_err() {
                            break;
                        }
                    }
                }
            }
        }
        let tx_busy = tx
            .as_ref()
            .is_some_and(|t| !matches!(t.phase, TxPhase::Idle));
        let active = rx.as_ref().is_some_and(|r| r.active) || tx_busy;
        if !busy && !active {
            std::thread::sleep(Duration::from_micros(200));
        } else if !busy && !tx_busy && spec.rx_wait {
            // Nothing arrived: wait for the kernel to fill an RX ring.
            for (pfd, q) in pollfds.iter_mut().zip(&port.queues) {
                pfd.fd = q.fd();
                pfd.events = libc::POLLIN;
                pfd.revents = 0;
            }
            // SAFETY: pollfds is a live array of pollfd of the given length.
            unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 1) };
        }
    }
}
