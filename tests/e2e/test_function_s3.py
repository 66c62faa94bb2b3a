"""pyhost function with STORAGE_DRIVER=s3: execution logs uploaded to, and functions fetched
from, a real S3 that checks signatures (moto_server), read back with the aws CLI."""
import datetime
import json
import os
import socket
import sys
import time
import unittest

from pyhost_test import PYHOST, procs
from test_function import FunctionTestCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import s3_server  # noqa: E402


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y/%m/%d")


class FunctionS3Tests(FunctionTestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = s3_server.S3Server(bucket="executor")

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def s3_env(self, **extra):
        return self.function_env(**{"STORAGE_DRIVER": "s3", "LOGS_LOCATION": "s3://executor/logs", **self.s3.env(),
                                    **extra})

    def read_back(self, key):
        """An object's bytes, fetched by the aws CLI (not by pyhost)."""
        path = os.path.join(self.tmp, "read-back")
        self.s3.aws("s3", "cp", f"s3://executor/{key}", path)
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        return data

    def spool(self):
        directory = os.path.join(self.state, "spool")
        return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

    def test_the_execution_log_is_uploaded_whatever_the_exit_status(self):
        archive = self.archive("obd-check.tar.gz")
        code, out, err = self.function(archive, "--runtime-id", "s1", env=self.s3_env(EXIT_WITH="5"))
        self.assertEqual(code, 5, err)
        text = self.read_back(f"logs/{today()}/s1_obd-check.log")
        self.assertEqual(text, out + err)  # all of stdout came first, then the stderr lines
        journal = [json.loads(line) for line in self.read_back(f"logs/{today()}/s1_obd-check.jsonl").splitlines()]
        self.assertEqual((journal[-1]["status"], journal[-1]["exit_code"]), ("failed", 5))
        self.assertEqual(self.spool(), [])

    def test_a_function_comes_from_the_s3_catalogue_by_id(self):
        archive = self.archive("obd-remote.tar.gz", {"obd-remote/function.py": "print('from s3')\n"})
        self.s3.aws("s3", "cp", archive, "s3://executor/obd-remote.tar.gz")
        env = self.s3_env(FUNCTIONS_LOCATION="s3://executor")
        code, out, err = self.function("--id", "obd-remote", "--runtime-id", "s2", env=env)
        self.assertEqual((code, out), (0, b"from s3\n"), err)
        self.assertEqual(self.read_back(f"logs/{today()}/s2_obd-remote.log"), b"from s3\n")
        self.assertEqual(os.listdir(os.path.join(self.executor, "downloads")), [])  # the download is gone
        code, out, err = self.function("--id", "nowhere", env=env)
        self.assertEqual((code, out, err), (2, b"", b"pyhost: function nowhere not found in "
                                                     b"FUNCTIONS_LOCATION=s3://executor\n"))

    def test_a_refused_upload_stays_in_the_spool_until_replay_uploads_it(self):
        archive = self.archive("obd-check.tar.gz")
        wrong = "not-the-secret-key-0123456789"
        code, out, err = self.function(archive, "--runtime-id", "s3", env=self.s3_env(AWS_SECRET_ACCESS_KEY=wrong))
        self.assertEqual(code, 0)  # the function's own status
        self.assertIn(b"SignatureDoesNotMatch", err)
        self.assertNotIn(wrong.encode(), err)
        self.assertIn(b"`pyhost replay` saves it", err)
        self.assertEqual(self.spool(), ["s3_obd-check.jsonl", "s3_obd-check.log", "s3_obd-check.save"])
        missing = self.s3.aws("s3api", "head-object", "--bucket", "executor",
                              "--key", f"logs/{today()}/s3_obd-check.log", check=False)
        self.assertIn(b"Not Found", missing.stderr)

        code, out, err = procs.run([PYHOST, "replay"], env=self.s3_env(), cwd=self.tmp)
        self.assertEqual((code, out, err), (0, b"", b""))
        self.assertTrue(self.read_back(f"logs/{today()}/s3_obd-check.log").startswith(b"cwd True\n"))
        self.assertEqual(self.spool(), [])

    def test_an_unreachable_store_is_retried_then_spooled(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
        started = time.monotonic()
        code, out, err = self.function(self.archive("obd-check.tar.gz"), "--runtime-id", "s4",
                                       env=self.s3_env(AWS_ENDPOINT_URL=closed))
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - started, 60)
        self.assertIn(b"cannot reach", err)
        self.assertEqual(self.spool(), ["s4_obd-check.jsonl", "s4_obd-check.log", "s4_obd-check.save"])

    def test_a_large_log_goes_up_in_parts(self):
        program = "import sys\nfor i in range(200_000):\n    sys.stdout.write(f'{i:07d} ' + 'x' * 52 + '\\n')\n"
        archive = self.archive("loud.tar.gz", {"function.py": program})
        env = self.s3_env(PYHOST_S3_MULTIPART_THRESHOLD=str(5 << 20), PYHOST_S3_PART_SIZE=str(5 << 20))
        code, out, err = self.function(archive, "--runtime-id", "s5", env=env)
        self.assertEqual((code, err), (0, b""))
        self.assertEqual(len(out), 200_000 * 61)
        self.assertEqual(self.read_back(f"logs/{today()}/s5_loud.log"), out)
        head = json.loads(self.s3.aws("s3api", "head-object", "--bucket", "executor",
                                      "--key", f"logs/{today()}/s5_loud.log"))
        self.assertTrue(head["ETag"].strip('"').endswith("-3"), head["ETag"])  # 12.2 MB in 5 MiB parts

    def test_s3_storage_without_credentials_is_an_error_before_the_run(self):
        env = self.s3_env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
        code, out, err = self.function(self.archive("obd-check.tar.gz"), env=env)
        self.assertEqual((code, out), (2, b""))
        self.assertIn(b"AWS_ACCESS_KEY_ID", err)
        self.assertEqual(self.run_directories(), [])


if __name__ == "__main__":
    unittest.main()
