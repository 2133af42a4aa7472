#!/usr/bin/env bash
# The quick test run, exactly as CI does it: install missing packages,
# configure with warnings as errors (preset `ci`), build, and run every test
# that is not labelled `stress`. Exits non-zero on any failure; the last lines
# it prints are ctest's summary.
#
#   scripts/test.sh
#
# Environment:
#   SHMREG_JOBS   parallel build and test jobs (default: the number of CPUs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${SHMREG_JOBS:-$(nproc)}
preset=ci
start=$SECONDS

section() { printf '\n== %s\n' "$*"; }

section "dependencies"
scripts/install-deps.sh
echo "all packages present"

section "configure (preset $preset: RelWithDebInfo, SHMREG_WERROR=ON)"
cmake --preset "$preset" -DSHMREG_WERROR=ON

section "build"
cmake --build --preset "$preset" --parallel "$jobs"
echo "configured and built in $((SECONDS - start)) s"

section "ctest --preset $preset (label stress excluded)"
exec ctest --preset "$preset" --label-exclude stress --output-on-failure --parallel "$jobs"
