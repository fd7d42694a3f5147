//! The PROXY protocol header (HAProxy's specification, versions 1 and 2): what a FULLNAT
//! director puts in front of a TCP connection's first data so that the real server (nginx's
//! `listen ... proxy_protocol`, HAProxy's `accept-proxy`) learns the client's address and port
//! and the address it connected to.
//!
//! - Version 1 (§2.1): one text line, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, at most
//!   107 bytes.
//! - Version 2 (§2.2): the 12-byte signature, version 2 and command PROXY (0x21), the family
//!   and transport (0x11 TCP over IPv4, 0x21 TCP over IPv6), the length of the addresses, then
//!   source and destination addresses and ports: 28 bytes for IPv4, 52 for IPv6.

use std::io::Write;
use std::net::SocketAddr;

/// Which header a service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    /// None.
    #[default]
    Off,
    /// Version 1 (text).
    V1,
    /// Version 2 (binary).
    V2,
}

impl ProxyProtocol {
    /// The name rvs.toml and rvsadm use: `none`, `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyProtocol::Off => "none",
            ProxyProtocol::V1 => "v1",
            ProxyProtocol::V2 => "v2",
        }
    }
}

impl std::str::FromStr for ProxyProtocol {
    type Err = crate::service::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "off" => Ok(ProxyProtocol::Off),
            "v1" => Ok(ProxyProtocol::V1),
            "v2" => Ok(ProxyProtocol::V2),
            other => Err(crate::service::UnknownName(other.to_owned(), "v1, v2 or none")),
        }
    }
}

/// The longest header: version 1's (§2.1).
pub const MAX_HEADER: usize = 107;
/// Version 2's signature (§2.2).
pub const SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// Writes the header of `version` for a TCP connection from `client` to `virt` into `out`;
/// returns its length (0 for [`ProxyProtocol::Off`], or for addresses of two families).
pub fn header(version: ProxyProtocol, client: SocketAddr, virt: SocketAddr, out: &mut [u8; MAX_HEADER]) -> usize {
    if client.is_ipv4() != virt.is_ipv4() {
        return 0;
    }
    match version {
        ProxyProtocol::Off => 0,
        ProxyProtocol::V1 => {
            let fam = if client.is_ipv4() { "TCP4" } else { "TCP6" };
            let mut w = &mut out[..];
            let room = w.len();
            let line = write!(w, "PROXY {fam} {} {} {} {}\r\n", client.ip(), virt.ip(), client.port(), virt.port());
            if line.is_err() {
                return 0;
            }
            room - w.len()
        }
        ProxyProtocol::V2 => {
            out[..12].copy_from_slice(&SIGNATURE);
            out[12] = 0x21; // version 2, PROXY
            let len = match (client, virt) {
                (SocketAddr::V4(c), SocketAddr::V4(v)) => {
                    out[13] = 0x11; // TCP over IPv4
                    out[16..20].copy_from_slice(&c.ip().octets());
                    out[20..24].copy_from_slice(&v.ip().octets());
                    12
                }
                (SocketAddr::V6(c), SocketAddr::V6(v)) => {
                    out[13] = 0x21; // TCP over IPv6
                    out[16..32].copy_from_slice(&c.ip().octets());
                    out[32..48].copy_from_slice(&v.ip().octets());
                    36
                }
                _ => return 0,
            };
            out[14..16].copy_from_slice(&(len as u16).to_be_bytes());
            out[16 + len - 4..16 + len - 2].copy_from_slice(&client.port().to_be_bytes());
            out[16 + len - 2..16 + len].copy_from_slice(&virt.port().to_be_bytes());
            16 + len
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_are_written_as_the_specification_shows() {
        let mut b = [0u8; MAX_HEADER];
        let (c, v): (SocketAddr, SocketAddr) =
            ("203.0.113.7:40000".parse().unwrap(), "198.18.0.100:80".parse().unwrap());
        let n = header(ProxyProtocol::V1, c, v, &mut b);
        assert_eq!(&b[..n], b"PROXY TCP4 203.0.113.7 198.18.0.100 40000 80\r\n");
        let n = header(ProxyProtocol::V2, c, v, &mut b);
        assert_eq!(n, 28);
        assert_eq!(
            &b[..16],
            &[0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0, 12]
        );
        assert_eq!(&b[16..28], &[203, 0, 113, 7, 198, 18, 0, 100, 0x9c, 0x40, 0, 80]);
        let (c6, v6): (SocketAddr, SocketAddr) =
            ("[2001:db8::7]:40000".parse().unwrap(), "[2001:db8::100]:443".parse().unwrap());
        assert_eq!(header(ProxyProtocol::V2, c6, v6, &mut b), 52);
        assert_eq!((b[13], b[15]), (0x21, 36));
        assert_eq!(&b[48..52], &[0x9c, 0x40, 0x01, 0xbb]);
        let n = header(ProxyProtocol::V1, c6, v6, &mut b);
        assert_eq!(&b[..n], b"PROXY TCP6 2001:db8::7 2001:db8::100 40000 443\r\n");
        // The longest line fits.
        let (c6, v6): (SocketAddr, SocketAddr) = (
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".parse().unwrap(),
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535".parse().unwrap(),
        );
        assert_eq!(header(ProxyProtocol::V1, c6, v6, &mut b), 104);
        assert_eq!(header(ProxyProtocol::V2, c, v6, &mut b), 0, "two families: none");
        assert_eq!(header(ProxyProtocol::Off, c, v, &mut b), 0);
    }
}
