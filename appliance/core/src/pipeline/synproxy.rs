//! The SYN proxy's dataplane ([`crate::synproxy`]): a SYN to a proxied service is answered
//! with a cookie SYN-ACK and forgotten; an ACK whose cookie validates is scheduled as a new
//! connection and becomes the SYN to the real server; the client's first data waits in a
//! bounded per-core buffer; the server's SYN-ACK becomes the client's ACK with that data; from
//! then on every segment is shifted ([`crate::conn::seq_adjust::SegmentShift`]). The per-
//! connection state lives beside the table by entry index, allocated on the control path only
//! while a service asks for the proxy; a FIFO of due times (one second apart) drives the
//! retries of the SYN and the reset that ends a silent server's connection. All out of line:
//! only proxied connections and packets to proxied services come here.

use super::*;
use crate::conn::entry::F_SYNPROXY;
use crate::conn::seq_adjust::{shift_segment, SegmentShift};
use crate::syncookie::{self, CookieFlow, TsOptions};
use crate::wire::tcp_options::{self, SYN_OPTIONS_MAX};
use crate::xmit::segment::{write_segment, Segment};
use std::collections::VecDeque;

/// Client data segments a core holds while their real servers answer the SYN.
pub const SYNPROXY_BUFFERS: usize = 2048;
/// Most bytes of one held segment's data.
const BUFFER_BYTES: usize = 1536;
/// Proxied connections a core can have waiting for their real server's SYN-ACK at once
/// (entries stay a second in the retry FIFO).
pub const SYNPROXY_WAITING: usize = 1 << 16;
/// "No held data".
const NO_BUFFER: u16 = u16::MAX;
/// TTL or hop limit of the segments rvsd writes for the client towards the real server.
const FORWARD_TTL: u8 = 64;

/// One proxied connection's facts (by entry index).
#[derive(Debug, Clone, Copy)]
pub(super) struct Proxied {
    /// The cookie: the SYN-ACK's sequence number the client was told.
    cookie_isn: u32,
    /// The client's initial sequence number.
    client_isn: u32,
    /// The client's last TSval, and the TSval it echoes of ours.
    client_tsval: u32,
    our_tsval: u32,
    /// The client's window field (its own scale).
    client_window: u16,
    mss_index: u8,
    /// The client's window scale, when negotiated with rvsd.
    client_ws: Option<u8>,
    sack: bool,
    timestamps: bool,
    /// Waiting for the real server's SYN-ACK.
    waiting: bool,
    /// SYNs sent again.
    retries: u8,
    /// The held data's buffer, or [`NO_BUFFER`].
    buffer: u16,
    /// The PROXY protocol's adjustment runs too.
    proxy: bool,
    /// Server -> client shift, client -> server shift (from the server's SYN-ACK on).
    to_client: SegmentShift,
    to_server: SegmentShift,
    /// Per direction (Input, Output): the last pure ACK's (seq, ack) and how often in a row.
    storm: [(u32, u32, u16); 2],
}

impl Default for Proxied {
    fn default() -> Self {
        Proxied {
            cookie_isn: 0,
            client_isn: 0,
            client_tsval: 0,
            our_tsval: 0,
            client_window: 0,
            mss_index: 0,
            client_ws: None,
            sack: false,
            timestamps: false,
            waiting: false,
            retries: 0,
            buffer: NO_BUFFER,
            proxy: false,
            to_client: SegmentShift::default(),
            to_server: SegmentShift::default(),
            storm: [(0, 0, 0); 2],
        }
    }
}

/// A due retry: (family (1 = IPv6), entry index, cookie as a tag, second due).
type Due = (u8, u32, u32, u32);

/// A core's SYN proxy state.
#[derive(Debug)]
pub(super) struct SynProxyState {
    conns: [Vec<Proxied>; 2],
    data: Vec<u8>,
    lens: Vec<u16>,
    free: Vec<u16>,
    due: VecDeque<Due>,
}

