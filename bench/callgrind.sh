#!/usr/bin/env bash
# Instructions per packet of whole pipelines on the mem port, counted by
# valgrind's callgrind (exact and repeatable, unlike time on a shared VM).
#
#   bench/callgrind.sh                  # every path
#   bench/callgrind.sh ipv4-route ...   # some paths
#   ANNOTATE=1 bench/callgrind.sh ...   # plus each path's top functions (callgrind_annotate)
#
# For every path listed by `instr_per_pkt --list` (bench/src/bin/instr_per_pkt.rs;
# a new path is one line in its PATHS table) it runs the binary under
#   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*::measured'
#          --toggle-collect='*Pipeline>::tick'
# so only `measured` (one Worker::poll_once: RX burst, pipeline, TX
# enqueue, stats) is counted, not set-up, feeding frames in or freeing them,
# and not the pipeline's 10 ms timers either: under valgrind (~50x slower)
# they would run ~50x more often per burst than they do natively.
# It does that twice, with BURSTS and 2 × BURSTS bursts, and reports
#   (Ir(2N) - Ir(N)) / (packets(2N) - packets(N))
# which also cancels whatever `measured` does only once (first calls).
#
# Knobs: BURSTS=2000 BURST=64 ANNOTATE=0 (1: top functions, self cost, per
# path from the 2N run) SPLIT=0 (1: also split each path's figure into the
# feature's own code and the router + runtime it runs on, see below)
# KEEP=0 (1: keep callgrind.out files, printed)
# SKIP_BUILD=0 CARGO_TARGET_DIR (default <repo>/target).
# Installs valgrind with apt-get if it is missing.
# Exit status: 0 when every path ran (targets missed are reported, not failed),
# 1 when a path failed to run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BURSTS=${BURSTS:-2000}
BURST=${BURST:-64}
ANNOTATE=${ANNOTATE:-0}
SPLIT=${SPLIT:-0}
KEEP=${KEEP:-0}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release/instr_per_pkt

say() { echo "[callgrind] $*" >&2; }
die() { say "FATAL: $*"; exit 1; }

if ! command -v valgrind >/dev/null; then
  say "valgrind is missing: installing it (apt-get install -y valgrind)"
  [[ $(id -u) == 0 ]] || die "valgrind is not installed and installing it needs root: sudo apt-get install -y valgrind"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends valgrind >/dev/null || die "apt-get install valgrind failed"
fi
command -v callgrind_annotate >/dev/null || die "callgrind_annotate missing (it comes with valgrind)"

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  say "building instr_per_pkt (release, with debug line tables)"
  (cd "$ROOT" && cargo build --release -q -p xgw-bench --bin instr_per_pkt) >&2 || die "cargo build failed"
fi
[[ -x $BIN ]] || die "no binary at $BIN"

mapfile -t LIST < <("$BIN" --list)
declare -A TARGET WHAT
ALL=()
for l in "${LIST[@]}"; do
  IFS=$'\t' read -r n t w <<<"$l"
  ALL+=("$n"); TARGET[$n]=$t; WHAT[$n]=$w
