"""A loopback collector for the shipping benchmark: accepts POSTed batches as fast as Python
can, counts records (JSON Lines as they are, zstd or gzip; or {"records": [...]} as the
sitecustomize yardstick sends), and answers GET /count with the total and GET /busy with the
number of requests it is still working on. Run as its own process,
so its CPU is not the contender's; but it shares the machine's two cores with the contender,
so every cycle it spends is one the contender may wait for: newlines are counted with numpy
(bytes.count is a byte loop, ten times slower, and was half of this collector's CPU).

usage: collector.py PORT_FILE   (writes the port it listens on into PORT_FILE)
"""
import gzip
import http.server
import json
import sys
import threading
import zlib

import numpy  # Debian's python3-numpy
import zstandard  # Debian's python3-zstandard

lock = threading.Lock()
count = 0
in_flight = 0  # POSTs being read or counted: a sender may exit before its last one is counted


def newlines(data):
    return int(numpy.count_nonzero(numpy.frombuffer(data, numpy.uint8) == 10))


def count_lines_gzipped(body):
    """Newlines in a gzip body, inflated a piece at a time: a whole batch inflated at once is a
    fresh multi-megabyte buffer per request, whose page faults made this collector, not the
    sender, the bottleneck of the throughput benchmark."""
    inflater = zlib.decompressobj(wbits=31)
    n = 0
    data = body
    while data:
        piece = inflater.decompress(data, 1 << 18)
        n += newlines(piece)
        data = inflater.unconsumed_tail
    piece = inflater.flush()
    n += newlines(piece)
    if not inflater.eof:
        raise EOFError("gzip body cut short")
    return n


def count_lines_zstd(body):
    """Newlines in a zstd body, decompressed a piece at a time (see count_lines_gzipped)."""
    n = 0
    with zstandard.ZstdDecompressor().stream_reader(body) as reader:
        while piece := reader.read(1 << 18):
            n += newlines(piece)
    return n


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global in_flight
        with lock:
            in_flight += 1
        try:
            self.count_records()
        finally:
            with lock:
                in_flight -= 1

    def count_records(self):
        global count
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        except ConnectionError:  # a sender that exits mid-request (the yardstick's daemon thread)
            return
        coding = self.headers.get("Content-Encoding")
        try:
            if self.headers.get("Content-Type", "").startswith("application/json"):
                # The yardstick's {"records": [...]}: parsed, to count its records.
                data = gzip.decompress(body) if coding == "gzip" else body
                n = len(json.loads(data)["records"]) if data.startswith(b'{"records"') else newlines(data)
            elif coding == "gzip":
                n = count_lines_gzipped(body)
            elif coding == "zstd":
                n = count_lines_zstd(body)
            else:
                n = newlines(body)
        except (ValueError, EOFError, zlib.error, zstandard.ZstdError):  # a body cut short (a sender exiting mid-request): refuse it
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with lock:
            count += n
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        global count
        with lock:
            value = in_flight if self.path == "/busy" else count
            if self.path == "/reset":
                count = 0
        data = str(value).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The yardstick's sender is a daemon thread: its process may exit mid-request.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
