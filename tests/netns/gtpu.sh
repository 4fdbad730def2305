#!/usr/bin/env bash
# Acceptance test: the GTP-U endpoint (issue 12) between two xgw routers,
# two sites joined over an underlay bridge, with a scapy base station on
# the underlay.
# Run as root:  tests/netns/gtpu.sh
#
#  ns s1            ns g1 (xgw #1)            ns u                     ns g2 (xgw #2)           ns s2
#  s1 ──veth── g1l [lan  router  wan] g1w ──veth── u1 ┐          ┌ u2 ──veth── g2w [wan  router  lan] g2l ──veth── s2
#                                                      br0 ───────┘   (tcpdump; scapy "base station" here)
#  s1: 10.1.5.10/24 10.2.5.10/24            192.168.0.1/24 fd00::1/64  192.168.0.99/24   192.168.0.2/24 fd00::2/64
#      2001:db8:5::10/64 2001:db8:15::10/64 192.168.0.11/32 fd00::11/128 fd00::99/64                      s2: 10.1.8.10/24 10.2.8.10/24
#                                           (.11 and ::11: ours, not GTP-U endpoints)          2001:db8:8::10/64 (and ::11) 2001:db8:18::10/64
#  GTP-U endpoints: gw1 192.168.0.1 and fd00::1, gw2 192.168.0.2 and fd00::2 (default MTU 1436, error_rate 100)
#  sessions (id: teid -> peer/peer_teid, UE addresses, qfi):
#    gw1 1: 0x100 -> 192.168.0.2/0x200   ue4 10.1.8.10 ue6 2001:db8:8::/64    qfi 9   (IPv4 transport, site 2's v4-transport users)
#    gw1 2: 0x101 -> fd00::2/0x201       ue4 10.2.8.10 ue6 2001:db8:18::/64   no qfi  (IPv6 transport)
#    gw1 3: 0x300 -> 192.168.0.99/0x999  ue4 10.3.0.10 ue6 2001:db8:30::/64   qfi 7   (the scapy base station's UE)
#    gw1 4: added, modified and deleted at run time (0x400/0x401, then 0x410/0x411; ue4 10.4.0.10, no qfi)
#    gw2 1: 0x200 -> 192.168.0.1/0x100   ue4 10.1.5.10 ue6 2001:db8:5::/64    no qfi
#    gw2 2: 0x201 -> fd00::1/0x101       ue4 10.2.5.10 ue6 2001:db8:15::/64   qfi 5
#  routes into gtp0: gw1 10.1.8.0/24 2001:db8:8::/64 10.2.8.0/24 2001:db8:18::/64 10.3.0.0/24 2001:db8:30::/64 10.4.0.0/24
#                    gw2 10.1.5.0/24 2001:db8:5::/64 10.2.5.0/24 2001:db8:15::/64
#
# Checks
#   0. both configs pass `xgw check`; `xgw gtp session list --json` and
#      `gtp stats --json` show the configured sessions and endpoints; the
#      `gtp session list` table's rows line up with its header
#   1a. IPv4 with DF clear, 1480 bytes (> gtp0's MTU 1436), s1 -> s2 and
#      back, over the IPv4 and the IPv6 transport, before any host knows a
#      path MTU: every ping answered (the gateways fragment the inner
#      packet to 1436 and encapsulate each fragment), and no gateway drops
#      an outer fragment (gtpu.outer_fragment, local.fragment) or an ICMP
#      error it could not send (icmp.suppressed)
#   1. per kind (4 over 4, 6 over 4, 4 over 6, 6 over 6): ping both ways
#      (PINGS/PINGS); the session's counters on both gateways move by
#      exactly the pings: ul and dl 2 x PINGS packets, bytes = 2 x PINGS
#      inner packets (84 / 104); TCP both ways (a hashed stream counted and
#      hashed by the receiver); s1's path MTU to s2 settles at 1436 (gtp0's
#      MTU, learned from gw1's ICMP errors during the transfer)
#   1b. gtp0's MTU: ping -M do -s 1409 gets "Frag needed and DF set (mtu =
#      1436)" from gw1, ping -6 -s 1389 gets "Packet too big: mtu=1436";
#      -s 1408 to 10.1.8.11 (routed into gtp0, no session) is dropped as
#      gtpu.no_session (exactly), ping -6 -s 1388 to s2's 2001:db8:8::11
#      (inside session 1's /64) passes
#   2. the scapy base station (ns u, session 3; messages built with scapy's
#      contrib GTP layer or by hand, answers parsed with it), each case
#      with exact deltas of every drop reason, every `xgw gtp stats`
#      counter and every session counter (anything not listed must stay):
#      G-PDUs without extension headers, with a UL PDU Session Container,
#      with S/PN and a chain PSC -> 0x21 -> 0x41 (unknown, comprehension not
#      required: skipped), with the UDP Port extension header (inner IPv4
#      and IPv6 echo requests: s1's replies come back as G-PDUs with TEID
#      0x999 and a DL PSC with QFI 7); unknown comprehension-required 0xc1
#      (alone and after a PSC): gtpu.ext_unsupported + a Supported
#      Extension Headers Notification to the source port listing 0x40 0x85;
#      Echo Request over IPv4 and IPv6: Echo Response to the source port,
#      same sequence number, Recovery 0; unknown TEIDs over IPv4 and IPv6:
#      gtpu.unknown_teid + an Error Indication to port 2152 (TEID Data I =
#      that TEID, GTP-U Peer Address = the endpoint); spoofed inner
#      sources (v4 and v6): gtpu.inner_spoofed; truncated, lying lengths,
#      version 2, PT 0, zero-length and overlong extension headers:
#      gtpu.malformed; message types 3 and 0x80: gtpu.unknown_message;
#      T-PDUs that are not a whole IP packet: gtpu.inner_malformed; outer
#      IPv6 UDP checksum 0: udp.ip6_zero_checksum; port 2152 of 192.168.0.11
#      and fd00::11: ICMP port unreachable; an Error Indication, End Marker,
#      Echo Response and Supported Extension Headers Notification from the
#      peer: counted, unanswered, and session 3 marked error_indication;
#      gate_ul / gate_dl closed: gtpu.gate_closed; s1 pings the UE (v4 and
#      v6) and the base station answers: every ping answered; a burst of
#      RL_COUNT unknown TEIDs: every one dropped, Error Indications limited
#      to the burst (error_rate / 2) plus the refill over the burst
#   3. tshark on br0 (from the gateways' start to the end of check 5) with
#      IP/UDP/TCP checksum validation: every frame xgw sends (source MAC gw1's or
#      gw2's) dissects with no malformed frame, checksum complaint or
#      warning; G-PDUs with the expected TEID per direction, a PSC (PDU type
#      0, the session's QFI) exactly on the sessions with a qfi, UDP dst
#      2152, src port >= 0xc000, IPv4 UDP checksum 0, IPv6 UDP checksum
#      good; Echo Responses (sequence numbers sent, Recovery 0), Error
#      Indications (TEID Data I sent, GTP-U Peer Address = outer source),
#      Supported Extension Headers Notifications (2 types: 0x40 0x85); each
#      kind's count equals the gateway's gtp stats counter over the capture
#      (tcpdump must lose nothing); outer TTL / hop limit 64, inner 63 (the
#      hosts' 64 less one hop); no outer IPv4 or IPv6 fragment.
#      End Markers (TEIDs the churn's path switches and deletions ended,
#      2152 -> 2152, to the base station, no extension header); xgw must
#      send no GTP-U message type but these five.
#   4. run time: while a steady UDP stream s1 -> s2 (session 1) flows,
#      session 4 is added, used (echo requests from the base station, the
#      replies come back with the new peer TEID), modified to a new TEID
#      (the old one gets Error Indications, the new one works), deleted
#      (Error Indications), CHURN_ROUNDS times, counters checked per round;
#      the modification and the deletion are made with --end-marker: the
#      base station gets one End Marker with the old peer TEID each;
#      the stream loses nothing (receiver count = sent, session 1 on gw1
#      dl and gw2 ul = sent)
#   5. MBR: gw1's session 1 with mbr_dl 10 Mbit/s holds an iperf3 UDP flow
#      offered at 20 Mbit/s to within 5 % of 10 Mbit/s at the receiver
#      (gtpu.mbr_exceeded = the session's drops > 0); without the MBR the
#      same flow arrives at its offered rate (within 5 %), no mbr drop
#   6. both gateways: totals rx + emitted = tx + local + dropped + pending,
#      pending 0, SIGTERM exits 0, no XDP program left
#   7. path management: both gateways again with `[gtpu] peers` (gw1: gw2
#      over IPv4 and IPv6 and 192.168.0.77, which nobody has; gw2: gw1),
#      echo every second, 200 ms to answer, two tries: `xgw gtp peers`
#      shows gw2's and gw1's paths up, .77's down (no response); gw2
#      stopped, gw1's two paths to it go down (one more failure each);
#      tshark on the underlay: every Echo Request / Response clean, TEID 0,
#      2152 -> 2152, each response answers a captured request (same
#      sequence number, Recovery 0), gw1's requests = its echo_request_out
#      (none to .77: its address never resolves, so none leaves)
# Knobs: PINGS=3  TCP_BYTES=4194304  CASE_COUNT=5  RL_COUNT=200
#        CHURN_ROUNDS=5  CHURN_K=3  STREAM_PPS=500  MBR_SECS=5
#        XT_KEEP=1 (keep namespaces, captures, logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=gtpu
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in iperf3 tcpdump tshark; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
"$XT_PY" -c 'import scapy.contrib.gtp' 2>/dev/null || die "python3-scapy (with scapy.contrib.gtp) missing for $XT_PY (run tests/run.sh)"

PINGS=${PINGS:-3}
TCP_BYTES=${TCP_BYTES:-4194304}
CASE_COUNT=${CASE_COUNT:-5}
RL_COUNT=${RL_COUNT:-200}
CHURN_ROUNDS=${CHURN_ROUNDS:-5}
CHURN_K=${CHURN_K:-3}
STREAM_PPS=${STREAM_PPS:-500}
MBR_SECS=${MBR_SECS:-5}
ERROR_RATE=100
GTP_MTU=1436
T0=$(date +%s)

NS_S1=$(xt_ns s1); NS_G1=$(xt_ns g1); NS_U=$(xt_ns u); NS_G2=$(xt_ns g2); NS_S2=$(xt_ns s2)
MAC_S1=02:51:00:00:00:10; MAC_G1L=02:01:00:00:00:01; MAC_G1W=02:01:00:00:00:02
MAC_S2=02:52:00:00:00:10; MAC_G2L=02:02:00:00:00:01; MAC_G2W=02:02:00:00:00:02
SOCK1=$XT_WORK/gw1.sock; SOCK2=$XT_WORK/gw2.sock
# "kind|family|s1 addr|s2 addr|session id (on both gateways)"
KINDS=(
  "4over4|4|10.1.5.10|10.1.8.10|1"
  "6over4|6|2001:db8:5::10|2001:db8:8::10|1"
  "4over6|4|10.2.5.10|10.2.8.10|2"
  "6over6|6|2001:db8:15::10|2001:db8:18::10|2"
)

# ---------------------------------------------------------------------------
step "lab: s1 - gw1 (xgw) - underlay bridge (base station) - gw2 (xgw) - s2"
xt_ns_add "$NS_S1" ipv6; xt_ns_add "$NS_S2" ipv6
# IPv6 off where xgw runs; on in the underlay (the base station has fd00::99)
xt_ns_add "$NS_G1"; xt_ns_add "$NS_G2"; xt_ns_add "$NS_U" ipv6
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
ip -n "$NS_U" addr add 192.168.0.99/24 dev br0
ip -n "$NS_U" -6 addr add fd00::99/64 dev br0 nodad
# the base station's frames leave with their UDP checksums filled in
ip netns exec "$NS_U" ethtool -K br0 tx off >/dev/null 2>&1 || true
xt_host_if "$NS_S1" s1 10.1.5.10/24 "$MAC_S1"
xt_host_if "$NS_S2" s2 10.1.8.10/24 "$MAC_S2"
ip -n "$NS_S1" addr add 10.2.5.10/24 dev s1
ip -n "$NS_S2" addr add 10.2.8.10/24 dev s2
for a in 2001:db8:5::10/64 2001:db8:15::10/64; do ip -n "$NS_S1" -6 addr add "$a" dev s1 nodad; done
for a in 2001:db8:8::10/64 2001:db8:8::11/64 2001:db8:18::10/64; do ip -n "$NS_S2" -6 addr add "$a" dev s2 nodad; done
ip -n "$NS_S1" route add default via 10.1.5.1
ip -n "$NS_S1" route add 10.2.8.0/24 via 10.2.5.1 src 10.2.5.10
ip -n "$NS_S1" -6 route add default via 2001:db8:5::1
ip -n "$NS_S1" -6 route add 2001:db8:18::/64 via 2001:db8:15::1 src 2001:db8:15::10
ip -n "$NS_S2" route add default via 10.1.8.1
ip -n "$NS_S2" route add 10.2.5.0/24 via 10.2.8.1 src 10.2.8.10
ip -n "$NS_S2" -6 route add default via 2001:db8:8::1
ip -n "$NS_S2" -6 route add 2001:db8:15::/64 via 2001:db8:18::1 src 2001:db8:18::10
for ns in "$NS_S1" "$NS_S2"; do
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
done

