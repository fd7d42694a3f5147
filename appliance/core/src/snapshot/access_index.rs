//! The allow and deny lists' part of a [`Snapshot`] ([`crate::access`]): the director's and
//! each service's, looked up only for a packet of no connection.

use super::Snapshot;
use crate::access::Access;
use crate::family::AddrKey;
use crate::service::MAX_SERVICES;
use crate::verdict::DropReason;

impl Snapshot {
    /// The director's lists (`global`) beside each service's own ([`crate::service::Service::access`]),
    /// and whether the director's deny list drops every packet of its sources (`blackhole`).
    pub fn with_access(mut self, global: Access, blackhole: bool) -> Self {
        let any_service = self.services.iter().any(|s| s.access.is_set());
        self.svc_access = Vec::new();
        if any_service {
            self.svc_access = vec![Access::default(); MAX_SERVICES];
            for s in &self.services {
                self.svc_access[usize::from(s.id)] = s.access.clone();
            }
        }
        self.access_any = global.is_set() || any_service;
        self.blackhole = blackhole && global.deny.is_some();
        self.access = global;
        self
    }

    /// True when a client of a new connection must be looked up.
    #[inline(always)]
    pub fn access_any(&self) -> bool {
        self.access_any
    }

    /// Why client `src` may not open a connection to service `svc`, if it may not: the
    /// director's lists first, then the service's. The second value: the service's lists
    /// refused it (not the director's).
    #[inline]
    pub fn access_refuses<K: AddrKey>(&self, svc: u16, src: K) -> Option<(DropReason, bool)> {
        if let Some(r) = self.access.refuses(src) {
            return Some((r, false));
        }
        let r = self.svc_access.get(usize::from(svc))?.refuses(src)?;
        Some((r, true))
    }

    /// True when every packet from the director's deny list is dropped before any table.
    #[inline(always)]
    pub fn blackholes(&self) -> bool {
        self.blackhole
    }

    /// True when `src` is on the director's deny list.
    #[inline]
    pub fn denied<K: AddrKey>(&self, src: K) -> bool {
        self.access.deny.as_ref().is_some_and(|d| d.contains(src))
    }

    /// The director's lists.
    pub fn access(&self) -> &Access {
        &self.access
    }
}
