"""Where a captured or shipped run's CPU goes, thread by thread.

pyhost names its own threads (pyhost-capture writes the journal, pyhost-ship is one sink's
shipper); the program's threads keep the executable's name. For each setup, capture only (a
journal) and capture + shipping to the loopback collector (jsonl+http), the print flood of
bench/workloads/print_1m.py runs --rounds times under pyhost while this script reads every
thread's CPU time (/proc/PID/task/TID/schedstat, in nanoseconds) every --interval-ms; a
thread's figure is its last sample, so each misses at most one interval, and the "unseen" row
is what wait4() counted for the whole process beyond the sum of the samples. Medians over the
rounds, in seconds and as shares of the process's CPU.

Usage: /usr/bin/python3.11 bench/threads.py [--pyhost PATH] [--rounds N] [--interval-ms MS]
"""
import argparse
import collections
import os
import statistics
import subprocess
import tempfile
import time

import benchlib


def thread_times(pid):
    """{tid: (name, cpu seconds)} of pid's live threads, or None when it has exited."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    found = {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                nanos = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended between the listing and the read
        found[int(tid)] = (name, nanos / 1e9)
    return found


def sampled_run(argv, env, stdout_path, interval):
    """Runs argv; returns ({thread name: cpu seconds}, process cpu seconds from wait4)."""
    with open(stdout_path, "wb") as out:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out)
    last = {}
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid != 0:
            break
        sample = thread_times(process.pid)
        if sample:
            last.update(sample)
        time.sleep(interval)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"benchmark run failed: {argv} exited with {process.returncode}")
    by_name = collections.Counter()
    main_tid = process.pid
    for tid, (name, seconds) in last.items():
        by_name["program (main thread)" if tid == main_tid else name] += seconds
    return by_name, usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyhost", default=benchlib.default_pyhost())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval-ms", type=float, default=2.0)
    options = parser.parse_args()
    pyhost = os.path.abspath(options.pyhost)
    work = tempfile.mkdtemp(prefix="pyhost-bench-")
    collector = benchlib.Collector(work)
    journal = os.path.join(work, "run.jsonl")
    workload = os.path.join(benchlib.HERE, "workloads", "print_1m.py")
    setups = {
        "capture only": benchlib.controlled_env({"PYHOST_LOG_FILE": journal}),
        "capture + shipping": benchlib.controlled_env(
            {"PYHOST_LOG_FILE": journal, "PYHOST_SINKS": f"jsonl+http://127.0.0.1:{collector.port}/ingest"}),
    }
    print("machine:", benchlib.machine_line())
    print(f"pyhost: {pyhost}; 1M print() lines, stdout to a file; medians of {options.rounds} rounds")
    try:
        for setup, env in setups.items():
            threads = collections.defaultdict(list)
            totals = []
            for round_index in range(options.rounds + 1):  # the first is a warm-up
                benchlib.remove_journal(journal)
                by_name, total = sampled_run([pyhost, workload], env, os.path.join(work, "out.txt"),
                                             options.interval_ms / 1000)
                if round_index == 0:
                    continue
                totals.append(total)
                for name in set(by_name) | set(threads):
                    threads[name].append(by_name.get(name, 0.0))
                threads["unseen"].append(max(0.0, total - sum(by_name.values())))
            total = statistics.median(totals)
            print(f"\n{setup}: process CPU {total:.3f} s")
            for name, values in sorted(threads.items(), key=lambda item: -statistics.median(item[1])):
                seconds = statistics.median(values)
                print(f"  {name:<24} {seconds:>7.3f} s  {100 * seconds / total:>5.1f}%")
    finally:
        collector.stop()


if __name__ == "__main__":
    main()
