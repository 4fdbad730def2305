#!/usr/bin/env bash
# Acceptance test: stateful NAT64 (RFC 6146; the router's [nat64] feature
# with mode = "nat64") on two workers, over multi-queue veths: many UDP,
# ICMP and TCP flows from an IPv6-only client to an IPv4-only server, spread
# by the kernels' flow hashes over both workers, with the replies that land
# on the worker not owning their binding handed over to the one that does.
# Run as root:  tests/netns/nat64-mq.sh
#
#   ns C (IPv6 only)              ns X (xgw NAT64, cores [0, 1])                ns S (IPv4 only)
#   c0 ═════veth (2q)═════ x6 [lan   router + NAT64   wan] x4 ═════veth (2q)═════ s0
#   2001:db8:64::2/64      2001:db8:64::1/64          203.0.113.1/24               203.0.113.80/24
#   default via ::1        pool6 64:ff9b::/96, pool4 203.0.113.1 ports 20000-29999   default via .1
#
# Every veth end has 2 RX and 2 TX queues; worker w owns queue w of both
# ports (queues = 2). With native XDP on veth a frame lands on the RX queue
# equal to the TX queue its sender picked; XPS is off on c0 and s0, so the
# kernel picks it by the flow's hash: C's flows spread over both workers,
# and so do S's answers, independently. A dynamic binding takes its pool4
# port from the slice of the worker that saw the flow's first IPv6 packet
# (worker 0: 20000-24999, worker 1: 25000-29999); an IPv4 answer that lands
# on the other worker is handed over to the owner (`xgw nat64 session`:
# handoff_out / handoff_in / handoff_lost; the frame ends `local` on the
# worker that got it and is `emitted` by the owner).
#
# Checks
#   1. ethtool -l: 2 RX / 2 TX queues on all four veth ends; xgw runs two
#      workers on cores 0 and 1, both ports native/copy
#   2. UDP: 64 sockets in C (64 source ports) x 20 datagrams to S's echo
#      server through 64:ff9b::cb00:7150: every datagram of every flow is
#      echoed back byte-identical; S saw 64 source ports, all on
#      203.0.113.1 and in pool4; both workers received IPv6 on lan and
#      IPv4 on wan, and both sent translated packets out of both ports
#   3. ICMP: 8 echo flows (ping -6 -e ID, 3 each), all answered
#   4. TCP: 4 parallel curl downloads of a 1 MiB random file (status 200,
#      SHA-256 equal) and iperf3 -6 -P 4 (4 streams, each carried data)
#   5. `xgw nat64 session --json`: the 64 UDP, 8 ICMP and 9+ TCP sessions,
#      all from C with ipv4_local 203.0.113.1 and a port (identifier) in
#      the pool4 slice of the worker listing it; sessions on both workers
#   6. hand-off: handoff_out > 0 (answers did land on the non-owner), each
#      worker's handoff_in = the other's handoff_out, handoff_lost 0, each
#      worker's `local` >= its handoff_out and `emitted` >= its handoff_in;
#      `xgw nat64 session` (text) prints each worker's "handed over" line
#   7. drops (`xgw drops --json`): none but C's MLD reports
#      (ip6.multicast_not_forwarded); no nat64.handoff_full; the XDP
#      sockets' kernel drop counters 0
#   8. per worker and in the totals: rx + emitted = tx + local + dropped +
#      pending, pending 0, workers add up to the totals; over the test
#      window xgw's port counters equal the veths' (lan.rx = c0 tx_packets,
#      ...); SIGTERM exits 0, no XDP program left, no panic / ERROR / WARN
# Knobs: FLOWS=64 PER_FLOW=20 PINGS=8 CURLS=4 IPERF_SECS=3 IPERF_RATE=50M (per stream)
#        FILE_BYTES=1048576  XT_KEEP=1 (keep namespaces/logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=nat64-mq
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in curl iperf3 sha256sum; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
(($(nproc) >= 2)) || die "needs 2 CPUs (two workers on cores 0 and 1), this machine has $(nproc)"
# an xgw older than its sources tests something else than the tree
newer=$(find "$XT_ROOT/engine" "$XT_ROOT/pipelines" "$XT_ROOT/Cargo.lock" -newer "$XGW" -type f \
  \( -name '*.rs' -o -name 'Cargo.*' \) 2>/dev/null | head -n 3 | tr '\n' ' ')
[[ -z $newer ]] || warn "$XGW is older than $newer(cargo build --release)"

