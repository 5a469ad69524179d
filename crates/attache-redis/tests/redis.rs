//! The Redis kind against real servers (the test kit's, TLS only, one per test binary, plus
//! separate ones for certificate and configuration cases): the contract suite every kind
//! passes, then what only Redis has — ACL rules read or probed, dangerous commands, key and
//! channel patterns, the `default` user, `#insecure`, the probes changing nothing, and a
//! password rotation followed by the connection manager.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attache_core::{CheckId, Finding, Kind, Severity, attach, check};
use attache_redis::Redis;
use attache_redis::inspect::{Answer, Purpose};
use attache_redis::needs::Catalog;
use attache_redis::redis::AsyncCommands;
use attache_redis::redis::aio::ConnectionManager;
use attache_testkit::contract::{assert_no_secret, checks, refused_with};
use attache_testkit::{
    CertProfile, Contract, Fixture, MitmProxy, Pki, REDIS_NEEDS, RedisAccount, RedisOptions,
    RedisServer, RedisTestAccount, Service, Shape,
};

struct Rd;

impl Contract for Rd {
    type Kind = Redis;
    type Server = RedisServer;
    /// Redis's TLS starts at the first byte: a plaintext server fails the handshake.
    const DECLINED: CheckId = CheckId::Unreachable;
    /// A least-privileged account may not run `ACL GETUSER` on itself.
    const SEES_ITS_PRIVILEGES: bool = false;

    async fn request(client: &ConnectionManager) -> Result<(), String> {
        let mut client = client.clone();
        let key = format!("session:traffic-{}", std::process::id());
        let () = client.set(&key, "v").await.map_err(|e| e.to_string())?;
        let _: bool = client.expire(&key, 60).await.map_err(|e| e.to_string())?;
        let got: Option<String> = client.get(&key).await.map_err(|e| e.to_string())?;
        got.map(drop)
            .ok_or_else(|| "the key written is not there".to_owned())
    }

    async fn marker(client: &ConnectionManager) -> Result<String, String> {
        let mut client = client.clone();
        let got: Option<String> = client
            .get("session:marker")
            .await
            .map_err(|e| e.to_string())?;
        got.ok_or_else(|| "no marker".to_owned())
    }
}

attache_testkit::contract_suite!(Rd);

/// The kind's own tests bind resource `cache` through `CACHE_URL`.
const CACHE: Fixture = Fixture {
    kind: "redis",
    resource: "cache",
    var: "CACHE_URL",
    needs: REDIS_NEEDS,
};

/// A key under the needs' pattern that no other test uses.
fn session_key(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("session:{test}-{}-{nanos}", std::process::id())
}

#[tokio::test]
async fn least_privileged_account_attaches_and_works() {
    let server = RedisServer::shared();
    let account = server.account(RedisAccount::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = CACHE.env_with_password_file(&account, dir.path());
    let m = CACHE.manifest("deny");
    let checked = CACHE.check::<Redis>("deny", &env).await;
    let findings = &checked.report.findings;
    // It may not read its own ACL: what the probes cannot show is said, nothing else is found.
    assert!(
        findings.iter().all(|f| f.check == CheckId::PrivUnknown),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.message.contains("may not read its own ACL")),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.evidence.iter().any(|e| e.starts_with("channel &events"))),
        "the needed channel cannot be probed without publishing to it: {findings:#?}"
    );
    // The TLS facts of this binding are the contract suite's
    // (`least_privileged_attaches_over_verified_tls`).
    let json = &serde_json::to_value(checked.report.account.as_ref().unwrap()).unwrap();
    assert_eq!(json["user"], account.user.as_str());
    assert!(json["rules"].is_null());
    let probes = json["probes"].as_array().unwrap();
    let answer = |entry: &str, purpose: &str| {
        probes
            .iter()
            .find(|p| p["entry"] == entry && p["purpose"] == purpose)
            .map(|p| p["answer"].as_str().unwrap().to_owned())
    };
    assert_eq!(answer("get", "need").as_deref(), Some("allowed"));
    assert_eq!(
        answer("flushall", "excess").as_deref(),
        Some("command-denied")
    );
    assert_eq!(
        answer("config|set", "excess").as_deref(),
        Some("command-denied")
    );
    assert_eq!(answer("get", "wide-keys").as_deref(), Some("key-denied"));
    assert_eq!(
        answer("publish", "wide-channels").as_deref(),
        Some("channel-denied")
    );

    // excess = "deny" and still attaches: nothing beyond the needs was found.
    let mut cache = attach::<Redis>(&m, "cache", &env)
        .await
        .expect("least-privileged attaches");
    let key = session_key("works");
    let _: () = cache.set(&key, "alice").await.unwrap();
    let _: bool = cache.expire(&key, 60).await.unwrap();
    let got: Option<String> = cache.get(&key).await.unwrap();
    assert_eq!(got.as_deref(), Some("alice"));
    // And the server really enforces what attache judged.
    let flush: Result<(), _> = attache_redis::redis::cmd("FLUSHALL")
        .query_async(&mut cache)
        .await;
    assert_eq!(flush.unwrap_err().code(), Some("NOPERM"));
    let outside: Result<Option<String>, _> = cache.get("other:key").await;
    assert_eq!(outside.unwrap_err().code(), Some("NOPERM"));
}

