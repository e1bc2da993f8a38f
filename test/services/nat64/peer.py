"""IPv4 peer for the NAT64 namespace tests: HTTP on :8080 and UDP echo on :9000.

GET /blob?n=BYTES  deterministic bytes (sha256 of the counter stream), Content-Length set
GET /sum?n=BYTES   the sha256 hex digest of the same bytes (what the client must get)
POST /sum          the sha256 hex digest of the request body
GET /              "ok <client address>"
"""
import hashlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ADDR = sys.argv[1]
BLOCK = 1 << 16


def blocks(n):
    i = 0
    sent = 0
    while sent < n:
        seed = hashlib.sha256(i.to_bytes(8, "big")).digest()
        b = (seed * (BLOCK // 32))[: min(BLOCK, n - sent)]
        sent += len(b)
        i += 1
        yield b


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urlparse(self.path)
        n = int(parse_qs(u.query).get("n", ["0"])[0])
        if u.path == "/blob":
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for b in blocks(n):
                self.wfile.write(b)
        elif u.path == "/sum":
            h = hashlib.sha256()
            for b in blocks(n):
                h.update(b)
            self.reply(h.hexdigest())
        else:
            self.reply(f"ok {self.client_address[0]}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        h = hashlib.sha256()
        while n > 0:
            b = self.rfile.read(min(n, BLOCK))
            if not b:
                break
            h.update(b)
            n -= len(b)
        self.reply(h.hexdigest())

    def reply(self, text):
        body = (text + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ADDR, 9000))
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data + f" from {peer[0]}:{peer[1]}".encode(), peer)


threading.Thread(target=udp, daemon=True).start()
ThreadingHTTPServer.daemon_threads = True
print("ready", flush=True)
ThreadingHTTPServer((ADDR, 8080), H).serve_forever()
