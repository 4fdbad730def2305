#!/usr/bin/env bash
# Acceptance test: Debian's Prometheus server scrapes a running xgw
# (`[control] prometheus`, engine/src/prometheus.rs) and a query through
# its HTTP API returns the counters `xgw stats --json` gives.
# Run:  tests/netns/prometheus.sh   (root only to install the package)
#
#   prometheus (Debian's, our own process)  ──GET /metrics every 1 s──▶  xgw
#   --web.listen-address 127.0.0.1:P1                                  [control] prometheus
#   --storage.tsdb.path $XT_WORK/tsdb                                  127.0.0.1:P2
#   query API /api/v1/query  ◀── this script ──▶  xgw stats --json (control socket)
#
#   xgw: router pipeline on two `mem` ports (a: lan 10.1.0.1/24,
#   2001:db8:1::1/64; b: wan 10.2.0.1/24). No namespace, no XDP, no traffic:
#   its counters are its start-up announcements (transmitted, emitted),
#   settled within about a second, then constant.
#
# Checks
#   0. Debian's prometheus package: installed when missing, with its
#      service neither started nor enabled (policy-rc.d during the install;
#      under systemd, `systemctl disable --now` after it); this test runs
#      its own prometheus on a free port with its own config and TSDB.
#   1. xgw's endpoint by hand (curl): GET /metrics is 200 with
#      Content-Type text/plain; version=0.0.4, `promtool check metrics`
#      accepts it (when Debian ships promtool), GET /nope is 404, POST
#      /metrics is 405.
#   2. prometheus: ready, and up{job="xgw"} = 1 within 20 s.
#   3. after xgw's counters have settled and prometheus has scraped since:
#      for each port, xgw_port_{rx,tx}_packets_total,
#      xgw_port_tx_bytes_total, xgw_port_emitted_packets_total,
#      xgw_port_dropped_packets_total and sum by (port) (xgw_drops_total)
#      (queried through /api/v1/query) equal the port's
#      rx/tx/tx_bytes/emitted/dropped and the sum of its drops in
#      `xgw stats --json`; every per-reason series equals its reason's
#      count; at least one compared value is non-zero (tx: the
#      announcements), so an all-zero exposition cannot pass; the set of
#      ports is the same on both sides.
#      count(xgw_drops_total) = ports × `xgw drop-reasons | wc -l`
#      (every reason, zeros too); xgw_up = 1; `xgw stats` did not move
#      while the queries ran.
#   4. SIGTERM: xgw exits 0; prometheus is stopped; the temp dir goes.
# Knobs: XT_KEEP=1 (keep the temp dir: configs, logs, TSDB)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=prometheus
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
T0=$(date +%s)

# xt_init without its root check: nothing here needs root but apt
XT_WORK=$(mktemp -d "${TMPDIR:-/tmp}/xgw-$XT_NAME.XXXXXX")
trap xt_cleanup EXIT
trap 'echo; warn "interrupted"; exit 130' INT
trap 'warn "terminated"; exit 143' TERM
trap 'warn "command failed (exit $?) at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}"' ERR
set -E

