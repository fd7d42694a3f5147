#!/usr/bin/env python3
"""UDP echo server for the rvs lab: answers each datagram with "<name>:<payload>", and prints
"from <address>" for each, so a test can see whom the server saw; over IPv4, with
" uoa <port> <address>" when the datagram carried DPVS's UOA IP option (kind 31)."""
import ipaddress
import socket
import struct
import sys

name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
v6 = ":" in addr
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
if not v6:
    s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_RECVOPTS", 6), 1)
s.bind((addr, port))
print(f"udp_echo {name} listening on {addr}:{port}", flush=True)


def uoa_of(options):
    """The (port, address) of a UOA option among IPv4 options, if any."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            return None
        size = options[i + 1]
        if kind == 31 and size == 8:
            return struct.unpack("!H", options[i + 2:i + 4])[0], ipaddress.ip_address(bytes(options[i + 4:i + 8]))
        i += size
    return None


while True:
    data, anc, _flags, peer = s.recvmsg(65535, 256)
    line = f"from {peer[0]}"
    for level, kind, value in anc:
        # Linux hands received options over as an IP_RECVOPTS message (ip_cmsg_recv_opts).
        if level == socket.IPPROTO_IP and kind in (getattr(socket, "IP_RECVOPTS", 6), getattr(socket, "IP_OPTIONS", 4)):
            u = uoa_of(value)
            if u:
                line += f" uoa {u[0]} {u[1]}"
    print(line, flush=True)
    s.sendto(name.encode() + b":" + data, peer)
