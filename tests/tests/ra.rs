//! Router Advertisements through `xgw replay`, dissected by tshark: a
//! capture holding a Router Solicitation goes in, and every RA that comes
//! out must dissect with the MTU, Prefix Information, RDNSS and PREF64
//! options, a good checksum and no expert warnings. tshark is required:
//! without it the test fails (tests/run.sh installs it).

mod common;

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::process::Command;

use xgw_pipelines::wire::icmpv6;

const CONFIG: &str = r#"
[engine]
cores = [0]

[[ports]]
name = "lan"
driver = "pcap"
mac = "02:00:00:00:0a:01"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "lan"
ipv6 = ["2001:db8:1::1/64", "2001:db8:2::1/64"]
mtu = 1500

[interfaces.ra]
interval = 60
router_lifetime = 1800
other_config = true
rdnss = { servers = ["2001:db8:1::53", "2001:db8:2::53"], lifetime = 600 }
pref64 = { prefix = "64:ff9b::/96", lifetime = 600 }
"#;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xgw-ra-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A Router Solicitation from fe80::99 (02:00:00:00:00:99) with its SLLA.
fn router_solicitation() -> Vec<u8> {
    let src: Ipv6Addr = "fe80::99".parse().unwrap();
    let dst: Ipv6Addr = "ff02::2".parse().unwrap();
    let mac = [0x02, 0, 0, 0, 0, 0x99];
    let mut f = Vec::new();
    f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    // IPv6: payload 16 (RS 8 + SLLA 8), next header 58, hop limit 255
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 16, 58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&[133, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
    f.extend_from_slice(&mac);
    icmpv6::Packet::new_checked(&mut f[54..])
        .unwrap()
        .fill_checksum(src, dst);
    f
}

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run tshark ({e}): install it (apt-get install tshark, or tests/run.sh)")
        });
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn replayed_ra_dissects_cleanly_in_tshark() {
    let (cfg, input, output) = (tmp("ra.toml"), tmp("rs.pcap"), tmp("ra.pcap"));
    std::fs::write(&cfg, CONFIG).unwrap();
    common::write_pcap(&input, &[router_solicitation()]);
    let out = Command::new(xgw_tests::xgw_bin())
        .arg("replay")
        .arg("--config")
        .arg(&cfg)
        .arg(format!("--input=lan={}", input.display()))
        .arg(format!("--output=lan={}", output.display()))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xgw replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ports"][0]["rx"], 1);
    assert_eq!(v["totals"]["local"], 1, "the solicitation is taken: {v}");
    assert_eq!(v["totals"]["dropped"], 0, "{v}");

    let o = output.to_str().unwrap();
    let n = tshark(&[
        "-r",
        o,
        "-Y",
        "icmpv6.type == 134",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    assert!(!n.trim().is_empty(), "no Router Advertisement in {o}");
    let text = tshark(&["-r", o, "-Y", "icmpv6.type == 134", "-V"]);
    let want = [
        "Internet Protocol Version 6",
        "Hop Limit: 255",
        "Source Address: fe80::ff:fe00:a01",
        "Destination Address: ff02::1",
        "Type: Router Advertisement (134)",
        "[Checksum Status: Good]",
        "Cur hop limit: 64",
        "Router lifetime (s): 1800",
        "ICMPv6 Option (Source link-layer address : 02:00:00:00:0a:01)",
        "ICMPv6 Option (MTU : 1500)",
        "ICMPv6 Option (Prefix information : 2001:db8:1::/64)",
        "ICMPv6 Option (Prefix information : 2001:db8:2::/64)",
        "Valid Lifetime: 2592000",
        "Preferred Lifetime: 604800",
        "ICMPv6 Option (Recursive DNS Server 2001:db8:1::53 2001:db8:2::53)",
        "Recursive DNS Servers: 2001:db8:1::53",
        "Recursive DNS Servers: 2001:db8:2::53",
        "ICMPv6 Option (PREF64 Option)",
        "Scaled Lifetime: 75",
        "PLC (Prefix Length Code): 96 bits prefix length (0x0)",
        "Prefix: 64:ff9b::",
    ];
    for w in want {
        assert!(text.contains(w), "tshark -V lacks \"{w}\":\n{text}");
    }
    for bad in [
        "Expert Info (Warning",
        "Expert Info (Error",
        "Malformed",
        "[Checksum Status: Bad]",
    ] {
        assert!(!text.contains(bad), "tshark -V reports \"{bad}\":\n{text}");
    }
    // The expert summary (warnings and errors) over the whole capture,
    // the announcements at start included.
    let expert = tshark(&["-r", o, "-q", "-z", "expert,warn"]);
    assert!(
        !expert.contains("Warns") && !expert.contains("Errors"),
        "tshark expert info:\n{expert}"
    );
}
