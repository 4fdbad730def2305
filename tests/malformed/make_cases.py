#!/usr/bin/python3
"""Writes tests/malformed/cases.jsonl: the malformed-input table that
tests/tests/malformed.rs replays through `xgw replay`, one row per frame.

Each row: name, config (relative to tests/), port (ingress), frame (hex,
Ethernet first), and expect: either {"drop": "<reason>"} (dropped under
exactly that reason, nothing sent) or {"out": "<port>", "kind": "<kind>"}
(exactly one frame sent, on that port, of that kind) or {"local": true}
(consumed by xgw, nothing sent, nothing dropped). Kinds:
  "arp-reply", "icmp4 T C", "icmp6 T C" (an error or reply of that ICMP
  type and code), "ip4 P" / "ip6 N" (the packet forwarded, protocol P /
  next header N), "tun <kind>" (an IP-in-IP packet whose inner packet is
  <kind>: a reply sent back into the tunnel).
The expectations come from the RFCs and docs/OPERATIONS.md's drop-reason
table, never from running xgw. To extend the table: add rows below, run
`/usr/bin/python3 tests/malformed/make_cases.py`, commit cases.jsonl.
"""

import json
import logging
import os

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                       ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RS,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, ICMPv6DestUnreach,
                       ICMPv6TimeExceeded, PadN, Raw, raw)
from scapy.layers.inet6 import in6_chksum
from scapy.utils6 import in6_mactoifaceid

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
HERE = os.path.dirname(os.path.abspath(__file__))
R = "malformed/router.toml"
T = "golden/ipip/decap_4in4/config.toml"

# Router config (router.toml): west = lan, east = wan (+ VLAN 100 "vl").
W_MAC, E_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
H_MAC, G_MAC = "02:00:00:00:0a:02", "02:00:00:00:0b:02"  # host on west, gateway on east
US4, H4, US4E = "10.0.0.1", "10.0.0.2", "10.0.1.1"
US6, H6, US6E = "2001:db8:a::1", "2001:db8:a::2", "2001:db8:b::1"
W_LL = "fe80::" + in6_mactoifaceid(W_MAC)
FAR4, FAR6 = "198.51.100.7", "2001:db8:100::7"  # routed via east

rows = []


def add(name, frame, expect, port="west", config=R):
    b = raw(frame) if not isinstance(frame, (bytes, bytearray)) else bytes(frame)
    rows.append({"name": name, "config": config, "port": port, "frame": b.hex(),
                 "expect": expect})


def drop(r):
    return {"drop": r}


def out(port, kind):
    return {"out": port, "kind": kind}


LOCAL = {"local": True}


def e4(src=H_MAC, dst=W_MAC):
    return Ether(src=src, dst=dst, type=0x0800)


def e6(src=H_MAC, dst=W_MAC):
    return Ether(src=src, dst=dst, type=0x86dd)


def ip4(l4, **kw):
    kw.setdefault("src", H4)
    kw.setdefault("dst", US4)
    return IP(**kw) / l4


def fix4(b):
    """Recomputes an IPv4 header's length and checksum over bytes `b`."""
    p = IP(b)
    del p.len, p.chksum
    return raw(p)


def icmp6_raw(src, dst, body, hlim=255, nh_ext=b"", first_nh=58):
    """An IPv6 packet carrying the ICMPv6 bytes `body` (checksum computed
    over exactly those bytes, whatever their length)."""
    body = bytearray(body)
    if len(body) >= 4:
        body[2:4] = b"\0\0"
        c = in6_chksum(58, IPv6(src=src, dst=dst), bytes(body))
        body[2:4] = c.to_bytes(2, "big")
    return IPv6(src=src, dst=dst, hlim=hlim, nh=first_nh) / Raw(nh_ext + bytes(body))


def cut(frame, n):
    return raw(frame)[:n]


# ---- Ethernet and VLAN truncation -----------------------------------------
echo4 = e4() / ip4(ICMP(id=1, seq=1) / b"xgwmalformed")
for n in range(1, 14):
    add(f"eth_cut_{n}", cut(echo4, n), drop("l2.runt"))
tagged = Ether(src=G_MAC, dst=E_MAC) / Dot1Q(vlan=100) / IP(src="10.0.2.2", dst="10.0.2.1") / ICMP()
for n in range(14, 18):
    add(f"vlan_cut_{n}", cut(tagged, n), drop("l2.runt"), port="east")
add("vlan_echo_ok", tagged, out("east", "icmp4 0 0"), port="east")
add("vlan_unknown_vid", Ether(src=G_MAC, dst=E_MAC) / Dot1Q(vlan=200) / IP(src="10.0.2.2", dst="10.0.2.1") / ICMP(),
    drop("l2.no_interface"), port="east")
add("eth_unknown_ethertype", Ether(src=H_MAC, dst=W_MAC, type=0x88b5) / (b"\0" * 46), drop("l2.unknown_ethertype"))
add("eth_other_mac", Ether(src=H_MAC, dst="02:00:00:00:0a:99") / IP(src=H4, dst=FAR4) / UDP(), drop("l2.not_for_us"))
add("eth_ok_echo", echo4, out("west", "icmp4 0 0"))

