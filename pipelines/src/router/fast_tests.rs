//! The fast path against the graph: two routers built from one spec, one
//! with the fast path and one without, get the same bursts of frames of
//! every kind (forwarded, local, malformed, expiring, too big, tunnelled
//! both ways, for unresolved neighbours, ...) at the same times. Every
//! verdict, output byte, metadata field, emitted frame, park request,
//! tunnel counter and neighbour entry must be the same.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::spec::{
    DfMode, DscpMode, EcnMode, IfaceSpec, NeighborSpec, RouteSpec, RouteTarget, RouterSpec,
    RpfMode, TtlMode, TunnelKind, TunnelSpec, TUN_BASE,
};
use super::tests::{Out, Rig, Sink};
use crate::wire::ethernet::MacAddr;
use crate::{Ctx, DropReason, Packet, PortId, Verdict};

const X_A: [u8; 6] = [2, 0x0a, 0, 0, 0, 1];
const X_B: [u8; 6] = [2, 0x0b, 0, 0, 0, 1];
const H_A: [u8; 6] = [2, 0x0a, 0, 0, 0, 2];
const H_B: [u8; 6] = [2, 0x0b, 0, 0, 0, 2];
const H_C: [u8; 6] = [2, 0x0b, 0, 0, 0, 3];
const MS: u64 = 1_000_000;

fn spec(rpf: RpfMode) -> RouterSpec {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let route = |p: &str, len: u8, target: RouteTarget| RouteSpec {
        prefix: ip(p),
        len,
        target,
    };
    let nb = |iface: u16, a: &str, mac: [u8; 6]| NeighborSpec {
        iface,
        ip: ip(a),
        mac: MacAddr(mac),
    };
    let mut t44 = TunnelSpec::new(
        "t44",
        TunnelKind::FourInFour,
        ip("10.2.0.1"),
        ip("10.2.0.2"),
    );
    t44.ipv4 = vec![("1.1.1.1".parse().unwrap(), 24)];
    t44.rpf = rpf;
    let mut t66 = TunnelSpec::new(
        "t66",
        TunnelKind::SixInSix,
        ip("2001:db8:2::1"),
        ip("2001:db8:2::2"),
    );
    t66.ttl = TtlMode::Inherit;
    t66.dscp = DscpMode::Fixed(10);
    t66.ecn = EcnMode::Compatibility;
    // The remote end is not a static neighbour: its MAC is learned.
    let mut t64 = TunnelSpec::new("t64", TunnelKind::SixInFour, ip("10.2.0.1"), ip("10.2.0.3"));
    t64.df = DfMode::Set;
    t64.mtu = 1300;
    let mut t46 = TunnelSpec::new(
        "t46",
        TunnelKind::FourInSix,
        ip("2001:db8:2::1"),
        ip("2001:db8:2::2"),
    );
    t46.df = DfMode::Clear;
    t46.ttl = TtlMode::Inherit;
    RouterSpec {
        ifaces: vec![
            IfaceSpec {
                name: "a".into(),
                port: PortId(0),
                mac: MacAddr(X_A),
                ipv4: vec![("10.1.0.1".parse().unwrap(), 24)],
                ipv6: vec![("2001:db8:1::1".parse().unwrap(), 64)],
                link_local: "fe80::1".parse().unwrap(),
                rpf,
                ..IfaceSpec::default()
            },
            IfaceSpec {
                name: "b".into(),
                port: PortId(1),
                mac: MacAddr(X_B),
                ipv4: vec![("10.2.0.1".parse().unwrap(), 24)],
                ipv6: vec![("2001:db8:2::1".parse().unwrap(), 64)],
                link_local: "fe80::2:1".parse().unwrap(),
                mtu: 1400,
                ..IfaceSpec::default()
            },
            IfaceSpec {
                name: "b.7".into(),
                port: PortId(1),
                vlan: 7,
                mac: MacAddr(X_B),
                ipv4: vec![("10.7.0.1".parse().unwrap(), 24)],
                link_local: "fe80::7:1".parse().unwrap(),
                ..IfaceSpec::default()
            },
        ],
        routes: vec![
            route(
                "10.9.0.0",
                16,
                RouteTarget::Via {
                    gateway: ip("10.2.0.2"),
                    iface: 1,
                },
            ),
            route(
                "10.8.0.0",
                16,
                RouteTarget::Via {
                    gateway: ip("10.7.0.9"),
                    iface: 2,
                },
            ),
            route(
                "2001:db8:9::",
                48,
                RouteTarget::Via {
                    gateway: ip("2001:db8:2::2"),
                    iface: 1,
                },
            ),
            route("203.0.113.0", 24, RouteTarget::Blackhole),
            route("198.18.0.0", 15, RouteTarget::Unreachable),
            route("10.50.0.0", 16, RouteTarget::Connected { iface: TUN_BASE }),
            route(
                "2001:db8:50::",
                48,
                RouteTarget::Connected {
                    iface: TUN_BASE + 1,
                },
            ),
            route(
                "2001:db8:51::",
                48,
                RouteTarget::Connected {
                    iface: TUN_BASE + 2,
                },
            ),
            route(
                "10.51.0.0",
                16,
                RouteTarget::Connected {
                    iface: TUN_BASE + 3,
                },
            ),
        ],
        neighbors: vec![
            nb(0, "10.1.0.2", H_A),
            nb(0, "2001:db8:1::2", H_A),
            nb(1, "10.2.0.2", H_B),
            nb(1, "2001:db8:2::2", H_B),
            nb(2, "10.7.0.9", H_B),
        ],
        tunnels: vec![t44, t66, t64, t46],
        gtpu: None,
        nat64: None,
    }
}

