#!/usr/bin/env bash
# xgw's stateless translator (SIIT, RFC 7915) against Debian's tayga, the
# same lab built twice in one invocation, the same traffic through each,
# and the ratio (issue 14).
#
#   sudo bench/netns/nat64-vs-tayga.sh     # the comparison on stdout (~2 min)
#
#   ns gen (IPv6 only)       ns dut (the translator)                   ns sink (IPv4 only)
#   ngen0 ────veth──── ndut0 [ tayga | xgw ] ndut1 ────veth──── nsink0
#   2001:db8:1::1/64   2001:db8:1::2/64      198.19.0.2/24             198.19.0.1/24
#   xgw gen TX                                                         xgw gen RX (XDP → AF_XDP)
#
# Traffic: `xgw gen` (the generator of bench/netns/harness.sh) sends IPv6/UDP
# from 2001:db8:1::1 port 1024 to 2001:db8:64:ff9b::c613:1 port 9 (the sink
# 198.19.0.1 in the pool6 prefix PREFIX6), SIZE=82-byte frames counted with
# the FCS as RFC 2544 does (the smallest IPv6/UDP frame that holds xgw gen's
# signature: 78 bytes on the wire, 58 once translated to IPv4), as fast as
# it can (RATE=line), RUNS runs of DURATION s after a WARMUP-s run that is
# thrown away; figures are medians. offered = packets sent / s; delivered =
# packets xgw gen's receiver on nsink0 got (signature, sequence number,
# IPv4 header and UDP checksums verified) / s of sending. Then an RFC 2544
# search (as harness.sh's RFC2544=1) for each: the highest paced rate with
# at most RFC_TOL % loss. The two answer different questions: at line rate
# a translator is overloaded (tayga's TUN path livelocks: the kernel's
# forwarding into tayga0 takes the CPU tayga needs); the search says what
# each carries when it is not.
#
# Both translators are stateless, with the same mapping:
#   pool6 / tayga `prefix`:  PREFIX6 (default 2001:db8:64:ff9b::/96: RFC 6052
#     forbids the well-known 64:ff9b::/96 for non-global IPv4 such as the
#     benchmark range 198.18.0.0/15, and tayga enforces it; PREFIX6=64:ff9b::/96
#     tries it anyway, with xgw's wkp_strict on so that xgw enforces it too)
#   the generator 2001:db8:1::1 <-> 198.19.128.2: tayga `map` (static 1:1),
#     xgw `eam` entry /128 <-> /32 (RFC 7757)
#   tayga: `tayga --nodetach` (one thread, a TUN device tayga0) pinned to
#     DUT_CPU; the kernel of ns dut routes PREFIX6 and 198.19.128.0/24 into
#     tayga0 (IPv4 and IPv6 forwarding on), the addresses above on ndut0/ndut1,
#     static neighbours for the generator and the sink
#   xgw:   `xgw run`, router pipeline with [nat64] mode = "siit" pinned to
#     DUT_CPU (one worker, AF_XDP on ndut0/ndut1, copy mode: veth), static
#     neighbours; the kernel of ns dut has no address and IPv6 off
#
# Verification, for each translator after its timed runs:
#   * every timed run: delivered bytes / delivered packets (xgw gen counts
#     the FCS, like SIZE) must be SIZE - 20, the IPv4 frame (an IPv6 one
#     would be SIZE), and no frame corrupt; a run that fails this is left
#     out of the medians and counted as a bad run
#   * VERIFY_COUNT packets at VERIFY_RATE with xgw gen's receiver off and
#     tcpdump on nsink0 (inbound): they must arrive as IPv4/UDP from the
#     generator's IPv4 image 198.19.128.2 to 198.19.0.1, none as IPv6; the
#     TTL seen is printed; nsink0's rx_packets counter moves by as many
#   * the translator's own counters: tayga0's tx (IPv6 into tayga) / rx
#     (IPv4 out of tayga) / tx_dropped (queue to tayga full); xgw's port and
#     drop counters (`xgw stats`)
#
# Where the work runs (2 CPUs), as in harness.sh's default placement:
#   GEN_CPU (0): xgw gen's TX and RX threads, nsink0's NAPI (threaded);
#     with DUT_NAPI=softirq also ndut0's receive NAPI
#   DUT_CPU (1): tayga or xgw; with DUT_NAPI=softirq the skb-path work of
#     ndut0/ndut1 (RPS), i.e. for tayga the kernel's IPv6 and IPv4 forwarding
#   DUT_NAPI=threaded: ndut0/ndut1's NAPI in kthreads on DUT_CPU instead
#
# Knobs (env), with defaults:
#   RUNS=5 DURATION=5 WARMUP=1 SIZE=82 FLOWS=1 RATE=line ORDER="tayga xgw"
#   DUT_NAPI=softirq GEN_CPU=0 DUT_CPU=1 SINK_CPU=$GEN_CPU PB_NICE=-20
#   PREFIX6=2001:db8:64:ff9b::/96  VERIFY_COUNT=1000 VERIFY_RATE=10k
#   XGW_IDLE=busy-poll XGW_BURST=64 XGW_FRAMES=8192
#   RFC2544=1 (0: no RFC 2544 search; it takes about 25 s per translator):
#     RFC_TRIAL=2 s, RFC_RES=2 %, RFC_MAX_TRIALS=14, RFC_TOL=0 % loss accepted
#   XGW=<repo>/target/release/xgw (built with cargo only when missing)
#   RESULTS=<repo>/bench/results (raw log: nat64-vs-tayga-<stamp>.log, gitignored)
#   KEEP=0 (1: keep the work directory: every JSON, config, log and capture)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SIZE=${SIZE:-82}
FLOWS=${FLOWS:-1}
RATE=${RATE:-line}
ORDER=${ORDER:-tayga xgw}
DUT_NAPI=${DUT_NAPI:-softirq}
GEN_CPU=${GEN_CPU:-0}
DUT_CPU=${DUT_CPU:-1}
SINK_CPU=${SINK_CPU:-$GEN_CPU}
PB_NICE=${PB_NICE:--20}
PREFIX6=${PREFIX6:-2001:db8:64:ff9b::/96}
VERIFY_COUNT=${VERIFY_COUNT:-1000}
VERIFY_RATE=${VERIFY_RATE:-10k}
XGW_IDLE=${XGW_IDLE:-busy-poll}
XGW_BURST=${XGW_BURST:-64}
XGW_FRAMES=${XGW_FRAMES:-8192}
RFC2544=${RFC2544:-1}
RFC_TRIAL=${RFC_TRIAL:-2}
RFC_RES=${RFC_RES:-2}
RFC_MAX_TRIALS=${RFC_MAX_TRIALS:-14}
RFC_TOL=${RFC_TOL:-0}
XGW=${XGW:-$ROOT/target/release/xgw}
RESULTS=${RESULTS:-$ROOT/bench/results}
KEEP=${KEEP:-0}

