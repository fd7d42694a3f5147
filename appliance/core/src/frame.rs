//! A packet buffer as the dataplane sees it: contiguous bytes with headroom in front.
//!
//! DPDK's mbuf keeps headroom (128 bytes by default) before the packet so that a header can be
//! prepended without moving the payload; tunnel encapsulation (RFC 2003) relies on that. The
//! daemon's `Mbuf` and the tests' [`VecFrame`] both implement [`Frame`].

/// A contiguous packet buffer with room to grow at the front.
pub trait Frame {
    /// The packet bytes, starting at the Ethernet header.
    fn data(&self) -> &[u8];
    /// The packet bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the packet at the front by `len` bytes (uninitialised contents) and returns the
    /// whole packet, or `None` when the headroom is too small (the frame is unchanged then).
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Removes `len` bytes from the front; `false` (and no change) if the packet is shorter.
    fn adj(&mut self, len: usize) -> bool;
    /// Removes `len` bytes from the end; `false` (and no change) if the packet is shorter.
    fn trim(&mut self, len: usize) -> bool;
    /// Bytes that can still be prepended.
    fn headroom(&self) -> usize;
    /// Grows the packet at the end by `len` bytes (contents unspecified) and returns them, or
    /// `None` when the buffer has no room (the frame is unchanged then).
    fn append(&mut self, len: usize) -> Option<&mut [u8]>;

    /// True when the NIC verified this frame's IPv4 header checksum and found it good (DPDK's
    /// `RTE_MBUF_F_RX_IP_CKSUM_GOOD`, with `RTE_ETH_RX_OFFLOAD_IPV4_CKSUM` on): the parse then
    /// skips its own check. False (checked in software) when unknown, bad or not asked for.
    #[inline]
    fn ipv4_checksum_good(&self) -> bool {
        false
    }

    /// Packet length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// True for a zero-length packet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Shortens the packet to `len` bytes; `false` if it is already shorter.
    fn truncate(&mut self, len: usize) -> bool {
        let cur = self.len();
        len <= cur && self.trim(cur - len)
    }
}

/// Headroom DPDK leaves in front of each mbuf (`RTE_PKTMBUF_HEADROOM`).
pub const DEFAULT_HEADROOM: usize = 128;

/// A heap-backed [`Frame`] for tests, fuzzing and benches: a buffer with `start` as the first
/// packet byte, so prepending never moves the payload.
#[derive(Clone, PartialEq, Eq)]
pub struct VecFrame {
    buf: Vec<u8>,
    start: usize,
    /// What [`Frame::ipv4_checksum_good`] answers (a NIC's verdict, for tests).
    pub ipv4_checksum_good: bool,
}

impl VecFrame {
    /// A frame holding `bytes` with [`DEFAULT_HEADROOM`] in front.
    pub fn new(bytes: &[u8]) -> Self {
        Self::with_headroom(bytes, DEFAULT_HEADROOM)
    }

    /// A frame holding `bytes` with `headroom` bytes in front.
    pub fn with_headroom(bytes: &[u8], headroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + bytes.len()];
        buf[headroom..].copy_from_slice(bytes);
        VecFrame { buf, start: headroom, ipv4_checksum_good: false }
    }

    /// Replaces the contents, keeping the buffer's capacity (for allocation-free reuse).
    pub fn reset(&mut self, bytes: &[u8], headroom: usize) {
        self.buf.clear();
        self.buf.resize(headroom, 0);
        self.buf.extend_from_slice(bytes);
        self.start = headroom;
        self.ipv4_checksum_good = false;
    }
}

impl core::fmt::Debug for VecFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "VecFrame(headroom {}, {} bytes:", self.start, self.len())?;
        for b in self.data() {
            write!(f, " {b:02x}")?;
        }
        write!(f, ")")
    }
}

impl Frame for VecFrame {
    fn ipv4_checksum_good(&self) -> bool {
        self.ipv4_checksum_good
    }
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        if len > self.start {
            return None;
        }
        self.start -= len;
        Some(&mut self.buf[self.start..])
    }
    fn adj(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        self.start += len;
        true
    }
    fn trim(&mut self, len: usize) -> bool {
        if len > self.len() {
            return false;
        }
        let new_len = self.buf.len() - len;
        self.buf.truncate(new_len);
        true
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let at = self.buf.len();
        self.buf.resize(at + len, 0);
        Some(&mut self.buf[at..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_keeps_payload_and_respects_headroom() {
        let mut f = VecFrame::with_headroom(&[1, 2, 3], 4);
        assert!(f.prepend(5).is_none(), "more than the headroom");
        assert_eq!(f.data(), &[1, 2, 3]);
        let d = f.prepend(2).unwrap();
        d[0] = 9;
        d[1] = 8;
        assert_eq!(f.data(), &[9, 8, 1, 2, 3]);
        assert_eq!(f.headroom(), 2);
    }

    #[test]
    fn adj_trim_and_truncate() {
        let mut f = VecFrame::new(&[1, 2, 3, 4, 5]);
        assert!(f.adj(1));
        assert!(f.trim(1));
        assert_eq!(f.data(), &[2, 3, 4]);
        assert!(!f.adj(4));
        assert!(!f.trim(4));
        assert!(f.truncate(2));
        assert_eq!(f.data(), &[2, 3]);
        assert!(!f.truncate(3));
        assert_eq!(f.headroom(), DEFAULT_HEADROOM + 1);
    }
}
