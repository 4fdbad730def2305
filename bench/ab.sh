#!/usr/bin/env bash
# Wall time per packet of whole pipelines on the mem port, this tree against
# an earlier git revision, in one run: the same `instr_per_pkt` paths as
# bench/callgrind.sh, run natively (no valgrind), old and new alternating
# ROUNDS times on one pinned CPU; prints the median of each and old/new.
# On a shared or noisy machine only the ratio within one run means much.
#
#   bench/ab.sh REV [PATH ...]       # e.g. bench/ab.sh 28ae345 ipv4-route
#
# Knobs: ROUNDS=7 BURSTS=100000 BURST=64 CPU=1 (taskset) SKIP_BUILD=0.
# REV is built in a git worktree under target/ab/ (its own target dir).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REV=${1:?usage: bench/ab.sh REV [PATH ...]}
shift
ROUNDS=${ROUNDS:-7}
BURSTS=${BURSTS:-100000}
BURST=${BURST:-64}
CPU=${CPU:-1}
say() { echo "[ab] $*" >&2; }

SHA=$(git -C "$ROOT" rev-parse --short "$REV")
TREE=$ROOT/target/ab/$SHA
NEW=$ROOT/target/release/instr_per_pkt
OLD=$ROOT/target/ab/$SHA-target/release/instr_per_pkt
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  say "building this tree and $SHA (release)"
  (cd "$ROOT" && cargo build --release -q -p xgw-bench --bin instr_per_pkt) >&2
  if [[ ! -d $TREE ]]; then
    git -C "$ROOT" worktree add -f --detach "$TREE" "$SHA" >&2
  fi
  (cd "$TREE" && CARGO_TARGET_DIR="$ROOT/target/ab/$SHA-target" \
    cargo build --release -q -p xgw-bench --bin instr_per_pkt) >&2
fi
[[ -x $OLD && -x $NEW ]] || { say "missing binaries: $OLD $NEW"; exit 1; }

PATHS=("$@")
((${#PATHS[@]})) || mapfile -t PATHS < <("$NEW" --list | cut -f1)
ns() { taskset -c "$CPU" "$1" "$2" "$BURSTS" "$BURST" | sed -E 's/.*ns_per_packet=([0-9.]+).*/\1/'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-12s %12s %12s %8s\n' path "$SHA ns/pkt" "now ns/pkt" old/new
for p in "${PATHS[@]}"; do
  o=() n=()
  for ((r = 0; r < ROUNDS; r++)); do
    o+=("$(ns "$OLD" "$p")")
    n+=("$(ns "$NEW" "$p")")
  done
  mo=$(median "${o[@]}") mn=$(median "${n[@]}")
  printf '%-12s %12s %12s %8s\n' "$p" "$mo" "$mn" "$(awk -v a="$mo" -v b="$mn" 'BEGIN {printf "%.2f", a / b}')"
done
echo "medians of $ROUNDS alternating runs of $BURSTS bursts of $BURST on CPU $CPU (taskset); wall time of Worker::poll_once per packet" >&2
