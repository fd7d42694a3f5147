#!/usr/bin/env python3
"""Sends two IPVS sync datagrams a backup must refuse, from SRC to GROUP:PORT (multicast, TTL 1):
a well-formed message of sync group 9 with one connection record, and a message whose size
field disagrees with its length. Prints "sync_probe: sent 2".

Usage: sync_probe.py SRC GROUP PORT"""
import socket
import struct
import sys

src, group, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
record = struct.pack(
    "!BBHIHHHHII4s4s4s",
    0, 6, (1 << 12) | 36,        # IPv4 record, TCP, version 1, 36 bytes
    0x0003,                       # direct routing
    1, 4242, 7, 7, 0, 900,        # ESTABLISHED, ports, fwmark, timeout
    socket.inet_aton("198.18.0.250"), socket.inet_aton("198.18.0.100"), socket.inet_aton("198.18.0.11"),
)
other_group = struct.pack("!BBHBBH", 0, 9, 8 + len(record), 1, 1, 0) + record
bad_size = struct.pack("!BBHBBH", 0, 5, 200, 1, 1, 0) + record
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.bind((src, 0))
for msg in (other_group, bad_size):
    s.sendto(msg, (group, port))
print("sync_probe: sent 2", flush=True)
