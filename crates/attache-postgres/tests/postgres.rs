//! The PostgreSQL kind against a real server (the test kit's, TLS only, one per test binary):
//! what attaches, what is refused and why, and that no password ever leaks into an error.

use std::path::Path;
use std::sync::Arc;

use attache_core::{AttachError, CheckId, Environment, Finding, Manifest, Severity, attach, check};
use attache_postgres::Postgres;
use attache_testkit::{
    Account, CertProfile, MitmProxy, NEEDS, PgServer, Pki, StripProxy, TestAccount,
};

fn manifest(excess: &str) -> Manifest {
    let needs: Vec<String> = NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Manifest::parse(
        "attache.toml",
        &format!(
            "[resources.db]\nkind = \"postgres\"\nenv = \"DATABASE_URL\"\nneeds = [{}]\n[resources.db.policy]\nexcess = \"{excess}\"\n",
            needs.join(", ")
        ),
    )
    .unwrap()
}

fn env_for(url: &str) -> Environment {
    Environment::from_pairs([("DATABASE_URL", url)])
}

/// A binding with the password in a 0600 file, the recommended shape.
fn env_with_password_file(account: &TestAccount, dir: &Path) -> Environment {
    let pw = account.write_password_file(dir);
    Environment::from_pairs([
        ("DATABASE_URL", account.url_without_password()),
        ("DB_PASSWORD_FILE", pw.to_string_lossy().into_owned()),
    ])
}

/// Runs the full check of resource `db` with the manifest's needs.
async fn check_with_needs(m: &Manifest, env: &Environment) -> attache_core::Checked<Postgres> {
    let spec = m.resource("db").unwrap();
    let needs = attache_core::kind::parse_needs::<Postgres>(&m.path, spec).unwrap();
    check::<Postgres>(spec, &needs, env).await
}

async fn attach_db(
    url: &str,
    excess: &str,
) -> Result<attache_postgres::deadpool_postgres::Pool, AttachError> {
    attach::<Postgres>(&manifest(excess), "db", &env_for(url)).await
}

