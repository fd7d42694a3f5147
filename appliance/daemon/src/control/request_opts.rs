//! A request's service and real-server options turned into the control plane's own
//! ([`SvcOpts`], [`RealOpts`]), each field checked and named when it is wrong.

use super::live_config::{RealOpts, SvcOpts};
use super::proto::{bad, BadRequest};
use rvs_core::service::Forward;

/// Service options from a request.
pub fn svc_opts(
    scheduler: &Option<String>,
    sched_flags: &Option<String>,
    persistence: Option<u32>,
    netmask: &Option<String>,
    ops: Option<bool>,
    pe: &Option<String>,
    lports: &Option<String>,
) -> Result<SvcOpts, BadRequest> {
    let pe_sip = match pe.as_deref() {
        None => None,
        Some("sip") => Some(true),
        Some("none") | Some("") => Some(false),
        Some(other) => return Err(bad("pe", format!("{other:?}: the persistence engine is sip (or none)"))),
    };
    let netmask = match netmask {
        None => None,
        // A dotted IPv4 netmask or a prefix length (ipvsadm's `-M` for IPv6); the service's
        // family bounds it when it is applied.
        Some(m) => Some(
            crate::config::persistence_netmask(m, false)
                .or_else(|| crate::config::persistence_netmask(m, true))
                .ok_or_else(|| bad("netmask", format!("{m:?} is not a netmask or a prefix length")))?,
        ),
    };
    let lports =
        lports.as_deref().map(crate::config::laddr_conf::parse_lports).transpose().map_err(|e| bad("lports", e))?;
    Ok(SvcOpts {
        scheduler: scheduler.clone(),
        sched_flags: sched_flags.clone(),
        persistence,
        netmask,
        ops,
        pe_sip,
        lports,
        toa: None,
        proxy_protocol: None,
        uoa: None,
        synproxy: None,
    })
}

/// A real server's drain and slow start as a request gives them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LifeArgs {
    /// `--slow-start`.
    pub slow_start: Option<u32>,
    /// `--drain`.
    pub drain: bool,
    /// `--deadline`.
    pub deadline: Option<u32>,
}

/// A real server's tunnel options as a request gives them.
#[derive(Debug, Clone, Default)]
pub struct TunArgs {
    /// `--tun-type`.
    pub kind: Option<String>,
    /// `--tun-port`.
    pub port: Option<u16>,
    /// `nocsum`, `csum` or `remcsum`.
    pub csum: Option<String>,
}

impl TunArgs {
    /// The tunnel the options describe (None: none given).
    pub fn tunnel(&self) -> Result<Option<rvs_core::service::Tunnel>, BadRequest> {
        use rvs_core::service::{Tunnel, TunnelCsum, TunnelKind};
        if self.kind.is_none() && self.port.is_none() && self.csum.is_none() {
            return Ok(None);
        }
        let kind = match &self.kind {
            None => TunnelKind::Ipip,
            Some(k) => k.parse().map_err(|e: rvs_core::service::UnknownName| bad("tun-type", e.to_string()))?,
        };
        let csum = match self.csum.as_deref() {
            None | Some("nocsum") => TunnelCsum::NoCsum,
            Some("csum") => TunnelCsum::Csum,
            Some("remcsum") => TunnelCsum::RemCsum,
            Some(o) => return Err(bad("tun-csum", format!("{o:?}: nocsum, csum or remcsum"))),
        };
        Ok(Some(Tunnel { kind, port: self.port.unwrap_or(0), csum }))
    }
}

/// Real-server options from a request.
pub fn real_opts(
    forward: &Option<String>,
    weight: Option<u32>,
    thresholds: (Option<u32>, Option<u32>),
    life: LifeArgs,
    tun: &TunArgs,
) -> Result<RealOpts, BadRequest> {
    let forward =
        forward.as_deref().map(str::parse::<Forward>).transpose().map_err(|e| bad("forward", e.to_string()))?;
    if life.deadline.is_some() && !life.drain {
        return Err(bad("deadline", "--deadline goes with --drain"));
    }
    Ok(RealOpts {
        forward,
        weight,
        u_threshold: thresholds.0,
        l_threshold: thresholds.1,
        slow_start: life.slow_start,
        drain: life.drain.then_some(life.deadline),
        tunnel: tun.tunnel()?,
    })
}
