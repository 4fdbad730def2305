#!/usr/bin/python3
"""Writes the router golden fixtures with scapy, independently of xgw.

Regenerate (from this directory, with Debian's python3-scapy, which only
/usr/bin/python3 has):

    /usr/bin/python3 make_router.py

then run `cargo test --release -p xgw-tests --test golden_router` and commit
tests/golden/router/. The expected frames below are what the RFCs call for,
built field by field with scapy; they are never copied from xgw's output.
If xgw and a fixture disagree, read the RFC before touching either.

Layout: router/config.toml (one topology for every case), and per case
router/<case>/{west,east}-in.pcap (frames arriving on each port; absent if
none), {west,east}-out.pcap (what xgw must send, byte for byte, with
timestamps) and expect.json (counters: per port rx/tx/emitted/local/dropped/
pending/parked/unparked and every non-zero drop reason; all other reasons
must be zero).

Topology (ports west and east; east also carries VLAN 100):

    W1 10.0.0.2 ─ lan  10.0.0.1/24 2001:db8:a::1/64  [west]
    E1 10.0.1.2 ─ wan  10.0.1.1/24 2001:db8:b::1/64  [east, untagged, MTU 1400]
    V1 10.0.2.2 ─ vl   10.0.2.1/24 2001:db8:c::1/64  [east, VLAN 100]
    198.51.100.0/24, 2001:db8:100::/48 via E1; 203.0.113.0/24,
    2001:db8:dead::/48 blackhole; 192.0.2.0/24, 2001:db8:bad::/48
    unreachable; no default route.

How xgw behaves in a replay (what the expectations model):
- At start (first timer tick, before any frame is read) it announces every
  address: a gratuitous ARP per IPv4 address and an unsolicited NA (R=1,
  S=0, O=1, TLLA) per IPv6 address, link-local last, interface by
  interface; stamped with the first input timestamp.
- Each port's input is read in bursts of up to 32 frames, west's burst
  before east's. Within a port's output: the frames of a burst that leave
  in place (forwarded, replies, ICMP errors built in the frame itself) in
  input order, then frames the router made (ARP/NS requests, second and
  later IPv4 fragments) in the order made, then frames released from the
  pending lot by what the burst taught it. Frames keep the timestamp of the
  input frame they were made from; frames made from nothing, and parked
  frames when released, carry the latest timestamp read so far (the time
  of the burst that caused them).
- ICMP errors (RFC 792/1812/4443): IPv4 TTL 64, TOS 0xc0 (precedence 6),
  ID 0, DF clear, quoting the offending packet as received (padding
  stripped) up to 576 bytes in all; IPv6 hop limit 64, traffic class 0xc0,
  flow label 0, quoting up to 1280 bytes in all. Source: the address of
  the interface the offending packet arrived on in the same subnet as its
  source, else the interface's first address.
- Echo replies keep the request's IP header but for swapped addresses and
  TTL/hop limit 64. NDP messages use hop limit 255.
- ICMP errors are rate limited (token bucket of 100, 200/s); each case is a
  fresh replay, so only the "ratelimit" case runs out of tokens.
"""
import json
import os
import shutil

from scapy.all import (
    ARP,
    ICMP,
    IP,
    TCP,
    UDP,
    Dot1Q,
    Ether,
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPOption_Router_Alert,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrHopByHop,
    Padding,
    Raw,
    wrpcap,
)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "router")

WEST_MAC, EAST_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
W1_MAC, W9_MAC = "02:00:00:00:0a:02", "02:00:00:00:0a:09"
E1_MAC, E3_MAC = "02:00:00:00:0b:02", "02:00:00:00:0b:03"
V1_MAC, V3_MAC = "02:00:00:00:0c:02", "02:00:00:00:0c:03"
BCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES_MAC = "33:33:00:00:00:01"


def eui64_ll(mac):
    """fe80::/64 with the modified EUI-64 interface identifier (RFC 4291 App. A)."""
    m = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
    words = [int.from_bytes(iid[i : i + 2], "big") for i in range(0, 8, 2)]
    return "fe80::" + ":".join("%x" % w for w in words)


def sol_node(addr):
    """Solicited-node multicast address and its MAC (RFC 4291 §2.7.1, RFC 2464 §7)."""
    import ipaddress

    low = ipaddress.IPv6Address(addr).packed[13:]
    group = ipaddress.IPv6Address(bytes.fromhex("ff02" + "00" * 9 + "01ff") + low)
    return str(group), "33:33:" + ":".join("%02x" % b for b in group.packed[12:])


class Iface:
    def __init__(self, name, port, vlan, mac, v4, v6, mtu):
        self.name, self.port, self.vlan, self.mac = name, port, vlan, mac
        self.v4, self.v6, self.mtu = v4, v6, mtu
        self.ll = eui64_ll(mac)


LAN = Iface("lan", "west", 0, WEST_MAC, "10.0.0.1", "2001:db8:a::1", 1500)
WAN = Iface("wan", "east", 0, EAST_MAC, "10.0.1.1", "2001:db8:b::1", 1400)
VL = Iface("vl", "east", 100, EAST_MAC, "10.0.2.1", "2001:db8:c::1", 1500)
IFACES = [LAN, WAN, VL]

W1 = ("10.0.0.2", "2001:db8:a::2", W1_MAC)
E1 = ("10.0.1.2", "2001:db8:b::2", E1_MAC)
V1 = ("10.0.2.2", "2001:db8:c::2", V1_MAC)
W1_LL = eui64_ll(W1_MAC)

CONFIG = """\
# Router golden tests (tests/golden/make_router.py writes this file).
[engine]
cores = [0]
burst = 32

[[ports]]
name = "west"
driver = "pcap"
mac = "%(west)s"

[[ports]]
name = "east"
driver = "pcap"
mac = "%(east)s"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "west"
ipv4 = ["10.0.0.1/24"]
ipv6 = ["2001:db8:a::1/64"]

[[interfaces]]
name = "wan"
port = "east"
ipv4 = ["10.0.1.1/24"]
ipv6 = ["2001:db8:b::1/64"]
mtu = 1400

[[interfaces]]
name = "vl"
port = "east"
vlan = 100
ipv4 = ["10.0.2.1/24"]
ipv6 = ["2001:db8:c::1/64"]

[[routes]]
prefix = "198.51.100.0/24"
via = "10.0.1.2"

[[routes]]
prefix = "2001:db8:100::/48"
via = "2001:db8:b::2"

[[routes]]
prefix = "203.0.113.0/24"
kind = "blackhole"

[[routes]]
prefix = "2001:db8:dead::/48"
kind = "blackhole"

[[routes]]
prefix = "192.0.2.0/24"
kind = "unreachable"

[[routes]]
prefix = "2001:db8:bad::/48"
kind = "unreachable"
""" % {
    "west": WEST_MAC,
    "east": EAST_MAC,
}
for ifc, host in ((LAN, W1), (WAN, E1), (VL, V1)):
    for ip in host[:2]:
        CONFIG += '\n[[neighbors]]\ninterface = "%s"\nip = "%s"\nmac = "%s"\n' % (ifc.name, ip, host[2])

