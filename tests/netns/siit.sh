#!/usr/bin/env bash
# Acceptance test: xgw's stateless IP/ICMP translator (SIIT, RFC 7915, a
# feature of the router: [nat64] mode = "siit") between an IPv6-only and an
# IPv4-only Linux host, over AF_XDP on veth.
# Run as root:  tests/netns/siit.sh
#
#   ns H6 (IPv6 only)            ns X (xgw, router + SIIT)                    ns H4 (IPv4 only)
#   h6 ─────────veth────────── xd-v6 [v6   router   v4] xd-v4 ─────────veth────────── h4
#   2001:db8:6::2/64           2001:db8:6::1/64      192.0.2.1/24, mtu 1400        192.0.2.2/24, mtu 1400
#   default via 2001:db8:6::1            siit0 (translator)                        default via 192.0.2.1
#
#   pool6 2001:db8:100::/40 (RFC 6052): H4 (192.0.2.2) is 2001:db8:1c0:2:2::
#   seen from IPv6; EAM 2001:db8:6::/120 <-> 198.51.100.0/24 (RFC 7757): H6
#   is 198.51.100.2 seen from IPv4 (route 198.51.100.0/24 into siit0).
#   IPv6 is disabled in H4, H6 has no IPv4 address; X has IPv6 off.
#
# Checks
#   a. ping -6 H6 -> 2001:db8:1c0:2:2:: and ping H4 -> 198.51.100.2, 3/3
#   b. TCP: curl -g in H6 fetches a 1 MiB random file from python3's
#      http.server in H4 (bound to 192.0.2.2) through its pool6 image, and
#      curl in H4 fetches it from H6's server (bound to ::) at 198.51.100.2;
#      status 200, size and SHA-256 equal; each server logs the client as
#      its translated address
#   c. UDP both ways (python sockets, echo): every datagram comes back
#      byte-identical from the address it was sent to, the server sees the
#      translated source; a DF-clear 1400-byte IPv4 datagram from H4 reaches
#      H6 as IPv6 fragments of at most 1280 bytes (lowest_ipv6_mtu)
#   f. tshark on both hosts' veths, for everything of a-c, with IP/TCP/UDP
#      checksum validation: no malformed frame, no checksum complaint, no
#      warning; the only IP traffic is between the host and the other host's
#      image (and ND/MLD on H6); translated packets arrive with TTL / hop
#      limit 63, DF set exactly when the IPv4 packet exceeds 1260 bytes
#      (RFC 7915 5.1); the echo requests/replies and UDP datagrams counted
#      exactly; no ICMP error; one for one: as many packets from the other
#      host's image arrive on each side as that host sent (TCP segments
#      too), plus the one extra fragment
#   g. over a-c: xgw's port counters equal the hosts' veth counters (rx =
#      the host's tx, tx = the host's rx, packets and bytes), no nat64.*
#      drop and no drop but the host's MLD reports
#   d. path MTU: xd-v4 (and H4's link) have MTU 1400; with H6's route cache
#      flushed, ping -6 -M do -s 1402 (1450 bytes) gets a Packet Too Big
#      with MTU 1420 from 2001:db8:6::1 (tshark on h6: icmpv6.type == 2 &&
#      icmpv6.mtu == 1420), `ip -6 route get` in H6 then shows mtu 1420,
#      1420-byte pings pass and H6 refuses 1421 bytes itself; then a
#      2000-byte UDP datagram each way (fragmented by the sender, translated
#      fragment by fragment) is echoed intact
#   e. traceroute -6 -n H6 -> H4's image: hop 1 2001:db8:6::1 (xgw answers
#      the hop limit expiry itself), hop 2 the destination; traceroute -n
#      H4 -> 198.51.100.2: hop 1 192.0.2.1, hop 2 198.51.100.2
#   f'. tshark on the d-e captures: nothing malformed, no checksum complaint
#      or warning; no drop in xgw over d-e (the host's MLD reports aside)
#   h. untranslatable: pings to H4's image from an H6 address outside the
#      EAM entry get no reply and are dropped as nat64.src_untranslatable
#      (exactly 3, nothing else); a ping to the pool6 image of an IPv4
#      address xgw has no route for gets "Destination unreachable: No route"
#      from 2001:db8:6::1
#   g'. totals rx + emitted = tx + local + dropped + pending, pending 0, no
#      dead worker; SIGTERM exits 0, no XDP program left, no ERROR / WARN in
#      xgw's log. At start: `xgw check` accepts the config, XDP is attached
#      on both ports, and `xgw route list --json` shows the EAM's IPv4
#      prefix and pool6 routed into siit0
# Knobs: FILE_BYTES=1048576  XT_KEEP=1 (keep namespaces/captures/logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=siit
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in traceroute curl tcpdump tshark sha256sum; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
# an xgw older than its sources tests something else than the tree
newer=$(find "$XT_ROOT/engine" "$XT_ROOT/pipelines" "$XT_ROOT/Cargo.lock" -newer "$XGW" -type f \
  \( -name '*.rs' -o -name 'Cargo.*' \) 2>/dev/null | head -n 3 | tr '\n' ' ')
[[ -z $newer ]] || warn "$XGW is older than $newer(cargo build --release)"

FILE_BYTES=${FILE_BYTES:-1048576}
T0=$(date +%s)

NS_H6=$(xt_ns h6); NS_X=$(xt_ns x); NS_H4=$(xt_ns h4)
IF_H6=h6; IF_X6=xd-v6; IF_X4=xd-v4; IF_H4=h4
MAC_H6=02:06:00:00:00:02; MAC_X6=02:06:00:00:00:01
MAC_X4=02:04:00:00:00:01; MAC_H4=02:04:00:00:00:02
H6=2001:db8:6::2; X6=2001:db8:6::1          # the IPv6 side
H4=192.0.2.2; X4=192.0.2.1                  # the IPv4 side
POOL6=2001:db8:100::/40
H4_IMG=2001:db8:1c0:2:2::                   # H4 seen from IPv6 (pool6)
H6_IMG=198.51.100.2                         # H6 seen from IPv4 (EAM)
MTU4=1400
SOCK=$XT_WORK/ctl.sock
XGW_LOG=""

