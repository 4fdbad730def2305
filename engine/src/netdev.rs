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

/// Link-layer multicast groups joined on a device for as long as this
/// value lives (an `AF_PACKET` socket with `PACKET_ADD_MEMBERSHIP`; the
/// kernel drops the memberships when the socket closes, also after a
/// crash). Without them a NIC's multicast filter would hide Neighbor
/// Solicitations for our addresses (sent to their solicited-node groups)
/// and Router Solicitations from AF_XDP.
pub struct Memberships {
    _fd: std::os::fd::OwnedFd,
    /// The interface they are joined on.
    pub ifindex: u32,
    pub groups: Vec<MacAddr>,
}

/// Joins `groups` on interface `ifindex`.
pub fn join_multicast(ifindex: u32, groups: &[MacAddr]) -> io::Result<Memberships> {
    use std::os::fd::FromRawFd;
    // Protocol 0: the socket receives nothing, it only holds memberships.
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    for g in groups {
        let mut mr = libc::packet_mreq {
            mr_ifindex: ifindex as i32,
            mr_type: libc::PACKET_MR_MULTICAST as u16,
            mr_alen: 6,
            mr_address: [0; 8],
        };
        mr.mr_address[..6].copy_from_slice(&g.0);
        // SAFETY: mr is a valid packet_mreq for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                (&mr as *const libc::packet_mreq).cast(),
                std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(Memberships {
        _fd: owned,
        ifindex,
        groups: groups.to_vec(),
    })
}

/// `struct ifreq` as `SIOCGIFFLAGS` uses it (name, then the flags in the
/// 24-byte union).
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _rest: [u8; 22],
}

/// Administrative and operational state of `name` in the current network
/// namespace: `Some(true)` when it is up with a carrier, `None` when the
/// query fails (no such device).
fn link_running(sock: &std::os::fd::OwnedFd, name: &str) -> Option<bool> {
    use std::os::fd::AsRawFd;
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _rest: [0; 22],
    };
    if name.len() >= libc::IFNAMSIZ {
        return None;
    }
    for (d, s) in req.name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: req is a valid, NUL-terminated ifreq for the duration of the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
    if rc != 0 {
        return None;
    }
    let f = req.flags as libc::c_int;
    Some(f & libc::IFF_UP != 0 && f & libc::IFF_RUNNING != 0)
}

/// Watches the devices the AF_XDP ports are bound to, from the control
/// thread (never the packet path): at most once per period it looks each
/// one up by name. A device that went away or was replaced by another one
/// of the same name (its ifindex changed) has unbound our sockets and
/// detached our XDP program, and nothing brings them back: the engine must
/// stop and exit non-zero so that a supervisor restarts it once the device
/// is back. A device set down (or losing its carrier) keeps its sockets
/// bound and forwarding resumes by itself when it comes back up; that is
/// only logged, once per change.
pub struct LinkWatch {
    /// (port, interface, ifindex bound to, last seen running)
    links: Vec<(String, String, u32, bool)>,
    sock: Option<std::os::fd::OwnedFd>,
    every: std::time::Duration,
    next: std::time::Instant,
}

impl LinkWatch {
    /// How often [`LinkWatch::check`] looks (it may be called more often).
    pub const PERIOD: std::time::Duration = std::time::Duration::from_millis(500);

