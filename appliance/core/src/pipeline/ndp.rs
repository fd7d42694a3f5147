//! IPv6 Neighbor Discovery at the balancer (RFC 4861), IPv6's ARP: a Neighbor Solicitation for
//! one of the director's addresses (global or link-local) or for a VIP served here is answered
//! in place with an advertisement (§7.2.4); the solicitor's link-layer address, and the target
//! of every advertisement, are learned when they are on a connected network (§7.2.3, §7.2.5,
//! without the reachability state machine: entries age as ARP's do). Messages failing §7.1's
//! checks (hop limit 255, code 0, lengths, options, checksum) are dropped and counted; router
//! discovery is not needed (a static gateway) and goes to the kernel with everything else.

use super::*;
use crate::wire::icmpv6::{Icmpv6Packet, NdRepr};

impl PerCore {
    pub(super) fn ndp<F: Frame>(&mut self, snap: &Snapshot, port: u16, frame: &mut F, ip: &Ip<u128>) -> Verdict {
        let d = frame.data();
        let (src, dst) = (Ipv6Addr::from(ip.src), Ipv6Addr::from(ip.dst));
        let msg = Icmpv6Packet::new_unchecked(&d[ip.l4()..ip.end()]);
        if d[ip.l3() + 7] != crate::xmit::icmpv6::ND_HOP_LIMIT || !msg.verify_checksum(&src, &dst) {
            return Verdict::Drop(DropReason::NdMalformed);
        }
        let Ok(nd) = NdRepr::parse(&msg) else { return Verdict::Drop(DropReason::NdMalformed) };
        let peer = EthernetFrame::new_unchecked(d).src();
        let itf = &snap.interfaces()[usize::from(port)];
        let on_link = |a: &Ipv6Addr| {
            a.is_unicast_link_local()
                || itf.addr6.is_some_and(|(n, p)| u128::from(*a).masked(p) == u128::from(n).masked(p))
        };
        match nd {
            NdRepr::Solicit { target, source_lladdr } => {
                // From `::` (duplicate address detection) it must go to a solicited-node group and
                // carry no link-layer address (§7.1.1).
                if src.is_unspecified() && (source_lladdr.is_some() || dst.segments()[0] != 0xff02) {
                    return Verdict::Drop(DropReason::NdMalformed);
                }
                if let Some(mac) = source_lladdr.filter(|_| on_link(&src)) {
                    self.learn(src.into(), mac, port, false);
                }
                let fam = snap.family::<u128>();
                let t = u128::from(target);
                if snap.vips_routed() && fam.is_vip(t) {
                    return Verdict::Drop(DropReason::NdForRoutedVip);
                }
                if !(fam.answers_for(t) || fam.local_port(t).is_some()) {
                    return Verdict::ToKernel;
                }
                let to = source_lladdr.unwrap_or(peer);
                if crate::xmit::icmpv6::neighbour_advert(frame, ip.l3(), target, src, to, itf.mac) {
                    Verdict::Reply
                } else {
                    Verdict::Drop(DropReason::NoHeadroom)
                }
            }
            NdRepr::Advert { target, target_lladdr, .. } => {
                if let Some(mac) = target_lladdr.filter(|_| on_link(&target)) {
                    self.learn(target.into(), mac, port, true);
                }
                Verdict::ToKernel // the kernel resolves its own neighbours through the TAP too
            }
        }
    }
}
