//! VIP ownership by VRRP (`[ha] mode = "vrrp"`): keepalived, unmodified and running only its
//! VRRP part on a port's exception interface (TAP), adds the VIPs to that interface when it
//! becomes MASTER and removes them when it becomes BACKUP. This thread follows the kernel's
//! address events of both families (rtnetlink, `RTNLGRP_IPV4_IFADDR` and `RTNLGRP_IPV6_IFADDR`)
//! and after each reads the addresses of the exception interfaces (`RTM_GETADDR` dump); the VIPs
//! found there are the ones the dataplane serves
//! ([`crate::control::server::Control::set_held_vips`]). When the kernel could not queue every
//! event (the socket's buffer overran: `ENOBUFS`, rtnetlink(7)) some moves are lost, so it reads
//! the whole state again at once; a full read every `[ha] vip_rescan_ms` (default 500) guards
//! against anything else.

use crate::control::server::Control;
use crate::supervision::ThreadBeat;
use crate::tap_addresses::{ifindex, Rtnl};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `RTNLGRP_IPV4_IFADDR` and `RTNLGRP_IPV6_IFADDR` (`include/uapi/linux/rtnetlink.h`).
pub const ADDRESS_GROUPS: [u32; 2] = [5, 9];

/// What the event socket said since it was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events {
    /// An address changed.
    pub changed: bool,
    /// The kernel dropped events (`ENOBUFS`): the state must be read again in full.
    pub lost: bool,
}

/// The address-event socket: both families' groups, non-blocking.
pub fn subscribe() -> std::io::Result<Socket> {
    let mut events = Socket::new(NETLINK_ROUTE)?;
    events.bind_auto()?;
    for g in ADDRESS_GROUPS {
        events.add_membership(g)?;
    }
    events.set_non_blocking(true)?;
    Ok(events)
}

/// Reads every queued event (bounded by what is queued).
pub fn drain(events: &Socket, buf: &mut [u8]) -> Events {
    let mut got = Events::default();
    loop {
        match events.recv(&mut &mut buf[..], 0) {
            Ok(0) => break,
            Ok(_) => got.changed = true,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => got.lost = true,
            Err(_) => break, // WouldBlock: all read
        }
    }
    got
}

/// Follows the exception interfaces' addresses until `stop`, re-reading them in full at least
/// every `rescan`; tells `ctl` the VIPs held.
pub fn run(ctl: &Control<'_>, ifaces: &[String], rescan: Duration, beat: &ThreadBeat, stop: &AtomicBool) {
    let _alive = beat.running();
    let open = || -> std::io::Result<(Socket, Rtnl)> { Ok((subscribe()?, Rtnl::open()?)) };
    let (events, mut dump) = match open() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "vrrp: cannot open rtnetlink sockets: no VIP will be served");
            return;
        }
    };
    let mut last_scan: Option<Instant> = None;
    let mut ev = vec![0u8; 1 << 16];
    let mut lost_logged = false;
    while !stop.load(Ordering::Relaxed) {
        beat.beat();
        let got = drain(&events, &mut ev);
        if got.lost && !lost_logged {
            lost_logged = true;
            tracing::warn!(
                "vrrp: the kernel dropped address events (ENOBUFS): reading the VIPs again now (logged once)"
            );
        }
        if got.changed || got.lost || last_scan.is_none_or(|t| t.elapsed() >= rescan) {
            last_scan = Some(Instant::now());
            let indexes: Vec<u32> = ifaces.iter().filter_map(|i| ifindex(i)).collect();
            match dump.addresses(&indexes) {
                Ok(on_taps) => ctl.set_held_vips(&on_taps),
                Err(e) => tracing::warn!(error = %e, "vrrp: reading the exception interfaces' addresses failed"),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// Runs `f` on a thread of its own inside a new, empty network namespace (`lo` up); None
    /// when that is not possible (not root).
    fn in_private_netns<T: Send>(f: impl FnOnce(&mut Rtnl, u32) -> T + Send) -> Option<T> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: needs root for a private network namespace");
            return None;
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
                let mut rtnl = Rtnl::open().expect("rtnetlink");
                let lo = ifindex("lo").unwrap_or(1);
                Some(f(&mut rtnl, lo))
            })
            .join()
            .expect("the namespace's thread")
        })
    }

    /// Review defect 5: the watch joined the IPv4 address group only, so an IPv6 VIP put on the
    /// exception interface was seen at the next full read, not at once.
    #[test]
    fn ipv6_address_changes_are_events_too() {
        let got = in_private_netns(|rtnl, lo| {
            let events = subscribe().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            assert_eq!(drain(&events, &mut buf), Events::default(), "nothing yet");
            rtnl.add_host_address(lo, "2001:db8::100".parse::<IpAddr>().unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drain(&events, &mut buf)
        });
        if let Some(got) = got {
            assert!(got.changed, "an IPv6 address added is an event");
        }
    }

    /// Review defect 5: when the kernel drops events (the socket's buffer overran) the watch
    /// must know, to read the whole state again at once.
    #[test]
    fn an_overrun_is_reported_as_lost_events() {
        let got = in_private_netns(|rtnl, lo| {
            let events = subscribe().unwrap();
            let small = socket2::SockRef::from(&events);
            small.set_recv_buffer_size(1).unwrap(); // the kernel's minimum
            for n in 1..=200u32 {
                let a = std::net::Ipv4Addr::from(0x0A00_0000 + n);
                rtnl.add_host_address(lo, a.into()).unwrap();
            }
            let mut buf = vec![0u8; 1 << 16];
            drain(&events, &mut buf)
        });
        if let Some(got) = got {
            assert!(got.lost, "ENOBUFS seen as lost events: {got:?}");
        }
    }
}
