#!/usr/bin/env bash
# Driver of the install test (tests/install/CMakeLists.txt): installs a built
# shmreg tree into a staging root and uses it the way an application would.
#
#   1. DESTDIR=<work>/stage cmake --install <build>, as a packager does: the
#      files land in <work>/stage/<install prefix>, and even an absolute
#      install destination stays inside the build directory;
#   2. checks that headers, library, CMake package, pkg-config files, both
#      executables and the systemd units are there, that the units start the
#      installed broker, that no installed public header includes Boost, and
#      that libshmreg exports every function of shmreg.h (version node
#      SHMREG_0.1) and the public C++ API, nothing else; and, installed
#      again with `cmake --install --prefix X`, that the units start
#      X/bin/shmreg-broker (and pass `systemd-analyze verify`);
#   3. configures, builds and runs consumer/ with find_package(shmreg) (its
#      C program, c_app, runs in step 5);
#   4. compiles and runs the same main.cpp with `pkg-config --cflags --libs
#      shmreg-cxx`, and compiles each public header on its own, warning-free,
#      with those flags;
#   5. checks the man pages and the bash completion: `man -M <prefix>/share/man`
#      finds every page, and the completion file is where bash-completion
#      looks for it;
#   6. builds consumer/register_lookup.c, the C example of docs/c-api.md,
#      with exactly `cc -std=c11 $(pkg-config --cflags --libs shmreg)` (and
#      again with -Wall -Wextra -pedantic -Werror), starts the installed
#      broker on a namespace of its own, and runs it: it registers a key and
#      looks it up through the C ABI;
#   6. runs consumer/register_lookup.py, the example of docs/python.md, with
#      the installed Python package (PYTHONPATH into the staging root), which
#      must load the staged libshmreg by itself, against the same broker.
#
# Exits 0 when every step passed; otherwise prints what failed and exits 1.
set -euo pipefail

cmake=cmake generator=Ninja cxx=c++ cc=cc install_prefix=/usr/local python=python3
build_dir='' config='' work_dir='' consumer='' sanitize=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cmake) cmake=$2 ;;
    --build-dir) build_dir=$2 ;;
    --config) config=$2 ;;
    --work-dir) work_dir=$2 ;;
    --consumer) consumer=$2 ;;
    --generator) generator=$2 ;;
    --cxx) cxx=$2 ;;
    --cc) cc=$2 ;;
    --python) python=$2 ;;
    --sanitize) sanitize=$2 ;;
    --install-prefix) install_prefix=$2 ;;
    *) echo "install_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
for v in build_dir work_dir consumer; do
  [[ -n "${!v}" ]] || { echo "install_test.sh: --${v//_/-} is required" >&2; exit 2; }
done

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# shellcheck source=SCRIPTDIR/installed_broker.sh
source "$(dirname "${BASH_SOURCE[0]}")/installed_broker.sh"

# A sanitized libshmreg needs its runtime first in the consumer too.
case "$sanitize" in
  asan) san_flags="-fsanitize=address,undefined -fno-omit-frame-pointer" ;;
  tsan) san_flags="-fsanitize=thread" ;;
  "") san_flags="" ;;
  *) fail "unknown sanitizer '$sanitize'" ;;
esac

stage="$work_dir/stage"
prefix="$stage$install_prefix"
rm -rf "$work_dir"
mkdir -p "$work_dir"
unset DESTDIR

step "install $build_dir into $prefix"
config_args=()
[[ -n "$config" ]] && config_args=(--config "$config")
DESTDIR="$stage" "$cmake" --install "$build_dir" "${config_args[@]}" \
  > "$work_dir/install.log" || { cat "$work_dir/install.log"; fail "cmake --install"; }
(cd "$stage" && find . -type f -o -type l | sed 's|^\./|  /|' | sort)

step "check the installed package"
public_headers=(shmreg.hpp error.hpp client.hpp registry.hpp events.hpp mailbox.hpp)
c_headers=(shmreg.h shmreg_codes.h)
for h in "${public_headers[@]}" "${c_headers[@]}"; do
  [[ -f "$prefix/include/shmreg/$h" ]] || fail "include/shmreg/$h not installed"
