//! Beyond IPVS, for operators who take real servers out and bring them back:
//!
//! - **Drain to completion** (`rvsadm -e ... --drain [--deadline SECS]`): the real server gets
//!   weight 0 (no new connections, as IPVS's quiesce; persistence templates still honour it,
//!   as IPVS's `expire_quiescent_template = 0`), and rvsd deletes it itself once its
//!   connections on every worker reach zero, or at the deadline (its remaining connections then
//!   drain as after `-d`). A drain survives `--reload` while the file keeps the server; an
//!   `-e` that sets a weight without `--drain` cancels it.
//! - **Slow start** (`--slow-start SECS`, HAProxy's `slowstart`): after a real server is added
//!   (live or by a reload), comes back from a failed health check, or gets a weight above 0
//!   again, its weight in force ramps linearly from 1 to the configured weight over SECS, so
//!   lc/wlc do not flood a cold server with every new connection. Servers present at start do
//!   not ramp (HAProxy's behaviour too).
//!
//! Both are control-plane state keyed by real-server id; the dataplane only sees the weights
//! they give ([`LiveConfig::weight_in_force`]). [`LiveConfig::lifecycle_tick`] advances them
//! once a second from the health thread.

use super::live_config::{LiveConfig, SvcKey};
use super::server::Control;
use crate::stats::Baseline;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A real server being drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// When the drain began (the control clock's seconds).
    pub since: u64,
    /// When rvsd deletes it whatever its connections (None: only at zero).
    pub deadline: Option<u64>,
}

/// A real server's weight ramping up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ramp {
    /// When the ramp began.
    pub start: u64,
    /// The weight in force the last snapshot carried.
    pub current: u32,
}

/// What one tick did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// Real servers deleted because their drain completed: (service, real, "empty" or "deadline").
    pub drained: Vec<(String, String, &'static str)>,
    /// True when a weight in force changed (the snapshot must be republished).
    pub weights_moved: bool,
}

/// The weight in force `secs` seconds into a ramp of `total` seconds towards `weight`:
/// linear from 1, never 0 for a server with a weight.
pub fn ramp_weight(weight: u32, elapsed: u64, total: u32) -> u32 {
    if weight == 0 || total == 0 || elapsed >= u64::from(total) {
        return weight;
    }
    1 + ((u64::from(weight) - 1) * elapsed / u64::from(total)) as u32
}

impl LiveConfig {
    /// Starts real server `id`'s slow start at `now`, if it has one.
    pub(super) fn start_ramp(&mut self, id: u16, now: u64) {
        if self.slow_start.get(&id).is_some_and(|&s| s > 0) {
            self.ramps.insert(id, Ramp { start: now, current: 1 });
        }
    }

    /// The weight real server `id` with configured weight `weight` has in the dataplane:
    /// 0 while draining, ramping during its slow start.
    pub fn weight_in_force(&self, id: u16, weight: u32) -> u32 {
        if self.draining.contains_key(&id) {
            return 0;
        }
        match self.ramps.get(&id) {
            Some(r) => r.current.min(weight),
            None => weight,
        }
    }

    /// Seconds left of real server `id`'s ramp at `now` (None: not ramping).
    pub fn ramp_left(&self, id: u16, now: u64) -> Option<u64> {
        let r = self.ramps.get(&id)?;
        let total = u64::from(*self.slow_start.get(&id)?);
        Some((r.start + total).saturating_sub(now))
    }

