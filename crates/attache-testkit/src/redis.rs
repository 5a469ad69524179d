//! A real, throwaway Redis server: TLS only on 127.0.0.1 (`port 0`), ACL users for each case.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;

use crate::instance::{Instance, next_id};
use crate::pki::{CertProfile, Pki, write_file};
use crate::sys;

/// The admin ACL user every server has (`+@all ~* &*`), with a random password only the kit
/// knows.
const ADMIN_USER: &str = "admin";

/// What the least-privileged account ([`RedisAccount::LeastPrivileged`]) needs, and holds,
/// exactly: `-@all +get +set +expire +publish ~session:* &events`.
pub const REDIS_NEEDS: &[&str] = &["+get +set +expire ~session:*", "+publish &events"];

/// The rules of [`RedisAccount::LeastPrivileged`], after `reset on >password resetchannels
/// resetkeys`.
const LEAST: &str = "-@all +get +set +expire +publish ~session:* &events";

/// How [`RedisServer::account`] shapes a new ACL user. Every account lives on the same server;
/// tests isolate their data with key names of their own under `session:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisAccount {
    /// Exactly [`REDIS_NEEDS`]. It may not run `ACL WHOAMI` or `ACL GETUSER`, so it cannot read
    /// its own rules (the usual case for a least-privileged account).
    LeastPrivileged,
    /// The least-privileged rules plus `+acl|whoami +acl|getuser`: it can read its own rules
    /// (and, Redis cannot narrow it, everyone else's).
    CanReadOwnAcl,
    /// `+@all ~* &*`: an administrator.
    AllPowerful,
    /// The least-privileged rules plus `+flushall +config` (dangerous, beyond the needs).
    Dangerous,
    /// The least-privileged rules without `+expire`.
    MissingGrant,
    /// The least-privileged rules with `~*` instead of `~session:*`.
    WideKeys,
}

impl RedisAccount {
    fn slug(self) -> &'static str {
        match self {
            RedisAccount::LeastPrivileged => "least_privileged",
            RedisAccount::CanReadOwnAcl => "can_read_own_acl",
            RedisAccount::AllPowerful => "all_powerful",
            RedisAccount::Dangerous => "dangerous",
            RedisAccount::MissingGrant => "missing_grant",
            RedisAccount::WideKeys => "wide_keys",
        }
    }

    /// The ACL words after `reset on >password resetchannels resetkeys`.
    fn rules(self) -> String {
        match self {
            RedisAccount::LeastPrivileged => LEAST.to_owned(),
            RedisAccount::CanReadOwnAcl => format!("{LEAST} +acl|whoami +acl|getuser"),
            RedisAccount::AllPowerful => "+@all ~* &*".to_owned(),
            RedisAccount::Dangerous => format!("{LEAST} +flushall +config"),
            RedisAccount::MissingGrant => LEAST.replace(" +expire", ""),
            RedisAccount::WideKeys => LEAST.replace("~session:*", "~*"),
        }
    }
}

/// How [`RedisServer::start_with`] configures the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisOptions {
    /// `user default on nopass ~* &* +@all` instead of `user default off`: anyone gets in
    /// without a password (for testing `cred-empty`; never what a real server should do).
    pub default_user_nopass: bool,
    /// `tls-auth-clients yes`: the server demands a client certificate signed by its CA.
    pub require_client_cert: bool,
    /// `tls-protocols` from TLS 1.1, with OpenSSL's security level lowered for it
    /// (`tls-ciphers DEFAULT:@SECLEVEL=0`): a server accepting a deprecated version.
    pub accept_tls_1_1: bool,
}

/// An ACL user made by [`RedisServer::account`], with what a client needs to connect as it.
#[derive(Clone)]
pub struct RedisTestAccount {
    /// The user name, `u_<case>_<n>`.
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

impl fmt::Debug for RedisTestAccount {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTestAccount")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ca_path", &self.ca_path)
            .finish()
    }
}

