#!/usr/bin/env bash
# Runs bench/python/lookup_bench.py: a lookup through the shmreg Python
# package against redis-py's GET, same machine, same run.
#
#   scripts/bench-python.sh [options] [-- lookup_bench.py arguments...]
#
# It installs what is missing (Debian packages, via apt-get, only when
# dpkg-query says they are absent: the binding's python3-cffi and the peer's
# redis-server and python3-redis), builds libshmreg and shmreg-broker,
# starts a private shmreg-broker and a private redis-server on Unix sockets
# in a temporary directory (both stopped on exit), prints the machine, and
# runs the benchmark with Debian's python3.
#
# Options:
#   --build-dir DIR   build directory (default: build-python-bench in the
#                     repository, a Release build; an existing configured
#                     build directory is reused as it is)
#   --no-install      do not install anything; fail if a package is missing
#   -h, --help        this text
#
# Everything after "--" goes to the benchmark, e.g.
#   scripts/bench-python.sh -- --keys 100000 --repeat 11
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo/build-python-bench"
install=1
bench_args=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; bench_args=("$@"); break ;;
    *) echo "bench-python.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "bench-python: $*" >&2; }

# installed and apt_install.
source "$repo/scripts/lib/packages.sh"

# -- Packages ------------------------------------------------------------------------------

missing=()
for p in g++ cmake ninja-build pkg-config libboost1.81-dev libsystemd-dev libcli11-dev nlohmann-json3-dev \
         libtomlplusplus-dev python3 python3-cffi python3-redis redis-server; do
  installed "$p" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $install -eq 1 ]] || { log "missing packages (not installing, --no-install): ${missing[*]}"; exit 1; }
  log "installing: ${missing[*]}"
  apt_install "${missing[@]}" || exit 1
fi

# -- Build ------------------------------------------------------------------------------------

if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  log "configuring a Release build in $build_dir"
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSHMREG_BUILD_TESTS=OFF -DSHMREG_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build_dir" -j2 --target shmreg_client shmreg-broker
library=$(find "$build_dir/client" -maxdepth 1 -name 'libshmreg.so.*' -type f | head -n 1)
broker="$build_dir/broker/shmreg-broker"
[[ -n "$library" && -x "$broker" ]] || { log "no libshmreg or shmreg-broker in $build_dir"; exit 1; }

# -- Servers ----------------------------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmreg-bench-python.XXXXXX")
ns="python-bench-$$"
broker_pid=""
redis_pid=""
cleanup() {
  [[ -n "$broker_pid" ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  [[ -n "$redis_pid" ]] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for and start_redis.
source "$repo/scripts/lib/peers.sh"

"$broker" --namespace "$ns" --socket "$tmp/shmreg.sock" >"$tmp/broker.log" 2>&1 &
broker_pid=$!
wait_for test -S "$tmp/shmreg.sock" || { cat "$tmp/broker.log" >&2; log "shmreg-broker did not start"; exit 1; }
start_redis "$tmp" || { log "redis-server did not start"; exit 1; }

# -- Machine and run ------------------------------------------------------------------------

{
  echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -n1)"
  echo "kernel:  $(uname -sr)"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
  echo "redis:   $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), redis-py $(dpkg-query -W -f='${Version}' python3-redis)"
  echo "libshmreg: $library ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build_dir/CMakeCache.txt"))"
} >&2

# Debian's python3: the one that has python3-cffi and python3-redis.
SHMREG_LIBRARY="$library" PYTHONPATH="$repo/python" PYTHONDONTWRITEBYTECODE=1 \
  /usr/bin/python3 "$repo/bench/python/lookup_bench.py" \
  --namespace "$ns" --socket "$tmp/shmreg.sock" --redis-socket "$tmp/redis.sock" "${bench_args[@]}"
