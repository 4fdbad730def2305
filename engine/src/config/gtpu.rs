//! `[gtpu]` and `[[gtpu.sessions]]`: the GTP-U endpoint (the checks of one
//! session are `xgw_pipelines::gtpu::session::check`'s, those across
//! sessions the session store's).

use std::net::{IpAddr, Ipv6Addr};

use serde::Deserialize;
use xgw_pipelines::gtpu::session::{check, DEFAULT_MAX_SESSIONS, MAX_SESSIONS_LIMIT};
use xgw_pipelines::gtpu::{GtpuSpec, SessionSpec, Sessions};

use super::router::IfaceCfg;

/// The most `[gtpu] peers` (worker 0 walks them every tick).
pub const MAX_PEERS: usize = 1024;
/// The most `[gtpu] endpoints` (the dataplane keeps an endpoint's index
/// in one octet).
pub const MAX_ENDPOINTS: usize = 256;
use super::{ConfigError, V};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGtpu {
    endpoints: Vec<String>,
    interface: Option<String>,
    mtu: Option<u32>,
    max_sessions: Option<u64>,
    error_rate: Option<u32>,
    /// Peers to send Echo Requests to (path management).
    #[serde(default)]
    peers: Vec<String>,
    echo_interval: Option<u32>,
    echo_timeout_ms: Option<u32>,
    echo_retries: Option<u32>,
    #[serde(default)]
    sessions: Vec<RawSession>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    id: u64,
    local: Option<String>,
    teid: u32,
    ue4: Option<String>,
    ue6: Option<String>,
    peer: String,
    peer_teid: u32,
    qfi: Option<u8>,
    mbr_ul: Option<u64>,
    mbr_dl: Option<u64>,
    gate_ul: Option<bool>,
    gate_dl: Option<bool>,
    instance: Option<String>,
}

/// One session's fields as `xgw gtp session add` and the config file give
/// them (strings as written).
#[derive(Clone, Debug, Default)]
pub struct SessionInput<'a> {
    pub id: u64,
    pub local: Option<&'a str>,
    pub teid: u32,
    pub ue4: Option<&'a str>,
    pub ue6: Option<&'a str>,
    pub peer: &'a str,
    pub peer_teid: u32,
    pub qfi: Option<u8>,
    pub mbr_ul: Option<u64>,
    pub mbr_dl: Option<u64>,
    pub gate_ul: Option<bool>,
    pub gate_dl: Option<bool>,
    pub instance: Option<&'a str>,
}

/// Reads one session: errors name the field and say what is expected.
/// `local` defaults to the first endpoint of the peer's family.
pub fn parse_session(
    s: &SessionInput<'_>,
    endpoints: &[IpAddr],
) -> Result<SessionSpec, (&'static str, String)> {
    let peer: IpAddr = s
        .peer
        .parse()
        .map_err(|_| ("peer", format!("\"{}\" is not an IP address", s.peer)))?;
    let local = match s.local {
        Some(l) => {
            let a: IpAddr = l
                .parse()
                .map_err(|_| ("local", format!("\"{l}\" is not an IP address")))?;
            if !endpoints.contains(&a) {
                return Err((
                    "local",
                    format!("{a} is not one of the GTP-U endpoints ([gtpu] endpoints)"),
                ));
            }
            a
        }
        None => *endpoints
            .iter()
            .find(|e| e.is_ipv4() == peer.is_ipv4())
            .ok_or((
                "peer",
                format!(
                    "{peer}: no GTP-U endpoint of its family ([gtpu] endpoints) to reach it from"
                ),
            ))?,
    };
    if local.is_ipv4() != peer.is_ipv4() {
        return Err((
            "peer",
            format!("{peer} and the local endpoint {local} are not of one family"),
        ));
    }
    let ue4 = match s.ue4 {
        Some(a) => Some(
            a.parse()
                .map_err(|_| ("ue4", format!("\"{a}\" is not an IPv4 address")))?,
        ),
        None => None,
    };
    let ue6 = match s.ue6 {
        Some(a) => {
            let (addr, len) = match a.split_once('/') {
                Some((x, l)) => (x, l.parse::<u8>().ok()),
                None => (a, Some(128)),
            };
            let addr: Ipv6Addr = addr.parse().map_err(|_| {
                (
                    "ue6",
                    format!("\"{a}\" is not an IPv6 address or /64 prefix"),
                )
            })?;
            let len = len.ok_or(("ue6", format!("\"{a}\": bad prefix length")))?;
            Some((addr, len))
        }
        None => None,
    };
    let spec = SessionSpec {
        id: s.id,
        local,
        teid: s.teid,
        ue4,
        ue6,
        peer,
        peer_teid: s.peer_teid,
        qfi: s.qfi,
        mbr_ul: s.mbr_ul.unwrap_or(0),
        mbr_dl: s.mbr_dl.unwrap_or(0),
        gate_ul: s.gate_ul.unwrap_or(true),
        gate_dl: s.gate_dl.unwrap_or(true),
        instance: s.instance.unwrap_or("").to_string(),
        ..SessionSpec::default()
    };
    check(&spec).map_err(|why| {
        let field = ["teid", "peer_teid", "ue6", "ue4", "peer", "qfi", "instance"]
            .into_iter()
            .find(|f| why.starts_with(f) || why.contains(&format!("{f} ")))
            .unwrap_or("ue4");
        (field, why)
    })?;
    Ok(spec)
}

