"""Paced UDP sender for the NAT64 growth test and bench:
  paced.py DST N RATE [sessions|mappings]
N datagrams at RATE per second, each opening a new NAT64 session: "sessions" (the default) from
one socket to N distinct destination ports of DST (1 + i, wrapping within 1..65535); "mappings"
from N distinct source ports (1024 + i, wrapping below 65536), each a new BIB entry too. Sends in slices of 1 ms (RATE / 1000 datagrams each,
on a clock, so a late slice catches up). Prints one JSON line: {"sent": N, "seconds": T}."""
import json
import socket
import sys
import time

dst, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
mode = sys.argv[4] if len(sys.argv) > 4 else "sessions"
family = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
payload = b"x" * 18
sent = 0
errors = 0
t0 = time.monotonic()
while sent < n:
    due = min(n, int((time.monotonic() - t0) * rate) + 1)
    while sent < due:
        try:
            if mode == "mappings":
                m = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    m.bind(("", 1024 + sent % 64512))
                    m.sendto(payload, (dst, 9))
                finally:
                    m.close()
            else:
                s.sendto(payload, (dst, sent % 65535 + 1))
        except OSError:
            errors += 1  # an ICMPv6 error for an earlier datagram is reported on this socket
            continue
        sent += 1
    time.sleep(0.001)
print(json.dumps({"sent": sent, "errors": errors, "seconds": round(time.monotonic() - t0, 3)}))