T0 = 1700000000.0
WEST_T0, EAST_T0 = T0, T0 + 1.0
BURST = 32


# --------------------------------------------------------------- framing


def l2(ifc, src, dst):
    """Ethernet (+ 802.1Q tag when the interface has a VLAN)."""
    e = Ether(src=src, dst=dst)
    return e / Dot1Q(vlan=ifc.vlan) if ifc.vlan else e


def from_router(ifc, dst_mac, l3):
    return l2(ifc, ifc.mac, dst_mac) / l3


def to_router(ifc, src_mac, l3, dst_mac=None):
    return l2(ifc, src_mac, dst_mac or ifc.mac) / l3


def ip_bytes(frame):
    """The L3 packet of a frame as received: tag removed, padding stripped."""
    p = frame
    p = p[Ether].payload
    if isinstance(p, Dot1Q):
        p = p.payload
    b = bytes(p)
    if p.name == "IP":
        b = b[: int.from_bytes(b[2:4], "big")]
    elif p.name == "IPv6":
        b = b[: 40 + int.from_bytes(b[4:6], "big")]
    return b


def forwarded(frame, ifc, dst_mac):
    """The frame as xgw forwards it: TTL/hop limit - 1, header checksum
    recomputed from scratch, new Ethernet header for the egress interface."""
    b = ip_bytes(frame)
    if b[0] >> 4 == 4:
        q = IP(b)
        q.ttl -= 1
        del q.chksum
        l3 = IP(bytes(q))
    else:
        q = IPv6(b)
        q.hlim -= 1
        l3 = IPv6(bytes(q))
    return from_router(ifc, dst_mac, l3)


def icmp4_error(ifc, dst_mac, src, frame, typ, code, **kw):
    orig = ip_bytes(frame)
    quote = orig[: 576 - 28]
    dst = IP(orig).src
    l3 = IP(src=src, dst=dst, ttl=64, tos=0xC0, id=0, flags=0) / ICMP(type=typ, code=code, **kw) / Raw(quote)
    return from_router(ifc, dst_mac, IP(bytes(l3)))


def icmp6_error(ifc, dst_mac, src, frame, layer):
    orig = ip_bytes(frame)
    quote = orig[: 1280 - 48]
    dst = IPv6(orig).src
    l3 = IPv6(src=src, dst=dst, hlim=64, tc=0xC0, fl=0) / layer / Raw(quote)
    return from_router(ifc, dst_mac, IPv6(bytes(l3)))


def na(ifc, src, dst, dst_mac, target, solicited):
    l3 = (
        IPv6(src=src, dst=dst, hlim=255, tc=0, fl=0)
        / ICMPv6ND_NA(R=1, S=int(solicited), O=1, tgt=target)
        / ICMPv6NDOptDstLLAddr(lladdr=ifc.mac)
    )
    return from_router(ifc, dst_mac, l3)


def ns_from_host(ifc, mac, src, target, dst=None, slla=True, hlim=255, eth_dst=None):
    group, gmac = sol_node(target)
    dst = dst or group
    l3 = IPv6(src=src, dst=dst, hlim=hlim) / ICMPv6ND_NS(tgt=target)
    if slla:
        l3 = l3 / ICMPv6NDOptSrcLLAddr(lladdr=mac)
    return to_router(ifc, mac, l3, eth_dst or (gmac if dst == group else ifc.mac))


def arp_request(ifc, mac, spa, tpa, dst=BCAST, hwdst="00:00:00:00:00:00"):
    return to_router(ifc, mac, ARP(op=1, hwsrc=mac, psrc=spa, hwdst=hwdst, pdst=tpa), dst)


def arp_reply_from_router(ifc, tha, tpa, spa=None):
    return from_router(ifc, tha, ARP(op=2, hwsrc=ifc.mac, psrc=spa or ifc.v4, hwdst=tha, pdst=tpa))


def announcements():
    """Gratuitous ARP / unsolicited NAs sent at start, per port."""
    out = {"west": [], "east": []}
    for ifc in IFACES:
        out[ifc.port].append(
            from_router(ifc, BCAST, ARP(op=1, hwsrc=ifc.mac, psrc=ifc.v4, hwdst="00:00:00:00:00:00", pdst=ifc.v4))
        )
        for a in (ifc.v6, ifc.ll):
            out[ifc.port].append(na(ifc, a, "ff02::1", ALL_NODES_MAC, a, False))
    return out


def udp4(src, dst, ttl=64, size=0, **kw):
    """IPv4/UDP, `size` bytes of payload."""
    return IP(src=src, dst=dst, ttl=ttl, **kw) / UDP(sport=40000, dport=33434) / Raw(bytes(i & 0xFF for i in range(size)))


def udp6(src, dst, hlim=64, size=0):
    return IPv6(src=src, dst=dst, hlim=hlim) / UDP(sport=40000, dport=33434) / Raw(bytes(i & 0xFF for i in range(size)))


def sized4(src, dst, total, ttl=64, **kw):
    return udp4(src, dst, ttl=ttl, size=total - 28, **kw)


def sized6(src, dst, total, hlim=64):
    return udp6(src, dst, hlim=hlim, size=total - 48)


