#!/usr/bin/env bash
# Hostile-input test (issue 10): IP-in-IP frames with an empty or truncated
# inner packet, sent live from a tunnel's remote end, must be counted drops
# and must not stop xgw.  Run as root:  tests/netns/hostile.sh
#
#   ns A                       ns X (xgw)                         ns B (tunnel remote)
#   a0 ─────veth───── xa [lan-a   router   lan-b] xb ─────veth───── b0
#   10.1.0.2/24        10.1.0.1/24        10.2.0.1/24        10.2.0.2/24
#   2001:db8:1::2/64   2001:db8:1::1/64   2001:db8:2::1/64   2001:db8:2::2/64
#
#   xgw's tunnels, all with B as remote (B owns these addresses, so what it
#   sends comes "from the remote" without spoofing):
#     t44 4in4 / t64 6in4   10.2.0.1 <- 10.2.0.2
#     t46 4in6 / t66 6in6   2001:db8:2::1 <- 2001:db8:2::2
#
# Checks
#   1. before: ping / ping -6 A<->B across xgw.
#   2. B sends (raw AF_PACKET, frames built with scapy) REPEAT times each:
#      the issue's frame (outer IPv4 B->X, protocol 4, total length 20: an
#      empty inner packet; 34 bytes on the wire) and its 6in6 twin (outer
#      IPv6, next header 41, payload length 0); 6in4 and 4in6 empties; the
#      inner header cut at 1 and 19 bytes for each kind, and at 39 for an
#      IPv6 inner header; the 4in4 and 6in6 empties padded to 60 bytes.
#      Then: xgw still runs, `xgw stats` answers, no "panic" in its log;
#      tunnel.inner_malformed rose by exactly the frames sent, total drops
#      by the same, pb.rx and totals.rx by the same, and tx, local and
#      emitted did not move; no tunnel counted a decapsulation.
#   3. control: one whole 4in4 and one whole 6in6 echo request from B
#      (inner: for A) are decapsulated (t44 / t66 decap +1 each), and the
#      4in4 one reaches A.
#   4. after: ping / ping -6 A<->B still pass; the totals invariant
#      (rx + emitted = tx + local + dropped + pending) holds, pending 0;
#      SIGTERM exits 0.
# Knobs: REPEAT=2 (copies of each hostile frame)  XT_KEEP=1  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=hostile
# shellcheck disable=SC2034  # read by lib.sh: own namespace names (xh-<role>-<pid>)
XT_NS_PREFIX=xh-
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
"$XT_PY" -c 'import scapy' 2>/dev/null || die "python3-scapy missing for $XT_PY (run tests/run.sh)"

REPEAT=${REPEAT:-2}
T0=$SECONDS

NS_A=$(xt_ns a); NS_X=$(xt_ns x); NS_B=$(xt_ns b)
MAC_A=02:0e:00:00:00:02; MAC_XA=02:0e:00:00:00:01
MAC_XB=02:0e:00:01:00:01; MAC_B=02:0e:00:01:00:02
A4=10.1.0.2; B4=10.2.0.2; X4=10.2.0.1
A6=2001:db8:1::2; B6=2001:db8:2::2; X6=2001:db8:2::1
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/xgw.toml
XGW_LOG=$XT_WORK/xgw.log

# ---------------------------------------------------------------------------
step "lab: $NS_A <-> $NS_X (xgw router, 4 tunnels to B) <-> $NS_B"
xt_ns_add "$NS_A" ipv6; xt_ns_add "$NS_X"; xt_ns_add "$NS_B" ipv6
# the hosts' MLD reports (xgw drops them: ip6.multicast_not_forwarded) all go
# out within milliseconds of the addresses, long before the baseline
for ns in "$NS_A" "$NS_B"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.mldv1_unsolicited_report_interval=10 \
    net.ipv6.conf.default.mldv2_unsolicited_report_interval=10 >/dev/null
done
xt_veth "$NS_A" a0 "$NS_X" xa
xt_veth "$NS_X" xb "$NS_B" b0
xt_dut_if "$NS_X" xa "$MAC_XA"; xt_dut_if "$NS_X" xb "$MAC_XB"
xt_host_if "$NS_A" a0 "$A4/24" "$MAC_A"
xt_host_if "$NS_B" b0 "$B4/24" "$MAC_B"
ip -n "$NS_A" -6 addr add "$A6/64" dev a0 nodad
ip -n "$NS_B" -6 addr add "$B6/64" dev b0 nodad
ip -n "$NS_A" route add default via 10.1.0.1
ip -n "$NS_B" route add default via 10.2.0.1
ip -n "$NS_A" -6 route add default via 2001:db8:1::1
ip -n "$NS_B" -6 route add default via 2001:db8:2::1

