//! The stateful translator in the router's fused path ([`super::fast`]),
//! against routers that differ only there:
//!
//! - the per-burst pre-pass ([`super::fast::prefetch`]) only reads: a
//!   router running it on every burst and one never running it send the
//!   same frames with the same verdicts and end with the same tables;
//! - the fused claim ([`super::fast::fast_claim`]) is ip4-local's: a
//!   router with the fused path and one with the node graph only send the
//!   same frames with the same verdicts (drop reasons included) and end
//!   with the same tables.
//!
//! Both through bursts that make flows, reuse them, answer them from the
//! IPv4 side and carry frames neither may take (truncated, extension
//! headers, ports outside pool4, addresses outside pool4, spoofed
//! sources).

use std::net::Ipv4Addr;

use etherparse::PacketBuilder;

use super::addr::{EamTable, Pool6};
use super::stateful::{Pool4, StatefulSpec, Timeouts};
use super::{Nat64Spec, NAT64_IFACE};
use crate::router::neigh::NeighborBus;
use crate::router::spec::{IfaceSpec, NeighborSpec, RouteSpec, RouteTarget, RouterSpec};
use crate::router::table::Rib;
use crate::router::{build_worker, Router};
use crate::wire::ethernet::MacAddr;
use crate::{CollectEmit, Ctx, Packet, Pipeline, PortId, Verdict};

const X6: [u8; 6] = [2, 0, 0, 0, 6, 1];
const H6: [u8; 6] = [2, 0, 0, 0, 6, 2];
const X4: [u8; 6] = [2, 0, 0, 0, 4, 1];
const H4: [u8; 6] = [2, 0, 0, 0, 4, 2];
const POOL4: [u8; 4] = [192, 0, 2, 1];
const SERVER: [u8; 4] = [198, 51, 100, 7];
/// The pre-pass off ([`the_pre_pass_changes_nothing`] turns it on).
const PREFETCH: usize = usize::MAX;

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

fn router(prefetch_min: usize, fast: bool) -> Router {
    router_with(prefetch_min, fast, false)
}

/// `strict`: `wkp_strict` on (RFC 6052 §3.1).
fn router_with(prefetch_min: usize, fast: bool, strict: bool) -> Router {
    let spec = RouterSpec {
        ifaces: vec![
            IfaceSpec {
                name: "v6".into(),
                port: PortId(0),
                mac: MacAddr(X6),
                ipv6: vec![("2001:db8:1::1".parse().unwrap(), 64)],
                link_local: "fe80::1".parse().unwrap(),
                ..IfaceSpec::default()
            },
            IfaceSpec {
                name: "v4".into(),
                port: PortId(1),
                mac: MacAddr(X4),
                ipv4: vec![("192.0.2.1".parse().unwrap(), 24)],
                link_local: "fe80::2".parse().unwrap(),
                ..IfaceSpec::default()
            },
        ],
        routes: vec![
            RouteSpec {
                prefix: ip("64:ff9b::"),
                len: 96,
                target: RouteTarget::Connected { iface: NAT64_IFACE },
            },
            RouteSpec {
                prefix: ip("0.0.0.0"),
                len: 0,
                target: RouteTarget::Via {
                    gateway: ip("192.0.2.2"),
                    iface: 1,
                },
            },
            RouteSpec {
                prefix: ip("::"),
                len: 0,
                target: RouteTarget::Via {
                    gateway: ip("2001:db8:1::2"),
                    iface: 0,
                },
            },
        ],
        neighbors: vec![
            NeighborSpec {
                iface: 0,
                ip: ip("2001:db8:1::2"),
                mac: MacAddr(H6),
            },
            NeighborSpec {
                iface: 1,
                ip: ip("192.0.2.2"),
                mac: MacAddr(H4),
            },
        ],
        tunnels: Vec::new(),
        gtpu: None,
        nat64: Some(Nat64Spec {
            iface: "nat64".into(),
            pool6: Pool6::new("64:ff9b::".parse().unwrap(), 96).map(|p| Pool6 { strict, ..p }),
            eam: EamTable::new(&[]).unwrap(),
            rfc6791_v4: None,
            rfc6791_v6: None,
            lowest_ipv6_mtu: 1280,
            amend_udp_checksum_zero: false,
            stateful: Some(StatefulSpec {
                pool4: vec![Pool4 {
                    addr: Ipv4Addr::from(POOL4),
                    lo: 1024,
                    hi: 65535,
                    tcp: true,
                    udp: true,
                    icmp: true,
                }],
                static_bib: Vec::new(),
                max_sessions: 4096,
                timeouts: Timeouts::default(),
                address_dependent_filtering: false,
                drop_externally_initiated_tcp: false,
                max_stored_v4_syns: 0,
            }),
        }),
    };
    let rib = Rib::new(&spec).unwrap();
    let mut r = build_worker(&spec, 0, NeighborBus::new(1), rib.handle()).unwrap();
    r.set_fast_path(fast);
    r.core_mut().nat64.table.as_mut().unwrap().prefetch_min = prefetch_min;
    r
}

