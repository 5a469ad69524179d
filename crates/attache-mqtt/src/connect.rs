//! Connecting: verify-full TLS through attache's own rustls configuration, then MQTT 5's
//! CONNECT; every failure mapped to the [`Failure`] that says what happened.
//!
//! # Two connections, one TLS
//!
//! - The inspection's connection ([`Session`]) is attache's own: a TCP connection, core's
//!   [`TlsClient::handshake`] (verify-full, exactly the binding's roots, TLS 1.2 or later, the
//!   client certificate, the handshake's facts recorded), then rumqttc's MQTT 5 packets
//!   (`rumqttc::v5::mqttbytes`) written and read on that stream. Attache decides every packet:
//!   a fresh random client id, a clean start, no session expiry, no will, and never a PUBLISH.
//! - The app's client ([`MqttClient`](crate::client::MqttClient)) is rumqttc's event loop with
//!   `Transport::tls_with_config(TlsConfiguration::Rustls(..))` holding the same
//!   configuration. rumqttc's own TLS defaults are never reached: `MqttOptions::new` alone is
//!   plain TCP, and `mqtts://` through `parse_url` or `TlsConfiguration::default()` trusts
//!   the platform's roots; attache never calls either. `tests/mqtt.rs` shows a plaintext
//!   impostor behind an `mqtts://` binding receives a TLS ClientHello and nothing else from
//!   both.
//!
//! MQTT 5 is spoken throughout. A broker that answers MQTT 5's CONNECT with 3.1.1's
//! "unacceptable protocol version" is reported as such.

use std::io;
use std::time::Duration;

use attache_core::Failure;
use attache_core::tls::{TlsClient, TlsFacts};
use bytes::BytesMut;
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, Connect, ConnectReturnCode, Disconnect, DisconnectReasonCode, Filter, Login, Packet,
    RetainForwardRule, Subscribe, SubscribeReasonCode, Unsubscribe,
};
use rumqttc::v5::mqttbytes::{self, QoS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binding::MqttBinding;

/// The largest packet the inspection reads (a SUBACK, a CONNACK, a `$SYS` message).
const MAX_PACKET: u32 = 64 * 1024;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A client id no one uses: `attache-probe-<random>`. Reusing the app's would take its
/// session over and disconnect it.
pub fn probe_client_id() -> String {
    format!("attache-probe-{}", attache_core::probe::unique_suffix())
}

/// One MQTT 5 connection of attache's own, logged in: the inspection's probes run on it.
pub struct Session {
    stream: Box<dyn Stream>,
    buf: BytesMut,
    next_pkid: u16,
    timeout: Duration,
    /// The client id it connected with (a fresh random one).
    pub client_id: String,
}

/// What a subscription probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribed {
    /// The SUBACK's reason code: `Ok` granted, `Err` its name when refused.
    pub granted: Result<(), String>,
    /// The topic and payload of each message delivered before the UNSUBACK (retained ones,
    /// when the probe asked for them).
    pub delivered: Vec<(String, String)>,
}

impl Session {
    /// Connects as `credentials` (or with none): TCP, verify-full TLS with `tls` (unless core
    /// allowed plaintext: `None`), then CONNECT with a fresh client id, a clean start, no will,
    /// each step within `timeout`. Returns the session and the facts of its handshake.
    pub async fn open(
        b: &MqttBinding,
        tls: Option<&TlsClient>,
        credentials: Option<(String, String)>,
        timeout: Duration,
    ) -> Result<(Session, Option<TlsFacts>), Failure> {
        attache_core::tls::install_provider();
        let tcp = within(timeout, TcpStream::connect((b.host(), b.port.value)))
            .await?
            .map_err(|e| io_failure(&e))?;
        let (stream, facts): (Box<dyn Stream>, _) = match tls {
            None => (Box::new(tcp), None),
            Some(tls) => {
                let (stream, facts) = within(timeout, tls.handshake(b.host(), tcp))
                    .await?
                    .map_err(|e| io_failure(&e))?;
                (Box::new(stream), Some(facts))
            }
        };
        let mut session = Session {
            stream,
            buf: BytesMut::new(),
            next_pkid: 1,
            timeout,
            client_id: probe_client_id(),
        };
        let connect = Connect {
            keep_alive: 30,
            client_id: session.client_id.clone(),
            clean_start: true,
            // No properties: session expiry 0, the session ends with the connection.
            properties: None,
        };
        let login = credentials.map(|(u, p)| Login::new(u, p));
        session
            .send(Packet::Connect(connect, None, login))
            .await
            .map_err(|e| io_failure(&e))?;
        match session.receive().await {
            Ok(Packet::ConnAck(ack)) => connack(&ack).map(|()| (session, facts)),
            Ok(other) => Err(Failure::Unreachable(format!(
                "the broker answered CONNECT with {}, not a CONNACK",
                name(&other)
            ))),
            Err(Received::Io(e)) => Err(io_failure(&e)),
            Err(Received::TimedOut) => Err(Failure::TimedOut),
            Err(Received::Malformed(e)) => Err(malformed_connack(&e)),
        }
    }

