"""UDP client for the NAT64 namespace tests: N sockets (N flows) at once, each
sends one datagram to the echo server and waits for its answer. An optional
fifth argument pads each datagram to that many bytes (fragments, if large).
Prints one JSON line: {"sent": N, "answered": K, "errors": {...}, "sources": [...]}."""
import json
import socket
import sys
import time

dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
size = int(sys.argv[5]) if len(sys.argv) > 5 else 0


def message(i):
    m = f"flow {i}".encode()
    return m + b"." * max(0, size - len(m))

socks = []
errors = {}
for i in range(n):
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    if ":" in dst:
        # IPV6_RECVERR: report every ICMPv6 error (address unreachable is not "hard" otherwise).
        s.setsockopt(socket.IPPROTO_IPV6, 25, 1)
    s.connect((dst, port))
    s.setblocking(False)
    socks.append(s)
for i, s in enumerate(socks):
    try:
        s.send(message(i))
    except OSError as e:
        errors[e.strerror] = errors.get(e.strerror, 0) + 1
answered = 0
sources = set()
pending = set(range(n))
end = time.time() + timeout
last = time.time()
while pending and time.time() < end:
    if time.time() - last > 0.5:
        # Like any UDP application: ask again for what went unanswered (a datagram may be lost).
        last = time.time()
        for i in pending:
            try:
                socks[i].send(message(i))
            except OSError:
                pass
    for i in list(pending):
        try:
            d = socks[i].recv(65535)
            answered += 1
            pending.discard(i)
            sources.add(d.decode().rsplit(" from ", 1)[1].rsplit(":", 1)[0])
        except BlockingIOError:
            pass
        except OSError as e:
            errors[e.strerror] = errors.get(e.strerror, 0) + 1
            pending.discard(i)
    time.sleep(0.01)
print(json.dumps({"sent": n, "answered": answered, "errors": errors, "sources": sorted(sources)}))