#[tokio::test]
async fn an_account_that_reads_its_own_acl_is_judged_from_its_rules() {
    let server = RedisServer::shared();
    let account = server.account(RedisAccount::CanReadOwnAcl);
    let dir = tempfile::tempdir().unwrap();
    let env = CACHE.env_with_password_file(&account, dir.path());
    let checked = CACHE.check::<Redis>("warn", &env).await;
    let report = checked.report;
    // The rules are the whole truth: nothing is unknown, and ACL GETUSER itself is the excess.
    assert_eq!(
        checks(&report.findings),
        vec![(CheckId::PrivExcess, Severity::High)],
        "{:#?}",
        report.findings
    );
    let f = &report.findings[0];
    assert!(
        f.evidence.iter().any(|e| e.contains(
            "`+acl|getuser` grants acl|getuser (reads every user's rules and password hashes"
        )),
        "{:?}",
        f.evidence
    );
    let json = &serde_json::to_value(report.account.as_ref().unwrap()).unwrap();
    let commands = json["rules"]["commands"].as_str().unwrap();
    for word in [
        "-@all",
        "+get",
        "+set",
        "+expire",
        "+publish",
        "+acl|getuser",
        "+acl|whoami",
    ] {
        assert!(
            commands.split(' ').any(|w| w == word),
            "{word} in {commands}"
        );
    }
    assert_eq!(json["rules"]["keys"][0], "~session:*");
    assert_eq!(json["probes"].as_array().unwrap().len(), 0);
    // The password hash GETUSER returned is kept nowhere.
    let getuser = server.admin(&["ACL", "GETUSER", &account.user]);
    let hash = getuser
        .lines()
        .find(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .expect("the admin sees the hash");
    assert!(!format!("{report:?} {json}").contains(hash));
}

#[tokio::test]
async fn all_powerful_account_is_superuser_and_refused() {
    let account = RedisServer::shared().account(RedisAccount::AllPowerful);
    let (_, f) = refused_with(
        CACHE.attach::<Redis>(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.evidence.contains(&"keys: ~*".to_owned()),
        "{:?}",
        f.evidence
    );
    assert!(
        f.remedy.contains(&format!(
            "ACL SETUSER {} -@all +get +set +expire +publish",
            account.user
        )),
        "{}",
        f.remedy
    );
}

#[tokio::test]
async fn dangerous_commands_found_by_probes_are_high_excess() {
    let account = RedisServer::shared().account(RedisAccount::Dangerous);
    let findings = CACHE.findings_for::<Redis>(&account, "warn").await;
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::PrivExcess && f.severity == Severity::High)
        .unwrap_or_else(|| panic!("{findings:#?}"));
    for entry in ["flushall", "config|set", "config|get"] {
        assert!(
            f.evidence.iter().any(|e| e.starts_with(entry)),
            "{entry}: {:?}",
            f.evidence
        );
    }
    assert!(f.remedy.contains("-flushall"), "{}", f.remedy);
    // It cannot read its ACL: the rest is unknown, said as such.
    assert!(findings.iter().any(|f| f.check == CheckId::PrivUnknown));
    // warn: reported, attaches; deny: refused.
    CACHE
        .attach::<Redis>(&account.url(), "warn")
        .await
        .expect("excess only warns by default");
    refused_with(
        CACHE.attach::<Redis>(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
}

#[tokio::test]
async fn missing_grant_is_refused_with_the_acl_setuser_that_fixes_it() {
    let account = RedisServer::shared().account(RedisAccount::MissingGrant);
    let (_, f) = refused_with(
        CACHE.attach::<Redis>(&account.url(), "warn").await,
        CheckId::PrivMissing,
        &account.password,
    );
    assert_eq!(f.message, "need `+get +set +expire ~session:*` is not met");
    assert_eq!(f.remedy, format!("ACL SETUSER {} +expire", account.user));
}

#[tokio::test]
async fn keys_wider_than_the_needs_are_excess() {
    let account = RedisServer::shared().account(RedisAccount::WideKeys);
    let findings = CACHE.findings_for::<Redis>(&account, "warn").await;
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::PrivExcess)
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(f.severity, Severity::Medium);
    assert!(
        f.evidence.iter().any(|e| e.starts_with(
            "keys beyond the needs' patterns: `GET attache-probe:<random>` got past the ACL"
        )),
        "{:?}",
        f.evidence
    );
    assert!(
        f.remedy.contains(&format!(
            "ACL SETUSER {} resetkeys ~session:*",
            account.user
        )),
        "{}",
        f.remedy
    );
    refused_with(
        CACHE.attach::<Redis>(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
}

#[tokio::test]
async fn default_user_without_password_is_cred_empty() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start_with(
        Arc::new(Pki::new(dir.path())),
        CertProfile::Valid,
        RedisOptions {
            default_user_nopass: true,
            ..RedisOptions::default()
        },
    );
    // Even a least-privileged account is refused: the server lets anyone in.
    let account = server.account(RedisAccount::LeastPrivileged);
    let (_, f) = refused_with(
        CACHE.attach::<Redis>(&account.url(), "warn").await,
        CheckId::CredEmpty,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence, ["PING without AUTH answered PONG"]);

    // A binding with no user and no password gets in as `default`, which is +@all.
    let url = account
        .url()
        .replace(&format!("{}:{}@", account.user, account.password), "");
    assert!(url.starts_with("rediss://127.0.0.1:"), "{url}");
    let report = CACHE.check::<Redis>("warn", &CACHE.env(&url)).await.report;
    let c = checks(&report.findings);
    assert!(
        c.contains(&(CheckId::CredEmpty, Severity::Critical)),
        "{c:?}"
    );
    assert!(
        c.contains(&(CheckId::PrivSuperuser, Severity::Critical)),
        "{c:?}"
    );
    assert_eq!(
        report.account.as_ref().unwrap().user.as_deref(),
        Some("default")
    );
}

#[tokio::test]
async fn insecure_fragment_is_tls_unverified_and_attache_still_verifies() {
    let account = RedisServer::shared().account(RedisAccount::LeastPrivileged);
    let url = format!("{}#insecure", account.url());
    let report = CACHE.check::<Redis>("warn", &CACHE.env(&url)).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::TlsUnverified)
        .expect("tls-unverified");
    assert_eq!(f.severity, Severity::High);
    assert!(f.message.contains("#insecure"), "{}", f.message);
    assert_eq!(report.tls.as_ref().unwrap().verification, "verify-full");
    refused_with(
        CACHE.attach::<Redis>(&url, "warn").await,
        CheckId::TlsUnverified,
        &account.password,
    );

    // Towards a man in the middle, `#insecure` changes nothing: the certificate is refused.
    let mitm = MitmProxy::start(account.port);
    let url = url.replace(
        &format!(":{}/", account.port),
        &format!(":{}/", mitm.port()),
    );
    refused_with(
        CACHE.attach::<Redis>(&url, "warn").await,
        CheckId::TlsCertInvalid,
        &account.password,
    );
    assert_eq!(mitm.handshakes_completed(), 0);
    assert!(mitm.received().is_empty());
}

#[tokio::test]
async fn the_apps_client_refuses_a_server_the_binding_ca_did_not_sign() {
    // The ConnectionManager uses redis-rs's own TLS: it must verify as strictly.
    let account = RedisServer::shared().account(RedisAccount::LeastPrivileged);
    let mitm = MitmProxy::start(account.port);
    let url = account.url().replace(
        &format!(":{}/", account.port),
        &format!(":{}/", mitm.port()),
    );
    let m = CACHE.manifest("warn");
    let spec = m.resource("cache").unwrap();
    let binding = check::<Redis>(spec, &[], &CACHE.env(&url))
        .await
        .binding
        .expect("the binding parses");
    let tls = attache_core::Binding::transport(&binding)
        .tls
        .client("cache")
        .unwrap();
    let ctx = attache_core::Ctx::<Redis> {
        spec,
        needs: &[],
        binding: &binding,
        tls: Some(&tls),
    };
    let f = match Redis::client(ctx).await {
        Ok(_) => panic!("redis-rs accepted the MITM certificate"),
        Err(f) => f,
    };
    assert!(
        matches!(f, attache_core::Failure::CertificateInvalid(_)),
        "{f:?}"
    );
    assert_no_secret(&format!("{f:?}"), &account.password);
    assert_eq!(mitm.handshakes_completed(), 0);
    assert!(mitm.received().is_empty());
}

#[tokio::test]
async fn a_server_demanding_a_client_certificate_says_so_in_the_remedy() {
    // The contract suite's server with `tls-auth-clients yes` (it shows the certificate works).
    let account = RedisServer::client_cert_server().login(Shape::LeastPrivileged);
    let (_, f) = refused_with(
        CACHE.attach::<Redis>(&account.url, "warn").await,
        CheckId::Unreachable,
        &account.password,
    );
    assert!(f.remedy.contains("client certificate"), "{}", f.remedy);
}

#[tokio::test]
async fn no_redis_shaped_failure_prints_the_password() {
    // The contract suite tries the failures every kind has; these are Redis's own.
    let account = RedisServer::shared().account(RedisAccount::LeastPrivileged);
    let cases = [
        account
            .url()
            .replace("rediss://", "redis://")
            .replace("?ssl_ca_certs", "?x"),
        account.url().replace("/0?", "/notadb?"),
        format!("{}#{}", account.url(), account.password),
    ];
    for url in cases {
        let report = CACHE.check::<Redis>("warn", &CACHE.env(&url)).await.report;
        assert!(
            report.findings.iter().any(|f| f.severity >= Severity::High),
            "{url}: {:#?}",
            report.findings
        );
        assert_no_secret(&format!("{report:?}"), &account.password);
        match CACHE.attach::<Redis>(&url, "warn").await {
            Ok(_) => panic!("{url} attached"),
            Err(e) => assert_no_secret(&format!("{e} {e:?}"), &account.password),
        }
    }
}

#[tokio::test]
async fn plaintext_beyond_loopback_is_refused_without_connecting() {
    // 203.0.113.1 (TEST-NET-3) never answers: a connection attempt would take the whole timeout.
    let url = "redis://app:planted-nowhere@203.0.113.1:6379/0";
    let started = Instant::now();
    let report = CACHE.check::<Redis>("warn", &CACHE.env(url)).await.report;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it tried to connect"
    );
    let c = checks(&report.findings);
    assert!(
        c.contains(&(CheckId::TlsPlaintext, Severity::High)),
        "{c:?}"
    );
    assert!(!c.iter().any(|(c, _)| *c == CheckId::Unreachable), "{c:?}");
    assert!(report.tls.is_none() && report.account.is_none());
    assert_no_secret(&format!("{report:?}"), "planted-nowhere");
}

#[tokio::test]
async fn provisioning_drift_is_named_in_acl_words() {
    // The contract suite runs the round trip; this is what Redis's findings say of each drift.
    let server = RedisServer::shared();
    let m = CACHE.manifest("deny");
    let spec = m.resource("cache").unwrap();
    let provision = |user: &str, password: Option<&attache_core::Secret>| {
        attache_core::kind::provision::<Redis>(&m.path, spec, user, password).unwrap()
    };
    let provisioned = |user: &str| {
        let password = format!("planted-provision-{user}");
        let p = provision(user, Some(&attache_core::Secret::new(password.clone())));
        server.provisioned(user, &password, &p.statements)
    };
    let privileged = |f: &[Finding]| -> Vec<CheckId> {
        f.iter()
            .map(|f| f.check)
            .filter(|c| *c != CheckId::PrivUnknown)
            .collect()
    };

    let exact = provisioned("prov_exact");
    let f = CACHE.findings_for::<Redis>(&exact, "deny").await;
    assert_eq!(
        privileged(&f),
        vec![],
        "provisioned account is exactly its needs: {f:#?}"
    );
    CACHE
        .attach::<Redis>(&exact.url, "deny")
        .await
        .expect("the provisioned account attaches under excess = deny");

    let less = provisioned("prov_less");
    server.admin(&["ACL", "SETUSER", "prov_less", "-get"]);
    let f = CACHE.findings_for::<Redis>(&less, "deny").await;
    assert_eq!(privileged(&f), vec![CheckId::PrivMissing], "{f:#?}");
    let missing = f.iter().find(|f| f.check == CheckId::PrivMissing).unwrap();
    assert_eq!(missing.remedy, "ACL SETUSER prov_less +get");

    for (user, grant, severity) in [
        ("prov_more_flushall", "+flushall", Severity::High),
        ("prov_more_del", "+del", Severity::Medium),
    ] {
        let more = provisioned(user);
        server.admin(&["ACL", "SETUSER", user, grant]);
        let f = CACHE.findings_for::<Redis>(&more, "deny").await;
        assert_eq!(privileged(&f), vec![CheckId::PrivExcess], "{grant}: {f:#?}");
        let excess = f.iter().find(|f| f.check == CheckId::PrivExcess).unwrap();
        assert_eq!(excess.severity, severity, "{grant}");
        assert!(
            excess
                .remedy
                .contains(&format!("ACL SETUSER {user} -{}", &grant[1..])),
            "{}",
            excess.remedy
        );
    }

    // Without a password, the statement carries a marker the server refuses: nothing changes.
    let p = provision("prov_unfilled", None);
    let refused = server.try_admin_script(&p.statements.join("\n"));
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("password hash")),
        "{refused:?}"
    );
    assert!(!server.admin(&["ACL", "USERS"]).contains("prov_unfilled"));
}

