//! Configuration: TOML → serde (unknown keys rejected) → validated, typed
//! config. Every error names the file, the key, the bad value and what is
//! expected.
//!
//! One file per part of the file format; each holds its raw (serde) form,
//! its validated form and its validation pass:
//!
//! - `mod.rs`: [`Config`], [`Config::parse`], [`ConfigError`], [`clip`] and
//!   the helpers the others share
//! - `engine.rs`: `[engine]` (cores, burst, idle, umem) and `[control]`
//! - `ports.rs`: `[[ports]]` and their drivers
//! - `l2fwd.rs`: `[pipeline.l2fwd]`
//! - `router.rs`: `[[interfaces]]`, `[[routes]]`, `[[neighbors]]`
//! - `ra.rs`: `[interfaces.ra]` (Router Advertisements)
//! - `tunnels.rs`: `[[tunnels]]`
//! - `gtpu.rs`: `[gtpu]` and `[[gtpu.sessions]]`
//! - `pfcp.rs`: `[pfcp]`
//! - `value.rs`: validating newtypes for the values that are checked
//!   alone (names, MACs, VLAN IDs, MTUs, addresses, ...), read with
//!   `#[serde(try_from)]`

mod engine;
pub(crate) mod gtpu;
pub(crate) mod l2fwd;
pub(crate) mod nat64;
pub(crate) mod pfcp;
mod ports;
mod ra;
pub(crate) mod router;
mod tunnels;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use xgw_pipelines::l2fwd::MacMode;

pub use engine::{default_socket, Idle, UmemCfg};
pub use l2fwd::PairCfg;
pub use ports::{AfXdpCfg, PortCfg, PortKind};
pub use router::{link_local_from_mac, IfaceCfg, RouterCfg};

use engine::{RawControl, RawEngine};
use l2fwd::RawL2fwd;
use ports::RawPort;
use router::{RawIface, RawNeighbor, RawRoute};
use tunnels::RawTunnel;

/// The demo config compiled into the binary (`xgw run` without --config).
pub const EMBEDDED_DEMO: &str = include_str!("../../../configs/demo.toml");

/// Every message and key is shown through [`clip`]: values echoed from
/// the file (quoted or not, by our checks or by serde/toml) are cut to
/// [`ECHO_MAX`] characters and control characters escaped, so the error
/// stays one short line whatever the file holds.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {err}")]
    Read { file: String, err: std::io::Error },
    #[error("{file}: {}", clip(.msg))]
    Syntax { file: String, msg: String },
    #[error("{file}: key `{}`: {}", clip(.key), clip(.msg))]
    Key {
        file: String,
        key: String,
        msg: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    control: RawControl,
    #[serde(default)]
    ports: Vec<RawPort>,
    pipeline: RawPipeline,
    #[serde(default)]
    interfaces: Vec<RawIface>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    neighbors: Vec<RawNeighbor>,
    #[serde(default)]
    tunnels: Vec<RawTunnel>,
    gtpu: Option<gtpu::RawGtpu>,
    nat64: Option<nat64::RawNat64>,
    pfcp: Option<pfcp::RawPfcp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    kind: PipelineKind,
    l2fwd: Option<RawL2fwd>,
}

/// `pipeline.kind`: the serde side of the function registry
/// ([`crate::function::ALL`]); each name is a registered function's
/// [`Function::name`](crate::function::Function::name).
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum PipelineKind {
    L2fwd,
    Router,
}

impl PipelineKind {
    /// The name as written in the file.
    fn name(self) -> &'static str {
        match self {
            PipelineKind::L2fwd => "l2fwd",
            PipelineKind::Router => "router",
        }
    }
}

/// The parsed file as a pipeline function's validation sees it (see
/// [`crate::function::Function::validate`]): opaque outside `config/`,
/// where each function's own file (`l2fwd.rs`, `router.rs`) reads its
/// tables from it and reports errors naming the file and key.
pub struct Section<'a> {
    v: &'a V<'a>,
    raw: &'a Raw,
    names: &'a HashMap<&'a str, usize>,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it came from (a path, or `<embedded demo>`).
    pub source: String,
    pub cores: Vec<usize>,
    pub burst: usize,
    pub idle: Idle,
    pub umem: UmemCfg,
    pub control_socket: PathBuf,
    /// Where Prometheus scrapes `/metrics` (`[control] prometheus`);
    /// `None`: off.
    pub prometheus: Option<std::net::SocketAddr>,
    pub ports: Vec<PortCfg>,
    pub pipeline: PipelineCfg,
}

