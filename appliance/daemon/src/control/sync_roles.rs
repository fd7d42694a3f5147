//! ipvsadm's `--start-daemon`, `--stop-daemon` and `-L --daemon` on the live configuration:
//! which sync roles run and with what settings. The sync daemon's thread
//! ([`crate::sync_daemon`]) follows the result; the master role also reaches the workers'
//! snapshot (they queue records only while it runs).
//!
//! Both roles share one set of settings (IPVS keeps one per role; a pair that needs two groups
//! runs them on two directors). With more than one worker the backup role needs `[sync]` in the
//! file at start: installing a record on the core that will see its flow needs every service
//! steered to owner cores, which is fixed for the daemon's life.

use super::live_config::{LiveConfig, OpError};
use super::proto::DaemonReply;
use crate::config::sync_conf::{MAX_MAXLEN, MIN_MAXLEN};
use crate::config::SyncConf;

/// `--start-daemon`'s options (None: keep the current setting, or IPVS's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonOpts {
    /// The port, or its exception interface.
    pub interface: Option<String>,
    /// Sync group id.
    pub syncid: Option<u8>,
    /// Largest datagram.
    pub maxlen: Option<usize>,
    /// Multicast group or unicast peer (IPv4 or IPv6).
    pub group: Option<std::net::IpAddr>,
    /// UDP port.
    pub port: Option<u16>,
    /// TTL.
    pub ttl: Option<u8>,
}

fn invalid(field: &'static str, msg: impl Into<String>) -> OpError {
    OpError::Invalid { field, msg: msg.into() }
}

fn role(state: &str) -> Result<bool, OpError> {
    match state {
        "master" => Ok(true),
        "backup" => Ok(false),
        other => Err(invalid("state", format!("{other:?}: expected master or backup"))),
    }
}

impl LiveConfig {
    /// The sync settings with the roles in force: as configured, or, following VRRP, master
    /// while a VIP is held and backup while none is.
    pub fn effective_sync(&self) -> Option<SyncConf> {
        let mut c = self.sync.clone()?;
        c.version = self.knobs.sync_version;
        if c.follow_vrrp && self.vrrp() {
            c.master = !self.held.is_empty();
            c.backup = self.held.is_empty();
        }
        Some(c)
    }

    /// `--start-daemon STATE [options]`.
    pub fn start_daemon(&mut self, state: &str, o: &DaemonOpts) -> Result<(), OpError> {
        let master = role(state)?;
        if !master && self.multi_worker && !self.steer_all {
            return Err(invalid(
                "state",
                "the backup role with more than one worker needs [sync] in rvs.toml at start (it steers every service to owner cores)",
            ));
        }
        let current = self.effective_sync();
        let mut c = match (&current, &o.interface) {
            (Some(c), None) => c.clone(),
            (current, name) => {
                let name = name.as_deref().or(current.as_ref().map(|c| c.port.as_str())).ok_or_else(|| {
                    invalid("mcast_interface", "no [sync] interface configured: name the port (--mcast-interface)")
                })?;
                let p = self
                    .ports
                    .iter()
                    .find(|p| p.name == name || p.exception_iface.as_deref() == Some(name))
                    .ok_or_else(|| invalid("mcast_interface", format!("{name:?}: no such port")))?;
                let iface = p.exception_iface.as_deref().ok_or_else(|| {
                    invalid(
                        "mcast_interface",
                        format!("port {:?} has no exception interface (exception = true)", p.name),
                    )
                })?;
                let mut c = SyncConf::defaults(&p.name, iface, p.addr, p.prefix_len).with_addr6(p.addr6);
                if let Some(cur) = current {
                    (c.master, c.backup, c.syncid, c.group, c.udp_port, c.ttl, c.maxlen, c.policy) =
                        (cur.master, cur.backup, cur.syncid, cur.group, cur.udp_port, cur.ttl, cur.maxlen, cur.policy);
                    c.peers.clone_from(&cur.peers); // configured peers stay; the default follows the port
                }
                c
            }
        };
        if let Some(m) = o.maxlen {
            if !(MIN_MAXLEN..=MAX_MAXLEN).contains(&m) {
                return Err(invalid("sync_maxlen", format!("{m} is not {MIN_MAXLEN}..={MAX_MAXLEN}")));
            }
            c.maxlen = m;
        }
        if o.port == Some(0) {
            return Err(invalid("mcast_port", "0 is not a port"));
        }
        if o.ttl == Some(0) {
            return Err(invalid("mcast_ttl", "0 is not a TTL (1..=255)"));
        }
        c.syncid = o.syncid.unwrap_or(c.syncid);
        c.group = o.group.unwrap_or(c.group);
        c.udp_port = o.port.unwrap_or(c.udp_port);
        c.ttl = o.ttl.unwrap_or(c.ttl);
        if master {
            c.master = true;
        } else {
            c.backup = true;
        }
        c.follow_vrrp = false; // the operator's roles from now on
        self.sync = Some(c);
        Ok(())
    }

