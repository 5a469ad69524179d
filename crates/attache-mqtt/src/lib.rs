//! The MQTT kind of attache (Mosquitto).
//!
//! - [`binding`]: `mqtts://` URLs with Mosquitto's words for the TLS files and servicebinding.io
//!   fields; verify-full TLS unless the binding says otherwise, and anything weaker
//!   (`insecure=true`, `mqtt://` beyond loopback) is a finding; the app's `client_id`;
//! - [`connect`]: attache's own verify-full TLS stream carrying rumqttc's MQTT 5 packets for the
//!   inspection, and one mapping of every failure;
//! - [`inspect`]: subscribe rights probed through the account with SUBSCRIBE and UNSUBSCRIBE on
//!   a connection of its own (never the app's client id, never a publish);
//! - [`checks`]: the judgement of that posture against the manifest's needs, and what stays
//!   unknown on a broker that checks no subscription (Mosquitto's `acl_file`);
//! - [`needs`]: needs in MQTT's words (`"publish sensors/temp"`, `"subscribe commands/#"`);
//! - [`provision`]: the `mosquitto_ctrl dynsec` commands that make the least-privileged
//!   account (and the `acl_file` lines, in the notes);
//! - [`client`]: what the app gets, [`MqttClient`].
//!
//! The app receives an [`MqttClient`]: rumqttc's MQTT 5 `AsyncClient` over the same verified
//! TLS configuration, with the task that drives its event loop, subscribed to the manifest's
//! `subscribe` needs (again after every reconnection), incoming messages on a broadcast
//! channel. An [`Attached`](attache_core::Attached) handle replaces it on a binding change.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use attache_core::{Environment, Manifest};
//! use attache_mqtt::Mqtt;
//!
//! // [resources.broker]
//! // kind = "mqtt"
//! // needs = ["publish sensors/temp", "subscribe commands/#"]
//! let manifest = Manifest::load("attache.toml")?;
//! let broker = attache_core::attach::<Mqtt>(&manifest, "broker", &Environment::from_process()).await?;
//! let mut commands = broker.messages();
//! broker.publish("sensors/temp", "21.5").await?;
//! let command = commands.recv().await?;
//! println!("{}: {:?}", command.topic, command.payload);
//! # Ok(()) }
//! ```

pub mod binding;
pub mod checks;
pub mod client;
pub mod connect;
pub mod inspect;
pub mod needs;
pub mod provision;

use attache_core::{
    Connected, Ctx, Failure, Finding, Kind, Provision, ProvisionRequest, Surface, TlsAdvice,
};
pub use client::{Message, MqttClient};
pub use rumqttc;

use crate::binding::MqttBinding;
use crate::connect::Session;
use crate::needs::Verb;

/// The `mqtt` kind (Mosquitto).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mqtt;

/// The inspection's connection.
pub struct MqttConn {
    /// Logged in, with a fresh random client id.
    pub session: Session,
}

/// The filters of the `subscribe` needs, which the app's client subscribes to.
fn subscriptions(needs: &[needs::Need]) -> Vec<String> {
    needs
        .iter()
        .filter(|n| n.verb == Verb::Subscribe)
        .map(|n| n.filter.clone())
        .collect()
}

impl Kind for Mqtt {
    const NAME: &'static str = "mqtt";
    const SURFACE: Surface = Surface {
        title: "MQTT",
        url: binding::URL,
        binding_types: &["mqtt", "mosquitto"],
        binding_files: &["client_id"],
        default_passwords: &[],
        tls: TlsAdvice {
            verify_full: "remove it, and give the binding the broker's CA (cafile, ca.crt) if its certificate is not signed by a public CA",
            plaintext: "serve MQTT over TLS on the broker (listener 8883 with cafile, certfile, keyfile; no plain listener) and use an mqtts:// URL",
            socket: "bind a TCP host with mqtts://",
            server_tls: "serve MQTT over TLS on the broker (listener 8883 with cafile, certfile and keyfile in mosquitto.conf; no plain listener 1883)",
            ca: "cafile / ca.crt",
            client_cert: "tls.crt and tls.key, or certfile and keyfile",
        },
        no_credential_fix: "set allow_anonymous false (every listener's default since Mosquitto 2.0), give the app an account (`attache grants`) and the binding a password file",
        unknown_fix: "use Mosquitto's dynamic-security plugin, which answers a refused subscription with SUBACK 0x87, and have an administrator compare `mosquitto_ctrl dynsec getClient <user>` and its roles (`getRole`) with `attache grants`; publish rights only an administrator can read",
        pages: include_str!("../checks.md"),
    };
    type Need = needs::Need;
    type Binding = MqttBinding;
    type Posture = inspect::Posture;
    type Conn = MqttConn;
    type Client = MqttClient;

    async fn connect(ctx: Ctx<'_, Self>) -> Result<Connected<MqttConn>, Failure> {
        let b = ctx.binding;
        let timeout = ctx.spec.policy.connect_timeout;
        let (session, tls) = Session::open(b, ctx.tls, b.credentials(), timeout).await?;
        let mut findings = Vec::new();
        // Whether anyone gets in: a connection of its own with no user name (when the binding
        // has one: without, core says so of the binding itself).
        if b.user.is_some()
            && let Ok((anonymous, _)) = Session::open(b, ctx.tls, None, timeout).await
        {
            anonymous.close().await;
            findings.push(Finding::new(
                attache_core::CheckId::CredEmpty,
                attache_core::Severity::High,
                ctx.resource(),
                format!(
                    "{} accepts a connection with no credentials: anyone who reaches it can connect",
                    attache_core::Binding::target(b)
                ),
                <Mqtt as Kind>::SURFACE.no_credential_fix,
            ));
        }
        Ok(Connected {
            conn: MqttConn { session },
            tls,
            findings,
        })
    }

    async fn inspect<'a>(ctx: Ctx<'a, Self>, conn: &'a mut MqttConn) -> inspect::Posture {
        let user = ctx.binding.user.as_ref().map_or("", |u| u.value.as_str());
        inspect::inspect(&mut conn.session, ctx.needs, user).await
    }

    async fn client(ctx: Ctx<'_, Self>) -> Result<MqttClient, Failure> {
        MqttClient::connect(
            ctx.binding,
            ctx.tls,
            subscriptions(ctx.needs),
            ctx.spec.policy.connect_timeout,
        )
        .await
    }

    async fn client_with(ctx: Ctx<'_, Self>, conn: MqttConn) -> Result<MqttClient, Failure> {
        conn.session.close().await;
        Self::client(ctx).await
    }

    fn close(client: &MqttClient) {
        client.close();
    }

    fn provision(request: &ProvisionRequest<'_, Self>) -> Provision {
        provision::provision(request)
    }
}
