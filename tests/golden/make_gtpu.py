#!/usr/bin/python3
"""Writes the GTP-U endpoint golden fixtures with scapy, independently of xgw.

Regenerate (from this directory, with Debian's python3-scapy, which only
/usr/bin/python3 has):

    /usr/bin/python3 make_gtpu.py

then run `cargo test --release -p xgw-tests --test golden_gtpu` and commit
tests/golden/gtpu/<case>/ (make_wire.py and wire_vectors.json, the codec
vectors, live in tests/golden/gtpu/ too and are not touched here). The
expected frames are built field by field from 3GPP TS 29.281 (GTP-U), TS
38.415 (the PDU Session Container) and the RFCs (791/792/1812/4443/8200 for
the router parts); GTP-U headers come from scapy's contrib GTP layer (an
implementation independent of xgw's) where it has the message, raw bytes
where it has not. Nothing is copied from xgw's output. If xgw and a fixture
disagree, read the spec before touching either.

Layout, per case gtpu/<case>/: config.toml (the topology below, with the
case's [gtpu] options), {west,east}-in.pcap (frames arriving on each port;
absent if none), {west,east}-out.pcap (what xgw must send, byte for byte,
with timestamps) and expect.json (per port rx/tx/emitted/local/dropped/
pending/parked/unparked (all neighbours are static: nothing waits) and
every non-zero drop reason; all other reasons must be zero).

Topology (pcap ports, static neighbours: nothing is resolved):

    R   10.1.5.254 2001:db8:5::254 ─ lan 10.1.5.1/24 2001:db8:5::1/64  [west, N6]
    gNB 192.168.0.2 fd00::2        ─ wan 192.168.0.1/24 fd00::1/64     [east, N3]
    0.0.0.0/0 via 10.1.5.254, ::/0 via 2001:db8:5::254 (the data network);
    10.45.0.0/16 and 2001:db8:45::/48 into gtp0 (the UE pools);
    GTP-U endpoints 192.168.0.1 and fd00::1.

    session  TEID   UE                                 peer (TEID)         QFI  notes
    1        0x100  10.45.0.2, 2001:db8:45:1::/64      192.168.0.2 0x1100  9
    2        0x200  10.45.0.3                          192.168.0.2 0x1200  -
    3        0x300  2001:db8:45:3::7/128               fd00::2     0x1300  5
    4        0x400  10.45.0.4                          192.168.0.2 0x1400  -    gates closed
    5        0x500  10.45.0.5, 2001:db8:45:5::/64      fd00::2     0x1500  -
    6        0x600  10.45.0.6                          192.168.0.2 0x1600  1    MBR 1 Mbit/s each way

What the expectations model:
- Uplink (TS 29.281 §5.1, §5.2): a G-PDU to an endpoint with a session's
  TEID loses its outer IP, UDP and GTP-U header with the whole extension
  chain; what follows the message (beyond 8 + Length) goes too. The inner
  packet leaves by its own version (an IPv6 packet from an IPv4 tunnel is
  IPv6), forwarded as by any router (TTL / hop limit - 1, IPv4 checksum
  equal to a full recompute). The inner source must be the session's UE
  address (IPv4) or inside its /64 (or its /128).
- Downlink (TS 29.281 §4.4.2.3, TS 38.415 §5.5.2.1): a packet routed into
  gtp0 is forwarded (TTL - 1; Time Exceeded at 1, from lan's address; over
  gtp0's MTU, 1436: Fragmentation Needed / Packet Too Big with it) and then
  put into its session's tunnel: outer IPv4 (IHL 5, TOS = the inner TOS /
  traffic class byte, ID from xgw's per-worker counter: 1, 2, 3, ... for
  each IPv4 header xgw writes for an encapsulation or an emitted answer,
  shared with IP-in-IP; DF clear, TTL 64, UDP checksum 0) or IPv6 (traffic
  class as the TOS, flow label = flow_hash & 0xfffff, hop limit 64, UDP
  checksum computed), UDP source port 0xc000 | (flow_hash & 0x3fff) to 2152,
  and a G-PDU header to the peer's TEID: 8 octets, or with a QFI 16
  (flags 0x34: E set, sequence number 0 and N-PDU 0 not meaningful, next
  type 0x85, then the DL PDU Session Container [1, 0x00, QFI, 0]).
  flow_hash is xgw's documented hash of the inner flow (below).
- Path management (§4.4.2.2, §7.2): an Echo Request is answered in place
  with an Echo Response (from the address it was sent to, UDP 2152 to the
  request's source port, TEID 0, the request's sequence number, Recovery
  IE with restart counter 0). xgw writes the IPv4 total length, clears
  flags/fragment offset, sets TTL 64 and the checksum, and keeps the
  request's TOS and identification; over IPv6 it writes the payload length
  and hop limit 64 and keeps traffic class and flow label; UDP checksum 0
  over IPv4, computed over IPv6. Echo Responses, End Markers, Error
  Indications and Supported Extension Headers Notifications to an endpoint
  are consumed (counted `local`).
- Error answers (§7.3.1, §7.2.3, §4.4.2.4/5): a G-PDU whose TEID (if not
  all zeros) no session owns on that endpoint is dropped and answered with
  an Error Indication (UDP 2152 to 2152, TEID 0, S set, TEID Data I = the
  G-PDU's TEID, GTP-U Peer Address = the address it was sent to); one with
  an unknown comprehension-required extension header (bit 8 of the type) is
  dropped and answered with a Supported Extension Headers Notification (UDP
  2152 to the G-PDU's source port, TEID 0, Extension Header Type List
  [0x40, 0x85]). Both are sent out of the port the G-PDU came in on to the
  MAC it came from (not routed), from the address it was sent to, TOS 0,
  TTL / hop limit 64, flow label 0, and carry the sequence number xgw
  counts per worker (1, 2, ...: the receiver ignores it, §5.1). They are
  rate-limited by a token bucket (error_rate per second, burst
  error_rate/2 rounded up).
- Port 2152 of an address that is not an endpoint is closed: ICMP port
  unreachable (RFC 792/1122, RFC 4443), routed back.
- ICMP errors: IPv4 TTL 64, TOS 0xc0, ID 0, DF clear, quoting up to 576
  bytes in all; IPv6 hop limit 64, traffic class 0xc0, flow label 0,
  quoting up to 1280 bytes in all.
- MBR: a token bucket per session and direction, rate = mbr/8 bytes per
  second, burst = max(rate/10, 18000) bytes, full at start, counting inner
  packet bytes; one burst of frames sees one clock reading.
- At start xgw announces every address (gratuitous ARP, unsolicited NA with
  R=1 S=0 O=1 and TLLA, link-local last), stamped with the first input
  timestamp; gtp0 announces nothing. Each port's input is one burst, west's
  before east's. Frames keep the timestamp of the input frame they came
  from; frames xgw makes (Error Indications, Notifications, extra
  fragments) follow the burst's in-place frames on their port and carry the
  latest input timestamp read so far.

Cases marked XGW_BUG in their doc show where xgw disagrees with the spec
(XGW_QUIRK: with the counter documented above, not with a spec);
tests/tests/golden_gtpu.rs runs them #[ignore]d with the reason.
"""
import json
import os
import shutil
import struct