def ident_for_zero_checksum(pkt):
    """The IPv4 ID that makes `pkt`'s header checksum 0x0000 (the
    ones'-complement sum of the other words then folds to 0xffff)."""
    h = bytearray(bytes(pkt)[:20])
    h[4:6] = b"\0\0"
    h[10:12] = b"\0\0"
    s = sum(int.from_bytes(h[i : i + 2], "big") for i in range(0, 20, 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    ident = 0xFFFF - s
    q = pkt.copy()
    q.id = ident
    del q.chksum
    assert IP(bytes(q)).chksum == 0, hex(IP(bytes(q)).chksum)
    return ident


# --------------------------------------------------------------- cases


class Case:
    """Frames in per port, frames out per port (with the causes that fix
    their timestamps) and counters."""

    def __init__(self, name, doc):
        self.name, self.doc = name, doc
        self.inputs = {"west": [], "east": []}
        self.outputs = {"west": [], "east": []}
        self.counters = {"west": {}, "east": {}}
        self.drops = {"west": {}, "east": {}}
        self.tolerant = None

    def rx(self, port, frame):
        base = WEST_T0 if port == "west" else EAST_T0
        frame.time = base + len(self.inputs[port]) * 0.001
        self.inputs[port].append(frame)
        return frame

    def tx(self, port, frame, cause):
        """Expect `frame` on `port`, stamped like `cause` (an input frame)."""
        frame.time = cause.time
        self.outputs[port].append(frame)

    def emitted_stamp(self, burst_last):
        return burst_last.time

    def drop(self, port, reason, n=1):
        self.drops[port][reason] = self.drops[port].get(reason, 0) + n

    def write(self):
        d = os.path.join(OUT, self.name)
        os.makedirs(d, exist_ok=True)
        first = min(f.time for fs in self.inputs.values() for f in fs)
        ann = announcements()
        for port in ("west", "east"):
            if self.inputs[port]:
                wrpcap(os.path.join(d, port + "-in.pcap"), self.inputs[port], linktype=1)
            for f in ann[port]:
                f.time = first
            outs = ann[port] + self.outputs[port]
            wrpcap(os.path.join(d, port + "-out.pcap"), outs, linktype=1)
        expect = {"doc": self.doc, "ports": {}}
        for port in ("west", "east"):
            c = dict(self.counters[port])
            c["emitted"] = c.get("emitted", 0) + len(ann[port])
            c["tx"] = c.get("tx", 0) + len(ann[port])
            c.setdefault("rx", len(self.inputs[port]))
            for k in ("local", "dropped", "pending", "parked", "unparked"):
                c.setdefault(k, 0)
            c["drops"] = self.drops[port]
            expect["ports"][port] = c
        if self.tolerant:
            expect["tolerant"] = self.tolerant
        with open(os.path.join(d, "expect.json"), "w") as f:
            json.dump(expect, f, indent=1, sort_keys=True)
            f.write("\n")
        # Consistency of the expectation itself.
        for port in ("west", "east"):
            c = expect["ports"][port]
            assert sum(c["drops"].values()) == c["dropped"], (self.name, port)
        rx = sum(expect["ports"][p]["rx"] for p in ("west", "east"))
        em = sum(expect["ports"][p]["emitted"] for p in ("west", "east"))
        tx = sum(expect["ports"][p]["tx"] for p in ("west", "east"))
        lo = sum(expect["ports"][p]["local"] for p in ("west", "east"))
        dr = sum(expect["ports"][p]["dropped"] for p in ("west", "east"))
        assert rx + em == tx + lo + dr, (self.name, rx, em, tx, lo, dr)
        for port in ("west", "east"):
            n = len(ann[port]) + len(self.outputs[port])
            if not self.tolerant:
                assert n == expect["ports"][port]["tx"], (self.name, port, n, expect["ports"][port]["tx"])


def count(case, port, **kw):
    case.counters[port].update(kw)


def case_arp():
    c = Case("arp", "ARP requests for our addresses are answered (RFC 826), others dropped and counted")
    w = lambda f: c.rx("west", f)
    req = w(arp_request(LAN, W1_MAC, W1[0], LAN.v4))
    c.tx("west", arp_reply_from_router(LAN, W1_MAC, W1[0]), req)
    # Ethernet padding to 60 bytes: the reply is 42 bytes (no padding).
    padded = w(arp_request(LAN, W9_MAC, "10.0.0.9", LAN.v4) / Padding(b"\0" * 18))
    c.tx("west", arp_reply_from_router(LAN, W9_MAC, "10.0.0.9"), padded)
    # RFC 5227 probe (sender 0.0.0.0): answered, to 0.0.0.0 at the prober's MAC.
    probe = w(arp_request(LAN, W9_MAC, "0.0.0.0", LAN.v4))
    c.tx("west", arp_reply_from_router(LAN, W9_MAC, "0.0.0.0"), probe)
    w(arp_request(LAN, W1_MAC, W1[0], "10.0.0.77"))  # not ours
    w(arp_request(LAN, W1_MAC, W1[0], WAN.v4))  # ours, but not on this interface
    c.drop("west", "arp.not_for_us", 2)
    w(arp_request(LAN, W1_MAC, W1[0], W1[0]))  # gratuitous: learned, consumed
    w(to_router(LAN, W1_MAC, ARP(op=2, hwsrc=W1_MAC, psrc=W1[0], hwdst=WEST_MAC, pdst=LAN.v4)))  # unsolicited reply
    w(Ether(src=W1_MAC, dst=BCAST, type=0x0806) / Raw(bytes(ARP(op=1, hwsrc=W1_MAC, psrc=W1[0], pdst=LAN.v4))[:20]))  # truncated
    c.drop("west", "arp.malformed", 1)
    w(arp_request(LAN, "03:00:00:00:00:01", W1[0], LAN.v4))  # multicast sender MAC
    c.drop("west", "arp.bad_sender_mac", 1)
    uni = w(arp_request(LAN, W1_MAC, W1[0], LAN.v4, dst=WEST_MAC, hwdst=WEST_MAC))  # unicast (a refresh)
    c.tx("west", arp_reply_from_router(LAN, W1_MAC, W1[0]), uni)
    count(c, "west", tx=4, local=2, dropped=4)
    e = lambda f: c.rx("east", f)
    v = e(arp_request(VL, V1_MAC, V1[0], VL.v4))
    c.tx("east", arp_reply_from_router(VL, V1_MAC, V1[0]), v)
    e(arp_request(VL, V1_MAC, V1[0], WAN.v4))  # wan's address asked on the VLAN
    c.drop("east", "arp.not_for_us")
    count(c, "east", tx=1, dropped=1)
    return c


def case_ndp():
    c = Case(
        "ndp",
        "Neighbor Solicitations for our addresses get NAs with the TLLA option, R=1, O=1, S=1 "
        "unicast to the solicitor, or S=0 to ff02::1 for DAD (RFC 4861 §7.2.4)",
    )
    w = lambda f: c.rx("west", f)
    ns = w(ns_from_host(LAN, W1_MAC, W1[1], LAN.v6))
    c.tx("west", na(LAN, LAN.v6, W1[1], W1_MAC, LAN.v6, True), ns)
    ns = w(ns_from_host(LAN, W1_MAC, W1_LL, LAN.ll))
    c.tx("west", na(LAN, LAN.ll, W1_LL, W1_MAC, LAN.ll, True), ns)
    # Unicast NS without SLLA: answered to the frame's source MAC.
    ns = w(ns_from_host(LAN, W1_MAC, W1[1], LAN.v6, dst=LAN.v6, slla=False))
    c.tx("west", na(LAN, LAN.v6, W1[1], W1_MAC, LAN.v6, True), ns)
    # DAD probe from ::: NA to all-nodes, S clear.
    ns = w(ns_from_host(LAN, W9_MAC, "::", LAN.v6, slla=False))
    c.tx("west", na(LAN, LAN.v6, "ff02::1", ALL_NODES_MAC, LAN.v6, False), ns)
    w(ns_from_host(LAN, W1_MAC, W1[1], "2001:db8:a::99", dst=LAN.v6))  # target not ours
    c.drop("west", "ndp.not_for_us")
    w(ns_from_host(LAN, W1_MAC, W1[1], LAN.v6, hlim=64))  # hop limit must be 255
    w(ns_from_host(LAN, W9_MAC, "::", LAN.v6))  # DAD with SLLA: invalid
    c.drop("west", "ndp.invalid", 2)
    w(ns_from_host(LAN, W1_MAC, W1[1], "2001:db8:a::99"))  # group we are not in
    c.drop("west", "ip6.multicast_not_forwarded")
    # Echo to our link-local from W1's: answered through the neighbour
    # entry the NS from W1's link-local created.
    ping = w(to_router(LAN, W1_MAC, IPv6(src=W1_LL, dst=LAN.ll) / ICMPv6EchoRequest(id=7, seq=1, data=b"ll" * 8)))
    c.tx(
        "west",
        from_router(LAN, W1_MAC, IPv6(src=LAN.ll, dst=W1_LL, hlim=64) / ICMPv6EchoReply(id=7, seq=1, data=b"ll" * 8)),
        ping,
    )
    w(
        to_router(
            LAN,
            W1_MAC,
            IPv6(src=W1[1], dst="ff02::1", hlim=255)
            / ICMPv6ND_NA(R=0, S=0, O=1, tgt=W1[1])
            / ICMPv6NDOptDstLLAddr(lladdr=W1_MAC),
            ALL_NODES_MAC,
        )
    )
    bad = ns_from_host(LAN, W1_MAC, W1[1], LAN.v6)
    bad[ICMPv6ND_NS].cksum = 0x1234
    w(bad)
    c.drop("west", "icmp.bad_checksum")
    count(c, "west", tx=5, local=1, dropped=5)
    e = lambda f: c.rx("east", f)
    ns = e(ns_from_host(VL, V1_MAC, V1[1], VL.v6))
    c.tx("east", na(VL, VL.v6, V1[1], V1_MAC, VL.v6, True), ns)
    e1_ll = eui64_ll(E1_MAC)
    ns = e(ns_from_host(WAN, E1_MAC, e1_ll, WAN.ll))
    c.tx("east", na(WAN, WAN.ll, e1_ll, E1_MAC, WAN.ll, True), ns)
    # vl's address solicited on wan (same solicited-node group as wan's).
    e(ns_from_host(WAN, E1_MAC, E1[1], VL.v6))
    c.drop("east", "ndp.not_for_us")
    count(c, "east", tx=2, dropped=1)
    return c


def echo4(src, dst, **kw):
    return IP(src=src, dst=dst, id=0x4242, flags="DF", **kw) / ICMP(type=8, id=0x1234, seq=1) / Raw(b"xgw-ping" * 7)


def echo4_reply(req):
    """RFC 792: addresses reversed, type 0, checksum recomputed; xgw also
    sets TTL 64 and keeps the rest of the header."""
    q = IP(ip_bytes(req))
    q.src, q.dst, q.ttl = q.dst, q.src, 64
    del q.chksum
    q[ICMP].type = 0
    del q[ICMP].chksum
    return IP(bytes(q))


def case_echo():
    c = Case("echo", "ICMP/ICMPv6 echo to our addresses answered; other local traffic: errors or counted drops")
    w = lambda f: c.rx("west", f)
    r = w(to_router(LAN, W1_MAC, echo4(W1[0], LAN.v4)))
    c.tx("west", from_router(LAN, W1_MAC, echo4_reply(r)), r)
    r = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=LAN.v4, id=9) / ICMP(type=8, id=1, seq=2) / Padding(b"\0" * 18)))
    c.tx("west", from_router(LAN, W1_MAC, echo4_reply(r)), r)
    r = w(to_router(LAN, W1_MAC, IPv6(src=W1[1], dst=LAN.v6, fl=0x12345) / ICMPv6EchoRequest(id=5, seq=9, data=b"v6" * 20)))
    c.tx(
        "west",
        from_router(LAN, W1_MAC, IPv6(src=LAN.v6, dst=W1[1], fl=0x12345, hlim=64) / ICMPv6EchoReply(id=5, seq=9, data=b"v6" * 20)),
        r,
    )
    r = w(to_router(LAN, W1_MAC, echo4(W1[0], WAN.v4)))  # wan's address, from the lan
    c.tx("west", from_router(LAN, W1_MAC, echo4_reply(r)), r)
    w(to_router(LAN, W1_MAC, echo4(W1[0], "10.0.0.255"), BCAST))
    c.drop("west", "local.echo_to_broadcast")
    bad = to_router(LAN, W1_MAC, echo4(W1[0], LAN.v4))
    bad[ICMP].chksum = 0xDEAD
    w(bad)
    c.drop("west", "icmp.bad_checksum")
    u = w(to_router(LAN, W1_MAC, udp4(W1[0], LAN.v4, size=12)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, u, 3, 3), u)
    # To wan's address: the error comes from the interface it leaves by
    # (RFC 1812 §4.3.2.4).
    u = w(to_router(LAN, W1_MAC, udp4(W1[0], WAN.v4, size=12)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, u, 3, 3), u)
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=LAN.v4) / TCP(sport=1234, dport=22, flags="S")))
    c.drop("west", "local.no_service")
    g = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=LAN.v4, proto=253) / Raw(b"experimental" * 2)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, g, 3, 2), g)
    u = w(to_router(LAN, W1_MAC, udp6(W1[1], LAN.v6, size=10)))
    c.tx("west", icmp6_error(LAN, W1_MAC, LAN.v6, u, ICMPv6DestUnreach(code=4)), u)
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=LAN.v4, flags="MF", id=77) / ICMP(type=8) / Raw(b"f" * 16)))
    c.drop("west", "local.fragment")
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=LAN.v4) / ICMP(type=13, id=3, seq=1, ts_ori=1000, ts_rx=0, ts_tx=0)))  # timestamp: consumed
    # Echo to all-nodes: answered from our address, to W1.
    r = w(to_router(LAN, W1_MAC, IPv6(src=W1[1], dst="ff02::1") / ICMPv6EchoRequest(id=6, seq=1), ALL_NODES_MAC))
    c.tx("west", from_router(LAN, W1_MAC, IPv6(src=LAN.v6, dst=W1[1], hlim=64) / ICMPv6EchoReply(id=6, seq=1)), r)
    count(c, "west", tx=9, local=1, dropped=4)
    e = lambda f: c.rx("east", f)
    r = e(to_router(VL, V1_MAC, echo4(V1[0], VL.v4)))
    c.tx("east", from_router(VL, V1_MAC, echo4_reply(r)), r)
    r = e(to_router(WAN, E1_MAC, IPv6(src=E1[1], dst=WAN.v6) / ICMPv6EchoRequest(id=1, seq=1, data=b"e")))
    c.tx("east", from_router(WAN, E1_MAC, IPv6(src=WAN.v6, dst=E1[1], hlim=64) / ICMPv6EchoReply(id=1, seq=1, data=b"e")), r)
    # Priority-tagged (VID 0): the untagged interface; the reply is untagged.
    r = e(Ether(src=E1_MAC, dst=EAST_MAC) / Dot1Q(vlan=0, prio=5) / echo4(E1[0], WAN.v4))
    c.tx("east", from_router(WAN, E1_MAC, echo4_reply(r)), r)
    count(c, "east", tx=3)
    return c


