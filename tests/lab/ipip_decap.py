#!/usr/bin/env python3
"""User-space IP-in-IP decapsulator for a TUN-mode real server in the rvs lab.

This kernel has no ipip device, so a real server cannot decapsulate LVS/TUN traffic itself. A
raw IPPROTO_IPIP socket receives the encapsulated packets (outer header included); the inner
packet (RFC 2003) is written into a TUN device that carries the VIP, and the kernel delivers it
locally as if it had arrived on that device. Replies leave by the normal routes, straight to
the client. Usage: ipip_decap.py TUN_NAME
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
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)  # IPPROTO_IPIP
print(f"ipip_decap {name} ready", flush=True)
while True:
    pkt = raw.recv(65535)
    ihl = (pkt[0] & 0x0F) * 4
    inner = pkt[ihl:]
    if len(inner) >= 20 and inner[0] >> 4 == 4:
        os.write(tun, inner)
