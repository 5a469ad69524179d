//! `attache audit`: the library's audit of every resource of the manifest, as one report; with
//! `--process`, the library's judgement of the app's process; and the scan of the git work tree
//! holding the manifest, when there is one.

use std::path::Path;
use std::time::{Duration, Instant};

use attache::{Environment, Report, ResourceReport, Secret};

use crate::settings::AuditSettings;

/// What an audit says while it runs, for a progress view.
pub(crate) enum Progress<'a> {
    /// The audit starts on `resources` resources of the manifest at `manifest`.
    Started {
        resources: usize,
        manifest: &'a Path,
    },
    /// One resource is checked.
    Checked(&'a ResourceReport),
    /// Every resource is checked.
    Finished(Duration),
}

/// Audits every resource of the manifest concurrently; `progress` hears each step.
pub(crate) fn run(
    settings: &AuditSettings,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> anyhow::Result<Report> {
    progress(Progress::Started {
        resources: settings.manifest.resources.len(),
        manifest: &settings.manifest.path,
    });
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    let report = runtime.block_on(check(settings, progress));
    progress(Progress::Finished(started.elapsed()));
    Ok(report)
}

/// The audit itself, on the caller's runtime: `progress` hears each resource as it is checked.
pub(crate) async fn check(
    settings: &AuditSettings,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Report {
    let on_done = |r: &ResourceReport| progress(Progress::Checked(r));
    let mut report = settings
        .registry
        .audit(&settings.manifest, &settings.env, &on_done)
        .await;
    if let Some(snapshot) = &settings.process {
        report = report.with_process(judge_process(settings, snapshot));
    }
    if settings.repository {
        let dir = settings.manifest.path.parent().unwrap_or(Path::new("."));
        if let Some(scan) = attache::repo::scan(dir) {
            report = report.with_repository(scan);
        }
    }
    report
}

/// The library's judgement of the process. Its connections are compared with where each
/// resource's binding points, read from attache's environment and from the process's own
/// (without its password files, which only the connection would need). A resource's URL
/// variable that attache's environment holds with the same value was judged by the resource's
/// checks already.
fn judge_process(settings: &AuditSettings, snapshot: &attache::Snapshot) -> attache::ProcessAudit {
    let manifest = &settings.manifest;
    let theirs = Environment::from_pairs(
        snapshot
            .environment
            .iter()
            .filter(|(name, _)| !name.ends_with(attache::discover::vars::PASSWORD_FILE_SUFFIX))
            .map(|(name, value)| (name.clone(), value.expose_secret().to_owned())),
    );
    let mut endpoints = settings.registry.endpoints(manifest, &settings.env);
    endpoints.extend(settings.registry.endpoints(manifest, &theirs));
    endpoints.sort();
    endpoints.dedup();
    let url_vars: Vec<String> = manifest.resources.values().map(|r| r.url_var()).collect();
    let reported = |name: &str, value: &Secret| {
        url_vars.iter().any(|v| v == name)
            && settings
                .env
                .get(name)
                .is_some_and(|ours| ours.value == value.expose_secret())
    };
    attache::process::judge(snapshot, manifest, &endpoints, &reported)
}
