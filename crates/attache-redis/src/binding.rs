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

use std::net::IpAddr;
use std::path::PathBuf;

use attache_core::discover::BindingInput;
use attache_core::tls::TlsSettings;
use attache_core::{
    CheckId, Finding, ResourceSpec, Secret, Severity, Source, Sourced, TlsRequirement,
};
use percent_encoding::percent_decode_str;

/// The query parameters attache reads.
pub const PARAMETERS: &[&str] = &[
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
];

/// A parsed Redis binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct RedisBinding {
    /// Server host: a DNS name or an IP address.
    pub host: Sourced<String>,
    /// Server port.
    pub port: Sourced<u16>,
    /// ACL user name; `None` authenticates as `default` (or not at all without a password).
    pub user: Option<Sourced<String>>,
    /// Password, if any.
    pub password: Option<Sourced<Secret>>,
    /// Database number (`SELECT`).
    pub db: Sourced<i64>,
    /// Trust anchors and client certificate.
    pub tls: TlsSettings,
    /// Connect in plaintext (only `redis://` to a loopback address).
    pub plaintext: bool,
    /// Where the binding came from.
    pub origin: Option<Source>,
    /// Files holding secrets.
    pub secret_files: Vec<PathBuf>,
}

impl RedisBinding {
    /// The user the server will see: the binding's, else `default`.
    pub fn user_name(&self) -> &str {
        self.user.as_ref().map_or("default", |u| u.value.as_str())
    }

    /// Whether the host is this machine (`localhost` or a loopback address).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host.value)
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl attache_core::Binding for RedisBinding {
    fn origin(&self) -> Option<&Source> {
        self.origin.as_ref()
    }
    fn target(&self) -> String {
        let scheme = if self.plaintext { "redis" } else { "rediss" };
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{}@", u.value))
            .unwrap_or_default();
        let host = if self.host.value.contains(':') {
            format!("[{}]", self.host.value)
        } else {
            self.host.value.clone()
        };
        format!(
            "{scheme}://{user}{host}:{}/{}",
            self.port.value, self.db.value
        )
    }
    fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.value.as_str())
    }
    fn password(&self) -> Option<&Sourced<Secret>> {
        self.password.as_ref()
    }
    fn secret_files(&self) -> Vec<PathBuf> {
        self.secret_files.clone()
    }
}

/// What the URL (or the service binding) said, each value with its source.
#[derive(Default)]
struct Parts {
    tls: Option<Sourced<bool>>,
    host: Option<Sourced<String>>,
    port: Option<Sourced<String>>,
    user: Option<Sourced<String>>,
    password: Option<Sourced<Secret>>,
    db: Option<Sourced<String>>,
    insecure_fragment: Option<Source>,
    params: Vec<(String, Sourced<String>)>,
}

