//! Address mapping: RFC 6052 IPv4-embedded IPv6 addresses (the pool6
//! prefix) and RFC 7757 Explicit Address Mappings.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::fib::{Fib6, Fib6Table};

/// The prefix lengths RFC 6052 §2.2 allows.
pub const POOL6_LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// The most EAM entries. Lookups are longest-prefix matches in two tries
/// (cost independent of the count); this bounds their memory: at most 14
/// table groups of 1 KiB per entry on the IPv6 side (a /128 off every
/// other entry's path), 2 on the IPv4 side.
pub const MAX_EAM: usize = 16384;

/// Up to this many entries a scan answers (cheaper than a trie walk: 72
/// instructions per packet on siit-6to4's two entries).
const EAM_SCAN: usize = 4;

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

/// The blocks of [`is_global4`] (prefix, length).
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
    if a == 0xc000_0009 || a == 0xc000_000a {
        return true;
    }
    // Most addresses are decided by their first octet: the blocks begin
    // with 0, 10, 100, 127, 169, 172, 192, 198, 203 and 224 up (the scan
    // below is the definition, and what the tests hold this to).
    match a >> 24 {
        0 | 10 | 127 | 224.. => return false,
        100 | 169 | 172 | 192 | 198 | 203 => {}
        _ => return true,
    }
    !NOT_GLOBAL
        .iter()
        .any(|&(p, l)| a & (u32::MAX << (32 - u32::from(l))) == p)
}

/// Where the four IPv4 octets go in an IPv6 address for each prefix
/// length (RFC 6052 §2.2: octet 8, bits 64-71, is skipped): the
/// reference the arithmetic of [`Pool6::embed_u`] and
/// [`Pool6::extract_u`] is tested against.
#[cfg(test)]
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
        self.embed_checked_u(u32::from(v4)).map(Ipv6Addr::from)
    }

    /// [`Pool6::embed_checked`] on numbers (the per-packet form).
    #[inline]
    pub fn embed_checked_u(&self, v4: u32) -> Option<u128> {
        (!self.refuses(v4)).then(|| self.embed_u(v4))
    }

    pub fn contains(&self, a: Ipv6Addr) -> bool {
        let m = u128::MAX << (128 - u32::from(self.len));
        u128::from(a) & m == u128::from(self.prefix)
    }

    /// The IPv6 address embedding `v4` (suffix zero).
    pub fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        Ipv6Addr::from(self.embed_u(u32::from(v4)))
    }

    /// [`Pool6::embed`] on numbers (the per-packet form). Below /96 the
    /// four octets are split around octet 8 (bits 64-71, left zero):
    /// those of `v4` that fit end at octet 7 (bit 64), the other `n`
    /// start at octet 9.
    #[inline]
    pub fn embed_u(&self, v4: u32) -> u128 {
        let p = u128::from(self.prefix);
        if self.len >= 96 {
            return p | u128::from(v4);
        }
        let n = u32::from(self.len.saturating_sub(32) / 8);
        let v = u64::from(v4);
        let hi = v >> (8 * n);
        let lo = v & ((1u64 << (8 * n)) - 1);
        p | u128::from(hi) << 64 | u128::from(lo) << (8 * (7 - n))
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
        // (As `embed_u`, the other way.)
        let n = u32::from(self.len.saturating_sub(32) / 8);
        let hi = ((x >> 64) as u64) & ((1u64 << (32 - 8 * n)) - 1);
        let lo = ((x >> (8 * (7 - n))) as u64) & ((1u64 << (8 * n)) - 1);
        Some((hi << (8 * n) | lo) as u32)
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

/// The EAM table: the entries (sorted longest prefix first, per family)
/// and a longest-prefix-match trie per family from prefix to entry, so a
/// lookup costs the same with 2 entries or [`MAX_EAM`] (it was a scan:
/// 1024 entries made every translated packet ~40 times dearer).
#[derive(Clone, Default)]
pub struct EamTable {
    by6: Vec<Eam>,
    by4: Vec<Eam>,
    /// `by6`'s and `by4`'s prefixes as (mask, value), for the scan.
    m6: Vec<(u128, u128)>,
    m4: Vec<(u32, u32)>,
    /// IPv6 prefix -> index in `by6` (None: no entries).
    lpm6: Option<Fib6Table>,
    /// IPv4 prefix (left-aligned in the 128-bit key) -> index in `by4`.
    lpm4: Option<Fib6Table>,
}

impl PartialEq for EamTable {
    fn eq(&self, o: &Self) -> bool {
        (&self.by6, &self.by4) == (&o.by6, &o.by4)
    }
}

impl Eq for EamTable {}

impl std::fmt::Debug for EamTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EamTable")
            .field("entries", &self.by6)
            .finish()
    }
}

