//! A whole audit: every resource's report and every finding, sorted and stable, and the app's
//! attack surface.

use serde::Serialize;

use crate::finding::{CheckId, Finding, Severity};
use crate::kind::ResourceReport;
use crate::manifest::Protocol;
use crate::process::ProcessAudit;
use crate::repo::RepoScan;

/// The result of auditing a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The format version of the JSON rendering.
    pub version: u32,
    /// Every finding, most severe first, then by resource, check and message.
    pub findings: Vec<Finding>,
    /// Every resource, by name.
    pub resources: Vec<ResourceReport>,
    /// What the app exposes and holds: its listeners, its resources and the peers nobody
    /// declared, its secrets and where they sit.
    pub attack_surface: AttackSurface,
}

/// What the app exposes and holds, as far as the audit could see: the resources always; the
/// process's listeners, peers and local files with `attache audit --process`; the repository's
/// secrets when the manifest sits in a git work tree. No secret value, only where each sits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttackSurface {
    /// The audited process, if there was one.
    pub process: Option<ProcessSummary>,
    /// Where the process listens, each said to be declared by `[process] listen` or not.
    pub listeners: Vec<Listener>,
    /// The manifest's resources: where each points and how many of the process's connections
    /// go there.
    pub resources: Vec<DeclaredResource>,
    /// The process's outbound connections to peers no resource points to.
    pub undeclared_peers: Vec<Peer>,
    /// Every secret the audit saw, by who holds it and where it sits.
    pub secrets: Vec<HeldSecret>,
    /// The files the process writes outside temporary directories.
    pub local_state: Vec<String>,
}

/// Who the audited process is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessSummary {
    /// Its pid.
    pub pid: u32,
    /// Its name.
    pub command: String,
    /// Its real uid.
    pub uid: u32,
    /// Its effective uid.
    pub effective_uid: u32,
    /// Its effective capabilities, by name.
    pub capabilities: Vec<String>,
}

/// One socket the process listens on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Listener {
    /// `tcp` or `udp`.
    pub protocol: Protocol,
    /// The address it is bound to (`0.0.0.0` and `::` are every address).
    pub address: String,
    /// The port.
    pub port: u16,
    /// Whether `[process] listen` declares it there.
    pub declared: bool,
}

/// A peer the process has connections to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Peer {
    /// `tcp`.
    pub protocol: Protocol,
    /// Its address.
    pub address: String,
    /// Its port.
    pub port: u16,
    /// How many connections go there.
    pub connections: usize,
    /// The resource whose binding points there, if one does.
    pub resource: Option<String>,
}

/// A declared resource as part of the attack surface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredResource {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Where its binding points (no secret), if it has one.
    pub target: Option<String>,
    /// How many of the audited process's connections go to it (`None` without a process).
    pub connections: Option<usize>,
}

/// A secret, by who holds it and where it sits: never its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct HeldSecret {
    /// The resource, `(process)` or `(repository)`.
    pub holder: String,
    /// What it is (`the password`, `a GitHub token`).
    pub secret: String,
    /// Where it sits: `password in env DATABASE_URL`, `file /run/secrets/db`,
    /// `env API_TOKEN of process 4242`, `.env line 3`.
    pub location: String,
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
        let attack_surface = AttackSurface {
            resources: resources
                .iter()
                .map(|r| DeclaredResource {
                    name: r.name.clone(),
                    kind: r.kind.clone(),
                    target: r.target.clone(),
                    connections: None,
                })
                .collect(),
            secrets: resources
                .iter()
                .flat_map(|r| {
                    r.secrets.iter().map(|(secret, location)| HeldSecret {
                        holder: r.name.clone(),
                        secret: secret.clone(),
                        location: location.clone(),
                    })
                })
                .collect(),
            ..AttackSurface::default()
        };
        let mut report = Report {
            version: 1,
            findings,
            resources,
            attack_surface,
        };
        report.sort();
        report
    }

    /// Adds what auditing the app's process found: its findings, and its listeners, peers,
    /// secrets and local files to the attack surface.
    pub fn with_process(mut self, audit: ProcessAudit) -> Report {
        self.findings.extend(audit.findings);
        let surface = &mut self.attack_surface;
        surface.process = Some(audit.summary);
        surface.listeners = audit.listeners;
        for r in &mut surface.resources {
            r.connections = Some(
                audit
                    .peers
                    .iter()
                    .filter(|p| p.resource.as_deref() == Some(r.name.as_str()))
                    .map(|p| p.connections)
                    .sum(),
            );
        }
        surface.undeclared_peers = audit
            .peers
            .into_iter()
            .filter(|p| p.resource.is_none())
            .collect();
        surface.secrets.extend(audit.secrets);
        surface.local_state = audit.local_state;
        self.sort();
        self
    }

    /// Adds what scanning the app's repository found: its findings, and its secrets to the
    /// attack surface.
    pub fn with_repository(mut self, scan: RepoScan) -> Report {
        self.findings.extend(scan.findings);
        self.attack_surface.secrets.extend(scan.secrets);
        self.sort();
        self
    }

    fn sort(&mut self) {
        self.findings
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.findings.dedup();
        let surface = &mut self.attack_surface;
        surface.listeners.sort();
        surface.undeclared_peers.sort();
        surface.secrets.sort();
        surface.secrets.dedup();
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