/// One burst through `r`: each frame's verdict and bytes, then what the
/// router emitted.
fn burst(r: &mut Router, now: u64, frames: &[(u16, Vec<u8>)]) -> Vec<(Verdict, Vec<u8>)> {
    const HEAD: usize = 256;
    let mut bufs: Vec<Vec<u8>> = frames
        .iter()
        .map(|(_, f)| {
            let mut b = vec![0u8; 2048];
            b[HEAD..HEAD + f.len()].copy_from_slice(f);
            b
        })
        .collect();
    let mut e = CollectEmit::default();
    let mut out = {
        let mut pkts: Vec<Packet<'_>> = bufs
            .iter_mut()
            .zip(frames)
            .map(|(b, (port, f))| {
                Packet::new(b, HEAD as u32, f.len() as u32, PortId(*port)).unwrap()
            })
            .collect();
        let mut v = vec![Verdict::Local; pkts.len()];
        r.process(&mut Ctx::new(now, &mut e), &mut pkts, &mut v);
        v.into_iter()
            .zip(&pkts)
            .map(|(v, p)| (v, p.data().to_vec()))
            .collect::<Vec<_>>()
    };
    out.extend(e.frames.into_iter().map(|(p, f)| (Verdict::Tx(p), f)));
    out
}

fn from6(k: u16, proto: u8) -> Vec<u8> {
    // 2001:db8:2::10xx: hosts behind the IPv6 gateway (on-link ones
    // would wait for Neighbor Discovery).
    let mut src = [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0];
    src[14] |= (k >> 8) as u8;
    src[15] = k as u8;
    let mut dst = [0u8; 16];
    dst[..4].copy_from_slice(&[0, 0x64, 0xff, 0x9b]);
    dst[12..].copy_from_slice(&SERVER);
    let b = PacketBuilder::ethernet2(H6, X6).ipv6(src, dst, 64);
    let mut f = Vec::new();
    if proto == 6 {
        b.tcp(5000 + k, 80, 1, 1000)
            .syn()
            .write(&mut f, b"")
            .unwrap();
    } else {
        b.udp(5000 + k, 53).write(&mut f, b"query").unwrap();
    }
    f
}

fn from4(to_port: u16, proto: u8) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(H4, X4).ipv4(SERVER, POOL4, 64);
    let mut f = Vec::new();
    if proto == 6 {
        b.tcp(80, to_port, 7, 1000)
            .syn()
            .ack(2)
            .write(&mut f, b"")
            .unwrap();
    } else {
        b.udp(53, to_port).write(&mut f, b"answer").unwrap();
    }
    f
}

