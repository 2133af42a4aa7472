#!/usr/bin/env bash
# Driver of the .deb test (tests/deb/CMakeLists.txt): packs this build tree
# with cpack, installs the package into a scratch root with dpkg, and uses it
# there as a new machine would.
#
#   1. cpack -G DEB packs the build tree (configured with prefix /usr);
#   2. dpkg-deb -I and -c: the control fields (Depends from dpkg-shlibdeps,
#      python3, python3-cffi), the maintainer scripts, and every file the
#      package must hold, all under /usr;
#   3. dpkg --root=R --force-script-chrootless installs it into R with an
#      admin directory of R's own, so that the real maintainer scripts run
#      with DPKG_ROOT=R: the service user appears in R/etc/passwd and
#      R/run/shmreg is that user's, while this machine's user database and
#      dpkg database stay as they were;
#   4. systemd-analyze verify --root=R on the installed units (with this
#      machine's systemd targets copied into R for the check);
#   5. starts R's shmreg-broker on a namespace and socket of its own, then a
#      C program (cc -std=c11 with R's shmreg.pc), a Python script (R's
#      package under Debian's python3) and a C++ program (find_package(shmreg)
#      from R's CMake package) each register a key and look it up;
#   6. man -l renders R's man pages; R's bash completion parses;
#   7. dpkg --root=R --purge: the prerm and postrm run and no file is left
#      under R/usr.
#
# Exits 0 when every step passed; 77 (skipped) in a tree not configured for
# /usr or built with a sanitizer, or when not run as root (dpkg and the
# tmpfiles chown need it); else prints what failed and exits 1.
set -euo pipefail

cmake=cmake cpack=cpack cxx=c++ cc=cc python=/usr/bin/python3 generator=Ninja
build_dir='' work_dir='' libdir='' version='' install_consumer='' consumer='' install_prefix='' sanitize=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cmake) cmake=$2 ;;
    --cpack) cpack=$2 ;;
    --cxx) cxx=$2 ;;
    --cc) cc=$2 ;;
    --python) python=$2 ;;
    --generator) generator=$2 ;;
    --build-dir) build_dir=$2 ;;
    --work-dir) work_dir=$2 ;;
    --libdir) libdir=$2 ;;
    --version) version=$2 ;;
    --install-consumer) install_consumer=$2 ;;
    --consumer) consumer=$2 ;;
    --install-prefix) install_prefix=$2 ;;
    --sanitize) sanitize=$2 ;;
    *) echo "deb_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift 2
done
for v in build_dir work_dir libdir version install_consumer consumer; do
  [[ -n "${!v}" ]] || { echo "deb_test.sh: --${v//_/-} is required" >&2; exit 2; }
done

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- [${SECONDS}s] $*"; }
# shellcheck source=SCRIPTDIR/../install/installed_broker.sh
source "$(dirname "${BASH_SOURCE[0]}")/../install/installed_broker.sh"

skip() { echo "skipped: $*"; exit 77; }
[[ "$install_prefix" == /usr ]] \
  || skip "the .deb is packed from a tree configured with CMAKE_INSTALL_PREFIX=/usr (the ci preset's); this one has $install_prefix"
[[ -z "$sanitize" ]] || skip "a sanitized build ($sanitize) is not packaged"
[[ "$(id -u)" -eq 0 ]] || skip "installing with dpkg into a scratch root needs root"
for tool in dpkg-deb dpkg-shlibdeps systemd-sysusers systemd-tmpfiles systemd-analyze pkg-config man; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (scripts/install-deps.sh installs it)"
done

rm -rf "$work_dir"
mkdir -p "$work_dir"
unset DESTDIR

step "cpack -G DEB"
"$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work_dir/pack" > "$work_dir/cpack.log" 2>&1 \
  || { cat "$work_dir/cpack.log"; fail "cpack -G DEB"; }