/// Runs every probe as an all-powerful account (so each one gets past the ACL) on a server of
/// its own, then shows that nothing changed; and as a least-privileged one, that each is denied
/// and the denial is in the server's ACL LOG.
#[tokio::test]
async fn probes_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start(Arc::new(Pki::new(dir.path())), CertProfile::Valid);
    server.admin(&["SET", "sentinel:db0", "kept"]);
    let needs: Vec<_> = REDIS_NEEDS
        .iter()
        .map(|n| n.parse::<attache_redis::needs::Need>().unwrap())
        .collect();
    let m = CACHE.manifest("warn");
    let spec = m.resource("cache").unwrap();

    let open = |account: RedisTestAccount| {
        let env = CACHE.env(&account.url());
        async move {
            let binding = check::<Redis>(spec, &[], &env).await.binding.unwrap();
            let tls = attache_core::Binding::transport(&binding)
                .tls
                .client("cache")
                .unwrap();
            attache_redis::connect::open(&binding, Some(&tls), Duration::from_secs(5))
                .await
                .unwrap()
                .0
        }
    };

    let admin_like = server.account(RedisAccount::AllPowerful);
    let mut conn = open(admin_like).await;
    let (probes, _) = attache_redis::inspect::probe(conn.connection(), &needs).await;
    let excess: Vec<_> = probes
        .iter()
        .filter(|p| p.purpose == Purpose::Excess)
        .collect();
    assert!(excess.len() >= 10, "{excess:#?}");
    for p in &excess {
        assert_eq!(p.answer, Answer::Ran, "{} : {}", p.shown, p.reply);
    }
    // Nothing happened: the key is there, no user was made, no save ran, the connection lives.
    assert_eq!(server.admin(&["GET", "sentinel:db0"]).trim(), "kept");
    assert!(!server.admin(&["ACL", "USERS"]).contains("attache-probe"));
    let persistence = server.admin(&["INFO", "persistence"]);
    assert!(
        persistence.contains("rdb_bgsave_in_progress:0"),
        "{persistence}"
    );
    assert!(persistence.contains("rdb_saves:0"), "{persistence}");
    assert_eq!(server.admin(&["DBSIZE"]).trim(), "1");
    let pong: String = attache_redis::redis::cmd("PING")
        .query_async(conn.connection())
        .await
        .unwrap();
    assert_eq!(pong, "PONG");

    let least = server.account(RedisAccount::LeastPrivileged);
    let user = least.user.clone();
    let mut conn = open(least).await;
    let (probes, items) = attache_redis::inspect::probe(conn.connection(), &needs).await;
    for p in probes.iter().filter(|p| p.purpose == Purpose::Excess) {
        assert_eq!(p.answer, Answer::CommandDenied, "{}", p.shown);
    }
    assert!(items.iter().any(|(i, _)| i.what == "command get"));
    let log = server.admin(&["ACL", "LOG", "100"]);
    assert!(log.contains(&user) && log.contains("flushall"), "{log}");
    assert_eq!(server.admin(&["DBSIZE"]).trim(), "1");
}

