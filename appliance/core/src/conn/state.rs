//! IPVS's TCP state tracking (net/netfilter/ipvs/ip_vs_proto_tcp.c, `tcp_states`).
//!
//! The balancer is not a TCP endpoint: it only follows the flags it sees to decide how long to
//! keep a connection and whether it counts as *active* (ESTABLISHED) or *inactive*. NAT sees
//! both directions (INPUT = client->server, OUTPUT = server->client). TUN and DR see only the
//! client's half and use the INPUT-ONLY table, in which e.g. a client FIN moves ESTABLISHED to
//! FIN_WAIT (not CLOSE_WAIT). A new NAT connection starts input-only too and switches to the
//! two-direction tables at the first reply, exactly as IPVS's `IP_VS_CONN_F_NOOUTPUT` does.
//!
//! The event of a segment is, in IPVS's order of precedence: RST, else SYN, else FIN, else ACK
//! (so SYN|FIN is a SYN, and RST wins over everything). A segment with none of these four flags
//! moves the connection to CLOSE, as `set_tcp_state` does (its `new_state` starts as CLOSE and
//! a negative `tcp_state_idx` skips the table).
//!
//! Where rvs and IPVS differ, and why:
//! - No `secure_tcp` (`tcp_states_dos`) table. Its point is that a blind ACK must not buy a
//!   spoofed client the long ESTABLISHED life; but in NAT the server's SYN-ACK passes first and
//!   secure_tcp's INPUT table then moves SYNACK to ESTABLISHED on any ACK, and DR/TUN never see
//!   that SYN-ACK at all. rvs keeps IPVS's normal tables for the state (so `-L -c` and the
//!   active/inactive counts read as IPVS's) and decides what may be evicted by proof instead
//!   (`Conn::is_embryonic`, `pipeline/overload.rs`; fixtures: `tests/overload.rs`,
//!   `spoofed_syn_and_blind_ack_pairs_never_lock_*`).
//! - Timeouts of the states `--set` does not cover (SYN_RECV 60 s, TIME_WAIT 120 s, ...) are
//!   IPVS's defaults and not configurable, as without `/proc/sys/net/ipv4/vs/` tuning.

use crate::service::Timeouts;
use crate::wire::tcp::flags;

/// A connection's state (TCP states as IPVS names them; UDP connections use `Udp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnState {
    /// No state yet.
    None = 0,
    /// ESTABLISHED.
    Established,
    /// SYN_SENT.
    SynSent,
    /// SYN_RECV.
    SynRecv,
    /// FIN_WAIT.
    FinWait,
    /// TIME_WAIT.
    TimeWait,
    /// CLOSE.
    Close,
    /// CLOSE_WAIT.
    CloseWait,
    /// LAST_ACK.
    LastAck,
    /// LISTEN.
    Listen,
    /// SYNACK.
    SynAck,
    /// A UDP "connection" (a flow with a timeout).
    Udp,
    /// SCTP (IPVS's `IP_VS_SCTP_S_*`; an SCTP association shares NONE and ESTABLISHED with
    /// TCP, [`super::sctp_state`]): the first INIT sent, no INIT ACK yet.
    SctpInit1,
    /// SCTP: a further INIT sent.
    SctpInit,
    /// SCTP: the server's INIT ACK sent, waiting for the client's COOKIE ECHO.
    SctpCookieSent,
    /// SCTP: the client's COOKIE ECHO sent, waiting for the server's COOKIE ACK.
    SctpCookieReplied,
    /// SCTP: the server sent INIT, waiting for the client's INIT ACK.
    SctpCookieWait,
    /// SCTP: the client's INIT ACK sent, waiting for the server's COOKIE ECHO.
    SctpCookie,
    /// SCTP: the server's COOKIE ECHO sent, waiting for the client's COOKIE ACK.
    SctpCookieEchoed,
    /// SCTP: SHUTDOWN sent (by the server).
    SctpShutdownSent,
    /// SCTP: SHUTDOWN received (from the client).
    SctpShutdownReceived,
    /// SCTP: SHUTDOWN ACK sent.
    SctpShutdownAckSent,
    /// SCTP: the INIT was answered with ABORT.
    SctpRejected,
    /// SCTP: closed.
    SctpClosed,
}

impl ConnState {
    /// The name ipvsadm prints in `-L -c`.
    pub fn name(self) -> &'static str {
        match self {
            ConnState::None => "NONE",
            ConnState::Established => "ESTABLISHED",
            ConnState::SynSent => "SYN_SENT",
            ConnState::SynRecv => "SYN_RECV",
            ConnState::FinWait => "FIN_WAIT",
            ConnState::TimeWait => "TIME_WAIT",
            ConnState::Close => "CLOSE",
            ConnState::CloseWait => "CLOSE_WAIT",
            ConnState::LastAck => "LAST_ACK",
            ConnState::Listen => "LISTEN",
            ConnState::SynAck => "SYNACK",
            ConnState::Udp => "UDP",
            ConnState::SctpInit1 => "INIT1",
            ConnState::SctpInit => "INIT",
            ConnState::SctpCookieSent => "C-SENT",
            ConnState::SctpCookieReplied => "C-REPLIED",
            ConnState::SctpCookieWait => "C-WAIT",
            ConnState::SctpCookie => "COOKIE",
            ConnState::SctpCookieEchoed => "C-ECHOED",
            ConnState::SctpShutdownSent => "S-SENT",
            ConnState::SctpShutdownReceived => "S-RECEIVED",
            ConnState::SctpShutdownAckSent => "S-ACK-SENT",
            ConnState::SctpRejected => "REJECTED",
            ConnState::SctpClosed => "CLOSED",
        }
    }

    /// The state of IPVS's number `n` (`IP_VS_TCP_S_*`, the order of this enum), as sync
    /// records carry it.
    pub fn from_ipvs(n: u16) -> Option<ConnState> {
        use ConnState::*;
        [None, Established, SynSent, SynRecv, FinWait, TimeWait, Close, CloseWait, LastAck, Listen, SynAck]
            .get(usize::from(n))
            .copied()
    }

    /// Seconds a connection in this state lives without packets. ESTABLISHED, FIN_WAIT and UDP
    /// come from `--set` (an SCTP association's ESTABLISHED too: IPVS's is a fixed 900 s, the
    /// same as `--set`'s default); the rest are IPVS's fixed defaults.
    pub fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            ConnState::None => 2,
            ConnState::Established => t.tcp,
            ConnState::SynSent => 120,
            ConnState::SynRecv => 60,
            ConnState::FinWait => t.tcpfin,
            ConnState::TimeWait => 120,
            ConnState::Close => 10,
            ConnState::CloseWait => 60,
            ConnState::LastAck => 30,
            ConnState::Listen => 120,
            ConnState::SynAck => 120,
            ConnState::Udp => t.udp,
            ConnState::SctpInit1 | ConnState::SctpRejected => 4,
            // IPVS's IP_VS_SCTP_MAX_RTO: (60 + 1) s.
            _ => 61,
        }
    }
}

