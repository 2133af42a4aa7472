#!/usr/bin/env bash
# Builds the shmreg .deb (docs/packaging.md says what is in it and how to
# install it) and prints its path.
#
#   scripts/package-deb.sh             configure build/deb (Release, installed
#                                      under /usr, no tests or benchmarks),
#                                      build it and pack it
#   scripts/package-deb.sh BUILD_DIR   pack a tree already built and configured
#                                      with CMAKE_INSTALL_PREFIX=/usr (build/ci is)
#
# The package lands in the build tree: BUILD_DIR/shmreg_<version>_<arch>.deb.
# Packing runs dpkg-shlibdeps (package dpkg-dev; scripts/install-deps.sh
# installs it) and needs no root.
#
# Environment:
#   SHMREG_JOBS   parallel build jobs (default: the number of CPUs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${1:-}" in
  -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac

command -v dpkg-shlibdeps > /dev/null || {
  echo "package-deb.sh: dpkg-shlibdeps is missing (package dpkg-dev): run scripts/install-deps.sh" >&2
  exit 1
}

if [[ $# -ge 1 ]]; then
  build_dir=$(cd "$1" && pwd)
else
  build_dir="$root/build/deb"
  configure_opts=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
    -DSHMREG_BUILD_TESTS=OFF -DSHMREG_BUILD_BENCH=OFF)
  if command -v ccache > /dev/null; then
    configure_opts+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$root" -B "$build_dir" "${configure_opts[@]}"
  cmake --build "$build_dir" --parallel "${SHMREG_JOBS:-$(nproc)}"
fi
[[ -f "$build_dir/CPackConfig.cmake" ]] || {
  echo "package-deb.sh: $build_dir is not a configured shmreg build tree (no CPackConfig.cmake)" >&2
  exit 1
}

# cpack refuses a tree configured for another prefix than /usr.
cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$build_dir" >&2
ls "$build_dir"/shmreg_*.deb
