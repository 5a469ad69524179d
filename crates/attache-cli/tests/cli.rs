//! The `attache` binary end to end, against the test kit's real TLS PostgreSQL server (one per
//! test binary): exit codes, JSON, table, explain pages, and that no run prints a password.
//!
//! Library-level behaviour (what attaches and why) is tested in attache-postgres's tests.

mod common;

use std::path::Path;
use std::process::Command;

use attache::CheckId;
use attache_testkit::{Account, NEEDS, PgServer, StripProxy, TestAccount};
use serde_json::Value;

use common::{Project, attache};

/// The standard project of this binary.
fn standard() -> Project {
    let needs: Vec<String> = NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Project::new(&format!(
        "[resources.db]\nkind = \"postgres\"\nenv = \"DATABASE_URL\"\nneeds = [{}]\n",
        needs.join(", ")
    ))
}

fn password_file_env(account: &TestAccount, dir: &Path) -> Vec<(&'static str, String)> {
    let pw = account.write_password_file(dir);
    vec![
        ("DATABASE_URL", account.url_without_password()),
        ("DB_PASSWORD_FILE", pw.to_string_lossy().into_owned()),
    ]
}

#[test]
fn least_privileged_binding_audits_clean() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let project = standard();
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["findings"], Value::Array(vec![]), "{}", run.stdout);
    let db = &json["resources"][0];
    assert_eq!(db["name"], "db");
    assert_eq!(db["kind"], "postgres");
    assert_eq!(db["source"], "env DATABASE_URL");
    assert_eq!(db["tls"]["verification"], "verify-full");
    assert_eq!(db["account"]["user"], account.user.as_str());

    let table = project.audit(&[], &envs, &[&account.password]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains("No findings."), "{}", table.stdout);
    assert!(table.stdout.contains("PASS"), "{}", table.stdout);
    assert!(
        !table.stdout.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn dangerous_accounts_fail_with_their_check() {
    let server = PgServer::shared();
    let project = standard();
    for (case, check) in [
        (Account::Superuser, CheckId::PrivSuperuser),
        (Account::MemberOfSuperuserRole, CheckId::PrivSuperuser),
        (Account::WritesAllData, CheckId::PrivExcess),
        (Account::MissingGrant, CheckId::PrivMissing),
        (Account::TableOwner, CheckId::PrivExcess),
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
}

#[test]
fn password_in_the_url_is_cred_in_env_and_never_printed() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
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
fn weak_sslmodes_fail() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let project = standard();
    for (mode, check) in [
        ("prefer", "tls-downgrade-permitted"),
        ("require", "tls-unverified"),
        ("verify-ca", "tls-unverified"),
    ] {
        let mut envs = password_file_env(&account, project.dir.path());
        envs[0].1 = envs[0]
            .1
            .replace("sslmode=verify-full", &format!("sslmode={mode}"));
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
fn stripping_proxy_fails_and_gets_nothing() {
    let account = PgServer::shared().account(Account::LeastPrivileged);
    let proxy = StripProxy::start();
    let project = standard();
    let url = account.url().replace(
        &format!(":{}/", account.port),
        &format!(":{}/", proxy.port()),
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
    assert!(proxy.connections() >= 1);
    assert!(proxy.received_after_refusal().is_empty());
}

#[test]
fn several_resources_in_one_audit_are_sorted_and_each_judged() {
    let server = PgServer::shared();
    let good = server.account(Account::LeastPrivileged);
    let bad = server.account(Account::Superuser);
    let needs: Vec<String> = NEEDS.iter().map(|n| format!("{n:?}")).collect();
    let needs = needs.join(", ");
    let project = Project::new(&format!(
        "[resources.zeta]\nkind = \"postgres\"\nneeds = [{needs}]\n[resources.alpha]\nkind = \"postgres\"\nneeds = [{needs}]\n[resources.missing]\nkind = \"postgres\"\n"
    ));
    let mut envs = Vec::new();
    let pw_good = good.write_password_file(project.dir.path());
    let pw_bad = bad.write_password_file(project.dir.path());
    envs.push(("ALPHA_URL", good.url_without_password()));
    envs.push((
        "ALPHA_PASSWORD_FILE",
        pw_good.to_string_lossy().into_owned(),
    ));
    envs.push(("ZETA_URL", bad.url_without_password()));
    envs.push(("ZETA_PASSWORD_FILE", pw_bad.to_string_lossy().into_owned()));
    let run = project.audit(
        &["--format", "json"],
        &envs,
        &[&good.password, &bad.password],
    );
    assert_eq!(run.code, 1);
    let json = run.json();
    let names: Vec<&str> = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "missing", "zeta"]);
    let findings = json["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["resource"] != "alpha"),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["resource"] == "missing" && f["check"] == "binding-missing")
    );
    assert!(
        findings
            .iter()
            .any(|f| f["resource"] == "zeta" && f["check"] == "priv-superuser")
    );
    assert_eq!(findings[0]["severity"], "critical", "most severe first");
    // Stable: a second run renders the same findings.
    let again = project.audit(
        &["--format", "json"],
        &envs,
        &[&good.password, &bad.password],
    );
    assert_eq!(again.json()["findings"], json["findings"]);
}

#[test]
fn fail_on_and_env_file() {
    let account = PgServer::shared().account(Account::MissingGrant);
    let project = standard();
    let pw = account.write_password_file(project.dir.path());
    let env_file = project.path("prod.env");
    std::fs::write(
        &env_file,
        format!(
            "# prod\nDATABASE_URL='{}'\nDB_PASSWORD_FILE={}\n",
            account.url_without_password(),
            pw.display()
        ),
    )
    .unwrap();
    let env_file = env_file.to_string_lossy().into_owned();
    let run = project.audit(
        &["--env-file", &env_file, "--format", "json"],
        &[],
        &[&account.password],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.json()["resources"][0]["source"],
        format!("env DATABASE_URL in {env_file}")
    );
    let run = project.audit(
        &["--env-file", &env_file, "--fail-on", "critical"],
        &[],
        &[&account.password],
    );
    assert_eq!(run.code, 0, "priv-missing is high, below critical");
    let run = project.audit(&["--fail-on", "severe"], &[], &[]);
    assert_eq!(run.code, 2);
}

#[test]
fn malformed_manifests_exit_2_naming_file_resource_and_field() {
    for (text, resource, field) in [
        (
            "[resources.db]\nkind = \"postgres\"\nneeds = [\"SELECT public.t\"]\n",
            "db",
            "needs[0]",
        ),
        ("[resources.db]\nkind = \"postgress\"\n", "db", "kind"),
        (
            "[resources.db]\nkind = \"postgres\"\nurl = \"postgres://x\"\n",
            "db",
            "url",
        ),
        (
            "[resources.db]\nkind = \"postgres\"\n[resources.db.policy]\nconnect_timeout = \"soon\"\n",
            "db",
            "policy.connect_timeout",
        ),
        ("[resources.cache]\nneeds = []\n", "cache", "kind"),
    ] {
        let project = Project::new(text);
        let run = project.audit(&[], &[], &[]);
        assert_eq!(run.code, 2, "{text}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "no data on a usage error");
        assert!(run.stderr.contains(&project.manifest()), "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("resource `{resource}`")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("field `{field}`")),
            "{}",
            run.stderr
        );
    }
    let project =
        Project::new("[resources.db\nkind = \"postgres\"\npassword = \"planted-in-manifest\"\n");
    let run = project.audit(&[], &[], &["planted-in-manifest"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not valid TOML"), "{}", run.stderr);
    let run = attache(
        &["audit", "--manifest", "/nonexistent/attache.toml"],
        &[],
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/attache.toml"));
}

#[test]
fn every_check_has_an_explain_page() {
    for check in CheckId::ALL {
        let run = attache(&["explain", check.as_str()], &[], &[]);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.starts_with(&format!("# {}", check.as_str())),
            "{}",
            run.stdout
        );
        for section in ["## What it finds", "## Why it matters", "## How to fix"] {
            assert!(run.stdout.contains(section), "{check} lacks {section}");
        }
    }
    let list = attache(&["explain"], &[], &[]);
    assert_eq!(list.code, 0);
    assert_eq!(list.stdout.lines().count(), CheckId::ALL.len());
    let unknown = attache(&["explain", "tls-everything"], &[], &[]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("tls-plaintext"),
        "lists known checks: {}",
        unknown.stderr
    );
}

#[test]
fn version_and_usage() {
    let run = attache(&["--version"], &[], &[]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("attache "), "{}", run.stdout);
    assert_eq!(attache(&["audit", "--format", "xml"], &[], &[]).code, 2);
}

#[test]
fn grants_round_trip_creates_an_account_that_audits_clean() {
    let server = PgServer::shared();
    let project = standard();
    let manifest = project.manifest();
    let user = "grants_round_trip";
    let password = "planted-grants-round-trip";
    let pw_file = project.path("admin.password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let pw_arg = pw_file.to_string_lossy().into_owned();

    // Without a password file: a parameter psql fills, never an invented password.
    let bare = attache(
        &["grants", "--manifest", &manifest, "--account", user],
        &[],
        &[password],
    );
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(
        bare.stdout.contains("PASSWORD :'password'"),
        "{}",
        bare.stdout
    );
    assert!(
        bare.stdout.starts_with("-- resource db (postgres)"),
        "{}",
        bare.stdout
    );

    let json = attache(
        &[
            "grants",
            "--manifest",
            &manifest,
            "--account",
            user,
            "--format",
            "json",
        ],
        &[],
        &[password],
    );
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc = json.json();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["provisions"][0]["kind"], "postgres");
    assert_eq!(doc["provisions"][0]["account"], user);
    assert!(doc["provisions"][0]["statements"].as_array().unwrap().len() >= NEEDS.len());

    // With one: the administrator applies the output as it is.
    let out = Command::new(env!("CARGO_BIN_EXE_attache"))
        .args(["grants", "--manifest", &manifest, "--account", user])
        .args(["--resource", "db", "--password-file", &pw_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hold the password"),
        "the admin is told the output holds the password"
    );
    let database = server.fresh_database();
    server.admin_sql(&database, &sql);
    let account = TestAccount {
        database: database.clone(),
        user: user.to_owned(),
        password: password.to_owned(),
        host: server.host().to_owned(),
        port: server.port(),
        ca_path: server.ca_path(),
    };
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.checks(), Vec::<String>::new(), "{}", run.stdout);

    // Drift either way is caught.
    server.admin_sql(
        &database,
        &format!("REVOKE INSERT ON public.signups FROM {user};"),
    );
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert_eq!(run.code, 1);
    assert!(
        run.checks().contains(&"priv-missing".to_owned()),
        "{}",
        run.stdout
    );
    server.admin_sql(
        &database,
        &format!("GRANT INSERT, DELETE ON public.signups TO {user};"),
    );
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert!(
        run.checks().contains(&"priv-excess".to_owned()),
        "{}",
        run.stdout
    );
}

#[test]
fn grants_usage_errors_exit_2() {
    let project = standard();
    let manifest = project.manifest();
    let unknown = attache(
        &["grants", "--manifest", &manifest, "--resource", "nope"],
        &[],
        &[],
    );
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no resource `nope`"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("resources: db"),
        "{}",
        unknown.stderr
    );
    let missing = project.path("absent.password");
    let missing = missing.to_string_lossy();
    let no_file = attache(
        &[
            "grants",
            "--manifest",
            &manifest,
            "--password-file",
            &missing,
        ],
        &[],
        &[],
    );
    assert_eq!(no_file.code, 2);
    assert!(
        no_file.stderr.contains("--password-file"),
        "{}",
        no_file.stderr
    );
    assert!(
        no_file.stderr.contains("absent.password"),
        "{}",
        no_file.stderr
    );
}
