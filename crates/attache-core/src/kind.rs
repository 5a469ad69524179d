//! The one trait a kind implements, and the flow that every kind shares:
//! resolve → connect → inspect → judge → (attach).
//!
//! A kind knows its protocol: how to read a binding, how to connect under verify-full TLS, how
//! to read the account's privileges, and what the app gets. Everything else (where bindings
//! come from, timeouts, credential checks, which findings refuse an attach) lives here, once.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde::Serialize;

use crate::discover::{BindingInput, Environment, discover};
use crate::finding::{CheckId, Finding, Severity};
use crate::manifest::{ExcessPolicy, Manifest, ManifestError, Policy, ResourceSpec};
use crate::secret::Secret;
use crate::source::{Source, Sourced};
use crate::tls::{TlsFacts, expiry_finding};

/// What every kind's binding can tell the shared checks.
pub trait Binding: Send + Sync + 'static {
    /// Where the binding as a whole came from.
    fn origin(&self) -> Option<&Source>;
    /// Where it points, with no secret in it (`app@db.internal:5432/app`).
    fn target(&self) -> String;
    /// The account's name, if the binding has one.
    fn user(&self) -> Option<&str>;
    /// The password, if the binding has one.
    fn password(&self) -> Option<&Sourced<Secret>>;
    /// Files holding secrets (password files, private keys), for the permission check.
    fn secret_files(&self) -> Vec<PathBuf>;
}

/// What a kind's functions get to work with.
pub struct Ctx<'a, K: Kind> {
    /// The resource as the manifest declares it.
    pub spec: &'a ResourceSpec,
    /// Its needs, parsed.
    pub needs: &'a [K::Need],
    /// Its binding, parsed.
    pub binding: &'a K::Binding,
}

impl<K: Kind> Clone for Ctx<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: Kind> Copy for Ctx<'_, K> {}

impl<K: Kind> Ctx<'_, K> {
    /// The resource's name.
    pub fn resource(&self) -> &str {
        &self.spec.name
    }
}

/// A live connection and what connecting revealed.
pub struct Connected<C> {
    /// The connection, used for inspection.
    pub conn: C,
    /// The TLS facts; `None` for plaintext (loopback or unix socket, already reported).
    pub tls: Option<TlsFacts>,
    /// Findings made while connecting (e.g. `cred-empty`).
    pub findings: Vec<Finding>,
}

/// The account's posture as read through the account itself.
pub struct Inspection {
    /// Facts about the account, as the kind structures them (rendered in reports).
    pub account: serde_json::Value,
    /// Findings from judging those facts against the needs.
    pub findings: Vec<Finding>,
}

/// A protocol family: `postgres`, `mysql`, `redis`, …
///
/// Implementations live in their own crates; the shared flow is [`check`] and [`attach`].
pub trait Kind: Send + Sync + Sized + 'static {
    /// The name used in manifests (`kind = "postgres"`).
    const NAME: &'static str;
    /// One parsed need.
    type Need: Clone + Send + Sync + fmt::Debug + fmt::Display;
    /// A parsed binding.
    type Binding: Binding;
    /// A connection used for inspection.
    type Conn: Send;
    /// What the app receives: a pool or client of a type users already know.
    type Client: Send;

    /// Parses one need written in the kind's own words. The error says what was expected.
    fn parse_need(text: &str) -> Result<Self::Need, String>;

    /// Reads the binding the environment gave. Returns the binding and the findings its settings
    /// warrant (e.g. `tls-downgrade-permitted`), or the one finding that makes it unusable.
    fn parse_binding(
        input: BindingInput,
        spec: &ResourceSpec,
    ) -> Result<(Self::Binding, Vec<Finding>), Finding>;

    /// Connects with verify-full TLS (or plaintext only where the binding and policy allow it,
    /// already reported). Refusals and failures come back as findings.
    fn connect(
        ctx: Ctx<'_, Self>,
    ) -> impl Future<Output = Result<Connected<Self::Conn>, Vec<Finding>>> + Send;

    /// Reads the account's privileges through the connection, without side effects, and judges
    /// them against the needs.
    fn inspect<'a>(
        ctx: Ctx<'a, Self>,
        conn: &'a mut Self::Conn,
    ) -> impl Future<Output = Inspection> + Send + 'a;

    /// Builds what the app receives from a binding that passed.
    fn client(ctx: Ctx<'_, Self>) -> impl Future<Output = Result<Self::Client, Finding>> + Send;

    /// Builds what the app receives from a binding that passed, reusing the connection that
    /// inspection used (it saves a handshake and a login on every attach). The connection ran
    /// only side-effect-free reads. By default it is closed and [`client`](Kind::client) builds
    /// from the binding alone.
    fn client_with(
        ctx: Ctx<'_, Self>,
        conn: Self::Conn,
    ) -> impl Future<Output = Result<Self::Client, Finding>> + Send {
        drop(conn);
        Self::client(ctx)
    }

    /// Opens up to `connections` connections of a freshly built client before it takes traffic,
    /// so the first requests after a swap do not pay for handshakes. By default, nothing.
    fn warm(client: &Self::Client, connections: usize) -> impl Future<Output = ()> + Send {
        let _ = (client, connections);
        async {}
    }

    /// Closes a client that no request uses any more (after a swap). By default it is dropped.
    fn close(client: &Self::Client) {
        let _ = client;
    }

    /// What an administrator runs to create the least-privileged account `account` for
    /// `needs`, in the server's own language. The password is never invented: `password` (read
    /// from a file the administrator named) is written in, quoted for the server's language, or
    /// without one the statements carry a clearly marked parameter that cannot run unfilled.
    fn provision(
        spec: &ResourceSpec,
        needs: &[Self::Need],
        account: &str,
        password: Option<&Secret>,
    ) -> Provision;
}

