//! Jool's graybox vectors (SIIT, RFC 7915; stateful NAT64, RFC 6146)
//! replayed through `xgw replay`.
//!
//! The data set lives outside the repository, in
//! `<workspace>/../shared/conformance/jool` (or wherever `XGW_JOOL_DIR`
//! points); its README.md and manifest.toml describe the cases, the
//! translator configuration they assume, the masks and the replay and
//! matching procedure followed here. The packet files are GPL-2.0: they are
//! read in place at test time, never copied into this repository.
//!
//! For each `[[case]]` in manifest order: skip it (with a printed reason)
//! or write a router config with a `[nat64]` table for the case's mode
//! (`mode = "siit"` or `"nat64"`) and settings, frame the `send` packets
//! into one pcap per side, run `xgw replay`, and match the `expect`
//! packets against what xgw sent on `expect_side` the way the upstream
//! harness does (README "Replaying a case", steps 3 to 6). Masked IPv4
//! header checksums (and the checksums of a quoted IPv4 header or of the
//! ICMPv4 message when those are masked) must still be correct. The
//! replay's counters must add up.
//!
//! NAT64 state. Every case gets a fresh `xgw replay` run (fresh BIB and
//! sessions), so a case with `depends_on` replays the `send` packets of its
//! dependencies (recursively, in manifest order) first, in the same run,
//! then its own. The dependencies' packets are stamped from 1 s, the
//! case's own from 2 s; `xgw replay` stamps each output frame with the
//! capture time of the input frame it came from (a frame xgw originates,
//! such as an ICMP error, with the latest input time of its burst), and
//! frames stamped before the case's first own packet, i.e. the
//! dependencies' output, are left out of the matching. A dependency must
//! share the case's mode and `setup` (one run, one configuration).
//! `xgw replay` reads its inputs port by port (a burst from the first
//! port, then one from the second), not by timestamp: a sequence may
//! change side at most once, and when it starts on v4 and goes on to v6
//! (`nat64.so.success`) the v4 port comes first in the config.
//!
//! Output: one line per case (`PASS id`, `FAIL id: why`, `SKIP id:
//! reason`), then `jool: N passed, M failed, K skipped`. Run with
//! `cargo test -p xgw-tests --test jool -- --nocapture` to see them when
//! everything passes. The xgw binary is not rebuilt by that command: build
//! the workspace first.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use toml::Table;

mod common;
use common::read_pcap;

/// Cases skipped by id, with the reason printed for them. Every id must
/// name a case of the manifest (`manifest_and_skip_table` checks).
const SKIP: &[(&str, &str)] = &[
    (
        "siit.7915.ha1",
        "xgw drops martian IPv4 sources (127/8, 0/8) at ip4-input before any feature, docs/SECURITY.md",
    ),
    (
        "siit.7915.ha2",
        "xgw drops martian IPv4 sources (127/8, 0/8) at ip4-input before any feature, docs/SECURITY.md",
    ),
    (
        "nat64.so.66",
        "a hairpinned IPv6 SYN held as an unsolicited IPv4 SYN: when its time is up, xgw answers the IPv4 \
         side (its own pool4 address), where Jool turns the answer back into ICMPv6 1/4",
    ),
    (
        "siit.7915.ac4",
        "a Hop-by-Hop header that is not first is invalid IPv6 (RFC 8200 §4.1): xgw's ip6-input drops it \
         (ip6.bad_ext_header) before any feature, where Jool answers ICMPv6 1/1",
    ),
];

/// xgw's own ICMPv6 errors carry traffic class 0xc0 (CS6, network
/// control, RFC 4594; its ICMPv4 errors carry TOS 0xc0, which the
/// manifest masks because Linux does the same), where Jool's carry 0: in
/// the expectation of a case tagged `generated-icmp` on the IPv6 side a
/// traffic class of 0 is read as 0xc0. Nothing else is adjusted.
const XGW_ERROR_TRAFFIC_CLASS: u8 = 0xc0;

/// Cases carrying one of these tags are skipped, with the reason.
const SKIP_TAGS: &[(&str, &str)] = &[
    ("jool-option", "depends on a knob only Jool has"),
    (
        "peer-emulation",
        "the replayer would have to act as a router in the middle of the exchange",
    ),
    (
        "linux-host-stack",
        "upstream the expected packet comes from the Linux stack next to Jool, not from the translator",
    ),
];

/// The MACs of xgw's ports and of the replayer's host on each side.
const XGW_MAC_V6: [u8; 6] = [2, 0, 0, 0, 6, 1];
const XGW_MAC_V4: [u8; 6] = [2, 0, 0, 0, 4, 1];
const HOST_MAC_V6: [u8; 6] = [2, 0, 0, 0, 6, 2];
const HOST_MAC_V4: [u8; 6] = [2, 0, 0, 0, 4, 2];
/// The name of the translator's interface in the config, per mode.
const SIIT_IFACE: &str = "siit0";
const NAT64_IFACE: &str = "nat64";
/// `max_sessions` of the NAT64 table (per worker; a replay has one).
const NAT64_MAX_SESSIONS: u32 = 1024;
/// The replay's burst: also the most packets one side of a case's
/// sequence may have, so that a side's packets are read in one go.
const BURST: usize = 32;
/// Capture times (µs) of the dependencies' packets and of the case's own
/// (the n-th packet of the sequence is stamped at its base + n).
const DEPS_T0_US: u64 = 1_000_000;
const OWN_T0_US: u64 = 2_000_000;

// ---------------------------------------------------------------- manifest

fn jool_dir() -> PathBuf {
    match std::env::var_os("XGW_JOOL_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/jool"),
    }
}

/// The data set is not in this repository (GPL-2.0 test data, read in
/// place). Where it is absent and not required (`XGW_JOOL_REQUIRED` unset;
/// tests/run.sh sets it whenever the data set is there, and says in its
/// summary when it is not), the tests that need it say so on stderr and
/// return.
fn data_set_missing(test: &str) -> bool {
    let dir = jool_dir();
    if dir.join("manifest.toml").exists() || std::env::var_os("XGW_JOOL_REQUIRED").is_some() {
        return false;
    }
    eprintln!(
        "SKIP {test}: Jool's data set is not at {} (set XGW_JOOL_DIR; XGW_JOOL_REQUIRED=1 makes this an error)",
        dir.display()
    );
    true
}

struct Case {
    id: String,
    mode: String,
    status: String,
    send: Vec<String>,
    send_side: Vec<String>,
    expect: Vec<String>,
    expect_side: String,
    ignore_offsets: Vec<Vec<usize>>,
    setup: Table,
    depends_on: Vec<String>,
    tags: Vec<String>,
}

struct Manifest {
    dir: PathBuf,
    defaults: Table,
    siit: Table,
    nat64: Table,
    cases: Vec<Case>,
}

fn table<'a>(t: &'a Table, k: &str, what: &str) -> Result<&'a Table, String> {
    t.get(k)
        .and_then(|v| v.as_table())
        .ok_or_else(|| format!("{what}: no table `{k}`"))
}

fn string(t: &Table, k: &str, what: &str) -> Result<String, String> {
    t.get(k)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{what}: `{k}` missing or not a string"))
}

