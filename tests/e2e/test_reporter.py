"""The reporter: records and status reach the sinks, durably, whatever the sinks do."""
import ctypes
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

from pyhost_test import PYHOST, PyhostTestCase, procs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import receivers  # noqa: E402

LEAN_CURL = "libpyhost-curl.so.4"  # host/reporter/curl_api.hpp: HTTP and HTTPS
LEAN_HTTP_CURL = "libpyhost-curl-http.so.4"  # plain HTTP only


def journal_records(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f]


class ReporterTestCase(PyhostTestCase):
    def setUp(self):
        super().setUp()
        self.journal = os.path.join(self.tmp, "run.jsonl")

    def receiver(self, kind, *args, **kwargs):
        receiver = kind(*args, **kwargs)
        self.addCleanup(receiver.stop)
        return receiver

    def run_shipped(self, source, sinks, *, extra_env=None, args=(), pyhost=PYHOST, **kwargs):
        script = self.write("program.py", textwrap.dedent(source))
        settings = {"PYHOST_LOG_FILE": self.journal, "PYHOST_RUN_ID": "run-1", "PYHOST_SINKS": ",".join(sinks)}
        settings.update(extra_env or {})
        env = self.env(**settings)
        return procs.run([pyhost, script, *args], env=env, cwd=self.tmp, **kwargs)

    def assert_delivered_everything(self, collector):
        expected = journal_records(self.journal)
        self.assertEqual(collector.unique(), expected)
        self.assertEqual(collector.violations, [])


