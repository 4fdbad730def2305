//! `[nat64]`: the stateless IP/ICMP translator (SIIT, RFC 7915): its
//! interface, the RFC 6052 pool6 prefix, Explicit Address Mappings (RFC
//! 7757) and RFC 6791 pools.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use xgw_pipelines::nat64::addr::{Eam, EamTable, Pool6, MAX_EAM};
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
    match raw.mode.as_deref().unwrap_or("siit") {
        "siit" => {}
        "nat64" | "stateful" => {
            return v.err(
                "nat64.mode",
                "stateful NAT64 (RFC 6146) is not implemented yet; mode = \"siit\" is the stateless translator",
            )
        }
        m => return v.err("nat64.mode", format!("\"{m}\" is not a mode; expected \"siit\"")),
    }
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
    })
}
