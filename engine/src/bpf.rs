//! Minimal XDP loader built on raw `bpf(2)` syscalls (no libbpf, libxdp or aya).
//!
//! [`XdpProgram::attach`] creates six maps (an XSKMAP with one slot per queue and
//! five "pass rule" maps), loads a small hand-assembled XDP program and
//! attaches it to an interface through a **bpf_link** (`BPF_LINK_CREATE`).
//! The link lives exactly as long as its file descriptor: when the
//! [`XdpProgram`] is dropped, or the process dies for any reason (`kill -9`
//! included), the kernel detaches the program. Nothing is ever attached through
//! netlink, so a crashed gateway never leaves a stale program (with a stale
//! XSKMAP) on the interface.
//!
//! The program, in C terms:
//!
//! ```c
//! if (data + 14 > data_end) goto redirect;
//! __u32 et = bpf_ntohs(eth->h_proto), proto, port = 65536; /* no port */
//! if (lookup(&pass_ethertype, &et)) return XDP_PASS;
//! if (et == 0x0806) {                      /* ARP for or to a host address */
//!     if (data + 42 <= data_end && lookup(&pass_ipv4, data + 38)) return XDP_PASS;
//!     goto redirect;
//! }
//! if (et == 0x0800) {
//!     if (data + 34 > data_end || !lookup(&pass_ipv4, data + 30)) goto redirect;
//!     proto = data[23];
//!     if (!(ntohs(*(u16 *)(data + 20)) & 0x1fff)) {   /* not a later fragment */
//!         void *l4 = data + 14 + (data[14] & 0xf) * 4;
//!         if (l4 + 4 <= data_end) port = ntohs(*(u16 *)(l4 + 2));
//!     }
//! } else if (et == 0x86DD) {
//!     if (data + 54 > data_end) goto redirect;
//!     proto = data[20];
//!     if (proto == 58 && data + 78 <= data_end && data[54] == 135 &&
//!         lookup(&pass_ipv6, data + 62)) return XDP_PASS; /* NS for a host address */
//!     if (!lookup(&pass_ipv6, data + 38)) goto redirect;
//!     if (proto == 58 && data + 55 <= data_end && data[54] >= 133 && data[54] <= 137)
//!         return XDP_PASS;                 /* NDP to a host address */
//!     if (data + 58 <= data_end) port = ntohs(*(u16 *)(data + 56));
//! } else goto redirect;
//! __u8 *how = lookup(&pass_proto, &proto); /* 0: xgw, 0xff: kernel, else port bits */
//! if (!how || !*how) goto redirect;
//! if (*how == 0xff) return XDP_PASS;
//! __u8 *bits = lookup(&pass_port, &port);  /* NULL for port 65536 */
//! if (bits && (*bits & *how)) return XDP_PASS;
//! redirect:
//! return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//! ```
//!
//! Map keys: the EtherType map is keyed by the EtherType's numeric value as a
//! native-endian `u32` (e.g. `0x0806u32` for ARP); the IPv4/IPv6 maps are keyed
//! by the address bytes in network order (`Ipv4Addr::octets`,
//! `Ipv6Addr::octets`), values a single byte (1). `pass_proto` is an array
//! indexed by IP protocol number (a byte: 0 = to xgw, 0xff = to the kernel,
//! else the protocol's bit to test in `pass_port`), `pass_port` an array
//! indexed by destination port (a byte of protocol bits: [`port_bit`]).
//! VLAN-tagged frames only see the EtherType map (their EtherType is
//! 0x8100/0x88A8). IPv6 packets with extension headers before the
//! transport header, and later IPv4 fragments, have no port here: with port
//! rules they go to xgw.

use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// Which XDP attach mode the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpModeRequest {
    /// Try native (driver) mode, fall back to generic (SKB) mode when the
    /// driver cannot do native XDP.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

/// The XDP attach mode actually obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// Driver mode (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// SKB mode (`XDP_FLAGS_SKB_MODE`).
    Generic,
}

impl XdpMode {
    /// `"native"` or `"generic"`.
    pub fn as_str(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }

    fn link_flags(self) -> u32 {
        match self {
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
        }
    }
}

impl std::fmt::Display for XdpMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Traffic the XDP program hands to the kernel stack (`XDP_PASS`) instead of
/// redirecting it to the AF_XDP socket of its queue: the host stack keeps
/// its own addresses on a port xgw owns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassRules {
    /// EtherTypes passed whole (e.g. 0x0806 for ARP).
    pub ethertypes: Vec<u16>,
    /// The host's IPv4 addresses: traffic to them (see `ports`) and ARP
    /// asking for them or answering them pass.
    pub ipv4_dst: Vec<Ipv4Addr>,
    /// The host's IPv6 addresses: traffic to them (see `ports`), Neighbor
    /// Solicitations for them and NDP messages to them pass.
    pub ipv6_dst: Vec<Ipv6Addr>,
    /// Which traffic to those addresses passes: empty, all of it; else
    /// only these protocols and destination ports (ARP and NDP for the
    /// addresses always pass), the rest goes to xgw (an address shared
    /// with NAT64's pool4, say).
    pub ports: Vec<PassPort>,
}

/// One `pass_ports` entry: a protocol, with a destination port range for
/// the protocols that have ports ([`port_bit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassPort {
    pub proto: u8,
    /// Inclusive range; `None`: every packet of the protocol.
    pub ports: Option<(u16, u16)>,
}

impl PassPort {
    /// Parses `tcp:22`, `udp:5000-5100`, `sctp:36412`, `icmp` (ICMP and
    /// ICMPv6), `tcp` (all of TCP), `gre`, `esp` or a protocol number
    /// (`47`). Error: a sentence saying what is accepted.
    pub fn parse(s: &str) -> Result<Vec<PassPort>, String> {
        let (name, range) = match s.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let protos: Vec<u8> = match name.to_ascii_lowercase().as_str() {
            "tcp" => vec![6],
            "udp" => vec![17],
            "sctp" => vec![132],
            "udplite" => vec![136],
            "dccp" => vec![33],
            "icmp" => vec![1, 58],
            "gre" => vec![47],
            "esp" => vec![50],
            "ah" => vec![51],
            "ospf" => vec![89],
            "vrrp" => vec![112],
            n => match n.parse::<u8>() {
                Ok(p) => vec![p],
                Err(_) => {
                    return Err(format!(
                        "{s:?}: expected PROTOCOL or PROTOCOL:PORT or PROTOCOL:LOW-HIGH, \
                         PROTOCOL one of tcp, udp, sctp, udplite, dccp, icmp, gre, esp, ah, \
                         ospf, vrrp or a number 0-255"
                    ))
                }
            },
        };
        let ports = match range {
            None => None,
            Some(r) => {
                if protos.iter().any(|&p| port_bit(p).is_none()) {
                    return Err(format!(
                        "{s:?}: only tcp, udp, sctp, udplite and dccp have ports"
                    ));
                }
                let num = |x: &str| {
                    x.trim()
                        .parse::<u16>()
                        .map_err(|_| format!("{s:?}: {x:?} is not a port number 0-65535"))
                };
                let (lo, hi) = match r.split_once('-') {
                    Some((a, b)) => (num(a)?, num(b)?),
                    None => (num(r)?, num(r)?),
                };
                if lo > hi {
                    return Err(format!("{s:?}: the range {lo}-{hi} is empty"));
                }
                Some((lo, hi))
            }
        };
        Ok(protos
            .into_iter()
            .map(|proto| PassPort { proto, ports })
            .collect())
    }
}

/// A protocol's bit in the `pass_port` array (protocols with ports only).
pub fn port_bit(proto: u8) -> Option<u8> {
    match proto {
        6 => Some(1),
        17 => Some(2),
        132 => Some(4),
        136 => Some(8),
        33 => Some(16),
        _ => None,
    }
}

/// `pass_proto`'s value for "the whole protocol passes".
const PROTO_ALL: u8 = 0xff;

impl PassRules {
    /// `pass_proto`'s 256 values.
    fn proto_table(&self) -> [u8; 256] {
        if self.ports.is_empty() {
            return [PROTO_ALL; 256];
        }
        let mut t = [0u8; 256];
        for p in &self.ports {
            let v = &mut t[p.proto as usize];
            match (p.ports, port_bit(p.proto)) {
                (Some(_), Some(bit)) if *v != PROTO_ALL => *v |= bit,
                (Some(_), _) => {}
                (None, _) => *v = PROTO_ALL,
            }
        }
        t
    }

