//! The FIB (both families) under arbitrary route changes, against a
//! plain list of routes: every lookup, of the live table and of snapshots
//! taken along the way, must give the longest matching route's next hop.
//! Prefixes are drawn near a few bases so that they nest, share long
//! one-child chains (the trie's jumps) and branch off them; the group
//! budget is small so that inserts also fail for want of groups (and
//! then change nothing). IPv4 prefixes are /8 or longer (see below).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, Ipv6Addr};
use xgw_fuzz::In;
use xgw_pipelines::fib::{Fib4, Fib4Table, Fib6, Fib6Table};

const BASES6: [u128; 4] = [
    0x0064_ff9b_0000_0000_0000_0000_0000_0000,
    0x2001_0db8_0000_0000_0000_0000_0000_0000,
    0x2001_0db8_0001_0002_0003_0004_0000_0000,
    0xfd00_0000_0000_0000_0000_0000_0000_0000,
];
const BASES4: [u32; 2] = [0x0a00_0000, 0xc000_0200];

fn mask(w: u32, len: u8) -> u128 {
    let full = if w == 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    };
    match u32::from(len) {
        0 => 0,
        l if l >= w => full,
        l => full & !(full >> l),
    }
}

/// The longest route of `routes` covering `a` (width `w`).
fn longest(routes: &[(u128, u8, u32)], w: u32, a: u128) -> Option<u32> {
    routes
        .iter()
        .filter(|&&(p, l, _)| a & mask(w, l) == p)
        .max_by_key(|&&(_, l, _)| l)
        .map(|&(_, _, nh)| nh)
}

/// An address of width `w` near one of the bases: the base with a few
/// bits flipped at a chosen depth.
fn near(b: &mut In<'_>, w: u32) -> Option<u128> {
    let pick = b.u8()?;
    let at = u32::from(b.u8()?) % w;
    let flip = b.uint(2)?;
    let base = if w == 128 {
        BASES6[usize::from(pick) % BASES6.len()]
    } else {
        u128::from(BASES4[usize::from(pick) % BASES4.len()])
    };
    let full = if w == 128 {
        u128::MAX
    } else {
        (1u128 << w) - 1
    };
    let shift = w.saturating_sub(at + 16);
    Some((base ^ (flip << shift)) & full)
}

enum Fib {
    V4(Fib4, Vec<(Fib4Table, Vec<(u128, u8, u32)>)>),
    V6(Fib6, Vec<(Fib6Table, Vec<(u128, u8, u32)>)>),
}

fuzz_target!(|data: &[u8]| {
    let mut b = In(data);
    let Some(first) = b.u8() else {
        return;
    };
    let groups = u32::from(first >> 1) % 24 + 1;
    let (w, mut fib) = if first & 1 == 0 {
        (128, Fib::V6(Fib6::with_max_groups(groups), Vec::new()))
    } else {
        (32, Fib::V4(Fib4::with_max_groups(groups), Vec::new()))
    };
    let mut routes: Vec<(u128, u8, u32)> = Vec::new();
    let mut ops = 0;
    while let Some(op) = b.u8() {
        ops += 1;
        if ops > 400 {
            break;
        }
        let Some(a) = near(&mut b, w) else {
            break;
        };
        match op % 5 {
            // Insert (or replace) a route.
            0 | 1 => {
                let Some(l) = b.u8() else { break };
                // (IPv4 from /8: a shorter prefix rewrites up to 2^24
                // root entries, which only slows the search down.)
                let len = if w == 32 {
                    8 + l % 25
                } else {
                    (u32::from(l) % (w + 1)) as u8
                };
                let p = a & mask(w, len);
                let nh = u32::from(op);
                let ok = match &mut fib {
                    Fib::V4(f, _) => f.insert(Ipv4Addr::from_bits(p as u32), len, nh).is_ok(),
                    Fib::V6(f, _) => f.insert(Ipv6Addr::from_bits(p), len, nh).is_ok(),
                };
                if ok {
                    routes.retain(|&(q, m, _)| (q, m) != (p, len));
                    routes.push((p, len, nh));
                }
            }
            // Remove a route (one that exists when the byte says so).
            2 => {
                let Some(k) = b.u8() else { break };
                let (p, len) = match routes.get(usize::from(k)) {
                    Some(&(p, len, _)) => (p, len),
                    None => {
                        let len = (u32::from(k) % (w + 1)) as u8;
                        (a & mask(w, len), len)
                    }
                };
                let had = match &mut fib {
                    Fib::V4(f, _) => f.remove(Ipv4Addr::from_bits(p as u32), len),
                    Fib::V6(f, _) => f.remove(Ipv6Addr::from_bits(p), len),
                };
                let want = routes
                    .iter()
                    .position(|&(q, m, _)| (q, m) == (p, len))
                    .map(|i| routes.remove(i).2);
                assert_eq!(had, want, "remove {p:#x}/{len}");
            }
            // A snapshot, checked later against the routes of its time.
            3 => match &mut fib {
                Fib::V4(f, s) if s.len() < 4 => s.push((f.snapshot(), routes.clone())),
                Fib::V6(f, s) if s.len() < 4 => s.push((f.snapshot(), routes.clone())),
                _ => {}
            },
            // Look up, in the table and in every snapshot.
            _ => {
                let want = longest(&routes, w, a);
                match &fib {
                    Fib::V4(f, snaps) => {
                        let x = a as u32;
                        assert_eq!(f.lookup(Ipv4Addr::from_bits(x)), want, "lookup {x:#x}");
                        assert_eq!(f.table().lookup_u32(x), want);
                        for (t, r) in snaps {
                            assert_eq!(t.lookup_u32(x), longest(r, w, a), "snapshot {x:#x}");
                        }
                    }
                    Fib::V6(f, snaps) => {
                        assert_eq!(f.lookup_u128(a), want, "lookup {a:#x}");
                        let mut out = [None];
                        f.table().lookup_burst(&[a], &mut out);
                        assert_eq!(out[0], want, "burst lookup {a:#x}");
                        for (t, r) in snaps {
                            assert_eq!(t.lookup_u128(a), longest(r, w, a), "snapshot {a:#x}");
                        }
                    }
                }
            }
        }
    }
});
