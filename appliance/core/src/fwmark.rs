//! Firewall-mark services (`ipvsadm -f MARK`, IPVS's `IP_VS_SVC_F_FWMARK` lookup). IPVS serves
//! every packet netfilter marked with a service's mark by that one service, whatever its VIP
//! and port: several VIPs and ports share a scheduler and, with persistence, one template per
//! client network, so a client's HTTP and HTTPS connections land on the same real server (the
//! classic sticky set-up, LVS HOWTO §"fwmark").
//!
//! rvs has no netfilter, so marks come from its own classifier: [`MarkRule`]s (protocol,
//! destination prefix, destination port range -> mark), first match wins, evaluated only for a
//! packet that found no connection (a new connection's first packet); established packets never
//! pay for them. As in IPVS, a mark whose service exists wins over a (protocol, VIP, port)
//! service for the same packet (`ip_vs_service_find` looks the mark up first).
//!
//! A rule's destination that is one address (`/32`, `/128`) is a VIP of the mark's service:
//! answered for by ARP/NDP and held by VRRP like any VIP. A wider prefix is served but not
//! answered for: it must be routed to the director (a static route or ECMP).

use crate::service::Protocol;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One classifier rule: packets matching it carry `mark`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarkRule {
    /// The mark given (1..=u32::MAX, as `ipvsadm -f`).
    pub mark: u32,
    /// Only this transport protocol; `None`: TCP and UDP.
    pub protocol: Option<Protocol>,
    /// Destination network (either family).
    pub dst: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Destination ports, inclusive (`(1, 65535)`: all).
    pub ports: (u16, u16),
}

impl MarkRule {
    /// A rule for every port of one protocol (or both) to `dst/prefix_len`.
    pub fn new(mark: u32, protocol: Option<Protocol>, dst: IpAddr, prefix_len: u8, ports: (u16, u16)) -> Self {
        MarkRule { mark, protocol, dst, prefix_len, ports }
    }

    /// Why the rule cannot be used, if it cannot: mark 0, a prefix longer than the address,
    /// host bits set, an empty or port-0 range.
    pub fn check(&self) -> Result<(), String> {
        if self.mark == 0 {
            return Err("mark 0 marks nothing (1 ..= 4294967295)".into());
        }
        let bits = if self.dst.is_ipv4() { 32 } else { 128 };
        if self.prefix_len > bits {
            return Err(format!("/{} is longer than the address", self.prefix_len));
        }
        if masked(self.dst, self.prefix_len) != self.dst {
            return Err(format!("{}/{} has host bits set", self.dst, self.prefix_len));
        }
        let (lo, hi) = self.ports;
        if lo == 0 || lo > hi {
            return Err(format!("ports {lo}-{hi}: expected a range within 1-65535"));
        }
        Ok(())
    }

    /// True when the rule's destination is one address: a VIP.
    pub fn is_host(&self) -> bool {
        self.prefix_len == if self.dst.is_ipv4() { 32 } else { 128 }
    }

    /// `tcp 198.18.0.100/32 ports 80-80 mark 1` style, as listings and messages show it.
    pub fn describe(&self) -> String {
        let proto = self.protocol.map_or("all", Protocol::as_str);
        let (lo, hi) = self.ports;
        format!("{proto} {}/{} ports {lo}-{hi} mark {}", self.dst, self.prefix_len, self.mark)
    }
}

/// A destination as rules take it: `198.18.0.100` (one address), `198.18.0.0/24`,
/// `2001:db8::/64`.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| format!("{s:?}: {a:?} is not an IPv4 or IPv6 address"))?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let len = match p {
        None => bits,
        Some(p) => {
            p.parse::<u8>().ok().filter(|&l| l <= bits).ok_or_else(|| format!("{s:?}: /{p} is not 0..={bits}"))?
        }
    };
    Ok((addr, len))
}

/// Ports as rules take them: `80`, `8000-8099`, or a comma-separated list of those; each an
/// inclusive range.
pub fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let port = |p: &str| {
        p.trim().parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| format!("{p:?} is not a port 1..=65535"))
    };
    s.split(',')
        .map(|part| {
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (port(lo)?, port(hi)?),
                None => (port(part)?, port(part)?),
            };
            if lo > hi {
                return Err(format!("{part:?}: the range runs backwards"));
            }
            Ok((lo, hi))
        })
        .collect()
}

/// `a` with only its first `prefix_len` bits.
fn masked(a: IpAddr, prefix_len: u8) -> IpAddr {
    use crate::family::AddrKey;
    match a {
        IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(u32::from(v).masked(prefix_len))),
        IpAddr::V6(v) => IpAddr::V6(Ipv6Addr::from(u128::from(v).masked(prefix_len))),
    }
}

