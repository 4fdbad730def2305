#!/usr/bin/env bash
# xgw quick start: builds xgw and runs it as what it is for, a gateway.
# Two sites whose hosts have IPv6 only are joined over a transport that
# carries IPv4 only: two xgw, one per site, carry the IPv6 packets across
# inside IPv4 (6in4, IP-in-IP protocol 41).  The demo builds that lab out
# of network namespaces, sends ping, UDP and TCP from site to site, shows
# gateway A's tunnel counters and stats, the path of one packet through
# gateway B (xgw trace), a packet dropped and why (xgw drops), and stops
# both gateways.  Last, a short run of `xgw run` with no config (the
# embedded configs/demo.toml, an L2 cross-connect).  The lab is removed on
# exit, whatever happens.  Run as root on Debian 12:
#
#   ./demo.sh
#
#   xgw-demo-a           xgw-demo-gwa          xgw-demo-t          xgw-demo-gwb           xgw-demo-b
#   host A             gateway A (xgw)         transport         gateway B (xgw)              host B
#   IPv6 only                                  IPv4 only                                   IPv6 only
#   a0 ────────── gwa-lan [ router ] gwa-wan ─── bridge ─── gwb-wan [ router ] gwb-lan ────────── b0
#   2001:db8:a::10  2001:db8:a::1    192.0.2.1            192.0.2.2    2001:db8:b::1  2001:db8:b::10
#                      tunnel to-site-b ═════════ 6in4 ═════════ tunnel to-site-a
#
# The gateways run configs/demo-site-a.toml and configs/demo-site-b.toml
# (ip netns exec NS xgw run -c FILE).
# Knobs: DEMO_UDP=10000 (datagrams across the tunnel)  DEMO_TCP_SECS=3 (0 = skip iperf3)
#        DEMO_L2_UDP=20000 (datagrams across the L2 cross-connect)
#        DEMO_XGW=path (use that binary, skip the build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

if [[ $(id -u) != 0 ]]; then
  echo "demo.sh needs root: it creates network namespaces and lets xgw attach XDP programs." >&2
  echo "  try: sudo $0" >&2
  exit 1
fi

XT_NAME=demo
XT_SUMMARY=0   # no "N passed, M failed" line from lib.sh's die()
# shellcheck source-path=SCRIPTDIR source=tests/netns/lib.sh
source "$ROOT/tests/netns/lib.sh"

DEMO_UDP=${DEMO_UDP:-10000}
DEMO_TCP_SECS=${DEMO_TCP_SECS:-3}
NS_A=xgw-demo-a; NS_GA=xgw-demo-gwa; NS_T=xgw-demo-t; NS_GB=xgw-demo-gwb; NS_B=xgw-demo-b
NS_X=xgw-demo; NS_W=xgw-demo-w; NS_E=xgw-demo-e   # step 10: the embedded l2fwd config
ALL_NS=("$NS_A" "$NS_GA" "$NS_T" "$NS_GB" "$NS_B" "$NS_X" "$NS_W" "$NS_E")
IP_A=2001:db8:a::10; IP_B=2001:db8:b::10
BLOCKED=2001:db8:b::bad                  # gateway A has a blackhole route for it
CFG_A=configs/demo-site-a.toml; CFG_B=configs/demo-site-b.toml
IP_W=10.99.0.1; IP_E=10.99.0.2           # step 10
SOCK_L2=/run/xgw/demo.sock               # [control] socket of the embedded config
DEMO_L2_UDP=${DEMO_L2_UDP:-20000}
PROBLEMS=0

say()  { printf '\n%s%s%s\n' "$XT_C_BLD" "$*" "$XT_C_OFF"; }
info() { printf '   %s\n' "$*"; }
good() { printf '   %s✔%s %s\n' "$XT_C_GRN" "$XT_C_OFF" "$*"; }
bad()  { printf '   %s✘%s %s\n' "$XT_C_RED" "$XT_C_OFF" "$*"; PROBLEMS=$((PROBLEMS + 1)); }
show() { sed 's/^/     | /'; }   # command output, indented

