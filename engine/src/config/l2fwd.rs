//! `[pipeline.l2fwd]`: the cross-connected port pairs.

use std::collections::HashMap;

use serde::Deserialize;
use xgw_pipelines::l2fwd::MacMode;
use xgw_pipelines::wire::ethernet::MacAddr;

use super::ports::Driver;
use super::value::Mac;
use super::{ConfigError, PipelineCfg, Raw, V};

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawMacMode {
    Io,
    Mac,
    Macswap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawL2fwd {
    pub(super) mode: RawMacMode,
    pub(super) pairs: Vec<RawPair>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPair {
    pub(super) a: String,
    pub(super) b: String,
    pub(super) a_peer: Option<Mac>,
    pub(super) b_peer: Option<Mac>,
}

#[derive(Clone, Debug)]
pub struct PairCfg {
    pub a: usize,
    pub b: usize,
    pub a_peer: Option<MacAddr>,
    pub b_peer: Option<MacAddr>,
}

/// `pipeline.kind = "l2fwd"`: `[pipeline.l2fwd]`, validated (for
/// [`crate::function::l2fwd`]).
pub(crate) fn validate(s: &super::Section<'_>) -> Result<PipelineCfg, ConfigError> {
    validate_l2fwd(s.v, s.raw, s.names)
}

/// Checks `[pipeline.l2fwd]`; `names` gives each port's index.
pub(super) fn validate_l2fwd(
    v: &V<'_>,
    raw: &Raw,
    names: &HashMap<&str, usize>,
) -> Result<PipelineCfg, ConfigError> {
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
            .map(|p| p.name.0.as_str())
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
        let peer = |f: &str, m: Option<Mac>| -> Result<Option<MacAddr>, ConfigError> {
            let key = format!("pipeline.l2fwd.pairs[{i}].{f}");
            match (m, mode) {
                (Some(m), MacMode::Rewrite) => Ok(Some(m.0)),
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
        let a_peer = peer("a_peer", pr.a_peer)?;
        let b_peer = peer("b_peer", pr.b_peer)?;
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
    Ok(PipelineCfg::L2fwd { mode, pairs })
}