/// Provisioning statements for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provision {
    /// The resource.
    pub resource: String,
    /// Its kind.
    pub kind: String,
    /// The language of the statements (`sql`, `redis`, …).
    pub language: String,
    /// The statements, in order.
    pub statements: Vec<String>,
    /// What the statements cannot do and an administrator must (server configuration), and how
    /// to supply the password parameter.
    pub notes: Vec<String>,
}

/// What was learned about one resource.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceReport {
    /// The resource's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Where its binding came from.
    pub source: Option<String>,
    /// Where it points (no secrets).
    pub target: Option<String>,
    /// TLS facts of the connection, if one was made.
    pub tls: Option<TlsFacts>,
    /// The account's posture, if it could be read.
    pub account: Option<serde_json::Value>,
    /// The findings (reported at the top level of a report, not here).
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// A fingerprint of the password, to find one reused across resources.
    #[serde(skip)]
    pub credential: Option<String>,
}

impl ResourceReport {
    /// A report with nothing learned yet.
    pub fn empty(name: &str, kind: &str) -> Self {
        ResourceReport {
            name: name.to_owned(),
            kind: kind.to_owned(),
            source: None,
            target: None,
            tls: None,
            account: None,
            findings: Vec::new(),
            credential: None,
        }
    }
}

/// A resource after resolve → connect → inspect → judge.
pub struct Checked<K: Kind> {
    /// The report.
    pub report: ResourceReport,
    /// The binding, if it could be read.
    pub binding: Option<K::Binding>,
}

/// Whether `finding` refuses an attach under `policy`: everything at `high` or above does,
/// except `priv-excess`, which refuses only with `excess = "deny"`.
pub fn refuses(finding: &Finding, policy: &Policy) -> bool {
    match finding.check {
        CheckId::PrivExcess => policy.excess == ExcessPolicy::Deny,
        _ => finding.severity >= Severity::High,
    }
}

/// Runs resolve → connect → inspect → judge for one resource.
pub async fn check<K: Kind>(
    spec: &ResourceSpec,
    needs: &[K::Need],
    env: &Environment,
) -> Checked<K> {
    check_keeping::<K>(spec, needs, env).await.0
}

