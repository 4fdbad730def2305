#!/usr/bin/env bash
# Acceptance test: `xgw reload` and SIGHUP on two running xgw routers
# joined by IP-in-IP tunnels (issue 15), under traffic.
# Run as root:  tests/netns/reload.sh
#
#  ns s1            ns g1 (xgw #1)            ns u              ns g2 (xgw #2)           ns s2
#  s1 ──veth── g1l [lan  router  wan] g1w ──veth── u1 ┐       ┌ u2 ──veth── g2w [wan  router  lan] g2l ──veth── s2
#                                                      br0 ────┘
#  s1: 10.1.5.10/24                         192.168.0.1/24 fd00::1/64        192.168.0.2/24 fd00::2/64    s2: 10.1.8.10/24
#      2001:db8:5::10/64 2001:db8:15::10/64                                             2001:db8:8::10/64 2001:db8:18::10/64
#                                                                                       lo: 10.3.8.10, 10.4.8.10
#  tunnels (gw1 end / gw2 end):
#    t44 4in4 192.168.0.1 <-> .2   1.1.1.1/24 <-> .2      10.1.5.0/24      <-> 10.1.8.0/24       the UDP streams (unaffected)
#    t64 6in4 192.168.0.1 <-> .2   fd01:64::1/64 <-> ::2  2001:db8:5::/64  <-> 2001:db8:8::/64   deleted by the reload
#    t66 6in6 fd00::1 <-> fd00::2  fd01:66::1/64 <-> ::2  2001:db8:15::/64 <-> 2001:db8:18::/64  ping -6 -i 0.01 (unaffected)
#  gw2 routes 10.3.8.0/24 and 10.4.8.0/24 via s2 (10.1.8.10) from the start;
#  gw1 has no route to them until a reload adds 10.3.8.0/24 (via 1.1.1.2,
#  into t44) and a SIGHUP 10.4.8.0/24. Each xgw runs `xgw run -c FILE`; the
#  test rewrites FILE and reloads.
#
# Checks
#   a. under traffic: a UDP stream each way over t44 (numbered datagrams,
#      UDP_PPS for UDP_SECS) and ping -6 -i 0.01 over t66 run while gw1 and
#      gw2 reload a file that deletes t64 (and its route) and, on gw1, adds
#      the route to 10.3.8.0/24. Before: s1 pings 10.3.8.10 in vain
#      (Destination Net Unreachable from gw1) and 2001:db8:8::10 through t64
#      3/3. After: 10.3.8.10 answers 3/3, ping -6 to 2001:db8:8::10 gets no
#      reply either way, `xgw tunnel list --json` has no t64 on either side,
#      `xgw route list --json` has neither t64's routes nor its connected
#      prefix, and its version rose by exactly 1 (one publication). Every
#      datagram of both streams arrives (exactly: none missing, none twice,
#      none corrupt), every ping -6 is answered, t44 and t66 counted
#      exactly the streams (encap/decap packets, counters not reset), and
#      neither gateway dropped anything over the window.
#   b. `xgw reload --dry-run` (text and --json) lists exactly those changes
#      and changes nothing: route and tunnel lists byte-identical, the route
#      still absent (ping still unreachable).
#   c. refused reloads, each a file that also adds a valid route (so a
#      partial apply would show): an interface's MTU changed
#      (`interfaces[0]`), engine.cores changed (`engine.cores`), a port's
#      ring size changed (`ports[1]`), a TOML syntax error (`TOML parse
#      error at line`), a route gateway on no subnet (`routes[3].via`).
#      Each: exit status non-zero, "reload refused, nothing changed" with
#      the key named, the same line in xgw's log, route and tunnel lists
#      byte-identical before and after. Traffic still crosses afterwards.
#   d. SIGHUP: a file with a syntax error gives "reload refused" in the log
#      and changes nothing; then the file with the route to 10.4.8.0/24
#      gives "configuration reloaded", the route is listed (via 1.1.1.2,
#      into t44) and 10.4.8.10 answers 3/3 (it did not before).
#   d2. interface addresses added by reload: a dry run lists lan's IPv6
#      multicast groups to join anew and joins nothing; the reload adds
#      the connected routes, joins the new address's solicited-node group
#      (ip maddr) and gw1 answers ARP, NDP and echo on the new addresses.
#   e. both gateways: `xgw drops --json` holds no reason but the servers'
#      MLD (ip6.multicast_not_forwarded); totals rx + emitted = tx + local
#      + dropped + pending, pending 0; SIGTERM exits 0, no XDP program left.
# Knobs: UDP_PPS=1000  UDP_SECS=8  XT_KEEP=1 (keep namespaces, logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=reload
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw

UDP_PPS=${UDP_PPS:-1000}
UDP_SECS=${UDP_SECS:-8}
UDP_N=$((UDP_PPS * UDP_SECS))
PING6_N=$((UDP_SECS * 100))     # ping -i 0.01 for as long as the streams
T0=$(date +%s)