debs=("$work_dir"/pack/shmreg_*.deb)
[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "cpack made no single shmreg_*.deb: ${debs[*]}"
deb=${debs[0]}
echo "  $(basename "$deb"), $(stat -c %s "$deb") bytes"

step "control fields and maintainer scripts"
field() { dpkg-deb -f "$deb" "$1"; }
[[ "$(field Package)" == shmreg ]] || fail "Package is '$(field Package)'"
[[ "$(field Version)" == "$version" ]] || fail "Version is '$(field Version)', not the project's $version"
[[ "$(field Architecture)" == "$(dpkg --print-architecture)" ]] || fail "Architecture is '$(field Architecture)'"
[[ -n "$(field Maintainer)" && -n "$(field Description)" ]] || fail "no Maintainer or no Description"
[[ -z "$(field Homepage)" ]] || fail "the package names a homepage: $(field Homepage)"
depends=$(field Depends)
echo "  Depends: $depends"
# One dependency a line, versions dropped: python3 and python3-cffi for the
# Python package; libc6, libstdc++6 and the broker's libsystemd0 from
# dpkg-shlibdeps.
dep_names=$(sed 's/ *([^)]*)//g; s/, */\n/g' <<< "$depends")
for dep in python3 python3-cffi libc6 libstdc++6 libsystemd0; do
  grep -qxF "$dep" <<< "$dep_names" || fail "Depends lacks $dep"
done
info=$(dpkg-deb -I "$deb")
for script in postinst prerm postrm; do
  grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script " <<< "$info" \
    || fail "no executable $script in the package: $info"
done
dpkg-deb -I "$deb" triggers | grep -qx 'activate-noawait ldconfig' || fail "no ldconfig trigger in the package"

step "package content"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' > "$work_dir/content.txt"
outside=$(grep -vE '^/(usr/?.*)?$' "$work_dir/content.txt" || true)
[[ -z "$outside" ]] || fail "files outside /usr: $outside"
expected=(
  /usr/bin/shmreg /usr/bin/shmreg-broker
  "/usr/$libdir/libshmreg.so.0" "/usr/$libdir/libshmreg.so"
  /usr/include/shmreg/shmreg.h /usr/include/shmreg/shmreg_codes.h /usr/include/shmreg/shmreg.hpp
  "/usr/$libdir/pkgconfig/shmreg.pc" "/usr/$libdir/pkgconfig/shmreg-cxx.pc"
  "/usr/$libdir/cmake/shmreg/shmregConfig.cmake" "/usr/$libdir/cmake/shmreg/shmregTargets.cmake"
  /usr/lib/python3/dist-packages/shmreg/__init__.py /usr/lib/python3/dist-packages/shmreg/_install_paths.py
  /usr/lib/python3/dist-packages/shmreg/py.typed
  /usr/lib/systemd/system/shmreg-broker.service /usr/lib/systemd/system/shmreg-broker@.service
  /usr/lib/sysusers.d/shmreg.conf /usr/lib/tmpfiles.d/shmreg.conf
  /usr/share/man/man1/shmreg.1 /usr/share/man/man8/shmreg-broker.8 /usr/share/man/man5/shmreg.conf.5
  /usr/share/man/man3/libshmreg.3
  /usr/share/bash-completion/completions/shmreg
  /usr/share/doc/shmreg/shmreg.example.toml
)
for path in "${expected[@]}"; do
  grep -qxF "$path" "$work_dir/content.txt" || fail "$path is not in the package"
done
echo "  $(grep -cv '/$' "$work_dir/content.txt") files, every expected one present"

step "dpkg --root: install into a scratch root"
root="$work_dir/root"
# What any root has before its first package: dpkg's database and /etc
# (systemd-sysusers creates passwd and group in it, but not the directory).
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"
# This machine's user database and dpkg database must not change.
host_before=$(sha256sum /etc/passwd /etc/group /var/lib/dpkg/status)
dpkg_root=(dpkg --root="$root" --log="$work_dir/dpkg.log" --force-script-chrootless)
# The scratch root has none of the packages the .deb depends on.
"${dpkg_root[@]}" --force-depends -i "$deb" > "$work_dir/dpkg-install.log" 2>&1 \
  || { cat "$work_dir/dpkg-install.log"; fail "dpkg --root -i"; }
[[ "$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Abbrev}' shmreg)" == "ii"* ]] \
  || fail "shmreg is not installed and configured in the scratch root's dpkg database"
[[ "$(sha256sum /etc/passwd /etc/group /var/lib/dpkg/status)" == "$host_before" ]] \
  || fail "installing into the scratch root changed this machine's /etc/passwd, /etc/group or dpkg status"

step "the postinst's effects in the scratch root"
user_line=$(grep '^shmreg:' "$root/etc/passwd") || fail "no user shmreg in the scratch root's /etc/passwd"
echo "  $user_line"
grep -q '^shmreg:' "$root/etc/group" || fail "no group shmreg in the scratch root's /etc/group"
uid=$(cut -d: -f3 <<< "$user_line")
gid=$(cut -d: -f4 <<< "$user_line")
(( uid < 1000 )) || fail "shmreg has uid $uid, not a system uid"
[[ -d "$root/run/shmreg" ]] || fail "the postinst did not create /run/shmreg in the scratch root"
run_dir_stat=$(stat -c '%u:%g %a' "$root/run/shmreg")
[[ "$run_dir_stat" == "$uid:$gid 755" ]] \
  || fail "/run/shmreg in the scratch root is '$run_dir_stat', not '$uid:$gid 755' (the tmpfiles.d rule)"

step "systemd-analyze verify --root on the installed units"
prefix="$root/usr"
unit_dir="$prefix/lib/systemd/system"
for unit in "$unit_dir"/shmreg-broker*.service; do
  exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
  [[ "$exec_start" == /usr/bin/shmreg-broker ]] || fail "$(basename "$unit") starts '$exec_start'"
done
# With --root, verify looks for every unit and every Exec program in R. R
# has the package but none of its dependencies: what they would provide is
# lent from this machine for the check, then removed. Each program a unit
# runs is in the package, or in a package it depends on (as dpkg -S says
# here); the targets every service is ordered against (sysinit.target,
# multi-user.target, ...) are systemd's.
lent=()
programs=$(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$unit_dir"/shmreg-broker*.service | sort -u)
for program in $programs; do
  grep -qxF "$program" "$work_dir/content.txt" && continue
  owner=$(dpkg -S "$program" 2> /dev/null | cut -d: -f1) || fail "the units run $program, which no package here has"
  grep -qxF "$owner" <<< "$dep_names" || fail "the units run $program, from $owner, which the package does not depend on"
  mkdir -p "$root$(dirname "$program")"
  cp "$program" "$root$program"
  lent+=("$root$program")
done
host_units=''
for dir in /usr/lib/systemd/system /lib/systemd/system; do
  [[ -f "$dir/sysinit.target" ]] && { host_units=$dir; break; }
done
[[ -n "$host_units" ]] || fail "no systemd target units on this machine (sysinit.target)"
mkdir -p "$root/etc/systemd/system"
cp -a "$host_units"/*.target "$root/etc/systemd/system/"
# A template unit is verified through an instance of it.
ln -s /usr/lib/systemd/system/shmreg-broker@.service "$root/etc/systemd/system/shmreg-broker@deb.service"
systemd-analyze verify --root="$root" /usr/lib/systemd/system/shmreg-broker.service \
  /etc/systemd/system/shmreg-broker@deb.service > "$work_dir/verify.log" 2>&1 \
  || { cat "$work_dir/verify.log"; fail "systemd-analyze verify --root on the installed units"; }
rm -rf "$root/etc/systemd/system" "${lent[@]}"

step "the installed broker, against C, Python and C++ clients"
lib_dir="$prefix/$libdir"
# Its runtime directory (the socket's) is a new one in /tmp.
start_installed_broker "$prefix" "$lib_dir" deb "$work_dir/broker.log"

# C: exactly cc -std=c11 $(pkg-config --cflags --libs shmreg), with R's .pc
# file alone on pkg-config's path.
c_flags=$(PKG_CONFIG_LIBDIR="$lib_dir/pkgconfig" pkg-config --cflags --libs shmreg) \
  || fail "pkg-config --cflags --libs shmreg with the scratch root's shmreg.pc"
echo "  pkg-config --cflags --libs shmreg: $c_flags"
[[ "$c_flags" == *"-I$prefix/"* || "$c_flags" == *"-I$root/"* ]] || fail "pkg-config points outside the scratch root: $c_flags"
# shellcheck disable=SC2086 # flags are words on purpose
"$cc" -std=c11 "$install_consumer/register_lookup.c" -o "$work_dir/c-register-lookup" $c_flags \
  -Wl,-rpath,"$lib_dir" || fail "cc -std=c11 register_lookup.c \$(pkg-config --cflags --libs shmreg)"
"$work_dir/c-register-lookup" deb-c || { cat "$work_dir/broker.log"; fail "the C program did not register and look up"; }

# Python: Debian's python3 with R's package, which loads R's libshmreg by
# itself. It writes its bytecode beside the modules, as python3 run by root
# does on a real machine, which the prerm must remove (step 7).
py_env=(env -u SHMREG_LIBRARY -u LD_LIBRARY_PATH -u PYTHONDONTWRITEBYTECODE
  PYTHONPATH="$prefix/lib/python3/dist-packages")
loaded=$("${py_env[@]}" "$python" -c 'import shmreg
print(next(l.split()[-1] for l in open("/proc/self/maps") if "libshmreg.so" in l))') \
  || fail "import shmreg from the scratch root's package"
[[ "$loaded" == "$root"/* ]] || fail "the Python package loaded '$loaded', not the scratch root's libshmreg"
"${py_env[@]}" "$python" "$install_consumer/register_lookup.py" deb-python \
  || { cat "$work_dir/broker.log"; fail "the Python script did not register and look up"; }
[[ -d "$prefix/lib/python3/dist-packages/shmreg/__pycache__" ]] || fail "python3 wrote no bytecode beside the package"

# C++: find_package(shmreg) from R's CMake package.
cxx_build="$work_dir/cxx-consumer"
"$cmake" -S "$consumer" -B "$cxx_build" -G "$generator" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release \
  > "$work_dir/cxx-configure.log" 2>&1 || { cat "$work_dir/cxx-configure.log"; fail "configure the C++ consumer"; }
found_dir=$(sed -n 's/^shmreg_DIR:[A-Z]*=//p' "$cxx_build/CMakeCache.txt")
[[ "$found_dir" == "$root"/* ]] || fail "find_package(shmreg) found '$found_dir', not the scratch root's"
"$cmake" --build "$cxx_build" > "$work_dir/cxx-build.log" 2>&1 \
  || { cat "$work_dir/cxx-build.log"; fail "build the C++ consumer"; }
"$cxx_build/register_lookup" deb-cxx \
  || { cat "$work_dir/broker.log"; fail "the C++ program did not register and look up"; }
stop_installed_broker

step "man pages and completion"
for page in man1/shmreg.1 man8/shmreg-broker.8 man5/shmreg.conf.5 man3/libshmreg.3; do
  rendered=$(MANWIDTH=80 man -l "$prefix/share/man/$page" 2> "$work_dir/man.err") \
    || { cat "$work_dir/man.err"; fail "man -l $page"; }
  grep -q '^NAME' <<< "$rendered" || fail "man -l $page shows no NAME section"
done
bash -n "$prefix/share/bash-completion/completions/shmreg" || fail "the installed completion is not valid bash"

step "dpkg --root --purge"
"${dpkg_root[@]}" --purge shmreg > "$work_dir/dpkg-purge.log" 2>&1 \
  || { cat "$work_dir/dpkg-purge.log"; fail "dpkg --root --purge"; }
left=$( [[ ! -d "$prefix" ]] || find "$prefix" -not -type d)
[[ -z "$left" ]] || fail "files left under the scratch root's /usr after the purge: $left"

echo "deb test passed"
