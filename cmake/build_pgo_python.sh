#!/bin/sh
# Builds libpython3.11.a from Debian's own source package of the installed python3.11, as
# debian/rules builds its static interpreter (profile-guided and link-time optimized), into a
# cache directory that the release preset links from (cmake/PyhostPython.cmake).
#
#   cmake/build_pgo_python.sh          build it if it is missing, else do nothing
#
# Why: Debian's /usr/bin/python3.11 is linked with LTO across the whole interpreter; the
# libpython3.11.a Debian ships has the same PGO code but its LTO bytecode stripped, so a host
# linked to it runs without the cross-module inlining (README, "Benchmarks"). This library keeps
# the bytecode, and pyhost's link does the LTO step that python3.11's own link does.
#
# Environment:
#   PYHOST_PGO_CACHE   where libraries are kept (default /var/cache/pyhost); the library goes to
#                      $PYHOST_PGO_CACHE/cpython-<Debian version>/libpython3.11.a
#   PYHOST_PGO_TASK    the training run: "pgo" (default: CPython's `-m test --pgo`) or "debian"
#                      (debian/rules' PROFILE_TASK: most of the test suite, one test per process)
#   PYHOST_PGO_JOBS    parallel jobs (default: the number of cores)
#   PYHOST_PGO_NICE    niceness of the build (default 10; at most 16, see below)
#
# Needs root or sudo for apt-get (the source package and the build dependencies), and Debian's
# archive. Fails, saying why, rather than build anything else: the library must hold the
# installed version's code, with Debian's patches and configuration.
#
# When the archive lists the installed version's source but cannot serve it (a security upload
# whose source is missing from the mirror), the library is built from an earlier source of the
# same upstream release, then every object whose code the installed version changed is replaced
# by Debian's own object from the installed libpython3.11.a. Which objects those are is not
# guessed from the changelog but read off Debian's binary packages of both versions (see
# objects_changed_since): the debug library Debian builds without PGO is reproducible, so an
# object that is byte-identical in both versions' debug libraries was compiled from the same
# code. Those objects come from the earlier source, with PGO and LTO; the rest are Debian's.
set -eu

. "$(dirname "$0")/debian_source.sh"

# The build dependencies that change what goes into libpython3.11.a (pyconfig.h must come out
# identical to Debian's: sys/sdt.h for --with-dtrace, bluetooth for the built-in _socket, zlib and
# expat for built-in modules) and those the training run's extension modules need (bz2, lzma,
# sqlite3, ssl, ctypes, readline, curses, dbm), from debian/control's Build-Depends.
packages="
  dpkg-dev debhelper autoconf lsb-release build-essential
  systemtap-sdt-dev libbluetooth-dev zlib1g-dev libexpat1-dev
  libbz2-dev liblzma-dev libsqlite3-dev libssl-dev libffi-dev libreadline-dev libncursesw5-dev
  libgdbm-dev libdb-dev uuid-dev media-types netbase
"

version=$(installed_version libpython3.11-dev)
[ -n "$version" ] || die "libpython3.11-dev is not installed (cmake/bootstrap.sh installs it)"
interpreter=$(installed_version python3.11)
[ "$interpreter" = "$version" ] ||
    die "python3.11 is at '$interpreter' but libpython3.11-dev at '$version': install one version of both"
gcc_version=$(gcc -dumpfullversion)

cache=${PYHOST_PGO_CACHE:-/var/cache/pyhost}
dest="$cache/cpython-$version"
task=${PYHOST_PGO_TASK:-pgo}
jobs=${PYHOST_PGO_JOBS:-$(nproc)}
niceness=${PYHOST_PGO_NICE:-10}
case "$task" in
pgo | debian) ;;
*) die "PYHOST_PGO_TASK must be pgo or debian, not '$task'" ;;
esac

# LTO bytecode is only readable by the GCC that wrote it: a library for another GCC is stale.
if [ -f "$dest/libpython3.11.a" ] && [ -f "$dest/BUILD-INFO" ] &&
    grep -qx "gcc=$gcc_version" "$dest/BUILD-INFO"; then
    say "up to date: $dest/libpython3.11.a (CPython $version, GCC $gcc_version)"
    exit 0
fi

