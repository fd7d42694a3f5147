#!/usr/bin/env python3
"""User-space GUE or GRE decapsulator for a TUN real server in the rvs lab.

This kernel has neither fou nor gre devices, so the real server decapsulates in user space,
as ipip_decap.py does for IPIP. GUE: a UDP socket on PORT receives the UDP payload (the
kernel has already verified a nonzero UDP checksum and drops a wrong one, counted in
/proc/net/snmp as Udp InCsumErrors); the 4-byte GUE header must say version 0, no options and
proto_ctype 4 (IPv4 inside). GRE: a raw IPPROTO_GRE socket receives the whole packet; the
header must say version 0, protocol 0x0800, and with the C bit a checksum over the GRE header
and payload that verifies (RFC 2784 §2.5). Each accepted inner packet is written into a TUN
device that carries the VIP. Every second with news it prints "decap KIND ok=N bad=M".

Usage: tunnel_decap.py gue PORT TUN_NAME | tunnel_decap.py gre TUN_NAME
"""
import fcntl
import os
import select
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

kind = sys.argv[1]
if kind == "gue":
    port, name = int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
else:
    name = sys.argv[2]
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))


def ones_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def inner_of(pkt):
    """The inner IPv4 packet, or None for a malformed one."""
    if kind == "gue":
        if len(pkt) < 4 or pkt[0] != 0 or pkt[1] != 4 or pkt[2:4] != b"\0\0":
            return None
        return pkt[4:]
    ihl = (pkt[0] & 0x0F) * 4
    gre = pkt[ihl:]
    flags, proto = struct.unpack("!HH", gre[:4])
    if proto != 0x0800 or flags & 0x7FFF:
        return None
    if flags & 0x8000:
        if ones_sum(gre) != 0xFFFF:
            return None
        return gre[8:]
    return gre[4:]


ok = bad = 0
shown = (0, 0)
last = time.time()
print(f"tunnel_decap {kind} {name} ready", flush=True)
while True:
    r, _, _ = select.select([sock], [], [], 0.5)
    if r:
        pkt = sock.recv(65535)
        inner = inner_of(pkt)
        if inner is not None and len(inner) >= 20 and inner[0] >> 4 == 4:
            ok += 1
            os.write(tun, inner)
        else:
            bad += 1
    if (ok, bad) != shown and time.time() - last >= 1:
        print(f"decap {kind} ok={ok} bad={bad}", flush=True)
        shown, last = (ok, bad), time.time()
