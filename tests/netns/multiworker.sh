#!/usr/bin/env bash
# Acceptance test: the router with two workers (issue 11, "Multi-worker
# router"), over multi-queue veths.  Run as root:  tests/netns/multiworker.sh
#
#   ns A                        ns X (xgw, cores [0, 1])            ns B
#   a0 ═════veth (2q)═════ xa [lan-a  router  lan-b] xb ═════veth (2q)═════ b0
#   10.1.0.2/24         10.1.0.1/24       10.2.0.1/24          10.2.0.2/24
#   2001:db8:1::2/64    2001:db8:1::1/64  2001:db8:2::1/64     2001:db8:2::2/64
#                                                    lo: 10.9.0.1, 10.9.0.2, 2001:db8:9::1,
#                                                        2001:db8:9::2, 10.8.0.1, 2001:db8:8::1
#   xgw routes: 10.9.0.0/24 via B, 2001:db8:9::/64 via B (config);
#               10.8.0.0/24 and 2001:db8:8::/64 via B (added at run time)
#
# Every veth end has 2 RX and 2 TX queues; worker w owns queue w of both
# ports.  With native XDP on veth a frame lands on the RX queue equal to the
# TX queue the peer picked, so the test steers with XPS
# (/sys/class/net/IF/queues/tx-N/xps_cpus): on a0, CPU 0 -> tx-0 and CPU 1
# -> tx-1, so a sender pinned to CPU c reaches worker c.  On b0 the map is
# crossed (CPU 0 -> tx-1): B answers in the softirq of the CPU whose worker
# sent the request, so B's replies land on the *other* worker.
#
# Checks
#   1. ethtool -l shows 2 RX / 2 TX queues on all four veth ends; xgw runs
#      two workers on cores 0 and 1
#   2. a neighbour resolved by one worker is used by the other: with an
#      empty cache, ping (-6) from CPU 0 (worker 0) to B's lo gets its reply
#      (B's ARP reply / NA lands on worker 1 and reaches worker 0 through the
#      NeighborBus); then UDP from CPU 1 (worker 1) to another address
#      behind B all arrives; B's capture shows exactly one ARP request and
#      one NS for B from xgw; `xgw neigh --json` has B on both workers
#      with B's MAC
#   3. many flows (64 UDP sockets each way, XPS off so the kernel's flow
#      hash picks the queue) are spread: both workers count rx on both
#      ports, and every datagram arrives
#   4. a route added at run time (`xgw route add`, v4 and v6) is used by
#      both workers: UDP from CPU 0 and CPU 1 to the new prefix all arrives,
#      each worker counts its flow, nothing is dropped
#   5. ping / ping -6 A<->B 3/3 each way
#   6. per worker and in the totals: rx + emitted = tx + local + dropped +
#      pending, pending 0, workers sum to the totals, and xgw's port
#      counters equal the veths' over the test window; SIGTERM exits 0 and
#      leaves no XDP program
# Knobs: FLOWS=64 PER_FLOW=20 STEER_COUNT=100
#        XT_KEEP=1 (keep namespaces/logs)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=multiworker
# shellcheck disable=SC2034  # read by lib.sh
XT_NS_PREFIX=xm-
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
command -v tcpdump >/dev/null || die "missing tool: tcpdump (run tests/run.sh, which installs it)"
(($(nproc) >= 2)) || die "needs 2 CPUs (two workers on cores 0 and 1), this machine has $(nproc)"

FLOWS=${FLOWS:-64}
PER_FLOW=${PER_FLOW:-20}
STEER_COUNT=${STEER_COUNT:-100}

NS_A=$(xt_ns a); NS_X=$(xt_ns x); NS_B=$(xt_ns b)
IF_A=a0; IF_XA=xa; IF_XB=xb; IF_B=b0
MAC_A=02:0a:00:00:00:02; MAC_XA=02:0a:00:00:00:01
MAC_XB=02:0b:00:00:00:01; MAC_B=02:0b:00:00:00:02
A4=10.1.0.2; X4A=10.1.0.1; X4B=10.2.0.1; B4=10.2.0.2
A6=2001:db8:1::2; X6A=2001:db8:1::1; X6B=2001:db8:2::1; B6=2001:db8:2::2
FAR4=10.9.0.1; FAR4B=10.9.0.2; FAR6=2001:db8:9::1; FAR6B=2001:db8:9::2
NEW4=10.8.0.1; NEW6=2001:db8:8::1   # behind B, routed only after `xgw route add`
SOCK=$XT_WORK/ctl.sock
XGW_LOG=$XT_WORK/xgw.log
T0=$(date +%s)

