//! Frame templates of `xgw gen`: Ethernet / [outer IPv4 (IPIP)] / IPv4 or
//! IPv6 / UDP or TCP / signature / filler.
//!
//! A [`Frame`] is built once per frame size with every per-packet field
//! zeroed (the inner source address's low 32 bits, the source port, the
//! signature), together with the partial Internet checksums of everything
//! else. [`Frame::stamp`] then writes those fields into a copy and
//! finishes the checksums by adding only their sums, so a packet costs a
//! few dozen instructions however large it is (no pass over the payload).
//!
//! The signature (16 bytes, the first bytes of the L4 payload) is what the
//! receiver looks for: magic `"XG"`, the trial's run id, a 32-bit sequence
//! number and the CLOCK_MONOTONIC transmit time in ns, all big-endian.
//!
//! Sizes are Ethernet frame sizes *including* the 4-byte FCS, as RFC 2544
//! counts them (64 … 1518): the generator writes `size - 4` bytes and the
//! device adds the FCS. Adding a tunnel (GTP-U, NAT64's translated side) is
//! one more [`Encap`] variant: its header bytes, its length, and whether a
//! checksum covers the inner packet.

use std::net::{IpAddr, Ipv4Addr};

use xgw_pipelines::wire::checksum;
use xgw_pipelines::wire::ethernet::MacAddr;

/// Bytes of the payload signature.
pub const SIG_LEN: usize = 16;
/// First two bytes of every signature ("XG").
pub const MAGIC: u16 = 0x5847;
/// Frame check sequence: counted in sizes, written by the device.
pub const FCS: usize = 4;
/// Largest frame (with FCS) a 4 KiB UMEM chunk holds after the kernel's
/// 256-byte headroom.
pub const MAX_SIZE: usize = 4096 - 256 + FCS;

const ETH_LEN: usize = 14;
const IP4_LEN: usize = 20;
const IP6_LEN: usize = 40;
const UDP_LEN: usize = 8;
const TCP_LEN: usize = 20;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const TTL: u8 = 64;

/// The transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Udp,
    /// A plain data segment (ACK|PSH), no handshake: enough for routers.
    Tcp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Udp => "udp",
            L4::Tcp => "tcp",
        }
    }
    fn len(self) -> usize {
        match self {
            L4::Udp => UDP_LEN,
            L4::Tcp => TCP_LEN,
        }
    }
    fn proto(self) -> u8 {
        match self {
            L4::Udp => PROTO_UDP,
            L4::Tcp => PROTO_TCP,
        }
    }
}

/// What changes from one flow to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vary {
    /// The L4 source port: `src_port + flow`.
    SrcPort,
    /// The low 32 bits of the (inner) source address: `src + flow`.
    SrcIp,
}

/// Headers in front of the inner IP packet (after Ethernet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    None,
    /// An outer IPv4 header, protocol 4 (IPv4 inside) or 41 (IPv6 inside).
    Ipip {
        src: Ipv4Addr,
        dst: Ipv4Addr,
    },
}

impl Encap {
    /// Bytes this encapsulation adds between Ethernet and the inner packet.
    pub fn len(&self) -> usize {
        match self {
            Encap::None => 0,
            Encap::Ipip { .. } => IP4_LEN,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn name(&self) -> &'static str {
        match self {
            Encap::None => "none",
            Encap::Ipip { .. } => "ipip",
        }
    }
    /// The EtherType of the frame (that of the outermost IP header).
    fn ethertype(&self, inner: &IpAddr) -> u16 {
        match (self, inner) {
            (Encap::Ipip { .. }, _) | (Encap::None, IpAddr::V4(_)) => 0x0800,
            (Encap::None, IpAddr::V6(_)) => 0x86DD,
        }
    }
    /// Writes the encapsulation header into `b` (exactly `self.len()`
    /// bytes); `inner_len` is the length of everything after it.
    fn write(&self, b: &mut [u8], inner: &IpAddr, inner_len: usize) {
        match *self {
            Encap::None => {}
            Encap::Ipip { src, dst } => {
                let proto = if inner.is_ipv4() {
                    PROTO_IPIP
                } else {
                    PROTO_IPV6
                };
                write_ip4(b, (IP4_LEN + inner_len) as u16, proto, src, dst);
                let c = checksum::finish(checksum::sum(&b[..IP4_LEN]));
                b[10..12].copy_from_slice(&c.to_be_bytes());
            }
        }
    }
}

/// Everything a packet's headers are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub encap: Encap,
    /// Inner source and destination (same family).
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4,
    pub src_port: u16,
    pub dst_port: u16,
    pub vary: Vary,
}

