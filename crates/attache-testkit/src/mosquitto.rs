//! A real, throwaway Mosquitto broker: MQTT over TLS only on 127.0.0.1, no anonymous clients,
//! accounts made by its own tools: the dynamic-security plugin and `mosquitto_ctrl` (the
//! default: it checks subscriptions, so an account's subscribe rights can be probed), or a
//! `password_file` and an `acl_file` (which checks no subscription at all).
//!
//! The test kit administers the broker through a unix socket of its own (`kit.sock`, in the
//! instance directory), never through the TLS port, so it reaches brokers whose certificate is
//! deliberately bad too.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;

use crate::instance::{Instance, next_id};
use crate::pki::{CertProfile, Pki, write_file};
use crate::sys;

/// What the least-privileged account ([`MqttAccount::LeastPrivileged`]) needs, and holds
/// exactly: an app that publishes new orders and reads every order topic back.
pub const MQTT_NEEDS: &[&str] = &["publish orders/new", "subscribe orders/#"];

/// The topic [`crate::Service::marked`] keeps a retained marker on (inside the needs).
pub const MARKER_TOPIC: &str = "orders/marker";

/// The test kit's own user: the dynamic-security `admin` role (with `acl_file`: `topic
/// readwrite #`).
const KIT_USER: &str = "attache-kit";
/// The test kit's publisher, for markers (the admin role may not publish to other topics). A
/// user of its own: the plugin disconnects a client whose roles change, and changing
/// `attache-kit`'s would cut off the very `mosquitto_ctrl` that asked.
const KIT_PUBLISHER: &str = "attache-kit-publisher";

/// The dynamic-security plugin as Debian ships it.
const DYNSEC_PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

/// How the broker decides what an account may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MosquittoAcl {
    /// The dynamic-security plugin (`mosquitto_ctrl dynsec`): clients, roles, ACLs; it checks
    /// subscriptions (SUBACK 0x87 Not authorized).
    #[default]
    DynamicSecurity,
    /// `password_file` and `acl_file`: subscriptions are never refused, reads are filtered at
    /// delivery, silently.
    File,
}

/// How [`MosquittoServer::start_with`] configures the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MosquittoOptions {
    /// Which access control.
    pub acl: MosquittoAcl,
    /// `allow_anonymous true`: anyone may connect without a credential (for `cred-empty`).
    pub allow_anonymous: bool,
    /// `require_certificate true`: every client must present a certificate signed by the CA.
    pub require_client_cert: bool,
}

/// How [`MosquittoServer::account`] shapes a new account. Under the dynamic-security plugin
/// each account has a role of its own, named as the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttAccount {
    /// Exactly [`MQTT_NEEDS`].
    LeastPrivileged,
    /// The dynamic-security `admin` role, as `mosquitto_ctrl dynsec init` makes it (with
    /// `acl_file`: `topic readwrite #` and `topic read $SYS/#`).
    Admin,
    /// The needs and subscribing to `#` (with `acl_file`: `topic readwrite #`).
    SubscribeAll,
    /// The needs and subscribing to `$SYS/#`, the broker's own tree.
    ReadsSys,
    /// The needs less `subscribe orders/#`.
    MissingGrant,
}

impl MqttAccount {
    fn slug(self) -> &'static str {
        match self {
            MqttAccount::LeastPrivileged => "least",
            MqttAccount::Admin => "admin",
            MqttAccount::SubscribeAll => "all",
            MqttAccount::ReadsSys => "sys",
            MqttAccount::MissingGrant => "missing",
        }
    }
}

/// An account made by [`MosquittoServer::account`], with what a client needs to connect as it.
#[derive(Clone)]
pub struct MqttTestAccount {
    /// The user name, `u_<case>_<n>`.
    pub user: String,
    /// A random password starting with `planted-`, so tests can grep every output for a leak.
    pub password: String,
    /// The broker's TLS port on 127.0.0.1.
    pub port: u16,
    /// The CA that signed the broker's certificate.
    pub ca_path: PathBuf,
}

impl fmt::Debug for MqttTestAccount {
    // Hand-written so the password never lands in test output by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttTestAccount")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl MqttTestAccount {
    /// `mqtts://user:password@127.0.0.1:port/?cafile=<ca>`, percent-encoded.
    pub fn url(&self) -> String {
        self.url_with(Some(&self.password))
    }

    /// [`MqttTestAccount::url`] without the password (for use with a password file).
    pub fn url_without_password(&self) -> String {
        self.url_with(None)
    }

