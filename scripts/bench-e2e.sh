#!/usr/bin/env bash
# Runs shmreg-bench-e2e, the end-to-end benchmark, with its peers.
#
#   scripts/bench-e2e.sh [options] [-- benchmark arguments...]
#
# It installs what is missing (Debian packages, via apt-get, only when
# dpkg-query says they are absent), builds the Release benchmark, starts a
# private redis-server and a private dbus-daemon on Unix sockets in a
# temporary directory (both stopped on exit), prints the machine, runs the
# benchmark with the peers' addresses, and prints the summary (ratios between
# cases of the run, and the bars) with scripts/bench-check.py e2e. The
# benchmark starts its own shmreg-broker on a private namespace and socket.
#
# Options:
#   --build-dir DIR   build directory (default: build-e2e in the repository)
#   --out FILE        also write Google Benchmark's JSON to FILE
#   --no-install      do not install anything; fail if the build needs a package
#   --no-peers        do not start redis-server nor dbus-daemon (their cases skip)
#   -h, --help        this text
#
# Everything after "--" goes to the benchmark, e.g.
#   scripts/bench-e2e.sh -- --benchmark_filter=register --rt-ops=20000
#   scripts/bench-e2e.sh -- --placements=any --mass-rounds=10
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo/build-e2e"
out=""
install=1
peers=1
bench_args=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-peers) peers=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; bench_args=("$@"); break ;;
    *) echo "bench-e2e.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "bench-e2e: $*" >&2; }

# installed and apt_install.
source "$repo/scripts/lib/packages.sh"

# -- Packages ------------------------------------------------------------------------------

build_packages=(g++ cmake ninja-build pkg-config libboost1.81-dev libsystemd-dev
                libcli11-dev nlohmann-json3-dev libbenchmark-dev)
missing=()
for p in "${build_packages[@]}" redis-server; do
  installed "$p" || missing+=("$p")
done
# The D-Bus daemon is its own package on Debian 12; older releases ship it in "dbus".
if ! installed dbus-daemon && ! installed dbus; then
  missing+=(dbus-daemon)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $install -eq 0 ]]; then
    log "missing packages (not installing, --no-install): ${missing[*]}"
  else
    log "installing: ${missing[*]}"
    if ! apt_install "${missing[@]}"; then
      # dbus-daemon may not exist as a package name here; try its older home.
      if [[ " ${missing[*]} " == *" dbus-daemon "* ]]; then
        apt_install "${missing[@]/dbus-daemon/dbus}" || log "could not install: ${missing[*]}"
      else
        log "could not install: ${missing[*]}"
      fi
    fi
  fi
fi

# -- Build ------------------------------------------------------------------------------------

log "building the Release benchmark in $build_dir"
cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSHMREG_BUILD_TESTS=OFF -DSHMREG_BUILD_BENCH=ON >/dev/null
cmake --build "$build_dir" -j2 --target shmreg-bench-e2e
bench="$build_dir/bench/e2e/shmreg-bench-e2e"

# -- Peers ------------------------------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmreg-bench-e2e.XXXXXX")
# The benchmark's broker serves this namespace; its files (segment, lock,
# socket) live in the benchmark's own temporary directory, which goes at exit
# even if the benchmark was interrupted.
ns="e2e-bench-$$"
redis_pid=""
dbus_pid=""
cleanup() {
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  [[ -n "$dbus_pid" ]] && kill "$dbus_pid" 2>/dev/null && wait "$dbus_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for and start_redis.
source "$repo/scripts/lib/peers.sh"

peer_args=()
if [[ $peers -eq 1 ]]; then
  if command -v redis-server >/dev/null 2>&1; then
    if start_redis "$tmp"; then
      peer_args+=("--redis-socket=$tmp/redis.sock")
      log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on a private socket"
    else
      log "redis-server did not start; the Redis cases will be skipped"
    fi
  else
    log "no redis-server; the Redis cases will be skipped"
  fi

  if command -v dbus-daemon >/dev/null 2>&1; then
    dbus-daemon --session --nofork --nopidfile --address="unix:path=$tmp/bus" \
      --print-address >"$tmp/bus.address" 2>"$tmp/dbus.log" &
    dbus_pid=$!
    if wait_for test -s "$tmp/bus.address"; then
      peer_args+=("--dbus-address=$(head -n1 "$tmp/bus.address")")
      log "dbus-daemon $(dbus-daemon --version | sed -n '1s/.* //p') on a private bus"
    else
      log "dbus-daemon did not start; the D-Bus cases will be skipped"
    fi
  else
    log "no dbus-daemon; the D-Bus cases will be skipped"
  fi
fi

# -- Machine ----------------------------------------------------------------------------------

# A thousand owners each hold a connection and two pidfds in the broker.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

{
  echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -n1)"
  echo "kernel:  $(uname -sr)"
  echo "memory:  $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
} >&2

# -- Run ------------------------------------------------------------------------------------------

# The JSON goes to --out, or to the temporary directory; the summary is read from it.
json=${out:-$tmp/e2e.json}
log "running: shmreg-bench-e2e ${peer_args[*]:+(peers) }${bench_args[*]}"
"$bench" "--namespace=$ns" "${peer_args[@]}" "--benchmark_out=$json" "--benchmark_out_format=json" "${bench_args[@]}"
python3 "$repo/scripts/bench-check.py" e2e "$json"
