//! Statistics: the per-core reports summed on request (never shared counters on the hot path),
//! laid out per port, per service and per real server, as JSON.

use crate::config::PortConf;
use crate::port::dpdk::PortStats;
use crate::worker::{IoCounters, WorkerReport};
use rvs_core::pipeline::Stats;
use rvs_core::service::Service;
use rvs_core::{Counters, DropReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Smoothed per-second rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets in per second.
    pub inpps: u64,
    /// Packets out per second.
    pub outpps: u64,
    /// Bytes in per second.
    pub inbps: u64,
    /// Bytes out per second.
    pub outbps: u64,
}

/// A port's counters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortReport {
    /// Configured name.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Dropped by the NIC (rx queues full).
    pub rx_missed: u64,
}

/// A real server's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealReport {
    /// Address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// nat, dr or tun.
    pub forward: String,
    /// Weight in force (0 while its health check fails).
    pub weight: u32,
    /// Weight configured.
    pub configured_weight: u32,
    /// Health: "up", "down", or "unchecked".
    pub health: String,
    /// Seconds since its last health probe ended, and whether that probe passed (checked
    /// servers, once probed).
    #[serde(default)]
    pub last_check: Option<(u64, bool)>,
    /// Upper connection threshold (`-x`; 0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`).
    pub l_threshold: u32,
    /// At its upper threshold: no new connections until below the lower.
    pub overloaded: bool,
    /// Being drained: rvsd deletes it when its connections end (`--drain`).
    #[serde(default)]
    pub draining: bool,
    /// Seconds until a drain's deadline (None: no deadline, or not draining).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_deadline_s: Option<u64>,
    /// Slow start seconds (`--slow-start`; 0 = off).
    #[serde(default)]
    pub slow_start: u32,
    /// Seconds left of its slow start ramp (None: not ramping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp_left_s: Option<u64>,
    /// A TUN real server's tunnel type (`ipip`, `gue`, `gre`; empty for NAT and DR).
    #[serde(default)]
    pub tun_type: String,
    /// GUE's UDP port (0 otherwise).
    #[serde(default)]
    pub tun_port: u16,
    /// Tunnel checksums: `nocsum`, `csum` or `remcsum` (empty for NAT and DR).
    #[serde(default)]
    pub tun_csum: String,
    /// Persistence templates pointing at it (ipvsadm's PersistConn).
    pub persist_conns: u64,
    /// Established connections (all cores).
    pub active: u64,
    /// Other connections.
    pub inactive: u64,
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub pkts_in: u64,
    /// Packets out.
    pub pkts_out: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Smoothed per-second rates.
    pub rates: Rates,
}

/// A tunnel field of a TUN real server, empty for the others.
fn tun_field(d: &rvs_core::service::Dest, f: fn(&rvs_core::service::Tunnel) -> &'static str) -> String {
    if d.forward == rvs_core::service::Forward::Tunnel {
        f(&d.tunnel).to_owned()
    } else {
        String::new()
    }
}

