//! The transport posture: what a binding asks of the connection's security, and core's
//! decision about it.
//!
//! A kind's binding parser says what the binding asks for, in core's words ([`TlsMode`]), with
//! how the binding wrote it and where that came from ([`TlsAsk`]), and where the server is
//! ([`Host`]). Core alone turns that into findings (`tls-plaintext`, `tls-unverified`,
//! `tls-downgrade-permitted`), applies `policy.tls` and the loopback rule, and decides whether
//! and how to connect ([`Wire`]) before the kind's `connect` is called. A kind never weakens
//! verification on its own: over TLS it always connects verify-full.

use std::fmt;

use crate::finding::{CheckId, Finding, Severity};
use crate::manifest::{Policy, TlsRequirement};
use crate::source::{Source, Sourced};
use crate::tls::TlsSettings;
use crate::url::Host;

/// What a binding asks of the connection, whatever words its kind uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TlsMode {
    /// TLS with the chain and the host name verified: attache's default, and the only way it
    /// connects over TLS.
    VerifyFull,
    /// TLS with the chain verified but not the host name.
    NoHostCheck,
    /// TLS with nothing verified.
    NoVerification,
    /// TLS if the server offers it, else plaintext: a downgrade waiting for an attacker.
    PlaintextFallback,
    /// No TLS.
    Plaintext,
}

/// One TLS setting of a binding: what it asks for, how the binding wrote it, and where that
/// came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsAsk {
    /// What it asks for.
    pub mode: TlsMode,
    /// The binding's own words for it, never a secret: `mode=verify-ca`, `the URL fragment
    /// #insecure`, `the scheme`.
    pub words: String,
    /// Where it came from.
    pub source: Source,
}

impl TlsAsk {
    /// A setting of `mode`, written `words`, from `source`.
    pub fn new(mode: TlsMode, words: impl Into<String>, source: Source) -> TlsAsk {
        TlsAsk {
            mode,
            words: words.into(),
            source,
        }
    }

    /// What a binding that says nothing asks for: verify-full, attache's default.
    pub fn default_verify_full(words: impl Into<String>) -> TlsAsk {
        TlsAsk::new(TlsMode::VerifyFull, words, Source::Default)
    }
}

/// Where a binding points and what it asks of the connection's security.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The server: a TCP host or a unix socket.
    pub host: Sourced<Host>,
    /// Every TLS setting of the binding, in the order the kind read them; each one weaker than
    /// verify-full is reported.
    pub asks: Vec<TlsAsk>,
    /// The trust anchors and the client certificate TLS uses.
    pub tls: TlsSettings,
}

impl Transport {
    /// A server, the binding's asks of TLS, and its TLS material.
    pub fn new(host: Sourced<Host>, asks: Vec<TlsAsk>, tls: TlsSettings) -> Transport {
        Transport { host, asks, tls }
    }

    /// Whether the binding asks for no TLS at all, or names a unix socket (where TLS does not
    /// apply).
    pub fn is_plaintext(&self) -> bool {
        matches!(self.host.value, Host::Socket(_))
            || self.asks.iter().any(|a| a.mode == TlsMode::Plaintext)
    }

    /// The DNS name or IP address, for a kind whose bindings never name a unix socket (its
    /// parser refuses them); `""` for a socket.
    pub fn tcp_host(&self) -> &str {
        match &self.host.value {
            Host::Tcp(h) => h,
            Host::Socket(_) => "",
        }
    }

    /// `scheme://[user@]host:port/path`, the target a kind with a URL reports (no secret).
    pub fn target(&self, scheme: &str, user: Option<&str>, port: u16, path: &str) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        format!("{scheme}://{user}{}:{port}/{path}", self.host.value)
    }
}

/// How a kind tells users to fix its TLS settings, in the kind's own words. Core writes the
/// findings; these sentences are their remedies.
#[derive(Debug, Clone, Copy)]
pub struct TlsAdvice {
    /// How a binding of this kind asks for verify-full: the remedy of `tls-unverified` and
    /// `tls-downgrade-permitted`.
    pub verify_full: &'static str,
    /// The remedy of `tls-plaintext` beyond a local connection: TLS on the server, verify-full
    /// in the binding.
    pub plaintext: &'static str,
    /// The remedy shown beside a unix socket's (informational) `tls-plaintext`.
    pub socket: &'static str,
    /// How an administrator makes the server serve TLS (`enable TLS on the server (ssl = on)`).
    pub server_tls: &'static str,
    /// Where a binding names the CA (`<its CA parameter> / ca.crt`).
    pub ca: &'static str,
    /// Where a binding names a client certificate (`sslcert and sslkey, or tls.crt and
    /// tls.key`).
    pub client_cert: &'static str,
}

