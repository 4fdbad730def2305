//! Every wire parser (GTP-U's included) on arbitrary bytes (the first byte picks one, the
//! rest is its input): views are built with `new_checked` and, when they
//! accept, every field is read, option and extension-header chains are
//! walked, and representations that can be written back are written and
//! parsed again to the same value. No parser may panic or read out of
//! bounds, whatever the lengths inside claim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::hint::black_box;
use xgw_pipelines::wire::{arp, ethernet, gtpu, icmpv4, icmpv6, ipv4, ipv6, ndp, tcp, udp, vlan};

fuzz_target!(|data: &[u8]| {
    let Some((&which, b)) = data.split_first() else {
        return;
    };
    match which % 13 {
        0 => {
            if let Some(f) = ethernet::Frame::new_checked(b) {
                black_box((f.dst(), f.src(), f.ethertype(), f.dst().is_multicast()));
            }
            black_box(vlan::parse_tag(b));
        }
        1 => {
            if let Ok(p) = arp::Packet::new_checked(b) {
                let r = arp::Repr::parse(&p);
                let mut buf = [0u8; 28];
                if r.emit(&mut buf).is_ok() {
                    let q = arp::Packet::new_checked(&buf[..]).expect("emitted ARP parses");
                    assert_eq!(arp::Repr::parse(&q), r, "ARP round trip");
                }
            }
        }
        2 => {
            if let Ok(p) = ipv4::Packet::new_checked(b) {
                let r = ipv4::Repr::parse(&p);
                black_box((format!("{r:?}"), p.options()));
            }
        }
        3 => {
            if let Ok(p) = ipv6::Packet::new_checked(b) {
                let r = ipv6::Repr::parse(&p);
                black_box(format!("{r:?}"));
                for max in [0, 1, 8, 64] {
                    if let Ok(w) = p.walk_ext_headers(max) {
                        assert!(w.upper_offset <= p.payload().len(), "walk past the payload");
                        assert!(usize::from(w.headers) <= max, "walked more than allowed");
                    }
                }
            }
            if b.len() > 1 {
                let _ = black_box(ipv6::walk_ext_headers(&b[1..], b[0], 16));
            }
        }
        4 => {
            if let Ok(p) = icmpv4::Packet::new_checked(b) {
                let r = icmpv4::Repr::parse(&p);
                black_box((format!("{r:?}"), p.verify_checksum(), p.data(), p.next_hop_mtu()));
                black_box(icmpv4::is_error(p.msg_type()));
            }
        }
        5 => {
            if let Ok(p) = icmpv6::Packet::new_checked(b) {
                black_box(format!("{:?}", icmpv6::Repr::parse(&p)));
            }
        }
        6 => {
            if let Ok(p) = udp::Packet::new_checked(b) {
                black_box(format!("{:?}", udp::Repr::parse(&p)));
            }
        }
        7 => {
            if let Ok(p) = tcp::Packet::new_checked(b) {
                black_box(p.options());
            }
        }
        8 => {
            if let Ok(p) = ndp::NeighborSolicit::new_checked(b) {
                black_box((ndp::NeighborSolicitRepr::parse(&p), p.source_lladdr()));
                for o in p.options() {
                    black_box(format!("{o:?}"));
                }
            }
        }
        9 => {
            if let Ok(p) = ndp::NeighborAdvert::new_checked(b) {
                black_box((ndp::NeighborAdvertRepr::parse(&p), p.target_lladdr()));
                for o in p.options() {
                    black_box(format!("{o:?}"));
                }
            }
        }
        10 => {
            if let Ok(p) = ndp::RouterAdvert::new_checked(b) {
                black_box(ndp::RouterAdvertRepr::parse(&p));
                let _ = p.options().check();
                for o in p.options() {
                    black_box(format!("{o:?}"));
                }
            }
            if let Ok(p) = ndp::RouterSolicit::new_checked(b) {
                black_box(p.source_lladdr());
            }
        }
        12 => {
            // GTP-U: the header and its extension-header chain, whatever
            // the lengths claim; the IEs of an Error Indication.
            if let Ok(h) = gtpu::parse(b) {
                assert!(h.payload <= h.end && h.end <= b.len(), "GTP-U payload out of bounds");
                let p = h.payload_of(b);
                black_box((h.psc, h.unknown_required, gtpu::parse_error_indication(p)));
                // A G-PDU header for this payload parses back to it.
                let mut buf = [0u8; 16];
                let qfi = h.psc.map(|c| c.qfi);
                if let Ok(n) = gtpu::write_gpdu_header(&mut buf, h.teid, qfi, p.len()) {
                    let mut m = buf[..n].to_vec();
                    m.extend_from_slice(p);
                    let g = gtpu::parse(&m).expect("written G-PDU parses");
                    assert_eq!((g.teid, g.psc.map(|c| c.qfi)), (h.teid, qfi));
                    assert_eq!(g.payload_of(&m), p);
                }
            }
        }
        _ => {
            let _ = ndp::NdpOptions::new(b).check();
            for o in ndp::NdpOptions::new(b) {
                if let Ok(ndp::NdpOption::Rdnss(r)) = &o {
                    black_box(r.addresses().count());
                }
                black_box(format!("{o:?}"));
            }
        }
    }
});
