#!/usr/bin/env bash
# Acceptance test: IP-in-IP tunnels (4in4, 6in4, 4in6, 6in6) between two
# xgw routers, two sites joined over an underlay bridge.
# Run as root:  tests/netns/ipip.sh
#
#  ns s1            ns g1 (xgw #1)            ns u              ns g2 (xgw #2)           ns s2
#  s1 ──veth── g1l [lan  router  wan] g1w ──veth── u1 ┐       ┌ u2 ──veth── g2w [wan  router  lan] g2l ──veth── s2
#                                                      br0 ────┘  (tcpdump / scapy here)
#  s1: 10.1.5.10/24 10.2.5.10/24            192.168.0.1/24 fd00::1/64        192.168.0.2/24 fd00::2/64
#      2001:db8:5::10/64 2001:db8:15::10/64                                                  s2: 10.1.8.10/24 10.2.8.10/24
#                                                                                                10.9.8.10/24 (rpf case)
#                                                                                                2001:db8:8::10/64 2001:db8:18::10/64
#  tunnels (gw1 end / gw2 end), one per kind, one server prefix pair each:
#    t44 4in4 192.168.0.1 <-> .2  1.1.1.1/24 <-> 1.1.1.2     10.1.5.0/24      <-> 10.1.8.0/24      ttl 64 (default)
#    t64 6in4 192.168.0.1 <-> .2  fd01:64::1/64 <-> ::2      2001:db8:5::/64  <-> 2001:db8:8::/64  ttl 64
#    t46 4in6 fd00::1 <-> fd00::2 1.1.2.1/24 <-> 1.1.2.2     10.2.5.0/24      <-> 10.2.8.0/24      hop limit 33
#    t66 6in6 fd00::1 <-> fd00::2 fd01:66::1/64 <-> ::2      2001:db8:15::/64 <-> 2001:db8:18::/64 hop limit inherit
#  gw1 also routes 10.9.8.0/24 via 192.168.0.2 on wan (not the tunnel): the
#  reverse-path-filter case. gw1's t44 has rpf = "strict".
#
# Checks
#   1. per kind: ping both ways (3/3); tunnel counters on both gateways move
#      by exactly the pings (packets and inner bytes); TCP both ways (a
#      hashed stream, and iperf3 -n / -R) completes with the byte count
#      expected, and the servers' path MTU to each other settles at the
#      tunnel MTU (1480 over IPv4, 1460 over IPv6) through xgw's ICMP errors
#   2. 4in4 (MTU 1480): ping -M do -s 1472 gets "Frag needed and DF set
#      (mtu = 1480)" from gw1; 1452 passes. 6in4: ping -6 -s 1452 gets
#      "Packet too big: mtu=1480"; 6in6: -s 1432 gets "mtu=1460"
#   3. tshark on br0 dissects every frame with IP/ICMP/TCP/UDP checksum
#      validation on: no malformed frame, no checksum or other warning;
#      every kind is seen both ways with ICMP echo and TCP inside; outer TTL
#      64 (t44, t64), hop limit 33 (t46), 63 = inherited (t66); inner TTL /
#      hop limit 63 (the senders' 64 less gw's decrement)
#   4. IP-in-IP from an unknown outer source (scapy in ns u, v4 and v6
#      outer) is dropped: tunnel.no_match counts exactly those, s1 sees none
#   5. rpf strict on gw1's t44: s2 pings s1 from 10.9.8.10 (gw1 routes that
#      prefix out of wan): no reply, rpf.strict_failed += the pings (also in
#      the tunnel's own drops); the same after the tunnel is replaced at run
#      time with rpf off: replies come back (over the underlay, untunnelled)
#   6. run time: `xgw tunnel del t44` removes its routes (route list), pings
#      get "Destination Net Unreachable" from gw1; `xgw tunnel add t44rt` +
#      `xgw route add 10.1.8.0/24 --via 1.1.1.2` carry traffic again, with
#      the new tunnel's counters starting from zero
#   7. both gateways: totals rx + emitted = tx + local + dropped + pending,
#      pending 0, SIGTERM exits 0, no XDP program left
# Knobs: PINGS=3  TCP_BYTES=4194304  IPERF_BYTES=4M  SPOOF_COUNT=10
#        XT_KEEP=1 (keep namespaces, captures, logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=ipip
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in iperf3 tcpdump tshark; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
"$XT_PY" -c 'import scapy' 2>/dev/null || die "python3-scapy missing for $XT_PY (run tests/run.sh)"

PINGS=${PINGS:-3}
TCP_BYTES=${TCP_BYTES:-4194304}
IPERF_BYTES=${IPERF_BYTES:-4M}
SPOOF_COUNT=${SPOOF_COUNT:-10}
T0=$(date +%s)

