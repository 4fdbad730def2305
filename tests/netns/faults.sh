#!/usr/bin/env bash
# Fault test: xgw (router pipeline, AF_XDP on veth) between two Linux hosts,
# with traffic flowing, while its interfaces go down, disappear and come
# back, and while it is killed.  Run as root:  tests/netns/faults.sh
#
#   ns A                       ns X (xgw)                         ns B
#   a0 ─────veth───── xa [lan-a   router   lan-b] xb ─────veth───── b0
#   10.1.0.2/24        10.1.0.1/24        10.2.0.1/24        10.2.0.2/24
#
# Checks
#   1. xb set down for DOWN_SECS under a paced UDP stream A->B, then up:
#      xgw keeps running with its XDP program and sockets in place, logs
#      the change both ways, forwarding resumes (the stream's tail and a
#      ping arrive), and every datagram is accounted for: received by B,
#      or counted by xgw as tx.ring_full, or by xb's kernel as tx_dropped
#      (exact sum); xgw's per-port counters equal the veths' and the totals
#      invariant holds with nothing pending.  The same with b0 (the far
#      end) down: xb loses its carrier.  xa (the ingress side) down and
#      up: ping again.
#   2. SIGTERM under load (ping -f A->B): exit 0 within 5 s, no XDP program
#      left on xa or xb.  A restart binds and forwards.
#   3. kill -9 under load: no XDP program left (the bpf_links die with the
#      process); a restart binds (no EBUSY left over) and forwards.
#   4. xb deleted under load: xgw logs one error naming xb and port pb,
#      exits non-zero within 3 s (never hangs), leaves no XDP program on
#      xa.  The veth recreated, a fresh xgw binds and forwards.
#   5. xb replaced (deleted and recreated at once, same name, new ifindex):
#      the same, with "was replaced" in the error.
#   6. memlock: RLIMIT_MEMLOCK at 64 KiB as plain root: xgw runs and
#      forwards (CAP_IPC_LOCK: the kernel does not charge the UMEM).
#      Without CAP_IPC_LOCK and CAP_SYS_RESOURCE (xgw cannot raise the
#      limit): one stderr line naming memlock, non-zero exit, no XDP
#      program on xa or xb, no control socket left; then xgw starts again.
# Knobs: DOWN_SECS=3 UDP_PPS=2000  XT_KEEP=1 (keep namespaces/logs)
#        XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=faults
# shellcheck disable=SC2034  # read by lib.sh: own namespace names (xf-<role>-<pid>)
XT_NS_PREFIX=xf-
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in prlimit setpriv; do
  command -v "$t" >/dev/null || die "missing tool: $t (util-linux)"
done

DOWN_SECS=${DOWN_SECS:-3}
UDP_PPS=${UDP_PPS:-2000}

NS_A=$(xt_ns a); NS_X=$(xt_ns x); NS_B=$(xt_ns b)
MAC_A=02:0f:00:00:00:02; MAC_XA=02:0f:00:00:00:01
MAC_XB=02:0f:00:01:00:01; MAC_B=02:0f:00:01:00:02
A4=10.1.0.2; B4=10.2.0.2
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/xgw.toml
XGW_LOG=""

# ---------------------------------------------------------------------------
step "lab: $NS_A <-> $NS_X (xgw router) <-> $NS_B"
xt_ns_add "$NS_A"; xt_ns_add "$NS_X"; xt_ns_add "$NS_B"
xt_veth "$NS_A" a0 "$NS_X" xa
xt_dut_if "$NS_X" xa "$MAC_XA"
xt_host_if "$NS_A" a0 "$A4/24" "$MAC_A"
ip -n "$NS_A" route add default via 10.1.0.1
# the B side is made (and remade after a deletion) here
make_b() {
  xt_veth "$NS_X" xb "$NS_B" b0
  xt_dut_if "$NS_X" xb "$MAC_XB"
  xt_host_if "$NS_B" b0 "$B4/24" "$MAC_B"
  ip -n "$NS_B" route add default via 10.2.0.1
}
make_b

cat >"$CFG" <<EOF
# written by tests/netns/faults.sh
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

[[interfaces]]
name = "lan-b"
port = "pb"
ipv4 = ["10.2.0.1/24"]
EOF