# write_config FILE SIDE(1|2)
write_config() {
  local f=$1 side=$2 me lan4 lan6 wan4 wan6 lanif wanif
  if [[ $side == 1 ]]; then
    me=1; lanif=g1l; wanif=g1w
    lan4='"10.1.5.1/24", "10.2.5.1/24"'; lan6='"2001:db8:5::1/64", "2001:db8:15::1/64"'
    wan4='"192.168.0.1/24", "192.168.0.11/32"'; wan6='"fd00::1/64", "fd00::11/128"'
  else
    me=2; lanif=g2l; wanif=g2w
    lan4='"10.1.8.1/24", "10.2.8.1/24"'; lan6='"2001:db8:8::1/64", "2001:db8:18::1/64"'
    wan4='"192.168.0.2/24"'; wan6='"fd00::2/64"'
  fi
  cat >"$f" <<EOF
# written by tests/netns/gtpu.sh (gateway $me)
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
ipv4 = [$wan4]
ipv6 = [$wan6]

[gtpu]
endpoints = ["192.168.0.$me", "fd00::$me"]
interface = "gtp0"
mtu = $GTP_MTU
error_rate = $ERROR_RATE
EOF
  if [[ $side == 1 ]]; then
    cat >>"$f" <<'EOF'

[[gtpu.sessions]]
id = 1
teid = 0x100
ue4 = "10.1.8.10"
ue6 = "2001:db8:8::/64"
peer = "192.168.0.2"
peer_teid = 0x200
qfi = 9
instance = "site2-v4"

[[gtpu.sessions]]
id = 2
teid = 0x101
ue4 = "10.2.8.10"
ue6 = "2001:db8:18::/64"
peer = "fd00::2"
peer_teid = 0x201
instance = "site2-v6"

[[gtpu.sessions]]
id = 3
teid = 0x300
ue4 = "10.3.0.10"
ue6 = "2001:db8:30::/64"
peer = "192.168.0.99"
peer_teid = 0x999
local = "192.168.0.1"
qfi = 7
gate_ul = true
gate_dl = true
instance = "internet"
EOF
    for p in 10.1.8.0/24 2001:db8:8::/64 10.2.8.0/24 2001:db8:18::/64 10.3.0.0/24 2001:db8:30::/64 10.4.0.0/24; do
      printf '\n[[routes]]\nprefix = "%s"\ninterface = "gtp0"\n' "$p" >>"$f"
    done
  else
    cat >>"$f" <<'EOF'

[[gtpu.sessions]]
id = 1
teid = 0x200
ue4 = "10.1.5.10"
ue6 = "2001:db8:5::/64"
peer = "192.168.0.1"
peer_teid = 0x100

[[gtpu.sessions]]
id = 2
teid = 0x201
ue4 = "10.2.5.10"
ue6 = "2001:db8:15::/64"
peer = "fd00::1"
peer_teid = 0x101
qfi = 5
EOF
    for p in 10.1.5.0/24 2001:db8:5::/64 10.2.5.0/24 2001:db8:15::/64; do
      printf '\n[[routes]]\nprefix = "%s"\ninterface = "gtp0"\n' "$p" >>"$f"
    done
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
# gtpstats N FILE: xgw gtp stats --json of gateway N
gtpstats() { xctl "$1" gtp stats --json >"$2" || die "xgw gtp stats (gw$1) failed: $(cat "$2")"; }
# session N ID FILE: xgw gtp session show ID --json of gateway N
session() { xctl "$1" gtp session show "$2" --json >"$3" || die "xgw gtp session show $2 (gw$1) failed: $(cat "$3")"; }
# scount FILE COUNTER: one counter of a `gtp session show --json` answer
scount() { xt_json "$1" "d['session']['counters']['$2']"; }
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
cat >"$XT_WORK/stream.py" <<'EOF'
# stream.py DST PORT PPS STOP_FILE OUT_JSON: udp_send.py's datagrams (b"XGW1",
# seq u32, filler seq & 0xff; 200 bytes) paced at PPS, until STOP_FILE
# exists; writes how many were sent.
import json, os, socket, struct, sys, time
dst, port, pps, stop, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
s.connect((dst, port))
i = errors = 0
t0 = time.perf_counter()
while not os.path.exists(stop):
    due = t0 + i / pps
    d = due - time.perf_counter()
    if d > 0:
        time.sleep(d)
    msg = b"XGW1" + struct.pack("!I", i) + bytes((i & 0xFF,)) * 192
    while True:
        try:
            s.send(msg)
            break
        except OSError:
            errors += 1
            time.sleep(0.0005)
    i += 1
json.dump(dict(sent=i, send_errors=errors, seconds=round(time.perf_counter() - t0, 3)), open(out, "w"))
print(i)
EOF
cat >"$XT_WORK/bs.py" <<'EOF'
# bs.py CONF_JSON MODE: the scapy "base station" on the underlay (ns u),
# peer of gw1's session 3 (and of session 4 in the churn). MODE "signal":
# check 2's cases; "churn": check 4's session churn. Messages are built
# with scapy's contrib GTP layer (or by hand where the case is a broken or
# unusual one) and sent from ordinary UDP sockets; answers are read from
# them and parsed with scapy (the Supported Extension Headers
# Notification's IE by hand: scapy 2.5 gives IE 141 a two-octet length,
# TS 29.281 §8.5 one). Each case compares every drop reason, every
# `xgw gtp stats` counter and every session counter of gw1 before and
# after (0 unless the case names it). Prints PASS/FAIL/INFO lines and
# records what it sent in CONF["sent"] (for dissect.py).
import json, os, select, socket, struct, subprocess, sys, time
from scapy.all import Ether, IP, IPv6, UDP, ICMP, ICMPv6EchoRequest, ICMPv6EchoReply, Raw, conf, raw, sendp
from scapy.contrib.gtp import (GTP_U_Header, GTPHeader, GTPPDUSessionContainer, GTPEchoRequest,
                               GTPEchoResponse, GTPErrorIndication, IE_TEIDI, IE_GSNAddress, IE_Recovery)
conf.verb = 0
C = json.load(open(sys.argv[1]))
MODE = sys.argv[2]
N = C["n"]
UE4, UE6, S1_4, S1_6 = C["ue4"], C["ue6"], C["s1_4"], C["s1_6"]
TEID, PTEID, QFI = C["teid"], C["peer_teid"], C["qfi"]
EP4, EP6 = (C["ep4"], 2152), (C["ep6"], 2152)
FAILS = 0


def out(kind, msg):
    print(kind + " " + msg, flush=True)


def check(cond, what):
    global FAILS
    out("PASS" if cond else "FAIL", what)
    if not cond:
        FAILS += 1
    return cond


def fmt(d):
    return "{" + ", ".join("%s: %s" % (k, d[k]) for k in sorted(d)) + "}"


# --- gw1's control socket (a file: reachable from this namespace)
def xgw(*args):
    r = subprocess.run([C["xgw"], *args, "--socket", C["sock"]], capture_output=True, text=True, timeout=15)
    return r.returncode, (r.stdout + r.stderr).strip()


def xjson(*args):
    rc, o = xgw(*args, "--json")
    if rc:
        print("FAIL xgw %s --json: exit %d: %s" % (" ".join(args), rc, o), flush=True)
        sys.exit(1)
    return json.loads(o)


def snap():
    st, g, sl = xjson("stats"), xjson("gtp", "stats"), xjson("gtp", "session", "list")
    return {"drops": {k: v["count"] for k, v in st["drops"].items()}, "totals": st["totals"],
            "gtp": g["counters"], "sess": {s["id"]: s["counters"] for s in sl["sessions"]},
            "ei": {s["id"]: s["error_indication"] for s in sl["sessions"]}}


def settle(busy=False):
    """gw1's counters once they stop moving (two equal reads 300 ms apart);
    busy: session 1 carries a stream, so only what it does not move
    (drops, gtp stats but G-PDUs, the other sessions) has to stand still."""
    prev = cur = None
    for _ in range(40):
        time.sleep(0.3)
        cur = snap()
        if busy:
            k = json.dumps([cur["drops"], {x: v for x, v in cur["gtp"].items() if not x.startswith("gpdu_")},
                            {i: v for i, v in cur["sess"].items() if i != 1}], sort_keys=True)
        else:
            k = json.dumps([cur["totals"], cur["gtp"], cur["sess"]], sort_keys=True)
        if k == prev:
            return cur
        prev = k
    out("INFO", "gw1's counters still moving after 12 s")
    return cur


def deltas(a, b, name, drops=None, gtp=None, sess=None, ignore_gtp=(), ignore_sess=()):
    """Every drop reason, gtp stats counter and session counter moved by what
    the case says, and nothing else moved."""
    drops, gtp, sess = drops or {}, gtp or {}, sess or {}
    got = {r: b["drops"].get(r, 0) - a["drops"].get(r, 0) for r in set(a["drops"]) | set(b["drops"])}
    got = {r: v for r, v in got.items() if v}
    want = {r: v for r, v in drops.items() if v}
    check(got == want, "%s: gw1 drops %s (want %s)" % (name, fmt(got), fmt(want)))
    dt = b["totals"]["dropped"] - a["totals"]["dropped"]
    check(dt == sum(want.values()), "%s: gw1 totals.dropped +%d (want +%d)" % (name, dt, sum(want.values())))
    gd = {k: b["gtp"][k] - a["gtp"].get(k, 0) for k in b["gtp"] if k not in ignore_gtp}
    gd = {k: v for k, v in gd.items() if v}
    gw = {k: v for k, v in gtp.items() if v}
    check(gd == gw, "%s: gw1 gtp stats %s (want %s)" % (name, fmt(gd), fmt(gw)))
    sd = {}
    for sid, cs in b["sess"].items():
        if sid in ignore_sess:
            continue
        for k, v in cs.items():
            d = v - a["sess"].get(sid, {}).get(k, 0)
            if d:
                sd["%s.%s" % (sid, k)] = d
    sw = {"%s.%s" % k: v for k, v in sess.items() if v}
    check(sd == sw, "%s: gw1 session counters %s (want %s)" % (name, fmt(sd), fmt(sw)))


# --- sockets: S* on port 2152 (G-PDUs, Error Indications), P* on 40000
def usock(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, port))
    return s


S4 = usock(socket.AF_INET, C["bs4"], 2152)
S6 = usock(socket.AF_INET6, C["bs6"], 2152)
P4 = usock(socket.AF_INET, C["bs4"], 40000)
P6 = usock(socket.AF_INET6, C["bs6"], 40000)
SOCKS = {S4: "S4", S6: "S6", P4: "P4", P6: "P6"}


def collect(want, timeout=4.0, grace=0.4, on_msg=None):
    """What arrives on the sockets: [(socket name, data, source)], until
    `want` messages came and then `grace` s without one, or `timeout`."""
    got = []
    t_end = time.monotonic() + timeout
    last = time.monotonic()
    while True:
        now = time.monotonic()
        limit = t_end if len(got) < want else min(t_end, last + grace)
        if now >= limit:
            return got
        r, _, _ = select.select(list(SOCKS), [], [], limit - now)
        for s in r:
            data, src = s.recvfrom(65535)
            last = time.monotonic()
            got.append((SOCKS[s], data, src[:2], last))
            if on_msg:
                on_msg(SOCKS[s], data, src)


def drain():
    for s in SOCKS:
        s.setblocking(False)
        n = 0
        try:
            while True:
                s.recv(65535)
                n += 1
        except BlockingIOError:
            pass
        s.setblocking(True)
        if n:
            out("INFO", "%d stray datagrams on %s before the case" % (n, SOCKS[s]))


