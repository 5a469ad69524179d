//! RabbitMQ bindings: AMQP URIs (`amqps://user@host:port/vhost?cacertfile=…`) and
//! servicebinding.io fields (`type` = `rabbitmq` or `amqp`, `host`, `port`, `username`,
//! `password`, `vhost` or `database`, `ca.crt`, `tls.crt`, `tls.key`, `management`).
//!
//! - `amqps://` is TLS, verified in full: the chain to the binding's CA (`cacertfile`,
//!   `ca.crt`) or the system roots, and the host name or IP address.
//! - `amqp://` is plaintext: tolerated to a loopback address (reported as `info`), refused
//!   elsewhere (`high`, no connection attempted, no credential sent).
//! - The vhost is the URI's path, percent-decoded (`%2F` is `/`); no path (or an empty one)
//!   is the vhost `/`.
//! - Query parameters, as RabbitMQ's own URI spec names them: `cacertfile`, `certfile`,
//!   `keyfile`, `verify` (`verify_peer`; `verify_none` is `tls-unverified`),
//!   `server_name_indication` (a host name to verify instead of the URI's host; `disable`,
//!   which turns the host name check off, is `tls-unverified`), `heartbeat` (seconds). And
//!   attache's own `management`: the HTTPS base URL of the broker's management API, where
//!   attache reads the account's tags (`/api/whoami`).
//!
//! No error names a value taken from the URL: a password that was not percent-encoded can end
//! up in any part of it.

use attache_core::binding::{Binding, BindingInput, Common, UrlShape};
use attache_core::transport::{TlsAsk, TlsMode};
use attache_core::{Finding, Kind, Source, Sourced};

/// The query parameters attache reads.
pub const PARAMETERS: &[&str] = &[
    "cacertfile",
    "certfile",
    "keyfile",
    "verify",
    "server_name_indication",
    "heartbeat",
    "management",
];

/// How an AMQP URI looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["amqps", "amqp"],
    example: "amqps://[user[:password]@]host[:port][/vhost] (TLS; the vhost percent-encoded, %2F for /), or amqp:// (plaintext, loopback only)",
    path: "vhost",
    params: PARAMETERS,
    canonical: None,
    fragment: false,
    fields: &[("vhost", "vhost"), ("management", "management")],
};

/// A parsed RabbitMQ binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct AmqpBinding {
    /// Broker port.
    pub port: Sourced<u16>,
    /// User name; `None` logs in as `guest`, as every AMQP client does.
    pub user: Option<Sourced<String>>,
    /// The vhost.
    pub vhost: Sourced<String>,
    /// The name the certificate is verified against: `server_name_indication`, else the host.
    pub server_name: Option<Sourced<String>>,
    /// Heartbeat interval in seconds, if the binding sets one.
    pub heartbeat: Option<u16>,
    /// The management API's HTTPS base URL, if the binding names one.
    pub management: Option<Sourced<String>>,
    /// The host, the TLS settings and material, the password, where the binding came from.
    pub common: Common,
}

impl AmqpBinding {
    /// The user the broker will see: the binding's, else `guest`.
    pub fn user_name(&self) -> &str {
        self.user.as_ref().map_or("guest", |u| u.value.as_str())
    }

    /// The broker's DNS name or IP address (an AMQP binding never names a unix socket).
    pub fn host(&self) -> &str {
        self.common.transport.tcp_host()
    }

    /// The name the broker's certificate must be valid for.
    pub fn tls_name(&self) -> &str {
        self.server_name
            .as_ref()
            .map_or_else(|| self.host(), |n| n.value.as_str())
    }

    /// Whether the binding asks for plaintext (`amqp://`).
    pub fn plaintext(&self) -> bool {
        self.common.transport.is_plaintext()
    }
}

