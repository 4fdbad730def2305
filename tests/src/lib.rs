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