NS_S1=$(xt_ns s1); NS_G1=$(xt_ns g1); NS_U=$(xt_ns u); NS_G2=$(xt_ns g2); NS_S2=$(xt_ns s2)
MAC_S1=02:51:00:00:00:10; MAC_G1L=02:01:00:00:00:01; MAC_G1W=02:01:00:00:00:02
MAC_S2=02:52:00:00:00:10; MAC_G2L=02:02:00:00:00:01; MAC_G2W=02:02:00:00:00:02
SOCK1=$XT_WORK/gw1.sock; SOCK2=$XT_WORK/gw2.sock
CFG1=$XT_WORK/gw1.toml; CFG2=$XT_WORK/gw2.toml

# ---------------------------------------------------------------------------
step "lab: s1 - gw1 (xgw) - underlay bridge - gw2 (xgw) - s2"
xt_ns_add "$NS_S1" ipv6; xt_ns_add "$NS_S2" ipv6
xt_ns_add "$NS_G1"; xt_ns_add "$NS_G2"; xt_ns_add "$NS_U"
xt_veth "$NS_S1" s1 "$NS_G1" g1l
xt_veth "$NS_G1" g1w "$NS_U" u1
xt_veth "$NS_U" u2 "$NS_G2" g2w
xt_veth "$NS_G2" g2l "$NS_S2" s2
xt_dut_if "$NS_G1" g1l "$MAC_G1L"; xt_dut_if "$NS_G1" g1w "$MAC_G1W"
xt_dut_if "$NS_G2" g2l "$MAC_G2L"; xt_dut_if "$NS_G2" g2w "$MAC_G2W"
ip -n "$NS_U" link add br0 type bridge stp_state 0 mcast_snooping 0
for i in u1 u2; do
  ip -n "$NS_U" link set "$i" master br0
  ip -n "$NS_U" link set "$i" up
done
ip -n "$NS_U" link set br0 up
xt_host_if "$NS_S1" s1 10.1.5.10/24 "$MAC_S1"
xt_host_if "$NS_S2" s2 10.1.8.10/24 "$MAC_S2"
for a in 2001:db8:5::10/64 2001:db8:15::10/64; do ip -n "$NS_S1" -6 addr add "$a" dev s1 nodad; done
for a in 2001:db8:8::10/64 2001:db8:18::10/64; do ip -n "$NS_S2" -6 addr add "$a" dev s2 nodad; done
# the prefixes only a reload (10.3.8.0/24) or a SIGHUP (10.4.8.0/24) makes
# gw1 route: addresses on s2's loopback, routed by gw2 via s2
ip -n "$NS_S2" addr add 10.3.8.10/32 dev lo
ip -n "$NS_S2" addr add 10.4.8.10/32 dev lo
ip -n "$NS_S1" route add default via 10.1.5.1
ip -n "$NS_S1" -6 route add default via 2001:db8:5::1
ip -n "$NS_S1" -6 route add 2001:db8:18::/64 via 2001:db8:15::1 src 2001:db8:15::10
ip -n "$NS_S2" route add default via 10.1.8.1
ip -n "$NS_S2" -6 route add default via 2001:db8:8::1
ip -n "$NS_S2" -6 route add 2001:db8:15::/64 via 2001:db8:18::1 src 2001:db8:18::10

# write_config FILE SIDE(1|2) STAGE [BAD]
#   STAGE start:  t44, t64, t66 and the routes into them
#         reload: t64 and its route gone; gw1 adds 10.3.8.0/24 via 1.1.1.2
#         hup:    reload + gw1 adds 10.4.8.0/24 via 1.1.1.2 (routes[3])
#         addr:   hup + gw1's lan gets a second IPv4 address, 10.1.6.1/24,
#                 and a third IPv6 one, 2001:db8:25::25/64
#   BAD (gw1, on top of "hup"): iface (lan's mtu) | cores | port (wan's
#   rx_ring) | syntax | gateway (10.4.8.0/24's)
write_config() {
  local f=$1 side=$2 stage=$3 bad=${4:-} me peer lanif wanif lan4 lan6 far cores rx_ring=2048 lanmtu=""
  if [[ $side == 1 ]]; then
    me=1; peer=2; lanif=g1l; wanif=g1w; far=8; cores=1
    lan4='"10.1.5.1/24"'; lan6='"2001:db8:5::1/64", "2001:db8:15::1/64"'
    [[ $stage == addr ]] && lan4='"10.1.5.1/24", "10.1.6.1/24"' \
      && lan6='"2001:db8:5::1/64", "2001:db8:15::1/64", "2001:db8:25::25/64"'
  else
    me=2; peer=1; lanif=g2l; wanif=g2w; far=5; cores=0
    lan4='"10.1.8.1/24"'; lan6='"2001:db8:8::1/64", "2001:db8:18::1/64"'
  fi
  case $bad in
    iface) lanmtu=$'\nmtu = 1400' ;;
    cores) cores=$((1 - cores)) ;;
    port) rx_ring=4096 ;;
  esac
  cat >"$f" <<EOF
# written by tests/netns/reload.sh (gateway $me, stage $stage${bad:+, bad: $bad})
[engine]
cores = [$cores]
idle = "adaptive"

[control]
socket = "$XT_WORK/gw$me.sock"

[[ports]]
name = "lan"
driver = "af_xdp"
interface = "$lanif"

[[ports]]
name = "wan"
driver = "af_xdp"
interface = "$wanif"
rx_ring = $rx_ring

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "lan"
ipv4 = [$lan4]
ipv6 = [$lan6]$lanmtu