def case_forward():
    c = Case(
        "forward",
        "IPv4/IPv6 forwarding to static neighbours: TTL/hop limit - 1, MACs rewritten, IPv4 checksum "
        "updated incrementally (equal to a full recompute)",
    )
    w = lambda f: c.rx("west", f)
    f = w(to_router(LAN, W1_MAC, udp4(W1[0], "198.51.100.7", size=100, id=1)))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=E1[0], ttl=10, id=2) / TCP(sport=5555, dport=80, flags="S", seq=1)))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="198.51.100.8", id=3, options=[IPOption_Router_Alert()]) / UDP(sport=40000, dport=9) / Raw(b"opt")))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    # Checksum corner cases: the forwarded header's checksum is 0x0000,
    # and the received one is 0x0000.
    for ttl in (64, 65):  # the forwarded header (TTL 64 - 1), the received one (TTL 64)
        p = udp4(W1[0], "198.51.100.9", size=4, id=ident_for_zero_checksum(udp4(W1[0], "198.51.100.9", ttl=ttl - 1, size=4)))
        if ttl == 65:
            assert IP(bytes(p)).chksum == 0
        f = w(to_router(LAN, W1_MAC, p))
        c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, udp6(W1[1], "2001:db8:100::7", size=100)))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, IPv6(src=W1[1], dst=E1[1], hlim=2) / TCP(sport=5555, dport=443, flags="S")))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    # Short frame with Ethernet padding: forwarded without it.
    f = w(to_router(LAN, W1_MAC, udp4(W1[0], E1[0], id=4)) / Padding(b"\0" * 18))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=E1[0], id=5, flags="MF") / UDP(sport=40000, dport=9) / Raw(b"frag" * 4)))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst=E1[0], ttl=2, id=6) / UDP(sport=40000, dport=9) / Raw(b"ttl2")))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, IPv6(src=W1[1], dst="2001:db8:100::8") / IPv6ExtHdrHopByHop() / UDP(sport=40000, dport=9) / Raw(b"hbh")))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    w(to_router(LAN, W1_MAC, udp6(W1[1], "fe80::99")))
    w(to_router(LAN, W1_MAC, udp6(W1_LL, "2001:db8:100::7")))
    c.drop("west", "ip6.link_local_not_forwarded", 2)
    count(c, "west", dropped=2)
    e = lambda f: c.rx("east", f)
    f = e(to_router(WAN, E1_MAC, udp4("198.51.100.9", W1[0], size=30, id=7)))
    c.tx("west", forwarded(f, LAN, W1_MAC), f)
    f = e(to_router(WAN, E1_MAC, udp6("2001:db8:100::9", W1[1], size=30)))
    c.tx("west", forwarded(f, LAN, W1_MAC), f)
    e(Ether(src=E1_MAC, dst="02:00:00:00:0b:77") / udp4(E1[0], W1[0]))
    c.drop("east", "l2.not_for_us")
    count(c, "east", tx=11, dropped=1)
    count(c, "west", tx=2)
    return c