# --- what is sent
def record(**kw):
    p = C["sent"]
    d = json.load(open(p)) if os.path.exists(p) else {}
    for k, v in kw.items():
        if isinstance(v, list):
            d.setdefault(k, []).extend(v)
        else:
            d[k] = d.get(k, 0) + v
    json.dump(d, open(p, "w"))


def echo_inner(v6, seq, ident, src=None, dst=None):
    if v6:
        return raw(IPv6(src=src or UE6, dst=dst or S1_6, hlim=64) / ICMPv6EchoRequest(id=ident, seq=seq) / Raw(b"xgw-gtpu-bs!"))
    return raw(IP(src=src or UE4, dst=dst or S1_4, ttl=64) / ICMP(id=ident, seq=seq) / Raw(b"xgw-gtpu-bs!"))


def gpdu(teid, inner):
    return raw(GTP_U_Header(teid=teid, gtp_type=255) / Raw(inner))


def gpdu_psc(teid, inner, qfi=QFI):
    return raw(GTP_U_Header(teid=teid, gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=qfi) / Raw(inner))


def chain(teid, exts, payload, seq=None, npdu=None, mtype=255, flags=None):
    """A GTP-U message built by hand: exts = [(type, content)], each
    content 2 octets short of a multiple of 4."""
    body = b""
    for i, (t, c) in enumerate(exts):
        assert (len(c) + 2) % 4 == 0
        nxt = exts[i + 1][0] if i + 1 < len(exts) else 0
        body += bytes([(len(c) + 2) // 4]) + c + bytes([nxt])
    f = 0x30 | (0x04 if exts else 0) | (0x02 if seq is not None else 0) | (0x01 if npdu is not None else 0)
    if flags is not None:
        f = flags
    opt = struct.pack("!HBB", seq or 0, npdu or 0, exts[0][0] if exts else 0) if f & 7 else b""
    m = opt + body + payload
    return struct.pack("!BBHI", f, mtype, len(m), teid) + m


def hdr_len(b):
    n = 8
    if b[0] & 7:
        n = 12
        nxt = b[11] if b[0] & 4 else 0
        while nxt:
            n += b[n] * 4
            nxt = b[n - 1]
    return n


def dl_problems(data, src, teid, qfi):
    """A downlink G-PDU from gw1 to session `teid`: what is wrong with it,
    and its T-PDU."""
    p = []
    h = GTP_U_Header(data)
    if (h.version, h.PT, h.gtp_type) != (1, 1, 255):
        p.append("version/PT/type %s/%s/%s" % (h.version, h.PT, h.gtp_type))
    if h.teid != teid:
        p.append("TEID %#x (want %#x)" % (h.teid, teid))
    if h.length != len(data) - 8:
        p.append("length %d for %d octets" % (h.length, len(data) - 8))
    if src[0] != EP4[0] or not 0xc000 <= src[1] <= 0xffff:
        p.append("from %s:%d (want %s, a port >= 0xc000)" % (src[0], src[1], EP4[0]))
    psc = h.getlayer(GTPPDUSessionContainer)
    if qfi is None:
        if h.E or psc is not None:
            p.append("has a PDU Session Container (the session has no qfi)")
    elif psc is None:
        p.append("no PDU Session Container")
    elif (psc.type, psc.QFI, psc.NextExtHdr) != (0, qfi, 0):
        p.append("PSC type/QFI/next %s/%s/%s (want 0/%d/0)" % (psc.type, psc.QFI, psc.NextExtHdr, qfi))
    return p, data[hdr_len(data):]


def echo_reply_key(inner):
    """(id, seq, src, dst) of an ICMP / ICMPv6 echo reply, or None."""
    if inner[:1] and inner[0] >> 4 == 4:
        x = IP(inner)
        if x.haslayer(ICMP) and x[ICMP].type == 0:
            return (x[ICMP].id, x[ICMP].seq, x.src, x.dst)
    elif inner[:1] and inner[0] >> 4 == 6:
        x = IPv6(inner)
        if x.haslayer(ICMPv6EchoReply):
            return (x[ICMPv6EchoReply].id, x[ICMPv6EchoReply].seq, x.src, x.dst)
    return None


IDENT = [0x4700]


def uplink_echo(name, build, v6, a, teid=TEID, ptei=PTEID, qfi=QFI, ue=None, sid=3):
    """N echo requests from the UE to s1 in G-PDUs; s1's replies must come
    back as downlink G-PDUs. Returns the snapshot after."""
    IDENT[0] += 1
    ident = IDENT[0]
    inners = [echo_inner(v6, i, ident, src=ue) for i in range(N)]
    drain()
    for x in inners:
        S4.sendto(build(x), EP4)
    got = collect(N)
    bad, keys = [], set()
    for sk, data, src, _ in got:
        p, inner = dl_problems(data, src, ptei, qfi) if sk == "S4" else (["on %s" % sk], b"")
        k = echo_reply_key(inner) if not p else None
        if k is None or k[0] != ident:
            bad.append("; ".join(p) or "not one of our echo replies")
        else:
            keys.add(k[1])
    check(not bad and keys == set(range(N)),
          "%s: %d/%d echo replies came back as G-PDUs with TEID %#x%s%s" % (
              name, len(keys), N, ptei, ", PSC QFI %d" % qfi if qfi is not None else ", no PSC",
              (": " + " | ".join(bad[:3])) if bad else ""))
    b = settle()
    nb = sum(len(x) for x in inners)
    deltas(a, b, name, gtp={"gpdu_in": N, "gpdu_out": N},
           sess={(sid, "ul_packets"): N, (sid, "ul_bytes"): nb, (sid, "dl_packets"): N, (sid, "dl_bytes"): nb})
    return b


def no_answer(name, got):
    check(not got, "%s: no answer (%d datagrams: %s)" % (name, len(got), ", ".join("%s %s" % (g[0], g[1][:4].hex()) for g in got[:3])))


def sehn_problems(data, src):
    p = []
    if src != EP4:
        p.append("from %s:%d" % src)
    if len(data) < 12 or data[0] != 0x32 or data[1] != 31:
        return ["not a Supported Extension Headers Notification with S set: %s" % data[:12].hex()]
    ln, teid = struct.unpack_from("!HI", data, 2)
    if ln != len(data) - 8 or teid != 0:
        p.append("length %d / TEID %#x" % (ln, teid))
    ies = data[12:]
    if len(ies) < 2 or ies[0] != 141 or ies[1] != len(ies) - 2 or list(ies[2:]) != [0x40, 0x85]:
        p.append("IE list %s (want 8d 02 40 85)" % ies.hex())
    return p


def ei_problems(data, src, sk, want_sock, teids, peer):
    p = []
    if sk != want_sock:
        p.append("arrived on %s, not on port 2152" % sk)
    if src[0] != peer or src[1] != 2152:
        p.append("from %s:%d" % src)
    h = GTP_U_Header(data)
    if (h.gtp_type, h.teid, h.S, h.length) != (26, 0, 1, len(data) - 8):
        p.append("type/TEID/S/length %s/%#x/%s/%s" % (h.gtp_type, h.teid, h.S, h.length))
        return p, None
    ies = h[GTPErrorIndication].IE_list
    t = [i.TEIDI for i in ies if isinstance(i, IE_TEIDI)]
    g = [i for i in ies if isinstance(i, IE_GSNAddress)]
    addr = None
    if g:
        addr = g[0].ipv4_address if g[0].length == 4 else g[0].ipv6_address if g[0].length == 16 else None
    if len(t) != 1 or t[0] not in teids:
        p.append("TEID Data I %s" % [hex(x) for x in t])
    if len(g) != 1 or addr != peer:
        p.append("GTP-U Peer Address %s (want %s)" % (addr, peer))
    return p, (t[0] if t else None)


def em_problems(got, teid):
    """An End Marker (TS 29.281 §7.3.2) to `teid` on S4 from EP4, alone."""
    if len(got) != 1:
        return ["%d messages: %s" % (len(got), [g[1][:12].hex() for g in got])]
    sk, data, src, _ = got[0]
    p = []
    if sk != "S4" or src != EP4:
        p.append("on %s from %s:%d" % ((sk,) + tuple(src)))
    h = GTP_U_Header(data)
    if (h.version, h.PT, h.E, h.S, h.PN, h.gtp_type, h.teid, h.length, len(data)) != (1, 1, 0, 0, 0, 254, teid, 0, 8):
        p.append("v/PT/E/S/PN/type/TEID/length/size %s/%s/%s/%s/%s/%s/%#x/%s/%d (want 1/1/0/0/0/254/%#x/0/8)"
                 % (h.version, h.PT, h.E, h.S, h.PN, h.gtp_type, h.teid, h.length, len(data), teid))
    return p


def signal():
    a = settle()
    # 1. valid uplink, four ways of writing the header
    a = uplink_echo("G-PDU without extension headers (scapy), inner IPv4", lambda x: gpdu(TEID, x), False, a)
    a = uplink_echo("G-PDU with a UL PDU Session Container QFI 7 (scapy), inner IPv4", lambda x: gpdu_psc(TEID, x), False, a)
    n = [0]

    def sp_chain(x):
        n[0] += 1
        return chain(TEID, [(0x85, bytes([0x10, QFI])), (0x21, b"\xaa\xbb"), (0x41, bytes(range(6)))], x, seq=n[0], npdu=n[0] & 0xff)
    a = uplink_echo("G-PDU with S, PN and a chain PSC -> 0x21 -> 0x41 (not comprehension-required: skipped), inner IPv6", sp_chain, True, a)
    a = uplink_echo("G-PDU with the UDP Port extension header 0x40, inner IPv6",
                    lambda x: chain(TEID, [(0x40, struct.pack("!H", 2152))], x), True, a)

    # 2. comprehension-required unknown extension header
    name = "unknown comprehension-required extension header 0xc1 (alone, and after a PSC)"
    drain()
    for i in range(N):
        P4.sendto(chain(TEID, [(0xc1, b"\x00\x00")], echo_inner(False, i, 0x4800)), EP4)
        P4.sendto(chain(TEID, [(0x85, bytes([0x10, QFI])), (0xc1, b"\x01\x02")], echo_inner(False, i, 0x4801)), EP4)
    got = collect(2 * N)
    bad = [("on %s" % g[0]) if g[0] != "P4" else "; ".join(sehn_problems(g[1], g[2])) for g in got]
    bad = [x for x in bad if x]
    check(len(got) == 2 * N and not bad,
          "%s: %d Supported Extension Headers Notifications to the source port 40000 (want %d), each listing 0x40 0x85%s"
          % (name, len(got), 2 * N, (": " + " | ".join(bad[:3])) if bad else ""))
    b = settle()
    deltas(a, b, name, drops={"gtpu.ext_unsupported": 2 * N}, gtp={"ext_notification_out": 2 * N})
    a = b

    # 3. echo
    for fam, sock, ep, base in (("IPv4", P4, EP4, 0x1000), ("IPv6", P6, EP6, 0x2000)):
        name = "Echo Request over %s" % fam
        drain()
        seqs = [base + i for i in range(N)]
        for s in seqs:
            sock.sendto(raw(GTPHeader(S=1, seq=s, gtp_type=1, teid=0) / GTPEchoRequest()), ep)
        got = collect(N)
        bad, seen = [], set()
        for sk, data, src, _ in got:
            h = GTPHeader(data)
            ies = h[GTPEchoResponse].IE_list if h.haslayer(GTPEchoResponse) else []
            rec = [i.restart_counter for i in ies if isinstance(i, IE_Recovery)]
            if sk != SOCKS[sock] or src != ep:
                bad.append("on %s from %s" % (sk, src))
            elif (h.gtp_type, h.teid, h.S, h.length, rec, len(ies)) != (2, 0, 1, len(data) - 8, [0], 1):
                bad.append("type/TEID/S/length/Recovery %s/%#x/%s/%s/%s" % (h.gtp_type, h.teid, h.S, h.length, rec))
            else:
                seen.add(h.seq)
        check(not bad and seen == set(seqs),
              "%s: %d Echo Responses to the request's port, same sequence numbers, one Recovery IE = 0 (want %d)%s"
              % (name, len(seen), N, (": " + " | ".join(bad[:3])) if bad else ""))
        record(echo_seqs=seqs)
        b = settle()
        deltas(a, b, name, gtp={"echo_request_in": N, "echo_response_out": N})
        a = b

    # 4. unknown TEIDs: Error Indication to port 2152 of the sender
    for fam, sock, ep, want, base in (("IPv4", P4, EP4, "S4", 0xdead0000), ("IPv6", P6, EP6, "S6", 0xdead1000)):
        name = "G-PDUs to unknown TEIDs over %s (sent from port 40000)" % fam
        drain()
        teids = [base + i for i in range(N)]
        for t in teids:
            sock.sendto(gpdu(t, echo_inner(False, 0, 0x4802)), ep)
        got = collect(N)
        bad, seen = [], set()
        for sk, data, src, _ in got:
            p, t = ei_problems(data, src, sk, want, teids, ep[0])
            if p:
                bad.append("; ".join(p))
            else:
                seen.add(t)
        check(not bad and seen == set(teids),
              "%s: %d Error Indications to port 2152 with TEID Data I = the TEID and GTP-U Peer Address %s (want %d)%s"
              % (name, len(seen), ep[0], N, (": " + " | ".join(bad[:3])) if bad else ""))
        record(unknown_teids=teids)
        b = settle()
        deltas(a, b, name, drops={"gtpu.unknown_teid": N}, gtp={"unknown_teid": N, "error_indication_out": N})
        a = b

    # 5. spoofed inner sources
    name = "spoofed inner sources (10.3.0.66, 2001:db8:31::66)"
    drain()
    for i in range(N):
        S4.sendto(gpdu(TEID, echo_inner(False, i, 0x4803, src="10.3.0.66")), EP4)
        S4.sendto(gpdu(TEID, echo_inner(True, i, 0x4803, src="2001:db8:31::66")), EP4)
    no_answer(name, collect(0, grace=0.5))
    b = settle()
    deltas(a, b, name, drops={"gtpu.inner_spoofed": 2 * N}, sess={(3, "drops"): 2 * N})
    a = b

    # 6. malformed GTP-U
    x = echo_inner(False, 0, 0x4804)
    bad_msgs = {
        "5 octets": struct.pack("!BBHI", 0x30, 255, len(x), TEID)[:5],
        "length 100 beyond the datagram": struct.pack("!BBHI", 0x30, 255, len(x) + 100, TEID) + x,
        "version 2": struct.pack("!BBHI", 0x50, 255, len(x), TEID) + x,
        "PT 0 (GTP')": struct.pack("!BBHI", 0x20, 255, len(x), TEID) + x,
        "extension header of length 0": chain(TEID, [(0x85, b"\x10\x07")], x)[:12] + b"\x00\x10\x07\x00" + x,
        "extension header beyond the message": struct.pack("!BBHI", 0x34, 255, 8, TEID) + b"\x00\x00\x00\x85" + b"\x05\x10\x07\x00",
        "S set, length 2": struct.pack("!BBHI", 0x32, 255, 2, TEID) + b"\x00\x01\x00\x00",
    }
    name = "malformed GTP-U (%s)" % ", ".join(bad_msgs)
    drain()
    for m in bad_msgs.values():
        for _ in range(N):
            S4.sendto(m, EP4)
    no_answer(name, collect(0, grace=0.5))
    b = settle()
    deltas(a, b, name, drops={"gtpu.malformed": len(bad_msgs) * N})
    a = b

    # 7. unknown message types
    name = "message types 3 and 0x80"
    drain()
    for _ in range(N):
        S4.sendto(chain(0, [], b"", seq=9, mtype=3), EP4)
        S4.sendto(chain(TEID, [], x, mtype=0x80), EP4)
    no_answer(name, collect(0, grace=0.5))
    b = settle()
    deltas(a, b, name, drops={"gtpu.unknown_message": 2 * N})
    a = b

    # 8. T-PDUs that are not a whole IP packet
    x6 = echo_inner(True, 0, 0x4805)
    tpdus = {"IPv4 cut to 10 octets": x[:10], "IPv6 cut to 30 octets": x6[:30], "empty": b"", "version 5": bytes([0x55]) + x[1:]}
    name = "T-PDUs that are not a whole IPv4/IPv6 packet (%s)" % ", ".join(tpdus)
    drain()
    for t in tpdus.values():
        for _ in range(N):
            S4.sendto(gpdu(TEID, t), EP4)
    no_answer(name, collect(0, grace=0.5))
    b = settle()
    deltas(a, b, name, drops={"gtpu.inner_malformed": len(tpdus) * N})
    a = b

    # 9. outer IPv6 UDP checksum 0 (raw frames: a socket would fill it in)
    name = "G-PDUs over IPv6 with UDP checksum 0"
    drain()
    fr = Ether(dst=C["gw1_mac"]) / IPv6(src=C["bs6"], dst=C["ep6"], hlim=64) / UDP(sport=2152, dport=2152, chksum=0) / Raw(gpdu(TEID, x6))
    sendp([fr] * N, iface=C["iface"], inter=0.002)
    no_answer(name, collect(0, grace=0.5))
    b = settle()
    deltas(a, b, name, drops={"udp.ip6_zero_checksum": N})
    a = b

    # 10. port 2152 of our addresses that are not endpoints
    for fam, af, addr, src in (("IPv4", socket.AF_INET, C["other4"], C["bs4"]), ("IPv6", socket.AF_INET6, C["other6"], C["bs6"])):
        name = "Echo Requests to port 2152 of %s (ours, not an endpoint)" % addr
        s = socket.socket(af, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.connect((addr, 2152))
        s.settimeout(2.0)
        refused, other = 0, []
        for i in range(N):
            s.send(raw(GTPHeader(S=1, seq=0x3000 + i, gtp_type=1, teid=0) / GTPEchoRequest()))
            try:
                other.append(s.recv(65535)[:4].hex())
            except ConnectionRefusedError:
                refused += 1
            except socket.timeout:
                other.append("timeout")
        s.close()
        check(refused == N and not other, "%s: %d/%d answered with ICMP port unreachable%s"
              % (name, refused, N, (" (else: %s)" % ", ".join(other[:3])) if other else ""))
        record(port_unreachable=N)
        b = settle()
        deltas(a, b, name)
        a = b

    # 11. signalling from the peer: counted and consumed
    name = "Error Indication, End Marker, Echo Response, Supported Extension Headers Notification from the peer"
    check(a["ei"].get(3) is False, "session 3 not marked error_indication before (%s)" % a["ei"].get(3))
    drain()
    for i in range(N):
        S4.sendto(raw(GTPHeader(S=1, seq=100 + i, gtp_type=26, teid=0) / GTPErrorIndication(
            IE_list=[IE_TEIDI(TEIDI=PTEID), IE_GSNAddress(length=4, ipv4_address=C["bs4"])])), EP4)
        S4.sendto(raw(GTP_U_Header(teid=TEID, gtp_type=254)), EP4)
        S4.sendto(raw(GTPHeader(S=1, seq=200 + i, gtp_type=2, teid=0) / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=3)])), EP4)
        S4.sendto(chain(0, [], bytes([141, 2, 0x40, 0x85]), seq=300 + i, mtype=31), EP4)
    no_answer(name, collect(0, grace=0.5))
    b = settle()
    deltas(a, b, name, gtp={"error_indication_in": N, "end_marker_in": N, "echo_response_in": N, "ext_notification_in": N})
    for _ in range(20):
        if b["ei"].get(3):
            break
        time.sleep(0.2)
        b = snap()
    check(b["ei"].get(3) is True and not any(v for k, v in b["ei"].items() if k != 3),
          "%s: session 3 (and only it) marked error_indication: %s" % (name, b["ei"]))
    a = b

    # 12. gates
    base = ["--teid", hex(TEID), "--peer", C["bs4"], "--peer-teid", hex(PTEID), "--ue4", UE4,
            "--ue6", C["ue6_prefix"], "--qfi", str(QFI)]
    for gate in ("ul", "dl"):
        name = "gate_%s closed" % gate
        rc, o = xgw("gtp", "session", "mod", "3", *base, "--gate-" + gate, "closed")
        check(rc == 0, "xgw gtp session mod 3 --gate-%s closed: exit %d %s" % (gate, rc, o[:200]))
        drain()
        for i in range(N):
            S4.sendto(gpdu(TEID, echo_inner(False, i, 0x4806)), EP4)
        no_answer(name, collect(0, grace=0.7))
        b = settle()
        if gate == "ul":
            deltas(a, b, name, drops={"gtpu.gate_closed": N}, sess={(3, "drops"): N})
        else:
            nb = N * len(echo_inner(False, 0, 0x4806))
            deltas(a, b, name, drops={"gtpu.gate_closed": N}, gtp={"gpdu_in": N},
                   sess={(3, "drops"): N, (3, "ul_packets"): N, (3, "ul_bytes"): nb})
        a = b
    rc, o = xgw("gtp", "session", "mod", "3", *base)
    check(rc == 0, "xgw gtp session mod 3 (gates open again): exit %d %s" % (rc, o[:200]))
    sh = xjson("gtp", "session", "show", "3")["session"]
    check((sh["gate_ul"], sh["gate_dl"], sh["teid"], sh["peer_teid"], sh["qfi"]) == ("open", "open", TEID, PTEID, QFI),
          "session 3 after mod: gates %s/%s, teid %#x, peer_teid %#x, qfi %s" % (sh["gate_ul"], sh["gate_dl"], sh["teid"], sh["peer_teid"], sh["qfi"]))
    a = uplink_echo("after the gates opened again: G-PDU, inner IPv4", lambda x: gpdu(TEID, x), False, a)

    # 13. downlink: s1 pings the UE, the base station answers as the UE
    name = "s1 pings the UE 10.3.0.10 and 2001:db8:30::10; the base station answers"
    bad = []
    nbytes = 0

    def answer(sk, data, src):
        nonlocal nbytes
        p, inner = dl_problems(data, src[:2], PTEID, QFI)
        if sk != "S4" or p:
            bad.append("; ".join(p) or "on " + sk)
            return
        v = inner[0] >> 4
        if v == 4:
            q = IP(inner)
            ok = q.haslayer(ICMP) and q[ICMP].type == 8 and q.dst == UE4
            rep = IP(src=q.dst, dst=q.src, ttl=64) / ICMP(type=0, id=q[ICMP].id, seq=q[ICMP].seq) / q[ICMP].payload
        else:
            q = IPv6(inner)
            ok = q.haslayer(ICMPv6EchoRequest) and q.dst == UE6
            rep = IPv6(src=q.dst, dst=q.src, hlim=64) / ICMPv6EchoReply(id=q[ICMPv6EchoRequest].id, seq=q[ICMPv6EchoRequest].seq, data=q[ICMPv6EchoRequest].data)
        if not ok:
            bad.append("not an echo request to the UE: %s" % q.summary())
            return
        nbytes += len(inner)
        S4.sendto(gpdu_psc(TEID, raw(rep)), EP4)

    drain()
    results = []
    for v6, ue in ((False, UE4), (True, UE6)):
        cmd = ["ip", "netns", "exec", C["ns_s1"], "ping"] + (["-6"] if v6 else []) + ["-c", str(N), "-i", "0.2", "-W", "2", ue]
        pr = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while pr.poll() is None:
            collect(10 ** 9, timeout=0.1, on_msg=answer)
        o = pr.stdout.read()
        line = [x for x in o.splitlines() if "packets transmitted" in x]
        results.append((ue, pr.returncode, line[0] if line else o[-200:]))
    for ue, rc, line in results:
        check(rc == 0 and " 0% packet loss" in line, "%s: ping %s: %s" % (name, ue, line))
    check(not bad, "%s: every downlink G-PDU has TEID %#x and a DL PSC with QFI %d (%d bad%s)"
          % (name, PTEID, QFI, len(bad), (": " + " | ".join(bad[:3])) if bad else ""))
    b = settle()
    deltas(a, b, name, gtp={"gpdu_in": 2 * N, "gpdu_out": 2 * N},
           sess={(3, "ul_packets"): 2 * N, (3, "ul_bytes"): nbytes, (3, "dl_packets"): 2 * N, (3, "dl_bytes"): nbytes})
    a = b

    # 14. the Error Indication rate limit (error_rate per second, burst half of it)
    rate, rl = C["error_rate"], C["rl"]
    burst = max(1, (rate + 1) // 2)
    name = "a burst of %d G-PDUs to unknown TEIDs" % rl
    time.sleep(1.0)  # the limiter's bucket is full again (it refills in burst/rate s)
    drain()
    teids = [0xbeef0000 + i for i in range(rl)]
    t0 = time.monotonic()
    for t in teids:
        S4.sendto(gpdu(t, x), EP4)
    t_sent = time.monotonic()
    got = collect(rl, timeout=3.0, grace=1.0)
    bad, seen = [], set()
    for sk, data, src, _ in got:
        p, t = ei_problems(data, src, sk, "S4", teids, EP4[0])
        if p:
            bad.append("; ".join(p))
        else:
            seen.add(t)
    window = (max(g[3] for g in got) if got else t_sent) - t0
    most = burst + int(rate * window) + 1
    record(unknown_teids=teids)
    check(not bad and burst <= len(seen) <= most and len(seen) < rl,
          "%s (sent in %.3f s, answers over %.3f s): %d Error Indications, want %d..%d (burst %d + %d/s) and fewer than %d%s"
          % (name, t_sent - t0, window, len(seen), burst, most, burst, rate, rl, (": " + " | ".join(bad[:3])) if bad else ""))
    b = settle()
    deltas(a, b, name, drops={"gtpu.unknown_teid": rl}, gtp={"unknown_teid": rl, "error_indication_out": len(got)})


def churn():
    time.sleep(1.0)  # the Error Indication limiter's bucket is full
    k = C["k"]
    a = settle(busy=True)
    add = ["--peer", C["bs4"], "--ue4", C["churn_ue4"]]
    for r in range(C["rounds"]):
        name = "churn round %d" % (r + 1)
        ident = 0x4900 + r
        drain()
        rc, o = xgw("gtp", "session", "add", "4", "--teid", "0x400", "--peer-teid", "0x401", *add)
        check(rc == 0, "%s: xgw gtp session add 4 --teid 0x400 --peer-teid 0x401: exit %d %s" % (name, rc, o[:200]))
        # res: (what, answers, peer TEID of the echo replies due, or None
        # when Error Indications about the TEID in the last field are due)
        for i in range(k):
            S4.sendto(gpdu(0x400, echo_inner(False, i, ident, src=C["churn_ue4"])), EP4)
        res = [("added, to TEID 0x400", collect(k), 0x401, None)]
        rc, o = xgw("gtp", "session", "mod", "4", "--teid", "0x410", "--peer-teid", "0x411", "--end-marker", *add)
        check(rc == 0 and "End Marker" in o,
              "%s: xgw gtp session mod 4 --teid 0x410 --peer-teid 0x411 --end-marker: exit %d %s" % (name, rc, o[:200]))
        p = em_problems(collect(1, timeout=2.0, grace=0.2), 0x401)
        check(not p, "%s: modified with --end-marker: one End Marker to the old peer TEID 0x401%s"
              % (name, (": " + "; ".join(p)) if p else ""))
        for i in range(k):
            S4.sendto(gpdu(0x400, echo_inner(False, 100 + i, ident, src=C["churn_ue4"])), EP4)
        res.append(("modified, to the old TEID 0x400", collect(k), None, 0x400))
        for i in range(k):
            S4.sendto(gpdu(0x410, echo_inner(False, 200 + i, ident, src=C["churn_ue4"])), EP4)
        res.append(("modified, to the new TEID 0x410", collect(k), 0x411, None))
        rc, o = xgw("gtp", "session", "del", "4", "--end-marker")
        # "deleted session 4", then its fields and final counters as "key: value"
        final = dict(x.split(": ", 1) for x in o.splitlines()[1:] if ": " in x) if rc == 0 else {}
        final = {x: int(v) for x, v in final.items() if v.isdigit()}
        check(rc == 0 and o.startswith("deleted session 4") and
              (final.get("ul_packets"), final.get("dl_packets"), final.get("drops")) == (2 * k, 2 * k, 0),
              "%s: xgw gtp session del 4: exit %d, its final counters ul/dl/drops %s/%s/%s (want %d/%d/0: from 0 at add, on across mod)"
              % (name, rc, final.get("ul_packets"), final.get("dl_packets"), final.get("drops"), 2 * k, 2 * k))
        p = em_problems(collect(1, timeout=2.0, grace=0.2), 0x411)
        check(not p, "%s: deleted with --end-marker: one End Marker to the peer TEID 0x411%s"
              % (name, (": " + "; ".join(p)) if p else ""))
        for i in range(k):
            S4.sendto(gpdu(0x410, echo_inner(False, 300 + i, ident, src=C["churn_ue4"])), EP4)
        record(end_marker_teids=[0x401, 0x411])
        res.append(("deleted, to TEID 0x410", collect(k), None, 0x410))
        for what, got, pt, eit in res:
            bad, n = [], 0
            for sk, data, src, _ in got:
                if pt is not None:
                    p, inner = dl_problems(data, src, pt, None) if sk == "S4" else (["on %s" % sk], b"")
                    kk = echo_reply_key(inner) if not p else None
                    if kk is None or kk[0] != ident or kk[3] != C["churn_ue4"]:
                        bad.append("; ".join(p) or "not our echo reply")
                    else:
                        n += 1
                else:
                    p, t = ei_problems(data, src, sk, "S4", [eit], EP4[0])
                    if p:
                        bad.append("; ".join(p))
                    else:
                        n += 1
            kind = ("echo replies with TEID %#x" % pt) if pt is not None else ("Error Indications for %#x" % eit)
            check(n == k and not bad, "%s: %s: %d/%d %s%s" % (name, what, n, k, kind, (": " + " | ".join(bad[:3])) if bad else ""))
        record(unknown_teids=[0x400, 0x410])
        lst = xjson("gtp", "session", "list")
        check(4 not in [s["id"] for s in lst["sessions"]], "%s: session 4 gone from the list" % name)
        b = settle(busy=True)
        deltas(a, b, name, drops={"gtpu.unknown_teid": 2 * k},
               gtp={"unknown_teid": 2 * k, "error_indication_out": 2 * k, "end_marker_out": 2},
               ignore_gtp=("gpdu_in", "gpdu_out"), ignore_sess=(1,))
        a = b


if MODE == "signal":
    signal()
else:
    churn()
sys.exit(1 if FAILS else 0)
EOF
cat >"$XT_WORK/dissect.py" <<'EOF'
# dissect.py FIELDS_TSV EXPECT_JSON: reads tshark -T fields output (the
# fields are named in gtpu.sh, in that order) and checks every frame xgw
# sent on the underlay (source MAC one of the gateways'): no malformed
# frame, no checksum complaint or warning; G-PDUs, Echo Responses, Error
# Indications and Supported Extension Headers Notifications with the
# expected fields, as many as each gateway counted. Prints PASS/FAIL lines.
import json, sys
PI_WARN, PI_CHECKSUM, PI_SEQUENCE, PI_MALFORMED = 0x00600000, 0x01000000, 0x02000000, 0x07000000
F = ["num", "esrc", "protos", "ip_src", "ip_dst", "ip6_src", "ip6_dst", "sport", "dport", "ucsum", "ucsum_st",
     "msg", "teid", "flag_e", "psc_type", "qfi", "seq", "recovery", "teid_data", "gsn4", "gsn6", "next_n",
     "next_types", "icmp_t", "icmp_c", "icmp6_t", "icmp6_c", "sev", "grp", "emsg", "malformed",
     "mf", "foff", "f6off", "ttl", "hlim"]
exp = json.load(open(sys.argv[2]))
macs = exp["xgw_macs"]
sent = exp["sent"]
echo_seqs, unknown = set(sent.get("echo_seqs", [])), set(sent.get("unknown_teids", []))
ok = True


def check(cond, what):
    global ok
    print(("PASS " if cond else "FAIL ") + what)
    ok = ok and cond


def first(s):
    return s.split("|")[0] if s else ""


def num(s):
    return int(first(s), 0) if first(s) else None


def nums(s):
    return [int(x, 0) for x in s.split("|") if x.strip()] if s else []


bad, total, mine, conv, ffff = [], 0, 0, 0, 0
count = {g: {"gpdu": 0, "echo_response": 0, "error_indication": 0, "sehn": 0, "end_marker": 0, "port_unreachable": 0}
         for g in macs.values()}
em_teids = set(sent.get("end_marker_teids", []))
gpdu = {}       # "src>dst" -> {"frames", "teids": {teid: n}, "problems": []}
sig_bad = []
other_gtp = []
frags = []      # outer fragments xgw sent
ttl_bad = []
for line in open(sys.argv[1]):
    v = line.rstrip("\n").split("\t")
    v += [""] * (len(F) - len(v))
    f = dict(zip(F, v))
    total += 1
    gw = macs.get(f["esrc"])
    if gw is None:
        continue  # the base station's own frames (some broken on purpose), ARP/ND of ns u
    mine += 1
    p = f["protos"].split(":")
    items = []
    for s, g, m in zip(nums(f["sev"]), nums(f["grp"]), f["emsg"].split("|")):
        if g == PI_SEQUENCE:
            conv += 1
        elif "tcp" in p and "Checksum 0xffff instead of 0x0000" in m:
            ffff += 1
        else:
            items.append((s, g))
    if f["malformed"] or any(s >= PI_WARN for s, _ in items) or any(g in (PI_CHECKSUM, PI_MALFORMED) for _, g in items):
        bad.append("frame %s (%s): %s [%s]" % (f["num"], gw, f["emsg"], f["protos"]))
    if f["icmp_t"] and (num(f["icmp_t"]), num(f["icmp_c"])) == (3, 3):
        count[gw]["port_unreachable"] += 1
    if f["icmp6_t"] and (num(f["icmp6_t"]), num(f["icmp6_c"])) == (1, 4):
        count[gw]["port_unreachable"] += 1
    # xgw never fragments an outer packet (the far end would have to reassemble)
    if (len(p) > 2 and p[2] == "ip" and (num(f["mf"]) or num(f["foff"]))) or (len(p) > 3 and p[2] == "ipv6" and p[3] == "ipv6.fraghdr"):
        frags.append("frame %s (%s): %s" % (f["num"], gw, f["protos"]))
    if len(p) < 5 or p[2] not in ("ip", "ipv6") or p[3] != "udp" or p[4] != "gtp":
        continue
    v6 = p[2] == "ipv6"
    ttls, hlims = nums(f["ttl"]), nums(f["hlim"])
    outer_ttl = (hlims or [None])[0] if v6 else (ttls or [None])[0]
    if outer_ttl != 64:
        ttl_bad.append("frame %s (%s): outer TTL/hop limit %s (want 64)" % (f["num"], gw, outer_ttl))
    src, dst = (first(f["ip6_src"]), first(f["ip6_dst"])) if v6 else (first(f["ip_src"]), first(f["ip_dst"]))
    sport, dport, msg = num(f["sport"]), num(f["dport"]), num(f["msg"])
    if msg == 0xff:
        # gpdu_out counts T-PDUs encapsulated: the further fragments xgw
        # makes of a big DF-clear IPv4 packet (inner fragment offset > 0)
        # are not counted again.
        offs = nums(f["foff"])
        inner_off = offs[-1] if len(offs) >= (1 if v6 else 2) else 0
        if not inner_off:
            count[gw]["gpdu"] += 1
        key = "%s>%s" % (src, dst)
        d = gpdu.setdefault(key, {"frames": 0, "teids": {}, "problems": []})
        d["frames"] += 1
        teid = num(f["teid"])
        d["teids"][teid] = d["teids"].get(teid, 0) + 1
        want = exp["gpdu"].get(key, {})
        pr = []
        if "%#x" % teid not in want:
            pr.append("TEID %#x not one of %s" % (teid, sorted(want)))
        else:
            q = want["%#x" % teid]
            if q is None and (f["psc_type"] or num(f["flag_e"])):
                pr.append("a PSC on TEID %#x (no qfi)" % teid)
            if q is not None and (num(f["psc_type"]), num(f["qfi"])) != (0, q):
                pr.append("PSC type/QFI %s/%s on TEID %#x (want 0/%d)" % (f["psc_type"], f["qfi"], teid, q))
        if dport != 2152 or not 0xC000 <= sport <= 0xFFFF:
            pr.append("UDP ports %s -> %s" % (sport, dport))
        if not v6 and num(f["ucsum"]) != 0:
            pr.append("IPv4 outer UDP checksum %s (want 0)" % first(f["ucsum"]))
        if v6 and (num(f["ucsum"]) in (0, None) or num(f["ucsum_st"]) != 1):
            pr.append("IPv6 outer UDP checksum %s status %s (want good)" % (first(f["ucsum"]), first(f["ucsum_st"])))
        # the inner packet: the hosts' 64 less the encapsulating gateway's hop
        inner = p[5] if len(p) > 5 else ""
        if inner == "ip":
            it = ttls[1] if not v6 and len(ttls) > 1 else (ttls[0] if v6 and ttls else None)
        elif inner == "ipv6":
            it = hlims[1] if v6 and len(hlims) > 1 else (hlims[0] if not v6 and hlims else None)
        else:
            it = "not IP (%s)" % inner
        if it != 63:
            pr.append("inner TTL/hop limit %s (want 63)" % it)
        if pr:
            d["problems"].append("frame %s: %s" % (f["num"], "; ".join(pr)))
        continue
    pr = []
    if msg == 0x02:
        count[gw]["echo_response"] += 1
        if (num(f["teid"]), num(f["recovery"]), sport, dport) != (0, 0, 2152, exp["bs_port"]) or num(f["seq"]) not in echo_seqs:
            pr.append("Echo Response TEID %s seq %s Recovery %s ports %s -> %s" % (f["teid"], f["seq"], f["recovery"], sport, dport))
    elif msg == 0x1A:
        count[gw]["error_indication"] += 1
        peer = first(f["gsn6"] if v6 else f["gsn4"])
        if (num(f["teid"]), sport, dport, peer) != (0, 2152, 2152, src) or num(f["teid_data"]) not in unknown:
            pr.append("Error Indication TEID %s TEID Data I %s peer %s (from %s) ports %s -> %s" % (f["teid"], f["teid_data"], peer, src, sport, dport))
    elif msg == 0x1F:
        count[gw]["sehn"] += 1
        if (num(f["teid"]), num(f["next_n"]), sorted(nums(f["next_types"])), sport, dport) != (0, 2, [0x40, 0x85], 2152, exp["bs_port"]):
            pr.append("Supported Extension Headers Notification TEID %s list %s (%s) ports %s -> %s" % (f["teid"], f["next_n"], f["next_types"], sport, dport))
    elif msg == 0xFE:
        count[gw]["end_marker"] += 1
        if (sport, dport, dst, not num(f["flag_e"])) != (2152, 2152, exp["bs4"], True) or num(f["teid"]) not in em_teids:
            pr.append("End Marker TEID %s to %s ports %s -> %s E %s" % (f["teid"], dst, sport, dport, f["flag_e"]))
    else:
        other_gtp.append("frame %s: GTP-U message %s" % (f["num"], first(f["msg"])))
    if pr:
        sig_bad.append("frame %s (%s): %s" % (f["num"], gw, "; ".join(pr)))

check(total > 0 and mine > 0, "tshark read %d frames, %d of them sent by xgw" % (total, mine))
check(not bad, "no frame xgw sent is malformed, has a checksum complaint or a warning (%d bad)%s"
      % (len(bad), "".join("\n      " + b for b in bad[:15])))
for key, want in sorted(exp["gpdu"].items()):
    d = gpdu.get(key)
    if not d:
        check(False, "G-PDUs %s: none in the capture" % key)
        continue
    seen = ", ".join("%#x: %d" % (t, n) for t, n in sorted(d["teids"].items()))
    desc = ", ".join("%s %s" % (t, "PSC QFI %d" % q if q is not None else "no PSC") for t, q in sorted(want.items()))
    check(not d["problems"] and set("%#x" % t for t in d["teids"]) == set(want),
          "G-PDUs %s: %d frames (TEIDs %s), each as expected (%s; UDP to 2152 from >= 0xc000, checksum rule, inner TTL 63)%s"
          % (key, d["frames"], seen, desc, "".join("\n      " + x for x in d["problems"][:10])))
others = sorted(k for k in gpdu if k not in exp["gpdu"])
check(not others, "no G-PDU between other endpoints (%s)" % ", ".join(others))
check(not sig_bad, "Echo Responses, Error Indications, Supported Extension Headers Notifications, End Markers: every field as expected (%d bad)%s"
      % (len(sig_bad), "".join("\n      " + x for x in sig_bad[:10])))
check(not frags, "no outer IPv4/IPv6 fragment from xgw on the underlay (%d)%s" % (len(frags), "".join("\n      " + x for x in frags[:5])))
check(not ttl_bad, "every GTP-U frame xgw sent has outer TTL/hop limit 64 (%d not)%s" % (len(ttl_bad), "".join("\n      " + x for x in ttl_bad[:5])))
check(not other_gtp, "no other GTP-U message type from xgw%s" % "".join("\n      " + x for x in other_gtp[:5]))
for gw, want in sorted(exp["counts"].items()):
    got = count[gw]
    check(got == want, "%s: frames on the wire = its counters over the capture: %s (want %s)" % (gw, got, want))
print("INFO not counted: %d TCP conversation expert items (sequence group), %d TCP checksums 0xffff for 0x0000" % (conv, ffff))
sys.exit(0 if ok else 1)
EOF

# ---------------------------------------------------------------------------
write_config "$XT_WORK/gw1.toml" 1
write_config "$XT_WORK/gw2.toml" 2
for n in 1 2; do
  rc=0; out=$("$XGW" check --config "$XT_WORK/gw$n.toml" 2>&1) || rc=$?
  check_eq "xgw check accepts gw$n's config ([gtpu] with its sessions, routes into gtp0)" 0 "$rc" "${out:0:300}"
done
step "start both gateways"
start_gw 1 "$XT_WORK/gw1.toml"
start_gw 2 "$XT_WORK/gw2.toml"
xctl 1 gtp session list >"$XT_WORK/sl1.txt" 2>&1 || true
log "gw1 sessions:"; xt_indent <"$XT_WORK/sl1.txt"
for n in 1 2; do
  xctl "$n" gtp session list --json >"$XT_WORK/sl$n.json" || die "xgw gtp session list --json (gw$n) failed"
  want="1 2 3"; [[ $n == 2 ]] && want="1 2"
  check_eq "gw$n: xgw gtp session list --json has the configured sessions" "$want" \
    "$(xt_json "$XT_WORK/sl$n.json" '" ".join(str(s["id"]) for s in sorted(d["sessions"], key=lambda s: s["id"]))')"
  gtpstats "$n" "$XT_WORK/gs$n.json"
  check_eq "gw$n: xgw gtp stats --json names the endpoints and gtp0" "192.168.0.$n fd00::$n gtp0" \
    "$(xt_json "$XT_WORK/gs$n.json" '" ".join(d["endpoints"]) + " " + d["interface"]')"
done
# the table lines up: each row's "local" column starts under the header's
"$XT_PY" - "$XT_WORK/sl1.txt" >"$XT_WORK/sl1.align" <<'EOF'
import sys
lines = [x for x in open(sys.argv[1]).read().splitlines() if x.strip()]
hdr, rows = lines[0], [x for x in lines[1:] if x.split()[0].isdigit() and "at most" not in x]
col = hdr.index("local")
bad = [r for r in rows if r.find(r.split()[1]) != col]
print("%d rows, %d misaligned%s" % (len(rows), len(bad), (": " + repr(bad[0])) if bad else ""))
EOF
check_eq "gw1: xgw gtp session list (table): the rows line up with the header" "3 rows, 0 misaligned" "$(cat "$XT_WORK/sl1.align")"
check_eq "gw1: session 1 as configured (teid, peer, peer_teid, ue4, ue6, qfi, local)" \
  "256 192.168.0.2 512 10.1.8.10 2001:db8:8::/64 9 192.168.0.1" \
  "$(xt_json "$XT_WORK/sl1.json" '" ".join(str(s[k]) for s in d["sessions"] if s["id"] == 1 for k in ("teid", "peer", "peer_teid", "ue4", "ue6", "qfi", "local"))')"

# the capture on the underlay bridge, from here to the end of the MBR step;
# the gateways' GTP-U counters at its start
for n in 1 2; do gtpstats "$n" "$XT_WORK/cap0-$n.json"; done
CAP=$XT_WORK/underlay.pcap
ip netns exec "$NS_U" tcpdump -i br0 -n -s 0 -B 262144 -Z root --immediate-mode -U -w "$CAP" >/dev/null 2>"$CAP.err" &
CAP_PID=$!
XT_PIDS+=("$CAP_PID")
for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$CAP.err" 2>/dev/null && break; sleep 0.1; done
grep -q 'listening on' "$CAP.err" || die "tcpdump on br0 did not start: $(cat "$CAP.err")"

# warm up: both gateways resolve each other and the servers
for spec in "${KINDS[@]}"; do
  IFS='|' read -r kind fam a1 a2 sid <<<"$spec"
  ip netns exec "$NS_S1" ping "-$fam" -c 1 -W 3 "$a2" >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------------------
step "1a. IPv4 with DF clear, bigger than gtp0's MTU: fragmented to fit it, then encapsulated"
# First thing, while no host has learned a path MTU: the 1480-byte packets
# leave s1 (and s2's replies leave s2) whole, DF clear; each gateway has to
# fragment them to gtp0's MTU before it encapsulates (an outer packet
# fragmented on the underlay is dropped by the far xgw, which does not
# reassemble: gtpu.outer_fragment)
settle
for n in 1 2; do stats "$n" "$XT_WORK/nodf$n-0.json"; done
for spec in "4over4|10.1.8.10" "4over6|10.2.8.10"; do
  IFS='|' read -r kind a2 <<<"$spec"
  r=$(ip -n "$NS_S1" route get "$a2" 2>&1 | tr -s ' ' | tr '\n' ' ')
  if grep -qE ' mtu [0-9]+' <<<"$r"; then die "precondition: s1 already has a path MTU for $a2: $r"; fi
  ping_ok "$NS_S1" "$kind: ping -M dont -s 1452 s1->s2 $a2 (1480-byte requests and replies, DF clear, gtp0 MTU $GTP_MTU)" -M dont -s 1452 "$a2"
done
settle
for n in 1 2; do
  stats "$n" "$XT_WORK/nodf$n-1.json"
  got=""
  for r in gtpu.outer_fragment local.fragment icmp.suppressed; do
    got+="$r+$(($(drops "$XT_WORK/nodf$n-1.json" "$r") - $(drops "$XT_WORK/nodf$n-0.json" "$r"))) "
  done
  check_eq "gw$n: drops over the DF-clear pings" "gtpu.outer_fragment+0 local.fragment+0 icmp.suppressed+0" "${got% }"
done

# ---------------------------------------------------------------------------
for spec in "${KINDS[@]}"; do
  IFS='|' read -r kind fam a1 a2 sid <<<"$spec"
  step "1. $kind (session $sid on both gateways): ping both ways, session counters, TCP both ways"
  settle
  for n in 1 2; do session "$n" "$sid" "$XT_WORK/$kind-s${n}a.json"; stats "$n" "$XT_WORK/$kind-st${n}a.json"; done
  ping_ok "$NS_S1" "$kind: ping -$fam s1->s2 $a2" "-$fam" "$a2"
  ping_ok "$NS_S2" "$kind: ping -$fam s2->s1 $a1" "-$fam" "$a1"
  settle
  for n in 1 2; do session "$n" "$sid" "$XT_WORK/$kind-s${n}b.json"; stats "$n" "$XT_WORK/$kind-st${n}b.json"; done
  # each side encapsulates its requests and its replies (dl), and
  # decapsulates the other side's (ul): 2 x PINGS each way; bytes = the
  # inner IP packets of ping -s 56
  isz=$((fam == 4 ? 84 : 104))
  for n in 1 2; do
    for c in ul dl; do
      p=$(($(scount "$XT_WORK/$kind-s${n}b.json" "${c}_packets") - $(scount "$XT_WORK/$kind-s${n}a.json" "${c}_packets")))
      b=$(($(scount "$XT_WORK/$kind-s${n}b.json" "${c}_bytes") - $(scount "$XT_WORK/$kind-s${n}a.json" "${c}_bytes")))
      check_eq "$kind: gw$n session $sid $c packets/bytes over the pings" "$((2 * PINGS))/$((2 * PINGS * isz))" "$p/$b"
    done
    check_eq "$kind: gw$n session $sid drops / all drops over the pings" "0/0" \
      "$(($(scount "$XT_WORK/$kind-s${n}b.json" drops) - $(scount "$XT_WORK/$kind-s${n}a.json" drops)))/$(($(xt_json "$XT_WORK/$kind-st${n}b.json" 'd["totals"]["dropped"]') - $(xt_json "$XT_WORK/$kind-st${n}a.json" 'd["totals"]["dropped"]')))"
  done
  # TCP, both ways: a stream the receiver counts and hashes
  for dir in "s1->s2" "s2->s1"; do
    if [[ $dir == "s1->s2" ]]; then src=$NS_S1; dstns=$NS_S2; dst=$a2; from=$a1
    else src=$NS_S2; dstns=$NS_S1; dst=$a1; from=$a2; fi
    ready=$XT_WORK/tcp.ready; rm -f "$ready"
    ip netns exec "$dstns" "$XT_PY" "$XT_WORK/tcp_xfer.py" sink "$dst" 47001 "$ready" >"$XT_WORK/tcp-sink.log" 2>&1 &
    sink=$!; XT_PIDS+=("$sink")
    for ((i = 0; i < 100; i++)); do [[ -s $ready ]] && break; sleep 0.05; done
    [[ -s $ready ]] || die "$kind: TCP sink in $dstns did not start: $(cat "$XT_WORK/tcp-sink.log")"
    rc=0
    out=$(ip netns exec "$src" timeout 60 "$XT_PY" "$XT_WORK/tcp_xfer.py" send "$dst" 47001 "$TCP_BYTES" "$from" 2>&1) || rc=$?
    wait "$sink" 2>/dev/null || true
    if ((rc == 0)); then pass "$kind: TCP $dir ($from -> $dst), $TCP_BYTES bytes counted and hashed by the receiver: $out"
    else fail "$kind: TCP $dir (exit $rc): $out $(cat "$XT_WORK/tcp-sink.log")"; fi
  done
  # s1 sent first, with full-size segments: gw1's ICMP errors taught it gtp0's MTU
  r=$(ip -n "$NS_S1" "-$fam" route get "$a2" 2>&1 | tr -s ' ' | tr '\n' ' ')
  if grep -qE "mtu $GTP_MTU( |$)" <<<"$r"; then pass "$kind: s1's path MTU to $a2 settled at $GTP_MTU: $r"
  else fail "$kind: s1's path MTU to $a2 is not $GTP_MTU: $r"; fi
done

# ---------------------------------------------------------------------------
step "1b. gtp0's MTU ($GTP_MTU) and a destination without a session"
settle; stats 1 "$XT_WORK/df0.json"
out=$(ip netns exec "$NS_S1" ping -c 1 -W 2 -M "do" -s 1409 10.1.8.11 2>&1) || true
if grep -qE "From 10\.1\.5\.1 .*Frag needed and DF set \(mtu = $GTP_MTU\)" <<<"$out"; then
  pass "ping -M do -s 1409 s1->10.1.8.11 (1437 bytes into gtp0): $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -M do -s 1409 s1->10.1.8.11: no 'Frag needed and DF set (mtu = $GTP_MTU)' from 10.1.5.1:"; xt_indent <<<"$out"
fi
out=$(ip netns exec "$NS_S1" ping -c 2 -i 0.2 -W 1 -M "do" -s 1408 10.1.8.11 2>&1) || true
check_eq "ping -M do -s 1408 s1->10.1.8.11 (fits gtp0, routed into it, no session): replies" 0 \
  "$(grep -oE '[0-9]+ received' <<<"$out" | cut -d' ' -f1)"
settle; stats 1 "$XT_WORK/df1.json"
check_eq "gw1: gtpu.no_session drops (the two 1436-byte pings)" 2 \
  "$(($(drops "$XT_WORK/df1.json" gtpu.no_session) - $(drops "$XT_WORK/df0.json" gtpu.no_session)))"
out=$(ip netns exec "$NS_S1" ping -6 -c 1 -W 2 -s 1389 2001:db8:8::11 2>&1) || true
if grep -qE "From 2001:db8:5::1 .*Packet too big: mtu=$GTP_MTU" <<<"$out"; then
  pass "ping -6 -s 1389 s1->2001:db8:8::11: $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -6 -s 1389 s1->2001:db8:8::11: no 'Packet too big: mtu=$GTP_MTU' from 2001:db8:5::1:"; xt_indent <<<"$out"
fi
PINGS=2 ping_ok "$NS_S1" "ping -6 -s 1388 s1->2001:db8:8::11 (1436 bytes: fits gtp0; in session 1's /64)" -6 -s 1388 2001:db8:8::11

# ---------------------------------------------------------------------------
step "2. the scapy base station (ns u, session 3) against gw1's endpoints"
"$XT_PY" - "$XT_WORK/bs.json" <<EOF
import json, sys
json.dump(dict(xgw="$XGW", sock="$SOCK1", ns_s1="$NS_S1", gw1_mac="$MAC_G1W", iface="br0",
               ep4="192.168.0.1", ep6="fd00::1", bs4="192.168.0.99", bs6="fd00::99",
               other4="192.168.0.11", other6="fd00::11", s1_4="10.1.5.10", s1_6="2001:db8:5::10",
               ue4="10.3.0.10", ue6="2001:db8:30::10", ue6_prefix="2001:db8:30::/64",
               teid=0x300, peer_teid=0x999, qfi=7, n=$CASE_COUNT, rl=$RL_COUNT, error_rate=$ERROR_RATE,
               rounds=$CHURN_ROUNDS, k=$CHURN_K, churn_ue4="10.4.0.10", sent="$XT_WORK/sent.json"),
          open(sys.argv[1], "w"))
EOF
relay "bs.py signal" ip netns exec "$NS_U" "$XT_PY" "$XT_WORK/bs.py" "$XT_WORK/bs.json" signal

# ---------------------------------------------------------------------------
step "4. run time: session 4 added, used, modified, deleted on gw1 while session 1 carries a stream"
settle
for n in 1 2; do session "$n" 1 "$XT_WORK/stream-s${n}a.json"; done
xt_udp_recv_start "$NS_S2" 10.1.8.10 47200 1000000 "$XT_WORK/stream-recv.json" 2 300
STOP=$XT_WORK/stream.stop; rm -f "$STOP"
ip netns exec "$NS_S1" taskset -c 0 "$XT_PY" "$XT_WORK/stream.py" 10.1.8.10 47200 "$STREAM_PPS" "$STOP" \
  "$XT_WORK/stream-send.json" >"$XT_WORK/stream-send.log" 2>&1 &
SPID=$!; XT_PIDS+=("$SPID")
# the stream is flowing (gw1 encapsulates it) before the churn starts
for ((i = 0; i < 50; i++)); do
  session 1 1 "$XT_WORK/stream-probe.json"
  (($(scount "$XT_WORK/stream-probe.json" dl_packets) > $(scount "$XT_WORK/stream-s1a.json" dl_packets) + 10)) && break
  sleep 0.1
done
kill -0 "$SPID" 2>/dev/null || die "the stream sender died: $(cat "$XT_WORK/stream-send.log")"
relay "bs.py churn" ip netns exec "$NS_U" "$XT_PY" "$XT_WORK/bs.py" "$XT_WORK/bs.json" churn
kill -0 "$SPID" 2>/dev/null || die "the stream sender stopped during the churn: $(cat "$XT_WORK/stream-send.log")"
touch "$STOP"
wait "$SPID" || die "the stream sender failed: $(cat "$XT_WORK/stream-send.log")"
wait "$XT_RECV_PID" 2>/dev/null || true
sent=$(xt_json "$XT_WORK/stream-send.json" 'd["sent"]')
res=$(xt_json "$XT_WORK/stream-recv.json" '"%d %d %d %d" % (d["received"], d["duplicates"], d["corrupt"], d["foreign"])')
check_eq "stream s1->s2 (session 1) across the churn: received/duplicates/corrupt/foreign" "$sent/0/0/0" "$(tr ' ' '/' <<<"$res")" \
  "(sent $sent at $STREAM_PPS/s)"
settle
for n in 1 2; do session "$n" 1 "$XT_WORK/stream-s${n}b.json"; done
check_eq "gw1 session 1: dl packets/bytes over the stream (228-byte packets)" "$sent/$((sent * 228))" \
  "$(($(scount "$XT_WORK/stream-s1b.json" dl_packets) - $(scount "$XT_WORK/stream-s1a.json" dl_packets)))/$(($(scount "$XT_WORK/stream-s1b.json" dl_bytes) - $(scount "$XT_WORK/stream-s1a.json" dl_bytes)))"
check_eq "gw2 session 1: ul packets/bytes over the stream" "$sent/$((sent * 228))" \
  "$(($(scount "$XT_WORK/stream-s2b.json" ul_packets) - $(scount "$XT_WORK/stream-s2a.json" ul_packets)))/$(($(scount "$XT_WORK/stream-s2b.json" ul_bytes) - $(scount "$XT_WORK/stream-s2a.json" ul_bytes)))"

# ---------------------------------------------------------------------------
step "5. MBR: gw1's session 1 with mbr_dl 10 Mbit/s, an iperf3 UDP flow offered at 20 Mbit/s"
ip netns exec "$NS_S2" iperf3 -s -p 5201 >"$XT_WORK/iperf3-s.log" 2>&1 &
XT_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do
  ip netns exec "$NS_S2" ss -ltn 2>/dev/null | grep -q ':5201 ' && break
  sleep 0.1
done
S1ARGS=(--teid 0x100 --peer 192.168.0.2 --peer-teid 0x200 --ue4 10.1.8.10 --ue6 2001:db8:8::/64 --qfi 9 --instance site2-v4)
# mbr_run WHAT MBR LO HI: sets the MBR, runs the flow, checks the receiver's rate in [LO, HI] bit/s
mbr_run() {
  local what=$1 mbr=$2 lo=$3 hi=$4 rc=0 out j rx mbrd sd
  out=$(xctl 1 gtp session mod 1 "${S1ARGS[@]}" --mbr-dl "$mbr" 2>&1) || rc=$?
  check_eq "$what: xgw gtp session mod 1 ... --mbr-dl $mbr" 0 "$rc" "$(head -c 200 <<<"$out")"
  session 1 1 "$XT_WORK/mbr-$mbr-show.json"
  check_eq "$what: session 1's mbr_dl / counters kept" "$mbr/yes" \
    "$(xt_json "$XT_WORK/mbr-$mbr-show.json" 'str(d["session"]["mbr_dl"]) + "/" + ("yes" if d["session"]["counters"]["dl_packets"] > 0 else "no")')"
  settle
  stats 1 "$XT_WORK/mbr-$mbr-0.json"; session 1 1 "$XT_WORK/mbr-$mbr-s0.json"
  j=$XT_WORK/iperf3-mbr-$mbr.json
  rc=0
  ip netns exec "$NS_S1" timeout 60 iperf3 -4 -c 10.1.8.10 -p 5201 -u -b 20M -l 1200 -t "$MBR_SECS" -J >"$j" 2>&1 || rc=$?
  rx=$(xt_json "$j" '"%.0f" % d["end"]["sum_received"]["bits_per_second"]' 2>/dev/null || echo "?")
  log "$what: iperf3 exit $rc, $(xt_json "$j" '"sent %d packets at %.2f Mbit/s, received %.2f Mbit/s, lost %d" % (d["end"]["sum_sent"]["packets"], d["end"]["sum_sent"]["bits_per_second"] / 1e6, d["end"]["sum_received"]["bits_per_second"] / 1e6, d["end"]["sum_received"]["lost_packets"])' 2>/dev/null || head -c 300 "$j")"
  if ((rc == 0)) && [[ $rx != "?" ]] && ((rx >= lo && rx <= hi)); then
    pass "$what: the receiver got $rx bit/s (want $lo..$hi)"
  else
    fail "$what: the receiver got $rx bit/s (want $lo..$hi), iperf3 exit $rc"
  fi
  settle
  stats 1 "$XT_WORK/mbr-$mbr-1.json"; session 1 1 "$XT_WORK/mbr-$mbr-s1.json"
  mbrd=$(($(drops "$XT_WORK/mbr-$mbr-1.json" gtpu.mbr_exceeded) - $(drops "$XT_WORK/mbr-$mbr-0.json" gtpu.mbr_exceeded)))
  sd=$(($(scount "$XT_WORK/mbr-$mbr-s1.json" drops) - $(scount "$XT_WORK/mbr-$mbr-s0.json" drops)))
  MBR_DROPS=$mbrd
  check_eq "$what: gtpu.mbr_exceeded drops = session 1's drops" "$mbrd" "$sd"
}
mbr_run "mbr_dl 10 Mbit/s" 10000000 9500000 10500000
if ((MBR_DROPS > 0)); then pass "mbr_dl 10 Mbit/s: gtpu.mbr_exceeded dropped $MBR_DROPS packets"
else fail "mbr_dl 10 Mbit/s: no gtpu.mbr_exceeded drop"; fi
mbr_run "no MBR" 0 19000000 21000000
check_eq "no MBR: gtpu.mbr_exceeded drops" 0 "$MBR_DROPS"

# ---------------------------------------------------------------------------
step "3. tshark on the underlay: every frame xgw sent dissects cleanly, GTP-U fields as expected"
settle
for n in 1 2; do gtpstats "$n" "$XT_WORK/cap1-$n.json"; done
sleep 0.5
kill -s INT "$CAP_PID" 2>/dev/null || true
wait "$CAP_PID" 2>/dev/null || true
log "tcpdump: $(grep -E 'captured|dropped by kernel' "$CAP.err" | tr '\n' ' ')"
kdrop=$(grep -oE '[0-9]+ packets dropped by kernel' "$CAP.err" | cut -d' ' -f1 || true)
check_eq "tcpdump on br0 lost no frame (the counts below compare the whole capture)" 0 "${kdrop:-?}"
# (the heuristic payload dissectors are off: iperf3's random bytes look
# like some protocol now and then, which says nothing about xgw)
noheur=()
for h in $(comm -12 <(tshark -G heuristic-decodes 2>/dev/null | awk '$1 ~ /^(tcp|udp|ip|ipv6)$/ { print $2 }' | sort -u) \
                    <(tshark -G protocols 2>/dev/null | cut -f3 | sort -u)); do
  case $h in eth | ip | ipv6 | icmp | icmpv6 | tcp | udp | arp | gtp) ;; *) noheur+=(--disable-protocol "$h") ;; esac
