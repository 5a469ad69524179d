//! The `attache` command, in stages; the logic lives in the library.
//!
//! 1. **Arguments** ([`args`]): clap parses the command line, and reads nothing else.
//! 2. **Settings** ([`settings`]): the arguments resolved against the outside world. The
//!    manifest is loaded and validated, `--env-file` and `--password-file` are read,
//!    `--resource` is checked, colour and progress are decided. Anything wrong is a
//!    `UsageError` naming the file or field, before any command runs.
//! 3. **Command** ([`mod@audit`], [`mod@grants`], [`mod@explain`], [`mod@exec`]): settings in, a
//!    report out (the library's `Report`, a `GrantsReport`, an `Explanation`), printing nothing.
//!    `exec` is the one command that goes on after its report: it runs the program it gates.
//! 4. **Renderer** ([`render`]): views over that report (the audit's table, JSON, SARIF and
//!    HTML, the statements and their JSON, the explain text), data to stdout, diagnostics to
//!    stderr. `completions` and `man` render the command line itself.
//! 5. **Exit** (here): the one place that writes errors (`attache: …` on stderr), lets a closed
//!    stdout end the output quietly, and sets the exit status: 0; 1 when an audit has a finding
//!    at or above `--fail-on`; 2 for a usage, manifest or write error; `exec`'s program's own
//!    status once it runs.

mod args;
mod audit;
mod exec;
mod explain;
mod grants;
mod render;
mod settings;

use std::io::{self, Write};
use std::process::ExitCode;

use args::{Command, Format, GrantsFormat};
use settings::{AuditSettings, ExecSettings, ExplainSettings, GrantsSettings};

fn main() -> ExitCode {
    let args = <args::Args as clap::Parser>::parse();
    match run(args.command) {
        Ok(code) => code,
        Err(e) => {
            diagnose(|err| writeln!(err, "attache: {e}"));
            ExitCode::from(2)
        }
    }
}

/// Arguments → settings → command → renderer, for each command.
fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Audit(args) => audit(AuditSettings::resolve(args)?),
        Command::Grants(args) => grants(GrantsSettings::resolve(args)?),
        Command::Explain(args) => explain(ExplainSettings::resolve(args)?),
        Command::Exec(args) => exec::run(ExecSettings::resolve(args)?),
        Command::Completions(args) => {
            emit("completions", |out| {
                render::cli::completions(out, args.shell)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            emit("manual page", render::cli::man)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn audit(settings: AuditSettings) -> anyhow::Result<ExitCode> {
    let show_progress = settings.progress;
    let report = audit::run(&settings, &move |step| {
        if show_progress {
            diagnose(|err| render::audit::progress(err, &step));
        }
    })?;
    emit("report", |out| match settings.format {
        Format::Table => render::audit::table(out, &report, settings.fail_on, settings.color),
        Format::Json => render::audit::json(out, &report),
        Format::Sarif => render::sarif::log(out, &report, &settings),
        Format::Html => render::html::page(out, &report, &settings),
    })?;
    Ok(if report.fails(settings.fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn grants(settings: GrantsSettings) -> anyhow::Result<ExitCode> {
    let report = grants::run(&settings)?;
    emit("statements", |out| match settings.format {
        GrantsFormat::Sql => render::grants::sql(out, &mut io::stderr().lock(), &report),
        GrantsFormat::Json => render::grants::json(out, &report),
    })?;
    diagnose(|err| render::grants::notice(err, &report));
    Ok(ExitCode::SUCCESS)
}

fn explain(settings: ExplainSettings) -> anyhow::Result<ExitCode> {
    let explanation = explain::run(&settings);
    emit("page", |out| render::explain::text(out, &explanation))?;
    Ok(ExitCode::SUCCESS)
}

/// Renders a view to stdout. A reader that went away (`attache audit | head`) ends the output
/// without an error; any other failure to write is one, naming `what` was being written.
pub(crate) fn emit(
    what: &str,
    view: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match view(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write the {what}: {e}"))
        }
        _ => Ok(()),
    }
}

/// Renders a diagnostic to stderr. Its own failure has nowhere to be reported, so it is
/// dropped rather than turned into a panic.
pub(crate) fn diagnose(view: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
    let _ = view(&mut io::stderr().lock());
}
