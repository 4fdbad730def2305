#!/usr/bin/env bash
# PFCP sessions (TS 29.244), end to end: a test SMF written with scapy's
# PFCP layer (scapy.contrib.pfcp, independent of xgw's codec) sets up
# sessions in xgw's agent; a scapy base station (scapy.contrib.gtp) sends
# and receives their GTP-U traffic; a Linux host on the data network
# answers it.  Run as root:  tests/netns/pfcp-session.sh
#
#   ns S (SMF, scapy)  s0 10.44.0.2 ──veth── n4 10.44.0.1   ns X (xgw: PFCP agent on the
#                                                            host stack, [pfcp])
#   ns R (base station) r0 192.168.0.99 ──veth── n3 192.168.0.1 [xgw router, GTP-U endpoint]
#                          192.168.0.98 (handover)             n6 10.2.0.1 ──veth── d0 10.2.0.2, .3  ns D
#   UE pool 10.45.0.0/16 routed into gtp0 (xgw); ns D routes it via 10.2.0.1.
#   No static session: everything comes from PFCP.
#   sessions (CP SEID, UE, downlink peer/TEID, QFI):
#     1  0x5001  10.45.0.2  192.168.0.99/0x1001, then .98/0x2002 (handover),
#                           buffered, then .98/0x2003             QFI 9
#     2  0x5002  10.45.0.3  192.168.0.99/0x3003, URR with a volume threshold  QFI 5
#     3  0x5003  10.45.0.4  192.168.0.99/0x4004, ended by the Association Release  QFI 9
#     4  0x5004  10.45.0.5  192.168.0.99/0x5005, per-flow rules (SDF filters):
#                           SIP QFI 1, telnet DROP, the rest QFI 9
#
# Checks (every PFCP answer and every frame the base station gets parsed
# with scapy; Usage Report volumes compared with the bytes of the packets
# actually sent and received):
#   1. Association Setup: cause 1, Node ID upf.xgw.test, Recovery Time
#      Stamp, UP Function Features with FTUP and EMPU
#   2. errors before any session: Establishment without CP F-SEID (cause
#      66, Offending IE 57, header SEID 0), a Create PDR without PDR ID
#      (cause 66, Offending IE 56), Modification / Deletion of an unknown
#      SEID (header SEID 0, cause 65); nothing set up; heartbeat answered
#      after each
#   3. Session Establishment (2 PDRs, 2 FARs, QER, URR, F-TEID CHOOSE):
#      header SEID = CP SEID, cause 1, Node ID, UP F-SEID (V4, nonzero,
#      10.44.0.1), one Created PDR (PDR 1, F-TEID V4 nonzero on
#      192.168.0.1); `xgw pfcp sessions --json` (rules, gtp part) and
#      `xgw gtp session list --json` agree
#   4. a second session with the same UE address: cause 73 + Failed Rule
#      ID; requests with a top-level IE running past the message end: no
#      answer, counted malformed; session 1 unchanged, heartbeat answered
#   5. data path: ICMP echo in G-PDUs from the base station, replies back
#      as G-PDUs with TEID 0x1001 and a PDU Session Container QFI 9;
#      Query URR: Usage Report (IMMER) with the exact volumes and packet
#      counts
#   6. handover: Update FAR + SNDEM: exactly one End Marker (TEID 0x1001)
#      to .99, downlink then to .98 with TEID 0x2002
#   7. buffering: Update FAR BUFF|NOCP: nothing reaches the base station,
#      one Session Report Request (DLDR, Downlink Data Report with PDR 2),
#      dl_buffered counted; FORW again: the held packets arrive in order
#      with the new TEID
#   8. session 2, a URR with a volume threshold: Session Report Request
#      (USAR, Usage Report VOLTH, exact volumes) within ~2 s, sent again
#      after T1 with the same sequence number while unanswered, never after
#      the answer; `--seid` selects one session
#   9. Session Deletion: Usage Report (TERMR) per session; the reports of
#      each session add up to exactly the bytes sent and received; no
#      session left (pfcp sessions, gtp session list); G-PDUs to the old
#      TEIDs get Error Indications
#  10. per-flow rules (SDF filters), session 4: downlink PDRs for SIP
#      ("permit out 17 from 10.2.0.2/32 5060 to assigned", precedence 100,
#      QER QFI 1), telnet ("permit out 6 from any 23 to assigned", 150, FAR
#      DROP) and the rest ("permit out ip from any to assigned", 200, QER
#      QFI 9, FAR FORW + Outer Header Creation), one uplink PDR (200,
#      CHOOSE), URR 1 on every PDR.  Refused first with the URR on the SIP
#      PDR only (per-flow charging): cause 73, Failed Rule ID PDR 3, nothing
#      set up.  Then: `xgw pfcp sessions --json` lists the 4 rules
#      (direction, precedence, protocol, remote, ports, action, QFI, MBR);
#      UDP from 10.2.0.2:5060 arrives with QFI 1, UDP from :5061, from
#      10.2.0.3:5060, from an ephemeral port, TCP from :24 and echo replies
#      with QFI 9, TCP from :23 never (`xgw drops --json`:
#      gtpu.gate_closed); per-rule packets and bytes = what each rule
#      forwarded (a DROP rule counts nothing); session counters; Remove
#      PDR 3: SIP arrives with QFI 9, each rule left keeps its own counts;
#      Deletion: Usage Report (TERMR) = the forwarded bytes per direction
#  11. Association Release with a live session: released, the session and
#      its GTP-U session gone (Error Indication), heartbeat answered
#  12. tshark: every PFCP message xgw sent (captured on s0 for the whole
#      test) dissects without malformed frame or expert warning, and the
#      capture holds exactly what the SMF received; every GTP-U frame xgw
#      sent to the base station dissects cleanly
#  13. gtpu.* drop reasons: only the unknown TEIDs and the telnet segments
#      sent on purpose; totals invariant, SIGTERM exits 0, no XDP program
#      left
# Knobs: XT_KEEP=1  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=pfcp-session
# shellcheck disable=SC2034  # read by lib.sh
XT_NS_PREFIX=xs-
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in tcpdump tshark; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
"$XT_PY" -c 'import scapy.contrib.pfcp, scapy.contrib.gtp' 2>/dev/null \
  || die "python3-scapy (with scapy.contrib.pfcp and scapy.contrib.gtp) missing for $XT_PY (run tests/run.sh)"
T0=$SECONDS

NS_S=$(xt_ns s); NS_X=$(xt_ns x); NS_R=$(xt_ns r); NS_D=$(xt_ns d)
MAC_N3=02:0a:00:00:00:03; MAC_N6=02:0a:00:00:00:06
MAC_R=02:0b:00:00:00:99; MAC_D=02:0d:00:00:00:02
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/xgw.toml

step "lab: $NS_S (scapy SMF) - $NS_X (xgw: PFCP agent, n3 GTP-U, n6) - $NS_R (scapy base station) / $NS_D (data network)"
for ns in "$NS_S" "$NS_X" "$NS_R" "$NS_D"; do xt_ns_add "$ns"; done
xt_veth "$NS_S" s0 "$NS_X" n4
xt_veth "$NS_R" r0 "$NS_X" n3
xt_veth "$NS_X" n6 "$NS_D" d0
xt_host_if "$NS_S" s0 10.44.0.2/24
xt_host_if "$NS_X" n4 10.44.0.1/24
xt_dut_if "$NS_X" n3 "$MAC_N3"; xt_dut_if "$NS_X" n6 "$MAC_N6"
xt_host_if "$NS_R" r0 192.168.0.99/24 "$MAC_R"
ip -n "$NS_R" addr add 192.168.0.98/24 dev r0
xt_host_if "$NS_D" d0 10.2.0.2/24 "$MAC_D"
ip -n "$NS_D" addr add 10.2.0.3/24 dev d0   # (a source outside step 10's SIP filter)
ip -n "$NS_D" route add 10.45.0.0/16 via 10.2.0.1
for ns in "$NS_R" "$NS_D"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
done

