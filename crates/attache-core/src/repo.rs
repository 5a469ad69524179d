//! The app's repository: `cred-in-repo` for the files git tracks in the work tree that holds
//! the manifest.
//!
//! [`scan()`] asks git (`git rev-parse --show-toplevel`, then `git ls-files -z` at the top: the
//! files in the index, committed or staged) and reads each tracked regular file of the work
//! tree, skipping symbolic links, submodules, files over [`MAX_FILE`] and binaries (a `NUL` in
//! their first 8 KiB). Each line is read by [`in_text`](crate::scan::in_text): a value
//! with the shape of a secret anywhere, and in env and configuration files ([`is_config`]) an
//! assignment to a credential's name. An env file (`.env`, `.env.production`, `prod.env`)
//! that is tracked at all is reported too, secret or not; a template (`.env.example`,
//! `.env.sample`, `.env.template`, `.env.dist`) is only read.
//!
//! A manifest outside a git work tree, or a machine without git, has no repository checks.
//! Findings name the file (relative to the top of the work tree) and the line, never the
//! value; their resource is [`REPOSITORY`]. History is not read: a secret removed from the
//! work tree may still be in an old commit.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::finding::{CheckId, Finding, Severity};
use crate::report::HeldSecret;
use crate::scan::{self, SecretKind};

/// The resource name of every finding about the repository: no manifest resource can have it.
pub const REPOSITORY: &str = "(repository)";

/// Larger files are not read (1 MiB).
pub const MAX_FILE: u64 = 1 << 20;

/// What the scan of a repository found.
#[derive(Debug, Clone, Default)]
pub struct RepoScan {
    /// The top of the work tree.
    pub root: PathBuf,
    /// How many tracked files were read.
    pub files: usize,
    /// The findings, resource [`REPOSITORY`].
    pub findings: Vec<Finding>,
    /// Where its secrets sit (file and line).
    pub secrets: Vec<HeldSecret>,
}

/// Scans the git work tree holding `dir`; `None` when `dir` is in none (or git is missing).
pub fn scan(dir: &Path) -> Option<RepoScan> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let root = PathBuf::from(String::from_utf8_lossy(&top).trim_end_matches('\n'));
    let listed = git(&root, &["ls-files", "-z"])?;
    let mut out = RepoScan {
        root: root.clone(),
        ..RepoScan::default()
    };
    for name in listed.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let path = root.join(&name);
        let file_name = Path::new(&name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_env_file(&file_name) && !is_template(&file_name) {
            out.findings.push(
                Finding::new(
                    CheckId::CredInRepo,
                    Severity::Medium,
                    REPOSITORY,
                    format!("{name} is tracked by git: an env file is where deploy config and secrets go"),
                    format!(
                        "git rm --cached {name}, add it to .gitignore, and commit a template \
                         without values (.env.example) instead; rotate whatever it held"
                    ),
                )
                .with_evidence([format!("tracked in the git work tree {}", root.display())]),
            );
        }
        let Some(text) = read_text(&path) else {
            continue;
        };
        out.files += 1;
        for hit in scan::in_text(&text, is_config(&name)) {
            let at = format!("{name} line {}", hit.line);
            out.secrets.push(HeldSecret {
                holder: REPOSITORY.to_owned(),
                secret: hit.kind.describe().to_owned(),
                location: at.clone(),
            });
            let message = match (hit.kind, &hit.key) {
                (SecretKind::Named, Some(key)) => format!("{at} assigns a credential to {key}"),
                (kind, Some(key)) => format!("{at} holds {} in {key}", kind.describe()),
                (kind, None) => format!("{at} holds {}", kind.describe()),
            };
            out.findings.push(
                Finding::new(
                    CheckId::CredInRepo,
                    Severity::High,
                    REPOSITORY,
                    message,
                    "revoke and rotate the secret first (every clone and fork has it, and the \
                     history keeps it), then take it out of the file: read it from the \
                     environment or a secret file at deploy time",
                )
                .with_evidence([format!(
                    "tracked in the git work tree {} (the value is not shown)",
                    root.display()
                )]),
            );
        }
    }
    out.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Some(out)
}

/// git's standard output for `args` run in `dir`, if it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// A tracked regular file's text; `None` for links, directories (submodules), missing,
/// large or binary files.
fn read_text(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `.env`, `.env.<anything>`, `<anything>.env`.
pub fn is_env_file(file_name: &str) -> bool {
    file_name == ".env" || file_name.starts_with(".env.") || file_name.ends_with(".env")
}

/// An env file meant to be committed: `.env.example`, `example.env`, `.env.sample`,
/// `.env.template`, `.env.dist`.
fn is_template(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    ["example", "sample", "template", "dist"]
        .iter()
        .any(|w| lower.split('.').any(|part| part == *w))
}

/// Files where `KEY = value` is configuration rather than code, so a credential's name with a
/// value is a secret: env files, and YAML, TOML, JSON, INI, `.properties`, `.conf`, `.cfg`,
/// `.tfvars`, `.npmrc`, `.pypirc`, `.netrc`.
pub fn is_config(path: &str) -> bool {
    let file_name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if is_env_file(&file_name) || [".npmrc", ".pypirc", ".netrc"].contains(&file_name.as_str()) {
        return true;
    }
    let ext = Path::new(&file_name)
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    [
        "yaml",
        "yml",
        "toml",
        "json",
        "ini",
        "properties",
        "conf",
        "cfg",
        "config",
        "tfvars",
        "env",
    ]
    .contains(&ext.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_and_their_templates() {
        for name in [".env", ".env.production", "prod.env", ".env.local"] {
            assert!(is_env_file(name) && !is_template(name), "{name}");
        }
        for name in [".env.example", "example.env", ".env.sample", ".env.dist"] {
            assert!(is_env_file(name) && is_template(name), "{name}");
        }
        for name in ["environment.rs", "env.rs", ".envrc", "README.md"] {
            assert!(!is_env_file(name), "{name}");
        }
    }

    #[test]
    fn configuration_files() {
        for path in [
            "config/app.yaml",
            "a/b.TOML",
            ".env",
            "deploy/prod.env",
            ".npmrc",
        ] {
            assert!(is_config(path), "{path}");
        }
        for path in ["src/main.rs", "app.py", "README.md", "Makefile"] {
            assert!(!is_config(path), "{path}");
        }
    }

    #[test]
    fn a_directory_outside_git_has_no_repository() {
        let dir = tempfile::tempdir().unwrap();
        assert!(scan(dir.path()).is_none());
    }
}