cat <<'EOF'

  xgw demo — two IPv6 sites joined over an IPv4-only transport by two xgw gateways

  host A             gateway A (xgw)         transport         gateway B (xgw)              host B
  IPv6 only                                  IPv4 only                                   IPv6 only
  a0 ────────── gwa-lan [ router ] gwa-wan ─── bridge ─── gwb-wan [ router ] gwb-lan ────────── b0
  2001:db8:a::10  2001:db8:a::1    192.0.2.1            192.0.2.2    2001:db8:b::1  2001:db8:b::10
                     tunnel to-site-b ═════════ 6in4 ═════════ tunnel to-site-a

  The two hosts, two gateways and the transport are network namespaces on
  this machine; nothing leaves it.  The transport carries IPv4 only, so
  each gateway puts the IPv6 packets for the other site inside IPv4 (6in4)
  and the other takes them out.  Last, a short run of `xgw run` with no
  config: the embedded L2 cross-connect.
EOF

# ---------------------------------------------------------------------------
say "1/10  Checking the tools this demo uses"
# shellcheck disable=SC2119  # no extra packages
xt_install_pkgs
if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
  PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH
fi
if [[ -n ${DEMO_XGW:-} ]]; then
  good "iproute2, ping, ethtool, tcpdump, python3 and iperf3 are here"
else
  command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first" >&2; exit 1; }
  good "iproute2, ping, ethtool, tcpdump, python3, iperf3 and cargo are here"
fi

if [[ -n ${DEMO_XGW:-} ]]; then
  XGW=$DEMO_XGW
  say "2/10  Using $XGW (DEMO_XGW), not building"
else
  say "2/10  Building xgw (cargo build --release; the first build takes a minute or two)"
  cargo build --release -p xgw-engine
  XGW=$ROOT/target/release/xgw
  good "built $XGW"
fi
T0=$(date +%s)

xt_init   # from here on, the lab is removed on exit, whatever happens

# lib.sh's UDP sender and receiver speak IPv4 only; the sites speak IPv6
# only: let the address (their first argument) choose the family.
sed -i 's/socket\.socket(socket\.AF_INET,/socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET,/' \
  "$XT_WORK/udp_send.py" "$XT_WORK/udp_recv.py"
[[ $(cat "$XT_WORK/udp_send.py" "$XT_WORK/udp_recv.py" | grep -c 'AF_INET6 if ":" in sys.argv\[1\]') == 2 ]] \
  || die "could not make lib.sh's UDP sender and receiver speak IPv6"

# A previous demo killed hard may have left its namespaces behind: remove
# them, unless a demo is running right now.
for ns in "${ALL_NS[@]}"; do
  if ip netns list | awk '{ print $1 }' | grep -qx "$ns"; then
    if [[ -n $(ip netns pids "$ns" 2>/dev/null) ]]; then
      die "namespace $ns is in use (pids: $(ip netns pids "$ns" | tr '\n' ' ')): is another demo running?"
    fi
    ip netns del "$ns"
  fi
done

# ---------------------------------------------------------------------------
say "3/10  Building the lab"
xt_ns_add "$NS_A" ipv6; xt_ns_add "$NS_B" ipv6    # the hosts: IPv6 (their only addresses)
xt_ns_add "$NS_GA"; xt_ns_add "$NS_GB"             # xgw answers for itself; the kernel there stays out
xt_ns_add "$NS_T"                                  # the transport: IPv6 off
xt_veth "$NS_A" a0 "$NS_GA" gwa-lan
xt_veth "$NS_GA" gwa-wan "$NS_T" t-a
xt_veth "$NS_T" t-b "$NS_GB" gwb-wan
xt_veth "$NS_GB" gwb-lan "$NS_B" b0
ip -n "$NS_T" link add br0 type bridge stp_state 0 mcast_snooping 0
for i in t-a t-b; do
  ip -n "$NS_T" link set "$i" master br0
  ip -n "$NS_T" link set "$i" up
done
ip -n "$NS_T" link set br0 up
for i in gwa-lan gwa-wan; do xt_dut_if "$NS_GA" "$i"; done
for i in gwb-wan gwb-lan; do xt_dut_if "$NS_GB" "$i"; done
xt_host_if "$NS_A" a0 "$IP_A/64"
xt_host_if "$NS_B" b0 "$IP_B/64"
ip -n "$NS_A" -6 route add default via 2001:db8:a::1
ip -n "$NS_B" -6 route add default via 2001:db8:b::1
good "5 namespaces: hosts $NS_A and $NS_B, gateways $NS_GA and $NS_GB, transport $NS_T"
info "host A: $(ip -n "$NS_A" -br addr show dev a0 | awk '{ $1 = $1; print }'), default via 2001:db8:a::1"
info "host B: $(ip -n "$NS_B" -br addr show dev b0 | awk '{ $1 = $1; print }'), default via 2001:db8:b::1"
info "(the hosts' TX checksum offload is off: veth leaves checksums to a NIC that"
info " does not exist, and packets forwarded by xgw must carry real checksums)"

