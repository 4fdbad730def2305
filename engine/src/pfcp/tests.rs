use super::*;

fn cfg(port: u16) -> PfcpCfg {
    PfcpCfg {
        listen: SocketAddr::new("127.0.0.1".parse().unwrap(), port),
        node_id: NodeId::Ip("192.0.2.1".parse().unwrap()),
        heartbeat_s: 1,
        t1_ms: 100,
        n1: 2,
        max_peers: 2,
        peers: vec![],
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
    a.poll(now, None);
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
    a.poll(t1, None);
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
        a.poll(t, None);
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

// ------------------------------------------------------------ sessions

use super::rules::{put, t};
use xgw_pipelines::gtpu::session::Downlink;
use xgw_pipelines::gtpu::{GtpuSpec, Sessions};

fn up() -> Sessions {
    Sessions::new(
        &GtpuSpec {
            endpoints: vec!["192.0.2.1".parse().unwrap()],
            max_sessions: 16,
            ..GtpuSpec::default()
        },
        1,
    )
    .unwrap()
}

fn ask_up(
    a: &mut Agent,
    smf: &UdpSocket,
    b: &[u8],
    now: Instant,
    up: &mut Sessions,
) -> Option<Vec<u8>> {
    let to = a.sock.local_addr().unwrap();
    smf.send_to(b, to).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    a.poll(now, Some(up));
    let mut buf = [0u8; 4096];
    smf.set_nonblocking(true).unwrap();
    let r = smf.recv(&mut buf).ok().map(|n| buf[..n].to_vec());
    smf.set_nonblocking(false).unwrap();
    r
}

fn grp(members: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (ty, m) in members {
        put(&mut v, *ty, m);
    }
    v
}

fn ue4(a: [u8; 4], dst: bool) -> Vec<u8> {
    let mut v = vec![0x02 | if dst { 0x04 } else { 0 }];
    v.extend_from_slice(&a);
    v
}

fn ohc(teid: u32, a: [u8; 4]) -> Vec<u8> {
    let mut v = vec![0x01, 0x00];
    v.extend_from_slice(&teid.to_be_bytes());
    v.extend_from_slice(&a);
    v
}

fn fseid(seid: u64) -> Vec<u8> {
    let mut v = vec![0x02];
    v.extend_from_slice(&seid.to_be_bytes());
    v.extend_from_slice(&[127, 0, 0, 1]);
    v
}

/// The usual 5G session: uplink PDR 1 (F-TEID CHOOSE), downlink PDR 2
/// (UE 10.45.0.2), FAR 1 (FORW to core), FAR 2 (`dl_action`, OHC to
/// 192.0.2.99 TEID 0x1001 if `ohc`), QER 1 (QFI 9), URR 1 (volume).
fn establishment(seq: u32, cp_seid: u64, ue: [u8; 4], dl_action: u8, with_ohc: bool) -> Vec<u8> {
    let pdr = |id: u16, src: u8, extra: Vec<(u16, Vec<u8>)>, far: u32| {
        let mut pdi = vec![(t::SOURCE_INTERFACE, vec![src])];
        pdi.extend(extra);
        grp(&[
            (t::PDR_ID, id.to_be_bytes().to_vec()),
            (t::PRECEDENCE, 200u32.to_be_bytes().to_vec()),
            (t::PDI, grp(&pdi)),
            (t::FAR_ID, far.to_be_bytes().to_vec()),
            (t::QER_ID, 1u32.to_be_bytes().to_vec()),
            (t::URR_ID, 1u32.to_be_bytes().to_vec()),
        ])
    };
    let ul = pdr(
        1,
        0,
        vec![(t::F_TEID, vec![0x05]), (t::UE_IP_ADDRESS, ue4(ue, false))],
        1,
    );
    let dl = pdr(2, 1, vec![(t::UE_IP_ADDRESS, ue4(ue, true))], 2);
    let far1 = grp(&[
        (t::FAR_ID, 1u32.to_be_bytes().to_vec()),
        (t::APPLY_ACTION, vec![0x02]),
        (
            t::FORWARDING_PARAMETERS,
            grp(&[(t::DESTINATION_INTERFACE, vec![1])]),
        ),
    ]);
    let mut far2 = vec![
        (t::FAR_ID, 2u32.to_be_bytes().to_vec()),
        (t::APPLY_ACTION, vec![dl_action]),
    ];
    if with_ohc {
        far2.push((
            t::FORWARDING_PARAMETERS,
            grp(&[
                (t::DESTINATION_INTERFACE, vec![0]),
                (t::OUTER_HEADER_CREATION, ohc(0x1001, [192, 0, 2, 99])),
            ]),
        ));
    }
    let mut mbr = Vec::new();
    mbr.extend_from_slice(&100_000u64.to_be_bytes()[3..]);
    mbr.extend_from_slice(&200_000u64.to_be_bytes()[3..]);
    let qer = grp(&[
        (t::QER_ID, 1u32.to_be_bytes().to_vec()),
        (t::GATE_STATUS, vec![0]),
        (t::MBR, mbr),
        (t::QFI, vec![9]),
    ]);
    let urr = grp(&[
        (t::URR_ID, 1u32.to_be_bytes().to_vec()),
        (t::MEASUREMENT_METHOD, vec![0x02]),
        (t::REPORTING_TRIGGERS, vec![0x00, 0x00]),
    ]);
    Writer::new(msg::SESSION_ESTABLISHMENT_REQUEST, Some(0), seq)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .ie(ie::F_SEID, &fseid(cp_seid))
        .ie(t::CREATE_PDR, &ul)
        .ie(t::CREATE_PDR, &dl)
        .ie(t::CREATE_FAR, &far1)
        .ie(t::CREATE_FAR, &grp(&far2))
        .ie(t::CREATE_QER, &qer)
        .ie(t::CREATE_URR, &urr)
        .finish()
}

fn list_of(b: &[u8]) -> (Header, Vec<(u16, Vec<u8>)>) {
    let h = header(b).unwrap();
    let l = ies(&b[h.ies..h.end])
        .unwrap()
        .into_iter()
        .map(|(t, v)| (t, v.to_vec()))
        .collect();
    (h, l)
}

fn get(l: &[(u16, Vec<u8>)], ty: u16) -> Option<Vec<u8>> {
    l.iter().find(|(x, _)| *x == ty).map(|(_, v)| v.clone())
}

#[test]
fn sessions_are_established_modified_reported_and_deleted() {
    let (mut a, smf) = pair();
    let mut up = up();
    let t0 = Instant::now();
    // Without an association: 72.
    let r = ask_up(
        &mut a,
        &smf,
        &establishment(1, 0xc1, [10, 45, 0, 2], 2, true),
        t0,
        &mut up,
    )
    .unwrap();
    assert_eq!(cause_of(&r), (cause::NO_ASSOCIATION, None));
    let r = ask_up(&mut a, &smf, &setup(2, "127.0.0.1", 7), t0, &mut up).unwrap();
    let (_, l) = list_of(&r);
    assert_eq!(
        get(&l, ie::UP_FUNCTION_FEATURES),
        Some(UP_FEATURES.to_vec())
    );
    let r = ask_up(
        &mut a,
        &smf,
        &establishment(3, 0xc1, [10, 45, 0, 2], 2, true),
        t0,
        &mut up,
    )
    .unwrap();
    let (h, l) = list_of(&r);
    assert_eq!(
        (h.msg_type, h.seid),
        (msg::SESSION_ESTABLISHMENT_REQUEST + 1, Some(0xc1))
    );
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    assert!(get(&l, ie::NODE_ID).is_some());
    let f = get(&l, ie::F_SEID).unwrap();
    let (up_seid, addr) = rules::parse_fseid(&f).unwrap();
    assert_eq!(addr, a.cfg.listen.ip());
    let created = sessions::members(&get(&l, t::CREATED_PDR).unwrap());
    assert_eq!(created[0], (t::PDR_ID, vec![0, 1]));
    assert_eq!(created[1].0, t::F_TEID);
    let ft = &created[1].1;
    assert_eq!((ft[0], &ft[5..9]), (0x01, &[192u8, 0, 2, 1][..]));
    let teid = u32::from_be_bytes(ft[1..5].try_into().unwrap());
    assert_ne!(teid, 0);
    // The GTP-U session it became.
    let s = up.get(gtp_id(up_seid)).unwrap().spec.clone();
    assert_eq!(s.teid, teid);
    assert_eq!(s.ue4, Some("10.45.0.2".parse().unwrap()));
    assert_eq!(
        (s.peer, s.peer_teid),
        ("192.0.2.99".parse().unwrap(), 0x1001)
    );
    assert_eq!(
        (s.qfi, s.mbr_ul, s.mbr_dl),
        (Some(9), 100_000_000, 200_000_000)
    );
    assert_eq!(
        (s.gate_ul, s.gate_dl, s.downlink),
        (true, true, Downlink::Forward)
    );
    // A second session with the same UE address: 73 with the PDR named.
    let r = ask_up(
        &mut a,
        &smf,
        &establishment(4, 0xc2, [10, 45, 0, 2], 2, true),
        t0,
        &mut up,
    )
    .unwrap();
    let (_, l) = list_of(&r);
    assert_eq!(cause_of(&r).0, cause::RULE_FAILURE);
    assert_eq!(
        get(&l, t::FAILED_RULE_ID),
        Some(vec![0, 0, 2]),
        "PDR 2, the downlink one"
    );
    assert_eq!(up.len(), 1);
    // Handover with SNDEM and a Query URR: the path moves, a usage report
    // (IMMER, nothing counted yet) comes back.
    let upd = grp(&[
        (t::FAR_ID, 2u32.to_be_bytes().to_vec()),
        (t::APPLY_ACTION, vec![0x02]),
        (
            t::UPDATE_FORWARDING_PARAMETERS,
            grp(&[(t::OUTER_HEADER_CREATION, ohc(0x2002, [192, 0, 2, 98]))]),
        ),
    ]);
    let m = Writer::new(msg::SESSION_MODIFICATION_REQUEST, Some(up_seid), 5)
        .ie(t::UPDATE_FAR, &upd)
        .ie(t::PFCPSMREQ_FLAGS, &[0x02])
        .ie(
            t::QUERY_URR,
            &grp(&[(t::URR_ID, 1u32.to_be_bytes().to_vec())]),
        )
        .finish();
    let r = ask_up(&mut a, &smf, &m, t0, &mut up).unwrap();
    let (h, l) = list_of(&r);
    assert_eq!(
        (h.msg_type, h.seid),
        (msg::SESSION_MODIFICATION_REQUEST + 1, Some(0xc1))
    );
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    let rep = sessions::members(&get(&l, t::USAGE_REPORT_MOD).unwrap());
    assert_eq!(get(&rep, t::URR_ID), Some(1u32.to_be_bytes().to_vec()));
    assert_eq!(get(&rep, t::USAGE_REPORT_TRIGGER), Some(vec![0x80, 0, 0]));
    let vm = get(&rep, t::VOLUME_MEASUREMENT).unwrap();
    assert_eq!((vm[0], vm.len()), (0x3f, 49));
    let s = up.get(gtp_id(up_seid)).unwrap().spec.clone();
    assert_eq!(
        (s.peer, s.peer_teid),
        ("192.0.2.98".parse().unwrap(), 0x2002)
    );
    // Idle: BUFF|NOCP, then the JSON view.
    let idle = grp(&[
        (t::FAR_ID, 2u32.to_be_bytes().to_vec()),
        (t::APPLY_ACTION, vec![0x0c]),
    ]);
    let m = Writer::new(msg::SESSION_MODIFICATION_REQUEST, Some(up_seid), 6)
        .ie(t::UPDATE_FAR, &idle)
        .finish();
    assert_eq!(
        cause_of(&ask_up(&mut a, &smf, &m, t0, &mut up).unwrap()).0,
        cause::ACCEPTED
    );
    let s = up.get(gtp_id(up_seid)).unwrap().spec.clone();
    assert_eq!((s.downlink, s.notify), (Downlink::Buffer, true));
    let v = a.sessions_json(None, Some(&mut up));
    assert_eq!(v["sessions"][0]["up_seid"], up_seid);
    assert_eq!(v["sessions"][0]["gtp"]["downlink"], "buffer");
    assert_eq!(
        v["sessions"][0]["fars"][1]["apply_action"],
        json!(["BUFF", "NOCP"])
    );
    // Unknown SEID: 65 with SEID 0.
    let m = Writer::new(msg::SESSION_DELETION_REQUEST, Some(up_seid + 99), 7).finish();
    let r = ask_up(&mut a, &smf, &m, t0, &mut up).unwrap();
    assert_eq!(header(&r).unwrap().seid, Some(0));
    assert_eq!(cause_of(&r).0, cause::SESSION_CONTEXT_NOT_FOUND);
    // Deletion: TERMR usage report, nothing left.
    let m = Writer::new(msg::SESSION_DELETION_REQUEST, Some(up_seid), 8).finish();
    let r = ask_up(&mut a, &smf, &m, t0, &mut up).unwrap();
    let (h, l) = list_of(&r);
    assert_eq!(h.seid, Some(0xc1));
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    let rep = sessions::members(&get(&l, t::USAGE_REPORT_DEL).unwrap());
    assert_eq!(get(&rep, t::USAGE_REPORT_TRIGGER), Some(vec![0, 0x08, 0]));
    assert!(up.is_empty());
    assert_eq!(a.session_count(), 0);
}

#[test]
fn bad_session_requests_get_their_cause() {
    let (mut a, smf) = pair();
    let mut up = up();
    let t0 = Instant::now();
    ask_up(&mut a, &smf, &setup(1, "127.0.0.1", 7), t0, &mut up).unwrap();
    // No CP F-SEID: 66, Offending IE 57, SEID 0.
    let e = Writer::new(msg::SESSION_ESTABLISHMENT_REQUEST, Some(0), 2)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .ie(t::CREATE_PDR, &grp(&[(t::PRECEDENCE, vec![0, 0, 0, 1])]))
        .finish();
    let r = ask_up(&mut a, &smf, &e, t0, &mut up).unwrap();
    assert_eq!(
        cause_of(&r),
        (cause::MANDATORY_IE_MISSING, Some(ie::F_SEID))
    );
    assert_eq!(header(&r).unwrap().seid, Some(0));
    // A Create PDR without its PDR ID: 66, Offending IE 56.
    let e = Writer::new(msg::SESSION_ESTABLISHMENT_REQUEST, Some(0), 3)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .ie(ie::F_SEID, &fseid(9))
        .ie(t::CREATE_PDR, &grp(&[(t::PRECEDENCE, vec![0, 0, 0, 1])]))
        .ie(
            t::CREATE_FAR,
            &grp(&[(t::FAR_ID, vec![0, 0, 0, 1]), (t::APPLY_ACTION, vec![2])]),
        )
        .finish();
    let r = ask_up(&mut a, &smf, &e, t0, &mut up).unwrap();
    assert_eq!(cause_of(&r), (cause::MANDATORY_IE_MISSING, Some(t::PDR_ID)));
    assert_eq!(header(&r).unwrap().seid, Some(9));
    // A grouped IE whose members lie about their length: 69.
    let e = Writer::new(msg::SESSION_ESTABLISHMENT_REQUEST, Some(0), 4)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .ie(ie::F_SEID, &fseid(9))
        .ie(t::CREATE_PDR, &[0, 56, 0, 9, 0, 1])
        .ie(
            t::CREATE_FAR,
            &grp(&[(t::FAR_ID, vec![0, 0, 0, 1]), (t::APPLY_ACTION, vec![2])]),
        )
        .finish();
    let r = ask_up(&mut a, &smf, &e, t0, &mut up).unwrap();
    assert_eq!(
        cause_of(&r),
        (cause::MANDATORY_IE_INCORRECT, Some(t::CREATE_PDR))
    );
    // Downlink FORW without Outer Header Creation: 73, FAR 2 named.
    let r = ask_up(
        &mut a,
        &smf,
        &establishment(5, 0xd1, [10, 45, 0, 9], 2, false),
        t0,
        &mut up,
    )
    .unwrap();
    let (_, l) = list_of(&r);
    assert_eq!(cause_of(&r).0, cause::RULE_FAILURE);
    assert_eq!(get(&l, t::FAILED_RULE_ID), Some(vec![1, 0, 0, 0, 2]));
    assert!(up.is_empty());
    // The 5G two-step setup: BUFF|NOCP without a path is fine.
    let r = ask_up(
        &mut a,
        &smf,
        &establishment(6, 0xd2, [10, 45, 0, 9], 0x0c, false),
        t0,
        &mut up,
    )
    .unwrap();
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    assert_eq!(up.len(), 1);
    // The association goes: so do its sessions.
    let rel = Writer::new(msg::ASSOCIATION_RELEASE_REQUEST, None, 7)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .finish();
    assert_eq!(
        cause_of(&ask_up(&mut a, &smf, &rel, t0, &mut up).unwrap()).0,
        cause::ACCEPTED
    );
    assert!(up.is_empty());
    assert_eq!(a.session_count(), 0);
}

#[test]
fn peers_outside_the_allow_list_are_refused_and_counted() {
    let mut c = cfg(0);
    c.peers = vec![("192.0.2.0".parse().unwrap(), 24)];
    let mut a = Agent::bind(&c).unwrap();
    let smf = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    // Association Setup: Request rejected, with our Node ID.
    let r = ask(&mut a, &smf, &setup(1, "127.0.0.1", 1000), t0).expect("an answer");
    let h = header(&r).unwrap();
    assert_eq!(h.msg_type, msg::ASSOCIATION_SETUP_RESPONSE);
    assert_eq!(cause_of(&r), (cause::REQUEST_REJECTED, None));
    let l = ies(&r[h.ies..h.end]).unwrap();
    assert!(
        l.iter().any(|(t, _)| *t == ie::NODE_ID),
        "Node ID in the refusal"
    );
    assert!(a.assocs.is_empty());
    // Anything else: no answer at all.
    let hb = Writer::new(msg::HEARTBEAT_REQUEST, None, 2)
        .ie(ie::RECOVERY_TIME_STAMP, &1000u32.to_be_bytes())
        .finish();
    assert_eq!(ask(&mut a, &smf, &hb, t0), None);
    assert_eq!(a.counts[count_of("peer_not_allowed")], 2);
    assert_eq!(a.counts[count_of("heartbeat_request_in")], 0);

    // Inside the list: associated as usual.
    let mut c = cfg(0);
    c.peers = vec![("127.0.0.0".parse().unwrap(), 8)];
    let mut a = Agent::bind(&c).unwrap();
    let r = ask(&mut a, &smf, &setup(1, "127.0.0.1", 1000), t0).expect("an answer");
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    assert_eq!(a.counts[count_of("peer_not_allowed")], 0);
}

/// Two downlink PDRs, one for SIP by SDF filter (QFI 1, precedence 100)
/// and one for the rest (QFI 9); `urr_on_sip_only`: URR 1 is linked to
/// the SIP PDR alone (per-flow charging, refused).
fn sdf_establishment(seq: u32, cp_seid: u64, urr_on_sip_only: bool) -> Vec<u8> {
    let sdf = |d: &str| {
        let mut v = vec![0x01, 0x00];
        v.extend_from_slice(&(d.len() as u16).to_be_bytes());
        v.extend_from_slice(d.as_bytes());
        v
    };
    let pdr =
        |id: u16, prec: u32, src: u8, extra: Vec<(u16, Vec<u8>)>, far: u32, qer: u32, urr: bool| {
            let mut pdi = vec![(t::SOURCE_INTERFACE, vec![src])];
            pdi.extend(extra);
            let mut m = vec![
                (t::PDR_ID, id.to_be_bytes().to_vec()),
                (t::PRECEDENCE, prec.to_be_bytes().to_vec()),
                (t::PDI, grp(&pdi)),
                (t::FAR_ID, far.to_be_bytes().to_vec()),
                (t::QER_ID, qer.to_be_bytes().to_vec()),
            ];
            if urr {
                m.push((t::URR_ID, 1u32.to_be_bytes().to_vec()));
            }
            grp(&m)
        };
    let ue = [10, 45, 0, 7];
    let ul = pdr(
        1,
        200,
        0,
        vec![(t::F_TEID, vec![0x05]), (t::UE_IP_ADDRESS, ue4(ue, false))],
        1,
        1,
        !urr_on_sip_only,
    );
    let dl = pdr(
        2,
        200,
        1,
        vec![
            (t::UE_IP_ADDRESS, ue4(ue, true)),
            (t::SDF_FILTER, sdf("permit out ip from any to assigned")),
        ],
        2,
        1,
        !urr_on_sip_only,
    );
    let sip = pdr(
        3,
        100,
        1,
        vec![
            (t::UE_IP_ADDRESS, ue4(ue, true)),
            (
                t::SDF_FILTER,
                sdf("permit out 17 from 198.51.100.0/24 5060 to assigned"),
            ),
        ],
        2,
        2,
        true,
    );
    let far1 = grp(&[
        (t::FAR_ID, 1u32.to_be_bytes().to_vec()),
        (t::APPLY_ACTION, vec![0x02]),
        (
            t::FORWARDING_PARAMETERS,
            grp(&[(t::DESTINATION_INTERFACE, vec![1])]),
        ),
    ]);
    let far2 = grp(&[
        (t::FAR_ID, 2u32.to_be_bytes().to_vec()),
        (t::APPLY_ACTION, vec![0x02]),
        (
            t::FORWARDING_PARAMETERS,
            grp(&[
                (t::DESTINATION_INTERFACE, vec![0]),
                (t::OUTER_HEADER_CREATION, ohc(0x1001, [192, 0, 2, 99])),
            ]),
        ),
    ]);
    let qer = |id: u32, qfi: u8| {
        grp(&[
            (t::QER_ID, id.to_be_bytes().to_vec()),
            (t::GATE_STATUS, vec![0]),
            (t::QFI, vec![qfi]),
        ])
    };
    let urr = grp(&[
        (t::URR_ID, 1u32.to_be_bytes().to_vec()),
        (t::MEASUREMENT_METHOD, vec![0x02]),
        (t::REPORTING_TRIGGERS, vec![0x00, 0x00]),
    ]);
    Writer::new(msg::SESSION_ESTABLISHMENT_REQUEST, Some(0), seq)
        .node_id(&NodeId::Ip("127.0.0.1".parse().unwrap()))
        .ie(ie::F_SEID, &fseid(cp_seid))
        .ie(t::CREATE_PDR, &ul)
        .ie(t::CREATE_PDR, &dl)
        .ie(t::CREATE_PDR, &sip)
        .ie(t::CREATE_FAR, &far1)
        .ie(t::CREATE_FAR, &far2)
        .ie(t::CREATE_QER, &qer(1, 9))
        .ie(t::CREATE_QER, &qer(2, 1))
        .ie(t::CREATE_URR, &urr)
        .finish()
}

#[test]
fn sdf_filtered_pdrs_become_per_flow_rules() {
    use xgw_pipelines::gtpu::{FlowRule, SdfFilter};
    let (mut a, smf) = pair();
    let mut up = up();
    let t0 = Instant::now();
    ask_up(&mut a, &smf, &setup(1, "127.0.0.1", 7), t0, &mut up).unwrap();
    // Per-flow charging (a URR on the SIP flow only): refused, PDR named.
    let r = ask_up(&mut a, &smf, &sdf_establishment(2, 0xd1, true), t0, &mut up).unwrap();
    let (_, l) = list_of(&r);
    assert_eq!(cause_of(&r).0, cause::RULE_FAILURE);
    assert!(get(&l, t::FAILED_RULE_ID).is_some());
    assert_eq!(up.len(), 0);
    // With the URR on every PDR: three rules, SIP first.
    let up_seid = established(
        &mut a,
        &smf,
        &sdf_establishment(3, 0xd2, false),
        t0,
        &mut up,
    );
    let s = up.get(gtp_id(up_seid)).unwrap().spec.clone();
    let sip = SdfFilter {
        proto: Some(17),
        remote: Some(("198.51.100.0".parse().unwrap(), 24)),
        remote_ports: Some((5060, 5060)),
        ..SdfFilter::default()
    };
    let rule = |uplink, precedence, filter, qfi| FlowRule {
        uplink,
        precedence,
        filter,
        pass: true,
        qfi,
        mbr: 0,
    };
    assert_eq!(
        s.flows,
        vec![
            rule(false, 100, sip, Some(1)),
            rule(true, 200, SdfFilter::default(), None),
            rule(false, 200, SdfFilter::default(), Some(9)),
        ]
    );
    assert_eq!((s.gate_ul, s.gate_dl, s.qfi), (true, true, None));
    // The plain session of the other tests has no per-flow rules.
    let up_seid = established(
        &mut a,
        &smf,
        &establishment(4, 0xd3, [10, 45, 0, 8], 2, true),
        t0,
        &mut up,
    );
    assert!(up.get(gtp_id(up_seid)).unwrap().spec.flows.is_empty());
}

/// Sends a Session Establishment Request that must be accepted; returns
/// the session's UP SEID.
fn established(a: &mut Agent, smf: &UdpSocket, req: &[u8], now: Instant, up: &mut Sessions) -> u64 {
    let r = ask_up(a, smf, req, now, up).unwrap();
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    let (_, l) = list_of(&r);
    rules::parse_fseid(&get(&l, ie::F_SEID).unwrap()).unwrap().0
}

/// A Session Modification Request of session `up_seid` with `ies`.
fn modification(up_seid: u64, seq: u32, ies: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut w = Writer::new(msg::SESSION_MODIFICATION_REQUEST, Some(up_seid), seq);
    for (ty, v) in ies {
        w = w.ie(*ty, v);
    }
    w.finish()
}

/// Sends a Session Modification Request of session `up_seid` that must
/// be accepted; returns the response's IEs.
fn modified(
    a: &mut Agent,
    smf: &UdpSocket,
    (up_seid, seq): (u64, u32),
    ies: &[(u16, Vec<u8>)],
    now: Instant,
    up: &mut Sessions,
) -> Vec<(u16, Vec<u8>)> {
    let r = ask_up(a, smf, &modification(up_seid, seq, ies), now, up).unwrap();
    assert_eq!(cause_of(&r), (cause::ACCEPTED, None));
    list_of(&r).1
}

#[test]
fn a_urr_removed_and_created_again_in_one_request_is_a_new_urr() {
    let (mut a, smf) = pair();
    let mut up = up();
    let t0 = Instant::now();
    ask_up(&mut a, &smf, &setup(1, "127.0.0.1", 7), t0, &mut up).unwrap();
    let up_seid = established(
        &mut a,
        &smf,
        &establishment(2, 0xc1, [10, 45, 0, 2], 2, true),
        t0,
        &mut up,
    );
    let urr1 = || grp(&[(t::URR_ID, 1u32.to_be_bytes().to_vec())]);
    // URR 1 (volume) reports once: its next report is number 1.
    modified(
        &mut a,
        &smf,
        (up_seid, 3),
        &[(t::QUERY_URR, urr1())],
        t0,
        &mut up,
    );
    // Remove URR 1 and create a URR 1 measuring duration in one request:
    // the final report is the removed one's (number 1, volume, TERMR).
    let new_urr = grp(&[
        (t::URR_ID, 1u32.to_be_bytes().to_vec()),
        (t::MEASUREMENT_METHOD, vec![0x01]),
        (t::REPORTING_TRIGGERS, vec![0x00, 0x00]),
    ]);
    let l = modified(
        &mut a,
        &smf,
        (up_seid, 4),
        &[(t::REMOVE_URR, urr1()), (t::CREATE_URR, new_urr)],
        t0,
        &mut up,
    );
    let rep = sessions::members(&get(&l, t::USAGE_REPORT_MOD).unwrap());
    assert_eq!(get(&rep, t::URR_ID), Some(1u32.to_be_bytes().to_vec()));
    assert_eq!(
        get(&rep, t::UR_SEQN),
        Some(1u32.to_be_bytes().to_vec()),
        "the removed URR's report"
    );
    assert_eq!(
        get(&rep, t::USAGE_REPORT_TRIGGER),
        Some(vec![0, 0x08, 0]),
        "TERMR"
    );
    assert!(
        get(&rep, t::VOLUME_MEASUREMENT).is_some(),
        "the removed URR measured volume"
    );
    assert!(get(&rep, t::DURATION_MEASUREMENT).is_none());
    // The session now has the new URR 1: it answers a query (no cause 73),
    // as report number 0, with a duration and no volume.
    let v = a.sessions_json(None, Some(&mut up));
    assert_eq!(
        v["sessions"][0]["urrs"][0]["measurement_method"],
        json!(["DURAT"])
    );
    let l = modified(
        &mut a,
        &smf,
        (up_seid, 5),
        &[(t::QUERY_URR, urr1())],
        t0,
        &mut up,
    );
    let rep = sessions::members(&get(&l, t::USAGE_REPORT_MOD).unwrap());
    assert_eq!(
        get(&rep, t::UR_SEQN),
        Some(0u32.to_be_bytes().to_vec()),
        "the new URR's first report"
    );
    assert!(get(&rep, t::DURATION_MEASUREMENT).is_some());
    assert!(get(&rep, t::VOLUME_MEASUREMENT).is_none());
    // Removing URR 1 alone while PDRs still name it: refused (73, the
    // PDR named), nothing changed.
    let r = ask_up(
        &mut a,
        &smf,
        &modification(up_seid, 6, &[(t::REMOVE_URR, urr1())]),
        t0,
        &mut up,
    )
    .unwrap();
    assert_eq!(cause_of(&r).0, cause::RULE_FAILURE);
    let (_, l) = list_of(&r);
    assert_eq!(get(&l, t::FAILED_RULE_ID).map(|f| f[0]), Some(0), "a PDR");
    modified(
        &mut a,
        &smf,
        (up_seid, 7),
        &[(t::QUERY_URR, urr1())],
        t0,
        &mut up,
    );
}