from scapy.all import (
    ARP,
    ICMP,
    IP,
    TCP,
    UDP,
    Ether,
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6NDOptDstLLAddr,
    ICMPv6PacketTooBig,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    Padding,
    Raw,
)
from scapy.contrib.gtp import (
    GTP_U_Header,
    GTPEchoRequest,
    GTPEchoResponse,
    GTPErrorIndication,
    GTPHeader,
    GTPPDUSessionContainer,
    IE_GSNAddress,
    IE_Recovery,
    IE_TEIDI,
)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gtpu")

WEST_MAC, EAST_MAC = "02:00:00:00:0a:01", "02:00:00:00:0b:01"
R_MAC, GNB_MAC = "02:00:00:00:0a:02", "02:00:00:00:0b:02"
# A transport router on the N3 link that a remote base station's G-PDUs
# come through (xgw answers to the MAC a G-PDU came from).
TR_MAC = "02:00:00:00:0b:03"
BCAST = "ff:ff:ff:ff:ff:ff"
ALL_NODES_MAC = "33:33:00:00:00:01"

LAN4, LAN6 = "10.1.5.1", "2001:db8:5::1"
WAN4, WAN6 = "192.168.0.1", "fd00::1"
R4, R6 = "10.1.5.254", "2001:db8:5::254"
GNB4, GNB6 = "192.168.0.2", "fd00::2"
# Hosts on the data network (behind R) and a remote base station.
H4, H6 = "198.51.100.7", "2001:db8:99::7"
REMOTE4 = "203.0.113.9"

PORT = 2152
T0 = 1700000000.0
BURST = 32
GTP_MTU = 1436


class Session:
    def __init__(self, id, teid, peer, peer_teid, ue4=None, ue6=None, qfi=None, **opts):
        self.id, self.teid, self.peer, self.peer_teid = id, teid, peer, peer_teid
        self.ue4, self.ue6, self.qfi, self.opts = ue4, ue6, qfi, opts
        self.v6 = ":" in peer
        self.local = WAN6 if self.v6 else WAN4

    def toml(self):
        s = "\n[[gtpu.sessions]]\nid = %d\nteid = 0x%x\npeer = \"%s\"\npeer_teid = 0x%x\n" % (
            self.id,
            self.teid,
            self.peer,
            self.peer_teid,
        )
        if self.ue4:
            s += 'ue4 = "%s"\n' % self.ue4
        if self.ue6:
            s += 'ue6 = "%s"\n' % self.ue6
        if self.qfi is not None:
            s += "qfi = %d\n" % self.qfi
        for k, v in self.opts.items():
            s += "%s = %s\n" % (k, json.dumps(v))
        return s


SESSIONS = [
    Session(1, 0x100, GNB4, 0x1100, ue4="10.45.0.2", ue6="2001:db8:45:1::/64", qfi=9),
    Session(2, 0x200, GNB4, 0x1200, ue4="10.45.0.3"),
    Session(3, 0x300, GNB6, 0x1300, ue6="2001:db8:45:3::7", qfi=5),
    Session(4, 0x400, GNB4, 0x1400, ue4="10.45.0.4", gate_ul=False, gate_dl=False),
    Session(5, 0x500, GNB6, 0x1500, ue4="10.45.0.5", ue6="2001:db8:45:5::/64"),
    Session(6, 0x600, GNB4, 0x1600, ue4="10.45.0.6", qfi=1, mbr_ul=1000000, mbr_dl=1000000),
]
S = {s.id: s for s in SESSIONS}
# UE addresses the cases use (one per session and family).
UE4 = {1: "10.45.0.2", 2: "10.45.0.3", 4: "10.45.0.4", 5: "10.45.0.5", 6: "10.45.0.6"}
UE6 = {1: "2001:db8:45:1::5", 3: "2001:db8:45:3::7", 5: "2001:db8:45:5::9"}


def config(error_rate=None):
    s = """\
# GTP-U golden tests (tests/golden/make_gtpu.py writes this file).
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

[[routes]]
prefix = "0.0.0.0/0"
via = "%s"

[[routes]]
prefix = "::/0"
via = "%s"

[[routes]]
prefix = "10.45.0.0/16"
interface = "gtp0"

[[routes]]
prefix = "2001:db8:45::/48"
interface = "gtp0"
""" % (
        WEST_MAC,
        EAST_MAC,
        LAN4,
        LAN6,
        WAN4,
        WAN6,
        R4,
        R6,
    )
    for ifc, ips, mac in (("lan", (R4, R6), R_MAC), ("wan", (GNB4, GNB6), GNB_MAC)):
        for ip in ips:
            s += '\n[[neighbors]]\ninterface = "%s"\nip = "%s"\nmac = "%s"\n' % (ifc, ip, mac)
    s += '\n[gtpu]\nendpoints = ["%s", "%s"]\n' % (WAN4, WAN6)
    if error_rate is not None:
        s += "error_rate = %d\n" % error_rate
    for x in SESSIONS:
        s += x.toml()
    return s


# --------------------------------------------------------------- building blocks


def eui64_ll(mac):
    """fe80::/64 with the modified EUI-64 interface identifier (RFC 4291 App. A)."""
    m = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
    words = [int.from_bytes(iid[i : i + 2], "big") for i in range(0, 8, 2)]
    return "fe80::" + ":".join("%x" % w for w in words)


def l3(b):
    """scapy's layer for IP packet bytes `b`."""
    return IP(b) if b[0] >> 4 == 4 else IPv6(b)


def to_dn(b):
    """A frame xgw sends to R (the data network) carrying IP packet `b`."""
    return Ether(src=WEST_MAC, dst=R_MAC) / l3(b)


def from_dn(b, pad=0):
    f = Ether(src=R_MAC, dst=WEST_MAC) / l3(b)
    return f / Padding(b"\0" * pad) if pad else f


def to_gnb(pkt, mac=GNB_MAC):
    return Ether(src=EAST_MAC, dst=mac) / pkt


def from_gnb(pkt, mac=GNB_MAC):
    return Ether(src=mac, dst=EAST_MAC) / pkt


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


class Idents:
    """xgw's IPv4 identification counter for headers it writes (worker 0)."""

    def __init__(self):
        self.n = 0

    def next(self):
        self.n = (self.n + 1) & 0xFFFF
        return self.n


def flow_hash(ip):
    """xgw's hash of the inner flow (pipelines/src/gtpu/mod.rs, flow_hash):
    IPv4: (src ^ rotl(dst, 16)) * 0x9e3779b1; protocol 0 for a fragment (MF
    or an offset), else the protocol, with the first 4 octets after the
    header (the ports) for TCP and UDP. IPv6: h = (h ^ word) * 0x9e3779b1
    over the 8 address words; next header and, for TCP and UDP, the ports.
    Then h ^= proto, h *= 0x85ebca6b, h ^= h >> 15 (all mod 2^32)."""
    M = 0xFFFFFFFF

    def word(at):
        w = ip[at : at + 4]
        return int.from_bytes(w, "big") if len(w) == 4 else 0

    if ip[0] >> 4 == 6:
        h = 0
        for k in range(8):
            h = ((h ^ word(8 + 4 * k)) * 0x9E3779B1) & M
        proto, l4 = ip[6], 40
    else:
        d = word(16)
        h = ((word(12) ^ (((d << 16) | (d >> 16)) & M)) * 0x9E3779B1) & M
        frag = (ip[6] & 0x3F) != 0 or ip[7] != 0
        proto = 0 if frag else ip[9]
        l4 = (ip[0] & 0x0F) * 4
    if proto in (6, 17):
        h ^= word(l4)
    h ^= proto
    h = (h * 0x85EBCA6B) & M
    return h ^ (h >> 15)


