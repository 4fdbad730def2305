#!/usr/bin/env bash
# Acceptance test: Router Advertisements from xgw (pipeline kind "router",
# [interfaces.ra]) configure a Linux host by SLAAC, over AF_XDP on veth.
# Run as root:  tests/netns/ra.sh
#
#   ns H (host, accept_ra=2, autoconf)          ns X (xgw)
#   h0 ──────────────────veth──────────────────── xr [lan, mtu 1400, RA]
#   02:0a:00:00:00:02                             02:0a:00:00:00:01
#   SLAAC in 2001:db8:1::/64                      2001:db8:1::1/64
#
# Checks
#   1. unsolicited RAs (interval = 4 s): the host gets the SLAAC address
#      2001:db8:1:0:a:ff:fe00:2 (EUI-64) with the advertised lifetimes, a
#      default route via xgw's link-local (router lifetime), the advertised
#      MTU (1400, the interface's) and hop limit (50), and a neighbour entry
#      for xgw's link-local with its MAC (SLLA); ping -6 from the SLAAC
#      address to xgw works
#   2. the RAs the host captured: sent to ff02::1 from xgw's link-local with
#      hop limit 255; tshark dissects the MTU, Prefix Information, RDNSS and
#      PREF64 options with no expert warnings; spaced 3 to 4 s apart
#      (MinRtrAdvInterval .. MaxRtrAdvInterval)
#   3. solicited (interval = 600 s, so no unsolicited RA in the window): the
#      host's Router Solicitation after a link flap is answered within
#      MAX_RA_DELAY_TIME (0.5 s, plus slack), and the host configures again
#   4. xgw: no ndp.invalid drops, the solicitation counted as local;
#      SIGTERM exits 0 and leaves no XDP program
# Knobs: XT_KEEP=1 (keep namespaces/logs)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=ra
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in tcpdump tshark; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done

NS_H=$(xt_ns h); NS_X=$(xt_ns x)
IF_H=h0; IF_X=xr
MAC_H=02:0a:00:00:00:02; MAC_X=02:0a:00:00:00:01
X6=2001:db8:1::1
SLAAC=2001:db8:1:0:a:ff:fe00:2         # EUI-64 of MAC_H in the /64 (as ip prints it)
LL_X=fe80::a:ff:fe00:1                 # EUI-64 of MAC_X
SOCK=$XT_WORK/ctl.sock

hsh() { ip netns exec "$NS_H" "$@"; }
hsys() { hsh cat "/proc/sys/net/ipv6/conf/$IF_H/$1"; }

# ---------------------------------------------------------------------------
step "lab: $NS_H (host) <-> $NS_X (xgw with router advertisements)"
xt_ns_add "$NS_H" ipv6
xt_ns_add "$NS_X"   # IPv6 off in xgw's namespace: its kernel stays silent on xr
xt_veth "$NS_H" "$IF_H" "$NS_X" "$IF_X"
xt_dut_if "$NS_X" "$IF_X" "$MAC_X"
ip -n "$NS_H" link set dev "$IF_H" address "$MAC_H"
hsh ethtool -K "$IF_H" tx off >/dev/null 2>&1 || die "ethtool -K $IF_H tx off failed"
# a host (not forwarding) that takes everything from RAs; no solicitations
# in part 1, so that what configures it are the unsolicited RAs
hsh sysctl -qw "net.ipv6.conf.$IF_H.accept_ra=2" "net.ipv6.conf.$IF_H.autoconf=1" \
  "net.ipv6.conf.$IF_H.accept_ra_defrtr=1" "net.ipv6.conf.$IF_H.accept_ra_pinfo=1" \
  "net.ipv6.conf.$IF_H.accept_ra_mtu=1" "net.ipv6.conf.$IF_H.addr_gen_mode=0" \
  "net.ipv6.conf.$IF_H.router_solicitations=0" >/dev/null
