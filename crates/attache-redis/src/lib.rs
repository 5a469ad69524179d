//! The Redis kind of attache.
//!
//! - [`binding`]: `rediss://` URLs and servicebinding.io fields; verify-full TLS unless the
//!   binding says otherwise, and anything weaker (`#insecure`, `redis://` beyond loopback) is a
//!   finding;
//! - [`connect`]: verify-full TLS through attache's own rustls client, AUTH only over the
//!   verified stream, and a check that the server refuses clients without credentials; what
//!   redis-rs does with TLS is written down there;
//! - [`inspect`]: the account's ACL, read through the account itself (`ACL GETUSER`), or, where
//!   it may not read it, bounded with probes that change nothing;
//! - [`checks`]: the judgement of that posture against the manifest's needs;
//! - [`needs`]: needs in the ACL's own words (`"+get +set ~session:*"`, `"+publish &events"`);
//! - [`provision`]: the `ACL SETUSER` that makes the least-privileged account for those needs.
//!
//! The app receives a [`redis::aio::ConnectionManager`]: the multiplexed async connection
//! redis-rs recommends for applications, cheap to clone and share between tasks, and it
//! reconnects by itself (the policy's `reconnect_retries`, 3 by default, with backoff), which is what a stateless process wants
//! from an attached resource. It is built with the binding's CA and client certificate (verified
//! in full by redis-rs: see [`connect`]), the account's credentials, and the policy's
//! `connect_timeout` as its connection timeout and `request_timeout` as its response timeout. It skips
//! `CLIENT SETINFO`, which a least-privileged account may not run.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use attache_core::{Environment, Manifest};
//! use attache_redis::Redis;
//! use attache_redis::redis::AsyncCommands;
//!
//! // [resources.cache]
//! // kind = "redis"
//! // needs = ["+get +set +expire ~session:*"]
//! let manifest = Manifest::load("attache.toml")?;
//! let mut cache = attache_core::attach::<Redis>(&manifest, "cache", &Environment::from_process()).await?;
//! let _: () = cache.set("session:42", "alice").await?;
//! let _: bool = cache.expire("session:42", 3600).await?;
//! let who: Option<String> = cache.get("session:42").await?;
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
pub use redis;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::binding::RedisBinding;
use crate::connect::RedisConn;

/// The `redis` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis;

impl Kind for Redis {
    const NAME: &'static str = "redis";
    const SURFACE: Surface = Surface {
        title: "Redis",
        url: binding::URL,
        binding_types: &["redis"],
        binding_files: &["ssl"],
        default_passwords: &["redis"],
        tls: TlsAdvice {
            verify_full: "remove it, and give the binding the server's CA (ssl_ca_certs, ca.crt) if the certificate is not signed by a public CA",
            plaintext: "enable TLS on the server (tls-port, and port 0 for the plaintext port) and use a rediss:// URL",
            socket: "bind a TCP host with rediss://",
            server_tls: "enable TLS on the server (tls-port, and port 0 for the plaintext port)",
            ca: "ssl_ca_certs / ca.crt",
            client_cert: "tls.crt and tls.key, or ssl_certfile and ssl_keyfile",
        },
        no_credential_fix: "give the user a password (`ACL SETUSER <user> resetpass >…`) and the binding a password file",
        unknown_fix: "have an admin compare `ACL GETUSER <user>` with `attache grants`; attache does not ask for +acl|getuser, which would let the account read every user's rules and password hashes",
        pages: include_str!("../checks.md"),
    };
    type Need = needs::Need;
    type Binding = RedisBinding;
    type Posture = inspect::Posture;
    type Conn = RedisConn;
    type Client = ConnectionManager;

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<RedisConn>, Failure> {
        let b = ctx.binding;
        let (conn, tls) = connect::open(b, ctx.tls, ctx.spec.policy.inspect_timeout).await?;
        let findings = connect::unauthenticated_login(
            b,
            ctx.resource(),
            ctx.tls,
            ctx.spec.policy.connect_timeout,
        )
        .await
        .into_iter()
        .collect();
        Ok(Connected {
            conn,
            tls,
            findings,
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut RedisConn) -> inspect::Posture {
        inspect::inspect(conn, ctx.needs, ctx.binding).await
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<ConnectionManager, Failure> {
        let b = ctx.binding;
        attache_core::tls::install_provider();
        let failed = |e: redis::RedisError| connect::failure(&e);
        let info = connect::connection_info(b, ctx.tls.is_some()).map_err(failed)?;
        let client = match ctx.tls {
            None => redis::Client::open(info),
            Some(_) => redis::Client::build_with_tls(info, connect::tls_certificates(b)?),
        }
        .map_err(failed)?;
        let policy = &ctx.spec.policy;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(policy.connect_timeout))
            .set_response_timeout(Some(policy.request_timeout))
            .set_number_of_retries(policy.reconnect_retries);
        ConnectionManager::new_with_config(client, config)
            .await
            .map_err(failed)
    }

    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision {
        provision::provision(request)
    }
}
