//! Address mapping: RFC 6052 IPv4-embedded IPv6 addresses (the pool6
//! prefix) and RFC 7757 Explicit Address Mappings.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The prefix lengths RFC 6052 §2.2 allows.
pub const POOL6_LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// The most EAM entries (looked up by a scan, longest prefix first).
pub const MAX_EAM: usize = 1024;

/// A pool6 prefix (RFC 6052): one of [`POOL6_LENGTHS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool6 {
    pub prefix: Ipv6Addr,
    pub len: u8,
    /// RFC 6052 §3.1 enforced: the prefix is the Well-Known Prefix and
    /// addresses that are not global IPv4 ([`is_global4`]) are neither
    /// extracted from it nor embedded in it (`[nat64] wkp_strict`).
    pub strict: bool,
}

/// The Well-Known Prefix, 64:ff9b::/96 (RFC 6052 §2.1).
pub const WKP: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);

/// Whether `a` is a global IPv4 address as RFC 6052 §3.1 means it: none
/// of the special-purpose blocks of the IANA registry (RFC 6890) that are
/// not globally reachable — this network (0/8), private space (10/8,
/// 172.16/12, 192.168/16), shared address space (100.64/10), loopback
/// (127/8), link local (169.254/16), IETF protocol assignments
/// (192.0.0/24, save the globally reachable 192.0.0.9 and 192.0.0.10),
/// the documentation nets (192.0.2/24, 198.51.100/24, 203.0.113/24),
/// benchmarking (198.18/15), 6to4 relay anycast (192.88.99/24, deprecated),
/// multicast (224/4), reserved (240/4) and the broadcast address.
pub fn is_global4(a: u32) -> bool {
    const NOT_GLOBAL: [(u32, u8); 15] = [
        (0x0000_0000, 8),
        (0x0a00_0000, 8),
        (0x6440_0000, 10),
        (0x7f00_0000, 8),
        (0xa9fe_0000, 16),
        (0xac10_0000, 12),
        (0xc000_0000, 24),
        (0xc000_0200, 24),
        (0xc058_6300, 24),
        (0xc0a8_0000, 16),
        (0xc612_0000, 15),
        (0xc633_6400, 24),
        (0xcb00_7100, 24),
        (0xe000_0000, 4),
        (0xf000_0000, 4),
    ];
    if a == 0xc000_0009 || a == 0xc000_000a {
        return true;
    }
    !NOT_GLOBAL
        .iter()
        .any(|&(p, l)| a & (u32::MAX << (32 - u32::from(l))) == p)
}

/// Where the four IPv4 octets go in an IPv6 address for each prefix
/// length (RFC 6052 §2.2: octet 8, bits 64-71, is skipped).
fn slots(len: u8) -> [usize; 4] {
    match len {
        32 => [4, 5, 6, 7],
        40 => [5, 6, 7, 9],
        48 => [6, 7, 9, 10],
        56 => [7, 9, 10, 11],
        64 => [9, 10, 11, 12],
        _ => [12, 13, 14, 15],
    }
}

impl Pool6 {
    /// `None` unless `len` is an RFC 6052 length and octet 8 (the "u"
    /// octet) of a prefix shorter than /96 ... is left to the embedding.
    pub fn new(prefix: Ipv6Addr, len: u8) -> Option<Pool6> {
        if !POOL6_LENGTHS.contains(&len) {
            return None;
        }
        let p = u128::from(prefix) & (u128::MAX << (128 - u32::from(len)));
        Some(Pool6 {
            prefix: Ipv6Addr::from(p),
            len,
            strict: false,
        })
    }

    /// Whether this is the Well-Known Prefix, 64:ff9b::/96.
    pub fn is_wkp(&self) -> bool {
        self.len == 96 && self.prefix == WKP
    }

    /// Whether RFC 6052 §3.1 (with `strict`) keeps IPv4 address `a` out
    /// of this prefix.
    #[inline]
    pub fn refuses(&self, a: u32) -> bool {
        self.strict && !is_global4(a)
    }

    /// Whether `x` is inside the prefix but embeds an IPv4 address the
    /// prefix [`refuses`](Pool6::refuses): why it did not extract.
    pub fn refuses6(&self, x: u128) -> bool {
        let m = u128::MAX << (128 - u32::from(self.len));
        self.strict && x & m == u128::from(self.prefix) && self.refuses(x as u32)
    }

    /// [`Pool6::embed`], unless the prefix refuses `v4`.
    #[inline]
    pub fn embed_checked(&self, v4: Ipv4Addr) -> Option<Ipv6Addr> {
        (!self.refuses(u32::from(v4))).then(|| self.embed(v4))
    }

    pub fn contains(&self, a: Ipv6Addr) -> bool {
        let m = u128::MAX << (128 - u32::from(self.len));
        u128::from(a) & m == u128::from(self.prefix)
    }

