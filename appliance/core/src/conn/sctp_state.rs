//! IPVS's SCTP association tracking (net/netfilter/ipvs/ip_vs_proto_sctp.c, `sctp_states`),
//! after RFC 9260 §4's state diagram as the real server lives it. As for TCP, a balancer only
//! follows the chunks it sees to keep an association's timeout and its active (ESTABLISHED)
//! or inactive count right: NAT sees both directions; DR and TUN, and a NAT association before
//! its first answer, use the INPUT-ONLY table. The event of a packet is its first chunk's
//! ([`crate::wire::sctp::event`]).
//!
//! The numbering is IPVS's (`IP_VS_SCTP_S_*`), which sync records carry: NONE and
//! ESTABLISHED are TCP's [`ConnState::None`] and [`ConnState::Established`].

use super::state::{ConnState, Direction};
use crate::wire::sctp::event;

use ConnState::{
    Established as ES, None as NO, SctpClosed as CL, SctpCookie as CO, SctpCookieEchoed as CE, SctpCookieReplied as CR,
    SctpCookieSent as CS, SctpCookieWait as CW, SctpInit as IN, SctpInit1 as I1, SctpRejected as RJ,
    SctpShutdownAckSent as SA, SctpShutdownReceived as SR, SctpShutdownSent as SS,
};

/// The states in IPVS's order.
const ORDER: [ConnState; 14] = [NO, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL];

/// Rows: IPVS's events (data, init, init-ack, cookie-echo, cookie-ack, shutdown, shutdown-ack,
/// shutdown-complete, error, abort); columns: the states in IPVS's order. Transcribed from
/// `sctp_states`.
type Table = [[ConnState; 14]; event::COUNT];

const INPUT: Table = [
    [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
    [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
    [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
    [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
    [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];
const OUTPUT: Table = [
    [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
    [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
    [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
    [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
    [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
];
const INPUT_ONLY: Table = [
    [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
    [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
    [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
    [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
    [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
    [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
    [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
    [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
    [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];

/// IPVS's number of an SCTP association's state (what sync records carry); None for a state
/// an association never takes.
pub fn sctp_number(s: ConnState) -> Option<u16> {
    ORDER.iter().position(|&o| o == s).map(|i| i as u16)
}

/// The SCTP state of IPVS's number `n`.
pub fn from_sctp_number(n: u16) -> Option<ConnState> {
    ORDER.get(usize::from(n)).copied()
}

/// The state after a packet of event `ev` travelling in `dir`.
#[inline]
pub fn next_sctp_state(cur: ConnState, dir: Direction, ev: u8) -> ConnState {
    let Some(col) = sctp_number(cur) else { return cur };
    let table = match dir {
        Direction::Input => &INPUT,
        Direction::Output => &OUTPUT,
        Direction::InputOnly => &INPUT_ONLY,
    };
    table.get(usize::from(ev)).map_or(cur, |row| row[usize::from(col)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::*;
    use Direction::*;

    fn walk(steps: &[(Direction, u8)]) -> Vec<&'static str> {
        let mut s = NO;
        steps
            .iter()
            .map(|&(d, e)| {
                s = next_sctp_state(s, d, e);
                s.name()
            })
            .collect()
    }

    #[test]
    fn a_nat_association_from_init_to_shutdown_complete() {
        let got = walk(&[
            (InputOnly, INIT),      // client INIT, no answer seen yet
            (Output, INIT_ACK),     // server INIT ACK
            (Input, COOKIE_ECHO),   // client COOKIE ECHO
            (Output, COOKIE_ACK),   // server COOKIE ACK
            (Input, DATA),          // data
            (Input, SHUTDOWN),      // the client shuts down
            (Output, SHUTDOWN_ACK), // the server acknowledges
            (Input, SHUTDOWN_COMPLETE),
        ]);
        assert_eq!(
            got,
            ["INIT1", "C-SENT", "C-REPLIED", "ESTABLISHED", "ESTABLISHED", "S-RECEIVED", "S-ACK-SENT", "CLOSED"]
        );
    }

    #[test]
    fn dr_sees_the_client_half_and_an_abort_rejects_or_closes() {
        let got = walk(&[(InputOnly, INIT), (InputOnly, COOKIE_ECHO), (InputOnly, DATA), (InputOnly, ABORT)]);
        assert_eq!(got, ["INIT1", "ESTABLISHED", "ESTABLISHED", "CLOSED"]);
        assert_eq!(next_sctp_state(I1, Output, ABORT), RJ, "an INIT answered by ABORT: REJECTED");
        assert_eq!(next_sctp_state(I1, InputOnly, INIT), IN, "a retried INIT");
        assert_eq!(next_sctp_state(ConnState::Udp, Input, INIT), ConnState::Udp, "not an association");
    }

    #[test]
    fn numbers_and_timeouts_are_ipvss() {
        assert_eq!((sctp_number(NO), sctp_number(ES), sctp_number(CL)), (Some(0), Some(8), Some(13)));
        assert_eq!(from_sctp_number(8), Some(ES));
        assert_eq!(from_sctp_number(14), None);
        assert_eq!(sctp_number(ConnState::SynRecv), None);
        let t = crate::service::Timeouts::default();
        assert_eq!((I1.timeout(&t), RJ.timeout(&t), CS.timeout(&t), ES.timeout(&t)), (4, 4, 61, 900));
    }
}
