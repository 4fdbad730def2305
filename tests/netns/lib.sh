# shellcheck shell=bash
# shellcheck disable=SC2034  # globals (XT_RC, XT_XGW_PID, ...) are read by the sourcing scripts
# Shared helpers for the xgw network-namespace tests (tests/netns/*.sh) and
# for demo.sh.  Source it; do not run it.
#
#   XT_NAME=mytest; source tests/netns/lib.sh; xt_init
#
# What it gives:
#   * unique namespace names (prefix + $$), and an EXIT trap that stops every
#     process the test started, deletes its namespaces and its temp dir, even
#     when the test fails or is interrupted;
#   * veth plumbing between namespaces with the settings the tests rely on
#     (IPv6 off, TX checksum offload off on host-side veths);
#   * starting xgw in a namespace in the background with its real pid,
#     waiting for readiness through `xgw stats`, stopping it;
#   * pass/fail bookkeeping, /sys counters read inside a namespace, JSON
#     field access, and a check that no XDP program is left on an interface;
#   * a small UDP sender/receiver (python3 stdlib) that counts datagrams by
#     sequence number;
#   * xt_install_pkgs: installs missing Debian packages (idempotent).
#
# Conventions: functions and globals are prefixed xt_/XT_; the plain
# assertion helpers are pass/fail/check_eq.

XT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XT_ROOT=${XT_ROOT:-$(cd "$XT_LIB_DIR/../.." && pwd)}
XGW=${XGW:-$XT_ROOT/target/release/xgw}
XT_NAME=${XT_NAME:-$(basename "${0%.sh}")}
# Namespaces are called "$XT_NS_PREFIX<role>-$$": two runs (or a leftover of
# a killed run) never share one.  Only ever delete names carrying our $$.
XT_NS_PREFIX=${XT_NS_PREFIX:-xt-}
# Prefer Debian's python3 (it has python3-scapy); the scripts only need the
# standard library, so any python3 on PATH does.
if [[ -x /usr/bin/python3 ]]; then XT_PY=${XT_PY:-/usr/bin/python3}; else XT_PY=${XT_PY:-python3}; fi

XT_PASSED=0
XT_FAILED=0
XT_PIDS=()        # background processes to stop on exit (xgw, receivers...)
XT_NETNS=()       # namespaces to delete on exit
XT_WORK=""        # temp dir (logs, configs, sockets)
XT_KEEP=${XT_KEEP:-0}   # 1: keep namespaces and $XT_WORK after the run (debug)

# ---------------------------------------------------------------------------
# output and assertions

if [[ -t 1 ]]; then
  XT_C_RED=$'\e[31m'; XT_C_GRN=$'\e[32m'; XT_C_YEL=$'\e[33m'; XT_C_BLD=$'\e[1m'; XT_C_OFF=$'\e[0m'
else
  XT_C_RED=""; XT_C_GRN=""; XT_C_YEL=""; XT_C_BLD=""; XT_C_OFF=""
fi

log()  { printf '[%s %s] %s\n' "$XT_NAME" "$(date +%H:%M:%S)" "$*"; }
step() { printf '\n%s[%s] == %s%s\n' "$XT_C_BLD" "$XT_NAME" "$*" "$XT_C_OFF"; }
warn() { printf '%s[%s] WARNING: %s%s\n' "$XT_C_YEL" "$XT_NAME" "$*" "$XT_C_OFF" >&2; }
# die: the test cannot go on (set-up failed); counts as a failure, exits 1.
die()  {
  printf '%s[%s] FATAL: %s%s\n' "$XT_C_RED" "$XT_NAME" "$*" "$XT_C_OFF" >&2
  XT_FAILED=$((XT_FAILED + 1))
  if [[ ${XT_SUMMARY:-1} == 1 ]]; then
    printf '%s: %d passed, %d failed (aborted)\n' "$XT_NAME" "$XT_PASSED" "$XT_FAILED"
  fi
  exit 1
}
pass() { XT_PASSED=$((XT_PASSED + 1)); printf '  %sPASS%s %s\n' "$XT_C_GRN" "$XT_C_OFF" "$*"; }
fail() { XT_FAILED=$((XT_FAILED + 1)); printf '  %sFAIL%s %s\n' "$XT_C_RED" "$XT_C_OFF" "$*"; }
# check_eq WHAT EXPECTED ACTUAL [detail]
check_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1 (= $3)${4:+ $4}"
  else fail "$1: expected $2, got $3${4:+ ($4)}"; fi
}
# check_cmd WHAT CMD...: passes when CMD exits 0
check_cmd() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what (command failed: $*)"; fi
}

