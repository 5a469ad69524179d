//! A binding as the environment gave it ([`BindingInput`]), what every kind's parsed binding
//! tells core ([`Binding`]), and the readers every URL kind shares: the URL's generic syntax
//! percent-decoded into named parameters ([`UrlShape`], [`Params`]), the service-binding fields
//! every kind reads the same way, the service binding's `type`, the password given twice, the
//! TLS material, and typed host and port.
//!
//! A kind's `binding.rs` holds only what is its own: its parameters' meaning (a TLS mode, a
//! database number), its keyword syntax if it has one, and its target's spelling. Nothing
//! here ever echoes a value from a URL: a password that was not percent-encoded can end up in
//! any part of it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use crate::finding::{CheckId, Finding, Severity};
use crate::secret::Secret;
use crate::source::{Source, Sourced};
use crate::tls::{ClientIdentity, Roots, TlsSettings};
use crate::transport::{TlsAsk, TlsMode, Transport};
use crate::url::Host;

/// What every kind's binding can tell core. Its `Debug` never shows a secret.
///
/// A kind's binding keeps what every binding holds in one [`Common`], so the only things it
/// writes are how it is read ([`parse`](Binding::parse)), where it points and as whom.
pub trait Binding: std::fmt::Debug + Send + Sync + 'static {
    /// Reads the binding the environment gave, saying what it asks of the transport. The error
    /// is the one finding that makes it unusable (`binding-invalid`, naming the field and its
    /// source, never a value that could be a secret).
    fn parse(input: BindingInput) -> Result<Self, Finding>
    where
        Self: Sized;
    /// What every binding holds: the transport, the password, where it came from, its secret
    /// files.
    fn common(&self) -> &Common;
    /// Where it points, with no secret in it (`app@db.internal:5432/app`).
    fn target(&self) -> String;
    /// The account's name, if the binding has one.
    fn user(&self) -> Option<&str>;
    /// The server's TCP port (meaningless when the host is a unix socket): with the host, where
    /// the app's connections to the resource go, which `attache audit --process` compares with
    /// the process's connections.
    fn port(&self) -> u16;

    /// Where the binding as a whole came from.
    fn origin(&self) -> Option<&Source> {
        self.common().origin.as_ref()
    }
    /// The password, if the binding has one.
    fn password(&self) -> Option<&Sourced<Secret>> {
        self.common().password.as_ref()
    }
    /// Files holding secrets (password files, private keys), for the permission check.
    fn secret_files(&self) -> Vec<PathBuf> {
        self.common().secret_files.clone()
    }
    /// Where the server is and what the binding asks of the connection's security; core judges
    /// it and decides how to connect.
    fn transport(&self) -> &Transport {
        &self.common().transport
    }
}

/// What every binding holds, whatever its kind. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct Common {
    /// The host, what the binding asks of TLS and the TLS material, for core's judgement.
    pub transport: Transport,
    /// The password, if any.
    pub password: Option<Sourced<Secret>>,
    /// Where the binding came from.
    pub origin: Option<Source>,
    /// Files holding secrets (the input's, and the client key the binding names).
    pub secret_files: Vec<PathBuf>,
}

/// What the environment says about one resource, before the kind reads it.
#[derive(Debug, Clone, Default)]
pub struct BindingInput {
    /// The resource's name.
    pub resource: String,
    /// Where the binding as a whole came from (a directory, a variable, a file).
    pub origin: Option<Source>,
    /// A URL (may carry a password, so held as a secret).
    pub url: Option<Sourced<Secret>>,
    /// Plain fields of a service-binding directory (`host`, `port`, `username`, `database`,
    /// `type`, `provider`, and the files the kind adds).
    pub fields: BTreeMap<String, Sourced<String>>,
    /// The password, from a service-binding `password` file or `<NAME>_PASSWORD_FILE`.
    pub password: Option<Sourced<Secret>>,
    /// Files used by path (`ca.crt`, `tls.crt`, `tls.key` of a service-binding directory).
    pub files: BTreeMap<String, Sourced<PathBuf>>,
    /// Files that hold secrets, for the permission check.
    pub secret_files: Vec<PathBuf>,
}