    /// `pass_port`'s 65536 values.
    fn port_table(&self) -> Vec<u8> {
        let mut t = vec![0u8; 65536];
        for p in &self.ports {
            if let (Some((lo, hi)), Some(bit)) = (p.ports, port_bit(p.proto)) {
                for v in &mut t[lo as usize..=hi as usize] {
                    *v |= bit;
                }
            }
        }
        t
    }
}

/// Maximum number of entries of each pass-rule map.
pub const MAX_PASS_RULES: u32 = 64;

/// Errors of the XDP loader. Every message is one line and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// A caller-supplied argument is unusable.
    #[error("XDP setup for {ifname}: {reason}")]
    InvalidArgument { ifname: String, reason: String },

    /// EPERM/EACCES from the kernel for a privileged operation.
    #[error("{what} on {ifname} needs root (CAP_NET_ADMIN and CAP_BPF) ({source})")]
    PermissionDenied {
        ifname: String,
        what: &'static str,
        source: io::Error,
    },

    /// BPF_MAP_CREATE failed for another reason.
    #[error("creating BPF map {map} for {ifname} failed ({source}); the kernel needs CONFIG_BPF_SYSCALL and CONFIG_XDP_SOCKETS")]
    MapCreate {
        ifname: String,
        map: &'static str,
        source: io::Error,
    },

    /// The verifier rejected the program (its log, condensed to one line, is included).
    #[error("the kernel verifier rejected xgw's XDP program for {ifname} ({source}); this is an xgw bug, report it with this log: {log}")]
    Verifier {
        ifname: String,
        source: io::Error,
        log: String,
    },

    /// The ifindex does not name `ifname` in this network namespace.
    #[error("interface {ifname} (ifindex {ifindex}) does not exist in this network namespace; check the name, or start xgw inside the namespace that owns it (ip netns exec NS ...)")]
    NoSuchInterface { ifname: String, ifindex: u32 },

    /// The ifindex names another interface than `ifname`.
    #[error("ifindex {ifindex} is {actual} in this network namespace, not {ifname}; the interface was renamed or recreated, restart xgw")]
    IfindexMismatch {
        ifname: String,
        ifindex: u32,
        actual: String,
    },

    /// Another XDP program (or link) already owns the interface.
    #[error("{ifname} already has an XDP program attached; remove it with `ip link set dev {ifname} xdp off` (or stop the other xgw) ({source})")]
    Busy { ifname: String, source: io::Error },

    /// The requested mode cannot be used on this interface.
    #[error("{ifname} cannot run the XDP program in {mode} mode ({source}){hint}")]
    ModeUnsupported {
        ifname: String,
        mode: XdpMode,
        source: io::Error,
        hint: &'static str,
    },

    /// BPF_LINK_CREATE failed for another reason.
    #[error("attaching the XDP program to {ifname} in {mode} mode failed ({source}); check `ip -d link show dev {ifname}` and dmesg")]
    Attach {
        ifname: String,
        mode: XdpMode,
        source: io::Error,
    },

    /// Queue index beyond the XSKMAP.
    #[error("queue {queue} of {ifname} is out of range: the XDP socket map was created for {queues} queue(s); raise the configured queue count")]
    QueueOutOfRange {
        ifname: String,
        queue: u32,
        queues: u32,
    },

    /// The fd given to `register_socket` is not an AF_XDP socket.
    #[error("fd {fd} registered for {ifname} queue {queue} is not an AF_XDP socket ({source}); pass the fd of a socket(AF_XDP, ...) bound to that queue")]
    NotXskSocket {
        ifname: String,
        queue: u32,
        fd: RawFd,
        source: io::Error,
    },

    /// BPF_MAP_UPDATE_ELEM / DELETE_ELEM on the XSKMAP failed otherwise.
    #[error("{what} the AF_XDP socket for {ifname} queue {queue} failed ({source})")]
    SocketMap {
        ifname: String,
        queue: u32,
        what: &'static str,
        source: io::Error,
    },

    /// More pass rules of one kind than the map holds.
    #[error(
        "too many {kind} pass rules for {ifname}: {count} given, at most {max}; merge or drop some"
    )]
    TooManyPassRules {
        ifname: String,
        kind: &'static str,
        count: usize,
        max: u32,
    },

    /// Inserting a pass rule failed.
    #[error("adding the pass rule {rule} for {ifname} failed ({source})")]
    PassRule {
        ifname: String,
        rule: String,
        source: io::Error,
    },
}

/// An XDP program attached to one interface through a bpf_link, with its
/// XSKMAP and pass-rule maps. Dropping it detaches the program.
#[derive(Debug)]
pub struct XdpProgram {
    // Field order matters: fields drop in declaration order, so the link goes
    // first (detaching the program), then the program, then the maps.
    link: OwnedFd,
    prog: OwnedFd,
    maps: Maps,
    ifname: String,
    ifindex: u32,
    queues: u32,
    mode: XdpMode,
    prog_id: u32,
    /// The rules it was attached with.
    pass: PassRules,
}

impl XdpProgram {
    /// Create the maps, load the program, insert the pass rules and attach the
    /// program to `ifindex` (whose name is `ifname`, used in messages and to
    /// check the ifindex) with a bpf_link, in the requested mode.
    pub fn attach(
        ifname: &str,
        ifindex: u32,
        queues: u32,
        mode: XdpModeRequest,
        pass: &PassRules,
    ) -> Result<Self, BpfError> {
        if queues == 0 {
            return Err(BpfError::InvalidArgument {
                ifname: ifname.to_owned(),
                reason: "the queue count must be at least 1".to_owned(),
            });
        }
        check_ifindex(ifname, ifindex)?;

        let maps = Maps::create(ifname, queues)?;
        maps.add_pass_rules(ifname, pass)?;
        let prog = load_program(ifname, &maps, XDP_PASS)?;

        let (link, mode) = match mode {
            XdpModeRequest::Native => (
                link_create(ifname, ifindex, &prog, XdpMode::Native)?,
                XdpMode::Native,
            ),
            XdpModeRequest::Generic => (
                link_create(ifname, ifindex, &prog, XdpMode::Generic)?,
                XdpMode::Generic,
            ),
            XdpModeRequest::Auto => match link_create(ifname, ifindex, &prog, XdpMode::Native) {
                Ok(link) => {
                    tracing::info!(ifname, "native XDP mode obtained");
                    (link, XdpMode::Native)
                }
                Err(BpfError::ModeUnsupported { source, .. }) => {
                    tracing::info!(
                        ifname,
                        error = %source,
                        "native XDP mode unavailable, falling back to generic (SKB) mode"
                    );
                    let link = link_create(ifname, ifindex, &prog, XdpMode::Generic)?;
                    tracing::info!(ifname, "generic XDP mode obtained");
                    (link, XdpMode::Generic)
                }
                Err(e) => return Err(e),
            },
        };

        // The id is only informational (it is what `ip link` prints as
        // `prog/xdp id N`); a failure to read it is not worth failing for.
        let prog_id = prog_id(&prog).unwrap_or(0);
        tracing::info!(
            ifname,
            ifindex,
            queues,
            mode = mode.as_str(),
            prog_id,
            "XDP program attached through a bpf_link"
        );

        Ok(XdpProgram {
            link,
            prog,
            maps,
            ifname: ifname.to_owned(),
            ifindex,
            queues,
            mode,
            prog_id,
            pass: pass.clone(),
        })
    }

    /// The mode actually obtained.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Interface name given at attach time.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Interface index given at attach time.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Number of XSKMAP slots (queues).
    pub fn queues(&self) -> u32 {
        self.queues
    }