/// Which way a segment travels, and so which IPVS table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server, on a connection whose replies we see (NAT after the first reply).
    Input,
    /// Server to client (NAT replies).
    Output,
    /// Client to server on a connection whose replies we never (yet) saw.
    InputOnly,
}

use ConnState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI, SynRecv as SR,
    SynSent as SS, TimeWait as TW,
};

/// Rows: syn, fin, ack, rst. Columns: the current state in the order NO ES SS SR FW TW CL CW
/// LA LI SA. Transcribed from IPVS's `tcp_states`.
const INPUT: [[ConnState; 11]; 4] = [
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];
const OUTPUT: [[ConnState; 11]; 4] = [
    [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];
const INPUT_ONLY: [[ConnState; 11]; 4] = [
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// The state after a segment with TCP flags `tcp_flags` travelling in `dir`.
#[inline]
pub fn next_tcp_state(cur: ConnState, dir: Direction, tcp_flags: u8) -> ConnState {
    let row = if tcp_flags & flags::RST != 0 {
        3
    } else if tcp_flags & flags::SYN != 0 {
        0
    } else if tcp_flags & flags::FIN != 0 {
        1
    } else if tcp_flags & flags::ACK != 0 {
        2
    } else {
        4 // no flag of the four: CLOSE (IPVS)
    };
    let col = cur as usize;
    if col >= 11 {
        return cur; // UDP never takes TCP transitions
    }
    if row == 4 {
        return ConnState::Close;
    }
    let table = match dir {
        Direction::Input => &INPUT,
        Direction::Output => &OUTPUT,
        Direction::InputOnly => &INPUT_ONLY,
    };
    table[row][col]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};

    fn walk(dir_flags: &[(Direction, u8)]) -> Vec<ConnState> {
        let mut s = ConnState::None;
        dir_flags
            .iter()
            .map(|&(d, f)| {
                s = next_tcp_state(s, d, f);
                s
            })
            .collect()
    }

    #[test]
    fn nat_handshake_data_and_close_from_the_client() {
        use Direction::*;
        let states = walk(&[
            (InputOnly, SYN),    // client SYN: not yet seen a reply
            (Output, SYN | ACK), // server SYN-ACK
            (Input, ACK),        // client ACK
            (Input, ACK),        // data
            (Input, FIN | ACK),  // client closes
            (Output, ACK),       // server acks
            (Output, FIN | ACK), // server closes
            (Input, ACK),        // last ack
        ]);
        assert_eq!(states, vec![SR, SR, ES, ES, CW, CW, TW, TW]);
    }

    #[test]
    fn dr_tun_see_only_the_client_half() {
        use Direction::InputOnly;
        let states = walk(&[(InputOnly, SYN), (InputOnly, ACK), (InputOnly, FIN | ACK), (InputOnly, ACK)]);
        assert_eq!(states, vec![SR, ES, FW, FW]);
    }

    #[test]
    fn rst_wins_over_other_flags_and_no_flags_closes() {
        assert_eq!(next_tcp_state(ES, Direction::Input, RST | ACK | SYN), CL);
        assert_eq!(next_tcp_state(ES, Direction::Input, 0), CL, "no flags: CLOSE, as IPVS");
        assert_eq!(next_tcp_state(ES, Direction::Input, SYN | FIN), ES, "SYN|FIN is a SYN");
        assert_eq!(next_tcp_state(ConnState::Udp, Direction::Input, SYN), ConnState::Udp);
        // In SYN_RECV a client RST keeps SYN_RECV in INPUT (IPVS guards against forged RSTs) ...
        assert_eq!(next_tcp_state(SR, Direction::Input, RST), SR);
        // ... and a SYN on a closed connection reopens it.
        assert_eq!(next_tcp_state(CL, Direction::Input, SYN), SR);
    }

    #[test]
    fn timeouts_follow_set_and_ipvs_defaults() {
        let t = Timeouts { tcp: 901, tcpfin: 121, udp: 301 };
        assert_eq!(ES.timeout(&t), 901);
        assert_eq!(FW.timeout(&t), 121);
        assert_eq!(ConnState::Udp.timeout(&t), 301);
        assert_eq!(SR.timeout(&t), 60);
        assert_eq!(TW.timeout(&t), 120);
        assert_eq!(CL.timeout(&t), 10);
        assert_eq!(ConnState::None.timeout(&t), 2);
    }
}