# configure's test for a broken nice() calls nice(1) then nice(2) and expects them to differ:
# at niceness 17 or more they are both clamped to 19, and pyconfig.h would differ from Debian's.
case "$niceness" in
'' | *[!0-9]*) die "PYHOST_PGO_NICE must be a niceness from 0 to 16, not '$niceness'" ;;
esac
[ $(($(nice) + niceness)) -le 16 ] ||
    die "the build would run at niceness $(($(nice) + niceness)) (PYHOST_PGO_NICE=$niceness on top of $(nice)): at 17 or more configure takes nice() for broken; use at most 16 in all"

say "building libpython3.11.a for python3.11 $version with GCC $gcc_version into $dest"
say "(Debian's source package, PGO task '$task', $jobs jobs; this takes a while)"

# The source versions of the installed one's upstream release older than it, newest first.
earlier_sources() {
    upstream=${version%-*}
    apt-cache showsrc python3.11 2>/dev/null | sed -n 's/^Version: //p' | sort -u -V -r |
        while read -r candidate; do
            [ "${candidate%-*}" = "$upstream" ] && dpkg --compare-versions "$candidate" lt "$version" &&
                echo "$candidate"
        done
}

# The installed files of a package, as a list of regular files under a prefix.
package_files() { dpkg -L "$1" | grep "^$2" | while read -r f; do [ -f "$f" ] && [ ! -L "$f" ] && echo "$f"; done; }

# Prints the members of libpython3.11.a whose code differs between source version $1 and the
# installed $version, as far as Debian's own binary packages of both show; fails, saying why,
# when they cannot be compared. Three checks, each of which only adds objects (an object taken
# from Debian's installed library needlessly is slower, never wrong):
#   - the C headers of libpython3.11-dev are identical in both versions (else every object is
#     suspect, and the earlier source is refused);
#   - Debian's debug library (libpython3.11-dbg: no PGO, reproducible) of both versions has the
#     same members: those not byte-identical changed;
#   - in Debian's release libraries (PGO, so not byte-comparable) the objects' global symbols,
#     defined and referenced, are the same for every other member.
objects_changed_since() {
    base=$1
    verify="$work/verify"
    rm -rf "$verify"
    mkdir -p "$verify"
    (cd "$verify" && apt-get download "libpython3.11-dbg=$base" "libpython3.11-dbg=$version" \
        "libpython3.11-dev=$base") >"$verify/download.log" 2>&1 ||
        { say "cannot download Debian's binary packages of $base and $version: $verify/download.log"; return 1; }
    for package in libpython3.11-dbg_"$base" libpython3.11-dbg_"$version" libpython3.11-dev_"$base"; do
        deb=$(ls "$verify"/"$(echo "$package" | sed 's/:/%3a/')"_*.deb 2>/dev/null | head -n 1)
        [ -n "$deb" ] || { say "apt-get download left no $package"; return 1; }
        dpkg-deb -x "$deb" "$verify/$package" || return 1
    done
    for f in $(package_files libpython3.11-dev /usr/include/); do
        cmp -s "$f" "$verify/libpython3.11-dev_$base$f" ||
            { say "the C header $f differs between $base and $version: every object may differ"; return 1; }
    done
    # One directory of objects per library, by member name (the names are unique in CPython's).
    unpack() {
        [ -z "$(ar t "$1" | sort | uniq -d)" ] || { say "$1 has members of the same name"; return 1; }
        mkdir -p "$2" && (cd "$2" && ar x "$1")
    }
    debug_library() { find "$verify/libpython3.11-dbg_$1" -name libpython3.11d.a -type f | head -n 1; }
    unpack "$(debug_library "$base")" "$verify/debug-base" || return 1
    unpack "$(debug_library "$version")" "$verify/debug-installed" || return 1
    [ "$(ls "$verify/debug-base")" = "$(ls "$verify/debug-installed")" ] ||
        { say "Debian's debug libraries of $base and $version have different members"; return 1; }
    release_library=$(package_files libpython3.11-dev /usr/lib/ | grep '/libpython3.11\.a$' | head -n 1)
    [ -n "$release_library" ] || { say "no libpython3.11.a among libpython3.11-dev's files"; return 1; }
    unpack "$verify/libpython3.11-dev_$base$release_library" "$verify/release-base" || return 1
    unpack "$release_library" "$verify/release-installed" || return 1
    [ "$(ls "$verify/release-base")" = "$(ls "$verify/debug-base")" ] ||
        { say "Debian's release and debug libraries have different members"; return 1; }
    globals() { nm -g "$1" 2>/dev/null | awk '{ print $NF, $(NF - 1) }' | sort; }
    for object in $(ls "$verify/debug-base"); do
        if ! cmp -s "$verify/debug-base/$object" "$verify/debug-installed/$object"; then
            echo "$object"
        elif [ "$(globals "$verify/release-base/$object")" != "$(globals "$verify/release-installed/$object")" ]; then
            echo "$object"
        fi
    done
}

