//! The look-ahead over a burst (VPP, DPVS): every packet is read once ([`Parsed`]), its
//! connection-index bucket prefetched, then the entries the buckets lead to, before the burst
//! is processed, so that on tables larger than the caches the misses of a whole burst overlap.

use super::*;
use crate::conn::sig_index::Bucket;

/// Packets one [`Pipeline::lookahead`] covers (a burst).
pub const LOOKAHEAD: usize = 32;

impl Pipeline {
    /// Reads a burst of frames that arrived on `port` into `parsed` (one per frame, in order;
    /// at most [`LOOKAHEAD`]) and asks `prefetch` for the connection-index bucket of every
    /// TCP/UDP packet, then for the entries the buckets lead to. On a table larger than the
    /// caches each packet costs a couple of dependent misses (bucket, then entry); this way the
    /// misses of a whole burst overlap instead of coming one packet at a time. `prefetch` is
    /// the platform's cache prefetch (the daemon's issues the CPU instruction; this crate has
    /// no `unsafe`), or a no-op. It changes nothing; hand each frame with its [`Parsed`] to
    /// [`Pipeline::process_parsed`]. Returns how many frames it read.
    pub fn lookahead<'f, F: Frame + 'f>(
        &self,
        port: u16,
        frames: impl Iterator<Item = &'f F>,
        parsed: &mut [Parsed; LOOKAHEAD],
        prefetch: impl Fn(*const u8),
    ) -> usize {
        let table = &self.core.tables.v4;
        let mut buckets: [(&Bucket, u64); LOOKAHEAD] = [(&Bucket::EMPTY, 0); LOOKAHEAD];
        let mut n = 0;
        let mut flows = 0;
        let mut flows6 = 0;
        for f in frames.take(LOOKAHEAD) {
            let p = self.core.parse(&self.snap, port, f);
            parsed[n] = p;
            n += 1;
            let Some(ip) = p.flow() else {
                flows6 += usize::from(p.flow6().is_some());
                continue;
            };
            buckets[flows] = bucket_of(table, &self.snap, ip, &prefetch);
            flows += 1;
        }
        prefetch_entries(table, &buckets[..flows], &prefetch);
        if flows6 > 0 {
            self.lookahead6(&parsed[..n], &prefetch);
        }
        n
    }

    /// The look-ahead's two stages for the IPv6 flows of a burst already read (an IPv6 entry
    /// is two cache lines: both are prefetched).
    #[inline(never)]
    fn lookahead6(&self, parsed: &[Parsed], prefetch: &impl Fn(*const u8)) {
        let table = &self.core.tables.v6;
        let mut buckets: [(&Bucket, u64); LOOKAHEAD] = [(&Bucket::EMPTY, 0); LOOKAHEAD];
        let mut flows = 0;
        for ip in parsed.iter().filter_map(Parsed::flow6) {
            buckets[flows] = bucket_of(table, &self.snap, ip, prefetch);
            flows += 1;
        }
        prefetch_entries(table, &buckets[..flows], prefetch);
    }
}

/// The first stage for one flow: its client-side bucket prefetched and, for a packet not to a
/// VIP, its reply-side one too (`process` looks a packet up client-side first, then reply-side:
/// a packet to a VIP is found client-side; any other, if at all, reply-side). Returns the
/// bucket a hit would be found through, with the hash it is looked up by.
#[inline(always)]
fn bucket_of<'t, K: Family>(
    table: &'t ConnTable<K>,
    snap: &Snapshot,
    ip: &Ip<K>,
    prefetch: &impl Fn(*const u8),
) -> (&'t Bucket, u64) {
    let client = table.client_bucket_ref(ip.c_hash());
    prefetch(std::ptr::from_ref(client).cast());
    if snap.family::<K>().is_vip(ip.dst) {
        return (client, ip.c_hash());
    }
    let hash = table.reply_hash(ip.proto, ip.src, ip.sport, ip.dst, ip.dport);
    let reply = table.reply_bucket_ref(hash);
    prefetch(std::ptr::from_ref(reply).cast());
    (reply, hash)
}

/// The second stage: the entries the buckets' signatures lead to, every cache line of each
/// (an IPv4 entry is one line, an IPv6 entry two).
#[inline(always)]
fn prefetch_entries<K: AddrKey>(table: &ConnTable<K>, buckets: &[(&Bucket, u64)], prefetch: &impl Fn(*const u8)) {
    for &(b, hash) in buckets {
        if let Some(e) = table.entry_ref(b, hash) {
            let line = std::ptr::from_ref(e).cast::<u8>();
            for k in 0..std::mem::size_of::<Conn<K>>() / 64 {
                prefetch(line.wrapping_add(64 * k));
            }
        }
    }
}
