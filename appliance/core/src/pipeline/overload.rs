//! Defences of a core's connection table and of overloaded real servers: a flood of SYNs from
//! spoofed clients, a full table or a real server at its connection threshold never stops
//! legitimate traffic.
//!
//! - **Unproved entries go first.** A new connection that finds the table full evicts an
//!   entry that has not proved a live peer ([`Conn::is_embryonic`]: an unfinished handshake, a
//!   NAT connection its real server never answered past the SYN-ACK, a DR/TUN one of at most
//!   [`crate::conn::entry::PROVED_AFTER_PKTS`] client packets, a one-way UDP flow), looking at
//!   no more than [`EVICT_SCAN`] entries (IPVS's `drop_entry` in spirit, bounded work per
//!   packet). A spoofed SYN and a blind ACK reach ESTABLISHED by IPVS's tables, so the state
//!   alone proves nothing. A proved connection is never evicted; with none to evict the packet
//!   is dropped (`table_full`, the "refused" count).
//! - **Pressure levels.** At `pressure_percent` fill a core is under *pressure*; after an insert
//!   found no room it is *full*. In both a new connection's handshake (SYN_RECV) gets the short
//!   `syn_timeout` (IPVS's `secure_tcp` shortens the handshake states the same way), and so does
//!   an unproved entry that reaches ESTABLISHED (a blind ACK's), until its next packet. Each change
//!   is counted; the daemon logs it.
//! - **Stateless fallback** (Katran's answer to the same flood: "compute is cheaper than
//!   lookup"). A service whose scheduler is a hash and whose real servers are all DR/TUN does not
//!   need an entry to send a flow to the same server again: when the table is full or the core
//!   makes more new connections a second than `new_conn_rate`, a new flow is forwarded by the
//!   hash without an entry, and a later packet of a flow without an entry is forwarded by the
//!   same hash rather than dropped. NAT needs state: it evicts or refuses.
//! - **Per-real thresholds** (`ipvsadm -x/-y`, [`crate::threshold`]): an overloaded server is
//!   given weight 0 in this core's scheduler replicas until the mark clears.

use super::*;
use crate::threshold::ThresholdGauge;

/// Entries [`ConnTable::find_embryonic`] looks at, at most, for one new connection.
pub const EVICT_SCAN: usize = 16;

/// How full a core's connection table is, as the defences see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum PressureLevel {
    /// Room to spare.
    #[default]
    Normal = 0,
    /// At `pressure_percent` fill or above (until 10 points below it).
    Pressure = 1,
    /// A new connection found no free entry (until the fill is below 95%).
    Full = 2,
}

impl PressureLevel {
    /// The name logs, stats and metrics use.
    pub fn name(self) -> &'static str {
        match self {
            PressureLevel::Normal => "normal",
            PressureLevel::Pressure => "pressure",
            PressureLevel::Full => "full",
        }
    }

    /// The level after a change of fill: `len` of `cap` entries held, `no_room` when an insert
    /// has just found none.
    pub fn next(self, len: usize, cap: usize, pressure_percent: u8, no_room: bool) -> PressureLevel {
        let (fill, cap) = (len as u64 * 100, cap as u64);
        let p = u64::from(pressure_percent);
        if no_room {
            return PressureLevel::Full;
        }
        match self {
            PressureLevel::Full if fill >= cap * 95 => PressureLevel::Full,
            PressureLevel::Full | PressureLevel::Pressure if fill >= cap * p.saturating_sub(10) => {
                PressureLevel::Pressure
            }
            _ if fill >= cap * p => PressureLevel::Pressure,
            _ => PressureLevel::Normal,
        }
    }
}

/// This core's side of the per-real thresholds.
#[derive(Debug)]
pub(super) struct Thresholds {
    pub(super) gauge: Arc<ThresholdGauge>,
    /// (upper, lower) by real-server id, from the snapshot.
    pub(super) limits: Vec<(u32, u32)>,
    /// The overload mark as this core last applied it to its weights, by real-server id.
    pub(super) applied: Vec<bool>,
    pub(super) core: u16,
}

