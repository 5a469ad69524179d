//! A real, throwaway PostgreSQL server: TLS-only on 127.0.0.1, admin over a private unix socket.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;

use crate::instance::{Instance, chown_to, make_dir, next_id, server_tls_dir};
use crate::pki::{CertProfile, Pki, write_file};
use crate::sys;

/// The superuser `initdb` creates; reachable only through the instance's unix socket.
const ADMIN_USER: &str = "attache_admin";
/// The database holding the fixture schema that [`PgServer::fresh_database`] copies.
const TEMPLATE_DB: &str = "app_template";
/// Overrides where the PostgreSQL binaries are (default: newest `/usr/lib/postgresql/<ver>/bin`).
const BIN_ENV: &str = "ATTACHE_TESTKIT_PG_BIN";

const PG_HBA: &str = "\
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
hostnossl all all all reject
";

const FIXTURE_SQL: &str = "\
CREATE TABLE public.signups (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE public.users (id bigserial PRIMARY KEY, email text NOT NULL, password_hash text);
INSERT INTO public.users (email, password_hash) VALUES ('a@example.com', 'x');
";

/// What the least-privileged account ([`Account::LeastPrivileged`]) needs, and is granted, exactly,
/// in the fixture schema.
///
/// The fixture schema (owned by the admin) in every database from [`PgServer::fresh_database`]:
///
/// ```sql
/// CREATE TABLE public.signups (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
/// CREATE TABLE public.users (id bigserial PRIMARY KEY, email text NOT NULL, password_hash text);
/// INSERT INTO public.users (email, password_hash) VALUES ('a@example.com','x');
/// ```
pub const NEEDS: &[&str] = &[
    "SELECT, INSERT ON TABLE public.signups",
    "SELECT (id, email) ON TABLE public.users",
    "USAGE ON SEQUENCE public.signups_id_seq",
];

/// How [`PgServer::account`] shapes the new login role. Every case gets its own fresh database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// `GRANT CONNECT ON DATABASE <db>`; `GRANT SELECT, INSERT ON public.signups`;
    /// `GRANT SELECT (id, email) ON public.users`; `GRANT USAGE ON SEQUENCE public.signups_id_seq`.
    /// (USAGE on schema public comes from PUBLIC's default.) Exactly [`NEEDS`].
    LeastPrivileged,
    /// `CREATE ROLE .. LOGIN SUPERUSER`, no grants (a superuser needs none).
    Superuser,
    /// The least-privileged grants, `NOSUPERUSER NOINHERIT`, plus membership in a NOLOGIN
    /// SUPERUSER role `r_super_<n>` (it can `SET ROLE` to it).
    MemberOfSuperuserRole,
    /// The least-privileged grants plus `GRANT pg_write_all_data`.
    WritesAllData,
    /// The least-privileged grants minus INSERT on public.signups.
    MissingGrant,
    /// The least-privileged grants plus `ALTER TABLE public.signups OWNER TO` the account.
    TableOwner,
}

impl Account {
    fn slug(self) -> &'static str {
        match self {
            Account::LeastPrivileged => "least_privileged",
            Account::Superuser => "superuser",
            Account::MemberOfSuperuserRole => "member_of_superuser_role",
            Account::WritesAllData => "writes_all_data",
            Account::MissingGrant => "missing_grant",
            Account::TableOwner => "table_owner",
        }
    }
}

/// A login role made by [`PgServer::account`], with what a client needs to connect as it.
#[derive(Clone)]
pub struct TestAccount {
    /// The account's own database (from [`PgServer::fresh_database`]).
    pub database: String,
    /// The role name, `u_<case>_<n>`.
    pub user: String,
    /// A random password of 40 characters starting with `planted-`, so tests can grep every
    /// output for a leak.
    pub password: String,
    /// The server's host, `127.0.0.1`.
    pub host: String,
    /// The server's TLS port.
    pub port: u16,
    /// The CA certificate that signed the server's certificate.
    pub ca_path: PathBuf,
}

impl fmt::Debug for TestAccount {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestAccount")
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ca_path", &self.ca_path)
            .finish()
    }
}

