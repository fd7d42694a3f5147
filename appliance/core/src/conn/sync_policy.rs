//! When a master director sends a connection to its backups: IPVS's `ip_vs_sync_conn_needed`
//! (`net/netfilter/ipvs/ip_vs_sync.c`) with its default tuning, `sync_threshold = 3 50`
//! (`/proc/sys/net/ipv4/vs/sync_threshold`: threshold, period), `sync_refresh_period = 0` and
//! `sync_persist_mode = 0`.
//!
//! A connection is counted by its incoming packets. It is sent when that count, modulo the
//! period, equals the threshold (the 3rd, 53rd, 103rd packet, ...), so a backup learns every
//! connection that lives a few packets and hears again while it lives. A TCP connection is sent
//! only in states a backup can use (ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT, TIME_WAIT); a change
//! into one of those other than ESTABLISHED is sent at once, so a backup does not keep a closing
//! connection for the long ESTABLISHED timeout. With period 0 only the packet whose count equals
//! the threshold is sent.
//!
//! A persistence template is checked after its connection, at every client packet of every
//! connection it controls, whether the connection itself was sent or not (`ip_vs_sync_conn`'s
//! `control:` step); the packet rule does not apply to templates, so with a non-zero period a
//! template goes with every such packet and the backup's copy lives as long as the master's.
//! With period 0 a template is sent once, when its own count of controlled packets equals the
//! threshold (`atomic_inc_return(&ct->in_pkts)`), and then only by the refresh period.
//!
//! `sync_persist_mode = 1` ([`SyncPolicy::with_persist_mode`]): connections placed by a template
//! are not sent at all, only their templates (a backup then needs `sloppy_tcp` to pick their
//! flows up).
//!
//! With `sync_refresh_period` (seconds; default 0, off) a connection or template is also sent
//! again once that long has passed since it was last sent (or half its timeout, at least 10 s,
//! if that is shorter), and not before: IPVS's `sync_endtime` mark, kept per connection (and per
//! template) by the caller ([`SyncPolicy::wants_at`]), with `sync_retries` (0..=3) resends
//! allowed within the period. The caller owns the connection, so there is no race on the marks
//! that IPVS settles with `cmpxchg`.

use super::state::ConnState;

/// The sender's tuning: `sync_threshold` and `sync_period` as the IPVS sysctl pairs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    threshold: u32,
    period: u32,
    refresh_period: u32,
    retries: u32,
    persist_mode: bool,
}

/// A refused `sync_threshold`/`sync_period` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sync_threshold ({threshold}) must be below sync_period ({period}) unless the period is 0")]
pub struct BadSyncThreshold {
    /// The threshold given.
    pub threshold: u32,
    /// The period given.
    pub period: u32,
}

/// What the sender knows of one connection when a packet arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCandidate {
    /// TCP or SCTP (state-tracked) rather than UDP.
    pub tcp: bool,
    /// A persistence template rather than a connection.
    pub template: bool,
    /// The state now.
    pub state: ConnState,
    /// The state when it was last sent (`ConnState::None` if never).
    pub synced_state: ConnState,
    /// Incoming packets so far, this one included (for a template: packets of the
    /// connections it controls).
    pub pkts: u32,
    /// A connection placed by a persistence template (IPVS's `in_persistence`).
    pub persistent: bool,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy { threshold: 3, period: 50, refresh_period: 0, retries: 0, persist_mode: false }
    }
}

impl SyncPolicy {
    /// A policy, refused as the sysctl refuses it: the threshold must be below a non-zero period.
    pub fn new(threshold: u32, period: u32) -> Result<Self, BadSyncThreshold> {
        if period != 0 && threshold >= period {
            return Err(BadSyncThreshold { threshold, period });
        }
        Ok(SyncPolicy { threshold, period, refresh_period: 0, retries: 0, persist_mode: false })
    }

    /// With IPVS's `sync_refresh_period` (seconds, 0 = off) and `sync_retries` (at most 3).
    pub fn with_refresh(mut self, refresh_period: u32, retries: u32) -> Self {
        self.refresh_period = refresh_period;
        self.retries = retries.min(3);
        self
    }

    /// With IPVS's `sync_persist_mode` 1: connections placed by a template are not sent, only
    /// their templates.
    pub fn with_persist_mode(mut self, on: bool) -> Self {
        self.persist_mode = on;
        self
    }

    /// `sync_persist_mode` (true: 1).
    pub fn persist_mode(&self) -> bool {
        self.persist_mode
    }

    /// `sync_refresh_period` in seconds (0: off).
    pub fn refresh_period(&self) -> u32 {
        self.refresh_period
    }

