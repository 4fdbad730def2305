#!/usr/bin/env bash
# Acceptance test: 464XLAT (RFC 6877) with xgw on both ends: an IPv4-only
# application host behind an xgw CLAT (stateless SIIT: [nat64] mode =
# "siit", an EAM entry for the customer's IPv4 LAN and pool6 for the
# Internet), an IPv6-only provider network, an xgw PLAT (stateful NAT64,
# RFC 6146) and an IPv4-only server.  Run as root:  tests/netns/xlat464.sh
#
#  ns C (IPv4 only)   ns L (xgw CLAT: router + SIIT)     ns P (IPv6 only)    ns T (xgw PLAT: router + NAT64)      ns S (IPv4 only)
#  c0 ───veth─── xl-v4 [lan  clat0  wan] xl-v6 ───veth─── u1┐        ┌u2 ───veth─── xt-v6 [core  plat0  inet] xt-v4 ───veth─── s0
#  192.168.1.2/24       192.168.1.1/24  2001:db8:f00::1/64    br0 (tshark)     2001:db8:f00::2/64   203.0.113.1/24       203.0.113.80/24
#  mtu 1480             mtu 1480                                                                                          default via .1
#  default via .1
#
#  CLAT: EAM 2001:db8:c1a7:464::/120 <-> 192.168.1.0/24 (RFC 7757: C is
#        2001:db8:c1a7:464::2 on the provider network), pool6 64:ff9b::/96
#        (RFC 6052: S is 64:ff9b::cb00:7150); routes 0.0.0.0/0 and the
#        EAM's IPv6 prefix into clat0, and 64:ff9b::/96 via the PLAT (a
#        config route for pool6 replaces the one into the translator xgw
#        would add: a CLAT sends pool6 on, it does not translate it back)
#  PLAT: pool6 64:ff9b::/96, pool4 198.51.100.64 (no interface's: xgw
#        routes it into plat0 itself; S's default route leads there);
#        route 2001:db8:c1a7:464::/64 via the CLAT
#  C's link has MTU 1480 (the provider's 1500 less the 20 bytes IPv6 adds):
#  every IPv4 packet C sends fits the provider link once translated. Both
#  translators have lowest_ipv6_mtu = 1500, the provider network's MTU.
#  With the default (1280; LOWEST_IPV6_MTU=1280) the PLAT sends a DF-clear
#  IPv4 packet over 1260 bytes on as IPv6 fragments (RFC 7915 4.1), and
#  Linux answers every echo request with a DF-clear reply: the replies to
#  C's 1480-byte pings come to the CLAT as fragmented ICMPv6, which a
#  stateless translator cannot translate (their checksum covers the whole
#  message): dropped as nat64.icmp_fragmented, 2 per reply (6 checks fail).
#  IPv6 is disabled in C and S; C, P, S and both xgw namespaces have no
#  address of the other family (checked).  CLAT on CPU 1, PLAT on CPU 0.
#
# Checks
#   0. `xgw check` accepts both configs; XDP attached on the four ports;
#      `xgw route list --json`: on the CLAT 0.0.0.0/0 and the EAM's IPv6
#      prefix into clat0 and 64:ff9b::/96 via 2001:db8:f00::2 (not into
#      the translator), on the PLAT 64:ff9b::/96 and 198.51.100.64/32 into
#      plat0; `xgw nat64 session` on the CLAT says it keeps no state
#   a. ping C -> 203.0.113.80 (identifier 4242): 3/3, replies with TTL 62
#      (each translator takes one hop); ping -M do -s 1452 (1480 bytes,
#      1500 once translated: the provider's MTU) 3/3
#   b. curl in C fetches http://203.0.113.80:8080/file, a 1 MiB random
#      file from python3's http.server in S: 200, size and SHA-256 equal;
#      the server logs the client as 198.51.100.64 (pool4)
#   c. UDP: datagrams of 16 to 1452 bytes from C to S's echo server (the
#      last one twice, DF set and clear), each echoed byte-identical from
#      203.0.113.80; the server saw them all from 198.51.100.64, from one
#      port
#   d. the PLAT's `xgw nat64 session --json`: the ICMP, TCP and UDP
#      sessions of a-c with ipv6_local the CLAT-translated source
#      [2001:db8:c1a7:464::2] (port: curl's local port, the UDP client's
#      port, the echo identifier: the CLAT keeps them), ipv6_remote S's
#      pool6 image, ipv4_local 198.51.100.64 with the port the servers
#      logged, ipv4_remote 203.0.113.80; each binding dynamic in `xgw
#      nat64 bib --json`
#   e. tshark on the provider bridge (br0) over a-c, with IP/TCP/UDP
#      checksum validation: no IPv4 and no ARP frame, no malformed frame,
#      no checksum complaint, no warning (TCP sequence-group items aside);
#      every IPv6 packet is between the two translators' addresses
#      (2001:db8:c1a7:464::2 <-> 64:ff9b::cb00:7150, hop limit 63) or the
#      two routers' own ND; no ICMPv6 error, no Fragment Header. tshark on c0 and s0 the same
#      way: only IPv4 (and ARP; xgw's own start-up NA aside), C <-> S on c0
#      and 198.51.100.64 <-> S on s0, translated packets with TTL 62; one
#      for one: each packet C sent to S crossed br0 once and reached S,
#      and back (echoes, TCP segments and UDP datagrams counted on all
#      three links)
#   f. both xgw: no drop at all over a-c; rx + emitted = tx + local +
#      dropped + pending over a-c and at the end, pending 0, no dead
#      worker; SIGTERM exits 0, no XDP program left, no ERROR / WARN in
#      the logs
# Knobs: FILE_BYTES=1048576  LOWEST_IPV6_MTU=1500 (1280, xgw's default, shows the
#        nat64.icmp_fragmented loss above)  XT_KEEP=1 (keep namespaces/captures/logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=xlat464
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in curl tcpdump tshark sha256sum; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
# an xgw older than its sources tests something else than the tree
newer=$(find "$XT_ROOT/engine" "$XT_ROOT/pipelines" "$XT_ROOT/Cargo.lock" -newer "$XGW" -type f \
  \( -name '*.rs' -o -name 'Cargo.*' \) 2>/dev/null | head -n 3 | tr '\n' ' ')
