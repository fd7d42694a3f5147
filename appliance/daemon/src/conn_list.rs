//! `ipvsadm -L -c` without control work on dataplane cores: a worker copies its connections,
//! as plain records, into buffers the control plane lends it, one bounded chunk per burst
//! boundary; the control side collects, formats and waits — never a worker, and never under
//! the LiveConfig mutex.
//!
//! Per worker there are two bounded lock-free queues: `free` (control -> worker: empty chunks,
//! allocated once at start) and `full` (worker -> control: filled chunks). A listing request
//! bumps `req`; each worker then walks its table from slot 0, at most [`SCAN_PER_BURST`] slots
//! and [`CHUNK`] connections per burst boundary, and marks its last chunk. A worker with no
//! free chunk simply waits for the next boundary: the control side's pace never stalls it.
//! The IPv4 table is walked first, then the IPv6 one (its copies go in the chunk's own list).

use crossbeam_queue::ArrayQueue;
use rvs_core::conn::{Conn, ConnTable};
use serde::ser::SerializeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Connections per chunk (64 KiB of copies).
pub const CHUNK: usize = 1024;
/// Table slots a worker scans per burst boundary while listing.
pub const SCAN_PER_BURST: usize = 4096;
/// Chunks lent to each worker.
pub const CHUNKS_PER_WORKER: usize = 4;
/// A listing gives up when no worker delivered anything for this long.
pub const STALL: Duration = Duration::from_secs(2);

/// Copies of up to [`CHUNK`] connections of one worker, for listing request `req`.
#[derive(Debug)]
pub struct Chunk {
    /// The request this answers.
    pub req: u64,
    /// The worker's clock (seconds) when copied: expiry times are relative to it.
    pub now: u32,
    /// The copies (capacity [`CHUNK`], never grown by the worker).
    pub conns: Vec<Conn>,
    /// IPv6 copies (capacity [`CHUNK`] / 2: an entry is twice as big).
    pub conns6: Vec<Conn<u128>>,
    /// The worker's last chunk for `req`.
    pub last: bool,
}

/// The queues between the control plane and the workers for listings.
#[derive(Debug)]
pub struct ConnListing {
    /// Bumped by the control plane to start a listing.
    pub req: AtomicU64,
    free: Vec<ArrayQueue<Box<Chunk>>>,
    full: Vec<ArrayQueue<Box<Chunk>>>,
}

impl ConnListing {
    /// Queues for `workers` workers, each lent [`CHUNKS_PER_WORKER`] chunks.
    pub fn new(workers: usize) -> Self {
        let free: Vec<ArrayQueue<Box<Chunk>>> = (0..workers).map(|_| ArrayQueue::new(CHUNKS_PER_WORKER)).collect();
        for q in &free {
            for _ in 0..CHUNKS_PER_WORKER {
                let _ = q.push(Box::new(Chunk {
                    req: 0,
                    now: 0,
                    conns: Vec::with_capacity(CHUNK),
                    conns6: Vec::with_capacity(CHUNK / 2),
                    last: false,
                }));
            }
        }
        let full = (0..workers).map(|_| ArrayQueue::new(CHUNKS_PER_WORKER)).collect();
        ConnListing { req: AtomicU64::new(0), free, full }
    }

