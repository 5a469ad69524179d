//! The `attache` binary end to end, against the test kit's real TLS servers (one of each kind
//! per test binary, started on first use): exit codes, JSON, table, explain pages, `grants`, and
//! that no run prints a password.
//!
//! What belongs here: first the tests of the command line whatever the kind (manifests, explain
//! pages, flags, several resources); then one module per kind, each running the CLI contract
//! suite ([`attache_testkit::cli_contract`]) and holding only what that kind alone says or has
//! (its own dangerous account shapes, its words in `grants`, its manifest errors). Library-level
//! behaviour (what attaches and why) is tested in each kind's crate.

use attache::CheckId;
use attache_testkit::cli_contract::{Env, Project, attache};
use attache_testkit::{PgServer, Service, Shape};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// `pairs` as an environment.
fn env<const N: usize>(pairs: [(&str, String); N]) -> Env {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[test]
fn several_resources_in_one_audit_are_sorted_and_each_judged() {
    let server = PgServer::shared();
    let good = server.login(Shape::LeastPrivileged);
    let bad = server.login(Shape::Superuser);
    let needs: Vec<String> = PgServer::NEEDS.iter().map(|n| format!("{n:?}")).collect();
    let needs = needs.join(", ");
    let project = Project::new(
        BIN,
        &format!(
            "[resources.zeta]\nkind = \"postgres\"\nneeds = [{needs}]\n[resources.alpha]\nkind = \"postgres\"\nneeds = [{needs}]\n[resources.missing]\nkind = \"postgres\"\n"
        ),
    );
    let pw_good = good.write_password_file(project.dir());
    let pw_bad = bad.write_password_file(project.dir());
    let envs = env([
        ("ALPHA_URL", good.url_without_password.clone()),
        (
            "ALPHA_PASSWORD_FILE",
            pw_good.to_string_lossy().into_owned(),
        ),
        ("ZETA_URL", bad.url_without_password.clone()),
        ("ZETA_PASSWORD_FILE", pw_bad.to_string_lossy().into_owned()),
    ]);
    let secrets = [good.password.as_str(), bad.password.as_str()];
    let run = project.audit(&["--format", "json"], &envs, &secrets);
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
    let again = project.audit(&["--format", "json"], &envs, &secrets);
    assert_eq!(again.json()["findings"], json["findings"]);
}

#[test]
fn fail_on_and_env_file() {
    let login = PgServer::shared().login(Shape::MissingGrant);
    let project = Project::of::<PgServer>(BIN);
    let pw = login.write_password_file(project.dir());
    let env_file = project.path("prod.env");
    std::fs::write(
        &env_file,
        format!(
            "# prod\nSVC_URL='{}'\nSVC_PASSWORD_FILE={}\n",
            login.url_without_password,
            pw.display()
        ),
    )
    .unwrap();
    let env_file = env_file.to_string_lossy().into_owned();
    let run = project.audit(
        &["--env-file", &env_file, "--format", "json"],
        &[],
        &[&login.password],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.json()["resources"][0]["source"],
        format!("env SVC_URL in {env_file}")
    );
    let run = project.audit(
        &["--env-file", &env_file, "--fail-on", "critical"],
        &[],
        &[&login.password],
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
        let project = Project::new(BIN, text);
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
    let project = Project::new(
        BIN,
        "[resources.db\nkind = \"postgres\"\npassword = \"planted-in-manifest\"\n",
    );
    let run = project.audit(&[], &[], &["planted-in-manifest"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not valid TOML"), "{}", run.stderr);
    let run = attache(
        BIN,
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
        let run = attache(BIN, &["explain", check.as_str()], &[], &[]);
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
    let list = attache(BIN, &["explain"], &[], &[]);
    assert_eq!(list.code, 0);
    assert_eq!(list.stdout.lines().count(), CheckId::ALL.len());
    let unknown = attache(BIN, &["explain", "tls-everything"], &[], &[]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("tls-plaintext"),
        "lists known checks: {}",
        unknown.stderr
    );
}

#[test]
fn version_and_usage() {
    let run = attache(BIN, &["--version"], &[], &[]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("attache "), "{}", run.stdout);
    assert_eq!(
        attache(BIN, &["audit", "--format", "xml"], &[], &[]).code,
        2
    );
}

#[test]
fn grants_usage_errors_exit_2() {
    let project = Project::of::<PgServer>(BIN);
    let unknown = project.grants(&["--resource", "nope"], &[], &[]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("no resource `nope`"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("resources: svc"),
        "{}",
        unknown.stderr
    );
    let missing = project.path("absent.password");
    let no_file = project.grants(&["--password-file", &missing.to_string_lossy()], &[], &[]);
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

/// PostgreSQL: the suite, its other dangerous roles, and psql's words in `grants`.
/// Microsoft's SARIF validator, installed by `scripts/setup` into the workspace's `target/tools`.
fn sarif_multitool() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup, which installs @microsoft/sarif-multitool",
        path.display()
    );
    path
}

/// The results of `sarif-multitool validate` on `file` at error and warning level.
fn sarif_problems(file: &std::path::Path) -> Vec<String> {
    let log = file.with_extension("validation.sarif");
    let out = std::process::Command::new(sarif_multitool())
        .arg("validate")
        .arg(file)
        .arg("--output")
        .arg(&log)
        .args(["--log", "ForceOverwrite"])
        .output()
        .expect("run sarif-multitool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&log).expect("the validation log")).unwrap();
    log["runs"][0]["results"]
        .as_array()
        .expect("validation results")
        .iter()
        .map(|r| format!("{} {}: {}", r["level"], r["ruleId"], r["message"]))
        .collect()
}

#[test]
fn sarif_is_valid_points_at_each_resource_and_keeps_its_fingerprints() {
    let server = PgServer::shared();
    let root = server.login(Shape::Superuser);
    let needs: Vec<String> = PgServer::NEEDS.iter().map(|n| format!("{n:?}")).collect();
    let manifest = format!(
        "# the app's backing services\n\n[resources.db]\nkind = \"postgres\"\nneeds = [{}]\n\n# the cache\n[resources.cache]\nkind = \"redis\"\n[resources.gone]\nkind = \"postgres\"\n",
        needs.join(", ")
    );
    let project = Project::new(BIN, &manifest);
    // The project is a git work tree whose manifest sits in `deploy/`.
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(project.dir())
        .status()
        .expect("git");
    assert!(git.success());
    std::fs::create_dir(project.path("deploy")).unwrap();
    let manifest_path = project.path("deploy/attache.toml");
    std::fs::rename(project.path("attache.toml"), &manifest_path).unwrap();
    let pw = root.write_password_file(project.dir());
    let envs = env([
        ("DB_URL", root.url_without_password.clone()),
        ("DB_PASSWORD_FILE", pw.to_string_lossy().into_owned()),
        (
            "CACHE_URL",
            "redis://default:planted-cache-secret@cache.example.com".to_owned(),
        ),
    ]);
    let secrets = [root.password.as_str(), "planted-cache-secret"];
    let manifest_arg = manifest_path.to_string_lossy().into_owned();
    let audit = |format: &str| {
        attache(
            BIN,
            &["audit", "--manifest", &manifest_arg, "--format", format],
            &envs,
            &secrets,
        )
    };
    let run = audit("sarif");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let file = project.path("attache.sarif");
    std::fs::write(&file, &run.stdout).unwrap();
    assert_eq!(sarif_problems(&file), Vec::<String>::new());

    let sarif: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let run0 = &sarif["runs"][0];
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(run0["tool"]["driver"]["name"], "attache");
    assert_eq!(run0["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), CheckId::ALL.len(), "one rule per check");
    for rule in rules {
        let help = rule["help"]["markdown"].as_str().unwrap();
        assert!(help.starts_with(&format!("# {}", rule["id"].as_str().unwrap())));
        assert!(rule["helpUri"].as_str().unwrap().starts_with("https://"));
        assert!(rule["properties"]["security-severity"].is_string());
    }

    // Every finding of the JSON report is a result, at the line of its resource's header.
    let json = audit("json").json();
    let findings = json["findings"].as_array().unwrap();
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    let line_of = |resource: &str| match resource {
        "db" => 3,
        "cache" => 8,
        "gone" => 10,
        other => panic!("no resource {other}"),
    };
    for (result, finding) in results.iter().zip(findings) {
        assert_eq!(result["ruleId"], finding["check"]);
        let resource = finding["resource"].as_str().unwrap();
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "deploy/attache.toml");
        assert_eq!(location["artifactLocation"]["uriBaseId"], "SRCROOT");
        assert_eq!(
            location["region"]["startLine"],
            line_of(resource),
            "{result}"
        );
        let level = match finding["severity"].as_str().unwrap() {
            "critical" | "high" => "error",
            "medium" => "warning",
            _ => "note",
        };
        assert_eq!(result["level"], level);
        assert!(
            result["message"]["text"]
                .as_str()
                .unwrap()
                .contains(finding["message"].as_str().unwrap())
        );
    }
    let checks: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    for check in [
        "priv-superuser",
        "tls-plaintext",
        "cred-in-env",
        "binding-missing",
    ] {
        assert!(checks.contains(&check), "{check} in {checks:?}");
    }
    let base = run0["originalUriBaseIds"]["SRCROOT"]["uri"]
        .as_str()
        .unwrap();
    let root_dir = project.dir().canonicalize().unwrap();
    assert_eq!(base, format!("file://{}/", root_dir.display()));

    // A second run: the same fingerprints, in the same order.
    let fingerprints = |v: &serde_json::Value| -> Vec<String> {
        v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["attacheFinding/v1"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let again: serde_json::Value = serde_json::from_str(&audit("sarif").stdout).unwrap();
    let first = fingerprints(&sarif);
    assert_eq!(fingerprints(&again), first);
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), first.len(), "one fingerprint per finding");
}

#[test]
fn completions_for_each_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = attache(BIN, &["completions", shell], &[], &[]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for word in ["audit", "grants", "explain", "exec", "fail-on"] {
            assert!(run.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let run = attache(BIN, &["completions", "tcsh"], &[], &[]);
    assert_eq!(run.code, 2);

    let man = attache(BIN, &["man"], &[], &[]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("attache.1");
    std::fs::write(&page, &man.stdout).unwrap();
    let out = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (scripts/setup installs man-db)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "man warned: {warnings}");
    for section in [
        "NAME",
        "SYNOPSIS",
        "ATTACHE AUDIT",
        "ATTACHE EXEC",
        "EXIT STATUS",
        "--fail-on",
    ] {
        assert!(text.contains(section), "the page lacks {section}:\n{text}");
    }
}

mod postgres {
    use attache::CheckId;
    use attache_testkit::cli_contract::{Cli, Project, assert_audit_fails_with};
    use attache_testkit::{Account, PgServer, Service};

    use super::BIN;

    const CLI: Cli = Cli {
        bin: BIN,
        declined: CheckId::TlsPlaintext,
        sees_its_privileges: true,
    };

    attache_testkit::cli_contract_suite!(PgServer, CLI);

    #[test]
    fn dangerous_roles_fail_with_their_check() {
        let server = PgServer::shared();
        let project = Project::of::<PgServer>(BIN);
        for (case, check) in [
            (Account::MemberOfSuperuserRole, CheckId::PrivSuperuser),
            (Account::WritesAllData, CheckId::PrivExcess),
            (Account::TableOwner, CheckId::PrivExcess),
        ] {
            assert_audit_fails_with(&project, &server.account(case), check);
        }
    }

    #[test]
    fn grants_leave_the_password_to_psql() {
        let project = Project::of::<PgServer>(BIN);
        let bare = project.grants(&["--account", "grants_bare"], &[], &[]);
        assert_eq!(bare.code, 0, "{}", bare.stderr);
        assert!(
            bare.stdout.contains("PASSWORD :'password'"),
            "a parameter psql fills: {}",
            bare.stdout
        );
        assert!(
            bare.stdout.starts_with("-- resource svc (postgres)"),
            "{}",
            bare.stdout
        );
        let json = project.grants(&["--account", "grants_bare", "--format", "json"], &[], &[]);
        assert_eq!(json.code, 0, "{}", json.stderr);
        let statements = json.json()["provisions"][0]["statements"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(statements >= PgServer::NEEDS.len(), "{}", json.stdout);
    }
}

/// MySQL (MariaDB): the suite, its other dangerous accounts, its account names and needs, and
/// its words in `grants`.
mod mysql {
    use attache::CheckId;
    use attache_testkit::cli_contract::{Cli, Project, assert_audit_fails_with};
    use attache_testkit::{MysqlAccount, MysqlServer};

    use super::BIN;

    const CLI: Cli = Cli {
        bin: BIN,
        declined: CheckId::TlsPlaintext,
        sees_its_privileges: true,
    };

    attache_testkit::cli_contract_suite!(MysqlServer, CLI);

    #[test]
    fn the_account_is_named_with_its_host_and_no_password_hash_is_printed() {
        let account = MysqlServer::shared().account(MysqlAccount::LeastPrivileged);
        let project = Project::of::<MysqlServer>(BIN);
        let env = project.password_file_env(&account);
        let run = project.audit(&["--format", "json"], &env, &[&account.password]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            run.json()["resources"][0]["account"]["user"],
            format!("{}@%", account.user).as_str()
        );
        assert!(
            !run.stdout.contains("IDENTIFIED") && !run.stdout.contains("PASSWORD '"),
            "no password hash from SHOW GRANTS: {}",
            run.stdout
        );
    }

    #[test]
    fn dangerous_accounts_fail_with_their_check() {
        let server = MysqlServer::shared();
        let project = Project::of::<MysqlServer>(BIN);
        for (case, check) in [
            (MysqlAccount::ServerAdmin, CheckId::PrivSuperuser),
            (MysqlAccount::GrantOption, CheckId::PrivRoleAdmin),
            (MysqlAccount::Excess, CheckId::PrivExcess),
            (MysqlAccount::ViaRole, CheckId::PrivExcess),
        ] {
            assert_audit_fails_with(&project, &server.account(case), check);
        }

        // No password at all: the binding has none and the server asks for none.
        let account = server.account(MysqlAccount::EmptyPassword);
        let run = project.audit(
            &["--format", "json"],
            &project.url_env(&account.url_without_password()),
            &[],
        );
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        assert!(run.has(CheckId::CredEmpty), "{:?}", run.checks());
    }

    #[test]
    fn bad_needs_exit_2_naming_the_field() {
        let project = Project::new(
            BIN,
            "[resources.db]\nkind = \"mysql\"\nneeds = [\"SELECT ON signups\", \"FLY ON signups\"]\n",
        );
        let run = project.audit(&[], &[], &[]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("field `needs[1]`"), "{}", run.stderr);
        assert!(
            run.stderr.contains("`FLY` is not a privilege on a table"),
            "{}",
            run.stderr
        );
    }

    #[test]
    fn grants_leave_the_password_to_the_administrator() {
        let project = Project::of::<MysqlServer>(BIN);
        let bare = project.grants(&["--account", "grants_bare"], &[], &[]);
        assert_eq!(bare.code, 0, "{}", bare.stderr);
        assert!(
            bare.stdout
                .contains("IDENTIFIED BY :'password' REQUIRE SSL"),
            "{}",
            bare.stdout
        );
    }
}

/// Redis: the suite, its other dangerous users, key patterns, a server open to anyone, its URL
/// failures, and redis-cli's words in `grants`.
mod redis {
    use std::sync::Arc;

    use attache::CheckId;
    use attache_testkit::cli_contract::{Cli, Project, assert_audit_fails_with};
    use attache_testkit::{CertProfile, Pki, RedisAccount, RedisOptions, RedisServer};
    use serde_json::Value;

    use super::BIN;

    const CLI: Cli = Cli {
        bin: BIN,
        // Redis's TLS starts at the first byte: a plaintext server fails the handshake.
        declined: CheckId::Unreachable,
        // A least-privileged user may not run `ACL GETUSER` on itself: `priv-unknown`, medium.
        sees_its_privileges: false,
    };

    attache_testkit::cli_contract_suite!(RedisServer, CLI);

    #[test]
    fn dangerous_users_fail_with_their_check() {
        let server = RedisServer::shared();
        let project = Project::of::<RedisServer>(BIN);
        for (case, check) in [
            (RedisAccount::Dangerous, CheckId::PrivExcess),
            (RedisAccount::CanReadOwnAcl, CheckId::PrivExcess),
        ] {
            assert_audit_fails_with(&project, &server.account(case), check);
        }
    }

    #[test]
    fn wide_keys_are_medium_excess_and_fail_only_from_medium() {
        let account = RedisServer::shared().account(RedisAccount::WideKeys);
        let project = Project::of::<RedisServer>(BIN);
        let env = project.password_file_env(&account);
        let run = project.audit(&["--format", "json"], &env, &[&account.password]);
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
            &env,
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
        let project = Project::of::<RedisServer>(BIN);
        let env = project.password_file_env(&account);
        let run = project.audit(&["--format", "json"], &env, &[&account.password]);
        assert_eq!(run.code, 1, "{}", run.stdout);
        assert!(run.has(CheckId::CredEmpty), "{:?}", run.checks());
        assert_eq!(run.json()["findings"][0]["severity"], "critical");
    }

    /// What only a Redis URL can get wrong (a wrong password and `#insecure` are in the suite).
    #[test]
    fn redis_url_failures_never_print_the_password() {
        let account = RedisServer::shared().account(RedisAccount::LeastPrivileged);
        let project = Project::of::<RedisServer>(BIN);
        for (url, check) in [
            (
                account
                    .url()
                    .replace("rediss://", "redis://")
                    .replace("127.0.0.1", "192.0.2.1"),
                CheckId::BindingInvalid,
            ),
            (
                account
                    .url()
                    .replace("rediss://", "redis://")
                    .split_once('?')
                    .map(|(u, _)| u.replace("127.0.0.1", "192.0.2.1"))
                    .unwrap(),
                CheckId::TlsPlaintext,
            ),
            (
                account
                    .url()
                    .replace("ssl_ca_certs=", "ssl_ca_certs=%2Fnonexistent"),
                CheckId::BindingInvalid,
            ),
        ] {
            let env = project.url_env(&url);
            let run = project.audit(&["--format", "json"], &env, &[&account.password]);
            assert_eq!(run.code, 1, "{url}: {}", run.stdout);
            assert!(run.has(check), "{check}: {:?}", run.checks());
            let table = project.audit(&[], &env, &[&account.password]);
            assert_eq!(table.code, 1);
        }
    }

    #[test]
    fn grants_put_only_commands_on_stdout() {
        let project = Project::of::<RedisServer>(BIN);
        let bare = project.grants(&["--account", "grants_bare"], &[], &[]);
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
    }
}

mod amqp {
    use attache::CheckId;
    use attache_testkit::cli_contract::{Cli, Project, assert_audit_fails_with};
    use attache_testkit::{RabbitAccount, RabbitServer};

    use super::BIN;

    const CLI: Cli = Cli {
        bin: BIN,
        // AMQPS starts with the TLS handshake: a plaintext server fails it.
        declined: CheckId::Unreachable,
        // No account but an administrator can read its permission regexes: `priv-unknown`.
        sees_its_privileges: false,
    };

    attache_testkit::cli_contract_suite!(RabbitServer, CLI);

    #[test]
    fn dangerous_accounts_fail_with_their_check() {
        let server = RabbitServer::shared();
        let project = Project::of::<RabbitServer>(BIN);
        for (case, check) in [
            (RabbitAccount::Monitoring, CheckId::PrivExcess),
            (RabbitAccount::WidePermissions, CheckId::PrivExcess),
        ] {
            assert_audit_fails_with(&project, &server.account(case), check);
        }
    }

    #[test]
    fn grants_put_rabbitmqctl_commands_on_stdout() {
        let project = Project::of::<RabbitServer>(BIN);
        let run = project.grants(&["--account", "orders-app"], &[], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            lines.iter().all(|l| l.starts_with("rabbitmqctl ")),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(
            "set_permissions -p \"${VHOST:?set VHOST to the binding's vhost}\" 'orders-app' '^(orders|orders\\.work)$'"
        ), "{}", run.stdout);
    }
}

mod nats {
    use attache::CheckId;
    use attache_testkit::cli_contract::{Cli, Project, assert_audit_fails_with};
    use attache_testkit::{NatsAccount, NatsServer};

    use super::BIN;

    const CLI: Cli = Cli {
        bin: BIN,
        // A server whose INFO offers no TLS gets nothing, not even CONNECT.
        declined: CheckId::TlsPlaintext,
        // `$SYS.REQ.USER.INFO` gives the least-privileged account its exact permissions.
        sees_its_privileges: true,
    };

    attache_testkit::cli_contract_suite!(NatsServer, CLI);

    #[test]
    fn dangerous_users_fail_with_their_check() {
        let server = NatsServer::shared();
        let project = Project::of::<NatsServer>(BIN);
        for (case, check) in [
            (NatsAccount::Unrestricted, CheckId::PrivExcess),
            (NatsAccount::JetStreamAdmin, CheckId::PrivExcess),
        ] {
            assert_audit_fails_with(&project, &server.account(case), check);
        }
    }

    #[test]
    fn grants_put_the_user_entry_on_stdout() {
        let project = Project::of::<NatsServer>(BIN);
        let run = project.grants(&["--account", "orders-app"], &[], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains(
                "{ user: \"orders-app\", password: $NATS_PASSWORD, permissions: { publish: { allow: [\"orders.>\", \"$SYS.REQ.USER.INFO\"] }"
            ),
            "{}",
            run.stdout
        );
    }
}

mod mqtt {
    use attache::CheckId;
    use attache_testkit::cli_contract::{Cli, Project, assert_audit_fails_with};
    use attache_testkit::{MosquittoServer, MqttAccount};

    use super::BIN;

    const CLI: Cli = Cli {
        bin: BIN,
        // MQTTS starts with the TLS handshake: a plaintext server fails it.
        declined: CheckId::Unreachable,
        // attache never publishes to probe: publish rights are always `priv-unknown`.
        sees_its_privileges: false,
    };

    attache_testkit::cli_contract_suite!(MosquittoServer, CLI);

    #[test]
    fn dangerous_accounts_fail_with_their_check() {
        let server = MosquittoServer::shared();
        let project = Project::of::<MosquittoServer>(BIN);
        assert_audit_fails_with(
            &project,
            &server.account(MqttAccount::SubscribeAll),
            CheckId::PrivSuperuser,
        );
    }

    #[test]
    fn grants_put_mosquitto_ctrl_commands_on_stdout() {
        let project = Project::of::<MosquittoServer>(BIN);
        let run = project.grants(&["--account", "orders-app"], &[], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout
                .lines()
                .all(|l| l.starts_with("mosquitto_ctrl dynsec ")),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("addRoleACL 'orders-app' subscribePattern 'orders/#' allow"),
            "{}",
            run.stdout
        );
        assert!(run.stderr.contains("acl_file"), "{}", run.stderr);
    }
}
