//! Stateful NAT64 (RFC 6146): pool4, the Binding Information Base and
//! the session table of one worker, the TCP state machine and the timers.
//!
//! Each worker owns its tables outright (no locks, no sharing): static BIB
//! entries are on every worker; dynamic ones are made from the worker's
//! own slice of each pool4 port range (the range split in equal parts by
//! worker), so the IPv4 transport address of a binding names the worker
//! that owns it. Tables are allocated whole at start and bounded
//! (`max_sessions` per worker; BIB entries at most as many): when full, new
//! flows are refused with a counted reason and existing ones keep working.
//! The bindings and sessions live in arenas, found through three
//! [`FlatIndex`]es (by IPv6 and by IPv4 transport address, and sessions
//! by binding and remote) whose buckets a burst pre-pass can prefetch;
//! the index hashes and the remaining maps use ahash's keyed hash
//! (random keys, built to resist collision attacks): the keys (remote
//! addresses and ports) are chosen by whoever sends the packets.

use ahash::RandomState;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::flat::{FlatIndex, Key};
use crate::DropReason;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
/// ICMP queries (the identifier is the "port"); the IPv4 protocol number.
pub const ICMP: u8 = 1;

/// The default session capacity of a worker.
pub const DEFAULT_MAX_SESSIONS: u32 = 65536;
/// The most a worker may be configured for.
pub const MAX_SESSIONS_LIMIT: u32 = 1 << 22;

/// One pool4 entry: an address with a port (or ICMP identifier) range for
/// some protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool4 {
    pub addr: Ipv4Addr,
    pub lo: u16,
    pub hi: u16,
    pub tcp: bool,
    pub udp: bool,
    pub icmp: bool,
}

impl Pool4 {
    fn has(&self, proto: u8) -> bool {
        match proto {
            TCP => self.tcp,
            UDP => self.udp,
            ICMP => self.icmp,
            _ => false,
        }
    }
}

/// pool4 by address, for the per-packet tests (a binary search instead of
/// a scan of every entry: with 1024 pool4 addresses the scans made each
/// IPv4 packet to pool4 six times dearer): (address, index into `pool4`)
/// sorted by address, config order within one.
#[derive(Clone, Debug, Default)]
struct Pool4Index(Vec<(u32, u32)>);

impl Pool4Index {
    fn new(pool4: &[Pool4]) -> Pool4Index {
        let mut v: Vec<(u32, u32)> = (0..pool4.len() as u32)
            .map(|k| (u32::from(pool4[k as usize].addr), k))
            .collect();
        v.sort_by_key(|e| e.0);
        Pool4Index(v)
    }

    /// The index entries of address `a` (their second halves are
    /// indexes into `pool4`).
    #[inline]
    fn of(&self, a: [u8; 4]) -> &[(u32, u32)] {
        crate::sorted::all(&self.0, u32::from_be_bytes(a))
    }
}

/// What [`Table::pool4_at`] found: the pool4 entries of one address.
#[derive(Clone, Copy)]
pub enum Pool4At<'a> {
    /// A pool small enough to scan, and the address.
    Scan(&'a [Pool4], Ipv4Addr),
    /// The pool and the address's index entries (their second halves
    /// index the pool).
    Indexed(&'a [Pool4], &'a [(u32, u32)]),
}

impl<'a> Pool4At<'a> {
    /// Whether the address is in pool4 at all.
    #[inline(always)]
    pub fn any(&self) -> bool {
        match *self {
            Pool4At::Scan(pool, a) => pool.iter().any(|p| p.addr == a),
            Pool4At::Indexed(_, ix) => !ix.is_empty(),
        }
    }

    /// The entry of the address holding `port` of `proto`, if any.
    #[inline(always)]
    pub fn entry(&self, proto: u8, port: u16) -> Option<&'a Pool4> {
        let fits = |p: &Pool4| p.has(proto) && (p.lo..=p.hi).contains(&port);
        match *self {
            Pool4At::Scan(pool, a) => {
                for p in pool {
                    if p.addr == a && fits(p) {
                        return Some(p);
                    }
                }
                None
            }
            Pool4At::Indexed(pool, ix) => {
                for &(_, k) in ix {
                    if let Some(p) = pool.get(k as usize) {
                        if fits(p) {
                            return Some(p);
                        }
                    }
                }
                None
            }
        }
    }

    /// Whether `(proto, port)` of the address is in pool4.
    #[inline(always)]
    pub fn has(&self, proto: u8, port: u16) -> bool {
        self.entry(proto, port).is_some()
    }
}

/// A static BIB entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticBib {
    pub proto: u8,
    pub v6: Ipv6Addr,
    pub port6: u16,
    pub v4: Ipv4Addr,
    pub port4: u16,
}

/// Session lifetimes (RFC 6146 §4; Jool's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub udp_s: u32,
    pub tcp_est_s: u32,
    pub tcp_trans_s: u32,
    pub icmp_s: u32,
    /// How long an unsolicited IPv4 SYN is held for a simultaneous open.
    pub tcp_incoming_syn_s: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp_s: 300,
            tcp_est_s: 7200,
            tcp_trans_s: 240,
            icmp_s: 60,
            tcp_incoming_syn_s: 6,
        }
    }
}

/// The stateful part of `[nat64]` (mode = "nat64").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatefulSpec {
    pub pool4: Vec<Pool4>,
    pub static_bib: Vec<StaticBib>,
    pub max_sessions: u32,
    pub timeouts: Timeouts,
    /// Address-dependent filtering: an IPv4 packet needs a session with
    /// its source address (endpoint-independent when false).
    pub address_dependent_filtering: bool,
    /// Refuse IPv4-initiated TCP (a SYN with no session) outright.
    pub drop_externally_initiated_tcp: bool,
    /// Unsolicited IPv4 SYNs held at once for a simultaneous open (RFC
    /// 6146 §3.5.2.2); 0: none, they are dropped.
    pub max_stored_v4_syns: u32,
}

/// TCP states (RFC 6146 §3.5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    V4Init,
    V6Init,
    Established,
    V4FinRcv,
    V6FinRcv,
    BothFinRcv,
    Trans,
}

impl TcpState {
    pub fn name(self) -> &'static str {
        match self {
            TcpState::V4Init => "V4_INIT",
            TcpState::V6Init => "V6_INIT",
            TcpState::Established => "ESTABLISHED",
            TcpState::V4FinRcv => "V4_FIN_RCV",
            TcpState::V6FinRcv => "V6_FIN_RCV",
            TcpState::BothFinRcv => "V4_FIN_V6_FIN_RCV",
            TcpState::Trans => "TRANS",
        }
    }
}

