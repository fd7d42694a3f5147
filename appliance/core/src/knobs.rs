//! IPVS's sysctl knobs that change what the dataplane does with a packet
//! (`Documentation/networking/ipvs-sysctl.rst`), each with IPVS's default and meaning. The
//! daemon sets them from rvs.toml's `[ipvs]` and `rvsadm --set-knob`; the knobs of other
//! parts (sloppy_tcp, sync_persist_mode) live with those parts.

use crate::conn::entry::{F_NO_OUTPUT, F_PERSIST};
use crate::conn::{Conn, ConnState};
use crate::family::AddrKey;
use crate::wire::ipv4::protocol;

/// The dataplane's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// `conn_reuse_mode` (default 1), a bitmap. 0: a SYN that reuses the ports of an old
    /// connection goes to the old connection's real server. Bit 1: it is scheduled afresh when
    /// that is safe: the old TCP connection is in TIME_WAIT or CLOSE. Bit 2: also in FIN_WAIT
    /// when only the client's half is seen (DR, TUN), the last state such a connection shows.
    /// A connection placed by a persistence template is never rescheduled (IPVS's
    /// `cp->control`): its template decides.
    pub conn_reuse_mode: u8,
    /// `expire_quiescent_template` (default 0). 1: a persistence template whose real server
    /// has weight 0 is dropped when a client of its network comes back, which is then
    /// scheduled afresh; 0: the template keeps sending its clients to the quiesced server.
    pub expire_quiescent_template: bool,
    /// `nat_icmp_send` (default 0). 1: a packet from a NAT real server that no connection
    /// expects (not a TCP RST) gets ICMP port unreachable back, so the server's stack gives
    /// up at once; 0: it goes on as traffic not for a VIP (the kernel, or dropped).
    pub nat_icmp_send: bool,
    /// `ignore_tunneled` (default 0). 1: packets to a VIP of a protocol rvs does not balance
    /// (IPIP, GRE, ...) go to the kernel, so a director that is also a real server can
    /// decapsulate them itself; 0: they are dropped and counted (`unsupported_protocol`).
    pub ignore_tunneled: bool,
    /// `backup_only` (default 0). 1: while the sync backup role runs, this director makes
    /// no new connection (IPVS: "disable the director function while the server is in backup
    /// mode to avoid packet loops for DR/TUN methods"). The daemon applies it to the VIPs it
    /// serves.
    pub backup_only: bool,
    /// `expire_nodest_conn`: what becomes of a connection whose real server was deleted, at
    /// its next packet. 0 (IPVS's default): the packet is dropped silently and the entry stays
    /// until it expires (the server may come back from the trash). 1: the entry expires at once
    /// (the packet is dropped; the client's next packet finds no entry and, if it may start one,
    /// is scheduled afresh). 2 (rvs's default): the connection keeps going to the deleted
    /// server's address until it ends, so deleting a server drains it (what rvs did before the
    /// knob, and what `--drain --deadline` leaves running). Synced connections whose server this
    /// director never had (IPVS's unbound ones) always keep going.
    pub expire_nodest_conn: u8,
    /// `schedule_icmp` (default 0). 1: an ICMP error to a VIP that quotes a packet of no
    /// connection here (a router's frag-needed for a flow another director of an ECMP group
    /// holds, or a DR flow) is scheduled as the quoted flow's client packet would be and sent
    /// to that real server (IPVS schedules it as a new connection; rvs makes no entry for it);
    /// 0: it is dropped (`icmp_unmatched`).
    pub schedule_icmp: bool,
    /// `sloppy_sctp` (default 0). 1: an SCTP packet other than INIT (or ABORT) may start an
    /// association of a service with a hash scheduler, so a director that takes over a flow
    /// (ECMP, failover without sync) forwards it to the real server the hash picks; 0: only an
    /// INIT starts one.
    pub sloppy_sctp: bool,
    /// `sync_version` (default 1): the connection sync protocol the master role sends, 1 or
    /// 0 (kernels before 2.6.39: IPv4 only, no timeouts); a backup reads both. The daemon
    /// applies it to its sync role.
    pub sync_version: u8,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            conn_reuse_mode: 1,
            expire_quiescent_template: false,
            nat_icmp_send: false,
            ignore_tunneled: false,
            backup_only: false,
            expire_nodest_conn: 2,
            schedule_icmp: false,
            sloppy_sctp: false,
            sync_version: 1,
        }
    }
}

