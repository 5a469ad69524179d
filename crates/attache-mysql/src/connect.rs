//! Connecting: a pre-flight TLS probe with attache's own verifier, then the real connection with
//! mysql_async under the same roots, and every failure mapped to the [`Failure`] that says what
//! happened.
//!
//! # What mysql_async 0.37 does with TLS (read in its source, `src/io/tls/rustls_io.rs` and
//! `src/conn/mod.rs`)
//!
//! - No TLS at all unless `SslOpts` are set. With them set, it refuses a server whose greeting
//!   lacks `CLIENT_SSL` (`DriverError::NoClientSslFlagFromServer`) before it sends anything:
//!   no downgrade.
//! - It builds its own rustls `ClientConfig` per connection (`ClientConfig::builder()`, so the
//!   process's default provider — attache installs aws-lc-rs — and rustls' default protocol
//!   versions, TLS 1.2 and 1.3). It cannot take attache's [`TlsClient`] configuration.
//! - Trust anchors: the bundled **webpki-roots (Mozilla's list) plus** the CA files given,
//!   unless `with_disable_built_in_roots(true)`. attache always disables them and passes
//!   exactly the binding's CA file, or the operating system's roots (as DER buffers) when the
//!   binding names none — the same anchors [`TlsClient`] uses.
//! - Verification is rustls' `WebPkiServerVerifier` (chain, validity, host name) wrapped in a
//!   verifier that skips the name check with `with_danger_skip_domain_validation(true)` or
//!   everything with `with_danger_accept_invalid_certs(true)`. attache sets neither. The
//!   name checked is the host as given; an IP address becomes an IP `ServerName`, so a
//!   certificate for `IP:127.0.0.1` is checked against its IP SAN.
//! - It exposes nothing of the handshake (no version, cipher or peer certificate).
//! - With `prefer_socket` (default `true`) it asks the server for `@@socket` after logging in
//!   over TCP to a loopback address and silently reconnects through that unix socket, without
//!   TLS. attache sets `prefer_socket(false)`: a TCP binding stays TCP.
//! - `Opts`, `Pool` and `Conn` derive `Debug`, and it prints the password; attache never
//!   formats them, and hands the app a [`Pool`](crate::Pool) whose `Debug` is redacted.
//!
//! Hence the probe ([`probe`]): it reads the server's greeting itself (a server without
//! `CLIENT_SSL` is refused before anything is sent), sends the 32-byte SSLRequest (no
//! credential in it), runs attache's own verify-full [`TlsClient::handshake`] with the
//! binding's roots, records the [`TlsFacts`], and closes. Only then does mysql_async connect
//! and log in, verifying the same way. The server sees the probe as a connection closed
//! before authentication: MariaDB 10.11 logs a warning ("Aborted connection … closed normally
//! without authentication") and counts `Aborted_connects_preauth`, but not towards
//! `max_connect_errors` (seen here: five probes against `max_connect_errors = 3`, with name
//! resolution on, left the host unblocked). Not measured on MySQL 8.

use std::time::Duration;

use attache_core::tls::{Roots, TlsClient, TlsFacts};
use attache_core::{Failure, Host};
use mysql_async::{ClientIdentity, Opts, OptsBuilder, PoolConstraints, PoolOpts, SslOpts};
use rustls::RootCertStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binding::MysqlBinding;

/// `CLIENT_PROTOCOL_41`.
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
/// `CLIENT_SSL`: the server can switch to TLS after its greeting.
pub const CLIENT_SSL: u32 = 0x0000_0800;
/// `CLIENT_SECURE_CONNECTION`.
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
/// `CLIENT_LONG_PASSWORD` (MariaDB reads its absence as "extended capabilities follow").
const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
/// A greeting bigger than this is not a MySQL greeting.
const MAX_GREETING: usize = 16 * 1024;
/// `utf8mb4_general_ci`.
const UTF8MB4: u8 = 45;

/// What the server said about itself before any credential was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// `server_version` (e.g. `10.11.6-MariaDB-0+deb12u1`).
    pub server_version: String,
    /// Capability flags (lower and upper 16 bits).
    pub capabilities: u32,
}