impl RedisTestAccount {
    /// `rediss://user:password@127.0.0.1:port/0?ssl_ca_certs=<ca path>`, percent-encoded.
    pub fn url(&self) -> String {
        self.url_with(Some(&self.password))
    }

    /// [`RedisTestAccount::url`] without the password (for use with a password file).
    pub fn url_without_password(&self) -> String {
        self.url_with(None)
    }

    fn url_with(&self, password: Option<&str>) -> String {
        let user = utf8_percent_encode(&self.user, sys::URL_COMPONENT);
        let password = password
            .map(|p| format!(":{}", utf8_percent_encode(p, sys::URL_COMPONENT)))
            .unwrap_or_default();
        format!(
            "rediss://{user}{password}@{host}:{port}/0?ssl_ca_certs={ca}",
            host = self.host,
            port = self.port,
            ca = utf8_percent_encode(&self.ca_path.to_string_lossy(), sys::URL_PATH_VALUE),
        )
    }

    /// Writes the password (no trailing newline) into `dir/<user>.password` with mode 0600 and
    /// returns the path.
    pub fn write_password_file(&self, dir: &Path) -> PathBuf {
        crate::pki::password_file(dir, &self.user, &self.password)
    }
}

/// A real Redis server (Debian's `redis-server`, built with TLS) for tests: TLS only on
/// `127.0.0.1:<ephemeral port>` (`port 0`, TLS 1.2 and 1.3), `user default off` unless
/// [`RedisOptions::default_user_nopass`], an `admin` user (`+@all ~* &*`) with a random
/// password, no persistence.
///
/// Runs in a directory `/tmp/attache-tk/<pid>-<n>` holding its configuration (mode 0600: the
/// admin password is in it) and log. Dropping it stops the server and removes the directory; a
/// guardian process does the same if this process dies first (always the case for
/// [`RedisServer::shared`]). Set `ATTACHE_TESTKIT_KEEP=1` to keep the directories.
pub struct RedisServer {
    host: String,
    port: u16,
    pki: Arc<Pki>,
    options: RedisOptions,
    cli: Cli,
    instance: Instance,
}

/// How to run `redis-cli` as the admin user against one server.
struct Cli {
    host: String,
    port: u16,
    ca: PathBuf,
    admin_password: String,
    /// Client certificate and key, for a server that demands one.
    identity: Option<(PathBuf, PathBuf)>,
    /// Skip verification (`--insecure`): only for the kit's own admin connection to a server
    /// that presents a deliberately bad certificate.
    insecure: bool,
}

impl Cli {
    fn command(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "--cacert"])
            .arg(&self.ca)
            .args(["-h", &self.host, "-p", &self.port.to_string()])
            .args(["--user", ADMIN_USER])
            // The password goes through the environment, not the command line.
            .env("REDISCLI_AUTH", &self.admin_password)
            .env("REDISCLI_HISTFILE", "/dev/null");
        if let Some((cert, key)) = &self.identity {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        if self.insecure {
            cmd.arg("--insecure");
        }
        cmd
    }

    /// Feeds `script` to redis-cli's stdin.
    fn pipe(&self, script: &str) -> Output {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-cli: {e}"));
        let mut stdin = child.stdin.take().expect("redis-cli stdin");
        let script = format!("{script}\n");
        let writer = thread::spawn(move || {
            let _ = stdin.write_all(script.as_bytes());
        });
        let output = child.wait_with_output().expect("wait for redis-cli");
        let _ = writer.join();
        output
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("options", &self.options)
            .field("dir", &self.instance.dir)
            .finish_non_exhaustive()
    }
}

