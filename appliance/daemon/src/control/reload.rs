//! A configuration reload (SIGHUP, `rvsadm --reload`) as a difference: what continues keeps
//! its ids (so its connections, counters and scheduler state carry on), what is new gets ids
//! from the pool, what is gone goes to the trash to drain.

use super::live_config::{LiveConfig, OpError, SvcKey};
use crate::config::Config;
use rvs_core::service::{Dest, Service};
use std::collections::{BTreeMap, BTreeSet};

impl LiveConfig {
    /// Re-reads a configuration: services, real servers, checks, timeouts and static neighbours
    /// become the file's, keeping the ids of what continues (so its connections, counters and
    /// scheduler state carry on). Ports and dataplane settings need a restart. Returns a
    /// summary; on error nothing changed. The result is validated as a snapshot when it is
    /// published ([`super::server::Control::publish`]), before it takes effect.
    pub fn reload(&mut self, cfg: &Config, now: u64) -> Result<String, OpError> {
        if cfg.ports != self.ports {
            return Err(OpError::Invalid { field: "port", msg: "ports cannot change without a restart".into() });
        }
        let mut next = self.clone();
        next.timeouts = cfg.timeouts;
        next.overload = cfg.overload;
        next.knobs = cfg.knobs;
        next.sync = cfg.sync.clone();
        next.neighbours = cfg.neighbours.clone();
        next.mark_rules = cfg.mark_rules.clone();
        next.snat = cfg.snat.clone();
        next.access = cfg.access.clone();
        next.blackhole = cfg.blackhole;
        let old = std::mem::take(&mut next.services);
        let key = |s: &Service| SvcKey::of(s);
        let (mut added, mut changed) = (0, 0);
        let mut checks = BTreeMap::new();
        let mut slow_start = BTreeMap::new();
        let mut fresh = Vec::new();
        let mut services = Vec::new();
        for s in &cfg.services {
            let k = key(s);
            let prev = old.iter().find(|o| key(o) == k);
            let id = match prev {
                Some(p) => p.id,
                None => {
                    added += 1;
                    next.svc_id_for(k, now)?
                }
            };
            let mut dests = Vec::new();
            for d in &s.dests {
                let did = match prev.and_then(|p| p.dests.iter().find(|o| o.addr == d.addr && o.port == d.port)) {
                    Some(o) => o.id,
                    None => {
                        let id = next.dest_id_for(k, d.addr, d.port, now)?;
                        fresh.push(id);
                        id
                    }
                };
                if let Some((_, c)) = cfg.checks.iter().find(|(cid, _)| *cid == d.id) {
                    checks.insert(did, c.clone());
                }
                if let Some(&(_, secs)) = cfg.slow_start.iter().find(|(sid, secs)| *sid == d.id && *secs > 0) {
                    slow_start.insert(did, secs);
                }
                dests.push(Dest { id: did, ..d.clone() });
            }
            let svc = Service { id, dests, ..s.clone() };
            if prev.is_some_and(|p| *p != svc) {
                changed += 1;
            }
            services.push(svc);
        }
        let removed_svcs: Vec<Service> =
            old.iter().filter(|o| !services.iter().any(|n| key(n) == key(o))).cloned().collect();
        for o in &old {
            match services.iter().find(|n| key(n) == key(o)) {
                Some(n) => {
                    let gone: Vec<Dest> =
                        o.dests.iter().filter(|d| !n.dests.iter().any(|x| x.id == d.id)).cloned().collect();
                    next.free_dests(key(o), &gone, now);
                }
                None => next.free_service(o, now),
            }
        }
        next.services = services;
        next.checks = checks;
        let live: BTreeSet<u16> = next.checks.keys().copied().collect();
        next.down.retain(|id| live.contains(id));
        // Drains and ramps of servers that continue carry on; new servers start their ramp.
        next.slow_start = slow_start;
        let kept: BTreeSet<u16> = next.services.iter().flat_map(|s| s.dests.iter().map(|d| d.id)).collect();
        next.draining.retain(|id, _| kept.contains(id));
        let ramping = next.slow_start.clone();
        next.ramps.retain(|id, _| ramping.contains_key(id));
        for id in fresh {
            next.start_ramp(id, now);
        }
        *self = next;
        Ok(format!("reloaded: {added} service(s) added, {changed} changed, {} removed", removed_svcs.len()))
    }
}