def gpdu_header(teid, qfi, pdu_type=0):
    """A G-PDU header (scapy's) to `teid`, with a PDU Session Container
    carrying `qfi` (TS 38.415: type 0 downlink, 1 uplink) if given."""
    if qfi is None:
        return GTP_U_Header(teid=teid, gtp_type=255)
    return GTP_U_Header(teid=teid, gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=pdu_type, QFI=qfi)


def gtpu_raw(msg_type, teid, payload, flags=0x30, opt=None, ext=b""):
    """A GTP-U message from raw parts: `opt` = (seq, npdu, next type) when
    any of E/S/PN is set, `ext` the extension headers; Length counts all of
    it after the first 8 octets."""
    body = (struct.pack("!HBB", *opt) if opt is not None else b"") + ext + payload
    return struct.pack("!BBHI", flags, msg_type, len(body), teid) + body


def outer_to_us(v6, gtp, sport=PORT, dst=None, src=None, tos=0, ttl=60, ident=0x2000, udp_len=None, chksum=None, **kw):
    """A datagram from the base station (or `src`) to our endpoint (or
    `dst`) carrying `gtp` (bytes or scapy). Over IPv4 the UDP checksum is 0
    unless given, over IPv6 it is computed."""
    payload = Raw(bytes(gtp))
    u = UDP(sport=sport, dport=PORT)
    if udp_len is not None:
        u.len = udp_len
    if v6:
        if chksum is not None:
            u.chksum = chksum
        return IPv6(src=src or GNB6, dst=dst or WAN6, hlim=ttl, tc=tos, **kw) / u / payload
    u.chksum = 0 if chksum is None else chksum
    return IP(src=src or GNB4, dst=dst or WAN4, ttl=ttl, tos=tos, id=ident, **kw) / u / payload


def encapsulated(s, inner, ident, whole=None):
    """TS 29.281 §4.4.2.3: the frame xgw sends to the peer of session `s`
    for `inner` (the inner packet as forwarded; a fragment xgw made of the
    packet `whole` carries that packet's flow hash, so every fragment of it
    takes one flow)."""
    h = flow_hash(whole if whole is not None else inner)
    sport = 0xC000 | (h & 0x3FFF)
    g = gpdu_header(s.peer_teid, s.qfi) / Raw(inner)
    if s.v6:
        o = IPv6(src=s.local, dst=s.peer, tc=tos_of(inner), fl=h & 0xFFFFF, hlim=64) / UDP(sport=sport, dport=PORT) / g
    else:
        o = IP(src=s.local, dst=s.peer, tos=tos_of(inner), id=ident.next(), flags=0, ttl=64) / UDP(sport=sport, dport=PORT, chksum=0) / g
    return to_gnb(o)


def icmp4_error(src, orig, typ, code, **kw):
    """RFC 792 / RFC 1812 §4.3.2.3: quote as much of the packet as fits in
    576 bytes."""
    quote = orig[: 576 - 28]
    return bytes(IP(src=src, dst=IP(orig).src, ttl=64, tos=0xC0, id=0, flags=0) / ICMP(type=typ, code=code, **kw) / Raw(quote))


def icmp6_error(src, orig, layer):
    """RFC 4443 §2.4(c): quote as much as fits in the IPv6 minimum MTU."""
    quote = orig[: 1280 - 48]
    return bytes(IPv6(src=src, dst=IPv6(orig).src, hlim=64, tc=0xC0, fl=0) / layer / Raw(quote))


def payload(size, seed=7):
    return bytes((i * seed) & 0xFF for i in range(size))


def udp4(src, dst, size=18, ttl=64, tos=0, df=True, ident=0x1111, sport=40000, dport=9, **kw):
    return bytes(IP(src=src, dst=dst, ttl=ttl, tos=tos, id=ident, flags="DF" if df else 0, **kw) / UDP(sport=sport, dport=dport) / Raw(payload(size)))


def udp6(src, dst, size=18, hlim=64, tc=0, fl=0x12345, sport=40000, dport=9):
    return bytes(IPv6(src=src, dst=dst, hlim=hlim, tc=tc, fl=fl) / UDP(sport=sport, dport=dport) / Raw(payload(size)))


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
    data = b[hl:]
    chunk = (mtu - hl) // 8 * 8
    out, off = [], 0
    while off < len(data):
        piece = data[off : off + chunk]
        last = off + len(piece) == len(data)
        h = IP(b[:hl])
        h.flags = "MF" if (not last or ip.flags.MF) else 0
        h.frag = ip.frag + off // 8
        h.len = hl + len(piece)
        del h.chksum
        out.append(bytes(IP(bytes(h))) + piece)
        off += len(piece)
    return out


def echo_response(req, seq):
    """TS 29.281 §4.4.2.2 / §7.2.2: the answer to Echo Request datagram
    `req` (scapy IP or IPv6 over UDP), with the header fields xgw keeps
    (see the module doc)."""
    g = GTPHeader(S=1, seq=seq, gtp_type=2, teid=0) / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)])
    if IPv6 in req:
        o = req[IPv6]
        return IPv6(src=o.dst, dst=o.src, tc=o.tc, fl=o.fl, hlim=64) / UDP(sport=PORT, dport=req[UDP].sport) / g
    o = req[IP]
    return IP(src=o.dst, dst=o.src, tos=o.tos, id=o.id, flags=0, frag=0, ttl=64) / UDP(sport=PORT, dport=req[UDP].sport, chksum=0) / g


def answer_outer(req, sport_to, gtp, ident):
    """The IP/UDP around an Error Indication or Notification xgw sends about
    datagram `req`: from the address it was sent to, back to its source,
    TOS / traffic class 0, flow label 0, TTL 64, DF clear; UDP from 2152 to
    `sport_to`."""
    if IPv6 in req:
        o = req[IPv6]
        return IPv6(src=o.dst, dst=o.src, tc=0, fl=0, hlim=64) / UDP(sport=PORT, dport=sport_to) / gtp
    o = req[IP]
    return IP(src=o.dst, dst=o.src, tos=0, id=ident.next(), flags=0, ttl=64) / UDP(sport=PORT, dport=sport_to, chksum=0) / gtp


def error_indication(req, teid, seq, ident):
    """TS 29.281 §7.3.1 / §4.4.2.4: TEID 0, S set, TEID Data I = the
    G-PDU's TEID, GTP-U Peer Address = the G-PDU's destination; UDP to
    port 2152."""
    dst = req[IPv6].dst if IPv6 in req else req[IP].dst
    addr = IE_GSNAddress(length=16, ipv6_address=dst) if ":" in dst else IE_GSNAddress(length=4, ipv4_address=dst)
    g = GTP_U_Header(S=1, seq=seq, gtp_type=26, teid=0) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=teid), addr])
    return answer_outer(req, PORT, g, ident)


def ext_notification(req, seq, ident):
    """TS 29.281 §7.2.3 / §4.4.2.5: TEID 0, S set, the Extension Header
    Type List IE (141, one-octet length, §8.5) with what xgw supports
    (UDP Port 0x40, PDU Session Container 0x85); UDP to the source port of
    the G-PDU. (scapy 2.5 gives this IE a two-octet length: raw bytes.)"""
    g = GTPHeader(S=1, seq=seq, gtp_type=31, teid=0) / Raw(bytes([141, 2, 0x40, 0x85]))
    return answer_outer(req, req[UDP].sport, g, ident)


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


PORTS = ("west", "east")


