//! One connection as the table holds it: the flow's key, its real server and state, and the
//! links that thread it through the table's indexes, timer wheel and young FIFO — for IPv4 one
//! 64-byte cache line, so a packet's lookup and update touch exactly one line of the table.

use super::state::ConnState;
use crate::family::AddrKey;
use crate::service::Forward;

/// "No entry" in links and buckets.
pub const NIL: u32 = u32::MAX;

/// Flag: replies are never seen (IPVS `IP_VS_CONN_F_NOOUTPUT`): TCP uses the input-only table.
/// Set, as IPVS's `__ip_vs_update_dest` does, only for DR and TUN: a NAT connection uses the
/// INPUT/OUTPUT tables from its first packet.
pub const F_NO_OUTPUT: u8 = 0x01;

/// The flags a new connection to a real server forwarded by `forward` starts with.
#[inline]
pub fn initial_flags(forward: Forward) -> u8 {
    if forward.sees_replies() {
        F_INACTIVE
    } else {
        F_NO_OUTPUT | F_INACTIVE
    }
}
/// Flag: counted as inactive for its real server (not ESTABLISHED).
pub const F_INACTIVE: u8 = 0x02;
/// Flag: placed by a persistence template (which counts it in `n_control`).
pub const F_PERSIST: u8 = 0x04;
/// Flag: created from a sync record (IPVS's `IP_VS_CONN_F_SYNC`), not by a packet here.
pub const F_SYNCED: u8 = 0x08;
/// Flag: the real server answered this NAT connection with a segment that carried neither SYN
/// nor RST. A server's TCP sends one only once the client's ACK acknowledged its SYN-ACK, which
/// a client that never saw the SYN-ACK (a spoofed source) cannot do: the connection is real.
/// A DR/TUN connection gets it when its client packet count wraps (it was proved long ago).
pub const F_PROVED: u8 = 0x10;
/// Flag: the real server has sent at least one packet back through rvs (NAT, FULLNAT).
pub const F_REPLIED: u8 = 0x20;
/// Flag: the connection's sequence numbers are adjusted (the PROXY protocol header was or will
/// be put in front of its first data: [`crate::conn::seq_adjust`]).
pub const F_SEQ_ADJ: u8 = 0x40;
/// Flag: a SYN proxy's connection ([`crate::synproxy`]): its segments are shifted between what
/// the client was told and what the real server chose (it carries [`F_SEQ_ADJ`] too, so the
/// established path tests one bit).
pub const F_SYNPROXY: u8 = 0x80;

/// Client packets after which a connection whose replies rvs never sees (DR, TUN) counts as a
/// live peer's: IPVS's `todrop_entry` drops an entry of at most 8 incoming packets.
pub const PROVED_AFTER_PKTS: u16 = 8;

/// A connection's client packets are counted up to this many when nothing needs the exact
/// count (no sync master): past it the proof of a live peer and the UDP option trail read the
/// same, and an established flow's entry is not written for the count.
pub const PKTS_COUNTED: u16 = PROVED_AFTER_PKTS + 1;

/// One connection: for IPv4 (`K = u32`) 64 bytes, aligned to a cache line, so a packet's
/// lookup and update read and write exactly one line of the table; for IPv6 (`K = u128`) two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(64))]
pub struct Conn<K = u32> {
    /// Client address (host order).
    pub caddr: K,
    /// Virtual address.
    pub vaddr: K,
    /// Real server address.
    pub daddr: K,
    /// The address the real server sees as the client's and replies to: the client's own
    /// (`caddr`) for every method but FULLNAT, whose local address (LIP) it is. The reply-side
    /// index keys on (daddr, dport, laddr, lport), so NAT and FULLNAT share it.
    pub laddr: K,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real server port.
    pub dport: u16,
    /// The port the real server sees as the client's: `cport`, or FULLNAT's local port.
    pub lport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// ConnState.
    pub state: ConnState,
    /// Forwarding method.
    pub forward: Forward,
    /// `F_*` flags.
    pub flags: u8,
    /// The state this connection was last sent to backups in (IPVS's `old_state`; `None`
    /// until it is first sent).
    pub synced: ConnState,
    /// Real server id.
    pub dest: u16,
    /// Service id.
    pub svc: u16,
    /// Second (core clock) after which the connection expires.
    pub expires: u32,
    /// Packets client -> server, wrapping (the sync threshold reads it modulo its period, as
    /// IPVS's `in_pkts`).
    pub pkts_in: u16,
    pub(super) next_c: u32,
    pub(super) next_r: u32,
    /// Timer-wheel links. `timer_prev` is [`FREE`] for a free entry (whose `timer_next` links
    /// the free list) and `SLOT_HEAD + slot` for the first entry of a wheel slot's list.
    pub(super) timer_prev: u32,
    pub(super) timer_next: u32,
    /// Young-FIFO links; `young_prev` is [`OFF_QUEUE`] once the entry left it.
    pub(super) young_prev: u32,
    pub(super) young_next: u32,
}

