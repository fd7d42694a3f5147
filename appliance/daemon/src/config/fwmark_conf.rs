//! rvs.toml's firewall-mark parts ([`rvs_core::fwmark`]): a `[[service]]` named by `fwmark`
//! (and `family`) instead of protocol, vip and port, and the `[[fwmark]]` classifier rules.

use super::raw::{RawMarkRule, RawService};
use super::{ConfigFileError, Ctx};
use rvs_core::fwmark::MarkRule;
use rvs_core::service::Protocol;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a `[[service]]` is named: (protocol, VIP, port) or a mark of a family (the VIP is then
/// the family's unspecified address, the port 0, as [`rvs_core::service::Service::fwmark`]).
pub(super) struct ServiceName {
    pub(super) protocol: Protocol,
    pub(super) vip: IpAddr,
    pub(super) port: u16,
    pub(super) fwmark: u32,
}

impl Ctx<'_> {
    /// The name of `[[service]]` number `si`: `protocol`, `vip` and `port`, or `fwmark` with
    /// an optional `family`, never both.
    pub(super) fn service_name(&self, s: &RawService, si: usize) -> Result<ServiceName, ConfigFileError> {
        let key = |k: &str| format!("service[{si}].{k}");
        if let Some(m) = &s.fwmark {
            let clash = [(&s.protocol, "protocol"), (&s.vip, "vip")]
                .into_iter()
                .find_map(|(v, k)| v.as_ref().map(|v| (v.span(), k)))
                .or(s.port.as_ref().map(|p| (p.span(), "port")));
            if let Some((span, k)) = clash {
                return Err(self.err(
                    span,
                    key(k),
                    "a fwmark service has no protocol, vip or port: its [[fwmark]] rules say which packets it serves",
                ));
            }
            if *m.get_ref() == 0 {
                return Err(self.err(m.span(), key("fwmark"), "mark 0 marks nothing (1 ..= 4294967295)"));
            }
            let vip = match s.family.as_ref().map(|f| (f.span(), f.get_ref().as_str())) {
                None | Some((_, "ipv4")) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Some((_, "ipv6")) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                Some((span, other)) => {
                    return Err(self.err(span, key("family"), format!("{other:?}: expected ipv4 or ipv6")))
                }
            };
            return Ok(ServiceName { protocol: Protocol::Tcp, vip, port: 0, fwmark: *m.get_ref() });
        }
        if let Some(f) = &s.family {
            return Err(self.err(f.span(), key("family"), "family goes with fwmark (a VIP has its own)"));
        }
        let missing = |k: &str| self.err(0..0, key(k), "missing: a service needs protocol, vip and port, or fwmark");
        let p = s.protocol.as_ref().ok_or_else(|| missing("protocol"))?;
        let protocol: Protocol =
            p.get_ref().parse().map_err(|e| self.err(p.span(), key("protocol"), format!("{e}")))?;
        let vip = self.ip(s.vip.as_ref().ok_or_else(|| missing("vip"))?, &key("vip"))?;
        let port = s.port.as_ref().ok_or_else(|| missing("port"))?;
        if *port.get_ref() == 0 {
            return Err(self.err(port.span(), key("port"), "port 0 is not supported"));
        }
        Ok(ServiceName { protocol, vip, port: *port.get_ref(), fwmark: 0 })
    }

    /// `[[fwmark]]`: each rule once per port range it lists, in file order.
    pub(super) fn mark_rules(&self, raw: &[RawMarkRule]) -> Result<Vec<MarkRule>, ConfigFileError> {
        let mut rules = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            let key = |k: &str| format!("fwmark[{i}].{k}");
            let protocol = match &r.protocol {
                None => None,
                Some(p) => Some(p.get_ref().parse().map_err(|e| self.err(p.span(), key("protocol"), format!("{e}")))?),
            };
            let (dst, prefix_len) = rvs_core::fwmark::parse_prefix(r.destination.get_ref())
                .map_err(|e| self.err(r.destination.span(), key("destination"), e))?;
            let ranges = match &r.ports {
                None => vec![(1, u16::MAX)],
                Some(list) => {
                    let mut v = Vec::new();
                    for p in list.get_ref() {
                        let text = match p {
                            toml::Value::Integer(n) => n.to_string(),
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let parsed =
                            rvs_core::fwmark::parse_ports(&text).map_err(|e| self.err(list.span(), key("ports"), e))?;
                        v.extend(parsed);
                    }
                    if v.is_empty() {
                        return Err(self.err(list.span(), key("ports"), "no ports: leave the key out for all"));
                    }
                    v
                }
            };
            if *r.mark.get_ref() == 0 {
                return Err(self.err(r.mark.span(), key("mark"), "mark 0 marks nothing (1 ..= 4294967295)"));
            }
            for ports in ranges {
                let rule = MarkRule { mark: *r.mark.get_ref(), protocol, dst, prefix_len, ports };
                rule.check().map_err(|e| self.err(r.destination.span(), key("destination"), e))?;
                rules.push(rule);
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const PORT: &str = "[[port]]\nname = \"p\"\ndevice = \"net_null0\"\naddress = \"10.0.0.1/24\"\n";

    fn parse(rest: &str) -> Result<Config, super::ConfigFileError> {
        Config::parse("t.toml", &format!("{PORT}{rest}"))
    }

    #[test]
    fn a_fwmark_service_and_its_rules_parse() {
        let c = parse(
            "[[fwmark]]\nmark = 1\nprotocol = \"tcp\"\ndestination = \"10.0.0.100\"\nports = [80, \"443\", \"8000-8099\"]\n\
             [[fwmark]]\nmark = 2\ndestination = \"2001:db8::/64\"\n\
             [[service]]\nfwmark = 1\nscheduler = \"rr\"\npersistence = 300\n\
               [[service.real]]\n  address = \"10.0.0.11\"\n  forward = \"nat\"\n\
               [[service.real]]\n  address = \"10.0.0.12\"\n  forward = \"dr\"\n\
             [[service]]\nfwmark = 2\nfamily = \"ipv6\"\n",
        )
        .unwrap();
        assert_eq!(c.mark_rules.len(), 4, "one rule per range: {:?}", c.mark_rules);
        assert_eq!(c.mark_rules[2].ports, (8000, 8099));
        assert_eq!(c.mark_rules[3].prefix_len, 64);
        assert_eq!(c.services[0].fwmark, 1);
        assert_eq!(c.services[0].name(), "fwmark 1");
        assert_eq!((c.services[0].dests[0].port, c.services[0].dests[1].port), (0, 0), "the packet's port");
        assert_eq!(c.services[1].name(), "fwmark 2 IPv6");
        let snap = c.snapshot(&[]).unwrap();
        assert!(snap.is_vip("10.0.0.100".parse().unwrap()), "a rule's address is a VIP");
    }

    #[test]
    fn bad_fwmark_parts_are_refused_with_the_key_named() {
        for (text, key, says) in [
            ("[[service]]\nfwmark = 1\nvip = \"10.0.0.100\"\n", "service[0].vip", "no protocol, vip or port"),
            ("[[service]]\nfwmark = 0\n", "service[0].fwmark", "mark 0"),
            ("[[service]]\nfwmark = 1\nfamily = \"ipx\"\n", "service[0].family", "ipv4 or ipv6"),
            ("[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.1\"\nport = 80\nfamily = \"ipv6\"\n", "service[0].family", "goes with fwmark"),
            ("[[service]]\nprotocol = \"tcp\"\nport = 80\n", "service[0].vip", "missing"),
            ("[[service]]\nfwmark = 1\n[[service]]\nfwmark = 1\n", "service[1].fwmark", "defined twice"),
            ("[[fwmark]]\nmark = 0\ndestination = \"10.0.0.100\"\n", "fwmark[0].mark", "mark 0"),
            ("[[fwmark]]\nmark = 1\ndestination = \"10.0.0.100/24\"\n", "fwmark[0].destination", "host bits"),
            ("[[fwmark]]\nmark = 1\ndestination = \"10.0.0.100\"\nports = [\"90-80\"]\n", "fwmark[0].ports", "backwards"),
            ("[[fwmark]]\nmark = 1\nprotocol = \"icmp\"\ndestination = \"10.0.0.100\"\n", "fwmark[0].protocol", "udp or sctp"),
            (
                "[[service]]\nfwmark = 1\n  [[service.real]]\n  address = \"10.0.0.11\"\n  [service.real.check]\n  kind = \"tcp\"\n",
                "service[0].real[0].check.port",
                "no port of its own",
            ),
            (
                "[[service]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n  [[service.real]]\n  address = \"10.0.0.11\"\n  port = 0\n  forward = \"nat\"\n",
                "service[0].real[0].port",
                "only for a fwmark",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(e.msg.contains(says), "{text}: {e}");
        }
    }
}