    fn url_with(&self, password: Option<&str>) -> String {
        let user = utf8_percent_encode(&self.user, sys::URL_COMPONENT);
        let password = password
            .map(|p| format!(":{}", utf8_percent_encode(p, sys::URL_COMPONENT)))
            .unwrap_or_default();
        format!(
            "mqtts://{user}{password}@127.0.0.1:{port}/?cafile={ca}",
            port = self.port,
            ca = utf8_percent_encode(&self.ca_path.to_string_lossy(), sys::URL_PATH_VALUE),
        )
    }
}

/// A real Mosquitto broker (Debian's `mosquitto`, 2.0) for tests: MQTT over TLS only on
/// `127.0.0.1:<ephemeral port>`, `allow_anonymous false` unless the options say otherwise, no
/// persistence, and a unix socket only the test kit uses to administer it.
///
/// It runs in a directory `/tmp/attache-tk/<pid>-<n>` holding its configuration, the
/// dynamic-security file (or the password and ACL files) and its log. A broker starts in a few
/// milliseconds. Dropping it stops the broker and removes the directory.
pub struct MosquittoServer {
    port: u16,
    pki: Arc<Pki>,
    options: MosquittoOptions,
    dir: PathBuf,
    kit_password: String,
    instance: Instance,
}

impl fmt::Debug for MosquittoServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MosquittoServer")
            .field("port", &self.port)
            .field("options", &self.options)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn checked(what: &str, out: Output) -> String {
    if !out.status.success() {
        panic!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl MosquittoServer {
    /// One broker per test process with the dynamic-security plugin, started on first call,
    /// with its own [`Pki`] and a [`CertProfile::Valid`] certificate.
    pub fn shared() -> &'static MosquittoServer {
        static SHARED: OnceLock<MosquittoServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            MosquittoServer::launch(None, CertProfile::Valid, MosquittoOptions::default())
        })
    }

    /// Starts a separate broker presenting a certificate shaped by `cert`, signed by `pki`'s CA.
    pub fn start(pki: Arc<Pki>, cert: CertProfile) -> MosquittoServer {
        MosquittoServer::launch(Some(pki), cert, MosquittoOptions::default())
    }

    /// [`MosquittoServer::start`] with `options`.
    pub fn start_with(
        pki: Arc<Pki>,
        cert: CertProfile,
        options: MosquittoOptions,
    ) -> MosquittoServer {
        MosquittoServer::launch(Some(pki), cert, options)
    }

    /// The TLS port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PKI whose CA signed the broker's certificate (and the client certificate it accepts).
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Path of the CA certificate that signed the broker's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.pki.ca_path()
    }

    /// How it was configured.
    pub fn options(&self) -> MosquittoOptions {
        self.options
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("kit.sock")
    }

    /// A Mosquitto client tool reaching this broker as the test kit's user, through its socket.
    fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(name);
        // mosquitto_ctrl reads its connection options from $XDG_CONFIG_HOME/mosquitto_ctrl.
        cmd.env("XDG_CONFIG_HOME", self.dir.join("ctrl"))
            .stdin(Stdio::null());
        if name != "mosquitto_ctrl" {
            let user = match self.options.acl {
                MosquittoAcl::DynamicSecurity => KIT_PUBLISHER,
                MosquittoAcl::File => KIT_USER,
            };
            cmd.arg("--unix")
                .arg(self.socket())
                .args(["-u", user, "-P", &self.kit_password]);
        }
        cmd
    }

    /// Runs `mosquitto_ctrl dynsec <args>` as the broker's administrator; panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        assert_eq!(self.options.acl, MosquittoAcl::DynamicSecurity);
        let out = self
            .tool("mosquitto_ctrl")
            .arg("dynsec")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn mosquitto_ctrl: {e}"));
        let text = checked(
            &format!("mosquitto_ctrl dynsec {}", args.first().unwrap_or(&"")),
            out,
        );
        // mosquitto_ctrl exits 0 on a refused command too; the plugin's answer says it.
        if text.contains("Error") || text.contains("error") {
            panic!("mosquitto_ctrl dynsec {args:?}: {text}");
        }
        text
    }

    /// Runs a shell script of `mosquitto_ctrl` lines (as `attache grants` writes them) with
    /// `mosquitto_ctrl` reaching this broker as its administrator; panics on failure.
    pub fn ctl_script(&self, script: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("set -e\n{script}"))
            .env("XDG_CONFIG_HOME", self.dir.join("ctrl"))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn sh: {e}"));
        let text = checked("mosquitto_ctrl script", out);
        if text.contains("Error") {
            panic!("mosquitto_ctrl script: {text}");
        }
        text
    }

    /// Publishes `payload` on `topic`, retained, QoS 1, as the test kit's user.
    pub fn publish_retained(&self, topic: &str, payload: &str) {
        let out = self
            .tool("mosquitto_pub")
            .args(["-t", topic, "-m", payload, "-r", "-q", "1"])
            .output()
            .unwrap_or_else(|e| panic!("spawn mosquitto_pub: {e}"));
        checked("mosquitto_pub", out);
    }

    /// Creates an account `u_<case>_<n>` with a random `planted-…` password, shaped as `case`
    /// says.
    pub fn account(&self, case: MqttAccount) -> MqttTestAccount {
        let user = format!("u_{}_{}", case.slug(), next_id());
        let password = format!("planted-{}", sys::random_alphanumeric(32));
        match self.options.acl {
            MosquittoAcl::DynamicSecurity => self.dynsec_account(&user, &password, case),
            MosquittoAcl::File => {
                let mut lines = vec![
                    "topic write orders/new".to_owned(),
                    "topic read orders/#".to_owned(),
                ];
                match case {
                    MqttAccount::Admin => {
                        lines = vec!["topic readwrite #".into(), "topic read $SYS/#".into()];
                    }
                    MqttAccount::SubscribeAll => lines = vec!["topic readwrite #".into()],
                    MqttAccount::ReadsSys => lines.push("topic read $SYS/#".into()),
                    MqttAccount::MissingGrant => {
                        lines.pop();
                    }
                    MqttAccount::LeastPrivileged => {}
                }
                self.file_account(&user, &password, &lines);
            }
        }
        self.account_of(&user, &password)
    }

    fn dynsec_account(&self, user: &str, password: &str, case: MqttAccount) {
        self.ctl(&["createClient", user, "-p", password]);
        if case == MqttAccount::Admin {
            self.ctl(&["addClientRole", user, "admin"]);
            return;
        }
        self.ctl(&["createRole", user]);
        let mut acls = vec![("publishClientSend", "orders/new")];
        if case != MqttAccount::MissingGrant {
            acls.push(("subscribePattern", "orders/#"));
            acls.push(("publishClientReceive", "orders/#"));
        }
        match case {
            MqttAccount::SubscribeAll => acls.push(("subscribePattern", "#")),
            MqttAccount::ReadsSys => acls.push(("subscribePattern", "$SYS/#")),
            _ => {}
        }
        for (acl, topic) in acls {
            self.ctl(&["addRoleACL", user, acl, topic, "allow"]);
        }
        self.ctl(&["addClientRole", user, user]);
    }

    /// Adds `user` with `password` to the password file and its `lines` to the ACL file, then
    /// makes the broker re-read both (SIGHUP) and waits until the account logs in.
    pub fn file_account(&self, user: &str, password: &str, lines: &[String]) {
        assert_eq!(self.options.acl, MosquittoAcl::File);
        let out = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg(self.dir.join("passwords"))
            .args([user, password])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("spawn mosquitto_passwd: {e}"));
        checked("mosquitto_passwd", out);
        let acl = self.dir.join("acl");
        let mut text = fs::read_to_string(&acl).unwrap_or_default();
        text.push_str(&format!("\nuser {user}\n{}\n", lines.join("\n")));
        write_file(&acl, text.as_bytes(), 0o600);
        self.reload_until_login(user, password);
    }

    /// SIGHUP, then retries a login as `user` until it is accepted (bounded: 10 s).
    fn reload_until_login(&self, user: &str, password: &str) {
        let pid = fs::read_to_string(self.dir.join("server.pid")).unwrap_or_default();
        let pid: u32 = pid
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the broker's pid");
        sys::send_signal(pid, "HUP");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = Command::new("mosquitto_sub")
                .arg("--unix")
                .arg(self.socket())
                .args(["-u", user, "-P", password, "-t", "attache/kit/ready", "-E"])
                .args(["-W", "2"])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("spawn mosquitto_sub: {e}"));
            if out.status.success() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the broker did not take account {user} after SIGHUP: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The account `user` with `password`, as made elsewhere (by provisioning).
    pub fn account_of(&self, user: &str, password: &str) -> MqttTestAccount {
        MqttTestAccount {
            user: user.to_owned(),
            password: password.to_owned(),
            port: self.port,
            ca_path: self.ca_path(),
        }
    }

    fn launch(
        pki: Option<Arc<Pki>>,
        profile: CertProfile,
        options: MosquittoOptions,
    ) -> MosquittoServer {
        let found = Command::new("mosquitto").arg("-h").output();
        if found.is_err()
            || Command::new("mosquitto_ctrl").output().is_err()
            || Command::new("mosquitto_pub")
                .arg("--help")
                .output()
                .is_err()
            || (options.acl == MosquittoAcl::DynamicSecurity && !Path::new(DYNSEC_PLUGIN).exists())
        {
            panic!(
                "mosquitto, its dynamic-security plugin or mosquitto_ctrl/mosquitto_pub not found: \
                 apt-get install mosquitto mosquitto-clients (scripts/setup does it)"
            );
        }
        let mut instance = Instance::create("Mosquitto");
        let dir = instance.dir.clone();
        let pki = pki.unwrap_or_else(|| Arc::new(Pki::new(&dir.join("pki"))));
        let (cert_path, key_path) = pki.server_cert_for(profile);
        let kit_password = sys::random_alphanumeric(32);
        let log_path = dir.join("server.log");
        fs::create_dir_all(dir.join("ctrl")).expect("create the ctrl directory");
        write_file(
            &dir.join("ctrl").join("mosquitto_ctrl"),
            format!(
                "--unix {}\n-u {KIT_USER}\n-P {kit_password}\n",
                dir.join("kit.sock").display()
            )
            .as_bytes(),
            0o600,
        );
        let access = match options.acl {
            MosquittoAcl::DynamicSecurity => {
                let file = dir.join("dynsec.json");
                let out = Command::new("mosquitto_ctrl")
                    .args(["dynsec", "init"])
                    .arg(&file)
                    .args([KIT_USER, &kit_password])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap_or_else(|e| panic!("spawn mosquitto_ctrl: {e}"));
                checked("mosquitto_ctrl dynsec init", out);
                format!(
                    "plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {}\n",
                    file.display()
                )
            }
            MosquittoAcl::File => {
                let passwords = dir.join("passwords");
                write_file(&passwords, b"", 0o600);
                let out = Command::new("mosquitto_passwd")
                    .arg("-b")
                    .arg(&passwords)
                    .args([KIT_USER, &kit_password])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap_or_else(|e| panic!("spawn mosquitto_passwd: {e}"));
                checked("mosquitto_passwd", out);
                write_file(
                    &dir.join("acl"),
                    format!("user {KIT_USER}\ntopic readwrite #\n").as_bytes(),
                    0o600,
                );
                format!(
                    "password_file {}\nacl_file {}\n",
                    passwords.display(),
                    dir.join("acl").display()
                )
            }
        };

        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let port = sys::free_port();
            let conf = format!(
                "per_listener_settings false\n\
                 allow_anonymous {anonymous}\n\
                 {access}\
                 persistence false\n\
                 user root\n\
                 log_dest file {log}\n\
                 log_type all\n\
                 listener {port} 127.0.0.1\n\
                 cafile {ca}\n\
                 certfile {cert}\n\
                 keyfile {key}\n\
                 require_certificate {demand}\n\
                 tls_version tlsv1.2\n\
                 listener 0 {socket}\n",
                anonymous = options.allow_anonymous,
                ca = pki.ca_path().display(),
                cert = cert_path.display(),
                key = key_path.display(),
                demand = options.require_client_cert,
                socket = dir.join("kit.sock").display(),
                log = log_path.display(),
            );
            write_file(&dir.join("mosquitto.conf"), conf.as_bytes(), 0o600);
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("clone log file handle");
            let child = Command::new("mosquitto")
                .arg("-c")
                .arg(dir.join("mosquitto.conf"))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn mosquitto: {e}"));
            instance.set_server(child, "TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let server = instance.server_mut().expect("mosquitto running");
                if let Ok(Some(status)) = server.try_wait() {
                    instance.clear_server();
                    let _ = fs::remove_file(dir.join("kit.sock"));
                    let log = sys::tail(&log_path, 30);
                    if attempt < ATTEMPTS && log.contains("Address already in use") {
                        break;
                    }
                    panic!("mosquitto exited during startup ({status}); log tail:\n{log}");
                }
                if dir.join("kit.sock").exists()
                    && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                {
                    let server = MosquittoServer {
                        port,
                        pki,
                        options,
                        dir: dir.clone(),
                        kit_password,
                        instance,
                    };
                    if options.acl == MosquittoAcl::DynamicSecurity {
                        let password = server.kit_password.clone();
                        server.ctl(&["createClient", KIT_PUBLISHER, "-p", &password]);
                        server.ctl(&["createRole", KIT_PUBLISHER]);
                        let acl = [
                            "addRoleACL",
                            KIT_PUBLISHER,
                            "publishClientSend",
                            "#",
                            "allow",
                        ];
                        server.ctl(&acl);
                        server.ctl(&["addClientRole", KIT_PUBLISHER, KIT_PUBLISHER]);
                    }
                    return server;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "mosquitto did not start within 10 s; log tail:\n{}",
                        sys::tail(&log_path, 30)
                    );
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        unreachable!("the last attempt either returns or panics")
    }
}

impl Drop for MosquittoServer {
    fn drop(&mut self) {
        self.instance.shutdown();
    }
}
