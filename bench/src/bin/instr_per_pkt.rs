//! Whole-pipeline runs on the mem port for `bench/callgrind.sh`: one path
//! per run, `BURSTS` calls of [`measured`] (one `Worker::poll_once`: RX
//! burst, pipeline, TX enqueue, stats), each with a full burst waiting.
//!
//! ```text
//! instr_per_pkt --list                 # the paths, one per line
//! instr_per_pkt PATH BURSTS [BURST]    # warm up, check the path, run
//! ```
//!
//! Feeding the next burst (a copy into UMEM, the kernel's job with AF_XDP)
//! and freeing the transmitted frames happen outside [`measured`], so
//! callgrind's `--toggle-collect` on it counts the engine's work only; the
//! script runs BURSTS and 2 × BURSTS and divides the difference by the
//! packets, which cancels whatever happens once.
//!
//! Adding a path = one line in [`PATHS`] (and its builder).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use xgw_engine::gen::template::{Encap, Spec, Vary, L4};
use xgw_engine::port::PortQueue;
use xgw_engine::testing::{
    l2fwd_worker, router_drain, router_worker, udp4_frame, ROUTER_HOST_A, ROUTER_HOST_B,
    ROUTER_PORT_A, ROUTER_PORT_B,
};
use xgw_engine::worker::Worker;
use xgw_pipelines::wire::ethernet::MacAddr;

/// A path: name, what it measures, the issue's target (instructions per
/// packet), and how to build it.
struct Path {
    name: &'static str,
    what: &'static str,
    target: u32,
    build: fn(usize) -> Result<Rig, String>,
}

// One line per path: keep rustfmt from spreading them.
#[rustfmt::skip]
const PATHS: &[Path] = &[
    Path { name: "l2fwd-io", target: 60, build: l2fwd_io, what: "L2 cross-connect, frames unchanged (testpmd io)" },
    Path { name: "l2fwd-mac", target: 60, build: l2fwd_mac, what: "L2 cross-connect with MAC rewrite (testpmd mac)" },
    Path { name: "ipv4-route", target: 150, build: ipv4_route, what: "router: IPv4 forward, 1 route, static neighbour (ip-rewrite memo hits)" },
    Path { name: "ipv6-route", target: 150, build: ipv6_route, what: "router: IPv6 forward, 1 route, static neighbour" },
    Path { name: "ipip-encap", target: 250, build: ipip_encap, what: "router: IPv4 into a 4in4 tunnel (route via the tunnel)" },
    Path { name: "ipip-decap", target: 250, build: ipip_decap, what: "router: 4in4 to our address, decapsulated and forwarded" },
    Path { name: "gtpu-encap", target: 250, build: gtpu_encap4, what: "router: IPv4 to a UE (1024 sessions), GTP-U/UDP/IPv4 with a PSC (QFI) to the base station" },
    Path { name: "gtpu-encap6", target: 250, build: gtpu_encap6, what: "router: IPv4 to a UE (1024 sessions), GTP-U/UDP/IPv6 with a PSC (QFI; UDP checksum) to the base station" },
    Path { name: "gtpu-decap", target: 250, build: gtpu_decap4, what: "router: G-PDU over IPv4 (1024 sessions), decapsulated (UE source checked) and the inner IPv4 forwarded" },
    Path { name: "gtpu-decap6", target: 250, build: gtpu_decap6, what: "router: G-PDU over IPv6 (1024 sessions), decapsulated and the inner IPv4 forwarded" },
    Path { name: "siit-6to4", target: 400, build: siit_6to4, what: "router: IPv6/UDP from an EAM-mapped host to pool6 (64:ff9b::/96, 1024 destinations), translated (RFC 7915) and forwarded as IPv4" },
    Path { name: "siit-4to6", target: 400, build: siit_4to6, what: "router: IPv4/UDP to EAM space (1024 destinations), translated (RFC 7915; source via pool6) and forwarded as IPv6" },
    Path { name: "nat64-6to4", target: 400, build: nat64_6to4, what: "router: stateful NAT64, IPv6/UDP to 64:ff9b::/96 on 1024 sessions (1024 bindings), translated and forwarded as IPv4" },
    Path { name: "nat64-4to6", target: 400, build: nat64_4to6, what: "router: stateful NAT64, IPv4/UDP replies to pool4 (claimed at local delivery) on 1024 sessions, translated and forwarded as IPv6" },
    Path { name: "gtpu-decap-ep256", target: 250, build: gtpu_decap_ep256, what: "gtpu-decap with 256 endpoints (254 IPv4 ones listed before the fixture's two)" },
    Path { name: "siit-6to4-eam1k", target: 400, build: siit_6to4_eam1k, what: "siit-6to4 with 1024 EAM entries (1022 /128s that match nothing, then the two of siit-6to4)" },
    Path { name: "nat64-4to6-pool1k", target: 400, build: nat64_4to6_pool1k, what: "nat64-4to6 with 1024 pool4 entries (1023 other addresses listed before 10.2.0.1)" },
];