# ---------------------------------------------------------------------------
step "lab: $NS_A <-> $NS_X (xgw router, 2 workers) <-> $NS_B over 2-queue veths"
xt_ns_add "$NS_A" ipv6; xt_ns_add "$NS_B" ipv6; xt_ns_add "$NS_X"
xt_mq_veth "$NS_A" "$IF_A" "$NS_X" "$IF_XA"
xt_mq_veth "$NS_X" "$IF_XB" "$NS_B" "$IF_B"
xt_dut_if "$NS_X" "$IF_XA" "$MAC_XA"
xt_dut_if "$NS_X" "$IF_XB" "$MAC_XB"
xt_host_if "$NS_A" "$IF_A" "$A4/24" "$MAC_A"
xt_host_if "$NS_B" "$IF_B" "$B4/24" "$MAC_B"
ip -n "$NS_A" -6 addr add "$A6/64" dev "$IF_A" nodad
ip -n "$NS_B" -6 addr add "$B6/64" dev "$IF_B" nodad
ip -n "$NS_A" route add default via "$X4A"
ip -n "$NS_A" -6 route add default via "$X6A"
ip -n "$NS_B" route add default via "$X4B"
ip -n "$NS_B" -6 route add default via "$X6B"
for a in "$FAR4/32" "$FAR4B/32" "$NEW4/32"; do ip -n "$NS_B" addr add "$a" dev lo; done
for a in "$FAR6/128" "$FAR6B/128" "$NEW6/128"; do ip -n "$NS_B" -6 addr add "$a" dev lo; done

for nif in "$NS_A $IF_A" "$NS_X $IF_XA" "$NS_X $IF_XB" "$NS_B $IF_B"; do
  read -r ns ifc <<<"$nif"
  cur=$(ip netns exec "$ns" ethtool -l "$ifc" 2>&1 | sed -n '/Current hardware settings/,$p')
  rxq=$(awk '/^RX:/ {print $2}' <<<"$cur"); txq=$(awk '/^TX:/ {print $2}' <<<"$cur")
  check_eq "ethtool -l $ifc: RX/TX queues" "2/2" "$rxq/$txq"
done

# xps NS IF MASK0 MASK1: which CPUs send on tx-0 and tx-1 (0 = XPS off)
xps() {
  ip netns exec "$1" sh -c "echo $3 >/sys/class/net/$2/queues/tx-0/xps_cpus && echo $4 >/sys/class/net/$2/queues/tx-1/xps_cpus" \
    || die "cannot set XPS on $2 in $1"
}

cat >"$XT_WORK/x.toml" <<EOF
# written by tests/netns/multiworker.sh
[engine]
cores = [0, 1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "pa"
driver = "af_xdp"
interface = "$IF_XA"
queues = 2

[[ports]]
name = "pb"
driver = "af_xdp"
interface = "$IF_XB"
queues = 2

[pipeline]
kind = "router"

[[interfaces]]
name = "lan-a"
port = "pa"
ipv4 = ["$X4A/24"]
ipv6 = ["$X6A/64"]

[[interfaces]]
name = "lan-b"
port = "pb"
ipv4 = ["$X4B/24"]
ipv6 = ["$X6B/64"]

[[routes]]
prefix = "10.9.0.0/24"
via = "$B4"

[[routes]]
prefix = "2001:db8:9::/64"
via = "$B6"
EOF

# ---------------------------------------------------------------------------
# helpers

stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  if kill -0 "$XT_XGW_PID" 2>/dev/null; then warn "xgw (pid $XT_XGW_PID) runs but does not answer on $SOCK"
  else warn "xgw (pid $XT_XGW_PID) is gone"; fi
  xt_log_tail "$XGW_LOG" 30 >&2
  die "xgw stats failed"
}
settle() { xt_xgw_settle "$SOCK"; }
# wk FILE W PORT FIELD: one worker's counter on one port
wk() { xt_json "$1" "d['workers'][$2]['ports']['$3']['$4']"; }
# dsum FILE: every drop reason with its count, as JSON
dsum() { xt_json "$1" '{k: v["count"] for k, v in d["drops"].items()}'; }

