#!/usr/bin/env python3
"""Holds one TCP connection per source address to VIP:PORT (a line echo service) and checks
them in rounds, so a test can change the balancer between rounds and see whether established
connections survive. Round R starts when the file DIR/round-R appears (bounded wait); each
connection sends a line and must get it back within 3 s. Prints, per round,
"round R ok=K fail=F servers=ADDR:NAME,..." (the real server that answered each connection).

Usage: hold_conns.py VIP PORT DIR ROUNDS SRC [SRC ...]"""
import os
import socket
import struct
import sys
import time

vip, port, trigger_dir, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sources = sys.argv[5:]
conns = []
for src in sources:
    s = socket.create_connection((vip, port), timeout=5, source_address=(src, 0))
    s.settimeout(3)
    conns.append((src, s, s.makefile("rb")))
print(f"connected {len(conns)}", flush=True)
for r in range(1, rounds + 1):
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(trigger_dir, f"round-{r}")):
        if time.time() > deadline:
            print(f"round {r} never triggered", flush=True)
            sys.exit(1)
        time.sleep(0.05)
    ok, fail, servers = 0, 0, []
    for src, s, f in conns:
        msg = f"ping {r} {src}\n".encode()
        try:
            s.sendall(msg)
            line = f.readline()
            name, _, rest = line.partition(b" ")
            if rest == msg:
                ok += 1
                servers.append(f"{src}:{name.decode()}")
            else:
                fail += 1
                servers.append(f"{src}:?")
        except OSError:
            fail += 1
            servers.append(f"{src}:-")
    print(f"round {r} ok={ok} fail={fail} servers={','.join(servers)}", flush=True)
if os.environ.get("HOLD_RST") == "1":
    for _, s, f in conns:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        f.close()
        s.close()
print("done", flush=True)
