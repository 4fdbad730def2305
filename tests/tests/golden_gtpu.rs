//! GTP-U endpoint golden replays: for each case under tests/golden/gtpu/
//! (its own config.toml: the router with GTP-U endpoints on wan, six
//! sessions, the case's [gtpu] options), the captures go through `xgw
//! replay`; every output must equal, byte for byte and timestamp for
//! timestamp, the expectation scapy built from 3GPP TS 29.281 / TS 38.415
//! and the RFCs (tests/golden/make_gtpu.py), the counters must match
//! expect.json exactly (every drop reason), and tshark must dissect every
//! frame xgw sent without a malformed packet, a checksum complaint or any
//! warning. A case whose expectation xgw does not meet (an xgw bug, named
//! in its expect.json doc) goes in the macro's `ignored:` list with the
//! reason (none today: the four such cases found were fixed); run those
//! with `cargo test --release -p xgw-tests --test golden_gtpu -- --ignored`.
//!
//! tshark is required: without it these tests fail (tests/run.sh and CI
//! install it). The GTP-U codec's own vectors (make_wire.py,
//! wire_vectors.json) share the directory; only its subdirectories are
//! cases.

use std::path::PathBuf;

mod common;
use common::cases::PORTS;
use common::{tshark_present, tshark_problems};

fn golden() -> PathBuf {
    common::cases::golden("gtpu")
}

fn run_case(case: &str) {
    common::cases::run_case("gtpu", case)
}

macro_rules! cases {
    ($($name:ident),* $(,)?; ignored: $($ign:ident = $why:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
        $(
            #[test]
            #[ignore = $why]
            fn $ign() {
                run_case(stringify!($ign));
            }
        )*

        /// Every case directory has a test above (and vice versa).
        #[test]
        fn every_case_is_run() {
            let mut dirs: Vec<String> = std::fs::read_dir(golden())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            dirs.sort();
            let mut listed = vec![$(stringify!($name).to_string(),)* $(stringify!($ign).to_string(),)*];
            listed.sort();
            assert_eq!(dirs, listed, "tests/golden/gtpu/ cases vs. the cases! list");
        }
    };
}

cases!(
    decap,
    encap,
    encap_mtu,
    signalling,
    error_rate,
    hostile,
    mbr,
    gate_dl,
    hairpin,
    encap_frag,
    teid_zero,
    ident_shared,
    udp_checksum;
    ignored:
);

/// The expectations themselves dissect cleanly (a fixture bug shows here
/// rather than as a puzzling xgw failure).
#[test]
fn expectations_dissect_cleanly() {
    tshark_present();
    let mut errs = Vec::new();
    for e in std::fs::read_dir(golden()).unwrap().flatten() {
        if !e.path().is_dir() {
            continue;
        }
        for port in PORTS {
            let p = e.path().join(format!("{port}-out.pcap"));
            if p.exists() {
                let bad = tshark_problems(&p);
                if !bad.is_empty() {
                    errs.push(format!("{}:\n{}", p.display(), bad.join("\n")));
                }
            }
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}