ping_ok() { # NS CPU WHAT ARGS...: 3/3 replies, sent from CPU
  local ns=$1 cpu=$2 what=$3 out rc=0; shift 3
  out=$(ip netns exec "$ns" taskset -c "$cpu" ping -c 3 -i 0.2 -W 2 "$@" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$what: $(grep -E 'packets transmitted' <<<"$out")"
  else
    fail "$what (exit $rc): $(grep -E 'packets transmitted|From|rror' <<<"$out" | head -n 3 | tr '\n' ' ')"
  fi
}

cat >"$XT_WORK/flows.py" <<'EOF'
# flows.py send DST PORT FLOWS PER_FLOW PPS: FLOWS sockets (one source port
#   each), PER_FLOW datagrams each, round robin, paced at PPS in total
# flows.py recv PORT EXPECTED READY_FILE OUT_JSON [IDLE_S]: counts datagrams
#   by source port until EXPECTED arrived or IDLE_S passed with none
import json, socket, struct, sys, time
MAGIC = b"XGWMW"
if sys.argv[1] == "send":
    dst, port, flows, per, pps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(flows)]
    t0 = time.perf_counter()
    n = 0
    for i in range(per):
        for f, s in enumerate(socks):
            if pps > 0:
                d = t0 + n / pps - time.perf_counter()
                if d > 0:
                    time.sleep(d)
            s.sendto(MAGIC + struct.pack("!II", f, i) + bytes(40), (dst, port))
            n += 1
    print(json.dumps(dict(sent=n, flows=flows)))
else:
    port, expected, ready, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    idle = float(sys.argv[6]) if len(sys.argv) > 6 else 3.0
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # v4 and v6 on one socket
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("::", port))
    open(ready, "w").write("ready\n")
    got = dup = foreign = 0
    seen = set()
    srcs = {}
    s.settimeout(idle)
    while got < expected:
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            break
        if data[:5] != MAGIC or len(data) < 13:
            foreign += 1
            continue
        k = data[5:13]
        key = (addr[0], addr[1], k)
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        got += 1
        srcs[addr[1]] = srcs.get(addr[1], 0) + 1
    json.dump(dict(expected=expected, received=got, duplicates=dup, foreign=foreign,
                   sources=len(srcs)), open(out, "w"))
EOF

RECV_PID=""
recv_start() { # PORT EXPECTED TAG
  local ready=$XT_WORK/recv.$3.ready i
  ip netns exec "$NS_B" "$XT_PY" "$XT_WORK/flows.py" recv "$1" "$2" "$ready" "$XT_WORK/recv.$3.json" 2 \
    >"$XT_WORK/recv.$3.log" 2>&1 &
  RECV_PID=$!
  XT_PIDS+=("$RECV_PID")
  for ((i = 0; i < 100; i++)); do
    [[ -s $ready ]] && return 0
    sleep 0.05
  done
  die "receiver $3 did not start: $(cat "$XT_WORK/recv.$3.log")"
}
recv_start_in() { # NS PORT EXPECTED TAG (same, in another namespace)
  local ready=$XT_WORK/recv.$4.ready i
  ip netns exec "$1" "$XT_PY" "$XT_WORK/flows.py" recv "$2" "$3" "$ready" "$XT_WORK/recv.$4.json" 2 \
    >"$XT_WORK/recv.$4.log" 2>&1 &
  RECV_PID=$!
  XT_PIDS+=("$RECV_PID")
  for ((i = 0; i < 100; i++)); do
    [[ -s $ready ]] && return 0
    sleep 0.05
  done
  die "receiver $4 did not start: $(cat "$XT_WORK/recv.$4.log")"
}
recv_check() { # TAG EXPECTED WHAT
  wait "$RECV_PID" 2>/dev/null || true
  local j=$XT_WORK/recv.$1.json got dup
  [[ -s $j ]] || { fail "$3: the receiver wrote nothing ($(cat "$XT_WORK/recv.$1.log"))"; return 0; }
  got=$(xt_json "$j" 'd["received"]'); dup=$(xt_json "$j" 'd["duplicates"]')
  check_eq "$3: datagrams received (of $2, $(xt_json "$j" 'd["sources"]') source ports, $dup duplicates)" "$2" "$got"
}
send_flows() { # NS CPU DST FLOWS PER_FLOW  (CPU "-" = not pinned)
  local ns=$1 cpu=$2; shift 2
  if [[ $cpu == - ]]; then
    ip netns exec "$ns" "$XT_PY" "$XT_WORK/flows.py" send "$1" 9100 "$2" "$3" 5000 >/dev/null
  else
    ip netns exec "$ns" taskset -c "$cpu" "$XT_PY" "$XT_WORK/flows.py" send "$1" 9100 "$2" "$3" 5000 >/dev/null
  fi
}

