//! The tunnel header between the outer IP header and the client's packet, for either family
//! (`ip_vs_xmit.c`'s `ipvs_gue_encap` and `ipvs_gre_encap`):
//!
//! ```text
//! GUE (draft-ietf-intarea-gue §3.1), after an outer UDP header to --tun-port:
//!   | 0 | C=0 | Hlen=0 | proto_ctype = inner protocol (4 or 41) | flags = 0 |
//! GRE (RFC 2784 §2): | C | 0 ... | version 0 | protocol type 0x0800 or 0x86DD |
//!                    [ checksum | reserved1 ]   (with --tun-csum, C set, RFC 2784 §2.5)
//! ```
//! GUE's UDP source port comes from the flow's hash, as the kernel's `udp_flow_src_port`, so
//! the real server's NIC spreads flows over its queues (RFC 8086 §3.2's reasoning).

use crate::encap::{Tunnel, TunnelCsum, TunnelKind};
use crate::wire::checksum;
use crate::wire::ipv4::protocol;

/// GRE's protocol type for an IPv4 packet (an Ethernet type, RFC 2784 §2.4).
pub const GRE_PROTO_IPV4: u16 = 0x0800;
/// GRE's protocol type for an IPv6 packet.
pub const GRE_PROTO_IPV6: u16 = 0x86DD;
/// GRE's checksum-present bit.
pub const GRE_C: u16 = 0x8000;
/// IP protocol number of GRE.
pub const IPPROTO_GRE: u8 = 47;

/// The UDP source port for a flow hash: the kernel's default ephemeral range, 32768..=60999.
#[inline]
pub fn gue_source_port(flow_hash: u64) -> u16 {
    let h = (flow_hash ^ (flow_hash >> 32)) as u32;
    (32768 + ((u64::from(h) * (60999 - 32768 + 1)) >> 32)) as u16
}

/// Writes `t`'s header at the start of `out` (which holds it and the inner packet behind);
/// `inner_proto` is the inner packet's IP protocol (4 for IPv4, 41 for IPv6). Returns the
/// outer header's protocol. GRE's checksum is filled in here; GUE's UDP checksum, which covers
/// the outer addresses, by the caller ([`udp_checksum_wanted`]).
pub fn write(out: &mut [u8], t: Tunnel, sport: u16, inner_proto: u8) -> u8 {
    match t.kind {
        TunnelKind::Ipip => inner_proto,
        TunnelKind::Gue => {
            let len = out.len() as u16;
            out[0..2].copy_from_slice(&sport.to_be_bytes());
            out[2..4].copy_from_slice(&t.port.to_be_bytes());
            out[4..6].copy_from_slice(&len.to_be_bytes());
            out[6..8].copy_from_slice(&[0, 0]);
            out[8..12].copy_from_slice(&[0, inner_proto, 0, 0]);
            protocol::UDP
        }
        TunnelKind::Gre => {
            let ethertype = if inner_proto == protocol::IPIP { GRE_PROTO_IPV4 } else { GRE_PROTO_IPV6 };
            let csum = t.csum == TunnelCsum::Csum;
            out[0..2].copy_from_slice(&(if csum { GRE_C } else { 0 }).to_be_bytes());
            out[2..4].copy_from_slice(&ethertype.to_be_bytes());
            if csum {
                out[4..8].copy_from_slice(&[0; 4]);
                let c = checksum::checksum(out);
                out[4..6].copy_from_slice(&c.to_be_bytes());
            }
            IPPROTO_GRE
        }
    }
}

/// True when GUE's outer UDP checksum must be computed (`--tun-csum`, and `--tun-remcsum`,
/// which IPVS turns into a full UDP checksum for packets it forwards).
#[inline]
pub fn udp_checksum_wanted(t: Tunnel) -> bool {
    t.kind == TunnelKind::Gue && t.csum != TunnelCsum::NoCsum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ports_stay_in_the_ephemeral_range() {
        for h in [0, 1, u64::MAX, 0x1234_5678_9abc_def0] {
            assert!((32768..=60999).contains(&gue_source_port(h)), "{h:#x}");
        }
        assert_ne!(gue_source_port(0x1234_5678), gue_source_port(0x8765_4321), "the flow decides");
    }

    #[test]
    fn gre_with_checksum_sums_to_zero_over_header_and_payload() {
        let mut b = [0u8; 8 + 5];
        b[8..].copy_from_slice(b"hello");
        let t = Tunnel { kind: TunnelKind::Gre, port: 0, csum: TunnelCsum::Csum };
        assert_eq!(write(&mut b, t, 0, protocol::IPIP), IPPROTO_GRE);
        assert_eq!(&b[0..4], &[0x80, 0, 0x08, 0x00]);
        assert_eq!(checksum::checksum(&b), 0, "RFC 1071: the data with its checksum sums to zero");
    }
}
