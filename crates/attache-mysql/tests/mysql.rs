//! The MySQL kind against a real server (the test kit's MariaDB, TLS only, one per test
//! binary): what attaches, what is refused and why, and that no password ever leaks into an
//! error.

use std::path::Path;
use std::sync::Arc;

use attache_core::{AttachError, CheckId, Environment, Finding, Manifest, Severity, attach, check};
use attache_mysql::mysql_async::prelude::*;
use attache_mysql::{Mysql, Pool};
use attache_testkit::{
    CertProfile, MYSQL_NEEDS, MysqlAccount, MysqlServer, MysqlStripServer, MysqlTestAccount, Pki,
};

fn manifest(excess: &str) -> Manifest {
    let needs: Vec<String> = MYSQL_NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Manifest::parse(
        "attache.toml",
        &format!(
            "[resources.db]\nkind = \"mysql\"\nenv = \"DATABASE_URL\"\nneeds = [{}]\n[resources.db.policy]\nexcess = \"{excess}\"\n",
            needs.join(", ")
        ),
    )
    .unwrap()
}

fn env_for(url: &str) -> Environment {
    Environment::from_pairs([("DATABASE_URL", url)])
}

/// A binding with the password in a 0600 file, the recommended shape.
fn env_with_password_file(account: &MysqlTestAccount, dir: &Path) -> Environment {
    let pw = account.write_password_file(dir);
    Environment::from_pairs([
        ("DATABASE_URL", account.url_without_password()),
        ("DB_PASSWORD_FILE", pw.to_string_lossy().into_owned()),
    ])
}

/// Runs the full check of resource `db` with the manifest's needs.
async fn check_with_needs(m: &Manifest, env: &Environment) -> attache_core::Checked<Mysql> {
    let spec = m.resource("db").unwrap();
    let needs = attache_core::kind::parse_needs::<Mysql>(&m.path, spec).unwrap();
    check::<Mysql>(spec, &needs, env).await
}

async fn attach_db(url: &str, excess: &str) -> Result<Pool, AttachError> {
    attach::<Mysql>(&manifest(excess), "db", &env_for(url)).await
}

/// Asserts the attach was refused with `check` and printed no password; returns that finding.
fn refused_with(
    result: Result<Pool, AttachError>,
    check: CheckId,
    password: &str,
) -> (AttachError, Finding) {
    let err = match result {
        Ok(_) => panic!("expected the attach to be refused with {check}"),
        Err(e) => e,
    };
    let Some(finding) = err.findings().iter().find(|f| f.check == check).cloned() else {
        panic!("expected {check}, got {err}");
    };
    assert_no_secret(&format!("{err} {err:?}"), password);
    (err, finding)
}

fn assert_no_secret(text: &str, password: &str) {
    assert!(!password.is_empty());
    assert!(!text.contains(password), "the password leaked: {text}");
}

async fn findings_for(account: &MysqlTestAccount, excess: &str) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_password_file(account, dir.path());
    let report = check_with_needs(&manifest(excess), &env).await.report;
    if !account.password.is_empty() {
        assert_no_secret(&format!("{report:?}"), &account.password);
    }
    report.findings
}

