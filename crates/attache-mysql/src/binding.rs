//! MySQL/MariaDB bindings: `mysql://user@host:port/db?ssl-mode=…&ssl-ca=…` URLs (also
//! `mariadb://`) with the MySQL client's own option names, or servicebinding.io fields (`type`
//! `mysql` or `mariadb`).
//!
//! Parameters, as the `mysql` client names them (`ssl_mode` and `sslmode` are read as `ssl-mode`,
//! `ssl_ca` as `ssl-ca`, …):
//!
//! | parameter | meaning |
//! |---|---|
//! | `ssl-mode` | `VERIFY_IDENTITY` (attache's default), `VERIFY_CA`, `REQUIRED`, `PREFERRED`, `DISABLED` |
//! | `ssl-ca` | PEM file of the CA(s) the server's chain must lead to (else the system roots) |
//! | `ssl-cert`, `ssl-key` | a client certificate and its key, for `REQUIRE X509` accounts |
//! | `socket` | a unix socket path instead of host and port (local, so TLS does not apply) |
//!
//! What differs from the `mysql` client, on purpose: with no `ssl-mode` the mode is
//! `VERIFY_IDENTITY` (the client's default is `PREFERRED`); a TCP host stays TCP (the client and
//! mysql_async switch `localhost` to the unix socket); a user is required.

use std::collections::BTreeMap;
use std::path::PathBuf;

use attache_core::discover::BindingInput;
use attache_core::tls::TlsSettings;
use attache_core::{
    CheckId, Finding, ResourceSpec, Secret, Severity, Source, Sourced, TlsRequirement,
};
use percent_encoding::percent_decode_str;

/// The MySQL client's `--ssl-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disabled,
    /// TLS if the server offers it, else plaintext (the `mysql` client's default).
    Preferred,
    /// TLS, nothing verified.
    Required,
    /// TLS, chain verified, host name not.
    VerifyCa,
    /// TLS, chain and host name verified (attache's default and only way of connecting).
    VerifyIdentity,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(
            match s.trim().to_ascii_uppercase().replace('-', "_").as_str() {
                "DISABLED" => SslMode::Disabled,
                "PREFERRED" => SslMode::Preferred,
                "REQUIRED" => SslMode::Required,
                "VERIFY_CA" => SslMode::VerifyCa,
                "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
                _ => return None,
            },
        )
    }

    /// The client's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Preferred => "PREFERRED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

pub use attache_core::url::Host;

/// A parsed MySQL binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct MysqlBinding {
    /// Server host (or unix socket).
    pub host: Sourced<Host>,
    /// Server port (unused for a socket).
    pub port: Sourced<u16>,
    /// Account name.
    pub user: Sourced<String>,
    /// Default database, if the binding names one. Needs without a database refer to it.
    pub database: Option<Sourced<String>>,
    /// Password, if any.
    pub password: Option<Sourced<Secret>>,
    /// The mode the binding asked for (attache connects verify-identity whatever it says, or
    /// refuses).
    pub ssl_mode: Sourced<SslMode>,
    /// Trust anchors and client certificate.
    pub tls: TlsSettings,
    /// Connect in plaintext (only for `DISABLED` to this machine, or a unix socket).
    pub plaintext: bool,
    /// Where the binding came from.
    pub origin: Option<Source>,
    /// Files holding secrets.
    pub secret_files: Vec<PathBuf>,
}

impl attache_core::Binding for MysqlBinding {
    fn origin(&self) -> Option<&Source> {
        self.origin.as_ref()
    }
    fn target(&self) -> String {
        let db = self
            .database
            .as_ref()
            .map(|d| d.value.as_str())
            .unwrap_or("");
        match &self.host.value {
            Host::Tcp(_) => format!(
                "mysql://{}@{}:{}/{db}",
                self.user.value, self.host.value, self.port.value
            ),
            Host::Socket(p) => format!(
                "mysql://{}@localhost/{db}?socket={}",
                self.user.value,
                p.display()
            ),
        }
    }
    fn user(&self) -> Option<&str> {
        Some(&self.user.value)
    }
    fn password(&self) -> Option<&Sourced<Secret>> {
        self.password.as_ref()
    }
    fn secret_files(&self) -> Vec<PathBuf> {
        self.secret_files.clone()
    }
}

