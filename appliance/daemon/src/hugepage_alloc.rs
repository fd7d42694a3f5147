//! Huge pages for the dataplane's large tables.
//!
//! DPDK dataplanes keep their flow tables in huge pages: a table of millions of connections
//! spread over 4 KiB pages costs a TLB miss (and a page walk that itself misses the cache) on
//! nearly every lookup. rvs's tables are ordinary Rust allocations made once at start-up, so
//! rvs's binaries use this allocator: every allocation of [`HUGE_MIN`] bytes or more is aligned
//! to 2 MiB and advised `MADV_HUGEPAGE` before it is first touched, and the kernel backs it
//! with transparent huge pages (Linux's default THP mode, `madvise`, honours exactly this).
//! Smaller allocations go to the system allocator unchanged.
//!
//! Inside the unsafe fence (with `dpdk-sys` and `port::dpdk`): a global allocator is `unsafe`
//! by its trait, and `madvise` is a system call on raw memory.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at least this large get huge pages.
pub const HUGE_MIN: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator, with transparent huge pages for large allocations.
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePageAlloc;

fn huge(layout: Layout) -> Option<Layout> {
    (layout.size() >= HUGE_MIN).then(|| Layout::from_size_align(layout.size(), layout.align().max(HUGE_PAGE)).ok())?
}

fn advise(p: *mut u8, size: usize) {
    if !p.is_null() {
        // SAFETY: p..p+size is an allocation we just made, 2 MiB-aligned (so page-aligned);
        // MADV_HUGEPAGE only changes how the kernel backs it. A failure (no THP) is harmless.
        unsafe { libc::madvise(p.cast(), size, libc::MADV_HUGEPAGE) };
    }
}

// SAFETY: every block is System's, with a layout that differs only in a larger alignment,
// and dealloc/realloc use the same rule as alloc, so each block goes back with its layout.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match huge(layout) {
            Some(h) => {
                // SAFETY: h has a non-zero size (>= HUGE_MIN) and a valid alignment.
                let p = unsafe { System.alloc(h) };
                advise(p, h.size());
                p
            }
            // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match huge(layout) {
            Some(h) => {
                // SAFETY: as in alloc; the advice comes before the zeroing, the block's first
                // touch, so the zeroed pages are huge ones.
                unsafe {
                    let p = self.alloc(layout);
                    if !p.is_null() {
                        std::ptr::write_bytes(p, 0, h.size());
                    }
                    p
                }
            }
            // SAFETY: the caller's layout.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by this allocator with `layout`, hence by System with
        // huge(layout) or layout, whichever alloc chose by the same rule.
        unsafe { System.dealloc(ptr, huge(layout).unwrap_or(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
        if huge(layout).is_none() && huge(new).is_none() {
            // SAFETY: small before and after: System's block with the caller's layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a fresh block by this allocator's rule; the old one holds
        // min(old, new) initialised bytes and is freed with the layout it was made with.
        unsafe {
            let p = self.alloc(new);
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_2mib_aligned_and_round_trip() {
        let a = HugePageAlloc;
        for size in [64usize, HUGE_MIN - 1, HUGE_MIN, 3 * HUGE_MIN + 5] {
            let l = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: non-zero layout; the block is written within bounds, grown, checked and
            // freed with the layout it has.
            unsafe {
                let p = a.alloc_zeroed(l);
                assert!(!p.is_null());
                assert_eq!(*p.add(size - 1), 0);
                if size >= HUGE_MIN {
                    assert_eq!(p as usize % HUGE_PAGE, 0, "{size}");
                }
                *p = 7;
                let q = a.realloc(p, l, size * 2);
                assert_eq!(*q, 7);
                a.dealloc(q, Layout::from_size_align(size * 2, 8).unwrap());
            }
        }
    }
}
