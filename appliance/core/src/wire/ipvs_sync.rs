//! IPVS connection synchronisation, protocol versions 1 and 0, as the Linux kernel speaks them
//! (`net/netfilter/ipvs/ip_vs_sync.c`): a master director sends the connections it holds to
//! backups in UDP datagrams (multicast 224.0.0.81:8848 by default, TTL 1), so that a backup that
//! takes over the VIP already knows where each established connection goes.
//!
//! A message is an 8-byte header and `nr_conns` connection records:
//!
//! ```text
//! header   | 0 (reserved) | syncid | size (be16, whole message) |
//!          | nr_conns     | version (1) | spare (0, be16)      |
//! record   | type (0 = IPv4, 1 = IPv6) | protocol | ver_size (be16: version << 12 | size) |
//!          | flags (be32) | state (be16) | cport | vport | dport | fwmark (be32) |
//!          | timeout (be32, seconds) | caddr | vaddr | daddr |      (36 bytes for IPv4, 72 for IPv6)
//!          | options: (type, length, data)* ... padded to 4 bytes before the next record
//! ```
//!
//! The receiver checks what `ip_vs_process_message` checks: the size field equals the datagram,
//! the syncid matches (0 accepts any), version 1 with reserved and spare zero; per record the
//! version nibble, the size within the message, known option lengths (each option once), the
//! protocol and the state in range. Records are taken as they are read, as IPVS applies each in
//! turn: a record that breaks the framing (runs past the message, another version, shorter than
//! its fixed part) ends the message and those before it stand. Where rvs deliberately differs:
//! a record whose own content is malformed (a bad type byte or option) is skipped alone, since
//! its size field still delimits it, where IPVS drops the rest of the datagram (fixture:
//! `a_record_with_bad_options_is_skipped_alone_and_earlier_records_survive_a_bad_frame`). A
//! record of an unknown protocol or state, or with an unknown mandatory option, is skipped alone
//! as in IPVS. Flags are masked to IPVS's backup mask.
//!
//! Version 0 (`sync_version = 0`, kernels before 2.6.39) is IPv4 only, without timeouts:
//!
//! ```text
//! header   | nr_conns | syncid | size (be16) |
//! record   | 0 | protocol | cport | vport | dport | caddr | vaddr | daddr |
//!          | flags (be16) | state (be16) |      (24 bytes; 48 with the sequence options)
//! ```
//! As `ip_vs_process_message` does, a message that is not version 1's layout is read as
//! version 0, whatever this director sends; a v0 record's timeout is 0, which the receiver
//! takes as the state's own timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{be16, be32, put16};

/// Version 0's header length.
pub const V0_HEADER_LEN: usize = 4;
/// Version 0's record length (`SIMPLE_CONN_SIZE`).
pub const V0_RECORD_LEN: usize = 24;

/// The default multicast group (224.0.0.81).
pub const SYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The default UDP port.
pub const SYNC_PORT: u16 = 8848;
/// The protocol version this module speaks.
pub const SYNC_VERSION: u8 = 1;
/// Message header bytes.
pub const HEADER_LEN: usize = 8;
/// Bytes of an IPv4 connection record without options.
pub const V4_RECORD_LEN: usize = 36;
/// Bytes of an IPv6 connection record without options.
pub const V6_RECORD_LEN: usize = 72;
/// The default largest message: a 1500-byte MTU less the IPv4 and UDP headers.
pub const DEFAULT_MAXLEN: usize = 1500 - 20 - 8;

/// IPVS connection flags (`include/uapi/linux/ip_vs.h`) that sync records carry.
pub mod conn_flags {
    /// The forwarding method's bits.
    pub const FWD_MASK: u32 = 0x0007;
    /// Masquerading (NAT).
    pub const MASQ: u32 = 0x0000;
    /// IP-in-IP tunnel.
    pub const TUNNEL: u32 = 0x0002;
    /// Direct routing.
    pub const DROUTE: u32 = 0x0003;
    /// Full NAT, DPVS's value (a kernel IPVS has none: it would not forward such a record's
    /// connection).
    pub const FULLNAT: u32 = 0x0005;
    /// Created by sync (set by the receiver).
    pub const SYNC: u32 = 0x0020;
    /// Hashed (never sent).
    pub const HASHED: u32 = 0x0040;
    /// No output packets (DR, TUN).
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not established.
    pub const INACTIVE: u32 = 0x0100;
    /// Sequence adjustment (application helpers): the SEQ option follows.
    pub const SEQ_MASK: u32 = 0x0600;
    /// The client direction's sequence numbers are adjusted (`IP_VS_CONN_F_IN_SEQ`).
    pub const IN_SEQ: u32 = 0x0200;
    /// The server direction's sequence numbers are adjusted (`IP_VS_CONN_F_OUT_SEQ`).
    pub const OUT_SEQ: u32 = 0x0400;
    /// No client port yet.
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// What a backup keeps of a record's flags (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 = FWD_MASK | NOOUTPUT | INACTIVE | SEQ_MASK | NO_CPORT | TEMPLATE;
}

