//! `[[service]]` and its `[[service.real]]` in rvs.toml: every key checked, each error naming
//! the file, line, column and key; real-server ids given in file order.

use super::raw::RawService;
use super::*;
use rvs_core::service::{Tunnel, TunnelCsum, TunnelKind};

/// The services, and by real-server id their health checks and slow starts.
type ServicesAndChecks = (Vec<Service>, Vec<(u16, Check)>, Vec<(u16, u32)>);

impl Ctx<'_> {
    /// `[[service]]` with their `[[service.real]]` and checks (ids in file order).
    pub(super) fn services(&self, raw: &[RawService]) -> Result<ServicesAndChecks, ConfigFileError> {
        let mut services = Vec::new();
        let mut checks = Vec::new();
        let mut slow_starts = Vec::new();
        let mut next_dest = 0u16;
        for (si, s) in raw.iter().enumerate() {
            let key = |k: &str| format!("service[{si}].{k}");
            let name = self.service_name(s, si)?;
            let (protocol, vip, vport) = (name.protocol, name.vip, name.port);
            let svc_span = || s.vip.as_ref().map(|v| v.span()).or(s.fwmark.as_ref().map(|m| m.span())).unwrap_or(0..0);
            let scheduler = s.scheduler.as_ref().map_or_else(|| "wlc".to_owned(), |x| x.get_ref().clone());
            if rvs_core::sched::new_scheduler(&scheduler).is_none() {
                let span = s.scheduler.as_ref().map_or(0..0, |x| x.span());
                return Err(self.err(
                    span,
                    key("scheduler"),
                    format!("unknown scheduler {scheduler:?}; one of {}", rvs_core::sched::NAMES.join(" ")),
                ));
            }
            let sched_flags = match &s.sched_flags {
                Some(f) => rvs_core::sched::flags::parse(&scheduler, f.get_ref())
                    .map_err(|e| self.err(f.span(), key("sched_flags"), e))?,
                None => 0,
            };
            let persistence_prefix = match &s.netmask {
                Some(m) => persistence_netmask(m.get_ref(), vip.is_ipv6()).ok_or_else(|| {
                    let want =
                        if vip.is_ipv6() { "a prefix length 0..=128" } else { "a netmask or a prefix length 0..=32" };
                    self.err(m.span(), key("netmask"), format!("{:?} is not {want}", m.get_ref()))
                })?,
                None if vip.is_ipv6() => 128,
                None => 32,
            };
            let mut dests = Vec::new();
            for (ri, r) in s.real.iter().enumerate() {
                let rkey = |k: &str| format!("service[{si}].real[{ri}].{k}");
                let addr = self.ip(&r.address, &rkey("address"))?;
                let forward = match &r.forward {
                    None => Forward::DirectRoute,
                    Some(f) => f.get_ref().parse().map_err(|e| self.err(f.span(), rkey("forward"), format!("{e}")))?,
                };
                if addr.is_ipv6() != vip.is_ipv6() && !crate::control::nat64_real(vip, addr, forward) {
                    return Err(self.err(
                        r.address.span(),
                        rkey("address"),
                        format!(
                            "{addr} is not of the VIP's address family (IPVS forwards within one family; \
                             only FULLNAT takes an IPv6 VIP to IPv4, NAT64)"
                        ),
                    ));
                }
                // A fwmark service's real server keeps the packet's port unless NAT gives one.
                let port = r.port.unwrap_or(vport);
                if port == 0 && name.fwmark == 0 {
                    return Err(self.err(
                        r.address.span(),
                        rkey("port"),
                        "port 0 is only for a fwmark service's real server",
                    ));
                }
                if !forward.sees_replies() && port != vport && name.fwmark == 0 {
                    return Err(self.err(
                        r.address.span(),
                        rkey("port"),
                        "dr and tun real servers use the virtual port",
                    ));
                }
                if dests.iter().any(|d: &Dest| d.addr == addr && d.port == port) {
                    let at = std::net::SocketAddr::new(addr, port);
                    return Err(self.err(r.address.span(), rkey("address"), format!("{at} listed twice")));
                }
                if let Some(c) = &r.check {
                    let ck = rkey("check");
                    let c_ref = c.get_ref();
                    let http = match c_ref.kind.get_ref().as_str() {
                        "tcp" => false,
                        "http" => true,
                        k => {
                            return Err(self.err(
                                c_ref.kind.span(),
                                format!("{ck}.kind"),
                                format!("{k:?}: expected tcp or http"),
                            ))
                        }
                    };
                    let remove = match &c_ref.action {
                        None => false,
                        Some(a) => match a.get_ref().as_str() {
                            "quiesce" => false,
                            "remove" => true,
                            other => {
                                return Err(self.err(
                                    a.span(),
                                    format!("{ck}.action"),
                                    format!("{other:?}: expected quiesce or remove"),
                                ))
                            }
                        },
                    };
                    let check = Check {
                        http,
                        interval: c_ref.interval.unwrap_or(2),
                        timeout: c_ref.timeout.unwrap_or(1),
                        rise: c_ref.rise.unwrap_or(2),
                        fall: c_ref.fall.unwrap_or(2),
                        port: c_ref.port,
                        path: c_ref.path.clone().unwrap_or_else(|| "/".into()),
                        expect: c_ref.expect.unwrap_or(200),
                        remove,
                    };
                    for (v, name) in [
                        (check.interval, "interval"),
                        (check.timeout, "timeout"),
                        (check.rise, "rise"),
                        (check.fall, "fall"),
                    ] {
                        if let Err(e) = crate::limits::check_setting(name, v) {
                            return Err(self.err(c.span(), format!("{ck}.{name}"), e.to_string()));
                        }
                    }
                    if port == 0 && check.port.is_none() {
                        return Err(self.err(
                            c.span(),
                            format!("{ck}.port"),
                            "needed: the real server has no port of its own (port 0)",
                        ));
                    }
                    if !check.path.starts_with('/') {
                        return Err(self.err(c.span(), format!("{ck}.path"), "must start with /"));
                    }
                    checks.push((next_dest, check));
                }
                let weight = match &r.weight {
                    None => 1,
                    Some(w) => crate::limits::weight(*w.get_ref())
                        .map_err(|e| self.err(w.span(), rkey("weight"), e.to_string()))?,
                };
                let threshold = |v: &Option<Spanned<u32>>, k: &str| match v {
                    Some(t) if *t.get_ref() > crate::limits::MAX_THRESHOLD => {
                        Err(self.err(t.span(), rkey(k), format!("must be 0 ..= {}", crate::limits::MAX_THRESHOLD)))
                    }
                    Some(t) => Ok(*t.get_ref()),
                    None => Ok(0),
                };
                let u_threshold = threshold(&r.u_threshold, "u_threshold")?;
                let l_threshold = threshold(&r.l_threshold, "l_threshold")?;
                if let Some(sl) = &r.slow_start {
                    let secs = crate::limits::slow_start(*sl.get_ref())
                        .map_err(|e| self.err(sl.span(), rkey("slow_start"), format!("{e} seconds")))?;
                    slow_starts.push((next_dest, secs));
                }
                let tunnel = {
                    let span = r.tun_type.as_ref().map_or(r.address.span(), |t| t.span());
                    let kind = match &r.tun_type {
                        None => TunnelKind::Ipip,
                        Some(t) => {
                            t.get_ref().parse().map_err(|e| self.err(t.span(), rkey("tun_type"), format!("{e}")))?
                        }
                    };
                    let csum = match (r.tun_nocsum, r.tun_csum, r.tun_remcsum) {
                        (_, false, false) => TunnelCsum::NoCsum,
                        (false, true, false) => TunnelCsum::Csum,
                        (false, false, true) => TunnelCsum::RemCsum,
                        _ => {
                            return Err(self.err(
                                span,
                                rkey("tun_csum"),
                                "tun_nocsum, tun_csum and tun_remcsum exclude each other",
                            ))
                        }
                    };
                    let t = Tunnel { kind, port: r.tun_port.unwrap_or(0), csum };
                    t.check().map_err(|e| self.err(span.clone(), rkey("tun_type"), e))?;
                    if t != Tunnel::IPIP && forward != Forward::Tunnel {
                        return Err(self.err(span, rkey("tun_type"), "tunnel options need forward = \"tun\""));
                    }
                    t
                };
                dests.push(Dest { id: next_dest, addr, port, weight, forward, u_threshold, l_threshold, tunnel });
                next_dest += 1;
            }
            let persistence = match &s.persistence {
                None => 0,
                Some(p) => crate::limits::persistence(*p.get_ref())
                    .map_err(|e| self.err(p.span(), key("persistence"), format!("{e} seconds")))?,
            };
            let (laddrs, lports) = self.local_addrs(s, si, vip)?;
            let svc = Service {
                id: si as u16,
                protocol,
                vip,
                port: vport,
                scheduler,
                sched_flags,
                persistence,
                persistence_prefix,
                ops: s.ops,
                fwmark: name.fwmark,
                pe_sip: match &s.pe {
                    None => false,
                    Some(p) if p.get_ref() == "sip" => true,
                    Some(p) => {
                        return Err(self.err(
                            p.span(),
                            key("pe"),
                            format!("{:?}: the persistence engine is sip", p.get_ref()),
                        ))
                    }
                },
                dests,
                laddrs,
                lports,
                toa: s.toa,
                uoa: s.uoa,
                synproxy: s.synproxy.as_ref().is_some_and(|b| *b.get_ref()),
                access: rvs_core::access::Access {
                    limit: self.client_limit(s.client_limit.as_ref(), si)?,
                    ..self.access_lists([(&s.allow, &s.allow_files), (&s.deny, &s.deny_files)], &|k| {
                        format!("service[{si}].{k}")
                    })?
                },
                proxy_protocol: match &s.proxy_protocol {
                    None => Default::default(),
                    Some(p) => {
                        p.get_ref().parse().map_err(|e| self.err(p.span(), key("proxy_protocol"), format!("{e}")))?
                    }
                },
            };
            if let Some(on) = s.synproxy.as_ref().filter(|b| *b.get_ref()) {
                rvs_core::synproxy::check_service(&svc)
                    .map_err(|e| self.err(on.span(), key("synproxy"), e.to_string()))?;
            }
            let same = |o: &Service| match svc.fwmark {
                0 => o.fwmark == 0 && o.protocol == svc.protocol && o.vip == svc.vip && o.port == svc.port,
                m => o.fwmark == m && o.vip.is_ipv6() == svc.vip.is_ipv6(),
            };
            if services.iter().any(same) {
                let k = if svc.fwmark == 0 { "vip" } else { "fwmark" };
                return Err(self.err(svc_span(), key(k), format!("service {} defined twice", svc.name())));
            }
            services.push(svc);
        }
        Ok((services, checks, slow_starts))
    }
}
