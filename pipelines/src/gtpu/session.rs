//! GTP-U sessions: what the control plane sets up ([`SessionSpec`]), the
//! control thread's store ([`Sessions`]) and each worker's replica
//! ([`Replica`]).
//!
//! The control thread owns [`Sessions`]: it validates every change
//! (unique id, F-TEID and UE address; bounded count), gives each session
//! a slot and sends the change, as a [`Cmd`] carrying the slot and the
//! session's dataplane [`Entry`], to every worker through a bounded
//! single-producer ring per worker on the [`SessionBus`]. A worker applies
//! what is queued before each burst (a bounded number) and in its tick, so
//! it reads its own tables without locks and a change never disturbs
//! another session's traffic. A change is refused whole, with a clear
//! error, when any worker's ring is full.
//!
//! Each worker keeps, for the sessions it was told about, an array of
//! [`Entry`] by slot and three indexes into it ([`FlatIndex`]: uplink by
//! endpoint + TEID, downlink by UE IPv4 address, by UE IPv6 /128 and by
//! /64), all with their capacity reserved up front for the configured
//! maximum (the big arrays on huge pages, [`crate::hint::huge_vec`]):
//! adding a session never allocates on a worker. The per-session counters live in
//! one preallocated array per worker on the bus (the worker is their only
//! writer, the control thread sums them).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;
use rustc_hash::FxHasher;

use crate::flat::{FlatIndex, Key, Put};

/// A fixed (unseeded) fast hasher: keys are TEIDs and UE addresses that
/// xgw's control plane chose, and lookups of attacker-chosen keys cannot
/// lengthen probe chains (only inserts could, and those come from the
/// operator or the SMF).
type Fx = BuildHasherDefault<FxHasher>;

/// Sessions a gateway holds unless `[gtpu] max_sessions` says otherwise
/// (see [`bytes_per_session`] for what each costs).
pub const DEFAULT_MAX_SESSIONS: usize = 57_344;
/// The largest `max_sessions` accepted.
pub const MAX_SESSIONS_LIMIT: usize = 4 << 20;
/// Session changes a worker's ring holds (a store of few sessions: twice
/// their number, at least 1024).
pub const RING: usize = 16_384;
/// Changes a worker applies before a burst (the rest wait for the next
/// burst or tick).
pub const APPLY_PER_BURST: usize = 64;
/// Changes a worker applies per tick.
pub const APPLY_PER_TICK: usize = 4096;

/// One session, as the operator (config, `xgw gtp session add`) or later
/// a PFCP agent sets it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    /// The operator's (or SMF's) handle.
    pub id: u64,
    /// Our GTP-U endpoint address (the local F-TEID's address): one of
    /// `[gtpu] endpoints`.
    pub local: IpAddr,
    /// Our TEID: uplink G-PDUs to `local` with it belong to the session.
    pub teid: u32,
    /// The UE's IPv4 address (downlink to it is encapsulated).
    pub ue4: Option<Ipv4Addr>,
    /// The UE's IPv6 address (/128) or prefix (/64).
    pub ue6: Option<(Ipv6Addr, u8)>,
    /// The base station's endpoint: where downlink goes (outer family).
    pub peer: IpAddr,
    /// The base station's TEID for downlink.
    pub peer_teid: u32,
    /// QoS Flow Identifier sent in a PDU Session Container with every
    /// downlink packet; `None`: no container.
    pub qfi: Option<u8>,
    /// Maximum bit rates (bits per second, 0: unlimited).
    pub mbr_ul: u64,
    pub mbr_dl: u64,
    /// Gates (false: that direction's packets are dropped).
    pub gate_ul: bool,
    pub gate_dl: bool,
    /// The network instance (APN / DNN) the session belongs to. xgw has
    /// one routing table; the name is kept and shown.
    pub instance: String,
    /// What downlink packets do: go to `peer` (forward), wait for a path
    /// (buffer: an idle UE, or a 5G session whose access side is not set
    /// up yet) or are dropped. Buffered and dropped downlink need no
    /// peer (`peer` unspecified, `peer_teid` 0).
    pub downlink: Downlink,
    /// Tell the control plane about the first downlink packet buffered
    /// (PFCP's NOCP: a Downlink Data Report).
    pub notify: bool,
    /// Per-flow rules (PFCP PDRs with SDF filters), lowest precedence
    /// first; empty: every packet of a direction is treated alike. With
    /// rules, a packet takes the first rule of its direction whose filter
    /// matches (none: dropped, `gtpu.sdf_no_match`), and that rule's
    /// gate, maximum bit rate and (downlink) QFI apply on top of the
    /// session's. At most [`MAX_RULES`].
    pub flows: Vec<FlowRule>,
}

/// The most per-flow rules a session has (both directions).
pub const MAX_RULES: usize = 16;
/// Sessions with per-flow rules a store holds at most.
pub const SDF_SESSIONS: usize = 4096;

/// An SDF filter (TS 29.244 §5.2.1A.2A, a flow description's subset):
/// written from the network's side, so `remote` is the data network's end
/// and `ue` the UE's, whatever the direction. `None`: any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdfFilter {
    /// IP protocol (the header's, no extension headers walked).
    pub proto: Option<u8>,
    pub remote: Option<(IpAddr, u8)>,
    pub ue: Option<(IpAddr, u8)>,
    /// Inclusive port ranges (TCP, UDP, SCTP; a packet without ports
    /// never matches a filter with ports).
    pub remote_ports: Option<(u16, u16)>,
    pub ue_ports: Option<(u16, u16)>,
}

/// One per-flow rule of a session (see [`SessionSpec::flows`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRule {
    /// Uplink (from the UE) or downlink.
    pub uplink: bool,
    pub precedence: u32,
    pub filter: SdfFilter,
    /// Forwarded (else dropped: FAR DROP, or a QER's gate closed).
    pub pass: bool,
    /// Downlink: the QFI sent in the PDU Session Container (`None`: the
    /// session's).
    pub qfi: Option<u8>,
    /// This flow's maximum bit rate (bits per second, 0: unlimited).
    pub mbr: u64,
}

/// A session's rules as a worker uses them (built by the control thread,
/// handed over whole; each worker owns its copy and its rate buckets).
#[derive(Clone, Debug)]
pub(crate) struct FlowTable {
    /// Index of its counters (`SessionBus::flow_counters`).
    pub(crate) fidx: u16,
    /// The index is new: its counters start at zero.
    pub(crate) fresh: bool,
    /// The rules changed: for each new rule, the old rule whose counters
    /// it takes over (`NO_RULE`: none, it starts at zero).
    pub(crate) remap: Option<[u8; MAX_RULES]>,
    pub(crate) rules: Vec<Rule>,
}

pub(crate) const NO_RULE: u8 = 0xff;

/// One compiled [`FlowRule`]: addresses as 128-bit values (IPv4
/// IPv4-mapped) with masks, `fam` 0 (any), 4 or 6.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    uplink: bool,
    pass: bool,
    qfi: u8,
    /// 0x100: any protocol.
    proto: u16,
    fam: u8,
    remote: (u128, u128),
    ue: (u128, u128),
    rports: (u16, u16),
    uports: (u16, u16),
    bucket: Bucket,
}

fn net128(p: Option<(IpAddr, u8)>) -> (u8, (u128, u128)) {
    match p {
        None => (0, (0, 0)),
        Some((IpAddr::V4(a), l)) => {
            let m = if l == 0 {
                0
            } else {
                u128::MAX << (32 - u32::from(l.min(32)))
            } & 0xffff_ffff;
            (4, (u128::from(u32::from(a)) & m, m))
        }
        Some((IpAddr::V6(a), l)) => {
            let m = if l == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(l.min(128)))
            };
            (6, (u128::from(a) & m, m))
        }
    }
}

impl Rule {
    fn of(r: &FlowRule) -> Rule {
        let (f1, remote) = net128(r.filter.remote);
        let (f2, ue) = net128(r.filter.ue);
        Rule {
            uplink: r.uplink,
            pass: r.pass,
            qfi: r.qfi.unwrap_or(NO_QFI),
            proto: r.filter.proto.map_or(0x100, u16::from),
            fam: f1.max(f2),
            remote,
            ue,
            rports: r.filter.remote_ports.unwrap_or((0, u16::MAX)),
            uports: r.filter.ue_ports.unwrap_or((0, u16::MAX)),
            bucket: Bucket::new(r.mbr),
        }
    }
}

/// The fields of an inner packet rules look at.
struct Tuple {
    v6: bool,
    proto: u8,
    src: u128,
    dst: u128,
    /// (source, destination) ports, if the packet has them.
    ports: Option<(u16, u16)>,
}

impl Tuple {
    fn of(ip: &[u8], v6: bool) -> Option<Tuple> {
        let (proto, src, dst, l4, later) = if v6 {
            let h = ip.get(..40)?;
            let a = |o: usize| u128::from_be_bytes(h[o..o + 16].try_into().expect("16"));
            (h[6], a(8), a(24), 40, false)
        } else {
            let h = ip.get(..20)?;
            let a = |o: usize| u128::from(u32::from_be_bytes(h[o..o + 4].try_into().expect("4")));
            let ihl = usize::from(h[0] & 15) * 4;
            if ihl < 20 {
                return None;
            }
            let later = u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0;
            (h[9], a(12), a(16), ihl, later)
        };
        let ports = match (proto, later) {
            (6 | 17 | 132, false) => ip.get(l4..l4 + 4).map(|p| {
                (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                )
            }),
            _ => None,
        };
        Some(Tuple {
            v6,
            proto,
            src,
            dst,
            ports,
        })
    }
}

