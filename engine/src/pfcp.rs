//! The PFCP agent (3GPP TS 29.244, N4 / Sxb): xgw as a UP function that an
//! SMF (or SGW-C / PGW-C) associates with. It runs in the control thread,
//! never on the per-packet path: its UDP socket (port 8805 of an address
//! of the host's own stack, a management interface: the AF_XDP ports are
//! xgw's, not the kernel's) is one more descriptor in the control loop's
//! poll(2).
//!
//! What it does now: node procedures. Heartbeat Requests are answered
//! (from anyone, §6.2.2) and sent to every associated peer every
//! `heartbeat_interval` (retransmitted after T1, the association is
//! released after N1 unanswered tries); Association Setup / Update /
//! Release with Node ID, Recovery Time Stamp and Cause; a peer whose
//! Recovery Time Stamp changed restarted (§6.2.5: its association is set
//! up again). Requests from a peer are answered once: a retransmission
//! gets the cached response (§6.4). Malformed messages, unknown message
//! types and responses to nothing are counted, never fatal; a request
//! missing a mandatory IE gets cause 66 with the Offending IE.
//!
//! Sessions (Establishment / Modification / Deletion) are not yet
//! supported: without an association they get cause 72 (No established
//! PFCP Association), with one cause 76 (Service not supported) for an
//! Establishment and 65 (Session context not found) otherwise.
//!
//! The codec is xgw's own (a header and top-level IEs; see
//! docs/ARCHITECTURE.md for why not `rs-pfcp`).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use xgw_pipelines::gtpu::Sessions;

/// The PFCP port (§7.2).
pub const PORT: u16 = 8805;

/// `[pfcp]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PfcpCfg {
    /// Where the agent listens (an address of the host's stack).
    pub listen: SocketAddr,
    /// Our Node ID (default: the listen address).
    pub node_id: NodeId,
    /// Seconds between Heartbeat Requests to each associated peer.
    pub heartbeat_s: u32,
    /// T1 (ms) and N1: a request of ours is sent again after T1, at most
    /// N1 times in all.
    pub t1_ms: u32,
    pub n1: u32,
    /// Associations held at most.
    pub max_peers: usize,
    /// The SMFs allowed to talk to the agent (prefixes); empty: any.
    /// Others get Request rejected to an Association Setup and nothing
    /// to anything else (counted `peer_not_allowed`).
    pub peers: Vec<(IpAddr, u8)>,
}

/// A Node ID (§8.2.38).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeId {
    Ip(IpAddr),
    Fqdn(String),
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeId::Ip(a) => write!(f, "{a}"),
            NodeId::Fqdn(n) => f.write_str(n),
        }
    }
}

/// Message types (§7.3).
pub mod msg {
    pub const HEARTBEAT_REQUEST: u8 = 1;
    pub const HEARTBEAT_RESPONSE: u8 = 2;
    pub const ASSOCIATION_SETUP_REQUEST: u8 = 5;
    pub const ASSOCIATION_SETUP_RESPONSE: u8 = 6;
    pub const ASSOCIATION_UPDATE_REQUEST: u8 = 7;
    pub const ASSOCIATION_UPDATE_RESPONSE: u8 = 8;
    pub const ASSOCIATION_RELEASE_REQUEST: u8 = 9;
    pub const ASSOCIATION_RELEASE_RESPONSE: u8 = 10;
    pub const VERSION_NOT_SUPPORTED: u8 = 11;
    pub const SESSION_ESTABLISHMENT_REQUEST: u8 = 50;
    pub const SESSION_MODIFICATION_REQUEST: u8 = 52;
    pub const SESSION_DELETION_REQUEST: u8 = 54;
    pub const SESSION_REPORT_REQUEST: u8 = 56;
    pub const SESSION_REPORT_RESPONSE: u8 = 57;
}

/// IE types (§8.1.2).
pub mod ie {
    pub const CAUSE: u16 = 19;
    pub const OFFENDING_IE: u16 = 40;
    pub const F_SEID: u16 = 57;
    pub const NODE_ID: u16 = 60;
    pub const RECOVERY_TIME_STAMP: u16 = 96;
    pub const UP_FUNCTION_FEATURES: u16 = 43;
}

/// The UP Function Features xgw has (§8.2.25): FTUP (it allocates
/// F-TEIDs: CHOOSE and CHOOSE ID) and EMPU (it sends End Markers).
pub const UP_FEATURES: [u8; 2] = [0x10, 0x01];

