//! Why a connection failed, in one vocabulary for every kind, and the finding core writes for
//! it.
//!
//! A kind maps its driver's errors to one [`Failure`] (in one mapping function per kind, by the
//! driver's codes where it has them); [`Failure::finding`] writes the finding: the check, the
//! message naming the target, the CA's source, the remedy. Nothing here repeats a password:
//! the texts come from drivers and servers, which never echo one, and from the binding's
//! redacted target.

use std::error::Error as StdError;

use crate::finding::{CheckId, Finding, Severity};
use crate::kind::Binding;
use crate::source::Source;
use crate::tls::{Roots, certificate_failure, tls_failure};
use crate::transport::{TlsAdvice, Wire};
use crate::url::Host;

/// Why connecting (or building the app's client) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The server declined TLS; how it did, in the protocol's words (`answered N to the
    /// SSLRequest`). Nothing was sent after that.
    TlsDeclined(String),
    /// The server's certificate failed verification; why (see
    /// [`certificate_failure`]).
    CertificateInvalid(String),
    /// The TLS handshake, or the TLS session right after it, failed for another reason.
    Handshake(String),
    /// The server refused the credentials; what it said.
    AuthRefused(String),
    /// The server asked for a password and the binding has none.
    PasswordRequired,
    /// The server has no such database (vhost, namespace); what it said.
    UnknownDatabase(String),
    /// The account may not use the database it is bound to; what the server said.
    DatabaseDenied(String),
    /// A file the binding names cannot be used as the driver needs it.
    BindingFile {
        /// The field, as the binding names it (`CA certificate`, `client key`).
        field: &'static str,
        /// Where the file's name came from.
        source: Source,
        /// What is wrong with it.
        why: String,
    },
    /// No connection: refused, closed, not resolvable; the error chain.
    Unreachable(String),
    /// The server did not answer in time.
    TimedOut,
    /// The server answered with an error of its own; what it said.
    Server(String),
}

impl Failure {
    /// A TLS failure in `err`'s source chain (looking inside `io::Error`s): a certificate that
    /// failed verification, or any other TLS error.
    pub fn from_tls(err: &(dyn StdError + 'static)) -> Option<Failure> {
        certificate_failure(err)
            .map(Failure::CertificateInvalid)
            .or_else(|| tls_failure(err).map(Failure::Handshake))
    }

    /// [`Failure::Unreachable`] with `err`'s whole source chain.
    pub fn unreachable(err: &(dyn StdError + 'static)) -> Failure {
        Failure::Unreachable(chain(err))
    }

    /// The finding for this failure of resource `resource`, bound by `binding`, connecting
    /// over `wire`.
    pub fn finding(
        &self,
        resource: &str,
        binding: &dyn Binding,
        wire: Wire,
        advice: &TlsAdvice,
    ) -> Finding {
        let target = binding.target();
        let high = |check, message: String, remedy: String| {
            Finding::new(check, Severity::High, resource, message, remedy)
        };
        match self {
            Failure::TlsDeclined(how) => high(
                CheckId::TlsPlaintext,
                format!(
                    "{target} declined TLS ({how}); attache refused to continue in plaintext and sent no credentials"
                ),
                format!(
                    "{}; if a proxy sits in between, it may be stripping TLS",
                    advice.server_tls
                ),
            ),
            Failure::CertificateInvalid(why) => high(
                CheckId::TlsCertInvalid,
                format!("{target}: {why}; attache refused the connection and sent no credentials"),
                format!(
                    "give the binding the CA that signed the server's certificate ({}), and make sure the certificate names the host in the binding and is in date",
                    advice.ca
                ),
            )
            .with_evidence([format!("CA from {}", roots_source(&binding.transport().tls.roots))]),
            Failure::Handshake(why) => high(
                CheckId::Unreachable,
                format!("{target}: the TLS handshake failed: {why}"),
                if binding.transport().tls.identity.is_some() {
                    "check that the server speaks TLS 1.2 or later on this port and that it trusts the CA that signed the binding's client certificate".to_owned()
                } else {
                    format!(
                        "check that the server speaks TLS 1.2 or later on this port; if it asks for a client certificate, give the binding one ({})",
                        advice.client_cert
                    )
                },
            ),
            Failure::AuthRefused(said) => {
                let user = binding.user().unwrap_or("(none)");
                let message = if binding.password().is_none() {
                    format!(
                        "{target}: the server refused user {user}, and the binding has no password: {said}"
                    )
                } else {
                    format!("{target}: the server refused the login of user {user}: {said}")
                };
                high(
                    CheckId::AuthFailed,
                    message,
                    "check the user and password in the binding (a rotated password may not be deployed yet) and that the server lets this account log in from here over TLS".to_owned(),
                )
            }
            Failure::PasswordRequired => high(
                CheckId::AuthFailed,
                format!("{target}: the server asked for a password and the binding has none"),
                "give the password in a file named by <NAME>_PASSWORD_FILE or the service binding's password file".to_owned(),
            ),
            Failure::UnknownDatabase(said) => high(
                CheckId::BindingInvalid,
                format!("{target}: the server said: {said}"),
                "check the database in the binding".to_owned(),
            ),
            Failure::DatabaseDenied(said) => high(
                CheckId::PrivMissing,
                format!("{target}: the server said: {said}"),
                "grant the account its needs on the database (`attache grants` prints the statements), or fix the database in the binding".to_owned(),
            ),
            Failure::BindingFile { field, source, why } => {
                crate::binding::binding_invalid(resource, field, source, why)
            }
            Failure::Unreachable(why) => high(
                CheckId::Unreachable,
                format!("{target}: {why}"),
                if wire == Wire::Plaintext && matches!(binding.transport().host.value, Host::Tcp(_)) {
                    "check the host and port in the binding; a server that speaks only TLS closes a plaintext connection".to_owned()
                } else {
                    "check the host and port in the binding and that the server is up and reachable from here".to_owned()
                },
            ),
            Failure::TimedOut => high(
                CheckId::Unreachable,
                format!("{target}: the server did not answer in time"),
                "check that the server is up and speaks its protocol on this port (with TLS unless the binding is plaintext); raise policy.connect_timeout if the network is slow".to_owned(),
            ),
            Failure::Server(said) => high(
                CheckId::Unreachable,
                format!("{target}: the server said: {said}"),
                "see the server's message; check the server's logs".to_owned(),
            ),
        }
    }
}

/// Where the trust anchors came from, for the evidence of `tls-cert-invalid`.
pub fn roots_source(roots: &Roots) -> String {
    match roots {
        Roots::System => "the system trust store".to_owned(),
        Roots::PemFile(f) => format!("{} ({})", f.value.display(), f.source),
    }
}

/// `err` and every error in its source chain, `: `-separated, each said once.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !text.contains(&s) {
            text = format!("{text}: {s}");
        }
        cur = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn the_chain_says_each_cause_once() {
        let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        let outer = io::Error::other(Wrapped(inner));
        assert_eq!(chain(&outer), "could not connect: connection refused");
    }

    #[derive(Debug)]
    struct Wrapped(io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not connect")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert_eq!(
            Failure::from_tls(&err),
            Some(Failure::CertificateInvalid(
                "the certificate has expired".into()
            ))
        );
        let err = io::Error::other(rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert!(matches!(
            Failure::from_tls(&err),
            Some(Failure::Handshake(_))
        ));
        assert_eq!(Failure::from_tls(&io::Error::other("plain")), None);
    }
}
