//! gtpu-input and gtpu-encap driven through the router with hand-built
//! frames: decapsulation by the inner version nibble, the UE source check,
//! the answers (Echo Response, Error Indication, Supported Extension
//! Headers Notification), downlink with and without a PDU Session
//! Container, gate and MBR, and session changes while traffic flows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::PacketBuilder;

use super::session::{GtpuSpec, SessionSpec, Sessions, DL_PKTS, DROPS, UL_BYTES, UL_PKTS};
use crate::router::neigh::NeighborBus;
use crate::router::spec::{IfaceSpec, NeighborSpec, RouteSpec, RouteTarget, RouterSpec, GTP_IFACE};
use crate::router::table::Rib;
use crate::router::tests::Rig;
use crate::wire::ethernet::MacAddr;
use crate::wire::gtpu as wire;
use crate::{DropReason, PortId, Verdict};

/// xgw: "ran" (port 0: N3, 192.0.2.1 and 2001:db8:3::1, the endpoints)
/// and "dn" (port 1: N6, 10.2.0.1, 2001:db8:2::1).
const X_RAN: [u8; 6] = [2, 0x0a, 0, 0, 0, 1];
const X_DN: [u8; 6] = [2, 0x0b, 0, 0, 0, 1];
/// The base station (192.0.2.2, 2001:db8:3::2) and a host on the data
/// network (10.2.0.2, 2001:db8:2::2: the gateway to everything else).
const GNB: [u8; 6] = [2, 0x0a, 0, 0, 0, 2];
const DN: [u8; 6] = [2, 0x0b, 0, 0, 0, 2];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn session(id: u64, teid: u32, ue4: &str, ue6: &str) -> SessionSpec {
    SessionSpec {
        id,
        local: ip("192.0.2.1"),
        teid,
        ue4: (!ue4.is_empty()).then(|| ue4.parse().unwrap()),
        ue6: (!ue6.is_empty()).then(|| {
            let (a, l) = ue6.split_once('/').unwrap();
            (a.parse().unwrap(), l.parse().unwrap())
        }),
        peer: ip("192.0.2.2"),
        peer_teid: teid + 0x1000,
        qfi: Some(9),
        ..SessionSpec::default()
    }
}

fn spec(sessions: Vec<SessionSpec>) -> RouterSpec {
    let nb = |iface: u16, a: &str, mac: [u8; 6]| NeighborSpec {
        iface,
        ip: ip(a),
        mac: MacAddr(mac),
    };
    let route = |p: &str, len: u8, target: RouteTarget| RouteSpec {
        prefix: ip(p),
        len,
        target,
    };
    RouterSpec {
        ifaces: vec![
            IfaceSpec {
                name: "ran".into(),
                port: PortId(0),
                mac: MacAddr(X_RAN),
                ipv4: vec![("192.0.2.1".parse().unwrap(), 24)],
                ipv6: vec![("2001:db8:3::1".parse().unwrap(), 64)],
                link_local: "fe80::1".parse().unwrap(),
                ..IfaceSpec::default()
            },
            IfaceSpec {
                name: "dn".into(),
                port: PortId(1),
                mac: MacAddr(X_DN),
                ipv4: vec![("10.2.0.1".parse().unwrap(), 24)],
                ipv6: vec![("2001:db8:2::1".parse().unwrap(), 64)],
                link_local: "fe80::2".parse().unwrap(),
                ..IfaceSpec::default()
            },
        ],
        routes: vec![
            route("10.45.0.0", 16, RouteTarget::Connected { iface: GTP_IFACE }),
            route(
                "2001:db8:45::",
                48,
                RouteTarget::Connected { iface: GTP_IFACE },
            ),
            route(
                "0.0.0.0",
                0,
                RouteTarget::Via {
                    gateway: ip("10.2.0.2"),
                    iface: 1,
                },
            ),
            route(
                "::",
                0,
                RouteTarget::Via {
                    gateway: ip("2001:db8:2::2"),
                    iface: 1,
                },
            ),
        ],
        neighbors: vec![
            nb(0, "192.0.2.2", GNB),
            nb(0, "2001:db8:3::2", GNB),
            nb(1, "10.2.0.2", DN),
            nb(1, "2001:db8:2::2", DN),
        ],
        tunnels: Vec::new(),
        gtpu: Some(GtpuSpec {
            endpoints: vec![ip("192.0.2.1"), ip("2001:db8:3::1")],
            sessions,
            max_sessions: 64,
            ..GtpuSpec::default()
        }),
        nat64: None,
    }
}

/// The usual two sessions: 1 (TEID 0x100, UE 10.45.0.2 and
/// 2001:db8:45:1::/64) and 2 (TEID 0x200, UE 10.45.0.3 only, no QFI).
fn two_sessions() -> Vec<SessionSpec> {
    let mut s2 = session(2, 0x200, "10.45.0.3", "");
    s2.qfi = None;
    vec![session(1, 0x100, "10.45.0.2", "2001:db8:45:1::/64"), s2]
}

/// A rig and the control thread's store feeding it.
fn rig(sessions: Vec<SessionSpec>) -> (Rig, Sessions) {
    rig_of(spec(sessions))
}

fn rig_of(spec: RouterSpec) -> (Rig, Sessions) {
    let store = Sessions::new(spec.gtpu.as_ref().unwrap(), 1).unwrap();
    let rib = Rib::new(&spec).unwrap();
    let r = crate::router::build_worker_with(
        &spec,
        0,
        NeighborBus::new(1),
        rib.handle(),
        Some(store.bus().clone()),
    )
    .unwrap();
    // (The route table lives as long as the handle the worker holds.)
    std::mem::forget(rib);
    (Rig::with_router(r), store)
}

fn inner4(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    PacketBuilder::ipv4(
        src.parse::<Ipv4Addr>().unwrap().octets(),
        dst.parse::<Ipv4Addr>().unwrap().octets(),
        64,
    )
    .udp(4000, 5000)
    .write(&mut b, payload)
    .unwrap();
    b
}

fn inner6(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    PacketBuilder::ipv6(
        src.parse::<Ipv6Addr>().unwrap().octets(),
        dst.parse::<Ipv6Addr>().unwrap().octets(),
        64,
    )
    .udp(4000, 5000)
    .write(&mut b, payload)
    .unwrap();
    b
}

