//! The manifest, `attache.toml`: which resources the app uses and what it needs on each.
//!
//! It is committed with the app, so it holds no hosts and no secrets. Parsing is strict: an
//! unknown key, a wrong type or a bad value is a [`ManifestError`] naming the file, the resource
//! and the field, and saying what was expected.
//!
//! ```toml
//! [resources.db]
//! kind = "…"                 # one of the kinds the build enables
//! env = "DATABASE_URL"        # optional; default <NAME>_URL
//! needs = ["SELECT, INSERT ON TABLE public.signups"]
//! [resources.db.policy]       # optional
//! excess = "warn"             # or "deny"
//! connect_timeout = "5s"
//! request_timeout = "5s"     # a request's wait on the resource (pool, answer, statement)
//!
//! [process]                   # optional: what `attache audit --process PID` holds it to
//! listen = [8080, "127.0.0.1:9090", "[::1]:9091", "5353/udp"]
//! ```
//!
//! A manifest may hold resources, a `[process]` table, both, or neither.
//!
//! `[process] listen` declares the ports the app's process listens on ([`Listen`]), each an
//! integer or a string `[ADDRESS:]PORT[/tcp|/udp]` (TCP when no protocol is given):
//!
//! - a port alone (`8080`, `"8080"`, `"8080/udp"`) declares the port on every address: a
//!   listener on `0.0.0.0` or `::` is what it allows (factor VII: the process binds a port and
//!   serves whoever reaches it);
//! - `"0.0.0.0:8080"`, `"[::]:8080"` or `"*:8080"` say the same thing explicitly;
//! - a loopback address (`"127.0.0.1:8080"`, `"[::1]:8080"`, `"localhost:8080"`) declares the
//!   port on loopback only: a listener there on a wildcard or another address is reported on
//!   its own (`proc-listener-undeclared`, high), since a port meant for this machine is then
//!   open to the network;
//! - any other address (`"10.0.0.5:8080"`) declares the port on that address only.
//!
//! A process listening on a port no entry declares is `proc-listener-undeclared`; without a
//! `[process]` table, every listener is.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// The resources, by name.
    pub resources: BTreeMap<String, ResourceSpec>,
    /// The `[process]` table, if the manifest has one.
    pub process: Option<ProcessSpec>,
}

/// What the manifest's `[process]` table says about the app's process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessSpec {
    /// The ports it may listen on (`listen`), as written.
    pub listen: Vec<Listen>,
}

/// One declared listener of `[process] listen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listen {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Where it may listen.
    pub scope: ListenScope,
    /// The port.
    pub port: u16,
}

/// Where a declared listener may listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenScope {
    /// Every address: a wildcard bind (`0.0.0.0`, `::`) or any single address.
    Any,
    /// Loopback only (`127.0.0.0/8`, `::1`).
    Loopback,
    /// This address only.
    Address(std::net::IpAddr),
}

