//! Connection sync in the pipeline (IPVS's `ip_vs_sync_conn` and `ip_vs_proc_conn`): the
//! master side decides per client packet whether the connection, and then its persistence
//! template, go to the backups ([`SyncPolicy`]) and queues their records in a bounded per-core
//! outbox the worker empties at each burst boundary; the backup side installs received records
//! in the table of the core that owns the flow.
//!
//! A record carries what a backup needs to forward the flow: addresses and ports, the
//! forwarding method and IPVS's flags, the state and the state's whole timeout (as IPVS sends
//! `cp->timeout`, not what is left of it). A template's record is what the kernel sends for
//! one: TEMPLATE, the method (NOOUTPUT for DR/TUN), INACTIVE, the persistence timeout, and state
//! ASSURED once a connection it controls was established (TCP) or answered (UDP).
//!
//! Received, a record's timeout is clamped to what an operator may set
//! ([`crate::service::MAX_TIMEOUT_S`]) and 0 means the state's own timeout, as in IPVS; for a
//! template, 0 means its service's persistence timeout (IPVS falls back to 180 s because a
//! version-0 message cannot name it; rvs knows the service; fixture:
//! `record_timeouts_are_clamped_and_zero_means_the_states_default`). A record for a connection the
//! backup holds with another real server replaces it (the client reused its port and the master
//! scheduled it afresh), unless it is the old connection's closing record (INACTIVE), which is
//! ignored, or this director serves the VIP itself: then its own connection stands
//! ([`Installed::Conflict`]; the sync trust model is in README, "Connection sync").

use super::*;
use crate::conn::{SyncCandidate, SyncPolicy};
use crate::service::MAX_TIMEOUT_S;
use crate::wire::ipvs_sync::{conn_flags, SyncConn};

/// Records a core queues between two burst boundaries, at most; more are dropped and counted.
pub const SYNC_OUTBOX: usize = 1024;

/// What became of a received record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// A new connection (or template) in this core's table.
    Created,
    /// An existing one took the record's state and timeout.
    Refreshed,
    /// No service for it here (or a template for a service without persistence): ignored.
    NoService,
    /// The table (or the template table) is full: ignored.
    Full,
    /// The closing record (INACTIVE) of a connection already replaced by one to another real
    /// server: ignored, as IPVS's `ip_vs_proc_conn` ignores it.
    Stale,
    /// It would move a live connection of a VIP this director serves to another real server:
    /// refused (while a VIP is served here its connections are this director's own).
    Conflict,
}

/// IPVS's forwarding-method flag of `f`.
fn fwd_flags(f: Forward) -> u32 {
    match f {
        Forward::Nat => conn_flags::MASQ,
        Forward::Tunnel => conn_flags::TUNNEL | conn_flags::NOOUTPUT,
        Forward::DirectRoute => conn_flags::DROUTE | conn_flags::NOOUTPUT,
        Forward::FullNat => conn_flags::FULLNAT,
    }
}

/// The forwarding method of IPVS flags `flags`, if one rvs has.
fn fwd_of(flags: u32) -> Option<Forward> {
    match flags & conn_flags::FWD_MASK {
        conn_flags::MASQ => Some(Forward::Nat),
        conn_flags::TUNNEL => Some(Forward::Tunnel),
        conn_flags::DROUTE => Some(Forward::DirectRoute),
        conn_flags::FULLNAT => Some(Forward::FullNat),
        _ => None,
    }
}