[[ -z $newer ]] || warn "$XGW is older than $newer(cargo build --release)"

FILE_BYTES=${FILE_BYTES:-1048576}
T0=$(date +%s)

NS_C=$(xt_ns c); NS_L=$(xt_ns clat); NS_P=$(xt_ns p); NS_T=$(xt_ns plat); NS_S=$(xt_ns s)
IF_C=c0; IF_L4=xl-v4; IF_L6=xl-v6; IF_T6=xt-v6; IF_T4=xt-v4; IF_S=s0
MAC_C=02:c0:00:00:00:02; MAC_L4=02:c0:00:00:00:01
MAC_L6=02:f0:00:00:00:01; MAC_T6=02:f0:00:00:00:02
MAC_T4=02:cb:00:00:00:01; MAC_S=02:cb:00:00:00:80
C4=192.168.1.2; L4=192.168.1.1; LAN_MTU=1480        # the customer's IPv4 LAN
V6_MTU=${LOWEST_IPV6_MTU:-1500}                     # both translators' lowest_ipv6_mtu: the provider's MTU
L6=2001:db8:f00::1; T6=2001:db8:f00::2              # the provider's IPv6-only network
EAM6=2001:db8:c1a7:464::/120; EAM4=192.168.1.0/24   # the CLAT's EAM entry
C6=2001:db8:c1a7:464::2                             # C, translated by the CLAT
CUST6=2001:db8:c1a7:464::/64                        # the customer's translation prefix (PLAT's route)
POOL6=64:ff9b::/96
T4=203.0.113.1; S4=203.0.113.80                     # the IPv4 Internet
S_IMG=64:ff9b::cb00:7150                            # S in pool6 (RFC 6052 /96)
POOL4=198.51.100.64
P_HTTP=8080; P_ECHO=7007; ID_PING=4242
UDP_SIZES="16,512,1200,1452,1452n"                  # 1452: 1480 bytes of IPv4, 1500 of IPv6; n: DF clear
SOCK_L=$XT_WORK/clat.sock; SOCK_T=$XT_WORK/plat.sock
declare -A XPID XLOG XSOCK XNS
XSOCK[clat]=$SOCK_L; XSOCK[plat]=$SOCK_T; XNS[clat]=$NS_L; XNS[plat]=$NS_T