[[interfaces]]
name = "wan"
port = "wan"
ipv4 = ["192.168.0.$me/24"]
ipv6 = ["fd00::$me/64"]

[[tunnels]]
name = "t44"
kind = "4in4"
local = "192.168.0.$me"
remote = "192.168.0.$peer"
ipv4 = ["1.1.1.$me/24"]
EOF
  if [[ $stage == start ]]; then
    cat >>"$f" <<EOF

[[tunnels]]
name = "t64"
kind = "6in4"
local = "192.168.0.$me"
remote = "192.168.0.$peer"
ipv6 = ["fd01:64::$me/64"]
EOF
  fi
  cat >>"$f" <<EOF

[[tunnels]]
name = "t66"
kind = "6in6"
local = "fd00::$me"
remote = "fd00::$peer"
ipv6 = ["fd01:66::$me/64"]

[[routes]]
prefix = "10.1.$far.0/24"
via = "1.1.1.$peer"

[[routes]]
prefix = "2001:db8:1$far::/64"
via = "fd01:66::$peer"
EOF
  if [[ $stage == start ]]; then
    printf '\n[[routes]]\nprefix = "2001:db8:%s::/64"\nvia = "fd01:64::%s"\n' "$far" "$peer" >>"$f"
  fi
  if [[ $side == 1 && $stage != start ]]; then
    printf '\n[[routes]]\nprefix = "10.3.8.0/24"\nvia = "1.1.1.2"\n' >>"$f"
    if [[ $stage == hup || $stage == addr ]]; then
      local gw=1.1.1.2
      [[ $bad == gateway ]] && gw=172.16.0.9
      printf '\n[[routes]]\nprefix = "10.4.8.0/24"\nvia = "%s"\n' "$gw" >>"$f"
    fi
  fi
  if [[ $side == 2 ]]; then
    printf '\n[[routes]]\nprefix = "10.%s.8.0/24"\nvia = "10.1.8.10"\n' 3 4 >>"$f"
  fi
  if [[ $bad == syntax ]]; then
    printf '\n[[routes]\nprefix = "10.5.8.0/24"\n' >>"$f"
  fi
  return 0
}

# start_gw N: start xgw #N on its file (retrying a rebind that gets
# EBUSY), wait until it answers; sets PID1/PID2 and LOG1/LOG2
start_gw() {
  local n=$1 ns sock cfg attempt log
  if [[ $n == 1 ]]; then ns=$NS_G1; sock=$SOCK1; cfg=$CFG1; else ns=$NS_G2; sock=$SOCK2; cfg=$CFG2; fi
  for attempt in 1 2 3 4 5; do
    log=$XT_WORK/gw$n.$attempt.log
    xt_xgw_start "$ns" "$cfg" "$log"
    if xt_xgw_wait_ready "$XT_XGW_PID" "$sock" "$log" 30 2>"$log.why"; then
      printf -v "PID$n" '%s' "$XT_XGW_PID"
      printf -v "LOG$n" '%s' "$log"
      pass "xgw gw$n is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "gw$n start attempt $attempt failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$log.why" >&2
  die "xgw gw$n did not come up"
}
sock_of() { if [[ $1 == 1 ]]; then echo "$SOCK1"; else echo "$SOCK2"; fi; }
log_of() { if [[ $1 == 1 ]]; then echo "$LOG1"; else echo "$LOG2"; fi; }
# stats N FILE: xgw stats --json of gateway N
stats() {
  local n=$1 sock; sock=$(sock_of "$1")
  xt_xgw_stats "$sock" --json >"$2" && return 0
  warn "gw$n log:"; xt_log_tail "$(log_of "$n")" 30 >&2
  die "xgw stats (gw$n) failed"
}
# xctl N ARGS...: an xgw control command against gateway N (bounded in time)
xctl() {
  local sock; sock=$(sock_of "$1"); shift
  timeout 10 "$XGW" "$@" --socket "$sock"
}
# lists N TAG: route list --json and tunnel list --json of gateway N into
# $XT_WORK/TAG.routes.json / TAG.tunnels.json. Workers publish tunnel
# counters at most every 500 ms: wait that out first.
lists() {
  sleep 0.7
  xctl "$1" route list --json >"$XT_WORK/$2.routes.json" || die "xgw route list (gw$1) failed"
  xctl "$1" tunnel list --json >"$XT_WORK/$2.tunnels.json" || die "xgw tunnel list (gw$1) failed"
}
# same_lists WHAT TAG_BEFORE TAG_AFTER: both lists byte-identical
same_lists() {
  local what=$1 a=$2 b=$3 k
  for k in routes tunnels; do
    if cmp -s "$XT_WORK/$a.$k.json" "$XT_WORK/$b.$k.json"; then
      pass "$what: xgw ${k%s} list --json byte-identical before and after ($(wc -c <"$XT_WORK/$b.$k.json") bytes)"
    else
      fail "$what: xgw ${k%s} list --json changed:"
      diff <("$XT_PY" -m json.tool "$XT_WORK/$a.$k.json") <("$XT_PY" -m json.tool "$XT_WORK/$b.$k.json") | head -n 20 | xt_indent || true
    fi
  done
}
# tcount FILE TUNNEL PATH: one counter of one tunnel (0 when absent)
tcount() {
  xt_json "$1" "(lambda t: (t[0]['$3'.split('.')[0]]['$3'.split('.')[1]] if t else 0))([x for x in d['tunnels'] if x['name'] == '$2'])"
}
version() { xt_json "$XT_WORK/$1.routes.json" 'd["version"]'; }
# routes_of TAG: "prefix>interface" of every route, sorted, one line
routes_of() {
  xt_json "$XT_WORK/$1.routes.json" '" ".join(sorted("%s>%s" % (r["prefix"], r.get("interface", "-")) for r in d["routes"]))'
}
tunnel_names() { xt_json "$XT_WORK/$1.tunnels.json" '" ".join(sorted(t["name"] for t in d["tunnels"]))'; }
total() { xt_json "$1" "d['totals']['$2']"; }

