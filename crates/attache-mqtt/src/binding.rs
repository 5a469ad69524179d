//! MQTT bindings: URLs (`mqtts://user@host:port/?cafile=…&client_id=…`) and servicebinding.io
//! fields (`type` = `mqtt` or `mosquitto`, `host`, `port`, `username`, `password`, `ca.crt`,
//! `tls.crt`, `tls.key`, `client_id`).
//!
//! - `mqtts://` is TLS, verified in full: the chain to the binding's CA (`cafile`, `ca.crt`)
//!   or the system roots, and the host name or IP address. Port 8883 by default.
//! - `mqtt://` is plaintext (port 1883): tolerated to a loopback address (reported as
//!   `info`), refused elsewhere (`high`, no connection attempted, no credential sent).
//! - Query parameters, in the words of Mosquitto's own clients and configuration: `cafile`,
//!   `certfile`, `keyfile` (a client certificate), `insecure` (`true` turns the host name check
//!   off, as `mosquitto_sub --insecure` does: `tls-unverified`), and `client_id`: the client
//!   id the app's connection uses. Without one the app's client takes a fresh random id per
//!   connection; attache's own probes always do (a second connection with the app's id would
//!   take the app's session over and disconnect it).
//! - MQTT URLs have no path: a path is `binding-invalid`.
//!
//! No error names a value taken from the URL: a password that was not percent-encoded can end
//! up in any part of it.

use attache_core::binding::{Binding, BindingInput, Common, UrlShape};
use attache_core::transport::{TlsAsk, TlsMode};
use attache_core::{Finding, Host, Kind, Source, Sourced};

/// The query parameters attache reads.
pub const PARAMETERS: &[&str] = &["cafile", "certfile", "keyfile", "insecure", "client_id"];

/// How an MQTT URL looks, for core's shared reader.
pub const URL: UrlShape = UrlShape {
    schemes: &["mqtts", "mqtt"],
    example: "mqtts://[user[:password]@]host[:port][/][?cafile=…&client_id=…] (TLS), or mqtt:// (plaintext, loopback only)",
    path: "path",
    params: PARAMETERS,
    canonical: None,
    fragment: false,
    fields: &[("client_id", "client_id")],
};

/// A parsed MQTT binding. Its `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct MqttBinding {
    /// Broker port.
    pub port: Sourced<u16>,
    /// User name; `None` connects without one.
    pub user: Option<Sourced<String>>,
    /// The client id the app's connection uses, if the binding fixes one.
    pub client_id: Option<Sourced<String>>,
    /// The host, the TLS settings and material, the password, where the binding came from.
    pub common: Common,
}

impl MqttBinding {
    /// The broker's DNS name or IP address (an MQTT binding never names a unix socket).
    pub fn host(&self) -> &str {
        self.common.transport.tcp_host()
    }

    /// Whether the binding asks for plaintext (`mqtt://`).
    pub fn plaintext(&self) -> bool {
        self.common.transport.is_plaintext()
    }

    /// The user and password to log in with, if the binding names a user (MQTT sends a
    /// password only with a user name).
    pub fn credentials(&self) -> Option<(String, String)> {
        let user = self.user.as_ref()?;
        let password = self
            .common
            .password
            .as_ref()
            .map(|p| p.value.expose_secret().to_owned())
            .unwrap_or_default();
        Some((user.value.clone(), password))
    }
}