FLOWS=${FLOWS:-64}
PER_FLOW=${PER_FLOW:-20}
PINGS=${PINGS:-8}
CURLS=${CURLS:-4}
IPERF_SECS=${IPERF_SECS:-3}
IPERF_RATE=${IPERF_RATE:-50M}
FILE_BYTES=${FILE_BYTES:-1048576}
T0=$(date +%s)

NS_C=$(xt_ns c); NS_X=$(xt_ns x); NS_S=$(xt_ns s)
IF_C=c0; IF_X6=x6; IF_X4=x4; IF_S=s0
MAC_C=02:64:00:00:00:02; MAC_X6=02:64:00:00:00:01
MAC_X4=02:44:00:00:00:01; MAC_S=02:44:00:00:00:80
C6=2001:db8:64::2; X6=2001:db8:64::1
X4=203.0.113.1; S4=203.0.113.80
POOL6=64:ff9b::/96; POOL_LO=20000; POOL_HI=29999
S_IMG=64:ff9b::cb00:7150
P_ECHO=7007; P_HTTP=8080; P_IPERF=5201
SOCK=$XT_WORK/ctl.sock
XGW_LOG=""

# ---------------------------------------------------------------------------
step "lab: $NS_C (IPv6 only) <-> $NS_X (xgw NAT64, 2 workers) <-> $NS_S (IPv4 only), 2-queue veths"
xt_ns_add "$NS_C" ipv6
xt_ns_add "$NS_S"   # IPv6 disabled
xt_ns_add "$NS_X"   # IPv6 off where xgw runs
xt_mq_veth "$NS_C" "$IF_C" "$NS_X" "$IF_X6"
xt_mq_veth "$NS_X" "$IF_X4" "$NS_S" "$IF_S"
xt_dut_if "$NS_X" "$IF_X6" "$MAC_X6"
xt_dut_if "$NS_X" "$IF_X4" "$MAC_X4"
xt_host_if "$NS_C" "$IF_C" "$C6/64" "$MAC_C"
xt_host_if "$NS_S" "$IF_S" "$S4/24" "$MAC_S"
ip -n "$NS_C" -6 route add default via "$X6"
ip -n "$NS_S" route add default via "$X4"
ip netns exec "$NS_S" sysctl -qw "net.ipv6.conf.$IF_S.disable_ipv6=1" net.ipv4.icmp_ratelimit=0 >/dev/null
ip netns exec "$NS_C" sysctl -qw net.ipv6.icmp.ratelimit=0 >/dev/null
# C's TCP sockets keep their flow hash. By default Linux draws a new one
# on a retransmission timeout (sk_rethink_txhash), and on a veth that moves
# the flow to the other TX queue, so to the other worker. There the
# flow has no binding and its segments are dropped as nat64.no_state
# (seen once in CI under iperf3's load: 2 drops). A NIC hashes the
# packet's own addresses and ports, so a flow keeps its queue whatever the
# sender does; net.core.txrehash=0 gives the veth the same property.
ip netns exec "$NS_C" sysctl -qw net.core.txrehash=0 >/dev/null || die "cannot set net.core.txrehash in $NS_C"
check_eq "C has no IPv4 address" "" "$(ip -n "$NS_C" -4 -o addr show | awk '$2 != "lo" { print $2, $4 }' | paste -sd' ')"
check_eq "S has no IPv6 address" "" "$(ip -n "$NS_S" -6 -o addr show | awk '{ print $2, $4 }' | paste -sd' ')"
for nif in "$NS_C $IF_C" "$NS_X $IF_X6" "$NS_X $IF_X4" "$NS_S $IF_S"; do
  read -r ns ifc <<<"$nif"
  cur=$(ip netns exec "$ns" ethtool -l "$ifc" 2>&1 | sed -n '/Current hardware settings/,$p')
  rxq=$(awk '/^RX:/ {print $2}' <<<"$cur"); txq=$(awk '/^TX:/ {print $2}' <<<"$cur")
  check_eq "ethtool -l $ifc: RX/TX queues" "2/2" "$rxq/$txq"
done
# XPS off on the hosts: the kernel picks the TX queue (so xgw's RX queue,
# so the worker) by the flow's hash
for nif in "$NS_C $IF_C" "$NS_S $IF_S"; do
  read -r ns ifc <<<"$nif"
  ip netns exec "$ns" sh -c "echo 0 >/sys/class/net/$ifc/queues/tx-0/xps_cpus && echo 0 >/sys/class/net/$ifc/queues/tx-1/xps_cpus" \
    || die "cannot turn XPS off on $ifc in $ns"
done