# ---------------------------------------------------------------------------
step "0. packages and binary"
# install_prometheus: Debian's prometheus (and curl) when missing, through
# lib.sh's installer, without letting the package start or enable its
# service: the test runs its own server; the host keeps no daemon.
install_prometheus() {
  local made_policy=0 rc=0
  # only what this test needs, not the whole netns set (dynamic scope)
  local XT_DEB_PKGS=(python3 curl)
  if [[ $(id -u) == 0 && ! -e /usr/sbin/policy-rc.d ]]; then
    # invoke-rc.d / deb-systemd-invoke start no service while this exists
    printf '#!/bin/sh\n# written by xgw tests/netns/prometheus.sh while it installs prometheus\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  xt_install_pkgs prometheus || rc=$?
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now --quiet prometheus.service 2>/dev/null || true
  else # no systemd: drop the SysV rc links the package made
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  return "$rc"
}
if ! dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed' \
  || ! command -v curl >/dev/null; then
  install_prometheus || die "cannot install Debian's prometheus (see above)"
  if [[ -d /run/systemd/system ]]; then
    st="$(systemctl is-active prometheus.service 2>/dev/null || true)/$(systemctl is-enabled prometheus.service 2>/dev/null || true)"
    if [[ $st == */enabled* || $st == active/* ]]; then fail "Debian's prometheus service after the install: $st (active/enabled)"
    else pass "Debian's prometheus service is neither running nor enabled ($st)"; fi
  else
    # no systemd: only invoke-rc.d could have started it, and policy-rc.d said no
    if pgrep -x prometheus >/dev/null; then fail "a prometheus process runs after the install: $(pgrep -ax prometheus | head -3)"
    else pass "no prometheus process after the install (no systemd; policy-rc.d kept the service off)"; fi
    links=$(find /etc/rc[2-5].d -name 'S*prometheus' 2>/dev/null | tr '\n' ' ')
    check_eq "SysV start links for prometheus (update-rc.d disable)" "" "$links"
  fi
fi
PROM=$(command -v prometheus) || die "prometheus not found after the install"
PROMTOOL=$(command -v promtool || true)
log "$("$PROM" --version 2>&1 | head -n 1)"

# The release binary, built when missing or older than the sources (only
# the tree's own target/release/xgw; an XGW= from outside is used as is).
if [[ $XGW == "$XT_ROOT/target/release/xgw" ]]; then
  newer=""
  if [[ -x $XGW ]]; then
    newer=$(find "$XT_ROOT/engine" "$XT_ROOT/pipelines" "$XT_ROOT/Cargo.toml" "$XT_ROOT/Cargo.lock" \
      -newer "$XGW" -type f \( -name '*.rs' -o -name 'Cargo.*' \) 2>/dev/null | head -n 3 | tr '\n' ' ')
  fi
  if [[ ! -x $XGW || -n $newer ]]; then
    if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
      PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH
    fi
    log "building $XGW (${newer:+older than }${newer:-missing})"
    (cd "$XT_ROOT" && cargo build --release -q) || die "cargo build --release failed"
  fi
fi
xt_require_xgw

# free_port: a TCP port free on 127.0.0.1 right now (the kernel's pick)
free_port() {
  "$XT_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
XGW_PORT=$(free_port)
PROM_PORT=$(free_port)
while [[ $PROM_PORT == "$XGW_PORT" ]]; do PROM_PORT=$(free_port); done
XGW_URL=http://127.0.0.1:$XGW_PORT
PROM_URL=http://127.0.0.1:$PROM_PORT
SOCK=$XT_WORK/xgw.sock
CFG=$XT_WORK/xgw.toml
NREASONS=$("$XGW" drop-reasons | wc -l)
((NREASONS > 0)) || die "xgw drop-reasons lists nothing"

# ---------------------------------------------------------------------------
step "1. xgw (router, mem ports a and b) with [control] prometheus = 127.0.0.1:$XGW_PORT"
cat >"$CFG" <<EOF
# written by tests/netns/prometheus.sh
[engine]
cores = [0]
idle = "adaptive"   # no traffic: do not spin a core of a shared machine

[control]
socket = "$SOCK"
prometheus = "127.0.0.1:$XGW_PORT"

[[ports]]
name = "a"
driver = "mem"
mac = "02:00:00:00:00:0a"

[[ports]]
name = "b"
driver = "mem"
mac = "02:00:00:00:00:0b"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "a"
ipv4 = ["10.1.0.1/24"]
ipv6 = ["2001:db8:1::1/64"]

[[interfaces]]
name = "wan"
port = "b"
ipv4 = ["10.2.0.1/24"]
EOF
"$XGW" check --config "$CFG" >"$XT_WORK/check.log" 2>&1 \
  || { xt_indent <"$XT_WORK/check.log"; die "xgw check rejects the config"; }
XGW_LOG=$XT_WORK/xgw.log
"$XGW" run --config "$CFG" >"$XGW_LOG" 2>&1 &
XT_XGW_PID=$!
XT_PIDS+=("$XT_XGW_PID")
xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XGW_LOG" || die "xgw did not start"
pass "xgw runs (pid $XT_XGW_PID), its control socket answers"

# the endpoint by hand
code=$(curl -sS -o "$XT_WORK/metrics.txt" -D "$XT_WORK/metrics.hdr" -w '%{http_code}' --max-time 5 "$XGW_URL/metrics" || true)
check_eq "GET /metrics: HTTP status" 200 "$code"
ctype=$(awk -F': *' 'tolower($1) == "content-type" { sub(/\r$/, "", $2); print $2 }' "$XT_WORK/metrics.hdr")
check_eq "GET /metrics: Content-Type" "text/plain; version=0.0.4; charset=utf-8" "$ctype"
if [[ -n $PROMTOOL ]]; then
  if out=$("$PROMTOOL" check metrics <"$XT_WORK/metrics.txt" 2>&1); then
    pass "promtool check metrics accepts the exposition ($(grep -c '^xgw_' "$XT_WORK/metrics.txt") samples)"
  else
    fail "promtool check metrics complains:"; xt_indent <<<"$out" | head -n 20
  fi
else
  log "no promtool on this system: exposition lint skipped"
fi
check_eq "GET /nope: HTTP status" 404 "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$XGW_URL/nope" || true)"
check_eq "POST /metrics: HTTP status" 405 \
  "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST --data x "$XGW_URL/metrics" || true)"

# ---------------------------------------------------------------------------
step "2. prometheus on 127.0.0.1:$PROM_PORT scrapes xgw every second"
cat >"$XT_WORK/prometheus.yml" <<EOF
# written by tests/netns/prometheus.sh
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: xgw
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$XGW_PORT"]
EOF
PROM_LOG=$XT_WORK/prometheus.log
"$PROM" --config.file="$XT_WORK/prometheus.yml" --storage.tsdb.path="$XT_WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$PROM_LOG" 2>&1 &
PROM_PID=$!
XT_PIDS+=("$PROM_PID")

# prom_query PROMQL: the instant query's result list as JSON (null on error)
prom_query() {
  local r
  r=$(curl -sS --max-time 5 -G "$PROM_URL/api/v1/query" --data-urlencode "query=$1" 2>/dev/null \
    | "$XT_PY" -c 'import json, sys
d = json.load(sys.stdin)
if d.get("status") != "success": sys.exit("query failed: %s" % d)
print(json.dumps(d["data"]["result"]))' 2>/dev/null) || r=""
  echo "${r:-null}"
}
# prom_scalar PROMQL: the value of a one-element result ("" when none)
prom_scalar() {
  prom_query "$1" | "$XT_PY" -c 'import json, sys
r = json.loads(sys.stdin.read() or "null") or []
print(r[0]["value"][1] if len(r) == 1 else "")'
}

ready=0
for ((i = 0; i < 200; i++)); do
  kill -0 "$PROM_PID" 2>/dev/null || { xt_log_tail "$PROM_LOG" 20; die "prometheus exited"; }
  if curl -sf --max-time 2 -o /dev/null "$PROM_URL/-/ready"; then ready=1; break; fi
  sleep 0.1
done
((ready)) || { xt_log_tail "$PROM_LOG" 20; die "prometheus not ready after 20 s"; }
pass "prometheus is ready after $((i / 10)).$((i % 10)) s (pid $PROM_PID)"

up=""
for ((i = 0; i < 40; i++)); do
  up=$(prom_scalar 'up{job="xgw"}')
  [[ $up == 1 ]] && break
  sleep 0.5
done
if [[ $up == 1 ]]; then pass "up{job=\"xgw\"} = 1 after $((i / 2)).$((i % 2 * 5)) s"
else
  curl -sS --max-time 5 "$PROM_URL/api/v1/targets" | xt_indent | head -n 20 || true
  xt_log_tail "$PROM_LOG" 20
  die "up{job=\"xgw\"} is '${up}' after 20 s (the targets above)"
fi

# ---------------------------------------------------------------------------
step "3. the counters through the query API = xgw stats --json"
# settled: two equal readings of xgw's totals 300 ms apart
xt_xgw_settle "$SOCK"
"$XGW" stats --config "$CFG" --json >"$XT_WORK/stats.json" || die "xgw stats --config $CFG --json failed"
t_stats=$(date +%s.%N)
# a scrape made after that reading (xgw_up's sample timestamp)
ts=""
for ((i = 0; i < 40; i++)); do
  ts=$(prom_scalar 'timestamp(xgw_up{job="xgw"})')
  [[ -n $ts ]] && awk -v a="$ts" -v b="$t_stats" 'BEGIN { exit !(a > b) }' && break
  sleep 0.25
done
if [[ -n $ts ]] && awk -v a="$ts" -v b="$t_stats" 'BEGIN { exit !(a > b) }'; then
  pass "prometheus scraped xgw after the stats reading (sample at $ts, reading at $(printf "%.3f" "$t_stats"))"
else
  die "no scrape newer than the stats reading within 10 s (latest sample: '${ts}')"
fi

# every query the checker needs, in one JSON file
{
  printf '{\n'
  for m in xgw_port_rx_packets_total xgw_port_tx_packets_total xgw_port_tx_bytes_total \
    xgw_port_emitted_packets_total xgw_port_dropped_packets_total xgw_drops_total; do
    printf '"%s": %s,\n' "$m" "$(prom_query "$m{job=\"xgw\"}")"
  done
  printf '"sum_drops": %s,\n' "$(prom_query 'sum by (port) (xgw_drops_total{job="xgw"})')"
  printf '"count_drops": %s,\n' "$(prom_query 'count(xgw_drops_total{job="xgw"})')"
  printf '"xgw_up": %s\n' "$(prom_query 'xgw_up{job="xgw"}')"
  printf '}\n'
} >"$XT_WORK/prom.json"
xt_xgw_stats "$SOCK" --json >"$XT_WORK/stats2.json" || die "xgw stats failed"

cat >"$XT_WORK/compare.py" <<'EOF'
# compare.py PROM_JSON STATS_JSON STATS_AFTER_JSON NREASONS: PASS/FAIL lines
import json, sys
prom = json.load(open(sys.argv[1]))
st = json.load(open(sys.argv[2]))
after = json.load(open(sys.argv[3]))
nreasons = int(sys.argv[4])
def out(ok, msg):
    print(("PASS " if ok else "FAIL ") + msg)
def val(s):  # a sample value: counters here are integers
    v = float(s["value"][1])
    return int(v) if v == int(v) else v
def by_port(name):
    r = prom.get(name)
    if not r:
        return None
    return {s["metric"].get("port"): val(s) for s in r}
def count(x):  # a drop entry: a number, or {"count": n, ...}
    return x["count"] if isinstance(x, dict) else x

ports = {p["name"]: p for p in st["ports"]}
nonzero = 0
for metric, field in [("xgw_port_rx_packets_total", "rx"), ("xgw_port_tx_packets_total", "tx"),
                      ("xgw_port_tx_bytes_total", "tx_bytes"), ("xgw_port_emitted_packets_total", "emitted"),
                      ("xgw_port_dropped_packets_total", "dropped")]:
    got = by_port(metric)
    if got is None:
        out(False, "%s: no series in prometheus" % metric)
        continue
    if set(got) != set(ports):
        out(False, "%s: ports %s in prometheus, %s in xgw stats" % (metric, sorted(got, key=str), sorted(ports)))
    for name, p in sorted(ports.items()):
        want = p.get(field)
        have = got.get(name)
        out(have == want, "port %s: %s = %s, xgw stats %s = %s" % (name, metric, have, field, want))
        nonzero += bool(want)
sums = by_port("sum_drops") or {}
for name, p in sorted(ports.items()):
    want = sum(count(v) for v in p.get("drops", {}).values())
    out(sums.get(name) == want, "port %s: sum(xgw_drops_total) = %s, sum of xgw stats drops = %s"
        % (name, sums.get(name), want))
    nonzero += bool(want)
# every per-reason series against its count
series = {(s["metric"].get("port"), s["metric"].get("reason")): val(s) for s in prom.get("xgw_drops_total", [])}
want = {(n, r): count(v) for n, p in ports.items() for r, v in p.get("drops", {}).items()}
bad = sorted(k for k in set(series) | set(want) if series.get(k) != want.get(k))
out(not bad and series, "xgw_drops_total per (port, reason) = xgw stats drops (%d series)%s"
    % (len(series), "" if not bad else "; differ: %s" % ", ".join(
        "%s/%s prometheus %s stats %s" % (k[0], k[1], series.get(k), want.get(k)) for k in bad[:5])))
c = prom.get("count_drops") or []
have = val(c[0]) if len(c) == 1 else None
out(have == len(ports) * nreasons, "count(xgw_drops_total) = %s = %d ports x %d drop reasons"
    % (have, len(ports), nreasons))
u = prom.get("xgw_up") or []
out(len(u) == 1 and val(u[0]) == 1, "xgw_up = %s" % (val(u[0]) if u else None))
tx = sum(p.get("tx", 0) for p in ports.values())
out(nonzero > 0 and tx > 0, "not all zero: %d of the compared values are non-zero (tx %d: the announcements)"
    % (nonzero, tx))
keys = ("rx", "tx", "tx_bytes", "emitted", "dropped", "local", "pending")
moved = [(p["name"], k) for p, q in zip(st["ports"], after["ports"]) for k in keys if p.get(k) != q.get(k)]
out(not moved, "xgw stats did not move while prometheus was queried%s" % ("" if not moved else ": %s" % moved))
EOF
relay compare "$XT_PY" "$XT_WORK/compare.py" "$XT_WORK/prom.json" "$XT_WORK/stats.json" \
  "$XT_WORK/stats2.json" "$NREASONS"

# ---------------------------------------------------------------------------
step "4. stop"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
xt_kill_pid "$PROM_PID" TERM 10
wait "$PROM_PID" 2>/dev/null || true
if kill -0 "$PROM_PID" 2>/dev/null; then fail "prometheus (pid $PROM_PID) still runs"
else pass "prometheus stopped"; fi
log "took $(($(date +%s) - T0)) s"
xt_finish