/// Checks `[gtpu]` given the interfaces (the endpoints must be their
/// addresses) and the names taken by interfaces and tunnels.
pub(super) fn validate_gtpu(
    v: &V<'_>,
    raw: &RawGtpu,
    ifaces: &[IfaceCfg],
    taken: impl Fn(&str) -> bool,
) -> Result<GtpuSpec, ConfigError> {
    let mut spec = GtpuSpec::default();
    if raw.endpoints.is_empty() {
        return v.err(
            "gtpu.endpoints",
            "GTP-U needs at least one endpoint address (one of the interfaces' addresses)",
        );
    }
    if raw.endpoints.len() > MAX_ENDPOINTS {
        return v.err(
            "gtpu.endpoints",
            format!("{} endpoints; at most {MAX_ENDPOINTS}", raw.endpoints.len()),
        );
    }
    for (i, e) in raw.endpoints.iter().enumerate() {
        let key = format!("gtpu.endpoints[{i}]");
        let Ok(a) = e.parse::<IpAddr>() else {
            return v.err(key, format!("\"{e}\" is not an IP address"));
        };
        let ours = ifaces.iter().any(|f| match a {
            IpAddr::V4(x) => f.ipv4.iter().any(|&(y, _)| y == x),
            IpAddr::V6(x) => f.ipv6.iter().any(|&(y, _)| y == x),
        });
        if !ours {
            return v.err(
                key,
                format!(
                    "{a} is not an address of any interface; an endpoint is one of our addresses"
                ),
            );
        }
        if spec.endpoints.contains(&a) {
            return v.err(key, format!("{a} is listed twice"));
        }
        spec.endpoints.push(a);
    }
    if let Some(name) = &raw.interface {
        if name.is_empty()
            || name.len() > 15
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return v.err(
                "gtpu.interface",
                format!(
                    "\"{name}\" is not an interface name (1 to 15 letters, digits, '-', '_', '.')"
                ),
            );
        }
        spec.iface = name.clone();
    }
    if taken(&spec.iface) {
        return v.err(
            "gtpu.interface",
            format!(
                "\"{}\" is already the name of an interface or tunnel",
                spec.iface
            ),
        );
    }
    if let Some(m) = raw.mtu {
        if !(1280..=9000).contains(&m) {
            return v.err(
                "gtpu.mtu",
                format!("{m} is out of range; expected 1280 to 9000 (the largest inner packet)"),
            );
        }
        spec.mtu = m as u16;
    }
    if let Some(n) = raw.max_sessions {
        if n == 0 || n > MAX_SESSIONS_LIMIT as u64 {
            return v.err(
                "gtpu.max_sessions",
                format!("{n} is out of range; expected 1 to {MAX_SESSIONS_LIMIT} (default {DEFAULT_MAX_SESSIONS})"),
            );
        }
        spec.max_sessions = n as usize;
    }
    if let Some(r) = raw.error_rate {
        if !(1..=100_000).contains(&r) {
            return v.err(
                "gtpu.error_rate",
                format!("{r} is out of range; expected 1 to 100000 messages per second"),
            );
        }
        spec.error_rate = r;
    }
    for (i, p) in raw.peers.iter().enumerate() {
        let key = format!("gtpu.peers[{i}]");
        let Ok(a) = p.parse::<IpAddr>() else {
            return v.err(key, format!("\"{p}\" is not an IP address"));
        };
        if let Some(why) = xgw_pipelines::router::spec::special_addr(a, 128) {
            return v.err(key, format!("{a}: {why}, not a GTP-U peer"));
        }
        if !spec.endpoints.iter().any(|e| e.is_ipv4() == a.is_ipv4()) {
            return v.err(
                key,
                format!("{a}: no GTP-U endpoint of its family ([gtpu] endpoints) to reach it from"),
            );
        }
        if spec.peers.contains(&a) {
            return v.err(key, format!("{a} is listed twice"));
        }
        if spec.peers.len() >= MAX_PEERS {
            return v.err(key, format!("at most {MAX_PEERS} peers"));
        }
        spec.peers.push(a);
    }
    if let Some(n) = raw.echo_interval {
        if n != 0 && !(1..=3600).contains(&n) {
            return v.err(
                "gtpu.echo_interval",
                format!("{n} is out of range; expected 0 (no echo) or 1 to 3600 seconds (TS 29.281 §7.2.1: not more often than every 60 s)"),
            );
        }
        spec.echo.interval_s = n;
    }
    if let Some(n) = raw.echo_timeout_ms {
        if !(10..=60_000).contains(&n) {
            return v.err(
                "gtpu.echo_timeout_ms",
                format!("{n} is out of range; expected 10 to 60000 ms (T3-RESPONSE)"),
            );
        }
        spec.echo.t3_ms = n;
    }
    if let Some(n) = raw.echo_retries {
        if !(1..=10).contains(&n) {
            return v.err(
                "gtpu.echo_retries",
                format!("{n} is out of range; expected 1 to 10 tries (N3-REQUESTS)"),
            );
        }
        spec.echo.n3 = n;
    }
    if spec.echo.interval_s != 0
        && u64::from(spec.echo.t3_ms) * u64::from(spec.echo.n3)
            > u64::from(spec.echo.interval_s) * 1000
    {
        return v.err(
            "gtpu.echo_timeout_ms",
            format!(
                "{} tries of {} ms outlast the echo interval of {} s",
                spec.echo.n3, spec.echo.t3_ms, spec.echo.interval_s
            ),
        );
    }
    for (i, s) in raw.sessions.iter().enumerate() {
        let input = SessionInput {
            id: s.id,
            local: s.local.as_deref(),
            teid: s.teid,
            ue4: s.ue4.as_deref(),
            ue6: s.ue6.as_deref(),
            peer: &s.peer,
            peer_teid: s.peer_teid,
            qfi: s.qfi,
            mbr_ul: s.mbr_ul,
            mbr_dl: s.mbr_dl,
            gate_ul: s.gate_ul,
            gate_dl: s.gate_dl,
            instance: s.instance.as_deref(),
        };
        let x = parse_session(&input, &spec.endpoints).map_err(|(f, msg)| ConfigError::Key {
            file: v.file.to_string(),
            key: format!("gtpu.sessions[{i}].{f}"),
            msg,
        })?;
        spec.sessions.push(x);
    }
    // Against each other (unique id, F-TEID, UE address; the bound).
    if let Err((i, e)) = Sessions::validate(&spec) {
        return v.err(format!("gtpu.sessions[{i}]"), e.to_string());
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::super::router::tests::{err, ROUTER};
    use super::super::{Config, PipelineCfg};
    use xgw_pipelines::router::spec::{RouteTarget, GTP_IFACE};

    fn gtp(extra: &str) -> String {
        format!(
            r#"{ROUTER}
        [[routes]]
        prefix = "10.45.0.0/16"
        interface = "gtp0"
        [gtpu]
        endpoints = ["192.0.2.1"]
        {extra}
        [[gtpu.sessions]]
        id = 1
        teid = 0x100
        ue4 = "10.45.0.2"
        ue6 = "2001:db8:45:1::/64"
        peer = "192.0.2.2"
        peer_teid = 0x1100
        qfi = 9
        mbr_dl = 10000000
    "#
        )
    }

    #[test]
    fn gtpu_config_validates() {
        let c = Config::parse(&gtp(""), "g.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        let g = r.gtpu.as_ref().unwrap();
        assert_eq!(g.iface, "gtp0");
        assert_eq!(
            g.sessions[0].local,
            "192.0.2.1".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!((g.sessions[0].teid, g.sessions[0].qfi), (0x100, Some(9)));
        assert_eq!(
            r.routes.last().unwrap().target,
            RouteTarget::Connected { iface: GTP_IFACE }
        );
    }

    #[test]
    fn more_endpoints_than_an_octet_indexes_are_refused() {
        // The dataplane keeps a session's endpoint as an index of one
        // octet: endpoint 256 became endpoint 0, so G-PDUs to one address
        // found the sessions of another.
        let addrs: Vec<String> = (1..=257u32)
            .map(|k| format!("10.1.{}.{}", k >> 8, k & 0xff))
            .collect();
        let quoted = |suffix: &str| {
            addrs
                .iter()
                .map(|a| format!("\"{a}{suffix}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = gtp("")
            .replace(
                "ipv4 = [\"10.1.0.1/24\"]",
                &format!("ipv4 = [{}]", quoted("/16")),
            )
            .replace(
                "endpoints = [\"192.0.2.1\"]",
                &format!("endpoints = [{}]", quoted("")),
            );
        let e = err(&text);
        assert!(
            e.contains("gtpu.endpoints") && e.contains("257 endpoints; at most 256"),
            "{e}"
        );
        // 256 are fine.
        let text = text.replace(", \"10.1.1.1\"]", "]");
        assert!(Config::parse(&text, "g.toml").is_ok());
    }

    #[test]
    fn gtpu_errors_name_their_key() {
        for (text, key, what) in [
            (
                gtp("").replace("endpoints = [\"192.0.2.1\"]", "endpoints = [\"192.0.2.9\"]"),
                "gtpu.endpoints[0]",
                "not an address of any interface",
            ),
            (
                gtp("interface = \"lan\""),
                "gtpu.interface",
                "already the name",
            ),
            (gtp("mtu = 100"), "gtpu.mtu", "1280 to 9000"),
            (gtp("peers = [\"2001:db8::9\"]"), "gtpu.peers[0]", "no GTP-U endpoint of its family"),
            (gtp("peers = [\"192.0.2.2\", \"192.0.2.2\"]"), "gtpu.peers[1]", "listed twice"),
            (gtp("peers = [\"224.0.0.1\"]"), "gtpu.peers[0]", "not a GTP-U peer"),
            (gtp("echo_interval = 5000"), "gtpu.echo_interval", "0 (no echo) or 1 to 3600"),
            (gtp("echo_retries = 0"), "gtpu.echo_retries", "N3-REQUESTS"),
            (gtp("echo_interval = 1\necho_timeout_ms = 600"), "gtpu.echo_timeout_ms", "outlast"),
            (gtp("max_sessions = 0"), "gtpu.max_sessions", "out of range"),
            (
                gtp("").replace("teid = 0x100", "teid = 0"),
                "gtpu.sessions[0].teid",
                "reserved",
            ),
            (
                gtp("").replace("peer = \"192.0.2.2\"", "peer = \"2001:db8::2\""),
                "gtpu.sessions[0].peer",
                "no GTP-U endpoint of its family",
            ),
            (
                gtp("").replace("ue6 = \"2001:db8:45:1::/64\"", "ue6 = \"2001:db8:45:1::/56\""),
                "gtpu.sessions[0].ue6",
                "/64",
            ),
            (
                gtp("").replace("qfi = 9", "qfi = 70"),
                "gtpu.sessions[0].qfi",
                "6 bits",
            ),
            (
                format!(
                    "{}\n        [[gtpu.sessions]]\n        id = 2\n        teid = 0x100\n        ue4 = \"10.45.0.3\"\n        peer = \"192.0.2.2\"\n        peer_teid = 5\n",
                    gtp("")
                ),
                "gtpu.sessions[1]",
                "TEID 0x100 on 192.0.2.1 belongs to session 1",
            ),
            (
                gtp("").replace("interface = \"gtp0\"", "interface = \"gtp0\"\n        via = \"10.1.0.9\""),
                "routes[2].via",
                "name no gateway",
            ),
            (
                gtp("").replace("interface = \"gtp0\"", "interface = \"gtp1\""),
                "routes[2].interface",
                "gtp0",
            ),
        ] {
            let e = err(&text);
            assert!(e.contains(&format!("key `{key}")) && e.contains(what), "{key}: {e}");
        }
        // Without a router, no [gtpu].
        let l2 = r#"
            [[ports]]
            name = "a"
            driver = "mem"
            [[ports]]
            name = "b"
            driver = "mem"
            [pipeline]
            kind = "l2fwd"
            [gtpu]
            endpoints = ["192.0.2.1"]
        "#;
        let e = err(l2);
        assert!(e.contains("key `gtpu`"), "{e}");
    }
}