fn with_port(url: &str, from: u16, to: u16) -> String {
    url.replace(&format!(":{from}/"), &format!(":{to}/"))
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn least_privileged_account_attaches_and_works() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_password_file(&account, dir.path());
    let m = manifest("deny");
    let checked = check_with_needs(&m, &env).await;
    assert!(
        checked.report.findings.is_empty(),
        "{:#?}",
        checked.report.findings
    );
    let tls = checked.report.tls.as_ref().expect("TLS facts recorded");
    assert_eq!(tls.verification, "verify-full");
    assert!(
        tls.version == "TLSv1.3" || tls.version == "TLSv1.2",
        "{}",
        tls.version
    );
    assert!(
        tls.peer_sans.contains(&"IP:127.0.0.1".to_owned()),
        "{:?}",
        tls.peer_sans
    );
    assert!(tls.peer_days_left > 300, "{}", tls.peer_days_left);
    let account_json = &serde_json::to_value(checked.report.account.as_ref().unwrap()).unwrap();
    assert_eq!(account_json["user"], format!("{}@%", account.user).as_str());
    assert_eq!(account_json["require"], "SSL");
    let json = serde_json::to_string(account_json).unwrap();
    assert!(
        !json.contains("IDENTIFIED") && !json.contains("*"),
        "no password hash in the report: {json}"
    );

    // excess = "deny" and still attaches: nothing beyond the needs.
    let pool = attach::<Mysql>(&m, "db", &env)
        .await
        .expect("least-privileged attaches");
    assert_no_secret(&format!("{pool:?}"), &account.password);
    let mut conn = pool.get_conn().await.unwrap();
    conn.exec_drop(
        "INSERT INTO signups (email) VALUES (?)",
        ("new@example.com",),
    )
    .await
    .unwrap();
    let email: Option<String> = conn
        .exec_first("SELECT email FROM signups WHERE id = LAST_INSERT_ID()", ())
        .await
        .unwrap();
    assert_eq!(email.as_deref(), Some("new@example.com"));
    // The pool's connection is TLS over TCP, not mysql_async's switch to the unix socket.
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(
        cipher.is_some_and(|(_, c)| !c.is_empty()),
        "the app's connection is encrypted"
    );
    // And the server really enforces what attache judged: DELETE is not granted.
    let denied = conn.query_drop("DELETE FROM signups").await.unwrap_err();
    match denied {
        attache_mysql::mysql_async::Error::Server(e) => assert_eq!(e.code, 1142, "{e}"),
        other => panic!("expected a server error, got {other}"),
    }
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[tokio::test]
async fn all_privileges_on_star_is_refused() {
    let account = MysqlServer::shared().account(MysqlAccount::AllOnStar);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("ALL PRIVILEGES on *.*"), "{}", f.message);
}

#[tokio::test]
async fn file_and_super_are_refused() {
    let account = MysqlServer::shared().account(MysqlAccount::ServerAdmin);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Critical);
    for privilege in ["FILE on *.* (directly)", "SUPER on *.* (directly)"] {
        assert!(
            f.evidence.iter().any(|e| e.starts_with(privilege)),
            "{privilege}: {:?}",
            f.evidence
        );
    }
    assert!(
        f.remedy.starts_with(&format!(
            "REVOKE FILE, SUPER ON *.* FROM '{}'@'%';",
            account.user
        )),
        "{}",
        f.remedy
    );
}

#[tokio::test]
async fn grant_option_and_create_user_are_role_admin() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::GrantOption);
    let findings = findings_for(&account, "warn").await;
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::PrivRoleAdmin)
        .unwrap_or_else(|| panic!("priv-role-admin: {findings:#?}"));
    assert_eq!(f.severity, Severity::High);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("WITH GRANT OPTION, directly")),
        "{:?}",
        f.evidence
    );
    refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivRoleAdmin,
        &account.password,
    );

    let account = server.account(MysqlAccount::LeastPrivileged);
    server.admin_sql(&format!(
        "GRANT CREATE USER ON *.* TO '{}'@'%';",
        account.user
    ));
    let findings = findings_for(&account, "warn").await;
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::PrivRoleAdmin)
        .unwrap_or_else(|| panic!("priv-role-admin: {findings:#?}"));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("CREATE USER on *.*")),
        "{:?}",
        f.evidence
    );
}

#[tokio::test]
async fn missing_grant_is_refused_with_the_grant_to_run() {
    let account = MysqlServer::shared().account(MysqlAccount::MissingGrant);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivMissing,
        &account.password,
    );
    assert_eq!(f.message, "need `INSERT, SELECT ON signups` is not met");
    assert_eq!(
        f.remedy,
        format!(
            "GRANT INSERT ON `{}`.`signups` TO '{}'@'%';",
            account.database, account.user
        )
    );
}

