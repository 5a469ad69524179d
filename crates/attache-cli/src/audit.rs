//! `attache audit`: the library's audit of every resource of the manifest, as one report.

use std::path::Path;
use std::time::{Duration, Instant};

use attache::{Report, ResourceReport};

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
    settings
        .registry
        .audit(&settings.manifest, &settings.env, &on_done)
        .await
}