/// `ADDR:PORT` from a listed address, an IPv6 one in brackets (`[2001:db8::1]:80`).
pub fn endpoint(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

/// A service's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceReport {
    /// tcp or udp.
    pub protocol: String,
    /// VIP.
    pub vip: String,
    /// Port.
    pub port: u16,
    /// Scheduler.
    pub scheduler: String,
    /// Scheduler flags as ipvsadm names them (`mh-fallback,mh-port`), empty when none.
    #[serde(default)]
    pub sched_flags: String,
    /// Persistence seconds (0 = off).
    pub persistence: u32,
    /// Persistence netmask as a prefix length.
    pub netmask: u8,
    /// One-packet scheduling (`-o`).
    #[serde(default)]
    pub ops: bool,
    /// Firewall mark (`-f`) of a firewall-mark service (its `protocol` is then `fwmark`, its
    /// `vip` its family's unspecified address, its `port` 0); absent for the others.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fwmark: u32,
    /// The persistence engine (`--pe`): `sip`, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pe: String,
    /// FULLNAT's local addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub laddrs: Vec<String>,
    /// FULLNAT's local port range, `LO-HI`, when not the default.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lports: String,
    /// TOA for FULLNAT TCP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub toa: bool,
    /// The SYN proxy.
    #[serde(default)]
    pub synproxy: bool,
    /// The PROXY protocol for FULLNAT TCP: `v1`, `v2`, or empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub proxy_protocol: String,
    /// UOA for FULLNAT UDP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uoa: bool,
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub pkts_in: u64,
    /// Packets out.
    pub pkts_out: u64,
    /// Bytes in.
    pub bytes_in: u64,
    /// Bytes out.
    pub bytes_out: u64,
    /// Smoothed per-second rates.
    pub rates: Rates,
    /// Whether this director serves the VIP now (always, unless `[ha] mode = "vrrp"` and
    /// keepalived is BACKUP for it).
    #[serde(default = "held_by_default")]
    pub held: bool,
    /// Its real servers.
    pub reals: Vec<RealReport>,
}

impl ServiceReport {
    /// Its Prometheus labels: protocol, vip and port, and a firewall-mark service's `fwmark`.
    pub fn labels(&self) -> String {
        let mut l = format!("protocol=\"{}\",vip=\"{}\",port=\"{}\"", self.protocol, self.vip, self.port);
        if self.fwmark != 0 {
            l += &format!(",fwmark=\"{}\"", self.fwmark);
        }
        l
    }

    /// [`ServiceReport::display_name`] of a configured service.
    pub fn name_of(s: &rvs_core::service::Service) -> String {
        match (s.fwmark, s.vip.is_ipv6()) {
            (0, _) => format!("{} {}", s.protocol.as_str().to_uppercase(), std::net::SocketAddr::new(s.vip, s.port)),
            (m, false) => format!("FWM {m}"),
            (m, true) => format!("FWM {m} IPv6"),
        }
    }

    /// Its name as ipvsadm lists it: `TCP  10.0.0.100:80`, `FWM  1`, `FWM  1 IPv6`.
    pub fn display_name(&self) -> String {
        match (self.fwmark, self.vip.contains(':')) {
            (0, _) => format!("{} {}", self.protocol.to_uppercase(), endpoint(&self.vip, self.port)),
            (m, false) => format!("FWM {m}"),
            (m, true) => format!("FWM {m} IPv6"),
        }
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn held_by_default() -> bool {
    true
}

/// High availability as it stands.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HaReport {
    /// `standalone`, `vrrp` or `ecmp`.
    pub mode: String,
    /// VRRP: the VIPs held (MASTER). ECMP: the VIPs announced (on the exception interface).
    pub held: Vec<String>,
    /// VIPs taken or released (VRRP), announced or withdrawn (ECMP) so far.
    pub vip_changes: u64,
    /// IPVS's `sloppy_tcp` in force.
    #[serde(default)]
    pub sloppy_tcp: bool,
}

/// Everything rvsd reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Seconds since the dataplane started.
    pub uptime_s: f64,
    /// Workers.
    pub workers: usize,
    /// Connections held now (all cores).
    pub conns: usize,
    /// Neighbours learned.
    pub neighbours: usize,
    /// Neighbour entries evicted to make room (entries made by solicitations go first).
    pub neighbours_evicted: u64,
    /// Health-check transitions (filled in by the daemon).
    pub health_transitions: u64,
    /// Drains completed: real servers rvsd deleted at the end of a `--drain` (by the daemon).
    #[serde(default)]
    pub drains_completed: u64,
    /// Ports.
    pub ports: Vec<PortReport>,
    /// Pipeline counters summed over cores.
    pub dataplane: BTreeMap<String, u64>,
    /// Drops by reason (only reasons seen).
    pub drops: BTreeMap<String, u64>,
    /// Worker-loop counters summed over cores.
    pub io: IoCounters,
    /// Per-core packets processed (to see the spread).
    pub per_core_rx: Vec<u64>,
    /// Per-core drops by reason (only reasons seen).
    pub per_core_drops: Vec<BTreeMap<String, u64>>,
    /// Per-core connection-table pressure: normal, pressure or full.
    #[serde(default)]
    pub per_core_pressure: Vec<String>,
    /// The connection sync daemon: datagrams and records sent and received, and why any were
    /// dropped (filled in by the daemon).
    #[serde(default)]
    pub sync: BTreeMap<String, u64>,
    /// VIP ownership (filled in by the daemon).
    #[serde(default)]
    pub ha: HaReport,
    /// Services.
    pub services: Vec<ServiceReport>,
    /// FULLNAT local addresses: the services' and those draining after their deletion.
    #[serde(default)]
    pub laddrs: Vec<crate::control::local_addrs::LaddrReport>,
    /// SNAT rules with their counts.
    #[serde(default)]
    pub snat: Vec<crate::control::snat_rules::SnatReport>,
    /// Allow and deny lists with their counts.
    #[serde(default)]
    pub access: Vec<crate::control::access_lists::AccessReport>,
    /// Under per-client limits: the client prefixes with the most connections.
    #[serde(default)]
    pub top_clients: Vec<crate::control::access_lists::ClientReport>,
}

