//! Turning a validated config into running workers, and stopping them.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::Duration;

use xgw_pipelines::wire::ethernet::MacAddr;

use crate::bpf::XdpProgram;
use crate::config::{Config, PortKind};
use crate::function::{self, Instance};
use crate::netdev;
use crate::port::afxdp::{BindRequest, XskQueue};
use crate::port::mem::MemQueue;
use crate::port::pcap::PcapQueue;
use crate::port::PortQueue;
use crate::stats::WorkerStats;
use crate::umem::{FramePool, Umem};
use crate::worker::Worker;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Bpf(#[from] crate::bpf::BpfError),
}

/// A worker thread died (panicked). The engine stops and `xgw` exits
/// with [`EXIT_WORKER_DIED`], so a supervisor restarts it.
#[derive(Debug, thiserror::Error)]
#[error("worker {worker} died: {why}")]
pub struct WorkerDied {
    pub worker: usize,
    pub why: String,
}

/// Exit status of `xgw run` / `xgw replay` after a worker died
/// (EX_SOFTWARE from sysexits.h: an internal software error).
pub const EXIT_WORKER_DIED: u8 = 70;

/// The environment variable that arms [`Fault`] (test-only).
pub const FAULT_ENV: &str = "XGW_TEST_FAULT";

/// A test-only fault, read once from `XGW_TEST_FAULT` when the engine is
/// built: `worker-panic:<worker>:<after-ms>` makes that worker panic that
/// many milliseconds after it starts (checked per tick, see
/// [`Worker::arm_fault`]). It exists so tests can prove that a dying
/// dataplane is loud; never set it in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub worker: usize,
    pub after: Duration,
}

impl Fault {
    /// Parses `worker-panic:<worker>:<after-ms>`.
    pub fn parse(spec: &str) -> Result<Fault, String> {
        let bad = || {
            format!(
                "{FAULT_ENV}={spec:?}: expected worker-panic:<worker>:<after-ms> (a test-only fault)"
            )
        };
        let mut it = spec.split(':');
        if it.next() != Some("worker-panic") {
            return Err(bad());
        }
        let worker = it.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let ms: u64 = it.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
        if it.next().is_some() {
            return Err(bad());
        }
        Ok(Fault {
            worker,
            after: Duration::from_millis(ms),
        })
    }

    /// The fault armed by the environment, if any.
    pub fn from_env() -> Result<Option<Fault>, String> {
        match std::env::var(FAULT_ENV) {
            Ok(s) if !s.is_empty() => Fault::parse(&s).map(Some),
            _ => Ok(None),
        }
    }
}

thread_local! {
    /// The last panic on this thread, as the panic hook described it.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}

/// Takes this thread's last panic description (message and location) the
/// hook recorded.
pub fn take_last_panic() -> Option<String> {
    LAST_PANIC
        .try_with(|p| p.borrow_mut().take())
        .ok()
        .flatten()
}

/// Installs (once per process) a panic hook that logs every panic at
/// once, at error level, with its thread, message and location, records
/// it for [`take_last_panic`], then runs the previous hook (Rust's
/// default prints the same to stderr, with a backtrace if asked).
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = panic_text(info.payload());
            let at = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "an unknown location".into());
            let what = format!("{msg} (at {at})");
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            tracing::error!(thread = name, "thread panicked: {what}");
            let _ = LAST_PANIC.try_with(|p| *p.borrow_mut() = Some(what));
            prev(info);
        }));
    });
}

/// Marks its worker dead if dropped while its thread unwinds (a panic
/// anywhere on the worker thread, even outside `run`).
struct DeathGuard(Arc<WorkerStats>);

impl Drop for DeathGuard {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.0.is_dead() {
            self.0
                .mark_dead(take_last_panic().unwrap_or_else(|| "panicked while unwinding".into()));
        }
    }
}

fn setup<T>(msg: String) -> Result<T, EngineError> {
    Err(EngineError::Setup(msg))
}

/// Where port frames come from: the devices, or capture files.
pub enum PortIo {
    Live,
    /// Every port becomes a pcap port; ports named here read/write files.
    Replay {
        inputs: HashMap<String, PathBuf>,
        outputs: HashMap<String, PathBuf>,
    },
}