# ---------------------------------------------------------------------------
step "lab: $NS_C (IPv4) - $NS_L (xgw CLAT) - $NS_P (IPv6 bridge) - $NS_T (xgw PLAT) - $NS_S (IPv4)"
img=$("$XT_PY" -c 'import ipaddress as I, sys; print(I.IPv6Address(I.IPv6Network(sys.argv[1]).network_address.packed[:12] + I.IPv4Address(sys.argv[2]).packed))' "$POOL6" "$S4")
check_eq "RFC 6052 /96 image of $S4 in $POOL6" "$S_IMG" "$img"
img=$("$XT_PY" -c '
import ipaddress as I, sys
n6, n4, a = I.IPv6Network(sys.argv[1]), I.IPv4Network(sys.argv[2]), I.IPv4Address(sys.argv[3])
print(I.IPv6Address(int(n6.network_address) + (int(a) - int(n4.network_address))))' "$EAM6" "$EAM4" "$C4")
check_eq "EAM image of $C4 ($EAM4 <-> $EAM6)" "$C6" "$img"

xt_ns_add "$NS_C"   # IPv6 disabled
xt_ns_add "$NS_S"   # IPv6 disabled
xt_ns_add "$NS_L"   # IPv6 off where xgw runs: its kernel has nothing to say
xt_ns_add "$NS_T"
xt_ns_add "$NS_P"   # the provider's bridge: no address of either family
xt_veth "$NS_C" "$IF_C" "$NS_L" "$IF_L4"
xt_veth "$NS_L" "$IF_L6" "$NS_P" u1
xt_veth "$NS_P" u2 "$NS_T" "$IF_T6"
xt_veth "$NS_T" "$IF_T4" "$NS_S" "$IF_S"
ip -n "$NS_L" link set dev "$IF_L4" mtu "$LAN_MTU"
xt_dut_if "$NS_L" "$IF_L4" "$MAC_L4"; xt_dut_if "$NS_L" "$IF_L6" "$MAC_L6"
xt_dut_if "$NS_T" "$IF_T6" "$MAC_T6"; xt_dut_if "$NS_T" "$IF_T4" "$MAC_T4"
ip -n "$NS_P" link add br0 type bridge stp_state 0 mcast_snooping 0
for i in u1 u2; do
  ip netns exec "$NS_P" ethtool -K "$i" tx off >/dev/null 2>&1 || true
  ip -n "$NS_P" link set "$i" master br0
  ip -n "$NS_P" link set "$i" up
done
ip -n "$NS_P" link set br0 up
ip -n "$NS_C" link set dev "$IF_C" mtu "$LAN_MTU"
xt_host_if "$NS_C" "$IF_C" "$C4/24" "$MAC_C"
xt_host_if "$NS_S" "$IF_S" "$S4/24" "$MAC_S"
ip -n "$NS_C" route add default via "$L4"
ip -n "$NS_S" route add default via "$T4"
for ns in "$NS_C" "$NS_S"; do ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 >/dev/null; done
# single-stack, really
for spec in "C|$NS_C" "S|$NS_S" "P (provider)|$NS_P" "CLAT|$NS_L" "PLAT|$NS_T"; do
  IFS='|' read -r who ns <<<"$spec"
  check_eq "$who: no IPv6 address" "" "$(ip -n "$ns" -6 -o addr show | awk '{ print $2, $4 }' | paste -sd' ')"
done
for spec in "P (provider)|$NS_P" "CLAT|$NS_L" "PLAT|$NS_T"; do
  IFS='|' read -r who ns <<<"$spec"
  check_eq "$who: no IPv4 address but lo's" "" "$(ip -n "$ns" -4 -o addr show | awk '$2 != "lo" { print $2, $4 }' | paste -sd' ')"
done
check_eq "C: its only route out is IPv4 via the CLAT" "default via $L4" "$(ip -n "$NS_C" route show default | awk '{ print $1, $2, $3 }')"

cat >"$XT_WORK/clat.toml" <<EOF
# written by tests/netns/xlat464.sh: the CLAT (customer side, stateless)
[engine]
cores = [1]
idle = "adaptive"

[control]
socket = "$SOCK_L"

[[ports]]
name = "p4"
driver = "af_xdp"
interface = "$IF_L4"

[[ports]]
name = "p6"
driver = "af_xdp"
interface = "$IF_L6"

[pipeline]
kind = "router"

# the customer's IPv4 LAN
[[interfaces]]
name = "lan"
port = "p4"
ipv4 = ["$L4/24"]
mtu = $LAN_MTU

# the provider's IPv6-only access network
[[interfaces]]
name = "wan"
port = "p6"
ipv6 = ["$L6/64"]

[nat64]
mode = "siit"
interface = "clat0"
pool6 = "$POOL6"
# the LAN's private IPv4 <-> the customer's translation prefix
eam = [ { ipv6 = "$EAM6", ipv4 = "$EAM4" } ]
# the provider network carries 1500 bytes everywhere
lowest_ipv6_mtu = $V6_MTU

# all of IPv4 but the LAN is translated
[[routes]]
prefix = "0.0.0.0/0"
interface = "clat0"

# what comes back to the LAN's translated addresses is translated back
[[routes]]
prefix = "$EAM6"
interface = "clat0"

# pool6 is the PLAT's: this route replaces the one into clat0 xgw adds
[[routes]]
prefix = "$POOL6"
via = "$T6"
EOF

cat >"$XT_WORK/plat.toml" <<EOF
# written by tests/netns/xlat464.sh: the PLAT (provider side, stateful)
[engine]
cores = [0]
idle = "adaptive"

[control]
socket = "$SOCK_T"

[[ports]]
name = "p6"
driver = "af_xdp"
interface = "$IF_T6"

[[ports]]
name = "p4"
driver = "af_xdp"
interface = "$IF_T4"

[pipeline]
kind = "router"

[[interfaces]]
name = "core"
port = "p6"
ipv6 = ["$T6/64"]

[[interfaces]]
name = "inet"
port = "p4"
ipv4 = ["$T4/24"]

[nat64]
mode = "nat64"
interface = "plat0"
pool6 = "$POOL6"
# no interface's address: xgw routes it into plat0
pool4 = [ { address = "$POOL4" } ]
# the provider network carries 1500 bytes everywhere: a DF-clear IPv4
# packet that fits leaves whole (with the default, 1280, one over 1260
# bytes leaves in IPv6 fragments, and a fragmented ICMPv6 message is what
# a stateless CLAT cannot translate: see the test's header)
lowest_ipv6_mtu = $V6_MTU

# the customer's translation prefix is behind the CLAT
[[routes]]
prefix = "$CUST6"
via = "$L6"
EOF
for tag in clat plat; do
  rc=0; out=$("$XGW" check --config "$XT_WORK/$tag.toml" 2>&1) || rc=$?
  check_eq "xgw check accepts the ${tag^^} config" 0 "$rc" "${out:0:300}"
done

# ---------------------------------------------------------------------------
# helpers (the style of siit.sh and nat64.sh)
start_xgw() { # TAG: clat | plat
  local tag=$1 attempt log
  for attempt in 1 2 3 4 5; do
    log=$XT_WORK/xgw-$tag.$attempt.log
    xt_xgw_start "${XNS[$tag]}" "$XT_WORK/$tag.toml" "$log"
    if xt_xgw_wait_ready "$XT_XGW_PID" "${XSOCK[$tag]}" "$log" 30 2>"$log.why"; then
      XPID[$tag]=$XT_XGW_PID; XLOG[$tag]=$log
      pass "xgw ${tag^^} is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "${tag^^} start attempt $attempt failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$log.why" >&2
  die "xgw ${tag^^} did not come up"
}
stats() { # TAG OUT_FILE
  xt_xgw_stats "${XSOCK[$1]}" --json >"$2" && return 0
  if kill -0 "${XPID[$1]}" 2>/dev/null; then warn "xgw ${1^^} (pid ${XPID[$1]}) runs but does not answer"
  else warn "xgw ${1^^} (pid ${XPID[$1]}) is gone"; fi
  warn "its log (${XLOG[$1]}):"; xt_log_tail "${XLOG[$1]}" 30 >&2
  die "xgw ${1^^} stats failed"
}
# nat64_show session|bib OUT_FILE: the PLAT's xgw nat64 ... --json
nat64_show() {
  local rc=0
  timeout 10 "$XGW" nat64 "$1" --json --socket "$SOCK_T" >"$2" 2>"$2.err" || rc=$?
  ((rc == 0)) || warn "xgw nat64 $1 --json (exit $rc): $(head -c 300 "$2.err")"
  return "$rc"
}
# drops_delta A B: "reason:+n ..." for every reason that moved between two stats files
drops_delta() {
  "$XT_PY" - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(f))["drops"] for f in sys.argv[1:3])
out = ["%s:+%d" % (k, v["count"] - a.get(k, {}).get("count", 0)) for k, v in sorted(b.items())
       if v["count"] != a.get(k, {}).get("count", 0)]
