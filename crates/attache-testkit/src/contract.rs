//! The promises every kind makes, written once and run for every kind, the way rustls runs one
//! API suite per crypto provider.
//!
//! Two traits meet here. [`Service`] is the test kit's side: a real server of some kind and
//! what a test does to it (make an account of a [`Shape`], plant a marker, revoke a grant,
//! write a URL with a weak TLS mode). The test kit implements it for [`PgServer`],
//! [`MysqlServer`] and [`RedisServer`]. [`Contract`] is the kind's side, implemented in the
//! kind's own tests: which `Kind`, which `Service`, and the few things only the kind's client
//! can do (one request, read the marker). [`contract_suite!`](crate::contract_suite) then
//! writes one `#[tokio::test]` per promise:
//!
//! ```ignore
//! struct Pg;
//! impl attache_testkit::Contract for Pg { /* … */ }
//! attache_testkit::contract_suite!(Pg);
//! ```
//!
//! Every resource in the suite is named `svc` and bound through `SVC_URL`, `SVC_URL_FILE`,
//! `SVC_PASSWORD_FILE` or a service-binding directory `svc`.
//!
//! [`PgServer`]: crate::PgServer
//! [`MysqlServer`]: crate::MysqlServer
//! [`RedisServer`]: crate::RedisServer

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use attache_core::{
    AttachError, AttachOptions, Attached, CheckId, Checked, Environment, Finding, Kind, Manifest,
    Secret, Severity,
};

use crate::{BindingDir, CertProfile, Pki, StripProxy};

/// The marker of [`Service::shared`]'s accounts.
pub const SHARED_MARKER: &str = "a@example.com";
/// The marker of [`Service::other`]'s accounts.
pub const OTHER_MARKER: &str = "b@example.com";

/// The resource name every contract test uses.
pub const RESOURCE: &str = "svc";
/// The variable its URL is read from.
pub const URL_VAR: &str = "SVC_URL";

/// An account on a test server, whatever the kind: what a binding needs to log in as it.
#[derive(Clone)]
pub struct Login {
    /// The account's name.
    pub user: String,
    /// A random password starting with `planted-`, so tests can grep every output for a leak.
    pub password: String,
    /// The server's TLS port.
    pub port: u16,
    /// Its database, where the kind has one (PostgreSQL's and MySQL's: every account has its own).
    pub database: Option<String>,
    /// The CA that signed the server's certificate.
    pub ca_path: PathBuf,
    /// The URL with the password, TLS verified, the CA named.
    pub url: String,
    /// The same URL without the password (for use with a password file).
    pub url_without_password: String,
}

impl fmt::Debug for Login {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("port", &self.port)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// Writes the password (no trailing newline) into `dir/<user>.password` with mode 0600 and
    /// returns the path.
    pub fn write_password_file(&self, dir: &Path) -> PathBuf {
        crate::pki::password_file(dir, &self.user, &self.password)
    }
}

/// The account shapes every kind's test server can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly the service's [`Service::NEEDS`].
    LeastPrivileged,
    /// The server's all-powerful account shape (`priv-superuser`).
    Superuser,
    /// The least-privileged account less one of its needs (`priv-missing`).
    MissingGrant,
}

/// A fake server that declines TLS and records what a client sends it anyway.
pub trait Decliner: Send + Sync {
    /// Its port on 127.0.0.1.
    fn port(&self) -> u16;
    /// How many connections it accepted.
    fn connections(&self) -> usize;
    /// Every byte a client sent after it declined.
    fn received(&self) -> Vec<u8>;
    /// What a client sent before it could decline (a TLS ClientHello, for kinds whose TLS starts
    /// at the first byte): it must hold no credential either.
    fn first_flight(&self) -> Vec<u8> {
        Vec::new()
    }
}

impl Decliner for StripProxy {
    fn port(&self) -> u16 {
        StripProxy::port(self)
    }
    fn connections(&self) -> usize {
        StripProxy::connections(self)
    }
    fn received(&self) -> Vec<u8> {
        self.received_after_refusal()
    }
}

impl Decliner for crate::PlaintextServer {
    fn port(&self) -> u16 {
        crate::PlaintextServer::port(self)
    }
    fn connections(&self) -> usize {
        crate::PlaintextServer::connections(self)
    }
    fn received(&self) -> Vec<u8> {
        self.received_after_answer()
    }
    fn first_flight(&self) -> Vec<u8> {
        self.first_flights()
    }
}

impl Decliner for crate::MysqlStripServer {
    fn port(&self) -> u16 {
        crate::MysqlStripServer::port(self)
    }
    fn connections(&self) -> usize {
        crate::MysqlStripServer::connections(self)
    }
    fn received(&self) -> Vec<u8> {
        self.received_after_greeting()
    }
}