/// Option types (`IPVS_OPT_*`); `F_PARAM` marks an option a receiver may ignore.
mod opt {
    pub const SEQ_DATA: u8 = 1;
    pub const PE_DATA: u8 = 2;
    pub const PE_NAME: u8 = 3;
    pub const F_PARAM: u8 = 1 << (7 - 1);
    /// rvs's FULLNAT local end (address, port), sent with [`F_PARAM`] set so that a kernel
    /// IPVS skips it (`ip_vs_proc_sync_conn` skips unknown options that are not mandatory).
    pub const LOCAL_END: u8 = 0x20;
    pub const LOCAL_END_LEN4: usize = 6;
    pub const LOCAL_END_LEN6: usize = 18;
    /// rvs's SYN proxy shifts ([`super::ProxyShift`]), with [`F_PARAM`] set as
    /// [`LOCAL_END`] is.
    pub const PROXY_SHIFT: u8 = 0x21;
    pub const PROXY_SHIFT_LEN: usize = 8;
    pub const SEQ_LEN: usize = 24;
    pub const PE_DATA_MAX: usize = 255;
    pub const PE_NAME_MAX: usize = 16;
}

/// TCP states as IPVS numbers them (`IP_VS_TCP_S_*`: NONE 0 .. SYNACK 10); UDP has one (0).
const TCP_STATES: u16 = 11;
const UDP_STATES: u16 = 1;
/// SCTP's (`IP_VS_SCTP_S_*`: NONE 0 .. CLOSED 13).
const SCTP_STATES: u16 = 14;

/// One connection (or persistence template) of a sync message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConn {
    /// IP protocol (TCP, UDP or SCTP; a template carries its service's, 0 for a firewall mark's).
    pub protocol: u8,
    /// IPVS connection flags ([`conn_flags`]).
    pub flags: u32,
    /// IPVS state number (for TCP: `IP_VS_TCP_S_*`, the order of rvs's `ConnState`).
    pub state: u16,
    /// Client port (0 in a template).
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real server port.
    pub dport: u16,
    /// Firewall mark (0: rvs has none).
    pub fwmark: u32,
    /// Seconds the receiver should keep it.
    pub timeout: u32,
    /// Client address (masked client network in a template). The three addresses are of one
    /// family: the record's type.
    pub caddr: IpAddr,
    /// Virtual address.
    pub vaddr: IpAddr,
    /// Real server address.
    pub daddr: IpAddr,
    /// A FULLNAT connection's local address and port (rvs's option [`opt::LOCAL_END`]).
    pub local: Option<(IpAddr, u16)>,
    /// The client direction's sequence adjustment, IPVS's `in_seq` (`init_seq`, `delta`,
    /// `previous_delta`), from the SEQ option when the flags say `IN_SEQ`.
    pub seq_in: Option<[u32; 3]>,
    /// The server direction's, IPVS's `out_seq` (a SYN proxy's), when they say `OUT_SEQ`.
    pub seq_out: Option<[u32; 3]>,
    /// A SYN proxy's timestamp and window shifts (rvs's option).
    pub proxy_shift: Option<ProxyShift>,
}

/// What a SYN-proxied connection shifts besides sequence numbers: the real server's timestamps
/// (`ts_delta` is added to its TSval and taken from the client's TSecr) and the windows' scales
/// (`windows`: client -> server from, to; server -> client from, to; 0xff when unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyShift {
    /// Added to the server's TSval.
    pub ts_delta: u32,
    /// Window shifts, 0xff for none.
    pub windows: [u8; 4],
}

/// Why a whole message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Shorter than a header, or the size field differs from the datagram's length.
    #[error("bad size")]
    BadSize,
    /// Another sync group's message.
    #[error("another syncid")]
    OtherSyncid,
}

/// What one message held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// Its records that can be applied, in order (flags masked, `SYNC` set).
    pub conns: Vec<SyncConn>,
    /// Records skipped alone as IPVS skips them: unknown protocol or state, unknown mandatory
    /// option.
    pub skipped: u32,
    /// Records skipped alone because their content is malformed (type byte, options).
    pub malformed: u32,
    /// A record broke the message's framing: it and the rest of the message were dropped.
    pub cut: bool,
}