cat >"$CFG" <<EOF
# written by tests/netns/pfcp-session.sh
[engine]
cores = [1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "n3"
driver = "af_xdp"
interface = "n3"

[[ports]]
name = "n6"
driver = "af_xdp"
interface = "n6"

[pipeline]
kind = "router"

[[interfaces]]
name = "n3"
port = "n3"
ipv4 = ["192.168.0.1/24"]

[[interfaces]]
name = "n6"
port = "n6"
ipv4 = ["10.2.0.1/24"]

[gtpu]
endpoints = ["192.168.0.1"]
interface = "gtp0"
max_sessions = 1024

[[routes]]
prefix = "10.45.0.0/16"
interface = "gtp0"

[pfcp]
address = "10.44.0.1"
node_id = "upf.xgw.test"
heartbeat_interval = 1
t1_ms = 300
n1 = 3
EOF
rc=0; out=$("$XGW" check --config "$CFG" 2>&1) || rc=$?
check_eq "xgw check accepts the config ([gtpu] without static sessions, [pfcp], UE pool into gtp0)" 0 "$rc" "${out:0:300}"

# the captures: PFCP on the SMF's link, GTP-U on the base station's, for
# the whole test
CAP_N4=$XT_WORK/n4.pcap; CAP_N3=$XT_WORK/n3.pcap
xt_cap_start "$NS_S" s0 "$CAP_N4" "udp port 8805" || die "tcpdump on s0 did not start"
CAP_N4_PID=$XT_CAP_PID
xt_cap_start "$NS_R" r0 "$CAP_N3" "udp port 2152" || die "tcpdump on r0 did not start"
CAP_N3_PID=$XT_CAP_PID

PID=""
for attempt in 1 2 3 4 5; do
  XGW_LOG=$XT_WORK/xgw.$attempt.log
  xt_xgw_start "$NS_X" "$CFG" "$XGW_LOG"
  if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XGW_LOG" 30 2>"$XGW_LOG.why"; then PID=$XT_XGW_PID; break; fi
  log "start attempt $attempt failed: $(grep -v '^\s*$' "$XGW_LOG" | tail -n 1)"
  sleep "0.$((attempt * 2))"
done
[[ -n $PID ]] || { cat "$XGW_LOG.why" >&2; die "xgw did not come up"; }
pass "xgw is up (pid $PID, attempt $attempt)"

# warm-up: both base station addresses and the data-network host resolve
# xgw (and xgw them); nothing of this goes through a session
ip netns exec "$NS_R" ping -c 1 -W 3 -I 192.168.0.99 192.168.0.1 >/dev/null 2>&1 || true
ip netns exec "$NS_R" ping -c 1 -W 3 -I 192.168.0.98 192.168.0.1 >/dev/null 2>&1 || true
ip netns exec "$NS_D" ping -c 1 -W 3 10.2.0.1 >/dev/null 2>&1 || true
xt_xgw_settle "$SOCK"
xt_xgw_stats "$SOCK" --json >"$XT_WORK/stats0.json" || die "xgw stats --json failed"

cat >"$XT_WORK/smf.py" <<'EOF'
# smf.py CONF_JSON: the SMF (this namespace, 10.44.0.2:8805) and, through
# sockets opened in their namespaces, the base station (ns R: raw socket
# on r0 to see every frame xgw sends, UDP sockets on 192.168.0.99 and .98
# port 2152 to send G-PDUs) and the data-network host (ns D: a UDP
# socket).  Every PFCP message is built and parsed with scapy.contrib.pfcp,
# every GTP-U frame with scapy.contrib.gtp.  A thread answers xgw's
# Heartbeat Requests and Session Report Requests (unless told to leave
# some unanswered) at once, whatever the main thread is waiting for.
# Prints PASS/FAIL/INFO lines; writes what xgw sent to CONF["rx_log"].
import ctypes, json, os, queue, select, socket, struct, subprocess, sys, threading, time
from scapy.all import Ether, IP, UDP, TCP, ICMP, Raw, conf, raw
from scapy.contrib.pfcp import *
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer, GTPErrorIndication, IE_TEIDI, IE_GSNAddress
conf.verb = 0
C = json.load(open(sys.argv[1]))
XGW, SOCK = C["xgw"], C["sock"]
UPF = ("10.44.0.1", 8805)
SMF_IP = "10.44.0.2"
EP = "192.168.0.1"
BS1, BS2 = "192.168.0.99", "192.168.0.98"
DN = "10.2.0.2"
RTS = 1000
NI = b"internet"
FAILS = 0


def check(cond, what):
    global FAILS
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS += 1
    return cond


def info(msg):
    print("INFO " + msg, flush=True)


# --- namespaces: sockets keep the namespace they were made in
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
HOME = os.open("/proc/self/ns/net", os.O_RDONLY)


class netns:
    def __init__(self, name):
        self.fd = os.open("/run/netns/" + name, os.O_RDONLY)

    def __enter__(self):
        if libc.setns(self.fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into a test namespace")

    def __exit__(self, *a):
        if libc.setns(HOME, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")


def usock(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((addr, port))
    return s


N4 = usock(SMF_IP, 8805)
with netns(C["ns_r"]):
    RAW = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    RAW.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    RAW.bind(("r0", 0))
    BS = {BS1: usock(BS1, 2152), BS2: usock(BS2, 2152)}
with netns(C["ns_d"]):
    DNS = usock(DN, 0)


# --- xgw's control socket (a file: reachable from any namespace)
def xjson(*args):
    try:
        r = subprocess.run([XGW, *args, "--json", "--socket", SOCK], capture_output=True, text=True, timeout=15)
        if r.returncode == 0:
            return json.loads(r.stdout)
        check(False, "xgw %s --json: exit %d: %s" % (" ".join(args), r.returncode, (r.stdout + r.stderr).strip()[:300]))
    except (ValueError, subprocess.TimeoutExpired) as e:
        check(False, "xgw %s --json: %r" % (" ".join(args), e))
    return None


def pfcp_sessions(up=None):
    d = xjson("pfcp", "sessions", *(["--seid", str(up)] if up is not None else []))
    return d.get("sessions") if isinstance(d, dict) else None


def gtp_sessions():
    d = xjson("gtp", "session", "list")
    return d.get("sessions") if isinstance(d, dict) else None


def gtp_counter(name):
    d = xjson("gtp", "stats")
    return d["counters"].get(name) if d else None


def pfcp_counters():
    d = xjson("pfcp", "associations")
    return d if d else {"associations": None, "counters": {}}


# --- the agent thread: every datagram from xgw is logged; Heartbeat
# Requests are answered; Session Report Requests are logged and answered
# (Cause 1, header SEID = the session's UP SEID) unless SKIP says to leave
# some unanswered; anything else goes to the main thread's queue.
HB_RSP = bytearray(raw(PFCP(version=1, S=0, seq=0) / PFCPHeartbeatResponse(IE_list=[IE_RecoveryTimeStamp(timestamp=RTS)])))
SRR_RSP = bytearray(raw(PFCP(version=1, S=1, seid=0, seq=0) / PFCPSessionReportResponse(IE_list=[IE_Cause(cause=1)])))
LOCK = threading.Lock()
Q = queue.Queue()
RX = []          # (t, bytes) every datagram from xgw
REPORTS = []     # (t, bytes) Session Report Requests
SKIP = {}        # CP SEID -> Session Report Requests to leave unanswered
UP_OF = {}       # CP SEID -> UP SEID
HB_IN = [0]


def hdr_seq(b):
    return int.from_bytes(b[12:15] if b[0] & 1 else b[4:7], "big")


def agent():
    while True:
        data, src = N4.recvfrom(65535)
        t = time.monotonic()
        with LOCK:
            RX.append((t, data))
        if len(data) >= 8 and data[0] >> 5 == 1 and data[1] == 1 and not data[0] & 1:
            r = bytearray(HB_RSP)
            r[4:7] = data[4:7]
            N4.sendto(bytes(r), src)
            HB_IN[0] += 1
            continue
        if len(data) >= 16 and data[1] == 56 and data[0] & 1:
            cp = struct.unpack_from("!Q", data, 4)[0]
            with LOCK:
                REPORTS.append((t, data))
                n = SKIP.get(cp, 0)
                if n:
                    SKIP[cp] = n - 1
                up = UP_OF.get(cp, 0)
            if not n:
                r = bytearray(SRR_RSP)
                struct.pack_into("!Q", r, 4, up)
                r[12:15] = data[12:15]
                N4.sendto(bytes(r), src)
            continue
        Q.put((t, data))


threading.Thread(target=agent, daemon=True).start()
SEQ = [0x100]
STRAY = []


def nseq():
    SEQ[0] += 1
    return SEQ[0]


def drain_q():
    while True:
        try:
            t, data = Q.get_nowait()
        except queue.Empty:
            return
        STRAY.append(data)
        info("unexpected message from xgw: %s" % data[:16].hex())


def ask(pkt, timeout=2.0):
    """Send a request; its response (same sequence number) as (PFCP, bytes),
    or None."""
    drain_q()
    N4.sendto(raw(pkt), UPF)
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        try:
            t, data = Q.get(timeout=left)
        except queue.Empty:
            return None
        if len(data) >= 8 and hdr_seq(data) == pkt.seq:
            return PFCP(data), data
        STRAY.append(data)
        info("unexpected message from xgw while waiting: %s" % data[:16].hex())


def silent(b, wait=1.0):
    """Send raw bytes; whatever comes back within `wait` (None: nothing)."""
    drain_q()
    N4.sendto(b, UPF)
    try:
        return Q.get(timeout=wait)[1]
    except queue.Empty:
        return None


def ies(m, cls):
    return [i for i in (getattr(m, "IE_list", None) or []) if isinstance(i, cls)]


def cause(p):
    c = ies(p.payload, IE_Cause)
    return c[0].cause if len(c) == 1 else None


def offending(p):
    return [o.type for o in ies(p.payload, IE_OffendingIE)]


def desc(r):
    if r is None:
        return "no answer"
    p = r[0]
    return "type %s S %s SEID %#x cause %s" % (p.message_type, p.S, p.seid if p.S else 0, cause(p))


def heartbeat(what):
    r = ask(PFCP(version=1, S=0, seq=nseq()) / PFCPHeartbeatRequest(IE_list=[IE_RecoveryTimeStamp(timestamp=RTS)]))
    check(r is not None and r[0].message_type == 2, "%s: xgw still answers a Heartbeat Request (%s)" % (what, desc(r)))


# --- message builders
NODE = IE_NodeId(id_type=0, ipv4=SMF_IP)


def ohc(teid, addr):
    return IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=teid, ipv4=addr)


def est(cp, ue, teid, qfi, threshold=None, fseid=True, pdr_id=True):
    pdr1 = ([IE_PDR_Id(id=1)] if pdr_id else []) + [
        IE_Precedence(precedence=200),
        IE_PDI(IE_list=[IE_SourceInterface(interface=0), IE_FTEID(V4=1, CH=1), IE_NetworkInstance(instance=NI),
                        IE_UE_IP_Address(V4=1, SD=0, ipv4=ue)]),
        IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=1), IE_QER_Id(id=1), IE_URR_Id(id=1)]
    pdr2 = [IE_PDR_Id(id=2), IE_Precedence(precedence=200),
            IE_PDI(IE_list=[IE_SourceInterface(interface=1), IE_NetworkInstance(instance=NI),
                            IE_UE_IP_Address(V4=1, SD=1, ipv4=ue)]),
            IE_FAR_Id(id=2), IE_QER_Id(id=1), IE_URR_Id(id=1)]
    far1 = [IE_FAR_Id(id=1), IE_ApplyAction(spare=0, FORW=1),
            IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance=NI)])]
    far2 = [IE_FAR_Id(id=2), IE_ApplyAction(spare=0, FORW=1),
            IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), ohc(teid, BS1)])]
    qer = [IE_QER_Id(id=1), IE_GateStatus(ul=0, dl=0), IE_MBR(ul=100000, dl=100000), IE_QFI(spare=0, QFI=qfi)]
    urr = [IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1)]
    urr += [IE_ReportingTriggers(volume_threshold=1), IE_VolumeThreshold(TOVOL=1, total=threshold)] if threshold \
        else [IE_ReportingTriggers()]
    l = [NODE] + ([IE_FSEID(v4=1, seid=cp, ipv4=SMF_IP)] if fseid else []) + [
        IE_CreatePDR(IE_list=pdr1), IE_CreatePDR(IE_list=pdr2), IE_CreateFAR(IE_list=far1), IE_CreateFAR(IE_list=far2),
        IE_CreateQER(IE_list=qer), IE_CreateURR(IE_list=urr)]
    return PFCP(version=1, S=1, seid=0, seq=nseq()) / PFCPSessionEstablishmentRequest(IE_list=l)


def smr(up, l):
    return PFCP(version=1, S=1, seid=up, seq=nseq()) / PFCPSessionModificationRequest(IE_list=l)


def sdr(up):
    return PFCP(version=1, S=1, seid=up, seq=nseq()) / PFCPSessionDeletionRequest(IE_list=[])


def update_far2(actions, fwd=None):
    l = [IE_FAR_Id(id=2), IE_ApplyAction(spare=0, **{a: 1 for a in actions})]
    if fwd:
        l.append(IE_UpdateForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), ohc(*fwd)]))
    return IE_UpdateFAR(IE_list=l)


def overrun(b):
    """The message with its last top-level IE's length 16 octets past the
    end (the header's length left as it is)."""
    b = bytearray(b)
    off = 16 if b[0] & 1 else 8
    last = off
    while off + 4 <= len(b):
        last = off
        off += 4 + struct.unpack_from("!H", b, off + 2)[0]
    struct.pack_into("!H", b, last + 2, struct.unpack_from("!H", b, last + 2)[0] + 16)
    return bytes(b)