    /// Kernel id of the loaded program (as shown by `ip link` / `bpftool`),
    /// 0 if it could not be read.
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    /// The XSKMAP's fd (key: u32 queue index, value: u32 AF_XDP socket fd).
    pub fn xsk_map_fd(&self) -> BorrowedFd<'_> {
        self.maps.xsks.as_fd()
    }

    /// Direct the frames of `queue` to the AF_XDP socket `xsk_fd`
    /// (replaces whatever socket was registered there).
    pub fn register_socket(&self, queue: u32, xsk_fd: RawFd) -> Result<(), BpfError> {
        self.check_queue(queue)?;
        let value = xsk_fd as u32;
        map_update(&self.maps.xsks, &queue.to_ne_bytes(), &value.to_ne_bytes()).map_err(|e| {
            match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => BpfError::PermissionDenied {
                    ifname: self.ifname.clone(),
                    what: "registering an AF_XDP socket",
                    source: e,
                },
                // ENOTSOCK: not a socket; EOPNOTSUPP: a socket of another
                // family; EBADF: not an open fd.
                Some(libc::ENOTSOCK) | Some(libc::EOPNOTSUPP) | Some(libc::EBADF) => {
                    BpfError::NotXskSocket {
                        ifname: self.ifname.clone(),
                        queue,
                        fd: xsk_fd,
                        source: e,
                    }
                }
                _ => BpfError::SocketMap {
                    ifname: self.ifname.clone(),
                    queue,
                    what: "registering",
                    source: e,
                },
            }
        })
    }

    /// Remove the socket of `queue` from the XSKMAP (frames of that queue then
    /// go to the kernel stack). Removing an empty slot is not an error.
    pub fn unregister_socket(&self, queue: u32) -> Result<(), BpfError> {
        self.check_queue(queue)?;
        match map_delete(&self.maps.xsks, &queue.to_ne_bytes()) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(BpfError::SocketMap {
                ifname: self.ifname.clone(),
                queue,
                what: "unregistering",
                source: e,
            }),
        }
    }

    /// A handle that changes this program's pass rules while it runs
    /// (duplicated map descriptors: it outlives neither the maps' use nor
    /// matters after the link is gone). It starts from the rules given
    /// to [`XdpProgram::attach`].
    pub fn pass_handle(&self) -> io::Result<PassHandle> {
        self.maps.pass_handle(&self.ifname, &self.pass)
    }

    fn check_queue(&self, queue: u32) -> Result<(), BpfError> {
        if queue >= self.queues {
            return Err(BpfError::QueueOutOfRange {
                ifname: self.ifname.clone(),
                queue,
                queues: self.queues,
            });
        }
        Ok(())
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        // Closing the link fd (first field, dropped first) detaches the
        // program; nothing else to do. Just log it.
        tracing::debug!(ifname = %self.ifname, prog_id = self.prog_id, link_fd = self.link.as_raw_fd(), prog_fd = self.prog.as_raw_fd(), "detaching XDP program (closing its bpf_link)");
    }
}

// ---------------------------------------------------------------------------
// Kernel ABI constants (include/uapi/linux/bpf.h, if_link.h)
// ---------------------------------------------------------------------------

const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_PROG_LOAD: u32 = 5;
#[cfg(test)]
const BPF_PROG_TEST_RUN: u32 = 10;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_LINK_CREATE: u32 = 28;

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37; // enum bpf_attach_type
const BPF_ANY: u64 = 0;

const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

#[cfg(test)]
const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;

/// Byte length of each verifier-log buffer requested on load failure.
const VERIFIER_LOG_SIZE: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// bpf_attr variants. Each is a prefix of `union bpf_attr` for its command,
// with every byte an explicit field (no implicit padding), zeroed via
// Default. The kernel copies min(size, sizeof(bpf_attr)) bytes and treats the
// rest as zero, so a prefix is valid.
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    /// Rest of the per-attach-type union; unused for XDP, must be zero.
    _union: [u64; 4],
}

#[repr(C)]
#[derive(Default)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// Prefix of `struct bpf_prog_info`.
#[repr(C)]
#[derive(Default)]
struct ProgInfoPrefix {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
}

#[cfg(test)]
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

// Layout checks against include/uapi/linux/bpf.h.
const _: () = {
    assert!(mem::size_of::<MapCreateAttr>() == 72);
    assert!(mem::offset_of!(MapCreateAttr, map_name) == 28);
    assert!(mem::offset_of!(MapCreateAttr, map_extra) == 64);
    assert!(mem::size_of::<ProgLoadAttr>() == 72);
    assert!(mem::offset_of!(ProgLoadAttr, log_buf) == 32);
    assert!(mem::offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(mem::offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(mem::size_of::<MapElemAttr>() == 32);
    assert!(mem::offset_of!(MapElemAttr, flags) == 24);
    assert!(mem::offset_of!(LinkCreateAttr, flags) == 12);
    assert!(mem::size_of::<InfoByFdAttr>() == 16);
    assert!(mem::size_of::<Insn>() == 8);
};

/// Issue one `bpf(2)` command.
///
/// # Safety
/// Every pointer stored (as a u64) in `attr` must be valid for the accesses
/// the kernel makes for `cmd`: readable for the lengths given in `attr`, and
/// writable where the kernel writes (log buffer, info buffer, output data).
unsafe fn sys_bpf<T>(cmd: u32, attr: &mut T) -> io::Result<libc::c_long> {
    loop {
        // SAFETY: `attr` is a live, fully initialised #[repr(C)] bpf_attr
        // prefix of exactly size_of::<T>() bytes; the pointers inside it are
        // valid per this function's contract.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as libc::c_long,
                attr as *mut T as *mut libc::c_void,
                mem::size_of::<T>() as libc::c_uint,
            )
        };
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Wrap a file descriptor returned by a successful bpf(2) call.
fn owned_fd(ret: libc::c_long) -> OwnedFd {
    // SAFETY: a non-negative return of BPF_MAP_CREATE/PROG_LOAD/LINK_CREATE is
    // a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(ret as RawFd) }
}

fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    // 15 bytes at most: the kernel wants a NUL-terminated name.
    let n = name.len().min(15);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_name: obj_name(name),
        ..Default::default()
    };
    // SAFETY: BPF_MAP_CREATE reads no user pointers.
    let fd = unsafe { sys_bpf(BPF_MAP_CREATE, &mut attr) }?;
    Ok(owned_fd(fd))
}

fn map_update(map: &OwnedFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags: BPF_ANY,
        ..Default::default()
    };
    // SAFETY: the kernel reads key_size bytes at `key` and value_size bytes at
    // `value`; callers pass slices of exactly the map's key/value sizes, which
    // live until the call returns.
    unsafe { sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr) }?;
    Ok(())
}

fn map_delete(map: &OwnedFd, key: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: the kernel reads key_size bytes at `key`; callers pass a slice
    // of exactly the map's key size.
    unsafe { sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr) }?;
    Ok(())
}

fn prog_id(prog: &OwnedFd) -> io::Result<u32> {
    let mut info = ProgInfoPrefix::default();
    let mut attr = InfoByFdAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: mem::size_of::<ProgInfoPrefix>() as u32,
        info: &mut info as *mut ProgInfoPrefix as u64,
    };
    // SAFETY: the kernel reads and writes at most info_len bytes at `info`,
    // which points to a live ProgInfoPrefix of that size.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }?;
    Ok(info.id)
}