/// Reads a message received on the sync socket, for the group `syncid` (0: any).
pub fn parse(msg: &[u8], syncid: u8) -> Result<Received, SyncError> {
    if msg.len() < HEADER_LEN || usize::from(be16(msg, 2)) != msg.len() {
        return Err(SyncError::BadSize);
    }
    if syncid != 0 && msg[1] != syncid {
        return Err(SyncError::OtherSyncid);
    }
    if msg[0] != 0 || msg[5] != SYNC_VERSION || be16(msg, 6) != 0 {
        return Ok(parse_v0(msg));
    }
    let mut out = Received::default();
    let mut at = HEADER_LEN;
    for _ in 0..msg[4] {
        if at + V4_RECORD_LEN > msg.len() {
            out.cut = true;
            break;
        }
        let ver_size = be16(msg, at + 2);
        let size = usize::from(ver_size & 0x0fff);
        let end = at + size;
        // A record shorter than its fixed part ends the message too (IPVS's "-20").
        if end > msg.len() || ver_size >> 12 != 0 || size < V4_RECORD_LEN {
            out.cut = true;
            break;
        }
        match record(&msg[at..end]) {
            Ok(Some(c)) => out.conns.push(c),
            Ok(None) => out.skipped += 1,
            Err(Malformed) => out.malformed += 1,
        }
        at += (size + 3) & !3;
    }
    Ok(out)
}

/// A version 0 message (its size and syncid checked), as `ip_vs_process_message_v0` reads it:
/// a record that runs past the message ends it.
fn parse_v0(msg: &[u8]) -> Received {
    let mut out = Received::default();
    let mut at = V0_HEADER_LEN;
    for _ in 0..msg[0] {
        if at + V0_RECORD_LEN > msg.len() {
            out.cut = true;
            break;
        }
        let r = &msg[at..];
        let flags = (u32::from(be16(r, 20)) & conn_flags::BACKUP_MASK) | conn_flags::SYNC;
        let len = if flags & conn_flags::SEQ_MASK != 0 { 2 * V0_RECORD_LEN } else { V0_RECORD_LEN };
        if at + len > msg.len() {
            out.cut = true;
            break;
        }
        at += len;
        let c = SyncConn {
            protocol: r[1],
            flags,
            state: be16(r, 22),
            cport: be16(r, 2),
            vport: be16(r, 4),
            dport: be16(r, 6),
            fwmark: 0,
            timeout: 0,
            caddr: IpAddr::V4(Ipv4Addr::from(be32(r, 8))),
            vaddr: IpAddr::V4(Ipv4Addr::from(be32(r, 12))),
            daddr: IpAddr::V4(Ipv4Addr::from(be32(r, 16))),
            local: None,
            seq_in: None,
            seq_out: None,
            proxy_shift: None,
        };
        let states = match c.protocol {
            crate::wire::ipv4::protocol::TCP => TCP_STATES,
            crate::wire::ipv4::protocol::UDP => UDP_STATES,
            crate::wire::ipv4::protocol::SCTP => SCTP_STATES,
            _ if flags & conn_flags::TEMPLATE != 0 => u16::MAX,
            _ => {
                out.skipped += 1;
                continue;
            }
        };
        if flags & conn_flags::TEMPLATE == 0 && c.state >= states {
            out.skipped += 1;
            continue;
        }
        out.conns.push(c);
    }
    out
}

/// A record's own content is malformed (it is skipped alone).
#[derive(Debug)]
struct Malformed;

/// One record (its `size` bytes): `Ok(None)` when it is to be skipped alone.
fn record(r: &[u8]) -> Result<Option<SyncConn>, Malformed> {
    let ipv6 = r[0] & 1 != 0;
    if r[0] & !1 != 0 {
        return Err(Malformed);
    }
    let fixed = if ipv6 { V6_RECORD_LEN } else { V4_RECORD_LEN };
    if r.len() < fixed {
        return Err(Malformed);
    }
    // Options: each (type, length > 0) within the record; the known ones once, sized right.
    let (mut p, mut seen) = (fixed, 0u8);
    let mut skip = false;
    let mut local = None;
    let mut seq = None;
    let mut proxy_shift = None;
    while p < r.len() {
        if p + 2 > r.len() {
            return Err(Malformed);
        }
        let (ty, len) = (r[p], usize::from(r[p + 1]));
        p += 2;
        if len == 0 || p + len > r.len() {
            return Err(Malformed);
        }
        let (bit, ok) = match ty & !opt::F_PARAM {
            opt::SEQ_DATA => {
                if len == opt::SEQ_LEN {
                    let w = |k: usize| be32(r, p + 4 * k);
                    seq = Some([[w(0), w(1), w(2)], [w(3), w(4), w(5)]]);
                }
                (1, len == opt::SEQ_LEN)
            }
            opt::PE_DATA => (2, len <= opt::PE_DATA_MAX),
            opt::PE_NAME => (4, len <= opt::PE_NAME_MAX),
            opt::PROXY_SHIFT => {
                if len == opt::PROXY_SHIFT_LEN {
                    let windows = [r[p + 4], r[p + 5], r[p + 6], r[p + 7]];
                    proxy_shift = Some(ProxyShift { ts_delta: be32(r, p), windows });
                }
                (16, len == opt::PROXY_SHIFT_LEN)
            }
            opt::LOCAL_END => {
                let want = if ipv6 { opt::LOCAL_END_LEN6 } else { opt::LOCAL_END_LEN4 };
                if len == want {
                    local = Some((addr_at(r, p, ipv6), be16(r, p + len - 2)));
                }
                (8, len == want)
            }
            _ => {
                skip |= ty & opt::F_PARAM == 0; // an unknown option the sender says we must know
                (0, true)
            }
        };
        if !ok || seen & bit != 0 {
            return Err(Malformed);
        }
        seen |= bit;
        p += len;
    }
    if skip {
        return Ok(None);
    }
    let flags = (be32(r, 4) & conn_flags::BACKUP_MASK) | conn_flags::SYNC;
    let c = SyncConn {
        protocol: r[1],
        flags,
        state: be16(r, 8),
        cport: be16(r, 10),
        vport: be16(r, 12),
        dport: be16(r, 14),
        fwmark: be32(r, 16),
        timeout: be32(r, 20),
        caddr: addr_at(r, 24, ipv6),
        vaddr: addr_at(r, if ipv6 { 40 } else { 28 }, ipv6),
        daddr: addr_at(r, if ipv6 { 56 } else { 32 }, ipv6),
        local,
        seq_in: seq.filter(|_| flags & conn_flags::IN_SEQ != 0).map(|s| s[0]),
        seq_out: seq.filter(|_| flags & conn_flags::OUT_SEQ != 0).map(|s| s[1]),
        proxy_shift,
    };
    // As `ip_vs_proc_sync_conn`: a connection's protocol must be known and its state one of
    // that protocol's; a template's protocol and state are not read (a firewall-mark
    // template's protocol is 0).
    if c.flags & conn_flags::TEMPLATE != 0 {
        return Ok(Some(c));
    }
    let states = match c.protocol {
        crate::wire::ipv4::protocol::TCP => TCP_STATES,
        crate::wire::ipv4::protocol::UDP => UDP_STATES,
        crate::wire::ipv4::protocol::SCTP => SCTP_STATES,
        _ => return Ok(None),
    };
    if c.state >= states {
        return Ok(None);
    }
    Ok(Some(c))
}

