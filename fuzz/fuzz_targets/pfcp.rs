//! The PFCP agent under fire: the input is a sequence of datagrams (a
//! two-byte length, a source choice byte, the bytes), each handed to the
//! agent as if it came from one of four SMF addresses (127.0.0.4 outside
//! the allow-list), with time moving
//! on between them (heartbeats, retransmissions, losses, usage report
//! timers). The agent drives a GTP-U session store as it does in xgw.
//! Nothing may panic; what the agent holds stays within its bounds; every
//! PFCP session is installed in the store exactly as the agent believes.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use xgw_engine::pfcp::{Agent, NodeId, PfcpCfg, MAX_PENDING_REPORTS};
use xgw_pipelines::gtpu::{GtpuSpec, Sessions};

const MAX_SESSIONS: usize = 16;

fuzz_target!(|data: &[u8]| {
    // A fresh agent and store per input (its sessions live in both).
    let mut a = Agent::bind(&PfcpCfg {
        listen: "127.0.0.1:0".parse().unwrap(),
        node_id: NodeId::Ip("192.0.2.1".parse().unwrap()),
        heartbeat_s: 1,
        t1_ms: 100,
        n1: 2,
        max_peers: 2,
        // Three of the four sources may associate; the fourth is refused.
        peers: vec![
            ("127.0.0.1".parse().unwrap(), 32),
            ("127.0.0.2".parse().unwrap(), 31),
        ],
    })
    .expect("a loopback socket");
    let mut up = Sessions::new(
        &GtpuSpec {
            endpoints: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            max_sessions: MAX_SESSIONS,
            ..GtpuSpec::default()
        },
        1,
    )
    .expect("a store");
    let mut now = Instant::now();
    let mut d = data;
    while let [hi, lo, src, rest @ ..] = d {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
        // (Port 9, discard: the answers go nowhere.)
        let from: SocketAddr = format!("127.0.0.{}:9", 1 + src % 4).parse().unwrap();
        a.datagram(&rest[..n], from, now, Some(&mut up));
        now += Duration::from_millis(u64::from(src >> 2) * 20);
        a.poll(now, Some(&mut up));
        d = &rest[n..];
    }
    let (assocs, pending, cache, sessions) = a.held();
    assert!(
        assocs <= 2
            && pending <= assocs.max(4) + MAX_PENDING_REPORTS
            && cache <= 4096
            && sessions <= MAX_SESSIONS,
        "{assocs} {pending} {cache} {sessions}"
    );
    if let Err(e) = a.consistent(&mut up) {
        panic!("agent and store disagree: {e}");
    }
});
