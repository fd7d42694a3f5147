//! The look-ahead over a burst (VPP, DPVS): every packet is read once ([`Parsed`]), its
//! connection-index bucket prefetched, then the entries the buckets lead to, before the burst
//! is processed, so that on tables larger than the caches the misses of a whole burst overlap.

use super::*;

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
    ///
    /// A loop that can hold a burst back splits this in two, one burst apart
    /// ([`Pipeline::lookahead_read`] on burst t+1, then [`Pipeline::lookahead_entries`] on
    /// burst t and burst t processed), so that every bucket has a whole burst's processing to
    /// arrive before it is read.
    pub fn lookahead<'f, F: Frame + 'f>(
        &self,
        port: u16,
        frames: impl Iterator<Item = &'f F>,
        parsed: &mut [Parsed; LOOKAHEAD],
        prefetch: impl Fn(*const u8),
    ) -> usize {
        let n = self.lookahead_read(port, frames, parsed, &prefetch);
        self.lookahead_entries(&parsed[..n], &prefetch);
        n
    }

    /// The look-ahead's first stage: reads the frames into `parsed` and prefetches each flow's
    /// index bucket. Returns how many frames it read.
    pub fn lookahead_read<'f, F: Frame + 'f>(
        &self,
        port: u16,
        frames: impl Iterator<Item = &'f F>,
        parsed: &mut [Parsed; LOOKAHEAD],
        prefetch: &impl Fn(*const u8),
    ) -> usize {
        let mut n = 0;
        for f in frames.take(LOOKAHEAD) {
            let p = self.core.parse(&self.snap, port, f);
            parsed[n] = p;
            n += 1;
            if let Some(ip) = p.flow() {
                bucket_of(&self.core.tables.v4, &self.snap, ip, prefetch);
            } else if let Some(ip) = p.flow6() {
                bucket_of(&self.core.tables.v6, &self.snap, ip, prefetch);
            }
        }
        n
    }

    /// The look-ahead's second stage for a burst [`Pipeline::lookahead_read`] read: prefetches
    /// the entries its flows' buckets lead to (every line of each: an IPv4 entry is one line,
    /// an IPv6 entry two). The buckets are read here, so the further the first stage ran
    /// ahead, the fewer of them are still on their way.
    pub fn lookahead_entries(&self, parsed: &[Parsed], prefetch: &impl Fn(*const u8)) {
        let mut flows6 = false;
        for p in parsed {
            match p.flow() {
                Some(ip) => prefetch_entry(
                    &self.core.tables.v4,
                    bucket_of(&self.core.tables.v4, &self.snap, ip, &|_| {}),
                    prefetch,
                ),
                None => flows6 |= p.flow6().is_some(),
            }
        }
        if flows6 {
            self.lookahead_entries6(parsed, prefetch);
        }
    }

    /// [`Pipeline::lookahead_entries`] for the IPv6 flows of a burst (kept out of line: the
    /// IPv4 path stays small).
    #[inline(never)]
    fn lookahead_entries6(&self, parsed: &[Parsed], prefetch: &impl Fn(*const u8)) {
        let table = &self.core.tables.v6;
        for ip in parsed.iter().filter_map(Parsed::flow6) {
            prefetch_entry(table, bucket_of(table, &self.snap, ip, &|_| {}), prefetch);
        }
    }
}

/// The first stage for one flow: its client-side bucket prefetched and, for a packet not to a
/// VIP, its reply-side one too (`process` looks a packet up client-side first, then reply-side:
/// a packet to a VIP is found client-side; any other, if at all, reply-side). Returns the
/// bucket a hit would be found through.
#[inline(always)]
fn bucket_of<'t, K: Family>(
    table: &'t ConnTable<K>,
    snap: &Snapshot,
    ip: &Ip<K>,
    prefetch: &impl Fn(*const u8),
) -> &'t u32 {
    let client = table.client_bucket_ref(ip.c_hash());
    prefetch(std::ptr::from_ref(client).cast());
    if snap.family::<K>().is_vip(ip.dst) {
        return client;
    }
    let reply = table.reply_bucket_ref(table.reply_hash(ip.proto, ip.src, ip.sport, ip.dst, ip.dport));
    prefetch(std::ptr::from_ref(reply).cast());
    reply
}

/// The second stage for one flow: the entry its bucket leads to, every cache line of it.
#[inline(always)]
fn prefetch_entry<K: AddrKey>(table: &ConnTable<K>, bucket: &u32, prefetch: &impl Fn(*const u8)) {
    if let Some(e) = table.entry_ref(*bucket) {
        let line = std::ptr::from_ref(e).cast::<u8>();
        for k in 0..std::mem::size_of::<Conn<K>>() / 64 {
            prefetch(line.wrapping_add(64 * k));
        }
    }
}
