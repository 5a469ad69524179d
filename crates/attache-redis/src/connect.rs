//! Connecting: verify-full TLS through attache's own rustls client, then the redis-rs protocol
//! over that stream; every failure mapped to the [`Failure`] that says what happened.
//!
//! # What redis-rs 1.8 does with TLS (read in its source, `connection.rs`, `tls.rs`, `aio/tokio.rs`)
//!
//! - TLS only with `rediss://` (or `ConnectionAddr::TcpTls`); `redis://` is plaintext.
//! - It builds its own `rustls::ClientConfig` for every connection (`create_rustls_config`)
//!   with `ClientConfig::builder()`, i.e. the process's default crypto provider (attache
//!   installs aws-lc-rs) and rustls's default protocol versions (TLS 1.3 and 1.2). It cannot be
//!   handed a ready `ClientConfig`.
//! - Roots: with `TlsCertificates::root_cert` it trusts exactly those certificates (they
//!   replace the system roots, they are not added to them); without, the system store through
//!   rustls-native-certs (webpki-roots only with its `tls-rustls-webpki-roots` feature, which
//!   attache does not enable). It loads the system store even when a CA is given, and fails the
//!   connection if that load reports any error.
//! - Verification: rustls's `WebPkiServerVerifier` (chain, validity dates, and the host name or
//!   IP address as `ServerName`), the same as attache's. Client certificates through
//!   `ClientTlsConfig` (`with_client_auth_cert`).
//! - The URL fragment `#insecure` (and `set_danger_accept_invalid_hostnames`) swap in a verifier
//!   that accepts anything, but only when its `tls-rustls-insecure` feature is on; without it such
//!   a client fails to build. attache does not enable that feature, never passes a URL to
//!   redis-rs (it builds the `ConnectionAddr` itself, `insecure: false`), and reports
//!   `#insecure` in a binding as `tls-unverified`.
//! - AUTH is the first command redis-rs sends once the stream is up (`AUTH user pass`, or
//!   `HELLO` for RESP3), followed by `CLIENT SETINFO` unless skipped.
//!
//! So attache does not rely on redis-rs to verify before credentials leave: the inspection
//! connection is attache's own TCP connection and [`TlsClient::handshake`] (verify-full,
//! recording [`TlsFacts`]), and only the verified stream is handed to
//! `MultiplexedConnection::new_with_config`, which then sends AUTH over it. A certificate that
//! fails is refused before a single protocol byte is written. The app's client
//! ([`crate::Redis`]'s `ConnectionManager`), which must reconnect by itself, uses redis-rs's own
//! TLS with the same CA and client certificate, which verifies the same way (tested against a
//! man in the middle in `tests/redis.rs`).

use std::io;
use std::time::Duration;

use attache_core::tls::{Roots, TlsClient, TlsFacts};
use attache_core::{Binding as _, CheckId, Failure, Finding, Severity};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ClientTlsConfig, ConnectionAddr, ConnectionInfo, ErrorKind,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, TlsCertificates,
};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::binding::RedisBinding;

/// An inspection connection: the multiplexed connection, the task driving its socket (aborted
/// on drop), and what `ACL WHOAMI` answered.
pub struct RedisConn {
    conn: MultiplexedConnection,
    task: JoinHandle<()>,
    /// `ACL WHOAMI`: the account's name, or the server's refusal.
    pub whoami: Result<String, String>,
}

impl Drop for RedisConn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisConn {
    /// The connection.
    pub fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }
}

/// The redis-rs login settings of a binding: user, password, database, and no `CLIENT SETINFO`
/// (a least-privileged account may not run it, and every refusal lands in the server's ACL LOG).
///
/// A user without a password is sent with an empty one: redis-rs would otherwise send no AUTH
/// at all and the connection would silently be `default`'s.
pub fn redis_info(b: &RedisBinding) -> RedisConnectionInfo {
    let mut info = RedisConnectionInfo::default()
        .set_db(b.db.value)
        .set_skip_set_lib_name();
    if let Some(user) = &b.user {
        info = info.set_username(&user.value);
    }
    match &b.common.password {
        Some(pw) => info = info.set_password(pw.value.expose_secret()),
        None if b.user.is_some() => info = info.set_password(""),
        None => {}
    }
    info
}