NS_S1=$(xt_ns s1); NS_G1=$(xt_ns g1); NS_U=$(xt_ns u); NS_G2=$(xt_ns g2); NS_S2=$(xt_ns s2)
MAC_S1=02:51:00:00:00:10; MAC_G1L=02:01:00:00:00:01; MAC_G1W=02:01:00:00:00:02
MAC_S2=02:52:00:00:00:10; MAC_G2L=02:02:00:00:00:01; MAC_G2W=02:02:00:00:00:02
SOCK1=$XT_WORK/gw1.sock; SOCK2=$XT_WORK/gw2.sock
# the servers' addresses per kind: "kind|family|s1 addr|s2 addr|tunnel|pmtu|s2 alt"
# (s2's TCP to s1 comes from "s2 alt": s1 has learned the path MTU to s2's
# main address by then and would advertise an MSS that already fits, so s2
# would never need to discover it)
KINDS=(
  "4in4|4|10.1.5.10|10.1.8.10|t44|1480|10.1.8.12"
  "6in4|6|2001:db8:5::10|2001:db8:8::10|t64|1480|2001:db8:8::12"
  "4in6|4|10.2.5.10|10.2.8.10|t46|1460|10.2.8.12"
  "6in6|6|2001:db8:15::10|2001:db8:18::10|t66|1460|2001:db8:18::12"
)

# ---------------------------------------------------------------------------
step "lab: s1 - gw1 (xgw) - underlay bridge - gw2 (xgw) - s2"
xt_ns_add "$NS_S1" ipv6; xt_ns_add "$NS_S2" ipv6
# IPv6 off where xgw runs (its kernel has nothing to say) and in the underlay
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
ip -n "$NS_S1" addr add 10.2.5.10/24 dev s1
ip -n "$NS_S2" addr add 10.2.8.10/24 dev s2
ip -n "$NS_S2" addr add 10.9.8.10/24 dev s2
for a in 10.1.8.12/24 10.2.8.12/24; do ip -n "$NS_S2" addr add "$a" dev s2; done
for a in 2001:db8:5::10/64 2001:db8:15::10/64; do ip -n "$NS_S1" -6 addr add "$a" dev s1 nodad; done
for a in 2001:db8:8::10/64 2001:db8:18::10/64 2001:db8:8::12/64 2001:db8:18::12/64; do ip -n "$NS_S2" -6 addr add "$a" dev s2 nodad; done
ip -n "$NS_S1" route add default via 10.1.5.1
ip -n "$NS_S1" route add 10.2.8.0/24 via 10.2.5.1 src 10.2.5.10
ip -n "$NS_S1" -6 route add default via 2001:db8:5::1
ip -n "$NS_S1" -6 route add 2001:db8:18::/64 via 2001:db8:15::1 src 2001:db8:15::10
ip -n "$NS_S2" route add default via 10.1.8.1
ip -n "$NS_S2" route add 10.2.5.0/24 via 10.2.8.1 src 10.2.8.10
ip -n "$NS_S2" -6 route add default via 2001:db8:8::1
ip -n "$NS_S2" -6 route add 2001:db8:15::/64 via 2001:db8:18::1 src 2001:db8:18::10
# s1 must accept what comes from 10.9.8.10 (the test decides what xgw lets through)
for ns in "$NS_S1" "$NS_S2"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
done

# write_config FILE SIDE(1|2) T44_RPF
write_config() {
  local f=$1 side=$2 rpf=$3 me peer lan4 lan6 wanif lanif
  if [[ $side == 1 ]]; then
    me=1; peer=2; lanif=g1l; wanif=g1w
    lan4='"10.1.5.1/24", "10.2.5.1/24"'; lan6='"2001:db8:5::1/64", "2001:db8:15::1/64"'
  else
    me=2; peer=1; lanif=g2l; wanif=g2w
    lan4='"10.1.8.1/24", "10.2.8.1/24", "10.9.8.1/24"'; lan6='"2001:db8:8::1/64", "2001:db8:18::1/64"'
  fi
  local far; far=$([[ $side == 1 ]] && echo 8 || echo 5)
  cat >"$f" <<EOF
# written by tests/netns/ipip.sh (gateway $me)
[engine]
cores = [$((side == 1 ? 1 : 0))]
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

[pipeline]
kind = "router"

[[interfaces]]
name = "lan"
port = "lan"
ipv4 = [$lan4]
ipv6 = [$lan6]

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
rpf = "$rpf"

[[tunnels]]
name = "t64"
kind = "6in4"
local = "192.168.0.$me"
remote = "192.168.0.$peer"
ipv6 = ["fd01:64::$me/64"]

[[tunnels]]
name = "t46"
kind = "4in6"
local = "fd00::$me"
remote = "fd00::$peer"
ipv4 = ["1.1.2.$me/24"]
ttl = 33

[[tunnels]]
name = "t66"
kind = "6in6"
local = "fd00::$me"
remote = "fd00::$peer"
ipv6 = ["fd01:66::$me/64"]
ttl = "inherit"

[[routes]]
prefix = "10.1.$far.0/24"
via = "1.1.1.$peer"

[[routes]]
prefix = "2001:db8:$far::/64"
via = "fd01:64::$peer"

[[routes]]
prefix = "10.2.$far.0/24"
via = "1.1.2.$peer"

[[routes]]
prefix = "2001:db8:1$far::/64"
via = "fd01:66::$peer"
EOF
  if [[ $side == 1 ]]; then
    # the rpf case: s2's third prefix is routed over the underlay, not the tunnel
    printf '\n[[routes]]\nprefix = "10.9.8.0/24"\nvia = "192.168.0.2"\n' >>"$f"
  fi
}

