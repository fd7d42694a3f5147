//! Every bound on what an operator or a client can ask of rvsd, in one place: the config file,
//! the control socket and rvsadm all check through these, so a value accepted by one path is
//! accepted by all, and a refusal names the same range everywhere. ipvsadm's own bounds where
//! it has them (weight 0..=65535, timeouts up to 31 days).

use std::time::Duration;

/// Largest real-server weight (ipvsadm `-w`: 0..=65535).
pub const MAX_WEIGHT: u32 = 65_535;
/// Most a connection threshold (`-x`, `-y`) may be: ipvsadm's INT_MAX.
pub const MAX_THRESHOLD: u32 = i32::MAX as u32;
/// Longest timeout, seconds (ipvsadm's `MAX_TIMEOUT`: 31 days), for `--set`, `[timeouts]` and
/// persistence (`-p`); the dataplane clamps sync records' timeouts to it too.
pub use rvs_core::service::MAX_TIMEOUT_S;
/// Longest control request line, in bytes, newline included.
pub const MAX_LINE: usize = 64 * 1024;
/// Control clients served at once.
pub const MAX_CLIENTS: usize = 16;
/// A control client idle this long is disconnected.
pub const IDLE: Duration = Duration::from_secs(30);
/// Health-check bounds (seconds, or counts for rise/fall): (name, lowest, highest).
pub const CHECK_BOUNDS: [(&str, u32, u32); 4] =
    [("interval", 1, 3600), ("timeout", 1, 60), ("rise", 1, 100), ("fall", 1, 100)];

/// A value out of its bounds: says the bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not {range}")]
pub struct OutOfBounds {
    /// The value refused.
    pub value: u64,
    /// The accepted range, as text.
    pub range: String,
}

fn within(value: u64, lo: u64, hi: u64) -> Result<(), OutOfBounds> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(OutOfBounds { value, range: format!("{lo}..={hi}") })
    }
}

/// A real server's slow start, 0 (off) ..= [`MAX_SLOW_START_S`] seconds.
pub fn slow_start(s: u32) -> Result<u32, OutOfBounds> {
    within(u64::from(s), 0, u64::from(MAX_SLOW_START_S)).map(|()| s)
}

/// Longest slow start, seconds (a day).
pub const MAX_SLOW_START_S: u32 = 86_400;

/// A real server's weight.
pub fn weight(w: u32) -> Result<u32, OutOfBounds> {
    within(u64::from(w), 0, u64::from(MAX_WEIGHT)).map(|()| w)
}

/// A state timeout in seconds (`[timeouts]`: 1 ..= 31 days; `--set` passes 0 for "keep").
pub fn timeout(s: u32) -> Result<u32, OutOfBounds> {
    within(u64::from(s), 1, u64::from(MAX_TIMEOUT_S)).map(|()| s)
}

/// A persistence timeout in seconds (0 = off, as a config file writes it).
pub fn persistence(s: u32) -> Result<u32, OutOfBounds> {
    within(u64::from(s), 0, u64::from(MAX_TIMEOUT_S)).map(|()| s)
}

/// A persistence netmask as a prefix length.
pub fn prefix(p: u8) -> Result<u8, OutOfBounds> {
    within(u64::from(p), 0, 32).map(|()| p)
}

/// An IPv6 prefix length (`-M` of an IPv6 service, `steer_prefix6`).
pub fn prefix6(p: u8) -> Result<u8, OutOfBounds> {
    within(u64::from(p), 0, 128).map(|()| p)
}

/// A health-check setting named in [`CHECK_BOUNDS`].
pub fn check_setting(name: &str, v: u32) -> Result<u32, OutOfBounds> {
    let Some(&(_, lo, hi)) = CHECK_BOUNDS.iter().find(|b| b.0 == name) else {
        return Ok(v);
    };
    within(u64::from(v), u64::from(lo), u64::from(hi)).map(|()| v)
}