cat >"$CFG" <<EOF
# written by tests/netns/hostile.sh
[engine]
cores = [1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "pa"
driver = "af_xdp"
interface = "xa"

[[ports]]
name = "pb"
driver = "af_xdp"
interface = "xb"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan-a"
port = "pa"
ipv4 = ["10.1.0.1/24"]
ipv6 = ["2001:db8:1::1/64"]

[[interfaces]]
name = "lan-b"
port = "pb"
ipv4 = ["$X4/24"]
ipv6 = ["$X6/64"]

[[tunnels]]
name = "t44"
kind = "4in4"
local = "$X4"
remote = "$B4"
ipv4 = ["1.1.1.1/24"]

[[tunnels]]
name = "t64"
kind = "6in4"
local = "$X4"
remote = "$B4"
ipv6 = ["fd01:64::1/64"]

[[tunnels]]
name = "t46"
kind = "4in6"
local = "$X6"
remote = "$B6"
ipv4 = ["1.1.2.1/24"]

[[tunnels]]
name = "t66"
kind = "6in6"
local = "$X6"
remote = "$B6"
ipv6 = ["fd01:66::1/64"]
EOF

cat >"$XT_WORK/hostile.py" <<'EOF'
# hostile.py IFACE SRC_MAC DST_MAC B4 X4 B6 X6 A4 A6 REPEAT OUT_LOG [whole]
# Sends, on IFACE (raw AF_PACKET: the bytes go out as built, no padding),
# IP-in-IP frames from B (the tunnels' remote) to X whose inner packet is
# empty or a truncated header, REPEAT times each; prints the count sent.
# With "whole": one complete 4in4 and one 6in6 echo request for A instead.
import socket, sys
from scapy.all import Ether, IP, IPv6, ICMP, ICMPv6EchoRequest, Raw, conf
conf.verb = 0
iface, smac, dmac, b4, x4, b6, x6, a4, a6 = sys.argv[1:10]
repeat, out = int(sys.argv[10]), sys.argv[11]
whole = len(sys.argv) > 12 and sys.argv[12] == "whole"

def outer4(src, dst, proto, s=smac, d=dmac):
    # id 0, as in the issue's frame (scapy's default id is 1)
    return Ether(src=s, dst=d) / IP(src=src, dst=dst, id=0, ttl=64, proto=proto)

def outer6(nh):
    return Ether(src=smac, dst=dmac) / IPv6(src=b6, dst=x6, nh=nh, hlim=64)

# Self-check: with the golden test's MACs and addresses, the 4in4 empty
# frame is byte for byte the one in issue 10.
ISSUE = "020000000b01020000000b02080045000014000000004004f992c0a80002c0a80001"
got = bytes(outer4("192.168.0.2", "192.168.0.1", 4, "02:00:00:00:0b:02", "02:00:00:00:0b:01")).hex()
if got != ISSUE:
    sys.exit("frame builder does not reproduce the issue's frame: " + got)

inner4 = bytes(IP(src="1.1.1.2", dst=a4) / ICMP(id=0x4854, seq=1) / Raw(b"XGWHOSTILE"))
inner6 = bytes(IPv6(src="fd01:66::2", dst=a6) / ICMPv6EchoRequest(id=0x4854, seq=1) / Raw(b"XGWHOSTILE"))
frames = []  # (label, bytes)
if whole:
    frames.append(("4in4 whole echo request", bytes(outer4(b4, x4, 4) / Raw(inner4))))
    frames.append(("6in6 whole echo request", bytes(outer6(41) / Raw(inner6))))
    repeat = 1
else:
    kinds = [("4in4", lambda: outer4(b4, x4, 4), inner4, (0, 1, 19)),
             ("6in6", lambda: outer6(41), inner6, (0, 1, 19, 39)),
             ("6in4", lambda: outer4(b4, x4, 41), inner6, (0, 1, 19, 39)),
             ("4in6", lambda: outer6(4), inner4, (0, 1, 19))]
    for name, outer, inner, cuts in kinds:
        for n in cuts:
            o = outer()
            f = bytes(o / Raw(inner[:n])) if n else bytes(o)
            frames.append(("%s inner %d bytes" % (name, n), f))
    # the empties as a NIC would deliver them: padded to 60 bytes (the
    # outer length fields still say empty)
    for name, outer in (("4in4", lambda: outer4(b4, x4, 4)), ("6in6", lambda: outer6(41))):
        f = bytes(outer())
        frames.append(("%s inner 0 bytes, padded to 60" % name, f + bytes(60 - len(f))))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
sent = 0
with open(out, "a") as log:
    for label, f in frames:
        for _ in range(repeat):
            if s.send(f) != len(f):
                sys.exit("short send: " + label)
            sent += 1
        log.write("%-34s %3d bytes x%d  %s\n" % (label, len(f), repeat, f.hex()))
print(sent)
EOF

# ---------------------------------------------------------------------------
# helpers (faults.sh's, for one xgw)
stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  fail "xgw stats does not answer"; xt_log_tail "$XGW_LOG" 30
  return 1
}
drops() { xt_json "$1" "d['drops'].get('$2', {}).get('count', 0)"; }
total() { xt_json "$1" "d['totals']['$2']"; }
# settle: until xgw's totals stop moving (two equal reads 300 ms apart, <= 10 s)
settle() { xt_xgw_settle "$SOCK"; }
# tunnels FILE: xgw tunnel list --json (workers publish tunnel counters at
# most every 500 ms: wait that out first)
tunnels() {
  sleep 0.7
  timeout 10 "$XGW" tunnel list --json --socket "$SOCK" >"$1" 2>"$1.err" \
    || { fail "xgw tunnel list failed: $(cat "$1.err")"; echo '{"tunnels": []}' >"$1"; }
}
# tdecap FILE TUNNEL: the tunnel's decap.packets (0 when absent)
tdecap() { xt_json "$1" "sum(t.get('decap', {}).get('packets', 0) for t in d['tunnels'] if t['name'] == '$2')"; }
# ping_ok WHAT NS ARGS...: 3 pings, every one answered
ping_ok() {
  local what=$1 ns=$2 out; shift 2
  if out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 1 "$@" 2>&1) && grep -q ' 3 received' <<<"$out"; then
    pass "$what: 3/3"
  else
    fail "$what: $(grep -E 'received|unreachable|Unreachable' <<<"$out" | head -n 2 | tr '\n' ' ')"
  fi
}
pings() { # WHEN
  ping_ok "$1: ping A->B" "$NS_A" "$B4"; ping_ok "$1: ping B->A" "$NS_B" "$A4"
  ping_ok "$1: ping -6 A->B" "$NS_A" -6 "$B6"; ping_ok "$1: ping -6 B->A" "$NS_B" -6 "$A6"
}
# healthy WHEN: xgw alive, stats answer, no panic logged
healthy() {
  if kill -0 "$XT_XGW_PID" 2>/dev/null; then pass "$1: xgw still running (pid $XT_XGW_PID)"
  else fail "$1: xgw exited"; xt_log_tail "$XGW_LOG" 20; fi
  if xt_xgw_stats "$SOCK" --json >/dev/null 2>&1; then pass "$1: xgw stats answers"
  else fail "$1: xgw stats does not answer"; fi
  if grep -qi 'panic' "$XGW_LOG"; then
    fail "$1: xgw logged a panic:"; grep -i -A2 'panic' "$XGW_LOG" | head -n 6 | sed 's/^/    | /'
  else pass "$1: no panic in xgw's log"; fi
}