# wait until both gateways' totals stop moving (two equal reads 300 ms apart)
settle() {
  local prev="" cur i
  for ((i = 0; i < 33; i++)); do
    sleep 0.3
    cur=$(for n in 1 2; do stats "$n" "$XT_WORK/settle.json"; xt_json "$XT_WORK/settle.json" \
      '[d["totals"][k] for k in ("rx","tx","dropped","pending","emitted","local")]'; done | tr '\n' ' ') || cur="?"
    [[ -n $prev && $cur == "$prev" ]] && return 0
    prev=$cur
  done
  warn "xgw totals still moving after 10 s: $cur"
}

# ping_ok NS WHAT ARGS...: 3 pings, every reply
ping_ok() {
  local ns=$1 what=$2 out rc=0; shift 2
  out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$@" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$what: $(grep -E 'packets transmitted' <<<"$out")"
  else
    fail "$what (exit $rc): $(grep -E 'packets transmitted|From|rror' <<<"$out" | head -n 3 | tr '\n' ' ' || true)"
  fi
}
# ping_none NS WHAT PATTERN ARGS...: 2 pings, no reply; when PATTERN is
# not empty, the output must match it (the ICMP error expected)
ping_none() {
  local ns=$1 what=$2 pat=$3 out; shift 3
  out=$(ip netns exec "$ns" ping -c 2 -i 0.2 -W 1 "$@" 2>&1) || true
  if grep -qE ' 0 received' <<<"$out" && { [[ -z $pat ]] || grep -qE "$pat" <<<"$out"; }; then
    pass "$what: $(grep -oE "${pat:-packets transmitted.*}" <<<"$out" | head -n 1)"
  else
    fail "$what: expected no reply${pat:+ and /$pat/}:"; xt_indent <<<"$out"
  fi
}

# reload_ok N WHAT [ARGS...]: `xgw reload ARGS` on gateway N must exit 0;
# its stdout in $XT_WORK/reload.out
reload_ok() {
  local n=$1 what=$2 rc=0; shift 2
  xctl "$n" reload "$@" >"$XT_WORK/reload.out" 2>"$XT_WORK/reload.err" || rc=$?
  check_eq "$what: exit status" 0 "$rc" "$(tr '\n' ' ' <"$XT_WORK/reload.err")"
  xt_indent <"$XT_WORK/reload.out"
}
# log_count N PATTERN: lines of gateway N's log matching PATTERN
log_count() { grep -cE -- "$2" "$(log_of "$1")" || true; }

# ---------------------------------------------------------------------------
write_config "$CFG1" 1 start
write_config "$CFG2" 2 start
for n in 1 2; do
  rc=0; out=$("$XGW" check --config "$XT_WORK/gw$n.toml" 2>&1) || rc=$?
  check_eq "xgw check accepts gw$n's starting config (t44, t64, t66)" 0 "$rc" "${out:0:300}"
done
# the files of the later stages must be valid too (a refusal must come
# from what the test changes, not from a typo here)
write_config "$XT_WORK/check.toml" 1 hup
rc=0; out=$("$XGW" check --config "$XT_WORK/check.toml" 2>&1) || rc=$?
check_eq "xgw check accepts gw1's SIGHUP-stage config" 0 "$rc" "${out:0:300}"

step "start both gateways"
start_gw 1
start_gw 2
# warm up: every neighbour resolved, through every tunnel
ping_ok "$NS_S1" "before: ping s1->s2 10.1.8.10 (t44)" 10.1.8.10
ping_ok "$NS_S1" "before: ping -6 s1->s2 2001:db8:8::10 (t64, 6in4)" -6 2001:db8:8::10
ping_ok "$NS_S2" "before: ping -6 s2->s1 2001:db8:5::10 (t64, 6in4)" -6 2001:db8:5::10
ping_ok "$NS_S1" "before: ping -6 s1->s2 2001:db8:18::10 (t66, 6in6)" -6 2001:db8:18::10
ping_none "$NS_S1" "before: ping s1->10.3.8.10 (gw1 has no route)" 'From 10\.1\.5\.1 .*Destination Net Unreachable' 10.3.8.10
ping_none "$NS_S1" "before: ping s1->10.4.8.10 (gw1 has no route)" 'From 10\.1\.5\.1 .*Destination Net Unreachable' 10.4.8.10

