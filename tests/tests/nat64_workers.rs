//! Stateful NAT64 with two workers (RFC 6146 state sharded per worker):
//! each worker makes dynamic bindings from its own slice of pool4, so an
//! IPv4 reply names the worker that owns its binding; a reply (or a
//! packet of a static binding's flow) that lands on the other worker is
//! handed over through a bounded lock-free ring, counted, and translated
//! by the owner. Runs two real workers on mem ports (queue i of each port
//! is worker i's), polled from this thread.

use std::time::{Duration, Instant};

use xgw_engine::config::Config;
use xgw_engine::engine::{build, PortIo};
use xgw_engine::port::PortQueue;
use xgw_engine::worker::Worker;

const CONFIG: &str = r#"
[engine]
cores = [0, 1]
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
[[neighbors]]
interface = "v6"
ip = "2001:db8::5"
mac = "02:00:00:00:06:02"
[[neighbors]]
interface = "v4"
ip = "192.0.2.5"
mac = "02:00:00:00:04:02"
[nat64]
mode = "nat64"
pool6 = "64:ff9b::/96"
pool4 = [ { address = "192.0.2.2", ports = [1000, 1999] } ]
static_bib = [ { protocol = "udp", ipv6 = "2001:db8::5", ipv6_port = 7000, ipv4 = "192.0.2.2", ipv4_port = 1600 } ]
"#;

const V6: usize = 0;
const V4: usize = 1;