done
rc=0
tshark -r "$CAP" -n "${noheur[@]}" \
  -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
  -o tcp.analyze_sequence_numbers:FALSE \
  -T fields -E occurrence=a -E separator=$'\t' -E 'aggregator=|' \
  -e frame.number -e eth.src -e frame.protocols -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst \
  -e udp.srcport -e udp.dstport -e udp.checksum -e udp.checksum.status \
  -e gtp.message -e gtp.teid -e gtp.flags.e -e gtp.ext_hdr.pdu_ses_con.pdu_type -e gtp.ext_hdr.pdu_ses_con.qos_flow_id \
  -e gtp.seq_number -e gtp.recovery -e gtp.teid_data -e gtp.gsn_ipv4 -e gtp.gsn_ipv6 \
  -e gtp.num_ext_hdr_types -e gtp.ext_hdr_type -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code \
  -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
  -e ip.flags.mf -e ip.frag_offset -e ipv6.fraghdr.offset -e ip.ttl -e ipv6.hlim \
  >"$XT_WORK/dissect.tsv" 2>"$XT_WORK/tshark.err" || rc=$?
check_eq "tshark reads the capture" 0 "$rc" "$( ((rc == 0)) || head -c 300 "$XT_WORK/tshark.err")"
"$XT_PY" - "$XT_WORK" "$MAC_G1W" "$MAC_G2W" >"$XT_WORK/expect.json" <<'EOF'
import json, os, sys
w, m1, m2 = sys.argv[1:4]
def delta(n, k):
    a = json.load(open(os.path.join(w, "cap0-%d.json" % n)))["counters"]
    b = json.load(open(os.path.join(w, "cap1-%d.json" % n)))["counters"]
    return b[k] - a[k]
