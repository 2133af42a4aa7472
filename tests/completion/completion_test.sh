#!/usr/bin/env bash
# The bash completion of shmreg (tools/completion/shmreg.bash), driven as
# bash drives it: COMP_WORDS and COMP_CWORD set, the function called, and
# COMPREPLY checked. It completes every subcommand of `shmreg --help`, the
# options of a subcommand, and the registry names of a real broker's
# namespace, the one --namespace names.
#
#   completion_test.sh COMPLETION_FILE SHMREG SHMREG_BROKER
#
# Exits 0 when every check passed; otherwise prints each failure and exits 1.
set -uo pipefail
completion=$1 shmreg=$2 broker=$3
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# The socket's path must stay short (sun_path): a directory of its own in /tmp.
run_dir=$(mktemp -d /tmp/shmreg-completion-XXXXXX)
ns="completion-$$"
broker_pid=''
cleanup() {
  if [[ -n "$broker_pid" ]]; then kill -TERM "$broker_pid" 2> /dev/null; wait "$broker_pid"; fi
  rm -rf "$run_dir"
}
trap cleanup EXIT

# The completion runs `shmreg` as the command line names it: put it on PATH.
mkdir -p "$run_dir/bin"
ln -s "$shmreg" "$run_dir/bin/shmreg"
export PATH="$run_dir/bin:$PATH"
unset SHMREG_NAMESPACE
export SHMREG_SOCKET="$run_dir/broker.sock"

# shellcheck source=/dev/null
source "$completion"

# complete WORD...: COMPREPLY for the last word of the line "WORD...".
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _shmreg
}
has() {  # has WORD: COMPREPLY holds WORD
  local w
  for w in "${COMPREPLY[@]}"; do [[ "$w" == "$1" ]] && return 0; done
  return 1
}

# Every subcommand that shmreg --help lists, from an empty word.
complete_line shmreg ''
subcommands=$(shmreg --help | awk '/^Subcommands:$/ { on = 1; next } /^[A-Za-z].*:$/ { on = 0 } on && /^  [^ ]/ { print $1 }')
[[ -n "$subcommands" ]] || fail "shmreg --help lists no subcommand"
for cmd in $subcommands; do has "$cmd" || fail "no completion of the subcommand '$cmd' (got: ${COMPREPLY[*]})"; done
complete_line shmreg reg
has register || fail "'reg' does not complete to register (got: ${COMPREPLY[*]})"
complete_line shmreg --names
has --namespace || fail "'--names' does not complete to --namespace (got: ${COMPREPLY[*]})"

# A subcommand's options, after a global option with its value.
complete_line shmreg --namespace "$ns" create --max
{ has --max-key && has --max-value; } || fail "create --max does not offer --max-key and --max-value (got: ${COMPREPLY[*]})"
# A positional's choices, as its help lists them.
complete_line shmreg cluster ''
{ has status && has members; } || fail "cluster does not offer status and members (got: ${COMPREPLY[*]})"
complete_line shmreg cluster m
has members || fail "'cluster m' does not complete to members (got: ${COMPREPLY[*]})"
complete_line shmreg register --q
has --queue || fail "register --q does not offer --queue (got: ${COMPREPLY[*]})"

# Registry names, read from the segment of the namespace the line names.
"$broker" --namespace "$ns" --socket "$SHMREG_SOCKET" --segment-size 8M > "$run_dir/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 200); do
  shmreg --namespace "$ns" ping > /dev/null 2>&1 && break
  kill -0 "$broker_pid" 2> /dev/null || { cat "$run_dir/broker.log"; fail "the broker exited"; exit 1; }
  sleep 0.05
done
shmreg --namespace "$ns" create completion-services --capacity 16 > /dev/null || fail "shmreg create"
shmreg --namespace "$ns" create completion-workers --keys duplicate --capacity 16 > /dev/null || fail "shmreg create"

complete_line shmreg --namespace "$ns" lookup ''
{ has completion-services && has completion-workers; } \
  || fail "lookup does not offer the namespace's registries (got: ${COMPREPLY[*]})"
complete_line shmreg -n "$ns" lookup completion-s
[[ "${COMPREPLY[*]}" == completion-services ]] || fail "'completion-s' does not complete to completion-services (got: ${COMPREPLY[*]})"
complete_line shmreg --namespace="$ns" keys ''
has completion-workers || fail "--namespace=NS is not honoured (got: ${COMPREPLY[*]})"
# Another namespace has none of them; the KEY after REG is not a registry.
complete_line shmreg --namespace "other-$ns" lookup ''
has completion-services && fail "a namespace's registries are offered for another namespace"
complete_line shmreg --namespace "$ns" lookup completion-services ''
has completion-services && fail "registry names are offered for KEY, the second positional"
complete_line shmreg --namespace "$ns" register --pid 1 ''
has completion-services || fail "an option's value is counted as REG (got: ${COMPREPLY[*]})"

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "completion: all checks passed"
