#!/usr/bin/python3
"""Writes the L2 forwarder golden fixtures with scapy, independently of xgw.

Inputs: west-in.pcap (frames arriving on port west), east-in.pcap.
Expected: east-out.pcap / west-out.pcap = what xgw must transmit, byte for
byte: in "mac" mode the source MAC becomes the egress port's MAC and the
destination the host behind it; everything else is untouched. Runts
(< 14 bytes) are dropped and counted as l2.runt.

Run from this directory with Debian's python3-scapy: /usr/bin/python3 make_l2fwd.py
"""
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap

WEST_MAC, WEST_PEER = "02:00:00:00:0a:01", "02:00:00:00:0a:02"
EAST_MAC, EAST_PEER = "02:00:00:00:0b:01", "02:00:00:00:0b:02"


def stamp(pkts, base):
    for i, p in enumerate(pkts):
        p.time = base + i * 0.001
    return pkts


def west_in():
    e = Ether(src=WEST_PEER, dst=WEST_MAC)
    return [
        e / IP(src="10.0.0.1", dst="10.0.1.1") / UDP(sport=1000 + i, dport=9) / Raw(bytes([i]) * (18 + i * 40))
        for i in range(20)
    ] + [
        e / IP(src="10.0.0.1", dst="10.0.1.1") / TCP(sport=4000, dport=80, flags="S"),
        Ether(src=WEST_PEER, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.1", pdst="10.0.0.2"),
        e / IPv6(src="2001:db8::1", dst="2001:db8:1::1") / UDP(sport=5, dport=6) / Raw(b"x" * 1400),
        Raw(b"\x02\x00\x00\x00\x0a\x01runt"),  # 10 bytes: dropped, l2.runt
    ]


def east_in():
    e = Ether(src=EAST_PEER, dst=EAST_MAC)
    return [e / IP(src="10.0.1.1", dst="10.0.0.1") / ICMP(type=0, id=7, seq=i) / Raw(b"p" * 56) for i in range(5)]


def rewritten(pkts, src, dst):
    out = []
    for p in pkts:
        b = bytes(p)
        if len(b) < 14:
            continue
        q = Ether(bytes.fromhex(dst.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + b[12:])
        q.time = p.time
        out.append(q)
    return out


w, e = stamp(west_in(), 1700000000.0), stamp(east_in(), 1700000100.0)
wrpcap("l2fwd/west-in.pcap", w)
wrpcap("l2fwd/east-in.pcap", e)
wrpcap("l2fwd/east-out.pcap", rewritten(w, EAST_MAC, EAST_PEER))
wrpcap("l2fwd/west-out.pcap", rewritten(e, WEST_MAC, WEST_PEER))