# scapy encodes what the test means (a test of the test)
selftest = {
    "Outer Header Creation GTP-U/UDP/IPv4 0x1001 .99": (raw(ohc(0x1001, BS1))[4:].hex(), "010000001001c0a80063"),
    "F-TEID CH V4": (raw(IE_FTEID(V4=1, CH=1))[4:].hex(), "05"),
    "UE IP Address S/D V4": (raw(IE_UE_IP_Address(V4=1, SD=1, ipv4="10.45.0.2"))[4:].hex(), "060a2d0002"),
    "Apply Action BUFF|NOCP": (raw(IE_ApplyAction(spare=0, BUFF=1, NOCP=1))[4:].hex(), "0c"),
    "Reporting Triggers VOLTH": (raw(IE_ReportingTriggers(volume_threshold=1))[4:].hex(), "0200"),
    "PFCPSMReq-Flags SNDEM": (raw(IE_PFCPSMReqFlags(spare=0, SNDEM=1))[4:].hex(), "02"),
    "Volume Threshold TOVOL 500": (raw(IE_VolumeThreshold(TOVOL=1, total=500))[4:].hex(), "0100000000000001f4"),
}
bad = {k: v for k, v in selftest.items() if v[0] != v[1]}
check(not bad, "the test's scapy encodings are the intended octets (%s)" % (bad or ", ".join(selftest)))


# --- the base station
def hdr_len(b):
    n = 8
    if b[0] & 7:
        n = 12
        nxt = b[11] if b[0] & 4 else 0
        while nxt and n < len(b):
            n += b[n] * 4
            nxt = b[n - 1]
    return n


def parse_frame(fr):
    try:
        e = Ether(fr)
    except Exception:
        return None
    if IP not in e:
        return None
    ip = e[IP]
    f = {"src": ip.src, "dst": ip.dst, "proto": ip.proto, "gtp": None}
    if ip.proto == 17 and UDP in ip:
        u = ip[UDP]
        f.update(sport=u.sport, dport=u.dport)
        pl = bytes(u.payload)
        if 2152 in (u.sport, u.dport) and len(pl) >= 8:
            try:
                h = GTP_U_Header(pl)
                psc = h.getlayer(GTPPDUSessionContainer)
                f.update(gtp=h.gtp_type, teid=h.teid, pkt=h, psc=(psc.type, psc.QFI) if psc is not None else None,
                         inner=pl[hdr_len(pl):] if h.gtp_type == 255 else b"")
            except Exception as x:
                f["gtp_error"] = repr(x)
    return f


def drain_sock(s):
    s.setblocking(False)
    try:
        while True:
            s.recv(65535)
    except BlockingIOError:
        pass
    s.setblocking(True)


def bs_drain():
    for s in [RAW] + list(BS.values()):
        drain_sock(s)


def bs_collect(timeout, want=None, grace=0.3):
    """The IPv4 frames xgw (192.168.0.1) sends to the base station's
    interface, parsed: until `want` came and then `grace` s without one,
    or `timeout`."""
    got = []
    end = time.monotonic() + timeout
    last = time.monotonic()
    while True:
        now = time.monotonic()
        limit = end if want is None or len(got) < want else min(end, last + grace)
        if now >= limit:
            break
        r, _, _ = select.select([RAW], [], [], limit - now)
        if not r:
            continue
        data, addr = RAW.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        f = parse_frame(data)
        if f is None or f["src"] != EP:
            continue
        last = f["t"] = time.monotonic()
        got.append(f)
    for s in BS.values():
        drain_sock(s)
    return got


def gpdu(teid, inner, qfi):
    return raw(GTP_U_Header(teid=teid, gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=qfi) / Raw(inner))


def echo(ue, ident, seq, size):
    return raw(IP(src=ue, dst=DN, ttl=64) / ICMP(id=ident, seq=seq) / Raw(bytes((seq + i) & 0xFF for i in range(size))))


def fdesc(f):
    return "%s->%s %s TEID %s PSC %s" % (f["src"], f["dst"], {255: "G-PDU", 254: "End Marker", 26: "Error Indication"}.get(f["gtp"], "GTP type %s" % f["gtp"]) if f["gtp"] is not None else "proto %s" % f["proto"],
                                       "%#x" % f["teid"] if f.get("teid") is not None else "-", f.get("psc"))


class Volume:
    """What a session's URR should have counted since its last report, from
    the packets themselves; and everything ever (for the sums)."""

    def __init__(self):
        self.now = [0, 0, 0, 0]   # ul bytes, dl bytes, ul packets, dl packets
        self.all = [0, 0, 0, 0]
        self.reported = (0,) * 6  # the sum of the Usage Reports' figures

    def add(self, i, nbytes):
        self.now[i] += nbytes
        self.now[i + 2] += 1
        self.all[i] += nbytes
        self.all[i + 2] += 1

    def want(self):
        ub, db, up, dp = self.now
        return (ub + db, ub, db, up + dp, up, dp)

    def reset(self):
        self.now = [0, 0, 0, 0]

    def total(self):
        ub, db, up, dp = self.all
        return (ub + db, ub, db, up + dp, up, dp)


IDENT = [0x5100]


def pings(name, vol, ue, teid, src_bs, n, size, dl_bs, dl_teid, qfi, one_by_one=False):
    """n ICMP echo requests from the UE (in G-PDUs from src_bs with our
    TEID): each reply must come back as a G-PDU to dl_bs:2152 with
    dl_teid and a DL PDU Session Container with qfi. Returns the time the
    last reply arrived."""
    IDENT[0] += 1
    ident = IDENT[0]
    bs_drain()
    inners = [echo(ue, ident, i, size) for i in range(n)]
    got = []
    for i, x in enumerate(inners):
        BS[src_bs].sendto(gpdu(teid, x, qfi), (EP, 2152))
        vol.add(0, len(x))
        if one_by_one:
            got += bs_collect(3.0, want=1, grace=0.05)
    if not one_by_one:
        got = bs_collect(3.0, want=n)
    bad, seqs, tlast = [], [], None
    for f in got:
        pr = []
        if f["gtp"] != 255:
            bad.append(fdesc(f))
            continue
        if (f["dst"], f["dport"], f["teid"], f["psc"]) != (dl_bs, 2152, dl_teid, (0, qfi)):
            pr.append(fdesc(f))
        x = IP(f["inner"])
        if ICMP not in x or (x[ICMP].type, x[ICMP].id, x.src, x.dst) != (0, ident, DN, ue) or len(f["inner"]) != 28 + size:
            pr.append("inner %s" % x.summary())
        if pr:
            bad.append("; ".join(pr))
        else:
            seqs.append(x[ICMP].seq)
            vol.add(1, len(f["inner"]))
            tlast = f["t"]
    check(not bad and sorted(seqs) == list(range(n)),
          "%s: %d/%d echo replies (%d-byte IPv4) came back as G-PDUs to %s:2152 with TEID %#x and a DL PDU Session Container QFI %d%s"
          % (name, len(set(seqs)), n, 28 + size, dl_bs, dl_teid, qfi, (": " + " | ".join(bad[:4])) if bad else ""))
    return tlast


def ei_check(name, teid):
    """A G-PDU to a TEID that no longer exists: an Error Indication back."""
    bs_drain()
    BS[BS1].sendto(gpdu(teid, echo("10.45.0.2", 1, 1, 8), 9), (EP, 2152))
    got = bs_collect(2.0, want=1)
    pr = []
    if len(got) != 1 or got[0]["gtp"] != 26:
        pr.append("got %s" % [fdesc(f) for f in got])
    else:
        f = got[0]
        e = f["pkt"][GTPErrorIndication] if GTPErrorIndication in f["pkt"] else None
        t = [i.TEIDI for i in e.IE_list if isinstance(i, IE_TEIDI)] if e else []
        g = [i.ipv4_address for i in e.IE_list if isinstance(i, IE_GSNAddress)] if e else []
        if (f["dst"], f["dport"], f["teid"], t, g) != (BS1, 2152, 0, [teid], [EP]):
            pr.append("to %s:%s TEID %#x, TEID Data I %s, GTP-U Peer Address %s" % (f["dst"], f["dport"], f["teid"], [hex(x) for x in t], g))
    check(not pr, "%s: a G-PDU to the old TEID %#x gets an Error Indication (TEID Data I = it, GTP-U Peer Address %s)%s"
          % (name, teid, EP, (": " + "; ".join(pr)) if pr else ""))


# --- checks of xgw's answers
def est_response(name, r, cp):
    """A successful Session Establishment Response: (UP SEID, TEID) or None."""
    if not check(r is not None, "%s: Session Establishment Response (%s)" % (name, desc(r))):
        return None, None
    p = r[0]
    m = p.payload
    check(p.message_type == 51 and p.S == 1 and p.seid == cp and cause(p) == 1,
          "%s: Session Establishment Response, header SEID = the CP SEID %#x, cause 1 (%s)" % (name, cp, desc(r)))
    nid = ies(m, IE_NodeId)
    check(len(nid) == 1 and nid[0].id_type == 2 and nid[0].id == b"upf.xgw.test",
          "%s: Node ID upf.xgw.test (%s)" % (name, [raw(x).hex() for x in nid]))
    fs = ies(m, IE_FSEID)
    up = fs[0].seid if len(fs) == 1 else None
    check(len(fs) == 1 and fs[0].v4 == 1 and fs[0].v6 == 0 and fs[0].seid != 0 and fs[0].ipv4 == "10.44.0.1",
          "%s: UP F-SEID V4, SEID %s, 10.44.0.1 (%s)" % (name, "%#x" % up if up is not None else None, [raw(x).hex() for x in fs]))
    cr = ies(m, IE_CreatedPDR)
    teid = None
    desc_cr = []
    if len(cr) == 1:
        pid = ies(cr[0], IE_PDR_Id)
        ft = ies(cr[0], IE_FTEID)
        if len(pid) == 1 and len(ft) == 1 and pid[0].id == 1 and (ft[0].V4, ft[0].V6, ft[0].CH) == (1, 0, 0) \
                and ft[0].TEID != 0 and ft[0].ipv4 == EP:
            teid = ft[0].TEID
    desc_cr = [raw(x).hex() for x in cr]
    check(teid is not None, "%s: one Created PDR: PDR ID 1, F-TEID V4 with the TEID xgw chose (%s) on %s (%s)"
          % (name, "%#x" % teid if teid else None, EP, desc_cr))
    return up, teid


def usage_report(name, ur, trig, vol, prev_seqn=None):
    """One Usage Report: URR ID 1, UR-SEQN (after prev_seqn), the trigger,
    Volume Measurement = what vol counted since the last report (then
    reset). Returns (UR-SEQN, the six figures)."""
    urr = [i.id for i in ies(ur, IE_URR_Id)]
    sq = [i.number for i in ies(ur, IE_UR_SEQN)]
    tr = [raw(i)[4:] for i in ies(ur, IE_UsageReportTrigger)]
    vm = [raw(i)[4:] for i in ies(ur, IE_VolumeMeasurement)]
    check(urr == [1], "%s: Usage Report for URR ID 1 (%s)" % (name, urr))
    check(len(sq) == 1 and (prev_seqn is None or sq[0] > prev_seqn),
          "%s: one UR-SEQN%s (%s)" % (name, ", after the previous report's %s" % prev_seqn if prev_seqn is not None else "", sq))
    t = (tr[0] + bytes(3))[:3] if len(tr) == 1 else None
    names = {b"\x80\x00\x00": "IMMER", b"\x00\x08\x00": "TERMR", b"\x02\x00\x00": "VOLTH"}
    check(t == trig, "%s: Usage Report Trigger %s only (%s)" % (name, names[trig], [x.hex() for x in tr]))
    got = None
    if len(vm) == 1 and len(vm[0]) >= 49 and vm[0][0] == 0x3F:
        got = struct.unpack("!6Q", vm[0][1:49])
    want = vol.want()
    check(got == want and len(vm[0]) == 49,
          "%s: Volume Measurement TOVOL|ULVOL|DLVOL|TONOP|ULNOP|DLNOP: total/ul/dl bytes %s, packets %s (want %s / %s; IE %s)"
          % (name, got and got[:3], got and got[3:], want[:3], want[3:], [x.hex() for x in vm]))
    vol.reset()
    if got:
        vol.reported = tuple(a + b for a, b in zip(vol.reported, got))
    return (sq[0] if len(sq) == 1 else None), got


