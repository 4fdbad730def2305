#!/usr/bin/env bash
# Packaging: the systemd unit, the man page and the shell completions.
# Run as root (like the other tests here):  tests/netns/packaging.sh
#
# Checks
#   a. `systemd-analyze verify` accepts packaging/xgw.service (its
#      ExecStart / ExecStartPre pointed at this build and at a config of
#      the repository, and the generated man page on MANPATH, so the
#      Documentation= line resolves too); the unit runs xgw without full
#      root: DynamicUser, only NET_ADMIN, NET_RAW, BPF and IPC_LOCK.
#   b. `xgw man` renders with man(1) and groff reports no warning; its
#      SUBCOMMANDS section lists every subcommand of `xgw --help`.
#   c. `xgw completions bash` loads in bash and completes `xgw na` to
#      `nat64` and `xgw nat64 ` to `bib session`; zsh and fish scripts are
#      produced too.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck disable=SC2034  # read by lib.sh
XT_NAME=packaging
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
xt_init
xt_require_xgw
W=$XT_WORK

step "a. systemd-analyze verify"
mkdir -p "$W/man/man1"
"$XGW" man >"$W/man/man1/xgw.1"
sed -e "s#/usr/local/bin/xgw#$XGW#g" -e "s#/etc/xgw/xgw.toml#$ROOT/configs/router.toml#g" \
  "$ROOT/packaging/xgw.service" >"$W/xgw.service"
if out=$(MANPATH="$W/man" systemd-analyze verify "$W/xgw.service" 2>&1); then
  pass "systemd-analyze verify accepts the unit${out:+ ($out)}"
else
  fail "systemd-analyze verify: $out"
fi
check_cmd "the unit runs as a dynamic user" grep -qx 'DynamicUser=yes' "$ROOT/packaging/xgw.service"
caps=$(sed -n 's/^AmbientCapabilities=//p' "$ROOT/packaging/xgw.service")
check_eq "capabilities, not root" "CAP_NET_ADMIN CAP_NET_RAW CAP_BPF CAP_IPC_LOCK" "$caps"
check_cmd "memlock unlimited for the UMEM" grep -qx 'LimitMEMLOCK=infinity' "$ROOT/packaging/xgw.service"
check_cmd "ExecStartPre validates the config (xgw check) with this build" \
  "$XGW" check --config "$ROOT/configs/router.toml"

step "b. the man page"
if page=$(MANWIDTH=100 man -l "$W/man/man1/xgw.1" 2>"$W/man.err"); then
  pass "man renders xgw.1 ($(wc -l <<<"$page") lines)"
else
  fail "man -l xgw.1: $(cat "$W/man.err")"
fi
warnings=$(groff -man -ww -z "$W/man/man1/xgw.1" 2>&1 || true)
check_eq "groff: no warnings" "" "$warnings"
missing=()
for sub in $("$XGW" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR>1 && NF {print $1}' | grep -v '^help$'); do
  grep -q "xgw-$sub(1)" <<<"$page" || missing+=("$sub")
done
check_eq "every subcommand in the SUBCOMMANDS section" "" "${missing[*]:-}"
check_cmd "NAME section" grep -q '^NAME' <<<"$page"

step "c. shell completions"
"$XGW" completions bash >"$W/xgw.bash"
got=$(bash -c "source '$W/xgw.bash'; COMP_WORDS=(xgw na); COMP_CWORD=1; _xgw xgw na xgw; echo \"\${COMPREPLY[*]}\"")
check_eq "bash: xgw na<TAB>" "nat64" "$got"
got=$(bash -c "source '$W/xgw.bash'; COMP_WORDS=(xgw nat64 ''); COMP_CWORD=2; _xgw xgw '' nat64; echo \"\${COMPREPLY[*]}\"" | tr ' ' '\n' | grep -v -- '^-' | sort | tr '\n' ' ')
check_eq "bash: xgw nat64 <TAB>" "bib help session " "$got"
for sh in zsh fish; do
  n=$("$XGW" completions "$sh" | wc -l)
  if ((n > 20)); then pass "$sh completions ($n lines)"; else fail "$sh completions: $n lines"; fi
done

xt_finish