fn sum(parts: &[&[u8]]) -> u16 {
    let mut s: u64 = 0;
    for p in parts {
        for c in p.chunks(2) {
            s += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn udp6(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16) -> Vec<u8> {
    let payload = b"hand me over";
    let ulen = 8 + payload.len();
    let mut f = vec![2, 0, 0, 0, 6, 1, 2, 0, 0, 0, 6, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(ulen as u16).to_be_bytes());
    f.extend_from_slice(&[17, 64]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(ulen as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut ps = Vec::new();
    ps.extend_from_slice(&src);
    ps.extend_from_slice(&dst);
    ps.extend_from_slice(&(ulen as u32).to_be_bytes());
    ps.extend_from_slice(&[0, 0, 0, 17]);
    let c = sum(&[&ps, &u]);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&u);
    f
}

fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let payload = b"reply";
    let ulen = 8 + payload.len();
    let mut f = vec![2, 0, 0, 0, 4, 1, 2, 0, 0, 0, 4, 2, 0x08, 0x00];
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + ulen) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = sum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(ulen as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut ps = Vec::new();
    ps.extend_from_slice(&src);
    ps.extend_from_slice(&dst);
    ps.extend_from_slice(&[0, 17]);
    ps.extend_from_slice(&(ulen as u16).to_be_bytes());
    let c = sum(&[&ps, &u]);
    u[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&u);
    f
}

fn inject(w: &mut Worker, port: usize, f: &[u8]) {
    let PortQueue::Mem(q) = &mut w.ports[port] else {
        unreachable!()
    };
    assert!(q.inject(&mut w.pool, f));
}

/// Every IP frame worker `w` sent on `port` (announcements left out).
fn sent(w: &mut Worker, port: usize) -> Vec<Vec<u8>> {
    let PortQueue::Mem(q) = &mut w.ports[port] else {
        unreachable!()
    };
    let mut out = Vec::new();
    q.take_tx(&mut w.pool, |f| {
        let udp = match (f[12], f[13]) {
            (0x86, 0xdd) => f.len() > 20 && f[20] == 17,
            (0x08, 0x00) => f.len() > 23 && f[23] == 17,
            _ => false,
        };
        if udp {
            out.push(f.to_vec());
        }
    });
    out
}

/// Polls worker `w` until it has sent a UDP frame on `port` (its hand-off
/// ring is drained with each burst and each 10 ms tick).
fn wait_sent(w: &mut Worker, port: usize) -> Vec<Vec<u8>> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        w.poll_once();
        let s = sent(w, port);
        if !s.is_empty() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Vec::new()
}

fn totals(w: &Worker) -> (u64, u64, u64, u64, u64, u64) {
    let s = w.stats.snapshot();
    let (mut rx, mut em, mut tx, mut lo, mut dr) = (0, 0, 0, 0, 0);
    for p in &s {
        rx += p.rx;
        em += p.emitted;
        tx += p.tx;
        lo += p.local;
        dr += p.dropped;
    }
    let pending = s.iter().map(|p| p.parked - p.unparked).sum();
    (rx, em, tx, lo, dr, pending)
}

fn check_accounting(w: &Worker, who: &str) {
    let (rx, em, tx, lo, dr, pending) = totals(w);
    assert_eq!(
        rx + em,
        tx + lo + dr + pending,
        "{who}: rx {rx} + emitted {em} != tx {tx} + local {lo} + dropped {dr} + pending {pending}"
    );
    assert_eq!(dr, 0, "{who}: nothing is dropped");
}

const HOST: [u8; 16] = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
const REMOTE6: [u8; 16] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 5];
const REMOTE4: [u8; 4] = [192, 0, 2, 5];
const POOL4: [u8; 4] = [192, 0, 2, 2];

#[test]
fn replies_reach_the_worker_owning_their_binding() {
    let cfg = Config::parse(CONFIG, "nat64-workers").expect("valid config");
    let mut built = build(&cfg, &PortIo::Live).expect("mem ports need no privileges");
    let mut w1 = built.workers.remove(1);
    let mut w0 = built.workers.remove(0);
    // Start-up announcements out of the way.
    for w in [&mut w0, &mut w1] {
        w.poll_once();
        for p in [V6, V4] {
            sent(w, p);
        }
    }

    // 1. Worker 1 sees the client's flow: a binding from its slice
    //    (1500-1999 of 1000-1999).
    inject(&mut w1, V6, &udp6(HOST, 5555, REMOTE6, 53));
    let out = wait_sent(&mut w1, V4);
    assert_eq!(out.len(), 1, "worker 1 translates the IPv6 packet");
    let f = &out[0];
    assert_eq!(&f[26..30], &POOL4, "source is the pool4 address");
    let p4 = u16::from_be_bytes([f[34], f[35]]);
    assert!(
        (1500..2000).contains(&p4),
        "port {p4} from worker 1's slice"
    );
    assert_eq!(sum(&[&f[14..34]]), 0, "IPv4 header checksum");

    // 2. The reply lands on worker 0: handed over, not translated there.
    inject(&mut w0, V4, &udp4(REMOTE4, 53, POOL4, p4));
    w0.poll_once();
    assert!(
        sent(&mut w0, V6).is_empty(),
        "worker 0 does not translate it"
    );
    let (_, _, _, local0, _, _) = totals(&w0);
    assert_eq!(local0, 1, "worker 0 hands the frame over (counted local)");

    // 3. Worker 1 takes it from its ring and translates it.
    let out = wait_sent(&mut w1, V6);
    assert_eq!(out.len(), 1, "worker 1 translates the handed-over reply");
    let f = &out[0];
    assert_eq!(&f[22..38], &REMOTE6, "source: the remote's pool6 image");
    assert_eq!(&f[38..54], &HOST, "destination: the client");
    assert_eq!(
        u16::from_be_bytes([f[56], f[57]]),
        5555,
        "the client's port back"
    );
    let ulen = u16::from_be_bytes([f[58], f[59]]) as usize;
    let mut ps = Vec::new();
    ps.extend_from_slice(&f[22..54]);
    ps.extend_from_slice(&(ulen as u32).to_be_bytes());
    ps.extend_from_slice(&[0, 0, 0, 17]);
    assert_eq!(
        sum(&[&ps, &f[54..54 + ulen]]),
        0,
        "UDP checksum of the translated reply"
    );
    let (_, em1, _, _, _, _) = totals(&w1);
    assert_eq!(em1, 1, "worker 1 counts the handed-over frame as emitted");

    // 4. A static binding in worker 1's slice (port 1600): its IPv6 flow
    //    arriving on worker 0 is handed over too.
    inject(&mut w0, V6, &udp6(HOST, 7000, REMOTE6, 53));
    w0.poll_once();
    assert!(
        sent(&mut w0, V4).is_empty(),
        "worker 0 hands the static flow over"
    );
    let out = wait_sent(&mut w1, V4);
    assert_eq!(out.len(), 1);
    assert_eq!(
        u16::from_be_bytes([out[0][34], out[0][35]]),
        1600,
        "the static binding's port"
    );

    // 5. Worker 0's own flows stay on worker 0 (slice 1000-1499).
    inject(&mut w0, V6, &udp6(HOST, 6000, REMOTE6, 53));
    let out = wait_sent(&mut w0, V4);
    assert_eq!(out.len(), 1);
    let p = u16::from_be_bytes([out[0][34], out[0][35]]);
    assert!((1000..1500).contains(&p), "port {p} from worker 0's slice");

    check_accounting(&w0, "worker 0");
    check_accounting(&w1, "worker 1");
}

fn frag6(src: [u8; 16], dst: [u8; 16], id: u32, off: u16, more: bool, body: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 6, 1, 2, 0, 0, 0, 6, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[44, 64]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[17, 0]);
    f.extend_from_slice(&(off | u16::from(more)).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn frag4(src: [u8; 4], dst: [u8; 4], id: u16, off: u16, more: bool, body: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 4, 1, 2, 0, 0, 0, 4, 2, 0x08, 0x00];
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&((u16::from(more) << 13) | (off >> 3)).to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = sum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(body);
    f
}

/// RFC 6146 §3.7: the later fragments of a datagram follow its first one
/// (they carry no ports) through the bounded fragment cache, both ways.
#[test]
fn later_fragments_follow_their_first_one() {
    let cfg = CONFIG.replace("cores = [0, 1]", "cores = [0]");
    let cfg = Config::parse(&cfg, "nat64-frags").expect("valid config");
    let mut built = build(&cfg, &PortIo::Live).expect("mem ports need no privileges");
    let mut w = built.workers.remove(0);
    w.poll_once();
    for p in [V6, V4] {
        sent(&mut w, p);
    }
    // A 40-byte UDP datagram (checksum irrelevant here) in two fragments.
    let mut udp = [0u8; 40];
    udp[0..2].copy_from_slice(&4444u16.to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    udp[4..6].copy_from_slice(&40u16.to_be_bytes());
    inject(
        &mut w,
        V6,
        &frag6(HOST, REMOTE6, 0xabcd_1234, 0, true, &udp[..16]),
    );
    inject(
        &mut w,
        V6,
        &frag6(HOST, REMOTE6, 0xabcd_1234, 16, false, &udp[16..]),
    );
    // A later fragment of a datagram whose first one was never seen.
    inject(
        &mut w,
        V6,
        &frag6(HOST, REMOTE6, 0x0bad, 16, false, &udp[16..]),
    );
    w.poll_once();
    let PortQueue::Mem(q) = &mut w.ports[V4] else {
        unreachable!()
    };
    let mut out = Vec::new();
    q.take_tx(&mut w.pool, |f| {
        if f[12..14] == [8, 0] && f[23] == 17 {
            out.push(f.to_vec());
        }
    });
    assert_eq!(
        out.len(),
        2,
        "both fragments of the first datagram translated"
    );
    for f in &out {
        assert_eq!(&f[26..30], &POOL4, "from the binding's pool4 address");
        assert_eq!(&f[30..34], &REMOTE4);
        assert_eq!(
            u16::from_be_bytes([f[18], f[19]]),
            0x1234,
            "IPv4 ID = low 16 bits of the fragment ID"
        );
        assert_eq!(sum(&[&f[14..34]]), 0);
    }
    let p4 = u16::from_be_bytes([out[0][34], out[0][35]]);
    let offs: Vec<u16> = out
        .iter()
        .map(|f| u16::from_be_bytes([f[20], f[21]]))
        .collect();
    assert_eq!(
        offs,
        [0x2000, 2],
        "MF on the first, offset 16 bytes on the second"
    );
    let snap = w.stats.snapshot();
    let fd = xgw_pipelines::DropReason::Nat64FragmentNoState;
    let nostate: u64 = snap.iter().map(|p| p.drops[fd as usize]).sum();
    assert_eq!(
        nostate, 1,
        "the orphan fragment is dropped as nat64.fragment_no_state"
    );

    // The reply, fragmented on the IPv4 side, comes back in two IPv6
    // fragments to the client.
    let mut r = [0u8; 40];
    r[0..2].copy_from_slice(&53u16.to_be_bytes());
    r[2..4].copy_from_slice(&p4.to_be_bytes());
    r[4..6].copy_from_slice(&40u16.to_be_bytes());
    // (A zero UDP checksum would get ICMP 3/13: RFC 7915 §4.5.)
    r[6..8].copy_from_slice(&0x1234u16.to_be_bytes());
    inject(
        &mut w,
        V4,
        &frag4(REMOTE4, POOL4, 0x7777, 0, true, &r[..24]),
    );
    inject(
        &mut w,
        V4,
        &frag4(REMOTE4, POOL4, 0x7777, 24, false, &r[24..]),
    );
    w.poll_once();
    let PortQueue::Mem(q) = &mut w.ports[V6] else {
        unreachable!()
    };
    let mut out = Vec::new();
    q.take_tx(&mut w.pool, |f| {
        if f[12..14] == [0x86, 0xdd] && f[20] == 44 {
            out.push(f.to_vec());
        }
    });
    let snap = w.stats.snapshot();
    let drops: Vec<(&str, u64)> = xgw_pipelines::DropReason::ALL
        .iter()
        .map(|r| {
            (
                r.name(),
                snap.iter().map(|p| p.drops[*r as usize]).sum::<u64>(),
            )
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    let t = totals(&w);
    assert_eq!(
        out.len(),
        2,
        "both reply fragments translated; drops {drops:?}; totals {t:?}"
    );
    for f in &out {
        assert_eq!(&f[38..54], &HOST, "to the client");
        assert_eq!(
            u32::from_be_bytes([f[58], f[59], f[60], f[61]]),
            0x7777,
            "fragment ID = IPv4 ID"
        );
    }
    assert_eq!(
        u16::from_be_bytes([out[0][64], out[0][65]]),
        4444,
        "client port back on the first"
    );
    let (rx, em, tx, lo, dr, pending) = totals(&w);
    assert_eq!(rx + em, tx + lo + dr + pending, "accounting");
    assert_eq!(dr, 1, "only the orphan fragment is dropped");
}

fn tcp_syn(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = udp4(src, sport, dst, dport);
    // Turn the UDP datagram into a TCP SYN of the same length: 20-byte
    // header (the 5-byte payload dropped), flags SYN, checksum set.
    let ip_len = 40u16;
    f.truncate(14 + 20);
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[23] = 6;
    f[24..26].fill(0);
    let c = sum(&[&f[14..34]]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1u32.to_be_bytes());
    t[12] = 0x50;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&1024u16.to_be_bytes());
    let mut ps = Vec::new();
    ps.extend_from_slice(&src);
    ps.extend_from_slice(&dst);
    ps.extend_from_slice(&[0, 6, 0, 20]);
    let c = sum(&[&ps, &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&t);
    f
}

fn tcp6_syn(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 6, 1, 2, 0, 0, 0, 6, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 20, 6, 64]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 0x50;
    t[13] = 0x02;
    let mut ps = Vec::new();
    ps.extend_from_slice(&src);
    ps.extend_from_slice(&dst);
    ps.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 6]);
    let c = sum(&[&ps, &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&t);
    f
}

fn drops_of(w: &Worker, r: xgw_pipelines::DropReason) -> u64 {
    w.stats.snapshot().iter().map(|p| p.drops[r as usize]).sum()
}

/// RFC 6146 §3.5.2.2: an unsolicited IPv4 SYN is held; the IPv6 side
/// opening the same connection binds it to the address the IPv4 peer
/// aimed at (the held SYN then goes); one nobody answers gets Port
/// Unreachable when its time is up.
#[test]
fn simultaneous_open_holds_the_ipv4_syn() {
    let cfg = CONFIG.replace("cores = [0, 1]", "cores = [0]").replace(
        "pool4 = [",
        "timeouts = { tcp_incoming_syn = 1 }\npool4 = [",
    );
    let cfg = Config::parse(&cfg, "nat64-so").expect("valid config");
    let mut built = build(&cfg, &PortIo::Live).expect("mem ports need no privileges");
    let mut w = built.workers.remove(0);
    w.poll_once();
    for p in [V6, V4] {
        sent(&mut w, p);
    }
    // The IPv4 peer's SYN to a pool4 port nobody is bound to: held.
    inject(&mut w, V4, &tcp_syn(REMOTE4, 2601, POOL4, 1700));
    w.poll_once();
    let pending = |w: &Worker| -> u64 {
        w.stats
            .snapshot()
            .iter()
            .map(|p| p.parked - p.unparked)
            .sum()
    };
    assert_eq!(pending(&w), 1, "the IPv4 SYN is held");
    // The IPv6 side opens the same connection: bound to 192.0.2.2#1700.
    inject(&mut w, V6, &tcp6_syn(HOST, 5000, REMOTE6, 2601));
    w.poll_once();
    let PortQueue::Mem(q) = &mut w.ports[V4] else {
        unreachable!()
    };
    let mut out = Vec::new();
    q.take_tx(&mut w.pool, |f| out.push(f.to_vec()));
    assert_eq!(out.len(), 1, "the IPv6 SYN goes out");
    assert_eq!(
        u16::from_be_bytes([out[0][34], out[0][35]]),
        1700,
        "on the port the IPv4 peer aimed at"
    );
    assert_eq!(pending(&w), 0, "the held SYN is gone");
    assert_eq!(
        drops_of(&w, xgw_pipelines::DropReason::Nat64HeldSynSuperseded),
        1
    );

    // Another unsolicited SYN, and nobody on the IPv6 side: Port
    // Unreachable about it after its second.
    inject(&mut w, V4, &tcp_syn(REMOTE4, 2602, POOL4, 1701));
    w.poll_once();
    assert_eq!(pending(&w), 1);
    let t0 = Instant::now();
    let mut icmp = Vec::new();
    while icmp.is_empty() && t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
        w.poll_once();
        let PortQueue::Mem(q) = &mut w.ports[V4] else {
            unreachable!()
        };
        q.take_tx(&mut w.pool, |f| icmp.push(f.to_vec()));
    }
    let waited = t0.elapsed();
    assert_eq!(icmp.len(), 1, "Port Unreachable about the held SYN");
    let f = &icmp[0];
    assert_eq!((f[23], f[34], f[35]), (1, 3, 3), "ICMPv4 3/3");
    assert_eq!(&f[30..34], &REMOTE4, "to the IPv4 peer");
    assert_eq!(f[42 + 8], 64, "quoting the SYN as it arrived (TTL 64)");
    assert!(
        waited >= Duration::from_millis(800),
        "not before its time ({waited:?})"
    );
    assert_eq!(pending(&w), 0);
    let (rx, em, tx, lo, dr, pend) = totals(&w);
    assert_eq!(rx + em, tx + lo + dr + pend, "accounting");
}