sent = json.load(open(os.path.join(w, "sent.json"))) if os.path.exists(os.path.join(w, "sent.json")) else {}
counts = {}
for n in (1, 2):
    counts["gw%d" % n] = {"gpdu": delta(n, "gpdu_out"), "echo_response": delta(n, "echo_response_out"),
                          "error_indication": delta(n, "error_indication_out"), "sehn": delta(n, "ext_notification_out"),
                          "end_marker": delta(n, "end_marker_out"),
                          "port_unreachable": sent.get("port_unreachable", 0) if n == 1 else 0}
print(json.dumps({
    "xgw_macs": {m1: "gw1", m2: "gw2"},
    "gpdu": {"192.168.0.1>192.168.0.2": {"0x200": 9}, "192.168.0.2>192.168.0.1": {"0x100": None},
             "fd00::1>fd00::2": {"0x201": None}, "fd00::2>fd00::1": {"0x101": 5},
             "192.168.0.1>192.168.0.99": {"0x999": 7, "0x401": None, "0x411": None}},
    "counts": counts, "sent": sent, "bs_port": 40000, "bs4": "192.168.0.99"}))
EOF
relay "dissect.py" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/dissect.tsv" "$XT_WORK/expect.json"

# ---------------------------------------------------------------------------
step "6. accounting, SIGTERM"
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
  xctl "$n" gtp stats >"$XT_WORK/gs-final$n.txt" 2>&1 || true
  log "gw$n gtp stats:"; xt_indent <"$XT_WORK/gs-final$n.txt"