print(" ".join(out))
EOF
}
# cap_start NS IF FILE: tcpdump (whole frames, a 64 MiB buffer) in NS on IF; sets CAP_PID
cap_start() {
  local i
  ip netns exec "$1" tcpdump -i "$2" -n -s 0 -B 65536 -Z root --immediate-mode -U -w "$3" >/dev/null 2>"$3.err" &
  CAP_PID=$!
  XT_PIDS+=("$CAP_PID")
  for ((i = 0; i < 50; i++)); do
    grep -q 'listening on' "$3.err" 2>/dev/null && return 0
    sleep 0.1
  done
  die "tcpdump on $2 in $1 did not start: $(cat "$3.err")"
}
cap_stop() { # PID FILE
  sleep 0.3
  kill -s INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local drop; drop=$(awk '/dropped by kernel/ { print $1 }' "$2.err")
  check_eq "tcpdump on $(basename "$2" .pcap): packets dropped by the kernel" 0 "${drop:-?}"
}
# listening NS t|u PORT
listening() { ip netns exec "$1" ss -H "-ln$2" "sport = :$3" | grep -q .; }
# totals_eq TAG FILE0 FILE1 WHAT: rx + emitted = tx + local + dropped + pending over the window
totals_eq() {
  local k
  for k in rx tx dropped pending emitted local; do
    printf -v "D_$k" '%s' "$(($(xt_json "$3" "d['totals']['$k']") - $(xt_json "$2" "d['totals']['$k']")))"
  done
  # shellcheck disable=SC2154  # D_* set by printf -v above
  log "${1^^} over $4: rx $D_rx + emitted $D_emitted = tx $D_tx + local $D_local + dropped $D_dropped + pending $D_pending"
  # shellcheck disable=SC2154
  check_eq "${1^^} over $4: rx + emitted = tx + local + dropped + pending" "$((D_rx + D_emitted))" "$((D_tx + D_local + D_dropped + D_pending))"
}

cat >"$XT_WORK/http_srv.py" <<'EOF'
# http_srv.py BIND PORT DIR: python3's http.server (SimpleHTTPRequestHandler),
# logging each client as ADDRESS:PORT, without the reverse lookup of its
# own address at start (S has no resolver)
import functools, http.server, socketserver, sys
class H(http.server.SimpleHTTPRequestHandler):
    def address_string(self):
        return "%s:%d" % self.client_address[:2]
class S(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
bind, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
S((bind, port), functools.partial(H, directory=d)).serve_forever()
EOF
cat >"$XT_WORK/udp_echo.py" <<'EOF'
# udp_echo.py server BIND PORT READY_FILE COUNT OUT_JSON
#   echoes COUNT datagrams to their senders; writes [address, port, size]
#   of each
# udp_echo.py client DST PORT SIZES
#   SIZES: "16,512,1452n" (n: DF clear, else set); one datagram each, a
#   tagged random payload, from one socket; waits up to 2 s for each echo, which must be byte-identical
#   and come from DST; prints the local port and the results, exit 0 when
#   all came
import json, os, socket, sys
if sys.argv[1] == "server":
    bind, port, ready, count, out = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, port))
    open(ready, "w").write("ready\n")
    s.settimeout(30)
    seen = []
    try:
        while len(seen) < count:
            data, addr = s.recvfrom(65536)
            s.sendto(data, addr)
            seen.append([addr[0], addr[1], len(data)])
    except socket.timeout:
        pass
    json.dump({"seen": seen}, open(out, "w"))
else:
    dst, port, sizes = sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.settimeout(2)
    res, ok = [], True
    for i, spec in enumerate(sizes):
        n = int(spec.rstrip("n"))
        # IP_MTU_DISCOVER: IP_PMTUDISC_DONT (0, DF clear) / IP_PMTUDISC_DO (2, DF set)
        s.setsockopt(socket.IPPROTO_IP, 10, 0 if spec.endswith("n") else 2)
        msg = b"XGW464X" + bytes([i]) + os.urandom(n - 8)
        s.sendto(msg, (dst, port))
        try:
            data, addr = s.recvfrom(65536)
            good = data == msg and addr[0] == dst
            res.append("%s:%s" % (spec, "ok" if good else "bad(%d bytes from %s)" % (len(data), addr[0])))
        except socket.timeout:
            good = False
            res.append("%s:timeout" % spec)
        ok = ok and good
    print(s.getsockname()[1], " ".join(res))
    sys.exit(0 if ok else 1)
EOF
cat >"$XT_WORK/sessions.py" <<'EOF'
# sessions.py find FILE PROTO V6ADDR V6PORT V4REMOTE: the PLAT's sessions
#   (xgw nat64 session --json) of [V6ADDR]:V6PORT to V4REMOTE (ADDR:PORT or
#   ADDR alone); prints "ipv6_local>ipv6_remote|ipv4_local>ipv4_remote|state"
#   for each, ";"-separated
# sessions.py bib FILE PROTO V6ADDR V6PORT: "ipv4 dynamic|static" of that binding, or "none"
import json, sys
kind, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
if kind == "find":
    proto, a6, p6, r4 = sys.argv[3:7]
    out = []
    for r in d["sessions"]:
        if r["protocol"] != proto or r["ipv6_local"] != "[%s]:%s" % (a6, p6):
            continue
        if r["ipv4_remote"] != r4 and r["ipv4_remote"].rpartition(":")[0] != r4:
            continue
        out.append("%s>%s|%s>%s|%s" % (r["ipv6_local"], r["ipv6_remote"], r["ipv4_local"], r["ipv4_remote"], r["state"] or "-"))
    print(";".join(out))
else:
    proto, a6, p6 = sys.argv[3:6]
    rows = [r for r in d["bib"] if r["protocol"] == proto and r["ipv6"] == "[%s]:%s" % (a6, p6)]
    print(" ".join("%s %s" % (r["ipv4"], "static" if r["static"] else "dynamic") for r in rows) or "none")
EOF
cat >"$XT_WORK/dissect.py" <<'EOF'
# dissect.py TSV EXPECT_JSON OUT_COUNTS: tshark -T fields output (see
# tshark_fields in xlat464.sh) of one link. EXPECT: "family" (4 or 6: the
# only IP family allowed), "host" and "peer" (the pair every data packet
# is between; "in" = from peer), "in_ttl", "router_ll" (a link-local
# address whose ND is allowed on an IPv4 link: xgw's start-up NA),
# "nd" (IPv6 link: ND/MLD allowed), "icmp_from" (addresses allowed to
# send ICMP errors, none by default). Prints PASS/FAIL/INFO, writes counts.
import json, sys
PI_WARN, PI_CHECKSUM, PI_SEQUENCE, PI_MALFORMED = 0x00600000, 0x01000000, 0x02000000, 0x07000000
NDMLD = {130, 131, 132, 133, 134, 135, 136, 137, 143}
exp = json.load(open(sys.argv[2]))
fam = exp["family"]
def nums(s):
    return [int(x) for x in s.replace(",", "|").split("|") if x.strip()] if s else []