    /// Advances ramps and drains at `now`; `conns(id)` is real server `id`'s connections over
    /// every worker. Deletes drained servers (to the trash, as `-d`).
    pub fn lifecycle_tick(&mut self, now: u64, conns: &dyn Fn(u16) -> u64) -> TickOutcome {
        let mut out = TickOutcome::default();
        let weights: Vec<(u16, u32)> =
            self.services.iter().flat_map(|s| s.dests.iter()).map(|d| (d.id, d.weight)).collect();
        let slow = self.slow_start.clone();
        self.ramps.retain(|id, r| {
            let Some(&(_, w)) = weights.iter().find(|(d, _)| d == id) else { return false };
            let total = slow.get(id).copied().unwrap_or(0);
            let next = ramp_weight(w, now.saturating_sub(r.start), total);
            if next != r.current {
                r.current = next;
                out.weights_moved = true;
            }
            next < w
        });
        let done: Vec<(u16, &'static str)> = self
            .draining
            .iter()
            .filter_map(|(&id, d)| {
                if conns(id) == 0 {
                    Some((id, "empty"))
                } else if d.deadline.is_some_and(|t| now >= t) {
                    Some((id, "deadline"))
                } else {
                    None
                }
            })
            .collect();
        for (id, why) in done {
            self.draining.remove(&id);
            let Some(si) = self.services.iter().position(|s| s.dests.iter().any(|d| d.id == id)) else { continue };
            let s = &mut self.services[si];
            let k = SvcKey::of(s);
            let pos = s.dests.iter().position(|d| d.id == id).expect("found above");
            let d = s.dests.remove(pos);
            out.drained.push((s.name(), SocketAddr::new(d.addr, d.port).to_string(), why));
            self.free_dests(k, &[d], now);
        }
        out
    }
}

/// Once a second (from the health thread): advances ramps and drains (of real servers and of
/// FULLNAT local addresses), and republishes the snapshot when a weight in force moved, a
/// drained server was deleted or a drained local address forgotten.
pub fn tick(ctl: &Control<'_>) {
    let (drains, ramps, laddrs) = match ctl.state.lock() {
        Ok(st) => (!st.draining.is_empty(), !st.ramps.is_empty(), st.draining_laddrs().next().is_some()),
        Err(_) => return,
    };
    if !drains && !ramps && !laddrs {
        return;
    }
    // Connection counts from a fresh report, taken without holding the state.
    let mut counts = BTreeMap::new();
    let mut ports = BTreeMap::new();
    if drains || laddrs {
        let Ok((st, r)) = ctl.fresh_report(&Baseline::default()) else { return };
        for (s, rs) in st.services.iter().zip(&r.services) {
            for (d, rr) in s.dests.iter().zip(&rs.reals) {
                counts.insert(d.id, rr.active + rr.inactive);
            }
        }
        for l in &r.laddrs {
            if let Ok(a) = l.address.parse::<std::net::IpAddr>() {
                ports.insert(a, l.ports_in_use);
            }
        }
    }
    let now = ctl.t0.elapsed().as_secs();
    let Ok(mut guard) = ctl.state.lock() else { return };
    let mut next = guard.clone();
    // A server the report did not see (added since) is not known to be empty.
    let out = next.lifecycle_tick(now, &|id| counts.get(&id).copied().unwrap_or(u64::MAX));
    let forgotten = laddrs && next.forget_drained_laddrs(&|a| ports.get(&a).copied());
    if out.drained.is_empty() && !out.weights_moved && !forgotten {
        *guard = next; // finished ramps leave the map
        return;
    }
    next.drains_completed += out.drained.len() as u64;
    match ctl.publish(&next) {
        Ok(()) => {
            for (svc, real, why) in &out.drained {
                let when = if *why == "empty" { "its last connection ended" } else { "its deadline passed" };
                tracing::warn!(service = %svc, real = %real, why = when, "drain complete: real server deleted");
            }
            *guard = next;
        }
        Err(e) => tracing::error!(error = %e, "drain or slow start step not published"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::live_config::RealOpts;
    use super::*;
    use crate::config::Config;
    use rvs_core::service::Protocol;
    use std::net::IpAddr;

    const BASE: &str = "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n  [[service.real]]\n  address = \"10.0.0.11\"\n  weight = 10\n  [[service.real]]\n  address = \"10.0.0.12\"\n  weight = 10\n  slow_start = 10\n";

    fn key() -> SvcKey {
        SvcKey::addr(Protocol::Tcp, IpAddr::from([10, 0, 0, 100]), 80)
    }

    fn weights(s: &LiveConfig) -> Vec<u32> {
        s.effective_services()[0].dests.iter().map(|d| d.weight).collect()
    }

    #[test]
    fn a_drain_ends_when_the_connections_do_or_at_its_deadline_and_a_weight_cancels_it() {
        let mut s = LiveConfig::from_config(&Config::parse("t.toml", BASE).unwrap(), vec![]);
        let rs1 = IpAddr::from([10, 0, 0, 11]);
        let drain = |d| RealOpts { drain: Some(d), ..Default::default() };
        s.edit_real(key(), rs1, None, drain(None), 100).unwrap();
        assert_eq!(weights(&s), [0, 10], "draining: weight 0 in the dataplane");
        assert_eq!(s.services[0].dests[0].weight, 10, "the configured weight stays");
        let out = s.lifecycle_tick(101, &|_| 3);
        assert!(out.drained.is_empty() && s.services[0].dests.len() == 2, "connections left: it stays");
        let out = s.lifecycle_tick(500, &|id| u64::from(id != 0));
        assert_eq!(out.drained, [("tcp 10.0.0.100:80".into(), "10.0.0.11:80".into(), "empty")]);
        assert_eq!(s.services[0].dests.len(), 1, "deleted");
        assert!(s.trash.iter().any(|t| t.1 == rs1), "to the trash, as -d: its connections drain");

        let rs2 = IpAddr::from([10, 0, 0, 12]);
        s.edit_real(key(), rs2, None, drain(Some(30)), 600).unwrap();
        assert!(s.lifecycle_tick(629, &|_| 5).drained.is_empty());
        assert_eq!(s.lifecycle_tick(630, &|_| 5).drained[0].2, "deadline");
        assert!(s.services[0].dests.is_empty());

        let mut s = LiveConfig::from_config(&Config::parse("t.toml", BASE).unwrap(), vec![]);
        s.edit_real(key(), rs1, None, drain(None), 0).unwrap();
        s.edit_real(key(), rs1, None, RealOpts { u_threshold: Some(9), ..Default::default() }, 1).unwrap();
        assert!(s.draining.contains_key(&0), "an edit without a weight keeps the drain");
        s.edit_real(key(), rs1, None, RealOpts { weight: Some(4), ..Default::default() }, 2).unwrap();
        assert!(s.draining.is_empty(), "a weight cancels it");
        assert_eq!(weights(&s), [4, 10]);
    }

    #[test]
    fn slow_start_ramps_after_an_add_a_recovery_or_a_weight_from_zero_not_at_start() {
        let mut s = LiveConfig::from_config(&Config::parse("t.toml", BASE).unwrap(), vec![]);
        assert_eq!(weights(&s), [10, 10], "servers present at start do not ramp");
        let rs2 = IpAddr::from([10, 0, 0, 12]);
        s.edit_real(key(), rs2, None, RealOpts { weight: Some(0), ..Default::default() }, 0).unwrap();
        s.edit_real(key(), rs2, None, RealOpts { weight: Some(10), ..Default::default() }, 100).unwrap();
        assert_eq!(weights(&s), [10, 1], "back from 0: starts at 1");
        let mut seen = vec![];
        for t in [100, 103, 105, 109, 110, 111] {
            let out = s.lifecycle_tick(t, &|_| 0);
            seen.push((weights(&s)[1], out.weights_moved));
        }
        assert_eq!(seen, [(1, false), (3, true), (5, true), (9, true), (10, true), (10, false)]);
        assert!(s.ramps.is_empty(), "the ramp ended");
        assert_eq!(s.ramp_left(1, 111), None);

        let rs3 = IpAddr::from([10, 0, 0, 13]);
        let o = RealOpts { weight: Some(100), slow_start: Some(20), ..Default::default() };
        s.add_real(key(), rs3, None, o, 200).unwrap();
        let id = s.services[0].dests[2].id;
        assert_eq!(s.weight_in_force(id, 100), 1, "added live: ramps");
        s.lifecycle_tick(210, &|_| 0);
        assert_eq!(s.weight_in_force(id, 100), 50);
        assert_eq!(s.ramp_left(id, 210), Some(10));
        let e = s.add_real(
            key(),
            IpAddr::from([10, 0, 0, 14]),
            None,
            RealOpts { slow_start: Some(90_000), ..Default::default() },
            0,
        );
        assert!(e.unwrap_err().to_string().starts_with("slow-start:"), "bounded");
    }

    #[test]
    fn a_reload_keeps_drains_and_ramps_of_servers_that_continue_and_ramps_new_ones() {
        let mut s = LiveConfig::from_config(&Config::parse("t.toml", BASE).unwrap(), vec![]);
        s.edit_real(key(), IpAddr::from([10, 0, 0, 11]), None, RealOpts { drain: Some(None), ..Default::default() }, 5)
            .unwrap();
        let more = format!("{BASE}  [[service.real]]\n  address = \"10.0.0.13\"\n  weight = 8\n  slow_start = 4\n");
        s.reload(&Config::parse("t.toml", &more).unwrap(), 10).unwrap();
        assert_eq!(weights(&s), [0, 10, 1], "drain kept, the new server ramps");
        s.lifecycle_tick(12, &|_| 1);
        assert_eq!(weights(&s), [0, 10, 4]);
        s.reload(&Config::parse("t.toml", BASE).unwrap(), 20).unwrap();
        assert_eq!(weights(&s), [0, 10], "the third is gone with its ramp");
        assert!(s.ramps.is_empty() && s.draining.len() == 1);
    }

    #[test]
    fn the_ramp_is_linear_from_one_to_the_weight() {
        assert_eq!(ramp_weight(100, 0, 10), 1);
        assert_eq!(ramp_weight(100, 5, 10), 50);
        assert_eq!(ramp_weight(100, 10, 10), 100);
        assert_eq!(ramp_weight(100, 99, 10), 100);
        assert_eq!(ramp_weight(1, 0, 10), 1);
        assert_eq!(ramp_weight(0, 3, 10), 0, "weight 0 stays 0");
        assert_eq!(ramp_weight(7, 0, 0), 7, "no slow start");
    }
}
