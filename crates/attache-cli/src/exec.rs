//! `attache exec`: the audit as a gate in front of any program.
//!
//! Without `--watch`, a passing audit ends in `execvp`: attache becomes the program (same pid,
//! same environment, so the program's exit status is the exit status and a supervisor sees one
//! process). A failing audit prints its findings on stderr and exits 1; the program never
//! starts.
//!
//! With `--watch`, attache stays as the program's parent, the way `dumb-init` does: the child
//! runs in its own process group, every signal attache can catch is forwarded to that group,
//! and attache exits with the child's status (128 + N when a signal N ended it). Every `poll`
//! the bindings are read again (the service-binding directories, `*_FILE` secrets, the
//! certificates they name, `--env-file`); a change that holds still for one more poll is
//! audited, and only a passing one sends the child `--signal` (SIGHUP by default).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::ExitCode;

use attache::{Environment, Report};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::audit;
use crate::settings::{AuditSettings, ExecSettings, Watch};
use crate::{diagnose, render};

/// Runs the gate, then the program.
pub(crate) fn run(settings: ExecSettings) -> anyhow::Result<ExitCode> {
    let name = settings.program[0].to_string_lossy().into_owned();
    let report = audit_once(&settings.audit)?;
    if !gate(&settings.audit, &report, &name, "not started") {
        return Ok(ExitCode::from(1));
    }
    match settings.watch {
        None => {
            let err = std::process::Command::new(&settings.program[0])
                .args(&settings.program[1..])
                .exec();
            Ok(cannot_run(&name, &err))
        }
        Some(watch) => supervise(settings, watch, &name),
    }
}

/// The audit with the settings' progress view.
fn audit_once(settings: &AuditSettings) -> anyhow::Result<Report> {
    let show_progress = settings.progress;
    audit::run(settings, &move |step| {
        if show_progress {
            diagnose(|err| render::audit::progress(err, &step));
        }
    })
}

/// Whether `report` lets the program run (or be signalled). On a fail the findings go to
/// stderr as the audit's table, and a line says the program was `consequence`; on a pass,
/// findings below `--fail-on` are listed one per line so they are not lost.
fn gate(settings: &AuditSettings, report: &Report, program: &str, consequence: &str) -> bool {
    if report.fails(settings.fail_on) {
        diagnose(|err| {
            render::audit::table(err, report, settings.fail_on, false)?;
            writeln!(
                err,
                "attache: the audit of {} failed; {program} {consequence}",
                settings.manifest.path.display()
            )
        });
        return false;
    }
    diagnose(|err| {
        for finding in &report.findings {
            writeln!(err, "attache: {finding}")?;
        }
        Ok(())
    });
    true
}

/// The exit status for a program that could not be run, as shells give it: 127 when it was
/// not found, 126 otherwise (not executable, …).
fn cannot_run(program: &str, err: &std::io::Error) -> ExitCode {
    diagnose(|out| writeln!(out, "attache: cannot run {program}: {err}"));
    if err.kind() == std::io::ErrorKind::NotFound {
        ExitCode::from(127)
    } else {
        ExitCode::from(126)
    }
}

/// The signals forwarded to the child's group. Not SIGCHLD (the child's own news), SIGKILL
/// or SIGSTOP (they cannot be caught), nor SIGTSTP (it keeps its default and stops attache).
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
];

/// `--watch`: the program as a child, followed until it exits.
fn supervise(settings: ExecSettings, watch: Watch, name: &str) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let mut child = match tokio::process::Command::new(&settings.program[0])
            .args(&settings.program[1..])
            .process_group(0)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return Ok(cannot_run(name, &e)),
        };
        let pid = child.id().map(|id| Pid::from_raw(id as i32));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Signal>();
        for &signal in FORWARDED {
            let mut stream =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
                    signal as i32,
                ))
                .map_err(|e| anyhow::anyhow!("cannot listen for {signal}: {e}"))?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if tx.send(signal).is_err() {
                        return;
                    }
                }
            });
        }
        let send = |signal: Signal| {
            if let Some(pid) = pid {
                // The child's group: it and whatever it started, as a terminal would signal.
                let _ = killpg(pid, signal);
            }
        };
        let mut seen = fingerprint(&settings);
        let mut ticker = tokio::time::interval(watch.poll);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        // A change is audited once two readings a poll apart agree (writers of a binding
        // directory or a secret file rarely land in one step). The audit runs beside the
        // loop, so signals are forwarded and the child's exit is seen while it runs.
        let mut pending: Option<[u8; 32]> = None;
        let mut auditing: Option<tokio::task::JoinHandle<(AuditSettings, Report)>> = None;
        loop {
            let busy = auditing.is_some();
            let audited = async {
                match auditing.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                status = child.wait() => {
                    let status = status.map_err(|e| anyhow::anyhow!("cannot wait for {name}: {e}"))?;
                    return Ok(exit_code(status));
                }
                Some(signal) = rx.recv() => send(signal),
                done = audited => {
                    auditing = None;
                    let (audit, report) = done
                        .map_err(|e| anyhow::anyhow!("the audit of the changed bindings stopped: {e}"))?;
                    if gate(&audit, &report, name, "not signalled") {
                        send(watch.signal);
                        diagnose(|err| writeln!(
                            err,
                            "attache: the changed bindings pass; sent {} to {name}",
                            watch.signal
                        ));
                    }
                }
                _ = ticker.tick(), if !busy => {
                    let now = fingerprint(&settings);
                    if now == seen {
                        pending = None;
                        continue;
                    }
                    if pending != Some(now) {
                        pending = Some(now);
                        continue;
                    }
                    pending = None;
                    seen = now;
                    diagnose(|err| writeln!(err, "attache: a binding changed; auditing"));
                    match fresh_audit(&settings) {
                        Ok(audit) => {
                            auditing = Some(tokio::spawn(async move {
                                let report = audit::check(&audit, &|_| {}).await;
                                (audit, report)
                            }));
                        }
                        Err(e) => diagnose(|err| writeln!(err, "attache: {e}; {name} not signalled")),
                    }
                }
            }
        }
    })
}

/// What the bindings read now, with `--env-file` read again.
fn fingerprint(settings: &ExecSettings) -> [u8; 32] {
    let env = environment(settings).unwrap_or_default();
    settings
        .audit
        .registry
        .fingerprint(&settings.audit.manifest, &env)
}

/// The process environment overlaid with `--env-file` as it reads now.
fn environment(settings: &ExecSettings) -> anyhow::Result<Environment> {
    let env = Environment::from_process();
    Ok(match &settings.env_file {
        Some(path) => env
            .with_env_file(path)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        None => env,
    })
}

/// The audit settings for a re-audit: the same manifest and threshold, the environment now.
fn fresh_audit(settings: &ExecSettings) -> anyhow::Result<AuditSettings> {
    Ok(AuditSettings {
        registry: attache::registry(),
        manifest: settings.audit.manifest.clone(),
        env: environment(settings)?,
        format: settings.audit.format,
        fail_on: settings.audit.fail_on,
        color: false,
        progress: false,
        process: None,
        repository: false,
    })
}

/// The child's status as ours: its code, or 128 + the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code as u8),
        (None, Some(signal)) => ExitCode::from(128u8.wrapping_add(signal as u8)),
        (None, None) => ExitCode::from(1),
    }
}