def one_report(name, p, msgcls, iecls):
    u = ies(p.payload, iecls) if isinstance(p.payload, msgcls) else []
    check(len(u) == 1, "%s: exactly one %s (%d)" % (name, iecls.__name__, len(u)))
    return u[0] if u else None


def sess_problems(s, w):
    """Mismatches between one `xgw pfcp sessions --json` entry and w."""
    p = []

    def need(cond, msg):
        if not cond:
            p.append(msg)
    need((s.get("up_seid"), s.get("cp_seid"), s.get("cp_address")) == (w["up"], w["cp"], "10.44.0.2:8805"),
         "up_seid/cp_seid/cp_address %s/%s/%s" % (s.get("up_seid"), s.get("cp_seid"), s.get("cp_address")))
    pdrs = {x.get("id"): x for x in s.get("pdrs") or []}
    need(sorted(pdrs) == [1, 2], "PDR ids %s" % sorted(pdrs))
    for pid, src, ft, far in ((1, "access", (w["teid"], EP), 1), (2, "core", None, 2)):
        x = pdrs.get(pid, {})
        f = x.get("f_teid")
        fok = f is None if ft is None else isinstance(f, dict) and (f.get("teid"), f.get("address")) == ft
        need((x.get("precedence"), x.get("source_interface"), x.get("ue_ip") in (w["ue"], w["ue"] + "/32"),
              x.get("far_id"), x.get("qer_ids"), x.get("urr_ids"), fok) == (200, src, True, far, [1], [1], True),
             "PDR %d %s" % (pid, json.dumps(x)))
    fars = {x.get("id"): x for x in s.get("fars") or []}
    need(sorted(fars) == [1, 2], "FAR ids %s" % sorted(fars))
    f1 = fars.get(1, {})
    need(f1.get("apply_action") == ["FORW"] and f1.get("outer_header_creation") is None, "FAR 1 %s" % json.dumps(f1))
    f2 = fars.get(2, {})
    o = f2.get("outer_header_creation")
    acts, oh = w["far2"]
    ook = True if oh == "any" else (o is None if oh is None else isinstance(o, dict) and (o.get("teid"), o.get("address")) == oh)
    need(sorted(f2.get("apply_action") or []) == sorted(acts) and ook, "FAR 2 %s" % json.dumps(f2))
    q = s.get("qers") or []
    q0 = q[0] if len(q) == 1 else {}
    need(q0.get("id") == 1 and q0.get("qfi") == w["qfi"] and all(str(q0.get(k)).lower() in ("open", "true") for k in ("gate_ul", "gate_dl"))
         and all(q0.get(k) in (100000, 100000000) for k in ("mbr_ul", "mbr_dl")),
         "QERs %s (want id 1, qfi %d, gates open, MBR 100000 kbit/s)" % (json.dumps(q), w["qfi"]))
    u = s.get("urrs") or []
    need([x.get("id") for x in u] == [1], "URRs %s" % json.dumps(u))
    g = s.get("gtp") or {}
    gw = (w["teid"], EP, w["peer"], w["peer_teid"], w["downlink"])
    gg = tuple(g.get(k) for k in ("teid", "local", "peer", "peer_teid", "downlink"))
    need(all(a == b or b == "any" for a, b in zip(gg, gw)),
         "gtp teid/local/peer/peer_teid/downlink %s (want %s)" % (gg, gw))
    c = g.get("counters") or {}
    # (The names `xgw gtp session list` uses too.)
    keys = ("ul_packets", "ul_bytes", "dl_packets", "dl_bytes", "drops")
    missing = [k for k in keys if not isinstance(c.get(k), int)]
    need(not missing, "gtp.counters has no %s (it has %s)" % (", ".join(missing), json.dumps(c, sort_keys=True)))
    if w.get("counters") is not None:
        cw = dict(zip(keys, w["counters"]))
        cg = {k: c.get(k) for k in keys if k not in missing}
        need(cg == {k: v for k, v in cw.items() if k not in missing}, "gtp.counters %s (want %s)" % (cg, cw))
    return p


