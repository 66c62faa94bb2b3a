#!/bin/sh
# pyhost's set-up on Debian 12: install what is missing, build, then run the demo or the tests.
#
#   cmake/bootstrap.sh demo   install, build (release), run a small component under pyhost
#   cmake/bootstrap.sh test   install, build (release and dev), run the whole test suite
#
# Idempotent: packages already installed are not touched, builds are incremental.
# Needs root or sudo for apt-get, and Debian's archive.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

# Everything the build and the tests use, from Debian 12's archive only. clang-14 and
# libclang-rt-14-dev (libFuzzer; only recommended by clang, so named here) build the fuzz target.
packages="
  build-essential cmake ninja-build
  python3.11 python3.11-dev libpython3.11-dev python3.11-venv libpython3.11-testsuite
  libboost1.81-dev libboost-json1.81-dev
  libcurl4-openssl-dev zlib1g-dev libdeflate-dev libzstd-dev python3-requests python3-zstandard python3-numpy
  libarchive-dev
  catch2
  clang-14 libclang-rt-14-dev
  util-linux procps
"

install_missing() {
    missing=""
    for package in $packages; do
        if ! dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed; then
            missing="$missing $package"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "bootstrap: installing:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    # One transaction: the testsuite may raise python3.11 to a newer point release, and
    # libpython3.11-dev must follow it (pyhost links the static library of what is installed).
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
}

# The S3 tests need a real S3 that checks signatures and a client to read uploads back: these
# machines have moto_server and the aws CLI in their pyenv Python (PEERS.md). Debian 12 has no
# moto; it does have the aws CLI, installed here when it is missing.
check_s3_peers() {
    if ! command -v moto_server >/dev/null 2>&1; then
        echo "bootstrap: the S3 tests need moto_server on PATH (these machines have it in pyenv's Python;" \
             "Debian 12 does not package it)" >&2
        exit 1
    fi
    if ! command -v aws >/dev/null 2>&1; then
        packages="awscli"
        install_missing
    fi
}

# The release build embeds a libpython3.11.a built with PGO and LTO from Debian's source package
# of the installed python3.11, or of an earlier one with the objects the installed version
# changed taken from Debian's library (cmake/build_pgo_python.sh: once per version, 13 to 35
# minutes on 2 cores; README, "Which libpython"). PYHOST_PGO=0 skips it. If it cannot be built,
# the release build embeds Debian's library, and says why.
pgo_python() {
    if [ "${PYHOST_PGO:-1}" = 0 ]; then
        echo "bootstrap: PYHOST_PGO=0: the release build embeds Debian's libpython3.11.a"
        return 0
    fi
    if ! "$top/cmake/build_pgo_python.sh"; then
        echo "bootstrap: WARNING: no PGO libpython3.11.a (above: why); the release build embeds" \
             "Debian's, which is slower (README, \"Which libpython\")" >&2
    fi
}

# The reporter's libcurls, HTTP(S) over OpenSSL and plain HTTP, built from Debian's source
# package of the installed libcurl4 (cmake/build_lean_curl.sh: once per version, about 45
# seconds), and put beside pyhost by the build. Without them the reporter loads Debian's
# libcurl.so.4, which takes 4 to 7 ms more CPU to load in every shipped run.
lean_curl() {
    if ! "$top/cmake/build_lean_curl.sh"; then
        echo "bootstrap: WARNING: no lean libcurls (above: why); the reporter loads Debian's" \
             "libcurl.so.4, which is slower to load" >&2
    fi
}

build() {
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1"
}

demo() {
    pyhost="$top/build/release/pyhost"
    component="$top/tests/demo/component"
    out="$top/build/demo"
    mkdir -p "$out"
    rm -f "$out/run.jsonl" "$out/run.log"
    echo
    echo "== A component, run by /usr/bin/python3.11 and by pyhost with capture on"
    echo "-- /usr/bin/python3.11 main.py --component-id=demo-1"
    status=0
    (cd "$component" && env -u PYTHONUNBUFFERED /usr/bin/python3.11 main.py --component-id=demo-1) || status=$?
    echo "-- exit status $status"
    echo "-- PYHOST_LOG_FILE=$out/run.jsonl pyhost main.py --component-id=demo-1"
    status=0
    (cd "$component" && env -u PYTHONUNBUFFERED PYHOST_LOG_FILE="$out/run.jsonl" PYHOST_RUN_ID=demo-run \
        "$pyhost" main.py --component-id=demo-1) || status=$?
    echo "-- exit status $status (the same bytes on the console, the same status)"
    echo
    echo "== What pyhost captured, in order, once each: the journal $out/run.jsonl"
    /usr/bin/python3.11 -I - "$out/run.jsonl" <<'EOF_PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    what = r.get("status") or r["message"].splitlines()[0][:60]
    extra = ""
    if r["stream"] == "log":
        extra = f'  ({r["logger"]}, {r["file"].rsplit("/", 1)[-1]}:{r["line"]}{", with traceback" if "exc" in r else ""})'
    if r["stream"] == "status" and r.get("exit_code") is not None:
        extra = f'  (exit code {r["exit_code"]})'
    print(f'{r["seq"]:>3} {r["stream"]:<7} {r["level"]:<8} {what}{extra}')
EOF_PY
    echo
    echo "The console log, byte for byte what appeared, is $out/run.log."
    echo "pyhost is at $pyhost; \`$pyhost help\` lists what it does."
}

case "${1:-}" in
demo)
    install_missing
    pgo_python
    lean_curl
    build release
    demo
    ;;
test)
    install_missing
    check_s3_peers
    pgo_python
    lean_curl
    build release
    build dev
    # The dev build (ASan + UBSan) runs pyhost's own tests; the release build runs them again
    # and CPython's regression suite with pyhost as the interpreter.
    ctest --preset dev
    ctest --preset release
    ;;
*)
    echo "usage: $0 demo|test" >&2
    exit 2
    ;;
esac