/// What the stats side knows about a port.
pub struct PortInfo {
    pub name: String,
    pub driver: &'static str,
    pub interface: Option<String>,
    pub mac: Option<MacAddr>,
    pub xdp_mode: Option<&'static str>,
    pub bind_mode: Option<&'static str>,
    /// Duplicated AF_XDP socket fds (one per worker) for kernel counters.
    pub xsk_fds: Vec<OwnedFd>,
}

/// Everything built from a config, not yet running.
pub struct Built {
    pub workers: Vec<Worker>,
    pub ports: Vec<PortInfo>,
    /// Attached XDP programs; dropping them detaches (after the sockets).
    pub xdp: Vec<XdpProgram>,
    /// The pipeline function's shared state (for the router: routes and
    /// neighbour views); the control thread takes it.
    pub function: Box<dyn Instance>,
    /// Multicast groups joined on the devices for the pipeline function,
    /// by port index (released when dropped; a reload joins them anew).
    pub memberships: Vec<(usize, netdev::Memberships)>,
}

/// Builds ports, UMEMs and workers. For live AF_XDP ports this attaches
/// the XDP programs and binds the sockets.
pub fn build(cfg: &Config, io: &PortIo) -> Result<Built, EngineError> {
    let live = matches!(io, PortIo::Live);
    if let PortIo::Replay { inputs, outputs } = io {
        for name in inputs.keys().chain(outputs.keys()) {
            if !cfg.ports.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = cfg.ports.iter().map(|p| p.name.as_str()).collect();
                return setup(format!(
                    "no port named \"{name}\" in {}; configured ports: {}",
                    cfg.source,
                    known.join(", ")
                ));
            }
        }
    }
    let uses_xdp = live
        && cfg
            .ports
            .iter()
            .any(|p| matches!(p.kind, PortKind::AfXdp(_)));
    if uses_xdp {
        netdev::check_privileges().map_err(EngineError::Setup)?;
        let umem_bytes =
            cfg.umem.frames as u64 * cfg.umem.frame_size as u64 * cfg.cores.len() as u64;
        netdev::ensure_memlock(umem_bytes).map_err(EngineError::Setup)?;
    }

    // Resolve every device first, so a bad config attaches nothing.
    let mut infos = Vec::new();
    let mut ifindexes = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        let mut info = PortInfo {
            name: p.name.clone(),
            driver: if live { p.kind.driver() } else { "pcap" },
            interface: None,
            mac: p.mac,
            xdp_mode: None,
            bind_mode: None,
            xsk_fds: Vec::new(),
        };
        let mut ifx = 0;
        if let (true, PortKind::AfXdp(x)) = (live, &p.kind) {
            let Some(idx) = netdev::ifindex(&x.interface) else {
                return setup(format!(
                    "interface {} (ports[{i}] \"{}\") does not exist in this network namespace; create it, fix ports[{i}].interface, or start xgw in its namespace (ip netns exec NS xgw run ...)",
                    x.interface, p.name
                ));
            };
            let have = netdev::rx_queues(&x.interface);
            if x.queues as usize > have {
                return setup(format!(
                    "ports[{i}] \"{}\" needs {} queues (one per worker) but {} has {have}; use fewer engine.cores or add queues (ethtool -L {} combined N)",
                    p.name, x.queues, x.interface, x.interface
                ));
            }
            if info.mac.is_none() {
                info.mac = netdev::mac(&x.interface).ok();
            }
            info.interface = Some(x.interface.clone());
            ifx = idx;
        }
        ifindexes.push(ifx);
        infos.push(info);
    }

    // Attach one XDP program per AF_XDP port.
    let mut xdp: Vec<XdpProgram> = Vec::new();
    let mut xdp_of_port: Vec<Option<usize>> = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        let mut prog = None;
        if let (true, PortKind::AfXdp(x)) = (live, &p.kind) {
            let program =
                XdpProgram::attach(&x.interface, ifindexes[i], x.queues, x.xdp_mode, &x.pass)?;
            infos[i].xdp_mode = Some(program.mode().as_str());
            tracing::info!(port = %p.name, interface = %x.interface, mode = program.mode().as_str(), "XDP program attached (bpf_link)");
            xdp.push(program);
            prog = Some(xdp.len() - 1);
        }
        xdp_of_port.push(prog);
    }
    let macs: Vec<Option<MacAddr>> = infos.iter().map(|i| i.mac).collect();

    let function = function::of(cfg)
        .instance(cfg, &macs, cfg.cores.len())
        .map_err(EngineError::Setup)?;
    let mut memberships = Vec::new();
    if live {
        for (i, p) in cfg.ports.iter().enumerate() {
            let PortKind::AfXdp(x) = &p.kind else {
                continue;
            };
            let Some(g) = function.port_groups(i) else {
                continue;
            };
            let m = netdev::join_multicast(ifindexes[i], &g.groups).map_err(|e| {
                EngineError::Setup(format!(
                    "ports[{i}] \"{}\": joining {} on {}: {e}",
                    p.name, g.what, x.interface
                ))
            })?;
            tracing::info!(port = %p.name, interface = %x.interface, groups = m.groups.len(), "joined {}", g.joined);
            memberships.push((i, m));
        }
    }
    let mut workers = Vec::new();
    for (w, &core) in cfg.cores.iter().enumerate() {
        let open = |bind_override: Option<BindRequest>| -> Result<(FramePool, Vec<PortQueue>), EngineError> {
            let umem = Umem::new(cfg.umem.frames, cfg.umem.frame_size, cfg.umem.headroom, cfg.umem.huge_pages)
                .map_err(|e| EngineError::Setup(format!("allocating UMEM for worker {w}: {e}")))?;
            let mut pool = FramePool::new(umem);
            let mut queues = Vec::new();
            let mut first_fd = None;
            let fill_budget = cfg.umem.frames / (2 * cfg.ports.len() as u32);
            for (i, p) in cfg.ports.iter().enumerate() {
                let q = match (&p.kind, io) {
                    (_, PortIo::Replay { inputs, outputs }) => PortQueue::Pcap(
                        PcapQueue::open(inputs.get(&p.name).map(|x| x.as_path()), outputs.get(&p.name).map(|x| x.as_path()))
                            .map_err(EngineError::Setup)?,
                    ),
                    (PortKind::Mem { capacity, loopback }, PortIo::Live) => {
                        PortQueue::Mem(MemQueue::new(*capacity as usize, *loopback))
                    }
                    (PortKind::Pcap, PortIo::Live) => {
                        return setup(format!("ports[{i}] \"{}\": pcap ports only work under `xgw replay`", p.name))
                    }
                    (PortKind::AfXdp(x), PortIo::Live) => {
                        let bind = bind_override.unwrap_or(x.bind);
                        let q = XskQueue::open(&pool.umem, ifindexes[i], w as u32, &x.xsk, bind, first_fd, fill_budget).map_err(|e| {
                            let hint = match e.err.raw_os_error() {
                                Some(libc::EOPNOTSUPP) => " (zero-copy is not supported by this driver; set bind = \"copy\" or \"auto\")",
                                Some(libc::ENOBUFS) | Some(libc::ENOMEM) => " (memlock limit too low: run `ulimit -l unlimited` or grant CAP_IPC_LOCK)",
                                Some(libc::EBUSY) => " (the queue is in use by another AF_XDP program; stop it first)",
                                Some(libc::EPERM) => " (needs root / CAP_NET_RAW)",
                                _ => "",
                            };
                            EngineError::Setup(format!(
                                "ports[{i}] \"{}\": AF_XDP socket on {} queue {w}: {e}{hint}",
                                p.name, x.interface
                            ))
                        })?;
                        if first_fd.is_none() {
                            first_fd = Some(q.fd());
                        }
                        if let Some(pi) = xdp_of_port[i] {
                            xdp[pi].register_socket(w as u32, q.fd())?;
                        }
                        PortQueue::AfXdp(q)
                    }
                };
                queues.push(q);
            }
            // Fill the RX side before traffic arrives.
            for q in &mut queues {
                q.service(&mut pool);
            }
            Ok((pool, queues))
        };
        let wants_auto = cfg
            .ports
            .iter()
            .any(|p| matches!(&p.kind, PortKind::AfXdp(x) if x.bind == BindRequest::Auto));
        let (pool, queues) = match open(None) {
            Ok(r) => r,
            Err(e) if live && wants_auto => {
                tracing::info!(
                    worker = w,
                    "zero-copy bind failed ({e}); falling back to copy mode"
                );
                open(Some(BindRequest::Copy))?
            }
            Err(e) => return Err(e),
        };
        for (i, q) in queues.iter().enumerate() {
            if let PortQueue::AfXdp(x) = q {
                infos[i].bind_mode = Some(x.mode().as_str());
                if let Ok(fd) = x.stats_fd() {
                    infos[i].xsk_fds.push(fd);
                }
                tracing::info!(worker = w, port = %infos[i].name, bind = x.mode().as_str(), fd = x.fd().as_raw_fd(), "AF_XDP socket bound");
            }
        }
        let pipeline = function.build_worker(w).map_err(EngineError::Setup)?;
        workers.push(Worker::new(
            w,
            Some(core),
            pool,
            queues,
            pipeline,
            cfg.burst,
            cfg.idle,
        ));
    }
    if let Some(f) = Fault::from_env().map_err(EngineError::Setup)? {
        let n = workers.len();
        let Some(w) = workers.get_mut(f.worker) else {
            return setup(format!(
                "{FAULT_ENV}: worker {} does not exist ({n} workers)",
                f.worker
            ));
        };
        tracing::warn!(
            worker = f.worker,
            after_ms = f.after.as_millis() as u64,
            "{FAULT_ENV} armed: this worker will panic (test-only fault)"
        );
        w.arm_fault(f.after);
    }
    Ok(Built {
        workers,
        ports: infos,
        xdp,
        function,
        memberships,
    })
}

