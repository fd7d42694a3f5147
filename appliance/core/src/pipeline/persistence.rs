//! Persistence (`-p SECONDS`, `-M NETMASK`) as IPVS's templates: the first connection of a
//! client network to a persistent service creates a template (service, client network) -> real
//! server. While the template lives, new connections from that network go to its server, even
//! one quiesced since (IPVS's default `expire_quiescent_template = 0`); a server that is gone
//! invalidates it. A template lives while connections it placed are alive and then for the
//! persistence timeout after the last of them ends (with `expire_quiescent_template`, a
//! template to a server of weight 0 is dropped instead). Templates are per core: the daemon steers
//! all connections of a client network for a persistent service to one core. An IPv6 client
//! network is masked to the service's prefix length (`-M 64`) as ipvsadm takes it.

use super::*;

/// A persistence template: the real server a client network is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistTemplate {
    /// Real server id.
    pub dest: u16,
    /// Its service's id (the key of an IPv6 network is a hash, so the service is kept here).
    pub svc: u16,
    /// Connections placed by it that are still alive.
    pub n_control: u32,
    /// Second after which it may go, once `n_control` is 0.
    pub expires: u32,
    /// A connection it placed was established (TCP) or answered (UDP): IPVS's
    /// `IP_VS_CTPL_S_ASSURED`, sent as the template's state.
    pub assured: bool,
    /// Client packets of the connections it controls (IPVS's template `in_pkts`), for the sync
    /// sender's rule.
    pub in_pkts: u32,
    /// When it was last sent to the backups (IPVS's `sync_endtime`; 0: never).
    pub sync_mark: u32,
}

#[inline]
pub(super) fn template_key<K: AddrKey>(svc: &Service, caddr: K) -> u64 {
    caddr.masked(svc.persistence_prefix).template_key(svc.id)
}

impl PerCore {
    /// A connection placed by a template ended: the template counts one fewer, and lives the
    /// persistence timeout after the last one.
    pub(super) fn unpin<K: AddrKey>(snap: &Snapshot, templates: &mut FixedMap<PersistTemplate>, c: &Conn<K>, now: u32) {
        let Some(svc) = snap.service_by_id(c.svc) else { return };
        if let Some(t) = templates.get_mut(template_key(svc, c.caddr)) {
            t.n_control = t.n_control.saturating_sub(1);
            if t.n_control == 0 {
                t.expires = t.expires.max(now.saturating_add(svc.persistence));
            }
        }
    }

    /// The real server for a new connection: the persistence template's, or the scheduler's
    /// (creating a template for a persistent service). Returns the index in `svc.dests` and
    /// whether the connection is pinned by a template.
    ///
    /// `dialog`: the key of a SIP dialog (`--pe sip`, [`dialog_key`]), which replaces the client
    /// network's. Such a template places no connection for good (one client socket carries
    /// many dialogs): it lives the persistence timeout after each use, and the connection is
    /// not pinned.
    pub(super) fn choose<K: AddrKey>(
        &mut self,
        svc: &Service,
        flow: &Flow,
        caddr: K,
        dialog: Option<u64>,
        now: u32,
    ) -> Result<(usize, bool), DropReason> {
        let key = dialog.unwrap_or_else(|| template_key(svc, caddr));
        if svc.persistence > 0 {
            if let Some(t) = self.templates.get_mut(key) {
                let live = t.n_control > 0 || t.expires > now;
                // `expire_quiescent_template`: a template to a server of weight 0 goes.
                let pos = svc
                    .dests
                    .iter()
                    .position(|d| d.id == t.dest)
                    .filter(|&i| !(self.expire_quiescent_template && svc.dests[i].weight == 0));
                match (live, pos) {
                    (true, Some(i)) => {
                        t.n_control += u32::from(dialog.is_none());
                        t.expires = t.expires.max(now.saturating_add(svc.persistence));
                        return Ok((i, dialog.is_none()));
                    }
                    _ => {
                        self.templates.remove(key);
                    }
                }
            }
        }
        let sched = self.scheds[usize::from(svc.id)].as_mut().ok_or(DropReason::NoDest)?;
        let view = View { dests: &svc.dests, weights: &self.weights, loads: &self.loads };
        let i = sched.pick(&view, flow, now).ok_or(DropReason::NoDest)?;
        let mut pinned = false;
        if svc.persistence > 0 {
            let t = PersistTemplate {
                dest: svc.dests[i].id,
                svc: svc.id,
                n_control: u32::from(dialog.is_none()),
                expires: now.saturating_add(svc.persistence),
                ..PersistTemplate::default()
            };
            let stored = self.templates.insert(key, t);
            if !stored {
                self.counters.template_full += 1;
            }
            pinned = stored && dialog.is_none();
        }
        Ok((i, pinned))
    }

    /// The SIP dialog a datagram of a `--pe sip` service belongs to (None for other
    /// services); refused when the datagram names none.
    #[cold]
    pub(super) fn dialog_of<K: IpPath>(svc: &Service, data: &[u8], ip: &Ip<K>) -> Result<Option<u64>, DropReason> {
        if !svc.pe_sip {
            return Ok(None);
        }
        let payload = data.get(ip.l4() + crate::wire::udp::HEADER_LEN..ip.end()).unwrap_or(&[]);
        let call_id = crate::wire::sip::call_id(payload).ok_or(DropReason::SipNoCallId)?;
        Ok(Some(dialog_key(svc.id, call_id)))
    }
}

/// The template key of SIP dialog `call_id` of service `svc` (FNV-1a over both; the top two
/// bits set, apart from IPv4 client networks' exact keys).
pub(super) fn dialog_key(svc: u16, call_id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in svc.to_be_bytes().iter().chain(call_id) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h | 0xc000_0000_0000_0000
}
