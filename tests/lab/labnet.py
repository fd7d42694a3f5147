"""Helpers shared by the lab's packet scripts."""
import struct


def checksum(b):
    """The Internet checksum (RFC 1071) of `b`."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
