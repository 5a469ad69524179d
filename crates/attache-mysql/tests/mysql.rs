//! The MySQL kind against real servers (the test kit's MariaDB, TLS only, one per test binary):
//! the contract suite every kind passes, then what only MySQL has — `ALL PRIVILEGES ON *.*`,
//! FILE and SUPER, GRANT OPTION, roles granted but not active, the account with no password,
//! the certificate for another name, unix sockets, and tables that do not exist.

use std::sync::Arc;

use attache_core::{CheckId, Severity, attach, check};
use attache_mysql::mysql_async::prelude::*;
use attache_mysql::{Mysql, Pool};
use attache_testkit::contract::{encode_path, refused_with};
use attache_testkit::{
    CertProfile, Contract, Fixture, MYSQL_NEEDS, MysqlAccount, MysqlServer, Pki, Service, Shape,
};

struct My;

impl Contract for My {
    type Kind = Mysql;
    type Server = MysqlServer;
    const DECLINED: CheckId = CheckId::TlsPlaintext;

    async fn request(pool: &Pool) -> Result<(), String> {
        let mut conn = pool.get_conn().await.map_err(|e| e.to_string())?;
        conn.query_drop("INSERT INTO signups (email) VALUES ('traffic@example.com')")
            .await
            .map_err(|e| e.to_string())?;
        let id = conn.last_insert_id().ok_or("no insert id")?;
        let email: Option<String> = conn
            .exec_first("SELECT email FROM signups WHERE id = ?", (id,))
            .await
            .map_err(|e| e.to_string())?;
        email
            .map(drop)
            .ok_or_else(|| "the row written is not there".to_owned())
    }

    async fn marker(pool: &Pool) -> Result<String, String> {
        let mut conn = pool.get_conn().await.map_err(|e| e.to_string())?;
        let email: Option<String> = conn
            .query_first("SELECT email FROM signups ORDER BY id LIMIT 1")
            .await
            .map_err(|e| e.to_string())?;
        email.ok_or_else(|| "no marker".to_owned())
    }
}

attache_testkit::contract_suite!(My);

/// The kind's own tests bind resource `db` through `DATABASE_URL`.
const DB: Fixture = Fixture {
    kind: "mysql",
    resource: "db",
    var: "DATABASE_URL",
    needs: MYSQL_NEEDS,
};

#[tokio::test]
async fn all_privileges_on_star_is_refused() {
    let account = MysqlServer::shared().account(MysqlAccount::AllOnStar);
    let (_, f) = refused_with(
        DB.attach::<Mysql>(&account.url(), "warn").await,
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
        DB.attach::<Mysql>(&account.url(), "warn").await,
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
    let findings = DB.findings_for::<Mysql>(&account, "warn").await;
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
        DB.attach::<Mysql>(&account.url(), "warn").await,
        CheckId::PrivRoleAdmin,
        &account.password,
    );

    let account = server.account(MysqlAccount::LeastPrivileged);
    server.admin_sql(&format!(
        "GRANT CREATE USER ON *.* TO '{}'@'%';",
        account.user
    ));
    let findings = DB.findings_for::<Mysql>(&account, "warn").await;
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
        DB.attach::<Mysql>(&account.url(), "warn").await,
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
    let findings = DB.findings_for::<Mysql>(&account, "warn").await;
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
        DB.attach::<Mysql>(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
    DB.attach::<Mysql>(&account.url(), "warn")
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
        DB.attach::<Mysql>(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Medium);
    DB.attach::<Mysql>(&account.url(), "warn")
        .await
        .expect("medium excess only warns by default");
}

#[tokio::test]
async fn excess_through_a_granted_role_names_the_role() {
    let account = MysqlServer::shared().account(MysqlAccount::ViaRole);
    let role = account.role.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = DB.env_with_password_file(&account, dir.path());
    let report = DB.check::<Mysql>("warn", &env).await.report;
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
        DB.attach::<Mysql>(&account.url(), "deny").await,
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
        DB.attach::<Mysql>(&account.url(), "warn").await,
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
    let m = DB.manifest("warn");
    let env = DB.env(&account.url_without_password());
    let report = DB.check::<Mysql>("warn", &env).await.report;
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

    // An empty password file is no password either.
    let dir = tempfile::tempdir().unwrap();
    let env = DB.env_with_password_file(&account, dir.path());
    let report = DB.check::<Mysql>("warn", &env).await.report;
    assert!(
        report
            .findings
            .iter()
            .any(|f| (f.check, f.severity) == (CheckId::CredEmpty, Severity::Critical)),
        "cred-empty with an empty password file: {:#?}",
        report.findings
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
        DB.attach::<Mysql>(&account.url(), "warn").await,
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
        encode_path(server.socket_path())
    );
    let checked = DB.check::<Mysql>("warn", &DB.env(&url)).await;
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

#[tokio::test]
async fn a_need_held_only_through_an_inactive_role_is_missing_until_it_is_the_default() {
    let server = MysqlServer::shared();
    let account = server.account(MysqlAccount::MissingGrant);
    let role = format!("{}_writer", account.user);
    server.admin_sql(&format!(
        "CREATE ROLE {role}; GRANT INSERT ON {}.signups TO {role}; GRANT {role} TO '{}'@'%';",
        account.database, account.user
    ));
    let findings = DB.findings_for::<Mysql>(&account, "deny").await;
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
    let findings = DB.findings_for::<Mysql>(&account, "deny").await;
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
    let m = DB.manifest("warn");
    let spec = m.resource("db").unwrap();
    let needs = vec!["SELECT ON ghosts".parse().unwrap()];
    let report = check::<Mysql>(spec, &needs, &DB.env(&account.url()))
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

#[tokio::test]
async fn unfilled_provisioning_creates_nothing() {
    let server = MysqlServer::shared();
    let m = DB.manifest("deny");
    let spec = m.resource("db").unwrap();
    // Without a password the statements cannot run: nothing is created.
    let unfilled =
        attache_core::kind::provision::<Mysql>(&m.path, spec, "prov_unfilled", None).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.admin_sql(&unfilled.statements.join("\n"))
    }));
    assert!(result.is_err(), "the unfilled parameter is a syntax error");
    let exists = server.admin_sql("SELECT COUNT(*) FROM mysql.user WHERE User = 'prov_unfilled';");
    assert_eq!(exists.trim(), "0");
}

/// Rotation with no window, as PostgreSQL has it: the new secret first, then the new password
/// on the server; the pool reads the file again when the old password is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rotation_under_traffic() {
    let server = MysqlServer::shared();
    attache_testkit::contract::rotation_without_a_window::<My>(
        server.login(Shape::LeastPrivileged),
        |login, new| {
            server.admin_sql(&format!(
                "ALTER USER '{}'@'%' IDENTIFIED BY '{new}';",
                login.user
            ));
        },
    )
    .await;
}