/// A BIB entry.
#[derive(Clone, Copy, Debug)]
pub struct Bib {
    pub proto: u8,
    pub a6: [u8; 16],
    pub p6: u16,
    pub a4: [u8; 4],
    pub p4: u16,
    pub is_static: bool,
    pub sessions: u32,
}

/// A session: its BIB entry and the remote IPv4 transport address.
/// Aligned to 32 bytes (24 of fields): a session never straddles two
/// cache lines, so the pre-pass's one prefetch brings all of it (at 24
/// bytes, one in three had its timer on the next line).
#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
pub struct Session {
    pub bib: u32,
    pub r4: [u8; 4],
    pub rp: u16,
    pub tcp: Option<TcpState>,
    pub expires_ns: u64,
}

/// Sessions from which [`Table::prefetch_on`] holds.
const PREFETCH_MIN: usize = 16384;

type K6 = (u8, [u8; 16], u16);
type K4 = (u8, [u8; 4], u16);
/// A session's remote IPv4 transport address.
type Remote = ([u8; 4], u16);

/// Index key checks against the arenas.
struct Bib6<'a>(&'a [Option<Bib>], K6);
struct Bib4<'a>(&'a [Option<Bib>], K4);
/// A session by its flow seen from IPv6 (its binding's IPv6 transport
/// address and the remote) or from IPv4 (the binding's IPv4 one): the
/// remote is checked in the session, the rest in its binding (the line a
/// translation reads anyway).
struct Sess6<'a>(&'a [Option<Session>], &'a [Option<Bib>], K6, Remote);
struct Sess4<'a>(&'a [Option<Session>], &'a [Option<Bib>], K4, Remote);

impl Key for Bib6<'_> {
    #[inline(always)]
    fn is(&self, i: u32) -> bool {
        matches!(self.0.get(i as usize), Some(Some(b)) if (b.proto, b.a6, b.p6) == self.1)
    }
}

impl Key for Bib4<'_> {
    #[inline(always)]
    fn is(&self, i: u32) -> bool {
        matches!(self.0.get(i as usize), Some(Some(b)) if (b.proto, b.a4, b.p4) == self.1)
    }
}

impl Key for Sess6<'_> {
    #[inline(always)]
    fn is(&self, i: u32) -> bool {
        match self.0.get(i as usize) {
            Some(Some(s)) if (s.r4, s.rp) == self.3 => matches!(self.1.get(s.bib as usize),
                Some(Some(b)) if (b.proto, b.a6, b.p6) == self.2),
            _ => false,
        }
    }
}

impl Key for Sess4<'_> {
    #[inline(always)]
    fn is(&self, i: u32) -> bool {
        match self.0.get(i as usize) {
            Some(Some(s)) if (s.r4, s.rp) == self.3 => matches!(self.1.get(s.bib as usize),
                Some(Some(b)) if (b.proto, b.a4, b.p4) == self.2),
            _ => false,
        }
    }
}

/// Where a packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    V6,
    V4,
}

/// TCP flags that move the state machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
}

impl Flags {
    pub fn of(l4: &[u8]) -> Flags {
        let f = l4.get(13).copied().unwrap_or(0);
        Flags {
            syn: f & 0x02 != 0,
            fin: f & 0x01 != 0,
            rst: f & 0x04 != 0,
        }
    }
}

/// An IPv4 SYN held for a simultaneous open: the pool4 transport address
/// it was sent to, its source, and until when it waits (RFC 6146
/// §3.5.2.2: 6 s).
#[derive(Clone, Copy, Debug)]
pub struct Held {
    pub a4: [u8; 4],
    pub p4: u16,
    pub r4: [u8; 4],
    pub rp: u16,
    pub until_ns: u64,
    /// Its time is up: released to be answered with Port Unreachable.
    pub expired: bool,
}

/// The engine token of held SYN slot `i` (the neighbour cache's tokens
/// are below 1 << 30, GTP-U's buffers at 1 << 31 and up).
pub const HELD_TOKEN: u32 = 1 << 30;

/// The counters a worker keeps for `xgw nat64` (single writer).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub bib_created: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    /// Packets handed to the worker owning their binding, taken from
    /// other workers, and taken but lost (no frame to put them in).
    pub handoff_out: u64,
    pub handoff_in: u64,
    pub handoff_lost: u64,
}

/// One worker's tables.
pub struct Table {
    /// Sessions from which the pre-pass runs ([`PREFETCH_MIN`]; tests
    /// set it to 0 or `usize::MAX`).
    pub(crate) prefetch_min: usize,
    spec: StatefulSpec,
    /// `spec.pool4` by address.
    pool4_ix: Pool4Index,
    worker: u32,
    workers: u32,
    max: usize,
    bibs: Vec<Option<Bib>>,
    bib_free: Vec<u32>,
    /// Bindings by IPv6 transport address ([`K6`]).
    bib6: FlatIndex,
    /// Bindings by IPv4 transport address ([`K4`]).
    bib4: FlatIndex,
    sess: Vec<Option<Session>>,
    sess_free: Vec<u32>,
    /// Sessions by flow: by the binding's IPv6 transport address and the
    /// remote (what an IPv6 packet carries), and by the binding's IPv4
    /// one and the remote (an IPv4 packet): an established flow's packet
    /// finds its session in one lookup, its binding through it (before:
    /// the binding, then the session by binding and remote — two lookups,
    /// four cache lines at 1M sessions; now three).
    s6: FlatIndex,
    s4: FlatIndex,
    /// The three indexes' keyed hash.
    rs: RandomState,
    /// Sessions per (binding, remote address): address-dependent
    /// filtering asks whether there is one.
    by_addr: HashMap<(u32, [u8; 4]), u32, RandomState>,
    /// Fragmented datagrams whose first fragment was translated: what
    /// their other fragments translate to (from IPv6: the binding's IPv4
    /// address; from IPv4: its IPv6 address), in a bounded map with
    /// their keys in arrival order for expiry.
    frags: HashMap<FragKey, ([u8; 16], u64), RandomState>,
    frag_order: std::collections::VecDeque<(FragKey, u64)>,
    /// IPv4 SYNs held for a simultaneous open, by slot; the free slots
    /// (a stack); how many are held, and how many of those are marked
    /// expired. A SYN flood at pool4 fills the slots: with the stack and
    /// the counts a SYN that finds them full, and the tests for expired
    /// ones between ticks, cost no scan of `max_stored_v4_syns` slots.
    held: Vec<Option<Held>>,
    held_free: Vec<u32>,
    held_live: u32,
    held_expired: u32,
    /// Next port to try, per pool4 entry.
    cursor: Vec<u32>,
    /// Free ports of this worker's slice, per pool4 entry and protocol
    /// (TCP, UDP, ICMP): an exhausted slice is skipped at once.
    free: Vec<[u32; 3]>,
    /// Next session slot the sweep looks at.
    sweep: usize,
    pub counts: Counts,
}

