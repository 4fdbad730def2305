#!/usr/bin/env bash
# xgw quick start: builds xgw, puts it between two hosts in a small lab of
# network namespaces, sends real traffic through it, shows what it counted,
# stops it and removes the lab.  Run as root on Debian 12:
#
#   ./demo.sh
#
#   xgw-demo-w                  xgw-demo (xgw)                     xgw-demo-e
#   west0 10.99.0.1 ──veth── xd-west [ l2fwd ] xd-east ──veth── east0 10.99.0.2
#
# xgw runs with its embedded demo config (configs/demo.toml): an L2
# cross-connect, every frame from xd-west leaves on xd-east and back.
# Knobs: DEMO_UDP=20000 (datagrams)  DEMO_TCP_SECS=3 (0 = skip iperf3)
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

DEMO_UDP=${DEMO_UDP:-20000}
DEMO_TCP_SECS=${DEMO_TCP_SECS:-3}
NS_X=xgw-demo; NS_W=xgw-demo-w; NS_E=xgw-demo-e
IP_W=10.99.0.1; IP_E=10.99.0.2
SOCK=/run/xgw/demo.sock       # [control] socket of the embedded config
PROBLEMS=0

say()  { printf '\n%s%s%s\n' "$XT_C_BLD" "$*" "$XT_C_OFF"; }
info() { printf '   %s\n' "$*"; }
good() { printf '   %s✔%s %s\n' "$XT_C_GRN" "$XT_C_OFF" "$*"; }
bad()  { printf '   %s✘%s %s\n' "$XT_C_RED" "$XT_C_OFF" "$*"; PROBLEMS=$((PROBLEMS + 1)); }

cat <<'EOF'

  xgw demo — an AF_XDP packet engine forwarding between two hosts

  xgw-demo-w                    xgw-demo (xgw)                      xgw-demo-e
  west0 10.99.0.1 ──veth── xd-west [ l2fwd ] xd-east ──veth── east0 10.99.0.2

  The two "hosts" are network namespaces on this machine; every packet
  between them goes through xgw.  Nothing leaves the machine.
EOF

# ---------------------------------------------------------------------------
say "1/7  Checking the tools this demo uses"
# shellcheck disable=SC2119  # no extra packages
xt_install_pkgs
if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
  PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH
fi
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first" >&2; exit 1; }
good "iproute2, ping, ethtool, python3, iperf3 and cargo are here"

if [[ -n ${DEMO_XGW:-} ]]; then
  XGW=$DEMO_XGW
  say "2/7  Using $XGW (DEMO_XGW), not building"
else
  say "2/7  Building xgw (cargo build --release; the first build takes a minute or two)"
  cargo build --release -p xgw-engine
  XGW=$ROOT/target/release/xgw
  good "built $XGW"
fi

xt_init   # from here on, the lab is removed on exit, whatever happens

# A previous demo killed hard may have left its namespaces behind: remove
# them, unless a demo is running right now.
for ns in "$NS_X" "$NS_W" "$NS_E"; do
  if ip netns list | awk '{ print $1 }' | grep -qx "$ns"; then
    if [[ -n $(ip netns pids "$ns" 2>/dev/null) ]]; then
      die "namespace $ns is in use (pids: $(ip netns pids "$ns" | tr '\n' ' ')): is another demo running?"
    fi
    ip netns del "$ns"
  fi
done

# ---------------------------------------------------------------------------
say "3/7  Building the lab"
xt_ns_add "$NS_X"; xt_ns_add "$NS_W"; xt_ns_add "$NS_E"
xt_veth "$NS_W" west0 "$NS_X" xd-west
xt_veth "$NS_X" xd-east "$NS_E" east0
xt_host_if "$NS_W" west0 "$IP_W/24"
xt_host_if "$NS_E" east0 "$IP_E/24"
xt_dut_if "$NS_X" xd-west
xt_dut_if "$NS_X" xd-east
good "namespaces $NS_W, $NS_X, $NS_E with two veth links"
info "(the hosts' TX checksum offload is off: veth leaves checksums to a NIC that"
info " does not exist, and frames forwarded by xgw must carry real checksums)"

# ---------------------------------------------------------------------------
say "4/7  Starting xgw inside $NS_X:  ip netns exec $NS_X xgw run"
LOG=$XT_WORK/xgw.log
xt_xgw_start "$NS_X" "" "$LOG"
xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$LOG" 30 || die "xgw did not start (its log is above)"
good "xgw is running (pid $XT_XGW_PID) and answers on its control socket $SOCK"
info "its log so far:"
sed 's/^/     | /' "$LOG"

