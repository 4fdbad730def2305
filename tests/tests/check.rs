//! `xgw check` rejects each bad config in tests/bad-configs with a one-line
//! message naming the file and the offending key, and accepts the shipped
//! configs.

use std::path::Path;
use std::process::Command;

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(xgw_tests::xgw_bin())
        .arg("check")
        .arg("--config")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn bad_configs_name_their_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bad-configs");
    let cases = [
        (
            "unknown-key.toml",
            "key `ports[0].rx_ring_size`",
            "unknown field",
        ),
        (
            "bad-address.toml",
            "key `ports[0].pass_ipv4[0]`",
            "\"192.0.2.300\" is not an IPv4 address",
        ),
        (
            "missing-port.toml",
            "key `pipeline.l2fwd.pairs[0].b`",
            "no port named \"eats\"",
        ),
        (
            "duplicate-core.toml",
            "key `engine.cores[1]`",
            "listed twice",
        ),
        (
            "tunnel-local-not-ours.toml",
            "key `tunnels[0].local`",
            "192.168.0.9 is none of the interfaces' addresses",
        ),
        (
            "tunnel-bad-kind.toml",
            "key `tunnels[0].kind`",
            "expected 4in4, 6in4, 4in6 or 6in6",
        ),
        (
            "route-unknown-interface.toml",
            "key `routes[0].interface`",
            "no interface named \"tun1\"; configured interfaces and tunnels: lan, wan, tun0",
        ),
        (
            "route-gateway-off-link.toml",
            "key `routes[0].via`",
            "172.16.0.1 is on none of the interfaces' subnets",
        ),
    ];
    for (file, key, what) in cases {
        let (ok, msg) = check(&dir.join(file));
        assert!(!ok, "{file} was accepted");
        assert!(
            msg.contains(file) && msg.contains(key) && msg.contains(what),
            "{file}: {msg}"
        );
        assert_eq!(
            msg.trim_end().lines().count(),
            1,
            "{file}: not one line: {msg}"
        );
    }
}

#[test]
fn shipped_configs_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let (ok, msg) = check(&p);
            assert!(ok, "{}: {msg}", p.display());
            n += 1;
        }
    }
    assert!(n >= 2);
}