/// The address at `at` of a record: 4 bytes, or 16 for an IPv6 record.
fn addr_at(r: &[u8], at: usize, ipv6: bool) -> IpAddr {
    if ipv6 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&r[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::from(be32(r, at)))
    }
}

/// Builds messages of at most `maxlen` bytes, as the master's sync buffer does.
#[derive(Debug)]
pub struct SyncWriter {
    buf: Vec<u8>,
    maxlen: usize,
    syncid: u8,
    /// 1, or 0 for kernels before 2.6.39 (`sync_version`).
    version: u8,
}

impl SyncWriter {
    /// A writer for group `syncid` whose messages stay within `maxlen` bytes (at least a header
    /// and one record of either family, so that any record fits an empty message).
    pub fn new(syncid: u8, maxlen: usize) -> Self {
        Self::with_version(syncid, maxlen, SYNC_VERSION)
    }

    /// The same, writing protocol `version` (1, or 0 for kernels before 2.6.39).
    pub fn with_version(syncid: u8, maxlen: usize, version: u8) -> Self {
        let maxlen = maxlen.clamp(HEADER_LEN + V6_RECORD_LEN, usize::from(u16::MAX));
        let version = version.min(SYNC_VERSION);
        let mut w = SyncWriter { buf: Vec::with_capacity(maxlen), maxlen, syncid, version };
        w.reset();
        w
    }

    fn reset(&mut self) {
        self.buf.clear();
        if self.version == 0 {
            self.buf.extend_from_slice(&[0, self.syncid, 0, V0_HEADER_LEN as u8]);
        } else {
            self.buf.extend_from_slice(&[0, self.syncid, 0, HEADER_LEN as u8, 0, SYNC_VERSION, 0, 0]);
        }
    }

    /// Records in the message being built.
    pub fn count(&self) -> u8 {
        self.buf[if self.version == 0 { 0 } else { 4 }]
    }

