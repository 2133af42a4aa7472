#!/usr/bin/env bash
# Runs one of shmreg's libFuzzer targets for a fixed time, under ASan and
# UBSan (docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...]
#   scripts/fuzz.sh --build        configure and build every target, run nothing
#
# TARGET: wire, pattern, config or segment. The first run configures the
# preset `fuzz` (clang 16) in build/fuzz and builds the target.
# The fuzzer starts from the committed seeds (tests/fuzz/corpus/TARGET and,
# for config, the test and example configuration files), which it only
# reads. What it finds new goes to the working corpus, and any crash, hang
# or leak to the artifacts directory, both under $SHMREG_FUZZ_WORK
# (default build/fuzz/work/TARGET), kept between runs so that a run resumes
# where the last one stopped. Nothing else is written.
#
# Exit status: 0 when the run ended at its time without a finding;
# otherwise libFuzzer's (a crash, a timeout of one input, a leak, a
# sanitizer report), with the artifact named in the output.
#
# Environment:
#   SHMREG_FUZZ_WORK   working directory (default build/fuzz/work/TARGET)
#   SHMREG_FUZZ_JOBS   build jobs (default 2)
#   SHMREG_FUZZ_BUILT  1: the targets are built already, skip the build (the
#                      stress tests set it, so that two never run ninja at once)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
targets=(wire pattern config segment)

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }

build() {
  command -v clang++-16 > /dev/null || scripts/install-deps.sh --fuzz
  [[ -f build/fuzz/build.ninja ]] || cmake --preset fuzz > /dev/null
  cmake --build --preset fuzz --parallel "${SHMREG_FUZZ_JOBS:-2}" --target "$@"
}

# The committed seeds of a target: its corpus, and seeds kept elsewhere
# (tests/fuzz/CMakeLists.txt replays the same).
seeds_of() {
  echo "tests/fuzz/corpus/$1"
  if [[ "$1" == config ]]; then
    echo tests/config/files
  fi
}

case "${1:-}" in
  --build) build "${targets[@]/#/fuzz_}"; exit 0 ;;
  -h|--help|"") usage; [[ -n "${1:-}" ]]; exit $? ;;
esac
target=$1
seconds=${2:?"fuzz.sh: how many seconds? (scripts/fuzz.sh TARGET SECONDS)"}
shift 2
[[ " ${targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target '$target' (${targets[*]})" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2; }

[[ "${SHMREG_FUZZ_BUILT:-0}" == 1 ]] || build "fuzz_$target"
work=${SHMREG_FUZZ_WORK:-build/fuzz/work/$target}
mkdir -p "$work/corpus" "$work/artifacts"
# The example configuration is one file, and libFuzzer takes directories:
# the working corpus holds a copy.
[[ "$target" == config ]] && cp systemd/shmreg.example.toml "$work/corpus/shmreg.example.toml"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Reports name file and line (llvm-16 ships it; without it, addresses only).
symbolizer=/usr/lib/llvm-16/bin/llvm-symbolizer
[[ -x "$symbolizer" ]] && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$symbolizer}
mapfile -t seeds < <(seeds_of "$target")
echo "fuzz.sh: $target for $seconds s; working corpus $work/corpus; artifacts $work/artifacts/"
exec "build/fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "${seeds[@]}"
