//! `attache grants`: the least-privileged account for each resource's needs, as statements an
//! administrator runs, in each server's own language.

use std::path::PathBuf;

use attache::{ManifestError, Provision};

use crate::settings::GrantsSettings;

/// The statements for every selected resource, in the manifest's order.
pub(crate) struct GrantsReport {
    /// One per resource.
    pub(crate) grants: Vec<Grant>,
    /// The file whose password the statements hold, if any: the output is then a secret.
    pub(crate) password_from: Option<PathBuf>,
}

/// The provisioning of one resource.
pub(crate) struct Grant {
    /// The account the statements create.
    pub(crate) account: String,
    /// The statements and notes, from the resource's kind.
    pub(crate) provision: Provision,
}

/// Asks each selected resource's kind for the statements that create its account.
pub(crate) fn run(settings: &GrantsSettings) -> Result<GrantsReport, ManifestError> {
    let password = settings.password.as_ref();
    let mut grants = Vec::with_capacity(settings.resources.len());
    for name in &settings.resources {
        let spec = settings
            .manifest
            .resource(name)
            .expect("settings selected resources of the manifest");
        let kind = settings
            .registry
            .get(&spec.kind)
            .expect("settings validated every kind");
        let account = settings.account.as_deref().unwrap_or(&spec.name);
        let provision = kind.provision(
            &settings.manifest,
            spec,
            account,
            password.map(|p| &p.secret),
        )?;
        grants.push(Grant {
            account: account.to_owned(),
            provision,
        });
    }
    Ok(GrantsReport {
        grants,
        password_from: password.map(|p| p.path.clone()),
    })
}
