"""pyhost's S3 client (host/storage/) against a real S3 that checks signatures (moto_server),
driven through tests/tools/s3_tool ($PYHOST_S3_TOOL) and read back with the real aws CLI."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import s3_server  # noqa: E402

S3_TOOL = os.path.abspath(os.environ.get("PYHOST_S3_TOOL", "build/dev/tests/s3_tool"))
MIB = 1024 * 1024
PAGE = 5  # moto's page size for listings in this module (MOTO_S3_DEFAULT_MAX_KEYS)


def random_file(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    return path


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


SERVER = None


def setUpModule():
    # One server for the module (set-up takes a few seconds of aws CLI calls); every test uses
    # keys of its own.
    global SERVER
    SERVER = s3_server.S3Server(default_max_keys=PAGE)


def tearDownModule():
    SERVER.stop()


class S3TestCase(unittest.TestCase):
    @property
    def s3(self):
        return SERVER

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pyhost-s3-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def url(self, key, bucket=None):
        return f"s3://{bucket or self.s3.bucket}/{key}"

    def tool(self, *args, timeout=120, **env):
        """Runs s3_tool with the server's environment plus `env`; returns (code, stdout, stderr)."""
        environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.tmp}
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in os.environ:
                environment[name] = os.environ[name]
        environment.update(self.s3.env(**env))
        done = subprocess.run([S3_TOOL, *args], env=environment, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def assert_ok(self, *args, **env):
        code, out, err = self.tool(*args, **env)
        self.assertEqual((code, err), (0, ""))
        return out

    def assert_fails(self, *args, **env):
        code, out, err = self.tool(*args, **env)
        self.assertEqual(code, 1, err)  # not a sanitizer's exit code either
        self.assertTrue(err.startswith("s3_tool: "), err)
        return err

    def server_requests(self, fragment):
        """The lines of moto's request log that contain `fragment`."""
        return [line for line in self.s3.log().splitlines() if fragment in line and '" ' in line]


class TransferTests(S3TestCase):
    def test_put_is_read_back_byte_identical_by_the_aws_cli(self):
        source = random_file(self.path("data.bin"), 100_000)
        key = "e2e/put/sub dir/data~1.bin"
        self.assert_ok("put", self.url(key), source, "application/x-pyhost-test")
        self.s3.aws("s3", "cp", self.url(key), self.path("back.bin"))
        self.assertEqual(digest(self.path("back.bin")), digest(source))
        head = self.s3.aws("s3api", "head-object", "--bucket", self.s3.bucket, "--key", key)
        self.assertIn('"ContentType": "application/x-pyhost-test"', head)
        self.assertIn('"ContentLength": 100000', head)
        self.assertEqual(self.server_requests("e2e/put/sub%20dir/data~1.bin?uploads"), [])  # one PUT

    def test_an_empty_file_is_an_empty_object(self):
        source = self.path("empty")
        open(source, "wb").close()
        self.assert_ok("put", self.url("e2e/empty"), source)
        head = self.s3.aws("s3api", "head-object", "--bucket", self.s3.bucket, "--key", "e2e/empty")
        self.assertIn('"ContentLength": 0', head)
        self.assertIn('"ContentType": "application/octet-stream"', head)

    def test_a_large_file_goes_up_in_three_parts(self):
        source = random_file(self.path("large.bin"), 12 * MIB + 12345)  # parts of 5, 5 and 2 MiB
        key = "e2e/multipart/large.bin"
        self.assert_ok("put", self.url(key), source, "application/x-large",
                       PYHOST_S3_MULTIPART_THRESHOLD=str(5 * MIB), PYHOST_S3_PART_SIZE=str(5 * MIB))
        parts = self.server_requests(f"PUT /{self.s3.bucket}/{key}?partNumber=")
        self.assertEqual(len(parts), 3, parts)
        self.s3.aws("s3", "cp", self.url(key), self.path("back.bin"))
        self.assertEqual(digest(self.path("back.bin")), digest(source))
        head = self.s3.aws("s3api", "head-object", "--bucket", self.s3.bucket, "--key", key)
        self.assertIn('-3\\""', head)  # a multipart ETag names its part count
        self.assertIn('"ContentType": "application/x-large"', head)
        uploads = self.s3.aws("s3api", "list-multipart-uploads", "--bucket", self.s3.bucket)
        self.assertNotIn(key, uploads)

    def test_get_replaces_the_file_whole_and_leaves_nothing_else(self):
        source = random_file(self.path("object.bin"), 300_000)
        self.s3.aws("s3", "cp", source, self.url("e2e/get/object.bin"))
        target = self.path("out/object.bin")
        os.mkdir(self.path("out"))
        with open(target, "wb") as f:
            f.write(b"old content")
        self.assert_ok("get", self.url("e2e/get/object.bin"), target)
        self.assertEqual(digest(target), digest(source))
        self.assertEqual(os.listdir(self.path("out")), ["object.bin"])  # no temporary file left
        umask = os.umask(0)
        os.umask(umask)
        self.assertEqual(os.stat(target).st_mode & 0o777, 0o666 & ~umask)

    def test_a_failed_get_leaves_the_destination_as_it_was(self):
        os.mkdir(self.path("out"))
        target = self.path("out/kept.txt")
        with open(target, "wb") as f:
            f.write(b"precious")
        err = self.assert_fails("get", self.url("e2e/get/missing.txt"), target)
        self.assertIn(f"GET s3://{self.s3.bucket}/e2e/get/missing.txt: HTTP 404 NoSuchKey", err)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"precious")
        self.assertEqual(os.listdir(self.path("out")), ["kept.txt"])
        # And a destination that does not exist is not created.
        self.assert_fails("get", self.url("e2e/get/missing.txt"), self.path("out/new.txt"))
        self.assertEqual(os.listdir(self.path("out")), ["kept.txt"])

    def test_a_missing_local_file_is_a_clear_error(self):
        err = self.assert_fails("put", self.url("e2e/none"), self.path("does-not-exist"))
        self.assertIn(f"cannot open {self.path('does-not-exist')}: No such file or directory", err)


