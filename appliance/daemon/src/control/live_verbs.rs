//! ipvsadm's verbs on the live configuration (-A -E -D -C -a -e -d --set): each a small change
//! to the same state with the same refusal rules, made on a copy that replaces the live state
//! only once the change validated.

use super::live_config::{check_thresholds, check_weight, LiveConfig, OpError, RealOpts, SvcKey, SvcOpts};
use rvs_core::service::{Dest, Forward, Service, Tunnel};
use std::net::{IpAddr, SocketAddr};

/// ipvsadm's rules for tunnel options: only for tunnelling real servers, and in the
/// combinations its table allows.
fn check_tunnel(t: Tunnel, forward: Forward) -> Result<(), OpError> {
    let bad = |msg: String| OpError::Invalid { field: "tun-type", msg };
    if t != Tunnel::IPIP && forward != Forward::Tunnel {
        return Err(bad("tunnel options conflict with forward method".into()));
    }
    t.check().map_err(bad)
}

impl LiveConfig {
    pub(super) fn find(&self, k: &SvcKey) -> Option<usize> {
        self.services.iter().position(|s| k.names(s))
    }

    /// The service `k`.
    pub fn service(&self, k: &SvcKey) -> Result<&Service, OpError> {
        self.find(k).map(|i| &self.services[i]).ok_or_else(|| OpError::NoService(k.to_string()))
    }

    pub(super) fn free_dests(&mut self, k: SvcKey, dests: &[Dest], now: u64) {
        for d in dests {
            self.checks.remove(&d.id);
            self.down.remove(&d.id);
            self.slow_start.remove(&d.id);
            self.ramps.remove(&d.id);
            self.draining.remove(&d.id);
            if d.tunnel != Tunnel::IPIP {
                self.retired_tunnels.insert(d.id, d.tunnel);
            }
            self.dest_ids.free(d.id, now);
            self.trash.retain(|t| t.3 != d.id);
            self.trash.push((k, d.addr, d.port, d.id));
        }
    }

    /// The id of a real server: its old one from the trash if it comes back, else a fresh one.
    pub(super) fn dest_id_for(&mut self, k: SvcKey, addr: IpAddr, port: u16, now: u64) -> Result<u16, OpError> {
        if let Some(pos) = self.trash.iter().position(|t| t.0 == k && t.1 == addr && t.2 == port) {
            let id = self.trash.remove(pos).3;
            self.dest_ids.reclaim(id);
            self.retired_tunnels.remove(&id);
            return Ok(id);
        }
        let id = self.dest_ids.take(now).ok_or(OpError::Full("real servers (ids rest an hour after deletion)"))?;
        self.trash.retain(|t| t.3 != id);
        self.retired_tunnels.remove(&id);
        Ok(id)
    }

    /// The id of a service: its old one if it comes back within the quarantine, else a fresh
    /// or rested one. Never the id of a service deleted less than [`ID_QUARANTINE_S`] ago:
    /// its connections may still drain and unpin its persistence templates.
    pub(super) fn svc_id_for(&mut self, k: SvcKey, now: u64) -> Result<u16, OpError> {
        if let Some(pos) = self.svc_trash.iter().position(|t| t.0 == k) {
            let id = self.svc_trash.remove(pos).1;
            self.svc_ids.reclaim(id);
            return Ok(id);
        }
        let id = self.svc_ids.take(now).ok_or(OpError::Full("services (ids rest an hour after deletion)"))?;
        self.svc_trash.retain(|t| t.1 != id);
        Ok(id)
    }

    pub(super) fn free_service(&mut self, s: &Service, now: u64) {
        let k = SvcKey::of(s);
        self.free_dests(k, &s.dests, now);
        self.svc_ids.free(s.id, now);
        self.svc_trash.retain(|t| t.1 != s.id);
        self.svc_trash.push((k, s.id));
    }