impl RedisServer {
    /// One server per test process, started on first call (thread-safe). It uses its own
    /// [`Pki`] (in its instance directory), presents a [`CertProfile::Valid`] certificate and
    /// has the default [`RedisOptions`].
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED
            .get_or_init(|| RedisServer::launch(None, CertProfile::Valid, RedisOptions::default()))
    }

    /// Starts a separate server presenting a certificate shaped by `cert`, signed by `pki`'s CA.
    /// Stopped when dropped.
    pub fn start(pki: Arc<Pki>, cert: CertProfile) -> RedisServer {
        RedisServer::launch(Some(pki), cert, RedisOptions::default())
    }

    /// [`RedisServer::start`] with `options`.
    pub fn start_with(pki: Arc<Pki>, cert: CertProfile, options: RedisOptions) -> RedisServer {
        RedisServer::launch(Some(pki), cert, options)
    }

    /// The host to connect to: `127.0.0.1`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TLS port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PKI whose CA signed the server's certificate (and the client certificate it accepts).
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Path of the CA certificate that signed the server's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.pki.ca_path()
    }

    /// Runs one command as the admin user over TLS (`redis-cli -e … <args>`, each argument as
    /// given, no quoting needed) and returns its output. Panics on an error reply.
    pub fn admin(&self, args: &[&str]) -> String {
        let output = self
            .cli
            .command()
            .arg("-e")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn redis-cli: {e}"));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || error_line(&text).is_some() {
            panic!(
                "admin command {:?} failed ({}): {}{}",
                args.first().unwrap_or(&""),
                output.status,
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        text
    }

    /// Runs commands written as `redis-cli` reads them from stdin (one per line, `"…"` quoting),
    /// as the admin user over TLS, and returns the output. Panics if any reply is an error.
    pub fn admin_script(&self, script: &str) -> String {
        self.try_admin_script(script)
            .unwrap_or_else(|line| panic!("admin script failed: {line}"))
    }

    /// [`RedisServer::admin_script`], returning the first error reply instead of panicking.
    pub fn try_admin_script(&self, script: &str) -> Result<String, String> {
        let output = self.cli.pipe(script);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        match error_line(&text) {
            Some(line) => Err(line.to_owned()),
            None => Ok(text),
        }
    }

    /// Creates an ACL user `u_<case>_<n>` with a random `planted-…` password, shaped as `case`
    /// says (`ACL SETUSER <user> reset on >password resetchannels resetkeys <rules>`).
    pub fn account(&self, case: RedisAccount) -> RedisTestAccount {
        let user = format!("u_{}_{}", case.slug(), next_id());
        let password = format!("planted-{}", sys::random_alphanumeric(32));
        let mut args = vec![
            "ACL".to_owned(),
            "SETUSER".to_owned(),
            user.clone(),
            "reset".to_owned(),
            "on".to_owned(),
            format!(">{password}"),
            "resetchannels".to_owned(),
            "resetkeys".to_owned(),
        ];
        args.extend(case.rules().split_whitespace().map(str::to_owned));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.admin(&args);
        RedisTestAccount {
            user,
            password,
            host: self.host.clone(),
            port: self.port,
            ca_path: self.ca_path(),
        }
    }

    fn launch(pki: Option<Arc<Pki>>, profile: CertProfile, options: RedisOptions) -> RedisServer {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !found.is_ok_and(|s| s.success())
            || Command::new("redis-cli").arg("--version").output().is_err()
        {
            panic!(
                "redis-server or redis-cli not found: apt-get install redis-server redis-tools \
                 (scripts/setup does it)"
            );
        }
        // From here on, `instance` removes the directory if anything below panics.
        let mut instance = Instance::create("Redis");
        let dir = instance.dir.clone();
        let pki = pki.unwrap_or_else(|| Arc::new(Pki::new(&dir.join("pki"))));
        let (cert_path, key_path) = pki.server_cert_for(profile);
        let admin_password = sys::random_alphanumeric(32);
        let default_user = if options.default_user_nopass {
            "user default on nopass ~* &* +@all"
        } else {
            "user default off"
        };
        let log_path = dir.join("server.log");
        let conf_path = dir.join("redis.conf");

        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let port = sys::free_port();
            let conf = format!(
                "port 0\n\
                 tls-port {port}\n\
                 bind 127.0.0.1\n\
                 tls-cert-file {cert}\n\
                 tls-key-file {key}\n\
                 tls-ca-cert-file {ca}\n\
                 tls-auth-clients {auth}\n\
                 tls-protocols \"{protocols}\"\n\
                 {ciphers}\
                 save \"\"\n\
                 appendonly no\n\
                 daemonize no\n\
                 dir {dir}\n\
                 pidfile {dir}/redis.pid\n\
                 logfile \"\"\n\
                 {default_user}\n\
                 user {ADMIN_USER} on >{admin_password} ~* &* +@all\n",
                cert = cert_path.display(),
                key = key_path.display(),
                ca = pki.ca_path().display(),
                protocols = if options.accept_tls_1_1 {
                    "TLSv1.1 TLSv1.2 TLSv1.3"
                } else {
                    "TLSv1.2 TLSv1.3"
                },
                ciphers = if options.accept_tls_1_1 {
                    "tls-ciphers DEFAULT:@SECLEVEL=0\n"
                } else {
                    ""
                },
                auth = if options.require_client_cert {
                    "yes"
                } else {
                    "no"
                },
                dir = dir.display(),
            );
            write_file(&conf_path, conf.as_bytes(), 0o600);
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("clone log file handle");
            let child = Command::new("redis-server")
                .arg(&conf_path)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn redis-server: {e}"));
            instance.set_server(child, "TERM");
            let cli = Cli {
                host: "127.0.0.1".to_owned(),
                port,
                ca: pki.ca_path(),
                admin_password: admin_password.clone(),
                identity: options
                    .require_client_cert
                    .then(|| (pki.client_cert_path(), pki.client_key_path())),
                insecure: profile != CertProfile::Valid,
            };
            match wait_ready(&mut instance, &cli) {
                Ready::Yes => {
                    return RedisServer {
                        host: cli.host.clone(),
                        port,
                        pki,
                        options,
                        cli,
                        instance,
                    };
                }
                Ready::Exited(status) => {
                    instance.clear_server();
                    let log = sys::tail(&log_path, 40);
                    if attempt < ATTEMPTS && log.contains("Address already in use") {
                        continue;
                    }
                    panic!("redis-server exited during startup ({status}); log tail:\n{log}");
                }
                Ready::TimedOut => {
                    let log = sys::tail(&log_path, 40);
                    panic!("redis-server did not answer PING within 10 s; log tail:\n{log}");
                }
            }
        }
        unreachable!("the last attempt either returns or panics")
    }
}

