//! Scheduler flags (`ipvsadm -b`), with IPVS's bits (`IP_VS_SVC_F_SCHED1..3` in
//! `include/uapi/linux/ip_vs.h`) and ipvsadm's names: for sh, `sh-fallback` (flag-1) and
//! `sh-port` (flag-2); for mh, `mh-fallback` and `mh-port`; `flag-1..3` for any scheduler.
//!
//! `*-port` hashes the client's port with its address, so one client's connections spread
//! over the servers. `*-fallback` sends a client whose server is unavailable (weight 0, or
//! over its `-x` threshold) to the next one; rvs's sh and mh always do (see `LVS.md`:
//! hashing schedulers skip a server whose weight is 0), so the flag is kept and shown for
//! ipvsadm and keepalived configurations, and changes nothing.

/// `IP_VS_SVC_F_SCHED1`: sh-fallback / mh-fallback.
pub const FLAG_1: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED2`: sh-port / mh-port.
pub const FLAG_2: u32 = 0x0010;
/// `IP_VS_SVC_F_SCHED3`.
pub const FLAG_3: u32 = 0x0020;
/// Every scheduler flag bit.
pub const ALL: u32 = FLAG_1 | FLAG_2 | FLAG_3;

/// The names of flag-1 and flag-2 for scheduler `sched` (ipvsadm's).
fn names(sched: &str) -> [&'static str; 3] {
    match sched {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    }
}

/// Parses ipvsadm's `-b` argument (comma-separated names) for scheduler `sched`, as ipvsadm
/// does: `sh-*` only with sh, `mh-*` only with mh.
pub fn parse(sched: &str, text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        flags |= match name {
            "flag-1" => FLAG_1,
            "flag-2" => FLAG_2,
            "flag-3" => FLAG_3,
            "sh-fallback" | "sh-port" | "mh-fallback" | "mh-port" if name.split('-').next() != Some(sched) => {
                return Err(format!("incompatible scheduler flag `{name}' (for the {sched} scheduler)"))
            }
            "sh-fallback" | "mh-fallback" => FLAG_1,
            "sh-port" | "mh-port" => FLAG_2,
            other => return Err(format!("invalid scheduler flag `{other}'")),
        };
    }
    Ok(flags)
}

/// The flags as ipvsadm lists them (`sh-fallback,sh-port`), empty when none.
pub fn format(sched: &str, flags: u32) -> String {
    let n = names(sched);
    [FLAG_1, FLAG_2, FLAG_3]
        .iter()
        .zip(n)
        .filter(|(bit, _)| flags & **bit != 0)
        .map(|(_, name)| name)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_as_ipvsadm() {
        assert_eq!(parse("mh", "mh-fallback,mh-port"), Ok(FLAG_1 | FLAG_2));
        assert_eq!(parse("sh", "sh-port"), Ok(FLAG_2));
        assert_eq!(parse("wlc", "flag-3"), Ok(FLAG_3));
        assert_eq!(parse("mh", ""), Ok(0));
        assert!(parse("mh", "sh-port").unwrap_err().contains("incompatible scheduler flag `sh-port'"));
        assert!(parse("wlc", "mh-port").unwrap_err().contains("incompatible"));
        assert!(parse("mh", "mh-sloppy").unwrap_err().contains("invalid scheduler flag `mh-sloppy'"));
        assert_eq!(format("mh", FLAG_1 | FLAG_2), "mh-fallback,mh-port");
        assert_eq!(format("sh", FLAG_2 | FLAG_3), "sh-port,flag-3");
        assert_eq!(format("rr", FLAG_1), "flag-1");
        assert_eq!(format("mh", 0), "");
    }
}