# ---------------------------------------------------------------------------
step "b. xgw reload --dry-run: lists the changes, changes nothing"
write_config "$CFG1" 1 reload
write_config "$CFG2" 2 reload
WANT1="route 10.3.8.0/24 added|route 2001:db8:8::/64 deleted|tunnel t64 deleted"
WANT2="route 2001:db8:5::/64 deleted|tunnel t64 deleted"
settle
for n in 1 2; do
  lists "$n" "dry$n-a"
  reload_ok "$n" "gw$n: xgw reload --dry-run" --dry-run
  got=$(grep -E '^  ' "$XT_WORK/reload.out" | sed 's/^  //' | sort | paste -sd '|' -)
  want=$([[ $n == 1 ]] && echo "$WANT1" || echo "$WANT2")
  check_eq "gw$n: --dry-run lists the changes" "$want" "$got"
  check_eq "gw$n: --dry-run says 'would change'" 1 "$(grep -c 'would change' "$XT_WORK/reload.out" || true)"
  reload_ok "$n" "gw$n: xgw reload --dry-run --json" --dry-run --json
  check_eq "gw$n: --dry-run --json: ok, dry_run, the changes" "True True $want" \
    "$(xt_json "$XT_WORK/reload.out" '"%s %s %s" % (d.get("ok"), d.get("dry_run"), "|".join(sorted(d.get("changes", []))))')"
  lists "$n" "dry$n-b"
  same_lists "gw$n: --dry-run" "dry$n-a" "dry$n-b"
done
check_eq "gw1 log: no 'configuration reloaded' after the dry runs" 0 "$(log_count 1 'configuration reloaded')"
ping_none "$NS_S1" "after --dry-run: ping s1->10.3.8.10 still unreachable" 'Destination Net Unreachable' 10.3.8.10
ping_ok "$NS_S1" "after --dry-run: ping -6 s1->s2 through t64 still passes" -6 2001:db8:8::10

# ---------------------------------------------------------------------------
step "a. reload under traffic: route added, tunnel t64 deleted; streams over t44 and t66"
settle
lists 1 pre1; lists 2 pre2
stats 1 "$XT_WORK/win1-a.json"; stats 2 "$XT_WORK/win2-a.json"
xt_udp_recv_start "$NS_S2" 10.1.8.10 5001 "$UDP_N" "$XT_WORK/recv12.json" 3 $((UDP_SECS + 60)) 0
rx12=$XT_RECV_PID
xt_udp_recv_start "$NS_S1" 10.1.5.10 5002 "$UDP_N" "$XT_WORK/recv21.json" 3 $((UDP_SECS + 60)) 1
rx21=$XT_RECV_PID
xt_udp_send "$NS_S1" 10.1.8.10 5001 "$UDP_N" "$UDP_PPS" 64,512,1200 "$XT_WORK/send12.json" 0 &
tx12=$!
xt_udp_send "$NS_S2" 10.1.5.10 5002 "$UDP_N" "$UDP_PPS" 64,512,1200 "$XT_WORK/send21.json" 1 &
tx21=$!
ip netns exec "$NS_S1" ping -6 -c "$PING6_N" -i 0.01 -W 2 -q 2001:db8:18::10 >"$XT_WORK/ping6.out" 2>&1 &
ping6=$!
XT_PIDS+=("$tx12" "$tx21" "$ping6")
sleep $((UDP_SECS / 3))
for n in 1 2; do
  # (the reload must land in the middle of the streams)
  running=0
  for p in "$tx12" "$tx21" "$ping6"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
  check_eq "gw$n: both UDP senders and ping -6 still running when the reload starts" 3 "$running"
  t_a=$(date +%s%N)
  reload_ok "$n" "gw$n: xgw reload --json (while the streams run)" --json
  log "gw$n: the reload took $((($(date +%s%N) - t_a) / 1000000)) ms"
  want=$([[ $n == 1 ]] && echo "$WANT1" || echo "$WANT2")
  check_eq "gw$n: reload --json: ok and the changes" "True $want" \
    "$(xt_json "$XT_WORK/reload.out" '"%s %s" % (d.get("ok"), "|".join(sorted(d.get("changes", []))))')"
  sleep 0.5
done
running=0
for p in "$tx12" "$tx21" "$ping6"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
check_eq "both UDP senders and ping -6 still running after both reloads" 3 "$running"
rc=0; wait "$tx12" || rc=$?; check_eq "UDP sender s1->s2 exits 0" 0 "$rc"
rc=0; wait "$tx21" || rc=$?; check_eq "UDP sender s2->s1 exits 0" 0 "$rc"
rc=0; wait "$ping6" || rc=$?
wait "$rx12" || true; wait "$rx21" || true
log "ping -6 over t66: $(grep -E 'transmitted|rtt' "$XT_WORK/ping6.out" | tr '\n' ' ')"
check_eq "ping -6 -i 0.01 s1->s2 over t66 across both reloads: every reply" \
  "$PING6_N packets transmitted, $PING6_N received" \
  "$(grep -oE '[0-9]+ packets transmitted, [0-9]+ received' "$XT_WORK/ping6.out" || echo "ping exit $rc")"
for dir in 12 21; do
  label=$([[ $dir == 12 ]] && echo "s1->s2" || echo "s2->s1")
  log "UDP $label: sent $(cat "$XT_WORK/send$dir.json"); received $(cat "$XT_WORK/recv$dir.json")"
  check_eq "UDP $label over t44 across both reloads: received/missing/duplicates/corrupt/foreign" \
    "$UDP_N/0/0/0/0" \
    "$(xt_json "$XT_WORK/recv$dir.json" '"%d/%d/%d/%d/%d" % (d["received"], d["missing"], d["duplicates"], d["corrupt"], d["foreign"])')"
