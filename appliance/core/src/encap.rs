//! The encapsulation a TUN real server asks for (`ipvsadm --tun-type ipip|gue|gre`,
//! `--tun-port`, `--tun-nocsum|--tun-csum|--tun-remcsum`), as IPVS's `ip_vs_tunnel_xmit`
//! builds it: IP-in-IP (RFC 2003, RFC 2473), GUE (draft-ietf-intarea-gue §3: an outer UDP
//! header and a 4-byte GUE header whose `proto_ctype` is the inner IP protocol) or GRE
//! (RFC 2784 §2, with the checksum of §2.5 when asked for). The bytes are written in
//! `xmit::tunnel` and `xmit::tunnel6`.

use crate::service::UnknownName;

/// A TUN real server's encapsulation (`ipvsadm --tun-type ipip|gue|gre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelKind {
    /// IP-in-IP (RFC 2003) or IPv6-in-IPv6 (RFC 2473): IPVS's default.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation (draft-ietf-intarea-gue): outer UDP to `--tun-port`.
    Gue,
    /// GRE (RFC 2784; the checksum field of RFC 2890's layout, no key, no sequence).
    Gre,
}

impl TunnelKind {
    /// ipvsadm's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Ipip => "ipip",
            TunnelKind::Gue => "gue",
            TunnelKind::Gre => "gre",
        }
    }
}

impl std::str::FromStr for TunnelKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "ipip" => Ok(TunnelKind::Ipip),
            "gue" => Ok(TunnelKind::Gue),
            "gre" => Ok(TunnelKind::Gre),
            other => Err(UnknownName(other.to_owned(), "ipip, gue or gre")),
        }
    }
}

/// A tunnel's checksum choice (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`, IPVS's
/// `IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelCsum {
    /// No checksum (UDP checksum 0; no GRE checksum field): IPVS's default.
    #[default]
    NoCsum,
    /// A checksum over the tunnel header and the packet (GUE's UDP checksum, GRE's field).
    Csum,
    /// GUE remote checksum offload. It applies only to packets whose own checksum a NIC has
    /// still to fill in (`CHECKSUM_PARTIAL`), which forwarded packets never are: as IPVS does
    /// for them, the outer UDP checksum is filled in and no private option is added.
    RemCsum,
}

impl TunnelCsum {
    /// ipvsadm's `--tun-info` flag (`-c`, `+c`, `r+c`).
    pub fn info(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "-c",
            TunnelCsum::Csum => "+c",
            TunnelCsum::RemCsum => "r+c",
        }
    }
    /// ipvsadm's option (`--tun-nocsum`, ...).
    pub fn option(self) -> &'static str {
        match self {
            TunnelCsum::NoCsum => "--tun-nocsum",
            TunnelCsum::Csum => "--tun-csum",
            TunnelCsum::RemCsum => "--tun-remcsum",
        }
    }
}

/// How a TUN real server's packets are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tunnel {
    /// Encapsulation.
    pub kind: TunnelKind,
    /// GUE's UDP destination port (0 for the others).
    pub port: u16,
    /// Checksums (GUE and GRE).
    pub csum: TunnelCsum,
}

impl Tunnel {
    /// IPVS's default: IP-in-IP.
    pub const IPIP: Tunnel = Tunnel { kind: TunnelKind::Ipip, port: 0, csum: TunnelCsum::NoCsum };

    /// Checks the combination as ipvsadm's `tunnel_types_v_options` table does: GUE needs a
    /// port, GRE takes none and no remote checksum, IP-in-IP takes neither.
    pub fn check(self) -> Result<(), String> {
        match (self.kind, self.port, self.csum) {
            (TunnelKind::Gue, 0, _) => Err("you need to supply the 'tun-port' option for the 'gue' tunnel type".into()),
            (TunnelKind::Gre | TunnelKind::Ipip, p, _) if p != 0 => {
                Err(format!("illegal 'tun-port' option with the '{}' tunnel type", self.kind.as_str()))
            }
            (TunnelKind::Gre, _, TunnelCsum::RemCsum) => {
                Err("illegal 'tun-remcsum' option with the 'gre' tunnel type".into())
            }
            (TunnelKind::Ipip, _, c) if c != TunnelCsum::NoCsum => {
                Err(format!("illegal '{}' option with the 'ipip' tunnel type", &c.option()[2..]))
            }
            _ => Ok(()),
        }
    }

    /// Bytes the tunnel header adds after the outer IP header.
    pub fn header_len(self) -> usize {
        match self.kind {
            TunnelKind::Ipip => 0,
            TunnelKind::Gue => 8 + 4,
            TunnelKind::Gre if self.csum == TunnelCsum::Csum => 8,
            TunnelKind::Gre => 4,
        }
    }

    /// ipvsadm's `--tun-info` column: `ipip`, `gue:PORT:FLAG`, `gre:FLAG`.
    pub fn info(self) -> String {
        match self.kind {
            TunnelKind::Ipip => "ipip".into(),
            TunnelKind::Gue => format!("gue:{}:{}", self.port, self.csum.info()),
            TunnelKind::Gre => format!("gre:{}", self.csum.info()),
        }
    }
}
