//! The allow and deny lists as the control plane shows them (`rvsadm -L --access`, the JSON
//! report, /metrics): each list's scope (the director, or a service), its size, and the new
//! connections it refused over every worker.

use super::live_config::LiveConfig;
use rvs_core::access::Access;
use rvs_core::service::MAX_SERVICES;
use serde::{Deserialize, Serialize};

/// One list's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReport {
    /// `director`, or the service (`tcp 198.18.0.100:80`).
    pub scope: String,
    /// `allow` or `deny`.
    pub list: String,
    /// Prefixes in it.
    pub prefixes: u64,
    /// New connections it refused (a deny list: its clients; an allow list: the others).
    pub refused: u64,
}

/// The lists of `st` with the workers' counts summed.
pub fn reports(st: &LiveConfig, workers: &[crate::worker::WorkerReport]) -> Vec<AccessReport> {
    let hits = |slot: usize| {
        let rows = workers.iter().flat_map(|w| w.access_hits.iter()).filter(|(i, _)| usize::from(*i) == slot);
        rows.fold([0u64; 2], |acc, (_, h)| [acc[0] + h[0], acc[1] + h[1]])
    };
    let mut out = Vec::new();
    let mut scope = |name: String, a: &Access, slot: usize| {
        let h = hits(slot);
        for (list, l, refused) in [("allow", &a.allow, h[1]), ("deny", &a.deny, h[0])] {
            if let Some(l) = l {
                out.push(AccessReport { scope: name.clone(), list: list.into(), prefixes: l.len() as u64, refused });
            }
        }
    };
    scope("director".into(), &st.access, MAX_SERVICES);
    for s in &st.services {
        scope(s.name(), &s.access, usize::from(s.id));
    }
    out
}