    /// Adds a record; `false` when the message has no room left (take it, then add again). In
    /// version 0 an IPv6 connection has no form: it is left out (and `true` returned).
    pub fn push(&mut self, c: &SyncConn) -> bool {
        if self.version == 0 {
            return self.push_v0(c);
        }
        let ipv6 = c.vaddr.is_ipv6();
        let fixed = if ipv6 { V6_RECORD_LEN } else { V4_RECORD_LEN };
        let local = c.local.filter(|(a, _)| a.is_ipv6() == ipv6);
        let opt_len = if ipv6 { opt::LOCAL_END_LEN6 } else { opt::LOCAL_END_LEN4 };
        let has_seq = c.seq_in.is_some() || c.seq_out.is_some();
        let seq_len = if has_seq { 2 + opt::SEQ_LEN } else { 0 };
        let shift_len = c.proxy_shift.map_or(0, |_| 2 + opt::PROXY_SHIFT_LEN);
        let len = fixed + seq_len + shift_len + local.map_or(0, |_| 2 + opt_len);
        let pad = (4 - self.buf.len() % 4) % 4;
        if self.buf.len() + pad + len > self.maxlen || self.count() == u8::MAX {
            return false;
        }
        self.buf.resize(self.buf.len() + pad, 0);
        let mut r = [0u8; V6_RECORD_LEN + 2 + opt::SEQ_LEN + 2 + opt::PROXY_SHIFT_LEN + 2 + opt::LOCAL_END_LEN6];
        r[0] = u8::from(ipv6); // STYPE_F_INET6
        r[1] = c.protocol;
        r[2..4].copy_from_slice(&(len as u16).to_be_bytes()); // version 0 in the top nibble
        let mut flags = c.flags & !conn_flags::HASHED & !conn_flags::SEQ_MASK;
        if c.seq_in.is_some() {
            flags |= conn_flags::IN_SEQ;
        }
        if c.seq_out.is_some() {
            flags |= conn_flags::OUT_SEQ;
        }
        r[4..8].copy_from_slice(&flags.to_be_bytes());
        r[8..10].copy_from_slice(&c.state.to_be_bytes());
        r[10..12].copy_from_slice(&c.cport.to_be_bytes());
        r[12..14].copy_from_slice(&c.vport.to_be_bytes());
        r[14..16].copy_from_slice(&c.dport.to_be_bytes());
        r[16..20].copy_from_slice(&c.fwmark.to_be_bytes());
        r[20..24].copy_from_slice(&c.timeout.to_be_bytes());
        let mut at = 24;
        for a in [c.caddr, c.vaddr, c.daddr] {
            match a {
                IpAddr::V4(a) => r[at..at + 4].copy_from_slice(&a.octets()),
                IpAddr::V6(a) => r[at..at + 16].copy_from_slice(&a.octets()),
            }
            at += if ipv6 { 16 } else { 4 };
        }
        if has_seq {
            // IPVS's `ip_vs_sync_conn_options`: in_seq, then out_seq, network order (zeros for
            // a direction the flags do not name).
            r[at] = opt::SEQ_DATA;
            r[at + 1] = opt::SEQ_LEN as u8;
            let both = [c.seq_in.unwrap_or_default(), c.seq_out.unwrap_or_default()];
            for (k, v) in both.iter().flatten().enumerate() {
                r[at + 2 + 4 * k..at + 6 + 4 * k].copy_from_slice(&v.to_be_bytes());
            }
            at += 2 + opt::SEQ_LEN;
        }
        if let Some(s) = c.proxy_shift {
            r[at] = opt::PROXY_SHIFT | opt::F_PARAM;
            r[at + 1] = opt::PROXY_SHIFT_LEN as u8;
            r[at + 2..at + 6].copy_from_slice(&s.ts_delta.to_be_bytes());
            r[at + 6..at + 10].copy_from_slice(&s.windows);
            at += 2 + opt::PROXY_SHIFT_LEN;
        }
        if let Some((a, port)) = local {
            r[at] = opt::LOCAL_END | opt::F_PARAM;
            r[at + 1] = opt_len as u8;
            match a {
                IpAddr::V4(a) => r[at + 2..at + 6].copy_from_slice(&a.octets()),
                IpAddr::V6(a) => r[at + 2..at + 18].copy_from_slice(&a.octets()),
            }
            r[at + opt_len..at + opt_len + 2].copy_from_slice(&port.to_be_bytes());
        }
        self.buf.extend_from_slice(&r[..len]);
        self.buf[4] += 1;
        let size = self.buf.len() as u16;
        put16(&mut self.buf, 2, size);
        true
    }

    fn push_v0(&mut self, c: &SyncConn) -> bool {
        let (IpAddr::V4(caddr), IpAddr::V4(vaddr), IpAddr::V4(daddr)) = (c.caddr, c.vaddr, c.daddr) else {
            return true;
        };
        if self.buf.len() + V0_RECORD_LEN > self.maxlen || self.count() == u8::MAX {
            return false;
        }
        let mut r = [0u8; V0_RECORD_LEN];
        r[1] = c.protocol;
        r[2..4].copy_from_slice(&c.cport.to_be_bytes());
        r[4..6].copy_from_slice(&c.vport.to_be_bytes());
        r[6..8].copy_from_slice(&c.dport.to_be_bytes());
        r[8..12].copy_from_slice(&caddr.octets());
        r[12..16].copy_from_slice(&vaddr.octets());
        r[16..20].copy_from_slice(&daddr.octets());
        // No sequence options are sent: the flag that announces them stays clear.
        let flags = (c.flags & !(conn_flags::HASHED | conn_flags::SEQ_MASK)) as u16;
        r[20..22].copy_from_slice(&flags.to_be_bytes());
        r[22..24].copy_from_slice(&c.state.to_be_bytes());
        self.buf.extend_from_slice(&r);
        self.buf[0] += 1;
        let size = self.buf.len() as u16;
        put16(&mut self.buf, 2, size);
        true
    }

