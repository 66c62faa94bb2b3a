"""Capture: every byte and every logging record, once, in order, into the run's journal,
without changing what the program prints or does."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from pyhost_test import PYHOST, PyhostTestCase, procs


def read_journal(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


def messages(records, stream):
    return [r["message"] for r in records if r["stream"] == stream]


class CaptureTestCase(PyhostTestCase):
    def run_captured(self, source, *args, env=None, argv_prefix=(), **kwargs):
        script = self.write("program.py", textwrap.dedent(source))
        journal = os.path.join(self.tmp, "run.jsonl")
        for stale in (journal, os.path.join(self.tmp, "run.log")):
            if os.path.exists(stale):
                os.unlink(stale)
        environment = self.env(PYHOST_LOG_FILE=journal, PYHOST_RUN_ID="run-1", **(env or {}))
        code, out, err = procs.run([PYHOST, *argv_prefix, script, *args], env=environment, cwd=self.tmp, **kwargs)
        records = read_journal(journal) if os.path.exists(journal) else []
        return code, out, err, records

    def reference(self, source, *args, env=None, **kwargs):
        script = self.write("program.py", textwrap.dedent(source))
        return procs.run([procs.REFERENCE_PYTHON, script, *args], env=self.env(**(env or {})), cwd=self.tmp, **kwargs)

    def assert_merged_console_identical(self, program):
        """stdout and stderr into one pipe (2>&1): the interleaving must be python3.11's.
        The journal goes to j.jsonl."""
        script = self.write("program.py", textwrap.dedent(program))
        def merged(argv, env):
            return subprocess.run(argv, env=env, cwd=self.tmp, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT).stdout
        expected = merged([procs.REFERENCE_PYTHON, script], self.env())
        actual = merged([PYHOST, script], self.env(PYHOST_LOG_FILE=os.path.join(self.tmp, "j.jsonl")))
        self.assertEqual(actual, expected)

    def assert_well_formed(self, records):
        self.assertGreaterEqual(len(records), 2)
        self.assertEqual([r["seq"] for r in records], list(range(1, len(records) + 1)))
        self.assertTrue(all(r["run_id"] == "run-1" for r in records))
        self.assertEqual(records[0]["status"], "running")
        self.assertEqual(records[-1]["stream"], "status")
        for r in records:
            for key in ("seq", "ts", "run_id", "stream", "level", "logger", "message"):
                self.assertIn(key, r)
            self.assertRegex(r["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            self.assertIn(r["level"], ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))


class NothingConfiguredTests(CaptureTestCase):
    def test_without_configuration_pyhost_writes_nothing_and_installs_nothing(self):
        before = set(os.listdir(self.tmp))
        code, out, err = self.run_pyhost("-c", "import sys; print([getattr(f, '__module__', type(f).__module__) "
                                               "for f in sys.meta_path])")
        self.assertEqual((code, err), (0, b""))
        self.assertNotIn(b"_pyhost", out)
        self.assertEqual(set(os.listdir(self.tmp)), before)


class StreamTests(CaptureTestCase):
    PROGRAM = """
        import os, sys
        print("one")
        print("two", file=sys.stderr)
        sys.stdout.write("three\\n")
        sys.stdout.buffer.write(b"four bytes\\n")
        print("five", flush=True)
        sys.stdout.reconfigure(line_buffering=True)
        print("six", sys.stdout.line_buffering, sys.stdout.encoding, sys.stdout.errors,
              sys.stdout.fileno(), sys.stdout.isatty())
        sys.stderr.buffer.write(b"seven\\n")
        os.write(1, b"eight\\n")
        print("nine", end="")
        """

    def test_console_identical_and_each_line_once_with_stream_and_level(self):
        code, out, err, records = self.run_captured(self.PROGRAM)
        self.assertEqual((code, out, err), self.reference(self.PROGRAM))
        self.assert_well_formed(records)
        # In the order the lines reached the console (stdout is block-buffered here, so
        # "four bytes", written to the binary buffer, overtakes "one" and "three").
        self.assertEqual(messages(records, "stdout"), out.decode().splitlines())
        self.assertEqual(sorted(messages(records, "stdout"))[:3], ["eight", "five", "four bytes"])
        self.assertEqual(len(messages(records, "stdout")), 7)
        self.assertEqual(messages(records, "stderr"), ["two", "seven"])
        for r in records:
            if r["stream"] == "stdout":
                self.assertEqual(r["level"], "INFO")
            if r["stream"] == "stderr":
                self.assertEqual(r["level"], "ERROR")
        self.assertEqual(records[-1]["status"], "finished")
        self.assertEqual(records[-1]["exit_code"], 0)

    def test_text_log_holds_exactly_the_console_interleaved(self):
        script = self.write("program.py", textwrap.dedent(self.PROGRAM))
        journal = os.path.join(self.tmp, "run.jsonl")
        merged = subprocess.run([PYHOST, script], env=self.env(PYHOST_LOG_FILE=journal), cwd=self.tmp,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with open(os.path.join(self.tmp, "run.log"), "rb") as f:
            self.assertEqual(f.read(), merged.stdout)

    def test_invalid_utf8_is_kept_escaped_and_long_lines_are_split(self):
        program = """
            import sys
            sys.stdout.buffer.write(b"bad \\xff\\xfe bytes\\n")
            sys.stdout.write("x" * 200000 + "\\n")
            """
        code, _, _, records = self.run_captured(program)
        self.assertEqual(code, 0)
        out = [r for r in records if r["stream"] == "stdout"]
        self.assertEqual(out[0]["message"].encode("utf-8", "surrogateescape"), b"bad \xff\xfe bytes")
        pieces = out[1:]
        self.assertGreater(len(pieces), 1)
        self.assertTrue(all(p.get("continued") for p in pieces[:-1]))
        self.assertNotIn("continued", pieces[-1])
        self.assertEqual("".join(p["message"] for p in pieces), "x" * 200000)

    def test_native_output_is_captured_marked_and_reaches_the_console_in_order(self):
        program = """
            import ctypes, subprocess, sys
            print("before", flush=True)
            subprocess.run(["echo", "from a child"])
            print("between", flush=True)
            ctypes.CDLL(None).write(2, b"from C\\n", 7)
            subprocess.run(["sh", "-c", "echo child stderr >&2"])
            print("after")
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual((code, out, err), self.reference(program))
        native = [(r["message"], r.get("fd"), r["level"]) for r in records if r["stream"] == "native"]
        self.assertEqual(native, [("from a child", 1, "INFO"), ("from C", 2, "ERROR"), ("child stderr", 2, "ERROR")])
        order = [r["message"] for r in records if r["stream"] in ("stdout", "native") and r.get("fd", 1) == 1]
        self.assertEqual(order, ["before", "from a child", "between", "after"])

    def test_merged_stdout_and_stderr_keep_their_order(self):
        program = """
            import subprocess, sys
            for i in range(3):
                print("out", i, flush=True)
                print("err", i, file=sys.stderr, flush=True)
                subprocess.run(["sh", "-c", f"echo n-out {i}; echo n-err {i} >&2"])
            """
        self.assert_merged_console_identical(program)

    def test_interactive_prompt_written_by_c_stdio_reaches_a_merged_console(self):
        # The REPL writes its prompt with C stdio to fd 2: native output, through the pipe.
        journal = os.path.join(self.tmp, "repl.jsonl")
        proc = subprocess.Popen([PYHOST, "-i"], env=self.env(PYHOST_LOG_FILE=journal), cwd=self.tmp,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            seen = b""
            deadline = time.monotonic() + 20
            while not seen.endswith(b">>> ") and time.monotonic() < deadline:
                seen += proc.stdout.read1(1)
            self.assertTrue(seen.endswith(b">>> "), seen)
            out, _ = proc.communicate(b"print(6 * 7)\n", timeout=20)
        finally:
            proc.kill()
            proc.wait()
        self.assertIn(b"42\n", out)
        records = read_journal(journal)
        self.assertIn("42", messages(records, "stdout"))
        self.assertTrue(any(r["message"].startswith(">>> ") for r in records if r["stream"] == "native"))

    def test_fork_children_are_captured_once(self):
        program = """
            import os, sys
            print("parent before", flush=True)
            pid = os.fork()
            if pid == 0:
                print("in the child", flush=True)
                os._exit(0)
            os.waitpid(pid, 0)
            print("parent after")
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual((code, out, err), self.reference(program))
        lines = [r["message"] for r in records if r["stream"] in ("stdout", "native")]
        self.assertEqual(lines, ["parent before", "in the child", "parent after"])

    def test_a_daemon_child_outliving_the_run_still_writes_to_the_console(self):
        program = """
            import subprocess
            subprocess.Popen(["sh", "-c", "sleep 0.3; echo late from the daemon"])
            print("parent done")
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(out, b"parent done\nlate from the daemon\n")
        self.assertEqual(records[-1]["status"], "finished")


class LoggingTests(CaptureTestCase):
    PROGRAM = """
        import logging, sys
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
        log = logging.getLogger("app.worker")
        log.debug("below the level: not captured")

        class NoSecrets(logging.Filter):
            def filter(self, record):
                return "secret" not in record.getMessage()
        log.addFilter(NoSecrets())
        log.info("filtered: a secret")

        extra_handler = logging.StreamHandler(sys.stdout)
        logging.getLogger("app").addHandler(extra_handler)
        log.info("hello %s", "world", extra={"user": "ada", "attempt": 2, "ok": True, "none": None})
        log.warning("warned", stack_info=True)
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")
        logging.getLogger().critical("root %d", 7)
        print("plain print")
        """

    def test_records_pass_levels_filters_and_propagation_exactly_once(self):
        code, out, err, records = self.run_captured(self.PROGRAM)
        self.assertEqual((code, out, err), self.reference(self.PROGRAM))
        self.assert_well_formed(records)
        logs = [r for r in records if r["stream"] == "log"]
        self.assertEqual([(r["level"], r["logger"], r["message"]) for r in logs], [
            ("INFO", "app.worker", "hello world"),
            ("WARNING", "app.worker", "warned"),
            ("ERROR", "app.worker", "lookup failed"),
            ("CRITICAL", "root", "root 7"),
        ])
        hello, warned, failed, _ = logs
        self.assertEqual(hello["extra"], {"user": "ada", "attempt": 2, "ok": True, "none": None})
        self.assertTrue(hello["file"].endswith("program.py"))
        hello_line = textwrap.dedent(self.PROGRAM).splitlines().index('log.info("hello %s", "world", extra={"user": "ada", "attempt": 2, "ok": True, "none": None})') + 1
        self.assertEqual((hello["line"], hello["func"], hello["thread"]), (hello_line, "<module>", "MainThread"))
        self.assertTrue(warned["stack"].startswith("Stack (most recent call last):"))
        self.assertTrue(failed["exc"].startswith("Traceback (most recent call last):"))
        self.assertTrue(failed["exc"].endswith("KeyError: 'missing'"))
        # The handlers' console copies are not captured a second time as stream text.
        self.assertEqual(messages(records, "stderr"), [])
        # The first record through the stdout handler is also captured as stdout text (see
        # test_prints_buffered_before_a_record_are_not_taken_for_its_echo).
        self.assertEqual(messages(records, "stdout"), ["hello world", "plain print"])

    def test_prints_buffered_before_a_record_are_not_taken_for_its_echo(self):
        program = """
            import logging, sys
            logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
            for i in range(3):
                print("print", i)
                logging.info("log %d", i)
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual((code, out, err), self.reference(program))
        # Nothing is lost. The first time a handler writes to a block-buffered stdout, its
        # line rides in one write() with the earlier prints and is captured as stdout text
        # too; from then on pyhost flushes stdout before the handlers and each line is
        # captured once.
        self.assertEqual(messages(records, "stdout"), ["print 0", "log 0", "print 1", "print 2"])
        self.assertEqual(messages(records, "log"), ["log 0", "log 1", "log 2"])

    def test_logging_to_stderr_keeps_a_merged_consoles_order(self):
        # stdout is block-buffered here: python3 shows the prints after the records.
        program = """
            import logging
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
            for i in range(3):
                print("print", i)
                logging.info("log %d", i)
            """
        self.assert_merged_console_identical(program)
        records = read_journal(os.path.join(self.tmp, "j.jsonl"))
        self.assertEqual(messages(records, "stdout"), ["print 0", "print 1", "print 2"])
        self.assertEqual(messages(records, "log"), ["log 0", "log 1", "log 2"])
        self.assertEqual(messages(records, "stderr"), [])

    def test_a_record_logged_while_another_is_captured_keeps_both_whole(self):
        # The repr() of an extra value runs while pyhost reads the record, and logs itself (to
        # a logger whose only handler prints nothing, so that the console stays python3's).
        program = """
            import logging
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            inner = logging.getLogger("inner")
            inner.addHandler(logging.NullHandler())
            inner.propagate = False
            class Noisy:
                def __repr__(self):
                    inner.warning("repr called")
                    return "<noisy>"
            logging.getLogger("outer").info("with a noisy extra", extra={"first": 1, "noisy": Noisy(), "last": "z"})
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual((code, out, err), self.reference(program))
        logs = {r["logger"]: r for r in records if r["stream"] == "log"}
        self.assertEqual(sorted(logs), ["inner", "outer"])
        self.assertEqual((logs["inner"]["level"], logs["inner"]["message"]), ("WARNING", "repr called"))
        self.assertNotIn("extra", logs["inner"])
        self.assertEqual((logs["outer"]["level"], logs["outer"]["message"]), ("INFO", "with a noisy extra"))
        self.assertEqual(logs["outer"]["extra"], {"first": 1, "noisy": "<noisy>", "last": "z"})

    def test_logging_is_hooked_only_when_imported(self):
        program = """
            import sys
            print("logging" in sys.modules, [type(f).__module__ for f in sys.meta_path].count("_pyhost"))
            """
        code, out, _, records = self.run_captured(program)
        self.assertEqual((code, out), (0, b"False 1\n"))

    def test_the_loader_python3_would_show(self):
        program = """
            import logging, importlib.machinery
            print(type(logging.__loader__).__name__, type(logging.__spec__.loader).__name__)
            print(logging.Logger.callHandlers.__name__)
            """
        code, out, _, _ = self.run_captured(program)
        self.assertEqual((code, out), (0, b"SourceFileLoader SourceFileLoader\ncallHandlers\n"))


class ThreadTests(CaptureTestCase):
    def test_eight_threads_lose_nothing_and_keep_per_thread_order(self):
        # The journal must hold exactly what reached the console. (Not necessarily 8 x 3000
        # print lines: python3.11's TextIOWrapper is not thread-safe, and printing from eight
        # threads to a pipe loses and mangles lines under python3.11 itself.)
        program = """
            import logging, sys, threading
            logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
            N = 3000
            def work(k):
                for i in range(N):
                    print(f"t{k} p{i}")
                    logging.info("t%d l%d", k, i)
            threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
            for t in threads: t.start()
            for t in threads: t.join()
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual(code, 0)
        self.assert_well_formed(records)
        self.assertFalse([r for r in records if r["stream"] == "host"])
        # Lines end at "\n" only, as the journal splits them: the bytes python3.11 mangles here
        # may hold \x0b or \x1c, which str.splitlines() would also split at.
        console = out.decode("utf-8", "surrogateescape").split("\n")
        if console[-1] == "":
            console.pop()  # after the last newline; a partial last line is a record of its own
        journal = messages(records, "stdout")
        self.assertEqual(journal, console)
        self.assertGreater(len(journal), 8 * 3000 * 0.9)
        logs = messages(records, "log")
        self.assertEqual(len(logs), 8 * 3000)  # logging serializes its handlers: nothing lost
        # The same records as the console's, none twice. Not always in the console's order
        # across threads: a record is captured after its handlers wrote it, and a thread switch
        # in between lets another thread's record be written and captured first.
        self.assertEqual(sorted(err.decode().splitlines()), sorted(logs))
        # Per-thread order: the records of each thread in the order it emitted them. (For the
        # prints, the journal is the console's own sequence, asserted above.)
        for k in range(8):
            mine = [int(m.split()[1][1:]) for m in logs if m.startswith(f"t{k} ")]
            self.assertEqual(mine, list(range(3000)), k)
        self.assertFalse(messages(records, "stderr"))


class StatusTests(CaptureTestCase):
    def final(self, program, *args, **kwargs):
        code, out, err, records = self.run_captured(program, *args, **kwargs)
        self.assert_well_formed(records)
        return code, records[-1], records

    def test_finished(self):
        code, status, _ = self.final("print('x')")
        self.assertEqual((code, status["status"], status["exit_code"]), (0, "finished", 0))
        self.assertIn("duration_s", status)
        self.assertIn("max_rss_kib", status)

    def test_failed_by_exit_status(self):
        code, status, _ = self.final("import sys; sys.exit(3)")
        self.assertEqual((code, status["status"], status["exit_code"]), (3, "failed", 3))
        self.assertNotIn("exception", status)

    def test_failed_by_an_uncaught_exception_carries_it(self):
        code, status, _ = self.final("def f():\n    raise ValueError('bad value')\nf()\n")
        self.assertEqual((code, status["status"], status["exit_code"]), (1, "failed", 1))
        self.assertEqual(status["exception"]["type"], "ValueError")
        self.assertEqual(status["exception"]["message"], "bad value")
        self.assertTrue(status["exception"]["traceback"].startswith("Traceback (most recent call last):"))
        self.assertTrue(status["exception"]["traceback"].endswith("ValueError: bad value"))

    def test_keyboard_interrupt_is_stopped_by_sigint(self):
        code, status, _ = self.final("raise KeyboardInterrupt")
        self.assertEqual(code, -signal.SIGINT)
        self.assertEqual((status["status"], status["signal"], status["exit_code"]), ("stopped", "SIGINT", 130))

    def test_sigterm_drains_then_dies_by_sigterm(self):
        program = """
            import time
            for i in range(100):
                print("line", i)
            print("ready", flush=True); time.sleep(10)
            """
        code, out, err, records = self.run_captured(program, send_signal=signal.SIGTERM)
        self.assertEqual(code, -signal.SIGTERM)
        self.assert_well_formed(records)
        self.assertEqual(messages(records, "stdout"), [f"line {i}" for i in range(100)] + ["ready"])
        self.assertEqual((records[-1]["status"], records[-1]["signal"]), ("stopped", "SIGTERM"))

    def test_program_handler_for_sigterm_still_runs(self):
        program = """
            import signal, sys, time
            print(signal.getsignal(signal.SIGTERM))
            signal.signal(signal.SIGTERM, lambda *a: sys.exit(5))
            print("ready", flush=True); time.sleep(10)
            """
        code, out, err, records = self.run_captured(program, send_signal=signal.SIGTERM)
        self.assertEqual((code, out), (5, b"0\nready\n"))  # Handlers.SIG_DFL, as python3 reports it
        self.assertEqual((records[-1]["status"], records[-1]["exit_code"]), ("failed", 5))

    def test_sigterm_reset_to_default_by_the_program_still_drains(self):
        program = """
            import signal, time
            signal.signal(signal.SIGTERM, lambda *a: None)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            print(signal.getsignal(signal.SIGTERM))
            print("ready", flush=True); time.sleep(10)
            """
        code, out, _, records = self.run_captured(program, send_signal=signal.SIGTERM)
        self.assertEqual((code, out), (-signal.SIGTERM, b"0\nready\n"))
        self.assertEqual(records[-1]["status"], "stopped")

    def test_os_exit_drains(self):
        code, status, records = self.final("import os\nprint('before', flush=True)\nos._exit(7)\n")
        self.assertEqual((code, status["status"], status["exit_code"]), (7, "failed", 7))
        self.assertEqual(messages(records, "stdout"), ["before"])


class ConfigurationTests(CaptureTestCase):
    def test_capture_survives_S_I_and_E(self):
        for flag in ("-S", "-I", "-E"):
            with self.subTest(flag=flag):
                code, out, _, records = self.run_captured(
                    "import logging\nprint('hi')\nlogging.warning('w')\n", argv_prefix=(flag,))
                self.assertEqual(code, 0)
                self.assertEqual(messages(records, "stdout"), ["hi"])
                self.assertEqual(messages(records, "log"), ["w"])

    def test_the_programs_own_sitecustomize_still_runs(self):
        site_dir = os.path.join(self.tmp, "site")
        os.mkdir(site_dir)
        with open(os.path.join(site_dir, "sitecustomize.py"), "w") as f:
            f.write("print('user sitecustomize ran')\n")
        code, out, _, records = self.run_captured("import sys; print('sitecustomize' in sys.modules)",
                                                  env={"PYTHONPATH": site_dir})
        self.assertEqual((code, out), (0, b"user sitecustomize ran\nTrue\n"))
        self.assertEqual(messages(records, "stdout"), ["user sitecustomize ran", "True"])

    def test_pyhost_variables_are_not_the_programs(self):
        program = "import os; print(sorted(k for k in os.environ if k.startswith('PYHOST')))"
        code, out, _, _ = self.run_captured(program)
        self.assertEqual((code, out), (0, b"[]\n"))
        code, out, _, _ = self.run_captured(program, env={"PYHOST_CAPTURE_CHILDREN": "1"})
        self.assertEqual(out, b"['PYHOST_CAPTURE_CHILDREN', 'PYHOST_LOG_FILE', 'PYHOST_RUN_ID']\n")

    def test_command_line_options(self):
        journal = os.path.join(self.tmp, "cli.jsonl")
        text = os.path.join(self.tmp, "console.txt")
        code, out, err = self.run_pyhost("--log-file", journal, f"--text-log={text}", "-c", "print('via options')")
        self.assertEqual((code, out, err), (0, b"via options\n", b""))
        self.assertEqual(messages(read_journal(journal), "stdout"), ["via options"])
        with open(text, "rb") as f:
            self.assertEqual(f.read(), b"via options\n")
        code, _, err = self.run_pyhost("--log-file")
        self.assertEqual(code, 2)
        self.assertIn(b"--log-file needs a PATH", err)

    def test_a_journal_that_cannot_be_written_is_a_clear_error_and_the_program_runs_on(self):
        env = self.env(PYHOST_LOG_FILE="/dev/full")
        code, out, err = self.run_pyhost("-c", "print('still runs')", env=env)
        self.assertEqual((code, out), (0, b"still runs\n"))
        self.assertIn(b"cannot write /dev/full: No space left on device", err)
        code, out, err = self.run_pyhost("-c", "print('still runs')",
                                         env=self.env(PYHOST_LOG_FILE="/nonexistent/dir/j.jsonl"))
        self.assertEqual((code, out), (0, b"still runs\n"))
        self.assertIn(b"cannot open /nonexistent/dir/j.jsonl: No such file or directory", err)


class DescriptorTests(CaptureTestCase):
    def test_closed_standard_streams_stay_closed_for_the_program(self):
        for closed in ([0], [1], [0, 1]):
            with self.subTest(closed=closed):
                def preexec(closed=closed):
                    for fd in closed:
                        os.close(fd)
                check = ("import os, sys\n"
                         "os._exit(10 + 4 * (sys.stdin is None) + 2 * (sys.stdout is None) + (sys.stderr is None))\n")
                ref = subprocess.run([procs.REFERENCE_PYTHON, "-c", check], env=self.env(), preexec_fn=preexec,
                                     capture_output=True)
                got = subprocess.run([PYHOST, "-c", check], preexec_fn=preexec, capture_output=True,
                                     env=self.env(PYHOST_LOG_FILE=os.path.join(self.tmp, "j.jsonl")))
                self.assertEqual((got.returncode, got.stderr), (ref.returncode, ref.stderr))

    def test_a_program_closing_every_descriptor_keeps_capture_working(self):
        program = """
            import os, sys
            print("before", flush=True)
            os.closerange(3, 65536)
            for fd in range(3, 1024):
                try:
                    os.close(fd)
                except OSError:
                    pass
            with open(os.devnull, "w") as f:
                f.write("the program's own file")
            print("after", flush=True)
            """
        code, out, err, records = self.run_captured(program)
        self.assertEqual((code, out, err), (0, b"before\nafter\n", b""))
        self.assertEqual(messages(records, "stdout"), ["before", "after"])
        self.assertEqual(records[-1]["status"], "finished")


class BoundsTests(CaptureTestCase):
    def test_a_stalled_journal_never_blocks_the_program_and_drops_are_counted(self):
        fifo = os.path.join(self.tmp, "journal.fifo")
        os.mkfifo(fifo)
        script = self.write("flood.py", "import sys\nfor i in range(200000):\n    print(i)\nprint('done')\n")
        env = self.env(PYHOST_LOG_FILE=fifo, PYHOST_TEXT_LOG=os.path.join(self.tmp, "t.log"),
                       PYHOST_CAPTURE_BUFFER="65536", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([PYHOST, script], env=env, cwd=self.tmp, stdout=subprocess.PIPE)
        reader = open(fifo, "rb")  # opened, but not read until the program has printed all
        started = time.monotonic()
        out = b""
        while not out.endswith(b"done\n"):
            chunk = proc.stdout.read1(1 << 16)
            if not chunk:
                break
            out += chunk
        elapsed = time.monotonic() - started
        records = [json.loads(line) for line in reader]
        reader.close()
        proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(out.count(b"\n"), 200001)  # the console lost nothing
        self.assertLess(elapsed, 30)
        notes = [r for r in records if r["stream"] == "host"]
        self.assertTrue(notes and "dropped" in notes[0]["message"], notes[:1])
        self.assertEqual([r["seq"] for r in records], list(range(1, len(records) + 1)))
        self.assertEqual(records[-1]["status"], "finished")

    def test_the_capture_thread_never_allocates(self):
        # A thread's first malloc() gives it a glibc arena: a 128 MiB mapping trimmed by two
        # munmap()s, each a TLB shootdown of the CPU running the program. After every kind of
        # record (whole, partial and over-long lines, a log record, a child's native output,
        # heartbeats), the process must still have only the main arena: the program's own
        # thread is the only one that allocated.
        program = """
            import ctypes, logging, subprocess, sys, time
            print("a whole line")
            sys.stdout.write("a partial line"); sys.stdout.flush()
            time.sleep(0.1)
            print(" ended later")
            print("x" * 200_000, flush=True)
            logging.warning("a log record with %s", "arguments", extra={"key": [1, 2]})
            subprocess.run(["echo", "a child's line"])
            time.sleep(0.5)  # the capture thread formats and writes all of it
            libc = ctypes.CDLL(None)
            libc.fopen.restype = ctypes.c_void_p
            libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
            libc.fclose.argtypes = [ctypes.c_void_p]
            report = libc.fopen(b"malloc_info.xml", b"w")
            libc.malloc_info(0, report)
            libc.fclose(report)
            """
        code, out, err, records = self.run_captured(program, env={"PYHOST_HEARTBEAT": "0.1"})
        self.assertEqual((code, err), (0, b"WARNING:root:a log record with arguments\n"))
        self.assertTrue([r for r in records if r.get("heartbeat")])
        self.assertEqual([r["message"][:20] for r in records if r["stream"] in ("stdout", "native", "log")],
                         ["a whole line", "a partial line ended", *["x" * 20] * 4, "a log record with ar",
                          "a child's line"])
        with open(os.path.join(self.tmp, "malloc_info.xml")) as f:
            heaps = f.read().count("<heap nr=")
        if "ASAN_OPTIONS" not in os.environ:  # AddressSanitizer's malloc has no glibc arenas
            self.assertEqual(heaps, 1)

    def test_ten_million_lines_keep_memory_bounded(self):
        program = """
            import sys
            write = sys.stdout.write
            for i in range(10_000_000):
                write("line\\n")
            """
        journal = os.path.join(self.tmp, "flood.jsonl")
        script = self.write("flood.py", textwrap.dedent(program))
        done = subprocess.run([PYHOST, script], env=self.env(PYHOST_LOG_FILE=journal, PYHOST_RUN_ID="r"),
                              cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.assertEqual((done.returncode, done.stderr), (0, b""))
        lines = 0
        other = []  # besides the lines: `running` first, heartbeats (a slow build), the final status
        last = b""
        with open(journal, "rb") as f:
            for line in f:
                if b'"stream":"stdout"' in line:
                    lines += 1
                else:
                    other.append(json.loads(line))
                last = line
        # The disk blocks reserved ahead of the growing journal and console log
        # (capture/block_reserve.hpp) were given back at the end: what the files hold, no more.
        for path in (journal, journal[:-len(".jsonl")] + ".log"):
            st = os.stat(path)
            self.assertLess(st.st_blocks * 512, st.st_size + 64 * 1024, path)
        os.unlink(journal)
        status = json.loads(last)
        self.assertEqual(lines, 10_000_000)
        self.assertEqual([r["stream"] for r in other], ["status"] * len(other))  # no drop note
        self.assertEqual([r["status"] for r in other[:-1]], ["running"] * (len(other) - 1))
        self.assertEqual(status["status"], "finished")
        if "ASAN_OPTIONS" not in os.environ:  # AddressSanitizer's shadow and quarantine, not pyhost's
            # python3.11 itself needs about 8 MiB here; the ring is 1 MiB.
            self.assertLess(status["max_rss_kib"], 24 * 1024)


if __name__ == "__main__":
    import unittest
    unittest.main()