/// The redis-rs address and login of a binding, for the app's client: TLS (never `insecure`)
/// unless core allowed plaintext (`tls` false).
pub fn connection_info(b: &RedisBinding, tls: bool) -> Result<ConnectionInfo, RedisError> {
    let host = b.host().to_owned();
    let addr = if tls {
        ConnectionAddr::TcpTls {
            host,
            port: b.port.value,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(host, b.port.value)
    };
    Ok(addr
        .into_connection_info()?
        .set_redis_settings(redis_info(b)))
}

/// The binding's CA and client certificate as redis-rs takes them (PEM bytes). A file that
/// cannot be read is a [`Failure::BindingFile`] naming the field and its source.
pub fn tls_certificates(b: &RedisBinding) -> Result<TlsCertificates, Failure> {
    let read = |path: &std::path::Path, field: &'static str, source: &attache_core::Source| {
        std::fs::read(path).map_err(|e| Failure::BindingFile {
            field,
            source: source.clone(),
            why: format!("cannot read {}: {}", path.display(), e.kind()),
        })
    };
    let tls = &b.common.transport.tls;
    let root_cert = match &tls.roots {
        Roots::System => None,
        Roots::PemFile(f) => Some(read(&f.value, "CA certificate", &f.source)?),
    };
    let client_tls = match &tls.identity {
        None => None,
        Some(id) => Some(ClientTlsConfig {
            client_cert: read(&id.cert.value, "client certificate", &id.cert.source)?,
            client_key: read(&id.key.value, "client key", &id.key.source)?,
        }),
    };
    Ok(TlsCertificates {
        client_tls,
        root_cert,
    })
}

async fn tcp(b: &RedisBinding) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect((b.host(), b.port.value))
        .await
        .map_err(|e| Failure::Unreachable(format!("cannot connect: {e}")))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects as the binding's account: TCP, verify-full TLS ([`TlsClient::handshake`]) unless
/// core allowed plaintext (`tls` is `None`), then AUTH over the verified stream, then `ACL
/// WHOAMI`. Returns the connection and the facts of the handshake.
pub async fn open(
    b: &RedisBinding,
    tls: Option<&TlsClient>,
    response_timeout: Duration,
) -> Result<(RedisConn, Option<TlsFacts>), Failure> {
    let stream = tcp(b).await?;
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(response_timeout));
    let info = redis_info(b);
    let (conn, driver, facts) = match tls {
        None => {
            let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
                .await
                .map_err(|e| failure(&e))?;
            (conn, tokio::spawn(driver), None)
        }
        Some(client) => {
            let (tls, facts) = client
                .handshake(b.host(), stream)
                .await
                .map_err(|e| handshake_failure(&e))?;
            let (conn, driver) = MultiplexedConnection::new_with_config(&info, tls, config)
                .await
                .map_err(|e| failure(&e))?;
            (conn, tokio::spawn(driver), Some(facts))
        }
    };
    let mut conn = RedisConn {
        conn,
        task: driver,
        whoami: Err(String::new()),
    };
    let whoami = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async::<String>(&mut conn.conn)
        .await;
    conn.whoami = match whoami {
        Ok(name) => Ok(name),
        Err(e) if e.code() == Some("NOPERM") => Err(server_message(&e)),
        Err(e) => return Err(failure(&e)),
    };
    Ok((conn, facts))
}

/// The server's error as it said it (`NOPERM this user has no permissions …`).
pub fn server_message(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => e.to_string(),
    }
}

