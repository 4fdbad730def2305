use super::*;

fn cfg(port: u16) -> PfcpCfg {
    PfcpCfg {
        listen: SocketAddr::new("127.0.0.1".parse().unwrap(), port),
        node_id: NodeId::Ip("192.0.2.1".parse().unwrap()),
        heartbeat_s: 1,
        t1_ms: 100,
        n1: 2,
        max_peers: 2,
    }
}

/// The agent on an ephemeral port and an SMF socket.
fn pair() -> (Agent, UdpSocket) {
    let a = Agent::bind(&cfg(0)).unwrap();
    let smf = UdpSocket::bind("127.0.0.1:0").unwrap();
    smf.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    (a, smf)
}

fn ask(a: &mut Agent, smf: &UdpSocket, b: &[u8], now: Instant) -> Option<Vec<u8>> {
    let to = a.sock.local_addr().unwrap();
    smf.send_to(b, to).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    a.poll(now);
    let mut buf = [0u8; 4096];
    smf.set_nonblocking(true).unwrap();
    let r = smf.recv(&mut buf).ok().map(|n| buf[..n].to_vec());
    smf.set_nonblocking(false).unwrap();
    r
}

fn cause_of(b: &[u8]) -> (u8, Option<u16>) {
    let h = header(b).unwrap();
    let l = ies(&b[h.ies..h.end]).unwrap();
    let c = l
        .iter()
        .find(|(t, _)| *t == ie::CAUSE)
        .map(|(_, v)| v[0])
        .unwrap();
    let o = l
        .iter()
        .find(|(t, _)| *t == ie::OFFENDING_IE)
        .map(|(_, v)| u16::from_be_bytes([v[0], v[1]]));
    (c, o)
}

fn setup(seq: u32, node: &str, ts: u32) -> Vec<u8> {
    Writer::new(msg::ASSOCIATION_SETUP_REQUEST, None, seq)
        .node_id(&NodeId::Ip(node.parse().unwrap()))
        .ie(ie::RECOVERY_TIME_STAMP, &ts.to_be_bytes())
        .finish()
}

#[test]
fn header_and_ies_round_trip_and_refuse_lies() {
    let b = Writer::new(
        msg::SESSION_DELETION_REQUEST,
        Some(0x1122334455667788),
        0xabcdef,
    )
    .ie(ie::CAUSE, &[1])
    .node_id(&NodeId::Fqdn("smf.example.org".into()))
    .finish();
    let h = header(&b).unwrap();
    assert_eq!(
        (h.version, h.msg_type, h.seid, h.seq, h.ies, h.end),
        (1, 54, Some(0x1122334455667788), 0xabcdef, 16, b.len())
    );
    let l = ies(&b[h.ies..]).unwrap();
    assert_eq!(l[0], (ie::CAUSE, &[1u8][..]));
    assert_eq!(
        parse_node_id(l[1].1),
        Some(NodeId::Fqdn("smf.example.org".into()))
    );
    assert_eq!(header(&b[..7]), Err(Malformed::Short));
    let mut long = b.clone();
    long[3] += 1;
    assert_eq!(header(&long), Err(Malformed::Length));
    assert_eq!(ies(&[0, 19, 0, 5, 1]), Err(Malformed::Ie));
    assert_eq!(parse_node_id(&[0, 1, 2]), None, "IPv4 Node ID too short");
    assert_eq!(parse_node_id(&[2, 3, b'a', b' ', b'b']), None);
}

