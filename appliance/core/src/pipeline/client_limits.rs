//! Per-client limits ([`crate::access::ClientLimit`]): a service's most concurrent connections
//! and new connections a second per client prefix, counted per worker in a bounded table
//! (allocated on the control path when a service first has a limit). A new connection over
//! the limit is refused (`client_limit`, `client_rate`), a TCP one with a reset when the
//! service says so. When the table is full, prefixes with no connection make room; a client
//! that still finds none is not limited (the bound on memory wins).

use super::*;

/// Client prefixes a worker counts at most.
pub const CLIENT_TABLE: usize = 1 << 16;

/// A client prefix's connections on this worker, and this second's new ones.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ClientCount {
    conns: u32,
    sec: u32,
    new: u32,
    /// The prefix (its address: IPv4 in the low 32 bits) and the service, for listings.
    net: u128,
    v6: bool,
    svc: u16,
}

/// A client prefix as listings show it: its service id, network, and connections here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientUse {
    /// The service's id.
    pub svc: u16,
    /// The client network (masked to the service's prefix).
    pub net: std::net::IpAddr,
    /// Its connections on this worker.
    pub conns: u32,
}

/// The key of `src`'s prefix under `svc`'s limit.
#[inline]
fn key<K: AddrKey>(svc: &Service, src: K) -> u64 {
    svc.access.limit.network(src).template_key(svc.id)
}

impl PerCore {
    /// Allocates the counts when a service of `snap` has a limit (control path; kept).
    pub(super) fn provide_client_counts(&mut self, snap: &Snapshot) {
        if self.client_counts.is_none() && snap.services().iter().any(|s| s.access.limit.is_set()) {
            self.client_counts = Some(Box::new(FixedMap::new(CLIENT_TABLE, self.sched_seed ^ 0xc1)));
        }
    }

    /// A new connection of client `ip.src` to `svc`: refused when its prefix is at the
    /// service's limit (the frame turned into a reset when the service asks for one).
    #[cold]
    #[inline(never)]
    pub(super) fn client_over<K: IpPath, F: Frame>(
        &mut self,
        svc: &Service,
        frame: &mut F,
        ip: &Ip<K>,
        now: u32,
    ) -> Option<Verdict> {
        let limit = svc.access.limit;
        let c = self.client_counts.as_ref()?.get(key(svc, ip.src))?;
        let reason = if limit.max_conns > 0 && c.conns >= limit.max_conns {
            DropReason::ClientLimit
        } else if limit.rate > 0 && c.sec == now && c.new >= limit.rate {
            DropReason::ClientRate
        } else {
            return None;
        };
        if limit.reset && ip.proto == protocol::TCP && frame.len() >= ip.l4() + crate::wire::tcp::HEADER_LEN {
            frame.truncate(ip.end());
            crate::xmit::reset::reset_reply(frame, ip.l3(), ip.l4(), K::BITS == 128);
            self.counters.client_resets += 1;
            return Some(Verdict::Reply);
        }
        Some(Verdict::Drop(reason))
    }

    /// Client `src` opened a connection to `svc`: counted.
    #[cold]
    #[inline(never)]
    pub(super) fn client_counted<K: AddrKey>(&mut self, svc: &Service, src: K, now: u32) {
        let Some(t) = self.client_counts.as_mut() else { return };
        let k = key(svc, src);
        // A full table makes room from prefixes with no connection and no new one this second.
        let net = svc.access.limit.network(src);
        let fresh = ClientCount { net: net.into(), v6: K::BITS == 128, svc: svc.id, ..ClientCount::default() };
        if t.get(k).is_none() && !t.insert_evicting(k, fresh, 64, |c| c.conns == 0 && c.sec != now) {
            return; // still full: this client goes uncounted
        }
        if let Some(c) = t.get_mut(k) {
            c.conns += 1;
            if c.sec != now {
                (c.sec, c.new) = (now, 0);
            }
            c.new += 1;
        }
    }
}

/// The `n` client prefixes with the most connections on this worker (listings; control path).
pub(super) fn top_clients(counts: &Option<Box<FixedMap<ClientCount>>>, n: usize) -> Vec<ClientUse> {
    let Some(t) = counts.as_ref() else { return Vec::new() };
    let mut all: Vec<ClientUse> = t
        .iter()
        .filter(|(_, c)| c.conns > 0)
        .map(|(_, c)| ClientUse {
            svc: c.svc,
            net: if c.v6 {
                std::net::Ipv6Addr::from(c.net).into()
            } else {
                std::net::Ipv4Addr::from(c.net as u32).into()
            },
            conns: c.conns,
        })
        .collect();
    all.sort_unstable_by(|a, b| b.conns.cmp(&a.conns).then(a.net.cmp(&b.net)));
    all.truncate(n);
    all
}

/// Connection `c` is gone at `now`: its client's count drops; a prefix with none left leaves
/// the table unless it opened one this second (its rate still counts).
pub(super) fn client_release<K: AddrKey>(
    counts: &mut Option<Box<FixedMap<ClientCount>>>,
    snap: &Snapshot,
    c: &Conn<K>,
    now: u32,
) {
    let Some(t) = counts.as_mut() else { return };
    let Some(svc) = snap.service_by_id(c.svc).filter(|s| s.access.limit.is_set()) else { return };
    let k = key(svc, c.caddr);
    if let Some(n) = t.get_mut(k) {
        n.conns = n.conns.saturating_sub(1);
        if n.conns == 0 && n.sec != now {
            t.remove(k);
        }
    }
}