impl SynProxyState {
    fn new(cap4: usize, cap6: usize) -> Self {
        SynProxyState {
            conns: [vec![Proxied::default(); cap4], vec![Proxied::default(); cap6]],
            data: vec![0; SYNPROXY_BUFFERS * BUFFER_BYTES],
            lens: vec![0; SYNPROXY_BUFFERS],
            free: (0..SYNPROXY_BUFFERS as u16).rev().collect(),
            due: VecDeque::with_capacity(SYNPROXY_WAITING),
        }
    }

    fn release(&mut self, fam: usize, idx: u32) {
        let p = &mut self.conns[fam][idx as usize];
        p.waiting = false;
        if p.buffer != NO_BUFFER {
            self.free.push(p.buffer);
            p.buffer = NO_BUFFER;
        }
    }

    fn held(&self, b: u16) -> &[u8] {
        if b == NO_BUFFER {
            return &[];
        }
        let at = usize::from(b) * BUFFER_BYTES;
        &self.data[at..at + usize::from(self.lens[usize::from(b)])]
    }
}

/// The cookie's view of a flow.
fn cookie_flow<K: AddrKey>(ip: &Ip<K>) -> CookieFlow {
    CookieFlow { saddr: ip.src.into_bits(), daddr: ip.dst.into_bits(), sport: ip.sport, dport: ip.dport }
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// Window field `w` read at shift `from` as a receiver at shift `to` reads it.
fn rescale(w: u16, (from, to): (u8, u8)) -> u16 {
    ((u64::from(w) << from) >> to).min(0xffff) as u16
}

impl PerCore {
    /// Makes the SYN proxy's state when a service of `snap` asks for it (control path; kept).
    pub(super) fn provide_synproxy(&mut self, snap: &Snapshot) {
        if self.synproxy.is_none() && snap.services().iter().any(|s| s.synproxy) {
            let st = SynProxyState::new(self.tables.v4.capacity(), self.tables.v6.capacity());
            self.synproxy = Some(Box::new(st));
        }
    }

    /// A TCP packet of no connection to proxied service `svc`: a SYN gets its cookie, an ACK
    /// whose cookie validates opens the connection, anything else is dropped.
    #[cold]
    #[inline(never)]
    pub(super) fn synproxy_open<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        svc: &Service,
    ) -> Verdict {
        let f = ip.tcp_flags & (flags::SYN | flags::ACK | flags::RST | flags::FIN);
        if f == flags::SYN {
            return self.synproxy_answer(snap, now, frame, ip);
        }
        if f & (flags::SYN | flags::RST | flags::ACK) != flags::ACK {
            return Verdict::Drop(DropReason::NoConnection);
        }
        let d = frame.data();
        let (seq, ack) = (be32(d, ip.l4() + 4), be32(d, ip.l4() + 8));
        let (client_isn, cookie) = (seq.wrapping_sub(1), ack.wrapping_sub(1));
        let Some(mss_index) = syncookie::check(&self.cookie_secret, &cookie_flow(ip), client_isn, cookie, now / 60)
        else {
            self.counters.synproxy_cookies_bad += 1;
            return Verdict::Drop(DropReason::SynproxyBadCookie);
        };
        self.counters.synproxy_cookies_valid += 1;
        if svc.access.limit.is_set() {
            if let Some(v) = self.client_over(svc, frame, ip, now) {
                return v;
            }
        }
        let Some(st) = self.synproxy.as_ref() else { return Verdict::Drop(DropReason::NoConnection) };
        if st.due.len() >= SYNPROXY_WAITING {
            return Verdict::Drop(DropReason::SynproxyBusy); // the client sends its ACK again
        }
        let d = frame.data();
        let hlen = usize::from(d[ip.l4() + 12] >> 4) * 4;
        let mut opts = tcp_options::parse(&d[ip.l4()..ip.l4() + hlen]);
        if !snap.synproxy().timestamps {
            opts.timestamp = None; // the SYN-ACK offered none: what an ACK echoes means nothing
        }
        let ts = opts.timestamp.map(|(_, ecr)| syncookie::decode_ts(ecr)).unwrap_or_default();
        let client_window = crate::wire::be16(d, ip.l4() + 14);
        let idx = match self.schedule(snap, svc, ip, (ip.sport, ip.dport), None, now) {
            Ok(i) => i,
            Err(r) => {
                // No real server takes it now (all quiesced, the table full, no local port):
                // dropped as a SYN would be. The client sends its ACK or data again, which
                // validates again while the cookie lives, so a passing condition costs a
                // retransmission, not the connection.
                self.counters.synproxy_refused += 1;
                return Verdict::Drop(r);
            }
        };
        let fam = usize::from(K::BITS == 128);
        let c = K::conns_mut(&mut self.tables).get_mut(idx);
        let proxy = c.flags & F_SEQ_ADJ != 0;
        c.flags |= F_SEQ_ADJ | F_SYNPROXY;
        let Some(st) = self.synproxy.as_mut() else { return Verdict::Drop(DropReason::NoConnection) };
        st.release(fam, idx); // an earlier connection's leftovers at this index
        let mut p = Proxied {
            cookie_isn: cookie,
            client_isn,
            client_tsval: opts.timestamp.map_or(0, |t| t.0),
            our_tsval: opts.timestamp.map_or(0, |t| t.1),
            client_window,
            mss_index: mss_index as u8,
            client_ws: if opts.timestamp.is_some() { ts.wscale } else { None },
            sack: opts.timestamp.is_some() && ts.sack,
            timestamps: opts.timestamp.is_some(),
            waiting: true,
            proxy,
            ..Proxied::default()
        };
        let payload = &frame.data()[ip.l4() + hlen..ip.end()];
        if !payload.is_empty() && payload.len() <= BUFFER_BYTES {
            if let Some(b) = st.free.pop() {
                let at = usize::from(b) * BUFFER_BYTES;
                st.data[at..at + payload.len()].copy_from_slice(payload);
                st.lens[usize::from(b)] = payload.len() as u16;
                p.buffer = b;
            }
        }
        st.conns[fam][idx as usize] = p;
        st.due.push_back((fam as u8, idx, cookie, now + 1));
        let c = *K::conns(&self.tables).get(idx);
        self.synproxy_syn(snap, now, frame, idx, &c)
    }

    /// Answers a SYN with the cookie SYN-ACK, in place.
    fn synproxy_answer<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
    ) -> Verdict {
        let policy = *snap.synproxy();
        let v6 = K::BITS == 128;
        let d = frame.data();
        let hlen = usize::from(d[ip.l4() + 12] >> 4) * 4;
        let opts = tcp_options::parse(&d[ip.l4()..ip.l4() + hlen]);
        let seq = be32(d, ip.l4() + 4);
        let (mss_index, _) = syncookie::mss_index(opts.mss.unwrap_or(if v6 { 1220 } else { 536 }), v6);
        let cookie = syncookie::make(&self.cookie_secret, &cookie_flow(ip), seq, now / 60, mss_index);
        // Without timestamps a cookie holds no window scale or SACK: neither is offered.
        let ts = opts.timestamp.filter(|_| policy.timestamps).map(|(val, _)| {
            let o = TsOptions { wscale: opts.wscale, sack: opts.sack_perm && policy.sack, ecn: false };
            (syncookie::encode_ts(now.wrapping_mul(1000), o), val, o)
        });
        let mut o = [0u8; SYN_OPTIONS_MAX];
        let n = match ts {
            Some((tsval, tsecr, t)) => tcp_options::write_syn(
                &mut o,
                policy.mss,
                t.wscale.map(|_| policy.wscale),
                t.sack,
                Some((tsval, tsecr)),
            ),
            None => tcp_options::write_syn(&mut o, policy.mss, None, false, None),
        };
        let ours = crate::wire::ethernet::EthernetFrame::new_unchecked(frame.data()).dst();
        crate::xmit::route::reply_macs(frame.data_mut(), ours);
        let s = Segment {
            v6,
            src: ip.dst.into_bits(),
            dst: ip.src.into_bits(),
            sport: ip.dport,
            dport: ip.sport,
            seq: cookie,
            ack: seq.wrapping_add(1),
            flags: flags::SYN | flags::ACK,
            window: policy.window,
            ttl: policy.ttl,
            options: &o[..n],
            payload: &[],
        };
        if write_segment(frame, ip.l3(), &s).is_none() {
            return Verdict::Drop(DropReason::L4Truncated);
        }
        self.counters.synproxy_cookies_sent += 1;
        Verdict::Reply
    }

    /// Writes connection `idx`'s SYN to its real server into `frame` (the client's end to the
    /// VIP, as the client would have sent it) and sends it on.
    fn synproxy_syn<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        idx: u32,
        c: &Conn<K>,
    ) -> Verdict {
        let v6 = K::BITS == 128;
        let Some(st) = self.synproxy.as_ref() else { return Verdict::Drop(DropReason::NoConnection) };
        let p = st.conns[usize::from(v6)][idx as usize];
        let mut o = [0u8; SYN_OPTIONS_MAX];
        let ts = p.timestamps.then_some((p.client_tsval, 0));
        let n = tcp_options::write_syn(&mut o, syncookie::mss_of(u32::from(p.mss_index), v6), p.client_ws, p.sack, ts);
        let window = rescale(p.client_window, (p.client_ws.unwrap_or(0), 0));
        let s = Segment {
            v6,
            src: c.caddr.into_bits(),
            dst: c.vaddr.into_bits(),
            sport: c.cport,
            dport: c.vport,
            seq: p.client_isn,
            ack: 0,
            flags: flags::SYN,
            window,
            ttl: FORWARD_TTL,
            options: &o[..n],
            payload: &[],
        };
        let l3 = frame_l3(frame);
        let Some(at) = write_segment(frame, l3, &s) else { return Verdict::Drop(DropReason::L4Truncated) };
        self.synproxy_step_in(snap, now, frame, (at, idx, c), flags::SYN, false)
    }

    /// A segment rvsd wrote for connection `idx` (`c`) towards its real server (at `at`, with
    /// `tcp_flags`): the connection steps as for a client's packet, and the segment goes on
    /// (`record`: the backups hear of the connection at once).
    fn synproxy_step_in<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        (at, idx, c): (crate::xmit::segment::Offsets, u32, &Conn<K>),
        tcp_flags: u8,
        record: bool,
    ) -> Verdict {
        let ip = built::<K>(at, c, tcp_flags, Direction::Input);
        let c = self.step::<K>(snap, idx, protocol::TCP, Direction::Input, tcp_flags, ip.len(), now);
        K::sync_after_input(self, snap, idx, now);
        if record && snap.sync_master().is_some() {
            let r = self.record_with_seq::<K>(snap, idx, &c);
            self.queue_sync(r);
        }
        self.synproxy_to_server(snap, frame, &ip, idx, &c)
    }

    /// A segment towards the real server of proxied connection `idx`, shifted already: through
    /// the PROXY protocol's adjustment when it has one, then out.
    fn synproxy_to_server<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        c: &Conn<K>,
    ) -> Verdict {
        let proxy = self.synproxy.as_ref().is_some_and(|st| st.conns[usize::from(K::BITS == 128)][idx as usize].proxy);
        if proxy {
            return self.proxy_adjusted(snap, frame, ip, idx, c, Direction::Input);
        }
        self.send_to_real_server(snap, frame, ip, c, false)
    }

    /// A packet of proxied connection `idx` (`c`, just stepped) travelling `dir`: held,
    /// dropped or turned into what the other side must see while the real server has not
    /// answered; afterwards shifted and sent on.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn synproxy_follow<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        c: &Conn<K>,
        dir: Direction,
    ) -> Verdict {
        let fam = usize::from(K::BITS == 128);
        let Some(st) = self.synproxy.as_mut() else { return Verdict::Drop(DropReason::NoConnection) };
        let p = st.conns[fam][idx as usize];
        let hlen = usize::from(frame.data()[ip.l4() + 12] >> 4) * 4;
        if ip.l4() + hlen > ip.end() {
            return Verdict::Drop(DropReason::TcpBadHeaderLen);
        }
        let payload = ip.end() - ip.l4() - hlen;
        let f = ip.tcp_flags;
        if dir == Direction::Input && f & (flags::SYN | flags::ACK) == flags::SYN {
            // A new connection on these ports: this one is over; the SYN gets its cookie.
            st.release(fam, idx);
            self.drop_conn::<K>(snap, idx, now);
            return self.synproxy_answer(snap, now, frame, ip);
        }
        if p.waiting {
            return self.synproxy_waiting(snap, now, frame, ip, idx, c, dir, payload);
        }
        if dir == Direction::Output && f & flags::SYN != 0 {
            // The server's SYN-ACK again: our ACK was lost. The client must not see it; the
            // server gets the ACK again.
            return self.synproxy_ack_again(snap, frame, ip, idx, c, &p);
        }
        // The ACK-storm guard: identical pure ACKs in a row.
        let thresh = snap.synproxy().ack_storm_thresh;
        if thresh > 0 && payload == 0 && f & (flags::SYN | flags::FIN | flags::RST | flags::ACK) == flags::ACK {
            let d = frame.data();
            let key = (be32(d, ip.l4() + 4), be32(d, ip.l4() + 8));
            let s = &mut st.conns[fam][idx as usize].storm[usize::from(dir == Direction::Output)];
            if (s.0, s.1) == key {
                s.2 = s.2.saturating_add(1);
                if s.2 >= thresh {
                    if s.2 == thresh {
                        self.counters.synproxy_ack_storms += 1;
                    }
                    return Verdict::Drop(DropReason::SynproxyAckStorm);
                }
            } else {
                *s = (key.0, key.1, 0);
            }
        }
        let seg = &mut frame.data_mut()[ip.l4()..ip.end()];
        if dir == Direction::Output {
            shift_segment(seg, &p.to_client);
            if p.proxy {
                return self.proxy_adjusted(snap, frame, ip, idx, c, dir);
            }
            return self.send_to_client(snap, frame, ip, c, false);
        }
        shift_segment(seg, &p.to_server);
        self.synproxy_to_server(snap, frame, ip, idx, c)
    }

    /// [`PerCore::synproxy_follow`] before the real server's SYN-ACK.
    #[allow(clippy::too_many_arguments)]
    fn synproxy_waiting<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        c: &Conn<K>,
        dir: Direction,
        payload: usize,
    ) -> Verdict {
        let fam = usize::from(K::BITS == 128);
        let Some(st) = self.synproxy.as_mut() else { return Verdict::Drop(DropReason::NoConnection) };
        let p = st.conns[fam][idx as usize];
        let f = ip.tcp_flags;
        let d = frame.data();
        let (seq, ack) = (be32(d, ip.l4() + 4), be32(d, ip.l4() + 8));
        if dir == Direction::Input {
            if f & flags::RST != 0 {
                st.release(fam, idx);
                return self.send_to_real_server(snap, frame, ip, c, false);
            }
            if payload > 0 && p.buffer == NO_BUFFER && seq == p.client_isn.wrapping_add(1) && payload <= BUFFER_BYTES {
                let hlen = ip.end() - ip.l4() - payload;
                if let Some(b) = st.free.pop() {
                    let at = usize::from(b) * BUFFER_BYTES;
                    st.data[at..at + payload].copy_from_slice(&d[ip.l4() + hlen..ip.end()]);
                    st.lens[usize::from(b)] = payload as u16;
                    let q = &mut st.conns[fam][idx as usize];
                    q.buffer = b;
                    let opts = tcp_options::parse(&d[ip.l4()..ip.l4() + hlen]);
                    if let Some((val, _)) = opts.timestamp {
                        q.client_tsval = val;
                    }
                    return Verdict::Drop(DropReason::SynproxyHeld);
                }
            }
            return Verdict::Drop(DropReason::SynproxyWaiting);
        }
        if f & flags::RST != 0 {
            // The server refused: so is the client, at the sequence number it expects.
            st.release(fam, idx);
            let d = frame.data_mut();
            d[ip.l4() + 4..ip.l4() + 8].copy_from_slice(&p.cookie_isn.wrapping_add(1).to_be_bytes());
            d[ip.l4() + 13] = flags::RST;
            crate::xmit::toa::fill_tcp_checksum(d, ip.l3(), ip.l4(), K::BITS == 128);
            return self.send_to_client(snap, frame, ip, c, false);
        }
        if f & (flags::SYN | flags::ACK) != flags::SYN | flags::ACK || ack != p.client_isn.wrapping_add(1) {
            return Verdict::Drop(DropReason::SynproxyWaiting);
        }
        // The server's SYN-ACK: the shifts, then the client's ACK and held data in its place.
        let hlen = ip.end() - ip.l4() - payload;
        let so = tcp_options::parse(&d[ip.l4()..ip.l4() + hlen]);
        let server_ws = so.wscale.filter(|_| p.client_ws.is_some());
        let client_reads = p.client_ws.map(|_| snap.synproxy().wscale);
        let ts_delta = match so.timestamp {
            Some((val, _)) if p.timestamps => p.our_tsval.wrapping_sub(val),
            _ => 0,
        };
        let pair = |a: u8, b: u8| (a != b).then_some((a, b));
        let isn_delta = p.cookie_isn.wrapping_sub(seq);
        let to_client = SegmentShift {
            seq_add: isn_delta,
            tsval_add: ts_delta,
            window: pair(server_ws.unwrap_or(0), client_reads.unwrap_or(0)),
            ..SegmentShift::default()
        };
        let c2s = (client_reads.and(p.client_ws).unwrap_or(0), server_ws.and(p.client_ws).unwrap_or(0));
        let to_server = SegmentShift {
            ack_sub: isn_delta,
            tsecr_sub: ts_delta,
            window: pair(c2s.0, c2s.1),
            ..SegmentShift::default()
        };
        let server_tsval = so.timestamp.map_or(0, |t| t.0);
        {
            let q = &mut st.conns[fam][idx as usize];
            q.to_client = to_client;
            q.to_server = to_server;
            q.waiting = false;
        }
        let mut o = [0u8; 12];
        let n = if p.timestamps && so.timestamp.is_some() {
            o[..4].copy_from_slice(&[1, 1, tcp_options::kind::TIMESTAMP, 10]);
            o[4..8].copy_from_slice(&p.client_tsval.to_be_bytes());
            o[8..12].copy_from_slice(&server_tsval.to_be_bytes());
            12
        } else {
            0
        };
        let held = st.held(p.buffer);
        let s = Segment {
            v6: K::BITS == 128,
            src: c.caddr.into_bits(),
            dst: c.vaddr.into_bits(),
            sport: c.cport,
            dport: c.vport,
            seq: p.client_isn.wrapping_add(1),
            ack: seq.wrapping_add(1),
            flags: flags::ACK | if held.is_empty() { 0 } else { flags::PSH },
            window: c2s_window(p.client_window, to_server.window),
            ttl: FORWARD_TTL,
            options: &o[..n],
            payload: held,
        };
        let l3 = ip.l3();
        let written = write_segment(frame, l3, &s);
        let tcp_flags = s.flags;
        st.release(fam, idx);
        let Some(at) = written else { return Verdict::Drop(DropReason::L4Truncated) };
        self.synproxy_step_in(snap, now, frame, (at, idx, c), tcp_flags, true)
    }

    /// Answers a real server's repeated SYN-ACK with the handshake's ACK, in its frame.
    fn synproxy_ack_again<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        ip: &Ip<K>,
        idx: u32,
        c: &Conn<K>,
        p: &Proxied,
    ) -> Verdict {
        let d = frame.data();
        let seq = be32(d, ip.l4() + 4);
        if seq != p.cookie_isn.wrapping_sub(p.to_client.seq_add) {
            return Verdict::Drop(DropReason::SynproxyWaiting); // not this connection's
        }
        let s = Segment {
            v6: K::BITS == 128,
            src: c.caddr.into_bits(),
            dst: c.vaddr.into_bits(),
            sport: c.cport,
            dport: c.vport,
            seq: p.client_isn.wrapping_add(1),
            ack: seq.wrapping_add(1),
            flags: flags::ACK,
            window: c2s_window(p.client_window, p.to_server.window),
            ttl: FORWARD_TTL,
            options: &[],
            payload: &[],
        };
        let Some(at) = write_segment(frame, ip.l3(), &s) else { return Verdict::Drop(DropReason::L4Truncated) };
        let ip = built::<K>(at, c, flags::ACK, Direction::Input);
        self.synproxy_to_server(snap, frame, &ip, idx, c)
    }

    /// The proxied connections whose real server's SYN-ACK is due by `now`: each gets its SYN
    /// again, up to the policy's retries, then its client a reset and the connection ends.
    /// `new_frame` gives an empty frame to write into; `out` takes it with its verdict.
    pub(super) fn synproxy_poll<F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        new_frame: &mut impl FnMut() -> Option<F>,
        out: &mut impl FnMut(F, Verdict),
    ) -> usize {
        let mut n = 0;
        while let Some(&(fam, idx, tag, due)) = self.synproxy.as_ref().and_then(|st| st.due.front()) {
            if due > now {
                break;
            }
            let live =
                if fam == 0 { self.synproxy_pending::<u32>(idx, tag) } else { self.synproxy_pending::<u128>(idx, tag) };
            // A connection still waiting needs a frame; without one it waits for the next poll.
            let frame = if live {
                match new_frame() {
                    Some(f) => Some(f),
                    None => break,
                }
            } else {
                None
            };
            if let Some(st) = self.synproxy.as_mut() {
                st.due.pop_front();
            }
            n += 1;
            if let Some(frame) = frame {
                if fam == 0 {
                    self.synproxy_due::<u32, F>(snap, now, idx, frame, out);
                } else {
                    self.synproxy_due::<u128, F>(snap, now, idx, frame, out);
                }
            }
        }
        n
    }

    /// True when connection `idx` is the proxied connection `tag` names and still waits for
    /// its real server; the leftovers of one that went are released.
    fn synproxy_pending<K: IpPath>(&mut self, idx: u32, tag: u32) -> bool {
        let fam = usize::from(K::BITS == 128);
        let Some(st) = self.synproxy.as_mut() else { return false };
        let p = st.conns[fam][idx as usize];
        if p.cookie_isn != tag || !p.waiting {
            return false; // answered, or the index holds another connection now
        }
        let t = K::conns(&self.tables);
        if !t.is_live(idx) || t.get(idx).flags & F_SYNPROXY == 0 {
            st.release(fam, idx); // the connection went (evicted)
            return false;
        }
        true
    }

    /// A waiting connection's timer, with `frame` to write into: the SYN again, or the reset.
    fn synproxy_due<K: IpPath, F: Frame>(
        &mut self,
        snap: &Snapshot,
        now: u32,
        idx: u32,
        mut frame: F,
        out: &mut impl FnMut(F, Verdict),
    ) {
        let fam = usize::from(K::BITS == 128);
        let Some(st) = self.synproxy.as_mut() else { return };
        let p = st.conns[fam][idx as usize];
        let c = *K::conns(&self.tables).get(idx);
        if frame.append(14).is_none() {
            return;
        }
        if p.retries < snap.synproxy().rs_syn_max_retry {
            st.conns[fam][idx as usize].retries += 1;
            st.due.push_back((fam as u8, idx, p.cookie_isn, now + 1));
            self.counters.synproxy_syn_retries += 1;
            let v = self.synproxy_syn(snap, now, &mut frame, idx, &c);
            out(frame, v);
            return;
        }
        // The server never answered: the client hears so now rather than hanging.
        st.release(fam, idx);
        self.counters.synproxy_rs_timeouts += 1;
        let s = Segment {
            v6: K::BITS == 128,
            src: c.vaddr.into_bits(),
            dst: c.caddr.into_bits(),
            sport: c.vport,
            dport: c.cport,
            seq: p.cookie_isn.wrapping_add(1),
            ack: 0,
            flags: flags::RST,
            window: 0,
            ttl: snap.synproxy().ttl,
            options: &[],
            payload: &[],
        };
        let written = write_segment(&mut frame, 14, &s);
        self.drop_conn::<K>(snap, idx, now);
        if let Some(at) = written {
            let ip = built::<K>(at, &c, flags::RST, Direction::Output);
            let v = self.send_to_client(snap, &mut frame, &ip, &c, false);
            out(frame, v);
        }
    }
}

