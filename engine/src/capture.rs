//! `xgw capture`: live capture of what a worker receives, transmits or
//! drops, armed from the control socket. A worker reads one flag per burst
//! while it is off; when on, it copies the matching frames (up to
//! [`SNAPLEN`] bytes) with their port, direction, time and, for a drop, the
//! reason. The CLI writes them as pcapng, the drop reason as each
//! packet's comment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use xgw_pipelines::trace::TraceSpec;
use xgw_pipelines::DropReason;

/// Bytes kept of each frame.
pub const SNAPLEN: usize = 2048;
/// Frames kept until read.
pub const MAX_FRAMES: usize = 4096;

/// Directions, as a mask.
pub const RX: u8 = 1;
pub const TX: u8 = 2;
pub const DROP: u8 = 4;

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Frame {
    pub ts_ns: u64,
    pub port: u16,
    pub dir: u8,
    pub reason: Option<DropReason>,
    pub len: usize,
    pub bytes: Vec<u8>,
}

struct State {
    spec: TraceSpec,
    dirs: u8,
    remaining: u32,
    frames: Vec<Frame>,
}

/// The capture request and what it caught, shared by the workers and
/// the control thread.
pub struct CaptureBus {
    armed: AtomicBool,
    state: Mutex<State>,
}

const NO_SPEC: TraceSpec = TraceSpec {
    port: None,
    proto: None,
    src: None,
    dst: None,
    sport: None,
    dport: None,
    teid: None,
    drops_only: false,
};

/// The process's capture (one engine per process).
pub static CAPTURE: CaptureBus = CaptureBus {
    armed: AtomicBool::new(false),
    state: Mutex::new(State {
        spec: NO_SPEC,
        dirs: 0,
        remaining: 0,
        frames: Vec::new(),
    }),
};

impl CaptureBus {
    pub fn arm(&self, spec: TraceSpec, dirs: u8, count: u32) {
        if let Ok(mut s) = self.state.lock() {
            *s = State {
                spec,
                dirs,
                remaining: count,
                frames: Vec::new(),
            };
        }
        self.armed.store(count > 0 && dirs != 0, Ordering::Release);
    }

    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// The one check a worker makes per burst.
    #[inline(always)]
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// The frames so far, and whether the capture is still on.
    pub fn take(&self) -> (Vec<Frame>, bool) {
        let f = self
            .state
            .lock()
            .map(|mut s| std::mem::take(&mut s.frames))
            .unwrap_or_default();
        (f, self.armed())
    }

    /// Offers a frame (a worker, while armed).
    pub(crate) fn offer(
        &self,
        port: u16,
        dir: u8,
        reason: Option<DropReason>,
        f: &[u8],
        ts_ns: u64,
    ) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.remaining == 0 || s.dirs & dir == 0 || !xgw_pipelines::trace::matches(&s.spec, port, f)
        {
            return;
        }
        s.remaining -= 1;
        if s.frames.len() < MAX_FRAMES {
            s.frames.push(Frame {
                ts_ns,
                port,
                dir,
                reason,
                len: f.len(),
                bytes: f[..f.len().min(SNAPLEN)].to_vec(),
            });
        }
        if s.remaining == 0 {
            self.armed.store(false, Ordering::Release);
        }
    }
}
