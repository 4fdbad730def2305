//! GTP-U under fire: G-PDUs whose header flags, extension-header chain and
//! inner packet come from the input, downlink packets to the UE pools,
//! and session add / modify / delete (through the control commands, as
//! `xgw gtp session ...` sends them) interleaved with the traffic, in
//! bursts. Same checks as `router_frame` after every burst (no panic,
//! exact accounting, every frame sent well-formed), and every control
//! answer is a session or a clear error.
//!
//! Input: a sequence of operations, each an opcode byte then its bytes:
//! 0 add, 1 modify (13 bytes of session fields; opcode bit 6: with
//! `end_marker`), 2 delete (1 byte; bit 7: with `end_marker`),
//! 3 uplink G-PDU (flags, TEID choice, outer family, chain length and
//! bytes, inner length and bytes), 4 downlink packet (family, UE choice,
//! length), 5 run the burst so far.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use xgw_fuzz::{In, Rig};

thread_local! {
    static RIG: RefCell<Rig> = RefCell::new(Rig::router());
}

/// West (data network), east (radio side).
const WEST: usize = 0;
const EAST: usize = 1;
const XGW_WEST: [u8; 6] = [2, 0, 0, 0, 0x0a, 1];
const XGW_EAST: [u8; 6] = [2, 0, 0, 0, 0x0b, 1];
const PEER: [u8; 6] = [2, 0, 0, 0, 0x0b, 2];
const HOST: [u8; 6] = [2, 0, 0, 0, 0x0a, 2];

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
    let len = (20 + payload.len()) as u16;
    h[2..4].copy_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut s: u32 = 0;
    for w in h.chunks(2) {
        s += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    h[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(src: [u8; 16], dst: [u8; 16], nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn frame(dst: [u8; 6], src: [u8; 6], v6: bool, l3: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + l3.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
    f.extend_from_slice(l3);
    f
}

/// A UE address of the pools (a few of them, so sessions and traffic
/// meet).
fn ue4(b: u8) -> [u8; 4] {
    [10, 45, 0, b % 8]
}

fn ue6(b: u8) -> [u8; 16] {
    let mut a = v6("2001:db8:45::");
    a[7] = b % 4;
    a[15] = b >> 6;
    a
}

fn session(inp: &mut In<'_>, cmd: &str) -> Option<Value> {
    let id = u64::from(inp.u8()? % 8);
    let teid = u32::from(inp.u8()? % 8) << 8;
    let flags = inp.u8()?;
    let ue = inp.u8()?;
    let peer_teid = u32::from(inp.u16()?);
    let qfi = inp.u8()?;
    let mbr = u64::from(inp.u16()?) * 1000;
    let gates = inp.u8()?;
    let _ = inp.take(3);
    let mut v = json!({
        "cmd": cmd, "id": id, "teid": teid, "peer_teid": peer_teid,
        "peer": if flags & 1 == 0 { "192.168.0.2" } else { "fd00::2" },
    });
    if flags & 2 != 0 {
        v["ue4"] = json!(std::net::Ipv4Addr::from(ue4(ue)).to_string());
    }
    if flags & 4 != 0 {
        let a = std::net::Ipv6Addr::from(ue6(ue));
        v["ue6"] = if flags & 8 != 0 {
            let mut p = a.octets();
            p[8..].fill(0);
            json!(format!("{}/64", std::net::Ipv6Addr::from(p)))
        } else {
            json!(format!("{a}/128"))
        };
    }
    if flags & 16 != 0 {
        v["qfi"] = json!(qfi);
    }
    if flags & 32 != 0 {
        v["mbr_ul"] = json!(mbr);
        v["mbr_dl"] = json!(mbr);
    }
    if flags & 64 != 0 {
        v["gate_ul"] = json!(if gates & 1 == 0 { "open" } else { "closed" });
        v["gate_dl"] = json!(if gates & 2 == 0 { "open" } else { "closed" });
    }
    if flags & 128 != 0 {
        // A field the control side must refuse with an error.
        v["local"] = json!("192.0.2.99");
    }
    Some(v)
}

fn control(r: &mut Rig, cmd: &str, req: &Value) {
    let f = r.function.as_mut().expect("the router's control state");
    let a = f.answer(cmd, req);
    assert!(
        a.get("session").is_some() || a.get("error").and_then(Value::as_str).is_some(),
        "{cmd}: neither a session nor an error: {a}"
    );
}

fn gpdu(inp: &mut In<'_>) -> Option<(bool, Vec<u8>)> {
    let flags = inp.u8()?;
    let teid = match inp.u8()? {
        t @ 0..=7 => u32::from(t) << 8,
        t => u32::from(t) << 16 | 0xbeef,
    };
    let outer_v6 = flags & 0x80 != 0;
    let chain_len = usize::from(inp.u8()? % 48);
    let chain = inp.take(chain_len).to_vec();
    let inner_len = usize::from(inp.u8()?);
    let kind = inp.u8()?;
    let body = inp.take(inner_len).to_vec();
    // The inner packet: IPv4 or IPv6 from a UE (or anywhere), or raw bytes.
    let inner = match kind % 4 {
        0 => ipv4(ue4(kind >> 2), [198, 51, 100, 7], 17, &body),
        1 => ipv6(ue6(kind >> 2), v6("2001:db8:100::1"), 17, &body),
        2 => ipv4([10, 99, 0, kind], [10, 45, 0, 2], 1, &body),
        _ => body,
    };
    // GTP-U: version 1, PT 1, E/S/PN from the input; optional fields and
    // the chain as given (lengths may lie: that is the point).
    let mut g = vec![0x30 | (flags & 0x07), 255, 0, 0];
    g.extend_from_slice(&teid.to_be_bytes());
    if flags & 0x07 != 0 {
        g.extend_from_slice(&[0, 1, 0, if flags & 0x04 != 0 { 0x85 } else { 0 }]);
    }
    g.extend_from_slice(&chain);
    g.extend_from_slice(&inner);
    let glen = if flags & 0x40 != 0 {
        u16::from(flags) << 4
    } else {
        (g.len() - 8) as u16
    };
    g[2..4].copy_from_slice(&glen.to_be_bytes());
    let mut udp = vec![0x08, 0x68, 0x08, 0x68, 0, 0, 0, 0];
    udp[4..6].copy_from_slice(&((8 + g.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&g);
    if outer_v6 {
        // Mandatory over IPv6 (and checked by xgw); flags bit 0x08 leaves
        // it wrong.
        let (s, d) = (v6("fd00::2"), v6("fd00::1"));
        let mut sum: u32 = 17 + udp.len() as u32;
        for w in s.chunks(2).chain(d.chunks(2)).chain(udp.chunks(2)) {
            sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let c = !(sum as u16) ^ if flags & 0x08 != 0 { 0x0100 } else { 0 };
        udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    }
    let l3 = if outer_v6 {
        ipv6(v6("fd00::2"), v6("fd00::1"), 17, &udp)
    } else {
        ipv4([192, 168, 0, 2], [192, 168, 0, 1], 17, &udp)
    };
    Some((outer_v6, frame(XGW_EAST, PEER, outer_v6, &l3)))
}

fn downlink(inp: &mut In<'_>) -> Option<(bool, Vec<u8>)> {
    let fam = inp.u8()?;
    let ue = inp.u8()?;
    let len = usize::from(inp.u16()? % 1600);
    let body = vec![ue; len];
    let v6f = fam & 1 != 0;
    let l3 = if v6f {
        ipv6(v6("2001:db8:a::2"), ue6(ue), 17, &body)
    } else {
        ipv4([10, 0, 0, 2], ue4(ue), 17, &body)
    };
    Some((v6f, frame(XGW_WEST, HOST, v6f, &l3)))
}

fuzz_target!(|data: &[u8]| {
    RIG.with(|r| {
        let mut r = r.borrow_mut();
        let mut inp = In(data);
        let mut pending = false;
        let mut ops = 0;
        while let Some(op) = inp.u8() {
            ops += 1;
            if ops > 256 {
                break;
            }
            match op % 6 {
                0 | 1 => {
                    let cmd = if op % 6 == 0 {
                        "gtp-session-add"
                    } else {
                        "gtp-session-mod"
                    };
                    let Some(mut req) = session(&mut inp, cmd) else {
                        break;
                    };
                    // (End Markers on path switches; refused on an add.)
                    req["end_marker"] = json!(op & 0x40 != 0);
                    control(&mut r, cmd, &req);
                }
                2 => {
                    let Some(id) = inp.u8() else { break };
                    control(
                        &mut r,
                        "gtp-session-del",
                        &json!({"cmd": "gtp-session-del", "id": id % 8, "end_marker": id & 0x80 != 0}),
                    );
                }
                3 => {
                    let Some((_, f)) = gpdu(&mut inp) else { break };
                    pending |= r.inject(EAST, &f);
                }
                4 => {
                    let Some((_, f)) = downlink(&mut inp) else { break };
                    pending |= r.inject(WEST, &f);
                }
                _ => {
                    if pending {
                        r.run();
                        pending = false;
                    }
                }
            }
        }
        if pending {
            r.run();
        }
    });
});