# start_gw N CONFIG: start xgw #N in its namespace (retrying a rebind that
# gets EBUSY), wait until it answers; sets PID1/PID2 and LOG1/LOG2
start_gw() {
  local n=$1 cfg=$2 ns sock attempt log
  if [[ $n == 1 ]]; then ns=$NS_G1; sock=$SOCK1; else ns=$NS_G2; sock=$SOCK2; fi
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
# stats N FILE: xgw stats --json of gateway N
stats() {
  local n=$1 sock; sock=$(sock_of "$1")
  xt_xgw_stats "$sock" --json >"$2" && return 0
  local pid log
  if [[ $n == 1 ]]; then pid=$PID1; log=$LOG1; else pid=$PID2; log=$LOG2; fi
  if kill -0 "$pid" 2>/dev/null; then warn "gw$n (pid $pid) runs but does not answer on $sock"
  else warn "gw$n (pid $pid) is gone"; fi
  xt_log_tail "$log" 30 >&2
  die "xgw stats (gw$n) failed"
}
# xctl N ARGS...: an xgw control command against gateway N (bounded in time)
xctl() {
  local sock; sock=$(sock_of "$1"); shift
  timeout 10 "$XGW" "$@" --socket "$sock"
}
# tunnels N FILE: xgw tunnel list --json of gateway N. Workers publish their
# counters at most every 500 ms: wait that out first.
tunnels() {
  sleep 0.7
  xctl "$1" tunnel list --json >"$2" || die "xgw tunnel list (gw$1) failed"
}
# tcount FILE TUNNEL PATH: one counter of one tunnel (0 when absent),
# e.g. tcount t.json t44 encap.packets / drops.rpf.strict_failed
tcount() {
  "$XT_PY" - "$@" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = [x for x in d["tunnels"] if x["name"] == sys.argv[2]]
if not t:
    print(0); sys.exit(0)
v = t[0]
for k in sys.argv[3].split(".", 1) if sys.argv[3].startswith("drops.") else sys.argv[3].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(v)
EOF
}
drops() { xt_json "$1" "d['drops'].get('$2', {}).get('count', 0)"; }

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

# ping_ok NS WHAT ARGS...: every reply
ping_ok() {
  local ns=$1 what=$2 out rc=0; shift 2
  out=$(ip netns exec "$ns" ping -c "$PINGS" -i 0.2 -W 2 "$@" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$what: $(grep -E 'packets transmitted' <<<"$out")"
  else
    fail "$what (exit $rc): $(grep -E 'packets transmitted|From|rror' <<<"$out" | head -n 3 | tr '\n' ' ' || true)"
  fi
}

# snmp NS PROTO FIELD (Icmp InEchos, ...)
snmp() { xt_snmp "$@"; }

cat >"$XT_WORK/tcp_xfer.py" <<'EOF'
# tcp_xfer.py sink BIND PORT READY_FILE | send DST PORT NBYTES [SRC]
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
    src = (sys.argv[5], 0) if len(sys.argv) > 5 else None
    s = socket.create_connection((dst, port), timeout=60, source_address=src)
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
cat >"$XT_WORK/spoof.py" <<'EOF'
# spoof.py IFACE DST_MAC COUNT: IP-in-IP from outer sources no tunnel has
# (192.168.0.99 -> 192.168.0.1 proto 4, fd00::99 -> fd00::1 next header 41),
# each carrying an echo request for s1.
import sys
from scapy.all import Ether, IP, IPv6, ICMP, ICMPv6EchoRequest, Raw, sendp, conf
conf.verb = 0
iface, dmac, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
frames = []
for i in range(n):
    frames.append(Ether(dst=dmac) / IP(src="192.168.0.99", dst="192.168.0.1") /
                  IP(src="10.1.8.10", dst="10.1.5.10") / ICMP(id=0x5151, seq=i) / Raw(b"XGWSPOOF"))
    frames.append(Ether(dst=dmac) / IPv6(src="fd00::99", dst="fd00::1") /
                  IPv6(src="2001:db8:8::10", dst="2001:db8:5::10") / ICMPv6EchoRequest(id=0x5151, seq=i) / Raw(b"XGWSPOOF"))
sendp(frames, iface=iface, inter=0.002)
print(len(frames))
EOF
cat >"$XT_WORK/dissect.py" <<'EOF'
# dissect.py FIELDS_TSV EXPECT_JSON: reads tshark -T fields output (one frame
# a line: number, protocols, ip.src, ipv6.src, ip.ttl, ipv6.hlim, icmp.type,
# icmpv6.type, expert severity, expert group, expert message, malformed) and
# checks every frame and the tunnelled ones per kind. Prints PASS/FAIL lines.
import json, sys
PI_WARN, PI_CHECKSUM, PI_SEQUENCE, PI_MALFORMED = 0x00600000, 0x01000000, 0x02000000, 0x07000000
exp = json.load(open(sys.argv[2]))
kinds = {("ip", "ip"): "4in4", ("ip", "ipv6"): "6in4", ("ipv6", "ip"): "4in6", ("ipv6", "ipv6"): "6in6"}
bad, total, conv, ffff = [], 0, 0, 0
seen = {}  # (kind, outer src) -> dict
def nums(s):
    return [int(x) for x in s.split("|") if x.strip()] if s else []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    f += [""] * (12 - len(f))
    num, protos, ip_src, ip6_src, ttl, hlim, icmp_t, icmp6_t, sev, grp, msg, malformed = f[:12]
    total += 1
    # Not counted: expert items of the sequence group (a TCP RST, say: they
    # are about the conversation, not about how the frame is built), and a
    # TCP checksum of 0xffff where 0x0000 was due. Both are zero in ones'
    # complement (the segment verifies); Linux's software checksum writes
    # 0xffff for a zero result (skb_checksum_help: CSUM_MANGLED_0), about
    # once in 65536 segments, and xgw never touches TCP checksums.
    items = []
    for s, g, m in zip(nums(sev), nums(grp), msg.split("|")):
        if g == PI_SEQUENCE:
            conv += 1
        elif "tcp" in protos.split(":") and "Checksum 0xffff instead of 0x0000" in m:
            ffff += 1
        else:
            items.append((s, g))
    if malformed or any(s >= PI_WARN for s, _ in items) or any(g in (PI_CHECKSUM, PI_MALFORMED) for _, g in items):
        bad.append("frame %s: %s [%s]" % (num, msg, protos))
    p = protos.split(":")
    if len(p) < 4 or p[2] not in ("ip", "ipv6") or p[3] not in ("ip", "ipv6"):
        continue
    kind = kinds[(p[2], p[3])]
    ttls, hlims = nums(ttl), nums(hlim)
    srcs4, srcs6 = ip_src.split("|"), ip6_src.split("|")
    if p[2] == "ip":
        outer_src, outer_ttl = srcs4[0], ttls[0] if ttls else None
        inner_ttl = ttls[1] if p[3] == "ip" and len(ttls) > 1 else (hlims[0] if hlims else None)
    else:
        outer_src, outer_ttl = srcs6[0], hlims[0] if hlims else None
        inner_ttl = hlims[1] if p[3] == "ipv6" and len(hlims) > 1 else (ttls[0] if ttls else None)
    s = seen.setdefault((kind, outer_src), {"frames": 0, "echo": 0, "tcp": 0, "outer": set(), "inner": set()})
    s["frames"] += 1
    s["outer"].add(outer_ttl)
    s["inner"].add(inner_ttl)
    if "tcp" in p:
        s["tcp"] += 1
    if set(nums(icmp_t)) & {0, 8} or set(nums(icmp6_t)) & {128, 129}:
        s["echo"] += 1
ok = True
def check(cond, what):
    global ok
    print(("PASS " if cond else "FAIL ") + what)
    ok = ok and cond
check(total > 0, "tshark read %d frames" % total)
check(not bad, "no frame malformed, with a checksum complaint or a warning (%d bad)%s" % (len(bad), "".join("\n      " + b for b in bad[:15])))
for kind, e in exp["kinds"].items():
    for src in e["srcs"]:
        s = seen.get((kind, src))
        if not s:
            check(False, "%s from %s: no frame in the capture" % (kind, src))
            continue
        check(s["echo"] >= e["min_echo"] and s["tcp"] >= e["min_tcp"],
              "%s from %s: %d frames dissected as %s, %d ICMP echo and %d TCP inside (want >= %d, >= %d)"
              % (kind, src, s["frames"], kind, s["echo"], s["tcp"], e["min_echo"], e["min_tcp"]))
        check(s["outer"] == {e["outer_ttl"]}, "%s from %s: outer TTL/hop limit %s (want %d)" % (kind, src, sorted(s["outer"], key=str), e["outer_ttl"]))
        check(s["inner"] == {e["inner_ttl"]}, "%s from %s: inner TTL/hop limit %s (want %d)" % (kind, src, sorted(s["inner"], key=str), e["inner_ttl"]))
print("INFO not counted: %d TCP conversation expert items (sequence group), %d TCP checksums 0xffff for 0x0000" % (conv, ffff))
others = sorted("%s from %s" % k for k in seen if k[1] not in exp["srcs"])
if others:
    print("INFO tunnelled frames from other outer sources: " + ", ".join(others))
sys.exit(0 if ok else 1)
EOF

# ---------------------------------------------------------------------------
write_config "$XT_WORK/gw1.toml" 1 strict
write_config "$XT_WORK/gw2.toml" 2 off
for n in 1 2; do
  rc=0; out=$("$XGW" check --config "$XT_WORK/gw$n.toml" 2>&1) || rc=$?
  check_eq "xgw check accepts gw$n's config (4 tunnels)" 0 "$rc" "${out:0:300}"
done
step "start both gateways"
start_gw 1 "$XT_WORK/gw1.toml"
start_gw 2 "$XT_WORK/gw2.toml"
xctl 1 tunnel list >"$XT_WORK/tl1.txt" 2>&1 || true
log "gw1 tunnels:"; xt_indent <"$XT_WORK/tl1.txt"
n=$(grep -cE '^t(44|64|46|66): ' "$XT_WORK/tl1.txt" || true)
check_eq "gw1: xgw tunnel list shows the four configured tunnels" 4 "$n"

# the capture on the underlay bridge, for the whole per-kind phase
CAP=$XT_WORK/underlay.pcap
ip netns exec "$NS_U" tcpdump -i br0 -n -s 0 -B 65536 -Z root --immediate-mode -U -w "$CAP" >/dev/null 2>"$CAP.err" &
CAP_PID=$!
XT_PIDS+=("$CAP_PID")
for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$CAP.err" 2>/dev/null && break; sleep 0.1; done
grep -q 'listening on' "$CAP.err" || die "tcpdump on br0 did not start: $(cat "$CAP.err")"

# warm up: both gateways resolve each other and the servers
ip netns exec "$NS_S1" ping -c 1 -W 3 10.1.8.10 >/dev/null 2>&1 || true
ip netns exec "$NS_S1" ping -6 -c 1 -W 3 2001:db8:8::10 >/dev/null 2>&1 || true

# iperf3 servers in s2 (dual stack) for the -n / -R runs
ip netns exec "$NS_S2" iperf3 -s -p 5201 >"$XT_WORK/iperf3-s.log" 2>&1 &
XT_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do
  ip netns exec "$NS_S2" ss -ltn 2>/dev/null | grep -q ':5201 ' && break
  sleep 0.1
done

# ---------------------------------------------------------------------------
step "2. DF and the tunnel MTU (before TCP fills the servers' PMTU caches)"
# (an address of s2's only the DF pings use: their PMTU entry must not
# decide the size of the TCP segments below)
ip -n "$NS_S2" addr add 10.1.8.11/24 dev s2
ip -n "$NS_S2" -6 addr add 2001:db8:8::11/64 dev s2 nodad
ip -n "$NS_S2" -6 addr add 2001:db8:18::11/64 dev s2 nodad
out=$(ip netns exec "$NS_S1" ping -c 1 -W 2 -M "do" -s 1472 10.1.8.11 2>&1) || true
if grep -qE "From 10\.1\.5\.1 .*Frag needed and DF set \(mtu = 1480\)" <<<"$out"; then
  pass "4in4: ping -M do -s 1472 s1->s2: $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "4in4: ping -M do -s 1472: no 'Frag needed and DF set (mtu = 1480)' from 10.1.5.1:"; xt_indent <<<"$out"
fi
PINGS=2 ping_ok "$NS_S1" "4in4: ping -M do -s 1452 s1->s2 (1480 bytes: fits the tunnel)" -M "do" -s 1452 10.1.8.11
out=$(ip netns exec "$NS_S1" ping -6 -c 1 -W 2 -s 1452 2001:db8:8::11 2>&1) || true
if grep -qE "From 2001:db8:5::1 .*Packet too big: mtu=1480" <<<"$out"; then
  pass "6in4: ping -6 -s 1452 s1->s2: $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "6in4: ping -6 -s 1452: no 'Packet too big: mtu=1480' from 2001:db8:5::1:"; xt_indent <<<"$out"
fi
out=$(ip netns exec "$NS_S1" ping -6 -c 1 -W 2 -s 1432 2001:db8:18::11 2>&1) || true
if grep -qE "From 2001:db8:15::1 .*Packet too big: mtu=1460" <<<"$out"; then
  pass "6in6: ping -6 -s 1432 s1->s2: $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "6in6: ping -6 -s 1432: no 'Packet too big: mtu=1460' from 2001:db8:15::1:"; xt_indent <<<"$out"
fi
PINGS=2 ping_ok "$NS_S1" "6in6: ping -6 -s 1412 s1->s2 (1460 bytes: fits the tunnel)" -6 -s 1412 2001:db8:18::11

# ---------------------------------------------------------------------------
for spec in "${KINDS[@]}"; do
  IFS='|' read -r kind fam a1 a2 tun pmtu alt2 <<<"$spec"
  step "1. $kind ($tun): ping both ways, counters, TCP both ways"
  tunnels 1 "$XT_WORK/$kind-t1a.json"; tunnels 2 "$XT_WORK/$kind-t2a.json"
  ping_ok "$NS_S1" "$kind: ping -$fam s1->s2 $a2" "-$fam" "$a2"
  ping_ok "$NS_S2" "$kind: ping -$fam s2->s1 $a1" "-$fam" "$a1"
  tunnels 1 "$XT_WORK/$kind-t1b.json"; tunnels 2 "$XT_WORK/$kind-t2b.json"
  # each side encapsulates its requests and its replies, and decapsulates
  # the other side's: 2 x PINGS each way; inner bytes = IP packet of ping -s 56
  isz=$((fam == 4 ? 84 : 104))
  for n in 1 2; do
    for c in encap decap; do
      p=$(($(tcount "$XT_WORK/$kind-t${n}b.json" "$tun" "$c.packets") - $(tcount "$XT_WORK/$kind-t${n}a.json" "$tun" "$c.packets")))
      b=$(($(tcount "$XT_WORK/$kind-t${n}b.json" "$tun" "$c.bytes") - $(tcount "$XT_WORK/$kind-t${n}a.json" "$tun" "$c.bytes")))
      check_eq "$kind: gw$n $tun $c packets/bytes over the pings" "$((2 * PINGS))/$((2 * PINGS * isz))" "$p/$b"
    done
  done
  # TCP, both ways: a hashed stream, then iperf3 -n and -R
  for dir in "s1->s2" "s2->s1"; do
    if [[ $dir == "s1->s2" ]]; then src=$NS_S1; dstns=$NS_S2; dst=$a2; from=$a1
    else src=$NS_S2; dstns=$NS_S1; dst=$a1; from=$alt2; fi
    ready=$XT_WORK/tcp.ready; rm -f "$ready"
    ip netns exec "$dstns" "$XT_PY" "$XT_WORK/tcp_xfer.py" sink "$dst" 47001 "$ready" >"$XT_WORK/tcp-sink.log" 2>&1 &
    sink=$!; XT_PIDS+=("$sink")
    for ((i = 0; i < 100; i++)); do [[ -s $ready ]] && break; sleep 0.05; done
    rc=0
    out=$(ip netns exec "$src" timeout 60 "$XT_PY" "$XT_WORK/tcp_xfer.py" send "$dst" 47001 "$TCP_BYTES" "$from" 2>&1) || rc=$?
    wait "$sink" 2>/dev/null || true
    if ((rc == 0)); then pass "$kind: TCP $dir ($from -> $dst), $TCP_BYTES bytes counted and hashed by the receiver: $out"
    else fail "$kind: TCP $dir (exit $rc): $out $(cat "$XT_WORK/tcp-sink.log")"; fi
  done
  for rev in "" "-R"; do
    dir="s1->s2"; [[ $rev == -R ]] && dir="s2->s1"
    j=$XT_WORK/iperf3-$kind$rev.json
    rc=0
    # shellcheck disable=SC2086
    ip netns exec "$NS_S1" timeout 60 iperf3 "-$fam" -c "$a2" -p 5201 -n "$IPERF_BYTES" $rev -J >"$j" 2>&1 || rc=$?
    res=$(xt_json "$j" '"%d %d %.0f" % (d["end"]["sum_sent"]["bytes"], d["end"]["sum_received"]["bytes"], d["end"]["sum_received"]["bits_per_second"] / 1e6)' 2>/dev/null || echo "? ? ?")
    read -r sent recvd mbps <<<"$res"
    want=$(numfmt --from=iec "$IPERF_BYTES")
    if ((rc == 0)) && [[ $sent != "?" ]] && ((sent >= want && recvd > 0)); then
      pass "$kind: iperf3 -n $IPERF_BYTES $rev ($dir): $sent bytes sent, $recvd received, $mbps Mbit/s"
    else
      fail "$kind: iperf3 -n $IPERF_BYTES $rev ($dir): exit $rc, sent $sent received $recvd: $(grep -E '"error"' "$j" | head -n 1 || true)"
    fi
  done
  # the senders learned the tunnel MTU from xgw's ICMP errors
  for side in "$NS_S1|$a2|s1" "$NS_S2|$a1|s2"; do
    IFS='|' read -r ns dst who <<<"$side"
    r=$(ip -n "$ns" "-$fam" route get "$dst" 2>&1 | tr -s ' ' | tr '\n' ' ')
    if grep -qE "mtu $pmtu( |$)" <<<"$r"; then pass "$kind: $who's path MTU to $dst settled at $pmtu: $r"
    else fail "$kind: $who's path MTU to $dst is not $pmtu: $r"; fi
  done
done

# ---------------------------------------------------------------------------
step "3. tshark on the underlay: every frame dissects cleanly, TTLs as configured"
sleep 0.5
kill -s INT "$CAP_PID" 2>/dev/null || true
wait "$CAP_PID" 2>/dev/null || true
log "tcpdump: $(grep -E 'captured|dropped by kernel' "$CAP.err" | tr '\n' ' ')"
rc=0
# Every layer xgw writes or must carry intact is dissected (Ethernet,
# IPv4/IPv6, ICMP/ICMPv6, TCP/UDP with checksums validated), but the
# heuristic payload dissectors are off: iperf3's random bytes look like
# thrift & co. now and then, and those "malformed" frames say nothing
# about xgw.
noheur=()
for h in $(comm -12 <(tshark -G heuristic-decodes 2>/dev/null | awk '$1 ~ /^(tcp|udp|ip|ipv6)$/ { print $2 }' | sort -u) \
                    <(tshark -G protocols 2>/dev/null | cut -f3 | sort -u)); do
  case $h in eth | ip | ipv6 | icmp | icmpv6 | tcp | udp | arp) ;; *) noheur+=(--disable-protocol "$h") ;; esac