/// A transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Listen {
    /// Whether a socket of `protocol` listening on `address:port` is what this entry declares.
    /// A wildcard address is allowed by [`ListenScope::Any`] only.
    pub fn allows(&self, protocol: Protocol, address: std::net::IpAddr, port: u16) -> bool {
        self.protocol == protocol
            && self.port == port
            && match self.scope {
                ListenScope::Any => true,
                ListenScope::Loopback => address.is_loopback(),
                ListenScope::Address(a) => a == address,
            }
    }

    /// Parses one entry as the manifest writes it: `8080`, `"127.0.0.1:8080"`,
    /// `"[::1]:8080/udp"`, …
    pub fn parse(text: &str) -> Result<Listen, String> {
        let expected = || {
            format!(
                "`{text}` is not a listener; expected a port (8080), ADDRESS:PORT \
                 (\"127.0.0.1:8080\", \"[::1]:8080\", \"0.0.0.0:8080\"), optionally with /tcp or /udp"
            )
        };
        let (rest, protocol) = match text.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Protocol::Tcp),
            Some((rest, "udp")) => (rest, Protocol::Udp),
            Some(_) => return Err(expected()),
            None => (text, Protocol::Tcp),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, port) = bracketed.split_once("]:").ok_or_else(expected)?;
            (Some(host), port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (Some(host), port),
                None => (None, rest),
            }
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("`{text}`: the port is not a number from 1 to 65535"))?;
        let scope = match host {
            None | Some("*") => ListenScope::Any,
            Some("localhost") => ListenScope::Loopback,
            Some(h) => match h.parse::<std::net::IpAddr>().map_err(|_| expected())? {
                a if a.is_unspecified() => ListenScope::Any,
                a if a.is_loopback() => ListenScope::Loopback,
                a => ListenScope::Address(a),
            },
        };
        Ok(Listen {
            protocol,
            scope,
            port,
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            ListenScope::Any => write!(f, "{}", self.port)?,
            ListenScope::Loopback => write!(f, "loopback:{}", self.port)?,
            ListenScope::Address(std::net::IpAddr::V6(a)) => write!(f, "[{a}]:{}", self.port)?,
            ListenScope::Address(a) => write!(f, "{a}:{}", self.port)?,
        }
        write!(f, "/{}", self.protocol)
    }
}

/// One resource as the manifest declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSpec {
    /// The name the app chose (`db`).
    pub name: String,
    /// The kind, by its manifest name.
    pub kind: String,
    /// The environment variable holding the URL, if the manifest names one.
    pub env: Option<String>,
    /// The needs, in the kind's own words, as written.
    pub needs: Vec<String>,
    /// The rules the connection must meet.
    pub policy: Policy,
    /// The manifest line (1-based) where the resource is declared: its `[resources.<name>]`
    /// header, for reports that point at the manifest (SARIF). `None` when not parsed from a
    /// file.
    pub line: Option<usize>,
}

impl ResourceSpec {
    /// A resource with default policy and no needs (handy in tests and examples).
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        ResourceSpec {
            name: name.into(),
            kind: kind.into(),
            env: None,
            needs: Vec::new(),
            policy: Policy::default(),
            line: None,
        }
    }

    /// The variable the URL is read from: the manifest's `env`, else `<NAME>_URL`.
    pub fn url_var(&self) -> String {
        self.env
            .clone()
            .unwrap_or_else(|| format!("{}_URL", self.env_prefix()))
    }

    /// `<NAME>` in upper case with `-` and `.` turned into `_`, the prefix of the `*_FILE` variables.
    pub fn env_prefix(&self) -> String {
        self.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// The rules a resource's connection must meet. The defaults are the secure ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What privileges beyond the needs do.
    pub excess: ExcessPolicy,
    /// How long connecting (TCP + TLS + authentication) may take.
    pub connect_timeout: Duration,
    /// How long reading the account's privileges may take.
    pub inspect_timeout: Duration,
    /// How long one request of the app may wait on the resource: for a pooled connection (the
    /// pool's wait and recycle), for the server's answer where the driver has a response timeout,
    /// and for a statement where the server has a statement timeout. Dead peers are found by
    /// TCP keepalives and the TCP user timeout within about the same time. The app bounds its
    /// own calls with it too (`Attached::request_timeout`).
    pub request_timeout: Duration,
    /// Whether plaintext to loopback is tolerated.
    pub tls: TlsRequirement,
    /// The most connections the app's pool opens at once, for kinds whose client is a pool.
    pub pool_size: usize,
    /// How many times the app's client retries a failed (re)connection, with backoff, before
    /// a request fails, for kinds whose client reconnects by itself.
    pub reconnect_retries: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            excess: ExcessPolicy::Warn,
            connect_timeout: Duration::from_secs(5),
            inspect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            tls: TlsRequirement::Default,
            pool_size: 16,
            reconnect_retries: 3,
        }
    }
}

