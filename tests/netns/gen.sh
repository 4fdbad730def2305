#!/usr/bin/env bash
# Acceptance test: `xgw gen` (AF_XDP generator + receiver) through a Linux
# router namespace.  Run as root:  tests/netns/gen.sh
#
#   ns G                    ns R (Linux forwarding)             ns S
#   g0 ─────veth───── r0 [ ip_forward=1 ] r1 ─────veth───── s0
#   198.18.0.1/24      198.18.0.2/24  198.19.0.2/24       198.19.0.1/24
#   (2001:db8:1::1)    2001:db8:1::2  2001:db8:2::2       (2001:db8:2::1)
#
# xgw gen runs in the root namespace and enters G (TX on g0) and S (RX on s0)
# itself (--tx-netns / --rx-netns).  R has static neighbours, so nothing but
# the generated frames crosses.
#
# Checks
#   0. one-line errors: missing interface, unknown namespace, bad --size,
#      missing --dst-mac, not root (setpriv to nobody)
#   a. 20k pps for 2 s of IPv4/UDP 64-byte frames: 0 lost / duplicated /
#      reordered / corrupt (the receiver verifies the checksums the router
#      rewrote), latency percentiles present and ordered, and the sent and
#      received counts equal the kernels' veth counters (g0 tx, r0 rx, r1 tx,
#      s0 rx)
#   b. more templates through the router, 0 loss and 0 corrupt each:
#      IMIX over 16 flows varying the source address; TCP; bursty pacing
#      with a sleeping receiver (--tx-wait sleep --rx-wait poll); IPv6/UDP
#      (128-byte frames); IPIP (4in4, routed on the outer header)
#   c. SIGINT mid-run: exit 0, a JSON summary marked interrupted, no loss;
#      no XDP program left on s0 (bpf_link); kill -9 also leaves none
#   d. RFC 2544 against Linux forwarding with short trials: a positive
#      zero-loss rate, latency percentiles at that rate, every trial in the
#      JSON
#   e. RFC 2544 against Linux forwarding shaped by a TBF qdisc on r1 (8 Mbit/s
#      = 16.7 kpps of 60-byte frames): the search finds that rate (±25 %),
#      with passing trials below it and failing ones above
# Knobs: GEN_PPS=20000 GEN_SECS=2 RFC_TRIAL=0.5 RFC_RES=10 RFC_MAX_TRIALS=8
#        TBF_RES=5 TBF_MAX_TRIALS=12
#        XT_KEEP=1 (keep namespaces/logs)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=gen
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw

GEN_PPS=${GEN_PPS:-20000}
GEN_SECS=${GEN_SECS:-2}
RFC_TRIAL=${RFC_TRIAL:-0.5}
RFC_RES=${RFC_RES:-10}
RFC_MAX_TRIALS=${RFC_MAX_TRIALS:-8}
TBF_RES=${TBF_RES:-5}
TBF_MAX_TRIALS=${TBF_MAX_TRIALS:-12}

NS_G=$(xt_ns g); NS_R=$(xt_ns r); NS_S=$(xt_ns s)
MAC_G=02:20:00:00:01:01; MAC_R0=02:20:00:00:01:02
MAC_R1=02:20:00:00:02:02; MAC_S=02:20:00:00:02:01
export XGW_LOG=warn

# ---------------------------------------------------------------------------
step "lab: $NS_G -> $NS_R (Linux forwarding) -> $NS_S"
# IPv6 only where it is forwarded (G and S never use their kernel stack:
# xgw gen makes and takes every frame), so no host chatter crosses
xt_ns_add "$NS_G"; xt_ns_add "$NS_R" ipv6; xt_ns_add "$NS_S"
xt_veth "$NS_G" g0 "$NS_R" r0
xt_veth "$NS_R" r1 "$NS_S" s0
ip -n "$NS_G" link set g0 address $MAC_G up
ip -n "$NS_R" link set r0 address $MAC_R0 up
ip -n "$NS_R" link set r1 address $MAC_R1 up
ip -n "$NS_S" link set s0 address $MAC_S up
ip -n "$NS_G" addr add 198.18.0.1/24 dev g0
ip -n "$NS_R" addr add 198.18.0.2/24 dev r0
ip -n "$NS_R" addr add 198.19.0.2/24 dev r1
ip -n "$NS_R" -6 addr add 2001:db8:1::2/64 dev r0 nodad
ip -n "$NS_R" -6 addr add 2001:db8:2::2/64 dev r1 nodad
ip -n "$NS_S" addr add 198.19.0.1/24 dev s0
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
for ns_ip_mac_if in "$NS_R 198.19.0.1 $MAC_S r1" "$NS_R 198.18.0.1 $MAC_G r0" \
  "$NS_R 2001:db8:2::1 $MAC_S r1" "$NS_R 2001:db8:1::1 $MAC_G r0"; do
  read -r ns ip mac ifc <<<"$ns_ip_mac_if"
  ip -n "$ns" neigh replace "$ip" lladdr "$mac" dev "$ifc" nud permanent