/// How a kind's URLs name their TLS settings: query parameters and their values.
#[derive(Debug, Clone, Copy)]
pub struct TlsParams {
    /// Each weak setting: parameter, value, and the check it is.
    pub weak: &'static [(&'static str, &'static str, CheckId)],
    /// The parameter and value that ask for plaintext.
    pub plaintext: (&'static str, &'static str),
    /// The parameter naming the CA file.
    pub ca: &'static str,
    /// The parameters naming the client certificate and its key.
    pub client_cert: [&'static str; 2],
}

/// A kind's test server, as the contract suite drives it.
pub trait Service: Sized + Send + Sync + 'static {
    /// The manifest's `kind` for it.
    const KIND: &'static str;
    /// What [`Shape::LeastPrivileged`] holds, in the kind's need language.
    const NEEDS: &'static [&'static str];

    /// One server per test binary, started on first use.
    fn shared() -> &'static Self;
    /// A server of its own, with a certificate of `cert` from `pki`.
    fn start(pki: Arc<Pki>, cert: CertProfile) -> Self;
    /// A second shared server with a CA of its own: where a swap goes.
    fn other() -> &'static Self;
    /// The server to test client certificates on; [`Service::demand_client_cert`] makes one of
    /// its accounts require one.
    fn client_cert_server() -> &'static Self {
        Self::shared()
    }
    /// Its PKI.
    fn pki(&self) -> &Pki;
    /// A new account of `shape`.
    fn login(&self, shape: Shape) -> Login;
    /// A new least-privileged account whose data holds `marker`, which the kind's
    /// [`Contract::marker`] reads. The suite gives each server one marker of its own
    /// ([`SHARED_MARKER`], [`OTHER_MARKER`]), so a kind whose accounts all see the same data
    /// may keep it once per server.
    fn marked(&self, marker: &str) -> Login;
    /// Runs the statements `attache grants` wrote for `user` (in a fresh database where the kind
    /// has databases) and returns the account.
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login;
    /// Takes one needed grant from `login`.
    fn revoke_one(&self, login: &Login);
    /// Gives `login` one grant beyond its needs.
    fn grant_extra(&self, login: &Login);
    /// Makes the server refuse `login` unless it presents the test kit's client certificate.
    fn demand_client_cert(&self, login: &Login);
    /// The service-binding files for `login` (`type`, `host`, `port`, `username`, `password`,
    /// `ca.crt`, …).
    fn binding_files(login: &Login) -> Vec<(&'static str, String)>;
    /// The kind's URL for user `app` with password `planted-1` at `host:port`, database `appdb`
    /// where the kind has databases, TLS verified against the CA `/ca.pem`.
    fn sample_url(host: &str, port: u16) -> String;
    /// How the kind's URLs name their TLS settings (for the URL mutators below).
    const TLS_PARAMS: TlsParams;
    /// `url` with each weak TLS mode the kind's bindings can ask for, and the check it is.
    fn weak_tls(url: &str) -> Vec<(String, CheckId)> {
        Self::TLS_PARAMS
            .weak
            .iter()
            .map(|&(key, value, check)| (set_param(url, key, value), check))
            .collect()
    }
    /// `url` asking for plaintext.
    fn plaintext(url: &str) -> String {
        let (key, value) = Self::TLS_PARAMS.plaintext;
        set_param(url, key, value)
    }
    /// `url` trusting `ca` instead of the server's CA.
    fn with_ca(url: &str, ca: &Path) -> String {
        set_param(url, Self::TLS_PARAMS.ca, &encode_path(ca))
    }
    /// `url` presenting a client certificate.
    fn with_client_cert(url: &str, cert: &Path, key: &Path) -> String {
        let [cert_key, key_key] = Self::TLS_PARAMS.client_cert;
        let url = set_param(url, cert_key, &encode_path(cert));
        set_param(&url, key_key, &encode_path(key))
    }
    /// A fake server that declines TLS the way this kind's servers can.
    fn decliner() -> Box<dyn Decliner>;
    /// A man in the middle for this kind's protocol, with a certificate from a CA of its own.
    fn mitm() -> crate::MitmProxy {
        crate::MitmProxy::start(0)
    }
}

/// The kind's side of the contract, implemented in its own tests.
pub trait Contract: 'static {
    /// The kind under test.
    type Kind: Kind<Client: Sync>;
    /// Its test server.
    type Server: Service;
    /// What a server that declines TLS is reported as.
    const DECLINED: CheckId;
    /// Whether a least-privileged account can read its own privileges; when it cannot, each
    /// audit also says `priv-unknown` and the suite allows it.
    const SEES_ITS_PRIVILEGES: bool = true;

    /// One request of the app through the client: a write and a read back.
    fn request(
        client: &<Self::Kind as Kind>::Client,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// The marker planted on the server the client is attached to.
    fn marker(
        client: &<Self::Kind as Kind>::Client,
    ) -> impl Future<Output = Result<String, String>> + Send;
}

/// One resource of a kind as a test binds it: its manifest entry and the variable its URL is in.
/// The contract suite's is [`Fixture::of`]`::<S>()` (`svc`, `SVC_URL`); a kind's own tests name
/// theirs (`db`, `DATABASE_URL`).
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    /// The manifest's `kind`.
    pub kind: &'static str,
    /// The resource's name.
    pub resource: &'static str,
    /// The variable its URL is read from; the password file's is `<NAME>_PASSWORD_FILE`.
    pub var: &'static str,
    /// Its needs.
    pub needs: &'static [&'static str],
}

impl Fixture {
    /// The contract suite's resource for `S`: `svc`, bound through `SVC_URL`, with `S`'s needs.
    pub fn of<S: Service>() -> Fixture {
        Fixture {
            kind: S::KIND,
            resource: RESOURCE,
            var: URL_VAR,
            needs: S::NEEDS,
        }
    }

    /// The manifest with this one resource and the policy's `excess`.
    pub fn manifest(&self, excess: &str) -> Manifest {
        let needs: Vec<String> = self.needs.iter().map(|n| format!("{n:?}")).collect();
        Manifest::parse(
            "attache.toml",
            &format!(
                "[resources.{r}]\nkind = \"{k}\"\nenv = \"{v}\"\nneeds = [{n}]\n[resources.{r}.policy]\nexcess = \"{excess}\"\n",
                r = self.resource,
                k = self.kind,
                v = self.var,
                n = needs.join(", ")
            ),
        )
        .expect("the test manifest parses")
    }

    /// A binding in the resource's variable.
    pub fn env(&self, url: &str) -> Environment {
        Environment::from_pairs([(self.var, url)])
    }

    /// A binding with the password in a 0600 file in `dir`, the recommended shape.
    pub fn env_with_password_file(&self, login: &impl AsLogin, dir: &Path) -> Environment {
        let login = login.login();
        let pw = login.write_password_file(dir);
        Environment::from_pairs([
            (self.var.to_owned(), login.url_without_password.clone()),
            (
                format!("{}_PASSWORD_FILE", self.prefix()),
                pw.to_string_lossy().into_owned(),
            ),
        ])
    }

