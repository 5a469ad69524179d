//! Views of the command line itself: shell completions and the manual page, both generated
//! from the same clap definitions as `--help`, so they cannot drift from it.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Args;

/// The completion script for `shell`.
pub(crate) fn completions(out: &mut dyn Write, shell: Shell) -> io::Result<()> {
    let mut command = Args::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut command, "attache", &mut buf);
    out.write_all(&buf)
}

/// `attache(1)` in roff, with a section per subcommand.
pub(crate) fn man(out: &mut dyn Write) -> io::Result<()> {
    let command = Args::command();
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    // One section per subcommand, its synopsis and options as subsections: clap_mangen
    // renders a subcommand as a page of its own, whose `.SH` headings become `.SS` here.
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        writeln!(buf, ".SH \"ATTACHE {}\"", name.to_uppercase())?;
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            for paragraph in about.to_string().split("\n\n") {
                writeln!(buf, ".PP\n{}", roff_text(paragraph.trim()))?;
            }
        }
        let page = clap_mangen::Man::new(sub.clone().bin_name(format!("attache {name}")));
        let mut section = Vec::new();
        page.render_synopsis_section(&mut section)?;
        page.render_options_section(&mut section)?;
        for line in String::from_utf8_lossy(&section).lines() {
            match line.strip_prefix(".SH ") {
                Some(heading) => writeln!(buf, ".SS {heading}")?,
                None => writeln!(buf, "{line}")?,
            }
        }
    }
    writeln!(buf, ".SH \"EXIT STATUS\"")?;
    writeln!(
        buf,
        ".PP\n0: nothing at or above \\-\\-fail\\-on. 1: a finding at or above it. 2: a usage, \
         manifest or write error. \\fBattache exec\\fR exits with its program's status once the \
         program runs."
    )?;
    man.render_version_section(&mut buf)?;
    out.write_all(&buf)
}

/// `text` as roff body text: backslashes escaped, and a line that would read as a request
/// (starting with `.` or `'`) guarded.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e").replace('-', "\\-");
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