started=$(date +%s)
ensure_deb_src python3.11 "$version"
work="$cache/build-$version"
fresh_work_dir "$work" "$cache"

# The source first (before installing anything), then the build dependencies, then the
# extraction, which applies Debian's patches. The installed version's source, or else an earlier
# one whose difference is known object by object (see the top).
base=$version
from_installed=""
if ! (cd "$work" && apt-get source --download-only "python3.11=$version") >"$work/source.log" 2>&1; then
    cat "$work/source.log" >&2
    say "the archive cannot serve the source of $version; trying an earlier source of the same release"
    base=""
    for candidate in $(earlier_sources); do
        rm -f "$work"/*.dsc "$work"/*.tar.*
        (cd "$work" && apt-get source --download-only "python3.11=$candidate") >"$work/source.log" 2>&1 ||
            { say "no source of $candidate either"; continue; }
        if changed=$(objects_changed_since "$candidate"); then
            base=$candidate
            from_installed=$(echo $changed)
            break
        fi
        say "$candidate cannot stand in for $version (above: why)"
    done
    if [ -z "$base" ]; then
        rm -rf "$work"
        die "no source package can be built for python3.11=$version: the archive cannot serve its source, and no earlier source of the same release could be shown to differ only in known objects"
    fi
    say "building from the source of $base; from Debian's installed library, the objects $version changed: $from_installed"
fi
# shellcheck disable=SC2086
install_missing_packages $packages
(cd "$work" && dpkg-source -x ./*.dsc) >"$work/extract.log" 2>&1 ||
    die "dpkg-source could not unpack python3.11=$version: $work/extract.log"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'python3.11-*' | head -n 1)
[ -n "$src" ] || die "apt-get source left no python3.11-* directory in $work"
source_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "$source_version" = "$base" ] || die "the source in $src is $source_version, not $base"

# Debian's own configuration of its static interpreter: debian/rules' configure step, then
# debian/rules' variables for the build (so nothing here restates its flags).
rules() { (cd "$src" && nice -n "$niceness" make -s -f debian/rules "$@"); }
rules_var() { (cd "$src" && make -s -f debian/rules --eval "pyhost-print-$1: ; @echo '\$($1)'" "pyhost-print-$1"); }
step() {
    step_started=$(date +%s)
    say "$1"
}
step_done() { timings="$timings $1=$(($(date +%s) - step_started))s"; }
timings=""

step "configure (debian/rules stamps/stamp-configure-static)"
rules stamps/stamp-configure-static >"$work/configure.log" 2>&1 ||
    die "debian/rules' configure failed: $work/configure.log"
step_done configure
build="$src/build-static"
cmp -s "$build/pyconfig.h" /usr/include/x86_64-linux-gnu/python3.11/pyconfig.h ||
    die "the configured pyconfig.h differs from Debian's (/usr/include/x86_64-linux-gnu/python3.11/pyconfig.h): a build dependency is missing? diff $build/pyconfig.h /usr/include/x86_64-linux-gnu/python3.11/pyconfig.h"

extra_cflags=$(rules_var EXTRA_OPT_CFLAGS)
lto_cflags=$(rules_var LTO_CFLAGS)
pie_ldflags=$(rules_var DPKG_PIE_LDFLAGS)
pgo=$(rules_var with_pgo)
lto=$(rules_var with_lto)
[ "$pgo" = yes ] && [ "$lto" = yes ] || die "debian/rules does not build this architecture with PGO and LTO"
# debian/rules exports the changelog's date for getbuildinfo.c: sys.version as python3.11's.
BUILD_DATE=$(rules_var BUILD_DATE)
BUILD_TIME=$(rules_var BUILD_TIME)
export BUILD_DATE BUILD_TIME
if [ "$task" = debian ]; then
    profile_task=$(rules_var PROFILE_TASK)
else
    profile_task="-m test --pgo --timeout=1200"
fi
# -flto=auto at link time only: the same code, with the link's LTRANS jobs run in parallel.
ldflags="$pie_ldflags $(echo "$lto_cflags" | sed 's/-flto /-flto=auto /')"

bmake() { (cd "$build" && nice -n "$niceness" make "$@" EXTRA_CFLAGS="$extra_cflags" CONFIGURE_LDFLAGS="$ldflags"); }

# debian/rules runs `make profile-opt`; its steps, one by one, so each is timed and the training
# runs once (Debian's profiled-build.diff runs a task without -s twice).
step "instrumented build (make profile-gen-stamp)"
bmake -j"$jobs" profile-gen-stamp >"$work/build-instrumented.log" 2>&1 ||
    die "the instrumented build failed: $work/build-instrumented.log"
step_done instrumented

step "training: ./python $profile_task"
# shellcheck disable=SC2086
(
    cd "$build"
    nice -n "$niceness" ./python $profile_task || true
    # Debian's task runs one test per process (-s): regrtest names the next one in
    # build/pynexttest until none is left (the loop of Debian's profiled-build.diff).
    while [ -f build/pynexttest ]; do
        nice -n "$niceness" ./python $profile_task || true
    done
) >"$work/training.log" 2>&1
# As in CPython's makefile, failing tests do not stop the build; no profile does.
profiles=$(find "$build" -name '*.gcda' | wc -l)
[ "$profiles" -ge 100 ] || die "the training run left $profiles profiles (.gcda): see $work/training.log"
step_done training

step "optimized build of libpython3.11.a (-fprofile-use, LTO bytecode kept)"
bmake clean-retain-profile >"$work/build-optimized.log" 2>&1
use_flag=$(sed -n 's/^PGO_PROF_USE_FLAG=//p' "$build/Makefile")
nodist=$(sed -n 's/^CFLAGS_NODIST=[[:space:]]*//p' "$build/Makefile")
bmake -j"$jobs" CFLAGS_NODIST="$nodist $use_flag" libpython3.11.a >>"$work/build-optimized.log" 2>&1 ||
    die "the optimized build failed: $work/build-optimized.log"