    /// The prefix of the resource's `<NAME>_PASSWORD_FILE` and `<NAME>_URL_FILE` variables.
    pub fn prefix(&self) -> String {
        attache_core::ResourceSpec::new(self.resource, self.kind).env_prefix()
    }

    /// Binding files for the resource (`<NAME>_URL_FILE`, `<NAME>_PASSWORD_FILE`) pointing at
    /// `login`.
    pub fn files(&self, login: &impl AsLogin) -> Files {
        Files::pointing_at(&self.prefix(), &login.login())
    }

    /// The oldest TLS version the server behind `url` accepts, as an audit's TLS posture gives
    /// it, and the audit's `tls-weak-protocol` findings.
    pub async fn tls_floor<K: Kind>(&self, url: &str) -> (Option<String>, Vec<Finding>) {
        let report = self.check::<K>("warn", &self.env(url)).await.report;
        let weak = report
            .findings
            .into_iter()
            .filter(|f| f.check == CheckId::TlsWeakProtocol)
            .collect();
        (report.tls.and_then(|t| t.floor), weak)
    }

    /// The full check of the resource with its needs under `excess`.
    pub async fn check<K: Kind>(&self, excess: &str, env: &Environment) -> Checked<K> {
        let m = self.manifest(excess);
        let spec = m
            .resource(self.resource)
            .expect("the resource is in the manifest");
        let needs = attache_core::kind::parse_needs::<K>(&m.path, spec).expect("the needs parse");
        attache_core::check::<K>(spec, &needs, env).await
    }

    /// The full check of `login` bound the recommended way, its password in a 0600 file.
    pub async fn check_login<K: Kind>(&self, login: &impl AsLogin, excess: &str) -> Checked<K> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let env = self.env_with_password_file(login, dir.path());
        self.check::<K>(excess, &env).await
    }

    /// The check with no needs at all (what connecting alone finds).
    pub async fn check_without_needs<K: Kind>(&self, env: &Environment) -> Checked<K> {
        let m = self.manifest("warn");
        let spec = m
            .resource(self.resource)
            .expect("the resource is in the manifest");
        attache_core::check::<K>(spec, &[], env).await
    }

    /// Attaches the resource bound by `url`.
    pub async fn attach<K: Kind>(&self, url: &str, excess: &str) -> Result<K::Client, AttachError> {
        attache_core::attach::<K>(&self.manifest(excess), self.resource, &self.env(url)).await
    }

    /// The findings of a check of `login` through a password file; asserts no password is in
    /// the report.
    pub async fn findings_for<K: Kind>(&self, login: &impl AsLogin, excess: &str) -> Vec<Finding> {
        let login = login.login();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let env = self.env_with_password_file(&login, dir.path());
        let report = self.check::<K>(excess, &env).await.report;
        assert_no_secret(&format!("{report:?}"), &login.password);
        report.findings
    }
}

/// What a test account of any kind gives a binding.
pub trait AsLogin {
    /// The account as a [`Login`].
    fn login(&self) -> Login;
}

impl AsLogin for Login {
    fn login(&self) -> Login {
        self.clone()
    }
}

/// Asserts the attach was refused with `check` and printed no password; returns that finding.
pub fn refused_with<C>(
    result: Result<C, AttachError>,
    check: CheckId,
    password: &str,
) -> (AttachError, Finding) {
    let err = match result {
        Ok(_) => panic!("expected the attach to be refused with {check}"),
        Err(e) => e,
    };
    let Some(finding) = err.findings().iter().find(|f| f.check == check).cloned() else {
        panic!("expected {check}, got {err}");
    };
    assert_no_secret(&format!("{err} {err:?}"), password);
    (err, finding)
}

/// Asserts `text` does not hold `password`.
pub fn assert_no_secret(text: &str, password: &str) {
    assert!(!password.is_empty());
    assert!(!text.contains(password), "the password leaked: {text}");
}

/// The checks and severities of `findings`.
pub fn checks(findings: &[Finding]) -> Vec<(CheckId, Severity)> {
    findings.iter().map(|f| (f.check, f.severity)).collect()
}

/// `url` with the port `from` replaced by `to`.
pub fn with_port(url: &str, from: u16, to: u16) -> String {
    url.replace(&format!(":{from}/"), &format!(":{to}/"))
}