/// A worker ready to run, and how to feed it.
struct Rig {
    w: Worker,
    /// Frames injected on this port before each burst (None: they
    /// circulate through loopback ports).
    feed: Option<(usize, Vec<Vec<u8>>)>,
    /// Frames each burst must transmit.
    expect_tx: usize,
    burst: usize,
    /// Time spent in `measured` (native runs: ns per packet, for comparison).
    ns: u64,
}

/// The measured code: exactly one burst through the worker.
#[inline(never)]
fn measured(w: &mut Worker) -> usize {
    w.poll_once()
}

impl Rig {
    fn feed(&mut self, at: &mut usize) {
        if let Some((port, frames)) = &self.feed {
            let PortQueue::Mem(q) = &mut self.w.ports[*port] else {
                unreachable!("mem port")
            };
            for _ in 0..self.burst {
                assert!(q.inject(&mut self.w.pool, &frames[*at % frames.len()]));
                *at += 1;
            }
        }
    }
    /// One burst; returns (frames received, frames transmitted).
    fn round(&mut self, at: &mut usize) -> (usize, usize) {
        self.feed(at);
        let t = std::time::Instant::now();
        let n = measured(&mut self.w);
        self.ns += t.elapsed().as_nanos() as u64;
        let tx = if self.feed.is_some() {
            router_drain(&mut self.w)
        } else {
            n
        };
        (n, tx)
    }
}

fn l2fwd(mode: &str, burst: usize) -> Result<Rig, String> {
    Ok(Rig {
        w: l2fwd_worker(mode, burst, 4 * burst, &udp4_frame()),
        feed: None,
        expect_tx: 2 * burst,
        burst,
        ns: 0,
    })
}
fn l2fwd_io(burst: usize) -> Result<Rig, String> {
    l2fwd("io", burst)
}
fn l2fwd_mac(burst: usize) -> Result<Rig, String> {
    l2fwd("mac", burst)
}

/// UDP frames of `size` (with FCS) from `src` to `dsts`, built with the
/// generator's templates (checksums right).
fn frames(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    encap: Encap,
    src: IpAddr,
    dsts: impl Iterator<Item = IpAddr>,
    size: usize,
) -> Result<Vec<Vec<u8>>, String> {
    dsts.map(|dst| {
        let s = Spec {
            src_mac: MacAddr(src_mac),
            dst_mac: MacAddr(dst_mac),
            encap,
            src,
            dst,
            l4: L4::Udp,
            src_port: 1000,
            dst_port: 2000,
            vary: Vary::SrcPort,
        };
        Ok(s.build(size)?.packet(0, 1, 0, 0))
    })
    .collect()
}

fn router(burst: usize, extra: &str, port: usize, frames: Vec<Vec<u8>>) -> Result<Rig, String> {
    let (w, _rc) = router_worker(burst, extra);
    Ok(Rig {
        w,
        feed: Some((port, frames)),
        expect_tx: burst,
        burst,
        ns: 0,
    })
}

const ROUTE4: &str = "[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.2.0.2\"\n";
const ROUTE6: &str = "[[routes]]\nprefix = \"2001:db8:9::/48\"\nvia = \"2001:db8:2::2\"\n";

fn dst4(n: u32) -> impl Iterator<Item = IpAddr> {
    (0..n).map(|i| IpAddr::V4(Ipv4Addr::new(10, 9, (i >> 8) as u8, i as u8)))
}