/// [`check`], also returning the inspection connection when inspection finished (a connection
/// left mid-query by the inspect timeout is not returned).
async fn check_keeping<K: Kind>(
    spec: &ResourceSpec,
    needs: &[K::Need],
    env: &Environment,
) -> (Checked<K>, Option<K::Conn>) {
    let mut report = ResourceReport::empty(&spec.name, K::NAME);
    let input = match discover(spec, env) {
        Ok(input) => input,
        Err(f) => {
            report.findings.push(f);
            return (
                Checked {
                    report,
                    binding: None,
                },
                None,
            );
        }
    };
    report.source = input.origin.as_ref().map(ToString::to_string);
    let (binding, findings) = match K::parse_binding(input, spec) {
        Ok(parsed) => parsed,
        Err(f) => {
            report.findings.push(f);
            return (
                Checked {
                    report,
                    binding: None,
                },
                None,
            );
        }
    };
    report.target = Some(binding.target());
    report.findings.extend(findings);
    report
        .findings
        .extend(credential_findings(&spec.name, &binding));
    report.credential = binding.password().map(|p| p.value.fingerprint());

    let ctx = Ctx::<K> {
        spec,
        needs,
        binding: &binding,
    };
    let connected = tokio::time::timeout(spec.policy.connect_timeout, K::connect(ctx)).await;
    let mut connected = match connected {
        Ok(Ok(c)) => c,
        Ok(Err(findings)) => {
            report.findings.extend(findings);
            return (
                Checked {
                    report,
                    binding: Some(binding),
                },
                None,
            );
        }
        Err(_) => {
            report.findings.push(Finding::new(
                CheckId::Unreachable,
                Severity::High,
                &spec.name,
                format!(
                    "no connection to {} within connect_timeout ({})",
                    binding.target(),
                    humantime::format_duration(spec.policy.connect_timeout)
                ),
                "check the host and port in the binding and that the server is up; raise \
                 policy.connect_timeout if the network is slow",
            ));
            return (
                Checked {
                    report,
                    binding: Some(binding),
                },
                None,
            );
        }
    };
    report.findings.append(&mut connected.findings);
    if let Some(tls) = &connected.tls {
        report.findings.extend(expiry_finding(&spec.name, tls));
    }
    report.tls = connected.tls.take();

    let inspected = tokio::time::timeout(
        spec.policy.inspect_timeout,
        K::inspect(ctx, &mut connected.conn),
    )
    .await;
    let conn = match inspected {
        Ok(inspection) => {
            report.account = Some(inspection.account);
            report.findings.extend(inspection.findings);
            Some(connected.conn)
        }
        Err(_) => {
            report.findings.push(Finding::new(
                CheckId::PrivUnknown,
                Severity::Medium,
                &spec.name,
                format!(
                    "reading the account's privileges did not finish within inspect_timeout ({})",
                    humantime::format_duration(spec.policy.inspect_timeout)
                ),
                "raise policy.inspect_timeout; nothing about the account's privileges is known",
            ));
            None
        }
    };
    report
        .findings
        .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    (
        Checked {
            report,
            binding: Some(binding),
        },
        conn,
    )
}

const DEFAULT_PASSWORDS: &[&str] = &[
    "postgres", "password", "admin", "root", "changeme", "secret", "123456", "guest", "default",
    "mysql", "redis",
];

/// The checks every binding gets, whatever its kind.
fn credential_findings(resource: &str, binding: &impl Binding) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(pw) = binding.password() {
        if pw.source.is_env() {
            out.push(Finding::new(
                CheckId::CredInEnv,
                Severity::Medium,
                resource,
                format!(
                    "the password sits in a plain environment variable ({})",
                    pw.source
                ),
                "move the password into a file (the `<NAME>_PASSWORD_FILE` variable names it) or \
                     a service-binding directory, and drop it from the URL",
            ));
        }
        let value = pw.value.expose_secret();
        let is_default = DEFAULT_PASSWORDS.contains(&value.to_ascii_lowercase().as_str())
            || binding.user().is_some_and(|u| u == value);
        if is_default {
            out.push(Finding::new(
                CheckId::CredDefault,
                Severity::High,
                resource,
                format!("the password from {} is a well-known default", pw.source),
                "set a long random password for the account and put it in the secret file",
            ));
        }
    }
    for path in binding.secret_files() {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                out.push(Finding::new(
                    CheckId::CredFilePerms,
                    Severity::Medium,
                    resource,
                    format!(
                        "secret file {} is readable by other users (mode {mode:o})",
                        path.display()
                    ),
                    format!(
                        "chmod 600 {} (Kubernetes: defaultMode: 0400 on the secret volume)",
                        path.display()
                    ),
                ));
            }
        }
    }
    out
}

