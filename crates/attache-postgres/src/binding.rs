//! PostgreSQL bindings, read as libpq reads them: URIs (`postgres://user@host:port/db?sslmode=…`)
//! and keyword/value strings (`host=… port=… sslmode=…`), or servicebinding.io fields.
//!
//! What differs from libpq, on purpose: with no `sslmode` the mode is `verify-full` (libpq's is
//! `prefer`); with no `sslrootcert` the system roots are used; a host is required (no implicit
//! unix socket); several hosts are not supported yet.

use attache_core::binding::{Binding, BindingInput, Common, Params, TlsModes, UrlShape};
use attache_core::{Finding, Host, Kind, Secret, Source, Sourced};

/// libpq's `sslmode`: its values and what each asks of TLS.
pub const SSLMODE: TlsModes = attache_core::tls_modes!("sslmode", exact;
    "disable" => Plaintext, "allow" => PlaintextFallback, "prefer" => PlaintextFallback,
    "require" => NoVerification, "verify-ca" => NoHostCheck, "verify-full" => VerifyFull);

/// A parsed PostgreSQL binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct PgBinding {
    /// Server port.
    pub port: Sourced<u16>,
    /// Account name.
    pub user: Sourced<String>,
    /// Database name.
    pub dbname: Sourced<String>,
    /// The mode the binding asked for (attache connects verify-full whatever it says, or not at
    /// all; core judges it).
    pub sslmode: Sourced<&'static str>,
    /// `options` (e.g. `-c search_path=app`).
    pub options: Option<Sourced<String>>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// The host, the TLS mode and material, the password, where the binding came from.
    pub common: Common,
}

impl PgBinding {
    /// The server: a TCP host, or the directory holding the server's unix socket.
    pub fn host(&self) -> &Sourced<Host> {
        &self.common.transport.host
    }
}

impl Binding for PgBinding {
    fn parse(input: BindingInput) -> Result<PgBinding, Finding> {
        let mut params = Params::default();
        match input.url_text() {
            Some((text, source)) if !text.contains("://") && text.contains('=') => {
                parse_keywords(&input, text, source, &mut params)?;
            }
            _ => input.read_url(&URL, &mut params)?,
        }
        input.read_fields(
            &URL,
            <crate::Postgres as Kind>::SURFACE.binding_types,
            &mut params,
        )?;

        let host = params.host(&input)?;
        let port = params.port(&input, 5432)?;
        let user = params.required(&input, "user")?;
        let dbname = match params.value("dbname") {
            Some(d) => d.clone(),
            None => Sourced::new(user.value.clone(), Source::Default),
        };
        let (sslmode, ask) = params.tls_mode(&input, &SSLMODE)?;
        Ok(PgBinding {
            port,
            user,
            dbname,
            sslmode,
            options: params.get("options").cloned(),
            application_name: params.get("application_name").map(|a| a.value.clone()),
            common: params.common(
                &input,
                host,
                vec![ask],
                ["sslrootcert", "sslcert", "sslkey"],
            )?,
        })
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn target(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user.value,
            self.host().value,
            self.port.value,
            self.dbname.value
        )
    }
    fn user(&self) -> Option<&str> {
        Some(&self.user.value)
    }
    fn port(&self) -> u16 {
        self.port.value
    }
}

/// The parameters attache reads, in URIs and keyword strings alike.
pub const PARAMETERS: &[&str] = &[
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

/// How a PostgreSQL URI looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["postgres", "postgresql"],
    example: "postgres://user@host:port/dbname?sslmode=… or host=… port=… keywords",
    path: "dbname",
    params: PARAMETERS,
    canonical: None,
    fragment: false,
    fields: &[("sslmode", "sslmode")],
};

/// libpq's keyword/value syntax: `host=db port=5432 password='it\'s'`.
fn parse_keywords(
    input: &BindingInput,
    text: &str,
    source: &Source,
    params: &mut Params,
) -> Result<(), Finding> {
    let mut set = |key: &str, value: String| {
        if !PARAMETERS.contains(&key) {
            // The value might be anything, a password included; so might a key that is not a
            // keyword at all (a mistyped URL lands here): only a keyword-like key is named.
            let named =
                key.len() <= 32 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return Err(input.invalid(
                if named { key } else { "keyword" },
                source,
                format!("unknown parameter; attache reads {}", PARAMETERS.join(", ")),
            ));
        }
        let at = source.param(key);
        if key == "password" {
            params.set_password(Sourced::new(Secret::new(value), at));
        } else {
            params.set(key, Sourced::new(value, at));
        }
        Ok(())
    };
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
        set(&key, value)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::tls::Roots;
    use attache_core::{CheckId, Severity};
    use attache_testkit::binding_contract::{assert_invalid, assert_never_panics};

    attache_testkit::binding_suite!(crate::Postgres, attache_testkit::PgServer; "db" in "DATABASE_URL");

    #[test]
    fn invalid_postgres_bindings_name_field_and_source() {
        for (url, field) in [
            (
                "postgres://app:planted-1@db/app?sslmode=sometimes",
                "sslmode",
            ),
            ("postgres://:planted-1@db/app", "user"),
            (
                "host=db user=app password=planted-1 sslmode=sometimes",
                "sslmode",
            ),
        ] {
            assert_invalid::<crate::Postgres>("DATABASE_URL", url, field);
        }
    }

    #[test]
    fn odd_keyword_strings_never_panic() {
        assert_never_panics::<crate::Postgres>(
            [
                "host='unterminated",
                "host=",
                "=x",
                "host = a port = b",
                "\u{0}=\u{0}",
            ]
            .map(String::from),
        );
    }

    #[test]
    fn uri_with_everything() {
        let (b, f) = judged("postgresql://app:p%40ss@db.internal:6543/appdb?sslmode=verify-full&sslrootcert=/ca.pem&application_name=web").unwrap();
        assert!(f.is_empty());
        assert_eq!(b.host().value, Host::Tcp("db.internal".into()));
        assert_eq!(b.port.value, 6543);
        assert_eq!(b.user.value, "app");
        assert_eq!(b.dbname.value, "appdb");
        assert_eq!(
            b.common.password.as_ref().unwrap().value.expose_secret(),
            "p@ss"
        );
    }

    #[test]
    fn default_is_verify_full_with_system_roots() {
        let (b, f) = judged("postgres://app@db:5432/app").unwrap();
        assert!(f.is_empty());
        assert_eq!(b.sslmode.value, "verify-full");
        assert_eq!(b.sslmode.source, Source::Default);
        assert_eq!(b.common.transport.tls.roots, Roots::System);
        assert!(!b.common.transport.is_plaintext());
    }

    #[test]
    fn keyword_strings() {
        let (b, _) = judged(
            "host=10.0.0.5 port=5433 user=app password='it\\'s q' dbname=x sslmode=verify-full",
        )
        .unwrap();
        assert_eq!(b.host().value, Host::Tcp("10.0.0.5".into()));
        assert_eq!(b.port.value, 5433);
        assert_eq!(b.dbname.value, "x");
        assert_eq!(
            b.common.password.as_ref().unwrap().value.expose_secret(),
            "it's q"
        );
    }

    #[test]
    fn ipv6_and_socket_hosts() {
        let (b, _) = judged("postgres://app@[::1]:5433/app").unwrap();
        assert_eq!(b.host().value, Host::Tcp("::1".into()));
        assert!(b.host().value.is_local());
        let (b, f) = judged("postgres://app@%2Fvar%2Frun%2Fpostgresql/app").unwrap();
        assert_eq!(b.host().value, Host::Socket("/var/run/postgresql".into()));
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
    }
}
