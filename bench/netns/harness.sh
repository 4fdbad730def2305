#!/usr/bin/env bash
# xgw against its peers in generator – DUT – sink namespaces, driven by
# `xgw gen` (AF_XDP generator on the first veth, receiver on the last one),
# back to back in one invocation.  Self-contained: it builds its own
# namespaces and starts every DUT itself.
#
#   sudo bench/netns/harness.sh            # summary table on stdout (~4 min)
#
#   ns gen                  ns dut                                  ns sink
#   xgen0 ─────veth───── xdut0 [ DUT ] xdut1 ─────veth───── xsink0
#   198.18.0.1/24      198.18.0.2/24   198.19.0.2/24          198.19.0.1/24
#   xgw gen TX                                               xgw gen RX (XDP → AF_XDP)
#
# Modes (MODES, in this order):
#   gen-ceiling   xgen0 ↔ xsink0 directly: what the generator and its receiver
#                 can move with nothing in between (same CPU placement)
#   kernel-fwd    Linux IPv4 forwarding in the DUT namespace
#   dpdk-io       dpdk-testpmd (Debian's dpdk-dev), net_af_xdp on both DUT
#                 veths, --forward-mode=io (no header work), burst 64
#   xgw-router    xgw run, router pipeline (configs/router.toml format):
#                 lan = xdut0 198.18.0.2/24, wan = xdut1 198.19.0.2/24, the
#                 sink a static neighbour: parse, LPM, TTL, MAC rewrite
#   xgw-l2fwd     xgw run, L2 forwarder "mac" mode (optional)
# Each is RUNS runs of `xgw gen --duration DURATION` at line rate (or RATE)
# after a WARMUP-second run that is thrown away; figures are medians.
# offered = packets xgw gen sent / s; delivered = packets its receiver got
# (signature, sequence number and checksums checked) / s of sending;
# loss = 1 - delivered/offered.
#
# Where the work runs (2 CPUs), as in ../shared/bench-peers' "softirq" placement:
#   GEN_CPU (0): xgw gen's TX thread (--tx-wait sleep: paced trials send
#     whole bursts and sleep in between) and its RX thread (--rx-wait poll:
#     it sleeps while its ring is empty), xsink0's NAPI (threaded, pinned), and
#     with DUT_NAPI=softirq xdut0's NAPI (the DUT's RX copy / skb build)
#   DUT_CPU (1): the DUT process; kernel-fwd's forwarding (RPS)
# DUT_NAPI=threaded instead runs xdut0/xdut1's NAPI in kthreads on DUT_CPU.
#
# Knobs (env), with defaults:
#   RUNS=5 DURATION=5 WARMUP=1 SIZE=64 FLOWS=1 RATE=line
#   MODES="gen-ceiling kernel-fwd dpdk-io xgw-router"   NAPI_LIST=softirq
#   GEN_CPU=0 DUT_CPU=1 SINK_CPU=$GEN_CPU PB_NICE=-20
#   XGW_IDLE=busy-poll XGW_BURST=64 XGW_FRAMES=8192
#   RFC2544=0 (1: also an RFC 2544 zero-loss search per mode: RFC_TRIAL=2 s,
#     RFC_RES=2 %, RFC_MAX_TRIALS=14, RFC_TOL=0 % loss accepted)
#   XGW=<repo>/target/release/xgw (built unless SKIP_BUILD=1)
#   RESULTS=<repo>/bench/results  (raw log: harness-<stamp>.log, gitignored)
#   KEEP=0 (1: keep the work directory with every JSON and DUT log)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SIZE=${SIZE:-64}
FLOWS=${FLOWS:-1}
RATE=${RATE:-line}
MODES=${MODES:-gen-ceiling kernel-fwd dpdk-io xgw-router}
NAPI_LIST=${NAPI_LIST:-softirq}
GEN_CPU=${GEN_CPU:-0}
DUT_CPU=${DUT_CPU:-1}
SINK_CPU=${SINK_CPU:-$GEN_CPU}
PB_NICE=${PB_NICE:--20}
XGW_IDLE=${XGW_IDLE:-busy-poll}
XGW_BURST=${XGW_BURST:-64}
XGW_FRAMES=${XGW_FRAMES:-8192}
RFC2544=${RFC2544:-0}
RFC_TRIAL=${RFC_TRIAL:-2}
RFC_RES=${RFC_RES:-2}
RFC_MAX_TRIALS=${RFC_MAX_TRIALS:-14}
RFC_TOL=${RFC_TOL:-0}
XGW=${XGW:-$ROOT/target/release/xgw}
RESULTS=${RESULTS:-$ROOT/bench/results}
KEEP=${KEEP:-0}