fn is_perm(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// Check that `ifindex` exists in this network namespace under `ifname`.
/// (BPF_LINK_CREATE answers a missing ifindex with a bare EINVAL, which would
/// otherwise look like "mode not supported".)
fn check_ifindex(ifname: &str, ifindex: u32) -> Result<(), BpfError> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes (NUL included)
    // into `buf`, which has exactly that size.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(BpfError::NoSuchInterface {
            ifname: ifname.to_owned(),
            ifindex,
        });
    }
    // SAFETY: on success if_indextoname stored a NUL-terminated name in `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    if name.to_bytes() != ifname.as_bytes() {
        return Err(BpfError::IfindexMismatch {
            ifname: ifname.to_owned(),
            ifindex,
            actual: name.to_string_lossy().into_owned(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Maps
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Maps {
    /// XSKMAP: u32 queue index -> u32 AF_XDP socket fd.
    xsks: OwnedFd,
    /// HASH: u32 EtherType (numeric value, native endian) -> u8.
    pass_ethertype: OwnedFd,
    /// HASH: [u8; 4] IPv4 destination (network order) -> u8.
    pass_ipv4: OwnedFd,
    /// HASH: [u8; 16] IPv6 destination (network order) -> u8.
    pass_ipv6: OwnedFd,
    /// ARRAY: u32 IP protocol -> u8 (0: xgw, 0xff: kernel, else port bits).
    pass_proto: OwnedFd,
    /// ARRAY: u32 destination port -> u8 protocol bits.
    pass_port: OwnedFd,
}

impl Maps {
    fn create(ifname: &str, queues: u32) -> Result<Maps, BpfError> {
        let mk = |map: &'static str, ty: u32, key: u32, value: u32, max: u32| {
            map_create(ty, key, value, max, map).map_err(|source| {
                if is_perm(&source) {
                    BpfError::PermissionDenied {
                        ifname: ifname.to_owned(),
                        what: "creating the XDP maps",
                        source,
                    }
                } else {
                    BpfError::MapCreate {
                        ifname: ifname.to_owned(),
                        map,
                        source,
                    }
                }
            })
        };
        Ok(Maps {
            xsks: mk("xgw_xsks", BPF_MAP_TYPE_XSKMAP, 4, 4, queues)?,
            pass_ethertype: mk("xgw_pass_eth", BPF_MAP_TYPE_HASH, 4, 1, MAX_PASS_RULES)?,
            pass_ipv4: mk("xgw_pass_ip4", BPF_MAP_TYPE_HASH, 4, 1, MAX_PASS_RULES)?,
            pass_ipv6: mk("xgw_pass_ip6", BPF_MAP_TYPE_HASH, 16, 1, MAX_PASS_RULES)?,
            pass_proto: mk("xgw_pass_proto", BPF_MAP_TYPE_ARRAY, 4, 1, 256)?,
            pass_port: mk("xgw_pass_port", BPF_MAP_TYPE_ARRAY, 4, 1, 65536)?,
        })
    }

    fn add_pass_rules(&self, ifname: &str, pass: &PassRules) -> Result<(), BpfError> {
        self.replace_pass_rules(ifname, &PassRules::default(), pass)
    }

    /// Moves the pass maps from `old` (what they hold) to `new`: new keys
    /// and values first, then the stale keys removed; array entries are
    /// written only where they change.
    fn replace_pass_rules(
        &self,
        ifname: &str,
        old: &PassRules,
        pass: &PassRules,
    ) -> Result<(), BpfError> {
        check_pass_counts(ifname, pass)?;
        let put = |map: &OwnedFd, key: &[u8], rule: String| {
            map_update(map, key, &[1u8]).map_err(|source| BpfError::PassRule {
                ifname: ifname.to_owned(),
                rule,
                source,
            })
        };
        for &et in &pass.ethertypes {
            put(
                &self.pass_ethertype,
                &ethertype_key(et),
                format!("ethertype 0x{et:04x}"),
            )?;
        }
        for a in &pass.ipv4_dst {
            put(&self.pass_ipv4, &a.octets(), format!("ipv4 dst {a}"))?;
        }
        for a in &pass.ipv6_dst {
            put(&self.pass_ipv6, &a.octets(), format!("ipv6 dst {a}"))?;
        }
        let set = |map: &OwnedFd, key: u32, v: u8, rule: String| {
            map_update(map, &key.to_ne_bytes(), &[v]).map_err(|source| BpfError::PassRule {
                ifname: ifname.to_owned(),
                rule,
                source,
            })
        };
        // The port bits before the protocols that test them, so a
        // protocol never passes on a stale port table.
        let (old_port, new_port) = (old.port_table(), pass.port_table());
        for (port, (&o, &n)) in old_port.iter().zip(&new_port).enumerate() {
            if o != n {
                set(&self.pass_port, port as u32, n, format!("port {port}"))?;
            }
        }
        let (old_proto, new_proto) = (old.proto_table(), pass.proto_table());
        // Entries are zero in a new map; `old` says what they hold.
        let fresh = old == &PassRules::default();
        for (proto, (&o, &n)) in old_proto.iter().zip(&new_proto).enumerate() {
            if o != n || (fresh && n != 0) {
                set(
                    &self.pass_proto,
                    proto as u32,
                    n,
                    format!("protocol {proto}"),
                )?;
            }
        }
        let gone = |map: &OwnedFd, key: &[u8], rule: String| match map_delete(map, key) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(source) => Err(BpfError::PassRule {
                ifname: ifname.to_owned(),
                rule,
                source,
            }),
        };
        for &et in old
            .ethertypes
            .iter()
            .filter(|e| !pass.ethertypes.contains(e))
        {
            gone(
                &self.pass_ethertype,
                &ethertype_key(et),
                format!("ethertype 0x{et:04x}"),
            )?;
        }
        for a in old.ipv4_dst.iter().filter(|a| !pass.ipv4_dst.contains(a)) {
            gone(&self.pass_ipv4, &a.octets(), format!("ipv4 dst {a}"))?;
        }
        for a in old.ipv6_dst.iter().filter(|a| !pass.ipv6_dst.contains(a)) {
            gone(&self.pass_ipv6, &a.octets(), format!("ipv6 dst {a}"))?;
        }
        Ok(())
    }

    /// A second handle on the pass maps (duplicated descriptors), for the
    /// control thread.
    fn pass_handle(&self, ifname: &str, current: &PassRules) -> io::Result<PassHandle> {
        Ok(PassHandle {
            maps: Maps {
                xsks: self.xsks.try_clone()?,
                pass_ethertype: self.pass_ethertype.try_clone()?,
                pass_ipv4: self.pass_ipv4.try_clone()?,
                pass_ipv6: self.pass_ipv6.try_clone()?,
                pass_proto: self.pass_proto.try_clone()?,
                pass_port: self.pass_port.try_clone()?,
            },
            ifname: ifname.to_owned(),
            current: current.clone(),
        })
    }
}

/// The pass rules of one attached program, changeable while it runs
/// (`xgw reload`): duplicated map descriptors and what the maps hold.
#[derive(Debug)]
pub struct PassHandle {
    maps: Maps,
    ifname: String,
    current: PassRules,
}

impl PassHandle {
    /// The interface the program is attached to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// What the maps hold now.
    pub fn current(&self) -> &PassRules {
        &self.current
    }

    /// Replaces the rules (see [`PassRules`]); on an error the maps may
    /// hold a mix, and `current` still says the old rules.
    pub fn replace(&mut self, new: &PassRules) -> Result<(), BpfError> {
        check_pass_counts(&self.ifname, new)?;
        self.maps
            .replace_pass_rules(&self.ifname, &self.current, new)?;
        self.current = new.clone();
        Ok(())
    }
}

/// Each pass map's entries fit (`MAX_PASS_RULES`).
fn check_pass_counts(ifname: &str, pass: &PassRules) -> Result<(), BpfError> {
    let too_many = |kind: &'static str, count: usize| {
        if count > MAX_PASS_RULES as usize {
            Err(BpfError::TooManyPassRules {
                ifname: ifname.to_owned(),
                kind,
                count,
                max: MAX_PASS_RULES,
            })
        } else {
            Ok(())
        }
    };
    too_many("EtherType", pass.ethertypes.len())?;
    too_many("IPv4 destination", pass.ipv4_dst.len())?;
    too_many("IPv6 destination", pass.ipv6_dst.len())
}

/// Key of the EtherType map: the EtherType's value as a native-endian u32
/// (what the program stores after `be16`-converting the wire field).
fn ethertype_key(et: u16) -> [u8; 4] {
    u32::from(et).to_ne_bytes()
}

// ---------------------------------------------------------------------------
// Instruction encoding
// ---------------------------------------------------------------------------

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Insn {
    code: u8,
    /// dst_reg:4 and src_reg:4 bitfields (order follows the C ABI's bitfield
    /// layout, see `Insn::new`).
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcode parts (include/uapi/linux/bpf_common.h, bpf.h).
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_ST: u8 = 0x02;
const BPF_STX: u8 = 0x03;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_H: u8 = 0x08;
const BPF_B: u8 = 0x10;
const BPF_DW: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_ADD: u8 = 0x00;
const BPF_AND: u8 = 0x50;
const BPF_LSH: u8 = 0x60;
const BPF_MOV: u8 = 0xb0;
const BPF_END: u8 = 0xd0;
const BPF_TO_BE: u8 = 0x08;
const BPF_JA: u8 = 0x00;
const BPF_JEQ: u8 = 0x10;
const BPF_JGT: u8 = 0x20;
const BPF_JNE: u8 = 0x50;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;
const BPF_PSEUDO_MAP_FD: u8 = 1;

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;

// Helpers.
const FN_MAP_LOOKUP_ELEM: i32 = 1;
const FN_REDIRECT_MAP: i32 = 51;

// struct xdp_md offsets.
const XDP_MD_DATA: i16 = 0;
const XDP_MD_DATA_END: i16 = 4;
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        // C bitfields are allocated from the least significant bit on
        // little-endian targets and from the most significant on big-endian.
        #[cfg(target_endian = "little")]
        let regs = (dst & 0xf) | (src << 4);
        #[cfg(target_endian = "big")]
        let regs = (dst << 4) | (src & 0xf);
        Insn {
            code,
            regs,
            off,
            imm,
        }
    }
    const fn mov64_reg(dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
    }
    const fn mov64_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
    }
    const fn add64_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)
    }
    const fn add64_reg(dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_X, dst, src, 0, 0)
    }
    const fn and64_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm)
    }
    const fn and64_reg(dst: u8, src: u8) -> Insn {
        Insn::new(BPF_ALU64 | BPF_AND | BPF_X, dst, src, 0, 0)
    }
    const fn lsh64_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_ALU64 | BPF_LSH | BPF_K, dst, 0, 0, imm)
    }
    /// *(size *)(dst + off) = imm
    const fn st_imm(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(BPF_ST | size | BPF_MEM, dst, 0, off, imm)
    }
    const fn jgt_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_JMP | BPF_JGT | BPF_K, dst, 0, 0, imm)
    }
    /// dst = *(size *)(src + off)
    const fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(BPF_LDX | size | BPF_MEM, dst, src, off, 0)
    }
    /// *(size *)(dst + off) = src
    const fn stx(size: u8, dst: u8, off: i16, src: u8) -> Insn {
        Insn::new(BPF_STX | size | BPF_MEM, dst, src, off, 0)
    }
    /// dst = be16(dst): big-endian 16-bit value to host order, zero-extended.
    const fn be16(dst: u8) -> Insn {
        Insn::new(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, 16)
    }
    /// First half of the two-slot `ld_imm64 dst, map_fd`; see `ld_map_fd`.
    const fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
        [
            Insn::new(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd),
            Insn::new(0, 0, 0, 0, 0),
        ]
    }
    const fn jgt_reg(dst: u8, src: u8) -> Insn {
        Insn::new(BPF_JMP | BPF_JGT | BPF_X, dst, src, 0, 0)
    }
    const fn jeq_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, 0, imm)
    }
    const fn jne_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(BPF_JMP | BPF_JNE | BPF_K, dst, 0, 0, imm)
    }
    const fn ja() -> Insn {
        Insn::new(BPF_JMP | BPF_JA, 0, 0, 0, 0)
    }
    const fn call(helper: i32) -> Insn {
        Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, helper)
    }
    const fn exit() -> Insn {
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }
}

