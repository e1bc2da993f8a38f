"""Packet I/O on one interface for the live conformance lab (run inside a test namespace).

  pktio.py IFACE PEER_MAC

Writes each packet read from stdin (one hex line: an IPv4 or IPv6 packet, from its IP header on)
to PEER_MAC through an AF_PACKET socket, exactly as given (the kernel of this namespace never
sees it), and prints every packet that arrives on IFACE as a hex line (IP header on; ARP, our
own sends and other EtherTypes skipped). Prints "ready" once capturing."""
import socket
import sys
import threading

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4

iface, peer = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
rx.bind((iface, ETH_P_ALL))
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM)
out = sys.stdout
lock = threading.Lock()


def capture():
    while True:
        data, addr = rx.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING or addr[1] not in (ETH_P_IP, ETH_P_IPV6):
            continue
        with lock:
            out.write(data.hex() + "\n")
            out.flush()


threading.Thread(target=capture, daemon=True).start()
with lock:
    out.write("ready\n")
    out.flush()
for line in sys.stdin:
    pkt = bytes.fromhex(line.strip())
    if pkt:
        proto = ETH_P_IP if pkt[0] >> 4 == 4 else ETH_P_IPV6
        tx.sendto(pkt, (iface, proto, 0, 0, peer))