done
config_file=$(find "$prefix" -path '*/cmake/shmreg/shmregConfig.cmake' | head -n 1)
[[ -n "$config_file" ]] || fail "no shmregConfig.cmake under $prefix"
pc_file=$(find "$prefix" -path '*/pkgconfig/shmreg.pc' | head -n 1)
[[ -n "$pc_file" ]] || fail "no pkgconfig/shmreg.pc under $prefix"
[[ -f "$(dirname "$pc_file")/shmreg-cxx.pc" ]] || fail "no pkgconfig/shmreg-cxx.pc beside shmreg.pc"
[[ -n "$(find "$prefix" -name 'libshmreg.so*' | head -n 1)" ]] || fail "libshmreg.so not installed"
# STYLE.md: the public headers carry no Boost.
if grep -rnE '#[[:space:]]*include[[:space:]]*[<"]boost/' "$prefix/include"; then
  fail "an installed public header includes Boost"
fi
for exe in shmreg-broker shmreg; do
  [[ -x "$prefix/bin/$exe" ]] || fail "bin/$exe not installed"
done
units=$(find "$stage" -name 'shmreg-broker*.service')
[[ -n "$units" ]] || fail "no systemd unit installed"
for unit in $units; do
  exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
  [[ "$exec_start" == "$install_prefix/bin/shmreg-broker" ]] \
    || fail "$(basename "$unit") starts '$exec_start', not $install_prefix/bin/shmreg-broker"
done

step "units installed with --prefix start that prefix's broker"
# The prefix of the install, not the configure-time one: the units are
# written at install time (systemd/install_units.cmake).
relocated="$work_dir/relocated"
"$cmake" --install "$build_dir" "${config_args[@]}" --prefix "$relocated" \
  > "$work_dir/install-prefix.log" || { cat "$work_dir/install-prefix.log"; fail "cmake --install --prefix"; }
for unit in shmreg-broker.service shmreg-broker@.service; do
  [[ -f "$relocated/lib/systemd/system/$unit" ]] || fail "--prefix $relocated installed no lib/systemd/system/$unit"
  exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$relocated/lib/systemd/system/$unit")
  [[ "$exec_start" == "$relocated/bin/shmreg-broker" ]] \
    || fail "$unit installed with --prefix $relocated starts '$exec_start', not $relocated/bin/shmreg-broker"
done
if command -v systemd-analyze > /dev/null; then
  # verify checks that ExecStart exists; a template through an instance.
  cp "$relocated/lib/systemd/system/shmreg-broker@.service" "$work_dir/shmreg-broker@install.service"
  systemd-analyze verify "$relocated/lib/systemd/system/shmreg-broker.service" \
    "$work_dir/shmreg-broker@install.service" || fail "systemd-analyze verify on the units installed with --prefix"
fi
echo "  ExecStart=$relocated/bin/shmreg-broker"

# The installed programs find the installed libshmreg.
lib_dir=$(dirname "$(find "$prefix" -name 'libshmreg.so.*' | head -n 1)")
for exe in shmreg-broker shmreg; do
  if ! "$prefix/bin/$exe" --version > /dev/null 2>&1; then
    LD_LIBRARY_PATH="$lib_dir" "$prefix/bin/$exe" --version > /dev/null || fail "bin/$exe --version"
    echo "  WARNING: bin/$exe runs only with LD_LIBRARY_PATH (no RUNPATH to $lib_dir)"
  fi
done

step "libshmreg exports the C and C++ APIs only"
lib_file=$(find "$prefix" -name 'libshmreg.so.*' -type f | head -n 1)
# Every function of shmreg.h, under version node SHMREG_0.1.
declared=$(grep -oE '\bshmreg_[a-z_]+\(' "$prefix/include/shmreg/shmreg.h" | tr -d '(' | sort -u)
exported_c=$(nm -D --defined-only "$lib_file" | awk '$2 == "T" { print $3 }' | grep '^shmreg_' | sort -u)
[[ "$(echo "$exported_c" | sed 's/@@SHMREG_0\.1$//')" == "$declared" ]] \
  || fail "the shmreg_* exports differ from shmreg.h: $(diff <(echo "$declared") <(echo "$exported_c") | tr '\n' ' ')"
