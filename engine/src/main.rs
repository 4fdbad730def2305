//! The `xgw` command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use xgw_engine::cli::{ask, find_socket, Endpoint};
use xgw_engine::config::Config;
use xgw_engine::control::{self, ControlServer, StatsSource};
use xgw_engine::engine::{self, PortIo, WorkerDied, EXIT_WORKER_DIED};
use xgw_engine::function;

#[derive(Parser)]
#[command(
    name = "xgw",
    version,
    about = "a poll-mode AF_XDP packet engine and gateway"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the engine in the foreground until SIGINT/SIGTERM.
    Run {
        /// Configuration file; without it the embedded demo config is used.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print shell completions for `xgw` (e.g. `xgw completions bash >
    /// /etc/bash_completion.d/xgw`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of `xgw` and all its subcommands
    /// (`xgw man > xgw.1; man ./xgw.1`).
    Man,
    /// Validate a configuration file and exit.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the configured pipeline offline over capture files (no root).
    Replay {
        #[arg(long, short)]
        config: PathBuf,
        /// PORT=FILE.pcap: frames read into PORT (repeatable).
        #[arg(long = "input", value_name = "PORT=FILE")]
        inputs: Vec<String>,
        /// PORT=FILE.pcap: frames transmitted on PORT are written here (repeatable).
        #[arg(long = "output", value_name = "PORT=FILE")]
        outputs: Vec<String>,
        /// Print the counters as JSON.
        #[arg(long)]
        json: bool,
        /// Also show the per-node runtime figures of the run (as
        /// `xgw runtime`; with --json under the key "runtime").
        #[arg(long)]
        runtime: bool,
        /// Keep the worker running this long after the inputs end, so
        /// timers fire (e.g. a held SYN answered after 6 s).
        #[arg(long, value_name = "MS", default_value_t = 0)]
        linger_ms: u64,
    },
    /// The drop reasons that counted something on a running engine, by
    /// port and worker, with the nodes that file them and what they mean.
    Drops {
        #[arg(long)]
        json: bool,
        /// Print again every second (Ctrl-C stops), with what each reason
        /// counted since the previous print.
        #[arg(long)]
        watch: bool,
        /// Control socket (default: the one named by --config, else /run/xgw/xgw.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Read the control socket path from this config.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Capture what a running engine receives, sends or drops into a
    /// pcapng file (Wireshark opens it; a dropped frame carries its drop
    /// reason as the packet comment).
    Capture {
        /// Only frames of this port (its name).
        #[arg(long)]
        port: Option<String>,
        /// Directions: rx, tx, drop (repeatable; default all three).
        #[arg(long = "dir", value_name = "rx|tx|drop")]
        dirs: Vec<String>,
        /// Match fields, comma-separated: proto=udp|tcp|icmp|icmpv6|N,
        /// src=IP, dst=IP, sport=N, dport=N, teid=N.
        #[arg(long = "match", value_name = "EXPR")]
        expr: Option<String>,
        /// How many frames (1 to 4096).
        #[arg(long, default_value_t = 100)]
        count: u32,
        /// The pcapng file to write.
        #[arg(long)]
        write: PathBuf,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Control socket (default: the one named by --config, else /run/xgw/xgw.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Read the control socket path from this config.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Show live counters of a running engine.
    Stats {
        #[arg(long)]
        json: bool,
        /// Print again every second (Ctrl-C stops) with per-port rates
        /// (packets and bits per second) since the previous print.
        #[arg(long)]
        watch: bool,
        /// Control socket (default: the one named by --config, else /run/xgw/xgw.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Read the control socket path from this config.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Re-read a running engine's configuration file and apply what
    /// changed (routes, tunnels, GTP-U sessions, the ports' pass rules)
    /// without restarting it; a bad file, or a change only a restart
    /// applies, changes nothing and says why. SIGHUP does the same.
    Reload {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Per-node runtime figures of a running engine (calls, vectors,
    /// packets, clocks per packet; like VPP's `show runtime`).
    Runtime {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Endpoint,
    },
    /// Print the configured pipeline's nodes and the nodes each may send
    /// frames to (offline; without --config, the embedded demo's).
    Graph {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List every drop reason with its meaning.
    DropReasons,
    /// AF_XDP traffic generator and receiver (loss, reordering, latency; RFC 2544 search).
    Gen(Box<xgw_engine::gen::GenArgs>),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XGW_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    // The engine's subcommands, then every pipeline function's.
    let m = function::cli(Cli::command()).get_matches();
    let done = match function::run_cli(&m) {
        Some(r) => r,
        None => {
            let cli = Cli::from_arg_matches(&m).unwrap_or_else(|e| e.exit());
            dispatch(cli.cmd)
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xgw: {e:#}");
            if e.downcast_ref::<WorkerDied>().is_some() {
                ExitCode::from(EXIT_WORKER_DIED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn load(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::embedded_demo(),
    })
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Run { config } => run(load(config.as_deref())?, config),
        Cmd::Check { config } => {
            let c = Config::load(&config)?;
            println!(
                "ok: {} ({} port{}, {} worker{})",
                config.display(),
                c.ports.len(),
                if c.ports.len() == 1 { "" } else { "s" },
                c.cores.len(),
                if c.cores.len() == 1 { "" } else { "s" }
            );
            Ok(())
        }
        Cmd::Replay {
            config,
            inputs,
            outputs,
            json,
            runtime,
            linger_ms,
        } => replay(&config, &inputs, &outputs, json, runtime, linger_ms),
        Cmd::Reload { dry_run, json, at } => {
            let path = at.path()?;
            let v = control::request_json(
                &path,
                &serde_json::json!({"cmd": "reload", "dry_run": dry_run}),
            )
            .map_err(anyhow::Error::msg)?;
            if json {
                println!("{v}");
            }
            if let Some(e) = v["error"].as_str() {
                bail!("{e}");
            }
            if !json {
                let changes: Vec<&str> = v["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str())
                    .collect();
                let verb = if dry_run { "would change" } else { "changed" };
                if changes.is_empty() {
                    println!("reload: nothing {verb}");
                } else {
                    println!("reload: {} {verb}:", changes.len());
                    for c in changes {
                        println!("  {c}");
                    }
                }
            }
            Ok(())
        }
        Cmd::Runtime { json, at } => {
            let v = ask(at, serde_json::json!({"cmd": "runtime"}))?;
            if json {
                println!("{v}");
            } else {
                print!("{}", control::render_runtime(&v));
            }
            Ok(())
        }
        Cmd::Graph { config, json } => {
            let nodes = control::pipeline_nodes(&load(config.as_deref())?);
            if json {
                println!("{}", control::graph_json(&nodes));
            } else {
                print!("{}", control::render_graph(&nodes));
            }
            Ok(())
        }
        Cmd::Stats {
            json,
            watch,
            socket,
            config,
        } => {
            let path = socket_of(socket, config)?;
            let mut prev: Option<(serde_json::Value, serde_json::Value, std::time::Instant)> = None;
            loop {
                let v = control::request(&path, "stats").map_err(anyhow::Error::msg)?;
                let now = std::time::Instant::now();
                // (The per-node figures, for the interval's node rates.)
                let rt = if watch {
                    control::request(&path, "runtime").map_err(anyhow::Error::msg)?
                } else {
                    serde_json::Value::Null
                };
                if json {
                    println!("{v}");
                } else {
                    print!("{}", control::render_table(&v));
                    if let Some((p, prt, t)) = &prev {
                        let dt = now.duration_since(*t);
                        print!("{}", control::render_rates(p, &v, dt));
                        print!("{}", control::render_node_rates(prt, &rt, dt));
                    }
                }
                if !watch {
                    return Ok(());
                }
                prev = Some((v, rt, now));
                std::thread::sleep(std::time::Duration::from_secs(1));
                println!();
            }
        }
        Cmd::Capture {
            port,
            dirs,
            expr,
            count,
            write,
            timeout,
            socket,
            config,
        } => {
            let path = socket_of(socket, config)?;
            capture(&path, port, &dirs, expr, count, &write, timeout)
        }
        Cmd::Drops {
            json,
            watch,
            socket,
            config,
        } => {
            let path = socket_of(socket, config)?;
            let mut prev: Option<serde_json::Value> = None;
            loop {
                let v = control::request(&path, "stats").map_err(anyhow::Error::msg)?;
                let d = control::drops_json(&v, prev.as_ref());
                if json {
                    println!("{d}");
                } else {
                    print!("{}", control::render_drops(&d));
                }
                if !watch {
                    return Ok(());
                }
                prev = Some(v);
                std::thread::sleep(std::time::Duration::from_secs(1));
                println!();
            }
        }
        Cmd::Completions { shell } => {
            use std::io::Write;
            let mut cmd = function::cli(Cli::command());
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "xgw", &mut buf);
            // (A closed pipe, e.g. `| head`, is not an error.)
            let _ = std::io::stdout().write_all(&buf);
            Ok(())
        }
        Cmd::Man => {
            // The options, and every subcommand with its summary (each
            // one's own options: `xgw SUBCOMMAND --help`).
            let cmd = function::cli(Cli::command());
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout().lock())
                .context("writing the man page")
        }
        Cmd::Gen(a) => xgw_engine::gen::main(*a),
        Cmd::DropReasons => {
            // The reason, the nodes that file frames under it (declared
            // next to their code), what it means.
            // (A closed pipe, e.g. `| head`, ends the list quietly.)
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for &r in xgw_pipelines::DropReason::ALL {
                let owners = xgw_pipelines::drop_owners(r).join(",");
                let line = format!("{:<28} {:<36} {}", r.name(), owners, r.description());
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            Ok(())
        }
    }
}

fn run(cfg: Config, path: Option<PathBuf>) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("installing signal handlers")?;
    let listener = control::bind(&cfg.control_socket).map_err(anyhow::Error::msg)?;
    let prom = match cfg.prometheus {
        Some(a) => match std::net::TcpListener::bind(a) {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = std::fs::remove_file(&cfg.control_socket);
                bail!(
                    "{}: key `control.prometheus`: cannot listen on {a}: {e}",
                    cfg.source
                );
            }
        },
        None => None,
    };
    let built = match engine::build(&cfg, &PortIo::Live) {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&cfg.control_socket);
            bail!("{e}");
        }
    };
    let xdp = built.xdp;
    let mut links = xgw_engine::netdev::LinkWatch::for_ports(&built.ports, &xdp);
    let running = engine::start(built.workers)?;
    let mut pass = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        if let xgw_engine::config::PortKind::AfXdp(x) = &p.kind {
            if let Some(prog) = xdp.iter().find(|g| g.ifname() == x.interface) {
                pass.push((
                    i,
                    prog.pass_handle()
                        .context("duplicating the XDP map descriptors")?,
                ));
            }
        }
    }
    // The reloader holds the multicast memberships: a reload that adds an
    // IPv6 address joins its solicited-node group.
    let reloader = xgw_engine::reload::Reloader::new(cfg.clone(), path, pass)
        .with_memberships(built.memberships);
    let src = StatsSource::new(built.ports, running.stats.clone())
        .with_function(built.function)
        .with_reloader(reloader);
    let server = ControlServer::start_with(listener, cfg.control_socket.clone(), src, prom)
        .map_err(anyhow::Error::msg)?;
    tracing::info!(
        config = %cfg.source,
        workers = cfg.cores.len(),
        socket = %cfg.control_socket.display(),
        "xgw running; stop with Ctrl-C"
    );
    // A lost interface (deleted or replaced) stops the engine too: the
    // sockets are unbound; exit 1 so a supervisor restarts xgw.
    let mut lost_link = None;
    // A worker that dies (panics) stops the engine: it was logged at once
    // by the panic hook; here it is noticed within one sleep, the others
    // are stopped, the XDP programs detached, and the exit status is
    // EXIT_WORKER_DIED so a supervisor restarts xgw.
    let mut died = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some(d) = running.dead() {
            tracing::error!(
                worker = d.worker,
                "worker died ({}); stopping the engine, detaching, exiting with status {EXIT_WORKER_DIED}",
                d.why
            );
            died = Some(d);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if hup.swap(false, Ordering::Relaxed) {
            // The control thread owns the configuration: ask it, as
            // `xgw reload` would. It logs the outcome.
            tracing::info!("SIGHUP: reloading the configuration");
            let sock = cfg.control_socket.clone();
            std::thread::spawn(move || {
                if let Err(e) = control::request_json(&sock, &serde_json::json!({"cmd": "reload"}))
                {
                    tracing::warn!("SIGHUP: reload request failed: {e}");
                }
            });
        }
        if let Err(e) = links.check() {
            tracing::error!("{e}");
            lost_link = Some(e);
            break;
        }
    }
    tracing::info!("stopping: draining workers");
    let workers = running.stop();
    let src = server.stop();
    // Sockets close (and UMEMs unmap) before the XDP links go.
    drop(workers);
    drop(xdp);
    if let Some(mut src) = src {
        eprint!("{}", control::render_table(&src.snapshot()));
    }
    tracing::info!("stopped; XDP programs detached");
    if let Some(d) = died {
        return Err(d.into());
    }
    match lost_link {
        Some(e) => bail!("{e}"),
        None => Ok(()),
    }
}

/// `xgw capture`: arms, collects until `count` frames or the timeout,
/// stops, writes pcapng (one interface per port; the direction in each
/// packet's flags, the drop reason in its comment).
fn capture(
    sock: &Path,
    port: Option<String>,
    dirs: &[String],
    expr: Option<String>,
    count: u32,
    write: &Path,
    timeout: u64,
) -> Result<()> {
    use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
    use pcap_file::pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    };
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::DataLink;
    use serde_json::{json, Value};
    let ask = |req: Value| -> Result<Value> {
        let v = control::request_json(sock, &req).map_err(anyhow::Error::msg)?;
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        Ok(v)
    };
    let stats = ask(json!({"cmd": "stats"}))?;
    let names: Vec<String> = stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["name"].as_str().map(String::from))
        .collect();
    let mut mask = 0u64;
    for d in dirs {
        mask |= match d.as_str() {
            "rx" => 1,
            "tx" => 2,
            "drop" => 4,
            x => bail!("--dir {x:?}: rx, tx or drop"),
        };
    }
    let mut req =
        json!({"cmd": "capture-arm", "count": count, "dirs": if mask == 0 { 7 } else { mask }});
    if let Some(p) = port {
        let Some(i) = names.iter().position(|n| *n == p) else {
            bail!("--port {p}: no such port; ports: {}", names.join(", "));
        };
        req["port"] = json!(i);
    }
    xgw_engine::cli::match_request(&mut req, expr.as_deref())?;
    ask(req)?;
    let end = std::time::Instant::now() + Duration::from_secs(timeout);
    let mut frames: Vec<Value> = Vec::new();
    loop {
        let v = ask(json!({"cmd": "capture-read"}))?;
        frames.extend(v["frames"].as_array().cloned().unwrap_or_default());
        if v["armed"] != true || frames.len() >= count as usize || std::time::Instant::now() >= end
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = ask(json!({"cmd": "capture-stop"}))?;
    frames.extend(v["frames"].as_array().cloned().unwrap_or_default());
    let file =
        std::fs::File::create(write).with_context(|| format!("creating {}", write.display()))?;
    let mut w = PcapNgWriter::new(std::io::BufWriter::new(file)).context("writing pcapng")?;
    for n in &names {
        let mut idb =
            InterfaceDescriptionBlock::new(DataLink::ETHERNET, xgw_engine::capture::SNAPLEN as u32);
        idb.options
            .push(InterfaceDescriptionOption::IfName(n.clone().into()));
        idb.options.push(InterfaceDescriptionOption::IfTsResol(9));
        w.write_pcapng_block(idb).context("writing pcapng")?;
    }
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len() / 2)
            .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
            .collect()
    };
    for f in &frames {
        let data = hex(f["bytes"].as_str().unwrap_or(""));
        let mut options = Vec::new();
        // epb_flags: direction in bits 0-1 (1 inbound, 2 outbound).
        options.push(EnhancedPacketOption::Flags(if f["dir"] == "tx" {
            2
        } else {
            1
        }));
        if let Some(r) = f["reason"].as_str() {
            options.push(EnhancedPacketOption::Comment(
                format!("dropped: {r}: {}", f["why"].as_str().unwrap_or("")).into(),
            ));
        }
        let epb = EnhancedPacketBlock {
            interface_id: f["port"].as_u64().unwrap_or(0) as u32,
            timestamp: Duration::from_nanos(f["ts_ns"].as_u64().unwrap_or(0)),
            original_len: f["len"].as_u64().unwrap_or(data.len() as u64) as u32,
            data: data.into(),
            options,
        };
        w.write_pcapng_block(epb).context("writing pcapng")?;
    }
    eprintln!("{} frames written to {}", frames.len(), write.display());
    Ok(())
}

/// The control socket a client command talks to: `--socket`, else the
/// one `--config` names, else the default (or the only one there).
fn socket_of(socket: Option<PathBuf>, config: Option<PathBuf>) -> Result<PathBuf> {
    Ok(match (socket, config) {
        (Some(s), _) => s,
        (None, Some(c)) => Config::load(&c)?.control_socket,
        (None, None) => find_socket()?,
    })
}

fn parse_map(args: &[String], flag: &str) -> Result<HashMap<String, PathBuf>> {
    let mut m = HashMap::new();
    for a in args {
        let Some((port, file)) = a.split_once('=') else {
            bail!("--{flag} {a:?}: expected PORT=FILE.pcap");
        };
        if m.insert(port.to_string(), PathBuf::from(file)).is_some() {
            bail!("--{flag}: port {port:?} given twice");
        }
    }
    Ok(m)
}

fn replay(
    config: &Path,
    inputs: &[String],
    outputs: &[String],
    json: bool,
    runtime: bool,
    linger_ms: u64,
) -> Result<()> {
    let cfg = Config::load(config)?;
    if inputs.is_empty() {
        bail!("replay needs at least one --input PORT=FILE.pcap");
    }
    let (inputs, outputs) = (parse_map(inputs, "input")?, parse_map(outputs, "output")?);
    let died = |e| match e {
        xgw_engine::replay::ReplayError::WorkerDied(d) => anyhow::Error::new(d),
        xgw_engine::replay::ReplayError::Failed(m) => anyhow::Error::msg(m),
    };
    let linger = std::time::Duration::from_millis(linger_ms);
    let (mut v, rt) =
        xgw_engine::replay::run_linger(&cfg, inputs, outputs, runtime, linger).map_err(died)?;
    if json {
        if let Some(rt) = rt {
            v["runtime"] = rt;
        }
        println!("{v}");
    } else {
        print!("{}", control::render_table(&v));
        if let Some(rt) = rt {
            print!("runtime:\n{}", control::render_runtime(&rt));
        }
    }
    Ok(())
}
