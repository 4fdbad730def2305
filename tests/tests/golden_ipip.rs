//! IP-in-IP tunnel golden replays: for each case under tests/golden/ipip/
//! (its own config.toml: the router with four tunnels, 4in4, 6in4, 4in6
//! and 6in6, and the case's tunnel options), the captures go through
//! `xgw replay`; every output must equal, byte for byte and timestamp for
//! timestamp, the expectation scapy built from the RFCs
//! (tests/golden/make_ipip.py), the counters must match expect.json exactly
//! (every drop reason), and tshark must dissect every frame xgw sent
//! without a malformed packet, a checksum complaint or any warning.
//!
//! tshark is required: without it these tests fail (tests/run.sh and CI
//! install it).

use std::path::PathBuf;

mod common;
use common::cases::PORTS;
use common::{tshark_present, tshark_problems};

fn golden() -> PathBuf {
    common::cases::golden("ipip")
}

fn run_case(case: &str) {
    common::cases::run_case("ipip", case)
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
            let mut listed = vec![$(stringify!($name).to_string(),)*];
            listed.sort();
            assert_eq!(dirs, listed, "tests/golden/ipip/ cases vs. the cases! list");
        }
    };
}

cases!(
    encap_4in4,
    encap_6in4,
    encap_4in6,
    encap_6in6,
    decap_4in4,
    decap_6in4,
    decap_4in6,
    decap_6in6,
    ecn_decap,
    no_match,
    bad_inner,
    ttl_inherit,
    encap_options,
    frag,
    frag_tunnel_mtu,
    relay,
);

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
