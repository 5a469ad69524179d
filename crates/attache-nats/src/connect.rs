//! Connecting: attache's own look at the server first, then async-nats over verify-full TLS.
//!
//! # What async-nats 0.50 does with TLS (read in its source, `connector.rs`, `tls.rs`)
//!
//! - A NATS server speaks first, in plaintext: an `INFO` line saying whether it requires TLS.
//!   async-nats upgrades only when the URL is `tls://`, `require_tls(true)` is set, or that
//!   plaintext `INFO` says `tls_required`. With a TLS configuration alone, against a server
//!   that does not ask for TLS (or a man in the middle that strips `tls_required`), it logs in
//!   in plaintext.
//! - Native roots are loaded even when a `ClientConfig` is given, and a load error fails the
//!   connection. `retry_on_initial_connect` makes `connect` succeed before anything is
//!   connected; attache never sets it.
//!
//! So attache first opens a connection of its own ([`preflight`]): it reads the `INFO`, refuses
//! a server that offers no TLS (nothing is sent to it: no `CONNECT`, no credential), runs the
//! verify-full handshake with core's [`TlsClient`] and records its facts, and closes. Only then
//! does async-nats connect, with `require_tls(true)` and the same rustls configuration, so it
//! upgrades before `CONNECT` whatever the `INFO` says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions, Event, ServerError};
use attache_core::tls::{TlsClient, TlsFacts};
use attache_core::{Binding as _, Failure};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::binding::NatsBinding;

/// The fields of a server's `INFO` attache reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Info {
    /// Its version.
    #[serde(default)]
    pub version: String,
    /// Whether clients must authenticate.
    #[serde(default)]
    pub auth_required: bool,
    /// Whether clients must upgrade to TLS.
    #[serde(default)]
    pub tls_required: bool,
    /// Whether clients may upgrade to TLS.
    #[serde(default)]
    pub tls_available: bool,
}

/// What the preflight saw.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The server's `INFO`.
    pub info: Info,
    /// The facts of the handshake (`None` for a plaintext binding core allowed).
    pub tls: Option<TlsFacts>,
}

/// Reads the server's `INFO` line (at most 64 KiB).
pub async fn read_info(stream: &mut TcpStream) -> Result<Info, Failure> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        if line.len() > 64 * 1024 {
            return Err(Failure::Unreachable(
                "the server's first line is not a NATS INFO".into(),
            ));
        }
        let n = stream
            .read(&mut byte)
            .await
            .map_err(|e| Failure::unreachable(&e))?;
        if n == 0 {
            return Err(Failure::Unreachable(
                "the server closed the connection before its INFO".into(),
            ));
        }
        line.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&line);
    let json = text
        .trim_end()
        .strip_prefix("INFO ")
        .ok_or_else(|| Failure::Unreachable("the server's first line is not a NATS INFO".into()))?;
    serde_json::from_str(json)
        .map_err(|e| Failure::Unreachable(format!("the server's INFO does not parse: {e}")))
}

