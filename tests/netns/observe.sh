#!/usr/bin/env bash
# Acceptance test: "where did my packet go?" on a running xgw router, with
# `xgw drops`, `xgw trace` and `xgw capture` (live, over the control socket).
# Run as root:  tests/netns/observe.sh
#
#   ns A                        ns X (xgw)                          ns B
#   a0 ──────veth────── xa [lan-a   router   lan-b] xb ──────veth────── b0
#   10.1.0.2/24         10.1.0.1/24          10.2.0.1/24             10.2.0.2/24
#                       rpf strict           GTP-U endpoint
#   xgw routes: 203.0.113.0/24 blackhole; [gtpu] endpoint 10.2.0.1, no session
#
# Three frames, one of each, built with scapy and sent as raw bytes
# (AF_PACKET, no padding), each ending in a different drop reason:
#   rpf    A: UDP 10.2.0.77 -> 10.2.0.2 (a source routed out of lan-b) on
#          lan-a, rpf strict: rpf.strict_failed at ip4-lookup
#   bh     A: UDP 10.1.0.2 -> 203.0.113.7 (a blackhole route; xgw answers a
#          destination with no route at all with an ICMP error, so that is
#          no drop): route.blackhole at ip4-lookup
#   teid   B: a G-PDU to 10.2.0.1:2152 with TEID 0x777, which no session
#          owns: gtpu.unknown_teid at gtpu-input (and B gets an Error
#          Indication for 0x777)
# Checks
#   1. `xgw drop-reasons` names the expected node for each reason
#   2. ordinary traffic: `xgw trace --count 1 --match proto=icmp,...` of a
#      ping shows ethernet-input -> ip4-input -> ip4-lookup -> ip-rewrite ->
#      tx on pb; `xgw capture --dir rx --count 5` of a ping holds its 5 echo
#      requests (addresses, identifier, sequence numbers, interface pa,
#      inbound, no comment), byte for byte as tcpdump saw them leave A, and
#      the file declares both ports as interfaces
#   3. with `xgw trace --drops-only --count 3 --json` and `xgw capture
#      --dir drop --count 3` running, the three frames are sent once each:
#      - `xgw drops --json`: exactly these three reasons, count 1 each, on
#        the right port and worker, with the node among `nodes` and the
#        sentence of `xgw drop-reasons`
#      - the trace: three frames, each ending in its reason at its node
#        (every hop before it a `next`), on the right port, with the sent
#        length and the sent bytes as `head`
#      - the pcapng: tshark reads it, it holds exactly the three frames,
#        byte for byte as sent, inbound on the right interface, each with
#        the comment "dropped: REASON: sentence"
#   4. totals invariant, pending 0, SIGTERM exits 0, no XDP program left
# Knobs: XT_KEEP=1 (keep namespaces, captures, logs)  XGW=path/to/xgw
set -euo pipefail
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=observe
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
xt_init
xt_require_xgw
for t in tshark capinfos tcpdump; do
  command -v "$t" >/dev/null || die "missing tool: $t (run tests/run.sh, which installs tshark and tcpdump)"
done
"$XT_PY" -c 'import scapy.contrib.gtp' 2>/dev/null || die "python3-scapy (with scapy.contrib.gtp) missing for $XT_PY (run tests/run.sh)"

NS_A=$(xt_ns a); NS_X=$(xt_ns x); NS_B=$(xt_ns b)
IF_A=a0; IF_XA=xa; IF_XB=xb; IF_B=b0
MAC_A=02:0a:00:00:00:02; MAC_XA=02:0a:00:00:00:01
MAC_XB=02:0b:00:00:00:01; MAC_B=02:0b:00:00:00:02
A4=10.1.0.2; X4A=10.1.0.1; X4B=10.2.0.1; B4=10.2.0.2
SPOOF=10.2.0.77          # routed out of lan-b: strict RPF on lan-a fails
BH_DST=203.0.113.7       # in the blackhole route 203.0.113.0/24
TEID=0x777               # no session has it
SOCK=$XT_WORK/ctl.sock
CFG=$XT_WORK/observe.toml
XGW_LOG=$XT_WORK/xgw.log
T0=$(date +%s)
# frame label -> "reason node port-name port-index"
declare -A WANT=(
  [rpf]="rpf.strict_failed ip4-lookup pa 0"
  [bh]="route.blackhole ip4-lookup pa 0"
  [teid]="gtpu.unknown_teid gtpu-input pb 1"
)
LABELS=(rpf bh teid)