/// A G-PDU (or other message `gtp`) from the base station to `dst`.
fn from_gnb(dst: &str, sport: u16, gtp: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    match (ip("192.0.2.2"), ip(dst)) {
        (_, IpAddr::V4(d)) => PacketBuilder::ethernet2(GNB, X_RAN)
            .ipv4([192, 0, 2, 2], d.octets(), 64)
            .udp(sport, wire::PORT)
            .write(&mut b, gtp)
            .unwrap(),
        (_, IpAddr::V6(d)) => PacketBuilder::ethernet2(GNB, X_RAN)
            .ipv6(
                "2001:db8:3::2".parse::<Ipv6Addr>().unwrap().octets(),
                d.octets(),
                64,
            )
            .udp(sport, wire::PORT)
            .write(&mut b, gtp)
            .unwrap(),
    }
    b
}

fn gpdu(teid: u32, inner: &[u8]) -> Vec<u8> {
    let mut g = vec![0u8; 8];
    wire::write_gpdu_header(&mut g, teid, None, inner.len()).unwrap();
    g.extend_from_slice(inner);
    g
}

fn tx(port: u16) -> Verdict {
    Verdict::Tx(PortId(port))
}

fn drop(r: DropReason) -> Verdict {
    Verdict::Drop(r)
}

#[test]
fn uplink_ipv6_over_ipv4_leaves_as_ipv6() {
    let (mut rig, mut store) = rig(two_sessions());
    let inner = inner6("2001:db8:45:1::5", "2001:db8:9::1", b"hello v6");
    let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &gpdu(0x100, &inner)));
    assert_eq!(o.v, tx(1), "{o:?}");
    // Ethernet to the data network's router, EtherType IPv6, the inner
    // packet with its hop limit decremented.
    assert_eq!(&o.frame[..6], &DN);
    assert_eq!(&o.frame[6..12], &X_DN);
    assert_eq!(&o.frame[12..14], &[0x86, 0xdd]);
    let mut want = inner.clone();
    want[7] -= 1;
    assert_eq!(&o.frame[14..], &want[..]);
    let s = store.get(1).unwrap().slot;
    let c = store.counters(s);
    assert_eq!((c[UL_PKTS], c[UL_BYTES]), (1, inner.len() as u64));
}

#[test]
fn uplink_ipv4_over_ipv6_leaves_as_ipv4() {
    let mut s = session(1, 0x100, "10.45.0.2", "");
    s.local = ip("2001:db8:3::1");
    s.peer = ip("2001:db8:3::2");
    let (mut rig, _store) = rig(vec![s]);
    let inner = inner4("10.45.0.2", "198.51.100.7", b"hello v4");
    let o = rig.rx(0, &from_gnb("2001:db8:3::1", 40000, &gpdu(0x100, &inner)));
    assert_eq!(o.v, tx(1), "{o:?}");
    assert_eq!(&o.frame[12..14], &[0x08, 0x00]);
    assert_eq!(o.frame[14 + 8], 63, "TTL decremented");
    assert_eq!(&o.frame[14 + 12..14 + 20], &inner[12..20]);
}

#[test]
fn extension_headers_are_walked_and_unknown_required_ones_answered() {
    let (mut rig, _store) = rig(two_sessions());
    let inner = inner4("10.45.0.2", "198.51.100.7", b"x");
    // S and PN set, a UL PDU Session Container, then an unknown
    // comprehension-not-required header of two units.
    let mut g = vec![
        0x30 | 0x04 | 0x02 | 0x01,
        255,
        0,
        0,
        0,
        0,
        1,
        0,
        0,
        7,
        9,
        0x85,
    ];
    g.extend_from_slice(&[1, 0x10, 5, 0x21]);
    g.extend_from_slice(&[2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0]);
    g.extend_from_slice(&inner);
    let len = (g.len() - 8) as u16;
    g[2..4].copy_from_slice(&len.to_be_bytes());
    let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &g));
    assert_eq!(o.v, tx(1), "{o:?}");
    // The same with a comprehension-required unknown type (0xc1).
    let mut g2 = g.clone();
    g2[15] = 0xc1;
    let o = rig.rx(0, &from_gnb("192.0.2.1", 33333, &g2));
    assert_eq!(o.v, drop(DropReason::GtpuExtUnsupported));
    let (port, f) = rig.emitted.pop().expect("a notification");
    assert_eq!(port, PortId(0));
    assert_eq!(&f[..6], &GNB, "back to the hop it came from");
    // UDP from 2152 to the G-PDU's source port, message type 31 listing
    // what xgw supports.
    assert_eq!(&f[34..38], &[0x08, 0x68, 0x82, 0x35]);
    let h = wire::parse(&f[42..]).unwrap();
    assert_eq!(h.msg_type, wire::msg::SUPPORTED_EXT_HEADERS_NOTIFICATION);
    assert_eq!(&f[42 + h.payload..], &[141, 2, 0x40, 0x85]);
}

#[test]
fn spoofed_inner_sources_are_dropped() {
    let (mut rig, mut store) = rig(two_sessions());
    for inner in [
        inner4("10.45.0.3", "198.51.100.7", b"x"),
        inner6("2001:db8:45:2::5", "2001:db8:9::1", b"x"),
    ] {
        let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &gpdu(0x100, &inner)));
        assert_eq!(o.v, drop(DropReason::GtpuInnerSpoofed));
    }
    // Session 2 has no IPv6 at all.
    let inner = inner6("2001:db8:45:1::5", "2001:db8:9::1", b"x");
    let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &gpdu(0x200, &inner)));
    assert_eq!(o.v, drop(DropReason::GtpuInnerSpoofed));
    let s = store.get(1).unwrap().slot;
    assert_eq!(store.counters(s)[DROPS], 2);
}

#[test]
fn unknown_teids_get_an_error_indication_and_a_drop() {
    let (mut rig, store) = rig(two_sessions());
    let inner = inner4("10.45.0.2", "198.51.100.7", b"x");
    let o = rig.rx(0, &from_gnb("192.0.2.1", 45000, &gpdu(0xdead, &inner)));
    assert_eq!(o.v, drop(DropReason::GtpuUnknownTeid));
    let (port, f) = rig.emitted.pop().expect("an error indication");
    assert_eq!(port, PortId(0));
    // IPv4 192.0.2.1 -> 192.0.2.2, UDP 2152 -> 2152.
    assert_eq!(&f[26..34], &[192, 0, 2, 1, 192, 0, 2, 2]);
    assert_eq!(&f[34..38], &[0x08, 0x68, 0x08, 0x68]);
    let h = wire::parse(&f[42..]).unwrap();
    assert_eq!(h.msg_type, wire::msg::ERROR_INDICATION);
    assert_eq!(
        wire::parse_error_indication(&f[42 + h.payload..42 + h.end]),
        Some((0xdead, ip("192.0.2.1")))
    );
    assert_eq!(
        store.bus().stats()[super::session::stat::ERROR_INDICATION_OUT],
        1
    );
    // Rate-limited: a flood gets few answers, every G-PDU is dropped.
    let flood: Vec<Vec<u8>> = (0..200)
        .map(|_| from_gnb("192.0.2.1", 45000, &gpdu(0xdead, &inner)))
        .collect();
    for o in rig.burst(0, &flood) {
        assert_eq!(o.v, drop(DropReason::GtpuUnknownTeid));
    }
    assert!(rig.emitted.len() < 100, "{} answers", rig.emitted.len());
}

