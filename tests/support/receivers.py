"""Loopback receivers for the reporter's tests: a JSON Lines collector with fault modes, and
receivers that hold the Grafana Loki push API, OTLP/HTTP logs (JSON) and the Splight engine API
to their published formats exactly. A request that breaks a format gets the status the real
server would answer (400), and the violation is kept, so a test can assert there was none.

Each receiver runs an HTTP server on 127.0.0.1 in a thread of the test process.
"""
import gzip
import http.server
import json
import re
import threading
import time
import urllib.parse

import zstandard  # Debian's python3-zstandard

# The content codings pyhost sends, and how a receiver undoes them.
DECODERS = {
    "identity": lambda body: body,
    "gzip": gzip.decompress,
    "zstd": lambda body: zstandard.ZstdDecompressor().decompress(body),
}


class Receiver:
    """Base: an HTTP server on loopback that can be stopped and started again on the same port
    (a sink going down and coming back)."""

    def __init__(self, port=0, tls=None, client_ca=None):
        self.port = port
        self.tls = tls              # (certificate file, key file): serve HTTPS
        self.client_ca = client_ca  # with tls: require a client certificate issued by this CA
        self.requests = []          # (path, headers, decoded body bytes) in arrival order
        self.peers = []             # the client's (address, port) of each request: its connection
        self.violations = []        # format errors found
        self.responses = []         # statuses to answer next, consumed in order (then 200)
        self.retry_after = None     # a Retry-After value to send with non-2xx answers
        self.delay = 0.0            # seconds to wait before answering
        self.codings = None         # content codings taken (else 415 with Accept-Encoding); None: all
        self.refused_codings = []   # the Content-Encoding of each request answered 415
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        self.start()

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.peers.append(self.client_address)
                coding = self.headers.get("Content-Encoding", "identity")
                if receiver.codings is not None and coding not in receiver.codings:
                    # RFC 7694: refused, saying which codings would do.
                    with receiver.lock:
                        receiver.refused_codings.append(coding)
                    self.send_response(415)
                    self.send_header("Accept-Encoding", ", ".join(receiver.codings))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                decode = DECODERS.get(coding)
                if decode is None:
                    status, payload = receiver.violation(f"Content-Encoding {coding!r}")
                else:
                    status, payload = receiver.handle(self.path, dict(self.headers), decode(body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if status >= 300 and receiver.retry_after is not None:
                    self.send_header("Retry-After", str(receiver.retry_after))
                data = payload.encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.tls:
            import ssl
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            if self.client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(self.client_ca)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self, scheme, path="", userinfo=""):
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}{path}"

    def handle(self, path, headers, body):
        with self.lock:
            self.requests.append((path, headers, body))
            status = self.responses.pop(0) if self.responses else 200
        if status >= 300:
            return status, "refused by the test"
        return self.accept(path, headers, body)

    def accept(self, path, headers, body):
        return 200, ""

    def violation(self, message):
        with self.lock:
            self.violations.append(message)
        return 400, message


class JsonLinesCollector(Receiver):
    """pyhost's own protocol: JSON Lines of journal records."""

    def __init__(self, port=0, tls=None, client_ca=None):
        self.records = []
        super().__init__(port, tls, client_ca)

    def accept(self, path, headers, body):
        if headers.get("Content-Type") != "application/x-ndjson":
            return self.violation(f"content type {headers.get('Content-Type')}")
        records = []
        for line in body.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                return self.violation(f"not JSON: {line[:80]!r}")
        with self.lock:
            self.records.extend(records)
        return 200, ""

    def unique(self):
        """Records by seq, duplicates (resent batches) dropped, as a receiver should."""
        with self.lock:
            by_seq = {}
            for record in self.records:
                by_seq.setdefault((record["run_id"], record["seq"]), record)
        return [by_seq[key] for key in sorted(by_seq)]


NANOS = re.compile(r"^[0-9]{1,19}$")