impl Rule {
    #[inline]
    fn matches(&self, t: &Tuple, uplink: bool) -> bool {
        if self.uplink != uplink
            || (self.fam == 4 && t.v6)
            || (self.fam == 6 && !t.v6)
            || (self.proto != 0x100 && self.proto != u16::from(t.proto))
        {
            return false;
        }
        // Uplink: the UE is the source.
        let (ue, remote) = if uplink {
            (t.src, t.dst)
        } else {
            (t.dst, t.src)
        };
        if ue & self.ue.1 != self.ue.0 || remote & self.remote.1 != self.remote.0 {
            return false;
        }
        let any = |r: (u16, u16)| r == (0, u16::MAX);
        if any(self.rports) && any(self.uports) {
            return true;
        }
        let Some((sp, dp)) = t.ports else {
            return false;
        };
        let (up, rp) = if uplink { (sp, dp) } else { (dp, sp) };
        (self.uports.0..=self.uports.1).contains(&up)
            && (self.rports.0..=self.rports.1).contains(&rp)
    }
}

/// What a session does with downlink packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Downlink {
    #[default]
    Forward,
    /// Held (bounded: [`BUFFER_PER_SESSION`] per worker, at most
    /// [`BUFFER_HOLD_NS`]) until the session forwards again, then sent in
    /// order.
    Buffer,
    Drop,
}

impl Downlink {
    pub fn name(self) -> &'static str {
        match self {
            Downlink::Forward => "forward",
            Downlink::Buffer => "buffer",
            Downlink::Drop => "drop",
        }
    }
}

/// Downlink packets one worker buffers for one session at most (more are
/// dropped as `gtpu_buffer_full`; the engine's lot of parked frames,
/// `[engine] pending`, bounds them all).
pub const BUFFER_PER_SESSION: u32 = 64;
/// Sessions one worker buffers for at once.
pub const BUFFER_SESSIONS: usize = 1024;
/// How long a buffered packet is held at most (then dropped as
/// `gtpu_buffer_expired`).
pub const BUFFER_HOLD_NS: u64 = 30_000_000_000;
/// Park tokens of buffered downlink (the slot in the low bits); the
/// neighbour tables' tokens stay below.
pub(crate) const BUFFER_TOKEN: u32 = 1 << 31;

impl Default for SessionSpec {
    fn default() -> Self {
        SessionSpec {
            id: 0,
            local: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            teid: 0,
            ue4: None,
            ue6: None,
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            peer_teid: 0,
            qfi: None,
            mbr_ul: 0,
            mbr_dl: 0,
            gate_ul: true,
            gate_dl: true,
            instance: String::new(),
            downlink: Downlink::Forward,
            notify: false,
            flows: Vec::new(),
        }
    }
}

/// A token bucket in bytes (a session's MBR in one direction, or a
/// flow rule's): its rate and its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Bytes per second; 0: unlimited.
    rate: u64,
    t: Tokens,
}

/// A token bucket's state: what changes as packets pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    burst: u64,
    tokens: u64,
    last_ns: u64,
}

impl Bucket {
    /// A bucket for `bps` bits per second: the burst is 100 ms of traffic
    /// and at least two 9000-byte packets.
    fn new(bps: u64) -> Self {
        let rate = bps / 8;
        let burst = (rate / 10).max(18_000);
        Bucket {
            rate,
            t: Tokens {
                burst,
                tokens: burst,
                last_ns: 0,
            },
        }
    }

    /// Takes `bytes`, or says the packet exceeds the rate.
    #[inline]
    pub(crate) fn take(&mut self, now: u64, bytes: usize) -> bool {
        self.rate == 0 || self.t.take(self.rate, now, bytes)
    }
}

impl Tokens {
    /// Takes `bytes` at `rate` (not 0) bytes per second, or says the
    /// packet exceeds it.
    #[inline]
    fn take(&mut self, rate: u64, now: u64, bytes: usize) -> bool {
        let elapsed = now.saturating_sub(self.last_ns).min(1_000_000_000);
        let add = (u128::from(elapsed) * u128::from(rate) / 1_000_000_000) as u64;
        if add > 0 {
            self.tokens = (self.tokens + add).min(self.burst);
            self.last_ns = now;
        }
        let b = bytes as u64;
        if self.tokens < b {
            return false;
        }
        self.tokens -= b;
        true
    }
}

/// A session as a worker's dataplane sees it, in two cache lines
/// (aligned): the first holds everything a packet of a session without
/// a maximum bit rate reads (keys, peer, flags, the two rates: 64
/// bytes), the second the rates' token states, read only when a rate is
/// set. A pre-pass prefetches the first line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, align(64))]
pub(crate) struct Entry {
    pub(crate) ue6: u128,
    /// The peer's outer address (IPv4 in the first 4 octets); ours is
    /// endpoint `ep`.
    pub(crate) peer: [u8; 16],
    pub(crate) ue4: u32,
    pub(crate) teid: u32,
    pub(crate) peer_teid: u32,
    /// Index of `local` in the endpoints.
    pub(crate) ep: u8,
    pub(crate) flags: u8,
    /// [`NO_QFI`]: no PDU Session Container.
    pub(crate) qfi: u8,
    /// [`Entry::BUFFER`], [`Entry::NOTIFY`].
    pub(crate) mode: u8,
    /// Uplink and downlink maximum bit rates, bytes per second (0: none).
    ul_rate: u64,
    dl_rate: u64,
    // The second cache line.
    ul: Tokens,
    dl: Tokens,
}

pub(crate) const NO_QFI: u8 = 0xff;

/// Sessions from which [`Replica::prefetch_on`] holds.
pub(crate) const PREFETCH_MIN: usize = 16384;

impl Entry {
    pub(crate) const LIVE: u8 = 1 << 0;
    pub(crate) const V6: u8 = 1 << 1;
    pub(crate) const UE4: u8 = 1 << 2;
    pub(crate) const UE6: u8 = 1 << 3;
    /// The UE IPv6 entry is a /64 prefix.
    pub(crate) const UE6_64: u8 = 1 << 4;
    pub(crate) const GATE_UL: u8 = 1 << 5;
    pub(crate) const GATE_DL: u8 = 1 << 6;
    /// Per-flow rules apply (the worker's flow table for the slot).
    pub(crate) const FLOWS: u8 = 1 << 7;
    /// `mode`: downlink is buffered.
    pub(crate) const BUFFER: u8 = 1 << 0;
    /// `mode`: the first buffered packet is reported.
    pub(crate) const NOTIFY: u8 = 1 << 1;

    fn of(s: &SessionSpec, ep: u8) -> Entry {
        fn octets(a: IpAddr) -> [u8; 16] {
            let mut o = [0u8; 16];
            match a {
                IpAddr::V4(a) => o[..4].copy_from_slice(&a.octets()),
                IpAddr::V6(a) => o = a.octets(),
            }
            o
        }
        let mut flags = Entry::LIVE;
        if s.peer.is_ipv6() {
            flags |= Entry::V6;
        }
        if s.ue4.is_some() {
            flags |= Entry::UE4;
        }
        if let Some((_, l)) = s.ue6 {
            flags |= Entry::UE6 | if l == 64 { Entry::UE6_64 } else { 0 };
        }
        if s.gate_ul {
            flags |= Entry::GATE_UL;
        }
        if s.gate_dl && s.downlink != Downlink::Drop {
            flags |= Entry::GATE_DL;
        }
        let mut mode = 0;
        if s.downlink == Downlink::Buffer {
            mode |= Entry::BUFFER;
        }
        if s.notify {
            mode |= Entry::NOTIFY;
        }
        let (ul, dl) = (Bucket::new(s.mbr_ul), Bucket::new(s.mbr_dl));
        Entry {
            ue6: s.ue6.map_or(0, |(a, _)| u128::from(a)),
            peer: octets(s.peer),
            ue4: s.ue4.map_or(0, u32::from),
            teid: s.teid,
            peer_teid: s.peer_teid,
            ep,
            flags,
            qfi: s.qfi.unwrap_or(NO_QFI),
            mode,
            ul_rate: ul.rate,
            dl_rate: dl.rate,
            ul: ul.t,
            dl: dl.t,
        }
    }

    /// Whether the session has a maximum bit rate either way.
    #[inline(always)]
    fn rated(&self) -> bool {
        self.ul_rate | self.dl_rate != 0
    }

    /// Takes an uplink packet of `bytes` from the MBR's bucket, or says
    /// it exceeds the rate.
    #[inline]
    pub(crate) fn take_ul(&mut self, now: u64, bytes: usize) -> bool {
        self.ul_rate == 0 || self.ul.take(self.ul_rate, now, bytes)
    }

    /// The same downlink.
    #[inline]
    pub(crate) fn take_dl(&mut self, now: u64, bytes: usize) -> bool {
        self.dl_rate == 0 || self.dl.take(self.dl_rate, now, bytes)
    }

    #[inline]
    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Whether this live entry has endpoint `ep`'s TEID `teid` (the
    /// uplink index's key).
    #[inline(always)]
    fn is_ul(&self, ep: u8, teid: u32) -> bool {
        self.teid == teid && self.ep == ep && self.has(Entry::LIVE)
    }

    /// Whether this entry has the downlink IPv4 key `a`.
    #[inline(always)]
    fn is_ue4(&self, a: u32) -> bool {
        self.ue4 == a && self.has(Entry::UE4)
    }

    /// Whether this entry has the downlink IPv6 key `a` (a /128, or a /64
    /// with its low 64 bits zero).
    #[inline(always)]
    fn is_ue6(&self, a: u128) -> bool {
        self.ue6 == a && self.has(Entry::UE6)
    }

    /// The UE source check of an uplink inner IPv6 packet.
    #[inline]
    pub(crate) fn ue6_matches(&self, a: u128) -> bool {
        self.has(Entry::UE6)
            && if self.has(Entry::UE6_64) {
                (a ^ self.ue6) >> 64 == 0
            } else {
                a == self.ue6
            }
    }
}

