//! The promises the `attache` binary makes for every kind, written once over [`Service`] and run
//! for every kind by [`cli_contract_suite!`](crate::cli_contract_suite): the command line's
//! counterpart of the [`contract`](crate::contract) suite.
//!
//! Each promise runs the binary it is given (a CLI test has its path as
//! `env!("CARGO_BIN_EXE_attache")`) in a [`Project`], a temporary directory holding an
//! `attache.toml` with one resource of the kind: the contract suite's [`Fixture::of`], `svc`
//! bound through `SVC_URL` and `SVC_PASSWORD_FILE`. What only the kind can say (how a server
//! declining TLS is reported, whether its least-privileged accounts can read their own
//! privileges: the CLI's copy of [`Contract::DECLINED`] and [`Contract::SEES_ITS_PRIVILEGES`])
//! the suite is told in a [`Cli`]. Invoked inside a module named after the kind, the macro lets
//! several kinds share one test binary:
//!
//! ```ignore
//! mod redis {
//!     use attache_testkit::cli_contract::Cli;
//!
//!     const CLI: Cli = Cli {
//!         bin: env!("CARGO_BIN_EXE_attache"),
//!         declined: attache::CheckId::Unreachable,
//!         sees_its_privileges: false,
//!     };
//!     attache_testkit::cli_contract_suite!(attache_testkit::RedisServer, CLI);
//! }
//! ```
//!
//! [`Contract::DECLINED`]: crate::Contract::DECLINED
//! [`Contract::SEES_ITS_PRIVILEGES`]: crate::Contract::SEES_ITS_PRIVILEGES

use std::path::{Path, PathBuf};
use std::process::Command;

use attache_core::CheckId;
use serde_json::Value;

use crate::contract::{AsLogin, Fixture, Login, Service, Shape, closed_port, with_port};

/// The `attache` binary under test, and what the suite is told about the kind it runs for.
#[derive(Debug, Clone, Copy)]
pub struct Cli {
    /// The path of the `attache` binary: `env!("CARGO_BIN_EXE_attache")`.
    pub bin: &'static str,
    /// What a server that declines TLS is reported as (the kind's [`Contract::DECLINED`]).
    ///
    /// [`Contract::DECLINED`]: crate::Contract::DECLINED
    pub declined: CheckId,
    /// Whether a least-privileged account can read its own privileges (the kind's
    /// [`Contract::SEES_ITS_PRIVILEGES`]); when it cannot, each audit also says `priv-unknown`
    /// and the suite allows it.
    ///
    /// [`Contract::SEES_ITS_PRIVILEGES`]: crate::Contract::SEES_ITS_PRIVILEGES
    pub sees_its_privileges: bool,
}

impl Cli {
    /// The checks of `run`'s JSON report, less `priv-unknown` when the kind's accounts cannot
    /// read their own privileges.
    pub fn checks_of(&self, run: &Run) -> Vec<String> {
        run.checks()
            .into_iter()
            .filter(|c| self.sees_its_privileges || c != CheckId::PrivUnknown.as_str())
            .collect()
    }
}

/// Environment variables for a run of `attache`, which sees these and `PATH` only.
pub type Env = Vec<(String, String)>;

/// How a run of `attache` ended.
#[derive(Debug)]
pub struct Run {
    /// Its exit code: 0 clean, 1 findings at or above `--fail-on`, 2 an error.
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output as JSON; panics, showing it, when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// The `check` of each finding of a JSON report, in its order.
    pub fn checks(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .unwrap_or_else(|| panic!("no findings array: {}", self.stdout))
            .iter()
            .map(|f| f["check"].as_str().expect("a check id").to_owned())
            .collect()
    }

    /// Whether a finding of a JSON report is `check`.
    pub fn has(&self, check: CheckId) -> bool {
        self.checks().iter().any(|c| c == check.as_str())
    }
}

