//! A real, throwaway MariaDB server: TLS-only on 127.0.0.1 (`require_secure_transport = ON`),
//! admin as `root` over a private unix socket (socket authentication); and a fake MySQL server
//! that offers no TLS, to catch a client that downgrades.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;

use crate::instance::{Instance, chown_to, make_dir, next_id, server_tls_dir};
use crate::pki::{CertProfile, Pki};
use crate::sys;

const INSTALL_HINT: &str = "apt-get install mariadb-server mariadb-client";

/// What the least-privileged account ([`MysqlAccount::LeastPrivileged`]) needs, and is granted,
/// exactly, in the fixture tables of its own database. The names carry no database: needs
/// without one refer to the binding's database, so the same needs fit every fresh database.
///
/// The fixture tables in every database from [`MysqlServer::fresh_database`]:
///
/// ```sql
/// CREATE TABLE signups (id bigint AUTO_INCREMENT PRIMARY KEY, email varchar(255) NOT NULL, created_at timestamp DEFAULT current_timestamp);
/// CREATE TABLE users (id bigint AUTO_INCREMENT PRIMARY KEY, email varchar(255) NOT NULL, password_hash varchar(255));
/// INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x');
/// ```
pub const MYSQL_NEEDS: &[&str] = &["SELECT, INSERT ON signups", "SELECT (id, email) ON users"];

/// How [`MysqlServer::account`] shapes the new account `'u_<case>_<n>'@'%'` (always
/// `REQUIRE SSL`). Every case gets its own fresh database `<db>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MysqlAccount {
    /// `GRANT SELECT, INSERT ON <db>.signups`; `GRANT SELECT (id, email) ON <db>.users`.
    /// Exactly [`MYSQL_NEEDS`].
    LeastPrivileged,
    /// `GRANT ALL PRIVILEGES ON *.*` and nothing else.
    AllOnStar,
    /// The least-privileged grants plus `GRANT FILE, SUPER ON *.*`.
    ServerAdmin,
    /// The least-privileged grants, `SELECT ON <db>.signups` `WITH GRANT OPTION`.
    GrantOption,
    /// The least-privileged grants minus INSERT on signups.
    MissingGrant,
    /// The least-privileged grants plus `GRANT DELETE ON <db>.signups` and `GRANT DROP ON <db>.*`.
    Excess,
    /// The least-privileged grants plus a role `<user>_role` holding `DELETE, DROP ON <db>.*`,
    /// granted to the account but not its default role (not active at login).
    ViaRole,
    /// The least-privileged grants and no password at all (`password` is empty).
    EmptyPassword,
}

impl MysqlAccount {
    fn slug(self) -> &'static str {
        match self {
            MysqlAccount::LeastPrivileged => "least",
            MysqlAccount::AllOnStar => "all_on_star",
            MysqlAccount::ServerAdmin => "server_admin",
            MysqlAccount::GrantOption => "grant_option",
            MysqlAccount::MissingGrant => "missing",
            MysqlAccount::Excess => "excess",
            MysqlAccount::ViaRole => "via_role",
            MysqlAccount::EmptyPassword => "empty_pw",
        }
    }
}

/// An account made by [`MysqlServer::account`], with what a client needs to connect as it.
#[derive(Clone)]
pub struct MysqlTestAccount {
    /// The account's own database (from [`MysqlServer::fresh_database`]).
    pub database: String,
    /// The user name, `u_<case>_<n>` (host `%`).
    pub user: String,
    /// A random password of 40 characters starting with `planted-`, so tests can grep every
    /// output for a leak. Empty for [`MysqlAccount::EmptyPassword`].
    pub password: String,
    /// The role granted to the account, for [`MysqlAccount::ViaRole`].
    pub role: Option<String>,
    /// The server's host, `127.0.0.1`.
    pub host: String,
    /// The server's TLS port.
    pub port: u16,
    /// The CA certificate that signed the server's certificate.
    pub ca_path: PathBuf,
}

impl fmt::Debug for MysqlTestAccount {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlTestAccount")
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("role", &self.role)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ca_path", &self.ca_path)
            .finish()
    }
}

impl MysqlTestAccount {
    /// `mysql://user:password@127.0.0.1:port/database?ssl-mode=VERIFY_IDENTITY&ssl-ca=<ca path>`,
    /// percent-encoded.
    pub fn url(&self) -> String {
        self.url_with(Some(&self.password))
    }

    /// [`MysqlTestAccount::url`] without the password (for use with a password file).
    pub fn url_without_password(&self) -> String {
        self.url_with(None)
    }

