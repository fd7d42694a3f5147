//! The per-core scheduler replicas and the loads they balance on: replicas are rebuilt from
//! each snapshot (weights included), and every connection counts once on its real server —
//! inactive until ESTABLISHED, then active (IPVS's `activeconns`/`inactconns`, per core).

use super::*;

impl PerCore {
    /// Rebuilds every service's scheduler replica from `snap` and the current weights (new
    /// instances where the scheduler changed); with `old`, also drops templates of services
    /// that are gone or whose persistence changed.
    pub(super) fn rebuild_schedulers(&mut self, snap: &Snapshot, old: Option<&Snapshot>) {
        self.weights.fill(0);
        for d in snap.services().iter().flat_map(|s| &s.dests) {
            self.weights[usize::from(d.id)] = d.weight;
        }
        self.load_thresholds(snap);
        self.expire_quiescent_template = snap.knobs().expire_quiescent_template;
        let cap = self.tables.v4.capacity();
        self.calm_below = (cap * usize::from(snap.overload().pressure_percent)).div_ceil(100);
        self.calm_below6 = (self.tables.v6.capacity() * usize::from(snap.overload().pressure_percent)).div_ceil(100);
        self.provide_seq_adjust(snap);
        self.provide_client_counts(snap);
        self.provide_synproxy(snap);
        if snap.sync_master().is_some_and(|p| p.refresh_period() > 0) && self.sync_marks[0].is_empty() {
            // Control path: the refresh rule's per-connection marks, per family's table.
            self.sync_marks = [vec![0; cap], vec![0; self.tables.v6.capacity()]];
        }
        let mut keep = vec![false; MAX_SERVICES];
        for s in snap.services() {
            let slot = &mut self.scheds[usize::from(s.id)];
            if slot.as_ref().is_none_or(|x| x.name() != s.scheduler) {
                *slot = new_scheduler(&s.scheduler);
                if let Some(x) = slot.as_mut() {
                    x.seed(self.sched_seed ^ u64::from(s.id).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                }
            }
            if let Some(x) = slot.as_mut() {
                x.set_flags(s.sched_flags);
                x.rebuild(&View { dests: &s.dests, weights: &self.weights, loads: &self.loads });
            }
            keep[usize::from(s.id)] = true;
        }
        for (slot, k) in self.scheds.iter_mut().zip(keep) {
            if !k {
                *slot = None;
            }
        }
        if let Some(old) = old {
            let stale: Vec<u64> = self
                .templates
                .iter()
                .filter(|(_, t)| {
                    let id = t.svc;
                    match (snap.service_by_id(id), old.service_by_id(id)) {
                        (Some(n), Some(o)) => {
                            n.persistence == 0 || n.persistence_prefix != o.persistence_prefix || n.vip != o.vip
                        }
                        _ => true,
                    }
                })
                .map(|(k, _)| k)
                .collect();
            for k in stale {
                self.templates.remove(k);
            }
        }
    }

    /// Tells the scheduler of real server `dest`'s service that its load changed.
    pub(super) fn notify(
        snap: &Snapshot,
        scheds: &mut [Option<Box<dyn Scheduler>>],
        weights: &[u32],
        loads: &[Load],
        dest: u16,
    ) {
        if !snap.load_followed(dest) {
            return;
        }
        if let Some((svc, i)) = snap.dest_loc(dest) {
            if let Some(s) = scheds[usize::from(svc.id)].as_mut() {
                s.load_changed(&View { dests: &svc.dests, weights, loads }, i);
            }
        }
    }

    /// Takes an ending connection off its real server's counts (and its threshold's).
    pub(super) fn release_load<K: AddrKey>(
        snap: &Snapshot,
        scheds: &mut [Option<Box<dyn Scheduler>>],
        weights: &mut [u32],
        loads: &mut [Load],
        thr: &mut Thresholds,
        c: &Conn<K>,
    ) {
        let l = &mut loads[usize::from(c.dest)];
        if c.flags & F_INACTIVE != 0 {
            l.inactive = l.inactive.saturating_sub(1);
        } else {
            l.active = l.active.saturating_sub(1);
        }
        let count = l.active + l.inactive;
        if let Some(over) = thr.counted(c.dest, count) {
            Self::apply_overload(snap, scheds, weights, loads, c.dest, over);
        }
        Self::notify(snap, scheds, weights, loads, c.dest);
    }

    /// Real server `dest`'s counts changed outside a packet (a sync record installed or refreshed
    /// a connection): its threshold and the schedulers that follow loads hear of it, as for a
    /// connection made here.
    pub(super) fn load_moved(&mut self, snap: &Snapshot, dest: u16) {
        if dest == UNBOUND_DEST {
            return;
        }
        let l = self.loads[usize::from(dest)];
        if let Some(over) = self.thr.counted(dest, l.active + l.inactive) {
            Self::apply_overload(snap, &mut self.scheds, &mut self.weights, &self.loads, dest, over);
        }
        Self::notify(snap, &mut self.scheds, &self.weights, &self.loads, dest);
    }

    /// Counts a new connection on real server `dest` (inactive until established).
    pub(super) fn add_load(&mut self, snap: &Snapshot, dest: u16, svc: u16) {
        let l = &mut self.loads[usize::from(dest)];
        l.inactive += 1;
        let count = l.active + l.inactive;
        self.dest_stats[usize::from(dest)].conns += 1;
        self.svc_stats[usize::from(svc)].conns += 1;
        self.counters.new_conns += 1;
        if let Some(over) = self.thr.counted(dest, count) {
            Self::apply_overload(snap, &mut self.scheds, &mut self.weights, &self.loads, dest, over);
        }
        Self::notify(snap, &mut self.scheds, &self.weights, &self.loads, dest);
    }
}
