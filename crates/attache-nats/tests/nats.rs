//! The NATS kind against real servers (the test kit's nats-server 2.10+, TLS required, one per
//! test binary, plus separate ones for certificate cases): the contract suite every kind
//! passes, then what only NATS has — exact permissions from `$SYS.REQ.USER.INFO`, the system
//! account, a user with no permissions, probes where the account may not ask, a server without
//! authentication, and an `INFO` that offers no TLS.

use std::time::Duration;

use attache_core::{CheckId, Severity};
use attache_nats::Nats;
use attache_nats::async_nats::Client;
use attache_testkit::contract::checks;
use attache_testkit::{
    CertProfile, Contract, Fixture, NATS_NEEDS, NatsAccount, NatsOptions, NatsServer, Pki,
};
use futures_util::StreamExt;

struct Nt;

impl Contract for Nt {
    type Kind = Nats;
    type Server = NatsServer;
    /// A server whose INFO offers no TLS is refused before anything is sent.
    const DECLINED: CheckId = CheckId::TlsPlaintext;

    async fn request(client: &Client) -> Result<(), String> {
        let subject = format!("orders.traffic.{}", client.new_inbox().replace('.', "_"));
        let mut sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| e.to_string())?;
        client
            .publish(subject, "order".into())
            .await
            .map_err(|e| e.to_string())?;
        client.flush().await.map_err(|e| e.to_string())?;
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .map_err(|_| "the message published did not come back".to_owned())?;
        let _ = sub.unsubscribe().await;
        got.map(drop)
            .ok_or_else(|| "the subscription ended".to_owned())
    }

    async fn marker(client: &Client) -> Result<String, String> {
        let name = client.server_info().server_name;
        NatsServer::marker_of(&name).ok_or_else(|| format!("no marker on server {name}"))
    }
}

attache_testkit::contract_suite!(Nt);

/// The kind's own tests bind resource `events` through `EVENTS_URL`.
const EVENTS: Fixture = Fixture {
    kind: "nats",
    resource: "events",
    var: "EVENTS_URL",
    needs: NATS_NEEDS,
};

/// The findings of an audit of `account`, its password in a file.
async fn findings_of(account: &attache_testkit::NatsTestAccount) -> Vec<(CheckId, Severity)> {
    let dir = tempfile::tempdir().unwrap();
    let env = EVENTS.env_with_password_file(account, dir.path());
    checks(&EVENTS.check::<Nats>("warn", &env).await.report.findings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exact_permissions_are_read_and_each_dangerous_shape_has_its_check() {
    let server = NatsServer::shared();
    let least = server.account(NatsAccount::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = EVENTS.env_with_password_file(&least, dir.path());
    let report = EVENTS.check::<Nats>("deny", &env).await.report;
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let account = serde_json::to_value(report.account.unwrap()).unwrap();
    assert_eq!(account["database"], format!("A_{}", least.user));
    assert_eq!(account["unrestricted"], false);
    assert!(
        account["permissions"]["subscribe"]["allow"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "work.* workers"),
        "{account}"
    );
    for (case, want) in [
        (
            NatsAccount::System,
            vec![
                (CheckId::PrivSuperuser, Severity::Critical),
                (CheckId::PrivExcess, Severity::High),
            ],
        ),
        (
            NatsAccount::Unrestricted,
            vec![(CheckId::PrivExcess, Severity::High)],
        ),
        (
            NatsAccount::JetStreamAdmin,
            vec![(CheckId::PrivExcess, Severity::High)],
        ),
        (
            NatsAccount::MissingGrant,
            vec![(CheckId::PrivMissing, Severity::High)],
        ),
    ] {
        let account = server.account(case);
        assert_eq!(findings_of(&account).await, want, "{case:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_the_account_may_not_ask_subscriptions_are_probed_and_publish_is_unknown() {
    let server = NatsServer::shared();
    let account = server.account(NatsAccount::CannotAsk);
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let env = EVENTS.env_with_password_file(&account, dir.path());
    let report = EVENTS.check::<Nats>("warn", &env).await.report;
    let unknown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == CheckId::PrivUnknown)
        .collect();
    assert!(
        unknown
            .iter()
            .any(|f| f.message.contains("publish orders.>")),
        "{:#?}",
        report.findings
    );
    assert!(
        unknown
            .iter()
            .any(|f| f.message.contains("exact permissions")),
        "{:#?}",
        report.findings
    );
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.check == CheckId::PrivUnknown),
        "{:#?}",
        report.findings
    );
    // A refused request ends at the refusal, not at the request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let account = serde_json::to_value(report.account.unwrap()).unwrap();
    let needs = account["needs"].as_array().unwrap();
    assert!(
        needs
            .iter()
            .any(|n| n["need"] == "subscribe work.* queue workers" && n["state"] == "granted"),
        "{needs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_authentication_is_cred_empty() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start_with(
        std::sync::Arc::new(Pki::new(dir.path())),
        CertProfile::Valid,
        NatsOptions {
            no_auth: true,
            ..NatsOptions::default()
        },
    );
    let anyone = server.account_of("anyone", "planted-unused-password");
    let f = findings_of(&anyone).await;
    assert!(f.contains(&(CheckId::CredEmpty, Severity::High)), "{f:?}");
}

/// Rotation the NATS way: a user has one password, and a reload that changes it disconnects
/// the user's clients, so credentials roll over to a second user with the same permissions:
/// its binding is written, the re-attach lands on it, and no request of the traffic fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_rolls_over_to_a_new_user_under_traffic() {
    use attache_core::Attached;
    use attache_testkit::contract::{Files, Traffic, attach_options, eventually};
    let server = NatsServer::shared();
    let first = server.account(NatsAccount::LeastPrivileged);
    let files = Files::pointing_at("EVENTS", &first.clone().into());
    let events = Attached::<Nats>::attach_with(
        &EVENTS.manifest("deny"),
        "events",
        files.env(),
        attach_options(),
    )
    .await
    .unwrap();
    let _watch = events.watch();
    let traffic = Traffic::start::<Nt>(&events, 2);
    traffic.wait_for(20).await;
    let generation = events.status().generation;
    let second = server.account(NatsAccount::LeastPrivileged);
    files.point_at(&second.clone().into());
    eventually("the re-attach to the second user", || {
        events.status().generation > generation
    })
    .await;
    traffic.wait_for(20).await;
    traffic.finish_without_failures().await;
    assert!(events.status().refused.is_none());
    assert!(
        events.status().target.contains(&second.user),
        "{:?}",
        events.status()
    );
}