impl PerCore {
    /// The SYN proxy's part of proxied connection `idx`'s sync record, once its real server
    /// answered: the server direction's shift as IPVS's `out_seq` (a constant: `delta` and
    /// `previous_delta` alike), the timestamp and window shifts as rvs's option. True when
    /// the connection runs the PROXY protocol's adjustment too.
    pub(super) fn synproxy_record<K: IpPath>(&self, idx: u32, r: &mut crate::wire::ipvs_sync::SyncConn) -> bool {
        let Some(p) = self.synproxy.as_ref().and_then(|st| st.conns[usize::from(K::BITS == 128)].get(idx as usize))
        else {
            return false;
        };
        if !p.waiting {
            let d = p.to_client.seq_add;
            r.seq_out = Some([p.cookie_isn.wrapping_sub(d), d, d]);
            r.flags |= crate::wire::ipvs_sync::conn_flags::OUT_SEQ;
            let w = |s: Option<(u8, u8)>| s.map_or([0xff, 0xff], |(a, b)| [a, b]);
            let (a, b) = (w(p.to_server.window), w(p.to_client.window));
            r.proxy_shift = Some(crate::wire::ipvs_sync::ProxyShift {
                ts_delta: p.to_client.tsval_add,
                windows: [a[0], a[1], b[0], b[1]],
            });
        }
        p.proxy
    }

