//! The router's nodes driven through [`Pipeline`] with hand-built frames:
//! input checks (ethernet-input, ip4-input / ip6-input), ARP, NDP, echo,
//! forwarding (TTL / hop limit, RPF), ICMP errors and their limits,
//! neighbour resolution with parked frames, fragmentation, VLAN tags,
//! tunnel headroom and the neighbour memos.
//!
//! [`Rig`] plays the engine: it runs bursts, keeps parked frames with their
//! metadata, resumes them when the router releases their token, drops them
//! when it discards it, and runs the timers at a clock the test advances.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{Ipv4HeaderSlice, PacketBuilder};

use super::spec::{
    IfaceSpec, NeighborSpec, RouteSpec, RouteTarget, RouterSpec, RpfMode, TunnelKind, TunnelSpec,
    TUN_BASE,
};
use crate::graph::StageId;
use crate::wire::ethernet::MacAddr;
use crate::wire::icmpv6;
use crate::{Ctx, DropReason, Emit, Meta, Packet, Pipeline, PortId, Verdict};

const SEC: u64 = 1_000_000_000;
/// xgw on interface "a" (port 0) and "b" (port 1).
const X_A: [u8; 6] = [2, 0x0a, 0, 0, 0, 1];
const X_B: [u8; 6] = [2, 0x0b, 0, 0, 0, 1];
/// Hosts: A on "a" (10.1.0.2, 2001:db8:1::2, fe80::99), B on "b"
/// (10.2.0.2, 2001:db8:2::2; the gateway to 10.9/16 and 2001:db8:9::/48),
/// C on "b" (10.2.0.3, 2001:db8:2::3: not in the neighbour cache).
const H_A: [u8; 6] = [2, 0x0a, 0, 0, 0, 2];
const H_B: [u8; 6] = [2, 0x0b, 0, 0, 0, 2];
const H_C: [u8; 6] = [2, 0x0b, 0, 0, 0, 3];
const BCAST: [u8; 6] = [0xff; 6];

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn spec(rpf_a: RpfMode) -> RouterSpec {
    let via = |p: &str, len: u8, gw: &str| RouteSpec {
        prefix: p.parse().unwrap(),
        len,
        target: RouteTarget::Via {
            gateway: gw.parse().unwrap(),
            iface: 1,
        },
    };
    let nb = |iface: u16, ip: &str, mac: [u8; 6]| NeighborSpec {
        iface,
        ip: ip.parse().unwrap(),
        mac: MacAddr(mac),
    };
    RouterSpec {
        ifaces: vec![
            IfaceSpec {
                name: "a".into(),
                port: PortId(0),
                mac: MacAddr(X_A),
                ipv4: vec![(v4("10.1.0.1"), 24)],
                ipv6: vec![(v6("2001:db8:1::1"), 64)],
                link_local: v6("fe80::1"),
                rpf: rpf_a,
                ..IfaceSpec::default()
            },
            IfaceSpec {
                name: "b".into(),
                port: PortId(1),
                mac: MacAddr(X_B),
                ipv4: vec![(v4("10.2.0.1"), 24)],
                ipv6: vec![(v6("2001:db8:2::1"), 64)],
                link_local: v6("fe80::2:1"),
                mtu: 1400,
                ..IfaceSpec::default()
            },
        ],
        routes: vec![
            via("10.9.0.0", 16, "10.2.0.2"),
            via("2001:db8:9::", 48, "2001:db8:2::2"),
            RouteSpec {
                prefix: "203.0.113.0".parse().unwrap(),
                len: 24,
                target: RouteTarget::Blackhole,
            },
        ],
        neighbors: vec![
            nb(0, "10.1.0.2", H_A),
            nb(0, "2001:db8:1::2", H_A),
            nb(0, "fe80::99", H_A),
            nb(1, "10.2.0.2", H_B),
            nb(1, "2001:db8:2::2", H_B),
        ],
        ..RouterSpec::default()
    }
}

// ------------------------------------------------------------ the rig

/// Records what the router asks of the engine.
#[derive(Default)]
pub(crate) struct Sink {
    pub(super) frames: Vec<(PortId, Vec<u8>)>,
    pub(super) released: Vec<(u32, StageId)>,
    pub(super) discarded: Vec<(u32, DropReason)>,
}

impl Emit for Sink {
    fn emit(&mut self, port: PortId, build: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let mut b = vec![0u8; 2048];
        let n = build(&mut b).min(b.len());
        if n == 0 {
            return false;
        }
        b.truncate(n);
        self.frames.push((port, b));
        true
    }

    fn release(&mut self, token: u32, at: StageId) -> bool {
        self.released.push((token, at));
        true
    }

    fn discard(&mut self, token: u32, reason: DropReason) -> bool {
        self.discarded.push((token, reason));
        true
    }
}

/// A parked frame, as the engine keeps it.
pub(crate) struct Held {
    buf: Vec<u8>,
    head: u32,
    len: u32,
    port: PortId,
    meta: Meta,
    token: u32,
}

/// A frame's verdict, its bytes and its metadata after the router.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Out {
    pub(crate) v: Verdict,
    pub(crate) frame: Vec<u8>,
    pub(crate) meta: Meta,
}

const HEADROOM: usize = 256;

pub(crate) struct Rig {
    pub(crate) r: super::Router,
    pub(crate) now: u64,
    pub(crate) held: Vec<Held>,
    /// Frames the router made (ARP requests, solicitations, ...), in order.
    pub(crate) emitted: Vec<(PortId, Vec<u8>)>,
    /// Parked frames run again after a release, in order.
    pub(crate) resumed: Vec<Out>,
    /// Parked frames dropped by a discard.
    pub(crate) discarded: Vec<(Vec<u8>, DropReason)>,
}

impl Rig {
    pub(crate) fn new(spec: &RouterSpec) -> Rig {
        Rig::with_fast_path(spec, true)
    }

    /// A rig around a router built by the test.
    pub(crate) fn with_router(r: super::Router) -> Rig {
        let mut rig = Rig {
            r,
            now: SEC,
            held: Vec::new(),
            emitted: Vec::new(),
            resumed: Vec::new(),
            discarded: Vec::new(),
        };
        rig.tick();
        rig.emitted.clear();
        rig
    }

    /// A rig whose router has the fast path on or off.
    pub(super) fn with_fast_path(spec: &RouterSpec, fast: bool) -> Rig {
        let rib = super::table::Rib::new(spec).unwrap();
        let mut r =
            super::build_worker(spec, 0, super::neigh::NeighborBus::new(1), rib.handle()).unwrap();
        r.set_fast_path(fast);
        let mut rig = Rig {
            r,
            now: SEC,
            held: Vec::new(),
            emitted: Vec::new(),
            resumed: Vec::new(),
            discarded: Vec::new(),
        };
        rig.tick(); // the announcements at start
        rig.emitted.clear();
        rig
    }

    /// Two workers of one router: one route table, one neighbour bus.
    fn pair(spec: &RouterSpec) -> (Rig, Rig) {
        let rib = super::table::Rib::new(spec).unwrap();
        let bus = super::neigh::NeighborBus::new(2);
        let mut rigs = (0..2).map(|w| {
            let r = super::build_worker(spec, w, bus.clone(), rib.handle()).unwrap();
            let mut rig = Rig {
                r,
                now: SEC,
                held: Vec::new(),
                emitted: Vec::new(),
                resumed: Vec::new(),
                discarded: Vec::new(),
            };
            rig.tick();
            rig.emitted.clear();
            rig
        });
        let w0 = rigs.next().unwrap();
        (w0, rigs.next().unwrap())
    }

    pub(crate) fn rx(&mut self, port: u16, frame: &[u8]) -> Out {
        self.burst(port, &[frame.to_vec()]).remove(0)
    }

    /// One burst received on `port`.
    pub(crate) fn burst(&mut self, port: u16, frames: &[Vec<u8>]) -> Vec<Out> {
        self.burst_with_headroom(port, frames, HEADROOM)
    }

    /// One burst received on `port`, each frame with `headroom` free
    /// bytes in front of it in its chunk.
    fn burst_with_headroom(&mut self, port: u16, frames: &[Vec<u8>], headroom: usize) -> Vec<Out> {
        let bufs: Vec<(Vec<u8>, u32, u32, Meta)> = frames
            .iter()
            .map(|f| {
                let mut b = vec![0u8; 2048];
                b[headroom..headroom + f.len()].copy_from_slice(f);
                (b, headroom as u32, f.len() as u32, Meta::default())
            })
            .collect();
        self.run(PortId(port), bufs, None)
    }

    /// One frame received on `port` with `headroom` free bytes in front.
    fn rx_with_headroom(&mut self, port: u16, frame: &[u8], headroom: usize) -> Out {
        self.burst_with_headroom(port, &[frame.to_vec()], headroom)
            .remove(0)
    }

