#!/usr/bin/env bash
# Acceptance test: xgw as an L2 cross-connect ("l2fwd", io mode) between two
# end hosts, over AF_XDP on veth.  Run as root:  tests/netns/l2fwd.sh
#
#   ns A                    ns X (xgw)                     ns B
#   veth-a ────veth──── xd-west [ l2fwd io ] xd-east ────veth──── veth-b
#   10.10.0.1/24                                             10.10.0.2/24
#
# Checks
#   0. `xgw check` accepts the config; `xgw run` with a missing interface
#      fails fast with a one-line error naming it (and leaves no XDP program)
#   a. ping A->B and B->A (ARP crosses the engine too)
#   b. a UDP burst of UDP_COUNT datagrams A->B arrives complete, unchanged,
#      counted by sequence number in B (and a smaller one B->A)
#   c. xgw's counters equal the kernels' (deltas over the test window):
#      west.rx = A tx, east.tx = B rx, east.rx = B tx, west.tx = A rx;
#      totals.rx + emitted = tx + local + dropped + pending; no drops anywhere
#   d. SIGTERM: exit status 0, no XDP program left, traffic stops crossing
#   e. kill -9: no XDP program left (bpf_link); a fresh xgw starts on the
#      same interfaces and forwards again
#   overload: an unpaced burst; losses allowed, but each one counted where
#      it happened (A tx = xgw rx + socket drops, ...), and xgw recovers
# Knobs: UDP_COUNT=100000 UDP_PPS=100000 UDP_SIZES=64x8,512,1472 UDP_COUNT_REV=20000
#        UDP_COUNT_OVERLOAD=50000
#        XT_KEEP=1 (keep namespaces/logs)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=l2fwd
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw

UDP_COUNT=${UDP_COUNT:-100000}
UDP_COUNT_REV=${UDP_COUNT_REV:-20000}
# 100k pps: half of what passes loss-free here with the engine on its own
# core (losses start between 200k and 300k offered, as fill-ring starvation)
UDP_PPS=${UDP_PPS:-100000}
UDP_COUNT_OVERLOAD=${UDP_COUNT_OVERLOAD:-50000}
UDP_SIZES=${UDP_SIZES:-64,64,64,64,64,64,64,64,512,1472}
UDP_PORT=5201

NS_A=$(xt_ns a); NS_X=$(xt_ns x); NS_B=$(xt_ns b)
IF_A=veth-a; IF_W=xd-west; IF_E=xd-east; IF_B=veth-b
IP_A=10.10.0.1; IP_B=10.10.0.2
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/l2fwd.toml
LOG=$XT_WORK/xgw.log

# ---------------------------------------------------------------------------
step "lab: $NS_A <-> $NS_X (xgw) <-> $NS_B"
xt_ns_add "$NS_A"; xt_ns_add "$NS_X"; xt_ns_add "$NS_B"
xt_veth "$NS_A" "$IF_A" "$NS_X" "$IF_W"
xt_veth "$NS_X" "$IF_E" "$NS_B" "$IF_B"
xt_host_if "$NS_A" "$IF_A" "$IP_A/24" 02:10:00:00:00:01
xt_host_if "$NS_B" "$IF_B" "$IP_B/24" 02:10:00:00:00:02
xt_dut_if "$NS_X" "$IF_W"
xt_dut_if "$NS_X" "$IF_E"

write_config() { # FILE WEST_IF EAST_IF
  cat >"$1" <<EOF
# written by tests/netns/l2fwd.sh
[engine]
cores = [1]
burst = 64
idle = "adaptive"

[engine.umem]
frames = 4096
frame_size = 4096

[control]
socket = "$SOCK"

[[ports]]
name = "west"
driver = "af_xdp"
interface = "$2"

[[ports]]
name = "east"
driver = "af_xdp"
interface = "$3"

[pipeline]
kind = "l2fwd"

[pipeline.l2fwd]
mode = "io"

[[pipeline.l2fwd.pairs]]
a = "west"
b = "east"
EOF
}
write_config "$CFG" "$IF_W" "$IF_E"