/// Reads a binding. `Err` is the one finding that makes it unusable; `Ok` carries the findings
/// its settings warrant (`tls-plaintext`, `tls-unverified`).
pub fn parse(
    input: BindingInput,
    spec: &ResourceSpec,
) -> Result<(RedisBinding, Vec<Finding>), Finding> {
    let resource = input.resource.clone();
    let mut parts = Parts::default();
    if let Some(url) = &input.url {
        parse_url(&input, url, &mut parts)?;
    }
    input.expect_type(&["redis"])?;
    if let Some(m) = input.fields.get("sslmode") {
        return Err(input.invalid(
            "sslmode",
            &m.source,
            "sslmode is a PostgreSQL setting; a redis binding says `ssl` (true or false), or uses a rediss:// uri",
        ));
    }
    // servicebinding.io fields override what a `uri` file said.
    for (file, slot) in [
        ("host", &mut parts.host),
        ("port", &mut parts.port),
        ("username", &mut parts.user),
        ("database", &mut parts.db),
    ] {
        if let Some(v) = input.fields.get(file) {
            *slot = Some(v.clone());
        }
    }
    if let Some(ssl) = input.fields.get("ssl") {
        let on = match ssl.value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(input.invalid("ssl", &ssl.source, "expected true or false")),
        };
        parts.tls = Some(Sourced::new(on, ssl.source.clone()));
    }
    parts.password = input.password_over(parts.password.as_ref())?;

    let at = input.origin.clone().unwrap_or(Source::Default);
    let host = match parts.host.take() {
        Some(h) if !h.value.is_empty() => h,
        _ => return Err(input.invalid("host", &at, "the binding names no host")),
    };
    let port = match &parts.port {
        Some(p) => match p.value.trim().parse::<u16>() {
            Ok(n) if n > 0 => Sourced::new(n, p.source.clone()),
            _ => return Err(input.invalid("port", &p.source, "not a port number (1-65535)")),
        },
        None => Sourced::new(6379, Source::Default),
    };
    let db = match &parts.db {
        Some(d) if d.value.trim().is_empty() => Sourced::new(0, d.source.clone()),
        Some(d) => match d.value.trim().parse::<i64>() {
            Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => Sourced::new(n, d.source.clone()),
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
    let user = parts.user.take().filter(|u| !u.value.is_empty());
    let tls_on = parts
        .tls
        .clone()
        .unwrap_or_else(|| Sourced::new(true, Source::Default));

    let param = |name: &str| parts.params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let url_path = |name: &str| {
        param(name)
            .filter(|v| !v.value.is_empty())
            .cloned()
            .map(|v| v.map(PathBuf::from))
    };
    let mut secret_files = input.secret_files.clone();
    let tls = input.tls_settings(
        url_path("ssl_ca_certs"),
        ("ssl_certfile", url_path("ssl_certfile")),
        ("ssl_keyfile", url_path("ssl_keyfile")),
        &mut secret_files,
    )?;

    let mut findings = Vec::new();
    let unverified = |what: String, source: &Source| {
        Finding::new(
            CheckId::TlsUnverified,
            Severity::High,
            &resource,
            format!(
                "{what} ({source}) asks the client not to verify the server's certificate; \
                 attache connected verified anyway, but another client reading this binding would not"
            ),
            "remove it, and give the binding the server's CA (ssl_ca_certs, ca.crt) if the \
             certificate is not signed by a public CA",
        )
    };
    if let Some(source) = &parts.insecure_fragment {
        findings.push(unverified("the URL fragment `#insecure`".into(), source));
    }
    if let Some(v) = param("ssl_cert_reqs") {
        match v.value.to_ascii_lowercase().as_str() {
            "required" => {}
            "none" | "optional" => {
                findings.push(unverified(format!("ssl_cert_reqs={}", v.value), &v.source));
            }
            _ => {
                return Err(input.invalid(
                    "ssl_cert_reqs",
                    &v.source,
                    "expected required (or leave it out)",
                ));
            }
        }
    }
    if let Some(v) = param("ssl_check_hostname") {
        match v.value.to_ascii_lowercase().as_str() {
            "true" => {}
            "false" => findings.push(unverified("ssl_check_hostname=false".into(), &v.source)),
            _ => {
                return Err(input.invalid(
                    "ssl_check_hostname",
                    &v.source,
                    "expected true (or leave it out)",
                ));
            }
        }
    }

    let plaintext = !tls_on.value;
    if plaintext {
        let tls_words: Vec<&str> = PARAMETERS
            .iter()
            .copied()
            .filter(|p| param(p).is_some())
            .chain(
                ["ca.crt", "tls.crt", "tls.key"]
                    .into_iter()
                    .filter(|f| input.files.contains_key(*f)),
            )
            .collect();
        if !tls_words.is_empty() {
            return Err(input.invalid(
                "URL",
                &tls_on.source,
                format!(
                    "the binding asks for plaintext (redis://, ssl=false) yet sets {}; use rediss:// (or ssl=true)",
                    tls_words.join(", ")
                ),
            ));
        }
        let loopback = is_loopback(&host.value);
        let allowed = loopback && spec.policy.tls == TlsRequirement::Default;
        let what = format!("plaintext (from {})", tls_on.source);
        let (severity, message) = if allowed {
            (
                Severity::Info,
                format!("{what} to {}, which is this machine", host.value),
            )
        } else if loopback {
            (
                Severity::High,
                format!("{what}, but policy.tls = \"required\"; attache did not connect"),
            )
        } else {
            (
                Severity::High,
                format!(
                    "{what} to {}, which is not this machine; attache did not connect and sent no credentials",
                    host.value
                ),
            )
        };
        findings.push(Finding::new(
            CheckId::TlsPlaintext,
            severity,
            &resource,
            message,
            "enable TLS on the server (tls-port, and port 0 for the plaintext port) and use a rediss:// URL",
        ));
    }

    let binding = RedisBinding {
        host,
        port,
        user,
        password: parts.password,
        db,
        tls,
        plaintext,
        origin: input.origin.clone(),
        secret_files,
    };
    Ok((binding, findings))
}

fn decode(input: &BindingInput, source: &Source, field: &str, s: &str) -> Result<String, Finding> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| input.invalid(field, source, "percent-encoding does not decode to UTF-8"))
}