#[test]
fn association_heartbeat_release_and_causes() {
    let (mut a, smf) = pair();
    let t0 = Instant::now();
    // Sessions before any association: cause 72.
    let est = Writer::new(msg::SESSION_ESTABLISHMENT_REQUEST, Some(0), 1)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .ie(ie::F_SEID, &[2, 0, 0, 0, 0, 0, 0, 0, 9, 127, 0, 0, 1])
        .finish();
    let r = ask(&mut a, &smf, &est, t0).unwrap();
    let h = header(&r).unwrap();
    assert_eq!((h.msg_type, h.seid), (51, Some(9)), "the CP F-SEID's SEID");
    assert_eq!(cause_of(&r), (cause::NO_ASSOCIATION, None));
    // Setup without a Recovery Time Stamp: 66 naming it.
    let bad = Writer::new(msg::ASSOCIATION_SETUP_REQUEST, None, 2)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .finish();
    let r = ask(&mut a, &smf, &bad, t0).unwrap();
    assert_eq!(
        cause_of(&r),
        (cause::MANDATORY_IE_MISSING, Some(ie::RECOVERY_TIME_STAMP))
    );
    let r = ask(&mut a, &smf, &setup(3, "127.0.0.1", 1000), t0).unwrap();
    assert_eq!(
        header(&r).unwrap().msg_type,
        msg::ASSOCIATION_SETUP_RESPONSE
    );
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    let l = ies(&r[8..]).unwrap();
    assert_eq!(
        parse_node_id(l.iter().find(|x| x.0 == ie::NODE_ID).unwrap().1),
        Some(NodeId::Ip("192.0.2.1".parse().unwrap()))
    );
    assert!(l.iter().any(|x| x.0 == ie::RECOVERY_TIME_STAMP));
    // A retransmission gets the same response (no second association).
    let again = ask(&mut a, &smf, &setup(3, "127.0.0.1", 1000), t0).unwrap();
    assert_eq!(again, r);
    assert_eq!(a.counts[count_of("duplicate_request")], 1);
    assert_eq!(a.counts[count_of("associations_set_up")], 1);
    // Now a session establishment is refused for what it is.
    let est2 = [&est[..], &[]].concat();
    let mut est2 = est2;
    est2[14] = 4; // another sequence number
    let r = ask(&mut a, &smf, &est2, t0).unwrap();
    assert_eq!(cause_of(&r), (cause::SERVICE_NOT_SUPPORTED, None));
    // Heartbeats: ours after the interval, answered; theirs answered.
    let t1 = t0 + Duration::from_millis(1100);
    a.poll(t1);
    let mut buf = [0u8; 512];
    let n = smf.recv(&mut buf).unwrap();
    let h = header(&buf[..n]).unwrap();
    assert_eq!(h.msg_type, msg::HEARTBEAT_REQUEST);
    let resp = Writer::new(msg::HEARTBEAT_RESPONSE, None, h.seq)
        .ie(ie::RECOVERY_TIME_STAMP, &1000u32.to_be_bytes())
        .finish();
    assert_eq!(ask(&mut a, &smf, &resp, t1), None);
    assert_eq!(a.counts[count_of("heartbeat_response_in")], 1);
    let hb = Writer::new(msg::HEARTBEAT_REQUEST, None, 5)
        .ie(ie::RECOVERY_TIME_STAMP, &1000u32.to_be_bytes())
        .finish();
    let r = ask(&mut a, &smf, &hb, t1).unwrap();
    assert_eq!(header(&r).unwrap().msg_type, msg::HEARTBEAT_RESPONSE);
    assert_eq!(a.assocs.len(), 1);
    // Garbage, unknown types and stray responses: counted, nothing sent.
    assert_eq!(ask(&mut a, &smf, &[1, 2, 3], t1), None);
    assert_eq!(
        ask(&mut a, &smf, &Writer::new(99, None, 6).finish(), t1),
        None
    );
    assert_eq!(
        ask(
            &mut a,
            &smf,
            &Writer::new(msg::HEARTBEAT_RESPONSE, None, 77).finish(),
            t1
        ),
        None
    );
    assert_eq!(
        (
            a.counts[count_of("malformed")],
            a.counts[count_of("unknown_message")],
            a.counts[count_of("unexpected_response")]
        ),
        (1, 1, 1)
    );
    // Version 2: Version Not Supported Response.
    let mut v2 = hb.clone();
    v2[0] = 0x40;
    v2[6] = 9;
    let r = ask(&mut a, &smf, &v2, t1).unwrap();
    assert_eq!(header(&r).unwrap().msg_type, msg::VERSION_NOT_SUPPORTED);
    // Release.
    let rel = Writer::new(msg::ASSOCIATION_RELEASE_REQUEST, None, 8)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .finish();
    let r = ask(&mut a, &smf, &rel, t1).unwrap();
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    assert!(a.assocs.is_empty());
    let rel2 = [&rel[..]].concat();
    let mut rel2 = rel2;
    rel2[6] = 10;
    assert_eq!(
        cause_of(&ask(&mut a, &smf, &rel2, t1).unwrap()),
        (cause::NO_ASSOCIATION, None)
    );
}

#[test]
fn silent_or_restarted_peers_lose_their_association() {
    let (mut a, smf) = pair();
    let t0 = Instant::now();
    ask(&mut a, &smf, &setup(1, "127.0.0.1", 1000), t0).unwrap();
    // A heartbeat with a new Recovery Time Stamp: the peer restarted.
    let hb = Writer::new(msg::HEARTBEAT_REQUEST, None, 2)
        .ie(ie::RECOVERY_TIME_STAMP, &2000u32.to_be_bytes())
        .finish();
    ask(&mut a, &smf, &hb, t0).unwrap();
    assert!(a.assocs.is_empty());
    assert_eq!(a.counts[count_of("peer_restarts")], 1);
    // Set up again, then silent: after N1 (2) unanswered heartbeats, lost.
    ask(&mut a, &smf, &setup(3, "127.0.0.1", 2000), t0).unwrap();
    let mut t = t0 + Duration::from_millis(1000);
    for _ in 0..4 {
        a.poll(t);
        t += Duration::from_millis(100);
    }
    assert!(a.assocs.is_empty());
    assert_eq!(a.counts[count_of("associations_lost")], 1);
    assert_eq!(
        a.counts[count_of("heartbeat_request_out")],
        2,
        "sent and sent again once"
    );
}