/// The sync record of connection `c`.
pub fn conn_record<K: AddrKey>(c: &Conn<K>, snap: &Snapshot) -> SyncConn {
    let mut flags = fwd_flags(c.forward) & !conn_flags::NOOUTPUT;
    if c.flags & F_NO_OUTPUT != 0 {
        flags |= conn_flags::NOOUTPUT;
    }
    if c.flags & F_INACTIVE != 0 {
        flags |= conn_flags::INACTIVE;
    }
    SyncConn {
        protocol: c.proto,
        flags,
        state: match c.proto {
            protocol::TCP => c.state as u16,
            protocol::SCTP => crate::conn::sctp_state::sctp_number(c.state).unwrap_or(0),
            _ => 0,
        },
        cport: c.cport,
        vport: c.vport,
        dport: c.dport,
        fwmark: snap.service_by_id(c.svc).map_or(0, |s| s.fwmark),
        timeout: c.state.timeout(&snap.timeouts()),
        caddr: c.caddr.addr().into(),
        vaddr: c.vaddr.addr().into(),
        daddr: c.daddr.addr().into(),
        local: c.is_fullnat().then(|| (c.laddr.addr().into(), c.lport)),
        seq_in: None,
        seq_out: None,
        proxy_shift: None,
    }
}

/// The worker (of `cores`) a received record belongs on: a FULLNAT connection's local port's
/// (its replies come to that port; its client's packets come by the NIC's spread, as on the
/// master, whose worker took the port), any other its client's owner core.
pub fn record_owner(snap: &Snapshot, r: &SyncConn, cores: u16) -> u16 {
    match r.local {
        Some((_, lport)) if r.flags & conn_flags::TEMPLATE == 0 && !steered_record(snap, r) => {
            crate::service::LocalPorts::owner(lport, cores)
        }
        _ => snap.owner_ip(r.caddr, cores),
    }
}

/// True when the service of record `r` steers its connections to their client's owner core
/// (or this director has no such service).
fn steered_record(snap: &Snapshot, r: &SyncConn) -> bool {
    let svc = match (r.fwmark, r.vaddr) {
        (0, std::net::IpAddr::V4(v)) => snap.service_of(r.protocol, u32::from(v), r.vport),
        (0, std::net::IpAddr::V6(v)) => snap.service_of(r.protocol, u128::from(v), r.vport),
        (m, std::net::IpAddr::V4(_)) => snap.service_by_mark::<u32>(m),
        (m, std::net::IpAddr::V6(_)) => snap.service_by_mark::<u128>(m),
    };
    svc.is_none_or(|s| snap.steered(s.id))
}

/// The record of the persistence template that placed `c` in service `svc` (IPVS: the client
/// network, port 0, the template flag, the method's flags with INACTIVE, the persistence
/// timeout, state ASSURED or NONE). A firewall-mark service's template is IPVS's
/// `<IPPROTO_IP, caddr, 0, fwmark, 0, daddr, dport>`: no protocol, the mark as its VIP, port 0.
fn template_record<K: AddrKey>(c: &Conn<K>, svc: &Service, assured: bool) -> SyncConn {
    let (protocol, vaddr, vport) = match svc.fwmark {
        0 => (c.proto, c.vaddr.addr().into(), c.vport),
        m => (0, crate::fwmark::mark_as_vaddr(m, K::BITS == 128), 0),
    };
    let dport = svc.dests.iter().find(|d| d.id == c.dest).filter(|_| svc.is_fwmark()).map_or(c.dport, |d| d.port);
    SyncConn {
        protocol,
        flags: conn_flags::TEMPLATE | fwd_flags(c.forward) | conn_flags::INACTIVE,
        state: u16::from(assured),
        cport: 0,
        vport,
        dport,
        fwmark: svc.fwmark,
        timeout: svc.persistence,
        caddr: c.caddr.masked(svc.persistence_prefix).addr().into(),
        vaddr,
        daddr: c.daddr.addr().into(),
        local: None,
        seq_in: None,
        seq_out: None,
        proxy_shift: None,
    }
}

/// A received record's timeout as rvs keeps it: at most [`MAX_TIMEOUT_S`], and 0 meaning
/// `default` (the state's own, or the template's service's).
fn record_timeout(timeout: u32, default: u32) -> u32 {
    match timeout {
        0 => default,
        t => t.min(MAX_TIMEOUT_S),
    }
}

