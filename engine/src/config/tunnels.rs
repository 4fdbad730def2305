//! `[[tunnels]]`: IP-in-IP tunnels (the checks of one tunnel are
//! `xgw_pipelines::router::spec::parse_tunnel`'s).

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;
use xgw_pipelines::router::spec::{parse_tunnel, TunnelInput, TunnelSpec, MAX_TUNNELS, TUN_BASE};

use super::router::{IfaceCfg, Owned};
use super::{ConfigError, V};

/// A number or a word (`ttl = 64` or `ttl = "inherit"`).
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
pub(super) enum NumOrWord {
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
pub(super) struct RawTunnel {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) local: String,
    pub(super) remote: String,
    #[serde(default)]
    pub(super) ipv4: Vec<String>,
    #[serde(default)]
    pub(super) ipv6: Vec<String>,
    pub(super) mtu: Option<u32>,
    pub(super) ttl: Option<NumOrWord>,
    pub(super) dscp: Option<NumOrWord>,
    pub(super) df: Option<String>,
    pub(super) ecn: Option<String>,
    pub(super) rpf: Option<String>,
}

/// Checks `[[tunnels]]`, given the interfaces (`names`: their indexes by
/// name) and the addresses they own; claims the tunnels' addresses.
pub(super) fn validate_tunnels(
    v: &V<'_>,
    raw_tunnels: &[RawTunnel],
    names: &HashMap<&str, usize>,
    ifaces: &[IfaceCfg],
    owned: &mut Owned,
) -> Result<Vec<TunnelSpec>, ConfigError> {
    let is_ours = |ip: IpAddr| {
        ifaces.iter().any(|f: &IfaceCfg| match ip {
            IpAddr::V4(a) => f.ipv4.iter().any(|&(x, _)| x == a),
            IpAddr::V6(a) => f.ipv6.iter().any(|&(x, _)| x == a),
        })
    };
    let mut tunnels: Vec<TunnelSpec> = Vec::new();
    for (i, t) in raw_tunnels.iter().enumerate() {
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
    Ok(tunnels)
}
