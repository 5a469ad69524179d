//! The MQTT kind against real brokers (the test kit's Mosquitto, TLS only, one per test binary
//! with the dynamic-security plugin, plus separate ones for certificate cases, an anonymous
//! broker and an `acl_file` broker): the contract suite every kind passes, then what only MQTT
//! has — the subscription shapes, anonymous access, a broker that checks no subscription, the
//! app's client id untouched by the probes, rotation by a second account, and an `mqtts://`
//! binding that never logs in in plaintext.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use attache_core::{CheckId, Severity};
use attache_mqtt::rumqttc::v5::mqttbytes::QoS;
use attache_mqtt::{Mqtt, MqttClient};
use attache_testkit::contract::checks;
use attache_testkit::{
    CertProfile, Contract, Fixture, MARKER_TOPIC, MQTT_NEEDS, MosquittoAcl, MosquittoOptions,
    MosquittoServer, MqttAccount, MqttTestAccount, Pki,
};

struct Mosquitto;

/// Waits (bounded: 10 s) for a message on `topic` that `want` accepts; returns its payload.
async fn receive(
    rx: &mut tokio::sync::broadcast::Receiver<attache_mqtt::Message>,
    topic: &str,
    want: impl Fn(&attache_mqtt::Message) -> bool,
) -> Result<String, String> {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(m) if m.topic == topic && want(&m) => {
                    return Ok(String::from_utf8_lossy(&m.payload).into_owned());
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| format!("no message on {topic} within 10 s"))?
}

impl Contract for Mosquitto {
    type Kind = Mqtt;
    type Server = MosquittoServer;
    /// MQTTS starts with the TLS handshake: a plaintext server fails it.
    const DECLINED: CheckId = CheckId::Unreachable;
    /// Publish rights are never probed (attache never publishes): always `priv-unknown`.
    const SEES_ITS_PRIVILEGES: bool = false;

    async fn request(client: &MqttClient) -> Result<(), String> {
        // Publish one order and read it back through the client's subscription (`orders/#`).
        let mut rx = client.messages();
        let payload = format!("order-{}", attache_core::probe::unique_suffix());
        client
            .publish("orders/new", payload.clone())
            .await
            .map_err(|e| e.to_string())?;
        receive(&mut rx, "orders/new", |m| m.payload == payload.as_bytes()).await?;
        Ok(())
    }

    async fn marker(client: &MqttClient) -> Result<String, String> {
        // The test kit keeps the marker as a retained message: a new subscription gets it.
        let mut rx = client.messages();
        client
            .client()
            .subscribe(MARKER_TOPIC, QoS::AtLeastOnce)
            .await
            .map_err(|e| e.to_string())?;
        let marker = receive(&mut rx, MARKER_TOPIC, |m| m.retain).await;
        let _ = client.client().unsubscribe(MARKER_TOPIC).await;
        marker
    }
}

attache_testkit::contract_suite!(Mosquitto);

/// The kind's own tests bind resource `broker` through `BROKER_URL`.
const BROKER: Fixture = Fixture {
    kind: "mqtt",
    resource: "broker",
    var: "BROKER_URL",
    needs: MQTT_NEEDS,
};

