//! Which addresses a snapshot answers for and serves: the VIPs (all, or under VRRP those
//! keepalived holds here), FULLNAT's local addresses (the services', those draining after
//! their deletion) and SNAT's pools, and the rules that keep local addresses apart from VIPs.

use super::{FamilyIndex, Snapshot};
use crate::family::AddrKey;
use crate::service::{ConfigError, Service};
use std::net::IpAddr;

impl Snapshot {
    /// FULLNAT's local addresses: at most [`crate::conn::MAX_LOCAL_ADDRS`] of a family, and
    /// none a VIP (a client's packet to it would be taken for a service's).
    pub(super) fn check_laddrs_apart(services: &[Service]) -> Result<(), ConfigError> {
        let mut all: Vec<IpAddr> = services.iter().flat_map(|s| s.laddrs.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        for s in services.iter().filter(|s| !s.laddrs.is_empty()) {
            if let Some(a) = s.laddrs.iter().find(|a| services.iter().any(|o| !o.is_fwmark() && o.vip == **a)) {
                let msg = format!("local address {a} is a VIP");
                return Err(ConfigError::BadLocalAddr { svc: s.name(), msg });
            }
            // A NAT64 local address's ports are held in IPv6's tables, an IPv4 service's in
            // IPv4's: one address in both could give two connections one 5-tuple.
            let nat64 = |o: &Service| o.vip.is_ipv6();
            if let Some(a) = s
                .laddrs
                .iter()
                .filter(|a| a.is_ipv4())
                .find(|a| services.iter().any(|o| nat64(o) != nat64(s) && o.laddrs.contains(a)))
            {
                let msg = format!("local address {a} serves both an IPv4 service and an IPv6 (NAT64) one");
                return Err(ConfigError::BadLocalAddr { svc: s.name(), msg });
            }
            let family = all.iter().filter(|a| a.is_ipv4() == s.vip.is_ipv4()).count();
            if family > crate::conn::MAX_LOCAL_ADDRS {
                let msg = format!("{family} local addresses of its family; at most {}", crate::conn::MAX_LOCAL_ADDRS);
                return Err(ConfigError::BadLocalAddr { svc: s.name(), msg });
            }
        }
        Ok(())
    }

    /// FULLNAT local addresses deleted from their services whose connections still drain: still
    /// answered for by ARP and NDP (and held like VIPs under VRRP). Call before
    /// [`Snapshot::with_held_vips`].
    pub fn with_draining_laddrs(mut self, draining: Vec<IpAddr>) -> Self {
        self.draining_laddrs = draining;
        self.with_held_vips(None)
    }

    /// Serves only the VIPs in `held` (VRRP: those keepalived put on an exception interface);
    /// `None` serves every VIP. A VIP not held is not answered by ARP, NDP or ICMP and gets no
    /// new connection; connections already made keep flowing, and sync records still install.
    pub fn with_held_vips(mut self, held: Option<&[IpAddr]>) -> Self {
        fn served<K: AddrKey>(services: &[Service], ix: &FamilyIndex<K>, held: Option<&[IpAddr]>) -> Vec<K> {
            let mut all: Vec<K> = services.iter().filter(|s| !s.is_fwmark()).filter_map(|s| K::of_ip(s.vip)).collect();
            // A classifier rule's single address is a VIP of its mark's service.
            let hosts =
                ix.mark_rules.iter().filter(|r| r.prefix_len == K::BITS && ix.mark_service_pos(r.mark).is_some());
            all.extend(hosts.map(|r| r.net));
            all.sort_unstable();
            all.dedup();
            match held {
                None => all,
                Some(h) => all.into_iter().filter(|v| h.contains(&(*v).addr().into())).collect(),
            }
        }
        fn laddrs<K: AddrKey>(snap: &Snapshot, held: Option<&[IpAddr]>) -> Vec<K> {
            // FULLNAT's local addresses, those draining, and SNAT's pools: their replies'
            // owner is their destination port's core.
            let pools = snap.snat.iter().flat_map(|r| r.pool.iter().map(|&a| IpAddr::V4(a)));
            let all = snap
                .services
                .iter()
                .flat_map(|s| s.laddrs.iter().copied())
                .chain(snap.draining_laddrs.iter().copied())
                .chain(pools);
            let mut mine: Vec<K> = all.filter(|a| held.is_none_or(|h| h.contains(a))).filter_map(K::of_ip).collect();
            mine.sort_unstable();
            mine.dedup();
            mine
        }
        self.serves_all = held.is_none();
        self.v4.vips = served(&self.services, &self.v4, held);
        self.v6.vips = served(&self.services, &self.v6, held);
        self.v4.laddrs = laddrs(&self, held);
        self.v6.laddrs = laddrs(&self, held);
        self
    }
}
