//! Helpers shared by the integration tests in tests/tests/.

use std::path::{Path, PathBuf};

/// The `xgw` binary built next to the running test
/// (target/<profile>/deps/<test> → target/<profile>/xgw).
pub fn xgw_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("xgw");
    assert!(
        bin.exists(),
        "{} missing: build the workspace first (cargo build --workspace)",
        bin.display()
    );
    bin
}

/// A config for `xgw run` with two workers on two loopback mem ports
/// cross-connected by the L2 forwarder (no root, no interfaces), its
/// control socket at `socket`; idle workers sleep (test machines are
/// shared).
pub fn two_worker_mem_config(socket: &Path) -> String {
    format!(
        r#"
[engine]
cores = [0, 1]
idle = "adaptive"
[engine.umem]
frames = 1024
[control]
socket = "{}"
[[ports]]
name = "a"
driver = "mem"
mac = "02:00:00:00:00:0a"
loopback = true
[[ports]]
name = "b"
driver = "mem"
mac = "02:00:00:00:00:0b"
loopback = true
[pipeline]
kind = "l2fwd"
[pipeline.l2fwd]
mode = "io"
[[pipeline.l2fwd.pairs]]
a = "a"
b = "b"
"#,
        socket.display()
    )
}
