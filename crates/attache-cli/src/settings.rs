//! Settings: the arguments resolved against the outside world, before any command runs.
//!
//! Everything that reads a file, the environment or the terminal happens here: the manifest is
//! loaded and validated against the kinds this build knows, `--env-file` and `--password-file`
//! are read, `--process`'s process is read from `/proc`, `--resource` is checked against the
//! manifest, colour and progress are decided.
//! A command gets typed settings it cannot misread; anything wrong comes back as one
//! [`UsageError`] (exit 2) naming the file or field, and nothing has run yet.

use std::ffi::OsString;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use attache::{
    CheckId, Environment, Manifest, ManifestError, Registry, Secret, Severity, Snapshot,
};

use crate::args::{AuditArgs, ExecArgs, ExplainArgs, Format, GrantsArgs, GrantsFormat};

/// Arguments that cannot be resolved: a missing or malformed manifest, an unreadable file, a
/// name the manifest or the check catalog does not know. Exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError {
    message: String,
}

impl UsageError {
    fn new(message: impl Into<String>) -> Self {
        UsageError {
            message: message.into(),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

impl From<ManifestError> for UsageError {
    fn from(e: ManifestError) -> Self {
        UsageError::new(e.to_string())
    }
}

/// `attache audit`, resolved.
pub(crate) struct AuditSettings {
    /// The kinds of this build; the manifest was validated against them.
    pub(crate) registry: Registry,
    /// The manifest, loaded and validated.
    pub(crate) manifest: Manifest,
    /// The process environment, overlaid with `--env-file`.
    pub(crate) env: Environment,
    /// The output format.
    pub(crate) format: Format,
    /// Findings at or above this fail the audit.
    pub(crate) fail_on: Severity,
    /// Whether the table may paint severities (stdout is a terminal and `NO_COLOR` is unset).
    pub(crate) color: bool,
    /// Whether to report progress on stderr (stderr is a terminal).
    pub(crate) progress: bool,
    /// With `--process`: the app's process as `/proc` showed it.
    pub(crate) process: Option<Snapshot>,
    /// Whether to read the git work tree holding the manifest for secrets (`audit` does;
    /// `exec`, which audits again on every binding change, does not).
    pub(crate) repository: bool,
}

impl AuditSettings {
    pub(crate) fn resolve(args: AuditArgs) -> Result<Self, UsageError> {
        let (registry, manifest) = load_manifest(&args.manifest)?;
        let mut env = Environment::from_process();
        if let Some(path) = &args.env_file {
            env = env
                .with_env_file(path)
                .map_err(|e| UsageError::new(e.to_string()))?;
        }
        let process = args
            .process
            .map(|pid| {
                Snapshot::read(pid).map_err(|e| UsageError::new(format!("--process {pid}: {e}")))
            })
            .transpose()?;
        Ok(AuditSettings {
            registry,
            manifest,
            env,
            process,
            repository: true,
            format: args.format,
            fail_on: args.fail_on,
            color: color(
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ),
            progress: std::io::stderr().is_terminal(),
        })
    }
}

/// `attache exec`, resolved.
pub(crate) struct ExecSettings {
    /// The audit that gates the program (its format and colour are unused: a failing gate
    /// prints the table on stderr, without colour).
    pub(crate) audit: AuditSettings,
    /// `--env-file`, read again on each poll of `--watch`.
    pub(crate) env_file: Option<PathBuf>,
    /// The program and its arguments; never empty.
    pub(crate) program: Vec<OsString>,
    /// With `--watch`: the signal a passing change sends, and how often bindings are read.
    pub(crate) watch: Option<Watch>,
}

/// How `attache exec --watch` follows the bindings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// Sent to the program on each binding change that passes the checks.
    pub(crate) signal: nix::sys::signal::Signal,
    /// How often the bindings are read again.
    pub(crate) poll: std::time::Duration,
}

impl ExecSettings {
    pub(crate) fn resolve(args: ExecArgs) -> Result<Self, UsageError> {
        let watch = if args.watch {
            Some(Watch {
                signal: parse_signal(&args.signal)?,
                poll: args.poll,
            })
        } else {
            None
        };
        let audit = AuditSettings::resolve(AuditArgs {
            manifest: args.manifest,
            env_file: args.env_file.clone(),
            format: Format::Table,
            fail_on: args.fail_on,
            process: None,
        })?;
        Ok(ExecSettings {
            audit: AuditSettings {
                color: false,
                repository: false,
                ..audit
            },
            env_file: args.env_file,
            program: args.program,
            watch,
        })
    }
}

/// `HUP`, `SIGHUP`, `hup` or `1`.
fn parse_signal(text: &str) -> Result<nix::sys::signal::Signal, UsageError> {
    use nix::sys::signal::Signal;
    let bad = || {
        UsageError::new(format!(
            "--signal `{text}`: not a signal; expected a name such as HUP, USR1, TERM or a number"
        ))
    };
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// `attache grants`, resolved.
pub(crate) struct GrantsSettings {
    /// The kinds of this build; the manifest was validated against them.
    pub(crate) registry: Registry,
    /// The manifest, loaded and validated.
    pub(crate) manifest: Manifest,
    /// The resources to provision, each in the manifest, in the manifest's order: the ones
    /// `--resource` named, or every one.
    pub(crate) resources: Vec<String>,
    /// The account to create; `None`: each resource's name.
    pub(crate) account: Option<String>,
    /// The password to write into the statements, from `--password-file`.
    pub(crate) password: Option<PasswordFile>,
    /// The output format.
    pub(crate) format: GrantsFormat,
}

/// A password read from `--password-file`, with the file it came from.
pub(crate) struct PasswordFile {
    /// The file, to name when saying the output holds the password.
    pub(crate) path: PathBuf,
    /// Its contents without the trailing newline.
    pub(crate) secret: Secret,
}

impl GrantsSettings {
    pub(crate) fn resolve(args: GrantsArgs) -> Result<Self, UsageError> {
        let (registry, manifest) = load_manifest(&args.manifest)?;
        for name in &args.resource {
            if manifest.resource(name).is_none() {
                return Err(UsageError::new(format!(
                    "{}: no resource `{name}` (resources: {})",
                    manifest.path.display(),
                    manifest
                        .resources
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let resources = manifest
            .resources
            .keys()
            .filter(|name| args.resource.is_empty() || args.resource.contains(name))
            .cloned()
            .collect();
        let password = match args.password_file {
            Some(path) => Some(PasswordFile {
                secret: read_password(&path)?,
                path,
            }),
            None => None,
        };
        Ok(GrantsSettings {
            registry,
            manifest,
            resources,
            account: args.account,
            password,
            format: args.format,
        })
    }
}

/// `attache explain`, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExplainSettings {
    /// The check whose page to print; `None`: list every check.
    pub(crate) check: Option<CheckId>,
}

impl ExplainSettings {
    pub(crate) fn resolve(args: ExplainArgs) -> Result<Self, UsageError> {
        let check = args
            .check
            .map(|id| id.parse::<CheckId>())
            .transpose()
            .map_err(UsageError::new)?;
        Ok(ExplainSettings { check })
    }
}

/// The manifest at `path`, validated against every kind this build knows.
fn load_manifest(path: &Path) -> Result<(Registry, Manifest), UsageError> {
    let manifest = Manifest::load(path)?;
    let registry = attache::registry();
    registry.validate(&manifest)?;
    Ok((registry, manifest))
}

/// The password file's contents without the trailing newline editors add.
fn read_password(path: &Path) -> Result<Secret, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::new(format!("--password-file {}: {e}", path.display())))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(UsageError::new(format!(
            "--password-file {}: the file is empty",
            path.display()
        )));
    }
    Ok(Secret::new(value.to_owned()))
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything but the empty
/// string (<https://no-color.org>).
fn color(stdout_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    use tempfile::TempDir;

    /// A manifest of two resources of the first kind this build knows, without needs.
    fn project() -> (TempDir, PathBuf) {
        let kind = attache::registry().names()[0];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attache.toml");
        std::fs::write(
            &path,
            format!("[resources.web]\nkind = \"{kind}\"\n[resources.app]\nkind = \"{kind}\"\n"),
        )
        .unwrap();
        (dir, path)
    }

    fn audit_args(manifest: PathBuf) -> AuditArgs {
        AuditArgs {
            manifest,
            env_file: None,
            format: Format::Json,
            fail_on: Severity::High,
            process: None,
        }
    }

    fn grants_args(manifest: PathBuf) -> GrantsArgs {
        GrantsArgs {
            manifest,
            resource: Vec::new(),
            account: None,
            password_file: None,
            format: GrantsFormat::Sql,
        }
    }

    fn audit_error(args: AuditArgs) -> String {
        match AuditSettings::resolve(args) {
            Ok(_) => panic!("resolved"),
            Err(e) => e.to_string(),
        }
    }

    fn grants_error(args: GrantsArgs) -> String {
        match GrantsSettings::resolve(args) {
            Ok(_) => panic!("resolved"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn signals_by_name_or_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("HUP").unwrap(), Signal::SIGHUP);
        assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        let message = parse_signal("WAKEUP").unwrap_err().to_string();
        assert!(message.contains("`WAKEUP`"), "{message}");
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn a_missing_manifest_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let message = audit_error(audit_args(path.clone()));
        assert!(message.contains(&path.display().to_string()), "{message}");
        let message = grants_error(grants_args(path.clone()));
        assert!(message.contains(&path.display().to_string()), "{message}");
    }

    #[test]
    fn an_unknown_kind_names_the_resource_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attache.toml");
        std::fs::write(&path, "[resources.db]\nkind = \"no-such-kind\"\n").unwrap();
        let message = audit_error(audit_args(path.clone()));
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(message.contains("resource `db`"), "{message}");
        assert!(message.contains("field `kind`"), "{message}");
    }

    #[test]
    fn a_missing_env_file_names_it() {
        let (dir, manifest) = project();
        let env_file = dir.path().join("prod.env");
        let message = audit_error(AuditArgs {
            env_file: Some(env_file.clone()),
            ..audit_args(manifest)
        });
        assert!(
            message.starts_with(&env_file.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn the_env_file_overlays_the_environment() {
        let (dir, manifest) = project();
        let env_file = dir.path().join("prod.env");
        std::fs::write(&env_file, "ATTACHE_SETTINGS_TEST=from-the-file\n").unwrap();
        let settings = AuditSettings::resolve(AuditArgs {
            env_file: Some(env_file),
            ..audit_args(manifest)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let value = settings.env.get("ATTACHE_SETTINGS_TEST").unwrap();
        assert_eq!(value.value, "from-the-file");
        assert_eq!(settings.fail_on, Severity::High);
        assert_eq!(settings.format, Format::Json);
    }

    #[test]
    fn a_missing_process_names_its_pid() {
        let (_dir, manifest) = project();
        let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let message = audit_error(AuditArgs {
            process: Some(pid_max),
            ..audit_args(manifest.clone())
        });
        assert_eq!(
            message,
            format!("--process {pid_max}: no process with pid {pid_max}")
        );
        let settings = AuditSettings::resolve(AuditArgs {
            process: Some(std::process::id()),
            ..audit_args(manifest)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.process.unwrap().pid, std::process::id());
        assert!(settings.repository);
    }

    #[test]
    fn an_unknown_resource_names_the_resources() {
        let (_dir, manifest) = project();
        let message = grants_error(GrantsArgs {
            resource: vec!["app".into(), "nope".into()],
            ..grants_args(manifest.clone())
        });
        assert_eq!(
            message,
            format!(
                "{}: no resource `nope` (resources: app, web)",
                manifest.display()
            )
        );
    }

    #[test]
    fn resources_follow_the_manifest_order() {
        let (_dir, manifest) = project();
        let all = GrantsSettings::resolve(grants_args(manifest.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.resources, ["app", "web"]);
        let some = GrantsSettings::resolve(GrantsArgs {
            resource: vec!["web".into(), "app".into(), "web".into()],
            ..grants_args(manifest)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(some.resources, ["app", "web"]);
        assert!(some.password.is_none());
    }

    #[test]
    fn a_missing_password_file_names_the_flag_and_the_file() {
        let (dir, manifest) = project();
        let path = dir.path().join("absent.password");
        let message = grants_error(GrantsArgs {
            password_file: Some(path.clone()),
            ..grants_args(manifest)
        });
        assert!(
            message.starts_with(&format!("--password-file {}: ", path.display())),
            "{message}"
        );
    }

    #[test]
    fn an_empty_password_file_is_refused() {
        let (dir, manifest) = project();
        let path = dir.path().join("empty.password");
        std::fs::write(&path, "\n").unwrap();
        let message = grants_error(GrantsArgs {
            password_file: Some(path.clone()),
            ..grants_args(manifest)
        });
        assert_eq!(
            message,
            format!("--password-file {}: the file is empty", path.display())
        );
    }

    #[test]
    fn the_password_loses_only_its_line_ending() {
        let (dir, manifest) = project();
        let path = dir.path().join("admin.password");
        std::fs::write(&path, " two words \r\n").unwrap();
        let settings = GrantsSettings::resolve(GrantsArgs {
            password_file: Some(path.clone()),
            ..grants_args(manifest)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let password = settings.password.unwrap();
        assert_eq!(password.path, path);
        assert_eq!(password.secret.expose_secret(), " two words ");
    }

    #[test]
    fn explain_knows_the_catalog() {
        let settings = ExplainSettings::resolve(ExplainArgs {
            check: Some("tls-plaintext".into()),
        })
        .unwrap();
        assert_eq!(settings.check, Some(CheckId::TlsPlaintext));
        let list = ExplainSettings::resolve(ExplainArgs { check: None }).unwrap();
        assert_eq!(list.check, None);
        let unknown = ExplainSettings::resolve(ExplainArgs {
            check: Some("tls-everything".into()),
        })
        .unwrap_err();
        assert!(unknown.to_string().contains("tls-plaintext"), "{unknown}");
    }

    #[test]
    fn no_color_wins_unless_empty() {
        assert!(color(true, None));
        assert!(color(true, Some(OsString::new())));
        assert!(!color(true, Some("1".into())));
        assert!(!color(false, None));
    }
}
