#!/usr/bin/env bash
# Soak: xgw (router pipeline, AF_XDP on veth) under `xgw gen` load for a
# set time.  Run as root:  tests/soak.sh          (DURATION=600 s)
#                          DURATION=60 tests/soak.sh
#
#   ns G                      ns X (xgw router)                    ns S
#   sg0 ────veth──── sx0 [in    router    out] sx1 ────veth──── ss0
#   198.18.0.1/24    198.18.0.2/24     198.19.0.2/24         198.19.0.1/24
#   xgw gen TX                                               xgw gen RX
#
# `xgw gen` (from the root namespace, entering G and S itself) sends IPv4/UDP
# at RATE pps over FLOWS flows with mixed sizes for DURATION seconds; the
# sink is a static neighbour of xgw, so nothing but the generated frames
# crosses.  Every SAMPLE seconds the script records xgw's resident memory
# (VmRSS from /proc/PID/status) and `xgw stats --json`.  At the end:
#   - xgw ran the whole time (never exited) and its log has no panic;
#   - accounting exact once the load stopped and the totals settled:
#     rx + emitted = tx + local + dropped + pending, with pending = 0;
#   - resident memory flat after warm-up: no sample after WARMUP seconds is
#     more than RSS_TOL_KIB (1024 KiB) above the first one after WARMUP;
#   - no drop reason outside ALLOWED_DROPS (default tx.ring_full, the only
#     one that overload may cause on this path) has a count;
#   - xgw gen exited 0 and received frames; every frame it sent and did
#     not get back is counted as a drop: by the kernel at xgw's ingress
#     AF_XDP socket (rx_dropped + rx_ring_full: the worker lost its CPU on
#     a shared machine), by xgw, or at the generator's receive socket.
# It prints a summary (and, with SOAK_OUT=FILE, writes the samples as TSV).
# Knobs: DURATION=600 SAMPLE=10 WARMUP=min(60, DURATION/4) RATE=50000
#        FLOWS=16 SIZES=64,576,1518 RSS_TOL_KIB=1024 ALLOWED_DROPS=tx.ring_full
#        GEN_CPU=0 XGW_CPU=1 SOAK_OUT=  XT_KEEP=1  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=soak
# shellcheck disable=SC2034  # read by lib.sh: namespace names xs-<role>-<pid>
XT_NS_PREFIX=xs-
# shellcheck source-path=SCRIPTDIR source=netns/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns/lib.sh"
xt_init
xt_require_xgw

DURATION=${DURATION:-600}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-$((DURATION / 4 < 60 ? DURATION / 4 : 60))}
RATE=${RATE:-50000}
FLOWS=${FLOWS:-16}
SIZES=${SIZES:-64,576,1518}
RSS_TOL_KIB=${RSS_TOL_KIB:-1024}
ALLOWED_DROPS=${ALLOWED_DROPS:-tx.ring_full}
GEN_CPU=${GEN_CPU:-0}
XGW_CPU=${XGW_CPU:-1}
SOAK_OUT=${SOAK_OUT:-}
((DURATION >= 2 * SAMPLE)) || die "DURATION ($DURATION) must be at least 2 × SAMPLE ($SAMPLE)"
((WARMUP + 2 * SAMPLE <= DURATION)) || die "WARMUP ($WARMUP) leaves fewer than two samples in DURATION ($DURATION)"

NS_G=$(xt_ns g); NS_X=$(xt_ns x); NS_S=$(xt_ns s)
MAC_G=02:50:00:00:01:01; MAC_X0=02:50:00:00:01:02
MAC_X1=02:50:00:00:02:02; MAC_S=02:50:00:00:02:01
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/xgw.toml
LOG=$XT_WORK/xgw.log
TSV=$XT_WORK/samples.tsv

step "lab: $NS_G -> $NS_X (xgw router) -> $NS_S"
xt_ns_add "$NS_G"; xt_ns_add "$NS_X"; xt_ns_add "$NS_S"
xt_veth "$NS_G" sg0 "$NS_X" sx0
xt_veth "$NS_X" sx1 "$NS_S" ss0
xt_dut_if "$NS_G" sg0 "$MAC_G"
xt_dut_if "$NS_X" sx0 "$MAC_X0"
xt_dut_if "$NS_X" sx1 "$MAC_X1"
xt_dut_if "$NS_S" ss0 "$MAC_S"

cat >"$CFG" <<EOF
# written by tests/soak.sh
[engine]
cores = [$XGW_CPU]
idle = "adaptive"

[engine.umem]
frame_size = 4096

[control]
socket = "$SOCK"

[[ports]]
name = "in"
driver = "af_xdp"
interface = "sx0"