#[test]
fn echo_requests_are_answered_and_signalling_is_consumed() {
    let (mut rig, store) = rig(two_sessions());
    let mut req = vec![0u8; 12];
    wire::write_echo_request(&mut req, 0x4242).unwrap();
    for (dst, sport) in [("192.0.2.1", 2152), ("2001:db8:3::1", 50000)] {
        let o = rig.rx(0, &from_gnb(dst, sport, &req));
        assert_eq!(o.v, tx(0), "{o:?}");
        let f = &o.frame;
        assert_eq!(&f[..6], &GNB);
        let (u, src_at) = if dst.contains(':') {
            (54, 22)
        } else {
            (34, 26)
        };
        let theirs = if dst.contains(':') {
            "2001:db8:3::2"
        } else {
            "192.0.2.2"
        };
        let src: IpAddr = if dst.contains(':') {
            IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(&f[src_at..src_at + 16]).unwrap(),
            ))
        } else {
            IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(&f[src_at..src_at + 4]).unwrap(),
            ))
        };
        assert_eq!(src, ip(dst), "from the endpoint asked");
        let _ = theirs;
        assert_eq!(u16::from_be_bytes([f[u], f[u + 1]]), 2152);
        assert_eq!(u16::from_be_bytes([f[u + 2], f[u + 3]]), sport);
        let h = wire::parse(&f[u + 8..]).unwrap();
        assert_eq!(
            (h.msg_type, h.seq),
            (wire::msg::ECHO_RESPONSE, Some(0x4242))
        );
        assert_eq!(
            &f[u + 8 + h.payload..],
            &[14, 0],
            "Recovery, restart counter 0"
        );
    }
    let mut em = vec![0u8; 8];
    wire::write_end_marker(&mut em, 0x100).unwrap();
    assert_eq!(
        rig.rx(0, &from_gnb("192.0.2.1", 2152, &em)).v,
        Verdict::Local
    );
    let st = store.bus().stats();
    use super::session::stat;
    assert_eq!(st[stat::ECHO_REQUEST_IN], 2);
    assert_eq!(st[stat::ECHO_RESPONSE_OUT], 2);
    assert_eq!(st[stat::END_MARKER_IN], 1);
}

#[test]
fn a_received_error_indication_marks_the_session() {
    let (mut rig, mut store) = rig(two_sessions());
    let mut ei = vec![0u8; 64];
    let n = wire::write_error_indication(&mut ei, 1, 0x1100, ip("192.0.2.2")).unwrap();
    ei.truncate(n);
    assert_eq!(
        rig.rx(0, &from_gnb("192.0.2.1", 2152, &ei)).v,
        Verdict::Local
    );
    assert!(store.get(1).unwrap().error_indication);
    assert!(!store.get(2).unwrap().error_indication);
}

#[test]
fn port_2152_of_other_addresses_is_closed() {
    let (mut rig, _store) = rig(two_sessions());
    let inner = inner4("10.45.0.2", "198.51.100.7", b"x");
    let mut f = from_gnb("10.2.0.1", 2152, &gpdu(0x100, &inner));
    // (To xgw's data-network address, reached over "ran".)
    let o = rig.rx(0, &f);
    assert_eq!(o.v, tx(0), "an ICMP error back: {o:?}");
    assert_eq!(o.frame[14 + 9], 1, "ICMP");
    assert_eq!((o.frame[34], o.frame[35]), (3, 3), "port unreachable");
    f.truncate(40);
    let _ = f;
}

#[test]
fn malformed_gtpu_is_a_named_drop() {
    let (mut rig, _store) = rig(two_sessions());
    let inner = inner4("10.45.0.2", "198.51.100.7", b"x");
    let good = gpdu(0x100, &inner);
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (good[..6].to_vec(), DropReason::GtpuMalformed),
        (
            {
                let mut g = good.clone();
                g[0] = 0x50;
                g
            },
            DropReason::GtpuMalformed,
        ),
        (
            {
                let mut g = good.clone();
                g[3] = g[3].wrapping_add(40);
                g
            },
            DropReason::GtpuMalformed,
        ),
        (
            {
                let mut g = good.clone();
                g[1] = 99;
                g
            },
            DropReason::GtpuUnknownMessage,
        ),
        (gpdu(0x100, &inner[..12]), DropReason::GtpuInnerMalformed),
        (gpdu(0x100, &[0x55; 40]), DropReason::GtpuInnerMalformed),
    ];
    for (g, why) in cases {
        let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &g));
        assert_eq!(o.v, drop(why), "{g:02x?}");
    }
}

/// The downlink frame's outer header fields: (outer src, dst, UDP src
/// port, TEID, QFI, inner).
fn outer(f: &[u8]) -> (IpAddr, IpAddr, u16, u32, Option<u8>, Vec<u8>) {
    assert_eq!(&f[12..14], &[0x08, 0x00], "IPv4 outer");
    let src = IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&f[26..30]).unwrap()));
    let dst = IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&f[30..34]).unwrap()));
    assert_eq!(u16::from_be_bytes([f[36], f[37]]), 2152);
    assert_eq!(&f[40..42], &[0, 0], "IPv4 outer UDP checksum zero");
    let h = wire::parse(&f[42..]).unwrap();
    (
        src,
        dst,
        u16::from_be_bytes([f[34], f[35]]),
        h.teid,
        h.psc.map(|p| p.qfi),
        f[42 + h.payload..42 + h.end].to_vec(),
    )
}