/// A path percent-encoded for a URL parameter.
pub fn encode_path(path: &Path) -> String {
    percent_encoding::utf8_percent_encode(
        &path.to_string_lossy(),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

/// `login`'s binding pointed at `port` on 127.0.0.1 (a fake server), parsed as kind `K` reads
/// it, and the verify-full TLS client core would connect with: for a kind's test that its
/// app's client, not only the audit, never gives a credential away.
pub fn binding_at<K: Kind>(
    login: &impl AsLogin,
    port: u16,
) -> (K::Binding, attache_core::tls::TlsClient) {
    let login = login.login();
    let url = with_port(&login.url, login.port, port);
    let input = crate::binding_contract::url_input(RESOURCE, URL_VAR, &url);
    let binding = <K::Binding as attache_core::Binding>::parse(input).expect("the binding parses");
    let tls = attache_core::Binding::transport(&binding)
        .tls
        .client(RESOURCE)
        .expect("the TLS client builds");
    (binding, tls)
}

/// Asserts a client that `impostor` (a plaintext server behind a TLS binding) answered sent a
/// TLS handshake record first and nothing else: not `protocol` (the protocol's first words, as
/// a plaintext client would send them), not `login`'s user name or password.
pub fn assert_only_a_client_hello(
    impostor: &crate::PlaintextServer,
    login: &impl AsLogin,
    protocol: &str,
) {
    let login = login.login();
    let seen = [
        Decliner::first_flight(impostor),
        Decliner::received(impostor),
    ]
    .concat();
    assert_eq!(
        seen.first(),
        Some(&0x16),
        "the first byte is a TLS handshake record"
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(!text.contains(protocol), "{protocol} was sent in plaintext");
    assert!(
        !text.contains(&login.user) && !text.contains(&login.password),
        "a credential reached the impostor"
    );
}

/// A port on 127.0.0.1 that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

type Client<C> = <<C as Contract>::Kind as Kind>::Client;

fn fixture<C: Contract>() -> Fixture {
    Fixture::of::<C::Server>()
}

fn manifest<C: Contract>(excess: &str) -> Manifest {
    fixture::<C>().manifest(excess)
}

async fn attach_url<C: Contract>(url: &str, excess: &str) -> Result<Client<C>, AttachError> {
    fixture::<C>().attach::<C::Kind>(url, excess).await
}

async fn audit<C: Contract>(env: &Environment, excess: &str) -> Checked<C::Kind> {
    fixture::<C>().check::<C::Kind>(excess, env).await
}

/// The findings of an audit of `login` through a password file, with `priv-unknown` left out
/// where the kind's accounts cannot read their own privileges; asserts no password is in them.
async fn privilege_findings<C: Contract>(login: &Login, excess: &str) -> Vec<Finding> {
    fixture::<C>()
        .findings_for::<C::Kind>(login, excess)
        .await
        .into_iter()
        .filter(|f| C::SEES_ITS_PRIVILEGES || f.check != CheckId::PrivUnknown)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Connecting: verified TLS by default, and every way to get around it refused.

/// The least-privileged account, its password in a file, is judged clean, over verified TLS,
/// and attaches; the app's client works.
pub async fn least_privileged_attaches_over_verified_tls<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = fixture::<C>().env_with_password_file(&login, dir.path());
    let checked = audit::<C>(&env, "deny").await;
    let findings: Vec<_> = checked
        .report
        .findings
        .iter()
        .filter(|f| C::SEES_ITS_PRIVILEGES || f.check != CheckId::PrivUnknown)
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    let tls = checked.report.tls.as_ref().expect("TLS facts recorded");
    assert_eq!(tls.verification, "verify-full");
    assert!(
        tls.version == "TLSv1.3" || tls.version == "TLSv1.2",
        "{}",
        tls.version
    );
    assert!(
        tls.peer_sans.contains(&"IP:127.0.0.1".to_owned()),
        "{:?}",
        tls.peer_sans
    );
    assert!(tls.peer_days_left > 300, "{}", tls.peer_days_left);
    let account = checked.report.account.as_ref().expect("the account");
    // As the server names it (MySQL adds `@host`).
    assert!(
        account
            .user
            .as_deref()
            .is_some_and(|u| u.starts_with(&login.user)),
        "{:?}",
        account.user
    );

    let client = attache_core::attach::<C::Kind>(&manifest::<C>("deny"), RESOURCE, &env)
        .await
        .expect("least-privileged attaches under excess = deny");
    C::request(&client)
        .await
        .expect("a request through the client");
}

/// A binding that trusts another CA is `tls-cert-invalid`, and the password goes nowhere.
pub async fn wrong_ca_is_tls_cert_invalid<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let other = tempfile::tempdir().unwrap();
    let other_pki = Pki::new(other.path());
    let url = C::Server::with_ca(&login.url, &other_pki.ca_path());
    let (_, f) = refused_with(
        attach_url::<C>(&url, "warn").await,
        CheckId::TlsCertInvalid,
        &login.password,
    );
    assert!(f.message.contains("sent no credentials"), "{}", f.message);
}

/// A man in the middle with a certificate from another CA completes no handshake and receives
/// nothing after its ServerHello.
pub async fn man_in_the_middle_is_refused<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let mitm = C::Server::mitm();
    let url = with_port(&login.url, login.port, mitm.port());
    let (_, f) = refused_with(
        attach_url::<C>(&url, "warn").await,
        CheckId::TlsCertInvalid,
        &login.password,
    );
    assert!(
        f.message.contains("not signed by a trusted CA"),
        "{}",
        f.message
    );
    assert_eq!(mitm.handshakes_completed(), 0);
    assert!(mitm.received().is_empty());
}

/// An expired server certificate is refused and the finding says so.
pub async fn expired_certificate_is_refused<C: Contract>() {
    let dir = tempfile::tempdir().unwrap();
    let server = C::Server::start(Arc::new(Pki::new(dir.path())), CertProfile::Expired);
    let login = server.login(Shape::LeastPrivileged);
    let (_, f) = refused_with(
        attach_url::<C>(&login.url, "warn").await,
        CheckId::TlsCertInvalid,
        &login.password,
    );
    assert!(f.message.contains("expired"), "{}", f.message);
}

/// A certificate that expires soon is `tls-cert-expiring`, and the binding still attaches.
pub async fn certificate_expiring_soon_is_reported_but_attaches<C: Contract>() {
    let dir = tempfile::tempdir().unwrap();
    let server = C::Server::start(
        Arc::new(Pki::new(dir.path())),
        CertProfile::ExpiresInDays(10),
    );
    let login = server.login(Shape::LeastPrivileged);
    let report = audit::<C>(&fixture::<C>().env(&login.url), "warn")
        .await
        .report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::TlsCertExpiring)
        .unwrap_or_else(|| panic!("tls-cert-expiring: {:#?}", report.findings));
    assert_eq!(f.severity, Severity::Medium);
    attach_url::<C>(&login.url, "warn")
        .await
        .expect("an expiring certificate still attaches");
}