/// What one bounded read of a request line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A whole line (newline included) is in the buffer.
    Line,
    /// The line passed [`MAX_LINE`] before its newline: the client is cut off.
    TooLong,
    /// The peer closed the stream.
    Closed,
    /// Nothing more for now (read timeout); call again with the same buffer.
    Pending,
}

/// Reads towards the end of one request line into `line`, never letting it grow past
/// [`MAX_LINE`] bytes however the peer spreads it over reads (a slow drip of bytes with pauses
/// cannot grow it either). Bytes that are not UTF-8 close the stream as an error would.
pub fn read_line_bounded(reader: &mut impl std::io::BufRead, line: &mut Vec<u8>) -> std::io::Result<LineRead> {
    loop {
        if line.last() == Some(&b'\n') {
            return Ok(LineRead::Line);
        }
        if line.len() >= MAX_LINE {
            return Ok(LineRead::TooLong);
        }
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Ok(LineRead::Pending)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(LineRead::Closed);
        }
        let room = MAX_LINE - line.len();
        let take = match buf.iter().position(|&b| b == b'\n') {
            Some(nl) if nl < room => nl + 1,
            _ => buf.len().min(room),
        };
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Read};

    #[test]
    fn each_bound_accepts_its_range_and_refuses_past_it() {
        assert_eq!(weight(0), Ok(0));
        assert_eq!(weight(MAX_WEIGHT), Ok(MAX_WEIGHT));
        assert_eq!(weight(65_536).unwrap_err().to_string(), "65536 is not 0..=65535");
        assert_eq!(timeout(1), Ok(1));
        assert!(timeout(0).is_err());
        assert!(timeout(MAX_TIMEOUT_S + 1).is_err());
        assert_eq!(persistence(0), Ok(0));
        assert!(persistence(MAX_TIMEOUT_S + 1).is_err());
        assert_eq!(prefix(32), Ok(32));
        assert!(prefix(33).is_err());
        assert_eq!(check_setting("timeout", 60), Ok(60));
        assert!(check_setting("timeout", 61).is_err());
        assert!(check_setting("rise", 0).is_err());
    }

    /// A reader that hands out its bytes a few at a time with a "timed out" between chunks,
    /// as a slow client does.
    struct Drip {
        data: Vec<u8>,
        at: usize,
        pause: bool,
    }

    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.pause = !self.pause;
            if self.pause {
                return Err(std::io::Error::from(std::io::ErrorKind::WouldBlock));
            }
            let n = buf.len().min(1000).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn drip(data: Vec<u8>) -> BufReader<Drip> {
        BufReader::with_capacity(4096, Drip { data, at: 0, pause: false })
    }

    #[test]
    fn a_line_dripped_past_the_limit_is_cut_off_at_the_limit() {
        let mut r = drip(vec![b'x'; 3 * MAX_LINE]);
        let mut line = Vec::new();
        let mut reads = 0;
        let end = loop {
            reads += 1;
            match read_line_bounded(&mut r, &mut line).unwrap() {
                LineRead::Pending => continue,
                other => break other,
            }
        };
        assert_eq!(end, LineRead::TooLong);
        assert_eq!(line.len(), MAX_LINE, "never grew past the limit");
        assert!(reads > 10, "it did arrive in pieces");
    }

    #[test]
    fn lines_up_to_the_limit_arrive_whole_and_in_order() {
        let mut data = vec![b'a'; MAX_LINE - 1];
        data.push(b'\n');
        data.extend_from_slice(b"{\"op\":\"list\"}\n");
        let mut r = drip(data);
        let mut got = Vec::new();
        let mut line = Vec::new();
        loop {
            match read_line_bounded(&mut r, &mut line).unwrap() {
                LineRead::Pending => {}
                LineRead::Line => got.push(std::mem::take(&mut line)),
                LineRead::Closed => break,
                LineRead::TooLong => panic!("a line of exactly the limit is allowed"),
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], b"{\"op\":\"list\"}\n");
    }
}