/// Counter values `-Z` set aside, by service id and real-server id: listings show the
/// difference (per-core counters themselves are never written by the control plane).
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    svc: BTreeMap<u16, Stats>,
    dest: BTreeMap<u16, Stats>,
}

fn minus(a: Stats, b: Option<&Stats>) -> Stats {
    let Some(b) = b else { return a };
    Stats {
        conns: a.conns.saturating_sub(b.conns),
        pkts_in: a.pkts_in.saturating_sub(b.pkts_in),
        pkts_out: a.pkts_out.saturating_sub(b.pkts_out),
        bytes_in: a.bytes_in.saturating_sub(b.bytes_in),
        bytes_out: a.bytes_out.saturating_sub(b.bytes_out),
    }
}

fn raw_stats(r: &ServiceReport) -> Stats {
    Stats { conns: r.conns, pkts_in: r.pkts_in, pkts_out: r.pkts_out, bytes_in: r.bytes_in, bytes_out: r.bytes_out }
}

fn raw_real(r: &RealReport) -> Stats {
    Stats { conns: r.conns, pkts_in: r.pkts_in, pkts_out: r.pkts_out, bytes_in: r.bytes_in, bytes_out: r.bytes_out }
}

impl Baseline {
    /// `-Z`: the counters of the service with id `only` (or of everything) count from zero
    /// again. `raw` is a report of `services` built with an empty baseline.
    pub fn zero(&mut self, services: &[Service], raw: &Report, only: Option<u16>) {
        for (svc, r) in services.iter().zip(&raw.services) {
            if only.is_some_and(|id| id != svc.id) {
                continue;
            }
            self.svc.insert(svc.id, raw_stats(r));
            for (d, rr) in svc.dests.iter().zip(&r.reals) {
                self.dest.insert(d.id, raw_real(rr));
            }
        }
    }

    /// New objects (possibly reusing ids) start from zero.
    pub fn reset_ids(&mut self, services: &[Service], raw: &Report, ids: &[(u16, Option<u16>)]) {
        for (svc, r) in services.iter().zip(&raw.services) {
            if ids.contains(&(svc.id, None)) {
                self.svc.insert(svc.id, raw_stats(r));
            }
            for (d, rr) in svc.dests.iter().zip(&r.reals) {
                if ids.contains(&(svc.id, Some(d.id))) {
                    self.dest.insert(d.id, raw_real(rr));
                }
            }
        }
    }
}

