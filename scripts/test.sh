#!/usr/bin/env bash
# The test run, exactly as CI does it: install missing packages, then
# phases, each a configure, a build and a test run with warnings as errors:
#
#   ci    preset `ci` (RelWithDebInfo): every test not labelled `stress`
#   asan  preset `asan` (ASan + UBSan, benchmarks off): the same tests
#   tsan  preset `tsan` (ThreadSanitizer, benchmarks off): only the
#         executables of the tests labelled `tsan`, and `ctest -L tsan`
#
# CI runs `ci` and `tsan`. The `asan` phase is not in the default: its
# build of the whole tree costs more CPU than the ci build, and a cold run of
# all three phases does not fit CI's budget on 2 cores (docs/reliability.md,
# "Sanitizers", has the figures); run it with SHMREG_TEST_PHASES="ci asan tsan".
#
# It stops at the first failure and exits non-zero. In the sanitizer phases
# every process of a test (the test, the broker, the CLI) writes its reports
# to files; a phase fails when any report was written, even when the test
# that caused it passed, and the reports are printed. The time of each step
# is printed at the end, also after a failure.
#
#   scripts/test.sh
#
# Environment:
#   SHMREG_JOBS          parallel build and test jobs (default: the number of CPUs)
#   SHMREG_TEST_PHASES   the phases to run, in order (default: "ci tsan")
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${SHMREG_JOBS:-$(nproc)}
phases=${SHMREG_TEST_PHASES:-ci tsan}
# Three builds of the tree take most of the run. Each is a unity build
# (CMAKE_UNITY_BUILD: a target's sources compiled in batches of eight, so
# that the headers they share, GoogleTest, nlohmann::json, CLI11 and Asio,
# are parsed and their templates compiled once per batch rather than once
# per file; docs/reliability.md, "What it costs", has the measurements). A
# compiler cache, where one is installed, makes every build after the first
# one quick.
# The stress variants of the suites are left out of these builds
# (SHMREG_BUILD_STRESS=OFF): they are second compilations of quick suites,
# and no phase runs the label `stress`.
configure_opts=(-DSHMREG_WERROR=ON -DCMAKE_UNITY_BUILD=ON -DSHMREG_BUILD_STRESS=OFF)
if command -v ccache > /dev/null; then
  configure_opts+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

section() { printf '\n== %s\n' "$*"; }

# Step timings, printed by the EXIT trap whatever the outcome: the wall
# time, and the CPU time (user + system) of the step's processes, which a
# machine shared with other work inflates much less than the wall time.
step_names=()
step_seconds=()
step_cpu=()
step_start=0
step_cpu_start=0
# CPU seconds used so far by this script's finished children (bash's
# `times`, run in this shell: in a pipe or $(...) it would count a subshell's).
# Sets cpu_now; called as a command, never in $(...), which would run it in a
# subshell with no children of its own.
times_file=$(mktemp)
cpu_now=0
children_cpu() {
  local user sys
  times > "$times_file"
  read -r user sys < <(tail -n 1 "$times_file")
  cpu_now=$(awk -v u="$user" -v s="$sys" 'function sec(t, m) { split(t, m, "m"); sub("s", "", m[2]); return m[1] * 60 + m[2] }
    BEGIN { printf "%d", sec(u) + sec(s) }')
}
step_begin() { section "$1"; step_names+=("$1"); step_start=$SECONDS; children_cpu; step_cpu_start=$cpu_now; }
step_end() { step_seconds+=($((SECONDS - step_start))); children_cpu; step_cpu+=($((cpu_now - step_cpu_start))); }
print_times() {
  local i
  ((${#step_names[@]} > 0)) || return 0
  section "time per step (wall, CPU)"
  for i in "${!step_names[@]}"; do
    if ((i < ${#step_seconds[@]})); then
      printf '%6d s %6d s  %s\n' "${step_seconds[$i]}" "${step_cpu[$i]}" "${step_names[$i]}"
    else
      printf '%6d s %6s    %s (unfinished)\n' $((SECONDS - step_start)) "" "${step_names[$i]}"
    fi
  done
  children_cpu
  printf '%6d s %6d s  in all\n' "$SECONDS" "$cpu_now"
}
trap 'print_times; rm -f "$times_file"' EXIT

# Runs ctest with the sanitizers' runtime options; fails when ctest fails or
# when any process left a report. The options: a UBSan report ends the
# process (it is also compiled without recovery); ASan checks for leaks at
# every normal exit; TSan reports each race once per process and ends with
# exit code 66. Reports go to files, since a report of the broker or the CLI
# would otherwise be lost in a log that no assertion reads.
sanitized_ctest() {
  local logs=$1
  shift
  rm -rf "$logs"
  mkdir -p "$logs"
  local status=0
  ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
  TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$logs/tsan" \
    ctest "$@" || status=$?
  local reports=("$logs"/*)
  if [[ -e "${reports[0]}" ]]; then
    section "sanitizer reports (${#reports[@]} files in $logs)"
    for f in "${reports[@]}"; do
      printf -- '-- %s\n' "$f"
      cat "$f"
    done
    return 1
  fi
  return "$status"
}

section "dependencies"
scripts/install-deps.sh
echo "all packages present"

for phase in $phases; do
  case "$phase" in
    ci)
      step_begin "build ci (RelWithDebInfo, SHMREG_WERROR=ON)"
      cmake --preset ci "${configure_opts[@]}"
      cmake --build --preset ci --parallel "$jobs"
      step_end
      step_begin "tests ci: ctest --preset ci (label stress excluded)"
      ctest --preset ci --label-exclude stress --output-on-failure --parallel "$jobs"
      step_end
      ;;
    asan)
      step_begin "build asan (ASan + UBSan, SHMREG_WERROR=ON, benchmarks off)"
      cmake --preset asan "${configure_opts[@]}" -DSHMREG_BUILD_BENCH=OFF
      cmake --build --preset asan --parallel "$jobs"
      step_end
      step_begin "tests asan: ctest --preset asan (label stress excluded)"
      sanitized_ctest build/asan/sanitizer-reports --preset asan --label-exclude stress \
        --output-on-failure --parallel "$jobs"
      step_end
      ;;
    tsan)
      step_begin "build tsan (TSan, SHMREG_WERROR=ON, the tsan-labelled tests only)"
      cmake --preset tsan "${configure_opts[@]}" -DSHMREG_BUILD_BENCH=OFF
      cmake --build --preset tsan --parallel "$jobs" --target shmreg_tsan_tests
      step_end
      step_begin "tests tsan: ctest --preset tsan -L tsan"
      sanitized_ctest build/tsan/sanitizer-reports --preset tsan -L tsan \
        --output-on-failure --parallel "$jobs"
      step_end
      ;;
    *)
      echo "test.sh: unknown phase '$phase' in SHMREG_TEST_PHASES (ci, asan, tsan)" >&2
      exit 2
      ;;
  esac
done
