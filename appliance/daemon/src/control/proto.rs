//! The control protocol: one JSON request per line, one JSON reply per line
//! (`{"ok":true,"result":...}` or `{"ok":false,"error":"..."}`). rvsadm is a thin client of it;
//! a script can speak it directly, e.g.
//! `{"op":"add_real","service":{"protocol":"tcp","address":"10.0.0.100:80"},"address":"10.0.1.11:8080","forward":"nat","weight":2}`.

use super::live_config::SvcKey;
pub use super::request_opts::{real_opts, svc_opts, LifeArgs, TunArgs};
use rvs_core::service::Protocol;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A service named by protocol and `VIP:PORT`, or a firewall-mark service by
/// `{"protocol":"fwmark","address":"MARK"}` (`"ipv6":true` for ipvsadm's `-f MARK -6`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SvcSpec {
    /// `tcp`, `udp` or `fwmark`.
    pub protocol: String,
    /// `VIP:PORT`, or the mark.
    pub address: String,
    /// A firewall-mark service of the IPv6 family.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// `-A`.
    AddService {
        /// The service.
        service: SvcSpec,
        /// `-s`.
        scheduler: Option<String>,
        /// `-b` (ipvsadm's names, comma-separated).
        #[serde(default)]
        sched_flags: Option<String>,
        /// `-p` seconds.
        persistence: Option<u32>,
        /// `-M` dotted netmask.
        netmask: Option<String>,
        /// `-o`: one-packet scheduling on or off (None: unchanged; off on `-A`).
        #[serde(default)]
        ops: Option<bool>,
        /// `--pe`: the persistence engine, `sip`, or `none` to drop it (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pe: Option<String>,
        /// `--lports LO-HI`: FULLNAT's local port range (None: unchanged; 1024-65535 on `-A`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lports: Option<String>,
        /// `--toa on|off`: FULLNAT TCP tells the real server the client as TOA (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        toa: Option<bool>,
        /// `--proxy-protocol v1|v2|none`: FULLNAT TCP's PROXY protocol header (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proxy_protocol: Option<String>,
        /// `--uoa on|off`: FULLNAT UDP tells the real server the client as UOA (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uoa: Option<bool>,
        /// `--synproxy on|off`: the SYN proxy (None: unchanged; off on `-A`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        synproxy: Option<bool>,
    },
    /// `-E`.
    EditService {
        /// The service.
        service: SvcSpec,
        /// `-s`.
        scheduler: Option<String>,
        /// `-b` (ipvsadm's names, comma-separated).
        #[serde(default)]
        sched_flags: Option<String>,
        /// `-p` seconds.
        persistence: Option<u32>,
        /// `-M` dotted netmask.
        netmask: Option<String>,
        /// `-o`: one-packet scheduling on or off (None: unchanged; off on `-A`).
        #[serde(default)]
        ops: Option<bool>,
        /// `--pe`: the persistence engine, `sip`, or `none` to drop it (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pe: Option<String>,
        /// `--lports LO-HI`: FULLNAT's local port range (None: unchanged; 1024-65535 on `-A`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lports: Option<String>,
        /// `--toa on|off`: FULLNAT TCP tells the real server the client as TOA (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        toa: Option<bool>,
        /// `--proxy-protocol v1|v2|none`: FULLNAT TCP's PROXY protocol header (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proxy_protocol: Option<String>,
        /// `--uoa on|off`: FULLNAT UDP tells the real server the client as UOA (None: unchanged).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uoa: Option<bool>,
        /// `--synproxy on|off`: the SYN proxy (None: unchanged; off on `-A`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        synproxy: Option<bool>,
    },
    /// `-D`.
    DelService {
        /// The service.
        service: SvcSpec,
    },
    /// `-C`.
    Clear,
    /// `-a`.
    AddReal {
        /// The service.
        service: SvcSpec,
        /// `RIP` or `RIP:PORT`.
        address: String,
        /// `nat`, `dr` or `tun`.
        forward: Option<String>,
        /// `-w`.
        weight: Option<u32>,
        /// `-x`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        u_threshold: Option<u32>,
        /// `-y`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        l_threshold: Option<u32>,
        /// `--slow-start SECS` (0: off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slow_start: Option<u32>,
        /// `--drain`: rvsd deletes the real server once its connections end.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drain: bool,
        /// `--deadline SECS` with `--drain`: deleted then, whatever its connections.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<u32>,
        /// `--tun-type ipip|gue|gre`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tun_type: Option<String>,
        /// `--tun-port` (GUE).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tun_port: Option<u16>,
        /// `nocsum`, `csum` or `remcsum` (`--tun-nocsum`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tun_csum: Option<String>,
    },
    /// `-e`.
    EditReal {
        /// The service.
        service: SvcSpec,
        /// `RIP` or `RIP:PORT`.
        address: String,
        /// `nat`, `dr` or `tun`.
        forward: Option<String>,
        /// `-w`.
        weight: Option<u32>,
        /// `-x`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        u_threshold: Option<u32>,
        /// `-y`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        l_threshold: Option<u32>,
        /// `--slow-start SECS` (0: off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slow_start: Option<u32>,
        /// `--drain`: rvsd deletes the real server once its connections end.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        drain: bool,
        /// `--deadline SECS` with `--drain`: deleted then, whatever its connections.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<u32>,
        /// `--tun-type ipip|gue|gre`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tun_type: Option<String>,
        /// `--tun-port` (GUE).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tun_port: Option<u16>,
        /// `nocsum`, `csum` or `remcsum` (`--tun-nocsum`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tun_csum: Option<String>,
    },
    /// `-d`.
    DelReal {
        /// The service.
        service: SvcSpec,
        /// `RIP` or `RIP:PORT`.
        address: String,
    },
    /// `-L`: services, real servers, counts and stats.
    List {
        /// Only this service.
        service: Option<SvcSpec>,
    },
    /// `-Z`: zero the counters.
    Zero {
        /// Only this service.
        service: Option<SvcSpec>,
    },
    /// `--set`.
    SetTimeouts {
        /// ESTABLISHED seconds (0 = unchanged).
        tcp: u32,
        /// FIN_WAIT seconds (0 = unchanged).
        tcpfin: u32,
        /// UDP seconds (0 = unchanged).
        udp: u32,
    },
    /// `-L --timeout`.
    Timeouts,
    /// `--add-mark-rule`: firewall-mark classifier rules (one per port range), appended.
    AddMarkRule {
        /// The rule.
        rule: super::mark_rules::MarkRuleSpec,
    },
    /// `--del-mark-rule`: removes them.
    DelMarkRule {
        /// The rule.
        rule: super::mark_rules::MarkRuleSpec,
    },
    /// `-L --mark-rules`: the classifier's rules in order.
    MarkRules,
    /// `--add-snat`: a SNAT rule, appended.
    AddSnat {
        /// The rule.
        rule: super::snat_rules::SnatRuleSpec,
    },
    /// `--del-snat`: removes the rule matching what this one matches.
    DelSnat {
        /// The rule.
        rule: super::snat_rules::SnatRuleSpec,
    },
    /// `-L --snat`: the SNAT rules in order, with their counts.
    Snat,
    /// `--add-allow/--del-allow/--add-deny/--del-deny`: edits an allow or deny list.
    EditAccess {
        /// The service whose list it is (absent: the director's).
        #[serde(default)]
        service: Option<SvcSpec>,
        /// `allow` or `deny`.
        list: String,
        /// Add (else delete).
        add: bool,
        /// Prefixes (`ADDR/LEN`, or an address).
        prefixes: Vec<String>,
    },
    /// `--add-laddr`: a FULLNAT local address for a service (DPVS's `-z ADDR [-F PORT]`).
    AddLaddr {
        /// The service.
        service: SvcSpec,
        /// The address.
        laddr: String,
        /// The dataplane port it is on (checked when given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ifname: Option<String>,
    },
    /// `--del-laddr`: takes it away; its connections drain.
    DelLaddr {
        /// The service.
        service: SvcSpec,
        /// The address.
        laddr: String,
    },
    /// `--get-laddr`: the local addresses (of one service), with their ports in use.
    GetLaddr {
        /// Only this service's.
        #[serde(default)]
        service: Option<SvcSpec>,
    },
    /// `-L --knobs`: IPVS's knobs and their values.
    Knobs,
    /// `--set-knob NAME VALUE`: one of IPVS's knobs, live.
    SetKnob {
        /// The knob, as the sysctl is named (`conn_reuse_mode`, ...).
        name: String,
        /// Its new value, as the sysctl takes it.
        value: String,
    },
    /// `-L -c`: the connections of every worker.
    Connections,
    /// Re-read the configuration file and apply the difference (also on SIGHUP).
    Reload,
    /// `--start-daemon master|backup`: start a sync role (options as ipvsadm's; unset ones
    /// keep the `[sync]` settings or IPVS's defaults).
    StartDaemon {
        /// `master` or `backup`.
        state: String,
        /// `--mcast-interface`: the port (or its exception interface) the datagrams use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mcast_interface: Option<String>,
        /// `--syncid`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        syncid: Option<u8>,
        /// `--sync-maxlen`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sync_maxlen: Option<usize>,
        /// `--mcast-group`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mcast_group: Option<String>,
        /// `--mcast-port`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mcast_port: Option<u16>,
        /// `--mcast-ttl`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mcast_ttl: Option<u8>,
    },
    /// `--stop-daemon master|backup`.
    StopDaemon {
        /// `master` or `backup`.
        state: String,
    },
    /// `-L --daemon`: the sync roles running.
    Daemons,
    /// `--pause-worker N --for MS`: fault injection for supervision tests — worker `worker`
    /// stops polling (and beating) for `ms` milliseconds, so systemd's watchdog sees it stall.
    PauseWorker {
        /// The worker's index.
        worker: usize,
        /// How long (1 ..= 60000 ms).
        ms: u64,
    },
    /// `--pause-thread NAME --for MS`: fault injection for supervision tests — control-plane
    /// thread `thread` (control, health, sync, vip, neighbours) stops its loop for `ms`
    /// milliseconds, so systemd's watchdog sees it stall.
    PauseThread {
        /// The thread's name.
        thread: String,
        /// How long (1 ..= 60000 ms).
        ms: u64,
    },
}

