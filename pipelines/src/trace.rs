//! `xgw trace`: the path of the next N matching frames through the
//! router's graph. The control thread arms a [`TraceBus`] shared by the
//! workers; a worker reads one flag per burst (`armed`, relaxed) and does
//! nothing else while it is off. When it is on, the worker picks the
//! frames of the burst that match, runs the burst through the graph
//! without the fused path (so each node shows) with the traced runner
//! ([`crate::nodes::NodeGraph::run_traced`]) and publishes one
//! [`TraceRecord`] per picked frame; the control thread reads them.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::nodes::Hop;

/// Records kept until read.
pub const MAX_RECORDS: usize = 256;
/// Bytes of the frame as received kept with its record.
pub const HEAD: usize = 96;

/// Which frames to trace (all given fields must match).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSpec {
    /// Ingress port index.
    pub port: Option<u16>,
    /// IP protocol (the upper layer for IPv6).
    pub proto: Option<u8>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// GTP-U TEID of a G-PDU (UDP 2152).
    pub teid: Option<u32>,
    /// Keep only frames that end dropped.
    pub drops_only: bool,
}

/// One traced frame.
#[derive(Clone, Debug)]
pub struct TraceRecord {
    pub worker: usize,
    pub port: u16,
    pub len: usize,
    pub head: Vec<u8>,
    pub hops: Vec<Hop>,
}

#[derive(Default)]
struct State {
    spec: TraceSpec,
    remaining: u32,
    records: Vec<TraceRecord>,
}

/// The trace request and its results, shared by the control thread and
/// the workers.
#[derive(Default)]
pub struct TraceBus {
    armed: AtomicBool,
    state: Mutex<State>,
}

impl TraceBus {
    /// Arms a trace of the next `count` frames matching `spec` (replacing
    /// any trace in progress and its records).
    pub fn arm(&self, spec: TraceSpec, count: u32) {
        if let Ok(mut s) = self.state.lock() {
            *s = State {
                spec,
                remaining: count,
                records: Vec::new(),
            };
        }
        self.armed.store(count > 0, Ordering::Release);
    }

    /// Stops tracing.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// The one check a worker makes per burst.
    #[inline(always)]
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// Takes the records so far; and whether the trace is still on.
    pub fn take(&self) -> (Vec<TraceRecord>, bool) {
        let r = self
            .state
            .lock()
            .map(|mut s| std::mem::take(&mut s.records))
            .unwrap_or_default();
        (r, self.armed())
    }

    /// The spec and how many frames are still wanted (a worker, once per
    /// armed burst).
    pub(crate) fn want(&self) -> Option<(TraceSpec, u32)> {
        let s = self.state.lock().ok()?;
        (s.remaining > 0).then(|| (s.spec.clone(), s.remaining))
    }

    /// Publishes the records of a burst; the trace ends when enough were
    /// kept.
    pub(crate) fn publish(&self, recs: Vec<TraceRecord>) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        for r in recs {
            if s.remaining == 0 {
                break;
            }
            let dropped = matches!(
                r.hops.last().map(|h| h.verdict),
                Some(crate::Verdict::Drop(_))
            );
            if s.spec.drops_only && !dropped {
                continue;
            }
            s.remaining -= 1;
            if s.records.len() < MAX_RECORDS {
                s.records.push(r);
            }
        }
        if s.remaining == 0 {
            self.armed.store(false, Ordering::Release);
        }
    }
}

/// Does the frame `f` (Ethernet, maybe one VLAN tag) on `port` match?
pub fn matches(spec: &TraceSpec, port: u16, f: &[u8]) -> bool {
    if spec.port.is_some_and(|p| p != port) {
        return false;
    }
    let (mut et, mut off) = (f.get(12..14).map(|b| u16::from_be_bytes([b[0], b[1]])), 14);
    if et == Some(0x8100) {
        et = f.get(16..18).map(|b| u16::from_be_bytes([b[0], b[1]]));
        off = 18;
    }
    let ip = f.get(off..).unwrap_or(&[]);
    let (proto, src, dst, l4): (u8, IpAddr, IpAddr, &[u8]) = match et {
        Some(0x0800) if ip.len() >= 20 => {
            let ihl = usize::from(ip[0] & 15) * 4;
            let a = |o: usize| IpAddr::from([ip[o], ip[o + 1], ip[o + 2], ip[o + 3]]);
            (ip[9], a(12), a(16), ip.get(ihl..).unwrap_or(&[]))
        }
        Some(0x86dd) if ip.len() >= 40 => {
            let a = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&ip[o..o + 16]);
                IpAddr::from(b)
            };
            (ip[6], a(8), a(24), &ip[40..])
        }
        _ => {
            return spec.proto.is_none()
                && spec.src.is_none()
                && spec.dst.is_none()
                && spec.sport.is_none()
                && spec.dport.is_none()
                && spec.teid.is_none()
        }
    };
    let port16 = |o: usize| l4.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let ports = matches!(proto, 6 | 17);
    spec.proto.map_or(true, |p| p == proto)
        && spec.src.map_or(true, |a| a == src)
        && spec.dst.map_or(true, |a| a == dst)
        && spec.sport.map_or(true, |p| ports && port16(0) == Some(p))
        && spec.dport.map_or(true, |p| ports && port16(2) == Some(p))
        && spec.teid.map_or(true, |t| {
            proto == 17
                && port16(2) == Some(2152)
                && l4
                    .get(12..16)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    == Some(t)
        })
}