cap_start() { xt_cap_start "$NS_B" "$IF_B" "$1" "$2" || die "tcpdump in B not ready"; } # FILE FILTER
cap_stop() { xt_cap_stop "$1"; } # FILE -> prints the decoded capture

# ===========================================================================
step "1. xgw with two workers"
rc=0; out=$("$XGW" check --config "$XT_WORK/x.toml" 2>&1) || rc=$?
check_eq "xgw check accepts the two-worker router config" 0 "$rc" "${out:0:200}"
started=0
for attempt in 1 2 3 4 5; do
  xt_xgw_start "$NS_X" "$XT_WORK/x.toml" "$XGW_LOG"
  if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XGW_LOG" 30 2>"$XT_WORK/start.why"; then started=1; break; fi
  log "start attempt $attempt failed: $(grep -v '^\s*$' "$XGW_LOG" | tail -n 1)"
  sleep "0.$((attempt * 2))"
done
((started)) || { cat "$XT_WORK/start.why" >&2; die "xgw did not come up"; }
pass "xgw is up (pid $XT_XGW_PID, attempt $attempt)"
for i in "$IF_XA" "$IF_XB"; do
  if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done
stats "$XT_WORK/s0.json"
check_eq "workers in xgw stats (id:core:state)" "0:0:running 1:1:running" \
  "$(xt_json "$XT_WORK/s0.json" '" ".join("%s:%s:%s" % (w["id"], w["core"], w["state"]) for w in d["workers"])')"
check_eq "xdp/bind mode of both ports" "native/copy native/copy" \
  "$(xt_json "$XT_WORK/s0.json" '" ".join("%s/%s" % (p["xdp_mode"], p["bind_mode"]) for p in d["ports"])')"

# The test window for the veth comparison starts here: xgw is up and idle.
# window_snapshot OUT_JSON ARRAY: xgw's stats and the hosts' veth counters
# taken together: the veth counters must not move from 300 ms before the
# stats until after them (a host's own ND probe or MLD report sent in
# between would count on one side only).
window_snapshot() {
  local out=$1 i c ns ifc f a b v
  local -n snap=$2
  for ((i = 0; i < 20; i++)); do
    settle
    a=""; for c in "$NS_A $IF_A" "$NS_B $IF_B"; do
      read -r ns ifc <<<"$c"
      for f in rx_packets tx_packets; do a+=" $(xt_ifstat "$ns" "$ifc" "$f")"; done
    done
    sleep 0.3
    stats "$out"
    b=""; for c in "$NS_A $IF_A" "$NS_B $IF_B"; do
      read -r ns ifc <<<"$c"
      for f in rx_packets tx_packets; do v=$(xt_ifstat "$ns" "$ifc" "$f"); b+=" $v"; snap[$ifc.$f]=$v; done
    done
    [[ $a == "$b" ]] && return 0
    log "hosts sent during the snapshot ($a ->$b); again"
  done
  die "the hosts never stop sending: no consistent snapshot"
}
declare -A V0 V1
window_snapshot "$XT_WORK/base.json" V0