/// A change sent to the workers.
#[derive(Clone, Debug)]
pub(crate) enum Cmd {
    /// Slot `slot` holds `entry` from now on (a new session if `fresh`:
    /// its counters start at zero).
    /// `end_marker`: worker 0 sends an End Marker to the slot's old peer
    /// (TS 29.281 §7.3.2, a path switch).
    Put {
        slot: u32,
        entry: Entry,
        fresh: bool,
        end_marker: bool,
        /// The session's flow table (`entry.fidx` names it).
        flows: Option<Box<FlowTable>>,
    },
    /// Slot `slot` is empty (`end_marker`: as for `Put`).
    Del { slot: u32, end_marker: bool },
    /// Drop the downlink packets buffered for slot `slot` (PFCP's DROBU).
    Flush { slot: u32 },
}

/// A GTP-U message a worker sends on its own (not in answer to one): an
/// End Marker to a session's old peer with its old TEID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EndMarker {
    pub(crate) ep: u8,
    pub(crate) peer: IpAddr,
    pub(crate) teid: u32,
    /// When it was queued (it is given up after [`END_MARKER_WAIT_NS`]
    /// without a next-hop binding).
    pub(crate) queued_ns: u64,
}

/// End Markers worker 0 holds while their next hop is resolved.
pub const END_MARKER_QUEUE: usize = 1024;
/// How long an End Marker waits for its next hop's binding.
pub const END_MARKER_WAIT_NS: u64 = 3_000_000_000;

/// Echo Request toward configured peers (TS 29.281 §7.2.1, path
/// management): every `interval_s` seconds; a request unanswered for
/// `t3_ms` is sent again, and after `n3` unanswered tries the path is
/// down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoSpec {
    pub interval_s: u32,
    pub t3_ms: u32,
    pub n3: u32,
}

impl Default for EchoSpec {
    fn default() -> Self {
        EchoSpec {
            interval_s: 60,
            t3_ms: 3000,
            n3: 3,
        }
    }
}

/// A peer's path state, as `xgw gtp peers` shows it.
pub mod path {
    /// No answer expected yet (no request sent).
    pub const UNKNOWN: u8 = 0;
    pub const UP: u8 = 1;
    /// `n3` requests in a row went unanswered.
    pub const DOWN: u8 = 2;
    pub const NAMES: [&str; 3] = ["unknown", "up", "down"];
}

/// A configured peer (a base station or another gateway): what worker 0's
/// echo driver and the worker that gets the answer share.
#[derive(Debug)]
pub struct Peer {
    pub addr: IpAddr,
    /// Our endpoint (index) requests leave from.
    pub(crate) ep: u8,
    pub(crate) state: std::sync::atomic::AtomicU8,
    /// The sequence number of the request in flight (low 16 bits), bit
    /// 16 set while one is.
    pub(crate) seq: std::sync::atomic::AtomicU32,
    pub(crate) sent_ns: AtomicU64,
    /// When the last answer to our request came.
    pub(crate) seen_ns: AtomicU64,
    pub(crate) rtt_ns: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) responses: AtomicU64,
    /// Times the path went down.
    pub(crate) failures: AtomicU64,
}

/// What `xgw gtp peers` shows of a peer.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerView {
    pub addr: IpAddr,
    pub local: IpAddr,
    pub state: &'static str,
    pub requests: u64,
    pub responses: u64,
    pub failures: u64,
    /// The last round-trip time, in microseconds.
    pub rtt_us: Option<u64>,
    /// Seconds since the last answer.
    pub last_response_s: Option<f64>,
}

/// Per-session counters, per worker: uplink packets and bytes, downlink
/// packets and bytes (inner packets, as a usage report counts them), and
/// drops (gate, rate, spoofed source).
pub const COUNTERS: usize = 5;

/// One session's counters on one worker, alone in a cache line (a
/// packet's counting misses on one line, never two).
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Row(pub(crate) [AtomicU64; COUNTERS]);
pub const UL_PKTS: usize = 0;
pub const UL_BYTES: usize = 1;
pub const DL_PKTS: usize = 2;
pub const DL_BYTES: usize = 3;
pub const DROPS: usize = 4;

/// The feature's own counters (per worker, summed by `xgw gtp stats`).
/// `GPDU_OUT` counts T-PDUs encapsulated (the further fragments xgw makes
/// of a big DF-clear IPv4 one are not counted again); the others count
/// messages.
pub mod stat {
    pub const GPDU_IN: usize = 0;
    pub const GPDU_OUT: usize = 1;
    pub const ECHO_REQUEST_IN: usize = 2;
    pub const ECHO_RESPONSE_OUT: usize = 3;
    pub const ECHO_RESPONSE_IN: usize = 4;
    pub const ERROR_INDICATION_IN: usize = 5;
    pub const ERROR_INDICATION_OUT: usize = 6;
    pub const END_MARKER_IN: usize = 7;
    pub const EXT_NOTIFICATION_IN: usize = 8;
    pub const EXT_NOTIFICATION_OUT: usize = 9;
    pub const UNKNOWN_TEID: usize = 10;
    pub const END_MARKER_OUT: usize = 11;
    /// End Markers given up (no route, no next-hop binding within
    /// `END_MARKER_WAIT_NS`, queue full).
    pub const END_MARKER_UNSENT: usize = 12;
    pub const ECHO_REQUEST_OUT: usize = 13;
    /// Downlink packets buffered (idle UE); they count in `gpdu_out` too
    /// when they leave.
    pub const DL_BUFFERED: usize = 14;
    pub const COUNT: usize = 15;
    /// Their names in `xgw gtp stats`.
    pub const NAMES: [&str; COUNT] = [
        "gpdu_in",
        "gpdu_out",
        "echo_request_in",
        "echo_response_out",
        "echo_response_in",
        "error_indication_in",
        "error_indication_out",
        "end_marker_in",
        "ext_notification_in",
        "ext_notification_out",
        "unknown_teid",
        "end_marker_out",
        "end_marker_unsent",
        "echo_request_out",
        "dl_buffered",
    ];
}

/// Something a worker saw that the control thread records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// An Error Indication from `peer` about its TEID `teid` (the session
    /// sending to it is marked).
    ErrorIndication { peer: IpAddr, teid: u32 },
    /// The first downlink packet buffered for the session in `slot` (its
    /// TEID says it is still that session).
    DownlinkData { slot: u32, teid: u32 },
}

/// A session every worker starts with: its slot, entry and flow table.
type Initial = (u32, Entry, Option<Box<FlowTable>>);

/// What the control thread and the workers share: one change ring, one
/// counter array and one stats row per worker, and the event ring.
pub struct SessionBus {
    rings: Vec<ArrayQueue<Cmd>>,
    counters: Vec<Box<[Row]>>,
    /// Per worker: packets and bytes of each flow table's rules
    /// (`fidx * MAX_RULES * 2 + rule * 2`).
    flow_counters: Vec<Box<[AtomicU64]>>,
    /// Per worker: changes applied so far (the control thread's reads
    /// of flow counters account for a table change not yet applied).
    applied: Vec<AtomicU64>,
    stats: Vec<[AtomicU64; stat::COUNT]>,
    events: ArrayQueue<Event>,
    /// Events the ring had no room for.
    events_lost: AtomicU64,
    /// The sessions every worker starts with (slot, entry).
    initial: Mutex<Vec<Initial>>,
    max: usize,
    endpoints: Vec<IpAddr>,
    /// The endpoints by address, sorted, with their index: what a
    /// packet's destination is looked up in ([`Replica::endpoint`]).
    ep4: Vec<(u32, u8)>,
    ep6: Vec<(u128, u8)>,
    pub(crate) peers: Vec<Peer>,
    pub(crate) echo: EchoSpec,
}

impl SessionBus {
    fn new(workers: usize, max: usize, endpoints: Vec<IpAddr>) -> Arc<Self> {
        Self::with_counters(workers, max, endpoints, true)
    }

    /// `counters` false: no counter arrays (a store that only checks).
    fn with_counters(
        workers: usize,
        max: usize,
        endpoints: Vec<IpAddr>,
        counters: bool,
    ) -> Arc<Self> {
        let n = workers.max(1);
        let mut ep4 = Vec::new();
        let mut ep6 = Vec::new();
        for (i, e) in endpoints.iter().enumerate() {
            match e {
                IpAddr::V4(a) => ep4.push((u32::from(*a), i as u8)),
                IpAddr::V6(a) => ep6.push((u128::from(*a), i as u8)),
            }
        }
        ep4.sort_unstable();
        ep6.sort_unstable();
        Arc::new(SessionBus {
            // (A small store needs no big ring.)
            rings: (0..n)
                .map(|_| ArrayQueue::new(RING.min((max * 2).max(1024))))
                .collect(),
            counters: (0..if counters { n } else { 0 })
                .map(|_| crate::hint::huge_vec_with(max, Row::default).into_boxed_slice())
                .collect(),
            applied: (0..n).map(|_| AtomicU64::new(0)).collect(),
            flow_counters: (0..if counters { n } else { 0 })
                .map(|_| {
                    (0..SDF_SESSIONS.min(max) * MAX_RULES * 2)
                        .map(|_| AtomicU64::new(0))
                        .collect()
                })
                .collect(),
            stats: (0..n)
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            events: ArrayQueue::new(1024),
            events_lost: AtomicU64::new(0),
            initial: Mutex::new(Vec::new()),
            max,
            endpoints,
            ep4,
            ep6,
            peers: Vec::new(),
            echo: EchoSpec::default(),
        })
    }

