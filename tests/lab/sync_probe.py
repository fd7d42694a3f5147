#!/usr/bin/env python3
"""Sends IPVS sync datagrams a backup must refuse, from SRC to GROUP:PORT (multicast, TTL 1): a
well-formed message of sync group 9 with one connection record, and a message whose size field
disagrees with its length. With --valid, instead one well-formed message of group 5 that a
backup would install if it took records from SRC. Prints "sync_probe: sent N".

Usage: sync_probe.py SRC GROUP PORT [--valid]"""
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
valid = struct.pack("!BBHBBH", 0, 5, 8 + len(record), 1, 1, 0) + record.replace(b"\x10\x24", b"\x00\x24", 1)
messages = (valid,) if sys.argv[4:] == ["--valid"] else (other_group, bad_size)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.bind((src, 0))
for msg in messages:
    s.sendto(msg, (group, port))
print(f"sync_probe: sent {len(messages)}", flush=True)
