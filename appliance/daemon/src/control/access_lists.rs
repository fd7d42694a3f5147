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

/// A client prefix with many connections, as `-L --clients` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReport {
    /// The service (`tcp 198.18.0.100:81`).
    pub service: String,
    /// The client network (`198.18.0.0/24` style, at the service's prefix).
    pub client: String,
    /// Its connections over every worker.
    pub conns: u64,
    /// The service's limit.
    pub max_conns: u32,
}

/// The client prefixes with the most connections under per-client limits, over every worker.
pub fn top_clients(st: &LiveConfig, workers: &[crate::worker::WorkerReport], n: usize) -> Vec<ClientReport> {
    let mut sums: std::collections::BTreeMap<(u16, std::net::IpAddr), u64> = Default::default();
    for u in workers.iter().flat_map(|w| w.top_clients.iter()) {
        *sums.entry((u.svc, u.net)).or_default() += u64::from(u.conns);
    }
    let mut out: Vec<ClientReport> = sums
        .into_iter()
        .filter_map(|((svc, net), conns)| {
            let s = st.services.iter().find(|s| s.id == svc)?;
            let l = s.access.limit;
            let len = if net.is_ipv4() { l.prefix4 } else { l.prefix6 };
            Some(ClientReport { service: s.name(), client: format!("{net}/{len}"), conns, max_conns: l.max_conns })
        })
        .collect();
    out.sort_by(|a, b| b.conns.cmp(&a.conns).then_with(|| a.client.cmp(&b.client)));
    out.truncate(n);
    out
}

/// Which list of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Only these clients.
    Allow,
    /// Never these clients.
    Deny,
}

impl LiveConfig {
    /// `--add-allow/--del-allow/--add-deny/--del-deny`: adds `prefixes` to (`add`) or takes them
    /// from list `kind` of service `svc` (`None`: the director's). Deleting a prefix the list
    /// does not hold is refused, changing nothing; a list left empty is gone (an allow list
    /// then restricts no one).
    pub fn edit_access(
        &mut self,
        svc: Option<super::live_config::SvcKey>,
        kind: ListKind,
        add: bool,
        prefixes: &[String],
    ) -> Result<(), super::live_config::OpError> {
        use super::live_config::OpError;
        let mut parsed = Vec::with_capacity(prefixes.len());
        for p in prefixes {
            parsed.push(rvs_core::access::parse_prefix(p).map_err(|msg| OpError::Invalid { field: "prefix", msg })?);
        }
        let access = match svc {
            None => &mut self.access,
            Some(k) => {
                let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
                &mut self.services[i].access
            }
        };
        let slot = match kind {
            ListKind::Allow => &mut access.allow,
            ListKind::Deny => &mut access.deny,
        };
        let mut list: Vec<(std::net::IpAddr, u8)> = slot.as_ref().map(|l| l.prefixes.clone()).unwrap_or_default();
        if add {
            list.extend(parsed);
        } else {
            if let Some((a, l)) = parsed.iter().find(|p| list.binary_search(p).is_err()) {
                return Err(OpError::Invalid { field: "prefix", msg: format!("{a}/{l} is not in the list") });
            }
            list.retain(|p| !parsed.contains(p));
        }
        *slot = (!list.is_empty()).then(|| std::sync::Arc::new(rvs_core::access::AccessList::new(&list)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use rvs_core::service::Protocol;

    #[test]
    fn lists_are_edited_live_and_a_bad_edit_changes_nothing() {
        let text = "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n\
            [access]\ndeny = [\"192.0.2.0/24\"]\n\
            [[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n";
        let mut s = LiveConfig::from_config(&Config::parse("t.toml", text).unwrap(), vec![]);
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        s.edit_access(None, ListKind::Deny, true, &p(&["198.51.100.7", "2001:db8::/32"])).unwrap();
        assert_eq!(s.access.deny.as_ref().unwrap().len(), 3);
        let before = s.access.clone();
        let e = s.edit_access(None, ListKind::Deny, false, &p(&["198.51.100.7", "203.0.113.0/24"])).unwrap_err();
        assert!(e.to_string().contains("203.0.113.0/24 is not in the list"), "{e}");
        assert_eq!(s.access, before, "nothing changed");
        assert!(s.edit_access(None, ListKind::Deny, true, &p(&["x"])).unwrap_err().to_string().starts_with("prefix:"));
        let k = super::super::live_config::SvcKey::addr(Protocol::Tcp, "10.0.0.100".parse().unwrap(), 80);
        s.edit_access(Some(k), ListKind::Allow, true, &p(&["10.1.0.0/16"])).unwrap();
        assert!(s.snapshot().unwrap().access_any());
        s.edit_access(Some(k), ListKind::Allow, false, &p(&["10.1.0.0/16"])).unwrap();
        assert_eq!(s.services[0].access.allow, None, "an emptied list is gone");
    }
}