#[test]
fn the_pre_pass_changes_nothing() {
    let mut on = router(0, true);
    let mut off = router(usize::MAX, true);
    let now = 1_000_000_000;
    let mut run = |frames: &[(u16, Vec<u8>)], now: u64| {
        let a = burst(&mut on, now, frames);
        let b = burst(&mut off, now, frames);
        assert_eq!(a, b, "the pre-pass changed what the router sent");
        a
    };
    // New flows (UDP and TCP SYNs), then the same flows again.
    let first: Vec<(u16, Vec<u8>)> = (0..48)
        .map(|k| (0, from6(k, if k % 3 == 0 { 6 } else { 17 })))
        .collect();
    let sent = run(&first, now);
    let again = run(&first, now + 1_000);
    // Every one translated, out of the IPv4 port.
    for out in [&sent, &again] {
        let tx4 = out
            .iter()
            .filter(|(v, _)| *v == Verdict::Tx(PortId(1)))
            .count();
        assert_eq!(tx4, first.len(), "{out:?}");
    }
    // Answers to the pool4 ports the flows got (pool4 is the router's own
    // IPv4 address, shared by port range), with frames the pre-pass
    // must pass over mixed in.
    let mut replies: Vec<(u16, Vec<u8>)> = sent
        .iter()
        .filter(|(_, f)| f.len() >= 14 + 24 && f[12..14] == [8, 0])
        .map(|(_, f)| {
            let sport = u16::from_be_bytes([f[34], f[35]]);
            (1, from4(sport, f[23]))
        })
        .collect();
    assert_eq!(replies.len(), first.len());
    let mut short = from6(1, 17);
    short.truncate(14 + 30);
    replies.push((0, short));
    replies.push((1, from4(1000, 17)[..14 + 10].to_vec()));
    let mut ext = from6(2, 17);
    ext[14 + 6] = 60; // "Destination Options" with no such header
    replies.push((0, ext));
    let mut other = from4(2000, 17);
    other[14 + 16..14 + 20].copy_from_slice(&[192, 0, 2, 77]);
    replies.push((1, other));
    replies.push((1, from4(4242, 6)));
    let back = run(&replies, now + 2_000);
    let tx6 = back
        .iter()
        .filter(|(v, _)| *v == Verdict::Tx(PortId(0)))
        .count();
    assert_eq!(tx6, first.len(), "{back:?}");
    let t = |r: &mut Router| {
        let t = r.core_mut().nat64.table.as_ref().unwrap();
        (t.bib_count(), t.session_count())
    };
    assert_eq!(t(&mut on), t(&mut off));
    assert_eq!(t(&mut on), (first.len(), first.len()));
}

fn echo6(k: u16) -> Vec<u8> {
    let mut f = Vec::new();
    let mut dst = [0u8; 16];
    dst[..4].copy_from_slice(&[0, 0x64, 0xff, 0x9b]);
    dst[12..].copy_from_slice(&SERVER);
    let src = [
        0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, k as u8,
    ];
    PacketBuilder::ethernet2(H6, X6)
        .ipv6(src, dst, 64)
        .icmpv6_echo_request(0x4000 + k, 1)
        .write(&mut f, b"ping")
        .unwrap();
    f
}

#[test]
fn the_fused_claim_matches_the_graph() {
    let mut fast = router(PREFETCH, true);
    let mut graph = router(PREFETCH, false);
    let now = 1_000_000_000;
    let mut run = |frames: &[(u16, Vec<u8>)], now: u64| {
        let a = burst(&mut fast, now, frames);
        let b = burst(&mut graph, now, frames);
        assert_eq!(a, b, "the fused path and the node graph differ");
        a
    };
    let mut first: Vec<(u16, Vec<u8>)> = (0..24)
        .map(|k| (0, from6(k, if k % 2 == 0 { 6 } else { 17 })))
        .collect();
    first.extend((0..8).map(|k| (0, echo6(k))));
    let sent = run(&first, now);
    let tx4 = sent
        .iter()
        .filter(|(v, _)| *v == Verdict::Tx(PortId(1)))
        .count();
    assert_eq!(tx4, first.len(), "{sent:?}");
    // The answers, claimed at pool4 and translated back.
    let mut replies: Vec<(u16, Vec<u8>)> = Vec::new();
    for (_, f) in sent
        .iter()
        .filter(|(_, f)| f.len() >= 38 && f[12..14] == [8, 0])
    {
        let port = u16::from_be_bytes([f[34], f[35]]);
        match f[23] {
            1 => {
                let mut r = Vec::new();
                PacketBuilder::ethernet2(H4, X4)
                    .ipv4(SERVER, POOL4, 64)
                    .icmpv4_echo_reply(u16::from_be_bytes([f[38], f[39]]), 1)
                    .write(&mut r, b"ping")
                    .unwrap();
                replies.push((1, r));
            }
            p => replies.push((1, from4(port, p))),
        }
    }
    assert_eq!(replies.len(), first.len());
    // Not the translator's: a port below pool4's range (the router's own
    // answer), a TCP segment no binding knows, a spoof of our own address,
    // a truncated datagram, options.
    replies.push((1, from4(80, 17)));
    replies.push((1, from4(4242, 6)));
    let mut spoof = from4(5001, 17);
    spoof[14 + 12..14 + 16].copy_from_slice(&POOL4);
    replies.push((1, spoof));
    replies.push((1, from4(5001, 17)[..14 + 24].to_vec()));
    let back = run(&replies, now + 1_000);
    let tx6 = back
        .iter()
        .filter(|(v, _)| *v == Verdict::Tx(PortId(0)))
        .count();
    assert!(tx6 >= first.len(), "{back:?}");
    // The fused path took the claimed ones itself.
    // The fused path took the claimed ones itself: the 32 answers and the
    // TCP segment to a pool4 port without a binding (claimed, then dropped
    // as nat64.no_binding, as nat64-xlat does in the graph).
    assert_eq!(fast.core_mut().fast_seen[3], first.len() as u64 + 1);
    assert!(back
        .iter()
        .any(|(v, _)| *v == Verdict::Drop(crate::DropReason::Nat64NoBinding)));
    let t = |r: &mut Router| {
        let t = r.core_mut().nat64.table.as_ref().unwrap();
        (t.bib_count(), t.session_count())
    };
    assert_eq!(t(&mut fast), t(&mut graph));
}