done
settle
stats 1 "$XT_WORK/win1-b.json"; stats 2 "$XT_WORK/win2-b.json"
lists 1 post1; lists 2 post2
for n in 1 2; do
  check_eq "gw$n: dropped over the window (streams and reloads)" 0 \
    "$(($(total "$XT_WORK/win$n-b.json" dropped) - $(total "$XT_WORK/win$n-a.json" dropped)))" \
    "drops since the start: $(xt_json "$XT_WORK/win$n-b.json" '{k: v["count"] for k, v in d["drops"].items()}')"
  # each gateway encapsulates one stream and decapsulates the other
  for c in encap decap; do
    check_eq "gw$n: t44 $c packets over the window = one stream (counters kept across the reload)" "$UDP_N" \
      "$(($(tcount "$XT_WORK/post$n.tunnels.json" t44 "$c.packets") - $(tcount "$XT_WORK/pre$n.tunnels.json" t44 "$c.packets")))"
  done
  c=$([[ $n == 1 ]] && echo encap || echo decap)
  check_eq "gw$n: t66 $c packets over the window = the echo requests" "$PING6_N" \
    "$(($(tcount "$XT_WORK/post$n.tunnels.json" t66 "$c.packets") - $(tcount "$XT_WORK/pre$n.tunnels.json" t66 "$c.packets")))"
  check_eq "gw$n: route table version after one reload (one publication)" "$(($(version "pre$n") + 1))" "$(version "post$n")"
  check_eq "gw$n: xgw tunnel list --json after the reload" "t44 t66" "$(tunnel_names "post$n")"
  xctl "$n" tunnel list >"$XT_WORK/tl$n.txt" 2>&1 || true
  check_eq "gw$n: xgw tunnel list (table) no longer shows t64" 0 "$(grep -c 't64' "$XT_WORK/tl$n.txt" || true)"
  log "gw$n routes before: $(routes_of "pre$n")"
  log "gw$n routes after:  $(routes_of "post$n")"
  # (t64's connected prefix and the route into it are gone; the same
  # prefix on the other side is the lan's own, connected)
  gone=$([[ $n == 1 ]] && echo 2001:db8:8::/64 || echo 2001:db8:5::/64)
  check_eq "gw$n: routes into t64, to $gone or to fd01:64::/64 left" "" \
    "$(xt_json "$XT_WORK/post$n.routes.json" '" ".join(r["prefix"] for r in d["routes"] if r.get("interface") == "t64" or r["prefix"] in ("fd01:64::/64", "'"$gone"'"))')"
done
check_eq "gw1: route 10.3.8.0/24 after the reload (via, interface, origin)" "1.1.1.2 t44 config" \
  "$(xt_json "$XT_WORK/post1.routes.json" '" | ".join("%s %s %s" % (r.get("via"), r.get("interface"), r.get("origin")) for r in d["routes"] if r["prefix"] == "10.3.8.0/24")')"
check_eq "gw1: the routes besides the changed ones are the same" \
  "$(routes_of pre1 | tr ' ' '\n' | grep -vE '^(2001:db8:8::/64|fd01:64::/64)>' | paste -sd ' ' -)" \
  "$(routes_of post1 | tr ' ' '\n' | grep -vE '^10\.3\.8\.0/24>' | paste -sd ' ' -)"
check_eq "gw1 log: 'configuration reloaded' once, with its changes" "1 3" \
  "$(log_count 1 'configuration reloaded') $(log_count 1 'reload: (tunnel t64 deleted|route 2001:db8:8::/64 deleted|route 10.3.8.0/24 added)')"
ping_ok "$NS_S1" "after: ping s1->10.3.8.10 (the route the reload added)" 10.3.8.10
ping_none "$NS_S1" "after: ping -6 s1->2001:db8:8::10 (t64 deleted)" 'Destination unreachable|Unreachable' -6 2001:db8:8::10
ping_none "$NS_S2" "after: ping -6 s2->2001:db8:5::10 (t64 deleted)" 'Destination unreachable|Unreachable' -6 2001:db8:5::10

