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

use attache_core::discover::BindingInput;
use attache_core::{
    CheckId, Connected, Ctx, Finding, Inspection, Kind, Provision, ResourceSpec, Severity,
};
pub use deadpool_postgres;
pub use tokio_postgres;

use crate::binding::{Host, PgBinding};
use crate::connect::{PoolConnect, VerifyFull, connect_failure, pg_config};

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
    type Need = needs::Need;
    type Binding = PgBinding;
    type Conn = PgConn;
    type Client = deadpool_postgres::Pool;

    fn parse_need(text: &str) -> Result<needs::Need, String> {
        needs::parse(text)
    }

    fn parse_binding(
        input: BindingInput,
        spec: &ResourceSpec,
    ) -> Result<(PgBinding, Vec<Finding>), Finding> {
        binding::parse(input, spec)
    }

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<PgConn>, Vec<Finding>> {
        let b = ctx.binding;
        let resource = ctx.resource();
        if b.plaintext && !b.host.value.is_local() {
            // Already reported by the binding (tls-plaintext, high): do not send credentials.
            return Err(Vec::new());
        }
        if b.plaintext && ctx.spec.policy.tls == attache_core::TlsRequirement::Required {
            return Err(Vec::new());
        }
        let config = pg_config(b, ctx.spec.policy.connect_timeout);
        let failed = |e: tokio_postgres::Error| vec![connect_failure(resource, b, &e)];
        let (conn, tls) = if b.plaintext {
            (
                PgConn::spawn(
                    config
                        .connect(tokio_postgres::NoTls)
                        .await
                        .map_err(failed)?,
                ),
                None,
            )
        } else {
            let tls = VerifyFull::new(b.tls.client(resource).map_err(|f| vec![f])?);
            let conn = PgConn::spawn(config.connect(tls.clone()).await.map_err(failed)?);
            (conn, tls.last_handshake())
        };
        let mut findings = Vec::new();
        let tcp = matches!(b.host.value, Host::Tcp(_));
        if tcp && b.password.is_none() && b.tls.identity.is_none() {
            findings.push(Finding::new(
                CheckId::CredEmpty,
                Severity::Critical,
                resource,
                format!("{} let account {} in with no password and no client certificate", attache_core::Binding::target(b), b.user.value),
                "require scram-sha-256 (or cert) for this account in pg_hba.conf instead of trust, and give the binding a password file",
            ));
        }
        Ok(Connected {
            conn,
            tls,
            findings,
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut PgConn) -> Inspection {
        let posture = inspect::inspect(&conn.client, ctx.needs).await;
        Inspection {
            account: checks::account_json(&posture),
            findings: checks::judge(ctx.resource(), &posture),
        }
    }

    fn provision(
        spec: &ResourceSpec,
        needs: &[needs::Need],
        account: &str,
        password: Option<&attache_core::Secret>,
    ) -> Provision {
        provision::provision(spec, needs, account, password)
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

    async fn client(ctx: Ctx<'_, Self>) -> Result<deadpool_postgres::Pool, Finding> {
        pool(ctx, None)
    }

    async fn client_with(
        ctx: Ctx<'_, Self>,
        conn: PgConn,
    ) -> Result<deadpool_postgres::Pool, Finding> {
        pool(ctx, Some(conn.into_parts()))
    }
}

/// The app's pool: every connection verify-full, the first one (when given) the connection
/// inspection used.
fn pool(
    ctx: Ctx<'_, Postgres>,
    spare: Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
) -> Result<deadpool_postgres::Pool, Finding> {
    let b = ctx.binding;
    let config = pg_config(b, ctx.spec.policy.connect_timeout);
    let manager_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Fast,
    };
    let manager = if b.plaintext {
        let connect = PoolConnect::new(tokio_postgres::NoTls, b, spare);
        deadpool_postgres::Manager::from_connect(config, connect, manager_config)
    } else {
        let tls = VerifyFull::new(b.tls.client(ctx.resource())?);
        let connect = PoolConnect::new(tls, b, spare);
        deadpool_postgres::Manager::from_connect(config, connect, manager_config)
    };
    deadpool_postgres::Pool::builder(manager)
        .max_size(16)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(ctx.spec.policy.connect_timeout))
        .create_timeout(Some(ctx.spec.policy.connect_timeout))
        .build()
        .map_err(|e| {
            Finding::new(
                CheckId::Unreachable,
                Severity::High,
                ctx.resource(),
                format!("could not build the pool: {e}"),
                "report this as a bug in attache",
            )
        })
}