class ListTests(S3TestCase):
    def test_a_listing_follows_continuation_tokens_across_pages(self):
        source = self.path("one")
        with open(source, "wb") as f:
            f.write(b"1")
        # moto cannot verify a '/' in a query value (s3_server's docstring): a flat prefix.
        expected = sorted([f"listing-{i:02d}" for i in range(13)] + ["listing-with space", "listing-~tilde"])
        for key in expected:
            self.assert_ok("put", self.url(key), source)
        self.assert_ok("put", self.url("listinG-other-case"), source)
        self.assert_ok("put", self.url("other-prefix"), source)
        out = self.assert_ok("list", self.url("listing-"))
        self.assertEqual(out.splitlines(), expected)
        pages = [line for line in self.server_requests(f"GET /{self.s3.bucket}?") if "prefix=listing-" in line]
        self.assertEqual(len(pages), -(-len(expected) // PAGE), pages)  # 15 keys, 5 a page: 3 pages
        self.assertEqual(sum("continuation-token=" in line for line in pages), len(pages) - 1)

    def test_an_empty_listing(self):
        self.assertEqual(self.assert_ok("list", self.url("nothing-here-")), "")


class ErrorTests(S3TestCase):
    def test_a_wrong_secret_is_refused_with_a_message_that_does_not_hold_it(self):
        source = random_file(self.path("data"), 10)
        secret = "wrong-Secret-0123456789abcdef"
        for args in (("put", self.url("e2e/denied"), source), ("get", self.url("e2e/denied"), self.path("x")),
                     ("list", self.url("e2e-"))):
            with self.subTest(command=args[0]):
                err = self.assert_fails(*args, AWS_SECRET_ACCESS_KEY=secret)
                self.assertIn("HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match", err)
                self.assertIn(f"s3://{self.s3.bucket}/e2e", err)
                self.assertNotIn(secret, err)
                self.assertNotIn(self.s3.secret_access_key, err)
                self.assertNotIn("Signature=", err)
        self.assertFalse(os.path.exists(self.path("x")))
        head = self.s3.aws("s3api", "head-object", "--bucket", self.s3.bucket, "--key", "e2e/denied", check=False)
        self.assertIn(b"404", head.stderr)  # the refused PUT stored nothing

    def test_unsigned_requests_are_refused_after_set_up(self):
        source = random_file(self.path("data"), 64)
        self.assert_ok("put", self.url("e2e/unsigned-target"), source)
        status, body = self.s3.unsigned_request("GET", f"/{self.s3.bucket}/e2e/unsigned-target")
        self.assertFalse(200 <= status < 300, status)  # moto: 500 for a missing Authorization header
        with open(source, "rb") as f:
            self.assertNotIn(f.read(), body)
        status, _ = self.s3.unsigned_request("PUT", f"/{self.s3.bucket}/e2e/unsigned-write", body=b"x")
        self.assertFalse(200 <= status < 300, status)
        head = self.s3.aws("s3api", "head-object", "--bucket", self.s3.bucket, "--key", "e2e/unsigned-write",
                           check=False)
        self.assertNotEqual(head.returncode, 0)
        self.assertIn(b"404", head.stderr)

    def test_a_missing_bucket_is_a_clear_error(self):
        source = random_file(self.path("data"), 10)
        for args in (("put", "s3://no-such-bucket-e2e/k", source), ("get", "s3://no-such-bucket-e2e/k", self.path("x")),
                     ("list", "s3://no-such-bucket-e2e/")):
            with self.subTest(command=args[0]):
                err = self.assert_fails(*args)
                self.assertIn("s3://no-such-bucket-e2e/", err)
                self.assertIn("HTTP 404 NoSuchBucket: The specified bucket does not exist", err)

    def test_configuration_errors_name_the_variable_or_the_url(self):
        source = random_file(self.path("data"), 10)
        err = self.assert_fails("put", self.url("k"), source, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
        self.assertIn("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", err)
        err = self.assert_fails("put", self.url("k"), source, PYHOST_S3_PART_SIZE="1M")
        self.assertIn("PYHOST_S3_PART_SIZE must be a number of bytes, not '1M'", err)
        err = self.assert_fails("put", "https://bucket/k", source)
        self.assertIn("'https://bucket/k' is not an s3:// URL", err)
        err = self.assert_fails("put", self.url(""), source)
        self.assertIn("no key to store it under", err)
        code, _, err = self.tool("frobnicate", self.url("k"))
        self.assertEqual(code, 2)
        self.assertIn("usage: s3_tool", err)

    def test_a_server_that_is_down_is_retried_then_a_clear_error_in_bounded_time(self):
        with socket.socket() as probe:  # a port with nothing listening
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        source = random_file(self.path("data"), 10)
        started = time.monotonic()
        err = self.assert_fails("put", self.url("e2e/down"), source, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
        elapsed = time.monotonic() - started
        self.assertIn(f"PUT s3://{self.s3.bucket}/e2e/down: "
                      f"cannot reach http://127.0.0.1:{port}/{self.s3.bucket}/e2e/down", err)
        self.assertIn("(5 attempts)", err)
        # Four backoffs of 250, 500, 1000 and 2000 ms, each jittered down to half at most.
        self.assertGreaterEqual(elapsed, 1.8)
        self.assertLess(elapsed, 15)


class FaultTests(S3TestCase):
    def setUp(self):
        super().setUp()
        self.proxy = s3_server.FaultProxy(self.s3.endpoint)
        self.addCleanup(self.proxy.stop)
        self.multipart = {"AWS_ENDPOINT_URL": self.proxy.endpoint,
                          "PYHOST_S3_MULTIPART_THRESHOLD": str(5 * MIB), "PYHOST_S3_PART_SIZE": str(5 * MIB)}

    def test_slow_down_on_a_part_is_retried_and_the_upload_completes(self):
        source = random_file(self.path("large.bin"), 11 * MIB)
        key = "e2e/fault/retried.bin"
        self.proxy.inject("PUT", "partNumber=2", times=2)
        self.assert_ok("put", self.url(key), source, **self.multipart)
        statuses = [status for method, path, status in self.proxy.requests if "partNumber=2" in path]
        self.assertEqual(statuses, [503, 503, 200])
        self.s3.aws("s3", "cp", self.url(key), self.path("back.bin"))
        self.assertEqual(digest(self.path("back.bin")), digest(source))

    def test_slow_down_on_a_get_and_on_a_listing_page_is_retried(self):
        source = random_file(self.path("object.bin"), 200_000)
        key = "e2e/fault/get.bin"
        self.s3.aws("s3", "cp", source, self.url(key))
        proxied = {"AWS_ENDPOINT_URL": self.proxy.endpoint}
        self.proxy.inject("GET", f"/{key}", times=2)
        os.mkdir(self.path("out"))
        self.assert_ok("get", self.url(key), self.path("out/object.bin"), **proxied)
        self.assertEqual(digest(self.path("out/object.bin")), digest(source))
        self.assertEqual(os.listdir(self.path("out")), ["object.bin"])
        self.assertEqual([status for method, path, status in self.proxy.requests if path.endswith(key)],
                         [503, 503, 200])
        for i in range(PAGE + 1):
            self.assert_ok("put", self.url(f"faultlist-{i}"), source)
        self.proxy.inject("GET", "continuation-token=", times=1)  # the second page, once
        out = self.assert_ok("list", self.url("faultlist-"), **proxied)
        self.assertEqual(out.splitlines(), [f"faultlist-{i}" for i in range(PAGE + 1)])

    def test_a_part_that_keeps_failing_aborts_the_upload(self):
        source = random_file(self.path("large.bin"), 11 * MIB)
        key = "e2e/fault/aborted.bin"
        self.proxy.inject("PUT", "partNumber=3", times=100, status=500, code="InternalError",
                          message="We encountered an internal error. Please try again.")
        err = self.assert_fails("put", self.url(key), source, **self.multipart)
        self.assertIn(f"UploadPart 3 of 3 of s3://{self.s3.bucket}/{key}: HTTP 500 InternalError: "
                      "We encountered an internal error. Please try again. (5 attempts); the upload was aborted", err)
        self.assertEqual([status for method, _, status in self.proxy.requests if method == "DELETE"], [204])
        uploads = self.s3.aws("s3api", "list-multipart-uploads", "--bucket", self.s3.bucket)
        self.assertNotIn(key, uploads)
        head = self.s3.aws("s3api", "head-object", "--bucket", self.s3.bucket, "--key", key, check=False)
        self.assertNotEqual(head.returncode, 0)

    def test_an_error_inside_a_200_completion_is_retried(self):
        # S3 documents that CompleteMultipartUpload may answer 200 with an <Error> in the body.
        source = random_file(self.path("large.bin"), 6 * MIB)
        key = "e2e/fault/completed.bin"
        self.proxy.inject("POST", "uploadId=", times=1, status=200, code="InternalError",
                          message="We encountered an internal error. Please try again.")
        self.assert_ok("put", self.url(key), source, **self.multipart)
        completions = [status for method, path, status in self.proxy.requests
                       if method == "POST" and "uploadId=" in path]
        self.assertEqual(completions, [200, 200])
        self.s3.aws("s3", "cp", self.url(key), self.path("back.bin"))
        self.assertEqual(digest(self.path("back.bin")), digest(source))


class TlsTests(S3TestCase):
    def test_the_server_certificate_is_verified_and_a_ca_bundle_can_be_given(self):
        cert, key = self.path("cert.pem"), self.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        with s3_server.S3Server(tls=(cert, key)) as tls_server:
            source = random_file(self.path("data"), 1000)
            target = f"s3://{tls_server.bucket}/e2e/tls.bin"
            # An unknown certificate is refused at once: retrying cannot make it trusted.
            code, _, err = self.tool("put", target, source, **dict(tls_server.env(), PYHOST_CA_BUNDLE=None))
            self.assertEqual(code, 1, err)
            self.assertIn(f"cannot reach {tls_server.endpoint}/{tls_server.bucket}/e2e/tls.bin: "
                          "SSL certificate problem", err)
            self.assertNotIn("attempts", err)
            code, _, err = self.tool("put", target, source, **tls_server.env())
            self.assertEqual((code, err), (0, ""))
            tls_server.aws("s3", "cp", target, self.path("back"))
            self.assertEqual(digest(self.path("back")), digest(source))


class SessionTokenTests(S3TestCase):
    def test_temporary_credentials_send_their_session_token(self):
        key_id, secret, token = self.s3.assume_role()
        source = random_file(self.path("data"), 1000)
        key = "e2e/token/data.bin"
        temporary = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
        self.assert_ok("put", self.url(key), source, **temporary)
        self.s3.aws("s3", "cp", self.url(key), self.path("back.bin"))
        self.assertEqual(digest(self.path("back.bin")), digest(source))
        self.assert_ok("get", self.url(key), self.path("again.bin"), **temporary)
        self.assertEqual(digest(self.path("again.bin")), digest(source))
        # moto checks the token: without it, or with another, the same key is refused.
        err = self.assert_fails("put", self.url(key), source, **dict(temporary, AWS_SESSION_TOKEN="not-the-token"))
        self.assertIn("InvalidToken", err)
        self.assertNotIn(token, err)
        self.assertNotIn(secret, err)
        err = self.assert_fails("put", self.url(key), source, **dict(temporary, AWS_SESSION_TOKEN=None))
        self.assertIn("HTTP 403 InvalidAccessKeyId", err)


if __name__ == "__main__":
    unittest.main()