    /// Every connection of every worker (control path). Fails if a worker stops delivering
    /// for [`STALL`] (it is stuck, or the daemon is stopping).
    pub fn collect(&self) -> Result<Vec<ConnRecord>, String> {
        let workers = self.free.len();
        let req = self.req.fetch_add(1, Ordering::AcqRel) + 1;
        let mut done = vec![false; workers];
        let mut out = Vec::new();
        let mut progress = Instant::now();
        while !done.iter().all(|&d| d) {
            let mut got = false;
            for (w, q) in self.full.iter().enumerate() {
                while let Some(mut c) = q.pop() {
                    got = true;
                    if c.req == req {
                        out.extend(c.conns.iter().map(|conn| ConnRecord::of(w, c.now, conn)));
                        out.extend(c.conns6.iter().map(|conn| ConnRecord::of(w, c.now, conn)));
                        done[w] |= c.last;
                    }
                    c.conns.clear();
                    c.conns6.clear();
                    let _ = self.free[w].push(c); // its own chunk: there is room
                }
            }
            if got {
                progress = Instant::now();
            } else if progress.elapsed() > STALL {
                return Err(format!("connection listing: no answer from a worker for {} s", STALL.as_secs()));
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(out)
    }

    /// The worker side: call at each burst boundary. `state` is the worker's own progress
    /// (request answered, next slot); returns at once when nothing is asked or no chunk is free.
    /// Never allocates: it fills a lent chunk within its capacity.
    pub fn serve(
        &self,
        worker: usize,
        state: &mut WorkerListing,
        table: &ConnTable,
        table6: &ConnTable<u128>,
        now: u32,
    ) {
        let want = self.req.load(Ordering::Acquire);
        if want != state.req {
            *state = WorkerListing { req: want, next: Some(0), v6: false };
        }
        let Some(from) = state.next else { return };
        let Some(mut c) = self.free[worker].pop() else { return };
        c.conns.clear();
        c.conns6.clear();
        c.req = want;
        c.now = now;
        let was = *state;
        if state.v6 {
            state.next = table6.copy_live(from, SCAN_PER_BURST, &mut c.conns6);
        } else {
            state.next = table.copy_live(from, SCAN_PER_BURST, &mut c.conns);
            if state.next.is_none() {
                *state = WorkerListing { req: want, next: Some(0), v6: true }; // on to the IPv6 table
            }
        }
        c.last = state.v6 && state.next.is_none();
        if let Err(c) = self.full[worker].push(c) {
            // Cannot happen (as many chunks as places); give it back rather than lose it.
            *state = was;
            let _ = self.free[worker].push(c);
        }
    }
}

/// A worker's progress through a listing.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerListing {
    req: u64,
    next: Option<u32>,
    /// Walking the IPv6 table (the IPv4 one is done).
    v6: bool,
}

/// One connection as `ipvsadm -L -c` lists it: the fields it shows, formatted only when
/// serialized.
#[derive(Debug, Clone, Copy)]
pub struct ConnRecord {
    /// The worker holding it.
    pub core: usize,
    /// That worker's clock (seconds) when copied.
    pub now: u32,
    /// IP protocol.
    pub proto: u8,
    /// Client, virtual and real server's address and port.
    pub client: SocketAddr,
    /// The virtual service's address and port.
    pub virt: SocketAddr,
    /// The real server's address and port.
    pub dest: SocketAddr,
    /// FULLNAT's local address and port (what the real server sees as the client).
    pub local: Option<SocketAddr>,
    /// Its state.
    pub state: rvs_core::conn::ConnState,
    /// Its expiry (worker clock seconds).
    pub expires: u32,
}

impl ConnRecord {
    fn of<K: rvs_core::family::AddrKey>(core: usize, now: u32, c: &Conn<K>) -> Self {
        // NAT64's IPv4 ends (mapped in IPv6's table) are listed as the IPv4 addresses they are.
        let a = |k: K, port: u16| SocketAddr::new(k.addr().into(), port);
        let end = |k: K, port: u16| match rvs_core::family::unmapped(k.into()) {
            Some(v4) if k.is_mapped_v4() => SocketAddr::new(std::net::Ipv4Addr::from(v4).into(), port),
            _ => a(k, port),
        };
        ConnRecord {
            core,
            now,
            proto: c.proto,
            client: a(c.caddr, c.cport),
            virt: a(c.vaddr, c.vport),
            dest: end(c.daddr, c.dport),
            local: c.is_fullnat().then(|| end(c.laddr, c.lport)),
            state: c.state,
            expires: c.expires,
        }
    }
}

impl serde::Serialize for ConnRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `[2001:db8::1]:80` for IPv6, as ipvsadm writes it.
        let mut m = s.serialize_map(Some(7 + usize::from(self.local.is_some())))?;
        m.serialize_entry("protocol", rvs_core::service::Protocol::name_of(self.proto))?;
        m.serialize_entry("source", &self.client.to_string())?;
        m.serialize_entry("virtual", &self.virt.to_string())?;
        if let Some(l) = self.local {
            m.serialize_entry("local", &l.to_string())?;
        }
        m.serialize_entry("destination", &self.dest.to_string())?;
        m.serialize_entry("state", self.state.name())?;
        m.serialize_entry("expires_in", &self.expires.saturating_sub(self.now))?;
        m.serialize_entry("core", &self.core)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::service::Forward;

    fn table(n: u32) -> ConnTable {
        let mut t = ConnTable::new(20_000, 1, 0);
        for i in 0..n {
            let mut c =
                Conn::new(6, 0x0a00_0000 + i, 1000, 0x0a00_ffff, 80, 0x0a01_0001, 80, Forward::DirectRoute, 0, 0);
            c.expires = 100;
            t.insert(c).unwrap();
        }
        t
    }

    #[test]
    fn a_listing_arrives_whole_in_bounded_chunks_while_the_worker_keeps_its_pace() {
        let t = table(10_000);
        let mut t6 = ConnTable::<u128>::new(1024, 1, 0);
        for i in 0..300u128 {
            let c = Conn::new(
                6,
                0x2001_0db8 << 96 | i,
                1000,
                0x2001_0db8 << 96 | 0x100,
                80,
                0x2001_0db8 << 96 | 0x11,
                80,
                Forward::DirectRoute,
                0,
                0,
            );
            t6.insert(c).unwrap();
        }
        let l = ConnListing::new(1);
        let mut st = WorkerListing::default();
        let got = std::thread::scope(|s| {
            let h = s.spawn(|| l.collect());
            let mut boundaries = 0;
            while !h.is_finished() && boundaries < 100_000 {
                l.serve(0, &mut st, &t, &t6, 40);
                boundaries += 1;
                std::thread::yield_now();
            }
            h.join().unwrap()
        })
        .unwrap();
        assert_eq!(got.len(), 10_300, "both tables");
        let v6 = got.iter().find(|r| r.client.is_ipv6()).unwrap();
        assert_eq!(serde_json::to_value(v6).unwrap()["virtual"], "[2001:db8::100]:80");
        let mut ports: Vec<std::net::IpAddr> = got.iter().map(|r| r.client.ip()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 10_300, "each connection once");
        let j = serde_json::to_value(got[0]).unwrap();
        assert_eq!(j["expires_in"], 60);
        assert_eq!(j["state"], "NONE");
        assert_eq!(j["core"], 0);
    }

    #[test]
    fn a_worker_never_copies_more_than_a_chunk_per_boundary() {
        let t = table(3000);
        let l = ConnListing::new(1);
        l.req.store(1, Ordering::Release);
        let mut st = WorkerListing::default();
        l.serve(0, &mut st, &t, &ConnTable::<u128>::new(16, 1, 0), 0);
        let c = l.full[0].pop().unwrap();
        assert!(c.conns.len() <= CHUNK && !c.last);
        assert_eq!(c.conns.capacity(), CHUNK, "the lent buffer was not grown");
    }

    #[test]
    fn a_silent_worker_ends_the_listing_with_an_error() {
        let l = ConnListing::new(2);
        let e = l.collect().unwrap_err();
        assert!(e.contains("no answer"), "{e}");
    }
}
