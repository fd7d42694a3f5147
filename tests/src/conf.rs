//! Building rvs.toml text for lab runs.

/// `[dataplane]` for the lab: no hugepages, no PCI, quiet EAL; workers on `lcores`.
pub fn dataplane(lcores: &[u32]) -> String {
    let l: Vec<String> = lcores.iter().map(u32::to_string).collect();
    format!(
        "[dataplane]\neal_args = [\"--no-huge\", \"--no-pci\", \"-m\", \"256\", \"--no-telemetry\", \"--log-level\", \"lib.eal:error\"]\nlcores = [{}]\n\n",
        l.join(", ")
    )
}

/// A `[[port]]` on `net_af_packet<index>` over veth `iface`, owning `address` (CIDR).
pub fn port(name: &str, index: usize, iface: &str, address: &str) -> String {
    format!("[[port]]\nname = \"{name}\"\ndevice = \"net_af_packet{index},iface={iface}\"\naddress = \"{address}\"\n\n")
}

/// A `[[port]]` on DPDK's AF_XDP PMD (`net_af_xdp`) over the veth `iface`: an XDP program
/// hands the port's frames to rvsd's socket, so the namespace's kernel never sees them (no
/// reassembly, no copy into an skb), where af_packet only taps them.
pub fn port_xdp(name: &str, index: usize, iface: &str, address: &str) -> String {
    format!("[[port]]\nname = \"{name}\"\ndevice = \"net_af_xdp{index},iface={iface}\"\naddress = \"{address}\"\n\n")
}

/// A dual-stack `[[port]]`: one IPv4 and one IPv6 CIDR.
pub fn port_dual(name: &str, index: usize, iface: &str, v4: &str, v6: &str) -> String {
    format!(
        "[[port]]\nname = \"{name}\"\ndevice = \"net_af_packet{index},iface={iface}\"\naddress = [\"{v4}\", \"{v6}\"]\n\n"
    )
}

/// A real server of a lab service.
#[derive(Debug, Clone, Copy)]
pub struct Real<'a> {
    /// Its address.
    pub addr: &'a str,
    /// Its port (None = the virtual port).
    pub port: Option<u16>,
    /// Its weight.
    pub weight: u32,
    /// `nat`, `dr` or `tun`.
    pub forward: &'a str,
}

/// A `[[service]]` with its `[[service.real]]` entries.
pub fn service(protocol: &str, vip: &str, port: u16, scheduler: &str, reals: &[Real<'_>]) -> String {
    let mut s = format!(
        "[[service]]\nprotocol = \"{protocol}\"\nvip = \"{vip}\"\nport = {port}\nscheduler = \"{scheduler}\"\n"
    );
    for Real { addr, port: rport, weight, forward: fwd } in reals {
        s += &format!("  [[service.real]]\n  address = \"{addr}\"\n  weight = {weight}\n  forward = \"{fwd}\"\n");
        if let Some(p) = rport {
            s += &format!("  port = {p}\n");
        }
    }
    s + "\n"
}
