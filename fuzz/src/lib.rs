//! Shared rigs and oracles for xgw's fuzz targets (`fuzz_targets/`).
//!
//! Each pipeline target drives a real worker (`xgw_engine::worker::Worker`)
//! on in-memory ports, so the whole runtime path is under test: burst
//! intake, the pipeline, emitted frames, parking, dispatch and counting.
//! After every burst the rig checks what a gateway must never lose:
//!
//! - no panic (libFuzzer reports one as a crash);
//! - frame accounting: rx + emitted = tx + local + dropped + pending, per
//!   worker, and every UMEM frame in exactly one place;
//! - the drop-reason counters sum to `dropped`;
//! - every transmitted frame is well-formed: lengths consistent, IPv4
//!   header checksums right, and the ICMP/ICMPv6 checksums of messages
//!   xgw originates right. The checksum code here is a plain RFC 1071 sum,
//!   independent of `xgw_pipelines::wire::checksum`.

use std::net::{Ipv4Addr, Ipv6Addr};

use xgw_engine::config::Config;
use xgw_engine::engine::{build, PortIo};
use xgw_engine::function::Instance;
use xgw_engine::port::PortQueue;
use xgw_engine::worker::Worker;

/// The router config every router target runs: three ports, a VLAN
/// sub-interface, IP-in-IP tunnels of every kind, a GTP-U endpoint (IPv4
/// and IPv6) with two sessions, Router Advertisements
/// with RDNSS and PREF64, every RPF mode, unreachable and blackhole
/// routes, and gateways with no neighbour entry (so frames park and ARP
/// requests / Neighbor Solicitations go out). Addresses match the golden
/// fixtures (`tests/golden/router`, `tests/golden/ipip`), whose frames
/// seed the corpora.
pub const ROUTER_CONFIG: &str = r#"
[engine]
cores = [0]
burst = 32
[engine.umem]
frames = 2048
[[ports]]
name = "west"
driver = "mem"
mac = "02:00:00:00:0a:01"
capacity = 512
[[ports]]
name = "east"
driver = "mem"
mac = "02:00:00:00:0b:01"
capacity = 512
[[ports]]
name = "south"
driver = "mem"
mac = "02:00:00:00:0c:01"
capacity = 512
[pipeline]
kind = "router"
[[interfaces]]
name = "lan"
port = "west"
ipv4 = ["10.0.0.1/24", "10.1.5.1/24"]
ipv6 = ["2001:db8:a::1/64", "2001:db8:5::1/64"]
rpf = "strict"
ra = { interval = 4, min_interval = 3, rdnss = { servers = ["2001:db8:a::53"] }, pref64 = { prefix = "64:ff9b::/96" } }
[[interfaces]]
name = "wan"
port = "east"
ipv4 = ["10.0.1.1/24", "192.168.0.1/24"]
ipv6 = ["2001:db8:b::1/64", "fd00::1/64"]
mtu = 1400
rpf = "loose"
[[interfaces]]
name = "vl"
port = "east"
vlan = 100
ipv4 = ["10.0.2.1/24"]
ipv6 = ["2001:db8:c::1/64"]
[[interfaces]]
name = "dmz"
port = "south"
ipv4 = ["10.3.0.1/24"]
ipv6 = ["2001:db8:3::1/64"]
mtu = 1280
[[tunnels]]
name = "t44"
kind = "4in4"
local = "192.168.0.1"
remote = "192.168.0.2"
ipv4 = ["1.1.1.1/24"]
[[tunnels]]
name = "t64"
kind = "6in4"
local = "192.168.0.1"
remote = "192.168.0.2"
ipv6 = ["fd01:64::1/64"]
ttl = "inherit"
rpf = "strict"
[[tunnels]]
name = "t46"
kind = "4in6"
local = "fd00::1"
remote = "fd00::2"
ipv4 = ["1.1.2.1/24"]
mtu = 1300
ecn = "compatibility"
rpf = "loose"
[[tunnels]]
name = "t66"
kind = "6in6"
local = "fd00::1"
remote = "fd00::2"
ipv6 = ["fd01:66::1/64"]
dscp = 10
[[routes]]
prefix = "198.51.100.0/24"
via = "10.0.1.2"
[[routes]]
prefix = "2001:db8:100::/48"
via = "2001:db8:b::2"
[[routes]]
prefix = "203.0.113.0/24"
kind = "blackhole"
[[routes]]
prefix = "2001:db8:dead::/48"
kind = "blackhole"
[[routes]]
prefix = "192.0.2.0/24"
kind = "unreachable"
[[routes]]
prefix = "2001:db8:bad::/48"
kind = "unreachable"
[[routes]]
prefix = "10.1.8.0/24"
via = "1.1.1.2"
[[routes]]
prefix = "2001:db8:8::/64"
via = "fd01:64::2"
[[routes]]
prefix = "10.2.8.0/24"
via = "1.1.2.2"
[[routes]]
prefix = "2001:db8:18::/64"
via = "fd01:66::2"
[[routes]]
prefix = "0.0.0.0/0"
via = "10.3.0.254"
[[routes]]
prefix = "::/0"
via = "2001:db8:3::fe"
[[routes]]
prefix = "10.7.0.0/16"
via = "10.0.1.99"
[[neighbors]]
interface = "lan"
ip = "10.0.0.2"
mac = "02:00:00:00:0a:02"
[[neighbors]]
interface = "lan"
ip = "2001:db8:a::2"
mac = "02:00:00:00:0a:02"
[[neighbors]]
interface = "lan"
ip = "10.1.5.10"
mac = "02:00:00:00:0a:02"
[[neighbors]]
interface = "wan"
ip = "10.0.1.2"
mac = "02:00:00:00:0b:02"
[[neighbors]]
interface = "wan"
ip = "2001:db8:b::2"
mac = "02:00:00:00:0b:02"
[[neighbors]]
interface = "wan"
ip = "192.168.0.2"
mac = "02:00:00:00:0b:02"
[[neighbors]]
interface = "wan"
ip = "fd00::2"
mac = "02:00:00:00:0b:02"
[[neighbors]]
interface = "vl"
ip = "10.0.2.2"
mac = "02:00:00:00:0c:02"
[[routes]]
prefix = "10.45.0.0/16"
interface = "gtp0"
[[routes]]
prefix = "2001:db8:45::/48"
interface = "gtp0"
[gtpu]
endpoints = ["192.168.0.1", "fd00::1"]
max_sessions = 64
error_rate = 1000
peers = ["192.168.0.2", "fd00::2"]
echo_interval = 1
echo_timeout_ms = 10
echo_retries = 2
[[gtpu.sessions]]
id = 1
teid = 0x100
ue4 = "10.45.0.2"
ue6 = "2001:db8:45:1::/64"
peer = "192.168.0.2"
peer_teid = 0x1100
qfi = 9
[[gtpu.sessions]]
id = 2
teid = 0x200
ue4 = "10.45.0.3"
ue6 = "2001:db8:45:2::7/128"
peer = "fd00::2"
peer_teid = 0x1200
mbr_dl = 1000000
"#;