def usec(t):
    return int(round(t * 1e6))


def write_pcap(path, frames):
    """A little-endian microsecond pcap (Ethernet) of (time, bytes)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, b in frames:
            us = usec(t)
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(b), len(b)))
            f.write(b)


class Case:
    def __init__(self, name, doc, error_rate=None, bug=None, label="XGW_BUG"):
        self.name, self.doc, self.error_rate, self.bug = name, doc, error_rate, bug
        if bug:
            self.doc = label + ": " + bug + " -- " + doc
        self.ident = Idents()
        self.seq = 0  # xgw's sequence number for the answers it emits
        self.inputs = {"west": [], "east": []}
        # in-place frames: (burst port, index of the cause, order, frame)
        self.outputs = {"west": [], "east": []}
        # frames xgw makes: (burst port, order, frame)
        self.late = {"west": [], "east": []}
        self.counters = {"west": {}, "east": {}}
        self.drops = {"west": {}, "east": {}}
        self.n = 0

    def rx(self, port, frame):
        """`frame` arrives on `port` (the next of its burst)."""
        base = T0 if port == "west" else T0 + 1.0
        t = base + len(self.inputs[port]) * 0.001
        self.inputs[port].append((t, bytes(frame)))
        return (port, len(self.inputs[port]) - 1, t)

    def tx(self, port, frame, cause):
        """Expect `frame` on `port`, sent in place of the input `cause`."""
        self.n += 1
        self.outputs[port].append((cause, self.n, bytes(frame)))

    def emit(self, port, frame, burst):
        """Expect `frame` on `port`, made by xgw while it handled the burst
        of port `burst` (after that burst's in-place frames)."""
        self.n += 1
        self.late[port].append((burst, self.n, bytes(frame)))

    def drop(self, port, reason, n=1):
        self.drops[port][reason] = self.drops[port].get(reason, 0) + n

    def next_seq(self):
        self.seq += 1
        return self.seq

    def write(self):
        d = os.path.join(OUT, self.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(config(self.error_rate))
        stamps = [t for p in PORTS for t, _ in self.inputs[p]]
        first = min(stamps)
        # The capture clock when a port's burst is handled: the latest
        # stamp read so far (west's burst is read first).
        clock, latest = {}, first
        for p in PORTS:
            if self.inputs[p]:
                latest = max(latest, self.inputs[p][-1][0])
            clock[p] = latest
        ann = announcements()
        expect = {"doc": self.doc, "ports": {}}
        for port in PORTS:
            assert len(self.inputs[port]) <= BURST, (self.name, "one burst per port")
            if self.inputs[port]:
                write_pcap(os.path.join(d, port + "-in.pcap"), self.inputs[port])
            outs = [(first, bytes(f)) for f in ann[port]]
            for burst in PORTS:
                inplace = sorted((c[1], n, b, c[2]) for c, n, b in self.outputs[port] if c[0] == burst)
                outs += [(t, b) for _, _, b, t in inplace]
                outs += [(clock[burst], b) for bp, _, b in sorted(self.late[port], key=lambda x: x[1]) if bp == burst]
            write_pcap(os.path.join(d, port + "-out.pcap"), outs)
            n_late = len(self.late[port])
            c = {
                "rx": len(self.inputs[port]),
                "tx": len(outs),
                "emitted": len(ann[port]) + n_late,
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


def case_decap():
    c = Case(
        "decap",
        "Uplink G-PDUs from the base station for each session: inner IPv4 and IPv6 over IPv4 and IPv6 outers (an "
        "IPv6 packet from an IPv4 tunnel leaves as IPv6 and vice versa), with S/PN flags, a UL PDU Session "
        "Container, unknown comprehension-not-required extension headers (0x20, 0x41) skipped, a chain of "
        "exactly 8 headers, source ports other than 2152 and real UDP checksums; the inner packet forwarded out "
        "of west with TTL/hop limit - 1; what follows the GTP-U message in the datagram (past 8 + Length) is "
        "not carried; outer TOS/TTL do not matter",
    )
    e = lambda pkt, mac=GNB_MAC: c.rx("east", from_gnb(pkt, mac))

    def up(v6, gtp, inner, **kw):
        cause = e(outer_to_us(v6, gtp, **kw))
        c.tx("west", to_dn(routed(inner)), cause)

    s1, s2, s3, s5 = S[1], S[2], S[3], S[5]
    # Session 1 over IPv4: IPv4 and IPv6 inside, plain headers.
    i = udp4(UE4[1], H4)
    up(False, gpdu_header(s1.teid, None) / Raw(i), i)
    i = udp6(UE6[1], H6, tc=0xB8)
    up(False, gpdu_header(s1.teid, None) / Raw(i), i, tos=0x48)
    i = bytes(IP(src=UE4[1], dst=H4, ttl=9, tos=0x28, id=0x4444, flags="DF") / TCP(sport=40001, dport=80, flags="S", seq=1000))
    up(False, gpdu_header(s1.teid, None) / Raw(i), i, ttl=3)
    # S and PN set (sequence number and N-PDU number present, meaningful).
    i = bytes(IP(src=UE4[1], dst=H4, id=0x5555) / ICMP(type=8, id=7, seq=1) / Raw(b"xgw-gtpu" * 4))
    up(False, GTP_U_Header(teid=s1.teid, gtp_type=255, S=1, PN=1, seq=0x1234, npdu=7) / Raw(i), i)
    # S only, IPv6 inside.
    i = bytes(IPv6(src=UE6[1], dst=H6, hlim=17) / ICMPv6EchoRequest(id=7, seq=2, data=b"xgw-gtpu" * 4))
    up(False, GTP_U_Header(teid=s1.teid, gtp_type=255, S=1, seq=0xBEEF) / Raw(i), i)
    # An uplink PDU Session Container (TS 38.415 UL PDU SESSION INFORMATION, QFI 9).
    i = udp4(UE4[1], H4, ident=0x6666, sport=40002)
    up(False, gpdu_header(s1.teid, 9, pdu_type=1) / Raw(i), i)
    i = udp6(UE6[1], H6, sport=40003)
    up(False, gpdu_header(s1.teid, 9, pdu_type=1) / Raw(i), i)
    # PSC, then unknown headers that need no comprehension: 0x20 (one
    # unit) and 0x41 (two units), skipped by their length.
    i = udp4(UE4[1], H4, ident=0x7777, sport=40004)
    ext = bytes([1, 0x10, 9, 0x20]) + bytes([1, 0xAA, 0x00, 0x41]) + bytes([2, 1, 2, 3, 4, 5, 6, 0])
    up(False, gtpu_raw(255, s1.teid, i, flags=0x34, opt=(0, 0, 0x85), ext=ext), i)
    # E, S and PN together, the chain of exactly 8 headers (xgw's limit).
    i = udp6(UE6[1], H6, sport=40005)
    ext = b"".join(bytes([1, k, 0, 0x20 if k < 7 else 0]) for k in range(8))
    up(False, gtpu_raw(255, s1.teid, i, flags=0x37, opt=(0x10, 3, 0x20), ext=ext), i)
    # Session 2 (no QFI): from a source port of its own, real UDP checksum.
    i = udp4(UE4[2], H4, ident=0x8888, size=200)
    up(False, gpdu_header(s2.teid, None) / Raw(i), i, sport=40123)
    i = udp4(UE4[2], H4, ident=0x8889, sport=40006)
    p = IP(src=GNB4, dst=WAN4, ttl=60, id=0x2001) / UDP(sport=41234, dport=PORT) / gpdu_header(s2.teid, None) / Raw(i)
    c.tx("west", to_dn(routed(i)), e(IP(bytes(p))))  # UDP checksum computed
    # Past the GTP-U message: 6 octets of trailer in the UDP datagram.
    i = udp4(UE4[2], H4, ident=0x888A, sport=40007)
    g = bytes(gpdu_header(s2.teid, None) / Raw(i)) + b"\xde\xad\xbe\xef\x00\x01"
    up(False, g, i)
    # Session 3 over IPv6 (/128 UE), with its UL PSC.
    i = udp6(UE6[3], H6, tc=0x20)
    up(True, gpdu_header(s3.teid, 5, pdu_type=1) / Raw(i), i)
    i = bytes(IPv6(src=UE6[3], dst=H6) / TCP(sport=40001, dport=443, flags="S", seq=7))
    up(True, gpdu_header(s3.teid, None) / Raw(i), i, sport=50000, tos=0xB8)
    # Session 5 over IPv6: IPv4 inside (leaves as IPv4), and IPv6 in its /64.
    i = udp4(UE4[5], H4, ident=0x9999, tos=0x10)
    up(True, gpdu_header(s5.teid, None) / Raw(i), i)
    i = udp6(UE6[5], H6)
    up(True, gpdu_header(s5.teid, None) / Raw(i), i)
    i = udp6("2001:db8:45:5:ffff::1", H6, sport=40008)
    up(True, GTP_U_Header(teid=s5.teid, gtp_type=255, S=1, seq=1) / Raw(i), i)
    # IPv6 trailer past the message too.
    i = udp6(UE6[5], H6, sport=40009)
    up(True, bytes(gpdu_header(s5.teid, None) / Raw(i)) + b"\x00" * 9, i)
    # A large one: a 1400-byte inner packet.
    i = sized4(UE4[1], H4, 1400, ident=0xAAAA)
    up(False, gpdu_header(s1.teid, None) / Raw(i), i)
    return c


def case_encap():
    c = Case(
        "encap",
        "Downlink from the data network to UEs: inner forwarded (TTL/hop limit - 1) and encapsulated per TS "
        "29.281 §4.4.2.3 with xgw's outer header (IPv4: TOS copied, ID counter from 1, DF clear, TTL 64, UDP "
        "checksum 0; IPv6: traffic class copied, flow label from the flow hash, hop limit 64, UDP checksum), UDP "
        "source port 0xc000|hash, G-PDU header with a DL PDU Session Container when the session has a QFI; "
        "UE /32, /64 and /128; TCP, UDP, ICMP, an IPv4 fragment (hashed by addresses), an IPv6 packet with a "
        "Destination Options header; Ethernet padding not carried; a pool address no session has: "
        "gtpu.no_session; TTL/hop limit 1: Time Exceeded from lan's address (not encapsulated)",
    )
    w = lambda b, pad=0: c.rx("west", from_dn(b, pad))

    def down(s, b, pad=0):
        cause = w(b, pad)
        c.tx("east", encapsulated(s, routed(b), c.ident), cause)

    s1, s2, s3, s5 = S[1], S[2], S[3], S[5]
    # IPv4 outers first (their IDs), then IPv6 outers.
    down(s1, udp4(H4, UE4[1]))
    down(s1, udp4(H4, UE4[1], tos=0xB8 | 2, df=False, size=100, ident=0x2222, sport=40001))
    down(s1, bytes(IP(src=H4, dst=UE4[1], id=0x3333, flags="DF") / TCP(sport=443, dport=40001, flags="SA", seq=5000, ack=1001)))
    down(s1, bytes(IP(src=H4, dst=UE4[1], ttl=9, id=0x4444) / ICMP(type=0, id=7, seq=1) / Raw(b"xgw-gtpu" * 4)))
    down(s1, udp6(H6, UE6[1], tc=0x28 | 3))
    down(s1, udp6(H6, "2001:db8:45:1:abcd::1", sport=443, dport=50000, fl=0))
    down(s1, bytes(IPv6(src=H6, dst=UE6[1]) / IPv6ExtHdrDestOpt() / UDP(sport=7000, dport=40000) / Raw(payload(20))))
    down(s2, udp4(H4, UE4[2], sport=40002))
    # An IPv4 fragment (MF set): hashed by addresses only.
    frag = fragments4(udp4(H4, UE4[2], size=300, df=False, ident=0x5555), 200)
    down(s2, frag[0])
    down(s2, frag[1])
    # A small packet in a padded 60-byte frame: the padding stays behind.
    small = bytes(IP(src=H4, dst=UE4[2], id=0x6666) / ICMP(type=8, id=8, seq=2))
    down(s2, small, pad=60 - 14 - len(small))
    # Exactly gtp0's MTU.
    down(s2, sized4(H4, UE4[2], GTP_MTU, ident=0x7777))
    down(s3, udp6(H6, UE6[3], tc=0xB8))
    down(s3, bytes(IPv6(src=H6, dst=UE6[3], hlim=2) / ICMPv6EchoRequest(id=9, seq=3, data=b"ping")))
    down(s5, udp4(H4, UE4[5], tos=0x48, ident=0x8888))
    down(s5, udp6(H6, UE6[5], sport=41000))
    down(s5, sized6(H6, UE6[5], GTP_MTU))
    # Nobody's address in the pools.
    w(udp4(H4, "10.45.0.99"))
    w(udp6(H6, "2001:db8:45:77::1"))
    c.drop("west", "gtpu.no_session", 2)
    # TTL / hop limit 1: Time Exceeded from lan's address, back to the host.
    b = udp4(H4, UE4[1], ttl=1, ident=0x9999)
    c.tx("west", to_dn(icmp4_error(LAN4, b, 11, 0)), w(b))
    b = udp6(H6, UE6[3], hlim=1)
    c.tx("west", to_dn(icmp6_error(LAN6, b, ICMPv6TimeExceeded(code=0))), w(b))
    return c


def case_mtu():
    c = Case(
        "encap_mtu",
        "gtp0's MTU (1436, the largest inner packet): exactly 1436 is encapsulated (IPv4 and IPv6 inside, IPv4 "
        "and IPv6 outside); one byte more with DF set, or IPv6: Fragmentation Needed / Packet Too Big with MTU "
        "1436 from lan's address (RFC 1191, RFC 8201)",
    )
    w = lambda b: c.rx("west", from_dn(b))
    for s, b in (
        (S[1], sized4(H4, UE4[1], GTP_MTU, ident=0x101)),
        (S[1], sized6(H6, UE6[1], GTP_MTU)),
        (S[5], sized4(H4, UE4[5], GTP_MTU, ident=0x102)),
        (S[3], sized6(H6, UE6[3], GTP_MTU)),
    ):
        c.tx("east", encapsulated(s, routed(b), c.ident), w(b))
    b = sized4(H4, UE4[1], GTP_MTU + 1, ident=0x103)
    c.tx("west", to_dn(icmp4_error(LAN4, b, 3, 4, nexthopmtu=GTP_MTU)), w(b))
    b = sized6(H6, UE6[3], GTP_MTU + 1)
    c.tx("west", to_dn(icmp6_error(LAN6, b, ICMPv6PacketTooBig(mtu=GTP_MTU))), w(b))
    return c


def case_frag():
    c = Case(
        "encap_frag",
        "A DF-clear IPv4 packet larger than gtp0's MTU (1436) is fragmented (RFC 791, RFC 1812 §5.2.6) so that "
        "every fragment fits that MTU, and each fragment is encapsulated on its own (the whole packet's flow "
        "hash, its own outer ID): the base station gets no outer fragments; the extra fragments follow the burst (as IP-in-IP "
        "does it: every first fragment takes its outer ID before the extra ones take theirs)",
    )
    w = lambda b: c.rx("west", from_dn(b))
    rest = []
    for s, size, ident in ((S[1], 1450, 0xA1), (S[2], 1500, 0xA2)):
        b = sized4(H4, UE4[s.id], size, df=False, ident=ident)
        frags = fragments4(routed(b), GTP_MTU)
        c.tx("east", encapsulated(s, frags[0], c.ident, routed(b)), w(b))
        rest += [(s, x, routed(b)) for x in frags[1:]]
    for s, x, whole in rest:
        c.emit("east", encapsulated(s, x, c.ident, whole), "west")
    return c


def case_signalling():
    c = Case(
        "signalling",
        "Path and tunnel management (TS 29.281 §7.2, §7.3): Echo Requests over IPv4 and IPv6 answered in place "
        "(Echo Response from 2152 to the request's port, TEID 0, same sequence number, Recovery 0, TTL/hop limit "
        "64); Echo Response, End Marker (a session's TEID and an unknown one), Error Indication (IPv4 and IPv6 "
        "peer address) and Supported Extension Headers Notification from the peer consumed (local); G-PDUs to "
        "unknown TEIDs (over IPv4 from the base station and from a remote one behind a transport router, a "
        "session's TEID at the other endpoint, over IPv6) dropped as gtpu.unknown_teid and answered with an "
        "Error Indication to port 2152 via the MAC they came from; G-PDUs with an unknown comprehension-"
        "required extension header (0xc1, 0x81 after a PSC) dropped as gtpu.ext_unsupported and answered with "
        "a Supported Extension Headers Notification to their source port",
    )
    e = lambda pkt, mac=GNB_MAC: c.rx("east", from_gnb(pkt, mac))
    s1 = S[1]
    # Echo Requests: answered in place (no ID, no sequence number used).
    req = outer_to_us(False, GTPHeader(S=1, seq=0x4242, gtp_type=1) / GTPEchoRequest(), sport=33000, tos=0x20, ident=0x7777)
    c.tx("east", to_gnb(echo_response(req, 0x4242)), e(req))
    req = outer_to_us(True, GTPHeader(S=1, seq=0x0101, gtp_type=1) / GTPEchoRequest(), tos=0x20, fl=0xABCDE)
    c.tx("east", to_gnb(echo_response(req, 0x0101)), e(req))
    # An Echo Request with trailing octets past its Length, from 2152.
    g = bytes(GTPHeader(S=1, seq=7, gtp_type=1) / GTPEchoRequest()) + b"\x00" * 4
    req = outer_to_us(False, g, ident=0x7778)
    c.tx("east", to_gnb(echo_response(req, 7)), e(req))
    # Consumed: Echo Response, End Markers, Error Indications, Notification.
    e(outer_to_us(False, GTPHeader(S=1, seq=9, gtp_type=2) / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)])))
    e(outer_to_us(False, GTP_U_Header(teid=s1.teid, gtp_type=254)))
    e(outer_to_us(False, GTP_U_Header(teid=0xFEED, gtp_type=254)))
    ei = GTP_U_Header(S=1, seq=3, gtp_type=26, teid=0) / GTPErrorIndication(
        IE_list=[IE_TEIDI(TEIDI=s1.peer_teid), IE_GSNAddress(length=4, ipv4_address=GNB4)]
    )
    e(outer_to_us(False, ei))
    ei = GTP_U_Header(S=1, seq=4, gtp_type=26, teid=0) / GTPErrorIndication(
        IE_list=[IE_TEIDI(TEIDI=S[3].peer_teid), IE_GSNAddress(length=16, ipv6_address=GNB6)]
    )
    e(outer_to_us(True, ei))
    e(outer_to_us(False, GTPHeader(S=1, seq=5, gtp_type=31, teid=0) / Raw(bytes([141, 1, 0x85]))))
    c.counters["east"]["local"] = 6
    # Unknown TEIDs: dropped, each answered with an Error Indication.
    # (IPv4 answers first: each IPv4 header xgw writes takes an ID.)
    inner = udp4(UE4[1], H4)
    req = outer_to_us(False, gpdu_header(0xDEAD, None) / Raw(inner), sport=45000)
    e(req)
    c.emit("east", to_gnb(error_indication(req, 0xDEAD, c.next_seq(), c.ident)), "east")
    req = outer_to_us(False, gpdu_header(0xBEEF, 9, pdu_type=1) / Raw(inner), src=REMOTE4)
    e(req, TR_MAC)
    c.emit("east", to_gnb(error_indication(req, 0xBEEF, c.next_seq(), c.ident), TR_MAC), "east")
    # Unknown comprehension-required extension headers: dropped, answered
    # with a Supported Extension Headers Notification to the source port.
    req = outer_to_us(False, gtpu_raw(255, s1.teid, inner, flags=0x34, opt=(0, 0, 0xC1), ext=bytes([1, 0, 0, 0])), sport=33333)
    e(req)
    c.emit("east", to_gnb(ext_notification(req, c.next_seq(), c.ident)), "east")
    ext = bytes([1, 0x10, 9, 0x81]) + bytes([1, 0, 0, 0])
    req = outer_to_us(False, gtpu_raw(255, s1.teid, inner, flags=0x34, opt=(0, 0, 0x85), ext=ext), sport=2152)
    e(req)
    c.emit("east", to_gnb(ext_notification(req, c.next_seq(), c.ident)), "east")
    # Over IPv6: session 1's TEID is not known at the IPv6 endpoint.
    req = outer_to_us(True, gpdu_header(s1.teid, None) / Raw(udp6(UE6[1], H6)), sport=45001)
    e(req)
    c.emit("east", to_gnb(error_indication(req, s1.teid, c.next_seq(), c.ident)), "east")
    req = outer_to_us(True, gpdu_header(0x12345678, None) / Raw(udp6(UE6[3], H6)))
    e(req)
    c.emit("east", to_gnb(error_indication(req, 0x12345678, c.next_seq(), c.ident)), "east")
    c.drop("east", "gtpu.unknown_teid", 4)
    c.drop("east", "gtpu.ext_unsupported", 2)
    return c


