//! Where each binding field came from.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// The origin of one binding value, kept so that every finding and error can name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Source {
    /// An environment variable (from the process or an `--env-file`).
    Env(String),
    /// A variable read from an env file (`--env-file`).
    EnvFile {
        /// The variable.
        var: String,
        /// The env file.
        path: PathBuf,
    },
    /// A file, named by a `*_FILE` variable or found in a service-binding directory.
    File(PathBuf),
    /// A parameter inside a URL or keyword string that itself came from `within`.
    Param {
        /// The parameter's name, as the URL writes it.
        name: String,
        /// Where the URL came from.
        within: Box<Source>,
    },
    /// attache's own default (nothing in the environment said otherwise).
    Default,
}

impl Source {
    /// Whether the value came from an environment variable (process or env file).
    pub fn is_env(&self) -> bool {
        match self {
            Source::Env(_) | Source::EnvFile { .. } => true,
            Source::Param { within, .. } => within.is_env(),
            _ => false,
        }
    }

    /// A parameter `name` of a value that came from `self`.
    pub fn param(&self, name: &str) -> Source {
        Source::Param {
            name: name.to_owned(),
            within: Box::new(self.clone()),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(var) => write!(f, "env {var}"),
            Source::EnvFile { var, path } => write!(f, "env {var} in {}", path.display()),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Param { name, within } => write!(f, "{name} in {within}"),
            Source::Default => f.write_str("attache default"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A value with the place it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Sourced<T> {
    /// Pairs a value with its source.
    pub fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }

    /// Maps the value, keeping the source.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced {
            value: f(self.value),
            source: self.source,
        }
    }
}