/// One running sync role, as `-L --daemon` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonReply {
    /// `master` or `backup`.
    pub state: String,
    /// The exception interface the datagrams use.
    pub mcast_ifn: String,
    /// The port it belongs to.
    pub port: String,
    /// Sync group id.
    pub syncid: u8,
    /// Largest datagram.
    pub maxlen: usize,
    /// Multicast group (or unicast peer).
    pub group: String,
    /// UDP port.
    pub mcast_port: u16,
    /// TTL.
    pub ttl: u8,
}

/// A reply: `{"ok":true,"result":...}` or `{"ok":false,"error":"..."}`. The server writes it,
/// rvsadm reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply<T> {
    /// Whether the request was carried out.
    pub ok: bool,
    /// What it gave (a listing, a message), when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// Why not, when it was refused (nothing changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Reply<T> {
    /// A reply carrying `result`.
    pub fn ok(result: T) -> Self {
        Reply { ok: true, result: Some(result), error: None }
    }

    /// A refusal saying why.
    pub fn refused(why: impl std::fmt::Display) -> Self {
        Reply { ok: false, result: None, error: Some(why.to_string()) }
    }

    /// The result, or the refusal as an error.
    pub fn into_result(self) -> Result<Option<T>, String> {
        if self.ok {
            Ok(self.result)
        } else {
            Err(self.error.unwrap_or_else(|| "request refused".into()))
        }
    }
}

