//! Zero-copy packet views and typed representations, in smoltcp's style.
//!
//! Each header has a view `XxxPacket<T: AsRef<[u8]>>` over a buffer: a private `field` module of
//! byte ranges, getters on `AsRef<[u8]>`, setters on `AsMut<[u8]>`, and one `check_len()` after
//! which no getter panics. A `XxxRepr` parses a checked view into plain values and emits them
//! back, for building packets and for tests. The hot path rewrites through the `*_patched`
//! setters, which patch the IPv4 header and TCP/UDP checksums incrementally (RFC 1624 eqn. 3);
//! the plain setters leave checksums alone (for building, and for quoted headers).

pub mod arp;
pub mod build;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipvs_sync;
pub mod proxy_protocol;
pub mod sctp;
pub mod sip;
pub mod tcp;
pub mod tcp_options;
pub mod udp;

pub use ethernet::{EtherType, Mac};

/// Why a header did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than the header (or than the length the header claims).
    Truncated,
    /// IPv4 IHL below 5 (RFC 791 §3.1: at least 20 bytes).
    BadHeaderLen,
    /// IPv4 total length below the header length.
    BadTotalLen,
    /// IP version is not 4.
    BadVersion,
    /// A field holds a value this parser does not accept (e.g. an ARP for another protocol).
    Unsupported,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated",
            WireError::BadHeaderLen => "bad header length",
            WireError::BadTotalLen => "bad total length",
            WireError::BadVersion => "bad IP version",
            WireError::Unsupported => "unsupported",
        })
    }
}

/// Reads a big-endian u16 at `at` (caller checked the length).
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(get::<2>(b, at))
}

/// Reads a big-endian u32 at `at` (caller checked the length).
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(get4(b, at))
}

/// Writes a big-endian u16 at `at`.
#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Reads 4 bytes at `at`.
#[inline(always)]
pub(crate) fn get4(b: &[u8], at: usize) -> [u8; 4] {
    get::<4>(b, at)
}

/// Reads `N` bytes at `at` as one array: one bounds check and one load, where indexing byte
/// by byte costs a check per byte (and, seen in callgrind, kept `get4` out of line).
#[inline(always)]
fn get<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let bytes: &[u8; N] = b[at..at + N].try_into().expect("a slice of N bytes");
    *bytes
}