// ------------------------------------------------------------ frames

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn csum(b: &[u8]) -> u16 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An IPv4 packet: `opts` option bytes (a multiple of 4), DF / MF.
#[allow(clippy::too_many_arguments)]
fn ip4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    tos: u8,
    df: bool,
    mf: bool,
    opts: usize,
    payload: &[u8],
) -> Vec<u8> {
    let hl = 20 + opts;
    let mut h = vec![0u8; hl];
    h[0] = 0x40 | (hl / 4) as u8;
    h[1] = tos;
    h[2..4].copy_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6] = if df { 0x40 } else { 0 } | if mf { 0x20 } else { 0 };
    h[8] = ttl;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    for b in h[20..].iter_mut() {
        *b = 1; // NOP options
    }
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ip6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hops: u8, tc: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 40];
    let w = (6u32 << 28) | (u32::from(tc) << 20) | 0x12345;
    h[0..4].copy_from_slice(&w.to_be_bytes());
    h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    h[6] = nh;
    h[7] = hops;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

fn eth(dst: [u8; 6], src: [u8; 6], et: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + l3.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&et.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

fn payload(r: &mut Rng, proto: u8) -> Vec<u8> {
    let n = *r.pick(&[8usize, 18, 26, 100, 1300, 1420, 1460]);
    let mut p: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
    match proto {
        // ICMP echo request / ICMPv6 echo request now and then.
        1 if r.chance(50) => p[0] = 8,
        58 if r.chance(50) => p[0] = 128,
        _ => {}
    }
    p
}

/// An IPv4 packet: `clean` ones are routable and well formed, the others
/// anything.
fn inner4(r: &mut Rng, clean: bool) -> Vec<u8> {
    let (src, dst, proto, ttl) = if clean {
        (
            *r.pick(&["10.1.0.2", "10.9.3.4", "10.2.0.2", "10.51.0.9"]),
            *r.pick(&[
                "10.1.0.2",
                "10.9.1.2",
                "10.9.200.7",
                "10.2.0.2",
                "10.50.0.1",
                "10.50.3.3",
                "10.51.0.1",
            ]),
            *r.pick(&[17u8, 6]),
            *r.pick(&[64u8, 2, 255]),
        )
    } else {
        (
            *r.pick(&["10.1.0.2", "10.9.3.4", "1.1.1.2", "10.2.0.2", "127.0.0.1"]),
            *r.pick(&[
                "10.1.0.2",
                "10.1.0.9",
                "10.9.1.2",
                "10.9.200.7",
                "1.1.1.1",
                "10.2.0.3",
                "10.50.0.1",
                "203.0.113.9",
                "198.18.0.1",
                "192.0.2.1",
                "10.8.0.1",
                "224.0.0.5",
                "10.1.0.255",
            ]),
            *r.pick(&[17u8, 6, 1, 4]),
            *r.pick(&[64u8, 2, 1, 0, 255]),
        )
    };
    let body = payload(r, proto);
    let mut p = ip4(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        proto,
        ttl,
        r.next() as u8,
        r.chance(50),
        !clean && r.chance(10),
        if !clean && r.chance(10) { 4 } else { 0 },
        &body,
    );
    if !clean && r.chance(10) {
        p[10] ^= 0x40; // bad header checksum
    }
    if !clean && r.chance(5) {
        p.truncate(p.len() / 2); // total length beyond the frame
    }
    p
}

fn inner6(r: &mut Rng, clean: bool) -> Vec<u8> {
    if clean {
        let src = *r.pick(&["2001:db8:1::2", "2001:db8:9::5", "2001:db8:2::2"]);
        let dst = *r.pick(&[
            "2001:db8:1::2",
            "2001:db8:9::1",
            "2001:db8:9:4::1",
            "2001:db8:2::2",
            "2001:db8:50::1",
            "2001:db8:51::7",
        ]);
        let nh = *r.pick(&[17u8, 6, 58]);
        let body = payload(r, 17);
        return ip6(
            src.parse().unwrap(),
            dst.parse().unwrap(),
            nh,
            *r.pick(&[64u8, 2]),
            r.next() as u8,
            &body,
        );
    }
    let src = *r.pick(&[
        "2001:db8:1::2",
        "2001:db8:9::5",
        "2001:db8:2::2",
        "fe80::99",
        "::",
        "ff02::1",
    ]);
    let dst = *r.pick(&[
        "2001:db8:1::2",
        "2001:db8:1::77",
        "2001:db8:9::1",
        "2001:db8:9:4::1",
        "2001:db8:2::1",
        "2001:db8:2::3",
        "2001:db8:50::1",
        "2001:db8:51::1",
        "2001:db8:77::1",
        "fe80::1",
        "ff02::1",
    ]);
    let nh = *r.pick(&[17u8, 6, 58, 0, 4, 41]);
    let hops = *r.pick(&[64u8, 2, 1, 0]);
    let body = payload(r, nh);
    let mut p = ip6(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        nh,
        hops,
        r.next() as u8,
        &body,
    );
    if r.chance(5) {
        p.truncate(p.len() / 2);
    }
    p
}

/// A frame of any kind, mostly for us to forward; `clean` ones are
/// routable and well formed (plain or tunnelled).
fn frame(r: &mut Rng, port: u16, clean: bool) -> Vec<u8> {
    let (ours, host) = if port == 0 { (X_A, H_A) } else { (X_B, H_B) };
    let dst_mac = if clean || r.chance(94) {
        ours
    } else {
        *r.pick(&[[0xff; 6], [0x33, 0x33, 0, 0, 0, 1], [2, 9, 9, 9, 9, 9]])
    };
    let kind = if clean { r.below(9) } else { r.below(10) };
    let f = match kind {
        0..=3 => eth(dst_mac, host, 0x0800, &inner4(r, clean)),
        4..=5 => eth(dst_mac, host, 0x86dd, &inner6(r, clean)),
        6..=8 => {
            // IP-in-IP from a remote end (or not).
            let (v6_outer, inner_v6) = (r.chance(40), r.chance(40));
            let inner = if inner_v6 {
                inner6(r, clean)
            } else {
                inner4(r, clean)
            };
            let proto = if inner_v6 { 41 } else { 4 };
            // Clean: no CE, which would make RFC 6040 change the inner ECN.
            let tos = if clean {
                r.next() as u8 & 0xfc
            } else {
                r.next() as u8
            };
            if v6_outer {
                let src = if clean {
                    "2001:db8:2::2"
                } else {
                    *r.pick(&["2001:db8:2::2", "2001:db8:2::2", "2001:db8:2::9"])
                };
                let dst = if clean {
                    "2001:db8:2::1"
                } else {
                    *r.pick(&["2001:db8:2::1", "2001:db8:2::1", "2001:db8:1::1"])
                };
                eth(
                    dst_mac,
                    H_B,
                    0x86dd,
                    &ip6(
                        src.parse().unwrap(),
                        dst.parse().unwrap(),
                        proto,
                        64,
                        tos,
                        &inner,
                    ),
                )
            } else {
                let src = if clean && !inner_v6 {
                    "10.2.0.2"
                } else if clean {
                    "10.2.0.3"
                } else {
                    *r.pick(&["10.2.0.2", "10.2.0.3", "10.2.0.2", "10.2.0.9"])
                };
                let dst = if clean {
                    "10.2.0.1"
                } else {
                    *r.pick(&["10.2.0.1", "10.2.0.1", "10.1.0.1"])
                };
                let outer = ip4(
                    src.parse().unwrap(),
                    dst.parse().unwrap(),
                    proto,
                    *r.pick(&[64u8, 1]),
                    tos,
                    r.chance(50),
                    !clean && r.chance(2),
                    0,
                    &inner,
                );
                eth(dst_mac, H_B, 0x0800, &outer)
            }
        }
        _ => {
            // A VLAN-tagged frame, an ARP reply from C (so it is learned),
            // or garbage.
            match r.below(3) {
                0 => {
                    let mut l3 = vec![0x81, 0x00, 0x00, 0x07, 0x08, 0x00];
                    l3.extend_from_slice(&inner4(r, clean));
                    let mut f = eth(dst_mac, host, 0x8100, &[]);
                    f.truncate(12);
                    f.extend_from_slice(&l3);
                    f
                }
                1 => {
                    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 2];
                    a.extend_from_slice(&H_C);
                    a.extend_from_slice(&[10, 2, 0, 3]);
                    a.extend_from_slice(&X_B);
                    a.extend_from_slice(&[10, 2, 0, 1]);
                    eth(X_B, H_C, 0x0806, &a)
                }
                _ => (0..r.below(40)).map(|_| r.next() as u8).collect(),
            }
        }
    };
    // Ethernet padding now and then.
    let mut f = f;
    if r.chance(10) && f.len() < 60 {
        f.extend_from_slice(&[0xee; 7]);
    }
    f
}

