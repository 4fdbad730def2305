#!/usr/bin/env bash
# GTP-U spreading over two workers (issue 12): how much of one base
# station's uplink each worker receives, on 2-queue veths, with the
# sender's queue chosen by flow hash (XPS off: what RSS does on a NIC).
# Run as root:  bench/netns/gtpu-spread.sh      (PACKETS=20000 per case)
#
#   ns bs (base station) ═2q═ ns x (xgw, 2 workers, queue w -> worker w) ═2q═ ns dn
#   192.168.0.2                192.168.0.1 | 10.2.0.1                      10.2.0.2
#
# Cases, each PACKETS G-PDUs (TEID 0x100, inner UDP from the UE 10.45.0.2
# to 10.2.0.2 over 64 inner flows):
#   one-flow   every G-PDU from UDP port 2152 (a base station that does not
#              spread: one outer 5-tuple)
#   sport-hash the outer source port chosen per inner flow (0xc000 | hash,
#              as xgw itself sends): 64 outer 5-tuples
# Prints each worker's share of the G-PDUs (`xgw stats --json`, per-worker
# port counters) and of the decapsulated packets forwarded to dn.
set -euo pipefail
XT_NAME=gtpu-spread
XT_NS_PREFIX=xs-
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../tests/netns/lib.sh"
xt_init
xt_require_xgw
PACKETS=${PACKETS:-20000}
NS_B=$(xt_ns bs); NS_X=$(xt_ns x); NS_D=$(xt_ns dn)
SOCK=$XT_WORK/ctl.sock
xt_ns_add "$NS_B"; xt_ns_add "$NS_X"; xt_ns_add "$NS_D"
xt_mq_veth "$NS_B" b0 "$NS_X" xr
xt_mq_veth "$NS_X" xd "$NS_D" d0
xt_dut_if "$NS_X" xr 02:0c:00:00:00:01; xt_dut_if "$NS_X" xd 02:0d:00:00:00:01
xt_host_if "$NS_B" b0 192.168.0.2/24 02:0c:00:00:00:02
xt_host_if "$NS_D" d0 10.2.0.2/24 02:0d:00:00:00:02
for q in 0 1; do
  ip netns exec "$NS_B" sh -c "echo 0 >/sys/class/net/b0/queues/tx-$q/xps_cpus" || true
done
cat >"$XT_WORK/x.toml" <<EOF
[engine]
cores = [0, 1]
idle = "adaptive"
[control]
socket = "$SOCK"
[[ports]]
name = "ran"
driver = "af_xdp"
interface = "xr"
queues = 2
[[ports]]
name = "dn"
driver = "af_xdp"
interface = "xd"
queues = 2
[pipeline]
kind = "router"
[[interfaces]]
name = "ran"
port = "ran"
ipv4 = ["192.168.0.1/24"]
[[interfaces]]
name = "dn"
port = "dn"
ipv4 = ["10.2.0.1/24"]
[[routes]]
prefix = "10.45.0.0/16"
interface = "gtp0"
[gtpu]
endpoints = ["192.168.0.1"]
[[gtpu.sessions]]
id = 1
teid = 0x100
ue4 = "10.45.0.2"
peer = "192.168.0.2"
peer_teid = 0x200
EOF
xt_xgw_start "$NS_X" "$XT_WORK/x.toml" "$XT_WORK/xgw.log"
PID=$XT_XGW_PID
xt_xgw_wait_ready "$PID" "$SOCK" "$XT_WORK/xgw.log" 20 || die "xgw did not start"
ip netns exec "$NS_D" ping -c 1 -W 2 10.2.0.1 >/dev/null 2>&1 || true
cat >"$XT_WORK/send.py" <<'EOF'
import socket, struct, sys
mode, n = sys.argv[1], int(sys.argv[2])
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def inner(flow):
    udp = struct.pack("!HHHH", 40000 + flow, 9, 8 + 18, 0) + b"x" * 18
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), flow, 0, 64, 17, 0,
                     socket.inet_aton("10.45.0.2"), socket.inet_aton("10.2.0.2"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + udp
gpdu = [struct.pack("!BBHI", 0x30, 255, len(inner(f)), 0x100) + inner(f) for f in range(64)]
socks = {}
def sock(port):
    if port not in socks:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("192.168.0.2", port))
        socks[port] = s
    return socks[port]
for i in range(n):
    f = i % 64
    port = 2152 if mode == "one-flow" else 0xc000 | ((f * 2654435761) >> 7 & 0x3fff)
    sock(port).sendto(gpdu[f], ("192.168.0.1", 2152))
EOF
worker_counts() { # FILE: "ran-rx-w0 ran-rx-w1 dn-tx-w0 dn-tx-w1"
  xt_json "$1" "' '.join(str(w['ports'][p][k]) for p, k in (('ran', 'rx'), ('dn', 'tx')) for w in d['workers'])"
}
for mode in one-flow sport-hash; do
  xt_xgw_settle "$SOCK"
  xt_xgw_stats "$SOCK" --json >"$XT_WORK/a.json"
  ip netns exec "$NS_B" taskset -c 0 "$XT_PY" "$XT_WORK/send.py" "$mode" "$PACKETS"
  xt_xgw_settle "$SOCK"
  xt_xgw_stats "$SOCK" --json >"$XT_WORK/b.json"
  read -r a0 a1 _ _ <<<"$(worker_counts "$XT_WORK/a.json" | awk '{print $1, $2, $3, $4}')"
  read -r b0 b1 _ _ <<<"$(worker_counts "$XT_WORK/b.json" | awk '{print $1, $2, $3, $4}')"
  read -r _ _ c0 c1 <<<"$(worker_counts "$XT_WORK/a.json")"
  read -r _ _ e0 e1 <<<"$(worker_counts "$XT_WORK/b.json")"
  r0=$((b0 - a0)); r1=$((b1 - a1)); t0=$((e0 - c0)); t1=$((e1 - c1))
  printf '%-10s  G-PDUs received: worker 0 %6d (%3d %%)  worker 1 %6d (%3d %%)   forwarded to dn: %6d / %6d\n' \
    "$mode" "$r0" $((100 * r0 / (r0 + r1 > 0 ? r0 + r1 : 1))) "$r1" $((100 * r1 / (r0 + r1 > 0 ? r0 + r1 : 1))) "$t0" "$t1"
done
xt_xgw_stop "$PID" TERM 15
xt_finish
