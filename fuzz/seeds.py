#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/seed-*)
from the project's own fixtures: every frame of the golden replays' input
captures (tests/golden/**/<port>-in.pcap), the shipped and test configs,
control requests and the GTP-U wire vectors. Run by fuzz/run.sh; needs only the Python standard
library."""
import glob
import hashlib
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
PORTS = {"west": 0, "east": 1}


def pcap_frames(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        out.append(data[off:off + incl])
        off += incl
    return out


def put(target, blob):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(blob).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def record(port, frame):
    return bytes([port]) + struct.pack("<H", len(frame)) + frame


def main():
    n = 0
    for pcap in sorted(glob.glob(os.path.join(ROOT, "tests", "golden", "**", "*-in.pcap"), recursive=True)):
        port = PORTS.get(os.path.basename(pcap).split("-")[0], 2)
        frames = pcap_frames(pcap)
        l2 = "/l2fwd/" in pcap
        burst = b""
        for fr in frames:
            n += 1
            burst += record(port, fr)
            if l2:
                put("l2fwd_burst", record(port, fr))
                continue
            put("router_frame", bytes([port]) + fr)
            # wire: the frame at each layer for the parsers that fit it
            put("wire", bytes([0]) + fr)
            et = fr[12:14] if len(fr) >= 14 else b""
            body = fr[14:]
            if et == b"\x81\x00" and len(fr) >= 18:
                et, body = fr[16:18], fr[18:]
            if et == b"\x08\x06":
                put("wire", bytes([1]) + body)
            elif et == b"\x08\x00" and len(body) >= 20:
                put("wire", bytes([2]) + body)
                ihl = (body[0] & 15) * 4
                l4 = body[ihl:]
                sel = {1: 4, 17: 6, 6: 7, 4: 2, 41: 3}.get(body[9])
                if sel is not None:
                    put("wire", bytes([sel]) + l4)
            elif et == b"\x86\xdd" and len(body) >= 40:
                put("wire", bytes([3]) + body)
                l4 = body[40:]
                sel = {58: 5, 17: 6, 6: 7, 4: 2, 41: 3}.get(body[6])
                if sel is not None:
                    put("wire", bytes([sel]) + l4)
                if body[6] == 58 and l4:
                    ndp = {135: 8, 136: 9, 134: 10, 133: 10}.get(l4[0])
                    if ndp is not None:
                        put("wire", bytes([ndp]) + l4)
                        put("wire", bytes([11]) + l4[24 if ndp in (8, 9) else 16 if ndp == 10 else 8:])
        if burst:
            put("l2fwd_burst" if l2 else "router_burst", burst)
    for cfg in sorted(glob.glob(os.path.join(ROOT, "configs", "*.toml"))
                      + glob.glob(os.path.join(ROOT, "tests", "golden", "**", "config.toml"), recursive=True)
                      + glob.glob(os.path.join(ROOT, "tests", "bad-configs", "*.toml"))):
        with open(cfg, "rb") as f:
            put("config", f.read())
    for req in [b"stats", b"ping", b"drop-reasons", b'{"cmd":"route-list"}',
                b'{"cmd":"route-add","prefix":"10.9.0.0/16","via":"10.0.1.2"}',
                b'{"cmd":"route-del","prefix":"10.9.0.0/16"}',
                b'{"cmd":"route-add","prefix":"2001:db8:77::/48","kind":"blackhole"}',
                b'{"cmd":"neigh"}', b'{"cmd":"tunnel-list"}',
                b'{"cmd":"tunnel-del","name":"t44"}',
                b'{"cmd":"tunnel-add","name":"t9","kind":"4in4","local":"192.168.0.1","remote":"192.168.0.9"}']:
        put("control", req)
    # GTP-U messages scapy built (tests/golden/gtpu/wire_vectors.json),
    # for the wire target's GTP-U parser (selector 12).
    vec = os.path.join(ROOT, "tests", "golden", "gtpu", "wire_vectors.json")
    if os.path.exists(vec):
        import json
        with open(vec) as f:
            for v in json.load(f):
                put("wire", bytes([12]) + bytes.fromhex(v["hex"]))
    # gtpu: sessions changed between bursts of uplink and downlink traffic
    # (see fuzz_targets/gtpu.rs for the operations).
    up = lambda flags, teid, kind, n, chain=b"": bytes([3, flags, teid, len(chain)]) + chain + bytes([n, kind]) + bytes(range(n))
    down = lambda fam, ue, n: bytes([4, fam, ue]) + struct.pack(">H", n)
    add = lambda op, sid, teid, flags, ue: bytes([op, sid, teid, flags, ue, 0x12, 0x34, 9, 0, 10, 0, 0, 0, 0])
    psc_chain = bytes([1, 0x10, 5, 0x21, 2, 1, 2, 3, 4, 5, 6, 0])
    for seq in [
        up(0, 1, 8, 20) + down(0, 2, 100) + b"\x05",
        up(0x84, 2, 1, 30) + down(1, 0x47, 60) + b"\x05",
        up(0x07, 1, 8, 16, psc_chain) + up(0x04, 1, 8, 16, bytes([1, 0, 0, 0xC1, 1, 0, 0, 0])) + b"\x05",
        add(0, 3, 3, 2 | 16, 4) + up(0, 3, 16, 20) + down(0, 4, 64) + b"\x05"
        + add(1, 3, 4, 2 | 4 | 8 | 32, 4) + up(0, 3, 16, 20) + up(0, 4, 16, 20) + b"\x05"
        + bytes([2, 3]) + up(0, 4, 16, 20) + b"\x05",
        up(0x40, 9, 3, 40) + up(0x01, 200, 2, 10) + b"\x05",
    ]:
        put("gtpu", seq)
    for req in [b'{"cmd":"gtp-session-list"}', b'{"cmd":"gtp-stats"}',
                b'{"cmd":"gtp-session-add","id":9,"teid":2304,"peer":"192.168.0.2","peer_teid":5,"ue4":"10.45.0.9"}',
                b'{"cmd":"gtp-session-del","id":1}', b'{"cmd":"gtp-session-show","id":2}']:
        put("control", req)
    put("control", b'{"cmd":"gtp-peers"}')
    put("control", b'{"cmd":"pfcp-associations"}')
    # PFCP: datagrams (length, source byte, bytes): setup, heartbeat, a
    # session establishment, update, release, a stray response.
    def pfcp(t, seq, ies, seid=None):
        body = b"".join(struct.pack("!HH", ty, len(v)) + v for ty, v in ies)
        rest = (struct.pack("!Q", seid) if seid is not None else b"") + seq.to_bytes(3, "big") + b"\0" + body
        return bytes([0x21 if seid is not None else 0x20, t]) + struct.pack("!H", len(rest)) + rest
    node, rts = (60, bytes([0, 127, 0, 0, 1])), (96, struct.pack("!I", 1000))
    fseid = (57, bytes([2]) + struct.pack("!Q", 9) + bytes([127, 0, 0, 1]))
    def grp(*ies):
        return b"".join(struct.pack("!HH", ty, len(v)) + v for ty, v in ies)
    u32 = lambda x: struct.pack("!I", x)
    ue = lambda dst: bytes([0x02 | (0x04 if dst else 0), 10, 45, 0, 2])
    pdr_ul = (1, grp((56, b"\0\1"), (29, u32(200)),
                     (2, grp((20, b"\0"), (21, b"\x05"), (22, b"\x08internet"), (93, ue(False)))),
                     (95, b"\0"), (108, u32(1)), (109, u32(1)), (81, u32(1))))
    pdr_dl = (1, grp((56, b"\0\2"), (29, u32(200)),
                     (2, grp((20, b"\1"), (93, ue(True)),
                             (23, b"\x01\0\0\x25permit out ip from any to assigned"))),
                     (108, u32(2)), (109, u32(1)), (81, u32(1))))
    ohc = lambda teid, last: b"\x01\0" + u32(teid) + bytes([192, 0, 2, last])
    far_ul = (3, grp((108, u32(1)), (44, b"\x02"), (4, grp((42, b"\1")))))
    far_dl = (3, grp((108, u32(2)), (44, b"\x02"), (4, grp((42, b"\0"), (84, ohc(0x1001, 99))))))
    qer = (7, grp((109, u32(1)), (25, b"\0"), (26, b"\0\0\1\x86\xa0" * 2), (124, b"\x09")))
    urr = (6, grp((81, u32(1)), (62, b"\x03"), (37, b"\x07\x01"), (64, u32(1)),
                  (31, b"\x01" + struct.pack("!Q", 500)), (32, u32(1)), (73, b"\x01" + struct.pack("!Q", 5000))))
    est = pfcp(50, 3, [node, fseid, pdr_ul, pdr_dl, far_ul, far_dl, qer, urr], seid=0)
    upd_far = (10, grp((108, u32(2)), (44, b"\x02"), (11, grp((84, ohc(0x2002, 98))))))
    idle = (10, grp((108, u32(2)), (44, b"\x0c")))
    query = (77, grp((81, u32(1))))
    mods = [pfcp(52, 10, [upd_far, (49, b"\x02"), query], seid=1), pfcp(52, 11, [idle], seid=1),
            pfcp(52, 12, [(16, grp((108, u32(9)))), (17, grp((81, u32(1)))), (49, b"\x05")], seid=1)]
    msgs = [pfcp(5, 1, [node, rts]), pfcp(1, 2, [rts]), pfcp(50, 3, [node, fseid], seid=0), est, *mods,
            pfcp(54, 20, [], seid=1), pfcp(7, 4, [node]), pfcp(9, 5, [node]), pfcp(2, 1, [rts]),
            pfcp(57, 7, [(19, b"\x01")], seid=9)]
    rec = lambda i, m: struct.pack("!H", len(m)) + bytes([(i * 5) & 0xFF]) + m
    put("pfcp", b"".join(rec(i, m) for i, m in enumerate(msgs)))
    put("pfcp", rec(0, msgs[0]) + rec(1, est) + b"".join(rec(0xFC, b"") for _ in range(8)) + rec(2, mods[1]))
    # Per-flow rules: a SIP PDR with its own QER (QFI 1) and a telnet PDR
    # that drops, beside the default downlink PDR; then the SIP PDR removed.
    fd = lambda d: (23, b"\x01\0" + struct.pack("!H", len(d)) + d)
    pdr_sip = (1, grp((56, b"\0\3"), (29, u32(100)),
                      (2, grp((20, b"\1"), (93, ue(True)), fd(b"permit out 17 from 198.51.100.0/24 5060 to assigned"))),
                      (108, u32(2)), (109, u32(2)), (81, u32(1))))
    pdr_tel = (1, grp((56, b"\0\4"), (29, u32(150)),
                      (2, grp((20, b"\1"), (93, ue(True)), fd(b"permit out 6 from any 23,2323 to assigned"))),
                      (108, u32(3)), (81, u32(1))))
    far_drop = (3, grp((108, u32(3)), (44, b"\x01")))
    qer_sip = (7, grp((109, u32(2)), (25, b"\0"), (124, b"\x01")))
    est_sdf = pfcp(50, 30, [node, fseid, pdr_ul, pdr_dl, pdr_sip, pdr_tel, far_ul, far_dl, far_drop, qer, qer_sip, urr], seid=0)
    rm_sip = pfcp(52, 31, [(15, grp((56, b"\0\3")))], seid=1)
    put("pfcp", rec(0, msgs[0]) + rec(1, est_sdf) + rec(2, rm_sip) + rec(3, pfcp(54, 32, [], seid=1)))
    # nat64: Jool's SIIT vectors (read in place from ../shared: GPL-2.0 test
    # data, never copied into the project; the corpus is not committed),
    # one record per packet, sides and steering as fuzz_targets/nat64.rs
    # reads them; without the data set, a few built here.
    jool = os.environ.get("XGW_JOOL_DIR", os.path.join(ROOT, "..", "shared", "conformance", "jool"))
    pkts = sorted(glob.glob(os.path.join(jool, "pkt", "siit", "**", "*.pkt"), recursive=True))
    if not pkts:
        ip6 = bytes.fromhex("6000000000081140") + bytes(16) + bytes(16) + bytes.fromhex("0001000200080000")
        ip4 = bytes.fromhex("4500001c0001000040110000") + bytes(8) + bytes.fromhex("0001000200080000")
        pkts_data = [ip6, ip4]
    else:
        pkts_data = [open(p, "rb").read() for p in pkts]
    # (First byte: 0 = the SIIT rig; 1 = the stateful NAT64 rig, fed
    # the NAT64 vectors.)
    npkts = sorted(glob.glob(os.path.join(jool, "pkt", "nat64", "**", "*.pkt"), recursive=True))
    for rig, blobs in ((0, pkts_data), (1, [open(p, "rb").read() for p in npkts] or pkts_data)):
        for b in blobs:
            side = 0 if b[0] >> 4 == 6 else 1
            put("nat64", bytes([rig, side | 8]) + struct.pack("<H", len(b)) + b)
        put("nat64", bytes([rig]) + b"".join(bytes([(0 if b[0] >> 4 == 6 else 1) | 8])
                                              + struct.pack("<H", len(b)) + b for b in blobs[:8]))
    # fib: route changes and lookups (fuzz_targets/fib.rs: first byte =
    # family and group budget; each op = op, base, depth, 2 flip bytes,
    # then a length or route index): NAT64's /96 (a long one-child
    # chain), a lookup inside it, a snapshot, a /56 branching off the
    # chain, lookups, the /96's removal, lookups again.
    def fib_op(op, pick, at, flip, extra=None):
        return bytes([op, pick, at]) + struct.pack(">H", flip) + (bytes([extra]) if extra is not None else b"")
    for first in (40, 41):
        put("fib", bytes([first]) + fib_op(0, 0, 0, 0, 96) + fib_op(4, 0, 100, 0x0102)
            + fib_op(3, 0, 0, 0) + fib_op(1, 0, 40, 1, 56) + fib_op(4, 0, 40, 1)
            + fib_op(4, 0, 100, 0x0102) + fib_op(2, 0, 0, 0, 0) + fib_op(4, 0, 100, 0x0102)
            + fib_op(4, 1, 8, 0xffff))
    # ... and a chain that goes while the group at its top stays (a /24
    # leaf beside it): the top's jump must go too, or a lookup there would
    # follow it into groups that fd00::/120 then reuses.
    put("fib", bytes([40]) + fib_op(0, 0, 0, 0, 96) + fib_op(0, 0, 8, 0x0065, 24)
        + fib_op(4, 0, 100, 0x0102) + fib_op(2, 0, 0, 0, 0) + fib_op(4, 0, 100, 0x0102)
        + fib_op(1, 3, 0, 0, 120) + fib_op(4, 0, 0, 0) + fib_op(4, 3, 0, 0))
    # Inputs that once found a bug (fuzz/regressions/TARGET/): always seeds.
    for path in sorted(glob.glob(os.path.join(ROOT, "fuzz", "regressions", "*", "*"))):
        with open(path, "rb") as f:
            put(os.path.basename(os.path.dirname(path)), f.read())
    print(f"fuzz seeds: {n} frames from the golden captures into {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