# ---------------------------------------------------------------------------
step "lab: $NS_H6 (IPv6 only) <-> $NS_X (xgw SIIT) <-> $NS_H4 (IPv4 only)"
# pool6_image V4: V4's address in POOL6 (RFC 6052 2.2, /40: the IPv4 octets
# in bytes 5, 6, 7 and 9; byte 8, u, is zero)
pool6_image() {
  "$XT_PY" -c '
import ipaddress as I, sys
n = I.IPv6Network(sys.argv[1]); v = I.IPv4Address(sys.argv[2]).packed
assert n.prefixlen == 40
p = n.network_address.packed
print(I.IPv6Address(p[:5] + v[:3] + b"\0" + v[3:] + bytes(6)))' "$POOL6" "$1"
}
check_eq "RFC 6052 /40 image of $H4 in $POOL6" "$H4_IMG" "$(pool6_image "$H4")"
NOROUTE4=198.18.0.1                          # no IPv4 route in xgw
NOROUTE_IMG=$(pool6_image "$NOROUTE4")
H6_UNMAPPED=2001:db8:6::1:2                  # H6's second address: outside the EAM's /120

xt_ns_add "$NS_H6" ipv6
xt_ns_add "$NS_H4"   # IPv6 disabled
xt_ns_add "$NS_X"    # IPv6 off: xgw's kernel has nothing to say on xd-v6/xd-v4
xt_veth "$NS_H6" "$IF_H6" "$NS_X" "$IF_X6"
xt_veth "$NS_X" "$IF_X4" "$NS_H4" "$IF_H4"
xt_dut_if "$NS_X" "$IF_X6" "$MAC_X6"
ip -n "$NS_X" link set dev "$IF_X4" mtu "$MTU4"
xt_dut_if "$NS_X" "$IF_X4" "$MAC_X4"
ip -n "$NS_H4" link set dev "$IF_H4" mtu "$MTU4"
xt_host_if "$NS_H6" "$IF_H6" "$H6/64" "$MAC_H6"
xt_host_if "$NS_H4" "$IF_H4" "$H4/24" "$MAC_H4"
ip -n "$NS_H6" -6 route add default via "$X6"
ip -n "$NS_H4" route add default via "$X4"
ip netns exec "$NS_H4" sysctl -qw "net.ipv6.conf.$IF_H4.disable_ipv6=1" net.ipv4.icmp_ratelimit=0 >/dev/null
ip netns exec "$NS_H6" sysctl -qw net.ipv6.icmp.ratelimit=0 >/dev/null
# single-stack, really
a=$(ip -n "$NS_H4" -6 -o addr show | awk '{ print $2, $4 }' | paste -sd' ')
check_eq "H4 has no IPv6 address (disable_ipv6)" "" "$a"
a=$(ip -n "$NS_H6" -4 -o addr show dev "$IF_H6" | awk '{ print $4 }' | paste -sd' ')
check_eq "H6 has no IPv4 address on $IF_H6" "" "$a"
check_eq "H6 has no IPv4 route (main table)" "" "$(ip -n "$NS_H6" -4 route show | paste -sd' ')"

cat >"$XT_WORK/xgw.toml" <<EOF
# written by tests/netns/siit.sh
[engine]
cores = [1]
idle = "adaptive"

[control]
socket = "$SOCK"

[[ports]]
name = "p6"
driver = "af_xdp"
interface = "$IF_X6"

[[ports]]
name = "p4"
driver = "af_xdp"
interface = "$IF_X4"

[pipeline]
kind = "router"

[[interfaces]]
name = "v6"
port = "p6"
ipv6 = ["$X6/64"]

[[interfaces]]
name = "v4"
port = "p4"
ipv4 = ["$X4/24"]
mtu = $MTU4

[nat64]
mode = "siit"
interface = "siit0"
pool6 = "$POOL6"
eam = [ { ipv6 = "2001:db8:6::/120", ipv4 = "198.51.100.0/24" } ]

# H6's IPv4 image (the EAM entry's IPv4 side) leads into the translator;
# the route for pool6 is added by xgw itself
[[routes]]
prefix = "198.51.100.0/24"
interface = "siit0"
EOF
rc=0; out=$("$XGW" check --config "$XT_WORK/xgw.toml" 2>&1) || rc=$?
check_eq "xgw check accepts the SIIT config" 0 "$rc" "${out:0:300}"