// ------------------------------------------------------------ the comparison

/// What a rig's router emitted, resumed and discarded since last asked.
type Since = (Vec<(PortId, Vec<u8>)>, Vec<Out>, Vec<(Vec<u8>, DropReason)>);

fn since(r: &mut Rig) -> Since {
    (
        std::mem::take(&mut r.emitted),
        std::mem::take(&mut r.resumed),
        std::mem::take(&mut r.discarded),
    )
}

fn compare(rpf: RpfMode, seed: u64) -> usize {
    let spec = spec(rpf);
    let (mut fast, mut steps) = (
        Rig::with_fast_path(&spec, true),
        Rig::with_fast_path(&spec, false),
    );
    let mut r = Rng(seed);
    let mut now = fast.now;
    let mut last_tick = 0;
    let mut forwarded = 0;
    for burst in 0..3000 {
        (fast.now, steps.now) = (now, now);
        if now - last_tick >= 10 * MS {
            last_tick = now;
            fast.tick();
            steps.tick();
            assert!(
                since(&mut fast) == since(&mut steps),
                "tick at burst {burst}"
            );
        }
        let port = r.below(2) as u16;
        // Bursts of clean traffic with a few others now and then, and
        // bursts of anything.
        let dirty = if burst % 3 == 0 {
            100
        } else {
            *r.pick(&[0u64, 0, 2, 10])
        };
        let frames: Vec<Vec<u8>> = (0..1 + r.below(64))
            .map(|_| {
                let clean = !r.chance(dirty);
                frame(&mut r, port, clean)
            })
            .collect();
        let (a, b) = (fast.burst(port, &frames), steps.burst(port, &frames));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "burst {burst} frame {i}: {:02x?}", frames.get(i));
        }
        assert_eq!(a.len(), b.len(), "burst {burst}");
        assert!(
            since(&mut fast) == since(&mut steps),
            "burst {burst}: emitted, resumed or discarded frames differ"
        );
        assert_eq!(
            fast.r.ip_ident, steps.r.ip_ident,
            "IPv4 identification after burst {burst}: {frames:02x?}"
        );
        forwarded += a.iter().filter(|o| matches!(o.v, Verdict::Tx(_))).count();
        now += r.below(60) * MS;
    }
    assert_eq!(fast.r.tunnel_counts().len(), steps.r.tunnel_counts().len());
    for (x, y) in fast.r.tunnel_counts().iter().zip(steps.r.tunnel_counts()) {
        assert_eq!((x.serial, x.c), (y.serial, y.c));
    }
    let entries = |s: &Rig| -> Vec<String> {
        s.r.neighbours()
            .map(|e| format!("{:?} {:?} {:?}", e.key, e.mac, e.state))
            .collect()
    };
    assert_eq!(entries(&fast), entries(&steps));
    assert_eq!(steps.r.fast_seen, [0; 4]);
    let [fwd, enc, dec, _] = fast.r.fast_seen;
    eprintln!("seed {seed:#x}: {forwarded} forwarded, fast path: {fwd} forwarded, {enc} encapsulated, {dec} decapsulated");
    assert!(
        fwd > forwarded as u64 / 4 && enc > 100 && dec > 100,
        "the fast path was hardly taken"
    );
    forwarded
}

