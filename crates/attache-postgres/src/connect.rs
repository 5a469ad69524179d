//! Connecting: verify-full TLS through rustls (never tokio-postgres's own `sslmode` handling,
//! which falls back to plaintext under `prefer`), SCRAM channel binding where the certificate
//! allows it, and every failure mapped to the [`Failure`] that says what happened.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use attache_core::Failure;
use attache_core::tls::{TlsClient, TlsFacts};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use attache_core::Host;

use crate::binding::PgBinding;

/// A tokio-postgres TLS connector that verifies chain and host (attache's [`TlsClient`]) and
/// remembers the facts of the last handshake.
#[derive(Clone, Debug)]
pub struct VerifyFull {
    client: TlsClient,
    last: Arc<Mutex<Option<TlsFacts>>>,
}

impl VerifyFull {
    /// A connector over a verify-full client configuration.
    pub fn new(client: TlsClient) -> Self {
        VerifyFull {
            client,
            last: Arc::default(),
        }
    }

    /// The facts of the most recent handshake.
    pub fn last_handshake(&self) -> Option<TlsFacts> {
        self.last.lock().ok().and_then(|g| g.clone())
    }
}

impl<S> MakeTlsConnect<S> for VerifyFull
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = VerifyFullConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<VerifyFullConnect, io::Error> {
        Ok(VerifyFullConnect {
            client: self.client.clone(),
            host: domain.to_owned(),
            last: self.last.clone(),
        })
    }
}

/// One connection's TLS connector.
#[derive(Debug)]
pub struct VerifyFullConnect {
    client: TlsClient,
    host: String,
    last: Arc<Mutex<Option<TlsFacts>>>,
}

impl<S> TlsConnect<S> for VerifyFullConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let (inner, facts) = self.client.handshake(&self.host, stream).await?;
            let channel_binding = facts.channel_binding.clone();
            if let Ok(mut last) = self.last.lock() {
                *last = Some(facts);
            }
            Ok(TlsStream {
                inner,
                channel_binding,
            })
        })
    }
}

/// A verified TLS stream, as tokio-postgres sees it.
pub struct TlsStream<S> {
    inner: tokio_rustls::client::TlsStream<S>,
    channel_binding: Option<Vec<u8>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        match &self.channel_binding {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.clone()),
            None => ChannelBinding::none(),
        }
    }
}

/// The tokio-postgres configuration for a binding. Over TLS the protocol's `sslmode` is
/// `require` (tokio-postgres then refuses a server answering `N`), and verification is
/// [`VerifyFull`]'s; `tls` is false only for the plaintext core allowed.
pub fn pg_config(b: &PgBinding, connect_timeout: Duration, tls: bool) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    match &b.host().value {
        Host::Tcp(h) => c.host(h),
        Host::Socket(p) => c.host_path(p),
    };
    c.port(b.port.value)
        .user(&b.user.value)
        .dbname(&b.dbname.value)
        .application_name(b.application_name.as_deref().unwrap_or("attache"))
        .connect_timeout(connect_timeout)
        .ssl_mode(if tls {
            PgSslMode::Require
        } else {
            PgSslMode::Disable
        });
    if let Some(pw) = &b.common.password {
        c.password(pw.value.expose_secret());
    }
    if let Some(o) = &b.options {
        c.options(&o.value);
    }
    c
}

/// The one mapping of tokio-postgres's errors to what happened. SQLSTATEs where the server
/// sent one; TLS failures from rustls's own error in the chain. tokio-postgres has no code for
/// two of its own errors, so their text is matched here, and only here: `server does not
/// support TLS` (the server answered `N`: `tests/postgres.rs`, the stripping proxy) and
/// `password missing` (the server asked for one: `login_without_any_password_is_cred_empty`).
pub fn failure(err: &tokio_postgres::Error) -> Failure {
    let says = |text: &str| {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cur {
            if e.to_string() == text {
                return true;
            }
            cur = e.source();
        }
        false
    };
    if says("server does not support TLS") {
        return Failure::TlsDeclined("answered N to the SSLRequest".into());
    }
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let said = format!("{} (SQLSTATE {code})", db.message());
        return match code {
            c if c.starts_with("28") => Failure::AuthRefused(said),
            "3D000" => Failure::UnknownDatabase(said),
            _ => Failure::Server(said),
        };
    }
    if let Some(tls) = Failure::from_tls(err) {
        return tls;
    }
    if says("password missing") {
        return Failure::PasswordRequired;
    }
    Failure::unreachable(err)
}

