//! Topologies more than one lab test uses.

use super::{hold, http, Lab, Ns, Switch};
use std::time::Duration;

/// The NAT lab: a client (198.18.0.2, default route via the director's 198.18.0.1) on veth
/// `p0` of the director's namespace; the director's `p1` on a switch with real servers rs1
/// (198.19.0.11) and rs2 (198.19.0.12), whose default route is the director's 198.19.0.1.
/// Each real server runs an HTTP server answering its name (and `big.bin` of `big` bytes).
#[derive(Debug)]
pub struct NatPair {
    /// The client.
    pub client: Ns,
    /// The director's namespace (rvsd runs here).
    pub lb: Ns,
    /// (namespace, address, HTTP server handle) of rs1 and rs2.
    pub servers: Vec<(Ns, String, usize)>,
}

/// A real server `name` at `addr` (/24) on switch `sw`, routing through the director's
/// `gateway` (NAT replies must cross it).
pub fn real_server(lab: &mut Lab, sw: &mut Switch, name: &str, addr: &str, gateway: &str) -> anyhow::Result<Ns> {
    let rs = lab.host(name)?;
    lab.plug(sw, &rs, "eth0")?;
    rs.addr("eth0", &format!("{addr}/24"))?;
    rs.route(&["default", "via", gateway])?;
    Ok(rs)
}

/// A DR (or TUN) real server `name` at `cidr` on switch `sw` that takes packets for `vip`
/// without announcing it: the VIP on `lo`, `arp_ignore=1`, `arp_announce=2`, no reverse-path
/// filter (the director alone answers ARP for the VIP).
pub fn dr_real_server(lab: &mut Lab, sw: &mut Switch, name: &str, cidr: &str, vip: &str) -> anyhow::Result<Ns> {
    let rs = lab.host(name)?;
    lab.plug(sw, &rs, "eth0")?;
    rs.addr("eth0", cidr)?;
    quiet_about_the_vip(&rs)?;
    rs.addr("lo", &format!("{vip}/32"))?;
    Ok(rs)
}

/// A DR or TUN real server's sysctls: it answers no ARP for the VIP it carries
/// (`arp_ignore=1`, `arp_announce=2`) and takes packets for it from any interface (no
/// reverse-path filter).
pub fn quiet_about_the_vip(rs: &Ns) -> anyhow::Result<()> {
    for (k, v) in [
        ("net.ipv4.conf.all.arp_ignore", "1"),
        ("net.ipv4.conf.all.arp_announce", "2"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
    ] {
        rs.sysctl(k, v)?;
    }
    Ok(())
}

/// Starts the line echo service (`lab/tcp_echo.py`) as `name` on `bind`:7 in `ns`, and waits
/// until it listens.
pub fn echo_server(lab: &mut Lab, ns: &Ns, name: &str, bind: &str) -> anyhow::Result<usize> {
    let h = lab.spawn(ns, "python3", &["-u", &hold::script("tcp_echo.py"), name, bind, "7"])?;
    lab.wait_for_line(h, "echo: listening", Duration::from_secs(10))?;
    Ok(h)
}

/// Builds [`NatPair`] in `lab`.
pub fn nat_pair(lab: &mut Lab, big: usize) -> anyhow::Result<NatPair> {
    let client = lab.host("c")?;
    let lb = lab.host("lb")?;
    let mut sw = lab.switch("sw")?;
    lab.veth(&client, "eth0", &lb, "p0")?;
    lab.plug(&mut sw, &lb, "p1")?;
    client.addr("eth0", "198.18.0.2/24")?;
    client.route(&["default", "via", "198.18.0.1"])?;
    let mut servers = Vec::new();
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = real_server(lab, &mut sw, name, &a, "198.19.0.1")?;
        let h = http::serve(lab, &rs, name, &a, 80, big)?;
        servers.push((rs, a, h));
    }
    Ok(NatPair { client, lb, servers })
}

/// One L2 segment (DR and TUN labs): a switch with the client (`client_cidr` on its `eth0`)
/// and the director's `p0`. Returns (client, director, the switch, for the real servers).
pub fn one_segment(lab: &mut Lab, client_cidr: &str) -> anyhow::Result<(Ns, Ns, Switch)> {
    let client = lab.host("c")?;
    let lb = lab.host("lb")?;
    let mut sw = lab.switch("sw")?;
    lab.plug(&mut sw, &client, "eth0")?;
    lab.plug(&mut sw, &lb, "p0")?;
    client.addr("eth0", client_cidr)?;
    Ok((client, lb, sw))
}

/// The front of a NAT lab: a client (198.18.0.2, and each of `sources` on the same /24) on
/// veth `p0` of the director, and the director's `p1` on a switch for real servers
/// ([`real_server`] with gateway 198.19.0.1). Returns (client, director, that switch).
pub fn nat_front(lab: &mut Lab, sources: &[String]) -> anyhow::Result<(Ns, Ns, Switch)> {
    let client = lab.host("c")?;
    let lb = lab.host("lb")?;
    let mut inside = lab.switch("in")?;
    lab.veth(&client, "eth0", &lb, "p0")?;
    lab.plug(&mut inside, &lb, "p1")?;
    client.addr("eth0", "198.18.0.2/24")?;
    for a in sources {
        client.addr("eth0", &format!("{a}/24"))?;
    }
    Ok((client, lb, inside))
}

/// The NAT echo lab: [`nat_front`] with rs1 (198.19.0.11) and rs2 (198.19.0.12) on its switch,
/// each running the line echo service on port 7 and routing through the director's 198.19.0.1.
/// Returns (client, director).
pub fn nat_echo_pair(lab: &mut Lab, sources: &[String]) -> anyhow::Result<(Ns, Ns)> {
    let (client, lb, mut inside) = nat_front(lab, sources)?;
    for (i, name) in ["rs1", "rs2"].iter().enumerate() {
        let a = format!("198.19.0.{}", 11 + i);
        let rs = real_server(lab, &mut inside, name, &a, "198.19.0.1")?;
        echo_server(lab, &rs, name, &a)?;
    }
    Ok((client, lb))
}