/// A longest-prefix-match trie of `keys` (left-aligned prefix, length)
/// to their index; `per` is the most table groups one key can need.
fn lpm(keys: impl ExactSizeIterator<Item = (u128, u8)>, per: u32) -> Result<Fib6, String> {
    let mut t = Fib6::with_max_groups(keys.len() as u32 * per + 1);
    for (i, (k, len)) in keys.enumerate() {
        t.insert(Ipv6Addr::from(k & mask6(len)), len, i as u32)
            .map_err(|e| format!("EAM table: {e}"))?;
    }
    Ok(t)
}

impl EamTable {
    /// Refuses overlapping duplicates (the same IPv6 or IPv4 prefix twice)
    /// and more than [`MAX_EAM`] entries.
    pub fn new(entries: &[Eam]) -> Result<EamTable, String> {
        if entries.len() > MAX_EAM {
            return Err(format!("{} EAM entries; at most {MAX_EAM}", entries.len()));
        }
        let (mut seen6, mut seen4) = (HashSet::new(), HashSet::new());
        for a in entries {
            if !seen6.insert((a.v6, a.len6)) {
                return Err(format!("EAM IPv6 prefix {}/{} appears twice", a.v6, a.len6));
            }
            if !seen4.insert((a.v4, a.len4)) {
                return Err(format!("EAM IPv4 prefix {}/{} appears twice", a.v4, a.len4));
            }
        }
        if entries.is_empty() {
            return Ok(EamTable::default());
        }
        let mut by6 = entries.to_vec();
        by6.sort_by_key(|e| std::cmp::Reverse(e.len6));
        let mut by4 = entries.to_vec();
        by4.sort_by_key(|e| std::cmp::Reverse(e.len4));
        let lpm6 = lpm(by6.iter().map(|e| (u128::from(e.v6), e.len6)), 14)?;
        let lpm4 = lpm(
            by4.iter()
                .map(|e| (u128::from(u32::from(e.v4)) << 96, e.len4)),
            2,
        )?;
        Ok(EamTable {
            m6: by6
                .iter()
                .map(|e| (mask6(e.len6), u128::from(e.v6)))
                .collect(),
            m4: by4
                .iter()
                .map(|e| (mask4(e.len4), u32::from(e.v4)))
                .collect(),
            by6,
            by4,
            lpm6: Some(lpm6.snapshot()),
            lpm4: Some(lpm4.snapshot()),
        })
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
    #[inline(always)]
    pub fn to4_u(&self, x: u128) -> Option<u32> {
        if self.by6.len() <= EAM_SCAN {
            return self.scan4(x);
        }
        self.trie4(x)
    }

    /// [`EamTable::to4_u`] of a table larger than [`EAM_SCAN`].
    #[inline(never)]
    fn trie4(&self, x: u128) -> Option<u32> {
        let i = self.lpm6.as_ref()?.lookup_u128(x)?;
        let e = self.by6.get(i as usize)?;
        Some(u32::from(e.v4) | (x.checked_shr(e.shift()).unwrap_or(0) as u32 & !mask4(e.len4)))
    }

    /// The IPv4 address of `a` by its longest matching EAM entry.
    pub fn to4(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        self.to4_u(u128::from(a)).map(Ipv4Addr::from)
    }

    /// The IPv6 address of `a` by its longest matching EAM entry.
    pub fn to6(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        self.to6_u(u32::from(a)).map(Ipv6Addr::from)
    }

    /// [`EamTable::to6`] on an address as a number (the per-packet form).
    #[inline(always)]
    pub fn to6_u(&self, x: u32) -> Option<u128> {
        if self.by4.len() <= EAM_SCAN {
            return self.scan6(x);
        }
        self.trie6(x)
    }

    /// [`EamTable::to6_u`] of a table larger than [`EAM_SCAN`].
    #[inline(never)]
    fn trie6(&self, x: u32) -> Option<u128> {
        let i = self.lpm4.as_ref()?.lookup_u128(u128::from(x) << 96)?;
        let e = self.by4.get(i as usize)?;
        let suffix = u128::from(x & !mask4(e.len4));
        Some(u128::from(e.v6) | suffix.checked_shl(e.shift()).unwrap_or(0))
    }

    /// The scan, longest prefix first: what small tables use, and the
    /// reference the tests hold the tries to.
    #[inline(always)]
    fn scan4(&self, x: u128) -> Option<u32> {
        let i = self.m6.iter().position(|&(m, v)| x & m == v)?;
        let e = self.by6.get(i)?;
        Some(u32::from(e.v4) | (x.checked_shr(e.shift()).unwrap_or(0) as u32 & !mask4(e.len4)))
    }

    #[inline(always)]
    fn scan6(&self, x: u32) -> Option<u128> {
        let i = self.m4.iter().position(|&(m, v)| x & m == v)?;
        let e = self.by4.get(i)?;
        Some(
            u128::from(e.v6)
                | u128::from(x & !mask4(e.len4))
                    .checked_shl(e.shift())
                    .unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic embedding and extraction against the octet table
    /// of RFC 6052 §2.2 (`slots`), every length, prefixes with all bits
    /// set around the IPv4 octets; and the first-octet shortcut of
    /// `is_global4` against the plain scan of its blocks.
    #[test]
    fn embedding_arithmetic_matches_the_octet_table() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in POOL6_LENGTHS {
            let full = Ipv6Addr::from(!(0xffu128 << 56));
            let pool = Pool6::new(full, len).unwrap();
            for _ in 0..2000 {
                let v4 = next() as u32;
                let mut o = pool.prefix.octets();
                for (s, b) in slots(len).into_iter().zip(v4.to_be_bytes()) {
                    o[s] = b;
                }
                let want = u128::from_be_bytes(o);
                assert_eq!(pool.embed_u(v4), want, "/{len} {v4:#x}");
                // Whatever the suffix holds, extraction reads the slots.
                let mut in_slots = [0u8; 16];
                for s in slots(len) {
                    in_slots[s] = 0xff;
                }
                let free = !mask6(len) & !(0xffu128 << 56) & !u128::from_be_bytes(in_slots);
                let any = want | (u128::from(next()) << 64 | u128::from(next())) & free;
                let o = any.to_be_bytes();
                let s = slots(len);
                let back = u32::from_be_bytes([o[s[0]], o[s[1]], o[s[2]], o[s[3]]]);
                assert_eq!(pool.extract_u(any), Some(back), "/{len} {any:#x}");
                assert_eq!(back, v4);
            }
        }
        let scan = |a: u32| {
            a == 0xc000_0009
                || a == 0xc000_000a
                || !NOT_GLOBAL
                    .iter()
                    .any(|&(p, l)| a & (u32::MAX << (32 - u32::from(l))) == p)
        };
        for top in 0..=255u32 {
            for _ in 0..400 {
                let a = top << 24 | (next() as u32 & 0x00ff_ffff);
                assert_eq!(is_global4(a), scan(a), "{}", Ipv4Addr::from(a));
            }
            // The blocks' own first and last addresses.
            for a in [top << 24, top << 24 | 0x00ff_ffff] {
                assert_eq!(is_global4(a), scan(a), "{}", Ipv4Addr::from(a));
            }
        }
        for a in [
            0xc000_0009,
            0xc000_000a,
            0xac1f_ffff,
            0xac20_0000,
            0x647f_ffff,
            0x6480_0000,
        ] {
            assert_eq!(is_global4(a), scan(a), "{}", Ipv4Addr::from(a));
        }
    }

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

    /// The tries answer as the longest-prefix-first scan on nested and
    /// overlapping entries of every length (a few bases so that prefixes
    /// nest), probed at and around each entry's prefix and at random.
    #[test]
    fn eam_tries_match_the_scan() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..40 {
            let bases6: [u128; 3] = [0x2001_0db8 << 96, 0x2001_0db8_0001 << 80, 0x64_ff9b << 96];
            let bases4: [u32; 3] = [0x0a00_0000, 0xc000_0200, 0x0a01_0000];
            let mut es = Vec::new();
            let mut seen = (HashSet::new(), HashSet::new());
            for _ in 0..(1 + round * 3) {
                let len4 = (rnd() % 33) as u8;
                let min6 = 0u8;
                let max6 = 128 - (32 - len4);
                let len6 = min6 + (rnd() % (u64::from(max6 - min6) + 1)) as u8;
                let v6 = bases6[(rnd() % 3) as usize] ^ (u128::from(rnd()) << (rnd() % 64));
                let v4 = bases4[(rnd() % 3) as usize] ^ ((rnd() as u32) >> (rnd() % 32));
                let e = Eam::new(Ipv6Addr::from(v6), len6, Ipv4Addr::from(v4), len4).unwrap();
                if seen.0.insert((e.v6, e.len6)) && seen.1.insert((e.v4, e.len4)) {
                    es.push(e);
                }
            }
            let t = EamTable::new(&es).unwrap();
            let mut probes6: Vec<u128> = Vec::new();
            let mut probes4: Vec<u32> = Vec::new();
            for e in &es {
                let (a6, a4) = (u128::from(e.v6), u32::from(e.v4));
                probes6.extend([a6, a6 | 1, a6 ^ (1 << 100), a6 | u128::from(rnd()), !a6]);
                probes4.extend([a4, a4 | 1, a4 ^ (1 << 20), a4 | (rnd() as u32 >> 8), !a4]);
            }
            for _ in 0..200 {
                probes6.push(bases6[(rnd() % 3) as usize] | u128::from(rnd()));
                probes4.push(bases4[(rnd() % 3) as usize] | (rnd() as u32 >> (rnd() % 32)));
            }
            for a in probes6 {
                assert_eq!(t.to4_u(a), t.scan4(a), "{} in {es:?}", Ipv6Addr::from(a));
            }
            for a in probes4 {
                let want = t.scan6(a).map(Ipv6Addr::from);
                assert_eq!(
                    t.to6(Ipv4Addr::from(a)),
                    want,
                    "{} in {es:?}",
                    Ipv4Addr::from(a)
                );
            }
        }
        assert!(EamTable::new(&[]).unwrap().to4_u(1).is_none());
    }

    /// [`MAX_EAM`] entries of the longest prefixes fit in the tries'
    /// group budget, and one more is refused.
    #[test]
    fn eam_table_at_its_bound() {
        let es: Vec<Eam> = (0..MAX_EAM as u128)
            .map(|i| {
                let v6 =
                    Ipv6Addr::from((0x2001_0db8u128 << 96) | i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                Eam::new(v6, 128, Ipv4Addr::from(0x0a00_0000 + i as u32), 32).unwrap()
            })
            .collect();
        let t = EamTable::new(&es).unwrap();
        for e in es.iter().step_by(97) {
            assert_eq!(t.to4(e.v6), Some(e.v4));
            assert_eq!(t.to6(e.v4), Some(e.v6));
        }
        let mut more = es.clone();
        more.push(
            Eam::new(
                "2001:db8::1".parse().unwrap(),
                128,
                Ipv4Addr::new(1, 1, 1, 1),
                32,
            )
            .unwrap(),
        );
        assert!(EamTable::new(&more).unwrap_err().contains("at most"));
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
