//! RFC 7915 header translation, the parts that do not need the router:
//! the IPv6 extension-header walk, header writers, ICMP type and code
//! maps, Parameter Problem pointers, and the translation of an ICMP
//! error's body (the quoted packet, RFC 4884 extensions).

use crate::wire::checksum;
use crate::DropReason;

/// An IPv6 Fragment Header's fields (offset in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frag {
    pub off: u16,
    pub more: bool,
    pub id: u32,
}

/// What the walk over an IPv6 packet's headers found (offsets from the
/// start of the IPv6 header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V6 {
    /// Where the upper-layer header starts.
    pub l4: usize,
    /// The upper-layer protocol.
    pub proto: u8,
    pub frag: Option<Frag>,
    /// 40 + Payload Length.
    pub end: usize,
}

/// Why an IPv6 packet cannot be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V6Err {
    Malformed,
    /// An extension header after the Fragment Header (RFC 7915 §5.1 cannot
    /// carry it over; answered with ICMPv6 1/1).
    ExtAfterFrag,
    /// A Routing header with Segments Left > 0 (RFC 7915 §5.1): answered
    /// with a Parameter Problem pointing at this offset.
    SegmentsLeft(u32),
}

/// The most extension headers walked.
const MAX_EXT: usize = 8;

/// Walks the IPv6 headers of `ip` (a quoted packet may be cut short:
/// `quoted`).
pub fn parse6(ip: &[u8], quoted: bool) -> Result<V6, V6Err> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return Err(V6Err::Malformed);
    }
    let end = 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if !quoted && end > ip.len() {
        return Err(V6Err::Malformed);
    }
    // Most packets carry no extension header: the upper layer at 40.
    if !matches!(ip[6], 0 | 43 | 44 | 60) {
        return Ok(V6 {
            l4: 40,
            proto: ip[6],
            frag: None,
            end,
        });
    }
    let avail = ip.len().min(end);
    let (mut nh, mut off, mut frag) = (ip[6], 40usize, None);
    for _ in 0..=MAX_EXT {
        match nh {
            0 | 43 | 60 | 44 if frag.is_some() => return Err(V6Err::ExtAfterFrag),
            0 | 43 | 60 => {
                if off + 8 > avail {
                    return Err(V6Err::Malformed);
                }
                if nh == 43 && ip[off + 3] != 0 {
                    return Err(V6Err::SegmentsLeft(off as u32 + 3));
                }
                nh = ip[off];
                off += (usize::from(ip[off + 1]) + 1) * 8;
            }
            44 => {
                if off + 8 > avail {
                    return Err(V6Err::Malformed);
                }
                let fo = u16::from_be_bytes([ip[off + 2], ip[off + 3]]);
                // RFC 8200 §4.5: a fragment that would make the
                // reassembled Payload Length exceed 65,535 octets is
                // discarded.
                if !quoted
                    && (off - 40) + usize::from(fo & 0xfff8) + end.saturating_sub(off + 8) > 65535
                {
                    return Err(V6Err::Malformed);
                }
                frag = Some(Frag {
                    off: fo & 0xfff8,
                    more: fo & 1 != 0,
                    id: u32::from_be_bytes([ip[off + 4], ip[off + 5], ip[off + 6], ip[off + 7]]),
                });
                nh = ip[off];
                off += 8;
            }
            _ => {
                return if off > avail {
                    Err(V6Err::Malformed)
                } else {
                    Ok(V6 {
                        l4: off,
                        proto: nh,
                        frag,
                        end,
                    })
                };
            }
        }
    }
    Err(V6Err::Malformed)
}

/// The fields of an IPv4 header we translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4 {
    pub ihl: usize,
    pub total: usize,
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    /// Fragment offset in bytes.
    pub off: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl V4 {
    pub fn is_fragment(&self) -> bool {
        self.mf || self.off != 0
    }
}

