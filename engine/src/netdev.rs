//! What the engine needs to know about a network interface and about its
//! own privileges, with errors that say what to do.

use std::ffi::CString;
use std::io;

use xgw_pipelines::wire::ethernet::MacAddr;

/// ifindex of `name` in the current network namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The device's MAC address.
pub fn mac(name: &str) -> io::Result<MacAddr> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
    s.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad MAC {s:?}")))
}

/// Number of RX queues the device has (at least 1).
pub fn rx_queues(name: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_IPC_LOCK: u32 = 14;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Checks the capabilities AF_XDP ports need, before touching anything.
pub fn check_privileges() -> Result<(), String> {
    let caps = effective_caps();
    let has = |c: u32| caps & (1u64 << c) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_NET_RAW) {
        missing.push("CAP_NET_RAW");
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "AF_XDP ports need root or the capabilities {}; run xgw with sudo (or use `xgw replay` with pcap ports, which needs none)",
        missing.join(", ")
    ))
}

/// Makes sure `bytes` of UMEM can be registered: without CAP_IPC_LOCK the
/// kernel charges it to RLIMIT_MEMLOCK. Raises the limit if allowed.
pub fn ensure_memlock(bytes: u64) -> Result<(), String> {
    if effective_caps() & (1u64 << CAP_IPC_LOCK) != 0 {
        return Ok(());
    }
    let inf = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain setrlimit with a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) } == 0 {
        return Ok(());
    }
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into cur.
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) };
    if cur.rlim_cur == libc::RLIM_INFINITY || cur.rlim_cur >= bytes {
        return Ok(());
    }
    Err(format!(
        "memlock limit is {} KiB but the UMEM needs {} KiB; run `ulimit -l unlimited` first (LimitMEMLOCK=infinity under systemd) or grant CAP_IPC_LOCK",
        cur.rlim_cur / 1024,
        bytes.div_ceil(1024)
    ))
}