    /// `--stop-daemon STATE`.
    pub fn stop_daemon(&mut self, state: &str) -> Result<(), OpError> {
        let master = role(state)?;
        let mut c = self
            .effective_sync()
            .filter(|c| if master { c.master } else { c.backup })
            .ok_or_else(|| invalid("state", format!("no {state} sync daemon is running")))?;
        if master {
            c.master = false;
        } else {
            c.backup = false;
        }
        c.follow_vrrp = false;
        self.sync = Some(c);
        Ok(())
    }

    /// `-L --daemon`: the roles running.
    pub fn daemons(&self) -> Vec<DaemonReply> {
        let Some(c) = self.effective_sync() else { return Vec::new() };
        [(c.master, "master"), (c.backup, "backup")]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, state)| DaemonReply {
                state: state.to_owned(),
                mcast_ifn: c.iface.clone(),
                port: c.port.clone(),
                syncid: c.syncid,
                maxlen: c.maxlen,
                group: c.group.to_string(),
                mcast_port: c.udp_port,
                ttl: c.ttl,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const PORTS: &str = "[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\nexception = true\nexception_iface = \"rvs-lan\"\n[[port]]\nname = \"bare\"\ndevice = \"net_null1\"\naddress = \"10.1.0.1/24\"\n";

    fn live(extra: &str, workers: &str) -> LiveConfig {
        let text = format!("[dataplane]\nlcores = {workers}\n{PORTS}{extra}");
        LiveConfig::from_config(&Config::parse("t.toml", &text).unwrap(), vec![])
    }

    #[test]
    fn start_and_stop_as_ipvsadm_with_ipvs_defaults() {
        let mut s = live("", "[1]");
        assert!(s.daemons().is_empty());
        let e = s.start_daemon("master", &DaemonOpts::default()).unwrap_err();
        assert!(e.to_string().contains("--mcast-interface"), "{e}");
        let e = s.start_daemon("master", &DaemonOpts { interface: Some("bare".into()), ..Default::default() });
        assert!(e.unwrap_err().to_string().contains("exception = true"));
        s.start_daemon(
            "master",
            &DaemonOpts { interface: Some("rvs-lan".into()), syncid: Some(9), ..Default::default() },
        )
        .unwrap();
        let d = s.daemons();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].state.as_str(), d[0].mcast_ifn.as_str(), d[0].port.as_str()), ("master", "rvs-lan", "lan"));
        assert_eq!(
            (d[0].syncid, d[0].maxlen, d[0].group.as_str(), d[0].mcast_port, d[0].ttl),
            (9, 1472, "224.0.0.81", 8848, 1)
        );
        s.start_daemon("backup", &DaemonOpts::default()).unwrap();
        assert_eq!(s.daemons().len(), 2, "the backup role takes the same settings");
        assert!(s.snapshot().unwrap().sync_master().is_some(), "the workers queue records");
        s.stop_daemon("master").unwrap();
        assert!(s.snapshot().unwrap().sync_master().is_none());
        assert!(s.stop_daemon("master").unwrap_err().to_string().contains("no master sync daemon"));
        assert!(s.start_daemon("primary", &DaemonOpts::default()).is_err());
        let bad = DaemonOpts { maxlen: Some(10), ..Default::default() };
        assert!(s.start_daemon("master", &bad).unwrap_err().to_string().contains("sync_maxlen"));
        let no_v6 = DaemonOpts { maxlen: Some(79), ..Default::default() };
        assert!(s.start_daemon("master", &no_v6).unwrap_err().to_string().contains("sync_maxlen"), "review defect 9");
        s.start_daemon("master", &DaemonOpts { maxlen: Some(80), ..Default::default() }).unwrap();
    }

    /// IPVS's `backup_only`: no new connection here while the backup role runs.
    #[test]
    fn backup_only_serves_no_vip_while_the_backup_role_runs() {
        let svc = "[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n";
        let mut s = live(svc, "[1]");
        let vip = std::net::Ipv4Addr::new(10, 0, 0, 100);
        s.set_knob("backup_only", "1").unwrap();
        assert!(s.snapshot().unwrap().serves(vip), "no backup role: served");
        s.start_daemon("backup", &DaemonOpts { interface: Some("lan".into()), ..Default::default() }).unwrap();
        assert!(!s.snapshot().unwrap().serves(vip), "backup role + backup_only: not served");
        s.set_knob("backup_only", "0").unwrap();
        assert!(s.snapshot().unwrap().serves(vip), "backup_only 0 (IPVS's default): served");
        s.set_knob("backup_only", "1").unwrap();
        s.stop_daemon("backup").unwrap();
        assert!(s.snapshot().unwrap().serves(vip), "the role stopped: served again");
    }

    #[test]
    fn with_several_workers_the_backup_role_needs_sync_at_start() {
        let mut s = live("", "[1, 2]");
        let lan = DaemonOpts { interface: Some("lan".into()), ..Default::default() };
        assert!(s.start_daemon("backup", &lan).unwrap_err().to_string().contains("at start"));
        s.start_daemon("master", &lan).unwrap();
        let mut s = live("[sync]\ninterface = \"lan\"\nrole = \"master\"\n", "[1, 2]");
        s.start_daemon("backup", &DaemonOpts::default()).unwrap();
        assert!(s.snapshot().unwrap().steered(0), "every service steered to owner cores");
    }

    #[test]
    fn the_sync_section_is_checked() {
        let parse = |extra: &str| Config::parse("t.toml", &format!("{PORTS}{extra}"));
        let c = parse("[sync]\ninterface = \"lan\"\nsyncid = 3\nthreshold = [2, 10]\n").unwrap().sync.unwrap();
        assert_eq!((c.iface.as_str(), c.syncid, c.master, c.backup), ("rvs-lan", 3, true, true));
        assert_eq!((c.policy.threshold(), c.policy.period()), (2, 10));
        // Peers: the sync port's own network unless named; persist_mode as IPVS's sysctl.
        assert!(c.peer_allowed("10.0.0.7".parse().unwrap()) && !c.peer_allowed("10.1.0.7".parse().unwrap()));
        let c = parse("[sync]\ninterface = \"lan\"\npeers = [\"192.0.2.0/28\", \"198.51.100.9\"]\npersist_mode = 1\n")
            .unwrap()
            .sync
            .unwrap();
        let allowed = |a: &str| c.peer_allowed(a.parse().unwrap());
        assert!(allowed("192.0.2.15") && allowed("198.51.100.9"));
        assert!(!allowed("192.0.2.16") && !allowed("198.51.100.10") && !allowed("10.0.0.7"));
        assert!(c.policy.persist_mode());
        // An IPv6 group; IPv6 peers, and by default the link's link-local senders.
        let c = parse("[sync]\ninterface = \"lan\"\ngroup = \"ff02::81\"\n").unwrap().sync.unwrap();
        assert_eq!(c.group.to_string(), "ff02::81");
        assert!(c.peer_allowed("fe80::1:2".parse().unwrap()) && !c.peer_allowed("2001:db8::9".parse().unwrap()));
        let c = parse("[sync]\ninterface = \"lan\"\ngroup = \"ff05::81\"\npeers = [\"2001:db8:5::/48\"]\n")
            .unwrap()
            .sync
            .unwrap();
        assert!(c.peer_allowed("2001:db8:5:1::9".parse().unwrap()) && !c.peer_allowed("fe80::1".parse().unwrap()));
        assert!(!c.peer_allowed("10.0.0.7".parse().unwrap()), "named peers only");
        for (extra, key, msg) in [
            ("[sync]\ninterface = \"wan\"\n", "sync.interface", "no [[port]]"),
            ("[sync]\ninterface = \"bare\"\n", "sync.interface", "exception = true"),
            ("[sync]\ninterface = \"lan\"\nthreshold = [50, 50]\n", "sync.threshold", "below"),
            ("[sync]\ninterface = \"lan\"\nthreshold = [3]\n", "sync.threshold", "[THRESHOLD, PERIOD]"),
            ("[sync]\ninterface = \"lan\"\nmaxlen = 20\n", "sync.maxlen", "80"),
            // Review defect 9: 44..=79 bytes hold an IPv4 record but no IPv6 one.
            ("[sync]\ninterface = \"lan\"\nmaxlen = 60\n", "sync.maxlen", "an IPv6 record"),
            ("[sync]\ninterface = \"lan\"\npeers = [\"10.0.0.300\"]\n", "sync.peers", "address or prefix"),
            ("[sync]\ninterface = \"lan\"\npersist_mode = 2\n", "sync.persist_mode", "0 or 1"),
            ("[sync]\ninterface = \"lan\"\nrole = \"primary\"\n", "sync.role", "master, backup or both"),
            ("[sync]\ninterface = \"lan\"\nretries = 4\n", "sync.retries", "0 ..= 3"),
            ("[sync]\ninterface = \"lan\"\ngroup = \"224.0.0\"\n", "sync.group", "IPv4"),
        ] {
            let e = parse(extra).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.msg.contains(msg), "{e}");
        }
    }
}