# ---- ARP: truncation at every byte, bad sender MACs ------------------------
arpq = Ether(src=H_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=H_MAC, psrc=H4, pdst=US4)
add("arp_request_ok", arpq, out("west", "arp-reply"))
for n in range(14, 42):
    add(f"arp_cut_{n}", cut(arpq, n), drop("arp.malformed"))
add("arp_bad_oper", Ether(src=H_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=3, hwsrc=H_MAC, psrc=H4, pdst=US4), drop("arp.malformed"))
add("arp_not_for_us", Ether(src=H_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=H_MAC, psrc=H4, pdst="10.0.0.77"), drop("arp.not_for_us"))
add("arp_reply_ok", Ether(src=H_MAC, dst=W_MAC) / ARP(op=2, hwsrc=H_MAC, psrc=H4, pdst=US4, hwdst=W_MAC), LOCAL)
# RFC 826 would answer to the sender MAC: not to one no station has.
for label, mac in [("zero", "00:00:00:00:00:00"), ("broadcast", "ff:ff:ff:ff:ff:ff"),
                   ("multicast", "01:00:5e:00:00:01"), ("ipv6_mcast", "33:33:00:00:00:01"),
                   ("own_west", W_MAC), ("own_east", E_MAC)]:
    for op in (1, 2):
        add(f"arp_{'request' if op == 1 else 'reply'}_sender_{label}",
            Ether(src=H_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=op, hwsrc=mac, psrc="10.0.0.5", pdst=US4),
            drop("arp.bad_sender_mac"))
    add(f"arp_gratuitous_sender_{label}",
        Ether(src=H_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc="10.0.0.5", pdst="10.0.0.5"),
        drop("arp.bad_sender_mac"))

# ---- IPv4 header: truncation, lying lengths, IHL ---------------------------
for n in range(14, 34):
    add(f"ip4_cut_{n}", cut(echo4, n), drop("ip4.malformed"))
b = bytearray(raw(echo4))


