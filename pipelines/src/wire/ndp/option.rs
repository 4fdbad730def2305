//! NDP options ([RFC 4861 § 4.6]) including RDNSS ([RFC 8106 § 5.1]) and
//! PREF64 ([RFC 8781 § 4]): a validating iterator and emitters.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |              ...              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                              ...                              ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//!   Length: The length of the option (including the type and length
//!   fields) in units of 8 octets.
//! ```

use std::net::Ipv6Addr;

use super::{addr, be16, be32, mac, NdpError};
use crate::wire::ethernet::MacAddr;

/// Option types.
pub mod opt {
    pub const SOURCE_LL_ADDR: u8 = 1;
    pub const TARGET_LL_ADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const REDIRECTED_HEADER: u8 = 4;
    pub const MTU: u8 = 5;
    /// Recursive DNS Server ([RFC 8106 § 5.1]).
    pub const RDNSS: u8 = 25;
    pub const DNSSL: u8 = 31;
    /// NAT64 prefix ([RFC 8781 § 4]).
    pub const PREF64: u8 = 38;
}

/// Prefix Information option ([RFC 4861 § 4.6.2]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix_len: u8,
    /// L: the prefix is on-link.
    pub on_link: bool,
    /// A: usable for stateless address autoconfiguration (RFC 4862).
    pub autonomous: bool,
    /// Seconds; 0xffffffff = infinity.
    pub valid_lifetime: u32,
    /// Seconds; 0xffffffff = infinity.
    pub preferred_lifetime: u32,
    pub prefix: Ipv6Addr,
}

/// Recursive DNS Server option ([RFC 8106 § 5.1]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rdnss<'a> {
    /// Seconds; 0xffffffff = infinity, 0 = stop using these servers.
    pub lifetime: u32,
    addrs: &'a [u8],
}

impl<'a> Rdnss<'a> {
    /// The server addresses.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv6Addr> + 'a {
        self.addrs.chunks_exact(16).map(addr)
    }
}

/// PREF64 option ([RFC 8781 § 4]).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     Type      |    Length     |     Scaled Lifetime     | PLC |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |              Highest 96 bits of the Prefix                    |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pref64 {
    /// Lifetime in units of 8 seconds (13 bits).
    pub scaled_lifetime: u16,
    /// Prefix Length Code (3 bits).
    pub plc: u8,
    /// The prefix, low 32 bits zero.
    pub prefix: Ipv6Addr,
}

/// Prefix lengths by Prefix Length Code ([RFC 8781 § 4]).
const PLC_LEN: [u8; 6] = [96, 64, 56, 48, 40, 32];

impl Pref64 {
    pub fn lifetime_secs(&self) -> u32 {
        u32::from(self.scaled_lifetime) * 8
    }

    /// `None` for PLC 6 and 7: "the receiver MUST ignore the PREF64
    /// option" ([RFC 8781 § 4]).
    pub fn prefix_len(&self) -> Option<u8> {
        PLC_LEN.get(usize::from(self.plc)).copied()
    }
}

/// One option of an NDP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpOption<'a> {
    SourceLinkLayerAddr(MacAddr),
    TargetLinkLayerAddr(MacAddr),
    PrefixInformation(PrefixInfo),
    Mtu(u32),
    Rdnss(Rdnss<'a>),
    Pref64(Pref64),
    /// Any other type (must be ignored, [RFC 4861 § 4.6]); `data` follows
    /// the type and length octets.
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// Iterator over the options of an NDP message.
///
/// Framing errors (length zero, option past the end) are yielded once and
/// end the iteration, since nothing after them can be located. A known
/// option with the wrong length yields `BadOptionLength` and iteration goes
/// on. RFC 4861 wants the whole message dropped on a zero length, so
/// callers should run [`NdpOptions::check`] (or stop at the first `Err`)
/// before acting on any option.
#[derive(Debug, Clone)]
pub struct NdpOptions<'a> {
    data: &'a [u8],
}