/// Raw parameters with their sources; secrets kept apart.
#[derive(Default)]
struct Params {
    plain: BTreeMap<String, Sourced<String>>,
    password: Option<Sourced<Secret>>,
}

/// The parameters attache reads, by their canonical names.
const KNOWN: &[&str] = &[
    "host", "port", "user", "password", "database", "ssl-mode", "ssl-ca", "ssl-cert", "ssl-key",
    "socket",
];

/// `ssl_mode`, `SSL-MODE`, `sslmode` → `ssl-mode`; likewise for the other `ssl-*` names.
fn canonical(key: &str) -> String {
    let k = key.to_ascii_lowercase().replace('_', "-");
    match k.as_str() {
        "sslmode" => "ssl-mode".to_owned(),
        "sslca" => "ssl-ca".to_owned(),
        "sslcert" => "ssl-cert".to_owned(),
        "sslkey" => "ssl-key".to_owned(),
        _ => k,
    }
}

const FIX_MODE: &str =
    "use ssl-mode=VERIFY_IDENTITY (or leave ssl-mode out: attache's default) with ssl-ca";

/// Reads a binding. `Err` is the one finding that makes it unusable; `Ok` carries the findings
/// its settings warrant (`tls-downgrade-permitted`, `tls-unverified`, `tls-plaintext`).
pub fn parse(
    input: BindingInput,
    spec: &ResourceSpec,
) -> Result<(MysqlBinding, Vec<Finding>), Finding> {
    let resource = input.resource.clone();
    let mut params = Params::default();

    if let Some(url) = &input.url {
        parse_url(&input, url, &mut params)?;
    }
    // servicebinding.io fields override what a `uri` file said.
    for (file, key) in [
        ("host", "host"),
        ("port", "port"),
        ("username", "user"),
        ("database", "database"),
        ("sslmode", "ssl-mode"),
    ] {
        if let Some(v) = input.fields.get(file) {
            params.plain.insert(key.to_owned(), v.clone());
        }
    }
    input.expect_type(&["mysql", "mariadb"])?;
    params.password = input.password_over(params.password.as_ref())?;

    let get = |k: &str| params.plain.get(k);
    let host = match (get("socket"), get("host")) {
        (Some(s), _) if !s.value.is_empty() => {
            if !s.value.starts_with('/') {
                return Err(input.invalid("socket", &s.source, "expected an absolute path"));
            }
            s.clone().map(|v| Host::Socket(PathBuf::from(v)))
        }
        (_, Some(h)) if h.value.starts_with('/') => {
            h.clone().map(|v| Host::Socket(PathBuf::from(v)))
        }
        (_, Some(h)) if h.value.contains(',') => {
            return Err(input.invalid(
                "host",
                &h.source,
                "several hosts are not supported; bind one host",
            ));
        }
        (_, Some(h)) if !h.value.is_empty() => h.clone().map(Host::Tcp),
        _ => {
            let at = input.origin.clone().unwrap_or(Source::Default);
            return Err(input.invalid("host", &at, "the binding names no host"));
        }
    };
    let port = match get("port") {
        Some(p) => match p.value.parse::<u16>() {
            Ok(n) if n > 0 => Sourced::new(n, p.source.clone()),
            _ => return Err(input.invalid("port", &p.source, "not a port number (1-65535)")),
        },
        None => Sourced::new(3306, Source::Default),
    };
    let user = match get("user") {
        Some(u) if !u.value.is_empty() => u.clone(),
        _ => {
            let at = input.origin.clone().unwrap_or(Source::Default);
            return Err(input.invalid("user", &at, "the binding names no user"));
        }
    };
    let database = get("database").filter(|d| !d.value.is_empty()).cloned();
    let ssl_mode = match get("ssl-mode") {
        Some(m) => match SslMode::parse(&m.value) {
            Some(mode) => Sourced::new(mode, m.source.clone()),
            None => {
                return Err(input.invalid(
                    "ssl-mode",
                    &m.source,
                    "expected one of VERIFY_IDENTITY, VERIFY_CA, REQUIRED, PREFERRED, DISABLED",
                ));
            }
        },
        None => Sourced::new(SslMode::VerifyIdentity, Source::Default),
    };

    let path = |k: &str| {
        get(k)
            .filter(|v| !v.value.is_empty())
            .map(|v| v.clone().map(PathBuf::from))
    };
    let mut secret_files = input.secret_files.clone();
    let tls = input.tls_settings(
        path("ssl-ca"),
        ("ssl-cert", path("ssl-cert")),
        ("ssl-key", path("ssl-key")),
        &mut secret_files,
    )?;

    let mut findings = Vec::new();
    let mut plaintext = false;
    let mode_at = format!(
        "ssl-mode={} (from {})",
        ssl_mode.value.as_str(),
        ssl_mode.source
    );
    match ssl_mode.value {
        SslMode::VerifyIdentity => {}
        SslMode::VerifyCa => findings.push(Finding::new(
            CheckId::TlsUnverified,
            Severity::High,
            &resource,
            format!("{mode_at} checks the certificate chain but not the host name: any certificate from that CA passes"),
            FIX_MODE,
        )),
        SslMode::Required => findings.push(Finding::new(
            CheckId::TlsUnverified,
            Severity::High,
            &resource,
            format!("{mode_at} encrypts but does not verify the server: a man in the middle is not noticed"),
            FIX_MODE,
        )),
        SslMode::Preferred => findings.push(Finding::new(
            CheckId::TlsDowngradePermitted,
            Severity::High,
            &resource,
            format!("{mode_at} lets a client fall back to plaintext when the server (or an attacker) offers no TLS"),
            FIX_MODE,
        )),
        SslMode::Disabled => {
            plaintext = true;
            let allowed = host.value.is_local() && spec.policy.tls == TlsRequirement::Default;
            let (severity, message) = if allowed {
                (Severity::Info, format!("{mode_at}: plaintext to {}, which is this machine", host.value))
            } else if host.value.is_local() {
                (Severity::High, format!("{mode_at}, but policy.tls = \"required\"; attache did not connect"))
            } else {
                (Severity::High, format!("{mode_at} to {}, which is not this machine; attache did not connect and sent no credentials", host.value))
            };
            findings.push(Finding::new(
                CheckId::TlsPlaintext,
                severity,
                &resource,
                message,
                "enable TLS on the server (ssl-cert, ssl-key, require_secure_transport = ON) and use ssl-mode=VERIFY_IDENTITY with ssl-ca",
            ));
        }
    }
    if matches!(host.value, Host::Socket(_)) && ssl_mode.value != SslMode::Disabled {
        plaintext = true;
        let severity = if spec.policy.tls == TlsRequirement::Required {
            Severity::High
        } else {
            Severity::Info
        };
        findings.push(Finding::new(
            CheckId::TlsPlaintext,
            severity,
            &resource,
            format!(
                "unix socket {}: local and unencrypted (TLS does not apply)",
                host.value
            ),
            "nothing to do for a local socket; bind a TCP host with ssl-mode=VERIFY_IDENTITY to require TLS",
        ));
    }

    let binding = MysqlBinding {
        host,
        port,
        user,
        database,
        password: params.password,
        ssl_mode,
        tls,
        plaintext,
        origin: input.origin.clone(),
        secret_files,
    };
    Ok((binding, findings))
}