def csum4(x):
    """Rewrites the checksum of the IPv4 header at x[14:34] (IHL ignored:
    the 20 bytes) so that only the field under test is wrong."""
    x[24:26] = b"\0\0"
    s = sum(int.from_bytes(x[i:i + 2], "big") for i in range(14, 34, 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    x[24:26] = (~s & 0xffff).to_bytes(2, "big")
    return bytes(x)


for tl in (0, 1, 19):
    x = bytearray(b)
    x[16:18] = tl.to_bytes(2, "big")
    add(f"ip4_total_len_{tl}", csum4(x), drop("ip4.malformed"))
for extra in (1, 8, 100, 1000):
    x = bytearray(b)
    x[16:18] = (len(b) - 14 + extra).to_bytes(2, "big")
    add(f"ip4_total_len_past_frame_{extra}", csum4(x), drop("ip4.malformed"))
for ihl in range(0, 5):
    x = bytearray(b)
    x[14] = 0x40 | ihl
    add(f"ip4_ihl_{ihl}", csum4(x), drop("ip4.malformed"))
for ihl in (6, 10, 15):
    # IHL larger than the total length (a 20-byte packet).
    p = e4() / IP(src=H4, dst=FAR4, ihl=ihl, len=20, proto=17)
    add(f"ip4_ihl_{ihl}_past_total_len", p, drop("ip4.malformed"))
for ver in (0, 5, 6, 15):
    x = bytearray(b)
    x[14] = (ver << 4) | 5
    add(f"ip4_version_{ver}", csum4(x), drop("ip4.malformed"))
x = bytearray(b)
x[24] ^= 0xff
add("ip4_bad_checksum", bytes(x), drop("ip4.bad_checksum"))

# ---- ICMP / UDP / TCP inside a valid IPv4 header ---------------------------
for n in range(0, 8):
    p = e4() / Raw(fix4(raw(IP(src=H4, dst=US4, proto=1) / raw(ICMP(id=1, seq=1))[:n])))
    add(f"icmp4_cut_{n}", p, drop("icmp.truncated"))
x = bytearray(b)
x[36] ^= 0xff
add("icmp4_bad_checksum", bytes(x), drop("icmp.bad_checksum"))
for n in range(0, 8):
    p = e4() / Raw(fix4(raw(IP(src=H4, dst=US4, proto=17) / raw(UDP(sport=1, dport=9))[:n])))
    add(f"udp4_to_us_cut_{n}", p, drop("udp.truncated"))
add("udp4_to_us_port_unreach", e4() / ip4(UDP(sport=1, dport=9) / b"x"), out("west", "icmp4 3 3"))
u = UDP(sport=1, dport=9) / b"x"
u.chksum = 0
add("udp4_to_us_zero_checksum", e4() / ip4(u), out("west", "icmp4 3 3"))  # RFC 768: 0 = none
for n in (0, 4, 19):
    p = e4() / Raw(fix4(raw(IP(src=H4, dst=US4, proto=6) / raw(TCP(dport=22))[:n])))
    add(f"tcp4_to_us_cut_{n}", p, drop("local.no_service"))
for n in (0, 4, 19):
    # A router does not look at what it forwards.
    p = e4() / Raw(fix4(raw(IP(src=H4, dst=FAR4, proto=6, ttl=9) / raw(TCP(dport=22))[:n])))
    add(f"tcp4_forwarded_cut_{n}", p, out("east", "ip4 6"))
    p = e4() / Raw(fix4(raw(IP(src=H4, dst=FAR4, proto=17, ttl=9) / raw(UDP(dport=53))[:n])))
    add(f"udp4_forwarded_cut_{n}", p, out("east", "ip4 17"))
add("ip4_proto_unknown_to_us", e4() / ip4(Raw(b"abcd"), proto=200), out("west", "icmp4 3 2"))

# ---- TTL ----------------------------------------------------------------
for ttl in (0, 1):
    add(f"ip4_ttl_{ttl}_forwarded", e4() / IP(src=H4, dst=FAR4, ttl=ttl) / UDP(dport=53), out("west", "icmp4 11 0"))
    add(f"ip4_ttl_{ttl}_to_us", e4() / ip4(ICMP(), ttl=ttl), out("west", "icmp4 0 0"))
    add(f"ip6_hlim_{ttl}_forwarded", e6() / IPv6(src=H6, dst=FAR6, hlim=ttl) / UDP(dport=53), out("west", "icmp6 3 0"))
    add(f"ip6_hlim_{ttl}_to_us", e6() / IPv6(src=H6, dst=US6, hlim=ttl) / ICMPv6EchoRequest(), out("west", "icmp6 129 0"))
add("ip4_ttl_2_forwarded", e4() / IP(src=H4, dst=FAR4, ttl=2) / UDP(dport=53), out("east", "ip4 17"))
add("ip6_hlim_2_forwarded", e6() / IPv6(src=H6, dst=FAR6, hlim=2) / UDP(dport=53), out("east", "ip6 17"))

# ---- ICMP errors quoting ICMP errors (RFC 1812 §4.3.2.7, RFC 4443 §2.4(e))
quoted4 = IP(src=FAR4, dst=H4) / ICMP(type=3, code=1) / IP(src=H4, dst=FAR4) / UDP()
add("icmp4_error_about_error_ttl1", e4() / IP(src=H4, dst=FAR4, ttl=1) / ICMP(type=3, code=3) / quoted4, drop("icmp.suppressed"))
add("icmp4_error_about_error_unreachable", e4() / IP(src=H4, dst="192.0.2.9") / ICMP(type=11, code=0) / quoted4, drop("icmp.suppressed"))
add("icmp4_error_about_error_forwarded", e4() / IP(src=H4, dst=FAR4) / ICMP(type=3, code=3) / quoted4, out("east", "ip4 1"))
add("icmp4_error_about_error_to_us", e4() / IP(src=H4, dst=US4) / ICMP(type=3, code=3) / quoted4, LOCAL)
add("icmp4_echo_to_unreachable", e4() / IP(src=H4, dst="192.0.2.9") / ICMP(), out("west", "icmp4 3 1"))
add("icmp4_to_blackhole", e4() / IP(src=H4, dst="203.0.113.9") / ICMP(), drop("route.blackhole"))
quoted6 = IPv6(src=FAR6, dst=H6) / ICMPv6DestUnreach() / IPv6(src=H6, dst=FAR6) / UDP()
add("icmp6_error_about_error_hlim1", e6() / IPv6(src=H6, dst=FAR6, hlim=1) / ICMPv6DestUnreach(code=4) / quoted6, drop("icmp.suppressed"))
add("icmp6_error_about_error_unreachable", e6() / IPv6(src=H6, dst="2001:db8:bad::9") / ICMPv6TimeExceeded() / quoted6, drop("icmp.suppressed"))
add("icmp6_error_about_error_forwarded", e6() / IPv6(src=H6, dst=FAR6) / ICMPv6DestUnreach(code=4) / quoted6, out("east", "ip6 58"))
add("icmp6_error_about_error_to_us", e6() / IPv6(src=H6, dst=US6) / ICMPv6DestUnreach(code=4) / quoted6, LOCAL)
add("icmp6_echo_to_unreachable", e6() / IPv6(src=H6, dst="2001:db8:bad::9") / ICMPv6EchoRequest(), out("west", "icmp6 1 6"))
add("icmp6_to_blackhole", e6() / IPv6(src=H6, dst="2001:db8:dead::9") / ICMPv6EchoRequest(), drop("route.blackhole"))

# ---- Fragments -----------------------------------------------------------
frag_cases = [("first", 0, "MF"), ("middle", 1, "MF"), ("tiny_offset1", 1, 0), ("last", 185, 0),
              ("overlap_a", 0, "MF"), ("overlap_b", 2, "MF")]
for nm, off, fl in frag_cases:
    add(f"ip4_frag_{nm}_to_us", e4() / IP(src=H4, dst=US4, proto=1, frag=off, flags=fl) / Raw(b"\x08\0\0\0" + b"z" * 20), drop("local.fragment"))
    # Routers forward fragments as they are (no reassembly; RFC 1812).
    add(f"ip4_frag_{nm}_forwarded", e4() / IP(src=H4, dst=FAR4, proto=6, frag=off, flags=fl) / Raw(b"t" * 24), out("east", "ip4 6"))
add("ip4_frag_tiny_1byte", e4() / IP(src=H4, dst=FAR4, proto=6, flags="MF") / Raw(b"t"), out("east", "ip4 6"))
add("ip4_frag_ttl1_nonfirst", e4() / IP(src=H4, dst=FAR4, proto=17, frag=5, ttl=1) / Raw(b"u" * 8), drop("icmp.suppressed"))
add("ip4_frag_ttl1_first", e4() / IP(src=H4, dst=FAR4, proto=17, flags="MF", ttl=1) / Raw(b"u" * 8), out("west", "icmp4 11 0"))
for nm, off, m in [("first", 0, 1), ("middle", 3, 1), ("last", 9, 0), ("atomic", 0, 0), ("overlap", 1, 1)]:
    add(f"ip6_frag_{nm}_to_us", e6() / IPv6(src=H6, dst=US6) / IPv6ExtHdrFragment(offset=off, m=m, id=7, nh=58) / Raw(b"\x80\0\0\0" + b"z" * 12), drop("local.fragment"))
    add(f"ip6_frag_{nm}_forwarded", e6() / IPv6(src=H6, dst=FAR6) / IPv6ExtHdrFragment(offset=off, m=m, id=7, nh=17) / Raw(b"u" * 16), out("east", "ip6 44"))
add("ip6_frag_tiny_no_upper", e6() / IPv6(src=H6, dst=FAR6) / IPv6ExtHdrFragment(offset=0, m=1, id=9, nh=6), out("east", "ip6 44"))

# ---- IPv6 header and extension headers ----------------------------------
echo6 = e6() / IPv6(src=H6, dst=US6) / ICMPv6EchoRequest(id=1, seq=1, data=b"xgwmalformed")
add("ip6_echo_ok", echo6, out("west", "icmp6 129 0"))
for n in range(14, 54):
    add(f"ip6_cut_{n}", cut(echo6, n), drop("ip6.malformed"))
b6 = raw(echo6)
for extra in (1, 8, 1000):
    x = bytearray(b6)
    x[18:20] = (len(b6) - 54 + extra).to_bytes(2, "big")
    add(f"ip6_payload_len_past_frame_{extra}", bytes(x), drop("ip6.malformed"))
for ver in (0, 4, 7):
    x = bytearray(b6)
    x[14] = (ver << 4) | (x[14] & 0xf)
    add(f"ip6_version_{ver}", bytes(x), drop("ip6.malformed"))
for n in range(0, 8):
    add(f"icmp6_cut_{n}", e6() / icmp6_raw(H6, US6, raw(ICMPv6EchoRequest())[:n], hlim=64), drop("icmp.truncated"))
x = bytearray(b6)
x[-1] ^= 0xff
add("icmp6_bad_checksum", bytes(x), drop("icmp.bad_checksum"))

exts = {
    "hbh": lambda nh: IPv6ExtHdrHopByHop(nh=nh, options=[PadN(optdata=b"\0\0\0\0")]),
    "dest": lambda nh: IPv6ExtHdrDestOpt(nh=nh, options=[PadN(optdata=b"\0\0\0\0")]),
    "rh0": lambda nh: IPv6ExtHdrRouting(nh=nh, type=0, segleft=0, addresses=[]),
    "frag": lambda nh: IPv6ExtHdrFragment(nh=nh, offset=0, m=0, id=1),
}
for en, mk in exts.items():
    pkt = e6() / IPv6(src=H6, dst=FAR6) / mk(17) / UDP(dport=53)
    first = {"hbh": 0, "dest": 60, "rh0": 43, "frag": 44}[en]
    add(f"ext_{en}_forwarded", pkt, out("east", f"ip6 {first}"))
    whole = raw(pkt)
    hdr_len = len(raw(mk(17)))
    # Truncated inside the extension header, payload length telling the truth.
    for k in sorted({1, hdr_len // 2, hdr_len - 1}):
        x = bytearray(whole[:54 + k])
        x[18:20] = k.to_bytes(2, "big")
        add(f"ext_{en}_cut_{k}", bytes(x), drop("ip6.bad_ext_header"))
    if en != "frag":
        # The header claims more length than the packet has.
        x = bytearray(whole)
        x[55] = 0x20
        add(f"ext_{en}_len_overlong", bytes(x), drop("ip6.bad_ext_header"))
for n in (9, 12, 30):
    layers = [IPv6ExtHdrDestOpt(nh=60) for _ in range(n - 1)] + [IPv6ExtHdrDestOpt(nh=17)]
    p = IPv6(src=H6, dst=FAR6, nh=60)
    for l in layers:
        p = p / l
    add(f"ext_chain_{n}_dest_opts", e6() / p / UDP(dport=53), drop("ip6.bad_ext_header"))
p = IPv6(src=H6, dst=FAR6, nh=60)
for _ in range(7):
    p = p / IPv6ExtHdrDestOpt(nh=60)
add("ext_chain_8_dest_opts_ok", e6() / p / IPv6ExtHdrDestOpt(nh=17) / UDP(dport=53), out("east", "ip6 60"))
# A "loop": Hop-by-Hop again and again (it must come first, once).
add("ext_hbh_loop", e6() / IPv6(src=H6, dst=FAR6) / IPv6ExtHdrHopByHop(nh=0) / IPv6ExtHdrHopByHop(nh=0) / IPv6ExtHdrHopByHop(nh=17) / UDP(), drop("ip6.bad_ext_header"))
add("ext_hbh_not_first", e6() / IPv6(src=H6, dst=FAR6) / IPv6ExtHdrDestOpt(nh=0) / IPv6ExtHdrHopByHop(nh=17) / UDP(), drop("ip6.bad_ext_header"))
# Self-referencing Destination Options (next header 60 forever): the bound.
p = IPv6(src=H6, dst=FAR6, nh=60, plen=8 * 20) / Raw(bytes([60, 0, 1, 4, 0, 0, 0, 0]) * 20)
add("ext_dest_self_loop", e6() / p, drop("ip6.bad_ext_header"))
# RFC 8200 §4.4: Segments Left > 0 at the destination, unknown (or
# deprecated type 0, RFC 5095) routing type: Parameter Problem code 0.
for rtype in (0, 2, 4, 253):
    rh = IPv6ExtHdrRouting(nh=58, type=rtype, segleft=1, addresses=[FAR6])
    add(f"echo_to_us_routing_type{rtype}_segleft1", e6() / IPv6(src=H6, dst=US6) / rh / ICMPv6EchoRequest(), out("west", "icmp6 4 0"))
add("echo_to_us_routing_segleft0", e6() / IPv6(src=H6, dst=US6) / IPv6ExtHdrRouting(nh=58, type=0, segleft=0, addresses=[]) / ICMPv6EchoRequest(), out("west", "icmp6 129 0"))
add("udp_to_us_routing_segleft1", e6() / IPv6(src=H6, dst=US6) / IPv6ExtHdrRouting(nh=17, type=0, segleft=1, addresses=[FAR6]) / UDP(dport=9), out("west", "icmp6 4 0"))
# A router on the path does not process the header (RFC 8200 §4).
add("routing_segleft1_forwarded", e6() / IPv6(src=H6, dst=FAR6) / IPv6ExtHdrRouting(nh=17, type=0, segleft=1, addresses=[US6]) / UDP(dport=9), out("east", "ip6 43"))

# ---- UDP over IPv6 to us (RFC 8200 §8.1) ---------------------------------
u6 = UDP(sport=1, dport=9) / b"x"
add("udp6_to_us_port_unreach", e6() / IPv6(src=H6, dst=US6) / u6, out("west", "icmp6 1 4"))
z = UDP(sport=1, dport=9) / b"x"
z.chksum = 0
add("udp6_to_us_zero_checksum", e6() / IPv6(src=H6, dst=US6) / z, drop("udp.ip6_zero_checksum"))
add("udp6_to_us_zero_checksum_ll", e6() / IPv6(src="fe80::2", dst=W_LL) / z, drop("udp.ip6_zero_checksum"))
for n in range(0, 8):
    add(f"udp6_to_us_cut_{n}", e6() / IPv6(src=H6, dst=US6, nh=17) / Raw(raw(UDP(sport=1, dport=9))[:n]), drop("udp.truncated"))
add("tcp6_to_us", e6() / IPv6(src=H6, dst=US6) / TCP(dport=22), drop("local.no_service"))

# ---- NDP -----------------------------------------------------------------
SN = "ff02::1:ff00:1"
SN_MAC = "33:33:ff:00:00:01"


def ns(body_opts=b"", src=H6, dst=SN, target=US6, hlim=255):
    return e6(dst=SN_MAC if dst.startswith("ff") else W_MAC) / icmp6_raw(src, dst, raw(ICMPv6ND_NS(tgt=target)) + body_opts, hlim=hlim)


def lla(t, mac):
    return bytes([t, 1]) + bytes(int(x, 16) for x in mac.split(":"))


add("ns_ok", ns(lla(1, H_MAC)), out("west", "icmp6 136 0"))
add("ns_ok_no_option", ns(), out("west", "icmp6 136 0"))
add("ns_hlim_254", ns(lla(1, H_MAC), hlim=254), drop("ndp.invalid"))
add("ns_target_not_ours", ns(lla(1, H_MAC), target="2001:db8:a::99"), drop("ndp.not_for_us"))
nsb = raw(ICMPv6ND_NS(tgt=US6))
for n in range(8, 24):
    add(f"ns_cut_{n}", e6(dst=SN_MAC) / icmp6_raw(H6, SN, nsb[:n]), drop("ndp.truncated"))
for n in range(4, 8):
    add(f"ns_icmp_cut_{n}", e6(dst=SN_MAC) / icmp6_raw(H6, SN, nsb[:n]), drop("icmp.truncated"))
add("ns_option_len0", ns(bytes([1, 0]) + b"\0" * 6), drop("ndp.invalid"))
add("ns_option_overlong", ns(bytes([1, 2]) + bytes.fromhex(H_MAC.replace(":", ""))), drop("ndp.invalid"))
add("ns_option_len0_after_good", ns(lla(1, H_MAC) + bytes([14, 0]) + b"\0" * 6), drop("ndp.invalid"))
add("ns_option_overlong_huge", ns(bytes([14, 255]) + b"\0" * 6), drop("ndp.invalid"))
add("ns_option_cut", ns(lla(1, H_MAC)[:5]), drop("ndp.invalid"))
bad_macs = [("zero", "00:00:00:00:00:00"), ("broadcast", "ff:ff:ff:ff:ff:ff"), ("multicast", "33:33:00:00:00:01"),
            ("ipv4_mcast", "01:00:5e:00:00:05"), ("own_west", W_MAC), ("own_east", E_MAC)]
for label, mac in bad_macs:
    # RFC 4861 §7.2.4 answers to the SLLA: not to one no station has.
    add(f"ns_slla_{label}", ns(lla(1, mac)), drop("ndp.bad_lladdr"))
    add(f"ns_unicast_slla_{label}", ns(lla(1, mac), dst=US6), drop("ndp.bad_lladdr"))
    na = raw(ICMPv6ND_NA(tgt="2001:db8:a::5", R=0, S=0, O=1)) + lla(2, mac)
    add(f"na_tlla_{label}", e6(dst="33:33:00:00:00:01") / icmp6_raw("2001:db8:a::5", "ff02::1", na), drop("ndp.bad_lladdr"))
    rs = raw(ICMPv6ND_RS()) + lla(1, mac)
    add(f"rs_slla_{label}", e6(dst="33:33:00:00:00:02") / icmp6_raw("fe80::2", "ff02::2", rs), drop("ndp.bad_lladdr"))
na_ok = raw(ICMPv6ND_NA(tgt="2001:db8:a::5", R=0, S=0, O=1)) + lla(2, "02:00:00:00:0a:05")
add("na_ok", e6(dst="33:33:00:00:00:01") / icmp6_raw("2001:db8:a::5", "ff02::1", na_ok), LOCAL)
nab = raw(ICMPv6ND_NA(tgt="2001:db8:a::5"))
for n in (8, 12, 23):
    add(f"na_cut_{n}", e6(dst="33:33:00:00:00:01") / icmp6_raw("2001:db8:a::5", "ff02::1", nab[:n]), drop("ndp.truncated"))
add("na_option_len0", e6(dst="33:33:00:00:00:01") / icmp6_raw("2001:db8:a::5", "ff02::1", nab + bytes([2, 0]) + b"\0" * 6), drop("ndp.invalid"))
add("na_solicited_to_multicast", e6(dst="33:33:00:00:00:01") / icmp6_raw("2001:db8:a::5", "ff02::1", raw(ICMPv6ND_NA(tgt="2001:db8:a::5", S=1))), drop("ndp.invalid"))
rsb = raw(ICMPv6ND_RS())
for n in range(4, 8):
    add(f"rs_cut_{n}", e6(dst="33:33:00:00:00:02") / icmp6_raw("fe80::2", "ff02::2", rsb[:n]), drop("icmp.truncated"))
add("rs_ok", e6(dst="33:33:00:00:00:02") / icmp6_raw("fe80::2", "ff02::2", rsb + lla(1, H_MAC)), LOCAL)
add("rs_option_len0", e6(dst="33:33:00:00:00:02") / icmp6_raw("fe80::2", "ff02::2", rsb + bytes([1, 0]) + b"\0" * 6), drop("ndp.invalid"))

# ---- Martian, broadcast, multicast and own sources -----------------------
for s in ("255.255.255.255", "10.0.0.255", "10.0.1.255", "224.0.0.1", "239.1.2.3", "0.0.0.0", "127.0.0.1"):
    add(f"ip4_src_{s}_forwarded", e4() / IP(src=s, dst=FAR4) / UDP(dport=53), drop("ip4.martian_source"))
    add(f"ip4_src_{s}_echo_to_us", e4() / IP(src=s, dst=US4) / ICMP(), drop("ip4.martian_source"))
for s in (US4, US4E, "10.0.2.1"):
    add(f"ip4_own_src_{s}_forwarded", e4() / IP(src=s, dst=FAR4) / UDP(dport=53), drop("ip4.own_source"))
    add(f"ip4_own_src_{s}_echo_to_us", e4() / IP(src=s, dst=US4) / ICMP(), drop("ip4.own_source"))
    add(f"ip4_own_src_{s}_udp_to_us", e4() / IP(src=s, dst=US4) / UDP(dport=9), drop("ip4.own_source"))
    add(f"ip4_own_src_{s}_ttl1", e4() / IP(src=s, dst=FAR4, ttl=1) / UDP(dport=9), drop("ip4.own_source"))
    add(f"ip4_own_src_{s}_to_broadcast", e4(dst="ff:ff:ff:ff:ff:ff") / IP(src=s, dst="255.255.255.255") / UDP(dport=9), drop("ip4.own_source"))
for s in ("ff02::1", "ff05::2", "::1"):
    add(f"ip6_src_{s}_forwarded", e6() / IPv6(src=s, dst=FAR6) / UDP(dport=53), drop("ip6.martian_source"))
    add(f"ip6_src_{s}_echo_to_us", e6() / IPv6(src=s, dst=US6) / ICMPv6EchoRequest(), drop("ip6.martian_source"))
add("ip6_src_unspecified_forwarded", e6() / IPv6(src="::", dst=FAR6) / UDP(dport=53), drop("ip6.martian_source"))
add("ip6_src_unspecified_echo_to_us", e6() / IPv6(src="::", dst=US6) / ICMPv6EchoRequest(), drop("ip6.unspecified_source"))
add("ip6_src_unspecified_udp_to_us", e6() / IPv6(src="::", dst=US6) / UDP(dport=9), drop("ip6.unspecified_source"))
for s in (US6, US6E, "2001:db8:c::1", W_LL):
    add(f"ip6_own_src_{s}_forwarded", e6() / IPv6(src=s, dst=FAR6) / UDP(dport=53), drop("ip6.own_source"))
    add(f"ip6_own_src_{s}_echo_to_us", e6() / IPv6(src=s, dst=US6) / ICMPv6EchoRequest(), drop("ip6.own_source"))
    add(f"ip6_own_src_{s}_hlim1", e6() / IPv6(src=s, dst=FAR6, hlim=1) / UDP(dport=9), drop("ip6.own_source"))
    add(f"ip6_own_src_{s}_udp_to_us", e6() / IPv6(src=s, dst=US6) / UDP(dport=9), drop("ip6.own_source"))
# Broadcast / multicast destinations.
add("ip4_echo_to_limited_broadcast", e4(dst="ff:ff:ff:ff:ff:ff") / IP(src=H4, dst="255.255.255.255") / ICMP(), drop("local.echo_to_broadcast"))
add("ip4_echo_to_directed_broadcast", e4() / IP(src=H4, dst="10.0.0.255") / ICMP(), drop("local.echo_to_broadcast"))
add("ip4_udp_to_broadcast", e4(dst="ff:ff:ff:ff:ff:ff") / IP(src=H4, dst="255.255.255.255") / UDP(dport=9), LOCAL)
add("ip4_to_multicast", e4(dst="01:00:5e:00:00:05") / IP(src=H4, dst="224.0.0.5") / UDP(dport=9), drop("ip4.multicast_not_forwarded"))
add("ip4_unicast_in_l2_broadcast", e4(dst="ff:ff:ff:ff:ff:ff") / IP(src=H4, dst=FAR4) / UDP(dport=9), drop("ip4.multicast_not_forwarded"))
add("ip6_to_other_multicast", e6(dst="33:33:00:00:00:fb") / IPv6(src=H6, dst="ff02::fb") / UDP(dport=5353), drop("ip6.multicast_not_forwarded"))
add("ip6_to_link_local_other", e6() / IPv6(src=H6, dst="fe80::99") / UDP(dport=9), drop("ip6.link_local_not_forwarded"))
add("ip6_udp_to_all_nodes", e6(dst="33:33:00:00:00:01") / IPv6(src="fe80::2", dst="ff02::1") / UDP(dport=9), LOCAL)

# ---- Martian destinations (RFC 1812 §5.3.7; IANA special-purpose registry)
for d in ("0.0.0.0", "0.1.2.3", "0.255.255.255", "127.0.0.1", "127.255.255.254", "127.1.2.3",
          "240.0.0.1", "250.1.2.3", "255.255.255.254", "254.0.0.1"):
    add(f"ip4_dst_{d}", e4() / IP(src=H4, dst=d) / UDP(dport=53), drop("ip4.martian_destination"))
    add(f"ip4_dst_{d}_ttl1", e4() / IP(src=H4, dst=d, ttl=1) / ICMP(), drop("ip4.martian_destination"))
for d in ("::", "::1", "::ffff:10.0.1.2", "::ffff:198.51.100.7", "100:0:0:1::5"):
    add(f"ip6_dst_{d}", e6() / IPv6(src=H6, dst=d) / UDP(dport=53), drop("ip6.martian_destination"))
    add(f"ip6_dst_{d}_hlim1", e6() / IPv6(src=H6, dst=d, hlim=1) / ICMPv6EchoRequest(), drop("ip6.martian_destination"))
# Forwardable special-purpose ranges go by the default route.
for d in ("1.0.0.1", "126.255.255.255", "128.0.0.1", "223.255.255.254", "100.64.0.1", "192.0.0.9"):
    add(f"ip4_dst_{d}_forwarded", e4() / IP(src=H4, dst=d) / UDP(dport=53), out("east", "ip4 17"))
for d in ("64:ff9b::a00:102", "100::1", "2001:db8:100::9", "fc00::1", "2002::1", "::2:0:0:1"):
    add(f"ip6_dst_{d}_forwarded", e6() / IPv6(src=H6, dst=d) / UDP(dport=53), out("east", "ip6 17"))

# ---- IP-in-IP (golden/ipip/decap_4in4/config.toml, tunnels arrive on east)
TE_MAC, TR_MAC = E_MAC, G_MAC
LOCAL_T4, REMOTE_T4, LOCAL_T6, REMOTE_T6 = "192.168.0.1", "192.168.0.2", "fd00::1", "fd00::2"
LAN4, LAN6 = "10.1.5.1", "2001:db8:5::1"
inner4 = IP(src="10.1.8.5", dst="10.1.5.10") / UDP(dport=53) / b"in"
inner6 = IPv6(src="2001:db8:8::5", dst="2001:db8:5::10") / UDP(dport=53) / b"in"


def t4(inner, proto=4, src=REMOTE_T4, dst=LOCAL_T4, **kw):
    return Ether(src=TR_MAC, dst=TE_MAC) / IP(src=src, dst=dst, proto=proto, **kw) / Raw(raw(inner))


def t6(inner, nh=41, src=REMOTE_T6, dst=LOCAL_T6):
    return Ether(src=TR_MAC, dst=TE_MAC) / IPv6(src=src, dst=dst, nh=nh) / Raw(raw(inner))


def tadd(name, frame, expect):
    add(name, frame, expect, port="east", config=T)


tadd("ipip_empty_inner_4in4", bytes.fromhex("020000000b01020000000b02080045000014000000004004f992c0a80002c0a80001"), drop("tunnel.inner_malformed"))
tadd("ipip_empty_inner_6in6", Ether(src=TR_MAC, dst=TE_MAC) / IPv6(src=REMOTE_T6, dst=LOCAL_T6, nh=41, plen=0), drop("tunnel.inner_malformed"))
tadd("ipip_empty_inner_6in4", t4(b"", proto=41), drop("tunnel.inner_malformed"))
tadd("ipip_empty_inner_4in6", t6(b"", nh=4), drop("tunnel.inner_malformed"))
tadd("ipip_4in4_ok", t4(inner4), out("west", "ip4 17"))
tadd("ipip_6in4_ok", t4(inner6, proto=41), out("west", "ip6 17"))
tadd("ipip_4in6_ok", t6(inner4, nh=4), out("west", "ip4 17"))
tadd("ipip_6in6_ok", t6(inner6), out("west", "ip6 17"))
for n in (1, 10, 19):
    tadd(f"ipip_4in4_inner_cut_{n}", t4(raw(inner4)[:n]), drop("tunnel.inner_malformed"))
    tadd(f"ipip_6in4_inner_cut_{n}", t4(raw(inner6)[:n], proto=41), drop("tunnel.inner_malformed"))
for n in (1, 20, 39):
    tadd(f"ipip_6in6_inner_cut_{n}", t6(raw(inner6)[:n]), drop("tunnel.inner_malformed"))
for n in (1, 10, 19):
    tadd(f"ipip_4in6_inner_cut_{n}", t6(raw(inner4)[:n], nh=4), drop("tunnel.inner_malformed"))
tadd("ipip_4in4_inner_is_v6", t4(inner6), drop("tunnel.inner_malformed"))
tadd("ipip_6in6_inner_is_v4", t6(inner4), drop("tunnel.inner_malformed"))
for n in range(14, 34, 4):
    tadd(f"ipip_outer4_cut_{n}", cut(t4(inner4), n), drop("ip4.malformed"))
for n in range(14, 54, 8):
    tadd(f"ipip_outer6_cut_{n}", cut(t6(inner6), n), drop("ip6.malformed"))
tadd("ipip_wrong_remote", t4(inner4, src="192.168.0.9"), drop("tunnel.no_match"))
tadd("ipip_wrong_remote6", t6(inner6, src="fd00::9"), drop("tunnel.no_match"))
tadd("ipip_outer_fragment", t4(inner4, flags="MF"), drop("tunnel.outer_fragment"))
tadd("ipip_inner_lying_len", t4(bytes(raw(inner4)[:2]) + b"\x03\xe8" + raw(inner4)[4:]), drop("tunnel.inner_malformed"))
bad = bytearray(raw(inner4))
bad[10] ^= 0xff
tadd("ipip_inner_bad_checksum", t4(bytes(bad)), drop("ip4.bad_checksum"))
tadd("ipip_inner_own_lan_source", t4(IP(src=LAN4, dst="10.1.5.10") / UDP(dport=53)), drop("ip4.own_source"))
tadd("ipip_inner_own_wan_source", t4(IP(src=LOCAL_T4, dst="10.1.5.10") / UDP(dport=53)), drop("ip4.own_source"))
tadd("ipip_inner_own_tunnel_source", t4(IP(src="1.1.1.1", dst="10.1.5.10") / UDP(dport=53)), drop("ip4.own_source"))
tadd("ipip_inner6_own_lan_source", t6(IPv6(src=LAN6, dst="2001:db8:5::10") / UDP(dport=53)), drop("ip6.own_source"))
tadd("ipip_inner6_own_tunnel_source", t6(IPv6(src="fd01:66::1", dst="2001:db8:5::10") / UDP(dport=53)), drop("ip6.own_source"))
tadd("ipip_inner_own_source_echo", t4(IP(src=LAN4, dst="1.1.1.1") / ICMP()), drop("ip4.own_source"))
tadd("ipip_inner_martian_src", t4(IP(src="127.0.0.1", dst="10.1.5.10") / UDP()), drop("ip4.martian_source"))
tadd("ipip_inner_martian_dst", t4(IP(src="10.1.8.5", dst="127.0.0.1") / UDP()), drop("ip4.martian_destination"))
tadd("ipip_inner6_martian_dst", t6(IPv6(src="2001:db8:8::5", dst="::1") / UDP()), drop("ip6.martian_destination"))
tadd("ipip_inner_broadcast_src", t4(IP(src="255.255.255.255", dst="10.1.5.10") / UDP()), drop("ip4.martian_source"))
tadd("ipip_nested", t4(IP(src=REMOTE_T4, dst=LOCAL_T4, proto=4) / inner4), drop("tunnel.nested"))
tadd("ipip_nested6", t6(IPv6(src=REMOTE_T6, dst=LOCAL_T6, nh=41) / inner6), drop("tunnel.nested"))
tadd("ipip_inner_ttl1", t4(IP(src="10.1.8.5", dst="10.1.5.10", ttl=1) / UDP()), out("east", "tun icmp4 11 0"))
tadd("ipip_inner_echo_to_tunnel_addr", t4(IP(src="1.1.1.2", dst="1.1.1.1") / ICMP()), out("east", "tun icmp4 0 0"))
tadd("ipip6_inner_echo_to_tunnel_addr", t6(IPv6(src="fd01:66::2", dst="fd01:66::1") / ICMPv6EchoRequest()), out("east", "tun icmp6 129 0"))

names = [r["name"] for r in rows]
assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
with open(os.path.join(HERE, "cases.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps(r, sort_keys=True) + "\n")
print(f"{len(rows)} rows")