/// How long a session of `proto` in TCP state `st` lives past a packet.
#[inline]
fn lifetime_ns(t: &Timeouts, proto: u8, st: Option<TcpState>) -> u64 {
    let s = match (proto, st) {
        (TCP, Some(TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv)) => t.tcp_est_s,
        (TCP, _) => t.tcp_trans_s,
        (UDP, _) => t.udp_s,
        _ => t.icmp_s,
    };
    u64::from(s) * 1_000_000_000
}

/// Sessions the sweep looks at per call (every tick).
const SWEEP: usize = 4096;

/// Fragmented datagrams a worker follows at once.
pub const FRAG_CACHE: usize = 4096;
/// How long the later fragments of a datagram may take after its first.
pub const FRAG_TIMEOUT_NS: u64 = 2_000_000_000;

/// A fragmented datagram: direction (6: from IPv6, 4: from IPv4),
/// protocol (IPv4 numbering), source, destination (IPv4 ones in the first
/// four bytes) and identification.
pub type FragKey = (u8, u8, [u8; 16], [u8; 16], u32);

impl Table {
    /// The tables of worker `worker` of `workers`, with every static BIB
    /// entry.
    pub fn new(spec: &StatefulSpec, worker: usize, workers: usize) -> Table {
        let max = spec.max_sessions as usize;
        let nb = max + spec.static_bib.len();
        let mut t = Table {
            spec: spec.clone(),
            pool4_ix: Pool4Index::new(&spec.pool4),
            prefetch_min: PREFETCH_MIN,
            worker: worker as u32,
            workers: workers.max(1) as u32,
            max,
            bibs: crate::hint::huge_capacity(nb),
            bib_free: Vec::with_capacity(nb),
            bib6: FlatIndex::with_capacity(nb),
            bib4: FlatIndex::with_capacity(nb),
            sess: crate::hint::huge_vec(max, None),
            sess_free: (0..max as u32).rev().collect(),
            s6: FlatIndex::with_capacity(max),
            s4: FlatIndex::with_capacity(max),
            rs: RandomState::new(),
            by_addr: HashMap::with_capacity_and_hasher(max, RandomState::new()),
            cursor: vec![0; spec.pool4.len()],
            free: Vec::new(),
            frags: HashMap::with_capacity_and_hasher(FRAG_CACHE, RandomState::new()),
            frag_order: std::collections::VecDeque::with_capacity(FRAG_CACHE),
            held: vec![None; spec.max_stored_v4_syns as usize],
            held_free: (0..spec.max_stored_v4_syns).rev().collect(),
            held_live: 0,
            held_expired: 0,
            sweep: 0,
            counts: Counts::default(),
        };
        t.free = spec
            .pool4
            .iter()
            .map(|p| {
                let n = t.slice(p, t.worker).map_or(0, |(lo, hi)| hi - lo + 1);
                [
                    n * u32::from(p.tcp),
                    n * u32::from(p.udp),
                    n * u32::from(p.icmp),
                ]
            })
            .collect();
        for s in &spec.static_bib {
            let _ = t.add_bib(Bib {
                proto: s.proto,
                a6: s.v6.octets(),
                p6: s.port6,
                a4: s.v4.octets(),
                p4: s.port4,
                is_static: true,
                sessions: 0,
            });
        }
        t
    }

    pub fn spec(&self) -> &StatefulSpec {
        &self.spec
    }

