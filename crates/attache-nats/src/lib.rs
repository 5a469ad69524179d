//! The NATS kind of attache.
//!
//! - [`binding`]: `tls://` and `nats://` URLs (both TLS) and servicebinding.io fields; a token
//!   or a user and password;
//! - [`connect`]: attache's own look at the server's `INFO` and the verify-full handshake before
//!   async-nats sends anything, then async-nats with TLS required;
//! - [`inspect`]: the account's exact permissions from `$SYS.REQ.USER.INFO`, whether it is the
//!   system account, or, where it may not ask, subscription probes that change nothing;
//! - [`checks`]: the judgement of that posture against the needs;
//! - [`needs`]: needs in NATS's permission words (`"publish orders.>"`,
//!   `"subscribe work.* queue workers"`), subjects compared as the server matches them;
//! - [`provision`]: the user entry with exactly the needs.
//!
//! The app receives an [`async_nats::Client`]: cheap to clone, shared between tasks, and it
//! reconnects by itself (with TLS required, so a reconnect cannot land in plaintext).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use attache_core::{Environment, Manifest};
//! use attache_nats::Nats;
//!
//! // [resources.events]
//! // kind = "nats"
//! // needs = ["publish orders.>"]
//! let manifest = Manifest::load("attache.toml")?;
//! let client = attache_core::attach::<Nats>(&manifest, "events", &Environment::from_process()).await?;
//! client.publish("orders.new", "{}".into()).await?;
//! # Ok(()) }
//! ```

pub mod binding;
pub mod checks;
pub mod connect;
pub mod inspect;
pub mod needs;
pub mod provision;

pub use async_nats;
use attache_core::{
    CheckId, Connected, Ctx, Failure, Finding, Kind, Provision, ProvisionRequest, Severity,
    Surface, TlsAdvice,
};

use crate::binding::NatsBinding;

/// The inspection connection and the server errors it received.
pub struct NatsConn {
    /// The client, connected as the binding's account.
    pub client: async_nats::Client,
    /// Every server error (permission violations) it received.
    pub errors: connect::Errors,
}

/// The `nats` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nats;

impl Kind for Nats {
    const NAME: &'static str = "nats";
    const SURFACE: Surface = Surface {
        title: "NATS",
        url: binding::URL,
        binding_types: &["nats"],
        binding_files: &[],
        default_passwords: &["s3cr3t", "T0pS3cr3t"],
        tls: TlsAdvice {
            verify_full: "remove it, and give the binding the server's CA (tlsca, ca.crt) if its certificate is not signed by a public CA",
            plaintext: "serve TLS on the server (a tls { cert_file, key_file } block) and leave tls=false out of the URL",
            socket: "bind a TCP host with tls://",
            server_tls: "serve TLS on the server: a tls { cert_file, key_file } block in its configuration, so its INFO says tls_required",
            ca: "tlsca / ca.crt",
            client_cert: "tls.crt and tls.key, or tlscert and tlskey",
        },
        no_credential_fix: "require authentication on the server (an authorization block or accounts with users) and give the binding a password file",
        unknown_fix: "let the account publish on $SYS.REQ.USER.INFO and subscribe on its own inbox (_INBOX.<user>.>), which `attache grants` adds, on nats-server 2.10 or later; or have an administrator compare the server's configuration with `attache grants`",
        pages: include_str!("../checks.md"),
    };
    type Need = needs::Need;
    type Binding = NatsBinding;
    type Posture = inspect::Posture;
    type Conn = NatsConn;
    type Client = async_nats::Client;

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<NatsConn>, Failure> {
        let b = ctx.binding;
        let timeout = ctx.spec.policy.connect_timeout;
        let seen = connect::preflight(b, ctx.tls, timeout).await?;
        let mut findings = Vec::new();
        if !seen.info.auth_required {
            findings.push(
                Finding::new(
                    CheckId::CredEmpty,
                    Severity::High,
                    ctx.resource(),
                    format!(
                        "{}: the server asks no client for credentials (its INFO lacks auth_required): anyone who reaches the port is in",
                        attache_core::Binding::target(b)
                    ),
                    "require authentication on the server: an authorization block, or accounts with users",
                )
                .with_evidence([format!("INFO of nats-server {}", seen.info.version)]),
            );
        }
        let errors = connect::Errors::default();
        let client = connect::client(
            b,
            ctx.tls,
            timeout,
            ctx.spec.policy.inspect_timeout,
            Some(errors.clone()),
        )
        .await?;
        Ok(Connected {
            conn: NatsConn { client, errors },
            tls: seen.tls,
            findings,
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut NatsConn) -> inspect::Posture {
        let b = ctx.binding;
        inspect::inspect(
            &conn.client,
            &conn.errors,
            ctx.needs,
            attache_core::Binding::user(b).unwrap_or("token"),
            &connect::inbox_prefix(b),
            ctx.spec.policy.inspect_timeout,
        )
        .await
    }

    /// The server's INFO, which must offer TLS.
    async fn before_tls(stream: &mut tokio::net::TcpStream) -> std::io::Result<bool> {
        match connect::read_info(stream).await {
            Ok(info) => Ok(info.tls_required || info.tls_available),
            Err(_) => Ok(false),
        }
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<async_nats::Client, Failure> {
        // The binding passed the preflight in this same check; the app's client requires TLS.
        let policy = &ctx.spec.policy;
        connect::client(
            ctx.binding,
            ctx.tls,
            policy.connect_timeout,
            policy.request_timeout,
            None,
        )
        .await
    }

    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision {
        provision::provision(request)
    }
}
