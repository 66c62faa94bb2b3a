"""Paired start-up comparison of builds (or of one build under different settings).

Runs `-c pass` under each contender in rotating order for N rounds and prints, for every
contender against the first, the median of the per-round wall ratios with a bootstrap 95%
interval, and the median CPU ratio. Pairing each round cancels the host's slow drift, which
moves a single run of bench/capture.py's ratios against python3.11 by 1 to 2%: an A/A run of
one build against itself reads within 0.5% of 1.000 at 800 rounds here. For deciding whether a
change to start-up helps; the targets are bench/core.py's and bench/capture.py's.

  contender: NAME=PATH[:capture][:ENV=VALUE...]
    capture   the run captures into a journal (PYHOST_LOG_FILE), as bench/capture.py does
    ENV=VALUE extra environment (e.g. an experiment switch in a one-off build)

Usage: /usr/bin/python3.11 bench/paired.py [--rounds N] [--keep-page-cache] CONTENDER CONTENDER...
  e.g. bench/paired.py --rounds 800 old=/tmp/pyhost-old new=build/release/pyhost \\
       oldcap=/tmp/pyhost-old:capture newcap=build/release/pyhost:capture
"""
import argparse
import os
import random
import shutil
import statistics
import tempfile

import benchlib


def contender(spec, journal):
    name, _, rest = spec.partition("=")
    path, *options = rest.split(":")
    extra = {}
    for option in options:
        if option == "capture":
            extra["PYHOST_LOG_FILE"] = journal
        elif "=" in option:
            key, _, value = option.partition("=")
            extra[key] = value
        else:
            raise SystemExit(f"unknown option {option!r} in {spec!r}: capture or ENV=VALUE")
    if not name or not os.path.isfile(path):
        raise SystemExit(f"not NAME=PATH with an executable PATH: {spec!r}")
    env = benchlib.controlled_env(extra)
    argv = [os.path.abspath(path), "-c", "pass"]

    def run():
        benchlib.remove_journal(journal)
        return benchlib.measure(argv, env)
    return name, run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=800)
    benchlib.add_page_cache_option(parser)
    parser.add_argument("contenders", nargs="+")
    options = parser.parse_args()
    if len(options.contenders) < 2:
        raise SystemExit("two contenders at least: the first is the baseline")
    work = tempfile.mkdtemp(prefix="pyhost-bench-")
    journal = os.path.join(work, "run.jsonl")
    contenders = dict(contender(spec, journal) for spec in options.contenders)
    print("machine:", benchlib.machine_line())
    print(benchlib.drop_page_cache(options.keep_page_cache))
    results = benchlib.interleaved(contenders, options.rounds, warmup=10)
    names = list(contenders)
    base = names[0]
    print(f"{'contender':<16} {'wall ms':>8}  against {base}: wall median (95% interval), CPU median")
    print(f"{base:<16} {benchlib.median(results, base, 'wall') * 1e3:>8.2f}")
    for name in names[1:]:
        ratios = [a.wall / b.wall for a, b in zip(results[name], results[base])]
        boots = sorted(statistics.median(random.choices(ratios, k=len(ratios))) for _ in range(1000))
        cpu = benchlib.median_ratio(results, name, base, "cpu")
        print(f"{name:<16} {benchlib.median(results, name, 'wall') * 1e3:>8.2f}  "
              f"{statistics.median(ratios):.4f} ({boots[25]:.4f} to {boots[974]:.4f}), CPU {cpu:.4f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
