//! Where bindings come from. This is the only module that reads the environment.
//!
//! Order, first match wins, every field remembering its [`Source`]:
//!
//! 1. `$SERVICE_BINDING_ROOT/<resource>/`, a servicebinding.io directory (see [`vars`] and
//!    [`SERVICE_BINDING_FILES`]);
//! 2. the URL variable: the manifest's `env`, else `<NAME>_URL`;
//! 3. `<NAME>_URL_FILE`, a file holding the URL.
//!
//! `<NAME>_PASSWORD_FILE` supplies the password for 2 and 3 (a URL that also carries one is
//! invalid: two passwords, no way to tell which is meant).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::finding::{CheckId, Finding, Severity};
use crate::manifest::ResourceSpec;
use crate::secret::Secret;
use crate::source::{Source, Sourced};
use crate::tls::{ClientIdentity, Roots, TlsSettings};

/// The environment variables attache reads, documented in one place.
pub mod vars {
    /// Root of the servicebinding.io directories; each resource reads `$SERVICE_BINDING_ROOT/<name>/`.
    pub const SERVICE_BINDING_ROOT: &str = "SERVICE_BINDING_ROOT";
    /// Suffix of the default URL variable, `<NAME>_URL` (when the manifest sets no `env`).
    pub const URL_SUFFIX: &str = "_URL";
    /// Suffix of the variable naming a file that holds the URL, `<NAME>_URL_FILE`.
    pub const URL_FILE_SUFFIX: &str = "_URL_FILE";
    /// Suffix of the variable naming a file that holds the password, `<NAME>_PASSWORD_FILE`.
    pub const PASSWORD_FILE_SUFFIX: &str = "_PASSWORD_FILE";
}

/// The files of a service-binding directory attache reads. `password`, `uri` and `tls.key` are
/// secrets; `ca.crt`, `tls.crt` and `tls.key` are used as paths.
pub const SERVICE_BINDING_FILES: &[&str] = &[
    "type", "provider", "host", "port", "username", "password", "database", "uri", "sslmode",
    "ssl", "ca.crt", "tls.crt", "tls.key",
];

/// A snapshot of environment variables, each remembering whether it came from the process or an
/// env file.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, (String, Source)>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: list names only.
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// An env file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct EnvFileError {
    /// The file.
    pub path: String,
    /// What is wrong (never the value of a line).
    pub message: String,
}

impl Environment {
    /// The process environment.
    pub fn from_process() -> Self {
        let mut env = Environment::default();
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                env.vars.insert(k.clone(), (v, Source::Env(k)));
            }
        }
        env
    }

    /// An empty environment plus the given pairs (for tests and embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut env = Environment::default();
        for (k, v) in pairs {
            let k = k.into();
            env.vars.insert(k.clone(), (v.into(), Source::Env(k)));
        }
        env
    }

    /// Adds the `KEY=VALUE` lines of an env file (`#` comments, optional `export `, optional
    /// single or double quotes). Its values win over the process environment.
    pub fn with_env_file(mut self, path: &Path) -> Result<Self, EnvFileError> {
        let err = |message: String| EnvFileError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((k, v)) = line.split_once('=') else {
                return Err(err(format!("line {}: expected KEY=VALUE", i + 1)));
            };
            let k = k.trim();
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(format!(
                    "line {}: expected a variable name before `=`",
                    i + 1
                )));
            }
            let v = v.trim();
            let v = unquote(v).unwrap_or(v);
            self.vars_insert_file(k, v, path);
        }
        Ok(self)
    }

    fn vars_insert_file(&mut self, k: &str, v: &str, path: &Path) {
        self.vars.insert(
            k.to_owned(),
            (
                v.to_owned(),
                Source::EnvFile {
                    var: k.to_owned(),
                    path: path.to_owned(),
                },
            ),
        );
    }

    /// A variable, with where it came from.
    pub fn get(&self, name: &str) -> Option<Sourced<&str>> {
        self.vars
            .get(name)
            .map(|(v, s)| Sourced::new(v.as_str(), s.clone()))
    }

    /// Sets a variable (as if from the process).
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(
            name.to_owned(),
            (value.to_owned(), Source::Env(name.to_owned())),
        );
    }

    /// Removes a variable.
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(name);
    }
}

fn unquote(v: &str) -> Option<&str> {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        Some(&v[1..v.len() - 1])
    } else {
        None
    }
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
    /// `sslmode`, `type`, `provider`).
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
    /// roots are used (also for a CA parameter of `system`, libpq's word). A certificate without
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

