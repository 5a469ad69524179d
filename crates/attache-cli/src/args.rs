//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;

use attache::Severity;
use clap::{Parser, Subcommand, ValueEnum};

/// Audit the backing services of a twelve-factor app: TLS verified and never downgraded,
/// accounts least-privileged, secrets kept out of sight.
#[derive(Debug, Parser)]
#[command(name = "attache", version, about, long_about = None)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect to every resource of the manifest and report what is unsafe.
    ///
    /// When the manifest sits in a git work tree, the files git tracks are read for secrets
    /// too; with --process, the app's running process is audited as well. Exit status: 0 when
    /// nothing is at or above --fail-on, 1 when something is, 2 for a usage or manifest error
    /// (a --process pid that does not exist or cannot be read included).
    Audit(AuditArgs),
    /// Print what an administrator runs to create the least-privileged account for each
    /// resource's needs, in each server's own language.
    ///
    /// The password is never invented: it is read from --password-file, or left as a parameter
    /// that cannot run unfilled. Exit status: 0, or 2 for a usage or manifest error.
    Grants(GrantsArgs),
    /// Print the page of a check: what it finds, why it matters, how to fix it.
    Explain(ExplainArgs),
    /// Audit, then run PROGRAM only if the audit passes: the gate for an app in any language.
    ///
    /// On a pass, attache replaces itself with PROGRAM (same pid, environment unchanged), so
    /// PROGRAM's exit status is the exit status. On a fail, the findings go to stderr and the
    /// exit status is 1; PROGRAM never starts. With --watch, PROGRAM runs as a child instead:
    /// signals are forwarded to it, and each binding change that passes the checks sends it
    /// --signal. Exit status 2 for a usage or manifest error.
    Exec(ExecArgs),
    /// Print a shell completion script for attache.
    ///
    /// For example: `attache completions bash > /etc/bash_completion.d/attache`.
    Completions(CompletionsArgs),
    /// Print attache's manual page (roff), for `man -l -` or a man directory.
    Man,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// The manifest.
    #[arg(long, default_value = "attache.toml", value_name = "PATH")]
    pub(crate) manifest: PathBuf,
    /// Read KEY=VALUE lines from this file; they win over the process environment.
    #[arg(long, value_name = "PATH")]
    pub(crate) env_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    pub(crate) fail_on: Severity,
    /// Also audit the app's running process, read from /proc (Linux; as its user or root): its
    /// uid and capabilities, its listeners against `[process] listen`, its connections against
    /// the resources, the files it writes, and the secrets in its whole environment.
    #[arg(long, value_name = "PID")]
    pub(crate) process: Option<u32>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table for people.
    Table,
    /// `{"version":1,"findings":[…],"resources":[…],"attack_surface":{…}}`, sorted and stable.
    Json,
    /// SARIF 2.1.0 for code-scanning dashboards; results point at the manifest's lines.
    Sarif,
    /// One self-contained HTML page for people (no script, nothing loaded from elsewhere).
    Html,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GrantsArgs {
    /// The manifest.
    #[arg(long, default_value = "attache.toml", value_name = "PATH")]
    pub(crate) manifest: PathBuf,
    /// Only this resource (repeatable); default: every resource.
    #[arg(long, value_name = "NAME")]
    pub(crate) resource: Vec<String>,
    /// The account to create; default: the resource's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// Write the password from this file into the statements (trailing newline ignored).
    #[arg(long, value_name = "PATH")]
    pub(crate) password_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GrantsFormat::Sql)]
    pub(crate) format: GrantsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GrantsFormat {
    /// Statements in each server's own language, notes as comments.
    Sql,
    /// `{"version":1,"provisions":[{resource,kind,account,language,statements,notes}]}`.
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExecArgs {
    /// The manifest.
    #[arg(long, default_value = "attache.toml", value_name = "PATH")]
    pub(crate) manifest: PathBuf,
    /// Read KEY=VALUE lines from this file for the audit; PROGRAM's environment is unchanged.
    #[arg(long, value_name = "PATH")]
    pub(crate) env_file: Option<PathBuf>,
    /// Do not run PROGRAM when a finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    pub(crate) fail_on: Severity,
    /// Run PROGRAM as a child, forward signals to it, and signal it on each binding change
    /// that passes the checks (a change that fails is reported and not signalled).
    #[arg(long)]
    pub(crate) watch: bool,
    /// The signal --watch sends on a passing change: a name (`HUP`, `SIGUSR1`) or a number.
    #[arg(long, value_name = "SIGNAL", default_value = "HUP", requires = "watch")]
    pub(crate) signal: String,
    /// How often --watch reads the bindings again.
    #[arg(long, value_name = "DURATION", default_value = "1s", requires = "watch", value_parser = parse_duration)]
    pub(crate) poll: std::time::Duration,
    /// The program to run and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "PROGRAM")]
    pub(crate) program: Vec<OsString>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration such as 1s or 500ms: {e}"))
}

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExplainArgs {
    /// A check id such as `tls-unverified`; without one, lists every check.
    pub(crate) check: Option<String>,
}
