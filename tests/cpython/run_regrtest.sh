#!/bin/sh
# Runs CPython's regression tests with pyhost as the interpreter: `pyhost -m test -j2 ...`.
# regrtest's workers re-run sys.executable, so every test process is pyhost.
#
# usage: run_regrtest.sh [--captured] PYHOST [extra VAR=value for the environment ...]
#
# --captured: capture on (a journal in the work directory), tests run in the capturing process
# itself (no -j), and the journal is checked afterwards: valid JSON Lines, gap-free seq, a final
# status.
#
# -w re-runs a failed test's failing cases once, verbosely, as CPython's own CI does: a few of
# these tests race under load in CPython 3.11 itself (seen here: test_importlib's
# test_parallel_meta_path, a thread dying in threading's settrace hook, "Cannot install a trace
# function while another trace function is being installed"). A failure that pyhost causes
# fails twice, and the run fails.
#
# The environment is controlled as for python3.11 itself (PEERS.md): PYTHONUNBUFFERED and
# PYTHONDONTWRITEBYTECODE, set on these machines, fail test_cmd_line and test_compileall
# under plain python3.11 too. The suite runs in the foreground: started with `&` from a
# non-interactive shell it would inherit an ignored SIGINT, which fails test_signal et al.
set -eu
captured=0
if [ "${1:-}" = "--captured" ]; then
    captured=1
    shift
fi
pyhost=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
modules=$(grep -v -e '^#' -e '^$' "$here/modules.txt")
workdir=$(mktemp -d "${TMPDIR:-/tmp}/pyhost-regrtest.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"
if [ "$captured" = 0 ]; then
    # shellcheck disable=SC2086
    env -u PYTHONUNBUFFERED -u PYTHONDONTWRITEBYTECODE -u PYTHONPATH -u PYTHONHOME "$@" \
        "$pyhost" -m test -j2 -w --timeout 900 $modules
    exit
fi
# shellcheck disable=SC2086
env -u PYTHONUNBUFFERED -u PYTHONDONTWRITEBYTECODE -u PYTHONPATH -u PYTHONHOME \
    PYHOST_LOG_FILE="$workdir/journal.jsonl" "$@" \
    "$pyhost" -m test -w --timeout 900 $modules
/usr/bin/python3.11 -I - "$workdir/journal.jsonl" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1], "rb")]
assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), "seq has gaps"
assert records[0]["status"] == "running" and records[-1]["status"] == "finished", records[-1]
streams = {r["stream"] for r in records}
assert {"stdout", "log"} <= streams, streams
print(f"journal: {len(records)} records, streams {sorted(streams)}, final status {records[-1]['status']}")
EOF
