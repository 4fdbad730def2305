//! `[nat64]`: the stateless IP/ICMP translator (SIIT, RFC 7915): its
//! interface, the RFC 6052 pool6 prefix, Explicit Address Mappings (RFC
//! 7757) and RFC 6791 pools.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use xgw_pipelines::nat64::addr::{Eam, EamTable, Pool6, MAX_EAM};
use xgw_pipelines::nat64::stateful::{
    Pool4, StatefulSpec, StaticBib, Timeouts, DEFAULT_MAX_SESSIONS, MAX_SESSIONS_LIMIT,
};
use xgw_pipelines::nat64::{Nat64Spec, DEFAULT_LOWEST_IPV6_MTU};

use super::{ConfigError, V};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNat64 {
    mode: Option<String>,
    interface: Option<String>,
    pool6: Option<String>,
    #[serde(default)]
    eam: Vec<RawEam>,
    rfc6791_v4: Option<String>,
    rfc6791_v6: Option<String>,
    lowest_ipv6_mtu: Option<u32>,
    amend_udp_checksum_zero: Option<bool>,
    wkp_strict: Option<bool>,
    // Stateful NAT64 (mode = "nat64").
    #[serde(default)]
    pool4: Vec<RawPool4>,
    #[serde(default)]
    static_bib: Vec<RawBib>,
    max_sessions: Option<u32>,
    timeouts: Option<RawTimeouts>,
    address_dependent_filtering: Option<bool>,
    drop_externally_initiated_tcp: Option<bool>,
    max_stored_v4_syns: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool4 {
    address: String,
    /// [first, last]; default [1024, 65535] (ICMP identifiers too).
    ports: Option<[u32; 2]>,
    /// Default all three.
    protocols: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBib {
    protocol: String,
    ipv6: String,
    ipv6_port: u32,
    ipv4: String,
    ipv4_port: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    udp: Option<u32>,
    tcp_established: Option<u32>,
    tcp_transitory: Option<u32>,
    icmp: Option<u32>,
    tcp_incoming_syn: Option<u32>,
}

fn proto_of(s: &str) -> Option<u8> {
    match s {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        _ => None,
    }
}

fn validate_stateful(v: &V<'_>, raw: &RawNat64) -> Result<StatefulSpec, ConfigError> {
    if raw.pool4.is_empty() {
        return v.err(
            "nat64.pool4",
            "stateful NAT64 needs at least one pool4 address",
        );
    }
    let mut pool4 = Vec::new();
    for (i, p) in raw.pool4.iter().enumerate() {
        let k = |x: &str| format!("nat64.pool4[{i}].{x}");
        let Ok(addr) = p.address.parse::<Ipv4Addr>() else {
            return v.err(
                k("address"),
                format!("\"{}\" is not an IPv4 address", p.address),
            );
        };
        let [lo, hi] = p.ports.unwrap_or([1024, 65535]);
        if lo == 0 || lo > hi || hi > 65535 {
            return v.err(
                k("ports"),
                format!("[{lo}, {hi}] is not a range within 1 to 65535"),
            );
        }
        let (mut tcp, mut udp, mut icmp) = (
            p.protocols.is_none(),
            p.protocols.is_none(),
            p.protocols.is_none(),
        );
        for s in p.protocols.iter().flatten() {
            match proto_of(s) {
                Some(6) => tcp = true,
                Some(17) => udp = true,
                Some(_) => icmp = true,
                None => return v.err(k("protocols"), format!("\"{s}\" is not tcp, udp or icmp")),
            }
        }
        let e = Pool4 {
            addr,
            lo: lo as u16,
            hi: hi as u16,
            tcp,
            udp,
            icmp,
        };
        for q in &pool4 {
            let q: &Pool4 = q;
            if q.addr == addr
                && ((q.tcp && tcp) || (q.udp && udp) || (q.icmp && icmp))
                && q.lo <= e.hi
                && e.lo <= q.hi
            {
                return v.err(
                    k("ports"),
                    format!("overlaps another pool4 range of {addr}"),
                );
            }
        }
        pool4.push(e);
    }
    let mut static_bib: Vec<StaticBib> = Vec::new();
    for (i, b) in raw.static_bib.iter().enumerate() {
        let k = |x: &str| format!("nat64.static_bib[{i}].{x}");
        let Some(proto) = proto_of(&b.protocol) else {
            return v.err(
                k("protocol"),
                format!("\"{}\" is not tcp, udp or icmp", b.protocol),
            );
        };
        let Ok(v6) = b.ipv6.parse::<Ipv6Addr>() else {
            return v.err(k("ipv6"), format!("\"{}\" is not an IPv6 address", b.ipv6));
        };
        let Ok(v4) = b.ipv4.parse::<Ipv4Addr>() else {
            return v.err(k("ipv4"), format!("\"{}\" is not an IPv4 address", b.ipv4));
        };
        if b.ipv6_port > 65535 || b.ipv4_port > 65535 {
            return v.err(k("ipv4_port"), "ports are 0 to 65535");
        }
        let (port6, port4) = (b.ipv6_port as u16, b.ipv4_port as u16);
        if !pool4.iter().any(|p| p.addr == v4) {
            return v.err(k("ipv4"), format!("{v4} is not a pool4 address"));
        }
        if static_bib.iter().any(|x| {
            x.proto == proto && ((x.v6, x.port6) == (v6, port6) || (x.v4, x.port4) == (v4, port4))
        }) {
            return v.err(
                k("ipv6"),
                "a static binding of this protocol already uses one of these transport addresses",
            );
        }
        static_bib.push(StaticBib {
            proto,
            v6,
            port6,
            v4,
            port4,
        });
    }
    let max_sessions = raw.max_sessions.unwrap_or(DEFAULT_MAX_SESSIONS);
    if !(1..=MAX_SESSIONS_LIMIT).contains(&max_sessions) {
        return v.err(
            "nat64.max_sessions",
            format!(
                "{max_sessions} is out of range; expected 1 to {MAX_SESSIONS_LIMIT} (per worker)"
            ),
        );
    }
    let d = Timeouts::default();
    let t = raw.timeouts.as_ref();
    let timeouts = Timeouts {
        udp_s: t.and_then(|t| t.udp).unwrap_or(d.udp_s),
        tcp_est_s: t.and_then(|t| t.tcp_established).unwrap_or(d.tcp_est_s),
        tcp_trans_s: t.and_then(|t| t.tcp_transitory).unwrap_or(d.tcp_trans_s),
        icmp_s: t.and_then(|t| t.icmp).unwrap_or(d.icmp_s),
        tcp_incoming_syn_s: t
            .and_then(|t| t.tcp_incoming_syn)
            .unwrap_or(d.tcp_incoming_syn_s),
    };
    // RFC 6146 §4: UDP at least 2 min, TCP established at least 2 h 4 min
    // is recommended; below a second nothing would ever answer.
    for (k, s) in [
        ("udp", timeouts.udp_s),
        ("tcp_established", timeouts.tcp_est_s),
        ("tcp_transitory", timeouts.tcp_trans_s),
        ("icmp", timeouts.icmp_s),
        ("tcp_incoming_syn", timeouts.tcp_incoming_syn_s),
    ] {
        if s == 0 {
            return v.err(
                format!("nat64.timeouts.{k}"),
                "a timeout is at least 1 second",
            );
        }
    }
    Ok(StatefulSpec {
        pool4,
        static_bib,
        max_sessions,
        timeouts,
        address_dependent_filtering: raw.address_dependent_filtering.unwrap_or(false),
        drop_externally_initiated_tcp: raw.drop_externally_initiated_tcp.unwrap_or(false),
        max_stored_v4_syns: match raw.max_stored_v4_syns.unwrap_or(10) {
            n @ 0..=1024 => n,
            n => {
                return v.err(
                    "nat64.max_stored_v4_syns",
                    format!("{n} is out of range; expected 0 (none held) to 1024 (per worker)"),
                )
            }
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEam {
    ipv6: String,
    ipv4: String,
}

/// The default interface name.
pub const DEFAULT_IFACE: &str = "nat64";

fn prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let a: IpAddr = a.parse().ok()?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    let l = if l.is_empty() { max } else { l.parse().ok()? };
    (l <= max).then_some((a, l))
}

fn prefix6(v: &V<'_>, key: &str, s: &str) -> Result<(Ipv6Addr, u8), ConfigError> {
    match prefix(s) {
        Some((IpAddr::V6(a), l)) => Ok((a, l)),
        _ => v.err(
            key,
            format!("\"{s}\" is not an IPv6 prefix (address/length)"),
        ),
    }
}

fn prefix4(v: &V<'_>, key: &str, s: &str) -> Result<(Ipv4Addr, u8), ConfigError> {
    match prefix(s) {
        Some((IpAddr::V4(a), l)) => Ok((a, l)),
        _ => v.err(
            key,
            format!("\"{s}\" is not an IPv4 prefix (address/length)"),
        ),
    }
}

pub(super) fn validate_nat64(
    v: &V<'_>,
    raw: &RawNat64,
    taken: impl Fn(&str) -> bool,
) -> Result<Nat64Spec, ConfigError> {
    let stateful = match raw.mode.as_deref().unwrap_or("siit") {
        "siit" => {
            for (k, set) in [
                ("pool4", !raw.pool4.is_empty()),
                ("static_bib", !raw.static_bib.is_empty()),
                ("max_sessions", raw.max_sessions.is_some()),
                ("timeouts", raw.timeouts.is_some()),
                (
                    "address_dependent_filtering",
                    raw.address_dependent_filtering.is_some(),
                ),
                (
                    "drop_externally_initiated_tcp",
                    raw.drop_externally_initiated_tcp.is_some(),
                ),
                ("max_stored_v4_syns", raw.max_stored_v4_syns.is_some()),
            ] {
                if set {
                    return v.err(
                        format!("nat64.{k}"),
                        "only stateful NAT64 (mode = \"nat64\") uses this key",
                    );
                }
            }
            None
        }
        "nat64" => Some(validate_stateful(v, raw)?),
        m => {
            return v.err(
                "nat64.mode",
                format!(
                    "\"{m}\" is not a mode; expected \"siit\" (stateless) or \"nat64\" (stateful)"
                ),
            )
        }
    };
    let iface = raw
        .interface
        .clone()
        .unwrap_or_else(|| DEFAULT_IFACE.into());
    if iface.is_empty() || taken(&iface) {
        return v.err(
            "nat64.interface",
            format!("\"{iface}\" is empty or already the name of an interface, tunnel or the GTP-U interface"),
        );
    }
    let pool6 = match raw.pool6.as_deref() {
        None | Some("") => None,
        Some(s) => {
            let (a, l) = prefix6(v, "nat64.pool6", s)?;
            let Some(p) = Pool6::new(a, l) else {
                return v.err(
                    "nat64.pool6",
                    format!(
                        "/{l} is not an RFC 6052 prefix length; expected 32, 40, 48, 56, 64 or 96"
                    ),
                );
            };
            if p.len < 96 && a.octets()[8] != 0 {
                return v.err(
                    "nat64.pool6",
                    "bits 64 to 71 of the prefix must be zero (RFC 6052 §2.2)",
                );
            }
            Some(p)
        }
    };
    let pool6 = match (raw.wkp_strict, pool6) {
        (Some(true), Some(p)) if p.is_wkp() => Some(Pool6 { strict: true, ..p }),
        (Some(true), p) => {
            let what = p.map_or("no pool6".to_string(), |p| {
                format!("pool6 is {}/{}", p.prefix, p.len)
            });
            return v.err(
                "nat64.wkp_strict",
                format!(
                    "applies to the Well-Known Prefix 64:ff9b::/96 only (RFC 6052 §3.1); {what}"
                ),
            );
        }
        (_, p) => p,
    };
    if raw.eam.len() > MAX_EAM {
        return v.err(
            "nat64.eam",
            format!("{} entries; at most {MAX_EAM}", raw.eam.len()),
        );
    }
    let mut eams = Vec::new();
    for (i, e) in raw.eam.iter().enumerate() {
        let (a6, l6) = prefix6(v, &format!("nat64.eam[{i}].ipv6"), &e.ipv6)?;
        let (a4, l4) = prefix4(v, &format!("nat64.eam[{i}].ipv4"), &e.ipv4)?;
        match Eam::new(a6, l6, a4, l4) {
            Ok(x) => eams.push(x),
            Err(m) => return v.err(format!("nat64.eam[{i}]"), m),
        }
    }
    let eam = match EamTable::new(&eams) {
        Ok(t) => t,
        Err(m) => return v.err("nat64.eam", m),
    };
    let rfc6791_v4 = match raw.rfc6791_v4.as_deref() {
        None | Some("") => None,
        Some(s) => Some(prefix4(v, "nat64.rfc6791_v4", s)?),
    };
    let rfc6791_v6 = match raw.rfc6791_v6.as_deref() {
        None | Some("") => None,
        Some(s) => Some(prefix6(v, "nat64.rfc6791_v6", s)?),
    };
    let lowest = raw
        .lowest_ipv6_mtu
        .unwrap_or(u32::from(DEFAULT_LOWEST_IPV6_MTU));
    if !(1280..=9000).contains(&lowest) {
        return v.err(
            "nat64.lowest_ipv6_mtu",
            format!("{lowest} is out of range; expected 1280 to 9000"),
        );
    }
    if stateful.is_some() && (pool6.is_none() || !eam.is_empty()) {
        return v.err(
            "nat64.pool6",
            "stateful NAT64 needs a pool6 prefix and takes no EAM entries (RFC 6146 maps through pool6)",
        );
    }
    if pool6.is_none() && eam.is_empty() {
        return v.err(
            "nat64",
            "the translator needs a pool6 prefix or at least one EAM entry to map addresses",
        );
    }
    Ok(Nat64Spec {
        iface,
        pool6,
        eam,
        rfc6791_v4,
        rfc6791_v6,
        lowest_ipv6_mtu: lowest as u16,
        amend_udp_checksum_zero: raw.amend_udp_checksum_zero.unwrap_or(false),
        stateful,
    })
}
