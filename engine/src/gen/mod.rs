//! `xgw gen`: an AF_XDP traffic generator and receiver built on the
//! engine's own ports (UMEM, AF_XDP rings, XDP program).
//!
//! ```text
//!  tx thread (pinned)                         rx thread (pinned)
//!  template → stamp seq + ts → TX ring ─▶ DUT ─▶ XDP redirect → RX ring → parse → counts, latency
//! ```
//!
//! * [`template`]: frames (Ethernet / [IPIP] / IPv4|IPv6 / UDP|TCP /
//!   signature), per-packet fields and incremental checksums.
//! * [`rx`]: the signature parser and the loss / duplicate / reorder
//!   tracker.
//! * [`port`]: namespaces, sockets, the port threads.
//! * [`rfc2544`]: the throughput search.
//!
//! This module turns the command line into a plan, starts the port
//! threads, runs one trial (or an RFC 2544 search of many), prints a
//! progress line per second on stderr and a summary (JSON with `--json`)
//! on stdout.

pub mod port;
pub mod rfc2544;
pub mod rx;
pub mod template;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use xgw_pipelines::wire::ethernet::MacAddr;

use crate::bpf::XdpModeRequest;
use crate::port::afxdp::BindRequest;
use port::{PortReady, PortSpec, RxCmd, RxLink, RxReport, Shared, TxJob, TxLink, TxReport};
use template::{Encap, Frame, Spec, Vary, L4};

/// Transport of the generated packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtoArg {
    Udp,
    Tcp,
}

/// Encapsulation of the generated packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EncapArg {
    None,
    /// IPv4 outer header (4in4, or 6in4 with IPv6 inner addresses).
    Ipip,
}

/// What changes from flow to flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VaryArg {
    SrcPort,
    SrcIp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TxWaitArg {
    Busy,
    Sleep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RxWaitArg {
    Busy,
    Poll,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpModeArg {
    Auto,
    Native,
    Generic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BindArg {
    Auto,
    Copy,
    ZeroCopy,
}

/// `xgw gen` options.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "\
Sizes are Ethernet frame sizes with the 4-byte FCS (RFC 2544): 64 … 1518; \
xgw writes size-4 bytes. Rates take k/M suffixes (20k, 1.5M); `line` or 0 \
means as fast as possible.

Examples:
  xgw gen --tx veth0 --rx veth1 --dst-mac 02:00:00:00:01:02 --rate 20k --duration 2
  xgw gen --tx g0 --tx-netns gen --rx s0 --rx-netns sink --dst-mac ... --size imix --flows 64 --json
  xgw gen --tx g0 --rx s0 --dst-mac ... --rfc2544 --trial-duration 2 --resolution 1")]
pub struct GenArgs {
    /// Interface to transmit on (omit to only receive).
    #[arg(long, value_name = "IF")]
    pub tx: Option<String>,
    /// Network namespace of --tx: a name under /run/netns or a path (default: the current one).
    #[arg(long, value_name = "NS")]
    pub tx_netns: Option<String>,
    /// Interface to receive on (omit to only transmit; may equal --tx).
    #[arg(long, value_name = "IF")]
    pub rx: Option<String>,
    /// Network namespace of --rx.
    #[arg(long, value_name = "NS")]
    pub rx_netns: Option<String>,
    /// CPU of the transmit thread (default: the first allowed CPU).
    #[arg(long, value_name = "CPU")]
    pub tx_core: Option<usize>,
    /// CPU of the receive thread (default: the second allowed CPU, else the first).
    #[arg(long, value_name = "CPU")]
    pub rx_core: Option<usize>,

    /// Source MAC (default: the --tx interface's).
    #[arg(long, value_name = "MAC")]
    pub src_mac: Option<String>,
    /// Destination MAC: the next hop (the DUT's port). Required with --tx; xgw gen does not resolve.
    #[arg(long, value_name = "MAC")]
    pub dst_mac: Option<String>,
    /// Source address (IPv4 or IPv6; the inner one with --encap).
    #[arg(long, value_name = "IP", default_value = "198.18.0.1")]
    pub src_ip: IpAddr,
    /// Destination address (same family as --src-ip).
    #[arg(long, value_name = "IP", default_value = "198.19.0.1")]
    pub dst_ip: IpAddr,
    #[arg(long, value_name = "PORT", default_value_t = 1024)]
    pub src_port: u16,
    #[arg(long, value_name = "PORT", default_value_t = 9)]
    pub dst_port: u16,
    /// Transport: udp, or tcp (plain ACK|PSH data segments, no handshake).
    #[arg(long, value_enum, default_value = "udp")]
    pub proto: ProtoArg,
    /// Encapsulation: none, or ipip (outer IPv4 from --outer-src to --outer-dst).
    #[arg(long, value_enum, default_value = "none")]
    pub encap: EncapArg,
    /// Outer source address of --encap ipip.
    #[arg(long, value_name = "IPV4")]
    pub outer_src: Option<Ipv4Addr>,
    /// Outer destination address of --encap ipip.
    #[arg(long, value_name = "IPV4")]
    pub outer_dst: Option<Ipv4Addr>,

    /// Frame size(s) with FCS: 64, a list 64,512,1518 (cycled), or imix (7:4:1 of 64/576/1518).
    #[arg(long, value_name = "SIZES", default_value = "64")]
    pub size: String,
    /// Number of flows (cycled packet by packet).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub flows: u32,
    /// What differs between flows: src-port (src-port + i) or src-ip (src-ip + i).
    #[arg(long, value_enum, default_value = "src-port")]
    pub vary: VaryArg,
    /// Packets per second (k/M suffixes), or `line` / 0 for as fast as possible.
    #[arg(long, value_name = "PPS", default_value = "line")]
    pub rate: String,
    /// Seconds to send (default: until --count or Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Packets to send.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Most packets per TX burst (one kick each).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub burst: usize,
    /// Milliseconds the receiver keeps counting after the last packet was sent.
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub drain_ms: u64,
    /// Do not verify IPv4 header and L4 checksums on reception.
    #[arg(long)]
    pub no_verify: bool,
    /// How the receive thread waits for frames: busy (spin) or poll (sleep
    /// in poll(2) while its rings are empty: lets it share a CPU with --tx-core).
    #[arg(long, value_enum, default_value = "busy")]
    pub rx_wait: RxWaitArg,
    /// How a paced transmitter (--rate) waits: busy (spin, one packet as soon
    /// as it is due: smooth) or sleep (a whole --burst at once, then sleep:
    /// frees the CPU for the kernel work of veth peers on the same core).
    #[arg(long, value_enum, default_value = "busy")]
    pub tx_wait: TxWaitArg,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// XDP attach mode of the receiving interface.
    #[arg(long, value_enum, default_value = "auto")]
    pub xdp_mode: XdpModeArg,
    /// AF_XDP bind mode (auto: zero-copy if the driver can, else copy).
    #[arg(long, value_enum, default_value = "auto")]
    pub bind: BindArg,

    /// RFC 2544 throughput: binary search of the highest rate with loss ≤ --loss-tolerance.
    #[arg(long)]
    pub rfc2544: bool,
    /// Lowest rate the search tries (pps).
    #[arg(long, value_name = "PPS", default_value = "1k")]
    pub min_rate: String,
    /// Highest rate the search tries (default: the rate of a first unthrottled trial).
    #[arg(long, value_name = "PPS")]
    pub max_rate: Option<String>,
    /// Seconds per trial.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub trial_duration: f64,
    /// Accepted loss per trial, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub loss_tolerance: f64,
    /// Stop when the search interval is within this many percent of its top.
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub resolution: f64,
    /// Most trials in a search.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub max_trials: usize,
}

/// Parses a rate: `20000`, `20k`, `1.5M`, `line` (or 0: unlimited).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("pps").trim();
    if t.eq_ignore_ascii_case("line") || t.eq_ignore_ascii_case("max") {
        return Ok(0);
    }
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 'g' | 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        format!("{s:?} is not a rate; expected packets per second like 20000, 20k, 1.5M, or line")
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?} is not a rate: it must be ≥ 0"));
    }
    Ok((v * mult).round() as u64)
}