fn int(t: &Table, k: &str, what: &str) -> Result<i64, String> {
    t.get(k)
        .and_then(|v| v.as_integer())
        .ok_or_else(|| format!("{what}: `{k}` missing or not an integer"))
}

fn boolean(t: &Table, k: &str, what: &str) -> Result<bool, String> {
    t.get(k)
        .and_then(|v| v.as_bool())
        .ok_or_else(|| format!("{what}: `{k}` missing or not a boolean"))
}

fn array<'a>(t: &'a Table, k: &str, what: &str) -> Result<&'a [toml::Value], String> {
    t.get(k)
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .ok_or_else(|| format!("{what}: `{k}` missing or not an array"))
}

fn strings(t: &Table, k: &str, what: &str) -> Result<Vec<String>, String> {
    array(t, k, what)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{what}: `{k}` holds a non-string"))
        })
        .collect()
}

fn tables<'a>(t: &'a Table, k: &str, what: &str) -> Result<Vec<&'a Table>, String> {
    array(t, k, what)?
        .iter()
        .map(|v| {
            v.as_table()
                .ok_or_else(|| format!("{what}: `{k}` holds a non-table"))
        })
        .collect()
}

fn parse_case(t: &Table, n: usize) -> Result<Case, String> {
    let what = format!("case[{n}]");
    let id = string(t, "id", &what)?;
    let what = format!("case {id}");
    let ignore_offsets = array(t, "ignore_offsets", &what)?
        .iter()
        .map(|l| {
            l.as_array()
                .and_then(|l| {
                    l.iter()
                        .map(|o| o.as_integer().and_then(|o| usize::try_from(o).ok()))
                        .collect::<Option<Vec<usize>>>()
                })
                .ok_or_else(|| format!("{what}: ignore_offsets is not a list of offset lists"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let c = Case {
        mode: string(t, "mode", &what)?,
        status: string(t, "status", &what)?,
        send: strings(t, "send", &what)?,
        send_side: strings(t, "send_side", &what)?,
        expect: strings(t, "expect", &what)?,
        expect_side: string(t, "expect_side", &what)?,
        ignore_offsets,
        setup: table(t, "setup", &what)?.clone(),
        depends_on: strings(t, "depends_on", &what)?,
        tags: strings(t, "tags", &what)?,
        id,
    };
    if c.send.len() != c.send_side.len() {
        return Err(format!("{what}: send and send_side differ in length"));
    }
    if c.expect.len() != c.ignore_offsets.len() {
        return Err(format!(
            "{what}: expect and ignore_offsets differ in length"
        ));
    }
    for s in c.send_side.iter().chain([&c.expect_side]) {
        if s != "v4" && s != "v6" {
            return Err(format!("{what}: side \"{s}\" is neither v4 nor v6"));
        }
    }
    Ok(c)
}

fn load_manifest() -> Manifest {
    let dir = jool_dir();
    let path = dir.join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the Jool graybox data set is expected at <workspace>/../shared/conformance/jool \
             or wherever XGW_JOOL_DIR points",
            path.display()
        )
    });
    let raw: Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: not valid TOML: {e}", path.display()));
    let load = || -> Result<Manifest, String> {
        let defaults = table(&raw, "defaults", "manifest")?.clone();
        let translator = table(&raw, "translator", "manifest")?;
        let siit = table(translator, "siit", "translator")?.clone();
        let nat64 = table(translator, "nat64", "translator")?.clone();
        let mut cases = Vec::new();
        for (n, t) in tables(&raw, "case", "manifest")?.into_iter().enumerate() {
            let c = parse_case(t, n)?;
            if cases.iter().any(|x: &Case| x.id == c.id) {
                return Err(format!("case id {} appears twice", c.id));
            }
            cases.push(c);
        }
        if cases.is_empty() {
            return Err("no [[case]]".into());
        }
        Ok(Manifest {
            dir: dir.clone(),
            defaults,
            siit,
            nat64,
            cases,
        })
    };
    load().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Why a case is not run, or None if it is. Cases upstream ships but does
/// not run (`status = "not-run"`: the tcp46 group, eb1) are run too.
fn skip_reason(c: &Case) -> Option<String> {
    for (tag, why) in SKIP_TAGS {
        if c.tags.iter().any(|t| t == tag) {
            return Some(format!("tagged {tag}: {why}"));
        }
    }
    SKIP.iter()
        .find(|(id, _)| *id == c.id)
        .map(|(_, why)| why.to_string())
}

// ------------------------------------------------------------------ config

/// An address prefix, host bits cleared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// "addr/len", host bits cleared (the manifest writes host routes as the
/// hosts do, e.g. 2001:db8:1c6:3364::/40; xgw refuses host bits).
fn prefix(s: &str) -> Result<Prefix, String> {
    let bad = || format!("\"{s}\" is not an address prefix");
    let (a, l) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = a.parse().map_err(|_| bad())?;
    let len: u8 = l.parse().map_err(|_| bad())?;
    if len > if addr.is_ipv4() { 32 } else { 128 } {
        return Err(bad());
    }
    Ok(Prefix {
        addr: mask(addr, len),
        len,
    })
}

/// Whether `inner` lies within `outer`.
fn within(inner: Prefix, outer: Prefix) -> bool {
    inner.addr.is_ipv4() == outer.addr.is_ipv4()
        && inner.len >= outer.len
        && mask(inner.addr, outer.len) == outer.addr
}

/// The translator settings of one case: `[translator.<mode>]` and
/// `[defaults]` with the case's `setup` applied.
#[derive(Debug)]
struct Settings {
    /// Stateful NAT64 (`mode = "nat64"`), else SIIT.
    nat64: bool,
    pool6: String,
    /// (IPv6 prefix, IPv4 prefix), baseline then `eam_extra` (SIIT).
    eam: Vec<(String, String)>,
    rfc6791_v4: String,
    rfc6791_v6: String,
    lowest_ipv6_mtu: i64,
    amend_udp_checksum_zero: bool,
    mtu_v4: i64,
    mtu_v6: i64,
    /// How long the replay keeps running after its inputs (cases tagged
    /// `timer` only).
    wait_ms: i64,
}

fn eam_list(v: &[&Table], what: &str) -> Result<Vec<(String, String)>, String> {
    v.iter()
        .map(|e| Ok((string(e, "ipv6", what)?, string(e, "ipv4", what)?)))
        .collect()
}

/// The translator table of a case's mode, and its name.
fn translator<'a>(m: &'a Manifest, mode: &str) -> Result<(&'a Table, &'static str), String> {
    match mode {
        "siit" => Ok((&m.siit, "translator.siit")),
        "nat64" => Ok((&m.nat64, "translator.nat64")),
        _ => Err(format!("mode \"{mode}\" is neither siit nor nat64")),
    }
}

fn settings(m: &Manifest, c: &Case) -> Result<Settings, String> {
    let (t, w) = translator(m, &c.mode)?;
    let nat64 = c.mode == "nat64";
    // Keys only SIIT has, or only some translators have, default to "none".
    let opt_string = |k: &str| match t.get(k) {
        None => Ok(String::new()),
        Some(_) => string(t, k, w),
    };
    let mut s = Settings {
        nat64,
        pool6: string(t, "pool6", w)?,
        eam: match t.get("eam") {
            None => Vec::new(),
            Some(_) => eam_list(&tables(t, "eam", w)?, w)?,
        },
        rfc6791_v4: opt_string("rfc6791_v4")?,
        rfc6791_v6: opt_string("rfc6791_v6")?,
        lowest_ipv6_mtu: int(t, "lowest_ipv6_mtu", w)?,
        amend_udp_checksum_zero: match t.get("amend_udp_checksum_zero") {
            None => false,
            Some(_) => boolean(t, "amend_udp_checksum_zero", w)?,
        },
        mtu_v4: int(&m.defaults, "mtu_v4", "defaults")?,
        mtu_v6: int(&m.defaults, "mtu_v6", "defaults")?,
        wait_ms: int(&m.defaults, "wait_ms", "defaults")?,
    };
    if nat64 && !(s.eam.is_empty() && s.rfc6791_v4.is_empty() && s.rfc6791_v6.is_empty()) {
        return Err(format!(
            "{w}: EAM entries or RFC 6791 pools have no xgw equivalent in stateful NAT64"
        ));
    }
    let u = &c.setup;
    let w = "setup";
    for k in u.keys() {
        match (k.as_str(), nat64) {
            ("pool6", _) => s.pool6 = string(u, k, w)?,
            ("eam_extra", false) => s.eam.extend(eam_list(&tables(u, k, w)?, w)?),
            ("rfc6791_v4", false) => s.rfc6791_v4 = string(u, k, w)?,
            ("rfc6791_v6", false) => s.rfc6791_v6 = string(u, k, w)?,
            ("lowest_ipv6_mtu", _) => s.lowest_ipv6_mtu = int(u, k, w)?,
            ("amend_udp_checksum_zero", _) => s.amend_udp_checksum_zero = boolean(u, k, w)?,
            ("mtu_v4", _) => s.mtu_v4 = int(u, k, w)?,
            ("mtu_v6", _) => s.mtu_v6 = int(u, k, w)?,
            // A case that waits for a timer: the replay lingers that long
            // after its inputs (`xgw replay --linger-ms`).
            ("wait_ms", _) => s.wait_ms = int(u, k, w)?,
            // zeroize_traffic_class, source_icmpv6_errors_better,
            // max_stored_v4_syns (Jool-only knobs), and SIIT keys in a
            // NAT64 case.
            _ => {
                return Err(format!(
                    "setup key `{k}` has no xgw equivalent{}",
                    if nat64 { " in stateful NAT64" } else { "" }
                ))
            }
        }
    }
    if nat64 && s.pool6.is_empty() {
        return Err("stateful NAT64 needs a pool6 prefix".into());
    }
    Ok(s)
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

/// A manifest string list that may be absent (empty then).
fn opt_strings(t: &Table, k: &str, what: &str) -> Result<Vec<String>, String> {
    match t.get(k) {
        None => Ok(Vec::new()),
        Some(_) => strings(t, k, what),
    }
}

/// `[a, b]` of integers.
fn int_pair(t: &Table, k: &str, what: &str) -> Result<[i64; 2], String> {
    let v = array(t, k, what)?
        .iter()
        .map(toml::Value::as_integer)
        .collect::<Option<Vec<i64>>>();
    match v.as_deref() {
        Some(&[a, b]) => Ok([a, b]),
        _ => Err(format!("{what}: `{k}` is not a pair of integers")),
    }
}

/// The xgw config for one case: the router pipeline with a port and an
/// interface per side (the side in `first_side` first), static neighbours
/// for the hosts, routes via the hosts, and the `[nat64]` table of the
/// case's mode.
fn config_toml(m: &Manifest, s: &Settings, first_side: &str) -> Result<String, String> {
    let (t, w) = translator(m, if s.nat64 { "nat64" } else { "siit" })?;
    let if6 = table(t, "interface_v6", w)?;
    let if4 = table(t, "interface_v4", w)?;
    let h6 = table(t, "host_v6", w)?;
    let h4 = table(t, "host_v4", w)?;
    let (h6_addr, h4_addr) = (
        string(h6, "address", "host_v6")?,
        string(h4, "address", "host_v4")?,
    );
    let mut c = String::new();
    // Jumbo cases carry 2153-byte IPv4 packets: a 4 KiB frame holds them.
    let umem = if s.mtu_v4 > 1500 || s.mtu_v6 > 1500 {
        "\n[engine.umem]\nframe_size = 4096\n"
    } else {
        ""
    };
    let what = if s.nat64 { "stateful NAT64" } else { "SIIT" };
    let _ = write!(
        c,
        r#"# xgw-tests jool.rs: {what} with the Jool graybox configuration.
[engine]
cores = [0]
burst = {BURST}
{umem}"#
    );
    let port = |side: &str, mac: [u8; 6]| {
        format!(
            "\n[[ports]]\nname = \"{side}\"\ndriver = \"pcap\"\nmac = \"{}\"\n",
            fmt_mac(mac)
        )
    };
    let (p6, p4) = (port("v6", XGW_MAC_V6), port("v4", XGW_MAC_V4));
    if first_side == "v4" {
        c.push_str(&p4);
        c.push_str(&p6);
    } else {
        c.push_str(&p6);
        c.push_str(&p4);
    }
    let _ = write!(
        c,
        r#"
[pipeline]
kind = "router"

[[interfaces]]
name = "v6"
port = "v6"
ipv6 = ["{}/{}"]
mtu = {}

[[interfaces]]
name = "v4"
port = "v4"
ipv4 = ["{}/{}"]
mtu = {}

[[neighbors]]
interface = "v6"
ip = "{h6_addr}"
mac = "{}"

[[neighbors]]
interface = "v4"
ip = "{h4_addr}"
mac = "{}"
"#,
        string(if6, "address", "interface_v6")?,
        int(if6, "prefix_len", "interface_v6")?,
        s.mtu_v6,
        string(if4, "address", "interface_v4")?,
        int(if4, "prefix_len", "interface_v4")?,
        s.mtu_v4,
        fmt_mac(HOST_MAC_V6),
        fmt_mac(HOST_MAC_V4),
    );
    // Routes via the hosts: the translator's own routes, and what lives
    // behind each host.
    let mut seen: Vec<Prefix> = Vec::new();
    let mut via = Vec::new();
    let routes = table(t, "routes", w)?;
    let wr = format!("{w}.routes");
    for fam in ["ipv6", "ipv4"] {
        for r in tables(routes, fam, &wr)? {
            via.push((string(r, "prefix", &wr)?, string(r, "via", &wr)?));
        }
    }
    let (behind6, behind4) = (
        opt_strings(h6, "also_behind", "host_v6")?,
        opt_strings(h4, "also_behind", "host_v4")?,
    );
    via.extend(behind6.iter().map(|p| (p.clone(), h6_addr.clone())));
    via.extend(behind4.iter().map(|p| (p.clone(), h4_addr.clone())));
    for (p, gw) in via {
        let p = prefix(&p)?;
        if !seen.contains(&p) {
            seen.push(p);
            let _ = write!(c, "\n[[routes]]\nprefix = \"{p}\"\nvia = \"{gw}\"\n");
        }
    }
    if s.nat64 {
        // xgw routes pool6 into the translator itself, and pool4 is ours.
        nat64_table(&mut c, t, s)?;
        return Ok(c);
    }
    // Routes into the translator: what the hosts send to it, and the other
    // side of each EAM entry that lives behind a host.
    let mut into = Vec::new();
    for h in [h6, h4] {
        for r in tables(h, "routes", "host routes")? {
            into.push(prefix(&string(r, "prefix", "host routes")?)?);
        }
    }
    let (behind6, behind4) = (
        behind6
            .iter()
            .map(|p| prefix(p))
            .collect::<Result<Vec<_>, _>>()?,
        behind4
            .iter()
            .map(|p| prefix(p))
            .collect::<Result<Vec<_>, _>>()?,
    );
    for (p6, p4) in &s.eam {
        let (p6, p4) = (prefix(p6)?, prefix(p4)?);
        if behind6.iter().any(|b| within(p6, *b)) {
            into.push(p4);
        }
        if behind4.iter().any(|b| within(p4, *b)) {
            into.push(p6);
        }
    }
    for p in into {
        if !seen.contains(&p) {
            seen.push(p);
            let _ = write!(
                c,
                "\n[[routes]]\nprefix = \"{p}\"\ninterface = \"{SIIT_IFACE}\"\n"
            );
        }
    }
    let _ = write!(
        c,
        "\n[nat64]\nmode = \"siit\"\ninterface = \"{SIIT_IFACE}\"\n"
    );
    if !s.pool6.is_empty() {
        let _ = writeln!(c, "pool6 = \"{}\"", s.pool6);
    }
    let eam: Vec<String> = s
        .eam
        .iter()
        .map(|(a, b)| format!("{{ ipv6 = \"{a}\", ipv4 = \"{b}\" }}"))
        .collect();
    let _ = writeln!(c, "eam = [{}]", eam.join(", "));
    if !s.rfc6791_v4.is_empty() {
        let _ = writeln!(c, "rfc6791_v4 = \"{}\"", s.rfc6791_v4);
    }
    if !s.rfc6791_v6.is_empty() {
        let _ = writeln!(c, "rfc6791_v6 = \"{}\"", s.rfc6791_v6);
    }
    let _ = write!(
        c,
        "lowest_ipv6_mtu = {}\namend_udp_checksum_zero = {}\n",
        s.lowest_ipv6_mtu, s.amend_udp_checksum_zero
    );
    Ok(c)
}

/// The `[nat64]` table in stateful mode, from `[translator.nat64]`.
/// Keys of that table xgw has no knob for are left out:
/// `drop_icmpv6_info` (false, as xgw: ICMPv6 echo is translated),
/// `source_icmpv6_errors_better` and `zeroize_traffic_class` (Jool-only;
/// the cases that change them are tagged `jool-option`),
/// `max_stored_v4_syns` and `timeouts_s.tcp_incoming_syn` are xgw's keys
/// of the same names (held IPv4 SYNs for a simultaneous open).
fn nat64_table(c: &mut String, t: &Table, s: &Settings) -> Result<(), String> {
    let w = "translator.nat64";
    let mut pool4 = Vec::new();
    for p in tables(t, "pool4", w)? {
        let wp = "translator.nat64.pool4";
        let [lo, hi] = int_pair(p, "ports", wp)?;
        let protos: Vec<String> = strings(p, "protocols", wp)?
            .iter()
            .map(|x| format!("\"{x}\""))
            .collect();
        pool4.push(format!(
            "{{ address = \"{}\", ports = [{lo}, {hi}], protocols = [{}] }}",
            string(p, "address", wp)?,
            protos.join(", ")
        ));
    }
    let mut bib = Vec::new();
    for b in tables(t, "static_bib", w)? {
        let wb = "translator.nat64.static_bib";
        bib.push(format!(
            "{{ protocol = \"{}\", ipv6 = \"{}\", ipv6_port = {}, ipv4 = \"{}\", ipv4_port = {} }}",
            string(b, "protocol", wb)?,
            string(b, "ipv6", wb)?,
            int(b, "ipv6_port", wb)?,
            string(b, "ipv4", wb)?,
            int(b, "ipv4_port", wb)?,
        ));
    }
    let to = table(t, "timeouts_s", w)?;
    let wt = "translator.nat64.timeouts_s";
    let _ = write!(
        c,
        "\n[nat64]\nmode = \"nat64\"\ninterface = \"{NAT64_IFACE}\"\npool6 = \"{}\"\n\
         pool4 = [{}]\nstatic_bib = [\n  {},\n]\nlowest_ipv6_mtu = {}\n\
         amend_udp_checksum_zero = {}\nmax_sessions = {NAT64_MAX_SESSIONS}\n\
         timeouts = {{ udp = {}, tcp_established = {}, tcp_transitory = {}, icmp = {}, \
         tcp_incoming_syn = {} }}\n\
         address_dependent_filtering = {}\ndrop_externally_initiated_tcp = {}\n\
         max_stored_v4_syns = {}\n",
        s.pool6,
        pool4.join(", "),
        bib.join(",\n  "),
        s.lowest_ipv6_mtu,
        s.amend_udp_checksum_zero,
        int(to, "udp", wt)?,
        int(to, "tcp_established", wt)?,
        int(to, "tcp_transitory", wt)?,
        int(to, "icmp", wt)?,
        int(to, "tcp_incoming_syn", wt)?,
        boolean(t, "address_dependent_filtering", w)?,
        boolean(t, "drop_externally_initiated_tcp", w)?,
        int(t, "max_stored_v4_syns", w)?,
    );
    Ok(())
}

// ------------------------------------------------------------------ frames

/// An Ethernet frame carrying the layer-3 packet `pkt`, padded to 60
/// bytes.
fn frame(dst: [u8; 6], src: [u8; 6], pkt: &[u8]) -> Result<Vec<u8>, String> {
    let ethertype: u16 = match pkt.first().map(|b| b >> 4) {
        Some(4) => 0x0800,
        Some(6) => 0x86dd,
        _ => return Err("a packet that is neither IPv4 nor IPv6".into()),
    };
    let mut f = Vec::with_capacity(pkt.len().max(46) + 14);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(pkt);
    f.resize(f.len().max(60), 0);
    Ok(f)
}

/// A little-endian µs pcap file (Ethernet) of (timestamp µs, frame).
fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut out = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (us, f) in frames {
        let len = f.len() as u32;
        for w in [(us / 1_000_000) as u32, (us % 1_000_000) as u32, len, len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The IP packet an Ethernet frame carries (one 802.1Q tag skipped), cut
/// to its IP-declared length; None for anything else (ARP, …).
fn ip_packet(frame: &[u8]) -> Option<Vec<u8>> {
    let be16 = |b: &[u8], o: usize| -> Option<usize> {
        Some(usize::from(u16::from_be_bytes(
            b.get(o..o + 2)?.try_into().ok()?,
        )))
    };
    let (mut ethertype, mut off) = (be16(frame, 12)?, 14);
    if ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = be16(frame, 16)?;
        off = 18;
    }
    if ethertype != 0x0800 && ethertype != 0x86dd {
        return None;
    }
    let p = &frame[off..];
    let declared = match p.first().map(|b| b >> 4) {
        Some(4) => be16(p, 2),
        Some(6) => be16(p, 4).map(|l| l + 40),
        _ => None,
    };
    // A bogus length is kept whole: the comparison will show it.
    Some(p[..declared.unwrap_or(p.len()).min(p.len())].to_vec())
}

/// (source, destination) of an IP packet.
fn addrs(p: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match p.first()? >> 4 {
        4 if p.len() >= 20 => {
            let a =
                |o: usize| IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&p[o..o + 4]).unwrap()));
            Some((a(12), a(16)))
        }
        6 if p.len() >= 40 => {
            let a =
                |o: usize| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&p[o..o + 16]).unwrap()));
            Some((a(8), a(24)))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- matching