done
for n in 1 2; do
  if [[ $n == 1 ]]; then pid=$PID1; ns=$NS_G1; ifs="g1l g1w"; else pid=$PID2; ns=$NS_G2; ifs="g2l g2w"; fi
  xt_xgw_stop "$pid" TERM 15
  check_eq "gw$n: exit status after SIGTERM" 0 "$XT_RC"
  for i in $ifs; do xt_check_no_xdp "$ns" "$i" 2; done
done

# ---------------------------------------------------------------------------
step "7. path management: Echo Requests to configured peers (xgw gtp peers), a peer that goes away"
# gw1 echoes gw2 over IPv4 and IPv6 and 192.168.0.77, which nobody has;
# gw2 echoes gw1. Every second, an answer due within 200 ms, two tries.
for n in 1 2; do
  cp "$XT_WORK/gw$n.toml" "$XT_WORK/gw$n-echo.toml"
  if [[ $n == 1 ]]; then peers='"192.168.0.2", "fd00::2", "192.168.0.77"'; else peers='"192.168.0.1"'; fi
  sed -i "/^error_rate = /a peers = [$peers]\necho_interval = 1\necho_timeout_ms = 200\necho_retries = 2" "$XT_WORK/gw$n-echo.toml"
done
CAP2=$XT_WORK/echo.pcap
ip netns exec "$NS_U" tcpdump -i br0 -n -s 0 -Z root --immediate-mode -U -w "$CAP2" udp port 2152 >/dev/null 2>"$CAP2.err" &
CAP2_PID=$!
XT_PIDS+=("$CAP2_PID")
for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$CAP2.err" 2>/dev/null && break; sleep 0.1; done
start_gw 1 "$XT_WORK/gw1-echo.toml"
start_gw 2 "$XT_WORK/gw2-echo.toml"
# peer_state N PEER: "state requests responses failures" of PEER in gw N's xgw gtp peers
peer_state() {
  xctl "$1" gtp peers --json >"$XT_WORK/peers$1.json" || die "xgw gtp peers (gw$1) failed: $(cat "$XT_WORK/peers$1.json")"
  xt_json "$XT_WORK/peers$1.json" "' '.join(str(p[k]) for p in d['peers'] if p['peer'] == '$2' for k in ('state', 'requests', 'responses', 'failures'))"
}
# wait_peer N PEER STATE: up to 6 s for PEER's path to be in STATE on gw N
wait_peer() {
  local i st
  for ((i = 0; i < 60; i++)); do
    st=$(peer_state "$1" "$2"); [[ ${st%% *} == "$3" ]] && break
    sleep 0.1
  done
  echo "$st"
}
# (A gateway may count a failure while the other one is still starting.)
declare -A FL0
for spec in "1 192.168.0.2" "1 fd00::2" "2 192.168.0.1"; do
  read -r n peer <<<"$spec"
  read -r st rq rs fl <<<"$(wait_peer "$n" "$peer" up)"
  check_eq "gw$n: path to $peer is up (state)" up "$st" "(requests $rq, responses $rs, failures $fl)"
  if ((rs >= 1 && rs <= rq)); then pass "gw$n: $peer answered $rs of $rq requests"
  else fail "gw$n: $peer: requests $rq, responses $rs"; fi
  FL0[$peer]=$fl