done
# R's own IPv6 start-up frames (MLD reports) go out of r1: wait until
# they are over, so the counters below see only generated frames
settle() {
  local a b i
  for ((i = 0; i < 10; i++)); do
    a=$(xt_ifstat "$NS_R" r1 tx_packets); sleep 1; b=$(xt_ifstat "$NS_R" r1 tx_packets)
    ((a == b)) && return 0
  done
  warn "r1 keeps transmitting on its own ($a -> $b)"
}
settle

GEN=("$XGW" gen --tx g0 --tx-netns "$NS_G" --rx s0 --rx-netns "$NS_S" --dst-mac "$MAC_R0"
     --tx-core 0 --rx-core 1)

# counters of the four veth ends (G tx, R rx, R tx, S rx)
snap() { echo "$(xt_ifstat "$NS_G" g0 tx_packets) $(xt_ifstat "$NS_R" r0 rx_packets)" \
  "$(xt_ifstat "$NS_R" r1 tx_packets) $(xt_ifstat "$NS_S" s0 rx_packets)"; }
j() { xt_json "$1" "$2"; }

# ---------------------------------------------------------------------------
step "0. errors are one line and say what is wrong"
expect_err() { # WHAT PATTERN CMD...
  local what=$1 pat=$2 rc=0 out; shift 2
  out=$("$@" 2>&1 >/dev/null </dev/null) || rc=$?
  local lines
  lines=$(grep -c . <<<"$out" || true)
  if ((rc != 0)) && [[ $out == *"$pat"* ]] && ((lines == 1)); then
    pass "$what: $out"
  else
    fail "$what: exit $rc, $lines line(s): $out"
  fi
}
expect_err "missing interface" "interface nosuch0 does not exist" \
  "$XGW" gen --tx nosuch0 --tx-netns "$NS_G" --dst-mac $MAC_R0 --count 1
expect_err "unknown namespace" "network namespace \"xt-nosuch-$$\"" \
  "$XGW" gen --tx g0 --tx-netns "xt-nosuch-$$" --dst-mac $MAC_R0 --count 1
expect_err "bad --size" "is not a frame size" "${GEN[@]}" --size 64,big --count 1
expect_err "IPv6 too small for 64" "at least 82" "${GEN[@]}" --src-ip 2001:db8:1::1 --dst-ip 2001:db8:2::1 --count 1
expect_err "no --dst-mac" "--dst-mac is required" "$XGW" gen --tx g0 --tx-netns "$NS_G" --count 1
# setpriv (util-linux) is required: without it the not-root check would be
# skipped silently.
command -v setpriv >/dev/null || die "missing tool: setpriv (util-linux); the \"not root\" check needs it"
expect_err "not root" "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
  "${GEN[@]}" --count 1
xt_check_no_xdp "$NS_S" s0

# ---------------------------------------------------------------------------
step "a. ${GEN_PPS} pps for ${GEN_SECS} s, IPv4/UDP 64 bytes, through Linux forwarding"
A=$XT_WORK/a.json
before=$(snap)
rc=0
"${GEN[@]}" --rate "$GEN_PPS" --duration "$GEN_SECS" --json >"$A" 2>"$XT_WORK/a.err" || rc=$?
after=$(snap)
check_eq "xgw gen exit status" 0 "$rc" "$( ((rc == 0)) || tail -n 3 "$XT_WORK/a.err" | tr '\n' ' ')"
[[ -s $A ]] || die "no JSON summary; stderr: $(cat "$XT_WORK/a.err")"
read -r g0 r0 r1 s0 <<<"$before"
read -r g1 r01 r11 s1 <<<"$after"
sent=$(j "$A" 'd["result"]["tx"]["sent"]')
recv=$(j "$A" 'd["result"]["rx"]["received"]')
want=$(awk -v r="$GEN_PPS" -v s="$GEN_SECS" 'BEGIN{printf "%.0f", r*s}')
check_eq "packets sent (rate × duration)" "$want" "$sent"
check_eq "received" "$sent" "$recv"
for k in lost duplicates reordered corrupt late stale; do
  check_eq "rx.$k" 0 "$(j "$A" "d['result']['rx']['$k']")"