impl BindingInput {
    /// Refuses a service binding whose `type` is none of `accepted` (compared without case).
    pub fn expect_type(&self, accepted: &[&str]) -> Result<(), Finding> {
        match self.fields.get("type") {
            Some(t) if !accepted.iter().any(|a| t.value.eq_ignore_ascii_case(a)) => Err(self
                .invalid(
                    "type",
                    &t.source,
                    format!(
                        "the service binding is not of type {}",
                        accepted
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                )),
            _ => Ok(()),
        }
    }

    /// The password to use, given the one the URL carries: a password file or a service
    /// binding's `password` wins, but a URL with another password and nothing else beside it
    /// is two passwords with no way to tell which is meant, and refused.
    pub fn password_over(
        &self,
        from_url: Option<&Sourced<Secret>>,
    ) -> Result<Option<Sourced<Secret>>, Finding> {
        match (&self.password, from_url) {
            (Some(pw), Some(url))
                if url.value != pw.value && self.fields.is_empty() && self.files.is_empty() =>
            {
                Err(self.invalid(
                    "password",
                    &pw.source,
                    format!(
                        "a different password is also given in {}; keep one",
                        url.source
                    ),
                ))
            }
            (Some(pw), _) => Ok(Some(pw.clone())),
            (None, url) => Ok(url.cloned()),
        }
    }

    /// The binding's TLS material. A service binding's `ca.crt`, `tls.crt` and `tls.key` win
    /// over the URL's parameters, as every service-binding field does; without a CA the system
    /// roots are used (also for a CA parameter of `system`). A certificate without
    /// its key, or a key without its certificate, is `binding-invalid` naming the missing
    /// parameter. The key file joins `secret_files`, for the permission check.
    ///
    /// Each URL parameter comes as (its name in the kind's URL, its value).
    pub fn tls_settings(
        &self,
        ca: Option<Sourced<PathBuf>>,
        cert: (&str, Option<Sourced<PathBuf>>),
        key: (&str, Option<Sourced<PathBuf>>),
        secret_files: &mut Vec<PathBuf>,
    ) -> Result<TlsSettings, Finding> {
        let file = |name: &str| self.files.get(name).cloned();
        let roots = match file("ca.crt").or(ca) {
            Some(p) if p.value.as_os_str() == "system" => Roots::System,
            Some(p) => Roots::PemFile(p),
            None => Roots::System,
        };
        let identity = match (file("tls.crt").or(cert.1), file("tls.key").or(key.1)) {
            (Some(cert), Some(key)) => {
                if !secret_files.contains(&key.value) {
                    secret_files.push(key.value.clone());
                }
                Some(ClientIdentity { cert, key })
            }
            (None, None) => None,
            (Some(c), None) => {
                return Err(self.invalid(
                    key.0,
                    &c.source,
                    format!(
                        "a client certificate is given without its key ({} or tls.key)",
                        key.0
                    ),
                ));
            }
            (None, Some(k)) => {
                return Err(self.invalid(
                    cert.0,
                    &k.source,
                    format!(
                        "a client key is given without its certificate ({} or tls.crt)",
                        cert.0
                    ),
                ));
            }
        };
        Ok(TlsSettings { roots, identity })
    }

    /// A digest of everything the binding says, including the contents of the files it names
    /// (certificates, keys), to tell whether it changed. Never printed; not reversible.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut put = |tag: &str, bytes: &[u8]| {
            h.update(tag.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        if let Some(url) = &self.url {
            put("url", url.value.expose_secret().as_bytes());
        }
        if let Some(pw) = &self.password {
            put("password", pw.value.expose_secret().as_bytes());
        }
        for (name, field) in &self.fields {
            put(name, field.value.as_bytes());
        }
        for (name, file) in &self.files {
            put(name, file.value.as_os_str().as_encoded_bytes());
            put("contents", &std::fs::read(&file.value).unwrap_or_default());
        }
        h.finalize().into()
    }

    /// A `binding-invalid` finding for `field` from `source`.
    pub fn invalid(&self, field: &str, source: &Source, message: impl fmt::Display) -> Finding {
        binding_invalid(&self.resource, field, source, message)
    }
}

/// A `binding-invalid` finding naming resource, field and source.
pub fn binding_invalid(
    resource: &str,
    field: &str,
    source: &Source,
    message: impl fmt::Display,
) -> Finding {
    Finding::new(
        CheckId::BindingInvalid,
        Severity::High,
        resource,
        format!("{field} (from {source}): {message}"),
        format!("fix {field} at {source}; `attache explain binding-invalid` lists what is read"),
    )
}

/// How a kind's connection URL looks, for [`BindingInput::read`].
#[derive(Debug, Clone, Copy)]
pub struct UrlShape {
    /// Its schemes (`amqps`, `amqp`), compared without case.
    pub schemes: &'static [&'static str],
    /// What a valid URL looks like, for the error that says the URL is not one.
    pub example: &'static str,
    /// The name of the URL's path (`dbname`, `vhost`): it becomes the parameter of that name,
    /// as does a service binding's `database`.
    pub path: &'static str,
    /// The query parameters the kind reads, by their canonical names.
    pub params: &'static [&'static str],
    /// Turns a parameter's name as written into its canonical name (`ssl_mode` → `ssl-mode`);
    /// `None` keeps names as written.
    pub canonical: Option<fn(&str) -> String>,
    /// Whether the URL may carry a fragment; it becomes the parameter `#`.
    pub fragment: bool,
    /// Service-binding files that set a parameter, beyond the shared `host`, `port`,
    /// `username` and `database`: (file, parameter).
    pub fields: &'static [(&'static str, &'static str)],
}

