//! What the golden replay tests share: a pcap reader, frame-by-frame
//! comparison with a hex window around the first difference, and the
//! tshark check (checksum validation on; malformed frames, checksum
//! complaints and expert items of warning severity or worse are problems).
//! tshark is required: `tshark_present` fails the test without it.
#![allow(dead_code)]

pub mod cases;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One pcap record: timestamp (ns) and bytes.
#[derive(PartialEq, Eq)]
pub struct Rec {
    pub ts_ns: u64,
    pub data: Vec<u8>,
}

/// A minimal pcap reader (either byte order, µs or ns timestamps).
pub fn read_pcap(path: &Path) -> Vec<Rec> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(b.len() >= 24, "{}: no pcap header", path.display());
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        m => panic!("{}: not a pcap file (magic {m:#x})", path.display()),
    };
    let u32_at = |o: usize| {
        let w: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    assert_eq!(
        u32_at(20),
        1,
        "{}: link type is not Ethernet",
        path.display()
    );
    let mut out = Vec::new();
    let mut o = 24;
    while o < b.len() {
        assert!(
            o + 16 <= b.len(),
            "{}: truncated record header",
            path.display()
        );
        let (sec, frac, incl) = (
            u32_at(o) as u64,
            u32_at(o + 4) as u64,
            u32_at(o + 8) as usize,
        );
        let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        o += 16;
        assert!(o + incl <= b.len(), "{}: truncated record", path.display());
        out.push(Rec {
            ts_ns,
            data: b[o..o + incl].to_vec(),
        });
        o += incl;
    }
    out
}

pub fn hex_window(d: &[u8], at: usize) -> String {
    let start = at.saturating_sub(16) & !15;
    let end = (start + 48).min(d.len());
    let mut s = String::new();
    for line in (start..end).step_by(16) {
        let _ = write!(s, "\n      {line:04x}:");
        for (i, b) in d.iter().enumerate().take((line + 16).min(end)).skip(line) {
            let mark = if i == at { '>' } else { ' ' };
            let _ = write!(s, "{mark}{b:02x}");
        }
    }
    s
}

/// Describes how frame `i` differs, or None if it does not.
pub fn frame_diff(i: usize, got: &Rec, want: &Rec) -> Option<String> {
    if got == want {
        return None;
    }
    let mut s = format!("  frame {} (1-based, as tshark numbers it):", i + 1);
    if got.ts_ns != want.ts_ns {
        let _ = write!(
            s,
            "\n    timestamp {} ns, expected {} ns",
            got.ts_ns, want.ts_ns
        );
    }
    if got.data != want.data {
        let first = got
            .data
            .iter()
            .zip(&want.data)
            .position(|(a, b)| a != b)
            .unwrap_or(got.data.len().min(want.data.len()));
        let _ = write!(
            s,
            "\n    {} bytes, expected {}; first difference at offset {first} ({first:#x})\n    got:{}\n    expected:{}",
            got.data.len(),
            want.data.len(),
            hex_window(&got.data, first),
            hex_window(&want.data, first)
        );
    }
    Some(s)
}

/// Compares a whole capture; returns the problems found.
pub fn compare(what: &str, got: &[Rec], want: &[Rec]) -> Vec<String> {
    let mut errs = Vec::new();
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if let Some(d) = frame_diff(i, g, w) {
            errs.push(format!("{what}:\n{d}"));
        }
    }
    if got.len() != want.len() {
        let extra = if got.len() > want.len() {
            format!(
                "first unexpected frame: {} bytes{}",
                got[want.len()].data.len(),
                hex_window(&got[want.len()].data, 0)
            )
        } else {
            format!(
                "first missing frame: {} bytes{}",
                want[got.len()].data.len(),
                hex_window(&want[got.len()].data, 0)
            )
        };
        errs.push(format!(
            "{what}: {} frames, expected {}; {extra}",
            got.len(),
            want.len()
        ));
    }
    errs
}

/// Runs tshark over `pcap` with checksum validation on and returns one
/// line per frame that is malformed, has a checksum complaint, or any
/// expert item of severity warning or error.
pub fn tshark_problems(pcap: &Path) -> Vec<String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args(["-o", "udp.check_checksum:TRUE"])
        .args([
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "separator=\t",
            "-E",
            "aggregator=|",
        ])
        .args([
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.severity",
            "-e",
            "_ws.expert.group",
        ])
        .args([
            "-e",
            "_ws.expert.message",
            "-e",
            "_ws.malformed",
            "-e",
            "frame.protocols",
        ])
        .output()
        .unwrap_or_else(|e| panic!("running tshark: {e}"));
    assert!(
        out.status.success(),
        "tshark -r {} failed: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // epan/proto.h: severity PI_WARN = 0x00600000, PI_ERROR = 0x00800000;
    // groups PI_CHECKSUM = 0x01000000, PI_MALFORMED = 0x07000000.
    const PI_WARN: u64 = 0x0060_0000;
    const PI_CHECKSUM: u64 = 0x0100_0000;
    const PI_MALFORMED: u64 = 0x0700_0000;
    let mut bad = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let nums = |s: Option<&&str>| -> Vec<u64> {
            s.map(|s| s.split('|').filter_map(|x| x.trim().parse().ok()).collect())
                .unwrap_or_default()
        };
        let sev = nums(f.get(1));
        let grp = nums(f.get(2));
        let malformed = f.get(4).is_some_and(|s| !s.is_empty());
        if malformed
            || sev.iter().any(|&s| s >= PI_WARN)
            || grp.iter().any(|&g| g == PI_CHECKSUM || g == PI_MALFORMED)
        {
            bad.push(format!(
                "  frame {}: {} [{}]",
                f.first().unwrap_or(&"?"),
                f.get(3).unwrap_or(&""),
                f.get(5).unwrap_or(&"")
            ));
        }
    }
    bad
}

pub fn tshark_present() {
    match Command::new("tshark").arg("-v").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "tshark is not on PATH: the golden tests need it to dissect xgw's output \
             (install it: apt-get install tshark, or run tests/run.sh which does)"
        ),
    }
}

/// A little-endian pcap file (Ethernet) holding `frames`.
pub fn write_pcap<F: AsRef<[u8]>>(path: &Path, frames: &[F]) {
    let mut out = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = f.as_ref().len() as u32;
        for w in [1_700_000_000 + i as u32, 0, len, len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(f.as_ref());
    }
    std::fs::write(path, out).unwrap();
}