def first(s):
    return s.replace(",", "|").split("|")[0] if s else ""
def n1(s):
    v = nums(s)
    return v[0] if v else None
bad, foreign, wrongfam, ttl_bad, errors = [], [], [], [], []
total = conv = ffff = 0
cnt = {}
def inc(k):
    cnt[k] = cnt.get(k, 0) + 1
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    f += [""] * (16 - len(f))
    (num, protos, ip_src, ip_dst, ttl, ip6_src, ip6_dst, hlim, fragid, icmp_t, icmp6_t,
     sev, grp, msg, malformed) = f[:15]
    total += 1
    p = protos.split(":")
    items = []
    for s_, g_, m_ in zip(nums(sev), nums(grp), msg.split("|")):
        if g_ == PI_SEQUENCE:
            conv += 1
        elif ("tcp" in p or "udp" in p) and "0xffff instead of 0x0000" in m_:
            ffff += 1
        else:
            items.append((s_, g_))
    if malformed or any(s_ >= PI_WARN for s_, _ in items) or any(g_ in (PI_CHECKSUM, PI_MALFORMED) for _, g_ in items):
        bad.append("frame %s: %s [%s]" % (num, msg, protos))
    if "arp" in p:
        inc("arp")
        if fam == 6:
            wrongfam.append("frame %s: ARP" % num)
        continue
    it4, it6 = n1(icmp_t), n1(icmp6_t)
    if "ip" in p:
        if fam == 6:
            wrongfam.append("frame %s: IPv4 %s > %s [%s]" % (num, first(ip_src), first(ip_dst), protos))
            continue
        src, dst, t, it, errt = first(ip_src), first(ip_dst), n1(ttl), it4, (3, 4, 5, 11, 12)
    elif "ipv6" in p:
        src, dst, t, it = first(ip6_src), first(ip6_dst), n1(hlim), it6
        if fragid:
            inc("frag")
        if it6 in NDMLD:
            if fam == 6 and exp.get("nd") or fam == 4 and src == exp.get("router_ll"):
                inc("ndmld")
            else:
                wrongfam.append("frame %s: ICMPv6 %d %s > %s" % (num, it6, src, dst))
            continue
        if fam == 4:
            wrongfam.append("frame %s: IPv6 %s > %s [%s]" % (num, src, dst, protos))
            continue
        errt = (1, 2, 3, 4)
    else:
        foreign.append("frame %s [%s]" % (num, protos))
        continue
    if it is not None and it in errt:
        inc("err")
        errors.append("frame %s: ICMP%s type %d from %s" % (num, "" if fam == 4 else "v6", it, src))
        if src not in exp.get("icmp_from", []):
            foreign.append("frame %s: ICMP error from %s" % (num, src))
        continue
    if {src, dst} != {exp["host"], exp["peer"]}:
        foreign.append("frame %s: %s > %s [%s]" % (num, src, dst, protos))
        continue
    d = "in" if src == exp["peer"] else "out"
    inc(d)
    if d == "in" and t != exp["in_ttl"]:
        ttl_bad.append("frame %s: %s %s from %s" % (num, "TTL" if fam == 4 else "hop limit", t, src))
    if it is not None:
        inc("%s.icmp%d" % (d, it))
    if "tcp" in p:
        inc(d + ".tcp")
    if "udp" in p:
        inc(d + ".udp")
ok = True
def check(cond, what):
    global ok
    print(("PASS " if cond else "FAIL ") + what)
    ok = ok and cond
def lst(l):
    return "".join("\n      " + x for x in l[:10])
name = exp["name"]
check(total > 0, "%s: read %d frames" % (name, total))
check(not bad, "%s: no frame malformed, with a checksum complaint or a warning (%d bad)%s" % (name, len(bad), lst(bad)))
check(not wrongfam, "%s: IPv%d only%s (%d other frames)%s" % (
    name, fam, " (no IPv4, no ARP)" if fam == 6 else " and ARP", len(wrongfam), lst(wrongfam)))
check(not foreign, "%s: every IP packet is between %s and %s%s (%d others)%s" % (
    name, exp["host"], exp["peer"], " or ND/MLD" if fam == 6 else "", len(foreign), lst(foreign)))
check(cnt.get("in", 0) > 0 and not ttl_bad, "%s: %d packets from %s, all with %s %d%s" % (
    name, cnt.get("in", 0), exp["peer"], "TTL" if fam == 4 else "hop limit", exp["in_ttl"], lst(ttl_bad)))
check(not errors, "%s: no ICMP error%s" % (name, lst(errors)))
if exp.get("no_frag"):
    check(cnt.get("frag", 0) == 0, "%s: no IPv6 Fragment Header (%d frames with one)" % (name, cnt.get("frag", 0)))
for k in ("in.tcp", "out.tcp", "in.udp", "out.udp"):
    check(cnt.get(k, 0) > 0, "%s: %s: %d" % (name, k, cnt.get(k, 0)))
json.dump(cnt, open(sys.argv[3], "w"))
print("INFO %s counts: %s" % (name, " ".join("%s=%d" % kv for kv in sorted(cnt.items()))))
print("INFO %s not counted: %d expert items of the sequence group, %d checksums 0xffff for 0x0000" % (name, conv, ffff))
sys.exit(0 if ok else 1)
EOF

# tshark_fields PCAP OUT_TSV: dissect with checksum validation, heuristic
# payload dissectors off (random payload bytes look like something now and
# then), our servers' ports decoded as what they carry
NOHEUR=()
for h in $(comm -12 <(tshark -G heuristic-decodes 2>/dev/null | awk '$1 ~ /^(tcp|udp|ip|ipv6)$/ { print $2 }' | sort -u) \
                    <(tshark -G protocols 2>/dev/null | cut -f3 | sort -u)); do
  case $h in eth | ip | ipv6 | icmp | icmpv6 | tcp | udp | arp) ;; *) NOHEUR+=(--disable-protocol "$h") ;; esac