/// Reads the binding of `spec` from `env` (and the files it points to).
///
/// A missing or unreadable binding comes back as a finding (`binding-missing`,
/// `binding-invalid`) so an audit can report every resource.
pub fn discover(spec: &ResourceSpec, env: &Environment) -> Result<BindingInput, Finding> {
    let mut input = BindingInput {
        resource: spec.name.clone(),
        ..Default::default()
    };
    let prefix = spec.env_prefix();
    let password_file_var = format!("{prefix}{}", vars::PASSWORD_FILE_SUFFIX);
    let url_file_var = format!("{prefix}{}", vars::URL_FILE_SUFFIX);
    let url_var = spec.url_var();
    let mut looked = Vec::new();

    if let Some(root) = env.get(vars::SERVICE_BINDING_ROOT) {
        let dir = Path::new(root.value).join(&spec.name);
        looked.push(format!("{}", dir.display()));
        if dir.is_dir() {
            read_service_binding(&mut input, &dir)?;
            return Ok(input);
        }
    }

    looked.push(format!("${url_var}"));
    if let Some(url) = env.get(&url_var).filter(|u| !u.value.is_empty()) {
        input.origin = Some(url.source.clone());
        input.url = Some(Sourced::new(Secret::new(url.value.to_owned()), url.source));
    } else {
        looked.push(format!("${url_file_var}"));
        if let Some(file) = env.get(&url_file_var).filter(|u| !u.value.is_empty()) {
            let path = PathBuf::from(file.value);
            let url = read_secret_file(&input, &path, "URL", &file.source)?;
            input.origin = Some(Source::File(path.clone()));
            input.secret_files.push(path.clone());
            input.url = Some(Sourced::new(url, Source::File(path)));
        }
    }

    if let Some(file) = env.get(&password_file_var).filter(|u| !u.value.is_empty()) {
        let path = PathBuf::from(file.value);
        let pw = read_secret_file(&input, &path, "password", &file.source)?;
        input.secret_files.push(path.clone());
        input.password = Some(Sourced::new(pw, Source::File(path)));
    }

    if input.url.is_none() {
        return Err(Finding::new(
            CheckId::BindingMissing,
            Severity::High,
            &spec.name,
            format!("no binding found; looked at {}", looked.join(", ")),
            format!(
                "set ${url_var} (with the password in ${password_file_var}), or mount a \
                 service binding at $SERVICE_BINDING_ROOT/{}/",
                spec.name
            ),
        ));
    }
    Ok(input)
}

fn read_service_binding(input: &mut BindingInput, dir: &Path) -> Result<(), Finding> {
    input.origin = Some(Source::File(dir.to_owned()));
    for name in SERVICE_BINDING_FILES {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let source = Source::File(path.clone());
        match *name {
            "ca.crt" | "tls.crt" => {
                input
                    .files
                    .insert((*name).to_owned(), Sourced::new(path, source));
            }
            "tls.key" => {
                input.secret_files.push(path.clone());
                input
                    .files
                    .insert((*name).to_owned(), Sourced::new(path, source));
            }
            "password" | "uri" => {
                let value = read_secret_file(input, &path, name, &source)?;
                input.secret_files.push(path.clone());
                if *name == "password" {
                    input.password = Some(Sourced::new(value, source));
                } else {
                    input.url = Some(Sourced::new(value, source));
                }
            }
            _ => {
                let value = std::fs::read_to_string(&path).map_err(|e| {
                    input.invalid(name, &source, format!("cannot read: {}", e.kind()))
                })?;
                let value = trim_newline(&value).to_owned();
                input
                    .fields
                    .insert((*name).to_owned(), Sourced::new(value, source));
            }
        }
    }
    Ok(())
}

/// Reads a file holding a secret, dropping one trailing newline (what `echo` adds).
fn read_secret_file(
    input: &BindingInput,
    path: &Path,
    field: &str,
    named_by: &Source,
) -> Result<Secret, Finding> {
    let mut text = std::fs::read_to_string(path).map_err(|e| {
        input.invalid(
            field,
            named_by,
            format!("cannot read {}: {}", path.display(), e.kind()),
        )
    })?;
    let keep = trim_newline(&text).len();
    text.truncate(keep);
    Ok(Secret::new(text))
}