done
log "tshark: $((${#noheur[@]} / 2)) heuristic payload dissectors disabled"
tshark -r "$CAP" -n "${noheur[@]}" \
  -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
  -o tcp.analyze_sequence_numbers:FALSE \
  -T fields -E occurrence=a -E separator=$'\t' -E 'aggregator=|' \
  -e frame.number -e frame.protocols -e ip.src -e ipv6.src -e ip.ttl -e ipv6.hlim -e icmp.type -e icmpv6.type \
  -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
  >"$XT_WORK/dissect.tsv" 2>"$XT_WORK/tshark.err" || rc=$?
check_eq "tshark reads the capture" 0 "$rc" "$(head -c 300 "$XT_WORK/tshark.err")"
min_tcp=100
cat >"$XT_WORK/expect.json" <<EOF
{"srcs": ["192.168.0.1", "192.168.0.2", "fd00::1", "fd00::2"],
 "kinds": {
  "4in4": {"srcs": ["192.168.0.1", "192.168.0.2"], "outer_ttl": 64, "inner_ttl": 63, "min_echo": $((2 * PINGS)), "min_tcp": $min_tcp},
  "6in4": {"srcs": ["192.168.0.1", "192.168.0.2"], "outer_ttl": 64, "inner_ttl": 63, "min_echo": $((2 * PINGS)), "min_tcp": $min_tcp},
  "4in6": {"srcs": ["fd00::1", "fd00::2"], "outer_ttl": 33, "inner_ttl": 63, "min_echo": $((2 * PINGS)), "min_tcp": $min_tcp},
  "6in6": {"srcs": ["fd00::1", "fd00::2"], "outer_ttl": 63, "inner_ttl": 63, "min_echo": $((2 * PINGS)), "min_tcp": $min_tcp}}}
