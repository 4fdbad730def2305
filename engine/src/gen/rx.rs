//! The receiving side of `xgw gen`: finding the signature in whatever the
//! device under test turned the frame into, and counting.
//!
//! [`parse`] walks Ethernet (802.1Q/802.1ad tags skipped), IPv4 or IPv6,
//! any number (at most 3) of IP-in-IP layers (protocol 4 and 41), then UDP
//! or TCP, and expects the signature at the start of the L4 payload. So the
//! receiver does not need to know what the sender's template was: a DUT
//! that decapsulates IPIP (or, later, translates IPv6 to IPv4) is measured
//! the same way. Checksums (every IPv4 header, the innermost L4) are
//! verified unless told not to.
//!
//! [`SeqTracker`] classifies each arriving sequence number the way RFC 4737
//! does: a packet is *reordered* when its number is smaller than the
//! highest seen before it, a *duplicate* when its number was already seen.
//! It remembers the last [`WINDOW`] numbers below the highest; anything
//! older is counted as *late* (and as reordered, not checked for
//! duplication).

use xgw_pipelines::wire::checksum;

use super::template::{MAGIC, SIG_LEN};

/// What the signature carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sig {
    pub run: u16,
    pub seq: u32,
    pub ts: u64,
}

/// Outcome of looking at one received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    Sig(Sig),
    /// Not a generator frame (no signature where one would be).
    Foreign,
    /// A generator frame with a bad checksum or inconsistent lengths.
    Corrupt,
}

#[inline]
fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// Finds the signature in a received frame.
pub fn parse(f: &[u8], verify: bool) -> Parsed {
    if f.len() < 14 {
        return Parsed::Foreign;
    }
    let mut et = be16(f, 12);
    let mut off = 14;
    // 802.1Q / 802.1ad tags
    for _ in 0..2 {
        if et == 0x8100 || et == 0x88A8 {
            if f.len() < off + 4 {
                return Parsed::Foreign;
            }
            et = be16(f, off + 2);
            off += 4;
        }
    }
    let mut proto = match et {
        0x0800 => 4,
        0x86DD => 41,
        _ => return Parsed::Foreign,
    };
    let mut bad = false;
    // (pseudo-header sum, L4 offset, L4 length, IPv4?) of the innermost packet
    let mut inner = None;
    for _ in 0..4 {
        match proto {
            4 => {
                let h = match f.get(off..off + 20) {
                    Some(h) if h[0] >> 4 == 4 => h,
                    _ => return Parsed::Foreign,
                };
                let ihl = usize::from(h[0] & 0xf) * 4;
                let total = usize::from(be16(h, 2));
                if ihl < 20 || total < ihl || off + total > f.len() {
                    return Parsed::Foreign;
                }
                // fragments carry no (or a partial) signature
                if be16(h, 6) & 0x3fff != 0 {
                    return Parsed::Foreign;
                }
                if verify && checksum::fold(checksum::sum(&f[off..off + ihl])) != 0xffff {
                    bad = true;
                }
                proto = h[9];
                let l4_len = total - ihl;
                let pseudo = checksum::pseudo_v4(
                    [h[12], h[13], h[14], h[15]],
                    [h[16], h[17], h[18], h[19]],
                    proto,
                    l4_len as u16,
                );
                off += ihl;
                inner = Some((pseudo, off, l4_len, true));
            }
            41 => {
                let h = match f.get(off..off + 40) {
                    Some(h) if h[0] >> 4 == 6 => h,
                    _ => return Parsed::Foreign,
                };
                let plen = usize::from(be16(h, 4));
                if off + 40 + plen > f.len() {
                    return Parsed::Foreign;
                }
                proto = h[6];
                let src: &[u8; 16] = h[8..24].try_into().unwrap_or(&[0; 16]);
                let dst: &[u8; 16] = h[24..40].try_into().unwrap_or(&[0; 16]);
                let pseudo = checksum::pseudo_v6(src, dst, proto, plen as u32);
                off += 40;
                inner = Some((pseudo, off, plen, false));
            }
            _ => break,
        }
    }
    let Some((pseudo, l4, l4_len, v4)) = inner else {
        return Parsed::Foreign;
    };
    let hl = match proto {
        17 => 8,
        6 => match f.get(l4 + 12) {
            Some(&d) if usize::from(d >> 4) * 4 >= 20 => usize::from(d >> 4) * 4,
            _ => return Parsed::Foreign,
        },
        _ => return Parsed::Foreign,
    };
    if l4_len < hl + SIG_LEN {
        return Parsed::Foreign;
    }
    let s = &f[l4 + hl..l4 + hl + SIG_LEN];
    if be16(s, 0) != MAGIC {
        return Parsed::Foreign;
    }
    if verify {
        let seg = &f[l4..l4 + l4_len];
        let udp_none = proto == 17 && be16(seg, 6) == 0 && v4;
        let udp_len_bad = proto == 17 && usize::from(be16(seg, 4)) != l4_len;
        if udp_len_bad || (!udp_none && checksum::fold(pseudo + checksum::sum(seg)) != 0xffff) {
            bad = true;
        }
    }
    if bad {
        return Parsed::Corrupt;
    }
    Parsed::Sig(Sig {
        run: be16(s, 2),
        seq: u32::from_be_bytes([s[4], s[5], s[6], s[7]]),
        ts: u64::from_be_bytes([s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]]),
    })
}

