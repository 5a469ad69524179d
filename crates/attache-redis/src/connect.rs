//! Connecting: verify-full TLS through attache's own rustls client, then the redis-rs protocol
//! over that stream; every failure turned into a finding that names the resource.
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

use attache_core::tls::{Roots, TlsClient, TlsFacts, certificate_failure, tls_failure};
use attache_core::{Binding as _, CheckId, Finding, Severity};
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
    match &b.password {
        Some(pw) => info = info.set_password(pw.value.expose_secret()),
        None if b.user.is_some() => info = info.set_password(""),
        None => {}
    }
    info
}

/// The redis-rs address and login of a binding, for the app's client. TLS is never `insecure`.
pub fn connection_info(b: &RedisBinding) -> Result<ConnectionInfo, RedisError> {
    let addr = if b.plaintext {
        ConnectionAddr::Tcp(b.host.value.clone(), b.port.value)
    } else {
        ConnectionAddr::TcpTls {
            host: b.host.value.clone(),
            port: b.port.value,
            insecure: false,
            tls_params: None,
        }
    };
    Ok(addr
        .into_connection_info()?
        .set_redis_settings(redis_info(b)))
}

/// The binding's CA and client certificate as redis-rs takes them (PEM bytes). A file that
/// cannot be read is `binding-invalid`, naming the field and its source.
pub fn tls_certificates(b: &RedisBinding, resource: &str) -> Result<TlsCertificates, Finding> {
    let read = |path: &std::path::Path, field: &str, source: &attache_core::Source| {
        std::fs::read(path).map_err(|e| {
            attache_core::discover::binding_invalid(
                resource,
                field,
                source,
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })
    };
    let root_cert = match &b.tls.roots {
        Roots::System => None,
        Roots::PemFile(f) => Some(read(&f.value, "CA certificate", &f.source)?),
    };
    let client_tls = match &b.tls.identity {
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

async fn tcp(b: &RedisBinding, resource: &str) -> Result<TcpStream, Finding> {
    let stream = TcpStream::connect((b.host.value.as_str(), b.port.value))
        .await
        .map_err(|e| {
            Finding::new(
                CheckId::Unreachable,
                Severity::High,
                resource,
                format!("{}: cannot connect: {e}", b.target()),
                "check the host and port in the binding and that the server is up and reachable from here",
            )
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Connects as the binding's account: TCP, verify-full TLS ([`TlsClient::handshake`]), then
/// AUTH over the verified stream, then `ACL WHOAMI`. Returns the connection and the facts of
/// the handshake (`None` for plaintext to loopback).
pub async fn open(
    b: &RedisBinding,
    resource: &str,
    response_timeout: Duration,
) -> Result<(RedisConn, Option<TlsFacts>), Finding> {
    let stream = tcp(b, resource).await?;
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(response_timeout));
    let info = redis_info(b);
    let failed = |e: RedisError| connect_failure(resource, b, &e);
    let (conn, driver, facts) = if b.plaintext {
        let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
            .await
            .map_err(failed)?;
        (conn, tokio::spawn(driver), None)
    } else {
        let client = b.tls.client(resource)?;
        let (tls, facts) = client
            .handshake(&b.host.value, stream)
            .await
            .map_err(|e| handshake_failure(resource, b, &e))?;
        let (conn, driver) = MultiplexedConnection::new_with_config(&info, tls, config)
            .await
            .map_err(failed)?;
        (conn, tokio::spawn(driver), Some(facts))
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
        Err(e) => return Err(failed(e)),
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
    let stream = tcp(b, resource).await.ok()?;
    let info = RedisConnectionInfo::default().set_skip_set_lib_name();
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(timeout));
    let (mut conn, task) = match tls {
        Some(client) => {
            let (stream, _) = client.handshake(&b.host.value, stream).await.ok()?;
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

fn where_ca(b: &RedisBinding) -> String {
    match &b.tls.roots {
        Roots::System => "the system trust store".to_owned(),
        Roots::PemFile(f) => format!("{} ({})", f.value.display(), f.source),
    }
}

fn tls_remedy(b: &RedisBinding) -> &'static str {
    if b.tls.identity.is_none() {
        "check that the server speaks TLS 1.2 or later on this port; if it demands a client \
         certificate (tls-auth-clients yes), give the binding one (tls.crt and tls.key, or \
         ssl_certfile and ssl_keyfile)"
    } else {
        "check that the server speaks TLS 1.2 or later on this port and that it trusts the CA \
         that signed the binding's client certificate (tls-ca-cert-file)"
    }
}

/// Turns a failed TLS handshake into the finding that says what happened. Nothing was sent.
pub fn handshake_failure(resource: &str, b: &RedisBinding, err: &io::Error) -> Finding {
    let target = b.target();
    if let Some(why) = certificate_failure(err) {
        return Finding::new(
            CheckId::TlsCertInvalid,
            Severity::High,
            resource,
            format!("{target}: {why}; attache refused the connection and sent no credentials"),
            "give the binding the CA that signed the server's certificate (ssl_ca_certs / ca.crt), and make sure the certificate names the host in the binding and is in date",
        )
        .with_evidence([format!("CA from {}", where_ca(b))]);
    }
    let why = tls_failure(err).unwrap_or_else(|| err.to_string());
    Finding::new(
        CheckId::Unreachable,
        Severity::High,
        resource,
        format!("{target}: the TLS handshake failed: {why}"),
        tls_remedy(b),
    )
}

/// Turns a failure of redis-rs (login, first command, or building the app's client) into a
/// finding. redis-rs's errors never carry the password.
pub fn connect_failure(resource: &str, b: &RedisBinding, err: &RedisError) -> Finding {
    let target = b.target();
    let user = b.user_name();
    if err.kind() == ErrorKind::AuthenticationFailed || err.code() == Some("WRONGPASS") {
        let message = if b.password.is_none() {
            format!(
                "{target}: the server refused user {user} with no password (the binding has none)"
            )
        } else {
            format!(
                "{target}: the server refused the credentials of user {user} (wrong password, or the user is off or does not exist)"
            )
        };
        return Finding::new(
            CheckId::AuthFailed,
            Severity::High,
            resource,
            message,
            "check the user and password in the binding (a rotated password may not be deployed yet) and that the user is `on` (ACL GETUSER as an admin)",
        );
    }
    if err.code() == Some("NOAUTH") {
        return Finding::new(
            CheckId::AuthFailed,
            Severity::High,
            resource,
            format!("{target}: the server asked for a password and the binding has none"),
            "give the password in a file named by <NAME>_PASSWORD_FILE or the service binding's password file",
        );
    }
    let text = error_chain(err);
    // redis-rs keeps the I/O error behind an `Arc`, which hides rustls's error from the source
    // chain: fall back to its text.
    let why = certificate_failure(err).or_else(|| {
        text.find("invalid peer certificate")
            .map(|at| text[at..].to_owned())
    });
    if let Some(why) = why {
        return Finding::new(
            CheckId::TlsCertInvalid,
            Severity::High,
            resource,
            format!("{target}: {why}; the connection was refused"),
            "give the binding the CA that signed the server's certificate (ssl_ca_certs / ca.crt), and make sure the certificate names the host in the binding and is in date",
        )
        .with_evidence([format!("CA from {}", where_ca(b))]);
    }
    if let Some(why) = tls_failure(err).or_else(|| {
        (text.contains("alert") || text.contains("CertificateRequired")).then(|| text.clone())
    }) {
        return Finding::new(
            CheckId::Unreachable,
            Severity::High,
            resource,
            format!("{target}: TLS failed after the handshake: {why}"),
            tls_remedy(b),
        );
    }
    if err.is_timeout() {
        return Finding::new(
            CheckId::Unreachable,
            Severity::High,
            resource,
            format!("{target}: the server did not answer in time"),
            "check that the server is up and speaks the Redis protocol on this port (with TLS for rediss://); raise policy.connect_timeout if the network is slow",
        );
    }
    Finding::new(
        CheckId::Unreachable,
        Severity::High,
        resource,
        format!("{target}: {text}"),
        if b.plaintext {
            "check the host and port; a server that only speaks TLS closes a plaintext connection: use rediss://"
        } else {
            "check the host and port in the binding and that the server is up and reachable from here"
        },
    )
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
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
