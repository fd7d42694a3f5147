//! Helpers shared by rvs's tools.

pub mod replay;

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

/// EAL for a tool that runs in process without hugepages or PCI devices (benches, the lab's
/// generator): `memory_mb` of plain memory, the `--lcores` map given, a file prefix unique to
/// this process and no shared config, so several tools can run at once.
pub fn eal_in_process(
    tool: &str,
    memory_mb: u32,
    lcores: &str,
) -> Result<rvsd::port::dpdk::Eal, rvsd::port::dpdk::DpdkError> {
    let prefix = format!("{tool}-{}", std::process::id());
    let memory = memory_mb.to_string();
    rvsd::port::dpdk::Eal::init(&[
        "--no-huge",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "-m",
        &memory,
        "--lcores",
        lcores,
        "--log-level",
        "lib.eal:error",
        "--file-prefix",
        &prefix,
    ])
}

/// The machine a figure was measured on: CPU model and core count.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cpu}, {cores} cores")
}

/// This program's arguments as a shell line, without the options named in `skip` (and their
/// values, given as `--opt value` or `--opt=value`): what to record with generated figures.
pub fn command_line(skip: &[&str]) -> String {
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let name = a.split('=').next().unwrap_or("");
        if skip.contains(&name) {
            if !a.contains('=') {
                args.next();
            }
            continue;
        }
        out.push(a);
    }
    out.join(" ")
}

/// Today's date (UTC, YYYY-MM-DD), for stamping generated figures.
pub fn today() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
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
