//! ICMPv6 the balancer answers or translates itself (RFC 4443, RFC 4861): echo replies for its
//! addresses and VIPs, neighbour advertisements for them, and the translation of ICMPv6 errors
//! that belong to a NAT connection (the IPv6 side of [`super::icmp`]: the outer address and the
//! quoted packet's opposite end are changed as the connection's packets are; the checksum,
//! which covers a pseudo-header, is computed afresh).

use super::nat::{rewrite6, End};
use crate::frame::Frame;
use crate::verdict::DropReason;
use crate::wire::checksum::update16;
use crate::wire::icmpv6::{kind, na_flags, Icmpv6Packet, NdRepr, HEADER_LEN, MAX_ERROR_QUOTE};
use crate::wire::ipv4::protocol;
use crate::wire::ipv6::{self, next_header, Ipv6Packet, Ipv6Repr};
use crate::wire::Mac;
use std::net::Ipv6Addr;

/// Hop limit of the echo replies and Packet Too Big rvsd sends (Linux's default).
pub const ORIGIN_HOP_LIMIT: u8 = 64;

/// Hop limit of every Neighbor Discovery message (RFC 4861 §7.1: receivers check it is 255,
/// proof that it was not forwarded).
pub const ND_HOP_LIMIT: u8 = 255;

/// Turns an echo request (IPv6 at `l3`, ICMPv6 at `l4`) into its echo reply in place: addresses
/// swapped (the pseudo-header's sum is unchanged by a swap), hop limit reset, type 129 with
/// the checksum patched for it, MACs swapped (from `ours`).
pub fn echo_reply(pkt: &mut [u8], l3: usize, l4: usize, ours: Mac) {
    {
        let mut ip = Ipv6Packet::new_unchecked(&mut pkt[l3..]);
        let (s, d) = (ip.src(), ip.dst());
        ip.set_src(d);
        ip.set_dst(s);
        ip.set_hop_limit(ORIGIN_HOP_LIMIT);
    }
    let mut m = Icmpv6Packet::new_unchecked(&mut pkt[l4..]);
    let old = u16::from(m.msg_type()) << 8 | u16::from(m.code());
    let new = u16::from(kind::ECHO_REPLY) << 8 | u16::from(m.code());
    m.set_type_code(kind::ECHO_REPLY, m.code());
    let c = update16(m.checksum(), old, new);
    m.set_checksum(c);
    super::route::reply_macs(pkt, ours);
}

/// Translates an ICMPv6 error of a NAT connection in place, as [`super::icmp::translate_nat_error`]
/// does for IPv4: the outer `outer` end becomes `outer_addr`; the quoted packet's opposite end
/// becomes `inner_addr:inner_port` (its transport checksum patched when the quote reaches it).
/// Returns false, changing nothing, when the quote's extension headers cannot be walked.
#[allow(clippy::too_many_arguments)]
pub fn translate_nat_error(
    pkt: &mut [u8],
    l3: usize,
    l4: usize,
    icmp_end: usize,
    outer: End,
    outer_addr: [u8; 16],
    inner_addr: [u8; 16],
    inner_port: u16,
) -> bool {
    let il3 = l4 + HEADER_LEN;
    let Ok(upper) = ipv6::walk(&pkt[il3..icmp_end], pkt[il3 + 6]) else { return false };
    let il4 = il3 + upper.offset;
    let quoted_l4 = icmp_end.saturating_sub(il4);
    if quoted_l4 < 4 {
        return false;
    }
    let csum_present = match upper.protocol {
        protocol::TCP => quoted_l4 >= 18,
        protocol::UDP => quoted_l4 >= 8,
        _ => false,
    };
    let at = l3 + if outer == End::Src { ipv6::field::SRC } else { ipv6::field::DST };
    pkt[at..at + 16].copy_from_slice(&outer_addr);
    let quoted = if outer == End::Dst { End::Src } else { End::Dst };
    rewrite6(pkt, il3, il4, upper.protocol, quoted, inner_addr, inner_port, csum_present);
    let (src, dst) = {
        let ip = Ipv6Packet::new_unchecked(&pkt[l3..]);
        (ip.src(), ip.dst())
    };
    Icmpv6Packet::new_unchecked(&mut pkt[l4..icmp_end]).fill_checksum(&src, &dst);
    true
}

/// Answers a Neighbor Solicitation for `target` (one of ours) in place with a Neighbor
/// Advertisement from `target` carrying `ours` as the target link-layer address (RFC 4861
/// §7.2.4): to the solicitor, Solicited and Override set; to all nodes (ff02::1) when the
/// solicitor had no address yet (duplicate address detection, §7.2.4: source `::`). `peer`
/// is where the solicitation came from on the link. The frame is resized to the advertisement
/// (headroom is used when the solicitation was shorter); false when it has none to spare.
pub fn neighbour_advert<F: Frame>(
    frame: &mut F,
    l3: usize,
    target: Ipv6Addr,
    solicitor: Ipv6Addr,
    peer: Mac,
    ours: Mac,
) -> bool {
    let (dst, dst_mac, flags) = if solicitor.is_unspecified() {
        let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        (all, crate::wire::icmpv6::multicast_mac(&all), na_flags::OVERRIDE)
    } else {
        (solicitor, peer, na_flags::SOLICITED | na_flags::OVERRIDE)
    };
    let nd = NdRepr::Advert { flags, target, target_lladdr: Some(ours) };
    let need = l3 + ipv6::HEADER_LEN + nd.buffer_len();
    if frame.len() < need {
        let grow = need - frame.len();
        let Some(d) = frame.prepend(grow) else { return false };
        d.copy_within(grow..grow + l3, 0);
    } else {
        frame.truncate(need);
    }
    let d = frame.data_mut();
    Ipv6Repr {
        src: target,
        dst,
        next_header: next_header::ICMPV6,
        payload_len: nd.buffer_len() as u16,
        hop_limit: ND_HOP_LIMIT,
    }
    .emit(&mut d[l3..]);
    nd.emit(&mut d[l3 + ipv6::HEADER_LEN..], &target, &dst);
    super::route::set_macs(d, ours, dst_mac);
    true
}

