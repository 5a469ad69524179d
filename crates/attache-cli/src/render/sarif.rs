//! `attache audit --format sarif`: SARIF 2.1.0, the format code-scanning dashboards read.
//!
//! - One rule (`reportingDescriptor`) per check of the catalog, in catalog order: its id, the
//!   page's title as the short description, its "What it finds" section as the full one, the
//!   whole `attache explain` page (with every kind's section) as `help` in text and markdown,
//!   a `helpUri` to the page in the repository, and the page's default severity as the rule's
//!   level and `security-severity`.
//! - One result per finding: `ruleId`, `level` from the finding's own severity (with its
//!   `security-severity` in the result's properties too), the message and fix as text, the
//!   evidence as markdown, and a location: the manifest, relative to the root of the git work
//!   tree it sits in (else to the current directory), at the line of the resource's
//!   `[resources.<name>]` header.
//! - `partialFingerprints`: a hash of the resource, the check and the message with its numbers
//!   taken out (days left, counts, pids), so the same finding on the next run has the same
//!   fingerprint and a dashboard tracks it rather than opening a new alert; findings alike but
//!   for their numbers (two secrets of one kind in one file) add their order (`:2`, `:3`).
//!
//! Like every view, it is built from the report, which holds no secret.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use attache::{CheckId, Finding, Report, Severity};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::settings::AuditSettings;

/// The SARIF log of one audit, pretty-printed.
pub(crate) fn log(
    out: &mut dyn Write,
    report: &Report,
    settings: &AuditSettings,
) -> io::Result<()> {
    let log = sarif(
        report,
        settings,
        &std::env::current_dir().unwrap_or_default(),
    );
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The key of attache's own fingerprint in `partialFingerprints`.
const FINGERPRINT: &str = "attacheFinding/v1";

fn sarif(report: &Report, settings: &AuditSettings, cwd: &Path) -> Value {
    let rules: Vec<Value> = CheckId::ALL
        .iter()
        .map(|&check| rule(check, &settings.registry.page(check)))
        .collect();
    let (base, uri) = manifest_uri(&settings.manifest.path, cwd);
    // Findings alike but for their numbers (two secrets of one kind in one file, on different
    // lines) are told apart by their order, which the report keeps stable.
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let line = settings
                .manifest
                .resource(&f.resource)
                .and_then(|r| r.line)
                .unwrap_or(1);
            let base = fingerprint(f);
            let n = seen.entry(base.clone()).or_default();
            *n += 1;
            let print = if *n == 1 { base } else { format!("{base}:{n}") };
            result(f, &uri, line, &print)
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "attache",
                    "fullName": "attache audit",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                }
            },
            "originalUriBaseIds": {
                "SRCROOT": { "uri": base },
            },
            "invocations": [{ "executionSuccessful": true }],
            "results": results,
            "columnKind": "unicodeCodePoints",
        }]
    })
}

/// The rule of one check, from its page.
fn rule(check: CheckId, page: &str) -> Value {
    let title = page
        .lines()
        .next()
        .and_then(|l| l.split_once(" — "))
        .map(|(_, t)| sentence(t))
        .unwrap_or_else(|| sentence(check.as_str()));
    let finds = section(page, "What it finds").unwrap_or_else(|| title.clone());
    let severity = default_severity(page);
    let mut rule = json!({
        "id": check.as_str(),
        "shortDescription": { "text": title },
        "fullDescription": { "text": finds },
        "helpUri": format!(
            "{}/blob/main/crates/attache-core/checks/{}.md",
            env!("CARGO_PKG_REPOSITORY"),
            check.as_str()
        ),
        "help": { "text": page, "markdown": page },
        "defaultConfiguration": { "level": level(severity) },
        "properties": {
            "security-severity": security_severity(severity),
            "tags": ["security", check.as_str().split('-').next().unwrap_or("attache")],
        },
    });
    // SARIF wants a `name` only when it differs from the id (`unreachable` has none).
    let name = pascal(check.as_str());
    if !name.eq_ignore_ascii_case(check.as_str()) {
        rule["name"] = Value::String(name);
    }
    rule
}