/// Running workers.
pub struct Running {
    pub stop: Arc<AtomicBool>,
    /// A worker thread gives its worker back, or `None` if it died.
    pub handles: Vec<JoinHandle<Option<Worker>>>,
    pub stats: Vec<Arc<WorkerStats>>,
}

/// Starts one pinned thread per worker. A worker that panics is logged at
/// once (the panic hook), marked dead in its stats and its sockets closed;
/// the caller notices through [`Running::dead`].
pub fn start(workers: Vec<Worker>) -> Result<Running, EngineError> {
    install_panic_hook();
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut stats = Vec::new();
    for mut w in workers {
        stats.push(w.stats.clone());
        let stop = stop.clone();
        let core = w.core;
        let h = std::thread::Builder::new()
            .name(format!("xgw-worker-{}", w.id))
            .spawn(move || {
                let _guard = DeathGuard(w.stats.clone());
                if let Some(c) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: c }) {
                        tracing::warn!(worker = w.id, core = c, "could not pin worker to its core");
                    }
                }
                match std::panic::catch_unwind(AssertUnwindSafe(|| w.run(&stop))) {
                    Ok(()) => Some(w),
                    Err(payload) => {
                        let why = take_last_panic().unwrap_or_else(|| panic_text(&*payload));
                        w.stats.mark_dead(why);
                        // Its sockets close (and its UMEM unmaps) here;
                        // frames it held are lost with it.
                        drop(w);
                        None
                    }
                }
            })
            .map_err(|e| EngineError::Setup(format!("spawning worker thread: {e}")))?;
        handles.push(h);
    }
    Ok(Running {
        stop,
        handles,
        stats,
    })
}

