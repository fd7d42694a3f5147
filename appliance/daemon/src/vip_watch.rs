//! VIP ownership by VRRP (`[ha] mode = "vrrp"`): keepalived, unmodified and running only its
//! VRRP part on a port's exception interface (TAP), adds the VIPs to that interface when it
//! becomes MASTER and removes them when it becomes BACKUP. This thread follows the kernel's
//! address events (rtnetlink, `RTNLGRP_IPV4_IFADDR`) and after each, and every half second as a
//! safety net against a lost event, reads the addresses of the exception interfaces
//! (`RTM_GETADDR` dump); the VIPs found there are the ones the dataplane serves
//! ([`crate::control::server::Control::set_held_vips`]).

use crate::control::server::Control;
use crate::tap_addresses::{ifindex, Rtnl};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `RTNLGRP_IPV4_IFADDR` (`include/uapi/linux/rtnetlink.h`).
const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// A full re-read at least this often.
const RESCAN: Duration = Duration::from_millis(500);

/// Follows the exception interfaces' addresses until `stop`; tells `ctl` the VIPs held.
pub fn run(ctl: &Control<'_>, ifaces: &[String], stop: &AtomicBool) {
    let open = || -> std::io::Result<(Socket, Rtnl)> {
        let mut events = Socket::new(NETLINK_ROUTE)?;
        events.bind_auto()?;
        events.add_membership(RTNLGRP_IPV4_IFADDR)?;
        events.set_non_blocking(true)?;
        Ok((events, Rtnl::open()?))
    };
    let (events, mut dump) = match open() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "vrrp: cannot open rtnetlink sockets: no VIP will be served");
            return;
        }
    };
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
            match dump.addresses(&indexes) {
                Ok(on_taps) => ctl.set_held_vips(&on_taps),
                Err(e) => tracing::warn!(error = %e, "vrrp: reading the exception interfaces' addresses failed"),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