def case_error_rate():
    c = Case(
        "error_rate",
        "Error answers are rate-limited: with error_rate = 1 the bucket holds one token (1/2 rounded up), so of "
        "three G-PDUs in one burst (unknown TEID, unknown TEID, unknown comprehension-required header) only the "
        "first is answered; all three are dropped",
        error_rate=1,
    )
    e = lambda pkt: c.rx("east", from_gnb(pkt))
    inner = udp4(UE4[1], H4)
    req = outer_to_us(False, gpdu_header(0xDEAD, None) / Raw(inner), sport=45000)
    e(req)
    c.emit("east", to_gnb(error_indication(req, 0xDEAD, c.next_seq(), c.ident)), "east")
    e(outer_to_us(False, gpdu_header(0xDEAE, None) / Raw(inner), sport=45000))
    e(outer_to_us(False, gtpu_raw(255, S[1].teid, inner, flags=0x34, opt=(0, 0, 0xC1), ext=bytes([1, 0, 0, 0])), sport=33333))
    c.drop("east", "gtpu.unknown_teid", 2)
    c.drop("east", "gtpu.ext_unsupported")
    return c


def case_teid_zero():
    c = Case(
        "teid_zero",
        "TS 29.281 §7.3.1: a G-PDU for which no context exists is discarded, and an Error Indication is "
        "returned only if its TEID is not all zeros; a G-PDU with TEID 0 is dropped (gtpu.unknown_teid) without "
        "an answer (over IPv4 and IPv6), while one with an unknown non-zero TEID is answered",
    )
    e = lambda pkt: c.rx("east", from_gnb(pkt))
    e(outer_to_us(False, gpdu_header(0, None) / Raw(udp4(UE4[1], H4)), sport=45000))
    e(outer_to_us(True, gpdu_header(0, None) / Raw(udp6(UE6[3], H6)), sport=45000))
    req = outer_to_us(False, gpdu_header(0xDEAD, None) / Raw(udp4(UE4[1], H4)), sport=45000)
    e(req)
    c.emit("east", to_gnb(error_indication(req, 0xDEAD, c.next_seq(), c.ident)), "east")
    c.drop("east", "gtpu.unknown_teid", 3)
    return c