enum Ready {
    Yes,
    Exited(std::process::ExitStatus),
    TimedOut,
}

/// Waits until a TLS `PING` as admin answers `PONG` (up to 10 s), or the server exits.
fn wait_ready(instance: &mut Instance, cli: &Cli) -> Ready {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let server = instance.server_mut().expect("redis-server running");
        if let Ok(Some(status)) = server.try_wait() {
            return Ready::Exited(status);
        }
        let out = cli.pipe("PING");
        if String::from_utf8_lossy(&out.stdout).trim() == "PONG" {
            return Ready::Yes;
        }
        if Instant::now() >= deadline {
            return Ready::TimedOut;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.instance.shutdown();
    }
}

/// The first line of redis-cli output that is an error reply (`ERR …`, `NOPERM …`, …).
fn error_line(text: &str) -> Option<&str> {
    const CODES: &[&str] = &[
        "ERR",
        "NOPERM",
        "WRONGPASS",
        "NOAUTH",
        "WRONGTYPE",
        "EXECABORT",
        "LOADING",
        "BUSY",
        "NOSCRIPT",
        "READONLY",
        "MOVED",
        "ASK",
        "CROSSSLOT",
        "AUTH",
    ];
    text.lines().find(|line| {
        line.split_once(' ')
            .is_some_and(|(code, _)| CODES.contains(&code))
    })
}
