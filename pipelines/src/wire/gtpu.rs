//! GTP-U (3GPP TS 29.281): the header, its extension-header chain, the PDU
//! Session Container (TS 38.415) and the path-management and tunnel-
//! management messages a user-plane endpoint sends.
//!
//! ```text
//!   octet 1   | Version=1 (3) | PT=1 | spare | E | S | PN |
//!   octet 2   | Message Type                               |
//!   octets 3-4| Length (octets after the first 8)          |
//!   octets 5-8| Tunnel Endpoint Identifier                 |
//!   -- present when any of E, S, PN is set: --
//!   octets 9-10 Sequence Number, 11 N-PDU Number, 12 Next Extension Header Type
//!   -- then, while the next type is not 0, extension headers: --
//!   | Length (4-octet units, this byte included) | contents ... | Next Type |
//! ```
//!
//! An extension-header type's two high bits say what a receiver that does
//! not know it must do (§5.2.1): `0x80` clear, skip it; set, the endpoint
//! must understand it — the packet is dropped and the sender told, with a
//! Supported Extension Headers Notification, what this endpoint supports.
//!
//! Parsing never trusts a length: the header's Length must cover the
//! optional fields and every extension header, each extension header is at
//! least 4 octets and the chain is walked at most [`MAX_EXT_HEADERS`]
//! deep.

use std::net::IpAddr;

/// The UDP port of GTP-U (TS 29.281 §4.4.2.3).
pub const PORT: u16 = 2152;

/// The mandatory part of the header.
pub const HEADER_LEN: usize = 8;
/// With the optional fields (sequence number, N-PDU number, next type).
pub const HEADER_OPT_LEN: usize = 12;

/// Extension headers walked at most (a chain longer than this is refused:
/// nothing real sends more than two or three).
pub const MAX_EXT_HEADERS: usize = 8;

/// Message types (TS 29.281 §6.1).
pub mod msg {
    pub const ECHO_REQUEST: u8 = 1;
    pub const ECHO_RESPONSE: u8 = 2;
    pub const ERROR_INDICATION: u8 = 26;
    pub const SUPPORTED_EXT_HEADERS_NOTIFICATION: u8 = 31;
    pub const END_MARKER: u8 = 254;
    pub const G_PDU: u8 = 255;
}

/// Extension header types (TS 29.281 §5.2.1, Figure 5.2.1-3).
pub mod ext {
    pub const NONE: u8 = 0x00;
    pub const UDP_PORT: u8 = 0x40;
    pub const PDU_SESSION_CONTAINER: u8 = 0x85;
    /// Bit 8: the receiving endpoint must understand it.
    pub const COMPREHENSION_REQUIRED: u8 = 0x80;
}

/// Information element types used here (TS 29.281 §8).
pub mod ie {
    /// TV, one octet: the restart counter (sent as zero, §8.2).
    pub const RECOVERY: u8 = 14;
    /// TV, four octets: a TEID.
    pub const TEID_DATA_I: u8 = 16;
    /// TLV (two-octet length): an IPv4 or IPv6 address.
    pub const GTPU_PEER_ADDRESS: u8 = 133;
    /// TLV (one-octet length): a list of extension header types.
    pub const EXT_HEADER_TYPE_LIST: u8 = 141;
}

/// The extension headers this endpoint understands: what a Supported
/// Extension Headers Notification lists.
pub const SUPPORTED_EXT: [u8; 2] = [ext::UDP_PORT, ext::PDU_SESSION_CONTAINER];

/// Flag bits of octet 1.
const FLAG_E: u8 = 0x04;
const FLAG_S: u8 = 0x02;
const FLAG_PN: u8 = 0x01;
/// Version 1, PT 1 (GTP, not GTP').
const VERSION_PT: u8 = 0x30;