    /// Runs frames through the router (`at`: resumed at that node of its
    /// graph, as the engine resumes released frames), keeps the parked
    /// ones, and serves what the router asked for.
    fn run(
        &mut self,
        port: PortId,
        mut bufs: Vec<(Vec<u8>, u32, u32, Meta)>,
        at: Option<StageId>,
    ) -> Vec<Out> {
        let mut sink = Sink::default();
        let mut v = vec![Verdict::Local; bufs.len()];
        let after: Vec<(u32, u32, Meta)> = {
            let mut pkts: Vec<Packet<'_>> = bufs
                .iter_mut()
                .map(|(b, h, l, m)| {
                    let mut p = Packet::new(b, *h, *l, port).unwrap();
                    p.meta = *m;
                    p
                })
                .collect();
            let mut cx = Ctx::new(self.now, &mut sink);
            match at {
                None => self.r.process(&mut cx, &mut pkts, &mut v),
                Some(s) => self.r.resume(&mut cx, &mut pkts, &mut v, s),
            }
            pkts.iter()
                .map(|p| (p.head(), p.len() as u32, p.meta))
                .collect()
        };
        let mut outs = Vec::new();
        for ((b, _, _, _), (h, l, m)) in bufs.into_iter().zip(after) {
            let i = outs.len();
            let frame = b[h as usize..(h + l) as usize].to_vec();
            assert!(
                !matches!(v[i], Verdict::Next(_)),
                "a final verdict, not {:?}",
                v[i]
            );
            if let Verdict::Park(token) = v[i] {
                self.held.push(Held {
                    buf: b,
                    head: h,
                    len: l,
                    port,
                    meta: m,
                    token,
                });
            }
            outs.push(Out {
                v: v[i],
                frame,
                meta: m,
            });
        }
        self.serve(sink);
        outs
    }

    fn serve(&mut self, sink: Sink) {
        self.emitted.extend(sink.frames);
        for (token, reason) in sink.discarded {
            let (gone, keep) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|h| h.token == token);
            self.held = keep;
            let gone: Vec<Held> = gone;
            for h in gone {
                let f = h.buf[h.head as usize..(h.head + h.len) as usize].to_vec();
                self.discarded.push((f, reason));
            }
        }
        for (token, at) in sink.released {
            let (go, keep) = std::mem::take(&mut self.held)
                .into_iter()
                .partition(|h| h.token == token);
            self.held = keep;
            let go: Vec<Held> = go;
            // One burst per port, in the order they were parked.
            for port in [PortId(0), PortId(1)] {
                let bufs: Vec<_> = go
                    .iter()
                    .filter(|h| h.port == port)
                    .map(|h| (h.buf.clone(), h.head, h.len, h.meta))
                    .collect();
                if !bufs.is_empty() {
                    let outs = self.run(port, bufs, Some(at));
                    self.resumed.extend(outs);
                }
            }
        }
    }

    pub(crate) fn tick(&mut self) {
        let mut sink = Sink::default();
        self.r.tick(&mut Ctx::new(self.now, &mut sink));
        self.serve(sink);
    }

    /// Emitted frames with this EtherType, taken out of `emitted`.
    fn take_emitted(&mut self, ethertype: u16) -> Vec<(PortId, Vec<u8>)> {
        let (mine, rest) = std::mem::take(&mut self.emitted)
            .into_iter()
            .partition(|(_, f)| f[12..14] == ethertype.to_be_bytes());
        self.emitted = rest;
        mine
    }
}

// ------------------------------------------------------------ frames

fn udp4(src_mac: [u8; 6], dst_mac: [u8; 6], src: &str, dst: &str, ttl: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(v4(src).octets(), v4(dst).octets(), ttl)
        .udp(4000, 5000)
        .write(&mut out, data)
        .unwrap();
    out
}

fn udp6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &str,
    dst: &str,
    hops: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(v6(src).octets(), v6(dst).octets(), hops)
        .udp(4000, 5000)
        .write(&mut out, data)
        .unwrap();
    out
}

fn icmp4(src: &str, dst: &str, ttl: u8, msg_type: u8, code: u8, rest: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(H_A, X_A)
        .ipv4(v4(src).octets(), v4(dst).octets(), ttl)
        .icmpv4_raw(msg_type, code, rest)
        .write(&mut out, b"payload!")
        .unwrap();
    out
}

#[allow(clippy::too_many_arguments)]
fn icmp6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &str,
    dst: &str,
    hops: u8,
    msg_type: u8,
    word1: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv6(v6(src).octets(), v6(dst).octets(), hops)
        .icmpv6_raw(msg_type, 0, word1)
        .write(&mut out, body)
        .unwrap();
    out
}

/// A Neighbor Solicitation for `target`, with an SLLA option if given.
fn ns(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &str,
    dst: &str,
    target: &str,
    slla: Option<[u8; 6]>,
) -> Vec<u8> {
    let mut body = v6(target).octets().to_vec();
    if let Some(m) = slla {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&m);
    }
    icmp6(src_mac, dst_mac, src, dst, 255, icmpv6::NS, [0; 4], &body)
}

fn arp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    oper: u16,
    sha: [u8; 6],
    spa: &str,
    tha: [u8; 6],
    tpa: &str,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&oper.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&v4(spa).octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&v4(tpa).octets());
    f
}

/// Rewrites the IPv4 header checksum of a frame (after an edit), whatever
/// the header holds.
fn fix4(f: &mut [u8]) {
    use crate::wire::checksum;
    f[24..26].fill(0);
    let hl = (usize::from(f[14] & 0x0f) * 4).clamp(20, f.len() - 14);
    let c = checksum::finish(checksum::sum(&f[14..14 + hl]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// The IPv4 header checksum computed from scratch (etherparse).
fn ipv4_full_checksum(f: &[u8]) -> u16 {
    Ipv4HeaderSlice::from_slice(&f[14..])
        .unwrap()
        .to_header()
        .calc_header_checksum()
}

fn assert_ipv4_checksum(f: &[u8]) {
    assert_eq!(
        u16::from_be_bytes([f[24], f[25]]),
        ipv4_full_checksum(f),
        "IPv4 header checksum = full recompute"
    );
}

fn addr6(b: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).unwrap())
}

/// Checks the ICMPv6 checksum of an Ethernet + IPv6 + ICMPv6 frame.
fn assert_icmp6_checksum(f: &[u8]) {
    let (src, dst) = (addr6(&f[22..38]), addr6(&f[38..54]));
    let len = u16::from_be_bytes([f[18], f[19]]) as usize;
    assert!(
        icmpv6::Packet::new_checked(&f[54..54 + len])
            .unwrap()
            .verify_checksum(src, dst),
        "ICMPv6 checksum"
    );
}

fn tx(port: u16) -> Verdict {
    Verdict::Tx(PortId(port))
}

fn drop(r: DropReason) -> Verdict {
    Verdict::Drop(r)
}

// ------------------------------------------------------------ parse

/// The exact address tests behind the filters (`Core::is_local4`,
/// `is_bcast4`, `ours4`, `is_own_src6`) with more addresses than the sorted sets scan:
/// every address of ours, broadcast ones, link-locals only on their own
/// interface, foreign ones near ours, as a plain reading of the lists says;
/// and `bad_lladdr` with the MACs of 22 interfaces.
#[test]
fn own_address_tests_with_many_addresses() {
    let mut spec = spec(RpfMode::Off);
    for i in 0..40u32 {
        let f = &mut spec.ifaces[(i % 2) as usize];
        f.ipv4.push((Ipv4Addr::from(0x0a40_0000 + i * 256 + 1), 24));
        f.ipv6.push((
            Ipv6Addr::from((0x2001_0db8_0040u128 << 80) | u128::from(i)),
            64,
        ));
    }
    // VLAN sub-interfaces with MACs of their own: more than the sorted
    // MAC set scans.
    for i in 0..20u8 {
        spec.ifaces.push(IfaceSpec {
            name: format!("a.{}", 100 + u16::from(i)),
            port: PortId(0),
            vlan: 100 + u16::from(i),
            mac: MacAddr([2, 0x0c, 0, 0, 0, i]),
            link_local: Ipv6Addr::from(0xfe80_u128 << 112 | 0x0c00 | u128::from(i)),
            ..IfaceSpec::default()
        });
    }
    let rig = Rig::new(&spec);
    let c = &rig.r.core;
    for f in &spec.ifaces {
        assert!(c.bad_lladdr(f.mac), "{:?} is ours", f.mac);
    }
    for m in [
        [2, 0x0c, 0, 0, 0, 20],
        [2, 0x0a, 0, 0, 0, 2],
        [2, 0x0b, 0, 0, 0, 9],
    ] {
        assert!(!c.bad_lladdr(MacAddr(m)), "{m:?} is not ours");
    }
    let mut ours4 = Vec::new();
    let mut bcast4 = Vec::new();
    for f in &spec.ifaces {
        for &(a, len) in &f.ipv4 {
            ours4.push(a);
            bcast4.push(Ipv4Addr::from(u32::from(a) | (u32::MAX >> len)));
        }
    }
    for &a in ours4.iter().chain(&bcast4) {
        for x in [u32::from(a) - 1, u32::from(a), u32::from(a) + 1] {
            let x4 = Ipv4Addr::from(x);
            assert_eq!(c.is_local4(x4), ours4.contains(&x4), "{x4}");
            assert_eq!(c.is_bcast4(x4), bcast4.contains(&x4), "{x4}");
            assert_eq!(
                c.ours4(x),
                ours4.contains(&x4) || bcast4.contains(&x4),
                "{x4}"
            );
        }
    }
    for (id, f) in spec.ifaces.iter().enumerate() {
        let other = u16::from(id == 0);
        for &(a, _) in &f.ipv6 {
            assert!(c.is_own_src6(a, other), "{a}");
            let near = Ipv6Addr::from(u128::from(a) + 1);
            let theirs = spec
                .ifaces
                .iter()
                .any(|g| g.ipv6.iter().any(|&(x, _)| x == near));
            assert_eq!(c.is_own_src6(near, other), theirs, "{near}");
        }
        assert!(c.is_own_src6(f.link_local, id as u16));
        assert!(
            !c.is_own_src6(f.link_local, other),
            "{} on the other link",
            f.link_local
        );
    }
    assert!(!c.is_own_src6(Ipv6Addr::UNSPECIFIED, 0));
}

#[test]
fn parse_rejects_with_named_reasons() {
    use DropReason::*;
    let mut r = Rig::new(&spec(RpfMode::Off));
    let good = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, b"data");
    assert_eq!(r.rx(0, &good).v, tx(1));

    assert_eq!(r.rx(0, &good[..13]).v, drop(L2Runt));
    assert_eq!(r.rx(5, &good).v, drop(L2NoInterface));
    let mut f = good.clone();
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x77]);
    assert_eq!(r.rx(0, &f).v, drop(L2NotForUs));
    let mut f = good.clone();
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    assert_eq!(r.rx(0, &f).v, drop(L2UnknownEthertype));

    // IPv4: version, IHL, total length past the frame, checksum
    let mut f = good.clone();
    f[14] = 0x55;
    fix4(&mut f);
    assert_eq!(r.rx(0, &f).v, drop(Ip4Malformed), "version 5");
    let mut f = good.clone();
    f[14] = 0x44;
    assert_eq!(r.rx(0, &f).v, drop(Ip4Malformed), "IHL 4");
    let mut f = good.clone();
    f[14] = 0x4f; // IHL 15: 60 bytes of header, the packet has 32
    assert_eq!(r.rx(0, &f).v, drop(Ip4Malformed), "IHL past the frame");
    let mut f = good.clone();
    let total = (f.len() - 14 + 1) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    fix4(&mut f);
    assert_eq!(r.rx(0, &f).v, drop(Ip4Malformed), "total length > frame");
    let mut f = good.clone();
    f[16..18].copy_from_slice(&19u16.to_be_bytes());
    fix4(&mut f);
    assert_eq!(r.rx(0, &f).v, drop(Ip4Malformed), "total length < header");
    let mut f = good.clone();
    f[24] ^= 0x40;
    assert_eq!(r.rx(0, &f).v, drop(Ip4BadChecksum));
    // Ethernet padding after the packet is not part of it
    let mut f = good.clone();
    f.extend_from_slice(&[0xee; 20]);
    let o = r.rx(0, &f);
    assert_eq!((o.v, o.frame.len()), (tx(1), good.len()));
    let f = udp4(H_A, X_A, "224.0.0.5", "10.2.0.2", 64, b"x");
    assert_eq!(r.rx(0, &f).v, drop(Ip4MartianSource));

    // IPv6: truncated header, payload length past the frame
    let g6 = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::2", 64, b"data");
    assert_eq!(r.rx(0, &g6).v, tx(1));
    assert_eq!(
        r.rx(0, &g6[..14 + 39]).v,
        drop(Ip6Malformed),
        "truncated header"
    );
    assert_eq!(
        r.rx(0, &g6[..g6.len() - 1]).v,
        drop(Ip6Malformed),
        "payload length > frame"
    );
    let mut f = g6.clone();
    f[14] = 0x40;
    assert_eq!(
        r.rx(0, &f).v,
        drop(Ip6Malformed),
        "version 4 in an IPv6 frame"
    );
    let f = udp6(H_A, X_A, "ff02::1", "2001:db8:2::2", 64, b"x");
    assert_eq!(r.rx(0, &f).v, drop(Ip6MartianSource));
}