#[tokio::test]
async fn excess_is_reported_and_refused_under_deny() {
    let account = MysqlServer::shared().account(MysqlAccount::Excess);
    let findings = findings_for(&account, "warn").await;
    let checks: Vec<_> = findings.iter().map(|f| (f.check, f.severity)).collect();
    assert_eq!(
        checks,
        vec![
            (CheckId::PrivExcess, Severity::High),
            (CheckId::PrivExcess, Severity::Medium)
        ],
        "{findings:#?}"
    );
    let db = &account.database;
    assert_eq!(
        findings[0].evidence,
        vec![format!("DROP on {db}.* (directly)")]
    );
    assert_eq!(
        findings[1].evidence,
        vec![format!("DELETE on {db}.signups (directly)")]
    );
    assert!(
        findings[1].remedy.contains(&format!(
            "REVOKE DELETE ON `{db}`.`signups` FROM '{}'@'%';",
            account.user
        )),
        "{}",
        findings[1].remedy
    );
    // Refused under `deny`; under the default `warn` excess only warns, even when high (the
    // CLI's audit still fails on it: exit 1 at --fail-on high).
    refused_with(
        attach_db(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
    attach_db(&account.url(), "warn")
        .await
        .expect("excess only warns by default");
}

#[tokio::test]
async fn medium_excess_refuses_only_under_deny() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::LeastPrivileged);
    server.admin_sql(&format!(
        "GRANT UPDATE ON {}.signups TO '{}'@'%';",
        account.database, account.user
    ));
    let (_, f) = refused_with(
        attach_db(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Medium);
    attach_db(&account.url(), "warn")
        .await
        .expect("medium excess only warns by default");
}

#[tokio::test]
async fn excess_through_a_granted_role_names_the_role() {
    let account = MysqlServer::shared().account(MysqlAccount::ViaRole);
    let role = account.role.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_password_file(&account, dir.path());
    let report = check_with_needs(&manifest("warn"), &env).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::PrivExcess)
        .unwrap_or_else(|| panic!("priv-excess: {:#?}", report.findings));
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.evidence,
        vec![format!(
            "DELETE, DROP on {}.* (via role {role})",
            account.database
        )]
    );
    assert!(
        f.remedy.contains(&format!("FROM `{role}`;")),
        "{}",
        f.remedy
    );
    // The role is not active at login, and still counts: the account can SET ROLE to it.
    let roles = &serde_json::to_value(report.account.as_ref().unwrap()).unwrap()["roles"];
    assert_eq!(roles[0]["name"], role.as_str());
    assert_eq!(roles[0]["active"], false);
    refused_with(
        attach_db(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
}

#[tokio::test]
async fn superuser_role_granted_but_inactive_is_refused() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::LeastPrivileged);
    let outer = format!("{}_outer", account.user);
    let inner = format!("{}_inner", account.user);
    server.admin_sql(&format!(
        "CREATE ROLE {inner}; GRANT FILE ON *.* TO {inner};\n\
         CREATE ROLE {outer}; GRANT {inner} TO {outer};\n\
         GRANT {outer} TO '{}'@'%';",
        account.user
    ));
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert!(f.message.contains("SET ROLE"), "{}", f.message);
    assert!(
        f.message.contains(&format!("through {outer} → {inner}")),
        "{}",
        f.message
    );
    assert_eq!(
        f.remedy,
        format!(
            "REVOKE `{outer}` FROM '{}'@'%'; a granted role can be set at any time, default or not",
            account.user
        )
    );
}

#[tokio::test]
async fn empty_password_is_cred_empty() {
    let account = MysqlServer::shared().account(MysqlAccount::EmptyPassword);
    let m = manifest("warn");
    let env = env_for(&account.url_without_password());
    let report = check_with_needs(&m, &env).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::CredEmpty)
        .unwrap_or_else(|| panic!("cred-empty: {:#?}", report.findings));
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains(&account.user), "{}", f.message);
    let err = attach::<Mysql>(&m, "db", &env)
        .await
        .expect_err("an account without a password is refused");
    assert!(
        err.findings().iter().any(|f| f.check == CheckId::CredEmpty),
        "{err}"
    );
}

#[tokio::test]
async fn weak_ssl_modes_are_refused() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    for (mode, check) in [
        ("PREFERRED", CheckId::TlsDowngradePermitted),
        ("REQUIRED", CheckId::TlsUnverified),
        ("VERIFY_CA", CheckId::TlsUnverified),
    ] {
        let url = account
            .url()
            .replace("ssl-mode=VERIFY_IDENTITY", &format!("ssl-mode={mode}"));
        assert!(url.contains(mode));
        let (_, f) = refused_with(attach_db(&url, "warn").await, check, &account.password);
        assert_eq!(f.severity, Severity::High);
        assert!(f.message.contains(mode), "{}", f.message);
    }
}

