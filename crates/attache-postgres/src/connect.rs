//! Connecting: verify-full TLS through rustls (never tokio-postgres's own `sslmode` handling,
//! which falls back to plaintext under `prefer`), SCRAM channel binding where the certificate
//! allows it, and every failure turned into a finding that names the resource.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use attache_core::tls::{TlsClient, TlsFacts, certificate_failure, tls_failure};
use attache_core::{CheckId, Finding, Severity};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::binding::{Host, PgBinding};

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

/// The tokio-postgres configuration for a binding. TLS is `require` at the protocol level
/// (tokio-postgres then refuses a server answering `N`), verification is [`VerifyFull`]'s.
pub fn pg_config(b: &PgBinding, connect_timeout: Duration) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    match &b.host.value {
        Host::Tcp(h) => c.host(h),
        Host::Socket(p) => c.host_path(p),
    };
    c.port(b.port.value)
        .user(&b.user.value)
        .dbname(&b.dbname.value)
        .application_name(b.application_name.as_deref().unwrap_or("attache"))
        .connect_timeout(connect_timeout)
        .ssl_mode(if b.plaintext {
            PgSslMode::Disable
        } else {
            PgSslMode::Require
        });
    if let Some(pw) = &b.password {
        c.password(pw.value.expose_secret());
    }
    if let Some(o) = &b.options {
        c.options(&o.value);
    }
    c
}

/// Whether an error chain says the server declined TLS (answered `N` to SSLRequest).
fn declined_tls(err: &tokio_postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.to_string() == "server does not support TLS" {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Turns a connection failure into the finding that says what happened.
pub fn connect_failure(resource: &str, b: &PgBinding, err: &tokio_postgres::Error) -> Finding {
    let target = attache_core::Binding::target(b);
    if declined_tls(err) {
        return Finding::new(
            CheckId::TlsPlaintext,
            Severity::High,
            resource,
            format!(
                "{target} declined TLS (answered N to the SSLRequest); attache refused to continue in plaintext and sent no credentials"
            ),
            "enable TLS on the server (ssl = on); if a proxy sits in between, it may be stripping TLS",
        );
    }
    if let Some(why) = certificate_failure(err) {
        return Finding::new(
            CheckId::TlsCertInvalid,
            Severity::High,
            resource,
            format!("{target}: {why}; attache refused the connection"),
            "give the binding the CA that signed the server's certificate (sslrootcert / ca.crt), and make sure the certificate names the host in the binding and is in date",
        )
        .with_evidence([format!("CA from {}", roots_source(b))]);
    }
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let (check, remedy) = match code {
            c if c.starts_with("28") => (
                CheckId::AuthFailed,
                "check the user and password in the binding (a rotated password may not be deployed yet) and the server's pg_hba.conf",
            ),
            "3D000" => (CheckId::BindingInvalid, "check dbname in the binding"),
            _ => (
                CheckId::Unreachable,
                "see the server's message; check the server's logs",
            ),
        };
        return Finding::new(
            check,
            Severity::High,
            resource,
            format!(
                "{target}: the server said: {} (SQLSTATE {code})",
                db.message()
            ),
            remedy,
        );
    }
    if let Some(why) = tls_failure(err) {
        return Finding::new(
            CheckId::Unreachable,
            Severity::High,
            resource,
            format!("{target}: the TLS handshake failed: {why}"),
            "check that the server speaks TLS 1.2 or later and, if it asks for a client certificate, that the binding has one (sslcert/sslkey, tls.crt/tls.key)",
        );
    }
    let mut detail = err.to_string();
    let mut cur = std::error::Error::source(err);
    while let Some(e) = cur {
        detail = format!("{detail}: {e}");
        cur = e.source();
    }
    if detail.contains("password missing") {
        return Finding::new(
            CheckId::AuthFailed,
            Severity::High,
            resource,
            format!("{target}: the server asked for a password and the binding has none"),
            "give the password in a file named by <NAME>_PASSWORD_FILE or the service binding's password file",
        );
    }
    Finding::new(
        CheckId::Unreachable,
        Severity::High,
        resource,
        format!("{target}: {detail}"),
        "check the host and port in the binding and that the server is up and reachable from here",
    )
}

fn roots_source(b: &PgBinding) -> String {
    match &b.tls.roots {
        attache_core::tls::Roots::System => "the system trust store".to_owned(),
        attache_core::tls::Roots::PemFile(f) => format!("{} ({})", f.value.display(), f.source),
    }
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
        let password_file = match b.password.as_ref().map(|p| &p.source) {
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
