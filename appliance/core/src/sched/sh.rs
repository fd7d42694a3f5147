//! Source hashing (`sh`, `ip_vs_sh.c`).
//!
//! ```text
//! rebuild: 256 buckets; walking the servers in list order, each takes `weight` consecutive
//!          buckets (at least one) before the next server's turn, cycling until full.
//! pick:    bucket = hash_32(src_ip [+ src_port with the port flag], 8); its server if
//!          weight > 0, else the next bucket (wrapping) whose server has weight > 0.
//! ```
//! `hash_32(v, 8) = (v * 0x61C88647) >> 24`, the kernel's golden-ratio hash.

use super::dh::lookup_with_fallover;
use super::{Flow, Scheduler, View};

/// Buckets (IPVS's default `CONFIG_IP_VS_SH_TAB_BITS` = 8).
pub const TABLE_SIZE: usize = 256;

/// The bucket of a source, as `ip_vs_sh_hashkey` with offset 0.
#[inline]
pub fn bucket(addr: u32, port: u16) -> usize {
    (addr.wrapping_add(u32::from(port)).wrapping_mul(0x61C8_8647) >> 24) as usize
}

/// Source hashing table.
#[derive(Debug, Clone, Default)]
pub struct SourceHash {
    table: Vec<u16>,
    /// Hash the source port too (`ipvsadm -b sh-port`).
    pub with_port: bool,
}

impl Scheduler for SourceHash {
    fn name(&self) -> &'static str {
        "sh"
    }

    fn set_flags(&mut self, flags: u32) {
        self.with_port = flags & super::flags::FLAG_2 != 0;
    }

    fn rebuild(&mut self, view: &View<'_>) {
        let n = view.dests.len();
        self.table.clear();
        if n == 0 {
            return;
        }
        let (mut i, mut count) = (0usize, 0u32);
        for _ in 0..TABLE_SIZE {
            self.table.push(i as u16);
            count += 1;
            if count >= view.weight(i).max(1) {
                i = (i + 1) % n;
                count = 0;
            }
        }
    }

    fn pick(&mut self, view: &View<'_>, flow: &Flow, _now: u32) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let port = if self.with_port { flow.sport } else { 0 };
        lookup_with_fallover(&self.table, view, bucket(flow.src_fold(), port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testutil::*;

    #[test]
    fn stable_per_source_and_spread_by_weight() {
        let (d, w, l) = setup(&[3, 1]);
        let v = View { dests: &d, weights: &w, loads: &l };
        let mut s = SourceHash::default();
        s.rebuild(&v);
        assert_eq!(s.table.iter().filter(|&&i| i == 0).count(), 192, "3 of every 4 buckets");
        let mut counts = [0usize; 2];
        for k in 0..20_000u32 {
            let src = 0xCB00_7100u32.wrapping_add(k.wrapping_mul(2_246_822_519));
            let a = s.pick(&v, &flow(src), 0).unwrap();
            let other_port = crate::sched::Flow { sport: 4242, ..flow(src) };
            assert_eq!(s.pick(&v, &other_port, 0), Some(a), "without sh-port the port does not matter");
            counts[a] += 1;
        }
        let share = counts[0] as f64 / 20_000.0;
        assert!((0.70..0.80).contains(&share), "share of the weight-3 server: {share}");
    }

    #[test]
    fn quiesced_server_falls_over_to_the_next_bucket() {
        let (d, mut w, l) = setup(&[1, 1, 1]);
        let mut s = SourceHash::default();
        s.rebuild(&View { dests: &d, weights: &w, loads: &l });
        w[1] = 0;
        let v = View { dests: &d, weights: &w, loads: &l };
        for k in 0..1000u32 {
            let i = s.pick(&v, &flow(k * 7919), 0).unwrap();
            assert_ne!(i, 1);
        }
        w[0] = 0;
        w[2] = 0;
        assert_eq!(s.pick(&View { dests: &d, weights: &w, loads: &l }, &flow(5), 0), None);
    }
}