/// Cause values (§8.2.1).
pub mod cause {
    pub const ACCEPTED: u8 = 1;
    pub const REQUEST_REJECTED: u8 = 64;
    pub const SESSION_CONTEXT_NOT_FOUND: u8 = 65;
    pub const MANDATORY_IE_MISSING: u8 = 66;
    pub const MANDATORY_IE_INCORRECT: u8 = 69;
    pub const NO_ASSOCIATION: u8 = 72;
    pub const RULE_FAILURE: u8 = 73;
    pub const CONGESTION: u8 = 74;
    pub const NO_RESOURCES: u8 = 75;
    pub const SERVICE_NOT_SUPPORTED: u8 = 76;
}

/// A message's header (§7.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    pub seid: Option<u64>,
    pub seq: u32,
    /// Where the IEs start and end.
    pub ies: usize,
    pub end: usize,
}

/// Why a datagram was not a message (all counted as `malformed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    Short,
    Length,
    Ie,
}

/// Reads a header; the message runs to `end` (what follows is ignored).
pub fn header(b: &[u8]) -> Result<Header, Malformed> {
    if b.len() < 8 {
        return Err(Malformed::Short);
    }
    let version = b[0] >> 5;
    let s = b[0] & 1 != 0;
    let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
    let end = 4 + len;
    let hl = if s { 16 } else { 8 };
    if end > b.len() || end < hl {
        return Err(Malformed::Length);
    }
    let seid = s.then(|| u64::from_be_bytes(b[4..12].try_into().expect("8 bytes")));
    let q = hl - 4;
    let seq = u32::from_be_bytes([0, b[q], b[q + 1], b[q + 2]]);
    Ok(Header {
        version,
        msg_type: b[1],
        seid,
        seq,
        ies: hl,
        end,
    })
}

/// The top-level IEs of `b` as (type, value); enterprise IEs (type bit
/// 15) carry their enterprise id in the value's first two octets.
pub fn ies(b: &[u8]) -> Result<Vec<(u16, &[u8])>, Malformed> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let h = b.get(at..at + 4).ok_or(Malformed::Ie)?;
        let t = u16::from_be_bytes([h[0], h[1]]);
        let l = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let v = b.get(at + 4..at + 4 + l).ok_or(Malformed::Ie)?;
        out.push((t, v));
        at += 4 + l;
    }
    Ok(out)
}

/// A Node ID IE's value.
pub fn parse_node_id(v: &[u8]) -> Option<NodeId> {
    let (&t, a) = v.split_first()?;
    match t & 0x0f {
        0 if a.len() >= 4 => Some(NodeId::Ip(IpAddr::from(<[u8; 4]>::try_from(&a[..4]).ok()?))),
        1 if a.len() >= 16 => Some(NodeId::Ip(IpAddr::from(
            <[u8; 16]>::try_from(&a[..16]).ok()?,
        ))),
        2 if !a.is_empty() && a.len() <= 255 => {
            // DNS labels (RFC 1035 §3.1), as FQDNs are encoded (§8.2.38).
            let mut name = String::new();
            let mut r = a;
            while let Some((&n, rest)) = r.split_first() {
                let n = usize::from(n);
                if n == 0 || n > rest.len() {
                    break;
                }
                if !name.is_empty() {
                    name.push('.');
                }
                let label = std::str::from_utf8(&rest[..n]).ok()?;
                if !label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
                {
                    return None;
                }
                name.push_str(label);
                r = &rest[n..];
            }
            (!name.is_empty()).then_some(NodeId::Fqdn(name))
        }
        _ => None,
    }
}

/// A message being written: header, then IEs; `finish` sets the length.
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new(msg_type: u8, seid: Option<u64>, seq: u32) -> Writer {
        let mut b = vec![0x20 | u8::from(seid.is_some()), msg_type, 0, 0];
        if let Some(s) = seid {
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&seq.to_be_bytes()[1..]);
        b.push(0);
        Writer(b)
    }

    pub fn ie(mut self, t: u16, v: &[u8]) -> Writer {
        self.0.extend_from_slice(&t.to_be_bytes());
        self.0.extend_from_slice(&(v.len() as u16).to_be_bytes());
        self.0.extend_from_slice(v);
        self
    }

    pub fn node_id(self, n: &NodeId) -> Writer {
        let v = match n {
            NodeId::Ip(IpAddr::V4(a)) => [&[0u8][..], &a.octets()].concat(),
            NodeId::Ip(IpAddr::V6(a)) => [&[1u8][..], &a.octets()].concat(),
            NodeId::Fqdn(s) => {
                let mut v = vec![2u8];
                for l in s.split('.') {
                    v.push(l.len() as u8);
                    v.extend_from_slice(l.as_bytes());
                }
                v
            }
        };
        self.ie(ie::NODE_ID, &v)
    }

    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.0.len() - 4) as u16;
        self.0[2..4].copy_from_slice(&len.to_be_bytes());
        self.0
    }
}