impl Spec {
    /// A short name: "ipv4-udp", "ipip-ipv6-tcp", ...
    pub fn name(&self) -> String {
        let ip = if self.src.is_ipv4() { "ipv4" } else { "ipv6" };
        match self.encap {
            Encap::None => format!("{ip}-{}", self.l4.as_str()),
            e => format!("{}-{ip}-{}", e.name(), self.l4.as_str()),
        }
    }

    fn ip_len(&self) -> usize {
        if self.src.is_ipv4() {
            IP4_LEN
        } else {
            IP6_LEN
        }
    }

    /// Bytes of headers before the signature.
    pub fn header_len(&self) -> usize {
        ETH_LEN + self.encap.len() + self.ip_len() + self.l4.len()
    }

    /// Smallest frame size (with FCS) that holds the headers and the
    /// signature.
    pub fn min_size(&self) -> usize {
        self.header_len() + SIG_LEN + FCS
    }

    /// Checks the spec itself (address families).
    pub fn validate(&self) -> Result<(), String> {
        if self.src.is_ipv4() != self.dst.is_ipv4() {
            return Err(format!(
                "--src-ip {} and --dst-ip {} are of different address families",
                self.src, self.dst
            ));
        }
        Ok(())
    }

    /// The template for frames of `size` bytes (FCS included).
    pub fn build(&self, size: usize) -> Result<Frame, String> {
        self.validate()?;
        if size < self.min_size() {
            return Err(format!(
                "frame size {size} is too small for {}: at least {} bytes ({} of headers, {SIG_LEN} of signature, {FCS} of FCS)",
                self.name(),
                self.min_size(),
                self.header_len()
            ));
        }
        if size > MAX_SIZE {
            return Err(format!(
                "frame size {size} is too large: at most {MAX_SIZE} (a 4 KiB UMEM chunk)"
            ));
        }
        let len = size - FCS;
        let mut b = vec![0u8; len];
        // Ethernet
        b[0..6].copy_from_slice(&self.dst_mac.0);
        b[6..12].copy_from_slice(&self.src_mac.0);
        b[12..14].copy_from_slice(&self.encap.ethertype(&self.src).to_be_bytes());
        let mut off = ETH_LEN;
        self.encap.write(
            &mut b[off..off + self.encap.len()],
            &self.src,
            len - off - self.encap.len(),
        );
        off += self.encap.len();

        // Inner IP, with the low 32 bits of the source left zero.
        let ip_off = off;
        let l4_off = ip_off + self.ip_len();
        let l4_len = len - l4_off;
        let (src_low_off, pseudo) = match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(d)) => {
                // the whole IPv4 source is the per-packet low 32 bits
                let s0 = Ipv4Addr::UNSPECIFIED;
                write_ip4(
                    &mut b[ip_off..],
                    (IP4_LEN + l4_len) as u16,
                    self.l4.proto(),
                    s0,
                    d,
                );
                (
                    ip_off + 12,
                    checksum::pseudo_v4(s0.octets(), d.octets(), self.l4.proto(), l4_len as u16),
                )
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut so = s.octets();
                so[12..16].fill(0);
                let h = &mut b[ip_off..ip_off + IP6_LEN];
                h[0] = 0x60;
                h[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                h[6] = self.l4.proto();
                h[7] = TTL;
                h[8..24].copy_from_slice(&so);
                h[24..40].copy_from_slice(&d.octets());
                (
                    ip_off + 8 + 12,
                    checksum::pseudo_v6(&so, &d.octets(), self.l4.proto(), l4_len as u32),
                )
            }
            _ => unreachable!("validated above"),
        };
        let ip4_base = self
            .src
            .is_ipv4()
            .then(|| checksum::sum(&b[ip_off..ip_off + IP4_LEN]));

