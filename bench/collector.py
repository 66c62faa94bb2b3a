"""A loopback collector for the shipping benchmark: accepts POSTed batches as fast as Python
can, counts records (JSON Lines, gzip or not; or {"records": [...]} as the sitecustomize
yardstick sends), and answers GET /count with the total. Run as its own process, so its CPU
is not the contender's.

usage: collector.py PORT_FILE   (writes the port it listens on into PORT_FILE)
"""
import gzip
import http.server
import json
import sys
import threading

lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            if self.headers.get("Content-Type", "").startswith("application/json") and body.startswith(b'{"records"'):
                n = len(json.loads(body)["records"])
            else:
                n = body.count(b"\n")
        except ValueError:  # a body cut short (a sender exiting mid-request): refuse it
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
            value = count
            if self.path == "/reset":
                count = 0
        data = str(value).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