cat >"$XT_WORK/xgw.toml" <<EOF
# written by tests/netns/nat64-mq.sh
[engine]
cores = [0, 1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "p6"
driver = "af_xdp"
interface = "$IF_X6"
queues = 2

[[ports]]
name = "p4"
driver = "af_xdp"
interface = "$IF_X4"
queues = 2

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "p6"
ipv6 = ["$X6/64"]

[[interfaces]]
name = "wan"
port = "p4"
ipv4 = ["$X4/24"]

[nat64]
mode = "nat64"
pool6 = "$POOL6"
# each worker takes dynamic bindings from its half: 20000-24999, 25000-29999
pool4 = [ { address = "$X4", ports = [$POOL_LO, $POOL_HI] } ]
EOF
rc=0; out=$("$XGW" check --config "$XT_WORK/xgw.toml" 2>&1) || rc=$?
check_eq "xgw check accepts the two-worker NAT64 config" 0 "$rc" "${out:0:300}"

# ---------------------------------------------------------------------------
# helpers (the style of multiworker.sh and nat64.sh)
start_xgw() {
  local attempt log
  for attempt in 1 2 3 4 5; do
    log=$XT_WORK/xgw.$attempt.log
    xt_xgw_start "$NS_X" "$XT_WORK/xgw.toml" "$log"
    if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$log" 30 2>"$log.why"; then
      XGW_LOG=$log
      pass "xgw is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "start attempt $attempt failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$log.why" >&2
  die "xgw did not come up"
}
stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  if kill -0 "$XT_XGW_PID" 2>/dev/null; then warn "xgw (pid $XT_XGW_PID) runs but does not answer on $SOCK"
  else warn "xgw (pid $XT_XGW_PID) is gone"; fi
  warn "xgw log ($XGW_LOG):"; xt_log_tail "$XGW_LOG" 30 >&2
  die "xgw stats failed"
}
settle() { xt_xgw_settle "$SOCK"; }
# wk FILE W PORT FIELD: one worker's counter on one port
wk() { xt_json "$1" "d['workers'][$2]['ports']['$3']['$4']"; }
# wd A B W PORT FIELD: its growth from stats file A to B
wd() { echo $(($(wk "$2" "$3" "$4" "$5") - $(wk "$1" "$3" "$4" "$5"))); }
# nat64_show session|bib OUT_FILE [text]: xgw nat64 ... --json (or as text)
nat64_show() {
  local rc=0 j=--json
  [[ ${3:-} == text ]] && j=""
  timeout 10 "$XGW" nat64 "$1" ${j:+"$j"} --socket "$SOCK" >"$2" 2>"$2.err" || rc=$?
  ((rc == 0)) || warn "xgw nat64 $1 $j (exit $rc): $(head -c 300 "$2.err")"
  return "$rc"
}
# shellcheck disable=SC2317  # called through wait_for
listening() { ip netns exec "$1" ss -H "-ln$2" "sport = :$3" | grep -q .; } # NS t|u PORT
wait_for() { # SECONDS CMD...: polls CMD every 0.1 s
  local t=$1 i; shift
  for ((i = 0; i < t * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}
# window_snapshot OUT_JSON ARRAY: xgw's stats and the hosts' veth counters
# taken together: the veth counters must not move from 300 ms before the
# stats until after them (a host's ND probe or MLD report in between would
# count on one side only)
# shellcheck disable=SC2034  # snap is a nameref: the caller's array
window_snapshot() {
  local out=$1 i c ns ifc f a b v
  local -n snap=$2
  for ((i = 0; i < 20; i++)); do
    settle
    a=""; for c in "$NS_C $IF_C" "$NS_S $IF_S"; do
      read -r ns ifc <<<"$c"
      for f in rx_packets tx_packets; do a+=" $(xt_ifstat "$ns" "$ifc" "$f")"; done
    done
    sleep 0.3
    stats "$out"
    b=""; for c in "$NS_C $IF_C" "$NS_S $IF_S"; do
      read -r ns ifc <<<"$c"
      for f in rx_packets tx_packets; do v=$(xt_ifstat "$ns" "$ifc" "$f"); b+=" $v"; snap[$ifc.$f]=$v; done
    done
    [[ $a == "$b" ]] && return 0
    log "hosts sent during the snapshot ($a ->$b); again"
  done
  die "the hosts never stop sending: no consistent snapshot"
}

cat >"$XT_WORK/flows.py" <<'EOF'
# flows.py send DST PORT FLOWS PER_FLOW PPS OUT_JSON: FLOWS UDP sockets (one
#   source port each), PER_FLOW datagrams each, round robin, paced at PPS
#   in total; every datagram must come back byte-identical from DST on its
#   own socket (waits up to 3 s after the last one sent)
# flows.py echo BIND PORT EXPECTED READY_FILE OUT_JSON: echoes datagrams
#   until EXPECTED came or 5 s passed with none; counts them per source
import json, os, selectors, socket, struct, sys, time
MAGIC = b"XGWMQ64"
if sys.argv[1] == "send":
    dst, port, flows, per, pps, out = (sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                                       float(sys.argv[6]), sys.argv[7])
    socks = []
    for _ in range(flows):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("::", 0))
        s.setblocking(False)
        socks.append(s)
    sent = {}   # payload -> flow
    got = [0] * flows
    bad = 0
    sel = selectors.DefaultSelector()
    for f, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, f)
    def drain(timeout):
        global bad
        for key, _ in sel.select(timeout):
            while True:
                try:
                    data, addr = key.fileobj.recvfrom(2048)
                except BlockingIOError:
                    break
                if sent.pop(data, None) == key.data and addr[0] == dst:
                    got[key.data] += 1
                else:
                    bad += 1
    t0 = time.perf_counter()
    n = 0
    for i in range(per):
        for f, s in enumerate(socks):
            d = t0 + n / pps - time.perf_counter()
            if d > 0:
                drain(d)
            msg = MAGIC + struct.pack("!HH", f, i) + os.urandom(52)
            sent[msg] = f
            s.sendto(msg, (dst, port))
            n += 1
    end = time.perf_counter() + 3
    while sent and time.perf_counter() < end:
        drain(0.1)
    res = dict(flows=flows, sent=n, echoed=sum(got), complete=sum(1 for g in got if g == per),
               min_per_flow=min(got), bad=bad, ports=[s.getsockname()[1] for s in socks])
    json.dump(res, open(out, "w"))
    print(json.dumps({k: v for k, v in res.items() if k != "ports"}))
    sys.exit(0 if res["complete"] == flows and bad == 0 else 1)
