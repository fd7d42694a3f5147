//! One-packet scheduling (`ipvsadm -o`, IPVS's `IP_VS_SVC_F_ONEPACKET`): every UDP datagram to
//! such a service is scheduled on its own and leaves no connection entry, so one client port
//! spreads over the real servers (syslog, DNS, metrics collectors that send from one socket).
//!
//! As IPVS, each datagram counts as a connection in the statistics and a persistence template
//! still pins a client network (`-p` with `-o`); the template lives the persistence timeout
//! after each datagram, as after a connection that ended at once. IPVS leaves a NAT reply of
//! such a datagram untranslated (no entry); rvs translates it from the snapshot: a NAT real
//! server of a one-packet service serves no other one-packet service (checked when the
//! configuration is built), so its reply names its service.

use super::*;
use crate::snapshot::OpsReal;

impl PerCore {
    /// Schedules and forwards one datagram of one-packet service `svc`, creating no entry.
    #[inline(never)]
    pub(super) fn forward_one_packet<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        svc: &Service,
        now: u32,
    ) -> Verdict {
        let flow = Flow::new(ip.proto, ip.src, ip.sport, ip.dst, ip.dport);
        let dialog = match Self::dialog_of(svc, frame.data(), ip) {
            Ok(d) => d,
            Err(r) => return Verdict::Drop(r),
        };
        let (i, pinned) = match self.choose(svc, &flow, ip.src, dialog, now) {
            Ok(x) => x,
            Err(r) => return Verdict::Drop(r),
        };
        if pinned {
            // The datagram's "connection" ended as it was sent: the template counts it no more.
            if let Some(t) = self.templates.get_mut(persistence::template_key(svc, ip.src)) {
                t.n_control = t.n_control.saturating_sub(1);
                t.in_pkts = t.in_pkts.saturating_add(1);
            }
        }
        // IPVS counts each datagram as a connection.
        self.dest_stats[usize::from(svc.dests[i].id)].conns += 1;
        self.svc_stats[usize::from(svc.id)].conns += 1;
        self.counters.one_packet += 1;
        self.forward_without_entry(snap, frame, ip, svc, i)
    }

    /// Sends a NAT real server's reply to a one-packet datagram back to the client, with the
    /// service's VIP:port as its source.
    pub(super) fn reply_one_packet<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        o: OpsReal<K>,
    ) -> Verdict {
        let c = Conn::new(ip.proto, ip.dst, ip.dport, o.vip, o.vport, ip.src, ip.sport, Forward::Nat, o.svc, o.dest);
        let bytes = ip.len();
        for st in [&mut self.dest_stats[usize::from(o.dest)], &mut self.svc_stats[usize::from(o.svc)]] {
            st.pkts_out += 1;
            st.bytes_out += bytes;
        }
        self.counters.one_packet_replies += 1;
        self.send_to_client(snap, frame, ip, &c, false)
    }
}
