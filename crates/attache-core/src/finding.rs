//! Checks, severities and findings.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// A weakness with little exposure.
    Low,
    /// A real weakness; fix it soon.
    Medium,
    /// An exposure; refuses the attach (except `priv-excess`, see its page).
    High,
    /// Full compromise is one step away; always refuses the attach.
    Critical,
}

impl Severity {
    /// The lowercase name used in the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(format!(
                    "unknown severity `{other}`; expected one of info, low, medium, high, critical"
                ));
            }
        })
    }
}

macro_rules! checks {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, )*) => {
        /// A named rule. Ids are stable and kebab-case; each has a page (`attache explain ID`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum CheckId {
            $( $(#[$doc])* $variant, )*
        }

        impl CheckId {
            /// Every check, in catalog order.
            pub const ALL: &'static [CheckId] = &[ $( CheckId::$variant, )* ];

            /// The stable id, e.g. `tls-plaintext`.
            pub fn as_str(self) -> &'static str {
                match self { $( CheckId::$variant => $id, )* }
            }

            /// The check's page, as `attache explain` prints it.
            pub fn page(self) -> &'static str {
                match self { $( CheckId::$variant => include_str!(concat!("../checks/", $id, ".md")), )* }
            }
        }
    };
}

checks! {
    /// The connection is not encrypted, or the server declined TLS.
    TlsPlaintext = "tls-plaintext",
    /// Encrypted, but the certificate or the hostname is not verified.
    TlsUnverified = "tls-unverified",
    /// The binding allows falling back to plaintext.
    TlsDowngradePermitted = "tls-downgrade-permitted",
    /// The server accepts TLS below 1.2.
    TlsWeakProtocol = "tls-weak-protocol",
    /// The peer certificate fails chain, hostname or validity checks.
    TlsCertInvalid = "tls-cert-invalid",
    /// The peer certificate expires within 30 days.
    TlsCertExpiring = "tls-cert-expiring",
    /// The account is superuser, directly or through a role it can assume.
    PrivSuperuser = "priv-superuser",
    /// The account can create roles or grant privileges.
    PrivRoleAdmin = "priv-role-admin",
    /// The account can do more than the manifest's needs.
    PrivExcess = "priv-excess",
    /// A declared need is not granted.
    PrivMissing = "priv-missing",
    /// The account cannot see part of its own privileges.
    PrivUnknown = "priv-unknown",
    /// No password or certificate was required.
    CredEmpty = "cred-empty",
    /// A well-known default credential is in use.
    CredDefault = "cred-default",
    /// A secret sits in a plain environment variable.
    CredInEnv = "cred-in-env",
    /// A secret file is readable by other users.
    CredFilePerms = "cred-file-perms",
    /// One credential serves several resources.
    CredReused = "cred-reused",
    /// A declared resource has no binding.
    BindingMissing = "binding-missing",
    /// A binding does not parse or contradicts itself.
    BindingInvalid = "binding-invalid",
    /// The resource could not be reached in time.
    Unreachable = "unreachable",
    /// The resource refused the credentials.
    AuthFailed = "auth-failed",
    /// A file the app's repository tracks holds a secret, or an env file is tracked at all.
    CredInRepo = "cred-in-repo",
    /// The app's process runs as root, or can become root again.
    ProcRoot = "proc-root",
    /// The app's process holds effective capabilities.
    ProcCapabilities = "proc-capabilities",
    /// The app's process listens where `[process] listen` does not declare.
    ProcListenerUndeclared = "proc-listener-undeclared",
    /// The app's process talks to a peer no resource of the manifest points to.
    ProcUndeclaredPeer = "proc-undeclared-peer",
    /// The app's process writes files outside temporary directories.
    ProcLocalState = "proc-local-state",
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CheckId::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let ids: Vec<_> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown check `{s}`; known checks: {}", ids.join(", "))
            })
    }
}

impl Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One result of a check. Never contains a secret: build messages from names, sources and
/// redacted values only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check.
    pub check: CheckId,
    /// How bad.
    pub severity: Severity,
    /// The resource's name in the manifest.
    pub resource: String,
    /// One sentence saying what was found.
    pub message: String,
    /// The observations behind it (one line each), e.g. how an excess privilege is held.
    pub evidence: Vec<String>,
    /// What to do about it.
    pub remedy: String,
}

impl Finding {
    /// A finding with no evidence yet.
    pub fn new(
        check: CheckId,
        severity: Severity,
        resource: impl Into<String>,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Finding {
            check,
            severity,
            resource: resource.into(),
            message: message.into(),
            evidence: Vec::new(),
            remedy: remedy.into(),
        }
    }

    /// `priv-superuser`: the account is an administrator, directly or through what it can
    /// assume. Critical for every kind.
    pub fn superuser(
        resource: impl Into<String>,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Finding::new(
            CheckId::PrivSuperuser,
            Severity::Critical,
            resource,
            message,
            remedy,
        )
    }

    /// `priv-role-admin`: the account can create accounts or hand out privileges. High for
    /// every kind.
    pub fn role_admin(
        resource: impl Into<String>,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Finding::new(
            CheckId::PrivRoleAdmin,
            Severity::High,
            resource,
            message,
            remedy,
        )
    }

    /// Adds evidence lines.
    pub fn with_evidence<I, S>(mut self, lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.evidence.extend(lines.into_iter().map(Into::into));
        self
    }

    /// The sort order of reports: most severe first, then resource, check, message.
    pub fn sort_key(&self) -> impl Ord + '_ {
        (
            std::cmp::Reverse(self.severity),
            &self.resource,
            self.check,
            &self.message,
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} {}: {}",
            self.severity, self.check, self.resource, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_have_pages() {
        for c in CheckId::ALL {
            assert_eq!(c.as_str().parse::<CheckId>().unwrap(), *c);
            let page = c.page();
            assert!(
                page.starts_with(&format!("# {}", c.as_str())),
                "page of {c} has no title"
            );
            assert!(
                page.contains("## How to fix"),
                "page of {c} has no fix section"
            );
        }
    }

    #[test]
    fn severities_order() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
    }
}