def reserves_past_end(directory):
    """Whether this file system reserves blocks past the end of a file (fallocate with
    FALLOC_FL_KEEP_SIZE: ext4, xfs and tmpfs do), as capture does ahead of a growing journal."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    fd, path = tempfile.mkstemp(dir=directory)
    try:
        return libc.fallocate(fd, 1, 0, 1 << 20) == 0  # 1: FALLOC_FL_KEEP_SIZE
    finally:
        os.close(fd)
        os.unlink(path)


def fnv1a_hex(data):
    """The journal fingerprint of host/reporter/cursor_store.hpp: FNV-1a, 64 bits, in hex."""
    value = 0xcbf29ce484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


class JsonLinesTests(ReporterTestCase):
    PROGRAM = """
        import logging, sys
        logging.basicConfig(level=logging.INFO)
        for i in range(25000):
            print("line", i)
        logging.getLogger("app").warning("done", extra={"n": 1})
        """

    def test_every_record_reaches_the_sink_zstd_compressed_with_credentials(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        code, out, err = self.run_shipped(self.PROGRAM, [collector.url("jsonl+http", "/ingest", "user:s3cret@")])
        self.assertEqual((code, err), (0, b"WARNING:app:done\n"))
        self.assert_delivered_everything(collector)
        records = collector.unique()
        self.assertEqual(records[0]["status"], "running")
        self.assertEqual(records[-1]["status"], "finished")  # the final status is the last thing sent
        path, headers, _ = collector.requests[0]
        self.assertEqual(path, "/ingest")
        self.assertEqual({h["Content-Encoding"] for _, h, _ in collector.requests}, {"zstd"})
        self.assertEqual(headers["Authorization"], "Basic dXNlcjpzM2NyZXQ=")
        # pyhost's own protocol bounds batches by bytes (full at 2 MiB, at most 4 MiB read):
        # about 3.7 MB of journal goes out as at least two.
        self.assertGreaterEqual(len(collector.requests), 2)
        self.assertLessEqual(max(len(body) for _, _, body in collector.requests), 4 << 20)
        self.assertEqual(len(set(collector.peers)), 1)  # one connection, reused for every batch

    def test_a_journal_created_anew_at_a_delivered_path_is_delivered_from_its_beginning(self):
        # The journal (and its console log) removed, as log rotation does, and its .cursors
        # left beside it: the next run's journal at that path is a new one, however alike.
        # Each run's journal here is exactly as long as the first, so an offset carried over
        # would have marked all of it delivered.
        collector = self.receiver(receivers.JsonLinesCollector)
        program = "for i in range(2000):\n    print('line', i)\n"
        for run_id in ("run-1", "run-2"):
            for stale in (self.journal, self.journal[:-len(".jsonl")] + ".log"):
                if os.path.exists(stale):
                    os.unlink(stale)
            code, _, err = self.run_shipped(program, [collector.url("jsonl+http", "/")],
                                            extra_env={"PYHOST_RUN_ID": run_id})
            self.assertEqual((code, err), (0, b""))
            self.assertTrue(os.path.exists(self.journal + ".cursors"))
            delivered = [r for r in collector.unique() if r["run_id"] == run_id]
            self.assertEqual(delivered, journal_records(self.journal))
            self.assertEqual(len(delivered), 2002)

    def test_a_journal_truncated_in_place_goes_on_being_delivered(self):
        # logrotate's copytruncate empties the file while the run goes on appending: what is
        # written after the cut starts below the sink's cursor and must still be delivered.
        collector = self.receiver(receivers.JsonLinesCollector)
        go_on = os.path.join(self.tmp, "go-on")
        script = self.write("program.py", textwrap.dedent(f"""
            import os, time
            for i in range(300):
                print("before", i, flush=True)
            while not os.path.exists({go_on!r}):
                time.sleep(0.05)
            for i in range(5):
                print("after", i, flush=True)
            """))
        env = self.env(PYHOST_LOG_FILE=self.journal, PYHOST_RUN_ID="run-1", PYHOST_SINKS=collector.url("jsonl+http", "/"))
        process = subprocess.Popen([PYHOST, script], env=env, cwd=self.tmp, stdout=subprocess.DEVNULL)
        self.addCleanup(process.kill)
        deadline = time.monotonic() + 20
        while len([r for r in collector.unique() if r["message"].startswith("before")]) < 300:
            self.assertLess(time.monotonic(), deadline, "the lines before the cut were not delivered")
            time.sleep(0.05)
        os.truncate(self.journal, 0)
        open(go_on, "w").close()
        self.assertEqual(process.wait(timeout=30), 0)
        messages = [r["message"] for r in collector.unique()]
        self.assertEqual([m for m in messages if m.startswith("after")], [f"after {i}" for i in range(5)])
        self.assertEqual(collector.unique()[-1]["status"], "finished")
        # The cursors name the journal as it now begins, delivered to its end: a replay or the
        # next run takes them as they are.
        with open(self.journal + ".cursors") as f:
            cursors = json.load(f)
        with open(self.journal, "rb") as f:
            journal = f.read()
        self.assertEqual(cursors["journal"], fnv1a_hex(journal[:128].split(b"\n")[0]))
        self.assertEqual(list(cursors["sinks"].values()), [len(journal)])

    def test_a_full_batch_goes_out_as_soon_as_it_is_written(self):
        # 10,000 records of about 280 bytes, written within milliseconds of the start: the
        # first 2 MiB of them are a full batch of pyhost's own protocol. Left to its age (1 s
        # from the running status) it would arrive about a second after its last line; the
        # journal's writer wakes the shipper for it instead.
        collector = self.receiver(receivers.JsonLinesCollector)
        script = self.write("program.py", "import sys, time\n"
                                          "for i in range(9999): sys.stdout.write(f'line {i} ' + 'x' * 150 + '\\n')\n"
                                          "sys.stdout.flush()\ntime.sleep(3)\n")
        env = self.env(PYHOST_LOG_FILE=self.journal, PYHOST_RUN_ID="run-1",
                       PYHOST_SINKS=collector.url("jsonl+http", "/"))
        process = subprocess.Popen([PYHOST, script], env=env, cwd=self.tmp, stdout=subprocess.DEVNULL)
        self.addCleanup(process.kill)
        deadline = time.monotonic() + 10
        while not collector.requests and time.monotonic() < deadline:
            time.sleep(0.005)
        arrived = time.time()
        self.assertTrue(collector.requests)
        self.assertIsNone(process.poll())  # still sleeping: shipped during the run, not by the drain
        _, _, body = collector.requests[0]
        self.assertGreaterEqual(len(body), 2 << 20)  # full
        last_line = json.loads(body.splitlines()[-1])
        self.assertTrue(last_line["message"].startswith("line "))
        written = datetime.datetime.fromisoformat(last_line["ts"].replace("Z", "+00:00")).timestamp()
        self.assertLess(arrived - written, 0.5)
        self.assertEqual(process.wait(timeout=30), 0)
        self.assert_delivered_everything(collector)

    def test_a_receiver_without_zstd_gets_what_its_415_asks_for_and_loses_nothing(self):
        for codings, sent in ((["gzip"], "gzip"), (["identity"], None)):
            with self.subTest(accepts=codings):
                for leftover in (self.journal, self.journal + ".cursors", self.journal[:-len(".jsonl")] + ".log"):
                    if os.path.exists(leftover):
                        os.unlink(leftover)
                collector = self.receiver(receivers.JsonLinesCollector)
                collector.codings = codings
                code, out, err = self.run_shipped(self.PROGRAM, [collector.url("jsonl+http", "/ingest")],
                                                  extra_env={"PYHOST_LOG_LEVEL": "warning"})
                self.assertEqual(code, 0)
                self.assert_delivered_everything(collector)
                # Negotiated once, by the first batch; every later batch starts in the coding taken.
                self.assertEqual(collector.refused_codings, ["zstd"])
                self.assertEqual({h.get("Content-Encoding") for _, h, _ in collector.requests}, {sent})
                self.assertIn(b"does not take zstd bodies (HTTP 415", err)

    def test_a_receiver_that_takes_no_body_at_all_is_a_rejected_batch_not_a_loop(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.codings = ["br"]  # identity refused too: nothing pyhost can send
        code, out, err = self.run_shipped("print('x')\n", [collector.url("jsonl+http", "/ingest")])
        self.assertEqual(code, 0)
        self.assertEqual(collector.requests, [])
        # zstd, then identity (Accept-Encoding: br does not refuse it), which later batches start with.
        self.assertEqual(collector.refused_codings[:2], ["zstd", "identity"])
        self.assertEqual(set(collector.refused_codings[1:]), {"identity"})
        self.assertIn(b"rejected a batch", err)

    def test_bearer_token_and_secrets_stay_secret(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        program = "import os\nprint(sorted(k for k in os.environ if 'PYHOST' in k or 'tok3n' in os.environ[k]))\n"
        sink = collector.url("jsonl+http", "/x", ":tok3n@")
        code, out, err = self.run_shipped(program, [sink], extra_env={"PYHOST_LOG_LEVEL": "debug"})
        self.assertEqual((code, out), (0, b"[]\n"))
        self.assertEqual(collector.requests[0][1]["Authorization"], "Bearer tok3n")
        self.assertNotIn(b"tok3n", err)
        with open(self.journal, "rb") as f:
            self.assertNotIn(b"tok3n", f.read())

    def test_a_bad_sink_is_a_clear_error_that_does_not_leak_its_secret(self):
        for sink, message in (("kafka+http://u:pw@h:1/x", b"unknown kind 'kafka'"),
                              ("jsonl+ftp://u:pw@h:1/x", b"transport must be http or https"),
                              ("jsonl+http://u:pw@:1/x", b"no host")):
            with self.subTest(sink=sink):
                code, out, err = self.run_shipped("print('never runs')", [sink])
                self.assertEqual((code, out), (2, b""))
                self.assertIn(message, err)
                self.assertNotIn(b"pw", err)


class FaultTests(ReporterTestCase):
    def test_500s_then_200_deliver_everything_once_deduplicated(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.responses = [500, 503, 500]
        code, _, err = self.run_shipped("for i in range(100): print(i)\n", [collector.url("jsonl+http", "/")],
                                        extra_env={"PYHOST_LOG_LEVEL": "warning"})
        self.assertEqual(code, 0)
        self.assert_delivered_everything(collector)
        self.assertEqual(len(collector.requests), 4)
        self.assertIn(b"HTTP 500", err)

    def test_429_with_retry_after_is_honoured(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.responses = [429]
        collector.retry_after = 2
        started = time.monotonic()
        code, _, _ = self.run_shipped("print('x')\n", [collector.url("jsonl+http", "/")])
        self.assertEqual(code, 0)
        self.assertGreaterEqual(time.monotonic() - started, 2.0)
        self.assert_delivered_everything(collector)

    def test_a_400_rejects_one_batch_for_good_and_the_rest_goes_through(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.responses = [400]
        program = "import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')\n"
        code, _, err = self.run_shipped(program, [collector.url("jsonl+http", "/")])
        self.assertEqual(code, 0)
        self.assertIn(b"rejected a batch", err)
        self.assertIn(b"HTTP 400", err)
        # The rejected batch was not retried: one request for it, then the rest.
        delivered = [r["message"] for r in collector.unique()]
        self.assertNotIn("first", delivered)
        self.assertIn("second", delivered)
        self.assertEqual(delivered[-1], "finished")
        # The rejection is in the journal too, as pyhost's own note (and reached the sink).
        notes = [r for r in journal_records(self.journal) if r["stream"] == "host"]
        self.assertEqual(len(notes), 1)
        self.assertIn("rejected a batch", notes[0]["message"])
        self.assertIn(notes[0], collector.unique())

    def test_sink_down_for_30_seconds_then_back_loses_nothing(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        port = collector.port
        program = """
            import time
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < 36:
                print("tick", i, flush=True)
                i += 1
                time.sleep(0.01)
            """

        def outage():
            time.sleep(3)
            collector.stop()
            time.sleep(30)
            collector.start()

        thread = threading.Thread(target=outage)
        thread.start()
        code, out, _ = self.run_shipped(program, [collector.url("jsonl+http", "/")], timeout=120)
        thread.join()
        self.assertEqual(collector.port, port)
        self.assertEqual(code, 0)
        self.assert_delivered_everything(collector)
        ticks = [r["message"] for r in collector.unique() if r["stream"] == "stdout"]
        self.assertEqual(ticks, out.decode().splitlines())
        self.assertGreater(len(ticks), 1500)

    def test_drain_deadline_then_replay_ships_the_rest(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.stop()  # down for the whole run
        started = time.monotonic()
        code, _, err = self.run_shipped("for i in range(10): print(i)\n", [collector.url("jsonl+http", "/")],
                                        extra_env={"PYHOST_DRAIN_TIMEOUT": "1"})
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - started, 8)
        self.assertIn(f"pyhost replay {self.journal}".encode(), err)
        collector.start()
        env = self.env(PYHOST_SINKS=collector.url("jsonl+http", "/"))
        replay = subprocess.run([PYHOST, "replay", self.journal], env=env, capture_output=True, timeout=60)
        self.assertEqual((replay.returncode, replay.stderr), (0, b""))
        self.assert_delivered_everything(collector)
        # Replayed once more: nothing left to send.
        before = len(collector.requests)
        replay = subprocess.run([PYHOST, "replay", self.journal], env=env, capture_output=True, timeout=60)
        self.assertEqual(replay.returncode, 0)
        self.assertEqual(len(collector.requests), before)

    def test_sigterm_mid_run_delivers_the_stopped_status(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        program = "import time\nprint('working')\nprint('ready', flush=True); time.sleep(30)\n"
        code, _, _ = self.run_shipped(program, [collector.url("jsonl+http", "/")], send_signal=signal.SIGTERM)
        self.assertEqual(code, -signal.SIGTERM)
        self.assert_delivered_everything(collector)
        final = collector.unique()[-1]
        self.assertEqual((final["status"], final["signal"]), ("stopped", "SIGTERM"))

    def test_sigkill_mid_run_then_replay_loses_nothing_that_reached_the_journal(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.stop()  # nothing gets out before the kill
        # The kill comes a moment after the program flushed: time for the capture thread to write
        # the lines to the journal (it does within milliseconds). Some 3 MB of them: past the
        # point where the journal's disk blocks are reserved ahead of it.
        program = ("import time\nfor i in range(10000): print('before kill', i, 'x' * 150)\n"
                   "print('ready', flush=True); time.sleep(30)\n")
        code, _, _ = self.run_shipped(program, [collector.url("jsonl+http", "/")], send_signal=signal.SIGKILL,
                                      signal_delay=0.5)
        self.assertEqual(code, -signal.SIGKILL)
        in_journal = journal_records(self.journal)
        self.assertEqual([r["message"] for r in in_journal if r["stream"] == "stdout"],
                         [f"before kill {i} {'x' * 150}" for i in range(10000)] + ["ready"])
        killed = os.stat(self.journal)
        if reserves_past_end(self.tmp):  # the killed run left its reservation behind
            self.assertGreater(killed.st_blocks * 512, killed.st_size + (1 << 20))
        collector.start()
        env = self.env(PYHOST_SINKS=collector.url("jsonl+http", "/"))
        replay = subprocess.run([PYHOST, "replay", self.journal], env=env, capture_output=True, timeout=60)
        self.assertEqual(replay.returncode, 0, replay.stderr)
        self.assertEqual(collector.unique(), in_journal)
        replayed = os.stat(self.journal)  # the replay, holding the journal, gave the blocks back
        self.assertEqual(replayed.st_size, killed.st_size)
        self.assertLess(replayed.st_blocks * 512, replayed.st_size + 64 * 1024)

    def pyhost_copy(self, lean_curl=None):
        """A copy of pyhost in a directory of its own, with `lean_curl` (bytes) as the
        libpyhost-curl.so.4 beside it, or none."""
        directory = os.path.join(self.tmp, "bin")
        os.makedirs(directory, exist_ok=True)
        copy = os.path.join(directory, "pyhost")
        shutil.copy2(PYHOST, copy)
        if lean_curl is not None:
            with open(os.path.join(directory, LEAN_CURL), "wb") as f:
                f.write(lean_curl)
        return copy

    def test_a_libcurl_that_cannot_load_is_a_clear_error_and_replay_ships_later(self):
        # Each shipper loads libcurl on its own thread, after the program has started: a
        # failure there must still be said, leave the run alone, and lose nothing. Neither
        # libcurl loads here: the lean one beside pyhost is not a library (said, and Debian's
        # tried next), and the libcurl.so.4 found first is not one either.
        collector = self.receiver(receivers.JsonLinesCollector)
        broken = os.path.join(self.tmp, "lib")
        os.mkdir(broken)
        open(os.path.join(broken, "libcurl.so.4"), "wb").close()  # found first, and not a library
        pyhost = self.pyhost_copy(lean_curl=b"")
        code, out, err = self.run_shipped("print('hello')\n", [collector.url("jsonl+http", "/", "user:s3cret@")],
                                          extra_env={"LD_LIBRARY_PATH": broken}, pyhost=pyhost)
        self.assertEqual((code, out), (0, b"hello\n"))
        self.assertIn(b"cannot load libcurl.so.4", err)
        self.assertIn(f"nor {os.path.dirname(pyhost)}/{LEAN_CURL}: ".encode(), err)
        self.assertIn(f"nothing is shipped to it: `pyhost replay {self.journal}` ships it later".encode(), err)
        self.assertNotIn(b"s3cret", err)
        self.assertNotIn(b"not delivered within", err)  # said once, as what it is
        self.assertEqual(collector.requests, [])
        self.assertEqual(journal_records(self.journal)[-1]["status"], "finished")
        env = self.env(PYHOST_SINKS=collector.url("jsonl+http", "/", "user:s3cret@"))
        replay = subprocess.run([PYHOST, "replay", self.journal], env=env, capture_output=True, timeout=60)
        self.assertEqual((replay.returncode, replay.stderr), (0, b""))
        self.assert_delivered_everything(collector)
        # Nothing is left to ship: a replay that cannot load libcurl has nothing undelivered.
        replay = subprocess.run([pyhost, "replay", self.journal], env=dict(env, LD_LIBRARY_PATH=broken),
                                capture_output=True, timeout=60)
        self.assertEqual(replay.returncode, 0, replay.stderr)

    LOADED_CURL = """
        import time
        for _ in range(500):  # the shipper loads it on its own thread, soon after the start
            names = {line.split()[-1].rsplit("/", 1)[-1] for line in open("/proc/self/maps") if ".so" in line}
            curl = sorted(name for name in names if "curl" in name)
            if curl:
                break
            time.sleep(0.01)
        print(curl)
        """
    LOADED_SSL = """
        print("ssl:", any("libssl.so" in line for line in open("/proc/self/maps")))
        """

    def test_the_lean_libcurl_beside_pyhost_is_loaded_else_debians(self):
        # The build puts the lean libcurls (cmake/build_lean_curl.sh) beside pyhost when it
        # could build them: for an http:// sink, the one without TLS, which needs the C library
        # alone; neither OpenSSL nor Debian's libcurl.so.4 is loaded.
        collector = self.receiver(receivers.JsonLinesCollector)
        beside = os.path.exists(os.path.join(os.path.dirname(PYHOST), LEAN_HTTP_CURL))
        code, out, err = self.run_shipped(self.LOADED_CURL + self.LOADED_SSL, [collector.url("jsonl+http", "/")])
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(out.decode().splitlines(),
                         [repr([LEAN_HTTP_CURL]), "ssl: False"] if beside else [repr(["libcurl.so.4.8.0"]), "ssl: True"])
        self.assert_delivered_everything(collector)
        if beside:
            # Installed as the Dockerfile installs them: lib/pyhost/ beside pyhost's bin/.
            installed = os.path.join(self.tmp, "lib", "pyhost")
            os.makedirs(installed)
            for name in (LEAN_CURL, LEAN_HTTP_CURL):
                shutil.copy2(os.path.join(os.path.dirname(PYHOST), name), installed)
            collector = self.receiver(receivers.JsonLinesCollector)
            self.journal = os.path.join(self.tmp, "installed.jsonl")
            code, out, err = self.run_shipped(self.LOADED_CURL, [collector.url("jsonl+http", "/")],
                                              pyhost=self.pyhost_copy())
            self.assertEqual((code, out, err), (0, repr([LEAN_HTTP_CURL]).encode() + b"\n", b""))
            self.assert_delivered_everything(collector)
            for name in (LEAN_CURL, LEAN_HTTP_CURL):
                os.unlink(os.path.join(installed, name))
        # Without them, Debian's, and everything is delivered all the same.
        collector = self.receiver(receivers.JsonLinesCollector)
        self.journal = os.path.join(self.tmp, "without.jsonl")
        code, out, err = self.run_shipped(self.LOADED_CURL, [collector.url("jsonl+http", "/")],
                                          pyhost=self.pyhost_copy())
        self.assertEqual((code, out, err), (0, b"['libcurl.so.4.8.0']\n", b""))
        self.assert_delivered_everything(collector)

    def test_an_https_proxy_in_the_environment_gets_the_libcurl_with_tls(self):
        # libcurl reaches an https:// proxy over TLS whatever the sink's scheme. The proxy here
        # accepts nothing: what matters is which library the shipper loaded for it.
        collector = self.receiver(receivers.JsonLinesCollector)
        beside = os.path.exists(os.path.join(os.path.dirname(PYHOST), LEAN_CURL))
        code, out, _ = self.run_shipped(self.LOADED_CURL, [collector.url("jsonl+http", "/")],
                                        extra_env={"HTTPS_PROXY": "https://127.0.0.1:9", "PYHOST_DRAIN_TIMEOUT": "1",
                                                   "NO_PROXY": ""})
        self.assertEqual((code, out), (0, repr([LEAN_CURL if beside else "libcurl.so.4.8.0"]).encode() + b"\n"))

    def test_one_dead_sink_does_not_hold_back_another(self):
        alive = self.receiver(receivers.JsonLinesCollector)
        dead = self.receiver(receivers.JsonLinesCollector)
        dead.stop()
        program = "import time\nfor i in range(20):\n    print(i, flush=True)\n    time.sleep(0.1)\n"
        code, _, _ = self.run_shipped(program, [dead.url("jsonl+http", "/"), alive.url("jsonl+http", "/")],
                                      extra_env={"PYHOST_DRAIN_TIMEOUT": "1"})
        self.assertEqual(code, 0)
        self.assert_delivered_everything(alive)
        # Batches went out while the program ran (age 1 s), not only at the end.
        self.assertGreaterEqual(len(alive.requests), 2)


class StateDirectoryTests(ReporterTestCase):
    def test_the_next_run_ships_what_an_earlier_run_left_behind(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        collector.stop()
        state = os.path.join(self.tmp, "state")
        env = self.env(PYHOST_STATE_DIR=state, PYHOST_SINKS=collector.url("jsonl+http", "/"),
                       PYHOST_DRAIN_TIMEOUT="0.5")
        first = subprocess.run([PYHOST, "-c", "print('first run')"], env=env, capture_output=True, timeout=60)
        self.assertEqual(first.returncode, 0)
        self.assertIn(b"not delivered", first.stderr)
        collector.start()
        second = subprocess.run([PYHOST, "-c", "print('second run')"], env=env, capture_output=True, timeout=60)
        self.assertEqual((second.returncode, second.stderr), (0, b""))
        runs = os.path.join(state, "runs")
        journals = sorted(os.path.join(runs, name) for name in os.listdir(runs) if name.endswith(".jsonl"))
        self.assertEqual(len(journals), 2)
        expected = sorted((r["run_id"], r["seq"]) for path in journals for r in journal_records(path))
        self.assertEqual(sorted((r["run_id"], r["seq"]) for r in collector.unique()), expected)
        printed = {r["message"] for r in collector.unique() if r["stream"] == "stdout"}
        self.assertEqual(printed, {"first run", "second run"})

    def test_replay_refuses_a_journal_a_live_run_is_writing(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        program = "import time\nprint('ready', flush=True); time.sleep(30)\n"
        script = self.write("program.py", program)
        env = self.env(PYHOST_LOG_FILE=self.journal, PYHOST_SINKS=collector.url("jsonl+http", "/"))
        proc = subprocess.Popen([PYHOST, script], env=env, stdout=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
            replay = subprocess.run([PYHOST, "replay", self.journal], env=env, capture_output=True, timeout=60)
            self.assertEqual(replay.returncode, 1)
            self.assertIn(b"in use by a running pyhost", replay.stderr)
        finally:
            proc.kill()
            proc.wait()


class TlsTests(ReporterTestCase):
    def certificate(self, name="server"):
        cert, key = os.path.join(self.tmp, f"{name}-cert.pem"), os.path.join(self.tmp, f"{name}-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        return cert, key

    def test_tls_is_verified_by_default_and_a_ca_bundle_can_be_given(self):
        cert, key = self.certificate()
        collector = self.receiver(receivers.JsonLinesCollector, tls=(cert, key))
        sink = collector.url("jsonl+https", "/")
        code, _, err = self.run_shipped("print('over tls')\n", [sink], extra_env={"PYHOST_DRAIN_TIMEOUT": "1"})
        self.assertEqual(code, 0)
        self.assertEqual(collector.unique(), [])  # an unknown certificate is not trusted
        self.assertIn(b"not delivered", err)
        code, _, err = self.run_shipped("print('over tls')\n", [sink], extra_env={"PYHOST_CA_BUNDLE": cert})
        self.assertEqual((code, err), (0, b""))
        self.assertIn("over tls", [r["message"] for r in collector.unique()])

    def test_a_client_certificate_is_presented_when_the_receiver_requires_one(self):
        cert, key = self.certificate()
        client_cert, client_key = self.certificate("client")  # self-signed: its own CA
        collector = self.receiver(receivers.JsonLinesCollector, tls=(cert, key), client_ca=client_cert)
        sink = collector.url("jsonl+https", "/")
        code, _, err = self.run_shipped("print('mutual')\n", [sink],
                                        extra_env={"PYHOST_CA_BUNDLE": cert, "PYHOST_DRAIN_TIMEOUT": "1"})
        self.assertEqual(code, 0)
        self.assertEqual(collector.unique(), [])  # no certificate, no delivery
        self.assertIn(b"not delivered", err)
        code, _, err = self.run_shipped("print('mutual')\n", [sink],
                                        extra_env={"PYHOST_CA_BUNDLE": cert, "PYHOST_CLIENT_CERT": client_cert,
                                                   "PYHOST_CLIENT_KEY": client_key})
        self.assertEqual((code, err), (0, b""))
        self.assertIn("mutual", [r["message"] for r in collector.unique()])


class ForkTests(ReporterTestCase):
    def test_a_forked_child_ending_with_sys_exit_leaves_shipping_to_the_parent(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        program = """
            import os, sys
            print("parent", flush=True)
            pid = os.fork()
            if pid == 0:
                print("child", flush=True)
                sys.exit(3)  # the full exit path, in a process without the shipper threads
            _, status = os.waitpid(pid, 0)
            print("child status", os.waitstatus_to_exitcode(status))
            """
        extra = {}
        if "ASAN_OPTIONS" in os.environ:
            # LeakSanitizer cannot check a child forked from a multithreaded process: it finds the
            # parent's threads in its registry but not in the child and reports false leaks
            # ("Running thread ... was not suspended"). The leak check stays on in every other test.
            extra["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
        code, out, err = self.run_shipped(program, [collector.url("jsonl+http", "/")], extra_env=extra)
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(out, b"parent\nchild\nchild status 3\n")
        self.assert_delivered_everything(collector)
        lines = [r["message"] for r in collector.unique() if r["stream"] in ("stdout", "native")]
        self.assertEqual(lines, ["parent", "child", "child status 3"])


class HeartbeatTests(ReporterTestCase):
    def test_heartbeats_carry_cpu_time_and_rss(self):
        collector = self.receiver(receivers.JsonLinesCollector)
        # 64 MiB held and 0.4 s of CPU spent before the last beats: their figures must show both.
        program = ("import time\nheld = b'x' * (64 << 20)\nstart = time.process_time()\n"
                   "while time.process_time() - start < 0.4:\n    pass\ntime.sleep(1.2)\n")
        code, _, _ = self.run_shipped(program, [collector.url("jsonl+http", "/")], extra_env={"PYHOST_HEARTBEAT": "0.3"})
        self.assertEqual(code, 0)
        beats = [r for r in collector.unique() if r.get("heartbeat")]
        self.assertGreaterEqual(len(beats), 2)
        for beat in beats:
            self.assertEqual(beat["status"], "running")
            self.assertGreater(beat["rss_kib"], 1000)
            self.assertGreaterEqual(beat["cpu_s"], 0)
        self.assertGreaterEqual(beats[-1]["cpu_s"], 0.4)
        self.assertGreater(beats[-1]["rss_kib"], 64 * 1024)


class FormatTests(ReporterTestCase):
    PROGRAM = """
        import logging
        logging.basicConfig(level=logging.DEBUG)
        print("to stdout")
        log = logging.getLogger("app")
        log.debug("dbg")
        log.info("info %d", 1, extra={"user": "ada", "tags": {"k": "v"}})
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("boom")
        raise SystemExit(3)
        """

    def test_loki_push_api(self):
        loki = self.receiver(receivers.LokiReceiver)
        code, _, _ = self.run_shipped(self.PROGRAM, [loki.url("loki+http", "", "tenant:key@")],
                                      extra_env={"PYHOST_SERVICE_NAME": "svc"})
        self.assertEqual(code, 3)
        self.assertEqual(loki.violations, [])
        self.assertTrue(all(headers["Authorization"].startswith("Basic ") for _, headers, _ in loki.requests))
        self.assertEqual({headers["Content-Encoding"] for _, headers, _ in loki.requests}, {"gzip"})
        journal = journal_records(self.journal)
        self.assertEqual(len(loki.entries), len(journal))
        for (labels, ns, line), record in zip(sorted(loki.entries, key=lambda e: json.loads(e[2])["seq"]), journal):
            self.assertEqual(json.loads(line), record)  # every structured field kept
            self.assertEqual(labels, {"service_name": "svc", "run_id": "run-1", "stream": record["stream"],
                                      "level": record["level"]})
        levels = {(labels["stream"], labels["level"]) for labels, _, _ in loki.entries}
        self.assertIn(("log", "DEBUG"), levels)
        self.assertIn(("stdout", "INFO"), levels)

    def test_otlp_http_logs_json(self):
        otlp = self.receiver(receivers.OtlpReceiver)
        code, _, _ = self.run_shipped(self.PROGRAM, [otlp.url("otlp+http")], extra_env={"PYHOST_SERVICE_NAME": "svc"})
        self.assertEqual(code, 3)
        self.assertEqual(otlp.violations, [])
        self.assertEqual({headers["Content-Encoding"] for _, headers, _ in otlp.requests}, {"gzip"})
        journal = journal_records(self.journal)
        self.assertEqual(len(otlp.records), len(journal))
        for resource, record in otlp.records:
            self.assertEqual(resource["service.name"], "svc")
            self.assertEqual(resource["pyhost.run_id"], "run-1")
        by_seq = {record["attributes"]["pyhost.seq"]: record for _, record in otlp.records}
        info = next(r for r in journal if r.get("message") == "info 1")
        got = by_seq[info["seq"]]
        self.assertEqual((got["severityText"], got["severityNumber"], got["body"]), ("INFO", 9, "info 1"))
        self.assertEqual(got["attributes"]["pyhost.extra.user"], "ada")
        self.assertEqual(got["attributes"]["logger.name"], "app")
        self.assertEqual(got["attributes"]["code.lineno"], info["line"])
        boom = by_seq[next(r for r in journal if r.get("message") == "boom")["seq"]]
        self.assertIn("ZeroDivisionError", boom["attributes"]["exception.stacktrace"])
        final = by_seq[journal[-1]["seq"]]
        self.assertEqual((final["attributes"]["pyhost.status"], final["attributes"]["pyhost.exit_code"]), ("failed", 3))


class SplightTests(ReporterTestCase):
    def test_component_logs_and_status_speak_the_splight_api(self):
        engine = self.receiver(receivers.SplightEngine, "access-1", "secret-1", "comp-42")
        env = {"SPLIGHT_PLATFORM_API_HOST": engine.url("http"), "SPLIGHT_ACCESS_ID": "access-1",
               "SPLIGHT_SECRET_KEY": "secret-1"}
        program = """
            import logging, os, sys
            print(sys.argv[1:], os.environ["SPLIGHT_ACCESS_ID"])
            logging.getLogger("component").warning("careful", extra={"tags": {"asset": "a1"}})
            try:
                {}["x"]
            except KeyError:
                logging.getLogger("component").exception("lookup")
            """
        code, out, err = self.run_shipped(program, [], extra_env=env, args=("--component-id=comp-42",))
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"['--component-id=comp-42'] access-1\n")  # Splight variables stay visible
        self.assertEqual(engine.violations, [])
        self.assertEqual(engine.statuses, ["Running", "Finished"])
        by_message = {r["message"]: r for r in engine.logs}
        self.assertEqual(by_message["careful"]["tags"], {"asset": "a1"})
        self.assertEqual((by_message["careful"]["loglevel"], by_message["careful"]["name"],
                          by_message["careful"]["filename"]), ("WARNING", "component", "program.py"))
        self.assertIn("KeyError", by_message["lookup"]["traceback"])
        self.assertEqual(by_message["['--component-id=comp-42'] access-1"]["name"], "stdout")
        self.assertNotIn(b"secret-1", err)

    def test_the_components_own_healthcheck_status_is_reported_on_change(self):
        # A stand-in for splight_lib (not packaged for Debian): the shape splight-runner hooks.
        package = os.path.join(self.tmp, "splight_lib")
        os.mkdir(package)
        with open(os.path.join(package, "__init__.py"), "w") as f:
            f.write("from . import execution\n")
        with open(os.path.join(package, "execution.py"), "w") as f:
            f.write(textwrap.dedent("""
                class ExecutionClient:
                    def __init__(self):
                        self.answers = iter([(True, "Running"), (True, "Running"), (False, "Stopped")])
                    def healthcheck(self):
                        return next(self.answers)
                """))
        engine = self.receiver(receivers.SplightEngine, "a", "s", "c7")
        env = {"SPLIGHT_PLATFORM_API_HOST": engine.url("http"), "SPLIGHT_ACCESS_ID": "a",
               "SPLIGHT_SECRET_KEY": "s", "COMPONENT_ID": "c7"}
        program = """
            from splight_lib.execution import ExecutionClient
            client = ExecutionClient()
            print([client.healthcheck() for _ in range(3)], ExecutionClient.healthcheck.__name__)
            """
        code, out, err = self.run_shipped(program, [], extra_env=env)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"[(True, 'Running'), (True, 'Running'), (False, 'Stopped')] healthcheck\n")
        # pyhost's Running, the component's Running (no change: not sent) and Stopped, then the run's end.
        self.assertEqual(engine.statuses, ["Running", "Stopped", "Finished"])
        self.assertEqual(engine.violations, [])

    def test_a_failing_component_reports_failed(self):
        engine = self.receiver(receivers.SplightEngine, "a", "s", "c1")
        env = {"SPLIGHT_PLATFORM_API_HOST": engine.url("http"), "SPLIGHT_ACCESS_ID": "a",
               "SPLIGHT_SECRET_KEY": "s", "COMPONENT_ID": "c1"}
        code, _, _ = self.run_shipped("raise RuntimeError('broken')\n", [], extra_env=env)
        self.assertEqual(code, 1)
        self.assertEqual(engine.statuses, ["Running", "Failed"])


if __name__ == "__main__":
    import unittest
    unittest.main()
