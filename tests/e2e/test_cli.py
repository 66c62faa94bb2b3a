"""pyhost's own command line, and its absence under a python name."""
import os
import re
import signal

from pyhost_test import PYHOST, PyhostTestCase, procs


class HelpTests(PyhostTestCase):
    def test_dash_dash_help_is_pyhost_usage_then_pythons_and_stays_short(self):
        code, out, err = self.run_pyhost("--help")
        self.assertEqual((code, err), (0, b""))
        lines = out.decode("ascii").splitlines()
        self.assertTrue(lines[0].startswith("usage: pyhost [--log-file PATH]"), lines[0])
        self.assertIn("PYHOST_LOG_LEVEL", out.decode())
        python_usage = [i for i, line in enumerate(lines) if line.startswith(f"usage: {PYHOST} [option]")]
        self.assertEqual(len(python_usage), 1, out)
        self.assertIn("Options (and corresponding environment variables):", lines[python_usage[0] + 1])
        # CPython's test_cmd_line.test_help holds `--help` to this.
        self.assertLess(len(lines), 50)
        self.assertNotIn(b"PYTHONHOME", out)

    def test_help_command_lists_commands_environment_examples_then_python_options(self):
        code, out, err = self.run_pyhost("help")
        self.assertEqual((code, err), (0, b""))
        text = out.decode()
        for heading in ("Commands:", "Environment:", "Examples:", "Python's options:"):
            self.assertIn(heading, text)
        self.assertIn("PYHOST_INIT", text)
        after = text.split("Python's options:\n", 1)[1]
        self.assertTrue(after.startswith(f"usage: {PYHOST} [option] ..."), after[:100])
        self.assertIn("-c cmd : program passed in as string", after)

    def test_help_on_one_command(self):
        code, out, _ = self.run_pyhost("help", "help")
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith(b"usage: pyhost help [COMMAND]"), out)

    def test_help_on_unknown_command_is_a_usage_error_naming_it(self):
        code, out, err = self.run_pyhost("help", "frobnicate")
        self.assertEqual((code, out), (2, b""))
        self.assertIn(b"'frobnicate'", err)

    def test_under_a_python_name_help_is_a_script_name(self):
        python3 = self.symlink_named("python3")
        code, out, err = self.run_pyhost("help", argv0=python3)
        reference = procs.run([procs.REFERENCE_PYTHON, "help"], env=self.env(), cwd=self.tmp)
        self.assertEqual(code, 2)
        self.assertEqual(err.replace(python3.encode(), b"<py>"),
                         reference[2].replace(procs.REFERENCE_PYTHON.encode(), b"<py>"))

    def test_under_a_python_name_help_output_is_pythons(self):
        python3 = self.symlink_named("python3")
        code, out, _ = self.run_pyhost("--help", argv0=python3)
        reference = procs.run([procs.REFERENCE_PYTHON, "--help"], env=self.env())
        self.assertEqual(code, 0)
        self.assertNotIn(b"PYHOST_", out)
        self.assertNotIn(b"COMMAND", out)
        self.assertEqual(out.replace(python3.encode(), b"<py>"),
                         reference[1].replace(procs.REFERENCE_PYTHON.encode(), b"<py>"))


class DiagnosticsTests(PyhostTestCase):
    """pyhost's diagnostics (Boost.Log) are on stderr only when asked, never on stdout."""

    def run_logged(self, *args, level="info", **kwargs):
        return self.run_pyhost(*args, env=self.env(PYHOST_LOG_LEVEL=level), **kwargs)

    def last_record(self, err):
        line = err.decode().rstrip("\n").splitlines()[-1]
        match = re.fullmatch(r"pyhost\[(\d+)\]: (\w+): (.*)", line)
        self.assertIsNotNone(match, err)
        return match.group(2), match.group(3)

    def test_silent_by_default(self):
        code, out, err = self.run_pyhost("-c", "print('x')")
        self.assertEqual((code, out, err), (0, b"x\n", b""))

    def test_every_exit_path_reaches_the_exit_path_once(self):
        script = self.write("ends.py", "import sys\nsys.exit(int(sys.argv[1]))\n")
        cases = [
            (("-c", "pass"), 0, "run ended: exited with status 0"),
            ((script, "3"), 3, "run ended: exited with status 3"),  # Py_Exit (gh-152132)
            (("-m", "json.tool", "/nonexistent"), 2, "run ended: exited with status 2"),
            (("-c", "raise KeyboardInterrupt"), -signal.SIGINT, "run ended: killed by SIGINT"),
            (("-c", "raise SystemExit('text')"), 1, "run ended: exited with status 1"),
            (("-Z",), 2, "run ended: exited with status 2"),
        ]
        for args, status, message in cases:
            with self.subTest(args=args):
                code, out, err = self.run_logged(*args)
                self.assertEqual(code, status)
                self.assertEqual(self.last_record(err), ("info", message))
                self.assertEqual(err.count(b"run ended"), 1)
                self.assertNotIn(b"pyhost[", out)

    def test_off_silences_and_a_bad_level_is_named(self):
        code, _, err = self.run_logged("-c", "pass", level="off")
        self.assertEqual((code, err), (0, b""))
        code, _, err = self.run_logged("-c", "pass", level="loud")
        self.assertEqual(code, 0)
        self.assertIn(b"PYHOST_LOG_LEVEL=loud is not one of", err)


class StartupTests(PyhostTestCase):
    # host/interp/prefault_data.cpp: the executable's .data (CPython's static objects) is made
    # resident and private in one call before main(), not one copy-on-write fault per page.
    SMAPS_OF_OWN_DATA = r"""
import sys
exe = sys.argv[1]
mapping = None
for line in open("/proc/self/smaps"):
    fields = line.rstrip("\n").split(None, 5)  # the sixth, a path, may hold spaces
    if fields[0].endswith(":"):
        if mapping is not None and fields[0] in ("Size:", "Anonymous:"):
            print(fields[0], fields[1])
    else:  # a mapping's first line; .data is the executable's one writable mapping of its file
        mapping = fields if fields[1] == "rw-p" and fields[5:] == [exe] else None
"""

    def test_the_executables_data_is_private_before_any_python_runs(self):
        code, out, err = self.run_pyhost("-S", "-c", self.SMAPS_OF_OWN_DATA, os.path.realpath(PYHOST))
        self.assertEqual((code, err), (0, b""))
        sizes = dict(line.split() for line in out.decode().splitlines())
        self.assertGreater(int(sizes["Size:"]), 512, out)  # CPython's .data: over a megabyte
        # Every page copied, also those the interpreter's start never writes to.
        self.assertEqual(sizes["Anonymous:"], sizes["Size:"], out)