/// An IPv6 packet to 2001:db8:1::1 carrying `n` Destination Options
/// headers and then No Next Header.
fn ext_chain(n: usize, first: u8) -> Vec<u8> {
    let mut payload = Vec::new();
    for i in 0..n {
        let next = if i + 1 == n { 59 } else { 60 };
        payload.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    let mut f = Vec::new();
    f.extend_from_slice(&X_A);
    f.extend_from_slice(&H_A);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[first, 64]);
    f.extend_from_slice(&v6("2001:db8:1::2").octets());
    f.extend_from_slice(&v6("2001:db8:1::1").octets());
    f.extend_from_slice(&payload);
    f
}

#[test]
fn parse_bounds_the_extension_header_walk() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    assert_eq!(
        r.rx(0, &ext_chain(8, 60)).v,
        Verdict::Local,
        "8 headers are walked"
    );
    assert_eq!(
        r.rx(0, &ext_chain(9, 60)).v,
        drop(DropReason::Ip6BadExtHeader),
        "9 are too many"
    );
    let f = ext_chain(3, 60);
    assert_eq!(
        r.rx(0, &f[..f.len() - 4]).v,
        drop(DropReason::Ip6Malformed),
        "payload length past the frame"
    );
    // a chain cut short by the payload length
    let mut f = ext_chain(3, 60);
    f[18..20].copy_from_slice(&20u16.to_be_bytes());
    f.truncate(54 + 20);
    assert_eq!(
        r.rx(0, &f).v,
        drop(DropReason::Ip6BadExtHeader),
        "truncated chain"
    );
    // Hop-by-Hop after another header
    let mut f = ext_chain(2, 60);
    f[54] = 0;
    assert_eq!(
        r.rx(0, &f).v,
        drop(DropReason::Ip6BadExtHeader),
        "HBH not first"
    );
}

// ------------------------------------------------------------ ARP, NDP

#[test]
fn arp_reply_bytes() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let req = arp(H_A, BCAST, 1, H_A, "10.1.0.2", [0; 6], "10.1.0.1");
    let o = r.rx(0, &req);
    assert_eq!(o.v, tx(0));
    #[rustfmt::skip]
    let want: [u8; 42] = [
        2, 0x0a, 0, 0, 0, 2, // to A
        2, 0x0a, 0, 0, 0, 1, // from xgw
        0x08, 0x06,
        0, 1, 0x08, 0x00, 6, 4, 0, 2, // Ethernet/IPv4, reply
        2, 0x0a, 0, 0, 0, 1, 10, 1, 0, 1, // sender: xgw, 10.1.0.1
        2, 0x0a, 0, 0, 0, 2, 10, 1, 0, 2, // target: A, 10.1.0.2
    ];
    assert_eq!(o.frame, want);
    // our address on the other interface is not answered here
    let req = arp(H_A, BCAST, 1, H_A, "10.1.0.2", [0; 6], "10.2.0.1");
    assert_eq!(r.rx(0, &req).v, drop(DropReason::ArpNotForUs));
    let req = arp(H_A, BCAST, 1, H_A, "10.1.0.2", [0; 6], "10.1.0.9");
    assert_eq!(r.rx(0, &req).v, drop(DropReason::ArpNotForUs));
    // gratuitous ARP and replies are learned, not answered
    let g = arp(H_A, BCAST, 1, H_A, "10.1.0.7", [0; 6], "10.1.0.7");
    assert_eq!(r.rx(0, &g).v, Verdict::Local);
    let mut bad = arp(H_A, BCAST, 1, H_A, "10.1.0.2", [0; 6], "10.1.0.1");
    bad[15] = 6; // hardware type 6
    assert_eq!(r.rx(0, &bad).v, drop(DropReason::ArpMalformed));
    assert!(r.emitted.is_empty());
}