done
tshark_fields() {
  local rc=0
  tshark -r "$1" -n "${NOHEUR[@]}" \
    -d "tcp.port==$P_HTTP,http" -d "udp.port==$P_ECHO,data" \
    -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
    -o tcp.analyze_sequence_numbers:FALSE \
    -T fields -E occurrence=a -E separator=$'\t' -E 'aggregator=|' \
    -e frame.number -e frame.protocols -e ip.src -e ip.dst -e ip.ttl \
    -e ipv6.src -e ipv6.dst -e ipv6.hlim -e ipv6.fraghdr.ident -e icmp.type -e icmpv6.type \
    -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
    >"$2" 2>"$2.err" || rc=$?
  check_eq "tshark reads $(basename "$1")" 0 "$rc" "$( ((rc == 0)) || head -c 300 "$2.err")"
}
# eui64_ll MAC: the link-local address xgw derives from MAC
eui64_ll() {
  "$XT_PY" -c '
import ipaddress as I, sys
m = bytes.fromhex(sys.argv[1].replace(":", "")); m = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:]
print(I.IPv6Address(b"\xfe\x80" + bytes(6) + m))' "$1"
}

# ---------------------------------------------------------------------------
step "0. start the PLAT and the CLAT"
start_xgw plat
start_xgw clat
for spec in "$NS_L|$IF_L4" "$NS_L|$IF_L6" "$NS_T|$IF_T6" "$NS_T|$IF_T4"; do
  IFS='|' read -r ns i <<<"$spec"
  if xt_xdp_attached "$ns" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done
# routes_of TAG: "prefix>interface|via" of every route, sorted
routes_of() {
  local rc=0 out
  out=$(timeout 10 "$XGW" route list --json --socket "${XSOCK[$1]}" 2>&1) || rc=$?
  ((rc == 0)) || { echo "route list failed (exit $rc): ${out:0:200}"; return 0; }
  echo "$out" >"$XT_WORK/routes-$1.json"
  xt_json "$XT_WORK/routes-$1.json" '" ".join(sorted("%s>%s" % (r["prefix"], r.get("via") or r.get("interface") or r.get("kind")) for r in d["routes"]))'
}
r=$(routes_of clat)
log "CLAT routes: $r"
for want in "0.0.0.0/0>clat0" "$EAM6>clat0" "$POOL6>$T6"; do
  if [[ " $r " == *" $want "* ]]; then pass "CLAT route $want"; else fail "CLAT: no route $want in: $r"; fi
done
if [[ " $r " == *" $POOL6>clat0 "* ]]; then fail "CLAT: pool6 is also routed into clat0: $r"
else pass "CLAT: pool6 is not routed into the translator (the config's route replaced xgw's)"; fi
r=$(routes_of plat)
log "PLAT routes: $r"
for want in "$POOL6>plat0" "$POOL4/32>plat0" "$CUST6>$L6"; do
  if [[ " $r " == *" $want "* ]]; then pass "PLAT route $want"; else fail "PLAT: no route $want in: $r"; fi
done
rc=0; out=$(timeout 10 "$XGW" nat64 session --json --socket "$SOCK_L" 2>&1) || rc=$?
if grep -q 'stateless' <<<"$out"; then pass "CLAT: xgw nat64 session: the translator keeps no state (exit $rc): ${out:0:120}"
else fail "CLAT: xgw nat64 session (exit $rc) does not say it is stateless: ${out:0:200}"; fi

head -c "$FILE_BYTES" /dev/urandom >"$XT_WORK/file"
SUM=$(sha256sum "$XT_WORK/file" | cut -d' ' -f1)
mkdir -p "$XT_WORK/www"; cp "$XT_WORK/file" "$XT_WORK/www/file"
ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/http_srv.py" "$S4" "$P_HTTP" "$XT_WORK/www" >"$XT_WORK/http.log" 2>&1 &
XT_PIDS+=("$!")
N_UDP=$(tr ',' '\n' <<<"$UDP_SIZES" | wc -l)
ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/udp_echo.py" server "$S4" "$P_ECHO" "$XT_WORK/echo.ready" "$N_UDP" \
  "$XT_WORK/echo.json" >"$XT_WORK/echo.log" 2>&1 &
ECHO_PID=$!; XT_PIDS+=("$ECHO_PID")
for ((i = 0; i < 100; i++)); do
  listening "$NS_S" t "$P_HTTP" && [[ -s $XT_WORK/echo.ready ]] && break
  sleep 0.05
done
listening "$NS_S" t "$P_HTTP" || die "http.server on port $P_HTTP in $NS_S did not start: $(cat "$XT_WORK/http.log")"
[[ -s $XT_WORK/echo.ready ]] || die "the UDP echo server in $NS_S did not start: $(cat "$XT_WORK/echo.log")"

CAPC=$XT_WORK/c0.pcap; CAPP=$XT_WORK/br0.pcap; CAPS=$XT_WORK/s0.pcap
cap_start "$NS_C" "$IF_C" "$CAPC"; CAPC_PID=$CAP_PID
cap_start "$NS_P" br0 "$CAPP"; CAPP_PID=$CAP_PID
cap_start "$NS_S" "$IF_S" "$CAPS"; CAPS_PID=$CAP_PID
xt_xgw_settle "$SOCK_L"; xt_xgw_settle "$SOCK_T"
stats clat "$XT_WORK/l0.json"; stats plat "$XT_WORK/t0.json"

# ---------------------------------------------------------------------------
step "a. ping from the IPv4-only client to $S4"
rc=0; out=$(ip netns exec "$NS_C" ping -n -c 3 -i 0.2 -W 2 -e "$ID_PING" "$S4" 2>&1) || rc=$?
if ((rc == 0)) && grep -q '3 packets transmitted, 3 received' <<<"$out"; then
  pass "ping -e $ID_PING $S4 from C: $(grep -E 'packets transmitted' <<<"$out")"