fn ipv4_route(burst: usize) -> Result<Rig, String> {
    let f = frames(
        ROUTER_HOST_A,
        ROUTER_PORT_A,
        Encap::None,
        "10.1.0.2".parse().unwrap(),
        dst4(1024),
        64,
    )?;
    router(burst, ROUTE4, 0, f)
}

fn ipv6_route(burst: usize) -> Result<Rig, String> {
    let dsts = (0..1024u128).map(|i| IpAddr::V6(Ipv6Addr::from((0x2001_0db8_0009u128 << 80) | i)));
    // 84 with FCS = 80 bytes: IPv6/UDP with an 18-byte payload, as the criterion bench
    let f = frames(
        ROUTER_HOST_A,
        ROUTER_PORT_A,
        Encap::None,
        "2001:db8:1::2".parse().unwrap(),
        dsts,
        84,
    )?;
    router(burst, ROUTE6, 0, f)
}

/// A 4in4 tunnel from wan's address to the gateway 10.2.0.2 (a static
/// neighbour), and 10.9.0.0/16 routed into it.
const TUNNEL: &str = "[[tunnels]]\nname = \"t44\"\nkind = \"4in4\"\nlocal = \"10.2.0.1\"\nremote = \"10.2.0.2\"\nipv4 = [\"1.1.1.1/24\"]\n";

fn ipip_encap(burst: usize) -> Result<Rig, String> {
    let f = frames(
        ROUTER_HOST_A,
        ROUTER_PORT_A,
        Encap::None,
        "10.1.0.2".parse().unwrap(),
        dst4(1024),
        64,
    )?;
    router(
        burst,
        &format!("{TUNNEL}[[routes]]\nprefix = \"10.9.0.0/16\"\nvia = \"1.1.1.2\"\n"),
        0,
        f,
    )
}

fn ipip_decap(burst: usize) -> Result<Rig, String> {
    // from the tunnel's far end to our wan address; inside: 10.9.x.y → host A
    let encap = Encap::Ipip {
        src: Ipv4Addr::new(10, 2, 0, 2),
        dst: Ipv4Addr::new(10, 2, 0, 1),
    };
    let f: Result<Vec<Vec<u8>>, String> = (0..1024u32)
        .map(|i| {
            let mut v = frames(
                ROUTER_HOST_B,
                ROUTER_PORT_B,
                encap,
                IpAddr::V4(Ipv4Addr::new(10, 9, (i >> 8) as u8, i as u8)),
                std::iter::once("10.1.0.2".parse().unwrap()),
                84,
            )?;
            Ok(v.remove(0))
        })
        .collect();
    router(burst, &format!("{TUNNEL}{ROUTE4}"), 1, f?)
}

/// GTP-U with 1024 sessions (see `xgw_bench::gtpu`): downlink from the
/// lan host into the tunnels, or uplink G-PDUs from the base station.
fn gtpu_decap_ep256(burst: usize) -> Result<Rig, String> {
    gtpu_with(burst, false, true, 254)
}

fn gtpu(burst: usize, outer_v6: bool, up: bool) -> Result<Rig, String> {
    gtpu_with(burst, outer_v6, up, 0)
}

fn gtpu_with(burst: usize, outer_v6: bool, up: bool, extra_eps: u32) -> Result<Rig, String> {
    use xgw_bench::gtpu::{downlink, gtpu_worker_endpoints, uplink};
    let (w, _rc) = gtpu_worker_endpoints(burst, 1024, outer_v6, extra_eps);
    let frames: Vec<Vec<u8>> = (0..1024)
        .map(|i| {
            if up {
                uplink(i, outer_v6, false)
            } else {
                downlink(i, false)
            }
        })
        .collect();
    Ok(Rig {
        w,
        feed: Some((if up { 1 } else { 0 }, frames)),
        expect_tx: burst,
        burst,
        ns: 0,
    })
}
/// The stateless translator: pool6 64:ff9b::/96, host A's IPv6 network
/// EAM-mapped to 10.98.0.0/24, 10.99.0.0/16 EAM-mapped to
/// 2001:db8:9::/112 (routed via host B) and routed into the translator.
const SIIT: &str = "[nat64]\nmode = \"siit\"\npool6 = \"64:ff9b::/96\"\n\
eam = [ { ipv6 = \"2001:db8:1::/120\", ipv4 = \"10.98.0.0/24\" }, \
{ ipv6 = \"2001:db8:9::/112\", ipv4 = \"10.99.0.0/16\" } ]\n\
[[routes]]\nprefix = \"10.99.0.0/16\"\ninterface = \"nat64\"\n";