#[test]
fn neighbor_advertisement_flags_tlla_and_dad() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let sn = [0x33, 0x33, 0xff, 0, 0, 1];
    // address resolution from A
    let q = ns(
        H_A,
        sn,
        "2001:db8:1::2",
        "ff02::1:ff00:1",
        "2001:db8:1::1",
        Some(H_A),
    );
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    let f = &o.frame;
    assert_eq!(f[0..6], H_A, "to the SLLA");
    assert_eq!(f[6..12], X_A);
    assert_eq!(f[12..14], [0x86, 0xdd]);
    assert_eq!(
        f[18..22],
        [0, 32, 58, 255],
        "payload 32, ICMPv6, hop limit 255"
    );
    assert_eq!(addr6(&f[22..38]), v6("2001:db8:1::1"));
    assert_eq!(addr6(&f[38..54]), v6("2001:db8:1::2"));
    assert_eq!(f[54..56], [icmpv6::NA, 0]);
    assert_eq!(f[58..62], [0xe0, 0, 0, 0], "R S O");
    assert_eq!(addr6(&f[62..78]), v6("2001:db8:1::1"));
    assert_eq!(f[78..86], [2, 1, 2, 0x0a, 0, 0, 0, 1], "TLLA");
    assert_eq!(f.len(), 86);
    assert_icmp6_checksum(f);

    // the link-local address, asked by unicast
    let q = ns(H_A, X_A, "fe80::99", "fe80::1", "fe80::1", Some(H_A));
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    assert_eq!(addr6(&o.frame[22..38]), v6("fe80::1"));
    assert_eq!(addr6(&o.frame[38..54]), v6("fe80::99"));
    assert_eq!(o.frame[58], 0xe0);
    assert_icmp6_checksum(&o.frame);

    // DAD for our address: answered to all-nodes, not solicited
    let q = ns(H_A, sn, "::", "ff02::1:ff00:1", "2001:db8:1::1", None);
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    let f = &o.frame;
    assert_eq!(f[0..6], [0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(addr6(&f[22..38]), v6("2001:db8:1::1"));
    assert_eq!(addr6(&f[38..54]), v6("ff02::1"));
    assert_eq!(f[58], 0xa0, "R O, not S");
    assert_eq!(f[78..86], [2, 1, 2, 0x0a, 0, 0, 0, 1], "TLLA");
    assert_icmp6_checksum(f);

    // invalid: DAD with an SLLA, hop limit 254, a target not ours
    let q = ns(H_A, sn, "::", "ff02::1:ff00:1", "2001:db8:1::1", Some(H_A));
    assert_eq!(r.rx(0, &q).v, drop(DropReason::NdpInvalid));
    let mut q = ns(
        H_A,
        sn,
        "2001:db8:1::2",
        "ff02::1:ff00:1",
        "2001:db8:1::1",
        Some(H_A),
    );
    q[21] = 254;
    assert_eq!(r.rx(0, &q).v, drop(DropReason::NdpInvalid));
    let q = ns(
        H_A,
        X_A,
        "2001:db8:1::2",
        "2001:db8:1::1",
        "2001:db8:1::5",
        Some(H_A),
    );
    assert_eq!(r.rx(0, &q).v, drop(DropReason::NdpNotForUs));
    let mut q = ns(
        H_A,
        sn,
        "2001:db8:1::2",
        "ff02::1:ff00:1",
        "2001:db8:1::1",
        Some(H_A),
    );
    q[56] ^= 1;
    assert_eq!(r.rx(0, &q).v, drop(DropReason::IcmpBadChecksum));
}

// ------------------------------------------------------------ echo

#[test]
fn echo_replies() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let mut q = icmp4("10.1.0.2", "10.1.0.1", 9, 8, 0, [0, 7, 0, 1]);
    q[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
    fix4(&mut q);
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    let f = &o.frame;
    assert_eq!(
        (f[0..6].to_vec(), f[6..12].to_vec()),
        (H_A.to_vec(), X_A.to_vec())
    );
    assert_eq!(f[22], 64, "TTL of our own packets");
    assert_eq!(f[26..30], [10, 1, 0, 1]);
    assert_eq!(f[30..34], [10, 1, 0, 2]);
    assert_ipv4_checksum(f);
    assert_eq!(f[34..36], [0, 0], "echo reply");
    assert_eq!(f[38..42], [0, 7, 0, 1], "identifier and sequence");
    assert_eq!(f[42..], *b"payload!");
    let icmp = crate::wire::icmpv4::Packet::new_checked(&f[34..]).unwrap();
    assert!(icmp.verify_checksum());
    // to our address on the other interface: answered too
    let q = icmp4("10.1.0.2", "10.2.0.1", 64, 8, 0, [0, 7, 0, 2]);
    let o = r.rx(0, &q);
    assert_eq!((o.v, o.frame[26..30].to_vec()), (tx(0), vec![10, 2, 0, 1]));
    // to the subnet broadcast: ignored
    let mut q = icmp4("10.1.0.2", "10.1.0.255", 64, 8, 0, [0, 7, 0, 3]);
    q[0..6].copy_from_slice(&BCAST);
    assert_eq!(r.rx(0, &q).v, drop(DropReason::LocalEchoToBroadcast));

    // IPv6: global, link-local, all-nodes
    for (src, dst, from) in [
        ("2001:db8:1::2", "2001:db8:1::1", "2001:db8:1::1"),
        ("fe80::99", "fe80::1", "fe80::1"),
        ("fe80::99", "ff02::1", "fe80::1"),
    ] {
        let dmac = if dst == "ff02::1" {
            [0x33, 0x33, 0, 0, 0, 1]
        } else {
            X_A
        };
        let q = icmp6(
            H_A,
            dmac,
            src,
            dst,
            7,
            icmpv6::ECHO_REQUEST,
            [0, 9, 0, 1],
            b"ping6",
        );
        let o = r.rx(0, &q);
        assert_eq!(o.v, tx(0), "{dst}");
        let f = &o.frame;
        assert_eq!(f[0..6], H_A);
        assert_eq!(f[21], 64);
        assert_eq!(addr6(&f[22..38]), v6(from), "{dst}");
        assert_eq!(addr6(&f[38..54]), v6(src));
        assert_eq!(f[54..56], [icmpv6::ECHO_REPLY, 0]);
        assert_eq!(f[58..62], [0, 9, 0, 1]);
        assert_eq!(f[62..], *b"ping6");
        assert_icmp6_checksum(f);
    }
}

// ------------------------------------------------------------ forwarding

#[test]
fn ttl_and_hop_limit_decrement() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let q = udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 64, b"data");
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(1));
    let f = &o.frame;
    assert_eq!(f[0..6], H_B, "to the gateway");
    assert_eq!(f[6..12], X_B);
    assert_eq!(f[22], 63);
    assert_ipv4_checksum(f);
    assert_eq!(f[26..], q[26..], "addresses and payload unchanged");

    let q = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:9::1", 64, b"data");
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(1));
    assert_eq!(o.frame[0..12], [H_B, X_B].concat());
    assert_eq!(o.frame[21], 63);
    assert_eq!(o.frame[22..], q[22..]);
    // connected destination
    let q = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::2", 2, b"data");
    let o = r.rx(0, &q);
    assert_eq!((o.v, o.frame[21]), (tx(1), 1));
    let q = udp4(H_A, X_A, "10.1.0.2", "203.0.113.9", 64, b"data");
    assert_eq!(r.rx(0, &q).v, drop(DropReason::RouteBlackhole));
}

/// RFC 1624: the incrementally updated checksum equals a recomputation
/// for every checksum value the header can have (identification swept over
/// all 65536 values), and TTLs from 2 to 255.
#[test]
fn ttl_decrement_checksum_equals_recompute() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let base = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, b"x");
    let mut zero_seen = false;
    for chunk in (0..=u16::MAX).collect::<Vec<_>>().chunks(256) {
        let frames: Vec<Vec<u8>> = chunk
            .iter()
            .map(|&id| {
                let mut f = base.clone();
                f[18..20].copy_from_slice(&id.to_be_bytes());
                f[22] = 2 + (id % 254) as u8;
                fix4(&mut f);
                f
            })
            .collect();
        for (o, q) in r.burst(0, &frames).iter().zip(&frames) {
            assert_eq!(o.v, tx(1));
            assert_eq!(o.frame[22], q[22] - 1);
            assert_ipv4_checksum(&o.frame);
            zero_seen |= o.frame[24..26] == [0, 0];
        }
    }
    assert!(zero_seen, "a result checksum of 0x0000 was covered");
}

#[test]
fn time_exceeded_quotes_the_packet() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let q = udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 1, b"data");
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    let f = &o.frame;
    assert_eq!(f[0..6], H_A);
    assert_eq!(
        f[26..30],
        [10, 1, 0, 1],
        "from our address on the ingress subnet"
    );
    assert_eq!(f[30..34], [10, 1, 0, 2]);
    assert_eq!(f[23], 1, "ICMP");
    assert_ipv4_checksum(f);
    assert_eq!(f[34..36], [11, 0], "time exceeded in transit");
    assert_eq!(
        f[42..],
        q[14..],
        "the whole packet quoted, TTL 1 as received"
    );
    assert!(crate::wire::icmpv4::Packet::new_checked(&f[34..])
        .unwrap()
        .verify_checksum());

    let q = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:9::1", 1, b"data");
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    let f = &o.frame;
    assert_eq!(addr6(&f[22..38]), v6("2001:db8:1::1"));
    assert_eq!(addr6(&f[38..54]), v6("2001:db8:1::2"));
    assert_eq!(f[54..56], [icmpv6::TIME_EXCEEDED, 0]);
    assert_eq!(f[62..], q[14..]);
    assert_icmp6_checksum(f);
}

#[test]
fn reverse_path_filter() {
    use DropReason::{RpfLoose, RpfStrict};
    // (source, strict, loose, off) for a packet arriving on "a"
    let cases4 = [
        ("10.1.0.2", tx(1), tx(1), tx(1)),            // legitimate
        ("10.2.0.77", drop(RpfStrict), tx(1), tx(1)), // routed out of "b"
        ("10.9.3.3", drop(RpfStrict), tx(1), tx(1)),  // via a gateway on "b"
        ("198.51.100.1", drop(RpfStrict), drop(RpfLoose), tx(1)), // no route
        ("203.0.113.5", drop(RpfStrict), drop(RpfLoose), tx(1)), // blackholed
    ];
    let cases6 = [
        ("2001:db8:1::2", tx(1), tx(1), tx(1)),
        ("2001:db8:2::77", drop(RpfStrict), tx(1), tx(1)),
        ("2001:db8:77::1", drop(RpfStrict), drop(RpfLoose), tx(1)),
    ];
    for (mode, col) in [(RpfMode::Strict, 0), (RpfMode::Loose, 1), (RpfMode::Off, 2)] {
        let mut r = Rig::new(&spec(mode));
        for (src, s, l, o) in cases4 {
            let want = [s, l, o][col];
            let q = udp4(H_A, X_A, src, "10.2.0.2", 64, b"spoof");
            assert_eq!(r.rx(0, &q).v, want, "{mode:?} {src}");
        }
        for (src, s, l, o) in cases6 {
            let want = [s, l, o][col];
            let q = udp6(H_A, X_A, src, "2001:db8:2::2", 64, b"spoof");
            assert_eq!(r.rx(0, &q).v, want, "{mode:?} {src}");
        }
        // "b" has no filter
        let q = udp4(H_B, X_B, "198.51.100.1", "10.1.0.2", 64, b"in");
        assert_eq!(r.rx(1, &q).v, tx(0), "{mode:?} on b");
        assert!(
            r.emitted.is_empty(),
            "no ICMP error about a filtered packet"
        );
    }
}

// ------------------------------------------------------------ ICMP limits

#[test]
fn icmp_errors_are_rate_limited() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let frames: Vec<Vec<u8>> = (0..150)
        .map(|i| udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 1, &[i as u8]))
        .collect();
    let outs = r.burst(0, &frames);
    let sent = outs.iter().filter(|o| o.v == tx(0)).count();
    let limited = outs
        .iter()
        .filter(|o| o.v == drop(DropReason::IcmpRateLimited))
        .count();
    assert_eq!((sent, limited), (100, 50), "a burst of 100, then refusals");
    assert!(outs[..100].iter().all(|o| o.v == tx(0)));
    // 10 ms later: 200/s gives 2 more
    r.now += 10_000_000;
    let outs = r.burst(0, &frames[..5]);
    assert_eq!(outs.iter().filter(|o| o.v == tx(0)).count(), 2);
    // a second later the bucket is full again (100, not 200)
    r.now += SEC;
    let outs = r.burst(0, &frames);
    assert_eq!(outs.iter().filter(|o| o.v == tx(0)).count(), 100);
    // forwarding itself is not limited
    let q = udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 64, b"ok");
    assert_eq!(r.rx(0, &q).v, tx(1));
}