    /// Our address of endpoint `ep`.
    pub(crate) fn endpoint(&self, ep: u8) -> IpAddr {
        self.endpoints
            .get(usize::from(ep))
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// The configured peers' path states.
    pub fn peers(&self, now_ns: u64) -> Vec<PeerView> {
        self.peers
            .iter()
            .map(|p| {
                let seen = p.seen_ns.load(Relaxed);
                let rtt = p.rtt_ns.load(Relaxed);
                PeerView {
                    addr: p.addr,
                    local: self.endpoints[usize::from(p.ep)],
                    state: path::NAMES[usize::from(p.state.load(Relaxed)).min(2)],
                    requests: p.requests.load(Relaxed),
                    responses: p.responses.load(Relaxed),
                    failures: p.failures.load(Relaxed),
                    rtt_us: (seen != 0).then_some(rtt / 1000),
                    last_response_s: (seen != 0).then(|| now_ns.saturating_sub(seen) as f64 / 1e9),
                }
            })
            .collect()
    }

    /// An Echo Response from `from` with `seq` (any worker): the answer to
    /// the request in flight to that peer, if it is one.
    pub(crate) fn echo_response(&self, from: &[u8], seq: u16, now_ns: u64) {
        let Some(p) = self.peers.iter().find(|p| match p.addr {
            IpAddr::V4(a) => from == a.octets(),
            IpAddr::V6(a) => from == a.octets(),
        }) else {
            return;
        };
        let want = (1 << 16) | u32::from(seq);
        if p.seq
            .compare_exchange(want, u32::from(seq), Relaxed, Relaxed)
            .is_ok()
        {
            p.rtt_ns
                .store(now_ns.saturating_sub(p.sent_ns.load(Relaxed)), Relaxed);
            p.seen_ns.fetch_max(now_ns, Relaxed);
            p.responses.fetch_add(1, Relaxed);
        }
    }

    /// The feature's counters summed over the workers, by [`stat::NAMES`].
    pub fn stats(&self) -> [u64; stat::COUNT] {
        let mut s = [0u64; stat::COUNT];
        for w in &self.stats {
            for (x, c) in s.iter_mut().zip(w) {
                *x += c.load(Relaxed);
            }
        }
        s
    }

    /// Events (Error Indications, first buffered packets) the control
    /// thread could not record (its ring was full).
    pub fn events_lost(&self) -> u64 {
        self.events_lost.load(Relaxed)
    }
}

/// Why a session change was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("session {0} exists already; modify or delete it")]
    Exists(u64),
    #[error("no session {0}")]
    NotFound(u64),
    #[error("TEID {1:#x} on {0} belongs to session {2}")]
    TeidTaken(IpAddr, u32, u64),
    #[error("UE address {0} belongs to session {1}")]
    UeTaken(String, u64),
    #[error("session table full ({0} sessions); raise [gtpu] max_sessions or delete sessions")]
    Full(usize),
    #[error("{0} is not a GTP-U endpoint of this gateway (see [gtpu] endpoints)")]
    NotEndpoint(IpAddr),
    #[error("{0} sessions with per-flow (SDF) rules exist already, the most a store holds")]
    FlowsFull(usize),
    #[error("a worker has not yet applied the last {0} changes; try again")]
    Busy(usize),
    #[error("{0}")]
    Invalid(String),
}

/// A session's per-flow rules fit ([`MAX_RULES`]) and are in precedence
/// order.
fn check_flows(s: &SessionSpec) -> Result<(), SessionError> {
    if s.flows.len() > MAX_RULES {
        return Err(SessionError::Invalid(format!(
            "{} per-flow rules; at most {MAX_RULES}",
            s.flows.len()
        )));
    }
    if s.flows
        .windows(2)
        .any(|w| w[0].precedence > w[1].precedence)
    {
        return Err(SessionError::Invalid(
            "per-flow rules must be in precedence order".into(),
        ));
    }
    Ok(())
}

/// Checks what a session's fields can be on their own (not against other
/// sessions): a UE address of some family, a usable peer, a QFI of 6 bits,
/// a /128 or /64 IPv6 UE entry, TEID 0 not used (TS 29.281 §5.1: 0 is for
/// path management).
pub fn check(s: &SessionSpec) -> Result<(), String> {
    if s.ue4.is_none() && s.ue6.is_none() {
        return Err("a session needs a UE address (ue4 and/or ue6)".into());
    }
    if s.teid == 0 {
        return Err("teid 0 is reserved for path management (TS 29.281 §5.1)".into());
    }
    // A session that buffers or drops downlink may have no path yet.
    let path = s.downlink == Downlink::Forward || s.peer_teid != 0 || !s.peer.is_unspecified();
    if path && s.peer_teid == 0 {
        return Err("peer_teid 0 is reserved for path management (TS 29.281 §5.1)".into());
    }
    if let Some((a, l)) = s.ue6 {
        if l != 128 && l != 64 {
            return Err(format!(
                "ue6 {a}/{l}: a UE gets one address (/128) or one /64 prefix"
            ));
        }
        if l == 64 && u128::from(a) & u64::MAX as u128 != 0 {
            return Err(format!("ue6 {a}/64 has host bits set"));
        }
        if l == 128 && u128::from(a) & u64::MAX as u128 == 0 {
            return Err(format!(
                "ue6 {a}/128 is a Subnet-Router anycast address (RFC 4291 §2.6.1), no UE's"
            ));
        }
        if let Some(why) = crate::router::spec::special_addr(IpAddr::V6(a), 128) {
            return Err(format!("ue6: {why}"));
        }
    }
    if let Some(a) = s.ue4 {
        if let Some(why) = crate::router::spec::special_addr(IpAddr::V4(a), 32) {
            return Err(format!("ue4: {why}"));
        }
    }
    if let Some(why) = crate::router::spec::special_addr(s.peer, 128).filter(|_| path) {
        return Err(format!("peer: {why}, not a GTP-U endpoint"));
    }
    if s.qfi.is_some_and(|q| q > 63) {
        return Err("qfi is 6 bits: 0 to 63".into());
    }
    if s.instance.len() > 63 {
        return Err("network instance names are at most 63 characters".into());
    }
    Ok(())
}

/// What GTP-U is configured with: its endpoints, its interface and the
/// sessions it starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GtpuSpec {
    /// Our GTP-U addresses (each one of our interface addresses).
    pub endpoints: Vec<IpAddr>,
    /// The name of the interface routes to UEs point into.
    pub iface: String,
    /// The largest inner packet sent into the tunnel (its MTU).
    pub mtu: u16,
    pub max_sessions: usize,
    pub sessions: Vec<SessionSpec>,
    /// Error Indications / Supported Extension Headers Notifications sent
    /// per second and worker at most.
    pub error_rate: u32,
    /// Peers sent Echo Requests (`echo`), each from the first endpoint of
    /// its family.
    pub peers: Vec<IpAddr>,
    pub echo: EchoSpec,
}

impl Default for GtpuSpec {
    fn default() -> Self {
        GtpuSpec {
            endpoints: Vec::new(),
            iface: "gtp0".into(),
            mtu: 1436,
            max_sessions: DEFAULT_MAX_SESSIONS,
            sessions: Vec::new(),
            error_rate: 100,
            peers: Vec::new(),
            echo: EchoSpec::default(),
        }
    }
}

/// A session with its slot, error mark and counters (control side).
#[derive(Clone, Debug)]
pub struct Session {
    pub spec: SessionSpec,
    pub slot: u32,
    /// An Error Indication came from its peer about its peer TEID.
    pub error_indication: bool,
    /// A downlink packet was buffered and reported (cleared when the
    /// session is modified).
    pub downlink_data: bool,
    /// Its flow table's index, if it has per-flow rules.
    pub fidx: Option<u16>,
}

/// The control thread's session store. See the module documentation.
pub struct Sessions {
    bus: Arc<SessionBus>,
    slots: Vec<Option<Session>>,
    free: Vec<u32>,
    by_id: HashMap<u64, u32>,
    by_fteid: HashMap<(IpAddr, u32), u32>,
    by_ue4: HashMap<Ipv4Addr, u32>,
    by_ue6: HashMap<(Ipv6Addr, u8), u32>,
    /// The sessions with a /128 in each /64 (a /64 over them is refused).
    in_64: HashMap<u64, Vec<u32>>,
    by_peer: HashMap<(IpAddr, u32), Vec<u32>>,
    /// Sessions with a first buffered downlink packet to report.
    dl_data: Vec<u64>,
    /// Free flow-table indices, and the next never used.
    fidx_free: Vec<u16>,
    fidx_next: u16,
    /// Changes sent to the workers so far.
    sent: u64,
    /// The last flow-table change of each slot: the change's number, and
    /// how the counter rows move (`None`: they start at zero).
    flow_moves: HashMap<u32, (u64, Option<[u8; MAX_RULES]>)>,
}

impl Sessions {
    /// The store for `workers` workers with `spec`'s sessions in it (each
    /// worker starts with them).
    pub fn new(spec: &GtpuSpec, workers: usize) -> Result<Sessions, String> {
        Self::build(spec, workers, true)
            .map_err(|(i, e)| format!("session {}: {e}", spec.sessions.get(i).map_or(0, |s| s.id)))
    }

    /// Checks `spec`'s sessions against each other and the bound, as
    /// [`Sessions::new`] would (without its counter arrays): the index of
    /// the first refused session and why.
    pub fn validate(spec: &GtpuSpec) -> Result<(), (usize, SessionError)> {
        Self::build(spec, 1, false).map(|_| ())
    }