/// Asserts the attach was refused with `check` and printed no password; returns that finding.
fn refused_with(
    result: Result<attache_postgres::deadpool_postgres::Pool, AttachError>,
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

#[tokio::test]
async fn least_privileged_account_attaches_and_works() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
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
    let account_json = checked.report.account.as_ref().unwrap();
    assert_eq!(account_json.user.as_deref(), Some(account.user.as_str()));

    // excess = "deny" and still attaches: nothing beyond the needs.
    let pool = attach::<Postgres>(&m, "db", &env)
        .await
        .expect("least-privileged attaches");
    let client = pool.get().await.unwrap();
    let id: i64 = client
        .query_one(
            "INSERT INTO public.signups (email) VALUES ($1) RETURNING id",
            &[&"new@example.com"],
        )
        .await
        .unwrap()
        .get(0);
    let email: String = client
        .query_one("SELECT email FROM public.signups WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, "new@example.com");
    // And the server really enforces what attache judged: DELETE is not granted.
    let denied = client
        .execute("DELETE FROM public.signups", &[])
        .await
        .unwrap_err();
    assert_eq!(
        denied.code(),
        Some(&attache_postgres::tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
}

#[tokio::test]
async fn superuser_is_refused() {
    let account = PgServer::shared().account(Account::Superuser);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert_eq!(f.severity, Severity::Critical);
}

#[tokio::test]
async fn member_of_a_superuser_role_is_refused() {
    let account = PgServer::shared().account(Account::MemberOfSuperuserRole);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
        CheckId::PrivSuperuser,
        &account.password,
    );
    assert!(f.message.contains("SET ROLE"), "{}", f.message);
}

#[tokio::test]
async fn missing_grant_is_refused_with_the_grant_to_run() {
    let account = PgServer::shared().account(Account::MissingGrant);
    let (_, f) = refused_with(
        attach_db(&account.url(), "warn").await,
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
        attach_db(&account.url(), "deny").await,
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
    attach_db(&account.url(), "warn")
        .await
        .expect("excess only warns by default");
}

#[tokio::test]
async fn table_owner_is_excess() {
    let account = PgServer::shared().account(Account::TableOwner);
    let (err, _) = refused_with(
        attach_db(&account.url(), "deny").await,
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
async fn weak_sslmodes_are_refused() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    for (mode, check) in [
        ("prefer", CheckId::TlsDowngradePermitted),
        ("allow", CheckId::TlsDowngradePermitted),
        ("require", CheckId::TlsUnverified),
        ("verify-ca", CheckId::TlsUnverified),
    ] {
        let url = account
            .url()
            .replace("sslmode=verify-full", &format!("sslmode={mode}"));
        assert!(url.contains(mode));
        refused_with(attach_db(&url, "warn").await, check, &account.password);
    }
}

#[tokio::test]
async fn server_answering_n_is_refused_and_never_sees_the_password() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let proxy = StripProxy::start();
    for mode in ["verify-full", "prefer", "require"] {
        let url = account
            .url()
            .replace(
                &format!(":{}/", account.port),
                &format!(":{}/", proxy.port()),
            )
            .replace("sslmode=verify-full", &format!("sslmode={mode}"));
        let m = manifest("warn");
        let spec = m.resource("db").unwrap();
        let checked = check::<Postgres>(spec, &[], &env_for(&url)).await;
        let f = checked
            .report
            .findings
            .iter()
            .find(|f| f.check == CheckId::TlsPlaintext)
            .expect("tls-plaintext");
        assert_eq!(f.severity, Severity::High);
        assert!(f.message.contains("declined TLS"), "{}", f.message);
        assert!(
            checked.report.account.is_none(),
            "nothing was inspected in plaintext"
        );
    }
    assert!(proxy.connections() >= 3, "the client did reach the proxy");
    let after = proxy.received_after_refusal();
    assert!(
        after.is_empty(),
        "the client sent {} bytes after the refusal",
        after.len()
    );
    assert!(!String::from_utf8_lossy(&after).contains(&account.password));
}

#[tokio::test]
async fn man_in_the_middle_is_refused() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let mitm = MitmProxy::start(account.port);
    let url = account.url().replace(
        &format!(":{}/", account.port),
        &format!(":{}/", mitm.port()),
    );
    let (_, f) = refused_with(
        attach_db(&url, "warn").await,
        CheckId::TlsCertInvalid,
        &account.password,
    );
    assert!(
        f.message.contains("not signed by a trusted CA"),
        "{}",
        f.message
    );
    assert_eq!(mitm.handshakes_completed(), 0);
    assert!(mitm.received().is_empty());
}

#[tokio::test]
async fn wrong_ca_is_tls_cert_invalid() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let other = tempfile::tempdir().unwrap();
    let other_pki = Pki::new(other.path());
    let (base, _) = account
        .url()
        .split_once("&sslrootcert=")
        .map(|(b, c)| (b.to_owned(), c.to_owned()))
        .unwrap();
    let url = format!(
        "{base}&sslrootcert={}",
        percent_encode(&other_pki.ca_path().to_string_lossy())
    );
    refused_with(
        attach_db(&url, "warn").await,
        CheckId::TlsCertInvalid,
        &account.password,
    );
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::new(dir.path()));
    let server = PgServer::start(pki, CertProfile::Expired);
    let account = server.account(Account::LeastPrivileged);
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
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let wrong = format!("{}-wrong", account.password);
    let url = account.url().replace(&account.password, &wrong);
    let (err, _) = refused_with(attach_db(&url, "warn").await, CheckId::AuthFailed, &wrong);
    assert_no_secret(&err.to_string(), &account.password);
}

#[tokio::test]
async fn plaintext_to_loopback_is_tried_and_the_tls_only_server_rejects_it() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let url = account
        .url()
        .replace("sslmode=verify-full", "sslmode=disable");
    let m = manifest("warn");
    let checked = check::<Postgres>(m.resource("db").unwrap(), &[], &env_for(&url)).await;
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
    // hostnossl … reject: the server refuses the plaintext login.
    assert!(
        checks.contains(&(CheckId::AuthFailed, Severity::High)),
        "{checks:?}"
    );
    assert_no_secret(&format!("{:?}", checked.report.findings), &account.password);
}

/// A Kubernetes-style service binding (the test kit's `BindingDir`: files are symlinks into
/// `..data`, itself a symlink swapped atomically, as the kubelet does).
fn service_binding(root: &Path, account: &TestAccount) -> attache_testkit::BindingDir {
    let mut dir = attache_testkit::BindingDir::new(root, "db");
    dir.publish_pg(account);
    dir
}

