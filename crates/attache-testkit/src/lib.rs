//! Test support for attache: real servers and attack fixtures on loopback.
//!
//! - [`Pki`]: a throwaway CA with server and client certificates, as PEM files.
//! - [`PgServer`]: a real PostgreSQL, TLS-only on 127.0.0.1, with accounts shaped for privilege
//!   audits ([`Account`], [`NEEDS`]).
//! - [`RedisServer`]: a real Redis, TLS-only on 127.0.0.1, with ACL users shaped for privilege
//!   audits ([`RedisAccount`], [`REDIS_NEEDS`]).
//! - [`MysqlServer`]: a real MariaDB, TLS-only on 127.0.0.1, with accounts shaped for privilege
//!   audits ([`MysqlAccount`], [`MYSQL_NEEDS`]); [`MysqlStripServer`] offers no TLS and records
//!   what a client sends anyway.
//! - [`MosquittoServer`]: a real Mosquitto, TLS-only on 127.0.0.1, with the dynamic-security
//!   plugin (or an `acl_file`) and accounts shaped for privilege audits ([`MqttAccount`],
//!   [`MQTT_NEEDS`]).
//! - [`BindingDir`]: a Kubernetes-style service-binding directory, re-published atomically.
//! - [`StripProxy`] and [`MitmProxy`]: fake servers that try to get a client's password by
//!   refusing TLS or by presenting a certificate from another CA.
//!
//! - [`contract`]: the promises every kind makes, written once over [`Service`] (implemented
//!   here for each server) and [`Contract`] (implemented in each kind's tests), run for every
//!   kind by [`contract_suite!`].
//! - [`PlaintextServer`]: a fake server that speaks plaintext where TLS was expected.
//!
//! Everything in the servers is synchronous (std threads and processes) and panics on setup failures: this
//! crate is for tests only.

mod binding;
pub mod binding_contract;
pub mod cli_contract;
pub mod contract;
mod instance;
mod mosquitto;
mod mysql;
mod nats;
mod pg;
mod pki;
mod proxy;
mod rabbitmq;
mod redis;
mod services;
mod sys;
pub mod unit;

pub use binding::BindingDir;
pub use contract::{AsLogin, Contract, Decliner, Fixture, Login, Service, Shape};
pub use mosquitto::{
    MARKER_TOPIC, MQTT_NEEDS, MosquittoAcl, MosquittoOptions, MosquittoServer, MqttAccount,
    MqttTestAccount,
};
pub use mysql::{MYSQL_NEEDS, MysqlAccount, MysqlServer, MysqlStripServer, MysqlTestAccount};
pub use nats::{
    NATS_NEEDS, NatsAccount, NatsOptions, NatsServer, NatsTestAccount, nats_server_binary,
};
pub use pg::{Account, Frozen, NEEDS, PgServer, TestAccount};
pub use pki::{CertProfile, Pki};
pub use proxy::{MitmProxy, PlaintextServer, StripProxy};
pub use rabbitmq::{AMQP_NEEDS, RabbitAccount, RabbitOptions, RabbitServer, RabbitTestAccount};
pub use redis::{REDIS_NEEDS, RedisAccount, RedisOptions, RedisServer, RedisTestAccount};
