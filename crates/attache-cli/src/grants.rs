//! `attache grants`: the least-privileged account for each resource's needs, as statements an
//! administrator runs, in each server's own language.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use attache::{Manifest, Provision, Secret};

use crate::args::{GrantsArgs, GrantsFormat};

pub(crate) fn run(args: GrantsArgs) -> ExitCode {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(m) => m,
        Err(e) => return usage_error(&e.to_string()),
    };
    let registry = attache::registry();
    if let Err(e) = registry.validate(&manifest) {
        return usage_error(&e.to_string());
    }
    for name in &args.resource {
        if manifest.resource(name).is_none() {
            return usage_error(&format!(
                "{}: no resource `{name}` (resources: {})",
                manifest.path.display(),
                manifest
                    .resources
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let password = match args.password_file.as_deref().map(read_password).transpose() {
        Ok(p) => p,
        Err(message) => return usage_error(&message),
    };

    let mut provisions = Vec::new();
    for spec in manifest.resources.values() {
        if !args.resource.is_empty() && !args.resource.contains(&spec.name) {
            continue;
        }
        let kind = registry
            .get(&spec.kind)
            .expect("validate() checked every kind");
        let account = args.account.as_deref().unwrap_or(&spec.name);
        match kind.provision(&manifest, spec, account, password.as_ref()) {
            Ok(p) => provisions.push((account.to_owned(), p)),
            Err(e) => return usage_error(&e.to_string()),
        }
    }

    let mut out = std::io::stdout().lock();
    let written = match args.format {
        GrantsFormat::Json => json(&mut out, &provisions),
        GrantsFormat::Sql => text(&mut out, &provisions),
    };
    if let Err(e) = written.and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("attache: cannot write the statements: {e}");
        return ExitCode::from(2);
    }
    if let Some(path) = &args.password_file {
        eprintln!(
            "attache: the statements hold the password from {}: keep them out of logs and version control",
            path.display()
        );
    }
    ExitCode::SUCCESS
}

/// The password file's contents without the trailing newline editors add.
fn read_password(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--password-file {}: {e}", path.display()))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(format!(
            "--password-file {}: the file is empty",
            path.display()
        ));
    }
    Ok(Secret::new(value.to_owned()))
}

/// The line-comment marker of a provisioning language, if it has one. Redis commands fed to
/// `redis-cli` have none: their notes go to stderr, so stdout can be piped as it is.
fn comment(language: &str) -> Option<&'static str> {
    match language {
        "sql" => Some("--"),
        _ => None,
    }
}

fn text(out: &mut impl Write, provisions: &[(String, Provision)]) -> std::io::Result<()> {
    for (i, (account, p)) in provisions.iter().enumerate() {
        let header = format!(
            "resource {} ({}): least-privileged account {account}",
            p.resource, p.kind
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
                eprintln!("attache: {header}");
                for note in &p.notes {
                    eprintln!("attache: note: {note}");
                }
            }
        }
        for statement in &p.statements {
            writeln!(out, "{statement}")?;
        }
    }
    Ok(())
}

fn json(out: &mut impl Write, provisions: &[(String, Provision)]) -> std::io::Result<()> {
    let provisions: Vec<serde_json::Value> = provisions
        .iter()
        .map(|(account, p)| {
            serde_json::json!({
                "resource": p.resource,
                "kind": p.kind,
                "account": account,
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

fn usage_error(message: &str) -> ExitCode {
    eprintln!("attache: {message}");
    ExitCode::from(2)
}