impl<'a> NdpOptions<'a> {
    /// Options starting at the beginning of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        NdpOptions { data }
    }

    /// Checks the framing of every option (none of length zero, none past
    /// the end); option contents are not checked.
    pub fn check(self) -> Result<(), NdpError> {
        for o in self {
            match o {
                Err(e @ (NdpError::ZeroOptionLength | NdpError::Truncated)) => return Err(e),
                _ => continue,
            }
        }
        Ok(())
    }
}

fn parse_option(kind: u8, o: &[u8]) -> Result<NdpOption<'_>, NdpError> {
    let units = o.len() / 8;
    let bad = NdpError::BadOptionLength { kind };
    Ok(match kind {
        opt::SOURCE_LL_ADDR | opt::TARGET_LL_ADDR => {
            // [RFC 2464 § 6]: Length 1 for Ethernet.
            if units != 1 {
                return Err(bad);
            }
            let m = mac(&o[2..8]);
            if kind == opt::SOURCE_LL_ADDR {
                NdpOption::SourceLinkLayerAddr(m)
            } else {
                NdpOption::TargetLinkLayerAddr(m)
            }
        }
        opt::PREFIX_INFO => {
            if units != 4 {
                return Err(bad);
            }
            NdpOption::PrefixInformation(PrefixInfo {
                prefix_len: o[2],
                on_link: o[3] & 0x80 != 0,
                autonomous: o[3] & 0x40 != 0,
                valid_lifetime: be32(&o[4..8]),
                preferred_lifetime: be32(&o[8..12]),
                prefix: addr(&o[16..32]),
            })
        }
        opt::MTU => {
            if units != 1 {
                return Err(bad);
            }
            NdpOption::Mtu(be32(&o[4..8]))
        }
        opt::RDNSS => {
            // [RFC 8106 § 5.1]: "The Length field is set to a multiple of 2
            // plus 1", at least 3.
            if units < 3 || units & 1 == 0 {
                return Err(bad);
            }
            NdpOption::Rdnss(Rdnss {
                lifetime: be32(&o[4..8]),
                addrs: &o[8..],
            })
        }
        opt::PREF64 => {
            // [RFC 8781 § 4]: "The receiver MUST ignore the PREF64 option
            // if the Length field value is not 2."
            if units != 2 {
                return Err(bad);
            }
            let w = be16(&o[2..4]);
            let mut p = [0u8; 16];
            p[..12].copy_from_slice(&o[4..16]);
            NdpOption::Pref64(Pref64 {
                scaled_lifetime: w >> 3,
                plc: (w & 7) as u8,
                prefix: Ipv6Addr::from(p),
            })
        }
        _ => NdpOption::Unknown {
            kind,
            data: &o[2..],
        },
    })
}

impl<'a> Iterator for NdpOptions<'a> {
    type Item = Result<NdpOption<'a>, NdpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (kind, units) = match self.data {
            [] => return None,
            [k, l, ..] => (*k, *l),
            [_] => {
                self.data = &[];
                return Some(Err(NdpError::Truncated));
            }
        };
        if units == 0 {
            self.data = &[];
            return Some(Err(NdpError::ZeroOptionLength));
        }
        let len = usize::from(units) * 8;
        let Some(o) = self.data.get(..len) else {
            self.data = &[];
            return Some(Err(NdpError::Truncated));
        };
        self.data = self.data.get(len..).unwrap_or(&[]);
        Some(parse_option(kind, o))
    }
}

// ------------------------------------------------------------ emitters

/// Writes a Source (`opt::SOURCE_LL_ADDR`) or Target
/// (`opt::TARGET_LL_ADDR`) Link-Layer Address option; returns 8.
pub fn emit_lladdr(buf: &mut [u8], kind: u8, mac: MacAddr) -> Result<usize, NdpError> {
    let b = buf.get_mut(..8).ok_or(NdpError::Truncated)?;
    b[0] = kind;
    b[1] = 1;
    b[2..8].copy_from_slice(&mac.0);
    Ok(8)
}

/// Source Link-Layer Address option; returns 8.
pub fn emit_slla(buf: &mut [u8], mac: MacAddr) -> Result<usize, NdpError> {
    emit_lladdr(buf, opt::SOURCE_LL_ADDR, mac)
}

