//! PostgreSQL bindings, read as libpq reads them: URIs (`postgres://user@host:port/db?sslmode=…`)
//! and keyword/value strings (`host=… port=… sslmode=…`), or servicebinding.io fields.
//!
//! What differs from libpq, on purpose: with no `sslmode` the mode is `verify-full` (libpq's is
//! `prefer`); with no `sslrootcert` the system roots are used; a host is required (no implicit
//! unix socket); several hosts are not supported yet.

use std::collections::BTreeMap;
use std::path::PathBuf;

use attache_core::discover::BindingInput;
use attache_core::tls::TlsSettings;
use attache_core::{
    CheckId, Finding, ResourceSpec, Secret, Severity, Source, Sourced, TlsRequirement,
};
use percent_encoding::percent_decode_str;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plaintext first, TLS if the server insists.
    Allow,
    /// TLS if the server offers it, else plaintext.
    Prefer,
    /// TLS, nothing verified.
    Require,
    /// TLS, chain verified, host name not.
    VerifyCa,
    /// TLS, chain and host name verified (attache's default and only way of connecting).
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

pub use attache_core::url::Host;

/// A parsed PostgreSQL binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct PgBinding {
    /// Server host.
    pub host: Sourced<Host>,
    /// Server port.
    pub port: Sourced<u16>,
    /// Account name.
    pub user: Sourced<String>,
    /// Database name.
    pub dbname: Sourced<String>,
    /// Password, if any.
    pub password: Option<Sourced<Secret>>,
    /// The mode the binding asked for (attache connects verify-full whatever it says, or refuses).
    pub sslmode: Sourced<SslMode>,
    /// Trust anchors and client certificate.
    pub tls: TlsSettings,
    /// `options` (e.g. `-c search_path=app`).
    pub options: Option<Sourced<String>>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// Connect in plaintext (only when the binding says `disable` and the target is local).
    pub plaintext: bool,
    /// Where the binding came from.
    pub origin: Option<Source>,
    /// Files holding secrets.
    pub secret_files: Vec<PathBuf>,
}