start_xgw() {
  local attempt log
  for attempt in 1 2 3 4 5; do
    log=$XT_WORK/xgw.$attempt.log
    xt_xgw_start "$NS_X" "$XT_WORK/xgw.toml" "$log"
    if xt_xgw_wait_ready "$XT_XGW_PID" "$SOCK" "$log" 30 2>"$log.why"; then
      XGW_LOG=$log
      pass "xgw is up (pid $XT_XGW_PID, attempt $attempt)"
      return 0
    fi
    log "start attempt $attempt failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
    sleep "0.$((attempt * 2))"
  done
  cat "$log.why" >&2
  die "xgw did not come up"
}
stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  if kill -0 "$XT_XGW_PID" 2>/dev/null; then warn "xgw (pid $XT_XGW_PID) runs but does not answer on $SOCK"
  else warn "xgw (pid $XT_XGW_PID) is gone"; fi
  warn "xgw log ($XGW_LOG):"; xt_log_tail "$XGW_LOG" 30 >&2
  die "xgw stats failed"
}
# ping_ok NS WHAT ARGS...: 3/3
ping_ok() {
  local ns=$1 what=$2 out rc=0; shift 2
  out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$@" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q '3 packets transmitted, 3 received' <<<"$out"; then
    pass "$what: $(grep -E 'packets transmitted' <<<"$out")"
  else
    fail "$what (exit $rc): $(grep -E 'packets transmitted|From|rror' <<<"$out" | head -n 3 | tr '\n' ' ' || true)"
  fi
}
# snapshot NAME: xgw's stats ($XT_WORK/NAME.json) and the hosts' veth
# counters ($XT_WORK/NAME.k) taken together, once nothing moves: xgw's
# totals settled and no host frame between the two kernel readings
kern() {
  local f
  for f in tx_packets rx_packets tx_bytes rx_bytes; do
    printf 'h6.%s=%s h4.%s=%s ' "$f" "$(xt_ifstat "$NS_H6" "$IF_H6" "$f")" "$f" "$(xt_ifstat "$NS_H4" "$IF_H4" "$f")"
  done
}
snapshot() {
  local k1 k2 t1 t2 i
  for ((i = 0; i < 10; i++)); do
    xt_xgw_settle "$SOCK"
    k1=$(kern)
    stats "$XT_WORK/$1.json"
    sleep 0.3
    stats "$XT_WORK/$1.b.json"
    k2=$(kern)
    t1=$(xt_json "$XT_WORK/$1.json" 'd["totals"]')
    t2=$(xt_json "$XT_WORK/$1.b.json" 'd["totals"]')
    if [[ $k1 == "$k2" && $t1 == "$t2" ]]; then
      echo "$k1" >"$XT_WORK/$1.k"
      return 0
    fi
  done
  warn "snapshot $1: hosts or xgw never quiet for 300 ms"
  echo "$k2" >"$XT_WORK/$1.k"
}
kv() { tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; } # FILE KEY
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
# cap_start NS IF FILE: tcpdump (everything, whole frames, a 64 MiB buffer:
# the 1 MiB transfers come in bursts) in NS on IF; sets CAP_PID
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
  kill -s INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  log "tcpdump $(basename "$2"): $(grep -E 'captured|dropped by kernel' "$2.err" | tr '\n' ' ')"
  local drop; drop=$(awk '/dropped by kernel/ { print $1 }' "$2.err")
  check_eq "tcpdump on $(basename "$2" .pcap): packets dropped by the kernel" 0 "${drop:-?}"
}

