//! SNAT (DPVS's SNAT mode): hosts behind rvs reach the outside from a pool of public
//! addresses. A rule matches an outbound packet by its source prefix, protocol and egress port;
//! its connection is a FULLNAT connection whose "real server" is the packet's own destination
//! and whose local end is a pool address and port, so replies, ICMP errors, timeouts and the
//! per-worker port shares are FULLNAT's. IPv4 only (IPv6 has no NAT by design, RFC 4864 §4).
//!
//! The behaviours RFC 4787 (UDP, ICMP) and RFC 5382 (TCP) name are chosen per rule:
//! - mapping: **endpoint-independent** (REQ-1 of both: one host's address and port keep one
//!   public address and port towards every destination while any of its connections lives) or
//!   **address-and-port-dependent** (a port per connection, as FULLNAT takes them).
//! - filtering: **address-and-port-dependent** (only replies of a connection come in: nothing
//!   outside can open one inward) or **endpoint-independent** (once a host has a mapping, any
//!   outside host may reach it through that public address and port; needs endpoint-independent
//!   mapping). Address-dependent filtering is not offered.
//!
//! Idle timeouts are IPVS's (a TCP connection's state's, UDP's for UDP and ICMP echo).

use crate::service::{ConfigError, LocalPorts, MAX_SERVICES};
use crate::wire::ipv4::protocol;
use std::net::Ipv4Addr;

/// Most SNAT rules a snapshot holds.
pub const MAX_SNAT_RULES: usize = 64;

/// The service ids SNAT connections count under: rule `id`'s is `SNAT_SVC_BASE + id` (its
/// traffic is kept as a service's is); services take ids below it.
pub const SNAT_SVC_BASE: u16 = (MAX_SERVICES - MAX_SNAT_RULES) as u16;

/// How a rule maps an inside host's address and port to a public one (RFC 4787 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnatMapping {
    /// One public address and port per inside address and port, towards every destination.
    #[default]
    EndpointIndependent,
    /// A public port per connection.
    AddressAndPortDependent,
}

/// What a rule lets in from outside (RFC 4787 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnatFiltering {
    /// Only packets of a connection an inside host opened.
    #[default]
    AddressAndPortDependent,
    /// Anything to a live mapping's public address and port (a new connection to its host).
    EndpointIndependent,
}

impl SnatMapping {
    /// RFC 4787's name.
    pub fn name(self) -> &'static str {
        match self {
            SnatMapping::EndpointIndependent => "endpoint-independent",
            SnatMapping::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

impl SnatFiltering {
    /// RFC 4787's name.
    pub fn name(self) -> &'static str {
        match self {
            SnatFiltering::AddressAndPortDependent => "address-and-port-dependent",
            SnatFiltering::EndpointIndependent => "endpoint-independent",
        }
    }
}

impl std::str::FromStr for SnatMapping {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "endpoint-independent" | "eim" => Ok(SnatMapping::EndpointIndependent),
            "address-and-port-dependent" | "apdm" => Ok(SnatMapping::AddressAndPortDependent),
            _ => Err(format!("{s:?}: expected endpoint-independent or address-and-port-dependent")),
        }
    }
}

impl std::str::FromStr for SnatFiltering {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "endpoint-independent" | "eif" => Ok(SnatFiltering::EndpointIndependent),
            "address-and-port-dependent" | "apdf" => Ok(SnatFiltering::AddressAndPortDependent),
            _ => Err(format!("{s:?}: expected endpoint-independent or address-and-port-dependent")),
        }
    }
}

/// One SNAT rule: what it matches and the pool it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnatRule {
    /// The rule's id (below [`MAX_SNAT_RULES`]): its connections count under service id
    /// `SNAT_SVC_BASE + id`.
    pub id: u16,
    /// Inside hosts: the source prefix matched.
    pub source: Ipv4Addr,
    /// The prefix's length.
    pub prefix_len: u8,
    /// The IP protocol matched (TCP, UDP or ICMP); `None`: all three.
    pub protocol: Option<u8>,
    /// The egress port (index) the destination is routed out of; `None`: any.
    pub out_port: Option<u16>,
    /// Public addresses, taken in turn (answered for by ARP as VIPs are).
    pub pool: Vec<Ipv4Addr>,
    /// Public ports.
    pub ports: LocalPorts,
    /// Mapping behaviour.
    pub mapping: SnatMapping,
    /// Filtering behaviour.
    pub filtering: SnatFiltering,
}

