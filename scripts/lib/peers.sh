# shellcheck shell=bash
# Sourced by the benchmark scripts (bench-e2e.sh, bench-python.sh): what
# they share to run a peer on a private socket.

# Waits up to 10 s for a command to succeed.
wait_for() {
  local tries=200
  while (( tries-- > 0 )); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

# Starts a private redis-server on the Unix socket DIR/redis.sock (no TCP
# port, no persistence, its log in DIR/redis.log) and sets redis_pid, which
# the caller's exit trap stops. Returns non-zero if the socket did not
# appear within wait_for's 10 s.
start_redis() {
  local dir=$1
  redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
    --save '' --appendonly no --daemonize no --logfile "$dir/redis.log" &
  # shellcheck disable=SC2034  # read by the caller's exit trap
  redis_pid=$!
  wait_for test -S "$dir/redis.sock"
}
