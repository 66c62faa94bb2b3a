"""Helpers shared by pyhost's end-to-end tests: controlled environments and child processes.

Every test process starts from a small, explicit environment: these machines export
PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE, which change what python3 prints and writes.
"""
import os
import signal
import subprocess
import time

REFERENCE_PYTHON = "/usr/bin/python3.11"


def clean_env(home, extra=None):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TERM": "dumb",
    }
    for key in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return {k: v for k, v in env.items() if v is not None}


def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


SYS_CLOCK_NANOSLEEP = 230  # x86_64


def wait_until_sleeping(pid, timeout=10.0):
    """Waits until the process's main thread is blocked in clock_nanosleep (time.sleep).

    Sending a signal only then makes the program's reaction deterministic: a signal that
    lands while print() is still flushing would raise in a different place (or hit the
    buffered writer's reentrancy check), for python3.11 and pyhost alike.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as f:
                if f.read().split(" ", 1)[0] == str(SYS_CLOCK_NANOSLEEP):
                    return True
        except OSError:
            return False
        time.sleep(0.005)
    return False


def run(argv, *, env, cwd=None, stdin=b"", send_signal=None, ready=b"ready\n", timeout=60,
        preexec_fn=None, signal_pid=None, watch_pid=None, signal_delay=0.0):
    """Runs argv to completion; returns (returncode, stdout, stderr).

    With send_signal, waits until the program has printed the `ready` line on stdout and
    sleeps in time.sleep(), then sends the signal once and collects the rest. signal_pid and
    watch_pid, given the started Popen, pick the process to signal and the one that must be
    sleeping first (default: the child for both). signal_delay waits that long more before
    sending.
    """
    if send_signal is None:
        done = subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True,
                              timeout=timeout, preexec_fn=preexec_fn)
        return done.returncode, done.stdout, done.stderr
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=preexec_fn)
    head = b""
    deadline = time.monotonic() + timeout
    while not head.endswith(ready):
        chunk = proc.stdout.readline()
        if not chunk:
            break
        head += chunk
        if time.monotonic() > deadline:
            break
    if head.endswith(ready):
        wait_until_sleeping(watch_pid(proc) if watch_pid else proc.pid)
        time.sleep(signal_delay)
        os.kill(signal_pid(proc) if signal_pid else proc.pid, send_signal)
    stdout, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, head + stdout, stderr


def children_of(pid):
    """Direct children of pid (Linux /proc), oldest first."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(word) for word in f.read().split()]


def descendant(pid, depth):
    """The first child `depth` generations below pid, waiting for it to exist."""
    deadline = time.monotonic() + 10
    while True:
        current = pid
        try:
            for _ in range(depth):
                current = children_of(current)[0]
            return current
        except (IndexError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)