else:
    bind, port, expected, ready, out = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((bind, port))
    open(ready, "w").write("ready\n")
    s.settimeout(5)
    srcs, n = {}, 0
    try:
        while n < expected:
            data, addr = s.recvfrom(2048)
            s.sendto(data, addr)
            k = "%s:%d" % addr[:2]
            srcs[k] = srcs.get(k, 0) + 1
            n += 1
    except socket.timeout:
        pass
    json.dump(dict(received=n, sources=srcs), open(out, "w"))
EOF
cat >"$XT_WORK/sessions.py" <<'EOF'
# sessions.py FILE C6 S4 LO HI: PASS/FAIL lines on `xgw nat64 session
# --json`: every session is C's, with ipv4_local X4:port and the port in
# the pool4 slice (LO-HI split in two) of the worker that lists it; prints
# "COUNTS proto:remote_port=n ..." and per-worker session counts
import json, sys
d = json.load(open(sys.argv[1]))
c6, s4, lo, hi, x4 = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
per = (hi - lo + 1) // 2
slices = {0: (lo, lo + per - 1), 1: (lo + per, hi)}
bad, cnt, perw = [], {}, {}
for r in d["sessions"]:
    w = r["worker"]
    perw[w] = perw.get(w, 0) + 1
    a6 = r["ipv6_local"].rpartition(":")[0].strip("[]")
    a4, _, p4 = r["ipv4_local"].rpartition(":")
    ra, _, rp = r["ipv4_remote"].rpartition(":")
    key = "%s:%s" % (r["protocol"], rp if r["protocol"] != "icmp" else "echo")
    cnt[key] = cnt.get(key, 0) + 1
    s_lo, s_hi = slices.get(w, (0, -1))
    if a6 != c6 or a4 != x4 or ra != s4 or not s_lo <= int(p4) <= s_hi:
        bad.append("worker %d: %s %s -> %s / %s -> %s (slice %d-%d)" % (
            w, r["protocol"], r["ipv6_local"], r["ipv6_remote"], r["ipv4_local"], r["ipv4_remote"], s_lo, s_hi))
print(("PASS " if not bad else "FAIL ") + "every session (%d) is C's to %s, with ipv4_local %s and a port in its worker's pool4 slice (0: %d-%d, 1: %d-%d)%s"
      % (len(d["sessions"]), s4, x4, slices[0][0], slices[0][1], slices[1][0], slices[1][1],
         "".join("\n      " + b for b in bad[:10])))
