//! The parser and builders against scapy's contrib GTP layer
//! (tests/golden/gtpu/wire_vectors.json, made by make_wire.py there), and
//! hand-made chains and lies for what scapy does not build.

use super::*;
use serde_json::Value;
use std::net::IpAddr;

const VECTORS: &str = include_str!("../../../../tests/golden/gtpu/wire_vectors.json");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors(test: &str) -> Vec<Value> {
    let all: Vec<Value> = serde_json::from_str(VECTORS).expect("wire_vectors.json");
    let v: Vec<Value> = all.into_iter().filter(|v| v["test"] == test).collect();
    assert!(v.len() >= 5, "too few {test} vectors");
    v
}

#[test]
fn parses_what_scapy_builds() {
    for v in vectors("parse") {
        let b = hex(v["hex"].as_str().unwrap());
        let name = v["name"].as_str().unwrap();
        let h = parse(&b).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            u64::from(h.msg_type),
            v["msg_type"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(u64::from(h.teid), v["teid"].as_u64().unwrap(), "{name}");
        assert_eq!(h.seq.map(u64::from), v["seq"].as_u64(), "{name}: seq");
        assert_eq!(h.npdu.map(u64::from), v["npdu"].as_u64(), "{name}: npdu");
        let psc = v["psc"]
            .as_array()
            .map(|a| (a[0].as_u64().unwrap() as u8, a[1].as_u64().unwrap() as u8));
        assert_eq!(h.psc.map(|p| (p.pdu_type, p.qfi)), psc, "{name}: psc");
        assert_eq!(
            h.payload as u64,
            v["payload"].as_u64().unwrap(),
            "{name}: payload"
        );
        assert_eq!(h.end as u64, v["end"].as_u64().unwrap(), "{name}: end");
        assert_eq!(h.unknown_required, None, "{name}");
    }
}

#[test]
fn builds_what_scapy_builds() {
    for v in vectors("build") {
        let want = hex(v["hex"].as_str().unwrap());
        let a = &v["args"];
        let n = |k: &str| a[k].as_u64().unwrap();
        let mut buf = [0xeeu8; 128];
        let len = match v["kind"].as_str().unwrap() {
            "echo_response" => write_echo_response(&mut buf, n("seq") as u16),
            "echo_request" => write_echo_request(&mut buf, n("seq") as u16),
            "error_indication" => {
                let local: IpAddr = a["local"].as_str().unwrap().parse().unwrap();
                write_error_indication(&mut buf, n("seq") as u16, n("teid") as u32, local)
            }
            "end_marker" => write_end_marker(&mut buf, n("teid") as u32),
            "gpdu_header" => write_gpdu_header(
                &mut buf,
                n("teid") as u32,
                a["qfi"].as_u64().map(|q| q as u8),
                n("len") as usize,
            ),
            k => panic!("unknown kind {k}"),
        }
        .unwrap();
        assert_eq!(&buf[..len], &want[..], "{}", v["name"]);
        // What we build parses back to what we meant.
        if v["kind"] != "gpdu_header" {
            let h = parse(&buf[..len]).unwrap();
            assert_eq!(h.end, len, "{}", v["name"]);
        }
    }
}

/// A G-PDU with the E flag and the given extension headers (each: type,
/// contents without the length and next-type octets), then `payload`.
fn chain(exts: &[(u8, &[u8])], payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0x34, msg::G_PDU, 0, 0, 0, 0, 0, 42, 0, 0, 0];
    b.push(exts.first().map_or(0, |e| e.0));
    for (i, (_, c)) in exts.iter().enumerate() {
        assert_eq!((c.len() + 2) % 4, 0, "test chain: pad the contents");
        b.push(((c.len() + 2) / 4) as u8);
        b.extend_from_slice(c);
        b.push(exts.get(i + 1).map_or(0, |e| e.0));
    }
    b.extend_from_slice(payload);
    let len = (b.len() - HEADER_LEN) as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

#[test]
fn walks_a_chain_skipping_what_it_may_and_flagging_what_it_must_understand() {
    let inner = [0x45u8, 0, 0, 20];
    // A skippable unknown (0x20: comprehension not required), then the PSC.
    let b = chain(
        &[(0x20, &[1, 2]), (ext::PDU_SESSION_CONTAINER, &[0x10, 0x07])],
        &inner,
    );
    let h = parse(&b).unwrap();
    assert_eq!(
        h.psc,
        Some(Psc {
            pdu_type: 1,
            qfi: 7
        })
    );
    assert_eq!(h.unknown_required, None);
    assert_eq!(h.payload_of(&b), &inner);
    // An unknown the endpoint must understand (0xc3), after the PSC.
    let b = chain(
        &[
            (ext::PDU_SESSION_CONTAINER, &[0, 9]),
            (0xc3, &[0, 0, 0, 0, 0, 0]),
        ],
        &inner,
    );
    let h = parse(&b).unwrap();
    assert_eq!(h.unknown_required, Some(0xc3));
    assert_eq!(h.psc.map(|p| p.qfi), Some(9));
    assert_eq!(h.payload_of(&b), &inner);
    // The UDP Port extension header is known: skipped without complaint.
    let b = chain(&[(ext::UDP_PORT, &[0x08, 0x68])], &inner);
    assert_eq!(parse(&b).unwrap().unknown_required, None);
}

#[test]
fn refuses_lies_and_bounds_the_chain() {
    let inner = [0x45u8, 0, 0, 20];
    let ok = chain(&[(ext::PDU_SESSION_CONTAINER, &[0, 9])], &inner);
    assert!(parse(&ok).is_ok());
    // Length longer than the datagram.
    let mut b = ok.clone();
    b[3] += 1;
    assert_eq!(parse(&b), Err(GtpuError::Truncated));
    // Length too short for the optional fields.
    let mut b = ok.clone();
    b[2..4].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(parse(&b), Err(GtpuError::BadLength));
    // An extension header of length 0.
    let mut b = ok.clone();
    b[12] = 0;
    assert_eq!(parse(&b), Err(GtpuError::BadExtLength));
    // An extension header running past Length.
    let mut b = ok.clone();
    b[12] = 9;
    assert_eq!(parse(&b), Err(GtpuError::BadLength));
    // Length ends inside the chain (the next type points past it).
    let mut b = chain(&[(0x20, &[0, 0]), (0x20, &[0, 0])], &[]);
    b[2..4].copy_from_slice(&8u16.to_be_bytes());
    assert_eq!(parse(&b), Err(GtpuError::BadLength));
    // A chain longer than MAX_EXT_HEADERS.
    let long: Vec<(u8, &[u8])> = (0..=MAX_EXT_HEADERS)
        .map(|_| (0x20u8, &[0u8, 0][..]))
        .collect();
    assert_eq!(
        parse(&chain(&long, &inner)),
        Err(GtpuError::ExtChainTooLong)
    );
    let most: Vec<(u8, &[u8])> = (0..MAX_EXT_HEADERS)
        .map(|_| (0x20u8, &[0u8, 0][..]))
        .collect();
    assert!(parse(&chain(&most, &inner)).is_ok());
    // Version 2 (GTPv2-C), GTP' and short buffers.
    let mut b = ok.clone();
    b[0] = 0x48;
    assert_eq!(parse(&b), Err(GtpuError::BadVersion(2)));
    let mut b = ok.clone();
    b[0] &= !0x10;
    assert_eq!(parse(&b), Err(GtpuError::NotGtpU));
    for n in 0..HEADER_LEN {
        assert_eq!(parse(&ok[..n]), Err(GtpuError::Truncated));
    }
    // Every truncation of a valid message is refused, never a panic.
    for n in HEADER_LEN..ok.len() {
        assert!(parse(&ok[..n]).is_err(), "cut at {n}");
    }
}

#[test]
fn error_indication_ies_round_trip() {
    let mut buf = [0u8; 64];
    for local in ["192.0.2.1", "2001:db8::7"] {
        let local: IpAddr = local.parse().unwrap();
        let n = write_error_indication(&mut buf, 1, 0xdeadbeef, local).unwrap();
        let h = parse(&buf[..n]).unwrap();
        assert_eq!(h.msg_type, msg::ERROR_INDICATION);
        assert_eq!(
            parse_error_indication(h.payload_of(&buf[..n])),
            Some((0xdeadbeef, local))
        );
    }
    assert_eq!(parse_error_indication(&[ie::TEID_DATA_I, 0, 0]), None);
    assert_eq!(
        parse_error_indication(&[ie::GTPU_PEER_ADDRESS, 0, 5, 1, 2, 3, 4, 5]),
        None
    );
    assert_eq!(parse_error_indication(&[]), None);
}

#[test]
fn supported_ext_notification_lists_what_the_parser_knows() {
    let mut buf = [0u8; 32];
    let n = write_supported_ext_notification(&mut buf, 3).unwrap();
    let h = parse(&buf[..n]).unwrap();
    assert_eq!(h.msg_type, msg::SUPPORTED_EXT_HEADERS_NOTIFICATION);
    assert_eq!(h.teid, 0);
    assert_eq!(h.seq, Some(3));
    let ies = h.payload_of(&buf[..n]);
    assert_eq!(ies[0], ie::EXT_HEADER_TYPE_LIST);
    assert_eq!(usize::from(ies[1]), SUPPORTED_EXT.len());
    assert_eq!(&ies[2..], &SUPPORTED_EXT);
    // What it lists, the parser takes without flagging.
    for t in SUPPORTED_EXT {
        let b = chain(&[(t, &[0, 1])], &[]);
        assert_eq!(parse(&b).unwrap().unknown_required, None, "{t:#x}");
    }
}

#[test]
fn builders_refuse_short_buffers() {
    let mut buf = [0u8; 11];
    assert_eq!(write_echo_response(&mut buf, 1), Err(TooShort));
    assert_eq!(
        write_gpdu_header(&mut [0u8; 15], 1, Some(1), 10),
        Err(TooShort)
    );
    assert_eq!(
        write_gpdu_header(&mut [0u8; 8], 1, None, 70000),
        Err(TooShort)
    );
    assert_eq!(write_end_marker(&mut buf[..7], 1), Err(TooShort));
}
