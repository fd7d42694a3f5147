//! Sequence-number adjustment: when the director adds bytes to one direction of a TCP
//! connection (the PROXY protocol header in front of the client's first data; a SYN proxy's own
//! initial sequence number, later), every later segment's sequence number in that direction,
//! and the acknowledgment and SACK edges (RFC 2018 §3) of the other, must move by as many.
//!
//! The model is IPVS's `struct ip_vs_seq` (`ip_vs_app.c`: `vs_fix_seq`, `vs_fix_ack_seq`), so
//! that a sync record's `IPVS_OPT_SEQ_DATA` can carry it: from `init_seq` on, the direction's
//! sequence numbers are `delta` further; before it, `previous_delta`. A segment that starts at
//! `init_seq` itself is the one the director changed (it carries the insertion).

use crate::wire::checksum::update32;
use crate::wire::put16;

/// One direction's adjustment (IPVS's `ip_vs_seq`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqAdjust {
    /// The sequence number where the change happened.
    pub init_seq: u32,
    /// Bytes added (wrapping: a removal is a negative delta) from `init_seq` on.
    pub delta: u32,
    /// Bytes added before `init_seq`.
    pub previous_delta: u32,
}

/// `a` comes after `b` in sequence space (RFC 793's modular comparison).
#[inline]
fn after(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) < 0
}

impl SeqAdjust {
    /// The sequence number a segment of this direction starting at `seq` goes on with.
    #[inline]
    pub fn fix_seq(&self, seq: u32) -> u32 {
        if after(seq, self.init_seq) {
            seq.wrapping_add(self.delta)
        } else {
            seq.wrapping_add(self.previous_delta)
        }
    }

    /// The acknowledgment number (or SACK edge) `ack` of the other direction, about this one's
    /// bytes, as the sender of this direction knows them.
    #[inline]
    pub fn fix_ack(&self, ack: u32) -> u32 {
        if after(ack, self.init_seq.wrapping_add(self.delta)) {
            ack.wrapping_sub(self.delta)
        } else if after(ack, self.init_seq) {
            // Inside the added bytes: acknowledges what the sender sent up to the change.
            self.init_seq.wrapping_add(self.previous_delta)
        } else {
            ack.wrapping_sub(self.previous_delta)
        }
    }
}

/// Reads a 32-bit field.
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Rewrites the 32-bit field at `at` of TCP segment `seg` to `new`, patching its checksum.
fn set32_patched(seg: &mut [u8], at: usize, new: u32) {
    let old = be32(seg, at);
    if old == new {
        return;
    }
    seg[at..at + 4].copy_from_slice(&new.to_be_bytes());
    let c = update32(u16::from_be_bytes([seg[16], seg[17]]), old.to_be_bytes(), new.to_be_bytes());
    put16(seg, 16, c);
}

/// A segment of the adjusted direction: its sequence number moved by `adj`.
pub fn fix_seq_of(seg: &mut [u8], adj: &SeqAdjust) {
    let seq = be32(seg, 4);
    set32_patched(seg, 4, adj.fix_seq(seq));
}

/// A segment of the other direction: its acknowledgment number (when ACK is set) and the edges
/// of its SACK blocks mapped back through `adj`, checksum patched.
pub fn fix_ack_of(seg: &mut [u8], adj: &SeqAdjust) {
    if seg[13] & crate::wire::tcp::flags::ACK != 0 {
        let ack = be32(seg, 8);
        set32_patched(seg, 8, adj.fix_ack(ack));
    }
    let hlen = (usize::from(seg[12] >> 4) * 4).min(seg.len());
    let mut at = 20;
    while at < hlen {
        match seg[at] {
            0 => return,
            1 => at += 1,
            kind => {
                let Some(&len) = seg.get(at + 1) else { return };
                let len = usize::from(len);
                if len < 2 || at + len > hlen {
                    return;
                }
                if kind == 5 && (len - 2) % 8 == 0 {
                    for edge in (at + 2..at + len).step_by(4) {
                        let e = be32(seg, edge);
                        set32_patched(seg, edge, adj.fix_ack(e));
                    }
                }
                at += len;
            }
        }
    }
}

/// How the SYN proxy moves one direction's segments of a proxied connection: the sequence
/// number forward by `seq_add`, the acknowledgment number and SACK edges back by `ack_sub`,
/// TSval forward by `tsval_add`, TSecr back by `tsecr_sub`, and the window from one scale to
/// another (RFC 7323 §2.3: a window the receiver reads at its own shift).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentShift {
    /// Added to the sequence number.
    pub seq_add: u32,
    /// Taken from the acknowledgment number (when ACK is set) and SACK edges.
    pub ack_sub: u32,
    /// Added to the timestamp value.
    pub tsval_add: u32,
    /// Taken from the echoed timestamp.
    pub tsecr_sub: u32,
    /// (The sender's window shift, the receiver's reading of it), when they differ.
    pub window: Option<(u8, u8)>,
}

