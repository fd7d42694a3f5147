//! Layer 2: ARP requests for the director's addresses and every VIP answered in place (RFC
//! 826), ARP senders reported for the shared neighbour table, and next hops' MACs found (static
//! entries first) or the packet held for resolution.

use super::*;

/// ARP senders one burst may report before the rest are ignored (they come again).
pub const LEARN_MAX: usize = 64;

impl PerCore {
    pub(super) fn arp<F: Frame>(&mut self, snap: &Snapshot, port: u16, frame: &mut F, l2: usize) -> Verdict {
        let Ok(repr) = ArpRepr::parse(&ArpPacket::new_unchecked(&frame.data()[l2..])) else {
            return Verdict::Drop(DropReason::ArpMalformed);
        };
        let itf = &snap.interfaces()[usize::from(port)];
        if itf.contains(repr.sender_ip) && !repr.sender_ip.is_unspecified() {
            self.learn(repr.sender_ip.into(), repr.sender_mac, port, repr.operation == arp::OP_REPLY);
        }
        let tip = repr.target_ip;
        if snap.vips_routed() && snap.is_vip(tip) {
            return Verdict::Drop(DropReason::ArpForRoutedVip); // the kernel would answer too: the VIP is on its TAP
        }
        if repr.operation != arp::OP_REQUEST
            || !(snap.family::<u32>().answers_for(u32::from(tip)) || snap.local_port(tip).is_some())
        {
            return Verdict::ToKernel;
        }
        let ours = snap.interfaces()[usize::from(port)].mac;
        let d = frame.data_mut();
        ArpRepr {
            operation: arp::OP_REPLY,
            sender_mac: ours,
            sender_ip: tip,
            target_mac: repr.sender_mac,
            target_ip: repr.sender_ip,
        }
        .emit(&mut d[l2..]);
        route::set_macs(d, ours, repr.sender_mac);
        Verdict::Reply
    }

    /// Reports a neighbour seen on `port` to the control plane (at most [`LEARN_MAX`] between
    /// two [`Pipeline::take_learned`]; more are seen again later); `answer`: it came in an ARP
    /// reply or a neighbour advertisement.
    pub(super) fn learn(&mut self, ip: std::net::IpAddr, mac: Mac, port: u16, answer: bool) {
        if self.learned_len < LEARN_MAX {
            self.learned[self.learned_len] = Learned { ip, mac, port, answer };
            self.learned_len += 1;
        }
    }

    #[inline]
    pub(super) fn mac_for<K: IpPath>(&self, snap: &Snapshot, next_hop: K::Addr) -> Option<Mac> {
        snap.family::<K>().neighbour(K::of(next_hop)).or_else(|| K::learned_mac(self, next_hop))
    }

    /// Forward if the next hop's MAC was known (and written), else hold for resolution.
    #[inline]
    pub(super) fn ready_or_pending<A: Into<std::net::IpAddr>>(mac: Option<Mac>, port: u16, next_hop: A) -> Verdict {
        match mac {
            Some(_) => Verdict::Forward(port),
            None => Verdict::Pending { port, next_hop: next_hop.into() },
        }
    }
}
