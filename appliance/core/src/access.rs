//! Allow and deny lists: which clients may open connections, for the whole director and per
//! service. A new connection's client is looked up once (the global lists, then its
//! service's); established packets never are. A denied client's connection is refused
//! (`access_denied`); where an allow list is given, a client it does not cover is refused too
//! (`access_not_allowed`). With `blackhole`, the global deny list drops every packet from a
//! listed source before any table is read: an attack in progress costs one look-up a packet.

use crate::family::AddrKey;
use crate::prefix_set::PrefixSet;
use crate::verdict::DropReason;
use std::net::IpAddr;
use std::sync::Arc;

/// One list: prefixes of both families, as given (for live edits) and as looked up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessList {
    /// The prefixes, sorted, each once.
    pub prefixes: Vec<(IpAddr, u8)>,
    /// IPv4 prefixes, for look-ups.
    pub v4: PrefixSet<u32>,
    /// IPv6 prefixes, for look-ups.
    pub v6: PrefixSet<u128>,
}

impl AccessList {
    /// The list of `prefixes` (address, length).
    pub fn new(prefixes: &[(IpAddr, u8)]) -> Self {
        let mut given = prefixes.to_vec();
        given.sort_unstable();
        given.dedup();
        let v4 = given.iter().filter_map(|&(a, l)| u32::of_ip(a).map(|a| (a, l)));
        let v6 = given.iter().filter_map(|&(a, l)| u128::of_ip(a).map(|a| (a, l)));
        let (v4, v6) = (PrefixSet::new(v4), PrefixSet::new(v6));
        AccessList { prefixes: given, v4, v6 }
    }

    /// True when the list covers `a`.
    #[inline]
    pub fn contains<K: AddrKey>(&self, a: K) -> bool {
        if K::BITS == 32 {
            self.v4.contains(a.into() as u32)
        } else {
            self.v6.contains(a.into())
        }
    }

    /// Prefixes in the list.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True for a list of no prefix.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A service's limits per client prefix: concurrent connections and new connections a second,
/// counted per worker (exact where the service's clients are steered to one worker: NAT,
/// persistence; otherwise a client may hold up to the limit on each worker). 0: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientLimit {
    /// Most connections a client prefix holds at once.
    pub max_conns: u32,
    /// Most new connections a client prefix opens a second.
    pub rate: u32,
    /// The prefix an IPv4 client is counted by (32: each address).
    pub prefix4: u8,
    /// The prefix an IPv6 client is counted by (64 by default).
    pub prefix6: u8,
    /// Over the limit a TCP SYN gets a RST (else it is dropped).
    pub reset: bool,
}

impl ClientLimit {
    /// True when a limit is set.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.max_conns > 0 || self.rate > 0
    }

    /// The network `src` is counted by.
    #[inline]
    pub fn network<K: AddrKey>(&self, src: K) -> K {
        src.masked(if K::BITS == 32 { self.prefix4 } else { self.prefix6 })
    }
}

/// The lists of one scope (the director, or a service), and a service's per-client limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Only these clients (when given).
    pub allow: Option<Arc<AccessList>>,
    /// Never these clients.
    pub deny: Option<Arc<AccessList>>,
    /// Per client prefix (a service's only).
    pub limit: ClientLimit,
}

impl Access {
    /// True when the scope has a list or a limit.
    pub fn is_set(&self) -> bool {
        self.allow.is_some() || self.deny.is_some() || self.limit.is_set()
    }

    /// Whether a client `src` may open a connection in this scope: the reason it may not.
    #[inline]
    pub fn refuses<K: AddrKey>(&self, src: K) -> Option<DropReason> {
        if self.deny.as_ref().is_some_and(|d| d.contains(src)) {
            return Some(DropReason::AccessDenied);
        }
        if self.allow.as_ref().is_some_and(|a| !a.contains(src)) {
            return Some(DropReason::AccessNotAllowed);
        }
        None
    }
}

/// Parses a prefix as lists give them: `ADDR/LEN`, or a bare address (a host).
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.trim().parse().map_err(|_| format!("{s:?}: {a:?} is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("{s:?}: {l:?} is not a prefix length 0..={max}"))?,
    };
    Ok((addr, len))
}

/// Reads a list file's text: one prefix a line; blank lines and `#` comments skipped (also
/// after a prefix). The error names the line.
pub fn parse_list(text: &str) -> Result<Vec<(IpAddr, u8)>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_prefix(line).map_err(|e| (i + 1, e))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_an_allow_list_admits_only_its_own() {
        let list = |p: &[&str]| {
            Some(Arc::new(AccessList::new(&p.iter().map(|s| parse_prefix(s).unwrap()).collect::<Vec<_>>())))
        };
        let a =
            Access { allow: list(&["10.0.0.0/8", "2001:db8::/32"]), deny: list(&["10.6.6.0/24"]), ..Access::default() };
        let v4 = |s: &str| u32::from(s.parse::<std::net::Ipv4Addr>().unwrap());
        assert_eq!(a.refuses(v4("10.1.2.3")), None);
        assert_eq!(a.refuses(v4("10.6.6.6")), Some(DropReason::AccessDenied));
        assert_eq!(a.refuses(v4("192.0.2.1")), Some(DropReason::AccessNotAllowed));
        assert_eq!(a.refuses(u128::from("2001:db8::5".parse::<std::net::Ipv6Addr>().unwrap())), None);
        assert!(!Access::default().is_set());
        assert_eq!(Access::default().refuses(v4("1.2.3.4")), None);
    }

    #[test]
    fn list_files_read_as_operators_write_them() {
        let text = "# threats\n192.0.2.0/24\n\n198.51.100.7   # one host\n2001:db8:bad::/48\n";
        let l = parse_list(text).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[1], ("198.51.100.7".parse().unwrap(), 32));
        let e = parse_list("10.0.0.0/8\n10.0.0.0/33\n").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(e.1.contains("prefix length 0..=32"), "{}", e.1);
        assert!(parse_prefix("nope").unwrap_err().contains("not an IPv4 or IPv6 address"));
    }
}