/// Runs `bin` with `args` and exactly `envs` (plus `PATH`); asserts none of `secrets` is in its
/// output.
pub fn attache(bin: &str, args: &[&str], envs: &[(String, String)], secrets: &[&str]) -> Run {
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    let run = Run {
        code: out.status.code().expect("exited normally, no signal"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 on stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 on stderr"),
    };
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "a secret leaked:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// A temporary project: a directory with an `attache.toml`, where `attache` runs against it.
pub struct Project {
    bin: PathBuf,
    fixture: Option<Fixture>,
    dir: tempfile::TempDir,
}

impl Project {
    /// A project whose manifest is `manifest`.
    pub fn new(bin: &str, manifest: &str) -> Project {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("attache.toml"), manifest).expect("write attache.toml");
        Project {
            bin: bin.into(),
            fixture: None,
            dir,
        }
    }

    /// The suite's project for `S`: the one resource of [`Fixture::of`]`::<S>()`.
    pub fn of<S: Service>(bin: &str) -> Project {
        Project::with_fixture(bin, Fixture::of::<S>())
    }

    /// A project with the one resource `fixture`, its needs and no policy.
    pub fn with_fixture(bin: &str, fixture: Fixture) -> Project {
        let needs: Vec<String> = fixture.needs.iter().map(|n| format!("{n:?}")).collect();
        let mut project = Project::new(
            bin,
            &format!(
                "[resources.{r}]\nkind = \"{k}\"\nenv = \"{v}\"\nneeds = [{n}]\n",
                r = fixture.resource,
                k = fixture.kind,
                v = fixture.var,
                n = needs.join(", ")
            ),
        );
        project.fixture = Some(fixture);
        project
    }

    /// Its resource; panics for a project made with [`Project::new`].
    pub fn fixture(&self) -> &Fixture {
        self.fixture
            .as_ref()
            .expect("a project of one resource (Project::of or Project::with_fixture)")
    }

    /// The path of its manifest, as an argument.
    pub fn manifest(&self) -> String {
        self.path("attache.toml").to_string_lossy().into_owned()
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in its directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The resource bound by `url` in its variable.
    pub fn url_env(&self, url: &str) -> Env {
        vec![(self.fixture().var.to_owned(), url.to_owned())]
    }

    /// The resource bound the recommended way: `login`'s URL without its password in the
    /// variable, the password in a 0600 file of the project named by `<NAME>_PASSWORD_FILE`.
    pub fn password_file_env(&self, login: &impl AsLogin) -> Env {
        let login = login.login();
        let fixture = self.fixture();
        let pw = login.write_password_file(self.dir());
        vec![
            (fixture.var.to_owned(), login.url_without_password.clone()),
            (
                format!("{}_PASSWORD_FILE", fixture.prefix()),
                pw.to_string_lossy().into_owned(),
            ),
        ]
    }

    /// `attache audit --manifest <its manifest> <args>`.
    pub fn audit(&self, args: &[&str], envs: &[(String, String)], secrets: &[&str]) -> Run {
        self.command("audit", args, envs, secrets)
    }

    /// `attache grants --manifest <its manifest> <args>`.
    pub fn grants(&self, args: &[&str], envs: &[(String, String)], secrets: &[&str]) -> Run {
        self.command("grants", args, envs, secrets)
    }

    fn command(
        &self,
        command: &str,
        args: &[&str],
        envs: &[(String, String)],
        secrets: &[&str],
    ) -> Run {
        let manifest = self.manifest();
        let mut all = vec![command, "--manifest", manifest.as_str()];
        all.extend_from_slice(args);
        attache(&self.bin.to_string_lossy(), &all, envs, secrets)
    }
}

/// Asserts an audit of `login` (its password in a file) fails with `check`, in JSON and in the
/// table, printing no password; returns the JSON run.
pub fn assert_audit_fails_with(project: &Project, login: &impl AsLogin, check: CheckId) -> Run {
    let login = login.login();
    let env = project.password_file_env(&login);
    let secrets = [login.password.as_str()];
    let run = project.audit(&["--format", "json"], &env, &secrets);
    assert_eq!(run.code, 1, "{check}: {}\n{}", run.stdout, run.stderr);
    assert!(run.has(check), "{check}: {:?}", run.checks());
    let table = project.audit(&[], &env, &secrets);
    assert_eq!(table.code, 1, "{check}: {}", table.stdout);
    assert!(
        table.stdout.contains(check.as_str()) && table.stdout.contains("FAIL"),
        "{check}: {}",
        table.stdout
    );
    run
}

/// The severity of `run`'s first finding of `check`.
fn severity_of(run: &Run, check: CheckId) -> Value {
    run.json()["findings"]
        .as_array()
        .expect("a findings array")
        .iter()
        .find(|f| f["check"] == check.as_str())
        .unwrap_or_else(|| panic!("no {check}: {}", run.stdout))["severity"]
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Audits: exit codes, JSON and table for the accounts and bindings every kind has.

/// The least-privileged account, its password in a file, audits clean (exit 0) in JSON and in
/// the table: the resource named with its kind and source, TLS verified, the account named; a
/// second run renders the same findings and account; no colour when stdout is not a terminal.
pub fn least_privileged_binding_audits_clean<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::LeastPrivileged);
    let project = Project::of::<S>(cli.bin);
    let fixture = project.fixture();
    let env = project.password_file_env(&login);
    let secrets = [login.password.as_str()];
    let run = project.audit(&["--format", "json"], &env, &secrets);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["version"], 1);
    assert_eq!(cli.checks_of(&run), Vec::<String>::new(), "{}", run.stdout);
    let resource = &json["resources"][0];
    assert_eq!(resource["name"], fixture.resource);
    assert_eq!(resource["kind"], S::KIND);
    assert_eq!(resource["source"], format!("env {}", fixture.var));
    assert_eq!(resource["tls"]["verification"], "verify-full");
    // As the server names it: MySQL adds `@host` (its own test says which).
    let user = resource["account"]["user"].as_str().unwrap_or_default();
    assert!(
        user == login.user
            || user
                .strip_prefix(login.user.as_str())
                .is_some_and(|host| host.starts_with('@')),
        "{user:?} is not {}",
        login.user
    );

    // Stable: a second run renders the same findings and account (no random probe names).
    let again = project.audit(&["--format", "json"], &env, &secrets).json();
    assert_eq!(again["findings"], json["findings"]);
    assert_eq!(again["resources"][0]["account"], resource["account"]);

    let table = project.audit(&[], &env, &secrets);
    assert_eq!(table.code, 0, "{}", table.stdout);
    if cli.sees_its_privileges {
        assert!(table.stdout.contains("No findings."), "{}", table.stdout);
    }
    assert!(table.stdout.contains("PASS"), "{}", table.stdout);
    assert!(
        !table.stdout.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
}

/// The server's all-powerful account fails (exit 1) with `priv-superuser`, critical, in JSON and
/// in the table.
pub fn superuser_fails_with_its_check<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::Superuser);
    let project = Project::of::<S>(cli.bin);
    let run = assert_audit_fails_with(&project, &login, CheckId::PrivSuperuser);
    assert_eq!(severity_of(&run, CheckId::PrivSuperuser), "critical");
}

