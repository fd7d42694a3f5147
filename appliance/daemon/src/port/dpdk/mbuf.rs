//! An owned packet buffer. The one place an mbuf becomes `&mut [u8]` is its [`Frame`] impl.

use rvs_core::frame::Frame;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// One mbuf, owned: freed back to its pool on drop. `repr(transparent)` over a non-null
/// pointer, so `Option<Mbuf>` has the layout of `*mut rte_mbuf` (null = `None`) and a burst
/// array can be handed to `rte_eth_rx_burst` as is.
#[repr(transparent)]
pub struct Mbuf<'p> {
    ptr: NonNull<dpdk_sys::rte_mbuf>,
    _pool: PhantomData<&'p ()>,
}

// SAFETY: an Mbuf is the only handle to its buffer; moving it to another lcore (e.g. through a
// ring to the core owning a connection) and freeing it there is what DPDK pools are built for.
unsafe impl Send for Mbuf<'_> {}

impl std::fmt::Debug for Mbuf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf").field("ptr", &self.ptr).field("len", &self.len()).finish()
    }
}

impl Mbuf<'_> {
    /// Wraps a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must point to a valid mbuf that nobody else owns or frees, from a pool that
    /// outlives `'p`.
    pub(crate) unsafe fn from_raw(ptr: NonNull<dpdk_sys::rte_mbuf>) -> Self {
        Mbuf { ptr, _pool: PhantomData }
    }

    /// Gives up ownership without freeing (the caller hands the pointer to DPDK).
    pub(crate) fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Number of segments; the dataplane works on single-segment packets.
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: self.ptr is a valid mbuf we own; nb_segs is a plain field.
        unsafe { (*self.ptr.as_ptr()).nb_segs }
    }

    /// Makes a multi-segment packet contiguous; `false` if there is not enough tailroom.
    pub fn linearize(&mut self) -> bool {
        // SAFETY: self.ptr is a valid mbuf we own exclusively (&mut self).
        unsafe { dpdk_sys::rvs_pktmbuf_linearize(self.ptr.as_ptr()) == 0 }
    }

    /// Grows the packet at the end by `len` bytes; the new bytes are returned for writing.
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let l = u16::try_from(len).ok()?;
        // SAFETY: self.ptr is a valid mbuf owned exclusively; append returns null without
        // change when the tailroom is short, else a pointer to `len` bytes inside the buffer.
        let p = unsafe { dpdk_sys::rvs_pktmbuf_append(self.ptr.as_ptr(), l) };
        let p = NonNull::new(p)?;
        // SAFETY: p..p+len lies inside this mbuf's data room, borrowed mutably through self.
        Some(unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) })
    }
}

/// `RTE_MBUF_F_RX_IP_CKSUM_MASK` and its `GOOD` value (bits bindgen cannot evaluate).
const RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
const RX_IP_CKSUM_GOOD: u64 = 1 << 7;

impl Frame for Mbuf<'_> {
    #[inline]
    fn ipv4_checksum_good(&self) -> bool {
        // SAFETY: m is a valid mbuf we own; ol_flags is a plain field the PMD set on receive.
        let flags = unsafe { (*self.ptr.as_ptr()).ol_flags };
        flags & RX_IP_CKSUM_MASK == RX_IP_CKSUM_GOOD
    }

    #[inline]
    fn data(&self) -> &[u8] {
        let m = self.ptr.as_ptr();
        // SAFETY: m is a valid mbuf we own; buf_addr + data_off .. + data_len is the first
        // segment's data (what rte_pktmbuf_mtod and data_len give), initialised and inside the
        // buffer; the slice borrows self, so the mbuf stays alive and cannot change while it
        // exists. The fields are read here rather than through the C shim: one call fewer per
        // access on the hot path.
        unsafe {
            let p = (*m).buf_addr.cast::<u8>().add(usize::from((*m).data_off));
            std::slice::from_raw_parts(p, usize::from((*m).data_len))
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.ptr.as_ptr();
        // SAFETY: as in data(); &mut self makes this the only reference to the bytes.
        unsafe {
            let p = (*m).buf_addr.cast::<u8>().add(usize::from((*m).data_off));
            std::slice::from_raw_parts_mut(p, usize::from((*m).data_len))
        }
    }

    #[inline]
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        let l = u16::try_from(len).ok()?;
        // SAFETY: valid owned mbuf; prepend returns null (and changes nothing) when the
        // headroom is short.
        let p = unsafe { dpdk_sys::rvs_pktmbuf_prepend(self.ptr.as_ptr(), l) };
        NonNull::new(p)?;
        Some(self.data_mut())
    }

    #[inline]
    fn adj(&mut self, len: usize) -> bool {
        let Ok(l) = u16::try_from(len) else {
            return false;
        };
        if len > self.len() {
            return false;
        }
        // SAFETY: valid owned mbuf, len checked against the first segment's length.
        !unsafe { dpdk_sys::rvs_pktmbuf_adj(self.ptr.as_ptr(), l) }.is_null()
    }

    #[inline]
    fn trim(&mut self, len: usize) -> bool {
        let Ok(l) = u16::try_from(len) else {
            return false;
        };
        if len > self.len() {
            return false;
        }
        // SAFETY: valid owned mbuf, len checked against the data length.
        unsafe { dpdk_sys::rvs_pktmbuf_trim(self.ptr.as_ptr(), l) == 0 }
    }

    #[inline]
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        Mbuf::append(self, len)
    }

    #[inline]
    fn headroom(&self) -> usize {
        // SAFETY: valid mbuf.
        usize::from(unsafe { dpdk_sys::rvs_pktmbuf_headroom(self.ptr.as_ptr()) })
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and never use the pointer again.
        unsafe { dpdk_sys::rvs_pktmbuf_free(self.ptr.as_ptr()) };
    }
}
