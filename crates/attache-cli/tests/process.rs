//! `attache audit --process PID` and the repository checks, end to end: against real processes
//! the tests start (`python3`, one as root with listeners and connections the manifest does not
//! declare and credentials in its environment, one as `nobody` with exactly its declared
//! listener), and against real git repositories made in temporary directories.
//!
//! What belongs here: what the audit says about a process and a repository, through the binary
//! (exit codes, JSON, table, messages), and that no secret value ever reaches its output. How
//! `/proc` is parsed and how secrets are recognised is unit-tested in `attache-core`
//! (`process`, `scan`, `repo`). These tests start processes as root and as `nobody`: they run
//! as root, as CI does.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use attache_testkit::cli_contract::{Env, Project, attache};
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// The interpreter of the test processes (the system's, which `nobody` can run).
const PYTHON: &str = "/usr/bin/python3";

/// `nobody` on Debian.
const NOBODY: u32 = 65534;

/// A test process: killed and reaped when dropped.
struct App {
    child: Child,
    /// What it printed once ready: its ports, as JSON.
    ready: Value,
}

impl App {
    /// Starts `python3 -c script args…` with exactly `env` (plus `PATH`), as `uid` when given,
    /// in `/`, and waits (up to 30 s) for the JSON line it prints when ready.
    fn start(script: &str, args: &[&str], env: &[(&str, String)], uid: Option<u32>) -> App {
        let mut command = Command::new(PYTHON);
        command
            .arg("-c")
            .arg(script)
            .args(args)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Never the test's own stderr: a file there would be the process's local state.
            .stderr(Stdio::piped());
        if let Some(uid) = uid {
            // std drops the supplementary groups when it sets the uid.
            command.uid(uid).gid(uid);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {PYTHON}: {e}"));
        let stdout = child.stdout.take().expect("a stdout pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        match serde_json::from_str(&line) {
            Ok(ready) => App { child, ready },
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                let _ = child.wait();
                panic!("the test process did not get ready: {line:?}\n{err}");
            }
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn port(&self, name: &str) -> u16 {
        self.ready[name]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no port {name} in {}", self.ready))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tests start a process as root and one as `nobody`.
fn assert_root() {
    let euid = std::fs::metadata("/proc/self").expect("/proc").uid();
    assert_eq!(
        euid, 0,
        "these tests start processes as root and as nobody: run them as root (CI does)"
    );
}

/// A directory for the process's state outside every temporary directory: the tests' own in
/// `target/`, or one under `/var/lib` when `target/` itself is in a temporary directory.
fn state_dir() -> tempfile::TempDir {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let temporary = attache::process::TEMPORARY_DIRS
        .iter()
        .any(|d| target.starts_with(d));
    let base = if temporary {
        PathBuf::from("/var/lib")
    } else {
        target.to_owned()
    };
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix("attache-state-")
        .tempdir_in(base)
        .expect("a state directory")
}

/// The findings of a JSON run whose check is `check`.
fn findings<'a>(json: &'a Value, check: &str) -> Vec<&'a Value> {
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

/// The one finding of `check` whose message contains `text`; panics listing them otherwise.
fn finding<'a>(json: &'a Value, check: &str, text: &str) -> &'a Value {
    let all = findings(json, check);
    let found: Vec<&&Value> = all
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains(text))
        .collect();
    assert_eq!(found.len(), 1, "one {check} with {text:?} in {all:#?}");
    found[0]
}