NS_GEN=xh-gen-$$ NS_DUT=xh-dut-$$ NS_SINK=xh-sink-$$
IF_GEN=xgen0 IF_DIN=xdut0 IF_DOUT=xdut1 IF_SINK=xsink0
MAC_GEN=02:00:00:00:01:01 MAC_DIN=02:00:00:00:01:02
MAC_DOUT=02:00:00:00:02:02 MAC_SINK=02:00:00:00:02:01
IP_GEN=198.18.0.1 IP_DIN=198.18.0.2 IP_DOUT=198.19.0.2 IP_SINK=198.19.0.1

say() { echo "[harness $(date +%H:%M:%S)] $*" >&2; }
die() { say "FATAL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (namespaces, XDP, AF_XDP)"
((RUNS >= 1)) || die "RUNS must be at least 1"
((RUNS >= 5)) || say "warning: RUNS=$RUNS; medians of fewer than 5 runs are noisy here"
for m in $MODES; do
  case $m in gen-ceiling | kernel-fwd | dpdk-io | xgw-router | xgw-l2fwd) ;;
    *) die "unknown mode $m (gen-ceiling kernel-fwd dpdk-io xgw-router xgw-l2fwd)" ;;
  esac
done
for n in $NAPI_LIST; do [[ $n == softirq || $n == threaded ]] || die "NAPI_LIST: softirq or threaded, not $n"; done
if pgrep "^napi/$IF_SINK-" >/dev/null; then
  die "NAPI threads of another $IF_SINK exist (another harness run?); wait for it to finish"
fi

# ---- packages and binaries ----------------------------------------------------
need=(iproute2 ethtool python3 procps util-linux)
[[ " $MODES " == *" dpdk-io "* ]] && need+=(dpdk-dev librte-net-af-xdp23)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed"
fi
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  say "building xgw (release)"
  (cd "$ROOT" && cargo build --release -q -p xgw-engine) >&2 || die "cargo build failed"