    /// The threshold (packets before the first send).
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The period (packets between sends; 0 = once).
    pub fn period(&self) -> u32 {
        self.period
    }

    /// IPVS's whole rule (`ip_vs_sync_conn_needed`) at second `now` for a connection whose
    /// state lasts `timeout` seconds and whose mark (`sync_endtime`: when it would expire as last
    /// sent, shifted left by 2 over a resend count; 0 = never sent) is `mark`. Returns the new
    /// mark when the connection is to be sent now; the caller stores it and `c.state` as the
    /// synced state.
    pub fn wants_at(&self, c: &SyncCandidate, now: u32, timeout: u32, mark: u32) -> Option<u32> {
        let mut n = now.saturating_add(timeout) << 2;
        if !c.template && self.persist_mode && c.persistent {
            return None;
        }
        if !c.template && c.tcp {
            if !matches!(
                c.state,
                ConnState::Established
                    | ConnState::FinWait
                    | ConnState::Close
                    | ConnState::CloseWait
                    | ConnState::TimeWait
                    // SCTP's (IPVS's list for IPPROTO_SCTP)
                    | ConnState::SctpShutdownSent
                    | ConnState::SctpShutdownReceived
                    | ConnState::SctpShutdownAckSent
                    | ConnState::SctpClosed
            ) {
                return None;
            }
            if c.state != c.synced_state && c.state != ConnState::Established {
                return Some(n);
            }
        }
        if self.refresh_period > 0 && mark != 0 {
            let last_end = mark >> 2;
            let diff = i64::from(n >> 2) - i64::from(last_end);
            let min_diff = (timeout / 2).max(10);
            if diff.abs() < i64::from(self.refresh_period.min(min_diff)) {
                let retries = mark & 3;
                if retries >= self.retries {
                    return None;
                }
                let last_sent = last_end.saturating_sub(timeout);
                if now < last_sent.saturating_add(self.refresh_period >> 3) {
                    return None;
                }
                n |= retries + 1;
            }
        }
        if self.period > 0 {
            if !c.template && c.pkts % self.period != self.threshold {
                return None;
            }
        } else if self.refresh_period == 0 && c.pkts != self.threshold {
            return None;
        }
        Some(n)
    }