fn parse_url(
    input: &BindingInput,
    url: &Sourced<Secret>,
    params: &mut Params,
) -> Result<(), Finding> {
    let text = url.value.expose_secret().trim();
    let rest = text
        .strip_prefix("mysql://")
        .or_else(|| text.strip_prefix("mariadb://"));
    match rest {
        Some(rest) => parse_uri(input, rest, &url.source, params),
        None => Err(input.invalid(
            "URL",
            &url.source,
            "expected mysql://user@host:port/database?ssl-mode=VERIFY_IDENTITY&ssl-ca=…",
        )),
    }
}

fn decode(input: &BindingInput, source: &Source, field: &str, s: &str) -> Result<String, Finding> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| input.invalid(field, source, "percent-encoding does not decode to UTF-8"))
}

fn set(
    input: &BindingInput,
    params: &mut Params,
    source: &Source,
    key: &str,
    value: String,
) -> Result<(), Finding> {
    let canon = canonical(key);
    if !KNOWN.contains(&canon.as_str()) {
        // Only the key is named: the value might be anything, a password included.
        return Err(input.invalid(
            key,
            source,
            format!("unknown parameter; attache reads {}", KNOWN.join(", ")),
        ));
    }
    if canon == "password" {
        params.password = Some(Sourced::new(Secret::new(value), source.param("password")));
    } else {
        params
            .plain
            .insert(canon, Sourced::new(value, source.param(key)));
    }
    Ok(())
}

