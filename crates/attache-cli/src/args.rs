//! Command-line arguments.

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
    /// Exit status: 0 when nothing is at or above --fail-on, 1 when something is, 2 for a usage
    /// or manifest error.
    Audit(AuditArgs),
    /// Print what an administrator runs to create the least-privileged account for each
    /// resource's needs, in each server's own language.
    ///
    /// The password is never invented: it is read from --password-file, or left as a parameter
    /// that cannot run unfilled. Exit status: 0, or 2 for a usage or manifest error.
    Grants(GrantsArgs),
    /// Print the page of a check: what it finds, why it matters, how to fix it.
    Explain(ExplainArgs),
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
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A table for people.
    Table,
    /// `{"version":1,"findings":[…],"resources":[…]}`, sorted and stable.
    Json,
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
pub(crate) struct ExplainArgs {
    /// A check id such as `tls-unverified`; without one, lists every check.
    pub(crate) check: Option<String>,
}