    /// The pool4 entries of address `addr`, looked up once (a scan of a
    /// pool of up to [`crate::sorted::SCAN`] entries, cheaper there than
    /// the index: 23 instructions per packet on nat64-6to4 with one; else
    /// the index's binary search) for the tests that follow: whether
    /// there are any, which holds a port.
    #[inline(always)]
    pub fn pool4_at(&self, addr: [u8; 4]) -> Pool4At<'_> {
        let pool = &self.spec.pool4[..];
        if pool.len() <= crate::sorted::SCAN {
            return Pool4At::Scan(pool, Ipv4Addr::from(addr));
        }
        Pool4At::Indexed(pool, self.pool4_ix.of(addr))
    }

    /// The pool4 entry holding `(addr, proto, port)`, if any.
    #[inline(always)]
    fn pool4_entry(&self, addr: [u8; 4], proto: u8, port: u16) -> Option<&Pool4> {
        self.pool4_at(addr).entry(proto, port)
    }

    /// Is `(addr, proto, port)` in pool4 (a packet to it is ours)?
    #[inline(always)]
    pub fn in_pool4(&self, addr: [u8; 4], proto: u8, port: u16) -> bool {
        self.pool4_entry(addr, proto, port).is_some()
    }

    /// Is `addr` a pool4 address (of any protocol and port)?
    #[inline(always)]
    pub fn is_pool4_addr(&self, addr: [u8; 4]) -> bool {
        self.pool4_at(addr).any()
    }

    fn add_bib(&mut self, b: Bib) -> Option<u32> {
        let i = match self.bib_free.pop() {
            Some(i) => i,
            None if self.bibs.len() < self.bibs.capacity() => {
                self.bibs.push(None);
                (self.bibs.len() - 1) as u32
            }
            None => return None,
        };
        self.bibs[i as usize] = Some(b);
        let (k6, k4) = ((b.proto, b.a6, b.p6), (b.proto, b.a4, b.p4));
        let (h6, h4) = (self.h6(b.proto, b.a6, b.p6), self.h4(b.proto, b.a4, b.p4));
        // (Within capacity: at most `nb` bindings, each one key per index.)
        self.bib6.insert(h6, i, Bib6(&self.bibs, k6));
        self.bib4.insert(h4, i, Bib4(&self.bibs, k4));
        if let Some((k, j)) = self.slot_of(b.proto, b.a4, b.p4) {
            self.free[k][j] = self.free[k][j].saturating_sub(1);
        }
        Some(i)
    }

    /// The pool4 entry (and protocol index) whose slice of this worker
    /// holds `(a4, port)`.
    fn slot_of(&self, proto: u8, a4: [u8; 4], port: u16) -> Option<(usize, usize)> {
        let j = match proto {
            TCP => 0,
            UDP => 1,
            _ => 2,
        };
        self.pool4_ix.of(a4).iter().find_map(|&(_, k)| {
            let p = self.spec.pool4.get(k as usize)?;
            let (lo, hi) = self.slice(p, self.worker)?;
            (p.has(proto) && (lo..=hi).contains(&u32::from(port))).then_some((k as usize, j))
        })
    }

    fn drop_bib(&mut self, i: u32) {
        if let Some(b) = self.bibs[i as usize].take() {
            self.bib6.remove(self.h6(b.proto, b.a6, b.p6), i);
            self.bib4.remove(self.h4(b.proto, b.a4, b.p4), i);
            self.bib_free.push(i);
            if let Some((k, j)) = self.slot_of(b.proto, b.a4, b.p4) {
                self.free[k][j] += 1;
            }
        }
    }

    pub fn bib(&self, i: u32) -> &Bib {
        self.bibs[i as usize].as_ref().expect("a live BIB entry")
    }

    pub fn bib_by6(&self, proto: u8, a6: [u8; 16], p6: u16) -> Option<u32> {
        self.bib6
            .get(self.h6(proto, a6, p6), Bib6(&self.bibs, (proto, a6, p6)))
    }

    pub fn bib_by4(&self, proto: u8, a4: [u8; 4], p4: u16) -> Option<u32> {
        self.bib4
            .get(self.h4(proto, a4, p4), Bib4(&self.bibs, (proto, a4, p4)))
    }

    /// The session of the flow from `(proto, a6, p6)` to `(r4, rp)`.
    #[inline]
    fn session6(&self, proto: u8, a6: [u8; 16], p6: u16, r4: [u8; 4], rp: u16) -> Option<u32> {
        self.s6.get(
            self.hs6(proto, a6, p6, r4, rp),
            Sess6(&self.sess, &self.bibs, (proto, a6, p6), (r4, rp)),
        )
    }

    /// The session of the flow to `(proto, a4, p4)` from `(r4, rp)`.
    #[inline]
    fn session4(&self, proto: u8, a4: [u8; 4], p4: u16, r4: [u8; 4], rp: u16) -> Option<u32> {
        self.s4.get(
            self.hs4(proto, a4, p4, r4, rp),
            Sess4(&self.sess, &self.bibs, (proto, a4, p4), (r4, rp)),
        )
    }

    /// The index hash of a binding's IPv6 transport address (the key
    /// packed into integers: one keyed round per word).
    #[inline]
    fn h6(&self, proto: u8, a6: [u8; 16], p: u16) -> u64 {
        self.rs.hash_one((
            u128::from_be_bytes(a6),
            (u32::from(proto) << 16) | u32::from(p),
        ))
    }

    /// The index hash of a binding's IPv4 transport address.
    #[inline]
    fn h4(&self, proto: u8, a4: [u8; 4], p: u16) -> u64 {
        self.rs.hash_one(
            (u64::from(proto) << 48) | (u64::from(u32::from_be_bytes(a4)) << 16) | u64::from(p),
        )
    }

    /// The index hash of a session's key.
    #[inline]
    fn hs6(&self, proto: u8, a6: [u8; 16], p6: u16, r4: [u8; 4], rp: u16) -> u64 {
        // (The protocol folded into the remote address's top octet: at
        // most three flows share a hash input, whatever the sender picks,
        // and the index checks the whole key.)
        let w = (u64::from(u32::from_be_bytes(r4)) << 32 | u64::from(p6) << 16 | u64::from(rp))
            ^ u64::from(proto) << 56;
        self.rs.hash_one((u128::from_be_bytes(a6), w))
    }

    #[inline]
    fn hs4(&self, proto: u8, a4: [u8; 4], p4: u16, r4: [u8; 4], rp: u16) -> u64 {
        self.rs.hash_one(
            u128::from(proto) << 96
                | u128::from(u32::from_be_bytes(a4)) << 64
                | u128::from(p4) << 48
                | u128::from(u32::from_be_bytes(r4)) << 16
                | u128::from(rp),
        )
    }

    /// Worker `w`'s slice of pool4 entry `p`'s range: the range split in
    /// `workers` equal parts, the last one taking the remainder (a range
    /// smaller than the worker count: one port each, some workers none).
    fn slice(&self, p: &Pool4, w: u32) -> Option<(u32, u32)> {
        let (lo, hi) = (u32::from(p.lo), u32::from(p.hi));
        let per = ((hi - lo + 1) / self.workers).max(1);
        let start = lo + per * w;
        if start > hi {
            return None;
        }
        let end = if w + 1 == self.workers {
            hi
        } else {
            (start + per - 1).min(hi)
        };
        Some((start, end))
    }

    /// The workers sharing pool4.
    pub fn workers(&self) -> usize {
        self.workers as usize
    }

    /// The worker whose slice holds the pool4 transport address
    /// `(a4, port)` of `proto` (0 outside pool4: a static binding there).
    pub fn owner(&self, a4: [u8; 4], proto: u8, port: u16) -> usize {
        let Some(p) = self.pool4_entry(a4, proto, port) else {
            return 0;
        };
        let n = u32::from(p.hi - p.lo) + 1;
        let per = (n / self.workers).max(1);
        (u32::from(port - p.lo) / per).min(self.workers - 1) as usize
    }

    /// A free pool4 transport address for a new binding of `proto` from
    /// this worker's slice (the IPv6 port first, if it is in the slice and
    /// free: RFC 6146 §3.5.1.1 prefers keeping it).
    fn alloc4(
        &mut self,
        proto: u8,
        want: u16,
        at: Option<([u8; 4], u16)>,
    ) -> Option<([u8; 4], u16)> {
        // (A held SYN's address, if it is still free: the connection the
        // IPv4 peer is opening.)
        if let Some((a4, p4)) = at {
            if self.bib_by4(proto, a4, p4).is_none() {
                return Some((a4, p4));
            }
        }
        let j = match proto {
            TCP => 0,
            UDP => 1,
            _ => 2,
        };
        for (k, p) in self.spec.pool4.iter().enumerate() {
            if !p.has(proto) || self.free[k][j] == 0 {
                continue;
            }
            let Some((lo, hi)) = self.slice(p, self.worker) else {
                continue;
            };
            let a4 = p.addr.octets();
            if (lo..=hi).contains(&u32::from(want)) && self.bib_by4(proto, a4, want).is_none() {
                return Some((a4, want));
            }
            let span = hi - lo + 1;
            for _ in 0..span {
                let port = (lo + self.cursor[k] % span) as u16;
                self.cursor[k] = (self.cursor[k] + 1) % span;
                if self.bib_by4(proto, a4, port).is_none() {
                    return Some((a4, port));
                }
            }
        }
        None
    }

    /// Whether a burst's flows are looked up ahead ([`super::fast::prefetch`]):
    /// with this many sessions the tables no longer fit in a core's L2
    /// cache; below it the second lookup would only cost instructions.
    #[inline]
    pub(crate) fn prefetch_on(&self) -> bool {
        self.s6.len() >= self.prefetch_min
    }

    /// A pre-pass's first step for a flow — from IPv6 (`v6`: the
    /// binding's IPv6 address) or from IPv4 (`a4`), the binding's port
    /// `p`, the remote `(r4, rp)` —: the hash of its session's key, with
    /// that index bucket prefetched.
    #[inline]
    pub(crate) fn ahead_session(
        &self,
        proto: u8,
        v6: Option<[u8; 16]>,
        a4: [u8; 4],
        p: u16,
        (r4, rp): Remote,
    ) -> u64 {
        match v6 {
            Some(a6) => {
                let h = self.hs6(proto, a6, p, r4, rp);
                self.s6.prefetch(h);
                h
            }
            None => {
                let h = self.hs4(proto, a4, p, r4, rp);
                self.s4.prefetch(h);
                h
            }
        }
    }

    /// The second step: the session the bucket's fingerprint names (not
    /// yet checked) gets its entry prefetched; returns its slot.
    #[inline]
    pub(crate) fn ahead_entry(&self, h: u64, v6: bool) -> Option<u32> {
        let i = if v6 {
            self.s6.candidate(h)
        } else {
            self.s4.candidate(h)
        }?;
        crate::hint::prefetch(self.sess.get(i as usize)?);
        Some(i)
    }

    /// The third step: the binding of session `i` gets its entry
    /// prefetched.
    #[inline]
    pub(crate) fn ahead_bib(&self, i: u32) {
        if let Some(Some(s)) = self.sess.get(i as usize) {
            if let Some(b) = self.bibs.get(s.bib as usize) {
                crate::hint::prefetch(b);
            }
        }
    }

    /// An IPv6 packet of `proto` from `(a6, p6)` to the remote `(r4, rp)`:
    /// its binding and session, made if need be (RFC 6146 §3.5). Returns
    /// the binding's IPv4 transport address.
    #[allow(clippy::too_many_arguments)]
    pub fn from6(
        &mut self,
        proto: u8,
        a6: [u8; 16],
        p6: u16,
        r4: [u8; 4],
        rp: u16,
        flags: Flags,
        now: u64,
    ) -> Result<([u8; 4], u16), DropReason> {
        // An established flow: its session, and its binding through it.
        if let Some(i) = self.session6(proto, a6, p6, r4, rp) {
            let b = self.sess[i as usize].map_or(0, |s| s.bib);
            self.touch(b, Some(i), r4, rp, From::V6, flags, now)?;
            let bib = self.bib(b);
            return Ok((bib.a4, bib.p4));
        }
        let b = match self.bib_by6(proto, a6, p6) {
            Some(b) => b,
            None => {
                if proto == TCP && !flags.syn {
                    return Err(DropReason::Nat64NoState);
                }
                if self.sess_free.is_empty() {
                    return Err(DropReason::Nat64TableFull);
                }
                let at = if proto == TCP {
                    self.held_for(r4, rp).map(|(_, h)| (h.a4, h.p4))
                } else {
                    None
                };
                let Some((a4, p4)) = self.alloc4(proto, p6, at) else {
                    return Err(DropReason::Nat64Pool4Exhausted);
                };
                let bib = Bib {
                    proto,
                    a6,
                    p6,
                    a4,
                    p4,
                    is_static: false,
                    sessions: 0,
                };
                let Some(i) = self.add_bib(bib) else {
                    return Err(DropReason::Nat64TableFull);
                };
                self.counts.bib_created += 1;
                i
            }
        };
        self.touch(b, None, r4, rp, From::V6, flags, now)?;
        let bib = self.bib(b);
        Ok((bib.a4, bib.p4))
    }

    /// An IPv4 packet of `proto` from the remote `(r4, rp)` to the pool4
    /// transport address `(a4, p4)`: the binding's IPv6 transport address,
    /// if a binding exists and filtering lets the packet in.
    #[allow(clippy::too_many_arguments)]
    pub fn from4(
        &mut self,
        proto: u8,
        a4: [u8; 4],
        p4: u16,
        r4: [u8; 4],
        rp: u16,
        flags: Flags,
        now: u64,
    ) -> Result<([u8; 16], u16), DropReason> {
        let known = self.session4(proto, a4, p4, r4, rp);
        let b = match known {
            Some(i) => self.sess[i as usize].map_or(0, |s| s.bib),
            None => match self.bib_by4(proto, a4, p4) {
                Some(b) => b,
                None => return Err(DropReason::Nat64NoBinding),
            },
        };
        if known.is_none() {
            if self.spec.address_dependent_filtering && !self.by_addr.contains_key(&(b, r4)) {
                return Err(DropReason::Nat64Filtered);
            }
            if proto == TCP && (self.spec.drop_externally_initiated_tcp || !flags.syn) {
                return Err(if flags.syn {
                    DropReason::Nat64Filtered
                } else {
                    DropReason::Nat64NoState
                });
            }
        }
        self.touch(b, known, r4, rp, From::V4, flags, now)?;
        let bib = self.bib(b);
        Ok((bib.a6, bib.p6))
    }

    /// Makes the session (binding `b`, remote `(r4, rp)`) unless it is
    /// `known` (its slot, looked up by the caller), and moves its state
    /// and timer for a packet from `from`.
    #[allow(clippy::too_many_arguments)]
    fn touch(
        &mut self,
        b: u32,
        known: Option<u32>,
        r4: [u8; 4],
        rp: u16,
        from: From,
        f: Flags,
        now: u64,
    ) -> Result<(), DropReason> {
        let proto = self.bib(b).proto;
        let i = match known {
            Some(i) => i,
            None => {
                let Some(i) = self.sess_free.pop() else {
                    self.gc_bib(b);
                    return Err(DropReason::Nat64TableFull);
                };
                let tcp = (proto == TCP).then_some(match from {
                    From::V6 => TcpState::V6Init,
                    From::V4 => TcpState::V4Init,
                });
                self.sess[i as usize] = Some(Session {
                    bib: b,
                    r4,
                    rp,
                    tcp,
                    expires_ns: 0,
                });
                if let Some(x) = self.bibs[b as usize] {
                    let (k6, k4) = ((x.proto, x.a6, x.p6), (x.proto, x.a4, x.p4));
                    let h6 = self.hs6(x.proto, x.a6, x.p6, r4, rp);
                    let h4 = self.hs4(x.proto, x.a4, x.p4, r4, rp);
                    // (Within capacity: at most `max` sessions, each one
                    // key per index.)
                    self.s6
                        .insert(h6, i, Sess6(&self.sess, &self.bibs, k6, (r4, rp)));
                    self.s4
                        .insert(h4, i, Sess4(&self.sess, &self.bibs, k4, (r4, rp)));
                }
                *self.by_addr.entry((b, r4)).or_insert(0) += 1;
                if let Some(x) = self.bibs[b as usize].as_mut() {
                    x.sessions += 1;
                }
                self.counts.sessions_created += 1;
                let life = lifetime_ns(&self.spec.timeouts, proto, tcp);
                if let Some(s) = self.sess[i as usize].as_mut() {
                    s.expires_ns = now + life;
                }
                return Ok(());
            }
        };
        // (In place: a copy of the session out and back cost ~20.)
        let Some(Some(s)) = self.sess.get_mut(i as usize) else {
            return Err(DropReason::Nat64NoState);
        };
        let t = &self.spec.timeouts;
        if let Some(st) = s.tcp {
            use TcpState::*;
            let next = if f.rst {
                Trans
            } else {
                match (st, from) {
                    (V6Init, From::V4) if f.syn => Established,
                    (V4Init, From::V6) if f.syn => Established,
                    (Established, From::V4) if f.fin => V4FinRcv,
                    (Established, From::V6) if f.fin => V6FinRcv,
                    (V4FinRcv, From::V6) if f.fin => BothFinRcv,
                    (V6FinRcv, From::V4) if f.fin => BothFinRcv,
                    (Trans, _) => Established,
                    (s, _) => s,
                }
            };
            s.tcp = Some(next);
            // The timer moves unless both sides have closed (RFC 6146
            // §3.5.2.2: V4 FIN + V6 FIN RCV keeps its transitory timer).
            if !(st == BothFinRcv && next == BothFinRcv) {
                s.expires_ns = now + lifetime_ns(t, proto, Some(next));
            }
        } else {
            s.expires_ns = now + lifetime_ns(t, proto, None);
        }
        Ok(())
    }

    /// A dynamic binding with no session left goes.
    fn gc_bib(&mut self, b: u32) {
        if let Some(x) = self.bibs[b as usize] {
            if !x.is_static && x.sessions == 0 {
                self.drop_bib(b);
            }
        }
    }

    /// Notes the first fragment of a datagram: its other fragments
    /// translate to `to`. A full cache notes nothing (they will be dropped
    /// as `nat64.fragment_no_state`).
    pub fn frag_first(&mut self, key: FragKey, to: [u8; 16], now: u64) {
        if self.frags.len() >= FRAG_CACHE && !self.frags.contains_key(&key) {
            return;
        }
        let until = now + FRAG_TIMEOUT_NS;
        self.frags.insert(key, (to, until));
        if self.frag_order.len() < FRAG_CACHE {
            self.frag_order.push_back((key, until));
        }
    }

    /// What a later fragment of a datagram translates to, if its first
    /// fragment was seen in time.
    pub fn frag_next(&self, key: &FragKey, now: u64) -> Option<[u8; 16]> {
        self.frags
            .get(key)
            .filter(|&&(_, until)| until > now)
            .map(|&(to, _)| to)
    }

    /// Holds an unsolicited IPv4 SYN to `(a4, p4)` from `(r4, rp)`: its
    /// slot, or `None` when none is free (or holding is off).
    pub fn hold(&mut self, a4: [u8; 4], p4: u16, r4: [u8; 4], rp: u16, now: u64) -> Option<u32> {
        let i = self.held_free.pop()? as usize;
        self.held_live += 1;
        self.held[i] = Some(Held {
            a4,
            p4,
            r4,
            rp,
            until_ns: now + u64::from(self.spec.timeouts.tcp_incoming_syn_s) * 1_000_000_000,
            expired: false,
        });
        Some(i as u32)
    }

    /// A SYN held from `(r4, rp)` (an IPv6 SYN toward it is the other half
    /// of a simultaneous open).
    pub fn held_for(&self, r4: [u8; 4], rp: u16) -> Option<(u32, Held)> {
        if self.held_live == 0 {
            return None;
        }
        self.held.iter().enumerate().find_map(|(i, h)| {
            h.filter(|h| !h.expired && h.r4 == r4 && h.rp == rp)
                .map(|h| (i as u32, h))
        })
    }

    /// The held SYN of slot `i`, taken out.
    pub fn unhold(&mut self, i: u32) -> Option<Held> {
        let h = self.held.get_mut(i as usize)?.take()?;
        self.held_free.push(i);
        self.held_live -= 1;
        if h.expired {
            self.held_expired -= 1;
        }
        Some(h)
    }

    /// The slot of an expired held SYN to `(a4, p4)` from `(r4, rp)` (its
    /// frame back from the engine's lot).
    pub fn expired_held(&self, a4: [u8; 4], p4: u16, r4: [u8; 4], rp: u16) -> Option<u32> {
        if self.held_expired == 0 {
            return None;
        }
        self.held
            .iter()
            .position(|h| {
                h.is_some_and(|h| h.expired && (h.a4, h.p4, h.r4, h.rp) == (a4, p4, r4, rp))
            })
            .map(|i| i as u32)
    }

    /// Marks the held SYNs whose time is up; returns their slots (the
    /// caller asks the engine to release them). A slot already marked is
    /// returned again until it is taken out (a refused release is asked
    /// again).
    pub fn held_due(&mut self, now: u64, out: &mut [u32; 16]) -> usize {
        let mut n = 0;
        if self.held_live == 0 {
            return 0;
        }
        for (i, h) in self.held.iter_mut().enumerate() {
            if let Some(h) = h {
                if h.until_ns <= now && n < out.len() {
                    if !h.expired {
                        self.held_expired += 1;
                    }
                    h.expired = true;
                    out[n] = i as u32;
                    n += 1;
                }
            }
        }
        n
    }

    /// Expires sessions (a bounded slice of the table per call) and
    /// fragment records.
    pub fn expire(&mut self, now: u64) {
        while let Some(&(k, until)) = self.frag_order.front() {
            if until > now {
                break;
            }
            self.frag_order.pop_front();
            if self.frags.get(&k).is_some_and(|&(_, u)| u <= now) {
                self.frags.remove(&k);
            }
        }
        let n = self.sess.len();
        if n == 0 {
            return;
        }
        for _ in 0..SWEEP.min(n) {
            let i = self.sweep;
            self.sweep = (self.sweep + 1) % n;
            let Some(s) = self.sess[i] else { continue };
            if s.expires_ns > now {
                continue;
            }
            self.sess[i] = None;
            if let Some(x) = self.bibs[s.bib as usize] {
                self.s6
                    .remove(self.hs6(x.proto, x.a6, x.p6, s.r4, s.rp), i as u32);
                self.s4
                    .remove(self.hs4(x.proto, x.a4, x.p4, s.r4, s.rp), i as u32);
            }
            if let Some(c) = self.by_addr.get_mut(&(s.bib, s.r4)) {
                *c -= 1;
                if *c == 0 {
                    self.by_addr.remove(&(s.bib, s.r4));
                }
            }
            self.sess_free.push(i as u32);
            self.counts.sessions_expired += 1;
            if let Some(x) = self.bibs[s.bib as usize].as_mut() {
                x.sessions = x.sessions.saturating_sub(1);
            }
            self.gc_bib(s.bib);
        }
    }

    pub fn sessions(&self) -> impl Iterator<Item = (&Bib, &Session)> {
        self.sess
            .iter()
            .flatten()
            .filter_map(|s| self.bibs[s.bib as usize].as_ref().map(|b| (b, s)))
    }

    pub fn bibs(&self) -> impl Iterator<Item = &Bib> {
        self.bibs.iter().flatten()
    }

    pub fn bib_count(&self) -> usize {
        self.bibs.len() - self.bib_free.len()
    }

    pub fn session_count(&self) -> usize {
        self.max - self.sess_free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StatefulSpec {
        StatefulSpec {
            pool4: vec![Pool4 {
                addr: Ipv4Addr::new(192, 0, 2, 2),
                lo: 1000,
                hi: 1003,
                tcp: true,
                udp: true,
                icmp: true,
            }],
            static_bib: vec![StaticBib {
                proto: UDP,
                v6: "2001:db8::5".parse().unwrap(),
                port6: 2000,
                v4: Ipv4Addr::new(192, 0, 2, 2),
                port4: 2000,
            }],
            max_sessions: 4,
            timeouts: Timeouts::default(),
            address_dependent_filtering: false,
            drop_externally_initiated_tcp: false,
            max_stored_v4_syns: 10,
        }
    }

    /// The pool4 index answers as a scan of every entry: addresses with
    /// several entries (split port ranges, per-protocol ones), listed out
    /// of order, probed at the range edges and around them.
    #[test]
    fn pool4_index_matches_the_scan() {
        let mut pool4 = Vec::new();
        for i in (0..300u32).rev() {
            let addr = Ipv4Addr::from(0xc633_6400 + (i * 7919) % 97);
            let lo = 1024 + (i % 5) as u16 * 9000;
            pool4.push(Pool4 {
                addr,
                lo,
                hi: lo + 4999,
                tcp: i % 3 != 0,
                udp: i % 3 != 1,
                icmp: i % 2 == 0,
            });
        }
        let mut spec = spec();
        spec.pool4 = pool4.clone();
        spec.static_bib.clear();
        for workers in [1, 3] {
            let t = Table::new(&spec, 0, workers);
            let scan = |a: [u8; 4], proto: u8, port: u16| {
                pool4.iter().find(|p| {
                    p.addr == Ipv4Addr::from(a) && p.has(proto) && (p.lo..=p.hi).contains(&port)
                })
            };
            for p in &pool4 {
                let a = p.addr.octets();
                let near = [
                    a,
                    (u32::from(p.addr) + 1).to_be_bytes(),
                    (u32::from(p.addr) - 1).to_be_bytes(),
                ];
                for a in near {
                    assert_eq!(
                        t.is_pool4_addr(a),
                        pool4.iter().any(|q| q.addr.octets() == a)
                    );
                    for port in [
                        p.lo - 1,
                        p.lo,
                        p.lo + 1,
                        p.hi - 1,
                        p.hi,
                        p.hi.saturating_add(1),
                        80,
                    ] {
                        for proto in [TCP, UDP, ICMP, 47] {
                            let want = scan(a, proto, port);
                            assert_eq!(t.in_pool4(a, proto, port), want.is_some());
                            let owner = want.map_or(0, |q| {
                                let per = ((u32::from(q.hi - q.lo) + 1) / workers as u32).max(1);
                                (u32::from(port - q.lo) / per).min(workers as u32 - 1) as usize
                            });
                            assert_eq!(t.owner(a, proto, port), owner);
                        }
                    }
                }
            }
        }
    }

    /// Held SYN slots: filled to the bound, refused past it, freed and
    /// reused; expiry marks them (once counted however often a tick
    /// returns them) and `expired_held` finds only marked ones; the
    /// counts that let lookups skip the scans stay exact.
    #[test]
    fn held_syn_slots_fill_expire_and_free() {
        let s = spec(); // 10 slots, 6 s
        let mut t = Table::new(&s, 0, 1);
        let a4 = [192, 0, 2, 2];
        let r = |i: u8| [203, 0, 113, i];
        assert!(t.held_for(r(0), 80).is_none());
        let slots: Vec<u32> = (0..10u8)
            .map(|i| t.hold(a4, 1000, r(i), 80, 0).expect("a free slot"))
            .collect();
        assert_eq!(t.hold(a4, 1000, r(99), 80, 0), None, "past the bound");
        assert_eq!(t.held_live, 10);
        assert_eq!(t.held_for(r(3), 80).map(|h| h.0), Some(slots[3]));
        assert_eq!(t.expired_held(a4, 1000, r(3), 80), None, "not expired yet");
        let mut out = [0u32; 16];
        assert_eq!(t.held_due(5_000_000_000, &mut out), 0);
        assert_eq!(t.held_due(6_000_000_000, &mut out), 10);
        assert_eq!(
            t.held_due(7_000_000_000, &mut out),
            10,
            "returned again until taken"
        );
        assert_eq!(t.held_expired, 10);
        assert!(
            t.held_for(r(3), 80).is_none(),
            "an expired one is no longer waiting"
        );
        assert_eq!(t.expired_held(a4, 1000, r(3), 80), Some(slots[3]));
        assert!(t.unhold(slots[3]).is_some());
        assert!(t.unhold(slots[3]).is_none(), "taken once");
        assert_eq!((t.held_live, t.held_expired), (9, 9));
        let again = t.hold(a4, 1001, r(50), 80, 8_000_000_000);
        assert_eq!(again, Some(slots[3]), "the freed slot is reused");
        assert_eq!(t.held_for(r(50), 80).map(|h| h.1.p4), Some(1001));
        for &i in &slots {
            t.unhold(i);
        }
        assert_eq!((t.held_live, t.held_expired), (0, 0));
        assert_eq!(t.held_due(u64::MAX, &mut out), 0);
    }

    const H: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
    const R: [u8; 4] = [192, 0, 2, 5];

    #[test]
    fn bindings_are_made_kept_and_expired() {
        let mut t = Table::new(&spec(), 0, 1);
        let f = Flags::default();
        // The static binding.
        assert_eq!(
            t.from6(UDP, H, 2000, R, 4000, f, 0),
            Ok(([192, 0, 2, 2], 2000))
        );
        // A dynamic one keeps the port when it can, else takes the next.
        assert_eq!(
            t.from6(UDP, H, 1001, R, 4000, f, 0),
            Ok(([192, 0, 2, 2], 1001))
        );
        assert_eq!(
            t.from6(UDP, H, 7, R, 4000, f, 0),
            Ok(([192, 0, 2, 2], 1000))
        );
        // Endpoint-independent filtering: any remote may answer.
        assert_eq!(
            t.from4(UDP, [192, 0, 2, 2], 1001, [9, 9, 9, 9], 1, f, 0),
            Ok((H, 1001))
        );
        assert_eq!(t.session_count(), 4);
        assert_eq!(
            t.from6(UDP, H, 9, R, 1, f, 0),
            Err(DropReason::Nat64TableFull)
        );
        assert_eq!(
            t.from4(UDP, [192, 0, 2, 2], 1002, R, 1, f, 0),
            Err(DropReason::Nat64NoBinding)
        );
        // Five minutes later everything is gone but the static binding.
        for _ in 0..4 {
            t.expire(301_000_000_000);
        }
        assert_eq!(t.session_count(), 0);
        assert_eq!(t.bibs().count(), 1);
    }

    #[test]
    fn tcp_follows_rfc6146() {
        let mut t = Table::new(&spec(), 0, 1);
        let syn = Flags {
            syn: true,
            ..Flags::default()
        };
        let fin = Flags {
            fin: true,
            ..Flags::default()
        };
        let none = Flags::default();
        assert_eq!(
            t.from6(TCP, H, 5, R, 80, none, 0),
            Err(DropReason::Nat64NoState)
        );
        let (a4, p4) = t.from6(TCP, H, 5, R, 80, syn, 0).unwrap();
        let st = |t: &Table| t.sessions().next().unwrap().1.tcp.unwrap();
        assert_eq!(st(&t), TcpState::V6Init);
        // A non-SYN from another remote is not let in.
        assert_eq!(
            t.from4(TCP, a4, p4, [9, 9, 9, 9], 80, none, 0),
            Err(DropReason::Nat64NoState)
        );
        t.from4(TCP, a4, p4, R, 80, syn, 1).unwrap();
        assert_eq!(st(&t), TcpState::Established);
        t.from6(TCP, H, 5, R, 80, fin, 2).unwrap();
        assert_eq!(st(&t), TcpState::V6FinRcv);
        t.from4(TCP, a4, p4, R, 80, fin, 3).unwrap();
        assert_eq!(st(&t), TcpState::BothFinRcv);
        // Transitory: gone 4 minutes after both FINs.
        t.expire(3 + 241_000_000_000);
        assert_eq!(t.session_count(), 0);
    }

    #[test]
    fn workers_allocate_from_their_own_slices() {
        let mut s = spec();
        s.pool4[0].hi = 1007;
        s.max_sessions = 16;
        let mut a = Table::new(&s, 0, 2);
        let mut b = Table::new(&s, 1, 2);
        let f = Flags::default();
        for k in 0..4u16 {
            let (_, p) = a.from6(UDP, H, 10 + k, R, 1, f, 0).unwrap();
            assert!((1000..1004).contains(&p), "{p}");
            let (_, p) = b.from6(UDP, H, 10 + k, R, 1, f, 0).unwrap();
            assert!((1004..1008).contains(&p), "{p}");
        }
        assert_eq!(
            a.from6(UDP, H, 99, R, 1, f, 0),
            Err(DropReason::Nat64Pool4Exhausted)
        );
    }
}