# ---------------------------------------------------------------------------
step "lab: $NS_A <-> $NS_X (xgw router) <-> $NS_B"
xt_ns_add "$NS_A"; xt_ns_add "$NS_X"; xt_ns_add "$NS_B"   # IPv6 off: no MLD, nothing dropped but ours
xt_veth "$NS_A" "$IF_A" "$NS_X" "$IF_XA"
xt_veth "$NS_X" "$IF_XB" "$NS_B" "$IF_B"
xt_dut_if "$NS_X" "$IF_XA" "$MAC_XA"
xt_dut_if "$NS_X" "$IF_XB" "$MAC_XB"
xt_host_if "$NS_A" "$IF_A" "$A4/24" "$MAC_A"
xt_host_if "$NS_B" "$IF_B" "$B4/24" "$MAC_B"
ip -n "$NS_A" route add default via "$X4A"
ip -n "$NS_B" route add default via "$X4B"

cat >"$CFG" <<EOF
# written by tests/netns/observe.sh
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
rpf = "strict"

[[interfaces]]
name = "lan-b"
port = "pb"
ipv4 = ["$X4B/24"]

[[routes]]
prefix = "203.0.113.0/24"
kind = "blackhole"

[gtpu]
endpoints = ["$X4B"]
max_sessions = 896
EOF

# ---------------------------------------------------------------------------
# The three frames: built once (frames.json: label -> hex), sent raw.
cat >"$XT_WORK/frames.py" <<'EOF'
# frames.py build OUT MAC_A MAC_XA MAC_B MAC_XB A4 B4 X4B SPOOF BH_DST TEID
#   builds the three frames and writes {label: hex} to OUT
# frames.py send IFACE FRAMES_JSON LABEL...
#   sends those frames as they are (raw AF_PACKET: no padding), 0.2 s apart
# frames.py send-gtp IFACE FRAMES_JSON LABEL BIND_IP TEID
#   the same for one G-PDU, with a UDP socket on BIND_IP:2152 that waits
#   (3 s) for xgw's Error Indication; prints what came back as JSON
import json, socket, sys, time
from scapy.all import Ether, IP, UDP, ICMP, Raw, conf
from scapy.contrib.gtp import GTP_U_Header
conf.verb = 0
cmd = sys.argv[1]
if cmd == "build":
    out, mac_a, mac_xa, mac_b, mac_xb, a4, b4, x4b, spoof, bh, teid = sys.argv[2:13]
    teid = int(teid, 0)
    f = {
        "rpf": Ether(src=mac_a, dst=mac_xa) / IP(src=spoof, dst=b4, ttl=64, id=0x0b01)
               / UDP(sport=41001, dport=7001) / Raw(b"observe: spoofed source" + bytes(range(16))),
        "bh": Ether(src=mac_a, dst=mac_xa) / IP(src=a4, dst=bh, ttl=64, id=0x0b02)
              / UDP(sport=41002, dport=7002) / Raw(b"observe: into the blackhole" + bytes(range(24))),
        "teid": Ether(src=mac_b, dst=mac_xb) / IP(src=b4, dst=x4b, ttl=64, id=0x0b03)
                / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=teid, gtp_type=255)
                / IP(src="10.45.0.2", dst=a4, ttl=64, id=0x0b04) / ICMP(id=0x0b05, seq=1)
                / Raw(b"observe: unknown teid"),
    }
    json.dump({k: bytes(v).hex() for k, v in f.items()}, open(out, "w"))
    for k, v in f.items():
        print("%-5s %3d bytes  %s" % (k, len(bytes(v)), v.summary()))
    sys.exit(0)