fn parse_mac(flag: &str, s: &str) -> Result<MacAddr> {
    s.parse().map_err(|_| {
        anyhow!("{flag} {s:?} is not a MAC address; expected six hex bytes like 02:00:00:00:01:02")
    })
}

/// The validated command line.
struct Plan {
    tx: Option<PortSpec>,
    rx: Option<PortSpec>,
    /// The template minus the source MAC (known once the port is open).
    spec: Spec,
    src_mac_given: bool,
    sizes: Vec<usize>,
    flows: u32,
    rate: u64,
    count: Option<u64>,
    duration: Option<Duration>,
    drain: Duration,
}

fn plan(a: &GenArgs) -> Result<Plan> {
    if a.tx.is_none() && a.rx.is_none() {
        bail!("nothing to do: give --tx IF to transmit and/or --rx IF to receive");
    }
    let sizes = template::parse_sizes(&a.size).map_err(anyhow::Error::msg)?;
    if sizes.len() > 200 {
        bail!(
            "--size: at most 200 sizes in a list ({} given)",
            sizes.len()
        );
    }
    let rate = parse_rate(&a.rate).map_err(|e| anyhow!("--rate {e}"))?;
    if a.flows == 0 {
        bail!("--flows must be at least 1");
    }
    if a.vary == VaryArg::SrcPort && a.flows > 65_536 {
        bail!("--flows {}: at most 65536 with --vary src-port", a.flows);
    }
    if let Some(d) = a.duration {
        if !(d.is_finite() && d > 0.0) {
            bail!("--duration {d}: must be a positive number of seconds");
        }
    }
    if a.count == Some(0) {
        bail!("--count must be at least 1");
    }
    if !(1..=MAX_BURST_ARG).contains(&a.burst) {
        bail!("--burst {}: must be 1..={MAX_BURST_ARG}", a.burst);
    }
    if a.rfc2544 {
        if a.tx.is_none() || a.rx.is_none() {
            bail!("--rfc2544 needs both --tx and --rx");
        }
        if !(a.trial_duration.is_finite() && a.trial_duration > 0.0) {
            bail!(
                "--trial-duration {}: must be a positive number of seconds",
                a.trial_duration
            );
        }
        if !(0.0..100.0).contains(&a.loss_tolerance) {
            bail!(
                "--loss-tolerance {}: a percentage in [0, 100)",
                a.loss_tolerance
            );
        }
        if !(a.resolution > 0.0 && a.resolution < 100.0) {
            bail!("--resolution {}: a percentage in (0, 100)", a.resolution);
        }
        parse_rate(&a.min_rate).map_err(|e| anyhow!("--min-rate {e}"))?;
        if let Some(m) = &a.max_rate {
            parse_rate(m).map_err(|e| anyhow!("--max-rate {e}"))?;
        }
    }
    let encap = match a.encap {
        EncapArg::None => {
            if a.outer_src.is_some() || a.outer_dst.is_some() {
                bail!("--outer-src/--outer-dst only go with --encap ipip");
            }
            Encap::None
        }
        EncapArg::Ipip => match (a.outer_src, a.outer_dst) {
            (Some(src), Some(dst)) => Encap::Ipip { src, dst },
            _ => bail!("--encap ipip needs --outer-src and --outer-dst (the tunnel endpoints)"),
        },
    };
    let dst_mac = match (&a.dst_mac, &a.tx) {
        (Some(m), _) => parse_mac("--dst-mac", m)?,
        (None, Some(_)) => bail!(
            "--dst-mac is required with --tx: the MAC of the next hop (the DUT's port, or the receiver's interface); xgw gen does not resolve addresses"
        ),
        (None, None) => MacAddr::default(),
    };
    let src_mac = match &a.src_mac {
        Some(m) => parse_mac("--src-mac", m)?,
        None => MacAddr::default(),
    };
    let spec = Spec {
        src_mac,
        dst_mac,
        encap,
        src: a.src_ip,
        dst: a.dst_ip,
        l4: match a.proto {
            ProtoArg::Udp => L4::Udp,
            ProtoArg::Tcp => L4::Tcp,
        },
        src_port: a.src_port,
        dst_port: a.dst_port,
        vary: match a.vary {
            VaryArg::SrcPort => Vary::SrcPort,
            VaryArg::SrcIp => Vary::SrcIp,
        },
    };
    spec.validate().map_err(anyhow::Error::msg)?;
    // Build every size once now, so a bad size fails before any socket.
    for &s in &sizes {
        spec.build(s).map_err(|e| anyhow!("--size: {e}"))?;
    }

    let allowed: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let check_core = |flag: &str, c: usize| -> Result<usize> {
        if !allowed.is_empty() && !allowed.contains(&c) {
            bail!(
                "{flag} {c}: not a CPU this process may run on (allowed: {})",
                allowed
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        Ok(c)
    };
    let first = allowed.first().copied();
    let second = allowed.get(1).copied().or(first);
    let tx_core = match a.tx_core {
        Some(c) => Some(check_core("--tx-core", c)?),
        None => first,
    };
    let rx_core = match a.rx_core {
        Some(c) => Some(check_core("--rx-core", c)?),
        None => second,
    };
    let xdp_mode = match a.xdp_mode {
        XdpModeArg::Auto => XdpModeRequest::Auto,
        XdpModeArg::Native => XdpModeRequest::Native,
        XdpModeArg::Generic => XdpModeRequest::Generic,
    };
    let bind = match a.bind {
        BindArg::Auto => BindRequest::Auto,
        BindArg::Copy => BindRequest::Copy,
        BindArg::ZeroCopy => BindRequest::ZeroCopy,
    };
    let mk = |ifname: &String, netns: &Option<String>, core, tx, rx| PortSpec {
        ifname: ifname.clone(),
        netns: netns.clone(),
        core,
        tx,
        rx,
        xdp_mode,
        bind,
        burst: a.burst,
        verify: !a.no_verify,
        rx_wait: a.rx_wait == RxWaitArg::Poll,
        tx_sleep: a.tx_wait == TxWaitArg::Sleep,
    };
    Ok(Plan {
        tx: a
            .tx
            .as_ref()
            .map(|i| mk(i, &a.tx_netns, tx_core, true, false)),
        rx: a
            .rx
            .as_ref()
            .map(|i| mk(i, &a.rx_netns, rx_core, false, true)),
        spec,
        src_mac_given: a.src_mac.is_some(),
        sizes,
        flows: a.flows,
        rate,
        count: a.count,
        duration: a.duration.map(Duration::from_secs_f64),
        drain: Duration::from_millis(a.drain_ms),
    })
}

const MAX_BURST_ARG: usize = port::MAX_BURST;

// ---------------------------------------------------------------------------
// the running session

struct Session {
    shared: Arc<Shared>,
    tx: Option<(TxLink, PortReady)>,
    rx: Option<(RxLink, PortReady)>,
    handles: Vec<JoinHandle<()>>,
    next_run: u16,
    progress: bool,
}

impl Session {
    fn start(plan: &Plan, shared: Arc<Shared>, progress: bool) -> Result<Session> {
        // Same interface in the same namespace: one thread, one socket
        // set, both roles.
        let combined = match (&plan.tx, &plan.rx) {
            (Some(t), Some(r)) => t.ifname == r.ifname && t.netns == r.netns,
            _ => false,
        };
        let mut threads: Vec<(PortSpec, bool, bool)> = Vec::new();
        if combined {
            let mut s = plan.tx.clone().expect("tx");
            s.rx = true;
            threads.push((s, true, true));
        } else {
            if let Some(t) = &plan.tx {
                threads.push((t.clone(), true, false));
            }
            if let Some(r) = &plan.rx {
                threads.push((r.clone(), false, true));
            }
        }
        let mut sess = Session {
            shared: shared.clone(),
            tx: None,
            rx: None,
            handles: Vec::new(),
            next_run: 1,
            progress,
        };
        let mut waits = Vec::new();
        for (spec, has_tx, has_rx) in threads {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (tx_end, tx_link) = if has_tx {
                let (jt, jr) = mpsc::channel();
                let (rt, rr) = mpsc::channel();
                (
                    Some(port::TxEnd {
                        jobs: jr,
                        reports: rt,
                    }),
                    Some(TxLink {
                        jobs: jt,
                        reports: rr,
                    }),
                )
            } else {
                (None, None)
            };
            let (rx_end, rx_link) = if has_rx {
                let (ct, cr) = mpsc::channel();
                let (rt, rr) = mpsc::channel();
                (
                    Some(port::RxEnd {
                        cmds: cr,
                        reports: rt,
                    }),
                    Some(RxLink {
                        cmds: ct,
                        reports: rr,
                    }),
                )
            } else {
                (None, None)
            };
            let name = format!(
                "xgw-gen-{}",
                match (has_tx, has_rx) {
                    (true, true) => "txrx",
                    (true, false) => "tx",
                    _ => "rx",
                }
            );
            let sh = shared.clone();
            let place = spec.place();
            let h = std::thread::Builder::new()
                .name(name)
                .spawn(move || port::run(spec, sh, ready_tx, tx_end, rx_end))
                .map_err(|e| anyhow!("spawning a port thread: {e}"))?;
            sess.handles.push(h);
            waits.push((ready_rx, tx_link, rx_link, place));
        }
        let mut err = None;
        for (ready, tl, rl, place) in waits {
            match ready.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(r)) => {
                    if let Some(l) = tl {
                        sess.tx = Some((l, r.clone()));
                    }
                    if let Some(l) = rl {
                        sess.rx = Some((l, r));
                    }
                }
                Ok(Err(e)) => {
                    err.get_or_insert(e);
                }
                Err(_) => {
                    err.get_or_insert(format!("{place}: the port did not open within 30 s"));
                }
            }
        }
        if let Some(e) = err {
            sess.finish();
            bail!("{e}");
        }
        Ok(sess)
    }

    fn finish(&mut self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        self.tx = None;
        self.rx = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }

    /// One trial: start the receiver, send, wait, stop the receiver.
    fn trial(&mut self, job: TrialJob, drain: Duration) -> Result<Trial> {
        let run = self.next_run;
        self.next_run = self.next_run.wrapping_add(1).max(1);
        self.shared.tx_sent.store(0, Ordering::Relaxed);
        self.shared.rx_received.store(0, Ordering::Relaxed);
        if let Some((l, _)) = &self.rx {
            l.cmds
                .send(RxCmd::Start { run })
                .map_err(|_| anyhow!("the receive thread is gone"))?;
            // The receiver must count before the first packet leaves.
            let t = Instant::now();
            while self.shared.rx_run.load(Ordering::Acquire) != u32::from(run) {
                if t.elapsed() > Duration::from_secs(10) {
                    bail!("the receive thread does not answer");
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let t0 = Instant::now();
        let mut tx_report = None;
        let mut ticker = Ticker::new(self.progress);
        if let Some((l, _)) = &self.tx {
            l.jobs
                .send(TxJob {
                    run,
                    rate: job.rate,
                    count: job.count,
                    duration_ns: job.duration.map(|d| d.as_nanos() as u64),
                    frames: job.frames.clone(),
                    flows: job.flows,
                })
                .map_err(|_| anyhow!("the transmit thread is gone"))?;
            loop {
                match l.reports.recv_timeout(ticker.wait()) {
                    Ok(r) => {
                        tx_report = Some(r);
                        break;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => ticker.tick(&self.shared),
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        bail!("the transmit thread stopped unexpectedly")
                    }
                }
            }
        } else {
            // receive only: until the duration or Ctrl-C
            while !self.shared.stop.load(Ordering::Relaxed)
                && job.duration.map_or(true, |d| t0.elapsed() < d)
            {
                std::thread::sleep(ticker.wait().min(Duration::from_millis(50)));
                ticker.maybe_tick(&self.shared);
            }
        }
        let mut rx_report = None;
        if let Some((l, _)) = &self.rx {
            if tx_report.is_some() {
                std::thread::sleep(drain);
            }
            l.cmds
                .send(RxCmd::Stop)
                .map_err(|_| anyhow!("the receive thread is gone"))?;
            rx_report = Some(
                l.reports
                    .recv_timeout(Duration::from_secs(10))
                    .map_err(|_| anyhow!("the receive thread does not answer"))?,
            );
        }
        Ok(Trial {
            repeated: false,
            target: job.rate,
            tx: tx_report,
            rx: rx_report,
            wall: t0.elapsed(),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What one trial should send.
struct TrialJob {
    rate: u64,
    count: Option<u64>,
    duration: Option<Duration>,
    frames: Arc<Vec<Frame>>,
    flows: u32,
}

/// What one trial measured.
struct Trial {
    target: u64,
    /// Repeated because the generator's own receiver dropped frames.
    repeated: bool,
    tx: Option<TxReport>,
    rx: Option<RxReport>,
    wall: Duration,
}

impl TrialJob {
    fn clone_job(&self) -> TrialJob {
        TrialJob {
            rate: self.rate,
            count: self.count,
            duration: self.duration,
            frames: self.frames.clone(),
            flows: self.flows,
        }
    }
}

/// Frames the generator's own receive socket dropped in a trial.
fn own_drops(t: &Trial) -> u64 {
    t.rx.as_ref()
        .map_or(0, |r| r.kernel.rx_dropped + r.kernel.rx_ring_full)
}

impl Trial {
    fn sent(&self) -> u64 {
        self.tx.as_ref().map_or(0, |t| t.sent)
    }
    fn tx_seconds(&self) -> f64 {
        self.tx
            .as_ref()
            .map_or(0.0, |t| t.end_ns.saturating_sub(t.start_ns) as f64 / 1e9)
    }
    fn tx_pps(&self) -> f64 {
        let s = self.tx_seconds();
        if s > 0.0 {
            self.sent() as f64 / s
        } else {
            0.0
        }
    }
    fn lost(&self) -> Option<u64> {
        let rx = self.rx.as_ref()?;
        Some(match &self.tx {
            Some(t) => t.sent.saturating_sub(rx.received),
            None => rx.lost_in_range,
        })
    }
    fn loss_pct(&self) -> Option<f64> {
        let lost = self.lost()?;
        let base = match &self.tx {
            Some(t) => t.sent,
            None => self.rx.as_ref().map_or(0, |r| r.received + r.lost_in_range),
        };
        Some(if base == 0 {
            0.0
        } else {
            100.0 * lost as f64 / base as f64
        })
    }
    fn rx_pps(&self) -> f64 {
        match &self.rx {
            Some(r) if r.last_ns > r.first_ns => {
                r.received.saturating_sub(1) as f64 / ((r.last_ns - r.first_ns) as f64 / 1e9)
            }
            _ => 0.0,
        }
    }
}

/// The once-per-second progress line.
struct Ticker {
    on: bool,
    start: Instant,
    next: Instant,
    last_tx: u64,
    last_rx: u64,
    last_at: Instant,
}

impl Ticker {
    fn new(on: bool) -> Self {
        let now = Instant::now();
        Ticker {
            on,
            start: now,
            next: now + Duration::from_secs(1),
            last_tx: 0,
            last_rx: 0,
            last_at: now,
        }
    }
    fn wait(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }
    fn maybe_tick(&mut self, s: &Shared) {
        if Instant::now() >= self.next {
            self.tick(s);
        }
    }
    fn tick(&mut self, s: &Shared) {
        let now = Instant::now();
        self.next += Duration::from_secs(1);
        let tx = s.tx_sent.load(Ordering::Relaxed);
        let rx = s.rx_received.load(Ordering::Relaxed);
        let dt = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        if self.on {
            // frames sent more than a second ago and still not received
            let lost = self.last_tx.saturating_sub(rx);
            eprintln!(
                "[xgw gen] {:>5.1}s  tx {:>10} pps  rx {:>10} pps  sent {:>11}  received {:>11}  lost {}",
                now.duration_since(self.start).as_secs_f64(),
                fmt_int((tx - self.last_tx) as f64 / dt),
                fmt_int(rx.saturating_sub(self.last_rx) as f64 / dt),
                tx,
                rx,
                lost
            );
        }
        self.last_tx = tx;
        self.last_rx = rx;
        self.last_at = now;
    }
}

fn fmt_int(v: f64) -> String {
    format!("{:.0}", v)
}

// ---------------------------------------------------------------------------
// reporting

fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "min": h.min(),
        "mean": h.mean().round() as u64,
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

fn trial_json(t: &Trial) -> Value {
    let mut v = json!({
        "target_pps": t.target,
        "wall_seconds": round3(t.wall.as_secs_f64()),
    });
    if let Some(tx) = &t.tx {
        v["tx"] = json!({
            "sent": tx.sent,
            "bytes": tx.bytes,
            "seconds": round3(t.tx_seconds()),
            "pps": t.tx_pps().round() as u64,
            "kernel": tx.kernel,
        });
    }
    if let Some(rx) = &t.rx {
        v["rx"] = json!({
            "received": rx.received,
            "bytes": rx.bytes,
            "lost": t.lost(),
            "loss_pct": t.loss_pct().map(round6),
            "duplicates": rx.duplicates,
            "reordered": rx.reordered,
            "late": rx.late,
            "corrupt": rx.corrupt,
            "foreign": rx.foreign,
            "stale": rx.stale,
            "pps": t.rx_pps().round() as u64,
            "latency_ns": latency_json(&rx.latency),
            "kernel": rx.kernel,
        });
    }
    v
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn port_json(p: &PortReady) -> Value {
    json!({
        "interface": p.ifname,
        "netns": p.netns,
        "mac": p.mac.to_string(),
        "mtu": p.mtu,
        "queues": p.queues,
        "bind_mode": p.bind_mode,
        "xdp_mode": p.xdp_mode,
    })
}

/// A note when the generator's own receiving socket dropped frames: then
/// the loss says nothing about the device under test.
fn self_drops(t: &Trial) -> String {
    match &t.rx {
        Some(r) if own_drops(t) > 0 => format!(
            " ({} of them dropped by xgw gen's own receive socket: fill ring empty {}, RX ring full {}; the receive thread lacked CPU)",
            own_drops(t),
            r.kernel.rx_fill_ring_empty,
            r.kernel.rx_ring_full
        ),
        _ => String::new(),
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

fn trial_text(t: &Trial) -> String {
    let mut s = String::new();
    if let Some(tx) = &t.tx {
        s += &format!(
            "tx: {} packets in {:.3} s = {:.0} pps ({:.1} Mbit/s with FCS)\n",
            tx.sent,
            t.tx_seconds(),
            t.tx_pps(),
            if t.tx_seconds() > 0.0 {
                tx.bytes as f64 * 8.0 / t.tx_seconds() / 1e6
            } else {
                0.0
            }
        );
    }
    if let Some(rx) = &t.rx {
        s += &format!(
            "rx: {} received, {} lost ({:.4}%), {} duplicates, {} reordered, {} corrupt, {} foreign, {} stale; {:.0} pps\n",
            rx.received,
            t.lost().unwrap_or(0),
            t.loss_pct().unwrap_or(0.0),
            rx.duplicates,
            rx.reordered,
            rx.corrupt,
            rx.foreign,
            rx.stale,
            t.rx_pps()
        );
        let h = &rx.latency;
        if !h.is_empty() {
            s += &format!(
                "latency µs: min {} p50 {} p90 {} p99 {} p99.9 {} max {}\n",
                us(h.min()),
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.9)),
                us(h.value_at_quantile(0.99)),
                us(h.value_at_quantile(0.999)),
                us(h.max())
            );
        }
        let d = self_drops(t);
        if !d.is_empty() {
            s += &format!("note:{d}\n");
        }
    }
    s
}

// ---------------------------------------------------------------------------
// entry point

/// Runs `xgw gen`.
pub fn main(a: GenArgs) -> Result<()> {
    let mut p = plan(&a)?;
    crate::netdev::check_privileges().map_err(|_| {
        anyhow!("xgw gen needs root (CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF) to open AF_XDP sockets and attach its XDP program; run it with sudo")
    })?;
    let shared = Arc::new(Shared::default());
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, shared.stop.clone())
            .map_err(|e| anyhow!("installing signal handlers: {e}"))?;
    }
    let mut sess = Session::start(&p, shared.clone(), !a.quiet)?;

    // Templates, now that the TX interface's MAC and MTU are known.
    let mut frames = Vec::new();
    if let Some((_, t)) = &sess.tx {
        if !p.src_mac_given {
            p.spec.src_mac = t.mac;
        }
        for &s in &p.sizes {
            let l3 = s - template::FCS - 14;
            if l3 > t.mtu as usize {
                bail!(
                    "--size {s}: the frame carries {l3} bytes after Ethernet but {} has MTU {}; use smaller frames or raise the MTU (ip link set {} mtu {l3})",
                    t.ifname, t.mtu, t.ifname
                );
            }
            frames.push(p.spec.build(s).map_err(|e| anyhow!("--size: {e}"))?);
        }
    }
    let frames = Arc::new(frames);

    let mut out = json!({
        "template": p.spec.name(),
        "sizes": p.sizes,
        "flows": p.flows,
        "vary": match p.spec.vary { Vary::SrcPort => "src-port", Vary::SrcIp => "src-ip" },
        "src": p.spec.src.to_string(),
        "dst": p.spec.dst.to_string(),
        "src_mac": p.spec.src_mac.to_string(),
        "dst_mac": p.spec.dst_mac.to_string(),
        "tx_port": sess.tx.as_ref().map(|(_, r)| port_json(r)),
        "rx_port": sess.rx.as_ref().map(|(_, r)| port_json(r)),
    });
    if !a.quiet {
        eprintln!(
            "[xgw gen] {} sizes {:?} flows {}: tx {} → rx {}",
            p.spec.name(),
            p.sizes,
            p.flows,
            sess.tx.as_ref().map_or("-".to_string(), |(_, r)| format!(
                "{}{} ({}, {})",
                r.ifname,
                r.netns
                    .as_ref()
                    .map(|n| format!("@{n}"))
                    .unwrap_or_default(),
                r.mac,
                r.bind_mode
            )),
            sess.rx.as_ref().map_or("-".to_string(), |(_, r)| format!(
                "{}{} ({} queue(s), xdp {}, {})",
                r.ifname,
                r.netns
                    .as_ref()
                    .map(|n| format!("@{n}"))
                    .unwrap_or_default(),
                r.queues,
                r.xdp_mode.unwrap_or("-"),
                r.bind_mode
            )),
        );
    }

    let mut text = String::new();
    if a.rfc2544 {
        let r = rfc2544_run(&a, &p, &mut sess, frames)?;
        text += &r.1;
        out["rfc2544"] = r.0;
    } else {
        let count = match (p.count, p.duration, p.rate) {
            (Some(c), _, _) => Some(c),
            // paced for a duration: exactly rate × duration packets
            (None, Some(d), r) if r > 0 => {
                Some((d.as_secs_f64() * r as f64).round().max(1.0) as u64)
            }
            _ => None,
        };
        let duration = match (p.duration, p.count.is_none() && p.rate > 0) {
            // a small margin so the count, not the clock, ends a paced run
            (Some(d), true) => Some(d + Duration::from_millis(250)),
            (d, _) => d,
        };
        let t = sess.trial(
            TrialJob {
                rate: p.rate,
                count,
                duration,
                frames,
                flows: p.flows,
            },
            p.drain,
        )?;
        text += &trial_text(&t);
        out["result"] = trial_json(&t);
    }
    let interrupted = shared.stop.load(Ordering::Relaxed);
    out["interrupted"] = json!(interrupted);
    drop(sess);
    if a.json {
        println!("{out}");
    } else {
        print!("{text}");
    }
    Ok(())
}

/// The RFC 2544 throughput search. Returns its JSON and text.
fn rfc2544_run(
    a: &GenArgs,
    p: &Plan,
    sess: &mut Session,
    frames: Arc<Vec<Frame>>,
) -> Result<(Value, String)> {
    let dur = Duration::from_secs_f64(a.trial_duration);
    let tol = a.loss_tolerance;
    let min = parse_rate(&a.min_rate).map_err(anyhow::Error::msg)?.max(1);
    let passes = |t: &Trial| t.sent() > 0 && t.loss_pct().is_some_and(|l| l <= tol);
    let verbose = !a.quiet;
    let mut trials: Vec<Trial> = Vec::new();
    let say = |n: usize, t: &Trial, pass: bool, again: bool| {
        if verbose {
            eprintln!(
                "[rfc2544] trial {n}: target {} pps, offered {:.0} pps, sent {}, lost {} ({:.4}%) → {}{}{}",
                if t.target == 0 { "line".to_string() } else { t.target.to_string() },
                t.tx_pps(),
                t.sent(),
                t.lost().unwrap_or(0),
                t.loss_pct().unwrap_or(0.0),
                if pass { "pass" } else { "fail" },
                self_drops(t),
                if again { "; repeating it once" } else { "" }
            );
        }
    };
    // A trial whose losses include drops by the generator's own receive
    // socket (its thread lacked CPU) says nothing sure about the DUT: it is
    // repeated once, and the repetition decides. Both stay in the JSON.
    let measure = |sess: &mut Session, job: TrialJob, trials: &mut Vec<Trial>| -> Result<bool> {
        let again = job.clone_job();
        let t = sess.trial(job, p.drain)?;
        let pass = passes(&t);
        let retry = !pass && own_drops(&t) > 0 && !sess.shared.stop.load(Ordering::Relaxed);
        say(trials.len() + 1, &t, pass, retry);
        trials.push(t);
        if !retry {
            return Ok(pass);
        }
        if let Some(last) = trials.last_mut() {
            last.repeated = true;
        }
        let t = sess.trial(again, p.drain)?;
        let pass = passes(&t);
        say(trials.len() + 1, &t, pass, false);
        trials.push(t);
        Ok(pass)
    };
    let job = |rate: u64| TrialJob {
        rate,
        count: (rate > 0).then(|| (dur.as_secs_f64() * rate as f64).round().max(1.0) as u64),
        // the count ends a paced trial; the clock is a safety net
        duration: Some(if rate > 0 {
            dur.mul_f64(1.2) + Duration::from_millis(200)
        } else {
            dur
        }),
        frames: frames.clone(),
        flows: p.flows,
    };
    let (max, max_fails, line_pps) = match &a.max_rate {
        Some(m) => (parse_rate(m).map_err(anyhow::Error::msg)?, false, None),
        None => {
            let pass = measure(sess, job(0), &mut trials)?;
            let t = trials.last().expect("a trial");
            let pps = t.tx_pps().floor() as u64;
            // loss-free at line rate: nothing to search
            (pps, !pass, Some(pps))
        }
    };
    if max == 0 {
        bail!("--rfc2544: the maximum rate is 0 pps (nothing was sent in the line-rate trial); check the TX interface");
    }
    let line_passed = a.max_rate.is_none() && trials.last().is_some_and(&passes);
    let mut err = None;
    let outcome = if line_passed {
        rfc2544::Outcome {
            best: Some(max),
            trials: vec![],
            lo: max,
            hi: max,
            incomplete: false,
        }
    } else {
        let stop = sess.shared.stop.clone();
        rfc2544::search(
            rfc2544::Bounds {
                min: min.min(max),
                max,
                resolution: a.resolution / 100.0,
                max_trials: a.max_trials,
                max_fails,
            },
            |rate| {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                match measure(sess, job(rate), &mut trials) {
                    Ok(pass) => (!stop.load(Ordering::Relaxed)).then_some(pass),
                    Err(e) => {
                        err = Some(e);
                        None
                    }
                }
            },
        )
    };
    if let Some(e) = err {
        return Err(e);
    }
    // the trial that established the answer: the passing one at `best`
    let best_trial = outcome.best.and_then(|b| {
        trials
            .iter()
            .rev()
            .find(|t| passes(t) && (t.target == b || (t.target == 0 && line_passed)))
    });
    let latency = best_trial
        .and_then(|t| t.rx.as_ref())
        .map(|r| latency_json(&r.latency))
        .unwrap_or(Value::Null);
    // The answer is the rate the best passing trial really offered: a
    // generator that cannot reach a target must not report the target.
    let zero_loss = best_trial.map(|t| t.tx_pps().round() as u64);
    let generator_limited =
        best_trial.is_some_and(|t| t.target > 0 && t.tx_pps() < 0.95 * t.target as f64);
    let v = json!({
        "zero_loss_pps": zero_loss,
        "zero_loss_target_pps": outcome.best,
        "generator_limited": generator_limited,
        "loss_tolerance_pct": tol,
        "resolution_pct": a.resolution,
        "trial_seconds": a.trial_duration,
        "min_rate_pps": min,
        "max_rate_pps": max,
        "line_rate_pps": line_pps,
        "interval_pps": [outcome.lo, outcome.hi],
        "incomplete": outcome.incomplete,
        "latency_ns": latency,
        "trials": trials.iter().map(|t| {
            let mut j = trial_json(t);
            j["pass"] = json!(passes(t));
            j["offered_pps"] = json!(t.tx_pps().round() as u64);
            j["generator_rx_dropped"] = json!(own_drops(t));
            j["repeated"] = json!(t.repeated);
            j
        }).collect::<Vec<_>>(),
    });
    let mut s = format!(
        "RFC 2544 throughput ({} trials of {:.1} s, loss tolerance {}%, resolution {}%): ",
        trials.len(),
        a.trial_duration,
        tol,
        a.resolution
    );
    match zero_loss {
        Some(b) => {
            s += &format!("{b} pps");
            if generator_limited {
                s += " (the generator could not offer the target rate: this is its own limit)";
            }
            if let Some(h) = best_trial.and_then(|t| t.rx.as_ref()).map(|r| &r.latency) {
                if !h.is_empty() {
                    s += &format!(
                        "; latency at that rate µs: p50 {} p90 {} p99 {} max {}",
                        us(h.value_at_quantile(0.5)),
                        us(h.value_at_quantile(0.9)),
                        us(h.value_at_quantile(0.99)),
                        us(h.max())
                    );
                }
            }
            s += "\n";
        }
        None => s += &format!("no rate from {min} pps up passed\n"),
    }
    if outcome.incomplete {
        s += "(search incomplete: interrupted or out of trials)\n";
    }
    Ok((v, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("20000").unwrap(), 20_000);
        assert_eq!(parse_rate("20k").unwrap(), 20_000);
        assert_eq!(parse_rate("1.5M").unwrap(), 1_500_000);
        assert_eq!(parse_rate("250kpps").unwrap(), 250_000);
        assert_eq!(parse_rate("line").unwrap(), 0);
        assert_eq!(parse_rate("0").unwrap(), 0);
        assert!(parse_rate("fast").unwrap_err().contains("not a rate"));
        assert!(parse_rate("-5").is_err());
    }

    fn args(extra: &[&str]) -> GenArgs {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct W {
            #[command(flatten)]
            g: GenArgs,
        }
        let mut v = vec!["gen"];
        v.extend_from_slice(extra);
        W::try_parse_from(v).unwrap().g
    }

    #[test]
    fn plan_errors_are_one_line_and_name_the_flag() {
        let e = |x: &[&str]| plan(&args(x)).err().map(|e| e.to_string()).unwrap();
        assert!(e(&[]).contains("--tx"));
        assert!(e(&["--tx", "a"]).contains("--dst-mac is required"));
        assert!(e(&["--tx", "a", "--dst-mac", "zz"]).contains("not a MAC"));
        let m = ["--tx", "a", "--dst-mac", "02:00:00:00:00:01"];
        assert!(e(&[&m[..], &["--size", "64,x"]].concat()).contains("not a frame size"));
        assert!(e(&[
            &m[..],
            &[
                "--size",
                "64",
                "--src-ip",
                "2001:db8::1",
                "--dst-ip",
                "2001:db8::2"
            ]
        ]
        .concat())
        .contains("too small"));
        assert!(e(&[&m[..], &["--dst-ip", "2001:db8::2"]].concat())
            .contains("different address families"));
        assert!(e(&[&m[..], &["--encap", "ipip"]].concat()).contains("--outer-src"));
        assert!(e(&[&m[..], &["--rate", "quick"]].concat()).contains("--rate"));
        assert!(e(&[&m[..], &["--rfc2544"]].concat()).contains("needs both"));
        assert!(e(&[&m[..], &["--flows", "0"]].concat()).contains("--flows"));
        for msg in [e(&[]), e(&["--tx", "a"])] {
            assert!(!msg.contains('\n'), "{msg}");
        }
        let ok = plan(&args(
            &[&m[..], &["--rx", "b", "--size", "imix", "--flows", "8"]].concat(),
        ))
        .unwrap();
        assert_eq!(ok.sizes.len(), 12);
        assert!(ok.tx.is_some() && ok.rx.is_some());
    }
}
