//! The L2 cross-connect (`pipeline.kind = "l2fwd"`): one stage, no
//! shared state beyond its config, no control commands.

use std::any::Any;

use xgw_pipelines::l2fwd::{L2Fwd as Stage, MacMode, Side};
use xgw_pipelines::wire::ethernet::MacAddr;
use xgw_pipelines::{Graph, NodeInfo, Pipeline, PortId};

use super::{Function, Instance};
use crate::config::{Config, ConfigError, PairCfg, PipelineCfg, Section};

/// The l2fwd function.
pub struct L2fwd;

impl Function for L2fwd {
    fn name(&self) -> &'static str {
        "l2fwd"
    }

    fn owns(&self, cfg: &PipelineCfg) -> bool {
        matches!(cfg, PipelineCfg::L2fwd { .. })
    }

    fn validate(&self, section: &Section<'_>) -> Result<PipelineCfg, ConfigError> {
        crate::config::l2fwd::validate(section)
    }

    fn nodes(&self, cfg: &PipelineCfg) -> Vec<NodeInfo> {
        let PipelineCfg::L2fwd { mode, .. } = cfg else {
            return Vec::new();
        };
        Graph::new(vec![Box::new(Stage::new(*mode, &[]))])
            .nodes()
            .to_vec()
    }

    fn instance(
        &self,
        cfg: &Config,
        macs: &[Option<MacAddr>],
        _workers: usize,
    ) -> Result<Box<dyn Instance>, String> {
        let PipelineCfg::L2fwd { mode, pairs } = &cfg.pipeline else {
            return Err("not an l2fwd config".into());
        };
        Ok(Box::new(L2fwdInstance {
            mode: *mode,
            pairs: pairs.clone(),
            macs: macs.to_vec(),
        }))
    }
}

/// An engine's l2fwd: what every worker's stage is built from.
struct L2fwdInstance {
    mode: MacMode,
    pairs: Vec<PairCfg>,
    macs: Vec<Option<MacAddr>>,
}

impl Instance for L2fwdInstance {
    fn function(&self) -> &'static dyn Function {
        &L2fwd
    }

    fn build_worker(&self, _worker: usize) -> Result<Box<dyn Pipeline>, String> {
        let side = |port: usize, peer: Option<MacAddr>| Side {
            port: PortId(port as u16),
            mac: self.macs[port].unwrap_or_default(),
            peer: peer.unwrap_or_default(),
        };
        let pairs: Vec<(Side, Side)> = self
            .pairs
            .iter()
            .map(|p| (side(p.a, p.a_peer), side(p.b, p.b_peer)))
            .collect();
        Ok(Box::new(Graph::new(vec![Box::new(Stage::new(
            self.mode, &pairs,
        ))])))
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
