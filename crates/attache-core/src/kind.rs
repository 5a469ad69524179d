//! The one trait a kind implements, and the flow that every kind shares:
//! resolve → connect → inspect → judge → (attach).
//!
//! A kind knows its protocol: how to read a binding, how to connect under verify-full TLS, how
//! to read the account's privileges, and what the app gets. It declares its [`Surface`] as
//! data, says what its binding asks of the transport ([`Transport`](crate::transport::Transport)),
//! maps its driver's errors to a [`Failure`], and fills an [`Account`]. Everything else (where
//! bindings come from, the TLS posture and whether to connect at all, timeouts, the findings
//! for failures, credential checks, missing and unknown needs, which findings refuse an
//! attach) lives here and in the modules it calls, once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use serde::Serialize;

use crate::account::Account;
pub use crate::binding::Binding;
use crate::discover::{Environment, discover};
use crate::failure::Failure;
use crate::finding::{CheckId, Finding, Severity};
use crate::manifest::{ExcessPolicy, Manifest, ManifestError, Policy, ResourceSpec};
use crate::process::Endpoint;
use crate::secret::Secret;
use crate::surface::{DEFAULT_PASSWORDS, Surface};
use crate::tls::{TlsClient, TlsFacts, expiry_finding};
use crate::transport::{self, Wire};
use crate::url::Host;

/// What a kind's functions get to work with.
pub struct Ctx<'a, K: Kind> {
    /// The resource as the manifest declares it.
    pub spec: &'a ResourceSpec,
    /// Its needs, parsed.
    pub needs: &'a [K::Need],
    /// Its binding, parsed.
    pub binding: &'a K::Binding,
    /// How to connect, as core decided: the verify-full TLS client (the binding's roots and
    /// client certificate, TLS 1.2 or later), or `None` for plaintext, which core allows only
    /// to this machine and has reported.
    pub tls: Option<&'a TlsClient>,
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
    /// Findings only this kind makes while connecting (a server that lets anyone in without a
    /// credential, say).
    pub findings: Vec<Finding>,
}

/// What inspection read of an account, in the kind's own model. Core judges the needs of its
/// [`account`](Posture::account) (`priv-missing`, `priv-unknown`) and reports it; the kind
/// [`judge`](Posture::judge)s what only it can tell.
pub trait Posture: Send {
    /// The account as attache reports it: its name, what it holds and how, each need checked.
    fn account(&self) -> Account;
    /// The kind's own judgement against the needs: `priv-superuser`, `priv-role-admin`,
    /// `priv-excess`, and whatever else only this kind can tell.
    fn judge(&self, resource: &str) -> Vec<Finding>;
}

/// Everything judged of a posture, as an audit reports it: the account, and the kind's
/// findings followed by core's judgement of the needs.
pub fn judge_posture<K: Kind>(resource: &str, posture: &K::Posture) -> (Account, Vec<Finding>) {
    let account = posture.account();
    let mut findings = posture.judge(resource);
    findings.extend(crate::account::judge(
        resource,
        &account,
        K::SURFACE.unknown_fix,
    ));
    (account, findings)
}

/// A protocol family: a database, a cache, a broker, a mail server, an HTTP API.
///
/// Implementations live in their own crates; the shared flow is [`check`] and [`attach`].
pub trait Kind: Send + Sync + Sized + 'static {
    /// The name used in manifests (`kind = "<NAME>"`).
    const NAME: &'static str;
    /// What the kind declares about itself (see [`Surface`]).
    const SURFACE: Surface;
    /// One need, parsed from the kind's own words (`FromStr`; the error says what was
    /// expected).
    type Need: FromStr<Err = String> + Clone + Send + Sync + fmt::Debug + fmt::Display;
    /// A parsed binding.
    type Binding: Binding;
    /// A connection used for inspection.
    type Conn: Send;
    /// What inspection reads of the account.
    type Posture: Posture;
    /// What the app receives: a pool or client of a type users already know.
    type Client: Send;

    /// Connects as core decided ([`Ctx::tls`]) and logs in. A failure is mapped to the one
    /// [`Failure`] that says what happened; core writes its finding.
    fn connect(
        ctx: Ctx<'_, Self>,
    ) -> impl Future<Output = Result<Connected<Self::Conn>, Failure>> + Send;

    /// Reads the account's privileges through the connection, without side effects.
    fn inspect<'a>(
        ctx: Ctx<'a, Self>,
        conn: &'a mut Self::Conn,
    ) -> impl Future<Output = Self::Posture> + Send + 'a;

    /// Builds what the app receives from a binding that passed.
    fn client(ctx: Ctx<'_, Self>) -> impl Future<Output = Result<Self::Client, Failure>> + Send;

    /// Builds what the app receives from a binding that passed, reusing the connection that
    /// inspection used (it saves a handshake and a login on every attach). The connection ran
    /// only side-effect-free reads. By default it is closed and [`client`](Kind::client) builds
    /// from the binding alone.
    fn client_with(
        ctx: Ctx<'_, Self>,
        conn: Self::Conn,
    ) -> impl Future<Output = Result<Self::Client, Failure>> + Send {
        drop(conn);
        Self::client(ctx)
    }

    /// Opens up to `connections` connections of a freshly built client before it takes traffic,
    /// so the first requests after a swap do not pay for handshakes. By default, nothing.
    fn warm(client: &Self::Client, connections: usize) -> impl Future<Output = ()> + Send {
        let _ = (client, connections);
        async {}
    }

    /// Runs the kind's steps on a fresh TCP connection up to where its TLS begins, for core's
    /// probe of the oldest TLS version the server accepts ([`crate::floor`]). `Ok(false)`: the
    /// kind has no such probe. By default the kind's TLS begins at the first byte: nothing to do.
    fn before_tls(
        stream: &mut tokio::net::TcpStream,
    ) -> impl Future<Output = std::io::Result<bool>> + Send {
        let _ = stream;
        async { Ok(true) }
    }

    /// Closes a client that no request uses any more (after a swap). By default it is dropped.
    fn close(client: &Self::Client) {
        let _ = client;
    }

    /// What an administrator runs to create the least-privileged account for a request's needs,
    /// in the server's own language. The password is never invented: the request's (read from
    /// a file the administrator named) is written in, quoted for the server's language, or
    /// without one the statements carry a clearly marked parameter that cannot run unfilled.
    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision;
}