#[cfg(test)]
mod memory {
    use super::*;

    fn rss_kb() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// What a worker's tables take per session of `max_sessions` once
    /// full (run by hand: `cargo test -p xgw-pipelines --release --lib
    /// bytes_per_session -- --ignored --nocapture`; figure in
    /// bench/README.md §9).
    #[test]
    #[ignore]
    fn bytes_per_session() {
        let n: u32 = 1 << 20;
        let spec = StatefulSpec {
            pool4: (0..17)
                .map(|k| Pool4 {
                    addr: Ipv4Addr::new(192, 0, 2, k),
                    lo: 1,
                    hi: 65535,
                    tcp: true,
                    udp: true,
                    icmp: true,
                })
                .collect(),
            static_bib: Vec::new(),
            max_sessions: n,
            timeouts: Timeouts::default(),
            address_dependent_filtering: false,
            drop_externally_initiated_tcp: false,
            max_stored_v4_syns: 10,
        };
        let before = rss_kb();
        let mut t = Table::new(&spec, 0, 1);
        let f = Flags::default();
        for i in 0..n {
            let mut a6 = [0u8; 16];
            a6[..4].copy_from_slice(&[0x20, 1, 0x0d, 0xb8]);
            a6[12..].copy_from_slice(&i.to_be_bytes());
            t.from6(UDP, a6, 1000, [10, 9, 0, 1], 53, f, 0).unwrap();
        }
        let after = rss_kb();
        assert_eq!(t.session_count(), n as usize);
        println!(
            "{n} sessions and bindings: {} kB, {} bytes per session",
            after - before,
            (after - before) * 1024 / u64::from(n)
        );
    }
}

#[cfg(test)]
mod icmp {
    use super::*;

    /// An ICMP query flow is one session whatever identifier each side
    /// uses (the translator passes 0 as the remote port for ICMP).
    #[test]
    fn an_echo_flow_is_one_session() {
        let spec = StatefulSpec {
            pool4: vec![Pool4 {
                addr: Ipv4Addr::new(192, 0, 2, 2),
                lo: 20000,
                hi: 20010,
                tcp: false,
                udp: false,
                icmp: true,
            }],
            static_bib: Vec::new(),
            max_sessions: 8,
            timeouts: Timeouts::default(),
            address_dependent_filtering: false,
            drop_externally_initiated_tcp: false,
            max_stored_v4_syns: 0,
        };
        let mut t = Table::new(&spec, 0, 1);
        let h = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        let r = [203, 0, 113, 80];
        let (a4, id) = t.from6(ICMP, h, 4242, r, 0, Flags::default(), 0).unwrap();
        assert_eq!(id, 20000, "4242 is outside pool4");
        assert_eq!(
            t.from4(ICMP, a4, id, r, 0, Flags::default(), 1).unwrap(),
            (h, 4242)
        );
        assert_eq!(t.session_count(), 1);
    }
}
