//! SNAT rules live ([`rvs_core::snat`]): `[[snat]]` in rvs.toml, `rvsadm --add-snat`,
//! `--del-snat` and `-L --snat` (each rule with its counts: connections, packets and bytes each
//! way, and per pool address the ports in use and how often none was free). Like the
//! classifier's rules they stand apart from the services: `-C` leaves them, a reload takes the
//! file's.

use super::live_config::{LiveConfig, OpError};
use crate::config::PortConf;
use rvs_core::service::LocalPorts;
use rvs_core::snat::{SnatFiltering, SnatMapping, SnatRule, MAX_SNAT_RULES};
use rvs_core::wire::ipv4::protocol;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// A rule as rvs.toml, requests and listings carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnatRuleSpec {
    /// Inside hosts: an IPv4 prefix (`10.1.0.0/16`) or address.
    pub source: String,
    /// `tcp`, `udp` or `icmp`; absent: all three.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The dataplane port (by name) the destination must be routed out of; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_port: Option<String>,
    /// Public addresses (IPv4).
    pub pool: Vec<String>,
    /// Public ports, `LO-HI`; absent: 1024-65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
    /// `endpoint-independent` (default) or `address-and-port-dependent` (RFC 4787 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// `address-and-port-dependent` (default) or `endpoint-independent` (RFC 4787 §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtering: Option<String>,
}

/// A rule and its counts, as `-L --snat` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnatReport {
    /// The rule.
    pub rule: SnatRuleSpec,
    /// Connections made (all workers).
    pub conns: u64,
    /// Packets and bytes out (inside -> outside) and back.
    pub pkts_out: u64,
    /// See `pkts_out`.
    pub pkts_in: u64,
    /// See `pkts_out`.
    pub bytes_out: u64,
    /// See `pkts_out`.
    pub bytes_in: u64,
    /// Per pool address: ports in use and how often none was free.
    pub pool: Vec<SnatPoolReport>,
}

/// One pool address's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnatPoolReport {
    /// The address.
    pub address: String,
    /// Ports its connections hold (all workers).
    pub ports_in_use: u64,
    /// New connections that found none of its ports free.
    pub exhausted: u64,
}

fn bad(field: &'static str, msg: String) -> OpError {
    OpError::Invalid { field, msg }
}

impl SnatRuleSpec {
    /// The rule it stands for, with id `id`, its egress port looked up in `ports`; checked
    /// on its own (the snapshot checks it against the rest).
    pub fn rule(&self, id: u16, ports: &[PortConf]) -> Result<SnatRule, OpError> {
        let (source, prefix_len) = match self.source.split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().map_err(|_| bad("source", format!("{p:?} is not a prefix length")))?),
            None => (self.source.as_str(), 32),
        };
        let source: Ipv4Addr =
            source.parse().map_err(|_| bad("source", format!("{source:?} is not an IPv4 address (SNAT is IPv4's)")))?;
        let protocol = match self.protocol.as_deref() {
            None => None,
            Some("tcp") => Some(protocol::TCP),
            Some("udp") => Some(protocol::UDP),
            Some("icmp") => Some(protocol::ICMP),
            Some(p) => return Err(bad("protocol", format!("{p:?}: expected tcp, udp or icmp"))),
        };
        let out_port = match &self.out_port {
            None => None,
            Some(name) => Some(ports.iter().position(|p| p.name == *name).ok_or_else(|| {
                let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
                bad("out_port", format!("{name:?}: no such port ({})", names.join(", ")))
            })? as u16),
        };
        let mut pool = Vec::new();
        for a in &self.pool {
            pool.push(a.parse::<Ipv4Addr>().map_err(|_| bad("pool", format!("{a:?} is not an IPv4 address")))?);
        }
        let ports = match &self.ports {
            None => LocalPorts::default(),
            Some(p) => crate::config::parse_lports(p).map_err(|e| bad("ports", e))?,
        };
        let mapping = match &self.mapping {
            None => SnatMapping::default(),
            Some(m) => m.parse().map_err(|e| bad("mapping", e))?,
        };
        let filtering = match &self.filtering {
            None => SnatFiltering::default(),
            Some(f) => f.parse().map_err(|e| bad("filtering", e))?,
        };
        let rule = SnatRule { id, source, prefix_len, protocol, out_port, pool, ports, mapping, filtering };
        rule.check().map_err(|e| bad("snat", e.to_string()))?;
        Ok(rule)
    }

    /// The spec of `r`, as listings and `-S` show it (`ports`: the dataplane's, for the name).
    pub fn of(r: &SnatRule, ports: &[PortConf]) -> Self {
        let name = |p: u16| ports.get(usize::from(p)).map_or_else(|| p.to_string(), |c| c.name.clone());
        SnatRuleSpec {
            source: format!("{}/{}", r.source, r.prefix_len),
            protocol: r.protocol.map(|p| match p {
                protocol::TCP => "tcp".to_owned(),
                protocol::UDP => "udp".to_owned(),
                _ => "icmp".to_owned(),
            }),
            out_port: r.out_port.map(name),
            pool: r.pool.iter().map(ToString::to_string).collect(),
            ports: (r.ports != LocalPorts::default()).then(|| format!("{}-{}", r.ports.lo, r.ports.hi)),
            mapping: (r.mapping != SnatMapping::default()).then(|| r.mapping.name().to_owned()),
            filtering: (r.filtering != SnatFiltering::default()).then(|| r.filtering.name().to_owned()),
        }
    }
}