step_done optimized

# Debug information off (its LTO early-debug sections with it); code and LTO bytecode stay.
tmp="$dest.tmp"
$sudo rm -rf "$tmp"
mkdir -p "$tmp"
strip --strip-debug -o "$tmp/libpython3.11.a" "$build/libpython3.11.a"
readelf -SW "$tmp/libpython3.11.a" | grep -q '\.gnu\.lto_' || die "the library has no LTO bytecode"
if [ -n "$from_installed" ]; then
    # Debian's objects of the installed version in place of those built from the earlier source
    # (same member names, same positions); gcc-ar indexes the LTO members beside them.
    objects="$work/installed-objects"
    mkdir -p "$objects"
    installed_library=$(package_files libpython3.11-dev /usr/lib/ | grep '/libpython3.11\.a$' | head -n 1)
    for object in $from_installed; do
        ar t "$tmp/libpython3.11.a" | grep -qx "$object" || die "the built library has no member $object"
    done
    # shellcheck disable=SC2086
    (cd "$objects" && ar x "$installed_library" $from_installed) || die "cannot extract $from_installed from $installed_library"
    # shellcheck disable=SC2086
    (cd "$objects" && gcc-ar rs "$tmp/libpython3.11.a" $from_installed) || die "cannot put Debian's objects into the library"
fi
cat >"$tmp/BUILD-INFO" <<EOF
python3.11=$version
source=$base
from_installed_library=$from_installed
gcc=$gcc_version
task=$task
profile_task=$profile_task
extra_cflags=$extra_cflags
ldflags=$ldflags
build_date=$BUILD_DATE $BUILD_TIME
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
seconds=$(($(date +%s) - started))
steps=$timings
EOF
rm -rf "$dest"
mv "$tmp" "$dest"
rm -rf "$work"
say "done in $(($(date +%s) - started)) s ($timings ): $dest/libpython3.11.a, $(du -h "$dest/libpython3.11.a" | cut -f1)"
