"""Shared machinery for pyhost's benchmarks: interleaved runs, controlled environment, medians.

Every benchmark runs its contenders in rounds, one run of each per round in a rotating order,
so that drift in the machine's speed (other load, thermal state, page cache) hits all of them
alike; the figure reported is the median of the per-round ratios against /usr/bin/python3.11.
Wall time is measured around spawn-to-reap, CPU time is the child's user + system time from
wait4(), which includes every thread of the child.
"""
import os
import statistics
import subprocess
import sys
import time
import urllib.request

REFERENCE = "/usr/bin/python3.11"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def default_pyhost():
    return os.environ.get("PYHOST", os.path.join(ROOT, "build", "release", "pyhost"))


def controlled_env(extra=None):
    """A fixed environment: in particular without PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE,
    which these machines export and which change what python3 does."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra or {})
    return env


class Measurement:
    __slots__ = ("wall", "cpu", "maxrss_kib", "status")

    def __init__(self, wall, cpu, maxrss_kib, status):
        self.wall, self.cpu, self.maxrss_kib, self.status = wall, cpu, maxrss_kib, status


def measure(argv, env, stdout_path=os.devnull, cwd=None, stderr_path=None):
    """Runs argv once, stdout (and stderr, if given) to files; returns its Measurement."""
    out_fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if stderr_path else None
    null_in = os.open(os.devnull, os.O_RDONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null_in, 0), (os.POSIX_SPAWN_DUP2, out_fd, 1)]
        if err_fd is not None:
            actions.append((os.POSIX_SPAWN_DUP2, err_fd, 2))
        old_cwd = os.getcwd()
        if cwd:
            os.chdir(cwd)
        try:
            start = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - start
        finally:
            os.chdir(old_cwd)
    finally:
        os.close(out_fd)
        os.close(null_in)
        if err_fd is not None:
            os.close(err_fd)
    return Measurement(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status))


def remove_journal(journal):
    """Deletes a run's journal and what pyhost writes beside it (the console log, the sinks'
    cursors), so that the next run starts a fresh one."""
    for path in (journal, journal + ".cursors", journal[:-len(".jsonl")] + ".log"):
        if os.path.exists(path):
            os.unlink(path)


def add_page_cache_option(parser):
    """--keep-page-cache, for the benchmarks that time start-up (see drop_page_cache)."""
    parser.add_argument("--keep-page-cache", action="store_true",
                        help="do not drop the page cache before start-up is timed")


def drop_page_cache(keep=False):
    """Empties the page cache (root only) before start-up is timed; returns a line saying what
    was done, for the report.

    Why: how fast a binary starts depends on how its file entered the page cache, not only on
    its bytes. Measured here (one-off runs of 200 interleaved rounds of `-c pass`): one pyhost
    binary ran at 1.067 of python3.11 as the linker had just written it and at 1.045 as a `cp`
    of it, and a fresh `strip -o` copy looked 2.5% faster than the unstripped one. After a drop
    every binary is read back from disk by readahead, as after a reboot (what a container's
    first start sees): the three pyhost copies then ran within 0.7% of each other. It does not
    remove all of it: a `cp` of python3.11 still ran at 0.98 of /usr/bin/python3.11 after a
    drop, so ratios against python3.11 keep a spread of about 2% from run to run.
    """
    if keep:
        return "page cache: kept (--keep-page-cache): start-up ratios depend on each binary's cache state"
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as error:
        return f"page cache: not dropped ({error.strerror}; needs root): start-up ratios depend on each binary's cache state"
    return "page cache: dropped before timing start-up: every binary read back from disk alike"


def peak_rss_kib(argv, env, stdout_path=os.devnull, stderr_path=None):
    """Peak resident set of one run of argv, in KiB: VmHWM of the child's own memory, read from
    /proc while it runs (the last sample before it exits).

    Not wait4()'s ru_maxrss: after exec, that also counts the parent's resident set at the
    time of the (v)fork, so every child of this ~12 MiB harness would report at least 12 MiB.
    """
    out = open(stdout_path, "wb")
    err = open(stderr_path, "wb") if stderr_path else None
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        peak = 0
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
                            break
            except OSError:
                pass
            time.sleep(0.002)
        return peak
    finally:
        out.close()
        if err:
            err.close()


def interleaved(contenders, rounds, warmup=2):
    """contenders: {name: callable() -> Measurement}. Returns {name: [Measurement, ...]}."""
    names = list(contenders)
    results = {name: [] for name in names}
    for round_index in range(warmup + rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            m = contenders[name]()
            if m.status != 0:
                raise SystemExit(f"benchmark run failed: {name} exited with {m.status}")
            if round_index >= warmup:
                results[name].append(m)
    return results


def median_ratio(results, name, baseline, attribute):
    """Median over rounds of contender/baseline for one attribute (wall or cpu)."""
    pairs = zip(results[name], results[baseline])
    return statistics.median(getattr(a, attribute) / getattr(b, attribute) for a, b in pairs)


def median(results, name, attribute):
    return statistics.median(getattr(m, attribute) for m in results[name])


def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Linux {os.uname().release}, {REFERENCE} {sys.version.split()[0]}"


def print_row(name, baseline, contender, unit, ratio, target):
    shown = {"ms": 1e3, "s": 1.0, "MiB": 1.0}[unit]
    print(f"{name:<34} {baseline * shown:>10.3f} {unit:<3} {contender * shown:>10.3f} {unit:<3} "
          f"{ratio:>7.3f} {target:>8}")


class Collector:
    """bench/collector.py in a process of its own, on a loopback port: counts the records it is sent."""

    def __init__(self, work):
        port_file = os.path.join(work, "collector.port")
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "collector.py"), port_file])
        deadline = time.monotonic() + 10
        while not (os.path.exists(port_file) and open(port_file).read()):
            if time.monotonic() > deadline:
                raise SystemExit("the collector did not start")
            time.sleep(0.02)
        self.port = int(open(port_file).read())

    def count(self, reset=False):
        return int(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/{'reset' if reset else 'count'}").read())

    def wait_idle(self, timeout=60):
        """Until no request is being worked on: the yardstick's sender may exit before the
        collector has counted its last batch, and that work must not overlap the next timed run
        (both share the machine's cores)."""
        deadline = time.monotonic() + timeout
        while int(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/busy").read()) > 0:
            if time.monotonic() > deadline:
                raise SystemExit("the collector stayed busy")
            time.sleep(0.01)

    def stop(self):
        self.process.terminate()
        self.process.wait()