/// One connection of a `connections` reply (`-L -c`), as the server writes it
/// ([`crate::conn_list::ConnRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnEntry {
    /// tcp or udp.
    pub protocol: String,
    /// CIP:cport.
    pub source: String,
    /// VIP:vport.
    #[serde(rename = "virtual")]
    pub virtual_: String,
    /// LIP:lport of a FULLNAT connection (what the real server sees as the client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
    /// RIP:rport.
    pub destination: String,
    /// The state as IPVS names it.
    pub state: String,
    /// Seconds until it expires without traffic.
    pub expires_in: u32,
    /// The worker holding it.
    pub core: usize,
}

/// A `timeouts` reply (`-L --timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutsReply {
    /// ESTABLISHED seconds.
    pub tcp: u32,
    /// FIN_WAIT seconds.
    pub tcpfin: u32,
    /// UDP seconds.
    pub udp: u32,
}

/// Why a request could not even be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {msg}")]
pub struct BadRequest {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub msg: String,
}

pub(super) fn bad(field: &'static str, msg: impl Into<String>) -> BadRequest {
    BadRequest { field, msg: msg.into() }
}

impl SvcSpec {
    /// The service key.
    pub fn key(&self) -> Result<SvcKey, BadRequest> {
        if self.protocol == "fwmark" {
            let mark = self.address.parse::<u32>().ok().filter(|&m| m > 0).ok_or_else(|| {
                bad("service.address", format!("{:?}: expected a firewall mark 1..=4294967295", self.address))
            })?;
            return Ok(SvcKey::mark(mark, self.ipv6));
        }
        if self.ipv6 {
            return Err(bad("service.ipv6", "-6 goes with a firewall-mark service (-f); a VIP has its own family"));
        }
        let protocol: Protocol = self.protocol.parse().map_err(|e| bad("service.protocol", format!("{e}")))?;
        let (vip, port) = parse_addr_port(&self.address, "service.address")?;
        let port = port.ok_or_else(|| bad("service.address", format!("{:?}: expected VIP:PORT", self.address)))?;
        Ok(SvcKey::addr(protocol, vip, port))
    }
}