# Every IPv6 frame on the transport from now on is recorded, so the demo
# can say at the end whether any crossed it outside IPv4.
T_CAP=$XT_WORK/transport-ip6.pcap
xt_cap_start "$NS_T" br0 "$T_CAP" ip6 || die "tcpdump on the transport did not start"
T_CAP_PID=$XT_CAP_PID

# ---------------------------------------------------------------------------
say "4/10  Starting the two gateways"
for cfg in "$CFG_A" "$CFG_B"; do
  out=$("$XGW" check -c "$cfg" 2>&1) || die "xgw check -c $cfg: $out"
  good "xgw check -c $cfg:  $out"
done
xt_xgw_start "$NS_GA" "$CFG_A" "$XT_WORK/gwa.log"; PID_A=$XT_XGW_PID
xt_xgw_start "$NS_GB" "$CFG_B" "$XT_WORK/gwb.log"; PID_B=$XT_XGW_PID
SOCK_A=/run/xgw/demo-site-a.sock; SOCK_B=/run/xgw/demo-site-b.sock   # [control] of the two configs
xt_xgw_wait_ready "$PID_A" "$SOCK_A" "$XT_WORK/gwa.log" 30 || die "gateway A did not start (its log is above)"
xt_xgw_wait_ready "$PID_B" "$SOCK_B" "$XT_WORK/gwb.log" 30 || die "gateway B did not start (its log is above)"
good "gateway A: ip netns exec $NS_GA xgw run -c $CFG_A   (pid $PID_A)"
good "gateway B: ip netns exec $NS_GB xgw run -c $CFG_B   (pid $PID_B)"
info "gateway A's log so far:"
show <"$XT_WORK/gwa.log"

# xa|xb CMD...: an xgw command against gateway A or B (bounded in time)
xa() { timeout 30 "$XGW" "$@" -c "$CFG_A"; }
xb() { timeout 30 "$XGW" "$@" -c "$CFG_B"; }

# ---------------------------------------------------------------------------
say "5/10  IPv6 from site A to site B, across the IPv4 transport"

demo_ping() { # NS DST WHAT
  local out rc=0 fam=-4
  [[ $2 == *:* ]] && fam=-6
  out=$(ip netns exec "$1" ping "$fam" -c 3 -i 0.2 -W 2 "$2" 2>&1) || rc=$?
  if ((rc == 0)); then
    good "$3: $(grep -E 'packets transmitted' <<<"$out")"
    info "  $(grep -E '^rtt' <<<"$out" || true)"
  else
    bad "$3 failed: $(grep -E 'packets transmitted' <<<"$out" || tail -n 1 <<<"$out")"
  fi
}
# the first ping is watched on the transport: what does an IPv4-only link see?
P_CAP=$XT_WORK/transport-ping.pcap
cap_ok=1
xt_cap_start "$NS_T" br0 "$P_CAP" "ip proto 41" || cap_ok=0
demo_ping "$NS_A" "$IP_B" "ping -6 host A -> host B ($IP_B)"
if ((cap_ok)); then
  xt_cap_stop "$P_CAP" >"$P_CAP.txt"
  info "what the transport carried meanwhile (tcpdump on its bridge, first 2 of $(wc -l <"$P_CAP.txt")):"
  head -n 2 "$P_CAP.txt" | cut -c 17- | show
  if grep -qE "IP 192\.0\.2\.1 > 192\.0\.2\.2: IP6 $IP_A > $IP_B: ICMP6, echo request" "$P_CAP.txt" \
    && grep -qE "IP 192\.0\.2\.2 > 192\.0\.2\.1: IP6 $IP_B > $IP_A: ICMP6, echo reply" "$P_CAP.txt"; then
    good "IPv4 packets between the gateways (192.0.2.1 <-> .2), each carrying one IPv6 packet"
  else
    bad "the transport did not show the pings inside IPv4 (above)"
  fi
fi
demo_ping "$NS_B" "$IP_A" "ping -6 host B -> host A ($IP_A)"