/// A binding's settings by name, each with its source, the password kept apart as a secret.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// The URL's scheme in lower case, if the binding has a URL.
    pub scheme: Option<Sourced<String>>,
    plain: BTreeMap<String, Sourced<String>>,
    password: Option<Sourced<Secret>>,
}

impl Params {
    /// A setting as the binding wrote it (possibly empty).
    pub fn get(&self, name: &str) -> Option<&Sourced<String>> {
        self.plain.get(name)
    }

    /// A setting, if the binding gives it a value.
    pub fn value(&self, name: &str) -> Option<&Sourced<String>> {
        self.get(name).filter(|v| !v.value.is_empty())
    }

    /// Sets a setting (the last one given wins).
    pub fn set(&mut self, name: &str, value: Sourced<String>) {
        self.plain.insert(name.to_owned(), value);
    }

    /// The password.
    pub fn password(&self) -> Option<&Sourced<Secret>> {
        self.password.as_ref()
    }

    /// Sets the password; an empty one is no password.
    pub fn set_password(&mut self, password: Sourced<Secret>) {
        self.password = (!password.value.is_empty()).then_some(password);
    }

    /// Takes the password out (for the parsed binding).
    pub fn take_password(&mut self) -> Option<Sourced<Secret>> {
        self.password.take()
    }

    /// A setting naming a file, if it has a value.
    pub fn file(&self, name: &str) -> Option<Sourced<PathBuf>> {
        self.value(name).map(|v| v.clone().map(PathBuf::from))
    }

    /// A setting the binding must have: `binding-invalid` naming it when it is missing or
    /// empty.
    pub fn required(&self, input: &BindingInput, name: &str) -> Result<Sourced<String>, Finding> {
        self.value(name).cloned().ok_or_else(|| {
            let at = input.origin.clone().unwrap_or(Source::Default);
            input.invalid(name, &at, format!("the binding names no {name}"))
        })
    }

