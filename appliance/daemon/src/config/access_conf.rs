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
        Ok(Access { allow: self.access_list(allow, "allow", key)?, deny: self.access_list(deny, "deny", key)? })
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
