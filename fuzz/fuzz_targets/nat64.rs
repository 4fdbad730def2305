//! The stateless translator (SIIT, RFC 7915) under fire, both directions:
//! IPv6 and IPv4 packets from the input, framed for the translator's two
//! ports, with their destination (and optionally source) steered into
//! translated space so that nearly every input reaches nat64-xlat, in
//! bursts. After every burst: no panic, exact accounting, every frame
//! sent well-formed (`check_frame`), and every ICMP or ICMPv6 error sent,
//! whoever its source, has a correct checksum (the translator checks an
//! error's checksum before rebuilding it, so it never vouches for a
//! corrupted one).
//!
//! Three translators: the first input byte picks SIIT (even) or stateful
//! NAT64 (odd: Jool's NAT64 lab, pool4 192.0.2.2 ports 1-3000 shared with
//! the interface address, static bindings; the tables live across
//! inputs, so bindings, sessions, TCP states and timers carry over), the
//! latter with `wkp_strict` (RFC 6052 §3.1) when its bit 1 is set too
//! (the lab's addresses are documentation ones, so it refuses them; the
//! image of 8.8.8.8 and replies from it go through).
//!
//! Input after it: records as `xgw_fuzz::records` reads them (header byte, 16-bit
//! length, bytes): the record is an L3 packet; header bit 0 picks the side
//! (0: IPv6 port, 1: IPv4 port; the EtherType follows the packet's
//! version nibble); the destination is always steered into translated
//! space (pool6 / the IPv4 images; so nothing is merely forwarded, and
//! every ICMP error that comes out was built by xgw), bit 3 steers the
//! source to a mapped host address, bits 4-7 pick among the addresses.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use xgw_fuzz::{csum, records, Rig};

/// The Jool SIIT lab (../shared/conformance/jool): pool6 /40, two EAM
/// entries, an RFC 6791 pool, a 1400-byte IPv4 link (PMTU paths); plus
/// three EAM entries nested in the two that map their addresses the same
/// way, so the table is past the scan's size and the lookups take the
/// tries (longest match among nested prefixes).
const CONFIG: &str = r#"
[engine]
cores = [0]
burst = 32
[engine.umem]
frames = 1024
[[ports]]
name = "v6"
driver = "mem"
mac = "02:00:00:00:06:01"
capacity = 256
[[ports]]
name = "v4"
driver = "mem"
mac = "02:00:00:00:04:01"
capacity = 256
[pipeline]
kind = "router"
[[interfaces]]
name = "v6"
port = "v6"
ipv6 = ["2001:db8:1c0:2:1::/64"]
[[interfaces]]
name = "v4"
port = "v4"
ipv4 = ["198.51.100.1/24"]
mtu = 1400
[[neighbors]]
interface = "v6"
ip = "2001:db8:1c0:2:21::"
mac = "02:00:00:00:06:02"
[[neighbors]]
interface = "v4"
ip = "198.51.100.2"
mac = "02:00:00:00:04:02"
[[routes]]
prefix = "2001:db8:3::/120"
via = "2001:db8:1c0:2:21::"
[[routes]]
prefix = "10.0.0.0/24"
via = "198.51.100.2"
[[routes]]
prefix = "192.0.2.0/24"
interface = "siit0"
[[routes]]
prefix = "1.0.0.0/24"
interface = "siit0"
[[routes]]
prefix = "2001:db8:2::/120"
interface = "siit0"
[nat64]
mode = "siit"
interface = "siit0"
pool6 = "2001:db8:100::/40"
eam = [ { ipv6 = "2001:db8:3::/120", ipv4 = "1.0.0.0/24" }, { ipv6 = "2001:db8:2::/120", ipv4 = "10.0.0.0/24" },
  { ipv6 = "2001:db8:3::80/121", ipv4 = "1.0.0.128/25" }, { ipv6 = "2001:db8:2::40/122", ipv4 = "10.0.0.64/26" },
  { ipv6 = "2001:db8:3::1/128", ipv4 = "1.0.0.1/32" } ]
rfc6791_v4 = "203.0.113.8/32"
lowest_ipv6_mtu = 1280
"#;

