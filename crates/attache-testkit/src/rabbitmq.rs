//! A real, throwaway RabbitMQ broker: AMQPS only on 127.0.0.1 (no plain listener), the
//! management API over HTTPS only, its own epmd and distribution port, and accounts made with
//! `rabbitmqctl`, each in a vhost of its own.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;

use crate::instance::{Instance, next_id};
use crate::pki::{CertProfile, Pki, write_file};
use crate::sys;

/// What the least-privileged account ([`RabbitAccount::LeastPrivileged`]) needs, and holds
/// exactly, in its vhost: an app that declares the exchange `orders` and the queue
/// `orders.work`, binds them, publishes to the exchange and takes from the queue.
pub const AMQP_NEEDS: &[&str] = &[
    "configure exchange orders",
    "configure queue orders.work",
    "write exchange orders",
    "write queue orders.work",
    "read exchange orders",
    "read queue orders.work",
];

/// The permission regexes of [`AMQP_NEEDS`], as `attache grants` writes them.
const LEAST: &str = "^(orders|orders\\.work)$";

/// How [`RabbitServer::account`] shapes a new user. Every account has a vhost of its own
/// (`v_<user>`), so tests never see each other's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RabbitAccount {
    /// Exactly [`AMQP_NEEDS`], no tags.
    LeastPrivileged,
    /// The `administrator` tag and `.*` for everything: what `guest` is on a fresh install.
    Administrator,
    /// The least-privileged permissions and the `monitoring` tag.
    Monitoring,
    /// `.*` for configure, write and read in its vhost, no tags.
    WidePermissions,
    /// The least-privileged permissions less read on `orders.work`.
    MissingGrant,
    /// The least-privileged permissions, and the same on the vhost `/`.
    AlsoOnDefaultVhost,
}

impl RabbitAccount {
    fn slug(self) -> &'static str {
        match self {
            RabbitAccount::LeastPrivileged => "least",
            RabbitAccount::Administrator => "admin",
            RabbitAccount::Monitoring => "monitoring",
            RabbitAccount::WidePermissions => "wide",
            RabbitAccount::MissingGrant => "missing",
            RabbitAccount::AlsoOnDefaultVhost => "twovhosts",
        }
    }
}

/// How [`RabbitServer::start_with`] configures the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RabbitOptions {
    /// `ssl_options.fail_if_no_peer_cert = true`: every client must present a certificate
    /// signed by the broker's CA.
    pub require_client_cert: bool,
}

/// A user made by [`RabbitServer::account`], with what a client needs to connect as it.
#[derive(Clone)]
pub struct RabbitTestAccount {
    /// The user name, `u_<case>_<n>`.
    pub user: String,
    /// A random password starting with `planted-`, so tests can grep every output for a leak.
    pub password: String,
    /// Its vhost, `v_<user>`.
    pub vhost: String,
    /// The broker's AMQPS port on 127.0.0.1.
    pub port: u16,
    /// The management API's HTTPS port on 127.0.0.1.
    pub management_port: u16,
    /// The CA that signed the broker's certificate.
    pub ca_path: PathBuf,
}

impl fmt::Debug for RabbitTestAccount {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitTestAccount")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("vhost", &self.vhost)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl RabbitTestAccount {
    /// `amqps://user:password@127.0.0.1:port/vhost?cacertfile=<ca>&management=https://127.0.0.1:<port>`,
    /// percent-encoded.
    pub fn url(&self) -> String {
        self.url_with(Some(&self.password))
    }

    /// [`RabbitTestAccount::url`] without the password (for use with a password file).
    pub fn url_without_password(&self) -> String {
        self.url_with(None)
    }

    /// Writes the password (no trailing newline) into `dir/<user>.password` with mode 0600 and
    /// returns the path.
    pub fn write_password_file(&self, dir: &Path) -> PathBuf {
        crate::pki::password_file(dir, &self.user, &self.password)
    }

