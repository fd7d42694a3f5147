//! The client's address for a FULLNAT real server of a UDP service: UOA, an IPv4 header option
//! in DPVS's format (`|31|8|port|IPv4|`: kind 31 with IPOPT_CONTROL, out of IANA's way), on
//! the first datagrams of a flow; DPVS's `uoa` kernel module on the real server maps the
//! datagram's (source, ports) to the client for `getsockopt(UOA_SO_GET_LOOKUP)`. A datagram's
//! UDP checksum does not cover the IP options, so only the IP header changes.

use crate::frame::Frame;
use crate::wire::checksum;
use crate::wire::{be16, put16};
use std::net::Ipv4Addr;

/// UOA's option kind (31 | IPOPT_CONTROL).
pub const UOA_KIND: u8 = 31;
/// UOA's length with an IPv4 address.
pub const UOA_LEN4: usize = 8;
/// The first datagrams of a flow that carry it (DPVS's `uoa_max_trail`).
pub const UOA_TRAIL: u16 = 3;
// The trail reads a connection's packet count, which stops at `PKTS_COUNTED` without sync.
const _: () = assert!(UOA_TRAIL < crate::conn::entry::PKTS_COUNTED);

/// Appends UOA (`client`, `port`) to the options of the IPv4 header at `l3`: IHL, total length
/// and header checksum follow. False, and nothing changed, when the header has no room for
/// it (60 bytes at most) or the frame no headroom.
pub fn add_uoa<F: Frame>(frame: &mut F, l3: usize, client: Ipv4Addr, port: u16) -> bool {
    let ihl = usize::from(frame.data()[l3] & 0x0f) * 4;
    if ihl + UOA_LEN4 > 60 || !crate::xmit::toa::open_gap(frame, l3 + ihl, UOA_LEN4) {
        return false;
    }
    let d = frame.data_mut();
    let opt = &mut d[l3 + ihl..l3 + ihl + UOA_LEN4];
    opt[0] = UOA_KIND;
    opt[1] = UOA_LEN4 as u8;
    opt[2..4].copy_from_slice(&port.to_be_bytes());
    opt[4..8].copy_from_slice(&client.octets());
    d[l3] = 0x40 | ((ihl + UOA_LEN4) / 4) as u8;
    let total = be16(d, l3 + 2) + UOA_LEN4 as u16;
    put16(d, l3 + 2, total);
    put16(d, l3 + 10, 0);
    let c = checksum::checksum(&d[l3..l3 + ihl + UOA_LEN4]);
    put16(d, l3 + 10, c);
    true
}
