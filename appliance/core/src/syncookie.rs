//! SYN cookies as Linux makes them (`net/ipv4/syncookies.c`, `__cookie_v4_init_sequence`,
//! `check_tcp_syn_cookie`; RFC 4987 §3.6): the SYN-ACK's sequence number carries everything the
//! handshake needs, so a SYN leaves no state behind and only a client that saw the SYN-ACK can
//! complete it.
//!
//! cookie = H(k0; flow) + client ISN + (minute << 24) + ((H(k1; flow, minute) + MSS index) mod 2^24)
//!
//! The top 8 bits are the minute the cookie was made in (valid for [`MAX_AGE`] minutes); the low
//! 24 bits, less a second keyed hash of the flow and that minute, are the index of the client's
//! MSS in a table of four. With timestamps, the SYN-ACK's TSval carries the client's window
//! scale, SACK-permitted and ECN in its low 6 bits (`cookie_init_timestamp`), which the client
//! echoes in its ACK's TSecr. The hashes are SipHash-2-4 under a secret the daemon draws.

use siphasher::sip::SipHasher24;
use std::hash::Hasher;

/// Bits of the cookie below the minute (`COOKIEBITS`).
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Minutes a cookie stays valid (`MAX_SYNCOOKIE_AGE`).
pub const MAX_AGE: u32 = 2;
/// Low bits of a cookie timestamp that hold options (`TSBITS`).
const TS_BITS: u32 = 6;
const TS_WSCALE_MASK: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;
const TS_ECN: u32 = 1 << 5;
/// The largest window scale (RFC 7323 §2.3).
pub const MAX_WSCALE: u8 = 14;

/// The MSS values a cookie can name, IPv4 (`msstab`).
const MSS4: [u16; 4] = [536, 1300, 1440, 1460];
/// The same for IPv6 (`msstab` of `syncookies.c` for IPv6: 1280-60 ... 9000-60).
const MSS6: [u16; 4] = [1220, 1420, 1440, 8940];

/// The secret a director's cookies are made under: two SipHash keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSecret {
    keys: [(u64, u64); 2],
}

impl std::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSecret(..)") // never printed
    }
}

impl CookieSecret {
    /// A secret from 256 random bits.
    pub fn new(bits: [u64; 4]) -> Self {
        CookieSecret { keys: [(bits[0], bits[1]), (bits[2], bits[3])] }
    }
}

/// A flow as a cookie binds it: the client's and the VIP's ends (IPv4 addresses zero-extended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieFlow {
    /// Client address.
    pub saddr: u128,
    /// VIP.
    pub daddr: u128,
    /// Client port.
    pub sport: u16,
    /// VIP port.
    pub dport: u16,
}

impl CookieFlow {
    fn hash(&self, key: (u64, u64), count: u32) -> u32 {
        let mut h = SipHasher24::new_with_keys(key.0, key.1);
        h.write(&self.saddr.to_le_bytes());
        h.write(&self.daddr.to_le_bytes());
        h.write(&((u32::from(self.sport) << 16) | u32::from(self.dport)).to_le_bytes());
        h.write(&count.to_le_bytes());
        h.finish() as u32
    }
}

/// The index of the largest table MSS not above the client's `mss` (0 for a tiny one), and
/// that MSS.
pub fn mss_index(mss: u16, v6: bool) -> (u32, u16) {
    let t = if v6 { &MSS6 } else { &MSS4 };
    let i = (1..t.len()).rev().find(|&i| mss >= t[i]).unwrap_or(0);
    (i as u32, t[i])
}

/// The MSS of table index `i`.
pub fn mss_of(i: u32, v6: bool) -> u16 {
    let t = if v6 { &MSS6 } else { &MSS4 };
    t[(i as usize) & 3]
}

/// The cookie (the SYN-ACK's sequence number) for a SYN of `flow` whose sequence number is
/// `isn`, made in `minute`, naming MSS index `mss_index`.
pub fn make(secret: &CookieSecret, flow: &CookieFlow, isn: u32, minute: u32, mss_index: u32) -> u32 {
    flow.hash(secret.keys[0], 0)
        .wrapping_add(isn)
        .wrapping_add(minute << COOKIE_BITS)
        .wrapping_add(flow.hash(secret.keys[1], minute).wrapping_add(mss_index) & COOKIE_MASK)
}