/// Bytes of the frame [`neighbour_solicitation`] writes: Ethernet, IPv6, the solicitation with
/// the source link-layer address option.
pub const SOLICITATION_FRAME_LEN: usize = crate::wire::ethernet::HEADER_LEN + ipv6::HEADER_LEN + 32;

/// Writes into `buf` (at least [`SOLICITATION_FRAME_LEN`] bytes) a Neighbor Solicitation for
/// `target` from `src` at `mac`, to its solicited-node group (RFC 4861 §7.2.2): how a worker asks
/// for an IPv6 next hop, as it broadcasts an ARP request for an IPv4 one. Returns its length.
pub fn neighbour_solicitation(buf: &mut [u8], mac: Mac, src: Ipv6Addr, target: Ipv6Addr) -> usize {
    use crate::wire::ethernet::{EtherType, EthernetRepr, HEADER_LEN as ETH_LEN};
    let group = crate::wire::icmpv6::solicited_node(&target);
    let nd = NdRepr::Solicit { target, source_lladdr: Some(mac) };
    EthernetRepr { src: mac, dst: crate::wire::icmpv6::multicast_mac(&group), vlan: None, ethertype: EtherType::IPV6 }
        .emit(buf);
    Ipv6Repr {
        src,
        dst: group,
        next_header: next_header::ICMPV6,
        payload_len: nd.buffer_len() as u16,
        hop_limit: ND_HOP_LIMIT,
    }
    .emit(&mut buf[ETH_LEN..]);
    nd.emit(&mut buf[ETH_LEN + ipv6::HEADER_LEN..], &src, &group);
    ETH_LEN + ipv6::HEADER_LEN + nd.buffer_len()
}

/// Turns the frame (an IPv6 packet at `l2_len` too big for its egress) into an ICMPv6 Packet
/// Too Big advertising `mtu`, from `from` (None: the address the packet was sent to, a VIP)
/// back to its sender, quoting as much of it as keeps the error within 1280 bytes (RFC 4443
/// §2.4 (c)). The packet stays where it is and becomes the quote: the new headers go into the
/// headroom.
pub fn packet_too_big<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    ours: Mac,
    mtu: u16,
    from: Option<Ipv6Addr>,
) -> Result<(), DropReason> {
    error_back(frame, l2_len, ours, (kind::PACKET_TOO_BIG, 0, u32::from(mtu)), from)
}

/// Turns the frame (an IPv6 packet at `l2_len`) into ICMPv6 Destination Unreachable, port
/// unreachable (RFC 4443 §3.1, code 4), back to its sender from `from` (IPVS's
/// `nat_icmp_send`).
pub fn port_unreachable<F: Frame>(frame: &mut F, l2_len: usize, ours: Mac, from: Ipv6Addr) -> Result<(), DropReason> {
    error_back(frame, l2_len, ours, (kind::DEST_UNREACHABLE, 4, 0), Some(from))
}

/// An ICMPv6 error (type, code, rest) about the packet at `l2_len`, back to its sender.
fn error_back<F: Frame>(
    frame: &mut F,
    l2_len: usize,
    ours: Mac,
    (msg_type, code, rest): (u8, u8, u32),
    from: Option<Ipv6Addr>,
) -> Result<(), DropReason> {
    let (client, target) = {
        let p = Ipv6Packet::new_unchecked(&frame.data()[l2_len..]);
        (p.src(), from.unwrap_or(p.dst()))
    };
    let grow = ipv6::HEADER_LEN + HEADER_LEN;
    let quote = (frame.len() - l2_len).min(MAX_ERROR_QUOTE);
    let data = frame.prepend(grow).ok_or(DropReason::NoHeadroom)?;
    data.copy_within(grow..grow + l2_len, 0);
    let msg_len = HEADER_LEN + quote;
    Ipv6Repr {
        src: target,
        dst: client,
        next_header: next_header::ICMPV6,
        payload_len: msg_len as u16,
        hop_limit: ORIGIN_HOP_LIMIT,
    }
    .emit(&mut data[l2_len..]);
    {
        let at = l2_len + ipv6::HEADER_LEN;
        let mut m = Icmpv6Packet::new_unchecked(&mut data[at..at + msg_len]);
        m.set_type_code(msg_type, code);
        m.set_rest(rest);
        m.fill_checksum(&target, &client);
    }
    super::route::reply_macs(data, ours);
    frame.truncate(l2_len + ipv6::HEADER_LEN + msg_len);
    Ok(())
}
