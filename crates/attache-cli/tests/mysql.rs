//! The `attache` binary end to end against the test kit's real TLS MariaDB server (one per test
//! binary): exit codes and JSON for the `mysql` kind, and that no run prints a password.
//!
//! Library-level behaviour (what attaches and why) is tested in attache-mysql's tests.

mod common;

use std::path::Path;
use std::process::Command;

use attache::CheckId;
use attache_testkit::{MYSQL_NEEDS, MysqlAccount, MysqlServer, MysqlStripServer, MysqlTestAccount};
use serde_json::Value;

use common::{Project, attache};

/// The standard project of this binary.
fn standard() -> Project {
    let needs: Vec<String> = MYSQL_NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Project::new(&format!(
        "[resources.db]\nkind = \"mysql\"\nenv = \"DATABASE_URL\"\nneeds = [{}]\n",
        needs.join(", ")
    ))
}

fn password_file_env(account: &MysqlTestAccount, dir: &Path) -> Vec<(&'static str, String)> {
    let pw = account.write_password_file(dir);
    vec![
        ("DATABASE_URL", account.url_without_password()),
        ("DB_PASSWORD_FILE", pw.to_string_lossy().into_owned()),
    ]
}

#[test]
fn least_privileged_mysql_binding_audits_clean() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let project = standard();
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["findings"], Value::Array(vec![]), "{}", run.stdout);
    let db = &json["resources"][0];
    assert_eq!(db["name"], "db");
    assert_eq!(db["kind"], "mysql");
    assert_eq!(db["source"], "env DATABASE_URL");
    assert_eq!(db["tls"]["verification"], "verify-full");
    assert_eq!(
        db["account"]["user"],
        format!("{}@%", account.user).as_str()
    );
    assert!(
        !run.stdout.contains("IDENTIFIED") && !run.stdout.contains("PASSWORD '"),
        "no password hash from SHOW GRANTS: {}",
        run.stdout
    );

    let table = project.audit(&[], &envs, &[&account.password]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("No findings."), "{}", table.stdout);
}

#[test]
fn dangerous_mysql_accounts_fail_with_their_check() {
    let server = MysqlServer::shared();
    let project = standard();
    for (case, check) in [
        (MysqlAccount::AllOnStar, CheckId::PrivSuperuser),
        (MysqlAccount::ServerAdmin, CheckId::PrivSuperuser),
        (MysqlAccount::GrantOption, CheckId::PrivRoleAdmin),
        (MysqlAccount::MissingGrant, CheckId::PrivMissing),
        (MysqlAccount::Excess, CheckId::PrivExcess),
        (MysqlAccount::ViaRole, CheckId::PrivExcess),
    ] {
        let account = server.account(case);
        let envs = password_file_env(&account, project.dir.path());
        let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
        assert_eq!(run.code, 1, "{check}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.checks().contains(&check.to_string()),
            "{check}: {:?}",
            run.checks()
        );
        let table = project.audit(&[], &envs, &[&account.password]);
        assert_eq!(table.code, 1);
        assert!(
            table.stdout.contains(check.as_str()) && table.stdout.contains("FAIL"),
            "{}",
            table.stdout
        );
    }

    // No password at all: the binding has none and the server asks for none.
    let account = server.account(MysqlAccount::EmptyPassword);
    let run = project.audit(
        &["--format", "json"],
        &[("DATABASE_URL", account.url_without_password())],
        &[],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.checks().contains(&"cred-empty".to_owned()),
        "{:?}",
        run.checks()
    );
}

#[test]
fn password_in_the_url_is_cred_in_env_and_never_printed() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let project = standard();
    let run = project.audit(
        &["--format", "json"],
        &[("DATABASE_URL", account.url())],
        &[&account.password],
    );
    assert_eq!(run.code, 0, "medium only: {}", run.stdout);
    assert_eq!(run.checks(), vec!["cred-in-env"]);
}

