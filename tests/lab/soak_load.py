#!/usr/bin/env python3
"""The soak's steady load from the client namespace, bounded in time, one JSON object a line on
stdout (every line flushed; times are time.time()):

- http: a GET every PERIOD seconds, round-robin over the HTTP targets (VIP:PORT/path), each on a
  fresh connection from the next source address, 5 s timeout (a lost SYN costs 1 s, a second
  one 3 s: a request that takes longer failed); slots missed while one waited are skipped:
  {"k":"http","t":T,"d":SECONDS,"target":"VIP:PORT","src":SRC,"ok":bool,"server":NAME,"err":TEXT}
- udp: a datagram every 0.2 s to the UDP target, 1 s timeout:
  {"k":"udp","t":T,"ok":bool,"server":NAME,"err":TEXT}
- long: one TCP connection per LONG source to the echo target, a line each second, its echo
  within 15 s; a connection that fails is reported with the server that held it, then opened again:
  {"k":"long","t":T,"src":SRC,"event":"lost"|"open","server":NAME,"err":TEXT}
- download: the file at DOWNLOAD again and again (3 s apart), its sha256 against SHA:
  {"k":"dl","t":T,"ok":bool,"intact":bool,"bytes":N,"err":TEXT}
Ends after SECONDS, or at SIGTERM, with {"k":"end","t":T}.

Usage: soak_load.py CONFIG.json  (keys: seconds, http_period, http_targets, http_sources,
udp_target, echo_target, long_sources, download, sha256)"""
import hashlib
import json
import select
import signal
import socket
import sys
import threading
import time
import urllib.request

cfg = json.load(open(sys.argv[1]))
# A long-lived connection is lost when its echo has not come back in this long: longer than a
# failover (VRRP's 3 s and TCP's retransmission after it), so a connection that rides one out
# is not counted lost.
LONG_DEADLINE = 15.0
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
out_lock = threading.Lock()
end_at = time.time() + float(cfg["seconds"])


def emit(**ev):
    ev.setdefault("t", time.time())
    with out_lock:
        sys.stdout.write(json.dumps(ev) + "\n")
        sys.stdout.flush()


def running():
    return not stop.is_set() and time.time() < end_at


def addr(target):
    host, port = target.rsplit(":", 1)
    return host, int(port)


def http_get(target, path, src, timeout):
    host, port = addr(target)
    try:
        s = socket.create_connection((host, port), timeout=timeout, source_address=(src, 0))
    except OSError as e:
        raise OSError(f"connect: {e}") from e
    try:
        s.settimeout(timeout)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200") and not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"status {head[:40]!r}")
    return body


def http_loop():
    targets, sources = cfg["http_targets"], cfg["http_sources"]
    period = float(cfg["http_period"])
    i = 0
    next_at = time.time()
    while running():
        target = targets[i % len(targets)]
        src = sources[i % len(sources)]
        hostport, _, path = target.partition("/")
        t = time.time()
        try:
            body = http_get(hostport, "/" + path, src, 5.0)
            emit(k="http", t=t, d=time.time() - t, target=hostport, src=src, ok=True,
                 server=body.decode(errors="replace").strip())
        except Exception as e:  # noqa: BLE001 - every failure is data
            emit(k="http", t=t, d=time.time() - t, target=hostport, src=src, ok=False, server="", err=str(e)[:80])
        i += 1
        next_at = max(next_at + period, time.time() - period)
        time.sleep(max(0.0, next_at - time.time()))


def udp_loop():
    host, port = addr(cfg["udp_target"])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    n = 0
    while running():
        t = time.time()
        n += 1
        try:
            s.sendto(f"q{n}".encode(), (host, port))
            while True:
                data, _ = s.recvfrom(2048)
                name, _, payload = data.decode(errors="replace").partition(":")
                if payload == f"q{n}":
                    break
            emit(k="udp", t=t, ok=True, server=name)
        except Exception as e:  # noqa: BLE001
            emit(k="udp", t=t, ok=False, server="", err=str(e)[:80])
        time.sleep(max(0.0, 0.2 - (time.time() - t)))


class Long:
    def __init__(self, src):
        self.src, self.sock, self.server, self.buf, self.sent_at = src, None, "", b"", None

    def open(self):
        host, port = addr(cfg["echo_target"])
        try:
            self.sock = socket.create_connection((host, port), timeout=3, source_address=(self.src, 0))
            self.sock.setblocking(False)
            self.buf, self.sent_at = b"", None
            emit(k="long", src=self.src, event="open", server="")
        except OSError:
            self.sock = None

    def lost(self, err):
        emit(k="long", src=self.src, event="lost", server=self.server, err=err[:80])
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None


def long_loop():
    conns = [Long(src) for src in cfg["long_sources"]]
    for c in conns:
        c.open()
    last_tick = 0.0
    while running():
        now = time.time()
        if now - last_tick >= 1.0:
            last_tick = now
            for c in conns:
                if c.sock is None:
                    c.open()
                    continue
                if c.sent_at is not None and now - c.sent_at > LONG_DEADLINE:
                    c.lost(f"no echo within {LONG_DEADLINE:.0f} s")
                    continue
                if c.sent_at is None:
                    try:
                        c.sock.send(b"ping\n")
                        c.sent_at = now
                    except OSError as e:
                        c.lost(str(e))
        socks = [c.sock for c in conns if c.sock is not None]
        if not socks:
            time.sleep(0.1)
            continue
        readable, _, _ = select.select(socks, [], [], 0.1)
        for c in conns:
            if c.sock is None or c.sock not in readable:
                continue
            try:
                data = c.sock.recv(4096)
            except OSError as e:
                c.lost(str(e))
                continue
            if not data:
                c.lost("closed by peer")
                continue
            c.buf += data
            while b"\n" in c.buf:
                line, _, c.buf = c.buf.partition(b"\n")
                c.server = line.decode(errors="replace").split(" ")[0]
                c.sent_at = None
    for c in conns:
        if c.sock is not None:
            c.sock.close()


def download_loop():
    url, want = cfg["download"], cfg["sha256"]
    while running():
        t = time.time()
        h, n = hashlib.sha256(), 0
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                while True:
                    chunk = r.read(1 << 16)
                    if not chunk:
                        break
                    h.update(chunk)
                    n += len(chunk)
            emit(k="dl", t=t, ok=True, intact=h.hexdigest() == want, bytes=n)
        except Exception as e:  # noqa: BLE001
            emit(k="dl", t=t, ok=False, intact=True, bytes=n, err=str(e)[:80])
        stop.wait(3.0)


threads = [threading.Thread(target=f, daemon=True) for f in (http_loop, udp_loop, long_loop, download_loop)]
emit(k="start")
for th in threads:
    th.start()
for th in threads:
    th.join(timeout=max(1.0, end_at - time.time() + 15))
emit(k="end")