EOF
while IFS= read -r line; do
  case $line in
    PASS\ *) pass "tshark: ${line#PASS }" ;;
    FAIL\ *) fail "tshark: ${line#FAIL }" ;;
    *) log "$line" ;;
  esac
done < <("$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/dissect.tsv" "$XT_WORK/expect.json" 2>&1 || true)

# ---------------------------------------------------------------------------
step "4. IP-in-IP from an unknown outer source: dropped and counted"
settle
stats 1 "$XT_WORK/sp0.json"
echos0=$(snmp "$NS_S1" Icmp InEchos)
sent=$(ip netns exec "$NS_U" "$XT_PY" "$XT_WORK/spoof.py" br0 "$MAC_G1W" "$SPOOF_COUNT" 2>"$XT_WORK/spoof.err") \
  || { cat "$XT_WORK/spoof.err" >&2; die "scapy sender failed"; }
check_eq "scapy sent IP-in-IP from 192.168.0.99 and fd00::99" "$((2 * SPOOF_COUNT))" "$sent"
settle
stats 1 "$XT_WORK/sp1.json"
check_eq "gw1: tunnel.no_match drops" "$((2 * SPOOF_COUNT))" \
  "$(($(drops "$XT_WORK/sp1.json" tunnel.no_match) - $(drops "$XT_WORK/sp0.json" tunnel.no_match)))"