    fn build(
        spec: &GtpuSpec,
        workers: usize,
        counters: bool,
    ) -> Result<Sessions, (usize, SessionError)> {
        let max = spec.max_sessions.clamp(1, MAX_SESSIONS_LIMIT);
        let mut bus = SessionBus::with_counters(workers, max, spec.endpoints.clone(), counters);
        {
            let b = Arc::get_mut(&mut bus).expect("not shared yet");
            b.echo = spec.echo;
            for (i, &addr) in spec.peers.iter().enumerate() {
                let ep = spec
                    .endpoints
                    .iter()
                    .position(|e| e.is_ipv4() == addr.is_ipv4())
                    .ok_or((
                        i,
                        SessionError::Invalid(format!(
                            "peer {addr}: no GTP-U endpoint of its family to reach it from"
                        )),
                    ))?;
                b.peers.push(Peer {
                    addr,
                    ep: ep as u8,
                    state: Default::default(),
                    seq: Default::default(),
                    sent_ns: Default::default(),
                    seen_ns: Default::default(),
                    rtt_ns: Default::default(),
                    requests: Default::default(),
                    responses: Default::default(),
                    failures: Default::default(),
                });
            }
        }
        let mut s = Sessions {
            bus,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            by_fteid: HashMap::new(),
            by_ue4: HashMap::new(),
            by_ue6: HashMap::new(),
            in_64: HashMap::new(),
            by_peer: HashMap::new(),
            dl_data: Vec::new(),
            fidx_free: Vec::new(),
            fidx_next: 0,
            sent: 0,
            flow_moves: HashMap::new(),
        };
        let mut initial = Vec::with_capacity(spec.sessions.len());
        for (i, x) in spec.sessions.iter().enumerate() {
            let slot = s.insert(x.clone()).map_err(|e| (i, e))?;
            initial.push((slot, s.entry(slot), s.table(slot, true, None)));
        }
        *s.bus.initial.lock().unwrap_or_else(|e| e.into_inner()) = initial;
        Ok(s)
    }

    pub fn bus(&self) -> &Arc<SessionBus> {
        &self.bus
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn max(&self) -> usize {
        self.bus.max
    }

    /// Our GTP-U endpoints (`[gtpu] endpoints`).
    pub fn endpoints(&self) -> &[IpAddr] {
        &self.bus.endpoints
    }

    /// Whether a session has TEID `teid` on endpoint `local`.
    pub fn teid_taken(&self, local: IpAddr, teid: u32) -> bool {
        self.by_fteid.contains_key(&(local, teid))
    }

    fn entry(&self, slot: u32) -> Entry {
        let s = self.slots[slot as usize].as_ref().expect("live slot");
        let ep = self
            .bus
            .endpoints
            .iter()
            .position(|&e| e == s.spec.local)
            .unwrap_or(0) as u8;
        let mut e = Entry::of(&s.spec, ep);
        if s.fidx.is_some() {
            e.flags |= Entry::FLOWS;
        }
        e
    }

    /// Checks `s` against the other sessions (all but `except`).
    fn conflicts(&self, s: &SessionSpec, except: Option<u32>) -> Result<(), SessionError> {
        check(s).map_err(SessionError::Invalid)?;
        if !self.bus.endpoints.contains(&s.local) {
            return Err(SessionError::NotEndpoint(s.local));
        }
        let other = |slot: Option<&u32>| slot.copied().filter(|&x| Some(x) != except);
        let id_of = |slot: u32| self.slots[slot as usize].as_ref().map_or(0, |x| x.spec.id);
        if let Some(o) = other(self.by_fteid.get(&(s.local, s.teid))) {
            return Err(SessionError::TeidTaken(s.local, s.teid, id_of(o)));
        }
        if let Some(a) = s.ue4 {
            if let Some(o) = other(self.by_ue4.get(&a)) {
                return Err(SessionError::UeTaken(a.to_string(), id_of(o)));
            }
        }
        if let Some((a, l)) = s.ue6 {
            // A /128 inside another session's /64 is refused too: the
            // downlink lookup would be ambiguous.
            let p64 = Ipv6Addr::from(u128::from(a) & !(u64::MAX as u128));
            for k in [(a, l), (p64, 64)] {
                if let Some(o) = other(self.by_ue6.get(&k)) {
                    return Err(SessionError::UeTaken(format!("{a}/{l}"), id_of(o)));
                }
            }
            if l == 64 {
                if let Some(&o) = self
                    .in_64
                    .get(&((u128::from(a) >> 64) as u64))
                    .and_then(|v| v.iter().find(|&&o| Some(o) != except))
                {
                    return Err(SessionError::UeTaken(format!("{a}/{l}"), id_of(o)));
                }
            }
        }
        Ok(())
    }

    fn index(&mut self, slot: u32, s: &SessionSpec) {
        self.by_id.insert(s.id, slot);
        self.by_fteid.insert((s.local, s.teid), slot);
        if let Some(a) = s.ue4 {
            self.by_ue4.insert(a, slot);
        }
        if let Some(k) = s.ue6 {
            self.by_ue6.insert(k, slot);
            if k.1 == 128 {
                self.in_64
                    .entry((u128::from(k.0) >> 64) as u64)
                    .or_default()
                    .push(slot);
            }
        }
        self.by_peer
            .entry((s.peer, s.peer_teid))
            .or_default()
            .push(slot);
    }

    fn unindex(&mut self, slot: u32, s: &SessionSpec) {
        self.by_id.remove(&s.id);
        self.by_fteid.remove(&(s.local, s.teid));
        if let Some(a) = s.ue4 {
            self.by_ue4.remove(&a);
        }
        if let Some(k) = s.ue6 {
            self.by_ue6.remove(&k);
            let p = (u128::from(k.0) >> 64) as u64;
            if let Some(v) = self.in_64.get_mut(&p) {
                v.retain(|&x| x != slot);
                if v.is_empty() {
                    self.in_64.remove(&p);
                }
            }
        }
        if let Some(v) = self.by_peer.get_mut(&(s.peer, s.peer_teid)) {
            v.retain(|&x| x != slot);
            if v.is_empty() {
                self.by_peer.remove(&(s.peer, s.peer_teid));
            }
        }
    }

    /// Files `s` into the store (no command sent).
    fn insert(&mut self, s: SessionSpec) -> Result<u32, SessionError> {
        if self.by_id.contains_key(&s.id) {
            return Err(SessionError::Exists(s.id));
        }
        self.conflicts(&s, None)?;
        check_flows(&s)?;
        if !s.flows.is_empty()
            && self.fidx_free.is_empty()
            && self.fidx_next as usize >= self.sdf_max()
        {
            return Err(SessionError::FlowsFull(self.sdf_max()));
        }
        let slot = match self.free.pop() {
            Some(x) => x,
            None if self.slots.len() < self.bus.max => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
            None => return Err(SessionError::Full(self.bus.max)),
        };
        let fidx = (!s.flows.is_empty()).then(|| self.fidx_alloc()).flatten();
        self.index(slot, &s);
        self.slots[slot as usize] = Some(Session {
            spec: s,
            slot,
            error_indication: false,
            downlink_data: false,
            fidx,
        });
        Ok(slot)
    }

    /// Flow tables this store holds at most.
    fn sdf_max(&self) -> usize {
        SDF_SESSIONS.min(self.bus.max)
    }

    fn fidx_alloc(&mut self) -> Option<u16> {
        if let Some(i) = self.fidx_free.pop() {
            return Some(i);
        }
        if (self.fidx_next as usize) < self.sdf_max() {
            self.fidx_next += 1;
            return Some(self.fidx_next - 1);
        }
        None
    }

    /// Slot `slot`'s flow table for the workers (`fresh`: a new index;
    /// `old`: the rules it had, whose counters follow the same rules).
    fn table(&self, slot: u32, fresh: bool, old: Option<&[FlowRule]>) -> Option<Box<FlowTable>> {
        let s = self.slots[slot as usize].as_ref()?;
        let fidx = s.fidx?;
        let remap = old.filter(|o| *o != s.spec.flows.as_slice()).map(|o| {
            let mut m = [NO_RULE; MAX_RULES];
            let mut taken = [false; MAX_RULES];
            for (i, r) in s.spec.flows.iter().enumerate() {
                if let Some(j) = o.iter().enumerate().position(|(j, x)| x == r && !taken[j]) {
                    taken[j] = true;
                    m[i] = j as u8;
                }
            }
            m
        });
        Some(Box::new(FlowTable {
            fidx,
            fresh,
            remap,
            rules: s.spec.flows.iter().map(Rule::of).collect(),
        }))
    }

    /// Packets and bytes of each of session `slot`'s per-flow rules (in
    /// its spec's order), summed over the workers; empty without rules.
    pub fn flow_counters(&self, slot: u32) -> Vec<(u64, u64)> {
        let Some(s) = self.slots.get(slot as usize).and_then(|s| s.as_ref()) else {
            return Vec::new();
        };
        let Some(fidx) = s.fidx else {
            return Vec::new();
        };
        let base = usize::from(fidx) * MAX_RULES * 2;
        let moved = self.flow_moves.get(&slot).copied();
        let mut out = vec![(0u64, 0u64); s.spec.flows.len()];
        for (w, row) in self.bus.flow_counters.iter().enumerate() {
            let get = |i: usize| {
                (
                    row.get(base + i * 2).map_or(0, |a| a.load(Relaxed)),
                    row.get(base + i * 2 + 1).map_or(0, |a| a.load(Relaxed)),
                )
            };
            // A worker that has not yet taken the last table change still
            // counts in the old rows: read them as they will be moved.
            let behind = moved.filter(|&(seq, _)| {
                self.bus
                    .applied
                    .get(w)
                    .map_or(0, |a| a.load(std::sync::atomic::Ordering::Acquire))
                    < seq
            });
            for (i, o) in out.iter_mut().enumerate() {
                let c = match behind {
                    None => get(i),
                    Some((_, None)) => (0, 0),
                    Some((_, Some(m))) => match m[i] {
                        NO_RULE => (0, 0),
                        j => get(usize::from(j)),
                    },
                };
                o.0 += c.0;
                o.1 += c.1;
            }
        }
        out
    }

    /// Room for one more change on every worker's ring.
    fn room(&self) -> Result<(), SessionError> {
        match self.bus.rings.iter().map(|r| r.len()).max() {
            Some(n) if n >= self.bus.rings[0].capacity() => Err(SessionError::Busy(n)),
            _ => Ok(()),
        }
    }

    fn send(&mut self, c: Cmd) {
        self.sent += 1;
        if let Cmd::Put {
            slot,
            flows: Some(t),
            ..
        } = &c
        {
            if t.fresh || t.remap.is_some() {
                self.flow_moves
                    .insert(*slot, (self.sent, t.remap.filter(|_| !t.fresh)));
            }
        }
        for r in &self.bus.rings {
            // `room` was checked and this thread is the only producer.
            let _ = r.push(c.clone());
        }
    }

    /// Adds a session; its traffic flows once the workers applied it
    /// (before their next burst).
    pub fn add(&mut self, s: SessionSpec) -> Result<(), SessionError> {
        self.room()?;
        let slot = self.insert(s)?;
        self.send(Cmd::Put {
            slot,
            entry: self.entry(slot),
            fresh: true,
            end_marker: false,
            flows: self.table(slot, true, None),
        });
        Ok(())
    }

    /// Replaces session `s.id`'s fields (its counters go on; its rate
    /// buckets start full). `end_marker`: if the peer or its TEID changes
    /// (a path switch), an End Marker goes to the old one; returns whether
    /// one was queued.
    pub fn modify(&mut self, s: SessionSpec, end_marker: bool) -> Result<bool, SessionError> {
        self.room()?;
        let slot = *self.by_id.get(&s.id).ok_or(SessionError::NotFound(s.id))?;
        self.conflicts(&s, Some(slot))?;
        check_flows(&s)?;
        let had = self.slots[slot as usize].as_ref().and_then(|x| x.fidx);
        if !s.flows.is_empty()
            && had.is_none()
            && self.fidx_free.is_empty()
            && self.fidx_next as usize >= self.sdf_max()
        {
            return Err(SessionError::FlowsFull(self.sdf_max()));
        }
        let old = self.slots[slot as usize].take().expect("indexed slot");
        let old_flows = old.spec.flows.clone();
        // A flow table kept goes on counting (each rule its own); a new
        // one starts at zero.
        let (fidx, fresh_flows) = match (had, s.flows.is_empty()) {
            (Some(i), false) => (Some(i), false),
            (Some(i), true) => {
                self.fidx_free.push(i);
                (None, false)
            }
            (None, false) => (self.fidx_alloc(), true),
            (None, true) => (None, false),
        };
        self.unindex(slot, &old.spec);
        let same_path = old.spec.peer == s.peer
            && old.spec.peer_teid == s.peer_teid
            && old.spec.local == s.local;
        let mark = old.error_indication && same_path;
        // (Only a path that was one: a session set up without a peer has
        // nobody to tell.)
        let end_marker = end_marker && !same_path && old.spec.peer_teid != 0;
        let reported = old.downlink_data && s.downlink == Downlink::Buffer;
        self.index(slot, &s);
        self.slots[slot as usize] = Some(Session {
            spec: s,
            slot,
            error_indication: mark,
            downlink_data: reported,
            fidx,
        });
        self.send(Cmd::Put {
            slot,
            entry: self.entry(slot),
            fresh: false,
            end_marker,
            flows: self.table(slot, fresh_flows, Some(&old_flows)),
        });
        Ok(end_marker)
    }

    /// Deletes a session; returns it with its final counters.
    /// `end_marker`: an End Marker goes to its peer.
    pub fn delete(
        &mut self,
        id: u64,
        end_marker: bool,
    ) -> Result<(Session, [u64; COUNTERS]), SessionError> {
        self.room()?;
        let slot = *self.by_id.get(&id).ok_or(SessionError::NotFound(id))?;
        let counters = self.counters(slot);
        let old = self.slots[slot as usize].take().expect("indexed slot");
        self.unindex(slot, &old.spec);
        self.free.push(slot);
        if let Some(i) = old.fidx {
            self.fidx_free.push(i);
        }
        self.flow_moves.remove(&slot);
        let end_marker = end_marker && old.spec.peer_teid != 0;
        self.send(Cmd::Del { slot, end_marker });
        Ok((old, counters))
    }

    /// Drops the downlink packets the workers buffer for session `id`.
    pub fn flush(&mut self, id: u64) -> Result<(), SessionError> {
        self.room()?;
        let slot = *self.by_id.get(&id).ok_or(SessionError::NotFound(id))?;
        self.send(Cmd::Flush { slot });
        Ok(())
    }

    /// The sessions whose first buffered downlink packet (with `notify`)
    /// came since last asked; each is reported once until modified.
    pub fn take_downlink_data(&mut self) -> Vec<u64> {
        self.drain_events();
        std::mem::take(&mut self.dl_data)
    }

    pub fn get(&mut self, id: u64) -> Option<&Session> {
        self.drain_events();
        let slot = *self.by_id.get(&id)?;
        self.slots[slot as usize].as_ref()
    }

    /// The session in dataplane slot `slot` (what a frame's metadata
    /// names), if any.
    pub fn at_slot(&self, slot: u32) -> Option<&Session> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// Every session, by id.
    pub fn list(&mut self) -> Vec<&Session> {
        self.drain_events();
        let mut v: Vec<&Session> = self.slots.iter().flatten().collect();
        v.sort_by_key(|s| s.spec.id);
        v
    }

    /// A slot's counters summed over the workers.
    pub fn counters(&self, slot: u32) -> [u64; COUNTERS] {
        let mut c = [0u64; COUNTERS];
        for w in &self.bus.counters {
            if let Some(r) = w.get(slot as usize) {
                for (x, a) in c.iter_mut().zip(&r.0) {
                    *x += a.load(Relaxed);
                }
            }
        }
        c
    }

    /// Marks the sessions named by the Error Indications the workers
    /// received, and notes the first buffered downlink packets.
    pub fn drain_events(&mut self) {
        while let Some(e) = self.bus.events.pop() {
            match e {
                Event::ErrorIndication { peer, teid } => {
                    if let Some(v) = self.by_peer.get(&(peer, teid)) {
                        for &slot in v {
                            if let Some(s) = self.slots[slot as usize].as_mut() {
                                s.error_indication = true;
                            }
                        }
                    }
                }
                Event::DownlinkData { slot, teid } => {
                    if let Some(s) = self.slots.get_mut(slot as usize).and_then(|s| s.as_mut()) {
                        if s.spec.teid == teid && s.spec.notify && !s.downlink_data {
                            s.downlink_data = true;
                            // (Bounded: one per session.)
                            self.dl_data.push(s.spec.id);
                        }
                    }
                }
            }
        }
    }
}

/// One worker's sessions: see the module documentation.
pub(crate) struct Replica {
    bus: Arc<SessionBus>,
    worker: usize,
    pub(crate) entries: Vec<Entry>,
    /// Slots by endpoint and TEID ([`ul_key`]).
    ul: FlatIndex,
    /// Slots by UE IPv4 address.
    dl4: FlatIndex,
    /// Slots by UE IPv6 /128 address and /64 prefix (the prefix with its
    /// low 64 bits zero; a /128 never has them all zero).
    dl6: FlatIndex,
    /// /128 entries in `dl6` (none: one probe per downlink packet).
    n128: usize,
    /// Live entries with a maximum bit rate ([`Entry::rated`]).
    n_rated: usize,
    /// End Markers to send (worker 0 sends them; capacity reserved).
    pub(crate) end_markers: std::collections::VecDeque<EndMarker>,
    /// Sessions with downlink packets parked here (capacity reserved).
    buffered: HashMap<u32, Held, Fx>,
    /// Flow tables of the sessions with [`Entry::FLOWS`], by slot
    /// (capacity reserved).
    tables: HashMap<u32, Box<FlowTable>, Fx>,
}

/// One session's buffered downlink on one worker: the packets are parked
/// in the engine's lot under `BUFFER_TOKEN | slot`.
#[derive(Clone, Copy, Debug)]
struct Held {
    n: u32,
    /// The session's TEID when its first packet was held (a slot reused
    /// by another session does not get them).
    teid: u32,
    since_ns: u64,
}

/// A pre-pass's look-up in flight: the index and hash(es) of a frame's
/// session ([`Replica::ahead_uplink`] and the like).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ahead {
    Ul(u64),
    Dl4(u64),
    /// The /128 hash (when there are /128 sessions), the /64 one.
    Dl6(Option<u64>, u64),
}

