//! Connecting: verify-full TLS through attache's own rustls configuration, then lapin's AMQP
//! handshake over that stream; every failure mapped to the [`Failure`] that says what happened.
//!
//! # What lapin 4.12 does with TLS (read in its source and tcp-stream's)
//!
//! - `Connection::connect` with an `amqps://` URI asks tcp-stream for TLS. Which TLS depends
//!   on features: with `rustls` it adds the URI's roots to the platform verifier (so the
//!   system's CAs are trusted too); with only a crypto provider selected and no TLS backend,
//!   tcp-stream's `into_tls` returns the **plain** stream and lapin logs in in plaintext, PLAIN
//!   credentials and all, to an `amqps://` URI.
//! - attache uses neither path. Every connection, the inspection's and the app's, goes through
//!   [`Connection::connector`] with attache's own transport: a TCP connection, then
//!   `into_rustls` with a `RustlsConnector` made from core's [`TlsClient`] configuration
//!   (verify-full, exactly the binding's roots, TLS 1.2 or later, the client certificate). The
//!   AMQP protocol header and the login are written only on the verified stream; a certificate
//!   that fails is refused before a single AMQP byte leaves. `tests/amqp.rs` shows a plaintext
//!   AMQP impostor behind an `amqps://` binding receives no credential.
//! - `ConnectionProperties` keeps lapin's defaults: no automatic recovery (it would replay
//!   declarations), no connection name beyond attache's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use attache_core::tls::{TlsClient, TlsFacts};
use attache_core::{Binding as _, Failure};
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Connection, ConnectionProperties, ErrorKind};

use crate::binding::AmqpBinding;

/// The inspection connection. lapin closes a connection when it is dropped.
pub struct AmqpConn {
    /// The connection, logged in, in the binding's vhost.
    pub connection: Connection,
}

/// The lapin URI of a binding for `vhost`: its host, port, user and password, heartbeat, and
/// `connect_timeout` as lapin's connection timeout. The scheme is what core decided (`tls`).
pub fn uri(b: &AmqpBinding, vhost: &str, tls: bool, connect_timeout: Duration) -> AMQPUri {
    AMQPUri {
        scheme: if tls {
            AMQPScheme::AMQPS
        } else {
            AMQPScheme::AMQP
        },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: b.user_name().to_owned(),
                password: b
                    .common
                    .password
                    .as_ref()
                    .map(|p| p.value.expose_secret().to_owned())
                    .unwrap_or_else(|| {
                        // The user without a password: an empty one, never lapin's `guest`.
                        if b.user.is_some() {
                            String::new()
                        } else {
                            "guest".to_owned()
                        }
                    }),
            },
            host: b.host().to_owned(),
            port: b.port.value,
        },
        vhost: vhost.to_owned(),
        query: AMQPQueryString {
            heartbeat: b.heartbeat,
            connection_timeout: u64::try_from(connect_timeout.as_millis()).ok(),
            ..AMQPQueryString::default()
        },
    }
}