check_eq "gw1: dropped (all reasons) over the spoofed burst" "$((2 * SPOOF_COUNT))" \
  "$(($(xt_json "$XT_WORK/sp1.json" 'd["totals"]["dropped"]') - $(xt_json "$XT_WORK/sp0.json" 'd["totals"]["dropped"]')))"
check_eq "s1 got none of the smuggled echo requests" 0 "$(($(snmp "$NS_S1" Icmp InEchos) - echos0))"

# ---------------------------------------------------------------------------
step "5. rpf strict on gw1's t44: s2 pings s1 from 10.9.8.10 (gw1 routes it out of wan)"
tunnels 1 "$XT_WORK/rpf-t0.json"; stats 1 "$XT_WORK/rpf0.json"
echos0=$(snmp "$NS_S1" Icmp InEchos)
out=$(ip netns exec "$NS_S2" ping -c "$PINGS" -i 0.2 -W 1 -I 10.9.8.10 10.1.5.10 2>&1) || true
check_eq "strict: replies to s2's pings from 10.9.8.10" 0 "$(grep -oE '[0-9]+ received' <<<"$out" | cut -d' ' -f1)"
tunnels 1 "$XT_WORK/rpf-t1.json"; stats 1 "$XT_WORK/rpf1.json"
check_eq "strict: gw1 rpf.strict_failed drops" "$PINGS" \
  "$(($(drops "$XT_WORK/rpf1.json" rpf.strict_failed) - $(drops "$XT_WORK/rpf0.json" rpf.strict_failed)))"
