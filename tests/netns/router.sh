#!/usr/bin/env bash
# Acceptance test: xgw as an IPv4/IPv6 router (pipeline kind "router")
# between two Linux hosts on different subnets, over AF_XDP on veth.
# Run as root:  tests/netns/router.sh
#
#   ns A                       ns X (xgw)                         ns B
#   a0 ─────veth───── xa [lan-a   router   lan-b] xb ─────veth───── b0
#   10.1.0.2/24        10.1.0.1/24        10.2.0.1/24        10.2.0.2/24
#   2001:db8:1::2/64   2001:db8:1::1/64   2001:db8:2::1/64   2001:db8:2::2/64
#                      mtu 1500           mtu 1400           lo: 10.9.0.1, 10.9.0.2,
#                                                                2001:db8:9::1
#   xgw routes: 10.9.0.0/24 via 10.2.0.2, 2001:db8:9::/64 via 2001:db8:2::2 (B),
#               10.9.9.0/24 via 10.2.0.99, 2001:db8:99::/64 via 2001:db8:2::99
#               (gateways that never answer)
#
# Checks (the numbers are the acceptance criteria's)
#   4a. next-hop resolution: the very first packet to a prefix behind B, with
#       neither xgw nor B knowing the other, waits in the pending queue and
#       gets its reply (v4 and v6); B sees xgw's ARP / NS before the echo
#   4b. a gateway that never answers: no replies, the parked frames are
#       dropped as neigh.resolution_failed (+ neigh.queue_full beyond 64 per
#       neighbour), exactly as many as were sent, pending back to 0, while
#       ping A<->B keeps flowing; `xgw neigh --json` (if the binary has
#       it) shows the gateways INCOMPLETE holding what is pending, and
#       later A and B REACHABLE
#   1.  ping / ping -6 A<->B both ways; TCP both ways, v4 and v6: every
#       byte arrives (count and SHA-256 checked by the receiver), then
#       iperf3 -n / -R for the rates
#   2.  the hosts' neighbour entries for xgw (v4, v6 global, v6 link-local)
#       are REACHABLE or STALE with xgw's MAC; ping to xgw's addresses,
#       link-local (derived from the veth MAC by EUI-64) included
#   3.  traceroute / traceroute -6 -n: hop 1 = xgw, hop 2 = B; DF ping of
#       1500 bytes gets "Frag needed and DF set (mtu = 1400)", ping -6 gets
#       "Packet too big: mtu=1400"; tracepath (-6) reports pmtu 1400; a
#       non-DF 1500-byte packet is fragmented by xgw and reassembled by B
#   5.  reverse-path filter on lan-a, with spoofed UDP from A (scapy):
#       strict drops a source routed out of lan-b and an unroutable one
#       (rpf.strict_failed += exactly what was sent, nothing reaches B);
#       loose lets the first through and drops the second
#       (rpf.loose_failed); off lets both through; v4 and v6; a legitimate
#       source always passes
#   6.  after each run: totals rx + emitted = tx + local + dropped + pending,
#       pending 0; SIGTERM exits 0 and leaves no XDP program
# Runs 2 and 3 restart xgw with rpf loose, then off, on lan-a for check 5.
# Knobs: TCP_BYTES=16777216 IPERF_BYTES=8M SPOOF_COUNT=20
#        XT_KEEP=1 (keep namespaces/logs)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=router
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in traceroute tracepath iperf3 tcpdump; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
"$XT_PY" -c 'import scapy' 2>/dev/null || die "python3-scapy missing for $XT_PY (run tests/run.sh)"

IPERF_BYTES=${IPERF_BYTES:-8M}
TCP_BYTES=${TCP_BYTES:-16777216}
SPOOF_COUNT=${SPOOF_COUNT:-20}

NS_A=$(xt_ns a); NS_X=$(xt_ns x); NS_B=$(xt_ns b)
IF_A=a0; IF_XA=xa; IF_XB=xb; IF_B=b0
MAC_A=02:0a:00:00:00:02; MAC_XA=02:0a:00:00:00:01
MAC_XB=02:0b:00:00:00:01; MAC_B=02:0b:00:00:00:02
A4=10.1.0.2; X4A=10.1.0.1; X4B=10.2.0.1; B4=10.2.0.2
A6=2001:db8:1::2; X6A=2001:db8:1::1; X6B=2001:db8:2::1; B6=2001:db8:2::2
FAR4=10.9.0.1; FAR4B=10.9.0.2; FAR6=2001:db8:9::1      # on B's lo, routed via B
DEAD4=10.9.9.1; DEAD6=2001:db8:99::1                     # via gateways that never answer
SOCK=$XT_WORK/ctl.sock
XGW_LOG=""
T0=$(date +%s)
# `xgw neigh` (xgw's neighbour table) exists in newer builds: checked if there
HAVE_NEIGH=0
"$XGW" --help 2>/dev/null | grep -qE '^\s+neigh\b' && HAVE_NEIGH=1

# eui64 MAC -> the IPv6 link-local address derived from it (RFC 4291 App. A)
eui64() {
  "$XT_PY" -c '
import ipaddress, sys
b = bytes(int(x, 16) for x in sys.argv[1].split(":"))
iid = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:6]
print(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))' "$1"
}
LL_XA=$(eui64 "$MAC_XA"); LL_XB=$(eui64 "$MAC_XB")

