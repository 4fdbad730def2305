//! `[engine]` (cores, burst, idle strategy, UMEM) and `[control]`.

use std::path::PathBuf;

use super::value::{Burst, FrameSize, Frames, SocketPath};
use super::{ConfigError, V};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    #[serde(default = "default_cores")]
    pub(super) cores: Vec<usize>,
    #[serde(default = "default_burst")]
    pub(super) burst: Burst,
    #[serde(default)]
    pub(super) idle: Idle,
    #[serde(default)]
    pub(super) umem: RawUmem,
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
fn default_burst() -> Burst {
    Burst(64)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUmem {
    #[serde(default = "default_frames")]
    pub(super) frames: Frames,
    #[serde(default = "default_frame_size")]
    pub(super) frame_size: FrameSize,
    #[serde(default)]
    pub(super) headroom: u32,
    #[serde(default)]
    pub(super) huge_pages: bool,
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

fn default_frames() -> Frames {
    Frames(8192)
}
fn default_frame_size() -> FrameSize {
    FrameSize(4096)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    #[serde(default = "default_socket_path")]
    pub(super) socket: SocketPath,
    /// Prometheus exposition address ("127.0.0.1:9417"); none: off.
    pub(super) prometheus: Option<String>,
}

impl Default for RawControl {
    fn default() -> Self {
        RawControl {
            socket: default_socket_path(),
            prometheus: None,
        }
    }
}

fn default_socket_path() -> SocketPath {
    SocketPath(default_socket())
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

#[derive(Clone, Copy, Debug)]
pub struct UmemCfg {
    pub frames: u32,
    pub frame_size: u32,
    pub headroom: u32,
    pub huge_pages: bool,
}

/// Checks `[engine]`: the cores (returned) and the UMEM.
pub(super) fn validate_engine(
    v: &V<'_>,
    e: &RawEngine,
) -> Result<(Vec<usize>, UmemCfg), ConfigError> {
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
    let u = &e.umem;
    let frame_size = u.frame_size.0;
    if u.headroom > frame_size / 2 {
        return v.err(
            "engine.umem.headroom",
            format!(
                "{} leaves too little room for a frame; expected at most {}",
                u.headroom,
                frame_size / 2
            ),
        );
    }
    Ok((
        e.cores.clone(),
        UmemCfg {
            frames: u.frames.0,
            frame_size,
            headroom: u.headroom,
            huge_pages: u.huge_pages,
        },
    ))
}