/// What tells two rules apart: the packets they match.
fn same_match(a: &SnatRule, b: &SnatRule) -> bool {
    (a.source, a.prefix_len, a.protocol, a.out_port) == (b.source, b.prefix_len, b.protocol, b.out_port)
}

/// The rules of `[[snat]]`, ids in file order.
pub fn rules_of(specs: &[SnatRuleSpec], ports: &[PortConf]) -> Result<Vec<SnatRule>, (usize, OpError)> {
    let mut rules: Vec<SnatRule> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        if i >= MAX_SNAT_RULES {
            return Err((i, bad("snat", format!("at most {MAX_SNAT_RULES} rules"))));
        }
        let r = s.rule(i as u16, ports).map_err(|e| (i, e))?;
        if rules.iter().any(|o| same_match(o, &r)) {
            return Err((i, bad("snat", format!("{} is given twice", r.name()))));
        }
        rules.push(r);
    }
    Ok(rules)
}

impl LiveConfig {
    /// `--add-snat`: appends a rule (after the others: the first that matches wins). One that
    /// matches what another does is refused.
    pub fn add_snat(&mut self, spec: &SnatRuleSpec) -> Result<(), OpError> {
        if self.snat.len() >= MAX_SNAT_RULES {
            return Err(OpError::Full("SNAT rules"));
        }
        // The next id after the last given, so a deleted rule's counters are not a new one's.
        let id = (1..=MAX_SNAT_RULES as u16)
            .map(|k| (self.snat_next_id + k) % MAX_SNAT_RULES as u16)
            .find(|id| !self.snat.iter().any(|r| r.id == *id))
            .ok_or(OpError::Full("SNAT rules"))?;
        let rule = spec.rule(id, &self.ports)?;
        if self.snat.iter().any(|o| same_match(o, &rule)) {
            return Err(bad("snat", format!("{} exists", rule.name())));
        }
        self.snat.push(rule);
        self.snat_next_id = id;
        Ok(())
    }

    /// `--del-snat`: removes the rule that matches what `spec` matches (its pool and
    /// behaviours need not be given). Its connections run on to their end.
    pub fn del_snat(&mut self, spec: &SnatRuleSpec) -> Result<(), OpError> {
        let probe =
            SnatRuleSpec { pool: vec!["0.0.0.1".into()], ports: None, mapping: None, filtering: None, ..spec.clone() };
        let rule = probe.rule(0, &self.ports)?;
        let at = self
            .snat
            .iter()
            .position(|o| same_match(o, &rule))
            .ok_or_else(|| bad("snat", format!("no rule {}", rule.name())))?;
        self.snat.remove(at);
        Ok(())
    }

    /// The rules in order, as specs.
    pub fn snat_specs(&self) -> Vec<SnatRuleSpec> {
        self.snat.iter().map(|r| SnatRuleSpec::of(r, &self.ports)).collect()
    }

    /// Every SNAT pool address (answered for like a VIP; held by keepalived under VRRP).
    pub fn snat_pools(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.snat.iter().flat_map(|r| r.pool.iter().map(|&a| IpAddr::V4(a)))
    }
}