def case_vlan():
    c = Case("vlan", "VLAN 100 on east is its own interface: tags stripped on the way in, pushed on the way out")
    w = lambda f: c.rx("west", f)
    f = w(to_router(LAN, W1_MAC, udp4(W1[0], V1[0], size=20, id=11)))
    c.tx("east", forwarded(f, VL, V1_MAC), f)
    f = w(to_router(LAN, W1_MAC, udp6(W1[1], V1[1], size=20)))
    c.tx("east", forwarded(f, VL, V1_MAC), f)
    e = lambda f: c.rx("east", f)
    f = e(to_router(VL, V1_MAC, udp4(V1[0], W1[0], size=20, id=12)))
    c.tx("west", forwarded(f, LAN, W1_MAC), f)
    f = e(to_router(VL, V1_MAC, udp6(V1[1], W1[1], size=20)))
    c.tx("west", forwarded(f, LAN, W1_MAC), f)
    # VLAN to untagged on the same port.
    f = e(to_router(VL, V1_MAC, udp4(V1[0], E1[0], size=20, id=13)))
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = e(to_router(WAN, E1_MAC, udp4(E1[0], V1[0], size=20, id=14)))
    c.tx("east", forwarded(f, VL, V1_MAC), f)
    a = e(arp_request(VL, V1_MAC, V1[0], VL.v4))
    c.tx("east", arp_reply_from_router(VL, V1_MAC, V1[0]), a)
    t = e(to_router(VL, V1_MAC, udp4(V1[0], W1[0], ttl=1, size=8, id=15)))
    c.tx("east", icmp4_error(VL, V1_MAC, VL.v4, t, 11, 0), t)
    t = e(to_router(VL, V1_MAC, udp6(V1[1], W1[1], hlim=1, size=8)))
    c.tx("east", icmp6_error(VL, V1_MAC, VL.v6, t, ICMPv6TimeExceeded(code=0)), t)
    # VLAN 200 has no interface; QinQ (an S-tag around the C-tag) is not parsed.
    e(Ether(src=V1_MAC, dst=EAST_MAC) / Dot1Q(vlan=200) / udp4(V1[0], W1[0]))
    c.drop("east", "l2.no_interface")
    e(Ether(src=V1_MAC, dst=EAST_MAC, type=0x88A8) / Dot1Q(vlan=100) / Dot1Q(vlan=5) / udp4(V1[0], W1[0]))
    c.drop("east", "l2.unknown_ethertype")
    # West has no VLAN 100.
    w(Ether(src=W1_MAC, dst=WEST_MAC) / Dot1Q(vlan=100) / udp4(W1[0], V1[0]))
    c.drop("west", "l2.no_interface")
    count(c, "west", tx=2, dropped=1)
    count(c, "east", tx=7, dropped=2)
    return c


