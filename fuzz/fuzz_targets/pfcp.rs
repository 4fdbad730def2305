//! The PFCP agent under fire: the input is a sequence of datagrams (a
//! length byte, a source choice byte, the bytes), each handed to the
//! agent as if it came from one of four SMF addresses, with time moving
//! on between them (heartbeats, retransmissions, losses). Nothing may
//! panic, and what the agent holds stays within its bounds.
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use xgw_engine::pfcp::{Agent, NodeId, PfcpCfg};

thread_local! {
    static AGENT: RefCell<Agent> = RefCell::new(
        Agent::bind(&PfcpCfg {
            listen: "127.0.0.1:0".parse().unwrap(),
            node_id: NodeId::Ip("192.0.2.1".parse().unwrap()),
            heartbeat_s: 1,
            t1_ms: 100,
            n1: 2,
            max_peers: 2,
        })
        .expect("a loopback socket"),
    );
}

fuzz_target!(|data: &[u8]| {
    AGENT.with(|a| {
        let mut a = a.borrow_mut();
        let mut now = Instant::now();
        let mut d = data;
        while let [len, src, rest @ ..] = d {
            let n = usize::from(*len).min(rest.len());
            // (Port 9, discard: the answers go nowhere.)
            let from: SocketAddr = format!("127.0.0.{}:9", 1 + src % 4).parse().unwrap();
            a.datagram(&rest[..n], from, now);
            now += Duration::from_millis(u64::from(src >> 2) * 20);
            a.poll(now);
            d = &rest[n..];
        }
        let (assocs, pending, cache) = a.held();
        assert!(assocs <= 2 && pending <= assocs.max(4) && cache <= 4096, "{assocs} {pending} {cache}");
    });
});
