#!/usr/bin/env python3
"""A user-space SCTP endpoint for the rvs lab (RFC 9260), over raw IPv4 sockets of protocol 132:
this kernel has no SCTP module, so python's socket module cannot speak SCTP here. It speaks the
real wire protocol — the four-way handshake with a state cookie, DATA and SACK, the three-way
shutdown — and checks every packet's CRC32c, so a balancer that rewrites a port without the
checksum fails it. (A raw socket of protocol 132 also keeps the kernel from answering "protocol
unreachable".)

  sctp_peer.py server NAME BIND PORT
      Serves associations on BIND:PORT: answers each DATA with a DATA "NAME <data>".
      Prints "sctp: listening", one "sctp: association from ADDR:PORT" per COOKIE ECHO, and
      "sctp: bad checksum" for each packet whose CRC32c is wrong (it is then ignored).
  sctp_peer.py client VIP PORT SRC MESSAGE
      One association from SRC (a random port) to VIP:PORT: handshake, MESSAGE, the answer,
      shutdown. Prints "sctp: NAME" (the answering server) and exits 0, or "sctp: failed WHY"
      and exits 1. Bounded: INIT tried 3 times 1 s apart, 3 s for every other answer.
"""
import os
import random
import select
import socket
import struct
import sys
import time

INIT, INIT_ACK, SACK, ABORT, SHUTDOWN, SHUTDOWN_ACK = 1, 2, 3, 6, 7, 8
DATA, COOKIE_ECHO, COOKIE_ACK, SHUTDOWN_COMPLETE = 0, 10, 11, 14


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def packet(sport, dport, vtag, chunks):
    p = struct.pack("!HHII", sport, dport, vtag, 0) + b"".join(chunks)
    return p[:8] + struct.pack("<I", crc32c(p)) + p[12:]


def chunk(kind, value, flags=0):
    c = struct.pack("!BBH", kind, flags, 4 + len(value)) + value
    return c + b"\0" * (-len(c) % 4)


def parse(ip_packet):
    """(source address, sport, dport, vtag, checksum ok, [(type, flags, value)]) or None."""
    ihl = (ip_packet[0] & 0x0F) * 4
    src = socket.inet_ntoa(ip_packet[12:16])
    p = ip_packet[ihl:]
    if len(p) < 16:
        return None
    sport, dport, vtag, got = struct.unpack("!HHII", p[:12])
    ok = struct.unpack("<I", p[8:12])[0] == crc32c(p[:8] + b"\0\0\0\0" + p[12:])
    chunks, at = [], 12
    while at + 4 <= len(p):
        kind, flags, length = struct.unpack("!BBH", p[at:at + 4])
        if length < 4:
            break
        chunks.append((kind, flags, p[at + 4:at + length]))
        at += (length + 3) & ~3
    return src, sport, dport, vtag, ok, chunks


def init_value(tag, tsn, cookie=None):
    v = struct.pack("!IIHHI", tag, 65535, 10, 10, tsn)
    if cookie is not None:  # INIT ACK: the State Cookie parameter (type 7)
        param = struct.pack("!HH", 7, 4 + len(cookie)) + cookie
        v += param + b"\0" * (-len(param) % 4)
    return v


def data_chunk(tsn, payload):
    return chunk(DATA, struct.pack("!IHHI", tsn, 0, 0, 0) + payload, flags=0x03)


def sack_chunk(cum_tsn):
    return chunk(SACK, struct.pack("!IIHH", cum_tsn, 65535, 0, 0))


def raw_socket(bind):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)
    s.bind((bind, 0))
    return s


