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
//! reconnects by itself ([`RECONNECT_RETRIES`] retries with backoff), which is what a stateless process wants
//! from an attached resource. It is built with the binding's CA and client certificate (verified
//! in full by redis-rs: see [`connect`]), the account's credentials, and the policy's
//! `connect_timeout` as both its connection and its response timeout. It skips
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

use attache_core::discover::BindingInput;
use attache_core::{
    Binding as _, CheckId, Connected, Ctx, Finding, Inspection, Kind, Provision, ResourceSpec,
    Severity, TlsRequirement,
};
pub use redis;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::binding::RedisBinding;
use crate::connect::{RedisConn, connect_failure};

/// How many times the app's client retries a failed (re)connection, with exponential backoff
/// from 100 ms, before a command fails.
pub const RECONNECT_RETRIES: usize = 3;

/// The `redis` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis;

impl Kind for Redis {
    const NAME: &'static str = "redis";
    type Need = needs::Need;
    type Binding = RedisBinding;
    type Conn = RedisConn;
    type Client = ConnectionManager;

    fn parse_need(text: &str) -> Result<needs::Need, String> {
        needs::parse(text)
    }

    fn parse_binding(
        input: BindingInput,
        spec: &ResourceSpec,
    ) -> Result<(RedisBinding, Vec<Finding>), Finding> {
        binding::parse(input, spec)
    }

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<RedisConn>, Vec<Finding>> {
        let b = ctx.binding;
        let resource = ctx.resource();
        if b.plaintext && (!b.is_loopback() || ctx.spec.policy.tls == TlsRequirement::Required) {
            // Already reported by the binding (tls-plaintext, high): do not send credentials.
            return Err(Vec::new());
        }
        let (conn, tls) = connect::open(b, resource, ctx.spec.policy.inspect_timeout)
            .await
            .map_err(|f| vec![f])?;
        let client = if b.plaintext {
            None
        } else {
            Some(b.tls.client(resource).map_err(|f| vec![f])?)
        };
        let findings = connect::unauthenticated_login(
            b,
            resource,
            client.as_ref(),
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

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut RedisConn) -> Inspection {
        let posture = inspect::inspect(conn, ctx.needs, ctx.binding.user_name()).await;
        Inspection {
            account: checks::account_json(&posture),
            findings: checks::judge(ctx.resource(), &posture, ctx.needs),
        }
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<ConnectionManager, Finding> {
        let b = ctx.binding;
        let resource = ctx.resource();
        if b.plaintext && !b.is_loopback() {
            return Err(Finding::new(
                CheckId::TlsPlaintext,
                Severity::High,
                resource,
                format!(
                    "{}: plaintext beyond this machine; attache does not connect",
                    b.target()
                ),
                "use a rediss:// URL",
            ));
        }
        attache_core::tls::install_provider();
        let failed = |e: redis::RedisError| connect_failure(resource, b, &e);
        let info = connect::connection_info(b).map_err(failed)?;
        let client = if b.plaintext {
            redis::Client::open(info)
        } else {
            redis::Client::build_with_tls(info, connect::tls_certificates(b, resource)?)
        }
        .map_err(failed)?;
        let timeout = ctx.spec.policy.connect_timeout;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(RECONNECT_RETRIES);
        ConnectionManager::new_with_config(client, config)
            .await
            .map_err(failed)
    }

    fn provision(
        spec: &ResourceSpec,
        needs: &[needs::Need],
        account: &str,
        password: Option<&attache_core::Secret>,
    ) -> Provision {
        provision::provision(spec, needs, account, password)
    }
}
