//! The PostgreSQL kind of attache.
//!
//! - [`binding`]: libpq URIs and keyword strings, servicebinding.io fields; `verify-full` unless
//!   the binding says otherwise, and anything weaker is a finding;
//! - [`connect`]: verify-full TLS through rustls, refusing a server that declines TLS;
//! - [`inspect`]: the account's privileges, read through the account itself;
//! - [`checks`]: the judgement of that posture against the manifest's needs;
//! - [`needs`]: needs in GRANT's own words;
//! - [`provision`]: the least-privileged account for those needs.
//!
//! The app receives a [`deadpool_postgres::Pool`] whose every connection is verify-full.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use attache_core::{Environment, Manifest};
//! use attache_postgres::Postgres;
//!
//! let manifest = Manifest::load("attache.toml")?;
//! let pool = attache_core::attach::<Postgres>(&manifest, "db", &Environment::from_process()).await?;
//! let client = pool.get().await?;
//! client.execute("INSERT INTO signups (email) VALUES ($1)", &[&"a@example.com"]).await?;
//! # Ok(()) }
//! ```

pub mod binding;
pub mod checks;
pub mod connect;
pub mod inspect;
pub mod needs;
pub mod provision;

use attache_core::{
    Connected, Ctx, Failure, Kind, Provision, ProvisionRequest, Surface, TlsAdvice,
};
pub use deadpool_postgres;
pub use tokio_postgres;

use crate::binding::PgBinding;
use crate::connect::{PoolConnect, VerifyFull, pg_config};

/// The `postgres` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

/// An inspection connection: the client, and the task driving its socket (aborted on drop).
pub struct PgConn {
    client: tokio_postgres::Client,
    task: AbortOnDrop,
}

/// A connection's socket task, aborted when dropped (unless taken by the pool).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl PgConn {
    /// Drives the connection's socket on its own task.
    fn spawn<S, T>(
        (client, conn): (tokio_postgres::Client, tokio_postgres::Connection<S, T>),
    ) -> PgConn
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        PgConn {
            client,
            task: AbortOnDrop(Some(task)),
        }
    }

    /// The client.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    /// The client and its socket task, for a pool to keep.
    fn into_parts(mut self) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
        let task = self
            .task
            .0
            .take()
            .expect("a connection's task is taken once");
        (self.client, task)
    }
}

