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

use std::path::PathBuf;

use attache_core::binding::{BindingInput, UrlShape};
use attache_core::transport::{TlsAsk, TlsMode, Transport};
use attache_core::{Finding, Host, Kind, Secret, Source, Sourced};

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

    /// What the mode asks of the connection, in core's words.
    pub fn mode(self) -> TlsMode {
        match self {
            SslMode::Disabled => TlsMode::Plaintext,
            SslMode::Preferred => TlsMode::PlaintextFallback,
            SslMode::Required => TlsMode::NoVerification,
            SslMode::VerifyCa => TlsMode::NoHostCheck,
            SslMode::VerifyIdentity => TlsMode::VerifyFull,
        }
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

/// A parsed MySQL binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct MysqlBinding {
    /// Server port (unused for a socket).
    pub port: Sourced<u16>,
    /// Account name.
    pub user: Sourced<String>,
    /// Default database, if the binding names one. Needs without a database refer to it.
    pub database: Option<Sourced<String>>,
    /// Password, if any.
    pub password: Option<Sourced<Secret>>,
    /// The mode the binding asked for (attache connects verify-identity whatever it says, or
    /// not at all; core judges it).
    pub ssl_mode: Sourced<SslMode>,
    /// The host (or unix socket), the TLS mode and material, for core's judgement.
    pub transport: Transport,
    /// Where the binding came from.
    pub origin: Option<Source>,
    /// Files holding secrets.
    pub secret_files: Vec<PathBuf>,
}