    /// The server: a path is a unix socket, anything else a DNS name or IP address. Several
    /// hosts, and anything that cannot be a host name, are `binding-invalid`.
    pub fn host(&self, input: &BindingInput) -> Result<Sourced<Host>, Finding> {
        let h = self.required(input, "host")?;
        if h.value.starts_with('/') {
            return Ok(h.map(|v| Host::Socket(PathBuf::from(v))));
        }
        if h.value.contains(',') {
            return Err(input.invalid(
                "host",
                &h.source,
                "several hosts are not supported; bind one host",
            ));
        }
        if h.value
            .contains(|c: char| c.is_whitespace() || c.is_control() || c == '@' || c == '/')
        {
            return Err(input.invalid("host", &h.source, "not a host name or IP address"));
        }
        Ok(h.map(Host::Tcp))
    }

    /// [`host`](Self::host) for a kind that has no unix sockets: a socket path is
    /// `binding-invalid`, with `instead` saying what to bind.
    pub fn tcp_host(&self, input: &BindingInput, instead: &str) -> Result<Sourced<Host>, Finding> {
        let host = self.host(input)?;
        if let Host::Socket(_) = host.value {
            return Err(input.invalid(
                "host",
                &host.source,
                format!("unix sockets are not supported; {instead}"),
            ));
        }
        Ok(host)
    }

    /// The port, or `default` (from attache's default) when the binding names none.
    pub fn port(&self, input: &BindingInput, default: u16) -> Result<Sourced<u16>, Finding> {
        match self.value("port") {
            Some(p) => match p.value.trim().parse::<u16>() {
                Ok(n) if n > 0 => Ok(Sourced::new(n, p.source.clone())),
                _ => Err(input.invalid("port", &p.source, "not a port number (1-65535)")),
            },
            None => Ok(Sourced::new(default, Source::Default)),
        }
    }

    /// The binding's TLS material from the parameters named `ca`, `cert` and `key` (see
    /// [`BindingInput::tls_settings`]); the key file joins `secret_files`.
    pub fn tls(
        &self,
        input: &BindingInput,
        [ca, cert, key]: [&str; 3],
        secret_files: &mut Vec<PathBuf>,
    ) -> Result<TlsSettings, Finding> {
        input.tls_settings(
            self.file(ca),
            (cert, self.file(cert)),
            (key, self.file(key)),
            secret_files,
        )
    }

    /// What every binding holds, read at the end of a kind's parse: the TLS material from the
    /// kind's three file parameters (`[ca, cert, key]`, else the service binding's `ca.crt`,
    /// `tls.crt`, `tls.key`), the transport to `host` with `asks`, the password, the origin and
    /// the secret files.
    pub fn common(
        &mut self,
        input: &BindingInput,
        host: Sourced<Host>,
        asks: Vec<TlsAsk>,
        files: [&str; 3],
    ) -> Result<Common, Finding> {
        let mut secret_files = input.secret_files.clone();
        let tls = self.tls(input, files, &mut secret_files)?;
        Ok(Common {
            transport: Transport::new(host, asks, tls),
            password: self.take_password(),
            origin: input.origin.clone(),
            secret_files,
        })
    }