/// Jump targets of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Ipv4,
    Arp,
    V6Dst,
    V6Port,
    Proto,
    Redirect,
    Pass,
}

/// Where a map lookup's key is.
#[derive(Clone, Copy)]
enum Key {
    /// At this offset from the frame pointer.
    Stack(i16),
    /// At this offset into the packet (bounds already checked).
    Packet(i32),
}
use Key::{Packet, Stack};

/// A tiny assembler: appends instructions and resolves forward jumps to labels.
struct Asm {
    insns: Vec<Insn>,
    fixups: Vec<(usize, Label)>,
    labels: Vec<(Label, usize)>,
}

impl Asm {
    fn new() -> Asm {
        Asm {
            insns: Vec::with_capacity(PROGRAM_LEN),
            fixups: Vec::new(),
            labels: Vec::new(),
        }
    }
    fn op(&mut self, i: Insn) {
        self.insns.push(i);
    }
    fn ld_map(&mut self, dst: u8, map: &OwnedFd) {
        self.insns
            .extend_from_slice(&Insn::ld_map_fd(dst, map.as_raw_fd()));
    }
    /// `if (data + n > data_end) goto to` (r2 scratch).
    fn need(&mut self, n: i32, to: Label) {
        self.op(Insn::mov64_reg(R2, R7));
        self.op(Insn::add64_imm(R2, n));
        self.jump(Insn::jgt_reg(R2, R8), to);
    }
    /// `r0 = bpf_map_lookup_elem(map, key)` (r1-r5 clobbered).
    fn lookup(&mut self, map: &OwnedFd, key: Key) {
        self.ld_map(R1, map);
        match key {
            Key::Stack(off) => {
                self.op(Insn::mov64_reg(R2, R10));
                self.op(Insn::add64_imm(R2, off as i32));
            }
            Key::Packet(off) => {
                self.op(Insn::mov64_reg(R2, R7));
                self.op(Insn::add64_imm(R2, off));
            }
        }
        self.op(Insn::call(FN_MAP_LOOKUP_ELEM));
    }
    fn jump(&mut self, i: Insn, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.insns.push(i);
    }
    fn label(&mut self, l: Label) {
        self.labels.push((l, self.insns.len()));
    }
    fn finish(mut self) -> Vec<Insn> {
        for &(at, to) in &self.fixups {
            let target = self
                .labels
                .iter()
                .find(|(l, _)| *l == to)
                .map(|&(_, pos)| pos)
                .expect("jump to an undefined label");
            // Offsets are relative to the instruction after the jump.
            self.insns[at].off = (target as isize - at as isize - 1) as i16;
        }
        self.insns
    }
}

/// Assemble the XDP program. `fallback` is the action `bpf_redirect_map`
/// returns when the queue's XSKMAP slot is empty (XDP_PASS in production;
/// tests use XDP_DROP to tell "passed by rule" from "no socket").
fn build_program(maps: &Maps, fallback: i32) -> Vec<Insn> {
    use Label::*;
    let mut a = Asm::new();
    // Stack: fp-4 u32 EtherType, then the protocol (pass_proto key);
    // fp-8 u32 destination port (pass_port key; 65536 = none).
    const KEY_PROTO: i16 = -4;
    const KEY_PORT: i16 = -8;

    // r6 = ctx; r7 = data; r8 = data_end (callee-saved: survive helper calls).
    a.op(Insn::mov64_reg(R6, R1));
    a.op(Insn::ldx(BPF_W, R7, R6, XDP_MD_DATA));
    a.op(Insn::ldx(BPF_W, R8, R6, XDP_MD_DATA_END));

    // Fewer than 14 bytes (no Ethernet header): redirect.
    a.need(14, Redirect);

    // r9 = EtherType in host order; store it as a u32 key at fp-4.
    a.op(Insn::ldx(BPF_H, R9, R7, 12));
    a.op(Insn::be16(R9));
    a.op(Insn::stx(BPF_W, R10, KEY_PROTO, R9));
    a.op(Insn::st_imm(BPF_W, R10, KEY_PORT, 65536));

    // if (lookup(pass_ethertype, fp-4)) return XDP_PASS.
    a.lookup(&maps.pass_ethertype, Stack(KEY_PROTO));
    a.jump(Insn::jne_imm(R0, 0), Pass);

    a.jump(Insn::jeq_imm(R9, 0x0800), Ipv4);
    a.jump(Insn::jeq_imm(R9, 0x0806), Arp);
    a.jump(Insn::jne_imm(R9, 0x86dd), Redirect);

    // IPv6: 54 bytes; r9 = next header.
    a.need(54, Redirect);
    a.op(Insn::ldx(BPF_B, R9, R7, 20));
    // A Neighbor Solicitation whose target is a host address.
    a.jump(Insn::jne_imm(R9, 58), V6Dst);
    a.need(78, V6Dst);
    a.op(Insn::ldx(BPF_B, R1, R7, 54));
    a.jump(Insn::jne_imm(R1, 135), V6Dst);
    a.lookup(&maps.pass_ipv6, Packet(62));
    a.jump(Insn::jne_imm(R0, 0), Pass);
    // Traffic to a host address.
    a.label(V6Dst);
    a.lookup(&maps.pass_ipv6, Packet(38));
    a.jump(Insn::jeq_imm(R0, 0), Redirect);
    a.op(Insn::stx(BPF_W, R10, KEY_PROTO, R9));
    a.jump(Insn::jne_imm(R9, 58), V6Port);
    // NDP (types 133-137) to a host address.
    a.need(55, Proto);
    a.op(Insn::ldx(BPF_B, R1, R7, 54));
    a.jump(Insn::jgt_imm(R1, 137), Proto);
    a.jump(Insn::jgt_imm(R1, 132), Pass);
    a.jump(Insn::ja(), Proto);
    a.label(V6Port);
    a.need(58, Proto);
    a.op(Insn::ldx(BPF_H, R1, R7, 56));
    a.op(Insn::be16(R1));
    a.op(Insn::stx(BPF_W, R10, KEY_PORT, R1));
    a.jump(Insn::ja(), Proto);

    // ARP whose target protocol address is a host address (a request for
    // it, or an answer to it).
    a.label(Arp);
    a.need(42, Redirect);
    a.lookup(&maps.pass_ipv4, Packet(38));
    a.jump(Insn::jne_imm(R0, 0), Pass);
    a.jump(Insn::ja(), Redirect);

    // IPv4 to a host address: 34 bytes; r9 = protocol.
    a.label(Ipv4);
    a.need(34, Redirect);
    a.lookup(&maps.pass_ipv4, Packet(30));
    a.jump(Insn::jeq_imm(R0, 0), Redirect);
    a.op(Insn::ldx(BPF_B, R9, R7, 23));
    a.op(Insn::stx(BPF_W, R10, KEY_PROTO, R9));
    // A later fragment has no port.
    a.op(Insn::ldx(BPF_H, R1, R7, 20));
    a.op(Insn::be16(R1));
    a.op(Insn::and64_imm(R1, 0x1fff));
    a.jump(Insn::jne_imm(R1, 0), Proto);
    // r2 = data + 14 + IHL * 4 (the transport header); its port at +2.
    a.op(Insn::ldx(BPF_B, R1, R7, 14));
    a.op(Insn::and64_imm(R1, 0xf));
    a.op(Insn::lsh64_imm(R1, 2));
    a.op(Insn::mov64_reg(R2, R7));
    a.op(Insn::add64_reg(R2, R1));
    a.op(Insn::mov64_reg(R3, R2));
    a.op(Insn::add64_imm(R3, 18));
    a.jump(Insn::jgt_reg(R3, R8), Proto);
    a.op(Insn::ldx(BPF_H, R1, R2, 16));
    a.op(Insn::be16(R1));
    a.op(Insn::stx(BPF_W, R10, KEY_PORT, R1));

    // r9 = pass_proto[protocol]: 0 to xgw, 0xff to the kernel, else the
    // protocol's bit in pass_port[port].
    a.label(Proto);
    a.lookup(&maps.pass_proto, Stack(KEY_PROTO));
    a.jump(Insn::jeq_imm(R0, 0), Redirect);
    a.op(Insn::ldx(BPF_B, R9, R0, 0));
    a.jump(Insn::jeq_imm(R9, 0), Redirect);
    a.jump(Insn::jeq_imm(R9, PROTO_ALL as i32), Pass);
    a.lookup(&maps.pass_port, Stack(KEY_PORT));
    a.jump(Insn::jeq_imm(R0, 0), Redirect);
    a.op(Insn::ldx(BPF_B, R1, R0, 0));
    a.op(Insn::and64_reg(R1, R9));
    a.jump(Insn::jne_imm(R1, 0), Pass);

    // return bpf_redirect_map(&xsks, ctx->rx_queue_index, fallback).
    a.label(Redirect);
    a.op(Insn::ldx(BPF_W, R2, R6, XDP_MD_RX_QUEUE_INDEX));
    a.ld_map(R1, &maps.xsks);
    a.op(Insn::mov64_imm(R3, fallback));
    a.op(Insn::call(FN_REDIRECT_MAP));
    a.op(Insn::exit());

    // return XDP_PASS.
    a.label(Pass);
    a.op(Insn::mov64_imm(R0, XDP_PASS));
    a.op(Insn::exit());

    a.finish()
}