# ---------------------------------------------------------------------------
step "c. refused reloads: nothing changes"
# (the file each time also adds 10.4.8.0/24: a partial apply would show)
BADS=(
  "iface|interfaces[0]|an interface's MTU changed (lan mtu 1500 -> 1400)"
  "cores|engine.cores|engine.cores changed ([1] -> [0])"
  "port|ports[1]|a port changed (wan rx_ring 2048 -> 4096)"
  "syntax|TOML parse error at line|a TOML syntax error ([[routes] unclosed)"
  "gateway|routes[3].via|a route gateway on no subnet (10.4.8.0/24 via 172.16.0.9)"
)
settle
for spec in "${BADS[@]}"; do
  IFS='|' read -r bad key what <<<"$spec"
  write_config "$CFG1" 1 hup "$bad"
  lists 1 "bad-$bad-a"
  refused0=$(log_count 1 'reload refused, nothing changed')
  rc=0
  xctl 1 reload >"$XT_WORK/reload.out" 2>"$XT_WORK/reload.err" || rc=$?
  msg=$(tr '\n' ' ' <"$XT_WORK/reload.err")
  if ((rc != 0)); then pass "$what: xgw reload exits $rc"
  else fail "$what: xgw reload exits 0: $(tr '\n' ' ' <"$XT_WORK/reload.out")"; fi
  if grep -qF 'reload refused, nothing changed' <<<"$msg" && grep -qF -- "$key" <<<"$msg"; then
    pass "$what: refused, names $key: $msg"
  else
    fail "$what: want 'reload refused, nothing changed' naming $key, got: $msg $(tr '\n' ' ' <"$XT_WORK/reload.out")"
  fi
  check_eq "$what: gw1's log: one 'reload refused' line more, naming $key (lines, naming)" "1 1" \
    "$(($(log_count 1 'reload refused, nothing changed') - refused0)) $(grep -F 'reload refused' "$LOG1" | tail -n 1 | grep -cF -- "$key" || true)"
  lists 1 "bad-$bad-b"
  same_lists "$what" "bad-$bad-a" "bad-$bad-b"
done
check_eq "gw1: route 10.4.8.0/24 absent after the refusals" "" \
  "$(xt_json "$XT_WORK/bad-gateway-b.routes.json" '" ".join(r["prefix"] for r in d["routes"] if r["prefix"] == "10.4.8.0/24")')"
ping_ok "$NS_S1" "after the refusals: ping s1->s2 10.1.8.10 (t44)" 10.1.8.10
ping_ok "$NS_S1" "after the refusals: ping -6 s1->s2 2001:db8:18::10 (t66)" -6 2001:db8:18::10

# ---------------------------------------------------------------------------
step "d. SIGHUP: a bad file is refused, then the edited file is applied"
ping_none "$NS_S1" "before SIGHUP: ping s1->10.4.8.10 unreachable" 'Destination Net Unreachable' 10.4.8.10
# hup_wait N PATTERN COUNT: waits (5 s at most) until gw N's log has COUNT
# lines matching PATTERN
hup_wait() {
  local i
  for ((i = 0; i < 50; i++)); do
    (($(log_count "$1" "$2") >= $3)) && return 0
    sleep 0.1
  done
  return 1
}
write_config "$CFG1" 1 hup syntax
lists 1 hup-bad-a
refused0=$(log_count 1 'reload refused')
kill -s HUP "$PID1"
if hup_wait 1 'reload refused' $((refused0 + 1)); then
  pass "SIGHUP with a syntax error: gw1 logs $(grep 'reload refused' "$LOG1" | tail -n 1 | sed 's/^.*reload refused/reload refused/' | cut -c1-140)"
else
  fail "SIGHUP with a syntax error: no 'reload refused' line in gw1's log within 5 s:"; xt_log_tail "$LOG1" 5
fi
lists 1 hup-bad-b
same_lists "SIGHUP with a syntax error" hup-bad-a hup-bad-b
check_eq "gw1 still runs after the refused SIGHUP" 0 "$(kill -0 "$PID1" 2>/dev/null; echo $?)"

write_config "$CFG1" 1 hup
lists 1 hup-a
reloaded0=$(log_count 1 'configuration reloaded')
kill -s HUP "$PID1"
if hup_wait 1 'configuration reloaded' $((reloaded0 + 1)); then
  pass "SIGHUP: gw1 logs $(grep 'configuration reloaded' "$LOG1" | tail -n 1 | sed 's/^.*configuration reloaded/configuration reloaded/')"
else
  fail "SIGHUP: no 'configuration reloaded' line in gw1's log within 5 s:"; xt_log_tail "$LOG1" 5
fi
check_eq "SIGHUP: gw1's log names the change" 1 "$(log_count 1 'reload: route 10.4.8.0/24 added')"
lists 1 hup-b
check_eq "SIGHUP: route 10.4.8.0/24 listed (via, interface, origin)" "1.1.1.2 t44 config" \
  "$(xt_json "$XT_WORK/hup-b.routes.json" '" | ".join("%s %s %s" % (r.get("via"), r.get("interface"), r.get("origin")) for r in d["routes"] if r["prefix"] == "10.4.8.0/24")')"
check_eq "SIGHUP: route table version +1" "$(($(version hup-a) + 1))" "$(version hup-b)"
ping_ok "$NS_S1" "after SIGHUP: ping s1->10.4.8.10 (the route SIGHUP added)" 10.4.8.10
ping_ok "$NS_S1" "after SIGHUP: ping s1->10.3.8.10 (the route of the first reload)" 10.3.8.10

