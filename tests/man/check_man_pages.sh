#!/usr/bin/env bash
# The man pages render without a single warning, and say what the programs
# say: every subcommand that `shmreg --help` lists is in shmreg(1) with each
# of the options its own --help lists, and every option of
# `shmreg-broker --help` is in shmreg-broker(8).
#
#   check_man_pages.sh MAN_DIR SHMREG SHMREG_BROKER
#
# Exits 0 when every check passed; otherwise prints each failure and exits 1.
set -euo pipefail
man_dir=$1 shmreg=$2 broker=$3
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# The items of one section of a CLI11 --help, their names only ("-n,--namespace").
help_items() {
  local section=$1
  shift
  "$@" --help | awk -v want="$section:" '
    $0 == want { on = 1; next }
    /^[A-Za-z][A-Za-z ]*:$/ { on = 0 }
    on && /^  [^ ]/ { print $1 }'
}

# A page as man shows it, plain text, one word per whitespace run.
render() { MANWIDTH=200 man -l "$1" 2> /dev/null | col -b; }

for page in shmreg.1 shmreg-broker.8 shmreg.conf.5 libshmreg.3; do
  file="$man_dir/$page"
  [[ -s "$file" ]] || { fail "$page was not generated"; continue; }
  warnings=$(groff -man -ww -z -Tutf8 "$file" 2>&1) || fail "groff failed on $page"
  [[ -z "$warnings" ]] || fail "$page: groff warns: $warnings"
  warnings=$(MANWIDTH=80 man -l "$file" 2>&1 > /dev/null) || fail "man -l failed on $page"
  [[ -z "$warnings" ]] || fail "$page: man -l warns: $warnings"
done

page1=$(render "$man_dir/shmreg.1")
subcommands=$(help_items Subcommands "$shmreg")
[[ -n "$subcommands" ]] || fail "shmreg --help lists no subcommand"
for cmd in $subcommands; do
  # Each subcommand has a heading of its own (a line of just its name) and its usage line.
  grep -qxE "   $cmd" <<< "$page1" || fail "shmreg(1) has no section for the subcommand '$cmd'"
  grep -qF "shmreg $cmd " <<< "$page1" || grep -qxF "       shmreg $cmd" <<< "$page1" \
    || fail "shmreg(1) has no usage line for '$cmd'"
  for opt in $(help_items Options "$shmreg" "$cmd" | tr ',' ' '); do
    [[ "$opt" == -h || "$opt" == --help ]] && continue
    grep -qF -- "$opt" <<< "$page1" || fail "shmreg(1) lacks option '$opt' of '$cmd'"
  done
done
for opt in $(help_items Options "$shmreg" | tr ',' ' '); do
  grep -qF -- "$opt" <<< "$page1" || fail "shmreg(1) lacks the global option '$opt'"
done
for code in 0 1 2 3 4; do
  grep -qE "^ +$code +[a-z]" <<< "$page1" || grep -qxE " +$code" <<< "$page1" \
    || fail "shmreg(1) does not list exit status $code"
done

page8=$(render "$man_dir/shmreg-broker.8")
for opt in $(help_items Options "$broker" | tr ',' ' '); do
  grep -qF -- "$opt" <<< "$page8" || fail "shmreg-broker(8) lacks option '$opt'"
done

# shmreg.conf(5) is docs/config.md: every key of its tables is on the page.
page5=$(render "$man_dir/shmreg.conf.5")
for key in segment_size segment_group owner_capacity mailbox_bytes_per_receiver_uid registry_bytes reload admin prefix; do
  grep -qE "^ +$key\b" <<< "$page5" || fail "shmreg.conf(5) lacks the key '$key'"
done

# libshmreg(3) has every function of shmreg.h.
page3=$(render "$man_dir/libshmreg.3")
header=$(dirname "$0")/../../client/include/shmreg/shmreg.h
for fn in $(grep -oE '\bshmreg_[a-z_]+\(' "$header" | tr -d '(' | sort -u); do
  grep -qF "$fn(" <<< "$page3" || fail "libshmreg(3) lacks $fn"
done

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "man pages: all checks passed"
