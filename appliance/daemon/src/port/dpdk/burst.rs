//! A burst: up to [`BURST_SIZE`] owned mbufs in an array DPDK can fill or drain directly.

use super::Mbuf;

/// Packets per burst, as DPDK's examples and every fast dataplane use.
pub const BURST_SIZE: usize = 32;

/// Up to 32 mbufs. Slots `[..len]` are `Some`, the rest `None`; dropping the burst frees what
/// it still holds.
#[derive(Debug)]
pub struct Burst<'p> {
    slots: [Option<Mbuf<'p>>; BURST_SIZE],
    len: usize,
}

impl Default for Burst<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'p> Burst<'p> {
    /// An empty burst.
    pub fn new() -> Self {
        Burst { slots: [const { None }; BURST_SIZE], len: 0 }
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no more packets fit.
    pub fn is_full(&self) -> bool {
        self.len == BURST_SIZE
    }

    /// Adds a packet; gives it back when the burst is full.
    pub fn push(&mut self, m: Mbuf<'p>) -> Result<(), Mbuf<'p>> {
        if self.is_full() {
            return Err(m);
        }
        self.slots[self.len] = Some(m);
        self.len += 1;
        Ok(())
    }

    /// Takes the packets out, first to last, leaving the burst empty.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf<'p>> + '_ {
        let n = std::mem::take(&mut self.len);
        self.slots[..n].iter_mut().filter_map(Option::take)
    }

    /// The packets, to read.
    pub fn iter(&self) -> impl Iterator<Item = &Mbuf<'p>> {
        self.slots[..self.len].iter().flatten()
    }

    /// The packets, for processing in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Mbuf<'p>> {
        self.slots[..self.len].iter_mut().flatten()
    }

    /// Frees every packet held.
    pub fn clear(&mut self) {
        self.drain().for_each(drop);
    }

    /// Free slots at the end, as raw pointers for `rte_eth_rx_burst` to fill; the caller
    /// then calls [`Burst::commit`] with how many were filled.
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, u16) {
        let spare = &mut self.slots[self.len..];
        // Option<Mbuf> is a nullable pointer (repr(transparent) over NonNull), and every spare
        // slot is None, so the region is an array of null `*mut rte_mbuf`.
        (spare.as_mut_ptr().cast(), spare.len() as u16)
    }

    /// Marks `n` more slots as filled by DPDK.
    ///
    /// # Safety
    /// The `n` slots after the current ones must now hold valid mbufs owned by this burst.
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_SIZE);
        self.len += n;
    }

    /// The held packets as raw pointers, for `rte_eth_tx_burst`.
    pub(crate) fn held_raw(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, u16) {
        (self.slots.as_mut_ptr().cast(), self.len as u16)
    }

    /// Forgets the first `n` packets (DPDK took them) and moves the rest to the front.
    pub(crate) fn consumed(&mut self, n: usize) {
        let n = n.min(self.len);
        for s in &mut self.slots[..n] {
            if let Some(m) = s.take() {
                let _ = m.into_raw();
            }
        }
        self.slots[..self.len].rotate_left(n);
        self.len -= n;
    }
}
