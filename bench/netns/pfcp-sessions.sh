#!/usr/bin/env bash
# PFCP session churn (issue 13): how fast xgw's agent establishes,
# modifies and deletes sessions an SMF asks for, and what they cost in
# memory.  Run as root:  bench/netns/pfcp-sessions.sh     (SESSIONS=10000)
#
#   ns s (SMF: python, raw PFCP)  10.44.0.2 ──veth── 10.44.0.1  ns x (xgw, the
#                                                               agent; mem ports)
# The SMF associates, then sends SESSIONS Session Establishment Requests
# (the usual 5G session: uplink PDR with F-TEID CHOOSE, downlink PDR with
# the UE address, two FARs, a QER, a URR), WINDOW in flight at a time,
# then as many Modification Requests (a handover: Update FAR with a new
# Outer Header Creation and SNDEM), then as many Deletion Requests (each
# answered with its usage report). Each phase: requests per second (every
# answer must be cause 1). Memory: xgw's VmRSS before, after the
# establishments and after the deletions, per session; and the
# dataplane's reserved bytes per session (`max_sessions` worth, reserved
# at start).  Knobs: SESSIONS WINDOW WORKERS XGW XT_KEEP=1
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=pfcp-sessions
# shellcheck disable=SC2034  # read by lib.sh
XT_NS_PREFIX=xq-
# shellcheck source-path=SCRIPTDIR source=../../tests/netns/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../tests/netns/lib.sh"
xt_init
xt_require_xgw
SESSIONS=${SESSIONS:-10000}
WINDOW=${WINDOW:-64}
WORKERS=${WORKERS:-1}
NS_S=$(xt_ns s); NS_X=$(xt_ns x)
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/xgw.toml
xt_ns_add "$NS_S"; xt_ns_add "$NS_X"
xt_veth "$NS_S" s0 "$NS_X" n4
xt_host_if "$NS_S" s0 10.44.0.2/24
xt_host_if "$NS_X" n4 10.44.0.1/24
cores=$(seq -s, 0 $((WORKERS - 1)))
cat >"$CFG" <<EOF
# written by bench/netns/pfcp-sessions.sh
[engine]
cores = [$cores]
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
max_sessions = 14336
[pfcp]
address = "10.44.0.1"
heartbeat_interval = 60
EOF
xt_xgw_start "$NS_X" "$CFG" "$XT_WORK/xgw.log"
PID=$XT_XGW_PID
xt_xgw_wait_ready "$PID" "$SOCK" "$XT_WORK/xgw.log" 20 || die "xgw did not start"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
RSS0=$(rss)

cat >"$XT_WORK/smf.py" <<'EOF'
import socket, struct, sys, time
N, W = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.44.0.2", 8805))
s.settimeout(5.0)
UPF = ("10.44.0.1", 8805)

def ies(*l):
    return b"".join(struct.pack("!HH", t, len(v)) + v for t, v in l)

def msg(t, seq, body, seid=None):
    rest = (struct.pack("!Q", seid) if seid is not None else b"") + seq.to_bytes(3, "big") + b"\0" + body
    return bytes([0x21 if seid is not None else 0x20, t]) + struct.pack("!H", len(rest)) + rest

u32 = lambda x: struct.pack("!I", x)
node = (60, bytes([0, 10, 44, 0, 2]))

def est(i):
    ue = bytes([10, 45 + (i >> 16), (i >> 8) & 0xFF, i & 0xFF])
    fseid = (57, b"\x02" + struct.pack("!Q", i) + bytes([10, 44, 0, 2]))
    pdr_ul = (1, ies((56, b"\0\1"), (29, u32(200)),
                     (2, ies((20, b"\0"), (21, b"\x05"), (22, b"\x08internet"), (93, b"\x02" + ue))),
                     (95, b"\0"), (108, u32(1)), (109, u32(1)), (81, u32(1))))
    pdr_dl = (1, ies((56, b"\0\2"), (29, u32(200)), (2, ies((20, b"\1"), (93, b"\x06" + ue))),
                     (108, u32(2)), (109, u32(1)), (81, u32(1))))
    far_ul = (3, ies((108, u32(1)), (44, b"\x02"), (4, ies((42, b"\1")))))
    far_dl = (3, ies((108, u32(2)), (44, b"\x02"),
                     (4, ies((42, b"\0"), (84, b"\x01\0" + u32(0x100000 + i) + bytes([192, 0, 2, 99]))))))
    qer = (7, ies((109, u32(1)), (25, b"\0"), (124, b"\x09")))
    urr = (6, ies((81, u32(1)), (62, b"\x02"), (37, b"\0\0")))
    return msg(50, i, ies(node, fseid, pdr_ul, pdr_dl, far_ul, far_dl, qer, urr), seid=0)