/// What the dataplane says of itself when a report is built.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The ports as configured.
    pub ports_conf: &'a [PortConf],
    /// Their PMD counters.
    pub ports: &'a [PortStats],
    /// Each worker's latest report.
    pub workers: &'a [WorkerReport],
    /// Neighbours learned.
    pub neighbours: usize,
    /// Neighbour entries evicted to make room.
    pub neighbours_evicted: u64,
    /// Time since start.
    pub uptime: std::time::Duration,
    /// By real-server id: at its connection threshold (empty: none is).
    pub overloaded: &'a [bool],
}

impl Report {
    /// Sums the workers' reports for `services` (listing order), less `base`; `health` says
    /// whether a checked real server is up.
    pub fn build(
        inp: &Inputs<'_>,
        services: &[Service],
        health: &dyn Fn(u16) -> Option<bool>,
        base: &Baseline,
    ) -> Report {
        let Inputs { ports_conf, ports, workers, neighbours, neighbours_evicted, uptime, overloaded } = *inp;
        let mut c = Counters::default();
        let mut io = IoCounters::default();
        for w in workers {
            c.add(&w.counters);
            io.add(&w.io);
        }
        let at = |v: &Vec<Stats>, i: usize| v.get(i).copied().unwrap_or_default();
        let laddrs = crate::control::local_addrs::reports(services, workers);
        let services = services
            .iter()
            .map(|s| {
                let mut st = Stats::default();
                for w in workers {
                    st.add(&at(&w.svc_stats, usize::from(s.id)));
                }
                let st = minus(st, base.svc.get(&s.id));
                ServiceReport {
                    protocol: if s.is_fwmark() { "fwmark".into() } else { s.protocol.to_string() },
                    fwmark: s.fwmark,
                    pe: if s.pe_sip { "sip".into() } else { String::new() },
                    laddrs: s.laddrs.iter().map(ToString::to_string).collect(),
                    toa: s.toa,
                    synproxy: s.synproxy,
                    uoa: s.uoa,
                    proxy_protocol: match s.proxy_protocol {
                        rvs_core::wire::proxy_protocol::ProxyProtocol::Off => String::new(),
                        p => p.as_str().to_owned(),
                    },
                    lports: if s.lports == Default::default() {
                        String::new()
                    } else {
                        format!("{}-{}", s.lports.lo, s.lports.hi)
                    },
                    vip: s.vip.to_string(),
                    port: s.port,
                    scheduler: s.scheduler.clone(),
                    sched_flags: rvs_core::sched::flags::format(&s.scheduler, s.sched_flags),
                    persistence: s.persistence,
                    netmask: s.persistence_prefix,
                    ops: s.ops,
                    conns: st.conns,
                    pkts_in: st.pkts_in,
                    pkts_out: st.pkts_out,
                    bytes_in: st.bytes_in,
                    bytes_out: st.bytes_out,
                    rates: Default::default(),
                    held: true,
                    reals: s
                        .dests
                        .iter()
                        .map(|d| {
                            let mut ds = Stats::default();
                            let (mut active, mut inactive, mut persist_conns) = (0u64, 0u64, 0u64);
                            for w in workers {
                                persist_conns += u64::from(w.persist.get(usize::from(d.id)).copied().unwrap_or(0));
                                ds.add(&at(&w.dest_stats, usize::from(d.id)));
                                if let Some(l) = w.loads.get(usize::from(d.id)) {
                                    active += u64::from(l.active);
                                    inactive += u64::from(l.inactive);
                                }
                            }
                            let ds = minus(ds, base.dest.get(&d.id));
                            RealReport {
                                address: d.addr.to_string(),
                                port: d.port,
                                forward: d.forward.to_string(),
                                weight: if health(d.id) == Some(false) { 0 } else { d.weight },
                                configured_weight: d.weight,
                                health: match health(d.id) {
                                    Some(true) => "up",
                                    Some(false) => "down",
                                    None => "unchecked",
                                }
                                .to_owned(),
                                last_check: None,
                                u_threshold: d.u_threshold,
                                l_threshold: d.l_threshold,
                                overloaded: d.u_threshold > 0 && overloaded.get(usize::from(d.id)) == Some(&true),
                                draining: false,
                                drain_deadline_s: None,
                                slow_start: 0,
                                ramp_left_s: None,
                                tun_type: tun_field(d, |t| t.kind.as_str()),
                                tun_port: d.tunnel.port,
                                tun_csum: tun_field(d, |t| &t.csum.option()[6..]),
                                persist_conns,
                                active,
                                inactive,
                                conns: ds.conns,
                                pkts_in: ds.pkts_in,
                                pkts_out: ds.pkts_out,
                                bytes_in: ds.bytes_in,
                                bytes_out: ds.bytes_out,
                                rates: Default::default(),
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        let dataplane: BTreeMap<String, u64> = [
            ("rx", c.rx),
            ("forwarded", c.forwarded),
            ("replied", c.replied),
            ("to_kernel", c.to_kernel),
            ("pending", c.pending),
            ("fragments_held", c.fragments_held),
            ("fragments_followed", c.fragments_followed),
            ("redirected", c.redirected),
            ("dropped", c.total_drops()),
            ("new_conns", c.new_conns),
            ("expired_conns", c.expired_conns),
            ("evicted", c.evicted),
            ("stateless_forwarded", c.stateless_forwarded),
            ("one_packet", c.one_packet),
            ("one_packet_replies", c.one_packet_replies),
            ("icmp_scheduled", c.icmp_scheduled),
            ("toa_added", c.toa_added),
            ("proxy_headers", c.proxy_headers),
            ("uoa_added", c.uoa_added),
            ("snat_inbound", c.snat_inbound),
            ("client_resets", c.client_resets),
            ("synproxy_cookies_sent", c.synproxy_cookies_sent),
            ("synproxy_cookies_valid", c.synproxy_cookies_valid),
            ("synproxy_cookies_bad", c.synproxy_cookies_bad),
            ("synproxy_syn_retries", c.synproxy_syn_retries),
            ("synproxy_rs_timeouts", c.synproxy_rs_timeouts),
            ("synproxy_ack_storms", c.synproxy_ack_storms),
            ("synproxy_refused", c.synproxy_refused),
            ("nat_icmp_sent", c.nat_icmp_sent),
            ("refused", c.drops(DropReason::TableFull)),
            ("level_changes", c.level_changes),
            ("too_big_sent", c.too_big_sent),
            ("sync_queued", c.sync_sent),
            ("sync_dropped", c.sync_dropped),
            ("sync_installed", c.sync_installed),
            ("sync_ignored", c.sync_ignored),
            ("sync_conflicts", c.sync_conflicts),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let drops =
            DropReason::ALL.iter().filter(|r| c.drops(**r) > 0).map(|r| (r.name().to_owned(), c.drops(*r))).collect();
        Report {
            uptime_s: uptime.as_secs_f64(),
            workers: workers.len(),
            conns: workers.iter().map(|w| w.conns).sum(),
            neighbours,
            neighbours_evicted,
            health_transitions: 0,
            drains_completed: 0,
            ports: ports_conf
                .iter()
                .zip(ports)
                .map(|(p, s)| PortReport {
                    name: p.name.clone(),
                    rx_packets: s.ipackets,
                    tx_packets: s.opackets,
                    rx_bytes: s.ibytes,
                    tx_bytes: s.obytes,
                    rx_missed: s.imissed,
                })
                .collect(),
            dataplane,
            drops,
            io,
            per_core_rx: workers.iter().map(|w| w.counters.rx).collect(),
            per_core_pressure: workers.iter().map(|w| w.level.name().to_owned()).collect(),
            sync: BTreeMap::new(),
            ha: HaReport::default(),
            per_core_drops: workers
                .iter()
                .map(|w| {
                    DropReason::ALL
                        .iter()
                        .filter(|r| w.counters.drops(**r) > 0)
                        .map(|r| (r.name().to_owned(), w.counters.drops(*r)))
                        .collect()
                })
                .collect(),
            services,
            laddrs,
            snat: Vec::new(),
            access: Vec::new(),
            top_clients: Vec::new(),
        }
    }
}