def jdiff(a, b, path=""):
    """Where two JSON values differ (paths)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [x for k in sorted(set(a) | set(b), key=str) for x in jdiff(a.get(k), b.get(k), "%s.%s" % (path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [x for i, (u, v) in enumerate(zip(a, b)) for x in jdiff(u, v, "%s[%d]" % (path, i))]
    return [] if a == b else ["%s: %s -> %s" % (path, json.dumps(a), json.dumps(b))]


def check_session(name, w, up=None):
    """`xgw pfcp sessions --json` holds exactly the sessions in w (a list),
    each as described; with up: `--seid up`."""
    ss = pfcp_sessions(up)
    if ss is None:
        return None
    by = {s.get("up_seid"): s for s in ss}
    pr = []
    if sorted(by) != sorted(x["up"] for x in w) or len(ss) != len(w):
        pr.append("sessions with UP SEIDs %s (want %s)" % (sorted(by, key=str), sorted(x["up"] for x in w)))
    for x in w:
        if x["up"] in by:
            pr += ["SEID %#x: %s" % (x["up"], m) for m in sess_problems(by[x["up"]], x)]
    check(not pr, "%s: xgw pfcp sessions%s --json: %s%s" % (name, " --seid %d" % up if up is not None else "",
                                                       ", ".join("SEID %#x (UE %s)" % (x["up"], x["ue"]) for x in w) or "no session",
                                                       (": " + " | ".join(pr)) if pr else ", each as set up"))
    return ss


def check_gtp(name, w):
    """`xgw gtp session list --json`: exactly the GTP-U sessions in w:
    (teid, ue, peer, peer_teid, qfi, downlink, counters or None)."""
    ss = gtp_sessions()
    if ss is None:
        return
    got = sorted((s.get("teid"), s.get("ue4"), s.get("peer"), s.get("peer_teid"), s.get("qfi"), s.get("local"), s.get("downlink"))
                 for s in ss)
    want = sorted((t, ue, peer, pt, q, EP, dl) for t, ue, peer, pt, q, dl, _ in w)
    cnt = {s.get("teid"): s.get("counters", {}) for s in ss}
    cpr = []
    for t, ue, peer, pt, q, dl, c in w:
        if c is not None:
            g = tuple(cnt.get(t, {}).get(k) for k in ("ul_packets", "ul_bytes", "dl_packets", "dl_bytes", "drops"))
            if g != c:
                cpr.append("TEID %#x counters %s (want %s)" % (t, g, c))
    check(got == want and not cpr, "%s: xgw gtp session list --json: %s%s" % (
        name, "; ".join("TEID %#x UE %s -> %s/%#x QFI %s %s%s" % (t, ue, peer, pt, q, dl, " counters %s" % (c,) if c else "")
                        for t, ue, peer, pt, q, dl, c in w) or "no session",
        (": got %s %s" % (got, cpr)) if got != want or cpr else ""))


def reports_of(cp, since=0.0):
    with LOCK:
        return [(t, d) for t, d in REPORTS if struct.unpack_from("!Q", d, 4)[0] == cp and t >= since]


def wait_reports(cp, n, since, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = reports_of(cp, since)
        if len(r) >= n:
            return r
        time.sleep(0.02)
    return reports_of(cp, since)


CP1, CP2, CP3 = 0x5001, 0x5002, 0x5003
UE1, UE2, UE3 = "10.45.0.2", "10.45.0.3", "10.45.0.4"
VOL1, VOL2, VOL3 = Volume(), Volume(), Volume()

# ======================================================================
info("== 1. Association Setup")
r = ask(PFCP(version=1, S=0, seq=nseq()) / PFCPAssociationSetupRequest(IE_list=[NODE, IE_RecoveryTimeStamp(timestamp=RTS)]))
p = r[0] if r else None
ff = ies(p.payload, IE_UPFunctionFeatures) if p else []
ffv = raw(ff[0])[4:] if len(ff) == 1 else b""
check(p is not None and p.message_type == 6 and cause(p) == 1 and len(ies(p.payload, IE_RecoveryTimeStamp)) == 1,
      "1. Association Setup Response: cause 1, Recovery Time Stamp (%s)" % desc(r))
nid = ies(p.payload, IE_NodeId) if p else []
check(len(nid) == 1 and nid[0].id_type == 2 and nid[0].id == b"upf.xgw.test", "1. Node ID upf.xgw.test (%s)" % [raw(x).hex() for x in nid])
check(len(ffv) >= 2 and ffv[0] & 0x10 and ffv[1] & 0x01,
      "1. UP Function Features (IE 43): FTUP (first octet 0x10) and EMPU (second octet 0x01) (%s)" % ffv.hex())
heartbeat("1")

info("== 2. errors before any session")
r = ask(est(CP1, UE1, 0x1001, 9, fseid=False))
check(r is not None and r[0].message_type == 51 and r[0].S == 1 and r[0].seid == 0 and cause(r[0]) == 66 and offending(r[0]) == [57],
      "2. Session Establishment without CP F-SEID: cause 66, Offending IE 57, header SEID 0 (%s, offending %s)"
      % (desc(r), r and offending(r[0])))
heartbeat("2. after the Establishment without CP F-SEID")
r = ask(est(0xE2, UE1, 0x1001, 9, pdr_id=False))
check(r is not None and r[0].message_type == 51 and r[0].seid == 0xE2 and cause(r[0]) == 66 and offending(r[0]) == [56],
      "2. Create PDR without PDR ID: cause 66, Offending IE 56, header SEID = the CP SEID 0xe2 (%s, offending %s)"
      % (desc(r), r and offending(r[0])))
heartbeat("2. after the Create PDR without PDR ID")
for cls, mt, what in ((PFCPSessionModificationRequest, 53, "Modification"), (PFCPSessionDeletionRequest, 55, "Deletion")):
    r = ask(PFCP(version=1, S=1, seid=0xDEAD0001, seq=nseq()) / cls(IE_list=[]))
    check(r is not None and r[0].message_type == mt and r[0].S == 1 and r[0].seid == 0 and cause(r[0]) == 65,
          "2. Session %s Request for an unknown SEID: header SEID 0, cause 65 (%s)" % (what, desc(r)))
    heartbeat("2. after the %s of an unknown SEID" % what)
check_session("2. nothing set up", [])
check_gtp("2. nothing set up", [])

info("== 3. Session Establishment (session 1)")
r = ask(est(CP1, UE1, 0x1001, 9))
UP1, T1 = est_response("3. session 1", r, CP1)
with LOCK:
    UP_OF[CP1] = UP1
if UP1 is None or T1 is None:
    print("FAIL 3. no session 1: the rest cannot run", flush=True)
    sys.exit(1)
W1 = dict(up=UP1, cp=CP1, teid=T1, ue=UE1, far2=(["FORW"], (0x1001, BS1)), qfi=9, peer=BS1, peer_teid=0x1001,
          downlink="forward", counters=(0, 0, 0, 0, 0))
before = check_session("3. session 1", [W1])
check_gtp("3. session 1", [(T1, UE1, BS1, 0x1001, 9, "forward", (0, 0, 0, 0, 0))])

info("== 4. more errors, with session 1 up")
r = ask(est(0xE5, UE1, 0x1005, 9))
fr = ies(r[0].payload, IE_FailedRuleId) if r else []
check(r is not None and r[0].message_type == 51 and r[0].seid == 0xE5 and cause(r[0]) == 73,
      "4. a second session with UE address %s: cause 73 (Rule creation/modification failure), header SEID 0xe5 (%s)" % (UE1, desc(r)))
check(len(fr) == 1 and fr[0].type == 0 and fr[0].pdr_id in (1, 2),
      "4. ... with a Failed Rule ID naming PDR 1 or 2 (%s)" % [raw(x).hex() for x in fr])
heartbeat("4. after the duplicate UE address")
c0 = pfcp_counters()["counters"].get("malformed")
bad1 = overrun(raw(est(0xE6, "10.45.0.6", 0x1006, 9)))
bad2 = overrun(raw(smr(UP1, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])])))
for b, what in ((bad1, "a Session Establishment"), (bad2, "a Session Modification of session 1")):
    a = silent(b)
    check(a is None, "4. %s whose last IE runs 16 octets past the message end: no answer (%s)" % (what, a[:16].hex() if a else "none"))
    heartbeat("4. after %s with an overrunning IE" % what)
c1 = pfcp_counters()["counters"].get("malformed")
check(c0 is not None and c1 is not None and c1 - c0 == 2, "4. both counted as malformed (xgw pfcp associations: %s -> %s)" % (c0, c1))
after = check_session("4. session 1 unchanged", [W1])
# (up_s: the session's age in seconds, a clock, not state: left out)
if before is not None and after is not None:
    before, after = ([{k: v for k, v in x.items() if k != "up_s"} for x in y] for y in (before, after))
check(before is not None and after == before, "4. xgw pfcp sessions --json is the same as before the errors%s"
      % ((": " + "; ".join(jdiff(before, after)[:8])) if before is not None and after is not None and after != before else ""))
check_gtp("4. still one GTP-U session", [(T1, UE1, BS1, 0x1001, 9, "forward", (0, 0, 0, 0, 0))])

info("== 5. data path and Query URR (session 1)")
pings("5. session 1", VOL1, UE1, T1, BS1, 3, 56, BS1, 0x1001, 9)
time.sleep(0.3)
a = VOL1.all
W1["counters"] = (a[2], a[0], a[3], a[1], 0)
check_session("5. counted", [W1])
check_gtp("5. counted", [(T1, UE1, BS1, 0x1001, 9, "forward", (a[2], a[0], a[3], a[1], 0))])
r = ask(smr(UP1, [IE_QueryURR(IE_list=[IE_URR_Id(id=1)])]))
check(r is not None and r[0].message_type == 53 and r[0].S == 1 and r[0].seid == CP1 and cause(r[0]) == 1,
      "5. Session Modification (Query URR): cause 1, header SEID = CP SEID (%s)" % desc(r))
SEQN1 = None
u = one_report("5. Query URR", r[0], PFCPSessionModificationResponse, IE_UsageReport_SMR) if r else None
if u is not None:
    SEQN1, _ = usage_report("5. Query URR", u, b"\x80\x00\x00", VOL1)

info("== 6. handover (session 1)")
pings("6. before the handover", VOL1, UE1, T1, BS1, 2, 100, BS1, 0x1001, 9)
bs_drain()
r = ask(smr(UP1, [update_far2(["FORW"], (0x2002, BS2)), IE_PFCPSMReqFlags(spare=0, SNDEM=1)]))
check(r is not None and r[0].message_type == 53 and r[0].seid == CP1 and cause(r[0]) == 1,
      "6. Update FAR 2 -> %s TEID 0x2002 with SNDEM: cause 1 (%s)" % (BS2, desc(r)))
got = bs_collect(1.5)
em = [f for f in got if f["gtp"] == 254]
check(len(got) == 1 and len(em) == 1 and (em[0]["dst"], em[0]["dport"], em[0]["teid"]) == (BS1, 2152, 0x1001),
      "6. exactly one End Marker (type 254, TEID 0x1001) to %s:2152, nothing else (%s)" % (BS1, [fdesc(f) for f in got]))
pings("6. after the handover (uplink from %s)" % BS2, VOL1, UE1, T1, BS2, 2, 56, BS2, 0x2002, 9)
W1.update(far2=(["FORW"], (0x2002, BS2)), peer=BS2, peer_teid=0x2002, counters=None)
check_session("6. after the handover", [W1])

info("== 7. buffering (session 1)")
r = ask(smr(UP1, [update_far2(["BUFF", "NOCP"])]))
check(r is not None and r[0].message_type == 53 and r[0].seid == CP1 and cause(r[0]) == 1,
      "7. Update FAR 2: Apply Action BUFF|NOCP: cause 1 (%s)" % desc(r))
check_session("7. buffering", [dict(W1, far2=(["BUFF", "NOCP"], "any"), peer="any", peer_teid="any", downlink="buffer")])
b0 = gtp_counter("dl_buffered")
bs_drain()
t_first = time.monotonic()
sent_dl = []
for i in range(5):
    pl = b"XGWB" + struct.pack("!I", i) + bytes([0xA0 + i]) * 24
    DNS.sendto(pl, (UE1, 9000))
    sent_dl.append(pl)
    time.sleep(0.1)
got = bs_collect(1.5)
check(not got, "7. 5 UDP datagrams from %s to the idle UE %s: nothing reaches the base station (%s)" % (DN, UE1, [fdesc(f) for f in got]))
rep = wait_reports(CP1, 1, t_first, 2.0)
time.sleep(0.5)
rep = reports_of(CP1, t_first)
seqs = sorted(set(hdr_seq(d) for _, d in rep))
check(len(rep) == 1 and len(seqs) == 1,
      "7. one Session Report Request for the 5 packets, answered at once (%d received, sequence numbers %s)" % (len(rep), seqs))
if rep:
    p = PFCP(rep[0][1])
    rt = ies(p.payload, IE_ReportType)
    dd = ies(p.payload, IE_DownlinkDataReport)
    pid = [x.id for x in ies(dd[0], IE_PDR_Id)] if len(dd) == 1 else None
    check(p.message_type == 56 and p.S == 1 and p.seid == CP1 and [raw(x)[4:] for x in rt] == [b"\x01"] and pid == [2],
          "7. ... Session Report Request: header SEID = CP SEID, Report Type DLDR (0x01), Downlink Data Report with PDR ID 2 "
          "(type %s SEID %#x, Report Type %s, PDR IDs %s), %.2f s after the first packet"
          % (p.message_type, p.seid if p.S else 0, [raw(x)[4:].hex() for x in rt], pid, rep[0][0] - t_first))
b1 = gtp_counter("dl_buffered")
check(b0 is not None and b1 is not None and b1 - b0 == 5, "7. xgw gtp stats: dl_buffered +5 (%s -> %s)" % (b0, b1))
bs_drain()
r = ask(smr(UP1, [update_far2(["FORW"], (0x2003, BS2))]))
check(r is not None and r[0].message_type == 53 and r[0].seid == CP1 and cause(r[0]) == 1,
      "7. Update FAR 2: FORW to %s TEID 0x2003: cause 1 (%s)" % (BS2, desc(r)))
got = bs_collect(3.0, want=5, grace=0.5)
order, bad = [], []
for f in got:
    x = IP(f["inner"]) if f["gtp"] == 255 else None
    if x is None or UDP not in x or (f["dst"], f["dport"], f["teid"], f["psc"]) != (BS2, 2152, 0x2003, (0, 9)) \
            or (x.src, x.dst, x[UDP].dport) != (DN, UE1, 9000) or bytes(x[UDP].payload) not in sent_dl:
        bad.append(fdesc(f) + (" inner %s" % x.summary() if x is not None else ""))
        continue
    order.append(sent_dl.index(bytes(x[UDP].payload)))
    VOL1.add(1, len(f["inner"]))
check(not bad and order == [0, 1, 2, 3, 4],
      "7. the 5 held packets arrive, in the order sent (%s), as G-PDUs to %s:2152 with TEID 0x2003 and QFI 9%s"
      % (order, BS2, (": " + " | ".join(bad[:3])) if bad else ""))
W1.update(far2=(["FORW"], (0x2003, BS2)), peer=BS2, peer_teid=0x2003, downlink="forward")
time.sleep(0.3)
a = VOL1.all
W1["counters"] = (a[2], a[0], a[3], a[1], 0)
check_session("7. forwarding again", [W1])

info("== 8. session 2: a volume threshold")
r = ask(est(CP2, UE2, 0x3003, 5, threshold=500))
UP2, T2 = est_response("8. session 2", r, CP2)
if UP2 is None or T2 is None:
    print("FAIL 8. no session 2: the rest cannot run", flush=True)
    sys.exit(1)
with LOCK:
    UP_OF[CP2] = UP2
    SKIP[CP2] = 1   # the first Session Report Request stays unanswered
check(UP2 != UP1 and T2 != T1, "8. session 2 has its own UP SEID and TEID (%#x, %#x)" % (UP2, T2))
W2 = dict(up=UP2, cp=CP2, teid=T2, ue=UE2, far2=(["FORW"], (0x3003, BS1)), qfi=5, peer=BS1, peer_teid=0x3003,
          downlink="forward", counters=(0, 0, 0, 0, 0))
check_session("8. --seid selects session 2 of two", [W2], up=UP2)
W1["counters"] = None
check_session("8. both sessions", [W1, W2])
t0 = time.monotonic()
tl = None
for k in range(3):
    tl = pings("8. session 2, echo %d of 3 (%d of 500 bytes counted after it)" % (k + 1, 168 * (k + 1)), VOL2, UE2, T2, BS1, 1, 56, BS1, 0x3003, 5)
rep = wait_reports(CP2, 2, t0, 3.0)
if rep:
    d0 = rep[0][1]
    p = PFCP(d0)
    dt = rep[0][0] - (tl or rep[0][0])
    rt = ies(p.payload, IE_ReportType)
    check(p.message_type == 56 and p.S == 1 and p.seid == CP2 and [raw(x)[4:] for x in rt] == [b"\x02"] and dt <= 2.5,
          "8. Session Report Request %.2f s after the threshold was passed: header SEID = CP SEID, Report Type USAR (0x02) (type %s SEID %#x Report Type %s)"
          % (dt, p.message_type, p.seid if p.S else 0, [raw(x)[4:].hex() for x in rt]))
    u = one_report("8. Session Report Request", p, PFCPSessionReportRequest, IE_UsageReport_SRR)
    SEQN2 = usage_report("8. volume threshold", u, b"\x02\x00\x00", VOL2)[0] if u is not None else None
else:
    check(False, "8. no Session Report Request within 3 s of passing the threshold")
    SEQN2 = None
if len(rep) >= 2:
    gap = rep[1][0] - rep[0][0]
    check(hdr_seq(rep[1][1]) == hdr_seq(rep[0][1]) and rep[1][1] == rep[0][1] and 0.2 <= gap <= 1.0,
          "8. unanswered, it is sent again after T1 (300 ms): %.2f s later, same sequence number %d, same octets" % (gap, hdr_seq(rep[0][1])))
else:
    check(False, "8. the unanswered Session Report Request was not sent again (%d received)" % len(rep))
time.sleep(1.5)
rep = reports_of(CP2, t0)
check(len(rep) == 2, "8. answered (Cause 1) the second time: not sent again (%d copies in all)" % len(rep))
pings("8. session 2, one more echo (below the threshold again)", VOL2, UE2, T2, BS1, 1, 56, BS1, 0x3003, 5)
time.sleep(1.0)
check(len(reports_of(CP2, t0)) == 2, "8. no report below the threshold")

info("== 9. Session Deletion")
for name, cp, up, vol, seqn in (("session 1", CP1, UP1, VOL1, SEQN1), ("session 2", CP2, UP2, VOL2, SEQN2)):
    r = ask(sdr(up))
    check(r is not None and r[0].message_type == 55 and r[0].S == 1 and r[0].seid == cp and cause(r[0]) == 1,
          "9. %s: Session Deletion Response, header SEID = CP SEID, cause 1 (%s)" % (name, desc(r)))
    u = one_report("9. %s" % name, r[0], PFCPSessionDeletionResponse, IE_UsageReport_SDR) if r else None
    if u is not None:
        usage_report("9. %s" % name, u, b"\x00\x08\x00", vol, seqn)
    # the reports (earlier one + this one) add up to every inner byte and
    # packet the base station sent and received on the session
    check(vol.reported == vol.total(),
          "9. %s: its Usage Reports add up to exactly the traffic: total/ul/dl bytes %s, packets %s (the packets sent and received: %s / %s)"
          % (name, vol.reported[:3], vol.reported[3:], vol.total()[:3], vol.total()[3:]))
check_session("9. no session left", [])
check_gtp("9. no GTP-U session left", [])
ei_check("9. session 1", T1)
ei_check("9. session 2", T2)
heartbeat("9")

info("== 10. per-flow rules (SDF filters), session 4")
T10 = time.monotonic()
# Downlink PDRs: SIP from the data-network host (precedence 100, QER 2:
# QFI 1), telnet (150, FAR 3: DROP), the rest (200, QER 1: QFI 9); one
# uplink PDR (200); URR 1 on every PDR (or, refused, on the SIP PDR only).
CP4, UE4, BT4 = 0x5004, "10.45.0.5", 0x5005
DN2 = "10.2.0.3"   # the data-network host's second address: outside the SIP filter's /32
FD_SIP = "permit out 17 from %s/32 5060 to assigned" % DN
FD_TELNET = "permit out 6 from any 23 to assigned"
FD_ANY = "permit out ip from any to assigned"
VOL4 = Volume()


def est_sdf(cp, urr_pdrs):
    def pdr(i, prec, pdi, rest):
        return IE_CreatePDR(IE_list=[IE_PDR_Id(id=i), IE_Precedence(precedence=prec), IE_PDI(IE_list=pdi)] + rest
                            + ([IE_URR_Id(id=1)] if i in urr_pdrs else []))

    def dl_pdi(fd):
        return [IE_SourceInterface(interface=1), IE_NetworkInstance(instance=NI), IE_UE_IP_Address(V4=1, SD=1, ipv4=UE4),
                IE_SDF_Filter(FD=1, flow_description=fd)]

    def qer(i, qfi):
        return IE_CreateQER(IE_list=[IE_QER_Id(id=i), IE_GateStatus(ul=0, dl=0), IE_MBR(ul=100000, dl=100000), IE_QFI(spare=0, QFI=qfi)])
    l = [NODE, IE_FSEID(v4=1, seid=cp, ipv4=SMF_IP),
         pdr(1, 200, [IE_SourceInterface(interface=0), IE_FTEID(V4=1, CH=1), IE_NetworkInstance(instance=NI),
                      IE_UE_IP_Address(V4=1, SD=0, ipv4=UE4)], [IE_OuterHeaderRemoval(header=0), IE_FAR_Id(id=1)]),
         pdr(2, 200, dl_pdi(FD_ANY), [IE_FAR_Id(id=2), IE_QER_Id(id=1)]),
         pdr(3, 100, dl_pdi(FD_SIP), [IE_FAR_Id(id=2), IE_QER_Id(id=2)]),
         pdr(4, 150, dl_pdi(FD_TELNET), [IE_FAR_Id(id=3)]),
         IE_CreateFAR(IE_list=[IE_FAR_Id(id=1), IE_ApplyAction(spare=0, FORW=1),
                               IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=1), IE_NetworkInstance(instance=NI)])]),
         IE_CreateFAR(IE_list=[IE_FAR_Id(id=2), IE_ApplyAction(spare=0, FORW=1),
                               IE_ForwardingParameters(IE_list=[IE_DestinationInterface(interface=0), ohc(BT4, BS1)])]),
         IE_CreateFAR(IE_list=[IE_FAR_Id(id=3), IE_ApplyAction(spare=0, DROP=1)]),
         qer(1, 9), qer(2, 1),
         IE_CreateURR(IE_list=[IE_URR_Id(id=1), IE_MeasurementMethod(VOLUM=1), IE_ReportingTriggers()])]
    return PFCP(version=1, S=1, seid=0, seq=nseq()) / PFCPSessionEstablishmentRequest(IE_list=l)


sdf_enc = raw(IE_SDF_Filter(FD=1, flow_description=FD_TELNET))[4:].hex()
check(sdf_enc == "0100%04x" % len(FD_TELNET) + FD_TELNET.encode().hex() and raw(IE_ApplyAction(spare=0, DROP=1))[4:] == b"\x01"
      and raw(IE_RemovePDR(IE_list=[IE_PDR_Id(id=3)])).hex() == "000f0006003800020003",
      "10. the test's scapy encodings: SDF Filter FD with the flow description, Apply Action DROP 0x01, Remove PDR 3 (%s)" % sdf_enc[:8])

# (direction, precedence) -> the rule's fields in `xgw pfcp sessions --json`
RULE = {
    ("downlink", 100): dict(protocol=17, remote=DN + "/32", remote_ports="5060", ue=None, ue_ports=None, action="forward", qfi=1, mbr=100000000),
    ("downlink", 150): dict(protocol=6, remote=None, remote_ports="23", ue=None, ue_ports=None, action="drop", qfi=None, mbr=0),
    ("uplink", 200): dict(protocol=None, remote=None, remote_ports=None, ue=None, ue_ports=None, action="forward", qfi=None, mbr=0),
    ("downlink", 200): dict(protocol=None, remote=None, remote_ports=None, ue=None, ue_ports=None, action="forward", qfi=9, mbr=100000000),
}
FIELDS = ("protocol", "remote", "remote_ports", "ue", "ue_ports", "action", "qfi", "mbr")


def one_session(name):
    ss = pfcp_sessions()
    if ss is None:
        return None
    if not check(len(ss) == 1 and ss[0].get("up_seid") == UP4,
                 "%s: xgw pfcp sessions --json holds session 4 alone (UP SEIDs %s)" % (name, [s.get("up_seid") for s in ss])):
        return None
    return ss[0]


def check_rules(name, s, keys):
    """The session's flows: per direction, exactly the rules `keys` in
    that order (precedence order), each with RULE's fields. Returns the
    counters {key: (packets, bytes)} or None."""
    fl = ((s or {}).get("gtp") or {}).get("flows")
    if not check(isinstance(fl, list), "%s: the session's gtp part lists its per-flow rules (flows: %s)" % (name, json.dumps(fl)[:200])):
        return None
    got = [(f.get("direction"), f.get("precedence")) for f in fl]
    pr = []
    for d in ("uplink", "downlink"):
        g = [k for k in got if k[0] == d]
        w = [k for k in keys if k[0] == d]
        if g != w:
            pr.append("%s rules %s (want %s)" % (d, [k[1] for k in g], [k[1] for k in w]))
    for f in fl:
        k = (f.get("direction"), f.get("precedence"))
        if k in RULE:
            bad = {x: f.get(x) for x in FIELDS if f.get(x) != RULE[k][x]}
            if bad:
                pr.append("%s %s: %s (want %s)" % (k[0], k[1], bad, {x: RULE[k][x] for x in bad}))
    check(not pr, "%s: flows %s, each with its protocol, remote, ports, action, QFI and MBR%s"
          % (name, ", ".join("%s %d %s QFI %s" % (k[0], k[1], RULE[k]["action"], RULE[k]["qfi"]) for k in keys),
             (": " + " | ".join(pr)) if pr else ""))
    return {(f.get("direction"), f.get("precedence")): (f.get("packets"), f.get("bytes")) for f in fl}


def drop_counts():
    d = xjson("drops")
    return {r.get("reason"): r.get("count") for r in (d or {}).get("drops", [])} if d else None


def dn_sock(addr, port):
    with netns(C["ns_d"]):
        return usock(addr, port)


def dn_raw():
    with netns(C["ns_d"]):
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)


RAWD = dn_raw()
SOCKS = {}


PKT_NO = [0]


def send_dl(case, i):
    """One downlink packet of `case` (name, proto, src, sport, want QFI or
    None for dropped): what tells it apart (UDP: its payload, TCP: its
    sequence number) and its inner IP length."""
    name, proto, src, sport, qfi = case
    PKT_NO[0] += 1
    pl = b"XGWF" + struct.pack("!II", PKT_NO[0], i) + bytes(24)
    if proto == 17:
        if (src, sport) not in SOCKS:
            SOCKS[(src, sport)] = dn_sock(src, sport)
        SOCKS[(src, sport)].sendto(pl, (UE4, 5060 if sport else 9000))
        return pl, 28 + len(pl)
    # (a SYN-ACK, as a server's answer to a UE's connect: told apart by
    # its sequence number)
    seq = 0x10000000 + PKT_NO[0]
    pkt = IP(src=src, dst=UE4, ttl=64) / TCP(sport=sport, dport=40000 + PKT_NO[0], flags="SA", seq=seq, ack=1)
    RAWD.sendto(raw(pkt), (UE4, 0))
    return ("tcp", seq), 40


def traffic(name, cases, counts, rulecnt, rule_of):
    """Sends counts[i] packets of each case (the dropped ones first),
    collects what reaches the base station: every one of a forwarded case
    arrives once as a G-PDU to BS1:2152 with TEID BT4 and its QFI, none of
    a dropped one. Adds what arrived to VOL4 and to the expected per-rule
    counters rulecnt (rule_of: case -> rule key)."""
    bs_drain()
    sent = {}
    order = sorted(range(len(cases)), key=lambda c: cases[c][4] is not None)
    for c in order:
        for i in range(counts[c]):
            key, n = send_dl(cases[c], i)
            sent[key] = (c, n)
    want = sum(counts[c] for c in range(len(cases)) if cases[c][4] is not None)
    got = bs_collect(3.0, want=want, grace=0.4)
    arrived = {c: [] for c in range(len(cases))}
    stray = []
    for f in got:
        x = IP(f["inner"]) if f["gtp"] == 255 else None
        key = bytes(x[UDP].payload) if x is not None and UDP in x else ("tcp", x[TCP].seq) if x is not None and TCP in x else None
        if key not in sent:
            stray.append(fdesc(f) + (" inner %s" % x.summary() if x is not None else ""))
            continue
        c, n = sent[key]
        arrived[c].append((f, x, n))
    for c, case in enumerate(cases):
        cname, proto, src, sport, qfi = case
        fr = arrived[c]
        if qfi is None:
            check(not fr, "%s: %d %s to the UE: none reaches the base station (%s)" % (name, counts[c], cname, [fdesc(f) for f, _, _ in fr]))
            continue
        bad = []
        for f, x, n in fr:
            if (f["dst"], f["dport"], f["teid"], f["psc"]) != (BS1, 2152, BT4, (0, qfi)) or len(f["inner"]) != n \
                    or (x.src, x.dst) != (src, UE4):
                bad.append("%s inner %s (%d bytes, sent %d)" % (fdesc(f), x.summary(), len(f["inner"]), n))
        check(not bad and len(fr) == counts[c],
                   "%s: %d/%d %s to the UE arrive as G-PDUs to %s:2152 TEID %#x with a DL PDU Session Container QFI %d%s"
                   % (name, len(fr), counts[c], cname, BS1, BT4, qfi, (": " + " | ".join(bad[:3])) if bad else ""))
        for f, x, n in fr:
            VOL4.add(1, len(f["inner"]))
            k = rule_of[c]
            rulecnt[k] = (rulecnt[k][0] + 1, rulecnt[k][1] + len(f["inner"]))
    check(not stray, "%s: nothing else reaches the base station (%s)" % (name, stray[:3]))


def own(name, got, before, new):
    """After a modification that kept the rules `new` names: each one's
    packets and bytes are its own (it went on counting, or started again
    at 0), never another rule's."""
    pr, how = [], set()
    for k, v in new.items():
        cont = (before[k][0] + v[0], before[k][1] + v[1])
        if got.get(k) == cont:
            how.add("went on")
        elif got.get(k) == v:
            how.add("started again")
        else:
            pr.append("%s %d: %s (want %s, or %s had it started again)" % (k[0], k[1], got.get(k), cont, v))
    check(not pr, "%s: each rule's packets and bytes are its own, %s%s"
          % (name, ", ".join("%s %d %s" % (k[0], k[1], got.get(k)) for k in new),
             (": " + " | ".join(pr)) if pr else " (%s)" % "/".join(sorted(how))))


