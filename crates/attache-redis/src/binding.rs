//! Redis bindings: URLs (`rediss://user@host:port/db?ssl_ca_certs=…`) and servicebinding.io
//! fields (`type` = `redis`, `host`, `port`, `username`, `password`, `database`, `ssl`,
//! `ca.crt`, `tls.crt`, `tls.key`).
//!
//! - `rediss://` (and `valkeys://`) is TLS, verified in full: the chain to the binding's CA
//!   (`ssl_ca_certs`, `ca.crt`) or the system roots, and the host name or IP address.
//! - `redis://` (and `valkey://`) is plaintext: tolerated to a loopback address (reported as
//!   `info`), refused elsewhere (`high`, no connection attempted, no credential sent).
//! - The URL fragment `#insecure`, which makes redis-rs skip verification, and redis-py's
//!   `ssl_cert_reqs=none` / `ssl_check_hostname=false` are `tls-unverified` (`high`); attache
//!   connects verified regardless.
//! - Query parameters, named as redis-py names them: `ssl_ca_certs`, `ssl_certfile`,
//!   `ssl_keyfile`, `ssl_cert_reqs`, `ssl_check_hostname`.
//!
//! No error names a value taken from the URL: a password that was not percent-encoded can end
//! up in any part of it.

use attache_core::binding::{Binding, BindingInput, Common, UrlShape};
use attache_core::transport::{TlsAsk, TlsMode};
use attache_core::{Finding, Kind, Source, Sourced};

/// The query parameters attache reads.
pub const PARAMETERS: &[&str] = &[
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
];

/// How a Redis URL looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["rediss", "valkeys", "redis", "valkey"],
    example: "rediss://[user[:password]@]host[:port][/db] (TLS), or redis:// (plaintext, loopback only)",
    path: "db",
    params: PARAMETERS,
    canonical: None,
    fragment: true,
    fields: &[],
};

/// A parsed Redis binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct RedisBinding {
    /// Server port.
    pub port: Sourced<u16>,
    /// ACL user name; `None` authenticates as `default` (or not at all without a password).
    pub user: Option<Sourced<String>>,
    /// Database number (`SELECT`).
    pub db: Sourced<i64>,
    /// The host, the TLS settings and material, the password, where the binding came from.
    pub common: Common,
}

impl RedisBinding {
    /// The user the server will see: the binding's, else `default`.
    pub fn user_name(&self) -> &str {
        self.user.as_ref().map_or("default", |u| u.value.as_str())
    }

    /// The server's DNS name or IP address (a Redis binding never names a unix socket).
    pub fn host(&self) -> &str {
        self.common.transport.tcp_host()
    }

    /// Whether the binding asks for plaintext (`redis://`, `ssl` = `false`).
    pub fn plaintext(&self) -> bool {
        self.common.transport.is_plaintext()
    }
}

