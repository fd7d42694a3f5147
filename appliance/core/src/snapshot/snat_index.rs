//! SNAT's part of a [`Snapshot`]: the rules in order, checked against each other and against
//! the rest of the configuration, and the look-up of an outbound packet's rule.

use super::Snapshot;
use crate::service::ConfigError;
use crate::snat::{SnatRule, MAX_SNAT_RULES};
use std::net::IpAddr;

impl Snapshot {
    /// SNAT `rules`, in order (the first that matches a packet wins). Each rule's pool
    /// addresses are its own: no VIP, FULLNAT local address, director address or other rule's.
    /// Call before [`Snapshot::with_held_vips`] (this serves every VIP again). Nothing is
    /// changed on error.
    pub fn with_snat(mut self, rules: Vec<SnatRule>) -> Result<Self, ConfigError> {
        if rules.len() > MAX_SNAT_RULES {
            let rule = rules[MAX_SNAT_RULES].name();
            return Err(ConfigError::BadSnat { rule, msg: format!("at most {MAX_SNAT_RULES} rules") });
        }
        for (i, r) in rules.iter().enumerate() {
            r.check()?;
            let bad = |msg: String| Err(ConfigError::BadSnat { rule: r.name(), msg });
            if rules[..i].iter().any(|o| o.id == r.id) {
                return bad(format!("id {} given twice", r.id));
            }
            if let Some(p) = r.out_port.filter(|&p| usize::from(p) >= self.interfaces.len()) {
                return bad(format!("egress port {p}: there are {}", self.interfaces.len()));
            }
            for &a in &r.pool {
                let ip = IpAddr::V4(a);
                if self.services.iter().any(|s| !s.is_fwmark() && s.vip == ip) {
                    return bad(format!("pool address {a} is a VIP"));
                }
                if self.services.iter().any(|s| s.laddrs.contains(&ip)) || self.draining_laddrs.contains(&ip) {
                    return bad(format!("pool address {a} is a FULLNAT local address"));
                }
                if self.interfaces.iter().any(|itf| itf.addr == a) {
                    return bad(format!("pool address {a} is the director's own"));
                }
                if rules[..i].iter().any(|o| o.pool.contains(&a)) {
                    return bad(format!("pool address {a} is another rule's too"));
                }
            }
        }
        self.snat = rules;
        Ok(self.with_held_vips(None))
    }

    /// The SNAT rules, in order.
    pub fn snat_rules(&self) -> &[SnatRule] {
        &self.snat
    }

    /// The SNAT rule of an outbound packet of `proto` from `src` to `dst`: the first whose
    /// source prefix, protocol and egress port (`dst`'s route's) match. Never one for a packet
    /// to the director itself (its own addresses, VIPs, local and pool addresses).
    #[inline]
    pub fn snat_rule_of(&self, proto: u8, src: u32, dst: u32) -> Option<&SnatRule> {
        if self.snat.is_empty() || self.v4.local_port(dst).is_some() || self.v4.answers_for(dst) {
            return None;
        }
        let (route, _) = self.v4.route_with_mac(dst)?;
        self.snat.iter().find(|r| r.matches(proto, src, route.port))
    }

    /// The SNAT rule whose connections count under service id `svc`.
    pub fn snat_rule_by_svc(&self, svc: u16) -> Option<&SnatRule> {
        let id = svc.checked_sub(crate::snat::SNAT_SVC_BASE)?;
        self.snat.iter().find(|r| r.id == id)
    }
}
