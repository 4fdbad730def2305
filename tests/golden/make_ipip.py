#!/usr/bin/python3
"""Writes the IP-in-IP tunnel golden fixtures with scapy, independently of xgw.

Regenerate (from this directory, with Debian's python3-scapy, which only
/usr/bin/python3 has):

    /usr/bin/python3 make_ipip.py

then run `cargo test --release -p xgw-tests --test golden_ipip` and commit
tests/golden/ipip/. The expected frames are built field by field from the
RFCs (RFC 2003 4in4, RFC 4213 6in4, RFC 2473 4in6 / 6in6, RFC 6040 ECN,
RFC 791/792/1191/4443 for the ICMP and fragmentation parts); they are never
copied from xgw's output. If xgw and a fixture disagree, read the RFC
before touching either.

Layout, per case ipip/<case>/: config.toml (the topology below, with the
case's tunnel options), {west,east}-in.pcap (frames arriving on each port;
absent if none), {west,east}-out.pcap (what xgw must send, byte for byte,
with timestamps) and expect.json (per port rx/tx/emitted/local/dropped/
pending/parked/unparked (all neighbours are static: nothing waits) and
every non-zero drop reason; all other reasons must be zero).

Topology (pcap ports, static neighbours: nothing is resolved):

    H 10.1.5.10 2001:db8:5::10 ─ lan 10.1.5.1/24 2001:db8:5::1/64  [west]
    P 192.168.0.2 fd00::2      ─ wan 192.168.0.1/24 fd00::1/64     [east]

    tunnel kind  local        remote       address        routes into it
    t44    4in4  192.168.0.1  192.168.0.2  1.1.1.1/24     10.1.8.0/24 via 1.1.1.2
    t64    6in4  192.168.0.1  192.168.0.2  fd01:64::1/64  2001:db8:8::/64 via fd01:64::2
    t46    4in6  fd00::1      fd00::2      1.1.2.1/24     10.2.8.0/24 via 1.1.2.2
    t66    6in6  fd00::1      fd00::2      fd01:66::1/64  2001:db8:18::/64 via fd01:66::2

What the expectations model:
- Forwarding into a tunnel: the inner packet is forwarded as by any router
  (TTL / hop limit - 1, IPv4 checksum equal to a full recompute; Time
  Exceeded at 1; larger than the tunnel MTU with DF set, or IPv6:
  Fragmentation Needed / Packet Too Big with the tunnel MTU, to the sender).
  Then the outer header goes in front: IPv4 outer: version 4, IHL 5, TOS =
  DSCP (copied from the inner packet, or fixed) | ECN (RFC 6040 §4.1
  normal mode: copied; compatibility mode: Not-ECT), ID from a per-worker
  counter that starts at (worker << 12) + 1 and counts every IPv4 header
  xgw writes for a tunnel (each replay runs one worker 0: 1, 2, 3, ...),
  DF copied from an inner IPv4 packet (always set over IPv6 inner, "set"
  and "clear" force it), no fragment offset, TTL 64 (or fixed, or
  "inherit": the inner TTL after the decrement), protocol 4 (IPv4 inner)
  or 41 (IPv6 inner). IPv6 outer: traffic class as the TOS above, flow
  label 0, next header 4 / 41, hop limit as the TTL above. Ethernet: wan's
  MAC to P's.
- Decapsulation: only an IP-in-IP packet whose outer source, destination
  and protocol are a tunnel's remote, local and kind (else
  tunnel.no_match). RFC 6040 §4.2 on the inner ECN field (outer CE over
  Not-ECT: dropped as tunnel.ecn_ce_not_ect; outer CE: CE; outer ECT(1)
  over ECT(0): ECT(1); else unchanged), IPv4 checksum fixed. The inner
  packet is then forwarded as received on the tunnel (TTL - 1 ...); ICMP
  errors about it come from the tunnel's first address of the family and
  go back through the tunnel.
- ICMP errors: IPv4 TTL 64, TOS 0xc0, ID 0, DF clear, quoting the
  offending packet as received up to 576 bytes in all; IPv6 hop limit 64,
  traffic class 0xc0, flow label 0, quoting up to 1280 bytes in all.
- A DF-clear inner IPv4 packet larger than the tunnel MTU is fragmented
  (RFC 791) so that every fragment fits the tunnel MTU, and each fragment
  gets its own outer header (the far end never reassembles outer
  fragments); the extra fragments are emitted after the burst.
- At start xgw announces every address (gratuitous ARP, unsolicited NA with
  R=1 S=0 O=1 and TLLA, link-local last), stamped with the first input
  timestamp; tunnels announce nothing. Frames keep the timestamp of the
  input frame they came from; emitted frames carry the latest input
  timestamp read so far.
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
    Ether,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPv6,
    Padding,
    Raw,
    wrpcap,
)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ipip")

WEST_MAC, EAST_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
H_MAC, P_MAC = "02:00:00:00:0a:02", "02:00:00:00:0b:02"
BCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES_MAC = "33:33:00:00:00:01"

LAN4, LAN6 = "10.1.5.1", "2001:db8:5::1"
WAN4, WAN6 = "192.168.0.1", "fd00::1"
H4, H6 = "10.1.5.10", "2001:db8:5::10"
P4, P6 = "192.168.0.2", "fd00::2"
# hosts behind the far end, one per tunnel
FAR = {"t44": "10.1.8.10", "t64": "2001:db8:8::10", "t46": "10.2.8.10", "t66": "2001:db8:18::10"}

T0 = 1700000000.0
BURST = 32


def eui64_ll(mac):
    """fe80::/64 with the modified EUI-64 interface identifier (RFC 4291 App. A)."""
    m = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
    words = [int.from_bytes(iid[i : i + 2], "big") for i in range(0, 8, 2)]
    return "fe80::" + ":".join("%x" % w for w in words)


class Tunnel:
    """A tunnel with its options (the defaults are xgw's documented ones)."""

    def __init__(self, name, kind, local, remote, addr, route, via, **opts):
        self.name, self.kind, self.local, self.remote = name, kind, local, remote
        self.addr, self.route, self.via = addr, route, via
        self.outer_v6 = kind in ("4in6", "6in6")
        self.inner_v6 = kind in ("6in4", "6in6")
        self.proto = 41 if self.inner_v6 else 4
        self.mtu = opts.get("mtu", 1460 if self.outer_v6 else 1480)
        self.ttl = opts.get("ttl", 64)  # int or "inherit"
        self.dscp = opts.get("dscp", "copy")  # int or "copy"
        self.df = opts.get("df", "copy")  # copy / set / clear
        self.ecn = opts.get("ecn", "normal")  # normal / compatibility
        self.opts = opts

    @property
    def addr_ip(self):
        return self.addr.split("/")[0]

    def toml(self):
        fam = "ipv6" if ":" in self.addr else "ipv4"
        s = '\n[[tunnels]]\nname = "%s"\nkind = "%s"\nlocal = "%s"\nremote = "%s"\n%s = ["%s"]\n' % (
            self.name,
            self.kind,
            self.local,
            self.remote,
            fam,
            self.addr,
        )
        for k, v in self.opts.items():
            s += "%s = %s\n" % (k, json.dumps(v))
        return s


def tunnels(**over):
    """The four tunnels; over = {name: {option: value}}."""
    o = lambda n: over.get(n, {})
    return [
        Tunnel("t44", "4in4", WAN4, P4, "1.1.1.1/24", "10.1.8.0/24", "1.1.1.2", **o("t44")),
        Tunnel("t64", "6in4", WAN4, P4, "fd01:64::1/64", "2001:db8:8::/64", "fd01:64::2", **o("t64")),
        Tunnel("t46", "4in6", WAN6, P6, "1.1.2.1/24", "10.2.8.0/24", "1.1.2.2", **o("t46")),
        Tunnel("t66", "6in6", WAN6, P6, "fd01:66::1/64", "2001:db8:18::/64", "fd01:66::2", **o("t66")),
    ]


def config(tuns):
    s = """\
# IP-in-IP golden tests (tests/golden/make_ipip.py writes this file).
[engine]
cores = [0]
burst = 32

[[ports]]
name = "west"
driver = "pcap"
mac = "%s"

[[ports]]
name = "east"
driver = "pcap"
mac = "%s"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "west"
ipv4 = ["%s/24"]
ipv6 = ["%s/64"]

[[interfaces]]
name = "wan"
port = "east"
ipv4 = ["%s/24"]
ipv6 = ["%s/64"]
""" % (
        WEST_MAC,
        EAST_MAC,
        LAN4,
        LAN6,
        WAN4,
        WAN6,
    )
    for t in tuns:
        s += t.toml()
    for t in tuns:
        s += '\n[[routes]]\nprefix = "%s"\nvia = "%s"\n' % (t.route, t.via)
    for ifc, ips, mac in (("lan", (H4, H6), H_MAC), ("wan", (P4, P6), P_MAC)):
        for ip in ips:
            s += '\n[[neighbors]]\ninterface = "%s"\nip = "%s"\nmac = "%s"\n' % (ifc, ip, mac)
    return s


# --------------------------------------------------------------- building blocks


def ip_bytes(frame):
    """The L3 packet of a frame as received (Ethernet padding stripped)."""
    b = bytes(frame[Ether].payload)
    if b[0] >> 4 == 4:
        return b[: int.from_bytes(b[2:4], "big")]
    return b[: 40 + int.from_bytes(b[4:6], "big")]


def to_lan(l3):
    """A frame xgw sends to H (lan)."""
    return Ether(src=WEST_MAC, dst=H_MAC) / l3


def from_h(l3, pad=0):
    f = Ether(src=H_MAC, dst=WEST_MAC) / l3
    return f / Padding(b"\0" * pad) if pad else f


def from_p(l3):
    return Ether(src=P_MAC, dst=EAST_MAC) / l3


def routed(b):
    """RFC 1812 / RFC 8200: a forwarded packet, TTL / hop limit - 1 (IPv4
    header checksum recomputed from scratch)."""
    if b[0] >> 4 == 4:
        q = IP(b)
        q.ttl -= 1
        del q.chksum
        return bytes(IP(bytes(q)))
    q = IPv6(b)
    q.hlim -= 1
    return bytes(q)


def tos_of(b):
    if b[0] >> 4 == 4:
        return b[1]
    return ((b[0] & 0x0F) << 4) | (b[1] >> 4)


def ttl_of(b):
    return b[8] if b[0] >> 4 == 4 else b[7]


class Idents:
    """xgw's IPv4 identification counter for headers it writes (worker 0)."""

    def __init__(self):
        self.n = 0

    def next(self):
        self.n = (self.n + 1) & 0xFFFF
        return self.n


def outer(t, inner, ident):
    """RFC 2003 §3.1 / RFC 4213 §3.5 / RFC 2473 §5: the outer header for
    `inner` (the inner packet as it leaves xgw), with RFC 6040 §4.1 ECN."""
    tos = tos_of(inner)
    dscp = (tos >> 2) if t.dscp == "copy" else t.dscp
    ecn = (tos & 3) if t.ecn == "normal" else 0
    otos = (dscp << 2) | ecn
    ttl = ttl_of(inner) if t.ttl == "inherit" else t.ttl
    if t.outer_v6:
        return IPv6(src=t.local, dst=t.remote, nh=t.proto, hlim=ttl, tc=otos, fl=0) / Raw(inner)
    if t.df == "copy":
        df = True if t.inner_v6 else bool(IP(inner).flags.DF)
    else:
        df = t.df == "set"
    return IP(src=t.local, dst=t.remote, proto=t.proto, ttl=ttl, tos=otos, id=ident.next(), flags="DF" if df else 0) / Raw(
        inner
    )


def encapsulated(t, inner, ident):
    """The frame xgw sends to P for `inner` (already as forwarded)."""
    return Ether(src=EAST_MAC, dst=P_MAC) / outer(t, inner, ident)


def tunnelled_in(t, inner, tos=0, ttl=64, src=None, dst=None, proto=None, **kw):
    """An IP-in-IP frame from P (the far end of `t`) carrying `inner` bytes."""
    src, dst = src or t.remote, dst or t.local
    proto = t.proto if proto is None else proto
    if ":" in src:
        o = IPv6(src=src, dst=dst, nh=proto, hlim=ttl, tc=tos, **kw)
    else:
        o = IP(src=src, dst=dst, proto=proto, ttl=ttl, tos=tos, **kw)
    return from_p(o / Raw(inner))


ECT1, ECT0, CE = 1, 2, 3


def ecn_decap(inner, outer_ecn):
    """RFC 6040 §4.2, Figure 4: the inner ECN field after decapsulation, or
    None (drop)."""
    if outer_ecn == CE:
        return None if inner == 0 else CE
    if outer_ecn == ECT1 and inner == ECT0:
        return ECT1
    return inner


def with_ecn(b, ecn):
    """`b` with its ECN field set (IPv4 checksum recomputed)."""
    if b[0] >> 4 == 4:
        q = IP(b)
        q.tos = (q.tos & 0xFC) | ecn
        del q.chksum
        return bytes(IP(bytes(q)))
    q = IPv6(b)
    q.tc = (q.tc & 0xFC) | ecn
    return bytes(q)


def icmp4_error(src, orig, typ, code, **kw):
    """RFC 792 / RFC 1812 §4.3.2.3: quote as much of the packet as fits in
    576 bytes."""
    quote = orig[: 576 - 28]
    return bytes(IP(src=src, dst=IP(orig).src, ttl=64, tos=0xC0, id=0, flags=0) / ICMP(type=typ, code=code, **kw) / Raw(quote))


def icmp6_error(src, orig, layer):
    """RFC 4443 §2.4(c): quote as much as fits in the IPv6 minimum MTU."""
    quote = orig[: 1280 - 48]
    return bytes(IPv6(src=src, dst=IPv6(orig).src, hlim=64, tc=0xC0, fl=0) / layer / Raw(quote))


def udp4(src, dst, size=18, ttl=64, tos=0, df=True, ident=0x1111, sport=40000):
    """IPv4/UDP with `size` payload bytes (18: a 46-byte packet, a 64-byte frame)."""
    return bytes(
        IP(src=src, dst=dst, ttl=ttl, tos=tos, id=ident, flags="DF" if df else 0)
        / UDP(sport=sport, dport=9)
        / Raw(bytes((i * 7) & 0xFF for i in range(size)))
    )


def udp6(src, dst, size=18, hlim=64, tc=0, fl=0x12345, sport=40000):
    return bytes(IPv6(src=src, dst=dst, hlim=hlim, tc=tc, fl=fl) / UDP(sport=sport, dport=9) / Raw(bytes((i * 7) & 0xFF for i in range(size))))


def sized4(src, dst, total, **kw):
    return udp4(src, dst, size=total - 28, **kw)


def sized6(src, dst, total, **kw):
    return udp6(src, dst, size=total - 48, **kw)


def fragments4(b, mtu):
    """RFC 791 fragmentation of IPv4 packet `b` (header without options)
    into pieces that fit `mtu`: 8-byte aligned payload pieces, MF on all but
    the last, same ID."""
    if len(b) <= mtu:
        return [b]
    ip = IP(b)
    hl = ip.ihl * 4
    payload = b[hl:]
    chunk = (mtu - hl) // 8 * 8
    out, off = [], 0
    while off < len(payload):
        piece = payload[off : off + chunk]
        last = off + len(piece) == len(payload)
        h = IP(b[:hl])
        h.flags = "MF" if (not last or ip.flags.MF) else 0
        h.frag = ip.frag + off // 8
        h.len = hl + len(piece)
        del h.chksum
        out.append(bytes(IP(bytes(h))) + piece)
        off += len(piece)
    return out


# --------------------------------------------------------------- cases


def announcements():
    """Gratuitous ARP / unsolicited NAs sent at start, per port."""
    out = {"west": [], "east": []}
    for port, mac, v4, v6 in (("west", WEST_MAC, LAN4, LAN6), ("east", EAST_MAC, WAN4, WAN6)):
        out[port].append(Ether(src=mac, dst=BCAST) / ARP(op=1, hwsrc=mac, psrc=v4, hwdst="00:00:00:00:00:00", pdst=v4))
        for a in (v6, eui64_ll(mac)):
            out[port].append(
                Ether(src=mac, dst=ALL_NODES_MAC)
                / IPv6(src=a, dst="ff02::1", hlim=255, tc=0, fl=0)
                / ICMPv6ND_NA(R=1, S=0, O=1, tgt=a)
                / ICMPv6NDOptDstLLAddr(lladdr=mac)
            )
    return out


class Case:
    def __init__(self, name, doc, tuns=None):
        self.name, self.doc = name, doc
        self.tuns = tuns or tunnels()
        self.t = {t.name: t for t in self.tuns}
        self.ident = Idents()
        self.inputs = {"west": [], "east": []}
        self.outputs = {"west": [], "east": []}
        self.late = {"west": [], "east": []}
        self.counters = {"west": {}, "east": {}}
        self.drops = {"west": {}, "east": {}}

    def rx(self, port, frame):
        base = T0 if port == "west" else T0 + 1.0
        frame.time = base + len(self.inputs[port]) * 0.001
        self.inputs[port].append(frame)
        return frame

    def tx(self, port, frame, cause):
        """Expect `frame` on `port` (sent in place of the input `cause`)."""
        frame = Ether(bytes(frame))
        frame.time = cause.time
        self.outputs[port].append(frame)

    def emit(self, port, frame):
        """Expect `frame` on `port` after the burst's in-place frames (made
        by xgw: stamped with the latest input timestamp)."""
        self.late[port].append(Ether(bytes(frame)))

    def drop(self, port, reason, n=1):
        self.drops[port][reason] = self.drops[port].get(reason, 0) + n

    def write(self):
        d = os.path.join(OUT, self.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(config(self.tuns))
        first = min(f.time for fs in self.inputs.values() for f in fs)
        last = max(f.time for fs in self.inputs.values() for f in fs)
        ann = announcements()
        expect = {"doc": self.doc, "ports": {}}
        for port in ("west", "east"):
            assert len(self.inputs[port]) <= BURST, (self.name, "one burst per port")
            if self.inputs[port]:
                wrpcap(os.path.join(d, port + "-in.pcap"), self.inputs[port], linktype=1)
            for f in ann[port]:
                f.time = first
            for f in self.late[port]:
                f.time = last
            outs = ann[port] + self.outputs[port] + self.late[port]
            wrpcap(os.path.join(d, port + "-out.pcap"), outs, linktype=1)
            c = {
                "rx": len(self.inputs[port]),
                "tx": len(outs),
                "emitted": len(ann[port]) + len(self.late[port]),
                "local": 0,
                "pending": 0,
                "parked": 0,
                "unparked": 0,
                "dropped": sum(self.drops[port].values()),
                "drops": self.drops[port],
            }
            c.update(self.counters[port])
            expect["ports"][port] = c
        with open(os.path.join(d, "expect.json"), "w") as f:
            json.dump(expect, f, indent=1, sort_keys=True)
            f.write("\n")
        p = expect["ports"]
        rx = sum(p[x]["rx"] for x in p)
        em = sum(p[x]["emitted"] for x in p)
        tx = sum(p[x]["tx"] for x in p)
        dr = sum(p[x]["dropped"] for x in p)
        lo = sum(p[x]["local"] for x in p)
        assert rx + em == tx + lo + dr, (self.name, rx, em, tx, lo, dr)


def case_encap(kind):
    """Forwarding from lan into the tunnel of `kind`."""
    c = Case(
        "encap_" + kind,
        "%s encapsulation (forwarded lan -> tunnel): inner TTL/hop limit - 1, outer header per RFC 2003/4213/2473 with "
        "DSCP and ECN copied (RFC 6040 normal mode), DF copied, TTL 64, IPv4 ID counter from 1; Ethernet padding not "
        "carried; inner TTL 1: Time Exceeded; larger than the tunnel MTU: Fragmentation Needed / Packet Too Big "
        "with the tunnel MTU" % kind,
    )
    t = next(x for x in c.tuns if x.kind == kind)
    dst = FAR[t.name]
    w = lambda b, pad=0: c.rx("west", from_h(IP(b) if b[0] >> 4 == 4 else IPv6(b), pad))
    if t.inner_v6:
        pkts = [
            udp6(H6, dst),  # 64-byte frame
            udp6(H6, dst, tc=0xB8 | ECT0, size=100),  # EF + ECT(0)
            udp6(H6, dst, tc=0x28 | CE, fl=0),  # AF11 + CE
            bytes(IPv6(src=H6, dst=dst, hlim=17, tc=ECT1) / ICMPv6EchoRequest(id=7, seq=1, data=b"xgw-ipip" * 4)),
            bytes(IPv6(src=H6, dst=dst) / TCP(sport=40001, dport=80, flags="S", seq=1000)),
        ]
    else:
        pkts = [
            udp4(H4, dst),  # 64-byte frame, DF
            udp4(H4, dst, tos=0xB8 | ECT0, df=False, size=100, ident=0x2222),  # EF + ECT(0), DF clear
            udp4(H4, dst, tos=0x28 | CE, ident=0x3333),  # AF11 + CE
            bytes(IP(src=H4, dst=dst, ttl=17, tos=ECT1, id=0x4444, flags="DF") / ICMP(type=8, id=7, seq=1) / Raw(b"xgw-ipip" * 4)),
            bytes(IP(src=H4, dst=dst, id=0x5555, flags="DF") / TCP(sport=40001, dport=80, flags="S", seq=1000)),
        ]
    for b in pkts:
        f = w(b)
        c.tx("east", encapsulated(t, routed(b), c.ident), f)
    # A small packet in a padded 60-byte frame: the padding stays behind.
    if t.inner_v6:
        small = bytes(IPv6(src=H6, dst=dst) / ICMPv6EchoRequest(id=8, seq=2))
        f = w(small)  # 62 bytes: IPv6 frames are never padded
    else:
        small = bytes(IP(src=H4, dst=dst, id=0x6666) / ICMP(type=8, id=8, seq=2))
        f = w(small, pad=60 - 14 - len(small))
    c.tx("east", encapsulated(t, routed(small), c.ident), f)
    # Inner TTL / hop limit 1: Time Exceeded from lan's address, no ID used.
    if t.inner_v6:
        b = udp6(H6, dst, hlim=1)
        f = w(b)
        c.tx("west", to_lan(IPv6(icmp6_error(LAN6, b, ICMPv6TimeExceeded(code=0)))), f)
    else:
        b = udp4(H4, dst, ttl=1, ident=0x7777)
        f = w(b)
        c.tx("west", to_lan(IP(icmp4_error(LAN4, b, 11, 0))), f)
    # One byte over the tunnel MTU (DF, or IPv6): the error carries the tunnel MTU.
    if t.inner_v6:
        b = sized6(H6, dst, t.mtu + 1)
        f = w(b)
        c.tx("west", to_lan(IPv6(icmp6_error(LAN6, b, ICMPv6PacketTooBig(mtu=t.mtu)))), f)
    else:
        b = sized4(H4, dst, t.mtu + 1, ident=0x8888)
        f = w(b)
        c.tx("west", to_lan(IP(icmp4_error(LAN4, b, 3, 4, nexthopmtu=t.mtu))), f)
    # Exactly the tunnel MTU: encapsulated (the outer packet is 1500 bytes).
    b = sized6(H6, dst, t.mtu) if t.inner_v6 else sized4(H4, dst, t.mtu, ident=0x9999)
    f = w(b)
    c.tx("east", encapsulated(t, routed(b), c.ident), f)
    return c


def case_decap(kind):
    """IP-in-IP from the far end of the tunnel of `kind`, to H."""
    c = Case(
        "decap_" + kind,
        "%s decapsulation (tunnel -> lan): outer header removed, inner forwarded with TTL/hop limit - 1; outer TTL, "
        "DSCP and DF do not matter, ECN per RFC 6040 (no CE here); outer IPv4 options skipped; inner TTL 1: Time "
        "Exceeded from the tunnel's address, back through the tunnel" % kind,
    )
    t = next(x for x in c.tuns if x.kind == kind)
    far = FAR[t.name]
    e = lambda f: c.rx("east", f)
    if t.inner_v6:
        pkts = [
            (udp6(far, H6), {}),
            (udp6(far, H6, tc=0xB8 | ECT0, size=200), {"tos": 0xB8 | ECT0, "ttl": 3}),
            (bytes(IPv6(src=far, dst=H6, hlim=9) / ICMPv6EchoReply(id=7, seq=1, data=b"xgw-ipip" * 4)), {"tos": 0x20}),
            (bytes(IPv6(src=far, dst=H6, tc=ECT1) / TCP(sport=80, dport=40001, flags="SA", seq=5000, ack=1001)), {"tos": ECT0}),
        ]
    else:
        pkts = [
            (udp4(far, H4), {}),
            (udp4(far, H4, tos=0xB8 | ECT0, size=200, df=False), {"tos": 0xB8 | ECT0, "ttl": 3}),
            (bytes(IP(src=far, dst=H4, ttl=9, id=0x4444) / ICMP(type=0, id=7, seq=1) / Raw(b"xgw-ipip" * 4)), {"tos": 0x20}),
            (bytes(IP(src=far, dst=H4, tos=ECT1, id=0x5555, flags="DF") / TCP(sport=80, dport=40001, flags="SA", seq=5000, ack=1001)), {"tos": ECT0}),
        ]
    if not t.outer_v6:
        # outer DF set and outer header options (RFC 2003 allows them)
        from scapy.all import IPOption_Router_Alert

        pkts.append((udp4(far, H4, ident=0x6666) if not t.inner_v6 else udp6(far, H6, size=30), {"flags": "DF", "options": [IPOption_Router_Alert()]}))
    for b, okw in pkts:
        f = e(tunnelled_in(t, b, **okw))
        c.tx("west", to_lan(IP(routed(b)) if b[0] >> 4 == 4 else IPv6(routed(b))), f)
    # Inner TTL 1 after decapsulation: Time Exceeded from the tunnel's
    # address, routed back into the tunnel.
    if t.inner_v6:
        b = udp6(far, H6, hlim=1)
        f = e(tunnelled_in(t, b))
        err = icmp6_error(t.addr_ip, b, ICMPv6TimeExceeded(code=0))
    else:
        b = udp4(far, H4, ttl=1)
        f = e(tunnelled_in(t, b))
        err = icmp4_error(t.addr_ip, b, 11, 0)
    c.tx("east", encapsulated(t, err, c.ident), f)
    return c


def case_ecn():
    c = Case(
        "ecn_decap",
        "RFC 6040 §4.2 at decapsulation, all four kinds: outer CE over ECT(0)/ECT(1)/CE -> inner CE (IPv4 checksum "
        "fixed), outer ECT(1) over ECT(0) -> ECT(1), other combinations leave the inner field alone; outer CE over "
        "Not-ECT: dropped (tunnel.ecn_ce_not_ect)",
    )
    e = lambda f: c.rx("east", f)
    n_drop = 0
    for t in c.tuns:
        far = FAR[t.name]
        combos = [(ECT0, CE), (ECT1, CE), (CE, CE), (0, CE), (ECT0, ECT1), (ECT1, ECT0), (0, ECT0), (ECT0, 0)]
        if t.name != "t44":
            combos = [(ECT0, CE), (0, CE), (ECT0, ECT1)]
        for k, (inner_ecn, outer_ecn) in enumerate(combos):
            dscp = 0x28 if k % 2 else 0xB8
            if t.inner_v6:
                b = udp6(far, H6, tc=dscp | inner_ecn, sport=41000 + k)
            else:
                b = udp4(far, H4, tos=dscp | inner_ecn, ident=0x100 + k, sport=41000 + k)
            f = e(tunnelled_in(t, b, tos=0x48 | outer_ecn))
            got = ecn_decap(inner_ecn, outer_ecn)
            if got is None:
                n_drop += 1
                continue
            out = routed(with_ecn(b, got))
            c.tx("west", to_lan(IP(out) if not t.inner_v6 else IPv6(out)), f)
    c.drop("east", "tunnel.ecn_ce_not_ect", n_drop)
    return c


def case_no_match():
    c = Case(
        "no_match",
        "IP-in-IP to us that matches no tunnel's (kind, local, remote) is dropped as tunnel.no_match (no open "
        "relay): unknown outer source (IPv4 and IPv6), outer destination one of our addresses but not a tunnel's "
        "local one; non-tunnel traffic from the same sources is unaffected",
    )
    e = lambda f: c.rx("east", f)
    t44, t66 = c.t["t44"], c.t["t66"]
    e(tunnelled_in(t44, udp4("10.1.8.10", H4), src="192.168.0.99"))
    e(tunnelled_in(c.t["t64"], udp6("2001:db8:8::10", H6), src="192.168.0.99"))
    e(tunnelled_in(t66, udp6("2001:db8:18::10", H6), src="fd00::99"))
    e(tunnelled_in(c.t["t46"], udp4("10.2.8.10", H4), src="fd00::99"))
    e(tunnelled_in(t44, udp4("10.1.8.10", H4), dst=LAN4))  # our lan address
    e(tunnelled_in(t66, udp6("2001:db8:18::10", H6), dst=LAN6))
    c.drop("east", "tunnel.no_match", 6)
    # and an ordinary packet from that unknown source is forwarded as usual
    b = udp4("192.168.0.99", H4)
    f = e(from_p(IP(b)))
    c.tx("west", to_lan(IP(routed(b))), f)
    return c


def case_bad():
    c = Case(
        "bad_inner",
        "A matching tunnel but a bad inner packet: inner family not the tunnel's (tunnel.inner_malformed), "
        "truncated inner header (tunnel.inner_malformed), outer fragment (tunnel.outer_fragment, xgw does not "
        "reassemble), an inner packet that is itself IP-in-IP to us (tunnel.nested)",
    )
    e = lambda f: c.rx("east", f)
    t44, t66 = c.t["t44"], c.t["t66"]
    e(tunnelled_in(t44, udp6("2001:db8:8::10", H6)))  # IPv6 in a 4in4 tunnel
    e(tunnelled_in(t66, udp4("10.2.8.10", H4)))  # IPv4 in a 6in6 tunnel
    e(tunnelled_in(t44, udp4("10.1.8.10", H4)[:16]))  # truncated inner header
    e(tunnelled_in(t44, udp4("10.1.8.10", H4, size=100)[:60]))  # inner total length beyond the data
    c.drop("east", "tunnel.inner_malformed", 4)
    e(tunnelled_in(t44, udp4("10.1.8.10", H4), flags="MF", id=0x77))  # first fragment
    c.drop("east", "tunnel.outer_fragment")
    nested = bytes(IP(src=P4, dst=WAN4, proto=4) / Raw(udp4("10.1.8.10", H4)))
    e(tunnelled_in(t44, nested))
    c.drop("east", "tunnel.nested")
    return c


def case_ttl_inherit():
    c = Case(
        "ttl_inherit",
        'ttl = "inherit": the outer TTL / hop limit is the inner one after the decrement (all four kinds); '
        "t66 keeps a fixed hop limit of 33 for contrast",
        tunnels(t44={"ttl": "inherit"}, t64={"ttl": "inherit"}, t46={"ttl": "inherit"}, t66={"ttl": 33}),
    )
    w = lambda b: c.rx("west", from_h(IP(b) if b[0] >> 4 == 4 else IPv6(b)))
    for t in c.tuns:
        for ttl in (64, 9, 2):
            dst = FAR[t.name]
            b = udp6(H6, dst, hlim=ttl) if t.inner_v6 else udp4(H4, dst, ttl=ttl, ident=ttl)
            f = w(b)
            c.tx("east", encapsulated(t, routed(b), c.ident), f)
    return c


def case_options():
    c = Case(
        "encap_options",
        "Outer header options: dscp fixed (t44 10, t46 12), df = \"clear\" (t44) and \"set\" (t64), ecn = "
        '"compatibility" (t44, t66: outer Not-ECT, RFC 6040 §4.1), ttl fixed 200 (t64)',
        tunnels(
            t44={"dscp": 10, "df": "clear", "ecn": "compatibility"},
            t64={"df": "set", "ttl": 200},
            t46={"dscp": 12},
            t66={"ecn": "compatibility"},
        ),
    )
    w = lambda b: c.rx("west", from_h(IP(b) if b[0] >> 4 == 4 else IPv6(b)))
    for t in c.tuns:
        dst = FAR[t.name]
        for k, tos in enumerate((0xB8 | ECT0, 0x28 | CE, 0)):
            if t.inner_v6:
                b = udp6(H6, dst, tc=tos, sport=42000 + k)
            else:
                b = udp4(H4, dst, tos=tos, df=k != 1, ident=0x300 + k, sport=42000 + k)
            f = w(b)
            c.tx("east", encapsulated(t, routed(b), c.ident), f)
    return c


def case_frag(name="frag", mtu=None):
    c = Case(
        name,
        "DF-clear IPv4 larger than the tunnel MTU (t44 %s, t46 1460): fragmented per RFC 791 so that "
        "every fragment fits the tunnel MTU, each fragment in its own outer header (outer IDs counted on, DF "
        "copied: clear); exactly the tunnel MTU: not fragmented; DF set: Fragmentation Needed with the tunnel MTU"
        % ("mtu %d, below what wan could carry" % mtu if mtu else "1480"),
        tunnels(t44={"mtu": mtu}) if mtu else tunnels(),
    )
    w = lambda b: c.rx("west", from_h(IP(b)))
    t44, t46 = c.t["t44"], c.t["t46"]
    # A burst goes through each step together: every packet gets its outer
    # ID at ENCAP before the extra fragments get theirs. (The 4in6 one
    # comes last: what it does with the counter is not visible.)
    rest = []
    m = t44.mtu
    for t, size, ident in ((t44, 1490, 0xA1), (t44, 1500, 0xA2), (t44, m, 0xA4), (t46, 1500, 0xA3)):
        b = sized4(H4, FAR[t.name], size, df=False, ident=ident)
        f = w(b)
        frags = fragments4(routed(b), t.mtu)
        c.tx("east", encapsulated(t, frags[0], c.ident), f)
        rest += [(t, x) for x in frags[1:]]
    b = sized4(H4, FAR["t44"], m + 1, ident=0xA5)
    f = w(b)
    c.tx("west", to_lan(IP(icmp4_error(LAN4, b, 3, 4, nexthopmtu=m))), f)
    for t, x in rest:
        c.emit("east", encapsulated(t, x, c.ident))
    return c


def case_relay():
    c = Case(
        "relay",
        "ICMP Fragmentation Needed / Packet Too Big from the underlay about an outer packet of ours is relayed to "
        "the inner sender (RFC 2003 §4.1, RFC 2473 §8.3, RFC 4213 §3.2) with the outer header's size taken off the "
        "MTU (at least 68 / 1280), from the address a router answers the sender with (lan's), quoting the inner "
        "packet as the underlay quoted it; messages about packets that are not ours, or that quote too little of "
        "the inner header, are ours to read (local)",
    )
    e = lambda f: c.rx("east", f)
    # What xgw sent into each tunnel (a full-size packet), then what an
    # underlay router says about it.
    R4, R6 = "192.168.0.254", "fd00::254"
    for t, mtu in ((c.t["t44"], 1400), (c.t["t64"], 1400), (c.t["t46"], 1400), (c.t["t66"], 1400), (c.t["t64"], 1290)):
        far = FAR[t.name]
        inner = routed(sized6(H6, far, t.mtu) if t.inner_v6 else sized4(H4, far, t.mtu, ident=0xB0))
        sent = bytes(outer(t, inner, Idents()))
        if t.outer_v6:
            f = e(from_p(IPv6(src=R6, dst=t.local, hlim=60) / ICMPv6PacketTooBig(mtu=mtu) / Raw(sent[: 1280 - 48])))
        else:
            f = e(from_p(IP(src=R4, dst=t.local, ttl=60, id=0x99) / ICMP(type=3, code=4, nexthopmtu=mtu) / Raw(sent[: 576 - 28])))
        q = (sent[: 1280 - 48] if t.outer_v6 else sent[: 576 - 28])[40 if t.outer_v6 else 20 :]
        relayed = mtu - (40 if t.outer_v6 else 20)
        if t.inner_v6:
            err = icmp6_error(LAN6, q, ICMPv6PacketTooBig(mtu=max(relayed, 1280)))
            c.tx("west", to_lan(IPv6(err)), f)
        else:
            err = icmp4_error(LAN4, q, 3, 4, nexthopmtu=max(relayed, 68))
            c.tx("west", to_lan(IP(err)), f)
    # Not ours: the quoted outer packet went to 192.168.0.3 (no tunnel).
    sent = bytes(IP(src=WAN4, dst="192.168.0.3", proto=4, id=5) / Raw(sized4(H4, "10.1.8.10", 1480)))
    e(from_p(IP(src=R4, dst=WAN4, ttl=60) / ICMP(type=3, code=4, nexthopmtu=1400) / Raw(sent[:548])))
    # Ours, but only 8 bytes of the inner header quoted (RFC 792's minimum).
    sent = bytes(outer(c.t["t44"], routed(sized4(H4, "10.1.8.10", 1480)), Idents()))
    e(from_p(IP(src=R4, dst=WAN4, ttl=60) / ICMP(type=3, code=4, nexthopmtu=1400) / Raw(sent[:28])))
    c.counters["east"]["local"] = 2
    return c


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    cases = [case_encap(k) for k in ("4in4", "6in4", "4in6", "6in6")]
    cases += [case_decap(k) for k in ("4in4", "6in4", "4in6", "6in6")]
    cases += [case_ecn(), case_no_match(), case_bad(), case_ttl_inherit(), case_options(), case_frag(), case_relay()]
    # A tunnel MTU below what the egress interface could carry (the
    # underlay path is narrower): the fragments must still fit it.
    cases.append(case_frag("frag_tunnel_mtu", 1400))
    for c in cases:
        c.write()
    print("wrote %d cases to %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