def ping4(name, n, rulecnt):
    a0 = list(VOL4.all)
    pings(name, VOL4, UE4, T4, BS1, n, 56, BS1, BT4, 9)
    ub, db, up, dp = (b - a for a, b in zip(a0, VOL4.all))
    rulecnt[("uplink", 200)] = (rulecnt[("uplink", 200)][0] + up, rulecnt[("uplink", 200)][1] + ub)
    rulecnt[("downlink", 200)] = (rulecnt[("downlink", 200)][0] + dp, rulecnt[("downlink", 200)][1] + db)


# -- refused: URR 1 on the SIP PDR only (per-flow charging)
r = ask(est_sdf(0xE8, {3}))
fr = ies(r[0].payload, IE_FailedRuleId) if r else []
check(r is not None and r[0].message_type == 51 and r[0].S == 1 and r[0].seid == 0xE8 and cause(r[0]) == 73,
      "10. URR 1 linked to the SIP PDR only (per-flow charging): cause 73 (Rule creation/modification failure), header SEID 0xe8 (%s)" % desc(r))
check(len(fr) == 1 and fr[0].type == 0 and fr[0].pdr_id == 3,
      "10. ... with a Failed Rule ID naming PDR 3, the SIP PDR the URR is on (%s)" % [raw(x).hex() for x in fr])
