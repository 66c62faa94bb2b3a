"""A real S3 that checks signatures, for tests: moto_server on a free loopback port.

    with S3Server() as s3:                  # or s3 = S3Server(); ...; s3.stop()
        env = s3.env()                      # AWS_* for a client: endpoint, region, the user's key
        s3.aws("s3", "cp", "s3://%s/k" % s3.bucket, "out")   # the aws CLI, signed as that user

moto_server and the aws CLI are found on PATH (these machines have both in pyenv's Python).
moto checks SigV4 signatures only after its first INITIAL_NO_AUTH_ACTION_COUNT actions, so
set-up spends exactly those: create an IAM user, give it an allow-all inline policy, create
its access key, create the bucket. Every later request must be signed with that key: a wrong
secret gets 403 SignatureDoesNotMatch, and an unsigned request is refused (moto answers it
with 500, failing on the missing Authorization header, rather than 403). start() checks that
last point itself, so a set-up that spent fewer actions than the count fails loudly instead of
leaving a server that accepts anything.

moto 5.2 limitation, found here: its signature check rebuilds the request URL from a
re-quoted form, so keys with characters such as + = $ & or non-ASCII letters, and query
values with a '/' (a listing prefix "logs/"), fail with SignatureDoesNotMatch for every
client, the aws CLI included. Keys of letters, digits, '-._~/' and spaces, and prefixes
without '/', verify.
"""
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

SETUP_ACTIONS = 4  # create-user, put-user-policy, create-access-key, create-bucket
ALLOW_ALL = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


class S3ServerError(RuntimeError):
    pass


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find(program):
    path = shutil.which(program)
    if path is None:
        raise S3ServerError(f"{program} is not on PATH (these machines have it in pyenv's Python)")
    return path


