#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing shmreg
# need, and nothing else. Quiet and quick when everything is present: it
# asks dpkg first and calls apt-get (update once, then install) only for
# what is missing. Non-interactive; safe to run again at any time.
#
#   sudo scripts/install-deps.sh          install what is missing
#   sudo scripts/install-deps.sh --fuzz   also the fuzzing toolchain (clang 16)
#   scripts/install-deps.sh --check       list what is missing, install nothing
#   scripts/install-deps.sh --list        print the package list
#
# The benchmarks' peers (redis-server, dbus-daemon, python3-redis) are not
# here: the benchmark that runs them installs them (scripts/bench-e2e.sh,
# scripts/bench-python.sh), so that a machine that only builds and tests
# shmreg never gets a Redis service. The fuzzing toolchain is installed by scripts/fuzz.sh when it is missing.
#
# Exit status: 0 when every package is installed (or was just installed);
# 1 when packages are missing and this run could not install them.
set -euo pipefail

packages=(
  # Toolchain and build.
  g++ cmake ninja-build pkg-config git
  # Libraries.
  libboost1.81-dev       # Boost.Asio (headers)
  libsystemd-dev         # sd_notify (broker); sd-bus (D-Bus benchmark peer)
  nlohmann-json3-dev     # JSON values: match patterns, config
  libcli11-dev           # the shmreg CLI's argument parsing
  libtomlplusplus-dev    # the broker's configuration file (TOML)
  python3 python3-cffi   # the Python package (cffi over the C ABI); python3
                         # also runs scripts/gen_manpage.py (the man pages)
  # Tests and benchmarks.
  libgtest-dev libgmock-dev googletest
  python3-pytest         # the Python package's suite (tests/python)
  python3-mypy           # ... and its typing check (mypy --strict)
  libbenchmark-dev
  etcd-server            # etcd, the cluster the etcd client's tests start (tests/cluster)
  openssl                # ... and the certificates of its TLS tests
  libssl-dev             # OpenSSL: TLS to etcd (cluster/)
  liblmdb-dev            # LMDB, the baseline of the lookup benchmarks
  systemd                # systemd-analyze, to verify the unit files
  dpkg-dev               # dpkg-shlibdeps: the .deb's Depends (scripts/package-deb.sh, tests/deb)
  man-db groff-base      # man and groff, to check that the pages render
)
# Fuzzing (scripts/fuzz.sh): libFuzzer, ASan and UBSan come with clang;
# llvm-16 has the symbolizer that puts file:line in a finding's report.
fuzz_packages=(clang-16 libclang-rt-16-dev llvm-16)

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }

mode=install
for arg in "$@"; do
  case "$arg" in
    --fuzz) packages+=("${fuzz_packages[@]}") ;;
    --check) mode=check ;;
    --list) mode=list ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ "$mode" == list ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  # "ii " is dpkg's mark for installed and configured.
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == "ii"* ]] || missing+=("$p")
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "shmreg: missing packages: ${missing[*]}" >&2
if [[ "$mode" == check ]]; then
  exit 1
fi
if [[ "$(id -u)" -ne 0 ]]; then
  cat >&2 <<MSG
shmreg: installing them needs root. Run this once, then try again:
  sudo $0
MSG
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
echo "shmreg: apt-get update" >&2
apt-get update -q > /dev/null
echo "shmreg: apt-get install ${missing[*]}" >&2
apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" < /dev/null
echo "shmreg: dependencies installed" >&2