impl Binding for RedisBinding {
    fn parse(input: BindingInput) -> Result<RedisBinding, Finding> {
        if let Some((text, source)) = input.url_text() {
            let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if matches!(
                scheme.as_deref(),
                Some("unix" | "redis+unix" | "redis+socket")
            ) {
                return Err(input.invalid(
                    "URL",
                    source,
                    "unix sockets are not supported yet; bind a TCP host with rediss://",
                ));
            }
        }
        let mut params = input.read(&URL, <crate::Redis as Kind>::SURFACE.binding_types)?;
        let mut asks = Vec::new();
        let scheme_tls = params.scheme.as_ref().map(|s| {
            s.clone()
                .map(|s| matches!(s.as_str(), "rediss" | "valkeys"))
        });
        let tls_on = match input.fields.get("ssl") {
            Some(ssl) => match ssl.value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Sourced::new(true, ssl.source.clone()),
                "false" | "0" | "no" => Sourced::new(false, ssl.source.clone()),
                _ => return Err(input.invalid("ssl", &ssl.source, "expected true or false")),
            },
            None => scheme_tls.unwrap_or_else(|| Sourced::new(true, Source::Default)),
        };
        let tls_words = match (&tls_on.source, tls_on.value) {
            (Source::Default, _) => "TLS (attache's default)".to_owned(),
            (Source::File(_), on) => format!("ssl={on}"),
            (_, true) => "rediss://".to_owned(),
            (_, false) => "redis://".to_owned(),
        };
        let mode = if tls_on.value {
            TlsMode::VerifyFull
        } else {
            TlsMode::Plaintext
        };
        asks.push(TlsAsk::new(mode, tls_words, tls_on.source.clone()));
        if let Some(f) = params.get("#") {
            if f.value != "insecure" {
                // Never echoed: an unencoded `#` in a password lands here.
                return Err(input.invalid(
                    "URL",
                    &f.source,
                    "the only fragment redis clients know is `#insecure`; a `#` in a password must be written %23",
                ));
            }
            asks.push(TlsAsk::new(
                TlsMode::NoVerification,
                "the URL fragment `#insecure`",
                f.source.clone(),
            ));
        }
        if let Some(v) = params.get("ssl_cert_reqs") {
            match v.value.to_ascii_lowercase().as_str() {
                "required" => {}
                "none" | "optional" => asks.push(TlsAsk::new(
                    TlsMode::NoVerification,
                    format!("ssl_cert_reqs={}", v.value),
                    v.source.clone(),
                )),
                _ => {
                    return Err(input.invalid(
                        "ssl_cert_reqs",
                        &v.source,
                        "expected required (or leave it out)",
                    ));
                }
            }
        }
        if let Some(v) = params.get("ssl_check_hostname") {
            match v.value.to_ascii_lowercase().as_str() {
                "true" => {}
                "false" => asks.push(TlsAsk::new(
                    TlsMode::NoHostCheck,
                    "ssl_check_hostname=false",
                    v.source.clone(),
                )),
                _ => {
                    return Err(input.invalid(
                        "ssl_check_hostname",
                        &v.source,
                        "expected true (or leave it out)",
                    ));
                }
            }
        }

        let host = params.tcp_host(&input, "bind a TCP host with rediss://")?;
        let port = params.port(&input, 6379)?;
        let db = match params.get("db") {
            Some(d) if d.value.trim().is_empty() => Sourced::new(0, d.source.clone()),
            Some(d) => match d.value.trim().parse::<i64>() {
                Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => {
                    Sourced::new(n, d.source.clone())
                }
                _ => {
                    return Err(input.invalid(
                        "database",
                        &d.source,
                        "not a database number (0, 1, …)",
                    ));
                }
            },
            None => Sourced::new(0, Source::Default),
        };
        let user = params.value("user").cloned();

