//! Maglev hashing (`mh`, `ip_vs_mh.c`; Eisenbud et al., "Maglev", NSDI 2016, §3.4).
//!
//! ```text
//! rebuild: M = prime table size (default 65537). For each server: offset = h1(addr, port) mod M,
//!          skip = h2(addr, port) mod (M - 1) + 1, its preference list is
//!          offset, offset + skip, offset + 2 skip, ... (mod M).
//!          turns = weight / gcd(weights) (shifted right so the largest stays within
//!          2^(log2(M)/2)); a quiesced server keeps its last non-zero weight here, so quiescing
//!          moves nobody else. Servers take turns in the order of their (address, port), not of
//!          the list (IPVS uses list order): every director builds the same table for the same
//!          servers and weights however they were added, so that ECMP nodes agree (Maglev §3.4).
//!          In its turn a server claims `turns` slots, each the next free one on its preference
//!          list, until the table is full.
//! pick:    slot = h(src_ip [, src_port]) mod M; its server if weight > 0, else the next slot
//!          (wrapping) whose server has weight > 0.
//! ```
//! The hashes are seeded with a fixed constant so that every core and every director builds the
//! same table: a client maps to the same server wherever its packets land.

use super::{Flow, Scheduler, View, HASH_SEED};
use crate::service::MAX_DESTS;

/// IPVS's default table size (`CONFIG_IP_VS_MH_TAB_INDEX` = 12).
pub const DEFAULT_TABLE_SIZE: u32 = 65537;

const EMPTY: u16 = u16::MAX;