def serve(name, bind, port):
    s = raw_socket(bind)
    assocs = {}  # (peer, peer port) -> (peer's tag, our tag, our next TSN)
    print("sctp: listening", flush=True)
    while True:
        got = parse(s.recv(65535))
        if got is None:
            continue
        src, sport, dport, vtag, ok, chunks = got
        if dport != port or not chunks:
            continue
        if not ok:
            print("sctp: bad checksum", flush=True)
            continue
        key = (src, sport)
        kind, _, value = chunks[0]
        if kind == INIT and len(value) >= 16:
            peer_tag, _, _, _, peer_tsn = struct.unpack("!IIHHI", value[:16])
            tag = random.getrandbits(32) or 1
            assocs[key] = (peer_tag, tag, random.getrandbits(31))
            cookie = struct.pack("!II", peer_tag, tag) + os.urandom(8)
            ack = chunk(INIT_ACK, init_value(tag, assocs[key][2], cookie))
            s.sendto(packet(port, sport, peer_tag, [ack]), (src, 0))
            continue
        if key not in assocs:
            continue
        peer_tag, tag, tsn = assocs[key]
        out = []
        for kind, _, value in chunks:
            if kind == COOKIE_ECHO:
                print(f"sctp: association from {src}:{sport}", flush=True)
                out.append(chunk(COOKIE_ACK, b""))
            elif kind == DATA and len(value) >= 12:
                peer_tsn = struct.unpack("!I", value[:4])[0]
                out.append(sack_chunk(peer_tsn))
                out.append(data_chunk(tsn, name.encode() + b" " + value[12:]))
                assocs[key] = (peer_tag, tag, tsn + 1)
            elif kind == SHUTDOWN:
                out.append(chunk(SHUTDOWN_ACK, b""))
            elif kind in (SHUTDOWN_COMPLETE, ABORT):
                assocs.pop(key, None)
        if out:
            s.sendto(packet(port, sport, peer_tag, out), (src, 0))


def client(vip, port, src, message):
    s = raw_socket(src)
    sport = random.randint(20000, 60000)
    tag, tsn = random.getrandbits(32) or 1, random.getrandbits(31)

    def wait(kinds, limit=3.0):
        end = time.time() + limit
        while time.time() < end:
            r, _, _ = select.select([s], [], [], max(0.0, end - time.time()))
            if not r:
                break
            got = parse(s.recv(65535))
            if got is None:
                continue
            frm, psport, pdport, vtag, ok, chunks = got
            if frm != vip or psport != port or pdport != sport or vtag != tag:
                continue  # another association's, or not from the VIP's port: not ours
            if not ok:
                raise OSError("a packet from the VIP with a bad CRC32c")
            found = [c for c in chunks if c[0] in kinds]
            if any(c[0] == ABORT for c in chunks):
                raise OSError("aborted")
            if found:
                return found
        raise OSError(f"no chunk of types {sorted(kinds)} from {vip}:{port}")

    send = lambda vtag, chunks: s.sendto(packet(sport, port, vtag, chunks), (vip, 0))
    for attempt in range(3):
        send(0, [chunk(INIT, init_value(tag, tsn))])
        try:
            (_, _, value), = wait({INIT_ACK}, 1.0)[:1]
            break
        except OSError:
            if attempt == 2:
                raise
    peer_tag, _, _, _, peer_tsn = struct.unpack("!IIHHI", value[:16])
    params, cookie = value[16:], None
    while len(params) >= 4:
        ptype, plen = struct.unpack("!HH", params[:4])
        if ptype == 7:
            cookie = params[4:plen]
        params = params[(plen + 3) & ~3:]
    if cookie is None:
        raise OSError("INIT ACK without a state cookie")
    send(peer_tag, [chunk(COOKIE_ECHO, cookie)])
    wait({COOKIE_ACK})
    send(peer_tag, [data_chunk(tsn, message.encode())])
    (_, _, value), = wait({DATA})[:1]
    answer = value[12:].decode()
    send(peer_tag, [sack_chunk(struct.unpack("!I", value[:4])[0])])
    send(peer_tag, [chunk(SHUTDOWN, struct.pack("!I", struct.unpack("!I", value[:4])[0]))])
    wait({SHUTDOWN_ACK})
    send(peer_tag, [chunk(SHUTDOWN_COMPLETE, b"")])
    name, _, echoed = answer.partition(" ")
    if echoed != message:
        raise OSError(f"unexpected answer {answer!r}")
    return name


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        try:
            print(f"sctp: {client(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])}", flush=True)
        except (OSError, ValueError) as e:
            print(f"sctp: failed {e}", flush=True)
            sys.exit(1)