#[test]
fn weak_ssl_modes_fail() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let project = standard();
    for (mode, check) in [
        ("PREFERRED", "tls-downgrade-permitted"),
        ("REQUIRED", "tls-unverified"),
        ("VERIFY_CA", "tls-unverified"),
    ] {
        let mut envs = password_file_env(&account, project.dir.path());
        envs[0].1 = envs[0]
            .1
            .replace("ssl-mode=VERIFY_IDENTITY", &format!("ssl-mode={mode}"));
        let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
        assert_eq!(run.code, 1, "{mode}: {}", run.stdout);
        assert!(
            run.checks().contains(&check.to_owned()),
            "{mode}: {:?}",
            run.checks()
        );
    }
}

#[test]
fn server_without_tls_fails_and_gets_nothing() {
    let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
    let strip = MysqlStripServer::start();
    let project = standard();
    let url = account.url().replace(
        &format!(":{}/", account.port),
        &format!(":{}/", strip.port()),
    );
    let run = project.audit(
        &["--format", "json"],
        &[("DATABASE_URL", url)],
        &[&account.password],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.checks().contains(&"tls-plaintext".to_owned()),
        "{:?}",
        run.checks()
    );
    assert!(strip.connections() >= 1);
    assert!(strip.received_after_greeting().is_empty());
}

#[test]
fn bad_mysql_needs_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("attache.toml"),
        "[resources.db]\nkind = \"mysql\"\nneeds = [\"SELECT ON signups\", \"FLY ON signups\"]\n",
    )
    .unwrap();
    let manifest = dir.path().join("attache.toml");
    let run = attache(
        &["audit", "--manifest", &manifest.to_string_lossy()],
        &[],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("field `needs[1]`"), "{}", run.stderr);
    assert!(
        run.stderr.contains("`FLY` is not a privilege on a table"),
        "{}",
        run.stderr
    );
}

/// `attache grants` output, as an administrator applies it, makes an account that audits clean;
/// drift either way is caught.
#[test]
fn grants_round_trip_on_mariadb() {
    let server = MysqlServer::shared();
    let project = standard();
    let manifest = project.manifest();
    let user = format!("grants_rt_{}", std::process::id());
    let password = "planted-grants-it's-\\quoted";
    let pw_file = project.dir.path().join("admin.password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();

    let bare = attache(
        &["grants", "--manifest", &manifest, "--account", &user],
        &[],
        &[password],
    );
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(
        bare.stdout
            .contains("IDENTIFIED BY :'password' REQUIRE SSL"),
        "{}",
        bare.stdout
    );

    let out = Command::new(env!("CARGO_BIN_EXE_attache"))
        .args([
            "grants",
            "--manifest",
            &manifest,
            "--account",
            &user,
            "--password-file",
        ])
        .arg(&pw_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let sql = String::from_utf8(out.stdout).unwrap();
    let database = server.fresh_database();
    // The documented way: the binding's database is the session's default database.
    server.admin_sql(&format!("USE `{database}`;\n{sql}"));

    let account = MysqlTestAccount {
        database: database.clone(),
        user: user.clone(),
        password: password.to_owned(),
        role: None,
        host: server.host().to_owned(),
        port: server.port(),
        ca_path: server.ca_path(),
    };
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let checks = run.checks();
    assert!(
        !checks
            .iter()
            .any(|c| c == "priv-excess" || c == "priv-missing"),
        "{}",
        run.stdout
    );

    server.admin_sql(&format!(
        "REVOKE INSERT ON `{database}`.`signups` FROM '{user}'@'%';"
    ));
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.checks().contains(&"priv-missing".to_owned()),
        "{}",
        run.stdout
    );

    server.admin_sql(&format!(
        "GRANT INSERT, DELETE ON `{database}`.`signups` TO '{user}'@'%';"
    ));
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert!(
        run.checks().contains(&"priv-excess".to_owned()),
        "{}",
        run.stdout
    );
    assert!(
        !run.checks().contains(&"priv-missing".to_owned()),
        "{}",
        run.stdout
    );
}