    fn url_with(&self, password: Option<&str>) -> String {
        let user = utf8_percent_encode(&self.user, sys::URL_COMPONENT);
        let password = password
            .filter(|p| !p.is_empty())
            .map(|p| format!(":{}", utf8_percent_encode(p, sys::URL_COMPONENT)))
            .unwrap_or_default();
        format!(
            "mysql://{user}{password}@{host}:{port}/{db}?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}",
            host = self.host,
            port = self.port,
            db = utf8_percent_encode(&self.database, sys::URL_COMPONENT),
            ca = utf8_percent_encode(&self.ca_path.to_string_lossy(), sys::URL_PATH_VALUE),
        )
    }

    /// Writes the password (no trailing newline) into `dir/<user>.password` with mode 0600 and
    /// returns the path.
    pub fn write_password_file(&self, dir: &Path) -> PathBuf {
        crate::pki::password_file(dir, &self.user, &self.password)
    }
}

/// A real MariaDB server (Debian package) for tests: TLS only on `127.0.0.1:<ephemeral port>`
/// (`require_secure_transport = ON`, TLS 1.2 and 1.3), and a unix socket in its own directory
/// (mode 0700) where `root` logs in by socket authentication.
///
/// Runs as the `mysql` OS user when this process is root (`mariadbd --user=mysql`, which does
/// not fork: the pid held is the server's), in a directory `/tmp/attache-tk/<pid>-<n>`.
/// Dropping it stops the server (SIGTERM) and removes the directory; the instance guardian does
/// the same if this process dies without dropping it (always the case for
/// [`MysqlServer::shared`]). Set `ATTACHE_TESTKIT_KEEP=1` to keep the directories.
pub struct MysqlServer {
    host: String,
    port: u16,
    pki: Arc<Pki>,
    socket: PathBuf,
    client: PathBuf,
    admin_user: String,
    instance: Instance,
}

impl fmt::Debug for MysqlServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dir", &self.instance.dir)
            .finish_non_exhaustive()
    }
}

/// Finds an executable by name in the usual Debian places and `$PATH`.
fn find_exe(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn require_exe(name: &str) -> PathBuf {
    find_exe(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found: the MariaDB test server needs the Debian packages ({INSTALL_HINT})"
        )
    })
}

