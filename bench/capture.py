"""Capture benchmarks (issue: capture into a per-run journal).

Each workload runs alternately under /usr/bin/python3.11 (nothing captured), under pyhost
with capture and journal on, and under the sitecustomize yardstick of ../shared/bench (the
technique the seeds use: Python wrappers on sys.stdout/sys.stderr and Logger.callHandlers,
records batched in memory, nothing sent). Ratios are medians of per-round ratios against
python3.11.

  start-up, capture on                 wall     target <= 1.05
  1M print() lines to a file           wall     target <= 1.10
                                        CPU      target <= 1.30 (all threads)
  200k logging.info(), basicConfig     wall     target <= 1.10
  peak RSS (1M print lines)            +MiB     target <= +4

Usage: /usr/bin/python3.11 bench/capture.py [--pyhost PATH] [--rounds N]
"""
import argparse
import os
import shutil
import tempfile

import benchlib

YARDSTICK = os.path.join(benchlib.ROOT, "..", "shared", "bench", "sitecustomize_runner")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyhost", default=benchlib.default_pyhost())
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--startup-rounds", type=int, default=200)
    options = parser.parse_args()
    pyhost = os.path.abspath(options.pyhost)
    yardstick = os.path.abspath(YARDSTICK)
    if not os.path.isfile(os.path.join(yardstick, "sitecustomize.py")):
        raise SystemExit(f"the yardstick is missing: {yardstick}")
    work = tempfile.mkdtemp(prefix="pyhost-bench-")
    journal = os.path.join(work, "run.jsonl")

    plain = benchlib.controlled_env()
    captured = benchlib.controlled_env({"PYHOST_LOG_FILE": journal})
    sitecustomize = benchlib.controlled_env({"PYTHONPATH": yardstick})

    def contenders(argv_tail, **files):
        def fresh(env, argv):
            def run():
                for stale in (journal, journal[:-len(".jsonl")] + ".log"):
                    if os.path.exists(stale):
                        os.unlink(stale)
                return benchlib.measure(argv, env, **files)
            return run
        return {
            "python3.11": fresh(plain, [benchlib.REFERENCE, *argv_tail]),
            "pyhost": fresh(captured, [pyhost, *argv_tail]),
            "sitecustomize": fresh(sitecustomize, [benchlib.REFERENCE, *argv_tail]),
        }

    print("machine:", benchlib.machine_line())
    print(f"{'benchmark':<34} {'python3.11':>14} {'contender':>14} {'ratio':>7} {'target':>8}")

    results = benchlib.interleaved(contenders(["-c", "pass"]), options.startup_rounds, warmup=10)
    report("start-up, capture on", results, "wall", "ms", "1.05")

    out = os.path.join(work, "stdout.txt")
    workload = os.path.join(benchlib.HERE, "workloads", "print_1m.py")
    results = benchlib.interleaved(contenders([workload], stdout_path=out), options.rounds, warmup=1)
    report("1M print lines to a file", results, "wall", "s", "1.10")
    report("1M print lines to a file", results, "cpu", "s", "1.30")
    for name in ("pyhost", "sitecustomize"):
        extra = (benchlib.median(results, name, "maxrss_kib") - benchlib.median(results, "python3.11", "maxrss_kib")) / 1024
        print(f"{'peak RSS, 1M print lines: ' + name:<34} {benchlib.median(results, 'python3.11', 'maxrss_kib') / 1024:>10.1f} MiB"
              f" {benchlib.median(results, name, 'maxrss_kib') / 1024:>10.1f} MiB {extra:>+7.1f} {'+4 MiB':>8}")

    err = os.path.join(work, "stderr.txt")
    workload = os.path.join(benchlib.HERE, "workloads", "logging_200k.py")
    results = benchlib.interleaved(contenders([workload], stderr_path=err), options.rounds, warmup=1)
    report("200k logging.info, basicConfig", results, "wall", "s", "1.10")
    report("200k logging.info, basicConfig", results, "cpu", "s", "-")
    shutil.rmtree(work, ignore_errors=True)


def report(name, results, attribute, unit, target):
    base = benchlib.median(results, "python3.11", attribute)
    for contender in ("pyhost", "sitecustomize"):
        label = f"{name} ({attribute}): {contender}"
        ratio = benchlib.median_ratio(results, contender, "python3.11", attribute)
        benchlib.print_row(label, base, benchlib.median(results, contender, attribute), unit, ratio,
                           target if contender == "pyhost" else "")


if __name__ == "__main__":
    main()