/// Why a buffer is not a GTP-U message this endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GtpuError {
    /// Shorter than the header, or than its Length says.
    #[error("truncated GTP-U message")]
    Truncated,
    /// Not version 1.
    #[error("GTP version {0}, not 1")]
    BadVersion(u8),
    /// Protocol Type 0 (GTP').
    #[error("GTP' (PT = 0), not GTP-U")]
    NotGtpU,
    /// The Length field does not cover the optional fields or an
    /// extension header.
    #[error("GTP-U length does not cover its own fields")]
    BadLength,
    /// An extension header with length 0.
    #[error("GTP-U extension header of length 0")]
    BadExtLength,
    /// More than [`MAX_EXT_HEADERS`] extension headers.
    #[error("GTP-U extension header chain too long")]
    ExtChainTooLong,
    /// A PDU Session Container too short for its QFI.
    #[error("GTP-U PDU Session Container too short")]
    BadPsc,
}

/// The PDU Session Container's fields a user plane acts on (TS 38.415
/// §5.5.2): the PDU type (0 downlink, 1 uplink) and the QoS Flow
/// Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Psc {
    pub pdu_type: u8,
    pub qfi: u8,
}

/// A parsed GTP-U header with its extension-header chain walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub msg_type: u8,
    pub teid: u32,
    /// The sequence number, when the S flag is set.
    pub seq: Option<u16>,
    /// The N-PDU number, when the PN flag is set.
    pub npdu: Option<u8>,
    /// The PDU Session Container, if the chain has one.
    pub psc: Option<Psc>,
    /// The first extension header of the chain that must be understood
    /// and is not: the packet must be dropped and a Supported Extension
    /// Headers Notification sent.
    pub unknown_required: Option<u8>,
    /// Where the payload (the T-PDU of a G-PDU, the IEs of other
    /// messages) starts.
    pub payload: usize,
    /// Where the message ends (`8 + Length`; what follows is padding).
    pub end: usize,
}

impl Header {
    /// The payload of `b`, the buffer `parse` read.
    pub fn payload_of<'a>(&self, b: &'a [u8]) -> &'a [u8] {
        &b[self.payload..self.end]
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Parses the GTP-U message at the start of `b` (the UDP payload).
pub fn parse(b: &[u8]) -> Result<Header, GtpuError> {
    if b.len() < HEADER_LEN {
        return Err(GtpuError::Truncated);
    }
    let flags = b[0];
    if flags >> 5 != 1 {
        return Err(GtpuError::BadVersion(flags >> 5));
    }
    if flags & 0x10 == 0 {
        return Err(GtpuError::NotGtpU);
    }
    let end = HEADER_LEN + usize::from(be16(b, 2));
    if end > b.len() {
        return Err(GtpuError::Truncated);
    }
    let mut h = Header {
        msg_type: b[1],
        teid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        seq: None,
        npdu: None,
        psc: None,
        unknown_required: None,
        payload: HEADER_LEN,
        end,
    };
    if flags & (FLAG_E | FLAG_S | FLAG_PN) == 0 {
        return Ok(h);
    }
    if end < HEADER_OPT_LEN {
        return Err(GtpuError::BadLength);
    }
    // The fields are there whenever one flag is set; each is meaningful
    // only under its own flag (§5.1).
    if flags & FLAG_S != 0 {
        h.seq = Some(be16(b, 8));
    }
    if flags & FLAG_PN != 0 {
        h.npdu = Some(b[10]);
    }
    let mut off = HEADER_OPT_LEN;
    let mut next = if flags & FLAG_E != 0 {
        b[11]
    } else {
        ext::NONE
    };
    let mut walked = 0;
    while next != ext::NONE {
        if walked == MAX_EXT_HEADERS {
            return Err(GtpuError::ExtChainTooLong);
        }
        walked += 1;
        let Some(&units) = b.get(off).filter(|_| off < end) else {
            return Err(GtpuError::BadLength);
        };
        let len = usize::from(units) * 4;
        if len == 0 {
            return Err(GtpuError::BadExtLength);
        }
        if off + len > end {
            return Err(GtpuError::BadLength);
        }
        match next {
            ext::PDU_SESSION_CONTAINER => {
                // Octet 2: PDU type in the high nibble; octet 3: QFI in
                // the low six bits (both DL and UL information).
                if len < 4 {
                    return Err(GtpuError::BadPsc);
                }
                h.psc = Some(Psc {
                    pdu_type: b[off + 1] >> 4,
                    qfi: b[off + 2] & 0x3f,
                });
            }
            ext::UDP_PORT => {}
            t if t & ext::COMPREHENSION_REQUIRED != 0 => {
                h.unknown_required.get_or_insert(t);
            }
            _ => {}
        }
        next = b[off + len - 1];
        off += len;
    }
    h.payload = off;
    Ok(h)
}

