//! The TCP options a handshake negotiates (RFC 9293 §3.2, RFC 7323 §2-3, RFC 2018 §2): read
//! from a segment's header, and written for a SYN or SYN-ACK in Linux's order and padding
//! (`tcp_options_write`), so a proxied handshake looks like a kernel's.

use super::be16;

/// Option kinds.
pub mod kind {
    /// End of the option list.
    pub const END: u8 = 0;
    /// No-operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WSCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERM: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMP: u8 = 8;
}

/// Most bytes of options a SYN carries as written here.
pub const SYN_OPTIONS_MAX: usize = 20;

/// What a segment's options say (the handshake's options; others are skipped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOptions {
    /// MSS.
    pub mss: Option<u16>,
    /// Window scale shift.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_perm: bool,
    /// (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
    /// Where the timestamp option's TSval starts in the header (0 without one).
    pub ts_at: usize,
}

/// Calls `each(kind, at, len)` for each option of TCP header `seg` (its data offset bounds
/// them); stops at the end option or a malformed length.
pub fn walk(seg: &[u8], mut each: impl FnMut(u8, usize, usize)) {
    let hlen = (usize::from(seg.get(12).copied().unwrap_or(0) >> 4) * 4).min(seg.len());
    let mut at = 20;
    while at < hlen {
        match seg[at] {
            kind::END => return,
            kind::NOP => at += 1,
            k => {
                let Some(&len) = seg.get(at + 1) else { return };
                let len = usize::from(len);
                if len < 2 || at + len > hlen {
                    return;
                }
                each(k, at, len);
                at += len;
            }
        }
    }
}

/// Reads the handshake options of TCP header `seg`.
pub fn parse(seg: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    walk(seg, |k, at, len| match (k, len) {
        (kind::MSS, 4) => o.mss = Some(be16(seg, at + 2)),
        (kind::WSCALE, 3) => o.wscale = Some(seg[at + 2].min(crate::syncookie::MAX_WSCALE)),
        (kind::SACK_PERM, 2) => o.sack_perm = true,
        (kind::TIMESTAMP, 10) => {
            let v = u32::from_be_bytes([seg[at + 2], seg[at + 3], seg[at + 4], seg[at + 5]]);
            let e = u32::from_be_bytes([seg[at + 6], seg[at + 7], seg[at + 8], seg[at + 9]]);
            o.timestamp = Some((v, e));
            o.ts_at = at + 2;
        }
        _ => {}
    });
    o
}

/// Writes a SYN's or SYN-ACK's options into `out` as Linux lays them out: MSS; SACK-permitted
/// with the timestamps (or NOP NOP before either alone); NOP and the window scale. Returns
/// their length, a multiple of 4.
pub fn write_syn(
    out: &mut [u8; SYN_OPTIONS_MAX],
    mss: u16,
    wscale: Option<u8>,
    sack: bool,
    ts: Option<(u32, u32)>,
) -> usize {
    let mut n = 0;
    let mut put = |b: &[u8]| {
        out[n..n + b.len()].copy_from_slice(b);
        n += b.len();
    };
    put(&[kind::MSS, 4]);
    put(&mss.to_be_bytes());
    match (sack, ts) {
        (true, Some(_)) => put(&[kind::SACK_PERM, 2]),
        (false, Some(_)) => put(&[kind::NOP, kind::NOP]),
        (true, None) => put(&[kind::NOP, kind::NOP, kind::SACK_PERM, 2]),
        (false, None) => {}
    }
    if let Some((v, e)) = ts {
        put(&[kind::TIMESTAMP, 10]);
        put(&v.to_be_bytes());
        put(&e.to_be_bytes());
    }
    if let Some(w) = wscale {
        put(&[kind::NOP, kind::WSCALE, 3, w]);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opts: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s.extend_from_slice(opts);
        s[12] = ((s.len() / 4) as u8) << 4;
        s
    }

    #[test]
    fn what_is_written_reads_back() {
        for (w, sack, ts) in [
            (Some(7), true, Some((5, 6))),
            (None, false, None),
            (Some(0), false, Some((1, 0))),
            (None, true, None),
            (Some(14), true, None),
        ] {
            let mut b = [0u8; SYN_OPTIONS_MAX];
            let n = write_syn(&mut b, 1452, w, sack, ts);
            assert_eq!(n % 4, 0);
            let o = parse(&header(&b[..n]));
            assert_eq!((o.mss, o.wscale, o.sack_perm, o.timestamp), (Some(1452), w, sack, ts));
        }
    }

    #[test]
    fn a_linux_syn_reads_and_a_malformed_list_stops() {
        // MSS 1460, SACK_PERM, TS 0x01020304/0, NOP, WS 7: what Linux sends.
        let syn = header(&[2, 4, 5, 180, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7]);
        let o = parse(&syn);
        assert_eq!((o.mss, o.wscale, o.sack_perm, o.timestamp), (Some(1460), Some(7), true, Some((0x0102_0304, 0))));
        assert_eq!(o.ts_at, 28);
        let bad = header(&[2, 4, 5, 180, 8, 30, 0, 0]);
        assert_eq!(parse(&bad).timestamp, None);
        assert_eq!(parse(&bad).mss, Some(1460));
    }
}
