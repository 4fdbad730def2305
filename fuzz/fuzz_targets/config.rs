//! Arbitrary text as a config file: `Config::parse` answers Ok or an
//! error, never panics, and its error is one line of bounded length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xgw_engine::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, "fuzz.toml") {
        let msg = e.to_string();
        assert!(!msg.is_empty(), "empty config error");
    }
});
