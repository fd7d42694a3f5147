#!/usr/bin/env python3
"""ICMP errors through a NAT balancer, from both ends, with real kernel sockets.

udp-refused VIP PORT
    A connected UDP socket sends to VIP:PORT (whose real port is closed) and must see
    ECONNREFUSED, i.e. the real server's port unreachable reached it translated. Prints
    "refused" or "no-error".
tcp-mtu VIP PORT
    Connects to a line echo service at VIP:PORT, sends a line, then watches the socket's path
    MTU (IP_MTU) for 10 s. Prints "echoed", then "mtu N" (the last value seen).
frag-needed IFACE CLIENT PORT MTU
    In the real server's namespace: sniffs IFACE for the client's next data segment to PORT,
    then sends the client a "fragmentation needed" (MTU) quoting that connection as the real
    server received it (CLIENT -> this server), with the sequence number the client's kernel
    expects. Prints "sniffing", then "sent".
"""
import socket
import struct
import sys
import time

from labnet import checksum

IP_MTU = 14


def udp_refused(vip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((vip, port))
    s.settimeout(2)
    for _ in range(5):  # the first datagram may wait for ARP inside the balancer
        s.send(b"anyone there?")
        try:
            s.recv(100)
        except ConnectionRefusedError:
            print("refused", flush=True)
            return
        except socket.timeout:
            continue
    print("no-error", flush=True)


def tcp_mtu(vip, port):
    s = socket.create_connection((vip, port), timeout=5)
    s.sendall(b"hello\n")
    s.makefile("rb").readline()
    print("echoed", flush=True)
    mtu = s.getsockopt(socket.IPPROTO_IP, IP_MTU)
    deadline = time.time() + 10
    while time.time() < deadline:
        mtu = s.getsockopt(socket.IPPROTO_IP, IP_MTU)
        if mtu < 1500:
            break
        time.sleep(0.2)
    print(f"mtu {mtu}", flush=True)


def frag_needed(iface, client, port, mtu):
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
    sniff.bind((iface, 0))
    sniff.settimeout(15)
    print("sniffing", flush=True)
    cip = socket.inet_aton(client)
    while True:
        frame = sniff.recv(4096)
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 6 or ip[12:16] != cip:
            continue
        tcp = ip[ihl:total]
        dport = struct.unpack("!H", tcp[2:4])[0]
        off = (tcp[12] >> 4) * 4
        payload = total - ihl - off
        if dport != port or payload <= 0:
            continue
        seq = (struct.unpack("!I", tcp[4:8])[0] + payload) & 0xFFFFFFFF
        quote = bytes(ip[:ihl]) + tcp[0:4] + struct.pack("!I", seq)
        icmp = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quote
        icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        raw.sendto(icmp, (client, 0))
        print("sent", flush=True)
        return


cmd = sys.argv[1]
if cmd == "udp-refused":
    udp_refused(sys.argv[2], int(sys.argv[3]))
elif cmd == "tcp-mtu":
    tcp_mtu(sys.argv[2], int(sys.argv[3]))
elif cmd == "frag-needed":
    frag_needed(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
else:
    sys.exit(f"unknown command {cmd}")