check_eq "strict: t44's own drops.rpf.strict_failed (decapsulated, then filtered)" "$PINGS" \
  "$(($(tcount "$XT_WORK/rpf-t1.json" t44 drops.rpf.strict_failed) - $(tcount "$XT_WORK/rpf-t0.json" t44 drops.rpf.strict_failed)))"
check_eq "strict: t44 decap packets" "$PINGS" \
  "$(($(tcount "$XT_WORK/rpf-t1.json" t44 decap.packets) - $(tcount "$XT_WORK/rpf-t0.json" t44 decap.packets)))"
check_eq "strict: echo requests reaching s1" 0 "$(($(snmp "$NS_S1" Icmp InEchos) - echos0))"

# ---------------------------------------------------------------------------
step "6. run time: xgw tunnel del / tunnel add / route add on gw1"
rc=0; out=$(xctl 1 tunnel del t44 2>&1) || rc=$?
check_eq "gw1: xgw tunnel del t44" 0 "$rc" "$out"
xctl 1 route list --json >"$XT_WORK/routes-del.json" || die "xgw route list failed"
left=$(xt_json "$XT_WORK/routes-del.json" '" ".join(sorted(r["prefix"] for r in d["routes"] if r["prefix"] in ("10.1.8.0/24", "1.1.1.0/24") or r.get("interface") == "t44")) or "none"')
check_eq "gw1: routes into t44 after tunnel del (route list --json)" none "$left"
xctl 1 tunnel list --json >"$XT_WORK/tl-del.json"
check_eq "gw1: t44 gone from tunnel list" 0 "$(xt_json "$XT_WORK/tl-del.json" 'len([t for t in d["tunnels"] if t["name"] == "t44"])')"
out=$(ip netns exec "$NS_S1" ping -c 2 -i 0.2 -W 1 10.1.8.10 2>&1) || true
if grep -qE "From 10\.1\.5\.1 .*Destination Net Unreachable" <<<"$out" && grep -qE ' 0 received' <<<"$out"; then
  pass "after tunnel del: ping s1->s2 gets $(grep -oE 'From .*Unreachable' <<<"$out" | head -n 1)"
