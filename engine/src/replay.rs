//! `xgw replay`: the configured pipeline run offline over capture files.
//! Every port becomes a pcap port; one worker reads the inputs in order
//! and runs until they are exhausted, so output is deterministic.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use pcap_file::pcap::PcapReader;
use serde_json::Value;

use crate::config::Config;
use crate::control::StatsSource;
use crate::engine::{self, PortIo, WorkerDied};
use crate::port::PortQueue;

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Setup, capture or accounting errors.
    #[error("{0}")]
    Failed(String),
    /// The worker panicked (`xgw replay` exits with
    /// [`engine::EXIT_WORKER_DIED`]).
    #[error(transparent)]
    WorkerDied(#[from] WorkerDied),
}

/// Runs the replay and returns the `stats` JSON of the run.
pub fn run(
    cfg: &Config,
    inputs: HashMap<String, PathBuf>,
    outputs: HashMap<String, PathBuf>,
) -> Result<Value, String> {
    run_report(cfg, inputs, outputs).map_err(|e| e.to_string())
}

/// As [`run`], telling a worker's death apart from other failures. A
/// panicking worker is logged at once (the engine's panic hook) and
/// reported, never unwound through the caller.
pub fn run_report(
    cfg: &Config,
    inputs: HashMap<String, PathBuf>,
    outputs: HashMap<String, PathBuf>,
) -> Result<Value, ReplayError> {
    replay(cfg, inputs, outputs, false, std::time::Duration::ZERO).map(|(v, _)| v)
}

/// As [`run_report`] (with the runtime figures if `runtime`), the worker
/// kept polling for `linger` after its inputs run out, so the
/// pipeline's timers fire (held frames answered, retransmissions): what
/// it sends then is stamped with the last input's time.
pub fn run_linger(
    cfg: &Config,
    inputs: HashMap<String, PathBuf>,
    outputs: HashMap<String, PathBuf>,
    runtime: bool,
    linger: std::time::Duration,
) -> Result<(Value, Option<Value>), ReplayError> {
    replay(cfg, inputs, outputs, runtime, linger)
}

/// As [`run_report`], with the per-node runtime figures of the run (the
/// `runtime` answer of a live engine: `xgw replay --runtime`).
pub fn run_runtime(
    cfg: &Config,
    inputs: HashMap<String, PathBuf>,
    outputs: HashMap<String, PathBuf>,
) -> Result<(Value, Value), ReplayError> {
    replay(cfg, inputs, outputs, true, std::time::Duration::ZERO)
        .map(|(v, r)| (v, r.unwrap_or(Value::Null)))
}

fn replay(
    cfg: &Config,
    inputs: HashMap<String, PathBuf>,
    outputs: HashMap<String, PathBuf>,
    runtime: bool,
    linger: std::time::Duration,
) -> Result<(Value, Option<Value>), ReplayError> {
    engine::install_panic_hook();
    let mut cfg = cfg.clone();
    cfg.cores.truncate(1);
    let start = inputs.values().filter_map(|p| first_stamp(p)).min();
    let built = engine::build(&cfg, &PortIo::Replay { inputs, outputs })
        .map_err(|e| ReplayError::Failed(e.to_string()))?;
    let stop = AtomicBool::new(false);
    let mut stats = Vec::new();
    let mut errors = Vec::new();
    let mut workers = built.workers;
    for w in &mut workers {
        stats.push(w.stats.clone());
        if let Some(t) = start {
            w.set_capture_clock(t);
        }
        w.set_linger(linger);
        if let Err(payload) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run(&stop)))
        {
            let why = engine::take_last_panic().unwrap_or_else(|| engine::panic_text(&*payload));
            w.stats.mark_dead(why.clone());
            return Err(WorkerDied { worker: w.id, why }.into());
        }
        for p in &mut w.ports {
            if let PortQueue::Pcap(q) = p {
                if let Some(e) = q.error.take() {
                    errors.push(e);
                }
            }
        }
        if !w.frames_accounted() {
            errors.push(format!(
                "worker {}: frame accounting mismatch after replay (an xgw bug)",
                w.id
            ));
        }
    }
    // Measuring the TSC takes ~50 ms: only when the figures are wanted.
    let rt = runtime.then(|| crate::control::runtime_json(&stats));
    let v = StatsSource::new(built.ports, stats).snapshot();
    if errors.is_empty() {
        Ok((v, rt))
    } else {
        Err(ReplayError::Failed(errors.join("; ")))
    }
}

/// Timestamp (ns) of the first record of a capture, if it has one: the
/// replay's clock starts there, so what the pipeline sends before it has
/// received anything (start-up announcements) is stamped with it.
fn first_stamp(path: &Path) -> Option<u64> {
    let f = File::open(path).ok()?;
    let mut r = PcapReader::new(BufReader::new(f)).ok()?;
    let pkt = r.next_packet()?.ok()?;
    Some(pkt.timestamp.as_nanos() as u64)
}