#[tokio::test]
async fn server_without_tls_is_refused_and_never_sees_the_login() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let strip = MysqlStripServer::start();
    for mode in ["VERIFY_IDENTITY", "PREFERRED", "REQUIRED"] {
        let url = with_port(&account.url(), account.port, strip.port())
            .replace("ssl-mode=VERIFY_IDENTITY", &format!("ssl-mode={mode}"));
        let m = manifest("warn");
        let checked = check::<Mysql>(m.resource("db").unwrap(), &[], &env_for(&url)).await;
        let f = checked
            .report
            .findings
            .iter()
            .find(|f| f.check == CheckId::TlsPlaintext)
            .unwrap_or_else(|| panic!("{mode}: tls-plaintext: {:#?}", checked.report.findings));
        assert_eq!(f.severity, Severity::High);
        assert!(
            f.message.contains("declined TLS (no CLIENT_SSL"),
            "{}",
            f.message
        );
        assert!(
            checked.report.account.is_none(),
            "nothing was inspected in plaintext"
        );
        assert_no_secret(&format!("{:?}", checked.report), &account.password);
    }
    assert!(strip.connections() >= 3, "the client did reach the server");
    let after = strip.received_after_greeting();
    let text = String::from_utf8_lossy(&after);
    assert!(
        !text.contains(&account.user) && !text.contains(&account.password),
        "the login reached the stripping server"
    );
    assert!(
        after.is_empty(),
        "the client sent {} bytes after the greeting",
        after.len()
    );
}

#[tokio::test]
async fn wrong_ca_is_tls_cert_invalid() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let other = tempfile::tempdir().unwrap();
    let other_pki = Pki::new(other.path());
    let (base, _) = account
        .url()
        .split_once("&ssl-ca=")
        .map(|(b, c)| (b.to_owned(), c.to_owned()))
        .unwrap();
    let url = format!(
        "{base}&ssl-ca={}",
        percent_encode(&other_pki.ca_path().to_string_lossy())
    );
    let (_, f) = refused_with(
        attach_db(&url, "warn").await,
        CheckId::TlsCertInvalid,
        &account.password,
    );
    // Both test CAs are called "attache test CA": rustls finds the issuer by name and then
    // the signature does not verify.
    assert!(
        f.message.contains("not signed by a trusted CA")
            || f.message.contains("signature is invalid"),
        "{}",
        f.message
    );
    assert!(
        f.evidence[0].contains("ssl-ca in env DATABASE_URL"),
        "{:?}",
        f.evidence
    );
}

#[tokio::test]
async fn certificate_for_another_name_is_tls_cert_invalid() {
    // Signed by the right CA, but for `wrong.example` only: the binding's 127.0.0.1 fails.
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::new(dir.path()));
    let server = MysqlServer::start(pki, CertProfile::WrongName);
    let account = server.account(MysqlAccount::LeastPrivileged);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::TlsCertInvalid,
        &account.password,
    );
    assert!(
        f.message.contains("not valid for the host name"),
        "{}",
        f.message
    );
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::new(dir.path()));
    let server = MysqlServer::start(pki, CertProfile::Expired);
    let account = server.account(MysqlAccount::LeastPrivileged);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::TlsCertInvalid,
        &account.password,
    );
    assert!(f.message.contains("expired"), "{}", f.message);
    drop(server);
}

#[tokio::test]
async fn wrong_password_is_auth_failed_without_the_password() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let wrong = format!("{}-wrong", account.password);
    let url = account.url().replace(&account.password, &wrong);
    let (err, f) = refused_with(attach_db(&url, "warn").await, CheckId::AuthFailed, &wrong);
    assert_no_secret(&format!("{err} {err:?}"), &account.password);
    assert!(f.message.contains("Access denied"), "{}", f.message);
}