impl PerCore {
    /// A client packet moved connection `idx` (state and packet count already updated): queues
    /// its record for the backups if `policy` wants it now, then its template's.
    #[inline]
    pub(super) fn sync_after_input<K: IpPath>(&mut self, snap: &Snapshot, policy: &SyncPolicy, idx: u32, now: u32) {
        let c = *K::conns(&self.tables).get(idx);
        let persistent = c.flags & F_PERSIST != 0;
        let cand = SyncCandidate {
            tcp: c.proto == protocol::TCP || c.proto == protocol::SCTP,
            template: false,
            state: c.state,
            synced_state: c.synced,
            pkts: u32::from(c.pkts_in),
            persistent,
        };
        // The marks (when each connection was last sent) exist only with a refresh period.
        let marks = &mut self.sync_marks[usize::from(K::BITS == 128)];
        let mark = marks.get(idx as usize).copied().unwrap_or(0);
        if let Some(m) = policy.wants_at(&cand, now, c.state.timeout(&snap.timeouts()), mark) {
            if let Some(slot) = marks.get_mut(idx as usize) {
                *slot = m;
            }
            K::conns_mut(&mut self.tables).get_mut(idx).synced = c.state;
            let r = self.record_with_seq::<K>(snap, idx, &c);
            self.queue_sync(r);
        }
        if persistent {
            self.sync_template(snap, policy, &c, now);
        }
    }

    /// The record of connection `idx` (`c`), with its sequence adjustment when it has one
    /// (the PROXY protocol's: IPVS's SEQ option).
    pub(super) fn record_with_seq<K: IpPath>(&self, snap: &Snapshot, idx: u32, c: &Conn<K>) -> SyncConn {
        let mut r = conn_record(c, snap);
        if c.flags & crate::conn::entry::F_SYNPROXY != 0 && !self.synproxy_record::<K>(idx, &mut r) {
            return r; // no PROXY protocol under this SYN proxy
        }
        if c.flags & F_SEQ_ADJ != 0 {
            if let Some(a) = self.seq_adj[usize::from(K::BITS == 128)].get(idx as usize) {
                r.seq_in = Some([a.init_seq, a.delta, a.previous_delta]);
                r.flags |= conn_flags::IN_SEQ;
            }
        }
        r
    }

    /// The template controlling `c` (a packet of `c` just arrived): counted, marked ASSURED once
    /// `c` was established or answered, and queued if `policy` wants it now.
    fn sync_template<K: AddrKey>(&mut self, snap: &Snapshot, policy: &SyncPolicy, c: &Conn<K>, now: u32) {
        let Some(svc) = snap.service_by_id(c.svc) else { return };
        let Some(t) = self.templates.get_mut(persistence::template_key(svc, c.caddr)) else { return };
        t.in_pkts = t.in_pkts.wrapping_add(1);
        t.assured |= c.state == ConnState::Established || (c.state == ConnState::Udp && c.flags & F_REPLIED != 0);
        let cand = SyncCandidate {
            tcp: c.proto == protocol::TCP || c.proto == protocol::SCTP,
            template: true,
            state: ConnState::None,
            synced_state: ConnState::None,
            pkts: t.in_pkts,
            persistent: false,
        };
        let Some(m) = policy.wants_at(&cand, now, svc.persistence, t.sync_mark) else { return };
        t.sync_mark = m;
        let rec = template_record(c, svc, t.assured);
        self.queue_sync(rec);
    }

    pub(super) fn queue_sync(&mut self, r: SyncConn) {
        if self.sync_out.len() < SYNC_OUTBOX {
            self.sync_out.push(r);
            self.counters.sync_sent += 1;
        } else {
            self.counters.sync_dropped += 1;
        }
    }

    /// Installs a received record (a backup's side of `ip_vs_proc_conn`): a template into the
    /// template table, a connection into the connection table with the record's state, flags and
    /// timeout (counted on its real server), or refreshes the one already there. A record whose
    /// real server this configuration lacks is kept with its address and method, as IPVS keeps
    /// such a connection unbound: it still forwards there.
    pub(super) fn install(&mut self, snap: &Snapshot, r: &SyncConn, now: u32) -> Installed {
        match r.vaddr {
            std::net::IpAddr::V4(_) => self.install_of::<u32>(snap, r, now),
            std::net::IpAddr::V6(_) => self.install_of::<u128>(snap, r, now),
        }
    }