# xt_finish: print the summary line and exit with the test's verdict.
xt_finish() {
  echo
  printf '%s: %d passed, %d failed\n' "$XT_NAME" "$XT_PASSED" "$XT_FAILED"
  if ((XT_FAILED > 0)); then exit 1; fi
  exit 0
}

# ---------------------------------------------------------------------------
# set-up / clean-up

xt_require_root() {
  if [[ $(id -u) != 0 ]]; then
    echo "$XT_NAME: must run as root (it creates network namespaces and attaches XDP programs)" >&2
    exit 1
  fi
}

# xt_init: root check, temp dir, traps.  Call once, before anything else.
xt_init() {
  xt_require_root
  local t
  for t in ip ethtool ping taskset timeout "$XT_PY"; do
    command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
  done
  XT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/xgw-$XT_NAME.XXXXXX")
  trap xt_cleanup EXIT
  trap 'echo; warn "interrupted"; exit 130' INT
  trap 'warn "terminated"; exit 143' TERM
  # set -e is in force in the tests: say where an unexpected error hit
  trap 'warn "command failed (exit $?) at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}"' ERR
  set -E
  xt_write_py
}

# Stop one process we started: SIG (default TERM), up to T seconds (default
# 5), then SIGKILL.  Never touches anything but the given pid.
xt_kill_pid() {
  local pid=$1 sig=${2:-TERM} t=${3:-5} i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -s KILL "$pid" 2>/dev/null || true
}

xt_cleanup() {
  local rc=$? p ns
  trap - ERR
  set +e
  for p in "${XT_PIDS[@]}"; do xt_kill_pid "$p" TERM 5; done
  for ns in "${XT_NETNS[@]}"; do
    # whatever is still running inside our own namespaces was started by us
    for p in $(ip netns pids "$ns" 2>/dev/null); do xt_kill_pid "$p" TERM 2; done
  done
  # reap children so the shell does not print "Killed" notices later
  wait 2>/dev/null
  if [[ $XT_KEEP == 1 ]]; then
    warn "XT_KEEP=1: kept namespaces ${XT_NETNS[*]} and $XT_WORK"
  else
    for ns in "${XT_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    [[ -n $XT_WORK && -d $XT_WORK ]] && rm -rf "$XT_WORK"
  fi
  return "$rc"
}

# xt_ns ROLE -> prints the unique namespace name for ROLE (no side effects)
xt_ns() { printf '%s%s-%s' "$XT_NS_PREFIX" "$1" "$$"; }

# xt_ns_add NS [ipv6]: create a namespace (registered for deletion), lo up.
# IPv6 is disabled in it (no DAD/RS/MLD frames: counters stay predictable)
# unless the second argument is "ipv6", in which case DAD and router
# solicitations are turned off instead.
xt_ns_add() {
  local ns=$1 v6=${2:-}
  ip netns add "$ns" || die "cannot create namespace $ns"
  XT_NETNS+=("$ns")
  ip -n "$ns" link set lo up
  if [[ $v6 == ipv6 ]]; then
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 \
      net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
      >/dev/null
  else
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
      >/dev/null
  fi
}

# xt_veth NS1 IF1 NS2 IF2: a veth pair with one end in each namespace, both
# ends down (configure them with xt_host_if / xt_dut_if).
xt_veth() {
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" \
    || die "cannot create veth $1/$2 <-> $3/$4"
}

