#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine:
#
#   sudo scripts/quickstart.sh
#
# 1. installs the missing packages (scripts/install-deps.sh; needs root);
# 2. configures and builds the `release` preset into build/release;
# 3. runs the main job: the broker, `shmreg-broker --namespace default`, in
#    the foreground when it has been built; until then, a short run of the
#    lookup benchmark `shmreg-bench-shm` as a demo (well under a minute).
#
# Under sudo, only step 1 runs as root: the build and the main job run as the
# user who called sudo, so the build tree stays theirs. Without sudo, the
# script works as the current user when no package is missing.
#
# Options:
#   --build-only   stop after step 2
#
# Environment:
#   SHMREG_JOBS          parallel build jobs (default: the number of CPUs)
#   SHMREG_DEMO_FILTER   --benchmark_filter of the demo (default: keys:1000/,
#                        the benchmarks over 1000 keys)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self="$root/scripts/quickstart.sh"
preset=release
build_dir="$root/build/$preset"

build_only=0 skip_deps=0
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    --skip-deps) skip_deps=1 ;;  # internal: set when re-run as the sudo caller
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$self"; exit 0 ;;
    *) echo "quickstart.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

say() { printf '\n== %s\n' "$*"; }

if [[ $skip_deps -eq 0 ]]; then
  say "dependencies"
  "$root/scripts/install-deps.sh"
  echo "all packages present"
  # Called through sudo by a real user: drop root for everything else.
  if [[ "$(id -u)" -eq 0 && -n "${SUDO_USER:-}" && "${SUDO_USER}" != root ]]; then
    echo "continuing as $SUDO_USER"
    args=(--skip-deps)
    [[ $build_only -eq 1 ]] && args+=(--build-only)
    # runuser (util-linux) is on every Debian system, unlike sudo itself.
    # root's runtime dir is no place for the user's broker socket.
    exec runuser -u "$SUDO_USER" -- env -u XDG_RUNTIME_DIR bash "$self" "${args[@]}"
  fi
fi

cd "$root"
say "configure and build (preset $preset)"
cmake --preset "$preset"
cmake --build --preset "$preset" --parallel "${SHMREG_JOBS:-$(nproc)}"
[[ $build_only -eq 1 ]] && exit 0

# Finds an executable target's output in the build tree, leaving out tests/
# (the install test stages a copy of every program there).
built() {
  find "$build_dir" -path "$build_dir/tests" -prune -o -type f -name "$1" -perm -u+x -print -quit 2>/dev/null
}

broker=$(built shmreg-broker)
if [[ -n "$broker" ]]; then
  say "shmreg-broker --namespace default (Ctrl-C stops it)"
  cli=$(built shmreg)
  if [[ -n "$cli" ]]; then
    cli=${cli#"$root/"}
    cat <<HINT
Try it from another terminal, in $root:
  $cli create services
  $cli register services db "host=10.0.0.7 port=5432" -- sleep 60 &
  $cli lookup services db
HINT
  fi
  # An unprivileged broker puts its socket under XDG_RUNTIME_DIR, which
  # sudo and runuser leave unset.
  uid=$(id -u)
  if [[ -z "${XDG_RUNTIME_DIR:-}" && -d "/run/user/$uid" ]]; then
    export XDG_RUNTIME_DIR="/run/user/$uid"
  fi
  exec "$broker" --namespace default
fi

bench=$(built shmreg-bench-shm)
if [[ -n "$bench" ]]; then
  say "demo: shmreg-bench-shm (the broker is not built yet)"
  exec "$bench" --benchmark_min_time=0.05 --benchmark_filter="${SHMREG_DEMO_FILTER:-keys:1000/}"
fi

echo "quickstart.sh: the build has neither shmreg-broker nor shmreg-bench-shm to run" >&2
exit 1