    fn apply_opts(s: &mut Service, o: &SvcOpts) -> Result<(), OpError> {
        if let Some(sch) = &o.scheduler {
            if rvs_core::sched::new_scheduler(sch).is_none() {
                return Err(OpError::Invalid {
                    field: "scheduler",
                    msg: format!("unknown scheduler {sch:?}; one of {}", rvs_core::sched::NAMES.join(" ")),
                });
            }
            s.scheduler = sch.clone();
        }
        if let Some(f) = &o.sched_flags {
            s.sched_flags = rvs_core::sched::flags::parse(&s.scheduler, f)
                .map_err(|msg| OpError::Invalid { field: "sched-flags", msg })?;
        }
        if let Some(p) = o.persistence {
            s.persistence = crate::limits::persistence(p)
                .map_err(|e| OpError::Invalid { field: "persistent", msg: e.to_string() })?;
        }
        if let Some(m) = o.netmask {
            let p = if s.vip.is_ipv6() { crate::limits::prefix6(m) } else { crate::limits::prefix(m) };
            s.persistence_prefix = p.map_err(|e| OpError::Invalid { field: "netmask", msg: e.to_string() })?;
        }
        if let Some(ops) = o.ops {
            s.ops = ops;
        }
        if let Some(pe) = o.pe_sip {
            s.pe_sip = pe;
        }
        if let Some(r) = o.lports {
            s.lports = r;
        }
        if let Some(t) = o.toa {
            s.toa = t;
        }
        if let Some(p) = o.proxy_protocol {
            s.proxy_protocol = p;
        }
        if let Some(u) = o.uoa {
            s.uoa = u;
        }
        if let Some(on) = o.synproxy {
            s.synproxy = on;
        }
        Ok(())
    }

    /// `-A`: adds a service.
    pub fn add_service(&mut self, k: SvcKey, o: &SvcOpts, now: u64) -> Result<(), OpError> {
        if self.find(&k).is_some() {
            return Err(OpError::ServiceExists(k.to_string()));
        }
        if k.port == 0 && k.fwmark == 0 {
            return Err(OpError::Invalid { field: "port", msg: "port 0 is not supported".into() });
        }
        let mut next = self.clone();
        let id = next.svc_id_for(k, now)?;
        let mut s = Service {
            id,
            protocol: k.protocol,
            vip: k.vip,
            port: k.port,
            scheduler: "wlc".into(),
            persistence: 0,
            persistence_prefix: if k.vip.is_ipv6() { 128 } else { 32 },
            ops: false,
            fwmark: k.fwmark,
            pe_sip: false,
            sched_flags: 0,
            dests: vec![],
            laddrs: vec![],
            lports: Default::default(),
            toa: false,
            proxy_protocol: Default::default(),
            uoa: false,
            synproxy: false,
            access: Default::default(),
        };
        Self::apply_opts(&mut s, o)?;
        next.services.push(s);
        *self = next;
        Ok(())
    }