/// What `attache grants` asks a kind to provision.
pub struct ProvisionRequest<'a, K: Kind> {
    /// The resource as the manifest declares it.
    pub spec: &'a ResourceSpec,
    /// Its needs, parsed.
    pub needs: &'a [K::Need],
    /// The account to create.
    pub account: &'a str,
    /// Its password, if the administrator gave one.
    pub password: Option<&'a Secret>,
}

impl<K: Kind> ProvisionRequest<'_, K> {
    /// The password as the statements write it: `quote`d when given, else `parameter`.
    pub fn password_or(&self, parameter: &str, quote: impl Fn(&str) -> String) -> String {
        match self.password {
            Some(pw) => quote(pw.expose_secret()),
            None => parameter.to_owned(),
        }
    }

    /// The answer: `statements` in `language`, with `notes` for what they cannot do.
    pub fn answer(&self, language: &str, statements: Vec<String>, notes: Vec<String>) -> Provision {
        Provision {
            resource: self.spec.name.clone(),
            kind: K::NAME.to_owned(),
            language: language.to_owned(),
            statements,
            notes,
        }
    }
}

/// Provisioning statements for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provision {
    /// The resource.
    pub resource: String,
    /// Its kind.
    pub kind: String,
    /// The language of the statements (`sql`, or the name of the server's command language).
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
    pub account: Option<Account>,
    /// The findings (reported at the top level of a report, not here).
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// A fingerprint of the password, to find one reused across resources.
    #[serde(skip)]
    pub credential: Option<String>,
    /// Where the binding's secrets sit, each as what it is and where (`the password`,
    /// `password in env DATABASE_URL`), for the report's attack surface.
    #[serde(skip)]
    pub secrets: Vec<(String, String)>,
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
            secrets: Vec::new(),
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