info ""
info "UDP: $DEMO_UDP numbered datagrams from host A to host B (up to 1432 bytes, the"
info "most that fits the tunnel's 1480-byte MTU), counted on arrival..."
xt_udp_recv_start "$NS_B" "$IP_B" 9000 "$DEMO_UDP" "$XT_WORK/recv.json" 3 60
if xt_udp_send "$NS_A" "$IP_B" 9000 "$DEMO_UDP" 20000 64,64,64,512,1432 "$XT_WORK/send.json" 0; then
  rc=0; wait "$XT_RECV_PID" || rc=$?
  if ((rc == 0)); then
    got=$(xt_json "$XT_WORK/recv.json" 'd["received"]')
    secs=$(xt_json "$XT_WORK/recv.json" 'd["seconds"]')
    if ((got == DEMO_UDP)); then good "UDP: all $got datagrams arrived, intact, in ${secs}s"
    else bad "UDP: $got of $DEMO_UDP datagrams arrived ($(xt_json "$XT_WORK/recv.json" 'd["missing"]') missing)"; fi
  else
    bad "UDP receiver failed: $(tail -n 1 "$XT_WORK/recv.json.log")"
  fi
else
  bad "UDP sender failed"
fi

if ((DEMO_TCP_SECS > 0)); then
  info ""
  info "TCP: iperf3 for ${DEMO_TCP_SECS}s from host A to host B..."
  ip netns exec "$NS_B" iperf3 -s -1 -B "$IP_B" >"$XT_WORK/iperf3-server.log" 2>&1 &
  XT_PIDS+=("$!")
  out=""; rc=1
  for _ in 1 2 3 4 5 6 7 8 9 10; do   # the server needs a moment to listen
    sleep 0.3
    rc=0; out=$(ip netns exec "$NS_A" timeout $((DEMO_TCP_SECS + 20)) iperf3 -c "$IP_B" -t "$DEMO_TCP_SECS" -f m 2>&1) || rc=$?
    [[ $out == *"unable to connect"* ]] || break
  done
  if ((rc == 0)); then
    rate=$(awk '/receiver$/ { print $(NF-2), $(NF-1) }' <<<"$out" | tail -n 1)
    good "TCP: ${rate:-?} received (one stream, ${DEMO_TCP_SECS}s)"
  else
    bad "iperf3 failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
  r=$(ip -n "$NS_A" -6 route get "$IP_B" 2>&1 | head -n 1)
  if grep -qE 'mtu 1480( |$)' <<<"$r"; then
    good "host A learned the tunnel's MTU from gateway A's Packet Too Big:"
    info "  ip -6 route get $IP_B  ->  $(tr -s ' ' <<<"$r")"
  else
    bad "host A's path MTU to $IP_B is not the tunnel's 1480: $r"
  fi
fi

# ---------------------------------------------------------------------------
say "6/10  What gateway A counted"
sleep 0.7   # workers publish their counters every 500 ms
info "\$ xgw tunnel list -c $CFG_A"
if out=$(xa tunnel list 2>&1); then show <<<"$out"; else bad "xgw tunnel list failed: $out"; fi
info ""
info "\$ xgw stats -c $CFG_A"
if out=$(xa stats 2>&1); then show <<<"$out"; else bad "xgw stats failed: $out"; fi
info ""
info "encap: IPv6 packets gateway A put into IPv4 for site B; decap: the ones it"
info "took out of IPv4 from gateway B.  rx/tx count frames per port, both ways."

# ---------------------------------------------------------------------------
say "7/10  One packet's path through gateway B:  xgw trace --count 1"
TRACE=$XT_WORK/trace.txt
xb trace --count 1 --match "proto=41,src=192.0.2.1,dst=192.0.2.2" --timeout 15 >"$TRACE" 2>"$TRACE.err" &
trace_pid=$!
XT_PIDS+=("$trace_pid")
sleep 1.5   # the trace arms itself; there is no way to see that from outside
ip netns exec "$NS_A" ping -6 -c 5 -i 0.3 -W 2 "$IP_B" >/dev/null 2>&1 || true
rc=0; wait "$trace_pid" || rc=$?
info "\$ xgw trace -c $CFG_B --count 1 --match proto=41,src=192.0.2.1,dst=192.0.2.2"
info "  (then: ping -6 $IP_B from host A)"
show <"$TRACE"
if ((rc == 0)) && grep -q 'ipip-decap' "$TRACE" && grep -q 'ip6-lookup' "$TRACE" && grep -qE 'tx on port' "$TRACE"; then
  good "one echo request, as it came off the transport: IPv4 in (ip4-input), addressed to"
  info "  gateway B itself (ip4-local), taken out of its IPv4 header (ipip-decap), then"
  info "  routed as IPv6 (ip6-input, ip6-lookup) and sent to host B (ip-rewrite, tx)"
