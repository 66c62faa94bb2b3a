#!/bin/sh
# Runs CPython's regression tests with pyhost as the interpreter: `pyhost -m test -j2 ...`.
# regrtest's workers re-run sys.executable, so every test process is pyhost.
#
# usage: run_regrtest.sh PYHOST [extra VAR=value for the environment ...]
#
# The environment is controlled as for python3.11 itself (PEERS.md): PYTHONUNBUFFERED and
# PYTHONDONTWRITEBYTECODE, set on these machines, fail test_cmd_line and test_compileall
# under plain python3.11 too. The suite runs in the foreground: started with `&` from a
# non-interactive shell it would inherit an ignored SIGINT, which fails test_signal et al.
set -eu
pyhost=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
modules=$(grep -v -e '^#' -e '^$' "$here/modules.txt")
workdir=$(mktemp -d "${TMPDIR:-/tmp}/pyhost-regrtest.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"
# shellcheck disable=SC2086
exec env -u PYTHONUNBUFFERED -u PYTHONDONTWRITEBYTECODE -u PYTHONPATH -u PYTHONHOME "$@" \
    "$pyhost" -m test -j2 --timeout 900 $modules