/// Whether a message type is a response (§7.3).
pub fn is_response(t: u8) -> bool {
    matches!(
        t,
        2 | 4 | 6 | 8 | 10 | 11 | 13 | 15 | 17 | 51 | 53 | 55 | 57
    )
}

/// Seconds since 1900 (NTP era 0), as Recovery Time Stamps carry them.
fn ntp_seconds(t: SystemTime) -> u32 {
    let unix = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    (unix + 2_208_988_800) as u32
}

/// The agent's counters, by name in `xgw pfcp stats`.
pub const COUNTERS: [&str; 23] = [
    "rx",
    "tx",
    "malformed",
    "peer_not_allowed",
    "version_not_supported",
    "unknown_message",
    "unexpected_response",
    "duplicate_request",
    "mandatory_ie_missing",
    "heartbeat_request_in",
    "heartbeat_request_out",
    "heartbeat_response_in",
    "associations_set_up",
    "associations_lost",
    "peer_restarts",
    "sessions_established",
    "sessions_modified",
    "sessions_deleted",
    "session_requests_refused",
    "session_reports_sent",
    "session_reports_unanswered",
    "session_reports_rejected",
    "session_reports_unsent",
];

/// One association.
#[derive(Clone, Debug)]
pub struct Assoc {
    pub node: NodeId,
    /// Where its messages come from (and heartbeats go).
    pub addr: SocketAddr,
    pub recovery: u32,
    pub since: Instant,
    pub last_seen: Instant,
    next_heartbeat: Instant,
    pub heartbeats_sent: u64,
    pub heartbeats_answered: u64,
}

/// A request of ours waiting for its response.
struct Pending {
    addr: SocketAddr,
    seq: u32,
    bytes: Vec<u8>,
    sent: Instant,
    tries: u32,
    /// A Session Report Request (else a Heartbeat Request).
    report: bool,
}

/// Responses kept for retransmitted requests (§6.4): by peer and sequence
/// number, for N1 × T1 and at most this many.
const CACHE: usize = 4096;

pub struct Agent {
    cfg: PfcpCfg,
    sock: UdpSocket,
    recovery: u32,
    assocs: HashMap<NodeId, Assoc>,
    pending: Vec<Pending>,
    cache: VecDeque<(SocketAddr, u32, Vec<u8>, Instant)>,
    seq: u32,
    counts: [u64; COUNTERS.len()],
    sessions: HashMap<u64, sessions::PSession>,
    next_seid: u64,
    next_teid: u32,
    next_urr_check: Instant,
    /// Nodes that restarted: their sessions go.
    restarted: Vec<NodeId>,
}

fn count_of(name: &str) -> usize {
    COUNTERS.iter().position(|c| *c == name).expect("a counter")
}

impl Agent {
    /// Binds the socket (non-blocking).
    pub fn bind(cfg: &PfcpCfg) -> Result<Agent, String> {
        let sock = UdpSocket::bind(cfg.listen)
            .map_err(|e| format!("pfcp: cannot bind {}: {e}", cfg.listen))?;
        sock.set_nonblocking(true)
            .map_err(|e| format!("pfcp: {e}"))?;
        if cfg.peers.is_empty() {
            tracing::warn!(
                "pfcp: [pfcp] peers is empty: any address that reaches {} may associate; \
                 name your SMFs there",
                cfg.listen
            );
        }
        Ok(Agent {
            cfg: cfg.clone(),
            sock,
            recovery: ntp_seconds(SystemTime::now()),
            assocs: HashMap::new(),
            pending: Vec::new(),
            cache: VecDeque::new(),
            seq: 0,
            counts: [0; COUNTERS.len()],
            sessions: HashMap::new(),
            next_seid: 0,
            // TEIDs chosen after a restart start elsewhere than the last
            // run's (stale G-PDUs do not hit new sessions at once).
            next_teid: ntp_seconds(SystemTime::now()).wrapping_mul(2_654_435_761) & 0x0fff_ffff,
            next_urr_check: Instant::now(),
            restarted: Vec::new(),
        })
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.sock.as_raw_fd()
    }