check_session("10. nothing set up by the refused request", [])
check_gtp("10. nothing set up by the refused request", [])
heartbeat("10. after the refused per-flow charging")

# -- session 4
r = ask(est_sdf(CP4, {1, 2, 3, 4}))
UP4, T4 = est_response("10. session 4 (4 PDRs with SDF filters, 3 FARs, 2 QERs, URR on every PDR)", r, CP4)
if UP4 is not None and T4 is not None:
    with LOCK:
        UP_OF[CP4] = UP4
    K_SIP, K_TEL, K_UL, K_DL = ("downlink", 100), ("downlink", 150), ("uplink", 200), ("downlink", 200)
    s = one_session("10. established")
    if s is not None:
        pd = {p.get("id"): p for p in s.get("pdrs") or []}
        want_pdrs = {1: (200, "access", [], 1, [], [1]), 2: (200, "core", [FD_ANY], 2, [1], [1]),
                     3: (100, "core", [FD_SIP], 2, [2], [1]), 4: (150, "core", [FD_TELNET], 3, [], [1])}
        gp = {i: (p.get("precedence"), p.get("source_interface"), p.get("sdf_filters"), p.get("far_id"), p.get("qer_ids"), p.get("urr_ids"))
              for i, p in pd.items()}
        check(gp == want_pdrs, "10. PDRs 1-4 as sent: precedence, source interface, SDF filters, FAR, QERs, URRs (%s)"
              % ("as sent" if gp == want_pdrs else json.dumps(gp)))
        fa = {f.get("id"): f.get("apply_action") for f in s.get("fars") or []}
        check(fa == {1: ["FORW"], 2: ["FORW"], 3: ["DROP"]}, "10. FARs 1, 2 FORW, 3 DROP (%s)" % fa)
        c0 = check_rules("10. established", s, [K_SIP, K_TEL, K_UL, K_DL])
        check(c0 is not None and all(v == (0, 0) for v in c0.values()), "10. every rule at 0 packets, 0 bytes (%s)" % c0)
    # traffic: echo through the default rules, then downlink UDP and TCP
    cnt = {K_SIP: (0, 0), K_TEL: (0, 0), K_UL: (0, 0), K_DL: (0, 0)}
    ping4("10. session 4, ICMP echo (uplink rule; replies: downlink default rule)", 2, cnt)
    cases = [("UDP %s:5060 (SIP)" % DN, 17, DN, 5060, 1),
             ("UDP %s:5061" % DN, 17, DN, 5061, 9),
             ("UDP %s:5060 (outside the /32)" % DN2, 17, DN2, 5060, 9),
             ("UDP %s:ephemeral" % DN, 17, DN, 0, 9),
             ("TCP %s:24" % DN, 6, DN, 24, 9),
             ("TCP %s:23 (telnet)" % DN, 6, DN, 23, None)]
    rule_of = [K_SIP, K_DL, K_DL, K_DL, K_DL, K_TEL]
    N = [3, 1, 1, 1, 1, 2]
    d0 = drop_counts()
    traffic("10. session 4", cases, N, cnt, rule_of)
    time.sleep(0.2)
    d1 = drop_counts()
    gc = (d1.get("gtpu.gate_closed", 0) - d0.get("gtpu.gate_closed", 0)) if d0 is not None and d1 is not None else None
    nm = (d1.get("gtpu.sdf_no_match", 0) - d0.get("gtpu.sdf_no_match", 0)) if d0 is not None and d1 is not None else None
    check(gc == 2 and nm == 0, "10. xgw drops --json: gtpu.gate_closed +2 (the telnet segments: DROP rule), gtpu.sdf_no_match +0 (%s, %s)" % (gc, nm))
    s = one_session("10. counted")
    c1 = check_rules("10. counted", s, [K_SIP, K_TEL, K_UL, K_DL]) if s is not None else None
    if c1 is not None:
        check(c1 == cnt, "10. per-rule packets and bytes: SIP %s, telnet (DROP: counts what it forwards) %s, uplink %s, downlink default %s (want %s)"
              % (c1.get(K_SIP), c1.get(K_TEL), c1.get(K_UL), c1.get(K_DL), cnt))
        a = VOL4.all
        g = ((s.get("gtp") or {}).get("counters") or {})
        gg = tuple(g.get(k) for k in ("ul_packets", "ul_bytes", "dl_packets", "dl_bytes", "drops"))
        check(gg == (a[2], a[0], a[3], a[1], 2),
              "10. the session's counters: uplink %d packets / %d bytes, downlink %d / %d (forwarded only), drops 2 (%s)" % (a[2], a[0], a[3], a[1], gg))
    # Remove PDR 3: SIP takes the default rule
    r = ask(smr(UP4, [IE_RemovePDR(IE_list=[IE_PDR_Id(id=3)])]))
    check(r is not None and r[0].message_type == 53 and r[0].S == 1 and r[0].seid == CP4 and cause(r[0]) == 1,
          "10. Session Modification: Remove PDR 3 (SIP): cause 1 (%s)" % desc(r))
    s = one_session("10. SIP PDR removed")
    if s is not None:
        check(sorted(p.get("id") for p in s.get("pdrs") or []) == [1, 2, 4], "10. PDRs 1, 2, 4 left (%s)" % [p.get("id") for p in s.get("pdrs") or []])
    before = dict(cnt)
    c2 = check_rules("10. SIP PDR removed", s, [K_TEL, K_UL, K_DL]) if s is not None else None
    new = {K_TEL: (0, 0), K_UL: (0, 0), K_DL: (0, 0)}
    if c2 is not None:
        own("10. SIP PDR removed, before more traffic", c2, before, new)
    cases2 = [("UDP %s:5060 (SIP, its PDR removed)" % DN, 17, DN, 5060, 9),
              ("TCP %s:23 (telnet)" % DN, 6, DN, 23, None)]
    traffic("10. SIP PDR removed", cases2, [2, 1], new, [K_DL, K_TEL])
    ping4("10. SIP PDR removed, ICMP echo", 1, new)
    time.sleep(0.2)
    d2 = drop_counts()
    gc = (d2.get("gtpu.gate_closed", 0) - d1.get("gtpu.gate_closed", 0)) if d1 is not None and d2 is not None else None
    check(gc == 1, "10. SIP PDR removed: gtpu.gate_closed +1 (telnet still dropped) (%s)" % gc)
    s = one_session("10. SIP PDR removed, counted")
    c3 = check_rules("10. SIP PDR removed, counted", s, [K_TEL, K_UL, K_DL]) if s is not None else None
    if c3 is not None:
        own("10. SIP PDR removed, after more traffic", c3, before, new)
        for k, v in new.items():
            cnt[k] = (cnt[k][0] + v[0], cnt[k][1] + v[1])
    # Deletion: the usage of the whole session, per direction
    r = ask(sdr(UP4))
    check(r is not None and r[0].message_type == 55 and r[0].S == 1 and r[0].seid == CP4 and cause(r[0]) == 1,
          "10. session 4: Session Deletion Response, header SEID = CP SEID, cause 1 (%s)" % desc(r))
    u = one_report("10. session 4", r[0], PFCPSessionDeletionResponse, IE_UsageReport_SDR) if r else None
    if u is not None:
        usage_report("10. session 4 (forwarded packets only: uplink echo requests; downlink SIP, UDP, TCP 24, echo replies; not the telnet)",
                     u, b"\x00\x08\x00", VOL4)
    check(VOL4.reported == VOL4.total(),
          "10. session 4: its Usage Report is exactly the forwarded traffic: total/ul/dl bytes %s, packets %s (%s / %s)"
          % (VOL4.reported[:3], VOL4.reported[3:], VOL4.total()[:3], VOL4.total()[3:]))
    check_session("10. no session left", [])
    check_gtp("10. no GTP-U session left", [])