/// One result.
fn result(f: &Finding, uri: &str, line: usize, fingerprint: &str) -> Value {
    let mut text = sentence(&f.message);
    text.push_str(" Fix: ");
    text.push_str(&sentence(&f.remedy));
    let mut markdown = sentence(&f.message);
    for e in &f.evidence {
        markdown.push_str("\n- ");
        markdown.push_str(&markdown_escape(e));
    }
    markdown.push_str("\n\n**Fix:** ");
    markdown.push_str(&sentence(&f.remedy));
    json!({
        "ruleId": f.check.as_str(),
        "ruleIndex": CheckId::ALL.iter().position(|c| *c == f.check).unwrap_or(0),
        "level": level(f.severity),
        "message": { "text": text, "markdown": markdown },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": uri, "uriBaseId": "SRCROOT" },
                "region": { "startLine": line },
            },
            "logicalLocations": [{
                "name": f.resource,
                "fullyQualifiedName": format!("resources.{}", f.resource),
                "kind": "resource",
            }],
        }],
        "partialFingerprints": { FINGERPRINT: fingerprint },
        "properties": {
            "severity": f.severity.as_str(),
            "security-severity": security_severity(f.severity),
            "resource": f.resource,
            "evidence": f.evidence,
        },
    })
}

/// Stable across runs: the resource, the check and the message without its numbers.
fn fingerprint(f: &Finding) -> String {
    let message: String = f
        .message
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    let digest = Sha256::digest(format!("{}\0{}\0{message}", f.resource, f.check).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// SARIF's three levels: critical and high are errors, medium a warning, low and info notes.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The 0–10 score code-scanning dashboards map back to critical (≥ 9), high (≥ 7), medium
/// (≥ 4) and low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// The first word of the page's `Severity:` line (`high`, `medium`, …); high if it has none.
fn default_severity(page: &str) -> Severity {
    page.lines()
        .find_map(|l| l.strip_prefix("Severity:"))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_alphabetic())
                .find(|w| !w.is_empty())
        })
        .and_then(|w| w.parse().ok())
        .unwrap_or(Severity::High)
}