/// `buf` is too short for what was to be written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer too short for the GTP-U message")]
pub struct TooShort;

/// The length of the G-PDU header [`write_gpdu_header`] writes: 8, or 16
/// with a PDU Session Container.
pub const fn gpdu_header_len(psc: bool) -> usize {
    if psc {
        HEADER_OPT_LEN + 4
    } else {
        HEADER_LEN
    }
}

/// Writes a G-PDU header for a T-PDU of `payload_len` octets to `teid`
/// at the start of `buf`, with a downlink PDU Session Container carrying
/// `qfi` if given (E flag set, sequence number 0 not meaningful: S clear).
/// Returns the header's length.
#[inline(always)]
pub fn write_gpdu_header(
    buf: &mut [u8],
    teid: u32,
    qfi: Option<u8>,
    payload_len: usize,
) -> Result<usize, TooShort> {
    let hl = gpdu_header_len(qfi.is_some());
    let len = u16::try_from(hl - HEADER_LEN + payload_len).map_err(|_| TooShort)?;
    if buf.len() < hl {
        return Err(TooShort);
    }
    // Fixed-size pieces: one bounds check each, no per-octet ones.
    let (h, rest) = buf.split_first_chunk_mut::<HEADER_LEN>().ok_or(TooShort)?;
    let [l0, l1] = len.to_be_bytes();
    let [t0, t1, t2, t3] = teid.to_be_bytes();
    let flags = VERSION_PT | if qfi.is_some() { FLAG_E } else { 0 };
    *h = [flags, msg::G_PDU, l0, l1, t0, t1, t2, t3];
    if let (Some(qfi), Some(x)) = (qfi, rest.first_chunk_mut::<8>()) {
        // Sequence and N-PDU numbers not meaningful (S, PN clear), then one
        // 4-octet unit: DL PDU SESSION INFORMATION (type 0), QFI, no
        // further extension header.
        *x = [
            0,
            0,
            0,
            ext::PDU_SESSION_CONTAINER,
            1,
            0,
            qfi & 0x3f,
            ext::NONE,
        ];
    }
    Ok(hl)
}

/// Writes a message with the S flag set (as §5.1 requires of Echo, Error
/// Indication and Supported Extension Headers Notification) and the IEs
/// `ies` writes after the 12-octet header; returns the message's length.
fn write_signalling(
    buf: &mut [u8],
    msg_type: u8,
    teid: u32,
    seq: u16,
    ies_len: usize,
    ies: impl FnOnce(&mut [u8]),
) -> Result<usize, TooShort> {
    let total = HEADER_OPT_LEN + ies_len;
    let m = buf.get_mut(..total).ok_or(TooShort)?;
    m[0] = VERSION_PT | FLAG_S;
    m[1] = msg_type;
    m[2..4].copy_from_slice(&((total - HEADER_LEN) as u16).to_be_bytes());
    m[4..8].copy_from_slice(&teid.to_be_bytes());
    m[8..10].copy_from_slice(&seq.to_be_bytes());
    m[10] = 0;
    m[11] = ext::NONE;
    ies(&mut m[HEADER_OPT_LEN..]);
    Ok(total)
}

/// The length of what [`write_echo_response`] writes.
pub const ECHO_RESPONSE_LEN: usize = HEADER_OPT_LEN + 2;

