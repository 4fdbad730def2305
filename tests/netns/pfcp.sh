#!/usr/bin/env bash
# PFCP agent (issue 13, node procedures): a test SMF written with scapy's
# PFCP layer (scapy.contrib.pfcp, independent of xgw's codec) talks to
# xgw's agent over a management link.  Run as root:  tests/netns/pfcp.sh
#
#   ns S (SMF, scapy)   10.44.0.2 ──veth── 10.44.0.1   ns X (xgw: the agent's
#                                                      socket on the host stack;
#                                                      the packet ports are mem)
# Checks (each answer parsed with scapy):
#   1. Session Establishment before any association: cause 72 (No
#      established PFCP Association), Node ID, the response's SEID = the
#      CP F-SEID's
#   2. Association Setup Request without Recovery Time Stamp: cause 66,
#      Offending IE 96; with it: cause 1, xgw's Node ID and Recovery Time
#      Stamp; the same request again (same sequence number): the same
#      bytes back, one association (`xgw pfcp associations --json`)
#   3. Heartbeat Request (S=0 and S=1): Heartbeat Response, same sequence
#      number, xgw's Recovery Time Stamp; xgw's own Heartbeat Requests
#      arrive every heartbeat_interval (1 s) and the SMF answers them
#      (heartbeats_answered > 0)
#   4. Session Establishment with the association but no Create PDR:
#      cause 66 (Mandatory IE missing), Offending IE 1 (Create PDR), the
#      response's SEID = the CP F-SEID's; Modification / Deletion of an
#      unknown SEID: cause 65 (sessions in full: netns/pfcp-session.sh)
#   5. garbage, a truncated header, lying lengths, a Heartbeat Request
#      without its Recovery Time Stamp, an unknown message type, a response
#      to nothing: no answer, counted (malformed, mandatory_ie_missing,
#      unknown_message, unexpected_response); version 2: Version Not
#      Supported Response; xgw still answers
#   6. Association Update: cause 1; Release: cause 1, no association left;
#      Update after it: cause 72
#   7. set up again, then the SMF stops answering: xgw's heartbeats go
#      unanswered (T1 300 ms, N1 2) and the association is released
#      (associations_lost 1); a heartbeat from the SMF with a new Recovery
#      Time Stamp after a fresh setup: peer_restarts, association gone
#   8. SIGTERM exits 0
# Knobs: XT_KEEP=1  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=pfcp
# shellcheck disable=SC2034  # read by lib.sh
XT_NS_PREFIX=xp-
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
"$XT_PY" -c 'import scapy.contrib.pfcp' 2>/dev/null || die "python3-scapy (with scapy.contrib.pfcp) missing for $XT_PY (run tests/run.sh)"
T0=$SECONDS

NS_S=$(xt_ns s); NS_X=$(xt_ns x)
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/xgw.toml
XGW_LOG=$XT_WORK/xgw.log

step "lab: $NS_S (scapy SMF, 10.44.0.2) <-> $NS_X (xgw's PFCP agent, 10.44.0.1)"
xt_ns_add "$NS_S"; xt_ns_add "$NS_X"
xt_veth "$NS_S" s0 "$NS_X" n4
xt_host_if "$NS_S" s0 10.44.0.2/24
xt_host_if "$NS_X" n4 10.44.0.1/24

cat >"$CFG" <<EOF
# written by tests/netns/pfcp.sh
[engine]
cores = [0]
[control]
socket = "$SOCK"
[[ports]]
name = "n3"
driver = "mem"
mac = "02:00:00:00:00:01"
[[ports]]
name = "n6"
driver = "mem"
mac = "02:00:00:00:00:02"
[pipeline]
kind = "router"
[[interfaces]]
name = "n3"
port = "n3"
ipv4 = ["192.0.2.1/24"]
[[interfaces]]
name = "n6"
port = "n6"
ipv4 = ["10.2.0.1/24"]
[gtpu]
endpoints = ["192.0.2.1"]
[pfcp]
address = "10.44.0.1"
node_id = "upf.xgw.test"
heartbeat_interval = 1
t1_ms = 300
n1 = 2
EOF
out=$("$XGW" check --config "$CFG" 2>&1) && rc=0 || rc=$?
check_eq "xgw check accepts [pfcp]" 0 "$rc" "${out:0:300}"
xt_xgw_start "$NS_X" "$CFG" "$XGW_LOG"
PID=$XT_XGW_PID
xt_xgw_wait_ready "$PID" "$SOCK" "$XGW_LOG" 20 || die "xgw did not start"
pass "xgw is up (pid $PID)"

cat >"$XT_WORK/smf.py" <<'EOF'
import json, socket, subprocess, sys, time
from scapy.contrib.pfcp import *
from scapy.all import raw

XGW, SOCK = sys.argv[1], sys.argv[2]
UPF = ("10.44.0.1", 8805)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.44.0.2", 8805))
s.settimeout(1.0)
FAILS = 0
SEQ = [100]


def check(cond, what):
    global FAILS
    print(("PASS " if cond else "FAIL ") + what)
    FAILS += 0 if cond else 1