/// The rules of `st` with the workers' figures summed.
pub fn reports(st: &LiveConfig, workers: &[crate::worker::WorkerReport]) -> Vec<SnatReport> {
    st.snat
        .iter()
        .map(|r| {
            let mut s = rvs_core::pipeline::Stats::default();
            for w in workers {
                if let Some(x) = w.svc_stats.get(usize::from(r.svc_id())) {
                    s.add(x);
                }
            }
            let pool = r
                .pool
                .iter()
                .map(|&a| {
                    let rows = workers.iter().flat_map(|w| w.laddrs.iter()).filter(|x| x.0 == IpAddr::V4(a));
                    let (n, x) = rows.fold((0u64, 0u64), |(n, x), row| (n + u64::from(row.1), x + row.2));
                    SnatPoolReport { address: a.to_string(), ports_in_use: n, exhausted: x }
                })
                .collect();
            SnatReport {
                rule: SnatRuleSpec::of(r, &st.ports),
                conns: s.conns,
                pkts_out: s.pkts_in,
                pkts_in: s.pkts_out,
                bytes_out: s.bytes_in,
                bytes_in: s.bytes_out,
                pool,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn state() -> LiveConfig {
        let text = "[[port]]\nname = \"out\"\ndevice = \"net_null0\"\naddress = \"198.18.0.1/24\"\n\
            [[port]]\nname = \"in\"\ndevice = \"net_null1\"\naddress = \"10.1.0.1/24\"\n";
        LiveConfig::from_config(&Config::parse("t.toml", text).unwrap(), vec![])
    }

    fn spec(source: &str) -> SnatRuleSpec {
        SnatRuleSpec {
            source: source.into(),
            protocol: None,
            out_port: Some("out".into()),
            pool: vec!["198.18.0.50".into()],
            ports: None,
            mapping: None,
            filtering: None,
        }
    }

    #[test]
    fn rules_are_added_checked_listed_and_deleted() {
        let mut s = state();
        s.add_snat(&spec("10.1.0.0/24")).unwrap();
        assert!(s.snapshot().is_ok());
        assert_eq!(s.snat_specs(), vec![spec("10.1.0.0/24")], "defaults are not spelled out");
        let err = |r: Result<(), OpError>| r.unwrap_err().to_string();
        assert!(err(s.clone().add_snat(&spec("10.1.0.0/24"))).contains("exists"));
        assert!(err(s.clone().add_snat(&SnatRuleSpec { out_port: Some("x".into()), ..spec("10.2.0.0/24") }))
            .contains("no such port (out, in)"));
        assert!(err(s.clone().add_snat(&spec("2001:db8::/64"))).contains("not an IPv4 address"));
        assert!(err(s.clone().add_snat(&SnatRuleSpec { protocol: Some("sctp".into()), ..spec("10.2.0.0/24") }))
            .contains("tcp, udp or icmp"));
        let eif = SnatRuleSpec {
            filtering: Some("endpoint-independent".into()),
            mapping: Some("address-and-port-dependent".into()),
            ..spec("10.3.0.0/24")
        };
        assert!(err(s.clone().add_snat(&eif)).contains("needs endpoint-independent mapping"));
        // A second rule's pool may not be the first's: the snapshot refuses it, nothing changes.
        let mut next = s.clone();
        next.add_snat(&spec("10.4.0.0/24")).unwrap();
        assert!(next.snapshot().unwrap_err().to_string().contains("another rule's"));
        assert!(err(s.del_snat(&spec("10.9.0.0/24"))).contains("no rule"));
        s.del_snat(&SnatRuleSpec { pool: vec![], ..spec("10.1.0.0/24") }).unwrap();
        assert!(s.snat.is_empty());
        // Ids move on: a new rule does not take the deleted one's counters.
        s.add_snat(&spec("10.1.0.0/24")).unwrap();
        assert_eq!(s.snat[0].id, 2);
    }

    #[test]
    fn rvs_toml_takes_snat_sections_and_names_a_bad_one() {
        let ports = "[[port]]\nname = \"out\"\ndevice = \"net_null0\"\naddress = \"198.18.0.1/24\"\n";
        let good = format!("{ports}[[snat]]\nsource = \"10.1.0.0/24\"\npool = [\"198.18.0.50\"]\nprotocol = \"tcp\"\nmapping = \"address-and-port-dependent\"\n");
        let c = Config::parse("t.toml", &good).unwrap();
        assert_eq!(c.snat.len(), 1);
        assert_eq!((c.snat[0].id, c.snat[0].mapping), (0, SnatMapping::AddressAndPortDependent));
        assert_eq!(LiveConfig::from_config(&c, vec![]).snat_specs()[0].source, "10.1.0.0/24");
        let bad = format!("{ports}[[snat]]\nsource = \"10.1.0.0/24\"\npool = [\"198.18.0.1\"]\n");
        let e = Config::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(e.contains("director's own"), "{e}");
        let bad = format!("{ports}[[snat]]\nsource = \"10.1.0.0/24\"\npool = [\"x\"]\n");
        let e = Config::parse("t.toml", &bad).unwrap_err().to_string();
        assert!(e.contains("snat[0]") && e.contains("not an IPv4 address"), "{e}");
        let bad = format!("{ports}[[snat]]\nsource = \"10.1.0.0/24\"\npool = [\"198.18.0.9\"]\nflavour = 1\n");
        assert!(Config::parse("t.toml", &bad).is_err(), "unknown keys refused");
    }
}
