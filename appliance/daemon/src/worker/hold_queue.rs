//! Frames waiting for their next hop's MAC: held (bounded per next hop) while the worker asks by
//! ARP (IPv6: a neighbour solicitation), sent once the answer is in the neighbour table, dropped
//! after the last try.

use super::*;

/// Most next hops one worker resolves at once, and frames held per next hop.
pub const PENDING_HOPS: usize = 32;
/// Frames held per unresolved next hop (Linux's `unres_qlen` is 101 packets by default; a
/// handshake needs a few).
pub const PENDING_FRAMES: usize = 8;
/// Milliseconds between ARP requests for one unresolved next hop, and how many are sent.
pub const ARP_RETRY_MS: u64 = 1000;
/// ARP requests per next hop before its held frames are dropped.
pub const ARP_TRIES: u32 = 3;

#[derive(Debug)]
struct PendingHop<'p> {
    next_hop: IpAddr,
    port: u16,
    frames: Vec<Mbuf<'p>>,
    last_arp_ms: u64,
    tries: u32,
}

/// Frames waiting for their next hop's MAC (bounded, allocated once).
#[derive(Debug)]
pub struct PendingQueue<'p> {
    hops: Vec<PendingHop<'p>>,
}

impl<'p> PendingQueue<'p> {
    /// Room for [`PENDING_HOPS`] next hops of [`PENDING_FRAMES`] frames each.
    pub fn new() -> Self {
        PendingQueue {
            hops: (0..PENDING_HOPS)
                .map(|_| PendingHop {
                    next_hop: UNSET,
                    port: 0,
                    frames: Vec::with_capacity(PENDING_FRAMES),
                    last_arp_ms: 0,
                    tries: 0,
                })
                .collect(),
        }
    }
}

impl PendingQueue<'_> {
    /// Frees every held frame (the worker is stopping).
    pub fn clear(&mut self) {
        for h in &mut self.hops {
            h.frames.clear();
        }
    }
}

impl Default for PendingQueue<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'p, Q: QueuePair<'p>> Running<'_, 'p, Q> {
    /// Holds a frame until `next_hop` resolves; asks for it at once if it is new.
    pub(super) fn hold(&mut self, port: u16, next_hop: IpAddr, m: Mbuf<'p>, now: u64) {
        if let Some(h) = self.pending.hops.iter_mut().find(|h| h.next_hop == next_hop) {
            if h.frames.len() < PENDING_FRAMES {
                h.frames.push(m);
            } else {
                self.io.neigh_dropped += 1;
            }
            return;
        }
        let Some(h) = self.pending.hops.iter_mut().find(|h| h.next_hop.is_unspecified()) else {
            self.io.neigh_dropped += 1;
            return;
        };
        h.next_hop = next_hop;
        h.port = port;
        h.frames.push(m);
        h.last_arp_ms = now;
        h.tries = 1;
        self.send_arp(port, next_hop);
    }

    /// Sends held frames whose next hop resolved; re-asks or gives up on the others.
    pub(super) fn service_pending(&mut self, now: u64) {
        for i in 0..self.pending.hops.len() {
            let nh = self.pending.hops[i].next_hop;
            if nh.is_unspecified() {
                continue;
            }
            let known = match nh {
                IpAddr::V4(a) => self.worker.shared.neighbours.lookup(a),
                IpAddr::V6(a) => self.worker.shared.neighbours6.lookup(a),
            };
            if let Some(mac) = known {
                let port = self.pending.hops[i].port;
                // Swap the frames out (keeping the Vec's capacity) to send them in order.
                let mut frames = std::mem::take(&mut self.pending.hops[i].frames);
                for mut m in frames.drain(..) {
                    set_dst_mac(m.data_mut(), mac);
                    self.tx(port, m);
                }
                self.pending.hops[i].frames = frames;
                self.pending.hops[i].next_hop = UNSET;
                continue;
            }
            let h = &mut self.pending.hops[i];
            if now - h.last_arp_ms >= ARP_RETRY_MS {
                if h.tries >= ARP_TRIES {
                    self.io.neigh_dropped += h.frames.len() as u64;
                    h.frames.clear();
                    h.next_hop = UNSET;
                } else {
                    h.tries += 1;
                    h.last_arp_ms = now;
                    let port = h.port;
                    self.send_arp(port, nh);
                }
            }
        }
    }

    /// Asks for `target` out of `port`: an ARP request for IPv4, a neighbour solicitation for
    /// IPv6 (from the port's link-local address for a link-local target, else its own).
    pub(super) fn send_arp(&mut self, port: u16, target: IpAddr) {
        let Some(me) = self.worker.ports.get(usize::from(port)).copied() else { return };
        let target = match target {
            IpAddr::V4(a) => a,
            IpAddr::V6(t) => return self.solicit(port, me, t),
        };
        let Some(mut m) = self.worker.pool.alloc() else { return };
        let Some(buf) = m.append(ETH_LEN + ARP_LEN) else { return };
        EthernetRepr { src: me.mac, dst: Mac::BROADCAST, vlan: None, ethertype: EtherType::ARP }.emit(buf);
        ArpRepr {
            operation: OP_REQUEST,
            sender_mac: me.mac,
            sender_ip: me.addr,
            target_mac: Mac::ZERO,
            target_ip: target,
        }
        .emit(&mut buf[ETH_LEN..]);
        self.io.arp_requests += 1;
        self.tx(port, m);
    }

    fn solicit(&mut self, port: u16, me: PortIdentity, target: Ipv6Addr) {
        let link_local = rvs_core::wire::ipv6::link_local(me.mac);
        let src = match me.addr6 {
            Some(a) if !target.is_unicast_link_local() => a,
            _ => link_local,
        };
        let Some(mut m) = self.worker.pool.alloc() else { return };
        let Some(buf) = m.append(rvs_core::xmit::icmpv6::SOLICITATION_FRAME_LEN) else { return };
        rvs_core::xmit::icmpv6::neighbour_solicitation(buf, me.mac, src, target);
        self.io.arp_requests += 1;
        self.tx(port, m);
    }
}

/// `next_hop` of a free slot.
const UNSET: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
