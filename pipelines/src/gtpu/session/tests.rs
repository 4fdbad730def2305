//! The session store's rules: unique ids, F-TEIDs and UE addresses,
//! bounded size, slot reuse, refusals that change nothing.

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spec(max: usize) -> GtpuSpec {
    GtpuSpec {
        endpoints: vec![ip("192.0.2.1"), ip("2001:db8::1")],
        max_sessions: max,
        ..GtpuSpec::default()
    }
}

fn s(id: u64, teid: u32, ue4: Option<&str>, ue6: Option<(&str, u8)>) -> SessionSpec {
    SessionSpec {
        id,
        local: ip("192.0.2.1"),
        teid,
        ue4: ue4.map(|a| a.parse().unwrap()),
        ue6: ue6.map(|(a, l)| (a.parse().unwrap(), l)),
        peer: ip("198.51.100.1"),
        peer_teid: 7,
        ..SessionSpec::default()
    }
}

#[test]
fn uniqueness_and_bounds() {
    let mut st = Sessions::new(&spec(3), 2).unwrap();
    st.add(s(1, 10, Some("10.45.0.1"), None)).unwrap();
    assert_eq!(
        st.add(s(1, 11, Some("10.45.0.2"), None)),
        Err(SessionError::Exists(1))
    );
    assert_eq!(
        st.add(s(2, 10, Some("10.45.0.2"), None)),
        Err(SessionError::TeidTaken(ip("192.0.2.1"), 10, 1))
    );
    // The same TEID on the other endpoint is another F-TEID.
    let mut other = s(2, 10, Some("10.45.0.2"), None);
    other.local = ip("2001:db8::1");
    st.add(other).unwrap();
    assert!(matches!(
        st.add(s(3, 12, Some("10.45.0.1"), None)),
        Err(SessionError::UeTaken(_, 1))
    ));
    st.add(s(3, 12, None, Some(("2001:db8:45:1::", 64))))
        .unwrap();
    // A /128 inside that /64, and a /64 over a /128.
    assert_eq!(st.len(), 3);
    assert_eq!(
        st.add(s(4, 13, Some("10.45.0.9"), None)),
        Err(SessionError::Full(3))
    );
    st.delete(2, false).unwrap();
    assert!(matches!(
        st.add(s(4, 13, None, Some(("2001:db8:45:1::5", 128)))),
        Err(SessionError::UeTaken(_, 3))
    ));
    st.delete(3, false).unwrap();
    st.add(s(4, 13, None, Some(("2001:db8:45:1::5", 128))))
        .unwrap();
    assert!(matches!(
        st.add(s(5, 14, None, Some(("2001:db8:45:1::", 64)))),
        Err(SessionError::UeTaken(_, 4))
    ));
    assert_eq!(
        st.delete(9, false).map(|_| ()),
        Err(SessionError::NotFound(9))
    );
    assert_eq!(
        st.modify(s(9, 1, Some("10.45.0.7"), None), false),
        Err(SessionError::NotFound(9))
    );
}

