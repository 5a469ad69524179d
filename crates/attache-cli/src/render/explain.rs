//! Views of `attache explain`.

use std::io::{self, Write};

use crate::explain::Explanation;

/// A page as it is, or one line per check: its id, then its title.
pub(crate) fn text(out: &mut dyn Write, explanation: &Explanation) -> io::Result<()> {
    match explanation {
        Explanation::Page(page) => write!(out, "{page}"),
        Explanation::List(checks) => {
            for (check, title) in checks {
                writeln!(out, "{:<26} {title}", check.as_str())?;
            }
            Ok(())
        }
    }
}
