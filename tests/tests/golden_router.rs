//! Router golden replays: for each case under tests/golden/router/, the
//! capture(s) go through `xgw replay`; every output must equal, byte for
//! byte and timestamp for timestamp, the expectation scapy built from the
//! RFCs (tests/golden/make_router.py), the counters must match
//! expect.json exactly (every drop reason), and tshark must dissect every
//! frame xgw sent without a malformed packet, a checksum complaint or any
//! warning.
//!
//! tshark is required: without it these tests fail (tests/run.sh and CI
//! install it).

use std::path::PathBuf;

mod common;
use common::cases::PORTS;
use common::{tshark_present, tshark_problems};

fn golden() -> PathBuf {
    common::cases::golden("router")
}

fn run_case(case: &str) {
    common::cases::run_case("router", case)
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
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
            let mut listed = vec![$(stringify!($name).to_string()),*];
            listed.sort();
            assert_eq!(dirs, listed, "tests/golden/router/ cases vs. the cases! list");
        }
    };
}

cases!(arp, ndp, echo, forward, vlan, ttl, unreach, mtu, resolve, no_error, malformed, ratelimit,);

/// The expectations themselves dissect cleanly (a fixture bug shows here
/// rather than as a puzzling xgw failure).
#[test]
fn expectations_dissect_cleanly() {
    tshark_present();
    let mut errs = Vec::new();
    for e in std::fs::read_dir(golden()).unwrap().flatten() {
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
