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
//! kinds, they never change a default. Every kind's module has the same shape: the kind
//! (`Postgres`), the driver crates its client comes from, `Client` (what the app gets), and
//! `Attached` (the handle that swaps and rotates at runtime), `attach` for a one-off attach.

pub use attache_core::*;

/// PostgreSQL: libpq bindings, verify-full connections, privileges read from the catalogs.
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use attache_postgres::{Postgres, deadpool_postgres, tokio_postgres};

    /// What the app gets: a `deadpool_postgres::Pool` whose every connection is verify-full.
    pub type Client = deadpool_postgres::Pool;

    /// A PostgreSQL resource that can be swapped and rotated while the app runs: `db.get()`
    /// gives the current [`Client`].
    pub type Attached = crate::Attached<Postgres>;

    /// Attaches PostgreSQL resource `name` of `manifest`, reading bindings from the process
    /// environment. Returns a pool whose every connection is verify-full, or the findings that
    /// refused the attach.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Client, crate::AttachError> {
        crate::attach::<Postgres>(manifest, name, &crate::Environment::from_process()).await
    }
}

/// MySQL and MariaDB: bindings, verify-identity connections, privileges from `SHOW GRANTS`.
#[cfg(feature = "mysql")]
pub mod mysql {
    pub use attache_mysql::{Mysql, Pool, mysql_async};

    /// What the app gets: a bounded `mysql_async::Pool` (through [`Pool`]'s `Deref`) whose
    /// connections are TLS verified and whose `Debug` hides the password.
    pub type Client = Pool;

    /// A MySQL/MariaDB resource that can be swapped and rotated while the app runs:
    /// `db.get()` gives the current [`Client`].
    pub type Attached = crate::Attached<Mysql>;

    /// Attaches MySQL/MariaDB resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Client, crate::AttachError> {
        crate::attach::<Mysql>(manifest, name, &crate::Environment::from_process()).await
    }
}

/// Redis: bindings, verify-full connections, ACL privileges read or probed through the account.
#[cfg(feature = "redis")]
pub mod redis {
    pub use attache_redis::{Redis, redis};

    /// What the app gets: redis-rs's multiplexed `ConnectionManager`, verify-full, reconnecting
    /// by itself.
    pub type Client = redis::aio::ConnectionManager;

    /// A Redis resource that can be swapped and rotated while the app runs: `cache.get()`
    /// gives the current [`Client`].
    pub type Attached = crate::Attached<Redis>;

    /// Attaches Redis resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Client, crate::AttachError> {
        crate::attach::<Redis>(manifest, name, &crate::Environment::from_process()).await
    }
}

/// RabbitMQ (AMQP 0-9-1): `kind = "amqp"`.
#[cfg(feature = "amqp")]
pub mod amqp {
    pub use attache_amqp::{Amqp, lapin};

    /// What the app gets: a lapin `Connection` over attache's verify-full TLS, in the
    /// binding's vhost; open a channel per task.
    pub type Client = lapin::Connection;

    /// A RabbitMQ resource that can be swapped and rotated while the app runs: `queue.get()`
    /// gives the current [`Client`].
    pub type Attached = crate::Attached<Amqp>;

    /// Attaches RabbitMQ resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Client, crate::AttachError> {
        crate::attach::<Amqp>(manifest, name, &crate::Environment::from_process()).await
    }
}

/// NATS: `kind = "nats"`.
#[cfg(feature = "nats")]
pub mod nats {
    pub use attache_nats::{Nats, async_nats};

    /// What the app gets: an async-nats `Client`, TLS required, reconnecting by itself.
    pub type Client = async_nats::Client;

    /// A NATS resource that can be swapped and rotated while the app runs.
    pub type Attached = crate::Attached<Nats>;

    /// Attaches NATS resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Client, crate::AttachError> {
        crate::attach::<Nats>(manifest, name, &crate::Environment::from_process()).await
    }
}

/// MQTT (Mosquitto): `kind = "mqtt"`.
#[cfg(feature = "mqtt")]
pub mod mqtt {
    pub use attache_mqtt::{Message, Mqtt, MqttClient, rumqttc};

    /// What the app gets: rumqttc's MQTT 5 client over attache's verify-full TLS, with the task
    /// that drives its connection, subscribed to the manifest's `subscribe` needs; incoming
    /// messages on `client.messages()`.
    pub type Client = MqttClient;

    /// An MQTT resource that can be swapped and rotated while the app runs: `broker.get()`
    /// gives the current [`Client`].
    pub type Attached = crate::Attached<Mqtt>;

    /// Attaches MQTT resource `name` of `manifest`, reading bindings from the process
    /// environment.
    pub async fn attach(
        manifest: &crate::Manifest,
        name: &str,
    ) -> Result<Client, crate::AttachError> {
        crate::attach::<Mqtt>(manifest, name, &crate::Environment::from_process()).await
    }
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
    #[cfg(feature = "amqp")]
    let registry = registry.with::<attache_amqp::Amqp>();
    #[cfg(feature = "nats")]
    let registry = registry.with::<attache_nats::Nats>();
    #[cfg(feature = "mqtt")]
    let registry = registry.with::<attache_mqtt::Mqtt>();
    registry
}