    /// The value of the kind's TLS-mode parameter (`modes.key`) and the ask it makes of TLS;
    /// without one, the value that asks for verify-full, from [`Source::Default`]. A value
    /// not in `modes` is `binding-invalid`, listing the values.
    pub fn tls_mode(
        &self,
        input: &BindingInput,
        modes: &TlsModes,
    ) -> Result<(Sourced<&'static str>, TlsAsk), Finding> {
        let fold = |s: &str| -> String {
            if modes.loose {
                s.to_ascii_lowercase().replace('-', "_")
            } else {
                s.to_owned()
            }
        };
        let (value, source) = match self.get(modes.key) {
            Some(given) => {
                let wanted = fold(&given.value);
                let Some(&(value, _)) = modes.values.iter().find(|(v, _)| fold(v) == wanted) else {
                    let listed: Vec<&str> = modes.values.iter().map(|(v, _)| *v).collect();
                    return Err(input.invalid(
                        modes.key,
                        &given.source,
                        format!("expected one of {}", listed.join(", ")),
                    ));
                };
                (value, given.source.clone())
            }
            None => {
                let &(value, _) = modes
                    .values
                    .iter()
                    .find(|(_, m)| *m == TlsMode::VerifyFull)
                    .expect("a kind's TLS modes include verify-full");
                (value, Source::Default)
            }
        };
        let mode = modes
            .values
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, m)| *m)
            .expect("found above");
        let ask = TlsAsk::new(mode, format!("{}={value}", modes.key), source.clone());
        Ok((Sourced::new(value, source), ask))
    }
}

/// A kind's TLS-mode parameter as data: its name, its values (in the order an error lists
/// them) and what each asks of TLS. [`tls_modes!`](crate::tls_modes) writes one:
/// `tls_modes!("tls", exact; "off" => Plaintext, "verify" => VerifyFull)`
/// (`loose` instead of `exact`: values match regardless of case and of `-` versus `_`).
#[derive(Debug, Clone, Copy)]
pub struct TlsModes {
    /// The parameter's canonical name.
    pub key: &'static str,
    /// Each value and what it asks for; exactly one asks for verify-full (the default).
    pub values: &'static [(&'static str, TlsMode)],
    /// Whether values match regardless of case and of `-` versus `_`.
    pub loose: bool,
}

impl BindingInput {
    /// Refuses a binding that asks for plaintext (`plaintext`, from `source`, e.g. the scheme)
    /// yet sets TLS material or settings: any of `params`' `tls_params` or a service binding's
    /// `ca.crt`, `tls.crt`, `tls.key`. A contradiction is never resolved either way; `fix` says
    /// which URL to write instead.
    pub fn refuse_tls_in_plaintext(
        &self,
        params: &Params,
        plaintext: &Sourced<bool>,
        tls_params: &[&str],
        fix: &str,
    ) -> Result<(), Finding> {
        if !plaintext.value {
            return Ok(());
        }
        let set: Vec<&str> = tls_params
            .iter()
            .copied()
            .filter(|p| params.get(p).is_some())
            .chain(
                ["ca.crt", "tls.crt", "tls.key"]
                    .into_iter()
                    .filter(|f| self.files.contains_key(*f)),
            )
            .collect();
        if set.is_empty() {
            return Ok(());
        }
        Err(self.invalid(
            "URL",
            &plaintext.source,
            format!(
                "the binding asks for plaintext yet sets {}; {fix}",
                set.join(", ")
            ),
        ))
    }

    /// The URL as given (trimmed), with its source, for a kind that reads more than one syntax.
    pub fn url_text(&self) -> Option<(&str, &Source)> {
        self.url
            .as_ref()
            .map(|u| (u.value.expose_secret().trim(), &u.source))
    }

    /// Reads the binding every URL kind reads the same way: the URL (if any) split and
    /// percent-decoded, then the service-binding fields over it, the service binding's `type`
    /// checked against `types`, and the password from a file or a service binding.
    pub fn read(&self, shape: &UrlShape, types: &[&str]) -> Result<Params, Finding> {
        let mut params = Params::default();
        self.read_url(shape, &mut params)?;
        self.read_fields(shape, types, &mut params)?;
        Ok(params)
    }

