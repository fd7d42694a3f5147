//! rvsadm's command line: ipvsadm's option letters and long names, and rvs's own verbs.

use clap::{ArgGroup, Parser};
use std::path::PathBuf;

#[derive(Parser, Debug, Default)]
#[command(name = "rvsadm", version, about = "ipvsadm's verbs for rvsd", disable_version_flag = true)]
#[command(group(ArgGroup::new("cmd").required(true).args([
    "add_service", "edit_service", "delete_service", "clear", "add_server", "edit_server",
    "delete_server", "list", "zero", "set", "set_knob", "save", "restore", "version", "reload", "start_daemon",
    "stop_daemon", "import_keepalived", "pause_worker", "pause_thread", "man_page", "completions", "check_host",
    "add_mark_rule", "del_mark_rule", "add_laddr", "del_laddr", "get_laddr", "add_snat", "del_snat",
    "add_allow", "del_allow", "add_deny", "del_deny"
])))]
#[command(group(ArgGroup::new("pause").args(["pause_worker", "pause_thread"])))]
pub struct Cli {
    /// Add a virtual service.
    #[arg(short = 'A', long = "add-service")]
    pub add_service: bool,
    /// Edit a virtual service.
    #[arg(short = 'E', long = "edit-service")]
    pub edit_service: bool,
    /// Delete a virtual service.
    #[arg(short = 'D', long = "delete-service")]
    pub delete_service: bool,
    /// Clear every virtual service.
    #[arg(short = 'C', long = "clear")]
    pub clear: bool,
    /// Add a real server.
    #[arg(short = 'a', long = "add-server")]
    pub add_server: bool,
    /// Edit a real server.
    #[arg(short = 'e', long = "edit-server")]
    pub edit_server: bool,
    /// Delete a real server.
    #[arg(short = 'd', long = "delete-server")]
    pub delete_server: bool,
    /// List the table.
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    pub list: bool,
    /// Zero the counters.
    #[arg(short = 'Z', long = "zero")]
    pub zero: bool,
    /// Timeouts: TCP TCPFIN UDP seconds (0 keeps a value).
    #[arg(long = "set", num_args = 3, value_names = ["TCP", "TCPFIN", "UDP"])]
    pub set: Option<Vec<u32>>,
    /// Set one of IPVS's knobs live, as its sysctl is named (conn_reuse_mode, expire_nodest_conn,
    /// schedule_icmp, expire_quiescent_template, sloppy_tcp, sync_persist_mode, ...); -L --knobs
    /// lists them.
    #[arg(long = "set-knob", num_args = 2, value_names = ["NAME", "VALUE"])]
    pub set_knob: Option<Vec<String>>,
    /// With -L: IPVS's knobs and their values.
    #[arg(long = "knobs")]
    pub knobs: bool,
    /// Print the rules, one command per line (for -R).
    #[arg(short = 'S', long = "save")]
    pub save: bool,
    /// Read rules (as -S prints them) from standard input and apply them.
    #[arg(short = 'R', long = "restore")]
    pub restore: bool,
    /// Print the version (ipvsadm's -v; -V is accepted too).
    #[arg(short = 'v', long = "version", visible_short_alias = 'V')]
    pub version: bool,
    /// Make rvsd re-read its configuration file and apply the difference (as SIGHUP).
    #[arg(long = "reload")]
    pub reload: bool,
    /// A TCP service, VIP:PORT.
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT", conflicts_with = "udp")]
    pub tcp: Option<String>,
    /// A UDP service, VIP:PORT.
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT")]
    pub udp: Option<String>,
    /// An SCTP service, VIP:PORT (ipvsadm has no letter for it).
    #[arg(long = "sctp-service", value_name = "VIP:PORT")]
    pub sctp: Option<String>,
    /// Scheduler: rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos.
    #[arg(short = 's', long = "scheduler")]
    pub scheduler: Option<String>,
    /// Persistence, seconds (300 when given without a value).
    #[arg(short = 'p', long = "persistent", num_args = 0..=1, default_missing_value = "300", value_name = "SECONDS")]
    pub persistent: Option<u32>,
    /// Persistence netmask.
    #[arg(short = 'M', long = "netmask")]
    pub netmask: Option<String>,
    /// Real server RIP[:PORT].
    #[arg(short = 'r', long = "real-server", value_name = "RIP[:PORT]")]
    pub real: Option<String>,
    /// Forward by full NAT: both addresses rewritten, the client's to one of the service's
    /// local addresses (DPVS's FNAT; ipvsadm has no letter for it).
    #[arg(long = "fullnat", conflicts_with_all = ["masquerading", "gatewaying", "ipip"])]
    pub fullnat: bool,
    /// Add a FULLNAT local address to a service: -z ADDR [-F PORT] (DPVS's verb).
    #[arg(long = "add-laddr", requires = "laddr")]
    pub add_laddr: bool,
    /// Delete a FULLNAT local address of a service (its connections drain): -z ADDR.
    #[arg(long = "del-laddr", requires = "laddr")]
    pub del_laddr: bool,
    /// List the FULLNAT local addresses (of one service) with their ports in use.
    #[arg(long = "get-laddr")]
    pub get_laddr: bool,
    /// With --add-laddr/--del-laddr: the local address.
    #[arg(short = 'z', long = "laddr", value_name = "ADDR")]
    pub laddr: Option<String>,
    /// With --add-laddr: the dataplane port the address is on (DPVS's -F IFNAME; checked).
    #[arg(short = 'F', long = "ifname", value_name = "PORT")]
    pub ifname: Option<String>,
    /// With -A/-E: FULLNAT TCP tells the real server the client's address as TOA (TCP option
    /// 254, read by the TOA kernel module): on or off.
    #[arg(long = "toa", value_name = "on|off")]
    pub toa: Option<String>,
    /// With -A/-E: FULLNAT TCP puts the PROXY protocol header (v1 or v2; none: off) in front of
    /// the client's first data (DPVS's option).
    #[arg(long = "proxy-protocol", value_name = "v1|v2|none")]
    pub proxy_protocol: Option<String>,
    /// With -A/-E: FULLNAT UDP (IPv4) tells the real server the client's address as UOA (an IP
    /// option, read by DPVS's uoa kernel module): on or off.
    #[arg(long = "uoa", value_name = "on|off")]
    pub uoa: Option<String>,
    /// With -A/-E: the SYN proxy (TCP; NAT and FULLNAT real servers): rvsd answers SYNs with
    /// cookies and opens the connection to the real server only for a client that completed
    /// the handshake. on or off (DPVS's enable or disable too).
    #[arg(short = 'j', long = "synproxy", value_name = "on|off")]
    pub synproxy: Option<String>,
    /// With -A/-E: FULLNAT's local port range, LO-HI (1024-65535 by default).
    #[arg(long = "lports", value_name = "LO-HI")]
    pub lports: Option<String>,
    /// Forward by masquerading (NAT).
    #[arg(short = 'm', long = "masquerading", conflicts_with_all = ["gatewaying", "ipip"])]
    pub masquerading: bool,
    /// Forward by direct routing (DR, the default).
    #[arg(short = 'g', long = "gatewaying", conflicts_with = "ipip")]
    pub gatewaying: bool,
    /// Forward by IP-in-IP tunnelling (TUN).
    #[arg(short = 'i', long = "ipip")]
    pub ipip: bool,
    /// Weight.
    #[arg(short = 'w', long = "weight")]
    pub weight: Option<u32>,
    /// Numeric output (rvsadm never resolves names).
    #[arg(short = 'n', long = "numeric")]
    pub numeric: bool,
    /// With -L: traffic counters.
    #[arg(long = "stats")]
    pub stats: bool,
    /// With -L: rates.
    #[arg(long = "rate")]
    pub rate: bool,
    /// With -L: connections.
    #[arg(short = 'c', long = "connection")]
    pub connection: bool,
    /// With -L: timeouts.
    #[arg(long = "timeout")]
    pub timeout: bool,
    /// With -L: exact numbers (rvsadm always prints them).
    #[arg(short = 'X', long = "exact")]
    pub exact: bool,
    /// With -L: keep the daemon's order instead of sorting services and real servers.
    #[arg(long = "nosort")]
    pub nosort: bool,
    /// With -L: sort (the default; accepted for ipvsadm compatibility).
    #[arg(long = "sort")]
    pub sort: bool,
    /// Output format: json (long option only: -o is ipvsadm's --ops).
    #[arg(long = "output", value_name = "FORMAT")]
    pub output: Option<String>,
    /// Upper connection threshold of a real server: at this many connections it gets no new
    /// ones (0 = none).
    #[arg(short = 'x', long = "u-threshold", value_name = "UTHRESHOLD")]
    pub u_threshold: Option<u32>,
    /// Lower connection threshold: an overloaded real server takes new connections again
    /// below it (0: below 3/4 of the upper).
    #[arg(short = 'y', long = "l-threshold", value_name = "LTHRESHOLD")]
    pub l_threshold: Option<u32>,
    /// With -a/-e (rvs): the real server's weight ramps from 1 to its weight over SECONDS
    /// after it is added, recovers from a failed check or gets a weight above 0 again (0: off).
    #[arg(long = "slow-start", value_name = "SECONDS")]
    pub slow_start: Option<u32>,
    /// With -e (rvs): drain the real server: weight 0, and rvsd deletes it once its
    /// connections have ended (or at --deadline).
    #[arg(long = "drain")]
    pub drain: bool,
    /// With -i: the tunnel type, ipip (default), gue or gre.
    #[arg(long = "tun-type", value_name = "TYPE")]
    pub tun_type: Option<String>,
    /// With --tun-type gue: the UDP destination port.
    #[arg(long = "tun-port", value_name = "PORT")]
    pub tun_port: Option<u16>,
    /// Tunnel encapsulation without checksum (the default; gue and gre).
    #[arg(long = "tun-nocsum", group = "tun_checksum")]
    pub tun_nocsum: bool,
    /// Tunnel encapsulation with checksum (gue and gre).
    #[arg(long = "tun-csum", group = "tun_checksum")]
    pub tun_csum: bool,
    /// Tunnel encapsulation with remote checksum offload (gue).
    #[arg(long = "tun-remcsum", group = "tun_checksum")]
    pub tun_remcsum: bool,
    /// With -L: the real servers' tunnel information (TunnelInfo).
    #[arg(long = "tun-info")]
    pub tun_info: bool,
    /// With --drain: delete the real server after SECONDS whatever its connections.
    #[arg(long = "deadline", value_name = "SECONDS", requires = "drain")]
    pub deadline: Option<u32>,
    /// Start a connection sync daemon role: master or backup.
    #[arg(long = "start-daemon", value_name = "STATE")]
    pub start_daemon: Option<String>,
    /// Stop a connection sync daemon role: master or backup.
    #[arg(long = "stop-daemon", value_name = "STATE")]
    pub stop_daemon: Option<String>,
    /// Print the manual page (roff) and exit.
    #[arg(long = "man-page", hide = true)]
    pub man_page: bool,
    /// Print the shell completion script for SHELL (bash, zsh, fish, ...) and exit.
    #[arg(long = "completions", value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,
    /// Fault injection (rvs): worker N stops polling for --for MS milliseconds, so that a
    /// supervisor's watchdog (systemd's WatchdogSec) can be seen to act.
    #[arg(long = "pause-worker", value_name = "N")]
    pub pause_worker: Option<usize>,
    /// Fault injection (rvs): control-plane thread NAME (control, health, sync, vip, neighbours)
    /// stops its loop for --for MS milliseconds, so that the watchdog can be seen to act.
    #[arg(long = "pause-thread", value_name = "NAME")]
    pub pause_thread: Option<String>,
    /// With --pause-worker or --pause-thread: how long, in milliseconds (1 ..= 60000).
    #[arg(long = "for", value_name = "MS", requires = "pause", default_value_t = 5000)]
    pub pause_ms: u64,
    /// With --start-daemon: the port (or its exception interface) the sync datagrams use.
    #[arg(long = "mcast-interface", value_name = "INTERFACE")]
    pub mcast_interface: Option<String>,
    /// With --start-daemon: the sync group id (0..=255).
    #[arg(long = "syncid", value_name = "SYNCID")]
    pub syncid: Option<u8>,
    /// With --start-daemon: the largest sync datagram.
    #[arg(long = "sync-maxlen", value_name = "LENGTH")]
    pub sync_maxlen: Option<usize>,
    /// With --start-daemon: the multicast group (or a unicast peer).
    #[arg(long = "mcast-group", value_name = "ADDRESS")]
    pub mcast_group: Option<String>,
    /// With --start-daemon: the UDP port.
    #[arg(long = "mcast-port", value_name = "PORT")]
    pub mcast_port: Option<u16>,
    /// With --start-daemon: the multicast TTL.
    #[arg(long = "mcast-ttl", value_name = "TTL")]
    pub mcast_ttl: Option<u8>,
    /// Print keepalived.conf's virtual_server blocks as rvs.toml services (what cannot be carried
    /// over is named on standard error).
    #[arg(long = "import-keepalived", value_name = "FILE")]
    pub import_keepalived: Option<PathBuf>,
    /// Say what this host still lacks for rvsd's DPDK ports (hugepages, IOMMU and vfio-pci,
    /// NIC binding, isolated CPUs, NUMA placement), with the command that fixes each; reads the
    /// configuration (--config) for the ports and workers. Changes nothing; exit status 1 when
    /// something is missing.
    #[arg(long = "check-host")]
    pub check_host: bool,
    /// With -L: the sync daemon roles running.
    #[arg(long = "daemon")]
    pub daemon: bool,
    /// With -L: the real servers' connection thresholds.
    #[arg(long = "thresholds")]
    pub thresholds: bool,
    /// With -L: the real servers' persistence templates (PersistConn).
    #[arg(long = "persistent-conn")]
    pub persistent_conn: bool,
    /// One-packet scheduling of a UDP service: each datagram scheduled on its own, no
    /// connection entry. `-o` turns it on; on -E, `--ops=off` turns it off (absent: unchanged).
    #[arg(short = 'o', long = "ops", num_args = 0..=1, require_equals = true, default_missing_value = "on",
          value_name = "on|off")]
    pub ops: Option<String>,
    /// A firewall-mark service: the packets rvsd's classifier rules (--add-mark-rule) mark
    /// FWMARK, whatever their VIP and port.
    #[arg(short = 'f', long = "fwmark-service", value_name = "FWMARK", conflicts_with_all = ["tcp", "udp", "sctp"])]
    pub fwmark: Option<String>,
    /// With -f: the firewall-mark service is of the IPv6 family.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Add a firewall-mark classifier rule (rvs; IPVS leaves marking to iptables): packets to
    /// --dst on --dports of --proto, without a connection, are marked -f MARK. Rules are
    /// matched in order, first match wins.
    #[arg(long = "add-mark-rule", requires = "dst")]
    pub add_mark_rule: bool,
    /// Delete a firewall-mark classifier rule (given as it was added).
    #[arg(long = "del-mark-rule", requires = "dst")]
    pub del_mark_rule: bool,
    /// With --add/--del-mark-rule: the destination address or prefix (198.18.0.100, 198.18.0.0/24).
    #[arg(long = "dst", value_name = "PREFIX")]
    pub dst: Option<String>,
    /// With --add/--del-mark-rule: destination ports, e.g. 80,443 or 8000-8099 (absent: all).
    #[arg(long = "dports", value_name = "PORTS")]
    pub dports: Option<String>,
    /// With --add/--del-mark-rule: tcp or udp (absent: both).
    #[arg(long = "proto", value_name = "PROTOCOL")]
    pub proto: Option<String>,
    /// With -L: the firewall-mark classifier's rules, in order.
    #[arg(long = "mark-rules")]
    pub mark_rules: bool,
    /// Add a SNAT rule (DPVS's SNAT mode): hosts of --source reach the outside from --pool's
    /// addresses (optionally only --proto tcp|udp|icmp, only out of -F PORT, --lports LO-HI,
    /// --mapping, --filtering). Rules are matched in order, first match wins.
    #[arg(long = "add-snat", requires_all = ["source", "pool"])]
    pub add_snat: bool,
    /// Delete the SNAT rule matching --source (and --proto, -F as it was added).
    #[arg(long = "del-snat", requires = "source")]
    pub del_snat: bool,
    /// With --add/--del-snat: the inside hosts' IPv4 prefix (10.1.0.0/16).
    #[arg(long = "source", value_name = "PREFIX")]
    pub source: Option<String>,
    /// With --add-snat: the public addresses, comma-separated.
    #[arg(long = "pool", value_name = "ADDRS")]
    pub pool: Option<String>,
    /// With --add-snat: endpoint-independent (default) or address-and-port-dependent (RFC 4787).
    #[arg(long = "mapping", value_name = "BEHAVIOUR")]
    pub mapping: Option<String>,
    /// With --add-snat: address-and-port-dependent (default) or endpoint-independent (RFC 4787).
    #[arg(long = "filtering", value_name = "BEHAVIOUR")]
    pub filtering: Option<String>,
    /// With -L: the SNAT rules, in order, with their counts.
    #[arg(long = "snat")]
    pub snat: bool,
    /// Add prefixes (comma-separated; or --from-file) to the allow list of -t/-u/-f's service,
    /// or the director's without one.
    #[arg(long = "add-allow", value_name = "PREFIXES", num_args = 0..=1, default_missing_value = "")]
    pub add_allow: Option<String>,
    /// Take prefixes from an allow list (as --add-allow).
    #[arg(long = "del-allow", value_name = "PREFIXES", num_args = 0..=1, default_missing_value = "")]
    pub del_allow: Option<String>,
    /// Add prefixes to a deny list (as --add-allow).
    #[arg(long = "add-deny", value_name = "PREFIXES", num_args = 0..=1, default_missing_value = "")]
    pub add_deny: Option<String>,
    /// Take prefixes from a deny list (as --add-allow).
    #[arg(long = "del-deny", value_name = "PREFIXES", num_args = 0..=1, default_missing_value = "")]
    pub del_deny: Option<String>,
    /// With --add/--del-allow/-deny: also the prefixes of this file (one a line, # comments).
    #[arg(long = "from-file", value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// With -L: the client prefixes with the most connections, under services' per-client limits.
    #[arg(long = "clients")]
    pub clients: bool,
    /// With -L: the allow and deny lists (the director's, each service's), with how many new
    /// connections each refused.
    #[arg(long = "access")]
    pub access: bool,
    /// Scheduler flags: sh-fallback,sh-port for sh; mh-fallback,mh-port for mh; flag-1..3.
    #[arg(short = 'b', long = "sched-flags", value_name = "FLAGS")]
    pub sched_flags: Option<String>,
    /// The persistence engine: sip (persistence by a UDP datagram's SIP Call-ID instead of the
    /// client's network; needs -p); on -E, none drops it.
    #[arg(long = "pe", value_name = "ENGINE")]
    pub pe: Option<String>,
    /// JSON output (same as --output json).
    #[arg(long = "json")]
    pub json: bool,
    /// rvsd's control socket (default: [control] socket of --config, else /run/rvs/rvs.sock).
    #[arg(long = "socket")]
    pub socket: Option<PathBuf>,
    /// rvsd's configuration, to find its control socket.
    #[arg(long = "config", default_value = "/etc/rvs/rvs.toml")]
    pub config: PathBuf,
}