fi
[[ -x $XGW ]] || die "no xgw binary at $XGW"

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
LOG=$RESULTS/harness-$STAMP.log
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xgw-harness.XXXXXX")
{
  echo "# harness.sh $STAMP"
  echo "# host: $(uname -sr) $(nproc) CPUs; $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"'); $(lscpu | sed -n 's/^Model name: *//p')"
  echo "# xgw: $("$XGW" --version 2>&1) git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)"
  echo "# knobs: MODES='$MODES' NAPI_LIST='$NAPI_LIST' RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP SIZE=$SIZE FLOWS=$FLOWS RATE=$RATE" \
    "GEN_CPU=$GEN_CPU DUT_CPU=$DUT_CPU SINK_CPU=$SINK_CPU XGW_IDLE=$XGW_IDLE XGW_BURST=$XGW_BURST" \
    "RFC2544=$RFC2544 RFC_TRIAL=$RFC_TRIAL RFC_RES=$RFC_RES RFC_TOL=$RFC_TOL"
  echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$LOG"
say "raw log: $LOG"

PIDS=()
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
teardown() {
  local p ns
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  PIDS=()
  for ns in "$NS_GEN" "$NS_DUT" "$NS_SINK"; do ip netns del "$ns" 2>/dev/null || true; done
}
cleanup() {
  local rc=$?
  teardown
  rm -rf "/var/run/dpdk/xh-$$"
  if [[ $KEEP == 1 ]]; then say "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- topology -------------------------------------------------------------------
ns_add() {
  ip netns add "$1"
  nsx "$1" ip link set lo up
  nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}
pin_napi() { # IF CPU: pin the NAPI kthreads of IF (named napi/IF-<id>)
  local pid comm n=0
  while read -r pid comm; do
    if [[ $comm == "napi/$1-"* ]]; then
      taskset -p -c "$2" "$pid" >/dev/null
      renice -n "$PB_NICE" -p "$pid" >/dev/null
      n=$((n + 1))
    fi
  done < <(ps -eo pid=,comm=)
  ((n > 0)) || say "warning: no NAPI thread for $1"
}
napi_threaded() { # NS IF CPU (veth: GRO on gives it a NAPI instance first)
  nsx "$1" ethtool -K "$2" gro on >/dev/null
  nsx "$1" sh -c "echo 1 > /sys/class/net/$2/threaded"
  pin_napi "$2" "$3"
}
rps() { # NS IF CPU
  nsx "$1" sh -c "printf '%x' $((1 << $3)) > /sys/class/net/$2/queues/rx-0/rps_cpus"
}
setup() { # 2ns|3ns NAPI
  teardown
  ns_add "$NS_GEN"; ns_add "$NS_SINK"
  if [[ $1 == 3ns ]]; then
    ns_add "$NS_DUT"
    ip link add "$IF_GEN" netns "$NS_GEN" type veth peer name "$IF_DIN" netns "$NS_DUT"
    ip link add "$IF_DOUT" netns "$NS_DUT" type veth peer name "$IF_SINK" netns "$NS_SINK"
    nsx "$NS_DUT" ip link set "$IF_DIN" address $MAC_DIN up
    nsx "$NS_DUT" ip link set "$IF_DOUT" address $MAC_DOUT up
  else
    ip link add "$IF_GEN" netns "$NS_GEN" type veth peer name "$IF_SINK" netns "$NS_SINK"
  fi
  nsx "$NS_GEN" ip link set "$IF_GEN" address $MAC_GEN up
  nsx "$NS_SINK" ip link set "$IF_SINK" address $MAC_SINK up
  # the receiver's RX copy (xsink0's NAPI) runs on SINK_CPU
  napi_threaded "$NS_SINK" "$IF_SINK" "$SINK_CPU"
  [[ $1 == 3ns ]] || return 0
  local i
  for i in "$IF_DIN" "$IF_DOUT"; do
    case $2 in
      threaded) napi_threaded "$NS_DUT" "$i" "$DUT_CPU" ;;
      # NAPI in softirq on the sending CPU; skb-path work moved to DUT_CPU
      softirq) nsx "$NS_DUT" ethtool -K "$i" gro on >/dev/null; rps "$NS_DUT" "$i" "$DUT_CPU" ;;
    esac
  done
}
dut_addrs() {
  nsx "$NS_DUT" ip addr add $IP_DIN/24 dev "$IF_DIN"
  nsx "$NS_DUT" ip addr add $IP_DOUT/24 dev "$IF_DOUT"
  nsx "$NS_DUT" ip neigh replace $IP_SINK lladdr $MAC_SINK dev "$IF_DOUT" nud permanent
  nsx "$NS_DUT" ip neigh replace $IP_GEN lladdr $MAC_GEN dev "$IF_DIN" nud permanent
}