# xt_mq_veth NS1 IF1 NS2 IF2: a veth pair with 2 RX and 2 TX queues on
# both ends (one per worker of a two-worker xgw).
xt_mq_veth() {
  ip link add "$2" netns "$1" numtxqueues 2 numrxqueues 2 type veth \
    peer name "$4" netns "$3" numtxqueues 2 numrxqueues 2 || die "cannot create the 2-queue veth $2 <-> $4"
}

# xt_host_if NS IF ADDR/PLEN [MAC]: an end host's interface.  TX checksum
# offload goes off: veth would otherwise hand UDP/TCP frames to the engine
# with only the pseudo-header sum filled in, and the receiving kernel drops
# what the engine forwards (see docs: the same advice as for real NICs).
xt_host_if() {
  local ns=$1 ifc=$2 addr=$3 mac=${4:-}
  [[ -n $mac ]] && ip -n "$ns" link set dev "$ifc" address "$mac"
  ip netns exec "$ns" ethtool -K "$ifc" tx off >/dev/null 2>&1 \
    || die "ethtool -K $ifc tx off failed in $ns"
  ip -n "$ns" addr add "$addr" dev "$ifc"
  ip -n "$ns" link set dev "$ifc" up
}

# xt_dut_if NS IF [MAC]: an interface xgw will own: up, no addresses.
xt_dut_if() {
  local ns=$1 ifc=$2 mac=${3:-}
  [[ -n $mac ]] && ip -n "$ns" link set dev "$ifc" address "$mac"
  ip -n "$ns" link set dev "$ifc" up
}

# ---------------------------------------------------------------------------
# counters