/// The oldest TLS version the server at `host:port` accepts, probed on a fresh connection
/// after the kind's steps before TLS; `None` when the kind has no probe or nothing clear came
/// back within `timeout`.
async fn probe_floor<K: Kind>(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> Option<crate::floor::Floor> {
    let run = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        if !K::before_tls(&mut stream).await.ok()? {
            return None;
        }
        crate::floor::probe(stream, host, timeout).await
    };
    tokio::time::timeout(timeout, run).await.ok().flatten()
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

/// What [`check_keeping`] keeps for building the app's client: how core decided to connect,
/// and the inspection connection when inspection finished (a connection left mid-query by the
/// inspect timeout is not kept).
struct Kept<K: Kind> {
    wire: Wire,
    tls: Option<TlsClient>,
    conn: Option<K::Conn>,
}

/// [`check`], also returning what building the client reuses.
async fn check_keeping<K: Kind>(
    spec: &ResourceSpec,
    needs: &[K::Need],
    env: &Environment,
) -> (Checked<K>, Kept<K>) {
    let mut report = ResourceReport::empty(&spec.name, K::NAME);
    let mut kept = Kept {
        wire: Wire::Refuse,
        tls: None,
        conn: None,
    };
    let binding = match discover(spec, env, K::SURFACE.binding_files).and_then(|input| {
        report.source = input.origin.as_ref().map(ToString::to_string);
        K::Binding::parse(input)
    }) {
        Ok(binding) => binding,
        Err(f) => {
            report.findings.push(f);
            return (
                Checked {
                    report,
                    binding: None,
                },
                kept,
            );
        }
    };
    report.target = Some(binding.target());
    report
        .findings
        .extend(credential_findings(&spec.name, &binding, &K::SURFACE));
    report.credential = binding.password().map(|p| p.value.fingerprint());
    report.secrets = held_secrets(&binding);
    let judged = transport::judge(
        &spec.name,
        binding.transport(),
        &spec.policy,
        &K::SURFACE.tls,
    );
    report.findings.extend(judged.findings);
    kept.wire = judged.wire;
    let ready = match judged.wire {
        Wire::Refuse => Err(None),
        Wire::Plaintext => Ok(None),
        Wire::Tls => match binding.transport().tls.client(&spec.name) {
            Ok(client) => Ok(Some(client)),
            Err(f) => Err(Some(f)),
        },
    };
    match ready {
        Ok(tls) => kept.tls = tls,
        Err(finding) => {
            report.findings.extend(finding);
            return (
                Checked {
                    report,
                    binding: Some(binding),
                },
                kept,
            );
        }
    }
    let ctx = Ctx::<K> {
        spec,
        needs,
        binding: &binding,
        tls: kept.tls.as_ref(),
    };
    let connected = tokio::time::timeout(spec.policy.connect_timeout, K::connect(ctx)).await;
    let mut connected = match connected {
        Ok(Ok(c)) => c,
        Ok(Err(failure)) => {
            report
                .findings
                .push(failure.finding(&spec.name, &binding, kept.wire, &K::SURFACE.tls));
            return (
                Checked {
                    report,
                    binding: Some(binding),
                },
                kept,
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
                kept,
            );
        }
    };
    report.findings.append(&mut connected.findings);
    report.findings.extend(no_credential_finding(
        &spec.name,
        &binding,
        &report.findings,
        &K::SURFACE,
    ));
    if let Some(tls) = &connected.tls {
        report.findings.extend(expiry_finding(&spec.name, tls));
    }
    report.tls = connected.tls.take();
    if let (Some(facts), Host::Tcp(host)) = (&mut report.tls, &binding.transport().host.value) {
        let timeout = spec.policy.connect_timeout;
        if let Some(floor) = probe_floor::<K>(host, binding.port(), timeout).await {
            if let crate::floor::Floor::Accepts(version) = floor {
                report.findings.push(crate::floor::finding(
                    &spec.name,
                    &binding.target(),
                    version,
                ));
            }
            facts.floor = Some(match floor {
                crate::floor::Floor::Accepts(version) => version.to_owned(),
                crate::floor::Floor::Refuses => "TLSv1.2".to_owned(),
            });
        }
    }

    let inspected = tokio::time::timeout(
        spec.policy.inspect_timeout,
        K::inspect(ctx, &mut connected.conn),
    )
    .await;
    match inspected {
        Ok(posture) => {
            let (account, findings) = judge_posture::<K>(&spec.name, &posture);
            report.findings.extend(findings);
            report.account = Some(account);
            kept.conn = Some(connected.conn);
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
        }
    }
    report
        .findings
        .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    (
        Checked {
            report,
            binding: Some(binding),
        },
        kept,
    )
}

/// Where a binding's secrets sit: its password's source, and every secret file that is not it.
fn held_secrets(binding: &impl Binding) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let password = binding.password().map(|p| p.source.to_string());
    if let Some(source) = &password {
        out.push(("the password".to_owned(), source.clone()));
    }
    for path in binding.secret_files() {
        let location = crate::source::Source::File(path).to_string();
        if password.as_ref() != Some(&location) {
            out.push(("a secret file".to_owned(), location));
        }
    }
    out
}

/// The checks every binding gets, whatever its kind: a password in the environment, a
/// well-known default password, secret files others can read.
fn credential_findings(resource: &str, binding: &impl Binding, surface: &Surface) -> Vec<Finding> {
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
        let value = pw.value.expose_secret().to_ascii_lowercase();
        let is_default = DEFAULT_PASSWORDS
            .iter()
            .chain(surface.default_passwords)
            .any(|d| *d == value)
            || binding
                .user()
                .is_some_and(|u| u == pw.value.expose_secret());
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

/// `cred-empty` for a login over TCP that succeeded with no password (none, or an empty one)
/// and no client certificate, unless the kind already said so while connecting.
fn no_credential_finding(
    resource: &str,
    binding: &impl Binding,
    so_far: &[Finding],
    surface: &Surface,
) -> Option<Finding> {
    let transport = binding.transport();
    let tcp = matches!(transport.host.value, Host::Tcp(_));
    let said = so_far.iter().any(|f| f.check == CheckId::CredEmpty);
    let password = binding.password().is_some_and(|p| !p.value.is_empty());
    if !tcp || said || password || transport.tls.identity.is_some() {
        return None;
    }
    let who = match binding.user() {
        Some(user) => format!("account {user}"),
        None => "a client that named no account".to_owned(),
    };
    Some(Finding::new(
        CheckId::CredEmpty,
        Severity::Critical,
        resource,
        format!(
            "{} let {who} in with no password and no client certificate",
            binding.target()
        ),
        surface.no_credential_fix,
    ))
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
            text.parse::<K::Need>().map_err(|message| ManifestError {
                path: manifest_path.to_owned(),
                resource: Some(spec.name.clone()),
                field: Some(format!("needs[{i}]")),
                message,
            })
        })
        .collect()
}