#[tokio::test]
async fn plaintext_to_loopback_is_tried_and_the_tls_only_server_rejects_it() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let url = account
        .url()
        .replace("ssl-mode=VERIFY_IDENTITY", "ssl-mode=DISABLED");
    let m = manifest("warn");
    let checked = check::<Mysql>(m.resource("db").unwrap(), &[], &env_for(&url)).await;
    let checks: Vec<_> = checked
        .report
        .findings
        .iter()
        .map(|f| (f.check, f.severity))
        .collect();
    assert!(
        checks.contains(&(CheckId::TlsPlaintext, Severity::Info)),
        "{checks:?}"
    );
    // require_secure_transport = ON: the server refuses the plaintext login.
    assert!(
        checks.contains(&(CheckId::AuthFailed, Severity::High)),
        "{checks:?}"
    );
    assert!(checked.report.tls.is_none());
    assert_no_secret(&format!("{:?}", checked.report.findings), &account.password);

    // DISABLED to a host that is not this machine: no connection at all.
    let far = url.replace("@127.0.0.1:", "@192.0.2.1:");
    let checked = check::<Mysql>(m.resource("db").unwrap(), &[], &env_for(&far)).await;
    let checks: Vec<_> = checked
        .report
        .findings
        .iter()
        .map(|f| (f.check, f.severity))
        .collect();
    assert!(
        checks.contains(&(CheckId::TlsPlaintext, Severity::High)),
        "{checks:?}"
    );
    assert!(
        !checks
            .iter()
            .any(|(c, _)| *c == CheckId::Unreachable || *c == CheckId::AuthFailed),
        "no connection was attempted: {checks:?}"
    );
}

#[tokio::test]
async fn unix_socket_binding_is_local_plaintext_and_attaches() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::LeastPrivileged);
    // REQUIRE SSL would refuse every socket login: a socket carries no TLS.
    server.admin_sql(&format!("ALTER USER '{}'@'%' REQUIRE NONE;", account.user));
    let url = format!(
        "mysql://{}:{}@localhost/{}?socket={}",
        account.user,
        account.password,
        account.database,
        percent_encode(&server.socket_path().to_string_lossy())
    );
    let m = manifest("warn");
    let checked = check_with_needs(&m, &env_for(&url)).await;
    let checks: Vec<_> = checked
        .report
        .findings
        .iter()
        .map(|f| (f.check, f.severity))
        .collect();
    assert!(
        checks.contains(&(CheckId::TlsPlaintext, Severity::Info)),
        "{checks:?}"
    );
    assert!(
        checks.iter().all(|(_, s)| *s < Severity::High),
        "{:#?}",
        checked.report.findings
    );
    assert!(checked.report.tls.is_none(), "no TLS on a unix socket");
    assert!(checked.report.account.is_some());
}

/// A Kubernetes-style service binding (the test kit's `BindingDir`: files are symlinks into
/// `..data`, itself a symlink swapped atomically, as the kubelet does).
fn service_binding(root: &Path, account: &MysqlTestAccount) -> attache_testkit::BindingDir {
    let mut dir = attache_testkit::BindingDir::new(root, "db");
    dir.publish(&[
        ("type", "mysql".to_owned()),
        ("provider", "mariadb".to_owned()),
        ("host", account.host.clone()),
        ("port", account.port.to_string()),
        ("username", account.user.clone()),
        ("password", format!("{}\n", account.password)),
        ("database", account.database.clone()),
        ("ca.crt", std::fs::read_to_string(&account.ca_path).unwrap()),
    ]);
    dir
}