    /// `-E`: edits a service.
    pub fn edit_service(&mut self, k: SvcKey, o: &SvcOpts) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        Self::apply_opts(&mut self.services[i], o)
    }

    /// `-D`: deletes a service (its connections drain to their servers until they expire).
    pub fn del_service(&mut self, k: SvcKey, now: u64) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        let s = self.services.remove(i);
        self.free_service(&s, now);
        Ok(())
    }

    /// `-C`: deletes every service.
    pub fn clear(&mut self, now: u64) {
        for s in std::mem::take(&mut self.services) {
            self.free_service(&s, now);
        }
    }

    /// `-a`: adds a real server (port None = the virtual port).
    pub fn add_real(
        &mut self,
        k: SvcKey,
        addr: IpAddr,
        port: Option<u16>,
        o: RealOpts,
        now: u64,
    ) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        let port = port.unwrap_or(k.port);
        if port == 0 && k.fwmark == 0 {
            return Err(OpError::Invalid {
                field: "real-server",
                msg: "port 0 is only for a firewall-mark service's real server (it keeps each packet's port)".into(),
            });
        }
        let forward = o.forward.unwrap_or(Forward::DirectRoute);
        if addr.is_ipv6() != k.vip.is_ipv6() && !super::nat64_real(k.vip, addr, forward) {
            return Err(OpError::Invalid {
                field: "real-server",
                msg: format!(
                    "{addr} is not of the VIP's address family (IPVS forwards within one family; only \
                     --fullnat takes an IPv6 VIP to IPv4, NAT64)"
                ),
            });
        }
        if self.services[i].dests.iter().any(|d| d.addr == addr && d.port == port) {
            return Err(OpError::RealExists(SocketAddr::new(addr, port).to_string()));
        }
        if !forward.sees_replies() && port != k.port && k.fwmark == 0 {
            return Err(OpError::Invalid {
                field: "real server",
                msg: "dr and tun real servers use the virtual port".into(),
            });
        }
        let weight = check_weight(o.weight.unwrap_or(1))?;
        let id = self.dest_id_for(k, addr, port, now)?;
        let (u_threshold, l_threshold) = (o.u_threshold.unwrap_or(0), o.l_threshold.unwrap_or(0));
        check_thresholds(u_threshold, l_threshold)?;
        let slow = o.slow_start.map(Self::check_slow_start).transpose()?.unwrap_or(0);
        let tunnel = o.tunnel.unwrap_or(Tunnel::IPIP);
        check_tunnel(tunnel, forward)?;
        self.services[i].dests.push(Dest { id, addr, port, weight, forward, u_threshold, l_threshold, tunnel });
        if slow > 0 {
            self.slow_start.insert(id, slow);
            self.start_ramp(id, now);
        }
        if let Some(deadline) = o.drain {
            self.start_drain(id, deadline, now);
        }
        Ok(())
    }

    fn check_slow_start(s: u32) -> Result<u32, OpError> {
        crate::limits::slow_start(s).map_err(|e| OpError::Invalid { field: "slow-start", msg: format!("{e} seconds") })
    }

    fn start_drain(&mut self, id: u16, deadline: Option<u32>, now: u64) {
        let deadline = deadline.map(|s| now + u64::from(s));
        self.ramps.remove(&id);
        self.draining.insert(id, super::real_lifecycle::Drain { since: now, deadline });
    }

    /// `-e`: edits a real server. `--drain` starts a drain; a weight without it cancels one; a
    /// weight raised from 0 (or a cancelled drain) starts the slow start.
    pub fn edit_real(
        &mut self,
        k: SvcKey,
        addr: IpAddr,
        port: Option<u16>,
        o: RealOpts,
        now: u64,
    ) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        let port = port.unwrap_or(k.port);
        let d = self.services[i]
            .dests
            .iter_mut()
            .find(|d| d.addr == addr && d.port == port)
            .ok_or_else(|| OpError::NoReal(SocketAddr::new(addr, port).to_string()))?;
        let mut new = d.clone();
        if let Some(f) = o.forward {
            new.forward = f;
        }
        if let Some(w) = o.weight {
            new.weight = check_weight(w)?;
        }
        match o.tunnel {
            Some(t) => new.tunnel = t,
            None if new.forward != Forward::Tunnel => new.tunnel = Tunnel::IPIP,
            None => {}
        }
        check_tunnel(new.tunnel, new.forward)?;
        new.u_threshold = o.u_threshold.unwrap_or(new.u_threshold);
        new.l_threshold = o.l_threshold.unwrap_or(new.l_threshold);
        check_thresholds(new.u_threshold, new.l_threshold)?;
        if !new.forward.sees_replies() && new.port != k.port && k.fwmark == 0 {
            return Err(OpError::Invalid {
                field: "real server",
                msg: "dr and tun real servers use the virtual port".into(),
            });
        }
        let slow = o.slow_start.map(Self::check_slow_start).transpose()?;
        let (id, was) = (d.id, d.weight);
        *d = new;
        match slow {
            Some(0) => {
                self.slow_start.remove(&id);
                self.ramps.remove(&id);
            }
            Some(s) => {
                self.slow_start.insert(id, s);
            }
            None => {}
        }
        let cancelled = o.drain.is_none() && o.weight.is_some() && self.draining.remove(&id).is_some();
        if let Some(deadline) = o.drain {
            self.start_drain(id, deadline, now);
        } else if (was == 0 || cancelled) && o.weight.is_some_and(|w| w > 0) {
            self.start_ramp(id, now);
        }
        Ok(())
    }

    /// `-d`: deletes a real server (its connections drain).
    pub fn del_real(&mut self, k: SvcKey, addr: IpAddr, port: Option<u16>, now: u64) -> Result<(), OpError> {
        let i = self.find(&k).ok_or_else(|| OpError::NoService(k.to_string()))?;
        let port = port.unwrap_or(k.port);
        let pos = self.services[i]
            .dests
            .iter()
            .position(|d| d.addr == addr && d.port == port)
            .ok_or_else(|| OpError::NoReal(SocketAddr::new(addr, port).to_string()))?;
        let d = self.services[i].dests.remove(pos);
        self.free_dests(k, &[d], now);
        Ok(())
    }

    /// `--set-knob NAME VALUE`: one of IPVS's knobs ([`rvs_core::knobs`]), or those kept with
    /// their part: `sloppy_tcp` (`[ha]`) and `sync_persist_mode` (`[sync]`).
    pub fn set_knob(&mut self, name: &str, value: &str) -> Result<(), OpError> {
        let bad = |msg: String| OpError::Invalid { field: "knob", msg };
        let flag = || match value.trim() {
            "0" => Ok(false),
            "1" => Ok(true),
            v => Err(bad(format!("{name}: {v:?} is not 0..=1"))),
        };
        match name {
            "sloppy_tcp" => self.ha.sloppy_tcp = flag()?,
            "sync_persist_mode" => {
                let on = flag()?;
                let sync = self.sync.as_mut().ok_or_else(|| bad("sync_persist_mode: no [sync] section".into()))?;
                sync.policy = sync.policy.with_persist_mode(on);
            }
            _ => self.knobs.set(name, value).map_err(bad)?,
        }
        Ok(())
    }

    /// Every knob `--set-knob` takes, with its value.
    pub fn knob_values(&self) -> std::collections::BTreeMap<String, u32> {
        let mut m: std::collections::BTreeMap<String, u32> =
            rvs_core::knobs::NAMES.iter().filter_map(|n| Some(((*n).to_owned(), self.knobs.get(n)?))).collect();
        m.insert("sloppy_tcp".into(), u32::from(self.ha.sloppy_tcp));
        m.insert("sync_persist_mode".into(), u32::from(self.sync.as_ref().is_some_and(|s| s.policy.persist_mode())));
        m
    }

    /// `--set tcp tcpfin udp` (0 keeps a value, as in ipvsadm).
    pub fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), OpError> {
        for (v, f) in [(tcp, "tcp"), (tcpfin, "tcpfin"), (udp, "udp")] {
            if v != 0 {
                crate::limits::timeout(v).map_err(|e| OpError::Invalid { field: f, msg: format!("{e} seconds") })?;
            }
        }
        let t = &mut self.timeouts;
        if tcp > 0 {
            t.tcp = tcp;
        }
        if tcpfin > 0 {
            t.tcpfin = tcpfin;
        }
        if udp > 0 {
            t.udp = udp;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::live_config::ID_QUARANTINE_S;
    use super::*;
    use crate::config::Config;
    use rvs_core::service::{Protocol, UNBOUND_DEST};

    fn state() -> LiveConfig {
        let cfg = Config::parse(
            "t.toml",
            "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n  [[service.real]]\n  address = \"10.0.0.11\"\n",
        )
        .unwrap();
        LiveConfig::from_config(&cfg, vec![])
    }

    fn key(port: u16) -> SvcKey {
        SvcKey::addr(Protocol::Tcp, IpAddr::from([10, 0, 0, 100]), port)
    }

    #[test]
    fn knobs_are_set_live_and_refused_with_their_range() {
        let mut s = state();
        let k = s.knob_values();
        assert_eq!(
            (k["conn_reuse_mode"], k["expire_quiescent_template"], k["sloppy_tcp"]),
            (1, 0, 0),
            "IPVS's defaults"
        );
        s.set_knob("conn_reuse_mode", "0").unwrap();
        s.set_knob("expire_quiescent_template", "1").unwrap();
        s.set_knob("sloppy_tcp", "1").unwrap();
        let k = s.knob_values();
        assert_eq!((k["conn_reuse_mode"], k["expire_quiescent_template"], k["sloppy_tcp"]), (0, 1, 1));
        assert_eq!(s.snapshot().unwrap().knobs().conn_reuse_mode, 0, "the dataplane gets it");
        let e = s.set_knob("conn_reuse_mode", "7").unwrap_err().to_string();
        assert!(e.starts_with("knob: conn_reuse_mode") && e.contains("0..=3"), "{e}");
        assert!(s.set_knob("sync_persist_mode", "1").unwrap_err().to_string().contains("no [sync]"));
        assert!(s.set_knob("frobnicate", "1").is_err());
    }

    #[test]
    fn verbs_change_the_state_and_refusals_change_nothing() {
        let mut s = state();
        let before = s.services.clone();
        assert_eq!(
            s.add_service(key(80), &SvcOpts::default(), 0).unwrap_err(),
            OpError::ServiceExists("tcp 10.0.0.100:80".into())
        );
        let bad = SvcOpts { scheduler: Some("fastest".into()), ..Default::default() };
        assert!(s.add_service(key(81), &bad, 0).unwrap_err().to_string().starts_with("scheduler: unknown scheduler"));
        assert!(s.edit_service(key(80), &bad).is_err());
        let flags = |f: &str| SvcOpts { sched_flags: Some(f.into()), ..Default::default() };
        let e = s.edit_service(key(80), &flags("mh-port")).unwrap_err().to_string();
        assert!(e.starts_with("sched-flags: incompatible scheduler flag `mh-port'"), "{e}");
        assert!(s.add_real(key(80), IpAddr::from([10, 0, 0, 11]), None, RealOpts::default(), 0).is_err(), "exists");
        let w = RealOpts { weight: Some(70000), ..Default::default() };
        assert!(s.add_real(key(80), IpAddr::from([10, 0, 0, 12]), None, w, 0).is_err());
        let dr_port = RealOpts { forward: Some(Forward::DirectRoute), ..Default::default() };
        assert!(s.add_real(key(80), IpAddr::from([10, 0, 0, 12]), Some(8080), dr_port, 0).is_err());
        assert_eq!(s.services, before, "nothing changed");
        let mut mh = s.clone();
        let to_mh = SvcOpts {
            scheduler: Some("mh".into()),
            sched_flags: Some("mh-fallback,mh-port".into()),
            ..Default::default()
        };
        mh.edit_service(key(80), &to_mh).unwrap();
        assert_eq!(mh.services[0].sched_flags, rvs_core::sched::flags::FLAG_1 | rvs_core::sched::flags::FLAG_2);
        mh.edit_service(key(80), &SvcOpts { persistence: Some(60), ..Default::default() }).unwrap();
        assert_eq!(mh.services[0].sched_flags, rvs_core::sched::flags::FLAG_1 | rvs_core::sched::flags::FLAG_2, "kept");
        // -o: on with -A or -E, kept by an -E without it, off with --ops=off.
        mh.edit_service(key(80), &SvcOpts { ops: Some(true), ..Default::default() }).unwrap();
        mh.edit_service(key(80), &SvcOpts { scheduler: Some("rr".into()), ..Default::default() }).unwrap();
        assert!(mh.services[0].ops, "kept");
        mh.edit_service(key(80), &SvcOpts { ops: Some(false), ..Default::default() }).unwrap();
        assert!(!mh.services[0].ops);

        s.add_service(
            key(81),
            &SvcOpts { scheduler: Some("rr".into()), persistence: Some(300), netmask: Some(24), ..Default::default() },
            0,
        )
        .unwrap();
        s.add_real(
            key(81),
            IpAddr::from([10, 0, 0, 12]),
            Some(8081),
            RealOpts { forward: Some(Forward::Nat), weight: Some(3), ..Default::default() },
            0,
        )
        .unwrap();
        let svc = s.service(&key(81)).unwrap();
        assert_eq!((svc.scheduler.as_str(), svc.persistence, svc.persistence_prefix), ("rr", 300, 24));
        assert_eq!((svc.dests[0].id, svc.dests[0].weight, svc.dests[0].port), (1, 3, 8081));
        s.edit_real(
            key(81),
            IpAddr::from([10, 0, 0, 12]),
            Some(8081),
            RealOpts { weight: Some(0), ..Default::default() },
            0,
        )
        .unwrap();
        assert_eq!(s.service(&key(81)).unwrap().dests[0].weight, 0);
        // -x/-y: set, kept by an edit that leaves them out, refused above ipvsadm's INT_MAX.
        let rip = IpAddr::from([10, 0, 0, 12]);
        let x = |u: Option<u32>, l: Option<u32>| RealOpts { u_threshold: u, l_threshold: l, ..Default::default() };
        s.edit_real(key(81), rip, Some(8081), x(Some(50), Some(20)), 0).unwrap();
        s.edit_real(key(81), rip, Some(8081), RealOpts { weight: Some(2), ..Default::default() }, 0).unwrap();
        let d = s.service(&key(81)).unwrap().dests[0].clone();
        assert_eq!((d.weight, d.u_threshold, d.l_threshold), (2, 50, 20));
        let before = s.services.clone();
        let e = s.edit_real(key(81), rip, Some(8081), x(Some(u32::MAX), None), 0).unwrap_err();
        assert!(e.to_string().contains("u_threshold"), "{e}");
        assert_eq!(s.services, before, "a refused threshold changes nothing");
        assert_eq!(s.snapshot().unwrap().thresholded(), &[d.id]);
        assert!(s.snapshot().is_ok());
        s.del_real(key(81), IpAddr::from([10, 0, 0, 12]), Some(8081), 10).unwrap();
        s.del_service(key(80), 10).unwrap();
        assert_eq!(s.services.len(), 1);
        s.set_timeouts(0, 60, 0).unwrap();
        assert_eq!((s.timeouts.tcp, s.timeouts.tcpfin, s.timeouts.udp), (900, 60, 300));
        s.clear(11);
        assert!(s.services.is_empty());
    }

    #[test]
    fn a_real_server_that_comes_back_gets_its_old_id() {
        let mut s = state();
        s.add_real(key(80), IpAddr::from([10, 0, 0, 12]), None, RealOpts::default(), 0).unwrap();
        let ids = |s: &LiveConfig| s.service(&key(80)).unwrap().dests.iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(&s), vec![0, 1]);
        s.clear(5);
        s.add_service(key(80), &SvcOpts::default(), 0).unwrap();
        s.add_real(key(80), IpAddr::from([10, 0, 0, 12]), None, RealOpts::default(), 6).unwrap();
        s.add_real(key(80), IpAddr::from([10, 0, 0, 11]), None, RealOpts::default(), 6).unwrap();
        s.add_real(key(80), IpAddr::from([10, 0, 0, 13]), None, RealOpts::default(), 6).unwrap();
        assert_eq!(ids(&s), vec![1, 0, 2], "old ids back; a new server gets a fresh one");
    }

    #[test]
    fn reload_keeps_what_continues_and_refuses_port_changes() {
        let base = "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n";
        let svc = |vip: &str, reals: &[&str]| {
            let mut t = format!("[[service]]\nprotocol = \"tcp\"\nvip = \"{vip}\"\nport = 80\nscheduler = \"rr\"\n");
            for r in reals {
                t += &format!("  [[service.real]]\n  address = \"{r}\"\n");
            }
            t
        };
        let a = Config::parse(
            "a.toml",
            &(base.to_owned() + &svc("10.0.0.100", &["10.0.0.11", "10.0.0.12"]) + &svc("10.0.0.101", &["10.0.0.13"])),
        )
        .unwrap();
        let mut s = LiveConfig::from_config(&a, vec![]);
        let ids = |s: &LiveConfig, vip: &str| -> Vec<u16> {
            s.services
                .iter()
                .find(|x| x.vip.to_string() == vip)
                .map(|x| x.dests.iter().map(|d| d.id).collect())
                .unwrap_or_default()
        };
        assert_eq!((ids(&s, "10.0.0.100"), ids(&s, "10.0.0.101")), (vec![0, 1], vec![2]));
        // .101 goes, .102 comes, .12 leaves .100 and .14 joins it, first in the file.
        let b = Config::parse(
            "b.toml",
            &(base.to_owned() + &svc("10.0.0.102", &["10.0.0.15"]) + &svc("10.0.0.100", &["10.0.0.14", "10.0.0.11"])),
        )
        .unwrap();
        let summary = s.reload(&b, 10).unwrap();
        assert_eq!(summary, "reloaded: 1 service(s) added, 1 changed, 1 removed");
        assert_eq!(ids(&s, "10.0.0.100"), vec![4, 0], ".11 keeps id 0; .14 is new");
        assert_eq!(ids(&s, "10.0.0.102"), vec![3]);
        assert_eq!(s.services.iter().find(|x| x.vip.to_string() == "10.0.0.100").unwrap().id, 0, "service id kept");
        let moved = Config::parse("c.toml", &base.replace("10.0.0.1/24", "10.0.0.2/24")).unwrap();
        let before = s.services.clone();
        assert!(s.reload(&moved, 11).unwrap_err().to_string().contains("ports cannot change without a restart"));
        assert_eq!(s.services, before);
    }

    #[test]
    fn deleted_ids_rest_before_reuse() {
        let mut s = state();
        s.dest_ids.never_used = usize::from(UNBOUND_DEST);
        s.del_real(key(80), IpAddr::from([10, 0, 0, 11]), None, 100).unwrap();
        let e = s.add_real(key(80), IpAddr::from([10, 0, 0, 13]), None, RealOpts::default(), 200).unwrap_err();
        assert!(matches!(e, OpError::Full(_)), "{e}");
        s.add_real(key(80), IpAddr::from([10, 0, 0, 13]), None, RealOpts::default(), 100 + ID_QUARANTINE_S).unwrap();
        assert_eq!(s.service(&key(80)).unwrap().dests[0].id, 0, "a different server reuses the rested id");
    }

    #[test]
    fn a_deleted_service_id_rests_before_another_service_gets_it() {
        let mut s = state();
        let id = |s: &LiveConfig, port: u16| s.service(&key(port)).unwrap().id;
        let first = id(&s, 80);
        s.del_service(key(80), 10).unwrap();
        s.add_service(key(81), &SvcOpts::default(), 20).unwrap();
        assert_ne!(id(&s, 81), first, "a new service never takes a draining service's id");
        s.add_service(key(80), &SvcOpts::default(), 30).unwrap();
        assert_eq!(id(&s, 80), first, "the same service back within the quarantine gets its id back");
        // Use up every fresh id; then a freed one is handed out only after it rested.
        s.del_service(key(80), 40).unwrap();
        let mut port = 1000;
        let refused = loop {
            match s.add_service(key(port), &SvcOpts::default(), 50) {
                Ok(()) => port += 1,
                Err(e) => break e,
            }
        };
        assert!(refused.to_string().contains("rest"), "{refused}");
        assert!(s.services.iter().all(|x| x.id != first), "the quarantined id stayed out of use");
        s.add_service(key(port), &SvcOpts::default(), 40 + ID_QUARANTINE_S).unwrap();
        assert_eq!(id(&s, port), first, "rested: reused");
    }

    #[test]
    fn a_reload_gives_a_new_service_a_fresh_id_not_a_just_deleted_one() {
        let mut s = state();
        let first = s.service(&key(80)).unwrap().id;
        let cfg = Config::parse(
            "t.toml",
            "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 81\n  [[service.real]]\n  address = \"10.0.0.11\"\n",
        )
        .unwrap();
        s.reload(&cfg, 100).unwrap();
        assert_ne!(s.service(&key(81)).unwrap().id, first, "port 80's id is draining");
    }
}
