//! VIP announcement for scale-out (`[ha] mode = "ecmp"`): N directors behind a router that
//! spreads flows over them by ECMP, each announcing the VIPs by BGP from its own routing daemon
//! (BIRD or FRR, unmodified; RFC 4271 for BGP, RFC 5880/5881 for BFD).
//!
//! rvsd tells the routing daemon what to announce the way Katran's and DPVS's deployments do:
//! each VIP that has at least one usable real server (weight above 0, health check not failed,
//! and, for a checked one, past its first passing probe: a node that restarts pulls no traffic
//! before it knows it can serve it) is put as a /32 on the exception interface of its port (`protocol direct` in BIRD picks it up,
//! a filter exports it); a VIP with no usable real server is taken off, and so is every VIP
//! at shutdown. When rvsd dies its TAP disappears with the addresses on it and the routing
//! daemon's session, which runs through the dataplane, fails its BFD: the router withdraws
//! the node either way. `[ha] announce_grace` (seconds) holds every announcement back that long
//! after start, e.g. for connection sync to refill the table from the peers first. The check runs every [`PERIOD`] and after nothing else: a health
//! transition reaches the router within one period plus BGP's update time.

use crate::config::PortConf;
use crate::control::server::Control;
use crate::tap_addresses::{ifindex, Rtnl};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the usable VIPs are compared with the exception interfaces' addresses.
pub const PERIOD: Duration = Duration::from_millis(100);

/// The exception interface that carries `vip`'s route: that of the port whose network holds
/// it, else of the port with the default gateway (the router's side), else the first.
pub fn announcing_iface(ports: &[PortConf], vip: IpAddr) -> Option<&str> {
    let with_tap = || ports.iter().filter(|p| p.exception_iface.is_some());
    let on_net = |p: &&PortConf| on_port_network(p, vip);
    let gateway = |p: &&PortConf| if vip.is_ipv4() { p.gateway.is_some() } else { p.gateway6.is_some() };
    with_tap()
        .find(on_net)
        .or_else(|| with_tap().find(gateway))
        .or_else(|| with_tap().next())
        .and_then(|p| p.exception_iface.as_deref())
}

/// True when `a` is on `port`'s connected network of its family.
pub fn on_port_network(port: &PortConf, a: IpAddr) -> bool {
    use rvs_core::family::AddrKey;
    match a {
        IpAddr::V4(v) => rvs_core::service::same_prefix(port.addr, v, port.prefix_len),
        IpAddr::V6(v) => port.addr6.is_some_and(|(p, l)| u128::from(p).masked(l) == u128::from(v).masked(l)),
    }
}

/// Keeps the usable VIPs on the exception interfaces until `stop`, then takes them all off.
pub fn run(
    ctl: &Control<'_>,
    ports: &[PortConf],
    grace: Duration,
    beat: &crate::supervision::ThreadBeat,
    stop: &AtomicBool,
) {
    let _alive = beat.running();
    let started = std::time::Instant::now();
    let mut rtnl = match Rtnl::open() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "ecmp: cannot open an rtnetlink socket: no VIP will be announced");
            return;
        }
    };
    while !stop.load(Ordering::Relaxed) {
        beat.beat();
        let usable = if started.elapsed() >= grace { ctl.usable_vips() } else { BTreeSet::new() };
        reconcile(ctl, &mut rtnl, ports, &usable);
        std::thread::sleep(PERIOD);
    }
    reconcile(ctl, &mut rtnl, ports, &BTreeSet::new());
}