fn siit_6to4(burst: usize) -> Result<Rig, String> {
    siit_6to4_with(burst, SIIT.to_string())
}

/// [`SIIT`] with 1022 more EAM entries ahead of its two, /128s that no
/// packet matches: the lookups must not grow with the table.
fn siit_6to4_eam1k(burst: usize) -> Result<Rig, String> {
    let more: String = (0..1022u32)
        .map(|i| {
            format!(
                "{{ ipv6 = \"2001:db8:77::{i:x}/128\", ipv4 = \"192.168.{}.{}/32\" }}, ",
                i >> 8,
                i & 0xff
            )
        })
        .collect();
    siit_6to4_with(
        burst,
        SIIT.replacen("eam = [ ", &format!("eam = [ {more}"), 1),
    )
}

fn siit_6to4_with(burst: usize, config: String) -> Result<Rig, String> {
    let dsts = (0..1024u32).map(|i| {
        let v4 = u32::from(Ipv4Addr::new(10, 9, 0, 0)) | i;
        IpAddr::V6(Ipv6Addr::from((0x0064_ff9bu128 << 96) | u128::from(v4)))
    });
    let f = frames(
        ROUTER_HOST_A,
        ROUTER_PORT_A,
        Encap::None,
        "2001:db8:1::2".parse().unwrap(),
        dsts,
        84,
    )?;
    router(burst, &format!("{config}{ROUTE4}"), 0, f)
}

fn siit_4to6(burst: usize) -> Result<Rig, String> {
    let dsts = (0..1024u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 99, 0, 0)) | i)));
    let f = frames(
        ROUTER_HOST_A,
        ROUTER_PORT_A,
        Encap::None,
        "10.1.0.2".parse().unwrap(),
        dsts,
        64,
    )?;
    router(burst, &format!("{SIIT}{ROUTE6}"), 0, f)
}

/// Stateful NAT64: pool4 is wan's address 10.2.0.1 (ports 10000-19999),
/// 1024 static UDP bindings 2001:db8:1::2#(10000+i) ↔ 10.2.0.1#(10000+i).
fn nat64_config() -> String {
    let mut s = String::from(
        "[nat64]\nmode = \"nat64\"\npool6 = \"64:ff9b::/96\"\n\
         pool4 = [ { address = \"10.2.0.1\", ports = [10000, 19999] } ]\nmax_sessions = 4096\nstatic_bib = [\n",
    );
    for i in 0..1024 {
        s.push_str(&format!(
            "  {{ protocol = \"udp\", ipv6 = \"2001:db8:1::2\", ipv6_port = {p}, ipv4 = \"10.2.0.1\", ipv4_port = {p} }},\n",
            p = 10000 + i
        ));
    }
    s.push_str("]\n");
    s
}

/// One UDP frame per flow: `src_port` + flow, to `dst`.
fn flows(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: impl Fn(u32) -> IpAddr,
    ports: (u16, u16),
    size: usize,
) -> Result<Vec<Vec<u8>>, String> {
    (0..1024u32)
        .map(|i| {
            let s = Spec {
                src_mac: MacAddr(src_mac),
                dst_mac: MacAddr(dst_mac),
                encap: Encap::None,
                src,
                dst: dst(i),
                l4: L4::Udp,
                src_port: ports.0,
                dst_port: ports.1,
                vary: Vary::SrcPort,
            };
            Ok(s.build(size)?
                .packet(if ports.0 == 2000 { 0 } else { i }, 1, 0, 0))
        })
        .collect()
}

fn nat64_6to4(burst: usize) -> Result<Rig, String> {
    let f = flows(
        ROUTER_HOST_A,
        ROUTER_PORT_A,
        "2001:db8:1::2".parse().unwrap(),
        |i| {
            let v4 = u32::from(Ipv4Addr::new(10, 9, 0, 0)) | i;
            IpAddr::V6(Ipv6Addr::from((0x0064_ff9bu128 << 96) | u128::from(v4)))
        },
        (10000, 2000),
        84,
    )?;
    router(burst, &format!("{}{ROUTE4}", nat64_config()), 0, f)
}

