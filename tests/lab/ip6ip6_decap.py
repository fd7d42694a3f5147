#!/usr/bin/env python3
"""User-space IPv6-in-IPv6 decapsulator for a TUN-mode real server in the rvs lab (RFC 2473).

This kernel has no ip6_tunnel device, so a real server cannot decapsulate LVS/TUN traffic for
IPv6 itself. A raw socket of next header 41 receives the encapsulated packets' payload (an IPv6
raw socket hands over what follows the outer header: the inner packet), which is written into a
TUN device that carries the VIP; the kernel delivers it locally as if it had arrived on that
device. Replies leave by the normal routes, straight to the client. Usage: ip6ip6_decap.py TUN
"""
import fcntl
import os
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

name = sys.argv[1]
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)  # next header: IPv6
print(f"ip6ip6_decap {name} ready", flush=True)
while True:
    inner = raw.recv(65535)
    if len(inner) >= 40 and inner[0] >> 4 == 6:
        os.write(tun, inner)
