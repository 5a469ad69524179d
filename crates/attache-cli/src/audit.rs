//! `attache audit`: settings from arguments, then the library's audit, then a renderer.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use attache::{Environment, Manifest, ResourceReport};

use crate::args::{AuditArgs, Format};
use crate::render;

pub(crate) fn run(args: AuditArgs) -> ExitCode {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(m) => m,
        Err(e) => return usage_error(&e.to_string()),
    };
    let registry = attache::registry();
    if let Err(e) = registry.validate(&manifest) {
        return usage_error(&e.to_string());
    }
    let mut env = Environment::from_process();
    if let Some(path) = &args.env_file {
        env = match env.with_env_file(path) {
            Ok(env) => env,
            Err(e) => return usage_error(&e.to_string()),
        };
    }

    let progress = std::io::stderr().is_terminal();
    let total = manifest.resources.len();
    if progress {
        eprintln!(
            "attache: auditing {total} resource(s) from {}",
            manifest.path.display()
        );
    }
    let started = Instant::now();
    let on_done = |r: &ResourceReport| {
        if progress {
            eprintln!(
                "attache: {} ({}) checked, {} finding(s)",
                r.name,
                r.kind,
                r.findings.len()
            );
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage_error(&format!("cannot start the async runtime: {e}")),
    };
    let report = runtime.block_on(registry.audit(&manifest, &env, &on_done));
    if progress {
        eprintln!("attache: done in {:.2}s", started.elapsed().as_secs_f64());
    }

    let mut out = std::io::stdout().lock();
    let written = match args.format {
        Format::Json => render::json(&mut out, &report),
        Format::Table => {
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            render::table(&mut out, &report, args.fail_on, color)
        }
    };
    if let Err(e) = written.and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("attache: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    if report.fails(args.fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("attache: {message}");
    ExitCode::from(2)
}
