//! The RabbitMQ (AMQP 0-9-1) kind of attache.
//!
//! - [`binding`]: `amqps://` URIs with RabbitMQ's own query parameters and servicebinding.io
//!   fields; verify-full TLS unless the binding says otherwise, and anything weaker
//!   (`verify=verify_none`, `server_name_indication=disable`, `amqp://` beyond loopback) is a
//!   finding;
//! - [`connect`]: attache's own verify-full TLS under lapin, so an `amqps://` binding can never
//!   log in in plaintext, whatever lapin's features;
//! - [`inspect`]: permissions probed through the account with operations that change nothing,
//!   the vhost `/`, and the account's tags from the management API where the binding names it;
//! - [`checks`]: the judgement of that posture against the manifest's needs;
//! - [`needs`]: needs in RabbitMQ's permission words (`"write exchange orders"`,
//!   `"read queue orders.work"`, `"read topic orders key eu.*"`);
//! - [`provision`]: the `rabbitmqctl` commands that make the least-privileged account.
//!
//! The app receives a [`lapin::Connection`], opened over the same verified transport, in the
//! binding's vhost, with the policy's `connect_timeout`. It is cheap to clone and shares one
//! TCP connection between channels; open a channel per task (`connection.create_channel()`).
//! lapin does not reconnect by itself (its recovery would replay declarations); an
//! [`Attached`](attache_core::Attached) handle replaces it on a binding change.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use attache_amqp::Amqp;
//! use attache_amqp::lapin::{BasicProperties, options::BasicPublishOptions};
//! use attache_core::{Environment, Manifest};
//!
//! // [resources.queue]
//! // kind = "amqp"
//! // needs = ["write exchange orders"]
//! let manifest = Manifest::load("attache.toml")?;
//! let connection = attache_core::attach::<Amqp>(&manifest, "queue", &Environment::from_process()).await?;
//! let channel = connection.create_channel().await?;
//! channel
//!     .basic_publish("orders".into(), "new".into(), BasicPublishOptions::default(), b"{}", BasicProperties::default())
//!     .await?;
//! # Ok(()) }
//! ```

pub mod binding;
pub mod checks;
pub mod connect;
pub mod inspect;
pub mod needs;
pub mod provision;

use std::sync::{Arc, Mutex};

use attache_core::{
    Connected, Ctx, Failure, Kind, Provision, ProvisionRequest, Surface, TlsAdvice,
};
pub use lapin;

use crate::binding::AmqpBinding;
use crate::connect::AmqpConn;

/// The `amqp` kind (RabbitMQ).
#[derive(Debug, Clone, Copy, Default)]
pub struct Amqp;

impl Kind for Amqp {
    const NAME: &'static str = "amqp";
    const SURFACE: Surface = Surface {
        title: "RabbitMQ",
        url: binding::URL,
        binding_types: &["rabbitmq", "amqp"],
        binding_files: &["vhost", "management"],
        default_passwords: &["guest"],
        tls: TlsAdvice {
            verify_full: "remove it, and give the binding the broker's CA (cacertfile, ca.crt) if its certificate is not signed by a public CA",
            plaintext: "serve AMQPS on the broker (listeners.ssl.default = 5671, ssl_options.*; listeners.tcp = none) and use an amqps:// URI",
            socket: "bind a TCP host with amqps://",
            server_tls: "serve AMQPS on the broker (listeners.ssl.default, ssl_options.* in rabbitmq.conf; listeners.tcp = none)",
            ca: "cacertfile / ca.crt",
            client_cert: "tls.crt and tls.key, or certfile and keyfile",
        },
        no_credential_fix: "give the account a password (rabbitmqctl change_password) and the binding a password file",
        unknown_fix: "have an administrator compare `rabbitmqctl list_user_permissions <user>` and `list_user_topic_permissions <user>` with `attache grants`; name the management API in the binding (management=https://host:15671) so attache can read the account's tags",
        pages: include_str!("../checks.md"),
    };
    type Need = needs::Need;
    type Binding = AmqpBinding;
    type Posture = inspect::Posture;
    type Conn = AmqpConn;
    type Client = lapin::Connection;

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<AmqpConn>, Failure> {
        let b = ctx.binding;
        let (connection, tls) =
            connect::open(b, &b.vhost.value, ctx.tls, ctx.spec.policy.connect_timeout).await?;
        Ok(Connected {
            conn: AmqpConn { connection },
            tls,
            findings: Vec::new(),
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut AmqpConn) -> inspect::Posture {
        inspect::inspect(
            conn,
            ctx.needs,
            ctx.binding,
            ctx.tls,
            ctx.spec.policy.inspect_timeout,
        )
        .await
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<lapin::Connection, Failure> {
        let b = ctx.binding;
        connect::connection(
            b,
            &b.vhost.value,
            ctx.tls,
            ctx.spec.policy.connect_timeout,
            Arc::new(Mutex::new(None)),
        )
        .await
    }

    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision {
        provision::provision(request)
    }
}