/// An address with an optional port as ipvsadm writes them: `A.B.C.D`, `A.B.C.D:PORT`, and for
/// IPv6 `[2001:db8::1]:PORT`, `[2001:db8::1]` or `2001:db8::1`.
pub fn parse_addr_port(s: &str, field: &'static str) -> Result<(IpAddr, Option<u16>), BadRequest> {
    let (a, p) = if let Some(rest) = s.strip_prefix('[') {
        let (a, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(field, format!("{s:?}: an IPv6 address in [ ] needs its closing ]")))?;
        match after {
            "" => (a, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (a, Some(p)),
                None => return Err(bad(field, format!("{s:?}: expected [IPV6]:PORT"))),
            },
        }
    } else if s.matches(':').count() > 1 {
        (s, None) // a bare IPv6 address: a port needs the brackets
    } else {
        match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        }
    };
    let ip: IpAddr = a.parse().map_err(|_| bad(field, format!("{s:?}: {a:?} is not an IPv4 or IPv6 address")))?;
    if s.starts_with('[') && ip.is_ipv4() {
        return Err(bad(field, format!("{s:?}: [ ] are for IPv6 addresses")));
    }
    let port = match p {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad(field, format!("{s:?}: {p:?} is not a port 1..=65535")))?,
        ),
    };
    Ok((ip, port))
}

/// A real server's `RIP[:PORT]`: as [`parse_addr_port`], and port 0 too, which a firewall-mark
/// service's real server may have (`-S` writes `RIP:0`: it keeps each packet's port).
pub fn parse_real_addr(s: &str) -> Result<(IpAddr, Option<u16>), BadRequest> {
    for zero in [":0", "]:0"] {
        if let Some(a) = s.strip_suffix(zero) {
            let a = if zero == "]:0" { format!("{a}]") } else { a.to_owned() };
            if let Ok((ip, None)) = parse_addr_port(&a, "address") {
                return Ok((ip, Some(0)));
            }
        }
    }
    parse_addr_port(s, "address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ports_as_ipvsadm_writes_them() {
        let ok = |s: &str| parse_addr_port(s, "f").unwrap();
        assert_eq!(ok("10.0.0.1:80"), ("10.0.0.1".parse().unwrap(), Some(80)));
        assert_eq!(ok("10.0.0.1"), ("10.0.0.1".parse().unwrap(), None));
        assert_eq!(ok("[2001:db8::100]:80"), ("2001:db8::100".parse().unwrap(), Some(80)));
        assert_eq!(ok("[2001:db8::100]"), ("2001:db8::100".parse().unwrap(), None));
        assert_eq!(ok("2001:db8::11"), ("2001:db8::11".parse().unwrap(), None), "bare: no port");
        for bad in
            ["[2001:db8::100:80", "[2001:db8::100]80", "[10.0.0.1]:80", "10.0.0.300:80", "[2001:db8::1]:0", "x:80"]
        {
            let e = parse_addr_port(bad, "service.address").unwrap_err();
            assert_eq!(e.field, "service.address", "{bad}: {e}");
        }
    }

    #[test]
    fn a_netmask_is_dotted_or_a_prefix_length() {
        let m = |s: &str| svc_opts(&None, &None, None, &Some(s.into()), None, &None, &None).map(|o| o.netmask);
        assert_eq!(m("255.255.255.0"), Ok(Some(24)), "ipvsadm's IPv4 -M");
        assert_eq!(m("64"), Ok(Some(64)), "ipvsadm's IPv6 -M (the service's family bounds it)");
        assert_eq!(m("/96"), Ok(Some(96)));
        assert!(m("255.0.255.0").is_err());
        assert!(m("129").is_err());
    }
}
