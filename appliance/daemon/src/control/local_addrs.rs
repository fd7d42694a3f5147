//! FULLNAT's local addresses live: `rvsadm --add-laddr`, `--del-laddr` and `--get-laddr`, as
//! DPVS's ipvsadm spells them (`-z ADDR`, `-F PORT`). A deleted address drains: it is still
//! answered for by ARP and NDP, and its connections keep working, until every worker reports
//! its ports back; then it is forgotten ([`LiveConfig::forget_drained_laddrs`], once a second).

use super::live_config::{LiveConfig, OpError, SvcKey};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One local address as `--get-laddr` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaddrReport {
    /// The service it belongs to, as ipvsadm names it (`TCP  10.0.0.100:80`); empty while
    /// it drains after its deletion.
    pub service: String,
    /// The address.
    pub address: String,
    /// Deleted, its connections still running.
    #[serde(default)]
    pub draining: bool,
    /// Local ports its connections hold (all workers).
    pub ports_in_use: u64,
    /// New connections that found none of its ports free (all workers; DPVS's
    /// "PortConflict").
    pub exhausted: u64,
}

/// The local addresses of `services` (in order), then those the workers still hold ports of
/// that no service has (draining), with the workers' figures summed.
pub fn reports(services: &[rvs_core::service::Service], workers: &[crate::worker::WorkerReport]) -> Vec<LaddrReport> {
    let figures = |a: IpAddr| {
        let rows = workers.iter().flat_map(|w| w.laddrs.iter()).filter(|r| r.0 == a);
        rows.fold((0u64, 0u64), |(n, x), r| (n + u64::from(r.1), x + r.2))
    };
    let mut out: Vec<LaddrReport> = services
        .iter()
        .flat_map(|s| s.laddrs.iter().map(move |a| (s, *a)))
        .map(|(s, a)| {
            let (ports_in_use, exhausted) = figures(a);
            let service = crate::stats::ServiceReport::name_of(s);
            LaddrReport { service, address: a.to_string(), draining: false, ports_in_use, exhausted }
        })
        .collect();
    let mut others: Vec<IpAddr> = workers
        .iter()
        .flat_map(|w| w.laddrs.iter().map(|r| r.0))
        .filter(|a| !services.iter().any(|s| s.laddrs.contains(a)))
        .collect();
    others.sort_unstable();
    others.dedup();
    for a in others {
        let (ports_in_use, exhausted) = figures(a);
        if ports_in_use > 0 {
            out.push(LaddrReport {
                service: String::new(),
                address: a.to_string(),
                draining: true,
                ports_in_use,
                exhausted,
            });
        }
    }
    out
}

impl LiveConfig {
    /// `--add-laddr`: gives service `k` local address `addr` (`port`: the dataplane port it
    /// is on, DPVS's `-F`, checked when given).
    pub fn add_laddr(&mut self, k: SvcKey, addr: IpAddr, port: Option<&str>) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        if let Some(p) = port {
            if !self.ports.iter().any(|c| c.name == p) {
                let names: Vec<&str> = self.ports.iter().map(|c| c.name.as_str()).collect();
                return Err(OpError::Invalid {
                    field: "ifname",
                    msg: format!("{p:?}: no such port ({})", names.join(", ")),
                });
            }
        }
        let s = &mut self.services[i];
        if addr.is_ipv6() && s.vip.is_ipv4() {
            return Err(OpError::Invalid {
                field: "laddr",
                msg: format!("{addr} is not of the service's address family"),
            });
        }
        if s.laddrs.contains(&addr) {
            return Err(OpError::Invalid { field: "laddr", msg: format!("{addr} is already a local address of {k}") });
        }
        s.laddrs.push(addr);
        self.draining_laddrs.remove(&addr);
        Ok(())
    }

    /// `--del-laddr`: takes local address `addr` from service `k`. Its connections drain.
    pub fn del_laddr(&mut self, k: SvcKey, addr: IpAddr) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        let s = &mut self.services[i];
        let at = s
            .laddrs
            .iter()
            .position(|a| *a == addr)
            .ok_or_else(|| OpError::Invalid { field: "laddr", msg: format!("{addr} is not a local address of {k}") })?;
        let fullnat = s.dests.iter().any(|d| d.forward == rvs_core::service::Forward::FullNat);
        if fullnat && !s.laddrs.iter().any(|a| *a != addr && a.is_ipv4() == addr.is_ipv4()) {
            return Err(OpError::Invalid {
                field: "laddr",
                msg: format!("{addr} is the last local address of {k}, whose FULLNAT real servers need one"),
            });
        }
        s.laddrs.remove(at);
        if !self.services.iter().any(|s| s.laddrs.contains(&addr)) {
            self.draining_laddrs.insert(addr);
        }
        Ok(())
    }

    /// Forgets the draining local addresses whose ports are all back (`in_use`: ports held
    /// over every worker, `None` when no report knows the address). True if any went.
    pub fn forget_drained_laddrs(&mut self, in_use: &dyn Fn(IpAddr) -> Option<u64>) -> bool {
        let before = self.draining_laddrs.len();
        self.draining_laddrs.retain(|a| in_use(*a).unwrap_or(0) > 0);
        self.draining_laddrs.len() != before
    }

    /// The local addresses deleted while their connections drain.
    pub fn draining_laddrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.draining_laddrs.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use rvs_core::service::Protocol;

    fn state() -> LiveConfig {
        let text = "[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n\
            [[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\nladdrs = [\"10.0.0.201\"]\n  [[service.real]]\n  address = \"10.1.0.11\"\n  forward = \"fullnat\"\n";
        LiveConfig::from_config(&Config::parse("t.toml", text).unwrap(), vec![])
    }

    fn key() -> SvcKey {
        SvcKey::addr(Protocol::Tcp, "10.0.0.100".parse().unwrap(), 80)
    }

    #[test]
    fn local_addresses_are_added_checked_and_drain_when_deleted() {
        let mut s = state();
        let a: IpAddr = "10.0.0.202".parse().unwrap();
        s.add_laddr(key(), a, Some("p0")).unwrap();
        assert_eq!(s.services[0].laddrs.len(), 2);
        let refused = |r: Result<(), OpError>| r.unwrap_err().to_string();
        assert!(refused(s.clone().add_laddr(key(), a, None)).contains("already"));
        assert!(refused(s.clone().add_laddr(key(), "2001:db8::1".parse().unwrap(), None)).contains("family"));
        assert!(refused(s.clone().add_laddr(key(), "10.0.0.203".parse().unwrap(), Some("p9"))).contains("no such port"));
        assert!(refused(s.clone().del_laddr(key(), "10.0.0.9".parse().unwrap())).contains("not a local address"));
        s.del_laddr(key(), a).unwrap();
        assert_eq!(s.draining_laddrs().collect::<Vec<_>>(), [a]);
        assert!(
            s.snapshot()
                .unwrap()
                .family::<u32>()
                .is_laddr(u32::from("10.0.0.202".parse::<std::net::Ipv4Addr>().unwrap())),
            "still answered for"
        );
        assert!(!s.forget_drained_laddrs(&|_| Some(3)), "ports still held");
        assert!(s.forget_drained_laddrs(&|_| Some(0)));
        assert_eq!(s.draining_laddrs().count(), 0);
        // Re-adding a draining address takes it back.
        s.del_laddr(key(), "10.0.0.201".parse().unwrap()).unwrap_err();
        s.add_laddr(key(), a, None).unwrap();
        s.del_laddr(key(), a).unwrap();
        s.add_laddr(key(), a, None).unwrap();
        assert_eq!(s.draining_laddrs().count(), 0);
    }
}
