//! NATS bindings: URLs (`tls://user@host:port`, `nats://…`) and servicebinding.io fields (`type`
//! = `nats`, `uri` or `host`/`port`, `username`, `password`, `ca.crt`, `tls.crt`, `tls.key`).
//!
//! - `tls://` and `nats://` are both TLS, verified in full: the chain to the binding's CA
//!   (`tlsca`, `ca.crt`) or the system roots, and the host name or IP address. NATS clients
//!   upgrade to TLS only when the server's `INFO` asks or the client insists; attache always
//!   insists, so `nats://` never means plaintext.
//! - `tls=false` (attache's own parameter) asks for plaintext: tolerated to a loopback address
//!   (reported as `info`), refused elsewhere. `tls_verify=false` is `tls-unverified`.
//! - Query parameters: `tlsca`, `tlscert`, `tlskey` (as the `nats` CLI names them), `tls`,
//!   `tls_verify`, and `token`.
//! - Credentials: a user and password, or a token. A token is the binding's password with no
//!   user (`<NAME>_PASSWORD_FILE` holding it, or a service binding's `password` without
//!   `username`), or `token=` in the URL; either way it is kept and checked as the password is
//!   (`cred-in-env`, `cred-file-perms`, `cred-reused`).
//!
//! No error names a value taken from the URL.

use attache_core::binding::{Binding, BindingInput, Common, UrlShape};
use attache_core::transport::{TlsAsk, TlsMode};
use attache_core::{Finding, Kind, Secret, Source, Sourced};

/// The query parameters attache reads.
pub const PARAMETERS: &[&str] = &["tlsca", "tlscert", "tlskey", "tls", "tls_verify", "token"];

/// How a NATS URL looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["tls", "nats"],
    example: "tls://[user[:password]@]host[:port] (nats:// is TLS too; tls=false asks for plaintext, loopback only)",
    path: "path",
    params: PARAMETERS,
    canonical: None,
    fragment: false,
    fields: &[],
};

/// A parsed NATS binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct NatsBinding {
    /// Server port.
    pub port: Sourced<u16>,
    /// User name, for user/password authentication; without one, the password is a token.
    pub user: Option<Sourced<String>>,
    /// The host, the TLS settings and material, the password, where the binding came from.
    pub common: Common,
}

impl NatsBinding {
    /// The server's DNS name or IP address.
    pub fn host(&self) -> &str {
        self.common.transport.tcp_host()
    }

    /// Whether the binding asks for plaintext (`tls=false`).
    pub fn plaintext(&self) -> bool {
        self.common.transport.is_plaintext()
    }
}

fn boolean(
    input: &BindingInput,
    name: &str,
    v: &Sourced<String>,
) -> Result<Sourced<bool>, Finding> {
    match v.value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(Sourced::new(true, v.source.clone())),
        "false" | "0" | "no" => Ok(Sourced::new(false, v.source.clone())),
        _ => Err(input.invalid(name, &v.source, "expected true or false")),
    }
}

