# shellcheck shell=bash
# Sourced by the benchmark scripts (bench-e2e.sh, bench-python.sh): whether a
# Debian package is installed, and installing missing ones with apt-get (as
# root, or through sudo). scripts/install-deps.sh, which must run before the
# tree is built and says more to a newcomer, keeps its own loop.

# True when dpkg marks the package installed and configured ("ii").
installed() {
  local status
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)
  [[ "$status" == "ii"* ]]
}

# apt-get install of the packages given, without recommends; apt-get update
# once per run first. Fails with a message on stderr when neither root nor
# sudo is at hand.
apt_install() {
  local runner=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      runner=(sudo)
    else
      echo "installing $* needs root (or sudo)" >&2
      return 1
    fi
  fi
  if [[ -z "${apt_updated:-}" ]]; then
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