#[inline]
fn hash(x: u64, seed: u64) -> u64 {
    // SplitMix64 finaliser over the seeded input.
    let mut z = x ^ seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maglev lookup table.
#[derive(Debug, Clone)]
pub struct Maglev {
    size: u32,
    table: Vec<u16>,
    /// Last non-zero weight per real-server id (IPVS's `last_weight`).
    last_weight: Vec<u32>,
    /// Hash the source port too (`ipvsadm -b mh-port`).
    pub with_port: bool,
    scratch_next: Vec<u64>,
}

impl Maglev {
    /// A table of `size` slots; `size` should be prime (65537, 131071, ...).
    pub fn new(size: u32) -> Self {
        Maglev {
            size: size.max(3),
            table: Vec::new(),
            last_weight: vec![0; MAX_DESTS],
            with_port: false,
            scratch_next: Vec::new(),
        }
    }

    /// The server index in each slot (for tests and diagnostics).
    pub fn table(&self) -> &[u16] {
        &self.table
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Scheduler for Maglev {
    fn name(&self) -> &'static str {
        "mh"
    }

    fn set_flags(&mut self, flags: u32) {
        self.with_port = flags & super::flags::FLAG_2 != 0;
    }

    fn rebuild(&mut self, view: &View<'_>) {
        let m = u64::from(self.size);
        let n = view.dests.len();
        for i in 0..n {
            let w = view.weight(i);
            if w > 0 {
                self.last_weight[usize::from(view.dests[i].id)] = w;
            }
        }
        let lw: Vec<u32> = (0..n).map(|i| self.last_weight[usize::from(view.dests[i].id)]).collect();
        let g = lw.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        self.table.clear();
        self.table.resize(self.size as usize, EMPTY);
        if g == 0 {
            return;
        }
        let tab_bits = (31 - self.size.leading_zeros()) / 2;
        let mw = lw.iter().copied().max().unwrap_or(0) / g;
        let shift = (32 - mw.leading_zeros()).saturating_sub(tab_bits);
        let turns: Vec<u32> = lw.iter().map(|&w| if w == 0 { 0 } else { ((w / g) >> shift).max(1) }).collect();
        let perm: Vec<(u64, u64)> = view
            .dests
            .iter()
            .map(|d| {
                let key = u64::from(crate::family::fold32(d.addr)) << 16 | u64::from(d.port);
                (hash(key, HASH_SEED) % m, hash(key, !HASH_SEED) % (m - 1) + 1)
            })
            .collect();
        self.scratch_next.clear();
        self.scratch_next.resize(n, 0);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (view.dests[i].addr, view.dests[i].port));
        let mut filled = 0u64;
        'fill: loop {
            for &i in &order {
                for _ in 0..turns[i] {
                    let (offset, skip) = perm[i];
                    loop {
                        let c = ((offset + self.scratch_next[i] * skip) % m) as usize;
                        self.scratch_next[i] += 1;
                        if self.table[c] == EMPTY {
                            self.table[c] = i as u16;
                            break;
                        }
                    }
                    filled += 1;
                    if filled == m {
                        break 'fill;
                    }
                }
            }
        }
    }

    fn pick(&mut self, view: &View<'_>, flow: &Flow, _now: u32) -> Option<usize> {
        if self.table.first().is_none_or(|&e| e == EMPTY) {
            return None;
        }
        let port = if self.with_port { u64::from(flow.sport) } else { 0 };
        let h = (hash(u64::from(flow.src_fold()) << 16 | port, HASH_SEED ^ 0x5A5A) % u64::from(self.size)) as usize;
        let n = self.table.len();
        (0..n).map(|k| usize::from(self.table[(h + k) % n])).find(|&i| i < view.dests.len() && view.weight(i) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    #[test]
    fn table_is_full_and_shares_follow_weights() {
        let (d, w, l) = setup(&[1, 2, 1]);
        let mut s = Maglev::new(65537);
        s.rebuild(&View { dests: &d, weights: &w, loads: &l });
        let mut c = [0usize; 3];
        for &e in s.table() {
            c[usize::from(e)] += 1;
        }
        assert_eq!(c.iter().sum::<usize>(), 65537);
        assert!((c[1] as f64 / 65537.0 - 0.5).abs() < 0.01, "{c:?}");
        assert!((c[0] as f64 / 65537.0 - 0.25).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn the_table_depends_on_the_servers_not_on_the_order_they_were_added() {
        let (d, w, l) = setup(&[1, 2, 1, 3, 1]);
        let mut a = Maglev::new(65537);
        let va = View { dests: &d, weights: &w, loads: &l };
        a.rebuild(&va);
        // The same servers and weights, listed in other orders and under other ids.
        for rotate in 1..5 {
            let mut p = d.clone();
            p.reverse();
            p.rotate_left(rotate);
            let mut pw = vec![0; MAX_DESTS];
            for (k, x) in p.iter_mut().enumerate() {
                pw[100 + k] = w[usize::from(x.id)];
                x.id = 100 + k as u16;
            }
            let mut b = Maglev::new(65537);
            let vb = View { dests: &p, weights: &pw, loads: &l };
            b.rebuild(&vb);
            for k in 0..5000u32 {
                let f = flow(k.wrapping_mul(2_654_435_761));
                let (x, y) = (a.pick(&va, &f, 0).unwrap(), b.pick(&vb, &f, 0).unwrap());
                assert_eq!(d[x].addr, p[y].addr, "client {k}, order {rotate}");
            }
        }
    }

    #[test]
    fn quiescing_keeps_the_table_and_falls_over() {
        let (d, mut w, l) = setup(&[1, 1, 1]);
        let mut s = Maglev::new(65537);
        s.rebuild(&View { dests: &d, weights: &w, loads: &l });
        let before = s.table().to_vec();
        w[1] = 0;
        let v = View { dests: &d, weights: &w, loads: &l };
        s.rebuild(&v);
        assert_eq!(s.table(), &before[..], "last_weight keeps the quiesced server's slots");
        for k in 0..2000u32 {
            assert_ne!(s.pick(&v, &flow(k.wrapping_mul(2_654_435_761)), 0), Some(1));
        }
    }
}
