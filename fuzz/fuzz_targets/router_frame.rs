//! One frame into the router on one of three ports (first input byte,
//! modulo 3), through the whole worker: no panic, exact accounting, every
//! frame sent well-formed. The worker lives across inputs (as it would on
//! the wire: neighbour entries, parked frames and timers carry over).
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use xgw_fuzz::Rig;

thread_local! {
    static RIG: RefCell<Rig> = RefCell::new(Rig::router());
}

fuzz_target!(|data: &[u8]| {
    let Some((&port, frame)) = data.split_first() else {
        return;
    };
    RIG.with(|r| {
        let mut r = r.borrow_mut();
        if r.inject(usize::from(port) % 3, frame) {
            r.run();
        }
    });
});