# start_xgw LABEL [launcher...]: start xgw in X (retrying a rebind that gets
# EBUSY right after a previous instance exited), wait until it answers
START_ATTEMPTS=0
start_xgw() {
  local label=$1 attempt log; shift
  for attempt in 1 2 3 4 5; do
    log=$XT_WORK/xgw-$label.$attempt.log
    ip netns exec "$NS_X" "$@" "$XGW" run --config "$CFG" >"$log" 2>&1 &
    XT_XGW_PID=$!
    XT_PIDS+=("$XT_XGW_PID")
    if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$log" 30 2>"$log.why"; then
      XGW_LOG=$log
      START_ATTEMPTS=$attempt
      pass "xgw ($label) is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "start attempt $attempt failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$log.why" >&2
  die "xgw ($label) did not come up"
}

stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  warn "xgw log ($XGW_LOG):"; xt_log_tail "$XGW_LOG" 30 >&2
  die "xgw stats failed"
}
# drops FILE REASON: total count of one drop reason (0 when absent)
drops() { xt_json "$1" "d['drops'].get('$2', {}).get('count', 0)"; }
settle() { xt_xgw_settle "$SOCK"; }
# accounting LABEL: totals invariant, nothing pending
accounting() {
  local T=$XT_WORK/acct.json rx em tx lo dr pe
  settle
  stats "$T"
  rx=$(xt_json "$T" 'd["totals"]["rx"]'); em=$(xt_json "$T" 'd["totals"]["emitted"]')
  tx=$(xt_json "$T" 'd["totals"]["tx"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
  dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
  check_eq "$1: totals rx + emitted = tx + local + dropped + pending ($rx + $em = $tx + $lo + $dr + $pe)" \
    "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "$1: nothing pending once idle" 0 "$pe"
}
# ping_within SECONDS WHAT: one ping A->B answered within SECONDS
ping_within() {
  local t=$1 what=$2 start=$SECONDS
  while ((SECONDS - start < t)); do
    if ip netns exec "$NS_A" ping -c 1 -W 1 "$B4" >/dev/null 2>&1; then
      pass "$what: ping A->B answered after $((SECONDS - start)) s"
      return 0
    fi
    sleep 0.2
  done
  fail "$what: no ping A->B answered within $t s"
}
xdp_on() { # IF...: assertion, an XDP program on each
  local i
  for i in "$@"; do
    if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached to $i"
    else fail "no XDP program on $i"; fi
  done
}
alive() { # WHAT
  if kill -0 "$XT_XGW_PID" 2>/dev/null; then pass "$1: xgw still running"
  else fail "$1: xgw exited"; xt_log_tail "$XGW_LOG" 20; fi
}
# load_start: ping -f A->B in the background (bounded), LOAD_PID
load_start() {
  ip netns exec "$NS_A" timeout 60 ping -f -q "$B4" >"$XT_WORK/load.log" 2>&1 &
  LOAD_PID=$!
  XT_PIDS+=("$LOAD_PID")
  sleep 1
}
load_stop() { kill -INT "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; }
# load_moving: the generator's frames are crossing xgw right now
load_moving() {
  local a b
  a=$(xt_ifstat "$NS_B" b0 rx_packets); sleep 0.3; b=$(xt_ifstat "$NS_B" b0 rx_packets)
  if ((b - a > 100)); then pass "under load: $((b - a)) frames reached B in 300 ms"
  else fail "no load crossing xgw ($((b - a)) frames in 300 ms)"; fi
}

start_xgw first
xdp_on xa xb
ping_within 5 "before any fault"

# ---------------------------------------------------------------------------
# outage LABEL NS IF: IF (in NS) down for DOWN_SECS in the middle of a paced
# UDP stream A->B, then up; every datagram must be accounted for
outage() {
  local label=$1 ns=$2 ifc=$3 n=$((UDP_PPS * (DOWN_SECS + 4))) w=$XT_WORK/$1
  local a0_tx xb_tx xb_txd send_pid recv rf d_drop kd dkx nlog
  settle
  stats "$w.a.json"
  nlog=$(grep -c 'interface is' "$XGW_LOG" || true)
  a0_tx=$(xt_ifstat "$NS_A" a0 tx_packets)
  xb_tx=$(xt_ifstat "$NS_X" xb tx_packets); xb_txd=$(xt_ifstat "$NS_X" xb tx_dropped)
  xt_udp_recv_start "$NS_B" "$B4" 5001 "$n" "$w.recv.json" $((DOWN_SECS + 3)) 120
  xt_udp_send "$NS_A" "$B4" 5001 "$n" "$UDP_PPS" 64 "$w.send.json" &
  send_pid=$!
  XT_PIDS+=("$send_pid")
  sleep 1.5
  ip -n "$ns" link set "$ifc" down
  sleep "$DOWN_SECS"
  alive "$label down"
  xdp_on xb
  ip -n "$ns" link set "$ifc" up
  # B's kernel flushed its default route (via b0) when b0 went down
  ip -n "$NS_B" route replace default via 10.2.0.1
  wait "$send_pid" || die "UDP sender failed: $(cat "$w.send.json" 2>/dev/null)"
  wait "$XT_RECV_PID" || true
  alive "$label up again"
  recv=$(xt_json "$w.recv.json" 'd["received"]')
  settle
  stats "$w.b.json"
  rf=$(( $(drops "$w.b.json" tx.ring_full) - $(drops "$w.a.json" tx.ring_full) ))
  d_drop=$(( $(xt_json "$w.b.json" 'd["totals"]["dropped"]') - $(xt_json "$w.a.json" 'd["totals"]["dropped"]') ))
  kd=$(( $(xt_ifstat "$NS_X" xb tx_dropped) - xb_txd ))
  dkx=$(( $(xt_ifstat "$NS_X" xb tx_packets) - xb_tx ))
  log "$label: sent $n, B received $recv, xgw tx.ring_full $rf (all drops $d_drop), xb tx_dropped $kd"
  check_eq "$label: every datagram accounted for: received + tx.ring_full + xb tx_dropped = sent" \
    "$n" "$((recv + rf + kd))"
  check_eq "$label: xgw dropped nothing but tx.ring_full" "$rf" "$d_drop"
  for k in duplicates corrupt; do check_eq "$label: UDP $k" 0 "$(xt_json "$w.recv.json" "d['$k']")"; done
  # resumed: at most the down time (plus a second for the change) is missing
  if ((recv >= n - UDP_PPS * (DOWN_SECS + 1))); then pass "$label: forwarding resumed after up ($recv of $n arrived)"
  else fail "$label: forwarding did not resume: $(cat "$w.recv.json")"; fi
  check_eq "$label: pa.rx = a0 tx_packets (window)" "$(( $(xt_ifstat "$NS_A" a0 tx_packets) - a0_tx ))" \
    "$(( $(xt_port "$w.b.json" pa rx) - $(xt_port "$w.a.json" pa rx) ))"
  check_eq "$label: pb.tx = xb tx_packets + tx_dropped (window)" "$((dkx + kd))" \
    "$(( $(xt_port "$w.b.json" pb tx) - $(xt_port "$w.a.json" pb tx) ))"
  if grep 'interface is' "$XGW_LOG" | tail -n +$((nlog + 1)) | grep 'interface is down' | grep -q 'interface=xb' \
    && grep 'interface is' "$XGW_LOG" | tail -n +$((nlog + 1)) | grep 'interface is up again' | grep -q 'interface=xb'; then
    pass "$label: the log says xb went down and came back"
  else
    fail "$label: no down/up lines for xb in the log"; xt_log_tail "$XGW_LOG" 10
  fi
  ping_within 5 "$label: after up"
  accounting "$label"
}

step "1. xb down for ${DOWN_SECS} s under a ${UDP_PPS} pps UDP stream, then up"
outage "xb-down" "$NS_X" xb
step "1b. b0 (the far end) down for ${DOWN_SECS} s: xb loses its carrier"
outage "b0-down" "$NS_B" b0

ip -n "$NS_X" link set xa down; sleep 1; ip -n "$NS_X" link set xa up
alive "xa down/up"
ping_within 5 "after xa down/up"

# ---------------------------------------------------------------------------
step "2. SIGTERM under load (ping -f A->B)"
load_start
load_moving
t0=$SECONDS
xt_xgw_stop "$XT_XGW_PID" TERM 5
load_stop
check_eq "exit status after SIGTERM under load (124: not within 5 s)" 0 "$XT_RC" "after $((SECONDS - t0)) s"
xt_check_no_xdp "$NS_X" xa 2
xt_check_no_xdp "$NS_X" xb 2
start_xgw after-sigterm
ping_within 5 "after a SIGTERM restart"

# ---------------------------------------------------------------------------
step "3. kill -9 under load, then a restart"
load_start
load_moving
xt_xgw_stop "$XT_XGW_PID" KILL 5
load_stop
check_eq "killed by SIGKILL" 137 "$XT_RC"
xt_check_no_xdp "$NS_X" xa 3
xt_check_no_xdp "$NS_X" xb 3
start_xgw after-kill9
log "restart after kill -9 took $START_ATTEMPTS attempt(s)"
xdp_on xa xb
ping_within 5 "after a kill -9 restart"

# ---------------------------------------------------------------------------
# expect_lost WHAT PATTERN: xgw exits non-zero within 3 s with one error
# line naming xb and port pb
expect_lost() {
  local what=$1 pat=$2 t0=$SECONDS errs
  xt_xgw_stop "$XT_XGW_PID" 0 3   # signal 0: only wait (up to 3 s)
  local rc=$XT_RC took=$((SECONDS - t0))
  if ((rc != 0 && rc != 124)); then pass "$what: xgw exited with status $rc within $((took + 1)) s"
  elif ((rc == 124)); then fail "$what: xgw still running 3 s later (killed)"
  else fail "$what: xgw exited 0"; fi
  errs=$(grep -c 'ERROR' "$XGW_LOG" || true)
  if ((errs == 1)) && grep 'ERROR' "$XGW_LOG" | grep -q "interface xb (port pb.*$pat"; then
    pass "$what: one error line: $(grep 'ERROR' "$XGW_LOG" | sed 's/.*ERROR //')"
  else
    fail "$what: expected one ERROR line naming xb/pb with '$pat', got $errs"; xt_log_tail "$XGW_LOG" 10
  fi
  if tail -n 1 "$XGW_LOG" | grep -q "^xgw: interface xb"; then pass "$what: last line is the reason"
  else fail "$what: last line: $(tail -n 1 "$XGW_LOG")"; fi
  xt_check_no_xdp "$NS_X" xa 2
}

step "4. xb deleted under load, then recreated"
load_start
load_moving
ip -n "$NS_X" link del xb
expect_lost "xb deleted" "disappeared"
load_stop
make_b
start_xgw after-delete
xdp_on xa xb
ping_within 5 "after xb was recreated"
accounting "after xb was recreated"

step "5. xb replaced at once (same name, new ifindex)"
old=$(ip netns exec "$NS_X" cat /sys/class/net/xb/ifindex)
# xgw is stopped (SIGSTOP) meanwhile, so its periodic check cannot run
# between the deletion and the new device: it can only see the new ifindex
kill -STOP "$XT_XGW_PID"
ip -n "$NS_X" link del xb && make_b
kill -CONT "$XT_XGW_PID"
new=$(ip netns exec "$NS_X" cat /sys/class/net/xb/ifindex)
log "xb ifindex $old -> $new"
expect_lost "xb replaced" "was replaced"
start_xgw after-replace
ping_within 5 "after the restart on the new xb"
xt_xgw_stop "$XT_XGW_PID" TERM 5
check_eq "SIGTERM exit status" 0 "$XT_RC"

# ---------------------------------------------------------------------------
step "6. memlock limit of 64 KiB"
start_xgw memlock-root prlimit --memlock=65536:65536
check_eq "xgw's RLIMIT_MEMLOCK (root: CAP_IPC_LOCK, not charged)" 65536 \
  "$(prlimit --pid "$XT_XGW_PID" --memlock -o SOFT --noheadings | tr -d ' ')"
ping_within 5 "memlock 64 KiB as root"
xt_xgw_stop "$XT_XGW_PID" TERM 5
check_eq "SIGTERM exit status" 0 "$XT_RC"

rc=0
out=$(ip netns exec "$NS_X" prlimit --memlock=65536:65536 \
  setpriv --inh-caps=-ipc_lock,-sys_resource --bounding-set=-ipc_lock,-sys_resource -- \
  timeout 20 "$XGW" run --config "$CFG" 2>&1 </dev/null) || rc=$?
lines=$(grep -c . <<<"$out" || true)
if ((rc != 0 && rc != 124)) && ((lines == 1)) && [[ $out == *memlock* ]]; then
  pass "memlock too low, no CAP_IPC_LOCK / CAP_SYS_RESOURCE: exit $rc, one line: $out"
else
  fail "memlock too low: exit $rc, $lines line(s): $out"
fi
xt_check_no_xdp "$NS_X" xa
xt_check_no_xdp "$NS_X" xb
if [[ -e $SOCK ]]; then fail "control socket $SOCK left behind"; else pass "no control socket left behind"; fi
start_xgw after-memlock
ping_within 5 "after the memlock refusal"
accounting "last run"
xt_xgw_stop "$XT_XGW_PID" TERM 5
check_eq "SIGTERM exit status" 0 "$XT_RC"

xt_finish
