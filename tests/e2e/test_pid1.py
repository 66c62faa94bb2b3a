"""pyhost as a container's PID 1: signals stop the program, zombies are reaped, the exit status
is the program's. PID 1 is real here: each test runs in a new PID namespace (unshare)."""
import os
import shutil
import signal
import subprocess
import unittest

from pyhost_test import PYHOST, PyhostTestCase, procs

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def unshare_works():
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(UNSHARE + ["true"], capture_output=True).returncode == 0


WAIT_FOR_SIGNAL = """
import os, sys, time
print("pid", os.getpid(), "ppid", os.getppid())
print("ready", flush=True); time.sleep(5)
print("not stopped", flush=True)
"""

ZOMBIES = """
import os, subprocess, time
# Orphans: each shell exits at once, leaving `sleep` to be re-parented to PID 1.
for _ in range(5):
    subprocess.run(["sh", "-c", "sleep 0.1 &"])
# Meanwhile, subprocess must still see its own children's statuses (pitfall 3).
statuses = {subprocess.run(["sh", "-c", "exit 7"]).returncode for _ in range(40)}
time.sleep(0.6)
# Only this program's and its parent's children: the orphans are re-parented to the parent (the
# init parent) or, when this program is PID 1 itself, to it. Outside a PID namespace /proc
# holds every process of the machine, and another program's zombie is not this one's.
ours = {os.getpid(), os.getppid()}
zombies = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        if state == "Z" and int(ppid) in ours:
            zombies.append(pid)
    except OSError:
        pass
print("subprocess statuses", sorted(statuses))
print("zombies", len(zombies))
"""


@unittest.skipUnless(os.geteuid() == 0 and unshare_works(), "needs root and unshare(1)")
class Pid1Tests(PyhostTestCase):
    def in_namespace(self, interpreter, script, **kwargs):
        path = self.write("program.py", script)
        return procs.run(UNSHARE + [interpreter, path], env=self.env(), cwd=self.tmp, **kwargs)

    def test_program_runs_as_pid_2_under_the_init_parent_and_its_status_passes_through(self):
        code, out, err = self.in_namespace(PYHOST, "import os, sys\nprint(os.getpid(), os.getppid())\nsys.exit(3)\n")
        self.assertEqual((code, out, err), (3, b"2 1\n", b""))

    def test_sigterm_stops_the_program_with_128_plus_15(self):
        # python3.11 as PID 1 ignores SIGTERM: the kernel gives PID 1 no default action.
        ref = self.in_namespace(procs.REFERENCE_PYTHON, WAIT_FOR_SIGNAL, send_signal=signal.SIGTERM,
                                signal_pid=lambda p: procs.descendant(p.pid, 1),
                                watch_pid=lambda p: procs.descendant(p.pid, 1))
        self.assertIn(b"not stopped", ref[1])
        code, out, err = self.in_namespace(PYHOST, WAIT_FOR_SIGNAL, send_signal=signal.SIGTERM,
                                           signal_pid=lambda p: procs.descendant(p.pid, 1),
                                           watch_pid=lambda p: procs.descendant(p.pid, 2))
        self.assertEqual(code, 128 + signal.SIGTERM, err)
        self.assertEqual(out, b"pid 2 ppid 1\nready\n")

    def test_sigint_is_a_keyboard_interrupt_and_ends_with_128_plus_2(self):
        code, out, err = self.in_namespace(PYHOST, WAIT_FOR_SIGNAL, send_signal=signal.SIGINT,
                                           signal_pid=lambda p: procs.descendant(p.pid, 1),
                                           watch_pid=lambda p: procs.descendant(p.pid, 2))
        self.assertEqual(code, 128 + signal.SIGINT)
        self.assertTrue(err.startswith(b"Traceback (most recent call last):"), err)
        self.assertTrue(err.endswith(b"KeyboardInterrupt\n"), err)

    def test_orphans_are_reaped_and_subprocess_keeps_its_statuses(self):
        code, out, err = self.in_namespace(PYHOST, ZOMBIES)
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(out, b"subprocess statuses [7]\nzombies 0\n")
        # The same program as PID 1 under python3.11 leaves its orphans unreaped.
        _, ref_out, _ = self.in_namespace(procs.REFERENCE_PYTHON, ZOMBIES)
        self.assertIn(b"subprocess statuses [7]\n", ref_out)
        self.assertNotIn(b"zombies 0\n", ref_out)


class SubreaperTests(PyhostTestCase):
    def test_init_1_supervises_without_being_pid_1(self):
        path = self.write("program.py", ZOMBIES)
        code, out, err = procs.run([PYHOST, path], env=self.env(PYHOST_INIT="1"), cwd=self.tmp)
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(out, b"subprocess statuses [7]\nzombies 0\n")

    def test_init_1_reports_a_signal_as_128_plus_n(self):
        code, out, _ = procs.run([PYHOST, "-c", WAIT_FOR_SIGNAL], env=self.env(PYHOST_INIT="1"),
                                 cwd=self.tmp, send_signal=signal.SIGTERM,
                                 watch_pid=lambda p: procs.descendant(p.pid, 1))
        self.assertEqual(code, 128 + signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
