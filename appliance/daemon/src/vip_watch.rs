//! VIP ownership by VRRP (`[ha] mode = "vrrp"`): keepalived, unmodified and running only its
//! VRRP part on a port's exception interface (TAP), adds the VIPs to that interface when it
//! becomes MASTER and removes them when it becomes BACKUP. This thread follows the kernel's
//! address events (rtnetlink, `RTNLGRP_IPV4_IFADDR`) and after each, and every half second as a
//! safety net against a lost event, reads the addresses of the exception interfaces
//! (`RTM_GETADDR` dump); the VIPs found there are the ones the dataplane serves
//! ([`crate::control::server::Control::set_held_vips`]).

use crate::control::server::Control;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `RTNLGRP_IPV4_IFADDR` (`include/uapi/linux/rtnetlink.h`).
const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// A full re-read at least this often.
const RESCAN: Duration = Duration::from_millis(500);

/// The kernel's index of interface `name` (from sysfs; None while it does not exist).
fn ifindex(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?.trim().parse().ok()
}

/// Every IPv4 address on the interfaces `indexes`, by an `RTM_GETADDR` dump.
fn addresses(sock: &Socket, seq: u32, indexes: &[u32]) -> std::io::Result<BTreeSet<Ipv4Addr>> {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    let mut req =
        NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(RouteNetlinkMessage::GetAddress(msg)));
    req.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
    req.header.sequence_number = seq;
    req.finalize();
    let mut buf = vec![0; req.buffer_len()];
    req.serialize(&mut buf);
    sock.send(&buf, 0)?;
    let mut found = BTreeSet::new();
    let mut rx = vec![0u8; 1 << 16];
    loop {
        let n = sock.recv(&mut &mut rx[..], 0)?;
        let mut off = 0;
        while off < n {
            let m: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&rx[off..n])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let len = m.header.length as usize;
            match m.payload {
                NetlinkPayload::Done(_) => return Ok(found),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("RTM_GETADDR: {e:?}")));
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a))
                    if indexes.contains(&a.header.index) =>
                {
                    for attr in &a.attributes {
                        if let AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) =
                            attr
                        {
                            found.insert(*ip);
                        }
                    }
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

/// Follows the exception interfaces' addresses until `stop`; tells `ctl` the VIPs held.
pub fn run(ctl: &Control<'_>, ifaces: &[String], stop: &AtomicBool) {
    let open = || -> std::io::Result<(Socket, Socket)> {
        let mut events = Socket::new(NETLINK_ROUTE)?;
        events.bind_auto()?;
        events.add_membership(RTNLGRP_IPV4_IFADDR)?;
        events.set_non_blocking(true)?;
        let mut dump = Socket::new(NETLINK_ROUTE)?;
        dump.bind_auto()?;
        dump.connect(&SocketAddr::new(0, 0))?;
        Ok((events, dump))
    };
    let (events, dump) = match open() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "vrrp: cannot open rtnetlink sockets: no VIP will be served");
            return;
        }
    };
    let mut seq = 1u32;
    let mut last_scan: Option<Instant> = None;
    let mut ev = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        let mut changed = false;
        while let Ok(n) = events.recv(&mut &mut ev[..], 0) {
            changed |= n > 0;
        }
        if changed || last_scan.is_none_or(|t| t.elapsed() >= RESCAN) {
            last_scan = Some(Instant::now());
            let indexes: Vec<u32> = ifaces.iter().filter_map(|i| ifindex(i)).collect();
            seq = seq.wrapping_add(1);
            match addresses(&dump, seq, &indexes) {
                Ok(on_taps) => ctl.set_held_vips(&on_taps),
                Err(e) => tracing::warn!(error = %e, "vrrp: reading the exception interfaces' addresses failed"),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