/// Whether the server lets a client in without any credential: a separate connection (the same
/// verify-full TLS) sends `PING` without AUTH. `PONG` means the `default` user is on with
/// `nopass`: `cred-empty`, critical. `NOPERM` means it is on but may not run PING: still
/// `cred-empty`, what else it may run is unknown. `NOAUTH` is what a server should answer.
pub async fn unauthenticated_login(
    b: &RedisBinding,
    resource: &str,
    tls: Option<&TlsClient>,
    timeout: Duration,
) -> Option<Finding> {
    let stream = tcp(b).await.ok()?;
    let info = RedisConnectionInfo::default().set_skip_set_lib_name();
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(timeout));
    let (mut conn, task) = match tls {
        Some(client) => {
            let (stream, _) = client.handshake(b.host(), stream).await.ok()?;
            let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
                .await
                .ok()?;
            (conn, tokio::spawn(driver))
        }
        None => {
            let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
                .await
                .ok()?;
            (conn, tokio::spawn(driver))
        }
    };
    let answer = redis::cmd("PING").query_async::<String>(&mut conn).await;
    task.abort();
    let target = b.target();
    let remedy = "turn the default user off (`ACL SETUSER default off`, and `user default off` in \
                  redis.conf or the aclfile) and give every client its own user with a password";
    match answer {
        Ok(_) => Some(
            Finding::new(
                CheckId::CredEmpty,
                Severity::Critical,
                resource,
                format!(
                    "{target}: the server answered a client that sent no credential at all (the `default` user is on with nopass)"
                ),
                remedy,
            )
            .with_evidence(["PING without AUTH answered PONG"]),
        ),
        Err(e) if e.code() == Some("NOPERM") => Some(
            Finding::new(
                CheckId::CredEmpty,
                Severity::Medium,
                resource,
                format!(
                    "{target}: the server lets a client in without any credential, as user `default` (nopass); its ACL denied PING, what else it allows is unknown"
                ),
                remedy,
            )
            .with_evidence([format!("PING without AUTH: {}", server_message(&e))]),
        ),
        Err(_) => None,
    }
}

/// A failed TLS handshake of attache's own client. Nothing was sent.
fn handshake_failure(err: &io::Error) -> Failure {
    Failure::from_tls(err).unwrap_or_else(|| Failure::Handshake(err.to_string()))
}

/// The one mapping of redis-rs's errors (login, first command, or building the app's client)
/// to what happened: by error kind and the server's error code where there is one. redis-rs
/// keeps an I/O error behind an `Arc`, which hides rustls's error from the source chain; its
/// text is matched here, and only here, for a certificate rustls refused (the app's client
/// against a man in the middle, `tests/redis.rs`) and for an alert after the handshake (a
/// server demanding a client certificate). redis-rs's errors never carry the password.
pub fn failure(err: &RedisError) -> Failure {
    if err.kind() == ErrorKind::AuthenticationFailed || err.code() == Some("WRONGPASS") {
        // Redis says no more than WRONGPASS, for any of the three causes.
        return Failure::AuthRefused(
            "wrong password, or the user is off or does not exist".to_owned(),
        );
    }
    if err.code() == Some("NOAUTH") {
        return Failure::PasswordRequired;
    }
    if let Some(tls) = Failure::from_tls(err) {
        return tls;
    }
    let text = attache_core::failure::chain(err);
    if let Some(at) = text.find("invalid peer certificate") {
        return Failure::CertificateInvalid(text[at..].to_owned());
    }
    if text.contains("alert") || text.contains("CertificateRequired") {
        return Failure::Handshake(text);
    }
    if err.is_timeout() {
        return Failure::TimedOut;
    }
    Failure::Unreachable(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_by_kind_and_code_before_text() {
        let wrong: RedisError = (ErrorKind::AuthenticationFailed, "WRONGPASS").into();
        assert!(matches!(failure(&wrong), Failure::AuthRefused(_)));
        let io = io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            failure(&RedisError::from(io)),
            Failure::CertificateInvalid("invalid peer certificate: UnknownIssuer".into())
        );
        let io = io::Error::other("received fatal alert: CertificateRequired");
        assert!(matches!(
            failure(&RedisError::from(io)),
            Failure::Handshake(_)
        ));
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        assert!(matches!(
            failure(&RedisError::from(io)),
            Failure::Unreachable(_)
        ));
    }
}