        // L4 header, source port left zero.
        let h = &mut b[l4_off..];
        h[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        match self.l4 {
            L4::Udp => h[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes()),
            L4::Tcp => {
                h[4..8].copy_from_slice(&1u32.to_be_bytes()); // sequence number
                h[12] = 5 << 4; // data offset: 5 words
                h[13] = 0x18; // ACK | PSH
                h[14..16].copy_from_slice(&0xffffu16.to_be_bytes()); // window
            }
        }
        let sig_off = l4_off + self.l4.len();
        // Filler after the signature: a byte pattern, so corruption shows.
        for (i, x) in b[sig_off + SIG_LEN..].iter_mut().enumerate() {
            *x = i as u8;
        }
        let l4_base = pseudo + checksum::sum(&b[l4_off..]);
        let (src_low, _) = low32(&self.src);
        Ok(Frame {
            bytes: b,
            size,
            ip4: ip4_base.map(|s| (ip_off, s)),
            src_low_off,
            src_low_base: src_low,
            l4_off,
            l4_csum_off: l4_off + if self.l4 == L4::Udp { 6 } else { 16 },
            udp: self.l4 == L4::Udp,
            l4_base,
            sig_off,
            src_port: self.src_port,
            vary: self.vary,
        })
    }
}

/// The low 32 bits of an address, and whether it is IPv4.
fn low32(a: &IpAddr) -> (u32, bool) {
    match a {
        IpAddr::V4(a) => (u32::from(*a), true),
        IpAddr::V6(a) => {
            let o = a.octets();
            (u32::from_be_bytes([o[12], o[13], o[14], o[15]]), false)
        }
    }
}

/// An IPv4 header without options, DF set, checksum field zero.
fn write_ip4(h: &mut [u8], total: u16, proto: u8, src: Ipv4Addr, dst: Ipv4Addr) {
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&[0, 0]); // identification
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    h[8] = TTL;
    h[9] = proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
}

/// A frame of one size with the per-packet fields zeroed, and the partial
/// checksums of the rest.
#[derive(Clone, Debug)]
pub struct Frame {
    /// `size - FCS` bytes.
    pub bytes: Vec<u8>,
    /// Frame size with FCS.
    pub size: usize,
    /// The inner IPv4 header (offset, partial sum), if the inner packet is IPv4.
    ip4: Option<(usize, u32)>,
    /// Offset of the low 32 bits of the inner source address.
    src_low_off: usize,
    src_low_base: u32,
    l4_off: usize,
    l4_csum_off: usize,
    udp: bool,
    /// Partial sum of the pseudo-header and the whole L4 segment as built.
    l4_base: u32,
    /// Offset of the signature.
    pub sig_off: usize,
    src_port: u16,
    vary: Vary,
}