fn evidence(f: &Value) -> String {
    f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Planted secrets are put together at run time: this file holds none a repository scan would
/// report.
fn planted(prefix: &str, body: &str, n: usize) -> String {
    format!("{prefix}{}", body.repeat(n))
}

/// Binds a TCP listener on loopback and a dual-stack one on every address, one UDP socket on
/// every address, connects to each port in `argv[1]` (comma-separated), opens `argv[2]` for
/// writing and a scratch file in /tmp, prints its ports, and waits for stdin to close.
const DIRTY: &str = r#"
import json, socket, sys, tempfile
loopback = socket.socket()
loopback.bind(("127.0.0.1", 0))
loopback.listen()
wide = socket.socket()
wide.bind(("0.0.0.0", 0))
wide.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", 0))
peers = [socket.create_connection(("127.0.0.1", int(p))) for p in sys.argv[1].split(",")]
state = open(sys.argv[2], "w")
scratch = tempfile.NamedTemporaryFile(dir="/tmp", prefix="attache-scratch-")
print(json.dumps({"loopback": loopback.getsockname()[1], "wide": wide.getsockname()[1],
                  "udp": udp.getsockname()[1]}), flush=True)
sys.stdin.read()
"#;

/// Listens on one TCP port on every address (IPv6, dual-stack), and nothing else.
const CLEAN: &str = r#"
import json, socket, sys
web = socket.socket(socket.AF_INET6)
web.bind(("::", 0))
web.listen()
print(json.dumps({"web": web.getsockname()[1]}), flush=True)
sys.stdin.read()
"#;

#[test]
fn a_root_process_with_undeclared_listeners_peers_state_and_credentials() {
    assert_root();
    // Two backing services the process reaches: `db` is declared (its binding is in the
    // process's environment), the other is not.
    let declared_peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let undeclared_peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let declared_port = declared_peer.local_addr().unwrap().port();
    let undeclared_port = undeclared_peer.local_addr().unwrap().port();
    let state = state_dir();
    let state_file = state.path().join("state.db");

    let token = planted("ghp_", "Zq7", 12);
    let aws = planted("AKIA", "QX4", 5) + "Z";
    let session = "planted-session-secret".to_owned();
    let db_password = "planted-db-password";
    let db_url = format!("postgres://app:{db_password}@127.0.0.1:{declared_port}/app");
    let app = App::start(
        DIRTY,
        &[
            &format!("{declared_port},{undeclared_port}"),
            &state_file.to_string_lossy(),
        ],
        &[
            ("API_TOKEN", token.clone()),
            ("AWS_ACCESS_KEY_ID", aws.clone()),
            ("SESSION_SECRET", session.clone()),
            ("DB_URL", db_url.clone()),
            ("GREETING", "hello".to_owned()),
        ],
        None,
    );
    let (loopback, wide, udp) = (app.port("loopback"), app.port("wide"), app.port("udp"));
    let project = Project::new(
        BIN,
        &format!(
            "[resources.db]\nkind = \"postgres\"\n[resources.db.policy]\nconnect_timeout = \"1s\"\n\n\
             [process]\nlisten = [\"127.0.0.1:{loopback}\", \"127.0.0.1:{udp}/udp\"]\n"
        ),
    );
    let secrets = [
        token.as_str(),
        aws.as_str(),
        session.as_str(),
        db_password,
        db_url.as_str(),
    ];
    let pid = app.pid();

    // attache's own environment has no binding: `db` is binding-missing, and the process's
    // environment says where `db` is.
    let run = project.audit(&["--process", &pid, "--format", "json"], &[], &secrets);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    let who = format!("process {pid} (python3)");

    let root = finding(&json, "proc-root", &who);
    assert_eq!(root["severity"], "high");
    assert_eq!(root["resource"], "(process)");
    assert!(
        root["message"]
            .as_str()
            .unwrap()
            .ends_with("runs as root (uid 0)")
    );
    assert!(
        evidence(root).starts_with("Uid: real 0, effective 0, saved 0"),
        "{root}"
    );

    let caps = finding(&json, "proc-capabilities", &who);
    assert_eq!(caps["severity"], "high");
    let names = json["attack_surface"]["process"]["capabilities"]
        .as_array()
        .unwrap();
    assert!(!names.is_empty());
    for name in names {
        assert!(
            evidence(caps).contains(name.as_str().unwrap()),
            "{name} named in {caps}"
        );
    }

    let undeclared = finding(
        &json,
        "proc-listener-undeclared",
        &format!("0.0.0.0:{wide}"),
    );
    assert_eq!(undeclared["severity"], "medium");
    assert!(
        undeclared["message"].as_str().unwrap().ends_with(&format!(
            "listens on tcp 0.0.0.0:{wide}, every address, which [process] listen does not declare"
        )),
        "{undeclared}"
    );
    assert!(evidence(undeclared).contains(&format!("/proc/{pid}/net/tcp")));
    let wider = finding(
        &json,
        "proc-listener-undeclared",
        &format!("udp 0.0.0.0:{udp}"),
    );
    assert_eq!(
        wider["severity"], "high",
        "a loopback port open to the network"
    );
    assert!(
        wider["message"].as_str().unwrap().contains(&format!(
            "where [process] listen declares loopback:{udp}/udp only"
        )),
        "{wider}"
    );
    assert_eq!(
        findings(&json, "proc-listener-undeclared").len(),
        2,
        "not {loopback}"
    );

    // Every credential of its environment, by name and kind; nothing for GREETING or PATH.
    let in_env = findings(&json, "cred-in-env");
    for (var, kind) in [
        ("API_TOKEN", "a GitHub token"),
        ("AWS_ACCESS_KEY_ID", "an AWS access key id"),
        ("SESSION_SECRET", "a credential"),
        ("DB_URL", "a URL with a password"),
    ] {
        let f = finding(&json, "cred-in-env", &format!(" {var} "));
        assert_eq!(f["resource"], "(process)");
        assert_eq!(
            f["message"],
            format!("{kind} sits in the environment variable {var} of {who}")
        );
        assert!(evidence(f).contains(&format!("/proc/{pid}/environ")));
    }
    assert_eq!(in_env.len(), 4, "{in_env:#?}");

    let local = finding(&json, "proc-local-state", &who);
    assert_eq!(local["severity"], "low");
    let files = evidence(local);
    assert!(files.contains(&state_file.display().to_string()), "{files}");
    assert!(!files.contains("/tmp/attache-scratch-"), "{files}");

    let peer = finding(
        &json,
        "proc-undeclared-peer",
        &format!("a connection to 127.0.0.1:{undeclared_port}"),
    );
    assert_eq!(peer["severity"], "medium");
    assert!(evidence(peer).contains(&format!("-> 127.0.0.1:{undeclared_port} established")));
    assert!(evidence(peer).contains(&format!("db 127.0.0.1:{declared_port}")));
    assert_eq!(
        findings(&json, "proc-undeclared-peer").len(),
        1,
        "db is declared"
    );
    assert_eq!(findings(&json, "binding-missing").len(), 1);
    assert!(
        findings(&json, "cred-in-repo").is_empty(),
        "not in a git work tree"
    );

    // The attack surface: listeners, resources with their connections, the undeclared peer,
    // the secrets by where they sit, the state.
    let surface = &json["attack_surface"];
    assert_eq!(surface["process"]["pid"].to_string(), pid);
    assert_eq!(surface["process"]["uid"], 0);
    let listeners: Vec<(String, String, u64, bool)> = surface["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["protocol"].as_str().unwrap().to_owned(),
                l["address"].as_str().unwrap().to_owned(),
                l["port"].as_u64().unwrap(),
                l["declared"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![
        (
            "tcp".to_owned(),
            "127.0.0.1".to_owned(),
            u64::from(loopback),
            true,
        ),
        (
            "tcp".to_owned(),
            "0.0.0.0".to_owned(),
            u64::from(wide),
            false,
        ),
        (
            "udp".to_owned(),
            "0.0.0.0".to_owned(),
            u64::from(udp),
            false,
        ),
    ];
    expected.sort();
    let mut listeners = listeners;
    listeners.sort();
    assert_eq!(listeners, expected);
    assert_eq!(surface["resources"][0]["name"], "db");
    assert_eq!(surface["resources"][0]["connections"], 1);
    assert_eq!(surface["undeclared_peers"].as_array().unwrap().len(), 1);
    assert_eq!(surface["undeclared_peers"][0]["port"], undeclared_port);
    let locations: Vec<&str> = surface["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["location"].as_str().unwrap())
        .collect();
    for var in ["API_TOKEN", "AWS_ACCESS_KEY_ID", "SESSION_SECRET", "DB_URL"] {
        assert!(
            locations.contains(&format!("env {var} of process {pid}").as_str()),
            "{locations:?}"
        );
    }
    assert_eq!(
        surface["local_state"],
        serde_json::json!([state_file.display().to_string()])
    );

    // The table says the same, with the attack surface.
    let table = project.audit(&["--process", &pid], &[], &secrets);
    assert_eq!(table.code, 1);
    for text in [
        "proc-root",
        "proc-capabilities",
        "proc-listener-undeclared",
        "proc-undeclared-peer",
        "proc-local-state",
        "ATTACK SURFACE",
        &format!("tcp 0.0.0.0:{wide}  UNDECLARED"),
        &format!("tcp 127.0.0.1:{loopback}  declared"),
        &format!("UNDECLARED tcp 127.0.0.1:{undeclared_port}, 1 connection(s)"),
        &format!("(process): a GitHub token at env API_TOKEN of process {pid}"),
        "FAIL",
    ] {
        assert!(table.stdout.contains(text), "{text} in\n{}", table.stdout);
    }

    // Every other view keeps the secrets out too.
    for format in ["sarif", "html"] {
        let run = project.audit(&["--process", &pid, "--format", format], &[], &secrets);
        assert_eq!(run.code, 1, "{format}: {}", run.stderr);
        if format == "html" {
            // The page's attack surface holds the process's listeners, peers and secrets.
            for text in [
                "<h2>The app's process and secrets</h2>".to_owned(),
                format!(
                    "<code>0.0.0.0</code></td><td data-label=\"Port\">{wide}</td><td data-label=\"Declared\"><strong>no</strong>"
                ),
                format!("tcp 127.0.0.1:{undeclared_port}"),
                format!("env API_TOKEN of process {pid}"),
            ] {
                assert!(run.stdout.contains(&text), "{text} in the HTML report");
            }
        }
    }

    // With the binding in attache's environment too, `db`'s own check reports DB_URL's
    // password, and the process's copy (the same value) is not reported a second time.
    let env: Env = vec![("DB_URL".to_owned(), db_url.clone())];
    let run = project.audit(&["--process", &pid, "--format", "json"], &env, &secrets);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    let from_db: Vec<&Value> = findings(&json, "cred-in-env")
        .into_iter()
        .filter(|f| f["resource"] == "db")
        .collect();
    assert_eq!(from_db.len(), 1, "{json:#}");
    assert!(
        findings(&json, "cred-in-env")
            .iter()
            .all(|f| !f["message"].as_str().unwrap().contains(" DB_URL ")),
        "DB_URL is reported once, by db"
    );
    assert_eq!(findings(&json, "cred-in-env").len(), 4);
    drop(declared_peer);
    drop(undeclared_peer);
}

#[test]
fn an_unprivileged_process_with_exactly_its_declared_listener_is_clean() {
    assert_root();
    let app = App::start(CLEAN, &[], &[], Some(NOBODY));
    let web = app.port("web");
    let project = Project::new(BIN, &format!("[process]\nlisten = [{web}]\n"));
    let pid = app.pid();
    let run = project.audit(&["--process", &pid, "--format", "json"], &[], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["findings"], serde_json::json!([]), "{json:#}");
    let surface = &json["attack_surface"];
    assert_eq!(surface["process"]["uid"], NOBODY);
    assert_eq!(surface["process"]["effective_uid"], NOBODY);
    assert_eq!(surface["process"]["capabilities"], serde_json::json!([]));
    assert_eq!(
        surface["listeners"],
        serde_json::json!([{"protocol": "tcp", "address": "::", "port": web, "declared": true}])
    );
    for empty in ["undeclared_peers", "secrets", "local_state", "resources"] {
        assert_eq!(surface[empty], serde_json::json!([]), "{empty}");
    }
    let table = project.audit(&["--process", &pid], &[], &[]);
    assert_eq!(table.code, 0);
    assert!(table.stdout.starts_with("No findings."), "{}", table.stdout);
    assert!(
        table.stdout.contains(&format!("tcp [::]:{web}  declared")),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("PASS"), "{}", table.stdout);

    // The same process against a manifest without `[process]`: its one listener is undeclared.
    let bare = Project::new(BIN, "");
    let run = bare.audit(&["--process", &pid, "--format", "json"], &[], &[]);
    assert_eq!(run.code, 0, "medium only: {}", run.stdout);
    let json = run.json();
    let f = finding(&json, "proc-listener-undeclared", &format!("[::]:{web}"));
    assert!(evidence(f).contains("the manifest has no [process] table"));
}

#[test]
fn a_missing_or_malformed_process_is_exit_2_naming_it() {
    let project = Project::new(BIN, "[process]\nlisten = [8080]\n");
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let pid = pid_max.trim();
    let run = project.audit(&["--process", pid], &[], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no data on a usage error");
    assert_eq!(
        run.stderr,
        format!("attache: --process {pid}: no process with pid {pid}\n")
    );
    let run = project.audit(&["--process", "web"], &[], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--process"), "{}", run.stderr);

    for (text, field) in [
        ("[process]\nlisen = [8080]\n", "process.lisen"),
        ("[process]\nlisten = [\"8080/sctp\"]\n", "process.listen[0]"),
        ("[process]\nlisten = [8080, 0]\n", "process.listen[1]"),
        ("[proces]\nlisten = [8080]\n", "proces"),
    ] {
        let project = Project::new(BIN, text);
        let run = project.audit(&[], &[], &[]);
        assert_eq!(run.code, 2, "{text}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("{}, field `{field}`", project.manifest())),
            "{}",
            run.stderr
        );
    }
}

/// `git args…` in `dir`, which must succeed.
fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=attache",
            "-c",
            "user.email=dev@attache.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn tracked_secrets_and_env_files_are_named_by_file_and_line() {
    let project = Project::new(BIN, "");
    let dir = project.dir();
    let token = planted("ghp_", "Rw9", 12);
    let yaml_password = "planted-yaml-password";
    let untracked_password = "planted-untracked-password";
    let key_body = planted("MIIEv", "QIBADANBgkqhkiG9w0B", 3);
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    std::fs::create_dir(dir.join("deploy")).unwrap();
    std::fs::rename(dir.join("attache.toml"), dir.join("deploy/attache.toml")).unwrap();
    write(".env", &format!("PORT=8080\nAPI_TOKEN={token}\n"));
    write(
        "config/app.yaml",
        &format!("db:\n  url: postgres://app:{yaml_password}@db.internal/app\n  pool: 4\n"),
    );
    write("services/web/.env", "PORT=8080\n");
    write(".env.example", "PORT=8080\nAPI_TOKEN=\n");
    write(
        "keys/server.pem",
        &format!(
            "-----BEGIN {k}-----\n{key_body}\n-----END {k}-----\n",
            k = "PRIVATE KEY"
        ),
    );
    write(
        "src/main.py",
        "password = request.form['password']\nprint('postgres://app@db/app')\n",
    );
    let mut blob = b"\0\x01binary".to_vec();
    blob.extend_from_slice(token.as_bytes());
    std::fs::write(dir.join("blob.bin"), blob).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "the app"]);
    write(
        "untracked.yaml",
        &format!("url: postgres://app:{untracked_password}@db/app\n"),
    );

    let manifest = dir
        .join("deploy/attache.toml")
        .to_string_lossy()
        .into_owned();
    let secrets = [
        token.as_str(),
        yaml_password,
        untracked_password,
        key_body.as_str(),
    ];
    let run = attache(
        BIN,
        &["audit", "--manifest", &manifest, "--format", "json"],
        &[],
        &secrets,
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let json = run.json();
    let mut messages: Vec<(String, String)> = findings(&json, "cred-in-repo")
        .iter()
        .map(|f| {
            assert_eq!(f["resource"], "(repository)");
            (
                f["severity"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    messages.sort();
    let high = |m: &str| ("high".to_owned(), m.to_owned());
    let medium = |m: &str| ("medium".to_owned(), m.to_owned());
    let mut expected = vec![
        high(".env line 2 holds a GitHub token in API_TOKEN"),
        high("config/app.yaml line 2 holds a URL with a password in url"),
        high("keys/server.pem line 1 holds a private key"),
        medium(".env is tracked by git: an env file is where deploy config and secrets go"),
        medium(
            "services/web/.env is tracked by git: an env file is where deploy config and secrets go",
        ),
    ];
    expected.sort();
    assert_eq!(messages, expected);
    assert_eq!(json["findings"].as_array().unwrap().len(), 5, "{json:#}");
    let secrets_seen: Vec<&str> = json["attack_surface"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        secrets_seen,
        [
            ".env line 2",
            "config/app.yaml line 2",
            "keys/server.pem line 1"
        ]
    );
    let table = attache(BIN, &["audit", "--manifest", &manifest], &[], &secrets);
    assert_eq!(table.code, 1);
    assert!(
        table
            .stdout
            .contains("(repository): a GitHub token at .env line 2"),
        "{}",
        table.stdout
    );
    assert_eq!(json["findings"][0]["severity"], "high", "most severe first");
}