/// The findings of an audit of `account` (its password in a file), less the `priv-unknown`s.
async fn known(account: &MqttTestAccount) -> Vec<(CheckId, Severity)> {
    let f = BROKER.findings_for::<Mqtt>(account, "warn").await;
    let kept: Vec<_> = f
        .into_iter()
        .filter(|f| f.check != CheckId::PrivUnknown)
        .collect();
    checks(&kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_privileged_account_is_clean_but_for_what_publishing_would_show() {
    let account = MosquittoServer::shared().account(MqttAccount::LeastPrivileged);
    let checked = BROKER.check_login::<Mqtt>(&account, "deny").await;
    let f = &checked.report.findings;
    assert_eq!(
        checks(f),
        [
            (CheckId::PrivUnknown, Severity::Medium),
            (CheckId::PrivUnknown, Severity::Medium)
        ],
        "{f:#?}"
    );
    assert!(f.iter().any(|f| f.message.contains("publish orders/new")));
    let json = serde_json::to_value(checked.report.account.as_ref().unwrap()).unwrap();
    assert_eq!(json["subscriptions_checked"], true);
    assert_eq!(json["needs"][1]["state"], "granted", "{json:#}");
    assert_eq!(json["sys"]["sys"], "refused", "{json:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dangerous_shape_has_its_check() {
    let server = MosquittoServer::shared();
    use CheckId::{PrivExcess, PrivMissing, PrivSuperuser};
    use Severity::{Critical, High, Medium};
    for (case, check, severity) in [
        (MqttAccount::Admin, PrivSuperuser, Critical),
        (MqttAccount::SubscribeAll, PrivSuperuser, Critical),
        (MqttAccount::ReadsSys, PrivExcess, Medium),
        (MqttAccount::MissingGrant, PrivMissing, High),
    ] {
        let account = server.account(case);
        assert_eq!(known(&account).await, [(check, severity)], "{case:?}");
    }
}

/// An account with `subscribePattern #` and the admin topic refused: every app's messages,
/// high.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_everything_but_the_admin_topic_is_blanket_excess() {
    let server = MosquittoServer::shared();
    let account = server.account(MqttAccount::LeastPrivileged);
    server.ctl(&[
        "addRoleACL",
        &account.user,
        "subscribePattern",
        "#",
        "allow",
    ]);
    server.ctl(&[
        "addRoleACL",
        &account.user,
        "subscribePattern",
        "$CONTROL/#",
        "deny",
        "10",
    ]);
    let f = BROKER.findings_for::<Mqtt>(&account, "warn").await;
    let excess: Vec<_> = f
        .iter()
        .filter(|f| f.check == CheckId::PrivExcess)
        .collect();
    assert_eq!(excess.len(), 1, "{f:#?}");
    assert_eq!(excess[0].severity, Severity::High);
    assert!(excess[0].evidence.iter().any(|e| e.contains("every app")));
    assert!(
        !f.iter().any(|f| f.check == CheckId::PrivSuperuser),
        "{f:#?}"
    );
}

fn separate(options: MosquittoOptions) -> MosquittoServer {
    let dir = tempfile::tempdir().unwrap().keep();
    MosquittoServer::start_with(Arc::new(Pki::new(&dir)), CertProfile::Valid, options)
}

/// A broker with `allow_anonymous true`: anyone gets in, `cred-empty`, high.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_lets_anyone_in_is_cred_empty() {
    let server = separate(MosquittoOptions {
        allow_anonymous: true,
        ..MosquittoOptions::default()
    });
    let account = server.account(MqttAccount::LeastPrivileged);
    let f = BROKER.findings_for::<Mqtt>(&account, "warn").await;
    let empty = f
        .iter()
        .find(|f| f.check == CheckId::CredEmpty)
        .unwrap_or_else(|| panic!("cred-empty: {f:#?}"));
    assert_eq!(empty.severity, Severity::High);
    assert!(empty.message.contains("anyone"), "{}", empty.message);
    // The shared broker does not.
    let least = MosquittoServer::shared().account(MqttAccount::LeastPrivileged);
    assert!(
        !known(&least)
            .await
            .iter()
            .any(|(c, _)| *c == CheckId::CredEmpty)
    );
}

/// Mosquitto's `acl_file` checks no subscription: attache says what it cannot see and guesses
/// nothing, for the least-privileged account and for one that may read everything alike; the
/// least-privileged account still attaches and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_file_broker_leaves_reading_unknown_and_says_why() {
    static FILE: OnceLock<MosquittoServer> = OnceLock::new();
    let server = FILE.get_or_init(|| {
        separate(MosquittoOptions {
            acl: MosquittoAcl::File,
            ..MosquittoOptions::default()
        })
    });
    for case in [MqttAccount::LeastPrivileged, MqttAccount::SubscribeAll] {
        let account = server.account(case);
        let f = BROKER.findings_for::<Mqtt>(&account, "deny").await;
        assert!(
            f.iter().all(|f| f.check == CheckId::PrivUnknown),
            "{case:?}: {f:#?}"
        );
        assert!(
            f.iter().any(|f| f.message.contains("subscribe orders/#")
                && f.evidence.iter().any(|e| e.contains("acl_file"))),
            "{case:?}: {f:#?}"
        );
    }
    // What can be seen there is what the broker delivers: an account it gives `$SYS` to
    // cannot be told from one that may subscribe to everything, and the finding says both.
    let sys = server.account(MqttAccount::ReadsSys);
    let f = BROKER.findings_for::<Mqtt>(&sys, "warn").await;
    let su = f
        .iter()
        .find(|f| f.check == CheckId::PrivSuperuser)
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert!(su.message.contains("reads at least $SYS"), "{}", su.message);
    let account = server.account(MqttAccount::LeastPrivileged);
    let client = BROKER
        .attach::<Mqtt>(&account.url(), "deny")
        .await
        .expect("priv-unknown does not refuse");
    Mosquitto::request(&client).await.unwrap();
}