impl attache_core::Binding for PgBinding {
    fn origin(&self) -> Option<&Source> {
        self.origin.as_ref()
    }
    fn target(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user.value, self.host.value, self.port.value, self.dbname.value
        )
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

const KNOWN: &[&str] = &[
    "host",
    "port",
    "dbname",
    "user",
    "password",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "options",
    "application_name",
    "connect_timeout",
];

/// Reads a binding. `Err` is the one finding that makes it unusable; `Ok` carries the findings
/// its settings warrant (`tls-downgrade-permitted`, `tls-unverified`, `tls-plaintext`).
pub fn parse(
    input: BindingInput,
    spec: &ResourceSpec,
) -> Result<(PgBinding, Vec<Finding>), Finding> {
    let resource = input.resource.clone();
    let mut params = Params::default();

    if let Some(url) = &input.url {
        parse_conninfo(&input, url, &mut params)?;
    }
    // servicebinding.io fields override what a `uri` file said.
    for (file, key) in [
        ("host", "host"),
        ("port", "port"),
        ("username", "user"),
        ("database", "dbname"),
        ("sslmode", "sslmode"),
    ] {
        if let Some(v) = input.fields.get(file) {
            params.plain.insert(key.to_owned(), v.clone());
        }
    }
    input.expect_type(&["postgresql", "postgres"])?;
    params.password = input.password_over(params.password.as_ref())?;

    let get = |k: &str| params.plain.get(k);
    let host = match get("host") {
        Some(h) if h.value.starts_with('/') => h.clone().map(|v| Host::Socket(PathBuf::from(v))),
        Some(h) if h.value.contains(',') => {
            return Err(input.invalid(
                "host",
                &h.source,
                "several hosts are not supported; bind one host",
            ));
        }
        Some(h) if !h.value.is_empty() => h.clone().map(Host::Tcp),
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
        None => Sourced::new(5432, Source::Default),
    };
    let user = match get("user") {
        Some(u) if !u.value.is_empty() => u.clone(),
        _ => {
            let at = input.origin.clone().unwrap_or(Source::Default);
            return Err(input.invalid("user", &at, "the binding names no user"));
        }
    };
    let dbname = match get("dbname") {
        Some(d) if !d.value.is_empty() => d.clone(),
        _ => Sourced::new(user.value.clone(), Source::Default),
    };
    let sslmode = match get("sslmode") {
        Some(m) => match SslMode::parse(&m.value) {
            Some(mode) => Sourced::new(mode, m.source.clone()),
            None => {
                return Err(input.invalid(
                    "sslmode",
                    &m.source,
                    "expected one of disable, allow, prefer, require, verify-ca, verify-full",
                ));
            }
        },
        None => Sourced::new(SslMode::VerifyFull, Source::Default),
    };

    let path = |k: &str| get(k).map(|v| v.clone().map(PathBuf::from));
    let mut secret_files = input.secret_files.clone();
    let tls = input.tls_settings(
        path("sslrootcert"),
        ("sslcert", path("sslcert")),
        ("sslkey", path("sslkey")),
        &mut secret_files,
    )?;

    let mut findings = Vec::new();
    let mut plaintext = false;
    let mode_at = format!(
        "sslmode={} (from {})",
        sslmode.value.as_str(),
        sslmode.source
    );
    match sslmode.value {
        SslMode::VerifyFull => {}
        SslMode::VerifyCa => findings.push(Finding::new(
            CheckId::TlsUnverified,
            Severity::High,
            &resource,
            format!("{mode_at} checks the certificate chain but not the host name: any certificate from that CA passes"),
            "use sslmode=verify-full (or leave sslmode out: attache's default) with sslrootcert",
        )),
        SslMode::Require => findings.push(Finding::new(
            CheckId::TlsUnverified,
            Severity::High,
            &resource,
            format!("{mode_at} encrypts but does not verify the server: a man in the middle is not noticed"),
            "use sslmode=verify-full (or leave sslmode out: attache's default) with sslrootcert",
        )),
        SslMode::Prefer | SslMode::Allow => findings.push(Finding::new(
            CheckId::TlsDowngradePermitted,
            Severity::High,
            &resource,
            format!("{mode_at} lets a client fall back to plaintext when the server (or an attacker) declines TLS"),
            "use sslmode=verify-full (or leave sslmode out: attache's default) with sslrootcert",
        )),
        SslMode::Disable => {
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
                "enable TLS on the server and use sslmode=verify-full with sslrootcert",
            ));
        }
    }
    if matches!(host.value, Host::Socket(_)) && sslmode.value != SslMode::Disable {
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
            "nothing to do for a local socket; bind a TCP host with verify-full TLS to require TLS",
        ));
    }

    let binding = PgBinding {
        host,
        port,
        user,
        dbname,
        password: params.password,
        sslmode,
        tls,
        options: get("options").cloned(),
        application_name: get("application_name").map(|a| a.value.clone()),
        plaintext,
        origin: input.origin.clone(),
        secret_files,
    };
    Ok((binding, findings))
}

fn parse_conninfo(
    input: &BindingInput,
    url: &Sourced<Secret>,
    params: &mut Params,
) -> Result<(), Finding> {
    let text = url.value.expose_secret().trim();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        parse_uri(input, text, &url.source, params)
    } else if text.contains('=') {
        parse_keywords(input, text, &url.source, params)
    } else {
        Err(input.invalid(
            "URL",
            &url.source,
            "expected postgres://user@host:port/dbname?sslmode=… or host=… port=… keywords",
        ))
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
    if !KNOWN.contains(&key) {
        // Only the key is named: the value might be anything, a password included.
        return Err(input.invalid(
            key,
            source,
            format!("unknown parameter; attache reads {}", KNOWN.join(", ")),
        ));
    }
    if key == "password" {
        params.password = Some(Sourced::new(Secret::new(value), source.param("password")));
    } else {
        params
            .plain
            .insert(key.to_owned(), Sourced::new(value, source.param(key)));
    }
    Ok(())
}