    /// A synced connection `idx` takes the master's SYN proxy shifts from record `r`, when it
    /// has them and a service here runs the proxy.
    pub(super) fn adopt_synproxy<K: IpPath>(&mut self, idx: u32, r: &crate::wire::ipvs_sync::SyncConn) {
        let (Some([init, d, _]), Some(shift)) = (r.seq_out, r.proxy_shift) else { return };
        let fam = usize::from(K::BITS == 128);
        let Some(st) = self.synproxy.as_mut() else { return };
        if idx as usize >= st.conns[fam].len() {
            return;
        }
        st.release(fam, idx);
        let w = |a: u8, b: u8| {
            (a != 0xff && b != 0xff && a <= syncookie::MAX_WSCALE && b <= syncookie::MAX_WSCALE).then_some((a, b))
        };
        let [a, b, c, e] = shift.windows;
        st.conns[fam][idx as usize] = Proxied {
            cookie_isn: init.wrapping_add(d),
            proxy: r.seq_in.is_some(),
            to_client: SegmentShift {
                seq_add: d,
                tsval_add: shift.ts_delta,
                window: w(c, e),
                ..SegmentShift::default()
            },
            to_server: SegmentShift {
                ack_sub: d,
                tsecr_sub: shift.ts_delta,
                window: w(a, b),
                ..SegmentShift::default()
            },
            ..Proxied::default()
        };
        K::conns_mut(&mut self.tables).get_mut(idx).flags |= F_SEQ_ADJ | F_SYNPROXY;
    }
}

/// The client's window field as the real server reads it.
fn c2s_window(w: u16, shift: Option<(u8, u8)>) -> u16 {
    shift.map_or(w, |s| rescale(w, s))
}

/// Where a frame's IP header starts (after Ethernet and one VLAN tag).
fn frame_l3<F: Frame>(frame: &F) -> usize {
    let d = frame.data();
    if d.len() >= 18 && crate::wire::be16(d, 12) == crate::wire::ethernet::EtherType::VLAN {
        18
    } else {
        14
    }
}

/// The headers of a segment rvsd wrote for connection `c` (`Input`: client to VIP; `Output`:
/// VIP to client).
fn built<K: AddrKey>(
    (l3, l4, end): crate::xmit::segment::Offsets,
    c: &Conn<K>,
    tcp_flags: u8,
    dir: Direction,
) -> Ip<K> {
    let (src, dst, sport, dport) = if dir == Direction::Input {
        (c.caddr, c.vaddr, c.cport, c.vport)
    } else {
        (c.vaddr, c.caddr, c.vport, c.cport)
    };
    let mut ip = Ip::at((l3, l4, end), protocol::TCP, (src, dst));
    ip.sport = sport;
    ip.dport = dport;
    ip.tcp_flags = tcp_flags;
    ip
}