def mod(i, seid):
    far = (10, ies((108, u32(2)), (44, b"\x02"),
                   (11, ies((84, b"\x01\0" + u32(0x200000 + i) + bytes([192, 0, 2, 98]))))))
    return msg(52, i, ies(far, (49, b"\x02")), seid=seid)

def dele(i, seid):
    return msg(54, i, b"", seid=seid)

def cause_and_fseid(b):
    at, end, c, up = 16, 4 + struct.unpack("!H", b[2:4])[0], None, None
    while at + 4 <= end:
        t, l = struct.unpack("!HH", b[at:at + 4])
        v = b[at + 4:at + 4 + l]
        if t == 19:
            c = v[0]
        elif t == 57:
            up = struct.unpack("!Q", v[1:9])[0]
        at += 4 + l
    return c, up

def run(name, make):
    """Sends N requests, W in flight; returns the answers by sequence."""
    got, sent, t0 = {}, 0, time.monotonic()
    while len(got) < N:
        while sent < N and sent - len(got) < W:
            sent += 1
            s.sendto(make(sent), UPF)
        b, _ = s.recvfrom(65535)
        seq = int.from_bytes(b[12:15], "big")
        got[seq] = cause_and_fseid(b)
    dt = time.monotonic() - t0
    bad = sum(1 for c, _ in got.values() if c != 1)
    print(f"{name}: {N} in {dt:.2f} s = {N / dt:.0f}/s, refused {bad}", flush=True)
    return got, bad

s.sendto(msg(5, 0, ies(node, (96, u32(3900000000)))), UPF)
s.recvfrom(65535)
got, bad1 = run("establishment", est)
seids = {i: up for i, (_, up) in got.items()}
print("ESTABLISHED", flush=True)
sys.stdin.readline()
_, bad2 = run("modification", lambda i: mod(i, seids[i]))
_, bad3 = run("deletion", lambda i: dele(i, seids[i]))
sys.exit(1 if bad1 + bad2 + bad3 else 0)
EOF

step "SMF: $SESSIONS sessions, $WINDOW requests in flight, $WORKERS worker(s)"
coproc SMF { ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/smf.py" "$SESSIONS" "$WINDOW" 2>&1; }
OUT=$XT_WORK/smf.out
: >"$OUT"
while IFS= read -r line <&"${SMF[0]}"; do
  echo "  $line" | tee -a "$OUT"
  [[ $line == ESTABLISHED ]] && break
done
n=$("$XGW" pfcp associations --json --socket "$SOCK" | "$XT_PY" -c 'import json,sys; print(json.load(sys.stdin)["sessions"])')
check_eq "sessions held after the establishments" "$SESSIONS" "$n"
RSS1=$(rss)
echo go >&"${SMF[1]}"
while IFS= read -r line <&"${SMF[0]}"; do echo "  $line" | tee -a "$OUT"; done
wait "$SMF_PID" && rc=0 || rc=$?
check_eq "every request answered with cause 1" 0 "$rc"
RSS2=$(rss)
n=$("$XGW" pfcp associations --json --socket "$SOCK" | "$XT_PY" -c 'import json,sys; print(json.load(sys.stdin)["sessions"])')
check_eq "no session left after the deletions" 0 "$n"
bps=$("$XGW" gtp stats --json --socket "$SOCK" | "$XT_PY" -c 'import json,sys; v=json.load(sys.stdin); print(v.get("bytes_per_session", "?"))')
printf '  memory: VmRSS %s kB at start, %s kB with %s sessions (+%s B per session), %s kB after deleting them\n' \
  "$RSS0" "$RSS1" "$SESSIONS" $(((RSS1 - RSS0) * 1024 / SESSIONS)) "$RSS2"
printf '  dataplane tables: %s B per session and worker, reserved at start for max_sessions\n' "$bps"
xt_finish