# ===========================================================================
step "2. a neighbour resolved by one worker is used by the other"
# a0: CPU c sends on tx-c (-> worker c).  b0 crossed: B's replies, made on
# the CPU of the worker that sent the request, go to the other worker.
xps "$NS_A" "$IF_A" 1 2
xps "$NS_B" "$IF_B" 2 1
ip -n "$NS_B" neigh flush dev "$IF_B" >/dev/null 2>&1 || true
ip -n "$NS_B" -6 neigh flush dev "$IF_B" >/dev/null 2>&1 || true
stats "$XT_WORK/n0.json"
nb=$(xt_json "$XT_WORK/n0.json" 'len([1 for w in d["workers"] for p in w["ports"].values()])')
[[ $nb == 4 ]] || die "xgw stats --json has no per-worker port counters (workers[].ports): this binary predates them"
XGW_NEIGH0=$(timeout 10 "$XGW" neigh --json --socket "$SOCK")
n_b=$(XGW_N="$XGW_NEIGH0" "$XT_PY" -c 'import json,os; print(len([r for r in json.loads(os.environ["XGW_N"])["neighbors"] if r["ip"] in ("'"$B4"'","'"$B6"'")]))')
check_eq "xgw knows nothing about B before the first packet (neigh rows for $B4/$B6)" 0 "$n_b"
cap_start "$XT_WORK/neigh.pcap" "arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))"
for fam in 4 6; do
  if [[ $fam == 4 ]]; then dst=$FAR4; else dst=$FAR6; fi
  out=""; rc=0
  out=$(ip netns exec "$NS_A" taskset -c 0 ping "-$fam" -c 1 -W 3 "$dst" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q '1 received' <<<"$out"; then
    pass "IPv$fam: first ping from CPU 0 (worker 0) to $dst via unresolved B got its reply ($(grep -oE 'time=[0-9.]+ ms' <<<"$out"))"
  else
    fail "IPv$fam: first ping from CPU 0 to $dst (exit $rc): $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
done
sleep 0.2
stats "$XT_WORK/n1.json"
for w in 0 1; do
  l=$(($(wk "$XT_WORK/n1.json" "$w" pb local) - $(wk "$XT_WORK/n0.json" "$w" pb local)))
  log "worker $w consumed $l frame(s) from lan-b (B's ARP reply / NA are 'local')"
done
l1=$(($(wk "$XT_WORK/n1.json" 1 pb local) - $(wk "$XT_WORK/n0.json" 1 pb local)))
if ((l1 >= 2)); then pass "B's ARP reply and NA landed on worker 1, which had not asked (cross-worker completion; worker 1 lan-b local +$l1)"
else fail "the steering did not put B's replies on worker 1 (worker 1 lan-b local +$l1): the cross-worker case was not exercised"; fi
# Now worker 1 sends to the same next hop (another address behind B).
for fam in 4 6; do
  if [[ $fam == 4 ]]; then dst=$FAR4B; else dst=$FAR6B; fi
  stats "$XT_WORK/u0.json"
  recv_start 9100 "$STEER_COUNT" "n$fam"
  send_flows "$NS_A" 1 "$dst" 4 $((STEER_COUNT / 4))
  recv_check "n$fam" "$STEER_COUNT" "IPv$fam: UDP from CPU 1 (worker 1) to $dst via B"
  stats "$XT_WORK/u1.json"
  r1=$(($(wk "$XT_WORK/u1.json" 1 pa rx) - $(wk "$XT_WORK/u0.json" 1 pa rx)))
  if ((r1 >= STEER_COUNT)); then pass "IPv$fam: worker 1 received the flow on lan-a (rx +$r1)"
  else fail "IPv$fam: worker 1 lan-a rx +$r1 < $STEER_COUNT: the flow did not land on worker 1"; fi
done
sleep 0.7 # views are republished every 500 ms
timeout 10 "$XGW" neigh --json --socket "$SOCK" >"$XT_WORK/neigh.json"
dec=$(cap_stop "$XT_WORK/neigh.pcap")
echo "$dec" >"$XT_WORK/neigh.txt"
n_arp=$(grep -c "Request who-has $B4 tell $X4B" <<<"$dec" || true)
n_ns=$(grep -cE "neighbor solicitation, who has $B6\b" <<<"$dec" || true)
check_eq "B saw exactly one ARP request for $B4 from xgw (both workers sent to B)" 1 "$n_arp"
check_eq "B saw exactly one Neighbor Solicitation for $B6 from xgw" 1 "$n_ns"
((n_arp == 1 && n_ns == 1)) || sed 's/^/    | /' "$XT_WORK/neigh.txt"
for ip in "$B4" "$B6"; do
  rows=$(xt_json "$XT_WORK/neigh.json" \
    "' '.join(sorted('%s:%s:%s' % (r['worker'], r['mac'], r['state'] if r['state'] in ('REACHABLE','STALE','PROBE') else 'BAD-' + r['state']) for r in d['neighbors'] if r['ip'] == '$ip' and r['interface'] == 'lan-b'))")
  exp="0:$MAC_B:X 1:$MAC_B:X"
  got=$(sed -E 's/:(REACHABLE|STALE|PROBE)( |$)/:X\2/g' <<<"$rows")
  check_eq "xgw neigh: $ip on lan-b known to both workers with B's MAC (usable state)" "$exp" "$got" "[$rows]"
done
stats "$XT_WORK/n2.json"
for r in neigh.resolution_failed neigh.queue_full; do
  check_eq "no $r drop" 0 "$(xt_json "$XT_WORK/n2.json" "d['drops'].get('$r', {}).get('count', 0)")"
done

# ===========================================================================
step "3. many flows are spread over both workers"
# XPS off: the kernel picks the TX queue by the flow's hash.
xps "$NS_A" "$IF_A" 0 0
xps "$NS_B" "$IF_B" 0 0
N=$((FLOWS * PER_FLOW))
for dir in ab ba; do
  stats "$XT_WORK/m0.$dir.json"
  if [[ $dir == ab ]]; then
    recv_start 9100 "$N" "m$dir"; send_flows "$NS_A" - "$FAR4" "$FLOWS" "$PER_FLOW"
    recv_check "m$dir" "$N" "A->B, $FLOWS flows x $PER_FLOW"
  else
    recv_start_in "$NS_A" 9100 "$N" "m$dir"; send_flows "$NS_B" - "$A4" "$FLOWS" "$PER_FLOW"
    recv_check "m$dir" "$N" "B->A, $FLOWS flows x $PER_FLOW"
  fi
  stats "$XT_WORK/m1.$dir.json"
  if [[ $dir == ab ]]; then in=pa; else in=pb; fi
  r0=$(($(wk "$XT_WORK/m1.$dir.json" 0 "$in" rx) - $(wk "$XT_WORK/m0.$dir.json" 0 "$in" rx)))
  r1=$(($(wk "$XT_WORK/m1.$dir.json" 1 "$in" rx) - $(wk "$XT_WORK/m0.$dir.json" 1 "$in" rx)))
  log "$dir: $in rx per worker: worker 0 +$r0, worker 1 +$r1 (of $N)"
  if ((r0 > 0 && r1 > 0 && r0 + r1 >= N)); then pass "$dir: both workers received on $in (worker 0 +$r0, worker 1 +$r1)"
  else fail "$dir: flows not spread on $in (worker 0 +$r0, worker 1 +$r1, sent $N)"; fi
done

# ===========================================================================
step "4. a route added at run time is used by both workers"
xps "$NS_A" "$IF_A" 1 2
xps "$NS_B" "$IF_B" 1 2
out=$(ip netns exec "$NS_A" ping -c 1 -W 2 "$NEW4" 2>&1 || true)
if grep -q 'Unreachable' <<<"$out"; then pass "before: $NEW4 is unreachable through xgw ($(grep -m1 -oE 'From .*' <<<"$out"))"
else fail "before: expected Destination Net Unreachable for $NEW4: $(tail -n 2 <<<"$out" | tr '\n' ' ')"; fi
rc=0; out=$(timeout 10 "$XGW" route add 10.8.0.0/24 --via "$B4" --socket "$SOCK" 2>&1) || rc=$?
check_eq "xgw route add 10.8.0.0/24 via $B4" 0 "$rc" "${out:0:200}"
rc=0; out=$(timeout 10 "$XGW" route add 2001:db8:8::/64 --via "$B6" --socket "$SOCK" 2>&1) || rc=$?
check_eq "xgw route add 2001:db8:8::/64 via $B6" 0 "$rc" "${out:0:200}"
for fam in 4 6; do
  if [[ $fam == 4 ]]; then dst=$NEW4; else dst=$NEW6; fi
  stats "$XT_WORK/r0.$fam.json"
  recv_start 9100 $((2 * STEER_COUNT)) "r$fam"
  send_flows "$NS_A" 0 "$dst" 4 $((STEER_COUNT / 4))
  send_flows "$NS_A" 1 "$dst" 4 $((STEER_COUNT / 4))
  recv_check "r$fam" $((2 * STEER_COUNT)) "IPv$fam: UDP to the new prefix ($dst) from CPU 0 and CPU 1"
  stats "$XT_WORK/r1.$fam.json"
  for w in 0 1; do
    rx=$(($(wk "$XT_WORK/r1.$fam.json" "$w" pa rx) - $(wk "$XT_WORK/r0.$fam.json" "$w" pa rx)))
    tx=$(($(wk "$XT_WORK/r1.$fam.json" "$w" pb tx) - $(wk "$XT_WORK/r0.$fam.json" "$w" pb tx)))
    dr=$(($(xt_json "$XT_WORK/r1.$fam.json" "d['workers'][$w]['dropped']") - $(xt_json "$XT_WORK/r0.$fam.json" "d['workers'][$w]['dropped']")))
    if ((rx >= STEER_COUNT && tx >= STEER_COUNT && dr == 0)); then
      pass "IPv$fam: worker $w forwarded its flow by the runtime route (lan-a rx +$rx, lan-b tx +$tx, dropped +$dr)"
    else
      fail "IPv$fam: worker $w lan-a rx +$rx, lan-b tx +$tx (want >= $STEER_COUNT each), dropped +$dr (want 0)"
    fi
  done
done
ping_ok "$NS_A" 0 "ping $NEW4 via the runtime route from CPU 0" "$NEW4"
ping_ok "$NS_A" 1 "ping -6 $NEW6 via the runtime route from CPU 1" -6 "$NEW6"

# ===========================================================================
step "5. ping / ping -6 both ways"
ping_ok "$NS_A" 0 "ping A->B" "$B4"
ping_ok "$NS_A" 1 "ping -6 A->B" -6 "$B6"
ping_ok "$NS_B" 0 "ping B->A" "$A4"
ping_ok "$NS_B" 1 "ping -6 B->A" -6 "$A6"

# ===========================================================================
step "6. counters: per worker, totals, and the veths"
window_snapshot "$XT_WORK/end.json" V1
E=$XT_WORK/end.json B0=$XT_WORK/base.json
log "drops: $(dsum "$E")"
for w in 0 1; do
  read -r rx em tx lo dr pe <<<"$(xt_json "$E" "' '.join(str(d['workers'][$w][k]) for k in ('rx','emitted','tx','local','dropped','pending'))")"
  log "worker $w: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
  check_eq "worker $w: rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "worker $w: pending once idle" 0 "$pe"
  if ((rx > 0 && tx > 0)); then pass "worker $w: rx and tx counted (rx $rx, tx $tx)"
  else fail "worker $w: rx $rx tx $tx (an idle worker proves nothing)"; fi
done
read -r rx em tx lo dr pe <<<"$(xt_json "$E" "' '.join(str(d['totals'][k]) for k in ('rx','emitted','tx','local','dropped','pending'))")"
log "totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
check_eq "totals: rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
check_eq "totals.pending once idle" 0 "$pe"
check_eq "the workers add up to the totals (rx emitted tx local dropped pending)" \
  "$(xt_json "$E" "' '.join(str(d['totals'][k]) for k in ('rx','emitted','tx','local','dropped','pending'))")" \
  "$(xt_json "$E" "' '.join(str(sum(w[k] for w in d['workers'])) for k in ('rx','emitted','tx','local','dropped','pending'))")"
for m in "pa rx $NS_A $IF_A tx_packets" "pa tx $NS_A $IF_A rx_packets" \
  "pb rx $NS_B $IF_B tx_packets" "pb tx $NS_B $IF_B rx_packets"; do
  read -r p f ns ifc vf <<<"$m"
  xd=$(($(xt_port "$E" "$p" "$f") - $(xt_port "$B0" "$p" "$f")))
  vd=$((${V1[$ifc.$vf]} - ${V0[$ifc.$vf]}))
  check_eq "over the window: xgw $p.$f = $ifc $vf" "$vd" "$xd"
done
kd=$(xt_json "$E" 'sum(p["kernel"].get("rx_dropped", 0) + p["kernel"].get("rx_ring_full", 0) + p["kernel"].get("rx_fill_ring_empty", 0) for p in d["ports"] if p["kernel"])')
check_eq "XDP sockets: rx_dropped + rx_ring_full + rx_fill_ring_empty" 0 "$kd"
bad=$(xt_json "$E" "{k: v['count'] for k, v in d['drops'].items() if k != 'ip6.multicast_not_forwarded'}")
check_eq "no drops but the hosts' IPv6 multicast (MLD)" "{}" "$bad"

# ===========================================================================
step "7. SIGTERM"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
xt_check_no_xdp "$NS_X" "$IF_XA" 2
xt_check_no_xdp "$NS_X" "$IF_XB" 2
if grep -qi 'panic' "$XGW_LOG"; then fail "xgw's log mentions a panic"; xt_log_tail "$XGW_LOG" 20; fi

log "took $(($(date +%s) - T0)) s"
xt_finish
