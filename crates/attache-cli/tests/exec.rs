//! `attache exec`: the audit as the gate in front of a program in any language, against the
//! test kit's real TLS PostgreSQL (one per test binary). The program is `sh`, as a container
//! entrypoint would run it: on a pass it must run in attache's place (same pid, environment
//! intact, its exit status ours); on a fail it must not run at all; with `--watch` it must be
//! signalled on a passing binding change only, and get the signals attache gets.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use attache_testkit::cli_contract::{Env, Project};
use attache_testkit::{PgServer, Service, Shape};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// `attache exec --manifest <project's> <args>` with exactly `envs` (plus `PATH`), run in the
/// project's directory.
fn exec(project: &Project, args: &[&str], envs: &Env) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("exec")
        .arg("--manifest")
        .arg(project.manifest())
        .args(args)
        .current_dir(project.dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(envs.iter().map(|(k, v)| (k, v)));
    command
}

/// Waits (up to a minute) for `done`, failing with `what`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_passing_audit_becomes_the_program_same_pid_same_environment_its_exit_status() {
    let login = PgServer::shared().login(Shape::LeastPrivileged);
    let project = Project::of::<PgServer>(BIN);
    let mut envs = project.password_file_env(&login);
    envs.push(("APP_SETTING".into(), "kept as it was".into()));
    let child = exec(
        &project,
        &[
            "--",
            "sh",
            "-c",
            "echo pid=$$; echo setting=$APP_SETTING; echo url=${SVC_URL:+set}; echo args=$0,$1; exit 7",
            "first",
            "second",
        ],
        &envs,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(7), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        format!("pid={pid}\nsetting=kept as it was\nurl=set\nargs=first,second\n"),
        "stdout is the program's alone; stderr: {stderr}"
    );
    assert!(!stderr.contains(&login.password) && !stdout.contains(&login.password));
}

#[test]
fn a_failing_audit_never_starts_the_program() {
    let login = PgServer::shared().login(Shape::Superuser);
    let project = Project::of::<PgServer>(BIN);
    let envs = project.password_file_env(&login);
    let marker = project.path("started");
    let out = exec(&project, &["--", "touch", "started"], &envs)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!marker.exists(), "the program ran");
    assert!(out.stdout.is_empty(), "findings go to stderr");
    assert!(stderr.contains("priv-superuser"), "{stderr}");
    assert!(stderr.contains("touch not started"), "{stderr}");
    assert!(!stderr.contains(&login.password), "{stderr}");

    // priv-superuser is critical: it fails the gate at every threshold.
    let out = exec(
        &project,
        &["--fail-on", "critical", "--", "touch", "started"],
        &envs,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!marker.exists());
}

#[test]
fn findings_below_the_threshold_are_said_and_the_program_runs() {
    let login = PgServer::shared().login(Shape::MissingGrant);
    let project = Project::of::<PgServer>(BIN);
    let envs = project.password_file_env(&login);
    let out = exec(&project, &["--fail-on", "critical", "--", "true"], &envs)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("priv-missing"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_a_missing_program_127() {
    let project = Project::new(BIN, "[resources]\n");
    let envs = Env::new();
    let marker = project.path("started");
    for args in [
        vec!["--manifest", "absent.toml", "--", "touch", "started"],
        vec!["--fail-on", "severe", "--", "touch", "started"],
        vec!["--watch", "--signal", "WAKEUP", "--", "touch", "started"],
        vec!["--signal", "USR1", "--", "touch", "started"],
        vec![],
    ] {
        let out = exec(&project, &args, &envs).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!marker.exists(), "{args:?} ran the program");
    }
    let out = exec(&project, &["--", "no-such-program-anywhere"], &envs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no-such-program-anywhere"), "{stderr}");
}

#[test]
fn watch_signals_the_program_on_a_passing_change_only_and_forwards_signals() {
    let login = PgServer::shared().login(Shape::LeastPrivileged);
    let project = Project::of::<PgServer>(BIN);
    let url_file = project.path("url");
    std::fs::write(&url_file, &login.url_without_password).unwrap();
    let mut envs: Env = project
        .password_file_env(&login)
        .into_iter()
        .filter(|(k, _)| k != "SVC_URL")
        .collect();
    envs.push((
        "SVC_URL_FILE".into(),
        url_file.to_string_lossy().into_owned(),
    ));
    let program = "trap 'echo hup >> hups' HUP; trap 'exit 3' TERM; echo ready > ready; \
                   while :; do sleep 0.05; done";
    let mut attache = exec(
        &project,
        &["--watch", "--poll", "100ms", "--", "sh", "-c", program],
        &envs,
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let stderr = attache.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut said = String::new();
    let mut wait_for_line = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !said.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    said.push_str(&line);
                    said.push('\n');
                }
                Err(_) => panic!("attache never said `{needle}`; it said:\n{said}"),
            }
        }
        std::mem::take(&mut said)
    };
    let hups = project.path("hups");
    wait_for("the program to start", || project.path("ready").exists());

    // A passing change: the same account, its CA read from another path.
    let ca_copy = project.path("ca-copy.pem");
    std::fs::copy(&login.ca_path, &ca_copy).unwrap();
    let moved = login.url_without_password.replace(
        &*login.ca_path.to_string_lossy(),
        &ca_copy.to_string_lossy(),
    );
    assert_ne!(moved, login.url_without_password);
    std::fs::write(&url_file, &moved).unwrap();
    let told = wait_for_line("sent SIGHUP");
    assert!(told.contains("a binding changed"), "{told}");
    wait_for("the program to get SIGHUP", || read(&hups) == "hup\n");

    // A failing change: plaintext to a host that is not this machine. Reported, not signalled.
    std::fs::write(
        &url_file,
        "postgres://app@db.example.com/app?sslmode=disable",
    )
    .unwrap();
    let told = wait_for_line("not signalled");
    assert!(told.contains("tls-plaintext"), "{told}");
    assert_eq!(
        read(&hups),
        "hup\n",
        "a failing change signalled the program"
    );

    // Back to a passing binding: signalled again.
    std::fs::write(&url_file, &login.url_without_password).unwrap();
    wait_for_line("sent SIGHUP");
    wait_for("the second SIGHUP", || read(&hups) == "hup\nhup\n");

    // Signals attache gets reach the program; its exit status is attache's.
    let killed = Command::new("kill")
        .args(["-TERM", &attache.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = attache.wait().unwrap();
    assert_eq!(status.code(), Some(3), "the program's TERM trap exits 3");
}