impl MysqlServer {
    /// One server per test process, started on first call (thread-safe). It uses its own
    /// [`Pki`] (in its instance directory) and presents a [`CertProfile::Valid`] certificate.
    pub fn shared() -> &'static MysqlServer {
        static SHARED: OnceLock<MysqlServer> = OnceLock::new();
        SHARED.get_or_init(|| MysqlServer::launch(None, CertProfile::Valid))
    }

    /// Starts a separate server presenting a certificate shaped by `cert`, signed by `pki`'s CA
    /// (any further certificate is issued into `pki`'s directory). Stopped when dropped.
    pub fn start(pki: Arc<Pki>, cert: CertProfile) -> MysqlServer {
        MysqlServer::launch(Some(pki), cert)
    }

    /// The host to connect to: `127.0.0.1`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TLS port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's unix socket (its directory is mode 0700: root and the server only).
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The PKI whose CA signed the server's certificate.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Path of the CA certificate that signed the server's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.pki.ca_path()
    }

    /// Runs `sql` as the admin (`root`) over the unix socket with
    /// `mariadb --no-defaults --batch --raw --skip-column-names` (SQL on stdin; several
    /// statements allowed; it stops at the first error). Returns stdout: one row a line, tabs
    /// between columns. Panics with the client's stderr on failure.
    pub fn admin_sql(&self, sql: &str) -> String {
        let mut cmd = Command::new(&self.client);
        cmd.arg("--no-defaults")
            .arg("--protocol=socket")
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--user={}", self.admin_user))
            .args(["--batch", "--raw", "--skip-column-names"]);
        // MYSQL_* variables from the caller's environment must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MYSQL") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e} ({INSTALL_HINT})", self.client.display()));
        let mut stdin = child.stdin.take().expect("mariadb stdin");
        // Feed stdin from a thread: a large result could otherwise fill the stdout pipe while
        // we are still writing, and both sides would block.
        let sql_owned = sql.to_owned();
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(sql_owned.as_bytes());
        });
        let output = child.wait_with_output().expect("wait for mariadb");
        let _ = writer.join();
        if !output.status.success() {
            panic!(
                "admin_sql failed ({}):\n{}\nSQL was:\n{sql}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Creates a new database `t_<n>` with the fixture tables (see [`MYSQL_NEEDS`]). Returns its
    /// name.
    pub fn fresh_database(&self) -> String {
        let name = format!("t_{}", next_id());
        self.admin_sql(&format!(
            "CREATE DATABASE {name};\n\
             CREATE TABLE {name}.signups (id bigint AUTO_INCREMENT PRIMARY KEY, email varchar(255) NOT NULL, created_at timestamp DEFAULT current_timestamp);\n\
             CREATE TABLE {name}.users (id bigint AUTO_INCREMENT PRIMARY KEY, email varchar(255) NOT NULL, password_hash varchar(255));\n\
             INSERT INTO {name}.users (email, password_hash) VALUES ('a@example.com', 'x');\n"
        ));
        name
    }

    /// Creates an account `'u_<case>_<n>'@'%'` with a random `planted-…` password (`REQUIRE
    /// SSL`) in a fresh database, shaped as `case` says.
    pub fn account(&self, case: MysqlAccount) -> MysqlTestAccount {
        let database = self.fresh_database();
        let n = next_id();
        let user = format!("u_{}_{n}", case.slug());
        let password = if case == MysqlAccount::EmptyPassword {
            String::new()
        } else {
            format!("planted-{}", sys::random_alphanumeric(32))
        };
        let who = format!("'{user}'@'%'");

        // Names and password are [a-z0-9_] / alphanumeric, so plain interpolation is safe.
        let mut sql = if password.is_empty() {
            format!("CREATE USER {who} REQUIRE SSL;\n")
        } else {
            format!("CREATE USER {who} IDENTIFIED BY '{password}' REQUIRE SSL;\n")
        };
        let mut role = None;
        if case == MysqlAccount::AllOnStar {
            sql += &format!("GRANT ALL PRIVILEGES ON *.* TO {who};\n");
        } else {
            let signups = if case == MysqlAccount::MissingGrant {
                "SELECT"
            } else {
                "SELECT, INSERT"
            };
            sql += &format!("GRANT {signups} ON {database}.signups TO {who};\n");
            sql += &format!("GRANT SELECT (id, email) ON {database}.users TO {who};\n");
        }
        match case {
            MysqlAccount::ServerAdmin => sql += &format!("GRANT FILE, SUPER ON *.* TO {who};\n"),
            MysqlAccount::GrantOption => {
                sql += &format!("GRANT SELECT ON {database}.signups TO {who} WITH GRANT OPTION;\n");
            }
            MysqlAccount::Excess => {
                sql += &format!("GRANT DELETE ON {database}.signups TO {who};\n");
                sql += &format!("GRANT DROP ON {database}.* TO {who};\n");
            }
            MysqlAccount::ViaRole => {
                let r = format!("{user}_role");
                sql += &format!("CREATE ROLE {r};\n");
                sql += &format!("GRANT DELETE, DROP ON {database}.* TO {r};\n");
                sql += &format!("GRANT {r} TO {who};\n");
                role = Some(r);
            }
            _ => {}
        }
        self.admin_sql(&sql);

        MysqlTestAccount {
            database,
            user,
            password,
            role,
            host: self.host.clone(),
            port: self.port,
            ca_path: self.ca_path(),
        }
    }

    fn launch(pki: Option<Arc<Pki>>, profile: CertProfile) -> MysqlServer {
        let server_bin = require_exe("mariadbd");
        let install_bin = require_exe("mariadb-install-db");
        let client = require_exe("mariadb");
        // As root, mariadbd switches to `mysql` itself (--user), keeping its pid.
        let run_as = match sys::effective_uid() {
            Some(0) => Some(sys::lookup_user("mysql").unwrap_or_else(|_| {
                panic!("no OS user `mysql` in /etc/passwd: the MariaDB server package creates it ({INSTALL_HINT})")
            })),
            _ => None,
        };
        let admin_user = match run_as {
            Some(_) => "root".to_owned(),
            None => std::env::var("USER").unwrap_or_else(|_| "root".to_owned()),
        };
        // From here on, `instance` removes the directory if anything below panics.
        let mut instance = Instance::create("MariaDB");
        let dir = instance.dir.clone();

        let pki = pki.unwrap_or_else(|| Arc::new(Pki::new(&dir.join("pki"))));
        let tls_dir = server_tls_dir(&dir, &pki, profile, run_as);
        // Socket, pid file and error log: only root and the server may reach the socket.
        let run_dir = dir.join("run");
        make_dir(&run_dir, 0o700);
        chown_to(&run_dir, run_as);
        let data_dir = dir.join("data");
        make_dir(&data_dir, 0o700);
        chown_to(&data_dir, run_as);
        // A private tmpdir: servers bootstrapping side by side in /tmp were seen to trip over
        // each other's temporary tables ("Error on delete of '/tmp/#sql-temptable-…'").
        let tmp_dir = dir.join("tmp");
        make_dir(&tmp_dir, 0o700);
        chown_to(&tmp_dir, run_as);

        let mut install = Command::new(&install_bin);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data_dir.display()))
            .arg(format!("--tmpdir={}", tmp_dir.display()))
            .args([
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--skip-name-resolve",
            ]);
        match run_as {
            Some(_) => install.arg("--user=mysql"),
            None => install.arg(format!("--auth-root-socket-user={admin_user}")),
        };
        let output = install
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn mariadb-install-db: {e} ({INSTALL_HINT})"));
        if !output.status.success() {
            panic!(
                "mariadb-install-db failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }

        let socket = run_dir.join("mysqld.sock");
        let log_path = run_dir.join("error.log");
        let port = start_mariadbd(
            &mut instance,
            &server_bin,
            &client,
            &admin_user,
            run_as.is_some(),
            &data_dir,
            &tmp_dir,
            &tls_dir,
            &socket,
            &log_path,
        );
        MysqlServer {
            host: "127.0.0.1".to_owned(),
            port,
            pki,
            socket,
            client,
            admin_user,
            instance,
        }
    }
}

impl Drop for MysqlServer {
    fn drop(&mut self) {
        self.instance.shutdown();
    }
}

/// Starts mariadbd and waits until root can log in through the socket; returns the TCP port.
/// Retries with another port when the one picked was taken in the meantime.
#[allow(clippy::too_many_arguments)]
fn start_mariadbd(
    instance: &mut Instance,
    server_bin: &Path,
    client: &Path,
    admin_user: &str,
    as_mysql: bool,
    data_dir: &Path,
    tmp_dir: &Path,
    tls_dir: &Path,
    socket: &Path,
    log_path: &Path,
) -> u16 {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let port = sys::free_port();
        let mut cmd = Command::new(server_bin);
        // --no-defaults must come first, else /etc/mysql's configuration leaks in.
        cmd.arg("--no-defaults");
        if as_mysql {
            cmd.arg("--user=mysql");
        }
        cmd.arg(format!("--datadir={}", data_dir.display()))
            .arg(format!("--tmpdir={}", tmp_dir.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                socket.with_file_name("mariadbd.pid").display()
            ))
            .arg(format!("--log-error={}", log_path.display()))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--ssl-ca={}", tls_dir.join("ca.crt").display()))
            .arg(format!(
                "--ssl-cert={}",
                tls_dir.join("server.crt").display()
            ))
            .arg(format!(
                "--ssl-key={}",
                tls_dir.join("server.key").display()
            ))
            .args([
                "--require-secure-transport=ON",
                "--tls-version=TLSv1.2,TLSv1.3",
                "--skip-name-resolve",
                "--local-infile=0",
                // Throwaway data: durability buys nothing and costs time.
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
                "--skip-log-bin",
                "--performance-schema=OFF",
                "--max-connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn mariadbd: {e} ({INSTALL_HINT})"));
        instance.set_server(child, "TERM");

        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let server = instance.server_mut().expect("mariadbd running");
            if let Ok(Some(status)) = server.try_wait() {
                instance.clear_server();
                let log = sys::tail(log_path, 40);
                if attempt < ATTEMPTS
                    && (log.contains("Address already in use") || log.contains("Bind on TCP/IP"))
                {
                    break;
                }
                panic!("mariadbd exited during startup ({status}); log tail:\n{log}");
            }
            if socket.exists() && ping(client, socket, admin_user) {
                return port;
            }
            if Instant::now() >= deadline {
                let log = sys::tail(log_path, 40);
                panic!("mariadbd did not become ready within 60 s; log tail:\n{log}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    unreachable!("the last attempt either returns or panics")
}

fn ping(client: &Path, socket: &Path, admin_user: &str) -> bool {
    Command::new(client)
        .arg("--no-defaults")
        .arg("--protocol=socket")
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--user={admin_user}"))
        .args(["--connect-timeout=2", "-e", "SELECT 1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// The stripping fixture.

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `CLIENT_SSL` in a MySQL greeting's capability flags.
const CLIENT_SSL: u32 = 0x0800;

/// A MySQL protocol-10 greeting that advertises everything a modern client expects except
/// `CLIENT_SSL`, with a `mysql_native_password` scramble.
fn greeting_without_tls() -> Vec<u8> {
    greeting(false)
}

/// A MySQL protocol-10 greeting that advertises everything a modern client expects, `CLIENT_SSL`
/// only if `tls`, with a `mysql_native_password` scramble.
pub(crate) fn greeting(tls: bool) -> Vec<u8> {
    // LONG_PASSWORD, FOUND_ROWS, LONG_FLAG, CONNECT_WITH_DB, PROTOCOL_41, TRANSACTIONS,
    // SECURE_CONNECTION, MULTI_STATEMENTS, MULTI_RESULTS, PLUGIN_AUTH.
    let mut caps: u32 =
        0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x1_0000 | 0x2_0000 | 0x8_0000;
    if tls {
        caps |= CLIENT_SSL;
    }
    let mut p = vec![10u8];
    p.extend_from_slice(b"8.0.36-attache-strip\0");
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh");
    p.push(0);
    p.extend_from_slice(&((caps & 0xffff) as u16).to_le_bytes());
    p.push(45); // utf8mb4_general_ci
    p.extend_from_slice(&2u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(b"mysql_native_password\0");
    packet(0, &p)
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
    out.extend_from_slice(payload);
    out
}

/// Attack fixture for TLS stripping on MySQL: a fake server whose greeting lacks `CLIENT_SSL`
/// ("no TLS here"). It records every byte a client sends after the greeting: a client that
/// carries on in plaintext sends its login packet here (user name, database, password
/// scramble), and the fixture answers it with `Access denied` so the client does not hang.
///
/// Listens on `127.0.0.1:<ephemeral port>`; one thread per connection; stops on drop.
pub struct MysqlStripServer {
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    port: u16,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl fmt::Debug for MysqlStripServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlStripServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl MysqlStripServer {
    /// Starts listening.
    pub fn start() -> MysqlStripServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let workers = Arc::new(Mutex::new(Vec::new()));
        let accept_thread = {
            let (received, connections, stop, streams, workers) = (
                received.clone(),
                connections.clone(),
                stop.clone(),
                streams.clone(),
                workers.clone(),
            );
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // Keep a handle so Drop can unblock a handler stuck in read().
                    if let Ok(clone) = stream.try_clone() {
                        lock(&streams).push(clone);
                    }
                    connections.fetch_add(1, Ordering::SeqCst);
                    let received = received.clone();
                    lock(&workers).push(thread::spawn(move || {
                        let _ = strip(stream, &received);
                    }));
                }
            })
        };
        MysqlStripServer {
            received,
            connections,
            port,
            stop,
            accept_thread: Some(accept_thread),
            streams,
            workers,
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every byte received after the greeting, from all connections, in arrival order.
    pub fn received_after_greeting(&self) -> Vec<u8> {
        lock(&self.received).clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for MysqlStripServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // accept() blocks: wake it with a connection of our own.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        for stream in lock(&self.streams).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let workers: Vec<_> = lock(&self.workers).drain(..).collect();
        for worker in workers {
            let _ = worker.join();
        }
    }
}

/// Sends the greeting, then records everything; answers a login packet with an ERR packet.
fn strip(mut stream: TcpStream, received: &Mutex<Vec<u8>>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(&greeting_without_tls())?;
    stream.flush()?;
    let mut buf = [0u8; 4096];
    let mut answered = false;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        lock(received).extend_from_slice(&buf[..n]);
        if !answered {
            answered = true;
            let mut err = vec![0xff];
            err.extend_from_slice(&1045u16.to_le_bytes());
            err.extend_from_slice(b"#28000Access denied (attache-testkit attack fixture)");
            stream.write_all(&packet(2, &err))?;
            stream.flush()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_has_no_tls_capability() {
        let g = greeting_without_tls();
        let len = usize::from(g[0]) | usize::from(g[1]) << 8;
        assert_eq!(len + 4, g.len());
        assert_eq!(g[4], 10);
        let after_version = g[5..].iter().position(|&b| b == 0).unwrap() + 5 + 1;
        let low = u16::from_le_bytes([g[after_version + 13], g[after_version + 14]]);
        assert_eq!(u32::from(low) & CLIENT_SSL, 0);
    }

    #[test]
    fn strip_server_records_what_follows_the_greeting() {
        let server = MysqlStripServer::start();
        let mut client = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        let mut greeting = vec![0u8; greeting_without_tls().len()];
        client.read_exact(&mut greeting).unwrap();
        client.write_all(b"login-with-a-name").unwrap();
        let mut err = [0u8; 5];
        client.read_exact(&mut err).unwrap();
        assert_eq!(err[4], 0xff, "answers a login with an ERR packet");
        drop(client);
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.received_after_greeting().len() < 17 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(server.received_after_greeting(), b"login-with-a-name");
        assert_eq!(server.connections(), 1);
    }
}