/// The probes never take the app's client id: an app attached with `client_id=` keeps its
/// connection while the audit runs on the same binding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_never_takes_the_apps_client_id() {
    let account = MosquittoServer::shared().account(MqttAccount::LeastPrivileged);
    let url = format!("{}&client_id=orders-app-{}", account.url(), account.user);
    let client = BROKER.attach::<Mqtt>(&url, "warn").await.unwrap();
    assert_eq!(client.client_id(), format!("orders-app-{}", account.user));
    for _ in 0..3 {
        BROKER.check::<Mqtt>("warn", &BROKER.env(&url)).await;
    }
    Mosquitto::request(&client)
        .await
        .expect("the app's connection was left alone");
}

/// Mosquitto's dynamic-security plugin disconnects an account's connections when its password
/// changes, so a password changed in place fails the app's requests until the re-attach.
/// Rotation without a failed request is by a second account with the same role: the new
/// binding is attached while the old one still serves, then the old account is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_follows_a_rotation_to_a_second_account_under_traffic() {
    use attache_core::Attached;
    use attache_testkit::contract::{Files, Traffic, attach_options, refused_with};
    let server = MosquittoServer::shared();
    let old = server.account(MqttAccount::LeastPrivileged);
    let files = Files::pointing_at(&BROKER.prefix(), &old.clone().into());
    let broker = Attached::<Mqtt>::attach_with(
        &BROKER.manifest("deny"),
        "broker",
        files.env(),
        attach_options(),
    )
    .await
    .unwrap();
    let traffic = Traffic::start::<Mosquitto>(&broker, 2);
    traffic.wait_for(20).await;

    // The new secret: a second account holding the same role.
    let new = server.account_of(
        &format!("{}_next", old.user),
        "planted-rotated-mqtt-password",
    );
    server.ctl(&["createClient", &new.user, "-p", &new.password]);
    server.ctl(&["addClientRole", &new.user, &old.user]);
    traffic.wait_for(20).await;
    files.point_at(&new.clone().into());
    assert_eq!(broker.reattach().await.unwrap(), 2);
    traffic.wait_for(20).await;
    // The old account goes once nothing uses it (deleting it disconnects its connections).
    attache_testkit::contract::eventually("the old client drained", || {
        broker.status().draining == 0
    })
    .await;
    server.ctl(&["deleteClient", &old.user]);
    traffic.wait_for(20).await;
    traffic.finish_without_failures().await;
    assert!(broker.status().refused.is_none());

    // The old secret no longer logs in, and no refusal names it.
    refused_with(
        BROKER.attach::<Mqtt>(&old.url(), "deny").await,
        CheckId::AuthFailed,
        &old.password,
    );
}

/// The transport the app's client uses (not only the audit's) speaks TLS first: an `mqtts://`
/// binding to a server that answers in plaintext MQTT gets a TLS ClientHello and nothing else
/// — no CONNECT, no user, no password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_client_never_logs_in_to_a_plaintext_impostor() {
    use attache_testkit::PlaintextServer;
    use attache_testkit::contract::{assert_only_a_client_hello, binding_at};
    let account = MosquittoServer::shared().account(MqttAccount::LeastPrivileged);
    let impostor = PlaintextServer::start_answering(b"\x20\x03\x00\x00\x00");
    let (binding, tls) = binding_at::<Mqtt>(&account, impostor.port());
    let subscriptions = vec!["orders/#".to_owned()];
    let result =
        MqttClient::connect(&binding, Some(&tls), subscriptions, Duration::from_secs(5)).await;
    assert!(result.is_err(), "connected to a plaintext impostor");
    // CONNECT starts with its protocol name, `MQTT`.
    assert_only_a_client_hello(&impostor, &account, "MQTT");
}