NS_GEN=xn-gen-$$ NS_DUT=xn-dut-$$ NS_SINK=xn-sink-$$
IF_GEN=ngen0 IF_DIN=ndut0 IF_DOUT=ndut1 IF_SINK=nsink0 IF_TUN=tayga0
MAC_GEN=02:00:00:00:01:01 MAC_DIN=02:00:00:00:01:02
MAC_DOUT=02:00:00:00:02:02 MAC_SINK=02:00:00:00:02:01
IP6_GEN=2001:db8:1::1 IP6_DIN=2001:db8:1::2
IP_DOUT=198.19.0.2 IP_SINK=198.19.0.1
IMG4_GEN=198.19.128.2            # the generator seen from IPv4 (static map / EAM)
TAYGA_IP4=198.19.128.1 TAYGA_IP6=2001:db8:64::1 TAYGA_POOL=198.19.128.0/24
SPORT=1024 DPORT=9

say() { echo "[nat64-vs-tayga $(date +%H:%M:%S)] $*" >&2; }
die() { say "FATAL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (namespaces, XDP, AF_XDP, TUN)"
((RUNS >= 1)) || die "RUNS must be at least 1"
((RUNS >= 5)) || say "warning: RUNS=$RUNS; medians of fewer than 5 runs are noisy here"
for t in $ORDER; do [[ $t == tayga || $t == xgw ]] || die "ORDER: tayga and/or xgw, not $t"; done
[[ $DUT_NAPI == softirq || $DUT_NAPI == threaded ]] || die "DUT_NAPI: softirq or threaded, not $DUT_NAPI"
[[ $PREFIX6 == */96 ]] || die "PREFIX6 must be a /96 (the addresses here are built for one)"
# With the Well-Known Prefix, tayga drops what RFC 6052 §3.1 forbids (a
# non-global IPv4 address such as the benchmark range 198.18.0.0/15 behind
# 64:ff9b::/96); xgw does the same only with wkp_strict, so it is set: both
# translators then do the same work (and deliver nothing: the harness
# reports it).
WKP_STRICT=""
case ${PREFIX6,,} in
  64:ff9b::/96 | 64:ff9b:0:0:0:0:0:0/96 | 0064:ff9b::/96) WKP_STRICT="wkp_strict = true" ;;