#[test]
fn downlink_is_encapsulated_with_the_sessions_template() {
    let (mut rig, mut store) = rig(two_sessions());
    let from_dn = |inner: &[u8], v6: bool| {
        let mut f = Vec::new();
        f.extend_from_slice(&X_DN);
        f.extend_from_slice(&DN);
        f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
        f.extend_from_slice(inner);
        f
    };
    let i4 = inner4("198.51.100.7", "10.45.0.2", b"down v4");
    let o = rig.rx(1, &from_dn(&i4, false));
    assert_eq!(o.v, tx(0), "{o:?}");
    assert_eq!(&o.frame[..6], &GNB);
    let (s, d, sport, teid, qfi, inner) = outer(&o.frame);
    assert_eq!(
        (s, d, teid, qfi),
        (ip("192.0.2.1"), ip("192.0.2.2"), 0x1100, Some(9))
    );
    assert!(sport >= 0xc000);
    let mut want = i4.clone();
    want[8] -= 1;
    want[10..12].copy_from_slice(&[0, 0]);
    let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&want[..20]));
    want[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(inner, want);
    // IPv6 inside the /64; session 2 without a QFI.
    let i6 = inner6("2001:db8:9::1", "2001:db8:45:1::77", b"down v6");
    let o = rig.rx(1, &from_dn(&i6, true));
    assert_eq!(o.v, tx(0), "{o:?}");
    let (_, _, _, teid, qfi, inner) = outer(&o.frame);
    assert_eq!((teid, qfi, inner[0] >> 4), (0x1100, Some(9), 6));
    let i4 = inner4("198.51.100.7", "10.45.0.3", b"x");
    let (_, _, _, teid, qfi, _) = outer(&rig.rx(1, &from_dn(&i4, false)).frame);
    assert_eq!((teid, qfi), (0x1200, None));
    // Nobody's address in the pool.
    let i4 = inner4("198.51.100.7", "10.45.0.99", b"x");
    assert_eq!(
        rig.rx(1, &from_dn(&i4, false)).v,
        drop(DropReason::GtpuNoSession)
    );
    let slot = store.get(1).unwrap().slot;
    assert_eq!(store.counters(slot)[DL_PKTS], 2);
}

#[test]
fn sessions_change_while_traffic_flows() {
    let (mut rig, mut store) = rig(two_sessions());
    let up = |teid: u32, src: &str| {
        from_gnb(
            "192.0.2.1",
            2152,
            &gpdu(teid, &inner4(src, "198.51.100.7", b"x")),
        )
    };
    // A third session: unknown until the worker applied it.
    store.add(session(3, 0x300, "10.45.0.4", "")).unwrap();
    let outs = rig.burst(0, &[up(0x100, "10.45.0.2"), up(0x300, "10.45.0.4")]);
    assert_eq!(outs[0].v, tx(1));
    assert_eq!(outs[1].v, tx(1), "applied before the burst");
    // Re-pointed to a new TEID: the old one is gone at once.
    let mut s3 = session(3, 0x301, "10.45.0.4", "");
    s3.gate_dl = false;
    store.modify(s3, false).unwrap();
    let outs = rig.burst(
        0,
        &[
            up(0x300, "10.45.0.4"),
            up(0x301, "10.45.0.4"),
            up(0x200, "10.45.0.3"),
        ],
    );
    assert_eq!(outs[0].v, drop(DropReason::GtpuUnknownTeid));
    assert_eq!(outs[1].v, tx(1));
    assert_eq!(outs[2].v, tx(1), "other sessions untouched");
    let (gone, counters) = store.delete(3, false).unwrap();
    assert_eq!(gone.spec.teid, 0x301);
    assert_eq!(counters[UL_PKTS], 2, "counted across the modification");
    let outs = rig.burst(0, &[up(0x301, "10.45.0.4"), up(0x100, "10.45.0.2")]);
    assert_eq!(outs[0].v, drop(DropReason::GtpuUnknownTeid));
    assert_eq!(outs[1].v, tx(1));
    // The slot is reused with fresh counters.
    store.add(session(4, 0x400, "10.45.0.5", "")).unwrap();
    let outs = rig.burst(0, &[up(0x400, "10.45.0.5")]);
    assert_eq!(outs[0].v, tx(1));
    let slot = store.get(4).unwrap().slot;
    assert_eq!(slot, gone.slot);
    assert_eq!(store.counters(slot)[UL_PKTS], 1);
}

#[test]
fn gates_and_maximum_bit_rates() {
    let mut s = session(1, 0x100, "10.45.0.2", "");
    // 1 Mbit/s: 125 kB/s, a burst of 12.5 kB (18 kB at least).
    s.mbr_ul = 1_000_000;
    let mut closed = session(2, 0x200, "10.45.0.3", "");
    closed.gate_ul = false;
    let (mut rig, _store) = rig(vec![s, closed]);
    let f = from_gnb(
        "192.0.2.1",
        2152,
        &gpdu(0x100, &inner4("10.45.0.2", "198.51.100.7", &[0u8; 972])),
    );
    // 1000-byte inner packets: 18 pass the full bucket at once.
    let outs = rig.burst(0, &vec![f.clone(); 40]);
    let passed = outs.iter().filter(|o| o.v == tx(1)).count();
    assert_eq!(passed, 18);
    assert!(outs
        .iter()
        .all(|o| o.v == tx(1) || o.v == drop(DropReason::GtpuMbrExceeded)));
    // A second later 125 more kB of tokens (capped at the burst).
    rig.now += 1_000_000_000;
    let outs = rig.burst(0, &vec![f; 40]);
    assert_eq!(outs.iter().filter(|o| o.v == tx(1)).count(), 18);
    let g = from_gnb(
        "192.0.2.1",
        2152,
        &gpdu(0x200, &inner4("10.45.0.3", "198.51.100.7", b"x")),
    );
    assert_eq!(rig.rx(0, &g).v, drop(DropReason::GtpuGateClosed));
}

#[test]
fn teid_zero_and_bad_checksums_get_no_answer() {
    let (mut rig, _store) = rig(two_sessions());
    let inner = inner4("10.45.0.2", "198.51.100.7", b"x");
    // TS 29.281 §7.3.1: no Error Indication for a G-PDU to TEID 0.
    let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &gpdu(0, &inner)));
    assert_eq!(o.v, drop(DropReason::GtpuUnknownTeid));
    assert!(rig.emitted.is_empty(), "{:?}", rig.emitted);
    // A wrong UDP checksum (IPv4 and IPv6): discarded before GTP-U.
    for dst in ["192.0.2.1", "2001:db8:3::1"] {
        let mut f = from_gnb(dst, 2152, &gpdu(0x100, &inner));
        let u = if dst.contains(':') { 54 } else { 34 };
        f[u + 6] ^= 0x55;
        assert_eq!(rig.rx(0, &f).v, drop(DropReason::UdpBadChecksum), "{dst}");
        // IPv4 without a checksum (0) is accepted.
        if !dst.contains(':') {
            f[u + 6..u + 8].fill(0);
            assert_eq!(rig.rx(0, &f).v, tx(1));
        }
    }
}