impl Kind for Postgres {
    const NAME: &'static str = "postgres";
    const SURFACE: Surface = Surface {
        title: "PostgreSQL",
        url: binding::URL,
        binding_types: &["postgresql", "postgres"],
        binding_files: &["sslmode"],
        default_passwords: &["postgres"],
        tls: TlsAdvice {
            verify_full: "use sslmode=verify-full (or leave sslmode out: attache's default) with sslrootcert",
            plaintext: "enable TLS on the server and use sslmode=verify-full with sslrootcert",
            socket: "nothing to do for a local socket; bind a TCP host with verify-full TLS to require TLS",
            server_tls: "enable TLS on the server (ssl = on)",
            ca: "sslrootcert / ca.crt",
            client_cert: "sslcert and sslkey, or tls.crt and tls.key",
        },
        no_credential_fix: "require scram-sha-256 (or cert) for this account in pg_hba.conf instead of trust, and give the binding a password file",
        unknown_fix: "let the account read the catalogs (pg_roles, pg_auth_members, pg_class, pg_namespace, pg_proc, pg_database); until then its privileges are unknown, not assumed",
        pages: include_str!("../checks.md"),
    };
    type Need = needs::Need;
    type Binding = PgBinding;
    type Posture = inspect::Posture;
    type Conn = PgConn;
    type Client = deadpool_postgres::Pool;

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<PgConn>, Failure> {
        let config = pg_config(
            ctx.binding,
            ctx.spec.policy.connect_timeout,
            ctx.tls.is_some(),
        );
        let (conn, tls) = match ctx.tls {
            None => (
                PgConn::spawn(
                    config
                        .connect(tokio_postgres::NoTls)
                        .await
                        .map_err(|e| connect::failure(&e))?,
                ),
                None,
            ),
            Some(client) => {
                let tls = VerifyFull::new(client.clone());
                let conn = config
                    .connect(tls.clone())
                    .await
                    .map_err(|e| connect::failure(&e))?;
                (PgConn::spawn(conn), tls.last_handshake())
            }
        };
        Ok(Connected {
            conn,
            tls,
            findings: Vec::new(),
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut PgConn) -> inspect::Posture {
        inspect::inspect(&conn.client, ctx.needs).await
    }

    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision {
        provision::provision(request)
    }

    async fn warm(pool: &deadpool_postgres::Pool, connections: usize) {
        let n = connections.min(pool.status().max_size);
        let opened = futures_util::future::join_all((0..n).map(|_| pool.get())).await;
        let failed = opened.iter().filter(|c| c.is_err()).count();
        if failed > 0 {
            tracing::warn!(
                failed,
                "could not open every warm-up connection of a new pool"
            );
        }
    }

    fn close(pool: &deadpool_postgres::Pool) {
        pool.close();
    }

    /// The SSLRequest, and the server's `S`.
    async fn before_tls(stream: &mut tokio::net::TcpStream) -> std::io::Result<bool> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await?;
        Ok(answer[0] == b'S')
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<deadpool_postgres::Pool, Failure> {
        pool(ctx, None)
    }

    async fn client_with(
        ctx: Ctx<'_, Self>,
        conn: PgConn,
    ) -> Result<deadpool_postgres::Pool, Failure> {
        pool(ctx, Some(conn.into_parts()))
    }
}

/// The policy's `request_timeout` on the app's connections: the server's `statement_timeout`
/// (a statement running longer is cancelled by the server), TCP keepalives after that long
/// idle, and the TCP user timeout (unacknowledged data for that long closes the connection).
/// A server that is stopped but whose kernel still acknowledges (SIGSTOP, a hung disk) is
/// bounded only by the app's own timeout around its calls: `Attached::request_timeout`.
fn bound_requests(config: &mut tokio_postgres::Config, request_timeout: std::time::Duration) {
    let statement = format!("-c statement_timeout={}", request_timeout.as_millis());
    let options = match config.get_options() {
        Some(existing) => format!("{existing} {statement}"),
        None => statement,
    };
    config
        .options(&options)
        .tcp_user_timeout(request_timeout)
        .keepalives(true)
        .keepalives_idle(request_timeout.max(std::time::Duration::from_secs(1)))
        .keepalives_interval(std::time::Duration::from_secs(1))
        .keepalives_retries(3);
}

/// The app's pool: every connection verify-full, the first one (when given) the connection
/// inspection used.
fn pool(
    ctx: Ctx<'_, Postgres>,
    spare: Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
) -> Result<deadpool_postgres::Pool, Failure> {
    let b = ctx.binding;
    let policy = &ctx.spec.policy;
    let mut config = pg_config(b, policy.connect_timeout, ctx.tls.is_some());
    bound_requests(&mut config, policy.request_timeout);
    let manager_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Fast,
    };
    let manager = match ctx.tls {
        None => {
            let connect = PoolConnect::new(tokio_postgres::NoTls, b, spare);
            deadpool_postgres::Manager::from_connect(config, connect, manager_config)
        }
        Some(client) => {
            let connect = PoolConnect::new(VerifyFull::new(client.clone()), b, spare);
            deadpool_postgres::Manager::from_connect(config, connect, manager_config)
        }
    };
    deadpool_postgres::Pool::builder(manager)
        .max_size(ctx.spec.policy.pool_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(policy.request_timeout))
        .create_timeout(Some(policy.connect_timeout))
        .recycle_timeout(Some(policy.request_timeout))
        .build()
        .map_err(|e| Failure::Unreachable(format!("could not build the pool: {e}")))
}
