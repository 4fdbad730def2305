//! A dataplane that dies is loud: a worker that panics is logged at once,
//! shows as dead in `stats`, and `xgw run` stops, detaches and exits with
//! status 70 (EX_SOFTWARE) within a second, so a supervisor restarts it;
//! `xgw stats` never hangs meanwhile. `xgw replay` with a panicking worker
//! exits 70 with the panic message too.
//!
//! The panics are injected with the test-only fault hook
//! (`XGW_TEST_FAULT=worker-panic:<worker>:<after-ms>`). The engine runs on
//! `driver = "mem"` ports, which need neither root nor interfaces, so these
//! tests run (and must pass) anywhere.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use xgw_engine::config::Config;
use xgw_engine::control::StatsSource;
use xgw_engine::engine::{self, PortIo, EXIT_WORKER_DIED, FAULT_ENV};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xgw-live-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config(socket: &Path) -> String {
    xgw_tests::two_worker_mem_config(socket)
}

/// Runs `xgw stats --json`; returns the answer (or the error) and how
/// long it took.
fn stats(socket: &Path) -> (Result<Value, String>, Duration) {
    let t = Instant::now();
    let out = Command::new(xgw_tests::xgw_bin())
        .args(["stats", "--json", "--socket"])
        .arg(socket)
        .output()
        .unwrap();
    let took = t.elapsed();
    let r = if out.status.success() {
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    (r, took)
}

#[test]
fn a_worker_panic_makes_xgw_run_exit_70_at_once() {
    let dir = tmpdir("run");
    let socket = dir.join("xgw.sock");
    let cfg = dir.join("xgw.toml");
    std::fs::write(&cfg, config(&socket)).unwrap();
    let fault_after = Duration::from_millis(2500);
    let started = Instant::now();
    let mut child = Command::new(xgw_tests::xgw_bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .env(
            FAULT_ENV,
            format!("worker-panic:1:{}", fault_after.as_millis()),
        )
        .env("XGW_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Every stderr line with the time it arrived.
    let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let reader = {
        let lines = lines.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                lines.lock().unwrap().push((Instant::now(), l));
            }
        })
    };
    // Ask for stats over and over until xgw is gone: before the fault
    // both workers run; no request may hang, before, during or after.
    let mut answers = Vec::new();
    let exit = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break (Instant::now(), st);
        }
        assert!(
            started.elapsed() < fault_after + Duration::from_secs(10),
            "xgw run still running 10 s after its worker panicked; stderr: {:?}",
            lines.lock().unwrap()
        );
        if socket.exists() {
            let (r, took) = stats(&socket);
            assert!(
                took < Duration::from_secs(2),
                "xgw stats took {took:?} (answer {r:?})"
            );
            answers.push((Instant::now(), r));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let (exited_at, status) = exit;
    let lines = lines.lock().unwrap();
    let all: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(
        status.code(),
        Some(EXIT_WORKER_DIED as i32),
        "exit status {status:?}; stderr:\n{all}"
    );
    let find = |needle: &str| {
        lines
            .iter()
            .position(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("no stderr line contains {needle:?}:\n{all}"))
    };
    // Logged at once, at error level, with the worker thread, message and
    // location; then noticed by the run loop; only then the shutdown.
    let panic_line = find("XGW_TEST_FAULT: injected panic in worker 1");
    let (panicked_at, text) = &lines[panic_line];
    assert!(
        text.contains("ERROR") && text.contains("xgw-worker-1") && text.contains("worker.rs:"),
        "{text}"
    );
    let noticed = find("worker died");
    let stopping = find("stopping: draining workers");
    assert!(panic_line < noticed && noticed < stopping, "{all}");
    assert!(lines[noticed].1.contains("exiting with status 70"), "{all}");
    // The final report shows the dead worker; the last line says why xgw
    // exited.
    assert!(all.contains("DEAD WORKERS: 1"), "{all}");
    let last = &lines.last().unwrap().1;
    assert!(
        last.starts_with("xgw: worker 1 died: XGW_TEST_FAULT"),
        "{last}"
    );
    let fired = panicked_at.duration_since(started);
    let exit_after = exited_at.duration_since(*panicked_at);
    assert!(fired >= fault_after, "fault fired after {fired:?}");
    assert!(
        exit_after < Duration::from_secs(1),
        "xgw exited {exit_after:?} after the panic"
    );
    assert!(!socket.exists(), "control socket left behind");
    // Stats answered before the fault with both workers running.
    let before: Vec<&Value> = answers
        .iter()
        .filter(|(t, _)| t < panicked_at)
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    assert!(!before.is_empty(), "no stats answer before the fault");
    for v in &before {
        assert_eq!(v["workers"][0]["state"], "running", "{v}");
        assert_eq!(v["workers"][1]["state"], "running", "{v}");
    }
    // Whatever answered after the panic (the window is short) says so.
    for (_, r) in answers.iter().filter(|(t, _)| t > panicked_at) {
        if let Ok(v) = r {
            if v["workers_dead"] != serde_json::json!([]) {
                assert_eq!(v["workers"][1]["state"], "dead", "{v}");
            }
        }
    }
    eprintln!(
        "fault fired {fired:?} after start; xgw exited {exit_after:?} after the panic; {} stats requests, {} before the fault",
        answers.len(),
        before.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// In process: the dead worker is marked dead (torn: it died inside a stats
/// section), the `stats` answer says so and does not hang, the other
/// worker keeps running until stopped, and stopping returns only it.
#[test]
fn a_dead_worker_shows_in_stats_and_the_others_stop_cleanly() {
    let dir = tmpdir("inproc");
    let cfg = Config::parse(&config(&dir.join("unused.sock")), "liveness").unwrap();
    let mut built = engine::build(&cfg, &PortIo::Live).expect("mem ports need no privileges");
    built.workers[0].arm_fault(Duration::ZERO);
    let running = engine::start(built.workers).unwrap();
    let t = Instant::now();
    let died = loop {
        if let Some(d) = running.dead() {
            break d;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "worker 0 never died");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(died.worker, 0);
    assert!(
        died.why
            .contains("XGW_TEST_FAULT: injected panic in worker 0")
            && died.why.contains("worker.rs:"),
        "{}",
        died.why
    );
    let mut src = StatsSource::new(built.ports, running.stats.clone());
    let t = Instant::now();
    let v = src.answer("stats");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(v["workers_dead"], serde_json::json!([0]));
    assert_eq!(v["workers"][0]["state"], "dead");
    assert_eq!(v["workers"][0]["torn"], true);
    assert_eq!(v["workers"][1]["state"], "running");
    assert_eq!(v["workers"][1]["torn"], false);
    assert!(!running.stats[1].is_dead());
    let t = Instant::now();
    let left = running.stop();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, 1);
    assert!(left[0].frames_accounted());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_worker_panic_makes_xgw_replay_exit_70_with_the_message() {
    let g = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/l2fwd");
    let dir = tmpdir("replay");
    let out = Command::new(xgw_tests::xgw_bin())
        .args(["replay", "--config"])
        .arg(g.join("config.toml"))
        .arg("--input")
        .arg(format!("west={}", g.join("west-in.pcap").display()))
        .arg("--output")
        .arg(format!("east={}", dir.join("east.pcap").display()))
        .env(FAULT_ENV, "worker-panic:0:0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EXIT_WORKER_DIED as i32),
        "{:?}\n{err}",
        out.status
    );
    assert!(
        err.contains("xgw: worker 0 died: XGW_TEST_FAULT: injected panic in worker 0"),
        "{err}"
    );
    // A malformed fault is refused, not ignored.
    let out = Command::new(xgw_tests::xgw_bin())
        .args(["replay", "--config"])
        .arg(g.join("config.toml"))
        .arg("--input")
        .arg(format!("west={}", g.join("west-in.pcap").display()))
        .env(FAULT_ENV, "worker-panic:7:0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("worker 7 does not exist"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