/// An account missing one of its needs fails (exit 1) with `priv-missing`, in JSON and in the
/// table.
pub fn missing_grant_fails_with_its_check<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::MissingGrant);
    let project = Project::of::<S>(cli.bin);
    assert_audit_fails_with(&project, &login, CheckId::PrivMissing);
}

/// A password in the URL is `cred-in-env`, medium, so the audit still passes (exit 0), and
/// neither the JSON nor the table prints it.
pub fn password_in_the_url_is_cred_in_env_and_never_printed<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::LeastPrivileged);
    let project = Project::of::<S>(cli.bin);
    let env = project.url_env(&login.url);
    let secrets = [login.password.as_str()];
    let run = project.audit(&["--format", "json"], &env, &secrets);
    assert_eq!(run.code, 0, "medium only: {}", run.stdout);
    assert_eq!(cli.checks_of(&run), vec!["cred-in-env"]);
    assert_eq!(severity_of(&run, CheckId::CredInEnv), "medium");
    let table = project.audit(&[], &env, &secrets);
    assert_eq!(table.code, 0, "{}", table.stdout);
    assert!(table.stdout.contains("cred-in-env"), "{}", table.stdout);
}

/// Each weak TLS mode a binding can ask for fails (exit 1) with its check, high.
pub fn weak_tls_modes_fail<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::LeastPrivileged);
    let project = Project::of::<S>(cli.bin);
    let weak = S::weak_tls(&login.url_without_password);
    assert!(!weak.is_empty());
    for (url, check) in weak {
        let env = project.password_file_env(&Login {
            url_without_password: url.clone(),
            ..login.clone()
        });
        let run = project.audit(&["--format", "json"], &env, &[&login.password]);
        assert_eq!(run.code, 1, "{url}: {}", run.stdout);
        assert!(run.has(check), "{url}: {check}: {:?}", run.checks());
        assert_eq!(severity_of(&run, check), "high", "{url}");
    }
}