    fn url_with(&self, password: Option<&str>) -> String {
        let user = utf8_percent_encode(&self.user, sys::URL_COMPONENT);
        let password = password
            .map(|p| format!(":{}", utf8_percent_encode(p, sys::URL_COMPONENT)))
            .unwrap_or_default();
        let management = format!("https://127.0.0.1:{}", self.management_port);
        format!(
            "amqps://{user}{password}@127.0.0.1:{port}/{vhost}?cacertfile={ca}&management={management}",
            port = self.port,
            vhost = utf8_percent_encode(&self.vhost, sys::URL_COMPONENT),
            ca = utf8_percent_encode(&self.ca_path.to_string_lossy(), sys::URL_PATH_VALUE),
            management = utf8_percent_encode(&management, sys::URL_COMPONENT),
        )
    }
}

/// A real RabbitMQ broker (Debian's `rabbitmq-server`) for tests: AMQPS only on
/// `127.0.0.1:<ephemeral port>` (TLS 1.2 and 1.3), the management plugin over HTTPS only, no
/// `guest` user (definitions are loaded at boot, which skips it), its own epmd on an ephemeral
/// port (Erlang would otherwise leave a daemon on 0.0.0.0:4369) and distribution port.
///
/// It runs in a directory `/tmp/attache-tk/<pid>-<n>` holding its configuration, its Erlang
/// cookie and its database. A broker takes 5–10 s to start: share one per test binary
/// ([`RabbitServer::shared`]). Dropping it stops the broker and epmd and removes the directory.
pub struct RabbitServer {
    port: u16,
    management_port: u16,
    pki: Arc<Pki>,
    ctl: Ctl,
    instance: Instance,
}

impl fmt::Debug for RabbitServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabbitServer")
            .field("port", &self.port)
            .field("management_port", &self.management_port)
            .field("dir", &self.instance.dir)
            .finish_non_exhaustive()
    }
}

/// How to run `rabbitmqctl` against one broker: its node name, its epmd and its cookie.
#[derive(Debug, Clone)]
struct Ctl {
    node: String,
    home: PathBuf,
    epmd_port: u16,
}

const SBIN: &str = "/usr/lib/rabbitmq/bin";

impl Ctl {
    fn command(&self) -> Command {
        let mut cmd = Command::new(format!("{SBIN}/rabbitmqctl"));
        cmd.args(["-q", "-n", &self.node])
            .env("HOME", &self.home)
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `rabbitmqctl <args>`; panics on failure.
    fn run(&self, args: &[&str]) -> String {
        let out = self
            .command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn rabbitmqctl: {e}"));
        if !out.status.success() {
            panic!(
                "rabbitmqctl {} failed ({}): {}{}",
                args.first().unwrap_or(&""),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl RabbitServer {
    /// One broker per test process, started on first call, with its own [`Pki`] and a
    /// [`CertProfile::Valid`] certificate.
    pub fn shared() -> &'static RabbitServer {
        static SHARED: OnceLock<RabbitServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            RabbitServer::launch(None, CertProfile::Valid, RabbitOptions::default())
        })
    }

    /// Starts a separate broker presenting a certificate shaped by `cert`, signed by `pki`'s CA.
    pub fn start(pki: Arc<Pki>, cert: CertProfile) -> RabbitServer {
        RabbitServer::launch(Some(pki), cert, RabbitOptions::default())
    }

    /// [`RabbitServer::start`] with `options`.
    pub fn start_with(pki: Arc<Pki>, cert: CertProfile, options: RabbitOptions) -> RabbitServer {
        RabbitServer::launch(Some(pki), cert, options)
    }

    /// The AMQPS port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The management API's HTTPS port on 127.0.0.1.
    pub fn management_port(&self) -> u16 {
        self.management_port
    }

    /// The PKI whose CA signed the broker's certificate (and the client certificate it accepts).
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Path of the CA certificate that signed the broker's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.pki.ca_path()
    }

    /// Runs `rabbitmqctl <args>` against this broker as its administrator (the Erlang cookie);
    /// panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        self.ctl.run(args)
    }