/// Extends a 32-bit sequence number to 64 bits, taking the value nearest
/// to `near` (the highest number seen so far).
#[inline]
pub fn extend_seq(near: u64, s: u32) -> u64 {
    let c = (near & !0xffff_ffff) | u64::from(s);
    if c > near.saturating_add(1 << 31) && c >= 1 << 32 {
        c - (1 << 32)
    } else if c.saturating_add(1 << 31) < near {
        c + (1 << 32)
    } else {
        c
    }
}

/// How many sequence numbers below the highest one are remembered.
pub const WINDOW: u64 = 1 << 20;

/// What [`SeqTracker::record`] decided about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// First time seen, in order (higher than everything before it).
    InOrder,
    /// First time seen, below the highest seen before it.
    Reordered,
    /// Below the window: counted as received and reordered, unchecked for duplication.
    Late,
    /// Seen before.
    Duplicate,
}

/// Loss, duplication and reordering over one stream of sequence numbers.
pub struct SeqTracker {
    bits: Vec<u64>,
    window: u64,
    /// Highest number seen, if any.
    max: Option<u64>,
    min: u64,
    pub received: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub late: u64,
}

impl SeqTracker {
    pub fn new() -> Self {
        Self::with_window(WINDOW)
    }

    /// A tracker remembering `window` numbers (a power of two, at least 64).
    pub fn with_window(window: u64) -> Self {
        assert!(window.is_power_of_two() && window >= 64);
        SeqTracker {
            bits: vec![0; (window / 64) as usize],
            window,
            max: None,
            min: 0,
            received: 0,
            duplicates: 0,
            reordered: 0,
            late: 0,
        }
    }

    pub fn reset(&mut self) {
        self.bits.fill(0);
        self.max = None;
        self.min = 0;
        self.received = 0;
        self.duplicates = 0;
        self.reordered = 0;
        self.late = 0;
    }

    /// Highest number seen.
    pub fn max(&self) -> Option<u64> {
        self.max
    }

    /// Lowest number seen (0 if none).
    pub fn min(&self) -> u64 {
        self.min
    }

