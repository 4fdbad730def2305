#!/usr/bin/env bash
# xgw against its peers, back to back, in the veth/netns harness of
# ../../../shared/bench-peers (gen -> DUT -> sink, 60-byte frames).
#
#   sudo bench/netns/compare.sh            # summary table on stdout
#
# For every DUT_NAPI placement in NAPI_LIST it runs, one after the other:
#   gen-ceiling      generator straight into an XDP_DROP sink (the ceiling)
#   gen-ceiling-skb  generator into the skb-path sink the 3-namespace modes use
#   kernel-fwd       Linux IPv4 forwarding in the DUT namespace
#   dpdk-io          dpdk-testpmd io forwarding over net_af_xdp
#   xgw-<idle>       xgw (l2fwd, "mac" mode, dut0 -> dut1) as `run.sh engine`,
#                    once per idle policy in XGW_IDLES
# The gen-ceiling modes do not involve the DUT, so they run once (with the
# first placement).  Each is RUNS windows of DURATION s; figures are medians.
#
# Knobs (env), with defaults:
#   BENCH_PEERS=$(dirname $0)/../../../shared/bench-peers   the harness
#   NAPI_LIST="threaded softirq"   DUT_NAPI placements to measure
#   MODES="gen-ceiling gen-ceiling-skb kernel-fwd dpdk-io xgw"
#   XGW_IDLES="busy-poll adaptive"  one xgw run per token IDLE[@BURST]
#                    (engine.idle, and engine.burst if not XGW_BURST)
#   XGW_BURST=64 XGW_RING=2048 XGW_FRAMES=8192 XGW_FRAME_SIZE=4096
#   XGW_XDP_MODE=auto XGW_BUSY_BUDGET=0 XGW_MAC_MODE=mac
#   XGW=<repo>/target/release/xgw (built with cargo unless SKIP_BUILD=1)
#   RESULTS=<repo>/bench/results   where the raw log and xgw stats go
#   ENGINE_READY_WAIT=3 XGW_STATS_EVERY=2 (s between `xgw stats --json` snapshots)
#   and every knob of bench-peers/run.sh, passed through unchanged:
#   RUNS=5 DURATION=5 WARMUP=2 GEN SIZES GEN_PPS GEN_FLOWS GEN_CPU DUT_CPU
#   SINK_CPU PB_NICE DPDK_BUSY_BUDGET DPDK_RXD DPDK_MBUFS KEEP_LOGS VERBOSE ...
#
# Output: the summary on stdout; in $RESULTS/compare-<stamp>.log everything
# run.sh printed (per-run lines, CPU split), the result lines, and per xgw run
# the generated config, xgw's log (with the final counters it prints on exit)
# and the last `xgw stats --json` snapshot (files first written to
# XGW_ARTIFACTS=${TMPDIR:-/tmp}/xgw-compare-<stamp>/).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH_PEERS=${BENCH_PEERS:-$HERE/../../../shared/bench-peers}
NAPI_LIST=${NAPI_LIST:-threaded softirq}
MODES=${MODES:-gen-ceiling gen-ceiling-skb kernel-fwd dpdk-io xgw}
XGW_IDLES=${XGW_IDLES:-busy-poll adaptive}
XGW=${XGW:-$ROOT/target/release/xgw}
RESULTS=${RESULTS:-$ROOT/bench/results}
export RUNS=${RUNS:-5}
export ENGINE_READY_WAIT=${ENGINE_READY_WAIT:-3}
export XGW_BURST=${XGW_BURST:-64} XGW_RING=${XGW_RING:-2048} XGW_FRAMES=${XGW_FRAMES:-8192}
export XGW_FRAME_SIZE=${XGW_FRAME_SIZE:-4096} XGW_XDP_MODE=${XGW_XDP_MODE:-auto}
export XGW_BUSY_BUDGET=${XGW_BUSY_BUDGET:-0} XGW_MAC_MODE=${XGW_MAC_MODE:-mac}
export XGW_STATS_EVERY=${XGW_STATS_EVERY:-2}

say() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { say "FATAL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (the harness creates namespaces)"
[[ -x $BENCH_PEERS/run.sh ]] || die "no harness at $BENCH_PEERS/run.sh (set BENCH_PEERS)"
BENCH_PEERS=$(cd "$BENCH_PEERS" && pwd)
((RUNS >= 5)) || say "warning: RUNS=$RUNS; medians of fewer than 5 runs are very noisy here"

# ---- xgw ---------------------------------------------------------------------
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  say "building xgw (release)"
  if ! (cd "$ROOT" && cargo build --release -p xgw-engine) >&2; then
    [[ -x $XGW ]] || die "cargo build failed and there is no $XGW"
    say "warning: cargo build failed; using the existing $XGW"
  fi
fi
[[ -x $XGW ]] || die "no xgw binary at $XGW"
TEMPLATE=$HERE/xgw-l2fwd.toml.in
[[ -r $TEMPLATE ]] || die "missing $TEMPLATE"

# ---- output --------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
LOG=$RESULTS/compare-$STAMP.log
# per-xgw-run files (config, xgw's log, stats snapshot); copied into $LOG at
# the end, since only bench/results/*.log is ignored by git
OUT=${XGW_ARTIFACTS:-${TMPDIR:-/tmp}/xgw-compare-$STAMP}
mkdir -p "$OUT"
{
  echo "# compare.sh $STAMP"
  echo "# host: $(uname -sr) $(nproc) CPUs; $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "# xgw: $("$XGW" --version 2>&1) git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)"
  echo "# knobs: NAPI_LIST='$NAPI_LIST' MODES='$MODES' XGW_IDLES='$XGW_IDLES'" \
    "RUNS=$RUNS DURATION=${DURATION:-5} WARMUP=${WARMUP:-2} GEN=${GEN:-xdpgen} SIZES=${SIZES:-60}" \
    "GEN_CPU=${GEN_CPU:-0} DUT_CPU=${DUT_CPU:-1} SINK_CPU=${SINK_CPU:-0}" \
    "XGW_BURST=$XGW_BURST XGW_RING=$XGW_RING XGW_FRAMES=$XGW_FRAMES XGW_XDP_MODE=$XGW_XDP_MODE" \
    "XGW_BUSY_BUDGET=$XGW_BUSY_BUDGET XGW_MAC_MODE=$XGW_MAC_MODE"
} >"$LOG"
say "raw log: $LOG"

# ---- the DUT command for `run.sh engine` -----------------------------------------
# Runs inside pb-dut (taskset DUT_CPU, nice PB_NICE) with the PB_* variables.
# run.sh starts it in the background of a non-interactive shell, so it
# inherits SIGINT *ignored* and a shell cannot trap it: the shell therefore
# execs xgw (which installs its own SIGINT handler), and xgw prints its final
# counters (kernel rx_ring_full etc. included) into $label.xgw.log when run.sh
# stops it.  A background loop snapshots `xgw stats --json` every
# XGW_STATS_EVERY s (0 = never) into $label.stats.json.
# shellcheck disable=SC2016
ENGINE_SH='
set -u
xgw=$1 tmpl=$2 out=$3 label=$4 idle=$5
cfg=$PB_WORK/xgw.toml sock=$PB_WORK/xgw.sock
sed -e "s|@CPU@|$PB_DUT_CPU|g" -e "s|@IDLE@|$idle|g" -e "s|@BURST@|$XGW_BURST|g" \
    -e "s|@FRAMES@|$XGW_FRAMES|g" -e "s|@FRAME_SIZE@|$XGW_FRAME_SIZE|g" \
    -e "s|@SOCKET@|$sock|g" -e "s|@DUT_IN@|$PB_DUT_IN|g" -e "s|@DUT_OUT@|$PB_DUT_OUT|g" \
    -e "s|@XDP_MODE@|$XGW_XDP_MODE|g" -e "s|@RING@|$XGW_RING|g" \
    -e "s|@BUSY_BUDGET@|$XGW_BUSY_BUDGET|g" -e "s|@MAC_MODE@|$XGW_MAC_MODE|g" \
    -e "s|@GEN_MAC@|$PB_GEN_MAC|g" -e "s|@SINK_MAC@|$PB_SINK_MAC|g" "$tmpl" >"$cfg" || exit 1
cp "$cfg" "$out/$label.toml"
me=$$
(
  # xgw checks engine.cores against the CPUs it may run on (its affinity), so
  # it is started on all online CPUs (below); pin all its threads back to
  # DUT_CPU once it runs (its worker pins itself to cores = [DUT_CPU]).
  sleep 1
  taskset -a -p -c "$PB_DUT_CPU" "$me" >/dev/null 2>&1
  every=${XGW_STATS_EVERY:-2}
  [ "$every" -gt 0 ] || exit 0
  while kill -0 "$me" 2>/dev/null; do
    "$xgw" stats --json --socket "$sock" >"$out/$label.stats.tmp" 2>/dev/null \
      && mv "$out/$label.stats.tmp" "$out/$label.stats.json"
    sleep "$every"
  done
  rm -f "$out/$label.stats.tmp"
) </dev/null >/dev/null 2>&1 &
exec taskset -c "$(cat /sys/devices/system/cpu/online)" "$xgw" run --config "$cfg" >"$out/$label.xgw.log" 2>&1
'

# ---- running the harness -----------------------------------------------------------
declare -A DEL LOSS OFF MIN MAX
wait_free() { # the harness owns pb-gen/pb-dut/pb-sink: do not trample another run
  local i
  for i in $(seq 60); do
    ip netns list | grep -qE '^pb-(gen|dut|sink)( |$)' || return 0
    ((i == 1)) && say "pb-* namespaces exist (another bench-peers run?); waiting"
    sleep 5
  done
  die "pb-* namespaces still present after 5 min"
}

run_one() { # LABEL NAPI MODE [-- ENGINE...]
  local label=$1 napi=$2 mode=$3 res line
  shift 3
  wait_free
  say "== $label (DUT_NAPI=$napi)"
  echo "## $label: DUT_NAPI=$napi $BENCH_PEERS/run.sh $mode $*" >>"$LOG"
  res=$(mktemp)
  if DUT_NAPI=$napi "$BENCH_PEERS/run.sh" "$mode" "$@" 2>&1 >"$res" | tee -a "$LOG" >&2; then
    line=$(tail -1 "$res")
  else
    line=""
  fi
  rm -f "$res"
  if [[ $line != MODE=* ]]; then
    say "$label: harness failed (see $LOG)"
    echo "RESULT label=$label dut_napi=$napi FAILED" >>"$LOG"
    DEL[$label]=FAILED
    return 0
  fi
  echo "RESULT label=$label dut_napi=$napi $line" >>"$LOG"
  say "$label: $line"
  DEL[$label]=$(sed -n 's/.* delivered_pps=\([0-9.]*\).*/\1/p' <<<"$line")
  OFF[$label]=$(sed -n 's/.* offered_pps=\([0-9.]*\).*/\1/p' <<<"$line")
  LOSS[$label]=$(sed -n 's/.* loss=\([0-9.]*\).*/\1/p' <<<"$line")
  MIN[$label]=$(sed -n 's/.* min_delivered_pps=\([0-9.]*\).*/\1/p' <<<"$line")
  MAX[$label]=$(sed -n 's/.* max_delivered_pps=\([0-9.]*\).*/\1/p' <<<"$line")
}

has_mode() { [[ " $MODES " == *" $1 "* ]]; }

ORDER=()   # labels in table order
first=1
for napi in $NAPI_LIST; do
  if ((first)); then
    for m in gen-ceiling gen-ceiling-skb; do
      if has_mode "$m"; then run_one "$m" "$napi" "$m"; ORDER+=("$m"); fi
    done
    first=0
  fi
  for m in kernel-fwd dpdk-io dpdk-mac; do
    if has_mode "$m"; then run_one "$napi/$m" "$napi" "$m"; ORDER+=("$napi/$m"); fi
  done
  if has_mode xgw; then
    for v in $XGW_IDLES; do   # IDLE or IDLE@BURST
      idle=${v%@*} burst=$XGW_BURST label="$napi/xgw-$idle"
      if [[ $v == *@* ]]; then burst=${v#*@} label+="-b$burst"; fi
      XGW_BURST=$burst run_one "$label" "$napi" engine -- sh -c "$ENGINE_SH" xgw-dut "$XGW" "$TEMPLATE" "$OUT" \
        "${label//\//.}" "$idle"
      ORDER+=("$label")
    done
  fi
done

# ---- where xgw's frames went ---------------------------------------------------------------
xgw_losses() { # LABEL -> one line from the stats snapshot
  local f=$OUT/${1//\//.}.stats.json
  [[ -s $f ]] || { echo "(no stats snapshot)"; return; }
  jq -r '. as $s | [.ports[] | "\(.name): rx=\(.rx) tx=\(.tx) dropped=\(.dropped)"
          + (if .kernel then " k.rx_dropped=\(.kernel.rx_dropped) k.rx_ring_full=\(.kernel.rx_ring_full) k.rx_fill_ring_empty=\(.kernel.rx_fill_ring_empty) k.tx_ring_empty=\(.kernel.tx_ring_empty)" else "" end)]
          | join("; ") + " | drops: " + ([$s.drops | to_entries[] | "\(.key)=\(.value.count)"] | join(" "))' "$f" 2>/dev/null || echo "(unreadable: $(head -c 200 "$f"))"
}

for l in "${ORDER[@]}"; do
  [[ $l == *"/xgw-"* ]] || continue
  for f in "$OUT/${l//\//.}".{toml,xgw.log,stats.json}; do
    [[ -e $f ]] || continue
    echo "## artifact $l: ${f##*/}"
    cat "$f"
    echo
  done
done >>"$LOG"

# ---- summary ----------------------------------------------------------------------------
fmt() { [[ $1 == FAILED || -z $1 ]] && echo "${1:--}" || awk -v v="$1" 'BEGIN{printf "%.0f", v}'; }
ratio() { # A B -> A/B
  [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "-" }' || echo "-"
}
{
  echo
  echo "xgw vs peers, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, GEN=${GEN:-xdpgen} SIZES=${SIZES:-60}" \
    "RUNS=$RUNS DURATION=${DURATION:-5}s; medians (min..max of delivered)"
  for napi in $NAPI_LIST; do
    xgws=()
    for l in "${ORDER[@]}"; do [[ $l == "$napi/xgw-"* ]] && xgws+=("$l"); done
    echo
    echo "DUT_NAPI=$napi"
    hdr=$(printf '%-22s %12s %12s %21s %7s' mode offered_pps delivered_pps "min..max" loss)
    for x in "${xgws[@]}"; do hdr+=$(printf ' %21s' "${x#*/}/row"); done
    echo "$hdr"
    for l in "${ORDER[@]}"; do
      [[ $l == gen-ceiling* || $l == "$napi/"* ]] || continue
      row=$(printf '%-22s %12s %12s %21s %7s' "${l#*/}" "$(fmt "${OFF[$l]:-}")" "$(fmt "${DEL[$l]:-}")" \
        "$(fmt "${MIN[$l]:-}")..$(fmt "${MAX[$l]:-}")" "${LOSS[$l]:--}")
      if [[ $l != *"/xgw-"* ]]; then
        for x in "${xgws[@]}"; do row+=$(printf ' %21s' "$(ratio "${DEL[$x]:-}" "${DEL[$l]:-}")"); done
      fi
      echo "$row"
    done
    for x in "${xgws[@]}"; do echo "  ${x#*/} counters at exit: $(xgw_losses "$x")"; done
  done
  echo
  echo "ratio columns: delivered_pps(xgw variant) / delivered_pps(row), same run of this script"
  echo "raw: $LOG (run.sh output, result lines, xgw configs/logs/stats; also in $OUT/)"
} | tee -a "$LOG"