/// What privileges beyond the needs do to an attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExcessPolicy {
    /// A `priv-excess` finding only (the default).
    Warn,
    /// A `priv-excess` finding refuses the attach.
    Deny,
}

/// Where TLS is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRequirement {
    /// Every TCP target except loopback addresses and unix sockets (those are reported as info).
    Default,
    /// Every target, loopback included.
    Required,
}

/// A manifest that cannot be used. Names the file, the resource and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest file.
    pub path: PathBuf,
    /// The resource, when the error is inside one.
    pub resource: Option<String>,
    /// The field, e.g. `needs[1]` or `policy.excess`.
    pub field: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(r) = &self.resource {
            write!(f, ": resource `{r}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ManifestError {}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: path.to_owned(),
            resource: None,
            field: None,
            message: format!("cannot read the manifest: {e}"),
        })?;
        Manifest::parse(path, &text)
    }

    /// Parses manifest text; `path` is only used in messages.
    pub fn parse(path: impl AsRef<Path>, text: &str) -> Result<Manifest, ManifestError> {
        let path = path.as_ref().to_owned();
        let err = |resource: Option<&str>, field: Option<&str>, message: String| ManifestError {
            path: path.clone(),
            resource: resource.map(str::to_owned),
            field: field.map(str::to_owned),
            message,
        };
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            // The message only, never the snippet: a stray secret on that line must not print.
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            err(
                None,
                None,
                format!("not valid TOML{at}: {}", e.message().trim()),
            )
        })?;

        let lines = resource_lines(text);
        let mut resources = BTreeMap::new();
        let mut process = None;
        for (key, value) in &table {
            if key == "process" {
                process = Some(
                    parse_process(value).map_err(|(field, msg)| err(None, Some(&field), msg))?,
                );
                continue;
            }
            if key != "resources" {
                return Err(err(
                    None,
                    Some(key),
                    "unknown top-level key; expected `[resources.<name>]` tables and `[process]`"
                        .into(),
                ));
            }
            let Value::Table(res) = value else {
                return Err(err(
                    None,
                    Some("resources"),
                    "expected a table of resources".into(),
                ));
            };
            for (name, spec) in res {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(err(
                        Some(name),
                        None,
                        "a resource name may hold only letters, digits, `_` and `-`".into(),
                    ));
                }
                let Value::Table(spec) = spec else {
                    return Err(err(Some(name), None, "expected a table".into()));
                };
                let mut parsed = parse_resource(name, spec)
                    .map_err(|(field, msg)| err(Some(name), Some(&field), msg))?;
                parsed.line = lines.get(name.as_str()).copied();
                resources.insert(name.clone(), parsed);
            }
        }
        Ok(Manifest {
            path,
            resources,
            process,
        })
    }

    /// The resource called `name`.
    pub fn resource(&self, name: &str) -> Option<&ResourceSpec> {
        self.resources.get(name)
    }
}

/// The line where each resource's name is written under `resources`: the `[resources.db]`
/// header, or the `db = { … }` key of an inline table.
fn resource_lines(text: &str) -> BTreeMap<String, usize> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return BTreeMap::new();
    };
    let Some(toml::de::DeValue::Table(resources)) = doc
        .get_ref()
        .iter()
        .find(|(key, _)| key.get_ref() == "resources")
        .map(|(_, value)| value.get_ref())
    else {
        return BTreeMap::new();
    };
    resources
        .iter()
        .map(|(name, _)| (name.get_ref().to_string(), line_of(name.span().start)))
        .collect()
}

type FieldError = (String, String);