if echo "$exported_c" | grep -v '@@SHMREG_0\.1$'; then fail "shmreg_* symbols outside version node SHMREG_0.1"; fi
# Nothing else but the members of the public C++ classes and to_string.
others=$(nm -DC --defined-only "$lib_file" | cut -d' ' -f3- | grep -v '^shmreg_' \
  | grep -vE '^(SHMREG_0\.1|shmreg::(Client|Registry|Watcher|Mailbox|WriteBatch)::|shmreg::to_string\()' || true)
[[ -z "$others" ]] || fail "libshmreg exports more than its APIs: $(echo "$others" | head -n 5)"
echo "  $(echo "$exported_c" | wc -l) C functions, $(nm -D --defined-only "$lib_file" | wc -l) dynamic symbols in all"

step "consumer through find_package(shmreg)"
cm_build="$work_dir/consumer-cmake"
"$cmake" -S "$consumer" -B "$cm_build" -G "$generator" \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE="${config:-RelWithDebInfo}" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  -DCMAKE_CXX_FLAGS="$san_flags" \
  -DCMAKE_C_FLAGS="$san_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$san_flags" \
  > "$work_dir/consumer-configure.log" 2>&1 || { cat "$work_dir/consumer-configure.log"; fail "consumer configure"; }
found_dir=$(sed -n 's/^shmreg_DIR:[A-Z]*=//p' "$cm_build/CMakeCache.txt")
[[ "$found_dir" == "$prefix"/* ]] || fail "find_package(shmreg) found '$found_dir', not the staged install"
echo "  shmreg_DIR=$found_dir"
"$cmake" --build "$cm_build" > "$work_dir/consumer-build.log" 2>&1 \
  || { cat "$work_dir/consumer-build.log"; fail "consumer build"; }
"$cm_build/app" || fail "consumer (CMake) did not see segment_not_found"

step "consumer through pkg-config"
command -v pkg-config > /dev/null || fail "pkg-config is not installed"
pc_dir=$(dirname "$pc_file")
export PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# The .pc file names the prefix chosen at configure time; point it at the
# staging root, as a packager does after a DESTDIR install.
pc=(pkg-config --define-variable=prefix="$prefix")
pc_flags=$("${pc[@]}" --cflags --libs shmreg-cxx) || fail "pkg-config --cflags --libs shmreg-cxx"
pc_includedir=$("${pc[@]}" --variable=includedir shmreg)
pc_libdir=$("${pc[@]}" --variable=libdir shmreg)
[[ "$pc_includedir" == "$prefix"/* ]] || fail "pkg-config includedir '$pc_includedir' is outside the install"
[[ -d "$pc_libdir" ]] || fail "pkg-config libdir '$pc_libdir' does not exist"
echo "  pkg-config --cflags --libs shmreg-cxx: $pc_flags"
# shellcheck disable=SC2086 # flags are words on purpose
"$cxx" $san_flags "$consumer/main.cpp" -o "$work_dir/app-pkg-config" $pc_flags -Wl,-rpath,"$pc_libdir" \
  || fail "compile with pkg-config flags"
"$work_dir/app-pkg-config" || fail "consumer (pkg-config) did not see segment_not_found"

step "each public header compiles on its own"
for h in "${public_headers[@]}"; do
  # shellcheck disable=SC2046 # flags are words on purpose
  echo "#include <shmreg/$h>" | "$cxx" -Wall -Wextra -Wpedantic -Werror -x c++ -fsyntax-only - \
    $("${pc[@]}" --cflags shmreg-cxx) \
    || fail "shmreg/$h does not compile on its own"
done
for h in "${c_headers[@]}"; do
  # shellcheck disable=SC2046 # flags are words on purpose
  echo "#include <shmreg/$h>" | "$cc" -std=c11 -Wall -Wextra -pedantic -Werror -x c -fsyntax-only - \
    $("${pc[@]}" --cflags shmreg) \
    || fail "shmreg/$h does not compile on its own as C11"
  # shellcheck disable=SC2046 # flags are words on purpose
  echo "#include <shmreg/$h>" | "$cxx" -Wall -Wextra -Wpedantic -Werror -x c++ -fsyntax-only - \
    $("${pc[@]}" --cflags shmreg-cxx) \
    || fail "shmreg/$h does not compile on its own as C++"
done

step "man pages and completion"
man_root="$prefix/share/man"
for page in 1:shmreg 8:shmreg-broker 5:shmreg.conf 3:libshmreg; do
  section=${page%%:*} name=${page#*:}
  [[ -f "$man_root/man$section/$name.$section" ]] || fail "man$section/$name.$section not installed"
  MANWIDTH=80 man -M "$man_root" "$section" "$name" 2> /dev/null | grep -q "^NAME" \
    || fail "man -M $man_root $section $name does not show the page"
done
MANWIDTH=80 man -M "$man_root" shmreg | grep -q "shmreg - inspect and use a shmreg namespace" \
  || fail "man -M $man_root shmreg does not show shmreg(1)"
[[ -f "$prefix/share/bash-completion/completions/shmreg" ]] \
  || fail "share/bash-completion/completions/shmreg not installed"
bash -n "$prefix/share/bash-completion/completions/shmreg" || fail "the installed completion is not valid bash"

step "C consumer through pkg-config, against the installed broker"
c_flags=$("${pc[@]}" --cflags --libs shmreg) || fail "pkg-config --cflags --libs shmreg"
echo "  pkg-config --cflags --libs shmreg: $c_flags"
[[ "$c_flags" != *-std=* ]] || fail "pkg-config shmreg forces a language standard on C consumers: $c_flags"
c_app="$work_dir/register-lookup"
# shellcheck disable=SC2086 # flags are words on purpose
"$cc" -std=c11 $san_flags "$consumer/register_lookup.c" -o "$c_app" $c_flags -Wl,-rpath,"$pc_libdir" \
  || fail "cc -std=c11 register_lookup.c \$(pkg-config --cflags --libs shmreg)"
# shellcheck disable=SC2086 # flags are words on purpose
"$cc" -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only "$consumer/register_lookup.c" $c_flags \
  || fail "register_lookup.c is not warning-free C11"
start_installed_broker "$prefix" "$lib_dir" install-c "$work_dir/broker.log"
"$c_app" || { cat "$work_dir/broker.log"; fail "the C consumer did not register and look up its key"; }
"$cm_build/c_app" db-cmake || { cat "$work_dir/broker.log"; fail "the C consumer built by CMake did not register and look up"; }

step "Python package, against the installed broker"
if [[ -n "$sanitize" ]]; then
  echo "  skipped: a sanitized libshmreg cannot be loaded into an uninstrumented python3"
else
  py_init=$(find "$prefix" -path '*/dist-packages/shmreg/__init__.py' | head -n 1)
  [[ -n "$py_init" ]] || fail "the shmreg Python package is not installed (no */dist-packages/shmreg/__init__.py)"
  for f in py.typed _install_paths.py; do
    [[ -f "$(dirname "$py_init")/$f" ]] || fail "shmreg/$f not installed beside shmreg/__init__.py"
  done
  py_path=$(dirname "$(dirname "$py_init")")
  echo "  PYTHONPATH=$py_path"
  # The package finds the installed libshmreg by itself: no SHMREG_LIBRARY,
  # no LD_LIBRARY_PATH; the mapping it loaded must be the staged one.
  py_env=(env -u SHMREG_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$py_path" PYTHONDONTWRITEBYTECODE=1)
  loaded=$("${py_env[@]}" "$python" -c 'import shmreg
print(next(l.split()[-1] for l in open("/proc/self/maps") if "libshmreg.so" in l))') \
    || fail "import shmreg from the installed package"
  [[ "$loaded" == "$prefix"/* ]] || fail "the installed package loaded '$loaded', not the staged libshmreg"
  "${py_env[@]}" "$python" "$consumer/register_lookup.py" db-python \
    || { cat "$work_dir/broker.log"; fail "the Python example did not register and look up its key"; }
fi

echo "install test passed"
