//! The firewall-mark classifier's rules live ([`rvs_core::fwmark`]): `rvsadm --add-mark-rule`,
//! `--del-mark-rule` and `-L --mark-rules`. They stand apart from the services, as netfilter's
//! marks stand apart from IPVS's table: `-C` leaves them, a reload takes the file's.

use super::live_config::{LiveConfig, OpError};
use rvs_core::fwmark::{parse_ports, parse_prefix, MarkRule};
use serde::{Deserialize, Serialize};

/// A rule as requests and listings carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRuleSpec {
    /// The mark.
    pub mark: u32,
    /// `tcp` or `udp`; absent: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Destination: an address or a prefix (`198.18.0.100`, `198.18.0.0/24`, `2001:db8::/64`).
    pub destination: String,
    /// Destination ports: `80`, `8000-8099`, or a comma-separated list; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
}

impl MarkRuleSpec {
    /// The rules it stands for, one per port range, checked.
    pub fn rules(&self) -> Result<Vec<MarkRule>, OpError> {
        let bad = |field: &'static str, msg: String| OpError::Invalid { field, msg };
        let protocol = match &self.protocol {
            None => None,
            Some(p) => Some(p.parse().map_err(|e: rvs_core::service::UnknownName| bad("protocol", e.to_string()))?),
        };
        let (dst, prefix_len) = parse_prefix(&self.destination).map_err(|e| bad("destination", e))?;
        let ranges = match &self.ports {
            None => vec![(1, u16::MAX)],
            Some(p) => parse_ports(p).map_err(|e| bad("ports", e))?,
        };
        let rules: Vec<MarkRule> =
            ranges.into_iter().map(|ports| MarkRule { mark: self.mark, protocol, dst, prefix_len, ports }).collect();
        for r in &rules {
            r.check().map_err(|e| bad("mark-rule", e))?;
        }
        Ok(rules)
    }

    /// The spec of one rule, as listings show it.
    pub fn of(r: &MarkRule) -> Self {
        let (lo, hi) = r.ports;
        MarkRuleSpec {
            mark: r.mark,
            protocol: r.protocol.map(|p| p.as_str().to_owned()),
            destination: format!("{}/{}", r.dst, r.prefix_len),
            ports: ((lo, hi) != (1, u16::MAX)).then(|| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }),
        }
    }
}

impl LiveConfig {
    /// `--add-mark-rule`: appends the rules (after the others: first match wins); one already
    /// there is refused.
    pub fn add_mark_rule(&mut self, spec: &MarkRuleSpec) -> Result<(), OpError> {
        let rules = spec.rules()?;
        if let Some(r) = rules.iter().find(|r| self.mark_rules.contains(r)) {
            return Err(OpError::Invalid { field: "mark-rule", msg: format!("{} exists", r.describe()) });
        }
        self.mark_rules.extend(rules);
        Ok(())
    }

    /// `--del-mark-rule`: removes the rules; all must exist, or nothing changes.
    pub fn del_mark_rule(&mut self, spec: &MarkRuleSpec) -> Result<(), OpError> {
        let rules = spec.rules()?;
        if let Some(r) = rules.iter().find(|r| !self.mark_rules.contains(r)) {
            return Err(OpError::Invalid { field: "mark-rule", msg: format!("no rule {}", r.describe()) });
        }
        self.mark_rules.retain(|r| !rules.contains(r));
        Ok(())
    }

    /// `-L --mark-rules`: the rules in order.
    pub fn mark_rule_specs(&self) -> Vec<MarkRuleSpec> {
        self.mark_rules.iter().map(MarkRuleSpec::of).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn state() -> LiveConfig {
        let text = "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n";
        LiveConfig::from_config(&Config::parse("t.toml", text).unwrap(), vec![])
    }

    fn spec(ports: Option<&str>) -> MarkRuleSpec {
        MarkRuleSpec {
            mark: 1,
            protocol: Some("tcp".into()),
            destination: "10.0.0.100".into(),
            ports: ports.map(Into::into),
        }
    }

    #[test]
    fn rules_are_added_in_order_listed_and_deleted_whole() {
        let mut s = state();
        s.add_mark_rule(&spec(Some("80,443"))).unwrap();
        let listed = s.mark_rule_specs();
        assert_eq!(listed.len(), 2, "one rule per range");
        assert_eq!(listed[0].destination, "10.0.0.100/32");
        assert_eq!(listed[1].ports.as_deref(), Some("443"));
        assert!(s.add_mark_rule(&spec(Some("443"))).unwrap_err().to_string().contains("exists"));
        assert!(s.del_mark_rule(&spec(Some("443,8080"))).is_err(), "8080 is not there");
        assert_eq!(s.mark_rules.len(), 2, "nothing changed");
        s.del_mark_rule(&spec(Some("443"))).unwrap();
        assert_eq!(s.mark_rule_specs(), vec![spec(Some("80")).rules().map(|r| MarkRuleSpec::of(&r[0])).unwrap()]);
    }

    #[test]
    fn a_bad_rule_is_refused_with_its_field() {
        let mut s = state();
        for (sp, field) in [
            (MarkRuleSpec { mark: 0, ..spec(None) }, "mark-rule"),
            (MarkRuleSpec { protocol: Some("icmp".into()), ..spec(None) }, "protocol"),
            (MarkRuleSpec { destination: "10.0.0.1/33".into(), ..spec(None) }, "destination"),
            (spec(Some("90-80")), "ports"),
        ] {
            match s.add_mark_rule(&sp) {
                Err(OpError::Invalid { field: f, .. }) => assert_eq!(f, field, "{sp:?}"),
                other => panic!("{sp:?}: {other:?}"),
            }
        }
        assert!(s.mark_rules.is_empty());
    }
}
