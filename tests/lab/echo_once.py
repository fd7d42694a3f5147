#!/usr/bin/env python3
"""One new connection to a line echo service (tcp_echo.py): connects from SRC, sends a line,
prints "echo_once: NAME" (the real server that answered) and exits 0; on any failure prints
"echo_once: failed WHY" and exits 1. Bounded: 3 s to connect, 3 s for the answer.

Usage: echo_once.py VIP PORT SRC"""
import socket
import sys

vip, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    with socket.create_connection((vip, port), timeout=3, source_address=(src, 0)) as s:
        s.settimeout(3)
        s.sendall(b"hello\n")
        line = s.makefile("rb").readline()
    name, _, rest = line.partition(b" ")
    if rest != b"hello\n":
        raise OSError(f"unexpected answer {line!r}")
    print(f"echo_once: {name.decode()}", flush=True)
except OSError as e:
    print(f"echo_once: failed {e}", flush=True)
    sys.exit(1)
