//! Where bindings come from. This is the only module that reads the environment.
//!
//! Order, first match wins, every field remembering its [`Source`]:
//!
//! 1. `$SERVICE_BINDING_ROOT/<resource>/`, a servicebinding.io directory (see [`vars`],
//!    [`SERVICE_BINDING_FILES`], and the files each kind adds to them);
//! 2. the URL variable: the manifest's `env`, else `<NAME>_URL`;
//! 3. `<NAME>_URL_FILE`, a file holding the URL.
//!
//! `<NAME>_PASSWORD_FILE` supplies the password for 2 and 3 (a URL that also carries one is
//! invalid: two passwords, no way to tell which is meant).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::binding::BindingInput;
use crate::finding::{CheckId, Finding, Severity};
use crate::manifest::ResourceSpec;
use crate::secret::Secret;
use crate::source::{Source, Sourced};

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

/// The files of a service-binding directory attache reads for every kind. `password`, `uri`
/// and `tls.key` are secrets; `ca.crt`, `tls.crt` and `tls.key` are used as paths. Each kind
/// adds its own (see [`Surface::binding_files`](crate::Surface::binding_files)).
pub const SERVICE_BINDING_FILES: &[&str] = &[
    "type", "provider", "host", "port", "username", "password", "database", "uri", "ca.crt",
    "tls.crt", "tls.key",
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

/// A fingerprint of what the binding of `spec` reads now: its contents (certificates and
/// secret files included), or the reason there is none. Equal fingerprints: nothing changed.
pub fn fingerprint(spec: &ResourceSpec, env: &Environment, kind_files: &[&str]) -> [u8; 32] {
    match discover(spec, env, kind_files) {
        Ok(input) => input.fingerprint(),
        Err(finding) => {
            use sha2::{Digest, Sha256};
            Sha256::digest(finding.message.as_bytes()).into()
        }
    }
}

/// Reads the binding of `spec` from `env` (and the files it points to). `kind_files` are the
/// service-binding files the resource's kind reads beyond [`SERVICE_BINDING_FILES`].
///
/// A missing or unreadable binding comes back as a finding (`binding-missing`,
/// `binding-invalid`) so an audit can report every resource.
pub fn discover(
    spec: &ResourceSpec,
    env: &Environment,
    kind_files: &[&str],
) -> Result<BindingInput, Finding> {
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
            read_service_binding(&mut input, &dir, kind_files)?;
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

fn read_service_binding(
    input: &mut BindingInput,
    dir: &Path,
    kind_files: &[&str],
) -> Result<(), Finding> {
    input.origin = Some(Source::File(dir.to_owned()));
    for name in SERVICE_BINDING_FILES.iter().chain(kind_files) {
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
            ("DB_URL", "example://app@db/app"),
            ("DB_PASSWORD_FILE", pw.to_str().unwrap()),
        ]);
        let input = discover(&ResourceSpec::new("db", "example"), &env, &[]).unwrap();
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
            ("DB_URL", "example://other/x"),
        ]);
        let input = discover(&ResourceSpec::new("db", "example"), &env, &[]).unwrap();
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
        let spec = ResourceSpec::new("db", "example");
        let fp = || discover(&spec, &env, &[]).unwrap().fingerprint();
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
    fn missing_names_what_was_looked_at() {
        let f = discover(
            &ResourceSpec::new("db", "example"),
            &Environment::default(),
            &[],
        )
        .unwrap_err();
        assert_eq!(f.check, CheckId::BindingMissing);
        assert!(f.message.contains("$DB_URL"), "{}", f.message);
        assert!(f.message.contains("$DB_URL_FILE"), "{}", f.message);
    }

    #[test]
    fn unreadable_password_file_is_invalid_and_named() {
        let env = Environment::from_pairs([
            ("DB_URL", "example://app@db/app"),
            ("DB_PASSWORD_FILE", "/nonexistent/pw"),
        ]);
        let f = discover(&ResourceSpec::new("db", "example"), &env, &[]).unwrap_err();
        assert_eq!(f.check, CheckId::BindingInvalid);
        assert!(f.message.contains("env DB_PASSWORD_FILE"), "{}", f.message);
    }

    #[test]
    fn env_file_values_win_and_are_sourced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "# comment\nexport DB_URL='example://a@b/c'\n").unwrap();
        let env = Environment::from_pairs([("DB_URL", "example://x@y/z")])
            .with_env_file(&path)
            .unwrap();
        let v = env.get("DB_URL").unwrap();
        assert_eq!(v.value, "example://a@b/c");
        assert!(v.source.to_string().contains(".env"));
        std::fs::write(&path, "DB_URL\n").unwrap();
        assert!(Environment::default().with_env_file(&path).is_err());
    }
}
