"""pyhost function: openOBD functions from archives, directories and the catalogue, with their
execution logs saved whatever ends them (local storage here; S3 in test_function_s3)."""
import base64
import datetime
import io
import json
import os
import signal
import tarfile
import textwrap
import zipfile

from pyhost_test import PYHOST, PyhostTestCase, procs

FUNCTION = """
    import logging, os, sys
    sys.stdout.reconfigure(line_buffering=True)  # the console log then interleaves line by line
    print("cwd", os.getcwd() == os.path.dirname(os.path.abspath(__file__)))
    print("session", os.environ.get("OPENOBD_SESSION_INFO"))
    print("argv", sys.argv[1:])
    print("data", open("data.txt").read().strip())
    logging.getLogger("obd").warning("voltage low")
    print("to stderr", file=sys.stderr)
    sys.exit(int(os.environ.get("EXIT_WITH", "0")))
    """


def tar_bytes(files, mode="w:gz"):
    """files: {name: text}; a tar archive of them, in memory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_bytes(files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def journal_records(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


class FunctionTestCase(PyhostTestCase):
    def setUp(self):
        super().setUp()
        self.executor = os.path.join(self.tmp, "executor")
        self.logs = os.path.join(self.tmp, "logs")
        self.state = os.path.join(self.tmp, "state")

    def function_env(self, **extra):
        return self.env(**{"EXECUTOR_RUN_DIRECTORY": self.executor, "LOGS_LOCATION": self.logs,
                           "PYHOST_STATE_DIR": self.state, **extra})

    def archive(self, name, files=None, maker=None):
        files = files if files is not None else {"obd-check/function.py": textwrap.dedent(FUNCTION),
                                                 "obd-check/data.txt": "42\n"}
        data = (maker or tar_bytes)(files)
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def saved(self, name):
        """The saved execution log of run `name`: (console log bytes, journal records)."""
        day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y/%m/%d")
        base = os.path.join(self.logs, day, name)
        with open(base + ".log", "rb") as f:
            text = f.read()
        return text, journal_records(base + ".jsonl")

    def function(self, *args, env=None):
        return procs.run([PYHOST, "function", *args], env=env or self.function_env(), cwd=self.tmp)

    def run_directories(self):
        executions = os.path.join(self.executor, "executions")
        return sorted(os.listdir(executions)) if os.path.isdir(executions) else []


class FunctionTests(FunctionTestCase):
    def test_an_archive_runs_in_its_folder_and_its_log_is_saved_with_the_functions_status(self):
        archive = self.archive("obd-check.tar.gz")
        session = base64.b64encode(b'{"id": "s-1"}').decode()
        code, out, err = self.function(archive, "--session-info", session, "--runtime-id", "r1", "--", "--fast",
                                       env=self.function_env(EXIT_WITH="3"))
        # The function's own status, not "completed" (the seed's `| tee` masked it).
        self.assertEqual(code, 3, err)
        self.assertEqual(out, f"cwd True\nsession {session}\nargv ['--fast']\ndata 42\n".encode())
        self.assertEqual(err, b"voltage low\nto stderr\n")  # logging's last-resort handler
        text, records = self.saved("r1_obd-check")
        # The console log holds stdout and stderr, interleaved as they appeared.
        self.assertEqual(text, f"cwd True\nsession {session}\nargv ['--fast']\ndata 42\n"
                               "voltage low\nto stderr\n".encode())
        self.assertEqual(records[0]["status"], "running")
        self.assertEqual((records[-1]["status"], records[-1]["exit_code"]), ("failed", 3))
        self.assertEqual({r["run_id"] for r in records}, {"r1"})
        log = [r for r in records if r["stream"] == "log"]
        self.assertEqual((log[0]["logger"], log[0]["message"]), ("obd", "voltage low"))
        # The run directory is gone, and so is the spool entry once saved.
        self.assertEqual(self.run_directories(), [])
        self.assertEqual(os.listdir(os.path.join(self.state, "spool")), [])

    def test_every_archive_kind_and_a_directory_run_the_same_function(self):
        files = {"function.py": textwrap.dedent(FUNCTION), "data.txt": "7\n"}
        sources = {
            "plain.tar": self.archive("plain.tar", files, lambda f: tar_bytes(f, "w")),
            "xz.tar.xz": self.archive("xz.tar.xz", files, lambda f: tar_bytes(f, "w:xz")),
            "tgz.tgz": self.archive("tgz.tgz", files),
            "gz.gz": self.archive("gz.gz", files),
            "zipped.zip": self.archive("zipped.zip", files, zip_bytes),
        }
        folder = os.path.join(self.tmp, "folder")
        os.mkdir(folder)
        for name, text in files.items():
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        sources["folder"] = folder
        for name, source in sources.items():
            with self.subTest(source=name):
                code, out, err = self.function(source, "--runtime-id", f"r-{name.split('.')[0]}")
                self.assertEqual(code, 0, err)
                self.assertTrue(out.endswith(b"data 7\n"), out)
                function_id = name.split(".")[0]
                text, records = self.saved(f"r-{function_id}_{function_id}")
                self.assertEqual(records[-1]["status"], "finished")
        self.assertEqual(self.run_directories(), [])
        self.assertTrue(os.path.isdir(folder))  # a directory source is copied, never moved

    def test_the_catalogue_finds_a_function_by_id(self):
        catalogue = os.path.join(self.tmp, "catalogue")
        os.mkdir(catalogue)
        xz = self.archive("obd-check.tar.xz", maker=lambda files: tar_bytes(files, "w:xz"))
        os.rename(xz, os.path.join(catalogue, "obd-check.tar.xz"))
        env = self.function_env(FUNCTIONS_LOCATION=catalogue)
        code, out, err = self.function("--id", "obd-check", "--runtime-id", "r2", env=env)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.endswith(b"data 42\n"))
        self.saved("r2_obd-check")
        code, out, err = self.function("--id", "missing", env=env)
        self.assertEqual((code, out), (2, b""))
        self.assertEqual(err.decode(), f"pyhost: function missing not found in FUNCTIONS_LOCATION={catalogue}\n")

    def test_keep_leaves_the_run_directory(self):
        code, _, err = self.function(self.archive("obd-check.tar.gz"), "--runtime-id", "r3", "--keep")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.run_directories(), ["r3_obd-check"])
        self.assertTrue(os.path.isfile(os.path.join(self.executor, "executions", "r3_obd-check", "obd-check",
                                                    "function.py")))

    def test_a_function_killed_by_a_signal_still_has_its_log_saved_with_that_status(self):
        archive = self.archive("crash.tar.gz", {"function.py": textwrap.dedent("""
            import os, signal, time
            print("about to die", flush=True)
            # What reached the journal survives SIGKILL; the capture thread writes it within
            # milliseconds of the print, and nothing can save what it has not written yet.
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
            """)})
        code, out, err = self.function(archive, "--runtime-id", "r4")
        self.assertEqual((code, out), (128 + signal.SIGKILL, b"about to die\n"))
        text, records = self.saved("r4_crash")
        self.assertEqual(text, b"about to die\n")
        final = records[-1]
        self.assertEqual((final["status"], final["signal"], final["exit_code"]), ("stopped", "SIGKILL", 137))
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))  # the supervisor continued the journal's seq

    def test_a_function_past_its_time_limit_is_logged_with_its_stack_and_status_124(self):
        archive = self.archive("slow.tar.gz", {"function.py": "import time\n\ndef poll():\n    time.sleep(3600)\n\npoll()\n"})
        code, out, err = self.function(archive, "--runtime-id", "r5", "--timeout", "1")
        self.assertEqual(code, 124, err)
        text, records = self.saved("r5_slow")
        self.assertIn(b"pyhost: timeout: still running after 1 s", text)
        self.assertIn(b'function.py", line 4 in poll', text)
        self.assertEqual((records[-1]["status"], records[-1]["exit_code"]), ("timed_out", 124))

    def test_a_log_that_cannot_be_saved_stays_in_the_spool_until_replay_saves_it(self):
        with open(self.logs, "w") as f:
            f.write("a file where the logs directory should be\n")
        code, out, err = self.function(self.archive("obd-check.tar.gz"), "--runtime-id", "r6")
        self.assertEqual(code, 0)
        self.assertIn(f"pyhost: function: cannot save {self.state}/spool/r6_obd-check.jsonl to {self.logs}/".encode(),
                      err)
        self.assertIn(f"; it stays in {self.state}/spool and `pyhost replay` saves it\n".encode(), err)
        self.assertEqual(sorted(os.listdir(os.path.join(self.state, "spool"))),
                         ["r6_obd-check.jsonl", "r6_obd-check.log", "r6_obd-check.save"])
        os.unlink(self.logs)
        code, out, err = procs.run([PYHOST, "replay"], env=self.function_env(), cwd=self.tmp)
        self.assertEqual((code, out, err), (0, b"", b""))
        text, records = self.saved("r6_obd-check")
        self.assertTrue(text.startswith(b"cwd True\n"))
        self.assertEqual(records[-1]["status"], "finished")
        self.assertEqual(os.listdir(os.path.join(self.state, "spool")), [])

    def test_bad_requests_and_bad_configuration_are_clear_errors_before_anything_runs(self):
        archive = self.archive("obd-check.tar.gz")
        not_archive = self.write("notes.txt", "hello\n")
        no_entry = self.archive("empty.tar.gz", {"readme.txt": "no function here\n"})
        cases = [
            ((archive, "--runtime-id", "../x"), {},
             "pyhost: function: --runtime-id '../x' must be 1-128 letters, digits, '.', '_' or '-', "
             "not starting with '.'\n"),
            ((not_archive,), {},
             f"pyhost: {not_archive} is neither a directory nor an archive (.tar, .tar.gz, .tgz, .tar.xz, .gz, .zip)\n"),
            ((os.path.join(self.tmp, "missing.tar"),), {},
             f"pyhost: {self.tmp}/missing.tar: No such file or directory\n"),
            ((archive,), {"STORAGE_DRIVER": "ftp"},
             "pyhost: STORAGE_DRIVER=ftp: not a storage driver (local or s3)\n"),
            ((archive,), {"STORAGE_DRIVER": "s3"},
             f"pyhost: STORAGE_DRIVER=s3 needs LOGS_LOCATION=s3://BUCKET[/PREFIX], not {self.logs}\n"),
            (("--id", "x"), {},
             "pyhost: function: --id x needs FUNCTIONS_LOCATION (a directory or s3://bucket/prefix)\n"),
        ]
        for args, extra, message in cases:
            with self.subTest(args=args, env=extra):
                code, out, err = self.function(*args, env=self.function_env(**extra))
                self.assertEqual((code, out, err.decode()), (2, b"", message))
        code, out, err = self.function(no_entry)
        self.assertEqual((code, out), (2, b""))
        self.assertIn(b"no function.py at the archive's root or in its single top-level folder", err)
        self.assertEqual(self.run_directories(), [])
        self.assertFalse(os.path.exists(self.logs))

    def test_an_archive_that_reaches_outside_is_refused_naming_the_entry(self):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            for name, data in [("evil/function.py", b"print('ran')\n"), ("evil/../../escaped.txt", b"x\n")]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        path = os.path.join(self.tmp, "evil.tar.gz")
        with open(path, "wb") as f:
            f.write(out.getvalue())
        before = sorted(os.listdir(self.tmp))
        code, out, err = self.function(path)
        self.assertEqual((code, out), (2, b""))
        self.assertEqual(err.decode(), f"pyhost: archive '{path}': entry 'evil/../../escaped.txt': a '..' component\n")
        self.assertEqual(self.run_directories(), [])
        self.assertEqual(sorted(os.listdir(self.tmp)), sorted(set(before) | {"executor"}))
        self.assertFalse(os.path.exists(os.path.join(self.executor, "escaped.txt")))

    def test_sigterm_to_pyhost_reaches_the_function_and_its_log_says_stopped(self):
        archive = self.archive("waits.tar.gz", {"function.py": textwrap.dedent("""
            import time
            print("ready", flush=True)
            time.sleep(3600)
            """)})
        code, out, err = procs.run([PYHOST, "function", archive, "--runtime-id", "r8"], env=self.function_env(),
                                   cwd=self.tmp, send_signal=signal.SIGTERM,
                                   watch_pid=lambda proc: procs.descendant(proc.pid, 1))
        self.assertEqual((code, out), (128 + signal.SIGTERM, b"ready\n"), err)
        text, records = self.saved("r8_waits")
        self.assertEqual(text, b"ready\n")
        self.assertEqual((records[-1]["status"], records[-1]["signal"]), ("stopped", "SIGTERM"))

    def test_a_runtime_id_cannot_be_used_twice(self):
        archive = self.archive("obd-check.tar.gz")
        self.assertEqual(self.function(archive, "--runtime-id", "r7", "--keep")[0], 0)
        code, out, err = self.function(archive, "--runtime-id", "r7")
        self.assertEqual((code, out), (2, b""))
        self.assertIn(b"(runtime id r7 was used before)", err)


if __name__ == "__main__":
    import unittest
    unittest.main()