#[test]
fn no_icmp_error_about_errors_or_multicast() {
    use DropReason::IcmpSuppressed;
    let mut r = Rig::new(&spec(RpfMode::Off));
    // TTL expiring on an ICMP error: suppressed; on an echo request: sent
    let q = icmp4("10.1.0.2", "10.9.1.1", 1, 3, 1, [0; 4]);
    assert_eq!(
        r.rx(0, &q).v,
        drop(IcmpSuppressed),
        "about a destination unreachable"
    );
    let q = icmp4("10.1.0.2", "10.9.1.1", 1, 11, 0, [0; 4]);
    assert_eq!(r.rx(0, &q).v, drop(IcmpSuppressed), "about a time exceeded");
    let q = icmp4("10.1.0.2", "10.9.1.1", 1, 8, 0, [0, 1, 0, 1]);
    assert_eq!(r.rx(0, &q).v, tx(0), "about an echo request");
    // fragments: never about a non-first one; about a first one, yes
    let mut q = udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 1, b"fragment");
    q[20..22].copy_from_slice(&0x0010u16.to_be_bytes()); // offset 128, last
    fix4(&mut q);
    assert_eq!(r.rx(0, &q).v, drop(IcmpSuppressed), "non-first fragment");
    let mut q = udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 1, b"fragment");
    q[20..22].copy_from_slice(&0x2000u16.to_be_bytes()); // offset 0, MF
    fix4(&mut q);
    assert_eq!(r.rx(0, &q).v, tx(0), "first fragment");
    let q = icmp6(
        H_A,
        X_A,
        "2001:db8:1::2",
        "2001:db8:9::1",
        1,
        icmpv6::DEST_UNREACH,
        [0; 4],
        b"x",
    );
    assert_eq!(r.rx(0, &q).v, drop(IcmpSuppressed), "about an ICMPv6 error");
    let q = icmp6(
        H_A,
        X_A,
        "2001:db8:1::2",
        "2001:db8:9::1",
        1,
        icmpv6::PACKET_TOO_BIG,
        [0, 0, 5, 0],
        b"x",
    );
    assert_eq!(
        r.rx(0, &q).v,
        drop(IcmpSuppressed),
        "about a packet too big"
    );
    // IPv6 fragments of an ICMPv6 message: a non-first one has no type
    // (its first data byte looks like an echo request's here): treated
    // as maybe an error; the first one is read.
    let frag6 = |offset: u16, first_byte: u8| {
        let mut f = icmp6(
            H_A,
            X_A,
            "2001:db8:1::2",
            "2001:db8:9::1",
            1,
            first_byte,
            [0; 4],
            b"fragment",
        );
        // A Fragment Header (next header ICMPv6) in front of the payload.
        let fh = [58, 0, (offset >> 8) as u8, offset as u8 | 1, 0, 0, 0, 7];
        f.splice(54..54, fh);
        f[20] = 44;
        let plen = u16::from_be_bytes([f[18], f[19]]) + 8;
        f[18..20].copy_from_slice(&plen.to_be_bytes());
        f
    };
    assert_eq!(
        r.rx(0, &frag6(64, icmpv6::ECHO_REQUEST)).v,
        drop(IcmpSuppressed),
        "non-first ICMPv6 fragment"
    );
    assert_eq!(
        r.rx(0, &frag6(0, icmpv6::ECHO_REQUEST)).v,
        tx(0),
        "first ICMPv6 fragment"
    );
    let mut q = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:9::1", 1, b"fragment");
    q.splice(54..54, [17, 0, 0, 64, 0, 0, 0, 8]);
    q[20] = 44;
    let plen = u16::from_be_bytes([q[18], q[19]]) + 8;
    q[18..20].copy_from_slice(&plen.to_be_bytes());
    assert_eq!(
        r.rx(0, &q).v,
        tx(0),
        "non-first UDP fragment (IPv6): answered"
    );

    // UDP to us, no listener: port unreachable, unless it came as an L2
    // broadcast or to a broadcast / multicast address
    let q = udp4(H_A, X_A, "10.1.0.2", "10.1.0.1", 64, b"u");
    let o = r.rx(0, &q);
    assert_eq!((o.v, o.frame[34..36].to_vec()), (tx(0), vec![3, 3]));
    let q = udp4(H_A, BCAST, "10.1.0.2", "10.1.0.1", 64, b"u");
    assert_eq!(r.rx(0, &q).v, drop(IcmpSuppressed), "L2 broadcast");
    for dst in ["10.1.0.255", "255.255.255.255"] {
        let q = udp4(H_A, BCAST, "10.1.0.2", dst, 64, b"u");
        assert_eq!(r.rx(0, &q).v, Verdict::Local, "{dst}");
    }
    let q = udp6(
        H_A,
        [0x33, 0x33, 0, 0, 0, 1],
        "fe80::99",
        "ff02::1",
        64,
        b"u",
    );
    assert_eq!(r.rx(0, &q).v, Verdict::Local, "to all-nodes");
    let q = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:1::1", 64, b"u");
    let o = r.rx(0, &q);
    assert_eq!((o.v, o.frame[54..56].to_vec()), (tx(0), vec![1, 4]));
    // a TTL-expiring unicast packet sent as an L2 broadcast: dropped,
    // never answered (not forwarded at all, RFC 1812 § 5.3.4)
    let q = udp4(H_A, BCAST, "10.1.0.2", "10.9.1.1", 1, b"t");
    let v = r.rx(0, &q).v;
    assert!(
        matches!(
            v,
            Verdict::Drop(DropReason::IcmpSuppressed | DropReason::Ip4NotForwarded)
        ),
        "{v:?}"
    );
    assert!(r.emitted.is_empty());
}

// ------------------------------------------------------------ neighbours

fn seq_of(frame: &[u8]) -> u8 {
    *frame.last().unwrap()
}

#[test]
fn parked_until_resolved_then_released_in_order() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let frames: Vec<Vec<u8>> = (1..=3)
        .map(|i| udp4(H_A, X_A, "10.1.0.2", "10.2.0.3", 64, &[i]))
        .collect();
    let first = r.burst(0, &frames[..2]);
    let second = r.rx(0, &frames[2]);
    let token = match first[0].v {
        Verdict::Park(t) => t,
        v => panic!("parked expected, got {v:?}"),
    };
    assert!(first
        .iter()
        .chain([&second])
        .all(|o| o.v == Verdict::Park(token)));
    let arps = r.take_emitted(0x0806);
    assert_eq!(arps.len(), 1, "one request for three frames");
    assert_eq!(arps[0].0, PortId(1));
    assert_eq!(
        arps[0].1,
        arp(X_B, BCAST, 1, X_B, "10.2.0.1", [0; 6], "10.2.0.3"),
        "who-has 10.2.0.3 tell 10.2.0.1"
    );
    // other traffic flows meanwhile
    let q = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, b"b");
    assert_eq!(r.rx(0, &q).v, tx(1));

    let reply = arp(H_C, X_B, 2, H_C, "10.2.0.3", X_B, "10.2.0.1");
    assert_eq!(r.rx(1, &reply).v, Verdict::Local);
    assert!(r.held.is_empty());
    let got: Vec<_> = r.resumed.iter().map(|o| (o.v, seq_of(&o.frame))).collect();
    assert_eq!(got, [(tx(1), 1), (tx(1), 2), (tx(1), 3)], "in order");
    for o in &r.resumed {
        assert_eq!(o.frame[0..12], [H_C, X_B].concat());
        assert_eq!(o.frame[22], 63, "TTL decremented once");
        assert_ipv4_checksum(&o.frame);
    }
    // now resolved: straight through
    let o = r.rx(0, &frames[0]);
    assert_eq!((o.v, o.frame[0..6].to_vec()), (tx(1), H_C.to_vec()));

    // IPv6: a Neighbor Solicitation, then the solicited advertisement
    r.resumed.clear();
    let frames: Vec<Vec<u8>> = (1..=2)
        .map(|i| udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::3", 64, &[i]))
        .collect();
    let outs = r.burst(0, &frames);
    assert!(outs.iter().all(|o| matches!(o.v, Verdict::Park(_))));
    let sol = r.take_emitted(0x86dd);
    assert_eq!(sol.len(), 1);
    let f = &sol[0].1;
    assert_eq!(f[0..6], [0x33, 0x33, 0xff, 0, 0, 3]);
    assert_eq!(addr6(&f[22..38]), v6("2001:db8:2::1"));
    assert_eq!(addr6(&f[38..54]), v6("ff02::1:ff00:3"));
    assert_eq!((f[21], f[54]), (255, icmpv6::NS));
    assert_eq!(addr6(&f[62..78]), v6("2001:db8:2::3"));
    assert_eq!(f[78..86], [1, 1, 2, 0x0b, 0, 0, 0, 1], "SLLA");
    assert_icmp6_checksum(f);
    let na = solicited_na_from_c("2001:db8:2::3");
    assert_eq!(r.rx(1, &na).v, Verdict::Local);
    let got: Vec<_> = r.resumed.iter().map(|o| (o.v, seq_of(&o.frame))).collect();
    assert_eq!(got, [(tx(1), 1), (tx(1), 2)]);
    assert!(r
        .resumed
        .iter()
        .all(|o| o.frame[21] == 63 && o.frame[0..6] == H_C));
}