else:
    check(False, "10. no session 4: its checks cannot run")
for x in list(SOCKS.values()) + [RAWD]:
    x.close()
heartbeat("10")
info("10. took %.1f s" % (time.monotonic() - T10))

info("== 11. Association Release with a live session")
r = ask(est(CP3, UE3, 0x4004, 9))
UP3, T3 = est_response("11. session 3", r, CP3)
if UP3 is None or T3 is None:
    print("FAIL 11. no session 3: the rest cannot run", flush=True)
    sys.exit(1)
with LOCK:
    UP_OF[CP3] = UP3
pings("11. session 3", VOL3, UE3, T3, BS1, 1, 56, BS1, 0x4004, 9)
check_gtp("11. session 3", [(T3, UE3, BS1, 0x4004, 9, "forward", None)])
a0 = pfcp_counters()
r = ask(PFCP(version=1, S=0, seq=nseq()) / PFCPAssociationReleaseRequest(IE_list=[NODE]))
check(r is not None and r[0].message_type == 10 and cause(r[0]) == 1, "11. Association Release Response: cause 1 (%s)" % desc(r))
time.sleep(0.3)
check(pfcp_counters()["associations"] == [], "11. no association left")
check_session("11. the association's session is gone", [])
check_gtp("11. its GTP-U session is gone", [])
ei_check("11. session 3", T3)
heartbeat("11. after the release")
time.sleep(1.5)  # (a heartbeat or report in flight arrives before the final tally)

info("== final tally of what xgw sent")
drain_q()
check(not STRAY, "no unexpected PFCP message from xgw (%s)" % [d[:16].hex() for d in STRAY[:5]])
with LOCK:
    rx = list(RX)
    reps = [struct.unpack_from("!Q", d, 4)[0] for _, d in REPORTS]
check(sorted(reps) == [CP1, CP2, CP2], "Session Report Requests: one for session 1 (DLDR), two copies of one for session 2 (VOLTH), none else (%s)"
      % [hex(x) for x in reps])
c = a0["counters"]
check(HB_IN[0] > 0 and c.get("associations_lost") == 0 and c.get("associations_set_up") == 1,
      "the association held all along: xgw's heartbeats answered (%d), associations_set_up 1, associations_lost 0 (%s)"
      % (HB_IN[0], {k: c.get(k) for k in ("associations_set_up", "associations_lost", "malformed", "duplicate_request")}))
json.dump({"rx": [[d[1], hdr_seq(d)] for _, d in rx if len(d) >= 8],
           "unknown_teid": 3}, open(C["rx_log"], "w"))
sys.exit(1 if FAILS else 0)
EOF

cat >"$XT_WORK/conf.json" <<EOF
{"xgw": "$XGW", "sock": "$SOCK", "ns_r": "$NS_R", "ns_d": "$NS_D", "rx_log": "$XT_WORK/smf-rx.json"}
EOF
step "the scapy SMF, base station and data-network host against xgw"
relay smf.py timeout 150 ip netns exec "$NS_S" taskset -c 0 "$XT_PY" "$XT_WORK/smf.py" "$XT_WORK/conf.json"
[[ -s $XT_WORK/smf-rx.json ]] || die "smf.py did not finish (no $XT_WORK/smf-rx.json); xgw's log: $(xt_log_tail "$XGW_LOG" 30)"

timeout 10 "$XGW" pfcp sessions --socket "$SOCK" >"$XT_WORK/sessions.txt" 2>&1 || true
log "xgw pfcp sessions (text, at the end):"; xt_indent <"$XT_WORK/sessions.txt"
timeout 10 "$XGW" pfcp associations --socket "$SOCK" >"$XT_WORK/assoc.txt" 2>&1 || true
log "xgw pfcp associations:"; xt_indent <"$XT_WORK/assoc.txt"

# ---------------------------------------------------------------------------
step "tshark: every PFCP message and GTP-U frame xgw sent dissects cleanly"
sleep 0.3
for p in "$CAP_N4_PID" "$CAP_N3_PID"; do kill -s INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
for c in "$CAP_N4" "$CAP_N3"; do
  kdrop=$(grep -oE '[0-9]+ packets dropped by kernel' "$c.err" | cut -d' ' -f1 || true)
  check_eq "tcpdump $(basename "$c") lost no frame" 0 "${kdrop:-?}"
done
rc=0
tshark -r "$CAP_N4" -n -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE \
  -T fields -E occurrence=a -E separator=/t -E 'aggregator=|' \
  -e frame.number -e ip.src -e udp.srcport -e pfcp.msg_type -e pfcp.seqno \
  -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
  >"$XT_WORK/n4.tsv" 2>"$XT_WORK/n4.err" || rc=$?
check_eq "tshark reads the PFCP capture" 0 "$rc" "$( ((rc == 0)) || head -c 300 "$XT_WORK/n4.err")"
rc=0
tshark -r "$CAP_N3" -n -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE \
  -T fields -E occurrence=a -E separator=/t -E 'aggregator=|' \
  -e frame.number -e ip.src -e udp.srcport -e gtp.message -e gtp.teid \
  -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
  >"$XT_WORK/n3.tsv" 2>"$XT_WORK/n3.err" || rc=$?
check_eq "tshark reads the GTP-U capture" 0 "$rc" "$( ((rc == 0)) || head -c 300 "$XT_WORK/n3.err")"
cat >"$XT_WORK/dissect.py" <<'EOF'
# dissect.py N4_TSV N3_TSV SMF_RX_JSON: xgw's frames (from 10.44.0.1:8805,
# from 192.168.0.1) carry no malformed mark and no expert item of warning
# severity or above; the PFCP ones are, in order, what the SMF received.
import json, sys
PI_WARN, PI_CHECKSUM, PI_MALFORMED = 0x00600000, 0x01000000, 0x07000000


def rows(path, n):
    for line in open(path):
        v = line.rstrip("\n").split("\t")
        yield v + [""] * (n - len(v))


def problems(sev, grp, msg, mal):
    bad = mal != ""
    notes = []
    for s, g, m in zip(sev.split("|") if sev else [], grp.split("|") if grp else [], msg.split("|") if msg else []):
        s, g = int(s, 0), int(g, 0)
        if s >= PI_WARN or g in (PI_CHECKSUM, PI_MALFORMED):
            bad = True
        notes.append(m)
    return bad, notes


def check(cond, what):
    print(("PASS " if cond else "FAIL ") + what)
    return cond


ok = True
rx = json.load(open(sys.argv[3]))["rx"]
mine, bad, notes = [], [], set()
for num, src, sport, mt, seq, sev, grp, msg, mal in rows(sys.argv[1], 9):
    if src != "10.44.0.1":
        continue
    mine.append([int(mt.split("|")[0]) if mt else None, int(seq.split("|")[0]) if seq else None])
    b, n = problems(sev, grp, msg, mal)
    notes.update(n)
    if b or sport != "8805" or not mt:
        bad.append("frame %s: type %s %s %s" % (num, mt, msg, mal))
ok &= check(mine and not bad, "tshark: %d PFCP messages from xgw, none malformed, none with an expert warning or error%s"
            % (len(mine), "".join("\n      " + x for x in bad[:10])))
if notes:
    print("INFO expert notes on xgw's PFCP messages (below warning): %s" % sorted(notes))
types = {}
for t, _ in mine:
    types[t] = types.get(t, 0) + 1
ok &= check(mine == rx, "the capture holds, in order, exactly the %d messages the SMF received (types %s)"
            % (len(rx), ", ".join("%s: %d" % kv for kv in sorted(types.items(), key=str))))
g, gbad, gtypes = 0, [], {}
for num, src, sport, gm, teid, sev, grp, msg, mal in rows(sys.argv[2], 9):
    # (ip.src of a G-PDU is "outer|inner")
    if src.split("|")[0] != "192.168.0.1":
        continue
    g += 1
    t = int(gm.split("|")[0], 0) if gm else None
    gtypes[t] = gtypes.get(t, 0) + 1
    b, _ = problems(sev, grp, msg, mal)
    if b or t is None:
        gbad.append("frame %s: GTP type %s %s %s" % (num, gm, msg, mal))
ok &= check(g > 0 and not gbad, "tshark: %d GTP-U frames from xgw to the base station (types %s), none malformed or with a warning%s"
            % (g, gtypes, "".join("\n      " + x for x in gbad[:10])))
sys.exit(0 if ok else 1)
EOF
relay dissect.py "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/n4.tsv" "$XT_WORK/n3.tsv" "$XT_WORK/smf-rx.json"

# ---------------------------------------------------------------------------
step "drops, accounting, SIGTERM"
xt_xgw_settle "$SOCK"
xt_xgw_stats "$SOCK" --json >"$XT_WORK/stats1.json" || die "xgw stats --json failed"
gd=$("$XT_PY" - "$XT_WORK/stats0.json" "$XT_WORK/stats1.json" <<'EOF'
import json, sys
a, b = (json.load(open(f))["drops"] for f in sys.argv[1:3])
d = {k: b[k]["count"] - a.get(k, {}).get("count", 0) for k in b if k.startswith("gtpu.")}
print(json.dumps({k: v for k, v in sorted(d.items()) if v}))
EOF
)
log "drops over the test: $(xt_json "$XT_WORK/stats1.json" '{k: v["count"] for k, v in d["drops"].items()}')"
check_eq "gtpu.* drop reasons over the test: the 3 G-PDUs sent to TEIDs of deleted sessions and the 3 telnet segments of step 10's DROP rule" \
  '{"gtpu.gate_closed": 3, "gtpu.unknown_teid": 3}' "$gd"
T=$XT_WORK/stats1.json
rx=$(xt_json "$T" 'd["totals"]["rx"]'); em=$(xt_json "$T" 'd["totals"]["emitted"]')
tx=$(xt_json "$T" 'd["totals"]["tx"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
check_eq "totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
check_eq "totals.pending once idle" 0 "$pe"
grep -qi panic "$XGW_LOG" && fail "panic in xgw's log: $(grep -i -m1 panic "$XGW_LOG")" || pass "no panic in xgw's log"
xt_xgw_stop "$PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
for i in n3 n6; do xt_check_no_xdp "$NS_X" "$i" 2; done
log "took $((SECONDS - T0)) s"
xt_finish