/// `wkp_strict` (RFC 6052 §3.1: the Well-Known Prefix carries global
/// IPv4 addresses only), in the fused path and in the graph alike: an
/// IPv6 flow to 64:ff9b::10.0.0.1 is refused with its own reason while
/// one to a global server is translated; a packet from a private IPv4
/// source to that flow's binding (endpoint-independent filtering would
/// let it in) is refused too; an ICMP error from a private router about
/// the flow still reaches the client, from an address of ours (RFC 6791:
/// no pool configured); and without the knob the private flow goes.
#[test]
fn wkp_strict_keeps_non_global_ipv4_out_of_the_prefix() {
    use crate::DropReason;
    const GLOBAL: [u8; 4] = [8, 8, 8, 8];
    let to = |v4: [u8; 4]| {
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&[0, 0x64, 0xff, 0x9b]);
        dst[12..].copy_from_slice(&v4);
        let mut f = Vec::new();
        PacketBuilder::ethernet2(H6, X6)
            .ipv6(
                [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 1],
                dst,
                64,
            )
            .udp(5001, 53)
            .write(&mut f, b"query")
            .unwrap();
        f
    };
    let reply = |from: [u8; 4], port: u16| {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(H4, X4)
            .ipv4(from, POOL4, 64)
            .udp(53, port)
            .write(&mut f, b"answer")
            .unwrap();
        f
    };
    for fast in [true, false] {
        let mut r = router_with(PREFETCH, fast, true);
        let now = 1_000_000_000;
        let out = burst(&mut r, now, &[(0, to([10, 0, 0, 1])), (0, to(GLOBAL))]);
        assert_eq!(
            out[0].0,
            Verdict::Drop(DropReason::Nat64WkpNonGlobal),
            "fast {fast}"
        );
        assert_eq!(out[1].0, Verdict::Tx(PortId(1)), "fast {fast}");
        let sent = &out[1].1;
        assert_eq!(sent[30..34], GLOBAL);
        let port = u16::from_be_bytes([sent[34], sent[35]]);
        // The ICMP error a private router sends about that datagram.
        let mut err = Vec::new();
        PacketBuilder::ethernet2(H4, X4)
            .ipv4([10, 9, 9, 9], POOL4, 64)
            .icmpv4(etherparse::Icmpv4Type::TimeExceeded(
                etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
            ))
            .write(&mut err, &sent[14..])
            .unwrap();
        let out = burst(
            &mut r,
            now,
            &[
                (1, reply([192, 168, 7, 7], port)),
                (1, reply(GLOBAL, port)),
                (1, err),
            ],
        );
        assert_eq!(
            out[0].0,
            Verdict::Drop(DropReason::Nat64WkpNonGlobal),
            "fast {fast}"
        );
        assert_eq!(out[1].0, Verdict::Tx(PortId(0)), "fast {fast}");
        assert_eq!(
            out[1].1[22..38],
            to(GLOBAL)[38..54],
            "from 64:ff9b::8.8.8.8"
        );
        assert_eq!(
            out[2].0,
            Verdict::Tx(PortId(0)),
            "fast {fast}: the error is translated"
        );
        assert_eq!(out[2].1[20], 58, "ICMPv6");
        assert_eq!(out[2].1[54], 3, "Time Exceeded");
        assert_eq!(
            out[2].1[22..38],
            "2001:db8:1::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            "from our address"
        );
    }
    // Without the knob: the private destination is translated.
    let mut r = router_with(PREFETCH, true, false);
    let out = burst(&mut r, 1_000_000_000, &[(0, to([10, 0, 0, 1]))]);
    assert_eq!(out[0].0, Verdict::Tx(PortId(1)));
}
