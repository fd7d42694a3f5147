//! SCTP's common header and first chunk (RFC 9260 §3): enough to balance an association as
//! IPVS's `ip_vs_proto_sctp.c` does — the ports, the event the packet's chunks stand for, and
//! the CRC32c checksum (appendix A), which covers the whole packet and no pseudo-header, so a
//! rewritten port means a checksum computed afresh (SCTP has no incremental update).

use crate::wire::{be16, put16};

/// The common header: source port, destination port, verification tag, checksum.
pub const HEADER_LEN: usize = 12;
/// A chunk's header: type, flags, length.
pub const CHUNK_HEADER_LEN: usize = 4;
const CHECKSUM: core::ops::Range<usize> = 8..12;

/// Chunk types (RFC 9260 §3.2) rvs tells apart.
pub mod chunk {
    /// DATA.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// SACK.
    pub const SACK: u8 = 3;
    /// HEARTBEAT.
    pub const HEARTBEAT: u8 = 4;
    /// HEARTBEAT ACK.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// ABORT.
    pub const ABORT: u8 = 6;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 7;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// ERROR.
    pub const ERROR: u8 = 9;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 10;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 11;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
}

/// The events of IPVS's SCTP state table (`ipvs_sctp_event_t`), in its order.
pub mod event {
    /// DATA, SACK, HEARTBEAT(-ACK), ECN and any other chunk.
    pub const DATA: u8 = 0;
    /// INIT.
    pub const INIT: u8 = 1;
    /// INIT ACK.
    pub const INIT_ACK: u8 = 2;
    /// COOKIE ECHO.
    pub const COOKIE_ECHO: u8 = 3;
    /// COOKIE ACK.
    pub const COOKIE_ACK: u8 = 4;
    /// SHUTDOWN.
    pub const SHUTDOWN: u8 = 5;
    /// SHUTDOWN ACK.
    pub const SHUTDOWN_ACK: u8 = 6;
    /// SHUTDOWN COMPLETE.
    pub const SHUTDOWN_COMPLETE: u8 = 7;
    /// ERROR.
    pub const ERROR: u8 = 8;
    /// ABORT.
    pub const ABORT: u8 = 9;
    /// How many.
    pub const COUNT: usize = 10;
}

/// The event of a chunk type, as IPVS's `sctp_events` maps it.
fn event_of(chunk_type: u8) -> u8 {
    match chunk_type {
        chunk::INIT => event::INIT,
        chunk::INIT_ACK => event::INIT_ACK,
        chunk::ABORT => event::ABORT,
        chunk::SHUTDOWN => event::SHUTDOWN,
        chunk::SHUTDOWN_ACK => event::SHUTDOWN_ACK,
        chunk::ERROR => event::ERROR,
        chunk::COOKIE_ECHO => event::COOKIE_ECHO,
        chunk::COOKIE_ACK => event::COOKIE_ACK,
        chunk::SHUTDOWN_COMPLETE => event::SHUTDOWN_COMPLETE,
        _ => event::DATA,
    }
}

/// The event an SCTP packet `seg` (common header onwards, at least [`HEADER_LEN`] +
/// [`CHUNK_HEADER_LEN`] bytes) stands for: its first chunk's, except that a COOKIE ECHO or
/// COOKIE ACK bundled before an ABORT is the ABORT (IPVS's `set_sctp_state`, after RFC 9260
/// §3.3.7: control chunks may precede an ABORT in one packet).
pub fn event(seg: &[u8]) -> u8 {
    let first = seg[HEADER_LEN];
    if first == chunk::COOKIE_ECHO || first == chunk::COOKIE_ACK {
        let len = usize::from(be16(seg, HEADER_LEN + 2));
        if len >= CHUNK_HEADER_LEN {
            let next = HEADER_LEN + ((len + 3) & !3);
            if seg.get(next) == Some(&chunk::ABORT) {
                return event::ABORT;
            }
        }
    }
    event_of(first)
}

/// The CRC32c of `seg` (a whole SCTP packet) with its checksum field read as zero.
pub fn compute_checksum(seg: &[u8]) -> u32 {
    let c = crc32c::crc32c(&seg[..CHECKSUM.start]);
    let c = crc32c::crc32c_append(c, &[0; 4]);
    crc32c::crc32c_append(c, &seg[CHECKSUM.end..])
}

/// The checksum the packet carries. CRC32c goes on the wire least significant byte first
/// (RFC 9260 appendix A), so it is read little-endian.
pub fn checksum(seg: &[u8]) -> u32 {
    u32::from_le_bytes([seg[8], seg[9], seg[10], seg[11]])
}

/// True when the packet's checksum is right.
pub fn checksum_ok(seg: &[u8]) -> bool {
    checksum(seg) == compute_checksum(seg)
}

/// Writes the checksum of `seg` into it.
pub fn fill_checksum(seg: &mut [u8]) {
    let c = compute_checksum(seg);
    seg[CHECKSUM].copy_from_slice(&c.to_le_bytes());
}

/// Sets a port (`at`: 0 source, 2 destination) and the checksum afresh; a packet whose
/// checksum was wrong keeps it wrong by the same difference, so the receiver still drops it
/// (the rewrite never launders a corrupted packet, which IPVS's recomputation would).
pub fn set_port_patched(seg: &mut [u8], at: usize, port: u16) {
    let error = checksum(seg) ^ compute_checksum(seg);
    put16(seg, at, port);
    let c = compute_checksum(seg) ^ error;
    seg[CHECKSUM].copy_from_slice(&c.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An INIT from RFC 9260's layout: ports 5000 -> 3868, tag 0, one INIT chunk.
    fn init() -> Vec<u8> {
        let mut p = vec![0x13, 0x88, 0x0f, 0x1c, 0, 0, 0, 0, 0, 0, 0, 0];
        p.extend([chunk::INIT, 0, 0, 20, 0, 0, 0, 1, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 7]);
        fill_checksum(&mut p);
        p
    }

    #[test]
    fn crc32c_is_the_standards_check_value() {
        // RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        let p = init();
        assert!(checksum_ok(&p));
        let mut bad = p.clone();
        bad[20] ^= 1;
        assert!(!checksum_ok(&bad));
    }

    #[test]
    fn a_rewritten_port_gets_a_fresh_checksum_and_a_bad_one_stays_bad() {
        let mut p = init();
        set_port_patched(&mut p, 2, 8080);
        assert_eq!(be16(&p, 2), 8080);
        assert!(checksum_ok(&p));
        let mut bad = init();
        bad[25] ^= 0x40; // corrupted in flight
        set_port_patched(&mut bad, 2, 8080);
        assert!(!checksum_ok(&bad), "still detectably corrupt");
    }

    #[test]
    fn events_follow_ipvs_including_an_abort_after_a_cookie() {
        assert_eq!(event(&init()), event::INIT);
        let mut p = vec![0; 12];
        p.extend([chunk::SACK, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(event(&p), event::DATA);
        let mut ce = vec![0; 12];
        ce.extend([chunk::COOKIE_ECHO, 0, 0, 6, 1, 2, 0, 0]); // padded to 8
        assert_eq!(event(&ce), event::COOKIE_ECHO);
        ce.extend([chunk::ABORT, 0, 0, 4]);
        assert_eq!(event(&ce), event::ABORT, "a COOKIE ECHO bundled before an ABORT");
        let mut unknown = vec![0; 12];
        unknown.extend([0xc0, 0, 0, 4]);
        assert_eq!(event(&unknown), event::DATA);
    }
}
