//! GTP-U fixtures shared by the criterion bench (`benches/gtpu.rs`) and
//! the callgrind paths (`instr_per_pkt`): a router worker with an
//! endpoint on its wan side (10.2.0.1, 2001:db8:2::1; the base station is
//! the wan neighbour 10.2.0.2 / 2001:db8:2::2) and `n` sessions, session
//! `i` with TEID `i + 1`, peer TEID `0x10000 + i`, UE 10.(64 + i>>16).(i>>8).(i)
//! and UE prefix (2001:db8:4000::/34 + i)/64, QFI 9; the UE pools
//! 10.64.0.0/10 and 2001:db8:4000::/34 routed into gtp0. Frames: uplink G-PDUs from the base
//! station (inner UDP from the UE to the lan host 10.1.0.2 /
//! 2001:db8:1::2) and downlink UDP from the lan host to the UEs, 64-byte
//! inner frames (46-byte IPv4 packets, 66-byte IPv6 ones).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xgw_engine::config::PipelineCfg;
use xgw_engine::routectl::RouterControl;
use xgw_engine::testing::{
    router_worker_with, ROUTER_HOST_A, ROUTER_HOST_B, ROUTER_PORT_A, ROUTER_PORT_B,
};
use xgw_engine::worker::Worker;
use xgw_pipelines::gtpu::{GtpuSpec, SessionSpec};

const EXTRA: &str = r#"
[[routes]]
prefix = "10.64.0.0/10"
interface = "gtp0"
[[routes]]
prefix = "2001:db8:4000::/34"
interface = "gtp0"
[gtpu]
endpoints = ["10.2.0.1", "2001:db8:2::1"]
"#;

pub fn ue4(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(((10u32 << 24) | (64 << 16)) + i)
}

pub fn ue6(i: u32) -> Ipv6Addr {
    Ipv6Addr::from((0x2001_0db8_4000u128 << 80) | (u128::from(i) << 64))
}

/// Session `i` over an IPv4 (`v6` false) or IPv6 transport.
pub fn session(i: u32, v6: bool) -> SessionSpec {
    let (local, peer): (IpAddr, IpAddr) = if v6 {
        (
            "2001:db8:2::1".parse().unwrap(),
            "2001:db8:2::2".parse().unwrap(),
        )
    } else {
        ("10.2.0.1".parse().unwrap(), "10.2.0.2".parse().unwrap())
    };
    SessionSpec {
        id: u64::from(i) + 1,
        local,
        teid: i + 1,
        ue4: Some(ue4(i)),
        ue6: Some((ue6(i), 64)),
        peer,
        peer_teid: 0x10000 + i,
        qfi: Some(9),
        ..SessionSpec::default()
    }
}

/// A router worker with `n` GTP-U sessions (set up at start, as from
/// the config; `max_sessions` the next 7/8 of a power of two).
pub fn gtpu_worker(burst: usize, n: u32, v6: bool) -> (Worker, RouterControl) {
    gtpu_worker_endpoints(burst, n, v6, 0)
}

/// [`gtpu_worker`] with `extra` more IPv4 endpoints (10.2.1.0 on, added
/// to the wan interface) listed before the fixture's two.
pub fn gtpu_worker_endpoints(
    burst: usize,
    n: u32,
    v6: bool,
    extra: u32,
) -> (Worker, RouterControl) {
    router_worker_with(burst, EXTRA, |cfg| {
        let PipelineCfg::Router(r) = &mut cfg.pipeline else {
            unreachable!("a router")
        };
        let g: &mut GtpuSpec = r.gtpu.as_mut().expect("[gtpu]");
        let mut max = 7usize;
        while max < n as usize {
            max *= 2;
        }
        g.max_sessions = max.max(7 << 10);
        g.sessions = (0..n).map(|i| session(i, v6)).collect();
        let more: Vec<Ipv4Addr> = (0..extra)
            .map(|j| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 2, 1, 0)) + j))
            .collect();
        g.endpoints
            .splice(0..0, more.iter().map(|&a| IpAddr::V4(a)));
        let wan = r
            .ifaces
            .iter_mut()
            .find(|f| f.ipv4.iter().any(|&(a, _)| a == Ipv4Addr::new(10, 2, 0, 1)))
            .expect("the wan interface");
        wan.ipv4.extend(more.iter().map(|&a| (a, 32)));
    })
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let mut s: u32 = h
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    h[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut payload = payload.to_vec();
    if nh == 17 {
        // The UDP checksum (mandatory over IPv6, and xgw checks it on
        // datagrams to its endpoints).
        use xgw_pipelines::wire::checksum::{finish, pseudo_v6, sum};
        payload[6..8].fill(0);
        let c = finish(
            pseudo_v6(&src.octets(), &dst.octets(), 17, payload.len() as u32) + sum(&payload),
        );
        payload[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    }
    let payload = &payload[..];
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 64]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(payload);
    h
}

/// UDP (checksum 0 for IPv4: none; over IPv6 `ipv6` fills it in).
fn udp(sport: u16, dport: u16, payload: &[u8], v6: bool) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    let _ = v6;
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn eth(dst: [u8; 6], src: [u8; 6], v6: bool, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + l3.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    f.extend_from_slice(l3);
    f
}

/// The inner packet of session `i` (`up`: from the UE), IPv4 or IPv6.
fn inner(i: u32, up: bool, inner_v6: bool) -> Vec<u8> {
    let payload = [0x5au8; 18];
    let sport = 1000 + (i & 0x3ff) as u16;
    if inner_v6 {
        let (ue, host) = (
            Ipv6Addr::from(u128::from(ue6(i)) | 1),
            "2001:db8:1::2".parse().unwrap(),
        );
        let (s, d) = if up { (ue, host) } else { (host, ue) };
        ipv6(s, d, 17, &udp(sport, 2000, &payload, true))
    } else {
        let (ue, host) = (ue4(i), Ipv4Addr::new(10, 1, 0, 2));
        let (s, d) = if up { (ue, host) } else { (host, ue) };
        ipv4(s, d, 17, &udp(sport, 2000, &payload, false))
    }
}

/// An uplink G-PDU of session `i` from the base station (no extension
/// header, as most base stations send over N3 without QoS marking).
pub fn uplink(i: u32, outer_v6: bool, inner_v6: bool) -> Vec<u8> {
    let t = inner(i, true, inner_v6);
    let mut g = vec![0x30, 255];
    g.extend_from_slice(&(t.len() as u16).to_be_bytes());
    g.extend_from_slice(&(i + 1).to_be_bytes());
    g.extend_from_slice(&t);
    let u = udp(2152 + (i & 0xff) as u16, 2152, &g, outer_v6);
    let l3 = if outer_v6 {
        ipv6(
            "2001:db8:2::2".parse().unwrap(),
            "2001:db8:2::1".parse().unwrap(),
            17,
            &u,
        )
    } else {
        ipv4(
            Ipv4Addr::new(10, 2, 0, 2),
            Ipv4Addr::new(10, 2, 0, 1),
            17,
            &u,
        )
    };
    eth(ROUTER_PORT_B, ROUTER_HOST_B, outer_v6, &l3)
}

/// A downlink packet to session `i`'s UE from the lan host.
pub fn downlink(i: u32, inner_v6: bool) -> Vec<u8> {
    eth(
        ROUTER_PORT_A,
        ROUTER_HOST_A,
        inner_v6,
        &inner(i, false, inner_v6),
    )
}