/// The knobs' names, as the sysctls are named.
pub const NAMES: &[&str] = &[
    "conn_reuse_mode",
    "expire_quiescent_template",
    "nat_icmp_send",
    "ignore_tunneled",
    "pmtu_disc",
    "backup_only",
    "expire_nodest_conn",
    "schedule_icmp",
    "sloppy_sctp",
    "sync_version",
];

impl Knobs {
    /// Sets knob `name` from `value` as the sysctl would take it; an error names the range.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let int = |lo: u32, hi: u32| -> Result<u32, String> {
            value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| format!("{name}: {value:?} is not {lo}..={hi}"))
        };
        match name {
            "conn_reuse_mode" => self.conn_reuse_mode = int(0, 3)? as u8,
            "expire_quiescent_template" => self.expire_quiescent_template = int(0, 1)? == 1,
            "nat_icmp_send" => self.nat_icmp_send = int(0, 1)? == 1,
            "ignore_tunneled" => self.ignore_tunneled = int(0, 1)? == 1,
            "backup_only" => self.backup_only = int(0, 1)? == 1,
            "expire_nodest_conn" => self.expire_nodest_conn = int(0, 2)? as u8,
            "schedule_icmp" => self.schedule_icmp = int(0, 1)? == 1,
            "sloppy_sctp" => self.sloppy_sctp = int(0, 1)? == 1,
            "sync_version" => self.sync_version = int(0, 1)? as u8,
            // IPVS fragments with 0; rvs never fragments, so only 1 (its default) is taken.
            "pmtu_disc" => {
                if int(0, 1)? == 0 {
                    return Err("pmtu_disc: 0 (fragment instead of ICMP) is refused: rvs does not fragment".into());
                }
            }
            other => return Err(format!("{other:?}: no such knob here")),
        }
        Ok(())
    }

    /// Knob `name`'s value, as the sysctl prints it.
    pub fn get(&self, name: &str) -> Option<u32> {
        Some(match name {
            "conn_reuse_mode" => u32::from(self.conn_reuse_mode),
            "expire_quiescent_template" => u32::from(self.expire_quiescent_template),
            "nat_icmp_send" => u32::from(self.nat_icmp_send),
            "ignore_tunneled" => u32::from(self.ignore_tunneled),
            "backup_only" => u32::from(self.backup_only),
            "expire_nodest_conn" => u32::from(self.expire_nodest_conn),
            "schedule_icmp" => u32::from(self.schedule_icmp),
            "sloppy_sctp" => u32::from(self.sloppy_sctp),
            "sync_version" => u32::from(self.sync_version),
            "pmtu_disc" => 1,
            _ => return None,
        })
    }

    /// IPVS's `is_new_conn_expected` under `conn_reuse_mode`: a SYN (an SCTP INIT) arriving
    /// on connection `c` starts a new connection, scheduled afresh — for TCP after TIME_WAIT or
    /// CLOSE (and FIN_WAIT with bit 2), for SCTP once the old association is CLOSED.
    #[inline]
    pub fn reschedules<K: AddrKey>(&self, c: &Conn<K>) -> bool {
        if self.conn_reuse_mode == 0 || c.flags & F_PERSIST != 0 {
            return false;
        }
        if c.proto == protocol::SCTP {
            return c.state == ConnState::SctpClosed;
        }
        if c.proto != protocol::TCP {
            return false;
        }
        matches!(c.state, ConnState::TimeWait | ConnState::Close)
            || (self.conn_reuse_mode & 2 != 0 && c.state == ConnState::FinWait && c.flags & F_NO_OUTPUT != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_take_the_sysctls_ranges() {
        let mut k = Knobs::default();
        assert_eq!(
            (k.get("conn_reuse_mode"), k.get("expire_quiescent_template")),
            (Some(1), Some(0)),
            "IPVS's defaults"
        );
        k.set("conn_reuse_mode", "2").unwrap();
        k.set("expire_quiescent_template", "1").unwrap();
        assert_eq!((k.conn_reuse_mode, k.expire_quiescent_template), (2, true));
        assert!(k.set("conn_reuse_mode", "4").unwrap_err().contains("0..=3"));
        assert!(k.set("expire_quiescent_template", "yes").is_err());
        assert!(k.set("am_i_a_knob", "1").is_err());
        assert!(k.set("pmtu_disc", "0").unwrap_err().contains("does not fragment"));
        k.set("pmtu_disc", "1").unwrap();
    }
}