/// An Echo Response to a request with sequence number `seq` (§7.2.2):
/// TEID 0 and the Recovery IE with restart counter 0.
pub fn write_echo_response(buf: &mut [u8], seq: u16) -> Result<usize, TooShort> {
    write_signalling(buf, msg::ECHO_RESPONSE, 0, seq, 2, |ies| {
        ies[0] = ie::RECOVERY;
        ies[1] = 0;
    })
}

/// An Echo Request with sequence number `seq` (§7.2.1).
pub fn write_echo_request(buf: &mut [u8], seq: u16) -> Result<usize, TooShort> {
    write_signalling(buf, msg::ECHO_REQUEST, 0, seq, 0, |_| {})
}

/// An Error Indication (§7.3.1) for a G-PDU to `teid` that this endpoint
/// (`local`, the address it was sent to) has no tunnel for: TEID 0, the
/// TEID Data I and GTP-U Peer Address IEs.
pub fn write_error_indication(
    buf: &mut [u8],
    seq: u16,
    teid: u32,
    local: IpAddr,
) -> Result<usize, TooShort> {
    let addr_len = match local {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    };
    write_signalling(
        buf,
        msg::ERROR_INDICATION,
        0,
        seq,
        5 + 3 + addr_len,
        |ies| {
            ies[0] = ie::TEID_DATA_I;
            ies[1..5].copy_from_slice(&teid.to_be_bytes());
            ies[5] = ie::GTPU_PEER_ADDRESS;
            ies[6..8].copy_from_slice(&(addr_len as u16).to_be_bytes());
            match local {
                IpAddr::V4(a) => ies[8..12].copy_from_slice(&a.octets()),
                IpAddr::V6(a) => ies[8..24].copy_from_slice(&a.octets()),
            }
        },
    )
}

/// A Supported Extension Headers Notification (§7.3.2): TEID 0 and the
/// Extension Header Type List IE with [`SUPPORTED_EXT`].
pub fn write_supported_ext_notification(buf: &mut [u8], seq: u16) -> Result<usize, TooShort> {
    let n = SUPPORTED_EXT.len();
    write_signalling(
        buf,
        msg::SUPPORTED_EXT_HEADERS_NOTIFICATION,
        0,
        seq,
        2 + n,
        |ies| {
            ies[0] = ie::EXT_HEADER_TYPE_LIST;
            ies[1] = n as u8;
            ies[2..2 + n].copy_from_slice(&SUPPORTED_EXT);
        },
    )
}

/// An End Marker (§7.3.2) to the peer's `teid`: no IEs, no optional
/// fields.
pub fn write_end_marker(buf: &mut [u8], teid: u32) -> Result<usize, TooShort> {
    let m = buf.get_mut(..HEADER_LEN).ok_or(TooShort)?;
    m[0] = VERSION_PT;
    m[1] = msg::END_MARKER;
    m[2..4].fill(0);
    m[4..8].copy_from_slice(&teid.to_be_bytes());
    Ok(HEADER_LEN)
}

/// The IEs of an Error Indication: the TEID Data I and the GTP-U Peer
/// Address, if both are there and well formed (§7.3.1; other IEs, such as
/// a Private Extension, are skipped).
pub fn parse_error_indication(ies: &[u8]) -> Option<(u32, IpAddr)> {
    let (mut teid, mut peer) = (None, None);
    let mut off = 0;
    while off < ies.len() {
        let t = ies[off];
        if t < 128 {
            // TV: only the types this endpoint reads have a known length.
            match t {
                ie::TEID_DATA_I => {
                    let v = ies.get(off + 1..off + 5)?;
                    teid = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                    off += 5;
                }
                ie::RECOVERY => off += 2,
                _ => return None,
            }
        } else {
            let l = usize::from(u16::from_be_bytes([*ies.get(off + 1)?, *ies.get(off + 2)?]));
            let v = ies.get(off + 3..off + 3 + l)?;
            if t == ie::GTPU_PEER_ADDRESS {
                peer = match l {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
                    _ => return None,
                };
            }
            off += 3 + l;
        }
    }
    Some((teid?, peer?))
}

#[cfg(test)]
mod tests;