def case_ident():
    c = Case(
        "ident_shared",
        "The IPv4 identification counter counts IPv4 headers xgw writes: an encapsulation or an answer over "
        "IPv6 takes no ID, so the IPv4 ones after them in the same replay still get 1, 2, ...",
    )
    w = lambda b: c.rx("west", from_dn(b))
    e = lambda pkt: c.rx("east", from_gnb(pkt))
    for s, b in ((S[3], udp6(H6, UE6[3])), (S[5], udp4(H4, UE4[5], ident=0x11)), (S[1], udp4(H4, UE4[1], ident=0x12))):
        c.tx("east", encapsulated(s, routed(b), c.ident), w(b))
    req = outer_to_us(True, gpdu_header(0xDEAD, None) / Raw(udp6(UE6[3], H6)), sport=45000)
    e(req)
    c.emit("east", to_gnb(error_indication(req, 0xDEAD, c.next_seq(), c.ident)), "east")
    req = outer_to_us(False, gpdu_header(0xDEAD, None) / Raw(udp4(UE4[1], H4)), sport=45000)
    e(req)
    c.emit("east", to_gnb(error_indication(req, 0xDEAD, c.next_seq(), c.ident)), "east")
    c.drop("east", "gtpu.unknown_teid", 2)
    return c


def case_hostile():
    c = Case(
        "hostile",
        "What an endpoint must refuse: inner source not the session's UE (IPv4, IPv6 outside the /64, IPv6 "
        "for an IPv4-only session: gtpu.inner_spoofed); gate closed (gtpu.gate_closed); truncated header, "
        "version 2, PT 0 (GTP'), Length beyond the datagram, optional fields beyond Length, a zero-length "
        "extension header, a chain of 9 (gtpu.malformed); an Error Indication without its GTP-U Peer Address "
        "(gtpu.malformed); message types 99 and 16 (gtpu.unknown_message); a T-PDU that is not IP, too short, "
        "or empty (gtpu.inner_malformed); a T-PDU cut short by the GTP-U Length (ip4.malformed); a T-PDU that "
        "is itself GTP-U to our endpoint (gtpu.nested); UDP over IPv6 with checksum 0 (udp.ip6_zero_checksum); "
        "a UDP length beyond the packet (udp.truncated); outer fragments (first: gtpu.outer_fragment, second: "
        "local.fragment); port 2152 of addresses that are not endpoints (lan's): ICMP port unreachable from "
        "wan's address, routed back (RFC 792, RFC 4443)",
    )
    e = lambda pkt: c.rx("east", from_gnb(pkt))
    s1, s2, s3 = S[1], S[2], S[3]
    g = lambda teid, b: gpdu_header(teid, None) / Raw(b)
    # Spoofed inner sources.
    e(outer_to_us(False, g(s1.teid, udp4(UE4[2], H4))))
    e(outer_to_us(False, g(s1.teid, udp6("2001:db8:45:2::5", H6))))
    e(outer_to_us(False, g(s2.teid, udp6(UE6[1], H6))))
    e(outer_to_us(True, g(s3.teid, udp6("2001:db8:45:3::8", H6))))
    c.drop("east", "gtpu.inner_spoofed", 4)
    # Session 4's uplink gate is closed.
    e(outer_to_us(False, g(S[4].teid, udp4(UE4[4], H4))))
    c.drop("east", "gtpu.gate_closed")
    # Malformed headers.
    good = bytes(g(s1.teid, udp4(UE4[1], H4)))
    e(outer_to_us(False, good[:6]))  # truncated mandatory header
    e(outer_to_us(False, bytes([0x48]) + good[1:]))  # version 2
    e(outer_to_us(False, bytes([0x20]) + good[1:]))  # PT 0: GTP'
    e(outer_to_us(False, good[:2] + struct.pack("!H", len(good) - 8 + 1) + good[4:]))  # Length beyond
    e(outer_to_us(False, struct.pack("!BBHI", 0x32, 255, 2, s1.teid) + b"\x00\x01"))  # S set, Length 2
    zero = gtpu_raw(255, s1.teid, udp4(UE4[1], H4), flags=0x34, opt=(0, 0, 0x20), ext=bytes([0, 0, 0, 0]))
    e(outer_to_us(False, zero))  # zero-length extension header
    nine = b"".join(bytes([1, k, 0, 0x20 if k < 8 else 0]) for k in range(9))
    e(outer_to_us(False, gtpu_raw(255, s1.teid, udp4(UE4[1], H4), flags=0x34, opt=(0, 0, 0x20), ext=nine)))
    bad_ei = GTP_U_Header(S=1, seq=3, gtp_type=26, teid=0) / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0x1100)])
    e(outer_to_us(False, bad_ei))
    c.drop("east", "gtpu.malformed", 8)
    # Message types an endpoint does not handle.
    e(outer_to_us(False, bytes([0x30, 99]) + good[2:]))
    e(outer_to_us(False, GTPHeader(S=1, seq=1, gtp_type=16, teid=0) / Raw(b"\x00" * 4)))
    c.drop("east", "gtpu.unknown_message", 2)
    # T-PDUs that are not (whole) IP packets.
    e(outer_to_us(False, g(s1.teid, b"\x55" * 40)))
    e(outer_to_us(False, g(s1.teid, udp4(UE4[1], H4)[:19])))
    e(outer_to_us(False, g(s1.teid, b"")))
    c.drop("east", "gtpu.inner_malformed", 3)
    # The GTP-U Length cuts the inner packet short: the inner IPv4 header
    # claims more than there is.
    inner = udp4(UE4[1], H4, size=100)
    e(outer_to_us(False, bytes(g(s1.teid, inner[:80])) + inner[80:]))
    c.drop("east", "ip4.malformed")
    # GTP-U inside GTP-U to our own endpoint.
    nested = bytes(IP(src=UE4[1], dst=WAN4, id=0x42) / UDP(sport=PORT, dport=PORT, chksum=0) / g(s1.teid, udp4(UE4[1], H4)))
    e(outer_to_us(False, g(s1.teid, nested)))
    c.drop("east", "gtpu.nested")
    # UDP over IPv6 with checksum 0 (RFC 8200 §8.1: discarded).
    e(outer_to_us(True, g(s3.teid, udp6(UE6[3], H6)), chksum=0))
    c.drop("east", "udp.ip6_zero_checksum")
    # A UDP length beyond the IP packet.
    e(outer_to_us(False, good, udp_len=8 + len(good) + 4))
    c.drop("east", "udp.truncated")
    # An outer IPv4 datagram in two fragments.
    whole = bytes(outer_to_us(False, g(s1.teid, udp4(UE4[1], H4, size=200)), ident=0x3131))
    for f in fragments4(whole, 160):
        e(IP(f))
    c.drop("east", "gtpu.outer_fragment")
    c.drop("east", "local.fragment")
    # Port 2152 of lan's addresses (not endpoints) is closed.
    for v6 in (False, True):
        req = outer_to_us(v6, good, dst=LAN6 if v6 else LAN4, sport=40100)
        cause = e(req)
        b = bytes(req)
        if v6:
            err = IPv6(icmp6_error(WAN6, b, ICMPv6DestUnreach(code=4)))
        else:
            err = IP(icmp4_error(WAN4, b, 3, 3))
        c.tx("east", to_gnb(err), cause)
    # An IPv6 first fragment: gtpu.outer_fragment too.
    pkt = IPv6(src=GNB6, dst=WAN6, hlim=60) / IPv6ExtHdrFragment(id=0x77, m=1, offset=0, nh=17) / UDP(sport=PORT, dport=PORT, len=8 + len(good) + 64, chksum=0x1234) / Raw(good)
    e(pkt)
    c.drop("east", "gtpu.outer_fragment")
    return c