class LokiReceiver(Receiver):
    """POST /loki/api/v1/push, JSON: {"streams":[{"stream":{labels},"values":[["<ns>","line"]]}]}.
    Like Loki: a stream without labels is 400; label names must match [a-zA-Z_][a-zA-Z0-9_]*;
    timestamps are strings of nanoseconds; too old (before `oldest_ns`) is 400."""

    def __init__(self, port=0, oldest_ns=0):
        self.entries = []  # (labels, ns, line)
        self.oldest_ns = oldest_ns
        super().__init__(port)

    def accept(self, path, headers, body):
        if path != "/loki/api/v1/push":
            return 404, "404 page not found"
        if headers.get("Content-Type") != "application/json":
            return self.violation(f"content type {headers.get('Content-Type')}")
        try:
            push = json.loads(body)
        except ValueError:
            return self.violation("body is not JSON")
        if set(push) != {"streams"} or not isinstance(push["streams"], list):
            return self.violation(f"top level keys {sorted(push)}")
        entries = []
        for stream in push["streams"]:
            if set(stream) != {"stream", "values"}:
                return self.violation(f"stream keys {sorted(stream)}")
            labels = stream["stream"]
            if not isinstance(labels, dict) or not labels:
                return self.violation("error at least one label pair is required per stream")
            for name, value in labels.items():
                if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) or not isinstance(value, str):
                    return self.violation(f"invalid label {name!r}={value!r}")
            for value in stream["values"]:
                if not (isinstance(value, list) and len(value) in (2, 3) and isinstance(value[0], str)
                        and NANOS.match(value[0]) and isinstance(value[1], str)):
                    return self.violation(f"invalid value {value!r}")
                if int(value[0]) < self.oldest_ns:
                    return self.violation(f"entry too far behind: {value[0]}")
                entries.append((labels, int(value[0]), value[1]))
        with self.lock:
            self.entries.extend(entries)
        return 204, ""


SEVERITIES = {"DEBUG": 5, "INFO": 9, "WARNING": 13, "ERROR": 17, "CRITICAL": 21}


class OtlpReceiver(Receiver):
    """POST /v1/logs, OTLP/HTTP JSON, checked against the opentelemetry-proto JSON mapping:
    lowerCamelCase field names only, 64-bit integers (timeUnixNano, intValue) as strings,
    enums (severityNumber) as integers, AnyValue with exactly one value field."""

    RESOURCE_LOGS = {"resource", "scopeLogs", "schemaUrl"}
    SCOPE_LOGS = {"scope", "logRecords", "schemaUrl"}
    LOG_RECORD = {"timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText", "body",
                  "attributes", "droppedAttributesCount", "flags", "traceId", "spanId", "eventName"}
    ANY_VALUE = {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"}

    def __init__(self, port=0):
        self.records = []  # (resource attributes dict, record dict)
        super().__init__(port)

    def value(self, any_value, where):
        if not isinstance(any_value, dict) or len(any_value) != 1 or next(iter(any_value)) not in self.ANY_VALUE:
            raise ValueError(f"{where}: not an AnyValue: {any_value!r}")
        kind, value = next(iter(any_value.items()))
        if kind == "intValue" and not (isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value)):
            raise ValueError(f"{where}: intValue must be a decimal string: {value!r}")
        if kind == "stringValue" and not isinstance(value, str):
            raise ValueError(f"{where}: stringValue {value!r}")
        if kind == "boolValue" and not isinstance(value, bool):
            raise ValueError(f"{where}: boolValue {value!r}")
        if kind == "doubleValue" and not isinstance(value, (int, float)):
            raise ValueError(f"{where}: doubleValue {value!r}")
        return int(value) if kind == "intValue" else value

    def attributes(self, items, where):
        out = {}
        for item in items:
            if set(item) != {"key", "value"} or not isinstance(item["key"], str):
                raise ValueError(f"{where}: KeyValue {item!r}")
            out[item["key"]] = self.value(item["value"], f"{where}.{item['key']}")
        return out

    def accept(self, path, headers, body):
        if path != "/v1/logs":
            return 404, "not found"
        if headers.get("Content-Type") != "application/json":
            return self.violation(f"content type {headers.get('Content-Type')}")
        try:
            request = json.loads(body)
            if set(request) != {"resourceLogs"}:
                raise ValueError(f"top level {sorted(request)}")
            records = []
            for resource_logs in request["resourceLogs"]:
                if not set(resource_logs) <= self.RESOURCE_LOGS:
                    raise ValueError(f"ResourceLogs keys {sorted(resource_logs)}")
                resource = self.attributes(resource_logs["resource"].get("attributes", []), "resource")
                for scope_logs in resource_logs["scopeLogs"]:
                    if not set(scope_logs) <= self.SCOPE_LOGS:
                        raise ValueError(f"ScopeLogs keys {sorted(scope_logs)}")
                    for record in scope_logs["logRecords"]:
                        if not set(record) <= self.LOG_RECORD:
                            raise ValueError(f"LogRecord keys {sorted(set(record) - self.LOG_RECORD)}")
                        for key in ("timeUnixNano", "observedTimeUnixNano"):
                            if key in record and not (isinstance(record[key], str) and NANOS.match(record[key])):
                                raise ValueError(f"{key} must be a string of nanoseconds: {record[key]!r}")
                        if not isinstance(record.get("severityNumber", 0), int):
                            raise ValueError(f"severityNumber must be an integer: {record['severityNumber']!r}")
                        if record.get("severityText") in SEVERITIES and \
                                record.get("severityNumber") != SEVERITIES[record["severityText"]]:
                            raise ValueError(f"severity {record['severityText']} numbered {record['severityNumber']}")
                        parsed = dict(record)
                        parsed["body"] = self.value(record["body"], "body")
                        parsed["attributes"] = self.attributes(record.get("attributes", []), "attributes")
                        records.append((resource, parsed))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return self.violation(str(error))
        with self.lock:
            self.records.extend(records)
        return 200, "{}"