/// Two workers: the answer to worker 0's ARP request or Neighbor
/// Solicitation lands on worker 1's queue. Worker 0's parked frames go out
/// (through the bus), and worker 1 then forwards to that neighbour without
/// resolving it a second time. A hint that worker 1 sees (an ARP request
/// between two other hosts) creates no entry on either worker.
/// A solicited, overriding Neighbor Advertisement from host C (MAC H_C,
/// with the TLLA option) for `ip`, unicast to our wan address.
fn solicited_na_from_c(ip: &str) -> Vec<u8> {
    let mut body = v6(ip).octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&H_C);
    icmp6(
        H_C,
        X_B,
        ip,
        "2001:db8:2::1",
        255,
        icmpv6::NA,
        [0x60, 0, 0, 0],
        &body,
    )
}

#[test]
fn a_neighbour_resolved_by_one_worker_serves_the_other() {
    let (mut w0, mut w1) = Rig::pair(&spec(RpfMode::Off));
    // IPv4
    let f = udp4(H_A, X_A, "10.1.0.2", "10.2.0.3", 64, &[1]);
    assert!(matches!(w0.rx(0, &f).v, Verdict::Park(_)));
    assert_eq!(w0.take_emitted(0x0806).len(), 1, "worker 0 asks");
    let reply = arp(H_C, X_B, 2, H_C, "10.2.0.3", X_B, "10.2.0.1");
    assert_eq!(w1.rx(1, &reply).v, Verdict::Local);
    w0.tick();
    let got: Vec<_> = w0
        .resumed
        .iter()
        .map(|o| (o.v, o.frame[0..6].to_vec()))
        .collect();
    assert_eq!(got, [(tx(1), H_C.to_vec())], "released through the bus");
    w1.tick();
    let o = w1.rx(0, &udp4(H_A, X_A, "10.1.0.2", "10.2.0.3", 64, &[2]));
    assert_eq!((o.v, o.frame[0..6].to_vec()), (tx(1), H_C.to_vec()));
    assert!(
        w1.emitted.is_empty(),
        "worker 1 asked again: {:?}",
        w1.emitted
    );

    // IPv6: the solicited advertisement lands on worker 1
    let f = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::3", 64, &[3]);
    assert!(matches!(w0.rx(0, &f).v, Verdict::Park(_)));
    assert_eq!(w0.take_emitted(0x86dd).len(), 1, "worker 0 solicits");
    let na = solicited_na_from_c("2001:db8:2::3");
    assert_eq!(w1.rx(1, &na).v, Verdict::Local);
    w0.tick();
    w1.tick();
    assert_eq!(w0.resumed.len(), 2, "the IPv6 frame was released too");
    assert_eq!(w0.resumed[1].v, tx(1));
    let o = w1.rx(
        0,
        &udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::3", 64, &[4]),
    );
    assert_eq!((o.v, o.frame[0..6].to_vec()), (tx(1), H_C.to_vec()));
    assert!(
        w1.emitted.is_empty(),
        "worker 1 solicited a neighbour worker 0 had resolved: {:?}",
        w1.emitted
    );

    // A hint creates nothing, on the worker that saw it or on the other.
    let hint = arp(H_B, BCAST, 1, H_B, "10.2.0.8", [0; 6], "10.2.0.7");
    assert_eq!(w1.rx(1, &hint).v, drop(DropReason::ArpNotForUs));
    w0.tick();
    let k = super::neigh::Key {
        iface: 1,
        ip: "10.2.0.8".parse().unwrap(),
    };
    assert!(w1.r.neigh.get(&k).is_none());
    assert!(
        w0.r.neigh.get(&k).is_none(),
        "the bus created an entry from a hint"
    );
}

#[test]
fn a_solicited_na_nobody_asked_for_plants_no_entry() {
    // RFC 4861 §7.2.5: an advertisement for an address with no entry is
    // discarded. A solicited NA creates the entry only when some worker
    // solicited that address within the last retransmissions.
    let (mut w0, mut w1) = Rig::pair(&spec(RpfMode::Off));
    let key = |ip: &str| super::neigh::Key {
        iface: 1,
        ip: ip.parse().unwrap(),
    };
    // Nobody asked: a forged solicited NA is consumed and plants nothing,
    // on the worker that got it or through the bus.
    assert_eq!(
        w1.rx(1, &solicited_na_from_c("2001:db8:2::7")).v,
        Verdict::Local
    );
    w0.tick();
    w1.tick();
    assert!(
        w1.r.neigh.get(&key("2001:db8:2::7")).is_none(),
        "planted on the receiver"
    );
    assert!(
        w0.r.neigh.get(&key("2001:db8:2::7")).is_none(),
        "planted through the bus"
    );
    // Worker 0 asks; the answer lands on worker 1 within the window: both learn.
    let f = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::8", 64, &[1]);
    assert!(matches!(w0.rx(0, &f).v, Verdict::Park(_)));
    assert_eq!(w0.take_emitted(0x86dd).len(), 1);
    assert_eq!(
        w1.rx(1, &solicited_na_from_c("2001:db8:2::8")).v,
        Verdict::Local
    );
    assert!(w1.r.neigh.get(&key("2001:db8:2::8")).is_some());
    // Long after the solicitation (beyond its retransmissions), an answer
    // for another address asked back then creates nothing.
    let g = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:2::9", 64, &[2]);
    assert!(matches!(w0.rx(0, &g).v, Verdict::Park(_)));
    w1.now += super::neigh::ASKED_NS + 1_000_000_000;
    assert_eq!(
        w1.rx(1, &solicited_na_from_c("2001:db8:2::9")).v,
        Verdict::Local
    );
    assert!(
        w1.r.neigh.get(&key("2001:db8:2::9")).is_none(),
        "a stale solicitation still counted"
    );
}

#[test]
fn neighbour_failure_drops_the_parked_frames_and_does_not_stall() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    let t0 = r.now;
    let frames: Vec<Vec<u8>> = (1..=2)
        .map(|i| udp4(H_A, X_A, "10.1.0.2", "10.2.0.4", 64, &[i]))
        .collect();
    assert!(r
        .burst(0, &frames)
        .iter()
        .all(|o| matches!(o.v, Verdict::Park(_))));
    let mut requests = r.take_emitted(0x0806).len();
    // tick every 10 ms for 3.5 s; keep forwarding to B meanwhile
    let mut failed_at = None;
    for step in 1..=350u64 {
        r.now = t0 + step * 10_000_000;
        r.tick();
        requests += r.take_emitted(0x0806).len();
        if step % 50 == 0 {
            let q = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, b"b");
            assert_eq!(r.rx(0, &q).v, tx(1), "no stall at {} ms", step * 10);
        }
        if failed_at.is_none() && !r.discarded.is_empty() {
            failed_at = Some(r.now - t0);
        }
    }
    assert_eq!(
        requests, 3,
        "the request and two retransmissions, a second apart"
    );
    assert_eq!(
        failed_at,
        Some(3 * SEC),
        "given up after three unanswered requests"
    );
    let reasons: Vec<_> = r.discarded.iter().map(|(f, d)| (seq_of(f), *d)).collect();
    assert_eq!(
        reasons,
        [(1, DropReason::NeighFailed), (2, DropReason::NeighFailed)]
    );
    assert!(r.held.is_empty() && r.resumed.is_empty());
    // a later frame starts a fresh resolution
    let o = r.rx(0, &frames[0]);
    assert!(matches!(o.v, Verdict::Park(_)), "{:?}", o.v);
    assert_eq!(r.take_emitted(0x0806).len(), 1);
}

// ------------------------------------------------------------ MTU

#[test]
fn mtu_fragmentation_and_too_big() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    // 1500 bytes of IPv4 towards "b" (MTU 1400), DF clear: fragmented
    let data: Vec<u8> = (0..1472u32).map(|i| (i * 7) as u8).collect();
    let mut q = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, &data);
    q[20] &= !0x40; // DF off
    q[18..20].copy_from_slice(&0xbeefu16.to_be_bytes());
    fix4(&mut q);
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(1));
    let more = r.take_emitted(0x0800);
    assert_eq!(more.len(), 1);
    let mut payload = Vec::new();
    for (i, f) in [&o.frame, &more[0].1].into_iter().enumerate() {
        assert_eq!(f[0..12], [H_B, X_B].concat());
        let total = u16::from_be_bytes([f[16], f[17]]) as usize;
        assert_eq!(f.len(), 14 + total);
        assert!(total <= 1400, "fragment {i}: {total}");
        assert_eq!(f[18..20], [0xbe, 0xef], "identification kept");
        assert_eq!(f[22], 63);
        assert_ipv4_checksum(f);
        let w = u16::from_be_bytes([f[20], f[21]]);
        let (mf, off) = (w & 0x2000 != 0, usize::from(w & 0x1fff) * 8);
        assert_eq!(mf, i == 0, "MF on all but the last");
        assert_eq!(off, payload.len(), "offsets follow each other");
        payload.extend_from_slice(&f[34..]);
    }
    assert_eq!(payload, q[34..], "the fragments add up to the packet");

    // DF set: Fragmentation Needed with the next-hop MTU
    let q = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, &data);
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    assert_eq!(o.frame[34..36], [3, 4]);
    assert_eq!(
        o.frame[38..42],
        [0, 0, 0x05, 0x78],
        "unused, next-hop MTU 1400"
    );
    assert_ipv4_checksum(&o.frame);
    // IPv6 is never fragmented by routers: Packet Too Big
    let q = udp6(
        H_A,
        X_A,
        "2001:db8:1::2",
        "2001:db8:2::2",
        64,
        &data[..1452],
    );
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(0));
    assert_eq!(o.frame[54..56], [icmpv6::PACKET_TOO_BIG, 0]);
    assert_eq!(o.frame[58..62], 1400u32.to_be_bytes());
    assert!(
        o.frame.len() - 14 <= 1280,
        "the error fits the IPv6 minimum MTU"
    );
    assert_icmp6_checksum(&o.frame);
    // exactly the MTU passes
    let q = udp6(
        H_A,
        X_A,
        "2001:db8:1::2",
        "2001:db8:2::2",
        64,
        &data[..1352],
    );
    assert_eq!(r.rx(0, &q).v, tx(1));
}

