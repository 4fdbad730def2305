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
            "nat64-wkp-strict-other-prefix.toml",
            "key `nat64.wkp_strict`",
            "applies to the Well-Known Prefix 64:ff9b::/96 only (RFC 6052 §3.1); pool6 is 2001:db8:64::/96",
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
        (
            "iface-prefix-overlap.toml",
            "key `interfaces[1].ipv4[0]`",
            "10.1.0.0/16 overlaps 10.1.5.0/24 of interfaces[0] (\"lan\")",
        ),
        (
            "iface-prefix-overlap-vlan6.toml",
            "key `interfaces[2].ipv6[0]`",
            "2001:db8:a::/48 overlaps 2001:db8:a::/64 of interfaces[1] (\"v10\")",
        ),
        (
            "address-on-two-interfaces.toml",
            "key `interfaces[1].ipv4[0]`",
            "10.1.5.1 is already an address of interfaces[0] (\"lan\")",
        ),
        (
            "address-on-two-tunnels.toml",
            "key `tunnels[1].ipv4[0]`",
            "1.1.1.1 is already an address of tunnels[0] (\"t1\")",
        ),
        (
            "address-on-interface-and-tunnel.toml",
            "key `tunnels[0].ipv4[0]`",
            "10.1.5.1 is already an address of interfaces[0] (\"lan\")",
        ),
        (
            "iface-address-default.toml",
            "key `interfaces[0].ipv4[0]`",
            "0.0.0.0/0 would put every address on this link",
        ),
        (
            "iface-address-loopback.toml",
            "key `interfaces[0].ipv4[0]`",
            "127.0.0.1 is a loopback address (127.0.0.0/8), not an interface address",
        ),
        (
            "iface-address-multicast.toml",
            "key `interfaces[0].ipv4[0]`",
            "224.0.0.1 is a multicast address (224.0.0.0/4), not an interface address",
        ),
        (
            "iface-address-reserved.toml",
            "key `interfaces[0].ipv4[0]`",
            "240.0.0.1 is in the reserved range 240.0.0.0/4",
        ),
        (
            "iface-address-network.toml",
            "key `interfaces[0].ipv4[0]`",
            "10.1.5.0 is the network address of 10.1.5.0/24",
        ),
        (
            "iface-address-broadcast.toml",
            "key `interfaces[0].ipv4[0]`",
            "10.1.5.255 is the broadcast address of 10.1.5.0/24",
        ),
        (
            "iface-ipv6-default.toml",
            "key `interfaces[0].ipv6[0]`",
            "2001:db8:5::1/0 would put every address on this link",
        ),
        (
            "iface-ipv6-unspecified.toml",
            "key `interfaces[0].ipv6[0]`",
            ":: is the unspecified address",
        ),
        (
            "iface-ipv6-loopback.toml",
            "key `interfaces[0].ipv6[0]`",
            "::1 is the loopback address",
        ),
        (
            "iface-ipv6-multicast.toml",
            "key `interfaces[0].ipv6[0]`",
            "ff02::1 is a multicast address (ff00::/8)",
        ),
        (
            "port-mac-broadcast.toml",
            "key `ports[0].mac`",
            "ff:ff:ff:ff:ff:ff is the broadcast address; a port needs a unicast MAC",
        ),
        (
            "port-mac-multicast.toml",
            "key `ports[0].mac`",
            "01:00:5e:00:00:01 is a multicast address (the I/G bit",
        ),
        (
            "port-mac-zero.toml",
            "key `ports[0].mac`",
            "00:00:00:00:00:00 is all zero",
        ),
        (
            "iface-mac-multicast.toml",
            "key `interfaces[0].mac`",
            "03:00:00:00:00:01 is a multicast address",
        ),
        (
            "neighbor-off-subnet.toml",
            "key `neighbors[0].ip`",
            "192.168.0.7 is on none of interface \"lan\"'s subnets (10.1.5.0/24)",
        ),
        (
            "neighbor-our-address.toml",
            "key `neighbors[0].ip`",
            "192.168.0.1 is an address of interfaces[1] (\"wan\"), one of our own",
        ),
        (
            "neighbor-broadcast-ip.toml",
            "key `neighbors[0].ip`",
            "192.168.0.255 is the broadcast address of 192.168.0.0/24",
        ),
        (
            "neighbor-mac-zero.toml",
            "key `neighbors[0].mac`",
            "00:00:00:00:00:00 is all zero; a neighbour needs a unicast MAC",
        ),
        (
            "neighbor-mac-broadcast.toml",
            "key `neighbors[0].mac`",
            "ff:ff:ff:ff:ff:ff is the broadcast address; a neighbour needs",
        ),
        (
            "neighbor-mac-ours.toml",
            "key `neighbors[0].mac`",
            "02:00:00:00:00:01 is one of our own ports' or interfaces' MACs",
        ),
        (
            "route-via-own-address.toml",
            "key `routes[0].via`",
            "10.1.5.1 is an address of interfaces[0] (\"lan\"), one of our own",
        ),
        (
            "route-via-tunnel-local.toml",
            "key `routes[0].via`",
            "192.168.0.1 is the local address of tunnel \"tun0\"",
        ),
        (
            "route-via-tunnel-address.toml",
            "key `routes[0].via`",
            "1.1.1.1 is an address of tunnels[0] (\"tun0\"), one of our own",
        ),
        (
            "route-via-broadcast.toml",
            "key `routes[0].via`",
            "192.168.0.255 is the broadcast address of 192.168.0.0/24",
        ),
        (
            "tunnel-local-is-remote.toml",
            "key `tunnels[0].remote`",
            "192.168.0.1 is also the tunnel's local address",
        ),
        (
            "tunnel-remote-ours.toml",
            "key `tunnels[0].remote`",
            "10.1.5.1 is one of our own interfaces' addresses",
        ),
        (
            "tunnel-remote-tunnel-address.toml",
            "key `tunnels[1].remote`",
            "1.1.1.1 is an address of tunnels[0] (\"t1\")",
        ),
        (
            "tunnel-mtu-range.toml",
            "key `tunnels[0].mtu`",
            "70000 is out of range; expected 68 to 9000",
        ),
        (
            "host-link-local.toml",
            "key `interfaces[0].link_local`",
            "derives the same link-local address from the port's MAC",
        ),
        (
            "iface-mtu-frame.toml",
            "key `interfaces[0].mtu`",
            "1900 needs frames of 1914 bytes, but a UMEM chunk of engine.umem.frame_size 2048 holds at most 1792",
        ),
        (
            "iface-mtu-range.toml",
            "key `interfaces[0].mtu`",
            "70000 is out of range; expected 68 to 9000 (1280, the IPv6 minimum, with IPv6 addresses)",
        ),
        (
            "iface-mtu-ipv6-minimum.toml",
            "key `interfaces[1].mtu`",
            "1000 is below 1280, the IPv6 minimum (RFC 8200 §5), on an interface with IPv6 addresses",
        ),
        (
            "iface-vlan-zero.toml",
            "key `interfaces[0].vlan`",
            "0 is not a VLAN ID; expected 1 to 4094",
        ),
        (
            "iface-vlan-range.toml",
            "key `interfaces[0].vlan`",
            "70000 is not a VLAN ID; expected 1 to 4094",
        ),
        (
            "iface-duplicate-name.toml",
            "key `interfaces[1].name`",
            "\"lan\" is already the name of interfaces[0]",
        ),
        (
            "control-socket-empty.toml",
            "key `control.socket`",
            "empty; expected the path of the control socket",
        ),
        (
            "control-socket-long.toml",
            "key `control.socket`",
            "a path of 114 bytes; a Unix socket path holds at most 107",
        ),
        (
            "value-with-newline.toml",
            "key `ports[1].name`",
            "\"w\\nan\" is not a port name",
        ),
    ];
    let mut listed: Vec<&str> = cases.iter().map(|c| c.0).collect();
    listed.sort_unstable();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort_unstable();
    assert_eq!(listed, files, "each bad config has its row");
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