# ---------------------------------------------------------------------------
step "d2. reload: interface addresses added (connected routes and the solicited-node group follow)"
ip -n "$NS_S1" addr add 10.1.6.10/24 dev s1
ip -n "$NS_S1" -6 addr add 2001:db8:25::10/64 dev s1 nodad
# 2001:db8:25::25's solicited-node group ff02::1:ff00:25, as a link-layer
# membership on g1l (what a NIC's multicast filter is programmed from).
snode() { ip -n "$NS_G1" maddr show dev g1l | grep -c 'link  *33:33:ff:00:00:25' || true; }
check_eq "before: g1l has not joined 33:33:ff:00:00:25" 0 "$(snode)"
arp_nfu() { xctl 1 drops --json | python3 -c 'import json,sys; print(sum(r["count"] for r in json.load(sys.stdin)["drops"] if r["reason"] == "arp.not_for_us"))'; }
nfu0=$(arp_nfu)
ping_none "$NS_S1" "before: ping s1->10.1.6.1 (not gw1's yet)" '' 10.1.6.1
nfu1=$(arp_nfu)
if ((nfu1 > nfu0)); then pass "before: s1's ARP requests for 10.1.6.1 reached gw1, which let them be (arp.not_for_us +$((nfu1 - nfu0)))"
else fail "before: no arp.not_for_us for s1's requests for 10.1.6.1 ($nfu0 -> $nfu1)"; fi
write_config "$CFG1" 1 addr
reload_ok 1 "xgw reload --dry-run with lan's second address" --dry-run
check_eq "the dry run lists lan's groups to join anew" 1 \
  "$(grep -c 'port lan: IPv6 multicast groups to join anew' "$XT_WORK/reload.out")"
check_eq "after the dry run: g1l still has not joined 33:33:ff:00:00:25" 0 "$(snode)"
lists 1 addr-a
reload_ok 1 "reload with lan's second address"
check_eq "the reload names the address" 1 "$(grep -c 'interface lan: address 10.1.6.1/24 added' "$XT_WORK/reload.out")"
lists 1 addr-b
check_eq "route 10.1.6.0/24 listed (interface, origin)" "lan connected" \
  "$(xt_json "$XT_WORK/addr-b.routes.json" '" | ".join("%s %s" % (r.get("interface"), r.get("origin")) for r in d["routes"] if r["prefix"] == "10.1.6.0/24")')"
check_eq "route table version +1" "$(($(version addr-a) + 1))" "$(version addr-b)"
# (s1 gave up on 10.1.6.1 before: forget that, so it asks again at once.)
ip -n "$NS_S1" neigh flush to 10.1.6.1 2>/dev/null || true
ping_ok "$NS_S1" "after: ping s1->10.1.6.1 (gw1 answers ARP and echo on its new address)" 10.1.6.1
check_eq "the reload names the IPv6 address" 1 "$(grep -c 'interface lan: address 2001:db8:25::25/64 added' "$XT_WORK/reload.out")"
check_eq "the reload joined lan's groups anew" 1 "$(grep -c 'port lan: IPv6 multicast groups joined anew' "$XT_WORK/reload.out")"
check_eq "after: g1l has joined 33:33:ff:00:00:25" 1 "$(snode)"
ip -n "$NS_S1" -6 neigh flush to 2001:db8:25::25 2>/dev/null || true
ping_ok "$NS_S1" "after: ping -6 s1->2001:db8:25::25 (gw1 answers NDP and echo on its new address)" -6 2001:db8:25::25
check_eq "s1 resolved 2001:db8:25::25 to gw1's lan MAC" 1 \
  "$(ip -n "$NS_S1" -6 neigh show 2001:db8:25::25 dev s1 | grep -ciE "lladdr $(ip -n "$NS_G1" -br link show g1l | awk '{print $3}')")"
ip -n "$NS_S1" addr del 10.1.6.10/24 dev s1
ip -n "$NS_S1" -6 addr del 2001:db8:25::10/64 dev s1

# ---------------------------------------------------------------------------
step "e. drops, accounting, SIGTERM"
settle
for n in 1 2; do
  xctl "$n" drops --json >"$XT_WORK/drops$n.json" || die "xgw drops --json (gw$n) failed"
  log "gw$n drops: $(xt_json "$XT_WORK/drops$n.json" '{r["reason"]: r["count"] for r in d["drops"]}')"
  # (gw1 also let s1's ARP requests for 10.1.6.1 be, before step d2's reload.)
  check_eq "gw$n: xgw drops --json: no reason besides the servers' MLD (ip6.multicast_not_forwarded)" "" \
    "$(xt_json "$XT_WORK/drops$n.json" '" ".join(sorted("%s=%d" % (r["reason"], r["count"]) for r in d["drops"] if r["reason"] != "ip6.multicast_not_forwarded" and not (r["reason"] == "arp.not_for_us" and '"$n"' == 1)))')"
  stats "$n" "$XT_WORK/final$n.json"
  T=$XT_WORK/final$n.json
  rx=$(total "$T" rx); em=$(total "$T" emitted); tx=$(total "$T" tx)
  lo=$(total "$T" local); dr=$(total "$T" dropped); pe=$(total "$T" pending)
  log "gw$n totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
  check_eq "gw$n: totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "gw$n: totals.pending once idle" 0 "$pe"
  check_eq "gw$n: its log has no ERROR and no panic" 0 "$(grep -cE 'ERROR|panick' "$(log_of "$n")" || true)"
done
for n in 1 2; do
  if [[ $n == 1 ]]; then pid=$PID1; ns=$NS_G1; ifs="g1l g1w"; else pid=$PID2; ns=$NS_G2; ifs="g2l g2w"; fi
  xt_xgw_stop "$pid" TERM 15
  check_eq "gw$n: exit status after SIGTERM" 0 "$XT_RC"
  for i in $ifs; do xt_check_no_xdp "$ns" "$i" 2; done
done

log "took $(($(date +%s) - T0)) s"
xt_finish
