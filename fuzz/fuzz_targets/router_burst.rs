//! Bursts of several frames on several ports into the router (input:
//! records of [port byte][u16 LE length][frame], see `xgw_fuzz::records`;
//! a record on port 3 ends the burst so far and starts another). Same
//! checks as `router_frame` after every burst.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use xgw_fuzz::{records, Rig};

thread_local! {
    static RIG: RefCell<Rig> = RefCell::new(Rig::router());
}

fuzz_target!(|data: &[u8]| {
    RIG.with(|r| {
        let mut r = r.borrow_mut();
        let mut pending = false;
        for (port, frame) in records(data).take(256) {
            if port == 3 {
                if pending {
                    r.run();
                    pending = false;
                }
                continue;
            }
            pending |= r.inject(port, frame);
        }
        if pending {
            r.run();
        }
    });
});
