#!/bin/sh
# Runs the libFuzzer target for a bounded time, as a test: fails on any crash, leak, timeout,
# out-of-memory or finding (fuzz_extract.cpp aborts on one).
#
#   run_fuzz.sh FUZZER SEEDS WORK SECONDS
#
# SEEDS is the corpus of make_archives.py (read only). Everything is written below WORK, in
# the build tree: the corpus libFuzzer grows (new each run, so that a run starts from the seeds
# alone and is reproducible), the sandbox the target extracts into, and the reproducer of a
# crash (WORK/artifacts/crash-*: run FUZZER on it to replay).
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=$4

rm -rf "$work/corpus" "$work/sandbox"
mkdir -p "$work/corpus" "$work/sandbox" "$work/artifacts"
cd "$work"
export PYHOST_FUZZ_SANDBOX="$work/sandbox"
# rss_limit: ASan's shadow plus libarchive's decoders (xz may ask for a large dictionary);
# timeout: no single input may take this long (a bomb stops at the 4 MiB limit of the target).
exec "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$(dirname "$0")/extract.dict" -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