    /// `links`: (port name, interface name, ifindex its sockets are bound to).
    pub fn new(links: impl IntoIterator<Item = (String, String, u32)>) -> LinkWatch {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        // SAFETY: fd is a fresh socket we own.
        let sock = (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        let mut w = LinkWatch {
            links: links.into_iter().map(|(p, i, x)| (p, i, x, true)).collect(),
            sock,
            every: Self::PERIOD,
            next: std::time::Instant::now(),
        };
        // Record the state at start without logging it as a change.
        if let Some(s) = &w.sock {
            for l in &mut w.links {
                l.3 = link_running(s, &l.1).unwrap_or(true);
            }
        }
        w
    }

    /// Checks the devices when the period is over. `Err` (a one-line
    /// message naming the port and the interface) when one is gone or
    /// was replaced; up/down changes are logged.
    pub fn check(&mut self) -> Result<(), String> {
        let now = std::time::Instant::now();
        if now < self.next {
            return Ok(());
        }
        self.next = now + self.every;
        for (port, ifname, bound, running) in &mut self.links {
            match ifindex(ifname) {
                None => {
                    return Err(format!(
                        "interface {ifname} (port {port}, ifindex {bound}) has disappeared: its AF_XDP sockets are unbound; stopping so that a supervisor restarts xgw once it is back"
                    ))
                }
                Some(now) if now != *bound => {
                    return Err(format!(
                        "interface {ifname} (port {port}) was replaced (ifindex {bound} -> {now}): its AF_XDP sockets are unbound; stopping so that a supervisor restarts xgw on the new device"
                    ))
                }
                Some(_) => {}
            }
            let Some(up) = self.sock.as_ref().and_then(|s| link_running(s, ifname)) else {
                continue;
            };
            if up != *running {
                *running = up;
                if up {
                    tracing::info!(port = %port, interface = %ifname, "interface is up again: forwarding through it resumes");
                } else {
                    tracing::warn!(port = %port, interface = %ifname, "interface is down or has no carrier: frames for it wait in its TX ring (tx.ring_full once full) until it is up");
                }
            }
        }
        Ok(())
    }
}

impl LinkWatch {
    /// Watches the device of every AF_XDP port, with the ifindex its XDP
    /// program was attached to (= the one its sockets are bound to).
    pub fn for_ports(
        ports: &[crate::engine::PortInfo],
        xdp: &[crate::bpf::XdpProgram],
    ) -> LinkWatch {
        LinkWatch::new(ports.iter().filter_map(|p| {
            let ifname = p.interface.as_ref()?;
            let prog = xdp.iter().find(|x| x.ifname() == ifname)?;
            Some((p.name.clone(), ifname.clone(), prog.ifindex()))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lo() -> u32 {
        ifindex("lo").expect("every network namespace has lo")
    }

    #[test]
    fn link_watch_accepts_a_device_that_is_still_there() {
        let mut w = LinkWatch::new([("p".to_string(), "lo".to_string(), lo())]);
        assert_eq!(w.check(), Ok(()));
    }

    #[test]
    fn link_watch_reports_a_vanished_device_naming_port_and_interface() {
        let mut w = LinkWatch::new([("pb".to_string(), "xgw-nosuch0".to_string(), 4242)]);
        let e = w.check().unwrap_err();
        assert!(
            e.contains("interface xgw-nosuch0 (port pb, ifindex 4242) has disappeared"),
            "{e}"
        );
    }

    #[test]
    fn link_watch_reports_a_replaced_device() {
        let old = lo() + 1000;
        let mut w = LinkWatch::new([("pa".to_string(), "lo".to_string(), old)]);
        let e = w.check().unwrap_err();
        assert!(
            e.contains(&format!(
                "interface lo (port pa) was replaced (ifindex {old} -> {})",
                lo()
            )),
            "{e}"
        );
    }

    #[test]
    fn link_watch_looks_at_most_once_per_period() {
        let mut w = LinkWatch::new([("p".to_string(), "lo".to_string(), lo())]);
        assert_eq!(w.check(), Ok(()));
        // Within the period nothing is looked up, so even a wrong ifindex
        // is not noticed until the period is over.
        w.links[0].2 = lo() + 1000;
        assert_eq!(w.check(), Ok(()));
        w.next = std::time::Instant::now();
        assert!(w.check().is_err());
    }

    #[test]
    fn link_flags_of_lo_and_of_a_missing_device() {
        let w = LinkWatch::new(Vec::<(String, String, u32)>::new());
        let s = w.sock.as_ref().expect("a UDP socket");
        // (lo is up wherever these tests run; the up/down logging itself
        // is checked by tests/netns/faults.sh on a veth)
        assert_eq!(link_running(s, "lo"), Some(true));
        assert_eq!(link_running(s, "xgw-nosuch0"), None);
    }
}
