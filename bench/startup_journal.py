"""Start-up with capture, by where the journal goes (issue: capture, the start-up target).

`-c pass` under python3.11, plain pyhost, and pyhost capturing into a journal that is:
  fresh      a new file each run (as bench/capture.py does)
  appended   one file, appended to run after run
  devnull    /dev/null (nothing reaches a disk or the page cache)
  tmpfs      a new file each run on /dev/shm

Interleaved, ratios against python3.11 and against plain pyhost: whether the files capture
creates, and where, explain its start-up cost (the README's "Where a journal is written").

Usage: /usr/bin/python3.11 bench/startup_journal.py [--pyhost PATH] [--rounds N] [--keep-page-cache]
"""
import argparse
import os
import shutil
import tempfile

import benchlib


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyhost", default=benchlib.default_pyhost())
    parser.add_argument("--rounds", type=int, default=200)
    benchlib.add_page_cache_option(parser)
    options = parser.parse_args()
    pyhost = os.path.abspath(options.pyhost)
    work = tempfile.mkdtemp(prefix="pyhost-bench-")
    shm = tempfile.mkdtemp(prefix="pyhost-bench-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None

    def run(env, argv, fresh=()):
        def once():
            for path in fresh:
                benchlib.remove_journal(path)
            return benchlib.measure(argv, env)
        return once

    def journal_env(path, text_log=None):
        extra = {"PYHOST_LOG_FILE": path}
        if text_log is not None:
            extra["PYHOST_TEXT_LOG"] = text_log
        return benchlib.controlled_env(extra)

    argv = [pyhost, "-c", "pass"]
    fresh = os.path.join(work, "fresh.jsonl")
    appended = os.path.join(work, "appended.jsonl")
    contenders = {
        "python3.11": run(benchlib.controlled_env(), [benchlib.REFERENCE, "-c", "pass"]),
        "pyhost": run(benchlib.controlled_env(), argv),
        "fresh": run(journal_env(fresh), argv, fresh=[fresh]),
        "appended": run(journal_env(appended), argv),
        "devnull": run(journal_env(os.devnull, os.devnull), argv),
    }
    if shm is not None:
        on_tmpfs = os.path.join(shm, "run.jsonl")
        contenders["tmpfs"] = run(journal_env(on_tmpfs), argv, fresh=[on_tmpfs])

    print("machine:", benchlib.machine_line())
    print(benchlib.drop_page_cache(options.keep_page_cache))
    try:
        results = benchlib.interleaved(contenders, options.rounds, warmup=10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)
    print(f"{'start-up (-c pass), wall':<26} {'median':>9} {'/ python3.11':>13} {'/ pyhost':>9}")
    for name in contenders:
        print(f"{name:<26} {benchlib.median(results, name, 'wall') * 1e3:>6.2f} ms"
              f" {benchlib.median_ratio(results, name, 'python3.11', 'wall'):>13.3f}"
              f" {benchlib.median_ratio(results, name, 'pyhost', 'wall'):>9.3f}")


if __name__ == "__main__":
    main()
