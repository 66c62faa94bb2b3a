"""Shipping benchmarks (issue: the reporter).

  throughput   a print flood shipped end to end to a loopback collector (jsonl+http, zstd):
               records delivered per second, from start to the last record acknowledged,
               none lost                                        target >= 1,000,000 records/s
  cost         1M print() lines: pyhost capturing and shipping to the collector, against
               /usr/bin/python3.11 writing the same lines to a file (nothing shipped)
                                                                target wall <= 1.15, CPU <= 1.50
               and against the sitecustomize yardstick shipping to the same collector.

  short run    `-c pass` shipped to the collector: wall until the process has exited, its
               running and final statuses delivered, against python3.11 -c pass (nothing
               shipped) and the sitecustomize yardstick shipping its (empty) batch.

The cost table also shows pyhost capturing into the journal without shipping (how much of the
cost is capture's, bench/capture.py's workload), and with --earlier PATH another pyhost build
(one from before a change, say) measured side by side in both benchmarks.

The collector (bench/collector.py) is a separate process: its CPU is not the contender's.
Usage: /usr/bin/python3.11 bench/shipping.py [--pyhost PATH] [--earlier PATH] [--rounds N] [--flood N]
                                             [--short-rounds N]
"""
import argparse
import os
import tempfile
import time

import benchlib

YARDSTICK = os.path.join(benchlib.ROOT, "..", "shared", "bench", "sitecustomize_runner")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyhost", default=benchlib.default_pyhost())
    parser.add_argument("--earlier", help="another pyhost, measured side by side")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--flood", type=int, default=2_000_000)
    parser.add_argument("--short-rounds", type=int, default=40)
    options = parser.parse_args()
    pyhost = os.path.abspath(options.pyhost)
    pyhosts = {"pyhost": pyhost}
    if options.earlier:
        pyhosts["earlier"] = os.path.abspath(options.earlier)
    work = tempfile.mkdtemp(prefix="pyhost-bench-")
    collector = benchlib.Collector(work)
    journal = os.path.join(work, "run.jsonl")
    sink = f"jsonl+http://127.0.0.1:{collector.port}/ingest"

    print("machine:", benchlib.machine_line())
    try:
        # Throughput: a flood, end to end.
        flood = os.path.join(work, "flood.py")
        with open(flood, "w") as f:
            f.write(f"import sys\nw = sys.stdout.write\nfor i in range({options.flood}):\n    w('line %d\\n' % i)\n")
        env = benchlib.controlled_env({"PYHOST_LOG_FILE": journal, "PYHOST_SINKS": sink, "PYHOST_RUN_ID": "bench"})
        for name, binary in pyhosts.items():
            rates = []
            for _ in range(3):
                benchlib.remove_journal(journal)
                collector.count(reset=True)
                started = time.perf_counter()
                run = benchlib.measure([binary, flood], env, stdout_path=os.path.join(work, "out.txt"))
                delivered = collector.count()  # the run's drain ends when the collector acknowledged the rest
                elapsed = time.perf_counter() - started
                expected = options.flood + 2  # plus the running and finished statuses
                if run.status != 0 or delivered != expected:
                    raise SystemExit(f"{name}: lost records: delivered {delivered} of {expected} (status {run.status})")
                rates.append(delivered / elapsed)
            rates.sort()
            print(f"throughput ({name}): {options.flood:,} print lines, shipped to a loopback collector (jsonl+http):"
                  f" {rates[1] / 1e6:.2f} M records/s delivered, none lost   (target >= 1.00 M/s)")

        # Cost against python3.11 writing the same lines to a file.
        workload = os.path.join(benchlib.HERE, "workloads", "print_1m.py")
        out = os.path.join(work, "stdout.txt")
        shipping = benchlib.controlled_env({"PYHOST_LOG_FILE": journal, "PYHOST_SINKS": sink})
        capturing = benchlib.controlled_env({"PYHOST_LOG_FILE": journal})
        yardstick = benchlib.controlled_env({"PYTHONPATH": os.path.abspath(YARDSTICK),
                                             "BASELINE_SINK_URL": f"http://127.0.0.1:{collector.port}/ingest"})

        def fresh(argv, env, delivers=None):
            """A timed run with a fresh journal; `delivers`: the records the collector must
            have once it exits (a run that shipped less would be timed for work it skipped)."""
            def run():
                benchlib.remove_journal(journal)
                collector.wait_idle()  # nothing left over from the previous run competes for a CPU
                if delivers is not None:
                    collector.count(reset=True)
                result = benchlib.measure(argv, env, stdout_path=out)
                if delivers is not None and (result.status != 0 or collector.count() != delivers):
                    raise SystemExit(f"{argv[0]}: delivered {collector.count()} of {delivers} records"
                                     f" (status {result.status})")
                return result
            return run

        lines = 1_000_000 + 2  # the workload's lines, the running and the final status
        contenders = {
            "python3.11": fresh([benchlib.REFERENCE, workload], benchlib.controlled_env()),
            "pyhost+ship": fresh([pyhost, workload], shipping, delivers=lines),
            "capture only": fresh([pyhost, workload], capturing),
            "sitecustomize": fresh([benchlib.REFERENCE, workload], yardstick),
        }
        if options.earlier:
            contenders["earlier+ship"] = fresh([pyhosts["earlier"], workload], shipping, delivers=lines)
        results = benchlib.interleaved(contenders, options.rounds, warmup=1)
        others = [name for name in contenders if name != "python3.11"]
        print(f"{'1M print() lines to a file':<28} {'python3.11':>10}" + "".join(f" {name:>14}" for name in others)
              + f" {'target':>7}")
        for attribute, target in (("wall", "1.15"), ("cpu", "1.50")):
            print(f"{attribute:<28} {benchlib.median(results, 'python3.11', attribute):>8.3f} s"
                  + "".join(f" {benchlib.median_ratio(results, name, 'python3.11', attribute):>14.3f}" for name in others)
                  + f" {target:>7}   (target: pyhost+ship)")

        # A short run: what shipping adds to a program that does nothing (a cron job, a
        # function), the drain included.
        short = {
            "python3.11": fresh([benchlib.REFERENCE, "-c", "pass"], benchlib.controlled_env()),
            "pyhost+ship": fresh([pyhost, "-c", "pass"], shipping, delivers=2),
            "sitecustomize": fresh([benchlib.REFERENCE, "-c", "pass"], yardstick),
        }
        if options.earlier:
            short["earlier+ship"] = fresh([pyhosts["earlier"], "-c", "pass"], shipping, delivers=2)
        results = benchlib.interleaved(short, options.short_rounds, warmup=3)
        others = [name for name in short if name != "python3.11"]
        print(f"{'-c pass, shipped: wall':<28} {'python3.11':>10}" + "".join(f" {name:>14}" for name in others))
        print(f"{'median':<28} {benchlib.median(results, 'python3.11', 'wall') * 1e3:>7.1f} ms"
              + "".join(f" {benchlib.median(results, name, 'wall') * 1e3:>11.1f} ms" for name in others))
    finally:
        collector.stop()


if __name__ == "__main__":
    main()