/// An uplink index look-up's key check: endpoint and TEID.
struct UlKey<'a>(&'a [Entry], u8, u32);
/// A downlink IPv4 index look-up's key check.
struct Ue4Key<'a>(&'a [Entry], u32);
/// A downlink IPv6 index look-up's key check (a /128, or a /64 prefix
/// with its low bits zero).
struct Ue6Key<'a>(&'a [Entry], u128);

impl Key for UlKey<'_> {
    #[inline(always)]
    fn is(&self, slot: u32) -> bool {
        self.0
            .get(slot as usize)
            .is_some_and(|e| e.is_ul(self.1, self.2))
    }
}

impl Key for Ue4Key<'_> {
    #[inline(always)]
    fn is(&self, slot: u32) -> bool {
        self.0.get(slot as usize).is_some_and(|e| e.is_ue4(self.1))
    }
}

impl Key for Ue6Key<'_> {
    #[inline(always)]
    fn is(&self, slot: u32) -> bool {
        self.0.get(slot as usize).is_some_and(|e| e.is_ue6(self.1))
    }
}

/// The key of an uplink lookup: endpoint index and TEID.
#[inline]
fn ul_key(ep: u8, teid: u32) -> u64 {
    (u64::from(ep) << 32) | u64::from(teid)
}

impl Replica {
    /// Worker `worker`'s replica, with the sessions every worker starts
    /// with; the capacity for the configured maximum is reserved now.
    pub(crate) fn new(bus: Arc<SessionBus>, worker: usize) -> Replica {
        let max = bus.max;
        let worker = worker.min(bus.rings.len() - 1);
        let mut r = Replica {
            entries: crate::hint::huge_vec(max, Entry::default()),
            ul: FlatIndex::with_capacity(max),
            dl4: FlatIndex::with_capacity(max),
            dl6: FlatIndex::with_capacity(max),
            n128: 0,
            n_rated: 0,
            end_markers: std::collections::VecDeque::with_capacity(if worker == 0 {
                END_MARKER_QUEUE
            } else {
                0
            }),
            buffered: HashMap::with_capacity_and_hasher(BUFFER_SESSIONS, Fx::default()),
            tables: HashMap::with_capacity_and_hasher(SDF_SESSIONS.min(max), Fx::default()),
            bus,
            worker,
        };
        let initial = r
            .bus
            .initial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (slot, entry, flows) in initial {
            if let Some(t) = flows {
                r.tables.insert(slot, t);
            }
            r.put(slot, entry);
        }
        r
    }