impl MysqlBinding {
    /// The server: a TCP host or a unix socket.
    pub fn host(&self) -> &Sourced<Host> {
        &self.transport.host
    }
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
        match &self.host().value {
            Host::Tcp(_) => format!(
                "mysql://{}@{}:{}/{db}",
                self.user.value,
                self.host().value,
                self.port.value
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
    fn transport(&self) -> &Transport {
        &self.transport
    }
}

/// The parameters attache reads, by their canonical names.
pub const PARAMETERS: &[&str] = &[
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

/// How a MySQL URL looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["mysql", "mariadb"],
    example: "mysql://user@host:port/database?ssl-mode=VERIFY_IDENTITY&ssl-ca=…",
    path: "database",
    params: PARAMETERS,
    canonical: Some(canonical),
    fragment: false,
    fields: &[("sslmode", "ssl-mode")],
};

/// Reads a binding. The error is the one finding that makes it unusable.
pub fn parse(input: BindingInput) -> Result<MysqlBinding, Finding> {
    let mut params = input.read(&URL, <crate::Mysql as Kind>::SURFACE.binding_types)?;
    let host = match params.value("socket") {
        Some(s) if !s.value.starts_with('/') => {
            return Err(input.invalid("socket", &s.source, "expected an absolute path"));
        }
        Some(s) => s.clone().map(|v| Host::Socket(PathBuf::from(v))),
        None => params.host(&input)?,
    };
    let port = params.port(&input, 3306)?;
    let user = params.required(&input, "user")?;
    let database = params.value("database").cloned();
    if let Some(d) = database.as_ref().filter(|d| d.value.contains('/')) {
        return Err(input.invalid("database", &d.source, "a database name has no `/`"));
    }
    let ssl_mode = match params.get("ssl-mode") {
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
    let mut secret_files = input.secret_files.clone();
    let tls = params.tls(&input, ["ssl-ca", "ssl-cert", "ssl-key"], &mut secret_files)?;
    let ask = TlsAsk::new(
        ssl_mode.value.mode(),
        format!("ssl-mode={}", ssl_mode.value.as_str()),
        ssl_mode.source.clone(),
    );
    Ok(MysqlBinding {
        port,
        user,
        database,
        password: params.take_password(),
        ssl_mode,
        transport: Transport {
            host,
            asks: vec![ask],
            tls,
        },
        origin: input.origin.clone(),
        secret_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use attache_core::tls::Roots;
    use attache_core::{CheckId, ResourceSpec, Severity, TlsRequirement};

    /// Parses, then judges the transport as core does before connecting.
    fn judged(
        input: BindingInput,
        spec: &ResourceSpec,
    ) -> Result<(MysqlBinding, Vec<Finding>), Finding> {
        let b = parse(input)?;
        let j = attache_core::transport::judge(
            "db",
            &b.transport,
            &spec.policy,
            &<crate::Mysql as Kind>::SURFACE.tls,
        );
        Ok((b, j.findings))
    }

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
        let (b, f) = judged(
            input("mysql://app:p%40ss@db.internal:3307/appdb?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem&ssl-cert=/c.pem&ssl-key=/k.pem"),
            &spec(),
        )
        .unwrap();
        assert!(f.is_empty());
        assert_eq!(b.host().value, Host::Tcp("db.internal".into()));
        assert_eq!(b.port.value, 3307);
        assert_eq!(b.user.value, "app");
        assert_eq!(b.database.as_ref().unwrap().value, "appdb");
        assert_eq!(b.password.as_ref().unwrap().value.expose_secret(), "p@ss");
        assert_eq!(
            b.password.as_ref().unwrap().source.to_string(),
            "password in env DATABASE_URL"
        );
        assert_eq!(
            b.transport.tls.roots,
            Roots::PemFile(Sourced::new(
                "/ca.pem".into(),
                Source::Env("DATABASE_URL".into()).param("ssl-ca")
            ))
        );
        assert!(b.transport.tls.identity.is_some());
        assert!(b.secret_files.contains(&PathBuf::from("/k.pem")));
        assert!(!format!("{b:?}").contains("p@ss"));
        assert_eq!(
            attache_core::Binding::target(&b),
            "mysql://app@db.internal:3307/appdb"
        );
    }

    #[test]
    fn default_is_verify_identity_with_system_roots() {
        let (b, f) = judged(input("mysql://app@db/app"), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.ssl_mode.value, SslMode::VerifyIdentity);
        assert_eq!(b.ssl_mode.source, Source::Default);
        assert_eq!(b.port.value, 3306);
        assert_eq!(b.transport.tls.roots, Roots::System);
        assert!(!b.transport.is_plaintext());
        let (b, _) = judged(input("mariadb://app@db"), &spec()).unwrap();
        assert!(b.database.is_none());
    }

    #[test]
    fn other_spellings_of_the_parameters() {
        for url in [
            "mysql://app@db/app?sslmode=verify_ca",
            "mysql://app@db/app?ssl_mode=VERIFY_CA",
            "mysql://app@db/app?SSL-MODE=verify-ca",
        ] {
            let (b, f) = judged(input(url), &spec()).unwrap();
            assert_eq!(b.ssl_mode.value, SslMode::VerifyCa, "{url}");
            assert_eq!(f[0].check, CheckId::TlsUnverified);
        }
        let (b, _) = judged(input("mysql://app@db/app?ssl_ca=/x.pem"), &spec()).unwrap();
        assert!(matches!(b.transport.tls.roots, Roots::PemFile(_)));
    }

    #[test]
    fn weak_modes_are_findings() {
        for (mode, check) in [
            ("PREFERRED", CheckId::TlsDowngradePermitted),
            ("REQUIRED", CheckId::TlsUnverified),
            ("VERIFY_CA", CheckId::TlsUnverified),
        ] {
            let (b, f) = judged(
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
                !b.transport.is_plaintext(),
                "attache never connects weaker than verify-identity"
            );
        }
    }

    #[test]
    fn disabled_is_info_on_loopback_and_high_elsewhere() {
        let (b, f) = judged(
            input("mysql://app@127.0.0.1/app?ssl-mode=DISABLED"),
            &spec(),
        )
        .unwrap();
        assert!(b.transport.is_plaintext());
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
        let (_, f) = judged(
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
        let (_, f) = judged(
            input("mysql://app@localhost/app?ssl-mode=DISABLED"),
            &strict,
        )
        .unwrap();
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn socket_is_local_plaintext() {
        let (b, f) = judged(
            input("mysql://app@localhost/app?socket=%2Frun%2Fmysqld%2Fmysqld.sock"),
            &spec(),
        )
        .unwrap();
        assert_eq!(
            b.host().value,
            Host::Socket("/run/mysqld/mysqld.sock".into())
        );
        assert!(b.transport.is_plaintext());
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
            ("mysql://app:planted-1@db/app?planted-2=x", "URL"),
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
            let f = parse(input(url)).unwrap_err();
            assert_eq!(f.check, CheckId::BindingInvalid, "{url}");
            assert!(f.message.starts_with(field), "{url}: {}", f.message);
            assert!(
                f.message.contains("env DATABASE_URL"),
                "{url}: {}",
                f.message
            );
            assert!(
                !f.message.contains("planted") && !f.remedy.contains("planted"),
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
        let (b, f) = judged(input.clone(), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.user.source, file("username"));
        assert_eq!(b.port.value, 3307);
        assert_eq!(
            b.transport.tls.roots,
            Roots::PemFile(Sourced::new(dir.join("ca.crt"), file("ca.crt")))
        );
        let mut wrong = input;
        wrong.fields.insert(
            "type".into(),
            Sourced::new("postgresql".into(), file("type")),
        );
        assert_eq!(parse(wrong).unwrap_err().check, CheckId::BindingInvalid);
    }

    #[test]
    fn two_different_passwords_are_invalid() {
        let mut i = input("mysql://app:one@db/app");
        i.password = Some(Sourced::new(
            Secret::new("two".into()),
            Source::File("/run/secrets/pw".into()),
        ));
        let f = parse(i).unwrap_err();
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
            match judged(input(url), &spec()) {
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
