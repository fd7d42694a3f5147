#!/usr/bin/env python3
"""Sends malformed and hostile frames at a balancer's port from a raw socket, bounded in count
and time: truncations, bad IHL and lengths, bad checksums, fragments, IP options, bad TCP/UDP
headers, ICMP errors quoting garbage, ARP junk, VLAN junk and random bytes, all addressed to the
port's MAC and (where IP) to a VIP. Prints "sent N" and the count per kind.

Usage: hostile_frames.py IFACE DST_MAC SRC_IP VIP COUNT SECONDS"""
import random
import socket
import struct
import sys
import time

from labnet import checksum

iface, dst_mac, src_ip, vip = sys.argv[1:5]
count, seconds = int(sys.argv[5]), float(sys.argv[6])
rng = random.Random(20261129)
dst = bytes.fromhex(dst_mac.replace(":", ""))
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((iface, 0))
src = sock.getsockname()[4][:6]
SRC, VIP = socket.inet_aton(src_ip), socket.inet_aton(vip)


def eth(payload, ethertype=0x0800):
    return dst + src + struct.pack("!H", ethertype) + payload


def ip(proto, l4, ihl=5, total=None, frag=0, good_csum=True, options=b"", version=4):
    options = options.ljust((ihl - 5) * 4, b"\x01")[: max(0, (ihl - 5) * 4)]
    total = 20 + len(options) + len(l4) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", version << 4 | (ihl & 0xF), 0, total & 0xFFFF, rng.getrandbits(16), frag, 64, proto, 0, SRC, VIP)
    h += options
    c = checksum(h) if good_csum else rng.getrandbits(16)
    h = h[:10] + struct.pack("!H", c) + h[12:]
    return h + l4


def tcp(flags=0x02, off=5, length=20):
    t = struct.pack("!HHIIBBHHH", rng.getrandbits(16) | 1024, 80, rng.getrandbits(32), 0, off << 4, flags, 8192, 0, 0)
    return (t + b"\0" * 40)[:length]


def udp(length_field=None, body=8):
    ln = 8 + body if length_field is None else length_field
    return struct.pack("!HHHH", rng.getrandbits(16) | 1024, 53, ln, 0) + bytes(rng.getrandbits(8) for _ in range(body))


def kinds():
    r = rng.random
    return {
        "header_only": lambda: dst + src + rng.choice([b"\x08\x00", b"\x08\x06", b"\x81\x00"]),
        "short_ipv4": lambda: eth(b"\x45\x00\x00"),
        "bad_version": lambda: eth(ip(6, tcp(), version=rng.choice([0, 5, 6, 15]))),
        "ihl_below_5": lambda: eth(ip(6, tcp(), ihl=rng.randint(0, 4))),
        "ihl_past_end": lambda: eth(ip(6, b"", ihl=15, total=20)[:24]),
        "total_len_past_frame": lambda: eth(ip(6, tcp(), total=rng.randint(100, 65535))),
        "total_len_below_ihl": lambda: eth(ip(6, tcp(), total=rng.randint(0, 19))),
        "bad_ip_checksum": lambda: eth(ip(6, tcp(), good_csum=False)),
        "fragment": lambda: eth(ip(rng.choice([6, 17]), tcp(), frag=rng.choice([0x2000, 0x2000 | 185, 185, 0x1FFF]))),
        "ip_options": lambda: eth(ip(6, tcp(), ihl=rng.randint(6, 15), options=bytes([7, 7, 4]))),
        "tcp_truncated": lambda: eth(ip(6, tcp(length=rng.randint(0, 19)))),
        "tcp_bad_offset": lambda: eth(ip(6, tcp(off=rng.choice([0, 1, 4, 15])))),
        "tcp_odd_flags": lambda: eth(ip(6, tcp(flags=rng.getrandbits(8)))),
        "udp_truncated": lambda: eth(ip(17, udp()[: rng.randint(0, 7)])),
        "udp_bad_length": lambda: eth(ip(17, udp(length_field=rng.choice([0, 7, 9000])))),
        "icmp_quoting_garbage": lambda: eth(
            ip(1, struct.pack("!BBHI", 3, rng.randint(0, 15), 0, 0) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))))
        ),
        "icmp_truncated": lambda: eth(ip(1, bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 7))))),
        "icmp_quoting_ip": lambda: eth(ip(1, struct.pack("!BBHI", rng.choice([3, 4, 5, 11, 12]), 0, 0, 0) + ip(rng.choice([6, 17]), tcp(length=8)))),
        "arp_junk": lambda: eth(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))), 0x0806),
        "vlan_junk": lambda: eth(struct.pack("!HH", rng.getrandbits(12), 0x0800) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))), 0x8100),
        "random_ethertype": lambda: eth(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 100))), rng.getrandbits(16)),
        "random_ipv4": lambda: eth(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 120)))),
        "other_protocol": lambda: eth(ip(rng.choice([0, 2, 4, 41, 47, 50, 132, 255]), bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60))))),
    }


gen = kinds()
names = sorted(gen)
sent = {n: 0 for n in names}
deadline = time.time() + seconds
n = 0
while sum(sent.values()) < count and n < 2 * count and time.time() < deadline:
    k = names[n % len(names)]
    try:
        sock.send(gen[k]())
        sent[k] += 1
    except OSError:
        pass  # the kernel refuses some shapes outright (e.g. shorter than a header)
    n += 1
print(f"sent {sum(sent.values())} of {n} in {seconds - max(0.0, deadline - time.time()):.1f} s", flush=True)
print(" ".join(f"{k}={v}" for k, v in sent.items()), flush=True)