fn parse_resource(name: &str, t: &Table) -> Result<ResourceSpec, FieldError> {
    let mut spec = ResourceSpec::new(name, String::new());
    let mut kind = None;
    for (key, value) in t {
        match key.as_str() {
            "kind" => kind = Some(string(key, value, "the name of a kind")?),
            "env" => {
                let var = string(key, value, "an environment variable name")?;
                if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err((
                        key.clone(),
                        "expected an environment variable name (letters, digits, `_`)".into(),
                    ));
                }
                spec.env = Some(var);
            }
            "needs" => {
                let Value::Array(items) = value else {
                    return Err((key.clone(), "expected an array of strings".into()));
                };
                for (i, item) in items.iter().enumerate() {
                    let Value::String(s) = item else {
                        return Err((format!("needs[{i}]"), "expected a string".into()));
                    };
                    spec.needs.push(s.clone());
                }
            }
            "policy" => {
                let Value::Table(p) = value else {
                    return Err((
                        key.clone(),
                        "expected a table `[resources.<name>.policy]`".into(),
                    ));
                };
                spec.policy = parse_policy(p)?;
            }
            _ => {
                return Err((
                    key.clone(),
                    "unknown key; expected one of kind, env, needs, policy".into(),
                ));
            }
        }
    }
    spec.kind = kind.ok_or_else(|| {
        (
            "kind".to_owned(),
            "missing; expected kind = \"<name>\", one of the kinds this build knows".to_owned(),
        )
    })?;
    Ok(spec)
}

fn parse_process(value: &Value) -> Result<ProcessSpec, FieldError> {
    let Value::Table(t) = value else {
        return Err(("process".into(), "expected a table `[process]`".into()));
    };
    let mut spec = ProcessSpec::default();
    for (key, value) in t {
        let field = format!("process.{key}");
        match key.as_str() {
            "listen" => {
                let Value::Array(items) = value else {
                    return Err((
                        field,
                        "expected an array of ports and addresses, e.g. [8080, \"127.0.0.1:9090\"]"
                            .into(),
                    ));
                };
                for (i, item) in items.iter().enumerate() {
                    let field = format!("process.listen[{i}]");
                    let listen = match item {
                        Value::Integer(n) => u16::try_from(*n)
                            .ok()
                            .filter(|p| *p != 0)
                            .map(|port| Listen {
                                protocol: Protocol::Tcp,
                                scope: ListenScope::Any,
                                port,
                            })
                            .ok_or_else(|| {
                                (field.clone(), "expected a port from 1 to 65535".to_owned())
                            })?,
                        Value::String(s) => Listen::parse(s).map_err(|m| (field.clone(), m))?,
                        _ => {
                            return Err((
                                field,
                                "expected a port (8080) or a string \"ADDRESS:PORT[/udp]\"".into(),
                            ));
                        }
                    };
                    spec.listen.push(listen);
                }
            }
            _ => return Err((field, "unknown key; expected listen".into())),
        }
    }
    Ok(spec)
}

fn parse_policy(t: &Table) -> Result<Policy, FieldError> {
    let mut policy = Policy::default();
    for (key, value) in t {
        let field = format!("policy.{key}");
        match key.as_str() {
            "excess" => {
                policy.excess = match string(&field, value, "\"warn\" or \"deny\"")?.as_str() {
                    "warn" => ExcessPolicy::Warn,
                    "deny" => ExcessPolicy::Deny,
                    _ => return Err((field, "expected \"warn\" or \"deny\"".into())),
                }
            }
            "tls" => {
                policy.tls = match string(&field, value, "\"required\"")?.as_str() {
                    "required" => TlsRequirement::Required,
                    "default" => TlsRequirement::Default,
                    _ => return Err((field, "expected \"required\" or \"default\"".into())),
                }
            }
            "connect_timeout" => policy.connect_timeout = duration(&field, value)?,
            "inspect_timeout" => policy.inspect_timeout = duration(&field, value)?,
            "request_timeout" => policy.request_timeout = duration(&field, value)?,
            "pool_size" => policy.pool_size = count(&field, value, 1..=1000)?,
            "reconnect_retries" => policy.reconnect_retries = count(&field, value, 0..=100)?,
            _ => {
                return Err((
                    field,
                    "unknown key; expected one of excess, tls, connect_timeout, inspect_timeout, \
                     request_timeout, pool_size, reconnect_retries"
                        .into(),
                ));
            }
        }
    }
    Ok(policy)
}

