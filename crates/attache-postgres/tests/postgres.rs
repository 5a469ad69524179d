//! The PostgreSQL kind against real servers (the test kit's, TLS only, one per test binary):
//! the contract suite every kind passes, then what only PostgreSQL has — roles and their
//! membership, ownership, catalogs an account cannot read, pg_hba `trust`, password rotation
//! through the pool, and the pool's first connection.

use std::time::Duration;

use attache_core::{Attached, CheckId, Environment, Severity};
use attache_postgres::Postgres;
use attache_postgres::deadpool_postgres::Pool;
use attache_testkit::contract::{attach_options, eventually, refused_with};
use attache_testkit::{
    Account, AsLogin, BindingDir, Contract, Fixture, NEEDS, PgServer, Service, Shape, TestAccount,
};

struct Pg;

impl Contract for Pg {
    type Kind = Postgres;
    type Server = PgServer;
    const DECLINED: CheckId = CheckId::TlsPlaintext;

    async fn request(pool: &Pool) -> Result<(), String> {
        let client = pool.get().await.map_err(|e| e.to_string())?;
        let row = client
            .query_one(
                "INSERT INTO public.signups (email) VALUES ('traffic@example.com') RETURNING id",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        let id: i64 = row.get(0);
        client
            .query_one("SELECT email FROM public.signups WHERE id = $1", &[&id])
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn marker(pool: &Pool) -> Result<String, String> {
        let client = pool.get().await.map_err(|e| e.to_string())?;
        let row = client
            .query_one("SELECT email FROM public.signups ORDER BY id LIMIT 1", &[])
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get(0))
    }
}

attache_testkit::contract_suite!(Pg);

/// The kind's own tests bind resource `db` through `DATABASE_URL`.
const DB: Fixture = Fixture {
    kind: "postgres",
    resource: "db",
    var: "DATABASE_URL",
    needs: NEEDS,
};

#[tokio::test]
async fn member_of_a_superuser_role_is_refused() {
    let account = PgServer::shared().account(Account::MemberOfSuperuserRole);
    let (_, f) = refused_with(
        DB.attach::<Postgres>(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert!(f.message.contains("SET ROLE"), "{}", f.message);
}

#[tokio::test]
async fn missing_grant_is_refused_with_the_grant_to_run() {
    let account = PgServer::shared().account(Account::MissingGrant);
    let (_, f) = refused_with(
        DB.attach::<Postgres>(&account.url(), "warn").await,
        CheckId::PrivMissing,
        &account.password,
    );
    assert!(
        f.remedy.contains("GRANT INSERT ON TABLE public.signups TO"),
        "{}",
        f.remedy
    );
}

#[tokio::test]
async fn blanket_data_role_is_excess_and_refused_under_deny() {
    let account = PgServer::shared().account(Account::WritesAllData);
    let (_, f) = refused_with(
        DB.attach::<Postgres>(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
    assert_eq!(f.severity, Severity::High);
    assert!(
        f.evidence.iter().any(|e| e.contains("pg_write_all_data")),
        "{:?}",
        f.evidence
    );
    // Under the default `warn` it attaches, and the finding is still reported by check().
    DB.attach::<Postgres>(&account.url(), "warn")
        .await
        .expect("excess only warns by default");
}

#[tokio::test]
async fn table_owner_is_excess() {
    let account = PgServer::shared().account(Account::TableOwner);
    let (err, _) = refused_with(
        DB.attach::<Postgres>(&account.url(), "deny").await,
        CheckId::PrivExcess,
        &account.password,
    );
    let owns = err.findings().iter().flat_map(|f| &f.evidence);
    assert!(
        owns.clone()
            .any(|e| e.starts_with("owns TABLE public.signups")),
        "{err}"
    );
}

#[tokio::test]
async fn excess_through_roles_and_public_is_named_as_held() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    let role = format!("{}_rw", account.user);
    server.admin_sql(
        &account.database,
        &format!(
            "CREATE ROLE {role} NOLOGIN; GRANT DELETE ON public.signups TO {role}; GRANT {role} TO {user};
             GRANT UPDATE ON public.users TO PUBLIC; GRANT SELECT (password_hash) ON public.users TO {user};",
            user = account.user
        ),
    );
    let findings = DB.findings_for::<Postgres>(&account, "warn").await;
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(
        (f.check, f.severity),
        (CheckId::PrivExcess, Severity::Medium)
    );
    for line in [
        format!("DELETE on TABLE public.signups (via role {role})"),
        "UPDATE on TABLE public.users (via PUBLIC)".to_owned(),
        "SELECT (password_hash) on TABLE public.users (directly)".to_owned(),
    ] {
        assert!(
            f.evidence.contains(&line),
            "missing `{line}` in {:#?}",
            f.evidence
        );
    }
    assert!(
        f.remedy
            .contains("REVOKE UPDATE ON TABLE public.users FROM PUBLIC;"),
        "{}",
        f.remedy
    );
}

#[tokio::test]
async fn role_admin_powers_are_refused() {
    let server = PgServer::shared();
    for grant in [
        "ALTER ROLE {user} CREATEROLE",
        "GRANT SELECT ON public.signups TO {user} WITH GRANT OPTION",
    ] {
        let account = server.account(Account::LeastPrivileged);
        server.admin_sql(&account.database, &grant.replace("{user}", &account.user));
        let findings = DB.findings_for::<Postgres>(&account, "warn").await;
        let checks: Vec<_> = findings.iter().map(|f| (f.check, f.severity)).collect();
        assert!(
            checks.contains(&(CheckId::PrivRoleAdmin, Severity::High)),
            "{grant}: {checks:?}"
        );
        refused_with(
            DB.attach::<Postgres>(&account.url(), "warn").await,
            CheckId::PrivRoleAdmin,
            &account.password,
        );
    }
}

#[tokio::test]
async fn hidden_catalogs_are_priv_unknown_not_guesses() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    server.admin_sql(
        &account.database,
        "REVOKE SELECT ON pg_catalog.pg_auth_members FROM PUBLIC",
    );
    let findings = DB.findings_for::<Postgres>(&account, "warn").await;
    let unknown: Vec<_> = findings
        .iter()
        .filter(|f| f.check == CheckId::PrivUnknown)
        .collect();
    assert!(!unknown.is_empty(), "{findings:#?}");
    assert!(
        unknown
            .iter()
            .any(|f| f.message.contains("pg_auth_members")),
        "{unknown:#?}"
    );
    assert!(
        findings.iter().all(|f| f.check != CheckId::PrivSuperuser),
        "nothing guessed"
    );
}

#[tokio::test]
async fn login_without_any_password_is_cred_empty() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    // Without a trust rule the server asks for a password the binding lacks.
    let env = DB.env(&account.url_without_password());
    let report = DB.check_without_needs::<Postgres>(&env).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::AuthFailed)
        .unwrap_or_else(|| panic!("auth-failed: {:#?}", report.findings));
    assert!(f.message.contains("asked for a password"), "{}", f.message);

    server.trust_without_password(&account.user);
    let report = DB.check_without_needs::<Postgres>(&env).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::CredEmpty)
        .expect("cred-empty");
    assert_eq!(f.severity, Severity::Critical);
    refused_with(
        DB.attach::<Postgres>(&account.url_without_password(), "warn")
            .await,
        CheckId::CredEmpty,
        &account.password,
    );
}