impl TestAccount {
    /// `postgres://user:password@127.0.0.1:port/database?sslmode=verify-full&sslrootcert=<ca path>`,
    /// percent-encoded.
    pub fn url(&self) -> String {
        self.url_with(Some(&self.password))
    }

    /// [`TestAccount::url`] without the password (for use with a password file).
    pub fn url_without_password(&self) -> String {
        self.url_with(None)
    }

    fn url_with(&self, password: Option<&str>) -> String {
        let user = utf8_percent_encode(&self.user, sys::URL_COMPONENT);
        let password = password
            .map(|p| format!(":{}", utf8_percent_encode(p, sys::URL_COMPONENT)))
            .unwrap_or_default();
        format!(
            "postgres://{user}{password}@{host}:{port}/{db}?sslmode=verify-full&sslrootcert={ca}",
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

/// A real PostgreSQL server (Debian package) for tests: TLS only on `127.0.0.1:<ephemeral port>`
/// (pg_hba: `local all all trust`, `hostssl all all 127.0.0.1/32 scram-sha-256`,
/// `hostnossl all all all reject`; TLS 1.2+), and a unix socket in its own directory (mode 0700)
/// for the admin superuser.
///
/// Runs as the `postgres` OS user when this process is root (PostgreSQL refuses root), in a
/// directory `/tmp/attache-tk/<pid>-<n>`. Dropping it stops the server and removes the directory.
/// A guardian shell process does the same if this process dies without dropping it (always the
/// case for [`PgServer::shared`]: statics are never dropped), and every start first reaps
/// instances whose owning process is gone. Set `ATTACHE_TESTKIT_KEEP=1` to keep the directories.
pub struct PgServer {
    host: String,
    port: u16,
    pki: Arc<Pki>,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    /// CREATE DATABASE .. TEMPLATE fails while another copy of the same template is in progress.
    create_db: Mutex<()>,
    instance: Instance,
}

/// A server stopped by [`PgServer::freeze`]; it runs again when this is dropped.
#[derive(Debug)]
pub struct Frozen {
    pids: Vec<u32>,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for pid in &self.pids {
            sys::send_signal(*pid, "CONT");
        }
    }
}

impl fmt::Debug for PgServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dir", &self.instance.dir)
            .finish_non_exhaustive()
    }
}