/// Whether the Internet checksum over `b` verifies (sums to 0xffff).
fn checksum_ok(b: &[u8]) -> bool {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// Checksums hidden by the masks that must still verify in `got`: the
/// IPv4 header's (10, 11 masked); for an ICMPv4 message, the ICMPv4
/// checksum (its bytes 2, 3 masked) and the quoted IPv4 header's (its
/// bytes 10, 11 masked).
fn masked_checksums(got: &[u8], ignore: &[usize]) -> Vec<String> {
    let mut bad = Vec::new();
    if got.first().map(|b| b >> 4) != Some(4) {
        return bad;
    }
    let masked = |o: usize| ignore.contains(&o) && ignore.contains(&(o + 1));
    let ihl = usize::from(got[0] & 0xf) * 4;
    if ihl < 20 || got.len() < ihl {
        return bad;
    }
    if masked(10) && !checksum_ok(&got[..ihl]) {
        bad.push("IPv4 header checksum (masked) is wrong".into());
    }
    if got[9] != 1 {
        return bad;
    }
    if masked(ihl + 2) && got.len() >= ihl + 4 && !checksum_ok(&got[ihl..]) {
        bad.push("ICMPv4 checksum (masked) is wrong".into());
    }
    let inner = ihl + 8;
    if masked(inner + 10) && got.len() >= inner + 20 && got[inner] >> 4 == 4 {
        let ihl2 = usize::from(got[inner] & 0xf) * 4;
        if ihl2 >= 20 && got.len() >= inner + ihl2 && !checksum_ok(&got[inner..inner + ihl2]) {
            bad.push(format!(
                "quoted IPv4 header checksum (masked, at {}) is wrong",
                inner + 10
            ));
        }
    }
    bad
}

/// Compares a received packet with the expected one: equal length, every
/// byte equal except at `ignore`, masked checksums still correct.
fn compare(got: &[u8], want: &[u8], ignore: &[usize]) -> Result<(), String> {
    let mut why = Vec::new();
    if got.len() != want.len() {
        why.push(format!("{} bytes, expected {}", got.len(), want.len()));
    }
    let diffs: Vec<usize> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(i, (g, w))| g != w && !ignore.contains(i))
        .map(|(i, _)| i)
        .collect();
    if !diffs.is_empty() {
        let shown: Vec<String> = diffs
            .iter()
            .take(6)
            .map(|&i| format!("@{i} got {:02x} want {:02x}", got[i], want[i]))
            .collect();
        why.push(format!(
            "{} byte(s) differ: {}{}",
            diffs.len(),
            shown.join(", "),
            if diffs.len() > 6 { ", …" } else { "" }
        ));
    }
    why.extend(masked_checksums(got, ignore));
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

struct Expected {
    name: String,
    bytes: Vec<u8>,
    ignore: Vec<usize>,
}

fn fmt_addrs(a: Option<(IpAddr, IpAddr)>) -> String {
    match a {
        Some((s, d)) => format!("{s} -> {d}"),
        None => "(no addresses)".into(),
    }
}

/// Matches the expected packets in order against the captured ones (README
/// step 6): for each, captured packets with other addresses are skipped,
/// and the first one with the same addresses must equal it.
fn match_all(captured: &[Vec<u8>], expected: &[Expected]) -> Result<(), String> {
    let mut next = 0;
    for (k, w) in expected.iter().enumerate() {
        let Some(want) = addrs(&w.bytes) else {
            return Err(format!("{}: not an IP packet", w.name));
        };
        let Some(j) = captured[next..].iter().position(|p| addrs(p) == Some(want)) else {
            return Err(format!(
                "expected packet {} of {} ({}, {}, {} bytes) not seen",
                k + 1,
                expected.len(),
                w.name,
                fmt_addrs(Some(want)),
                w.bytes.len()
            ));
        };
        compare(&captured[next + j], &w.bytes, &w.ignore).map_err(|e| {
            format!(
                "expected packet {} of {} ({}): {e}",
                k + 1,
                expected.len(),
                w.name
            )
        })?;
        next += j + 1;
    }
    Ok(())
}

// ------------------------------------------------------------------ replay

/// rx + emitted = tx + local + dropped + pending over the replay's totals.
fn check_totals(v: &Value) -> Result<(), String> {
    let t = &v["totals"];
    let n = |k: &str| {
        t[k].as_u64()
            .map(u128::from)
            .ok_or_else(|| format!("replay JSON: totals.{k} missing"))
    };
    let (lhs, rhs) = (
        n("rx")? + n("emitted")?,
        n("tx")? + n("local")? + n("dropped")? + n("pending")?,
    );
    if lhs != rhs {
        return Err(format!(
            "counters do not add up (rx + emitted = {lhs}, tx + local + dropped + pending = {rhs}): {t}"
        ));
    }
    Ok(())
}

/// What xgw did with the input, for a failure message: the drop reasons
/// and the IP packets that went out on each port (its multicast
/// announcements left out).
fn what_happened(v: &Value, captured: &[(&str, Vec<Vec<u8>>)]) -> String {
    let mut s: Vec<String> = captured
        .iter()
        .map(|(side, pkts)| {
            let pkts: Vec<&Vec<u8>> = pkts
                .iter()
                .filter(|p| !addrs(p).is_some_and(|(_, d)| d.is_multicast()))
                .collect();
            let list: Vec<String> = pkts.iter().take(3).map(|p| fmt_addrs(addrs(p))).collect();
            if pkts.is_empty() {
                format!("{side}: nothing")
            } else {
                format!(
                    "{side}: {} IP packet(s) [{}{}]",
                    pkts.len(),
                    list.join(", "),
                    if pkts.len() > 3 { ", …" } else { "" }
                )
            }
        })
        .collect();
    if let Some(d) = v["drops"].as_object() {
        let drops: Vec<String> = d
            .iter()
            .map(|(r, x)| format!("{r}={}", x["count"]))
            .collect();
        if !drops.is_empty() {
            s.push(format!("drops: {}", drops.join(" ")));
        }
    }
    format!("sent {}", s.join("; "))
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

/// One packet of a replay: its file, its side, and whether it is the
/// case's own (else a dependency's).
struct Send<'a> {
    path: &'a str,
    side: &'a str,
    own: bool,
}

/// What a case's replay sends: the `send` packets of its dependencies
/// (recursively, in manifest order), then its own. The dependencies must
/// share its mode and `setup`.
fn sequence<'a>(m: &'a Manifest, c: &'a Case) -> Result<Vec<Send<'a>>, String> {
    let mut deps: Vec<usize> = Vec::new();
    let mut todo: Vec<&str> = c.depends_on.iter().map(String::as_str).collect();
    while let Some(id) = todo.pop() {
        if id == c.id {
            return Err("depends on itself (a dependency cycle)".into());
        }
        let Some(i) = m.cases.iter().position(|x| x.id == id) else {
            return Err(format!(
                "depends on {id}, which is not a case of the manifest"
            ));
        };
        if !deps.contains(&i) {
            deps.push(i);
            todo.extend(m.cases[i].depends_on.iter().map(String::as_str));
        }
    }
    deps.sort_unstable();
    let mut out = Vec::new();
    for d in deps.iter().map(|&i| &m.cases[i]) {
        if d.mode != c.mode || d.setup != c.setup {
            return Err(format!(
                "depends on {}, which has another mode or setup (one replay, one configuration)",
                d.id
            ));
        }
        out.extend(d.send.iter().zip(&d.send_side).map(|(p, s)| Send {
            path: p,
            side: s,
            own: false,
        }));
    }
    out.extend(c.send.iter().zip(&c.send_side).map(|(p, s)| Send {
        path: p,
        side: s,
        own: true,
    }));
    Ok(out)
}

/// The side whose port comes first in the config, so that `xgw replay`,
/// which reads a burst from each port in turn, takes the packets in
/// sequence order: the side of the first packet when the sequence changes
/// side once, v6 otherwise. A sequence that changes side more than once,
/// or has more than a burst on one side, cannot be replayed in order.
fn first_side(seq: &[Send<'_>]) -> Result<&'static str, String> {
    let changes = seq.windows(2).filter(|w| w[0].side != w[1].side).count();
    if changes > 1 {
        return Err(format!(
            "the sequence changes side {changes} times: xgw replay reads its inputs port by port, \
             so only a sequence that changes side once keeps its order"
        ));
    }
    for side in ["v6", "v4"] {
        let n = seq.iter().filter(|x| x.side == side).count();
        if n > BURST {
            return Err(format!(
                "{n} packets on {side}, more than a burst ({BURST}): the sequence order would not hold"
            ));
        }
    }
    Ok(match seq.first() {
        Some(x) if changes == 1 && x.side == "v4" => "v4",
        _ => "v6",
    })
}

fn run_case(xgw: &Path, m: &Manifest, c: &Case, dir: &Path) -> Result<(), String> {
    let s = settings(m, c)?;
    let seq = sequence(m, c)?;
    let first = first_side(&seq)?;
    let config = dir.join("config.toml");
    std::fs::write(&config, config_toml(m, &s, first)?).map_err(|e| e.to_string())?;
    let sides = [
        ("v6", XGW_MAC_V6, HOST_MAC_V6),
        ("v4", XGW_MAC_V4, HOST_MAC_V4),
    ];
    // Output stamped before the case's first own packet is the
    // dependencies'.
    let own_from_ns = seq
        .iter()
        .position(|x| x.own)
        .map_or(0, |i| (OWN_T0_US + i as u64) * 1000);
    let mut cmd = Command::new(xgw);
    cmd.arg("replay").arg("--config").arg(&config).arg("--json");
    if c.tags.iter().any(|t| t == "timer") {
        cmd.arg(format!("--linger-ms={}", s.wait_ms));
    }
    for (side, xgw_mac, host_mac) in sides {
        let mut frames = Vec::new();
        for (i, x) in seq.iter().enumerate().filter(|(_, x)| x.side == side) {
            let p = x.path;
            let pkt = std::fs::read(m.dir.join(p)).map_err(|e| format!("{p}: {e}"))?;
            let version = if side == "v6" { 6 } else { 4 };
            if pkt.first().map(|b| b >> 4) != Some(version) {
                return Err(format!("{p} is sent on {side} but is not IPv{version}"));
            }
            let t0 = if x.own { OWN_T0_US } else { DEPS_T0_US };
            frames.push((t0 + i as u64, frame(xgw_mac, host_mac, &pkt)?));
        }
        if !frames.is_empty() {
            let input = dir.join(format!("{side}-in.pcap"));
            write_pcap(&input, &frames);
            cmd.arg(format!("--input={side}={}", input.display()));
        }
        cmd.arg(format!(
            "--output={side}={}",
            dir.join(format!("{side}-out.pcap")).display()
        ));
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", xgw.display()))?;
    if !out.status.success() {
        return Err(format!(
            "xgw replay failed ({}): {}",
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("xgw replay --json printed no JSON: {e}"))?;
    let mut earlier = 0;
    let captured: Vec<(&str, Vec<Vec<u8>>)> = ["v6", "v4"]
        .into_iter()
        .map(|side| {
            let recs = read_pcap(&dir.join(format!("{side}-out.pcap")));
            earlier += recs.iter().filter(|r| r.ts_ns < own_from_ns).count();
            (
                side,
                recs.iter()
                    .filter(|r| r.ts_ns >= own_from_ns)
                    .filter_map(|r| ip_packet(&r.data))
                    .collect(),
            )
        })
        .collect();
    let expected = c
        .expect
        .iter()
        .zip(&c.ignore_offsets)
        .map(|(p, ignore)| {
            let mut bytes = std::fs::read(m.dir.join(p)).map_err(|e| format!("{p}: {e}"))?;
            let generated = c.tags.iter().any(|t| t == "generated-icmp");
            if generated && bytes.len() >= 40 && bytes[0] == 0x60 && bytes[1] >> 4 == 0 {
                bytes[0] |= XGW_ERROR_TRAFFIC_CLASS >> 4;
                bytes[1] |= XGW_ERROR_TRAFFIC_CLASS << 4;
            }
            Ok(Expected {
                name: p.rsplit('/').next().unwrap_or(p).to_string(),
                bytes,
                ignore: ignore.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let on_side = &captured
        .iter()
        .find(|(side, _)| *side == c.expect_side)
        .expect("a side")
        .1;
    let happened = || {
        let mut s = what_happened(&v, &captured);
        if earlier > 0 {
            let _ = write!(
                s,
                "; {earlier} frame(s) stamped before the case's own packets (its dependencies') left out"
            );
        }
        s
    };
    let mut why = Vec::new();
    if expected.is_empty() {
        // "Must be dropped" (README; no current case is of that kind).
        if captured.iter().any(|(_, p)| !p.is_empty()) {
            why.push(format!("expected nothing out, but {}", happened()));
        }
    } else if let Err(e) = match_all(on_side, &expected) {
        why.push(format!("on {}: {e} ({})", c.expect_side, happened()));
    }
    if let Err(e) = check_totals(&v) {
        why.push(e);
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

#[test]
fn jool_conformance() {
    if data_set_missing("jool_conformance") {
        return;
    }
    let m = load_manifest();
    let xgw = xgw_tests::xgw_bin();
    let base = std::env::temp_dir().join(format!("xgw-jool-{}", std::process::id()));
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    for c in &m.cases {
        if let Some(why) = skip_reason(c) {
            println!("SKIP {}: {why}", c.id);
            skipped += 1;
            continue;
        }
        let dir = base.join(&c.id);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let res =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(&xgw, &m, c, &dir)))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| p.downcast_ref::<&str>().copied())
                        .unwrap_or("panic");
                    Err(format!("runner panicked: {msg}"))
                });
        match res {
            Ok(()) => {
                let note = if c.status == "not-run" {
                    " (shipped but not run upstream)"
                } else {
                    ""
                };
                println!("PASS {}{note}", c.id);
                passed += 1;
                let _ = std::fs::remove_dir_all(&dir);
            }
            Err(why) => {
                println!("FAIL {}: {why}", c.id);
                failed.push(c.id.as_str());
            }
        }
    }
    println!(
        "jool: {passed} passed, {} failed, {skipped} skipped",
        failed.len()
    );
    if failed.is_empty() {
        let _ = std::fs::remove_dir_all(&base);
    } else {
        println!(
            "configs, inputs and xgw's output of the failed cases are kept in {}",
            base.display()
        );
    }
    assert!(
        failed.is_empty(),
        "{} Jool case(s) failed: {}{} (run with -- --nocapture for the per-case lines)",
        failed.len(),
        failed[..failed.len().min(12)].join(" "),
        if failed.len() > 12 { " …" } else { "" }
    );
}

/// The manifest reads, its packet files exist, every id in `SKIP` names
/// one of its cases (once), and every case that is run has a config and a
/// replayable sequence (its dependencies exist and share its setup).
#[test]
fn manifest_and_skip_table() {
    if data_set_missing("manifest_and_skip_table") {
        return;
    }
    let m = load_manifest();
    let mut errs = Vec::new();
    for (i, (id, why)) in SKIP.iter().enumerate() {
        if !m.cases.iter().any(|c| c.id == *id) {
            errs.push(format!(
                "SKIP names {id}, which is not a case of the manifest (stale entry)"
            ));
        }
        if SKIP[..i].iter().any(|(x, _)| x == id) {
            errs.push(format!("SKIP names {id} twice"));
        }
        if why.trim().is_empty() {
            errs.push(format!("SKIP gives no reason for {id}"));
        }
    }
    for c in &m.cases {
        for p in c.send.iter().chain(&c.expect) {
            if !m.dir.join(p).is_file() {
                errs.push(format!("{}: {p} does not exist", c.id));
            }
        }
        let ready = || -> Result<String, String> {
            let s = settings(&m, c)?;
            let first = first_side(&sequence(&m, c)?)?;
            config_toml(&m, &s, first)
        };
        if let Err(e) = ready() {
            // Skipped cases may use keys xgw has no equivalent for.
            if skip_reason(c).is_none() {
                errs.push(format!("{}: {e}", c.id));
            }
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

// ------------------------------------------------------ the matcher's tests

/// A 20-byte IPv4 header + `payload`, checksum filled in.
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    fix_ipv4_checksum(&mut p, 0);
    p.extend_from_slice(payload);
    p
}

fn internet_checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn fix_ipv4_checksum(p: &mut [u8], at: usize) {
    p[at + 10..at + 12].copy_from_slice(&[0, 0]);
    let c = internet_checksum(&p[at..at + 20]);
    p[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
}

/// An ICMPv4 Destination Unreachable quoting `quoted`, checksums right.
fn icmp4_error(src: [u8; 4], dst: [u8; 4], quoted: &[u8]) -> Vec<u8> {
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quoted);
    let c = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(1, src, dst, &icmp)
}

fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[17, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn exp(bytes: &[u8], ignore: &[usize]) -> Expected {
    Expected {
        name: "want.pkt".into(),
        bytes: bytes.to_vec(),
        ignore: ignore.to_vec(),
    }
}

const A: [u8; 4] = [198, 51, 100, 2];
const B: [u8; 4] = [192, 0, 2, 33];

#[test]
fn checksum_helpers_agree() {
    let p = ipv4(17, A, B, &[1, 2, 3]);
    assert!(checksum_ok(&p[..20]));
    let mut q = p.clone();
    q[8] = 63;
    assert!(!checksum_ok(&q[..20]));
    // Odd length: the last byte counts as padded with a zero.
    let mut odd = vec![0x12, 0x34, 0, 0, 0x56];
    let c = internet_checksum(&odd);
    odd[2..4].copy_from_slice(&c.to_be_bytes());
    assert!(checksum_ok(&odd));
    odd[4] = 0x57;
    assert!(!checksum_ok(&odd));
}

#[test]
fn compare_equal_masked_and_different() {
    let want = ipv4(17, A, B, &[1, 2, 3, 4]);
    assert_eq!(compare(&want, &want, &[]), Ok(()));
    // A payload byte differs: reported with offset and both values.
    let mut got = want.clone();
    got[21] = 9;
    let e = compare(&got, &want, &[]).unwrap_err();
    assert!(e.contains("1 byte(s) differ: @21 got 09 want 02"), "{e}");
    // The same byte masked: equal.
    assert_eq!(compare(&got, &want, &[21]), Ok(()));
    // Length differs.
    let e = compare(&want[..22], &want, &[]).unwrap_err();
    assert!(e.contains("22 bytes, expected 24"), "{e}");
}

#[test]
fn masked_identification_needs_a_correct_checksum() {
    // Expected files carry 0 in a masked Identification.
    let mut want = ipv4(17, A, B, &[1, 2, 3, 4]);
    want[4] = 0;
    want[5] = 0;
    let mask = [4, 5, 10, 11];
    // Another Identification with its checksum updated: passes.
    let mut got = want.clone();
    got[4..6].copy_from_slice(&[0xbe, 0xef]);
    fix_ipv4_checksum(&mut got, 0);
    assert_eq!(compare(&got, &want, &mask), Ok(()));
    // The checksum left stale: fails although 10 and 11 are masked.
    let mut stale = got.clone();
    stale[4] = 0xbf;
    let e = compare(&stale, &want, &mask).unwrap_err();
    assert!(e.contains("IPv4 header checksum"), "{e}");
    // Checksum not masked: a plain byte difference, no checksum message.
    let e = compare(&stale, &want, &[4, 5]).unwrap_err();
    assert!(e.contains("@10") && !e.contains("checksum"), "{e}");
}

#[test]
fn masked_quoted_header_needs_a_correct_checksum() {
    let inner = ipv4(17, B, A, &[0, 1, 0, 2, 0, 12, 0, 0]);
    let mut want = icmp4_error([198, 51, 100, 1], B, &inner);
    let mask = [4, 5, 10, 11, 32, 33, 38, 39];
    for o in [4, 5, 32, 33] {
        want[o] = 0;
    }
    // Outer and quoted Identification changed, both header checksums
    // redone: the ICMP checksum does not change (a header with a correct
    // checksum always sums to the same value), so this matches.
    let mut got = want.clone();
    got[32..34].copy_from_slice(&[0x11, 0x22]);
    fix_ipv4_checksum(&mut got, 28);
    got[4..6].copy_from_slice(&[0x33, 0x44]);
    fix_ipv4_checksum(&mut got, 0);
    assert_eq!(compare(&got, &want, &mask), Ok(()));
    // A quoted header with a stale checksum is caught, though its bytes
    // 38, 39 are masked.
    let mut bad = got.clone();
    bad[32] ^= 1;
    let e = compare(&bad, &want, &mask).unwrap_err();
    assert!(
        e.contains("quoted IPv4 header checksum") && !e.contains("ICMPv4 checksum"),
        "{e}"
    );
    // With the ICMP checksum masked too (icmpe64.csumok-df-nofrag) it
    // must still verify: a stale quoted header breaks both,
    let full = [4, 5, 10, 11, 22, 23, 32, 33, 34, 38, 39];
    assert_eq!(compare(&got, &want, &full), Ok(()));
    let e = compare(&bad, &want, &full).unwrap_err();
    assert!(
        e.contains("quoted IPv4 header checksum") && e.contains("ICMPv4 checksum"),
        "{e}"
    );
    // and a wrong ICMP checksum alone is caught.
    let mut bad = got.clone();
    bad[22] ^= 1;
    let e = compare(&bad, &want, &full).unwrap_err();
    assert!(
        e.contains("ICMPv4 checksum") && !e.contains("quoted"),
        "{e}"
    );
}

#[test]
fn frames_are_built_and_taken_apart() {
    let pkt = ipv4(17, A, B, &[1, 2]);
    let f = frame(XGW_MAC_V4, HOST_MAC_V4, &pkt).unwrap();
    assert_eq!(f.len(), 60);
    assert_eq!(&f[0..6], &XGW_MAC_V4);
    assert_eq!(&f[6..12], &HOST_MAC_V4);
    assert_eq!(&f[12..14], &[0x08, 0x00]);
    // The padding goes: cut to the IPv4 total length.
    assert_eq!(ip_packet(&f), Some(pkt.clone()));
    // An 802.1Q tag is skipped.
    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
    tagged.extend_from_slice(&f[12..]);
    assert_eq!(ip_packet(&tagged), Some(pkt));
    // IPv6: 40 + payload length.
    let a6: Ipv6Addr = "2001:db8:1c0:2:21::".parse().unwrap();
    let b6: Ipv6Addr = "2001:db8:1c6:3364:2::".parse().unwrap();
    let p6 = ipv6_udp(a6, b6, &[7; 3]);
    let mut f6 = frame(XGW_MAC_V6, HOST_MAC_V6, &p6).unwrap();
    assert_eq!(&f6[12..14], &[0x86, 0xdd]);
    f6.extend_from_slice(&[0xee; 5]);
    assert_eq!(ip_packet(&f6), Some(p6.clone()));
    assert_eq!(addrs(&p6), Some((a6.into(), b6.into())));
    // ARP is not an IP packet.
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(ip_packet(&arp), None);
    assert!(frame(XGW_MAC_V4, HOST_MAC_V4, &[0x50; 20]).is_err());
}

#[test]
fn matching_skips_other_addresses_and_keeps_order() {
    let p1 = ipv4(17, A, B, &[1]);
    let p2 = ipv4(17, A, B, &[2]);
    let other = ipv4(17, B, A, &[9]);
    let (e1, e2) = (exp(&p1, &[]), exp(&p2, &[]));
    // Other addresses in between are skipped.
    let cap = vec![other.clone(), p1.clone(), other.clone(), p2.clone()];
    assert_eq!(match_all(&cap, &[exp(&p1, &[]), exp(&p2, &[])]), Ok(()));
    // Extra packets after the last match are tolerated (as upstream).
    let cap2 = vec![p1.clone(), p2.clone(), p2.clone()];
    assert_eq!(match_all(&cap2, &[e1, e2]), Ok(()));
    // The first packet with matching addresses is compared; a later one
    // that would match is not looked for.
    let cap3 = vec![p2.clone(), p1.clone()];
    let e = match_all(&cap3, &[exp(&p1, &[])]).unwrap_err();
    assert!(
        e.contains("expected packet 1 of 1") && e.contains("@20"),
        "{e}"
    );
    // Out of order: once p1 matched, nothing is left for `other`.
    let cap4 = vec![other.clone(), p1.clone()];
    let e = match_all(&cap4, &[exp(&p1, &[]), exp(&other, &[])]).unwrap_err();
    assert!(
        e.contains("expected packet 2 of 2") && e.contains("not seen"),
        "{e}"
    );
    // Same addresses: the next captured packet is the one compared.
    let e = match_all(&cap3, &[exp(&p2, &[]), exp(&p2, &[])]).unwrap_err();
    assert!(
        e.contains("expected packet 2 of 2") && e.contains("@20"),
        "{e}"
    );
    // Nothing captured.
    let e = match_all(&[], &[exp(&p1, &[])]).unwrap_err();
    assert!(e.contains("198.51.100.2 -> 192.0.2.33"), "{e}");
}

#[test]
fn prefixes_are_masked_and_contained() {
    let p = prefix("2001:db8:1c6:3364::/40").unwrap();
    assert_eq!(p.to_string(), "2001:db8:100::/40");
    assert_eq!(prefix("10.0.0.7/24").unwrap().to_string(), "10.0.0.0/24");
    assert_eq!(prefix("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
    assert!(prefix("10.0.0.0/33").is_err());
    assert!(prefix("10.0.0.0").is_err());
    let b = prefix("2001:db8:3::/120").unwrap();
    assert!(within(prefix("2001:db8:3::/120").unwrap(), b));
    assert!(within(prefix("2001:db8:3::80/121").unwrap(), b));
    assert!(!within(prefix("2001:db8:3::/119").unwrap(), b));
    assert!(!within(prefix("1.0.0.0/24").unwrap(), b));
}

#[test]
fn dependencies_come_first_and_fix_the_port_order() {
    if data_set_missing("dependencies_come_first_and_fix_the_port_order") {
        return;
    }
    let m = load_manifest();
    let case = |id: &str| m.cases.iter().find(|c| c.id == id).expect(id);
    // ptb46: its session set-up (v6) first, then its own packet (v4).
    let c = case("nat64.ptb.ptb46");
    let seq = sequence(&m, c).unwrap();
    let got: Vec<(&str, bool)> = seq.iter().map(|x| (x.side, x.own)).collect();
    assert_eq!(got, vec![("v6", false), ("v4", true)]);
    assert_eq!(seq[0].path, case("nat64.ptb.ptb46-session").send[0]);
    assert_eq!(first_side(&seq), Ok("v6"));
    // so.success starts on v4: the v4 port goes first.
    let seq = sequence(&m, case("nat64.so.success")).unwrap();
    assert!(seq.iter().all(|x| x.own));
    assert_eq!(first_side(&seq), Ok("v4"));
    // One side only: the usual order.
    let one = [Send {
        path: "a",
        side: "v4",
        own: true,
    }];
    assert_eq!(first_side(&one), Ok("v6"));
    // Back and forth cannot be replayed in order.
    let zigzag: Vec<Send<'_>> = ["v6", "v4", "v6"]
        .into_iter()
        .map(|side| Send {
            path: "a",
            side,
            own: true,
        })
        .collect();
    assert!(first_side(&zigzag).unwrap_err().contains("2 times"));
}

#[test]
fn totals_must_add_up() {
    let ok: Value = serde_json::json!({"totals": {"rx": 3, "emitted": 1, "tx": 2, "local": 0, "dropped": 1, "pending": 1}});
    assert_eq!(check_totals(&ok), Ok(()));
    let bad: Value = serde_json::json!({"totals": {"rx": 3, "emitted": 1, "tx": 2, "local": 0, "dropped": 1, "pending": 0}});
    assert!(check_totals(&bad).is_err());
    let missing: Value = serde_json::json!({"totals": {"rx": 3}});
    assert!(check_totals(&missing).unwrap_err().contains("emitted"));
}