    #[inline]
    fn slot(&self, s: u64) -> (usize, u64) {
        let i = s & (self.window - 1);
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Records one 32-bit sequence number from the wire.
    #[inline]
    pub fn record32(&mut self, s: u32) -> Seen {
        let s = extend_seq(self.max.unwrap_or(0), s);
        self.record(s)
    }

    /// Records one sequence number.
    pub fn record(&mut self, s: u64) -> Seen {
        let Some(max) = self.max else {
            self.max = Some(s);
            self.min = s;
            let (w, b) = self.slot(s);
            self.bits[w] |= b;
            self.received = 1;
            return Seen::InOrder;
        };
        self.min = self.min.min(s);
        if s > max {
            // Forget the numbers that fall out of the window: the slots of
            // (max - window, s - window], i.e. the slots (max, s] reuse.
            let gap = s - max;
            if gap >= self.window {
                self.bits.fill(0);
            } else {
                let mut x = max + 1;
                // clear bit by bit up to a word boundary, then whole words
                while x <= s && x % 64 != 0 {
                    let (w, b) = self.slot(x);
                    self.bits[w] &= !b;
                    x += 1;
                }
                while x + 63 <= s {
                    let (w, _) = self.slot(x);
                    self.bits[w] = 0;
                    x += 64;
                }
                while x <= s {
                    let (w, b) = self.slot(x);
                    self.bits[w] &= !b;
                    x += 1;
                }
            }
            let (w, b) = self.slot(s);
            self.bits[w] |= b;
            self.max = Some(s);
            self.received += 1;
            return Seen::InOrder;
        }
        if max - s >= self.window {
            self.received += 1;
            self.reordered += 1;
            self.late += 1;
            return Seen::Late;
        }
        let (w, b) = self.slot(s);
        if self.bits[w] & b != 0 {
            self.duplicates += 1;
            return Seen::Duplicate;
        }
        self.bits[w] |= b;
        // s < max here: max's own bit is always set
        self.received += 1;
        self.reordered += 1;
        Seen::Reordered
    }

    /// Packets lost out of `sent` (numbered 0..sent), given what arrived.
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.received)
    }

    /// Without a sender count: the gaps between the lowest and highest
    /// number seen.
    pub fn lost_in_range(&self) -> u64 {
        match self.max {
            Some(m) => (m - self.min + 1).saturating_sub(self.received),
            None => 0,
        }
    }
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The definition, with unbounded memory.
    #[derive(Default, Debug, PartialEq)]
    struct Naive {
        seen: HashSet<u64>,
        max: Option<u64>,
        received: u64,
        duplicates: u64,
        reordered: u64,
    }

    impl Naive {
        fn record(&mut self, s: u64) {
            if !self.seen.insert(s) {
                self.duplicates += 1;
                return;
            }
            self.received += 1;
            if self.max.is_some_and(|m| s < m) {
                self.reordered += 1;
            }
            self.max = Some(self.max.map_or(s, |m| m.max(s)));
        }
    }

    fn check_sequence(seq: &[u64], window: u64) {
        let mut t = SeqTracker::with_window(window);
        let mut n = Naive::default();
        for &s in seq {
            t.record(s);
            n.record(s);
        }
        assert_eq!(
            (t.received, t.duplicates, t.reordered, t.late),
            (n.received, n.duplicates, n.reordered, 0),
            "sequence {seq:?}"
        );
        assert_eq!(t.max, n.max);
    }

    /// Every sequence of length ≤ 6 over the numbers 0..4 (with
    /// repetitions, so loss, duplication and reordering all occur) agrees
    /// with the definition.
    #[test]
    fn exhaustive_small_sequences() {
        let alphabet = 4u64;
        let mut count = 0;
        for len in 0..=6u32 {
            for code in 0..alphabet.pow(len) {
                let mut c = code;
                let seq: Vec<u64> = (0..len)
                    .map(|_| {
                        let d = c % alphabet;
                        c /= alphabet;
                        d
                    })
                    .collect();
                check_sequence(&seq, 64);
                count += 1;
            }
        }
        assert_eq!(count, (0..=6).map(|l| 4u64.pow(l)).sum::<u64>());
    }

    /// Every permutation of 0..6 with one element dropped or doubled.
    #[test]
    fn exhaustive_permutations_with_loss_and_dup() {
        fn perms(v: &mut Vec<u64>, k: usize, out: &mut Vec<Vec<u64>>) {
            if k == v.len() {
                out.push(v.clone());
                return;
            }
            for i in k..v.len() {
                v.swap(k, i);
                perms(v, k + 1, out);
                v.swap(k, i);
            }
        }
        let mut all = Vec::new();
        perms(&mut (0..6).collect(), 0, &mut all);
        assert_eq!(all.len(), 720);
        for p in &all {
            check_sequence(p, 64);
            for i in 0..p.len() {
                let mut lossy = p.clone();
                lossy.remove(i);
                check_sequence(&lossy, 64);
                let mut dup = p.clone();
                dup.insert(i, p[(i + 3) % p.len()]);
                check_sequence(&dup, 64);
            }
        }
    }

    #[test]
    fn counts_for_known_cases() {
        let mut t = SeqTracker::with_window(64);
        for s in [0, 1, 2, 4, 3, 3, 5, 1] {
            t.record(s);
        }
        assert_eq!(t.received, 6);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.reordered, 1);
        assert_eq!(t.lost(8), 2); // 6 and 7 never came
        assert_eq!(t.lost_in_range(), 0);

        let mut t = SeqTracker::with_window(64);
        for s in [10, 12, 15] {
            t.record(s);
        }
        assert_eq!(t.lost_in_range(), 3);
        assert_eq!(t.min(), 10);
    }

    #[test]
    fn window_slides_and_late_packets() {
        let w = 128;
        let mut t = SeqTracker::with_window(w);
        // far jumps clear the window; numbers that reuse a slot are new
        for s in 0..1000 {
            assert_eq!(t.record(s), Seen::InOrder);
        }
        assert_eq!(t.record(999), Seen::Duplicate);
        assert_eq!(t.record(999 - 127), Seen::Duplicate);
        assert_eq!(t.record(999 - 128), Seen::Late);
        assert_eq!(t.record(5000), Seen::InOrder);
        // 4950 was never seen and its slot was cleared by the jump
        assert_eq!(t.record(4950), Seen::Reordered);
        assert_eq!(t.record(4950), Seen::Duplicate);
        // a jump of exactly one window
        assert_eq!(t.record(5000 + w), Seen::InOrder);
        assert_eq!(t.record(5001), Seen::Reordered);
        assert_eq!(t.record(5000), Seen::Late);
        assert_eq!(t.late, 2);
        assert_eq!(t.reordered, 4);
        // jumps with partial words on both ends
        let mut t = SeqTracker::with_window(256);
        let mut n = Naive::default();
        let seq: Vec<u64> = (0..4000u64)
            .map(|i| (i * 37 + (i % 7) * 11) % 3000)
            .collect();
        for &s in &seq {
            t.record(s);
            n.record(s);
        }
        // with a small window the late ones are not checked for duplicates,
        // so only compare what the window guarantees
        assert_eq!(t.received + t.duplicates, seq.len() as u64);
        assert!(t.received >= n.received);
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert_eq!(extend_seq(0, 5), 5);
        assert_eq!(extend_seq(0xffff_fff0, 3), 0x1_0000_0003);
        assert_eq!(extend_seq(0x1_0000_0003, 0xffff_fff0), 0xffff_fff0);
        assert_eq!(extend_seq(10, 0xffff_fff0), 0xffff_fff0); // no negative numbers
        let mut t = SeqTracker::with_window(64);
        for s in [0xffff_fffeu32, 0xffff_ffff, 0, 1, 0xffff_ffff, 2] {
            t.record32(s);
        }
        assert_eq!(t.received, 5);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.reordered, 0);
        assert_eq!(t.max(), Some(0x1_0000_0002));
    }

    #[test]
    fn parse_rejects_what_is_not_ours() {
        assert_eq!(parse(&[0u8; 10], true), Parsed::Foreign);
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(parse(&arp, true), Parsed::Foreign);
    }

    #[test]
    fn parse_finds_signature_through_vlan_and_flags_corruption() {
        use super::super::template::{Encap, Spec, Vary, L4};
        use xgw_pipelines::wire::ethernet::MacAddr;
        let sp = Spec {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            encap: Encap::None,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            l4: L4::Udp,
            src_port: 1,
            dst_port: 2,
            vary: Vary::SrcPort,
        };
        let f = sp.build(128).unwrap();
        let p = f.packet(3, 7, 99, 12345);
        let want = Parsed::Sig(Sig {
            run: 7,
            seq: 99,
            ts: 12345,
        });
        assert_eq!(parse(&p, true), want);
        // VLAN-tagged copy
        let mut v = p[..12].to_vec();
        v.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        v.extend_from_slice(&p[12..]);
        assert_eq!(parse(&v, true), want);
        // a flipped payload bit: corrupt (and fine without verification)
        let mut c = p.clone();
        let last = c.len() - 1;
        c[last] ^= 1;
        assert_eq!(parse(&c, true), Parsed::Corrupt);
        assert_eq!(parse(&c, false), want);
        // IPv4 header checksum broken
        let mut c = p.clone();
        c[14 + 8] -= 1; // TTL changed without fixing the checksum
        assert_eq!(parse(&c, true), Parsed::Corrupt);
        // UDP checksum 0 (none) over IPv4 is accepted
        let mut c = p.clone();
        c[14 + 20 + 6] = 0;
        c[14 + 20 + 7] = 0;
        assert_eq!(parse(&c, true), want);
        // truncated: IP total length beyond the frame
        assert_eq!(parse(&p[..p.len() - 10], true), Parsed::Foreign);
        // wrong magic
        let mut c = p.clone();
        c[f.sig_off] ^= 0x80;
        assert_eq!(parse(&c, false), Parsed::Foreign);
    }
}
