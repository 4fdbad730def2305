//! `[pfcp]`: the PFCP agent (see `crate::pfcp`).

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::{ConfigError, V};
use crate::pfcp::{NodeId, PfcpCfg, PORT};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPfcp {
    address: String,
    port: Option<u16>,
    node_id: Option<String>,
    heartbeat_interval: Option<u32>,
    t1_ms: Option<u32>,
    n1: Option<u32>,
    max_peers: Option<u32>,
    peers: Option<Vec<String>>,
}

pub(super) fn validate_pfcp(v: &V<'_>, raw: &RawPfcp, gtpu: bool) -> Result<PfcpCfg, ConfigError> {
    if !gtpu {
        return v.err(
            "pfcp",
            "PFCP drives GTP-U sessions: configure [gtpu] (its endpoints) too",
        );
    }
    let Ok(a) = raw.address.parse::<IpAddr>() else {
        return v.err(
            "pfcp.address",
            format!("\"{}\" is not an IP address", raw.address),
        );
    };
    if a.is_unspecified() || a.is_multicast() {
        return v.err(
            "pfcp.address",
            format!("{a}: the agent listens on one address of the host (a management interface)"),
        );
    }
    let port = raw.port.unwrap_or(PORT);
    if port == 0 {
        return v.err("pfcp.port", "0 is not a port (default 8805)");
    }
    let node_id = match &raw.node_id {
        None => NodeId::Ip(a),
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => NodeId::Ip(ip),
            Err(_) => {
                let ok = !s.is_empty()
                    && s.len() <= 253
                    && s.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                    });
                if !ok {
                    return v.err(
                        "pfcp.node_id",
                        format!("\"{s}\" is neither an IP address nor an FQDN"),
                    );
                }
                NodeId::Fqdn(s.clone())
            }
        },
    };
    let range = |key: &str, x: Option<u32>, lo: u32, hi: u32, def: u32, what: &str| {
        let n = x.unwrap_or(def);
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            v.err(
                key,
                format!("{n} is out of range; expected {lo} to {hi} {what} (default {def})"),
            )
        }
    };
    let mut peers = Vec::new();
    for (i, s) in raw.peers.iter().flatten().enumerate() {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.as_str(), None),
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            return v.err(
                format!("pfcp.peers[{i}]"),
                format!("\"{s}\" is not an address or prefix (\"10.0.0.5\", \"10.0.0.0/24\")"),
            );
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len.map(|l| l.parse::<u8>()) {
            None => max,
            Some(Ok(l)) if l <= max => l,
            _ => {
                return v.err(
                    format!("pfcp.peers[{i}]"),
                    format!("\"{s}\": the prefix length must be 0 to {max}"),
                )
            }
        };
        peers.push((ip, len));
    }
    Ok(PfcpCfg {
        listen: SocketAddr::new(a, port),
        node_id,
        heartbeat_s: range(
            "pfcp.heartbeat_interval",
            raw.heartbeat_interval,
            1,
            3600,
            60,
            "seconds",
        )?,
        t1_ms: range("pfcp.t1_ms", raw.t1_ms, 10, 60_000, 3000, "ms")?,
        n1: range("pfcp.n1", raw.n1, 1, 10, 3, "tries")?,
        max_peers: range("pfcp.max_peers", raw.max_peers, 1, 1024, 16, "associations")? as usize,
        peers,
    })
}

#[cfg(test)]
mod tests {
    use super::super::router::tests::{err, ROUTER};
    use super::super::{Config, PipelineCfg};
    use crate::pfcp::NodeId;

    fn cfg(gtpu: bool, pfcp: &str) -> String {
        let g = if gtpu {
            "[gtpu]\nendpoints = [\"192.0.2.1\"]\n"
        } else {
            ""
        };
        format!("{ROUTER}\n{g}[pfcp]\n{pfcp}\n")
    }

    #[test]
    fn pfcp_config_validates_with_defaults() {
        let c = Config::parse(&cfg(true, "address = \"10.44.0.1\""), "p.toml").unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        let p = r.pfcp.as_ref().unwrap();
        assert_eq!(p.listen, "10.44.0.1:8805".parse().unwrap());
        assert_eq!(p.node_id, NodeId::Ip("10.44.0.1".parse().unwrap()));
        assert_eq!(
            (p.heartbeat_s, p.t1_ms, p.n1, p.max_peers),
            (60, 3000, 3, 16)
        );
        let c = Config::parse(
            &cfg(
                true,
                "address = \"fd00::1\"\nnode_id = \"upf1.example.org\"\nport = 18805",
            ),
            "p.toml",
        )
        .unwrap();
        let PipelineCfg::Router(r) = &c.pipeline else {
            panic!()
        };
        let p = r.pfcp.as_ref().unwrap();
        assert_eq!(p.node_id, NodeId::Fqdn("upf1.example.org".into()));
        assert_eq!(p.listen.port(), 18805);
    }

    #[test]
    fn pfcp_errors_name_their_key() {
        for (text, key, what) in [
            (
                cfg(false, "address = \"10.44.0.1\""),
                "pfcp",
                "configure [gtpu]",
            ),
            (
                cfg(true, "address = \"x\""),
                "pfcp.address",
                "not an IP address",
            ),
            (
                cfg(true, "address = \"0.0.0.0\""),
                "pfcp.address",
                "one address",
            ),
            (
                cfg(true, "address = \"10.44.0.1\"\nnode_id = \"bad name!\""),
                "pfcp.node_id",
                "neither an IP address nor an FQDN",
            ),
            (
                cfg(true, "address = \"10.44.0.1\"\nheartbeat_interval = 0"),
                "pfcp.heartbeat_interval",
                "1 to 3600",
            ),
            (
                cfg(true, "address = \"10.44.0.1\"\nn1 = 11"),
                "pfcp.n1",
                "1 to 10",
            ),
            (
                cfg(true, "address = \"10.44.0.1\"\nbogus = 1"),
                "pfcp.bogus",
                "unknown field",
            ),
        ] {
            let e = err(&text);
            assert!(
                e.contains(&format!("key `{key}")) && e.contains(what),
                "{key}: {e}"
            );
        }
    }
}