def case_mbr():
    c = Case(
        "mbr",
        "Session 6's MBR, 1 Mbit/s each way: its buckets hold max(125000/10, 18000) = 18000 bytes and start "
        "full; of 24 1000-byte inner packets in one burst the first 18 pass and 6 are dropped as "
        "gtpu.mbr_exceeded, downlink (west) and uplink (east)",
    )
    s6 = S[6]
    for k in range(24):
        b = sized4(H4, UE4[6], 1000, ident=0x100 + k, sport=41000 + k)
        cause = c.rx("west", from_dn(b))
        if k < 18:
            c.tx("east", encapsulated(s6, routed(b), c.ident), cause)
    c.drop("west", "gtpu.mbr_exceeded", 6)
    for k in range(24):
        b = sized4(UE4[6], H4, 1000, ident=0x200 + k, sport=42000 + k)
        cause = c.rx("east", from_gnb(outer_to_us(False, gpdu_header(s6.teid, 1, pdu_type=1) / Raw(b))))
        if k < 18:
            c.tx("west", to_dn(routed(b)), cause)
    c.drop("east", "gtpu.mbr_exceeded", 6)
    return c


def case_hairpin():
    c = Case(
        "hairpin",
        "Uplink packets that route back into gtp0: UE to UE (forwarded once, TTL/hop limit - 1, then "
        "encapsulated in the destination session's tunnel), to a pool address no session has "
        "(gtpu.no_session, counted on east), and echo requests from UEs to lan's addresses (the echo reply, "
        "addresses swapped and TTL/hop limit 64, encapsulated to the UE's session)",
    )
    e = lambda pkt: c.rx("east", from_gnb(pkt))
    g = lambda teid, b: gpdu_header(teid, None) / Raw(b)
    b = udp4(UE4[1], UE4[2], ident=0x31)
    c.tx("east", encapsulated(S[2], routed(b), c.ident), e(outer_to_us(False, g(S[1].teid, b))))
    b = bytes(IP(src=UE4[2], dst=LAN4, ttl=30, tos=0x10, id=0x32) / ICMP(type=8, id=5, seq=1) / Raw(b"hairpin!"))
    q = IP(b)
    reply = bytes(IP(src=LAN4, dst=UE4[2], ttl=64, tos=0x10, id=0x32) / ICMP(type=0, id=5, seq=1) / Raw(b"hairpin!"))
    assert len(reply) == len(b) and q.flags == 0
    c.tx("east", encapsulated(S[2], reply, c.ident), e(outer_to_us(False, g(S[2].teid, b))))
    e(outer_to_us(False, g(S[2].teid, udp4(UE4[2], "10.45.0.99"))))
    c.drop("east", "gtpu.no_session")
    b = udp6(UE6[1], UE6[3], tc=0x48)
    c.tx("east", encapsulated(S[3], routed(b), c.ident), e(outer_to_us(False, g(S[1].teid, b))))
    b = bytes(IPv6(src=UE6[3], dst=LAN6, hlim=30, tc=0x10, fl=0x54321) / ICMPv6EchoRequest(id=6, seq=2, data=b"hairpin6"))
    reply = bytes(IPv6(src=LAN6, dst=UE6[3], hlim=64, tc=0x10, fl=0x54321) / ICMPv6EchoReply(id=6, seq=2, data=b"hairpin6"))
    c.tx("east", encapsulated(S[3], reply, c.ident), e(outer_to_us(True, g(S[3].teid, b))))
    return c