/// Target Link-Layer Address option; returns 8.
pub fn emit_tlla(buf: &mut [u8], mac: MacAddr) -> Result<usize, NdpError> {
    emit_lladdr(buf, opt::TARGET_LL_ADDR, mac)
}

/// Prefix Information option; returns 32. Bits past `prefix_len` are
/// cleared ([RFC 4861 § 4.6.2]: "The bits in the prefix after the prefix
/// length are reserved and MUST be initialized to zero by the sender").
pub fn emit_prefix_info(buf: &mut [u8], pi: &PrefixInfo) -> Result<usize, NdpError> {
    let b = buf.get_mut(..32).ok_or(NdpError::Truncated)?;
    b.fill(0);
    b[0] = opt::PREFIX_INFO;
    b[1] = 4;
    b[2] = pi.prefix_len;
    b[3] = if pi.on_link { 0x80 } else { 0 } | if pi.autonomous { 0x40 } else { 0 };
    b[4..8].copy_from_slice(&pi.valid_lifetime.to_be_bytes());
    b[8..12].copy_from_slice(&pi.preferred_lifetime.to_be_bytes());
    let p = u128::from(pi.prefix);
    let mask = match pi.prefix_len {
        0 => 0,
        n if n >= 128 => u128::MAX,
        n => u128::MAX << (128 - u32::from(n)),
    };
    b[16..32].copy_from_slice(&(p & mask).to_be_bytes());
    Ok(32)
}

/// MTU option ([RFC 4861 § 4.6.4]); returns 8.
pub fn emit_mtu(buf: &mut [u8], mtu: u32) -> Result<usize, NdpError> {
    let b = buf.get_mut(..8).ok_or(NdpError::Truncated)?;
    b[..4].copy_from_slice(&[opt::MTU, 1, 0, 0]);
    b[4..8].copy_from_slice(&mtu.to_be_bytes());
    Ok(8)
}

/// RDNSS option with 1..=127 servers; returns 8 + 16 × servers.
pub fn emit_rdnss(buf: &mut [u8], lifetime: u32, servers: &[Ipv6Addr]) -> Result<usize, NdpError> {
    let n = servers.len();
    if n == 0 || n > 127 {
        return Err(NdpError::BadOptionLength { kind: opt::RDNSS });
    }
    let len = 8 + 16 * n;
    let b = buf.get_mut(..len).ok_or(NdpError::Truncated)?;
    b[..4].copy_from_slice(&[opt::RDNSS, (1 + 2 * n) as u8, 0, 0]);
    b[4..8].copy_from_slice(&lifetime.to_be_bytes());
    for (chunk, a) in b[8..].chunks_exact_mut(16).zip(servers) {
        chunk.copy_from_slice(&a.octets());
    }
    Ok(len)
}