def case_ttl():
    c = Case(
        "ttl",
        "TTL / hop limit 1 or 0 when forwarding: ICMP Time Exceeded (RFC 792, RFC 4443 §3.3) quoting "
        "up to 576 / 1280 bytes in all, from the ingress interface's address",
    )
    w = lambda f: c.rx("west", f)
    for ttl, size in ((1, 100), (0, 10), (1, 1000)):
        f = w(to_router(LAN, W1_MAC, udp4(W1[0], "198.51.100.7", ttl=ttl, size=size, id=100 + ttl)))
        c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 11, 0), f)
    for size in (100, 1400):
        f = w(to_router(LAN, W1_MAC, sized6(W1[1], "2001:db8:100::7", size, hlim=1)))
        c.tx("west", icmp6_error(LAN, W1_MAC, LAN.v6, f, ICMPv6TimeExceeded(code=0)), f)
    f = w(to_router(LAN, W1_MAC, udp6(W1[1], E1[1], hlim=0, size=3)))
    c.tx("west", icmp6_error(LAN, W1_MAC, LAN.v6, f, ICMPv6TimeExceeded(code=0)), f)
    f = w(to_router(LAN, W1_MAC, echo4(W1[0], "198.51.100.7", ttl=1)))  # echo requests are not errors
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 11, 0), f)
    f = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="198.51.100.7", ttl=1, options=[IPOption_Router_Alert(), IPOption_Router_Alert()]) / UDP(sport=40000, dport=9) / Raw(b"o")))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 11, 0), f)
    # TTL 1 to us is delivered, not expired.
    r = w(to_router(LAN, W1_MAC, echo4(W1[0], LAN.v4, ttl=1)))
    c.tx("west", from_router(LAN, W1_MAC, echo4_reply(r)), r)
    count(c, "west", tx=9)
    e = lambda f: c.rx("east", f)
    # From beyond E1: the error comes from wan's address, back through E1.
    f = e(to_router(WAN, E1_MAC, udp4("198.51.100.9", W1[0], ttl=1, size=40, id=7)))
    c.tx("east", icmp4_error(WAN, E1_MAC, WAN.v4, f, 11, 0), f)
    f = e(to_router(WAN, E1_MAC, udp6("2001:db8:100::9", W1[1], hlim=1, size=40)))
    c.tx("east", icmp6_error(WAN, E1_MAC, WAN.v6, f, ICMPv6TimeExceeded(code=0)), f)
    count(c, "east", tx=2)
    return c


def case_unreach():
    c = Case(
        "unreach",
        "No route: Destination Unreachable net (RFC 1812 §5.2.7.1) / no route (RFC 4443 code 0); "
        "unreachable routes: host unreachable / reject route (code 6); blackholes: silent, counted",
    )
    w = lambda f: c.rx("west", f)
    f = w(to_router(LAN, W1_MAC, udp4(W1[0], "8.8.8.8", size=20, id=1)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 3, 0), f)
    f = w(to_router(LAN, W1_MAC, udp6(W1[1], "2001:db8:ffff::1", size=20)))
    c.tx("west", icmp6_error(LAN, W1_MAC, LAN.v6, f, ICMPv6DestUnreach(code=0)), f)
    f = w(to_router(LAN, W1_MAC, udp4(W1[0], "192.0.2.5", size=20, id=2)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 3, 1), f)
    f = w(to_router(LAN, W1_MAC, udp6(W1[1], "2001:db8:bad::5", size=20)))
    c.tx("west", icmp6_error(LAN, W1_MAC, LAN.v6, f, ICMPv6DestUnreach(code=6)), f)
    w(to_router(LAN, W1_MAC, udp4(W1[0], "203.0.113.5", size=20)))
    w(to_router(LAN, W1_MAC, udp6(W1[1], "2001:db8:dead::5", size=20)))
    c.drop("west", "route.blackhole", 2)
    # The TTL is checked before the route.
    f = w(to_router(LAN, W1_MAC, udp4(W1[0], "203.0.113.5", ttl=1, size=20, id=3)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 11, 0), f)
    count(c, "west", tx=5, dropped=2)
    e = lambda f: c.rx("east", f)
    f = e(to_router(WAN, E1_MAC, udp4("198.51.100.9", "8.8.8.8", size=20, id=4)))
    c.tx("east", icmp4_error(WAN, E1_MAC, WAN.v4, f, 3, 0), f)
    f = e(to_router(VL, V1_MAC, udp6(V1[1], "2001:db8:ffff::1", size=20)))
    c.tx("east", icmp6_error(VL, V1_MAC, VL.v6, f, ICMPv6DestUnreach(code=0)), f)
    count(c, "east", tx=2)
    return c


def fragments(frame, ifc, dst_mac, mtu):
    """RFC 791 fragmentation of the forwarded packet (TTL already - 1):
    8-byte aligned pieces of the payload; MF on all but the last (and on
    the last if the original had it); offsets relative to the original's."""
    b = ip_bytes(frame)
    ip = IP(b)
    hl = ip.ihl * 4
    payload = b[hl:]
    chunk = (mtu - hl) // 8 * 8
    out = []
    off = 0
    while off < len(payload):
        piece = payload[off : off + chunk]
        last = off + len(piece) == len(payload)
        h = IP(b[:hl])
        h.ttl -= 1
        h.flags = "MF" if (not last or ip.flags.MF) else 0
        h.frag = ip.frag + off // 8
        h.len = hl + len(piece)
        del h.chksum
        out.append(from_router(ifc, dst_mac, IP(bytes(h) + piece)))
        off += len(piece)
    return out


def case_mtu():
    c = Case(
        "mtu",
        "Larger than the egress MTU (wan: 1400): DF set: Fragmentation Needed with the next-hop MTU "
        "(RFC 1191); IPv6: Packet Too Big (RFC 4443 §3.2); DF clear: fragmented (RFC 791)",
    )
    w = lambda f: c.rx("west", f)
    late = []  # second fragments, emitted after the burst's in-place frames
    f = w(to_router(LAN, W1_MAC, sized4(W1[0], "198.51.100.7", 1450, flags="DF", id=21)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 3, 4, nexthopmtu=1400), f)
    f = w(to_router(LAN, W1_MAC, sized4(W1[0], "198.51.100.7", 1450, id=22)))
    fr = fragments(f, WAN, E1_MAC, 1400)
    assert len(fr) == 2
    c.tx("east", fr[0], f)
    late += fr[1:]
    f = w(to_router(LAN, W1_MAC, sized4(W1[0], "198.51.100.7", 1400, id=23)))  # fits
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    f = w(to_router(LAN, W1_MAC, sized6(W1[1], "2001:db8:100::7", 1450)))
    c.tx("west", icmp6_error(LAN, W1_MAC, LAN.v6, f, ICMPv6PacketTooBig(mtu=1400)), f)
    f = w(to_router(LAN, W1_MAC, sized6(W1[1], "2001:db8:100::7", 1400)))  # fits
    c.tx("east", forwarded(f, WAN, E1_MAC), f)
    # Fragments of fragments: MF kept on the last piece of a first
    # fragment, offsets added to the original's.
    f = w(to_router(LAN, W1_MAC, sized4(W1[0], "198.51.100.7", 1450, id=24, flags="MF")))
    fr = fragments(f, WAN, E1_MAC, 1400)
    c.tx("east", fr[0], f)
    late += fr[1:]
    f = w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="198.51.100.7", id=25, frag=250) / Raw(bytes(range(256)) * 5 + b"t" * 150)))
    fr = fragments(f, WAN, E1_MAC, 1400)
    c.tx("east", fr[0], f)
    late += fr[1:]
    # Options and too big: xgw fragments only option-less packets.
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="198.51.100.7", id=26, options=[IPOption_Router_Alert()]) / Raw(b"o" * 1430)))
    c.drop("west", "ip4.frag_with_options")
    # To the VLAN (MTU 1500): no fragmentation.
    f = w(to_router(LAN, W1_MAC, sized4(W1[0], V1[0], 1450, id=27)))
    c.tx("east", forwarded(f, VL, V1_MAC), f)
    last = c.inputs["west"][-1]
    for x in late:
        c.tx("east", x, last)
    count(c, "west", tx=2, dropped=1)
    count(c, "east", tx=6 + len(late), emitted=len(late))
    return c


