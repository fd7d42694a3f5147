//! The file as serde reads it: every section and key, positions kept (`Spanned`) for error
//! messages, unknown keys refused. Validation into [`super::Config`] is the parent module's.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) dataplane: Option<RawDataplane>,
    #[serde(default)]
    pub(super) port: Vec<RawPort>,
    pub(super) control: Option<RawControl>,
    pub(super) timeouts: Option<RawTimeouts>,
    pub(super) overload: Option<RawOverload>,
    /// `[synproxy]`: the SYN proxy's answers and limits.
    pub(super) synproxy: Option<Spanned<super::synproxy_conf::RawSynProxy>>,
    pub(super) sync: Option<RawSync>,
    pub(super) ha: Option<RawHa>,
    pub(super) ipvs: Option<RawIpvs>,
    #[serde(default)]
    pub(super) service: Vec<RawService>,
    #[serde(default)]
    pub(super) neighbour: Vec<RawNeighbour>,
    /// `[[fwmark]]`: the firewall-mark classifier's rules, in order.
    #[serde(default)]
    pub(super) fwmark: Vec<RawMarkRule>,
    /// `[access]`: the director's allow and deny lists.
    pub(super) access: Option<RawAccess>,
    /// `[[snat]]`: SNAT rules, in order (the control protocol's spec, positions kept).
    #[serde(default)]
    pub(super) snat: Vec<Spanned<crate::control::snat_rules::SnatRuleSpec>>,
}

/// One `[[fwmark]]` rule: packets to `destination` (a prefix) on `ports` (numbers or
/// `"LO-HI"` strings; all when absent) of `protocol` (both when absent) carry `mark`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMarkRule {
    pub(super) mark: Spanned<u32>,
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) destination: Spanned<String>,
    pub(super) ports: Option<Spanned<Vec<toml::Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDataplane {
    #[serde(default)]
    pub(super) eal_args: Vec<String>,
    pub(super) lcores: Option<Spanned<Vec<u32>>>,
    #[serde(default)]
    pub(super) busy_poll: bool,
    pub(super) conn_capacity: Option<Spanned<usize>>,
    pub(super) mbufs: Option<Spanned<u32>>,
    pub(super) steer_prefix: Option<Spanned<u8>>,
    pub(super) steer_prefix6: Option<Spanned<u8>>,
    pub(super) conn6_capacity: Option<Spanned<usize>>,
}