impl Binding for MqttBinding {
    fn parse(input: BindingInput) -> Result<MqttBinding, Finding> {
        let params = input.read(&URL, <crate::Mqtt as Kind>::SURFACE.binding_types)?;
        let tls_on = match &params.scheme {
            Some(s) => Sourced::new(s.value == "mqtts", s.source.clone()),
            None => Sourced::new(true, Source::Default),
        };
        let words = match (&tls_on.source, tls_on.value) {
            (Source::Default, _) => "TLS (attache's default)",
            (_, true) => "mqtts://",
            (_, false) => "mqtt://",
        };
        let mode = if tls_on.value {
            TlsMode::VerifyFull
        } else {
            TlsMode::Plaintext
        };
        let mut asks = vec![TlsAsk::new(mode, words, tls_on.source.clone())];
        if let Some(v) = params.get("insecure") {
            match v.value.to_ascii_lowercase().as_str() {
                "true" | "1" => asks.push(TlsAsk::new(
                    TlsMode::NoHostCheck,
                    "insecure=true",
                    v.source.clone(),
                )),
                "false" | "0" | "" => {}
                _ => {
                    return Err(input.invalid(
                        "insecure",
                        &v.source,
                        "expected false (or leave it out)",
                    ));
                }
            }
        }
        if let Some(p) = params.value("path") {
            return Err(input.invalid(
                "path",
                &p.source,
                "an MQTT URL has no path; topics are the manifest's needs",
            ));
        }
        let client_id = match params.get("client_id") {
            None => None,
            Some(id) if id.value.is_empty() => None,
            Some(id) if id.value.len() > 65_535 || id.value.chars().any(char::is_control) => {
                return Err(input.invalid(
                    "client_id",
                    &id.source,
                    "expected an MQTT client id (up to 65535 bytes, no control characters)",
                ));
            }
            Some(id) => Some(id.clone()),
        };
        let host = params.host(&input)?;
        if let Host::Socket(_) = host.value {
            return Err(input.invalid(
                "host",
                &host.source,
                "attache binds MQTT over TCP only; bind a TCP host with mqtts://",
            ));
        }
        let port = params.port(&input, if tls_on.value { 8883 } else { 1883 })?;
        let user = params.value("user").cloned();
        input.refuse_tls_in_plaintext(
            &params,
            &tls_on.clone().map(|on| !on),
            &PARAMETERS[..4],
            "use mqtts://",
        )?;
        let mut params = params;
        Ok(MqttBinding {
            port,
            user,
            client_id,
            common: params.common(&input, host, asks, ["cafile", "certfile", "keyfile"])?,
        })
    }
    fn common(&self) -> &Common {
        &self.common
    }
    fn target(&self) -> String {
        let scheme = if self.plaintext() { "mqtt" } else { "mqtts" };
        self.common
            .transport
            .target(scheme, self.user(), self.port.value, "")
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

    attache_testkit::binding_suite!(crate::Mqtt, attache_testkit::MosquittoServer; "broker" in "BROKER_URL");

    #[test]
    fn mqtts_url_with_everything() {
        let (b, f) = judged(
            "mqtts://app:p%40ss@mq.internal:8884/?cafile=/ca.pem&certfile=/c.pem&keyfile=/k.pem&insecure=false&client_id=orders-7",
        )
        .unwrap();
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(b.host(), "mq.internal");
        assert_eq!(b.port.value, 8884);
        assert_eq!(b.client_id.as_ref().unwrap().value, "orders-7");
        assert_eq!(b.credentials(), Some(("app".to_owned(), "p@ss".to_owned())));
        assert_eq!(b.target(), "mqtts://app@mq.internal:8884/");
        assert!(b.common.transport.tls.identity.is_some());
    }

    #[test]
    fn defaults_are_tls_system_roots_port_8883_and_no_client_id() {
        let (b, f) = judged("mqtts://mq").unwrap();
        assert!(f.is_empty());
        assert_eq!(b.common.transport.tls.roots, Roots::System);
        assert_eq!(b.port.value, 8883);
        assert!(b.client_id.is_none() && b.user.is_none());
        assert_eq!(b.credentials(), None);
        let (b, _) = judged("mqtt://127.0.0.1").unwrap();
        assert_eq!(b.port.value, 1883);
    }

    #[test]
    fn insecure_is_tls_unverified_and_plaintext_elsewhere_is_high() {
        for url in ["mqtts://app@mq/?insecure=true", "mqtts://app@mq?insecure=1"] {
            let (_, f) = judged(url).unwrap();
            assert!(
                f.iter()
                    .any(|f| f.check == CheckId::TlsUnverified && f.severity == Severity::High),
                "{url}: {f:?}"
            );
        }
        let (_, f) = judged("mqtt://app@mq.example.com").unwrap();
        assert!(
            f.iter()
                .any(|f| f.check == CheckId::TlsPlaintext && f.severity == Severity::High),
            "{f:?}"
        );
    }

    #[test]
    fn contradictions_and_bad_values_are_binding_invalid() {
        for (url, says) in [
            ("mqtt://127.0.0.1/?cafile=/ca.pem", "yet sets cafile"),
            ("mqtts://mq/?insecure=maybe", "expected false"),
            ("mqtts://mq/topics", "no path"),
            ("mqtts://mq/?client_id=a%0Ab", "client id"),
            ("mqtts://mq/?keep_alive=1", "does not read"),
        ] {
            let f = judged(url).unwrap_err();
            assert_eq!(f.check, CheckId::BindingInvalid, "{url}");
            assert!(f.message.contains(says), "{url}: {}", f.message);
        }
    }
}