xt_xgw_start "$NS_X" "$CFG" "$XGW_LOG"
xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XGW_LOG" 30 || die "xgw did not come up"
pass "xgw is up (pid $XT_XGW_PID)"
timeout 10 "$XGW" tunnel list --socket "$SOCK" 2>&1 | sed 's/^/    | /' || true

# ---------------------------------------------------------------------------
step "1. before: forwarding both ways, both families"
pings before

# ---------------------------------------------------------------------------
step "2. B (the tunnels' remote) sends empty and truncated inner packets, ${REPEAT}x each"
settle
stats "$XT_WORK/s0.json" || die "no baseline"
tunnels "$XT_WORK/t0.json"
sent=$(ip netns exec "$NS_B" "$XT_PY" "$XT_WORK/hostile.py" b0 "$MAC_B" "$MAC_XB" \
  "$B4" "$X4" "$B6" "$X6" "$A4" "$A6" "$REPEAT" "$XT_WORK/frames.log" 2>"$XT_WORK/hostile.err") \
  || { cat "$XT_WORK/hostile.err" >&2; die "hostile.py failed"; }
log "B sent $sent frames (the 4in4 empty one checked against issue 10's bytes):"
sed 's/^/    | /' "$XT_WORK/frames.log"
settle
healthy "after the hostile frames"
if stats "$XT_WORK/s1.json"; then
  d() { echo $(($(total "$XT_WORK/s1.json" "$1") - $(total "$XT_WORK/s0.json" "$1"))); }
  check_eq "tunnel.inner_malformed drops = frames sent" "$sent" \
    "$(($(drops "$XT_WORK/s1.json" tunnel.inner_malformed) - $(drops "$XT_WORK/s0.json" tunnel.inner_malformed)))"
  check_eq "all drops (every reason) = frames sent" "$sent" "$(d dropped)"
  check_eq "totals.rx = frames sent" "$sent" "$(d rx)"
  check_eq "pb.rx = frames sent" "$sent" "$(($(xt_port "$XT_WORK/s1.json" pb rx) - $(xt_port "$XT_WORK/s0.json" pb rx)))"
  for k in tx local emitted pending; do check_eq "totals.$k did not move" 0 "$(d "$k")"; done
  moved=$(
    "$XT_PY" - "$XT_WORK/s0.json" "$XT_WORK/s1.json" <<'EOF'
import json, sys
a, b = (json.load(open(f))["drops"] for f in sys.argv[1:3])
print(" ".join("%s+%d" % (k, v["count"] - a.get(k, {}).get("count", 0))
               for k, v in sorted(b.items()) if v["count"] != a.get(k, {}).get("count", 0)) or "none")
EOF
  )
  check_eq "drop reasons that moved" "tunnel.inner_malformed+$sent" "$moved"
