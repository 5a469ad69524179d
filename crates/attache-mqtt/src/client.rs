//! What the app gets: [`MqttClient`], rumqttc's MQTT 5 [`AsyncClient`] with the task that
//! drives its event loop, over attache's verify-full TLS.
//!
//! rumqttc splits a connection in two: the `AsyncClient` that queues requests and the
//! `EventLoop` that must be polled for anything to happen (the connection, keep-alive,
//! acknowledgements, incoming messages, reconnection). `MqttClient` owns both: a tokio task
//! polls the event loop for as long as the client lives (it is aborted on drop), hands every
//! incoming message to a broadcast channel ([`MqttClient::messages`]), and after every
//! (re)connection subscribes again to the manifest's `subscribe` needs (the session is clean:
//! the broker forgets subscriptions with the connection). A dropped connection is retried with
//! backoff, 100 ms doubling to 5 s.
//!
//! The client id is the binding's `client_id` when it names one, else a fresh
//! `attache-<random>` for each client: two clients of the same id take each other's session
//! over, so when an [`Attached`](attache_core::Attached) handle swaps a client with a fixed id,
//! the new connection ends the old one (the old client stops rather than take it back).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use attache_core::Failure;
use attache_core::tls::TlsClient;
use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{DisconnectReasonCode, Filter, Packet};
use rumqttc::v5::{AsyncClient, ClientError, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use tokio::sync::broadcast;

use crate::binding::MqttBinding;

/// How many incoming messages the broadcast channel keeps for a slow receiver.
const MESSAGES: usize = 1024;
/// The largest packet the client accepts from the broker (told in CONNECT).
const MAX_PACKET: u32 = 1 << 20;

/// A message the broker delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// Whether it is a retained message (delivered because of a subscription, not live).
    pub retain: bool,
}

/// The app's MQTT 5 connection: publish through [`MqttClient::publish`] or
/// [`MqttClient::client`], receive through [`MqttClient::messages`]. `Send + Sync`; share it
/// by reference or in an `Arc` (an [`Attached`](attache_core::Attached) handle does).
pub struct MqttClient {
    client: AsyncClient,
    messages: broadcast::Sender<Message>,
    client_id: String,
    closing: Arc<AtomicBool>,
    driver: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for MqttClient {
    // rumqttc's options hold the password: only the client id is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl MqttClient {
    /// Connects as the binding says (`tls` as core decided; `None` is plaintext, which core
    /// allows only to this machine), waits for the broker's CONNACK within `timeout`, subscribes
    /// to `subscriptions` and starts driving the connection.
    pub async fn connect(
        b: &MqttBinding,
        tls: Option<&TlsClient>,
        subscriptions: Vec<String>,
        timeout: Duration,
    ) -> Result<MqttClient, Failure> {
        attache_core::tls::install_provider();
        let client_id = b
            .client_id
            .as_ref()
            .map(|id| id.value.clone())
            .unwrap_or_else(|| format!("attache-{}", attache_core::probe::unique_suffix()));
        let mut options = MqttOptions::new(client_id.clone(), b.host(), b.port.value);
        options
            .set_clean_start(true)
            .set_keep_alive(Duration::from_secs(30))
            .set_connection_timeout(timeout.as_secs().max(1))
            .set_max_packet_size(Some(MAX_PACKET))
            .set_transport(match tls {
                Some(tls) => Transport::tls_with_config(TlsConfiguration::Rustls(tls.config())),
                None => Transport::Tcp,
            });
        if let Some((user, password)) = b.credentials() {
            options.set_credentials(user, password);
        }
        let (client, mut events) = AsyncClient::new(options, 64);
        let connected = tokio::time::timeout(timeout, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(crate::connect::failure(&e)),
                }
            }
        })
        .await;
        match connected {
            Err(_) => return Err(Failure::TimedOut),
            Ok(Err(failure)) => return Err(failure),
            Ok(Ok(())) => {}
        }
        let (messages, _) = broadcast::channel(MESSAGES);
        let closing = Arc::new(AtomicBool::new(false));
        let filters: Vec<Filter> = subscriptions
            .iter()
            .map(|f| Filter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        if !filters.is_empty() {
            client
                .try_subscribe_many(filters.clone())
                .map_err(|e| Failure::Server(format!("subscribing to the needs: {e}")))?;
        }
        let driver = tokio::spawn(drive(
            events,
            client.clone(),
            filters,
            messages.clone(),
            closing.clone(),
        ));
        Ok(MqttClient {
            client,
            messages,
            client_id,
            closing,
            driver,
        })
    }

    /// rumqttc's client, for everything MQTT 5 offers (subscribing to more, properties, QoS 2).
    /// A subscription made here lasts until the connection drops; the needs' subscriptions are
    /// made again on every reconnection.
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// The client id the connection uses.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Every message the broker delivers from now on (each receiver sees all of them; a
    /// receiver more than 1024 messages behind loses the oldest).
    pub fn messages(&self) -> broadcast::Receiver<Message> {
        self.messages.subscribe()
    }

    /// Publishes `payload` on `topic`, QoS 1, not retained. Returns once rumqttc has queued
    /// it; the broker's PUBACK is handled by the connection's task.
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
    }

    /// Ends the connection politely (DISCONNECT, no will) and stops its task.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let _ = self.client.try_disconnect();
    }
}

/// Polls the event loop until the client closes: incoming messages to `messages`, the
/// subscriptions made again after every reconnection, errors retried with backoff.
async fn drive(
    mut events: EventLoop,
    client: AsyncClient,
    filters: Vec<Filter>,
    messages: broadcast::Sender<Message>,
    closing: Arc<AtomicBool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // A reconnection (connect() read the first CONNACK): a clean session again.
                backoff = Duration::from_millis(100);
                if !filters.is_empty() {
                    let _ = client.try_subscribe_many(filters.clone());
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let _ = messages.send(Message {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    payload: p.payload,
                    retain: p.retain,
                });
            }
            Ok(Event::Incoming(Packet::Disconnect(d)))
                if d.reason_code == DisconnectReasonCode::SessionTakenOver =>
            {
                tracing::warn!(
                    "the broker handed this client's session to another connection with the same client id; this client stops"
                );
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if closing.load(Ordering::SeqCst) {
                    return;
                }
                if matches!(e, rumqttc::v5::ConnectionError::RequestsDone) {
                    return;
                }
                tracing::warn!("MQTT connection lost ({e}); reconnecting in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