/// Our own IPv4 addresses in [`ROUTER_CONFIG`] (frames from them are
/// xgw's own: their ICMP checksums must be right).
const OURS4: [[u8; 4]; 8] = [
    [10, 0, 0, 1],
    [10, 1, 5, 1],
    [10, 0, 1, 1],
    [192, 168, 0, 1],
    [10, 0, 2, 1],
    [10, 3, 0, 1],
    [1, 1, 1, 1],
    [1, 1, 2, 1],
];

fn ours6(a: &[u8; 16]) -> bool {
    let ip = Ipv6Addr::from(*a);
    // Link-local sources are never forwarded (RFC 4291), so a frame from
    // one is xgw's own.
    if ip.segments()[0] & 0xffc0 == 0xfe80 {
        return true;
    }
    [
        "2001:db8:a::1",
        "2001:db8:5::1",
        "2001:db8:b::1",
        "fd00::1",
        "2001:db8:c::1",
        "2001:db8:3::1",
        "fd01:64::1",
        "fd01:66::1",
    ]
    .iter()
    .any(|s| s.parse::<Ipv6Addr>().unwrap() == ip)
}

/// A worker and what the checks need to know about it.
pub struct Rig {
    pub worker: Worker,
    /// The pipeline function's shared state (the router's routes and
    /// neighbours), for the control target.
    pub function: Option<Box<dyn Instance>>,
    pub nports: usize,
    /// The ports as the control side sees them.
    pub ports: Vec<xgw_engine::engine::PortInfo>,
    /// Transmitted frames checked so far (for the targets' statistics).
    pub checked: u64,
    /// A target's own check of every transmitted frame, after
    /// [`check_frame`].
    pub extra: Option<fn(&[u8]) -> Result<(), String>>,
}

impl Rig {
    /// A router worker on [`ROUTER_CONFIG`].
    pub fn router() -> Rig {
        Self::from_config(ROUTER_CONFIG)
    }

    /// The L2 forwarder in `mac` mode on two mem ports.
    pub fn l2fwd() -> Rig {
        Self::from_config(
            r#"
[engine]
cores = [0]
burst = 32
[engine.umem]
frames = 1024
[[ports]]
name = "a"
driver = "mem"
mac = "02:00:00:00:00:0a"
capacity = 256
[[ports]]
name = "b"
driver = "mem"
mac = "02:00:00:00:00:0b"
capacity = 256
[pipeline]
kind = "l2fwd"
[pipeline.l2fwd]
mode = "mac"
[[pipeline.l2fwd.pairs]]
a = "a"
b = "b"
a_peer = "02:00:00:00:01:0a"
b_peer = "02:00:00:00:01:0b"
"#,
        )
    }