    /// The URL part of [`read`](Self::read): the scheme must be one of the shape's; user,
    /// password, host, port, path and query parameters become parameters named as the shape
    /// says, each sourced `<name> in <where the URL came from>`. A query parameter the kind
    /// does not read is `binding-invalid` and is not named (an unencoded `?` in a password
    /// starts a query).
    pub fn read_url(&self, shape: &UrlShape, params: &mut Params) -> Result<(), Finding> {
        let Some((text, source)) = self.url_text() else {
            return Ok(());
        };
        let not_a_url = || self.invalid("URL", source, format!("expected {}", shape.example));
        let (scheme, rest) = text.split_once("://").ok_or_else(not_a_url)?;
        let scheme = scheme.to_ascii_lowercase();
        if !shape.schemes.contains(&scheme.as_str()) {
            return Err(not_a_url());
        }
        params.scheme = Some(Sourced::new(scheme, source.param("scheme")));
        let (rest, fragment) = match rest.split_once('#').filter(|_| shape.fragment) {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        if let Some(f) = fragment.filter(|f| !f.is_empty()) {
            params.set("#", Sourced::new(f.to_owned(), source.param("fragment")));
        }
        let url =
            crate::url::split(rest).map_err(|m| self.invalid("host", &source.param("host"), m))?;
        let decode = |field: &str, s: &str| self.decode(source, field, s);
        if let Some(user) = url.user.filter(|u| !u.is_empty()) {
            params.set(
                "user",
                Sourced::new(decode("user", user)?, source.param("user")),
            );
        }
        if let Some(p) = url.password {
            let p = decode("password", p)?;
            params.set_password(Sourced::new(Secret::new(p), source.param("password")));
        }
        if !url.host.is_empty() {
            params.set(
                "host",
                Sourced::new(decode("host", url.host)?, source.param("host")),
            );
        }
        if let Some(p) = url.port.filter(|p| !p.is_empty()) {
            params.set("port", Sourced::new(p.to_owned(), source.param("port")));
        }
        if !url.path.is_empty() {
            let path = decode(shape.path, url.path)?;
            params.set(shape.path, Sourced::new(path, source.param(shape.path)));
        }
        for pair in url.query.split('&').filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(self.invalid("URL", source, "a query parameter has no `=`"));
            };
            let written = decode("URL", k)?;
            let name = match shape.canonical {
                Some(canonical) => canonical(&written),
                None => written.clone(),
            };
            if !shape.params.contains(&name.as_str()) {
                return Err(self.invalid(
                    "URL",
                    source,
                    format!(
                        "a query parameter attache does not read; it reads {}",
                        shape.params.join(", ")
                    ),
                ));
            }
            let value = decode(&name, v)?;
            let at = source.param(&written);
            if name == "password" {
                params.set_password(Sourced::new(Secret::new(value), at));
            } else {
                params.set(&name, Sourced::new(value, at));
            }
        }
        Ok(())
    }

    /// The service-binding part of [`read`](Self::read): `host`, `port`, `username`,
    /// `database` and the shape's own fields override what a `uri` said; the binding's `type`
    /// must be one of `types`; the password from a file wins over the URL's (see
    /// [`password_over`](Self::password_over)).
    pub fn read_fields(
        &self,
        shape: &UrlShape,
        types: &[&str],
        params: &mut Params,
    ) -> Result<(), Finding> {
        let shared = [
            ("host", "host"),
            ("port", "port"),
            ("username", "user"),
            ("database", shape.path),
        ];
        for (file, name) in shared.iter().chain(shape.fields) {
            if let Some(v) = self.fields.get(*file) {
                params.set(name, v.clone());
            }
        }
        self.expect_type(types)?;
        params.password = self.password_over(params.password.as_ref())?;
        Ok(())
    }

    /// Percent-decodes `s`, a piece of the URL from `source` read as `field`.
    pub fn decode(&self, source: &Source, field: &str, s: &str) -> Result<String, Finding> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| self.invalid(field, source, "percent-encoding does not decode to UTF-8"))
    }
}

