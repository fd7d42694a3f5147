//! The start of every packet: the Ethernet destination checked, ARP and IPv4 told apart, the
//! IPv4 header validated (RFC 791 §3.1, RFC 1812 §5.2.2: lengths, IHL, checksum; fragments
//! dropped, as rvs does not reassemble) and the packet handed to its protocol.

use super::*;

/// Where the headers of an IPv4 packet are.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ip {
    pub(super) l3: usize,
    pub(super) l4: usize,
    /// End of the IP packet (l3 + total length).
    pub(super) end: usize,
    pub(super) proto: u8,
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
}

impl Ip {
    pub(super) fn len(&self) -> u64 {
        (self.end - self.l3) as u64
    }
}

fn ip_error(e: WireError) -> DropReason {
    match e {
        WireError::BadVersion => DropReason::Ipv4BadVersion,
        WireError::BadHeaderLen => DropReason::Ipv4BadHeaderLen,
        WireError::BadTotalLen => DropReason::Ipv4BadTotalLen,
        WireError::Truncated | WireError::Unsupported => DropReason::Ipv4Truncated,
    }
}

impl PerCore {
    pub(super) fn handle<F: Frame>(&mut self, snap: &Snapshot, now: u32, port: u16, frame: &mut F) -> Verdict {
        let Some(itf) = snap.interfaces().get(usize::from(port)) else {
            return Verdict::Drop(DropReason::NotForUs);
        };
        let eth = EthernetFrame::new_unchecked(frame.data());
        if eth.check_len().is_err() {
            return Verdict::Drop(DropReason::EthernetTruncated);
        }
        let dmac = eth.dst();
        if !dmac.is_multicast() && dmac != itf.mac {
            return Verdict::Drop(DropReason::OtherMac);
        }
        let l2 = eth.header_len();
        match eth.ethertype() {
            EtherType::ARP => self.arp(snap, port, frame, l2),
            EtherType::IPV4 => self.ipv4(snap, now, port, frame, l2),
            _ => Verdict::Drop(DropReason::UnsupportedEthertype),
        }
    }

    pub(super) fn not_ours(snap: &Snapshot, dst: Ipv4Addr) -> Verdict {
        if snap.local_port(dst).is_some() || snap.kernel_exception() {
            Verdict::ToKernel
        } else {
            Verdict::Drop(DropReason::NotForUs)
        }
    }

    pub(super) fn ipv4<F: Frame>(&mut self, snap: &Snapshot, now: u32, port: u16, frame: &mut F, l2: usize) -> Verdict {
        let ip = {
            let p = Ipv4Packet::new_unchecked(&frame.data()[l2..]);
            if let Err(e) = p.check_len() {
                return Verdict::Drop(ip_error(e));
            }
            if !p.verify_checksum() {
                return Verdict::Drop(DropReason::Ipv4BadChecksum);
            }
            if p.is_fragment() {
                return Verdict::Drop(DropReason::Fragment);
            }
            Ip {
                l3: l2,
                l4: l2 + p.header_len(),
                end: l2 + usize::from(p.total_len()),
                proto: p.protocol(),
                src: p.src(),
                dst: p.dst(),
            }
        };
        if frame.len() > ip.end {
            frame.truncate(ip.end); // Ethernet padding
        }
        match ip.proto {
            protocol::TCP | protocol::UDP => self.transport(snap, now, frame, &ip),
            protocol::ICMP => self.icmp(snap, port, frame, &ip),
            _ if snap.is_vip(ip.dst) => Verdict::Drop(DropReason::UnsupportedProtocol),
            _ => Self::not_ours(snap, ip.dst),
        }
    }
}