done
read -r st rq rs fl <<<"$(wait_peer 1 192.168.0.77 down)"
check_eq "gw1: path to 192.168.0.77 (nobody) is down after 2 unanswered tries" "down 0" "$st $rs" "(requests $rq, failures $fl)"
((rq >= 2 && fl >= 1)) && pass "gw1: 192.168.0.77: $rq requests, $fl failure(s)" || fail "gw1: 192.168.0.77: requests $rq failures $fl"
xctl 1 gtp peers >"$XT_WORK/peers1.txt" 2>&1 || true
log "gw1 peers:"; xt_indent <"$XT_WORK/peers1.txt"
check_eq "gw1: xgw gtp peers (table) lists the three peers" 3 "$(grep -cE '^(192\.168\.0\.(2|77)|fd00::2) ' "$XT_WORK/peers1.txt")"
# gw2 goes away: gw1's IPv4 and IPv6 paths to it go down
xt_xgw_stop "$PID2" TERM 15
check_eq "gw2 (echo run): exit status after SIGTERM" 0 "$XT_RC"
for peer in 192.168.0.2 fd00::2; do
  read -r st rq rs fl <<<"$(wait_peer 1 "$peer" down)"
  check_eq "gw1: path to $peer is down once gw2 is gone (state, one more failure)" "down $((FL0[$peer] + 1))" "$st $fl" "(requests $rq, responses $rs)"