    /// A worker on any config of mem ports (a target's own).
    pub fn from_config(text: &str) -> Rig {
        let cfg = Config::parse(text, "fuzz").expect("the fuzz config is valid");
        let mut built = build(&cfg, &PortIo::Live).expect("mem ports need no privileges");
        let function = Some(built.function);
        let worker = built.workers.remove(0);
        let nports = worker.ports.len();
        Rig {
            worker,
            function,
            nports,
            ports: std::mem::take(&mut built.ports),
            checked: 0,
            extra: None,
        }
    }

    /// Puts `frame` on `port`'s RX queue; false when the queue or the
    /// frame pool is full, or the frame is empty or too big (not a finding).
    pub fn inject(&mut self, port: usize, frame: &[u8]) -> bool {
        let w = &mut self.worker;
        let PortQueue::Mem(q) = &mut w.ports[port % self.nports] else {
            unreachable!("mem ports only")
        };
        !frame.is_empty() && frame.len() <= 3000 && q.inject(&mut w.pool, frame)
    }

    /// Runs bursts until every injected frame has been received, checking
    /// transmitted frames and accounting after each.
    pub fn run(&mut self) {
        for _ in 0..64 {
            let n = self.worker.poll_once();
            self.drain_and_check();
            if n == 0 && self.rx_empty() {
                return;
            }
        }
        panic!("injected frames were never all received");
    }

    fn rx_empty(&self) -> bool {
        self.worker
            .ports
            .iter()
            .all(|p| matches!(p, PortQueue::Mem(q) if q.rx_len() == 0))
    }

    /// Takes every transmitted frame, checks it, and checks accounting.
    pub fn drain_and_check(&mut self) {
        let mut bad: Option<String> = None;
        let mut n = 0u64;
        let w = &mut self.worker;
        for (i, p) in w.ports.iter_mut().enumerate() {
            if let PortQueue::Mem(q) = p {
                let extra = self.extra;
                q.take_tx(&mut w.pool, |f| {
                    n += 1;
                    if bad.is_none() {
                        if let Err(e) = check_frame(f).and_then(|()| extra.map_or(Ok(()), |x| x(f)))
                        {
                            bad = Some(format!("port {i}: {e}: {}", hex(f)));
                        }
                    }
                });
            }
        }
        self.checked += n;
        if let Some(b) = bad {
            panic!("malformed frame sent: {b}");
        }
        self.check_accounting();
    }

    /// rx + emitted = tx + local + dropped + pending; drop reasons sum to
    /// dropped; every frame in exactly one place.
    pub fn check_accounting(&self) {
        let w = &self.worker;
        assert!(w.frames_accounted(), "a frame was lost or counted twice");
        let snap = w.stats.snapshot();
        let (mut lhs, mut rhs, mut reasons, mut dropped) = (0u64, 0u64, 0u64, 0u64);
        for p in &snap {
            lhs += p.rx + p.emitted;
            rhs += p.tx + p.local + p.dropped + p.parked - p.unparked;
            dropped += p.dropped;
            reasons += p.drops.iter().sum::<u64>();
        }
        assert_eq!(
            lhs, rhs,
            "accounting: rx + emitted != tx + local + dropped + pending ({snap:?})"
        );
        assert_eq!(reasons, dropped, "drop reasons do not sum to dropped");
        assert_eq!(
            w.frames_pending() as u64,
            snap.iter().map(|p| p.parked - p.unparked).sum::<u64>(),
            "parked frames and the pending count disagree"
        );
    }
}

/// Splits `data` into (port, frame) records: a header byte (port = its
/// low two bits), a 16-bit little-endian length, then that many bytes (or

/// Reads a fuzz input front to back (the targets that build their steps
/// from bytes: `gtpu`, `fib`).
pub struct In<'a>(pub &'a [u8]);

impl In<'_> {
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    /// `n` bytes as a big-endian number (`n` at most 16).
    pub fn uint(&mut self, n: usize) -> Option<u128> {
        let mut x = 0u128;
        for _ in 0..n.min(16) {
            x = x << 8 | u128::from(self.u8()?);
        }
        Some(x)
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// what is left). Used by the burst targets.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 3 {
            return None;
        }
        let port = usize::from(data[0] & 3);
        let len = usize::from(u16::from_le_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let n = len.min(rest.len());
        let (f, tail) = rest.split_at(n);
        data = tail;
        Some((port, f))
    })
}

