//! Views of `attache grants`.

use std::io::{self, Write};

use crate::grants::GrantsReport;

/// The line-comment marker of a provisioning language, if it has one. Statements of a language
/// without one are fed as they are to the server's own client: their header and notes go to
/// `err`, so `out` can be piped unchanged.
fn comment(language: &str) -> Option<&'static str> {
    match language {
        "sql" => Some("--"),
        _ => None,
    }
}

/// The statements, each resource's header and notes as comments of its language (or on `err`
/// when the language has no comments), resources separated by a blank line.
pub(crate) fn sql(
    out: &mut dyn Write,
    err: &mut dyn Write,
    report: &GrantsReport,
) -> io::Result<()> {
    for (i, grant) in report.grants.iter().enumerate() {
        let p = &grant.provision;
        let header = format!(
            "resource {} ({}): least-privileged account {}",
            p.resource, p.kind, grant.account
        );
        match comment(&p.language) {
            Some(c) => {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "{c} {header}")?;
                for note in &p.notes {
                    writeln!(out, "{c} {note}")?;
                }
            }
            None => {
                writeln!(err, "attache: {header}")?;
                for note in &p.notes {
                    writeln!(err, "attache: note: {note}")?;
                }
            }
        }
        for statement in &p.statements {
            writeln!(out, "{statement}")?;
        }
    }
    Ok(())
}

/// `{"version":1,"provisions":[{resource,kind,account,language,statements,notes}]}`,
/// pretty-printed.
pub(crate) fn json(out: &mut dyn Write, report: &GrantsReport) -> io::Result<()> {
    let provisions: Vec<serde_json::Value> = report
        .grants
        .iter()
        .map(|grant| {
            let p = &grant.provision;
            serde_json::json!({
                "resource": p.resource,
                "kind": p.kind,
                "account": grant.account,
                "language": p.language,
                "statements": p.statements,
                "notes": p.notes,
            })
        })
        .collect();
    let doc = serde_json::json!({ "version": 1, "provisions": provisions });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// The warning that goes with statements holding a password, whatever their format.
pub(crate) fn notice(err: &mut dyn Write, report: &GrantsReport) -> io::Result<()> {
    match &report.password_from {
        Some(path) => writeln!(
            err,
            "attache: the statements hold the password from {}: keep them out of logs and version control",
            path.display()
        ),
        None => Ok(()),
    }
}