/// PREF64 option for `prefix/prefix_len`; returns 16.
///
/// The lifetime is rounded up to a multiple of 8 seconds and capped at
/// 8191 × 8 = 65528 s ([RFC 8781 § 4.1]: round "up to the nearest integer
/// that is divisible by 8", so a short non-zero lifetime never becomes the
/// 0 that withdraws the prefix).
pub fn emit_pref64(
    buf: &mut [u8],
    lifetime_secs: u32,
    prefix: Ipv6Addr,
    prefix_len: u8,
) -> Result<usize, NdpError> {
    let plc = PLC_LEN
        .iter()
        .position(|&l| l == prefix_len)
        .ok_or(NdpError::BadPrefixLength)? as u16;
    let b = buf.get_mut(..16).ok_or(NdpError::Truncated)?;
    let scaled = lifetime_secs.div_ceil(8).min(8191) as u16;
    b[0] = opt::PREF64;
    b[1] = 2;
    b[2..4].copy_from_slice(&((scaled << 3) | plc).to_be_bytes());
    let keep = usize::from(prefix_len / 8);
    let o = prefix.octets();
    b[4..16].fill(0);
    b[4..4 + keep.min(12)].copy_from_slice(&o[..keep.min(12)]);
    Ok(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    // The options of a Router Advertisement that xgw sends.
    static OPTIONS: [u8; 88] = [
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // SLLA, len 1, 02:00:00:00:00:01
        0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, // MTU, len 1, reserved, 1500
        0x03, 0x04, 0x40, 0xc0, // Prefix Information, len 4, /64, L A
        0x00, 0x01, 0x51, 0x80, // valid lifetime 86400
        0x00, 0x00, 0x38, 0x40, // preferred lifetime 14400
        0x00, 0x00, 0x00, 0x00, // reserved
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, // prefix 2001:db8:1::
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x19, 0x03, 0x00, 0x00, 0x00, 0x00, 0x07, 0x08, // RDNSS, len 3, lifetime 1800
        0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // 2001:db8::53
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, //
        0x26, 0x02, 0x07, 0x0b, // PREF64, len 2, scaled lifetime 225 (1800 s), PLC 3 (/48)
        0x00, 0x64, 0xff, 0x9b, 0x00, 0x01, 0x00, 0x00, // 64:ff9b:1::
        0x00, 0x00, 0x00, 0x00, //
    ];

    fn pio() -> PrefixInfo {
        PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
            prefix: ip("2001:db8:1::"),
        }
    }

    #[test]
    fn deconstruct() {
        let mut it = NdpOptions::new(&OPTIONS);
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        assert_eq!(it.next(), Some(Ok(NdpOption::SourceLinkLayerAddr(mac))));
        assert_eq!(it.next(), Some(Ok(NdpOption::Mtu(1500))));
        assert_eq!(it.next(), Some(Ok(NdpOption::PrefixInformation(pio()))));
        let Some(Ok(NdpOption::Rdnss(r))) = it.next() else {
            panic!("RDNSS expected")
        };
        assert_eq!(r.lifetime, 1800);
        assert_eq!(r.addresses().collect::<Vec<_>>(), vec![ip("2001:db8::53")]);
        let Some(Ok(NdpOption::Pref64(p))) = it.next() else {
            panic!("PREF64 expected")
        };
        assert_eq!(
            (p.scaled_lifetime, p.lifetime_secs(), p.plc),
            (225, 1800, 3)
        );
        assert_eq!(p.prefix_len(), Some(48));
        assert_eq!(p.prefix, ip("64:ff9b:1::"));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 88];
        let mut n = emit_slla(&mut buf, MacAddr([2, 0, 0, 0, 0, 1])).unwrap();
        n += emit_mtu(&mut buf[n..], 1500).unwrap();
        n += emit_prefix_info(&mut buf[n..], &pio()).unwrap();
        n += emit_rdnss(&mut buf[n..], 1800, &[ip("2001:db8::53")]).unwrap();
        n += emit_pref64(&mut buf[n..], 1800, ip("64:ff9b:1::"), 48).unwrap();
        assert_eq!(n, 88);
        assert_eq!(buf, OPTIONS);
    }

    #[test]
    fn parse() {
        let all: Result<Vec<_>, _> = NdpOptions::new(&OPTIONS).collect();
        assert_eq!(all.unwrap().len(), 5);
        assert!(NdpOptions::new(&OPTIONS).check().is_ok());
    }

    #[test]
    fn emit() {
        // Host bits of the prefix are cleared; the output buffer must fit.
        let mut pi = pio();
        pi.prefix = ip("2001:db8:1::dead");
        let mut buf = [0xffu8; 32];
        emit_prefix_info(&mut buf, &pi).unwrap();
        assert_eq!(&buf[..], &OPTIONS[16..48]);
        assert_eq!(
            emit_prefix_info(&mut [0; 31], &pi),
            Err(NdpError::Truncated)
        );
        assert_eq!(
            emit_tlla(&mut [0; 7], MacAddr::default()),
            Err(NdpError::Truncated)
        );
        assert_eq!(emit_mtu(&mut [0; 7], 1500), Err(NdpError::Truncated));
        assert_eq!(
            emit_rdnss(&mut [0; 64], 1, &[]),
            Err(NdpError::BadOptionLength { kind: opt::RDNSS })
        );
        assert_eq!(
            emit_rdnss(&mut [0; 39], 1, &[ip("::1"); 2]),
            Err(NdpError::Truncated)
        );
    }

    #[test]
    fn pref64_encoding() {
        // RFC 8781 § 4: PLC 0=/96 1=/64 2=/56 3=/48 4=/40 5=/32.
        for (plc, len) in [(0u8, 96u8), (1, 64), (2, 56), (3, 48), (4, 40), (5, 32)] {
            let mut b = [0u8; 16];
            emit_pref64(&mut b, 600, ip("2001:db8:aaaa:bbbb:cccc:dddd::"), len).unwrap();
            let Some(Ok(NdpOption::Pref64(p))) = NdpOptions::new(&b).next() else {
                panic!("PREF64 expected")
            };
            assert_eq!((p.plc, p.prefix_len()), (plc, Some(len)));
            assert_eq!(p.scaled_lifetime, 75);
            // Octets past the prefix length are zero.
            assert!(b[4 + usize::from(len / 8)..].iter().all(|&x| x == 0));
        }
        let mut b = [0u8; 16];
        assert_eq!(
            emit_pref64(&mut b, 1, ip("64:ff9b::"), 33),
            Err(NdpError::BadPrefixLength)
        );
        // 1 s rounds up to one unit, huge lifetimes cap at 8191 units.
        emit_pref64(&mut b, 1, ip("64:ff9b::"), 96).unwrap();
        assert_eq!(&b[2..4], &[0x00, 0x08]);
        emit_pref64(&mut b, u32::MAX, ip("64:ff9b::"), 96).unwrap();
        assert_eq!(&b[2..4], &[0xff, 0xf8]);
        // PLC 6 and 7 are to be ignored.
        b[3] |= 7;
        let Some(Ok(NdpOption::Pref64(p))) = NdpOptions::new(&b).next() else {
            panic!("PREF64 expected")
        };
        assert_eq!(p.prefix_len(), None);
    }

    #[test]
    fn bad_lengths() {
        // Zero length ends the walk.
        let z = [
            0x01, 0x00, 0, 0, 0, 0, 0, 0, 0x05, 0x01, 0, 0, 0, 0, 0x05, 0xdc,
        ];
        let v: Vec<_> = NdpOptions::new(&z).collect();
        assert_eq!(v, vec![Err(NdpError::ZeroOptionLength)]);
        // Past the end.
        let v: Vec<_> = NdpOptions::new(&OPTIONS[..87]).collect();
        assert_eq!(v.last(), Some(&Err(NdpError::Truncated)));
        assert_eq!(
            NdpOptions::new(&OPTIONS[..87]).check(),
            Err(NdpError::Truncated)
        );
        assert_eq!(NdpOptions::new(&[0x01]).check(), Err(NdpError::Truncated));
        // Wrong length for a known type: reported, iteration continues.
        let w = [
            0x05, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0x01, 1, 2, 3, 4, 5, 6,
        ];
        let v: Vec<_> = NdpOptions::new(&w).collect();
        assert_eq!(
            v,
            vec![
                Err(NdpError::BadOptionLength { kind: opt::MTU }),
                Ok(NdpOption::Unknown {
                    kind: 42,
                    data: &[1, 2, 3, 4, 5, 6]
                }),
            ]
        );
        assert!(NdpOptions::new(&w).check().is_ok());
        // RDNSS with an even length.
        let mut r = [0u8; 32];
        r[0] = opt::RDNSS;
        r[1] = 4;
        assert_eq!(
            NdpOptions::new(&r).next(),
            Some(Err(NdpError::BadOptionLength { kind: opt::RDNSS }))
        );
    }

    #[test]
    fn prefixes_and_garbage_never_panic() {
        for n in 0..=OPTIONS.len() {
            for o in NdpOptions::new(&OPTIONS[..n]) {
                if let Ok(NdpOption::Rdnss(r)) = o {
                    let _ = r.addresses().count();
                }
            }
        }
        let mut st = 99u32;
        for _ in 0..5000 {
            let mut b = [0u8; 64];
            for x in &mut b {
                st = st.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *x = match (st >> 16) % 4 {
                    0 => [1, 2, 3, 5, 25, 38][(st >> 8) as usize % 6],
                    1 => (st >> 8) as u8 % 5,
                    _ => (st >> 8) as u8,
                };
            }
            let len = st as usize % 65;
            assert!(NdpOptions::new(&b[..len]).count() <= 32);
        }
    }
}
