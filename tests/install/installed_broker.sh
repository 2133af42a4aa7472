# shellcheck shell=bash
# Sourced by tests/install/install_test.sh and tests/deb/deb_test.sh: an
# installed shmreg-broker on a namespace and a socket of its own, for the
# installed clients to use. Needs fail() from the script that sources it.
#
#   start_installed_broker PREFIX LIB_DIR NAME LOG
#       starts PREFIX/bin/shmreg-broker (with LD_LIBRARY_PATH=LIB_DIR) on
#       namespace NAME-<pid>, its socket in a new directory of /tmp (the
#       socket's path must stay short: sun_path), its output in LOG; exports
#       SHMREG_NAMESPACE and SHMREG_SOCKET; returns once PREFIX/bin/shmreg
#       ping answers, else fails with the broker's log.
#   stop_installed_broker
#       stops it (SIGTERM, waited for) and removes its directory; the EXIT
#       trap that start_installed_broker sets calls it too.

installed_broker_pid='' installed_broker_dir=''

stop_installed_broker() {
  if [[ -n "$installed_broker_pid" ]]; then
    kill -TERM "$installed_broker_pid" 2> /dev/null || true
    wait "$installed_broker_pid" || true
  fi
  installed_broker_pid=''
  [[ -z "$installed_broker_dir" ]] || rm -rf "$installed_broker_dir"
  installed_broker_dir=''
}

start_installed_broker() {
  local prefix=$1 lib_dir=$2 name=$3 log=$4
  installed_broker_dir=$(mktemp -d "/tmp/shmreg-$name-XXXXXX")
  trap stop_installed_broker EXIT
  export SHMREG_NAMESPACE="$name-$$" SHMREG_SOCKET="$installed_broker_dir/broker.sock"
  LD_LIBRARY_PATH="$lib_dir" "$prefix/bin/shmreg-broker" --namespace "$SHMREG_NAMESPACE" \
    --socket "$SHMREG_SOCKET" > "$log" 2>&1 &
  installed_broker_pid=$!
  # Polled for up to 10 s: the broker's start is a few milliseconds, a loaded
  # machine's much more.
  for _ in $(seq 1 200); do
    LD_LIBRARY_PATH="$lib_dir" "$prefix/bin/shmreg" ping > /dev/null 2>&1 && return 0
    kill -0 "$installed_broker_pid" 2> /dev/null || { cat "$log"; fail "the installed broker exited"; }
    sleep 0.05
  done
  cat "$log"
  fail "the installed broker does not answer"
}