#[tokio::test]
async fn service_binding_directory_attaches_with_sources() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let root = tempfile::tempdir().unwrap();
    let _binding = service_binding(root.path(), &account);
    let env = Environment::from_pairs([
        (
            "SERVICE_BINDING_ROOT",
            root.path().to_string_lossy().into_owned(),
        ),
        // Present but ignored: the service binding comes first.
        ("DATABASE_URL", "mysql://nobody@203.0.113.1/none".to_owned()),
    ]);
    let m = manifest("deny");
    let checked = check_with_needs(&m, &env).await;
    assert!(
        checked.report.findings.is_empty(),
        "{:#?}",
        checked.report.findings
    );
    assert_eq!(
        checked.report.source.as_deref(),
        Some(format!("file {}", root.path().join("db").display()).as_str())
    );
    let binding = checked.binding.unwrap();
    assert_eq!(
        binding.user.source.to_string(),
        format!("file {}", root.path().join("db/username").display())
    );
    attach::<Mysql>(&m, "db", &env)
        .await
        .expect("attaches from the service binding");
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::LeastPrivileged);
    server.admin_sql(&format!(
        "ALTER USER '{}'@'%' REQUIRE SUBJECT '/CN=attache-test-client';",
        account.user
    ));
    // Without the certificate the server refuses the login.
    refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::AuthFailed,
        &account.password,
    );
    let pki = server.pki();
    let url = format!(
        "{}&ssl-cert={}&ssl-key={}",
        account.url(),
        percent_encode(&pki.client_cert_path().to_string_lossy()),
        percent_encode(&pki.client_key_path().to_string_lossy())
    );
    let pool = attach_db(&url, "warn")
        .await
        .expect("attaches with a client certificate");
    let mut conn = pool.get_conn().await.unwrap();
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(cipher.is_some_and(|(_, c)| !c.is_empty()));

    // A key that does not exist is binding-invalid, naming the field and its source.
    let bad = url.replace(
        &percent_encode(&pki.client_key_path().to_string_lossy()),
        "%2Fnonexistent%2Fkey.pem",
    );
    let (err, _) = refused_with(
        attach_db(&bad, "warn").await,
        CheckId::BindingInvalid,
        &account.password,
    );
    assert!(
        err.to_string().contains("ssl-key in env DATABASE_URL"),
        "{err}"
    );
}

#[tokio::test]
async fn certificate_expiring_soon_is_reported_but_attaches() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::new(dir.path()));
    let server = MysqlServer::start(pki, CertProfile::ExpiresInDays(10));
    let account = server.account(MysqlAccount::LeastPrivileged);
    let findings = findings_for(&account, "warn").await;
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::TlsCertExpiring)
        .expect("tls-cert-expiring");
    assert_eq!(f.severity, Severity::Medium);
    attach_db(&account.url(), "warn")
        .await
        .expect("a medium finding does not refuse");
}

#[tokio::test]
async fn provisioned_account_audits_clean_and_each_drift_is_caught() {
    use attache_core::Kind;
    let server = MysqlServer::shared();
    let m = manifest("deny");
    let spec = m.resource("db").unwrap();
    let needs = attache_core::kind::parse_needs::<Mysql>(&m.path, spec).unwrap();

    let provisioned = |user: &str| {
        let database = server.fresh_database();
        let password = format!("planted-provision-{user}-it's\\odd");
        let secret = attache_core::Secret::new(password.clone());
        let sql = Mysql::provision(spec, &needs, user, Some(&secret))
            .statements
            .join("\n");
        // Needs without a database are granted in the session's default database.
        server.admin_sql(&format!("USE {database};\n{sql}"));
        MysqlTestAccount {
            database,
            user: user.to_owned(),
            password,
            role: None,
            host: server.host().to_owned(),
            port: server.port(),
            ca_path: server.ca_path(),
        }
    };

    let exact = provisioned("prov_exact");
    assert_eq!(
        findings_for(&exact, "deny").await,
        vec![],
        "provisioned account is exactly its needs"
    );

    let less = provisioned("prov_less");
    server.admin_sql(&format!(
        "REVOKE INSERT ON {}.signups FROM 'prov_less'@'%';",
        less.database
    ));
    let checks: Vec<_> = findings_for(&less, "deny")
        .await
        .iter()
        .map(|f| f.check)
        .collect();
    assert_eq!(checks, vec![CheckId::PrivMissing]);

    let more = provisioned("prov_more");
    server.admin_sql(&format!(
        "GRANT DELETE ON {}.signups TO 'prov_more'@'%';",
        more.database
    ));
    let checks: Vec<_> = findings_for(&more, "deny")
        .await
        .iter()
        .map(|f| f.check)
        .collect();
    assert_eq!(checks, vec![CheckId::PrivExcess]);

    // Without a password the statements cannot run: nothing is created.
    let unfilled = Mysql::provision(spec, &needs, "prov_unfilled", None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.admin_sql(&unfilled.statements.join("\n"))
    }));
    assert!(result.is_err(), "the unfilled parameter is a syntax error");
    let exists = server.admin_sql("SELECT COUNT(*) FROM mysql.user WHERE User = 'prov_unfilled';");
    assert_eq!(exists.trim(), "0");
}