# ---------------------------------------------------------------------------
step "0. config check and start-up errors"
rc=0; out=$("$XGW" check --config "$CFG" 2>&1) || rc=$?
check_eq "xgw check --config accepts the test config" 0 "$rc" "${out:0:200}"
if [[ $out == *ok* ]]; then pass "xgw check prints ok"; else fail "xgw check printed: $out"; fi

BAD_IF=xt-nosuch0
write_config "$XT_WORK/bad.toml" "$IF_W" "$BAD_IF"
rc=0
timeout 20 ip netns exec "$NS_X" "$XGW" run --config "$XT_WORK/bad.toml" \
  >"$XT_WORK/bad.out" 2>"$XT_WORK/bad.err" </dev/null || rc=$?
if ((rc == 124)); then
  fail "xgw run with missing interface $BAD_IF did not exit within 20 s"
elif ((rc == 0)); then
  fail "xgw run with missing interface $BAD_IF exited 0"
else
  pass "xgw run with missing interface exits non-zero ($rc)"
fi
# The error is the last stderr line (log lines may come before it) and names
# the interface.
last=$(grep . "$XT_WORK/bad.err" | tail -n 1 || true)
if [[ $last == *"$BAD_IF"* ]]; then
  pass "one-line error naming the interface: $last"
  n_lines=$(grep -c . "$XT_WORK/bad.err" || true)
  ((n_lines == 1)) || log "(stderr had $((n_lines - 1)) log line(s) before the error)"
else
  fail "the last stderr line does not name $BAD_IF; stderr was:"; xt_log_tail "$XT_WORK/bad.err" 10
fi
# the good port may have been set up before the bad one failed
xt_check_no_xdp "$NS_X" "$IF_W" 2

# ---------------------------------------------------------------------------
step "start xgw in $NS_X"
xt_xgw_start "$NS_X" "$CFG" "$LOG"
xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$LOG" 30 || die "xgw did not come up"
pass "xgw is up (pid $XT_XGW_PID)"
# the pid we hold must be xgw itself (ip netns exec execs), not a wrapper
check_eq "the captured pid is xgw's own" xgw "$(cat "/proc/$XT_XGW_PID/comm" 2>/dev/null)"
xt_xgw_stats "$SOCK" --json >"$XT_WORK/s0.json"
for p in west east; do
  log "port $p: interface=$(xt_port "$XT_WORK/s0.json" $p interface) driver=$(xt_port "$XT_WORK/s0.json" $p driver)" \
    "xdp_mode=$(xt_port "$XT_WORK/s0.json" $p xdp_mode) bind_mode=$(xt_port "$XT_WORK/s0.json" $p bind_mode)"
done
# veth: native XDP works, zero-copy does not (EOPNOTSUPP): expect copy mode
check_eq "west bind_mode on veth" copy "$(xt_port "$XT_WORK/s0.json" west bind_mode)"
for i in "$IF_W" "$IF_E"; do
  if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program seen on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done

