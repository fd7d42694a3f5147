//! The connection sync daemon (IPVS's `ip_vs_sync` master and backup threads), on a thread of
//! the control plane, never a worker's.
//!
//! - **Master:** workers queue connection records in their sync rings at burst boundaries (the
//!   pipeline decides which, by IPVS's sender rule); this thread packs them into sync v1
//!   datagrams of at most `maxlen` bytes and sends each when it is full, or when its oldest
//!   record has waited [`FLUSH_AFTER`].
//! - **Backup:** datagrams from an address outside `[sync] peers` are counted (`not_a_peer`)
//!   and dropped; the others are checked ([`ipvs_sync::parse`]: size, syncid, version,
//!   records; a bad header drops the datagram, a bad record itself alone) and each record goes
//!   to the ring of the worker that owns its client ([`rvs_core::Snapshot::owner`]), which
//!   installs it at its next burst boundary.
//!
//! The datagrams are the host kernel's UDP on the exception interface (TAP) of the configured
//! port, bound to that device: they leave and arrive through the port as the director's own
//! traffic, with IPVS's defaults (224.0.0.81:8848, TTL 1). Roles start and stop as the live
//! configuration says (`[sync]`, `rvsadm --start-daemon/--stop-daemon`).

use crate::config::SyncConf;
use crate::control::server::Control;
use crate::worker::Shared;
use rvs_core::wire::ipvs_sync::{self, SyncError, SyncWriter};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest a record waits in a partly filled datagram (IPVS: 2 s at most).
pub const FLUSH_AFTER: Duration = Duration::from_secs(1);
/// The thread's period when idle.
const TICK: Duration = Duration::from_millis(5);

/// What the sync daemon did (written by its thread, read by reports).
#[derive(Debug, Default)]
pub struct SyncCounters {
    sent_msgs: AtomicU64,
    sent_conns: AtomicU64,
    send_errors: AtomicU64,
    recv_msgs: AtomicU64,
    recv_conns: AtomicU64,
    recv_skipped: AtomicU64,
    bad_size: AtomicU64,
    other_syncid: AtomicU64,
    bad_record: AtomicU64,
    in_full: AtomicU64,
    role_changes: AtomicU64,
    not_a_peer: AtomicU64,
    too_big: AtomicU64,
}

impl SyncCounters {
    fn bump(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Every counter by name (stable names for stats and metrics).
    pub fn figures(&self) -> BTreeMap<String, u64> {
        [
            ("sent_msgs", &self.sent_msgs),
            ("sent_conns", &self.sent_conns),
            ("send_errors", &self.send_errors),
            ("recv_msgs", &self.recv_msgs),
            ("recv_conns", &self.recv_conns),
            ("recv_skipped", &self.recv_skipped),
            ("bad_size", &self.bad_size),
            ("other_syncid", &self.other_syncid),
            ("bad_record", &self.bad_record),
            ("in_full", &self.in_full),
            ("role_changes", &self.role_changes),
            ("not_a_peer", &self.not_a_peer),
            ("too_big", &self.too_big),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.load(Ordering::Relaxed)))
        .collect()
    }
}

struct Master {
    conf: SyncConf,
    sock: UdpSocket,
    writer: SyncWriter,
    oldest: Option<Instant>,
}

struct Backup {
    conf: SyncConf,
    sock: UdpSocket,
}

/// A socket of the group's family on the sync port's exception interface (`SO_BINDTODEVICE`).
fn socket_on(conf: &SyncConf) -> std::io::Result<Socket> {
    let domain = if conf.group.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if conf.group.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind_device(Some(conf.iface.as_bytes()))?;
    Ok(s)
}

/// The kernel's index of interface `name` (for IPv6 multicast), from sysfs.
fn ifindex(name: &str) -> std::io::Result<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))?;
    text.trim().parse().map_err(|_| std::io::Error::other(format!("{name}: unreadable ifindex {text:?}")))
}