print("COUNTS " + " ".join("%s=%d" % kv for kv in sorted(cnt.items())))
print("PERWORKER " + " ".join("%d=%d" % kv for kv in sorted(perw.items())))
EOF

# ===========================================================================
step "1. xgw with two workers"
start_xgw
for i in "$IF_X6" "$IF_X4"; do
  if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done
stats "$XT_WORK/s0.json"
check_eq "workers in xgw stats (id:core:state)" "0:0:running 1:1:running" \
  "$(xt_json "$XT_WORK/s0.json" '" ".join("%s:%s:%s" % (w["id"], w["core"], w["state"]) for w in d["workers"])')"
check_eq "xdp/bind mode of both ports" "native/copy native/copy" \
  "$(xt_json "$XT_WORK/s0.json" '" ".join("%s/%s" % (p["xdp_mode"], p["bind_mode"]) for p in d["ports"])')"
nb=$(xt_json "$XT_WORK/s0.json" 'len([1 for w in d["workers"] for p in w["ports"].values()])')
[[ $nb == 4 ]] || die "xgw stats --json has no per-worker port counters (workers[].ports): this binary predates them"

# the servers (their sockets make no traffic)
head -c "$FILE_BYTES" /dev/urandom >"$XT_WORK/file"
SUM=$(sha256sum "$XT_WORK/file" | cut -d' ' -f1)
mkdir -p "$XT_WORK/www"; cp "$XT_WORK/file" "$XT_WORK/www/file"
ip netns exec "$NS_S" "$XT_PY" -m http.server "$P_HTTP" --bind "$S4" --directory "$XT_WORK/www" >"$XT_WORK/http.log" 2>&1 &
XT_PIDS+=("$!")
ip netns exec "$NS_S" iperf3 -s -B "$S4" -p "$P_IPERF" >"$XT_WORK/iperf3-server.log" 2>&1 &
XT_PIDS+=("$!")
N_UDP=$((FLOWS * PER_FLOW))
ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/flows.py" echo "$S4" "$P_ECHO" "$N_UDP" "$XT_WORK/echo.ready" "$XT_WORK/echo.json" \
  >"$XT_WORK/echo.log" 2>&1 &
ECHO_PID=$!; XT_PIDS+=("$ECHO_PID")
wait_for 10 listening "$NS_S" t "$P_HTTP" || die "http.server did not start in $NS_S: $(cat "$XT_WORK/http.log")"
wait_for 10 listening "$NS_S" t "$P_IPERF" || die "iperf3 -s did not start in $NS_S: $(cat "$XT_WORK/iperf3-server.log")"
wait_for 10 test -s "$XT_WORK/echo.ready" || die "the UDP echo server did not start in $NS_S: $(cat "$XT_WORK/echo.log")"

# The test window for the veth comparison starts here: xgw is up and idle.
declare -A V0 V1
window_snapshot "$XT_WORK/base.json" V0

# ===========================================================================
step "2. UDP: $FLOWS flows x $PER_FLOW datagrams from C to [$S_IMG]:$P_ECHO, echoed"
stats "$XT_WORK/u0.json"
rc=0; out=$(ip netns exec "$NS_C" "$XT_PY" "$XT_WORK/flows.py" send "$S_IMG" "$P_ECHO" "$FLOWS" "$PER_FLOW" 2000 \
  "$XT_WORK/flows.json" 2>&1) || rc=$?