esac
if pgrep "^napi/$IF_SINK-" >/dev/null; then
  die "NAPI threads of another $IF_SINK exist (another run of this script?); wait for it to finish"
fi

# ---- packages and binaries ----------------------------------------------------
need=(iproute2 ethtool python3 procps util-linux tcpdump tayga)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  # (the tayga package's init script is not started: policy-rc.d, and it has no config)
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed"
fi
if [[ ! -x $XGW ]]; then
  say "no xgw at $XGW: building it (release)"
  (cd "$ROOT" && cargo build --release -q -p xgw-engine) >&2 || die "cargo build failed"
fi
[[ -x $XGW ]] || die "no xgw binary at $XGW"
newer=$(find "$ROOT/engine" "$ROOT/pipelines" -newer "$XGW" -type f -name '*.rs' 2>/dev/null | head -n 2 | tr '\n' ' ')
[[ -z $newer ]] || say "warning: $XGW is older than $newer(cargo build --release -p xgw-engine)"

# the sink's address in PREFIX6 (RFC 6052 /96: the IPv4 address in the last 32 bits)
DST6=$(python3 -c 'import ipaddress as I, sys
n = I.IPv6Network(sys.argv[1]); v = int(I.IPv4Address(sys.argv[2]))
print(I.IPv6Address(int(n.network_address) | v))' "$PREFIX6" "$IP_SINK") || die "bad PREFIX6 $PREFIX6"
FRAME6=$((SIZE - 4)) FRAME4=$((SIZE - 4 - 20))

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
LOG=$RESULTS/nat64-vs-tayga-$STAMP.log
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xgw-nat64-vs-tayga.XXXXXX")
{
  echo "# nat64-vs-tayga.sh $STAMP"
  echo "# host: $(uname -sr) $(nproc) CPUs; $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"'); $(lscpu | sed -n 's/^Model name: *//p')"
  echo "# xgw: $("$XGW" --version 2>&1), binary built $(date -u -r "$XGW" +%Y-%m-%dT%H:%M:%SZ); tree at git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo +dirty)"
  echo "# tayga: $(dpkg-query -W -f='${Version}' tayga 2>/dev/null)"
  echo "# knobs: ORDER='$ORDER' RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP SIZE=$SIZE FLOWS=$FLOWS RATE=$RATE DUT_NAPI=$DUT_NAPI" \
    "GEN_CPU=$GEN_CPU DUT_CPU=$DUT_CPU SINK_CPU=$SINK_CPU PREFIX6=$PREFIX6 XGW_IDLE=$XGW_IDLE XGW_BURST=$XGW_BURST" \
    "VERIFY_COUNT=$VERIFY_COUNT VERIFY_RATE=$VERIFY_RATE RFC2544=$RFC2544 RFC_TRIAL=$RFC_TRIAL RFC_RES=$RFC_RES RFC_TOL=$RFC_TOL"
  echo "# traffic: $IP6_GEN:$SPORT -> $DST6:$DPORT, ${FRAME6}-byte IPv6 frames, expected ${FRAME4}-byte IPv4 $IMG4_GEN -> $IP_SINK"
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
  if [[ $KEEP == 1 ]]; then say "work files kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the lab --------------------------------------------------------------------
ns_add() { # NS ipv4|ipv6
  ip netns add "$1"
  nsx "$1" ip link set lo up
  if [[ $2 == ipv6 ]]; then
    nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
  else
    nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
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
setup() { # TRANSLATOR: the same three namespaces and veths for both
  teardown
  ns_add "$NS_GEN" ipv6
  ns_add "$NS_SINK" ipv4
  # the kernel of ns dut takes part only for tayga
  if [[ $1 == tayga ]]; then ns_add "$NS_DUT" ipv6; else ns_add "$NS_DUT" ipv4; fi
  ip link add "$IF_GEN" netns "$NS_GEN" type veth peer name "$IF_DIN" netns "$NS_DUT"
  ip link add "$IF_DOUT" netns "$NS_DUT" type veth peer name "$IF_SINK" netns "$NS_SINK"
  nsx "$NS_GEN" ip link set "$IF_GEN" address $MAC_GEN up
  nsx "$NS_DUT" ip link set "$IF_DIN" address $MAC_DIN up
  nsx "$NS_DUT" ip link set "$IF_DOUT" address $MAC_DOUT up
  nsx "$NS_SINK" ip link set "$IF_SINK" address $MAC_SINK up
  # the IPv6-only source and the IPv4-only sink, as hosts (xgw gen does not
  # use their stacks, but their kernels see what the translators send back)
  nsx "$NS_GEN" ip -6 addr add "$IP6_GEN/64" dev "$IF_GEN" nodad
  nsx "$NS_GEN" ip -6 route add "$PREFIX6" via "$IP6_DIN"
  nsx "$NS_GEN" ip -6 neigh replace "$IP6_DIN" lladdr "$MAC_DIN" dev "$IF_GEN" nud permanent
  nsx "$NS_SINK" ip addr add "$IP_SINK/24" dev "$IF_SINK"
  nsx "$NS_SINK" ip route add default via "$IP_DOUT"
  nsx "$NS_SINK" ip neigh replace "$IP_DOUT" lladdr "$MAC_DOUT" dev "$IF_SINK" nud permanent
  # the receiver's RX copy (nsink0's NAPI) runs on SINK_CPU
  napi_threaded "$NS_SINK" "$IF_SINK" "$SINK_CPU"
  local i
  for i in "$IF_DIN" "$IF_DOUT"; do
    case $DUT_NAPI in
      threaded) napi_threaded "$NS_DUT" "$i" "$DUT_CPU" ;;
      # NAPI in softirq on the sending CPU; skb-path work moved to DUT_CPU
      softirq) nsx "$NS_DUT" ethtool -K "$i" gro on >/dev/null; rps "$NS_DUT" "$i" "$DUT_CPU" ;;
    esac
  done
}

# ---- the translators --------------------------------------------------------------
DUT_PID=""
start_tayga() {
  local cfg=$WORK/tayga.conf log=$WORK/tayga.log
  cat >"$cfg" <<EOF
# written by bench/netns/nat64-vs-tayga.sh
tun-device $IF_TUN
ipv4-addr $TAYGA_IP4
ipv6-addr $TAYGA_IP6
prefix $PREFIX6
map $IMG4_GEN $IP6_GEN
EOF
  nsx "$NS_DUT" ip -6 addr add "$IP6_DIN/64" dev "$IF_DIN" nodad
  nsx "$NS_DUT" ip addr add "$IP_DOUT/24" dev "$IF_DOUT"
  nsx "$NS_DUT" ip -6 neigh replace "$IP6_GEN" lladdr "$MAC_GEN" dev "$IF_DIN" nud permanent
  nsx "$NS_DUT" ip neigh replace "$IP_SINK" lladdr "$MAC_SINK" dev "$IF_DOUT" nud permanent
  nsx "$NS_DUT" tayga -c "$cfg" --mktun >"$WORK/tayga.mktun.log" 2>&1 || { cat "$WORK/tayga.mktun.log" >&2; die "tayga --mktun failed"; }
  nsx "$NS_DUT" ip link set "$IF_TUN" up
  nsx "$NS_DUT" ip -6 route add "$PREFIX6" dev "$IF_TUN"
  nsx "$NS_DUT" ip route add "$TAYGA_POOL" dev "$IF_TUN"
  nsx "$NS_DUT" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip netns exec "$NS_DUT" nice -n "$PB_NICE" taskset -c "$DUT_CPU" tayga --nodetach -c "$cfg" >"$log" 2>&1 &
  DUT_PID=$!
  PIDS+=("$DUT_PID")
  sleep 1
  kill -0 "$DUT_PID" 2>/dev/null || { cat "$log" >&2; die "tayga exited"; }
}
XGW_SOCK=$WORK/xgw.sock
start_xgw() {
  local cfg=$WORK/xgw.toml log=$WORK/xgw.log
  cat >"$cfg" <<EOF
# written by bench/netns/nat64-vs-tayga.sh
[engine]
cores = [$DUT_CPU]
burst = $XGW_BURST
idle = "$XGW_IDLE"
[engine.umem]
frames = $XGW_FRAMES
frame_size = 4096
[control]
socket = "$XGW_SOCK"
[[ports]]
name = "p6"
driver = "af_xdp"
interface = "$IF_DIN"
[[ports]]
name = "p4"
driver = "af_xdp"
interface = "$IF_DOUT"
[pipeline]
kind = "router"
[[interfaces]]
name = "v6"
port = "p6"
ipv6 = ["$IP6_DIN/64"]
[[interfaces]]
name = "v4"
port = "p4"
ipv4 = ["$IP_DOUT/24"]
[[neighbors]]
interface = "v6"
ip = "$IP6_GEN"
mac = "$MAC_GEN"
[[neighbors]]
interface = "v4"
ip = "$IP_SINK"
mac = "$MAC_SINK"
[nat64]
mode = "siit"
interface = "siit0"
pool6 = "$PREFIX6"
$WKP_STRICT
eam = [ { ipv6 = "$IP6_GEN/128", ipv4 = "$IMG4_GEN/32" } ]
# the generator's IPv4 image leads into the translator (the way back; the
# route for pool6 is added by xgw itself)
[[routes]]
prefix = "$IMG4_GEN/32"
interface = "siit0"
EOF
  "$XGW" check --config "$cfg" >"$WORK/xgw.check" 2>&1 || { cat "$WORK/xgw.check" >&2; die "xgw check refused $cfg"; }
  ip netns exec "$NS_DUT" nice -n "$PB_NICE" taskset -c "$DUT_CPU" "$XGW" run --config "$cfg" >"$log" 2>&1 &
  DUT_PID=$!
  PIDS+=("$DUT_PID")
  local i
  for i in $(seq 150); do
    "$XGW" stats --socket "$XGW_SOCK" --json >/dev/null 2>&1 && return 0
    kill -0 "$DUT_PID" 2>/dev/null || { tail -n 20 "$log" >&2; die "xgw exited"; }
    sleep 0.2
  done
  tail -n 20 "$log" >&2
  die "xgw not ready after 30 s"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # PID: utime+stime
# dut_counters TRANSLATOR: one line of the translator's own counters
ifstat() { nsx "$1" cat "/sys/class/net/$2/statistics/$3"; } # NS IF FIELD
dut_counters() {
  local veth
  veth="$IF_DOUT tx=$(ifstat "$NS_DUT" "$IF_DOUT" tx_packets) tx_dropped=$(ifstat "$NS_DUT" "$IF_DOUT" tx_dropped);"
  veth+=" $IF_SINK rx=$(ifstat "$NS_SINK" "$IF_SINK" rx_packets) rx_dropped=$(ifstat "$NS_SINK" "$IF_SINK" rx_dropped)"
  if [[ $1 == tayga ]]; then
    echo "$IF_TUN tx=$(ifstat "$NS_DUT" "$IF_TUN" tx_packets) (IPv6 to tayga)" \
      "tx_dropped=$(ifstat "$NS_DUT" "$IF_TUN" tx_dropped) (its queue full) rx=$(ifstat "$NS_DUT" "$IF_TUN" rx_packets)" \
      "(IPv4 from tayga); $veth"
  else
    timeout 10 "$XGW" stats --socket "$XGW_SOCK" --json >"$WORK/xgw.stats.json" 2>/dev/null || { echo "xgw stats failed"; return 0; }
    python3 - "$WORK/xgw.stats.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = {q["name"]: q for q in d["ports"]}
k6 = p["p6"]["kernel"]
drops = " ".join(f"{k}={v['count']}" for k, v in sorted(d.get("drops", {}).items()) if v.get("count"))
print(f'xgw p6 rx={p["p6"]["rx"]} (kernel rx_fill_ring_empty={k6["rx_fill_ring_empty"]} rx_ring_full={k6["rx_ring_full"]}), '
      f'p4 tx={p["p4"]["tx"]}, drops: {drops or "none"};', end=" ")
EOF
    echo "$veth"
  fi
}

# ---- measuring ---------------------------------------------------------------------
gen() { # OUT_JSON EXTRA...: xgw gen from the IPv6 source (its receiver on nsink0 unless --no-rx)
  local out=$1; shift
  local rx=(--rx "$IF_SINK" --rx-netns "$NS_SINK" --rx-core "$SINK_CPU" --rx-wait poll)
  if [[ ${1:-} == --no-rx ]]; then rx=(); shift; fi
  nice -n "$PB_NICE" "$XGW" gen --tx "$IF_GEN" --tx-netns "$NS_GEN" "${rx[@]}" \
    --dst-mac "$MAC_DIN" --src-ip "$IP6_GEN" --dst-ip "$DST6" --src-port "$SPORT" --dst-port "$DPORT" \
    --size "$SIZE" --flows "$FLOWS" --tx-core "$GEN_CPU" --tx-wait sleep --json -q "$@" >"$out" 2>"$out.err"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "-"; exit}
  if (NR%2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

declare -A OFF DEL LOSS MIN MAX NOK CPU VER DUTC ZL
measure() { # TRANSLATOR
  local t=$1 i f offs=() dels=() losses=() bad=0 rate=()
  [[ $RATE == line ]] || rate=(--rate "$RATE")
  if ((WARMUP > 0)); then gen "$WORK/$t.warm.json" --duration "$WARMUP" "${rate[@]}" || true; fi
  local c0 w0 c1 w1
  c0=$(cpu_ticks "$DUT_PID"); w0=$(date +%s.%N)
  for ((i = 1; i <= RUNS; i++)); do
    f=$WORK/$t.run$i.json
    if ! gen "$f" --duration "$DURATION" "${rate[@]}"; then
      say "$t run $i: xgw gen failed: $(tail -n 2 "$f.err" | tr '\n' ' ')"
      bad=$((bad + 1))
      continue
    fi
    local line
    line=$(python3 - "$f" "$((FRAME4 + 4))" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["result"]
tx, rx = d["tx"], d["rx"]
secs = tx["seconds"] or 1
off = tx["sent"] / secs
dl = rx["received"] / secs
loss = 1 - rx["received"] / tx["sent"] if tx["sent"] else 0
mean = rx["bytes"] / rx["received"] if rx["received"] else 0
ok = "yes" if rx["received"] and abs(mean - int(sys.argv[2])) < 0.01 and rx["corrupt"] == 0 else "NO"
print(f'{off:.0f} {dl:.0f} {loss:.4f} {rx["received"]} {mean:.2f} {rx["corrupt"]} {rx["foreign"]} {rx["kernel"]["rx_dropped"]} {ok}')
EOF
)
    local off del loss got mean corrupt foreign selfdrop ok
    read -r off del loss got mean corrupt foreign selfdrop ok <<<"$line"
    say "$t run $i: offered_pps=$off delivered_pps=$del loss=$loss received=$got mean_frame=${mean}B corrupt=$corrupt foreign=$foreign gen_rx_dropped=$selfdrop ipv4_ok=$ok"
    {
      echo "RUN translator=$t run=$i offered_pps=$off delivered_pps=$del loss=$loss received=$got mean_frame_bytes=$mean corrupt=$corrupt foreign=$foreign gen_rx_dropped=$selfdrop ipv4_ok=$ok"
      echo "JSON $(cat "$f")"
    } >>"$LOG"
    if [[ $ok != yes ]]; then bad=$((bad + 1)); continue; fi
    offs+=("$off"); dels+=("$del"); losses+=("$loss")
  done
  c1=$(cpu_ticks "$DUT_PID"); w1=$(date +%s.%N)
  CPU[$t]=$(awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b-a}')" \
    'BEGIN{ if (w > 0) printf "%.0f%%", 100 * c / hz / w; else print "-" }')
  NOK[$t]=$bad
  if ((${#dels[@]} == 0)); then DEL[$t]=FAILED; return; fi
  OFF[$t]=$(median "${offs[@]}"); DEL[$t]=$(median "${dels[@]}"); LOSS[$t]=$(median "${losses[@]}")
  MIN[$t]=$(printf '%s\n' "${dels[@]}" | sort -g | head -1); MAX[$t]=$(printf '%s\n' "${dels[@]}" | sort -g | tail -1)
  echo "RESULT translator=$t offered_pps=${OFF[$t]} delivered_pps=${DEL[$t]} loss=${LOSS[$t]} min=${MIN[$t]} max=${MAX[$t]} failed_runs=$bad dut_cpu=${CPU[$t]}" >>"$LOG"
  if [[ $RFC2544 == 1 ]]; then
    f=$WORK/$t.rfc2544.json
    if gen "$f" --rfc2544 --trial-duration "$RFC_TRIAL" --resolution "$RFC_RES" --max-trials "$RFC_MAX_TRIALS" \
      --loss-tolerance "$RFC_TOL"; then
      ZL[$t]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rfc2544"]["zero_loss_pps"])' "$f")
      say "$t RFC 2544: zero-loss ${ZL[$t]} pps"
      echo "RFC2544 translator=$t $(cat "$f")" >>"$LOG"
    else
      ZL[$t]=FAILED
    fi
  fi
}

# verify TRANSLATOR: VERIFY_COUNT packets with tcpdump on nsink0 (xgw gen's receiver off)
verify() {
  local t=$1 r0 r1 i
  local cap=$WORK/$t.verify.pcap
  ip netns exec "$NS_SINK" tcpdump -i "$IF_SINK" -Q in -n -s 128 -Z root --immediate-mode -U -w "$cap" >/dev/null 2>"$cap.err" &
  local cpid=$!
  PIDS+=("$cpid")
  for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$cap.err" 2>/dev/null && break; sleep 0.1; done
  r0=$(nsx "$NS_SINK" cat "/sys/class/net/$IF_SINK/statistics/rx_packets")
  gen "$WORK/$t.verify.json" --no-rx --count "$VERIFY_COUNT" --rate "$VERIFY_RATE" || say "$t verify: xgw gen failed: $(tail -n 2 "$WORK/$t.verify.json.err" | tr '\n' ' ')"
  sleep 0.5
  r1=$(nsx "$NS_SINK" cat "/sys/class/net/$IF_SINK/statistics/rx_packets")
  kill -INT "$cpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  VER[$t]=$(tcpdump -n -v -r "$cap" 2>/dev/null | python3 -c '
import re, sys
want_src, want_dst, sport, dport, n, rxd = sys.argv[1:7]
text = sys.stdin.read()
# tcpdump -v prints "IP (tos ..., ttl N, ...)" then the addresses on the next line
pkts = re.findall(r"^\S+ (IP6?) (.*?)(?=^\S+ IP6? |\Z)", text, re.M | re.S)
v4 = v6 = other = 0
ttls = {}
for fam, body in pkts:
    if fam == "IP6":
        v6 += 1
        continue
    m = re.search(r"ttl (\d+),.*?\n\s*(\S+)\.(\d+) > (\S+)\.(\d+): UDP", body, re.S)
    if m and (m[2], m[3], m[4], m[5]) == (want_src, sport, want_dst, dport):
        v4 += 1
        ttls[m[1]] = ttls.get(m[1], 0) + 1
    else:
        other += 1
verdict = "ok" if v4 == int(n) and v6 == 0 and other == 0 and int(rxd) == int(n) else "FAILED"
print(f"{verdict}: {n} sent as IPv6 {sys.argv[7]} -> {sys.argv[8]}; nsink0 rx_packets +{rxd}; "
      f"tcpdump on nsink0: {v4} IPv4/UDP {want_src}:{sport} -> {want_dst}:{dport} (ttl " +
      ",".join(f"{k}x{v}" for k, v in sorted(ttls.items())) + f"), {v6} IPv6, {other} other")
' "$IMG4_GEN" "$IP_SINK" "$SPORT" "$DPORT" "$VERIFY_COUNT" "$((r1 - r0))" "$IP6_GEN" "$DST6")
  say "$t verify: ${VER[$t]}"
  echo "VERIFY translator=$t ${VER[$t]}" >>"$LOG"
}

run_translator() { # TRANSLATOR
  local t=$1
  say "== $t: lab up"
  setup "$t"
  case $t in
    tayga) start_tayga ;;
    xgw) start_xgw ;;
  esac
  measure "$t"
  verify "$t"
  DUTC[$t]=$(dut_counters "$t")
  say "$t counters: ${DUTC[$t]}"
  echo "COUNTERS translator=$t ${DUTC[$t]}" >>"$LOG"
  if [[ $t == xgw ]]; then
    { echo "## xgw stats at the end"; timeout 10 "$XGW" stats --socket "$XGW_SOCK" 2>&1 || true; } >>"$LOG"
  fi
  teardown
  local f
  for f in "$WORK/$t".{conf,toml,log}; do
    [[ -s $f ]] && { echo "## artifact $t: ${f##*/}"; tail -n 60 "$f"; } >>"$LOG"
  done
  return 0
}

for t in $ORDER; do run_translator "$t"; done

# ---- the comparison ------------------------------------------------------------------
fmt() { [[ $1 =~ ^[0-9.]+$ ]] && awk -v v="$1" 'BEGIN{printf "%.0f", v}' || echo "${1:--}"; }
ratio() { [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "-" }' || echo "-"; }
{
  echo
  echo "nat64-vs-tayga, $(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) CPUs, load at end $(cut -d' ' -f1-3 /proc/loadavg);" \
    "stateless (SIIT) both, prefix $PREFIX6, static map $IP6_GEN <-> $IMG4_GEN;" \
    "IPv6/UDP ${FRAME6} B -> IPv4/UDP ${FRAME4} B, FLOWS=$FLOWS RATE=$RATE, medians of RUNS=$RUNS x ${DURATION}s, DUT_NAPI=$DUT_NAPI"
  for t in $ORDER; do
    printf '  %-5s offered %9s pps  delivered %9s pps (%s..%s)  loss %s  DUT CPU %s  bad runs %s%s\n' "$t" \
      "$(fmt "${OFF[$t]:-}")" "$(fmt "${DEL[$t]:-}")" "$(fmt "${MIN[$t]:-}")" "$(fmt "${MAX[$t]:-}")" \
      "${LOSS[$t]:--}" "${CPU[$t]:--}" "${NOK[$t]:--}" "$([[ $RFC2544 == 1 ]] && echo "  RFC 2544 zero-loss $(fmt "${ZL[$t]:-}") pps")"
    printf '        translated: %s\n' "${VER[$t]:--}"
    printf '        counters:   %s\n' "${DUTC[$t]:--}"
  done
  if [[ " $ORDER " == *" tayga "* && " $ORDER " == *" xgw "* ]]; then
    echo "RESULT nat64-vs-tayga mode=siit tayga_pps=$(fmt "${DEL[tayga]:-}") xgw_pps=$(fmt "${DEL[xgw]:-}")" \
      "xgw/tayga=$(ratio "${DEL[xgw]:-}" "${DEL[tayga]:-}")" \
      "(delivered, medians of $RUNS x ${DURATION}s; offered tayga $(fmt "${OFF[tayga]:-}") xgw $(fmt "${OFF[xgw]:-}");" \
      "translated: tayga ${VER[tayga]%%:*}, xgw ${VER[xgw]%%:*})$([[ $RFC2544 == 1 ]] && echo " zero-loss tayga $(fmt "${ZL[tayga]:-}") xgw $(fmt "${ZL[xgw]:-}") xgw/tayga=$(ratio "${ZL[xgw]:-}" "${ZL[tayga]:-}")")"
  fi
  echo "raw: $LOG"
} | tee -a "$LOG"