/// `[ipvs]`: IPVS's sysctl knobs that act on packets (`rvs_core::knobs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIpvs {
    pub(super) conn_reuse_mode: Option<Spanned<u32>>,
    pub(super) expire_quiescent_template: Option<Spanned<u32>>,
    pub(super) nat_icmp_send: Option<Spanned<u32>>,
    pub(super) ignore_tunneled: Option<Spanned<u32>>,
    pub(super) pmtu_disc: Option<Spanned<u32>>,
    pub(super) backup_only: Option<Spanned<u32>>,
    pub(super) expire_nodest_conn: Option<Spanned<u32>>,
    pub(super) schedule_icmp: Option<Spanned<u32>>,
    pub(super) sloppy_sctp: Option<Spanned<u32>>,
    pub(super) sync_version: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHa {
    pub(super) mode: Option<Spanned<String>>,
    pub(super) sloppy_tcp: Option<bool>,
    pub(super) sloppy_udp: Option<Spanned<bool>>,
    pub(super) vip_rescan_ms: Option<Spanned<u64>>,
    pub(super) announce_grace: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    pub(super) interface: Spanned<String>,
    pub(super) syncid: Option<u8>,
    pub(super) group: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<u16>>,
    pub(super) ttl: Option<Spanned<u8>>,
    pub(super) maxlen: Option<Spanned<usize>>,
    pub(super) threshold: Option<Spanned<Vec<u32>>>,
    pub(super) refresh_period: Option<u32>,
    pub(super) retries: Option<Spanned<u32>>,
    pub(super) role: Option<Spanned<String>>,
    pub(super) peers: Option<Vec<Spanned<String>>>,
    pub(super) persist_mode: Option<Spanned<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverload {
    pub(super) pressure_percent: Option<Spanned<u8>>,
    pub(super) syn_timeout: Option<Spanned<u32>>,
    pub(super) stateless_fallback: Option<bool>,
    pub(super) new_conn_rate: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub(super) name: Spanned<String>,
    pub(super) device: Spanned<String>,
    /// `"10.0.0.1/24"`, or a list with one IPv4 and one IPv6 CIDR for a dual-stack port.
    pub(super) address: Spanned<toml::Value>,
    /// One next hop, or a list with one of each family.
    pub(super) gateway: Option<Spanned<toml::Value>>,
    pub(super) mtu: Option<Spanned<u16>>,
    /// Hand traffic that is not for a VIP or connection to the kernel through a TAP device.
    #[serde(default)]
    pub(super) exception: bool,
    /// The kernel-side name of that TAP device (default: the port's name).
    pub(super) exception_iface: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub(super) socket: Option<String>,
    pub(super) metrics: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub(super) tcp: Option<Spanned<u32>>,
    pub(super) tcpfin: Option<Spanned<u32>>,
    pub(super) udp: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) protocol: Option<Spanned<String>>,
    pub(super) vip: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<u16>>,
    /// A firewall-mark service (instead of protocol, vip and port).
    pub(super) fwmark: Option<Spanned<u32>>,
    /// A firewall-mark service's family: `ipv4` (default) or `ipv6` (ipvsadm's `-6`).
    pub(super) family: Option<Spanned<String>>,
    pub(super) scheduler: Option<Spanned<String>>,
    pub(super) sched_flags: Option<Spanned<String>>,
    pub(super) persistence: Option<Spanned<u32>>,
    pub(super) netmask: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) ops: bool,
    /// The persistence engine: `sip` (ipvsadm's `--pe sip`).
    pub(super) pe: Option<Spanned<String>>,
    /// FULLNAT's local addresses.
    #[serde(default)]
    pub(super) laddrs: Vec<Spanned<String>>,
    /// FULLNAT's local port range, `"LO-HI"`.
    pub(super) lports: Option<Spanned<String>>,
    /// FULLNAT TCP: the client's address to the real server as TOA (option 254).
    #[serde(default)]
    pub(super) toa: bool,
    /// FULLNAT TCP: the PROXY protocol header, `v1` or `v2` (`none`: off).
    pub(super) proxy_protocol: Option<Spanned<String>>,
    /// FULLNAT UDP (IPv4): the client's address to the real server as UOA.
    #[serde(default)]
    pub(super) uoa: bool,
    /// TCP: the SYN proxy answers SYNs with cookies (NAT and FULLNAT real servers).
    pub(super) synproxy: Option<Spanned<bool>>,
    /// The service's allow and deny lists: prefixes, and files of prefixes.
    pub(super) allow: Option<Spanned<Vec<String>>>,
    pub(super) allow_files: Option<Spanned<Vec<String>>>,
    pub(super) deny: Option<Spanned<Vec<String>>>,
    pub(super) deny_files: Option<Spanned<Vec<String>>>,
    /// Per client prefix: most connections, new connections a second.
    pub(super) client_limit: Option<Spanned<RawClientLimit>>,
    #[serde(default)]
    pub(super) real: Vec<RawReal>,
}

/// A service's `client_limit = { ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClientLimit {
    #[serde(default)]
    pub(super) max_conns: u32,
    #[serde(default)]
    pub(super) rate: u32,
    pub(super) prefix: Option<u8>,
    pub(super) prefix6: Option<u8>,
    pub(super) over: Option<String>,
}

/// `[access]`: the director's allow and deny lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccess {
    pub(super) allow: Option<Spanned<Vec<String>>>,
    pub(super) allow_files: Option<Spanned<Vec<String>>>,
    pub(super) deny: Option<Spanned<Vec<String>>>,
    pub(super) deny_files: Option<Spanned<Vec<String>>>,
    /// Drop every packet from the deny list's sources before any table.
    #[serde(default)]
    pub(super) blackhole: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReal {
    pub(super) address: Spanned<String>,
    pub(super) port: Option<u16>,
    pub(super) weight: Option<Spanned<u32>>,
    pub(super) u_threshold: Option<Spanned<u32>>,
    pub(super) l_threshold: Option<Spanned<u32>>,
    pub(super) forward: Option<Spanned<String>>,
    pub(super) slow_start: Option<Spanned<u32>>,
    pub(super) tun_type: Option<Spanned<String>>,
    pub(super) tun_port: Option<u16>,
    #[serde(default)]
    pub(super) tun_nocsum: bool,
    #[serde(default)]
    pub(super) tun_csum: bool,
    #[serde(default)]
    pub(super) tun_remcsum: bool,
    pub(super) check: Option<Spanned<RawCheck>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub(super) kind: Spanned<String>,
    pub(super) interval: Option<u32>,
    pub(super) timeout: Option<u32>,
    pub(super) rise: Option<u32>,
    pub(super) fall: Option<u32>,
    pub(super) port: Option<u16>,
    pub(super) path: Option<String>,
    pub(super) expect: Option<u16>,
    pub(super) action: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbour {
    pub(super) address: Spanned<String>,
    pub(super) mac: Spanned<String>,
}