impl Running {
    /// The first worker that has died, with why.
    pub fn dead(&self) -> Option<WorkerDied> {
        self.stats.iter().find(|s| s.is_dead()).map(|s| WorkerDied {
            worker: s.id,
            why: s.death().unwrap_or("panicked").to_string(),
        })
    }

    /// Stops the workers and waits for them to drain. Returns the live
    /// ones so the caller controls when sockets and UMEMs are released
    /// (a dead worker's are gone already).
    pub fn stop(self) -> Vec<Worker> {
        self.stop.store(true, Ordering::Relaxed);
        let mut out = Vec::new();
        for (h, s) in self.handles.into_iter().zip(&self.stats) {
            match h.join() {
                Ok(Some(w)) => out.push(w),
                Ok(None) => {}
                Err(_) => tracing::error!(worker = s.id, "worker thread panicked while stopping"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_or_are_refused() {
        assert_eq!(
            Fault::parse("worker-panic:1:250"),
            Ok(Fault {
                worker: 1,
                after: Duration::from_millis(250)
            })
        );
        for bad in [
            "",
            "worker-panic",
            "worker-panic:1",
            "worker-panic:x:1",
            "worker-panic:1:-5",
            "worker-panic:1:5:6",
            "worker-hang:1:5",
        ] {
            let e = Fault::parse(bad).unwrap_err();
            assert!(
                e.contains("worker-panic:<worker>:<after-ms>"),
                "{bad:?}: {e}"
            );
        }
    }
}
