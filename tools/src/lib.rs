//! Helpers shared by rvs's tools.

/// Replaces the generated section `group` of a markdown document (between
/// `<!-- BEGIN group -->` and `<!-- END group -->`, markers included) with `body`, which must
/// carry the markers; appends it when the document has no such section.
pub fn replace_section(doc: &mut String, group: &str, body: &str) {
    let (b, e) = (format!("<!-- BEGIN {group} -->"), format!("<!-- END {group} -->"));
    match (doc.find(&b), doc.find(&e)) {
        (Some(i), Some(j)) if j > i => {
            let end = (j + e.len() + 1).min(doc.len());
            doc.replace_range(i..end, body);
        }
        _ => {
            doc.push('\n');
            doc.push_str(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_place_or_appends() {
        let mut d = "# t\n<!-- BEGIN g -->\nold\n<!-- END g -->\ntail\n".to_owned();
        replace_section(&mut d, "g", "<!-- BEGIN g -->\nnew\n<!-- END g -->\n");
        assert_eq!(d, "# t\n<!-- BEGIN g -->\nnew\n<!-- END g -->\ntail\n");
        replace_section(&mut d, "h", "<!-- BEGIN h -->\nx\n<!-- END h -->\n");
        assert!(d.ends_with("tail\n\n<!-- BEGIN h -->\nx\n<!-- END h -->\n"));
    }
}
