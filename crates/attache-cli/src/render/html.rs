//! `attache audit --format html`: one self-contained page for people.

use std::io::{self, Write};

use attache::Report;

use crate::settings::AuditSettings;

/// The report as one HTML file.
pub(crate) fn page(
    out: &mut dyn Write,
    report: &Report,
    settings: &AuditSettings,
) -> io::Result<()> {
    let verdict = if report.fails(settings.fail_on) {
        "FAIL"
    } else {
        "PASS"
    };
    writeln!(
        out,
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>attache audit</title><h1>{verdict}</h1></html>"
    )
}
