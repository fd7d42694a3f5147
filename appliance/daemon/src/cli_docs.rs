//! Manual pages (`clap_mangen`) and shell completions (`clap_complete`) generated from the
//! command-line definitions themselves, so they never drift from the options: `rvsd
//! --man-page`, `rvsadm --completions bash`. The package build writes them into the .deb.

use std::io::Write;

/// Writes `cmd`'s manual page (roff) to `out`.
pub fn man_page(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd).section("8").render(out)
}

/// Writes `cmd`'s completion script for `shell` to `out`.
pub fn completions(mut cmd: clap::Command, shell: clap_complete::Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}
