"""Core benchmarks (issue: pyhost as a python3 drop-in).

  start-up     `-c pass`, wall time            target: pyhost / python3.11 <= 1.05
  cpu-bound    pure-Python workload, CPU time  target: pyhost / python3.11 <= 1.00

Usage: /usr/bin/python3.11 bench/core.py [--pyhost PATH] [--rounds N] [--cpu-rounds N] [--keep-page-cache]
"""
import argparse
import os

import benchlib


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyhost", default=benchlib.default_pyhost())
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--cpu-rounds", type=int, default=21)
    benchlib.add_page_cache_option(parser)
    options = parser.parse_args()
    env = benchlib.controlled_env()
    pyhost = os.path.abspath(options.pyhost)
    workload = os.path.join(benchlib.HERE, "workloads", "cpu_bound.py")

    print("machine:", benchlib.machine_line())
    print(benchlib.drop_page_cache(options.keep_page_cache))
    print(f"{'benchmark':<12} {'python3.11':>12} {'pyhost':>12} {'ratio':>7} {'target':>7}")

    startup = benchlib.interleaved({
        "python3.11": lambda: benchlib.measure([benchlib.REFERENCE, "-c", "pass"], env),
        "pyhost": lambda: benchlib.measure([pyhost, "-c", "pass"], env),
    }, options.rounds, warmup=10)
    ratio = benchlib.median_ratio(startup, "pyhost", "python3.11", "wall")
    print(f"{'start-up':<12} {benchlib.median(startup, 'python3.11', 'wall') * 1e3:>9.2f} ms"
          f" {benchlib.median(startup, 'pyhost', 'wall') * 1e3:>9.2f} ms {ratio:>7.3f} {'1.05':>7}")

    cpu = benchlib.interleaved({
        "python3.11": lambda: benchlib.measure([benchlib.REFERENCE, workload], env),
        "pyhost": lambda: benchlib.measure([pyhost, workload], env),
    }, options.cpu_rounds, warmup=1)
    ratio = benchlib.median_ratio(cpu, "pyhost", "python3.11", "cpu")
    print(f"{'cpu-bound':<12} {benchlib.median(cpu, 'python3.11', 'cpu'):>10.3f} s"
          f" {benchlib.median(cpu, 'pyhost', 'cpu'):>10.3f} s {ratio:>7.3f} {'1.00':>7}")


if __name__ == "__main__":
    main()
