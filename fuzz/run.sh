#!/usr/bin/env bash
# Runs xgw's fuzz targets (cargo fuzz / libFuzzer, nightly toolchain).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # default: 20 s each, every target
#
# Installs cargo-fuzz when missing, writes seed corpora from the project's
# fixtures (fuzz/seeds.py), then runs each target for SECONDS with
# -max_total_time and prints its executions.  Exits non-zero when a target
# finds a crash, leak, timeout or failed check (the input is kept in
# fuzz/artifacts/TARGET/; replay it with
# `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`).
# Environment: FUZZ_JOBS (parallel targets, default 1), FUZZ_ARGS (extra
# libFuzzer flags), FUZZ_LOG_DIR (where each target's log goes).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
SECS=${1:-20}
shift || true
ALL=(router_frame router_burst l2fwd_burst wire config control gtpu pfcp nat64 fib)
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=("${ALL[@]}")
LOGS=${FUZZ_LOG_DIR:-$PWD/logs}
mkdir -p "$LOGS"

if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
  PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz/run.sh: cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked || exit 1
fi
python3 seeds.py || exit 1
cargo +nightly fuzz build -O 2>&1 | tail -1; ((PIPESTATUS[0] == 0)) || exit 1

rc=0
run_one() { # TARGET
  local t=$1 log="$LOGS/$1.log"
  mkdir -p "corpus/$t" "artifacts/$t"
  # -timeout: one input taking over 10 s is a finding (a stall);
  # -rss_limit_mb: memory must stay bounded.
  # shellcheck disable=SC2086
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" ${FUZZ_ARGS:-} >"$log" 2>&1
  local r=$? execs
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  if ((r == 0)); then
    printf 'fuzz %-13s ok      %6ss  %10s execs  corpus %s\n' "$t" "$SECS" "${execs:-?}" "$(find "corpus/$t" -type f | wc -l)"
  else
    printf 'fuzz %-13s FAILED  (exit %d; log %s)\n' "$t" "$r" "$log"
    grep -E 'panicked at|ERROR: |SUMMARY' "$log" | head -5
    find "artifacts/$t" -type f 2>/dev/null | head -3
  fi
  return $r
}
jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${TARGETS[@]}"; do
  if ((jobs > 1)); then
    run_one "$t" & pids+=($!)
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || rc=1; done
  else
    run_one "$t" || rc=1
  fi
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