/// Number of instruction slots of the program (ld_imm64 counts twice).
const PROGRAM_LEN: usize = 119;

fn load_program(ifname: &str, maps: &Maps, fallback: i32) -> Result<OwnedFd, BpfError> {
    let insns = build_program(maps, fallback);
    debug_assert_eq!(insns.len(), PROGRAM_LEN);
    load_insns(ifname, &insns)
}

/// BPF_PROG_LOAD of an XDP program; on failure, load again with the verifier
/// log on and return it in the error.
fn load_insns(ifname: &str, insns: &[Insn]) -> Result<OwnedFd, BpfError> {
    let license: &CStr = c"GPL";

    let attempt = |log: Option<&mut Vec<u8>>| -> io::Result<OwnedFd> {
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: obj_name("xgw_xdp"),
            expected_attach_type: BPF_XDP,
            ..Default::default()
        };
        if let Some(buf) = log {
            attr.log_level = 1;
            attr.log_size = buf.len() as u32;
            attr.log_buf = buf.as_mut_ptr() as u64;
        }
        // The kernel may answer EAGAIN transiently (libbpf retries too).
        let mut tries = 0;
        loop {
            // SAFETY: `insns` (insn_cnt instructions) and `license` (NUL
            // terminated) are live for the call; the log buffer, when given,
            // is a live, writable Vec of log_size bytes.
            match unsafe { sys_bpf(BPF_PROG_LOAD, &mut attr) } {
                Ok(fd) => return Ok(owned_fd(fd)),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 5 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    };

    match attempt(None) {
        Ok(fd) => Ok(fd),
        Err(source) if source.raw_os_error() == Some(libc::EPERM) => {
            Err(BpfError::PermissionDenied {
                ifname: ifname.to_owned(),
                what: "loading the XDP program",
                source,
            })
        }
        Err(_) => {
            // Load again with the verifier log on, to say why.
            let mut buf = vec![0u8; VERIFIER_LOG_SIZE];
            let source = match attempt(Some(&mut buf)) {
                Ok(fd) => return Ok(fd), // transient failure; now it loaded
                Err(e) => e,
            };
            Err(BpfError::Verifier {
                ifname: ifname.to_owned(),
                source,
                log: condense_log(&buf),
            })
        }
    }
}

/// Verifier log as one line: lines joined with " | ", keeping the tail
/// (where the reason is) if it is long.
fn condense_log(buf: &[u8]) -> String {
    const MAX: usize = 8192;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let text = String::from_utf8_lossy(&buf[..end]);
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if joined.is_empty() {
        return "(empty verifier log)".to_owned();
    }
    if joined.len() <= MAX {
        return joined;
    }
    let mut start = joined.len() - MAX;
    while !joined.is_char_boundary(start) {
        start += 1;
    }
    format!("... {}", &joined[start..])
}

/// BPF_LINK_CREATE in `mode`. In native mode, errors that mean "this driver
/// cannot do that" come back as `ModeUnsupported`, so that Auto can fall back
/// to generic mode.
fn link_create(
    ifname: &str,
    ifindex: u32,
    prog: &OwnedFd,
    mode: XdpMode,
) -> Result<OwnedFd, BpfError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags: mode.link_flags(),
        ..Default::default()
    };
    // SAFETY: BPF_LINK_CREATE for XDP reads no user pointers.
    match unsafe { sys_bpf(BPF_LINK_CREATE, &mut attr) } {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(source) => {
            let ifname = ifname.to_owned();
            Err(match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => BpfError::PermissionDenied {
                    ifname,
                    what: "attaching the XDP program",
                    source,
                },
                Some(libc::EBUSY) | Some(libc::EEXIST) => BpfError::Busy { ifname, source },
                Some(libc::ENODEV) => BpfError::NoSuchInterface { ifname, ifindex },
                // Driver without native XDP (EOPNOTSUPP), flags it refuses
                // (EINVAL), veth's peer MTU too large for native XDP (ERANGE)
                // or fewer rx queues than the peer's tx queues (ENOSPC).
                Some(libc::EOPNOTSUPP)
                | Some(libc::EINVAL)
                | Some(libc::ERANGE)
                | Some(libc::ENOSPC)
                    if mode == XdpMode::Native =>
                {
                    let hint = match source.raw_os_error() {
                        Some(libc::ERANGE) => "; on veth lower the peer's MTU to 3506 or less, or use generic mode",
                        Some(libc::ENOSPC) => "; on veth give this end at least as many rx queues as the peer has tx queues, or use generic mode",
                        _ => "; use generic (or auto) XDP mode",
                    };
                    BpfError::ModeUnsupported {
                        ifname,
                        mode,
                        source,
                        hint,
                    }
                }
                _ => BpfError::Attach {
                    ifname,
                    mode,
                    source,
                },
            })
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(i: Insn) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = i.code;
        b[1] = i.regs;
        b[2..4].copy_from_slice(&i.off.to_le_bytes());
        b[4..8].copy_from_slice(&i.imm.to_le_bytes());
        b
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn encodes_instructions() {
        // r6 = r1
        assert_eq!(
            bytes(Insn::mov64_reg(R6, R1)),
            [0xbf, 0x16, 0, 0, 0, 0, 0, 0]
        );
        // r8 = *(u32 *)(r6 + 4)
        assert_eq!(
            bytes(Insn::ldx(BPF_W, R8, R6, 4)),
            [0x61, 0x68, 4, 0, 0, 0, 0, 0]
        );
        // r9 = *(u16 *)(r7 + 12)
        assert_eq!(
            bytes(Insn::ldx(BPF_H, R9, R7, 12)),
            [0x69, 0x79, 12, 0, 0, 0, 0, 0]
        );
        // *(u32 *)(r10 - 4) = r9
        assert_eq!(
            bytes(Insn::stx(BPF_W, R10, -4, R9)),
            [0x63, 0x9a, 0xfc, 0xff, 0, 0, 0, 0]
        );
        // r9 = be16 r9
        assert_eq!(bytes(Insn::be16(R9)), [0xdc, 0x09, 0, 0, 16, 0, 0, 0]);
        // r2 += -4
        assert_eq!(
            bytes(Insn::add64_imm(R2, -4)),
            [0x07, 0x02, 0, 0, 0xfc, 0xff, 0xff, 0xff]
        );
        // call bpf_redirect_map
        assert_eq!(
            bytes(Insn::call(FN_REDIRECT_MAP)),
            [0x85, 0, 0, 0, 51, 0, 0, 0]
        );
        // exit
        assert_eq!(bytes(Insn::exit()), [0x95, 0, 0, 0, 0, 0, 0, 0]);
        // r1 = map_fd 7 (ld_imm64 with BPF_PSEUDO_MAP_FD), two slots
        let [lo, hi] = Insn::ld_map_fd(R1, 7);
        assert_eq!(bytes(lo), [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        assert_eq!(bytes(hi), [0; 8]);
    }

    /// Fake maps (fds that are never given to the kernel) for encoding tests.
    fn fake_maps() -> Maps {
        let fd = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        Maps {
            xsks: fd(),
            pass_ethertype: fd(),
            pass_ipv4: fd(),
            pass_ipv6: fd(),
            pass_proto: fd(),
            pass_port: fd(),
        }
    }

    #[test]
    fn program_shape() {
        let maps = fake_maps();
        let p = build_program(&maps, XDP_PASS);
        assert_eq!(p.len(), PROGRAM_LEN);
        // Starts by saving ctx, ends with "r0 = XDP_PASS; exit".
        assert_eq!(p[0], Insn::mov64_reg(R6, R1));
        assert_eq!(p[p.len() - 2], Insn::mov64_imm(R0, XDP_PASS));
        assert_eq!(p[p.len() - 1], Insn::exit());
        // Every jump lands inside the program, forward, and not in the
        // middle of an ld_imm64.
        let ld64 = BPF_LD | BPF_DW | BPF_IMM;
        for (i, insn) in p.iter().enumerate() {
            let class = insn.code & 0x07;
            let op = insn.code & 0xf0;
            if class == BPF_JMP && op != BPF_CALL && op != BPF_EXIT {
                let t = i as isize + 1 + insn.off as isize;
                assert!(
                    insn.off >= 0 && (t as usize) < p.len(),
                    "jump at {i} to {t}"
                );
                assert!(
                    t == 0 || p[t as usize - 1].code != ld64,
                    "jump at {i} into ld_imm64"
                );
            }
        }
        // The redirect block: rx_queue_index load, xskmap, fallback, call 51.
        let r = p
            .iter()
            .position(|i| *i == Insn::ldx(BPF_W, R2, R6, XDP_MD_RX_QUEUE_INDEX))
            .unwrap();
        assert_eq!(p[r + 1].imm, maps.xsks.as_raw_fd());
        assert_eq!(p[r + 3], Insn::mov64_imm(R3, XDP_PASS));
        assert_eq!(p[r + 4], Insn::call(FN_REDIRECT_MAP));
        // The first bounds check skips to the redirect block.
        assert_eq!(5 + 1 + p[5].off as usize, r);
    }

    #[test]
    fn pass_rule_keys() {
        assert_eq!(ethertype_key(0x0806), 0x0806u32.to_ne_bytes());
        assert_eq!(ethertype_key(0x86dd), 0x86ddu32.to_ne_bytes());
        assert_eq!(Ipv4Addr::new(192, 0, 2, 1).octets(), [192, 0, 2, 1]);
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(v6.octets()[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(v6.octets()[15], 1);
    }

    #[test]
    fn names_and_logs() {
        assert_eq!(&obj_name("xgw_xdp")[..8], b"xgw_xdp\0");
        assert_eq!(obj_name("a_very_long_map_name_here")[15], 0);
        assert_eq!(
            condense_log(b"0: R1=ctx\n1: bad\n\0junk"),
            "0: R1=ctx | 1: bad"
        );
        assert_eq!(XdpMode::Native.as_str(), "native");
        assert_eq!(XdpMode::Generic.as_str(), "generic");
    }

    #[test]
    fn error_messages_are_one_line() {
        let e = BpfError::Busy {
            ifname: "veth0".into(),
            source: io::Error::from_raw_os_error(libc::EBUSY),
        };
        let s = e.to_string();
        assert!(s.contains("ip link set dev veth0 xdp off"), "{s}");
        assert!(!s.contains('\n'));
    }

    /// What a test that needs the bpf(2) syscall does when the kernel
    /// refused it: as root (how CI runs) that is a failure, since the test
    /// would otherwise pass without testing anything; as another user the
    /// test is skipped, and says so on stderr.
    fn skip_unless_root(test: &str, e: &BpfError) {
        // SAFETY: geteuid(2) takes no arguments and always succeeds.
        let euid = unsafe { libc::geteuid() };
        if euid == 0 {
            panic!(
                "{test}: running as root, yet the kernel refused bpf(2): {e}; \
                 is CAP_BPF / CAP_SYS_ADMIN missing from this process's capability set? \
                 The test checks nothing without it"
            );
        }
        eprintln!(
            "SKIPPED {test}: not root (euid {euid}) and the kernel refused bpf(2): {e}; \
             run the engine tests as root to check the XDP program"
        );
    }

    #[test]
    fn verifier_log_is_reported() {
        // r0 = r2 (uninitialised): the verifier must refuse.
        let bad = [Insn::mov64_reg(R0, R2), Insn::exit()];
        match load_insns("test", &bad) {
            Err(BpfError::Verifier { log, .. }) => assert!(log.contains("R2 !read_ok"), "{log}"),
            Err(e @ BpfError::PermissionDenied { .. }) => {
                skip_unless_root("verifier_log_is_reported", &e)
            }
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("the verifier accepted a bad program"),
        }
    }

    /// An IPv4 frame to `dst` with protocol `proto`, IHL `ihl` words and
    /// destination port `port` (when the frame has room).
    fn v4(dst: Ipv4Addr, proto: u8, ihl: usize, port: u16) -> Vec<u8> {
        let mut f = frame(0x0800, 14 + ihl * 4 + 8);
        f[14] = 0x40 | ihl as u8;
        f[23] = proto;
        f[30..34].copy_from_slice(&dst.octets());
        let l4 = 14 + ihl * 4;
        f[l4 + 2..l4 + 4].copy_from_slice(&port.to_be_bytes());
        f
    }

    fn v6(dst: Ipv6Addr, nh: u8, len: usize) -> Vec<u8> {
        let mut f = frame(0x86dd, len);
        f[14] = 0x60;
        f[20] = nh;
        f[38..54].copy_from_slice(&dst.octets());
        f
    }

    /// Host-stack coexistence: ARP/NDP for the host's addresses, and only
    /// the configured protocols and ports to them, pass; rules change in
    /// place (`PassHandle::replace`).
    fn host_stack_rules(maps: &Maps, prog: &OwnedFd) {
        let pass = XDP_PASS as u32;
        let drop = XDP_DROP as u32;
        let host4: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let host6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let other4: Ipv4Addr = "192.0.2.9".parse().unwrap();
        let other6: Ipv6Addr = "2001:db8::9".parse().unwrap();
        let mut h = maps
            .pass_handle(
                "test",
                &PassRules {
                    ethertypes: vec![0x0806],
                    ipv4_dst: vec![host4],
                    ipv6_dst: vec![host6],
                    ports: vec![],
                },
            )
            .unwrap();
        let mut rules = PassRules {
            ethertypes: vec![],
            ipv4_dst: vec![host4],
            ipv6_dst: vec![host6],
            ports: ["tcp:22", "udp:5000-5002", "icmp"]
                .iter()
                .flat_map(|s| PassPort::parse(s).unwrap())
                .collect(),
        };
        h.replace(&rules).unwrap();
        // ARP: only for or to the host address (EtherType rule gone).
        let arp = |target: Ipv4Addr| {
            let mut f = frame(0x0806, 42);
            f[38..42].copy_from_slice(&target.octets());
            f
        };
        assert_eq!(test_run(prog, &arp(host4)), pass, "ARP for the host");
        assert_eq!(test_run(prog, &arp(other4)), drop, "ARP for another");
        assert_eq!(test_run(prog, &arp(host4)[..41]), drop, "truncated ARP");
        // IPv4 by protocol and port, IHL honoured.
        assert_eq!(test_run(prog, &v4(host4, 6, 5, 22)), pass, "tcp:22");
        assert_eq!(
            test_run(prog, &v4(host4, 6, 8, 22)),
            pass,
            "tcp:22 behind options"
        );
        assert_eq!(test_run(prog, &v4(host4, 6, 5, 23)), drop, "tcp:23");
        assert_eq!(test_run(prog, &v4(host4, 17, 5, 22)), drop, "udp:22");
        assert_eq!(test_run(prog, &v4(host4, 17, 5, 5001)), pass, "udp:5001");
        assert_eq!(test_run(prog, &v4(host4, 17, 5, 5003)), drop, "udp:5003");
        assert_eq!(test_run(prog, &v4(host4, 1, 5, 0)), pass, "icmp");
        assert_eq!(test_run(prog, &v4(host4, 47, 5, 0)), drop, "gre");
        assert_eq!(
            test_run(prog, &v4(other4, 6, 5, 22)),
            drop,
            "tcp:22 to another"
        );
        let mut frag = v4(host4, 6, 5, 22);
        frag[20] = 0x00;
        frag[21] = 0x10; // offset 16 octets: a later fragment
        assert_eq!(test_run(prog, &frag), drop, "later fragment: no port");
        let short = v4(host4, 6, 5, 22);
        assert_eq!(
            test_run(prog, &short[..14 + 20 + 3]),
            drop,
            "no room for the port"
        );
        // IPv6: NS for the host (to its solicited-node group), NDP to it.
        let mut ns = v6("ff02::1:ff00:1".parse().unwrap(), 58, 86);
        ns[54] = 135;
        ns[62..78].copy_from_slice(&host6.octets());
        assert_eq!(test_run(prog, &ns), pass, "NS for the host");
        ns[62..78].copy_from_slice(&other6.octets());
        assert_eq!(test_run(prog, &ns), drop, "NS for another");
        let mut na = v6(host6, 58, 86);
        na[54] = 136;
        assert_eq!(test_run(prog, &na), pass, "NA to the host");
        let mut tcp6 = v6(host6, 6, 74);
        tcp6[56..58].copy_from_slice(&22u16.to_be_bytes());
        assert_eq!(test_run(prog, &tcp6), pass, "tcp6:22");
        tcp6[56..58].copy_from_slice(&80u16.to_be_bytes());
        assert_eq!(test_run(prog, &tcp6), drop, "tcp6:80");
        let mut echo6 = v6(host6, 58, 70);
        echo6[54] = 128;
        assert_eq!(test_run(prog, &echo6), pass, "icmp6 echo (icmp listed)");
        assert_eq!(
            test_run(prog, &v6(host6, 0, 80)),
            drop,
            "hop-by-hop first: no port"
        );

        // Without icmp: echo goes to xgw, NDP still passes.
        rules.ports.retain(|p| p.proto != 1 && p.proto != 58);
        h.replace(&rules).unwrap();
        assert_eq!(test_run(prog, &v4(host4, 1, 5, 0)), drop, "icmp unlisted");
        assert_eq!(test_run(prog, &echo6), drop, "icmp6 echo unlisted");
        assert_eq!(test_run(prog, &na), pass, "NA always");
        assert_eq!(test_run(prog, &v4(host4, 6, 5, 22)), pass, "tcp:22 kept");
        assert_eq!(
            test_run(prog, &v4(host4, 17, 5, 5001)),
            pass,
            "udp:5001 kept"
        );

        // No port list: everything to the host passes; a removed address
        // no longer does.
        let all = PassRules {
            ethertypes: vec![],
            ipv4_dst: vec![host4],
            ipv6_dst: vec![],
            ports: vec![],
        };
        h.replace(&all).unwrap();
        assert_eq!(
            test_run(prog, &v4(host4, 47, 5, 0)),
            pass,
            "gre, all passes"
        );
        assert_eq!(
            test_run(prog, &v4(host4, 6, 5, 23)),
            pass,
            "tcp:23, all passes"
        );
        tcp6[56..58].copy_from_slice(&22u16.to_be_bytes());
        assert_eq!(test_run(prog, &tcp6), drop, "v6 host removed");
        assert_eq!(test_run(prog, &na), drop, "NA to a removed host");
        assert_eq!(h.current(), &all);
    }

    #[test]
    fn pass_ports_parse() {
        let p = |s| PassPort::parse(s);
        assert_eq!(
            p("tcp:22").unwrap(),
            vec![PassPort {
                proto: 6,
                ports: Some((22, 22))
            }]
        );
        assert_eq!(
            p("UDP:1-5").unwrap(),
            vec![PassPort {
                proto: 17,
                ports: Some((1, 5))
            }]
        );
        assert_eq!(p("icmp").unwrap().len(), 2);
        assert_eq!(
            p("47").unwrap(),
            vec![PassPort {
                proto: 47,
                ports: None
            }]
        );
        for bad in ["tcp:5-1", "gre:1", "tcp:70000", "smtp", "tcp:"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    /// Run the program on a frame with BPF_PROG_TEST_RUN; returns the action.
    fn test_run(prog: &OwnedFd, frame: &[u8]) -> u32 {
        let mut attr = TestRunAttr {
            prog_fd: prog.as_raw_fd() as u32,
            data_size_in: frame.len() as u32,
            data_in: frame.as_ptr() as u64,
            repeat: 1,
            ..Default::default()
        };
        // SAFETY: the kernel reads data_size_in bytes at data_in (a live
        // slice); no output buffers are given (sizes 0, pointers null).
        unsafe { sys_bpf(BPF_PROG_TEST_RUN, &mut attr) }.expect("BPF_PROG_TEST_RUN");
        attr.retval
    }

    fn frame(ethertype: u16, len: usize) -> Vec<u8> {
        let mut f = vec![0u8; len];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f
    }

    /// Loads the real program through the verifier and checks its decisions.
    /// Needs CAP_BPF/CAP_NET_ADMIN: skipped (loudly) only when not root;
    /// as root a refusal fails the test.
    #[test]
    fn verifier_accepts_and_rules_apply() {
        let maps = match Maps::create("test", 4) {
            Ok(m) => m,
            Err(e @ BpfError::PermissionDenied { .. }) => {
                skip_unless_root("verifier_accepts_and_rules_apply", &e);
                return;
            }
            Err(e) => panic!("{e}"),
        };
        // Production program loads too.
        load_program("test", &maps, XDP_PASS).unwrap_or_else(|e| panic!("{e}"));
        // Test variant: an empty XSKMAP slot yields XDP_DROP instead of PASS.
        let prog = load_program("test", &maps, XDP_DROP).unwrap_or_else(|e| panic!("{e}"));
        let v4: Ipv4Addr = "192.0.2.1".parse().unwrap();
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        maps.add_pass_rules(
            "test",
            &PassRules {
                ethertypes: vec![0x0806],
                ipv4_dst: vec![v4],
                ipv6_dst: vec![v6],
                ports: vec![],
            },
        )
        .unwrap();
        let pass = XDP_PASS as u32;
        let drop = XDP_DROP as u32;

        assert_eq!(
            test_run(&prog, &frame(0x0806, 60)),
            pass,
            "ARP by EtherType"
        );
        assert_eq!(test_run(&prog, &frame(0x88cc, 60)), drop, "other EtherType");

        let mut f = frame(0x0800, 60);
        f[30..34].copy_from_slice(&v4.octets());
        assert_eq!(test_run(&prog, &f), pass, "IPv4 dst in map");
        f[33] = 2;
        assert_eq!(test_run(&prog, &f), drop, "IPv4 dst not in map");
        let mut short = frame(0x0800, 33);
        short[30..33].copy_from_slice(&v4.octets()[..3]);
        assert_eq!(test_run(&prog, &short), drop, "truncated IPv4");

        let mut f = frame(0x86dd, 80);
        f[38..54].copy_from_slice(&v6.octets());
        assert_eq!(test_run(&prog, &f), pass, "IPv6 dst in map");
        f[53] = 2;
        assert_eq!(test_run(&prog, &f), drop, "IPv6 dst not in map");
        let mut f = frame(0x86dd, 54);
        f[38..54].copy_from_slice(&v6.octets());
        assert_eq!(test_run(&prog, &f), pass, "IPv6 dst exactly 54 bytes");
        assert_eq!(test_run(&prog, &frame(0x86dd, 53)), drop, "truncated IPv6");

        // An IPv4 address in the v4 map does not pass an IPv6 frame, etc.
        let mut f = frame(0x86dd, 80);
        f[30..34].copy_from_slice(&v4.octets());
        assert_eq!(test_run(&prog, &f), drop, "v4 rule on v6 frame");

        host_stack_rules(&maps, &prog);

        // The XSKMAP refuses a non-XSK fd (a file, a UDP socket).
        let file = std::fs::File::open("/dev/null").unwrap();
        let e = map_update(
            &maps.xsks,
            &0u32.to_ne_bytes(),
            &(file.as_raw_fd() as u32).to_ne_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK), "{e}");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = map_update(
            &maps.xsks,
            &0u32.to_ne_bytes(),
            &(udp.as_raw_fd() as u32).to_ne_bytes(),
        )
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "{e}");
    }
}
