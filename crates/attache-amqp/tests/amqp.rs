//! The RabbitMQ kind against real brokers (the test kit's, AMQPS only, one per test binary, plus
//! separate ones for certificate cases): the contract suite every kind passes, then what only
//! RabbitMQ has — tags, permissions wider than the needs, another vhost, the probes changing
//! nothing, and an `amqps://` binding that never logs in in plaintext.

use attache_amqp::Amqp;
use attache_amqp::lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use attache_amqp::lapin::types::FieldTable;
use attache_amqp::lapin::{BasicProperties, Connection, ExchangeKind};
use attache_core::{CheckId, Severity};
use attache_testkit::contract::checks;
use attache_testkit::{AMQP_NEEDS, Contract, Fixture, RabbitAccount, RabbitServer};

struct Rabbit;

impl Contract for Rabbit {
    type Kind = Amqp;
    type Server = RabbitServer;
    /// AMQPS starts with the TLS handshake: a plaintext server fails it.
    const DECLINED: CheckId = CheckId::Unreachable;
    /// No account but an administrator can read its permission regexes.
    const SEES_ITS_PRIVILEGES: bool = false;

    async fn request(client: &Connection) -> Result<(), String> {
        let e = |e: attache_amqp::lapin::Error| e.to_string();
        let channel = client.create_channel().await.map_err(e)?;
        channel
            .exchange_declare(
                "orders".into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(e)?;
        channel
            .queue_declare(
                "orders.work".into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(e)?;
        channel
            .queue_bind(
                "orders.work".into(),
                "orders".into(),
                "work".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(e)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(e)?;
        channel
            .basic_publish(
                "orders".into(),
                "work".into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                b"order",
                BasicProperties::default(),
            )
            .await
            .map_err(e)?
            .await
            .map_err(e)?;
        // Each client publishes before it takes one, so there is always one to take (maybe
        // another client's).
        for _ in 0..200 {
            if let Some(message) = channel
                .basic_get("orders.work".into(), BasicGetOptions::default())
                .await
                .map_err(e)?
            {
                message
                    .delivery
                    .acker
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(e)?;
                let _ = channel.close(200, "done".into()).await;
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Err("the message published is not in the queue".into())
    }

    async fn marker(client: &Connection) -> Result<String, String> {
        // The test kit puts the marker in the vhost's name: `<marker>|<user>`.
        let vhost = client.status().vhost().to_string();
        vhost
            .split_once('|')
            .map(|(marker, _)| marker.to_owned())
            .ok_or_else(|| format!("vhost {vhost} holds no marker"))
    }
}

attache_testkit::contract_suite!(Rabbit);

/// The kind's own tests bind resource `queue` through `QUEUE_URL`.
const QUEUE: Fixture = Fixture {
    kind: "amqp",
    resource: "queue",
    var: "QUEUE_URL",
    needs: AMQP_NEEDS,
};

/// The findings of an audit of `account` (its password in a file), less the one `priv-unknown`
/// every account but an administrator gets (its permission regexes).
async fn findings(account: &attache_testkit::RabbitTestAccount) -> Vec<(CheckId, Severity)> {
    let report = QUEUE.check_login::<Amqp>(account, "warn").await.report;
    let kept: Vec<_> = report
        .findings
        .into_iter()
        .filter(|f| !(f.check == CheckId::PrivUnknown && f.message.contains("permission regexes")))
        .collect();
    checks(&kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_privileged_account_is_clean_but_for_its_unreadable_regexes() {
    let account = RabbitServer::shared().account(RabbitAccount::LeastPrivileged);
    let checked = QUEUE.check_login::<Amqp>(&account, "deny").await;
    let f = &checked.report.findings;
    assert_eq!(
        checks(f),
        [(CheckId::PrivUnknown, Severity::Medium)],
        "{f:#?}"
    );
    let account_json = serde_json::to_value(checked.report.account.as_ref().unwrap()).unwrap();
    assert_eq!(account_json["tags"], serde_json::json!({"read": []}));
    assert_eq!(account_json["database"], account.vhost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dangerous_shape_has_its_check() {
    let server = RabbitServer::shared();
    for (case, want) in [
        (
            RabbitAccount::Administrator,
            vec![
                (CheckId::PrivSuperuser, Severity::Critical),
                (CheckId::PrivExcess, Severity::High),
                (CheckId::PrivExcess, Severity::Medium),
            ],
        ),
        (
            RabbitAccount::Monitoring,
            vec![(CheckId::PrivExcess, Severity::High)],
        ),
        (
            RabbitAccount::WidePermissions,
            vec![
                (CheckId::PrivExcess, Severity::High),
                (CheckId::PrivExcess, Severity::Medium),
            ],
        ),
        (
            RabbitAccount::AlsoOnDefaultVhost,
            vec![(CheckId::PrivExcess, Severity::Medium)],
        ),
        (
            RabbitAccount::MissingGrant,
            vec![(CheckId::PrivMissing, Severity::High)],
        ),
    ] {
        let account = server.account(case);
        assert_eq!(findings(&account).await, want, "{case:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_management_api_the_tags_are_unknown_once() {
    let account = RabbitServer::shared().account(RabbitAccount::LeastPrivileged);
    let url = account
        .url()
        .split("&management=")
        .next()
        .unwrap()
        .to_owned();
    let report = QUEUE.check::<Amqp>("warn", &QUEUE.env(&url)).await.report;
    let unknown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == CheckId::PrivUnknown)
        .collect();
    assert_eq!(unknown.len(), 2, "{unknown:#?}");
    assert!(unknown.iter().any(|f| f.message.contains("user tags")));
    // And an administrator without it is still caught by what its permissions reach.
    let admin = RabbitServer::shared().account(RabbitAccount::Administrator);
    let url = admin.url().split("&management=").next().unwrap().to_owned();
    let report = QUEUE.check::<Amqp>("warn", &QUEUE.env(&url)).await.report;
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.check == CheckId::PrivExcess && f.severity == Severity::High),
        "{:#?}",
        report.findings
    );
}

/// Rotation the RabbitMQ way: `change_password` leaves open connections open, so the old
/// connection keeps serving while the new secret rolls out; the re-attach logs in with the new
/// one; the old password no longer logs in. No request of the traffic fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_follows_a_password_rotation_under_traffic() {
    use attache_core::Attached;
    use attache_testkit::contract::{Traffic, attach_options, refused_with};
    let server = RabbitServer::shared();
    let mut account = server.account(RabbitAccount::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = QUEUE.env_with_password_file(&account, dir.path());
    let queue =
        Attached::<Amqp>::attach_with(&QUEUE.manifest("deny"), "queue", env, attach_options())
            .await
            .unwrap();
    let traffic = Traffic::start::<Rabbit>(&queue, 2);
    traffic.wait_for(20).await;

    let old = account.password.clone();
    account.password = "planted-rotated-amqp-password".to_owned();
    server.ctl(&["change_password", &account.user, &account.password]);
    traffic.wait_for(20).await;
    account.write_password_file(dir.path());
    assert_eq!(queue.reattach().await.unwrap(), 2);
    traffic.wait_for(20).await;
    traffic.finish_without_failures().await;
    assert!(queue.status().refused.is_none());

    let mut stale = account.clone();
    stale.password = old.clone();
    // The old secret no longer logs in, and no refusal names it.
    refused_with(
        QUEUE.attach::<Amqp>(&stale.url(), "deny").await,
        CheckId::AuthFailed,
        &old,
    );
}

/// `guest`/`guest`, RabbitMQ's default account, is `cred-default`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_guest_is_cred_default() {
    let server = RabbitServer::shared();
    let vhost = "v_guest";
    server.ctl(&["add_vhost", vhost]);
    server.ctl(&["add_user", "guest", "guest"]);
    server.ctl(&[
        "set_permissions",
        "-p",
        vhost,
        "guest",
        "^(orders|orders\\.work)$",
        "^(orders|orders\\.work)$",
        "^(orders|orders\\.work)$",
    ]);
    let guest = server.account_of("guest", "guest", vhost);
    let report = QUEUE
        .check::<Amqp>("warn", &QUEUE.env(&guest.url()))
        .await
        .report;
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.check == CheckId::CredDefault && f.severity >= Severity::High),
        "{:#?}",
        report.findings
    );
}

/// The transport the app's connection uses (not only the audit's) speaks TLS first, whatever
/// lapin's features: an `amqps://` binding to a server that answers in plaintext AMQP gets a
/// TLS ClientHello and nothing else — no protocol header, no user, no password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_transport_never_logs_in_to_a_plaintext_impostor() {
    use attache_testkit::PlaintextServer;
    use attache_testkit::contract::{assert_only_a_client_hello, binding_at};
    let account = RabbitServer::shared().account(RabbitAccount::LeastPrivileged);
    let impostor = PlaintextServer::start_answering(b"AMQP\x00\x00\x09\x01");
    let (binding, tls) = binding_at::<Amqp>(&account, impostor.port());
    let result = attache_amqp::connect::connection(
        &binding,
        &binding.vhost.value,
        Some(&tls),
        std::time::Duration::from_secs(5),
        Default::default(),
    )
    .await;
    assert!(result.is_err(), "connected to a plaintext impostor");
    assert_only_a_client_hello(&impostor, &account, "AMQP");
}