#[test]
fn big_df_clear_ipv4_is_fragmented_inside_the_tunnel() {
    let mut s = session(1, 0x100, "10.45.0.2", "");
    s.qfi = None;
    let mut six = session(2, 0x200, "10.45.0.3", "");
    six.local = ip("2001:db8:3::1");
    six.peer = ip("2001:db8:3::2");
    let (mut rig, _store) = rig(vec![s, six]);
    for (ue, v6) in [("10.45.0.2", false), ("10.45.0.3", true)] {
        // 1500 bytes, DF clear: over gtp0's MTU of 1436.
        let mut b = inner4("198.51.100.7", ue, &[7u8; 1472]);
        b[6] = 0;
        b[10..12].fill(0);
        let c = crate::wire::checksum::finish(crate::wire::checksum::sum(&b[..20]));
        b[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&X_DN);
        f.extend_from_slice(&DN);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&b);
        let o = rig.rx(1, &f);
        assert_eq!(o.v, tx(0), "{o:?}");
        let rest: Vec<Vec<u8>> = rig.emitted.drain(..).map(|(_, f)| f).collect();
        assert_eq!(rest.len(), 1, "one more fragment");
        let mut payload = Vec::new();
        for (k, fr) in std::iter::once(&o.frame).chain(&rest).enumerate() {
            let (oh, et) = if v6 {
                (40, [0x86, 0xdd])
            } else {
                (20, [0x08, 0x00])
            };
            assert_eq!(&fr[12..14], &et);
            let u = 14 + oh;
            let ulen = u16::from_be_bytes([fr[u + 4], fr[u + 5]]) as usize;
            assert_eq!(u + ulen, fr.len(), "UDP length of fragment {k}");
            let h = wire::parse(&fr[u + 8..]).unwrap();
            assert_eq!(h.end, ulen - 8, "GTP-U length of fragment {k}");
            assert!(
                fr.len() - 14 <= 1436 + oh + 8 + 16,
                "fits the path: {k} {}",
                fr.len()
            );
            let t = &fr[u + 8 + h.payload..];
            let ip4 = crate::wire::ipv4::Packet::new_checked(t).unwrap();
            assert!(ip4.verify_checksum());
            assert_eq!(ip4.more_frags(), k == 0);
            assert_eq!(ip4.total_len() as usize, t.len());
            payload.extend_from_slice(ip4.payload());
            if v6 {
                // The outer UDP checksum covers each fragment.
                let (s, d) = (
                    <[u8; 16]>::try_from(&fr[22..38]).unwrap(),
                    <[u8; 16]>::try_from(&fr[38..54]).unwrap(),
                );
                let sum = crate::wire::checksum::pseudo_v6(&s, &d, 17, ulen as u32)
                    + crate::wire::checksum::sum(&fr[u..]);
                assert_eq!(crate::wire::checksum::fold(sum), 0xffff, "fragment {k}");
            } else {
                assert_eq!(&fr[u + 6..u + 8], &[0, 0]);
                assert_eq!(
                    crate::wire::checksum::finish(crate::wire::checksum::sum(&fr[14..34])),
                    0
                );
            }
        }
        assert_eq!(payload, b[20..].to_vec(), "the datagram, whole");
    }
}

/// The fused path's GTP-U hooks give what the graph gives: the same
/// verdicts, bytes, emitted answers and counters for a mixed burst, with
/// the hooks really taken.
#[test]
fn fused_path_matches_the_graph() {
    let mut six = session(3, 0x300, "10.45.0.4", "2001:db8:45:3::/64");
    six.local = ip("2001:db8:3::1");
    six.peer = ip("2001:db8:3::2");
    let mut sessions = two_sessions();
    sessions.push(six);
    let from_dn = |inner: &[u8]| {
        let mut f = Vec::new();
        f.extend_from_slice(&X_DN);
        f.extend_from_slice(&DN);
        f.extend_from_slice(if inner[0] >> 4 == 6 {
            &[0x86, 0xdd]
        } else {
            &[0x08, 0x00]
        });
        f.extend_from_slice(inner);
        f
    };
    let mut req = vec![0u8; 12];
    wire::write_echo_request(&mut req, 7).unwrap();
    let up: Vec<Vec<u8>> = vec![
        from_gnb(
            "192.0.2.1",
            2152,
            &gpdu(0x100, &inner4("10.45.0.2", "198.51.100.7", b"a")),
        ),
        from_gnb(
            "192.0.2.1",
            3000,
            &gpdu(0x100, &inner6("2001:db8:45:1::9", "2001:db8:9::1", b"b")),
        ),
        from_gnb(
            "2001:db8:3::1",
            2152,
            &gpdu(0x300, &inner4("10.45.0.4", "10.2.0.2", b"c")),
        ),
        from_gnb(
            "192.0.2.1",
            2152,
            &gpdu(0xbad, &inner4("10.45.0.2", "198.51.100.7", b"d")),
        ),
        from_gnb(
            "192.0.2.1",
            2152,
            &gpdu(0x100, &inner4("10.45.0.9", "198.51.100.7", b"e")),
        ),
        from_gnb("192.0.2.1", 2152, &req),
        from_gnb("10.2.0.1", 2152, &req),
        // UDP to us, not GTP-U: left to the graph.
        {
            let mut b = Vec::new();
            PacketBuilder::ethernet2(GNB, X_RAN)
                .ipv4([192, 0, 2, 2], [192, 0, 2, 1], 64)
                .udp(5000, 53)
                .write(&mut b, b"dns?")
                .unwrap();
            b
        },
    ];
    let down: Vec<Vec<u8>> = vec![
        from_dn(&inner4("198.51.100.7", "10.45.0.2", b"f")),
        from_dn(&inner6("2001:db8:9::1", "2001:db8:45:1::5", b"g")),
        from_dn(&inner4("198.51.100.7", "10.45.0.4", b"h")),
        from_dn(&inner6("2001:db8:9::1", "2001:db8:45:3::5", b"i")),
        from_dn(&inner4("198.51.100.7", "10.45.0.99", b"j")),
    ];
    // `big`: enough other sessions that the fused path's per-burst
    // pre-pass looks the burst's sessions up ahead (it must change
    // nothing).
    let run = |fast: bool, big: bool| {
        let mut all = sessions.clone();
        let mut spec = spec(vec![]);
        if big {
            let n = super::session::PREFETCH_MIN as u32;
            all.extend((0..n).map(|k| {
                let ue = std::net::Ipv4Addr::from(0x0a80_0000 | k).to_string();
                let mut s = session(1000 + u64::from(k), 0x10_0000 + k, &ue, "");
                // One with a rate: the pre-pass's third loop runs too.
                if k == 0 {
                    s.mbr_dl = 1_000_000_000;
                }
                s
            }));
            if let Some(g) = spec.gtpu.as_mut() {
                g.max_sessions = all.len() + 64;
            }
        }
        if let Some(g) = spec.gtpu.as_mut() {
            g.sessions = all;
        }
        let (mut rig, store) = rig_of(spec);
        rig.r.set_fast_path(fast);
        let a = rig.burst(0, &up);
        // Twice: the first outer packet to a base station fills the
        // router's neighbour memo (through the graph), the second burst
        // finds it.
        let b = rig.burst(1, &down);
        let c = rig.burst(1, &down);
        let outs: Vec<(Verdict, Vec<u8>)> = a
            .into_iter()
            .chain(b)
            .chain(c)
            .map(|o| (o.v, o.frame))
            .collect();
        let seen = rig.r.fast_seen;
        let stats = store.bus().stats();
        let emitted = std::mem::take(&mut rig.emitted);
        (outs, emitted, stats, seen)
    };
    let (fo, fe, fs, seen) = run(true, false);
    let (go, ge, gs, _) = run(false, false);
    let (bo, be, bs, big_seen) = run(true, true);
    assert_eq!(fo.len(), go.len());
    for (i, (f, g)) in fo.iter().zip(&go).enumerate() {
        assert_eq!(f, g, "frame {i}");
    }
    assert_eq!(fe, ge, "emitted answers");
    assert_eq!(fs, gs, "GTP-U counters");
    assert_eq!((&bo, &be, &bs), (&go, &ge, &gs), "with the pre-pass");
    assert_eq!(big_seen, seen);
    assert!(seen[2] >= 3, "decapsulated by the fused path: {seen:?}");
    assert!(
        seen[1] >= 4,
        "encapsulated and sent by the fused path: {seen:?}"
    );
}