else
  fail "ping $S4 from C (exit $rc):"; xt_indent <<<"$out"
fi
check_eq "ping $S4: reply TTLs (64 less one hop in each translator)" "ttl=62 ttl=62 ttl=62" \
  "$(grep -oE 'ttl=[0-9]+' <<<"$out" | paste -sd' ')"
rc=0; out=$(ip netns exec "$NS_C" ping -n -c 3 -i 0.2 -W 2 -M "do" -s 1452 "$S4" 2>&1) || rc=$?
if ((rc == 0)) && grep -q '3 packets transmitted, 3 received' <<<"$out"; then
  pass "ping -M do -s 1452 $S4 (1480 bytes of IPv4, 1500 of IPv6 on the provider link): $(grep -E 'packets transmitted' <<<"$out")"
else
  fail "ping -M do -s 1452 $S4 from C (exit $rc):"; xt_indent <<<"$out"
fi

# ---------------------------------------------------------------------------
step "b. curl http://$S4:$P_HTTP/file from the IPv4-only client ($FILE_BYTES random bytes)"
rm -f "$XT_WORK/got"
rc=0
out=$(ip netns exec "$NS_C" curl -sS --noproxy '*' --max-time 30 -o "$XT_WORK/got" \
  -w '%{http_code} %{size_download} %{speed_download} %{local_port}' "http://$S4:$P_HTTP/file" 2>&1) || rc=$?
read -r code size speed lport <<<"$out"
got=$(sha256sum "$XT_WORK/got" 2>/dev/null | cut -d' ' -f1 || true)
if ((rc == 0)) && [[ $code == 200 && $size == "$FILE_BYTES" && $got == "$SUM" ]]; then
  pass "curl http://$S4:$P_HTTP/file: 200, $size bytes, SHA-256 equal ($(awk -v s="$speed" 'BEGIN { printf "%.0f Mbit/s", s * 8 / 1e6 }'), local port $lport)"
else
  fail "curl http://$S4:$P_HTTP/file (exit $rc): '$out', sha256 ${got:-none} (want $SUM)"
fi
sleep 0.2
line=$(grep -E '"GET /file HTTP/1\.1" 200' "$XT_WORK/http.log" | tail -n 1 || true)
HTTP_PORT4=$(sed -nE "s/^${POOL4//./\\.}:([0-9]+) - - .*/\1/p" <<<"$line")
if [[ -n $HTTP_PORT4 ]]; then pass "the server logged the request from the PLAT's pool4 $POOL4 (port $HTTP_PORT4): ${line:0:100}"
else fail "the server did not log a request from $POOL4:"; xt_indent <"$XT_WORK/http.log"; fi

# ---------------------------------------------------------------------------
step "c. UDP from the IPv4-only client to $S4:$P_ECHO (echo; sizes $UDP_SIZES)"
rc=0; out=$(ip netns exec "$NS_C" timeout 30 "$XT_PY" "$XT_WORK/udp_echo.py" client "$S4" "$P_ECHO" "$UDP_SIZES" 2>&1) || rc=$?
read -r uport ures <<<"$out"
if ((rc == 0)); then pass "UDP C -> $S4:$P_ECHO from port $uport, each echoed byte-identical from $S4: $ures"
else fail "UDP C -> $S4:$P_ECHO (exit $rc): $out"; fi
wait "$ECHO_PID" 2>/dev/null || true
seen=$(xt_json "$XT_WORK/echo.json" '" ".join("%s/%d" % (a, n) for a, p, n in d["seen"])' 2>/dev/null || echo "?")
want=$(tr ',' '\n' <<<"$UDP_SIZES" | sed -e 's/n$//' -e "s|^|$POOL4/|" | paste -sd' ')
check_eq "UDP: the server saw (source/size)" "$want" "$seen"
UDP_PORT4=$(xt_json "$XT_WORK/echo.json" '" ".join(sorted(set(str(p) for a, p, n in d["seen"])))' 2>/dev/null || echo "?")
if [[ $UDP_PORT4 =~ ^[0-9]+$ ]]; then pass "UDP: every datagram came from one pool4 port ($POOL4:$UDP_PORT4)"
else fail "UDP: the server saw source ports '$UDP_PORT4' (one expected)"; fi