done
check_eq "g0 tx_packets delta = sent" "$sent" $((g1 - g0))
check_eq "r0 rx_packets delta = sent" "$sent" $((r01 - r0))
check_eq "r1 tx_packets delta = sent (forwarded)" "$sent" $((r11 - r1))
check_eq "s0 rx_packets delta = received" "$recv" $((s1 - s0))
check_eq "the receive socket dropped nothing" 0 "$(j "$A" 'd["result"]["rx"]["kernel"]["rx_dropped"]')"
lat=$(j "$A" 'd["result"]["rx"]["latency_ns"]')
if j "$A" 'all(d["result"]["rx"]["latency_ns"][a] <= d["result"]["rx"]["latency_ns"][b] for a, b in [("min","p50"),("p50","p90"),("p90","p99"),("p99","max")]) and d["result"]["rx"]["latency_ns"]["min"] > 0' | grep -q True; then
  pass "latency percentiles present and ordered: $lat"
else
  fail "latency percentiles missing or unordered: $lat"
fi
tx_pps=$(j "$A" 'd["result"]["tx"]["pps"]')
if ((tx_pps > GEN_PPS * 95 / 100 && tx_pps < GEN_PPS * 105 / 100)); then
  pass "paced at $tx_pps pps (asked $GEN_PPS)"
else
  fail "paced at $tx_pps pps, asked $GEN_PPS"
fi
check_eq "template" ipv4-udp "$(j "$A" 'd["template"]')"
check_eq "receiver bind mode on veth" copy "$(j "$A" 'd["rx_port"]["bind_mode"]')"

# ---------------------------------------------------------------------------
step "b. other templates through the router"
variant() { # NAME ARGS...
  local name=$1 f=$XT_WORK/b-$1.json rc=0; shift
  "${GEN[@]}" --rate 20k --count 5000 --json "$@" >"$f" 2>"$XT_WORK/b-$name.err" || rc=$?
  if ((rc != 0)) || [[ ! -s $f ]]; then
    fail "$name: exit $rc: $(tail -n 2 "$XT_WORK/b-$name.err" | tr '\n' ' ')"; return
  fi
  local s r l c t
  s=$(j "$f" 'd["result"]["tx"]["sent"]'); r=$(j "$f" 'd["result"]["rx"]["received"]')
  l=$(j "$f" 'd["result"]["rx"]["lost"]'); c=$(j "$f" 'd["result"]["rx"]["corrupt"]')
  t=$(j "$f" 'd["template"]')
  if [[ $s == 5000 && $r == 5000 && $l == 0 && $c == 0 ]]; then
    pass "$name ($t, sizes $(j "$f" 'd["sizes"][:3]')...): 5000 sent, 5000 received, 0 corrupt"
  else
    fail "$name ($t): sent $s received $r lost $l corrupt $c"
  fi
}
# (sources 198.18.0.10 … .25: .2 is the router's own address, a martian)
variant imix-16-flows-src-ip --size imix --flows 16 --vary src-ip --src-ip 198.18.0.10
variant tcp --proto tcp --size 74,1518 --flows 8
variant sleep-pacing-poll-rx --tx-wait sleep --rx-wait poll --burst 16
variant ipv6-udp --src-ip 2001:db8:1::1 --dst-ip 2001:db8:2::1 --size 128 --flows 4
variant ipip --encap ipip --outer-src 198.18.0.1 --outer-dst 198.19.0.1 \
  --src-ip 10.0.0.1 --dst-ip 10.0.1.1 --size 82,576

# ---------------------------------------------------------------------------
step "c. SIGINT mid-run, and kill -9: summary, no XDP program left"
C=$XT_WORK/c.json
"${GEN[@]}" --rate 20k --duration 30 --json >"$C" 2>"$XT_WORK/c.err" &
pid=$!
XT_PIDS+=("$pid")
sleep 2
if xt_xdp_attached "$NS_S" s0; then pass "XDP program on s0 while receiving"
else fail "no XDP program on s0 while receiving"; fi
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
check_eq "exit status after SIGINT" 0 "$rc"
if [[ -s $C ]]; then
  check_eq "summary says interrupted" True "$(j "$C" 'd["interrupted"]')"
  s=$(j "$C" 'd["result"]["tx"]["sent"]')
  if ((s > 0 && s < 30 * 20000)); then pass "sent $s before the interrupt"; else fail "sent $s"; fi
  check_eq "nothing lost at the interrupt" 0 "$(j "$C" 'd["result"]["rx"]["lost"]')"