fi
tunnels "$XT_WORK/t1.json"
for t in t44 t64 t46 t66; do
  check_eq "$t: no decapsulation counted" 0 "$(($(tdecap "$XT_WORK/t1.json" $t) - $(tdecap "$XT_WORK/t0.json" $t)))"
done

# ---------------------------------------------------------------------------
step "3. control: whole 4in4 and 6in6 echo requests from B are decapsulated"
echos0=$(xt_snmp "$NS_A" Icmp InEchos)
ip netns exec "$NS_B" "$XT_PY" "$XT_WORK/hostile.py" b0 "$MAC_B" "$MAC_XB" \
  "$B4" "$X4" "$B6" "$X6" "$A4" "$A6" 1 "$XT_WORK/frames.log" whole >/dev/null 2>"$XT_WORK/hostile.err" \
  || { cat "$XT_WORK/hostile.err" >&2; die "hostile.py (whole) failed"; }
tunnels "$XT_WORK/t2.json"
for t in t44 t66; do
  check_eq "$t: decap packets" 1 "$(($(tdecap "$XT_WORK/t2.json" $t) - $(tdecap "$XT_WORK/t1.json" $t)))"
done
check_eq "A got the 4in4 echo request (Icmp InEchos)" 1 "$(($(xt_snmp "$NS_A" Icmp InEchos) - echos0))"

# ---------------------------------------------------------------------------
step "4. after: still forwarding, exact totals"
pings after
settle
healthy "at the end"
if stats "$XT_WORK/s2.json"; then
  rx=$(total "$XT_WORK/s2.json" rx); em=$(total "$XT_WORK/s2.json" emitted)
  tx=$(total "$XT_WORK/s2.json" tx); lo=$(total "$XT_WORK/s2.json" local)
  dr=$(total "$XT_WORK/s2.json" dropped); pe=$(total "$XT_WORK/s2.json" pending)
  check_eq "totals rx + emitted = tx + local + dropped + pending ($rx + $em = $tx + $lo + $dr + $pe)" \
    "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "nothing pending once idle" 0 "$pe"
fi
xt_xgw_stop "$XT_XGW_PID" TERM 5
check_eq "SIGTERM exit status" 0 "$XT_RC"
log "took $((SECONDS - T0)) s"
xt_finish