# xt_ifstat NS IF FIELD: /sys/class/net/IF/statistics/FIELD seen inside NS
xt_ifstat() {
  ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

# xt_snmp NS PROTO FIELD: a counter of /proc/net/snmp inside NS, e.g.
#   xt_snmp B Udp InCsumErrors
xt_snmp() {
  # shellcheck disable=SC2016  # awk program
  ip netns exec "$1" awk -v p="$2:" -v f="$3" '
    $1 == p && !hdr { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1; next }
    $1 == p && hdr  { print $(col[f]); exit }' /proc/net/snmp
}

# xt_json FILE PYEXPR: evaluate a python expression on the JSON document in
# FILE (bound to d) and print it; e.g. xt_json s.json 'd["totals"]["rx"]'
xt_json() {
  "$XT_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1" "$2"
}
# xt_port FILE PORT FIELD[.SUB]: a field of one port in `xgw stats --json`
# (prints NA when the field does not exist)
xt_port() {
  "$XT_PY" - "$1" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ports = [p for p in d["ports"] if p.get("name") == sys.argv[2]]
if not ports:
    sys.exit("no port %r in %s" % (sys.argv[2], sys.argv[1]))
v = ports[0]
for k in sys.argv[3].split("."):
    if not isinstance(v, dict) or k not in v:
        print("NA")  # missing field: callers compare and fail loudly
        sys.exit(0)
    v = v[k]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
EOF
}

# ---------------------------------------------------------------------------
# XDP attachment

# xt_xdp_attached NS IF: exit 0 when an XDP program is attached to IF.
xt_xdp_attached() {
  local out
  out=$(ip -n "$1" -d link show dev "$2" 2>&1) || die "ip link show $2 in $1 failed: $out"
  grep -qE '(^|[[:space:]])(xdp|xdpgeneric|xdpdrv|xdpoffload|xdpmulti)([[:space:]]|$)|prog/xdp' <<<"$out"
}

# xt_check_no_xdp NS IF [WAIT_SECONDS]: assertion; waits up to WAIT seconds
# (default 0) for a program to go (a bpf_link is freed asynchronously after
# its last fd closes).
xt_check_no_xdp() {
  local ns=$1 ifc=$2 t=${3:-0} i
  for ((i = 0; i <= t * 10; i++)); do
    if ! xt_xdp_attached "$ns" "$ifc"; then
      if ((i > 0)); then pass "no XDP program left on $ifc (gone after $((i * 100)) ms)"
      else pass "no XDP program left on $ifc"; fi
      return 0
    fi
    ((i < t * 10)) && sleep 0.1
  done
  fail "an XDP program is still attached to $ifc in $ns: $(ip -n "$ns" -d link show dev "$ifc" | grep -E 'xdp' | tr -s ' ' | head -3 | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------
# xgw

xt_require_xgw() {
  [[ -x $XGW ]] || die "xgw binary not found at $XGW (cargo build --release -p xgw-engine)"
}

# xt_xgw_start NS CONFIG LOG [extra args...]: start `xgw run` inside NS in
# the background.  Sets XT_XGW_PID to xgw's own pid: `ip netns exec` execs
# its command, so $! of a plain background command is the engine itself
# (never wrap this in a function run with & or in $(...)).
xt_xgw_start() {
  local ns=$1 cfg=$2 log=$3; shift 3
  local args=(run)
  [[ -n $cfg ]] && args+=(--config "$cfg")
  ip netns exec "$ns" "$XGW" "${args[@]}" "$@" >"$log" 2>&1 &
  XT_XGW_PID=$!
  XT_PIDS+=("$XT_XGW_PID")
}

# xt_xgw_stats SOCKET [args]: `xgw stats --socket SOCKET [args]`, bounded in time
xt_xgw_stats() {
  local sock=$1; shift
  timeout 10 "$XGW" stats --socket "$sock" "$@"
}

# xt_cap_start NS IF FILE FILTER: tcpdump on IF in NS into FILE (pid in
# XT_CAP_PID, killed at cleanup); returns 1 with the reason on stderr when
# it is not listening within 5 s.  xt_cap_stop FILE: stops it and prints
# the decoded capture.
xt_cap_start() {
  local ns=$1 ifname=$2 file=$3 filter=$4 i
  ip netns exec "$ns" tcpdump -i "$ifname" -n -Z root --immediate-mode -U -w "$file" "$filter" >/dev/null 2>"$file.err" &
  XT_CAP_PID=$!
  XT_PIDS+=("$XT_CAP_PID")
  for ((i = 0; i < 50; i++)); do
    grep -q 'listening on' "$file.err" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "tcpdump in $ns not ready: $(cat "$file.err")" >&2
  return 1
}
xt_cap_stop() {
  sleep 0.3
  kill -s INT "$XT_CAP_PID" 2>/dev/null || true
  wait "$XT_CAP_PID" 2>/dev/null || true
  tcpdump -n -r "$1" 2>/dev/null || true
}

# xt_xgw_settle SOCKET: waits until xgw's totals stop moving (two equal
# readings 300 ms apart, at most about 10 s); warns when they never do.
xt_xgw_settle() {
  local sock=$1 prev="" cur i
  for ((i = 0; i < 33; i++)); do
    sleep 0.3
    cur=$(xt_xgw_stats "$sock" --json >"$XT_WORK/settle.json" && xt_json "$XT_WORK/settle.json" \
      '[d["totals"][k] for k in ("rx","tx","dropped","pending","emitted","local")]') || cur="?"
    [[ -n $prev && $cur == "$prev" ]] && return 0
    prev=$cur
  done
  warn "xgw totals still moving after 10 s: $cur"
}

# xt_xgw_wait_ready PID SOCKET LOG [TIMEOUT=20]: waits until `xgw stats`
# answers.  Returns 1 (and prints the log) when xgw exits or times out.
xt_xgw_wait_ready() {
  local pid=$1 sock=$2 log=$3 t=${4:-20} i
  for ((i = 0; i < t * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      warn "xgw (pid $pid) exited with status $rc before it was ready; its log:"
      sed 's/^/    | /' "$log" >&2
      return 1
    fi
    if xt_xgw_stats "$sock" --json >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  warn "xgw (pid $pid) not ready after ${t}s; its log:"
  sed 's/^/    | /' "$log" >&2
  return 1
}

# xt_xgw_stop PID SIG [TIMEOUT=10]: send SIG and wait for the exit.
# Sets XT_RC to the exit status (128+n when killed by signal n; 124 when it
# did not exit in time, after which it is SIGKILLed).
xt_xgw_stop() {
  local pid=$1 sig=$2 t=${3:-10} i
  XT_RC=0
  kill -s "$sig" "$pid" 2>/dev/null || true
  # (stderr off: bash would report "Killed" when it reaps the job here)
  { for ((i = 0; i < t * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done; } 2>/dev/null
  if kill -0 "$pid" 2>/dev/null; then
    kill -s KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    XT_RC=124
    return 0
  fi
  wait "$pid" 2>/dev/null || XT_RC=$?
}

# xt_indent: stdin indented (logs, tables, in the test output)
xt_indent() { sed 's/^/    | /'; }

# relay NAME CMD...: runs a checker script that prints "PASS ..." / "FAIL
# ..." lines and counts them as this test's checks (other lines are
# logged); a non-zero exit without a FAIL line is a failure too.
relay() {
  local name=$1 rc=0 line nfail=0 out; shift
  out=$("$@" 2>&1) || rc=$?
  while IFS= read -r line; do
    case $line in
      PASS\ *) pass "${line#PASS }" ;;
      FAIL\ *) fail "${line#FAIL }"; nfail=$((nfail + 1)) ;;
      *) log "$line" ;;
    esac
  done <<<"$out"
  if ((rc != 0 && nfail == 0)); then fail "$name exited with status $rc without a FAIL line (its output is above)"; fi
  return 0
}

# xt_log_tail LOG [N]: last lines of a log, indented (for failure messages)
xt_log_tail() { tail -n "${2:-15}" "$1" | sed 's/^/    | /'; }

# ---------------------------------------------------------------------------
# UDP traffic (python3 stdlib)

xt_write_py() {
  cat >"$XT_WORK/udp_recv.py" <<'EOF'
# udp_recv.py BIND_IP PORT EXPECTED READY_FILE OUT_JSON [IDLE_S=3] [TOTAL_S=120]
# Counts datagrams made by udp_send.py: unique sequence numbers, duplicates,
# reordering, corrupt or foreign datagrams.  Stops when all EXPECTED arrived,
# or IDLE_S seconds after the last datagram, or after TOTAL_S seconds.
import json, socket, struct, sys, time
ip, port, expected, ready, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
idle = float(sys.argv[6]) if len(sys.argv) > 6 else 3.0
total = float(sys.argv[7]) if len(sys.argv) > 7 else 120.0
MAGIC = b"XGW1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for opt in (33, socket.SO_RCVBUF):  # 33 = SO_RCVBUFFORCE (root)
    try:
        s.setsockopt(socket.SOL_SOCKET, opt, 256 << 20)
        break
    except OSError:
        pass
s.bind((ip, port))
with open(ready, "w") as f:
    f.write("ready\n")
seen = bytearray(expected)
got = dup = reordered = corrupt = foreign = 0
last = -1
t0 = time.monotonic()
first = lastt = None
while got < expected:
    now = time.monotonic()
    left = (idle - (now - lastt)) if lastt is not None else (total - (now - t0))
    left = min(left, total - (now - t0))
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data = s.recv(65536)
    except socket.timeout:
        break
    lastt = time.monotonic()
    if first is None:
        first = lastt
    if len(data) < 8 or data[:4] != MAGIC:
        foreign += 1
        continue
    seq = struct.unpack_from("!I", data, 4)[0]
    if seq >= expected or data[8:] != bytes((seq & 0xFF,)) * (len(data) - 8):
        corrupt += 1
        continue
    if seen[seq]:
        dup += 1
        continue
    seen[seq] = 1
    got += 1
    if seq < last:
        reordered += 1
    last = max(last, seq)
missing = [i for i in range(expected) if not seen[i]]
dur = (lastt - first) if first is not None and lastt > first else 0.0
res = dict(expected=expected, received=got, missing=len(missing), first_missing=missing[:10],
           duplicates=dup, reordered=reordered, corrupt=corrupt, foreign=foreign,
           seconds=round(dur, 3), pps=round(got / dur) if dur else 0)
with open(out, "w") as f:
    json.dump(res, f)
print(json.dumps(res))
EOF
  cat >"$XT_WORK/udp_send.py" <<'EOF'
# udp_send.py DST_IP PORT COUNT PPS SIZES OUT_JSON
# Sends COUNT datagrams (payload: b"XGW1", seq u32, filler byte seq&0xff),
# payload sizes cycled from SIZES ("64" or "64,64,1472"), paced at PPS
# datagrams per second in bursts of 16 (PPS=0: as fast as possible).
import json, socket, struct, sys, time
dst, port, count, pps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sizes = [max(8, int(x)) for x in sys.argv[5].split(",")]
out = sys.argv[6]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((dst, port))
BURST = 16
errors = 0
t0 = time.perf_counter()
for i in range(count):
    if pps > 0 and i % BURST == 0:
        due = t0 + i / pps
        while True:
            d = due - time.perf_counter()
            if d <= 0:
                break
            if d > 0.002:
                time.sleep(d - 0.001)
    n = sizes[i % len(sizes)]
    msg = b"XGW1" + struct.pack("!I", i) + bytes((i & 0xFF,)) * (n - 8)
    while True:
        try:
            s.send(msg)
            break
        except OSError:  # ENOBUFS & co: count, back off, retry the same one
            errors += 1
            time.sleep(0.0005)
dur = time.perf_counter() - t0
res = dict(sent=count, send_errors=errors, seconds=round(dur, 3), pps=round(count / dur) if dur else 0)
with open(out, "w") as f:
    json.dump(res, f)
print(json.dumps(res))
EOF
}

# xt_udp_recv_start NS BIND_IP PORT EXPECTED OUT_JSON [IDLE] [TOTAL] [CPU]:
# starts the receiver in the background (XT_RECV_PID), pinned to CPU
# (default 0: keep the host side off the engine's core), and waits until it
# is bound.
xt_udp_recv_start() {
  local ns=$1 ip=$2 port=$3 n=$4 out=$5 idle=${6:-3} total=${7:-120} cpu=${8:-0} i
  local ready=$XT_WORK/recv.ready.$port
  rm -f "$ready"
  ip netns exec "$ns" taskset -c "$cpu" "$XT_PY" "$XT_WORK/udp_recv.py" "$ip" "$port" "$n" "$ready" "$out" "$idle" "$total" \
    >"$out.log" 2>&1 &
  XT_RECV_PID=$!
  XT_PIDS+=("$XT_RECV_PID")
  for ((i = 0; i < 100; i++)); do
    [[ -s $ready ]] && return 0
    kill -0 "$XT_RECV_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$out.log" >&2
  die "UDP receiver did not start in $ns"
}

# xt_udp_send NS DST_IP PORT COUNT PPS SIZES OUT_JSON [CPU]: runs the sender
# in the foreground (pinned to CPU, default 0)
xt_udp_send() {
  local ns=$1 cpu=${8:-0}
  ip netns exec "$ns" taskset -c "$cpu" "$XT_PY" "$XT_WORK/udp_send.py" "$2" "$3" "$4" "$5" "$6" "$7" >/dev/null
}

# ---------------------------------------------------------------------------
# packages

XT_DEB_PKGS=(iproute2 iputils-ping iputils-tracepath traceroute ethtool tcpdump tshark iperf3 python3 python3-scapy procps)

# xt_install_pkgs [PKG...]: install whichever of XT_DEB_PKGS + PKG... is
# missing.  Runs apt-get update only when something has to be installed.
xt_install_pkgs() {
  local missing=() p
  for p in "${XT_DEB_PKGS[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || { echo "missing packages ${missing[*]}; run as root to install them" >&2; return 1; }
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture: answer no, silently
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  local alog
  alog=$(mktemp "${TMPDIR:-/tmp}/xgw-apt.XXXXXX")
  if ! apt-get update -q >"$alog" 2>&1; then
    tail -n 20 "$alog" >&2; echo "apt-get update failed (full log: $alog)" >&2; return 1
  fi
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >>"$alog" 2>&1; then
    tail -n 20 "$alog" >&2; echo "apt-get install ${missing[*]} failed (full log: $alog)" >&2; return 1
  fi
  rm -f "$alog"
  echo "installed: ${missing[*]}"
}
