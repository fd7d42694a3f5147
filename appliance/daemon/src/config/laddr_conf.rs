//! rvs.toml's FULLNAT parts of a `[[service]]`: `laddrs` (its local addresses) and `lports`
//! (the range of local ports, `"LO-HI"`). A real server with `forward = "fullnat"` needs at
//! least one local address of its service's family.

use super::raw::RawService;
use super::{ConfigFileError, Ctx};
use rvs_core::service::{Forward, LocalPorts};
use std::net::IpAddr;

/// Parses `"LO-HI"` (ports, inclusive; LO above 0, LO <= HI) as rvs.toml and rvsadm spell it.
pub fn parse_lports(s: &str) -> Result<LocalPorts, String> {
    let (lo, hi) = s.split_once('-').ok_or_else(|| format!("{s:?}: expected LO-HI, e.g. 1024-65535"))?;
    let port = |p: &str| p.trim().parse::<u16>().map_err(|_| format!("{s:?}: {p:?} is not a port"));
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo == 0 || lo > hi {
        return Err(format!("{s:?}: the range must be ordered and start above 0"));
    }
    Ok(LocalPorts { lo, hi })
}

impl Ctx<'_> {
    /// `service[si].laddrs` and `service[si].lports`, checked against the service's family
    /// (`vip`) and its real servers' methods.
    pub(super) fn local_addrs(
        &self,
        s: &RawService,
        si: usize,
        vip: IpAddr,
    ) -> Result<(Vec<IpAddr>, LocalPorts), ConfigFileError> {
        let key = |k: &str| format!("service[{si}].{k}");
        let mut laddrs = Vec::new();
        for (i, a) in s.laddrs.iter().enumerate() {
            let addr = self.ip(a, &format!("service[{si}].laddrs[{i}]"))?;
            if addr.is_ipv6() && vip.is_ipv4() {
                return Err(self.err(
                    a.span(),
                    key("laddrs"),
                    format!("{addr} is not of the service's address family"),
                ));
            }
            if laddrs.contains(&addr) {
                return Err(self.err(a.span(), key("laddrs"), format!("{addr} is listed twice")));
            }
            laddrs.push(addr);
        }
        let lports = match &s.lports {
            None => LocalPorts::default(),
            Some(r) => parse_lports(r.get_ref()).map_err(|e| self.err(r.span(), key("lports"), e))?,
        };
        let fullnat =
            s.real.iter().filter_map(|r| r.forward.as_ref()).find(|f| f.get_ref() == Forward::FullNat.as_str());
        if let (true, Some(f)) = (laddrs.is_empty(), fullnat) {
            return Err(self.err(
                f.span(),
                key("laddrs"),
                "a real server with forward = \"fullnat\" needs at least one local address (laddrs = [\"ADDR\", ...])",
            ));
        }
        Ok((laddrs, lports))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_lports;

    #[test]
    fn port_ranges_are_read_and_bad_ones_refused_with_the_reason() {
        assert_eq!(parse_lports("1024-65535").map(|r| (r.lo, r.hi)), Ok((1024, 65535)));
        assert_eq!(parse_lports("40000-40000").map(|r| (r.lo, r.hi)), Ok((40000, 40000)));
        assert!(parse_lports("0-10").unwrap_err().contains("above 0"));
        assert!(parse_lports("20-10").unwrap_err().contains("ordered"));
        assert!(parse_lports("1024").unwrap_err().contains("LO-HI"));
        assert!(parse_lports("1-70000").unwrap_err().contains("not a port"));
    }
}