if ((rc == 0)); then pass "every datagram of the $FLOWS flows echoed byte-identical from $S_IMG: $out"
else fail "UDP flows (exit $rc): $out"; fi
wait "$ECHO_PID" 2>/dev/null || true
srcs=$(xt_json "$XT_WORK/echo.json" '" ".join(sorted(set(k.rpartition(":")[0] for k in d["sources"])))' 2>/dev/null || echo "?")
check_eq "S saw the flows from the pool4 address only" "$X4" "$srcs"
np=$(xt_json "$XT_WORK/echo.json" 'len(d["sources"])' 2>/dev/null || echo "?")
check_eq "S saw $FLOWS source ports" "$FLOWS" "$np"
bad=$(xt_json "$XT_WORK/echo.json" "' '.join(k for k, n in d['sources'].items() if not ($POOL_LO <= int(k.rpartition(':')[2]) <= $POOL_HI) or n != $PER_FLOW)" 2>/dev/null || echo "?")
check_eq "S: every source port in pool4 ($POOL_LO-$POOL_HI) with $PER_FLOW datagrams" "" "$bad"
settle
stats "$XT_WORK/u1.json"
for w in 0 1; do
  r6=$(wd "$XT_WORK/u0.json" "$XT_WORK/u1.json" "$w" p6 rx); t4=$(wd "$XT_WORK/u0.json" "$XT_WORK/u1.json" "$w" p4 tx)
  r4=$(wd "$XT_WORK/u0.json" "$XT_WORK/u1.json" "$w" p4 rx); t6=$(wd "$XT_WORK/u0.json" "$XT_WORK/u1.json" "$w" p6 tx)
  log "worker $w over the UDP flows: lan rx +$r6, wan tx +$t4 (6 -> 4); wan rx +$r4, lan tx +$t6 (4 -> 6)"
  if ((r6 > 0 && r4 > 0)); then pass "worker $w received flows on both ports (lan rx +$r6, wan rx +$r4)"
  else fail "worker $w: lan rx +$r6, wan rx +$r4: the flows were not spread over both workers' queues"; fi
  if ((t4 > 0 && t6 > 0)); then pass "worker $w translated both ways (wan tx +$t4 IPv4, lan tx +$t6 IPv6)"
  else fail "worker $w: wan tx +$t4, lan tx +$t6: it did not translate both ways"; fi
done
wsum() { local t=0 w; for w in 0 1; do t=$((t + $(wd "$XT_WORK/u0.json" "$XT_WORK/u1.json" "$w" "$1" "$2"))); done; echo "$t"; }
if (($(wsum p6 rx) >= N_UDP && $(wsum p4 tx) >= N_UDP && $(wsum p4 rx) >= N_UDP && $(wsum p6 tx) >= N_UDP)); then
  pass "both workers together: lan rx $(wsum p6 rx), wan tx $(wsum p4 tx), wan rx $(wsum p4 rx), lan tx $(wsum p6 tx) (>= $N_UDP each)"
else
  fail "both workers together: lan rx $(wsum p6 rx), wan tx $(wsum p4 tx), wan rx $(wsum p4 rx), lan tx $(wsum p6 tx) (want >= $N_UDP each)"
fi

# ===========================================================================
step "3. ICMP: $PINGS echo flows (ping -6 -e ID) to $S_IMG"
pids=()
for ((k = 0; k < PINGS; k++)); do
  ip netns exec "$NS_C" ping -6 -n -c 3 -i 0.2 -W 2 -e $((1000 + k)) "$S_IMG" >"$XT_WORK/ping.$k.log" 2>&1 &
  pids+=("$!")
done
okp=0
for ((k = 0; k < PINGS; k++)); do
  if wait "${pids[$k]}" && grep -q '3 packets transmitted, 3 received' "$XT_WORK/ping.$k.log"; then okp=$((okp + 1))
  else log "ping -e $((1000 + k)): $(grep -E 'transmitted' "$XT_WORK/ping.$k.log")"; fi
done
check_eq "echo flows answered 3/3" "$PINGS" "$okp"

# ===========================================================================
step "4. TCP: $CURLS parallel curl downloads and iperf3 -6 -P 4"
pids=()
for ((k = 0; k < CURLS; k++)); do
  ip netns exec "$NS_C" curl -g -sS --noproxy '*' --max-time 60 -o "$XT_WORK/got.$k" \
    -w '%{http_code} %{size_download} %{local_port}' "http://[$S_IMG]:$P_HTTP/file" >"$XT_WORK/curl.$k.out" 2>&1 &
  pids+=("$!")
done
okc=0
for ((k = 0; k < CURLS; k++)); do
  rc=0; wait "${pids[$k]}" || rc=$?
  read -r code size _ <"$XT_WORK/curl.$k.out" || true
  got=$(sha256sum "$XT_WORK/got.$k" 2>/dev/null | cut -d' ' -f1 || true)
  if ((rc == 0)) && [[ $code == 200 && $size == "$FILE_BYTES" && $got == "$SUM" ]]; then okc=$((okc + 1))
  else log "curl $k (exit $rc): $(cat "$XT_WORK/curl.$k.out"), sha256 ${got:-none}"; fi
done
check_eq "curl downloads: 200, $FILE_BYTES bytes, SHA-256 equal" "$CURLS" "$okc"
rc=0
ip netns exec "$NS_C" iperf3 -6 -c "$S_IMG" -p "$P_IPERF" -P 4 -b "$IPERF_RATE" -t "$IPERF_SECS" -J --connect-timeout 3000 \
  >"$XT_WORK/iperf.json" 2>"$XT_WORK/iperf.err" || rc=$?
