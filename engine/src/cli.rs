//! What the `xgw` subcommands share, also those a pipeline function adds
//! (see [`crate::function::Function::cli`]): which running engine to talk
//! to, and asking it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::Config;
use crate::control;

/// Which running engine to talk to.
#[derive(clap::Args)]
pub struct Endpoint {
    /// Control socket (default: the one named by --config, else /run/xgw/xgw.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Read the control socket path from this config.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
}

impl Endpoint {
    /// The control socket to use.
    pub fn path(self) -> Result<PathBuf> {
        Ok(match (self.socket, self.config) {
            (Some(s), _) => s,
            (None, Some(c)) => Config::load(&c)?.control_socket,
            (None, None) => find_socket()?,
        })
    }
}

/// Sends one JSON request to the engine `at` names; its answer, or the
/// error it answered.
pub fn ask(at: Endpoint, req: serde_json::Value) -> Result<serde_json::Value> {
    control::request_json(&at.path()?, &req).map_err(anyhow::Error::msg)
}

/// The default socket if it exists, else the only socket in its directory
/// (e.g. the demo's), so `xgw run` then `xgw stats` just works.
pub fn find_socket() -> Result<PathBuf> {
    let default = crate::config::default_socket();
    if default.exists() {
        return Ok(default);
    }
    let dir = default.parent().unwrap_or(Path::new("/run/xgw"));
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                .collect()
        })
        .unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Ok(default),
        many => bail!(
            "several control sockets in {}: {}; pick one with --socket or --config",
            dir.display(),
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Adds `--match` fields (`proto=udp|tcp|icmp|icmpv6|N`, `src=IP`,
/// `dst=IP`, `sport=N`, `dport=N`, `teid=N`, comma-separated) to a
/// `trace-arm` / `capture-arm` request.
pub fn match_request(req: &mut serde_json::Value, expr: Option<&str>) -> Result<()> {
    use anyhow::{anyhow, bail};
    use serde_json::json;
    for kv in expr
        .iter()
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some((k, val)) = kv.split_once('=') else {
            bail!("--match {kv:?}: expected key=value (proto, src, dst, sport, dport, teid)");
        };
        req[k] = match k {
            "proto" => json!(match val {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                "icmpv6" => 58,
                n => n.parse::<u8>().map_err(|_| anyhow!(
                    "--match proto={n}: tcp, udp, icmp, icmpv6 or a number"
                ))?,
            }),
            "src" | "dst" => json!(val),
            "sport" | "dport" | "teid" => {
                json!(val
                    .parse::<u64>()
                    .map_err(|_| anyhow!("--match {k}={val}: a number"))?)
            }
            _ => bail!("--match: unknown key {k:?} (proto, src, dst, sport, dport, teid)"),
        };
    }
    Ok(())
}

/// The index of the port named `name` on the engine answering at
/// `socket` (for `--port`).
pub fn port_index(socket: &Path, name: &str) -> Result<usize> {
    let stats = control::request(socket, "stats").map_err(anyhow::Error::msg)?;
    let names: Vec<&str> = stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["name"].as_str())
        .collect();
    names
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| anyhow::anyhow!("--port {name}: no such port; ports: {}", names.join(", ")))
}