// A connection, with all its links, is one cache line: the table is the entries and two
// bucket arrays, nothing else per connection. A new field must fit.
const _: () = assert!(std::mem::size_of::<Conn>() == 64);
const _: () = assert!(std::mem::size_of::<Conn<u128>>() == 128);

impl<K: AddrKey> Conn<K> {
    /// A new connection record (links unset).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        proto: u8,
        caddr: K,
        cport: u16,
        vaddr: K,
        vport: u16,
        daddr: K,
        dport: u16,
        forward: Forward,
        svc: u16,
        dest: u16,
    ) -> Self {
        Conn {
            caddr,
            vaddr,
            daddr,
            laddr: caddr,
            cport,
            vport,
            dport,
            lport: cport,
            proto,
            state: ConnState::None,
            forward,
            flags: initial_flags(forward),
            synced: ConnState::None,
            dest,
            svc,
            expires: 0,
            pkts_in: 0,
            next_c: NIL,
            next_r: NIL,
            timer_prev: FREE,
            timer_next: NIL,
            young_prev: OFF_QUEUE,
            young_next: NIL,
        }
    }

    /// True for an entry that has not proved a live peer and may be evicted for a new
    /// connection when the table is full:
    /// - a TCP handshake the client never completed (NONE, SYN_RECV, SYNACK);
    /// - a NAT TCP connection the real server never answered past its SYN-ACK ([`F_PROVED`]),
    ///   in any state: a spoofed SYN and a blind ACK reach ESTABLISHED by IPVS's INPUT table, and
    ///   the server's RST to that ACK moves it to CLOSE;
    /// - a DR/TUN TCP connection of at most [`PROVED_AFTER_PKTS`] client packets: the director
    ///   never sees the reply, so nothing a spoofed source cannot also send proves more; a
    ///   flood must then spend 9 packets an entry instead of 2;
    /// - a NAT UDP flow never answered, a DR/TUN UDP flow of one datagram.
    #[inline]
    pub fn is_embryonic(&self) -> bool {
        match self.state {
            ConnState::None | ConnState::SynRecv | ConnState::SynAck => true,
            // An SCTP association before the client's COOKIE ECHO (the SYN flood's twin).
            ConnState::SctpInit1 | ConnState::SctpInit | ConnState::SctpCookieSent | ConnState::SctpRejected => true,
            ConnState::Udp if self.forward.sees_replies() => self.flags & F_REPLIED == 0,
            ConnState::Udp => self.pkts_in <= 1 && self.flags & F_PROVED == 0,
            _ if self.forward.sees_replies() => self.flags & F_PROVED == 0,
            _ => self.pkts_in <= PROVED_AFTER_PKTS && self.flags & F_PROVED == 0,
        }
    }

    /// True when the connection is indexed by its reply too (NAT, FULLNAT).
    #[inline]
    pub fn has_reply_key(&self) -> bool {
        self.forward.sees_replies()
    }

    /// True for a FULLNAT connection (its real server sees `laddr:lport`, not the client).
    #[inline]
    pub fn is_fullnat(&self) -> bool {
        self.forward == Forward::FullNat
    }
}

/// `young_prev` of an entry not in the young FIFO.
pub(super) const OFF_QUEUE: u32 = NIL - 1;
/// `timer_prev` of a free entry.
pub(super) const FREE: u32 = NIL - 2;