else
  fail "after tunnel del: expected 'Destination Net Unreachable' from 10.1.5.1:"; xt_indent <<<"$out"
fi
rc=0; out=$(xctl 1 tunnel add t44rt --kind 4in4 --local 192.168.0.1 --remote 192.168.0.2 --ipv4 1.1.1.1/24 --rpf off 2>&1) || rc=$?
check_eq "gw1: xgw tunnel add t44rt (4in4, rpf off)" 0 "$rc" "$(tr '\n' ' ' <<<"$out")"
rc=0; out=$(xctl 1 route add 10.1.8.0/24 --via 1.1.1.2 2>&1) || rc=$?
check_eq "gw1: xgw route add 10.1.8.0/24 --via 1.1.1.2" 0 "$rc" "$out"
xctl 1 route list --json >"$XT_WORK/routes-add.json" || die "xgw route list failed"
check_eq "gw1: route 10.1.8.0/24 now goes into t44rt" "t44rt" \
  "$(xt_json "$XT_WORK/routes-add.json" '",".join(r.get("interface", "?") for r in d["routes"] if r["prefix"] == "10.1.8.0/24")')"
tunnels 1 "$XT_WORK/rt-t0.json"
ping_ok "$NS_S1" "runtime tunnel: ping s1->s2" 10.1.8.10
ping_ok "$NS_S2" "runtime tunnel: ping s2->s1" 10.1.5.10
tunnels 1 "$XT_WORK/rt-t1.json"
check_eq "t44rt counters (a new tunnel starts at 0): encap/decap packets" "$((2 * PINGS))/$((2 * PINGS))" \
  "$(tcount "$XT_WORK/rt-t1.json" t44rt encap.packets)/$(tcount "$XT_WORK/rt-t1.json" t44rt decap.packets)"
rc=0; out=$(ip netns exec "$NS_S1" timeout 60 iperf3 -4 -c 10.1.8.10 -p 5201 -n 1M -J 2>&1) || rc=$?
check_eq "runtime tunnel: iperf3 -n 1M s1->s2 completes" 0 "$rc"

step "5. rpf off (the runtime tunnel): s2's pings from 10.9.8.10 are answered"
stats 1 "$XT_WORK/rpf2.json"
ping_ok "$NS_S2" "rpf off: ping s2(10.9.8.10)->s1 (request tunnelled, reply over the underlay)" -I 10.9.8.10 10.1.5.10
stats 1 "$XT_WORK/rpf3.json"
check_eq "rpf off: gw1 rpf.strict_failed drops" 0 \
  "$(($(drops "$XT_WORK/rpf3.json" rpf.strict_failed) - $(drops "$XT_WORK/rpf2.json" rpf.strict_failed)))"

# ---------------------------------------------------------------------------
step "7. accounting, SIGTERM"
settle
for n in 1 2; do
  stats "$n" "$XT_WORK/final$n.json"
  T=$XT_WORK/final$n.json
  rx=$(xt_json "$T" 'd["totals"]["rx"]'); em=$(xt_json "$T" 'd["totals"]["emitted"]')
  tx=$(xt_json "$T" 'd["totals"]["tx"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
  dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
  log "gw$n totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
  log "gw$n drops: $(xt_json "$T" '{k: v["count"] for k, v in d["drops"].items()}')"
  check_eq "gw$n: totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "gw$n: totals.pending once idle" 0 "$pe"
  xctl "$n" tunnel list >"$XT_WORK/tl-final$n.txt" 2>&1 || true
  log "gw$n tunnels:"; xt_indent <"$XT_WORK/tl-final$n.txt"
done
for n in 1 2; do
  if [[ $n == 1 ]]; then pid=$PID1; ns=$NS_G1; ifs="g1l g1w"; else pid=$PID2; ns=$NS_G2; ifs="g2l g2w"; fi
  xt_xgw_stop "$pid" TERM 15
  check_eq "gw$n: exit status after SIGTERM" 0 "$XT_RC"
  for i in $ifs; do xt_check_no_xdp "$ns" "$i" 2; done
done

log "took $(($(date +%s) - T0)) s"
xt_finish