/// The address a persistence template of a firewall-mark service carries as its VIP, as IPVS
/// writes it (`union nf_inet_addr fwmark = { .ip = htonl(svc->fwmark) }`): the mark in the
/// first 32 bits, the rest zero.
pub fn mark_as_vaddr(mark: u32, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(u128::from(mark) << 96))
    } else {
        IpAddr::V4(Ipv4Addr::from(mark))
    }
}

/// One rule as a family's index evaluates it: addresses as keys, the protocol as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyMarkRule<K> {
    /// IP protocol number; 0: TCP and UDP.
    pub proto: u8,
    /// Destination network.
    pub net: K,
    /// Its prefix length.
    pub prefix_len: u8,
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
    /// The mark.
    pub mark: u32,
}

impl<K: crate::family::AddrKey> FamilyMarkRule<K> {
    /// The rule `r` if it is of family `K`.
    pub fn of(r: &MarkRule) -> Option<Self> {
        Some(FamilyMarkRule {
            proto: r.protocol.map_or(0, Protocol::number),
            net: K::of_ip(r.dst)?,
            prefix_len: r.prefix_len,
            lo: r.ports.0,
            hi: r.ports.1,
            mark: r.mark,
        })
    }

    /// True when a packet (`proto`, to `dst`:`port`) matches.
    #[inline]
    pub fn matches(&self, proto: u8, dst: K, port: u16) -> bool {
        (self.proto == 0 || self.proto == proto)
            && dst.masked(self.prefix_len) == self.net
            && (self.lo..=self.hi).contains(&port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_as_an_operator_writes_them() {
        let r = |m, a: &str, p, ports| MarkRule::new(m, Some(Protocol::Tcp), a.parse().unwrap(), p, ports);
        assert!(r(1, "198.18.0.100", 32, (80, 80)).check().is_ok());
        assert!(r(1, "198.18.0.0", 24, (1, 65535)).check().is_ok());
        assert!(r(0, "198.18.0.100", 32, (80, 80)).check().unwrap_err().contains("mark 0"));
        assert!(r(1, "198.18.0.100", 24, (80, 80)).check().unwrap_err().contains("host bits"));
        assert!(r(1, "198.18.0.100", 33, (80, 80)).check().unwrap_err().contains("longer"));
        assert!(r(1, "198.18.0.100", 32, (443, 80)).check().unwrap_err().contains("443-80"));
        assert!(r(1, "2001:db8::", 64, (80, 80)).check().is_ok());
        assert!(r(1, "2001:db8::", 64, (80, 80)).describe().contains("tcp 2001:db8::/64 ports 80-80 mark 1"));
    }

    #[test]
    fn a_family_rule_matches_its_protocol_network_and_ports() {
        let any = MarkRule::new(7, None, "198.18.0.0".parse().unwrap(), 24, (80, 443));
        let f = FamilyMarkRule::<u32>::of(&any).unwrap();
        let a = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert!(f.matches(6, a("198.18.0.100"), 80));
        assert!(f.matches(17, a("198.18.0.1"), 443), "no protocol: TCP and UDP");
        assert!(!f.matches(6, a("198.18.1.1"), 80), "outside the prefix");
        assert!(!f.matches(6, a("198.18.0.1"), 444), "outside the ports");
        assert!(FamilyMarkRule::<u128>::of(&any).is_none(), "another family");
        let tcp = FamilyMarkRule::<u32>::of(&MarkRule { protocol: Some(Protocol::Tcp), ..any }).unwrap();
        assert!(!tcp.matches(17, a("198.18.0.1"), 80));
    }

    #[test]
    fn prefixes_and_ports_parse_as_written() {
        assert_eq!(parse_prefix("198.18.0.100"), Ok(("198.18.0.100".parse().unwrap(), 32)));
        assert_eq!(parse_prefix("2001:db8::/64"), Ok(("2001:db8::".parse().unwrap(), 64)));
        assert!(parse_prefix("198.18.0.0/33").is_err());
        assert!(parse_prefix("host/24").is_err());
        assert_eq!(parse_ports("80,443,8000-8099"), Ok(vec![(80, 80), (443, 443), (8000, 8099)]));
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("90-80").unwrap_err().contains("backwards"));
        assert!(parse_ports("http").is_err());
    }

    #[test]
    fn a_template_names_its_mark_as_ipvs_does() {
        assert_eq!(mark_as_vaddr(1, false), "0.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(mark_as_vaddr(0x0102_0304, true), "102:304::".parse::<IpAddr>().unwrap());
    }
}