/// Jool's NAT64 lab (../shared/conformance/jool, `[translator.nat64]`),
/// with a 1000-byte IPv4 link and short timers; its pool4 range 1-3000
/// split into ten entries, so the pool4 tests take the address index
/// rather than the small-pool scan.
const NAT64_CONFIG: &str = r#"
[engine]
cores = [0]
burst = 32
[engine.umem]
frames = 1024
[[ports]]
name = "v6"
driver = "mem"
mac = "02:00:00:00:06:01"
capacity = 256
[[ports]]
name = "v4"
driver = "mem"
mac = "02:00:00:00:04:01"
capacity = 256
[pipeline]
kind = "router"
[[interfaces]]
name = "v6"
port = "v6"
ipv6 = ["2001:db8::1/96"]
[[interfaces]]
name = "v4"
port = "v4"
ipv4 = ["192.0.2.2/24"]
mtu = 1000
[[neighbors]]
interface = "v6"
ip = "2001:db8::5"
mac = "02:00:00:00:06:02"
[[neighbors]]
interface = "v4"
ip = "192.0.2.5"
mac = "02:00:00:00:04:02"
[[routes]]
prefix = "2001:db8:1::/96"
via = "2001:db8::5"
[[routes]]
prefix = "203.0.113.0/24"
via = "192.0.2.5"
[[routes]]
prefix = "8.8.8.0/24"
via = "192.0.2.5"
[nat64]
mode = "nat64"
pool6 = "64:ff9b::/96"
pool4 = [
  { address = "192.0.2.2", ports = [1, 300] },
  { address = "192.0.2.2", ports = [301, 600] },
  { address = "192.0.2.2", ports = [601, 900] },
  { address = "192.0.2.2", ports = [901, 1200] },
  { address = "192.0.2.2", ports = [1201, 1500] },
  { address = "192.0.2.2", ports = [1501, 1800] },
  { address = "192.0.2.2", ports = [1801, 2100] },
  { address = "192.0.2.2", ports = [2101, 2400] },
  { address = "192.0.2.2", ports = [2401, 2700] },
  { address = "192.0.2.2", ports = [2701, 3000] },
]
static_bib = [
  { protocol = "tcp", ipv6 = "2001:db8::5", ipv6_port = 2000, ipv4 = "192.0.2.2", ipv4_port = 2000 },
  { protocol = "udp", ipv6 = "2001:db8::5", ipv6_port = 2000, ipv4 = "192.0.2.2", ipv4_port = 2000 },
  { protocol = "icmp", ipv6 = "2001:db8::5", ipv6_port = 1, ipv4 = "192.0.2.2", ipv4_port = 1 },
]
max_sessions = 64
timeouts = { udp = 2, tcp_established = 3, tcp_transitory = 1, icmp = 1 }
"#;

