"""Capture benchmarks (issue: capture into a per-run journal).

Each workload runs alternately under
  python3.11      /usr/bin/python3.11, nothing captured (the baseline)
  pyhost          pyhost with nothing configured (plain python3: the embedding's own cost)
  pyhost+capture  pyhost with capture and journal on (PYHOST_LOG_FILE)
  sitecustomize   the yardstick of ../shared/bench: the seeds' technique (Python wrappers on
                  sys.stdout/sys.stderr and Logger.callHandlers, records batched, nothing sent)
and prints, per workload and metric, the median of per-round ratios against python3.11, and
pyhost+capture against plain pyhost (the cost of capture itself).

Targets (against python3.11): start-up with capture <= 1.05 wall; 1M print() lines to a file
<= 1.10 wall and <= 1.30 CPU (all threads); 200k logging.info() <= 1.10 wall; peak RSS <= +4 MiB.

Usage: /usr/bin/python3.11 bench/capture.py [--pyhost PATH] [--rounds N] [--startup-rounds N]
"""
import argparse
import os
import shutil
import tempfile

import benchlib

YARDSTICK = os.path.join(benchlib.ROOT, "..", "shared", "bench", "sitecustomize_runner")
CONTENDERS = ("pyhost", "pyhost+capture", "sitecustomize")


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
            "pyhost": fresh(plain, [pyhost, *argv_tail]),
            "pyhost+capture": fresh(captured, [pyhost, *argv_tail]),
            "sitecustomize": fresh(sitecustomize, [benchlib.REFERENCE, *argv_tail]),
        }

    print("machine:", benchlib.machine_line())
    header = f"{'workload':<30} {'metric':<6} {'python3.11':>10}"
    for name in CONTENDERS:
        header += f" {name:>15}"
    header += f" {'capture/plain':>13} {'target':>7}"
    print(header)

    results = benchlib.interleaved(contenders(["-c", "pass"]), options.startup_rounds, warmup=10)
    report("start-up (-c pass)", results, "wall", 1e3, "ms", "1.05")

    out = os.path.join(work, "stdout.txt")
    workload = os.path.join(benchlib.HERE, "workloads", "print_1m.py")
    results = benchlib.interleaved(contenders([workload], stdout_path=out), options.rounds, warmup=1)
    report("1M print() lines to a file", results, "wall", 1, "s", "1.10")
    report("1M print() lines to a file", results, "cpu", 1, "s", "1.30")
    report("1M print() lines to a file", results, "maxrss_kib", 1 / 1024, "MiB", "+4 MiB", difference=True)

    err = os.path.join(work, "stderr.txt")
    workload = os.path.join(benchlib.HERE, "workloads", "logging_200k.py")
    results = benchlib.interleaved(contenders([workload], stderr_path=err), options.rounds, warmup=1)
    report("200k logging.info()", results, "wall", 1, "s", "1.10")
    report("200k logging.info()", results, "cpu", 1, "s", "")
    shutil.rmtree(work, ignore_errors=True)


def report(name, results, attribute, scale, unit, target, difference=False):
    """One row: the baseline's median, then each contender as a ratio (or a difference)."""
    base = benchlib.median(results, "python3.11", attribute)
    row = f"{name:<30} {attribute if attribute != 'maxrss_kib' else 'RSS':<6} {base * scale:>7.2f} {unit:<2}"
    for contender in CONTENDERS:
        if difference:
            delta = (benchlib.median(results, contender, attribute) - base) * scale
            row += f" {delta:>+11.2f} {unit:<3}"
        else:
            row += f" {benchlib.median_ratio(results, contender, 'python3.11', attribute):>15.3f}"
    if difference:
        own = (benchlib.median(results, "pyhost+capture", attribute) - benchlib.median(results, "pyhost", attribute)) * scale
        row += f" {own:>+9.2f} {unit:<3}"
    else:
        row += f" {benchlib.median_ratio(results, 'pyhost+capture', 'pyhost', attribute):>13.3f}"
    print(row + f" {target:>7}")


if __name__ == "__main__":
    main()