fn hex(f: &[u8]) -> String {
    f.iter().take(128).map(|b| format!("{b:02x}")).collect()
}

/// RFC 1071 ones' complement sum, folded and complemented.
pub fn csum(parts: &[&[u8]]) -> u16 {
    let mut s: u64 = 0;
    for p in parts {
        let mut c = p.chunks_exact(2);
        for w in &mut c {
            s += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [b] = c.remainder() {
            s += u64::from(*b) << 8;
        }
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Checks one transmitted frame (see the crate doc).
pub fn check_frame(f: &[u8]) -> Result<(), String> {
    if f.len() < 14 {
        return Err("shorter than an Ethernet header".into());
    }
    if f.len() > 1518 + 4 + 40 + 20 {
        return Err(format!(
            "{} bytes: larger than any MTU here allows",
            f.len()
        ));
    }
    let mut et = u16::from_be_bytes([f[12], f[13]]);
    let mut off = 14;
    if et == 0x8100 {
        if f.len() < 18 {
            return Err("truncated VLAN tag".into());
        }
        et = u16::from_be_bytes([f[16], f[17]]);
        off = 18;
    }
    check_l3(et, &f[off..], 0)
}

fn check_l3(et: u16, b: &[u8], depth: u8) -> Result<(), String> {
    match et {
        0x0806 => {
            if b.len() < 28 || b[0..6] != [0, 1, 8, 0, 6, 4] {
                return Err("ARP not Ethernet/IPv4 or truncated".into());
            }
            Ok(())
        }
        0x0800 => check_ip4(b, depth),
        0x86dd => check_ip6(b, depth),
        other => Err(format!("EtherType {other:#06x} sent")),
    }
}

fn check_ip4(b: &[u8], depth: u8) -> Result<(), String> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return Err("IPv4 header truncated or not version 4".into());
    }
    let ihl = usize::from(b[0] & 15) * 4;
    let total = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if ihl < 20 || total < ihl || total > b.len() {
        return Err(format!(
            "IPv4 lengths: ihl {ihl}, total {total}, have {}",
            b.len()
        ));
    }
    if csum(&[&b[..ihl]]) != 0 {
        return Err("IPv4 header checksum".into());
    }
    let src: [u8; 4] = b[12..16].try_into().unwrap();
    let proto = b[9];
    let frag = u16::from_be_bytes([b[6], b[7]]) & 0x3fff != 0;
    let payload = &b[ihl..total];
    if proto == 1 && !frag && OURS4.contains(&src) && csum(&[payload]) != 0 {
        return Err(format!(
            "ICMP checksum of a message from {}",
            Ipv4Addr::from(src)
        ));
    }
    if !frag && depth == 0 && OURS4.contains(&src) {
        match proto {
            4 => return check_ip4(payload, 1),
            41 => return check_ip6(payload, 1),
            _ => {}
        }
    }
    Ok(())
}

fn check_ip6(b: &[u8], depth: u8) -> Result<(), String> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return Err("IPv6 header truncated or not version 6".into());
    }
    let plen = usize::from(u16::from_be_bytes([b[4], b[5]]));
    if 40 + plen > b.len() {
        return Err(format!("IPv6 payload length {plen}, have {}", b.len() - 40));
    }
    let src: [u8; 16] = b[8..24].try_into().unwrap();
    let dst: [u8; 16] = b[24..40].try_into().unwrap();
    let payload = &b[40..40 + plen];
    let nh = b[6];
    if nh == 58 && ours6(&src) {
        let mut pseudo = [0u8; 40];
        pseudo[..16].copy_from_slice(&src);
        pseudo[16..32].copy_from_slice(&dst);
        pseudo[32..36].copy_from_slice(&(plen as u32).to_be_bytes());
        pseudo[39] = 58;
        if csum(&[&pseudo, payload]) != 0 {
            return Err(format!(
                "ICMPv6 checksum of a message from {}",
                Ipv6Addr::from(src)
            ));
        }
    }
    if depth == 0 && ours6(&src) {
        match nh {
            4 => return check_ip4(payload, 1),
            41 => return check_ip6(payload, 1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_header() {
        // RFC 1071-style example: a valid IPv4 header sums to zero.
        let h = [
            0x45u8, 0, 0, 0x14, 0, 0, 0, 0, 0x40, 4, 0xf9, 0x92, 192, 168, 0, 2, 192, 168, 0, 1,
        ];
        assert_eq!(csum(&[&h]), 0);
    }

    #[test]
    fn records_split() {
        let d = [1u8, 2, 0, 0xaa, 0xbb, 2, 5, 0, 0xcc];
        let v: Vec<_> = records(&d).collect();
        assert_eq!(v, vec![(1, &[0xaa, 0xbb][..]), (2, &[0xcc][..])]);
    }
}