/// attache's own first connection: the server's `INFO`, then the verify-full handshake (for a
/// TLS binding), then close. A server that offers no TLS gets nothing at all.
pub async fn preflight(
    b: &NatsBinding,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Result<Preflight, Failure> {
    let run = async {
        let mut stream = TcpStream::connect((b.host(), b.port.value))
            .await
            .map_err(|e| Failure::Unreachable(format!("cannot connect: {e}")))?;
        let info = read_info(&mut stream).await?;
        match tls {
            None => {
                if info.tls_required {
                    return Err(Failure::Unreachable(
                        "the server requires TLS and the binding asks for plaintext".into(),
                    ));
                }
                Ok(Preflight { info, tls: None })
            }
            Some(client) => {
                if !info.tls_required && !info.tls_available {
                    return Err(Failure::TlsDeclined(
                        "its INFO offers no TLS (neither tls_required nor tls_available)".into(),
                    ));
                }
                let (_, facts) = client.handshake(b.host(), stream).await.map_err(|e| {
                    Failure::from_tls(&e).unwrap_or_else(|| Failure::Handshake(e.to_string()))
                })?;
                Ok(Preflight {
                    info,
                    tls: Some(facts),
                })
            }
        }
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or(Err(Failure::TimedOut))
}

/// The server errors a connection received (permission violations), for inspection.
pub type Errors = Arc<Mutex<Vec<String>>>;

/// The async-nats options of a binding: its credentials (a token when there is a password and
/// no user), TLS required with `tls`'s configuration unless core allowed plaintext, the
/// connection and request timeouts, an inbox prefix of the account's own (`_INBOX.<user>`), and every server
/// error recorded in `errors`.
pub fn options(
    b: &NatsBinding,
    tls: Option<&TlsClient>,
    timeout: Duration,
    request_timeout: Duration,
    errors: Option<Errors>,
) -> ConnectOptions {
    let password = b
        .common
        .password
        .as_ref()
        .map(|p| p.value.expose_secret().to_owned());
    let mut options = match (b.user(), password) {
        (Some(user), Some(pw)) => ConnectOptions::with_user_and_password(user.to_owned(), pw),
        (Some(user), None) => {
            ConnectOptions::with_user_and_password(user.to_owned(), String::new())
        }
        (None, Some(token)) => ConnectOptions::with_token(token),
        (None, None) => ConnectOptions::new(),
    };
    options = options
        .name("attache")
        .connection_timeout(timeout)
        .request_timeout(Some(request_timeout))
        .custom_inbox_prefix(inbox_prefix(b));
    if let Some(client) = tls {
        options = options
            .require_tls(true)
            .tls_client_config((*client.config()).clone());
    }
    if let Some(errors) = errors {
        options = options.event_callback(move |event| {
            let errors = errors.clone();
            async move {
                if let Event::ServerError(ServerError::Other(text)) = event
                    && let Ok(mut e) = errors.lock()
                {
                    e.push(text);
                }
            }
        });
    }
    options
}

/// The inbox prefix of the binding's account: `_INBOX.<user>` (or `_INBOX` without a user).
pub fn inbox_prefix(b: &NatsBinding) -> String {
    match b.user() {
        Some(user) => format!("_INBOX.{user}"),
        None => "_INBOX".to_owned(),
    }
}

/// Connects with async-nats as the binding's account.
pub async fn client(
    b: &NatsBinding,
    tls: Option<&TlsClient>,
    timeout: Duration,
    request_timeout: Duration,
    errors: Option<Errors>,
) -> Result<async_nats::Client, Failure> {
    attache_core::tls::install_provider();
    let scheme = if tls.is_some() { "tls" } else { "nats" };
    let url = format!("{scheme}://{}:{}", b.host(), b.port.value);
    let connect = options(b, tls, timeout, request_timeout, errors).connect(url);
    match tokio::time::timeout(timeout + Duration::from_secs(1), connect).await {
        Err(_) => Err(Failure::TimedOut),
        Ok(Err(e)) => Err(failure(&e)),
        Ok(Ok(client)) => Ok(client),
    }
}

/// The one mapping of async-nats's connection errors to what happened, by kind, then TLS
/// errors in the chain. async-nats's errors never carry the password.
pub fn failure(err: &async_nats::ConnectError) -> Failure {
    match err.kind() {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            Failure::AuthRefused("Authorization Violation".into())
        }
        ConnectErrorKind::TimedOut => Failure::TimedOut,
        ConnectErrorKind::Tls => Failure::from_tls(err).unwrap_or_else(|| {
            let text = attache_core::failure::chain(err);
            match text.find("invalid peer certificate") {
                Some(at) => Failure::CertificateInvalid(text[at..].to_owned()),
                None => Failure::Handshake(text),
            }
        }),
        _ => Failure::Unreachable(attache_core::failure::chain(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_default_to_false() {
        let info: Info = serde_json::from_str(r#"{"server_id":"x","version":"2.10.0"}"#).unwrap();
        assert!(!info.tls_required && !info.tls_available && !info.auth_required);
        let info: Info =
            serde_json::from_str(r#"{"tls_required":true,"auth_required":true}"#).unwrap();
        assert!(info.tls_required && info.auth_required);
    }
}