    /// The IPv6 address embedding `v4` (suffix zero).
    pub fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut o = self.prefix.octets();
        for (s, b) in slots(self.len).into_iter().zip(v4.octets()) {
            o[s] = b;
        }
        Ipv6Addr::from(o)
    }

    /// [`Pool6::extract`] on an address as a number (the per-packet form).
    #[inline]
    pub fn extract_u(&self, x: u128) -> Option<u32> {
        let m = u128::MAX << (128 - u32::from(self.len));
        if x & m != u128::from(self.prefix) {
            return None;
        }
        if self.len == 96 {
            let a = x as u32;
            return (!self.refuses(a)).then_some(a);
        }
        let o = x.to_be_bytes();
        let s = slots(self.len);
        Some(u32::from_be_bytes([o[s[0]], o[s[1]], o[s[2]], o[s[3]]]))
    }

    /// The IPv4 address embedded in `a`, if `a` is inside the prefix.
    pub fn extract(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        self.extract_u(u128::from(a)).map(Ipv4Addr::from)
    }
}

/// One Explicit Address Mapping: IPv6 prefix ↔ IPv4 prefix (RFC 7757
/// §3.2). The IPv6 suffix is at least as long as the IPv4 one; the IPv4
/// suffix bits sit right after the IPv6 prefix, the rest is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eam {
    pub v6: Ipv6Addr,
    pub len6: u8,
    pub v4: Ipv4Addr,
    pub len4: u8,
}

impl Eam {
    /// Checks that the IPv6 suffix can hold the IPv4 one and masks the
    /// prefixes.
    pub fn new(v6: Ipv6Addr, len6: u8, v4: Ipv4Addr, len4: u8) -> Result<Eam, String> {
        if len4 > 32 || len6 > 128 || 128 - u32::from(len6) < 32 - u32::from(len4) {
            return Err(format!(
                "the IPv6 suffix of {v6}/{len6} is shorter than the IPv4 suffix of {v4}/{len4} \
                 (RFC 7757 §3.2: 128 - IPv6 length must be at least 32 - IPv4 length)"
            ));
        }
        Ok(Eam {
            v6: Ipv6Addr::from(u128::from(v6) & mask6(len6)),
            len6,
            v4: Ipv4Addr::from(u32::from(v4) & mask4(len4)),
            len4,
        })
    }
}

impl Eam {
    /// Where the IPv4 suffix sits in the IPv6 address (bits from the
    /// right).
    fn shift(&self) -> u32 {
        128 - u32::from(self.len6) - (32 - u32::from(self.len4))
    }
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The EAM table: sorted longest prefix first (per family), scanned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EamTable {
    by6: Vec<Eam>,
    by4: Vec<Eam>,
}

impl EamTable {
    /// Refuses overlapping duplicates (the same IPv6 or IPv4 prefix twice)
    /// and more than [`MAX_EAM`] entries.
    pub fn new(entries: &[Eam]) -> Result<EamTable, String> {
        if entries.len() > MAX_EAM {
            return Err(format!("{} EAM entries; at most {MAX_EAM}", entries.len()));
        }
        for (i, a) in entries.iter().enumerate() {
            for b in &entries[..i] {
                if (a.v6, a.len6) == (b.v6, b.len6) {
                    return Err(format!("EAM IPv6 prefix {}/{} appears twice", a.v6, a.len6));
                }
                if (a.v4, a.len4) == (b.v4, b.len4) {
                    return Err(format!("EAM IPv4 prefix {}/{} appears twice", a.v4, a.len4));
                }
            }
        }
        let mut by6 = entries.to_vec();
        by6.sort_by_key(|e| std::cmp::Reverse(e.len6));
        let mut by4 = entries.to_vec();
        by4.sort_by_key(|e| std::cmp::Reverse(e.len4));
        Ok(EamTable { by6, by4 })
    }

    pub fn len(&self) -> usize {
        self.by6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by6.is_empty()
    }

    pub fn entries(&self) -> &[Eam] {
        &self.by6
    }

    /// [`EamTable::to4`] on an address as a number (the per-packet form).
    #[inline]
    pub fn to4_u(&self, x: u128) -> Option<u32> {
        for e in &self.by6 {
            let m6 = mask6(e.len6);
            if x & m6 == u128::from(e.v6) {
                return Some(
                    u32::from(e.v4)
                        | (x.checked_shr(e.shift()).unwrap_or(0) as u32 & !mask4(e.len4)),
                );
            }
        }
        None
    }

    pub fn to4(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        let x = u128::from(a);
        self.by6
            .iter()
            .find(|e| x & mask6(e.len6) == u128::from(e.v6))
            .map(|e| {
                Ipv4Addr::from(
                    u32::from(e.v4)
                        | (x.checked_shr(e.shift()).unwrap_or(0) as u32 & !mask4(e.len4)),
                )
            })
    }