impl SnatRule {
    /// The service id its connections count under.
    pub fn svc_id(&self) -> u16 {
        SNAT_SVC_BASE + self.id
    }

    /// `10.1.0.0/16 tcp` style name for messages and listings.
    pub fn name(&self) -> String {
        let proto = match self.protocol {
            Some(protocol::TCP) => " tcp",
            Some(protocol::UDP) => " udp",
            Some(protocol::ICMP) => " icmp",
            _ => "",
        };
        format!("snat {}/{}{proto}", self.source, self.prefix_len)
    }

    /// True when an outbound packet of `proto` from `src` routed out of `port` is this rule's.
    #[inline]
    pub fn matches(&self, proto: u8, src: u32, port: u16) -> bool {
        let mask = crate::service::prefix_mask(self.prefix_len);
        src & mask == u32::from(self.source) & mask
            && self.protocol.is_none_or(|p| p == proto)
            && self.out_port.is_none_or(|p| p == port)
    }

    /// What is wrong with the rule, if anything.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::BadSnat { rule: self.name(), msg });
        if usize::from(self.id) >= MAX_SNAT_RULES {
            return bad(format!("id {}: at most {MAX_SNAT_RULES} rules", self.id));
        }
        if self.prefix_len > 32 {
            return bad(format!("prefix /{} is longer than an IPv4 address", self.prefix_len));
        }
        if let Some(p) = self.protocol.filter(|p| ![protocol::TCP, protocol::UDP, protocol::ICMP].contains(p)) {
            return bad(format!("protocol {p}: SNAT takes tcp, udp and icmp"));
        }
        if self.pool.is_empty() {
            return bad("an empty pool: give at least one public address".into());
        }
        if let Some((i, a)) = self.pool.iter().enumerate().find(|(i, a)| self.pool[..*i].contains(a)) {
            return bad(format!("pool address {a} listed twice (at {i})"));
        }
        if self.ports.lo == 0 || self.ports.lo > self.ports.hi {
            return bad(format!(
                "ports {}-{}: the range must be ordered and start above 0",
                self.ports.lo, self.ports.hi
            ));
        }
        if self.filtering == SnatFiltering::EndpointIndependent && self.mapping != SnatMapping::EndpointIndependent {
            return bad(
                "endpoint-independent filtering needs endpoint-independent mapping (a mapping to let in)".into()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> SnatRule {
        SnatRule {
            id: 0,
            source: Ipv4Addr::new(10, 1, 0, 0),
            prefix_len: 16,
            protocol: None,
            out_port: Some(0),
            pool: vec![Ipv4Addr::new(198, 18, 0, 50)],
            ports: LocalPorts::default(),
            mapping: SnatMapping::default(),
            filtering: SnatFiltering::default(),
        }
    }

    #[test]
    fn a_rule_matches_its_prefix_protocol_and_port() {
        let r = rule();
        let h = u32::from(Ipv4Addr::new(10, 1, 2, 3));
        assert!(r.matches(protocol::TCP, h, 0) && r.matches(protocol::ICMP, h, 0));
        assert!(!r.matches(protocol::TCP, h, 1), "another egress port");
        assert!(!r.matches(protocol::TCP, u32::from(Ipv4Addr::new(10, 2, 0, 1)), 0), "outside the prefix");
        let tcp = SnatRule { protocol: Some(protocol::TCP), ..rule() };
        assert!(!tcp.matches(protocol::UDP, h, 0));
        assert!(rule().check().is_ok());
    }

    #[test]
    fn bad_rules_are_refused_naming_what_is_wrong() {
        let msg = |r: SnatRule| match r.check() {
            Err(ConfigError::BadSnat { msg, .. }) => msg,
            other => panic!("{other:?}"),
        };
        assert!(msg(SnatRule { pool: vec![], ..rule() }).contains("empty pool"));
        assert!(msg(SnatRule { prefix_len: 33, ..rule() }).contains("longer"));
        assert!(msg(SnatRule { protocol: Some(132), ..rule() }).contains("tcp, udp and icmp"));
        let eif = SnatRule {
            mapping: SnatMapping::AddressAndPortDependent,
            filtering: SnatFiltering::EndpointIndependent,
            ..rule()
        };
        assert!(msg(eif).contains("needs endpoint-independent mapping"));
        assert_eq!("eim".parse::<SnatMapping>(), Ok(SnatMapping::EndpointIndependent));
        assert!("adf".parse::<SnatFiltering>().unwrap_err().contains("expected"));
    }
}