    fn install_of<K: IpPath>(&mut self, snap: &Snapshot, r: &SyncConn, now: u32) -> Installed {
        let (Some(src), Some(dst), Some(daddr)) = (K::of_ip(r.caddr), K::of_ip(r.vaddr), K::of_ip(r.daddr)) else {
            return Installed::NoService; // addresses of mixed families: no such connection
        };
        // A record with a mark is its mark's service's (`ip_vs_find_dest` looks the mark up).
        let svc = match r.fwmark {
            0 => snap.service_of(r.protocol, dst, r.vport),
            m => snap.service_by_mark::<K>(m),
        };
        let Some(forward) = fwd_of(r.flags) else { return Installed::NoService };
        let Some(svc) = svc else {
            // No service: a SNAT connection's, when a rule here takes it with its pool end.
            return match super::snat::rule_of_record(snap, r) {
                Some(rule) if r.flags & conn_flags::TEMPLATE == 0 && forward == Forward::FullNat => {
                    self.install_conn::<K>(snap, r, now, (rule.svc_id(), None), forward)
                }
                _ => Installed::NoService,
            };
        };
        // (NAT64's IPv4 real servers come mapped.)
        let dest = svc.dests.iter().find(|d| {
            K::of_end(d.addr) == Some(daddr)
                && (d.port == r.dport || !forward.sees_replies() || (svc.is_fwmark() && d.port == 0))
        });
        if r.flags & conn_flags::TEMPLATE != 0 {
            let (Some(d), true) = (dest, svc.persistence > 0) else { return Installed::NoService };
            let key = persistence::template_key(svc, src);
            let expires = now.saturating_add(record_timeout(r.timeout, svc.persistence));
            let assured = r.state & 1 != 0;
            if let Some(t) = self.templates.get_mut(key) {
                t.dest = d.id;
                t.expires = t.expires.max(expires);
                t.assured |= assured;
                return Installed::Refreshed;
            }
            let t = PersistTemplate { dest: d.id, svc: svc.id, expires, assured, ..PersistTemplate::default() };
            return if self.templates.insert(key, t) { Installed::Created } else { Installed::Full };
        }
        self.install_conn::<K>(snap, r, now, (svc.id, dest.map(|d| d.id)), forward)
    }