    pub fn to6(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        let x = u32::from(a);
        self.by4
            .iter()
            .find(|e| x & mask4(e.len4) == u32::from(e.v4))
            .map(|e| {
                let suffix = u128::from(x & !mask4(e.len4));
                Ipv6Addr::from(u128::from(e.v6) | suffix.checked_shl(e.shift()).unwrap_or(0))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6052_examples() {
        // RFC 6052 §2.4, the 192.0.2.33 table.
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        for (p, len, want) in [
            ("2001:db8::", 32, "2001:db8:c000:221::"),
            ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
            ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
        ] {
            let pool = Pool6::new(p.parse().unwrap(), len).unwrap();
            let a: Ipv6Addr = want.parse().unwrap();
            assert_eq!(pool.embed(v4), a, "/{len}");
            assert_eq!(pool.extract(a), Some(v4), "/{len}");
        }
        assert!(Pool6::new("64:ff9b::".parse().unwrap(), 33).is_none());
        let p = Pool6::new("64:ff9b::".parse().unwrap(), 96).unwrap();
        assert_eq!(p.extract("64:ff9c::1".parse().unwrap()), None);
    }

    #[test]
    fn eam_longest_match_both_ways() {
        let t = EamTable::new(&[
            Eam::new(
                "2001:db8:3::".parse().unwrap(),
                120,
                Ipv4Addr::new(1, 0, 0, 0),
                24,
            )
            .unwrap(),
            Eam::new(
                "2001:db8:4::5".parse().unwrap(),
                128,
                Ipv4Addr::new(1, 0, 0, 5),
                32,
            )
            .unwrap(),
        ])
        .unwrap();
        assert_eq!(
            t.to4("2001:db8:3::8".parse().unwrap()),
            Some(Ipv4Addr::new(1, 0, 0, 8))
        );
        assert_eq!(
            t.to6(Ipv4Addr::new(1, 0, 0, 9)),
            Some("2001:db8:3::9".parse().unwrap())
        );
        assert_eq!(
            t.to6(Ipv4Addr::new(1, 0, 0, 5)),
            Some("2001:db8:4::5".parse().unwrap())
        );
        assert_eq!(t.to4("2001:db8:5::1".parse().unwrap()), None);
        assert!(Eam::new(
            "2001:db8::".parse().unwrap(),
            120,
            Ipv4Addr::new(1, 0, 0, 0),
            16
        )
        .is_err());
        // A longer IPv6 suffix: the IPv4 suffix right after the prefix
        // (Jool's 6791v46 vector: 192.0.2.33 is 2001:db8:1c0:2:21::).
        let e = Eam::new(
            "2001:db8:1c0:2::".parse().unwrap(),
            72,
            Ipv4Addr::new(192, 0, 2, 0),
            24,
        );
        let t = EamTable::new(&[e.unwrap()]).unwrap();
        let a: Ipv6Addr = "2001:db8:1c0:2:21::".parse().unwrap();
        assert_eq!(t.to6(Ipv4Addr::new(192, 0, 2, 33)), Some(a));
        assert_eq!(t.to4(a), Some(Ipv4Addr::new(192, 0, 2, 33)));
    }

    /// RFC 6890's blocks that are not globally reachable, at their edges.
    #[test]
    fn global_ipv4_per_rfc6890() {
        let g = |s: &str| is_global4(u32::from(s.parse::<Ipv4Addr>().unwrap()));
        for a in [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.0.255",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!g(a), "{a} is not global");
        }
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.1.1",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            assert!(g(a), "{a} is global");
        }
    }

    /// A strict WKP neither extracts nor embeds a non-global address; a
    /// plain one does both.
    #[test]
    fn a_strict_wkp_refuses_non_global_addresses() {
        let p = Pool6::new(WKP, 96).unwrap();
        assert!(p.is_wkp());
        assert!(!Pool6::new("2001:db8:64::".parse().unwrap(), 96)
            .unwrap()
            .is_wkp());
        let s = Pool6 { strict: true, ..p };
        let private: Ipv6Addr = "64:ff9b::10.1.2.3".parse().unwrap();
        let global: Ipv6Addr = "64:ff9b::8.8.4.4".parse().unwrap();
        assert_eq!(p.extract(private), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(s.extract(private), None);
        assert!(s.refuses6(u128::from(private)));
        assert!(!s.refuses6(u128::from(global)));
        assert!(!p.refuses6(u128::from(private)));
        assert!(!s.refuses6(u128::from(
            "2001:db8::10.1.2.3".parse::<Ipv6Addr>().unwrap()
        )));
        assert_eq!(s.extract(global), Some(Ipv4Addr::new(8, 8, 4, 4)));
        assert_eq!(s.embed_checked(Ipv4Addr::new(192, 168, 0, 1)), None);
        assert_eq!(s.embed_checked(Ipv4Addr::new(8, 8, 4, 4)), Some(global));
        assert_eq!(p.embed_checked(Ipv4Addr::new(10, 1, 2, 3)), Some(private));
    }
}
