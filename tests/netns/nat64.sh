#!/usr/bin/env bash
# Acceptance test: xgw as a NAT64 box (stateful NAT64, RFC 6146; the
# router's [nat64] feature with mode = "nat64") between an IPv6-only client
# that configures itself from xgw's Router Advertisements on an 802.1Q VLAN
# and resolves names through a DNS64 resolver (Unbound), and an IPv4-only
# server, over AF_XDP on veth.
# Run as root:  tests/netns/nat64.sh
#
#   ns C (IPv6 only)               ns X (xgw: router + NAT64)                    ns S (IPv4 only)
#   c0 ─────veth, VLAN 100───── xd-v6 [lan: vlan 100, RA]    [wan] xd-v4 ─────veth───── s0
#   SLAAC in 2001:db8:64::/64        2001:db8:64::1/64      203.0.113.1/24            203.0.113.80/24
#   default via xgw's link-local   nat64: pool6 64:ff9b::/96, pool4 203.0.113.1   default via 203.0.113.1
#                                  ports 20000-30000 (the rest of the address stays the router's)
#                                  [dns] xd-dns 2001:db8:53::1/64 ─────veth───── d0 2001:db8:53::53/64
#                                                                                ns D (Unbound, DNS64)
#
#   The resolver sits behind xgw on a segment of its own, where an
#   operator's resolver would be: RDNSS carries an off-link address, DNS
#   crosses xgw as plain IPv6 forwarding beside the translated traffic, and
#   the client's link holds only the client and xgw (no bridge, no second
#   host on VLAN 100), so everything captured there is theirs.
#   VLAN 100 on C's side: this kernel has no 802.1Q devices
#   (CONFIG_VLAN_8021Q unset, so `ip link add link c0 type vlan` fails), so
#   two tc-BPF programs on c0 (clsact, loaded by a python helper with
#   bpf(2)) do a VLAN sub-interface's job: egress frames are tagged 100
#   (written into the frame: txvlan offload off), ingress frames tagged 100
#   are untagged, anything else is dropped. C's stack sees plain c0.
#   C has no IPv4 address, S has IPv6 disabled, X has IPv6 off.
#
# Checks
#   RA. C takes its address from the RA (SLAAC, EUI-64, in
#      2001:db8:64::/64) and a default route via xgw's link-local (proto ra);
#      rdisc6 shows the prefix and the RDNSS; tshark on the RA (tagged VLAN
#      100): PREF64 option (type 38) 64:ff9b:: with PLC 0 (/96), RDNSS
#      (type 25) the resolver. C's resolv.conf (/etc/netns/C/resolv.conf,
#      removed at the end) gets the address rdisc6 read from the RDNSS.
#   a. C resolves server.example: dig AAAA and getent ahostsv6 give
#      64:ff9b::cb00:7150 (Unbound's DNS64 of 203.0.113.80); dig A gives
#      203.0.113.80. Unbound: module-config "dns64 iterator", dns64-prefix
#      64:ff9b::/96, dns64-synthall, access-control for C's prefix only,
#      listening on its IPv6 address, in the foreground with its own config,
#      pid file and log in the test's temp dir; the record is in an
#      auth-zone (for-upstream), not local-data (see the config)
#   b. ping -6 -c 3 -e 4242 server.example: 3/3
#   c. curl -6 http://server.example:8080/file fetches a 1 MiB random file
#      from python3's http.server in S: 200, size and SHA-256 equal; the
#      server logs the client as 203.0.113.1 with a source port in
#      20000-30000
#   d. iperf3 -6 TCP (5 s) and UDP (5 s, 50 Mbit/s) from C to
#      server.example complete (rates printed, and the AF_XDP sockets'
#      kernel drop counters); UDP loss < 5% (a loss at or above that is a
#      warning naming the busiest processes, not a failure on its own; the
#      TCP run must complete)
#   e. traceroute -6 -n server.example: hop 1 is 2001:db8:64::1 (xgw), hop 2
#      the destination's pool6 address 64:ff9b::cb00:7150
#   f. xgw nat64 session --json after b, c and in the middle of d: the ICMP
#      session of ping, the TCP session of curl (its ports equal curl's and
#      the server log's) with its state, iperf3's TCP sessions ESTABLISHED
#      and its UDP session, every one with ipv4_local 203.0.113.1 and a port
#      in 20000-30000, and its binding in xgw nat64 bib --json (dynamic).
#      The listings are up to 500 ms old: they are taken again (up to 3 s)
#      until the flow shows. One ICMP session per echo flow, (X',Y',i1) <->
#      (T,Z,i2) (RFC 6146 3.5.3), for ping's identifier 4242 (outside pool4:
#      xgw maps it) and 25000 (inside: kept). Then a fresh ICMP and UDP flow
#      and silence: every ICMP session is gone within its timeout (10 s) +
#      5 s, every UDP session within 20 + 5 s, not before timeout - 1 s; no
#      session is created meanwhile, sessions_expired grows by exactly the
#      sessions that went, and the ICMP and UDP bindings go with them
#   g. tshark on C's veth (tagged frames) and S's veth over RA and a-e, with
#      IP/TCP/UDP checksum validation: no malformed frame, no checksum
#      complaint, no warning; every frame on C's link is VLAN 100 and IPv6;
#      S sees only IPv4 between itself and 203.0.113.1 (and ARP, and xgw's
#      own IPv6 ND); packets translated by xgw arrive with hop limit / TTL 63
#      (traceroute probes aside), those from 203.0.113.1 with their port or
#      echo identifier in 20000-30000; ICMP errors only those traceroute
#      causes. The bulk of iperf3's TCP run (segments without SYN/FIN/RST)
#      is left out of these captures: 2000 of its frames, from its start,
#      are captured whole on each side (tcpdump -c) and dissected the same
#      way, and the receiving kernels' checksum error counters (TCP, UDP,
#      ICMP) stay put
#   h. xgw's counters: no nat64.* drop over a-e, rx + emitted = tx + local
#      + dropped + pending over a-e; at the end the same with pending 0, no
#      dead worker; SIGTERM exits 0, no XDP program left, no ERROR/WARN in
#      xgw's log; the host's /etc/resolv.conf unchanged
#   i. from S, to 203.0.113.1: a UDP datagram to a pool4 port no binding
#      holds gets ICMP 3/13 (administratively prohibited: the sender's
#      IP_RECVERR and the capture on s0, which quotes the port), so does an
#      echo request with that identifier (ping: "Packet filtered"); a TCP
#      SYN to that port is held for a simultaneous open (pending meanwhile)
#      and answered with Port Unreachable after tcp_incoming_syn (2 s here:
#      connect() refused after 2 s), the retransmitted SYN too; nothing is
#      dropped (xgw counts what it answers with an ICMP error as tx); UDP
#      to port 40000 (outside pool4) gets the router's port unreachable
#      (3/3); ping -e 1000 (outside pool4) is answered by xgw itself, 3/3
#   j. wkp_strict (RFC 6052 §3.1), xgw started again with it: S also holds
#      8.8.8.8 (global; routed via S); ping -6 64:ff9b::808:808 from C
#      gets 2/2 answers, ping -6 to S's documentation address 203.0.113.80
#      none, each of its echo requests dropped as nat64.wkp_non_global;
#      a clean SIGTERM exit
# Knobs: FILE_BYTES=1048576  IPERF_SECS=5  IPERF_UDP_RATE=50M  SAMPLE=2000
#        XT_KEEP=1 (keep namespaces/captures/logs)  XGW=path
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=nat64
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in traceroute curl tcpdump tshark sha256sum iperf3 unbound unbound-checkconf rdisc6 dig getent; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs it)"
done
# an xgw older than its sources tests something else than the tree
newer=$(find "$XT_ROOT/engine" "$XT_ROOT/pipelines" "$XT_ROOT/Cargo.lock" -newer "$XGW" -type f \
  \( -name '*.rs' -o -name 'Cargo.*' \) 2>/dev/null | head -n 3 | tr '\n' ' ')
[[ -z $newer ]] || warn "$XGW is older than $newer(cargo build --release)"

FILE_BYTES=${FILE_BYTES:-1048576}
IPERF_SECS=${IPERF_SECS:-5}
IPERF_UDP_RATE=${IPERF_UDP_RATE:-50M}
SAMPLE=${SAMPLE:-2000}
T0=$(date +%s)

NS_C=$(xt_ns c); NS_X=$(xt_ns x); NS_S=$(xt_ns s); NS_D=$(xt_ns d)
IF_C=c0; VLAN=100
IF_X6=xd-v6; IF_X4=xd-v4; IF_XD=xd-dns; IF_S=s0; IF_D=d0
MAC_C=02:64:00:00:00:02; MAC_X6=02:64:00:00:00:01
MAC_X4=02:44:00:00:00:01; MAC_S=02:44:00:00:00:80
MAC_XD=02:53:00:00:00:01; MAC_D=02:53:00:00:00:53
PFX6=2001:db8:64::/64; X6=2001:db8:64::1     # the client's segment (VLAN 100)
XD6=2001:db8:53::1; D6=2001:db8:53::53       # the resolver's segment
X4=203.0.113.1; S4=203.0.113.80              # the IPv4 side; X4 is pool4 too
POOL6=64:ff9b::/96; POOL_LO=20000; POOL_HI=30000
S_IMG=64:ff9b::cb00:7150                     # S seen from IPv6 (RFC 6052 /96)
NAME=server.example
T_UDP=20; T_ICMP=10; T_TRANS=10; T_SYN=2
P_HTTP=8080; P_IPERF=5201; P_ECHO=7007
ID_OUT=4242; ID_IN=25000                     # ICMP echo identifiers: outside / inside pool4
SOCK=$XT_WORK/ctl.sock
XGW_LOG=""
ETC_NETNS=/etc/netns/$NS_C
ETC_NETNS_MADE=0; [[ -d /etc/netns ]] || ETC_NETNS_MADE=1
RESOLV_SUM0=$(sha256sum /etc/resolv.conf | cut -d' ' -f1)

# C's resolv.conf lives in /etc/netns/<ns>/ (ip netns exec bind-mounts it
# over /etc/resolv.conf): remove it with the namespaces
# shellcheck disable=SC2317  # the EXIT trap
nat64_cleanup() {
  local rc=$?
  trap - ERR
  set +e
  if [[ $XT_KEEP != 1 && -n $ETC_NETNS && -d $ETC_NETNS ]]; then
    rm -rf "$ETC_NETNS"
    ((ETC_NETNS_MADE)) && rmdir /etc/netns 2>/dev/null
  fi
  (exit "$rc")
  xt_cleanup
}
trap nat64_cleanup EXIT

