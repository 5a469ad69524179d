//! The `attache` binary end to end against the test kit's real TLS Redis server (one per test
//! binary, plus one that lets clients in without a password): exit codes, JSON, and that no run
//! prints a password.
//!
//! Library-level behaviour (what attaches and why) is tested in attache-redis's tests.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use attache::CheckId;
use attache_testkit::{
    CertProfile, Pki, REDIS_NEEDS, RedisAccount, RedisOptions, RedisServer, RedisTestAccount,
};
use serde_json::Value;

use common::{Project, Run, attache};

/// The standard project of this binary.
fn standard() -> Project {
    let needs: Vec<String> = REDIS_NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Project::new(&format!(
        "[resources.cache]\nkind = \"redis\"\nenv = \"CACHE_URL\"\nneeds = [{}]\n",
        needs.join(", ")
    ))
}

fn password_file_env(account: &RedisTestAccount, dir: &Path) -> Vec<(&'static str, String)> {
    let pw = account.write_password_file(dir);
    vec![
        ("CACHE_URL", account.url_without_password()),
        ("CACHE_PASSWORD_FILE", pw.to_string_lossy().into_owned()),
    ]
}

#[test]
fn least_privileged_redis_binding_audits_clean() {
    let account = RedisServer::shared().account(RedisAccount::LeastPrivileged);
    let project = standard();
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    // What the account may not show is reported as unknown (medium), nothing else.
    assert!(
        run.checks().iter().all(|c| c == "priv-unknown"),
        "{}",
        run.stdout
    );
    let cache = &json["resources"][0];
    assert_eq!(cache["name"], "cache");
    assert_eq!(cache["kind"], "redis");
    assert_eq!(cache["source"], "env CACHE_URL");
    assert_eq!(cache["tls"]["verification"], "verify-full");
    assert_eq!(cache["account"]["user"], account.user.as_str());

    // Stable: a second run renders the same findings and account (no random probe names).
    let again = project.audit(&["--format", "json"], &envs, &[&account.password]);
    assert_eq!(again.json()["findings"], json["findings"]);
    assert_eq!(again.json()["resources"][0]["account"], cache["account"]);

    let table = project.audit(&[], &envs, &[&account.password]);
    assert_eq!(table.code, 0, "{}", table.stdout);
}

#[test]
fn dangerous_redis_accounts_fail_with_their_check() {
    let server = RedisServer::shared();
    let project = standard();
    for (case, check) in [
        (RedisAccount::AllPowerful, CheckId::PrivSuperuser),
        (RedisAccount::Dangerous, CheckId::PrivExcess),
        (RedisAccount::MissingGrant, CheckId::PrivMissing),
        (RedisAccount::CanReadOwnAcl, CheckId::PrivExcess),
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
fn wide_keys_are_medium_excess_and_fail_only_from_medium() {
    let account = RedisServer::shared().account(RedisAccount::WideKeys);
    let project = standard();
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
    assert_eq!(run.code, 0, "medium only: {}", run.stdout);
    let json = run.json();
    let excess: Vec<&Value> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "priv-excess")
        .collect();
    assert_eq!(excess.len(), 1, "{}", run.stdout);
    assert_eq!(excess[0]["severity"], "medium");
    let strict = project.audit(
        &["--format", "json", "--fail-on", "medium"],
        &envs,
        &[&account.password],
    );
    assert_eq!(strict.code, 1);
}

#[test]
fn a_server_that_lets_anyone_in_fails_with_cred_empty() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start_with(
        Arc::new(Pki::new(dir.path())),
        CertProfile::Valid,
        RedisOptions {
            default_user_nopass: true,
            ..RedisOptions::default()
        },
    );
    let account = server.account(RedisAccount::LeastPrivileged);
    let project = standard();
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[&account.password]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.checks().contains(&"cred-empty".to_owned()),
        "{:?}",
        run.checks()
    );
    assert_eq!(run.json()["findings"][0]["severity"], "critical");
}

#[test]
fn redis_failures_never_print_the_password() {
    let account = RedisServer::shared().account(RedisAccount::LeastPrivileged);
    let project = standard();
    let wrong = format!("{}-wrong", account.password);
    for (url, check) in [
        (
            account.url().replace(&account.password, &wrong),
            "auth-failed",
        ),
        (
            account
                .url()
                .replace("rediss://", "redis://")
                .replace("127.0.0.1", "192.0.2.1"),
            "binding-invalid",
        ),
        (
            account
                .url()
                .replace("rediss://", "redis://")
                .split_once('?')
                .map(|(u, _)| u.replace("127.0.0.1", "192.0.2.1"))
                .unwrap(),
            "tls-plaintext",
        ),
        (format!("{}#insecure", account.url()), "tls-unverified"),
        (
            account
                .url()
                .replace("ssl_ca_certs=", "ssl_ca_certs=%2Fnonexistent"),
            "binding-invalid",
        ),
    ] {
        let run = project.audit(
            &["--format", "json"],
            &[("CACHE_URL", url.clone())],
            &[&account.password, &wrong],
        );
        assert_eq!(run.code, 1, "{url}: {}", run.stdout);
        assert!(
            run.checks().contains(&check.to_owned()),
            "{check}: {:?}",
            run.checks()
        );
        let table = project.audit(&[], &[("CACHE_URL", url)], &[&account.password, &wrong]);
        assert_eq!(table.code, 1);
    }
}

/// `attache grants` output, piped into redis-cli as an administrator, makes an account that
/// audits with no excess and nothing missing; drift either way is caught.
#[test]
fn grants_round_trip_on_redis() {
    let server = RedisServer::shared();
    let project = standard();
    let manifest = project.manifest();
    let user = format!("grants_rt_{}", std::process::id());
    let password = "planted grants \"round\" trip";
    let pw_file = project.path("admin.password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let pw_arg = pw_file.to_string_lossy().into_owned();

    let bare = attache(
        &["grants", "--manifest", &manifest, "--account", &user],
        &[],
        &[password],
    );
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(
        bare.stdout.starts_with("ACL SETUSER"),
        "only commands on stdout: {}",
        bare.stdout
    );
    assert!(
        bare.stdout.contains("#<password-sha256-hex>"),
        "{}",
        bare.stdout
    );
    assert!(
        bare.stderr.contains("note:"),
        "notes go to stderr: {}",
        bare.stderr
    );

    let out = Command::new(env!("CARGO_BIN_EXE_attache"))
        .args(["grants", "--manifest", &manifest, "--account", &user])
        .args(["--password-file", &pw_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    server.admin_script(&String::from_utf8(out.stdout).unwrap());

    let account = RedisTestAccount {
        user: user.clone(),
        password: password.to_owned(),
        host: server.host().to_owned(),
        port: server.port(),
        ca_path: server.ca_path(),
    };
    let envs = password_file_env(&account, project.dir.path());
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let clean = |run: &Run| {
        let checks = run.checks();
        !checks
            .iter()
            .any(|c| c == "priv-excess" || c == "priv-missing")
    };
    assert!(clean(&run), "{}", run.stdout);

    server.admin(&["ACL", "SETUSER", &user, "-get"]);
    let run = project.audit(&["--format", "json"], &envs, &[password]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.checks().contains(&"priv-missing".to_owned()),
        "{}",
        run.stdout
    );

    server.admin(&["ACL", "SETUSER", &user, "+get", "+flushall"]);
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
