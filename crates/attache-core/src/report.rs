//! A whole audit: every resource's report and every finding, sorted and stable.

use serde::Serialize;

use crate::finding::{CheckId, Finding, Severity};
use crate::kind::ResourceReport;

/// The result of auditing a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The format version of the JSON rendering.
    pub version: u32,
    /// Every finding, most severe first, then by resource, check and message.
    pub findings: Vec<Finding>,
    /// Every resource, by name.
    pub resources: Vec<ResourceReport>,
}

impl Report {
    /// Gathers resource reports, adds the cross-resource checks (`cred-reused`) and sorts.
    pub fn new(mut resources: Vec<ResourceReport>) -> Report {
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        let mut findings: Vec<Finding> = resources
            .iter()
            .flat_map(|r| r.findings.iter().cloned())
            .collect();

        let mut by_credential: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for r in &resources {
            if let Some(c) = &r.credential {
                by_credential.entry(c).or_default().push(&r.name);
            }
        }
        for names in by_credential.values().filter(|n| n.len() > 1) {
            for name in names {
                findings.push(Finding::new(
                    CheckId::CredReused,
                    Severity::Medium,
                    *name,
                    format!("the same password serves resources {}", names.join(", ")),
                    "give every resource its own account and password, so one leak opens one door",
                ));
            }
        }
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        Report {
            version: 1,
            findings,
            resources,
        }
    }

    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether any finding is at or above `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.worst().is_some_and(|w| w >= threshold)
    }
}