    /// The message built so far, if it holds a record; the writer starts a new one.
    pub fn take(&mut self) -> Option<Vec<u8>> {
        if self.count() == 0 {
            return None;
        }
        let m = std::mem::replace(&mut self.buf, Vec::with_capacity(self.maxlen));
        self.reset();
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> SyncConn {
        SyncConn {
            protocol: 6,
            flags: conn_flags::DROUTE | conn_flags::NOOUTPUT,
            state: 1, // ESTABLISHED
            cport: 40000,
            vport: 80,
            dport: 80,
            fwmark: 0,
            timeout: 900,
            caddr: Ipv4Addr::new(198, 18, 0, 2).into(),
            vaddr: Ipv4Addr::new(198, 18, 0, 100).into(),
            daddr: Ipv4Addr::new(198, 18, 0, 21).into(),
            local: None,
            seq_in: None,
            seq_out: None,
            proxy_shift: None,
        }
    }

    /// A connection and its persistence template, field by field as `struct ip_vs_sync_mesg`
    /// and `struct ip_vs_sync_v4` lay them out.
    #[test]
    fn golden_bytes_of_a_connection_and_a_template() {
        let mut w = SyncWriter::new(7, DEFAULT_MAXLEN);
        assert!(w.push(&conn()));
        let tmpl = SyncConn {
            flags: conn_flags::DROUTE | conn_flags::TEMPLATE,
            state: 0,
            cport: 0,
            timeout: 300,
            caddr: Ipv4Addr::new(198, 18, 0, 0).into(),
            ..conn()
        };
        assert!(w.push(&tmpl));
        let m = w.take().unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            // header: reserved, syncid 7, size 80; nr_conns 2, version 1, spare 0
            0, 7, 0, 80, 2, 1, 0, 0,
            // record 1: type 0 (IPv4), TCP, ver_size 36
            0, 6, 0, 36,
            0, 0, 0, 0x83,          // flags: DROUTE | NOOUTPUT
            0, 1,                   // state ESTABLISHED
            0x9c, 0x40, 0, 80, 0, 80, // cport 40000, vport 80, dport 80
            0, 0, 0, 0,             // fwmark
            0, 0, 0x03, 0x84,       // timeout 900 s
            198, 18, 0, 2, 198, 18, 0, 100, 198, 18, 0, 21,
            // record 2: the template (flag 0x1000, masked client, port 0)
            0, 6, 0, 36,
            0, 0, 0x10, 0x03,
            0, 0,
            0, 0, 0, 80, 0, 80,
            0, 0, 0, 0,
            0, 0, 0x01, 0x2c,       // timeout 300 s
            198, 18, 0, 0, 198, 18, 0, 100, 198, 18, 0, 21,
        ];
        assert_eq!(m, want);
        let got = parse(&m, 7).unwrap();
        assert_eq!(got.skipped, 0);
        assert_eq!(
            got.conns,
            vec![
                SyncConn { flags: conn().flags | conn_flags::SYNC, ..conn() },
                SyncConn { flags: tmpl.flags | conn_flags::SYNC, ..tmpl },
            ]
        );
    }

    /// Options after a record: the SEQ option (24 bytes) makes the record 62 bytes, padded to 64
    /// before the next; a PE name is read once; an unknown optional one is ignored, an unknown
    /// mandatory one skips its record; a bad length drops the message.
    #[test]
    fn options_padding_and_their_rules() {
        let rec = |opts: &[u8]| {
            let mut w = SyncWriter::new(1, DEFAULT_MAXLEN);
            w.push(&conn());
            let mut m = w.take().unwrap();
            m.extend_from_slice(opts);
            let size = (V4_RECORD_LEN + opts.len()) as u16;
            m[8 + 2..8 + 4].copy_from_slice(&size.to_be_bytes());
            while !m.len().is_multiple_of(4) {
                m.push(0);
            }
            let total = m.len() as u16;
            m[2..4].copy_from_slice(&total.to_be_bytes());
            m
        };
        let mut seq = vec![opt::SEQ_DATA, 24];
        seq.extend_from_slice(&[0; 24]);
        assert_eq!(parse(&rec(&seq), 1).unwrap().conns.len(), 1, "SEQ option, padded");
        assert_eq!(parse(&rec(&[opt::PE_NAME, 3, b's', b'i', b'p']), 1).unwrap().conns.len(), 1);
        assert_eq!(parse(&rec(&[9 | opt::F_PARAM, 1, 0]), 1).unwrap().conns.len(), 1, "optional: ignored");
        assert_eq!(parse(&rec(&[9, 1, 0]), 1).unwrap().skipped, 1, "unknown mandatory: record skipped");
        let malformed = |m: &[u8]| parse(m, 1).map(|g| (g.conns.len(), g.malformed));
        assert_eq!(malformed(&rec(&[opt::SEQ_DATA, 3, 0, 0, 0])), Ok((0, 1)), "bad SEQ length");
        assert_eq!(malformed(&rec(&[opt::PE_NAME, 1, b'x', opt::PE_NAME, 1, b'y'])), Ok((0, 1)), "an option twice");
        assert_eq!(malformed(&rec(&[opt::PE_NAME, 0])), Ok((0, 1)), "zero length");
    }