def case_resolve():
    c = Case(
        "resolve",
        "Next hop unknown: ARP request (broadcast) / NS (solicited-node multicast, SLLA) sent, frames "
        "parked; the reply releases them; a neighbour that never answers loses its frames at the end",
    )
    w = lambda f: c.rx("west", f)
    E3 = ("10.0.1.3", "2001:db8:b::3")
    a1 = w(to_router(LAN, W1_MAC, udp4(W1[0], E3[0], size=10, id=31)))
    a2 = w(to_router(LAN, W1_MAC, udp4(W1[0], E3[0], size=11, id=32)))
    b1 = w(to_router(LAN, W1_MAC, udp6(W1[1], E3[1], size=12)))
    w(to_router(LAN, W1_MAC, udp4(W1[0], "10.0.1.4", size=13, id=34)))  # never answered
    v3 = w(to_router(LAN, W1_MAC, udp4(W1[0], "10.0.2.3", size=14, id=35)))
    big = w(to_router(LAN, W1_MAC, sized4(W1[0], E3[0], 1450, id=36)))  # fragmented once resolved
    last_w = big
    group, gmac = sol_node(E3[1])
    ns = IPv6(src=WAN.v6, dst=group, hlim=255, tc=0, fl=0) / ICMPv6ND_NS(tgt=E3[1]) / ICMPv6NDOptSrcLLAddr(lladdr=EAST_MAC)
    for frame in (
        from_router(WAN, BCAST, ARP(op=1, hwsrc=EAST_MAC, psrc=WAN.v4, hwdst="00:00:00:00:00:00", pdst=E3[0])),
        from_router(WAN, gmac, ns),
        from_router(WAN, BCAST, ARP(op=1, hwsrc=EAST_MAC, psrc=WAN.v4, hwdst="00:00:00:00:00:00", pdst="10.0.1.4")),
        from_router(VL, BCAST, ARP(op=1, hwsrc=EAST_MAC, psrc=VL.v4, hwdst="00:00:00:00:00:00", pdst="10.0.2.3")),
    ):
        c.tx("east", frame, last_w)
    c.drop("west", "engine.shutdown")
    e = lambda f: c.rx("east", f)
    e(to_router(WAN, E3_MAC, ARP(op=2, hwsrc=E3_MAC, psrc=E3[0], hwdst=EAST_MAC, pdst=WAN.v4)))
    e(
        to_router(
            WAN,
            E3_MAC,
            IPv6(src=E3[1], dst=WAN.v6, hlim=255) / ICMPv6ND_NA(R=0, S=1, O=1, tgt=E3[1]) / ICMPv6NDOptDstLLAddr(lladdr=E3_MAC),
        )
    )
    last_e = e(to_router(VL, V3_MAC, ARP(op=2, hwsrc=V3_MAC, psrc="10.0.2.3", hwdst=EAST_MAC, pdst=VL.v4)))
    # Released in the order the replies were learned (ARP before NDP
    # within a burst), each neighbour's frames in the order parked.
    # They leave when released: stamped with the burst that released them.
    c.tx("east", forwarded(a1, WAN, E3_MAC), last_e)
    c.tx("east", forwarded(a2, WAN, E3_MAC), last_e)
    fr = fragments(big, WAN, E3_MAC, 1400)
    c.tx("east", fr[0], last_e)
    c.tx("east", fr[1], last_e)
    c.tx("east", forwarded(v3, VL, V3_MAC), last_e)
    c.tx("east", forwarded(b1, WAN, E3_MAC), last_e)
    # Six parked on west; five released, one discarded at the end.
    count(c, "west", dropped=1, parked=6, unparked=6)
    count(c, "east", tx=4 + 6, emitted=4 + 1, local=3)
    return c


def case_no_error():
    c = Case(
        "no_error",
        "No ICMP error about an ICMP error, a non-first fragment, or a packet to or from a "
        "multicast/broadcast address (RFC 1812 §4.3.2.7, §5.3.4, RFC 4443 §2.4(e)); "
        "directed broadcasts of our subnets are received, never forwarded",
    )
    w = lambda f: c.rx("west", f)
    quoted = bytes(udp4("8.8.8.8", W1[0], size=8))
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="8.8.4.4") / ICMP(type=3, code=1) / Raw(quoted)))
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="198.51.100.7", ttl=1) / ICMP(type=11, code=0) / Raw(quoted)))
    w(to_router(LAN, W1_MAC, IPv6(src=W1[1], dst="2001:db8:ffff::1") / ICMPv6DestUnreach(code=3) / Raw(b"q" * 48)))
    w(to_router(LAN, W1_MAC, IPv6(src=W1[1], dst="2001:db8:100::7", hlim=1) / ICMPv6PacketTooBig(mtu=1280) / Raw(b"q" * 48)))
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="198.51.100.7", ttl=1, frag=185) / Raw(b"n" * 40)))  # non-first fragment
    w(to_router(LAN, W1_MAC, udp4(W1[0], LAN.v4, size=4), BCAST))  # to us, as a link-layer broadcast
    w(to_router(LAN, W1_MAC, udp6(W1[1], LAN.v6, size=4), ALL_NODES_MAC))
    c.drop("west", "icmp.suppressed", 7)
    w(to_router(LAN, W1_MAC, udp4(W1[0], "10.0.0.255", size=4), BCAST))
    w(to_router(LAN, W1_MAC, udp4(W1[0], "255.255.255.255", size=4), BCAST))
    w(to_router(LAN, W1_MAC, udp4(W1[0], "10.0.1.255", ttl=1, size=4), BCAST))  # wan's directed broadcast
    w(to_router(LAN, W1_MAC, udp6(W1[1], "ff02::1", size=4), ALL_NODES_MAC))
    w(to_router(LAN, W1_MAC, IP(src=W1[0], dst="10.0.0.255", proto=253) / Raw(b"\0" * 8), BCAST))
    local = 5
    w(to_router(LAN, W1_MAC, udp4(W1[0], "224.0.0.251", size=4), "01:00:5e:00:00:fb"))
    w(to_router(LAN, W1_MAC, udp4(W1[0], "239.1.1.1", ttl=1, size=4), "01:00:5e:01:01:01"))
    w(to_router(LAN, W1_MAC, udp4(W1[0], "8.8.8.8", size=4), BCAST))  # unicast in a broadcast
    c.drop("west", "ip4.multicast_not_forwarded", 3)
    w(to_router(LAN, W1_MAC, udp6(W1[1], "ff0e::1:3", hlim=1, size=4), "33:33:00:01:00:03"))
    w(to_router(LAN, W1_MAC, udp6(W1[1], "2001:db8:ffff::1", size=4), ALL_NODES_MAC))
    c.drop("west", "ip6.multicast_not_forwarded", 2)
    # A packet from :: is never forwarded (RFC 4291 §2.5.2), nor answered.
    w(to_router(LAN, W1_MAC, udp6("::", "2001:db8:100::7", size=4)))
    w(to_router(LAN, W1_MAC, udp6("::", "2001:db8:100::7", hlim=1, size=4)))
    c.drop("west", "ip6.martian_source", 2)
    # Control: an echo request (not an error) does get its Time Exceeded.
    f = w(to_router(LAN, W1_MAC, echo4(W1[0], "198.51.100.7", ttl=1)))
    c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 11, 0), f)
    count(c, "west", tx=1, local=local, dropped=14)
    e = lambda f: c.rx("east", f)
    e(to_router(WAN, E1_MAC, IP(src="198.51.100.9", dst=W1[0], ttl=1) / ICMP(type=12, code=0) / Raw(quoted)))
    c.drop("east", "icmp.suppressed")
    count(c, "east", dropped=1)
    return c