    fn count(&mut self, name: &str) {
        self.counts[count_of(name)] += 1;
    }

    fn send(&mut self, to: SocketAddr, b: &[u8]) {
        if self.sock.send_to(b, to).is_ok() {
            self.count("tx");
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq + 1) & 0xff_ffff;
        self.seq
    }

    /// Reads every queued datagram and runs the timers; `up`: the GTP-U
    /// sessions PFCP sessions become (`None`: sessions are refused).
    pub fn poll(&mut self, now: Instant, mut up: Option<&mut Sessions>) {
        let mut buf = [0u8; 8192];
        for _ in 0..256 {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => self.datagram(&buf[..n], from, now, up.as_deref_mut()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // (An ICMP error about something we sent: the next one.)
                Err(_) => {}
            }
        }
        self.timers(now);
        if let Some(up) = up {
            self.reap(up);
            self.report_tick(now, up);
        }
    }

    /// Whether `ip` may talk to the agent (`peers`).
    fn allowed(&self, ip: IpAddr) -> bool {
        // (An IPv4-mapped IPv6 source is its IPv4 address.)
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            a => a,
        };
        self.cfg.peers.is_empty()
            || self
                .cfg
                .peers
                .iter()
                .any(|&(p, l)| xgw_pipelines::router::spec::contains(p, l, ip))
    }

    /// One datagram from `from`.
    pub fn datagram(
        &mut self,
        b: &[u8],
        from: SocketAddr,
        now: Instant,
        up: Option<&mut Sessions>,
    ) {
        self.count("rx");
        let h = match header(b) {
            Ok(h) => h,
            Err(_) => return self.count("malformed"),
        };
        if !self.allowed(from.ip()) {
            self.count("peer_not_allowed");
            // An SMF set up with the wrong address learns why; nothing
            // else is answered (no reflection towards spoofed sources).
            if h.version == 1 && h.msg_type == msg::ASSOCIATION_SETUP_REQUEST {
                let r = Writer::new(msg::ASSOCIATION_SETUP_RESPONSE, None, h.seq)
                    .node_id(&self.cfg.node_id)
                    .ie(ie::CAUSE, &[cause::REQUEST_REJECTED])
                    .finish();
                self.send(from, &r);
            }
            return;
        }
        if h.version != 1 {
            // §7.2.3.1: answered with Version Not Supported Response.
            self.count("version_not_supported");
            let r = Writer::new(msg::VERSION_NOT_SUPPORTED, None, h.seq).finish();
            return self.send(from, &r);
        }
        let Ok(list) = ies(&b[h.ies..h.end]) else {
            return self.count("malformed");
        };
        if is_response(h.msg_type) {
            return self.response(&h, &list, from, now);
        }
        // A retransmitted request gets the response it got (§6.4).
        let horizon = Duration::from_millis(u64::from(self.cfg.t1_ms) * u64::from(self.cfg.n1));
        while self
            .cache
            .front()
            .is_some_and(|c| now.duration_since(c.3) > horizon)
        {
            self.cache.pop_front();
        }
        if let Some(r) = self
            .cache
            .iter()
            .find(|c| c.0 == from && c.1 == h.seq)
            .map(|c| c.2.clone())
        {
            self.count("duplicate_request");
            return self.send(from, &r);
        }
        let Some(r) = self.request(&h, &list, from, now, up) else {
            return;
        };
        if self.cache.len() >= CACHE {
            self.cache.pop_front();
        }
        self.cache.push_back((from, h.seq, r.clone(), now));
        self.send(from, &r);
    }

    /// The answer to a request (`None`: none is due).
    fn request(
        &mut self,
        h: &Header,
        list: &[(u16, &[u8])],
        from: SocketAddr,
        now: Instant,
        up: Option<&mut Sessions>,
    ) -> Option<Vec<u8>> {
        let find = |t: u16| list.iter().find(|(x, _)| *x == t).map(|(_, v)| *v);
        let me = self.cfg.node_id.clone();
        let node_reply = |t: u8, c: u8, offending: Option<u16>| {
            let mut w = Writer::new(t, None, h.seq).node_id(&me).ie(ie::CAUSE, &[c]);
            if let Some(o) = offending {
                w = w.ie(ie::OFFENDING_IE, &o.to_be_bytes());
            }
            w
        };
        let recovery = self.recovery.to_be_bytes();
        match h.msg_type {
            msg::HEARTBEAT_REQUEST => {
                self.count("heartbeat_request_in");
                // The Recovery Time Stamp is mandatory (§7.4.2.1) and the
                // response has no Cause to say so: discarded, counted.
                let Some(ts) = find(ie::RECOVERY_TIME_STAMP).and_then(|v| v.get(..4)) else {
                    self.count("mandatory_ie_missing");
                    return None;
                };
                // A changed Recovery Time Stamp: that peer restarted.
                let ts = u32::from_be_bytes(ts.try_into().expect("4 bytes"));
                self.seen(from, Some(ts), now);
                Some(
                    Writer::new(msg::HEARTBEAT_RESPONSE, None, h.seq)
                        .ie(ie::RECOVERY_TIME_STAMP, &recovery)
                        .finish(),
                )
            }
            msg::ASSOCIATION_SETUP_REQUEST
            | msg::ASSOCIATION_UPDATE_REQUEST
            | msg::ASSOCIATION_RELEASE_REQUEST => {
                let t = h.msg_type + 1;
                let Some(nv) = find(ie::NODE_ID) else {
                    self.count("mandatory_ie_missing");
                    return Some(
                        node_reply(t, cause::MANDATORY_IE_MISSING, Some(ie::NODE_ID)).finish(),
                    );
                };
                let Some(node) = parse_node_id(nv) else {
                    return Some(
                        node_reply(t, cause::MANDATORY_IE_INCORRECT, Some(ie::NODE_ID)).finish(),
                    );
                };
                if h.msg_type == msg::ASSOCIATION_SETUP_REQUEST {
                    let Some(ts) = find(ie::RECOVERY_TIME_STAMP) else {
                        self.count("mandatory_ie_missing");
                        return Some(
                            node_reply(
                                t,
                                cause::MANDATORY_IE_MISSING,
                                Some(ie::RECOVERY_TIME_STAMP),
                            )
                            .finish(),
                        );
                    };
                    let Some(ts) = ts.get(..4) else {
                        return Some(
                            node_reply(
                                t,
                                cause::MANDATORY_IE_INCORRECT,
                                Some(ie::RECOVERY_TIME_STAMP),
                            )
                            .finish(),
                        );
                    };
                    let ts = u32::from_be_bytes(ts.try_into().expect("4 bytes"));
                    if !self.assocs.contains_key(&node) && self.assocs.len() >= self.cfg.max_peers {
                        return Some(node_reply(t, cause::NO_RESOURCES, None).finish());
                    }
                    // §6.2.6.2.2: a setup from an associated node replaces
                    // the association (its sessions go with it).
                    if let Some(old) = self.assocs.get(&node) {
                        if old.recovery != ts {
                            self.count("peer_restarts");
                            self.restarted.push(node.clone());
                        }
                    }
                    let hb = Duration::from_secs(u64::from(self.cfg.heartbeat_s));
                    self.assocs.insert(
                        node.clone(),
                        Assoc {
                            node: node.clone(),
                            addr: from,
                            recovery: ts,
                            since: now,
                            last_seen: now,
                            next_heartbeat: now + hb,
                            heartbeats_sent: 0,
                            heartbeats_answered: 0,
                        },
                    );
                    self.count("associations_set_up");
                    tracing::info!("pfcp: association with {node} ({from}) set up");
                    return Some(
                        node_reply(t, cause::ACCEPTED, None)
                            .ie(ie::RECOVERY_TIME_STAMP, &recovery)
                            .ie(ie::UP_FUNCTION_FEATURES, &UP_FEATURES)
                            .finish(),
                    );
                }
                if !self.assocs.contains_key(&node) {
                    return Some(node_reply(t, cause::NO_ASSOCIATION, None).finish());
                }
                if h.msg_type == msg::ASSOCIATION_RELEASE_REQUEST {
                    self.assocs.remove(&node);
                    self.pending.retain(|p| p.addr != from);
                    tracing::info!("pfcp: association with {node} released by the peer");
                } else if let Some(a) = self.assocs.get_mut(&node) {
                    a.last_seen = now;
                }
                Some(node_reply(t, cause::ACCEPTED, None).finish())
            }
            msg::SESSION_ESTABLISHMENT_REQUEST
            | msg::SESSION_MODIFICATION_REQUEST
            | msg::SESSION_DELETION_REQUEST
                if up.is_some() =>
            {
                let up = up.expect("matched");
                Some(self.session_request(h, list, from, now, up))
            }
            msg::SESSION_ESTABLISHMENT_REQUEST
            | msg::SESSION_MODIFICATION_REQUEST
            | msg::SESSION_DELETION_REQUEST => {
                // (No GTP-U sessions to drive: a build without them.)
                let t = h.msg_type + 1;
                let est = h.msg_type == msg::SESSION_ESTABLISHMENT_REQUEST;
                // The response's SEID: the CP F-SEID's (establishment),
                // else the header's (0 if unknown, §7.2.2.4.2).
                let seid = if est {
                    find(ie::F_SEID)
                        .and_then(|v| v.get(1..9))
                        .map_or(0, |s| u64::from_be_bytes(s.try_into().expect("8 bytes")))
                } else {
                    0
                };
                let associated = self.assocs.values().any(|a| a.addr.ip() == from.ip());
                let mut w = Writer::new(t, Some(seid), h.seq);
                if est {
                    w = w.node_id(&me);
                }
                let c = if est && find(ie::NODE_ID).is_none() {
                    self.count("mandatory_ie_missing");
                    w = w.ie(ie::CAUSE, &[cause::MANDATORY_IE_MISSING]);
                    return Some(w.ie(ie::OFFENDING_IE, &ie::NODE_ID.to_be_bytes()).finish());
                } else if !associated {
                    cause::NO_ASSOCIATION
                } else if est {
                    cause::SERVICE_NOT_SUPPORTED
                } else {
                    cause::SESSION_CONTEXT_NOT_FOUND
                };
                Some(w.ie(ie::CAUSE, &[c]).finish())
            }
            _ => {
                // §7.2.3: an unknown (or unsupported) message type is
                // discarded.
                self.count("unknown_message");
                None
            }
        }
    }

    /// A message from `from` that proves it alive; `recovery`: its
    /// Recovery Time Stamp, if it carried one.
    fn seen(&mut self, from: SocketAddr, recovery: Option<u32>, now: Instant) {
        let mut restarted = None;
        for a in self.assocs.values_mut().filter(|a| a.addr == from) {
            a.last_seen = now;
            if let Some(ts) = recovery {
                if ts != a.recovery {
                    restarted = Some(a.node.clone());
                }
            }
        }
        if let Some(node) = restarted {
            // §6.2.5: the peer restarted and lost its state: so does its
            // association here (it sets up a new one), with its sessions.
            self.count("peer_restarts");
            self.restarted.push(node.clone());
            self.assocs.remove(&node);
            self.pending.retain(|p| p.addr != from);
            tracing::warn!(
                "pfcp: {node} ({from}) restarted (new Recovery Time Stamp): association released"
            );
        }
    }

    fn response(&mut self, h: &Header, list: &[(u16, &[u8])], from: SocketAddr, now: Instant) {
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.addr == from && p.seq == h.seq)
        else {
            return self.count("unexpected_response");
        };
        let p = self.pending.swap_remove(i);
        if p.report {
            if h.msg_type != msg::SESSION_REPORT_RESPONSE {
                return self.count("unexpected_response");
            }
            match sessions::report_response_cause(list) {
                Some(cause::ACCEPTED) => {}
                c => {
                    self.count("session_reports_rejected");
                    tracing::info!(
                        "pfcp: {from} answered a Session Report Request with cause {c:?}"
                    );
                }
            }
            return self.seen(from, None, now);
        }
        if h.msg_type == msg::HEARTBEAT_RESPONSE {
            self.count("heartbeat_response_in");
            let ts = list
                .iter()
                .find(|(t, _)| *t == ie::RECOVERY_TIME_STAMP)
                .and_then(|(_, v)| v.get(..4))
                .map(|v| u32::from_be_bytes(v.try_into().expect("4 bytes")));
            for a in self.assocs.values_mut().filter(|a| a.addr == from) {
                a.heartbeats_answered += 1;
            }
            self.seen(from, ts, now);
        }
    }

    fn timers(&mut self, now: Instant) {
        let t1 = Duration::from_millis(u64::from(self.cfg.t1_ms));
        let mut lost = Vec::new();
        let mut resend = Vec::new();
        let mut unanswered = 0;
        let n1 = self.cfg.n1;
        self.pending.retain_mut(|p| {
            if now.duration_since(p.sent) < t1 {
                return true;
            }
            if p.tries >= n1 {
                if p.report {
                    // A report nobody took: given up (the association
                    // is judged by heartbeats).
                    unanswered += 1;
                } else {
                    lost.push(p.addr);
                }
                return false;
            }
            p.tries += 1;
            p.sent = now;
            resend.push((p.addr, p.bytes.clone(), p.report));
            true
        });
        for _ in 0..unanswered {
            self.count("session_reports_unanswered");
        }
        for (a, b, report) in resend {
            if !report {
                self.count("heartbeat_request_out");
            }
            self.send(a, &b);
        }
        for addr in lost {
            self.pending.retain(|p| p.addr != addr || p.report);
            let gone: Vec<NodeId> = self
                .assocs
                .values()
                .filter(|a| a.addr == addr)
                .map(|a| a.node.clone())
                .collect();
            for n in gone {
                self.assocs.remove(&n);
                self.count("associations_lost");
                tracing::warn!(
                    "pfcp: {n} ({addr}) did not answer {} heartbeats: association released",
                    self.cfg.n1
                );
            }
        }
        let hb = Duration::from_secs(u64::from(self.cfg.heartbeat_s));
        let due: Vec<SocketAddr> = self
            .assocs
            .values_mut()
            .filter(|a| now >= a.next_heartbeat)
            .map(|a| {
                a.next_heartbeat = now + hb;
                a.heartbeats_sent += 1;
                a.addr
            })
            .collect();
        for addr in due {
            if self.pending.iter().any(|p| p.addr == addr && !p.report) {
                continue;
            }
            let seq = self.next_seq();
            let b = Writer::new(msg::HEARTBEAT_REQUEST, None, seq)
                .ie(ie::RECOVERY_TIME_STAMP, &self.recovery.to_be_bytes())
                .finish();
            self.count("heartbeat_request_out");
            self.send(addr, &b);
            self.pending.push(Pending {
                addr,
                seq,
                bytes: b,
                sent: now,
                tries: 1,
                report: false,
            });
        }
    }

    /// Associations, requests in flight, cached responses and sessions
    /// held (all bounded: `max_peers`; one heartbeat per association plus
    /// [`sessions::MAX_PENDING_REPORTS`]; [`CACHE`]; `[gtpu]
    /// max_sessions`).
    pub fn held(&self) -> (usize, usize, usize, usize) {
        (
            self.assocs.len(),
            self.pending.len(),
            self.cache.len(),
            self.sessions.len(),
        )
    }

    /// Whether every session is installed in `up` (and nothing else of
    /// PFCP's is): a check for tests and the fuzz target.
    pub fn consistent(&self, up: &mut Sessions) -> Result<(), String> {
        for (seid, s) in &self.sessions {
            let id = gtp_id(*seid);
            let Some(g) = up.get(id) else {
                return Err(format!("session {seid} is not installed"));
            };
            if Some(&g.spec) != s.gtp.as_ref() || g.slot != s.slot {
                return Err(format!("session {seid} is installed differently"));
            }
        }
        let theirs = up.list().iter().filter(|s| s.spec.id >> 63 == 1).count();
        if theirs != self.sessions.len() {
            return Err(format!(
                "{theirs} PFCP sessions installed, {} known",
                self.sessions.len()
            ));
        }
        Ok(())
    }

    /// `xgw pfcp associations`.
    pub fn associations_json(&self, now: Instant) -> Value {
        let mut v: Vec<&Assoc> = self.assocs.values().collect();
        v.sort_by_key(|a| a.node.to_string());
        let mut counters = serde_json::Map::new();
        for (k, n) in COUNTERS.iter().zip(self.counts) {
            counters.insert((*k).into(), json!(n));
        }
        json!({
            "listen": self.cfg.listen.to_string(),
            "node_id": self.cfg.node_id.to_string(),
            "recovery_time_stamp": self.recovery,
            "heartbeat_interval": self.cfg.heartbeat_s,
            "sessions": self.sessions.len(),
            "associations": v.iter().map(|a| json!({
                "node_id": a.node.to_string(),
                "address": a.addr.to_string(),
                "recovery_time_stamp": a.recovery,
                "up_s": now.duration_since(a.since).as_secs(),
                "last_seen_s": now.duration_since(a.last_seen).as_secs_f64(),
                "heartbeats_sent": a.heartbeats_sent,
                "heartbeats_answered": a.heartbeats_answered,
            })).collect::<Vec<_>>(),
            "counters": counters,
        })
    }
}