#[test]
fn fast_path_matches_the_steps() {
    for seed in [1, 0x5eed, 0xdead_beef] {
        let forwarded = compare(RpfMode::Off, seed);
        assert!(
            forwarded > 10_000,
            "only {forwarded} frames forwarded: the mix is off"
        );
    }
}

#[test]
fn fast_path_matches_the_steps_with_rpf() {
    compare(RpfMode::Strict, 7);
    compare(RpfMode::Loose, 8);
}

/// Once ip-rewrite has memoised a next hop, the fast path alone forwards
/// the next frame to it, with the same bytes.
#[test]
fn memoised_frames_take_the_fast_path() {
    let spec = spec(RpfMode::Off);
    let mut s = Rig::with_fast_path(&spec, true);
    let f = eth(
        X_A,
        H_A,
        0x0800,
        &ip4(
            "10.1.0.2".parse().unwrap(),
            "10.9.0.1".parse().unwrap(),
            17,
            64,
            0,
            false,
            false,
            0,
            &[0; 18],
        ),
    );
    // The first frame fills the memo through the graph (ip-rewrite).
    let first = s.burst(0, std::slice::from_ref(&f));
    assert_eq!(first[0].v, Verdict::Tx(PortId(1)));
    // The fast path alone gives the same answer now.
    let mut buf = vec![0u8; 2048];
    buf[256..256 + f.len()].copy_from_slice(&f);
    let mut p = Packet::new(&mut buf, 256, f.len() as u32, PortId(0)).unwrap();
    let mut sink = Sink::default();
    let v = s.r.fast(&mut Ctx::new(s.now, &mut sink), &mut p);
    assert_eq!(v, Some(Verdict::Tx(PortId(1))));
    assert_eq!(p.data(), &first[0].frame[..]);
    assert_eq!(&p.data()[..12], &[H_B, X_B].concat()[..]);
}