def case_malformed():
    c = Case("malformed", "Malformed frames: counted drops with named reasons, nothing sent")
    w = lambda f: c.rx("west", f)
    good4 = bytes(udp4(W1[0], "198.51.100.7", size=8))
    good6 = bytes(udp6(W1[1], "2001:db8:100::7", size=8))

    def raw4(b):
        return w(Ether(src=W1_MAC, dst=WEST_MAC, type=0x0800) / Raw(b))

    def raw6(b):
        return w(Ether(src=W1_MAC, dst=WEST_MAC, type=0x86DD) / Raw(b))

    raw4(bytes([0x44]) + good4[1:])  # IHL 4
    raw4(bytes([0x4F]) + good4[1:])  # IHL 15: header longer than the packet
    raw4(good4[:2] + (len(good4) + 100).to_bytes(2, "big") + good4[4:])  # total length > frame
    raw4(good4[:2] + (12).to_bytes(2, "big") + good4[4:])  # total length < header
    raw4(bytes([0x65]) + good4[1:])  # version 6 under EtherType IPv4
    raw4(good4[:19])  # truncated header
    c.drop("west", "ip4.malformed", 6)
    raw4(good4[:10] + b"\xbe\xef" + good4[12:])  # header checksum wrong
    c.drop("west", "ip4.bad_checksum")
    for src in ("127.0.0.1", "224.0.0.9", "0.0.0.0", "255.255.255.255"):
        w(to_router(LAN, W1_MAC, udp4(src, "198.51.100.7", size=8)))
    c.drop("west", "ip4.martian_source", 4)
    raw6(good6[:20])  # truncated header
    raw6(good6[:4] + (200).to_bytes(2, "big") + good6[6:])  # payload length > frame
    raw6(bytes([0x45]) + good6[1:])  # version 4 under EtherType IPv6
    c.drop("west", "ip6.malformed", 3)
    hbh = bytes(IPv6(src=W1[1], dst="2001:db8:100::7") / IPv6ExtHdrHopByHop() / UDP(sport=40000, dport=9))
    # Hop-by-Hop claiming 8 * (1 + 9) bytes: runs past the packet.
    raw6(hbh[:41] + b"\x09" + hbh[42:])
    chain = IPv6(src=W1[1], dst="2001:db8:100::7") / IPv6ExtHdrHopByHop()
    for _ in range(9):
        chain = chain / IPv6ExtHdrDestOpt()
    w(to_router(LAN, W1_MAC, chain / UDP(sport=40000, dport=9)))  # longer chain than xgw walks
    c.drop("west", "ip6.bad_ext_header", 2)
    w(to_router(LAN, W1_MAC, udp6("::1", "2001:db8:100::7", size=8)))
    w(to_router(LAN, W1_MAC, udp6("ff02::1", "2001:db8:100::7", size=8)))
    c.drop("west", "ip6.martian_source", 2)
    w(Raw(bytes.fromhex(WEST_MAC.replace(":", "")) + b"runt"))
    w(Raw(bytes.fromhex(WEST_MAC.replace(":", "") + W1_MAC.replace(":", "")) + b"\x81\x00"))  # tag cut off
    c.drop("west", "l2.runt", 2)
    w(Ether(src=W1_MAC, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + b"\0" * 40))  # LLDP
    c.drop("west", "l2.unknown_ethertype")
    w(Ether(src=W1_MAC, dst="02:00:00:00:0a:99") / udp4(W1[0], "198.51.100.7"))
    c.drop("west", "l2.not_for_us")
    count(c, "west", dropped=sum(c.drops["west"].values()))
    return c


def case_ratelimit():
    c = Case(
        "ratelimit",
        "ICMP errors are rate limited per worker (bucket of 100, refilled at 200/s; RFC 1812 §4.3.2.8, "
        "RFC 4443 §2.4(f)): of 200 expired packets read within a few milliseconds, the first 100 get "
        "Time Exceeded, the rest are counted",
    )
    n = 200
    for i in range(n):
        f = c.rx("west", to_router(LAN, W1_MAC, udp4(W1[0], "198.51.100.7", ttl=1, size=8, id=1000 + i)))
        c.tx("west", icmp4_error(LAN, W1_MAC, LAN.v4, f, 11, 0), f)
    # The bucket refills while the replay runs (one token per 5 ms), so a
    # slow run may answer a few of the later packets too: the test wants
    # the announcements and the first 100 errors exactly, then any
    # in-order subset of the other 100, and tx + icmp.rate_limited = 200.
    c.tolerant = {"port": "west", "min_errors": 100, "reason": "icmp.rate_limited", "frames": n}
    count(c, "west", tx=100, dropped=n - 100)
    c.drop("west", "icmp.rate_limited", n - 100)
    return c


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    with open(os.path.join(OUT, "config.toml"), "w") as f:
        f.write(CONFIG)
    cases = [
        case_arp(),
        case_ndp(),
        case_echo(),
        case_forward(),
        case_vlan(),
        case_ttl(),
        case_unreach(),
        case_mtu(),
        case_resolve(),
        case_no_error(),
        case_malformed(),
        case_ratelimit(),
    ]
    for c in cases:
        for port in ("west", "east"):
            assert len(c.inputs[port]) <= BURST or c.tolerant, (c.name, "one burst per port")
        c.write()
    print("wrote %d cases to %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