[[ports]]
name = "out"
driver = "af_xdp"
interface = "sx1"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "in"
ipv4 = ["198.18.0.2/24"]

[[interfaces]]
name = "wan"
port = "out"
ipv4 = ["198.19.0.2/24"]

[[neighbors]]
interface = "wan"
ip = "198.19.0.1"
mac = "$MAC_S"

[[neighbors]]
interface = "lan"
ip = "198.18.0.1"
mac = "$MAC_G"
EOF

xt_xgw_start "$NS_X" "$CFG" "$LOG"
XPID=$XT_XGW_PID
xt_xgw_wait_ready "$XPID" "$SOCK" "$LOG" 30 || die "xgw did not come up"
pass "xgw is up (pid $XPID)"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$XPID/status"; }
# sample T: one line of the TSV (seconds, VmRSS KiB, totals, drops by reason)
sample() {
  local f=$XT_WORK/stats.json
  xt_xgw_stats "$SOCK" --json >"$f" || { warn "xgw stats failed at t=$1"; return 1; }
  printf '%s\t%s\t%s\n' "$1" "$(rss)" "$(xt_json "$f" \
    '"\t".join(str(d["totals"][k]) for k in ("rx","tx","dropped","pending","emitted","local")) + "\t" + ",".join("%s=%d" % (k, v["count"]) for k, v in sorted(d["drops"].items()) if v["count"])')" >>"$TSV"
}
printf 't_s\trss_kib\trx\ttx\tdropped\tpending\temitted\tlocal\tdrops\n' >"$TSV"

step "load: $RATE pps, $FLOWS flows, sizes $SIZES, for $DURATION s (samples every $SAMPLE s, warm-up $WARMUP s)"
GEN_JSON=$XT_WORK/gen.json
"$XGW" gen --tx sg0 --tx-netns "$NS_G" --rx ss0 --rx-netns "$NS_S" --dst-mac "$MAC_X0" \
  --src-ip 198.18.0.10 --dst-ip 198.19.0.1 --flows "$FLOWS" --size "$SIZES" \
  --rate "$RATE" --duration "$DURATION" --tx-core "$GEN_CPU" --rx-core "$GEN_CPU" \
  --tx-wait sleep --rx-wait poll --json -q >"$GEN_JSON" 2>"$XT_WORK/gen.err" &
GEN_PID=$!
XT_PIDS+=("$GEN_PID")
T0=$SECONDS
died=0
while kill -0 "$GEN_PID" 2>/dev/null; do
  sleep "$SAMPLE"
  if ! kill -0 "$XPID" 2>/dev/null; then died=1; break; fi
  kill -0 "$GEN_PID" 2>/dev/null || break   # the last sample is taken after the load
  sample $((SECONDS - T0)) || true
  tail -n 1 "$TSV" | awk -F'\t' '{ printf "  t=%4ss rss=%s KiB rx=%s tx=%s dropped=%s %s\n", $1, $2, $3, $4, $5, $9 }'
done
gen_rc=0
wait "$GEN_PID" || gen_rc=$?

step "checks"
if ((died)) || ! kill -0 "$XPID" 2>/dev/null; then
  fail "xgw exited during the soak"; xt_log_tail "$LOG" 30
  xt_finish
fi
pass "xgw ran for the whole soak ($((SECONDS - T0)) s)"
check_eq "xgw gen exit status" 0 "$gen_rc" "$( ((gen_rc == 0)) || tail -n 3 "$XT_WORK/gen.err" | tr '\n' ' ')"
sent=$(xt_json "$GEN_JSON" 'd["result"]["tx"]["sent"]' 2>/dev/null || echo 0)
recv=$(xt_json "$GEN_JSON" 'd["result"]["rx"]["received"]' 2>/dev/null || echo 0)
lost=$(xt_json "$GEN_JSON" 'd["result"]["rx"]["lost"]' 2>/dev/null || echo "?")
if ((recv > 0)); then pass "xgw gen: sent $sent, received $recv, lost $lost"
else fail "xgw gen received nothing (sent $sent)"; fi

# settle: two equal readings of the totals 1 s apart (at most 15 s)
prev=""
for ((i = 0; i < 15; i++)); do
  sleep 1
  xt_xgw_stats "$SOCK" --json >"$XT_WORK/final.json" || die "xgw stats failed after the load"
  cur=$(xt_json "$XT_WORK/final.json" '[d["totals"][k] for k in ("rx","tx","dropped","pending","emitted","local")]')
  [[ $cur == "$prev" ]] && break
  prev=$cur