    /// Runs a shell script of `rabbitmqctl` lines (as `attache grants` writes them) with
    /// `rabbitmqctl` reaching this broker and `env` set; panics on failure.
    pub fn ctl_script(&self, script: &str, env: &[(&str, &str)]) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -e\nrabbitmqctl() {{ {SBIN}/rabbitmqctl -q -n {} \"$@\"; }}\n{script}",
                self.ctl.node
            ))
            .env("HOME", &self.ctl.home)
            .env("ERL_EPMD_PORT", self.ctl.epmd_port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn sh: {e}"));
        if !out.status.success() {
            panic!(
                "rabbitmqctl script failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a user `u_<case>_<n>` with a random `planted-…` password and a vhost of its own,
    /// shaped as `case` says.
    pub fn account(&self, case: RabbitAccount) -> RabbitTestAccount {
        let user = format!("u_{}_{}", case.slug(), next_id());
        let password = format!("planted-{}", sys::random_alphanumeric(32));
        let vhost = format!("v_{user}");
        self.ctl(&["add_vhost", &vhost]);
        self.ctl(&["add_user", &user, &password]);
        let (configure, write, read) = match case {
            RabbitAccount::Administrator | RabbitAccount::WidePermissions => (".*", ".*", ".*"),
            RabbitAccount::MissingGrant => (LEAST, LEAST, "^orders$"),
            _ => (LEAST, LEAST, LEAST),
        };
        self.ctl(&[
            "set_permissions",
            "-p",
            &vhost,
            &user,
            configure,
            write,
            read,
        ]);
        match case {
            RabbitAccount::Administrator => {
                self.ctl(&["set_user_tags", &user, "administrator"]);
            }
            RabbitAccount::Monitoring => {
                self.ctl(&["set_user_tags", &user, "monitoring"]);
            }
            RabbitAccount::AlsoOnDefaultVhost => {
                self.ctl(&["set_permissions", "-p", "/", &user, LEAST, LEAST, LEAST]);
            }
            _ => {}
        }
        self.account_of(&user, &password, &vhost)
    }

    /// The account `user` with `password` in `vhost`, as made elsewhere (by provisioning).
    pub fn account_of(&self, user: &str, password: &str, vhost: &str) -> RabbitTestAccount {
        RabbitTestAccount {
            user: user.to_owned(),
            password: password.to_owned(),
            vhost: vhost.to_owned(),
            port: self.port,
            management_port: self.management_port,
            ca_path: self.ca_path(),
        }
    }

    fn launch(pki: Option<Arc<Pki>>, profile: CertProfile, options: RabbitOptions) -> RabbitServer {
        let server = Path::new(SBIN).join("rabbitmq-server");
        if !server.exists() || Command::new("epmd").arg("-help").output().is_err() {
            panic!(
                "{} or epmd not found: apt-get install rabbitmq-server (scripts/setup does it)",
                server.display()
            );
        }
        let mut instance = Instance::create("RabbitMQ");
        let dir = instance.dir.clone();
        let pki = pki.unwrap_or_else(|| Arc::new(Pki::new(&dir.join("pki"))));
        let (cert_path, key_path) = pki.server_cert_for(profile);
        let log_path = dir.join("server.log");
        write_file(
            &dir.join(".erlang.cookie"),
            sys::random_alphanumeric(20).as_bytes(),
            0o400,
        );
        write_file(
            &dir.join("enabled_plugins"),
            b"[rabbitmq_management].\n",
            0o644,
        );
        write_file(&dir.join("env.conf"), b"", 0o644);
        // Definitions loaded at boot: the vhost `/` and no users, so no `guest` is created.
        write_file(
            &dir.join("definitions.json"),
            br#"{"vhosts":[{"name":"/"}]}"#,
            0o644,
        );

        const ATTEMPTS: usize = 4;
        for attempt in 1..=ATTEMPTS {
            let [port, management_port, dist_port, epmd_port] = [(); 4].map(|()| sys::free_port());
            let node = format!("rmq{port}@localhost");
            let conf = format!(
                "listeners.tcp = none\n\
                 listeners.ssl.default = 127.0.0.1:{port}\n\
                 ssl_options.cacertfile = {ca}\n\
                 ssl_options.certfile = {cert}\n\
                 ssl_options.keyfile = {key}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = {demand}\n\
                 ssl_options.versions.1 = tlsv1.3\n\
                 ssl_options.versions.2 = tlsv1.2\n\
                 management.ssl.port = {management_port}\n\
                 management.ssl.ip = 127.0.0.1\n\
                 management.ssl.cacertfile = {ca}\n\
                 management.ssl.certfile = {cert}\n\
                 management.ssl.keyfile = {key}\n\
                 load_definitions = {dir}/definitions.json\n\
                 log.console = true\n\
                 log.console.level = info\n\
                 log.file = false\n",
                ca = pki.ca_path().display(),
                cert = cert_path.display(),
                key = key_path.display(),
                demand = options.require_client_cert,
                dir = dir.display(),
            );
            write_file(&dir.join("rabbitmq.conf"), conf.as_bytes(), 0o600);
            // One process to signal: it runs epmd and the broker, and stops both on TERM. If it
            // is killed outright (the guardian's last resort), a watcher stops epmd, which
            // would otherwise outlive the broker.
            let script = format!(
                "epmd -port {epmd_port} -address 127.0.0.1 &\n\
                 epmd_pid=$!\n\
                 main=$$\n\
                 (while kill -0 $main 2>/dev/null; do sleep 1; done; kill $epmd_pid 2>/dev/null) &\n\
                 {SBIN}/rabbitmq-server &\n\
                 broker=$!\n\
                 trap 'kill -TERM $broker 2>/dev/null; wait $broker; kill $epmd_pid 2>/dev/null; exit 0' TERM INT\n\
                 wait $broker\n\
                 status=$?\n\
                 kill $epmd_pid 2>/dev/null\n\
                 exit $status\n"
            );
            let run = dir.join("run.sh");
            write_file(&run, script.as_bytes(), 0o700);
            let log = fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&log_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("clone log file handle");
            let child = Command::new("sh")
                .arg(&run)
                .current_dir(&dir)
                .env("HOME", &dir)
                .env("ERL_EPMD_PORT", epmd_port.to_string())
                .env("RABBITMQ_NODENAME", &node)
                .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_NODE_PORT", port.to_string())
                .env("RABBITMQ_DIST_PORT", dist_port.to_string())
                .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
                .env("RABBITMQ_CONF_ENV_FILE", dir.join("env.conf"))
                .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", dir.join("log"))
                .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
                .env(
                    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                    "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false",
                )
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn rabbitmq-server: {e}"));
            instance.set_server(child, "TERM");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let server = instance.server_mut().expect("rabbitmq-server running");
                if let Ok(Some(status)) = server.try_wait() {
                    instance.clear_server();
                    let log = sys::tail(&log_path, 60);
                    if attempt < ATTEMPTS && log.contains("eaddrinuse") {
                        break;
                    }
                    panic!("rabbitmq-server exited during startup ({status}); log tail:\n{log}");
                }
                let text = fs::read_to_string(&log_path).unwrap_or_default();
                if text.contains("Server startup complete") {
                    return RabbitServer {
                        port,
                        management_port,
                        pki,
                        ctl: Ctl {
                            node,
                            home: dir.clone(),
                            epmd_port,
                        },
                        instance,
                    };
                }
                if Instant::now() >= deadline {
                    panic!(
                        "rabbitmq-server did not start within 60 s; log tail:\n{}",
                        sys::tail(&log_path, 60)
                    );
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        unreachable!("the last attempt either returns or panics")
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        self.instance.shutdown();
    }
}
