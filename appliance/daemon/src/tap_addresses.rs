//! The IPv4 addresses of the exception interfaces (TAPs), read and changed over rtnetlink
//! (`RTM_GETADDR` dump, `RTM_NEWADDR` / `RTM_DELADDR`; rtnetlink(7)). Both ways rvsd and the
//! host's daemons talk about VIPs: keepalived puts a VIP there for [`crate::vip_watch`], and
//! [`crate::vip_announce`] puts one there for the routing daemon to announce.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;

/// The kernel's index of interface `name` (from sysfs; None while it does not exist).
pub fn ifindex(name: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?.trim().parse().ok()
}

/// A request-and-answer rtnetlink socket.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
}

impl std::fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rtnl").field("seq", &self.seq).finish_non_exhaustive()
    }
}

impl Rtnl {
    /// Opens a socket connected to the kernel.
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0, rx: vec![0; 1 << 16] })
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        let mut req = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(msg));
        self.seq = self.seq.wrapping_add(1);
        req.header.flags = flags;
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0; req.buffer_len()];
        req.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        Ok(())
    }

    /// Reads answers to the last request, giving each address message to `each`, until the
    /// dump's end or the request's acknowledgement.
    fn answers(&mut self, mut each: impl FnMut(&AddressMessage)) -> io::Result<()> {
        loop {
            let n = self.sock.recv(&mut &mut self.rx[..], 0)?;
            let mut off = 0;
            while off < n {
                let m: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&self.rx[off..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Done(_) => return Ok(()),
                        NetlinkPayload::Error(e) if e.code.is_none() => return Ok(()), // the ACK
                        NetlinkPayload::Error(e) => return Err(e.to_io()),
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => each(&a),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// Every address (both families) on the interfaces `indexes`.
    pub fn addresses(&mut self, indexes: &[u32]) -> io::Result<BTreeSet<IpAddr>> {
        let mut found = BTreeSet::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut msg = AddressMessage::default();
            msg.header.family = family;
            self.send(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP | NLM_F_REQUEST)?;
            self.answers(|a| {
                if indexes.contains(&a.header.index) {
                    for attr in &a.attributes {
                        if let AddressAttribute::Local(ip) | AddressAttribute::Address(ip) = attr {
                            found.insert(*ip);
                        }
                    }
                }
            })?;
        }
        Ok(found)
    }

    /// `addr`/32 (IPv6: /128, without duplicate address detection) on interface `index`,
    /// global scope as `ip addr add` gives it (BIRD's `protocol direct` ignores host- and
    /// link-scope addresses).
    fn host_address(index: u32, addr: IpAddr) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        msg.header.prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        msg.header.index = index;
        msg.header.scope = AddressScope::Universe;
        if addr.is_ipv6() {
            msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        } else {
            msg.attributes.push(AddressAttribute::Local(addr));
        }
        msg.attributes.push(AddressAttribute::Address(addr));
        msg
    }

    /// Puts `addr`/32 (/128) on interface `index` (`ip addr replace ADDR/32 dev IF`).
    pub fn add_host_address(&mut self, index: u32, addr: IpAddr) -> io::Result<()> {
        let msg = Self::host_address(index, addr);
        self.send(RouteNetlinkMessage::NewAddress(msg), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE)?;
        self.answers(|_| {})
    }

    /// Removes `addr`/32 (/128) from interface `index`.
    pub fn del_host_address(&mut self, index: u32, addr: IpAddr) -> io::Result<()> {
        let msg = Self::host_address(index, addr);
        self.send(RouteNetlinkMessage::DelAddress(msg), NLM_F_REQUEST | NLM_F_ACK)?;
        self.answers(|_| {})
    }
}