    /// Whether to send the connection now, by the packet and state rules alone (no refresh
    /// period). When it returns true the caller records `c.state` as the connection's synced
    /// state.
    pub fn wants(&self, c: &SyncCandidate) -> bool {
        SyncPolicy { refresh_period: 0, ..*self }.wants_at(c, 0, 0, 0).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(state: ConnState, synced_state: ConnState, pkts: u32) -> SyncCandidate {
        SyncCandidate { tcp: true, template: false, state, synced_state, pkts, persistent: false }
    }

    fn sent_packets(p: &SyncPolicy, mut c: SyncCandidate, upto: u32) -> Vec<u32> {
        (1..=upto)
            .filter(|&n| {
                c.pkts = n;
                let send = p.wants(&c);
                if send {
                    c.synced_state = c.state;
                }
                send
            })
            .collect()
    }

    #[test]
    fn an_established_connection_is_sent_at_the_threshold_then_every_period() {
        let p = SyncPolicy::default();
        let c = tcp(ConnState::Established, ConnState::None, 0);
        assert_eq!(sent_packets(&p, c, 160), vec![3, 53, 103, 153]);
    }

    #[test]
    fn a_udp_flow_follows_the_packet_rule_only() {
        let p = SyncPolicy::default();
        let c = SyncCandidate {
            tcp: false,
            template: false,
            state: ConnState::Udp,
            synced_state: ConnState::None,
            pkts: 0,
            persistent: false,
        };
        assert_eq!(sent_packets(&p, c, 110), vec![3, 53, 103]);
    }

    #[test]
    fn half_open_and_other_useless_tcp_states_are_never_sent() {
        let p = SyncPolicy::default();
        for s in [ConnState::SynRecv, ConnState::SynSent, ConnState::LastAck, ConnState::None] {
            assert!(sent_packets(&p, tcp(s, ConnState::None, 0), 120).is_empty(), "{s:?}");
        }
    }

    #[test]
    fn a_move_to_a_closing_state_is_sent_at_once_and_only_once() {
        let p = SyncPolicy::default();
        for s in [ConnState::FinWait, ConnState::CloseWait, ConnState::TimeWait, ConnState::Close] {
            assert!(p.wants(&tcp(s, ConnState::Established, 7)), "{s:?} at packet 7");
            // Once recorded, only the packet rule applies.
            assert!(!p.wants(&tcp(s, s, 8)), "{s:?} again at packet 8");
            assert!(p.wants(&tcp(s, s, 53)), "{s:?} at packet 53");
        }
    }

    #[test]
    fn reaching_established_waits_for_the_packet_rule() {
        // IPVS forces only non-ESTABLISHED changes: a handshake's end is not sent by itself.
        let p = SyncPolicy::default();
        assert!(!p.wants(&tcp(ConnState::Established, ConnState::None, 2)));
        assert!(p.wants(&tcp(ConnState::Established, ConnState::None, 3)));
    }

    #[test]
    fn templates_ride_with_their_connections() {
        let p = SyncPolicy::default();
        let t = SyncCandidate {
            tcp: false,
            template: true,
            state: ConnState::None,
            synced_state: ConnState::None,
            pkts: 17,
            persistent: false,
        };
        assert!(p.wants(&t));
        let once = SyncPolicy::new(3, 0).unwrap();
        assert!(!once.wants(&t));
        assert!(once.wants(&SyncCandidate { pkts: 3, ..t }));
    }

    #[test]
    fn persist_mode_sends_templates_but_not_the_connections_they_place() {
        let p = SyncPolicy::default().with_persist_mode(true);
        let placed = SyncCandidate { persistent: true, ..tcp(ConnState::FinWait, ConnState::Established, 3) };
        assert!(!p.wants(&placed), "a connection in persistence");
        assert!(p.wants(&SyncCandidate { persistent: false, ..placed }), "a connection of no template");
        let t = SyncCandidate { template: true, persistent: false, tcp: false, ..placed };
        assert!(p.wants(&t));
        assert!(SyncPolicy::default().wants(&placed), "mode 0: both");
    }

    #[test]
    fn period_zero_sends_once_at_the_threshold() {
        let p = SyncPolicy::new(3, 0).unwrap();
        let c = tcp(ConnState::Established, ConnState::None, 0);
        assert_eq!(sent_packets(&p, c, 200), vec![3]);
    }

    #[test]
    fn without_a_refresh_period_the_full_rule_is_the_packet_rule() {
        let p = SyncPolicy::default();
        for pkts in 1..120 {
            for (state, synced) in
                [(ConnState::Established, ConnState::Established), (ConnState::FinWait, ConnState::Established)]
            {
                let c = tcp(state, synced, pkts);
                assert_eq!(p.wants_at(&c, 1000, 900, 0).is_some(), p.wants(&c), "{state:?} {pkts}");
            }
        }
    }

    #[test]
    fn a_refresh_period_resends_a_long_connection_once_the_period_has_passed() {
        // Period 0 with a refresh period: time decides (as IPVS with sync_period 0).
        let p = SyncPolicy::new(3, 0).unwrap().with_refresh(60, 0);
        let c = tcp(ConnState::Established, ConnState::Established, 7);
        let first = p.wants_at(&c, 1000, 900, 0).expect("never sent: sent");
        assert_eq!(first >> 2, 1900);
        assert!(p.wants_at(&c, 1030, 900, first).is_none(), "30 s later: within the period");
        let again = p.wants_at(&c, 1061, 900, first).expect("61 s later: sent again");
        assert_eq!(again >> 2, 1961);
        // A short state (timeout 20): half of it, at least 10 s, is the bound.
        let fw = tcp(ConnState::FinWait, ConnState::FinWait, 9);
        let m = p.wants_at(&fw, 2000, 20, 0).unwrap();
        assert!(p.wants_at(&fw, 2005, 20, m).is_none());
        assert!(p.wants_at(&fw, 2011, 20, m).is_some());
        // With retries, a resend within the period is allowed once, after period / 8.
        let r = SyncPolicy::new(3, 0).unwrap().with_refresh(80, 1);
        let m = r.wants_at(&c, 1000, 900, 0).unwrap();
        assert!(r.wants_at(&c, 1005, 900, m).is_none(), "before period / 8 = 10 s");
        let m2 = r.wants_at(&c, 1011, 900, m).expect("one retry");
        assert_eq!(m2 & 3, 1);
        assert!(r.wants_at(&c, 1020, 900, m2).is_none(), "retries spent");
    }

    #[test]
    fn the_sysctl_pairs_are_checked_as_ipvs_checks_them() {
        assert_eq!(SyncPolicy::new(50, 50), Err(BadSyncThreshold { threshold: 50, period: 50 }));
        assert!(SyncPolicy::new(60, 50).is_err());
        assert_eq!(SyncPolicy::new(49, 50).map(|p| (p.threshold(), p.period())), Ok((49, 50)));
        assert!(SyncPolicy::new(1000, 0).is_ok());
        assert_eq!(SyncPolicy::default(), SyncPolicy::new(3, 50).unwrap());
    }
}