    /// Version 0 both ways: the writer's records as the kernel's `ip_vs_sync_conn_v0` lays
    /// them out, read back; IPv6 left out; a record announcing sequence options takes 48 bytes.
    #[test]
    fn version_0_is_written_and_read_as_the_kernel_does() {
        let mut w = SyncWriter::with_version(7, DEFAULT_MAXLEN, 0);
        let mut six = conn();
        six.caddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
        six.vaddr = six.caddr;
        six.daddr = six.caddr;
        assert!(w.push(&conn()) && w.push(&six));
        let m = w.take().unwrap();
        let c = conn();
        let mut want = vec![1, 7, 0, 28, 0, 6];
        for p in [c.cport, c.vport, c.dport] {
            want.extend_from_slice(&p.to_be_bytes());
        }
        for a in [c.caddr, c.vaddr, c.daddr] {
            let IpAddr::V4(a) = a else { unreachable!() };
            want.extend_from_slice(&a.octets());
        }
        want.extend_from_slice(&(c.flags as u16).to_be_bytes());
        want.extend_from_slice(&c.state.to_be_bytes());
        assert_eq!(m, want, "one IPv4 record; the IPv6 connection has no version 0 form");
        let got = parse(&m, 7).unwrap();
        assert_eq!(got.conns, vec![SyncConn { timeout: 0, fwmark: 0, flags: c.flags | conn_flags::SYNC, ..c }]);
        assert_eq!(parse(&m, 8), Err(SyncError::OtherSyncid));
        // A record with the sequence options is 48 bytes; cut short, it ends the message.
        let mut seq = m.clone();
        seq[24] |= (conn_flags::SEQ_MASK >> 8) as u8;
        assert!(parse(&seq, 7).unwrap().cut);
        seq.extend_from_slice(&[0; 24]);
        seq[3] = 52;
        assert_eq!(parse(&seq, 7).unwrap().conns.len(), 1);
        let mut udp_state = m.clone();
        udp_state[5] = 17; // UDP has one state; this record says ESTABLISHED (1)
        assert_eq!(parse(&udp_state, 7).unwrap().skipped, 1);
    }

    #[test]
    fn header_checks_and_records_skipped_alone() {
        let mut w = SyncWriter::new(3, DEFAULT_MAXLEN);
        w.push(&conn());
        let m = w.take().unwrap();
        assert!(parse(&m, 3).is_ok());
        assert!(parse(&m, 0).is_ok(), "syncid 0 accepts any group");
        assert_eq!(parse(&m, 4), Err(SyncError::OtherSyncid));
        assert_eq!(parse(&m[..m.len() - 1], 3), Err(SyncError::BadSize));
        // Not version 1's layout: read as version 0, as ip_vs_process_message does.
        let mut v0 = m.clone();
        v0[0] = 1; // version 0's layout starts with nr_conns: one record, of protocol 1
        assert_eq!(parse(&v0, 3), Ok(Received { skipped: 1, ..Received::default() }));
        let mut spare = m.clone();
        spare[7] = 1;
        assert_eq!(parse(&spare, 3), Ok(Received::default()), "version 0 with no records");
        let mut ver = m.clone();
        ver[10] |= 0x10; // a record of version 1
        assert!(parse(&ver, 3).unwrap().cut);
        // SCTP has IPVS's 14 association states; a template's protocol is not read (a
        // firewall-mark template's is 0, IPPROTO_IP), nor its state.
        let mut sctp = m.clone();
        sctp[9] = 132;
        sctp[17] = 13; // CLOSED
        assert_eq!(parse(&sctp, 3).unwrap().conns.len(), 1, "an SCTP record is kept");
        sctp[17] = 14;
        assert_eq!(parse(&sctp, 3).unwrap().skipped, 1, "past IPVS's SCTP states");
        let mut ip_template = m.clone();
        ip_template[9] = 0;
        ip_template[15] |= conn_flags::TEMPLATE as u8;
        ip_template[14] |= (conn_flags::TEMPLATE >> 8) as u8;
        assert_eq!(parse(&ip_template, 3).unwrap().conns.len(), 1, "a template of protocol 0 is kept");
        ip_template[9] = 1;
        assert_eq!(parse(&ip_template, 3).unwrap().conns.len(), 1, "whatever its protocol");
        let mut state = m.clone();
        state[17] = 11; // past SYNACK
        assert_eq!(parse(&state, 3).unwrap().skipped, 1);
        let mut tiny = m.clone();
        tiny[10..12].copy_from_slice(&[0, 0]); // a record of size 0 (the property test found it)
        assert!(parse(&tiny, 3).unwrap().cut);
        let mut more = m.clone();
        more[4] = 2; // claims a second record that is not there
        let got = parse(&more, 3).unwrap();
        assert_eq!((got.conns.len(), got.cut), (1, true), "the first record stands");
    }