/// `user[:password]@host[:port][/database][?k=v&…]`, after the scheme.
fn parse_uri(
    input: &BindingInput,
    rest: &str,
    source: &Source,
    params: &mut Params,
) -> Result<(), Finding> {
    let url = attache_core::url::split(rest)
        .map_err(|m| input.invalid("host", &source.param("host"), m))?;
    if let Some(user) = url.user.filter(|u| !u.is_empty()) {
        let user = decode(input, source, "user", user)?;
        set(input, params, source, "user", user)?;
    }
    if let Some(p) = url.password {
        let p = decode(input, source, "password", p)?;
        set(input, params, source, "password", p)?;
    }
    if !url.host.is_empty() {
        let host = decode(input, source, "host", url.host)?;
        set(input, params, source, "host", host)?;
    }
    if let Some(p) = url.port.filter(|p| !p.is_empty()) {
        set(input, params, source, "port", p.to_owned())?;
    }
    let (path, query) = (url.path, url.query);
    if !path.is_empty() {
        let db = decode(input, source, "database", path)?;
        if db.contains('/') {
            return Err(input.invalid(
                "database",
                &source.param("database"),
                "a database name has no `/`",
            ));
        }
        set(input, params, source, "database", db)?;
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(input.invalid("URL", source, "a query parameter has no `=`"));
        };
        let k = decode(input, source, "URL", k)?;
        let v = decode(input, source, &k, v)?;
        set(input, params, source, &k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::tls::Roots;

    fn input(url: &str) -> BindingInput {
        BindingInput {
            resource: "db".into(),
            origin: Some(Source::Env("DATABASE_URL".into())),
            url: Some(Sourced::new(
                Secret::new(url.into()),
                Source::Env("DATABASE_URL".into()),
            )),
            ..Default::default()
        }
    }

    fn spec() -> ResourceSpec {
        ResourceSpec::new("db", "mysql")
    }

    #[test]
    fn url_with_everything() {
        let (b, f) = parse(
            input("mysql://app:p%40ss@db.internal:3307/appdb?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem&ssl-cert=/c.pem&ssl-key=/k.pem"),
            &spec(),
        )
        .unwrap();
        assert!(f.is_empty());
        assert_eq!(b.host.value, Host::Tcp("db.internal".into()));
        assert_eq!(b.port.value, 3307);
        assert_eq!(b.user.value, "app");
        assert_eq!(b.database.as_ref().unwrap().value, "appdb");
        assert_eq!(b.password.as_ref().unwrap().value.expose_secret(), "p@ss");
        assert_eq!(
            b.password.as_ref().unwrap().source.to_string(),
            "password in env DATABASE_URL"
        );
        assert_eq!(
            b.tls.roots,
            Roots::PemFile(Sourced::new(
                "/ca.pem".into(),
                Source::Env("DATABASE_URL".into()).param("ssl-ca")
            ))
        );
        assert!(b.tls.identity.is_some());
        assert!(b.secret_files.contains(&PathBuf::from("/k.pem")));
        assert!(!format!("{b:?}").contains("p@ss"));
        assert_eq!(
            attache_core::Binding::target(&b),
            "mysql://app@db.internal:3307/appdb"
        );
    }

    #[test]
    fn default_is_verify_identity_with_system_roots() {
        let (b, f) = parse(input("mysql://app@db/app"), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.ssl_mode.value, SslMode::VerifyIdentity);
        assert_eq!(b.ssl_mode.source, Source::Default);
        assert_eq!(b.port.value, 3306);
        assert_eq!(b.tls.roots, Roots::System);
        assert!(!b.plaintext);
        let (b, _) = parse(input("mariadb://app@db"), &spec()).unwrap();
        assert!(b.database.is_none());
    }

    #[test]
    fn other_spellings_of_the_parameters() {
        for url in [
            "mysql://app@db/app?sslmode=verify_ca",
            "mysql://app@db/app?ssl_mode=VERIFY_CA",
            "mysql://app@db/app?SSL-MODE=verify-ca",
        ] {
            let (b, f) = parse(input(url), &spec()).unwrap();
            assert_eq!(b.ssl_mode.value, SslMode::VerifyCa, "{url}");
            assert_eq!(f[0].check, CheckId::TlsUnverified);
        }
        let (b, _) = parse(input("mysql://app@db/app?ssl_ca=/x.pem"), &spec()).unwrap();
        assert!(matches!(b.tls.roots, Roots::PemFile(_)));
    }

    #[test]
    fn weak_modes_are_findings() {
        for (mode, check) in [
            ("PREFERRED", CheckId::TlsDowngradePermitted),
            ("REQUIRED", CheckId::TlsUnverified),
            ("VERIFY_CA", CheckId::TlsUnverified),
        ] {
            let (b, f) = parse(
                input(&format!("mysql://app@db/app?ssl-mode={mode}")),
                &spec(),
            )
            .unwrap();
            assert_eq!(f.len(), 1, "{mode}");
            assert_eq!(f[0].check, check);
            assert_eq!(f[0].severity, Severity::High);
            assert!(
                f[0].message.contains("env DATABASE_URL"),
                "{}",
                f[0].message
            );
            assert!(
                !b.plaintext,
                "attache never connects weaker than verify-identity"
            );
        }
    }

    #[test]
    fn disabled_is_info_on_loopback_and_high_elsewhere() {
        let (b, f) = parse(
            input("mysql://app@127.0.0.1/app?ssl-mode=DISABLED"),
            &spec(),
        )
        .unwrap();
        assert!(b.plaintext);
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
        let (_, f) = parse(
            input("mysql://app@db.example.com/app?ssl-mode=DISABLED"),
            &spec(),
        )
        .unwrap();
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::High)
        );
        let mut strict = spec();
        strict.policy.tls = TlsRequirement::Required;
        let (_, f) = parse(
            input("mysql://app@localhost/app?ssl-mode=DISABLED"),
            &strict,
        )
        .unwrap();
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn socket_is_local_plaintext() {
        let (b, f) = parse(
            input("mysql://app@localhost/app?socket=%2Frun%2Fmysqld%2Fmysqld.sock"),
            &spec(),
        )
        .unwrap();
        assert_eq!(b.host.value, Host::Socket("/run/mysqld/mysqld.sock".into()));
        assert!(b.plaintext);
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
        assert!(attache_core::Binding::target(&b).ends_with("?socket=/run/mysqld/mysqld.sock"));
    }

    #[test]
    fn invalid_bindings_name_field_and_source_but_no_secret() {
        for (url, field) in [
            ("mysql://app:planted-1@db:notaport/app", "port"),
            ("mysql://app:planted-1@db:0/app", "port"),
            (
                "mysql://app:planted-1@db/app?ssl-mode=sometimes",
                "ssl-mode",
            ),
            ("mysql://app:planted-1@db/app?planted-2=x", "planted-2"),
            ("mysql://:planted-1@db/app", "user"),
            ("mysql://app:planted-1@/app", "host"),
            ("mysql://app:planted-1@a,b/app", "host"),
            ("mysql://app:planted-1@db/app?socket=relative", "socket"),
            ("mysql://app:planted-1@db/app?ssl-cert=/c.pem", "ssl-key"),
            ("mysql://app:planted-1@db/app?ssl-key=/k.pem", "ssl-cert"),
            ("mysql://app:planted-1@db/a/b", "database"),
            ("mysql://app:planted-1@db/app?x", "URL"),
            ("mysql://app:planted-1@[::1/app", "host"),
            ("postgres://app:planted-1@db/app", "URL"),
        ] {
            let f = parse(input(url), &spec()).unwrap_err();
            assert_eq!(f.check, CheckId::BindingInvalid, "{url}");
            assert!(f.message.starts_with(field), "{url}: {}", f.message);
            assert!(
                f.message.contains("env DATABASE_URL"),
                "{url}: {}",
                f.message
            );
            assert!(
                !f.message.contains("planted-1") && !f.remedy.contains("planted-1"),
                "{url}: {}",
                f.message
            );
        }
    }

    #[test]
    fn service_binding_fields() {
        let dir = PathBuf::from("/bindings/db");
        let file = |n: &str| Source::File(dir.join(n));
        let mut fields = BTreeMap::new();
        for (k, v) in [
            ("type", "mariadb"),
            ("host", "10.0.0.5"),
            ("port", "3307"),
            ("username", "app"),
            ("database", "appdb"),
        ] {
            fields.insert(k.to_owned(), Sourced::new(v.to_owned(), file(k)));
        }
        let mut files = BTreeMap::new();
        files.insert(
            "ca.crt".to_owned(),
            Sourced::new(dir.join("ca.crt"), file("ca.crt")),
        );
        let input = BindingInput {
            resource: "db".into(),
            origin: Some(Source::File(dir.clone())),
            fields,
            files,
            password: Some(Sourced::new(Secret::new("pw".into()), file("password"))),
            ..Default::default()
        };
        let (b, f) = parse(input.clone(), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.user.source, file("username"));
        assert_eq!(b.port.value, 3307);
        assert_eq!(
            b.tls.roots,
            Roots::PemFile(Sourced::new(dir.join("ca.crt"), file("ca.crt")))
        );
        let mut wrong = input;
        wrong.fields.insert(
            "type".into(),
            Sourced::new("postgresql".into(), file("type")),
        );
        assert_eq!(
            parse(wrong, &spec()).unwrap_err().check,
            CheckId::BindingInvalid
        );
    }

    #[test]
    fn two_different_passwords_are_invalid() {
        let mut i = input("mysql://app:one@db/app");
        i.password = Some(Sourced::new(
            Secret::new("two".into()),
            Source::File("/run/secrets/pw".into()),
        ));
        let f = parse(i, &spec()).unwrap_err();
        assert!(
            f.message.contains("/run/secrets/pw") && f.message.contains("env DATABASE_URL"),
            "{}",
            f.message
        );
        assert!(!f.message.contains("one") || !f.message.contains("two"));
    }

    #[test]
    fn odd_input_never_panics_nor_echoes_the_password() {
        for url in [
            "",
            "mysql://",
            "mysql://@",
            "mysql://:@:/?",
            "mysql://[",
            "mysql://[::1",
            "mysql://ü:planted-ö@ä:1/é?ssl-mode=é",
            "mysql://a:planted-x@b/c?=",
            "mysql://a:planted-x@b/c?x",
            "mysql://%ZZ:planted-x@h/d",
            "mysql://a:planted-%ZZ@h/d",
            "mysql://a@h:99999/d",
            "mysql://a@h:-1/d",
            "mysql://a@h/d?ssl-ca=&ssl-cert=",
            "mysql://a:planted-x@h/d?socket=",
            "mysql://a:planted-x@@@h/d",
            "mysql://a:b:planted-x@h/d",
            "\u{0}mysql://",
            "mysql://\u{0}:planted-x@\u{0}/\u{0}",
        ] {
            match parse(input(url), &spec()) {
                Ok((b, findings)) => {
                    let text = format!("{b:?} {findings:?}");
                    assert!(!text.contains("planted"), "{url}: {text}");
                }
                Err(f) => {
                    let text = format!("{f:?} {f}");
                    assert!(!text.contains("planted"), "{url}: {text}");
                }
            }
        }
    }
}