impl Thresholds {
    pub(super) fn new(cores: u16, core: u16) -> Self {
        Thresholds {
            gauge: Arc::new(ThresholdGauge::new(cores)),
            limits: vec![(0, 0); MAX_DESTS],
            applied: vec![false; MAX_DESTS],
            core,
        }
    }

    /// Real server `dest`'s count on this core changed to `count`: publishes it and applies
    /// IPVS's rule. Returns the new mark when this core's weights must change.
    #[inline]
    pub(super) fn counted(&mut self, dest: u16, count: u32) -> Option<bool> {
        let (upper, lower) = self.limits[usize::from(dest)];
        if upper == 0 {
            return None;
        }
        self.gauge.publish(self.core, dest, count);
        let over = self.gauge.evaluate(dest, upper, lower);
        (std::mem::replace(&mut self.applied[usize::from(dest)], over) != over).then_some(over)
    }
}

impl PerCore {
    /// Gives real server `dest` weight 0 in this core's schedulers while it is overloaded, and
    /// its configured weight again after.
    pub(super) fn apply_overload(
        snap: &Snapshot,
        scheds: &mut [Option<Box<dyn Scheduler>>],
        weights: &mut [u32],
        loads: &[Load],
        dest: u16,
        over: bool,
    ) {
        let configured = snap.dest_loc(dest).map_or(0, |(s, i)| s.dests[i].weight);
        weights[usize::from(dest)] = if over { 0 } else { configured };
        Self::notify(snap, scheds, weights, loads, dest);
    }

    /// Takes the thresholds of a new snapshot (after its weights were loaded) and reapplies
    /// the overload marks to them.
    pub(super) fn load_thresholds(&mut self, snap: &Snapshot) {
        let thr = &mut self.thr;
        for (id, l) in thr.limits.iter_mut().enumerate() {
            if l.0 > 0 && !snap.thresholded().contains(&(id as u16)) {
                thr.gauge.clear(id as u16);
            }
            *l = (0, 0);
        }
        thr.applied.fill(false);
        for d in snap.services().iter().flat_map(|s| &s.dests).filter(|d| d.u_threshold > 0) {
            let l = self.loads[usize::from(d.id)];
            thr.limits[usize::from(d.id)] = (d.u_threshold, d.l_threshold);
            thr.gauge.publish(thr.core, d.id, l.active + l.inactive);
            let over = thr.gauge.evaluate(d.id, d.u_threshold, d.l_threshold);
            thr.applied[usize::from(d.id)] = over;
            if over {
                self.weights[usize::from(d.id)] = 0;
            }
        }
    }

    /// Burst boundary: takes up overload marks other cores moved.
    pub(super) fn follow_overload_marks(&mut self, snap: &Snapshot) {
        for &d in snap.thresholded() {
            let over = self.thr.gauge.is_overloaded(d);
            if std::mem::replace(&mut self.thr.applied[usize::from(d)], over) != over {
                Self::apply_overload(snap, &mut self.scheds, &mut self.weights, &self.loads, d, over);
            }
        }
    }

    /// Re-reads the pressure level after the table's fill changed (`no_room`: an insert has
    /// just found no free entry); a change is counted.
    #[inline]
    pub(super) fn update_level(&mut self, snap: &Snapshot, no_room: bool) {
        if !no_room
            && self.level == PressureLevel::Normal
            && self.tables.v4.len() < self.calm_below
            && self.tables.v6.len() < self.calm_below6
        {
            return; // the common case, in three comparisons
        }
        // The fuller of the two families' tables sets the level (each family has its own).
        let (len, cap) =
            if self.tables.v6.len() * self.tables.v4.capacity() > self.tables.v4.len() * self.tables.v6.capacity() {
                (self.tables.v6.len(), self.tables.v6.capacity())
            } else {
                (self.tables.v4.len(), self.tables.v4.capacity())
            };
        let next = self.level.next(len, cap, snap.overload().pressure_percent, no_room);
        if next != self.level {
            self.level = next;
            self.counters.level_changes += 1;
        }
    }