#[test]
fn category_table_matches_the_server() {
    let server = RedisServer::shared();
    let catalog = Catalog::get();
    let names: Vec<String> = server
        .admin(&["ACL", "CAT"])
        .lines()
        .map(str::to_owned)
        .collect();
    let mut known: Vec<&str> = catalog.category_names().collect();
    known.sort();
    let mut served: Vec<&str> = names.iter().map(String::as_str).collect();
    served.sort();
    assert_eq!(known, served);
    for name in &names {
        let served: std::collections::BTreeSet<String> = server
            .admin(&["ACL", "CAT", name])
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            catalog.category(name).unwrap(),
            &served,
            "category @{name} differs"
        );
    }
}

/// Rotation the Redis way (an ACL user may hold two passwords while the secret rolls out):
/// add the new password, write the secret, re-attach, drop the old password.
#[tokio::test]
async fn attached_client_follows_a_password_rotation() {
    use attache_core::{AttachOptions, Attached};
    let server = RedisServer::shared();
    let mut account = server.account(RedisAccount::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = CACHE.env_with_password_file(&account, dir.path());
    let options = AttachOptions::default().drain_grace(Duration::from_secs(2));
    let cache = Attached::<Redis>::attach_with(&CACHE.manifest("deny"), "cache", env, options)
        .await
        .unwrap();
    let key = session_key("rotation");
    let mut conn = (*cache.get()).clone();
    let _: () = conn.set(&key, "before").await.unwrap();

    let old = account.password.clone();
    account.password = "planted-rotated-redis-password".to_owned();
    server.admin(&[
        "ACL",
        "SETUSER",
        &account.user,
        &format!(">{}", account.password),
    ]);
    account.write_password_file(dir.path());
    assert_eq!(cache.reattach().await.unwrap(), 2);
    server.admin(&["ACL", "SETUSER", &account.user, &format!("<{old}")]);

    let mut conn = (*cache.get()).clone();
    let value: String = conn.get(&key).await.unwrap();
    assert_eq!(value, "before");
    assert!(cache.status().refused.is_none());

    let mut stale = account.clone();
    stale.password = old.clone();
    // The old secret no longer logs in, and no refusal names it.
    refused_with(
        CACHE.attach::<Redis>(&stale.url(), "deny").await,
        CheckId::AuthFailed,
        &old,
    );
}

/// The oldest TLS version a server accepts is probed with one ClientHello offering at most
/// TLS 1.1 (attache never speaks it): a server configured to accept it is `tls-weak-protocol`
/// and its TLS posture says TLSv1.1; the default test server refuses it and says TLSv1.2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_accepting_tls_1_1_is_tls_weak_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start_with(
        Arc::new(Pki::new(dir.path())),
        CertProfile::Valid,
        RedisOptions {
            accept_tls_1_1: true,
            ..RedisOptions::default()
        },
    );
    let account = server.account(RedisAccount::LeastPrivileged);
    let (floor, weak) = CACHE.tls_floor::<Redis>(&account.url()).await;
    assert_eq!(floor.as_deref(), Some("TLSv1.1"));
    let [weak] = &weak[..] else {
        panic!("one tls-weak-protocol: {weak:#?}")
    };
    assert_eq!(weak.severity, Severity::Medium);
    assert!(weak.message.contains("TLSv1.1"), "{}", weak.message);

    let shared = RedisServer::shared().account(RedisAccount::LeastPrivileged);
    let (floor, weak) = CACHE.tls_floor::<Redis>(&shared.url()).await;
    assert_eq!((floor.as_deref(), weak.len()), (Some("TLSv1.2"), 0));
}
