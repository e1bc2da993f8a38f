#!/usr/bin/env python3
"""The edge lab's peer: `peer.py serve PORT` answers each TCP connection (IPv4 and IPv6) with the
address it came from and closes it; `peer.py ask HOST PORT [TIMEOUT]` prints that answer, or
exits 1 with the reason when the connection fails."""
import socket
import sys
import threading


def serve(port: int) -> None:
    def loop(sock: socket.socket) -> None:
        while True:
            conn, peer = sock.accept()
            with conn:
                conn.sendall(peer[0].encode() + b"\n")

    socks = []
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(64)
        socks.append(s)
    print("serving", flush=True)
    threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ask(host: str, port: int, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            print(s.makefile().readline().strip())
    except OSError as e:
        print(f"failed: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        ask(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 3.0)