fn parse_url(
    input: &BindingInput,
    url: &Sourced<Secret>,
    parts: &mut Parts,
) -> Result<(), Finding> {
    let source = &url.source;
    let text = url.value.expose_secret().trim();
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(input.invalid(
            "URL",
            source,
            "expected rediss://[user[:password]@]host[:port][/db]",
        ));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "rediss" | "valkeys" => true,
        "redis" | "valkey" => false,
        "unix" | "redis+unix" | "redis+socket" => {
            return Err(input.invalid(
                "URL",
                source,
                "unix sockets are not supported yet; bind a TCP host with rediss://",
            ));
        }
        _ => {
            return Err(input.invalid(
                "URL",
                source,
                "expected a rediss:// (TLS) or redis:// (plaintext, loopback only) URL",
            ));
        }
    };
    parts.tls = Some(Sourced::new(tls, source.param("scheme")));

    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    match fragment {
        None | Some("") => {}
        Some("insecure") => parts.insecure_fragment = Some(source.param("#insecure")),
        // Never echoed: an unencoded `#` in a password lands here.
        Some(_) => {
            return Err(input.invalid(
                "URL",
                source,
                "the only fragment redis clients know is `#insecure`; a `#` in a password must be written %23",
            ));
        }
    }
    let url = attache_core::url::split(rest)
        .map_err(|m| input.invalid("host", &source.param("host"), m))?;
    if let Some(user) = url.user.filter(|u| !u.is_empty()) {
        let user = decode(input, source, "user", user)?;
        parts.user = Some(Sourced::new(user, source.param("user")));
    }
    if let Some(p) = url.password.filter(|p| !p.is_empty()) {
        let p = decode(input, source, "password", p)?;
        parts.password = Some(Sourced::new(Secret::new(p), source.param("password")));
    }
    let (host, port, path, query) = (url.host, url.port, url.path, url.query);
    if !host.is_empty() {
        let host = decode(input, source, "host", host)?;
        if host.contains(|c: char| c.is_whitespace() || c.is_control() || c == '@' || c == '/') {
            return Err(input.invalid(
                "host",
                &source.param("host"),
                "not a host name or IP address",
            ));
        }
        parts.host = Some(Sourced::new(host, source.param("host")));
    }
    if let Some(p) = port.filter(|p| !p.is_empty()) {
        parts.port = Some(Sourced::new(p.to_owned(), source.param("port")));
    }
    if !path.is_empty() {
        parts.db = Some(Sourced::new(path.to_owned(), source.param("db")));
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(input.invalid("URL", source, "a query parameter has no `=`"));
        };
        let k = decode(input, source, "URL", k)?;
        if !PARAMETERS.contains(&k.as_str()) {
            // The name is not echoed either: an unencoded `?` in a password starts a query.
            return Err(input.invalid(
                "URL",
                source,
                format!(
                    "a query parameter attache does not read; it reads {}",
                    PARAMETERS.join(", ")
                ),
            ));
        }
        let v = decode(input, source, &k, v)?;
        let s = source.param(&k);
        parts.params.retain(|(name, _)| *name != k);
        parts.params.push((k, Sourced::new(v, s)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::Binding as _;
    use attache_core::tls::Roots;

    fn input(url: &str) -> BindingInput {
        BindingInput {
            resource: "cache".into(),
            origin: Some(Source::Env("CACHE_URL".into())),
            url: Some(Sourced::new(
                Secret::new(url.into()),
                Source::Env("CACHE_URL".into()),
            )),
            ..Default::default()
        }
    }

    fn spec() -> ResourceSpec {
        ResourceSpec::new("cache", "redis")
    }

    #[test]
    fn rediss_url_with_everything() {
        let (b, f) = parse(
            input("rediss://app:p%40ss@cache.internal:6380/2?ssl_ca_certs=/ca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem"),
            &spec(),
        )
        .unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(b.host.value, "cache.internal");
        assert_eq!(b.port.value, 6380);
        assert_eq!(b.db.value, 2);
        assert_eq!(b.user_name(), "app");
        assert_eq!(b.password.as_ref().unwrap().value.expose_secret(), "p@ss");
        assert_eq!(
            b.password.as_ref().unwrap().source.to_string(),
            "password in env CACHE_URL"
        );
        assert_eq!(
            b.tls.roots,
            Roots::PemFile(Sourced::new(
                "/ca.pem".into(),
                Source::Env("CACHE_URL".into()).param("ssl_ca_certs")
            ))
        );
        assert!(b.tls.identity.is_some());
        assert!(b.secret_files.contains(&PathBuf::from("/k.pem")));
        assert!(!b.plaintext);
        assert_eq!(b.target(), "rediss://app@cache.internal:6380/2");
        assert!(!format!("{b:?}").contains("p@ss"));
    }

    #[test]
    fn defaults_are_tls_system_roots_port_6379_db_0() {
        let (b, f) = parse(input("rediss://cache"), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.tls.roots, Roots::System);
        assert_eq!((b.port.value, b.db.value), (6379, 0));
        assert_eq!(b.user_name(), "default");
        assert!(b.password.is_none());
    }

    #[test]
    fn insecure_fragment_and_redis_py_switches_are_tls_unverified() {
        for url in [
            "rediss://app@cache/0#insecure",
            "rediss://app@cache/0?ssl_cert_reqs=none",
            "rediss://app@cache/0?ssl_check_hostname=false",
        ] {
            let (b, f) = parse(input(url), &spec()).unwrap();
            assert_eq!(f.len(), 1, "{url}");
            assert_eq!(
                (f[0].check, f[0].severity),
                (CheckId::TlsUnverified, Severity::High)
            );
            assert!(f[0].message.contains("env CACHE_URL"), "{}", f[0].message);
            assert!(!b.plaintext, "attache still connects verified");
        }
    }

    #[test]
    fn plaintext_is_info_on_loopback_and_high_elsewhere() {
        let (b, f) = parse(input("redis://app@127.0.0.1:6379"), &spec()).unwrap();
        assert!(b.plaintext && b.is_loopback());
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::Info)
        );
        let (b, f) = parse(input("redis://app@[::1]:6379"), &spec()).unwrap();
        assert!(b.is_loopback());
        assert_eq!(f[0].severity, Severity::Info);
        let (_, f) = parse(input("redis://app@cache.example.com"), &spec()).unwrap();
        assert_eq!(
            (f[0].check, f[0].severity),
            (CheckId::TlsPlaintext, Severity::High)
        );
        assert!(f[0].message.contains("did not connect"), "{}", f[0].message);
        let mut strict = spec();
        strict.policy.tls = TlsRequirement::Required;
        let (_, f) = parse(input("redis://app@localhost"), &strict).unwrap();
        assert_eq!(f[0].severity, Severity::High);
        let e = parse(input("redis://app@localhost?ssl_ca_certs=/ca.pem"), &spec()).unwrap_err();
        assert!(e.message.contains("use rediss://"), "{}", e.message);
    }

    #[test]
    fn service_binding_fields() {
        let dir = Source::File("/bindings/cache".into());
        let field = |name: &str, v: &str| {
            (
                name.to_owned(),
                Sourced::new(
                    v.to_owned(),
                    Source::File(format!("/bindings/cache/{name}").into()),
                ),
            )
        };
        let mut i = BindingInput {
            resource: "cache".into(),
            origin: Some(dir),
            fields: [
                field("type", "redis"),
                field("host", "10.0.0.7"),
                field("port", "6380"),
                field("username", "app"),
                field("database", "3"),
            ]
            .into_iter()
            .collect(),
            password: Some(Sourced::new(
                Secret::new("pw".into()),
                Source::File("/bindings/cache/password".into()),
            )),
            ..Default::default()
        };
        i.files.insert(
            "ca.crt".into(),
            Sourced::new(
                "/bindings/cache/ca.crt".into(),
                Source::File("/bindings/cache/ca.crt".into()),
            ),
        );
        let (b, f) = parse(i.clone(), &spec()).unwrap();
        assert!(f.is_empty());
        assert_eq!(b.target(), "rediss://app@10.0.0.7:6380/3");
        assert_eq!(
            b.user.as_ref().unwrap().source.to_string(),
            "file /bindings/cache/username"
        );
        assert!(matches!(b.tls.roots, Roots::PemFile(_)));

        i.fields.insert("ssl".into(), field("ssl", "false").1);
        i.files.clear();
        let (b, f) = parse(i.clone(), &spec()).unwrap();
        assert!(b.plaintext);
        assert_eq!(f[0].severity, Severity::High, "10.0.0.7 is not loopback");

        i.fields
            .insert("type".into(), field("type", "postgresql").1);
        let e = parse(i, &spec()).unwrap_err();
        assert!(e.message.starts_with("type"), "{}", e.message);
    }

    #[test]
    fn two_different_passwords_are_invalid() {
        let mut i = input("rediss://app:one@cache");
        i.password = Some(Sourced::new(
            Secret::new("two".into()),
            Source::File("/run/secrets/pw".into()),
        ));
        let e = parse(i, &spec()).unwrap_err();
        assert!(
            e.message.contains("/run/secrets/pw") && e.message.contains("env CACHE_URL"),
            "{}",
            e.message
        );
    }

    #[test]
    fn invalid_urls_name_field_and_source_but_no_secret() {
        for (url, field) in [
            ("rediss://app:planted-1@cache:notaport", "port"),
            ("rediss://app:planted-1@cache:0", "port"),
            ("rediss://app:planted-1@cache/planted-db", "database"),
            ("rediss://app:planted-1@cache/-1", "database"),
            ("rediss://app:planted-1@cache?planted-2=x", "URL"),
            ("rediss://app:planted-1@cache?planted-2", "URL"),
            ("rediss://app:planted-1@cache#planted-2", "URL"),
            ("rediss://app:pla#nted-1@cache", "URL"),
            ("rediss://app:pla/nted-1@cache", "port"),
            ("rediss://app:planted-1@", "host"),
            ("rediss://app:planted-1@[::1", "host"),
            ("rediss://app:planted-1@[::1]x", "host"),
            ("postgres://app:planted-1@cache", "URL"),
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
            let e = parse(input(url), &spec()).unwrap_err();
            assert_eq!(e.check, CheckId::BindingInvalid, "{url}");
            assert!(e.message.starts_with(field), "{url}: {}", e.message);
            assert!(e.message.contains("env CACHE_URL"), "{url}: {}", e.message);
            for text in [&e.message, &e.remedy, &format!("{e:?}")] {
                assert!(!text.contains("planted"), "{url}: {text}");
            }
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for url in [
            "",
            "rediss://",
            "rediss://@",
            "rediss://:@:/?#",
            "rediss://[",
            "rediss://[]",
            "rediss://]:",
            "rediss://ü:ö@ä:1/é?ssl_ca_certs=é#é",
            "rediss://a@b/c?=",
            "rediss://a@b/c?&&",
            "rediss://%ZZ@h/d",
            "rediss://a@h:99999/0",
            "rediss://a@h:-1/0",
            "rediss://a@h/99999999999999999999",
            "rediss://a@h/0?ssl_ca_certs=&ssl_certfile=&ssl_keyfile=",
            "\u{0}://\u{0}",
            "://",
            "redis://a@\u{0}",
            "rediss://a@h#",
        ] {
            let _ = parse(input(url), &spec());
        }
    }
}