/// Applies `m` to TCP segment `seg` (header and data), patching its checksum.
pub fn shift_segment(seg: &mut [u8], m: &SegmentShift) {
    if m.seq_add != 0 {
        let seq = be32(seg, 4);
        set32_patched(seg, 4, seq.wrapping_add(m.seq_add));
    }
    if m.ack_sub != 0 && seg[13] & crate::wire::tcp::flags::ACK != 0 {
        let ack = be32(seg, 8);
        set32_patched(seg, 8, ack.wrapping_sub(m.ack_sub));
    }
    if let Some((from, to)) = m.window {
        let w = u16::from_be_bytes([seg[14], seg[15]]);
        let scaled = ((u64::from(w) << from) >> to).min(0xffff) as u16;
        if scaled != w {
            seg[14..16].copy_from_slice(&scaled.to_be_bytes());
            let c = crate::wire::checksum::update16(u16::from_be_bytes([seg[16], seg[17]]), w, scaled);
            put16(seg, 16, c);
        }
    }
    if m.ack_sub == 0 && m.tsval_add == 0 && m.tsecr_sub == 0 {
        return;
    }
    // 40 bytes of options hold at most 8 fields to change (4 SACK blocks, or 3 and a timestamp).
    let mut edits = [(0usize, 0u32); 8];
    let mut n = 0;
    crate::wire::tcp_options::walk(seg, |kind, at, len| match kind {
        crate::wire::tcp_options::kind::TIMESTAMP if len == 10 && n + 2 <= edits.len() => {
            let (v, e) = (be32(seg, at + 2), be32(seg, at + 6));
            edits[n] = (at + 2, v.wrapping_add(m.tsval_add));
            edits[n + 1] = (at + 6, e.wrapping_sub(m.tsecr_sub));
            n += 2;
        }
        crate::wire::tcp_options::kind::SACK if (len - 2) % 8 == 0 && m.ack_sub != 0 => {
            for edge in (at + 2..at + len).step_by(4).take(edits.len() - n) {
                edits[n] = (edge, be32(seg, edge).wrapping_sub(m.ack_sub));
                n += 1;
            }
        }
        _ => {}
    });
    for &(at, v) in &edits[..n] {
        set32_patched(seg, at, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{fold, sum};

    fn seg(seq: u32, ack: u32, opts: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8; 20 + opts.len()];
        s[4..8].copy_from_slice(&seq.to_be_bytes());
        s[8..12].copy_from_slice(&ack.to_be_bytes());
        s[12] = (((20 + opts.len()) / 4) as u8) << 4;
        s[13] = crate::wire::tcp::flags::ACK;
        s[20..].copy_from_slice(opts);
        let c = !fold(sum(&s));
        put16(&mut s, 16, c);
        s
    }

    #[test]
    fn sequence_numbers_move_after_the_change_and_acks_move_back() {
        // 28 bytes inserted at 1000 (wrapping near the top of the space too).
        for init in [1000u32, u32::MAX - 10] {
            let a = SeqAdjust { init_seq: init, delta: 28, previous_delta: 0 };
            assert_eq!(a.fix_seq(init), init, "the changed segment starts where it did");
            assert_eq!(a.fix_seq(init.wrapping_add(100)), init.wrapping_add(128));
            assert_eq!(a.fix_seq(init.wrapping_sub(1)), init.wrapping_sub(1));
            assert_eq!(a.fix_ack(init.wrapping_add(128)), init.wrapping_add(100));
            assert_eq!(a.fix_ack(init.wrapping_add(28)), init, "the header acknowledged: nothing of the client's");
            assert_eq!(a.fix_ack(init.wrapping_add(10)), init, "part of the header");
            assert_eq!(a.fix_ack(init), init);
        }
    }

    #[test]
    fn a_shift_moves_seq_ack_sack_timestamps_and_window_with_the_checksum() {
        // NOP NOP TS(100, 200) NOP NOP SACK(1 block)
        let mut opts = vec![1, 1, 8, 10];
        opts.extend_from_slice(&100u32.to_be_bytes());
        opts.extend_from_slice(&200u32.to_be_bytes());
        opts.extend_from_slice(&[1, 1, 5, 10]);
        opts.extend_from_slice(&5000u32.to_be_bytes());
        opts.extend_from_slice(&6000u32.to_be_bytes());
        let mut s = seg(1000, 3000, &opts);
        s[14..16].copy_from_slice(&512u16.to_be_bytes());
        s.extend_from_slice(b"data!"); // odd length: the checksum covers it
        let c = {
            s[16] = 0;
            s[17] = 0;
            !fold(sum(&s))
        };
        put16(&mut s, 16, c);
        let m = SegmentShift { seq_add: 10, ack_sub: 1000, tsval_add: 7, tsecr_sub: 50, window: Some((7, 9)) };
        shift_segment(&mut s, &m);
        assert_eq!((be32(&s, 4), be32(&s, 8)), (1010, 2000));
        assert_eq!((be32(&s, 24), be32(&s, 28)), (107, 150));
        assert_eq!((be32(&s, 36), be32(&s, 40)), (4000, 5000));
        assert_eq!(u16::from_be_bytes([s[14], s[15]]), 128, "512 << 7 read at >> 9");
        assert_eq!(fold(sum(&s)), 0xffff, "checksum right");
        let mut t = seg(1, 2, &[]);
        shift_segment(&mut t, &SegmentShift { window: Some((0, 0)), ..SegmentShift::default() });
        assert_eq!(fold(sum(&t)), 0xffff);
    }

    #[test]
    fn sack_edges_and_the_ack_are_patched_with_the_checksum() {
        let a = SeqAdjust { init_seq: 1000, delta: 28, previous_delta: 0 };
        // NOP NOP SACK(2 blocks)
        let mut opts = vec![1, 1, 5, 18];
        for e in [2028u32, 3028, 4028, 5028] {
            opts.extend_from_slice(&e.to_be_bytes());
        }
        let mut s = seg(77, 1528, &opts);
        fix_ack_of(&mut s, &a);
        assert_eq!(be32(&s, 8), 1500);
        let edges: Vec<u32> = (24..40).step_by(4).map(|i| be32(&s, i)).collect();
        assert_eq!(edges, vec![2000, 3000, 4000, 5000]);
        assert_eq!(fold(sum(&s)), 0xffff, "checksum right");
        let mut t = seg(1100, 9, &[]);
        fix_seq_of(&mut t, &a);
        assert_eq!(be32(&t, 4), 1128);
        assert_eq!(fold(sum(&t)), 0xffff);
    }
}