fn open_master(conf: &SyncConf) -> std::io::Result<UdpSocket> {
    let s = socket_on(conf)?;
    match conf.group {
        IpAddr::V4(g) => {
            if g.is_multicast() {
                s.set_multicast_if_v4(&conf.addr)?;
                s.set_multicast_ttl_v4(u32::from(conf.ttl))?;
                s.set_multicast_loop_v4(false)?;
            } else {
                s.set_ttl_v4(u32::from(conf.ttl))?;
            }
            s.bind(&SocketAddrV4::new(conf.addr, 0).into())?;
        }
        IpAddr::V6(g) => {
            if g.is_multicast() {
                s.set_multicast_if_v6(ifindex(&conf.iface)?)?;
                s.set_multicast_hops_v6(u32::from(conf.ttl))?;
                s.set_multicast_loop_v6(false)?;
            } else {
                s.set_unicast_hops_v6(u32::from(conf.ttl))?;
            }
            // The kernel picks the source: the interface's link-local address for a
            // link-local group, its global one otherwise.
            s.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0).into())?;
        }
    }
    Ok(s.into())
}

fn open_backup(conf: &SyncConf) -> std::io::Result<UdpSocket> {
    let s = socket_on(conf)?;
    s.set_reuse_address(true)?;
    match conf.group {
        IpAddr::V4(g) => {
            let on = if g.is_multicast() { g } else { Ipv4Addr::UNSPECIFIED };
            s.bind(&SocketAddrV4::new(on, conf.udp_port).into())?;
            if g.is_multicast() {
                s.join_multicast_v4(&g, &conf.addr)?;
            }
        }
        IpAddr::V6(g) => {
            let index = ifindex(&conf.iface)?;
            let on = if g.is_multicast() { g } else { Ipv6Addr::UNSPECIFIED };
            s.bind(&SocketAddrV6::new(on, conf.udp_port, 0, if g.is_multicast() { index } else { 0 }).into())?;
            if g.is_multicast() {
                s.join_multicast_v6(&g, index)?;
            }
        }
    }
    s.set_nonblocking(true)?;
    Ok(s.into())
}

impl Master {
    fn send(&mut self, counters: &SyncCounters) {
        let n = u64::from(self.writer.count());
        let Some(msg) = self.writer.take() else { return };
        self.oldest = None;
        let to = match self.conf.group {
            IpAddr::V6(g) if g.is_multicast() || g.is_unicast_link_local() => {
                SocketAddr::V6(SocketAddrV6::new(g, self.conf.udp_port, 0, ifindex(&self.conf.iface).unwrap_or(0)))
            }
            g => SocketAddr::new(g, self.conf.udp_port),
        };
        match self.sock.send_to(&msg, to) {
            Ok(_) => {
                SyncCounters::bump(&counters.sent_msgs, 1);
                SyncCounters::bump(&counters.sent_conns, n);
            }
            Err(e) => {
                SyncCounters::bump(&counters.send_errors, 1);
                tracing::debug!(error = %e, "sync: send failed");
            }
        }
    }

    /// Packs what the workers queued; sends full datagrams, and a partial one that waited long
    /// enough.
    fn pump(&mut self, shared: &Shared<'_>, counters: &SyncCounters) {
        for ring in &shared.sync_out {
            while let Some(r) = ring.pop() {
                if !self.writer.push(&r) {
                    self.send(counters);
                    if !self.writer.push(&r) {
                        // maxlen is checked to hold any record; counted should that ever fail
                        SyncCounters::bump(&counters.too_big, 1);
                    }
                }
                self.oldest.get_or_insert_with(Instant::now);
            }
        }
        if self.oldest.is_some_and(|t| t.elapsed() >= FLUSH_AFTER) {
            self.send(counters);
        }
    }
}