// Built once per config load: the size of the router variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum PipelineCfg {
    L2fwd { mode: MacMode, pairs: Vec<PairCfg> },
    Router(RouterCfg),
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
            file: file.clone(),
            err,
        })?;
        Self::parse(&text, &file)
    }

    /// The embedded demo configuration.
    pub fn embedded_demo() -> Config {
        Self::parse(EMBEDDED_DEMO, "<embedded demo config>").expect("embedded demo config is valid")
    }

    /// Parses and validates TOML text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            msg: one_line(&e.to_string()),
        })?;
        let raw: Raw = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut key = e.path().to_string();
            // A newtype's message is complete as it is (value::Invalid);
            // toml's own come with a location and a source excerpt.
            let msg = match e.inner().message().strip_prefix(value::MARK) {
                Some(m) => m.to_string(),
                None => one_line(&e.inner().to_string()),
            };
            // Name the offending key itself for unknown/missing fields.
            for marker in ["unknown field `", "missing field `"] {
                if let Some(rest) = msg.split(marker).nth(1) {
                    if let Some(field) = rest.split('`').next() {
                        if key == "." || key.is_empty() {
                            key = field.to_string();
                        } else if !key.ends_with(field) {
                            key = format!("{key}.{field}");
                        }
                    }
                }
            }
            if key == "." || key.is_empty() {
                ConfigError::Syntax {
                    file: file.to_string(),
                    msg,
                }
            } else {
                ConfigError::Key {
                    file: file.to_string(),
                    key,
                    msg,
                }
            }
        })?;
        validate(raw, file)
    }
}

fn one_line(s: &str) -> String {
    // toml errors come with a source excerpt; keep the message lines.
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let msg = lines
        .iter()
        .rev()
        .find(|l| !l.starts_with('|') && !l.starts_with('^') && !l.contains(" | "))
        .copied();
    let loc = lines.first().copied().unwrap_or("");
    match msg {
        Some(m) if m != loc => format!("{loc}: {m}"),
        Some(m) => m.to_string(),
        None => s.replace('\n', " "),
    }
}

/// Longest run of a value echoed in an error: a word, or the text between
/// a pair of quotes ("..." or `...`).
pub const ECHO_MAX: usize = 64;

/// Longest message shown, in bytes, whatever it is made of.
pub const ECHO_TOTAL_MAX: usize = 1024;