/// Why an attach did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The manifest has no such resource.
    #[error("{manifest}: no resource `{resource}`")]
    UnknownResource {
        /// The resource asked for.
        resource: String,
        /// The manifest's path.
        manifest: String,
    },
    /// The resource is of another kind than the one asked for.
    #[error("resource `{resource}` is of kind `{found}`, not `{expected}`")]
    WrongKind {
        /// The resource.
        resource: String,
        /// The kind asked for.
        expected: &'static str,
        /// The kind in the manifest.
        found: String,
    },
    /// A need in the manifest does not parse.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Findings refused the attach.
    #[error("resource `{resource}` refused: {}", summary(.findings))]
    Refused {
        /// The resource.
        resource: String,
        /// The refusing findings, most severe first.
        findings: Vec<Finding>,
    },
}

fn summary(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("[{}] {}: {}", f.severity, f.check, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AttachError {
    /// The findings that refused the attach, if that is why.
    pub fn findings(&self) -> &[Finding] {
        match self {
            AttachError::Refused { findings, .. } => findings,
            _ => &[],
        }
    }
}

/// Parses the needs of a resource, naming the field of a bad one.
pub fn parse_needs<K: Kind>(
    manifest_path: &std::path::Path,
    spec: &ResourceSpec,
) -> Result<Vec<K::Need>, ManifestError> {
    spec.needs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            K::parse_need(text).map_err(|message| ManifestError {
                path: manifest_path.to_owned(),
                resource: Some(spec.name.clone()),
                field: Some(format!("needs[{i}]")),
                message,
            })
        })
        .collect()
}

/// Attaches resource `name` of `manifest`: runs every check and returns the kind's client, or
/// the findings that refused it. Findings that do not refuse are logged as tracing warnings.
///
/// For a resource that can be swapped or rotated while the app runs, use
/// [`Attached`](crate::Attached) instead.
pub async fn attach<K: Kind>(
    manifest: &Manifest,
    name: &str,
    env: &Environment,
) -> Result<K::Client, AttachError> {
    let (spec, needs) = resolve::<K>(manifest, name)?;
    attach_spec::<K>(spec, &needs, env)
        .await
        .map(|attached| attached.client)
}

/// The resource `name` of `manifest`, checked to be of kind `K`, and its parsed needs.
pub(crate) fn resolve<'m, K: Kind>(
    manifest: &'m Manifest,
    name: &str,
) -> Result<(&'m ResourceSpec, Vec<K::Need>), AttachError> {
    let spec = manifest
        .resource(name)
        .ok_or_else(|| AttachError::UnknownResource {
            resource: name.to_owned(),
            manifest: manifest.path.display().to_string(),
        })?;
    if spec.kind != K::NAME {
        return Err(AttachError::WrongKind {
            resource: name.to_owned(),
            expected: K::NAME,
            found: spec.kind.clone(),
        });
    }
    let needs = parse_needs::<K>(&manifest.path, spec)?;
    Ok((spec, needs))
}

/// A client built from a binding that passed every check.
pub(crate) struct Passed<C> {
    pub(crate) client: C,
    /// Where it points (no secrets).
    pub(crate) target: String,
}

/// check → refuse or build the client. The one path both a first attach and a re-attach take.
pub(crate) async fn attach_spec<K: Kind>(
    spec: &ResourceSpec,
    needs: &[K::Need],
    env: &Environment,
) -> Result<Passed<K::Client>, AttachError> {
    let name = spec.name.as_str();
    let (checked, conn) = check_keeping::<K>(spec, needs, env).await;
    let (refusing, others): (Vec<_>, Vec<_>) = checked
        .report
        .findings
        .into_iter()
        .partition(|f| refuses(f, &spec.policy));
    for f in &others {
        tracing::warn!(resource = %f.resource, check = %f.check, severity = %f.severity, "{}", f.message);
    }
    if !refusing.is_empty() {
        return Err(AttachError::Refused {
            resource: name.to_owned(),
            findings: refusing,
        });
    }
    let Some(binding) = checked.binding else {
        unreachable!("a report without a binding always has a refusing finding");
    };
    let ctx = Ctx::<K> {
        spec,
        needs,
        binding: &binding,
    };
    let client = match conn {
        Some(conn) => K::client_with(ctx, conn).await,
        None => K::client(ctx).await,
    };
    let client = client.map_err(|f| AttachError::Refused {
        resource: name.to_owned(),
        findings: vec![f],
    })?;
    let target = binding.target();
    tracing::info!(resource = %name, kind = K::NAME, target = %target, "attached");
    Ok(Passed { client, target })
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A kind behind a trait object, so one registry can hold every kind the build enabled.
pub trait DynKind: Send + Sync {
    /// The kind's manifest name.
    fn name(&self) -> &'static str;
    /// Whether `text` is a valid need.
    fn check_need(&self, text: &str) -> Result<(), String>;
    /// The least-privileged account for one resource's needs (see [`Kind::provision`]).
    fn provision(
        &self,
        manifest: &Manifest,
        spec: &ResourceSpec,
        account: &str,
        password: Option<&Secret>,
    ) -> Result<Provision, ManifestError>;
    /// Runs the full check of one resource.
    fn audit<'a>(
        &'a self,
        manifest: &'a Manifest,
        spec: &'a ResourceSpec,
        env: &'a Environment,
    ) -> BoxFuture<'a, ResourceReport>;
}

