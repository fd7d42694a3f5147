//! The SYN proxy (DPVS's `synproxy`, the Alibaba LVS design; RFC 4987 §3.6's cookies): for a
//! service that asks for it, rvsd answers a client's SYN itself with a SYN-ACK whose sequence
//! number is a SYN cookie ([`crate::syncookie`]) and keeps nothing. Only an ACK whose cookie
//! validates makes a connection; rvsd then schedules it and opens it to the real server with
//! the client's options (its SYN), holds the client's first data (bounded) until the server's
//! SYN-ACK, answers that with the client's ACK and data, and from then on moves the server's
//! sequence numbers (and timestamps, and windows when the window scales differ) into what the
//! client was told, and the client's acknowledgments, SACK edges and echoed timestamps back
//! ([`crate::conn::seq_adjust`]). A flood of spoofed SYNs therefore never reaches a real server.
//!
//! A real server that does not answer gets its SYN again every second, `rs_syn_max_retry`
//! times; then the client gets a reset, not a hang. Identical pure ACKs repeated past
//! `ack_storm_thresh` in one direction (a loop between two TCPs that disagree about the
//! sequence space) are dropped.
//!
//! Only for NAT and FULLNAT real servers: the server's replies must pass through rvsd to be
//! adjusted. ECN is not negotiated through the proxy.

use crate::service::{ConfigError, Forward, Protocol, Service};

/// The SYN proxy's answers and limits (rvs.toml `[synproxy]`; DPVS's `synproxy` block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynProxyPolicy {
    /// The MSS the SYN-ACK offers the client (DPVS's default 1452 leaves room for TOA).
    pub mss: u16,
    /// The SYN-ACK's TTL or hop limit.
    pub ttl: u8,
    /// The window scale the SYN-ACK offers (when the client offered one); a real server
    /// that picks another has its windows rescaled.
    pub wscale: u8,
    /// Offer SACK when the client does.
    pub sack: bool,
    /// Offer timestamps when the client does (without them a cookie carries no window
    /// scale or SACK: the connection goes without).
    pub timestamps: bool,
    /// The SYN-ACK's window.
    pub window: u16,
    /// Times the SYN is sent to a silent real server again, a second apart, before the client
    /// gets a reset (DPVS's `rs_syn_max_retry`).
    pub rs_syn_max_retry: u8,
    /// Identical pure ACKs in a row, in one direction, after which more are dropped (DPVS's
    /// `ack_storm_thresh`; 0 turns the guard off).
    pub ack_storm_thresh: u16,
}

impl Default for SynProxyPolicy {
    fn default() -> Self {
        SynProxyPolicy {
            mss: 1452,
            ttl: 63,
            wscale: 7,
            sack: true,
            timestamps: true,
            window: 65535,
            rs_syn_max_retry: 3,
            ack_storm_thresh: 10,
        }
    }
}

impl SynProxyPolicy {
    /// What is wrong with the policy, if anything (the field named).
    pub fn check(&self) -> Result<(), String> {
        if self.mss < 536 {
            return Err(format!("mss {}: at least 536 (RFC 9293 §3.7.1)", self.mss));
        }
        if self.wscale > crate::syncookie::MAX_WSCALE {
            return Err(format!("wscale {}: at most {}", self.wscale, crate::syncookie::MAX_WSCALE));
        }
        if self.ttl == 0 {
            return Err("ttl 0: at least 1".into());
        }
        if self.window == 0 {
            return Err("window 0: at least 1".into());
        }
        if self.rs_syn_max_retry > 10 {
            return Err(format!("rs_syn_max_retry {}: at most 10", self.rs_syn_max_retry));
        }
        Ok(())
    }
}

/// What is wrong with `svc`'s SYN proxy, if anything: a TCP service (or firewall mark), not
/// one-packet, whose real servers all see the replies (NAT, FULLNAT).
pub fn check_service(svc: &Service) -> Result<(), ConfigError> {
    let bad = |msg: String| Err(ConfigError::BadSynProxy { svc: svc.name(), msg });
    if !svc.is_fwmark() && svc.protocol != Protocol::Tcp {
        return bad("goes with TCP services".into());
    }
    if let Some(d) = svc.dests.iter().find(|d| !d.forward.sees_replies()) {
        let how = if d.forward == Forward::DirectRoute { "DR" } else { "TUN" };
        return bad(format!(
            "real server {} is {how}: its replies bypass rvsd, which must adjust them (NAT or FULLNAT only)",
            std::net::SocketAddr::new(d.addr, d.port)
        ));
    }
    Ok(())
}