/// A fake server that declines TLS fails the audit (exit 1) with the kind's check for it,
/// nothing is inspected, and it gets nothing: not one byte after it declined, no user name, no
/// password.
pub fn declining_server_fails_and_gets_nothing<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::LeastPrivileged);
    let decliner = S::decliner();
    let project = Project::of::<S>(cli.bin);
    let url = with_port(&login.url, login.port, decliner.port());
    let run = project.audit(
        &["--format", "json"],
        &project.url_env(&url),
        &[&login.password],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.has(cli.declined),
        "{}: {:?}",
        cli.declined,
        run.checks()
    );
    assert!(
        run.json()["resources"][0]["account"].is_null(),
        "nothing was inspected: {}",
        run.stdout
    );
    assert!(decliner.connections() >= 1, "the audit reached the server");
    let after = decliner.received();
    let mut all = decliner.first_flight();
    all.extend_from_slice(&after);
    let text = String::from_utf8_lossy(&all);
    assert!(
        !text.contains(&login.user) && !text.contains(&login.password),
        "a credential reached the fake server"
    );
    assert!(after.is_empty(), "{} bytes after it declined", after.len());
}

/// With the password in the URL, a wrong password (`auth-failed`), a closed port
/// (`unreachable`), a CA file that does not exist and each weak TLS mode (its check) fail
/// (exit 1), in JSON and in the table, and no run prints the password.
pub fn failures_never_print_the_password<S: Service>(cli: &Cli) {
    let login = S::shared().login(Shape::LeastPrivileged);
    let project = Project::of::<S>(cli.bin);
    let wrong = format!("{}-wrong", login.password);
    let mut cases = vec![
        (
            login.url.replace(&login.password, &wrong),
            Some(CheckId::AuthFailed),
        ),
        (
            with_port(&login.url, login.port, closed_port()),
            Some(CheckId::Unreachable),
        ),
        (
            S::with_ca(&login.url, Path::new("/nonexistent/ca.pem")),
            None,
        ),
    ];
    cases.extend(
        S::weak_tls(&login.url)
            .into_iter()
            .map(|(url, check)| (url, Some(check))),
    );
    for (url, check) in cases {
        let env = project.url_env(&url);
        let secrets = [login.password.as_str(), wrong.as_str()];
        let run = project.audit(&["--format", "json"], &env, &secrets);
        assert_eq!(run.code, 1, "{url}: {}", run.stdout);
        if let Some(check) = check {
            assert!(run.has(check), "{url}: {check}: {:?}", run.checks());
        }
        let table = project.audit(&[], &env, &secrets);
        assert_eq!(table.code, 1, "{url}: {}", table.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// `attache grants`: what it writes, applied as it is, makes an account that audits clean.

/// `attache grants` without a password file writes a placeholder (exit 0, no password); as JSON
/// it lists the statements; with `--password-file` it warns that its output holds the password,
/// and that output, applied as it is by an administrator, makes an account that audits clean
/// (exit 0). One grant revoked is `priv-missing` (exit 1); one grant added is `priv-excess`.
/// The password has quotes, a backslash and spaces, so every kind's statements must quote it.
pub fn grants_round_trip_creates_an_account_that_audits_clean<S: Service>(cli: &Cli) {
    let server = S::shared();
    let project = Project::of::<S>(cli.bin);
    let resource = project.fixture().resource;
    let user = format!("cli_grants_{}", S::KIND);
    let password = r#"planted grants "round" it's-\quoted"#;
    let pw_file = project.path("admin.password");
    std::fs::write(&pw_file, format!("{password}\n")).expect("write the password file");
    let pw_arg = pw_file.to_string_lossy().into_owned();

    // Without a password file: a placeholder the administrator fills (each kind's test says
    // which), never an invented password.
    let bare = project.grants(&["--account", &user], &[], &[password]);
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(!bare.stdout.is_empty());

    let json = project.grants(&["--account", &user, "--format", "json"], &[], &[password]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let doc = json.json();
    assert_eq!(doc["version"], 1);
    let provision = &doc["provisions"][0];
    assert_eq!(provision["resource"], resource);
    assert_eq!(provision["kind"], S::KIND);
    assert_eq!(provision["account"], user.as_str());
    assert!(
        provision["statements"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        json.stdout
    );

    // With one: the administrator applies the output as it is.
    let provisioned = |user: &str| {
        let args = [
            "--account",
            user,
            "--resource",
            resource,
            "--password-file",
            &pw_arg,
        ];
        let run = project.grants(&args, &[], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("hold the password"),
            "the administrator is told the output holds the password: {}",
            run.stderr
        );
        server.provisioned(user, password, &[run.stdout])
    };
    let exact = provisioned(&user);
    let env = project.password_file_env(&exact);
    let run = project.audit(&["--format", "json"], &env, &[password]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(cli.checks_of(&run), Vec::<String>::new(), "{}", run.stdout);

    // Drift either way is caught.
    server.revoke_one(&exact);
    let run = project.audit(&["--format", "json"], &env, &[password]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.has(CheckId::PrivMissing), "{}", run.stdout);

    let more = provisioned(&format!("{user}_more"));
    server.grant_extra(&more);
    let env = project.password_file_env(&more);
    let run = project.audit(&["--format", "json"], &env, &[password]);
    assert!(run.has(CheckId::PrivExcess), "{}", run.stdout);
    assert!(!run.has(CheckId::PrivMissing), "{}", run.stdout);
}

/// Writes one `#[test]` per promise of the CLI suite for the test server `$server` (a type that
/// implements [`Service`]), told about the kind by `$cli` (a [`Cli`]). Invoke it inside a
/// module named after the kind, so several kinds can share one test binary.
#[macro_export]
macro_rules! cli_contract_suite {
    ($server:ty, $cli:expr $(,)?) => {
        $crate::cli_contract_suite!(@tests $server, $cli;
            least_privileged_binding_audits_clean,
            superuser_fails_with_its_check,
            missing_grant_fails_with_its_check,
            password_in_the_url_is_cred_in_env_and_never_printed,
            weak_tls_modes_fail,
            declining_server_fails_and_gets_nothing,
            failures_never_print_the_password,
            grants_round_trip_creates_an_account_that_audits_clean,
        );
    };
    (@tests $server:ty, $cli:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::cli_contract::$name::<$server>(&$cli);
            }
        )*
    };
}