# ---- DUTs -----------------------------------------------------------------------
wait_log() { # PID LOG PATTERN WHAT
  local i
  for i in $(seq 150); do
    grep -qE "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || { tail -n 20 "$2" >&2; die "$4 exited"; }
    sleep 0.2
  done
  tail -n 20 "$2" >&2
  die "$4 not ready after 30 s"
}
start_kernel_fwd() {
  dut_addrs
  nsx "$NS_DUT" sysctl -qw net.ipv4.ip_forward=1
}
start_dpdk_io() {
  local log=$WORK/$1.dut.log
  nsx "$NS_DUT" sysctl -qw net.ipv4.ip_forward=0
  ip netns exec "$NS_DUT" nice -n "$PB_NICE" dpdk-testpmd --lcores "0@$DUT_CPU,1@$DUT_CPU" --no-huge -m 512 \
    --no-pci --no-shconf --file-prefix "xh-$$" --log-level=pmd.net.af_xdp:info \
    --vdev "net_af_xdp0,iface=$IF_DIN,busy_budget=0" --vdev "net_af_xdp1,iface=$IF_DOUT,busy_budget=0" -- \
    --forward-mode=io --nb-cores=1 --total-num-mbufs=32768 --txd=1024 --rxd=1024 --burst=64 \
    --stats-period 5 >"$log" 2>&1 &
  PIDS+=($!)
  wait_log $! "$log" 'Press enter|Port statistics' testpmd
}
start_xgw() { # LABEL PIPELINE(router|l2fwd)
  local cfg=$WORK/$1.toml log=$WORK/$1.dut.log sock=$WORK/$1.sock
  cat >"$cfg" <<EOF
# written by bench/netns/harness.sh
[engine]
cores = [$DUT_CPU]
burst = $XGW_BURST
idle = "$XGW_IDLE"
[engine.umem]
frames = $XGW_FRAMES
frame_size = 4096
[control]
socket = "$sock"
[[ports]]
name = "in"
driver = "af_xdp"
interface = "$IF_DIN"
[[ports]]
name = "out"
driver = "af_xdp"
interface = "$IF_DOUT"
EOF
  if [[ $2 == router ]]; then
    cat >>"$cfg" <<EOF
[pipeline]
kind = "router"
[[interfaces]]
name = "lan"
port = "in"
ipv4 = ["$IP_DIN/24"]
[[interfaces]]
name = "wan"
port = "out"
ipv4 = ["$IP_DOUT/24"]
[[neighbors]]
interface = "wan"
ip = "$IP_SINK"
mac = "$MAC_SINK"
[[neighbors]]
interface = "lan"
ip = "$IP_GEN"
mac = "$MAC_GEN"
EOF
  else
    cat >>"$cfg" <<EOF
[pipeline]
kind = "l2fwd"
[pipeline.l2fwd]
mode = "mac"
[[pipeline.l2fwd.pairs]]
a = "in"
b = "out"
a_peer = "$MAC_GEN"
b_peer = "$MAC_SINK"
EOF
  fi
  nsx "$NS_DUT" sysctl -qw net.ipv4.ip_forward=0
  ip netns exec "$NS_DUT" nice -n "$PB_NICE" taskset -c "$DUT_CPU" "$XGW" run --config "$cfg" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local i
  for i in $(seq 150); do
    "$XGW" stats --socket "$sock" --json >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "xgw exited"; }
    sleep 0.2
  done
  echo "$sock" >"$WORK/$1.sockpath"
}