/// `xgw pfcp sessions` as text: one block per session.
pub fn render_sessions(v: &Value) -> String {
    let s = |x: &Value| match x {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    let list = v["sessions"].as_array().cloned().unwrap_or_default();
    let mut out = format!("{} session(s)\n", list.len());
    for x in &list {
        out += &format!(
            "session up_seid {} cp_seid {:#x} cp {} node {} up {} s\n",
            x["up_seid"],
            x["cp_seid"].as_u64().unwrap_or(0),
            s(&x["cp_address"]),
            s(&x["node_id"]),
            x["up_s"],
        );
        let g = &x["gtp"];
        if g.is_object() {
            let c = &g["counters"];
            out += &format!(
                "  gtp: teid {:#x} on {}, ue {} {}, downlink {} to {} teid {:#x}, qfi {}, gates {}/{}; ul {} pkts {} B, dl {} pkts {} B, drops {}\n",
                g["teid"].as_u64().unwrap_or(0),
                s(&g["local"]),
                s(&g["ue4"]),
                s(&g["ue6"]),
                s(&g["downlink"]),
                s(&g["peer"]),
                g["peer_teid"].as_u64().unwrap_or(0),
                s(&g["qfi"]),
                s(&g["gate_ul"]),
                s(&g["gate_dl"]),
                c["ul_packets"],
                c["ul_bytes"],
                c["dl_packets"],
                c["dl_bytes"],
                c["drops"],
            );
        }
        for p in x["pdrs"].as_array().into_iter().flatten() {
            let f = &p["f_teid"];
            out += &format!(
                "  PDR {} precedence {} {} f-teid {} ue {} -> FAR {} QER {} URR {}\n",
                p["id"],
                p["precedence"],
                s(&p["source_interface"]),
                if f.is_object() {
                    format!(
                        "{:#x}@{}",
                        f["teid"].as_u64().unwrap_or(0),
                        s(&f["address"])
                    )
                } else {
                    "-".into()
                },
                s(&p["ue_ip"]),
                s(&p["far_id"]),
                p["qer_ids"],
                p["urr_ids"],
            );
        }
        for f in x["fars"].as_array().into_iter().flatten() {
            let o = &f["outer_header_creation"];
            out += &format!(
                "  FAR {} {} to {}{}\n",
                f["id"],
                f["apply_action"],
                s(&f["destination_interface"]),
                if o.is_object() {
                    format!(
                        " gtp-u {}/{:#x}",
                        s(&o["address"]),
                        o["teid"].as_u64().unwrap_or(0)
                    )
                } else {
                    String::new()
                },
            );
        }
        for q in x["qers"].as_array().into_iter().flatten() {
            out += &format!(
                "  QER {} gates {}/{} mbr {}/{} bit/s qfi {}\n",
                q["id"],
                s(&q["gate_ul"]),
                s(&q["gate_dl"]),
                q["mbr_ul"],
                q["mbr_dl"],
                s(&q["qfi"]),
            );
        }
        for u in x["urrs"].as_array().into_iter().flatten() {
            out += &format!(
                "  URR {} {} triggers {} reports {}{}\n",
                u["id"],
                u["measurement_method"],
                u["reporting_triggers"],
                u["reports"],
                if u["quota_exhausted"] == Value::Bool(true) {
                    " (quota exhausted)"
                } else {
                    ""
                },
            );
        }
    }
    out
}

/// `xgw pfcp associations` as text.
pub fn render(v: &Value) -> String {
    let mut out = format!(
        "listening on {}, node id {}, recovery time stamp {}\n{:<40} {:<46} {:>8} {:>10} {:>10}\n",
        v["listen"].as_str().unwrap_or("-"),
        v["node_id"].as_str().unwrap_or("-"),
        v["recovery_time_stamp"],
        "node_id",
        "address",
        "up_s",
        "hb_sent",
        "hb_answered"
    );
    for a in v["associations"].as_array().into_iter().flatten() {
        out += &format!(
            "{:<40} {:<46} {:>8} {:>10} {:>10}\n",
            a["node_id"].as_str().unwrap_or("-"),
            a["address"].as_str().unwrap_or("-"),
            a["up_s"].as_u64().unwrap_or(0),
            a["heartbeats_sent"].as_u64().unwrap_or(0),
            a["heartbeats_answered"].as_u64().unwrap_or(0),
        );
    }
    for (k, n) in v["counters"].as_object().into_iter().flatten() {
        out += &format!("{k}: {n}\n");
    }
    out
}

pub mod rules;
mod sessions;
pub use sessions::{gtp_id, MAX_PENDING_REPORTS};

#[cfg(test)]
mod tests;