fn parse_uri(
    input: &BindingInput,
    text: &str,
    source: &Source,
    params: &mut Params,
) -> Result<(), Finding> {
    let rest = text.split_once("://").map(|(_, r)| r).unwrap_or_default();
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
        let db = decode(input, source, "dbname", path)?;
        set(input, params, source, "dbname", db)?;
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

fn parse_keywords(
    input: &BindingInput,
    text: &str,
    source: &Source,
    params: &mut Params,
) -> Result<(), Finding> {
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(());
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(input.invalid(
                "URL",
                source,
                format!("expected `=` after keyword `{key}`"),
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(input.invalid(&key, source, "unterminated quoted value")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        set(input, params, source, &key, value)?;
    }
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
        ResourceSpec::new("db", "postgres")
    }

    #[test]
    fn uri_with_everything() {
        let (b, f) = parse(input("postgresql://app:p%40ss@db.internal:6543/appdb?sslmode=verify-full&sslrootcert=/ca.pem&application_name=web"), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.host.value, Host::Tcp("db.internal".into()));
        assert_eq!(b.port.value, 6543);
        assert_eq!(b.user.value, "app");
        assert_eq!(b.dbname.value, "appdb");
        assert_eq!(b.password.as_ref().unwrap().value.expose_secret(), "p@ss");
        assert_eq!(
            b.password.as_ref().unwrap().source.to_string(),
            "password in env DATABASE_URL"
        );
        assert_eq!(
            b.tls.roots,
            Roots::PemFile(Sourced::new(
                "/ca.pem".into(),
                Source::Env("DATABASE_URL".into()).param("sslrootcert")
            ))
        );
        assert!(!format!("{b:?}").contains("p@ss"));
    }

    #[test]
    fn default_is_verify_full_with_system_roots() {
        let (b, f) = parse(input("postgres://app@db:5432/app"), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.sslmode.value, SslMode::VerifyFull);
        assert_eq!(b.sslmode.source, Source::Default);
        assert_eq!(b.tls.roots, Roots::System);
        assert!(!b.plaintext);
    }

    #[test]
    fn weak_modes_are_findings() {
        for (mode, check) in [
            ("prefer", CheckId::TlsDowngradePermitted),
            ("allow", CheckId::TlsDowngradePermitted),
            ("require", CheckId::TlsUnverified),
            ("verify-ca", CheckId::TlsUnverified),
        ] {
            let (b, f) = parse(
                input(&format!("postgres://app@db/app?sslmode={mode}")),
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
                "attache never connects weaker than verify-full"
            );
        }
    }

    #[test]
    fn disable_is_info_on_loopback_and_high_elsewhere() {
        let (b, f) = parse(
            input("postgres://app@127.0.0.1/app?sslmode=disable"),
            &spec(),
        )
        .unwrap();
        assert!(b.plaintext);
        assert_eq!(f[0].severity, Severity::Info);
        let (_, f) = parse(
            input("postgres://app@db.example.com/app?sslmode=disable"),
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
            input("postgres://app@localhost/app?sslmode=disable"),
            &strict,
        )
        .unwrap();
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn keyword_strings() {
        let (b, _) = parse(
            input(
                "host=10.0.0.5 port=5433 user=app password='it\\'s q' dbname=x sslmode=verify-full",
            ),
            &spec(),
        )
        .unwrap();
        assert_eq!(b.host.value, Host::Tcp("10.0.0.5".into()));
        assert_eq!(b.port.value, 5433);
        assert_eq!(b.dbname.value, "x");
        assert_eq!(b.password.as_ref().unwrap().value.expose_secret(), "it's q");
    }

    #[test]
    fn invalid_bindings_name_field_and_source_but_no_secret() {
        for (url, field) in [
            ("postgres://app:planted-1@db:notaport/app", "port"),
            (
                "postgres://app:planted-1@db/app?sslmode=sometimes",
                "sslmode",
            ),
            ("postgres://app:planted-1@db/app?planted-2=x", "planted-2"),
            ("postgres://:planted-1@db/app", "user"),
            ("postgres://app:planted-1@/app", "host"),
            ("postgres://app:planted-1@a,b/app", "host"),
            ("mysql://app:planted-1@db/app", "URL"),
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
    fn ipv6_and_socket_hosts() {
        let (b, _) = parse(input("postgres://app@[::1]:5433/app"), &spec()).unwrap();
        assert_eq!(b.host.value, Host::Tcp("::1".into()));
        assert!(b.host.value.is_local());
        let (b, f) = parse(
            input("postgres://app@%2Fvar%2Frun%2Fpostgresql/app"),
            &spec(),
        )
        .unwrap();
        assert_eq!(b.host.value, Host::Socket("/var/run/postgresql".into()));
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
    }

    #[test]
    fn two_different_passwords_are_invalid() {
        let mut i = input("postgres://app:one@db/app");
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
    }

    #[test]
    fn odd_input_never_panics() {
        for url in [
            "",
            "postgres://",
            "postgres://@",
            "postgres://:@:/?",
            "postgres://[",
            "postgres://[::1",
            "postgres://ü:ö@ä:1/é?sslmode=é",
            "postgres://a@b/c?=",
            "postgres://a@b/c?x",
            "postgres://%ZZ@h/d",
            "host='unterminated",
            "host=",
            "=x",
            "host = a port = b",
            "postgres://a@h:99999/d",
            "postgres://a@h:-1/d",
            "postgresql://a@h/d?sslrootcert=&sslcert=",
            "\u{0}=\u{0}",
        ] {
            let _ = parse(input(url), &spec());
        }
    }
}