    async fn send(&mut self, packet: Packet) -> io::Result<()> {
        let mut out = BytesMut::new();
        packet
            .write(&mut out, None)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    async fn receive(&mut self) -> Result<Packet, Received> {
        loop {
            match Packet::read(&mut self.buf, Some(MAX_PACKET)) {
                Ok(packet) => return Ok(packet),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Err(Received::Malformed(e)),
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout(self.timeout, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(Received::TimedOut),
                Ok(Err(e)) => return Err(Received::Io(e)),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Err(Received::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the broker closed the connection",
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn pkid(&mut self) -> u16 {
        let id = self.next_pkid;
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        id
    }

    /// Reads packets until `done` says one is the answer awaited, keeping the messages
    /// delivered meanwhile (QoS 0: nothing to acknowledge).
    async fn until(
        &mut self,
        delivered: &mut Vec<(String, String)>,
        done: impl Fn(&Packet) -> bool,
    ) -> Result<Packet, String> {
        loop {
            match self.receive().await {
                Ok(Packet::Publish(p)) => delivered.push((
                    String::from_utf8_lossy(&p.topic).into_owned(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                )),
                Ok(Packet::Disconnect(d)) => {
                    return Err(format!(
                        "the broker disconnected the probe ({:?})",
                        d.reason_code
                    ));
                }
                Ok(p) if done(&p) => return Ok(p),
                Ok(_) => {}
                Err(Received::TimedOut) => return Err("the broker did not answer in time".into()),
                Err(Received::Io(e)) => return Err(e.to_string()),
                Err(Received::Malformed(e)) => return Err(format!("a malformed packet: {e}")),
            }
        }
    }

    /// SUBSCRIBE to `filter` at QoS 0 (no local messages; retained messages only when
    /// `retained`), and when granted UNSUBSCRIBE at once: the subscription lives for one round
    /// trip. What the broker said, or why the probe could not tell.
    pub async fn probe_subscribe(
        &mut self,
        filter: &str,
        retained: bool,
    ) -> Result<Subscribed, String> {
        let pkid = self.pkid();
        let subscribe = Subscribe {
            pkid,
            filters: vec![Filter {
                path: filter.to_owned(),
                qos: QoS::AtMostOnce,
                nolocal: true,
                preserve_retain: false,
                retain_forward_rule: if retained {
                    RetainForwardRule::OnEverySubscribe
                } else {
                    RetainForwardRule::Never
                },
            }],
            properties: None,
        };
        self.send(Packet::Subscribe(subscribe))
            .await
            .map_err(|e| e.to_string())?;
        let mut delivered = Vec::new();
        let ack = self
            .until(
                &mut delivered,
                |p| matches!(p, Packet::SubAck(a) if a.pkid == pkid),
            )
            .await?;
        let Packet::SubAck(ack) = ack else {
            unreachable!("until returns the SUBACK")
        };
        let granted = match ack.return_codes.first() {
            Some(SubscribeReasonCode::Success(_)) => Ok(()),
            Some(SubscribeReasonCode::NotAuthorized) => Err("0x87 Not authorized".to_owned()),
            Some(SubscribeReasonCode::Failure) => Err("0x80 Failure".to_owned()),
            Some(other) => return Err(format!("the broker answered {other:?}")),
            None => return Err("an empty SUBACK".into()),
        };
        if granted.is_ok() {
            let pkid = self.pkid();
            self.send(Packet::Unsubscribe(Unsubscribe {
                pkid,
                filters: vec![filter.to_owned()],
                properties: None,
            }))
            .await
            .map_err(|e| e.to_string())?;
            self.until(
                &mut delivered,
                |p| matches!(p, Packet::UnsubAck(a) if a.pkid == pkid),
            )
            .await?;
        }
        Ok(Subscribed { granted, delivered })
    }

    /// DISCONNECT (normal: no will is published, the session ends), then close.
    pub async fn close(mut self) {
        let _ = self
            .send(Packet::Disconnect(Disconnect::new(
                DisconnectReasonCode::NormalDisconnection,
            )))
            .await;
        let _ = self.stream.shutdown().await;
    }
}

enum Received {
    Io(io::Error),
    TimedOut,
    Malformed(mqttbytes::Error),
}

async fn within<T>(timeout: Duration, f: impl Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(timeout, f)
        .await
        .map_err(|_| Failure::TimedOut)
}

fn name(p: &Packet) -> &'static str {
    match p {
        Packet::Auth(_) => "AUTH",
        Packet::Connect(..) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::Disconnect(_) => "DISCONNECT",
        _ => "another packet",
    }
}

/// What a CONNACK's reason code means.
pub fn connack(ack: &ConnAck) -> Result<(), Failure> {
    connect_code(ack.code)
}

/// The one mapping of MQTT 5's CONNACK reason codes (what rumqttc names them).
pub fn connect_code(code: ConnectReturnCode) -> Result<(), Failure> {
    use ConnectReturnCode as C;
    match code {
        C::Success => Ok(()),
        C::BadUserNamePassword => Err(Failure::AuthRefused(
            "CONNACK 0x86 Bad user name or password".into(),
        )),
        C::NotAuthorized => Err(Failure::AuthRefused("CONNACK 0x87 Not authorized".into())),
        C::Banned => Err(Failure::AuthRefused("CONNACK 0x8A Banned".into())),
        C::BadAuthenticationMethod => Err(Failure::AuthRefused(
            "CONNACK 0x8C Bad authentication method".into(),
        )),
        C::UnsupportedProtocolVersion | C::RefusedProtocolVersion => Err(Failure::Server(
            "the broker does not speak MQTT 5 (CONNACK: unsupported protocol version); attache's MQTT kind speaks MQTT 5 only".into(),
        )),
        C::ClientIdentifierNotValid | C::BadClientId => Err(Failure::Server(
            "CONNACK 0x85 Client identifier not valid: the broker refuses attache's random client id (is the account bound to one client id?)".into(),
        )),
        other => Err(Failure::Server(format!("CONNACK {other:?}"))),
    }
}

/// A CONNACK that MQTT 5 cannot read: 3.1.1's "unacceptable protocol version" (return code 1
/// without properties) is what a broker that speaks only 3.1.1 sends.
fn malformed_connack(e: &mqttbytes::Error) -> Failure {
    match e {
        mqttbytes::Error::InvalidConnectReturnCode(1) => Failure::Server(
            "the broker answered MQTT 3.1.1's \"unacceptable protocol version\": it does not speak MQTT 5, which attache's MQTT kind speaks only".into(),
        ),
        other => Failure::Unreachable(format!("the broker's answer is not MQTT 5: {other}")),
    }
}

/// An I/O error of connecting: a TLS failure in its chain, a timeout, else unreachable.
pub fn io_failure(err: &io::Error) -> Failure {
    if let Some(tls) = Failure::from_tls(err) {
        return tls;
    }
    let text = attache_core::failure::chain(err);
    if let Some(at) = text.find("invalid peer certificate") {
        return Failure::CertificateInvalid(text[at..].to_owned());
    }
    match err.kind() {
        io::ErrorKind::TimedOut => Failure::TimedOut,
        io::ErrorKind::InvalidData if text.contains("alert") => Failure::Handshake(text),
        _ => Failure::Unreachable(text),
    }
}

/// The one mapping of rumqttc's errors (the app's client connecting): CONNACK codes, then TLS
/// errors in the chain, then I/O.
pub fn failure(err: &rumqttc::v5::ConnectionError) -> Failure {
    use rumqttc::v5::ConnectionError as E;
    match err {
        E::ConnectionRefused(code) => connect_code(*code)
            .err()
            .unwrap_or_else(|| Failure::Server("a refused CONNACK with reason success".into())),
        E::Io(io) => io_failure(io),
        E::Timeout(_) => Failure::TimedOut,
        E::MqttState(rumqttc::v5::StateError::Deserialization(e)) => malformed_connack(e),
        other => {
            if let Some(tls) = Failure::from_tls(other) {
                return tls;
            }
            let text = attache_core::failure::chain(other);
            if let Some(at) = text.find("invalid peer certificate") {
                return Failure::CertificateInvalid(text[at..].to_owned());
            }
            Failure::Unreachable(text)
        }
    }
}

/// What the granted SUBACK says of `subscribed`, for messages.
pub fn said(subscribed: &Subscribed) -> &str {
    match &subscribed.granted {
        Ok(()) => "granted",
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connack_codes_map_to_what_happened() {
        assert!(connect_code(ConnectReturnCode::Success).is_ok());
        for code in [
            ConnectReturnCode::BadUserNamePassword,
            ConnectReturnCode::NotAuthorized,
        ] {
            assert!(matches!(connect_code(code), Err(Failure::AuthRefused(_))));
        }
        let Err(Failure::Server(said)) =
            connect_code(ConnectReturnCode::UnsupportedProtocolVersion)
        else {
            panic!("not a server failure")
        };
        assert!(said.contains("MQTT 5"), "{said}");
        assert!(matches!(
            malformed_connack(&mqttbytes::Error::InvalidConnectReturnCode(1)),
            Failure::Server(s) if s.contains("3.1.1")
        ));
    }

    #[test]
    fn io_errors_map_by_tls_then_kind() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        assert!(matches!(io_failure(&refused), Failure::Unreachable(_)));
        let cert = io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            io_failure(&cert),
            Failure::CertificateInvalid("invalid peer certificate: UnknownIssuer".into())
        );
        let err =
            rumqttc::v5::ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword);
        assert!(matches!(failure(&err), Failure::AuthRefused(_)));
        let err = rumqttc::v5::ConnectionError::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert!(matches!(failure(&err), Failure::Unreachable(_)));
    }

    #[test]
    fn probe_ids_are_fresh() {
        assert_ne!(probe_client_id(), probe_client_id());
        assert!(probe_client_id().starts_with("attache-probe-"));
    }
}