/// What `attache grants` writes for resource `spec` of the manifest at `manifest_path`: the
/// least-privileged account `account` for its needs, with `password` if one is given.
pub fn provision<K: Kind>(
    manifest_path: &std::path::Path,
    spec: &ResourceSpec,
    account: &str,
    password: Option<&Secret>,
) -> Result<Provision, ManifestError> {
    let needs = parse_needs::<K>(manifest_path, spec)?;
    Ok(K::provision(&ProvisionRequest {
        spec,
        needs: &needs,
        account,
        password,
    }))
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
    let (checked, kept) = check_keeping::<K>(spec, needs, env).await;
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
        tls: kept.tls.as_ref(),
    };
    let client = match kept.conn {
        Some(conn) => K::client_with(ctx, conn).await,
        None => K::client(ctx).await,
    };
    let client = client.map_err(|failure| AttachError::Refused {
        resource: name.to_owned(),
        findings: vec![failure.finding(name, &binding, kept.wire, &K::SURFACE.tls)],
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
    /// What the kind declares about itself.
    fn surface(&self) -> Surface;
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
    /// Where the binding of `spec` in `env` points, without connecting: its TCP host and
    /// port; `None` for a missing or invalid binding or a unix socket.
    fn endpoint(&self, spec: &ResourceSpec, env: &Environment) -> Option<Endpoint>;
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
    fn surface(&self) -> Surface {
        K::SURFACE
    }
    fn check_need(&self, text: &str) -> Result<(), String> {
        text.parse::<K::Need>().map(|_| ())
    }
    fn provision(
        &self,
        manifest: &Manifest,
        spec: &ResourceSpec,
        account: &str,
        password: Option<&Secret>,
    ) -> Result<Provision, ManifestError> {
        provision::<K>(&manifest.path, spec, account, password)
    }
    fn endpoint(&self, spec: &ResourceSpec, env: &Environment) -> Option<Endpoint> {
        let input = discover(spec, env, K::SURFACE.binding_files).ok()?;
        let binding = K::Binding::parse(input).ok()?;
        match &binding.transport().host.value {
            Host::Tcp(host) => Some(Endpoint {
                resource: spec.name.clone(),
                host: host.clone(),
                port: binding.port(),
            }),
            Host::Socket(_) => None,
        }
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

    /// The known kinds, in the order they were added.
    pub fn kinds(&self) -> impl Iterator<Item = &dyn DynKind> {
        self.kinds.iter().map(|k| k.as_ref())
    }

    /// `check`'s page as `attache explain` prints it: core's page, then each known kind's
    /// section under the kind's title.
    pub fn page(&self, check: CheckId) -> String {
        let mut page = check.page().trim_end().to_owned();
        for kind in self.kinds() {
            let surface = kind.surface();
            if let Some(section) = surface.page(check) {
                page.push_str(&format!("\n\n## {}\n\n{}", surface.title, section.trim()));
            }
        }
        page.push('\n');
        page
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

    /// A fingerprint of every resource's binding as it reads now (see
    /// [`discover::fingerprint`](crate::discover::fingerprint)): what `attache exec --watch`
    /// polls to see that a binding changed.
    pub fn fingerprint(&self, manifest: &Manifest, env: &Environment) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut all = Sha256::new();
        for spec in manifest.resources.values() {
            let files = self.get(&spec.kind).map(|k| k.surface().binding_files);
            all.update(spec.name.as_bytes());
            all.update(crate::discover::fingerprint(
                spec,
                env,
                files.unwrap_or(&[]),
            ));
        }
        all.finalize().into()
    }

    /// Where each resource's binding in `env` points (see [`DynKind::endpoint`]), without
    /// connecting: what a process's connections are compared with.
    pub fn endpoints(&self, manifest: &Manifest, env: &Environment) -> Vec<Endpoint> {
        manifest
            .resources
            .values()
            .filter_map(|spec| self.get(&spec.kind)?.endpoint(spec, env))
            .collect()
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
