"""A long-lived TCP connection through a NAT64, for the session handover tests.

echo.py server ADDR PORT   echoes every line back, prefixed with the peer's address and port as
                           the server sees them (the pool4 transport address)
echo.py client ADDR PORT   one connection; a line every 200 ms, each waited for. Prints one JSON
                           line per echo {"n", "peer"}; on a failure {"error"} and exits 1; on
                           SIGTERM {"done", "echoed", "maxGapMs"} (the longest time between two
                           echoes) and exits 0.
"""
import json
import signal
import socket
import sys
import threading
import time


def server(addr, port):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)

    def serve(c, peer):
        f = c.makefile("rwb")
        for line in f:
            f.write(f"{peer[0]}:{peer[1]} ".encode() + line)
            f.flush()
        c.close()

    while True:
        c, peer = s.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()


def out(obj):
    print(json.dumps(obj), flush=True)


def client(addr, port):
    stats = {"echoed": 0, "maxGapMs": 0}

    def done(*_):
        out({"done": True, **stats})
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    try:
        c = socket.create_connection((addr, port), timeout=10)
        c.settimeout(120)
        f = c.makefile("rwb")
        last = time.monotonic()
        n = 0
        while True:
            n += 1
            f.write(f"{n}\n".encode())
            f.flush()
            line = f.readline().decode()
            if not line:
                raise OSError("connection closed by the server")
            peer, echoed = line.split()
            if echoed != str(n):
                raise OSError(f"echo {echoed!r} for line {n}")
            now = time.monotonic()
            stats["echoed"] = n
            stats["maxGapMs"] = max(stats["maxGapMs"], round((now - last) * 1000))
            last = now
            out({"n": n, "peer": peer})
            time.sleep(0.2)
    except (OSError, ValueError) as e:
        out({"error": str(e), **stats})
        sys.exit(1)


if __name__ == "__main__":
    {"server": server, "client": client}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