/// Connects as the binding's account to `vhost`: TCP, verify-full TLS with `tls` (unless core
/// allowed plaintext: `None`), then the AMQP handshake and login over that stream, all within
/// `timeout`. Returns the connection and the facts of its handshake.
pub async fn open(
    b: &AmqpBinding,
    vhost: &str,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Result<(Connection, Option<TlsFacts>), Failure> {
    let facts = Arc::new(Mutex::new(None));
    let connection = connection(b, vhost, tls, timeout, facts.clone()).await?;
    let facts = facts.lock().map(|mut f| f.take()).unwrap_or(None);
    if tls.is_some() && facts.is_none() {
        // Not reachable: the transport records the facts before returning a TLS stream.
        return Err(Failure::Handshake("no TLS session was recorded".into()));
    }
    Ok((connection, facts))
}

/// The connection behind [`open`] and the app's client: attache's transport under lapin.
pub async fn connection(
    b: &AmqpBinding,
    vhost: &str,
    tls: Option<&TlsClient>,
    timeout: Duration,
    facts: Arc<Mutex<Option<TlsFacts>>>,
) -> Result<Connection, Failure> {
    attache_core::tls::install_provider();
    let runtime = lapin::runtime::default_runtime().map_err(|e| failure(&e))?;
    let connector = tls.map(|t| RustlsConnector::from(t.config()));
    let name = b.tls_name().to_owned();
    let (host, port) = (b.host().to_owned(), b.port.value);
    let uri = uri(b, vhost, tls.is_some(), timeout);
    let transport = async move |_uri: AMQPUri, runtime| {
        // Resolved here: lapin's reactor connects to addresses only.
        let mut last = None;
        let mut connected = None;
        for addr in tokio::net::lookup_host((host.as_str(), port)).await? {
            match AsyncTcpStream::connect(&runtime, (addr.ip(), addr.port())).await {
                Ok(s) => {
                    connected = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = match (connected, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(e.into()),
            (None, None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} resolves to no address"),
                )
                .into());
            }
        };
        match &connector {
            None => Ok(stream),
            Some(connector) => {
                let stream = stream.into_rustls(connector, &name).await?;
                if let AsyncTcpStream::Rustls(tls) = &stream
                    && let Ok(mut slot) = facts.lock()
                {
                    *slot = Some(TlsFacts::of(tls.get_ref().1));
                }
                Ok(stream)
            }
        }
    };
    let properties = ConnectionProperties::default().with_connection_name("attache".into());
    match tokio::time::timeout(
        timeout,
        Connection::connector(uri, runtime, transport, properties),
    )
    .await
    {
        Err(_) => Err(Failure::TimedOut),
        Ok(Err(e)) => Err(failure(&e)),
        Ok(Ok(connection)) => Ok(connection),
    }
}

/// The one mapping of lapin's errors (connecting, logging in, opening the vhost) to what
/// happened: by AMQP reply code where the broker sent one, then TLS errors in the I/O error's
/// chain, then the I/O error's kind. lapin's errors never carry the password.
pub fn failure(err: &lapin::Error) -> Failure {
    match err.kind() {
        ErrorKind::ProtocolError(amqp) => {
            let said = amqp.get_message().to_string();
            match amqp.get_id() {
                // A refused login is connection-level yet carries the soft code 403.
                403 => Failure::AuthRefused(said),
                530 if said.contains("not found") => Failure::UnknownDatabase(said),
                530 => Failure::DatabaseDenied(said),
                code => Failure::Server(format!("{code} {said}")),
            }
        }
        ErrorKind::IOError(io) | ErrorKind::RuntimeShutdownError(io) => {
            if let Some(tls) = Failure::from_tls(&**io) {
                return tls;
            }
            let text = attache_core::failure::chain(&**io);
            if let Some(at) = text.find("invalid peer certificate") {
                return Failure::CertificateInvalid(text[at..].to_owned());
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Failure::TimedOut;
            }
            if text.contains("alert") || io.kind() == std::io::ErrorKind::InvalidData {
                return Failure::Handshake(text);
            }
            Failure::Unreachable(text)
        }
        ErrorKind::InvalidProtocolVersion(v) => {
            Failure::Server(format!("the server speaks AMQP {v:?}, not 0-9-1"))
        }
        ErrorKind::ParsingError(e) => {
            Failure::Unreachable(format!("the server's answer is not AMQP: {e}"))
        }
        ErrorKind::InvalidConnectionState(_) => Failure::Unreachable(
            "the server closed the connection during the handshake (a TLS-only port answering plaintext, or a broker refusing this client)".into(),
        ),
        _ => Failure::Server(err.to_string()),
    }
}

/// Whether `b`'s target differs from what a connection to `vhost` reaches (for messages).
pub fn target_in(b: &AmqpBinding, vhost: &str) -> String {
    let target = b.target();
    match target.rsplit_once('/') {
        Some((base, _)) => format!(
            "{base}/{}",
            percent_encoding::utf8_percent_encode(vhost, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::protocol::{AMQPError, AMQPErrorKind, AMQPHardError, AMQPSoftError};

    fn protocol(kind: AMQPErrorKind, message: &str) -> lapin::Error {
        ErrorKind::ProtocolError(AMQPError::new(kind, message.into())).into()
    }

    #[test]
    fn errors_map_by_reply_code_then_io() {
        let login = protocol(
            AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED),
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN",
        );
        assert!(matches!(failure(&login), Failure::AuthRefused(_)));
        let vhost = protocol(
            AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED),
            "NOT_ALLOWED - access to vhost 'x' refused for user 'app'",
        );
        assert!(matches!(failure(&vhost), Failure::DatabaseDenied(_)));
        let absent = protocol(
            AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED),
            "NOT_ALLOWED - vhost x not found",
        );
        assert!(matches!(failure(&absent), Failure::UnknownDatabase(_)));
        let refused: lapin::Error = ErrorKind::IOError(Arc::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )))
        .into();
        assert!(matches!(failure(&refused), Failure::Unreachable(_)));
        let cert: lapin::Error = ErrorKind::IOError(Arc::new(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        )))
        .into();
        assert_eq!(
            failure(&cert),
            Failure::CertificateInvalid("invalid peer certificate: UnknownIssuer".into())
        );
    }
}
