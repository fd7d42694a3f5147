//! Topologies more than one lab test uses.

use super::{http, Lab, Ns, Switch};

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