struct KindOf<K>(std::marker::PhantomData<fn() -> K>);

impl<K: Kind> DynKind for KindOf<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn check_need(&self, text: &str) -> Result<(), String> {
        K::parse_need(text).map(|_| ())
    }
    fn provision(
        &self,
        manifest: &Manifest,
        spec: &ResourceSpec,
        account: &str,
        password: Option<&Secret>,
    ) -> Result<Provision, ManifestError> {
        let needs = parse_needs::<K>(&manifest.path, spec)?;
        Ok(K::provision(spec, &needs, account, password))
    }
    fn audit<'a>(
        &'a self,
        manifest: &'a Manifest,
        spec: &'a ResourceSpec,
        env: &'a Environment,
    ) -> BoxFuture<'a, ResourceReport> {
        Box::pin(async move {
            match parse_needs::<K>(&manifest.path, spec) {
                Ok(needs) => check::<K>(spec, &needs, env).await.report,
                Err(e) => {
                    let mut report = ResourceReport::empty(&spec.name, K::NAME);
                    report.findings.push(Finding::new(
                        CheckId::BindingInvalid,
                        Severity::High,
                        &spec.name,
                        e.to_string(),
                        "fix the manifest",
                    ));
                    report
                }
            }
        })
    }
}

/// The kinds a build knows.
#[derive(Default)]
pub struct Registry {
    kinds: Vec<Box<dyn DynKind>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a kind.
    pub fn with<K: Kind>(mut self) -> Self {
        self.kinds
            .push(Box::new(KindOf::<K>(std::marker::PhantomData)));
        self
    }

    /// The kind called `name`.
    pub fn get(&self, name: &str) -> Option<&dyn DynKind> {
        self.kinds
            .iter()
            .find(|k| k.name() == name)
            .map(|k| k.as_ref())
    }

    /// The names of the known kinds.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }

    /// Checks that every resource has a known kind and needs that parse.
    pub fn validate(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        for spec in manifest.resources.values() {
            let err = |field: String, message: String| ManifestError {
                path: manifest.path.clone(),
                resource: Some(spec.name.clone()),
                field: Some(field),
                message,
            };
            let kind = self.get(&spec.kind).ok_or_else(|| {
                err(
                    "kind".into(),
                    format!(
                        "unknown kind `{}`; expected one of {}",
                        spec.kind,
                        self.names().join(", ")
                    ),
                )
            })?;
            for (i, need) in spec.needs.iter().enumerate() {
                kind.check_need(need)
                    .map_err(|m| err(format!("needs[{i}]"), m))?;
            }
        }
        Ok(())
    }

    /// Audits every resource of the manifest concurrently. `progress` is called as each one
    /// finishes.
    pub async fn audit(
        &self,
        manifest: &Manifest,
        env: &Environment,
        progress: &(dyn Fn(&ResourceReport) + Sync),
    ) -> crate::report::Report {
        let futures = manifest.resources.values().filter_map(|spec| {
            let kind = self.get(&spec.kind)?;
            Some(async move {
                let report = kind.audit(manifest, spec, env).await;
                progress(&report);
                report
            })
        });
        crate::report::Report::new(futures_util::future::join_all(futures).await)
    }
}