# ---------------------------------------------------------------------------
step "d. the PLAT's sessions: the client's CLAT-translated source"
nat64_show session "$XT_WORK/sess.json" || true
nat64_show bib "$XT_WORK/bib.json" || true
# one session per flow, [C6]:port -> [S_IMG], POOL4:port -> S4
for spec in "icmp|$ID_PING|$S4|-|ping" "tcp|${lport:-x}|$S4:$P_HTTP|${HTTP_PORT4:-x}|curl" \
            "udp|${uport:-x}|$S4:$P_ECHO|${UDP_PORT4:-x}|the UDP client"; do
  IFS='|' read -r pr p6 r4 p4 what <<<"$spec"
  rows=""; b=""
  for ((i = 0; i < 15; i++)); do
    rows=$("$XT_PY" "$XT_WORK/sessions.py" find "$XT_WORK/sess.json" "$pr" "$C6" "$p6" "$r4" 2>&1 || true)
    b=$("$XT_PY" "$XT_WORK/sessions.py" bib "$XT_WORK/bib.json" "$pr" "$C6" "$p6" 2>&1 || true)
    [[ -n $rows && $b != none ]] && break
    # the listings are what the worker published last (every 500 ms)
    sleep 0.2
    nat64_show session "$XT_WORK/sess.json" || true
    nat64_show bib "$XT_WORK/bib.json" || true
  done
  n=$(tr ';' '\n' <<<"$rows" | grep -c . || true)
  IFS='|' read -r s6 s4 st <<<"${rows%%;*}"
  l4=${s4%%>*}
  ok=1
  ((n == 1)) || ok=0
  [[ $s6 == "[$C6]:$p6>[$S_IMG]:"* ]] || ok=0
  [[ ${l4%:*} == "$POOL4" ]] || ok=0
  [[ $p4 == - || ${l4##*:} == "$p4" ]] || ok=0
  seen=""; [[ $p4 == - ]] || seen=", the port the server saw"
  if ((ok)); then pass "$pr session of $what: $s6 | $s4 | $st (ipv6_local: C as the CLAT translated it; ipv4_local: pool4$seen)"
  else fail "$pr session of $what ([$C6]:$p6 -> $r4, pool4 port $p4): $n found '$rows'"; xt_indent <"$XT_WORK/sess.json"; fi
  check_eq "$pr binding of [$C6]:$p6 (xgw nat64 bib)" "$l4 dynamic" "$b"
done
n=$(xt_json "$XT_WORK/sess.json" "len([r for r in d['sessions'] if not r['ipv6_local'].startswith('[$C6]:')])")
check_eq "PLAT: sessions whose IPv6 source is not the CLAT's $C6" 0 "$n"

xt_xgw_settle "$SOCK_L"; xt_xgw_settle "$SOCK_T"
stats clat "$XT_WORK/l1.json"; stats plat "$XT_WORK/t1.json"
cap_stop "$CAPC_PID" "$CAPC"
cap_stop "$CAPP_PID" "$CAPP"
cap_stop "$CAPS_PID" "$CAPS"

# ---------------------------------------------------------------------------
step "e. tshark on the provider link (br0), the client's (c0) and the server's (s0)"
tshark_fields "$CAPP" "$XT_WORK/br0.tsv"
tshark_fields "$CAPC" "$XT_WORK/c0.tsv"
tshark_fields "$CAPS" "$XT_WORK/s0.tsv"
cat >"$XT_WORK/exp-br0.json" <<EOF
{"name": "br0", "family": 6, "host": "$C6", "peer": "$S_IMG", "in_ttl": 63, "nd": true, "no_frag": true}
EOF
cat >"$XT_WORK/exp-c0.json" <<EOF
{"name": "c0", "family": 4, "host": "$C4", "peer": "$S4", "in_ttl": 62, "router_ll": "$(eui64_ll "$MAC_L4")"}
EOF
cat >"$XT_WORK/exp-s0.json" <<EOF
{"name": "s0", "family": 4, "host": "$S4", "peer": "$POOL4", "in_ttl": 62, "router_ll": "$(eui64_ll "$MAC_T4")"}
EOF
for l in br0 c0 s0; do
  relay "dissect $l" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/$l.tsv" "$XT_WORK/exp-$l.json" "$XT_WORK/cnt-$l.json"
done
cnt() { xt_json "$XT_WORK/cnt-$1.json" "d.get('$2', 0)" 2>/dev/null || echo "?"; }
# one for one: C's packets to S (out on c0) crossed br0 (out) and reached S
# (in on s0); S's answers (out on s0) crossed br0 (in) and reached C (in)
for k in "" .icmp8 .tcp .udp; do
  k6=${k/icmp8/icmp128}
  check_eq "C -> S packets${k:+ ($k)}: c0 out / br0 out / s0 in" "$(cnt c0 "out$k") $(cnt c0 "out$k") $(cnt c0 "out$k")" \
    "$(cnt c0 "out$k") $(cnt br0 "out$k6") $(cnt s0 "in$k")"
done
for k in "" .icmp0 .tcp .udp; do
  k6=${k/icmp0/icmp129}
  check_eq "S -> C packets${k:+ ($k)}: s0 out / br0 in / c0 in" "$(cnt s0 "out$k") $(cnt s0 "out$k") $(cnt s0 "out$k")" \
    "$(cnt s0 "out$k") $(cnt br0 "in$k6") $(cnt c0 "in$k")"
done
check_eq "echo requests C sent (c0 .icmp8: 3 + 3 big)" 6 "$(cnt c0 out.icmp8)"
check_eq "UDP datagrams each way on br0 (out in)" "$N_UDP $N_UDP" "$(cnt br0 out.udp) $(cnt br0 in.udp)"

# ---------------------------------------------------------------------------
step "f. both translators' counters over a-c"
for spec in "clat|l" "plat|t"; do
  IFS='|' read -r tag f <<<"$spec"
  dd=$(drops_delta "$XT_WORK/${f}0.json" "$XT_WORK/${f}1.json")
  check_eq "${tag^^}: drops over a-c" "" "$dd"
  totals_eq "$tag" "$XT_WORK/${f}0.json" "$XT_WORK/${f}1.json" "a-c"
done

# ---------------------------------------------------------------------------
step "f. accounting, SIGTERM"
for spec in "clat|l|$NS_L|$IF_L4 $IF_L6" "plat|t|$NS_T|$IF_T6 $IF_T4"; do
  IFS='|' read -r tag f ns ifs <<<"$spec"
  T=$XT_WORK/${f}1.json
  rx=$(xt_json "$T" 'd["totals"]["rx"]'); em=$(xt_json "$T" 'd["totals"]["emitted"]')
  tx=$(xt_json "$T" 'd["totals"]["tx"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
  dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
  log "${tag^^} totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
  log "${tag^^} drops: $(xt_json "$T" '{k: v["count"] for k, v in d["drops"].items()}')"
  check_eq "${tag^^}: totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
  check_eq "${tag^^}: totals.pending once idle" 0 "$pe"
  if ((rx > 0 && tx > 0)); then pass "${tag^^}: rx and tx counted (rx $rx, tx $tx)"
  else fail "${tag^^}: rx $rx tx $tx (an idle translator proves nothing)"; fi
  check_eq "${tag^^}: workers dead" 0 "$(xt_json "$T" 'len(d["workers_dead"])')"
  xt_xgw_stop "${XPID[$tag]}" TERM 15
  check_eq "${tag^^}: xgw exit status after SIGTERM" 0 "$XT_RC"
  for i in $ifs; do xt_check_no_xdp "$ns" "$i" 2; done
  bad=$(grep -E 'panicked| (ERROR|WARN) ' "${XLOG[$tag]}" | head -n 3 || true)
  check_eq "${tag^^}: xgw's log has no panic, ERROR or WARN line" "" "$bad"
done

log "took $(($(date +%s) - T0)) s"
xt_finish