fn string(field: &str, v: &Value, expected: &str) -> Result<String, FieldError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err((field.to_owned(), format!("expected a string: {expected}"))),
    }
}

fn count(
    field: &str,
    v: &Value,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, FieldError> {
    let expected = || {
        (
            field.to_owned(),
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
    };
    match v {
        Value::Integer(n) => usize::try_from(*n)
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(expected),
        _ => Err(expected()),
    }
}

fn duration(field: &str, v: &Value) -> Result<Duration, FieldError> {
    let s = string(field, v, "a duration such as \"5s\"")?;
    match humantime::parse_duration(&s) {
        Ok(d) if !d.is_zero() && d <= Duration::from_secs(600) => Ok(d),
        _ => Err((
            field.to_owned(),
            format!("expected a duration between 1ms and 10m such as \"5s\", got \"{s}\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse("attache.toml", text)
    }

    #[test]
    fn full_example() {
        let m = parse(
            r#"
[resources.db]
kind = "example"
env = "DATABASE_URL"
needs = ["SELECT ON TABLE public.t"]
[resources.db.policy]
excess = "deny"
connect_timeout = "2s"
request_timeout = "750ms"
pool_size = 4
"#,
        )
        .unwrap();
        let db = m.resource("db").unwrap();
        assert_eq!(db.kind, "example");
        assert_eq!(db.url_var(), "DATABASE_URL");
        assert_eq!(db.policy.excess, ExcessPolicy::Deny);
        assert_eq!(db.policy.connect_timeout, Duration::from_secs(2));
        assert_eq!(db.policy.pool_size, 4);
        assert_eq!(db.policy.reconnect_retries, 3);
        assert_eq!(db.policy.request_timeout, Duration::from_millis(750));
    }

    #[test]
    fn each_resource_knows_the_line_that_declares_it() {
        let m = parse(
            "# comment\n\n[resources.db]\nkind = \"example\"\n[resources.db.policy]\nexcess = \"deny\"\n\n[resources.cache]\nkind = \"example\"\n",
        )
        .unwrap();
        assert_eq!(m.resource("db").unwrap().line, Some(3));
        assert_eq!(m.resource("cache").unwrap().line, Some(8));
        let m = parse("[resources]\n\nq = { kind = \"example\" }\n").unwrap();
        assert_eq!(m.resource("q").unwrap().line, Some(3));
    }

    #[test]
    fn default_url_var() {
        let m = parse("[resources.cache-a]\nkind = \"example\"\n").unwrap();
        assert_eq!(m.resource("cache-a").unwrap().url_var(), "CACHE_A_URL");
    }

    #[test]
    fn errors_name_resource_and_field() {
        let e = parse("[resources.db]\nkind = \"example\"\nneeds = [\"x\", 3]\n").unwrap_err();
        assert_eq!(e.resource.as_deref(), Some("db"));
        assert_eq!(e.field.as_deref(), Some("needs[1]"));
        let e = parse("[resources.db]\nkind = \"example\"\npasword = \"x\"\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("pasword"));
        assert!(
            e.to_string()
                .contains("attache.toml: resource `db`, field `pasword`")
        );
        let e = parse("[resources.db]\nneeds = []\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("kind"));
        let e = parse(
            "[resources.db]\nkind = \"example\"\n[resources.db.policy]\nexcess = \"maybe\"\n",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("policy.excess"));
        for bad in ["0", "1001", "\"8\"", "-1"] {
            let e = parse(&format!(
                "[resources.db]\nkind = \"example\"\n[resources.db.policy]\npool_size = {bad}\n"
            ))
            .unwrap_err();
            assert_eq!(e.field.as_deref(), Some("policy.pool_size"), "{bad}");
        }
    }

    #[test]
    fn a_manifest_may_hold_only_a_process() {
        let m = parse(
            "[process]\nlisten = [8080, \"127.0.0.1:9090\", \"[::1]:9091/tcp\", \"5353/udp\", \"0.0.0.0:80\", \"[::]:81\", \"*:82\", \"10.0.0.5:83\", \"localhost:84/udp\"]\n",
        )
        .unwrap();
        assert!(m.resources.is_empty());
        let listen = m.process.unwrap().listen;
        let any = |port, protocol| Listen {
            protocol,
            scope: ListenScope::Any,
            port,
        };
        let lo = |port, protocol| Listen {
            protocol,
            scope: ListenScope::Loopback,
            port,
        };
        assert_eq!(
            listen,
            [
                any(8080, Protocol::Tcp),
                lo(9090, Protocol::Tcp),
                lo(9091, Protocol::Tcp),
                any(5353, Protocol::Udp),
                any(80, Protocol::Tcp),
                any(81, Protocol::Tcp),
                any(82, Protocol::Tcp),
                Listen {
                    protocol: Protocol::Tcp,
                    scope: ListenScope::Address("10.0.0.5".parse().unwrap()),
                    port: 83,
                },
                lo(84, Protocol::Udp),
            ]
        );
        assert_eq!(parse("").unwrap().process, None);
        assert_eq!(
            parse("[process]\n").unwrap().process,
            Some(ProcessSpec::default())
        );
    }

    #[test]
    fn a_loopback_listener_allows_no_wildcard() {
        let lo = Listen::parse("127.0.0.1:9090").unwrap();
        let any = Listen::parse("9090").unwrap();
        let wildcard: std::net::IpAddr = "0.0.0.0".parse().unwrap();
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let v6_loopback: std::net::IpAddr = "::1".parse().unwrap();
        assert!(lo.allows(Protocol::Tcp, loopback, 9090));
        assert!(lo.allows(Protocol::Tcp, v6_loopback, 9090));
        assert!(!lo.allows(Protocol::Tcp, wildcard, 9090));
        assert!(!lo.allows(Protocol::Udp, loopback, 9090));
        assert!(!lo.allows(Protocol::Tcp, loopback, 9091));
        assert!(any.allows(Protocol::Tcp, wildcard, 9090));
        assert!(any.allows(Protocol::Tcp, loopback, 9090));
        let one = Listen::parse("10.0.0.5:9090").unwrap();
        assert!(!one.allows(Protocol::Tcp, wildcard, 9090));
        assert!(one.allows(Protocol::Tcp, "10.0.0.5".parse().unwrap(), 9090));
        assert_eq!(lo.to_string(), "loopback:9090/tcp");
        assert_eq!(any.to_string(), "9090/tcp");
    }

    #[test]
    fn process_errors_name_the_field() {
        for (text, field) in [
            ("[process]\nlisten = [0]\n", "process.listen[0]"),
            ("[process]\nlisten = [8080, 70000]\n", "process.listen[1]"),
            ("[process]\nlisten = [\"web:8080\"]\n", "process.listen[0]"),
            ("[process]\nlisten = [\"8080/sctp\"]\n", "process.listen[0]"),
            (
                "[process]\nlisten = [\"127.0.0.1:\"]\n",
                "process.listen[0]",
            ),
            ("[process]\nlisten = [true]\n", "process.listen[0]"),
            ("[process]\nlisten = 8080\n", "process.listen"),
            ("[process]\nlisen = [8080]\n", "process.lisen"),
            ("process = 3\n", "process"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{text}: {e}");
            assert_eq!(e.resource, None);
            assert!(
                e.to_string()
                    .starts_with(&format!("attache.toml, field `{field}`")),
                "{e}"
            );
        }
        let e = parse("[proces]\nlisten = [8080]\n").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("proces"));
    }

    #[test]
    fn syntax_error_never_echoes_the_line() {
        let e =
            parse("[resources.db]\nkind = \"example\"\npassword = planted-secret\n").unwrap_err();
        assert!(!e.to_string().contains("planted-secret"), "{e}");
        assert!(e.to_string().contains("line 3"), "{e}");
    }
}