#[test]
fn field_checks() {
    let mut st = Sessions::new(&spec(8), 1).unwrap();
    for (bad, what) in [
        (s(1, 0, Some("10.45.0.1"), None), "teid 0"),
        (s(1, 5, None, None), "UE address"),
        (s(1, 5, None, Some(("2001:db8:45::", 56))), "/128"),
        (s(1, 5, None, Some(("2001:db8:45::1", 64))), "host bits"),
        (s(1, 5, None, Some(("2001:db8:45::", 128))), "anycast"),
        (s(1, 5, Some("224.0.0.1"), None), "multicast"),
        (
            SessionSpec {
                qfi: Some(64),
                ..s(1, 5, Some("10.45.0.1"), None)
            },
            "6 bits",
        ),
        (
            SessionSpec {
                peer_teid: 0,
                ..s(1, 5, Some("10.45.0.1"), None)
            },
            "peer_teid 0",
        ),
    ] {
        match st.add(bad) {
            Err(SessionError::Invalid(why)) => assert!(why.contains(what), "{why}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    let mut x = s(1, 5, Some("10.45.0.1"), None);
    x.local = ip("192.0.2.9");
    assert_eq!(st.add(x), Err(SessionError::NotEndpoint(ip("192.0.2.9"))));
    assert!(st.is_empty(), "refusals change nothing");
}

#[test]
fn a_modification_may_keep_its_own_keys() {
    let mut st = Sessions::new(&spec(8), 1).unwrap();
    st.add(s(1, 10, Some("10.45.0.1"), Some(("2001:db8:45:1::", 64))))
        .unwrap();
    let mut m = s(1, 10, Some("10.45.0.1"), Some(("2001:db8:45:1::", 64)));
    m.peer_teid = 99;
    st.modify(m, false).unwrap();
    assert_eq!(st.get(1).unwrap().spec.peer_teid, 99);
}

#[test]
fn workers_apply_changes_in_order_without_growing() {
    let mut st = Sessions::new(&spec(4), 2).unwrap();
    let mut w = Replica::new(st.bus().clone(), 1);
    let caps = (
        w.ul.reserved_bytes(),
        w.dl4.reserved_bytes(),
        w.dl6.reserved_bytes(),
    );
    let bytes = w.reserved_bytes();
    for round in 0..50u32 {
        st.add(s(1, 10 + round, Some("10.45.0.1"), None)).unwrap();
        st.add(s(2, 500 + round, None, Some(("2001:db8:45:1::", 64))))
            .unwrap();
        apply(&mut w, APPLY_PER_TICK);
        let ep = 0;
        assert!(w.uplink(ep, 10 + round).is_some());
        assert_eq!(
            w.downlink4(u32::from(Ipv4Addr::new(10, 45, 0, 1))),
            w.uplink(ep, 10 + round)
        );
        let a: Ipv6Addr = "2001:db8:45:1::99".parse().unwrap();
        assert_eq!(w.downlink6(u128::from(a)), w.uplink(ep, 500 + round));
        st.delete(1, false).unwrap();
        st.delete(2, false).unwrap();
        apply(&mut w, APPLY_PER_TICK);
        assert!(w.uplink(ep, 10 + round).is_none());
        assert!(w
            .downlink4(u32::from(Ipv4Addr::new(10, 45, 0, 1)))
            .is_none());
    }
    assert_eq!(
        caps,
        (
            w.ul.reserved_bytes(),
            w.dl4.reserved_bytes(),
            w.dl6.reserved_bytes()
        )
    );
    assert_eq!((w.ul.len(), w.dl4.len(), w.dl6.len()), (0, 0, 0));
    assert_eq!(bytes, w.reserved_bytes());
}

/// The replica knows whether any session has a rate (the pre-pass's
/// third loop), through adds, modifications, re-keyings and deletes; and
/// a /128 key taken over by another session is counted once.
#[test]
fn rated_and_128_counts_follow_the_changes() {
    let mut st = Sessions::new(&spec(8), 1).unwrap();
    let mut w = Replica::new(st.bus().clone(), 0);
    st.add(s(1, 10, Some("10.45.0.1"), Some(("2001:db8:45::1", 128))))
        .unwrap();
    apply(&mut w, APPLY_PER_TICK);
    assert!(!w.any_rated());
    assert_eq!(w.n128, 1);
    let mut m = s(1, 11, Some("10.45.0.1"), Some(("2001:db8:45::1", 128)));
    m.mbr_ul = 8_000_000;
    st.modify(m.clone(), false).unwrap();
    apply(&mut w, APPLY_PER_TICK);
    assert!(w.any_rated());
    assert_eq!(w.n128, 1);
    assert_eq!(w.uplink(0, 11), Some(w.downlink4(0x0a2d_0001).unwrap()));
    assert_eq!(w.uplink(0, 10), None);
    m.mbr_ul = 0;
    m.mbr_dl = 8_000_000;
    st.modify(m, false).unwrap();
    apply(&mut w, APPLY_PER_TICK);
    assert!(w.any_rated());
    st.delete(1, false).unwrap();
    apply(&mut w, APPLY_PER_TICK);
    assert!(!w.any_rated());
    assert_eq!(w.n128, 0);
    assert_eq!((w.ul.len(), w.dl4.len(), w.dl6.len()), (0, 0, 0));
}

#[test]
fn a_full_ring_refuses_the_change_whole() {
    let mut st = Sessions::new(&spec(RING + 8), 2).unwrap();
    for i in 0..RING as u64 {
        st.add(s(
            i + 1,
            i as u32 + 1,
            Some(&Ipv4Addr::from(0x0a2d_0000 + i as u32).to_string()),
            None,
        ))
        .unwrap();
    }
    let r = st.add(s(1 << 40, 1 << 30, Some("10.99.0.1"), None));
    assert!(matches!(r, Err(SessionError::Busy(_))), "{r:?}");
    assert!(st.get(1 << 40).is_none());
    // Once a worker drained its ring, and the other too, it goes.
    let mut w0 = Replica::new(st.bus().clone(), 0);
    let mut w1 = Replica::new(st.bus().clone(), 1);
    apply(&mut w0, RING);
    assert!(st
        .add(s(1 << 40, 1 << 30, Some("10.99.0.1"), None))
        .is_err());
    apply(&mut w1, RING);
    st.add(s(1 << 40, 1 << 30, Some("10.99.0.1"), None))
        .unwrap();
}

#[test]
fn bytes_per_session_at_the_table_sizes() {
    assert_eq!(std::mem::size_of::<Entry>(), 128);
    assert_eq!(std::mem::size_of::<Row>(), 64);
    // What a packet without an MBR reads is the entry's first line.
    assert_eq!(std::mem::offset_of!(Entry, ul), 64);
    assert_eq!(std::mem::offset_of!(Entry, dl_rate), 56);
    // The entry, a row of counters and 3 indexes of a 64-byte bucket per
    // 4 sessions: 128 + 64 + 3 × 16, whatever the maximum.
    assert_eq!(bytes_per_session(7 << 13), 240);
    assert_eq!(bytes_per_session(1 << 16), 240);
    assert_eq!(bytes_per_session(1 << 20), 240);
    assert_eq!(bytes_per_session(DEFAULT_MAX_SESSIONS), 240);
    // Not a multiple of 4: a bucket's worth more, rounded down.
    assert_eq!(bytes_per_session(1_000_001), 240);
    assert_eq!(bytes_per_session(5), 268);
}

/// Applies up to `n` queued changes (nothing buffered: no engine needed).
fn apply(w: &mut Replica, n: usize) {
    let mut e = crate::NoEmit;
    w.apply(n, &mut crate::Ctx::new(0, &mut e), 0);
}