/// The GTP-U messages (port 0, IPv4 to UDP 2152) in `frames`: (outer
/// source, destination, message type, TEID, sequence number).
fn gtpu_sent(frames: &[(PortId, Vec<u8>)]) -> Vec<(IpAddr, IpAddr, u8, u32, Option<u16>)> {
    frames
        .iter()
        .filter(|(p, f)| p.0 == 0 && f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17)
        .filter(|(_, f)| u16::from_be_bytes([f[36], f[37]]) == wire::PORT)
        .map(|(_, f)| {
            assert_eq!(&f[..6], &GNB, "to the base station's MAC");
            assert_eq!(u16::from_be_bytes([f[34], f[35]]), wire::PORT, "from 2152");
            let ulen = usize::from(u16::from_be_bytes([f[38], f[39]]));
            assert_eq!(ulen, f.len() - 34, "UDP length");
            let h = wire::parse(&f[42..]).unwrap();
            let a = |at: usize| IpAddr::V4(Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]));
            (a(26), a(30), h.msg_type, h.teid, h.seq)
        })
        .collect()
}

#[test]
fn end_markers_go_to_the_old_peer_on_a_path_switch_and_on_delete() {
    use super::session::stat;
    let (mut rig, mut store) = rig(two_sessions());
    // Handover: session 1 moves to another base station (192.0.2.3).
    let mut s1 = session(1, 0x100, "10.45.0.2", "2001:db8:45:1::/64");
    s1.peer = ip("192.0.2.3");
    s1.peer_teid = 0x7700;
    assert!(store.modify(s1.clone(), true).unwrap(), "a path switch");
    rig.tick();
    let em = gtpu_sent(&rig.emitted);
    assert_eq!(
        em,
        vec![(
            ip("192.0.2.1"),
            ip("192.0.2.2"),
            wire::msg::END_MARKER,
            0x1100,
            None
        )],
        "one End Marker to the old peer and TEID"
    );
    rig.emitted.clear();
    // Same path again: nothing to end.
    assert!(!store.modify(s1.clone(), true).unwrap());
    // Without the flag: no End Marker either.
    let mut s2 = session(2, 0x200, "10.45.0.3", "");
    s2.qfi = None;
    s2.peer_teid = 0x9999;
    assert!(!store.modify(s2, false).unwrap());
    rig.tick();
    assert!(gtpu_sent(&rig.emitted).is_empty(), "{:?}", rig.emitted);
    // Deleted with an End Marker to its peer, 192.0.2.3, whose MAC is
    // not known: it is asked for, the End Marker waits...
    store.delete(1, true).unwrap();
    rig.tick();
    assert!(gtpu_sent(&rig.emitted).is_empty());
    let arp: Vec<_> = rig
        .emitted
        .iter()
        .filter(|(_, f)| f[12..14] == [8, 6] && f[38..42] == [192, 0, 2, 3])
        .collect();
    assert_eq!(
        arp.len(),
        1,
        "ARP request for the new peer: {:?}",
        rig.emitted
    );
    rig.emitted.clear();
    // ... and is given up when no answer comes.
    rig.now += 4_000_000_000;
    rig.tick();
    assert!(gtpu_sent(&rig.emitted).is_empty());
    let st = store.bus().stats();
    assert_eq!(
        (st[stat::END_MARKER_OUT], st[stat::END_MARKER_UNSENT]),
        (1, 1)
    );
}