/// 1500 bytes of UDP in IPv4 from A, DF clear, the last fragment of its
/// datagram at `off8` (8-octet units): too big for "b" (MTU 1400) and for
/// the translator's IPv6 side (1280).
fn last_fragment4(dst: &str, off8: u16) -> Vec<u8> {
    let data: Vec<u8> = (0..1472u32).map(|i| (i * 7) as u8).collect();
    let mut q = udp4(H_A, X_A, "10.1.0.2", dst, 64, &data);
    q[20..22].copy_from_slice(&(off8 & 0x1fff).to_be_bytes());
    fix4(&mut q);
    q
}

#[test]
fn fragmenting_past_the_largest_datagram_is_malformed() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    // The last piece of the largest datagram (64032 + 1500 <= 65535) is
    // still cut: its second piece starts 1376 octets further.
    let o = r.rx(0, &last_fragment4("10.2.0.2", 8004));
    assert_eq!(o.v, tx(1));
    let more = r.take_emitted(0x0800);
    assert_eq!(more.len(), 1);
    let w = |f: &[u8]| u16::from_be_bytes([f[20], f[21]]);
    assert_eq!(w(&o.frame), 0x2000 | 8004, "MF, offset kept");
    assert_eq!(w(&more[0].1), 8004 + 1376 / 8, "last, offset moved on");
    // RFC 791: a datagram is at most 65,535 octets. Past that the pieces'
    // offsets overflowed (a panic in debug builds, wrapped offsets in
    // release): the fragment is malformed.
    for off8 in [8005, 0x1fff] {
        let o = r.rx(0, &last_fragment4("10.2.0.2", off8));
        assert_eq!(o.v, drop(DropReason::Ip4Malformed), "offset {off8}");
        assert!(r.take_emitted(0x0800).is_empty(), "offset {off8}");
    }
}

#[test]
fn translated_fragments_past_the_largest_datagram_are_malformed() {
    use crate::nat64::addr::{EamTable, Pool6};
    use crate::nat64::{Nat64Spec, NAT64_IFACE};
    let mut s = spec(RpfMode::Off);
    s.routes.push(RouteSpec {
        prefix: "10.60.0.0".parse().unwrap(),
        len: 16,
        target: RouteTarget::Connected { iface: NAT64_IFACE },
    });
    s.routes.push(RouteSpec {
        prefix: "64:ff9b::".parse().unwrap(),
        len: 96,
        target: RouteTarget::Via {
            gateway: "2001:db8:2::2".parse().unwrap(),
            iface: 1,
        },
    });
    s.nat64 = Some(Nat64Spec {
        iface: "siit0".into(),
        pool6: Pool6::new("64:ff9b::".parse().unwrap(), 96),
        eam: EamTable::new(&[]).unwrap(),
        rfc6791_v4: None,
        rfc6791_v6: None,
        lowest_ipv6_mtu: 1280,
        amend_udp_checksum_zero: false,
        stateful: None,
    });
    let mut r = Rig::new(&s);
    // (IPv6 fragments of at most 1280 octets: 1232 of data each.)
    let o = r.rx(0, &last_fragment4("10.60.0.5", 8004));
    assert_eq!(o.v, tx(1));
    let more = r.take_emitted(0x86dd);
    assert_eq!(more.len(), 1);
    let fo = |f: &[u8]| u16::from_be_bytes([f[56], f[57]]);
    assert_eq!(fo(&o.frame), (8004 << 3) | 1, "M, offset kept");
    assert_eq!(
        fo(&more[0].1),
        (8004 + 1232 / 8) << 3,
        "last, offset moved on"
    );
    // RFC 8200 §4.5: a reassembled payload over 65,535 octets is
    // malformed; the pieces' offsets overflowed (a panic in debug builds).
    // The translator refuses such an IPv4 fragment itself now (RFC 791:
    // no datagram ends past 65,535), before ip-rewrite's own check.
    for off8 in [8007, 0x1fff] {
        let o = r.rx(0, &last_fragment4("10.60.0.5", off8));
        assert_eq!(o.v, drop(DropReason::Ip4Malformed), "offset {off8}");
        assert!(r.take_emitted(0x86dd).is_empty(), "offset {off8}");
    }
}

// ------------------------------------------------------------ VLAN

#[test]
fn vlan_interfaces_tag_what_they_send() {
    let mut s = spec(RpfMode::Off);
    s.ifaces.push(IfaceSpec {
        name: "v100".into(),
        port: PortId(1),
        vlan: 100,
        mac: MacAddr(X_B),
        ipv4: vec![(v4("10.3.0.1"), 24)],
        link_local: v6("fe80::3:1"),
        ..IfaceSpec::default()
    });
    s.neighbors.push(NeighborSpec {
        iface: 2,
        ip: "10.3.0.2".parse().unwrap(),
        mac: MacAddr(H_C),
    });
    let mut r = Rig::new(&s);
    let tag = |f: &[u8]| -> Vec<u8> { [&f[..12], &[0x81, 0x00, 0x00, 100][..], &f[12..]].concat() };
    // an ARP request on VLAN 100 is answered on VLAN 100
    let req = tag(&arp(H_C, BCAST, 1, H_C, "10.3.0.2", [0; 6], "10.3.0.1"));
    let o = r.rx(1, &req);
    assert_eq!(o.v, tx(1));
    assert_eq!(
        o.frame,
        tag(&arp(X_B, H_C, 2, X_B, "10.3.0.1", H_C, "10.3.0.2"))
    );
    // untagged in on "a", tagged out on VLAN 100
    let q = udp4(H_A, X_A, "10.1.0.2", "10.3.0.2", 64, b"to vlan");
    let o = r.rx(0, &q);
    assert_eq!(o.v, tx(1));
    let mut want = tag(&q);
    want[0..6].copy_from_slice(&H_C);
    want[6..12].copy_from_slice(&X_B);
    want[26] = 63;
    fix4(&mut want[4..]);
    assert_eq!(o.frame, want);
    // tagged in, untagged out
    let q = tag(&udp4(H_C, X_B, "10.3.0.2", "10.1.0.2", 64, b"from vlan"));
    let o = r.rx(1, &q);
    assert_eq!(o.v, tx(0));
    assert_eq!(o.frame[12..14], [0x08, 0x00]);
    assert_eq!(o.frame[0..12], [H_A, X_A].concat());
    assert_eq!(o.frame[14 + 8], 63);
    // an unknown VLAN on the port
    let mut q = q.clone();
    q[15] = 101;
    assert_eq!(r.rx(1, &q).v, drop(DropReason::L2NoInterface));
}

// ------------------------------------------------------------ headroom and header writes

/// "a" and "b" plus "v100" (VLAN 100 on port 1, host C at 10.3.0.2).
fn spec_with_vlan() -> RouterSpec {
    let mut s = spec(RpfMode::Off);
    s.ifaces.push(IfaceSpec {
        name: "v100".into(),
        port: PortId(1),
        vlan: 100,
        mac: MacAddr(X_B),
        ipv4: vec![(v4("10.3.0.1"), 24)],
        link_local: v6("fe80::3:1"),
        ..IfaceSpec::default()
    });
    s.neighbors.push(NeighborSpec {
        iface: 2,
        ip: "10.3.0.2".parse().unwrap(),
        mac: MacAddr(H_C),
    });
    s
}

#[test]
fn vlan_tag_without_headroom_is_a_vlan_drop() {
    for fast in [true, false] {
        let mut r = Rig::with_fast_path(&spec_with_vlan(), fast);
        // untagged in on "a", to be tagged out on VLAN 100: the tag needs
        // 4 bytes in front of the frame
        let q = udp4(H_A, X_A, "10.1.0.2", "10.3.0.2", 64, b"to vlan");
        for headroom in 0..4 {
            let o = r.rx_with_headroom(0, &q, headroom);
            assert_eq!(o.v, drop(DropReason::VlanNoHeadroom), "headroom {headroom}");
        }
        let o = r.rx_with_headroom(0, &q, 4);
        assert_eq!(o.v, tx(1));
        assert_eq!(o.frame[12..16], [0x81, 0x00, 0x00, 100]);
    }
}

#[test]
fn icmp_error_without_headroom_is_an_icmp_headroom_drop() {
    let mut r = Rig::new(&spec(RpfMode::Off));
    // Time Exceeded needs 20 + 8 (IPv4) / 40 + 8 (IPv6) bytes in front
    let q4 = udp4(H_A, X_A, "10.1.0.2", "10.9.0.5", 1, b"expiring");
    assert_eq!(
        r.rx_with_headroom(0, &q4, 27).v,
        drop(DropReason::IcmpNoHeadroom)
    );
    assert_eq!(
        r.rx_with_headroom(0, &q4, 0).v,
        drop(DropReason::IcmpNoHeadroom)
    );
    let o = r.rx_with_headroom(0, &q4, 28);
    assert_eq!(o.v, tx(0));
    assert_eq!(o.frame[14 + 20], 11, "Time Exceeded");
    let q6 = udp6(H_A, X_A, "2001:db8:1::2", "2001:db8:9::5", 1, b"expiring");
    assert_eq!(
        r.rx_with_headroom(0, &q6, 47).v,
        drop(DropReason::IcmpNoHeadroom)
    );
    let o = r.rx_with_headroom(0, &q6, 48);
    assert_eq!(o.v, tx(0));
    assert_eq!(o.frame[14 + 40], icmpv6::TIME_EXCEEDED);
}