/// A router config in which `{V}` is replaced.
const ROUTER: &str = r#"
[engine]
cores = [0]

[[ports]]
name = "{NAME}"
driver = "af_xdp"
interface = "eth1"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "{NAME}"
ipv4 = ["{ADDR}"]
mtu = {MTU}
"#;

/// A value of a megabyte anywhere in the file is echoed cut to 64
/// characters and an ellipsis, in our own messages and in serde's and
/// toml's, and the error stays one line.
#[test]
fn long_values_are_clipped() {
    let big = "x".repeat(1 << 20);
    let spaced = "ab ".repeat(1 << 18);
    let good = |t: &str| {
        t.replace("{NAME}", "lan")
            .replace("{ADDR}", "10.1.5.1/24")
            .replace("{MTU}", "1500")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        // our message quoting the value
        (
            "name",
            ROUTER
                .replace("{NAME}", &big)
                .replace("{ADDR}", "10.1.5.1/24")
                .replace("{MTU}", "1500"),
            "key `ports[0].name`",
        ),
        (
            "spaced-name",
            ROUTER
                .replace("{NAME}", &spaced)
                .replace("{ADDR}", "10.1.5.1/24")
                .replace("{MTU}", "1500"),
            "key `ports[0].name`",
        ),
        (
            "address",
            good(ROUTER).replace("10.1.5.1/24", &format!("10.1.5.1/24{big}")),
            "key `interfaces[0].ipv4[0]`",
        ),
        // serde: a string where a number belongs
        (
            "mtu",
            good(ROUTER).replace("mtu = 1500", &format!("mtu = \"{big}\"")),
            "key `interfaces[0].mtu`",
        ),
        // serde: an unknown key, named in the key and the message
        (
            "key",
            good(ROUTER).replace("mtu = 1500", &format!("{big} = 1")),
            "key `interfaces[0].xxxxxxxx",
        ),
        // toml: a bare word is no value (its message quotes no value,
        // and the source excerpt is left out)
        (
            "syntax",
            good(ROUTER).replace("mtu = 1500", &format!("mtu = {big}")),
            "TOML parse error",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("xgw-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, msg) = check(&{
        let p = dir.join("good.toml");
        std::fs::write(&p, good(ROUTER)).unwrap();
        p
    });
    assert!(ok, "the base config is good: {msg}");
    for (name, text, key) in cases {
        let p = dir.join(format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        let (ok, msg) = check(&p);
        assert!(!ok, "{name} was accepted");
        let msg = msg.trim_end();
        assert!(
            msg.len() < 600 && msg.contains(key) && (name == "syntax" || msg.contains('…')),
            "{name}: {} bytes: {}",
            msg.len(),
            msg.chars().take(2000).collect::<String>()
        );
        assert!(
            !msg.contains(&"x".repeat(65)) && !msg.contains(&"ab ".repeat(22)),
            "{name}: a value longer than 64 characters echoed: {msg}"
        );
        assert_eq!(msg.lines().count(), 1, "{name}: not one line: {msg}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
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
    // and every golden test's
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut stack = vec![golden];
    let mut g = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|x| x == "config.toml") {
                let (ok, msg) = check(&p);
                assert!(ok, "{}: {msg}", p.display());
                g += 1;
            }
        }
    }
    assert!(g >= 10, "{g} golden configs");
}