/// Parses an initial handshake packet's payload (protocol 10). An ERR packet comes back as the
/// server's message.
pub fn parse_greeting(payload: &[u8]) -> Result<Greeting, String> {
    match payload.first() {
        Some(0xff) => {
            let code = payload
                .get(1..3)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .unwrap_or(0);
            let mut msg = payload.get(3..).unwrap_or_default();
            if msg.first() == Some(&b'#') {
                msg = msg.get(6..).unwrap_or_default();
            }
            return Err(format!(
                "the server refused the connection: {} (error {code})",
                String::from_utf8_lossy(msg)
            ));
        }
        Some(10) => {}
        Some(v) => {
            return Err(format!(
                "not a MySQL or MariaDB server (greeting of protocol version {v})"
            ));
        }
        None => return Err("empty greeting".into()),
    }
    let rest = &payload[1..];
    let Some(nul) = rest.iter().position(|&b| b == 0) else {
        return Err("truncated greeting".into());
    };
    let server_version = String::from_utf8_lossy(&rest[..nul]).into_owned();
    // connection id (4), scramble part 1 (8), filler (1), capabilities low (2)
    let after = &rest[nul + 1..];
    let Some(low) = after.get(13..15) else {
        return Err("truncated greeting".into());
    };
    let mut capabilities = u32::from(u16::from_le_bytes([low[0], low[1]]));
    // charset (1), status (2), capabilities high (2)
    if let Some(high) = after.get(18..20) {
        capabilities |= u32::from(u16::from_le_bytes([high[0], high[1]])) << 16;
    }
    Ok(Greeting {
        server_version,
        capabilities,
    })
}

/// The SSLRequest packet (header and 32-byte payload): capabilities, max packet size,
/// character set, 23 zero bytes. It carries no user name and no credential.
pub fn ssl_request() -> [u8; 36] {
    let mut packet = [0u8; 36];
    packet[0] = 32;
    packet[3] = 1; // sequence id
    let caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION;
    packet[4..8].copy_from_slice(&caps.to_le_bytes());
    packet[8..12].copy_from_slice(&(16u32 << 20).to_le_bytes());
    packet[12] = UTF8MB4;
    packet
}

/// Reads the greeting, asks for TLS and runs attache's verify-full handshake against the
/// binding's host, then closes. Nothing after the greeting carries a user name or credential.
pub async fn probe(b: &MysqlBinding, tls: &TlsClient) -> Result<(Greeting, TlsFacts), Failure> {
    let Host::Tcp(host) = &b.host().value else {
        return Err(Failure::Unreachable("a unix socket takes no TLS".into()));
    };
    let mut stream = TcpStream::connect((host.as_str(), b.port.value))
        .await
        .map_err(|e| Failure::unreachable(&e))?;
    let mut header = [0u8; 4];
    stream
        .read_exact(&mut header)
        .await
        .map_err(|e| Failure::Unreachable(format!("no greeting from the server: {e}")))?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len == 0 || len > MAX_GREETING {
        return Err(Failure::Unreachable(
            "not a MySQL or MariaDB server (no greeting packet)".into(),
        ));
    }
    let mut payload = vec![0u8; len];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|e| Failure::Unreachable(format!("truncated greeting: {e}")))?;
    let greeting = parse_greeting(&payload).map_err(Failure::Unreachable)?;
    if greeting.capabilities & CLIENT_SSL == 0 {
        return Err(declined());
    }
    stream
        .write_all(&ssl_request())
        .await
        .map_err(|e| Failure::unreachable(&e))?;
    let (mut tls_stream, facts) = tls.handshake(host, stream).await.map_err(|e| {
        Failure::from_tls(&e)
            .unwrap_or_else(|| Failure::Unreachable(format!("the TLS handshake failed: {e}")))
    })?;
    let _ = tls_stream.shutdown().await;
    Ok((greeting, facts))
}

fn declined() -> Failure {
    Failure::TlsDeclined("no CLIENT_SSL in its greeting".into())
}

/// The operating system's trust anchors as DER, those rustls can use (mysql_async fails on the
/// first one it cannot add). Loaded once.
fn system_roots() -> Result<&'static [Vec<u8>], String> {
    static ROOTS: std::sync::OnceLock<Result<Vec<Vec<u8>>, String>> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let usable: Vec<Vec<u8>> = attache_core::tls::system_roots()?
                .iter()
                .filter(|c| RootCertStore::empty().add((*c).clone()).is_ok())
                .map(|c| c.to_vec())
                .collect();
            if usable.is_empty() {
                Err("the system trust store is empty".to_owned())
            } else {
                Ok(usable)
            }
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// mysql_async's TLS options for a binding: exactly the binding's roots (built-in roots off),
/// host name verified, the client certificate if any.
pub fn ssl_opts(b: &MysqlBinding) -> Result<SslOpts, Failure> {
    let tls = &b.common.transport.tls;
    // mysql_async's `PathOrBuf` is not exported: built through its `From` impls.
    let roots = match &tls.roots {
        Roots::PemFile(f) => vec![f.value.clone().into()],
        Roots::System => system_roots()
            .map_err(|why| Failure::BindingFile {
                field: "CA certificate",
                source: attache_core::Source::Default,
                why: format!("no CA given and {why}"),
            })?
            .iter()
            .map(|der| der.as_slice().into())
            .collect(),
    };
    let identity = tls
        .identity
        .as_ref()
        .map(|id| ClientIdentity::new(id.cert.value.clone().into(), id.key.value.clone().into()));
    Ok(SslOpts::default()
        .with_root_certs(roots)
        .with_disable_built_in_roots(true)
        .with_danger_skip_domain_validation(false)
        .with_danger_accept_invalid_certs(false)
        .with_client_identity(identity))
}