impl Frame {
    /// Writes the per-packet fields into `buf` (a copy of `self.bytes`,
    /// possibly holding an earlier packet's fields) and completes the
    /// checksums.
    #[inline]
    pub fn stamp(&self, buf: &mut [u8], flow: u32, run: u16, seq: u32, ts: u64) {
        let (sport, low) = match self.vary {
            Vary::SrcPort => (self.src_port.wrapping_add(flow as u16), self.src_low_base),
            Vary::SrcIp => (self.src_port, self.src_low_base.wrapping_add(flow)),
        };
        let low = low.to_be_bytes();
        buf[self.src_low_off..self.src_low_off + 4].copy_from_slice(&low);
        buf[self.l4_off..self.l4_off + 2].copy_from_slice(&sport.to_be_bytes());
        let mut sig = [0u8; SIG_LEN];
        sig[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        sig[2..4].copy_from_slice(&run.to_be_bytes());
        sig[4..8].copy_from_slice(&seq.to_be_bytes());
        sig[8..16].copy_from_slice(&ts.to_be_bytes());
        buf[self.sig_off..self.sig_off + SIG_LEN].copy_from_slice(&sig);

        let low_sum = u32::from(u16::from_be_bytes([low[0], low[1]]))
            + u32::from(u16::from_be_bytes([low[2], low[3]]));
        if let Some((ip, base)) = self.ip4 {
            let c = checksum::finish(base + low_sum);
            buf[ip + 10..ip + 12].copy_from_slice(&c.to_be_bytes());
        }
        let mut c =
            checksum::finish(self.l4_base + low_sum + u32::from(sport) + checksum::sum(&sig));
        if self.udp && c == 0 {
            c = 0xffff; // 0 means "no checksum" in UDP (RFC 768)
        }
        buf[self.l4_csum_off..self.l4_csum_off + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// A finished packet (tests, one-off use).
    pub fn packet(&self, flow: u32, run: u16, seq: u32, ts: u64) -> Vec<u8> {
        let mut b = self.bytes.clone();
        self.stamp(&mut b, flow, run, seq, ts);
        b
    }
}

/// Parses a `--size` value: `64`, `64,512,1518` or `imix` (7:4:1 of
/// 64/576/1518, interleaved). Returns the per-packet cycle of sizes.
pub fn parse_sizes(s: &str) -> Result<Vec<usize>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("imix") {
        // 7 × 64, 4 × 576, 1 × 1518, spread over a 12-packet cycle.
        return Ok(vec![64, 576, 64, 64, 576, 64, 1518, 64, 576, 64, 64, 576]);
    }
    let mut v = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        let n: usize = p.parse().map_err(|_| {
            format!("--size {s:?}: {p:?} is not a frame size; expected a number like 64, a list like 64,512,1518, or imix")
        })?;
        if !(60..=MAX_SIZE).contains(&n) {
            return Err(format!(
                "--size {s:?}: {n} is out of range; frame sizes (with the 4-byte FCS) go from 64 to {MAX_SIZE}"
            ));
        }
        v.push(n);
    }
    if v.is_empty() {
        return Err("--size is empty".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use std::net::Ipv6Addr;

    fn spec(src: &str, dst: &str, l4: L4, encap: Encap, vary: Vary) -> Spec {
        Spec {
            src_mac: MacAddr([2, 0, 0, 0, 1, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 1, 2]),
            encap,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            l4,
            src_port: 1024,
            dst_port: 9,
            vary,
        }
    }

    fn ipip() -> Encap {
        Encap::Ipip {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 2),
        }
    }

    fn all_specs() -> Vec<Spec> {
        let mut v = Vec::new();
        for (s, d) in [
            ("198.18.0.1", "198.19.0.1"),
            ("2001:db8:1::1", "2001:db8:2::1"),
        ] {
            for l4 in [L4::Udp, L4::Tcp] {
                for encap in [Encap::None, ipip()] {
                    for vary in [Vary::SrcPort, Vary::SrcIp] {
                        v.push(spec(s, d, l4, encap, vary));
                    }
                }
            }
        }
        v
    }

    /// Checks one packet with etherparse: every header where expected,
    /// every checksum right, the signature in the first payload bytes.
    fn check(sp: &Spec, f: &Frame, pkt: &[u8], flow: u32, run: u16, seq: u32, ts: u64) {
        assert_eq!(pkt.len() + FCS, f.size);
        let sliced = SlicedPacket::from_ethernet(pkt).expect("etherparse parses it");
        let eth = sliced.link.as_ref().unwrap();
        let eth = match eth {
            etherparse::LinkSlice::Ethernet2(e) => e,
            _ => panic!("not Ethernet II"),
        };
        assert_eq!(eth.destination(), sp.dst_mac.0);
        assert_eq!(eth.source(), sp.src_mac.0);
        // The outer header etherparse stops at for IPIP: walk it ourselves
        // (etherparse treats IPIP as the IP payload).
        let (inner_pkt, ip_at) = match sp.encap {
            Encap::None => (pkt, ETH_LEN),
            Encap::Ipip { src, dst } => {
                let (h, _) = etherparse::Ipv4Header::from_slice(&pkt[ETH_LEN..]).unwrap();
                assert_eq!(h.source, src.octets());
                assert_eq!(h.destination, dst.octets());
                assert_eq!(
                    h.header_checksum,
                    h.calc_header_checksum(),
                    "outer IPv4 checksum"
                );
                assert_eq!(h.total_len as usize, pkt.len() - ETH_LEN);
                assert_eq!(
                    h.protocol.0,
                    if sp.src.is_ipv4() {
                        PROTO_IPIP
                    } else {
                        PROTO_IPV6
                    }
                );
                (pkt, ETH_LEN + IP4_LEN)
            }
        };
        let inner = &inner_pkt[ip_at..];
        let sl = match sp.src {
            IpAddr::V4(_) => SlicedPacket::from_ip(inner).unwrap(),
            IpAddr::V6(_) => SlicedPacket::from_ip(inner).unwrap(),
        };
        let (want_src, want_sport) = match sp.vary {
            Vary::SrcPort => (sp.src, sp.src_port.wrapping_add(flow as u16)),
            Vary::SrcIp => (
                match sp.src {
                    IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(flow))),
                    IpAddr::V6(a) => {
                        let x = u128::from(a);
                        let low = (x as u32).wrapping_add(flow);
                        IpAddr::V6(Ipv6Addr::from((x & !0xffff_ffffu128) | low as u128))
                    }
                },
                sp.src_port,
            ),
        };
        let (src, dst): (IpAddr, IpAddr) = match sl.net.as_ref().unwrap() {
            NetSlice::Ipv4(v4) => {
                let h = v4.header().to_header();
                assert_eq!(
                    h.header_checksum,
                    h.calc_header_checksum(),
                    "inner IPv4 checksum"
                );
                assert_eq!(h.total_len as usize, inner.len());
                assert_eq!(h.time_to_live, TTL);
                (
                    IpAddr::V4(h.source.into()),
                    IpAddr::V4(h.destination.into()),
                )
            }
            NetSlice::Ipv6(v6) => {
                let h = v6.header().to_header();
                assert_eq!(h.payload_length as usize, inner.len() - IP6_LEN);
                (
                    IpAddr::V6(h.source.into()),
                    IpAddr::V6(h.destination.into()),
                )
            }
            _ => panic!("no IP"),
        };
        assert_eq!(src, want_src);
        assert_eq!(dst, sp.dst);
        let payload = match sl.transport.as_ref().unwrap() {
            TransportSlice::Udp(u) => {
                assert_eq!(sp.l4, L4::Udp);
                let h = u.to_header();
                assert_eq!(h.source_port, want_sport);
                assert_eq!(h.destination_port, sp.dst_port);
                let want = match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => h
                        .calc_checksum_ipv4_raw(s.octets(), d.octets(), u.payload())
                        .unwrap(),
                    (IpAddr::V6(s), IpAddr::V6(d)) => h
                        .calc_checksum_ipv6_raw(s.octets(), d.octets(), u.payload())
                        .unwrap(),
                    _ => unreachable!(),
                };
                assert_eq!(h.checksum, want, "UDP checksum");
                assert_ne!(h.checksum, 0);
                u.payload()
            }
            TransportSlice::Tcp(t) => {
                assert_eq!(sp.l4, L4::Tcp);
                let h = t.to_header();
                assert_eq!(h.source_port, want_sport);
                assert_eq!(h.destination_port, sp.dst_port);
                assert!(h.ack && h.psh && !h.syn);
                let want = match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => h
                        .calc_checksum_ipv4_raw(s.octets(), d.octets(), t.payload())
                        .unwrap(),
                    (IpAddr::V6(s), IpAddr::V6(d)) => h
                        .calc_checksum_ipv6_raw(s.octets(), d.octets(), t.payload())
                        .unwrap(),
                    _ => unreachable!(),
                };
                assert_eq!(h.checksum, want, "TCP checksum");
                t.payload()
            }
            _ => panic!("no transport"),
        };
        assert_eq!(&payload[0..2], &MAGIC.to_be_bytes());
        assert_eq!(&payload[2..4], &run.to_be_bytes());
        assert_eq!(&payload[4..8], &seq.to_be_bytes());
        assert_eq!(&payload[8..16], &ts.to_be_bytes());
        // and the receiver's parser agrees
        match crate::gen::rx::parse(pkt, true) {
            crate::gen::rx::Parsed::Sig(s) => {
                assert_eq!((s.run, s.seq, s.ts), (run, seq, ts));
            }
            other => panic!("rx parse: {other:?}"),
        }
    }

    #[test]
    fn every_template_checksums_right_at_every_size() {
        for sp in all_specs() {
            for size in [sp.min_size(), sp.min_size() + 1, 128, 512, 1518] {
                let f = sp.build(size).unwrap();
                // several packets into the same buffer: stale fields of the
                // previous packet must not leak into the checksums
                let mut buf = f.bytes.clone();
                for (flow, seq, ts, run) in [
                    (0u32, 0u32, 0u64, 1u16),
                    (1, 1, 123_456_789, 1),
                    (77, 0xffff_ffff, u64::MAX, 0xffff),
                    (65_535, 0x8000_0001, 1 << 40, 2),
                    (65_536, 42, 99, 3),
                ] {
                    f.stamp(&mut buf, flow, run, seq, ts);
                    check(&sp, &f, &buf, flow, run, seq, ts);
                    assert_eq!(buf, f.packet(flow, run, seq, ts));
                }
            }
        }
    }

    #[test]
    fn udp_checksum_never_zero() {
        // Search for a (flow, seq) whose sum would give 0 and check 0xffff
        // is sent instead; at least make sure none of many is 0.
        let sp = spec("10.0.0.1", "10.0.0.2", L4::Udp, Encap::None, Vary::SrcPort);
        let f = sp.build(64).unwrap();
        let mut buf = f.bytes.clone();
        for seq in 0..70_000u32 {
            f.stamp(&mut buf, seq, 1, seq, 0);
            let c = u16::from_be_bytes([buf[f.l4_csum_off], buf[f.l4_csum_off + 1]]);
            assert_ne!(c, 0);
        }
    }

    #[test]
    fn sizes_and_minimums() {
        let v4 = spec("10.0.0.1", "10.0.0.2", L4::Udp, Encap::None, Vary::SrcPort);
        assert_eq!(v4.min_size(), 14 + 20 + 8 + 16 + 4); // 62: the 64-byte frame fits
        assert!(v4.build(64).is_ok());
        let v6 = spec(
            "2001:db8::1",
            "2001:db8::2",
            L4::Udp,
            Encap::None,
            Vary::SrcPort,
        );
        let e = v6.build(64).unwrap_err();
        assert!(e.contains("at least 82"), "{e}");
        let mix = spec(
            "10.0.0.1",
            "2001:db8::2",
            L4::Udp,
            Encap::None,
            Vary::SrcPort,
        );
        assert!(mix
            .build(128)
            .unwrap_err()
            .contains("different address families"));
        assert!(v4.build(MAX_SIZE + 1).is_err());
        assert_eq!(v4.name(), "ipv4-udp");
        let t = spec("10.0.0.1", "10.0.0.2", L4::Tcp, ipip(), Vary::SrcPort);
        assert_eq!(t.name(), "ipip-ipv4-tcp");
    }

    #[test]
    fn parse_size_forms() {
        assert_eq!(parse_sizes("64").unwrap(), vec![64]);
        assert_eq!(parse_sizes(" 64, 512,1518 ").unwrap(), vec![64, 512, 1518]);
        let imix = parse_sizes("IMIX").unwrap();
        assert_eq!(imix.len(), 12);
        assert_eq!(imix.iter().filter(|&&s| s == 64).count(), 7);
        assert_eq!(imix.iter().filter(|&&s| s == 576).count(), 4);
        assert_eq!(imix.iter().filter(|&&s| s == 1518).count(), 1);
        assert!(parse_sizes("abc").unwrap_err().contains("not a frame size"));
        assert!(parse_sizes("64,,128").is_err());
        assert!(parse_sizes("10").unwrap_err().contains("out of range"));
        assert!(parse_sizes("9000").unwrap_err().contains("out of range"));
    }

    /// What a packet costs: incremental stamping (what the generator does)
    /// against recomputing both checksums over the whole packet.
    /// `cargo test --release -p xgw-engine stamp_cost -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn stamp_cost() {
        let sp = spec("10.0.0.1", "10.0.0.2", L4::Udp, Encap::None, Vary::SrcPort);
        for size in [64usize, 512, 1518] {
            let f = sp.build(size).unwrap();
            let mut buf = f.bytes.clone();
            let n = 2_000_000u32;
            let t = std::time::Instant::now();
            for i in 0..n {
                f.stamp(std::hint::black_box(&mut buf), i & 63, 1, i, u64::from(i));
            }
            let inc = t.elapsed().as_nanos() as f64 / f64::from(n);
            let t = std::time::Instant::now();
            for i in 0..n {
                let b = std::hint::black_box(&mut buf);
                f.stamp(b, i & 63, 1, i, u64::from(i));
                // full recomputation over the packet as a naive generator would
                b[24..26].fill(0);
                let c = checksum::finish(checksum::sum(&b[14..34]));
                b[24..26].copy_from_slice(&c.to_be_bytes());
                b[40..42].fill(0);
                let ps =
                    checksum::pseudo_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, (b.len() - 34) as u16);
                let c = checksum::finish(ps + checksum::sum(&b[34..]));
                b[40..42].copy_from_slice(&c.to_be_bytes());
            }
            let full = t.elapsed().as_nanos() as f64 / f64::from(n);
            println!("size {size}: incremental stamp {inc:.1} ns/packet, with full checksums {full:.1} ns/packet");
        }
    }
}