/// How core decided to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Verify-full TLS.
    Tls,
    /// Plaintext, allowed because the target is this machine (already reported as info).
    Plaintext,
    /// Not at all: plaintext beyond this machine, or against `policy.tls = "required"`
    /// (already reported as high). No credential leaves the process.
    Refuse,
}

/// Core's judgement of a binding's transport.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The findings its settings warrant.
    pub findings: Vec<Finding>,
    /// Whether and how to connect.
    pub wire: Wire,
}

struct At<'a>(&'a TlsAsk);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.0.words, self.0.source)
    }
}

/// Judges `transport` for `resource` under `policy`: one finding per setting weaker than
/// verify-full, the plaintext rule (info to this machine, high and not attempted elsewhere or
/// under `tls = "required"`), and the decision whether to connect.
pub fn judge(resource: &str, transport: &Transport, policy: &Policy, advice: &TlsAdvice) -> Judged {
    let mut findings = Vec::new();
    let host = &transport.host.value;
    let local = host.is_local();
    let required = policy.tls == TlsRequirement::Required;
    for ask in &transport.asks {
        let at = At(ask);
        let finding = match ask.mode {
            TlsMode::VerifyFull => continue,
            TlsMode::NoHostCheck => Finding::new(
                CheckId::TlsUnverified,
                Severity::High,
                resource,
                format!(
                    "{at} checks the certificate chain but not the host name: any certificate from that CA passes"
                ),
                advice.verify_full,
            ),
            TlsMode::NoVerification => Finding::new(
                CheckId::TlsUnverified,
                Severity::High,
                resource,
                format!(
                    "{at} encrypts but does not verify the server: a man in the middle is not noticed (attache verifies anyway; another client reading this binding would not)"
                ),
                advice.verify_full,
            ),
            TlsMode::PlaintextFallback => Finding::new(
                CheckId::TlsDowngradePermitted,
                Severity::High,
                resource,
                format!(
                    "{at} lets a client fall back to plaintext when the server (or an attacker) declines TLS"
                ),
                advice.verify_full,
            ),
            TlsMode::Plaintext => {
                let (severity, message) = if local && !required {
                    (
                        Severity::Info,
                        format!("{at}: plaintext to {host}, which is this machine"),
                    )
                } else if local {
                    (
                        Severity::High,
                        format!("{at}, but policy.tls = \"required\"; attache did not connect"),
                    )
                } else {
                    (
                        Severity::High,
                        format!(
                            "{at} to {host}, which is not this machine; attache did not connect and sent no credentials"
                        ),
                    )
                };
                Finding::new(
                    CheckId::TlsPlaintext,
                    severity,
                    resource,
                    message,
                    advice.plaintext,
                )
            }
        };
        findings.push(finding);
    }
    let asked_plaintext = transport.asks.iter().any(|a| a.mode == TlsMode::Plaintext);
    if let (Host::Socket(_), false) = (host, asked_plaintext) {
        let severity = if required {
            Severity::High
        } else {
            Severity::Info
        };
        findings.push(Finding::new(
            CheckId::TlsPlaintext,
            severity,
            resource,
            format!("unix socket {host}: local and unencrypted (TLS does not apply)"),
            advice.socket,
        ));
    }
    let wire = if !transport.is_plaintext() {
        Wire::Tls
    } else if local && !required {
        Wire::Plaintext
    } else {
        Wire::Refuse
    };
    Judged { findings, wire }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Roots;

    const ADVICE: TlsAdvice = TlsAdvice {
        verify_full: "ask for verify-full",
        plaintext: "turn TLS on",
        socket: "nothing to do",
        server_tls: "enable TLS",
        ca: "ca / ca.crt",
        client_cert: "cert and key",
    };

    fn transport(host: Host, asks: &[(TlsMode, &str)]) -> Transport {
        Transport {
            host: Sourced::new(host, Source::Env("DB_URL".into())),
            asks: asks
                .iter()
                .map(|(m, w)| TlsAsk::new(*m, *w, Source::Env("DB_URL".into())))
                .collect(),
            tls: TlsSettings {
                roots: Roots::System,
                identity: None,
            },
        }
    }

    fn judged(t: &Transport, required: bool) -> (Vec<(CheckId, Severity)>, Wire) {
        let mut policy = Policy::default();
        if required {
            policy.tls = TlsRequirement::Required;
        }
        let j = judge("db", t, &policy, &ADVICE);
        (
            j.findings.iter().map(|f| (f.check, f.severity)).collect(),
            j.wire,
        )
    }

    fn tcp(h: &str) -> Host {
        Host::Tcp(h.into())
    }

    #[test]
    fn verify_full_is_clean_and_connects_over_tls() {
        let t = transport(tcp("db.internal"), &[(TlsMode::VerifyFull, "mode=full")]);
        assert_eq!(judged(&t, false), (vec![], Wire::Tls));
    }

    #[test]
    fn weaker_modes_are_findings_yet_attache_connects_verified() {
        for (mode, check) in [
            (TlsMode::NoHostCheck, CheckId::TlsUnverified),
            (TlsMode::NoVerification, CheckId::TlsUnverified),
            (TlsMode::PlaintextFallback, CheckId::TlsDowngradePermitted),
        ] {
            let t = transport(tcp("db.internal"), &[(mode, "mode=weak")]);
            let j = judge("db", &t, &Policy::default(), &ADVICE);
            assert_eq!(j.wire, Wire::Tls, "{mode:?}");
            assert_eq!(j.findings.len(), 1);
            let f = &j.findings[0];
            assert_eq!((f.check, f.severity), (check, Severity::High));
            assert!(
                f.message.starts_with("mode=weak (from env DB_URL)"),
                "{}",
                f.message
            );
            assert_eq!(f.remedy, "ask for verify-full");
        }
    }

    #[test]
    fn every_weakening_is_its_own_finding() {
        let t = transport(
            tcp("cache"),
            &[
                (TlsMode::VerifyFull, "examples://"),
                (TlsMode::NoVerification, "#insecure"),
                (TlsMode::NoHostCheck, "check_hostname=false"),
            ],
        );
        let (checks, wire) = judged(&t, false);
        assert_eq!(checks.len(), 2);
        assert_eq!(wire, Wire::Tls);
    }

    #[test]
    fn plaintext_is_info_to_this_machine_and_refused_elsewhere() {
        let plain = [(TlsMode::Plaintext, "mode=off")];
        assert_eq!(
            judged(&transport(tcp("127.0.0.1"), &plain), false),
            (
                vec![(CheckId::TlsPlaintext, Severity::Info)],
                Wire::Plaintext
            )
        );
        assert_eq!(
            judged(&transport(tcp("::1"), &plain), true),
            (vec![(CheckId::TlsPlaintext, Severity::High)], Wire::Refuse)
        );
        let j = judge(
            "db",
            &transport(tcp("db.example.com"), &plain),
            &Policy::default(),
            &ADVICE,
        );
        assert_eq!(j.wire, Wire::Refuse);
        assert!(
            j.findings[0].message.contains("sent no credentials"),
            "{}",
            j.findings[0].message
        );
    }

    #[test]
    fn a_unix_socket_is_local_plaintext() {
        let sock = Host::Socket("/run/db.sock".into());
        let t = transport(sock.clone(), &[(TlsMode::VerifyFull, "mode=full")]);
        assert_eq!(
            judged(&t, false),
            (
                vec![(CheckId::TlsPlaintext, Severity::Info)],
                Wire::Plaintext
            )
        );
        assert_eq!(
            judged(&t, true),
            (vec![(CheckId::TlsPlaintext, Severity::High)], Wire::Refuse)
        );
        // Asked for plaintext on a socket: one finding, not two.
        let t = transport(sock, &[(TlsMode::Plaintext, "mode=off")]);
        assert_eq!(judged(&t, false).0.len(), 1);
    }
}
