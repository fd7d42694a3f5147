//! Masquerading (LVS/NAT): the client's packets get destination RIP:rport instead of
//! VIP:vport; the real server's replies get source VIP:vport back instead of RIP:rport. The
//! client's own address and port are never changed.

use crate::wire::checksum::{update16, update32};
use crate::wire::ipv4::protocol;
use crate::wire::{be16, get4, put16};

use super::IP_CSUM;

/// Offset of the transport checksum from `l4`, or `None` for protocols without one here.
#[inline]
fn l4_csum_at(proto: u8) -> Option<usize> {
    match proto {
        protocol::TCP => Some(16),
        protocol::UDP => Some(6),
        _ => None,
    }
}

/// Which end of the packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Source address and port (replies: RIP:rport -> VIP:vport).
    Src,
    /// Destination address and port (requests: VIP:vport -> RIP:rport).
    Dst,
}

/// Rewrites one end's address and port, patching the IPv4 header checksum and the TCP/UDP
/// checksum (pseudo-header address and port word). With `l4_csum = false` the transport
/// checksum is left alone (a header quoted in an ICMP error carries only its first 8 bytes).
#[inline]
#[allow(clippy::too_many_arguments)] // a flat primitive: every argument is one header field
pub fn rewrite(pkt: &mut [u8], l3: usize, l4: usize, proto: u8, end: End, addr: [u8; 4], port: u16, l4_csum: bool) {
    let (a_off, p_off) = match end {
        End::Src => (l3 + 12, l4),
        End::Dst => (l3 + 16, l4 + 2),
    };
    let old_addr = get4(pkt, a_off);
    let old_port = be16(pkt, p_off);
    pkt[a_off..a_off + 4].copy_from_slice(&addr);
    put16(pkt, p_off, port);
    let ic = update32(be16(pkt, l3 + IP_CSUM), old_addr, addr);
    put16(pkt, l3 + IP_CSUM, ic);
    if !l4_csum {
        return;
    }
    let Some(c_off) = l4_csum_at(proto) else { return };
    let old = be16(pkt, l4 + c_off);
    if proto == protocol::UDP && old == 0 {
        return; // RFC 768: no checksum, and it stays that way
    }
    let mut c = update32(old, old_addr, addr);
    c = update16(c, old_port, port);
    if proto == protocol::UDP && c == 0 {
        c = 0xffff;
    }
    put16(pkt, l4 + c_off, c);
}
