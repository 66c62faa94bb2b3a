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

Usage: /usr/bin/python3.11 bench/capture.py [--pyhost PATH] [--rounds N] [--startup-rounds N] [--keep-page-cache]
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
    benchlib.add_page_cache_option(parser)
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
                benchlib.remove_journal(journal)
                return benchlib.measure(argv, env, **files)
            return run
        return {
            "python3.11": fresh(plain, [benchlib.REFERENCE, *argv_tail]),
            "pyhost": fresh(plain, [pyhost, *argv_tail]),
            "pyhost+capture": fresh(captured, [pyhost, *argv_tail]),
            "sitecustomize": fresh(sitecustomize, [benchlib.REFERENCE, *argv_tail]),
        }

    print("machine:", benchlib.machine_line())
    print(benchlib.drop_page_cache(options.keep_page_cache))
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
    peaks = {name: [] for name in ("python3.11", *CONTENDERS)}
    argv = {"python3.11": ([benchlib.REFERENCE, workload], plain), "pyhost": ([pyhost, workload], plain),
            "pyhost+capture": ([pyhost, workload], captured), "sitecustomize": ([benchlib.REFERENCE, workload], sitecustomize)}
    for _ in range(5):
        for name, (command, env) in argv.items():
            benchlib.remove_journal(journal)
            peaks[name].append(benchlib.peak_rss_kib(command, env, stdout_path=out))
    report_peak("1M print() lines to a file", peaks)

    err = os.path.join(work, "stderr.txt")
    workload = os.path.join(benchlib.HERE, "workloads", "logging_200k.py")
    results = benchlib.interleaved(contenders([workload], stderr_path=err), options.rounds, warmup=1)
    report("200k logging.info()", results, "wall", 1, "s", "1.10")
    report("200k logging.info()", results, "cpu", 1, "s", "")
    shutil.rmtree(work, ignore_errors=True)


def report(name, results, attribute, scale, unit, target):
    """One row: the baseline's median, then each contender as a ratio against it."""
    base = benchlib.median(results, "python3.11", attribute)
    row = f"{name:<30} {attribute:<6} {base * scale:>7.2f} {unit:<2}"
    for contender in CONTENDERS:
        row += f" {benchlib.median_ratio(results, contender, 'python3.11', attribute):>15.3f}"
    row += f" {benchlib.median_ratio(results, 'pyhost+capture', 'pyhost', attribute):>13.3f}"
    print(row + f" {target:>7}")


def report_peak(name, peaks):
    """Peak RSS: the baseline's median in MiB, then each contender's difference."""
    import statistics
    median = {k: statistics.median(v) / 1024 for k, v in peaks.items()}
    row = f"{name:<30} {'RSS':<6} {median['python3.11']:>6.1f} MiB"
    for contender in CONTENDERS:
        row += f" {median[contender] - median['python3.11']:>+11.1f} MiB"
    row += f" {median['pyhost+capture'] - median['pyhost']:>+9.1f} MiB {'+4 MiB':>7}"
    print(row)


if __name__ == "__main__":
    main()