def assoc():
    o = subprocess.run([XGW, "pfcp", "associations", "--json", "--socket", SOCK], capture_output=True, text=True, timeout=10)
    return json.loads(o.stdout)


def seq():
    SEQ[0] += 1
    return SEQ[0]


def node_msg(body, sq=None):
    return PFCP(version=1, S=0, seq=sq if sq is not None else seq()) / body


def recv(timeout=1.0, want=None):
    """The next datagram from xgw (skipping xgw's own Heartbeat Requests
    unless `want` is 1), answering those it skips."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            return None
        p = PFCP(data)
        if p.message_type == 1 and want != 1:
            answer_hb(p, src)
            continue
        return p, data, src


def answer_hb(p, src, ts=1000):
    s.sendto(raw(PFCP(version=1, S=0, seq=p.seq) / PFCPHeartbeatResponse(IE_list=[IE_RecoveryTimeStamp(timestamp=ts)])), src)


def ask(pkt):
    s.sendto(raw(pkt), UPF)
    return recv()


def ie(p, cls):
    return [i for i in p.payload.IE_list if isinstance(i, cls)] if hasattr(p.payload, "IE_list") else []


def cause(p):
    c = ie(p, IE_Cause)
    return c[0].cause if c else None


NODE = IE_NodeId(id_type=0, ipv4="10.44.0.2")
RTS = IE_RecoveryTimeStamp(timestamp=1000)
FSEID = IE_FSEID(v4=1, seid=0x1234, ipv4="10.44.0.2")

# 1. a session before any association
r = ask(PFCP(version=1, S=1, seid=0, seq=seq()) / PFCPSessionEstablishmentRequest(IE_list=[NODE, FSEID]))
check(r is not None and r[0].message_type == 51 and cause(r[0]) == 72 and r[0].seid == 0x1234
      and len(ie(r[0], IE_NodeId)) == 1,
      "1. Session Establishment before an association: cause 72, Node ID, SEID 0x1234 (%s)" % (r and r[0].summary()))
nid = ie(r[0], IE_NodeId)[0] if r else None
check(nid is not None and nid.id_type == 2 and b"upf" in raw(nid), "1. the response's Node ID is the FQDN upf.xgw.test (%r)" % (nid and raw(nid)))

# 2. association setup
r = ask(node_msg(PFCPAssociationSetupRequest(IE_list=[NODE])))
off = ie(r[0], IE_OffendingIE) if r else []
check(r is not None and r[0].message_type == 6 and cause(r[0]) == 66 and [o.type for o in off] == [96],
      "2. Association Setup without Recovery Time Stamp: cause 66, Offending IE 96")
sq = seq()
req = raw(node_msg(PFCPAssociationSetupRequest(IE_list=[NODE, RTS]), sq))
r = ask(req)
rts = ie(r[0], IE_RecoveryTimeStamp) if r else []
check(r is not None and r[0].message_type == 6 and r[0].seq == sq and cause(r[0]) == 1 and len(rts) == 1
      and len(ie(r[0], IE_NodeId)) == 1,
      "2. Association Setup: cause 1 (accepted), Node ID, Recovery Time Stamp, same sequence number")
r2 = ask(req)
check(r2 is not None and r2[1] == r[1], "2. the same request again: the same response, byte for byte")
a = assoc()
check([x["node_id"] for x in a["associations"]] == ["10.44.0.2"] and a["counters"]["duplicate_request"] == 1
      and a["counters"]["associations_set_up"] == 1,
      "2. one association (node 10.44.0.2), one duplicate counted: %s" % a["associations"])
UPF_RTS = rts[0].timestamp if rts else None

# 3. heartbeats
for S in (0, 1):
    sq = seq()
    r = ask(PFCP(version=1, S=S, seq=sq) / PFCPHeartbeatRequest(IE_list=[RTS]))
    rt = ie(r[0], IE_RecoveryTimeStamp) if r else []
    check(r is not None and r[0].message_type == 2 and r[0].seq == sq and [x.timestamp for x in rt] == [UPF_RTS],
          "3. Heartbeat Request (S=%d): Heartbeat Response, same sequence number, xgw's Recovery Time Stamp" % S)
got = recv(timeout=2.5, want=1)
check(got is not None and got[0].message_type == 1 and len(ie(got[0], IE_RecoveryTimeStamp)) == 1,
      "3. xgw sends a Heartbeat Request within its interval (1 s), with its Recovery Time Stamp")
if got:
    answer_hb(got[0], got[2])
time.sleep(0.3)
a = assoc()["associations"]
check(a and a[0]["heartbeats_answered"] >= 1, "3. xgw counts the SMF's answer: %s" % a)

# 4. sessions with the association: a request without its rules
r = ask(PFCP(version=1, S=1, seid=0, seq=seq()) / PFCPSessionEstablishmentRequest(IE_list=[NODE, FSEID]))
off = [x.type for x in ie(r[0], IE_OffendingIE)] if r else []
check(r is not None and cause(r[0]) == 66 and off == [1] and r[0].seid == FSEID.seid,
      "4. Session Establishment without Create PDR: cause 66, Offending IE 1, SEID = the CP F-SEID's (%s)" % str((cause(r[0]), off) if r else None))
for t, name in ((PFCPSessionModificationRequest, "Modification"), (PFCPSessionDeletionRequest, "Deletion")):
    r = ask(PFCP(version=1, S=1, seid=0x77, seq=seq()) / t(IE_list=[]))
    check(r is not None and r[0].message_type in (53, 55) and cause(r[0]) == 65,
          "4. Session %s of an unknown SEID: cause 65 (Session context not found)" % name)

# 5. hostile input
c0 = assoc()["counters"]
bad = [b"\x01\x02\x03", b"\x20\x01\x00", b"\x20\x01\x00\x40\x00\x00\x01\x00", b"\x20\x01\x00\x08\x00\x00\x01\x00\x00\x60\x00\x09",
       raw(node_msg(PFCPHeartbeatRequest(IE_list=[])))[:4] + b"\x00\x00\x00\x00" + b"\x00\x60\x00\x04\x00",
       ]
for b in bad:
    s.sendto(b, UPF)
s.sendto(raw(PFCP(version=1, S=0, message_type=99, seq=seq())), UPF)
s.sendto(raw(PFCP(version=1, S=0, seq=999) / PFCPHeartbeatResponse(IE_list=[RTS])), UPF)
r = recv(timeout=1.0)
check(r is None, "5. garbage, lying lengths, type 99, a stray response: no answer (%s)" % (r and r[0].summary()))
c1 = assoc()["counters"]
d = {k: c1[k] - c0[k] for k in ("malformed", "unknown_message", "unexpected_response", "mandatory_ie_missing")}
check(d == {"malformed": len(bad) - 1, "unknown_message": 1, "unexpected_response": 1, "mandatory_ie_missing": 1},
      "5. counted (the last of them a Heartbeat Request without its Recovery Time Stamp): %s" % d)
r = ask(PFCP(version=2, S=0, seq=seq()) / PFCPHeartbeatRequest(IE_list=[RTS]))
check(r is not None and r[0].message_type == 11, "5. version 2: Version Not Supported Response")

# 6. update, release
r = ask(node_msg(PFCPAssociationUpdateRequest(IE_list=[NODE])))
check(r is not None and r[0].message_type == 8 and cause(r[0]) == 1, "6. Association Update: cause 1")
r = ask(node_msg(PFCPAssociationReleaseRequest(IE_list=[NODE])))
check(r is not None and r[0].message_type == 10 and cause(r[0]) == 1 and len(ie(r[0], IE_NodeId)) == 1,
      "6. Association Release: cause 1, Node ID")
check(assoc()["associations"] == [], "6. no association left")
r = ask(node_msg(PFCPAssociationUpdateRequest(IE_list=[NODE])))
check(r is not None and cause(r[0]) == 72, "6. Association Update after the release: cause 72")

# 7. a silent SMF, a restarted SMF
r = ask(node_msg(PFCPAssociationSetupRequest(IE_list=[NODE, RTS])))
check(r is not None and cause(r[0]) == 1, "7. set up again")
c0 = assoc()["counters"]
t0 = time.monotonic()
while time.monotonic() - t0 < 4.0 and assoc()["associations"]:
    time.sleep(0.2)  # (xgw's heartbeats stay unanswered in the socket)
c1 = assoc()["counters"]
check(assoc()["associations"] == [] and c1["associations_lost"] - c0["associations_lost"] == 1
      and c1["heartbeat_request_out"] - c0["heartbeat_request_out"] == 2,
      "7. heartbeats unanswered (2 tries): association lost (%.1f s; heartbeat_request_out +%d)"
      % (time.monotonic() - t0, c1["heartbeat_request_out"] - c0["heartbeat_request_out"]))
s.settimeout(0.1)
try:
    while True:
        s.recvfrom(65535)
except socket.timeout:
    pass
r = ask(node_msg(PFCPAssociationSetupRequest(IE_list=[NODE, RTS])))
check(r is not None and cause(r[0]) == 1, "7. set up once more")
r = ask(node_msg(PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=2000)])))
c2 = assoc()
check(r is not None and r[0].message_type == 2 and c2["associations"] == [] and c2["counters"]["peer_restarts"] == 1,
      "7. a heartbeat with a new Recovery Time Stamp: answered, the peer restarted, association gone")
sys.exit(1 if FAILS else 0)
EOF
step "the scapy SMF against xgw's agent"
relay smf.py ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/smf.py" "$XGW" "$SOCK"
timeout 10 "$XGW" pfcp associations --socket "$SOCK" >"$XT_WORK/assoc.txt" 2>&1 || true
log "xgw pfcp associations:"; xt_indent <"$XT_WORK/assoc.txt"
grep -q "^malformed: " "$XT_WORK/assoc.txt" && pass "xgw pfcp associations (text) prints the counters" \
  || fail "xgw pfcp associations (text): $(head -c 200 "$XT_WORK/assoc.txt")"
grep -qi panic "$XGW_LOG" && fail "panic in xgw's log" || pass "no panic in xgw's log"

step "SIGTERM"
xt_xgw_stop "$PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
log "took $((SECONDS - T0)) s"
xt_finish