/// The MSS index a client's ACK proves: `cookie` is its acknowledgment number less one, `isn`
/// its sequence number less one, `minute` now. `None` for a forged or stale cookie.
pub fn check(secret: &CookieSecret, flow: &CookieFlow, isn: u32, cookie: u32, minute: u32) -> Option<u32> {
    let c = cookie.wrapping_sub(flow.hash(secret.keys[0], 0).wrapping_add(isn));
    let diff = minute.wrapping_sub(c >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
    if diff >= MAX_AGE {
        return None;
    }
    let made = minute.wrapping_sub(diff);
    let index = c.wrapping_sub(flow.hash(secret.keys[1], made)) & COOKIE_MASK;
    (index < 4).then_some(index)
}

/// What a cookie timestamp carries of the client's SYN.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TsOptions {
    /// The client's window scale, when it offered one.
    pub wscale: Option<u8>,
    /// SACK permitted (RFC 2018).
    pub sack: bool,
    /// ECN negotiated (RFC 3168).
    pub ecn: bool,
}

/// The SYN-ACK's TSval at timestamp clock `now_ts`: its low bits hold `opts`, and it is never
/// ahead of the clock (`cookie_init_timestamp`).
pub fn encode_ts(now_ts: u32, opts: TsOptions) -> u32 {
    let mut o = opts.wscale.map_or(TS_WSCALE_MASK, |w| u32::from(w.min(MAX_WSCALE)));
    if opts.sack {
        o |= TS_SACK;
    }
    if opts.ecn {
        o |= TS_ECN;
    }
    let ts = (now_ts >> TS_BITS << TS_BITS) | o;
    if ts > now_ts {
        ts.wrapping_sub(1 << TS_BITS)
    } else {
        ts
    }
}

/// The options an echoed cookie timestamp (`tsecr`) carries (`cookie_timestamp_decode`; the
/// all-ones window scale means none was offered).
pub fn decode_ts(tsecr: u32) -> TsOptions {
    let w = tsecr & TS_WSCALE_MASK;
    let wscale = (w != TS_WSCALE_MASK).then_some((w as u8).min(MAX_WSCALE));
    TsOptions { wscale, sack: tsecr & TS_SACK != 0, ecn: tsecr & TS_ECN != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: CookieSecret = CookieSecret { keys: [(1, 2), (3, 4)] };

    fn flow(saddr: u128, sport: u16) -> CookieFlow {
        CookieFlow { saddr, daddr: 0xc633_6401, sport, dport: 80 }
    }

    #[test]
    fn the_mss_index_is_the_largest_table_value_not_above_the_clients() {
        assert_eq!(mss_index(1460, false), (3, 1460));
        assert_eq!(mss_index(1452, false), (2, 1440));
        assert_eq!(mss_index(9000, false), (3, 1460));
        assert_eq!(mss_index(100, false), (0, 536));
        assert_eq!(mss_index(1440, true), (2, 1440));
        assert_eq!(mss_index(9000, true), (3, 8940));
        assert_eq!(mss_of(1, true), 1420);
    }

    #[test]
    fn a_cookie_lives_two_minutes() {
        let f = flow(0x0a00_0001, 40000);
        let c = make(&SECRET, &f, 7, 100, 2);
        assert_eq!(check(&SECRET, &f, 7, c, 100), Some(2));
        assert_eq!(check(&SECRET, &f, 7, c, 101), Some(2));
        assert_eq!(check(&SECRET, &f, 7, c, 102), None, "stale");
        assert_eq!(check(&SECRET, &f, 7, c, 99), None, "from the future");
    }

    #[test]
    fn timestamps_carry_the_options_and_never_run_ahead() {
        for (w, sack, ecn) in
            [(Some(7), true, false), (None, false, true), (Some(0), true, true), (Some(14), false, false)]
        {
            let o = TsOptions { wscale: w, sack, ecn };
            let ts = encode_ts(1_000_003, o);
            assert!(ts <= 1_000_003 && 1_000_003 - ts < 64);
            assert_eq!(decode_ts(ts), o);
        }
    }

    proptest! {
        #[test]
        fn a_cookie_validates_for_its_flow_and_names_its_mss(
            saddr: u128, sport: u16, isn: u32, minute: u32, idx in 0u32..4,
        ) {
            let f = flow(saddr, sport);
            let c = make(&SECRET, &f, isn, minute, idx);
            prop_assert_eq!(check(&SECRET, &f, isn, c, minute), Some(idx));
            prop_assert_eq!(check(&SECRET, &f, isn, c, minute.wrapping_add(1)), Some(idx));
        }
    }

    #[test]
    fn blind_guesses_almost_never_validate() {
        // A blind ACK flood: random cookies against one flow. Linux's construction accepts
        // about 2 x 4 / 2^32 of them; 200,000 guesses should find none.
        let f = flow(0x0a00_0002, 1234);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let hits = (0..200_000)
            .filter(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                check(&SECRET, &f, x as u32, (x >> 32) as u32, 5000).is_some()
            })
            .count();
        assert_eq!(hits, 0);
    }
}
