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
    mss: Option<Spanned<u16>>,
    ttl: Option<Spanned<u8>>,
    wscale: Option<Spanned<u8>>,
    sack: Option<bool>,
    timestamps: Option<bool>,
    window: Option<Spanned<u16>>,
    rs_syn_max_retry: Option<Spanned<u8>>,
    ack_storm_thresh: Option<u16>,
}

impl Ctx<'_> {
    /// The SYN proxy's policy from `[synproxy]`.
    pub(super) fn synproxy(&self, raw: Option<&Spanned<RawSynProxy>>) -> Result<SynProxyPolicy, ConfigFileError> {
        let mut p = SynProxyPolicy::default();
        let Some(r) = raw else { return Ok(p) };
        let (span, r) = (r.span(), r.get_ref());
        p.mss = val(&r.mss, p.mss);
        p.ttl = val(&r.ttl, p.ttl);
        p.wscale = val(&r.wscale, p.wscale);
        p.sack = r.sack.unwrap_or(p.sack);
        p.timestamps = r.timestamps.unwrap_or(p.timestamps);
        p.window = val(&r.window, p.window);
        p.rs_syn_max_retry = val(&r.rs_syn_max_retry, p.rs_syn_max_retry);
        p.ack_storm_thresh = r.ack_storm_thresh.unwrap_or(p.ack_storm_thresh);
        p.check().map_err(|msg| {
            // The message starts with the field's name: the error points at its value.
            let field = msg.split(' ').next().unwrap_or("").to_owned();
            let at = match field.as_str() {
                "mss" => r.mss.as_ref().map(|x| x.span()),
                "ttl" => r.ttl.as_ref().map(|x| x.span()),
                "wscale" => r.wscale.as_ref().map(|x| x.span()),
                "window" => r.window.as_ref().map(|x| x.span()),
                "rs_syn_max_retry" => r.rs_syn_max_retry.as_ref().map(|x| x.span()),
                _ => None,
            };
            self.err(at.unwrap_or(span), format!("synproxy.{field}"), msg)
        })?;
        Ok(p)
    }
}

/// A key's value, or `default` without it.
fn val<T: Copy>(f: &Option<Spanned<T>>, default: T) -> T {
    f.as_ref().map_or(default, |x| *x.get_ref())
}
