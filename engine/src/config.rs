//! Configuration: TOML → serde (unknown keys rejected) → validated, typed
//! config. Every error names the file, the key, the bad value and what is
//! expected.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use std::net::IpAddr;
use xgw_pipelines::l2fwd::MacMode;
use xgw_pipelines::router::spec::{
    addr_problem, contains, network, overlaps, parse_route, parse_tunnel, special_addr, IfaceSpec,
    NeighborSpec, Pref64Spec, RaSpec, RdnssSpec, RouteInput, RouteSpec, RouteTarget, RouterSpec,
    RpfMode, TunnelInput, TunnelSpec, MAX_TUNNELS, TUN_BASE,
};
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::wire::ndp::PrefixInfo;
use xgw_pipelines::{PortId, MAX_BURST, MAX_PORTS};

use crate::bpf::{PassRules, XdpModeRequest};
use crate::port::afxdp::{BindRequest, XskConfig};

/// The demo config compiled into the binary (`xgw run` without --config).
pub const EMBEDDED_DEMO: &str = include_str!("../../configs/demo.toml");

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

// ---------------------------------------------------------------- raw form

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
}

/// A number or a word (`ttl = 64` or `ttl = "inherit"`).
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum NumOrWord {
    Num(i64),
    Word(String),
}

impl NumOrWord {
    fn text(&self) -> String {
        match self {
            NumOrWord::Num(n) => n.to_string(),
            NumOrWord::Word(w) => w.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTunnel {
    name: String,
    kind: String,
    local: String,
    remote: String,
    #[serde(default)]
    ipv4: Vec<String>,
    #[serde(default)]
    ipv6: Vec<String>,
    mtu: Option<u32>,
    ttl: Option<NumOrWord>,
    dscp: Option<NumOrWord>,
    df: Option<String>,
    ecn: Option<String>,
    rpf: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIface {
    name: String,
    port: String,
    vlan: Option<u32>,
    mac: Option<String>,
    #[serde(default)]
    ipv4: Vec<String>,
    #[serde(default)]
    ipv6: Vec<String>,
    link_local: Option<String>,
    mtu: Option<u32>,
    rpf: Option<RawRpf>,
    ra: Option<RawRa>,
}

/// `[interfaces.ra]`: Router Advertisements (RFC 4861 § 6.2, RFC 8106,
/// RFC 8781). Times in seconds unless named otherwise.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRa {
    enabled: Option<bool>,
    interval: Option<u32>,
    min_interval: Option<u32>,
    router_lifetime: Option<u32>,
    managed: Option<bool>,
    other_config: Option<bool>,
    hop_limit: Option<u32>,
    reachable_time_ms: Option<u32>,
    retrans_timer_ms: Option<u32>,
    mtu: Option<u32>,
    prefixes: Option<Vec<RawRaPrefix>>,
    rdnss: Option<RawRdnss>,
    pref64: Option<RawPref64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRaPrefix {
    prefix: String,
    on_link: Option<bool>,
    autonomous: Option<bool>,
    valid_lifetime: Option<u32>,
    preferred_lifetime: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRdnss {
    servers: Vec<String>,
    lifetime: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPref64 {
    prefix: String,
    lifetime: Option<u32>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawRpf {
    Off,
    Loose,
    Strict,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: String,
    via: Option<String>,
    interface: Option<String>,
    kind: Option<RawRouteKind>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawRouteKind {
    Forward,
    Blackhole,
    Unreachable,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    interface: String,
    ip: String,
    mac: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngine {
    #[serde(default = "default_cores")]
    cores: Vec<usize>,
    #[serde(default = "default_burst")]
    burst: usize,
    #[serde(default)]
    idle: Idle,
    #[serde(default)]
    umem: RawUmem,
}

impl Default for RawEngine {
    fn default() -> Self {
        RawEngine {
            cores: default_cores(),
            burst: default_burst(),
            idle: Idle::default(),
            umem: RawUmem::default(),
        }
    }
}

fn default_cores() -> Vec<usize> {
    vec![0]
}
fn default_burst() -> usize {
    64
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUmem {
    #[serde(default = "default_frames")]
    frames: u32,
    #[serde(default = "default_frame_size")]
    frame_size: u32,
    #[serde(default)]
    headroom: u32,
    #[serde(default)]
    huge_pages: bool,
}

impl Default for RawUmem {
    fn default() -> Self {
        RawUmem {
            frames: default_frames(),
            frame_size: default_frame_size(),
            headroom: 0,
            huge_pages: false,
        }
    }
}

fn default_frames() -> u32 {
    8192
}
fn default_frame_size() -> u32 {
    4096
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    #[serde(default = "default_socket")]
    socket: PathBuf,
}

impl Default for RawControl {
    fn default() -> Self {
        RawControl {
            socket: default_socket(),
        }
    }
}

/// Default control socket path.
pub fn default_socket() -> PathBuf {
    PathBuf::from("/run/xgw/xgw.sock")
}

/// How a worker waits when its queues are empty.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Idle {
    /// Spin on the queues without pause (lowest latency, one full core).
    #[default]
    BusyPoll,
    /// Spin, then yield, then sleep in poll(2) on the sockets (shared hosts).
    Adaptive,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Driver {
    AfXdp,
    Mem,
    Pcap,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawXdpMode {
    Auto,
    Native,
    Generic,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawBind {
    Auto,
    ZeroCopy,
    Copy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: String,
    driver: Driver,
    interface: Option<String>,
    mac: Option<String>,
    queues: Option<u32>,
    xdp_mode: Option<RawXdpMode>,
    bind: Option<RawBind>,
    rx_ring: Option<u32>,
    tx_ring: Option<u32>,
    fill_ring: Option<u32>,
    comp_ring: Option<u32>,
    need_wakeup: Option<bool>,
    busy_poll_budget: Option<u32>,
    pass_ethertypes: Option<Vec<u16>>,
    pass_ipv4: Option<Vec<String>>,
    pass_ipv6: Option<Vec<String>>,
    capacity: Option<u32>,
    loopback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    kind: PipelineKind,
    l2fwd: Option<RawL2fwd>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum PipelineKind {
    L2fwd,
    Router,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawMacMode {
    Io,
    Mac,
    Macswap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawL2fwd {
    mode: RawMacMode,
    pairs: Vec<RawPair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPair {
    a: String,
    b: String,
    a_peer: Option<String>,
    b_peer: Option<String>,
}

// ---------------------------------------------------------- validated form

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
    pub ports: Vec<PortCfg>,
    pub pipeline: PipelineCfg,
}

#[derive(Clone, Copy, Debug)]
pub struct UmemCfg {
    pub frames: u32,
    pub frame_size: u32,
    pub headroom: u32,
    pub huge_pages: bool,
}

#[derive(Clone, Debug)]
pub struct PortCfg {
    pub name: String,
    /// Configured MAC (required for mem/pcap ports; af_xdp ports read the
    /// device's when absent).
    pub mac: Option<MacAddr>,
    pub kind: PortKind,
}

#[derive(Clone, Debug)]
pub enum PortKind {
    AfXdp(AfXdpCfg),
    Mem { capacity: u32, loopback: bool },
    Pcap,
}

impl PortKind {
    pub fn driver(&self) -> &'static str {
        match self {
            PortKind::AfXdp(_) => "af_xdp",
            PortKind::Mem { .. } => "mem",
            PortKind::Pcap => "pcap",
        }
    }
}

#[derive(Clone, Debug)]
pub struct AfXdpCfg {
    pub interface: String,
    /// Queues used; must equal the number of workers (worker i owns queue i).
    pub queues: u32,
    pub xdp_mode: XdpModeRequest,
    pub bind: BindRequest,
    pub xsk: XskConfig,
    pub pass: PassRules,
}

#[derive(Clone, Debug)]
pub enum PipelineCfg {
    L2fwd { mode: MacMode, pairs: Vec<PairCfg> },
    Router(RouterCfg),
}

/// The router's configuration; interface MACs and link-local addresses
/// that default to the device's are filled in when the ports are opened
/// ([`RouterCfg::spec`]).
#[derive(Clone, Debug)]
pub struct RouterCfg {
    pub ifaces: Vec<IfaceCfg>,
    pub routes: Vec<RouteSpec>,
    pub neighbors: Vec<NeighborSpec>,
    pub tunnels: Vec<TunnelSpec>,
}

#[derive(Clone, Debug)]
pub struct IfaceCfg {
    pub name: String,
    pub port: usize,
    pub vlan: u16,
    pub mac: Option<MacAddr>,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    pub link_local: Option<Ipv6Addr>,
    pub mtu: u16,
    pub rpf: RpfMode,
    /// Router Advertisements, defaults filled in; `None`: not sent.
    pub ra: Option<RaSpec>,
}

impl RouterCfg {
    /// The router spec, given each port's MAC (`None` if unknown).
    pub fn spec(&self, port_macs: &[Option<MacAddr>]) -> Result<RouterSpec, String> {
        let mut ifaces = Vec::new();
        for f in &self.ifaces {
            let Some(mac) = f.mac.or(port_macs.get(f.port).copied().flatten()) else {
                return Err(format!(
                    "interface \"{}\": no MAC known for its port; set interfaces[].mac",
                    f.name
                ));
            };
            ifaces.push(IfaceSpec {
                name: f.name.clone(),
                port: PortId(f.port as u16),
                vlan: f.vlan,
                mac,
                ipv4: f.ipv4.clone(),
                ipv6: f.ipv6.clone(),
                link_local: f.link_local.unwrap_or_else(|| link_local_from_mac(mac)),
                mtu: f.mtu,
                rpf: f.rpf,
                ra: f.ra.clone(),
            });
        }
        Ok(RouterSpec {
            ifaces,
            routes: self.routes.clone(),
            neighbors: self.neighbors.clone(),
            tunnels: self.tunnels.clone(),
        })
    }
}

/// fe80::/64 with a modified EUI-64 interface identifier (RFC 4291 App. A).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

#[derive(Clone, Debug)]
pub struct PairCfg {
    pub a: usize,
    pub b: usize,
    pub a_peer: Option<MacAddr>,
    pub b_peer: Option<MacAddr>,
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
            let msg = one_line(&e.inner().to_string());
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

    fn mac(&self, key: String, s: &str) -> Result<MacAddr, ConfigError> {
        match s.parse::<MacAddr>() {
            Ok(m) => Ok(m),
            Err(_) => self.err(
                key,
                format!(
                    "\"{s}\" is not a MAC address; expected six hex octets like 02:00:00:00:00:01"
                ),
            ),
        }
    }

    /// A MAC the router or a port sends from, or a neighbour's: unicast
    /// (I/G bit clear, so not broadcast) and not all zero.
    fn unicast_mac(&self, key: String, s: &str, whose: &str) -> Result<MacAddr, ConfigError> {
        let m = self.mac(key.clone(), s)?;
        let why = if m.0 == [0xff; 6] {
            "the broadcast address"
        } else if m.is_multicast() {
            "a multicast address (the I/G bit of the first octet is set)"
        } else if m.0 == [0; 6] {
            "all zero"
        } else {
            return Ok(m);
        };
        self.err(
            key,
            format!("{m} is {why}; {whose} needs a unicast MAC like 02:00:00:00:00:01"),
        )
    }

    fn ring(&self, key: String, v: Option<u32>, default: u32) -> Result<u32, ConfigError> {
        let v = v.unwrap_or(default);
        if !v.is_power_of_two() || !(64..=65536).contains(&v) {
            return self.err(
                key,
                format!("{v} is not a ring size; expected a power of two from 64 to 65536"),
            );
        }
        Ok(v)
    }
}

fn parse_cidr<A: std::str::FromStr>(
    v: &V<'_>,
    key: String,
    s: &str,
    max: u8,
    fam: &str,
) -> Result<(A, u8), ConfigError> {
    let bad = || {
        format!(
            "\"{s}\" is not an {fam} address with a prefix length, e.g. {}",
            if fam == "IPv4" {
                "10.0.0.1/24"
            } else {
                "2001:db8::1/64"
            }
        )
    };
    let Some((a, l)) = s.split_once('/') else {
        return v.err(key, bad());
    };
    match (a.parse::<A>(), l.parse::<u8>()) {
        (Ok(a), Ok(l)) if l <= max => Ok((a, l)),
        _ => v.err(key, bad()),
    }
}

/// Checks `[interfaces.ra]` (`key` names it) of an interface with
/// addresses `ipv6` and MTU `mtu`, and fills in the defaults.
fn validate_ra(
    v: &V<'_>,
    key: &str,
    r: &RawRa,
    ipv6: &[(Ipv6Addr, u8)],
    mtu: u16,
) -> Result<Option<RaSpec>, ConfigError> {
    if r.enabled == Some(false) {
        return Ok(None);
    }
    let k = |x: &str| format!("{key}.{x}");
    let interval = r.interval.unwrap_or(600);
    if !(4..=1800).contains(&interval) {
        return v.err(
            k("interval"),
            format!("{interval} is out of range; expected 4 to 1800 seconds (MaxRtrAdvInterval, RFC 4861 § 6.2.1)"),
        );
    }
    let max_ms = interval * 1000;
    let min_ms = match r.min_interval {
        Some(m) => {
            if m < 3 || u64::from(m) * 4 > u64::from(interval) * 3 {
                return v.err(
                    k("min_interval"),
                    format!(
                        "{m} is out of range; expected 3 seconds to 0.75 × interval ({interval} s)"
                    ),
                );
            }
            m * 1000
        }
        None => (max_ms / 100 * 33).max(3000),
    };
    let router_lifetime = r.router_lifetime.unwrap_or(1800);
    if router_lifetime != 0 && !(interval..=9000).contains(&router_lifetime) {
        return v.err(
            k("router_lifetime"),
            format!("{router_lifetime} is out of range; expected 0 (not a default router) or interval ({interval} s) to 9000 seconds"),
        );
    }
    let hop_limit = r.hop_limit.unwrap_or(64);
    if hop_limit > 255 {
        return v.err(
            k("hop_limit"),
            format!("{hop_limit} is out of range; expected 0 (unspecified) to 255"),
        );
    }
    let reachable_time = r.reachable_time_ms.unwrap_or(0);
    if reachable_time > 3_600_000 {
        return v.err(
            k("reachable_time_ms"),
            format!("{reachable_time} is out of range; expected 0 (unspecified) to 3600000 milliseconds"),
        );
    }
    let ra_mtu = match r.mtu.unwrap_or(u32::from(mtu)) {
        0 => None,
        m if (1280..=u32::from(mtu)).contains(&m) => Some(m),
        m => {
            return v.err(
                k("mtu"),
                format!("{m} is out of range; expected 1280 to the interface's mtu ({mtu}), or 0 to leave the MTU option out"),
            )
        }
    };
    // A lifetime shorter than the interval lets hosts forget the
    // information between two advertisements.
    let lifetime_ok = |key: String, l: u32| -> Result<(), ConfigError> {
        if l != 0 && l < interval {
            return v.err(
                key,
                format!("{l} is shorter than interval ({interval} s): hosts would drop it between advertisements; use at least {interval} (0 withdraws)"),
            );
        }
        Ok(())
    };
    let prefixes = match &r.prefixes {
        None => {
            let mut out: Vec<PrefixInfo> = Vec::new();
            for &(a, l) in ipv6 {
                let is_ll = (a.segments()[0] & 0xffc0) == 0xfe80;
                let IpAddr::V6(p) = network(IpAddr::V6(a), l) else {
                    continue;
                };
                if l == 64 && !is_ll && !out.iter().any(|x| x.prefix == p) {
                    out.push(PrefixInfo {
                        prefix_len: 64,
                        on_link: true,
                        autonomous: true,
                        valid_lifetime: 2_592_000,
                        preferred_lifetime: 604_800,
                        prefix: p,
                    });
                }
            }
            out
        }
        Some(list) => {
            let mut out: Vec<PrefixInfo> = Vec::new();
            for (j, p) in list.iter().enumerate() {
                let pk = |x: &str| format!("{key}.prefixes[{j}].{x}");
                let (a, l) = parse_cidr::<Ipv6Addr>(v, pk("prefix"), &p.prefix, 128, "IPv6")?;
                let IpAddr::V6(net) = network(IpAddr::V6(a), l) else {
                    unreachable!("IPv6 in, IPv6 out")
                };
                if net != a {
                    return v.err(
                        pk("prefix"),
                        format!(
                            "\"{}\" has host bits set; did you mean {net}/{l}?",
                            p.prefix
                        ),
                    );
                }
                if a.is_multicast() || (a.segments()[0] & 0xffc0) == 0xfe80 {
                    return v.err(
                        pk("prefix"),
                        format!(
                            "\"{}\" is link-local or multicast; hosts ignore it (RFC 4862 § 5.5.3)",
                            p.prefix
                        ),
                    );
                }
                if out.iter().any(|x| x.prefix == a && x.prefix_len == l) {
                    return v.err(pk("prefix"), format!("{} is listed twice", p.prefix));
                }
                let autonomous = p.autonomous.unwrap_or(true);
                if autonomous && l != 64 {
                    return v.err(
                        pk("autonomous"),
                        format!("SLAAC needs a /64 prefix on Ethernet (RFC 4862 § 5.5.3, RFC 2464); {} is /{l}: set autonomous = false", p.prefix),
                    );
                }
                let valid = p.valid_lifetime.unwrap_or(2_592_000);
                let preferred = p.preferred_lifetime.unwrap_or(604_800);
                if preferred > valid {
                    return v.err(
                        pk("preferred_lifetime"),
                        format!("{preferred} is longer than valid_lifetime ({valid}); hosts ignore such a prefix (RFC 4862 § 5.5.3 c)"),
                    );
                }
                out.push(PrefixInfo {
                    prefix_len: l,
                    on_link: p.on_link.unwrap_or(true),
                    autonomous,
                    valid_lifetime: valid,
                    preferred_lifetime: preferred,
                    prefix: a,
                });
            }
            out
        }
    };
    let rdnss = match &r.rdnss {
        None => None,
        Some(d) => {
            if d.servers.is_empty() || d.servers.len() > 127 {
                return v.err(
                    k("rdnss.servers"),
                    format!(
                        "{} servers; expected 1 to 127 IPv6 addresses",
                        d.servers.len()
                    ),
                );
            }
            let mut servers = Vec::new();
            for (j, s) in d.servers.iter().enumerate() {
                match s.parse::<Ipv6Addr>() {
                    Ok(a) if !a.is_multicast() && !a.is_unspecified() => servers.push(a),
                    _ => {
                        return v.err(
                            format!("{key}.rdnss.servers[{j}]"),
                            format!("\"{s}\" is not a unicast IPv6 address"),
                        )
                    }
                }
            }
            let lifetime = d.lifetime.unwrap_or(3 * interval);
            lifetime_ok(k("rdnss.lifetime"), lifetime)?;
            Some(RdnssSpec { servers, lifetime })
        }
    };
    let pref64 = match &r.pref64 {
        None => None,
        Some(p) => {
            let pk = k("pref64.prefix");
            let (a, l) = parse_cidr::<Ipv6Addr>(v, pk.clone(), &p.prefix, 128, "IPv6")?;
            if ![32, 40, 48, 56, 64, 96].contains(&l) {
                return v.err(
                    pk,
                    format!("/{l} is not a NAT64 prefix length; expected 32, 40, 48, 56, 64 or 96 (RFC 6052, RFC 8781)"),
                );
            }
            let IpAddr::V6(net) = network(IpAddr::V6(a), l) else {
                unreachable!("IPv6 in, IPv6 out")
            };
            if net != a {
                return v.err(
                    pk,
                    format!(
                        "\"{}\" has host bits set; did you mean {net}/{l}?",
                        p.prefix
                    ),
                );
            }
            let lifetime = p.lifetime.unwrap_or((3 * interval).min(65528));
            if lifetime > 65528 {
                return v.err(
                    k("pref64.lifetime"),
                    format!("{lifetime} is out of range; expected at most 65528 seconds (8191 units of 8 s, RFC 8781 § 4)"),
                );
            }
            lifetime_ok(k("pref64.lifetime"), lifetime)?;
            Some(Pref64Spec {
                prefix: a,
                len: l,
                lifetime,
            })
        }
    };
    let ra = RaSpec {
        max_interval_ms: max_ms,
        min_interval_ms: min_ms,
        hop_limit: hop_limit as u8,
        managed: r.managed.unwrap_or(false),
        other_config: r.other_config.unwrap_or(false),
        router_lifetime: router_lifetime as u16,
        reachable_time,
        retrans_timer: r.retrans_timer_ms.unwrap_or(0),
        mtu: ra_mtu,
        prefixes,
        rdnss,
        pref64,
    };
    let len = 40 + ra.message_len();
    if len > usize::from(mtu) {
        return v.err(
            key,
            format!("the Router Advertisement would be {len} bytes, more than the interface's mtu ({mtu}); advertise fewer prefixes or DNS servers"),
        );
    }
    Ok(Some(ra))
}

/// The addresses of the interfaces and tunnels, checked as they are
/// added: each one a possible interface address, none on two of them, no
/// two of their prefixes overlapping (link-local ones excepted: every
/// link has fe80::/64).
#[derive(Default)]
struct Owned {
    /// Address, prefix length, owner (`interfaces[i]` or `tunnels[i]`,
    /// with its name), owner number (tunnels from `TUN_BASE`).
    list: Vec<(IpAddr, u8, String, usize)>,
}

impl Owned {
    fn claim(
        &mut self,
        v: &V<'_>,
        key: String,
        addr: IpAddr,
        len: u8,
        owner: usize,
        name: &str,
    ) -> Result<(), ConfigError> {
        if let Some(why) = addr_problem(addr, len) {
            return v.err(key, why);
        }
        let ll = |a: IpAddr| matches!(a, IpAddr::V6(x) if (x.segments()[0] & 0xffc0) == 0xfe80);
        for (a, l, who, o) in &self.list {
            if *a == addr {
                return v.err(
                    key,
                    if *o == owner {
                        format!("{addr} is listed twice")
                    } else {
                        format!("{addr} is already an address of {who}")
                    },
                );
            }
            if *o != owner && !ll(addr) && !ll(*a) && overlaps(*a, *l, addr, len) {
                return v.err(
                    key,
                    format!(
                        "{}/{len} overlaps {}/{l} of {who}; a subnet belongs to one interface or tunnel",
                        network(addr, len),
                        network(*a, *l)
                    ),
                );
            }
        }
        let who = if owner >= usize::from(TUN_BASE) {
            format!("tunnels[{}] (\"{name}\")", owner - usize::from(TUN_BASE))
        } else {
            format!("interfaces[{owner}] (\"{name}\")")
        };
        self.list.push((addr, len, who, owner));
        Ok(())
    }

    fn owner(&self, ip: IpAddr) -> Option<&str> {
        self.list
            .iter()
            .find(|(a, ..)| *a == ip)
            .map(|(_, _, who, _)| who.as_str())
    }
}

fn validate_router(
    v: &V<'_>,
    raw: &Raw,
    ports: &HashMap<&str, usize>,
) -> Result<RouterCfg, ConfigError> {
    if raw.interfaces.is_empty() {
        return v.err(
            "interfaces",
            "the router needs at least one [[interfaces]] table (name, port, addresses)",
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut seen_l2: HashMap<(usize, u16), usize> = HashMap::new();
    let mut ifaces = Vec::new();
    let mut owned = Owned::default();
    for (i, f) in raw.interfaces.iter().enumerate() {
        let k = |x: &str| format!("interfaces[{i}].{x}");
        if f.name.is_empty()
            || f.name.len() > 32
            || !f
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return v.err(
                k("name"),
                format!(
                    "\"{}\" is not an interface name; expected 1-32 letters, digits, - _ .",
                    f.name
                ),
            );
        }
        if let Some(j) = names.insert(&f.name, i) {
            return v.err(
                k("name"),
                format!("\"{}\" is already the name of interfaces[{j}]", f.name),
            );
        }
        let Some(&port) = ports.get(f.port.as_str()) else {
            let known: Vec<&str> = raw.ports.iter().map(|p| p.name.as_str()).collect();
            return v.err(
                k("port"),
                format!(
                    "no port named \"{}\"; configured ports: {}",
                    f.port,
                    known.join(", ")
                ),
            );
        };
        let vlan = f.vlan.unwrap_or(0);
        if vlan > 4094 || f.vlan == Some(0) {
            return v.err(
                k("vlan"),
                format!("{vlan} is not a VLAN ID; expected 1 to 4094 (omit the key for untagged)"),
            );
        }
        let vlan = vlan as u16;
        if let Some(j) = seen_l2.insert((port, vlan), i) {
            return v.err(
                k("vlan"),
                format!("port \"{}\" VLAN {vlan} is already interfaces[{j}]", f.port),
            );
        }
        let mac = match &f.mac {
            Some(m) => Some(v.unicast_mac(k("mac"), m, "an interface")?),
            None => None,
        };
        let mut ipv4 = Vec::new();
        for (j, a) in f.ipv4.iter().enumerate() {
            let key = format!("interfaces[{i}].ipv4[{j}]");
            let (addr, len) = parse_cidr::<Ipv4Addr>(v, key.clone(), a, 32, "IPv4")?;
            owned.claim(v, key, IpAddr::V4(addr), len, i, &f.name)?;
            ipv4.push((addr, len));
        }
        let mut ipv6 = Vec::new();
        for (j, a) in f.ipv6.iter().enumerate() {
            let key = format!("interfaces[{i}].ipv6[{j}]");
            let (addr, len) = parse_cidr::<Ipv6Addr>(v, key.clone(), a, 128, "IPv6")?;
            owned.claim(v, key, IpAddr::V6(addr), len, i, &f.name)?;
            ipv6.push((addr, len));
        }
        let link_local = match &f.link_local {
            Some(s) => match s.parse::<Ipv6Addr>() {
                Ok(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => Some(a),
                _ => {
                    return v.err(
                        k("link_local"),
                        format!("\"{s}\" is not an IPv6 link-local address (fe80::/10)"),
                    )
                }
            },
            None => None,
        };
        let mtu = f.mtu.unwrap_or(1500);
        if !(1280..=9000).contains(&mtu) {
            return v.err(
                k("mtu"),
                format!("{mtu} is out of range; expected 1280 (the IPv6 minimum) to 9000"),
            );
        }
        let mtu = mtu as u16;
        let rpf = match f.rpf.unwrap_or(RawRpf::Off) {
            RawRpf::Off => RpfMode::Off,
            RawRpf::Loose => RpfMode::Loose,
            RawRpf::Strict => RpfMode::Strict,
        };
        let ra = match &f.ra {
            Some(r) => validate_ra(v, &format!("interfaces[{i}].ra"), r, &ipv6, mtu)?,
            None => None,
        };
        ifaces.push(IfaceCfg {
            name: f.name.clone(),
            port,
            vlan,
            mac,
            ipv4,
            ipv6,
            link_local,
            mtu,
            rpf,
            ra,
        });
    }
    let is_ours = |ip: IpAddr| {
        ifaces.iter().any(|f: &IfaceCfg| match ip {
            IpAddr::V4(a) => f.ipv4.iter().any(|&(x, _)| x == a),
            IpAddr::V6(a) => f.ipv6.iter().any(|&(x, _)| x == a),
        })
    };
    let mut tunnels: Vec<TunnelSpec> = Vec::new();
    for (i, t) in raw.tunnels.iter().enumerate() {
        let k = |x: &str| format!("tunnels[{i}].{x}");
        let input = TunnelInput {
            name: &t.name,
            kind: &t.kind,
            local: &t.local,
            remote: &t.remote,
            ipv4: t.ipv4.iter().map(String::as_str).collect(),
            ipv6: t.ipv6.iter().map(String::as_str).collect(),
            mtu: t.mtu,
            ttl: t.ttl.as_ref().map(NumOrWord::text),
            dscp: t.dscp.as_ref().map(NumOrWord::text),
            df: t.df.as_deref(),
            ecn: t.ecn.as_deref(),
            rpf: t.rpf.as_deref(),
        };
        let spec = parse_tunnel(&input, is_ours).map_err(|(f, msg)| ConfigError::Key {
            file: v.file.to_string(),
            key: k(f),
            msg,
        })?;
        if names.contains_key(t.name.as_str()) || tunnels.iter().any(|x| x.name == t.name) {
            return v.err(
                k("name"),
                format!(
                    "\"{}\" is already the name of an interface or tunnel",
                    t.name
                ),
            );
        }
        if let Some(o) = tunnels
            .iter()
            .find(|x| x.kind == spec.kind && x.local == spec.local && x.remote == spec.remote)
        {
            return v.err(
                k("remote"),
                format!(
                    "tunnel \"{}\" has the same kind and endpoints; decapsulation could not tell them apart",
                    o.name
                ),
            );
        }
        if tunnels.len() >= MAX_TUNNELS {
            return v.err(k("name"), format!("at most {MAX_TUNNELS} tunnels"));
        }
        let owner = usize::from(TUN_BASE) + i;
        for (j, &(a, l)) in spec.ipv4.iter().enumerate() {
            owned.claim(
                v,
                k(&format!("ipv4[{j}]")),
                IpAddr::V4(a),
                l,
                owner,
                &t.name,
            )?;
        }
        for (j, &(a, l)) in spec.ipv6.iter().enumerate() {
            owned.claim(
                v,
                k(&format!("ipv6[{j}]")),
                IpAddr::V6(a),
                l,
                owner,
                &t.name,
            )?;
        }
        tunnels.push(spec);
    }
    // A remote that is a tunnel's own address (this one's or a later
    // one's) would send the outer packets back into a tunnel.
    for (i, t) in tunnels.iter().enumerate() {
        if let Some(who) = owned.owner(t.remote) {
            return v.err(
                format!("tunnels[{i}].remote"),
                format!(
                    "{} is an address of {who}, one of our own; the remote is the other end",
                    t.remote
                ),
            );
        }
    }
    let tunnel_id = |name: &str| {
        tunnels
            .iter()
            .position(|t| t.name == name)
            .map(|i| TUN_BASE + i as u16)
    };
    let iface_named = |key: String, name: &str| -> Result<u16, ConfigError> {
        match names.get(name) {
            Some(&i) => Ok(i as u16),
            None => {
                let known: Vec<&str> = raw.interfaces.iter().map(|f| f.name.as_str()).collect();
                v.err(
                    key,
                    format!(
                        "no interface named \"{name}\"; configured interfaces: {}",
                        known.join(", ")
                    ),
                )
            }
        }
    };
    let on_link = |ip: IpAddr| -> Option<u16> {
        ifaces
            .iter()
            .position(|f| match ip {
                IpAddr::V4(a) => f
                    .ipv4
                    .iter()
                    .any(|&(p, l)| network(IpAddr::V4(p), l) == network(IpAddr::V4(a), l)),
                IpAddr::V6(a) => {
                    (a.segments()[0] & 0xffc0) == 0xfe80
                        || f.ipv6
                            .iter()
                            .any(|&(p, l)| network(IpAddr::V6(p), l) == network(IpAddr::V6(a), l))
                }
            })
            .map(|i| i as u16)
            .or_else(|| {
                tunnels
                    .iter()
                    .position(|t| {
                        let f = t.iface();
                        match ip {
                            IpAddr::V4(a) => f.ipv4.iter().any(|&(p, l)| {
                                network(IpAddr::V4(p), l) == network(IpAddr::V4(a), l)
                            }),
                            IpAddr::V6(a) => f.ipv6.iter().any(|&(p, l)| {
                                network(IpAddr::V6(p), l) == network(IpAddr::V6(a), l)
                            }),
                        }
                    })
                    .map(|i| TUN_BASE + i as u16)
            })
    };
    let mut routes = Vec::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let k = |x: &str| format!("routes[{i}].{x}");
        let input = RouteInput {
            prefix: &r.prefix,
            via: r.via.as_deref(),
            interface: r.interface.as_deref(),
            kind: r.kind.map(|k| match k {
                RawRouteKind::Forward => "forward",
                RawRouteKind::Blackhole => "blackhole",
                RawRouteKind::Unreachable => "unreachable",
            }),
        };
        let named = |n: &str| names.get(n).map(|&i| i as u16).or_else(|| tunnel_id(n));
        let route = parse_route(&input, named, on_link).map_err(|(f, msg)| {
            let msg = if f == "interface" {
                let known: Vec<&str> = raw
                    .interfaces
                    .iter()
                    .map(|f| f.name.as_str())
                    .chain(raw.tunnels.iter().map(|t| t.name.as_str()))
                    .collect();
                format!(
                    "{msg}; configured interfaces and tunnels: {}",
                    known.join(", ")
                )
            } else {
                msg
            };
            ConfigError::Key {
                file: v.file.to_string(),
                key: k(f),
                msg,
            }
        })?;
        if let RouteTarget::Via { gateway: gw, iface } = route.target {
            if let Some(t) = tunnels.iter().find(|t| t.local == gw) {
                return v.err(
                    k("via"),
                    format!(
                        "{gw} is the local address of tunnel \"{}\", one of our own; a gateway is a neighbour's address",
                        t.name
                    ),
                );
            }
            if let Some(who) = owned.owner(gw) {
                return v.err(
                    k("via"),
                    format!("{gw} is an address of {who}, one of our own; a gateway is a neighbour's address"),
                );
            }
            // The prefix of the gateway's link, for its network and
            // broadcast address.
            let link_len = owned
                .list
                .iter()
                .find(|(a, l, _, o)| *o == usize::from(iface) && contains(*a, *l, gw))
                .map_or(if gw.is_ipv4() { 32 } else { 128 }, |x| x.1);
            if let Some(why) = special_addr(gw, link_len) {
                return v.err(
                    k("via"),
                    format!("{why}; a gateway is a neighbour's unicast address"),
                );
            }
        }
        let (addr, len) = (route.prefix, route.len);
        if routes
            .iter()
            .any(|x: &RouteSpec| x.prefix == addr && x.len == len)
        {
            return v.err(k("prefix"), format!("{} is configured twice", r.prefix));
        }
        routes.push(route);
    }
    let mut neighbors = Vec::new();
    for (i, n) in raw.neighbors.iter().enumerate() {
        let k = |x: &str| format!("neighbors[{i}].{x}");
        let iface = iface_named(k("interface"), &n.interface)?;
        let Ok(ip) = n.ip.parse::<IpAddr>() else {
            return v.err(k("ip"), format!("\"{}\" is not an IP address", n.ip));
        };
        let f = &ifaces[usize::from(iface)];
        let link_len = match ip {
            IpAddr::V4(a) => f
                .ipv4
                .iter()
                .find(|&&(p, l)| contains(IpAddr::V4(p), l, IpAddr::V4(a)))
                .map(|x| x.1),
            IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => Some(64),
            IpAddr::V6(a) => f
                .ipv6
                .iter()
                .find(|&&(p, l)| contains(IpAddr::V6(p), l, IpAddr::V6(a)))
                .map(|x| x.1),
        };
        let Some(link_len) = link_len else {
            let subnets: Vec<String> = match ip {
                IpAddr::V4(_) => f
                    .ipv4
                    .iter()
                    .map(|(a, l)| format!("{}/{l}", network(IpAddr::V4(*a), *l)))
                    .collect(),
                IpAddr::V6(_) => f
                    .ipv6
                    .iter()
                    .map(|(a, l)| format!("{}/{l}", network(IpAddr::V6(*a), *l)))
                    .chain(["fe80::/10".to_string()])
                    .collect(),
            };
            return v.err(
                k("ip"),
                format!(
                    "{ip} is on none of interface \"{}\"'s subnets ({}); a neighbour is on the link",
                    f.name,
                    if subnets.is_empty() { "none".to_string() } else { subnets.join(", ") }
                ),
            );
        };
        if let Some(who) = owned.owner(ip) {
            return v.err(
                k("ip"),
                format!("{ip} is an address of {who}, one of our own, not a neighbour's"),
            );
        }
        if let Some(why) = special_addr(ip, link_len) {
            return v.err(k("ip"), format!("{why}; a neighbour has a unicast address"));
        }
        if neighbors
            .iter()
            .any(|x: &NeighborSpec| x.iface == iface && x.ip == ip)
        {
            return v.err(
                k("ip"),
                format!("{ip} on interface \"{}\" is listed twice", f.name),
            );
        }
        let mac = v.unicast_mac(k("mac"), &n.mac, "a neighbour")?;
        let port_macs = raw.ports.iter().filter_map(|p| p.mac.as_deref());
        let iface_macs = raw.interfaces.iter().filter_map(|f| f.mac.as_deref());
        if port_macs
            .chain(iface_macs)
            .any(|m| m.parse::<MacAddr>().ok() == Some(mac))
        {
            return v.err(
                k("mac"),
                format!("{mac} is one of our own ports' or interfaces' MACs, not a neighbour's"),
            );
        }
        neighbors.push(NeighborSpec { iface, ip, mac });
    }
    Ok(RouterCfg {
        ifaces,
        routes,
        neighbors,
        tunnels,
    })
}

fn validate(raw: Raw, file: &str) -> Result<Config, ConfigError> {
    let v = V { file };
    let e = &raw.engine;
    if e.cores.is_empty() {
        return v.err(
            "engine.cores",
            "empty; expected at least one CPU core number, e.g. [1]",
        );
    }
    // Online CPUs, not this process's affinity: `taskset -c 1 xgw run` with
    // cores = [1] is legitimate.
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    for (i, &c) in e.cores.iter().enumerate() {
        if e.cores[..i].contains(&c) {
            return v.err(
                format!("engine.cores[{i}]"),
                format!("core {c} is listed twice; each worker needs its own core"),
            );
        }
        if c >= online {
            return v.err(
                format!("engine.cores[{i}]"),
                format!(
                    "core {c} does not exist; this machine has cores 0..{}",
                    online - 1
                ),
            );
        }
    }
    if !(1..=MAX_BURST).contains(&e.burst) {
        return v.err(
            "engine.burst",
            format!("{} is out of range; expected 1 to {MAX_BURST}", e.burst),
        );
    }
    let u = &e.umem;
    if u.frame_size != 2048 && u.frame_size != 4096 {
        return v.err(
            "engine.umem.frame_size",
            format!("{} is not supported; expected 2048 or 4096", u.frame_size),
        );
    }
    if u.headroom > u.frame_size / 2 {
        return v.err(
            "engine.umem.headroom",
            format!(
                "{} leaves too little room for a frame; expected at most {}",
                u.headroom,
                u.frame_size / 2
            ),
        );
    }
    if !(64..=1 << 20).contains(&u.frames) {
        return v.err(
            "engine.umem.frames",
            format!(
                "{} is out of range; expected 64 to 1048576 frames per worker",
                u.frames
            ),
        );
    }

    if raw.ports.is_empty() {
        return v.err(
            "ports",
            "no ports configured; add at least one [[ports]] table",
        );
    }
    if raw.ports.len() > MAX_PORTS {
        return v.err(
            "ports",
            format!(
                "{} ports configured; at most {MAX_PORTS} are supported",
                raw.ports.len()
            ),
        );
    }
    let workers = e.cores.len() as u32;
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut ifaces: HashMap<&str, usize> = HashMap::new();
    let mut ports = Vec::new();
    let mut ring_total = 0u64;
    for (i, p) in raw.ports.iter().enumerate() {
        let k = |f: &str| format!("ports[{i}].{f}");
        if p.name.is_empty()
            || p.name.len() > 32
            || !p
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return v.err(
                k("name"),
                format!(
                    "\"{}\" is not a port name; expected 1-32 letters, digits, - or _",
                    p.name
                ),
            );
        }
        if let Some(j) = names.insert(&p.name, i) {
            return v.err(
                k("name"),
                format!("\"{}\" is already the name of ports[{j}]", p.name),
            );
        }
        let mac = match &p.mac {
            Some(m) => Some(v.unicast_mac(k("mac"), m, "a port")?),
            None => None,
        };
        let afxdp_only: [(&str, bool); 12] = [
            ("interface", p.interface.is_some()),
            ("queues", p.queues.is_some()),
            ("xdp_mode", p.xdp_mode.is_some()),
            ("bind", p.bind.is_some()),
            ("rx_ring", p.rx_ring.is_some()),
            ("tx_ring", p.tx_ring.is_some()),
            ("fill_ring", p.fill_ring.is_some()),
            ("comp_ring", p.comp_ring.is_some()),
            ("need_wakeup", p.need_wakeup.is_some()),
            ("busy_poll_budget", p.busy_poll_budget.is_some()),
            ("pass_ethertypes", p.pass_ethertypes.is_some()),
            ("pass_ipv4", p.pass_ipv4.is_some() || p.pass_ipv6.is_some()),
        ];
        let kind = match p.driver {
            Driver::AfXdp => {
                let Some(ifname) = p.interface.as_deref() else {
                    return v.err(k("interface"), "missing; an af_xdp port needs the network interface to bind, e.g. \"eth1\"");
                };
                if ifname.is_empty() || ifname.len() >= 16 || ifname.contains(['/', ' ']) {
                    return v.err(k("interface"), format!("\"{ifname}\" is not an interface name (1-15 characters, no / or space)"));
                }
                if let Some(j) = ifaces.insert(ifname, i) {
                    return v.err(
                        k("interface"),
                        format!("\"{ifname}\" is already used by ports[{j}]"),
                    );
                }
                let queues = p.queues.unwrap_or(workers);
                if queues != workers {
                    return v.err(
                        k("queues"),
                        format!("{queues} queues but {workers} workers (engine.cores); worker i owns queue i of every port, so they must match"),
                    );
                }
                let xsk = XskConfig {
                    rx_ring: v.ring(k("rx_ring"), p.rx_ring, 2048)?,
                    tx_ring: v.ring(k("tx_ring"), p.tx_ring, 2048)?,
                    fill_ring: v.ring(k("fill_ring"), p.fill_ring, 2048)?,
                    comp_ring: v.ring(k("comp_ring"), p.comp_ring, 2048)?,
                    need_wakeup: p.need_wakeup.unwrap_or(true),
                    busy_poll_budget: p.busy_poll_budget.unwrap_or(0),
                };
                if xsk.busy_poll_budget > 1024 {
                    return v.err(
                        k("busy_poll_budget"),
                        format!(
                            "{} is too large; expected 0 (off) to 1024",
                            xsk.busy_poll_budget
                        ),
                    );
                }
                ring_total += (xsk.fill_ring + xsk.tx_ring) as u64;
                let mut pass = PassRules {
                    ethertypes: p.pass_ethertypes.clone().unwrap_or_default(),
                    ..Default::default()
                };
                for (j, a) in p.pass_ipv4.iter().flatten().enumerate() {
                    match a.parse::<Ipv4Addr>() {
                        Ok(ip) => pass.ipv4_dst.push(ip),
                        Err(_) => {
                            return v.err(
                                format!("ports[{i}].pass_ipv4[{j}]"),
                                format!("\"{a}\" is not an IPv4 address"),
                            )
                        }
                    }
                }
                for (j, a) in p.pass_ipv6.iter().flatten().enumerate() {
                    match a.parse::<Ipv6Addr>() {
                        Ok(ip) => pass.ipv6_dst.push(ip),
                        Err(_) => {
                            return v.err(
                                format!("ports[{i}].pass_ipv6[{j}]"),
                                format!("\"{a}\" is not an IPv6 address"),
                            )
                        }
                    }
                }
                if pass.ethertypes.len() + pass.ipv4_dst.len() + pass.ipv6_dst.len() > 64 {
                    return v.err(
                        k("pass_ethertypes"),
                        "too many pass rules; at most 64 in all",
                    );
                }
                PortKind::AfXdp(AfXdpCfg {
                    interface: ifname.to_string(),
                    queues,
                    xdp_mode: match p.xdp_mode.unwrap_or(RawXdpMode::Auto) {
                        RawXdpMode::Auto => XdpModeRequest::Auto,
                        RawXdpMode::Native => XdpModeRequest::Native,
                        RawXdpMode::Generic => XdpModeRequest::Generic,
                    },
                    bind: match p.bind.unwrap_or(RawBind::Auto) {
                        RawBind::Auto => BindRequest::Auto,
                        RawBind::ZeroCopy => BindRequest::ZeroCopy,
                        RawBind::Copy => BindRequest::Copy,
                    },
                    xsk,
                    pass,
                })
            }
            Driver::Mem | Driver::Pcap => {
                if let Some((f, _)) = afxdp_only.iter().find(|(_, set)| *set) {
                    return v.err(
                        k(f),
                        format!(
                            "only af_xdp ports take `{f}`; this port's driver is {:?}",
                            p.driver
                        )
                        .to_lowercase(),
                    );
                }
                if p.driver == Driver::Pcap && (p.capacity.is_some() || p.loopback.is_some()) {
                    return v.err(
                        k(if p.capacity.is_some() {
                            "capacity"
                        } else {
                            "loopback"
                        }),
                        "only mem ports take this key",
                    );
                }
                if p.driver == Driver::Mem {
                    let capacity = p.capacity.unwrap_or(1024);
                    if !(1..=1 << 20).contains(&capacity) {
                        return v.err(
                            k("capacity"),
                            format!("{capacity} is out of range; expected 1 to 1048576"),
                        );
                    }
                    PortKind::Mem {
                        capacity,
                        loopback: p.loopback.unwrap_or(false),
                    }
                } else {
                    PortKind::Pcap
                }
            }
        };
        if p.driver == Driver::AfXdp && (p.capacity.is_some() || p.loopback.is_some()) {
            return v.err(
                k(if p.capacity.is_some() {
                    "capacity"
                } else {
                    "loopback"
                }),
                "only mem ports take this key",
            );
        }
        ports.push(PortCfg {
            name: p.name.clone(),
            mac,
            kind,
        });
    }
    let _ = ring_total;
    let per_port = u.frames as usize / (2 * raw.ports.len());
    if per_port < 64 {
        return v.err(
            "engine.umem.frames",
            format!("{} frames are too few for {} ports; each port's fill ring gets half the frames shared out (at least 64 each), so use at least {}", u.frames, raw.ports.len(), 128 * raw.ports.len()),
        );
    }

    if raw.pipeline.kind != PipelineKind::Router {
        for (what, n) in [
            ("interfaces", raw.interfaces.len()),
            ("routes", raw.routes.len()),
            ("neighbors", raw.neighbors.len()),
        ] {
            if n > 0 {
                return v.err(
                    what,
                    "only the router pipeline (pipeline.kind = \"router\") uses this table",
                );
            }
        }
    }
    let socket = &raw.control.socket;
    let sock_len = socket.as_os_str().len();
    if sock_len == 0 {
        return v.err(
            "control.socket",
            "empty; expected the path of the control socket, e.g. \"/run/xgw/xgw.sock\"",
        );
    }
    // sockaddr_un.sun_path: 108 bytes with the terminating NUL.
    if sock_len > 107 {
        return v.err(
            "control.socket",
            format!("a path of {sock_len} bytes; a Unix socket path holds at most 107"),
        );
    }
    if socket.as_os_str().as_encoded_bytes().contains(&0) {
        return v.err("control.socket", "contains a NUL character");
    }
    if socket.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return v.err(
            "control.socket",
            format!(
                "\"{}\" names a directory; expected the socket's file path",
                socket.display()
            ),
        );
    }
    let pipeline = match raw.pipeline.kind {
        PipelineKind::Router => PipelineCfg::Router(validate_router(&v, &raw, &names)?),
        PipelineKind::L2fwd => {
            let Some(l2) = &raw.pipeline.l2fwd else {
                return v.err(
                    "pipeline.l2fwd",
                    "missing; kind = \"l2fwd\" needs a [pipeline.l2fwd] table with mode and pairs",
                );
            };
            let mode = match l2.mode {
                RawMacMode::Io => MacMode::Io,
                RawMacMode::Mac => MacMode::Rewrite,
                RawMacMode::Macswap => MacMode::Swap,
            };
            if l2.pairs.is_empty() {
                return v.err(
                    "pipeline.l2fwd.pairs",
                    "empty; expected at least one { a = PORT, b = PORT } pair",
                );
            }
            let mut used: HashMap<usize, String> = HashMap::new();
            let mut pairs = Vec::new();
            let known = || {
                raw.ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            for (i, pr) in l2.pairs.iter().enumerate() {
                let mut side = |f: &str, name: &str| -> Result<usize, ConfigError> {
                    let key = format!("pipeline.l2fwd.pairs[{i}].{f}");
                    let Some(&idx) = names.get(name) else {
                        return v.err(
                            key,
                            format!("no port named \"{name}\"; configured ports: {}", known()),
                        );
                    };
                    if let Some(prev) = used.insert(idx, key.clone()) {
                        return v.err(
                            key,
                            format!("port \"{name}\" is already cross-connected by {prev}"),
                        );
                    }
                    Ok(idx)
                };
                let a = side("a", &pr.a)?;
                let b = side("b", &pr.b)?;
                let peer = |f: &str, m: &Option<String>| -> Result<Option<MacAddr>, ConfigError> {
                    let key = format!("pipeline.l2fwd.pairs[{i}].{f}");
                    match (m, mode) {
                        (Some(s), MacMode::Rewrite) => Ok(Some(v.mac(key, s)?)),
                        (None, MacMode::Rewrite) => v.err(
                            key,
                            "missing; mode \"mac\" needs the MAC of the host behind each side",
                        ),
                        (Some(_), _) => v.err(
                            key,
                            "only used in mode \"mac\"; remove it or set mode = \"mac\"",
                        ),
                        (None, _) => Ok(None),
                    }
                };
                let a_peer = peer("a_peer", &pr.a_peer)?;
                let b_peer = peer("b_peer", &pr.b_peer)?;
                pairs.push(PairCfg {
                    a,
                    b,
                    a_peer,
                    b_peer,
                });
            }
            if mode == MacMode::Rewrite {
                for (i, p) in raw.ports.iter().enumerate() {
                    if p.driver != Driver::AfXdp && p.mac.is_none() && used.contains_key(&i) {
                        return v.err(format!("ports[{i}].mac"), "missing; mode \"mac\" rewrites the source MAC, and only af_xdp ports can read theirs from the device");
                    }
                }
            }
            PipelineCfg::L2fwd { mode, pairs }
        }
    };

    Ok(Config {
        source: file.to_string(),
        cores: e.cores.clone(),
        burst: e.burst,
        idle: e.idle,
        umem: UmemCfg {
            frames: u.frames,
            frame_size: u.frame_size,
            headroom: u.headroom,
            huge_pages: u.huge_pages,
        },
        control_socket: raw.control.socket,
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

    #[test]
    fn syntax_error_and_missing_table() {
        let e = err("[engine\ncores=[0]");
        assert!(e.starts_with("t.toml:"), "{e}");
        let e = err("[engine]\ncores=[0]\n");
        assert!(e.contains("pipeline"), "{e}");
    }
}

#[cfg(test)]
mod router_tests {
    use super::*;

    const ROUTER: &str = r#"
        [engine]
        cores = [0]
        [[ports]]
        name = "p0"
        driver = "mem"
        mac = "02:00:00:00:00:01"
        [[ports]]
        name = "p1"
        driver = "mem"
        mac = "02:00:00:00:00:02"
        [pipeline]
        kind = "router"
        [[interfaces]]
        name = "lan"
        port = "p0"
        ipv4 = ["10.1.0.1/24"]
        ipv6 = ["2001:db8:1::1/64"]
        rpf = "strict"
        [[interfaces]]
        name = "wan"
        port = "p1"
        vlan = 100
        ipv4 = ["192.0.2.1/30"]
        mtu = 1400
        [[routes]]
        prefix = "0.0.0.0/0"
        via = "192.0.2.2"
        [[routes]]
        prefix = "203.0.113.0/24"
        kind = "blackhole"
        [[neighbors]]
        interface = "wan"
        ip = "192.0.2.2"
        mac = "02:00:00:00:99:99"
    "#;

    fn err(text: &str) -> String {
        Config::parse(text, "r.toml").unwrap_err().to_string()
    }

    #[test]
    fn router_config_validates_and_resolves() {
        let c = Config::parse(ROUTER, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.ifaces[1].vlan, 100);
        assert_eq!(r.ifaces[1].mtu, 1400);
        assert_eq!(r.ifaces[0].rpf, RpfMode::Strict);
        assert_eq!(
            r.routes[0].target,
            RouteTarget::Via {
                gateway: "192.0.2.2".parse().unwrap(),
                iface: 1
            },
            "gateway resolved to the interface whose subnet holds it"
        );
        assert!(r
            .spec(&[Some(MacAddr([2, 0, 0, 0, 0, 1])), None])
            .unwrap_err()
            .contains("\"wan\""));
        let spec = r
            .spec(&[
                Some(MacAddr([2, 0, 0, 0, 0, 1])),
                Some(MacAddr([2, 0, 0, 0, 0, 2])),
            ])
            .unwrap();
        assert_eq!(
            spec.ifaces[1].mac,
            MacAddr([2, 0, 0, 0, 0, 2]),
            "the port's MAC by default"
        );
        assert_eq!(
            spec.ifaces[0].link_local,
            "fe80::ff:fe00:1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn router_errors_name_their_key() {
        let e = err(&ROUTER.replace("via = \"192.0.2.2\"", "via = \"198.51.100.1\""));
        assert!(
            e.contains("key `routes[0].via`") && e.contains("none of the interfaces"),
            "{e}"
        );
        let e = err(&ROUTER.replace(
            "interface = \"wan\"\n        ip",
            "interface = \"dmz\"\n        ip",
        ));
        assert!(
            e.contains("key `neighbors[0].interface`") && e.contains("no interface named \"dmz\""),
            "{e}"
        );
        let e = err(&ROUTER.replace("10.1.0.1/24", "10.1.0.1/33"));
        assert!(e.contains("key `interfaces[0].ipv4[0]`"), "{e}");
        let e = err(&ROUTER.replace("203.0.113.0/24", "203.0.113.7/24"));
        assert!(
            e.contains("key `routes[1].prefix`") && e.contains("host bits"),
            "{e}"
        );
        let e = err(&ROUTER.replace("vlan = 100", "vlan = 5000"));
        assert!(e.contains("key `interfaces[1].vlan`"), "{e}");
        let e = err(&ROUTER.replace("port = \"p1\"", "port = \"p7\""));
        assert!(e.contains("key `interfaces[1].port`"), "{e}");
        let e = err(&ROUTER.replace("kind = \"router\"", "kind = \"l2fwd\""));
        assert!(
            e.contains("key `interfaces`") || e.contains("pipeline.l2fwd"),
            "{e}"
        );
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

    #[test]
    fn router_addresses_that_stay_accepted() {
        // a /31 and a /32 (RFC 3021), link-local addresses on two
        // interfaces, a neighbour at a link-local address, a gateway on
        // a tunnel's subnet
        let text = ROUTER
            .replace("192.0.2.1/30", "192.0.2.0/31")
            .replace("via = \"192.0.2.2\"", "via = \"192.0.2.1\"")
            .replace("ip = \"192.0.2.2\"", "ip = \"192.0.2.1\"")
            .replace(
                "ipv6 = [\"2001:db8:1::1/64\"]",
                "ipv6 = [\"2001:db8:1::1/64\", \"fe80::1/64\"]",
            )
            .replace("mtu = 1400", "mtu = 1400\nipv6 = [\"fe80::2/64\"]")
            + r#"
        [[neighbors]]
        interface = "lan"
        ip = "fe80::99"
        mac = "02:00:00:00:99:98"
        [[tunnels]]
        name = "t"
        kind = "4in4"
        local = "10.1.0.1"
        remote = "198.51.100.1"
        ipv4 = ["10.255.0.1/32", "10.254.0.1/24"]
        [[routes]]
        prefix = "10.77.0.0/16"
        via = "10.254.0.2"
        "#;
        let c = Config::parse(&text, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.ifaces[1].ipv4, vec![("192.0.2.0".parse().unwrap(), 31)]);
        assert_eq!(r.neighbors.len(), 2);
        assert_eq!(
            r.routes[2].target,
            RouteTarget::Via {
                gateway: "10.254.0.2".parse().unwrap(),
                iface: TUN_BASE
            }
        );
        // and a neighbour on the wrong one of two subnets is refused
        let e = err(&ROUTER.replace(
            "interface = \"wan\"\n        ip",
            "interface = \"lan\"\n        ip",
        ));
        assert!(
            e.contains("key `neighbors[0].ip`")
                && e.contains("none of interface \"lan\"'s subnets (10.1.0.0/24)"),
            "{e}"
        );
    }

    /// `ROUTER` with an `[interfaces.ra]` table on "lan" holding `body`.
    fn with_ra(body: &str) -> String {
        ROUTER.replace(
            "rpf = \"strict\"\n",
            &format!("rpf = \"strict\"\n[interfaces.ra]\n{body}\n"),
        )
    }

    fn ra_of(text: &str) -> Option<RaSpec> {
        let c = Config::parse(text, "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        assert_eq!(r.ifaces[1].ra, None, "only where configured");
        r.ifaces[0].ra.clone()
    }

    #[test]
    fn ra_defaults() {
        let ra = ra_of(&with_ra("")).expect("a table means enabled");
        assert_eq!(ra.max_interval_ms, 600_000);
        assert_eq!(ra.min_interval_ms, 198_000);
        assert_eq!(ra.router_lifetime, 1800);
        assert_eq!(ra.hop_limit, 64);
        assert!(!ra.managed && !ra.other_config);
        assert_eq!(ra.mtu, Some(1500), "the interface's MTU");
        assert_eq!(
            ra.prefixes,
            vec![PrefixInfo {
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 2_592_000,
                preferred_lifetime: 604_800,
                prefix: "2001:db8:1::".parse().unwrap(),
            }],
            "the interface's /64"
        );
        assert_eq!((ra.rdnss, ra.pref64), (None, None));
        assert_eq!(ra_of(&with_ra("enabled = false")), None);
        // the spec carries it to the router
        let c = Config::parse(&with_ra(""), "r.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        let spec = r
            .spec(&[
                Some(MacAddr([2, 0, 0, 0, 0, 1])),
                Some(MacAddr([2, 0, 0, 0, 0, 2])),
            ])
            .unwrap();
        assert_eq!(
            spec.ifaces[0].ra.as_ref().map(|r| r.max_interval_ms),
            Some(600_000)
        );
        assert_eq!(spec.ifaces[1].ra, None);
        // short intervals: MinRtrAdvInterval never under 3 s
        let ra = ra_of(&with_ra("interval = 4")).unwrap();
        assert_eq!((ra.max_interval_ms, ra.min_interval_ms), (4000, 3000));
        assert_eq!(ra.router_lifetime, 1800);
    }

    #[test]
    fn ra_everything_set() {
        let ra = ra_of(&with_ra(
            r#"
            interval = 60
            min_interval = 20
            router_lifetime = 0
            managed = true
            other_config = true
            hop_limit = 0
            reachable_time_ms = 30000
            retrans_timer_ms = 1000
            mtu = 1280
            prefixes = [
              { prefix = "2001:db8:1::/64", valid_lifetime = 7200, preferred_lifetime = 3600 },
              { prefix = "2001:db8:100::/48", autonomous = false, on_link = false },
            ]
            rdnss = { servers = ["2001:db8::53", "2001:db8::54"], lifetime = 600 }
            pref64 = { prefix = "64:ff9b::/96", lifetime = 600 }
            "#,
        ))
        .unwrap();
        assert_eq!((ra.max_interval_ms, ra.min_interval_ms), (60_000, 20_000));
        assert_eq!(ra.router_lifetime, 0);
        assert!(ra.managed && ra.other_config);
        assert_eq!(
            (ra.hop_limit, ra.reachable_time, ra.retrans_timer),
            (0, 30_000, 1000)
        );
        assert_eq!(ra.mtu, Some(1280));
        assert_eq!(ra.prefixes.len(), 2);
        assert_eq!(
            (
                ra.prefixes[0].valid_lifetime,
                ra.prefixes[0].preferred_lifetime
            ),
            (7200, 3600)
        );
        let p = ra.prefixes[1];
        assert_eq!((p.prefix_len, p.on_link, p.autonomous), (48, false, false));
        let d = ra.rdnss.unwrap();
        assert_eq!(d.lifetime, 600);
        assert_eq!(d.servers[1], "2001:db8::54".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            ra.pref64,
            Some(Pref64Spec {
                prefix: "64:ff9b::".parse().unwrap(),
                len: 96,
                lifetime: 600
            })
        );
        // mtu = 0 leaves the option out; lifetimes default to 3 × interval
        let ra = ra_of(&with_ra(
            "interval = 100\nmtu = 0\nrdnss = { servers = [\"2001:db8::53\"] }\npref64 = { prefix = \"2001:db8:64::/48\" }",
        ))
        .unwrap();
        assert_eq!(ra.mtu, None);
        assert_eq!(ra.rdnss.unwrap().lifetime, 300);
        assert_eq!(ra.pref64.map(|p| (p.len, p.lifetime)), Some((48, 300)));
        // the [[interfaces]] inline form
        let inline = ROUTER.replace(
            "rpf = \"strict\"\n",
            "rpf = \"strict\"\n        ra = { interval = 30 }\n",
        );
        assert_eq!(ra_of(&inline).unwrap().max_interval_ms, 30_000);
    }

    #[test]
    fn ra_errors_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("interval = 3", "interfaces[0].ra.interval", "4 to 1800"),
            ("interval = 2000", "interfaces[0].ra.interval", "4 to 1800"),
            ("interval = 100\nmin_interval = 80", "interfaces[0].ra.min_interval", "0.75"),
            ("min_interval = 2", "interfaces[0].ra.min_interval", "3 seconds"),
            ("interval = 100\nrouter_lifetime = 50", "interfaces[0].ra.router_lifetime", "9000"),
            ("router_lifetime = 9001", "interfaces[0].ra.router_lifetime", "9000"),
            ("hop_limit = 256", "interfaces[0].ra.hop_limit", "255"),
            ("reachable_time_ms = 3600001", "interfaces[0].ra.reachable_time_ms", "3600000"),
            ("mtu = 1600", "interfaces[0].ra.mtu", "interface's mtu (1500)"),
            ("mtu = 1000", "interfaces[0].ra.mtu", "1280"),
            ("colour = 1", "interfaces[0].ra.colour", "unknown field"),
            ("managed = 1", "interfaces[0].ra.managed", "bool"),
            (
                "prefixes = [{ prefix = \"2001:db8:1::1/64\" }]",
                "interfaces[0].ra.prefixes[0].prefix",
                "host bits",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::\" }]",
                "interfaces[0].ra.prefixes[0].prefix",
                "prefix length",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\" }, { prefix = \"fe80::/64\" }]",
                "interfaces[0].ra.prefixes[1].prefix",
                "link-local",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8::/48\" }]",
                "interfaces[0].ra.prefixes[0].autonomous",
                "/64",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\", valid_lifetime = 60, preferred_lifetime = 120 }]",
                "interfaces[0].ra.prefixes[0].preferred_lifetime",
                "valid_lifetime",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\" }, { prefix = \"2001:db8:1::/64\" }]",
                "interfaces[0].ra.prefixes[1].prefix",
                "twice",
            ),
            (
                "prefixes = [{ prefix = \"2001:db8:1::/64\", valid_lifetime = -1 }]",
                "interfaces[0].ra.prefixes[0].valid_lifetime",
                "",
            ),
            ("rdnss = { servers = [] }", "interfaces[0].ra.rdnss.servers", "1 to 127"),
            (
                "rdnss = { servers = [\"2001:db8::53\", \"10.0.0.53\"] }",
                "interfaces[0].ra.rdnss.servers[1]",
                "IPv6",
            ),
            (
                "rdnss = { servers = [\"ff02::1\"] }",
                "interfaces[0].ra.rdnss.servers[0]",
                "unicast",
            ),
            (
                "rdnss = { servers = [\"2001:db8::53\"], lifetime = 10 }",
                "interfaces[0].ra.rdnss.lifetime",
                "shorter than interval",
            ),
            ("rdnss = { lifetime = 600 }", "interfaces[0].ra.rdnss.servers", "missing"),
            (
                "pref64 = { prefix = \"64:ff9b::/80\" }",
                "interfaces[0].ra.pref64.prefix",
                "32, 40, 48, 56, 64 or 96",
            ),
            (
                "pref64 = { prefix = \"64:ff9b::1/96\" }",
                "interfaces[0].ra.pref64.prefix",
                "host bits",
            ),
            (
                "pref64 = { prefix = \"64:ff9b::/96\", lifetime = 65529 }",
                "interfaces[0].ra.pref64.lifetime",
                "65528",
            ),
            (
                "pref64 = { prefix = \"64:ff9b::/96\", lifetime = 100 }",
                "interfaces[0].ra.pref64.lifetime",
                "shorter than interval",
            ),
        ];
        for (body, key, what) in cases {
            let e = err(&with_ra(body));
            assert!(
                e.contains(&format!("key `{key}`")) && e.contains(what),
                "{body}: {e}"
            );
        }
        // too big for the link: 40 + 72 + 8 + 90 × 16 = 1560 bytes > 1500
        let servers: Vec<String> = (1..=90).map(|i| format!("\"2001:db8::{i:x}\"")).collect();
        let e = err(&with_ra(&format!(
            "rdnss = {{ servers = [{}] }}",
            servers.join(", ")
        )));
        assert!(
            e.contains("key `interfaces[0].ra`") && e.contains("more than the interface's mtu"),
            "{e}"
        );
    }
}