#[tokio::test]
async fn service_binding_directory_attaches_with_sources() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let root = tempfile::tempdir().unwrap();
    let _binding = service_binding(root.path(), &account);
    let env = Environment::from_pairs([
        (
            "SERVICE_BINDING_ROOT",
            root.path().to_string_lossy().into_owned(),
        ),
        // Present but ignored: the service binding comes first.
        (
            "DATABASE_URL",
            "postgres://nobody@203.0.113.1/none".to_owned(),
        ),
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
    attach::<Postgres>(&m, "db", &env)
        .await
        .expect("attaches from the service binding");
}

#[tokio::test]
async fn readable_password_file_is_cred_file_perms() {
    use std::os::unix::fs::PermissionsExt;
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_password_file(&account, dir.path());
    let pw = env.get("DB_PASSWORD_FILE").unwrap().value.to_owned();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let m = manifest("warn");
    let checked = check::<Postgres>(m.resource("db").unwrap(), &[], &env).await;
    let f = checked
        .report
        .findings
        .iter()
        .find(|f| f.check == CheckId::CredFilePerms)
        .expect("cred-file-perms");
    assert_eq!(f.severity, Severity::Medium);
    assert!(f.message.contains(&pw), "{}", f.message);
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    let pki = server.pki();
    let url = format!(
        "{}&sslcert={}&sslkey={}",
        account.url(),
        percent_encode(&pki.client_cert_path().to_string_lossy()),
        percent_encode(&pki.client_key_path().to_string_lossy())
    );
    let pool = attach_db(&url, "warn")
        .await
        .expect("attaches with a client certificate");
    let dn: Option<String> = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        dn.unwrap_or_default().contains("attache-test-client"),
        "the server saw no client certificate"
    );

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
        err.to_string().contains("sslkey in env DATABASE_URL"),
        "{err}"
    );
}

async fn findings_for(account: &TestAccount, excess: &str) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    let env = env_with_password_file(account, dir.path());
    let report = check_with_needs(&manifest(excess), &env).await.report;
    assert_no_secret(&format!("{report:?}"), &account.password);
    report.findings
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
    let findings = findings_for(&account, "warn").await;
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
        let findings = findings_for(&account, "warn").await;
        let checks: Vec<_> = findings.iter().map(|f| (f.check, f.severity)).collect();
        assert!(
            checks.contains(&(CheckId::PrivRoleAdmin, Severity::High)),
            "{grant}: {checks:?}"
        );
        refused_with(
            attach_db(&account.url(), "warn").await,
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
    let findings = findings_for(&account, "warn").await;
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
async fn certificate_expiring_soon_is_reported_but_attaches() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::new(dir.path()));
    let server = PgServer::start(pki, CertProfile::ExpiresInDays(10));
    let account = server.account(Account::LeastPrivileged);
    let findings = findings_for(&account, "warn").await;
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::TlsCertExpiring)
        .expect("tls-cert-expiring");
    assert_eq!(f.severity, Severity::Medium);
    assert!(
        f.message.contains("expires in 9 days") || f.message.contains("expires in 10 days"),
        "{}",
        f.message
    );
    attach_db(&account.url(), "warn")
        .await
        .expect("a medium finding does not refuse");
}

#[tokio::test]
async fn login_without_any_password_is_cred_empty() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    // Without a trust rule the server asks for a password the binding lacks.
    let m = manifest("warn");
    let spec = m.resource("db").unwrap();
    let env = env_for(&account.url_without_password());
    let report = check::<Postgres>(spec, &[], &env).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::AuthFailed)
        .unwrap_or_else(|| panic!("auth-failed: {:#?}", report.findings));
    assert!(f.message.contains("asked for a password"), "{}", f.message);

    server.trust_without_password(&account.user);
    let report = check::<Postgres>(spec, &[], &env).await.report;
    let f = report
        .findings
        .iter()
        .find(|f| f.check == CheckId::CredEmpty)
        .expect("cred-empty");
    assert_eq!(f.severity, Severity::Critical);
    refused_with(
        attach_db(&account.url_without_password(), "warn").await,
        CheckId::CredEmpty,
        &account.password,
    );
}

#[tokio::test]
async fn provisioned_account_audits_clean_and_each_drift_is_caught() {
    use attache_core::Kind;
    let server = PgServer::shared();
    let m = manifest("deny");
    let spec = m.resource("db").unwrap();
    let needs = attache_core::kind::parse_needs::<Postgres>(&m.path, spec).unwrap();

    let provisioned = |user: &str| {
        let database = server.fresh_database();
        let password = format!("planted-provision-{user}");
        let secret = attache_core::Secret::new(password.clone());
        let sql = Postgres::provision(spec, &needs, user, Some(&secret))
            .statements
            .join("\n");
        server.admin_sql(&database, &sql);
        TestAccount {
            database,
            user: user.to_owned(),
            password,
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
    server.admin_sql(
        &less.database,
        "REVOKE INSERT ON public.signups FROM prov_less",
    );
    let checks: Vec<_> = findings_for(&less, "deny")
        .await
        .iter()
        .map(|f| f.check)
        .collect();
    assert_eq!(checks, vec![CheckId::PrivMissing]);

    let more = provisioned("prov_more");
    server.admin_sql(
        &more.database,
        "GRANT DELETE ON public.signups TO prov_more",
    );
    let checks: Vec<_> = findings_for(&more, "deny")
        .await
        .iter()
        .map(|f| f.check)
        .collect();
    assert_eq!(checks, vec![CheckId::PrivExcess]);
}
