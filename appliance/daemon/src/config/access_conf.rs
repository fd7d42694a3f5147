//! Allow and deny lists in rvs.toml (`[access]`, and per service): prefixes given inline
//! (`deny = ["192.0.2.0/24"]`) and files of prefixes (`deny_files = ["/etc/rvs/threats.txt"]`:
//! one a line, `#` comments; a relative path is the configuration file's directory's). Every
//! error names the key, and a file's its line.

use super::{ConfigFileError, Ctx};
use rvs_core::access::{parse_list, parse_prefix, Access, AccessList};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

type Keys<'a> = (&'a Option<Spanned<Vec<String>>>, &'a Option<Spanned<Vec<String>>>);

impl Ctx<'_> {
    /// A scope's lists from its `[allow, allow_files]` and `[deny, deny_files]` keys (`key`
    /// names a key in messages).
    pub(super) fn access_lists(
        &self,
        [allow, deny]: [Keys<'_>; 2],
        key: &dyn Fn(&str) -> String,
    ) -> Result<Access, ConfigFileError> {
        Ok(Access {
            allow: self.access_list(allow, "allow", key)?,
            deny: self.access_list(deny, "deny", key)?,
            ..Default::default()
        })
    }

    /// A service's `client_limit` (`max_conns`, `rate`, `prefix` (32), `prefix6` (64), `over`:
    /// `drop` or `rst`); absent: none.
    pub(super) fn client_limit(
        &self,
        raw: Option<&Spanned<super::raw::RawClientLimit>>,
        si: usize,
    ) -> Result<rvs_core::access::ClientLimit, ConfigFileError> {
        let Some(raw) = raw else { return Ok(Default::default()) };
        let (r, span) = (raw.get_ref(), raw.span());
        let key = format!("service[{si}].client_limit");
        let bad = |msg: String| Err(self.err(span.clone(), key.clone(), msg));
        if r.max_conns == 0 && r.rate == 0 {
            return bad("give max_conns, rate or both (each above 0)".into());
        }
        let (prefix4, prefix6) = (r.prefix.unwrap_or(32), r.prefix6.unwrap_or(64));
        if prefix4 > 32 || prefix6 > 128 {
            return bad(format!("prefix /{prefix4} or prefix6 /{prefix6} is longer than the address"));
        }
        let reset = match r.over.as_deref() {
            None | Some("drop") => false,
            Some("rst") => true,
            Some(o) => return bad(format!("over = {o:?}: drop or rst")),
        };
        Ok(rvs_core::access::ClientLimit { max_conns: r.max_conns, rate: r.rate, prefix4, prefix6, reset })
    }

    fn access_list(
        &self,
        (inline, files): Keys<'_>,
        name: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Arc<AccessList>>, ConfigFileError> {
        if inline.is_none() && files.is_none() {
            return Ok(None);
        }
        let mut prefixes: Vec<(IpAddr, u8)> = Vec::new();
        if let Some(list) = inline {
            for p in list.get_ref() {
                prefixes.push(parse_prefix(p).map_err(|e| self.err(list.span(), key(name), e))?);
            }
        }
        if let Some(files) = files {
            let files_key = key(&format!("{name}_files"));
            for f in files.get_ref() {
                let path = Path::new(self.file).parent().unwrap_or(Path::new(".")).join(f);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| self.err(files.span(), files_key.clone(), format!("{}: {e}", path.display())))?;
                let got = parse_list(&text).map_err(|(line, e)| {
                    self.err(files.span(), files_key.clone(), format!("{}:{line}: {e}", path.display()))
                })?;
                prefixes.extend(got);
            }
        }
        Ok(Some(Arc::new(AccessList::new(&prefixes))))
    }
}
