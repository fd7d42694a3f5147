//! Destination hashing (`dh`, `ip_vs_dh.c`).
//!
//! ```text
//! rebuild: 256 buckets, filled with the servers in list order, round robin (weight is not
//!          considered, as in IPVS).
//! pick:    bucket = (dst_ip * 2654435761) mod 256; its server if weight > 0, else the next
//!          bucket (wrapping) whose server has weight > 0; none -> no server.
//! ```

use super::{Flow, Scheduler, View};

/// Buckets (IPVS's default `CONFIG_IP_VS_DH_TAB_BITS` = 8).
pub const TABLE_SIZE: usize = 256;

/// The bucket of an address, as `ip_vs_dh_hashkey`.
#[inline]
pub fn bucket(addr: u32) -> usize {
    (addr.wrapping_mul(2_654_435_761) as usize) & (TABLE_SIZE - 1)
}

/// Destination hashing table.
#[derive(Debug, Clone, Default)]
pub struct DestinationHash {
    table: Vec<u16>,
}

/// Looks up `h` in `table`, falling over to the next bucket whose server has weight > 0.
#[inline]
pub(crate) fn lookup_with_fallover(table: &[u16], view: &View<'_>, h: usize) -> Option<usize> {
    let n = table.len();
    (0..n).map(|k| usize::from(table[(h + k) % n])).find(|&i| i < view.dests.len() && view.weight(i) > 0)
}

impl Scheduler for DestinationHash {
    fn name(&self) -> &'static str {
        "dh"
    }

    fn rebuild(&mut self, view: &View<'_>) {
        let n = view.dests.len();
        self.table = if n == 0 { Vec::new() } else { (0..TABLE_SIZE).map(|b| (b % n) as u16).collect() };
    }

    fn pick(&mut self, view: &View<'_>, flow: &Flow, _now: u32) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        lookup_with_fallover(&self.table, view, bucket(flow.dst_fold()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    #[test]
    fn same_destination_same_server_and_even_spread() {
        let (d, mut w, l) = setup(&[1, 1, 1, 1]);
        let mut s = DestinationHash::default();
        s.rebuild(&View { dests: &d, weights: &w, loads: &l });
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut counts = [0usize; 4];
        let mut first = Vec::new();
        for k in 0..4096u32 {
            let f = Flow { dst: u128::from(0x0A00_0000 + k), ..flow(k) };
            let i = s.pick(&v, &f, 0).unwrap();
            assert_eq!(s.pick(&v, &Flow { src: 0x0102_0304, ..f }, 0), Some(i), "source does not matter");
            counts[i] += 1;
            first.push(i);
        }
        assert!(counts.iter().all(|&c| c == 1024), "{counts:?}");
        // Quiesce server 2: its destinations fall over to the next bucket's server, others stay.
        w[2] = 0;
        let v = View { dests: &d, weights: &w, loads: &l };
        for k in 0..4096u32 {
            let f = Flow { dst: u128::from(0x0A00_0000 + k), ..flow(k) };
            let i = s.pick(&v, &f, 0).unwrap();
            assert_ne!(i, 2);
            if first[k as usize] != 2 {
                assert_eq!(i, first[k as usize]);
            } else {
                assert_eq!(i, 3, "bucket b+1 holds the next server in the fill");
            }
        }
    }
}