    /// Installs or refreshes the connection of record `r` (not a template) in service `svc_id`
    /// to real server `dest` (`None`: one this director does not have, or SNAT's far end).
    fn install_conn<K: IpPath>(
        &mut self,
        snap: &Snapshot,
        r: &SyncConn,
        now: u32,
        (svc_id, dest): (u16, Option<u16>),
        forward: Forward,
    ) -> Installed {
        let (Some(src), Some(dst), Some(daddr)) = (K::of_ip(r.caddr), K::of_ip(r.vaddr), K::of_ip(r.daddr)) else {
            return Installed::NoService;
        };
        // A FULLNAT connection is kept with its local end, or not at all.
        let local = match (forward, r.local) {
            (Forward::FullNat, Some((a, port))) => match K::of_ip(a) {
                Some(a) => Some((a, port)),
                None => return Installed::NoService,
            },
            (Forward::FullNat, None) => return Installed::NoService,
            _ => None,
        };
        let state = match r.protocol {
            protocol::TCP => match ConnState::from_ipvs(r.state) {
                Some(s) => s,
                None => return Installed::NoService,
            },
            protocol::SCTP => match crate::conn::sctp_state::from_sctp_number(r.state) {
                Some(s) => s,
                None => return Installed::NoService,
            },
            _ => ConnState::Udp,
        };
        let expires = now.saturating_add(record_timeout(r.timeout, state.timeout(&snap.timeouts())));
        let inactive = r.flags & conn_flags::INACTIVE != 0;
        if let Some(idx) = K::conns(&self.tables).lookup_client(r.protocol, src, r.cport, dst, r.vport) {
            let held = K::conns(&self.tables).get(idx);
            if held.daddr == daddr && held.dport == r.dport && local.is_none_or(|l| (held.laddr, held.lport) == l) {
                let dest = held.dest;
                if self.refresh_synced::<K>(idx, state, expires, inactive) {
                    self.load_moved(snap, dest);
                }
                let seq = r.seq_in.filter(|_| forward == Forward::FullNat && r.protocol == protocol::TCP);
                self.adopt_seq::<K>(idx, seq);
                self.adopt_synproxy::<K>(idx, r);
                return Installed::Refreshed;
            }
            if inactive {
                return Installed::Stale; // the replaced connection's expiry, after its successor
            }
            if snap.serves_of(dst) {
                return Installed::Conflict;
            }
            self.drop_conn::<K>(snap, idx, now);
        }
        let dest_id = dest.unwrap_or(UNBOUND_DEST);
        let seq = r.seq_in.filter(|_| forward == Forward::FullNat && r.protocol == protocol::TCP);
        let mut c = Conn::new(r.protocol, src, r.cport, dst, r.vport, daddr, r.dport, forward, svc_id, dest_id);
        if let Some(end) = local {
            (c.laddr, c.lport) = end;
        }
        c.state = state;
        c.synced = state;
        c.expires = expires;
        c.flags = (if r.flags & conn_flags::NOOUTPUT != 0 { F_NO_OUTPUT } else { 0 })
            | (if inactive { F_INACTIVE } else { 0 })
            | F_SYNCED;
        let Ok(idx) = K::conns_mut(&mut self.tables).insert(c) else {
            return Installed::Full;
        };
        self.adopt_seq::<K>(idx, seq);
        self.adopt_synproxy::<K>(idx, r);
        if let Some(m) = self.sync_marks[usize::from(K::BITS == 128)].get_mut(idx as usize) {
            *m = 0;
        }
        let l = &mut self.loads[usize::from(dest_id)];
        if inactive {
            l.inactive += 1;
        } else {
            l.active += 1;
        }
        self.load_moved(snap, dest_id);
        if super::snat::is_snat(&c) {
            self.snat_adopt(snap, &c); // its endpoint-independent mapping, as the master has it
        }
        Installed::Created
    }

    /// A synced connection `idx` takes the master's sequence adjustment `seq` (IPVS's in_seq),
    /// if it has one and this director keeps adjustments (a service here sends the PROXY
    /// protocol).
    fn adopt_seq<K: IpPath>(&mut self, idx: u32, seq: Option<[u32; 3]>) {
        let Some([init_seq, delta, previous_delta]) = seq else { return };
        if let Some(a) = self.seq_adj[usize::from(K::BITS == 128)].get_mut(idx as usize) {
            *a = crate::conn::seq_adjust::SeqAdjust { init_seq, delta, previous_delta };
            K::conns_mut(&mut self.tables).get_mut(idx).flags |= F_SEQ_ADJ;
        }
    }

    /// A record refreshed connection `idx`: its state, expiry and activity as the master has
    /// them. True when it moved between active and inactive.
    fn refresh_synced<K: IpPath>(&mut self, idx: u32, state: ConnState, expires: u32, inactive: bool) -> bool {
        let c = K::conns_mut(&mut self.tables).get_mut(idx);
        let was_inactive = c.flags & F_INACTIVE != 0;
        c.state = state;
        c.synced = state;
        let shorter = expires < c.expires;
        c.expires = expires;
        let d = usize::from(c.dest);
        if was_inactive != inactive {
            let l = &mut self.loads[d];
            if inactive {
                c.flags |= F_INACTIVE;
                l.active = l.active.saturating_sub(1);
                l.inactive += 1;
            } else {
                c.flags &= !F_INACTIVE;
                l.inactive = l.inactive.saturating_sub(1);
                l.active += 1;
            }
        }
        if shorter {
            K::conns_mut(&mut self.tables).refile(idx);
        }
        was_inactive != inactive
    }
}