/// How the pool opens connections: like deadpool's own, plus one thing rotation needs.
///
/// A PostgreSQL role has one password. Between `ALTER ROLE … PASSWORD` and the re-attach that
/// swaps in a pool built from the new secret, the pool in service can still open connections
/// with the old password, and they would fail. So when a connection is refused for its
/// password (SQLSTATE 28P01) and the password came from a file, the file is read again and, if
/// it now holds another password, the connection is retried once with it. The account, host and
/// TLS are unchanged, and the re-attach that follows the new secret runs every check again.
///
/// With the secret written first and `ALTER ROLE` second, a rotation has no window at all.
pub(crate) struct PoolConnect<T> {
    tls: T,
    /// The connection inspection used, handed out by the first `connect`.
    spare: Mutex<Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>>,
    password_file: Option<std::path::PathBuf>,
    /// The password read from the file after a refusal, used from then on.
    fresher: Mutex<Option<attache_core::Secret>>,
}

impl<T> PoolConnect<T> {
    pub(crate) fn new(
        tls: T,
        b: &PgBinding,
        spare: Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
    ) -> Self {
        let password_file = match b.common.password.as_ref().map(|p| &p.source) {
            Some(attache_core::Source::File(path)) => Some(path.clone()),
            _ => None,
        };
        PoolConnect {
            tls,
            spare: Mutex::new(spare),
            password_file,
            fresher: Mutex::new(None),
        }
    }

    /// The password now in the file, if it differs from `used`.
    fn reread(&self, used: Option<&[u8]>) -> Option<attache_core::Secret> {
        let text = std::fs::read_to_string(self.password_file.as_ref()?).ok()?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        (Some(text.as_bytes()) != used && !text.is_empty())
            .then(|| attache_core::Secret::new(text.to_owned()))
    }
}

type PgConnectResult =
    Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>;

async fn connect_and_spawn<T>(config: &tokio_postgres::Config, tls: T) -> PgConnectResult
where
    T: MakeTlsConnect<tokio_postgres::Socket> + Send,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let (client, connection) = config.connect(tls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection closed: {e}");
        }
    });
    Ok((client, task))
}

impl<T> deadpool_postgres::Connect for PoolConnect<T>
where
    T: MakeTlsConnect<tokio_postgres::Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> Pin<Box<dyn Future<Output = PgConnectResult> + Send + '_>> {
        let mut config = pg_config.clone();
        let spare = self.spare.lock().ok().and_then(|mut s| s.take());
        Box::pin(async move {
            if let Some((client, task)) = spare {
                if !client.is_closed() {
                    return Ok((client, task));
                }
                task.abort();
            }
            if let Some(pw) = self.fresher.lock().ok().and_then(|g| g.clone()) {
                config.password(pw.expose_secret());
            }
            let first = connect_and_spawn(&config, self.tls.clone()).await;
            let refused_password = matches!(
                &first,
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD)
            );
            if !refused_password {
                return first;
            }
            let Some(pw) = self.reread(config.get_password()) else {
                return first;
            };
            tracing::info!(
                "the password file changed; new connections use the new password until the re-attach"
            );
            config.password(pw.expose_secret());
            let retried = connect_and_spawn(&config, self.tls.clone()).await;
            if retried.is_ok()
                && let Ok(mut fresher) = self.fresher.lock()
            {
                *fresher = Some(pw);
            }
            retried
        })
    }
}