    /// An IPv6 record: `struct ip_vs_sync_v6`, type 1 and 72 bytes, after an IPv4 one.
    #[test]
    fn golden_bytes_of_an_ipv6_record() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        let c6 = SyncConn {
            caddr: a("2001:db8:ff::7"),
            vaddr: a("2001:db8::100"),
            daddr: a("2001:db8:1::11"),
            flags: conn_flags::MASQ,
            ..conn()
        };
        let mut w = SyncWriter::new(1, DEFAULT_MAXLEN);
        assert!(w.push(&conn()));
        assert!(w.push(&c6));
        let m = w.take().unwrap();
        assert_eq!(m.len(), HEADER_LEN + V4_RECORD_LEN + V6_RECORD_LEN);
        let r = &m[HEADER_LEN + V4_RECORD_LEN..];
        assert_eq!(&r[..4], &[1, 6, 0, 72], "type STYPE_F_INET6, TCP, size 72");
        assert_eq!(&r[24..40], &a("2001:db8:ff::7").to_string().parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(&r[40..56], &"2001:db8::100".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(&r[56..72], &"2001:db8:1::11".parse::<Ipv6Addr>().unwrap().octets());
        let got = parse(&m, 1).unwrap();
        assert_eq!(got.skipped, 0);
        assert_eq!(got.conns[1], SyncConn { flags: conn_flags::MASQ | conn_flags::SYNC, ..c6 });
        let mut short = m.clone();
        let at = HEADER_LEN + V4_RECORD_LEN;
        short[at + 2..at + 4].copy_from_slice(&36u16.to_be_bytes()); // an IPv6 record of IPv4's size
        let total = short.len() - 36;
        short.truncate(total);
        short[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let got = parse(&short, 1).unwrap();
        assert_eq!((got.conns.len(), got.malformed), (1, 1), "an IPv6 record of IPv4's size is skipped alone");
    }

    /// Review defect 10: a record whose options are malformed is skipped alone — its size field
    /// still delimits it, so the records after it are read (IPVS drops the rest of the
    /// datagram here; rvs deliberately keeps them). A record that breaks the framing (its size
    /// runs past the message) ends the message, and the records before it are kept, as IPVS
    /// applies each record as it reads it.
    #[test]
    fn a_record_with_bad_options_is_skipped_alone_and_earlier_records_survive_a_bad_frame() {
        let other = SyncConn { cport: 40001, ..conn() };
        let third = SyncConn { cport: 40002, ..conn() };
        let mut w = SyncWriter::new(1, DEFAULT_MAXLEN);
        for c in [conn(), other, third] {
            assert!(w.push(&c));
        }
        let m = w.take().unwrap();
        // The second record gets a SEQ option of a bad length: 4 bytes more, sizes adjusted.
        let at = HEADER_LEN + V4_RECORD_LEN;
        let mut bad = m[..at + V4_RECORD_LEN].to_vec();
        bad.extend_from_slice(&[opt::SEQ_DATA, 2, 0, 0]);
        bad[at + 2..at + 4].copy_from_slice(&((V4_RECORD_LEN + 4) as u16).to_be_bytes());
        bad.extend_from_slice(&m[at + V4_RECORD_LEN..]);
        let total = bad.len() as u16;
        bad[2..4].copy_from_slice(&total.to_be_bytes());
        let got = parse(&bad, 1).unwrap();
        let ports: Vec<u16> = got.conns.iter().map(|c| c.cport).collect();
        assert_eq!(ports, vec![40000, 40002], "only the bad record is skipped");
        assert_eq!((got.malformed, got.cut), (1, false));
        // The third record's size runs past the message: the first two stand.
        let mut cut = m.clone();
        let third_at = HEADER_LEN + 2 * V4_RECORD_LEN;
        cut[third_at + 2..third_at + 4].copy_from_slice(&200u16.to_be_bytes());
        let got = parse(&cut, 1).unwrap();
        assert_eq!(got.conns.iter().map(|c| c.cport).collect::<Vec<_>>(), vec![40000, 40001]);
        assert!(got.cut, "the rest of the message is dropped");
    }

    #[test]
    fn messages_stay_within_maxlen() {
        let mut w = SyncWriter::new(1, 200);
        let mut n = 0;
        while w.push(&conn()) {
            n += 1;
        }
        assert_eq!(n, (200 - HEADER_LEN) / V4_RECORD_LEN);
        let m = w.take().unwrap();
        assert!(m.len() <= 200);
        assert_eq!(parse(&m, 1).unwrap().conns.len(), n);
        assert!(w.take().is_none(), "a new, empty message");
    }
}