/// Stateful steering: IPv6 destinations in pool6 (one of them our own
/// pool4 address: hairpinning), sources on the IPv6 side; IPv4
/// destinations our pool4 address, sources beyond.
const NAT_DST6: [[u8; 16]; 4] = [
    [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 5],
    [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 203, 0, 113, 24],
    [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2],
    [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8],
];
const NAT_SRC6: [[u8; 16]; 2] = [
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
    [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
];
const NAT_DST4: [[u8; 4]; 1] = [[192, 0, 2, 2]];
const NAT_SRC4: [[u8; 4]; 3] = [[192, 0, 2, 5], [203, 0, 113, 24], [8, 8, 8, 8]];

const MAC: [[u8; 6]; 2] = [[2, 0, 0, 0, 6, 1], [2, 0, 0, 0, 4, 1]];
const PEER: [[u8; 6]; 2] = [[2, 0, 0, 0, 6, 2], [2, 0, 0, 0, 4, 2]];

/// Steered IPv6 destinations: pool6 images of the IPv4 side, EAM space.
const DST6: [[u8; 16]; 4] = [
    [
        0x20, 0x01, 0x0d, 0xb8, 0x01, 0xc6, 0x33, 0x64, 0, 0x02, 0, 0, 0, 0, 0, 0,
    ],
    [
        0x20, 0x01, 0x0d, 0xb8, 0x01, 0xc6, 0x33, 0x64, 0, 0x01, 0, 0, 0, 0, 0, 0,
    ],
    [
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05,
    ],
    [
        0x20, 0x01, 0x0d, 0xb8, 0x01, 0x01, 0, 0, 0, 0x09, 0, 0, 0, 0, 0, 0,
    ],
];
const SRC6: [[u8; 16]; 2] = [
    [
        0x20, 0x01, 0x0d, 0xb8, 0x01, 0xc0, 0, 0x02, 0, 0x21, 0, 0, 0, 0, 0, 0,
    ],
    [
        0x20, 0x01, 0x0d, 0xb8, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08,
    ],
];
const DST4: [[u8; 4]; 3] = [[192, 0, 2, 33], [1, 0, 0, 8], [192, 0, 2, 1]];
const SRC4: [[u8; 4]; 2] = [[198, 51, 100, 2], [10, 0, 0, 7]];

thread_local! {
    static RIGS: [RefCell<Rig>; 3] = [
        CONFIG.to_string(),
        NAT64_CONFIG.to_string(),
        strict(NAT64_CONFIG),
    ]
    .map(|c| {
        let mut r = Rig::from_config(&c);
        r.extra = Some(errors_are_whole);
        RefCell::new(r)
    });
}

/// `config` with `wkp_strict = true` in its `[nat64]` table.
fn strict(config: &str) -> String {
    let s = config.replace(
        "mode = \"nat64\"\n",
        "mode = \"nat64\"\nwkp_strict = true\n",
    );
    assert!(s.contains("wkp_strict = true"), "no stateful [nat64] table");
    s
}

/// Every ICMP / ICMPv6 error xgw sends has a right checksum.
fn errors_are_whole(f: &[u8]) -> Result<(), String> {
    let (et, ip) = (u16::from_be_bytes([f[12], f[13]]), &f[14..]);
    match et {
        0x0800 => {
            let ihl = usize::from(ip[0] & 15) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
            let m = &ip[ihl..total];
            if ip[9] == 1
                && !frag
                && m.first().is_some_and(|&t| matches!(t, 3 | 11 | 12))
                && csum(&[m]) != 0
            {
                return Err("ICMPv4 error with a wrong checksum".into());
            }
        }
        0x86dd => {
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            let m = &ip[40..40 + plen];
            if ip[6] == 58 && m.first().is_some_and(|&t| t < 128) {
                let mut ps = [0u8; 40];
                ps[..32].copy_from_slice(&ip[8..40]);
                ps[32..36].copy_from_slice(&(plen as u32).to_be_bytes());
                ps[39] = 58;
                if csum(&[&ps, m]) != 0 {
                    return Err("ICMPv6 error with a wrong checksum".into());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fuzz_target!(|input: &[u8]| {
    let Some((&which, data)) = input.split_first() else {
        return;
    };
    let nat = which & 1 == 1;
    let (dst6, src6, dst4, src4): (&[[u8; 16]], &[[u8; 16]], &[[u8; 4]], &[[u8; 4]]) = if nat {
        (&NAT_DST6, &NAT_SRC6, &NAT_DST4, &NAT_SRC4)
    } else {
        (&DST6, &SRC6, &DST4, &SRC4)
    };
    RIGS.with(|rigs| {
        let k = if !nat {
            0
        } else if which & 2 == 0 {
            1
        } else {
            2
        };
        let mut r = rigs[k].borrow_mut();
        let mut any = false;
        for (i, (_, pkt)) in records(data).enumerate() {
            let h = data_header(data, i);
            let side = usize::from(h & 1);
            let mut l3 = pkt.to_vec();
            let v6 = l3.first().is_some_and(|b| b >> 4 == 6);
            let pick = usize::from(h >> 4);
            if v6 && l3.len() >= 40 {
                l3[24..40].copy_from_slice(&dst6[pick % dst6.len()]);
                if h & 8 != 0 {
                    l3[8..24].copy_from_slice(&src6[pick % src6.len()]);
                }
            } else if !v6 && l3.len() >= 20 {
                l3[16..20].copy_from_slice(&dst4[pick % dst4.len()]);
                if h & 8 != 0 {
                    l3[12..16].copy_from_slice(&src4[pick % src4.len()]);
                }
            }
            let mut f = Vec::with_capacity(14 + l3.len());
            f.extend_from_slice(&MAC[side]);
            f.extend_from_slice(&PEER[side]);
            f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
            f.extend_from_slice(&l3);
            any |= r.inject(side, &f);
        }
        if any {
            r.run();
        }
    });
});

/// The header byte of record `i` (records() gives only its low bits).
fn data_header(mut data: &[u8], i: usize) -> u8 {
    let mut k = 0;
    loop {
        if data.len() < 3 {
            return 0;
        }
        if k == i {
            return data[0];
        }
        let len = usize::from(u16::from_le_bytes([data[1], data[2]]));
        data = &data[3 + len.min(data.len() - 3)..];
        k += 1;
    }
}