/// `spec` plus a 4in4 tunnel (interface `TUN_BASE`) from 10.2.0.1 to
/// `remote`, and 10.50.0.0/16 routed into it.
fn spec_with_tunnel(remote: &str) -> RouterSpec {
    let mut s = spec(RpfMode::Off);
    let mut t = TunnelSpec::new(
        "t44",
        TunnelKind::FourInFour,
        "10.2.0.1".parse().unwrap(),
        remote.parse().unwrap(),
    );
    t.ipv4 = vec![(v4("1.1.1.1"), 24)];
    s.tunnels.push(t);
    s.routes.push(RouteSpec {
        prefix: "10.50.0.0".parse().unwrap(),
        len: 16,
        target: RouteTarget::Connected { iface: TUN_BASE },
    });
    s
}

/// The drops a rig's router counted against tunnel slot 0 for `r`.
fn tunnel_drops(rig: &Rig, r: DropReason) -> u64 {
    rig.r.tunnel_counts()[0].c[crate::ipip::TC_DROPS + r.index()]
}

#[test]
fn tunnel_outer_header_without_headroom_is_a_tunnel_headroom_drop() {
    for fast in [true, false] {
        let mut r = Rig::with_fast_path(&spec_with_tunnel("10.2.0.2"), fast);
        let q = udp4(H_A, X_A, "10.1.0.2", "10.50.0.9", 64, b"into the tunnel");
        let o = r.rx_with_headroom(0, &q, 19);
        assert_eq!(o.v, drop(DropReason::TunnelNoHeadroom), "fast {fast}");
        assert_eq!(tunnel_drops(&r, DropReason::TunnelNoHeadroom), 1);
        let o = r.rx_with_headroom(0, &q, 20);
        assert_eq!(o.v, tx(1), "fast {fast}");
        assert_eq!(o.frame[14], 0x45);
        assert_eq!(o.frame[14 + 9], 4, "IP-in-IP");
    }
}

#[test]
fn tunnel_outer_header_that_cannot_be_written_is_not_a_vanished_tunnel() {
    // An IPv4 local end with an IPv6 remote: no outer header of either
    // family can be written (the config checks refuse this; the router
    // must still name the failure truthfully rather than `tunnel.gone`).
    for fast in [true, false] {
        let mut r = Rig::with_fast_path(&spec_with_tunnel("2001:db8:2::2"), fast);
        let q = udp4(H_A, X_A, "10.1.0.2", "10.50.0.9", 64, b"into the tunnel");
        let o = r.rx(0, &q);
        assert_eq!(
            o.v,
            drop(DropReason::TunnelHeaderWriteFailed),
            "fast {fast}"
        );
        assert_eq!(tunnel_drops(&r, DropReason::TunnelHeaderWriteFailed), 1);
        assert_eq!(tunnel_drops(&r, DropReason::TunnelGone), 0);
    }
}

/// Memos are valid per entry: a route published or a neighbour learned
/// elsewhere leaves the fast path's answers for other next hops in place
/// (the next frame still takes the fast path), while a change to the next
/// hop a memo answered for is seen at once.
#[test]
fn memos_survive_unrelated_changes_and_follow_related_ones() {
    let spec = spec(RpfMode::Off);
    let mut rib = super::table::Rib::new(&spec).unwrap();
    let r = super::build_worker(&spec, 0, super::neigh::NeighborBus::new(1), rib.handle()).unwrap();
    let mut rig = Rig {
        r,
        now: SEC,
        held: Vec::new(),
        emitted: Vec::new(),
        resumed: Vec::new(),
        discarded: Vec::new(),
    };
    rig.tick();
    let q = udp4(H_A, X_A, "10.1.0.2", "10.9.1.1", 64, b"data");
    let fast = |rig: &Rig| rig.r.fast_seen[0];
    // The first frame fills ip-rewrite's memo; the second is fast.
    assert_eq!(rig.rx(0, &q).v, Verdict::Tx(PortId(1)));
    let before = fast(&rig);
    assert_eq!(rig.rx(0, &q).v, Verdict::Tx(PortId(1)));
    assert_eq!(fast(&rig), before + 1, "memo filled");

    // An unrelated route published: a new table version.
    rib.insert(
        RouteSpec {
            prefix: "198.51.100.0".parse().unwrap(),
            len: 24,
            target: RouteTarget::Blackhole,
        },
        super::table::Origin::Runtime,
    )
    .unwrap();
    rib.publish();
    let out = rig.rx(0, &q);
    assert_eq!(out.v, Verdict::Tx(PortId(1)));
    assert_eq!(
        fast(&rig),
        before + 2,
        "still fast after an unrelated route"
    );
    assert_eq!(&out.frame[..6], &H_B);

    // An unrelated neighbour learned: the cache's generation moves.
    let key = super::neigh::Key {
        iface: 0,
        ip: "10.1.0.77".parse().unwrap(),
    };
    rig.r
        .neigh
        .learn(key, MacAddr(H_C), true, true, true, rig.now);
    assert_eq!(rig.rx(0, &q).v, Verdict::Tx(PortId(1)));
    assert_eq!(
        fast(&rig),
        before + 3,
        "still fast after an unrelated neighbour"
    );

    // The route itself now points at another gateway (not yet resolved):
    // the memo for the old next hop must not answer.
    rib.remove("10.9.0.0".parse().unwrap(), 16).unwrap();
    rib.insert(
        RouteSpec {
            prefix: "10.9.0.0".parse().unwrap(),
            len: 16,
            target: RouteTarget::Via {
                gateway: "10.2.0.9".parse().unwrap(),
                iface: 1,
            },
        },
        super::table::Origin::Runtime,
    )
    .unwrap();
    rib.publish();
    let out = rig.rx(0, &q);
    assert!(matches!(out.v, Verdict::Park(_)), "{:?}", out.v);
    assert_eq!(fast(&rig), before + 3);

    // A learned gateway: its memo follows a change of its MAC.
    let gw = super::neigh::Key {
        iface: 1,
        ip: "10.2.0.9".parse().unwrap(),
    };
    rig.r
        .neigh
        .learn(gw, MacAddr(H_C), true, true, true, rig.now);
    let out = rig.rx(0, &q);
    assert_eq!((out.v, &out.frame[..6]), (Verdict::Tx(PortId(1)), &H_C[..]));
    let out = rig.rx(0, &q);
    assert_eq!((out.v, &out.frame[..6]), (Verdict::Tx(PortId(1)), &H_C[..]));
    assert_eq!(fast(&rig), before + 4, "the learned gateway is memoised");
    let moved = [2, 0x0b, 0, 0, 0, 9];
    rig.r
        .neigh
        .learn(gw, MacAddr(moved), true, true, true, rig.now);
    let out = rig.rx(0, &q);
    assert_eq!(
        (out.v, &out.frame[..6]),
        (Verdict::Tx(PortId(1)), &moved[..])
    );
}

/// `xgw trace`: an armed trace records the next matching frames' path
/// through the graph (each node and where it sent the frame, the drop
/// reason last), skips the others, counts down and disarms; frames are
/// forwarded as they would be anyway.
#[test]
fn an_armed_trace_records_each_nodes_verdict() {
    use crate::trace::TraceSpec;
    let mut r = Rig::new(&spec(RpfMode::Off));
    let good = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 64, b"data");
    let dead = udp4(H_A, X_A, "10.1.0.2", "10.2.0.2", 1, b"ttl 1");
    let other = udp4(H_A, X_A, "10.1.0.3", "10.2.0.2", 64, b"other");
    let bus = r.r.core.bus.clone();
    assert!(!bus.trace.armed(), "off at start");
    bus.trace.arm(
        TraceSpec {
            src: Some("10.1.0.2".parse().unwrap()),
            ..TraceSpec::default()
        },
        2,
    );
    let outs = r.burst(0, &[other.clone(), good.clone(), dead.clone()]);
    assert_eq!(outs[0].v, tx(1), "untraced frames go their way");
    assert_eq!(outs[1].v, tx(1), "traced frames too");
    let (recs, armed) = bus.trace.take();
    assert!(!armed, "two frames traced: the trace is over");
    assert_eq!(recs.len(), 2);
    let names = crate::router::nodes();
    let path = |k: usize| -> Vec<&str> {
        recs[k]
            .hops
            .iter()
            .map(|h| names[usize::from(h.node) + 1].name)
            .collect()
    };
    assert_eq!(
        path(0),
        ["ethernet-input", "ip4-input", "ip4-lookup", "ip-rewrite"]
    );
    assert_eq!(recs[0].hops.last().unwrap().verdict, tx(1));
    // The TTL-1 packet: Time Exceeded made at ip4-lookup and routed back.
    assert_eq!(recs[1].hops[2].node, super::IP4_LOOKUP);
    assert!(
        recs[0].head.starts_with(&good[..14]),
        "the frame as received"
    );
    // Armed for drops only: a forwarded frame does not count.
    bus.trace.arm(
        TraceSpec {
            drops_only: true,
            ..TraceSpec::default()
        },
        1,
    );
    r.rx(0, &good);
    assert!(bus.trace.armed());
    let mut f = good.clone();
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x77]);
    assert_eq!(r.rx(0, &f).v, drop(DropReason::L2NotForUs));
    let (recs, armed) = bus.trace.take();
    assert!(!armed);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].hops.last().unwrap().verdict,
        drop(DropReason::L2NotForUs)
    );
}
