//! The PROXY protocol on FULLNAT TCP connections ([`crate::wire::proxy_protocol`]): the header
//! goes in front of the client's first data (and again if that segment is sent again), and from
//! then on the client's sequence numbers move by its length and the server's acknowledgments
//! and SACK edges move back ([`crate::conn::seq_adjust`]). The connections that need it carry
//! [`F_SEQ_ADJ`]; their adjustment lives beside the table, by entry index, allocated on the
//! control path only while a service asks for the protocol. Out of line: other connections
//! never come here.

use super::*;
use crate::conn::entry::{F_SEQ_ADJ, F_SYNPROXY};
use crate::conn::seq_adjust::{fix_ack_of, fix_seq_of, SeqAdjust};
use crate::wire::proxy_protocol::{header, ProxyProtocol, MAX_HEADER};

impl PerCore {
    /// Allocates the adjustments when a service of `snap` sends the PROXY protocol (control
    /// path; kept once allocated).
    pub(super) fn provide_seq_adjust(&mut self, snap: &Snapshot) {
        let wanted = snap.services().iter().any(|s| s.proxy_protocol != ProxyProtocol::Off);
        if wanted && self.seq_adj[0].is_empty() {
            self.seq_adj = [
                vec![SeqAdjust::default(); self.tables.v4.capacity()],
                vec![SeqAdjust::default(); self.tables.v6.capacity()],
            ];
        }
    }

    /// Marks new connection `idx` of `svc` for the PROXY protocol when it asks for it.
    pub(super) fn start_seq_adjust<K: IpPath>(&mut self, svc: &Service, idx: u32) {
        let c = K::conns_mut(&mut self.tables).get_mut(idx);
        if svc.proxy_protocol == ProxyProtocol::Off || !c.is_fullnat() || c.proto != protocol::TCP {
            return;
        }
        if let Some(a) = self.seq_adj[usize::from(K::BITS == 128)].get_mut(idx as usize) {
            *a = SeqAdjust::default();
            c.flags |= F_SEQ_ADJ;
        }
    }

    /// A segment of connection `idx` (`c`, just stepped) that carries [`F_SEQ_ADJ`], travelling
    /// `dir`: a SYN proxy's ([`super::synproxy`]) or the PROXY protocol's.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn follow_adjusted<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        c: &Conn<K>,
        dir: Direction,
    ) -> Verdict {
        if c.flags & F_SYNPROXY != 0 {
            return self.synproxy_follow(snap, now, frame, ip, idx, c, dir);
        }
        self.proxy_adjusted(snap, frame, ip, idx, c, dir)
    }

    /// A segment of a PROXY protocol connection travelling `dir`: adjusted, the header put in
    /// front of the client's first data, then sent on.
    pub(super) fn proxy_adjusted<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        c: &Conn<K>,
        dir: Direction,
    ) -> Verdict {
        let fam = usize::from(K::BITS == 128);
        let Some(&adj) = self.seq_adj[fam].get(idx as usize) else {
            return Verdict::Drop(DropReason::L4Truncated); // cannot happen: allocated with the flag
        };
        let hlen = usize::from(frame.data()[ip.l4() + 12] >> 4) * 4;
        if ip.l4() + hlen > ip.end() {
            return Verdict::Drop(DropReason::TcpBadHeaderLen);
        }
        if dir == Direction::Output {
            fix_ack_of(&mut frame.data_mut()[ip.l4()..ip.end()], &adj);
            return self.send_to_client(snap, frame, ip, c, false);
        }
        let seq = u32::from_be_bytes(frame.data()[ip.l4() + 4..ip.l4() + 8].try_into().unwrap_or_default());
        if ip.tcp_flags & flags::SYN != 0 {
            // The client's first data byte is where the header goes.
            self.seq_adj[fam][idx as usize] = SeqAdjust { init_seq: seq.wrapping_add(1), ..SeqAdjust::default() };
            return self.send_to_real_server(snap, frame, ip, c, false);
        }
        let payload = ip.end() - ip.l4() - hlen;
        if seq == adj.init_seq && payload > 0 {
            let Some(svc) = snap.service_by_id(c.svc) else {
                return self.send_to_real_server(snap, frame, ip, c, false);
            };
            let mut h = [0u8; MAX_HEADER];
            let client = std::net::SocketAddr::new(c.caddr.addr().into(), c.cport);
            let virt = std::net::SocketAddr::new(c.vaddr.addr().into(), c.vport);
            let n = header(svc.proxy_protocol, client, virt, &mut h);
            if n == 0 || !insert_payload(frame, (ip.l3(), ip.l4(), hlen), K::BITS == 128, &h[..n]) {
                return Verdict::Drop(DropReason::ProxyHeaderNoRoom);
            }
            self.seq_adj[fam][idx as usize].delta = n as u32;
            self.counters.proxy_headers += 1;
            if snap.sync_master().is_some() {
                // The backups learn the adjustment now: after a failover it must hold.
                let r = self.record_with_seq::<K>(snap, idx, c);
                self.queue_sync(r);
            }
            let grown = ip.grown(n);
            return self.send_to_real_server(snap, frame, &grown, c, false);
        }
        fix_seq_of(&mut frame.data_mut()[ip.l4()..ip.end()], &adj);
        self.send_to_real_server(snap, frame, ip, c, false)
    }
}

/// Puts `bytes` in front of the payload of the TCP segment at `l4` (header `hlen` bytes; the
/// IP header at `l3`; IPv6 when `v6`): the headers move into the headroom, the IP length grows,
/// the TCP checksum is computed afresh. False, and nothing changed, without headroom.
fn insert_payload<F: Frame>(frame: &mut F, (l3, l4, hlen): (usize, usize, usize), v6: bool, bytes: &[u8]) -> bool {
    let n = bytes.len();
    if !crate::xmit::toa::open_gap(frame, l4 + hlen, n) {
        return false;
    }
    let d = frame.data_mut();
    d[l4 + hlen..l4 + hlen + n].copy_from_slice(bytes);
    crate::xmit::toa::grow_ip(d, l3, v6, n as u16);
    crate::xmit::toa::fill_tcp_checksum(d, l3, l4, v6);
    true
}