    /// The endpoint index of our address `a` (the outer destination, 4
    /// or 16 octets): a scan of up to 8 endpoints of its family, a binary
    /// search past that (up to 256 endpoints; a scan of them all, as
    /// before, was up to ~1000 instructions a packet, two or three times).
    #[inline]
    pub(crate) fn endpoint(&self, a: &[u8]) -> Option<u8> {
        use crate::sorted::find;
        if let Ok(b) = <[u8; 4]>::try_from(a) {
            find(&self.bus.ep4, u32::from_be_bytes(b))
        } else if let Ok(b) = <[u8; 16]>::try_from(a) {
            find(&self.bus.ep6, u128::from_be_bytes(b))
        } else {
            None
        }
    }

    /// Our address of endpoint `ep`.
    #[inline]
    pub(crate) fn endpoint_addr(&self, ep: u8) -> IpAddr {
        self.bus.endpoint(ep)
    }

    fn unkey(&mut self, slot: u32) {
        let e = self.entries[slot as usize];
        if !e.has(Entry::LIVE) {
            return;
        }
        // (Each removes the key's pair only if it still names `slot`.)
        self.ul.remove(self.ul.hash64(ul_key(e.ep, e.teid)), slot);
        if e.has(Entry::UE4) {
            self.dl4.remove(self.dl4.hash64(u64::from(e.ue4)), slot);
        }
        if e.has(Entry::UE6)
            && self.dl6.remove(self.dl6.hash128(e.ue6), slot)
            && !e.has(Entry::UE6_64)
        {
            self.n128 -= 1;
        }
        if e.rated() {
            self.n_rated -= 1;
        }
        self.entries[slot as usize].flags = 0;
    }

    fn put(&mut self, slot: u32, e: Entry) {
        let Some(_) = self.entries.get(slot as usize) else {
            return;
        };
        self.unkey(slot);
        // A key another slot still has moves to `slot` (as the control
        // thread's store already did). Within the reserved capacity: the
        // control thread never has more than `max` sessions, each with at
        // most one key per index.
        let entries = &self.entries;
        let h = self.ul.hash64(ul_key(e.ep, e.teid));
        self.ul.insert(h, slot, UlKey(entries, e.ep, e.teid));
        if e.has(Entry::UE4) {
            let h = self.dl4.hash64(u64::from(e.ue4));
            self.dl4.insert(h, slot, Ue4Key(entries, e.ue4));
        }
        if e.has(Entry::UE6) {
            let h = self.dl6.hash128(e.ue6);
            let put = self.dl6.insert(h, slot, Ue6Key(entries, e.ue6));
            if put == Put::Added && !e.has(Entry::UE6_64) {
                self.n128 += 1;
            }
        }
        if e.rated() {
            self.n_rated += 1;
        }
        self.entries[slot as usize] = e;
    }

    /// Queues an End Marker to slot `slot`'s current peer (worker 0).
    fn end_marker(&mut self, slot: u32, now_ns: u64) {
        let Some(e) = self.entries.get(slot as usize).copied() else {
            return;
        };
        if self.worker != 0 || !e.has(Entry::LIVE) {
            return;
        }
        if self.end_markers.len() >= END_MARKER_QUEUE {
            self.stat(stat::END_MARKER_UNSENT);
            return;
        }
        let peer = if e.has(Entry::V6) {
            IpAddr::V6(Ipv6Addr::from(e.peer))
        } else {
            IpAddr::V4(Ipv4Addr::new(e.peer[0], e.peer[1], e.peer[2], e.peer[3]))
        };
        self.end_markers.push_back(EndMarker {
            ep: e.ep,
            peer,
            teid: e.peer_teid,
            queued_ns: now_ns,
        });
    }

    /// The configured peers and echo timers.
    pub(crate) fn bus(&self) -> &SessionBus {
        &self.bus
    }

    pub(crate) fn bus_arc(&self) -> &Arc<SessionBus> {
        &self.bus
    }

    /// Applies at most `n` queued changes; buffered downlink of sessions
    /// that forward again is released to node `encap`.
    #[inline]
    pub(crate) fn apply(&mut self, n: usize, cx: &mut crate::Ctx<'_>, encap: crate::StageId) {
        let now_ns = cx.now_ns;
        let ring = &self.bus.rings[self.worker];
        if ring.is_empty() {
            return;
        }
        for _ in 0..n {
            let Some(c) = self.bus.rings[self.worker].pop() else {
                break;
            };
            match c {
                Cmd::Put {
                    slot,
                    entry,
                    fresh,
                    end_marker,
                    flows,
                } => {
                    if end_marker {
                        self.end_marker(slot, now_ns);
                    }
                    // (Within the reserved capacity: at most SDF_SESSIONS.)
                    match flows {
                        Some(t) => {
                            if t.fresh {
                                self.zero_flow_counters(t.fidx);
                            } else if let Some(m) = t.remap {
                                self.remap_flow_counters(t.fidx, &m);
                            }
                            self.tables.insert(slot, t);
                        }
                        None => {
                            self.tables.remove(&slot);
                        }
                    }
                    if fresh {
                        if let Some(r) = self.bus.counters[self.worker].get(slot as usize) {
                            r.0.iter().for_each(|c| c.store(0, Relaxed));
                        }
                    }
                    self.put(slot, entry)
                }
                Cmd::Del { slot, end_marker } => {
                    if end_marker {
                        self.end_marker(slot, now_ns);
                    }
                    self.tables.remove(&slot);
                    if (slot as usize) < self.entries.len() {
                        self.unkey(slot)
                    }
                }
                Cmd::Flush { slot } => {
                    if let Some(h) = self.buffered.get(&slot).copied() {
                        if cx.discard(BUFFER_TOKEN | slot, crate::DropReason::GtpuBufferDiscarded) {
                            self.buffered.remove(&slot);
                            self.count(slot, DROPS, u64::from(h.n));
                        }
                    }
                }
            }
            // (Single writer; Release: the counter moves above are seen
            // by whoever sees the count.)
            if let Some(a) = self.bus.applied.get(self.worker) {
                a.store(a.load(Relaxed) + 1, std::sync::atomic::Ordering::Release);
            }
        }
        self.settle(cx, encap);
    }

    /// Moves this worker's counters of table `fidx` to the rules' new
    /// positions (`m[new] = old`), zeroing rules that are new.
    fn remap_flow_counters(&self, fidx: u16, m: &[u8; MAX_RULES]) {
        let base = usize::from(fidx) * MAX_RULES * 2;
        let Some(cs) = self
            .bus
            .flow_counters
            .get(self.worker)
            .and_then(|w| w.get(base..base + MAX_RULES * 2))
        else {
            return;
        };
        let old: [u64; MAX_RULES * 2] = std::array::from_fn(|k| cs[k].load(Relaxed));
        for (i, &j) in m.iter().enumerate() {
            let (p, b) = match j {
                NO_RULE => (0, 0),
                j => (old[usize::from(j) * 2], old[usize::from(j) * 2 + 1]),
            };
            cs[i * 2].store(p, Relaxed);
            cs[i * 2 + 1].store(b, Relaxed);
        }
    }

    fn zero_flow_counters(&self, fidx: u16) {
        let base = usize::from(fidx) * MAX_RULES * 2;
        if let Some(w) = self.bus.flow_counters.get(self.worker) {
            if let Some(cs) = w.get(base..base + MAX_RULES * 2) {
                cs.iter().for_each(|c| c.store(0, Relaxed));
            }
        }
    }

    /// Session `slot`'s per-flow rules on inner packet `ip` (uplink or
    /// downlink): the QFI the matched rule sends ([`NO_QFI`]: the
    /// session's), or why the packet is dropped. Counts the rule.
    #[inline]
    pub(crate) fn flows(
        &mut self,
        slot: u32,
        uplink: bool,
        ip: &[u8],
        v6: bool,
        now_ns: u64,
    ) -> Result<u8, crate::DropReason> {
        use crate::DropReason;
        let Some(t) = self.tables.get_mut(&slot) else {
            return Ok(NO_QFI);
        };
        let fidx = t.fidx;
        let Some(tuple) = Tuple::of(ip, v6) else {
            // Not a whole IP header (uplink: straight out of the tunnel;
            // downlink ones passed ip4-input / ip6-input).
            return Err(if uplink {
                DropReason::GtpuInnerMalformed
            } else if v6 {
                DropReason::Ip6Malformed
            } else {
                DropReason::Ip4Malformed
            });
        };
        let Some(i) = t.rules.iter().position(|r| r.matches(&tuple, uplink)) else {
            return Err(DropReason::GtpuSdfNoMatch);
        };
        let r = &mut t.rules[i];
        if !r.pass {
            return Err(DropReason::GtpuGateClosed);
        }
        if !r.bucket.take(now_ns, ip.len()) {
            return Err(DropReason::GtpuMbrExceeded);
        }
        let qfi = r.qfi;
        if let Some(w) = self.bus.flow_counters.get(self.worker) {
            let base = usize::from(fidx) * MAX_RULES * 2 + i * 2;
            if let (Some(p), Some(b)) = (w.get(base), w.get(base + 1)) {
                p.store(p.load(Relaxed).wrapping_add(1), Relaxed);
                b.store(b.load(Relaxed).wrapping_add(ip.len() as u64), Relaxed);
            }
        }
        Ok(qfi)
    }