fn trim_newline(s: &str) -> &str {
    s.strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_var_then_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let env = Environment::from_pairs([
            ("DB_URL", "postgres://app@db/app"),
            ("DB_PASSWORD_FILE", pw.to_str().unwrap()),
        ]);
        let input = discover(&ResourceSpec::new("db", "postgres"), &env).unwrap();
        assert_eq!(
            input.url.as_ref().unwrap().source,
            Source::Env("DB_URL".into())
        );
        let p = input.password.unwrap();
        assert_eq!(p.value.expose_secret(), "s3cret");
        assert_eq!(p.source, Source::File(pw));
    }

    #[test]
    fn service_binding_dir_wins() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("db");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("host"), "db.internal\n").unwrap();
        std::fs::write(dir.join("password"), "pw").unwrap();
        std::fs::write(dir.join("ca.crt"), "x").unwrap();
        let env = Environment::from_pairs([
            ("SERVICE_BINDING_ROOT", root.path().to_str().unwrap()),
            ("DB_URL", "postgres://other/x"),
        ]);
        let input = discover(&ResourceSpec::new("db", "postgres"), &env).unwrap();
        assert!(input.url.is_none());
        assert_eq!(input.fields["host"].value, "db.internal");
        assert_eq!(input.fields["host"].source, Source::File(dir.join("host")));
        assert!(input.files.contains_key("ca.crt"));
    }

    #[test]
    fn fingerprint_follows_every_input_including_certificate_contents() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("db");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("host"), "db.internal").unwrap();
        std::fs::write(dir.join("password"), "pw-1").unwrap();
        std::fs::write(dir.join("ca.crt"), "ca-1").unwrap();
        let env =
            Environment::from_pairs([("SERVICE_BINDING_ROOT", root.path().to_str().unwrap())]);
        let spec = ResourceSpec::new("db", "postgres");
        let fp = || discover(&spec, &env).unwrap().fingerprint();
        let first = fp();
        assert_eq!(first, fp(), "stable while nothing changes");
        std::fs::write(dir.join("ca.crt"), "ca-2").unwrap();
        let second = fp();
        assert_ne!(first, second, "a new CA certificate is a change");
        std::fs::write(dir.join("password"), "pw-2").unwrap();
        assert_ne!(second, fp(), "a new password is a change");
        std::fs::write(dir.join("password"), "pw-1").unwrap();
        std::fs::write(dir.join("ca.crt"), "ca-1").unwrap();
        assert_eq!(first, fp(), "the same contents again are the same binding");
    }

    #[test]
    fn type_and_password_rules_every_kind_shares() {
        let file = |p: &str| Source::File(PathBuf::from(p));
        let mut input = BindingInput {
            resource: "db".into(),
            ..Default::default()
        };
        input.fields.insert(
            "type".into(),
            Sourced::new("MySQL".to_owned(), file("/b/db/type")),
        );
        assert!(input.expect_type(&["mysql", "mariadb"]).is_ok());
        let f = input.expect_type(&["redis"]).unwrap_err();
        assert!(
            f.message.contains("/b/db/type") && f.message.contains("`redis`"),
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
            name: "sslrootcert".into(),
            within: Box::new(Source::Env("DB_URL".into())),
        };
        let mut input = BindingInput {
            resource: "db".into(),
            ..Default::default()
        };
        let mut secret = Vec::new();
        let none = || ("sslcert", None);
        let tls = input
            .tls_settings(at("system", url()), none(), ("sslkey", None), &mut secret)
            .unwrap();
        assert_eq!(tls.roots, Roots::System, "libpq's `system`");
        input.files.insert(
            "ca.crt".into(),
            Sourced::new(
                PathBuf::from("/b/db/ca.crt"),
                Source::File("/b/db/ca.crt".into()),
            ),
        );
        let tls = input
            .tls_settings(
                at("/url/ca.pem", url()),
                none(),
                ("sslkey", None),
                &mut secret,
            )
            .unwrap();
        assert!(matches!(tls.roots, Roots::PemFile(p) if p.value == Path::new("/b/db/ca.crt")));

        let key = ("sslkey", at("/k.pem", url()));
        let tls = input
            .tls_settings(None, ("sslcert", at("/c.pem", url())), key, &mut secret)
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
                ("sslcert", at("/c.pem", url())),
                ("sslkey", None),
                &mut secret,
            )
            .unwrap_err();
        assert!(f.message.starts_with("sslkey"), "{}", f.message);
    }

    #[test]
    fn missing_names_what_was_looked_at() {
        let f = discover(
            &ResourceSpec::new("db", "postgres"),
            &Environment::default(),
        )
        .unwrap_err();
        assert_eq!(f.check, CheckId::BindingMissing);
        assert!(f.message.contains("$DB_URL"), "{}", f.message);
        assert!(f.message.contains("$DB_URL_FILE"), "{}", f.message);
    }

    #[test]
    fn unreadable_password_file_is_invalid_and_named() {
        let env = Environment::from_pairs([
            ("DB_URL", "postgres://app@db/app"),
            ("DB_PASSWORD_FILE", "/nonexistent/pw"),
        ]);
        let f = discover(&ResourceSpec::new("db", "postgres"), &env).unwrap_err();
        assert_eq!(f.check, CheckId::BindingInvalid);
        assert!(f.message.contains("env DB_PASSWORD_FILE"), "{}", f.message);
    }

    #[test]
    fn env_file_values_win_and_are_sourced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "# comment\nexport DB_URL='postgres://a@b/c'\n").unwrap();
        let env = Environment::from_pairs([("DB_URL", "postgres://x@y/z")])
            .with_env_file(&path)
            .unwrap();
        let v = env.get("DB_URL").unwrap();
        assert_eq!(v.value, "postgres://a@b/c");
        assert!(v.source.to_string().contains(".env"));
        std::fs::write(&path, "DB_URL\n").unwrap();
        assert!(Environment::default().with_env_file(&path).is_err());
    }
}