# ---------------------------------------------------------------------------
step "lab: $NS_A <-> $NS_X (xgw router) <-> $NS_B"
xt_ns_add "$NS_A" ipv6; xt_ns_add "$NS_B" ipv6
# IPv6 stays off in xgw's namespace: its kernel has nothing to say on xa/xb
xt_ns_add "$NS_X"
xt_veth "$NS_A" "$IF_A" "$NS_X" "$IF_XA"
xt_veth "$NS_X" "$IF_XB" "$NS_B" "$IF_B"
xt_dut_if "$NS_X" "$IF_XA" "$MAC_XA"
xt_dut_if "$NS_X" "$IF_XB" "$MAC_XB"
xt_host_if "$NS_A" "$IF_A" "$A4/24" "$MAC_A"
xt_host_if "$NS_B" "$IF_B" "$B4/24" "$MAC_B"
ip -n "$NS_A" -6 addr add "$A6/64" dev "$IF_A" nodad
ip -n "$NS_B" -6 addr add "$B6/64" dev "$IF_B" nodad
ip -n "$NS_A" route add default via "$X4A"
ip -n "$NS_A" -6 route add default via "$X6A"
ip -n "$NS_B" route add default via "$X4B"
ip -n "$NS_B" -6 route add default via "$X6B"
ip -n "$NS_B" addr add "$FAR4/32" dev lo
ip -n "$NS_B" addr add "$FAR4B/32" dev lo
ip -n "$NS_B" -6 addr add "$FAR6/128" dev lo
# B must accept what xgw forwards from spoofed sources (the test decides
# what xgw lets through, not B's kernel)
ip netns exec "$NS_B" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
  "net.ipv4.conf.$IF_B.rp_filter=0" >/dev/null
# ICMP errors from B (traceroute's last hop) without rate limiting surprises
ip netns exec "$NS_B" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 >/dev/null
log "xgw link-locals (EUI-64 of the veth MACs): lan-a $LL_XA, lan-b $LL_XB"