/// A [`TlsModes`]: `tls_modes!(KEY, exact|loose; VALUE => TlsMode variant, …)`.
#[macro_export]
macro_rules! tls_modes {
    ($key:literal, exact; $($value:literal => $mode:ident),+ $(,)?) => {
        $crate::tls_modes!(@ $key, false; $($value => $mode),+)
    };
    ($key:literal, loose; $($value:literal => $mode:ident),+ $(,)?) => {
        $crate::tls_modes!(@ $key, true; $($value => $mode),+)
    };
    (@ $key:literal, $loose:expr; $($value:literal => $mode:ident),+) => {
        $crate::TlsModes {
            key: $key,
            values: &[$(($value, $crate::TlsMode::$mode)),+],
            loose: $loose,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn type_and_password_rules_every_kind_shares() {
        let file = |p: &str| Source::File(PathBuf::from(p));
        let mut input = BindingInput {
            resource: "db".into(),
            ..Default::default()
        };
        input.fields.insert(
            "type".into(),
            Sourced::new("Example".to_owned(), file("/b/db/type")),
        );
        assert!(input.expect_type(&["example", "sample"]).is_ok());
        let f = input.expect_type(&["other"]).unwrap_err();
        assert!(
            f.message.contains("/b/db/type") && f.message.contains("`other`"),
            "{}",
            f.message
        );

        let url_pw = Sourced::new(Secret::new("from-url".into()), Source::Env("DB_URL".into()));
        input.fields.clear();
        assert!(
            input.password_over(Some(&url_pw)).unwrap().is_some(),
            "the URL's alone"
        );
        input.password = Some(Sourced::new(Secret::new("from-file".into()), file("/s/pw")));
        let f = input.password_over(Some(&url_pw)).unwrap_err();
        assert!(
            f.message.contains("keep one") && !f.message.contains("from-"),
            "{}",
            f.message
        );
        let same = Sourced::new(
            Secret::new("from-file".into()),
            Source::Env("DB_URL".into()),
        );
        let chosen = input.password_over(Some(&same)).unwrap().unwrap();
        assert_eq!(chosen.source, file("/s/pw"));
    }

    #[test]
    fn tls_material_from_the_service_binding_wins_over_the_url() {
        let at = |p: &str, src: Source| Some(Sourced::new(PathBuf::from(p), src));
        let url = || Source::Param {
            name: "ca".into(),
            within: Box::new(Source::Env("DB_URL".into())),
        };
        let mut input = BindingInput {
            resource: "db".into(),
            ..Default::default()
        };
        let mut secret = Vec::new();
        let none = || ("cert", None);
        let tls = input
            .tls_settings(at("system", url()), none(), ("key", None), &mut secret)
            .unwrap();
        assert_eq!(tls.roots, Roots::System, "the word `system`");
        input.files.insert(
            "ca.crt".into(),
            Sourced::new(
                PathBuf::from("/b/db/ca.crt"),
                Source::File("/b/db/ca.crt".into()),
            ),
        );
        let tls = input
            .tls_settings(at("/url/ca.pem", url()), none(), ("key", None), &mut secret)
            .unwrap();
        assert!(matches!(tls.roots, Roots::PemFile(p) if p.value == Path::new("/b/db/ca.crt")));

        let key = ("key", at("/k.pem", url()));
        let tls = input
            .tls_settings(None, ("cert", at("/c.pem", url())), key, &mut secret)
            .unwrap();
        assert!(tls.identity.is_some());
        assert_eq!(
            secret,
            [PathBuf::from("/k.pem")],
            "the key is a secret file"
        );
        let f = input
            .tls_settings(
                None,
                ("cert", at("/c.pem", url())),
                ("key", None),
                &mut secret,
            )
            .unwrap_err();
        assert!(f.message.starts_with("key"), "{}", f.message);
    }

    const SHAPE: UrlShape = UrlShape {
        schemes: &["example", "examples"],
        example: "examples://user@host:port/db",
        path: "db",
        params: &["ca", "mode", "password"],
        canonical: Some(|k: &str| k.to_ascii_lowercase().replace('_', "-")),
        fragment: true,
        fields: &[("mode", "mode")],
    };

    fn input(url: &str) -> BindingInput {
        let src = Source::Env("DB_URL".into());
        BindingInput {
            resource: "db".into(),
            origin: Some(src.clone()),
            url: Some(Sourced::new(Secret::new(url.into()), src)),
            ..Default::default()
        }
    }

    #[test]
    fn a_url_reads_into_named_sourced_parameters() {
        let p = input("EXAMPLES://app:p%40ss@[::1]:7000/d%2F1?CA=%2Fca.pem&mode=x#frag")
            .read(&SHAPE, &["example"])
            .unwrap();
        assert_eq!(p.scheme.as_ref().unwrap().value, "examples");
        assert_eq!(p.get("user").unwrap().value, "app");
        assert_eq!(
            p.get("user").unwrap().source.to_string(),
            "user in env DB_URL"
        );
        assert_eq!(p.password().unwrap().value.expose_secret(), "p@ss");
        assert_eq!(p.get("db").unwrap().value, "d/1");
        assert_eq!(p.get("ca").unwrap().source.to_string(), "CA in env DB_URL");
        assert_eq!(p.get("#").unwrap().value, "frag");
        let i = input("example://a@h");
        assert_eq!(p.host(&i).unwrap().value, Host::Tcp("::1".into()));
        assert_eq!(p.port(&i, 1).unwrap().value, 7000);
        let p = i.read(&SHAPE, &[]).unwrap();
        assert_eq!(p.port(&i, 1).unwrap().source, Source::Default);
        assert!(p.password().is_none());
    }

    #[test]
    fn service_binding_fields_win_over_the_uri() {
        let mut i = input("example://app@url-host/urldb?mode=a");
        let file = |n: &str| Source::File(PathBuf::from(format!("/b/db/{n}")));
        for (name, value) in [("host", "sb-host"), ("database", "sbdb"), ("mode", "b")] {
            i.fields
                .insert(name.into(), Sourced::new(value.to_owned(), file(name)));
        }
        let p = i.read(&SHAPE, &[]).unwrap();
        assert_eq!(p.get("host").unwrap().value, "sb-host");
        assert_eq!(p.get("db").unwrap().value, "sbdb");
        assert_eq!(p.get("mode").unwrap().source, file("mode"));
        assert_eq!(p.get("user").unwrap().value, "app");
    }

    #[test]
    fn bad_urls_are_invalid_and_never_echo_a_value() {
        for (url, field) in [
            ("other://u:planted-1@h/d", "URL"),
            ("no-scheme-planted-1", "URL"),
            ("example://u:planted-1@h/d?planted-2=x", "URL"),
            ("example://u:pl?anted-1=x@h/d", "URL"),
            ("example://u:planted-1@h/d?ca", "URL"),
            ("example://u:planted-1@[::1/d", "host"),
            ("example://%FFplanted@h/d", "user"),
            ("example://u:planted-1@h/d?mode=%FF", "mode"),
        ] {
            let f = input(url).read(&SHAPE, &[]).unwrap_err();
            assert_eq!(f.check, CheckId::BindingInvalid, "{url}");
            assert!(f.message.starts_with(field), "{url}: {}", f.message);
            assert!(
                !f.message.contains("planted") && !f.remedy.contains("planted"),
                "{url}: {f:?}"
            );
        }
    }

    #[test]
    fn hosts_and_ports_are_checked() {
        let i = input("example://h");
        let with = |h: &str| {
            let mut p = Params::default();
            p.set("host", Sourced::new(h.to_owned(), Source::Default));
            p
        };
        assert_eq!(
            with("/run/db").host(&i).unwrap().value,
            Host::Socket("/run/db".into())
        );
        for bad in ["a,b", "a b", "u@h", "h/x", ""] {
            assert!(with(bad).host(&i).is_err(), "{bad}");
        }
        let mut p = Params::default();
        for bad in ["0", "65536", "x", "-1"] {
            p.set("port", Sourced::new(bad.to_owned(), Source::Default));
            assert!(p.port(&i, 1).is_err(), "{bad}");
        }
    }
}