impl Binding for NatsBinding {
    fn parse(input: BindingInput) -> Result<NatsBinding, Finding> {
        let mut params = input.read(&URL, <crate::Nats as Kind>::SURFACE.binding_types)?;
        let tls_on = match params.get("tls") {
            Some(v) => boolean(&input, "tls", v)?,
            None => match &params.scheme {
                Some(s) => Sourced::new(true, s.source.clone()),
                None => Sourced::new(true, Source::Default),
            },
        };
        let words = match (&tls_on.source, tls_on.value) {
            (Source::Default, _) => "TLS (attache's default)".to_owned(),
            (_, false) => "tls=false".to_owned(),
            (_, true) => params
                .scheme
                .as_ref()
                .map_or("TLS".to_owned(), |s| format!("{}://", s.value)),
        };
        let mut asks = vec![TlsAsk::new(
            if tls_on.value {
                TlsMode::VerifyFull
            } else {
                TlsMode::Plaintext
            },
            words,
            tls_on.source.clone(),
        )];
        if let Some(v) = params.get("tls_verify") {
            let verify = boolean(&input, "tls_verify", v)?;
            if !verify.value {
                asks.push(TlsAsk::new(
                    TlsMode::NoVerification,
                    "tls_verify=false",
                    verify.source,
                ));
            }
        }
        if let Some(p) = params.get("path").filter(|p| !p.value.is_empty()) {
            return Err(input.invalid(
                "URL",
                &p.source,
                "a NATS URL has no path; write tls://host:port",
            ));
        }
        let host = params.tcp_host(&input, "bind a TCP host with tls://")?;
        let port = params.port(&input, 4222)?;
        let user = params.value("user").cloned();
        if let Some(t) = params.value("token").cloned() {
            if params.password().is_some() || user.is_some() {
                return Err(input.invalid(
                    "token",
                    &t.source,
                    "a binding authenticates with a token or with a user and password, not both",
                ));
            }
            params.set_password(Sourced::new(Secret::new(t.value), t.source));
        }
        input.refuse_tls_in_plaintext(
            &params,
            &tls_on.clone().map(|on| !on),
            &PARAMETERS[..3],
            "use tls:// without tls=false",
        )?;
        Ok(NatsBinding {
            port,
            user,
            common: params.common(&input, host, asks, ["tlsca", "tlscert", "tlskey"])?,
        })
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn target(&self) -> String {
        let scheme = if self.plaintext() { "nats" } else { "tls" };
        self.common
            .transport
            .target(scheme, self.user(), self.port.value, "")
            .trim_end_matches('/')
            .to_owned()
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
    use attache_core::{CheckId, Severity};

    attache_testkit::binding_suite!(crate::Nats, attache_testkit::NatsServer; "events" in "EVENTS_URL");

    #[test]
    fn tls_url_with_everything() {
        let (b, f) = judged(
            "tls://app:p%40ss@nats.internal:4223?tlsca=/ca.pem&tlscert=/c.pem&tlskey=/k.pem",
        )
        .unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert_eq!((b.host(), b.port.value), ("nats.internal", 4223));
        assert_eq!(b.user(), Some("app"));
        assert_eq!(
            b.common.password.as_ref().unwrap().value.expose_secret(),
            "p@ss"
        );
        assert_eq!(b.target(), "tls://app@nats.internal:4223");
    }

    #[test]
    fn nats_scheme_is_tls_too_and_plaintext_is_asked_for_by_name() {
        let (b, f) = judged("nats://nats.internal").unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert!(!b.plaintext());
        assert_eq!(b.common.transport.tls.roots, Roots::System);
        assert_eq!(b.port.value, 4222);
        let (_, f) = judged("nats://nats.example.com?tls=false").unwrap();
        assert!(
            f.iter()
                .any(|f| f.check == CheckId::TlsPlaintext && f.severity == Severity::High),
            "{f:?}"
        );
        let (_, f) = judged("tls://nats.example.com?tls_verify=false").unwrap();
        assert!(f.iter().any(|f| f.check == CheckId::TlsUnverified), "{f:?}");
    }

    #[test]
    fn tokens_and_contradictions() {
        let (b, _) = judged("tls://nats.internal?token=planted-token").unwrap();
        assert_eq!(b.user(), None);
        assert_eq!(
            b.common.password.unwrap().value.expose_secret(),
            "planted-token"
        );
        for (url, says) in [
            ("tls://u:pw@nats.internal?token=t", "not both"),
            (
                "nats://127.0.0.1?tls=false&tlsca=/ca.pem",
                "plaintext yet sets tlsca",
            ),
            ("tls://nats.internal/some/path", "no path"),
            ("tls://nats.internal?tls=maybe", "true or false"),
        ] {
            let f = judged(url).unwrap_err();
            assert!(f.message.contains(says), "{url}: {}", f.message);
            assert!(!f.message.contains("pw"), "{}", f.message);
        }
    }
}