write_config() { # FILE RPF_LAN_A RPF_LAN_B
  cat >"$1" <<EOF
# written by tests/netns/router.sh
[engine]
cores = [1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "pa"
driver = "af_xdp"
interface = "$IF_XA"

[[ports]]
name = "pb"
driver = "af_xdp"
interface = "$IF_XB"

[pipeline]
kind = "router"

[[interfaces]]
name = "lan-a"
port = "pa"
ipv4 = ["$X4A/24"]
ipv6 = ["$X6A/64"]
rpf = "$2"

[[interfaces]]
name = "lan-b"
port = "pb"
ipv4 = ["$X4B/24"]
ipv6 = ["$X6B/64"]
mtu = 1400
rpf = "$3"

[[routes]]
prefix = "10.9.0.0/24"
via = "$B4"

[[routes]]
prefix = "2001:db8:9::/64"
via = "$B6"

[[routes]]
prefix = "10.9.9.0/24"
via = "10.2.0.99"

[[routes]]
prefix = "2001:db8:99::/64"
via = "2001:db8:2::99"
EOF
}

# start_xgw CONFIG LABEL: start (retrying a rebind that gets EBUSY right
# after the previous instance exited), wait until it answers
start_xgw() {
  local cfg=$1 label=$2 attempt
  for attempt in 1 2 3 4 5; do
    xt_xgw_start "$NS_X" "$cfg" "$XT_WORK/xgw-$label.$attempt.log"
    if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$XT_WORK/xgw-$label.$attempt.log" 30 \
      2>"$XT_WORK/xgw-$label.$attempt.why"; then
      XGW_LOG=$XT_WORK/xgw-$label.$attempt.log
      pass "xgw ($label) is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "start attempt $attempt failed: $(grep -v '^\s*$' "$XT_WORK/xgw-$label.$attempt.log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$XT_WORK/xgw-$label.5.why" >&2
  die "xgw ($label) did not come up"
}

stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  if kill -0 "$XT_XGW_PID" 2>/dev/null; then warn "xgw (pid $XT_XGW_PID) runs but does not answer on $SOCK"
  else warn "xgw (pid $XT_XGW_PID) is gone"; fi
  warn "xgw log ($XGW_LOG):"; xt_log_tail "$XGW_LOG" 30 >&2
  die "xgw stats failed"
}
# drops FILE REASON: total count of one drop reason (0 when absent)
drops() {
  xt_json "$1" "d['drops'].get('$2', {}).get('count', 0)"
}
settle() { xt_xgw_settle "$SOCK"; }

# ping_ok NS WHAT ARGS...: all replies
ping_ok() {
  local ns=$1 what=$2 out rc=0; shift 2
  out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$@" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$what: $(grep -E 'packets transmitted' <<<"$out")"
  else
    fail "$what (exit $rc): $(grep -E 'packets transmitted|From|rror' <<<"$out" | head -n 3 | tr '\n' ' ' || echo "$out" | tail -n 2)"
  fi
}

# accounting LABEL: totals invariant and nothing left pending
accounting() {
  local label=$1 T=$XT_WORK/acct.json rx em tx lo dr pe
  settle
  stats "$T"
  rx=$(xt_json "$T" 'd["totals"]["rx"]'); em=$(xt_json "$T" 'd["totals"]["emitted"]')
  tx=$(xt_json "$T" 'd["totals"]["tx"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
  dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
  log "$label totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
  log "$label drops: $(xt_json "$T" '{k: v["count"] for k, v in d["drops"].items()}')"
  check_eq "$label: totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "$label: totals.pending once idle" 0 "$pe"
  if ((rx > 0 && tx > 0 && em > 0 && lo > 0)); then pass "$label: rx, tx, emitted and local all counted (non-vacuous)"
  else fail "$label: some total is 0 (rx $rx tx $tx emitted $em local $lo)"; fi
}

stop_xgw() { # LABEL
  xt_xgw_stop "$XT_XGW_PID" TERM 15
  check_eq "$1: xgw exit status after SIGTERM" 0 "$XT_RC"
  xt_check_no_xdp "$NS_X" "$IF_XA" 2
  xt_check_no_xdp "$NS_X" "$IF_XB" 2
}

# A small capture in B (tcpdump -w), started and stopped by pid
cap_start() { xt_cap_start "$NS_B" "$IF_B" "$1" "$2" || warn "tcpdump in B not ready"; } # FILE FILTER
cap_stop() { xt_cap_stop "$1"; } # FILE -> prints the decoded capture

# ---------------------------------------------------------------------------
cat >"$XT_WORK/spoof.py" <<'EOF'
# spoof.py IFACE DST_MAC FAMILY:SRC:DST:DPORT:COUNT ... (';' separates the
# fields for IPv6).  Sends UDP datagrams with the given (spoofed) sources.
import sys
from scapy.all import Ether, IP, IPv6, UDP, Raw, sendp, conf
conf.verb = 0
iface, dmac = sys.argv[1], sys.argv[2]
frames = []
for spec in sys.argv[3:]:
    fam, src, dst, dport, count = spec.split(";")
    l3 = IP(src=src, dst=dst, ttl=64) if fam == "4" else IPv6(src=src, dst=dst, hlim=64)
    for i in range(int(count)):
        frames.append(Ether(dst=dmac) / l3 / UDP(sport=40000 + i, dport=int(dport)) / Raw(b"XGWRPF" + bytes([i & 0xFF]) * 26))
sendp(frames, iface=iface, inter=0.002)
print(len(frames))
EOF
cat >"$XT_WORK/udp_count.py" <<'EOF'
# udp_count.py STOP_FILE OUT_JSON READY_FILE FAMILY:PORT ...  Counts datagrams
# per port (and their sources) until STOP_FILE exists.
import json, os, select, socket, sys
stop, out, ready = sys.argv[1], sys.argv[2], sys.argv[3]
socks = {}
for spec in sys.argv[4:]:
    fam, port = spec.split(":")
    s = socket.socket(socket.AF_INET if fam == "4" else socket.AF_INET6, socket.SOCK_DGRAM)
    if fam == "6":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("0.0.0.0" if fam == "4" else "::", int(port)))
    socks[s] = spec
counts = {v: 0 for v in socks.values()}
sources = {v: {} for v in socks.values()}
open(ready, "w").write("ready\n")
while not os.path.exists(stop):
    r, _, _ = select.select(list(socks), [], [], 0.1)
    for s in r:
        data, addr = s.recvfrom(65536)
        k = socks[s]
        counts[k] += 1
        sources[k][addr[0]] = sources[k].get(addr[0], 0) + 1
json.dump({"counts": counts, "sources": sources}, open(out, "w"))
EOF
cat >"$XT_WORK/tcp_xfer.py" <<'EOF'
# tcp_xfer.py sink BIND PORT READY_FILE | send DST PORT NBYTES
# sink: accepts one connection, reads to EOF, answers "<bytes> <sha256>\n".
# send: sends NBYTES of a deterministic stream, half-closes, checks the answer.
import hashlib, json, socket, sys, time
def stream(n):
    block = hashlib.sha256(b"xgw").digest() * 2048  # 64 KiB
    while n > 0:
        k = min(n, len(block))
        yield block[:k]
        n -= k
if sys.argv[1] == "sink":
    bind, port, ready = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fam = socket.AF_INET6 if ":" in bind else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((bind, port)); ls.listen(1)
    open(ready, "w").write("ready\n")
    ls.settimeout(60)
    c, _ = ls.accept()
    c.settimeout(60)
    h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b); n += len(b)
    c.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
    c.close()
else:
    dst, port, nbytes = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.create_connection((dst, port), timeout=60)
    h = hashlib.sha256(); t0 = time.monotonic()
    for b in stream(nbytes):
        s.sendall(b); h.update(b)
    s.shutdown(socket.SHUT_WR)
    ans = b""
    while not ans.endswith(b"\n"):
        b = s.recv(256)
        if not b:
            break
        ans += b
    dt = time.monotonic() - t0
    got, digest = ans.decode().split() if ans else ("0", "")
    ok = int(got) == nbytes and digest == h.hexdigest()
    print(json.dumps(dict(sent=nbytes, received=int(got), digest_ok=digest == h.hexdigest(), seconds=round(dt, 3), mbps=round(nbytes * 8 / dt / 1e6, 1))))
    sys.exit(0 if ok else 1)
EOF
cat >"$XT_WORK/udp_blast.py" <<'EOF'
# udp_blast.py DST PORT COUNT: COUNT datagrams, back to back
import socket, sys
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(b"XGWDEAD" + bytes(57), (dst, port))
EOF

