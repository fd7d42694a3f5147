//! rvs's TCP state tracking cell by cell against IPVS's `tcp_states`
//! (net/netfilter/ipvs/ip_vs_proto_tcp.c), transcribed here in IPVS's own notation, and the
//! rules around the tables: flag precedence, segments without flags, NOOUTPUT only for
//! non-NAT real servers, which segments start or reuse a connection.

mod common;

use common::*;
use rvs_core::conn::{next_tcp_state, ConnState, Direction};
use rvs_core::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN};

const URG: u8 = 0x20;
use rvs_core::{DropReason, Pipeline, VecFrame, Verdict};

/// IPVS's table, rows syn fin ack rst, columns sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA.
const IPVS_TCP_STATES: &str = "
INPUT
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR }},
OUTPUT
/*syn*/ {{sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR }},
/*fin*/ {{sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW }},
/*ack*/ {{sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES }},
/*rst*/ {{sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL }},
INPUT-ONLY
/*syn*/ {{sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR }},
/*fin*/ {{sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW }},
/*ack*/ {{sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES }},
/*rst*/ {{sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL }},
";

fn state(name: &str) -> ConnState {
    match name {
        "sNO" => ConnState::None,
        "sES" => ConnState::Established,
        "sSS" => ConnState::SynSent,
        "sSR" => ConnState::SynRecv,
        "sFW" => ConnState::FinWait,
        "sTW" => ConnState::TimeWait,
        "sCL" => ConnState::Close,
        "sCW" => ConnState::CloseWait,
        "sLA" => ConnState::LastAck,
        "sLI" => ConnState::Listen,
        "sSA" => ConnState::SynAck,
        other => panic!("unknown IPVS state {other}"),
    }
}

const COLUMNS: [&str; 11] = ["sNO", "sES", "sSS", "sSR", "sFW", "sTW", "sCL", "sCW", "sLA", "sLI", "sSA"];

#[test]
fn every_cell_of_the_three_tables_matches_ipvs() {
    let mut dir = Direction::Input;
    let mut cells = 0;
    for line in IPVS_TCP_STATES.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line {
            "INPUT" => dir = Direction::Input,
            "OUTPUT" => dir = Direction::Output,
            "INPUT-ONLY" => dir = Direction::InputOnly,
            _ => {
                let (event, rest) = line.split_once("*/").unwrap();
                let flags = match event.trim_start_matches("/*") {
                    "syn" => SYN,
                    "fin" => FIN,
                    "ack" => ACK,
                    "rst" => RST,
                    e => panic!("unknown event {e}"),
                };
                let next: Vec<&str> = rest.trim_matches(|c| " {},".contains(c)).split(',').map(str::trim).collect();
                assert_eq!(next.len(), 11);
                for (col, want) in COLUMNS.iter().zip(&next) {
                    let got = next_tcp_state(state(col), dir, flags);
                    assert_eq!(got, state(want), "{dir:?} {event}*/ from {col}");
                    cells += 1;
                }
            }
        }
    }
    assert_eq!(cells, 3 * 4 * 11);
}

#[test]
fn flag_precedence_and_segments_without_flags() {
    for dir in [Direction::Input, Direction::Output, Direction::InputOnly] {
        for col in COLUMNS {
            let s = state(col);
            // RST beats everything, SYN beats FIN and ACK, FIN beats ACK; PSH/URG do not count.
            assert_eq!(next_tcp_state(s, dir, RST | SYN | FIN | ACK), next_tcp_state(s, dir, RST));
            assert_eq!(next_tcp_state(s, dir, SYN | FIN), next_tcp_state(s, dir, SYN), "SYN|FIN from {col}");
            assert_eq!(next_tcp_state(s, dir, FIN | ACK | PSH), next_tcp_state(s, dir, FIN));
            assert_eq!(next_tcp_state(s, dir, ACK | PSH | URG), next_tcp_state(s, dir, ACK));
            // No SYN/FIN/ACK/RST: IPVS's set_tcp_state leaves new_state at CLOSE.
            assert_eq!(next_tcp_state(s, dir, 0), ConnState::Close, "no flags from {col}");
            assert_eq!(next_tcp_state(s, dir, PSH | URG), ConnState::Close, "PSH|URG only from {col}");
        }
    }
    assert_eq!(next_tcp_state(ConnState::Udp, Direction::Input, 0), ConnState::Udp, "UDP never takes TCP states");
}

fn state_of(p: &Pipeline, cport: u16) -> &'static str {
    p.connections().iter().find(|(_, c)| c.cport == cport).map(|(_, c)| c.state.name()).unwrap_or("gone")
}