/// Rotation with no window: the new secret first, then the new password on the server; the
/// pool reads the file again when the old password is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rotation_under_traffic() {
    let server = PgServer::shared();
    attache_testkit::contract::rotation_without_a_window::<Pg>(
        server.login(Shape::LeastPrivileged),
        |login, new| {
            let database = login.database.as_deref().expect("a database");
            server.admin_sql(
                database,
                &format!("ALTER ROLE {} PASSWORD '{new}';", login.user),
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_is_one_reattach() {
    let a = PgServer::shared().account(Account::LeastPrivileged);
    let root = tempfile::tempdir().unwrap();
    let mut binding = BindingDir::new(root.path(), "db");
    binding.publish(&PgServer::binding_files(&a.login()));
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let opts = attach_options()
        .poll_every(Duration::from_millis(20))
        .debounce(Duration::from_millis(300));
    let db = Attached::<Postgres>::attach_with(&DB.manifest("deny"), "db", env, opts)
        .await
        .unwrap();
    let _watch = db.watch();
    // Re-publishing the same binding is no change at all.
    binding.publish(&PgServer::binding_files(&a.login()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        db.status().generation,
        1,
        "an identical binding is not re-attached"
    );

    // Five different bindings 30 ms apart: each within the debounce of the one before.
    let accounts: Vec<TestAccount> = (0..5)
        .map(|_| PgServer::shared().account(Account::LeastPrivileged))
        .collect();
    for account in &accounts {
        binding.publish(&PgServer::binding_files(&account.login()));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    eventually("the burst is attached", || db.status().generation >= 2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        db.status().generation,
        2,
        "one re-attach for the whole burst"
    );
    let user: String = db
        .get()
        .get()
        .await
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, accounts[4].user, "the last binding of the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_starts_with_the_connection_inspection_used() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    let files = DB.files(&account);
    let pool = attache_core::attach::<Postgres>(&DB.manifest("deny"), "db", &files.env())
        .await
        .unwrap();
    // Inspection's connection is still open, held for the pool: one backend for the account.
    let pids = server.admin_sql(
        "postgres",
        &format!(
            "SELECT pid FROM pg_stat_activity WHERE usename = '{}';",
            account.user
        ),
    );
    let pids: Vec<i32> = pids.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let client = pool.get().await.unwrap();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        pid, pids[0],
        "the first pooled connection is the inspected one"
    );
}

/// The protocol floor is probed after the SSLRequest: the test server refuses TLS below 1.2,
/// and the TLS posture says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_floor_is_probed_after_the_ssl_request() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let (floor, weak) = DB.tls_floor::<Postgres>(&account.url()).await;
    assert_eq!((floor.as_deref(), weak.len()), (Some("TLSv1.2"), 0));
}