    /// Under pressure a new connection's handshake (SYN_RECV) lives `syn_timeout`, not 60 s.
    /// Done where connections start, so that packets of established ones pay nothing for it.
    /// The entry was filed in the timer wheel at its first expiry (NONE's, 2 s) when inserted
    /// this very packet, so any expiry from then on is reached without refiling it.
    pub(super) fn shorten_handshake<K: IpPath>(&mut self, snap: &Snapshot, idx: u32, now: u32) {
        let filed = now + ConnState::None.timeout(&snap.timeouts());
        let c = K::conns_mut(&mut self.tables).get_mut(idx);
        if c.state == ConnState::SynRecv {
            c.expires = c.expires.min(filed.max(now + snap.overload().syn_timeout));
        }
    }

    /// Makes room for a new connection by evicting an embryonic entry; false when none was
    /// found within [`EVICT_SCAN`] entries.
    pub(super) fn evict_embryonic<K: IpPath>(&mut self, snap: &Snapshot, now: u32) -> bool {
        let Some(victim) = K::conns_mut(&mut self.tables).find_embryonic(EVICT_SCAN) else { return false };
        self.drop_conn::<K>(snap, victim, now);
        self.counters.evicted += 1;
        true
    }

    /// Removes connection `idx` before its time, as expiry would: its real server counts it no
    /// more, its template one connection fewer.
    pub(super) fn drop_conn<K: IpPath>(&mut self, snap: &Snapshot, idx: u32, now: u32) {
        let c = K::conns_mut(&mut self.tables).remove(idx);
        Self::release_load(snap, &mut self.scheds, &mut self.weights, &mut self.loads, &mut self.thr, &c);
        if let Some(m) = self.snat_maps.as_mut().filter(|_| K::BITS == 32 && super::snat::is_snat(&c)) {
            m.release(&c);
        }
        super::client_limits::client_release(&mut self.client_counts, snap, &c, now);
        if c.flags & F_PERSIST != 0 {
            Self::unpin(snap, &mut self.templates, &c, now);
        }
    }

    /// True when a new flow of a stateless-capable service should get no entry: the table is
    /// full, or this second's new connections reached the configured rate.
    #[inline]
    pub(super) fn stateless_now<K: IpPath>(&self, snap: &Snapshot, now: u32) -> bool {
        let rate = snap.overload().new_conn_rate;
        let t = K::conns(&self.tables);
        t.len() >= t.capacity() || (rate != 0 && self.rate_sec == now && self.rate_count >= rate)
    }

    /// Counts a new connection towards this second's rate.
    #[inline]
    pub(super) fn note_new_conn(&mut self, now: u32) {
        if self.rate_sec != now {
            self.rate_sec = now;
            self.rate_count = 0;
        }
        self.rate_count += 1;
    }

    /// Forwards a packet of `svc` (stateless-capable) to the real server its hash picks,
    /// creating no entry.
    pub(super) fn forward_stateless<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        svc: &Service,
        now: u32,
    ) -> Verdict {
        let flow = Flow::new(ip.proto, ip.src, ip.sport, ip.dst, ip.dport);
        let Some(sched) = self.scheds[usize::from(svc.id)].as_mut() else {
            return Verdict::Drop(DropReason::NoDest);
        };
        let view = View { dests: &svc.dests, weights: &self.weights, loads: &self.loads };
        let Some(i) = sched.pick(&view, &flow, now) else { return Verdict::Drop(DropReason::NoDest) };
        self.counters.stateless_forwarded += 1;
        self.forward_without_entry(snap, frame, ip, svc, i)
    }
}