res=$(xt_json "$XT_WORK/iperf.json" '"%d %.1f %s" % (len(d["end"]["streams"]), d["end"]["sum_received"]["bits_per_second"] / 1e6, ",".join(str(s["receiver"]["bytes"]) for s in d["end"]["streams"]))' 2>/dev/null || echo "")
read -r nstreams mbps sbytes <<<"$res"
if ((rc == 0)) && [[ ${nstreams:-0} == 4 ]] && ! tr ',' '\n' <<<"$sbytes" | grep -qx 0; then
  pass "iperf3 -6 -P 4 -b $IPERF_RATE -t $IPERF_SECS: 4 streams, received $mbps Mbit/s (bytes per stream $sbytes)"
else
  fail "iperf3 -6 -P 4 (exit $rc): ${res:-no result} $(head -c 300 "$XT_WORK/iperf.err") $(xt_json "$XT_WORK/iperf.json" 'd.get("error", "")' 2>/dev/null || true)"
fi

# ===========================================================================
step "5. the sessions"
settle
nat64_show session "$XT_WORK/sess.json" || true
sleep 0.6   # the listings are what the workers published last (every 500 ms)
nat64_show session "$XT_WORK/sess.json" || true
out=$("$XT_PY" "$XT_WORK/sessions.py" "$XT_WORK/sess.json" "$C6" "$S4" "$POOL_LO" "$POOL_HI" "$X4" 2>&1 || true)
relay "sessions" printf '%s\n' "$(grep -E '^(PASS|FAIL) ' <<<"$out" || echo "FAIL sessions.py: $out")"
counts=$(sed -n 's/^COUNTS //p' <<<"$out"); perw=$(sed -n 's/^PERWORKER //p' <<<"$out")
log "sessions: $counts; per worker: $perw"
cnt() { tr ' ' '\n' <<<"$counts" | sed -n "s/^$1=//p" | head -n 1; }
check_eq "UDP sessions to $S4:$P_ECHO" "$FLOWS" "$(cnt "udp:$P_ECHO")"
check_eq "ICMP sessions (echo flows)" "$PINGS" "$(cnt "icmp:echo")"
check_eq "TCP sessions to $S4:$P_HTTP (curl)" "$CURLS" "$(cnt "tcp:$P_HTTP")"
n=$(cnt "tcp:$P_IPERF"); n=${n:-0}
if ((n >= 5)); then pass "TCP sessions to $S4:$P_IPERF (iperf3: control + 4 streams): $n"
else fail "TCP sessions to $S4:$P_IPERF: $n (want >= 5)"; fi
read -r s0 s1 <<<"$(xt_json "$XT_WORK/sess.json" '" ".join(str(w["sessions_created"]) for w in d["workers"])')"
if ((s0 > 0 && s1 > 0)); then pass "both workers made sessions (sessions_created: worker 0 $s0, worker 1 $s1)"
else fail "sessions_created: worker 0 $s0, worker 1 $s1 (want both > 0)"; fi

# ===========================================================================
step "6. hand-off between the workers"
settle
stats "$XT_WORK/h.json"
nat64_show session "$XT_WORK/sess-h.json" || true
sleep 0.6
nat64_show session "$XT_WORK/sess-h.json" || true
nat64_show session "$XT_WORK/sess-h.txt" text || true
read -r o0 i0 l0 o1 i1 l1 <<<"$(xt_json "$XT_WORK/sess-h.json" '" ".join("%d %d %d" % (w["handoff_out"], w["handoff_in"], w["handoff_lost"]) for w in d["workers"])')"
log "handoff: worker 0 out $o0 in $i0 lost $l0; worker 1 out $o1 in $i1 lost $l1"
if ((o0 + o1 > 0)); then pass "answers landed on the worker not owning their binding and were handed over (worker 0 out $o0, worker 1 out $o1)"
else fail "no hand-off at all (handoff_out 0 on both workers): the cross-worker path was not exercised"; fi
check_eq "worker 1 took what worker 0 handed over (w1 in = w0 out)" "$o0" "$i1"
check_eq "worker 0 took what worker 1 handed over (w0 in = w1 out)" "$o1" "$i0"
check_eq "handoff_lost (both workers)" "0 0" "$l0 $l1"
for spec in "0|$o0|$i0" "1|$o1|$i1"; do
  IFS='|' read -r w o i <<<"$spec"
  lo=$(xt_json "$XT_WORK/h.json" "d['workers'][$w]['local']"); em=$(xt_json "$XT_WORK/h.json" "d['workers'][$w]['emitted']")
  if ((lo >= o && em >= i)); then pass "worker $w: local $lo >= handed over $o, emitted $em >= taken $i"
  else fail "worker $w: local $lo (handed over $o), emitted $em (taken $i): hand-offs not in the worker's counters"; fi