fn send(p: &mut Pipeline, frame: Vec<u8>) -> Verdict {
    p.process(1_000_000, 0, &mut VecFrame::new(&frame))
}

#[test]
fn a_nat_connection_uses_the_input_table_from_its_first_packet_dr_the_input_only_one() {
    // IPVS sets NOOUTPUT only for non-NAT dests: before any reply, a client FIN on an
    // established NAT connection gives CLOSE_WAIT (INPUT), on DR FIN_WAIT (INPUT-ONLY).
    let mut p = pipeline();
    for vip in [VIP_NAT, VIP_DR] {
        let c = from_client(vip);
        assert_eq!(send(&mut p, c.tcp(41000, 80, SYN, 1, b"")), Verdict::Forward(1));
        assert_eq!(send(&mut p, c.tcp(41000, 80, ACK, 2, b"")), Verdict::Forward(1));
    }
    let nat = |p: &Pipeline| {
        p.connections().iter().find(|(_, c)| c.vaddr == u32::from(VIP_NAT)).map(|(_, c)| c.state.name()).unwrap()
    };
    let dr = |p: &Pipeline| {
        p.connections().iter().find(|(_, c)| c.vaddr == u32::from(VIP_DR)).map(|(_, c)| c.state.name()).unwrap()
    };
    assert_eq!((nat(&p), dr(&p)), ("ESTABLISHED", "ESTABLISHED"));
    send(&mut p, from_client(VIP_NAT).tcp(41000, 80, FIN | ACK, 3, b""));
    send(&mut p, from_client(VIP_DR).tcp(41000, 80, FIN | ACK, 3, b""));
    assert_eq!((nat(&p), dr(&p)), ("CLOSE_WAIT", "FIN_WAIT"));
}

#[test]
fn a_segment_without_flags_closes_the_connection() {
    let mut p = pipeline();
    let c = from_client(VIP_DR);
    send(&mut p, c.tcp(41001, 80, SYN, 1, b""));
    send(&mut p, c.tcp(41001, 80, ACK, 2, b""));
    assert_eq!(state_of(&p, 41001), "ESTABLISHED");
    assert_eq!(p.loads()[3].active, 1);
    assert_eq!(send(&mut p, c.tcp(41001, 80, 0, 3, b"x")), Verdict::Forward(1), "still forwarded");
    assert_eq!(state_of(&p, 41001), "CLOSE");
    assert_eq!((p.loads()[3].active, p.loads()[3].inactive), (0, 1), "no longer active");
}

#[test]
fn which_segments_start_a_connection_and_which_reuse_a_time_wait_one() {
    let mut p = pipeline();
    let c = from_client(VIP_DR);
    // IPVS's tcp_conn_schedule: SYN without RST, even with ACK (active FTP) or FIN.
    assert_eq!(send(&mut p, c.tcp(42000, 80, SYN | ACK, 1, b"")), Verdict::Forward(1));
    assert_eq!(send(&mut p, c.tcp(42001, 80, SYN | FIN, 1, b"")), Verdict::Forward(1));
    assert_eq!(send(&mut p, c.tcp(42002, 80, SYN | RST, 1, b"")), Verdict::Drop(DropReason::NoConnection));
    assert_eq!(send(&mut p, c.tcp(42003, 80, ACK, 1, b"")), Verdict::Drop(DropReason::NoConnection));
    assert_eq!(send(&mut p, c.tcp(42004, 80, 0, 1, b"")), Verdict::Drop(DropReason::NoConnection));
    assert_eq!(p.counters().new_conns, 2);
    // Drive 42000 to TIME_WAIT (INPUT-ONLY: SR -ack-> ES -fin-> FW -rst..., use fin from SR: TW).
    send(&mut p, c.tcp(42000, 80, FIN, 2, b""));
    assert_eq!(state_of(&p, 42000), "TIME_WAIT");
    // Reuse (IPVS's is_new_conn): a pure SYN only. SYN|FIN on TIME_WAIT follows the table.
    send(&mut p, c.tcp(42000, 80, SYN | FIN, 3, b""));
    assert_eq!(p.counters().new_conns, 2, "SYN|FIN does not reschedule");
    assert_eq!(state_of(&p, 42000), "SYN_RECV", "table: TIME_WAIT -syn-> SYN_RECV");
    send(&mut p, c.tcp(42000, 80, FIN, 4, b""));
    assert_eq!(state_of(&p, 42000), "TIME_WAIT");
    send(&mut p, c.tcp(42000, 80, SYN, 5, b""));
    assert_eq!(p.counters().new_conns, 3, "a pure SYN on TIME_WAIT is a new connection");
}