# ===========================================================================
# Run 1: lan-a rpf strict, lan-b rpf loose (ordinary traffic must not care)
write_config "$XT_WORK/run1.toml" strict loose
rc=0; out=$("$XGW" check --config "$XT_WORK/run1.toml" 2>&1) || rc=$?
check_eq "xgw check accepts the router config" 0 "$rc" "${out:0:200}"
step "run 1: xgw with rpf strict on lan-a, loose on lan-b"
start_xgw "$XT_WORK/run1.toml" run1
for i in "$IF_XA" "$IF_XB"; do
  if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done

# ---------------------------------------------------------------------------
step "4a. first packet to a never-resolved next hop waits and gets through"
ip -n "$NS_B" neigh flush all >/dev/null 2>&1 || true
ip -n "$NS_B" -6 neigh flush all >/dev/null 2>&1 || true
stats "$XT_WORK/r0.json"
has_park=$(xt_json "$XT_WORK/r0.json" '"parked" in d["ports"][0] and "unparked" in d["ports"][0]')
cap_start "$XT_WORK/resolve.pcap" "arp or icmp or icmp6"
for spec in "4:$FAR4" "6:$FAR6"; do
  fam=${spec%%:*}; dst=${spec#*:}
  out=""; rc=0
  out=$(ip netns exec "$NS_A" ping "-$fam" -c 1 -W 2 "$dst" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q '1 received' <<<"$out"; then
    pass "IPv$fam: the very first ping to $dst (via B, unresolved) got its reply: $(grep -oE 'time=[0-9.]+ ms' <<<"$out")"
  else
    fail "IPv$fam: first ping to $dst (exit $rc): $(tail -n 2 <<<"$out" | tr '\n' ' ')"
  fi
done
dec=$(cap_stop "$XT_WORK/resolve.pcap")
echo "$dec" >"$XT_WORK/resolve.txt"
# xgw's ARP request for B must come before the echo request it held back
first_arp=$(grep -n "Request who-has $B4 tell $X4B" <<<"$dec" | head -n 1 | cut -d: -f1 || true)
first_echo=$(grep -n "$A4 > $FAR4: ICMP echo request" <<<"$dec" | head -n 1 | cut -d: -f1 || true)
if [[ -n $first_arp && -n $first_echo ]] && ((first_arp < first_echo)); then
  pass "IPv4: B saw xgw's ARP request for $B4 (packet $first_arp) before the held echo request (packet $first_echo)"
else
  fail "IPv4: expected xgw's ARP request before the echo request in B's capture (arp=${first_arp:-none} echo=${first_echo:-none})"
  head -n 20 <<<"$dec" | sed 's/^/    | /'
fi
first_ns=$(grep -nE "> ff02::1:ff00:2: ICMP6, neighbor solicitation, who has $B6" <<<"$dec" | head -n 1 | cut -d: -f1 || true)
first_echo6=$(grep -n "$A6 > $FAR6: ICMP6, echo request" <<<"$dec" | head -n 1 | cut -d: -f1 || true)
if [[ -n $first_ns && -n $first_echo6 ]] && ((first_ns < first_echo6)); then
  pass "IPv6: B saw xgw's multicast NS for $B6 (packet $first_ns) before the held echo request (packet $first_echo6)"
else
  fail "IPv6: expected xgw's NS before the echo request in B's capture (ns=${first_ns:-none} echo=${first_echo6:-none})"
  head -n 20 <<<"$dec" | sed 's/^/    | /'
fi
settle
stats "$XT_WORK/r1.json"
if [[ $has_park == True ]]; then
  parked=$(xt_json "$XT_WORK/r1.json" 'sum(p["parked"] for p in d["ports"])')
  unparked=$(xt_json "$XT_WORK/r1.json" 'sum(p["unparked"] for p in d["ports"])')
  if ((parked > 0)); then pass "xgw parked frames ($parked)"; else fail "xgw parked nothing"; fi
  check_eq "every parked frame was unparked" "$parked" "$unparked"
else
  # Every port in `xgw stats --json` has them (control.rs): their absence
  # is a regression, not a reason to check less.
  fail "xgw stats --json has no parked/unparked counters per port"
fi
check_eq "pending after resolution" 0 "$(xt_json "$XT_WORK/r1.json" 'd["totals"]["pending"]')"
check_eq "no neigh.resolution_failed drops" 0 "$(drops "$XT_WORK/r1.json" neigh.resolution_failed)"

# ---------------------------------------------------------------------------
step "4b. gateways that never answer: drops counted, A<->B keeps flowing"
BLAST=100
stats "$XT_WORK/d0.json"
t_dead=$(date +%s.%N)
ip netns exec "$NS_A" ping -4 -c 3 -i 0.2 -W 1 "$DEAD4" >"$XT_WORK/dead4.out" 2>&1 &
pd4=$!
ip netns exec "$NS_A" ping -6 -c 3 -i 0.2 -W 1 "$DEAD6" >"$XT_WORK/dead6.out" 2>&1 &
pd6=$!
ip netns exec "$NS_A" "$XT_PY" "$XT_WORK/udp_blast.py" "$DEAD4" 9 "$BLAST"
ip netns exec "$NS_A" "$XT_PY" "$XT_WORK/udp_blast.py" "$DEAD6" 9 "$BLAST"
# while xgw waits for those gateways, ordinary traffic must not stall
stats "$XT_WORK/d1.json"
pend=$(xt_json "$XT_WORK/d1.json" 'd["totals"]["pending"]')
if ((pend > 0)); then pass "frames for the dead gateways are pending ($pend) while resolution runs"
else fail "nothing pending right after sending to the dead gateways"; fi
if ((HAVE_NEIGH)); then
  # xgw's own table: both gateways INCOMPLETE, holding all that is pending
  for ((i = 0; i < 20; i++)); do
    timeout 10 "$XGW" neigh --json --socket "$SOCK" >"$XT_WORK/neigh-dead.json" 2>/dev/null || true
    got=$(xt_json "$XT_WORK/neigh-dead.json" "' '.join('%s:%s' % (r['state'], r.get('parked', 0)) for ip in ('10.2.0.99', '2001:db8:2::99') for r in d['neighbors'] if r.get('ip') == ip)" 2>/dev/null || echo "?")
    parked_sum=$(awk -F'[: ]' '{ s = 0; for (i = 2; i <= NF; i += 2) s += $i; print s }' <<<"$got")
    [[ $parked_sum == "$pend" ]] && break
    sleep 0.05
  done
  if [[ $got =~ ^INCOMPLETE:[0-9]+\ INCOMPLETE:[0-9]+$ && $parked_sum == "$pend" ]]; then
    pass "xgw neigh: 10.2.0.99 and 2001:db8:2::99 INCOMPLETE, parked $got (sum = pending $pend)"
  else
    fail "xgw neigh: dead gateways: '$got' (want two INCOMPLETE entries whose parked frames sum to pending $pend)"
  fi
fi
for spec in "4|$B4|$NS_A|A->B" "6|$B6|$NS_A|A->B" "4|$A4|$NS_B|B->A" "6|$A6|$NS_B|B->A"; do
  IFS='|' read -r fam dst ns dir <<<"$spec"
  out=""; rc=0
  out=$(ip netns exec "$ns" ping "-$fam" -c 5 -i 0.1 -W 1 "$dst" 2>&1) || rc=$?
  maxrtt=$(grep -oE 'rtt [^=]+= [0-9.]+/[0-9.]+/[0-9.]+' <<<"$out" | awk -F/ '{print $NF}')
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out" && awk -v m="${maxrtt:-9999}" 'BEGIN { exit !(m < 500) }'; then
    pass "during resolution: ping -$fam $dir 5/5, max rtt ${maxrtt} ms"
  else
    fail "during resolution: ping -$fam $dir (exit $rc, max rtt ${maxrtt:-?}): $(grep -E 'transmitted' <<<"$out")"
  fi
done
wait "$pd4" || true
wait "$pd6" || true
check_eq "ping $DEAD4 (dead gateway) gets no reply" 0 \
  "$(grep -oE '[0-9]+ received' "$XT_WORK/dead4.out" | cut -d' ' -f1)"
check_eq "ping -6 $DEAD6 (dead gateway) gets no reply" 0 \
  "$(grep -oE '[0-9]+ received' "$XT_WORK/dead6.out" | cut -d' ' -f1)"
# 3 solicitations 1 s apart, then failure: wait for pending to drain
for ((i = 0; i < 100; i++)); do
  stats "$XT_WORK/d2.json"
  [[ $(xt_json "$XT_WORK/d2.json" 'd["totals"]["pending"]') == 0 ]] && break
  sleep 0.1
done
t_done=$(date +%s.%N)
settle
stats "$XT_WORK/d2.json"
log "dead gateways resolved as failed after $(awk -v a="$t_dead" -v b="$t_done" 'BEGIN { printf "%.1f", b - a }') s"
dfail=$(($(drops "$XT_WORK/d2.json" neigh.resolution_failed) - $(drops "$XT_WORK/d0.json" neigh.resolution_failed)))
dqf=$(($(drops "$XT_WORK/d2.json" neigh.queue_full) - $(drops "$XT_WORK/d0.json" neigh.queue_full)))
dpf=$(($(drops "$XT_WORK/d2.json" pending.full) - $(drops "$XT_WORK/d0.json" pending.full)))
log "drops: neigh.resolution_failed +$dfail, neigh.queue_full +$dqf, pending.full +$dpf"
check_eq "pending after the dead gateways failed" 0 "$(xt_json "$XT_WORK/d2.json" 'd["totals"]["pending"]')"
check_eq "every frame for a dead gateway dropped as resolution_failed/queue_full/pending.full" \
  "$((2 * (3 + BLAST)))" "$((dfail + dqf + dpf))"
if ((dfail >= 2)); then pass "neigh.resolution_failed counted (+$dfail)"; else fail "neigh.resolution_failed +$dfail"; fi
# 103 frames per gateway, 64 may wait per neighbour: the rest overflow
if ((dqf + dpf >= 2 * (3 + BLAST - 64))); then pass "overflow beyond 64 waiting frames per neighbour counted (+$((dqf + dpf)))"
else fail "expected at least $((2 * (3 + BLAST - 64))) neigh.queue_full/pending.full drops, got $((dqf + dpf))"; fi

# ---------------------------------------------------------------------------
step "1. ping both ways, v4 and v6"
ping_ok "$NS_A" "ping A->B" "$B4"
ping_ok "$NS_B" "ping B->A" "$A4"
ping_ok "$NS_A" "ping -6 A->B" -6 "$B6"
ping_ok "$NS_B" "ping -6 B->A" -6 "$A6"

# ---------------------------------------------------------------------------
step "3. traceroute, ICMP errors about the MTU, fragmentation, tracepath"
# hops_of OUT: "hop addr" per answering probe
hops_of() { awk '$1 ~ /^[0-9]+$/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9a-f:.]+$/ && $i ~ /[.:]/ && $(i+1) != "ms") print $1, $i }' <<<"$1" | sort -u; }
for spec in "4|$B4|$X4A" "6|$B6|$X6A"; do
  IFS='|' read -r fam dst hop1 <<<"$spec"
  out=$(ip netns exec "$NS_A" timeout 30 traceroute "-$fam" -n -q 2 -w 2 -m 5 "$dst" 2>&1) || true
  h=$(hops_of "$out")
  if [[ $h == "1 $hop1"$'\n'"2 $dst" ]]; then
    pass "traceroute -$fam -n A->B: hop 1 $hop1 (xgw), hop 2 $dst"
  else
    fail "traceroute -$fam -n A->B: expected hop 1 $hop1, hop 2 $dst; got:"; xt_indent <<<"$out"
  fi
done

out=$(ip netns exec "$NS_A" ping -c 1 -W 2 -M "do" -s 1472 "$B4" 2>&1) || true
if grep -qE "From $X4A .*Frag needed and DF set \(mtu = 1400\)" <<<"$out"; then
  pass "ping -M do -s 1472 A->B: $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -M do -s 1472 A->B: no 'Frag needed and DF set (mtu = 1400)' from $X4A:"; xt_indent <<<"$out"
fi
ping_ok "$NS_A" "ping -M do -s 1372 A->B (1400 bytes: fits lan-b)" -M "do" -s 1372 "$B4"
out=$(ip netns exec "$NS_A" ping -6 -c 1 -W 2 -s 1452 "$B6" 2>&1) || true
if grep -qE "From $X6A .*Packet too big: mtu=1400" <<<"$out"; then
  pass "ping -6 -s 1452 A->B: $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -6 -s 1452 A->B: no 'Packet too big: mtu=1400' from $X6A:"; xt_indent <<<"$out"
fi
# a 1500-byte packet without DF is fragmented by xgw (A's path to FAR4B has
# no cached PMTU, so A sends it whole) and reassembled by B
# shellcheck disable=SC2016  # awk program
snmp_ip() { ip netns exec "$1" awk -v f="$2" '$1 == "Ip:" && !h { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next } $1 == "Ip:" && h { print $(c[f]); exit }' /proc/net/snmp; }
reasm0=$(snmp_ip "$NS_B" ReasmOKs); fcr0=$(snmp_ip "$NS_A" FragCreates)
ping_ok "$NS_A" "ping -M dont -s 1472 A->$FAR4B (xgw fragments to 1400)" -M dont -s 1472 "$FAR4B"
check_eq "A fragmented nothing itself" 0 "$(($(snmp_ip "$NS_A" FragCreates) - fcr0))"
check_eq "B reassembled the 3 requests xgw fragmented" 3 "$(($(snmp_ip "$NS_B" ReasmOKs) - reasm0))"
for spec in "4|$FAR4" "6|$FAR6"; do
  IFS='|' read -r fam dst <<<"$spec"
  tp=tracepath; [[ $fam == 6 ]] && tp="tracepath -6"
  # shellcheck disable=SC2086
  out=$(ip netns exec "$NS_A" timeout 30 $tp -n -m 5 "$dst" 2>&1) || true
  if grep -qE 'Resume: pmtu 1400' <<<"$out"; then
    pass "$tp -n $dst: $(grep -E 'Resume' <<<"$out" | tr -s ' ')"
  else
    fail "$tp -n $dst: no 'Resume: pmtu 1400':"; xt_indent <<<"$out"
  fi
done

# ---------------------------------------------------------------------------
step "1. TCP both ways, v4 and v6: $TCP_BYTES bytes each, counted and hashed by the receiver"
# (iperf3's own byte counts are no proof: its receiver stops counting when
# the sender reports the end of the test, with data still in flight)
for spec in "4|$NS_A|$NS_B|$B4|A->B" "4|$NS_B|$NS_A|$A4|B->A" "6|$NS_A|$NS_B|$B6|A->B" "6|$NS_B|$NS_A|$A6|B->A"; do
  IFS='|' read -r fam src dstns dst dir <<<"$spec"
  ready=$XT_WORK/tcp.ready; rm -f "$ready"
  ip netns exec "$dstns" "$XT_PY" "$XT_WORK/tcp_xfer.py" sink "$dst" 6001 "$ready" >"$XT_WORK/tcp-sink.log" 2>&1 &
  sink=$!; XT_PIDS+=("$sink")
  for ((i = 0; i < 100; i++)); do [[ -s $ready ]] && break; sleep 0.05; done
  rc=0
  out=$(ip netns exec "$src" timeout 60 "$XT_PY" "$XT_WORK/tcp_xfer.py" send "$dst" 6001 "$TCP_BYTES" 2>&1) || rc=$?
  wait "$sink" 2>/dev/null || true
  if ((rc == 0)); then pass "TCP IPv$fam $dir: $out"
  else fail "TCP IPv$fam $dir (exit $rc): $out $(cat "$XT_WORK/tcp-sink.log")"; fi
done
# and iperf3 both ways (-n, and -R), for the rates
ip netns exec "$NS_B" iperf3 -s -p 5301 >"$XT_WORK/iperf3-s.log" 2>&1 &
XT_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do
  ip netns exec "$NS_B" ss -ltn 2>/dev/null | grep -q ':5301 ' && break
  sleep 0.1
done
for spec in "4|$B4|" "4|$B4|-R" "6|$B6|" "6|$B6|-R"; do
  IFS='|' read -r fam dst rev <<<"$spec"
  dir="A->B"; [[ $rev == -R ]] && dir="B->A"
  j=$XT_WORK/iperf3-$fam$rev.json
  rc=0
  # shellcheck disable=SC2086
  ip netns exec "$NS_A" timeout 60 iperf3 -"$fam" -c "$dst" -p 5301 -n "$IPERF_BYTES" $rev -J >"$j" 2>&1 || rc=$?
  res=$(xt_json "$j" '"%d %.0f" % (d["end"]["sum_sent"]["bytes"], d["end"]["sum_received"]["bits_per_second"] / 1e6)' 2>/dev/null || echo "? ?")
  read -r sent mbps <<<"$res"
  if ((rc == 0)) && [[ $sent != "?" ]] && ((sent >= $(numfmt --from=iec "$IPERF_BYTES"))); then
    pass "iperf3 -$fam $rev ($dir): $sent bytes sent, $mbps Mbit/s"
  else
    fail "iperf3 -$fam $rev ($dir): exit $rc, sent $sent: $(grep -E '"error"' "$j" | head -n 1 || true)"
  fi
done

# ---------------------------------------------------------------------------
step "2. the hosts' view of xgw: neighbour entries, pings to its addresses"
ping_ok "$NS_A" "ping xgw $X4A from A" "$X4A"
ping_ok "$NS_A" "ping xgw's far address $X4B from A" "$X4B"
ping_ok "$NS_A" "ping -6 xgw $X6A from A" -6 "$X6A"
ping_ok "$NS_A" "ping -6 xgw link-local $LL_XA%$IF_A from A" -6 "$LL_XA%$IF_A"
ping_ok "$NS_B" "ping xgw $X4B from B" "$X4B"
ping_ok "$NS_B" "ping -6 xgw $X6B from B" -6 "$X6B"
ping_ok "$NS_B" "ping -6 xgw link-local $LL_XB%$IF_B from B" -6 "$LL_XB%$IF_B"
# neigh_ok NS IF ADDR MAC: REACHABLE or STALE with xgw's MAC (DELAY/PROBE are
# transitions: wait them out, up to 8 s)
neigh_ok() {
  local ns=$1 ifc=$2 addr=$3 mac=$4 line st i
  for ((i = 0; i < 80; i++)); do
    line=$(ip -n "$ns" neigh show "$addr" dev "$ifc" 2>/dev/null | head -n 1)
    st=$(awk '{ print $NF }' <<<"$line")
    case $st in REACHABLE | STALE) break ;; esac
    [[ $st == FAILED || $st == INCOMPLETE || -z $line ]] && break
    sleep 0.1
  done
  if [[ ($st == REACHABLE || $st == STALE) && $line == *"lladdr $mac "* ]]; then
    pass "$ns: neighbour $addr: $line"
  else
    fail "$ns: neighbour $addr: '${line:-no entry}' (want lladdr $mac REACHABLE or STALE)"
  fi
}
neigh_ok "$NS_A" "$IF_A" "$X4A" "$MAC_XA"
neigh_ok "$NS_A" "$IF_A" "$X6A" "$MAC_XA"
neigh_ok "$NS_A" "$IF_A" "$LL_XA" "$MAC_XA"
neigh_ok "$NS_B" "$IF_B" "$X4B" "$MAC_XB"
neigh_ok "$NS_B" "$IF_B" "$X6B" "$MAC_XB"
neigh_ok "$NS_B" "$IF_B" "$LL_XB" "$MAC_XB"
bad=$( { ip -n "$NS_A" neigh show dev "$IF_A"; ip -n "$NS_A" -6 neigh show dev "$IF_A"
         ip -n "$NS_B" neigh show dev "$IF_B"; ip -n "$NS_B" -6 neigh show dev "$IF_B"; } | grep -E 'FAILED|INCOMPLETE' || true)
if [[ -z $bad ]]; then pass "no FAILED or INCOMPLETE neighbour entry on either host"
else fail "FAILED/INCOMPLETE neighbour entries: $(tr '\n' ';' <<<"$bad")"; fi

# xgw's own neighbour table, when this build has `xgw neigh`
if ((HAVE_NEIGH)); then
  if timeout 10 "$XGW" neigh --json --socket "$SOCK" >"$XT_WORK/neigh.json" 2>"$XT_WORK/neigh.err"; then
    for spec in "lan-b|$B4|$MAC_B" "lan-b|$B6|$MAC_B" "lan-a|$A4|$MAC_A" "lan-a|$A6|$MAC_A"; do
      IFS='|' read -r ifn addr mac <<<"$spec"
      st=$(xt_json "$XT_WORK/neigh.json" "sorted({'%s %s' % (r.get('state'), r.get('mac')) for r in d['neighbors'] if r.get('ip') == '$addr' and r.get('interface') == '$ifn'})")
      if [[ $st =~ ^\[\"(REACHABLE|STALE|PROBE)\ $mac\"\]$ ]]; then pass "xgw neigh --json: $addr on $ifn: $st"
      else fail "xgw neigh --json: $addr on $ifn: $st (want REACHABLE/STALE with $mac)"; fi
    done
  else
    fail "xgw neigh --json failed: $(head -n 2 "$XT_WORK/neigh.err")"
  fi
else
  log "(this xgw has no 'neigh' command: xgw's own neighbour table not checked)"
fi

# ---------------------------------------------------------------------------
# 5. reverse-path filter: spoofed UDP from A to B
# flows: legit source, a source routed out of lan-b, a source with no route
FLOWS4=("4;$A4;$B4;7001" "4;10.2.0.77;$B4;7002" "4;198.51.100.7;$B4;7003")
FLOWS6=("6;$A6;$B6;7004" "6;2001:db8:2::77;$B6;7005" "6;2001:db8:77::7;$B6;7006")
# rpf_round LABEL EXPECT_REASON EXP_DROPS "EXP_COUNT(7001..7006)"
rpf_round() {
  local label=$1 reason=$2 exp_drops=$3 exp_counts=$4 f specs=() stopf=$XT_WORK/rpf-$1.stop
  local out=$XT_WORK/rpf-$1.json ready=$XT_WORK/rpf-$1.ready
  for f in "${FLOWS4[@]}" "${FLOWS6[@]}"; do specs+=("$f;$SPOOF_COUNT"); done
  rm -f "$stopf" "$ready"
  ip netns exec "$NS_B" "$XT_PY" "$XT_WORK/udp_count.py" "$stopf" "$out" "$ready" \
    4:7001 4:7002 4:7003 6:7004 6:7005 6:7006 >"$out.log" 2>&1 &
  local rpid=$!
  XT_PIDS+=("$rpid")
  for ((i = 0; i < 100; i++)); do [[ -s $ready ]] && break; sleep 0.05; done
  [[ -s $ready ]] || { cat "$out.log" >&2; die "UDP counter in B did not start"; }
  settle
  stats "$XT_WORK/rpf0.json"
  local sent
  sent=$(ip netns exec "$NS_A" "$XT_PY" "$XT_WORK/spoof.py" "$IF_A" "$MAC_XA" "${specs[@]}" 2>"$XT_WORK/spoof.err") \
    || { cat "$XT_WORK/spoof.err" >&2; die "scapy sender failed"; }
  check_eq "$label: spoofed/plain datagrams sent by scapy" "$((6 * SPOOF_COUNT))" "$sent"
  settle
  sleep 0.3
  touch "$stopf"
  wait "$rpid" || true
  stats "$XT_WORK/rpf1.json"
  local got
  got=$(xt_json "$out" '" ".join(str(d["counts"][k]) for k in ("4:7001","4:7002","4:7003","6:7004","6:7005","6:7006"))')
  log "$label: B received per flow (legit4 lanb4 noroute4 legit6 lanb6 noroute6): $got"
  check_eq "$label: datagrams reaching B per flow (legit4 lanb4 noroute4 legit6 lanb6 noroute6)" "$exp_counts" "$got"
  local r
  for r in rpf.strict_failed rpf.loose_failed; do
    local dlt=$(($(drops "$XT_WORK/rpf1.json" "$r") - $(drops "$XT_WORK/rpf0.json" "$r")))
    if [[ $r == "$reason" ]]; then check_eq "$label: $r drops" "$exp_drops" "$dlt"
    else check_eq "$label: $r drops" 0 "$dlt"; fi
  done
  # (the hosts' own MLD reports are dropped as ip6.multicast_not_forwarded
  # whenever they come: not part of this count)
  local other0 other1
  other0=$(xt_json "$XT_WORK/rpf0.json" 'd["totals"]["dropped"] - d["drops"].get("ip6.multicast_not_forwarded", {}).get("count", 0)')
  other1=$(xt_json "$XT_WORK/rpf1.json" 'd["totals"]["dropped"] - d["drops"].get("ip6.multicast_not_forwarded", {}).get("count", 0)')
  check_eq "$label: xgw drops of any reason (but the hosts' MLD reports)" "$exp_drops" "$((other1 - other0))"
}
N=$SPOOF_COUNT
step "5. rpf strict on lan-a: only the legitimate source passes"
rpf_round strict rpf.strict_failed $((4 * N)) "$N 0 0 $N 0 0"

# ---------------------------------------------------------------------------
step "6. accounting (run 1), SIGTERM"
accounting "run 1"
stop_xgw "run 1"

# ===========================================================================
step "5. rpf loose on lan-a: a source with a route passes, one without is dropped"
write_config "$XT_WORK/run2.toml" loose off
start_xgw "$XT_WORK/run2.toml" run2
rpf_round loose rpf.loose_failed $((2 * N)) "$N $N 0 $N $N 0"
ping_ok "$NS_A" "loose: ping A->B" "$B4"
accounting "run 2"
stop_xgw "run 2"

step "5. rpf off on lan-a: everything passes"
write_config "$XT_WORK/run3.toml" off off
start_xgw "$XT_WORK/run3.toml" run3
rpf_round off none 0 "$N $N $N $N $N $N"
ping_ok "$NS_A" "off: ping -6 A->B" -6 "$B6"
accounting "run 3"
stop_xgw "run 3"
for i in "$NS_A:$IF_A" "$NS_B:$IF_B"; do xt_check_no_xdp "${i%%:*}" "${i#*:}"; done

log "took $(($(date +%s) - T0)) s"
xt_finish