done
n=$(grep -cE '^worker [01]: .*handed over [0-9]+ out, [0-9]+ in, [0-9]+ lost' "$XT_WORK/sess-h.txt" || true)
check_eq "xgw nat64 session (text): a 'handed over N out, N in, N lost' line per worker" 2 "$n"
grep -E '^worker ' "$XT_WORK/sess-h.txt" | xt_indent || true

# ===========================================================================
step "7. drops"
rc=0; timeout 10 "$XGW" drops --json --socket "$SOCK" >"$XT_WORK/drops.json" 2>"$XT_WORK/drops.err" || rc=$?
check_eq "xgw drops --json" 0 "$rc" "$(head -c 200 "$XT_WORK/drops.err")"
log "drops: $(xt_json "$XT_WORK/drops.json" '" ".join("%s:%d(workers %s)" % (r["reason"], r["count"], r["workers"]) for r in d["drops"])' 2>/dev/null || echo '?')"
other=$(xt_json "$XT_WORK/drops.json" '" ".join("%s:%d" % (r["reason"], r["count"]) for r in d["drops"] if r["reason"] != "ip6.multicast_not_forwarded")' 2>/dev/null || echo "?")
check_eq "no drop but C's MLD reports (ip6.multicast_not_forwarded)" "" "$other"
kd=$(xt_json "$XT_WORK/h.json" '" ".join("%s:%s" % (p["name"], sum(p["kernel"].get(k, 0) for k in ("rx_dropped", "rx_ring_full", "rx_fill_ring_empty"))) for p in d["ports"] if p["kernel"])')
check_eq "XDP sockets: rx_dropped + rx_ring_full + rx_fill_ring_empty per port" "p6:0 p4:0" "$kd"

# ===========================================================================
step "8. counters: per worker, totals, and the veths"
window_snapshot "$XT_WORK/end.json" V1
E=$XT_WORK/end.json B0=$XT_WORK/base.json
for w in 0 1; do
  read -r rx em tx lo dr pe <<<"$(xt_json "$E" "' '.join(str(d['workers'][$w][k]) for k in ('rx','emitted','tx','local','dropped','pending'))")"
  log "worker $w: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
  check_eq "worker $w: rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "worker $w: pending once idle" 0 "$pe"
done
read -r rx em tx lo dr pe <<<"$(xt_json "$E" "' '.join(str(d['totals'][k]) for k in ('rx','emitted','tx','local','dropped','pending'))")"
log "totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
check_eq "totals: rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
check_eq "totals.pending once idle" 0 "$pe"
check_eq "the workers add up to the totals (rx emitted tx local dropped pending)" \
  "$(xt_json "$E" "' '.join(str(d['totals'][k]) for k in ('rx','emitted','tx','local','dropped','pending'))")" \
  "$(xt_json "$E" "' '.join(str(sum(w[k] for w in d['workers'])) for k in ('rx','emitted','tx','local','dropped','pending'))")"
check_eq "xgw workers dead" 0 "$(xt_json "$E" 'len(d["workers_dead"])')"
for m in "p6 rx $IF_C tx_packets" "p6 tx $IF_C rx_packets" "p4 rx $IF_S tx_packets" "p4 tx $IF_S rx_packets"; do
  read -r p f ifc vf <<<"$m"
  xd=$(($(xt_port "$E" "$p" "$f") - $(xt_port "$B0" "$p" "$f")))
  vd=$((${V1[$ifc.$vf]} - ${V0[$ifc.$vf]}))
  check_eq "over the window: xgw $p.$f = $ifc $vf" "$vd" "$xd"
done

# ===========================================================================
step "9. SIGTERM"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
xt_check_no_xdp "$NS_X" "$IF_X6" 2
xt_check_no_xdp "$NS_X" "$IF_X4" 2
bad=$(grep -E 'panicked| (ERROR|WARN) ' "$XGW_LOG" | head -n 3 || true)
check_eq "xgw's log has no panic, ERROR or WARN line" "" "$bad"

log "handoff: worker 0 out ${o0:-?} in ${i0:-?}, worker 1 out ${o1:-?} in ${i1:-?}; iperf3 ${mbps:-?} Mbit/s"
log "took $(($(date +%s) - T0)) s"
xt_finish