#[test]
fn echo_requests_track_each_peers_path() {
    use super::session::EchoSpec;
    let mut sp = spec(two_sessions());
    let g = sp.gtpu.as_mut().unwrap();
    g.peers = vec![ip("192.0.2.2")];
    g.echo = EchoSpec {
        interval_s: 60,
        t3_ms: 3000,
        n3: 3,
    };
    let (mut rig, store) = rig_of(sp);
    let view = |now: u64| store.bus().peers(now).remove(0);
    // (The rig's first tick sent the first request.)
    let v = view(rig.now);
    assert_eq!((v.state, v.requests), ("unknown", 1));
    let seq = (store.bus().peers[0]
        .seq
        .load(std::sync::atomic::Ordering::Relaxed)
        & 0xffff) as u16;
    assert_eq!(
        store.bus().stats()[super::session::stat::ECHO_REQUEST_OUT],
        1
    );
    // A response with another sequence number is not the answer.
    let mut resp = vec![0u8; 14];
    wire::write_echo_response(&mut resp, seq.wrapping_add(7)).unwrap();
    assert_eq!(
        rig.rx(0, &from_gnb("192.0.2.1", 2152, &resp)).v,
        Verdict::Local
    );
    rig.now += 2_000_000;
    rig.tick();
    assert_eq!(view(rig.now).state, "unknown");
    wire::write_echo_response(&mut resp, seq).unwrap();
    assert_eq!(
        rig.rx(0, &from_gnb("192.0.2.1", 2152, &resp)).v,
        Verdict::Local
    );
    rig.tick();
    let v = view(rig.now);
    assert_eq!((v.state, v.requests, v.responses), ("up", 1, 1));
    assert_eq!(v.rtt_us, Some(2000));
    // Nothing until the interval is over.
    rig.now += 30_000_000_000;
    rig.tick();
    assert!(gtpu_sent(&rig.emitted).is_empty());
    // Then a request every T3 without answers: after N3 tries, down.
    rig.now += 30_000_000_000;
    let mut seqs = Vec::new();
    let mut sent_frames = Vec::new();
    for _ in 0..4 {
        rig.tick();
        seqs.extend(gtpu_sent(&rig.emitted).iter().map(|m| m.4));
        sent_frames.append(&mut rig.emitted);
        rig.now += 3_000_000_000;
    }
    assert_eq!(seqs.len(), 3, "three tries: {seqs:?}");
    let m = gtpu_sent(&sent_frames)[0];
    assert_eq!(
        (m.0, m.1, m.2, m.3),
        (ip("192.0.2.1"), ip("192.0.2.2"), wire::msg::ECHO_REQUEST, 0),
        "from our endpoint to the peer, TEID 0"
    );
    assert!(
        seqs.windows(2).all(|w| w[0] == w[1]),
        "a retransmission keeps its sequence number"
    );
    let v = view(rig.now);
    assert_eq!((v.state, v.requests, v.failures), ("down", 4, 1));
    // A late answer does not bring the path up; the next interval's does.
    wire::write_echo_response(&mut resp, seqs[0].unwrap()).unwrap();
    rig.rx(0, &from_gnb("192.0.2.1", 2152, &resp));
    rig.tick();
    assert_eq!(view(rig.now).state, "down");
    rig.now += 60_000_000_000;
    rig.tick();
    let s = gtpu_sent(&rig.emitted)[0].4.unwrap();
    wire::write_echo_response(&mut resp, s).unwrap();
    rig.rx(0, &from_gnb("192.0.2.1", 2152, &resp));
    rig.tick();
    let v = view(rig.now);
    assert_eq!((v.state, v.failures), ("up", 1));
    let st = store.bus().stats();
    assert_eq!(st[super::session::stat::ECHO_REQUEST_OUT], 5);
}

#[test]
fn buffered_downlink_is_reported_and_released_in_order() {
    use super::session::{stat, Downlink, BUFFER_PER_SESSION, BUFFER_TOKEN};
    // A 5G session set up in two steps: no access-side path yet, downlink
    // buffered and reported.
    let mut idle = session(1, 0x100, "10.45.0.2", "");
    idle.downlink = Downlink::Buffer;
    idle.notify = true;
    idle.peer = "0.0.0.0".parse().unwrap();
    idle.peer_teid = 0;
    let (mut rig, mut store) = rig(vec![idle.clone()]);
    let from_dn = |n: u8| {
        let mut f = Vec::new();
        f.extend_from_slice(&X_DN);
        f.extend_from_slice(&DN);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&inner4("198.51.100.7", "10.45.0.2", &[n; 8]));
        f
    };
    let slot = store.get(1).unwrap().slot;
    let outs = rig.burst(1, &(0..3).map(from_dn).collect::<Vec<_>>());
    assert!(
        outs.iter()
            .all(|o| o.v == Verdict::Park(BUFFER_TOKEN | slot)),
        "{outs:?}"
    );
    assert_eq!(store.take_downlink_data(), vec![1], "reported once");
    let outs = rig.burst(1, &[from_dn(3)]);
    assert_eq!(outs[0].v, Verdict::Park(BUFFER_TOKEN | slot));
    assert!(store.take_downlink_data().is_empty(), "not again");
    assert_eq!(store.bus().stats()[stat::DL_BUFFERED], 4);
    // The path comes (modification with the base station's F-TEID): the
    // four leave in order, encapsulated with it.
    let mut up = idle.clone();
    up.downlink = Downlink::Forward;
    up.peer = ip("192.0.2.2");
    up.peer_teid = 0x5151;
    assert!(
        !store.modify(up, true).unwrap(),
        "no End Marker: there was no path"
    );
    rig.tick();
    assert_eq!(rig.resumed.len(), 4, "{:?}", rig.resumed);
    for (n, o) in rig.resumed.iter().enumerate() {
        assert_eq!(o.v, tx(0));
        let (_, d, _, teid, _, inner) = outer(&o.frame);
        assert_eq!((d, teid), (ip("192.0.2.2"), 0x5151));
        assert_eq!(inner[inner.len() - 8..], [n as u8; 8], "in order");
    }
    assert_eq!(store.counters(slot)[DL_PKTS], 4);
    // Idle again: buffered up to the bound, the rest dropped and counted.
    let mut again = idle.clone();
    again.peer = ip("192.0.2.2");
    again.peer_teid = 0x5151;
    store.modify(again.clone(), false).unwrap();
    let n = BUFFER_PER_SESSION as usize + 3;
    let outs = rig.burst(1, &vec![from_dn(9); n]);
    assert_eq!(
        outs.iter()
            .filter(|o| o.v == drop(DropReason::GtpuBufferFull))
            .count(),
        3
    );
    assert_eq!(
        store.take_downlink_data(),
        vec![1],
        "idle again: reported again"
    );
    // DROBU: what is buffered is dropped.
    store.flush(1).unwrap();
    rig.tick();
    assert_eq!(rig.discarded.len(), BUFFER_PER_SESSION as usize);
    assert!(rig
        .discarded
        .iter()
        .all(|(_, r)| *r == DropReason::GtpuBufferDiscarded));
    rig.discarded.clear();
    // Held too long: expired.
    rig.burst(1, &[from_dn(1)]);
    rig.now += super::session::BUFFER_HOLD_NS + 1;
    rig.tick();
    assert_eq!(rig.discarded.len(), 1);
    assert_eq!(rig.discarded[0].1, DropReason::GtpuBufferExpired);
    rig.discarded.clear();
    // Deleted while buffering: discarded.
    rig.burst(1, &[from_dn(1)]);
    store.delete(1, true).unwrap();
    rig.tick();
    assert_eq!(rig.discarded.len(), 1);
    assert_eq!(rig.discarded[0].1, DropReason::GtpuBufferDiscarded);
    assert!(rig.held.is_empty());
}

