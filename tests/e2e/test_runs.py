"""The run modes: components (splight-runner's), time limits for any run."""
import json
import os
import sys
import textwrap
import time

from pyhost_test import PYHOST, PyhostTestCase, procs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import receivers  # noqa: E402


def journal_records(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


class ComponentTests(PyhostTestCase):
    """pyhost run-component PATH/main.py --component-id=ID, as splight-runner runs it."""

    MAIN = """
        import logging, os, sys
        import helper  # the component's own module, beside main.py
        print("argv", sys.argv[1:])
        print("cwd", os.getcwd() == os.path.dirname(os.path.abspath(__file__)))
        print("path0", sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
        print("oops", file=sys.stderr)
        logging.getLogger("component").warning("reading %d", helper.VALUE)
        sys.exit(int(os.environ.get("EXIT_WITH", "0")))
        """

    def component(self):
        directory = os.path.join(self.tmp, "component")
        os.mkdir(directory)
        with open(os.path.join(directory, "main.py"), "w") as f:
            f.write(textwrap.dedent(self.MAIN))
        with open(os.path.join(directory, "helper.py"), "w") as f:
            f.write("VALUE = 7\n")
        return directory

    def engine(self, component_id):
        engine = receivers.SplightEngine("access-1", "secret-1", component_id)
        self.addCleanup(engine.stop)
        return engine, {"SPLIGHT_PLATFORM_API_HOST": engine.url("http"), "SPLIGHT_ACCESS_ID": "access-1",
                        "SPLIGHT_SECRET_KEY": "secret-1"}

    def test_runs_in_its_directory_with_the_flag_and_reports_everything_to_the_engine(self):
        directory = self.component()
        engine, env = self.engine("comp-9")
        code, out, err = self.run_pyhost("run-component", os.path.join(directory, "main.py"),
                                         "--component-id=comp-9", "--verbose", env=self.env(**env))
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"argv ['--component-id', 'comp-9', '--verbose']\ncwd True\npath0 True\n")
        self.assertEqual(err, b"oops\nreading 7\n")  # logging's last-resort handler
        self.assertEqual(engine.violations, [])
        self.assertEqual(engine.statuses, ["Running", "Finished"])
        # print, stderr and logging all reach the engine, not only logging (splight-runner's flaw).
        by_message = {r["message"]: r for r in engine.logs}
        self.assertEqual(by_message["argv ['--component-id', 'comp-9', '--verbose']"]["name"], "stdout")
        self.assertEqual(by_message["oops"]["loglevel"], "ERROR")
        self.assertEqual((by_message["reading 7"]["name"], by_message["reading 7"]["loglevel"]),
                         ("component", "WARNING"))

    def test_the_containers_own_python3_command_reports_the_same_way(self):
        # `python3 main.py --component-id=ID`, python3 being pyhost: nothing in the launch changes.
        directory = self.component()
        engine, env = self.engine("comp-3")
        code, out, err = procs.run([self.symlink_named("python3"), "main.py", "--component-id=comp-3"],
                                   env=self.env(**env), cwd=directory)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"argv ['--component-id=comp-3']\ncwd True\npath0 True\n")
        self.assertEqual(engine.statuses, ["Running", "Finished"])
        self.assertIn("oops", [r["message"] for r in engine.logs])
        self.assertEqual(engine.violations, [])

    def test_the_console_and_status_are_what_python3_gives_the_same_command(self):
        directory = self.component()
        env = self.env(EXIT_WITH="3")
        reference = procs.run([procs.REFERENCE_PYTHON, "main.py", "--component-id", "c1"], env=env, cwd=directory)
        code, out, err = self.run_pyhost("run-component", os.path.join(directory, "main.py"), "--component-id",
                                         "c1", env=env)
        self.assertEqual(reference[0], 3)
        warning = (b"pyhost: run-component: SPLIGHT_PLATFORM_API_HOST, SPLIGHT_ACCESS_ID and SPLIGHT_SECRET_KEY are "
                   b"not all set")
        self.assertTrue(err.startswith(warning), err)
        self.assertEqual((code, out, err[err.index(b"\n") + 1:]), reference)

    def test_the_journal_is_kept_in_the_state_directory(self):
        directory = self.component()
        state = os.path.join(self.tmp, "state")
        code, _, err = self.run_pyhost("run-component", os.path.join(directory, "main.py"), "--component-id=c2",
                                       env=self.env(PYHOST_STATE_DIR=state, PYHOST_RUN_ID="run-c2"))
        self.assertEqual(code, 0, err)
        self.assertIn(f"(they are in {state}/runs/run-c2.jsonl)".encode(), err)
        records = journal_records(os.path.join(state, "runs", "run-c2.jsonl"))
        self.assertEqual([r["status"] for r in records if r["stream"] == "status"], ["running", "finished"])
        self.assertIn("reading 7", [r["message"] for r in records])

    def test_the_component_id_may_come_from_the_environment(self):
        directory = self.component()
        engine, env = self.engine("comp-env")
        code, out, err = self.run_pyhost("run-component", os.path.join(directory, "main.py"),
                                         env=self.env(COMPONENT_ID="comp-env", **env))
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith(b"argv ['--component-id', 'comp-env']\n"))
        self.assertEqual(engine.statuses, ["Running", "Finished"])

    def test_bad_requests_are_usage_errors_naming_what_is_wrong(self):
        directory = self.component()
        with open(os.path.join(directory, "main.txt"), "w") as f:
            f.write("print(1)\n")
        cases = [
            ((os.path.join(directory, "missing.py"), "--component-id=x"),
             f"pyhost: run-component: {directory}/missing.py: No such file or directory\n"),
            ((os.path.join(directory, "main.txt"), "--component-id=x"),
             f"pyhost: run-component: {directory}/main.txt is not a .py file\n"),
            ((directory, "--component-id=x"),
             f"pyhost: run-component: {directory} is a directory; give the component's main file (main.py)\n"),
            ((os.path.join(directory, "main.py"),),
             "pyhost: run-component: which component? give --component-id=ID (or set COMPONENT_ID)\n"),
            ((), "pyhost: run-component: which component? "
                 "(usage: pyhost run-component PATH/main.py --component-id=ID [ARG]...)\n"),
            ((os.path.join(directory, "main.py"), "--component-id"),
             "pyhost: run-component: --component-id needs a ID\n"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                code, out, err = self.run_pyhost("run-component", *args)
                self.assertEqual((code, out, err.decode()), (2, b"", message))


class TimeoutTests(PyhostTestCase):
    """--timeout SECONDS / PYHOST_TIMEOUT: stacks into the log, SIGTERM, then the end; status 124."""

    def run_limited(self, program, *args, extra_env=None, timeout="1", argv0=PYHOST):
        script = self.write("program.py", textwrap.dedent(program))
        journal = os.path.join(self.tmp, "run.jsonl")
        env = self.env(PYHOST_LOG_FILE=journal, **(extra_env or {}))
        options = ("--timeout", timeout) if argv0 == PYHOST else ()
        if argv0 != PYHOST:
            env["PYHOST_TIMEOUT"] = timeout
        started = time.monotonic()
        code, out, err = procs.run([argv0, *options, script, *args], env=env, cwd=self.tmp)
        return code, out, err, journal_records(journal), time.monotonic() - started

    def assert_timed_out(self, records, err):
        final = records[-1]
        self.assertEqual((final["stream"], final["status"], final["exit_code"]), ("status", "timed_out", 124))
        stderr_text = "\n".join(r["message"] for r in records if r["stream"] == "stderr")
        # The stacks are in the journal and on the console.
        self.assertIn("pyhost: timeout: still running after 1 s; the stack of every thread follows", stderr_text)
        self.assertIn("Thread 0x", stderr_text)
        self.assertIn("pyhost: timeout: still running after 1 s", err.decode())

    def test_a_program_without_a_handler_is_ended_at_once_with_its_stacks(self):
        program = """
            import threading, time
            def worker_loop():
                while True:
                    time.sleep(0.05)
            def wait_forever():
                time.sleep(3600)
            threading.Thread(target=worker_loop, daemon=True).start()
            print("started", flush=True)
            wait_forever()
            """
        code, out, err, records, elapsed = self.run_limited(program)
        self.assertEqual((code, out), (124, b"started\n"))
        self.assert_timed_out(records, err)
        self.assertLess(elapsed, 10)
        text = err.decode()
        self.assertIn('program.py", line 7 in wait_forever', text)
        self.assertIn('program.py", line 5 in worker_loop', text)

    def test_a_handler_gets_sigterm_and_its_cleanup_runs_but_the_status_says_timed_out(self):
        program = """
            import signal, sys, time
            def stop(number, frame):
                print("cleaning up after", signal.Signals(number).name, flush=True)
                sys.exit(0)
            signal.signal(signal.SIGTERM, stop)
            time.sleep(3600)
            """
        code, out, err, records, _ = self.run_limited(program)
        self.assertEqual((code, out), (124, b"cleaning up after SIGTERM\n"))
        self.assert_timed_out(records, err)
        self.assertIn("pyhost: timeout: SIGTERM sent; the run is ended in 5 s unless it ends first",
                      err.decode())

    def test_a_program_that_cannot_handle_sigterm_is_ended_after_the_grace(self):
        # A handler is installed, but the main thread holds the GIL in C code (a regular
        # expression that backtracks for ages): the handler never runs.
        program = """
            import re, signal
            signal.signal(signal.SIGTERM, lambda *_: print("never"))
            print("matching", flush=True)
            re.match(r"(a+)+$", "a" * 64 + "b")
            """
        code, out, err, records, elapsed = self.run_limited(program, extra_env={"PYHOST_TIMEOUT_GRACE": "1"})
        self.assertEqual((code, out), (124, b"matching\n"))
        self.assert_timed_out(records, err)
        self.assertIn("pyhost: timeout: the program did not end within 1 s of SIGTERM; ending it", err.decode())
        self.assertLess(elapsed, 10)

    def test_pyhost_timeout_applies_under_a_python_name_and_a_quick_program_is_untouched(self):
        python3 = self.symlink_named("python3")
        code, out, err, records, _ = self.run_limited("import time; time.sleep(3600)\n", argv0=python3)
        self.assertEqual(code, 124)
        self.assert_timed_out(records, err)
        code, out, err, records, _ = self.run_limited("print('quick')\n", argv0=python3, timeout="30")
        self.assertEqual((code, out, err), (0, b"quick\n", b""))
        self.assertEqual(records[-1]["status"], "finished")

    def test_the_limit_is_not_inherited_by_children(self):
        program = """
            import os, subprocess, sys
            print(sorted(k for k in os.environ if k.startswith("PYHOST_TIMEOUT")))
            """
        code, out, _, _, _ = self.run_limited(program, timeout="30", extra_env={"PYHOST_TIMEOUT_GRACE": "2"})
        self.assertEqual((code, out), (0, b"[]\n"))

    def test_a_bad_limit_is_a_usage_error(self):
        for args, env, message in [
            (("--timeout", "soon"), {}, "pyhost: --timeout soon: not a number of seconds\n"),
            ((), {"PYHOST_TIMEOUT": "-1"}, "pyhost: PYHOST_TIMEOUT -1: not a number of seconds\n"),
            (("--timeout", "5"), {"PYHOST_TIMEOUT_GRACE": "x"},
             "pyhost: PYHOST_TIMEOUT_GRACE=x: not a number of seconds\n"),
        ]:
            with self.subTest(args=args, env=env):
                code, out, err = self.run_pyhost(*args, "-c", "print(1)", env=self.env(**env))
                self.assertEqual((code, out, err.decode()), (2, b"", message))

    def test_without_capture_the_stacks_reach_stderr_and_the_status_is_124(self):
        script = self.write("program.py", "import time\ntime.sleep(3600)\n")
        code, out, err = self.run_pyhost("--timeout", "0.5", script)
        self.assertEqual((code, out), (124, b""))
        self.assertIn(b"pyhost: timeout: still running after 0.5 s", err)
        self.assertIn(b'program.py", line 2 in <module>', err)


if __name__ == "__main__":
    import unittest
    unittest.main()