impl Backup {
    /// Reads what arrived (bounded per call) and hands each record to its owner worker.
    fn receive(&mut self, shared: &Shared<'_>, workers: usize, buf: &mut [u8], counters: &SyncCounters) {
        for _ in 0..256 {
            let (n, from) = match self.sock.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "sync: receive failed");
                    return;
                }
            };
            let from = from.ip();
            if from == IpAddr::V4(self.conf.addr) || self.conf.addr6.is_some_and(|(a, _)| from == IpAddr::V6(a)) {
                continue; // our own datagram (a unicast peer set to ourselves)
            }
            SyncCounters::bump(&counters.recv_msgs, 1);
            if !self.conf.peer_allowed(from) {
                SyncCounters::bump(&counters.not_a_peer, 1);
                continue;
            }
            let got = match ipvs_sync::parse(&buf[..n], self.conf.syncid) {
                Ok(g) => g,
                Err(e) => {
                    let c = match e {
                        SyncError::BadSize => &counters.bad_size,
                        SyncError::OtherSyncid => &counters.other_syncid,
                    };
                    SyncCounters::bump(c, 1);
                    continue;
                }
            };
            SyncCounters::bump(&counters.recv_skipped, u64::from(got.skipped));
            // A malformed record was skipped alone; a broken frame dropped the rest.
            SyncCounters::bump(&counters.bad_record, u64::from(got.malformed) + u64::from(got.cut));
            SyncCounters::bump(&counters.recv_conns, got.conns.len() as u64);
            let snap = shared.snapshot.load();
            for r in got.conns {
                let w = usize::from(rvs_core::pipeline::record_owner(&snap, &r, workers as u16)).min(workers - 1);
                if shared.sync_in[w].push(r).is_err() {
                    SyncCounters::bump(&counters.in_full, 1);
                }
            }
        }
    }
}

/// The sync daemon's thread until `stop`: follows the live configuration's roles.
pub fn run(ctl: &Control<'_>, shared: &Shared<'_>, stop: &AtomicBool, workers: usize) {
    let counters = &shared.sync_counters;
    let (mut master, mut backup): (Option<Master>, Option<Backup>) = (None, None);
    let mut buf = vec![0u8; 65_536];
    let mut failed_at: Option<Instant> = None;
    let beat = shared.thread("sync");
    let _alive = beat.running();
    while !stop.load(Ordering::Relaxed) {
        beat.beat();
        let want = ctl.state.lock().ok().and_then(|s| s.effective_sync());
        let want_master = want.as_ref().filter(|c| c.master);
        let want_backup = want.as_ref().filter(|c| c.backup);
        if master.as_ref().map(|m| &m.conf) != want_master {
            if let Some(mut m) = master.take() {
                m.send(counters);
                tracing::info!(port = %m.conf.port, "sync: master role stopped");
                SyncCounters::bump(&counters.role_changes, 1);
            }
            if let Some(c) = want_master.filter(|_| failed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(5))) {
                match open_master(c) {
                    Ok(sock) => {
                        tracing::info!(port = %c.port, iface = %c.iface, group = %c.group, syncid = c.syncid, "sync: master role started");
                        SyncCounters::bump(&counters.role_changes, 1);
                        master = Some(Master {
                            conf: c.clone(),
                            sock,
                            writer: SyncWriter::with_version(c.syncid, c.maxlen, c.version),
                            oldest: None,
                        });
                    }
                    Err(e) => {
                        failed_at = Some(Instant::now());
                        tracing::warn!(iface = %c.iface, error = %e, "sync: cannot open the master socket (retrying)");
                    }
                }
            }
        }
        if backup.as_ref().map(|b| &b.conf) != want_backup {
            if let Some(b) = backup.take() {
                tracing::info!(port = %b.conf.port, "sync: backup role stopped");
                SyncCounters::bump(&counters.role_changes, 1);
            }
            if let Some(c) = want_backup.filter(|_| failed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(5))) {
                match open_backup(c) {
                    Ok(sock) => {
                        tracing::info!(port = %c.port, iface = %c.iface, group = %c.group, syncid = c.syncid, "sync: backup role started");
                        SyncCounters::bump(&counters.role_changes, 1);
                        backup = Some(Backup { conf: c.clone(), sock });
                    }
                    Err(e) => {
                        failed_at = Some(Instant::now());
                        tracing::warn!(iface = %c.iface, error = %e, "sync: cannot open the backup socket (retrying)");
                    }
                }
            }
        }
        match master.as_mut() {
            Some(m) => m.pump(shared, counters),
            // Records queued before the role stopped go nowhere.
            None => shared.sync_out.iter().for_each(|r| while r.pop().is_some() {}),
        }
        if let Some(b) = backup.as_mut() {
            b.receive(shared, workers, &mut buf, counters);
        }
        std::thread::sleep(TICK);
    }
    if let Some(mut m) = master {
        m.send(counters);
    }
}