# ---- measuring ---------------------------------------------------------------------
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
gen() { # DMAC OUT_JSON EXTRA...
  local dmac=$1 out=$2; shift 2
  nice -n "$PB_NICE" "$XGW" gen --tx "$IF_GEN" --tx-netns "$NS_GEN" --rx "$IF_SINK" --rx-netns "$NS_SINK" \
    --dst-mac "$dmac" --src-ip $IP_GEN --dst-ip $IP_SINK --size "$SIZE" --flows "$FLOWS" \
    --tx-core "$GEN_CPU" --rx-core "$SINK_CPU" --rx-wait poll --tx-wait sleep --json -q "$@" >"$out" 2>"$out.err"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "-"; exit}
  if (NR%2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

declare -A OFF DEL LOSS MIN MAX P50 P99 ZL ZLAT
measure() { # LABEL DMAC
  local label=$1 dmac=$2 i f offs=() dels=() losses=() p50s=() p99s=()
  local fl=${label//\//.}   # file-name form of the label
  local rate=()
  [[ $RATE == line ]] || rate=(--rate "$RATE")
  if ((WARMUP > 0)); then gen "$dmac" "$WORK/$fl.warm.json" --duration "$WARMUP" "${rate[@]}" || true; fi
  for ((i = 1; i <= RUNS; i++)); do
    f=$WORK/$fl.run$i.json
    if ! gen "$dmac" "$f" --duration "$DURATION" "${rate[@]}"; then
      say "$label run $i: xgw gen failed: $(tail -n 2 "$f.err" | tr '\n' ' ')"
      continue
    fi
    local line
    line=$(python3 - "$f" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["result"]
tx, rx = d["tx"], d["rx"]
secs = tx["seconds"] or 1
off = tx["sent"] / secs
dl = rx["received"] / secs
loss = 1 - rx["received"] / tx["sent"] if tx["sent"] else 0
lat = rx["latency_ns"] or {}
print(f'{off:.0f} {dl:.0f} {loss:.4f} {lat.get("p50", 0)} {lat.get("p99", 0)} {rx["kernel"]["rx_dropped"]} {rx["corrupt"]}')
EOF
)
    local off del loss p50 p99 selfdrop corrupt
    read -r off del loss p50 p99 selfdrop corrupt <<<"$line"
    offs+=("$off"); dels+=("$del"); losses+=("$loss"); p50s+=("$p50"); p99s+=("$p99")
    say "$label run $i: offered_pps=$off delivered_pps=$del loss=$loss latency_p50=${p50}ns p99=${p99}ns gen_rx_dropped=$selfdrop corrupt=$corrupt"
    {
      echo "RUN label=$label run=$i offered_pps=$off delivered_pps=$del loss=$loss p50_ns=$p50 p99_ns=$p99 gen_rx_dropped=$selfdrop corrupt=$corrupt"
      echo "JSON $(cat "$f")"
    } >>"$LOG"
  done
  if ((${#dels[@]} == 0)); then DEL[$label]=FAILED; return; fi
  OFF[$label]=$(median "${offs[@]}"); DEL[$label]=$(median "${dels[@]}"); LOSS[$label]=$(median "${losses[@]}")
  P50[$label]=$(median "${p50s[@]}"); P99[$label]=$(median "${p99s[@]}")
  MIN[$label]=$(printf '%s\n' "${dels[@]}" | sort -g | head -1); MAX[$label]=$(printf '%s\n' "${dels[@]}" | sort -g | tail -1)
  echo "RESULT label=$label offered_pps=${OFF[$label]} delivered_pps=${DEL[$label]} loss=${LOSS[$label]} min=${MIN[$label]} max=${MAX[$label]} p50_ns=${P50[$label]} p99_ns=${P99[$label]}" >>"$LOG"
  if [[ $RFC2544 == 1 ]]; then
    f=$WORK/$fl.rfc2544.json
    if gen "$dmac" "$f" --rfc2544 --trial-duration "$RFC_TRIAL" --resolution "$RFC_RES" --max-trials "$RFC_MAX_TRIALS" \
      --loss-tolerance "$RFC_TOL"; then
      ZL[$label]=$(j "$f" 'd["rfc2544"]["zero_loss_pps"]')
      ZLAT[$label]=$(j "$f" '(d["rfc2544"]["latency_ns"] or {}).get("p50", "-")')
      say "$label RFC 2544: zero-loss ${ZL[$label]} pps, p50 latency ${ZLAT[$label]} ns"
      echo "RFC2544 label=$label $(cat "$f")" >>"$LOG"
    else
      ZL[$label]=FAILED
    fi
  fi
}

run_mode() { # NAPI MODE
  local napi=$1 m=$2 label="$1/$2"
  say "== $label"
  case $m in
    gen-ceiling) setup 2ns "$napi"; measure "$label" $MAC_SINK ;;
    kernel-fwd) setup 3ns "$napi"; start_kernel_fwd; measure "$label" $MAC_DIN ;;
    dpdk-io) setup 3ns "$napi"; start_dpdk_io "${label//\//.}"; measure "$label" $MAC_DIN ;;
    xgw-router) setup 3ns "$napi"; start_xgw "${label//\//.}" router; measure "$label" $MAC_DIN ;;
    xgw-l2fwd) setup 3ns "$napi"; start_xgw "${label//\//.}" l2fwd; measure "$label" $MAC_DIN ;;
  esac
  if [[ $m == xgw-* ]]; then
    local sock
    sock=$(cat "$WORK/${label//\//.}.sockpath")
    {
      echo "## xgw stats at the end of $label"
      "$XGW" stats --socket "$sock" 2>&1 || true
    } >>"$LOG"
  fi
  teardown
  for f in "$WORK/${label//\//.}".{toml,dut.log}; do
    [[ -s $f ]] && { echo "## artifact $label: ${f##*/}"; tail -n 60 "$f"; } >>"$LOG"
  done
  return 0
}