class SplightEngine(Receiver):
    """The Splight engine API, as splight-runner uses it:
    POST /{version}/logs/write {"records":[{sender_type,name,message,loglevel,filename,traceback,tags,id}]}
    POST /{version}/engine/component/components/{id}/update-status/ form deployment_status=<Status>
    both with `Authorization: Splight <access_id> <secret_key>`."""

    RECORD_KEYS = {"sender_type", "name", "message", "loglevel", "filename", "traceback", "tags", "id"}
    STATUSES = {"Initialized", "Running", "Stopped", "Finished", "Failed"}

    def __init__(self, access_id, secret_key, component_id, version="v4", port=0):
        self.auth = f"Splight {access_id} {secret_key}"
        self.component_id = component_id
        self.version = version
        self.logs = []
        self.statuses = []
        super().__init__(port)

    def accept(self, path, headers, body):
        if headers.get("Authorization") != self.auth:
            return 401, "bad credentials"
        if path == f"/{self.version}/logs/write":
            if headers.get("Content-Type") != "application/json":
                return self.violation(f"logs content type {headers.get('Content-Type')}")
            try:
                payload = json.loads(body)
            except ValueError:
                return self.violation("logs body is not JSON")
            if set(payload) != {"records"}:
                return self.violation(f"logs keys {sorted(payload)}")
            for record in payload["records"]:
                if set(record) != self.RECORD_KEYS:
                    return self.violation(f"record keys {sorted(record)}")
                if record["id"] != self.component_id or record["sender_type"] != "component":
                    return self.violation(f"record id/sender {record['id']}/{record['sender_type']}")
            with self.lock:
                self.logs.extend(payload["records"])
            return 201, "{}"
        if path == f"/{self.version}/engine/component/components/{self.component_id}/update-status/":
            if headers.get("Content-Type") != "application/x-www-form-urlencoded":
                return self.violation(f"status content type {headers.get('Content-Type')}")
            form = urllib.parse.parse_qs(body.decode())
            status = form.get("deployment_status", [None])
            if set(form) != {"deployment_status"} or len(status) != 1 or status[0] not in self.STATUSES:
                return self.violation(f"status form {form}")
            with self.lock:
                self.statuses.append(status[0])
            return 200, "{}"
        return 404, "not found"