/// A server that declines TLS is refused in every mode the binding may ask for, nothing is
/// inspected, and not one byte follows the refusal: no credential leaves.
pub async fn a_server_declining_tls_never_gets_a_credential<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let decliner = C::Server::decliner();
    let url = with_port(&login.url, login.port, decliner.port());
    let weak = C::Server::weak_tls(&url);
    let mut urls = vec![url];
    urls.extend(weak.into_iter().map(|(u, _)| u));
    for url in &urls {
        let report = audit::<C>(&fixture::<C>().env(url), "warn").await.report;
        let f = report
            .findings
            .iter()
            .find(|f| f.check == C::DECLINED && f.severity >= Severity::High)
            .unwrap_or_else(|| panic!("{url}: {}: {:#?}", C::DECLINED, report.findings));
        assert!(!f.message.is_empty());
        assert!(
            report.account.is_none(),
            "nothing was inspected in plaintext"
        );
        assert_no_secret(&format!("{report:?}"), &login.password);
    }
    assert!(
        decliner.connections() >= urls.len(),
        "the client did reach the fake server"
    );
    let after = decliner.received();
    let mut all = decliner.first_flight();
    all.extend_from_slice(&after);
    let text = String::from_utf8_lossy(&all);
    assert!(
        !text.contains(&login.user) && !text.contains(&login.password),
        "a credential reached the fake server"
    );
    assert!(
        after.is_empty(),
        "the client sent {} bytes after the refusal",
        after.len()
    );
}

/// Each weak TLS mode a binding can ask for is refused with its check, high, naming where it
/// was set.
pub async fn weak_tls_modes_are_refused<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let weak = C::Server::weak_tls(&login.url);
    assert!(!weak.is_empty());
    for (url, check) in weak {
        let (_, f) = refused_with(attach_url::<C>(&url, "warn").await, check, &login.password);
        assert_eq!(f.severity, Severity::High, "{url}");
        assert!(f.message.contains(URL_VAR), "{}", f.message);
    }
}

/// Plaintext to loopback is only `tls-plaintext` info, and the TLS-only server refuses it.
pub async fn plaintext_to_loopback_is_info_and_the_tls_only_server_refuses_it<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let url = C::Server::plaintext(&login.url);
    let report = audit::<C>(&fixture::<C>().env(&url), "warn").await.report;
    let c = checks(&report.findings);
    assert!(
        c.contains(&(CheckId::TlsPlaintext, Severity::Info)),
        "{c:?}"
    );
    assert!(
        c.iter().any(
            |(c, s)| matches!(c, CheckId::AuthFailed | CheckId::Unreachable)
                && *s == Severity::High
        ),
        "{c:?}"
    );
    assert!(report.account.is_none(), "nothing was inspected");
    assert_no_secret(&format!("{report:?}"), &login.password);
}

/// A wrong password is `auth-failed`, naming the user and neither password.
pub async fn wrong_password_is_auth_failed<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let wrong = format!("{}-wrong", login.password);
    let url = login.url.replace(&login.password, &wrong);
    let (err, f) = refused_with(
        attach_url::<C>(&url, "warn").await,
        CheckId::AuthFailed,
        &wrong,
    );
    assert_no_secret(&format!("{err} {err:?}"), &login.password);
    assert!(f.message.contains(&login.user), "{}", f.message);
}

/// A client certificate in the binding is presented by inspection and by the app's client; a
/// key that does not exist is `binding-invalid` naming the field and where it came from.
pub async fn client_certificate_is_presented<C: Contract>() {
    let server = C::Server::client_cert_server();
    let login = server.login(Shape::LeastPrivileged);
    server.demand_client_cert(&login);
    let without = attach_url::<C>(&login.url, "warn").await;
    let err = match without {
        Ok(_) => panic!("the server let the account in without its certificate"),
        Err(e) => e,
    };
    assert_no_secret(&format!("{err} {err:?}"), &login.password);

    let pki = server.pki();
    let url =
        C::Server::with_client_cert(&login.url, &pki.client_cert_path(), &pki.client_key_path());
    let client = attach_url::<C>(&url, "warn")
        .await
        .expect("attaches with a client certificate");
    C::request(&client)
        .await
        .expect("the app's client presents it too");

    let bad = url.replace(
        &encode_path(&pki.client_key_path()),
        "%2Fnonexistent%2Fkey.pem",
    );
    let (err, f) = refused_with(
        attach_url::<C>(&bad, "warn").await,
        CheckId::BindingInvalid,
        &login.password,
    );
    assert!(f.message.contains(&format!("in env {URL_VAR}")), "{err}");
}

/// A password file others can read is `cred-file-perms`, naming the file.
pub async fn readable_password_file_is_cred_file_perms<C: Contract>() {
    use std::os::unix::fs::PermissionsExt;
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = fixture::<C>().env_with_password_file(&login, dir.path());
    let pw = login.write_password_file(dir.path());
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = audit::<C>(&env, "warn").await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::CredFilePerms)
        .expect("cred-file-perms");
    assert_eq!(f.severity, Severity::Medium);
    assert!(f.message.contains(&*pw.to_string_lossy()), "{}", f.message);
}

/// A Kubernetes service-binding directory wins over the variable, and every value names its
/// file as its source.
pub async fn service_binding_directory_attaches_with_sources<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let root = tempfile::tempdir().unwrap();
    let mut dir = BindingDir::new(root.path(), RESOURCE);
    dir.publish(&C::Server::binding_files(&login));
    let env = Environment::from_pairs([
        (
            "SERVICE_BINDING_ROOT",
            root.path().to_string_lossy().into_owned(),
        ),
        // Present but ignored: the service binding comes first.
        (URL_VAR, "nowhere://nobody@203.0.113.1/none".to_owned()),
    ]);
    let checked = audit::<C>(&env, "deny").await;
    let findings: Vec<_> = checked
        .report
        .findings
        .iter()
        .filter(|f| C::SEES_ITS_PRIVILEGES || f.check != CheckId::PrivUnknown)
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
    assert_eq!(
        checked.report.source.as_deref(),
        Some(format!("file {}", root.path().join(RESOURCE).display()).as_str())
    );
    let binding = checked.binding.expect("the binding");
    assert_eq!(
        attache_core::Binding::user(&binding),
        Some(login.user.as_str())
    );
    let password = attache_core::Binding::password(&binding).expect("a password");
    assert_eq!(
        password.source.to_string(),
        format!(
            "file {}",
            root.path().join(RESOURCE).join("password").display()
        )
    );
    attache_core::attach::<C::Kind>(&manifest::<C>("deny"), RESOURCE, &env)
        .await
        .expect("attaches from the service binding");
}