/// Reads an IPv4 header (a quoted one may be cut short after it).
pub fn parse4(ip: &[u8], quoted: bool) -> Option<V4> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || ip.len() < ihl || total < ihl || (!quoted && total > ip.len()) {
        return None;
    }
    let ff = u16::from_be_bytes([ip[6], ip[7]]);
    // A fragment whose offset and length put its end past 65,535 octets
    // belongs to no datagram that can exist (RFC 791's Total Length):
    // nothing to translate, and its IPv6 pieces' offsets would wrap.
    if !quoted && usize::from(ff & 0x1fff) * 8 + total - ihl > 65535 {
        return None;
    }
    Some(V4 {
        ihl,
        total,
        tos: ip[1],
        id: u16::from_be_bytes([ip[4], ip[5]]),
        df: ff & 0x4000 != 0,
        mf: ff & 0x2000 != 0,
        off: (ff & 0x1fff) << 3,
        ttl: ip[8],
        proto: ip[9],
        src: [ip[12], ip[13], ip[14], ip[15]],
        dst: [ip[16], ip[17], ip[18], ip[19]],
    })
}

/// Writes a 20-byte IPv4 header (with its checksum) into `h` (nothing if
/// `h` is shorter).
#[allow(clippy::too_many_arguments)]
pub fn write4(
    h: &mut [u8],
    tos: u8,
    total: u16,
    id: u16,
    df: bool,
    mf: bool,
    off: u16,
    ttl: u8,
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
) {
    // One length check, then a fixed-size header.
    let Some(h) = h.first_chunk_mut::<20>() else {
        return;
    };
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    let ff = (u16::from(df) << 14) | (u16::from(mf) << 13) | (off >> 3);
    h[6..8].copy_from_slice(&ff.to_be_bytes());
    h[8] = ttl;
    h[9] = proto;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let c = checksum::finish(checksum::sum_n(h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Writes a 40-byte IPv6 header into `h` (nothing if `h` is shorter).
#[allow(clippy::too_many_arguments)]
pub fn write6(h: &mut [u8], tc: u8, plen: u16, nh: u8, hop: u8, src: &[u8; 16], dst: &[u8; 16]) {
    let Some(h) = h.first_chunk_mut::<40>() else {
        return;
    };
    h[0] = 0x60 | (tc >> 4);
    h[1] = tc << 4;
    h[2] = 0;
    h[3] = 0;
    h[4..6].copy_from_slice(&plen.to_be_bytes());
    h[6] = nh;
    h[7] = hop;
    h[8..24].copy_from_slice(src);
    h[24..40].copy_from_slice(dst);
}

/// Writes an 8-byte Fragment Header.
pub fn write_frag(h: &mut [u8], nh: u8, f: Frag) {
    h[0] = nh;
    h[1] = 0;
    h[2..4].copy_from_slice(&((f.off & 0xfff8) | u16::from(f.more)).to_be_bytes());
    h[4..8].copy_from_slice(&f.id.to_be_bytes());
}

/// The IPv4 protocol for an IPv6 next header, and back (ICMP).
pub fn proto64(p: u8) -> u8 {
    if p == 58 {
        1
    } else {
        p
    }
}

pub fn proto46(p: u8) -> u8 {
    if p == 1 {
        58
    } else {
        p
    }
}

/// ICMP informational types (echo): ICMPv6 → ICMPv4.
pub fn info64(t: u8) -> Option<u8> {
    match t {
        128 => Some(8),
        129 => Some(0),
        _ => None,
    }
}

pub fn info46(t: u8) -> Option<u8> {
    match t {
        8 => Some(128),
        0 => Some(129),
        _ => None,
    }
}

/// What becomes of an error's rest-of-header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rest {
    /// Unused (zero, but for the RFC 4884 length).
    Zero,
    /// Packet Too Big / Fragmentation Needed: the MTU, adjusted.
    Mtu,
    /// Parameter Problem: the pointer, mapped.
    Pointer(u8),
}

/// ICMPv6 error → ICMPv4 error (RFC 7915 §5.2); `None`: silently dropped.
pub fn error64(t: u8, c: u8, ptr: u32) -> Option<(u8, u8, Rest)> {
    Some(match (t, c) {
        (1, 0 | 2 | 3) => (3, 1, Rest::Zero),
        (1, 1) => (3, 10, Rest::Zero),
        (1, 4) => (3, 3, Rest::Zero),
        (2, _) => (3, 4, Rest::Mtu),
        (3, 0 | 1) => (11, c, Rest::Zero),
        (4, 0) => {
            let p = match ptr {
                0 | 1 => ptr as u8,
                4 | 5 => 2,
                6 => 9,
                7 => 8,
                8..=23 => 12,
                24..=39 => 16,
                _ => return None,
            };
            (12, 0, Rest::Pointer(p))
        }
        (4, 1) => (3, 2, Rest::Zero),
        _ => return None,
    })
}

/// ICMPv4 error → ICMPv6 error (RFC 7915 §4.2); `None`: silently dropped.
pub fn error46(t: u8, c: u8, ptr: u8) -> Option<(u8, u8, Rest)> {
    Some(match (t, c) {
        (3, 0 | 1 | 5 | 6 | 7 | 8 | 11 | 12) => (1, 0, Rest::Zero),
        (3, 2) => (4, 1, Rest::Pointer(6)),
        (3, 3) => (1, 4, Rest::Zero),
        (3, 4) => (2, 0, Rest::Mtu),
        (3, 9 | 10 | 13 | 15) => (1, 1, Rest::Zero),
        (11, 0 | 1) => (3, c, Rest::Zero),
        (12, 0 | 2) => {
            let p = match ptr {
                0 | 1 => ptr,
                2 | 3 => 4,
                8 => 7,
                9 => 6,
                12..=15 => 8,
                16..=19 => 24,
                _ => return None,
            };
            (4, 0, Rest::Pointer(p))
        }
        _ => return None,
    })
}

/// Does an ICMPv4 / ICMPv6 error of this type carry an RFC 4884 length?
fn has_len4(t: u8) -> bool {
    matches!(t, 3 | 11 | 12)
}

fn has_len6(t: u8) -> bool {
    matches!(t, 1 | 3)
}

/// RFC 1191 §7 plateaus, for a Fragmentation Needed without an MTU.
pub fn plateau(total: u16) -> u16 {
    const P: [u16; 10] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296];
    P.iter().copied().find(|&m| m < total).unwrap_or(68)
}

/// Splits an error's body (after the 8-byte ICMP header) into the
/// original datagram and the RFC 4884 extension (`len` the length field
/// in bytes, 0 for none). A length beyond the body: no extension.
fn split_4884(body: &[u8], len: usize) -> (&[u8], &[u8]) {
    if len == 0 || len > body.len() {
        (body, &[])
    } else {
        body.split_at(len)
    }
}

/// Lays out the translated quote (`q` bytes already in `out[8..]`) and the
/// extension `ext` within `limit` bytes of ICMP message in units of
/// `unit` (RFC 4884 §4: the original datagram is padded to at least 128
/// bytes and to a whole number of units; if the whole does not fit the
/// quote is trimmed, not below 128, else the extension is dropped).
/// Returns (message length, length field in units, 0 for none).
fn lay_out(out: &mut [u8], q: usize, ext: &[u8], limit: usize, unit: usize) -> (usize, u8) {
    if ext.is_empty() {
        return ((8 + q).min(limit), 0);
    }
    let mut body = if q < 128 { 128 } else { q / unit * unit };
    if 8 + body + ext.len() > limit {
        if 8 + 128 + ext.len() <= limit {
            body = (limit - 8 - ext.len()) / unit * unit;
        } else {
            return ((8 + q).min(limit), 0);
        }
    }
    if body > q {
        out[8 + q..8 + body].fill(0);
    }
    out[8 + body..8 + body + ext.len()].copy_from_slice(ext);
    (8 + body + ext.len(), (body / unit) as u8)
}

/// How the packet quoted in an ICMP error is mapped: its addresses and
/// ports (for ICMP, the identifier is passed as both ports and read back
/// from the side that owns it). SIIT maps addresses only; stateful NAT64
/// looks the binding up.
pub trait Maps {
    /// A quoted IPv6 packet (sent by the IPv4 side's image toward the IPv6
    /// side: the binding is its destination's) → IPv4 (src, sport, dst,
    /// dport).
    fn quoted64(
        &self,
        proto4: u8,
        src: [u8; 16],
        sport: u16,
        dst: [u8; 16],
        dport: u16,
    ) -> Option<([u8; 4], u16, [u8; 4], u16)>;
    /// A quoted IPv4 packet (sent by the translator toward the IPv4 side:
    /// the binding is its source's) → IPv6; `hairpin`: the packet came
    /// round the translator once already.
    #[allow(clippy::too_many_arguments)]
    fn quoted46(
        &self,
        proto4: u8,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        hairpin: bool,
    ) -> Option<([u8; 16], u16, [u8; 16], u16)>;
}

/// The ports of an upper-layer header (an ICMP query's identifier as
/// both), if `l4` reaches them; `proto4` in IPv4 numbering.
pub fn ports(l4: &[u8], proto4: u8) -> Option<(u16, u16)> {
    match proto4 {
        6 | 17 if l4.len() >= 4 => Some((
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        )),
        1 if l4.len() >= 6 => {
            let id = u16::from_be_bytes([l4[4], l4[5]]);
            Some((id, id))
        }
        6 | 17 | 1 => None,
        _ => Some((0, 0)),
    }
}

/// Rewrites the ports of a TCP/UDP header (or an ICMP query's identifier,
/// `sport` used) with the checksum updated incrementally; what the header
/// does not reach is left alone.
pub fn set_ports(l4: &mut [u8], proto4: u8, sport: u16, dport: u16) {
    // Straight-line per protocol (a loop over a table of fields cost
    // ~90 instructions a packet); each field that changes updates the
    // checksum on its own (RFC 1624), so the result is the same octets
    // as field-by-field updates, -0/+0 representation included.
    #[inline(always)]
    fn field(l4: &mut [u8], o: usize, v: u16, c: &mut u16) {
        if let Some(f) = l4.get_mut(o..o + 2) {
            let old = u16::from_be_bytes([f[0], f[1]]);
            if old != v {
                *c = checksum::update16(*c, old, v);
                f.copy_from_slice(&v.to_be_bytes());
            }
        }
    }
    let at = match proto4 {
        6 => 16,
        17 => 6,
        1 => 2,
        _ => return,
    };
    let Some(cs) = l4.get(at..at + 2) else {
        return;
    };
    let mut c = u16::from_be_bytes([cs[0], cs[1]]);
    let udp0 = proto4 == 17 && c == 0;
    if proto4 == 1 {
        field(l4, 4, sport, &mut c);
    } else {
        field(l4, 0, sport, &mut c);
        field(l4, 2, dport, &mut c);
    }
    if !udp0 {
        if proto4 == 17 && c == 0 {
            c = 0xffff;
        }
        if let Some(f) = l4.get_mut(at..at + 2) {
            f.copy_from_slice(&c.to_be_bytes());
        }
    }
}

/// Translates the upper-layer checksum of a TCP or UDP header at the start
/// of `l4` (if it reaches the checksum) for the address change whose old
/// and new addresses sum to `old` and `new` ([`checksum::sum_pair`]; the
/// pseudo-header's other fields keep their values).
#[inline(always)]
fn fix_l4(l4: &mut [u8], proto: u8, old: u32, new: u32) {
    let at = match proto {
        6 => 16,
        17 => 6,
        _ => return,
    };
    let Some(f) = l4.get_mut(at..at + 2) else {
        return;
    };
    let c = u16::from_be_bytes([f[0], f[1]]);
    if proto == 17 && c == 0 {
        return;
    }
    let n = match checksum::update_sums(c, old, new) {
        0 if proto == 17 => 0xffff,
        n => n,
    };
    f.copy_from_slice(&n.to_be_bytes());
}

/// An ICMP echo's checksum moving between ICMPv4 (no pseudo-header) and
/// ICMPv6 (`pseudo`: the IPv6 pseudo-header sum, added when `to6`).
fn fix_echo(l4: &mut [u8], new_type: u8, pseudo: u32, to6: bool) {
    if l4.len() < 4 {
        return;
    }
    let old = u16::from_be_bytes([l4[0], l4[1]]);
    l4[0] = new_type;
    let new = u16::from_be_bytes([l4[0], l4[1]]);
    let c = u16::from_be_bytes([l4[2], l4[3]]);
    let p = checksum::fold(pseudo);
    let mut c = checksum::update16(c, old, new);
    c = if to6 {
        checksum::update16(c, 0, p)
    } else {
        checksum::update16(c, p, 0)
    };
    l4[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Translates the body of an ICMPv6 error `icmp` (the whole message,
/// header first, already checked) into an ICMPv4 message in `out` of at
/// most `limit` bytes, with type `t`, code `c`, rest `rest`: the quoted
/// IPv6 packet's headers become IPv4 ones (addresses mapped by `maps`,
/// upper-layer checksum updated), the RFC 4884 extension kept if it fits.
/// Returns the message length (checksum not filled in).
pub fn body64(
    icmp: &[u8],
    out: &mut [u8],
    limit: usize,
    (t, c, rest): (u8, u8, u32),
    maps: &dyn Maps,
) -> Result<usize, DropReason> {
    let len = if has_len6(icmp[0]) {
        usize::from(icmp[4]) * 8
    } else {
        0
    };
    let (orig, ext) = split_4884(&icmp[8..], len);
    let h = parse6(orig, true).map_err(|_| DropReason::Nat64InnerUntranslatable)?;
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&orig[8..24]);
    dst.copy_from_slice(&orig[24..40]);
    let proto = proto64(h.proto);
    let first = h.frag.map_or(true, |f| f.off == 0);
    let (sp, dp) = if first {
        ports(&orig[h.l4.min(orig.len())..], proto).unwrap_or((0, 0))
    } else {
        (0, 0)
    };
    let Some((s4, sp4, d4, dp4)) = maps.quoted64(proto, src, sp, dst, dp) else {
        return Err(DropReason::Nat64InnerUntranslatable);
    };
    let actual = h.end.min(orig.len());
    let rest_len = actual.saturating_sub(h.l4);
    let q = 20 + rest_len;
    let copy = rest_len.min(limit.saturating_sub(28));
    // The IPv4 Total Length the quoted packet would have (RFC 7915 §5.1:
    // payload length less the extension headers, plus 20): a quoted
    // IPv6 header claiming more than 65,515 octets of upper layer has no
    // IPv4 form (it wrapped before: a false length in the quote).
    let declared =
        u16::try_from(h.end - h.l4 + 20).map_err(|_| DropReason::Nat64InnerUntranslatable)?;
    let (id, df, mf, off) = match h.frag {
        Some(f) => (f.id as u16, false, f.more, f.off),
        None => (0, usize::from(declared) > 1260, false, 0),
    };
    let tc = (orig[0] << 4) | (orig[1] >> 4);
    write4(
        &mut out[8..28],
        tc,
        declared,
        id,
        df,
        mf,
        off,
        orig[7],
        proto,
        s4,
        d4,
    );
    out[28..28 + copy].copy_from_slice(&orig[h.l4..h.l4 + copy]);
    if off == 0 {
        let l4 = &mut out[28..28 + copy];
        if h.proto == 58 {
            let Some(nt) = info64(l4.first().copied().unwrap_or(0)) else {
                return Err(DropReason::Nat64InnerUntranslatable);
            };
            let ps = checksum::pseudo_v6(&src, &dst, 58, (h.end - h.l4) as u32);
            fix_echo(l4, nt, ps, false);
        } else {
            fix_l4(
                l4,
                h.proto,
                checksum::sum_pair(&src, &dst),
                checksum::sum_pair(&s4, &d4),
            );
        }
        // (An ICMP query's identifier belongs to the destination side.)
        if proto == 1 {
            set_ports(l4, 1, dp4, dp4);
        } else {
            set_ports(l4, proto, sp4, dp4);
        }
    }
    let (n, units) = lay_out(out, q.min(20 + copy), ext, limit, 4);
    out[0] = t;
    out[1] = c;
    out[2..4].fill(0);
    out[4..8].copy_from_slice(&rest.to_be_bytes());
    if has_len4(t) && units != 0 {
        out[5] = units;
    }
    Ok(n)
}

/// Translates the body of an ICMPv4 error (as [`body64`], the other way;
/// units of 8 bytes, a Fragment Header for a quoted fragment).
pub fn body46(
    icmp: &[u8],
    out: &mut [u8],
    limit: usize,
    (t, c, rest): (u8, u8, u32),
    maps: &dyn Maps,
    hairpin: bool,
) -> Result<usize, DropReason> {
    let len = if has_len4(icmp[0]) {
        usize::from(icmp[5]) * 4
    } else {
        0
    };
    let (orig, ext) = split_4884(&icmp[8..], len);
    let h = parse4(orig, true).ok_or(DropReason::Nat64InnerUntranslatable)?;
    let (sp, dp) = if h.off == 0 {
        ports(&orig[h.ihl..], h.proto).unwrap_or((0, 0))
    } else {
        (0, 0)
    };
    let Some((s6, sp6, d6, dp6)) = maps.quoted46(h.proto, h.src, sp, h.dst, dp, hairpin) else {
        return Err(DropReason::Nat64InnerUntranslatable);
    };
    let actual = h.total.min(orig.len());
    let rest_len = actual.saturating_sub(h.ihl);
    let fh = if h.is_fragment() { 8 } else { 0 };
    let hl = 40 + fh;
    let q = hl + rest_len;
    let copy = rest_len.min(limit.saturating_sub(8 + hl));
    let proto = proto46(h.proto);
    let plen = (h.total - h.ihl + fh) as u16;
    write6(
        &mut out[8..48],
        h.tos,
        plen,
        if fh != 0 { 44 } else { proto },
        h.ttl,
        &s6,
        &d6,
    );
    if fh != 0 {
        write_frag(
            &mut out[48..56],
            proto,
            Frag {
                off: h.off,
                more: h.mf,
                id: u32::from(h.id),
            },
        );
    }
    let at = 8 + hl;
    out[at..at + copy].copy_from_slice(&orig[h.ihl..h.ihl + copy]);
    if h.off == 0 {
        let l4 = &mut out[at..at + copy];
        if h.proto == 1 {
            let Some(nt) = info46(l4.first().copied().unwrap_or(0)) else {
                return Err(DropReason::Nat64InnerUntranslatable);
            };
            let ps = checksum::pseudo_v6(&s6, &d6, 58, (h.total - h.ihl) as u32);
            fix_echo(l4, nt, ps, true);
        } else {
            fix_l4(
                l4,
                h.proto,
                checksum::sum_pair(&h.src, &h.dst),
                checksum::sum_pair(&s6, &d6),
            );
        }
        // (An ICMP query's identifier belongs to the source side.)
        set_ports(l4, h.proto, sp6, dp6);
    }
    let (n, units) = lay_out(out, q.min(hl + copy), ext, limit, 8);
    out[0] = t;
    out[1] = c;
    out[2..4].fill(0);
    out[4..8].copy_from_slice(&rest.to_be_bytes());
    if has_len6(t) && units != 0 {
        out[4] = units;
    }
    Ok(n)
}

/// The transport checksum of a translated packet's first fragment (or
/// whole packet) for the address change (TCP, UDP), or the ICMP echo's
/// type and pseudo-header. `Err`: not translatable (ICMP other than
/// echo).
pub fn fix_transport_64(
    l4: &mut [u8],
    proto6: u8,
    src: &[u8; 16],
    dst: &[u8; 16],
    s4: [u8; 4],
    d4: [u8; 4],
    ulen: usize,
) -> Result<(), DropReason> {
    if proto6 == 58 {
        let nt = l4
            .first()
            .and_then(|&t| info64(t))
            .ok_or(DropReason::Nat64IcmpUntranslatable)?;
        fix_echo(
            l4,
            nt,
            checksum::pseudo_v6(src, dst, 58, ulen as u32),
            false,
        );
    } else {
        fix_l4(
            l4,
            proto6,
            checksum::sum_pair(src, dst),
            checksum::sum_pair(&s4, &d4),
        );
    }
    Ok(())
}

/// As [`fix_transport_64`], IPv4 to IPv6.
pub fn fix_transport_46(
    l4: &mut [u8],
    proto4: u8,
    s4: [u8; 4],
    d4: [u8; 4],
    src: &[u8; 16],
    dst: &[u8; 16],
    ulen: usize,
) -> Result<(), DropReason> {
    if proto4 == 1 {
        let nt = l4
            .first()
            .and_then(|&t| info46(t))
            .ok_or(DropReason::Nat64IcmpUntranslatable)?;
        fix_echo(l4, nt, checksum::pseudo_v6(src, dst, 58, ulen as u32), true);
    } else {
        fix_l4(
            l4,
            proto4,
            checksum::sum_pair(&s4, &d4),
            checksum::sum_pair(src, dst),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_and_types_map_per_rfc7915() {
        assert_eq!(error64(2, 0, 0), Some((3, 4, Rest::Mtu)));
        assert_eq!(error64(4, 0, 7), Some((12, 0, Rest::Pointer(8))));
        assert_eq!(error64(4, 0, 2), None);
        assert_eq!(error64(4, 1, 0), Some((3, 2, Rest::Zero)));
        assert_eq!(error46(3, 2, 0), Some((4, 1, Rest::Pointer(6))));
        assert_eq!(error46(12, 0, 9), Some((4, 0, Rest::Pointer(6))));
        assert_eq!(error46(5, 0, 0), None);
        assert_eq!(plateau(1500), 1492);
    }

    struct Same;
    impl Maps for Same {
        fn quoted64(
            &self,
            _: u8,
            _: [u8; 16],
            sp: u16,
            _: [u8; 16],
            dp: u16,
        ) -> Option<([u8; 4], u16, [u8; 4], u16)> {
            Some(([192, 0, 2, 1], sp, [198, 51, 100, 1], dp))
        }
        fn quoted46(
            &self,
            _: u8,
            _: [u8; 4],
            _: u16,
            _: [u8; 4],
            _: u16,
            _: bool,
        ) -> Option<([u8; 16], u16, [u8; 16], u16)> {
            None
        }
    }

    /// An ICMPv6 Destination Unreachable quoting an IPv6/UDP header whose
    /// payload length is `plen`.
    fn error_quoting(plen: u16) -> Vec<u8> {
        let mut m = vec![0u8; 8 + 40 + 8];
        m[0] = 1;
        m[8] = 0x60;
        m[12..14].copy_from_slice(&plen.to_be_bytes());
        m[14] = 17;
        m[15] = 64;
        m[48..50].copy_from_slice(&1000u16.to_be_bytes());
        m[50..52].copy_from_slice(&2000u16.to_be_bytes());
        m
    }

    #[test]
    fn fragments_ending_past_65535_octets_are_refused() {
        // IPv4: offset 65520 (8190 units) and 16 octets of data end at
        // 65536; 15 end at 65535.
        let v4 = |data: usize| {
            let mut ip = vec![0u8; 20 + data];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + data) as u16).to_be_bytes());
            ip[6..8].copy_from_slice(&8190u16.to_be_bytes());
            ip[9] = 17;
            ip
        };
        assert_eq!(parse4(&v4(15), false).map(|v| v.off), Some(65520));
        assert_eq!(parse4(&v4(16), false), None);
        // A quoted header is only read, never translated as a datagram.
        assert!(parse4(&v4(16), true).is_some());
        // IPv6: a Fragment Header with offset 65520 and 15 / 16 octets.
        let v6 = |data: usize| {
            let mut ip = vec![0u8; 48 + data];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&((8 + data) as u16).to_be_bytes());
            ip[6] = 44;
            ip[40] = 17;
            ip[42..44].copy_from_slice(&65520u16.to_be_bytes());
            ip
        };
        assert_eq!(
            parse6(&v6(15), false).map(|v| v.frag.map(|f| f.off)),
            Ok(Some(65520))
        );
        assert_eq!(parse6(&v6(16), false), Err(V6Err::Malformed));
    }

    #[test]
    fn a_quoted_length_with_no_ipv4_form_is_untranslatable() {
        let mut out = [0u8; 600];
        // The largest that fits: 65515 + 20.
        let n = body64(&error_quoting(65515), &mut out, 576, (3, 1, 0), &Same).unwrap();
        assert!(n >= 8 + 28);
        assert_eq!(u16::from_be_bytes([out[10], out[11]]), 65535);
        for plen in [65516, 65535] {
            assert_eq!(
                body64(&error_quoting(plen), &mut out, 576, (3, 1, 0), &Same),
                Err(DropReason::Nat64InnerUntranslatable),
                "{plen}"
            );
        }
    }

    #[test]
    fn the_walk_finds_the_upper_layer_and_refuses_what_rfc7915_refuses() {
        let mut p = vec![0u8; 40 + 8 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&24u16.to_be_bytes());
        p[6] = 0; // hop-by-hop
        p[40] = 44; // then a fragment header
        p[48] = 17;
        p[50..52].copy_from_slice(&(160u16 | 1).to_be_bytes());
        p[52..56].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        let h = parse6(&p, false).unwrap();
        assert_eq!((h.l4, h.proto), (56, 17));
        assert_eq!(
            h.frag,
            Some(Frag {
                off: 160,
                more: true,
                id: 0x0102_0304
            })
        );
        p[48] = 60;
        assert_eq!(parse6(&p, false), Err(V6Err::ExtAfterFrag));
        p[6] = 43; // a routing header first, with segments left
        p[43] = 1;
        assert_eq!(parse6(&p, false), Err(V6Err::SegmentsLeft(43)));
        assert_eq!(parse6(&p[..50], false), Err(V6Err::Malformed));
    }
}
