//! `[engine]` (cores, burst, idle strategy, UMEM) and `[control]`.

use std::path::PathBuf;

use serde::Deserialize;
use xgw_pipelines::MAX_BURST;

use super::{ConfigError, V};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    #[serde(default = "default_cores")]
    pub(super) cores: Vec<usize>,
    #[serde(default = "default_burst")]
    pub(super) burst: usize,
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

pub(super) fn default_cores() -> Vec<usize> {
    vec![0]
}
pub(super) fn default_burst() -> usize {
    64
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUmem {
    #[serde(default = "default_frames")]
    pub(super) frames: u32,
    #[serde(default = "default_frame_size")]
    pub(super) frame_size: u32,
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

pub(super) fn default_frames() -> u32 {
    8192
}
pub(super) fn default_frame_size() -> u32 {
    4096
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    #[serde(default = "default_socket")]
    pub(super) socket: PathBuf,
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
    Ok((
        e.cores.clone(),
        UmemCfg {
            frames: u.frames,
            frame_size: u.frame_size,
            headroom: u.headroom,
            huge_pages: u.huge_pages,
        },
    ))
}

/// Checks `[control]`.
pub(super) fn validate_control(v: &V<'_>, c: &RawControl) -> Result<(), ConfigError> {
    let socket = &c.socket;
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
    Ok(())
}