iface, frames = sys.argv[2], json.load(open(sys.argv[3]))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
if cmd == "send":
    for label in sys.argv[4:]:
        b = bytes.fromhex(frames[label])
        if s.send(b) != len(b):
            sys.exit("short send: " + label)
        time.sleep(0.2)
    print(len(sys.argv) - 4)
elif cmd == "send-gtp":
    label, bind_ip, teid = sys.argv[4], sys.argv[5], int(sys.argv[6], 0)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((bind_ip, 2152))
    u.settimeout(3)
    b = bytes.fromhex(frames[label])
    if s.send(b) != len(b):
        sys.exit("short send: " + label)
    res = {"sent": 1}
    try:
        data, addr = u.recvfrom(2048)
        h = GTP_U_Header(data)
        # Error Indication (26), TEID 0; IE 16 = Tunnel Endpoint Identifier Data I
        res.update(src="%s:%d" % addr, type=h.gtp_type, teid=h.teid,
                   teid_data_i=(b"\x10" + teid.to_bytes(4, "big")) in data[8:], hex=data.hex())
    except socket.timeout:
        res["answer"] = None
    print(json.dumps(res))
EOF

# pcapng reader/checker: tshark only (what an operator would use)
cat >"$XT_WORK/check_pcap.py" <<'EOF'
# check_pcap.py FILE MODE ARGS: reads FILE with tshark; prints PASS/FAIL lines
#   drops FRAMES_JSON WANT_JSON REASONS_JSON: the three dropped frames
#   ping A4 B4 PING_ID SENT_PCAP: five echo requests received on pa, equal
#     to the frames in SENT_PCAP (tcpdump on the sender)
import json, subprocess, sys
f, mode = sys.argv[1], sys.argv[2]
def ok(c, what):
    print(("PASS " if c else "FAIL ") + what)
def tshark(*args):
    r = subprocess.run(["tshark", "-r", f] + list(args), capture_output=True, text=True)
    # (tshark warns when run as root; that is not about the file)
    err = "; ".join(l for l in r.stderr.splitlines() if l.strip() and "could be dangerous" not in l)
    return r.returncode, r.stdout, err
rc, out, err = tshark("-x", "-T", "json")
ok(rc == 0 and not err, "tshark reads %s (exit %d%s)" % (f.split("/")[-1], rc, ", stderr: " + err[:200] if err else ""))
raws = [p["_source"]["layers"]["frame_raw"][0] for p in json.loads(out or "[]")]
FIELDS = ["frame.interface_name", "frame.packet_flags_direction", "frame.comment", "frame.protocols",
          "ip.src", "ip.dst", "icmp.type", "icmp.ident", "icmp.seq"]
rc, out, err = tshark("-T", "fields", "-E", "separator=/t", "-E", "occurrence=f", *sum((["-e", x] for x in FIELDS), []))
ok(rc == 0 and not err, "tshark -T fields reads it too (exit %d%s)" % (rc, ", stderr: " + err[:200] if err else ""))
rows = []
for raw, line in zip(raws, out.splitlines()):
    v = dict(zip(FIELDS, line.split("\t")))
    rows.append(dict(raw=raw, ifname=v["frame.interface_name"], direction=v["frame.packet_flags_direction"],
                     comment=[v["frame.comment"]] if v["frame.comment"] else [], protos=v["frame.protocols"], v=v))