ip -n "$NS_H" link set dev "$IF_H" up

write_config() { # FILE INTERVAL
  cat >"$1" <<EOF
# written by tests/netns/ra.sh
[engine]
cores = [1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "px"
driver = "af_xdp"
interface = "$IF_X"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "px"
ipv6 = ["$X6/64"]
mtu = 1400

[interfaces.ra]
interval = $2
hop_limit = 50
rdnss = { servers = ["2001:db8:1::53"] }
pref64 = { prefix = "64:ff9b::/96" }
EOF
}

start_xgw() { # CONFIG LABEL
  local cfg=$1 label=$2 attempt
  for attempt in 1 2 3 4 5; do
    xt_xgw_start "$NS_X" "$cfg" "$XT_WORK/xgw-$label.$attempt.log"
    if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XT_WORK/xgw-$label.$attempt.log" 30 \
      2>"$XT_WORK/xgw-$label.$attempt.why"; then
      pass "xgw ($label) is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "start attempt $attempt failed: $(grep -v '^\s*$' "$XT_WORK/xgw-$label.$attempt.log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$XT_WORK/xgw-$label.5.why" >&2
  die "xgw ($label) did not come up"
}

# capture_start FILE: tcpdump of ICMPv6 on the host's interface
capture_start() {
  hsh tcpdump -i "$IF_H" -U -n -w "$1" icmp6 >"$1.log" 2>&1 &
  CAP_PID=$!
  XT_PIDS+=("$CAP_PID")
  local i
  for ((i = 0; i < 50; i++)); do
    grep -q "listening on" "$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  die "tcpdump did not start: $(cat "$1.log")"
}
# (TERM: background jobs of a script ignore SIGINT)
capture_stop() { xt_kill_pid "$CAP_PID" TERM 5; }

# wait_for WHAT SECONDS CMD...: polls CMD every 0.2 s
wait_for() {
  local what=$1 t=$2 i; shift 2
  for ((i = 0; i < t * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}
# shellcheck disable=SC2317  # called through wait_for
has_slaac() { ip -n "$NS_H" -6 addr show dev "$IF_H" scope global | grep -q "inet6 $SLAAC/64"; }
# shellcheck disable=SC2317  # called through wait_for
has_defrtr() { ip -n "$NS_H" -6 route show default | grep -q "via $LL_X dev $IF_H proto ra"; }

# ---------------------------------------------------------------------------
step "1. unsolicited RAs configure the host"
write_config "$XT_WORK/ra4.toml" 4
rc=0; out=$("$XGW" check --config "$XT_WORK/ra4.toml" 2>&1) || rc=$?
check_eq "xgw check accepts the RA config" 0 "$rc" "${out:0:200}"
CAP1=$XT_WORK/host-unsolicited.pcap
capture_start "$CAP1"
T_START=$(date +%s.%N)
start_xgw "$XT_WORK/ra4.toml" unsolicited
if wait_for "SLAAC address" 10 has_slaac; then
  pass "host has the SLAAC address $SLAAC/64 after $(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
else
  fail "no SLAAC address $SLAAC on $IF_H; addresses: $(ip -n "$NS_H" -6 -br addr show dev "$IF_H")"
fi
addr=$(ip -n "$NS_H" -6 addr show dev "$IF_H" scope global)
log "host address: $(tr -s ' \n' ' ' <<<"$addr")"
valid=$(grep -oP 'valid_lft \K[0-9]+' <<<"$addr" | head -1 || echo 0)
pref=$(grep -oP 'preferred_lft \K[0-9]+' <<<"$addr" | head -1 || echo 0)
if ((valid > 2591900 && valid <= 2592000)); then pass "valid lifetime ~2592000 s ($valid)"
else fail "valid lifetime: expected ~2592000, got $valid"; fi
if ((pref > 604700 && pref <= 604800)); then pass "preferred lifetime ~604800 s ($pref)"
else fail "preferred lifetime: expected ~604800, got $pref"; fi
if wait_for "default route" 5 has_defrtr; then
  pass "default route via xgw's link-local: $(ip -n "$NS_H" -6 route show default | tr -s ' ')"
else
  fail "no default route via $LL_X: $(ip -n "$NS_H" -6 route show default)"
fi
exp=$(ip -n "$NS_H" -6 route show default | grep -oP 'expires \K[0-9]+' || echo 0)
if ((exp > 1700 && exp <= 1800)); then pass "default route expires in ~1800 s ($exp, router lifetime)"
else fail "default route expiry: expected ~1800 s, got $exp"; fi
check_eq "host IPv6 MTU on $IF_H (RA MTU option = xgw's interface mtu)" 1400 "$(hsys mtu)"
check_eq "host hop limit on $IF_H (RA Cur Hop Limit)" 50 "$(hsys hop_limit)"
check_eq "ip -6 route get 2001:db8:9::1 goes via xgw" 1 \
  "$(ip -n "$NS_H" -6 route get 2001:db8:9::1 | grep -c "via $LL_X dev $IF_H")"
neigh=$(ip -n "$NS_H" -6 neigh show dev "$IF_H" | grep "^$LL_X " || true)
if [[ $neigh == *"lladdr $MAC_X router"* ]]; then pass "host neighbour entry from the SLLA: $neigh"
else fail "host neighbour entry for $LL_X: expected lladdr $MAC_X router, got '$neigh'"; fi
if hsh ping -6 -c 2 -W 2 -I "$SLAAC" "$X6" >/dev/null 2>&1; then
  pass "ping -6 from the SLAAC address to xgw ($X6)"
else
  fail "ping -6 -I $SLAAC $X6"
fi
# let a few periodic RAs pass (3 to 4 s apart)
sleep 9
capture_stop

step "2. the RAs on the wire"
ras=$(tshark -r "$CAP1" -Y "icmpv6.type == 134" -T fields -e frame.time_relative -e ipv6.src \
  -e ipv6.dst -e ipv6.hlim -e eth.dst 2>/dev/null)
n=$(grep -c . <<<"$ras" || true)
log "RAs captured by the host: $n"
if ((n >= 3)); then pass "$n RAs captured"; else fail "expected at least 3 RAs in ~11 s, got $n"; fi
bad=$(awk -v ll="$LL_X" '$2 != ll || $3 != "ff02::1" || $4 != 255 || $5 != "33:33:00:00:00:01"' <<<"$ras")
if [[ -z $bad ]]; then pass "every RA: $LL_X -> ff02::1 (33:33:00:00:00:01), hop limit 255"
else fail "RAs with other addressing: $bad"; fi
gaps=$(awk 'NR > 1 { printf "%.2f\n", $1 - prev } { prev = $1 }' <<<"$ras")
log "intervals between RAs (s): $(tr '\n' ' ' <<<"$gaps")"
off=$(awk '$1 < 2.95 || $1 > 4.1' <<<"$gaps")
if [[ -n $gaps && -z $off ]]; then pass "RA intervals within [MinRtrAdvInterval 3 s, MaxRtrAdvInterval 4 s]"
else fail "RA intervals outside [3, 4] s: $(tr '\n' ' ' <<<"$off")"; fi
text=$(tshark -r "$CAP1" -Y "icmpv6.type == 134" -V 2>/dev/null)
for w in "ICMPv6 Option (Source link-layer address : $MAC_X)" "ICMPv6 Option (MTU : 1400)" \
  "ICMPv6 Option (Prefix information : 2001:db8:1::/64)" \
  "ICMPv6 Option (Recursive DNS Server 2001:db8:1::53)" "ICMPv6 Option (PREF64 Option)" \
  "Scaled Lifetime: 2" "[Checksum Status: Good]" "Cur hop limit: 50"; do
  if grep -qF "$w" <<<"$text"; then pass "tshark: $w"; else fail "tshark -V lacks: $w"; fi
done
expert=$(tshark -r "$CAP1" -q -z expert,warn 2>/dev/null)
if [[ -z $(tr -d '[:space:]' <<<"$expert") ]]; then pass "tshark: no expert warnings or errors"
else fail "tshark expert info: $expert"; fi

xt_xgw_stats "$SOCK" --json >"$XT_WORK/s1.json"
check_eq "no ndp.invalid drops" 0 "$(xt_json "$XT_WORK/s1.json" "d['drops'].get('ndp.invalid', {}).get('count', 0)")"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"

# ---------------------------------------------------------------------------
step "3. a Router Solicitation is answered"
write_config "$XT_WORK/ra600.toml" 600
start_xgw "$XT_WORK/ra600.toml" solicited
# the RA at start is now more than MIN_DELAY_BETWEEN_RAS (3 s) old, and the
# next unsolicited one is 16 s after start
sleep 4
hsh sysctl -qw "net.ipv6.conf.$IF_H.router_solicitations=3" \
  "net.ipv6.conf.$IF_H.router_solicitation_delay=0" \
  "net.ipv6.conf.$IF_H.router_solicitation_interval=4" >/dev/null
CAP2=$XT_WORK/host-solicited.pcap
capture_start "$CAP2"
ip -n "$NS_H" link set dev "$IF_H" down
ip -n "$NS_H" link set dev "$IF_H" up
if wait_for "SLAAC address" 5 has_slaac && wait_for "default route" 3 has_defrtr; then
  pass "host configured again after the link flap"
else
  fail "host not configured after the link flap: $(ip -n "$NS_H" -6 -br addr show dev "$IF_H")"
fi
sleep 1
capture_stop
msgs=$(tshark -r "$CAP2" -Y "icmpv6.type == 133 || icmpv6.type == 134" -T fields \
  -e frame.time_relative -e icmpv6.type -e ipv6.dst 2>/dev/null)
log "RS/RA seen by the host: $(tr '\t\n' ' ;' <<<"$msgs")"
t_rs=$(awk '$2 == 133 { print $1; exit }' <<<"$msgs")
if [[ -z $t_rs ]]; then
  fail "the host sent no Router Solicitation"
else
  t_ra=$(awk -v t="$t_rs" '$2 == 134 && $1 >= t { print $1; exit }' <<<"$msgs")
  if [[ -z $t_ra ]]; then
    fail "no RA after the host's RS"
  else
    d=$(awk -v a="$t_rs" -v b="$t_ra" 'BEGIN { printf "%.3f", b - a }')
    if awk -v d="$d" 'BEGIN { exit !(d <= 0.7) }'; then pass "RS answered after $d s (MAX_RA_DELAY_TIME 0.5 s)"
    else fail "RS answered after $d s, more than 0.5 s + slack"; fi
  fi
fi
xt_xgw_stats "$SOCK" --json >"$XT_WORK/s2.json"
loc=$(xt_json "$XT_WORK/s2.json" "d['totals']['local']")
if ((loc >= 1)); then pass "xgw counted the solicitation as local ($loc)"; else fail "totals.local = $loc"; fi
check_eq "no ndp.invalid drops" 0 "$(xt_json "$XT_WORK/s2.json" "d['drops'].get('ndp.invalid', {}).get('count', 0)")"
T=$XT_WORK/s2.json
check_eq "totals.rx + emitted = tx + local + dropped + pending" \
  "$(xt_json "$T" 'd["totals"]["rx"] + d["totals"]["emitted"]')" \
  "$(xt_json "$T" 'd["totals"]["tx"] + d["totals"]["local"] + d["totals"]["dropped"] + d["totals"]["pending"]')"

step "4. stop"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
xt_check_no_xdp "$NS_X" "$IF_X" 2

xt_finish