ORDER=()
for napi in $NAPI_LIST; do
  for m in $MODES; do
    run_mode "$napi" "$m"
    ORDER+=("$napi/$m")
  done
done

# ---- summary ----------------------------------------------------------------------
fmt() { [[ $1 =~ ^[0-9.]+$ ]] && awk -v v="$1" 'BEGIN{printf "%.0f", v}' || echo "${1:--}"; }
ratio() { [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "-" }' || echo "-"; }
us() { [[ $1 =~ ^[0-9.]+$ ]] && awk -v v="$1" 'BEGIN{printf "%.0f", v/1000}' || echo "-"; }
{
  echo
  echo "xgw gen harness, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, SIZE=$SIZE FLOWS=$FLOWS RATE=$RATE" \
    "RUNS=$RUNS DURATION=${DURATION}s; medians (min..max of delivered); load at end $(cut -d' ' -f1-3 /proc/loadavg)"
  for napi in $NAPI_LIST; do
    xgws=()
    for l in "${ORDER[@]}"; do [[ $l == "$napi/xgw-"* ]] && xgws+=("$l"); done
    ceil=${DEL[$napi/gen-ceiling]:-}
    echo
    echo "DUT_NAPI=$napi"
    hdr=$(printf '%-12s %11s %11s %17s %7s %8s %8s %9s' mode offered delivered "min..max" loss p50_us p99_us /ceiling)
    for x in "${xgws[@]}"; do hdr+=$(printf ' %12s' "${x#*/}/row"); done
    [[ $RFC2544 == 1 ]] && hdr+=$(printf ' %11s %9s' zero_loss p50@zl_us)
    echo "$hdr"
    for l in "${ORDER[@]}"; do
      [[ $l == "$napi/"* ]] || continue
      row=$(printf '%-12s %11s %11s %17s %7s %8s %8s %9s' "${l#*/}" "$(fmt "${OFF[$l]:-}")" "$(fmt "${DEL[$l]:-}")" \
        "$(fmt "${MIN[$l]:-}")..$(fmt "${MAX[$l]:-}")" "${LOSS[$l]:--}" "$(us "${P50[$l]:-}")" "$(us "${P99[$l]:-}")" \
        "$(ratio "${DEL[$l]:-}" "$ceil")")
      for x in "${xgws[@]}"; do
        if [[ $l == "$x" ]]; then row+=$(printf ' %12s' -); else row+=$(printf ' %12s' "$(ratio "${DEL[$x]:-}" "${DEL[$l]:-}")"); fi
      done
      [[ $RFC2544 == 1 ]] && row+=$(printf ' %11s %9s' "$(fmt "${ZL[$l]:-}")" "$(us "${ZLAT[$l]:-}")")
      echo "$row"
    done
  done
  echo
  echo "offered/delivered: packets per second sent by xgw gen / received by it (sequence-checked);" \
    "/ceiling: delivered ÷ gen-ceiling delivered; XGW/row: that xgw mode's delivered ÷ the row's;" \
    "p50/p99: latency (µs) at that offered load, median over the runs"
  echo "raw: $LOG"
} | tee -a "$LOG"