done
gtpstats 1 "$XT_WORK/gs-echo1.json"
sleep 0.3
kill -s INT "$CAP2_PID" 2>/dev/null || true
wait "$CAP2_PID" 2>/dev/null || true
# tshark: every Echo Request and Response on the underlay dissects cleanly,
# TEID 0, 2152 -> 2152, each response to a request with its sequence number
tshark -r "$CAP2" -n -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields -E separator=/t \
  -e eth.src -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e udp.srcport -e udp.dstport -e udp.checksum.status \
  -e gtp.message -e gtp.teid -e gtp.seq_number -e gtp.recovery -e _ws.expert.severity -e _ws.malformed \
  >"$XT_WORK/echo.tsv" 2>"$XT_WORK/echo.err" || die "tshark on the echo capture: $(head -c 300 "$XT_WORK/echo.err")"
rc=0
"$XT_PY" - "$XT_WORK/echo.tsv" "$MAC_G1W" "$MAC_G2W" "$(xt_json "$XT_WORK/gs-echo1.json" 'd["counters"]["echo_request_out"]')" \
  >"$XT_WORK/echo.check" <<'PY' || rc=$?
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
g1, g2, out1 = sys.argv[2].lower(), sys.argv[3].lower(), int(sys.argv[4])
req, resp, bad = {}, [], []
for r in rows:
    r += [""] * (14 - len(r))
    esrc, s4, d4, s6, d6, sp, dp, cst, msg, teid, seq, rec, sev, mal = r
    src, dst = (s4 or s6), (d4 or d6)
    num = lambda x: int(x, 0) if x else None
    msg, teid, seq, rec = num(msg), num(teid), num(seq), num(rec)
    if esrc.lower() not in (g1, g2):
        continue
    if mal or any(int(x, 0) >= 0x00600000 for x in sev.split(",") if x) or (s6 and cst != "1"):
        bad.append("malformed/expert/checksum: %s" % r)
    if (sp, dp, teid) != ("2152", "2152", 0):
        bad.append("ports/TEID %s %s %s" % (sp, dp, teid))
    if msg == 1:
        req.setdefault((src, dst, seq), 0)
        req[(src, dst, seq)] += 1
    elif msg == 2:
        resp.append((dst, src, seq, rec))
    else:
        bad.append("message %s" % msg)
unanswered = [r for r in resp if (r[0], r[1], r[2]) not in req or r[3] != 0]
g1_req = sum(n for (s, d, q), n in req.items() if s in ("192.168.0.1", "fd00::1"))
to77 = sum(n for (s, d, q), n in req.items() if d == "192.168.0.77")
print("requests %d (gw1 %d, to .77 %d), responses %d, not to a request or Recovery not 0: %d, gw1 counted %d, bad %d %s"
      % (sum(req.values()), g1_req, to77, len(resp), len(unanswered), out1, len(bad), bad[:3]))
ok = not bad and not unanswered and resp and g1_req == out1 and to77 == 0
sys.exit(0 if ok else 1)
PY
check_eq "tshark: the Echo Requests and Responses on the underlay (clean, TEID 0, 2152 -> 2152, each response to a request with its sequence number, Recovery 0; gw1's = its echo_request_out; none to .77, whose address nobody resolves)" \
  0 "$rc" "$(cat "$XT_WORK/echo.check")"
xt_xgw_stop "$PID1" TERM 15
check_eq "gw1 (echo run): exit status after SIGTERM" 0 "$XT_RC"

log "took $(($(date +%s) - T0)) s"
xt_finish