class S3Server:
    """moto_server with one IAM user, its access key and one bucket."""

    def __init__(self, bucket="pyhost-test", region="us-east-1", default_max_keys=None, tls=None, start=True):
        self.bucket = bucket
        self.region = region
        self.default_max_keys = default_max_keys  # moto's page size when a client sends no max-keys
        self.tls = tls  # (certificate file, key file): serve HTTPS; clients get the certificate as their CA
        self.port = None
        self.endpoint = None
        self.access_key_id = None
        self.secret_access_key = None
        self.process = None
        self._dir = tempfile.mkdtemp(prefix="pyhost-s3-")
        self._log = None
        self._ready = threading.Event()
        self._reader = None
        if start:
            self.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- life cycle ----

    def start(self, timeout=30):
        """Starts the server and sets it up; raises S3ServerError with the server's log on failure."""
        moto_server = _find("moto_server")
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            self.endpoint = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
            if self._launch(moto_server, timeout):
                break
        else:
            log = self.log()
            self.stop()
            raise S3ServerError(f"moto_server did not start:\n{log}")
        try:
            self._set_up()
            self._check_signatures_required()
        except BaseException:
            self.stop()
            raise

    def _launch(self, moto_server, timeout):
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_ACTIONS))
        if self.default_max_keys is not None:
            env["MOTO_S3_DEFAULT_MAX_KEYS"] = str(self.default_max_keys)
        self._ready.clear()
        self._log = open(os.path.join(self._dir, f"moto-{self.port}.log"), "wb")
        tls = ["-s", "-c", self.tls[0], "-k", self.tls[1]] if self.tls else []
        self.process = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(self.port), *tls], env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._drain, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        # Ready is werkzeug's "Running on" line, printed once it listens; the reader also sets
        # the event when the output ends (the server exited).
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self._terminate()
            return False
        return True

    def _drain(self, stream):
        # Keeps reading so that the server never blocks on a full pipe (it logs every request).
        running = f"Running on {self.endpoint}".encode()
        for line in stream:
            self._log.write(line)
            self._log.flush()
            if running in line:
                self._ready.set()
        self._ready.set()

    def _terminate(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
            self._reader = None
        self.process.stdout.close()
        self.process = None
        self._log.close()

    def stop(self):
        """Stops the server (by its pid) and removes its files."""
        self._terminate()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log(self):
        """What the server printed (its request log and tracebacks)."""
        try:
            with open(os.path.join(self._dir, f"moto-{self.port}.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    # ---- set-up and checks ----

    def _set_up(self):
        # Before the count is spent moto takes any credentials: these name nobody.
        anonymous = ("setup-key", "setup-secret", None)
        user = "pyhost-test"
        self._aws_as(anonymous, "iam", "create-user", "--user-name", user)
        self._aws_as(anonymous, "iam", "put-user-policy", "--user-name", user, "--policy-name", "allow-all",
                     "--policy-document", ALLOW_ALL)
        key = json.loads(self._aws_as(anonymous, "iam", "create-access-key", "--user-name", user))["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        self._aws_as(anonymous, "s3api", "create-bucket", "--bucket", self.bucket)

    def _check_signatures_required(self):
        status, body = self.unsigned_request("GET", f"/{self.bucket}?list-type=2")
        if 200 <= status < 300:
            raise S3ServerError(f"moto answered an unsigned request with {status} after set-up: "
                                f"INITIAL_NO_AUTH_ACTION_COUNT={SETUP_ACTIONS} does not match the set-up")

    def unsigned_request(self, method, path, body=None):
        """A request without any Authorization header; returns (status, body bytes)."""
        request = urllib.request.Request(self.endpoint + path, data=body, method=method)
        context = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    # ---- clients ----

    def env(self, **overrides):
        """The environment a client needs: endpoint, region and the user's credentials.
        A value of None in overrides removes that variable."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            # No configuration or credentials of whoever runs the tests, no instance metadata.
            "AWS_CONFIG_FILE": os.path.join(self._dir, "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self._dir, "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self.tls:
            env["AWS_CA_BUNDLE"] = self.tls[0]     # the aws CLI's
            env["PYHOST_CA_BUNDLE"] = self.tls[0]  # pyhost's
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def aws(self, *args, credentials=None, check=True):
        """Runs the aws CLI against this server, signed as the user (or with `credentials`:
        (key id, secret, session token or None)); returns its stdout as text. With
        check=False, returns the CompletedProcess instead of raising on failure."""
        return self._aws_as(credentials or (self.access_key_id, self.secret_access_key, None), *args, check=check)

    def _aws_as(self, credentials, *args, check=True):
        key_id, secret, token = credentials
        env = dict(os.environ)
        for name in [name for name in env if name.startswith("AWS_")]:
            del env[name]
        env.update(self.env(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token))
        done = subprocess.run([_find("aws"), "--endpoint-url", self.endpoint, "--region", self.region, *args],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        if not check:
            return done
        if done.returncode != 0:
            raise S3ServerError(f"aws {' '.join(args)} failed ({done.returncode}): "
                                f"{done.stderr.decode(errors='replace')}")
        return done.stdout.decode()

    def assume_role(self, role="pyhost-test-role"):
        """Temporary credentials from STS AssumeRole (a role with an allow-all policy):
        (key id, secret, session token). moto then requires x-amz-security-token to match."""
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
        arn = json.loads(self.aws("iam", "create-role", "--role-name", role,
                                  "--assume-role-policy-document", trust))["Role"]["Arn"]
        self.aws("iam", "put-role-policy", "--role-name", role, "--policy-name", "allow-all",
                 "--policy-document", ALLOW_ALL)
        credentials = json.loads(self.aws("sts", "assume-role", "--role-arn", arn,
                                          "--role-session-name", "pyhost-test"))["Credentials"]
        return credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]


class FaultProxy:
    """An HTTP proxy on loopback in front of a real S3 server that answers chosen requests
    itself with an S3 error (503 SlowDown, say) and forwards everything else unchanged, Host
    header included, so that signatures still verify at the server behind it.

        proxy = FaultProxy(s3.endpoint)
        proxy.inject("PUT", "partNumber=2", times=2)     # the next two matching requests get 503
        env = s3.env(AWS_ENDPOINT_URL=proxy.endpoint)
    """

    def __init__(self, target):
        self.target = urllib.parse.urlsplit(target)
        self.requests = []  # (method, path, status answered) in arrival order
        self._faults = []   # [method, substring of the path, status, code, message, times left]
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                fault = proxy._take_fault(self.command, self.path)
                if fault is not None:
                    status, code, message = fault
                    # Recorded before the answer goes out: the client may act on the answer
                    # (exit, say) and the test read `requests` before this thread runs again.
                    proxy._record(self.command, self.path, status)
                    payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                               f"<Message>{message}</Message><RequestId>fault</RequestId></Error>").encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                proxy._record(self.command, self.path, status)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def inject(self, method, path_contains, times=1, status=503, code="SlowDown",
               message="Please reduce your request rate."):
        """The next `times` requests of `method` whose path (with query) contains
        `path_contains` are answered with `status` and an S3 error document."""
        with self._lock:
            self._faults.append([method, path_contains, status, code, message, times])

    def _take_fault(self, method, path):
        with self._lock:
            for fault in self._faults:
                if fault[0] == method and fault[1] in path and fault[5] > 0:
                    fault[5] -= 1
                    return fault[2], fault[3], fault[4]
        return None

    def _record(self, method, path, status):
        with self._lock:
            self.requests.append((method, path, status))

    def _forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders(body if body else None)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