def case_udp_checksum():
    c = Case(
        "udp_checksum",
        "RFC 1122 §4.1.3.4: a UDP datagram received with a non-zero checksum that is wrong MUST be silently "
        "discarded (over IPv6 the checksum is mandatory, RFC 8200 §8.1); G-PDUs with a wrong checksum over IPv4 "
        "and IPv6 are dropped (udp.bad_checksum), the same G-PDUs with a right one are decapsulated",
    )
    e = lambda pkt: c.rx("east", from_gnb(pkt))
    for v6, s, b in ((False, S[1], udp4(UE4[1], H4, ident=0x51)), (True, S[3], udp6(UE6[3], H6))):
        # (over IPv4 too with a computed checksum, not 0)
        outer = IPv6(src=GNB6, dst=WAN6, hlim=60) if v6 else IP(src=GNB4, dst=WAN4, ttl=60, id=0x2000)
        good = (IPv6 if v6 else IP)(bytes(outer / UDP(sport=PORT, dport=PORT) / gpdu_header(s.teid, None) / Raw(b)))
        bad = (IPv6 if v6 else IP)(bytes(good))
        bad[UDP].chksum = good[UDP].chksum ^ 0x0101
        e(bad)
        c.tx("west", to_dn(routed(b)), e(good))
    c.drop("east", "udp.bad_checksum", 2)
    return c


def case_gate():
    c = Case(
        "gate_dl",
        "Session 4's downlink gate is closed: packets to its UE are dropped as gtpu.gate_closed (not "
        "encapsulated, no ICMP error); the other sessions are unaffected",
    )
    w = lambda b: c.rx("west", from_dn(b))
    w(udp4(H4, UE4[4]))
    w(udp4(H4, UE4[4], ttl=5, ident=0x4))
    c.drop("west", "gtpu.gate_closed", 2)
    b = udp4(H4, UE4[2])
    c.tx("east", encapsulated(S[2], routed(b), c.ident), w(b))
    return c


def main():
    if os.path.isdir(OUT):
        for name in os.listdir(OUT):
            p = os.path.join(OUT, name)
            if os.path.isdir(p):
                shutil.rmtree(p)
    os.makedirs(OUT, exist_ok=True)
    cases = [
        case_decap(),
        case_encap(),
        case_mtu(),
        case_frag(),
        case_signalling(),
        case_error_rate(),
        case_teid_zero(),
        case_ident(),
        case_hostile(),
        case_mbr(),
        case_gate(),
        case_hairpin(),
        case_udp_checksum(),
    ]
    for c in cases:
        c.write()
    print("wrote %d cases to %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