ok(len(raws) == len(out.splitlines()), "tshark -x and -T fields see the same %d frames" % len(raws))
# interfaces of the file (capinfos)
ci = subprocess.run(["capinfos", "-M", f], capture_output=True, text=True).stdout
ifnames = [l.split("Name =", 1)[1].strip() for l in ci.splitlines() if "Name =" in l]
ok(ifnames == ["pa", "pb"], "the file declares one interface per port: %s (want ['pa', 'pb'])" % ifnames)
if mode == "drops":
    frames = json.load(open(sys.argv[3])); want = json.load(open(sys.argv[4])); reasons = json.load(open(sys.argv[5]))
    ok(len(rows) == 3, "the drop capture holds %d frames (want 3)" % len(rows))
    seen = set()
    for i, row in enumerate(rows):
        lab = [k for k, h in frames.items() if h == row["raw"]]
        if not lab:
            ok(False, "frame %d equals none of the frames sent: %s" % (i + 1, row["raw"][:160]))
            continue
        lab = lab[0]; seen.add(lab)
        reason, node, port, _ = want[lab].split()
        ok(True, "frame %d: %d bytes, byte for byte the '%s' frame as sent (%s)" % (i + 1, len(row["raw"]) // 2, lab, row["protos"]))
        ok(row["ifname"] == port, "frame %d (%s): interface %s (want %s)" % (i + 1, lab, row["ifname"], port))
        ok(row["direction"] == "0x00000001", "frame %d (%s): direction flag %s (inbound)" % (i + 1, lab, row["direction"]))
        exp = "dropped: %s: %s" % (reason, reasons[reason])
        ok(row["comment"] == [exp], "frame %d (%s): comment %r" % (i + 1, lab, row["comment"]))
    ok(seen == set(frames), "every frame sent is in the capture (%s)" % ", ".join(sorted(seen)))
    order = [next((k for k, h in frames.items() if h == r["raw"]), "?") for r in rows]
    ok(order == ["rpf", "bh", "teid"], "in the order sent: %s" % order)
elif mode == "ping":
    a4, b4, pid, ref = sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
    ok(len(rows) == 5, "the rx capture holds %d frames (want 5)" % len(rows))
    r = subprocess.run(["tshark", "-r", ref, "-x", "-T", "json"], capture_output=True, text=True)
    sent = [p["_source"]["layers"]["frame_raw"][0] for p in json.loads(r.stdout or "[]")]
    ok(len(sent) == 5 and [x["raw"] for x in rows] == sent,
       "the 5 frames are byte for byte the 5 that tcpdump saw leave a0 (%d there)" % len(sent))
    seqs = []
    for i, row in enumerate(rows):
        v = row["v"]
        t, src, dst, ident, seq = v["icmp.type"], v["ip.src"], v["ip.dst"], v["icmp.ident"], v["icmp.seq"]
        good = (t == "8" and src == a4 and dst == b4 and ident.isdigit() and int(ident) == pid
                and row["ifname"] == "pa" and row["direction"] == "0x00000001" and not row["comment"])
        ok(good, "frame %d: ICMP type %s %s -> %s id %s seq %s on %s, direction %s, comment %s"
           % (i + 1, t, src, dst, ident, seq, row["ifname"], row["direction"], row["comment"] or "none"))
        seqs.append(seq)
    ok(seqs == ["1", "2", "3", "4", "5"], "echo sequence numbers %s (want 1..5)" % seqs)
EOF

# ---------------------------------------------------------------------------
stats() { # OUT_FILE
  xt_xgw_stats "$SOCK" --json >"$1" && return 0
  warn "xgw log:"; xt_log_tail "$XGW_LOG" 30 >&2
  die "xgw stats failed"
}
settle() { xt_xgw_settle "$SOCK"; }
# xgwc CMD...: an xgw command against the running instance (bounded in time)
xgwc() { timeout 30 "$XGW" "$@" --socket "$SOCK"; }
# run_bg OUT CMD...: an xgw observation command in the background (pid in
# BG_PID); its stdout to OUT, stderr to OUT.err
run_bg() {
  local out=$1; shift
  "$XGW" "$@" --socket "$SOCK" >"$out" 2>"$out.err" &
  BG_PID=$!
  XT_PIDS+=("$BG_PID")
}
# wait_bg PID WHAT OUT: waits for a background command; checks exit 0
wait_bg() {
  local pid=$1 what=$2 out=$3 rc=0
  wait "$pid" || rc=$?
  check_eq "$what exits 0" 0 "$rc" "$(head -c 300 "$out.err")"
}
# Arming cannot be observed from outside (reading the trace would take its
# records), so the commands get this long to connect and arm.
ARM_WAIT=1.5

# ---------------------------------------------------------------------------
step "xgw: check, start, drop-reasons"
rc=0; out=$("$XGW" check --config "$CFG" 2>&1) || rc=$?
check_eq "xgw check accepts the config" 0 "$rc" "${out:0:200}"
xt_xgw_start "$NS_X" "$CFG" "$XGW_LOG"
XGW_PID=$XT_XGW_PID
xt_xgw_wait_ready "$XGW_PID" "$SOCK" "$XGW_LOG" 30 || die "xgw did not come up"
pass "xgw is up (pid $XGW_PID)"

"$XGW" drop-reasons >"$XT_WORK/drop-reasons.txt"
# reason -> sentence, and reason -> nodes, from `xgw drop-reasons`
"$XT_PY" - "$XT_WORK/drop-reasons.txt" "$XT_WORK/reasons.json" "$XT_WORK/owners.json" <<'EOF'
import json, re, sys
desc, owners = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+)\s+(\S+)\s+(.*)$", line.rstrip("\n"))
    if m:
        desc[m.group(1)] = m.group(3).strip()
        owners[m.group(1)] = m.group(2).split(",")
json.dump(desc, open(sys.argv[2], "w")); json.dump(owners, open(sys.argv[3], "w"))
EOF
for lab in "${LABELS[@]}"; do
  read -r reason node _ _ <<<"${WANT[$lab]}"
  got=$(xt_json "$XT_WORK/owners.json" "','.join(d.get('$reason', []))")
  if [[ ,$got, == *",$node,"* ]]; then pass "xgw drop-reasons: $reason filed by $got (includes $node)"
  else fail "xgw drop-reasons: $reason filed by '$got' (want $node among them)"; fi
done

"$XT_PY" "$XT_WORK/frames.py" build "$XT_WORK/frames.json" "$MAC_A" "$MAC_XA" "$MAC_B" "$MAC_XB" \
  "$A4" "$B4" "$X4B" "$SPOOF" "$BH_DST" "$TEID" >"$XT_WORK/frames.txt" || die "building the frames with scapy failed"
log "the three frames:"; xt_indent <"$XT_WORK/frames.txt"
"$XT_PY" -c 'import json, sys; json.dump(dict(zip(("rpf", "bh", "teid"), sys.argv[2:])), open(sys.argv[1], "w"))' \
  "$XT_WORK/want.json" "${WANT[rpf]}" "${WANT[bh]}" "${WANT[teid]}"

# ---------------------------------------------------------------------------
step "ordinary traffic: ping, its trace and its capture"
for spec in "$NS_A|$B4|A->B" "$NS_B|$A4|B->A"; do
  IFS='|' read -r ns dst dir <<<"$spec"
  rc=0; out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 "$dst" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then pass "ping $dir: $(grep -E 'transmitted' <<<"$out")"
  else fail "ping $dir (exit $rc): $(grep -E 'transmitted' <<<"$out")"; fi
done
xgwc drops --json >"$XT_WORK/drops0.json" || die "xgw drops --json failed"
check_eq "xgw drops --json before the test frames: no reason counted" '[]' \
  "$(xt_json "$XT_WORK/drops0.json" '[r["reason"] for r in d["drops"]]')"
out=$(xgwc drops 2>&1) || true
check_eq "xgw drops (table) says so" "no drops" "$out"

# a. trace one echo request A->B
run_bg "$XT_WORK/trace-ping.json" trace --count 1 --match "proto=icmp,src=$A4,dst=$B4" --json --timeout 15
tp=$BG_PID
sleep "$ARM_WAIT"
ip netns exec "$NS_A" ping -c 3 -i 0.3 -W 2 "$B4" >/dev/null 2>&1 || true
wait_bg "$tp" "xgw trace --count 1 --match proto=icmp,src=$A4,dst=$B4" "$XT_WORK/trace-ping.json"
log "trace: $(head -c 1500 "$XT_WORK/trace-ping.json")"
check_eq "trace of a ping: frames traced" 1 "$(xt_json "$XT_WORK/trace-ping.json" 'len(d["frames"])' 2>/dev/null || echo '?')"
path=$(xt_json "$XT_WORK/trace-ping.json" '" ".join(h["node"] + ":" + (("next=" + h["verdict"]["next"]) if "next" in h["verdict"] else ("tx=%s" % h["verdict"]["tx"]) if "tx" in h["verdict"] else json.dumps(h["verdict"], sort_keys=True)) for h in d["frames"][0]["hops"])' 2>/dev/null || echo '?')
check_eq "trace of a ping: the path through the graph" \
  "ethernet-input:next=ip4-input ip4-input:next=ip4-lookup ip4-lookup:next=ip-rewrite ip-rewrite:tx=1" "$path"
check_eq "trace of a ping: received on port 0 (pa), an echo request A->B (head: ethertype, protocol, addresses, ICMP type)" \
  "0 0800 01 0a010002 0a020002 08" \
  "$(xt_json "$XT_WORK/trace-ping.json" '"%s %s %s %s %s %s" % ((lambda f, h: (f["port"], h[24:28], h[46:48], h[52:60], h[60:68], h[68:70]))(d["frames"][0], d["frames"][0]["head"]))' 2>/dev/null || echo '?')"
# (the later hops keep naming the ingress interface, with the next hop's
# id in nh: what they show is logged, not checked)
check_eq "trace of a ping: interface at ethernet-input and ip4-input (the ingress)" "lan-a lan-a" \
  "$(xt_json "$XT_WORK/trace-ping.json" '" ".join(h["iface"] for h in d["frames"][0]["hops"][:2])' 2>/dev/null || echo '?')"
log "trace of a ping, iface/nh per hop: $(xt_json "$XT_WORK/trace-ping.json" '" ".join("%s[%s,nh %s]" % (h["node"], h["iface"], h["nh"]) for h in d["frames"][0]["hops"])' 2>/dev/null || echo '?')"

# b. capture five echo requests as received (tcpdump on a0 keeps what A sent)
PING_ID=2828   # ping -e: the echo identifier, so the capture can be told apart
xt_cap_start "$NS_A" "$IF_A" "$XT_WORK/a0-ping.pcap" "icmp and src $A4" || die "tcpdump on $IF_A did not start"
run_bg "$XT_WORK/ping.pcapng.out" capture --dir rx --count 5 --match "proto=icmp,src=$A4" \
  --write "$XT_WORK/ping.pcapng" --timeout 15
cp=$BG_PID
sleep "$ARM_WAIT"
ip netns exec "$NS_A" ping -e "$PING_ID" -c 5 -i 0.2 -W 2 "$B4" >"$XT_WORK/ping5.out" 2>&1 || true
wait_bg "$cp" "xgw capture --dir rx --count 5 --match proto=icmp,src=$A4" "$XT_WORK/ping.pcapng.out"
xt_cap_stop "$XT_WORK/a0-ping.pcap" >/dev/null
log "xgw capture said: $(cat "$XT_WORK/ping.pcapng.out.err")"
check_eq "ping -c 5 -e $PING_ID during the capture" "5 received" "$(grep -oE '[0-9]+ received' "$XT_WORK/ping5.out")"
relay "check_pcap.py ping" "$XT_PY" "$XT_WORK/check_pcap.py" "$XT_WORK/ping.pcapng" ping "$A4" "$B4" "$PING_ID" \
  "$XT_WORK/a0-ping.pcap"
tshark -r "$XT_WORK/ping.pcapng" -T fields -e frame.number -e frame.interface_name -e frame.len -e _ws.col.Info \
  2>/dev/null | xt_indent

# ---------------------------------------------------------------------------
step "three frames, three drop reasons: drops, trace, capture"
settle
stats "$XT_WORK/s0.json"
run_bg "$XT_WORK/trace-drops.json" trace --drops-only --count 3 --json --timeout 20
td=$BG_PID
run_bg "$XT_WORK/drops.pcapng.out" capture --dir drop --count 3 --write "$XT_WORK/drops.pcapng" --timeout 20
cd_=$BG_PID
sleep "$ARM_WAIT"
t_send=$(date +%s.%N)
sent=$(ip netns exec "$NS_A" "$XT_PY" "$XT_WORK/frames.py" send "$IF_A" "$XT_WORK/frames.json" rpf bh) \
  || die "sending from A failed"
check_eq "A sent the rpf and blackhole frames" 2 "$sent"
ip netns exec "$NS_B" "$XT_PY" "$XT_WORK/frames.py" send-gtp "$IF_B" "$XT_WORK/frames.json" teid "$B4" "$TEID" \
  >"$XT_WORK/ei.json" || die "sending from B failed"
wait_bg "$td" "xgw trace --drops-only --count 3 --json" "$XT_WORK/trace-drops.json"
wait_bg "$cd_" "xgw capture --dir drop --count 3" "$XT_WORK/drops.pcapng.out"
t_done=$(date +%s.%N)
took=$(awk -v a="$t_send" -v b="$t_done" 'BEGIN { printf "%.1f", b - a }')
if awk -v t="$took" 'BEGIN { exit !(t < 10) }'; then pass "trace and capture ended once their 3 frames came (${took} s after the first was sent, timeouts 20 s)"
else fail "trace and capture took ${took} s: they ran into their timeout instead of ending at 3 frames"; fi
log "xgw capture said: $(cat "$XT_WORK/drops.pcapng.out.err")"

# B's answer: an Error Indication about the TEID
check_eq "B got an Error Indication (type 26, TEID 0) from $X4B:2152 carrying TEID Data I $TEID" \
  "$X4B:2152 26 0 True" \
  "$(xt_json "$XT_WORK/ei.json" '"%s %s %s %s" % (d.get("src"), d.get("type"), d.get("teid"), d.get("teid_data_i"))' 2>/dev/null || echo '?')"

# a. xgw drops
settle
xgwc drops --json >"$XT_WORK/drops1.json" || die "xgw drops --json failed"
xgwc drops >"$XT_WORK/drops1.txt" 2>&1 || true
log "xgw drops:"; xt_indent <"$XT_WORK/drops1.txt"
check_eq "xgw drops --json: the reasons that counted" "gtpu.unknown_teid route.blackhole rpf.strict_failed" \
  "$(xt_json "$XT_WORK/drops1.json" '" ".join(sorted(r["reason"] for r in d["drops"]))')"
"$XT_PY" - "$XT_WORK/drops1.json" "$XT_WORK/want.json" "$XT_WORK/reasons.json" >"$XT_WORK/drops-check.out" 2>&1 <<'EOF' || true
import json, sys
d = json.load(open(sys.argv[1])); want = json.load(open(sys.argv[2])); reasons = json.load(open(sys.argv[3]))
rows = {r["reason"]: r for r in d["drops"]}
for lab, w in want.items():
    reason, node, port, _ = w.split()
    r = rows.get(reason)
    if r is None:
        print("FAIL xgw drops --json: no %s" % reason)
        continue
    good = (r["count"] == 1 and r["ports"] == {port: 1} and r["workers"] == {"0": 1}
            and node in r["nodes"] and r["description"] == reasons[reason])
    print("%s xgw drops --json: %s: count %s, ports %s, workers %s, nodes %s, %r"
          % ("PASS" if good else "FAIL", reason, r["count"], json.dumps(r["ports"]), json.dumps(r["workers"]),
             ",".join(r["nodes"]), r["description"]))
EOF
relay "drops check" cat "$XT_WORK/drops-check.out"
if grep -q 'gtpu.unknown_teid' "$XT_WORK/drops1.txt" && grep -q 'rpf.strict_failed' "$XT_WORK/drops1.txt" \
  && grep -q 'route.blackhole' "$XT_WORK/drops1.txt"; then pass "xgw drops (table) lists the three reasons"
else fail "xgw drops (table) misses a reason"; fi

# b. the trace
log "trace: $(head -c 3000 "$XT_WORK/trace-drops.json")"
"$XT_PY" - "$XT_WORK/trace-drops.json" "$XT_WORK/frames.json" "$XT_WORK/reasons.json" "$XT_WORK/want.json" \
  >"$XT_WORK/trace-check.out" 2>&1 <<'EOF' || true
import json, sys
t = json.load(open(sys.argv[1])); frames = json.load(open(sys.argv[2])); reasons = json.load(open(sys.argv[3]))
want = {k: v.split() for k, v in json.load(open(sys.argv[4])).items()}
def ok(c, what):
    print(("PASS " if c else "FAIL ") + what)
fs = t.get("frames", [])
ok(len(fs) == 3, "trace --drops-only: %d frames (want 3)" % len(fs))
seen = []
for i, f in enumerate(fs):
    lab = next((k for k, h in frames.items() if h.startswith(f["head"]) and len(f["head"]) > 0), None)
    if lab is None:
        ok(False, "traced frame %d: head matches no frame sent: %s" % (i + 1, f["head"][:120]))
        continue
    seen.append(lab)
    reason, node, _, port = want[lab]
    hops = f["hops"]; last = hops[-1]
    path = " -> ".join(h["node"] for h in hops)
    ok(f["port"] == int(port) and f["len"] == len(frames[lab]) // 2
       and f["head"] == frames[lab][:len(f["head"])] and len(f["head"]) >= min(len(frames[lab]), 192),
       "traced frame %d (%s): port %s, %d bytes, head = the first %d bytes sent" % (i + 1, lab, f["port"], f["len"], len(f["head"]) // 2))
    ok(last["node"] == node and last["verdict"].get("drop") == reason and last["verdict"].get("why") == reasons[reason],
       "traced frame %d (%s): %s, ends %s at %s: %s" % (i + 1, lab, path, last["verdict"].get("drop"), last["node"], last["verdict"].get("why")))
    ok(all("next" in h["verdict"] and h["verdict"]["next"] == n["node"] for h, n in zip(hops, hops[1:])) and hops[0]["node"] == "ethernet-input",
       "traced frame %d (%s): from ethernet-input, each hop hands on to the next (%s)" % (i + 1, lab, path))
ok(seen == ["rpf", "bh", "teid"], "traced frames in the order sent: %s" % seen)
EOF
relay "trace check" cat "$XT_WORK/trace-check.out"

# c. the pcapng
relay "check_pcap.py drops" "$XT_PY" "$XT_WORK/check_pcap.py" "$XT_WORK/drops.pcapng" drops \
  "$XT_WORK/frames.json" "$XT_WORK/want.json" "$XT_WORK/reasons.json"
log "tshark -r drops.pcapng:"
tshark -r "$XT_WORK/drops.pcapng" -T fields -e frame.number -e frame.interface_name -e frame.len \
  -e _ws.col.Info -e frame.comment 2>/dev/null | xt_indent

# ---------------------------------------------------------------------------
step "accounting, SIGTERM"
settle
stats "$XT_WORK/s1.json"
rx=$(xt_json "$XT_WORK/s1.json" 'd["totals"]["rx"]'); em=$(xt_json "$XT_WORK/s1.json" 'd["totals"]["emitted"]')
tx=$(xt_json "$XT_WORK/s1.json" 'd["totals"]["tx"]'); lo=$(xt_json "$XT_WORK/s1.json" 'd["totals"]["local"]')
dr=$(xt_json "$XT_WORK/s1.json" 'd["totals"]["dropped"]'); pe=$(xt_json "$XT_WORK/s1.json" 'd["totals"]["pending"]')
log "totals: rx $rx + emitted $em = tx $tx + local $lo + dropped $dr + pending $pe"
check_eq "totals rx + emitted = tx + local + dropped + pending" "$((rx + em))" "$((tx + lo + dr + pe))"
check_eq "totals.pending once idle" 0 "$pe"
check_eq "totals.dropped: the three frames" 3 "$dr"
xt_xgw_stop "$XGW_PID" TERM 15
check_eq "xgw exit status after SIGTERM" 0 "$XT_RC"
xt_check_no_xdp "$NS_X" "$IF_XA" 2
xt_check_no_xdp "$NS_X" "$IF_XB" 2

log "took $(($(date +%s) - T0)) s"
xt_finish
