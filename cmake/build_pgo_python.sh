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
# archive with the source of the installed version. Fails, saying why, rather than build anything
# else: the library must be the installed version's, with Debian's patches and configuration.
set -eu

say() { echo "build_pgo_python: $*" >&2; }
die() {
    echo "build_pgo_python: error: $*" >&2
    exit 1
}

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

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

installed_version() {
    dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^installed //p'
}

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

install_missing() {
    missing=""
    for package in $packages; do
        [ -n "$(installed_version "$package")" ] || missing="$missing $package"
    done
    [ -z "$missing" ] && return 0
    say "installing the build dependencies:$missing"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
}

# apt-get source needs deb-src entries. Debian 12 images have none: add them, for the same
# archive and suites as the deb entries of /etc/apt/sources.list.d/debian.sources.
ensure_deb_src() {
    if apt-get source --print-uris "python3.11=$version" >/dev/null 2>&1; then
        return 0
    fi
    list=/etc/apt/sources.list.d/pyhost-deb-src.sources
    if [ ! -f "$list" ]; then
        [ -f /etc/apt/sources.list.d/debian.sources ] ||
            die "apt has no source for python3.11=$version and there is no /etc/apt/sources.list.d/debian.sources to derive deb-src entries from: add deb-src entries for Debian's archive and security archive"
        say "adding deb-src entries: $list"
        sed 's/^Types: *deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $sudo tee "$list" >/dev/null
    fi
    $sudo apt-get update
    apt-get source --print-uris "python3.11=$version" >/dev/null 2>&1 ||
        die "Debian's archive has no source package python3.11=$version (apt-get source python3.11=$version fails); the library is built from the installed version's source only"
}

started=$(date +%s)
ensure_deb_src
work="$cache/build-$version"
$sudo mkdir -p "$cache"
$sudo rm -rf "$work"
$sudo mkdir -p "$work"
[ "$(id -u)" -eq 0 ] || $sudo chown "$(id -u):$(id -g)" "$cache" "$work"

# The source first (before installing anything), then the build dependencies, then the
# extraction, which applies Debian's patches.
if ! (cd "$work" && apt-get source --download-only "python3.11=$version"); then
    rm -rf "$work"
    die "could not download Debian's source package python3.11=$version (apt's errors above)"
fi
install_missing
(cd "$work" && dpkg-source -x ./*.dsc) >"$work/extract.log" 2>&1 ||
    die "dpkg-source could not unpack python3.11=$version: $work/extract.log"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'python3.11-*' | head -n 1)
[ -n "$src" ] || die "apt-get source left no python3.11-* directory in $work"
source_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "$source_version" = "$version" ] || die "the source in $src is $source_version, not $version"

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
cat >"$tmp/BUILD-INFO" <<EOF
python3.11=$version
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
