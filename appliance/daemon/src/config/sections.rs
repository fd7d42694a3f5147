//! Validation of each section of rvs.toml, one function per section; each error names the file,
//! line, column and key.

use super::raw::{RawControl, RawDataplane, RawNeighbour, RawOverload, RawPort, RawTimeouts};
use super::*;
use rvs_core::family::AddrKey;

/// The `[dataplane]` section, validated.
pub(super) struct Dataplane {
    pub(super) eal_args: Vec<String>,
    pub(super) lcores: Vec<u32>,
    pub(super) busy_poll: bool,
    pub(super) conn_capacity: usize,
    pub(super) mbufs: u32,
    pub(super) steer_prefix: Option<Spanned<u8>>,
    pub(super) steer_prefix6: Option<Spanned<u8>>,
    pub(super) conn6_capacity: usize,
}

/// One function per section of the file; each names the keys it refuses.
impl Ctx<'_> {
    /// `[dataplane]`.
    pub(super) fn dataplane(&self, raw: Option<RawDataplane>) -> Result<Dataplane, ConfigFileError> {
        let dp = raw.unwrap_or(RawDataplane {
            eal_args: vec![],
            lcores: None,
            busy_poll: false,
            conn_capacity: None,
            mbufs: None,
            steer_prefix: None,
            steer_prefix6: None,
            conn6_capacity: None,
        });
        let lcores = match &dp.lcores {
            Some(l) if l.get_ref().is_empty() => {
                return Err(self.err(l.span(), "dataplane.lcores", "needs at least one worker core"))
            }
            Some(l) => {
                let mut v = l.get_ref().clone();
                v.sort_unstable();
                v.dedup();
                if v.len() != l.get_ref().len() {
                    return Err(self.err(l.span(), "dataplane.lcores", "a core is listed twice"));
                }
                l.get_ref().clone()
            }
            None => vec![1],
        };
        let conn_capacity = match &dp.conn_capacity {
            Some(c) if *c.get_ref() < 1024 || *c.get_ref() > 64 << 20 => {
                return Err(self.err(c.span(), "dataplane.conn_capacity", "must be 1024 ..= 67108864"))
            }
            Some(c) => *c.get_ref(),
            None => DEFAULT_CONN_CAPACITY,
        };
        let conn6_capacity = match &dp.conn6_capacity {
            Some(c) if *c.get_ref() < 1024 || *c.get_ref() > 16 << 20 => {
                return Err(self.err(c.span(), "dataplane.conn6_capacity", "must be 1024 ..= 16777216"))
            }
            Some(c) => *c.get_ref(),
            None => (conn_capacity / 4).max(1024),
        };
        let mbufs = match &dp.mbufs {
            Some(m) if *m.get_ref() < 1024 => return Err(self.err(m.span(), "dataplane.mbufs", "at least 1024")),
            Some(m) => *m.get_ref(),
            None => 16383,
        };
        Ok(Dataplane {
            eal_args: dp.eal_args,
            lcores,
            busy_poll: dp.busy_poll,
            conn_capacity,
            conn6_capacity,
            mbufs,
            steer_prefix: dp.steer_prefix,
            steer_prefix6: dp.steer_prefix6,
        })
    }

    /// `[[port]]`.
    pub(super) fn ports(&self, raw: &[RawPort]) -> Result<Vec<PortConf>, ConfigFileError> {
        if raw.is_empty() {
            return Err(self.err(0..0, "port", "at least one [[port]] is needed"));
        }
        let mut ports = Vec::new();
        for (i, p) in raw.iter().enumerate() {
            let key = |k: &str| format!("port[{i}].{k}");
            let ((addr, prefix_len), addr6) = self.port_addresses(&p.address, &key("address"))?;
            let (gateway, gateway6) = match &p.gateway {
                None => (None, None),
                Some(g) => self.port_gateways(g, &key("gateway"))?,
            };
            if let (Some(g), Some(gs)) = (gateway, &p.gateway) {
                if !rvs_core::service::same_prefix(addr, g, prefix_len) {
                    return Err(self.err(gs.span(), key("gateway"), format!("{g} is not on {addr}/{prefix_len}")));
                }
            }
            if let (Some(g), Some(gs)) = (gateway6, &p.gateway) {
                let link_local = g.is_unicast_link_local();
                let on_net = addr6.is_some_and(|(a, l)| u128::from(a).masked(l) == u128::from(g).masked(l));
                if addr6.is_none() || !(link_local || on_net) {
                    return Err(self.err(
                        gs.span(),
                        key("gateway"),
                        format!("{g} is neither link-local nor on the port's IPv6 network"),
                    ));
                }
            }
            let mtu = match &p.mtu {
                Some(m) if !(576..=9000).contains(m.get_ref()) => {
                    return Err(self.err(m.span(), key("mtu"), "must be 576 ..= 9000"))
                }
                Some(m) => *m.get_ref(),
                None => 1500,
            };
            if p.device.get_ref().trim().is_empty() {
                return Err(self.err(p.device.span(), key("device"), "empty device string"));
            }
            if ports.iter().any(|q: &PortConf| q.name == *p.name.get_ref()) {
                return Err(self.err(
                    p.name.span(),
                    key("name"),
                    format!("port name {:?} used twice", p.name.get_ref()),
                ));
            }
            let exception_iface = match (&p.exception_iface, p.exception) {
                (Some(i), true) => {
                    let n = i.get_ref();
                    if n.is_empty()
                        || n.len() > 15
                        || !n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    {
                        return Err(self.err(
                            i.span(),
                            key("exception_iface"),
                            "an interface name of 1..=15 characters [A-Za-z0-9-_.]",
                        ));
                    }
                    Some(n.clone())
                }
                (Some(i), false) => return Err(self.err(i.span(), key("exception_iface"), "needs exception = true")),
                (None, true) => {
                    let n = p.name.get_ref();
                    if n.len() > 15 {
                        return Err(self.err(
                            p.name.span(),
                            key("name"),
                            "longer than 15 characters: set exception_iface",
                        ));
                    }
                    Some(n.clone())
                }
                (None, false) => None,
            };
            ports.push(PortConf {
                name: p.name.get_ref().clone(),
                device: p.device.get_ref().clone(),
                addr,
                prefix_len,
                gateway,
                addr6,
                gateway6,
                mtu,
                exception_iface,
            });
        }
        Ok(ports)
    }

    /// A port's `address`: one IPv4 CIDR, or a list of one IPv4 and at most one IPv6 CIDR.
    #[allow(clippy::type_complexity)]
    fn port_addresses(
        &self,
        v: &Spanned<toml::Value>,
        key: &str,
    ) -> Result<((Ipv4Addr, u8), Option<(Ipv6Addr, u8)>), ConfigFileError> {
        let err = |m: String| self.err(v.span(), key, m);
        let words = self.one_or_list(v, key)?;
        let (mut v4, mut v6) = (None, None);
        for w in words {
            let (a, len) = w
                .split_once('/')
                .ok_or_else(|| err(format!("{w:?}: expected ADDRESS/PREFIX, e.g. 10.0.0.1/24 or 2001:db8::1/64")))?;
            match a.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if v4.is_none() => {
                    let l = len.parse().ok().filter(|l: &u8| (1..=32).contains(l));
                    v4 = Some((a, l.ok_or_else(|| err(format!("prefix {len:?} is not 1..=32")))?));
                }
                Ok(IpAddr::V6(a)) if v6.is_none() => {
                    let l = len.parse().ok().filter(|l: &u8| (1..=128).contains(l));
                    if a.is_multicast() || a.is_unspecified() || a.is_unicast_link_local() {
                        return Err(err(format!("{a} is not a unicast global or unique-local address")));
                    }
                    v6 = Some((a, l.ok_or_else(|| err(format!("prefix {len:?} is not 1..=128")))?));
                }
                Ok(a) => return Err(err(format!("{a}: one address of each family at most"))),
                Err(_) => return Err(err(format!("{a:?} is not an IPv4 or IPv6 address"))),
            }
        }
        let v4 = v4.ok_or_else(|| err("an IPv4 address is needed (IPv6-only ports are not supported)".into()))?;
        Ok((v4, v6))
    }

    /// A port's `gateway`: one address, or a list of at most one of each family.
    fn port_gateways(
        &self,
        v: &Spanned<toml::Value>,
        key: &str,
    ) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), ConfigFileError> {
        let err = |m: String| self.err(v.span(), key, m);
        let (mut g4, mut g6) = (None, None);
        for w in self.one_or_list(v, key)? {
            match w.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if g4.is_none() => g4 = Some(a),
                Ok(IpAddr::V6(a)) if g6.is_none() => g6 = Some(a),
                Ok(a) => return Err(err(format!("{a}: one gateway of each family at most"))),
                Err(_) => return Err(err(format!("{w:?} is not an IPv4 or IPv6 address"))),
            }
        }
        Ok((g4, g6))
    }

    /// A string, or a list of one or two strings.
    fn one_or_list<'v>(&self, v: &'v Spanned<toml::Value>, key: &str) -> Result<Vec<&'v str>, ConfigFileError> {
        let bad = || self.err(v.span(), key, "expected a string or a list of one or two strings");
        match v.get_ref() {
            toml::Value::String(s) => Ok(vec![s.as_str()]),
            toml::Value::Array(a) if (1..=2).contains(&a.len()) => {
                a.iter().map(|x| x.as_str().ok_or_else(bad)).collect()
            }
            _ => Err(bad()),
        }
    }

    /// `[control]`: the socket path and the metrics endpoint.
    pub(super) fn control(
        &self,
        raw: Option<RawControl>,
    ) -> Result<(PathBuf, Option<std::net::SocketAddr>), ConfigFileError> {
        let control = raw.unwrap_or(RawControl { socket: None, metrics: None });
        let metrics = control
            .metrics
            .as_ref()
            .map(|m| {
                m.get_ref()
                    .parse()
                    .map_err(|_| self.err(m.span(), "control.metrics", "expected ADDRESS:PORT, e.g. 127.0.0.1:9390"))
            })
            .transpose()?;
        Ok((PathBuf::from(control.socket.unwrap_or_else(|| "/run/rvs/rvs.sock".into())), metrics))
    }

    /// `[timeouts]`.
    pub(super) fn timeouts(&self, raw: Option<&RawTimeouts>) -> Result<Timeouts, ConfigFileError> {
        let mut timeouts = Timeouts::default();
        if let Some(t) = raw {
            for (v, slot, name) in [
                (&t.tcp, &mut timeouts.tcp, "tcp"),
                (&t.tcpfin, &mut timeouts.tcpfin, "tcpfin"),
                (&t.udp, &mut timeouts.udp, "udp"),
            ] {
                if let Some(v) = v {
                    if let Err(e) = crate::limits::timeout(*v.get_ref()) {
                        return Err(self.err(v.span(), format!("timeouts.{name}"), format!("{e} seconds")));
                    }
                    *slot = *v.get_ref();
                }
            }
        }
        Ok(timeouts)
    }

    /// `[overload]`: the connection table's defences (defaults: [`OverloadPolicy::default`]).
    pub(super) fn knobs(&self, raw: Option<&super::raw::RawIpvs>) -> Result<rvs_core::knobs::Knobs, ConfigFileError> {
        let mut k = rvs_core::knobs::Knobs::default();
        let Some(r) = raw else { return Ok(k) };
        for (name, v) in [
            ("conn_reuse_mode", &r.conn_reuse_mode),
            ("expire_quiescent_template", &r.expire_quiescent_template),
            ("nat_icmp_send", &r.nat_icmp_send),
            ("ignore_tunneled", &r.ignore_tunneled),
            ("pmtu_disc", &r.pmtu_disc),
            ("backup_only", &r.backup_only),
            ("expire_nodest_conn", &r.expire_nodest_conn),
            ("schedule_icmp", &r.schedule_icmp),
            ("sloppy_sctp", &r.sloppy_sctp),
            ("sync_version", &r.sync_version),
        ] {
            if let Some(v) = v {
                k.set(name, &v.get_ref().to_string()).map_err(|e| self.err(v.span(), format!("ipvs.{name}"), e))?;
            }
        }
        Ok(k)
    }

    pub(super) fn overload(&self, raw: Option<&RawOverload>) -> Result<OverloadPolicy, ConfigFileError> {
        let mut o = OverloadPolicy::default();
        let Some(r) = raw else { return Ok(o) };
        if let Some(p) = &r.pressure_percent {
            if !(10..=100).contains(p.get_ref()) {
                return Err(self.err(p.span(), "overload.pressure_percent", "must be 10 ..= 100"));
            }
            o.pressure_percent = *p.get_ref();
        }
        if let Some(t) = &r.syn_timeout {
            if !(2..=60).contains(t.get_ref()) {
                return Err(self.err(t.span(), "overload.syn_timeout", "must be 2 ..= 60 seconds"));
            }
            o.syn_timeout = *t.get_ref();
        }
        o.stateless_fallback = r.stateless_fallback.unwrap_or(o.stateless_fallback);
        o.new_conn_rate = r.new_conn_rate.unwrap_or(o.new_conn_rate);
        Ok(o)
    }

    /// `[[neighbour]]`.
    pub(super) fn neighbours(&self, raw: &[RawNeighbour]) -> Result<Vec<(IpAddr, Mac)>, ConfigFileError> {
        let mut neighbours = Vec::new();
        for (i, n) in raw.iter().enumerate() {
            let ip = self.ip(&n.address, &format!("neighbour[{i}].address"))?;
            let mac: Mac = n.mac.get_ref().parse().map_err(|_| {
                self.err(
                    n.mac.span(),
                    format!("neighbour[{i}].mac"),
                    format!("{:?} is not a MAC address", n.mac.get_ref()),
                )
            })?;
            neighbours.push((ip, mac));
        }
        Ok(neighbours)
    }

    /// `[dataplane] steer_prefix` (`steer_prefix6` with `v6`), or its default from the
    /// services of that family.
    pub(super) fn steer_prefix(
        &self,
        set: Option<&Spanned<u8>>,
        services: &[Service],
        workers: usize,
        v6: bool,
    ) -> Result<u8, ConfigFileError> {
        // The owner core of a connection must not move while it lives, so the prefix is fixed
        // at start: the file's, else the coarsest persistence netmask configured (the whole
        // address if none).
        let (name, whole) = if v6 { ("dataplane.steer_prefix6", 128) } else { ("dataplane.steer_prefix", 32) };
        let mine = || services.iter().filter(move |s| s.persistence > 0 && s.vip.is_ipv6() == v6);
        let steer_prefix = match set {
            Some(p) => if v6 { crate::limits::prefix6(*p.get_ref()) } else { crate::limits::prefix(*p.get_ref()) }
                .map_err(|e| self.err(p.span(), name, e.to_string()))?,
            None => mine().map(|s| s.persistence_prefix).min().unwrap_or(whole),
        };
        if workers > 1 {
            if let Some(s) = mine().find(|s| s.persistence_prefix < steer_prefix) {
                let span = set.map_or(0..0, |p| p.span());
                return Err(self.err(
                    span,
                    name,
                    format!(
                        "{steer_prefix} is finer than service {}'s persistence netmask /{}",
                        s.name(),
                        s.persistence_prefix
                    ),
                ));
            }
        }
        Ok(steer_prefix)
    }
}
