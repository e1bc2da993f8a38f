"""Hostile and honest clients for the NAT64 limit tests (bounded in count and time).

  flood-ports SRC DST PORT N     N datagrams from N source ports (10000 + i) of SRC to DST:PORT
  flood-sessions SRC DST N       N datagrams from one source port (10000, the port flood's first) to N ports (20000 + i) of DST
  probe SRC DST PORT N TIMEOUT   N flows from SRC, each waits for its echo (asks again every 0.5 s)

Floods send in bursts of 250 with a short pause (the TUN queue stays below its limit).
Every mode prints one JSON line."""
import json
import socket
import sys
import time

mode = sys.argv[1]


def paced(i):
    if i % 250 == 249:
        time.sleep(0.02)


if mode == "flood-ports":
    src, dst, port, n = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    sent = 0
    for i in range(n):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            s.bind((src, 10000 + i))
            s.sendto(b"flood", (dst, port))
            sent += 1
        except OSError:
            pass
        finally:
            s.close()
        paced(i)
    print(json.dumps({"sent": sent}))
elif mode == "flood-sessions":
    src, dst, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((src, 10000))
    sent = 0
    for i in range(n):
        try:
            s.sendto(b"flood", (dst, 20000 + i))
            sent += 1
        except OSError:
            pass  # an ICMPv6 error for an earlier datagram is reported on this socket
        paced(i)
    print(json.dumps({"sent": sent}))
elif mode == "probe":
    src, dst, port, n, timeout = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.connect((dst, port))
        s.setblocking(False)
        socks.append(s)
    pending = set(range(n))
    end = time.time() + timeout
    last = 0.0
    while pending and time.time() < end:
        if time.time() - last > 0.5:
            last = time.time()
            for i in pending:
                try:
                    socks[i].send(b"probe %d" % i)
                except OSError:
                    pass
        for i in list(pending):
            try:
                socks[i].recv(65535)
                pending.discard(i)
            except (BlockingIOError, OSError):
                pass  # no answer yet, or an ICMPv6 error: asked again at the next round
        time.sleep(0.01)
    print(json.dumps({"sent": n, "answered": n - len(pending)}))
else:
    sys.exit(f"unknown mode {mode}")
