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

use attache_core::{
    Binding, Connected, Ctx, Failure, Kind, Provision, ProvisionRequest, Surface, TlsAdvice,
};
pub use mysql_async;

use crate::binding::MysqlBinding;
use crate::connect::{mysql_opts, probe};

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
///
/// [`Pool::get_conn`] follows a password rotation with no window: when the server refuses a new
/// connection's password (error 1045) and the binding's password file holds another one, it
/// opens connections with that one from then on, until the re-attach replaces the pool. The
/// `mysql_async::Pool` reached through `Deref` keeps the password it was built with.
#[derive(Clone)]
pub struct Pool {
    inner: mysql_async::Pool,
    connect_timeout: Duration,
    max_size: usize,
    target: String,
    rotation: std::sync::Arc<Rotation>,
}

/// What a [`Pool`] needs to follow a rotated password file.
struct Rotation {
    /// The options the pool was built with.
    opts: mysql_async::Opts,
    /// The binding's password file, if the password came from one.
    password_file: Option<std::path::PathBuf>,
    /// A pool with the password read from the file since (and that password), once it logged
    /// in.
    fresher: std::sync::Mutex<Option<(mysql_async::Pool, String)>>,
}

impl Rotation {
    /// The password now in the file, if it differs from `used`.
    fn reread(&self, used: Option<&str>) -> Option<String> {
        let text = std::fs::read_to_string(self.password_file.as_ref()?).ok()?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        (Some(text) != used && !text.is_empty()).then(|| text.to_owned())
    }

    fn fresher(&self) -> Option<(mysql_async::Pool, String)> {
        self.fresher.lock().ok().and_then(|f| f.clone())
    }
}

impl fmt::Debug for Pool {
    // mysql_async's Pool prints its options, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.target)
            .field("max_size", &self.max_size)
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
    ///
    /// A password the server refuses is read again from the binding's password file, once: with
    /// a new one there, the connection (and every later one) is opened with it.
    pub async fn get_conn(&self) -> Result<mysql_async::Conn, mysql_async::Error> {
        let (pool, used) = match self.rotation.fresher() {
            Some((pool, password)) => (pool, Some(password)),
            None => (
                self.inner.clone(),
                self.rotation.opts.pass().map(str::to_owned),
            ),
        };
        let first = self.timed(&pool).await;
        let refused = matches!(&first, Err(mysql_async::Error::Server(e)) if e.code == 1045);
        if !refused {
            return first;
        }
        let Some(password) = self.rotation.reread(used.as_deref()) else {
            return first;
        };
        tracing::info!(
            target = %self.target,
            "the password file changed; new connections use the new password until the re-attach"
        );
        let opts = mysql_async::OptsBuilder::from_opts(self.rotation.opts.clone())
            .pass(Some(password.clone()));
        let fresher = mysql_async::Pool::new(opts);
        let retried = self.timed(&fresher).await;
        if retried.is_ok()
            && let Ok(mut slot) = self.rotation.fresher.lock()
            && let Some((stale, _)) = slot.replace((fresher, password))
        {
            tokio::spawn(async move {
                let _ = stale.disconnect().await;
            });
        }
        retried
    }

    async fn timed(
        &self,
        pool: &mysql_async::Pool,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        match tokio::time::timeout(self.connect_timeout, pool.get_conn()).await {
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
    const SURFACE: Surface = Surface {
        title: "MySQL / MariaDB",
        url: binding::URL,
        binding_types: &["mysql", "mariadb"],
        binding_files: &["ssl-mode"],
        default_passwords: &["mysql"],
        tls: TlsAdvice {
            verify_full: "use ssl-mode=VERIFY_IDENTITY (or leave ssl-mode out: attache's default) with ssl-ca",
            plaintext: "enable TLS on the server (ssl-cert, ssl-key, require_secure_transport = ON) and use ssl-mode=VERIFY_IDENTITY with ssl-ca",
            socket: "nothing to do for a local socket; bind a TCP host with ssl-mode=VERIFY_IDENTITY to require TLS",
            server_tls: "enable TLS on the server (ssl_cert, ssl_key; require_secure_transport = ON)",
            ca: "ssl-ca / ca.crt",
            client_cert: "ssl-cert and ssl-key, or tls.crt and tls.key",
        },
        no_credential_fix: "ALTER USER … IDENTIFIED BY '<a long random password>' for this account, and give the binding a password file",
        unknown_fix: "let the account read its own grants (SHOW GRANTS needs no privilege; a role's grants are read after SET ROLE); until then its privileges are unknown, not assumed",
        pages: include_str!("../checks.md"),
    };
    type Need = needs::Need;
    type Binding = MysqlBinding;
    type Posture = inspect::Posture;
    type Conn = MysqlConn;
    type Client = Pool;

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<MysqlConn>, Failure> {
        let b = ctx.binding;
        let opts = mysql_opts(b, ctx.tls.is_some(), ctx.spec.policy.pool_size)?;
        let tls = match ctx.tls {
            None => None,
            Some(client) => Some(probe(b, client).await?.1),
        };
        let conn = mysql_async::Conn::new(opts)
            .await
            .map_err(|e| connect::failure(&e))?;
        Ok(Connected {
            conn: MysqlConn { conn },
            tls,
            findings: Vec::new(),
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut MysqlConn) -> inspect::Posture {
        inspect::inspect(&mut conn.conn, ctx.needs).await
    }

    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision {
        provision::provision(request)
    }

    async fn warm(pool: &Pool, connections: usize) {
        let n = connections.min(pool.max_size);
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
        let fresher = pool.rotation.fresher();
        tokio::spawn(async move {
            let _ = inner.disconnect().await;
            if let Some((fresher, _)) = fresher {
                let _ = fresher.disconnect().await;
            }
        });
    }

    /// Not probed yet: TLS begins after the greeting and an SSLRequest packet.
    async fn before_tls(_stream: &mut tokio::net::TcpStream) -> std::io::Result<bool> {
        Ok(false)
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<Pool, Failure> {
        let b = ctx.binding;
        let pool_size = ctx.spec.policy.pool_size;
        let opts = connect::mysql_opts_bounded(
            b,
            ctx.tls.is_some(),
            pool_size,
            Some(ctx.spec.policy.request_timeout),
        )?;
        let password_file = match b.common.password.as_ref().map(|p| &p.source) {
            Some(attache_core::Source::File(path)) => Some(path.clone()),
            _ => None,
        };
        Ok(Pool {
            inner: mysql_async::Pool::new(opts.clone()),
            connect_timeout: ctx.spec.policy.connect_timeout,
            max_size: pool_size,
            target: b.target(),
            rotation: std::sync::Arc::new(Rotation {
                opts,
                password_file,
                fresher: std::sync::Mutex::new(None),
            }),
        })
    }
}