#[tokio::test]
async fn a_need_held_only_through_an_inactive_role_is_missing_until_it_is_the_default() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::MissingGrant);
    let role = format!("{}_writer", account.user);
    server.admin_sql(&format!(
        "CREATE ROLE {role}; GRANT INSERT ON {}.signups TO {role}; GRANT {role} TO '{}'@'%';",
        account.database, account.user
    ));
    let findings = findings_for(&account, "deny").await;
    assert_eq!(
        findings.iter().map(|f| f.check).collect::<Vec<_>>(),
        vec![CheckId::PrivMissing],
        "{findings:#?}"
    );
    assert!(
        findings[0].evidence[0].contains(&format!("held only through role {role}")),
        "{:?}",
        findings[0].evidence
    );
    assert_eq!(
        findings[0].remedy,
        format!("SET DEFAULT ROLE `{role}` FOR '{}'@'%';", account.user)
    );
    // Run the remedy: the role is active at login, the need is met, nothing else is found.
    server.admin_sql(&findings[0].remedy);
    let findings = findings_for(&account, "deny").await;
    assert_eq!(findings, vec![], "the default role meets the need exactly");
}

#[tokio::test]
async fn a_granted_need_on_a_table_that_does_not_exist_is_said() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::LeastPrivileged);
    server.admin_sql(&format!(
        "GRANT SELECT ON {}.* TO '{}'@'%';",
        account.database, account.user
    ));
    let m = manifest("warn");
    let spec = m.resource("db").unwrap();
    let needs = vec![attache_mysql::needs::parse("SELECT ON ghosts").unwrap()];
    let report = check::<Mysql>(spec, &needs, &env_for(&account.url()))
        .await
        .report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::PrivMissing)
        .unwrap_or_else(|| panic!("priv-missing: {:#?}", report.findings));
    assert_eq!(
        f.evidence,
        vec![format!(
            "{}.ghosts does not exist (or the account cannot see it)",
            account.database
        )]
    );
    assert!(f.remedy.contains("migrations"), "{}", f.remedy);
}

/// A swap to another database, through a new environment and an explicit re-attach: the app
/// reads the new database's data; a refused binding leaves it on the old one.
#[tokio::test]
async fn attached_pool_swaps_databases_and_keeps_serving_through_a_refusal() {
    use attache_core::{AttachOptions, Attached};
    let server = MysqlServer::shared();
    let a = server.account(MysqlAccount::LeastPrivileged);
    let b = server.account(MysqlAccount::LeastPrivileged);
    server.admin_sql(&format!(
        "INSERT INTO `{}`.signups (email) VALUES ('b@example.com');",
        b.database
    ));
    let dir = tempfile::tempdir().unwrap();
    let options = AttachOptions::default().drain_grace(std::time::Duration::from_secs(2));
    let db = Attached::<Mysql>::attach_with(
        &manifest("deny"),
        "db",
        env_with_password_file(&a, dir.path()),
        options,
    )
    .await
    .unwrap();
    let count = |pool: attache_core::Lease<Pool>| async move {
        let mut conn = pool.get_conn().await.unwrap();
        let n: Option<i64> = conn
            .query_first("SELECT count(*) FROM signups")
            .await
            .unwrap();
        n.unwrap()
    };
    assert_eq!(count(db.get()).await, 0);

    db.set_environment(env_with_password_file(&b, dir.path()));
    assert_eq!(db.reattach().await.unwrap(), 2);
    assert_eq!(count(db.get()).await, 1, "the app reads B's data");

    let admin = server.account(MysqlAccount::AllOnStar);
    db.set_environment(env_with_password_file(&admin, dir.path()));
    let err = db.reattach().await.expect_err("ALL ON *.* is refused");
    assert!(
        err.findings()
            .iter()
            .any(|f| f.check == CheckId::PrivSuperuser),
        "{err}"
    );
    assert_eq!(db.status().generation, 2);
    assert_eq!(count(db.get()).await, 1, "still serving B");
    assert_no_secret(&format!("{err} {err:?}"), &admin.password);
}