# eui64 PREFIX MAC: the SLAAC address (as ip prints it)
eui64() {
  "$XT_PY" -c '
import ipaddress as I, sys
m = bytes.fromhex(sys.argv[2].replace(":", "")); m = bytes([m[0] ^ 2]) + m[1:3] + b"\xff\xfe" + m[3:]
print(I.IPv6Address(I.IPv6Network(sys.argv[1]).network_address.packed[:8] + m))' "$1" "$2"
}
C6=$(eui64 "$PFX6" "$MAC_C")                 # C's SLAAC address
LL_X=$(eui64 fe80::/64 "$MAC_X6")            # xgw's link-local on VLAN 100
check_eq "RFC 6052 /96 image of $S4 in $POOL6" "$S_IMG" \
  "$("$XT_PY" -c 'import ipaddress as I, sys; print(I.IPv6Address(I.IPv6Network(sys.argv[1]).network_address.packed[:12] + I.IPv4Address(sys.argv[2]).packed))' "$POOL6" "$S4")"

csh() { ip netns exec "$NS_C" "$@"; }
# csys IF KEY [VALUE]: /proc/sys/net/ipv6/conf/IF/KEY in C (IF may hold a dot)
csys() {
  if (($# > 2)); then csh sh -c "echo $3 >/proc/sys/net/ipv6/conf/$1/$2"
  else csh cat "/proc/sys/net/ipv6/conf/$1/$2"; fi
}
in_pool() { [[ $1 =~ ^[0-9]+$ ]] && ((POOL_LO <= $1 && $1 <= POOL_HI)); }

# write_vlan_tc: $XT_WORK/vlan_tc.py (see the lab below)
write_vlan_tc() {
  cat >"$XT_WORK/vlan_tc.py" <<'EOF'
# vlan_tc.py IFNAME VID: makes IFNAME an 802.1Q VLAN VID port for the host
# stack, for kernels without 8021q (no VLAN devices): two tc-BPF programs
# (clsact, direct action), loaded with bpf(2) and attached over rtnetlink.
#   egress:  bpf_skb_vlan_push(skb, 0x8100, VID)  (tag inlined by the kernel
#            when the device's txvlan offload is off)
#   ingress: frames tagged VID lose their tag (bpf_skb_vlan_pop); untagged
#            frames and other VLANs are dropped
import ctypes, os, socket, struct, sys
ifname, vid = sys.argv[1], int(sys.argv[2])
assert 1 <= vid <= 4094
libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF = 321  # x86_64
BPF_PROG_LOAD, SCHED_CLS = 5, 3
def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
MOV64_X, MOV64_K, LDXW, AND64_K, JEQ_K, JNE_K, CALL, EXIT = 0xbf, 0xb7, 0x61, 0x57, 0x15, 0x55, 0x85, 0x95
VLAN_PUSH, VLAN_POP = 18, 19
SK_VLAN_PRESENT, SK_VLAN_TCI = 20, 24  # offsetof(struct __sk_buff, ...)
OK, SHOT = 0, 2
push = b"".join([
    insn(MOV64_K, 2, imm=socket.htons(0x8100)),
    insn(MOV64_K, 3, imm=vid),
    insn(CALL, imm=VLAN_PUSH),
    insn(JNE_K, 0, off=2, imm=0),
    insn(MOV64_K, 0, imm=OK), insn(EXIT),
    insn(MOV64_K, 0, imm=SHOT), insn(EXIT),
])
pop = b"".join([
    insn(MOV64_X, 6, 1),
    insn(LDXW, 2, 6, SK_VLAN_PRESENT),
    insn(JEQ_K, 2, off=7, imm=0),
    insn(LDXW, 2, 6, SK_VLAN_TCI),
    insn(AND64_K, 2, imm=0xfff),
    insn(JNE_K, 2, off=4, imm=vid),
    insn(MOV64_X, 1, 6),
    insn(CALL, imm=VLAN_POP),
    insn(MOV64_K, 0, imm=OK), insn(EXIT),
    insn(MOV64_K, 0, imm=SHOT), insn(EXIT),
])
def load(code, name):
    lic = ctypes.create_string_buffer(b"GPL")
    buf = ctypes.create_string_buffer(code)
    log = ctypes.create_string_buffer(65536)
    attr = bytearray(128)
    struct.pack_into("<IIQQIIQI", attr, 0, SCHED_CLS, len(code) // 8, ctypes.addressof(buf),
                     ctypes.addressof(lic), 1, len(log), ctypes.addressof(log), 0)
    struct.pack_into("16s", attr, 48, name.encode())  # prog_name (after prog_flags at 44)
    a = (ctypes.c_char * len(attr)).from_buffer(attr)
    fd = libc.syscall(SYS_BPF, BPF_PROG_LOAD, a, len(attr))
    if fd < 0:
        sys.exit("bpf(BPF_PROG_LOAD %s): %s\n%s" % (name, os.strerror(ctypes.get_errno()), log.value.decode(errors="replace")))
    return fd
def attr(t, data):
    return struct.pack("<HH", 4 + len(data), t) + data + b"\0" * (-len(data) % 4)
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
seq = 0
def request(msgtype, flags, body):
    global seq
    seq += 1
    nl.send(struct.pack("<IHHII", 16 + len(body), msgtype, flags | 0x1 | 0x4, seq, 0) + body)  # REQUEST|ACK
    data = nl.recv(65536)
    _, t, _, _, _ = struct.unpack_from("<IHHII", data)
    err = struct.unpack_from("<i", data, 16)[0] if t == 2 else 0
    if err:
        sys.exit("rtnetlink %d: %s" % (msgtype, os.strerror(-err)))
idx = socket.if_nametoindex(ifname)
TC_H_CLSACT, ING, EGR = 0xFFFFFFF1, 0xFFFFFFF2, 0xFFFFFFF3
def tcmsg(handle, parent, info):
    return struct.pack("<BxxxiIII", socket.AF_UNSPEC, idx, handle, parent, info)
RTM_NEWQDISC, RTM_NEWTFILTER, CREATE, EXCL = 36, 44, 0x400, 0x200
request(RTM_NEWQDISC, CREATE | EXCL, tcmsg(0xFFFF0000, TC_H_CLSACT, 0) + attr(1, b"clsact\0"))
for parent, code, name in ((EGR, push, "vlan%d_push" % vid), (ING, pop, "vlan%d_pop" % vid)):
    fd = load(code, name[:15])
    opts = attr(6, struct.pack("<I", fd)) + attr(7, name.encode() + b"\0") + attr(8, struct.pack("<I", 1))
    request(RTM_NEWTFILTER, CREATE | EXCL, tcmsg(1, parent, (1 << 16) | socket.htons(0x0003))
            + attr(1, b"bpf\0") + attr(2 | 0x8000, opts))
    os.close(fd)
print("%s: VLAN %d by tc-BPF (egress push, ingress pop; untagged and other VLANs dropped)" % (ifname, vid))
EOF
}

# ---------------------------------------------------------------------------
step "lab: $NS_C (IPv6 only, VLAN $VLAN) <-> $NS_X (xgw NAT64) <-> $NS_S (IPv4 only); $NS_D (DNS64)"
xt_ns_add "$NS_C" ipv6
xt_ns_add "$NS_D" ipv6
xt_ns_add "$NS_S"   # IPv6 disabled
xt_ns_add "$NS_X"   # IPv6 off: xgw's kernel has nothing to say on its ports
xt_veth "$NS_C" "$IF_C" "$NS_X" "$IF_X6"
xt_veth "$NS_X" "$IF_X4" "$NS_S" "$IF_S"
xt_veth "$NS_X" "$IF_XD" "$NS_D" "$IF_D"
xt_dut_if "$NS_X" "$IF_X6" "$MAC_X6"
xt_dut_if "$NS_X" "$IF_X4" "$MAC_X4"
xt_dut_if "$NS_X" "$IF_XD" "$MAC_XD"
# the client: c0 is its VLAN 100 port. This kernel has no 802.1Q devices
# (CONFIG_VLAN_8021Q unset: `ip link add link c0 type vlan` is refused), so
# two tc-BPF programs on c0 do what a VLAN sub-interface does: every frame
# C sends leaves tagged 100, tagged frames arrive untagged in C's stack and
# anything else (untagged, another VLAN) is dropped. txvlan off: the tag is
# written into the frame; with the offload on it stays in the skb's
# metadata, xgw's XDP program gets the frame untagged and xgw drops it as
# l2.no_interface (seen). TX checksum offload off, as everywhere.
ip -n "$NS_C" link set dev "$IF_C" address "$MAC_C"
csh ethtool -K "$IF_C" tx off txvlan off >/dev/null 2>&1 || die "ethtool -K $IF_C tx off txvlan off failed"
for kv in accept_ra=1 autoconf=1 accept_ra_defrtr=1 accept_ra_pinfo=1 addr_gen_mode=0 router_solicitations=0; do
  csys "$IF_C" "${kv%%=*}" "${kv#*=}"
done
write_vlan_tc
rc=0; out=$(csh "$XT_PY" "$XT_WORK/vlan_tc.py" "$IF_C" "$VLAN" 2>&1) || rc=$?
check_eq "tc-BPF 802.1Q tagger on $IF_C (VLAN $VLAN)" 0 "$rc" "$out"
check_eq "tc filters on $IF_C (egress ingress)" "vlan${VLAN}_push vlan${VLAN}_pop" \
  "$(for d in egress ingress; do tc -n "$NS_C" filter show dev "$IF_C" "$d" | grep -oE "vlan${VLAN}_(push|pop) direct-action" | cut -d' ' -f1; done | paste -sd' ')"
ip -n "$NS_C" link set dev "$IF_C" up
xt_host_if "$NS_S" "$IF_S" "$S4/24" "$MAC_S"
ip -n "$NS_S" route add default via "$X4"
ip netns exec "$NS_S" sysctl -qw "net.ipv6.conf.$IF_S.disable_ipv6=1" net.ipv4.icmp_ratelimit=0 >/dev/null
ip -n "$NS_D" link set dev "$IF_D" address "$MAC_D"
ip netns exec "$NS_D" ethtool -K "$IF_D" tx off >/dev/null 2>&1 || die "ethtool -K $IF_D tx off failed"
ip netns exec "$NS_D" sh -c "echo 0 >/proc/sys/net/ipv6/conf/$IF_D/accept_ra"
ip -n "$NS_D" -6 addr add "$D6/64" dev "$IF_D" nodad
ip -n "$NS_D" link set dev "$IF_D" up
ip -n "$NS_D" -6 route add default via "$XD6"
# single-stack, really
check_eq "C has no IPv4 address" "" "$(ip -n "$NS_C" -4 -o addr show | awk '$2 != "lo" { print $2, $4 }' | paste -sd' ')"
check_eq "S has no IPv6 address (disable_ipv6)" "" "$(ip -n "$NS_S" -6 -o addr show | awk '{ print $2, $4 }' | paste -sd' ')"
check_eq "C has no global IPv6 address before xgw runs" "" "$(ip -n "$NS_C" -6 -o addr show scope global | awk '{ print $4 }' | paste -sd' ')"

cat >"$XT_WORK/xgw.toml" <<EOF
# written by tests/netns/nat64.sh
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

[[ports]]
name = "pd"
driver = "af_xdp"
interface = "$IF_XD"

[pipeline]
kind = "router"

# the client's segment: an 802.1Q sub-interface, advertised
[[interfaces]]
name = "lan"
port = "p6"
vlan = $VLAN
ipv6 = ["$X6/64"]

[interfaces.ra]
rdnss = { servers = ["$D6"] }
pref64 = { prefix = "$POOL6" }

# the resolver's segment
[[interfaces]]
name = "dns"
port = "pd"
ipv6 = ["$XD6/64"]

[[interfaces]]
name = "wan"
port = "p4"
ipv4 = ["$X4/24"]

[nat64]
mode = "nat64"
pool6 = "$POOL6"
# pool4 shares the wan address with the router by port range
pool4 = [ { address = "$X4", ports = [$POOL_LO, $POOL_HI] } ]
timeouts = { udp = $T_UDP, tcp_established = 7200, tcp_transitory = $T_TRANS, icmp = $T_ICMP, tcp_incoming_syn = $T_SYN }
EOF
rc=0; out=$("$XGW" check --config "$XT_WORK/xgw.toml" 2>&1) || rc=$?
check_eq "xgw check accepts the NAT64 config" 0 "$rc" "${out:0:300}"

# ---------------------------------------------------------------------------
# helpers (the style of siit.sh)
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
# nat64_show session|bib OUT_FILE: xgw nat64 ... --json
nat64_show() {
  local rc=0
  timeout 10 "$XGW" nat64 "$1" --json --socket "$SOCK" >"$2" 2>"$2.err" || rc=$?
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
# cap_start NS IF FILE [FILTER] [COUNT]: tcpdump (whole frames, a 64 MiB
# buffer; FILTER, default everything; COUNT frames, default no limit) in NS
# on IF; sets CAP_PID
cap_start() {
  local i c=()
  [[ -n ${5:-} ]] && c=(-c "$5")
  ip netns exec "$1" tcpdump -i "$2" -n -s 0 -B 65536 -Z root --immediate-mode -U "${c[@]}" -w "$3" ${4:+"$4"} >/dev/null 2>"$3.err" &
  CAP_PID=$!
  XT_PIDS+=("$CAP_PID")
  for ((i = 0; i < 50; i++)); do
    grep -q 'listening on' "$3.err" 2>/dev/null && return 0
    sleep 0.1
  done
  die "tcpdump on $2 in $1 did not start: $(cat "$3.err")"
}
cap_stop() { # PID FILE [sample]
  sleep 0.3
  kill -s INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  log "tcpdump $(basename "$2"): $(grep -E 'captured|dropped by kernel' "$2.err" | tr '\n' ' ')"
  # a sample (-c) is complete without the frames tcpdump lost around it
  # (after its last one, the ring fills up at several Gbit/s until it exits)
  [[ ${3:-} == sample ]] && return 0
  local drop; drop=$(awk '/dropped by kernel/ { print $1 }' "$2.err")
  check_eq "tcpdump on $(basename "$2" .pcap): packets dropped by the kernel" 0 "${drop:-?}"
}
# wait_for SECONDS CMD...: polls CMD every 0.2 s
wait_for() {
  local t=$1 i; shift
  for ((i = 0; i < t * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}
# shellcheck disable=SC2317  # called through wait_for
has_ll() { ip -n "$NS_C" -6 addr show dev "$IF_C" scope link | grep -E "inet6 fe80::" | grep -qv tentative; }
# shellcheck disable=SC2317  # called through wait_for
has_slaac() { ip -n "$NS_C" -6 addr show dev "$IF_C" scope global | grep -q "inet6 $C6/64 "; }
# shellcheck disable=SC2317  # called through wait_for
has_defrtr() { ip -n "$NS_C" -6 route show default | grep -q "via $LL_X dev $IF_C proto ra"; }
# shellcheck disable=SC2317  # called through wait_for
listening() { ip netns exec "$1" ss -H "-ln$2" "sport = :$3" | grep -q .; } # NS t|u PORT
# kernel checksum error counters of C and S (v4 and v6)
csum_errors() {
  local snmp6
  snmp6=$(csh cat /proc/net/snmp6)
  printf 'C:Tcp=%s C:Udp6=%s C:Icmp6=%s S:Tcp=%s S:Udp=%s S:Icmp=%s' \
    "$(xt_snmp "$NS_C" Tcp InCsumErrors)" "$(awk '$1 == "Udp6InCsumErrors" { print $2 }' <<<"$snmp6")" \
    "$(awk '$1 == "Icmp6InCsumErrors" { print $2 }' <<<"$snmp6")" \
    "$(xt_snmp "$NS_S" Tcp InCsumErrors)" "$(xt_snmp "$NS_S" Udp InCsumErrors)" "$(xt_snmp "$NS_S" Icmp InCsumErrors)"
}

# ---------------------------------------------------------------------------
# python helpers
cat >"$XT_WORK/http_srv.py" <<'EOF'
# http_srv.py BIND PORT DIR: python3's http.server (SimpleHTTPRequestHandler),
# logging each client as ADDRESS:PORT (the stock log names the address
# only), and without the server's reverse lookup of its own address at
# start (S has no resolver: it would go to the host's, through xgw)
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
cat >"$XT_WORK/udp.py" <<'EOF'
# udp.py echo BIND PORT: echoes every datagram, logging "ADDR:PORT SIZE"
# udp.py client DST PORT: one datagram, waits 2 s for the identical echo;
#   prints the local port, exit 0 when it came
# udp.py probe DST PORT: one IPv4 datagram from an unconnected socket with
#   IP_RECVERR; prints "icmp TYPE/CODE from OFFENDER" for the error that
#   comes back within 2 s, or "none"
# udp.py syn DST PORT SECONDS: a TCP connect given SECONDS: prints
#   "timeout", "refused", "unreachable (ERRNO)" or "connected", and the
#   seconds it took
import os, select, socket, struct, sys
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if mode == "echo":
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)
        print("%s:%d %d" % (peer[0], peer[1], len(data)), flush=True)
elif mode == "syn":
    import time
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.settimeout(float(sys.argv[4]))
    t0 = time.monotonic()
    try:
        t.connect((addr, port))
        r = "connected"
    except socket.timeout:
        r = "timeout"
    except ConnectionRefusedError:
        r = "refused"
    except OSError as e:
        r = "unreachable (%s)" % e.strerror
    print("%s %.1f" % (r, time.monotonic() - t0))
elif mode == "client":
    s.settimeout(2)
    msg = b"XGWNAT64" + os.urandom(56)
    s.sendto(msg, (addr, port))
    print(s.getsockname()[1])
    data, peer = s.recvfrom(65536)
    sys.exit(0 if data == msg else 1)
else:
    s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
    s.sendto(b"XGWNAT64 unsolicited", (addr, port))
    p = select.poll()
    p.register(s, select.POLLERR)
    if not p.poll(2000):
        print("none")
        sys.exit(0)
    _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    for level, typ, data in anc:
        if level == socket.IPPROTO_IP and typ == 11:
            errno_, origin, t, c = struct.unpack_from("=IBBB", data)
            off = socket.inet_ntoa(data[16 + 4:16 + 8])  # sock_extended_err (16) + sockaddr_in
            print("icmp %d/%d from %s (origin %d, errno %d)" % (t, c, off, origin, errno_))
            sys.exit(0)
    print("none")
EOF
cat >"$XT_WORK/dissect.py" <<'EOF'
# dissect.py TSV MODE EXPECT_JSON: tshark -T fields output (see tshark_fields
# in nat64.sh) of C's veth (MODE "c") or S's (MODE "s"). Prints PASS/FAIL/INFO.
import json, sys
PI_WARN, PI_CHECKSUM, PI_SEQUENCE, PI_MALFORMED = 0x00600000, 0x01000000, 0x02000000, 0x07000000
NDMLD = {130, 131, 132, 133, 134, 135, 136, 137, 143}
mode, exp = sys.argv[2], json.load(open(sys.argv[3]))
sample = len(sys.argv) > 4 and sys.argv[4] == "sample"   # iperf3's TCP run only: no counts expected
lo, hi = exp["pool_lo"], exp["pool_hi"]
def nums(s, base=10):
    return [int(x, base) for x in s.replace(",", "|").split("|") if x.strip()] if s else []
def first(s):
    return s.replace(",", "|").split("|")[0] if s else ""
def n1(s):
    v = nums(s)
    return v[0] if v else None
bad, foreign, untagged, wrongfam, ttl_bad, port_bad, errors = [], [], [], [], [], [], []
total = conv = ffff = 0
cnt = {}
def inc(k):
    cnt[k] = cnt.get(k, 0) + 1
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    f += [""] * (24 - len(f))
    (num, protos, vlan, ip_src, ip_dst, ttl, ip6_src, ip6_dst, hlim, icmp_t, icmp_c, icmp_id,
     icmp6_t, icmp6_c, tsport, tdport, usport, udport, sev, grp, msg, malformed) = f[:22]
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
    it4, ic4, it6, ic6 = n1(icmp_t), n1(icmp_c), n1(icmp6_t), n1(icmp6_c)
    if mode == "c":
        if n1(vlan) != exp["vlan"]:
            untagged.append("frame %s: vlan %r [%s]" % (num, vlan, protos))
        if "ip" in p or "arp" in p:
            wrongfam.append("frame %s [%s]" % (num, protos))
            continue
        if "ipv6" not in p:
            continue
        src, dst = first(ip6_src), first(ip6_dst)
        if it6 in NDMLD:
            inc("ndmld")
            if it6 == 134:
                inc("ra")
            continue
        if src.startswith("fe80:") or dst.startswith("ff0"):
            foreign.append("frame %s: %s > %s [%s]" % (num, src, dst, protos))
            continue
        pair = {src, dst}
        if pair == {exp["client"], exp["image"]}:
            d = "in" if src == exp["image"] else "out"
            inc(d)
            if d == "in":
                if n1(hlim) != exp["in_ttl"]:
                    ttl_bad.append("frame %s: hop limit %s from %s" % (num, hlim, src))
                if it6 is not None and it6 < 128:
                    inc("err%d/%d" % (it6, ic6))
                    if (it6, ic6) not in ((1, 4),):
                        errors.append("frame %s: ICMPv6 %d/%d from %s" % (num, it6, ic6, src))
            if it6 in (128, 129):
                inc("%s.icmp%d" % (d, it6))
            if "tcp" in p:
                inc(d + ".tcp")
            if "udp" in p:
                inc(d + ".udp")
        elif pair == {exp["client"], exp["dns"]}:
            inc("dns")
            if src == exp["dns"] and n1(hlim) != exp["in_ttl"]:
                ttl_bad.append("frame %s: hop limit %s from %s" % (num, hlim, src))
            if not (("udp" in p and 53 in (n1(usport), n1(udport))) or ("tcp" in p and 53 in (n1(tsport), n1(tdport)))):
                foreign.append("frame %s: %s > %s, not DNS [%s]" % (num, src, dst, protos))
        elif src == exp["router"] and dst == exp["client"] and it6 == 3:
            inc("err3/%d" % ic6)   # traceroute's hop 1
        else:
            foreign.append("frame %s: %s > %s [%s]" % (num, src, dst, protos))
    else:
        if "ipv6" in p:
            if first(ip6_src) == exp["router_ll"] and it6 in NDMLD:
                inc("xgw_nd6")   # xgw's unsolicited NA at start (see the report)
            else:
                wrongfam.append("frame %s [%s]" % (num, protos))
            continue
        if "arp" in p:
            inc("arp")
            continue
        if "ip" not in p:
            foreign.append("frame %s [%s]" % (num, protos))
            continue
        src, dst = first(ip_src), first(ip_dst)
        if {src, dst} != {exp["server"], exp["pool4"]}:
            foreign.append("frame %s: %s > %s [%s]" % (num, src, dst, protos))
            continue
        d = "in" if src == exp["pool4"] else "out"
        inc(d)
        probe = "udp" in p and n1(udport) is not None and 33434 <= n1(udport) <= 33534 and it4 is None
        if d == "in":
            if probe:
                inc("probes")
            elif n1(ttl) != exp["in_ttl"]:
                ttl_bad.append("frame %s: TTL %s from %s" % (num, ttl, src))
            port = n1(tsport) if "tcp" in p else n1(usport) if "udp" in p and it4 is None else n1(icmp_id) if it4 == 8 else None
            if it4 is None or it4 == 8:
                if port is None or not lo <= port <= hi:
                    port_bad.append("frame %s: source port / identifier %s [%s]" % (num, port, protos))
        if it4 is not None and it4 not in (0, 8):
            inc("err%d/%d" % (it4, ic4))
            if d == "in" or (it4, ic4) != (3, 3):
                errors.append("frame %s: ICMP %d/%d from %s" % (num, it4, ic4, src))
        if it4 in (0, 8):
            inc("%s.icmp%d" % (d, it4))
        if "tcp" in p:
            inc(d + ".tcp")
        if "udp" in p and it4 is None:
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
check(not foreign, "no foreign traffic (%d frames)%s" % (len(foreign), lst(foreign)))
check(not ttl_bad, "%d packets in from %s, all with %s %d%s" % (
    cnt.get("in", 0), exp.get("image", exp.get("pool4")), "hop limit" if mode == "c" else "TTL",
    exp["in_ttl"], lst(ttl_bad)))
check(not errors, "ICMP errors only those traceroute causes%s" % lst(errors))
if mode == "c" and sample:
    check(not untagged, "every frame on %s is tagged VLAN %d (%d not)%s" % (exp["ifname"], exp["vlan"], len(untagged), lst(untagged)))
elif mode == "c":
    check(not untagged, "every frame on %s is tagged VLAN %d (%d not)%s" % (exp["ifname"], exp["vlan"], len(untagged), lst(untagged)))
    check(not wrongfam, "no IPv4 or ARP on the client's link (%d frames)%s" % (len(wrongfam), lst(wrongfam)))
    for k in ("ra", "dns", "in.icmp129", "out.icmp128", "in.tcp", "out.tcp", "in.udp", "out.udp", "err3/0", "err1/4"):
        check(cnt.get(k, 0) > 0, "%s: %d frames" % (k, cnt.get(k, 0)))
else:
    check(not wrongfam, "no IPv6 on the server's link but xgw's own ND (%d frames)%s" % (len(wrongfam), lst(wrongfam)))
    if sample:
        check(not port_bad, "every packet from %s has its source port in %d-%d%s" % (exp["pool4"], lo, hi, lst(port_bad)))
        print("INFO counts: %s" % " ".join("%s=%d" % kv for kv in sorted(cnt.items())))
        sys.exit(0 if ok else 1)
    check(not port_bad, "every packet from %s (but errors) has its source port / echo identifier in %d-%d%s" % (
        exp["pool4"], lo, hi, lst(port_bad)))
    for k in ("in.icmp8", "out.icmp0", "in.tcp", "out.tcp", "in.udp", "out.udp", "err3/3", "probes"):
        check(cnt.get(k, 0) > 0, "%s: %d frames" % (k, cnt.get(k, 0)))
print("INFO counts: %s" % " ".join("%s=%d" % kv for kv in sorted(cnt.items())))
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
tshark_fields() {
  local rc=0
  tshark -r "$1" -n "${NOHEUR[@]}" \
    -d "tcp.port==$P_HTTP,http" -d "tcp.port==$P_IPERF,data" -d "udp.port==$P_IPERF,data" -d "udp.port==$P_ECHO,data" \
    -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE \
    -o tcp.analyze_sequence_numbers:FALSE \
    -T fields -E occurrence=a -E separator=$'\t' -E 'aggregator=|' \
    -e frame.number -e frame.protocols -e vlan.id -e ip.src -e ip.dst -e ip.ttl \
    -e ipv6.src -e ipv6.dst -e ipv6.hlim -e icmp.type -e icmp.code -e icmp.ident \
    -e icmpv6.type -e icmpv6.code -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport \
    -e _ws.expert.severity -e _ws.expert.group -e _ws.expert.message -e _ws.malformed \
    >"$2" 2>"$2.err" || rc=$?
  check_eq "tshark reads $(basename "$1")" 0 "$rc" "$( ((rc == 0)) || head -c 300 "$2.err")"
}

# sessions.py FILE ...: rows of `xgw nat64 session|bib --json` as checks
cat >"$XT_WORK/sessions.py" <<'EOF'
# sessions.py KIND FILE ARGS: KIND
#   find  FILE PROTO V6LOCAL_ADDR [V6LOCAL_PORT|-] V4REMOTE [STATE|-]: the
#         sessions that match; prints "N|ipv4_local|state|expires_in_s;..."
#   count FILE PROTO: sessions (or bindings) of PROTO
#   bib   FILE PROTO V6ADDR PORT: "ipv4 static sessions" of that binding, or "none"
#   totals FILE: "sessions bib created expired" summed over the workers
#   icmp  FILE V6ADDR: PASS/FAIL lines on the ICMP query sessions of V6ADDR
#         (RFC 6146 3.5.3: one session (X',Y',i1) <--> (T,Z,i2) per echo
#         flow: the remote "ports" are each side's own identifier)
import json, sys
kind, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
def split(a):
    h, _, p = a.rpartition(":")
    return h.strip("[]"), p
if kind == "find":
    proto, a6, p6, r4 = sys.argv[3:7]
    st = sys.argv[7] if len(sys.argv) > 7 else "-"
    out = []
    for r in d["sessions"]:
        h6, q6 = split(r["ipv6_local"])
        if r["protocol"] != proto or h6 != a6 or (p6 != "-" and q6 != p6):
            continue
        if r4 != "-" and r["ipv4_remote"] != r4 and split(r["ipv4_remote"])[0] != r4:
            continue
        if st != "-" and r["state"] != st:
            continue
        out.append("%s|%s|%s|%s" % (q6, r["ipv4_local"], r["state"] or "-", r["expires_in_s"]))
    print(";".join(out))
elif kind == "count":
    print(sum(1 for r in d.get("sessions", d.get("bib", [])) if r["protocol"] == sys.argv[3]))
elif kind == "bib":
    proto, a6, p6 = sys.argv[3:6]
    rows = [r for r in d["bib"] if r["protocol"] == proto and r["ipv6"] == "[%s]:%s" % (a6, p6)]
    print(" ".join("%s %s %s" % (r["ipv4"], "static" if r["static"] else "dynamic", r["sessions"]) for r in rows) or "none")
elif kind == "icmp":
    a6 = sys.argv[3]
    flows = {}
    for r in d["sessions"]:
        h6, i1 = split(r["ipv6_local"])
        if r["protocol"] == "icmp" and h6 == a6:
            flows.setdefault((i1, split(r["ipv6_remote"])[0]), []).append(r)
    print(("PASS " if flows else "FAIL ") + "ICMP sessions of %s: %d echo flow(s)" % (a6, len(flows)))
    for (i1, y6), rows in sorted(flows.items()):
        desc = ", ".join("[%s]:%s <-> %s -> %s" % (a6, i1, r["ipv4_local"], r["ipv4_remote"]) for r in rows)
        print(("PASS " if len(rows) == 1 else "FAIL ") + "echo flow %s -> %s: one session (RFC 6146 3.5.3), got %d: %s" % (i1, y6, len(rows), desc))
        for r in rows:
            i2 = split(r["ipv4_local"])[1]
            ok = split(r["ipv6_remote"])[1] == i1 and split(r["ipv4_remote"])[1] == i2
            print(("PASS " if ok else "FAIL ") + "session (X',Y',i1) <--> (T,Z,i2): ipv6 %s -> %s, ipv4 %s -> %s (remote identifiers = each side's own: %s, %s)"
                  % (r["ipv6_local"], r["ipv6_remote"], r["ipv4_local"], r["ipv4_remote"], i1, i2))
elif kind == "totals":
    w = d["workers"]
    print(" ".join(str(sum(x[k] for x in w)) for k in ("sessions", "bib", "sessions_created", "sessions_expired")))
EOF
sess() { "$XT_PY" "$XT_WORK/sessions.py" "$@"; }
# snap_sessions TAG: session and bib listings ($XT_WORK/sess-TAG.json,
# bib-TAG.json), taken one after the other
snap_sessions() {
  nat64_show session "$XT_WORK/sess-$1.json" || true
  nat64_show bib "$XT_WORK/bib-$1.json" || true
}
# session_rows TAG PROTO V6PORT|- V4REMOTE STATE|-: sets SESS_ROWS to C's
# sessions that match ("port6|ipv4_local|state|expires;...") and SESS_BAD
# to what is wrong with them (ipv4_local not X4 with a port in pool4,
# binding not listed)
session_rows() {
  local rows row q6 l4 b arr
  SESS_BAD=""; SESS_ROWS=""
  rows=$(sess find "$XT_WORK/sess-$1.json" "$2" "$C6" "$3" "$4" "$5" 2>&1) || { SESS_BAD="$rows"; return 0; }
  SESS_ROWS=$rows
  IFS=';' read -ra arr <<<"$rows"
  for row in "${arr[@]}"; do
    IFS='|' read -r q6 l4 _ <<<"$row"
    if [[ ${l4%:*} != "$X4" ]] || ! in_pool "${l4##*:}"; then SESS_BAD+=" [$C6]:$q6->$l4"; fi
    b=$(sess bib "$XT_WORK/bib-$1.json" "$2" "$C6" "$q6" 2>&1 || true)
    if [[ $b != "$l4 dynamic "* ]]; then SESS_BAD+=" binding of [$C6]:$q6: '$b'"; fi
  done
}
# check_session WHAT TAG WAIT PROTO V6PORT|- V4REMOTE [STATE]: at least one
# session of C's matches, each with ipv4_local X4:port-in-pool4 and its
# binding listed (dynamic). The listings are what the workers published
# last (every 500 ms): with WAIT=1 they are taken again, for up to 3 s,
# until the session shows; WAIT=0 judges the snapshot TAG as it is. Sets
# SESS_PORT4 (the first one's pool4 port).
check_session() {
  local what=$1 tag=$2 wait=$3 proto=$4 p6=$5 r4=$6 st=${7:--} rows="" i n
  SESS_PORT4=""
  for ((i = 0; i < 15; i++)); do
    ((wait)) && snap_sessions "$tag"
    session_rows "$tag" "$proto" "$p6" "$r4" "$st"; rows=$SESS_ROWS
    [[ -n $rows && -z $SESS_BAD ]] && break
    ((wait)) || break
    sleep 0.2
  done
  n=$(tr ';' '\n' <<<"$rows" | grep -c . || true)
  if ((n > 0)) && [[ -z $SESS_BAD ]]; then
    SESS_PORT4=${rows%%;*}; SESS_PORT4=${SESS_PORT4#*|}; SESS_PORT4=${SESS_PORT4%%|*}; SESS_PORT4=${SESS_PORT4##*:}
    pass "$what: $n session(s), ${rows//;/, } (ipv6 port|ipv4_local|state|expires), bindings listed"
  else
    fail "$what: $n session(s) '$rows'${SESS_BAD:+; wrong:$SESS_BAD}"; xt_indent <"$XT_WORK/sess-$tag.json"
  fi
}

# ---------------------------------------------------------------------------
step "start xgw; C configures itself from its Router Advertisements"
# C's IPv6 must be up before xgw's first RA (sent at start) comes: the
# kernel brings it up when the link-watch event for c0's carrier is handled,
# up to a second after `ip link set up`, and an RA that comes before is lost
# on it (the next unsolicited one may be 16 s later)
if wait_for 5 has_ll; then pass "C's IPv6 is up on $IF_C: $(ip -n "$NS_C" -6 -o addr show dev "$IF_C" scope link | awk '{ print $4 }')"
else fail "C has no link-local address on $IF_C after 5 s: $(ip -n "$NS_C" -6 -br addr show dev "$IF_C")"; fi
# Everything on both links, but the bulk of iperf3's TCP run: its segments
# without SYN, FIN or RST (over 100,000 frames a second on each side, more
# than tcpdump keeps up with here). $SAMPLE frames of that run, from its
# start, are captured whole on both sides by a second tcpdump (step d), and the
# receiving kernels verify every checksum of the rest (their InCsumErrors).
CAPC=$XT_WORK/c0.pcap; CAPS=$XT_WORK/s0.pcap
cap_start "$NS_C" "$IF_C" "$CAPC" "not (vlan and ip6 and tcp port $P_IPERF and ip6[53] & 7 == 0)"; CAPC_PID=$CAP_PID
cap_start "$NS_S" "$IF_S" "$CAPS" "not (tcp port $P_IPERF and tcp[13] & 7 == 0)"; CAPS_PID=$CAP_PID
CSUM0=$(csum_errors)
T_START=$(date +%s.%N)
start_xgw
for i in "$IF_X6" "$IF_X4" "$IF_XD"; do
  if xt_xdp_attached "$NS_X" "$i"; then pass "XDP program attached on $i while running"
  else fail "no XDP program on $i while xgw runs (the no-XDP-left checks would be vacuous)"; fi
done
if wait_for 10 has_slaac; then
  pass "C has the SLAAC address $C6/64 on $IF_C after $(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
else
  fail "no SLAAC address $C6 on $IF_C: $(ip -n "$NS_C" -6 -br addr show dev "$IF_C")"
fi
if wait_for 5 has_defrtr; then
  pass "C's default route via xgw's link-local: $(ip -n "$NS_C" -6 route show default | tr -s ' ')"
else
  fail "no default route via $LL_X dev $IF_C proto ra: '$(ip -n "$NS_C" -6 route show default)'"
fi
a=$(ip -n "$NS_C" -6 -o addr show scope global | awk '{ print $2, $4 }' | paste -sd' ')
check_eq "C's only global address" "$IF_C $C6/64" "$a"
rc=0; out=$(csh timeout 15 rdisc6 -1 -w 3000 -r 3 "$IF_C" 2>&1) || rc=$?
log "rdisc6 $IF_C:"; xt_indent <<<"$out"
if ((rc == 0)) && grep -qE "Prefix +: $PFX6" <<<"$out"; then pass "rdisc6: prefix $PFX6"
else fail "rdisc6 (exit $rc): no 'Prefix : $PFX6'"; fi
RDNSS=$(awk -F' : ' '/Recursive DNS server/ { gsub(/ /, "", $2); print $2; exit }' <<<"$out")
check_eq "rdisc6: Recursive DNS server (RDNSS)" "$D6" "$RDNSS"
mkdir -p "$ETC_NETNS"
printf '# written by tests/netns/nat64.sh from the RDNSS option of xgw'"'"'s RA\nnameserver %s\noptions timeout:2 attempts:2\n' \
  "${RDNSS:-$D6}" >"$ETC_NETNS/resolv.conf"
check_eq "C's resolv.conf (ip netns exec: $ETC_NETNS/resolv.conf)" "nameserver ${RDNSS:-$D6}" \
  "$(csh grep '^nameserver' /etc/resolv.conf | paste -sd' ')"

# ---------------------------------------------------------------------------
step "the servers: Unbound (DNS64) in D; HTTP, iperf3 and UDP echo in S"
mkdir -p "$XT_WORK/unbound"
cat >"$XT_WORK/unbound/unbound.conf" <<EOF
# written by tests/netns/nat64.sh; runs in $NS_D only
server:
  interface: $D6
  port: 53
  do-ip4: no
  do-ip6: yes
  access-control: ::/0 refuse
  access-control: $PFX6 allow
  username: ""
  chroot: ""
  directory: "$XT_WORK/unbound"
  pidfile: "$XT_WORK/unbound/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  log-queries: yes
  num-threads: 1
  module-config: "dns64 iterator"
  dns64-prefix: $POOL6
  dns64-synthall: yes
# the zone is served to the iterator (for-upstream), not answered straight to
# clients: Unbound answers local-data before its modules run, so dns64 never
# sees it (an AAAA query gets NODATA), and with dns64-synthall the A query
# dns64 makes goes to the iterator, which does not read local-data either
auth-zone:
  name: "${NAME#*.}."
  zonefile: "$XT_WORK/unbound/zone"
  for-downstream: no
  for-upstream: yes
  fallback-enabled: no
remote-control:
  control-enable: no
EOF
cat >"$XT_WORK/unbound/zone" <<EOF
\$ORIGIN ${NAME#*.}.
@       3600 IN SOA ns.${NAME#*.}. hostmaster.${NAME#*.}. 1 3600 600 86400 60
@       3600 IN NS  ns.${NAME#*.}.
ns      3600 IN A   192.0.2.53
${NAME%%.*}  3600 IN A   $S4
EOF
rc=0; out=$(unbound-checkconf "$XT_WORK/unbound/unbound.conf" 2>&1) || rc=$?
check_eq "unbound-checkconf" 0 "$rc" "$out"
ip netns exec "$NS_D" unbound -d -c "$XT_WORK/unbound/unbound.conf" >"$XT_WORK/unbound/unbound.log" 2>&1 &
UNBOUND_PID=$!; XT_PIDS+=("$UNBOUND_PID")
wait_for 10 listening "$NS_D" u 53 || { xt_indent <"$XT_WORK/unbound/unbound.log"; die "unbound does not listen on [$D6]:53"; }
pass "unbound (pid $UNBOUND_PID) listens on [$D6]:53 in $NS_D: $(ip netns exec "$NS_D" ss -H -lnu 'sport = :53' | awk '{ print $4 }' | paste -sd' ')"

head -c "$FILE_BYTES" /dev/urandom >"$XT_WORK/file"
SUM=$(sha256sum "$XT_WORK/file" | cut -d' ' -f1)
mkdir -p "$XT_WORK/www"; cp "$XT_WORK/file" "$XT_WORK/www/file"
ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/http_srv.py" "$S4" "$P_HTTP" "$XT_WORK/www" >"$XT_WORK/http.log" 2>&1 &
XT_PIDS+=("$!")
ip netns exec "$NS_S" taskset -c 0 iperf3 -s -B "$S4" -p "$P_IPERF" >"$XT_WORK/iperf3-server.log" 2>&1 &
XT_PIDS+=("$!")
ip netns exec "$NS_S" "$XT_PY" -u "$XT_WORK/udp.py" echo "$S4" "$P_ECHO" >"$XT_WORK/echo.log" 2>&1 &
XT_PIDS+=("$!")
for spec in "t|$P_HTTP" "t|$P_IPERF" "u|$P_ECHO"; do
  IFS='|' read -r pr port <<<"$spec"
  wait_for 10 listening "$NS_S" "$pr" "$port" || die "no server on $pr port $port in $NS_S"
done
xt_xgw_settle "$SOCK"
stats "$XT_WORK/s0.json"

# ---------------------------------------------------------------------------
step "a. C resolves $NAME through DNS64"
rc=0; out=$(csh dig +short +time=2 +tries=2 AAAA "$NAME" 2>&1) || rc=$?
check_eq "dig AAAA $NAME (from C, its resolv.conf)" "$S_IMG" "$(paste -sd' ' <<<"$out")" "exit $rc"
rc=0; out=$(csh dig +short +time=2 +tries=2 A "$NAME" 2>&1) || rc=$?
check_eq "dig A $NAME (the zone's record)" "$S4" "$(paste -sd' ' <<<"$out")" "exit $rc"
rc=0; out=$(csh getent ahostsv6 "$NAME" 2>&1) || rc=$?
check_eq "getent ahostsv6 $NAME (the addresses)" "$S_IMG" "$(awk '{ print $1 }' <<<"$out" | sort -u | paste -sd' ')" "exit $rc"

# ---------------------------------------------------------------------------
step "b. ping -6 $NAME"
# identifier $ID_OUT, outside pool4: xgw gives the flow another one (in
# pool4); the fresh ping of the expiry step keeps its $ID_IN
rc=0; out=$(csh ping -6 -n -c 3 -i 0.2 -W 2 -e "$ID_OUT" "$NAME" 2>&1) || rc=$?
if ((rc == 0)) && grep -q '3 packets transmitted, 3 received' <<<"$out" && grep -q "PING $NAME($S_IMG)" <<<"$out"; then
  pass "ping -6 -c 3 -e $ID_OUT $NAME ($S_IMG): $(grep -E 'packets transmitted' <<<"$out")"
else
  fail "ping -6 -c 3 $NAME (exit $rc):"; xt_indent <<<"$out"
fi
check_session "f. after b: the ICMP session of ping" b 1 icmp - "$S4"
relay "ICMP session shape" sess icmp "$XT_WORK/sess-b.json" "$C6"

# ---------------------------------------------------------------------------
step "c. curl -6 http://$NAME:$P_HTTP/file ($FILE_BYTES random bytes)"
rm -f "$XT_WORK/got"
rc=0
out=$(csh curl -6 -sS --noproxy '*' --max-time 30 -o "$XT_WORK/got" \
  -w '%{http_code} %{size_download} %{speed_download} %{local_port} %{remote_ip}' "http://$NAME:$P_HTTP/file" 2>&1) || rc=$?
read -r code size speed lport rip <<<"$out"
got=$(sha256sum "$XT_WORK/got" 2>/dev/null | cut -d' ' -f1 || true)
if ((rc == 0)) && [[ $code == 200 && $size == "$FILE_BYTES" && $got == "$SUM" && $rip == "$S_IMG" ]]; then
  pass "curl -6 $NAME: 200 from $rip, $size bytes, SHA-256 equal ($(awk -v s="$speed" 'BEGIN { printf "%.0f Mbit/s", s * 8 / 1e6 }'), local port $lport)"
else
  fail "curl -6 http://$NAME:$P_HTTP/file (exit $rc): '$out', sha256 ${got:-none} (want $SUM)"
fi
sleep 0.2
line=$(grep -E '"GET /file HTTP/1\.1" 200' "$XT_WORK/http.log" | tail -n 1 || true)
cport=$(sed -nE "s/^${X4//./\\.}:([0-9]+) - - .*/\1/p" <<<"$line")
if [[ -n $cport ]] && in_pool "$cport"; then
  pass "the server logged the request from $X4:$cport (pool4, port in $POOL_LO-$POOL_HI): ${line:0:100}"
else
  fail "the server did not log a request from $X4 with a port in $POOL_LO-$POOL_HI:"; xt_indent <"$XT_WORK/http.log"
fi
check_session "f. after c: the TCP session of curl (local port $lport)" c 1 tcp "${lport:-x}" "$S4:$P_HTTP"
check_eq "f. the TCP session's pool4 port = the port in the server's log" "${cport:-?}" "${SESS_PORT4:-none}"

# ---------------------------------------------------------------------------
step "d. iperf3 -6 to $NAME: TCP ${IPERF_SECS} s, UDP ${IPERF_SECS} s at $IPERF_UDP_RATE"
mid=$(awk -v s="$IPERF_SECS" 'BEGIN { printf "%.1f", s / 2 }')
stats "$XT_WORK/sd0.json"
CAPC2=$XT_WORK/c0-tcp.pcap; CAPS2=$XT_WORK/s0-tcp.pcap
cap_start "$NS_C" "$IF_C" "$CAPC2" "vlan and ip6 and tcp port $P_IPERF" "$SAMPLE"; CAPC2_PID=$CAP_PID
cap_start "$NS_S" "$IF_S" "$CAPS2" "tcp port $P_IPERF" "$SAMPLE"; CAPS2_PID=$CAP_PID
# iperf3 on CPU 0, xgw's worker has CPU 1
csh taskset -c 0 iperf3 -6 -c "$NAME" -p "$P_IPERF" -t "$IPERF_SECS" -J --connect-timeout 3000 >"$XT_WORK/iperf-tcp.json" 2>"$XT_WORK/iperf-tcp.err" &
ipid=$!; XT_PIDS+=("$ipid")
sleep "$mid"; snap_sessions dtcp
rc=0; wait "$ipid" || rc=$?
bps=$(xt_json "$XT_WORK/iperf-tcp.json" '"%.0f %.0f" % (d["end"]["sum_sent"]["bits_per_second"] / 1e6, d["end"]["sum_received"]["bits_per_second"] / 1e6)' 2>/dev/null || echo "")
if ((rc == 0)) && [[ -n $bps ]]; then
  read -r tx_mbps rx_mbps <<<"$bps"
  pass "iperf3 -6 TCP C -> $NAME, $IPERF_SECS s: sent $tx_mbps Mbit/s, received $rx_mbps Mbit/s, retransmits $(xt_json "$XT_WORK/iperf-tcp.json" 'd["end"]["sum_sent"].get("retransmits", "?")')"
  IPERF_TCP="$rx_mbps Mbit/s"
else
  fail "iperf3 -6 TCP (exit $rc): $(head -c 300 "$XT_WORK/iperf-tcp.err") $(xt_json "$XT_WORK/iperf-tcp.json" 'd.get("error", "")' 2>/dev/null || true)"
  IPERF_TCP="failed"
fi
check_session "f. in the middle of d: iperf3's TCP sessions, ESTABLISHED" dtcp 0 tcp - "$S4:$P_IPERF" ESTABLISHED
n=$(sess find "$XT_WORK/sess-dtcp.json" tcp "$C6" - "$S4:$P_IPERF" ESTABLISHED | tr ';' '\n' | grep -c . || true)
if ((n >= 2)); then pass "f. iperf3's control and data connections: $n ESTABLISHED sessions"
else fail "f. expected at least 2 ESTABLISHED sessions to $S4:$P_IPERF (control + data), got $n"; fi

cap_stop "$CAPC2_PID" "$CAPC2" sample
cap_stop "$CAPS2_PID" "$CAPS2" sample
csh taskset -c 0 iperf3 -6 -u -b "$IPERF_UDP_RATE" -c "$NAME" -p "$P_IPERF" -t "$IPERF_SECS" -J --connect-timeout 3000 >"$XT_WORK/iperf-udp.json" 2>"$XT_WORK/iperf-udp.err" &
ipid=$!; XT_PIDS+=("$ipid")
sleep "$mid"; snap_sessions dudp
rc=0; wait "$ipid" || rc=$?
res=$(xt_json "$XT_WORK/iperf-udp.json" '"%.1f %.2f %d %d %.3f" % (d["end"]["sum"]["bits_per_second"] / 1e6, d["end"]["sum"]["lost_percent"], d["end"]["sum"]["lost_packets"], d["end"]["sum"]["packets"], d["end"]["sum"]["jitter_ms"])' 2>/dev/null || echo "")
if ((rc == 0)) && [[ -n $res ]]; then
  read -r umbps loss lost pkts jit <<<"$res"
  pass "iperf3 -6 UDP C -> $NAME at $IPERF_UDP_RATE, $IPERF_SECS s: $umbps Mbit/s, lost $lost of $pkts ($loss%), jitter $jit ms"
  IPERF_UDP="$umbps Mbit/s, loss $loss%"
  if awk -v l="$loss" 'BEGIN { exit !(l < 5) }'; then pass "iperf3 UDP loss $loss% < 5%"
  else
    warn "iperf3 UDP loss $loss% >= 5% (not a failure on its own): the machine is busy? load: $(cut -d' ' -f1-3 /proc/loadavg); busiest: $(ps -eo pcpu,comm --sort=-pcpu | sed -n 2,4p | tr -s ' ' | paste -sd',')"
  fi
else
  fail "iperf3 -6 UDP (exit $rc): $(head -c 300 "$XT_WORK/iperf-udp.err") $(xt_json "$XT_WORK/iperf-udp.json" 'd.get("error", "")' 2>/dev/null || true)"
  IPERF_UDP="failed"
fi
check_session "f. in the middle of d: iperf3's UDP session" dudp 0 udp - "$S4:$P_IPERF"
stats "$XT_WORK/sd1.json"
XSK_D=$("$XT_PY" - "$XT_WORK/sd0.json" "$XT_WORK/sd1.json" <<'EOF'
import json, sys
a, b = ({p["name"]: p for p in json.load(open(f))["ports"]} for f in sys.argv[1:3])
out = []
for n in sorted(b):
    k = {x: b[n]["kernel"][x] - a[n]["kernel"][x] for x in ("rx_dropped", "rx_ring_full", "rx_fill_ring_empty")}
    out.append("%s %s" % (n, " ".join("%s +%d" % kv for kv in k.items() if kv[1]) or "none"))
print("; ".join(out))
EOF
)
log "AF_XDP sockets' kernel drop counters over d (frames lost before xgw saw them): $XSK_D"

# ---------------------------------------------------------------------------
step "e. traceroute -6 -n $NAME"
# hops_of OUT: "hop addr" per answering probe
hops_of() { awk '$1 ~ /^[0-9]+$/ { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9a-f:.]+$/ && $i ~ /[.:]/ && $(i+1) != "ms") print $1, $i }' <<<"$1" | sort -u; }
out=$(csh timeout 30 traceroute -6 -n -q 2 -w 2 -m 6 "$NAME" 2>&1) || true
h=$(hops_of "$out")
if [[ $h == "1 $X6"$'\n'"2 $S_IMG" ]]; then
  pass "traceroute -6 -n $NAME: hop 1 $X6 (xgw), hop 2 $S_IMG (the destination's pool6 address)"
else
  fail "traceroute -6 -n $NAME: expected hop 1 $X6, hop 2 $S_IMG; got:"; xt_indent <<<"$out"
fi

xt_xgw_settle "$SOCK"
stats "$XT_WORK/s1.json"
cap_stop "$CAPC_PID" "$CAPC"
cap_stop "$CAPS_PID" "$CAPS"
CSUM1=$(csum_errors)

# ---------------------------------------------------------------------------
step "g. tshark on C's and S's veths (RA, a-e)"
tshark_fields "$CAPC" "$XT_WORK/c0.tsv"
tshark_fields "$CAPS" "$XT_WORK/s0.tsv"
cat >"$XT_WORK/expc.json" <<EOF
{"vlan": $VLAN, "ifname": "$IF_C", "client": "$C6", "image": "$S_IMG", "dns": "$D6", "router": "$X6",
 "in_ttl": 63, "pool_lo": $POOL_LO, "pool_hi": $POOL_HI}
EOF
cat >"$XT_WORK/exps.json" <<EOF
{"server": "$S4", "pool4": "$X4", "router_ll": "$(eui64 fe80::/64 "$MAC_X4")", "in_ttl": 63,
 "pool_lo": $POOL_LO, "pool_hi": $POOL_HI}
EOF
relay "dissect c0" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/c0.tsv" c "$XT_WORK/expc.json"
relay "dissect s0" "$XT_PY" "$XT_WORK/dissect.py" "$XT_WORK/s0.tsv" s "$XT_WORK/exps.json"
# the sample of iperf3's TCP run (whole frames, from its start)
for spec in "c|$CAPC2" "s|$CAPS2"; do
  IFS='|' read -r m f <<<"$spec"
  tshark_fields "$f" "${f%.pcap}.tsv"
  check_eq "$(basename "$f"): frames of iperf3's TCP run captured whole" "$SAMPLE" "$(grep -c . "${f%.pcap}.tsv" || true)"
  relay "dissect $(basename "$f")" "$XT_PY" "$XT_WORK/dissect.py" "${f%.pcap}.tsv" "$m" "$XT_WORK/exp$m.json" sample
done
# the RA options, as tshark reads them
ra=$(tshark -r "$CAPC" -n -Y "icmpv6.type == 134 && vlan.id == $VLAN" -T fields -E occurrence=a -E 'aggregator=,' \
  -e ipv6.src -e icmpv6.opt.type -e icmpv6.opt.pref64.prefix -e icmpv6.opt.pref64.plc -e icmpv6.opt.rdnss \
  -e icmpv6.opt.prefix 2>/dev/null | head -n 1)
IFS=$'\t' read -r ra_src ra_types ra_p64 ra_plc ra_rdnss ra_pfx <<<"$ra"
log "first RA on $IF_C (VLAN $VLAN): from $ra_src, options $ra_types"
check_eq "RA source (xgw's link-local)" "$LL_X" "${ra_src:-none}"
if [[ ,$ra_types, == *,38,* ]]; then pass "RA carries a PREF64 option (type 38)"; else fail "RA option types: '$ra_types' (no 38)"; fi
if [[ ,$ra_types, == *,25,* ]]; then pass "RA carries an RDNSS option (type 25)"; else fail "RA option types: '$ra_types' (no 25)"; fi
# PLC 0 = /96 (RFC 8781 4)
check_eq "RA PREF64 prefix / PLC (0 = /96)" "64:ff9b:: 0x0000" "${ra_p64:-none} ${ra_plc:-none}"
check_eq "RA RDNSS server" "$D6" "${ra_rdnss:-none}"
check_eq "RA prefix information" "${PFX6%/*}" "${ra_pfx:-none}"
check_eq "receiving kernels' checksum error counters over RA and a-e" "$CSUM0" "$CSUM1"

# ---------------------------------------------------------------------------
step "h. xgw's counters over a-e"
dd=$(drops_delta "$XT_WORK/s0.json" "$XT_WORK/s1.json")
log "drops over a-e: ${dd:-none}"
n64=$(tr ' ' '\n' <<<"$dd" | grep -E '^nat64\.' | paste -sd' ' || true)
check_eq "no nat64.* drop over a-e" "" "$n64"
for k in rx tx dropped pending emitted local; do
  printf -v "D_$k" '%s' "$(($(xt_json "$XT_WORK/s1.json" "d['totals']['$k']") - $(xt_json "$XT_WORK/s0.json" "d['totals']['$k']")))"
done
# shellcheck disable=SC2154  # D_* set by printf -v above
log "over a-e: rx $D_rx + emitted $D_emitted = tx $D_tx + local $D_local + dropped $D_dropped + pending $D_pending"
# shellcheck disable=SC2154
check_eq "over a-e: rx + emitted = tx + local + dropped + pending" "$((D_rx + D_emitted))" "$((D_tx + D_local + D_dropped + D_pending))"

# ---------------------------------------------------------------------------
step "f. session expiry: a fresh ICMP and UDP flow, then silence"
rc=0; out=$(csh ping -6 -n -c 1 -W 2 -e "$ID_IN" "$S_IMG" 2>&1) || rc=$?
check_eq "ping -6 -c 1 -e $ID_IN $S_IMG (identifier in pool4)" 0 "$rc" "$(grep -E 'packets transmitted' <<<"$out")"
rc=0; uport=$(csh "$XT_PY" "$XT_WORK/udp.py" client "$S_IMG" "$P_ECHO" 2>&1) || rc=$?
check_eq "UDP echo from C to [$S_IMG]:$P_ECHO" 0 "$rc" "local port $uport"
T_LAST=$(date +%s.%N)
# (the listing is taken again until it shows the fresh flows)
check_session "f. the fresh UDP session (local port $uport)" x0 1 udp "$uport" "$S4:$P_ECHO"
for ((i = 0; i < 15; i++)); do
  (($(sess count "$XT_WORK/sess-x0.json" icmp) > 0)) && break
  sleep 0.2; snap_sessions x0
done
relay "ICMP session shape" sess icmp "$XT_WORK/sess-x0.json" "$C6"
read -r tot0_s tot0_b cre0 exp0 <<<"$(sess totals "$XT_WORK/sess-x0.json")"
n_icmp0=$(sess count "$XT_WORK/sess-x0.json" icmp); n_udp0=$(sess count "$XT_WORK/sess-x0.json" udp)
n_tcp0=$(sess count "$XT_WORK/sess-x0.json" tcp)
log "sessions now: icmp $n_icmp0, udp $n_udp0, tcp $n_tcp0 (total $tot0_s, bindings $tot0_b, created $cre0, expired $exp0)"
if ((n_icmp0 >= 1 && n_udp0 >= 1)); then pass "ICMP and UDP sessions exist before the silence (icmp $n_icmp0, udp $n_udp0)"
else fail "expected ICMP and UDP sessions, got icmp $n_icmp0, udp $n_udp0"; fi
t_icmp=""; t_udp=""; t_all=""
for ((i = 0; i < (T_UDP + 6) * 4; i++)); do
  sleep 0.25
  nat64_show session "$XT_WORK/sess-x.json" || continue
  el=$(awk -v a="$T_LAST" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [[ -z $t_icmp && $(sess count "$XT_WORK/sess-x.json" icmp) == 0 ]]; then t_icmp=$el; fi
  if [[ -z $t_udp && $(sess count "$XT_WORK/sess-x.json" udp) == 0 ]]; then t_udp=$el; fi
  if [[ -z $t_all && $(sess totals "$XT_WORK/sess-x.json" | cut -d' ' -f1) == 0 ]]; then t_all=$el; fi
  [[ -n $t_icmp && -n $t_udp ]] && break
done
snap_sessions x1
for spec in "icmp|$T_ICMP|$t_icmp" "udp|$T_UDP|$t_udp"; do
  IFS='|' read -r pr to el <<<"$spec"
  if [[ -z $el ]]; then
    fail "f. $pr sessions still there $((T_UDP + 6)) s after the last packet (timeout $to s):"; xt_indent <"$XT_WORK/sess-x1.json"
  elif awk -v e="$el" -v t="$to" 'BEGIN { exit !(e >= t - 1 && e <= t + 5) }'; then
    pass "f. every $pr session gone $el s after the last packet (timeout $to s)"
  else
    fail "f. $pr sessions gone $el s after the last packet: outside [$((to - 1)), $((to + 5))] s (timeout $to s)"
  fi
done
read -r tot1_s tot1_b cre1 exp1 <<<"$(sess totals "$XT_WORK/sess-x1.json")"
log "sessions left: $tot1_s (tcp $(sess count "$XT_WORK/sess-x1.json" tcp)), bindings $tot1_b, created $cre1, expired $exp1${t_all:+; all gone after $t_all s}"
check_eq "f. no session created in the silence (sessions_created)" "$cre0" "$cre1"
if ((exp1 - exp0 >= n_icmp0 + n_udp0)); then
  pass "f. sessions_expired grew by $((exp1 - exp0)) (>= the $((n_icmp0 + n_udp0)) ICMP and UDP sessions)"
else
  fail "f. sessions_expired grew by $((exp1 - exp0)), fewer than the $((n_icmp0 + n_udp0)) ICMP and UDP sessions that went"
fi
check_eq "f. sessions that went = sessions_expired's growth" "$((tot0_s - tot1_s))" "$((exp1 - exp0))"
check_eq "f. ICMP and UDP bindings left (they go with their last session)" "0 0" \
  "$(sess count "$XT_WORK/bib-x1.json" icmp) $(sess count "$XT_WORK/bib-x1.json" udp)"

# ---------------------------------------------------------------------------
step "i. unsolicited IPv4 to pool4 from S"
stats "$XT_WORK/s2.json"
CAPI=$XT_WORK/s0-i.pcap
cap_start "$NS_S" "$IF_S" "$CAPI"; CAPI_PID=$CAP_PID
# a pool4 port no binding holds (of any protocol)
PI=$POOL_HI
while grep -q "\"$X4:$PI\"" "$XT_WORK/bib-x1.json"; do PI=$((PI - 1)); done
rc=0; out=$(ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/udp.py" probe "$X4" "$PI" 2>&1) || rc=$?
check_eq "UDP $S4 -> $X4:$PI (pool4, no binding): the error the sender got (IP_RECVERR)" "icmp 3/13 from $X4" "${out%% (*}" "$out"
rc=0; out=$(ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/udp.py" probe "$X4" 40000 2>&1) || rc=$?
check_eq "UDP $S4 -> $X4:40000 (outside pool4): the router's port unreachable" "icmp 3/3 from $X4" "${out%% (*}" "$out"
# TCP to the same port: the unsolicited SYN is held for a simultaneous
# open (tcp_incoming_syn, $T_SYN s here), then answered with Port
# Unreachable (RFC 6146 3.5.2.2)
ip netns exec "$NS_S" "$XT_PY" "$XT_WORK/udp.py" syn "$X4" "$PI" $((T_SYN + 5)) >"$XT_WORK/syn.out" 2>&1 &
spid=$!; XT_PIDS+=("$spid")
sleep 0.8
stats "$XT_WORK/s2h.json"
n=$(xt_json "$XT_WORK/s2h.json" 'd["totals"]["pending"]')
if ((n >= 1)); then pass "while the SYN is held, xgw counts it pending ($n)"
else fail "0.8 s after the SYN, totals.pending is $n (the held SYN should be pending)"; fi
wait "$spid" || true
out=$(cat "$XT_WORK/syn.out")
read -r what secs <<<"$out"
if [[ $what == refused ]] && awk -v s="$secs" -v t="$T_SYN" 'BEGIN { exit !(s >= t - 0.5 && s <= t + 2) }'; then
  pass "TCP SYN $S4 -> $X4:$PI (pool4, no binding): held, then refused after $secs s (tcp_incoming_syn $T_SYN s)"
else
  fail "TCP SYN $S4 -> $X4:$PI (pool4, no binding): expected refused after about $T_SYN s, got '$out'"
fi
rc=0; out=$(ip netns exec "$NS_S" ping -c 3 -i 0.2 -W 2 -e 1000 "$X4" 2>&1) || rc=$?
if ((rc == 0)) && grep -q '3 packets transmitted, 3 received' <<<"$out"; then
  pass "ping -e 1000 $X4 (identifier outside pool4) from S, answered by xgw: $(grep -E 'packets transmitted' <<<"$out")"
else
  fail "ping -e 1000 $X4 from S (exit $rc):"; xt_indent <<<"$out"
fi
# an echo request whose identifier is in pool4 is the translator's (ICMP
# identifiers are pool4 "ports"): with no binding it gets 3/13 too
rc=0; out=$(ip netns exec "$NS_S" ping -c 1 -W 2 -e "$PI" "$X4" 2>&1) || rc=$?
if grep -qE "From $X4 icmp_seq=1 Packet filtered" <<<"$out"; then
  pass "ping -e $PI $X4 (identifier in pool4, no binding): $(grep -oE 'From .*' <<<"$out" | head -n 1)"
else
  fail "ping -e $PI $X4: expected 'From $X4 ... Packet filtered' (3/13):"; xt_indent <<<"$out"
fi
# every held SYN answered (the retransmitted one too), nothing pending
for ((i = 0; i < (T_SYN + 4) * 5; i++)); do
  stats "$XT_WORK/s3.json"
  [[ $(xt_json "$XT_WORK/s3.json" 'd["totals"]["pending"]') == 0 ]] && break
  sleep 0.2
done
xt_xgw_settle "$SOCK"
stats "$XT_WORK/s3.json"
cap_stop "$CAPI_PID" "$CAPI"
e13=$(tshark -r "$CAPI" -n -Y "icmp.type == 3 && icmp.code == 13" -T fields -E occurrence=a -E 'aggregator=,' \
  -e ip.src -e ip.dst -e udp.dstport -e icmp.ident 2>/dev/null | paste -sd';')
check_eq "capture on $IF_S: ICMP 3/13 (src, dst, the quoted datagram's port / echo identifier)" \
  "$X4,$S4	$S4,$X4	$PI	;$X4,$S4	$S4,$X4		$PI" "$e13"
e3=$(tshark -r "$CAPI" -n -Y "icmp.type == 3 && icmp.code == 3 && udp" -T fields -E occurrence=a -E 'aggregator=,' \
  -e ip.src -e ip.dst -e udp.dstport 2>/dev/null | paste -sd';')
check_eq "capture on $IF_S: ICMP 3/3 quoting UDP (src, dst, the quoted datagram's port)" "$X4,$S4	$S4,$X4	40000" "$e3"
syns=$(tshark -r "$CAPI" -n -Y "ip.src == $S4 && tcp.dstport == $PI && tcp.flags.syn == 1 && !icmp" 2>/dev/null | grep -c . || true)
e3t=$(tshark -r "$CAPI" -n -Y "icmp.type == 3 && icmp.code == 3 && tcp" -T fields -E occurrence=a -E 'aggregator=,' \
  -e ip.src -e ip.dst -e tcp.dstport 2>/dev/null | sort | uniq -c | awk '{ print $1 "x " $2, $3, $4 }' | paste -sd';')
if ((syns >= 1)) && [[ $e3t == "${syns}x $X4,$S4 $S4,$X4 $PI" ]]; then
  pass "capture on $IF_S: every SYN to $X4:$PI ($syns, with the retransmission) got its Port Unreachable: $e3t"
else
  fail "capture on $IF_S: $syns SYN(s) to $X4:$PI, Port Unreachable quoting TCP: '$e3t'"
fi
n=$(tshark -r "$CAPI" -n -Y "ip.src == $X4 && tcp && !icmp" 2>/dev/null | grep -c . || true)
check_eq "capture on $IF_S: TCP segments from $X4 (no SYN-ACK, no RST)" 0 "$n"
dd=$(drops_delta "$XT_WORK/s2.json" "$XT_WORK/s3.json")
log "drops over i: ${dd:-none}"
# Nothing is dropped: the datagram and the echo request leave as their
# 3/13, the held SYNs as their Port Unreachable (like every packet xgw
# answers with an ICMP error, they count as tx). nat64.no_binding is for
# a SYN with no room to be held (docs/OPERATIONS.md, "Stateful (NAT64)").
check_eq "drops over i (each packet was answered; C's MLD reports aside)" "" \
  "$(tr ' ' '\n' <<<"$dd" | grep -vE '^(ip6\.multicast_not_forwarded:|$)' | paste -sd' ' || true)"

# ---------------------------------------------------------------------------
step "h. accounting, SIGTERM"
T=$XT_WORK/s3.json
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
for i in "$IF_X6" "$IF_X4" "$IF_XD"; do xt_check_no_xdp "$NS_X" "$i" 2; done
bad=$(grep -E 'panicked| (ERROR|WARN) ' "$XGW_LOG" | head -n 3 || true)
check_eq "xgw's log has no panic, ERROR or WARN line" "" "$bad"
if grep -qE 'error|fatal' "$XT_WORK/unbound/unbound.log"; then
  warn "unbound's log has errors:"; xt_indent <"$XT_WORK/unbound/unbound.log" >&2
fi
check_eq "the host's /etc/resolv.conf is untouched (sha256)" "$RESOLV_SUM0" "$(sha256sum /etc/resolv.conf | cut -d' ' -f1)"

# ---------------------------------------------------------------------------
step "j. wkp_strict: the Well-Known Prefix carries global IPv4 only"
G4=8.8.8.8; G_IMG=64:ff9b::808:808
ip -n "$NS_S" addr add "$G4/32" dev lo
{
  sed 's/^mode = "nat64"$/mode = "nat64"\nwkp_strict = true/' "$XT_WORK/xgw.toml"
  printf '\n[[routes]]\nprefix = "%s/32"\nvia = "%s"\n' "$G4" "$S4"
} >"$XT_WORK/xgw-strict.toml"
grep -q '^wkp_strict = true$' "$XT_WORK/xgw-strict.toml" || die "wkp_strict not set in the config"
cp "$XT_WORK/xgw-strict.toml" "$XT_WORK/xgw.toml"
rc=0; out=$("$XGW" check --config "$XT_WORK/xgw.toml" 2>&1) || rc=$?
check_eq "xgw check accepts wkp_strict with 64:ff9b::/96" 0 "$rc" "${out:0:300}"
start_xgw
stats "$XT_WORK/sj0.json"
rc=0; out=$(csh ping -6 -n -c 2 -W 2 "$G_IMG" 2>&1) || rc=$?
check_eq "ping -6 -c 2 $G_IMG (8.8.8.8, global): answered" 0 "$rc" "$(grep -E 'packets transmitted' <<<"$out")"
rc=0; out=$(csh ping -6 -n -c 2 -W 1 "$S_IMG" 2>&1) || rc=$?
if ((rc != 0)) && grep -q ' 0 received' <<<"$out"; then
  pass "ping -6 -c 2 $S_IMG (203.0.113.80, documentation): no answer ($(grep -E 'packets transmitted' <<<"$out"))"
else
  fail "ping -6 $S_IMG was answered with wkp_strict on (rc $rc): $(grep -E 'packets transmitted' <<<"$out")"
fi
stats "$XT_WORK/sj1.json"
dd=$(drops_delta "$XT_WORK/sj0.json" "$XT_WORK/sj1.json")
log "drops over j: ${dd:-none}"
check_eq "nat64.wkp_non_global over j (the two echo requests to $S_IMG)" "nat64.wkp_non_global:+2" \
  "$(tr ' ' '\n' <<<"$dd" | grep -E '^nat64\.' | paste -sd' ' || true)"
xt_xgw_stop "$XT_XGW_PID" TERM 15
check_eq "xgw (wkp_strict) exit status after SIGTERM" 0 "$XT_RC"
for i in "$IF_X6" "$IF_X4" "$IF_XD"; do xt_check_no_xdp "$NS_X" "$i" 2; done
bad=$(grep -E 'panicked| (ERROR|WARN) ' "$XGW_LOG" | head -n 3 || true)
check_eq "xgw's log (wkp_strict) has no panic, ERROR or WARN line" "" "$bad"

log "iperf3: TCP ${IPERF_TCP:-?}; UDP ${IPERF_UDP:-?}"
log "took $(($(date +%s) - T0)) s"
xt_finish
