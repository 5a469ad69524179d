//! attache: every backing service of a twelve-factor app as an attached resource that is
//! secure by construction.
//!
//! The app's `attache.toml` says what resources it uses and what it needs on each; the
//! environment says where they are. attache connects with verify-full TLS and never downgrades,
//! reads the account's real privileges through the account itself, refuses superusers and
//! missing grants, keeps secrets in a type that never prints, and hands the app a ready pool.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let manifest = attache::Manifest::load("attache.toml")?;
//! let pool = attache::postgres::attach(&manifest, "db").await?;
//! let row = pool.get().await?.query_one("SELECT 1", &[]).await?;
//! # Ok(()) }
//! ```
//!
//! Each kind sits behind a feature of the same name (`postgres` is on by default); features add
//! kinds, they never change a default.

pub use attache_core::*;

/// PostgreSQL: bindings, verify-full connections, privileges, and a `deadpool_postgres::Pool`.
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use attache_postgres::*;

    /// Attaches PostgreSQL resource `name` of `manifest`, reading bindings from the process
    /// environment. Returns a pool whose every connection is verify-full, or the findings that
    /// refused the attach.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<deadpool_postgres::Pool, crate::AttachError> {
        attache_core::attach::<Postgres>(manifest, name, &crate::Environment::from_process()).await
    }

    /// A PostgreSQL resource that can be swapped and rotated while the app runs:
    /// `db.get()` gives the current `deadpool_postgres::Pool`.
    pub type AttachedPool = crate::Attached<Postgres>;
}

/// MySQL and MariaDB: bindings, verify-identity connections, privileges from `SHOW GRANTS`.
#[cfg(feature = "mysql")]
pub mod mysql {
    pub use attache_mysql::*;

    /// Attaches MySQL/MariaDB resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Pool, crate::AttachError> {
        attache_core::attach::<Mysql>(manifest, name, &crate::Environment::from_process()).await
    }

    /// A MySQL/MariaDB resource that can be swapped and rotated while the app runs.
    pub type AttachedPool = crate::Attached<Mysql>;
}

/// Redis: bindings, verify-full connections, ACL privileges read or probed through the account.
#[cfg(feature = "redis")]
pub mod redis {
    pub use attache_redis::*;

    /// Attaches Redis resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<redis::aio::ConnectionManager, crate::AttachError> {
        attache_core::attach::<Redis>(manifest, name, &crate::Environment::from_process()).await
    }

    /// A Redis resource that can be swapped and rotated while the app runs.
    pub type AttachedClient = crate::Attached<Redis>;
}

/// A registry of every kind this build enabled, for tools that handle any manifest.
pub fn registry() -> Registry {
    let registry = Registry::new();
    #[cfg(feature = "postgres")]
    let registry = registry.with::<attache_postgres::Postgres>();
    #[cfg(feature = "mysql")]
    let registry = registry.with::<attache_mysql::Mysql>();
    #[cfg(feature = "redis")]
    let registry = registry.with::<attache_redis::Redis>();
    registry
}