cat >"$XT_WORK/udp_echo.py" <<'EOF'
# udp_echo.py server BIND PORT READY_FILE COUNT OUT_JSON
#   echoes COUNT datagrams to their senders; writes their sources and sizes
# udp_echo.py client DST PORT SIZES
#   SIZES: "16,512,1372n" (n: IPv4 with DF clear); one datagram each,
#   a tagged random payload, waits up to 2 s for the echo, which must be
#   byte-identical and come from DST; prints JSON, exit 0 when all did
import ipaddress, json, os, socket, sys
def fam(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET
if sys.argv[1] == "server":
    bind, port, ready, count, out = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
    s = socket.socket(fam(bind), socket.SOCK_DGRAM)
    s.bind((bind, port))
    open(ready, "w").write("ready\n")
    s.settimeout(20)
    seen = []
    try:
        while len(seen) < count:
            data, addr = s.recvfrom(65536)
            s.sendto(data, addr)
            seen.append([addr[0], len(data)])
    except socket.timeout:
        pass
    json.dump({"seen": seen}, open(out, "w"))
else:
    dst, port, sizes = sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    s.settimeout(2)
    res, ok = [], True
    for i, spec in enumerate(sizes):
        nodf = spec.endswith("n")
        n = int(spec.rstrip("n"))
        if fam(dst) == socket.AF_INET:  # IP_MTU_DISCOVER: DONT (0) / WANT (1)
            s.setsockopt(socket.IPPROTO_IP, 10, 0 if nodf else 1)
        msg = b"XGWSIIT" + bytes([i]) + os.urandom(n - 8)
        s.sendto(msg, (dst, port))
        try:
            data, addr = s.recvfrom(65536)
            good = data == msg and ipaddress.ip_address(addr[0]) == ipaddress.ip_address(dst)
            res.append("%s:%s" % (spec, "ok" if good else "bad(%d bytes from %s)" % (len(data), addr[0])))
        except socket.timeout:
            good = False
            res.append("%s:timeout" % spec)
        ok = ok and good
    print(" ".join(res))
    sys.exit(0 if ok else 1)
EOF

cat >"$XT_WORK/dissect.py" <<'EOF'
# dissect.py TSV MODE [EXPECT_JSON COUNTS_OUT]: tshark -T fields output (see
# tshark_fields in siit.sh); MODE "problems": malformed frames, checksum
# complaints and warnings only; "h6" / "h4": also the translated traffic's
# rules for that side (EXPECT_JSON), and the per-kind packet counts written
# to COUNTS_OUT. Prints PASS/FAIL/INFO lines.
import json, sys
PI_WARN, PI_CHECKSUM, PI_SEQUENCE, PI_MALFORMED = 0x00600000, 0x01000000, 0x02000000, 0x07000000
NDMLD = {130, 131, 132, 133, 134, 135, 136, 137, 143}
mode = sys.argv[2]
exp = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {}
def nums(s, base=10):
    return [int(x, base) for x in s.replace(",", "|").split("|") if x.strip()] if s else []
def first(s):
    return s.replace(",", "|").split("|")[0] if s else ""
def flag(s):
    v = first(s)
    return v in ("1", "True", "true")
bad, total, conv, ffff = [], 0, 0, 0
foreign, ttl_bad, df_bad, errors, big_frag = [], [], [], [], []
cnt = {}
def inc(k):
    cnt[k] = cnt.get(k, 0) + 1
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    f += [""] * (18 - len(f))
    (num, protos, flen, ip_src, ip_dst, ttl, df, iplen, ip6_src, ip6_dst, hlim, fragid,
     icmp_t, icmp6_t, sev, grp, msg, malformed) = f[:18]
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
    if mode == "problems":
        continue
    it4, it6 = nums(icmp_t), nums(icmp6_t)
    if mode == "h4" and "ip" in p:
        src, dst = first(ip_src), first(ip_dst)
        if {src, dst} != {exp["host"], exp["peer"]}:
            foreign.append("frame %s: %s > %s [%s]" % (num, src, dst, protos))
            continue
        d = "in" if src == exp["peer"] else "out"   # in: translated by xgw
        inc(d)
        if d == "in":
            if nums(ttl)[:1] != [exp["in_ttl"]]:
                ttl_bad.append("frame %s: ttl %s" % (num, ttl))
            n = nums(iplen)[0]
            if flag(df) != (n > 1260):
                df_bad.append("frame %s: %d bytes, DF %s" % (num, n, first(df)))
        if it4 and it4[0] in (8, 0):
            inc("%s.icmp%d" % (d, it4[0]))
        elif it4:
            errors.append("frame %s: ICMP type %d %s > %s" % (num, it4[0], src, dst))
        if "tcp" in p:
            inc(d + ".tcp")
        if "udp" in p:
            inc(d + ".udp")
    if mode == "h6" and "ipv6" in p:
        src, dst = first(ip6_src), first(ip6_dst)
        if {src, dst} != {exp["host"], exp["peer"]}:
            if it6 and it6[0] in NDMLD:
                inc("ndmld")
            else:
                foreign.append("frame %s: %s > %s [%s]" % (num, src, dst, protos))
            continue
        d = "in" if src == exp["peer"] else "out"
        inc(d)
        if d == "in":
            if nums(hlim)[:1] != [exp["in_ttl"]]:
                ttl_bad.append("frame %s: hop limit %s" % (num, hlim))
            if fragid:
                inc("in.frag")
                if int(flen) - 14 > exp["frag_max"]:
                    big_frag.append("frame %s: %d bytes" % (num, int(flen) - 14))
        if it6 and it6[0] in (128, 129):
            inc("%s.icmp%d" % (d, it6[0]))
        elif it6 and it6[0] not in NDMLD:
            errors.append("frame %s: ICMPv6 type %d %s > %s" % (num, it6[0], src, dst))
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
check(total > 0, "read %d frames" % total)
check(not bad, "no frame malformed, with a checksum complaint or a warning (%d bad)%s" % (len(bad), lst(bad)))
if mode != "problems":
    h, pe = exp["host"], exp["peer"]
    check(not foreign, "every IP packet is between %s and %s%s (%d others)%s"
          % (h, pe, " or ND/MLD (%d)" % cnt.get("ndmld", 0) if mode == "h6" else "", len(foreign), lst(foreign)))
    check(cnt.get("in", 0) > 0 and not ttl_bad, "%d packets from %s (translated by xgw), all with %s %d%s"
          % (cnt.get("in", 0), pe, "TTL" if mode == "h4" else "hop limit", exp["in_ttl"], lst(ttl_bad)))
    if mode == "h4":
        check(not df_bad, "DF set on exactly the translated packets longer than 1260 bytes (RFC 7915 5.1)%s" % lst(df_bad))
    for k, want in sorted(exp["counts"].items()):
        check(cnt.get(k, 0) == want, "%s: %d (want %d)" % (k, cnt.get(k, 0), want))
    for k, want in sorted(exp.get("min", {}).items()):
        check(cnt.get(k, 0) >= want, "%s: %d (want >= %d)" % (k, cnt.get(k, 0), want))
    if mode == "h6":
        check(not big_frag, "translated fragments at most %d bytes%s" % (exp["frag_max"], lst(big_frag)))
    check(not errors, "no ICMP error in the capture%s" % lst(errors))
if mode != "problems":
    json.dump(cnt, open(sys.argv[4], "w"))
print("INFO not counted: %d expert items of the sequence group (TCP conversation, traceroute probes, low TTLs), %d checksums 0xffff for 0x0000" % (conv, ffff))
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
P_HTTP4=18004; P_HTTP6=18006; P_UDP4=17004; P_UDP6=17006
tshark_fields() {
  local rc=0
  tshark -r "$1" -n "${NOHEUR[@]}" \
    -d "tcp.port==$P_HTTP4,http" -d "tcp.port==$P_HTTP6,http" \
    -d "udp.port==$P_UDP4,data" -d "udp.port==$P_UDP6,data" \
    -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
    -o tcp.analyze_sequence_numbers:FALSE \
    -T fields -E occurrence=a -E separator=$'\t' -E 'aggregator=|' \
    -e frame.number -e frame.protocols -e frame.len -e ip.src -e ip.dst -e ip.ttl -e ip.flags.df -e ip.len \
    -e ipv6.src -e ipv6.dst -e ipv6.hlim -e ipv6.fraghdr.ident -e icmp.type -e icmpv6.type \
    -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
    >"$2" 2>"$2.err" || rc=$?
  check_eq "tshark reads $(basename "$1")" 0 "$rc" "$( ((rc == 0)) || head -c 300 "$2.err")"
}

# ---------------------------------------------------------------------------
step "start xgw"
start_xgw
for i in "$IF_X6" "$IF_X4"; do
  if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done
rc=0; out=$(timeout 10 "$XGW" route list --json --socket "$SOCK" 2>&1) || rc=$?
if ((rc == 0)); then
  echo "$out" >"$XT_WORK/routes.json"
  r=$(xt_json "$XT_WORK/routes.json" '" ".join(sorted("%s>%s" % (r["prefix"], r.get("interface", "?")) for r in d["routes"] if r.get("interface") == "siit0"))')
  check_eq "routes into siit0 (pool6 added by xgw, the EAM's IPv4 side by the config)" "198.51.100.0/24>siit0 $POOL6>siit0" "$r" \
    "$(xt_json "$XT_WORK/routes.json" '" ".join("%s>%s" % (r["prefix"], r.get("interface", r.get("kind"))) for r in d["routes"])')"
else
  fail "xgw route list --json (exit $rc): ${out:0:200}"
fi

head -c "$FILE_BYTES" /dev/urandom >"$XT_WORK/file"
SUM=$(sha256sum "$XT_WORK/file" | cut -d' ' -f1)
mkdir -p "$XT_WORK/www4" "$XT_WORK/www6"
cp "$XT_WORK/file" "$XT_WORK/www4/file"; cp "$XT_WORK/file" "$XT_WORK/www6/file"
# the servers (started before the baseline: their sockets make no traffic)
ip netns exec "$NS_H4" "$XT_PY" -m http.server "$P_HTTP4" --bind "$H4" --directory "$XT_WORK/www4" \
  >"$XT_WORK/http4.log" 2>&1 &
XT_PIDS+=("$!")
ip netns exec "$NS_H6" "$XT_PY" -m http.server "$P_HTTP6" --bind "::" --directory "$XT_WORK/www6" \
  >"$XT_WORK/http6.log" 2>&1 &
XT_PIDS+=("$!")
for spec in "$NS_H4|$P_HTTP4" "$NS_H6|$P_HTTP6"; do
  IFS='|' read -r ns port <<<"$spec"
  for ((i = 0; i < 100; i++)); do
    ip netns exec "$ns" ss -ltn 2>/dev/null | grep -q ":$port " && break
    sleep 0.05
  done
  ip netns exec "$ns" ss -ltn 2>/dev/null | grep -q ":$port " || die "http.server on port $port in $ns did not start"
done
UDP_SIZES6="16,512,1352"            # 1352: 1400 bytes of IPv6, 1380 of IPv4
UDP_SIZES4="16n,512,1372,1372n"     # 1372: 1400 bytes of IPv4 (the link's MTU); n: DF clear
for spec in "$NS_H4|$H4|$P_UDP4|u4|$UDP_SIZES6" "$NS_H6|::|$P_UDP6|u6|$UDP_SIZES4"; do
  IFS='|' read -r ns bind port tag sizes <<<"$spec"
  rm -f "$XT_WORK/$tag.ready"
  ip netns exec "$ns" "$XT_PY" "$XT_WORK/udp_echo.py" server "$bind" "$port" "$XT_WORK/$tag.ready" \
    "$(tr ',' '\n' <<<"$sizes" | wc -l)" "$XT_WORK/$tag.json" >"$XT_WORK/$tag.log" 2>&1 &
  XT_PIDS+=("$!")
  printf -v "PID_${tag^^}" '%s' "$!"
  for ((i = 0; i < 100; i++)); do [[ -s $XT_WORK/$tag.ready ]] && break; sleep 0.05; done
  [[ -s $XT_WORK/$tag.ready ]] || { cat "$XT_WORK/$tag.log" >&2; die "UDP echo server in $ns did not start"; }
done

CAP6=$XT_WORK/h6-abc.pcap; CAP4=$XT_WORK/h4-abc.pcap
cap_start "$NS_H6" "$IF_H6" "$CAP6"; CAP6_PID=$CAP_PID
cap_start "$NS_H4" "$IF_H4" "$CAP4"; CAP4_PID=$CAP_PID
snapshot s0
# shellcheck disable=SC2016  # awk program
reasm6() { ip netns exec "$NS_H6" awk '$1 == "Ip6ReasmOKs" { print $2 }' /proc/net/snmp6; }
reasm6_0=$(reasm6)

# ---------------------------------------------------------------------------
step "a. ping across the translator"
ping_ok "$NS_H6" "ping -6 H6 -> $H4_IMG (H4's pool6 image)" -6 "$H4_IMG"
ping_ok "$NS_H4" "ping H4 -> $H6_IMG (H6's EAM image)" "$H6_IMG"

# ---------------------------------------------------------------------------
step "b. TCP: HTTP downloads of a $FILE_BYTES-byte random file, both ways"
for spec in "$NS_H6|http://[$H4_IMG]:$P_HTTP4/file|H6 -> H4 ($H4_IMG)|$XT_WORK/http4.log|$H6_IMG" \
            "$NS_H4|http://$H6_IMG:$P_HTTP6/file|H4 -> H6 ($H6_IMG)|$XT_WORK/http6.log|$H4_IMG"; do
  IFS='|' read -r ns url what slog client <<<"$spec"
  rm -f "$XT_WORK/got"
  rc=0
  out=$(ip netns exec "$ns" curl -g -sS --noproxy '*' --max-time 30 -o "$XT_WORK/got" \
    -w '%{http_code} %{size_download} %{speed_download}' "$url" 2>&1) || rc=$?
  read -r code size speed <<<"$out"
  got=$(sha256sum "$XT_WORK/got" 2>/dev/null | cut -d' ' -f1 || true)
  if ((rc == 0)) && [[ $code == 200 && $size == "$FILE_BYTES" && $got == "$SUM" ]]; then
    pass "curl -g $what: 200, $size bytes, SHA-256 equal ($(awk -v s="$speed" 'BEGIN { printf "%.0f Mbit/s", s * 8 / 1e6 }'))"
  else
    fail "curl -g $url (exit $rc): '$out', sha256 ${got:-none} (want $SUM)"
  fi
  # the server saw the client as its translated address
  sleep 0.2
  if grep -qF "$client - - " "$slog" && grep -qE '"GET /file HTTP/1\.1" 200' "$slog"; then
    pass "the server logged the request from $client: $(grep -F "$client - - " "$slog" | tail -n 1 | cut -c1-90)"
  else
    fail "the server did not log a request from $client:"; xt_indent <"$slog"
  fi
done

# ---------------------------------------------------------------------------
step "c. UDP both ways (echo), payloads compared"
for spec in "$NS_H6|$H4_IMG|$P_UDP4|u4|$UDP_SIZES6|$H6_IMG|H6 -> H4" \
            "$NS_H4|$H6_IMG|$P_UDP6|u6|$UDP_SIZES4|$H4_IMG|H4 -> H6"; do
  IFS='|' read -r ns dst port tag sizes client what <<<"$spec"
  rc=0
  out=$(ip netns exec "$ns" timeout 30 "$XT_PY" "$XT_WORK/udp_echo.py" client "$dst" "$port" "$sizes" 2>&1) || rc=$?
  if ((rc == 0)); then pass "UDP $what ($dst port $port), echoed byte-identical from $dst: $out"
  else fail "UDP $what ($dst port $port) (exit $rc): $out"; fi
  pid_var=PID_${tag^^}
  wait "${!pid_var}" 2>/dev/null || true
  want=$("$XT_PY" -c 'import sys; print(" ".join("%s/%s" % (sys.argv[1], s.rstrip("n")) for s in sys.argv[2].split(",")))' "$client" "$sizes")
  seen=$(xt_json "$XT_WORK/$tag.json" '" ".join("%s/%d" % (a, n) for a, n in d["seen"])' 2>/dev/null || echo "?")
  check_eq "UDP $what: the server saw (source/size)" "$want" "$seen"
done
reasm=$(($(reasm6) - reasm6_0))
check_eq "H6 reassembled the DF-clear 1400-byte datagram xgw sent as IPv6 fragments (Ip6ReasmOKs)" 1 "$reasm"

snapshot s1
cap_stop "$CAP6_PID" "$CAP6"
cap_stop "$CAP4_PID" "$CAP4"

# ---------------------------------------------------------------------------
step "f. tshark on both veths (a-c): clean dissection, addresses, TTLs, DF"
tshark_fields "$CAP6" "$XT_WORK/h6-abc.tsv"
tshark_fields "$CAP4" "$XT_WORK/h4-abc.tsv"
# translated packets: from H4_IMG on h6, from H6_IMG on h4. One datagram is
# fragmented by xgw: H4's DF-clear 1400 bytes (1428 bytes of IPv6 > 1280:
# 2 fragments); the DF-clear 16-byte one must come without a Fragment Header
# (UDP: a datagram and its echo each way, 3 from H6 and 4 from H4; tshark
# counts a fragmented datagram once, on its reassembling frame)
cat >"$XT_WORK/exp6.json" <<EOF
{"host": "$H6", "peer": "$H4_IMG", "in_ttl": 63, "frag_max": 1280,
 "counts": {"out.icmp128": 3, "in.icmp129": 3, "in.icmp128": 3, "out.icmp129": 3, "in.frag": 2,
            "in.udp": 7, "out.udp": 7},
 "min": {"in.tcp": 100, "out.tcp": 100}}
EOF
cat >"$XT_WORK/exp4.json" <<EOF
{"host": "$H4", "peer": "$H6_IMG", "in_ttl": 63,
 "counts": {"in.icmp8": 3, "out.icmp0": 3, "out.icmp8": 3, "in.icmp0": 3, "in.udp": 7, "out.udp": 7},
 "min": {"in.tcp": 100, "out.tcp": 100}}
EOF
relay "dissect h6" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/h6-abc.tsv" h6 "$XT_WORK/exp6.json" "$XT_WORK/cnt6.json"
relay "dissect h4" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/h4-abc.tsv" h4 "$XT_WORK/exp4.json" "$XT_WORK/cnt4.json"
# one for one: every packet one host sent to the other's image arrived,
# translated, once (H4's fragmented datagram: one IPv4 packet, two IPv6)
cnt() { xt_json "$XT_WORK/cnt$1.json" "d.get('$2', 0)" 2>/dev/null || echo "?"; }
check_eq "packets H6 sent to $H4_IMG (h6 capture) = packets from $H6_IMG (h4 capture)" "$(cnt 6 out)" "$(cnt 4 in)"
n=$(cnt 4 out); [[ $n == "?" ]] || n=$((n + 1))
check_eq "packets H4 sent to $H6_IMG (h4 capture) + 1 fragment = packets from $H4_IMG (h6 capture)" "$n" "$(cnt 6 in)"
check_eq "TCP segments H6 -> H4 in both captures" "$(cnt 6 out.tcp)" "$(cnt 4 in.tcp)"
check_eq "TCP segments H4 -> H6 in both captures" "$(cnt 4 out.tcp)" "$(cnt 6 in.tcp)"

# ---------------------------------------------------------------------------
step "g. xgw's counters over a-c"
dd=$(drops_delta "$XT_WORK/s0.json" "$XT_WORK/s1.json")
log "drops over a-c: ${dd:-none}"
n64=$(tr ' ' '\n' <<<"$dd" | grep -E '^nat64\.' | paste -sd' ' || true)
check_eq "no nat64.* drop over a-c" "" "$n64"
other=$(tr ' ' '\n' <<<"$dd" | grep -vE '^(ip6\.multicast_not_forwarded:|$)' | paste -sd' ' || true)
check_eq "no drop over a-c but H6's MLD reports (ip6.multicast_not_forwarded)" "" "$other"
# Bytes: a frame a veth hands to its peer's XDP program is counted (as the
# sender's tx_bytes) after eth_type_trans() pulled the 14-byte Ethernet
# header; xgw counts whole frames (the same as in l2fwd.sh). Frames xgw
# sends are counted whole by the receiving host.
kd() { echo $(($(kv "$XT_WORK/s1.k" "$1") - $(kv "$XT_WORK/s0.k" "$1"))); }
xd() { echo $(($(xt_port "$XT_WORK/s1.json" "$1" "$2") - $(xt_port "$XT_WORK/s0.json" "$1" "$2"))); }
for spec in "p6|h6" "p4|h4"; do
  IFS='|' read -r port host <<<"$spec"
  check_eq "over a-c: xgw $port.rx = $host's tx_packets" "$(kd "$host.tx_packets")" "$(xd "$port" rx)"
  check_eq "over a-c: xgw $port.rx_bytes = $host's tx_bytes + 14 x tx_packets" \
    "$(($(kd "$host.tx_bytes") + 14 * $(kd "$host.tx_packets")))" "$(xd "$port" rx_bytes)"
  check_eq "over a-c: xgw $port.tx = $host's rx_packets" "$(kd "$host.rx_packets")" "$(xd "$port" tx)"
  check_eq "over a-c: xgw $port.tx_bytes = $host's rx_bytes" "$(kd "$host.rx_bytes")" "$(xd "$port" tx_bytes)"
done
for k in rx tx dropped pending emitted local; do
  printf -v "D_$k" '%s' "$(($(xt_json "$XT_WORK/s1.json" "d['totals']['$k']") - $(xt_json "$XT_WORK/s0.json" "d['totals']['$k']")))"
done
# shellcheck disable=SC2154  # D_* set by printf -v above
log "over a-c: rx $D_rx + emitted $D_emitted = tx $D_tx + local $D_local + dropped $D_dropped + pending $D_pending"
# shellcheck disable=SC2154
check_eq "over a-c: rx + emitted = tx + local + dropped + pending" "$((D_rx + D_emitted))" "$((D_tx + D_local + D_dropped + D_pending))"

# ---------------------------------------------------------------------------
step "d. path MTU: H4's link has MTU $MTU4, H6 learns 1420 from xgw"
CAP6D=$XT_WORK/h6-de.pcap; CAP4D=$XT_WORK/h4-de.pcap
cap_start "$NS_H6" "$IF_H6" "$CAP6D"; CAP6D_PID=$CAP_PID
cap_start "$NS_H4" "$IF_H4" "$CAP4D"; CAP4D_PID=$CAP_PID
snapshot s2
ip -n "$NS_H6" -6 route flush cache >/dev/null 2>&1 || true
r=$(ip -n "$NS_H6" -6 route get "$H4_IMG" 2>&1 | tr -s ' ' | tr '\n' ' ')
if grep -qE ' mtu [0-9]+' <<<"$r"; then fail "H6 has a path MTU to $H4_IMG before the test: $r"
else pass "H6's route to $H4_IMG has no learned MTU yet: $r"; fi
out=$(ip netns exec "$NS_H6" ping -6 -c 1 -W 2 -M "do" -s 1402 "$H4_IMG" 2>&1) || true
if grep -qE "From $X6 .*Packet too big: mtu=1420" <<<"$out"; then
  pass "ping -6 -M do -s 1402 (1450 bytes): $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -6 -M do -s 1402: no 'Packet too big: mtu=1420' from $X6:"; xt_indent <<<"$out"
fi
r=$(ip -n "$NS_H6" -6 route get "$H4_IMG" 2>&1 | tr -s ' ' | tr '\n' ' ')
if grep -qE ' mtu 1420( |$)' <<<"$r"; then pass "H6 learned the path MTU: $r"
else fail "H6's route to $H4_IMG shows no 'mtu 1420': $r"; fi
ping_ok "$NS_H6" "ping -6 -M do -s 1372 (1420 bytes: 1400 once translated)" -6 -M "do" -s 1372 "$H4_IMG"
out=$(ip netns exec "$NS_H6" ping -6 -c 1 -W 1 -M "do" -s 1373 "$H4_IMG" 2>&1) || true
if grep -qiE 'message too long.*1420' <<<"$out"; then
  pass "ping -6 -M do -s 1373 (1421 bytes) now refused by H6 itself: $(grep -iE 'message too long' <<<"$out" | head -n 1)"
else
  fail "ping -6 -M do -s 1373: expected H6 to refuse it locally (mtu 1420):"; xt_indent <<<"$out"
fi
# fragments, each way: 2000-byte datagrams the senders fragment (H6 at its
# learned 1420, H4 at 1400, DF clear); xgw translates each fragment (and
# splits H4's 1400-byte ones again to fit lowest_ipv6_mtu 1280)
for spec in "$NS_H4|$H4|$P_UDP4|f4|$H6_IMG" "$NS_H6|::|$P_UDP6|f6|$H4_IMG"; do
  IFS='|' read -r ns bind port tag client <<<"$spec"
  rm -f "$XT_WORK/$tag.ready"
  ip netns exec "$ns" "$XT_PY" "$XT_WORK/udp_echo.py" server "$bind" "$port" "$XT_WORK/$tag.ready" 1 \
    "$XT_WORK/$tag.json" >"$XT_WORK/$tag.log" 2>&1 &
  spid=$!; XT_PIDS+=("$spid")
  for ((i = 0; i < 100; i++)); do [[ -s $XT_WORK/$tag.ready ]] && break; sleep 0.05; done
  if [[ $tag == f4 ]]; then cns=$NS_H6; dst=$H4_IMG; what="H6 -> H4"; else cns=$NS_H4; dst=$H6_IMG; what="H4 -> H6"; fi
  rc=0
  out=$(ip netns exec "$cns" timeout 30 "$XT_PY" "$XT_WORK/udp_echo.py" client "$dst" "$port" 2000 2>&1) || rc=$?
  if ((rc == 0)); then pass "UDP $what, 2000 bytes in fragments, echoed byte-identical: $out"
  else fail "UDP $what, 2000 bytes in fragments (exit $rc): $out"; fi
  wait "$spid" 2>/dev/null || true
  check_eq "UDP $what (fragments): the server saw (source/size)" "$client/2000" \
    "$(xt_json "$XT_WORK/$tag.json" '" ".join("%s/%d" % (a, n) for a, n in d["seen"])' 2>/dev/null || echo "?")"
done

# ---------------------------------------------------------------------------
step "e. traceroute through the translator"
# hops_of OUT: "hop addr" per answering probe
hops_of() { awk '$1 ~ /^[0-9]+$/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9a-f:.]+$/ && $i ~ /[.:]/ && $(i+1) != "ms") print $1, $i }' <<<"$1" | sort -u; }
for spec in "$NS_H6|6|$H4_IMG|$X6|H6" "$NS_H4|4|$H6_IMG|$X4|H4"; do
  IFS='|' read -r ns fam dst hop1 who <<<"$spec"
  out=$(ip netns exec "$ns" timeout 30 traceroute "-$fam" -n -q 2 -w 2 -m 5 "$dst" 2>&1) || true
  h=$(hops_of "$out")
  if [[ $h == "1 $hop1"$'\n'"2 $dst" ]]; then
    pass "traceroute -$fam -n $who -> $dst: hop 1 $hop1 (xgw), hop 2 $dst"
  else
    fail "traceroute -$fam -n $who -> $dst: expected hop 1 $hop1, hop 2 $dst; got:"; xt_indent <<<"$out"
  fi
done

snapshot s3
cap_stop "$CAP6D_PID" "$CAP6D"
cap_stop "$CAP4D_PID" "$CAP4D"
ptb=$(tshark -r "$CAP6D" -n -Y 'icmpv6.type == 2 && icmpv6.mtu == 1420' -T fields -E occurrence=f -e ipv6.src -e ipv6.dst 2>/dev/null | sort | uniq -c | awk '{ print $1 "x " $2 ">" $3 }' | paste -sd' ')
check_eq "tshark on h6: ICMPv6 Packet Too Big with MTU 1420 (icmpv6.type == 2 && icmpv6.mtu == 1420)" "1x $X6>$H6" "$ptb"
other=$(tshark -r "$CAP6D" -n -Y 'icmpv6.type == 2 && icmpv6.mtu != 1420' -T fields -e frame.number -e icmpv6.mtu 2>/dev/null | paste -sd' ')
check_eq "tshark on h6: no Packet Too Big with another MTU" "" "$other"
tshark_fields "$CAP6D" "$XT_WORK/h6-de.tsv"
tshark_fields "$CAP4D" "$XT_WORK/h4-de.tsv"
relay "dissect h6 (d-e)" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/h6-de.tsv" problems
relay "dissect h4 (d-e)" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/h4-de.tsv" problems
dd=$(drops_delta "$XT_WORK/s2.json" "$XT_WORK/s3.json")
log "drops over d-e: ${dd:-none}"
other=$(tr ' ' '\n' <<<"$dd" | grep -vE '^(ip6\.multicast_not_forwarded:|$)' | paste -sd' ' || true)
check_eq "no drop over d-e but H6's MLD reports (the too-big ping becomes the error)" "" "$other"

# ---------------------------------------------------------------------------
step "h. what cannot be translated"
ip -n "$NS_H6" -6 addr add "$H6_UNMAPPED/64" dev "$IF_H6" nodad
echos0=$(xt_snmp "$NS_H4" Icmp InEchos)
out=$(ip netns exec "$NS_H6" ping -6 -c 3 -i 0.2 -W 1 -I "$H6_UNMAPPED" "$H4_IMG" 2>&1) || true
check_eq "ping -6 from $H6_UNMAPPED (no EAM entry, not in pool6) to $H4_IMG: replies" 0 \
  "$(grep -oE '[0-9]+ received' <<<"$out" | cut -d' ' -f1)"
check_eq "echo requests reaching H4 from the unmapped source" 0 "$(($(xt_snmp "$NS_H4" Icmp InEchos) - echos0))"
out=$(ip netns exec "$NS_H6" ping -6 -c 1 -W 2 -I "$H6" "$NOROUTE_IMG" 2>&1) || true
if grep -qE "From $X6 .*Destination unreachable: No route" <<<"$out"; then
  pass "ping -6 $NOROUTE_IMG (pool6 image of $NOROUTE4, no IPv4 route): $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -6 $NOROUTE_IMG: no 'Destination unreachable: No route' from $X6:"; xt_indent <<<"$out"
fi
snapshot s4
dd=$(drops_delta "$XT_WORK/s3.json" "$XT_WORK/s4.json")
log "drops over h: ${dd:-none}"
other=$(tr ' ' '\n' <<<"$dd" | grep -vE '^(ip6\.multicast_not_forwarded:|$)' | paste -sd' ' || true)
check_eq "drops over h (the MLD reports aside)" "nat64.src_untranslatable:+3" "$other"

# ---------------------------------------------------------------------------
step "g. accounting, SIGTERM"
T=$XT_WORK/s4.json
rx=$(xt_json "$T" 'd["totals"]["rx"]'); em=$(xt_json "$T" 'd["totals"]["emitted"]')
tx=$(xt_json "$T" 'd["totals"]["tx"]'); lo=$(xt_json "$T" 'd["totals"]["local"]')
dr=$(xt_json "$T" 'd["totals"]["dropped"]'); pe=$(xt_json "$T" 'd["totals"]["pending"]')
log "totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
log "drops: $(xt_json "$T" '{k: v["count"] for k, v in d["drops"].items()}')"
check_eq "totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
check_eq "totals.pending once idle" 0 "$pe"
if ((rx > 0 && tx > 0 && em > 0 && lo > 0)); then pass "rx, tx, emitted and local all counted (non-vacuous)"
else fail "some total is 0 (rx $rx tx $tx emitted $em local $lo)"; fi
check_eq "xgw workers dead" 0 "$(xt_json "$T" 'len(d["workers_dead"])')"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
xt_check_no_xdp "$NS_X" "$IF_X6" 2
xt_check_no_xdp "$NS_X" "$IF_X4" 2
bad=$(grep -E 'panicked| (ERROR|WARN) ' "$XGW_LOG" | head -n 3 || true)
check_eq "xgw's log has no panic, ERROR or WARN line" "" "$bad"

log "took $(($(date +%s) - T0)) s"
xt_finish