else
  bad "xgw trace (exit $rc) did not show the decapsulation path: $(head -c 300 "$TRACE.err")"
fi

# ---------------------------------------------------------------------------
say "8/10  A packet xgw drops, and why:  xgw drops"
info "gateway A blocks one host of site B: $CFG_A has"
info "  [[routes]] prefix = \"$BLOCKED/128\", kind = \"blackhole\""
info "host A pings it once..."
out=$(ip netns exec "$NS_A" ping -6 -c 1 -W 1 "$BLOCKED" 2>&1) || true
info "  $(grep -E 'packets transmitted' <<<"$out" || tail -n 1 <<<"$out")"
sleep 0.7
info ""
info "\$ xgw drops -c $CFG_A"
if out=$(xa drops 2>&1); then show <<<"$out"; else bad "xgw drops failed: $out"; fi
xa drops --json >"$XT_WORK/drops.json" 2>/dev/null || echo '{"drops": []}' >"$XT_WORK/drops.json"
n=$(xt_json "$XT_WORK/drops.json" 'sum(r["count"] for r in d["drops"] if r["reason"] == "route.blackhole")' 2>/dev/null || echo "?")
if [[ $n == 1 ]]; then good "the echo request was dropped and counted under its reason: route.blackhole"
else bad "route.blackhole counted $n (want 1)"; fi
if [[ $(xt_json "$XT_WORK/drops.json" 'sum(r["count"] for r in d["drops"] if r["reason"] == "ip6.multicast_not_forwarded")' 2>/dev/null) != 0 ]]; then
  info "(ip6.multicast_not_forwarded: host A's own MLD reports to ff02::16, sent when"
  info " its interface came up; xgw does not route multicast)"
fi
info "xgw drop-reasons lists every reason; xgw trace --drops-only and xgw capture"
info "--dir drop show the frames that end in one."

# ---------------------------------------------------------------------------
say "9/10  Stopping both gateways with Ctrl-C (SIGINT)"
for gw in A B; do
  if [[ $gw == A ]]; then pid=$PID_A; ns=$NS_GA; ifs=(gwa-lan gwa-wan); log=$XT_WORK/gwa.log
  else pid=$PID_B; ns=$NS_GB; ifs=(gwb-wan gwb-lan); log=$XT_WORK/gwb.log; fi
  xt_xgw_stop "$pid" INT 15
  if ((XT_RC == 0)); then good "gateway $gw drained its queues, detached and exited cleanly (status 0)"
  else bad "gateway $gw: exit status $XT_RC"; tail -n 5 "$log" | show; fi
  sleep 0.2
  for i in "${ifs[@]}"; do
    if xt_xdp_attached "$ns" "$i"; then
      bad "an XDP program is still attached to $i:"
      ip -n "$ns" -d link show dev "$i" | show
    fi
  done
done
info "gateway A's last words:"
tail -n 3 "$XT_WORK/gwa.log" | show
if ! xt_xdp_attached "$NS_GA" gwa-lan && ! xt_xdp_attached "$NS_GA" gwa-wan \
  && ! xt_xdp_attached "$NS_GB" gwb-wan && ! xt_xdp_attached "$NS_GB" gwb-lan; then
  good "no XDP program left on gwa-lan, gwa-wan, gwb-wan, gwb-lan"
fi

sleep 0.3
kill -s INT "$T_CAP_PID" 2>/dev/null || true
wait "$T_CAP_PID" 2>/dev/null || true
# the sites' addresses, bare on the transport: none expected
n6=$(tcpdump -n -r "$T_CAP" 'ip6 and net 2001:db8::/32' 2>/dev/null | wc -l) || n6="?"
if [[ $n6 == 0 ]]; then good "not one of the sites' IPv6 packets crossed the transport outside IPv4"
else bad "$n6 IPv6 packet(s) of the sites crossed the transport bare:"; tcpdump -n -r "$T_CAP" 'ip6 and net 2001:db8::/32' 2>/dev/null | head -n 5 | show; fi
# nor any other IPv6: the gateways' transport interfaces are IPv4-only, and
# xgw sends no IPv6 on an interface without IPv6 addresses or RAs
other=$(tcpdump -n -r "$T_CAP" 'ip6 and not net 2001:db8::/32' 2>/dev/null | cut -d' ' -f 2-) || other=""
if [[ -z $other ]]; then good "no other IPv6 on the IPv4-only transport either (not even the gateways' own)"
else bad "the transport saw $(wc -l <<<"$other") other IPv6 frame(s):"; show <<<"$other"; fi

