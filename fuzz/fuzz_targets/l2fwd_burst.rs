//! Bursts into the L2 forwarder (mac mode) on its two ports: no panic,
//! exact accounting, every frame sent at least an Ethernet header.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use xgw_fuzz::{records, Rig};

thread_local! {
    static RIG: RefCell<Rig> = RefCell::new(Rig::l2fwd());
}

fuzz_target!(|data: &[u8]| {
    RIG.with(|r| {
        let mut r = r.borrow_mut();
        let mut pending = false;
        for (port, frame) in records(data).take(256) {
            pending |= r.inject(port & 1, frame);
        }
        if pending {
            for _ in 0..64 {
                let n = r.worker.poll_once();
                // The forwarder sends whatever arrives: only the
                // accounting and the frame count matter here.
                let w = &mut r.worker;
                for p in w.ports.iter_mut() {
                    if let xgw_engine::port::PortQueue::Mem(q) = p {
                        q.take_tx(&mut w.pool, |f| assert!(f.len() >= 14, "runt sent"));
                    }
                }
                r.check_accounting();
                if n == 0 {
                    break;
                }
            }
        }
    });
});
