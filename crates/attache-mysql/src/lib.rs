//! The MySQL/MariaDB kind of attache (`kind = "mysql"`).
//!
//! - [`binding`]: `mysql://` URLs with the MySQL client's own `ssl-mode`/`ssl-ca`/`ssl-cert`/
//!   `ssl-key`, servicebinding.io fields; `VERIFY_IDENTITY` unless the binding says otherwise,
//!   and anything weaker is a finding;
//! - [`connect`]: a pre-flight probe that reads the server's greeting, refuses a server without
//!   TLS before any credential is sent and records the handshake with attache's own verifier;
//!   then mysql_async with exactly the binding's roots and `prefer_socket(false)` (what
//!   mysql_async does with TLS, and why the probe exists, is written down there);
//! - [`inspect`]: the account's privileges read through the account itself (`SHOW GRANTS`,
//!   every granted role, PUBLIC);
//! - [`checks`]: the judgement of that posture against the manifest's needs;
//! - [`needs`]: needs in GRANT's own words (`SELECT, INSERT ON appdb.signups`);
//! - [`provision`]: the least-privileged account for those needs.
//!
//! The app receives a [`Pool`]: a bounded `mysql_async::Pool` whose every connection is TLS
//! verified against the binding's CA and host name, whose `get_conn` is bounded by the
//! policy's `connect_timeout`, and whose `Debug` shows no password (mysql_async's own prints
//! it). It dereferences to the `mysql_async::Pool`, so its whole API is there.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use attache_core::{Environment, Manifest};
//! use attache_mysql::Mysql;
//! use attache_mysql::mysql_async::prelude::*;
//!
//! let manifest = Manifest::load("attache.toml")?;
//! let pool = attache_core::attach::<Mysql>(&manifest, "db", &Environment::from_process()).await?;
//! let mut conn = pool.get_conn().await?;
//! conn.exec_drop("INSERT INTO signups (email) VALUES (?)", ("a@example.com",)).await?;
//! # Ok(()) }
//! ```

pub mod binding;
pub mod checks;
pub mod connect;
pub mod inspect;
pub mod needs;
pub mod provision;

use std::fmt;
use std::time::Duration;

use attache_core::discover::BindingInput;
use attache_core::{
    Binding, CheckId, Connected, Ctx, Finding, Inspection, Kind, Provision, ResourceSpec, Severity,
    TlsRequirement,
};
pub use mysql_async;

use crate::binding::{Host, MysqlBinding};
use crate::connect::{connect_failure, mysql_opts, probe};

/// The `mysql` kind (MySQL and MariaDB).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mysql;

/// An inspection connection.
pub struct MysqlConn {
    conn: mysql_async::Conn,
}

impl MysqlConn {
    /// The connection.
    pub fn conn(&mut self) -> &mut mysql_async::Conn {
        &mut self.conn
    }
}

impl fmt::Debug for MysqlConn {
    // mysql_async's Conn prints its options, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MysqlConn(..)")
    }
}

/// What the app receives: a `mysql_async::Pool` (through `Deref`) whose connections are TLS
/// verified as the binding was checked, with a redacted `Debug`.
#[derive(Clone)]
pub struct Pool {
    inner: mysql_async::Pool,
    connect_timeout: Duration,
    target: String,
}

impl fmt::Debug for Pool {
    // mysql_async's Pool prints its options, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.target)
            .field("max_size", &connect::POOL_MAX)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Pool {
    type Target = mysql_async::Pool;
    fn deref(&self) -> &mysql_async::Pool {
        &self.inner
    }
}

impl Pool {
    /// A connection from the pool; opening a new one (TCP, TLS, login) may take at most the
    /// policy's `connect_timeout`, else an `io::ErrorKind::TimedOut` error.
    pub async fn get_conn(&self) -> Result<mysql_async::Conn, mysql_async::Error> {
        match tokio::time::timeout(self.connect_timeout, self.inner.get_conn()).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection to {} within connect_timeout ({:?})",
                    self.target, self.connect_timeout
                ),
            )
            .into()),
        }
    }

    /// Where the pool connects (no secret in it).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Closes every connection; the pool cannot be used afterwards.
    pub async fn disconnect(self) -> Result<(), mysql_async::Error> {
        self.inner.disconnect().await
    }
}

impl Kind for Mysql {
    const NAME: &'static str = "mysql";
    type Need = needs::Need;
    type Binding = MysqlBinding;
    type Conn = MysqlConn;
    type Client = Pool;

    fn parse_need(text: &str) -> Result<needs::Need, String> {
        needs::parse(text)
    }

    fn parse_binding(
        input: BindingInput,
        spec: &ResourceSpec,
    ) -> Result<(MysqlBinding, Vec<Finding>), Finding> {
        binding::parse(input, spec)
    }

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<MysqlConn>, Vec<Finding>> {
        let b = ctx.binding;
        let resource = ctx.resource();
        if b.plaintext && !b.host.value.is_local() {
            // Already reported by the binding (tls-plaintext, high): do not send credentials.
            return Err(Vec::new());
        }
        if b.plaintext && ctx.spec.policy.tls == TlsRequirement::Required {
            return Err(Vec::new());
        }
        let opts = mysql_opts(resource, b).map_err(|f| vec![f])?;
        let tls = if b.plaintext {
            None
        } else {
            let client = b.tls.client(resource).map_err(|f| vec![f])?;
            let (_, facts) = probe(resource, b, &client).await.map_err(|f| vec![f])?;
            Some(facts)
        };
        let conn = mysql_async::Conn::new(opts)
            .await
            .map_err(|e| vec![connect_failure(resource, b, &e)])?;
        let mut findings = Vec::new();
        let tcp = matches!(b.host.value, Host::Tcp(_));
        let no_password = b.password.as_ref().is_none_or(|p| p.value.is_empty());
        if tcp && no_password && b.tls.identity.is_none() {
            findings.push(Finding::new(
                CheckId::CredEmpty,
                Severity::Critical,
                resource,
                format!(
                    "{} let account {} in with no password and no client certificate",
                    b.target(),
                    b.user.value
                ),
                format!(
                    "ALTER USER '{}'@… IDENTIFIED BY '<a long random password>'; and give the binding a password file",
                    b.user.value.replace('\'', "''")
                ),
            ));
        }
        Ok(Connected {
            conn: MysqlConn { conn },
            tls,
            findings,
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut MysqlConn) -> Inspection {
        let posture = inspect::inspect(&mut conn.conn, ctx.needs).await;
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

    async fn warm(pool: &Pool, connections: usize) {
        let n = connections.min(connect::POOL_MAX);
        let opened = futures_util::future::join_all((0..n).map(|_| pool.get_conn())).await;
        let failed = opened.iter().filter(|c| c.is_err()).count();
        if failed > 0 {
            tracing::warn!(
                failed,
                "could not open every warm-up connection of a new pool"
            );
        }
    }

    fn close(pool: &Pool) {
        // Replaced and drained (see attache_core::Attached): close its idle connections.
        let inner = pool.inner.clone();
        tokio::spawn(async move {
            let _ = inner.disconnect().await;
        });
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<Pool, Finding> {
        let b = ctx.binding;
        attache_core::tls::install_provider();
        if !b.plaintext {
            // The same files the probe read: a CA or key that went bad since is named here.
            b.tls.client(ctx.resource())?;
        }
        let opts = mysql_opts(ctx.resource(), b)?;
        Ok(Pool {
            inner: mysql_async::Pool::new(opts),
            connect_timeout: ctx.spec.policy.connect_timeout,
            target: b.target(),
        })
    }
}