/// The body of the page's `## heading` section, up to the next heading, as one paragraph of
/// plain text.
fn section(page: &str, heading: &str) -> Option<String> {
    let start = page.find(&format!("\n## {heading}\n"))? + heading.len() + 5;
    let body = &page[start..];
    let body = body.find("\n## ").map_or(body, |end| &body[..end]);
    let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// `text` as a sentence: trimmed, ending with a period unless it ends with punctuation. The
/// first letter is left as it is: a message may start with a name (`app@%`).
fn sentence(text: &str) -> String {
    let mut s = text.trim().to_owned();
    if !s.ends_with(['.', '!', '?', ':']) {
        s.push('.');
    }
    s
}

/// Evidence lines hold names, grants and sources: escape what markdown would read as markup.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `tls-cert-invalid` → `TlsCertInvalid`.
fn pascal(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Where results point: the base (`file:///…/`, the git work tree holding the manifest, else
/// the current directory) and the manifest's URI relative to it. A manifest outside both is
/// given by its absolute URI.
fn manifest_uri(manifest: &Path, cwd: &Path) -> (String, String) {
    let absolute = if manifest.is_absolute() {
        manifest.to_owned()
    } else {
        cwd.join(manifest)
    };
    let absolute = absolute.canonicalize().unwrap_or(absolute);
    let root = absolute
        .parent()
        .and_then(work_tree)
        .or_else(|| cwd.canonicalize().ok())
        .unwrap_or_else(|| cwd.to_owned());
    match absolute.strip_prefix(&root) {
        Ok(relative) => (dir_uri(&root), path_uri(relative)),
        Err(_) => {
            let dir = absolute.parent().map(Path::to_owned).unwrap_or_default();
            let name = absolute.file_name().map(PathBuf::from).unwrap_or_default();
            (dir_uri(&dir), path_uri(&name))
        }
    }
}

/// The nearest directory at or above `dir` holding `.git` (a directory, or a file in a linked
/// work tree).
fn work_tree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_owned)
}

/// `dir` as a `file://` URI ending with `/`, as SARIF wants a base.
fn dir_uri(dir: &Path) -> String {
    let mut uri = format!("file://{}", path_uri(dir));
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// A path's components joined by `/`, each percent-encoded where a URI needs it.
fn path_uri(path: &Path) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(
                percent_encoding::utf8_percent_encode(&part.to_string_lossy(), SET).to_string(),
            ),
            _ => None,
        })
        .collect();
    let joined = parts.join("/");
    if path.is_absolute() {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_numbers_and_tell_resources_apart() {
        let f = |resource: &str, message: &str| {
            Finding::new(
                CheckId::TlsCertExpiring,
                Severity::Medium,
                resource,
                message,
                "renew",
            )
        };
        assert_eq!(
            fingerprint(&f("db", "expires in 12 days")),
            fingerprint(&f("db", "expires in 11 days"))
        );
        assert_ne!(
            fingerprint(&f("db", "expires in 12 days")),
            fingerprint(&f("cache", "expires in 12 days"))
        );
    }

    #[test]
    fn findings_alike_but_for_their_numbers_get_distinct_stable_fingerprints() {
        let kind = attache::registry().names()[0];
        let manifest = attache::Manifest::parse(
            "attache.toml",
            &format!("[resources.app]\nkind = \"{kind}\"\n"),
        )
        .unwrap();
        let settings = AuditSettings {
            registry: attache::registry(),
            manifest,
            env: attache::Environment::default(),
            format: crate::args::Format::Sarif,
            fail_on: Severity::High,
            color: false,
            progress: false,
            process: None,
            repository: false,
        };
        let mut resource = attache::ResourceReport::empty("app", kind);
        for line in [3, 9] {
            resource.findings.push(Finding::new(
                CheckId::CredInEnv,
                Severity::Medium,
                "app",
                format!("config.yaml line {line} holds a password"),
                "move it",
            ));
        }
        let report = Report::new(vec![resource]);
        let prints = |log: Value| -> Vec<String> {
            log["runs"][0]["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["partialFingerprints"][FINGERPRINT]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        };
        let first = prints(sarif(&report, &settings, Path::new("/")));
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        assert_eq!(prints(sarif(&report, &settings, Path::new("/"))), first);
    }

    #[test]
    fn every_page_gives_a_rule_its_descriptions_and_severity() {
        let registry = attache::registry();
        for &check in CheckId::ALL {
            let page = registry.page(check);
            let rule = rule(check, &page);
            let short = rule["shortDescription"]["text"].as_str().unwrap();
            assert!(
                !short.is_empty() && short.ends_with('.'),
                "{check}: {short}"
            );
            let full = rule["fullDescription"]["text"].as_str().unwrap();
            assert_ne!(full, short, "{check} has no 'What it finds' section");
            let _ = default_severity(&page);
        }
        assert_eq!(
            default_severity(CheckId::PrivSuperuser.page()),
            Severity::Critical
        );
        assert_eq!(
            default_severity(CheckId::PrivExcess.page()),
            Severity::Medium
        );
    }

    #[test]
    fn manifest_uris_are_relative_to_the_work_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("deploy/my app")).unwrap();
        let manifest = root.join("deploy/my app/attache.toml");
        std::fs::write(&manifest, "").unwrap();
        let (base, uri) = manifest_uri(&manifest, Path::new("/"));
        assert_eq!(base, format!("file://{}/", root.display()));
        assert_eq!(uri, "deploy/my%20app/attache.toml");
        // From inside the tree, a relative path gives the same URI.
        let (_, uri) = manifest_uri(Path::new("attache.toml"), &root.join("deploy/my app"));
        assert_eq!(uri, "deploy/my%20app/attache.toml");
    }

    #[test]
    fn sentences_end_with_a_period() {
        assert_eq!(sentence("the server said no "), "the server said no.");
        assert_eq!(sentence("done."), "done.");
        assert_eq!(markdown_escape("GRANT * ON `db`"), "GRANT \\* ON \\`db\\`");
        assert_eq!(pascal("tls-cert-invalid"), "TlsCertInvalid");
    }
}