/// A packet with `proto` and ports (UDP, TCP: a bare header).
fn inner4_ports(src: &str, dst: &str, tcp: bool, sport: u16, dport: u16) -> Vec<u8> {
    let mut b = Vec::new();
    let p = PacketBuilder::ipv4(
        src.parse::<Ipv4Addr>().unwrap().octets(),
        dst.parse::<Ipv4Addr>().unwrap().octets(),
        64,
    );
    if tcp {
        p.tcp(sport, dport, 1, 1000).write(&mut b, b"t").unwrap();
    } else {
        p.udp(sport, dport).write(&mut b, b"u").unwrap();
    }
    b
}

#[test]
fn per_flow_rules_pick_qfi_gate_and_count_by_sdf_filter() {
    use super::session::{FlowRule, SdfFilter};
    let rule = |uplink, precedence, filter, pass, qfi| FlowRule {
        uplink,
        precedence,
        filter,
        pass,
        qfi,
        mbr: 0,
    };
    let mut s = session(1, 0x100, "10.45.0.2", "");
    s.flows = vec![
        // Downlink SIP from 198.51.100.0/24 port 5060: QFI 1.
        rule(
            false,
            10,
            SdfFilter {
                proto: Some(17),
                remote: Some((ip("198.51.100.0"), 24)),
                remote_ports: Some((5060, 5060)),
                ..SdfFilter::default()
            },
            true,
            Some(1),
        ),
        // Uplink telnet: dropped.
        rule(
            true,
            10,
            SdfFilter {
                proto: Some(6),
                remote_ports: Some((23, 23)),
                ..SdfFilter::default()
            },
            false,
            None,
        ),
        // Everything else uplink passes; downlink only from 198.51.100.0/24.
        rule(true, 20, SdfFilter::default(), true, None),
        rule(
            false,
            30,
            SdfFilter {
                remote: Some((ip("198.51.100.0"), 24)),
                ..SdfFilter::default()
            },
            true,
            None,
        ),
    ];
    let (mut rig, mut store) = rig(vec![s]);
    let from_dn = |inner: &[u8]| {
        let mut f = Vec::new();
        f.extend_from_slice(&X_DN);
        f.extend_from_slice(&DN);
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(inner);
        f
    };
    // Downlink: SIP gets QFI 1, other traffic the session's 9, a source
    // outside every downlink filter is dropped.
    let sip = inner4_ports("198.51.100.7", "10.45.0.2", false, 5060, 5060);
    let o = rig.rx(1, &from_dn(&sip));
    assert_eq!(o.v, tx(0), "{o:?}");
    assert_eq!(outer(&o.frame).4, Some(1));
    let web = inner4_ports("198.51.100.7", "10.45.0.2", true, 80, 40000);
    let o = rig.rx(1, &from_dn(&web));
    assert_eq!(o.v, tx(0), "{o:?}");
    assert_eq!(outer(&o.frame).4, Some(9));
    let other = inner4_ports("203.0.113.9", "10.45.0.2", false, 53, 40000);
    assert_eq!(
        rig.rx(1, &from_dn(&other)).v,
        drop(DropReason::GtpuSdfNoMatch)
    );
    // Uplink: telnet dropped, the rest forwarded.
    let up = |dport: u16| {
        from_gnb(
            "192.0.2.1",
            2152,
            &gpdu(
                0x100,
                &inner4_ports("10.45.0.2", "198.51.100.7", true, 40000, dport),
            ),
        )
    };
    assert_eq!(rig.rx(0, &up(23)).v, drop(DropReason::GtpuGateClosed));
    assert_eq!(rig.rx(0, &up(443)).v, tx(1));
    assert_eq!(rig.rx(0, &up(443)).v, tx(1));
    // An inner IPv4 header with IHL 4: its "ports" would be read from
    // inside the IP header; it matches no rule and counts for none.
    let mut bad = inner4_ports("10.45.0.2", "198.51.100.7", true, 40000, 443);
    bad[0] = 0x44;
    let o = rig.rx(0, &from_gnb("192.0.2.1", 2152, &gpdu(0x100, &bad)));
    assert_eq!(o.v, drop(DropReason::GtpuInnerMalformed));
    // Counted per rule, in the spec's order.
    let slot = store.get(1).unwrap().slot;
    let c: Vec<u64> = store.flow_counters(slot).iter().map(|x| x.0).collect();
    assert_eq!(c, vec![1, 0, 2, 1]);
    assert_eq!(store.counters(slot)[DL_PKTS], 2);

    // The SIP rule removed: each remaining rule keeps its own counters.
    let mut s1 = store.get(1).unwrap().spec.clone();
    s1.flows.remove(0);
    store.modify(s1, false).unwrap();
    // Read before the worker took the change: already as it will be.
    let c: Vec<u64> = store.flow_counters(slot).iter().map(|x| x.0).collect();
    assert_eq!(c, vec![0, 2, 1], "before the worker applied the change");
    let o = rig.rx(1, &from_dn(&sip));
    assert_eq!(outer(&o.frame).4, Some(9), "SIP now takes the default rule");
    let c: Vec<u64> = store.flow_counters(slot).iter().map(|x| x.0).collect();
    assert_eq!(c, vec![0, 2, 2]);

    // Rules replaced at run time: no rules, every downlink packet alike.
    let mut s2 = store.get(1).unwrap().spec.clone();
    s2.flows.clear();
    store.modify(s2, false).unwrap();
    let o = rig.rx(1, &from_dn(&other));
    assert_eq!(o.v, tx(0), "{o:?}");
    assert_eq!(outer(&o.frame).4, Some(9));
    assert!(store.flow_counters(slot).is_empty());
}