impl PgServer {
    /// One server per test process, started on first call (thread-safe). It uses its own
    /// [`Pki`] (in its instance directory) and presents a [`CertProfile::Valid`] certificate.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(|| PgServer::launch(None, CertProfile::Valid))
    }

    /// Starts a separate server presenting a certificate shaped by `cert`, signed by `pki`'s CA
    /// (any further certificate is issued into `pki`'s directory). Stopped when dropped.
    pub fn start(pki: Arc<Pki>, cert: CertProfile) -> PgServer {
        PgServer::launch(Some(pki), cert)
    }

    /// The host to connect to: `127.0.0.1`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TLS port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PKI whose CA signed the server's certificate.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Path of the CA certificate that signed the server's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.pki.ca_path()
    }

    /// Lets `user` log in over TLS with no password at all: a `trust` line ahead of the others
    /// in pg_hba.conf, then a configuration reload. For testing that attache reports it
    /// (`cred-empty`); never what a real server should do.
    pub fn trust_without_password(&self, user: &str) {
        self.prepend_hba(user, "trust", "auth_method = 'trust'");
    }

    /// Makes `user` present a client certificate signed by the server's CA as well as its
    /// password: a `clientcert=verify-ca` line ahead of the others in pg_hba.conf.
    pub fn require_client_cert(&self, user: &str) {
        self.prepend_hba(
            user,
            "scram-sha-256 clientcert=verify-ca",
            "'clientcert=verify-ca' = ANY(options)",
        );
    }

    /// Puts `hostssl all <user> 127.0.0.1/32 <method>` first in pg_hba.conf, reloads, and waits
    /// until `pg_hba_file_rules` shows it (`seen`: the SQL condition that matches the rule).
    fn prepend_hba(&self, user: &str, method: &str, seen: &str) {
        let _guard = self
            .create_db
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let hba = self.instance.dir.join("data").join("pg_hba.conf");
        let current = fs::read_to_string(&hba).expect("read pg_hba.conf");
        let line = format!("hostssl all {user} 127.0.0.1/32 {method}\n");
        // fs::write truncates in place: owner and mode stay the server's.
        fs::write(&hba, format!("{line}{current}")).expect("write pg_hba.conf");
        self.admin_sql("postgres", "SELECT pg_reload_conf()");
        // The postmaster reloads on SIGHUP, asynchronously: wait until a new backend sees it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let rules = self.admin_sql(
                "postgres",
                &format!("SELECT count(*) FROM pg_hba_file_rules WHERE '{user}' = ANY(user_name) AND {seen}"),
            );
            if rules.trim() == "1" {
                thread::sleep(Duration::from_millis(200));
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("pg_hba.conf reload did not show the line for {user}");
    }

    /// Runs `sql` as the admin superuser over the unix socket with
    /// `psql -X -q -v ON_ERROR_STOP=1 -At` (SQL on stdin, so several statements each run in their
    /// own transaction and `CREATE DATABASE` works). Returns stdout: plain rows, `|` between
    /// columns. Panics with psql's stderr on failure.
    pub fn admin_sql(&self, database: &str, sql: &str) -> String {
        let mut cmd = Command::new(self.bin_dir.join("psql"));
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-"])
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", ADMIN_USER, "-d", database]);
        // PG* variables from the caller's environment (PGSSLMODE, PGOPTIONS, ...) must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn psql: {e}"));
        let mut stdin = child.stdin.take().expect("psql stdin");
        // Feed stdin from a thread: a large result could otherwise fill the stdout pipe while
        // we are still writing, and both sides would block.
        let sql_owned = sql.to_owned();
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(sql_owned.as_bytes());
        });
        let output = child.wait_with_output().expect("wait for psql");
        let _ = writer.join();
        if !output.status.success() {
            panic!(
                "admin_sql on database {database:?} failed ({}):\n{}\nSQL was:\n{sql}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Stops every process of the server (the postmaster and each backend) with SIGSTOP, as a
    /// hung disk or a stalled VM looks: connections stay open, the kernel still acknowledges,
    /// nothing answers. The server runs again (SIGCONT) when the guard is dropped.
    pub fn freeze(&self) -> Frozen {
        let postmaster = self.instance.server_pid().expect("postgres running");
        let mut pids = vec![postmaster];
        if let Ok(out) = Command::new("pgrep")
            .arg("-P")
            .arg(postmaster.to_string())
            .output()
        {
            pids.extend(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
        for pid in &pids {
            sys::send_signal(*pid, "STOP");
        }
        Frozen { pids }
    }

    /// Creates a new database `t_<n>` from the template holding the fixture schema (see
    /// [`NEEDS`]) and revokes PUBLIC's default privileges on it (`REVOKE ALL ON DATABASE ..
    /// FROM PUBLIC`). Returns its name.
    pub fn fresh_database(&self) -> String {
        let name = format!("t_{}", next_id());
        {
            let _serial = self
                .create_db
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.admin_sql(
                "postgres",
                &format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB};"),
            );
        }
        self.admin_sql(
            "postgres",
            &format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC;"),
        );
        name
    }

    /// Creates a LOGIN role `u_<case>_<n>` with a random `planted-…` password in a fresh
    /// database, shaped as `case` says.
    pub fn account(&self, case: Account) -> TestAccount {
        let database = self.fresh_database();
        let n = next_id();
        let user = format!("u_{}_{n}", case.slug());
        let password = format!("planted-{}", sys::random_alphanumeric(32));

        // Names and password are [a-z0-9_-] / alphanumeric, so plain interpolation is safe.
        let mut sql = String::new();
        match case {
            Account::Superuser => {
                sql += &format!("CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{password}';\n");
            }
            Account::MemberOfSuperuserRole => {
                let group = format!("r_super_{n}");
                sql += &format!("CREATE ROLE {group} NOLOGIN SUPERUSER;\n");
                sql += &format!(
                    "CREATE ROLE {user} LOGIN NOSUPERUSER NOINHERIT PASSWORD '{password}';\n"
                );
                sql += &format!("GRANT {group} TO {user};\n");
            }
            _ => {
                sql += &format!("CREATE ROLE {user} LOGIN NOSUPERUSER PASSWORD '{password}';\n");
            }
        }
        if case != Account::Superuser {
            let signups = if case == Account::MissingGrant {
                "SELECT"
            } else {
                "SELECT, INSERT"
            };
            sql += &format!("GRANT CONNECT ON DATABASE {database} TO {user};\n");
            sql += &format!("GRANT {signups} ON TABLE public.signups TO {user};\n");
            sql += &format!("GRANT SELECT (id, email) ON TABLE public.users TO {user};\n");
            sql += &format!("GRANT USAGE ON SEQUENCE public.signups_id_seq TO {user};\n");
        }
        match case {
            Account::WritesAllData => sql += &format!("GRANT pg_write_all_data TO {user};\n"),
            Account::TableOwner => {
                sql += &format!("ALTER TABLE public.signups OWNER TO {user};\n");
            }
            _ => {}
        }
        self.admin_sql(&database, &sql);

        TestAccount {
            database,
            user,
            password,
            host: self.host.clone(),
            port: self.port,
            ca_path: self.ca_path(),
        }
    }

    fn launch(pki: Option<Arc<Pki>>, profile: CertProfile) -> PgServer {
        let bin_dir = find_bin_dir();
        // PostgreSQL refuses to run as root: then run it as `postgres`, keeping its real pid
        // (su/runuser would fork, and we would be holding the wrong pid).
        let run_as = match sys::effective_uid() {
            Some(0) => Some(sys::lookup_user("postgres").unwrap_or_else(|e| panic!("{e}"))),
            _ => None,
        };
        // From here on, `instance` removes the directory if anything below panics.
        let mut instance = Instance::create("PostgreSQL");
        let dir = instance.dir.clone();

        let pki = pki.unwrap_or_else(|| Arc::new(Pki::new(&dir.join("pki"))));
        let tls_dir = server_tls_dir(&dir, &pki, profile, run_as);

        // The unix socket directory: only postgres (and root) may connect through it, because
        // pg_hba trusts every local connection.
        let socket_dir = dir.join("sock");
        make_dir(&socket_dir, 0o700);
        chown_to(&socket_dir, run_as);
        // initdb cannot create the data dir itself in our root-owned directory.
        let data_dir = dir.join("data");
        make_dir(&data_dir, 0o700);
        chown_to(&data_dir, run_as);

        let pwfile = dir.join("admin.pw");
        write_file(&pwfile, sys::random_alphanumeric(32).as_bytes(), 0o600);
        chown_to(&pwfile, run_as);
        let mut initdb = Command::new(bin_dir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data_dir)
            .args(["-U", ADMIN_USER])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]);
        let output = as_postgres(&mut initdb, run_as, &dir)
            .output()
            .unwrap_or_else(|e| panic!("spawn initdb: {e}"));
        let _ = fs::remove_file(&pwfile);
        if !output.status.success() {
            panic!(
                "initdb failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let hba = data_dir.join("pg_hba.conf");
        write_file(&hba, PG_HBA.as_bytes(), 0o600);
        chown_to(&hba, run_as);

        let log_path = dir.join("server.log");
        let port = start_postmaster(
            &mut instance,
            &bin_dir,
            run_as,
            &data_dir,
            &tls_dir,
            &socket_dir,
            &log_path,
        );

        let server = PgServer {
            host: "127.0.0.1".to_owned(),
            port,
            pki,
            socket_dir,
            bin_dir,
            create_db: Mutex::new(()),
            instance,
        };
        // Only databases made by fresh_database should be reachable by test accounts; and
        // nobody but the admin may connect to the template (CREATE DATABASE .. TEMPLATE fails
        // while anyone is connected to it).
        server.admin_sql(
            "postgres",
            &format!(
                "REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;\n\
                 REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;\n\
                 CREATE DATABASE {TEMPLATE_DB};\n\
                 REVOKE ALL ON DATABASE {TEMPLATE_DB} FROM PUBLIC;\n"
            ),
        );
        server.admin_sql(TEMPLATE_DB, FIXTURE_SQL);
        server
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.instance.shutdown();
    }
}

/// Starts the postmaster and waits until it accepts connections; returns its port. Retries
/// with another port when the one picked was taken in the meantime.
fn start_postmaster(
    instance: &mut Instance,
    bin_dir: &Path,
    run_as: Option<(u32, u32)>,
    data_dir: &Path,
    tls_dir: &Path,
    socket_dir: &Path,
    log_path: &Path,
) -> u16 {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let port = sys::free_port();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
        let log_err = log.try_clone().expect("clone log file handle");
        let settings = [
            "listen_addresses=127.0.0.1".to_owned(),
            format!("port={port}"),
            format!("unix_socket_directories={}", socket_dir.display()),
            "unix_socket_permissions=0700".to_owned(),
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", tls_dir.join("server.crt").display()),
            format!("ssl_key_file={}", tls_dir.join("server.key").display()),
            format!("ssl_ca_file={}", tls_dir.join("ca.crt").display()),
            "ssl_min_protocol_version=TLSv1.2".to_owned(),
            "password_encryption=scram-sha-256".to_owned(),
            "logging_collector=off".to_owned(),
            "log_destination=stderr".to_owned(),
            // Throwaway data: durability buys nothing and costs time.
            "fsync=off".to_owned(),
            "synchronous_commit=off".to_owned(),
            "full_page_writes=off".to_owned(),
            "shared_buffers=16MB".to_owned(),
            "max_connections=100".to_owned(),
            "autovacuum=off".to_owned(),
            "jit=off".to_owned(),
        ];
        let mut cmd = Command::new(bin_dir.join("postgres"));
        cmd.arg("-D").arg(data_dir);
        for setting in &settings {
            cmd.arg("-c").arg(setting);
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let child = as_postgres(&mut cmd, run_as, instance.dir.as_path())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn postgres: {e}"));
        instance.set_server(child, "INT");

        match wait_ready(instance, bin_dir, socket_dir, port) {
            Ready::Yes => return port,
            Ready::Exited(status) => {
                instance.clear_server();
                let log = sys::tail(log_path, 40);
                if attempt < ATTEMPTS && log.contains("could not bind") {
                    continue;
                }
                panic!("postgres exited during startup ({status}); log tail:\n{log}");
            }
            Ready::TimedOut => {
                let log = sys::tail(log_path, 40);
                panic!("postgres did not become ready within 30 s; log tail:\n{log}");
            }
        }
    }
    unreachable!("the last attempt either returns or panics")
}

enum Ready {
    Yes,
    Exited(std::process::ExitStatus),
    TimedOut,
}

fn wait_ready(instance: &mut Instance, bin_dir: &Path, socket_dir: &Path, port: u16) -> Ready {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let postmaster = instance.server_mut().expect("postmaster running");
        if let Ok(Some(status)) = postmaster.try_wait() {
            return Ready::Exited(status);
        }
        let ready = Command::new(bin_dir.join("pg_isready"))
            .arg("-q")
            .arg("-h")
            .arg(socket_dir)
            .arg("-p")
            .arg(port.to_string())
            .args(["-U", ADMIN_USER, "-d", "postgres", "-t", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ready {
            return Ready::Yes;
        }
        if Instant::now() >= deadline {
            return Ready::TimedOut;
        }
        thread::sleep(Duration::from_millis(30));
    }
}

/// Makes `cmd` run as the given (uid, gid) in `cwd` (postgres cannot read our working directory).
fn as_postgres<'a>(
    cmd: &'a mut Command,
    run_as: Option<(u32, u32)>,
    cwd: &Path,
) -> &'a mut Command {
    if let Some((uid, gid)) = run_as {
        // With uid/gid set by root, std also drops supplementary groups before exec.
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(cwd).env("LC_ALL", "C")
}

/// `ATTACHE_TESTKIT_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin` with a `postgres`.
fn find_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let newest = fs::read_dir(root).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("postgres").is_file().then_some((version, bin))
            })
            .max_by_key(|(version, _)| *version)
    });
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server found under /usr/lib/postgresql/<version>/bin \
             (apt-get install postgresql, or set {BIN_ENV})"
        ),
    }
}
