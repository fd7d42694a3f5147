//! The look-ahead over a burst (VPP, DPVS): every packet's connection-index bucket, then the
//! entries they lead to, prefetched before the burst is processed, so that on tables larger
//! than the caches the misses of a whole burst overlap.

use super::*;

impl Pipeline {
    /// Looks ahead over a burst before it is processed, as VPP and DPVS do: asks `prefetch`
    /// to fetch the connection-index buckets of every packet, then reads the buckets and asks
    /// for the entries they lead to. On a table larger than the caches each packet costs a
    /// couple of dependent misses (bucket, then entry); this way the misses of a whole burst
    /// overlap instead of coming one packet at a time. `prefetch` is the platform's cache
    /// prefetch (the daemon's issues the CPU instruction; this crate has no `unsafe`), or a
    /// no-op. Frames it cannot parse are skipped; it changes nothing.
    pub fn lookahead<'f, F: Frame + 'f>(&self, frames: impl Iterator<Item = &'f F>, prefetch: impl Fn(*const u8)) {
        let table = &self.core.conns;
        let mut buckets: [&u32; LOOKAHEAD] = [&NIL; LOOKAHEAD];
        let mut n = 0;
        for f in frames.take(LOOKAHEAD) {
            if let Some((proto, src, sport, dst, dport)) = flow_tuple(f.data()) {
                // `process` looks a packet up client-side first, then (not found) reply-side: a
                // packet to a VIP is found client-side; any other, if at all, reply-side.
                let client = table.bucket_ref(true, proto, src, sport, dst, dport);
                prefetch(std::ptr::from_ref(client).cast());
                buckets[n] = if self.snap.is_vip(Ipv4Addr::from(dst)) {
                    client
                } else {
                    let reply = table.bucket_ref(false, proto, src, sport, dst, dport);
                    prefetch(std::ptr::from_ref(reply).cast());
                    reply
                };
                n += 1;
            }
        }
        for b in &buckets[..n] {
            if let Some(e) = table.entry_ref(**b) {
                prefetch(std::ptr::from_ref(e).cast());
            }
        }
    }
}

/// Packets one [`Pipeline::lookahead`] covers (a burst).
pub const LOOKAHEAD: usize = 32;

/// (protocol, source, source port, destination, destination port) of a TCP or UDP packet in an
/// Ethernet frame (one VLAN tag allowed), without validation beyond bounds: a look-ahead hint.
#[inline]
fn flow_tuple(d: &[u8]) -> Option<(u8, u32, u16, u32, u16)> {
    if d.len() < 14 + 20 + 4 {
        return None;
    }
    let (l3, et) = if be16(d, 12) == 0x8100 { (18, be16(d, 16)) } else { (14, be16(d, 12)) };
    let ihl = usize::from(d[l3] & 0x0f) * 4;
    let l4 = l3 + ihl;
    if et != 0x0800 || ihl < 20 || d.len() < l4 + 4 {
        return None;
    }
    let proto = d[l3 + 9];
    if proto != protocol::TCP && proto != protocol::UDP {
        return None;
    }
    let (src, dst) = (u32::from_be_bytes(get4(d, l3 + 12)), u32::from_be_bytes(get4(d, l3 + 16)));
    Some((proto, src, be16(d, l4), dst, be16(d, l4 + 2)))
}