# ---------------------------------------------------------------------------
say "5/7  Sending traffic through xgw"

demo_ping() { # NS DST WHAT
  local out rc=0
  out=$(ip netns exec "$1" ping -c 3 -i 0.2 -W 2 "$2" 2>&1) || rc=$?
  if ((rc == 0)); then
    good "$3: $(grep -E 'packets transmitted' <<<"$out")"
    info "  $(grep -E '^rtt' <<<"$out" || true)"
  else
    bad "$3 failed: $(grep -E 'packets transmitted' <<<"$out" || tail -n 1 <<<"$out")"
  fi
}
demo_ping "$NS_W" "$IP_E" "ping west -> east"
demo_ping "$NS_E" "$IP_W" "ping east -> west"

info ""
info "UDP: $DEMO_UDP numbered datagrams from west to east, counted on arrival..."
xt_udp_recv_start "$NS_E" "$IP_E" 9000 "$DEMO_UDP" "$XT_WORK/recv.json" 3 60
if xt_udp_send "$NS_W" "$IP_E" 9000 "$DEMO_UDP" 50000 64,64,64,512,1472 "$XT_WORK/send.json" 0; then
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
  info "TCP: iperf3 for ${DEMO_TCP_SECS}s from west to east..."
  ip netns exec "$NS_E" iperf3 -s -1 -B "$IP_E" >"$XT_WORK/iperf3-server.log" 2>&1 &
  XT_PIDS+=("$!")
  out=""; rc=1
  for _ in 1 2 3 4 5 6 7 8 9 10; do   # the server needs a moment to listen
    sleep 0.3
    rc=0; out=$(ip netns exec "$NS_W" timeout $((DEMO_TCP_SECS + 20)) iperf3 -c "$IP_E" -t "$DEMO_TCP_SECS" -f m 2>&1) || rc=$?
    [[ $out == *"unable to connect"* ]] || break
  done
  if ((rc == 0)); then
    rate=$(awk '/receiver$/ { print $(NF-2), $(NF-1) }' <<<"$out" | tail -n 1)
    good "TCP: ${rate:-?} received (one stream, ${DEMO_TCP_SECS}s)"
  else
    bad "iperf3 failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
fi

# ---------------------------------------------------------------------------
say "6/7  What xgw counted:  xgw stats --socket $SOCK"
sleep 0.5
if ! "$XGW" stats --socket "$SOCK"; then bad "xgw stats failed"; fi
info ""
info "rx/tx are frames received and sent per port; they include the ARP, ICMP,"
info "UDP and TCP frames above, in both directions."
KDROP=$("$XGW" stats --json --socket "$SOCK" 2>/dev/null \
  | /usr/bin/python3 -c 'import json,sys; v=json.load(sys.stdin); print(sum((p.get("kernel") or {}).get("rx_dropped",0) for p in v["ports"]))' 2>/dev/null || echo 0)
if ((KDROP > 0)); then
  info "The kernel counted $KDROP frame(s) it could not hand to xgw (rx_dropped /"
  info "fill_ring_empty: no free frame was posted at that instant, typically in the"
  info "TCP burst); TCP resent them.  xgw's own drop counters are above."
fi

# ---------------------------------------------------------------------------
say "7/7  Stopping xgw with Ctrl-C (SIGINT)"
xt_xgw_stop "$XT_XGW_PID" INT 15
if ((XT_RC == 0)); then good "xgw drained its queues, detached and exited cleanly (status 0)"
else bad "xgw exit status $XT_RC"; fi
info "its last words:"
tail -n 3 "$LOG" | sed 's/^/     | /'
sleep 0.2
for i in xd-west xd-east; do
  if xt_xdp_attached "$NS_X" "$i"; then
    bad "an XDP program is still attached to $i:"
    ip -n "$NS_X" -d link show dev "$i" | sed 's/^/     | /'
  else
    good "$i: no XDP program left (ip -d link show $i mentions no xdp)"
  fi
done

say "Cleaning up"
trap - EXIT
xt_cleanup || true
for ns in "$NS_X" "$NS_W" "$NS_E"; do
  if ip netns list | awk '{ print $1 }' | grep -qx "$ns"; then bad "namespace $ns is still there"; fi
done
good "namespaces removed"

echo
if ((PROBLEMS == 0)); then
  echo "Done: every check passed.  Next: read configs/demo.toml, then"
  echo "write your own and try  xgw check --config FILE  and  xgw run --config FILE."
else
  echo "Done, with $PROBLEMS problem(s) (marked ✘ above)."
  exit 1
fi