/// The mysql_async options for a binding: TCP stays TCP (`prefer_socket(false)`), TLS verified
/// unless core allowed plaintext (`tls` false), a bounded pool of at most `pool_size`
/// connections. mysql_async has no connect timeout of its own: callers bound connecting with
/// the policy's `connect_timeout`. Never `Debug`-format the result: it holds the password.
pub fn mysql_opts(b: &MysqlBinding, tls: bool, pool_size: usize) -> Result<Opts, Failure> {
    mysql_opts_bounded(b, tls, pool_size, None)
}

/// [`mysql_opts`] for the app's pool: TCP keepalives after `request_timeout` idle, so a peer
/// that vanished is found, not waited on.
pub fn mysql_opts_bounded(
    b: &MysqlBinding,
    tls: bool,
    pool_size: usize,
    request_timeout: Option<Duration>,
) -> Result<Opts, Failure> {
    let constraints =
        PoolConstraints::new(0, pool_size.max(1)).expect("0 <= pool size is a valid constraint");
    let mut o = OptsBuilder::default()
        .user(Some(b.user.value.clone()))
        .pass(
            b.common
                .password
                .as_ref()
                .map(|p| p.value.expose_secret().to_owned()),
        )
        .db_name(b.database.as_ref().map(|d| d.value.clone()))
        .prefer_socket(false)
        .tcp_keepalive(request_timeout)
        .pool_opts(
            PoolOpts::default()
                .with_constraints(constraints)
                .with_inactive_connection_ttl(Duration::from_secs(60)),
        );
    o = match &b.host().value {
        Host::Tcp(h) => o.ip_or_hostname(h.clone()).tcp_port(b.port.value),
        Host::Socket(p) => o.socket(Some(p.to_string_lossy().into_owned())),
    };
    if tls {
        o = o.ssl_opts(ssl_opts(b)?);
    }
    Ok(Opts::from(o))
}

/// The one mapping of mysql_async's errors to what happened, by the driver's error kinds and
/// the server's error codes. The driver's errors carry no password (the server's "Access
/// denied" names the user only).
pub fn failure(err: &mysql_async::Error) -> Failure {
    if let mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) = err {
        return declined();
    }
    if let mysql_async::Error::Server(e) = err {
        let said = format!("{} (error {}, SQLSTATE {})", e.message, e.code, e.state);
        return match e.code {
            1045 | 1698 | 3159 | 1251 | 3118 | 4151 => Failure::AuthRefused(said),
            1044 => Failure::DatabaseDenied(said),
            1049 => Failure::UnknownDatabase(said),
            _ => Failure::Server(said),
        };
    }
    Failure::from_tls(err).unwrap_or_else(|| Failure::unreachable(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting(caps: u32) -> Vec<u8> {
        let mut p = vec![10];
        p.extend_from_slice(b"10.11.6-MariaDB\0");
        p.extend_from_slice(&7u32.to_le_bytes());
        p.extend_from_slice(b"12345678\0");
        p.extend_from_slice(&(caps as u16).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"123456789012\0mysql_native_password\0");
        p
    }

    #[test]
    fn greeting_capabilities() {
        let g = parse_greeting(&greeting(CLIENT_SSL | CLIENT_PROTOCOL_41 | 0x0008_0000)).unwrap();
        assert_eq!(g.server_version, "10.11.6-MariaDB");
        assert_ne!(g.capabilities & CLIENT_SSL, 0);
        assert_ne!(g.capabilities & 0x0008_0000, 0);
        let g = parse_greeting(&greeting(CLIENT_PROTOCOL_41)).unwrap();
        assert_eq!(g.capabilities & CLIENT_SSL, 0);
    }

    #[test]
    fn error_packet_and_garbage() {
        let mut err = vec![0xff, 0x69, 0x04, b'#'];
        err.extend_from_slice(b"HY000Host is blocked");
        let e = parse_greeting(&err).unwrap_err();
        assert!(e.contains("Host is blocked (error 1129)"), "{e}");
        for bad in [
            &[][..],
            &[9, 1, 2][..],
            &[10][..],
            &[10, b'x', 0, 1][..],
            &[0xff][..],
        ] {
            assert!(parse_greeting(bad).is_err());
        }
    }

    #[test]
    fn ssl_request_is_32_bytes_without_credentials() {
        let p = ssl_request();
        assert_eq!(&p[..4], &[32, 0, 0, 1]);
        let caps = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
        assert_ne!(caps & CLIENT_SSL, 0);
        assert!(
            p[13..].iter().all(|&b| b == 0),
            "only zero filler after the charset"
        );
    }
}