/// No failure, whatever its cause, prints the password: not in the report, not in the error.
pub async fn no_failure_prints_the_password<C: Contract>() {
    let login = C::Server::shared().login(Shape::LeastPrivileged);
    let other = tempfile::tempdir().unwrap();
    let cases = [
        with_port(&login.url, login.port, closed_port()),
        C::Server::with_ca(&login.url, Path::new("/nonexistent/ca.pem")),
        C::Server::with_ca(&login.url, &Pki::new(other.path()).ca_path()),
        login
            .url
            .replace(&format!(":{}/", login.port), ":notaport/"),
        login.url.replace("@127.0.0.1", "@[::1"),
        format!("{}&{}=1", login.url, login.password),
        login
            .url
            .replace(&login.password, &format!("{}-wrong", login.password)),
    ];
    for url in cases {
        let report = audit::<C>(&fixture::<C>().env(&url), "warn").await.report;
        assert!(
            report.findings.iter().any(|f| f.severity >= Severity::High),
            "{:#?}",
            report.findings
        );
        assert_no_secret(&format!("{report:?}"), &login.password);
        let json = serde_json::to_string(&report).unwrap();
        assert_no_secret(&json, &login.password);
        match attach_url::<C>(&url, "warn").await {
            Ok(_) => panic!("a broken binding attached"),
            Err(e) => assert_no_secret(&format!("{e} {e:?}"), &login.password),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The account: refused when it can do too much or too little; `attache grants` round trip.

/// The server's all-powerful account is `priv-superuser`, critical, and refused.
pub async fn superuser_is_refused<C: Contract>() {
    let login = C::Server::shared().login(Shape::Superuser);
    let (_, f) = refused_with(
        attach_url::<C>(&login.url, "warn").await,
        CheckId::PrivSuperuser,
        &login.password,
    );
    assert_eq!(f.severity, Severity::Critical);
}

/// An account missing a need is `priv-missing`, refused, with the grant that fixes it.
pub async fn missing_grant_is_refused_with_its_fix<C: Contract>() {
    let login = C::Server::shared().login(Shape::MissingGrant);
    let (_, f) = refused_with(
        attach_url::<C>(&login.url, "warn").await,
        CheckId::PrivMissing,
        &login.password,
    );
    assert_eq!(f.severity, Severity::High);
    assert!(!f.remedy.is_empty() && !f.evidence.is_empty(), "{f:#?}");
}

/// The account `attache grants` writes audits clean; one grant revoked is `priv-missing`, one
/// grant added is `priv-excess`.
pub async fn provisioned_account_audits_clean_and_each_drift_is_caught<C: Contract>() {
    let server = C::Server::shared();
    let m = manifest::<C>("deny");
    let spec = m.resource(RESOURCE).unwrap();
    let provisioned = |user: &str| {
        let password = format!("planted-provision-{user}");
        let secret = Secret::new(password.clone());
        let p =
            attache_core::kind::provision::<C::Kind>(&m.path, spec, user, Some(&secret)).unwrap();
        server.provisioned(user, &password, &p.statements)
    };
    let kind = C::Server::KIND;

    let exact = provisioned(&format!("prov_{kind}_exact"));
    assert_eq!(
        checks(&privilege_findings::<C>(&exact, "deny").await),
        vec![],
        "the provisioned account is exactly its needs"
    );
    attach_url::<C>(&exact.url, "deny")
        .await
        .expect("the provisioned account attaches under excess = deny");

    let less = provisioned(&format!("prov_{kind}_less"));
    server.revoke_one(&less);
    let c: Vec<_> = privilege_findings::<C>(&less, "deny")
        .await
        .iter()
        .map(|f| f.check)
        .collect();
    assert_eq!(c, vec![CheckId::PrivMissing]);

    let more = provisioned(&format!("prov_{kind}_more"));
    server.grant_extra(&more);
    let c: Vec<_> = privilege_findings::<C>(&more, "deny")
        .await
        .iter()
        .map(|f| f.check)
        .collect();
    assert_eq!(c, vec![CheckId::PrivExcess]);
}

// ---------------------------------------------------------------------------------------------
// `Attached`: swaps under traffic, refusals that change nothing, a binding directory followed.

/// Attach options for tests: fast polling and debouncing, a short drain, two warm connections.
pub fn attach_options() -> AttachOptions {
    AttachOptions::default()
        .poll_every(Duration::from_millis(50))
        .debounce(Duration::from_millis(50))
        .drain_grace(Duration::from_secs(5))
        .warm_connections(2)
}

/// A binding through `<NAME>_URL_FILE` and `<NAME>_PASSWORD_FILE`, rewritten in place as a
/// secret manager would.
pub struct Files {
    var: String,
    dir: tempfile::TempDir,
}

impl Files {
    /// `<prefix>_URL_FILE` and `<prefix>_PASSWORD_FILE` (see [`Fixture::prefix`]) pointing at
    /// `login`.
    pub fn pointing_at(prefix: &str, login: &Login) -> Files {
        let files = Files {
            var: prefix.to_owned(),
            dir: tempfile::tempdir().unwrap(),
        };
        files.point_at(login);
        files
    }

    /// The environment naming the two files.
    pub fn env(&self) -> Environment {
        Environment::from_pairs([
            (format!("{}_URL_FILE", self.var), self.path("url")),
            (format!("{}_PASSWORD_FILE", self.var), self.path("password")),
        ])
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// Replaces a file (`url` or `password`) atomically (write beside it, rename over it), mode
    /// 0600.
    pub fn replace(&self, name: &str, contents: &str) {
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        crate::pki::write_file(&tmp, contents.as_bytes(), 0o600);
        std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
    }

    /// Points both files at `login`.
    pub fn point_at(&self, login: &Login) {
        self.replace("url", &login.url_without_password);
        self.replace("password", &login.password);
    }
}

/// Requests of the app in a loop until stopped; counts failures.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    /// Starts `clients` loops of [`Contract::request`] through `handle`.
    pub fn start<C: Contract>(handle: &Attached<C::Kind>, clients: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let (handle, stop, ok, failed) =
                    (handle.clone(), stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let lease = handle.get();
                        match C::request(&lease).await {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                eprintln!("request failed: {e}");
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    /// Waits until at least `n` more requests have succeeded (bounded: 30 s).
    pub async fn wait_for(&self, n: u64) {
        let target = self.ok.load(Ordering::Relaxed) + n;
        for _ in 0..3000 {
            if self.ok.load(Ordering::Relaxed) >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("traffic stalled");
    }

    /// Stops the clients; asserts none of their requests failed.
    pub async fn finish_without_failures(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let (ok, failed) = (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
        assert_eq!(failed, 0, "{ok} requests succeeded, {failed} failed");
    }
}

/// A password rotation with no window, for kinds whose app client reads a rotated password
/// file again when the server refuses the old password (PostgreSQL's and MySQL's pools): the
/// new secret is written first, then `change` sets it on the server; before the re-attach,
/// twelve requests at once (more connections than the pool holds idle) all succeed; the
/// re-attach lands; no request of the traffic fails; the old password is refused, and no
/// refusal names it.
pub async fn rotation_without_a_window<C: Contract>(
    login: Login,
    change: impl FnOnce(&Login, &str),
) {
    let fixture = fixture::<C>();
    let files = Files::pointing_at(&fixture.prefix(), &login);
    let handle = Attached::<C::Kind>::attach_with(
        &fixture.manifest("deny"),
        RESOURCE,
        files.env(),
        attach_options(),
    )
    .await
    .expect("the least-privileged account attaches");
    let traffic = Traffic::start::<C>(&handle, 4);
    traffic.wait_for(50).await;

    let new = format!("{}-rotated", login.password);
    files.replace("password", &new);
    change(&login, &new);
    traffic.wait_for(20).await;
    let lease = handle.get();
    assert_eq!(lease.generation(), 1, "no re-attach yet");
    let requests = futures_util::future::join_all((0..12).map(|_| C::request(&lease))).await;
    let failed: Vec<&String> = requests.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "the client in service opens connections after the rotation: {failed:?}"
    );
    drop(lease);
    assert_eq!(handle.reattach().await.expect("the re-attach"), 2);
    traffic.wait_for(50).await;
    traffic.finish_without_failures().await;

    let (_, f) = refused_with(
        attach_url::<C>(&login.url, "deny").await,
        CheckId::AuthFailed,
        &login.password,
    );
    assert_no_secret(&format!("{f:?}"), &new);
}

/// Polls `cond` every 20 ms for up to 20 s (a bound against hangs, not a timing assertion).
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn marker_of<C: Contract>(handle: &Attached<C::Kind>) -> String {
    C::marker(&handle.get()).await.expect("the marker reads")
}

/// From server A to server B (another CA) under traffic: no request fails, the app reads B, the
/// lease taken on A keeps working until released, then A's client closes.
pub async fn attached_swaps_servers_under_traffic<C: Contract>() {
    let a = C::Server::shared().marked(SHARED_MARKER);
    let b = C::Server::other().marked(OTHER_MARKER);
    let files = fixture::<C>().files(&a);
    let handle = Attached::<C::Kind>::attach_with(
        &manifest::<C>("deny"),
        RESOURCE,
        files.env(),
        attach_options(),
    )
    .await
    .unwrap();
    assert_eq!(marker_of::<C>(&handle).await, SHARED_MARKER);
    assert_eq!(handle.status().generation, 1);

    let traffic = Traffic::start::<C>(&handle, 4);
    traffic.wait_for(50).await;
    let on_a = handle.get();
    files.point_at(&b);
    assert_eq!(handle.reattach().await.unwrap(), 2);
    traffic.wait_for(50).await;
    traffic.finish_without_failures().await;

    assert_eq!(marker_of::<C>(&handle).await, OTHER_MARKER);
    let status = handle.status();
    assert_eq!(status.generation, 2);
    assert!(
        status.target.contains(&b.port.to_string()),
        "{}",
        status.target
    );
    assert!(status.refused.is_none());

    assert_eq!(
        C::marker(&on_a)
            .await
            .expect("the old client serves its lease"),
        SHARED_MARKER
    );
    assert_eq!(handle.status().draining, 1);
    drop(on_a);
    eventually("the old client drained and closed", || {
        handle.status().draining == 0
    })
    .await;
}

/// A new binding that must be refused (superuser, missing grant, a CA that does not sign the
/// server, a server that does not answer) changes nothing: the app keeps serving the first
/// binding, the refusal is reported and names its check, and no password is in it.
pub async fn attached_refusals_keep_serving<C: Contract>() {
    let good = C::Server::shared().marked(SHARED_MARKER);
    let files = fixture::<C>().files(&good);
    let handle = Attached::<C::Kind>::attach_with(
        &manifest::<C>("deny"),
        RESOURCE,
        files.env(),
        attach_options(),
    )
    .await
    .unwrap();
    let traffic = Traffic::start::<C>(&handle, 2);
    traffic.wait_for(20).await;

    let superuser = C::Server::shared().login(Shape::Superuser);
    let missing = C::Server::shared().login(Shape::MissingGrant);
    let elsewhere = C::Server::other().login(Shape::LeastPrivileged);
    let wrong_ca = C::Server::with_ca(&elsewhere.url_without_password, &good.ca_path);
    let gone = with_port(&good.url_without_password, good.port, closed_port());
    let cases = [
        (&superuser, None, CheckId::PrivSuperuser),
        (&missing, None, CheckId::PrivMissing),
        (&elsewhere, Some(wrong_ca), CheckId::TlsCertInvalid),
        (&good, Some(gone), CheckId::Unreachable),
    ];
    for (bad, url, check) in cases {
        files.point_at(bad);
        if let Some(url) = url {
            files.replace("url", &url);
        }
        let err = handle
            .reattach()
            .await
            .expect_err("the new binding is refused");
        assert!(
            err.findings().iter().any(|f| f.check == check),
            "expected {check}: {err}"
        );
        traffic.wait_for(20).await;
        let status = handle.status();
        assert_eq!(status.generation, 1, "still serving the first binding");
        let refusal = status.refused.clone().expect("the refusal is reported");
        assert!(refusal.checks.contains(&check), "{:?}", refusal.checks);
        let json = serde_json::to_string(&status).unwrap();
        for secret in [&bad.password, &good.password] {
            assert_no_secret(&json, secret);
            assert_no_secret(&refusal.message, secret);
            assert_no_secret(&format!("{err} {err:?}"), secret);
        }
    }
    traffic.finish_without_failures().await;
    assert_eq!(marker_of::<C>(&handle).await, SHARED_MARKER);
}

/// Watching a service-binding directory: a `..data` swap to another server is followed under
/// traffic; the binding removed keeps the app serving (`binding-missing` reported); restored, it
/// is attached again.
pub async fn attached_follows_a_binding_directory<C: Contract>() {
    let a = C::Server::shared().marked(SHARED_MARKER);
    let b = C::Server::other().marked(OTHER_MARKER);
    let root = tempfile::tempdir().unwrap();
    let mut binding = BindingDir::new(root.path(), RESOURCE);
    binding.publish(&C::Server::binding_files(&a));
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let handle =
        Attached::<C::Kind>::attach_with(&manifest::<C>("deny"), RESOURCE, env, attach_options())
            .await
            .unwrap();
    let _watch = handle.watch();
    let traffic = Traffic::start::<C>(&handle, 2);
    traffic.wait_for(20).await;

    binding.publish(&C::Server::binding_files(&b));
    eventually("the ..data swap is attached", || {
        handle.status().generation == 2
    })
    .await;
    traffic.wait_for(20).await;
    assert_eq!(marker_of::<C>(&handle).await, OTHER_MARKER);

    binding.remove();
    eventually("the removal is noticed and refused", || {
        handle
            .status()
            .refused
            .is_some_and(|r| r.checks.contains(&CheckId::BindingMissing))
    })
    .await;
    traffic.wait_for(20).await;
    assert_eq!(handle.status().generation, 2);

    binding.publish(&C::Server::binding_files(&a));
    eventually("the restored binding is attached", || {
        let s = handle.status();
        s.generation == 3 && s.refused.is_none()
    })
    .await;
    traffic.wait_for(20).await;
    traffic.finish_without_failures().await;
    assert_eq!(marker_of::<C>(&handle).await, SHARED_MARKER);
}

/// `url` with query parameter `key` set to `value` (replaced where it is, else appended).
pub fn set_param(url: &str, key: &str, value: &str) -> String {
    let (head, fragment) = match url.split_once('#') {
        Some((h, f)) => (h, Some(f)),
        None => (url, None),
    };
    let (base, query) = head.split_once('?').unwrap_or((head, ""));
    let mut found = false;
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.split_once('=').map_or(p, |(k, _)| k) == key {
                found = true;
                format!("{key}={value}")
            } else {
                p.to_owned()
            }
        })
        .collect();
    if !found {
        pairs.push(format!("{key}={value}"));
    }
    let mut out = format!("{base}?{}", pairs.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// A second shared server with a CA of its own, for [`Service::other`] implementations.
pub(crate) fn other_server<S: Service>(cell: &'static OnceLock<S>) -> &'static S {
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        S::start(Arc::new(Pki::new(&dir)), CertProfile::Valid)
    })
}

/// Writes one `#[tokio::test]` per promise of the contract suite for `$contract` (a type that
/// implements [`Contract`]).
#[macro_export]
macro_rules! contract_suite {
    ($contract:ty) => {
        $crate::contract_suite!(@tests $contract;
            least_privileged_attaches_over_verified_tls,
            wrong_ca_is_tls_cert_invalid,
            man_in_the_middle_is_refused,
            expired_certificate_is_refused,
            certificate_expiring_soon_is_reported_but_attaches,
            a_server_declining_tls_never_gets_a_credential,
            weak_tls_modes_are_refused,
            plaintext_to_loopback_is_info_and_the_tls_only_server_refuses_it,
            wrong_password_is_auth_failed,
            client_certificate_is_presented,
            readable_password_file_is_cred_file_perms,
            service_binding_directory_attaches_with_sources,
            no_failure_prints_the_password,
            superuser_is_refused,
            missing_grant_is_refused_with_its_fix,
            provisioned_account_audits_clean_and_each_drift_is_caught,
            attached_swaps_servers_under_traffic,
            attached_refusals_keep_serving,
            attached_follows_a_binding_directory,
        );
    };
    (@tests $contract:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::contract::$name::<$contract>().await;
            }
        )*
    };
}
