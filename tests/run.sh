#!/usr/bin/env bash
# The xgw test command.  Run as root on a Debian 12 machine (a fresh one is
# fine: it installs what it needs):
#
#   tests/run.sh              # everything
#   tests/run.sh l2fwd        # build + cargo tests + only tests/netns/l2fwd.sh
#
# Steps, in order:
#   1. install missing Debian packages (apt-get update only if something is
#      missing): iproute2 iputils-ping iputils-tracepath traceroute ethtool
#      tcpdump tshark iperf3 python3 python3-scapy procps, curl
#      (netns/siit.sh, netns/nat64.sh, netns/xlat464.sh,
#      netns/nat64-mq.sh), and unbound, ndisc6, dnsutils
#      (netns/nat64.sh, which runs its own Unbound in a namespace: when this
#      step installs unbound, Debian's unbound service is not started and is
#      left disabled, so the host's resolver stays as it was), prometheus
#      (netns/prometheus.sh, which runs its own prometheus process; Debian's
#      prometheus service is likewise not started and left disabled), and
#      openssh-server, openssh-client (netns/hoststack.sh, which runs its
#      own sshd in a namespace; Debian's ssh service is not started and is
#      left disabled)
#   2. cargo build --release --workspace
#   3. cargo test --release --workspace --no-fail-fast
#      (unit, golden and allocation tests)
#   4. fuzz smoke: every target of fuzz/ (cargo fuzz, nightly) for
#      XGW_FUZZ_SECS seconds (default 15); fuzz/run.sh installs cargo-fuzz
#   5. every tests/netns/*.sh (lib.sh excepted), in name order
# then a summary.  Exit status 0 only when every step passed.
# Environment: XT_KEEP=1 keeps the netns tests' namespaces and logs;
# XGW_FUZZ_SECS sets the fuzz smoke's seconds per target.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

if [[ $(id -u) != 0 ]]; then
  echo "tests/run.sh: must run as root: the netns tests create network namespaces and attach XDP programs." >&2
  echo "  try: sudo $0 $*" >&2
  exit 1
fi

XT_NAME=run
# shellcheck source-path=SCRIPTDIR source=netns/lib.sh
source "$ROOT/tests/netns/lib.sh"

NAMES=()
RESULTS=()
TIMES=()
FAILED=0
record() { # NAME RC SECONDS
  NAMES+=("$1"); TIMES+=("$3")
  if (($2 == 0)); then RESULTS+=(PASS); else RESULTS+=("FAIL($2)"); FAILED=$((FAILED + 1)); fi
}
run_step() { # NAME CMD...
  local name=$1 t0 rc=0; shift
  printf '\n%s==== %s: %s%s\n' "$XT_C_BLD" "$name" "$*" "$XT_C_OFF"
  t0=$(date +%s)
  "$@" || rc=$?
  record "$name" "$rc" $(($(date +%s) - t0))
  if ((rc == 0)); then printf '%s==== %s: passed%s\n' "$XT_C_GRN" "$name" "$XT_C_OFF"
  else printf '%s==== %s: FAILED (exit %d)%s\n' "$XT_C_RED" "$name" "$rc" "$XT_C_OFF"; fi
  return "$rc"
}
summary() {
  local i pass=$((${#NAMES[@]} - FAILED))
  printf '\n==== summary\n'
  for i in "${!NAMES[@]}"; do
    printf '  %-8s %-28s %5ss\n' "${RESULTS[$i]}" "${NAMES[$i]}" "${TIMES[$i]}"
  done
  printf 'tests: %d passed, %d failed\n' "$pass" "$FAILED"
  if [[ -n ${JOOL_NOTE:-} ]]; then printf 'NOTE: %s\n' "$JOOL_NOTE"; fi
}

# cargo may live in root's rustup directory without being on PATH (sudo)
if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
  PATH=${CARGO_HOME:-$HOME/.cargo}/bin:$PATH
fi
if ! command -v cargo >/dev/null; then
  echo "tests/run.sh: cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 1
fi

# install_pkgs: what the tests need.  Packages that bring a service the
# tests run themselves (SERVICE_PKGS) are installed without starting it
# (policy-rc.d while apt runs, unless one exists) and left stopped and
# disabled, so the host stays as it was.
SERVICE_PKGS=(unbound prometheus openssh-server)
# svc_of PKG: the service a package brings
svc_of() { case $1 in openssh-server) echo ssh ;; *) echo "$1" ;; esac; }
install_pkgs() {
  local made_policy=0 rc=0 p new_svc=()
  for p in "${SERVICE_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || new_svc+=("$p")
  done
  if ((${#new_svc[@]})) && [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # invoke-rc.d / deb-systemd-invoke start no service while this exists
    printf '#!/bin/sh\n# written by xgw tests/run.sh while it installs packages\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  xt_install_pkgs curl unbound ndisc6 dnsutils prometheus openssh-server openssh-client || rc=$?
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  for p in "${new_svc[@]}"; do
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now --quiet "$(svc_of "$p").service" 2>/dev/null || true
    else # no systemd: drop the SysV rc links the package made
      update-rc.d "$(svc_of "$p")" disable >/dev/null 2>&1 || true
    fi
  done
  return "$rc"
}
run_step packages install_pkgs
built=0
run_step "cargo build" cargo build --release --workspace && built=1
# Jool's NAT64/SIIT vectors are read in place from ../shared (GPL-2.0 data,
# never copied here): when they are there, tests/tests/jool.rs must run
# them (XGW_JOOL_REQUIRED); when not, the summary says the conformance run
# was skipped.
JOOL_DIR=${XGW_JOOL_DIR:-$ROOT/../shared/conformance/jool}
JOOL_NOTE=""
if [[ -f $JOOL_DIR/manifest.toml ]]; then
  export XGW_JOOL_DIR=$JOOL_DIR XGW_JOOL_REQUIRED=1
else
  JOOL_NOTE="Jool conformance (tests/tests/jool.rs) SKIPPED: no data set at $JOOL_DIR"
fi
# --no-fail-fast: one failing test binary must not hide the others' results
run_step "cargo test" cargo test --release --workspace --no-fail-fast

# A short run of every fuzz target (long runs: docs/ROBUSTNESS.md).
if ((built)); then
  run_step "fuzz smoke" bash fuzz/run.sh "${XGW_FUZZ_SECS:-15}"
fi

tests=()
if (($# > 0)); then
  for n in "$@"; do tests+=("tests/netns/${n%.sh}.sh"); done
else
  for t in tests/netns/*.sh; do
    [[ $(basename "$t") == lib.sh ]] || tests+=("$t")
  done
fi
for t in "${tests[@]}"; do
  name="netns/$(basename "${t%.sh}")"
  if [[ ! -f $t ]]; then
    echo "no such test: $t" >&2; record "$name" 2 0
  elif ((built)); then
    run_step "$name" bash "$t"
  else
    echo "skipping $name: the build failed" >&2; record "$name" 3 0
  fi
done

summary
((FAILED == 0))