done
sample $((SECONDS - T0))
F=$XT_WORK/final.json
rx=$(xt_json "$F" 'd["totals"]["rx"]'); em=$(xt_json "$F" 'd["totals"]["emitted"]')
tx=$(xt_json "$F" 'd["totals"]["tx"]'); lo=$(xt_json "$F" 'd["totals"]["local"]')
dr=$(xt_json "$F" 'd["totals"]["dropped"]'); pe=$(xt_json "$F" 'd["totals"]["pending"]')
check_eq "totals rx + emitted = tx + local + dropped + pending ($rx + $em = $tx + $lo + $dr + $pe)" \
  "$((rx + em))" "$((tx + lo + dr + pe))"
check_eq "nothing pending after the load" 0 "$pe"
if ((rx >= recv && recv > 0)); then pass "xgw received $rx frames (≥ what the generator got back)"
else fail "xgw rx $rx < generator received $recv"; fi

# end to end: every frame the generator sent and did not get back was
# dropped where it was counted: by the kernel at xgw's ingress socket
# (rx_dropped: fill ring empty, rx_ring_full), by xgw (a drop reason), or
# by the kernel at the generator's receive socket
ksum() { xt_json "$1" "d['rx_dropped'] + d['rx_ring_full']"; }
xt_port "$F" in kernel >"$XT_WORK/k_in.json"
xt_json "$GEN_JSON" 'd["result"]["rx"]["kernel"]' >"$XT_WORK/k_gen.json"
k_in=$(ksum "$XT_WORK/k_in.json"); k_gen=$(ksum "$XT_WORK/k_gen.json")
check_eq "generator's missing frames = xgw ingress socket drops ($k_in) + xgw drops ($dr) + receiver socket drops ($k_gen)" \
  "$((sent - recv))" "$((k_in + dr + k_gen))"
unexpected=$(xt_json "$F" "sorted('%s=%d' % (k, v['count']) for k, v in d['drops'].items() if v['count'] and k not in '$ALLOWED_DROPS'.split(','))")
check_eq "no drop reason outside {$ALLOWED_DROPS}" "[]" "$unexpected" \
  "(all: $(xt_json "$F" "{k: v['count'] for k, v in d['drops'].items() if v['count']}"))"
if grep -qE 'panicked| ERROR ' "$LOG"; then fail "xgw's log has an error: $(grep -E 'panicked| ERROR ' "$LOG" | head -n 3)"
else pass "no error or panic in xgw's log"; fi

# resident memory after warm-up
read -r first_t first_rss max_rss last_rss n_after <<<"$(awk -F'\t' -v w="$WARMUP" '
  NR > 1 && $1 >= w { if (!n) { ft = $1; f = $2; m = $2 } if ($2 > m) m = $2; l = $2; n++ }
  END { print ft, f, m, l, n }' "$TSV")"
if ((n_after >= 2)); then
  growth=$((max_rss - first_rss))
  if ((growth <= RSS_TOL_KIB)); then
    pass "resident memory flat after warm-up: $first_rss KiB at t=${first_t}s, max $max_rss, end $last_rss ($n_after samples, growth $growth KiB ≤ $RSS_TOL_KIB)"
  else
    fail "resident memory grew $growth KiB after warm-up ($first_rss KiB at t=${first_t}s -> max $max_rss, end $last_rss)"
  fi
else
  fail "fewer than two samples after the warm-up ($n_after)"
fi

step "summary"
echo "  duration ${DURATION} s at $RATE pps ($FLOWS flows, sizes $SIZES); xgw gen sent $sent, received $recv, lost $lost"
echo "  xgw totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
echo "  drops: $(xt_json "$F" "{k: v['count'] for k, v in d['drops'].items() if v['count']}")"
echo "  VmRSS: start $(awk -F'\t' 'NR == 2 { print $2 }' "$TSV") KiB, after warm-up $first_rss KiB, max $max_rss KiB, end $last_rss KiB"
echo "  kernel socket counters: in $(xt_port "$F" in kernel), out $(xt_port "$F" out kernel)"
echo "  xgw gen's receive socket: $(xt_json "$GEN_JSON" 'd["result"]["rx"]["kernel"]' 2>/dev/null)"
echo "  xgw ports: in rx $(xt_port "$F" in rx) tx $(xt_port "$F" in tx), out rx $(xt_port "$F" out rx) tx $(xt_port "$F" out tx)"
if [[ -n $SOAK_OUT ]]; then cp "$TSV" "$SOAK_OUT"; echo "  samples written to $SOAK_OUT"; fi
xt_xgw_stop "$XPID" TERM 10
check_eq "SIGTERM exit status" 0 "$XT_RC"
xt_finish