impl Binding for AmqpBinding {
    fn parse(input: BindingInput) -> Result<AmqpBinding, Finding> {
        let mut params = input.read(&URL, <crate::Amqp as Kind>::SURFACE.binding_types)?;
        let mut asks = Vec::new();
        let tls_on = match &params.scheme {
            Some(s) => Sourced::new(s.value == "amqps", s.source.clone()),
            None => Sourced::new(true, Source::Default),
        };
        let words = match (&tls_on.source, tls_on.value) {
            (Source::Default, _) => "TLS (attache's default)".to_owned(),
            (_, true) => "amqps://".to_owned(),
            (_, false) => "amqp://".to_owned(),
        };
        asks.push(TlsAsk::new(
            if tls_on.value {
                TlsMode::VerifyFull
            } else {
                TlsMode::Plaintext
            },
            words,
            tls_on.source.clone(),
        ));
        if let Some(v) = params.get("verify") {
            match v.value.as_str() {
                "verify_peer" => {}
                "verify_none" => asks.push(TlsAsk::new(
                    TlsMode::NoVerification,
                    "verify=verify_none",
                    v.source.clone(),
                )),
                _ => {
                    return Err(input.invalid(
                        "verify",
                        &v.source,
                        "expected verify_peer (or leave it out)",
                    ));
                }
            }
        }
        let mut server_name = None;
        if let Some(v) = params.get("server_name_indication") {
            match v.value.as_str() {
                "disable" => asks.push(TlsAsk::new(
                    TlsMode::NoHostCheck,
                    "server_name_indication=disable",
                    v.source.clone(),
                )),
                "" => {}
                name if name.parse::<std::net::IpAddr>().is_ok() || rustls_pki_types_dns(name) => {
                    server_name = Some(v.clone());
                }
                _ => {
                    return Err(input.invalid(
                        "server_name_indication",
                        &v.source,
                        "expected a host name the certificate is valid for",
                    ));
                }
            }
        }
        let heartbeat = match params.value("heartbeat") {
            None => None,
            Some(h) => Some(h.value.trim().parse::<u16>().map_err(|_| {
                input.invalid(
                    "heartbeat",
                    &h.source,
                    "expected a number of seconds (0–65535)",
                )
            })?),
        };
        let management = match params.value("management") {
            None => None,
            Some(m) => {
                let text = m.value.trim_end_matches('/');
                if !text.starts_with("https://") || text.len() <= "https://".len() {
                    return Err(input.invalid(
                        "management",
                        &m.source,
                        "expected the management API's https:// base URL (attache reads it over verified TLS only)",
                    ));
                }
                Some(Sourced::new(text.to_owned(), m.source.clone()))
            }
        };

        let host = params.tcp_host(&input, "bind a TCP host with amqps://")?;
        let port = params.port(&input, if tls_on.value { 5671 } else { 5672 })?;
        let vhost = match params.get("vhost") {
            Some(v) if !v.value.is_empty() => v.clone(),
            Some(v) => Sourced::new("/".to_owned(), v.source.clone()),
            None => Sourced::new("/".to_owned(), Source::Default),
        };
        let user = params.value("user").cloned();
        input.refuse_tls_in_plaintext(
            &params,
            &tls_on.clone().map(|on| !on),
            &PARAMETERS[..5],
            "use amqps://",
        )?;
        Ok(AmqpBinding {
            port,
            user,
            vhost,
            server_name,
            heartbeat,
            management,
            common: params.common(&input, host, asks, ["cacertfile", "certfile", "keyfile"])?,
        })
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn target(&self) -> String {
        let scheme = if self.plaintext() { "amqp" } else { "amqps" };
        let vhost = percent_encoding::utf8_percent_encode(
            &self.vhost.value,
            percent_encoding::NON_ALPHANUMERIC,
        );
        self.common
            .transport
            .target(scheme, self.user(), self.port.value, &vhost.to_string())
    }
    fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.value.as_str())
    }
    fn port(&self) -> u16 {
        self.port.value
    }
}

/// Whether `name` is a DNS name a certificate can be valid for.
fn rustls_pki_types_dns(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use attache_core::tls::Roots;
    use attache_core::{CheckId, Severity};

    attache_testkit::binding_suite!(crate::Amqp, attache_testkit::RabbitServer; "queue" in "QUEUE_URL");

    #[test]
    fn amqps_uri_with_everything() {
        let (b, f) = judged(
            "amqps://app:p%40ss@mq.internal:5673/orders%2Fprod?cacertfile=/ca.pem&certfile=/c.pem&keyfile=/k.pem&verify=verify_peer&heartbeat=30&management=https%3A%2F%2Fmq.internal%3A15671",
        )
        .unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(b.host(), "mq.internal");
        assert_eq!(b.port.value, 5673);
        assert_eq!(b.vhost.value, "orders/prod");
        assert_eq!(b.user_name(), "app");
        assert_eq!(b.heartbeat, Some(30));
        assert_eq!(
            b.management.as_ref().unwrap().value,
            "https://mq.internal:15671"
        );
        assert_eq!(
            b.common.password.as_ref().unwrap().value.expose_secret(),
            "p@ss"
        );
        assert_eq!(b.target(), "amqps://app@mq.internal:5673/orders%2Fprod");
    }

    #[test]
    fn defaults_are_tls_system_roots_port_5671_vhost_slash() {
        let (b, f) = judged("amqps://mq").unwrap();
        assert!(f.is_empty());
        assert_eq!(b.common.transport.tls.roots, Roots::System);
        assert_eq!(b.port.value, 5671);
        assert_eq!(b.vhost.value, "/");
        assert_eq!(b.user_name(), "guest");
        let (b, _) = judged("amqps://mq/%2F").unwrap();
        assert_eq!(b.vhost.value, "/");
        let (b, _) = judged("amqp://127.0.0.1").unwrap();
        assert_eq!(b.port.value, 5672);
    }

    #[test]
    fn weak_tls_is_tls_unverified_and_plaintext_elsewhere_is_high() {
        for url in [
            "amqps://app@mq/v?verify=verify_none",
            "amqps://app@mq/v?server_name_indication=disable",
        ] {
            let (_, f) = judged(url).unwrap();
            assert!(
                f.iter()
                    .any(|f| f.check == CheckId::TlsUnverified && f.severity == Severity::High),
                "{url}: {f:?}"
            );
        }
        let (_, f) = judged("amqp://app@mq.example.com/v").unwrap();
        assert!(
            f.iter()
                .any(|f| f.check == CheckId::TlsPlaintext && f.severity == Severity::High),
            "{f:?}"
        );
        let (b, _) = judged("amqps://app@10.0.0.5/v?server_name_indication=mq.internal").unwrap();
        assert_eq!(b.tls_name(), "mq.internal");
    }

    #[test]
    fn contradictions_and_bad_values_are_binding_invalid() {
        for (url, says) in [
            (
                "amqp://127.0.0.1/v?cacertfile=/ca.pem",
                "yet sets cacertfile",
            ),
            ("amqps://mq/v?verify=maybe", "verify_peer"),
            ("amqps://mq/v?heartbeat=soon", "seconds"),
            ("amqps://mq/v?management=http%3A%2F%2Fmq", "https://"),
            (
                "amqps://mq/v?server_name_indication=not%20a%20name",
                "host name",
            ),
            ("amqps://mq/v?frame_max=1", "does not read"),
        ] {
            let f = judged(url).unwrap_err();
            assert_eq!(f.check, CheckId::BindingInvalid, "{url}");
            assert!(f.message.contains(says), "{url}: {}", f.message);
        }
    }
}
