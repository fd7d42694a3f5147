//! The one SIP field IPVS's SIP persistence engine reads (`ip_vs_pe_sip.c`): a request's or
//! response's Call-ID (RFC 3261 §8.1.1.4, §20.8; its compact form `i`, §7.3.3), which names the
//! dialog whatever socket carries it.

/// The Call-ID of the SIP message `payload` (a UDP datagram's data), trimmed, if it has one.
pub fn call_id(payload: &[u8]) -> Option<&[u8]> {
    // Headers end at the first empty line; the start line comes first and is skipped.
    let head_end = find(payload, b"\r\n\r\n").unwrap_or(payload.len());
    let mut lines = payload[..head_end].split(|&b| b == b'\n').skip(1);
    lines.find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let name = trim(&line[..colon]);
        let is_call_id = name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i");
        let value = trim(&line[colon + 1..]);
        (is_call_id && !value.is_empty()).then_some(value)
    })
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_in_full_and_compact_form() {
        let invite = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2\r\nCall-ID:  a84b4c76e66710@pc33 \r\nCSeq: 1 INVITE\r\n\r\nv=0\r\ni: body\r\n";
        assert_eq!(call_id(invite), Some(&b"a84b4c76e66710@pc33"[..]));
        let compact = b"SIP/2.0 200 OK\r\ni:xyz\r\n\r\n";
        assert_eq!(call_id(compact), Some(&b"xyz"[..]));
        let lower = b"BYE sip:a SIP/2.0\ncall-id: q1\n\n";
        assert_eq!(call_id(lower), Some(&b"q1"[..]));
        assert_eq!(
            call_id(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nCall-ID: in-body\r\n"),
            None,
            "not after the headers"
        );
        assert_eq!(call_id(b"Call-ID: only-a-start-line"), None);
        assert_eq!(call_id(b"\x00\x01binary"), None);
        assert_eq!(call_id(b"REGISTER sip:a SIP/2.0\r\nCall-ID:   \r\n\r\n"), None, "empty");
    }
}