# ---------------------------------------------------------------------------
say "10/10  The engine alone:  xgw run  with no config (the embedded configs/demo.toml)"
# That config cross-connects two veth ports, xd-west and xd-east, in
# namespace xgw-demo: an L2 forwarder (testpmd's "io" mode), the runtime
# with no protocol on top, as used for benchmarks.
xt_ns_add "$NS_X"; xt_ns_add "$NS_W"; xt_ns_add "$NS_E"
xt_veth "$NS_W" west0 "$NS_X" xd-west
xt_veth "$NS_X" xd-east "$NS_E" east0
xt_host_if "$NS_W" west0 "$IP_W/24"
xt_host_if "$NS_E" east0 "$IP_E/24"
xt_dut_if "$NS_X" xd-west
xt_dut_if "$NS_X" xd-east
info "xgw-demo-w  west0 $IP_W ──veth── xd-west [ xgw: l2fwd ] xd-east ──veth── east0 $IP_E  xgw-demo-e"
LOG=$XT_WORK/l2fwd.log
xt_xgw_start "$NS_X" "" "$LOG"
if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK_L2" "$LOG" 30; then
  good "ip netns exec $NS_X xgw run   (pid $XT_XGW_PID; control socket $SOCK_L2)"
  demo_ping "$NS_W" "$IP_E" "ping west -> east"
  xt_udp_recv_start "$NS_E" "$IP_E" 9000 "$DEMO_L2_UDP" "$XT_WORK/l2recv.json" 3 60
  if xt_udp_send "$NS_W" "$IP_E" 9000 "$DEMO_L2_UDP" 50000 64,64,64,512,1472 "$XT_WORK/l2send.json" 0; then
    rc=0; wait "$XT_RECV_PID" || rc=$?
    got=$(xt_json "$XT_WORK/l2recv.json" 'd["received"]' 2>/dev/null || echo 0)
    if ((rc == 0 && got == DEMO_L2_UDP)); then
      good "UDP: all $got datagrams west -> east arrived, intact, in $(xt_json "$XT_WORK/l2recv.json" 'd["seconds"]')s"
    else
      bad "UDP: $got of $DEMO_L2_UDP datagrams arrived (receiver exit $rc)"
    fi
  else
    bad "UDP sender failed"
  fi
  sleep 0.7
  info "\$ xgw stats --socket $SOCK_L2   (the port lines)"
  if out=$(timeout 10 "$XGW" stats --socket "$SOCK_L2" 2>&1); then head -n 4 <<<"$out" | show
  else bad "xgw stats failed: $out"; fi
  xt_xgw_stop "$XT_XGW_PID" INT 15
  if ((XT_RC == 0)); then good "xgw exited cleanly on Ctrl-C (status 0)"; else bad "xgw exit status $XT_RC"; fi
  sleep 0.2
  for i in xd-west xd-east; do
    if xt_xdp_attached "$NS_X" "$i"; then bad "an XDP program is still attached to $i"; fi
  done
else
  bad "xgw run (embedded config) did not start (its log is above)"
fi

say "Cleaning up"
trap - EXIT
xt_cleanup || true
for ns in "${ALL_NS[@]}"; do
  if ip netns list | awk '{ print $1 }' | grep -qx "$ns"; then bad "namespace $ns is still there"; fi
done
good "namespaces removed"

echo
info "(the demo took $(($(date +%s) - T0)) s after the build)"
if ((PROBLEMS == 0)); then
  echo "Done: every check passed.  Next: read $CFG_A, then docs/OPERATIONS.md"
  echo "(Tunnels; Where did my packet go?), and write your own: xgw check -c FILE, xgw run -c FILE."
else
  echo "Done, with $PROBLEMS problem(s) (marked ✘ above)."
  exit 1
fi
