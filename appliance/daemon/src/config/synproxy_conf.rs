//! `[synproxy]` in rvs.toml: the SYN proxy's answers and limits (DPVS's `synproxy` block in
//! dpvs.conf), every key optional with [`SynProxyPolicy::default`]'s value; an out-of-range
//! value is refused with its key named.

use super::{ConfigFileError, Ctx};
use rvs_core::synproxy::SynProxyPolicy;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSynProxy {
    mss: Option<u16>,
    ttl: Option<u8>,
    wscale: Option<u8>,
    sack: Option<bool>,
    timestamps: Option<bool>,
    window: Option<u16>,
    rs_syn_max_retry: Option<u8>,
    ack_storm_thresh: Option<u16>,
}

impl Ctx<'_> {
    /// The SYN proxy's policy from `[synproxy]`.
    pub(super) fn synproxy(&self, raw: Option<&Spanned<RawSynProxy>>) -> Result<SynProxyPolicy, ConfigFileError> {
        let mut p = SynProxyPolicy::default();
        let Some(r) = raw else { return Ok(p) };
        let (span, r) = (r.span(), r.get_ref());
        p.mss = r.mss.unwrap_or(p.mss);
        p.ttl = r.ttl.unwrap_or(p.ttl);
        p.wscale = r.wscale.unwrap_or(p.wscale);
        p.sack = r.sack.unwrap_or(p.sack);
        p.timestamps = r.timestamps.unwrap_or(p.timestamps);
        p.window = r.window.unwrap_or(p.window);
        p.rs_syn_max_retry = r.rs_syn_max_retry.unwrap_or(p.rs_syn_max_retry);
        p.ack_storm_thresh = r.ack_storm_thresh.unwrap_or(p.ack_storm_thresh);
        p.check().map_err(|msg| {
            let field = msg.split(' ').next().unwrap_or("").to_owned();
            self.err(span, format!("synproxy.{field}"), msg)
        })?;
        Ok(p)
    }
}
