#!/usr/bin/env python3
"""UDP echo server for the rvs lab: answers each datagram with "<name>:<payload>" (and prints
"from <address>" for each, so a test can see whom the server saw)."""
import socket
import sys

name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
print(f"udp_echo {name} listening on {addr}:{port}", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    print(f"from {peer[0]}", flush=True)
    s.sendto(name.encode() + b":" + data, peer)
