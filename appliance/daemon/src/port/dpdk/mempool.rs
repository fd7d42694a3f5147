//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use super::{DpdkError, Eal, Mbuf};
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A pool of packet buffers. Dropping it frees the pool; the borrow checker makes sure no
/// [`Mbuf`] or [`super::Port`] of it is still alive then.
#[derive(Debug)]
pub struct Mempool<'e> {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: rte_mempool is designed for concurrent use from many lcores (lock-free ring plus
// per-lcore caches); the handle itself is only a pointer.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above: alloc/free on a shared pool are thread-safe in DPDK.
unsafe impl Sync for Mempool<'_> {}

impl<'e> Mempool<'e> {
    /// Creates a pool named `name` of `count` mbufs, each with `data_room` bytes (including
    /// DPDK's 128-byte headroom), with a per-lcore cache of `cache` mbufs.
    pub fn new(_eal: &'e Eal, name: &str, count: u32, cache: u32, data_room: u16) -> Result<Self, DpdkError> {
        let op = format!("rte_pktmbuf_pool_create({name})");
        let cname = CString::new(name).map_err(|_| DpdkError::invalid(&op, "name contains NUL"))?;
        // SAFETY: EAL is initialised (we hold &Eal); cname is a valid C string for the call.
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, data_room, dpdk_sys::SOCKET_ID_ANY)
        };
        NonNull::new(ptr).map(|ptr| Mempool { ptr, _eal: PhantomData }).ok_or_else(|| DpdkError::from_errno(op))
    }

    /// Takes one mbuf (reset, empty, with default headroom), or `None` if the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf<'_>> {
        // SAFETY: self.ptr is a live pktmbuf pool; the returned mbuf (if any) is exclusively ours.
        let m = unsafe { dpdk_sys::rvs_pktmbuf_alloc(self.ptr.as_ptr()) };
        NonNull::new(m).map(|m| {
            // SAFETY: m was just allocated from this pool and is owned by nobody else.
            unsafe { Mbuf::from_raw(m) }
        })
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: self.ptr is a live mempool; the count is a racy but safe read.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs currently taken from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as for available.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: no Mbuf or Port borrowing this pool is alive (lifetimes), so no buffer of it
        // is in use; the pointer is not used again.
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
