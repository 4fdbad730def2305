//! Every GTP-U message xgw's codec writes (pipelines/src/wire/gtpu.rs), in
//! Ethernet / IPv4 or IPv6 / UDP 2152 frames, dissected by tshark: no
//! malformed frame, no checksum or expert warning, and the fields tshark
//! reads are the ones written (message type, TEID, sequence number, QFI
//! and PDU type of the PDU Session Container, Recovery, TEID Data I, peer
//! address, the extension header type list's length). tshark is required:
//! without it this test fails.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Command;

use common::{tshark_present, tshark_problems, write_pcap};
use etherparse::PacketBuilder;
use xgw_pipelines::wire::gtpu;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xgw-gtpu-wire-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// `gtp` in UDP 2152 over IPv4 (`v6` false) or IPv6, with real checksums.
fn frame(v6: bool, gtp: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let b = if v6 {
        eth.ipv6(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets(),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets(),
            64,
        )
        .udp(gtpu::PORT, gtpu::PORT)
    } else {
        eth.ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(gtpu::PORT, gtpu::PORT)
    };
    let mut out = Vec::new();
    b.write(&mut out, gtp).unwrap();
    out
}

/// An inner IPv4 / UDP packet (what a G-PDU carries).
fn inner() -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4([10, 45, 0, 2], [198, 51, 100, 7], 64)
        .udp(40000, 40001)
        .write(&mut out, b"xgw gtp-u")
        .unwrap();
    out
}

fn gpdu(teid: u32, qfi: Option<u8>) -> Vec<u8> {
    let i = inner();
    let mut g = vec![0u8; gtpu::gpdu_header_len(qfi.is_some())];
    gtpu::write_gpdu_header(&mut g, teid, qfi, i.len()).unwrap();
    g.extend_from_slice(&i);
    g
}

fn msg(w: impl FnOnce(&mut [u8]) -> Result<usize, gtpu::TooShort>) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = w(&mut buf).unwrap();
    buf[..n].to_vec()
}

/// A frame and the tshark fields that must read as given.
type Case = (Vec<u8>, Vec<(&'static str, String)>);

#[test]
fn tshark_reads_every_message_as_written() {
    tshark_present();
    let peer4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let peer6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7));
    let cases: Vec<Case> = vec![
        (
            frame(false, &gpdu(0x1234, None)),
            vec![
                ("gtp.message", "0xff".into()),
                ("gtp.teid", "0x00001234".into()),
            ],
        ),
        (
            frame(false, &gpdu(0xabcdef01, Some(9))),
            vec![
                ("gtp.message", "0xff".into()),
                ("gtp.teid", "0xabcdef01".into()),
                ("gtp.ext_hdr.pdu_ses_con.pdu_type", "0".into()),
                ("gtp.ext_hdr.pdu_ses_con.qos_flow_id", "9".into()),
            ],
        ),
        (
            frame(true, &gpdu(7, Some(63))),
            vec![
                ("gtp.teid", "0x00000007".into()),
                ("gtp.ext_hdr.pdu_ses_con.qos_flow_id", "63".into()),
            ],
        ),
        (
            frame(false, &msg(|b| gtpu::write_echo_request(b, 0x4321))),
            vec![
                ("gtp.message", "0x01".into()),
                ("gtp.seq_number", "0x4321".into()),
            ],
        ),
        (
            frame(true, &msg(|b| gtpu::write_echo_response(b, 0x4321))),
            vec![
                ("gtp.message", "0x02".into()),
                ("gtp.seq_number", "0x4321".into()),
                ("gtp.recovery", "0".into()),
            ],
        ),
        (
            frame(
                false,
                &msg(|b| gtpu::write_error_indication(b, 1, 0xdeadbeef, peer4)),
            ),
            vec![
                ("gtp.message", "0x1a".into()),
                ("gtp.teid", "0x00000000".into()),
                ("gtp.teid_data", "0xdeadbeef".into()),
                ("gtp.gsn_ipv4", "192.0.2.1".into()),
            ],
        ),
        (
            frame(
                true,
                &msg(|b| gtpu::write_error_indication(b, 2, 0x01020304, peer6)),
            ),
            vec![
                ("gtp.teid_data", "0x01020304".into()),
                ("gtp.gsn_ipv6", "2001:db8::7".into()),
            ],
        ),
        (
            frame(false, &msg(|b| gtpu::write_end_marker(b, 0x55))),
            vec![
                ("gtp.message", "0xfe".into()),
                ("gtp.teid", "0x00000055".into()),
            ],
        ),
        (
            frame(
                false,
                &msg(|b| gtpu::write_supported_ext_notification(b, 3)),
            ),
            vec![
                ("gtp.message", "0x1f".into()),
                (
                    "gtp.num_ext_hdr_types",
                    gtpu::SUPPORTED_EXT.len().to_string(),
                ),
            ],
        ),
    ];
    let pcap = tmp("gtpu.pcap");
    let frames: Vec<&Vec<u8>> = cases.iter().map(|c| &c.0).collect();
    write_pcap(&pcap, &frames);
    let bad = tshark_problems(&pcap);
    assert!(bad.is_empty(), "tshark finds problems:\n{}", bad.join("\n"));
    for (i, (_, want)) in cases.iter().enumerate() {
        let mut args = vec![
            "-r".to_string(),
            pcap.display().to_string(),
            "-n".into(),
            "-Y".into(),
            format!("frame.number == {}", i + 1),
            "-T".into(),
            "fields".into(),
            "-E".into(),
            "occurrence=f".into(),
        ];
        for (f, _) in want {
            args.push("-e".into());
            args.push((*f).into());
        }
        let out = Command::new("tshark").args(&args).output().expect("tshark");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let got: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
        for ((f, w), g) in want.iter().zip(&got) {
            assert_eq!(g, w, "frame {}: {f}", i + 1);
        }
        assert_eq!(got.len(), want.len(), "frame {}: {line}", i + 1);
    }
}