        input.refuse_tls_in_plaintext(
            &params,
            &tls_on.clone().map(|on| !on),
            PARAMETERS,
            "use rediss:// (or ssl=true)",
        )?;
        Ok(RedisBinding {
            port,
            user,
            db,
            common: params.common(
                &input,
                host,
                asks,
                ["ssl_ca_certs", "ssl_certfile", "ssl_keyfile"],
            )?,
        })
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn target(&self) -> String {
        let scheme = if self.plaintext() { "redis" } else { "rediss" };
        self.common.transport.target(
            scheme,
            self.user(),
            self.port.value,
            &self.db.value.to_string(),
        )
    }
    fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.value.as_str())
    }
    fn port(&self) -> u16 {
        self.port.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::tls::Roots;
    use attache_core::{CheckId, Policy, Severity, TlsRequirement};
    use attache_testkit::binding_contract::{
        assert_invalid, assert_never_panics, judge_url, url_input,
    };

    attache_testkit::binding_suite!(crate::Redis, attache_testkit::RedisServer);

    fn judged(url: &str, policy: &Policy) -> Result<(RedisBinding, Vec<Finding>), Finding> {
        judge_url::<crate::Redis>("cache", "CACHE_URL", url, policy)
    }

    fn is_loopback(b: &RedisBinding) -> bool {
        b.common.transport.host.value.is_local()
    }

    #[test]
    fn rediss_url_with_everything() {
        let (b, f) = judged("rediss://app:p%40ss@cache.internal:6380/2?ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem",
            &Policy::default(),
        )
        .unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(b.host(), "cache.internal");
        assert_eq!(b.port.value, 6380);
        assert_eq!(b.db.value, 2);
        assert_eq!(b.user_name(), "app");
        assert_eq!(
            b.common.password.as_ref().unwrap().value.expose_secret(),
            "p@ss"
        );
        assert!(!b.plaintext());
        assert_eq!(b.target(), "rediss://app@cache.internal:6380/2");
    }

    #[test]
    fn defaults_are_tls_system_roots_port_6379_db_0() {
        let (b, f) = judged("rediss://cache", &Policy::default()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.common.transport.tls.roots, Roots::System);
        assert_eq!((b.port.value, b.db.value), (6379, 0));
        assert_eq!(b.user_name(), "default");
        assert!(b.common.password.is_none());
    }

    #[test]
    fn plaintext_to_ipv6_loopback_and_redis_words() {
        let (b, f) = judged("redis://app@127.0.0.1:6379", &Policy::default()).unwrap();
        assert!(b.plaintext() && is_loopback(&b));
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
        let (b, f) = judged("redis://app@[::1]:6379", &Policy::default()).unwrap();
        assert!(is_loopback(&b));
        assert_eq!(f[0].severity, Severity::Info);
        let (_, f) = judged("redis://app@cache.example.com", &Policy::default()).unwrap();
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::High)
        );
        assert!(f[0].message.contains("did not connect"), "{}", f[0].message);
        let strict = Policy {
            tls: TlsRequirement::Required,
            ..Policy::default()
        };
        let (_, f) = judged("redis://app@localhost", &strict).unwrap();
        assert_eq!(f[0].severity, Severity::High);
        let e = RedisBinding::parse(url_input(
            "cache",
            "CACHE_URL",
            "redis://app@localhost?ssl_ca_certs=/ca.pem",
        ))
        .unwrap_err();
        assert!(e.message.contains("use rediss://"), "{}", e.message);
    }

    #[test]
    fn invalid_redis_urls_name_field_and_source_but_no_secret() {
        for (url, field) in [
            ("rediss://app:planted-1@cache/planted-db", "database"),
            ("rediss://app:planted-1@cache/-1", "database"),
            ("rediss://app:planted-1@cache?planted-2", "URL"),
            ("rediss://app:planted-1@cache#planted-2", "URL"),
            ("rediss://app:pla#nted-1@cache", "URL"),
            ("rediss://app:pla/nted-1@cache", "port"),
            ("rediss://app:planted-1@", "host"),
            ("rediss://app:planted-1@[::1]x", "host"),
            ("app:planted-1@cache", "URL"),
            ("unix://app:planted-1@/tmp/redis.sock", "URL"),
            (
                "rediss://app:planted-1@cache?ssl_cert_reqs=planted-3",
                "ssl_cert_reqs",
            ),
            (
                "rediss://app:planted-1@cache?ssl_certfile=/c.pem",
                "ssl_keyfile",
            ),
            ("rediss://app:%FFplanted-1@cache", "password"),
        ] {
            assert_invalid::<crate::Redis>("CACHE_URL", url, field);
        }
    }

    #[test]
    fn odd_redis_urls_never_panic() {
        assert_never_panics::<crate::Redis>(
            [
                "rediss://]:",
                "rediss://a@b/c?&&",
                "rediss://a@h/99999999999999999999",
                "redis://a@\u{0}",
                "rediss://a@h#",
            ]
            .map(String::from),
        );
    }
}
