#!/usr/bin/python3
"""GTP-U wire vectors for pipelines/src/wire/gtpu/tests.rs, built and
dissected by scapy's contrib GTP layer (an implementation independent of
xgw's).

Regenerate (from this directory, with Debian's python3-scapy, which only
/usr/bin/python3 has):

    /usr/bin/python3 make_wire.py > wire_vectors.json

Each vector: `hex` (the UDP payload), and what scapy says of it. `parse`
vectors are for xgw's parser (message type, TEID, sequence number when S
is set, N-PDU number when PN is set, the PDU Session Container's type and
QFI, the payload offset); `build` vectors are messages xgw must write byte
for byte (`kind` says which builder, with its arguments).

scapy 2.5's Extension Header Type List IE (the Supported Extension Headers
Notification) has a two-octet length where TS 29.281 §8.5 has one octet,
so that message is not here (tests/tests/gtpu_wire.rs has tshark read it).
"""
import json

from scapy.all import IP, IPv6, UDP, Raw
from scapy.contrib.gtp import (GTP_U_Header, GTPHeader, GTPPDUSessionContainer,
                               GTPEchoRequest, GTPEchoResponse, GTPErrorIndication,
                               IE_Recovery, IE_TEIDI, IE_GSNAddress)

inner4 = IP(src="10.45.0.2", dst="192.0.2.80") / UDP(sport=1234, dport=53) / Raw(b"q" * 11)
inner6 = IPv6(src="2001:db8:45::2", dst="2001:db8:80::1") / UDP(sport=1234, dport=53) / Raw(b"q" * 11)

vectors = []


def parse_vector(name, pkt, inner):
    b = bytes(pkt)
    d = GTP_U_Header(b)
    v = {"name": name, "test": "parse", "hex": b.hex(),
         "msg_type": d.gtp_type, "teid": d.teid,
         "seq": d.seq if d.S else None,
         "npdu": d.npdu if d.PN else None,
         "psc": None,
         "payload": len(b) - len(bytes(inner)) if inner is not None else len(b),
         "end": 8 + d.length}
    if d.haslayer(GTPPDUSessionContainer):
        c = d[GTPPDUSessionContainer]
        v["psc"] = [c.type, c.QFI]
    vectors.append(v)


parse_vector("g-pdu plain, inner IPv4",
             GTP_U_Header(teid=0x1234, gtp_type=255) / inner4, inner4)
parse_vector("g-pdu plain, inner IPv6",
             GTP_U_Header(teid=0xfedcba98, gtp_type=255) / inner6, inner6)
parse_vector("g-pdu with S and PN",
             GTP_U_Header(teid=7, gtp_type=255, S=1, PN=1, seq=0x77, npdu=5) / inner4, inner4)
parse_vector("g-pdu with S only",
             GTP_U_Header(teid=8, gtp_type=255, S=1, seq=0xbeef) / inner6, inner6)
parse_vector("g-pdu with a DL PDU Session Container, QFI 9",
             GTP_U_Header(teid=9, gtp_type=255, E=1, next_ex=0x85)
             / GTPPDUSessionContainer(type=0, QFI=9) / inner4, inner4)
parse_vector("g-pdu with a UL PDU Session Container, QFI 63",
             GTP_U_Header(teid=10, gtp_type=255, E=1, next_ex=0x85)
             / GTPPDUSessionContainer(type=1, QFI=63) / inner6, inner6)
parse_vector("g-pdu with a DL PSC carrying PPI (8 octets)",
             GTP_U_Header(teid=11, gtp_type=255, E=1, next_ex=0x85)
             / GTPPDUSessionContainer(type=0, PPP=1, PPI=3, QFI=5) / inner4, inner4)
parse_vector("echo request",
             GTPHeader(S=1, seq=0x1234, gtp_type=1) / GTPEchoRequest(), None)
parse_vector("end marker",
             GTP_U_Header(teid=0x55, gtp_type=254), None)


def build_vector(kind, args, pkt):
    vectors.append({"name": kind, "test": "build", "kind": kind, "args": args,
                    "hex": bytes(pkt).hex()})


build_vector("echo_response", {"seq": 0x1234},
             GTPHeader(S=1, seq=0x1234, gtp_type=2)
             / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)]))
build_vector("echo_request", {"seq": 0x4321},
             GTPHeader(S=1, seq=0x4321, gtp_type=1) / GTPEchoRequest())
build_vector("error_indication", {"seq": 7, "teid": 0xdeadbeef, "local": "192.0.2.1"},
             GTP_U_Header(S=1, seq=7, gtp_type=26, teid=0)
             / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0xdeadbeef),
                                           IE_GSNAddress(length=4, ipv4_address="192.0.2.1")]))
build_vector("error_indication", {"seq": 8, "teid": 0x01020304, "local": "2001:db8::7"},
             GTP_U_Header(S=1, seq=8, gtp_type=26, teid=0)
             / GTPErrorIndication(IE_list=[IE_TEIDI(TEIDI=0x01020304),
                                           IE_GSNAddress(length=16, ipv6_address="2001:db8::7")]))
build_vector("end_marker", {"teid": 0x55}, GTP_U_Header(teid=0x55, gtp_type=254))
# G-PDU headers: scapy's header over a payload of `len` octets, cut to the
# header (what xgw writes in front of the inner packet).
for teid, qfi, n in [(0x1234, None, 40), (0xabcdef01, 9, 1400), (1, 63, 0)]:
    pay = Raw(b"\x45" + b"\x00" * (n - 1)) if n else Raw(b"")
    if qfi is None:
        pkt = GTP_U_Header(teid=teid, gtp_type=255) / pay
        hl = 8
    else:
        pkt = (GTP_U_Header(teid=teid, gtp_type=255, E=1, next_ex=0x85)
               / GTPPDUSessionContainer(type=0, QFI=qfi) / pay)
        hl = 16
    vectors.append({"name": f"g-pdu header teid {teid:#x} qfi {qfi} len {n}",
                    "test": "build", "kind": "gpdu_header",
                    "args": {"teid": teid, "qfi": qfi, "len": n},
                    "hex": bytes(pkt)[:hl].hex()})

print(json.dumps(vectors, indent=1))