/// Adds the `usable` VIPs missing from their interfaces and removes the announced ones no
/// longer usable; records the result in the control state.
fn reconcile(ctl: &Control<'_>, rtnl: &mut Rtnl, ports: &[PortConf], usable: &BTreeSet<IpAddr>) {
    let announced = ctl.held_vips();
    let mut by_iface: BTreeMap<&str, (u32, Vec<IpAddr>)> = BTreeMap::new();
    for &v in usable.iter().chain(&announced) {
        if let Some(iface) = announcing_iface(ports, v) {
            if let Some(index) = ifindex(iface) {
                by_iface.entry(iface).or_insert((index, Vec::new())).1.push(v);
            }
        }
    }
    let mut now = announced.clone();
    for (iface, (index, vips)) in by_iface {
        let present = match rtnl.addresses(&[index]) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(iface, error = %e, "ecmp: reading the exception interface's addresses failed");
                continue;
            }
        };
        for v in vips {
            let wanted = usable.contains(&v);
            if wanted && !present.contains(&v) {
                match rtnl.add_host_address(index, v) {
                    Ok(()) if now.insert(v) => {
                        tracing::warn!(vip = %v, iface, "ecmp: VIP announced (a real server is usable)")
                    }
                    Ok(()) => {} // put back after someone took it off
                    Err(e) => tracing::error!(vip = %v, iface, error = %e, "ecmp: the VIP could not be announced"),
                }
            } else if !wanted && now.contains(&v) {
                match rtnl.del_host_address(index, v) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {} // already gone
                    Err(e) => {
                        tracing::error!(vip = %v, iface, error = %e, "ecmp: the VIP could not be withdrawn");
                        continue;
                    }
                }
                now.remove(&v);
                tracing::warn!(vip = %v, iface, "ecmp: VIP withdrawn (no usable real server)");
            } else if wanted {
                now.insert(v);
            }
        }
    }
    if now != announced {
        ctl.set_announced_vips(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, cidr: (&str, u8), gateway: Option<&str>, tap: Option<&str>) -> PortConf {
        PortConf {
            name: name.into(),
            device: String::new(),
            addr: cidr.0.parse().unwrap(),
            prefix_len: cidr.1,
            gateway: gateway.map(|g| g.parse().unwrap()),
            addr6: None,
            gateway6: None,
            mtu: 1500,
            exception_iface: tap.map(Into::into),
        }
    }

    #[test]
    fn a_vip_goes_on_its_own_network_else_on_the_routers_side() {
        let ports = [
            port("in", ("10.1.0.1", 24), None, Some("tin")),
            port("out", ("10.0.0.1", 24), Some("10.0.0.254"), Some("tout")),
            port("x", ("10.2.0.1", 24), None, None),
        ];
        assert_eq!(announcing_iface(&ports, "10.1.0.100".parse().unwrap()), Some("tin"));
        assert_eq!(announcing_iface(&ports, "192.0.2.1".parse().unwrap()), Some("tout"));
        assert_eq!(announcing_iface(&ports, "10.2.0.100".parse().unwrap()), Some("tout"), "no TAP on its network");
        assert_eq!(announcing_iface(&ports[2..], "10.2.0.100".parse().unwrap()), None);
        assert_eq!(announcing_iface(&ports[..1], "192.0.2.1".parse().unwrap()), Some("tin"));
    }

    #[test]
    fn an_ipv6_vip_goes_on_its_own_ipv6_network_else_where_the_ipv6_gateway_is() {
        let mut inside = port("in", ("10.1.0.1", 24), Some("10.1.0.254"), Some("tin"));
        inside.addr6 = Some(("2001:db8:1::1".parse().unwrap(), 64));
        let mut outside = port("out", ("10.0.0.1", 24), None, Some("tout"));
        outside.addr6 = Some(("2001:db8::1".parse().unwrap(), 64));
        outside.gateway6 = Some("fe80::1".parse().unwrap());
        let ports = [inside, outside];
        assert_eq!(announcing_iface(&ports, "2001:db8:1::100".parse().unwrap()), Some("tin"));
        assert_eq!(
            announcing_iface(&ports, "2001:db8:2::100".parse().unwrap()),
            Some("tout"),
            "the IPv6 gateway's side"
        );
        assert_eq!(announcing_iface(&ports, "192.0.2.1".parse().unwrap()), Some("tin"), "the IPv4 gateway's side");
    }
}