fn nat64_4to6(burst: usize) -> Result<Rig, String> {
    nat64_4to6_with(burst, nat64_config())
}

/// [`nat64_config`] with 1023 other pool4 addresses listed first: the
/// pool4 tests must not grow with the pool.
fn nat64_4to6_pool1k(burst: usize) -> Result<Rig, String> {
    let mut extra = String::new();
    for i in 0..1023u32 {
        extra.push_str(&format!(
            "{{ address = \"198.18.{}.{}\", ports = [10000, 19999] }}, ",
            i >> 8,
            i & 0xff
        ));
    }
    let c = nat64_config().replacen("pool4 = [ ", &format!("pool4 = [ {extra}"), 1);
    nat64_4to6_with(burst, c)
}

fn nat64_4to6_with(burst: usize, config: String) -> Result<Rig, String> {
    // From 10.9.0.i#2000 (behind the wan gateway) to the binding of flow i.
    let f: Result<Vec<Vec<u8>>, String> = (0..1024u32)
        .map(|i| {
            let s = Spec {
                src_mac: MacAddr(ROUTER_HOST_B),
                dst_mac: MacAddr(ROUTER_PORT_B),
                encap: Encap::None,
                src: IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 9, 0, 0)) | i)),
                dst: "10.2.0.1".parse().unwrap(),
                l4: L4::Udp,
                src_port: 2000,
                dst_port: 10000 + i as u16,
                vary: Vary::SrcPort,
            };
            Ok(s.build(64)?.packet(0, 1, 0, 0))
        })
        .collect();
    router(burst, &format!("{config}{ROUTE4}"), 1, f?)
}

fn gtpu_encap4(burst: usize) -> Result<Rig, String> {
    gtpu(burst, false, false)
}
fn gtpu_encap6(burst: usize) -> Result<Rig, String> {
    gtpu(burst, true, false)
}
fn gtpu_decap4(burst: usize) -> Result<Rig, String> {
    gtpu(burst, false, true)
}
fn gtpu_decap6(burst: usize) -> Result<Rig, String> {
    gtpu(burst, true, true)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for p in PATHS {
            println!("{}\t{}\t{}", p.name, p.target, p.what);
        }
        return ExitCode::SUCCESS;
    }
    let (Some(name), Some(bursts)) = (
        args.first(),
        args.get(1).and_then(|b| b.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: instr_per_pkt --list | PATH BURSTS [BURST=64]");
        return ExitCode::from(2);
    };
    let burst: usize = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(64);
    let Some(path) = PATHS.iter().find(|p| p.name == name) else {
        let names: Vec<&str> = PATHS.iter().map(|p| p.name).collect();
        eprintln!(
            "instr_per_pkt: no path {name:?}; paths: {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let mut rig = match (path.build)(burst) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("instr_per_pkt: path {name} is not available: {e}");
            return ExitCode::from(3);
        }
    };
    // Warm up (start-up announcements, first table loads), then check that
    // the path does what it says: every frame forwarded, nothing dropped.
    let mut at = 0;
    for _ in 0..64 {
        rig.round(&mut at);
    }
    let (rx, tx) = rig.round(&mut at);
    let dropped: u64 = rig.w.stats.snapshot().iter().map(|p| p.dropped).sum();
    if tx != rig.expect_tx || dropped != 0 {
        eprintln!(
            "instr_per_pkt: path {name} is broken: a burst of {rx} frames transmitted {tx} (expected {}), {dropped} dropped so far",
            rig.expect_tx
        );
        return ExitCode::from(4);
    }
    let mut packets = 0u64;
    rig.ns = 0;
    for _ in 0..bursts {
        let (n, _) = rig.round(&mut at);
        packets += n as u64;
    }
    assert!(rig.w.frames_accounted());
    println!(
        "path={name} bursts={bursts} burst={burst} ns_per_packet={:.1} packets={packets}",
        rig.ns as f64 / packets.max(1) as f64
    );
    ExitCode::SUCCESS
}
