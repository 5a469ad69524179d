//! MySQL/MariaDB bindings: `mysql://user@host:port/db?ssl-mode=…&ssl-ca=…` URLs (also
//! `mariadb://`) with the MySQL client's own option names, or servicebinding.io fields (`type`
//! `mysql` or `mariadb`).
//!
//! Parameters, as the `mysql` client names them (any case, with `_`, `-` or neither between the
//! words: `ssl_mode`, `SSL-MODE` and Connector/J's camel-case spelling are all `ssl-mode`):
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

use attache_core::binding::{Binding, BindingInput, Common, TlsModes, UrlShape};
use attache_core::{Finding, Host, Kind, Sourced};

/// The MySQL client's `--ssl-mode`: its values and what each asks of TLS (any case, `-` or `_`).
pub const SSL_MODE: TlsModes = attache_core::tls_modes!("ssl-mode", loose;
    "VERIFY_IDENTITY" => VerifyFull, "VERIFY_CA" => NoHostCheck, "REQUIRED" => NoVerification,
    "PREFERRED" => PlaintextFallback, "DISABLED" => Plaintext);

/// A parsed MySQL binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct MysqlBinding {
    /// Server port (unused for a socket).
    pub port: Sourced<u16>,
    /// Account name.
    pub user: Sourced<String>,
    /// Default database, if the binding names one. Needs without a database refer to it.
    pub database: Option<Sourced<String>>,
    /// The mode the binding asked for (attache connects verify-identity whatever it says, or
    /// not at all; core judges it).
    pub ssl_mode: Sourced<&'static str>,
    /// The host (or unix socket), the TLS mode and material, the password, where the binding
    /// came from.
    pub common: Common,
}

impl MysqlBinding {
    /// The server: a TCP host or a unix socket.
    pub fn host(&self) -> &Sourced<Host> {
        &self.common.transport.host
    }
}

impl Binding for MysqlBinding {
    fn parse(input: BindingInput) -> Result<MysqlBinding, Finding> {
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
        let (ssl_mode, ask) = params.tls_mode(&input, &SSL_MODE)?;
        Ok(MysqlBinding {
            port,
            user,
            database,
            ssl_mode,
            common: params.common(&input, host, vec![ask], ["ssl-ca", "ssl-cert", "ssl-key"])?,
        })
    }
    fn common(&self) -> &Common {
        &self.common
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
    fn port(&self) -> u16 {
        self.port.value
    }
}

/// The parameters attache reads, by their canonical names.
pub const PARAMETERS: &[&str] = &[
    "host", "port", "user", "password", "database", "ssl-mode", "ssl-ca", "ssl-cert", "ssl-key",
    "socket",
];

/// A parameter's canonical name: case and the separators between its words (`_`, `-` or none)
/// do not matter, so `ssl_mode`, `SSL-MODE` and the camel-case spelling are all `ssl-mode`.
fn canonical(key: &str) -> String {
    let compact = |k: &str| -> String {
        k.chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = compact(key);
    PARAMETERS
        .iter()
        .find(|p| compact(p) == wanted)
        .map_or_else(
            || key.to_ascii_lowercase().replace('_', "-"),
            |p| (*p).to_owned(),
        )
}

/// How a MySQL URL looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["mysql", "mariadb"],
    example: "mysql://user@host:port/database?ssl-mode=VERIFY_IDENTITY&ssl-ca=…",
    path: "database",
    params: PARAMETERS,
    canonical: Some(canonical),
    fragment: false,
    fields: &[("ssl-mode", "ssl-mode")],
};

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Source;
    use attache_core::tls::Roots;
    use attache_core::{CheckId, Severity};
    use attache_testkit::binding_contract::{assert_invalid, assert_never_panics};

    attache_testkit::binding_suite!(crate::Mysql, attache_testkit::MysqlServer; "db" in "DATABASE_URL");

    #[test]
    fn invalid_mysql_bindings_name_field_and_source() {
        for (url, field) in [
            (
                "mysql://app:planted-1@db/app?ssl-mode=sometimes",
                "ssl-mode",
            ),
            ("mysql://:planted-1@db/app", "user"),
            ("mysql://app:planted-1@db/app?socket=relative", "socket"),
            ("mysql://app:planted-1@db/app?ssl-cert=/c.pem", "ssl-key"),
            ("mysql://app:planted-1@db/app?ssl-key=/k.pem", "ssl-cert"),
            ("mysql://app:planted-1@db/a/b", "database"),
            ("mysql://app:planted-1@db/app?x", "URL"),
        ] {
            assert_invalid::<crate::Mysql>("DATABASE_URL", url, field);
        }
    }

    #[test]
    fn url_with_everything() {
        let (b, f) = judged("mysql://app:p%40ss@db.internal:3307/appdb?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem&ssl-cert=/c.pem&ssl-key=/k.pem")
        .unwrap();
        assert!(f.is_empty());
        assert_eq!(b.host().value, Host::Tcp("db.internal".into()));
        assert_eq!(b.port.value, 3307);
        assert_eq!(b.user.value, "app");
        assert_eq!(b.database.as_ref().unwrap().value, "appdb");
        assert_eq!(
            b.common.password.as_ref().unwrap().value.expose_secret(),
            "p@ss"
        );
        assert_eq!(
            attache_core::Binding::target(&b),
            "mysql://app@db.internal:3307/appdb"
        );
    }

    #[test]
    fn default_is_verify_identity_with_system_roots() {
        let (b, f) = judged("mysql://app@db/app").unwrap();
        assert!(f.is_empty());
        assert_eq!(b.ssl_mode.value, "VERIFY_IDENTITY");
        assert_eq!(b.ssl_mode.source, Source::Default);
        assert_eq!(b.port.value, 3306);
        assert_eq!(b.common.transport.tls.roots, Roots::System);
        assert!(!b.common.transport.is_plaintext());
        let (b, _) = judged("mariadb://app@db").unwrap();
        assert!(b.database.is_none());
    }

    #[test]
    fn other_spellings_of_the_parameters() {
        for url in [
            "mysql://app@db/app?Ssl_Mode=verify_ca",
            "mysql://app@db/app?ssl_mode=VERIFY_CA",
            "mysql://app@db/app?SSL-MODE=verify-ca",
        ] {
            let (b, f) = judged(url).unwrap();
            assert_eq!(b.ssl_mode.value, "VERIFY_CA", "{url}");
            assert_eq!(f[0].check, CheckId::TlsUnverified);
        }
        let (b, _) = judged("mysql://app@db/app?ssl_ca=/x.pem").unwrap();
        assert!(matches!(b.common.transport.tls.roots, Roots::PemFile(_)));
    }

    #[test]
    fn socket_is_local_plaintext() {
        let (b, f) =
            judged("mysql://app@localhost/app?socket=%2Frun%2Fmysqld%2Fmysqld.sock").unwrap();
        assert_eq!(
            b.host().value,
            Host::Socket("/run/mysqld/mysqld.sock".into())
        );
        assert!(b.common.transport.is_plaintext());
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
        assert!(attache_core::Binding::target(&b).ends_with("?socket=/run/mysqld/mysqld.sock"));
    }

    #[test]
    fn odd_mysql_urls_never_panic_nor_echo_the_password() {
        assert_never_panics::<crate::Mysql>(
            [
                "mysql://a:planted-%ZZ@h/d",
                "mysql://a@h/d?ssl-ca=&ssl-cert=",
                "mysql://a:planted-x@h/d?socket=",
                "mysql://a:planted-x@@@h/d",
                "mysql://a:b:planted-x@h/d",
            ]
            .map(String::from),
        );
    }
}