    /// Holds a downlink packet of buffering session `slot` (its entry
    /// says so): the verdict for it.
    #[inline]
    pub(crate) fn buffer(&mut self, slot: u32, now_ns: u64) -> crate::Verdict {
        use crate::{DropReason, Verdict};
        let e = self.entries[slot as usize];
        let full = self.buffered.len() >= BUFFER_SESSIONS;
        match self.buffered.get_mut(&slot) {
            Some(h) if h.teid == e.teid && h.n < BUFFER_PER_SESSION => h.n += 1,
            Some(_) => {
                self.count(slot, DROPS, 1);
                return Verdict::Drop(DropReason::GtpuBufferFull);
            }
            None if full => {
                self.count(slot, DROPS, 1);
                return Verdict::Drop(DropReason::GtpuBufferFull);
            }
            None => {
                self.buffered.insert(
                    slot,
                    Held {
                        n: 1,
                        teid: e.teid,
                        since_ns: now_ns,
                    },
                );
                if e.mode & Entry::NOTIFY != 0 {
                    self.event(Event::DownlinkData { slot, teid: e.teid });
                }
            }
        }
        self.stat(stat::DL_BUFFERED);
        Verdict::Park(BUFFER_TOKEN | slot)
    }

    /// Releases (to `encap`) the buffered packets of sessions that forward
    /// again, discards those of sessions gone, dropping or held too long.
    /// A request the engine cannot take now is made again next time.
    pub(crate) fn settle(&mut self, cx: &mut crate::Ctx<'_>, encap: crate::StageId) {
        use crate::DropReason;
        if self.buffered.is_empty() {
            return;
        }
        let (entries, bus, worker) = (&self.entries, &self.bus, self.worker);
        let now = cx.now_ns;
        self.buffered.retain(|&slot, h| {
            let e = entries[slot as usize];
            let token = BUFFER_TOKEN | slot;
            let same = e.has(Entry::LIVE) && e.teid == h.teid;
            let (done, dropped) = if !same || !e.has(Entry::GATE_DL) {
                (cx.discard(token, DropReason::GtpuBufferDiscarded), same)
            } else if e.mode & Entry::BUFFER == 0 {
                (cx.release(token, encap), false)
            } else if now.saturating_sub(h.since_ns) > BUFFER_HOLD_NS {
                (cx.discard(token, DropReason::GtpuBufferExpired), true)
            } else {
                return true;
            };
            if done && dropped {
                // Dropped packets of a live session count as its drops.
                if let Some(c) = bus.counters[worker].get(slot as usize).map(|r| &r.0[DROPS]) {
                    c.store(c.load(Relaxed).wrapping_add(u64::from(h.n)), Relaxed);
                }
            }
            !done
        });
    }

    /// The session of endpoint `ep`'s TEID `teid`.
    #[inline]
    pub(crate) fn uplink(&self, ep: u8, teid: u32) -> Option<u32> {
        let h = self.ul.hash64(ul_key(ep, teid));
        self.ul.get(h, UlKey(&self.entries, ep, teid))
    }

    /// The session of UE IPv4 address `a`.
    #[inline]
    pub(crate) fn downlink4(&self, a: u32) -> Option<u32> {
        let h = self.dl4.hash64(u64::from(a));
        self.dl4.get(h, Ue4Key(&self.entries, a))
    }

    /// The session of UE IPv6 address `a`: its /128, else its /64.
    #[inline]
    pub(crate) fn downlink6(&self, a: u128) -> Option<u32> {
        if self.n128 != 0 {
            if let Some(s) = self.dl6.get(self.dl6.hash128(a), Ue6Key(&self.entries, a)) {
                return Some(s);
            }
        }
        let p = a & !(u64::MAX as u128);
        self.dl6.get(self.dl6.hash128(p), Ue6Key(&self.entries, p))
    }

    /// A burst pre-pass's first step for a G-PDU to endpoint `ep`: its
    /// index bucket prefetched, the look-up to finish with [`Replica::ahead_slot`].
    #[inline(always)]
    pub(crate) fn ahead_uplink(&self, ep: u8, teid: u32) -> Ahead {
        let h = self.ul.hash64(ul_key(ep, teid));
        self.ul.prefetch(h);
        Ahead::Ul(h)
    }

    /// The same for a packet to UE IPv4 address `a`.
    #[inline(always)]
    pub(crate) fn ahead_downlink4(&self, a: u32) -> Ahead {
        let h = self.dl4.hash64(u64::from(a));
        self.dl4.prefetch(h);
        Ahead::Dl4(h)
    }

    /// The same for a packet to UE IPv6 address `a` (its /128 bucket too
    /// when there are /128 sessions).
    #[inline(always)]
    pub(crate) fn ahead_downlink6(&self, a: u128) -> Ahead {
        let h64 = self.dl6.hash128(a & !(u64::MAX as u128));
        self.dl6.prefetch(h64);
        let h128 = (self.n128 != 0).then(|| self.dl6.hash128(a));
        if let Some(h) = h128 {
            self.dl6.prefetch(h);
        }
        Ahead::Dl6(h128, h64)
    }

    /// A pre-pass's second step: the session the bucket's fingerprint
    /// names (not yet checked: its entry is not in the cache yet) gets
    /// its entry's first line and its counters prefetched. Returns it.
    #[inline(always)]
    pub(crate) fn ahead_slot(&self, a: Ahead) -> Option<u32> {
        let slot = match a {
            Ahead::Ul(h) => self.ul.candidate(h),
            Ahead::Dl4(h) => self.dl4.candidate(h),
            Ahead::Dl6(h128, h64) => h128
                .and_then(|h| self.dl6.candidate(h))
                .or_else(|| self.dl6.candidate(h64)),
        };
        if let Some(slot) = slot {
            self.prefetch_slot(slot);
        }
        slot
    }

    /// Adds to a session counter (single writer).
    #[inline]
    pub(crate) fn count(&self, slot: u32, k: usize, n: u64) {
        if let Some(c) = self.bus.counters[self.worker]
            .get(slot as usize)
            .and_then(|r| r.0.get(k))
        {
            c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
        }
    }

    /// Whether a burst's sessions are looked up ahead
    /// ([`super::fast::prefetch`]): with this many sessions their entries
    /// (128 bytes), counters and index buckets no longer fit in a core's
    /// L2 cache (a 1M-session table missed on every packet: 2.4× the cost
    /// per packet of 1k sessions, `cargo bench -p xgw-bench --bench
    /// gtpu`); below it the second lookup would only cost instructions.
    #[inline]
    pub(crate) fn prefetch_on(&self) -> bool {
        self.ul.len() >= PREFETCH_MIN
    }

    /// Prefetches the first line of session `slot`'s entry and its
    /// counters, so their misses overlap with the next frames'.
    #[inline(always)]
    pub(crate) fn prefetch_slot(&self, slot: u32) {
        if let Some(e) = self.entries.get(slot as usize) {
            crate::hint::prefetch(e);
        }
        if let Some(r) = self.bus.counters[self.worker].get(slot as usize) {
            crate::hint::prefetch(r);
        }
    }

    /// Whether some session has a maximum bit rate (its entry's second
    /// line is read too).
    #[inline]
    pub(crate) fn any_rated(&self) -> bool {
        self.n_rated != 0
    }

    /// Prefetches the second line of session `slot`'s entry (its token
    /// buckets) if it has a rate: a pre-pass's third step, once the
    /// first lines are on their way.
    #[inline(always)]
    pub(crate) fn prefetch_rated(&self, slot: u32) {
        if let Some(e) = self.entries.get(slot as usize) {
            if e.rated() {
                crate::hint::prefetch(&e.ul);
            }
        }
    }

    /// Adds one packet of `bytes` to a session's packet and byte
    /// counters `k`, `k + 1` (`UL_PKTS` or `DL_PKTS`; single writer).
    #[inline(always)]
    pub(crate) fn count_packet(&self, slot: u32, k: usize, bytes: u64) {
        if let Some([p, b]) = self.bus.counters[self.worker]
            .get(slot as usize)
            .and_then(|r| r.0.get(k..k + 2))
            .and_then(|c| c.first_chunk::<2>())
        {
            p.store(p.load(Relaxed).wrapping_add(1), Relaxed);
            b.store(b.load(Relaxed).wrapping_add(bytes), Relaxed);
        }
    }

    /// Adds one to a feature counter.
    #[inline]
    pub(crate) fn stat(&self, k: usize) {
        if let Some(c) = self.bus.stats[self.worker].get(k) {
            c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
        }
    }

    /// Tells the control thread about an Error Indication (lost, and
    /// counted, if its ring is full).
    pub(crate) fn error_indication(&self, peer: IpAddr, teid: u32) {
        self.event(Event::ErrorIndication { peer, teid });
    }

    fn event(&self, e: Event) {
        if self.bus.events.push(e).is_err() {
            self.bus.events_lost.fetch_add(1, Relaxed);
        }
    }
}

impl Replica {
    /// Bytes this replica reserved: its entries, its counters and its
    /// three indexes ([`FlatIndex`]: 64-byte buckets, a power of two of
    /// them, at least a quarter as many as sessions).
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.bus.max * std::mem::size_of::<Row>()
            + self.ul.reserved_bytes()
            + self.dl4.reserved_bytes()
            + self.dl6.reserved_bytes()
    }
}

/// Bytes per session one worker reserves for `max_sessions` sessions
/// (see `Replica::reserved_bytes`): 240 when `max_sessions` is a multiple
/// of 4, a little more for a handful of sessions.
pub fn bytes_per_session(max_sessions: usize) -> usize {
    let max = max_sessions.clamp(1, MAX_SESSIONS_LIMIT);
    let bus = SessionBus::new(1, max, Vec::new());
    Replica::new(bus, 0).reserved_bytes() / max
}

#[cfg(test)]
mod tests;