# ---------------------------------------------------------------------------
step "a. ping across the engine"
ping_ok() { # NS DST WHAT
  local out rc=0
  out=$(ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$3: $(grep -E 'packets transmitted' <<<"$out")"
  else
    fail "$3 (exit $rc): $(grep -E 'packets transmitted' <<<"$out" || echo "$out" | tail -n 2)"
  fi
}
ping_ok "$NS_A" "$IP_B" "ping A->B"
ping_ok "$NS_B" "$IP_A" "ping B->A"

# ---------------------------------------------------------------------------
# counters over a window

settle() { xt_xgw_settle "$SOCK"; }

IFCOUNTERS=(tx_packets rx_packets tx_bytes rx_bytes tx_dropped rx_dropped)
# XDP socket statistics that mean a frame was lost (tx_ring_empty is not one:
# it counts kicks that found nothing to send)
KCOUNTERS=(rx_dropped rx_ring_full rx_fill_ring_empty rx_invalid tx_invalid)
snapshot() { # NAME: xgw stats + kernel counters into $XT_WORK/NAME.*
  local n=$1 ns ifc c
  xt_xgw_stats "$SOCK" --json >"$XT_WORK/$n.json" || die "xgw stats failed"
  : >"$XT_WORK/$n.if"
  for ns_if in "$NS_A:$IF_A" "$NS_X:$IF_W" "$NS_X:$IF_E" "$NS_B:$IF_B"; do
    ns=${ns_if%%:*}; ifc=${ns_if#*:}
    for c in "${IFCOUNTERS[@]}"; do
      echo "$ifc.$c $(xt_ifstat "$ns" "$ifc" "$c")" >>"$XT_WORK/$n.if"
    done
  done
  for c in InDatagrams InErrors RcvbufErrors InCsumErrors NoPorts; do
    echo "A.Udp.$c $(xt_snmp "$NS_A" Udp "$c")" >>"$XT_WORK/$n.if"
    echo "B.Udp.$c $(xt_snmp "$NS_B" Udp "$c")" >>"$XT_WORK/$n.if"
  done
}
ifd() { # KEY: delta of a kernel counter between snapshots base and after
  local a b
  a=$(awk -v k="$1" '$1 == k { print $2 }' "$XT_WORK/base.if")
  b=$(awk -v k="$1" '$1 == k { print $2 }' "$XT_WORK/after.if")
  echo $((b - a))
}
xd() { # PORT FIELD[.SUB]: delta of an xgw counter (NA if absent)
  local a b
  a=$(xt_port "$XT_WORK/base.json" "$1" "$2"); b=$(xt_port "$XT_WORK/after.json" "$1" "$2")
  if [[ $a == NA || $b == NA ]]; then echo NA; else echo $((b - a)); fi
}
td() { # FIELD: delta of an xgw total
  echo $(($(xt_json "$XT_WORK/after.json" "d['totals']['$1']") - $(xt_json "$XT_WORK/base.json" "d['totals']['$1']")))
}

# burst SRC_NS DST_NS DST_IP COUNT LABEL [TRY]
burst() {
  local sns=$1 dns=$2 dip=$3 cnt=$4 label=$5 try=${6:-1}
  settle
  snapshot base
  xt_udp_recv_start "$dns" "$dip" "$UDP_PORT" "$cnt" "$XT_WORK/recv-$label.json" 3 180
  log "sending $cnt datagrams $label at ${UDP_PPS} pps (payload sizes $UDP_SIZES)"
  xt_udp_send "$sns" "$dip" "$UDP_PORT" "$cnt" "$UDP_PPS" "$UDP_SIZES" "$XT_WORK/send-$label.json" 0 \
    || die "UDP sender failed"
  local rc=0; wait "$XT_RECV_PID" || rc=$?
  ((rc == 0)) || { cat "$XT_WORK/recv-$label.json.log" >&2; die "UDP receiver failed ($rc)"; }
  settle
  snapshot after
  log "sender:   $(cat "$XT_WORK/send-$label.json")"
  log "receiver: $(cat "$XT_WORK/recv-$label.json")"
  local R=$XT_WORK/recv-$label.json
  # A 2-vCPU VM sometimes takes the worker's CPU away for several ms; at
  # 100 kpps the ingress socket's fill ring then runs dry and the kernel
  # drops (and counts) what arrives. When every lost datagram is exactly
  # such a drop (veth rx_dropped = the socket's rx_fill_ring_empty = the
  # receiver's missing count), the burst is repeated once and the repeat
  # must be perfect; any other loss, or a second one, fails below.
  local miss inport inif
  miss=$(xt_json "$R" 'd["missing"]')
  if [[ $label == "A->B" ]]; then inport=west inif=$IF_W; else inport=east inif=$IF_E; fi
  if ((miss > 0 && try == 1)) && [[ $(xd "$inport" kernel.rx_fill_ring_empty) == "$miss" &&
    $(ifd "$inif.rx_dropped") == "$miss" ]]; then
    warn "$label: $miss datagrams dropped by the kernel as rx_fill_ring_empty on $inport (counted by veth and by xgw's socket counters: the worker did not refill the ring in time; $(xt_json "$XT_WORK/after.json" '"burst latency max %d ns" % max(w["burst_latency_ns"]["max"] for w in d["workers"])')); repeating the burst once"
    burst "$sns" "$dns" "$dip" "$cnt" "$label" 2
    return
  fi
  check_eq "$label: datagrams received (unique sequence numbers)" "$cnt" "$(xt_json "$R" 'd["received"]')" \
    "$(xt_json "$R" '"missing=%d first_missing=%s" % (d["missing"], d["first_missing"])')"
  check_eq "$label: duplicates" 0 "$(xt_json "$R" 'd["duplicates"]')"
  check_eq "$label: corrupt datagrams" 0 "$(xt_json "$R" 'd["corrupt"]')"
  local rs; rs=$(xt_json "$R" 'd["reordered"]')
  ((rs == 0)) || warn "$label: $rs datagrams arrived out of order"
  if (($(xt_json "$R" 'd["missing"]') > 0)); then
    # help tell an engine problem from a machine that was busy elsewhere
    log "$label: losses; xgw workers: $(xt_json "$XT_WORK/after.json" 'd.get("workers")')"
    log "$label: busiest processes right after the burst:"
    top -b -n 1 -w 120 2>/dev/null | sed -n '7,13p' | sed 's/^/    | /'
  fi
}

# account: compare xgw's counters with the kernels' over base..after
account() {
  local label=$1
  log "window deltas ($label): $(paste -sd' ' <(for k in "$IF_A.tx_packets" "$IF_W.rx_packets" "$IF_E.tx_packets" "$IF_B.rx_packets" "$IF_B.tx_packets" "$IF_A.rx_packets"; do echo "$k=$(ifd "$k")"; done))"
  log "xgw deltas ($label): west rx=$(xd west rx) tx=$(xd west tx) dropped=$(xd west dropped); east rx=$(xd east rx) tx=$(xd east tx) dropped=$(xd east dropped)"
  check_eq "$label: xgw west.rx = A's $IF_A tx_packets" "$(ifd "$IF_A.tx_packets")" "$(xd west rx)"
  check_eq "$label: xgw east.tx = B's $IF_B rx_packets" "$(ifd "$IF_B.rx_packets")" "$(xd east tx)"
  check_eq "$label: xgw east.rx = B's $IF_B tx_packets" "$(ifd "$IF_B.tx_packets")" "$(xd east rx)"
  check_eq "$label: xgw west.tx = A's $IF_A rx_packets" "$(ifd "$IF_A.rx_packets")" "$(xd west tx)"
  # Bytes.  A frame that a veth hands to its peer's native XDP program is
  # counted (as the sender's tx_bytes) after eth_type_trans() pulled the
  # 14-byte Ethernet header; xgw counts whole frames.  Frames xgw sends go
  # the ordinary veth path and are counted whole on the receiving host.
  check_eq "$label: xgw west.rx_bytes = A's $IF_A tx_bytes + 14 x tx_packets" \
    "$(($(ifd "$IF_A.tx_bytes") + 14 * $(ifd "$IF_A.tx_packets")))" "$(xd west rx_bytes)"
  check_eq "$label: xgw east.rx_bytes = B's $IF_B tx_bytes + 14 x tx_packets" \
    "$(($(ifd "$IF_B.tx_bytes") + 14 * $(ifd "$IF_B.tx_packets")))" "$(xd east rx_bytes)"
  check_eq "$label: xgw east.tx_bytes = B's $IF_B rx_bytes" "$(ifd "$IF_B.rx_bytes")" "$(xd east tx_bytes)"
  check_eq "$label: xgw west.tx_bytes = A's $IF_A rx_bytes" "$(ifd "$IF_A.rx_bytes")" "$(xd west tx_bytes)"
  check_eq "$label: io mode forwards everything: east.tx = west.rx" "$(xd west rx)" "$(xd east tx)"
  check_eq "$label: io mode forwards everything: west.tx = east.rx" "$(xd east rx)" "$(xd west tx)"
  local T=$XT_WORK/after.json rx tx dr pe
  rx=$(xt_json "$T" 'd["totals"]["rx"]'); tx=$(xt_json "$T" 'd["totals"]["tx"]')
  dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
  em=$(xt_json "$T" 'd["totals"]["emitted"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
  check_eq "$label: the L2 forwarder originates no frames (totals.emitted)" 0 "$em"
  check_eq "$label: the L2 forwarder consumes no frames (totals.local)" 0 "$lo"
  check_eq "$label: totals.rx + emitted = tx + local + dropped + pending ($tx + $lo + $dr + $pe)" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "$label: totals.pending once traffic settled" 0 "$pe"
  check_eq "$label: xgw totals.dropped in window" 0 "$(td dropped)"
  if (($(td dropped) != 0)); then
    log "$label: xgw drop reasons (since start): $(xt_json "$XT_WORK/after.json" \
      '{p["name"]: {k: v for k, v in p.get("drops", {}).items() if v} for p in d["ports"]}')"
  fi
  # losses, wherever the kernels count them
  local k v bad=()
  for k in "$IF_A.tx_dropped" "$IF_W.rx_dropped" "$IF_E.tx_dropped" "$IF_B.rx_dropped" \
           "$IF_B.tx_dropped" "$IF_E.rx_dropped" "$IF_W.tx_dropped" "$IF_A.rx_dropped" \
           B.Udp.InErrors B.Udp.RcvbufErrors B.Udp.InCsumErrors A.Udp.InErrors A.Udp.InCsumErrors; do
    v=$(ifd "$k"); ((v == 0)) || bad+=("$k=+$v")
  done
  for p in west east; do
    for k in "${KCOUNTERS[@]}"; do
      v=$(xd "$p" "kernel.$k")
      [[ $v == NA || $v == 0 ]] || bad+=("xgw.$p.kernel.$k=+$v")
    done
  done
  if ((${#bad[@]} == 0)); then pass "$label: no drops counted by veth, UDP or the XDP sockets"
  else fail "$label: drops counted: ${bad[*]}"; fi
  log "$label: XDP socket tx_ring_empty (kicks with nothing queued, not losses): west +$(xd west kernel.tx_ring_empty) east +$(xd east kernel.tx_ring_empty)"
}

step "b/c. UDP burst A->B ($UDP_COUNT datagrams) and counter accounting"
burst "$NS_A" "$NS_B" "$IP_B" "$UDP_COUNT" "A->B"
account "A->B"

step "b/c. UDP burst B->A ($UDP_COUNT_REV datagrams) and counter accounting"
burst "$NS_B" "$NS_A" "$IP_A" "$UDP_COUNT_REV" "B->A"
account "B->A"

# Overload: an unpaced burst may lose frames (veth + AF_XDP copy mode on a
# small machine; see docs).  Whatever is lost must be counted where it is
# lost, and nothing else may change.
step "overload: unpaced UDP burst A->B ($UDP_COUNT_OVERLOAD datagrams), losses must be accounted for"
settle
snapshot base
xt_udp_recv_start "$NS_B" "$IP_B" "$UDP_PORT" "$UDP_COUNT_OVERLOAD" "$XT_WORK/recv-ovl.json" 2 120
xt_udp_send "$NS_A" "$IP_B" "$UDP_PORT" "$UDP_COUNT_OVERLOAD" 0 "$UDP_SIZES" "$XT_WORK/send-ovl.json" 0 \
  || die "UDP sender failed"
rc=0; wait "$XT_RECV_PID" || rc=$?
((rc == 0)) || { cat "$XT_WORK/recv-ovl.json.log" >&2; die "UDP receiver failed ($rc)"; }
settle
snapshot after
got=$(xt_json "$XT_WORK/recv-ovl.json" 'd["received"]')
log "sender:   $(cat "$XT_WORK/send-ovl.json")"
log "receiver: $(cat "$XT_WORK/recv-ovl.json")"
lost_sock=$(xd west kernel.rx_dropped)
log "overload: $got of $UDP_COUNT_OVERLOAD arrived ($(( (UDP_COUNT_OVERLOAD - got) * 100 / UDP_COUNT_OVERLOAD ))% lost);" \
  "west socket rx_dropped +$lost_sock (rx_ring_full +$(xd west kernel.rx_ring_full)," \
  "rx_fill_ring_empty +$(xd west kernel.rx_fill_ring_empty)), A $IF_A tx_dropped +$(ifd "$IF_A.tx_dropped")," \
  "xgw dropped +$(td dropped)"
check_eq "overload: A's tx_packets = xgw west.rx + west socket rx_dropped" \
  "$(ifd "$IF_A.tx_packets")" "$(($(xd west rx) + lost_sock))"
check_eq "overload: xgw west.rx = east.tx + xgw drops" "$(xd west rx)" "$(($(xd east tx) + $(td dropped)))"
check_eq "overload: xgw east.tx = B's rx_packets" "$(ifd "$IF_B.rx_packets")" "$(xd east tx)"
check_eq "overload: datagrams received = B's Udp InDatagrams" "$(ifd B.Udp.InDatagrams)" "$got"
check_eq "overload: B's Udp InErrors" 0 "$(ifd B.Udp.InErrors)"
check_eq "overload: corrupt datagrams" 0 "$(xt_json "$XT_WORK/recv-ovl.json" 'd["corrupt"]')"
T=$XT_WORK/after.json
check_eq "overload: totals.rx = tx + dropped + pending" "$(xt_json "$T" 'd["totals"]["rx"]')" \
  "$(xt_json "$T" 'd["totals"]["tx"] + d["totals"]["dropped"] + d["totals"]["pending"]')"
check_eq "overload: totals.pending once traffic settled" 0 "$(xt_json "$T" 'd["totals"]["pending"]')"
ping_ok "$NS_A" "$IP_B" "overload: ping A->B still works afterwards"

# ---------------------------------------------------------------------------
step "d. SIGTERM"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
log "xgw log tail:"; xt_log_tail "$LOG" 5
for i in "$IF_W" "$IF_E"; do xt_check_no_xdp "$NS_X" "$i" 2; done
for i in "$NS_A:$IF_A" "$NS_B:$IF_B"; do xt_check_no_xdp "${i%%:*}" "${i#*:}"; done
if ip netns exec "$NS_A" ping -c 1 -W 1 "$IP_B" >/dev/null 2>&1; then
  fail "ping A->B still works with xgw stopped (something else forwards?)"
else
  pass "with xgw stopped, nothing crosses (ping A->B fails)"
fi
[[ -e $SOCK ]] && warn "control socket $SOCK still exists after a clean exit"

# ---------------------------------------------------------------------------
step "e. kill -9, then a fresh start on the same interfaces"
xt_xgw_start "$NS_X" "$CFG" "$XT_WORK/xgw2.log"
xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XT_WORK/xgw2.log" 30 || die "xgw did not come up a second time"
pass "xgw up again (pid $XT_XGW_PID)"
xt_xgw_stop "$XT_XGW_PID" KILL 5
check_eq "exit status after kill -9" 137 "$XT_RC"
for i in "$IF_W" "$IF_E"; do xt_check_no_xdp "$NS_X" "$i" 3; done

ready=0
for attempt in 1 2 3 4 5; do
  xt_xgw_start "$NS_X" "$CFG" "$XT_WORK/xgw3.$attempt.log"
  if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XT_WORK/xgw3.$attempt.log" 30 2>"$XT_WORK/xgw3.$attempt.why"; then
    ready=1; break
  fi
  log "attempt $attempt failed: $(grep -v '^\s*$' "$XT_WORK/xgw3.$attempt.log" | tail -n 1)"
  sleep "0.$((attempt * 2))"
done
if ((ready)); then
  pass "fresh xgw started after kill -9 (attempt $attempt)"
  ping_ok "$NS_A" "$IP_B" "ping A->B through the fresh xgw"
  xt_xgw_stop "$XT_XGW_PID" TERM 15
  check_eq "fresh xgw exit status after SIGTERM" 0 "$XT_RC"
  for i in "$IF_W" "$IF_E"; do xt_check_no_xdp "$NS_X" "$i" 2; done
else
  fail "no fresh xgw could start after kill -9 (5 attempts); last log:"
  xt_log_tail "$XT_WORK/xgw3.5.log" 10
fi

xt_finish
