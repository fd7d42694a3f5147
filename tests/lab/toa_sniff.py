#!/usr/bin/env python3
"""Prints, for each TCP segment to PORT seen on IFACE (for SECONDS at most), its flags and its
TOA option (TCP option 254 in DPVS's format: port, then the IPv4 or IPv6 address):
"toa FLAGS PORT ADDR", or "plain FLAGS" without one. Usage: toa_sniff.py IFACE PORT SECONDS"""
import ipaddress
import socket
import struct
import sys
import time

iface, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
print("sniffing", flush=True)
end = time.time() + seconds
while time.time() < end:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    ethertype = struct.unpack("!H", f[12:14])[0]
    if ethertype == 0x0800:
        proto, l4 = f[23], 14 + (f[14] & 0xF) * 4
    elif ethertype == 0x86DD:
        proto, l4 = f[20], 54
    else:
        continue
    if proto != 6 or len(f) < l4 + 20 or struct.unpack("!H", f[l4 + 2:l4 + 4])[0] != port:
        continue
    hlen, flags = (f[l4 + 12] >> 4) * 4, f[l4 + 13]
    opts, i, toa = f[l4 + 20:l4 + hlen], 0, None
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        size = opts[i + 1]
        if kind == 254 and size in (8, 20):
            toa = (struct.unpack("!H", opts[i + 2:i + 4])[0], ipaddress.ip_address(bytes(opts[i + 4:i + size])))
        i += size
    names = "".join(c for b, c in enumerate("FSRPAU") if flags >> b & 1)
    print(f"toa {names} {toa[0]} {toa[1]}" if toa else f"plain {names}", flush=True)