done
PATHS=("$@")
((${#PATHS[@]})) || PATHS=("${ALL[@]}")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/xgw-callgrind.XXXXXX")
if [[ $KEEP == 1 ]]; then say "callgrind.out files kept in $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi

# run PATH BURSTS -> "Ir packets" (Ir counted inside `measured` only)
run() {
  local path=$1 n=$2 out=$WORK/callgrind.out.$1.$2 log=$WORK/log.$1.$2 line ir
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
      --toggle-collect='*::measured' --toggle-collect='*Pipeline>::tick' \
      "$BIN" "$path" "$n" "$BURST" >"$log.stdout" 2>"$log"; then
    say "$path: the run failed:"
    grep -v '^==' "$log" | tail -n 5 >&2 || true
    tail -n 5 "$log" >&2
    return 1
  fi
  line=$(grep -E '^path=' "$log.stdout") || { say "$path: no result line"; return 1; }
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
  [[ -n $ir ]] || { say "$path: no totals in $out"; return 1; }
  echo "$ir ${line##*packets=}"
}

# feature OUT -> Ir of the features' own code (gtpu/, nat64/, ipip/): their
# lines inlined into the router's functions, with everything those lines
# call (callgrind's inclusive cost of an inlined file:function pair); the
# rest of the count is the router and the runtime the feature runs on.
feature() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk '
    /src\/(gtpu|nat64|ipip)\/[a-z_0-9]+\.rs:xgw_pipelines::router::/ && !/=>/ && !/\[/ {
      gsub(",", "", $1); s += $1 }
    END { print s + 0 }'
}

printf '\n%-12s %10s %8s  %-7s %11s  %s\n' path instr/pkt target verdict native-ns "what"
rc=0
for p in "${PATHS[@]}"; do
  [[ -n ${TARGET[$p]:-} ]] || { say "unknown path $p (known: ${ALL[*]})"; rc=1; continue; }
  if ! a=$(run "$p" "$BURSTS") || ! b=$(run "$p" $((2 * BURSTS))); then
    printf '%-12s %10s %8s  %-7s %11s  %s\n' "$p" - "${TARGET[$p]}" FAILED - "${WHAT[$p]}"
    rc=1
    continue
  fi
  read -r ir1 pk1 <<<"$a"
  read -r ir2 pk2 <<<"$b"
  ipp=$(awk -v a="$ir1" -v b="$ir2" -v p="$pk1" -v q="$pk2" 'BEGIN{ printf "%.1f", (b - a) / (q - p) }')
  verdict=$(awk -v x="$ipp" -v t="${TARGET[$p]}" 'BEGIN{ print (x <= t) ? "ok" : "MISSED" }')
  # native time per packet in `measured`, for scale only (noisy on a shared machine)
  ns=$("$BIN" "$p" $((50 * BURSTS)) "$BURST" 2>/dev/null | sed -n 's/.*ns_per_packet=\([0-9.]*\).*/\1/p')
  printf '%-12s %10s %8s  %-7s %11s  %s\n' "$p" "$ipp" "${TARGET[$p]}" "$verdict" "${ns:--}" "${WHAT[$p]}"
  if [[ $SPLIT == 1 ]]; then
    f1=$(feature "$WORK/callgrind.out.$p.$BURSTS")
    f2=$(feature "$WORK/callgrind.out.$p.$((2 * BURSTS))")
    awk -v a="$ir1" -v b="$ir2" -v f="$f1" -v g="$f2" -v p="$pk1" -v q="$pk2" 'BEGIN {
      n = q - p; printf "%-12s %10.1f feature (gtpu/, nat64/, ipip/ code)\n%-12s %10.1f router + runtime\n",
        "", (g - f) / n, "", ((b - a) - (g - f)) / n }'
  fi
  if [[ $ANNOTATE == 1 ]]; then
    # self cost per function over the 2N run (inclusive of nothing), top 15
    # (file:function: inlined code is charged to the file it comes from)
    { callgrind_annotate --threshold=99 "$WORK/callgrind.out.$p.$((2 * BURSTS))" 2>/dev/null \
        | awk '/^-+$/ {sep++; next} sep >= 3 && NF' | head -n 15 | sed 's/^/      /'; } || true
  fi
done
echo
echo "instr/pkt: instructions inside Worker::poll_once (RX burst .. TX enqueue, stats; pipeline timers excluded)," \
  "(Ir(2N)-Ir(N))/(packets(2N)-packets(N)), N=$BURSTS bursts of $BURST, valgrind $(valgrind --version | sed 's/valgrind-//');" \
  "native-ns: wall time per packet in the same code without valgrind ($((50 * BURSTS)) bursts), indicative only"
exit "$rc"