/// `msg` with every word and every quoted part longer than [`ECHO_MAX`]
/// characters cut to that many and an ellipsis, and control characters
/// (a newline inside a quoted value) escaped.
pub fn clip(msg: &str) -> String {
    fn push(out: &mut String, part: &str) {
        for (n, c) in part.chars().enumerate() {
            if n == ECHO_MAX {
                out.push('…');
                return;
            }
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    let mut out = String::with_capacity(msg.len().min(256));
    let mut rest = msg;
    while let Some(c) = rest.chars().next() {
        if c == '"' || c == '`' {
            // The closing quote; serde and our messages escape quotes
            // inside with a backslash.
            let body = &rest[1..];
            let mut end = None;
            let mut esc = false;
            for (i, x) in body.char_indices() {
                if esc {
                    esc = false;
                } else if x == '\\' && c == '"' {
                    esc = true;
                } else if x == c {
                    end = Some(i);
                    break;
                }
            }
            out.push(c);
            match end {
                Some(i) => {
                    push(&mut out, &body[..i]);
                    out.push(c);
                    rest = &body[i + 1..];
                }
                // A lone quote (one inside a value): go on word by word.
                None => rest = body,
            }
        } else if c.is_whitespace() {
            out.push(if c.is_control() { ' ' } else { c });
            rest = &rest[c.len_utf8()..];
        } else {
            let end = rest
                .find(|x: char| x.is_whitespace() || x == '"' || x == '`')
                .unwrap_or(rest.len());
            push(&mut out, &rest[..end]);
            rest = &rest[end..];
        }
        // Many short words or quotes inside a value: cut the whole.
        if out.len() > ECHO_TOTAL_MAX {
            let mut cut = ECHO_TOTAL_MAX;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

struct V<'a> {
    file: &'a str,
}

impl V<'_> {
    fn err<T>(&self, key: impl Into<String>, msg: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError::Key {
            file: self.file.to_string(),
            key: key.into(),
            msg: msg.into(),
        })
    }
}

fn validate(raw: Raw, file: &str) -> Result<Config, ConfigError> {
    let v = V { file };
    let (cores, umem) = engine::validate_engine(&v, &raw.engine)?;
    let (ports, names) = ports::validate_ports(&v, &raw.ports, cores.len() as u32)?;
    let per_port = umem.frames as usize / (2 * raw.ports.len());
    if per_port < 64 {
        return v.err(
            "engine.umem.frames",
            format!("{} frames are too few for {} ports; each port's fill ring gets half the frames shared out (at least 64 each), so use at least {}", umem.frames, raw.ports.len(), 128 * raw.ports.len()),
        );
    }

    // The pipeline function checks its own section; every other
    // function refuses its tables (in registry order, before).
    let kind = raw.pipeline.kind.name();
    let section = Section {
        v: &v,
        raw: &raw,
        names: &names,
    };
    let mut active = None;
    for f in crate::function::ALL {
        if f.name() == kind {
            active = Some(*f);
        } else {
            f.refuse_tables(&section)?;
        }
    }
    let f = active.expect("every pipeline.kind has a registered function");
    let pipeline = f.validate(&section)?;

    // The host keeps IPv6 on a port (pass_ipv6): its link-local comes from
    // the port's MAC, as xgw's would, and NDP for it would reach xgw.
    if let PipelineCfg::Router(r) = &pipeline {
        for (i, f) in r.ifaces.iter().enumerate() {
            let host6 = matches!(&ports.get(f.port).map(|p| &p.kind),
                Some(PortKind::AfXdp(x)) if !x.pass.ipv6_dst.is_empty());
            if host6 && f.link_local.is_none() && f.mac.is_none() && f.vlan == 0 {
                return v.err(
                    format!("interfaces[{i}].link_local"),
                    "the host keeps IPv6 addresses on this interface's port (pass_ipv6) and \
                     derives the same link-local address from the port's MAC as xgw would; \
                     give xgw its own, e.g. link_local = \"fe80::1\"",
                );
            }
        }
    }

    // A received frame must fit in one UMEM chunk (no XDP multi-buffer):
    // the kernel leaves XDP_PACKET_HEADROOM and `headroom` in front.
    if let PipelineCfg::Router(r) = &pipeline {
        let room = umem.frame_size - crate::umem::XDP_PACKET_HEADROOM - umem.headroom;
        for (i, f) in r.ifaces.iter().enumerate() {
            let l2 = 14 + if f.vlan != 0 { 4 } else { 0 };
            if u32::from(f.mtu) + l2 > room {
                return v.err(
                    format!("interfaces[{i}].mtu"),
                    format!(
                        "{} needs frames of {} bytes, but a UMEM chunk of engine.umem.frame_size {} \
                         holds at most {room} after the kernel's headroom (256) and \
                         engine.umem.headroom ({}): at most {} here (no XDP multi-buffer)",
                        f.mtu,
                        u32::from(f.mtu) + l2,
                        umem.frame_size,
                        umem.headroom,
                        room - l2
                    ),
                );
            }
        }
    }

    let prometheus = match raw.control.prometheus.as_deref() {
        None => None,
        Some(a) => match a.parse::<std::net::SocketAddr>() {
            Ok(x) => Some(x),
            Err(_) => {
                return v.err(
                    "control.prometheus",
                    format!("\"{a}\" is not an address:port (e.g. \"127.0.0.1:9417\")"),
                )
            }
        },
    };
    Ok(Config {
        source: file.to_string(),
        cores,
        burst: raw.engine.burst.0,
        idle: raw.engine.idle,
        umem,
        control_socket: raw.control.socket.0,
        prometheus,
        ports,
        pipeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [engine]
        cores = [0]
        [[ports]]
        name = "a"
        driver = "mem"
        mac = "02:00:00:00:00:01"
        [[ports]]
        name = "b"
        driver = "mem"
        mac = "02:00:00:00:00:02"
        [pipeline]
        kind = "l2fwd"
        [pipeline.l2fwd]
        mode = "mac"
        [[pipeline.l2fwd.pairs]]
        a = "a"
        b = "b"
        a_peer = "02:00:00:00:01:01"
        b_peer = "02:00:00:00:01:02"
    "#;

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn good_config_and_embedded_demo_validate() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.burst, 64);
        assert_eq!(c.control_socket, default_socket());
        let d = Config::embedded_demo();
        assert_eq!(d.ports[0].kind.driver(), "af_xdp");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = err(&GOOD.replace(
            "driver = \"mem\"\n        mac = \"02:00:00:00:00:01\"",
            "driver = \"mem\"\n        colour = 3",
        ));
        assert!(e.starts_with("t.toml: key `ports[0].colour`"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err(&GOOD.replace(
            "a_peer = \"02:00:00:00:01:01\"",
            "a_peer = \"02:00:00:00:01\"",
        ));
        assert!(
            e.contains("key `pipeline.l2fwd.pairs[0].a_peer`") && e.contains("not a MAC"),
            "{e}"
        );
        let e = err(&GOOD.replace("b = \"b\"", "b = \"nope\""));
        assert!(
            e.contains("key `pipeline.l2fwd.pairs[0].b`") && e.contains("no port named \"nope\""),
            "{e}"
        );
        let e = err(&GOOD.replace("cores = [0]", "cores = [0, 0]"));
        assert!(
            e.contains("key `engine.cores[1]`") && e.contains("listed twice"),
            "{e}"
        );
        let e = err(&GOOD.replace("cores = [0]", "cores = [0]\nburst = 999"));
        assert!(e.contains("key `engine.burst`"), "{e}");
        let e = err(&GOOD.replace(
            "driver = \"mem\"\n        mac = \"02:00:00:00:00:02\"",
            "driver = \"af_xdp\"",
        ));
        assert!(
            e.contains("key `ports[1].interface`") && e.contains("missing"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "driver = \"mem\"\n        mac = \"02:00:00:00:00:02\"",
            "driver = \"af_xdp\"\ninterface = \"x\"\npass_ipv4 = [\"1.2.3.999\"]",
        ));
        assert!(
            e.contains("key `ports[1].pass_ipv4[0]`") && e.contains("1.2.3.999"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "driver = \"mem\"\n        mac = \"02:00:00:00:00:02\"",
            "driver = \"ethernet\"",
        ));
        assert!(
            e.contains("key `ports[1].driver`") && e.contains("unknown variant"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "driver = \"mem\"\n        mac = \"02:00:00:00:00:02\"",
            "driver = \"mem\"\nrx_ring = 64",
        ));
        assert!(
            e.contains("key `ports[1].rx_ring`") && e.contains("only af_xdp"),
            "{e}"
        );
        let e = err(&GOOD.replace("name = \"b\"", "name = \"a\""));
        assert!(
            e.contains("key `ports[1].name`") && e.contains("already"),
            "{e}"
        );
    }

    /// A newtype's refusal (`value.rs`) reads like every other check's:
    /// file, key, message, without toml's location in between.
    #[test]
    fn newtype_errors_name_their_key() {
        assert_eq!(
            err(&GOOD.replace("name = \"a\"", "name = \"a.b\"")),
            "t.toml: key `ports[0].name`: \"a.b\" is not a port name; expected 1-32 letters, digits, - or _"
        );
        let e = err(&GOOD.replace("cores = [0]", "cores = [0]\n[engine.umem]\nframes = 1"));
        assert_eq!(
            e,
            "t.toml: key `engine.umem.frames`: 1 is out of range; expected 64 to 1048576 frames per worker"
        );
        // serde's own messages keep toml's location
        let e = err(&GOOD.replace("cores = [0]", "cores = [0]\nburst = \"x\""));
        assert!(
            e.starts_with("t.toml: key `engine.burst`: TOML parse error at line"),
            "{e}"
        );
    }

    #[test]
    fn syntax_error_and_missing_table() {
        let e = err("[engine\ncores=[0]");
        assert!(e.starts_with("t.toml:"), "{e}");
        let e = err("[engine]\ncores=[0]\n");
        assert!(e.contains("pipeline"), "{e}");
    }

    #[test]
    fn clip_cuts_long_values_only() {
        let short = "key `a.b`: \"10.0.0.300\" is not an IPv4 address; expected 1 to 4094";
        assert_eq!(clip(short), short);
        let long = format!("\"{}\" is not a name", "y".repeat(100));
        assert_eq!(
            clip(&long),
            format!("\"{}…\" is not a name", "y".repeat(64))
        );
        let word = format!("{} is out of range", "9".repeat(70));
        assert_eq!(clip(&word), format!("{}… is out of range", "9".repeat(64)));
        let spaced = format!(
            "invalid type: string \"{}\", expected u32",
            "a b ".repeat(40)
        );
        let c = clip(&spaced);
        assert!(c.ends_with("…\", expected u32") && c.len() < 110, "{c}");
        // escaped quotes stay inside the value; control characters escaped
        assert_eq!(clip("\"a\\\"b\nc\" x"), "\"a\\\"b\\nc\" x");
        assert_eq!(clip("unknown field `ab\tc`"), "unknown field `ab\\tc`");
        // a lone quote does not swallow the rest
        assert_eq!(
            clip("\"a\"b\" is not a port name"),
            "\"a\"b\" is not a port name"
        );
        // many short words: the whole is cut
        let many = "ab ".repeat(1000);
        let c = clip(&many);
        assert!(
            c.len() <= ECHO_TOTAL_MAX + 3 && c.ends_with('…'),
            "{}",
            c.len()
        );
    }
}
