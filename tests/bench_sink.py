#!/usr/bin/python3
"""tests/bench_sink.py: an HTTP sink for "make bench".

Accepts every POST to /v2/import/batch with 201 after reading the body,
keep-alive, on 127.0.0.1 only, so the bench measures pgpull and not a
destination.  Writes its port to PORT_FILE; stops on SIGTERM.
Usage: bench_sink.py PORT_FILE
"""
import http.server
import signal
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                return
            length -= len(chunk)
        body = b'{"status":"OK","message":"Batch Accepted!"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
