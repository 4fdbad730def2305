//! Arbitrary request lines to the control side of a router engine
//! (stats, route add/del/list, neighbours, tunnels): every request gets a
//! JSON answer, nothing panics, and the engine keeps answering `ping`.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use xgw_engine::control::StatsSource;
use xgw_fuzz::Rig;

thread_local! {
    static SRC: RefCell<(Rig, StatsSource)> = RefCell::new({
        let mut rig = Rig::router();
        let src = StatsSource::new(std::mem::take(&mut rig.ports), vec![rig.worker.stats.clone()])
            .with_function(rig.function.take().expect("the rig's pipeline function"));
        (rig, src)
    });
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    SRC.with(|s| {
        let mut s = s.borrow_mut();
        let (rig, src) = &mut *s;
        for l in line.split('\n').take(8) {
            let v = src.answer(l);
            assert!(v.is_object() || v.is_array(), "answer is not JSON object/array: {v}");
        }
        assert_eq!(src.answer("ping")["ok"], true);
        // Route and tunnel changes reach the worker at its next burst.
        rig.worker.poll_once();
        rig.drain_and_check();
    });
});