else
  fail "no summary after SIGINT: $(tail -n 3 "$XT_WORK/c.err")"
fi
xt_check_no_xdp "$NS_S" s0 2
"${GEN[@]}" --rate 1k --duration 30 -q >/dev/null 2>&1 &
pid=$!
XT_PIDS+=("$pid")
sleep 1.5
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
xt_check_no_xdp "$NS_S" s0 3

# ---------------------------------------------------------------------------
step "d. RFC 2544 throughput of Linux forwarding (trials of ${RFC_TRIAL} s, resolution ${RFC_RES}%)"
D=$XT_WORK/d.json
rc=0
"${GEN[@]}" --rfc2544 --trial-duration "$RFC_TRIAL" --resolution "$RFC_RES" --max-trials "$RFC_MAX_TRIALS" \
  --drain-ms 200 --json >"$D" 2>"$XT_WORK/d.err" || rc=$?
check_eq "xgw gen --rfc2544 exit status" 0 "$rc" "$( ((rc == 0)) || tail -n 3 "$XT_WORK/d.err" | tr '\n' ' ')"
sed -n 's/^\[rfc2544\]/   /p' "$XT_WORK/d.err"
zl=$(j "$D" 'd["rfc2544"]["zero_loss_pps"]')
if [[ $zl =~ ^[0-9]+$ ]] && ((zl > 0)); then
  pass "zero-loss rate $zl pps (line-rate trial: $(j "$D" 'd["rfc2544"]["line_rate_pps"]') pps)"
else
  fail "no positive zero-loss rate: $zl"
fi
if j "$D" 'all(k in d["rfc2544"]["latency_ns"] for k in ("p50","p90","p99","max"))' | grep -q True; then
  pass "latency at the zero-loss rate: $(j "$D" 'd["rfc2544"]["latency_ns"]')"
else
  fail "no latency at the zero-loss rate: $(j "$D" 'd["rfc2544"]["latency_ns"]')"
fi
nt=$(j "$D" 'len(d["rfc2544"]["trials"])')
if ((nt >= 1 && nt <= RFC_MAX_TRIALS)); then pass "$nt trial(s) in the JSON"; else fail "$nt trials"; fi
check_eq "every trial has target, sent, lost and pass" True \
  "$(j "$D" 'all("pass" in t and "sent" in t["tx"] and "lost" in t["rx"] and "target_pps" in t for t in d["rfc2544"]["trials"])')"
check_eq "the passing trials lost nothing" True \
  "$(j "$D" 'all(t["rx"]["lost"] == 0 for t in d["rfc2544"]["trials"] if t["pass"])')"

# ---------------------------------------------------------------------------
step "e. RFC 2544 against Linux forwarding shaped to 8 Mbit/s (TBF on r1)"
# 8e6 / (60 × 8) = 16667 pps of 60-byte frames (tbf counts skb->len)
ip netns exec "$NS_R" tc qdisc add dev r1 root tbf rate 8mbit burst 4k limit 8k \
  || die "cannot add a tbf qdisc in $NS_R"
E=$XT_WORK/e.json
rc=0
"${GEN[@]}" --rfc2544 --trial-duration "$RFC_TRIAL" --resolution "$TBF_RES" --max-trials "$TBF_MAX_TRIALS" \
  --drain-ms 200 --json >"$E" 2>"$XT_WORK/e.err" || rc=$?
ip netns exec "$NS_R" tc qdisc del dev r1 root
check_eq "xgw gen --rfc2544 exit status" 0 "$rc" "$( ((rc == 0)) || tail -n 3 "$XT_WORK/e.err" | tr '\n' ' ')"
sed -n 's/^\[rfc2544\]/   /p' "$XT_WORK/e.err"
zl=$(j "$E" 'd["rfc2544"]["zero_loss_pps"]')
if [[ $zl =~ ^[0-9]+$ ]] && ((zl >= 12500 && zl <= 21000)); then
  pass "zero-loss rate $zl pps, shaper at 16667 pps"
else
  fail "zero-loss rate $zl pps, expected about 16667"
fi
check_eq "some trials failed (the search ran)" True \
  "$(j "$E" 'any(not t["pass"] for t in d["rfc2544"]["trials"]) and any(t["pass"] for t in d["rfc2544"]["trials"])')"
check_eq "every trial above 21k pps failed" True \
  "$(j "$E" 'all(not t["pass"] for t in d["rfc2544"]["trials"] if t["offered_pps"] > 21000)')"

xt_finish
