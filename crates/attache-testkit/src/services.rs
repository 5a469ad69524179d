//! The test kit's servers as the contract suite drives them ([`Service`]).

use std::fs;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use attache_core::CheckId;

use crate::contract::{
    AsLogin, Decliner, Login, Service, Shape, TlsParams, other_server, set_param,
};
use crate::{
    AMQP_NEEDS, Account, CertProfile, MQTT_NEEDS, MYSQL_NEEDS, MosquittoOptions, MosquittoServer,
    MqttAccount, MqttTestAccount, MysqlAccount, MysqlServer, MysqlStripServer, MysqlTestAccount,
    NATS_NEEDS, NEEDS, NatsAccount, NatsOptions, NatsServer, NatsTestAccount, PgServer, Pki,
    PlaintextServer, REDIS_NEEDS, RabbitAccount, RabbitOptions, RabbitServer, RabbitTestAccount,
    RedisAccount, RedisOptions, RedisServer, RedisTestAccount, StripProxy, TestAccount,
};

use crate::binding_contract::PASSWORD as SAMPLE_PASSWORD;

fn read_ca(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `From<$account> for Login` and `AsLogin for $account`: every test account type has the
/// same fields; `$database` says what its database is.
macro_rules! login_from {
    ($account:ty, |$a:ident| $database:expr) => {
        impl From<$account> for Login {
            fn from($a: $account) -> Login {
                Login {
                    url: $a.url(),
                    url_without_password: $a.url_without_password(),
                    database: Some($database),
                    user: $a.user,
                    password: $a.password,
                    port: $a.port,
                    ca_path: $a.ca_path,
                }
            }
        }

        impl AsLogin for $account {
            fn login(&self) -> Login {
                self.clone().into()
            }
        }
    };
}

login_from!(TestAccount, |a| a.database.clone());
login_from!(MysqlTestAccount, |a| a.database.clone());
login_from!(RedisTestAccount, |a| "0".to_owned());
login_from!(RabbitTestAccount, |a| a.vhost.clone());

/// The parts of a [`Service`] every test server has the same way: the shared server, a server
/// of its own, the second shared server a swap goes to, its PKI.
macro_rules! lifecycle {
    ($server:ty) => {
        fn shared() -> &'static Self {
            <$server>::shared()
        }
        fn start(pki: Arc<Pki>, cert: CertProfile) -> Self {
            <$server>::start(pki, cert)
        }
        fn other() -> &'static Self {
            static OTHER: OnceLock<$server> = OnceLock::new();
            other_server(&OTHER)
        }
        fn pki(&self) -> &Pki {
            <$server>::pki(self)
        }
    };
}

/// The server in `cell`, started on first use by `start` with a PKI of its own: the one that
/// demands client certificates.
fn demanding<S>(cell: &'static OnceLock<S>, start: impl FnOnce(Arc<Pki>) -> S) -> &'static S {
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory").keep();
        start(Arc::new(Pki::new(&dir)))
    })
}

/// The service-binding files every kind's test binding has, with `type` and any `extra`.
fn binding_files(
    kind: &str,
    login: &Login,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut files = vec![
        ("type", kind.to_owned()),
        ("host", "127.0.0.1".to_owned()),
        ("port", login.port.to_string()),
        ("username", login.user.clone()),
        ("password", format!("{}\n", login.password)),
    ];
    if let Some(database) = &login.database {
        files.push(("database", database.clone()));
    }
    files.push(("ca.crt", read_ca(&login.ca_path)));
    files.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    files
}

fn database(login: &Login) -> &str {
    login
        .database
        .as_deref()
        .expect("an account with a database")
}

impl Service for PgServer {
    const KIND: &'static str = "postgres";
    const NEEDS: &'static [&'static str] = NEEDS;
    const TLS_PARAMS: TlsParams = TlsParams {
        weak: &[
            ("sslmode", "prefer", CheckId::TlsDowngradePermitted),
            ("sslmode", "allow", CheckId::TlsDowngradePermitted),
            ("sslmode", "require", CheckId::TlsUnverified),
            ("sslmode", "verify-ca", CheckId::TlsUnverified),
        ],
        plaintext: ("sslmode", "disable"),
        ca: "sslrootcert",
        client_cert: ["sslcert", "sslkey"],
    };

    fn sample_url(host: &str, port: u16) -> String {
        TestAccount {
            database: "appdb".into(),
            user: "app".into(),
            password: SAMPLE_PASSWORD.into(),
            host: host.into(),
            port,
            ca_path: "/ca.pem".into(),
        }
        .url()
    }

    lifecycle!(PgServer);
    fn login(&self, shape: Shape) -> Login {
        self.account(match shape {
            Shape::LeastPrivileged => Account::LeastPrivileged,
            Shape::Superuser => Account::Superuser,
            Shape::MissingGrant => Account::MissingGrant,
        })
        .into()
    }
    fn marked(&self, marker: &str) -> Login {
        let login = self.login(Shape::LeastPrivileged);
        self.admin_sql(
            database(&login),
            &format!("INSERT INTO public.signups (email) VALUES ('{marker}');"),
        );
        login
    }
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login {
        let database = self.fresh_database();
        self.admin_sql(&database, &statements.join("\n"));
        TestAccount {
            database,
            user: user.to_owned(),
            password: password.to_owned(),
            host: self.host().to_owned(),
            port: self.port(),
            ca_path: self.ca_path(),
        }
        .into()
    }
    fn revoke_one(&self, login: &Login) {
        self.admin_sql(
            database(login),
            &format!("REVOKE INSERT ON public.signups FROM {}", login.user),
        );
    }
    fn grant_extra(&self, login: &Login) {
        self.admin_sql(
            database(login),
            &format!("GRANT DELETE ON public.signups TO {}", login.user),
        );
    }
    fn demand_client_cert(&self, login: &Login) {
        self.require_client_cert(&login.user);
    }
    fn binding_files(login: &Login) -> Vec<(&'static str, String)> {
        binding_files("postgresql", login, &[])
    }
    fn decliner() -> Box<dyn Decliner> {
        Box::new(StripProxy::start())
    }
}

impl Service for MysqlServer {
    const KIND: &'static str = "mysql";
    const NEEDS: &'static [&'static str] = MYSQL_NEEDS;
    const TLS_PARAMS: TlsParams = TlsParams {
        weak: &[
            ("ssl-mode", "PREFERRED", CheckId::TlsDowngradePermitted),
            ("ssl-mode", "REQUIRED", CheckId::TlsUnverified),
            ("ssl-mode", "VERIFY_CA", CheckId::TlsUnverified),
        ],
        plaintext: ("ssl-mode", "DISABLED"),
        ca: "ssl-ca",
        client_cert: ["ssl-cert", "ssl-key"],
    };

    fn sample_url(host: &str, port: u16) -> String {
        MysqlTestAccount {
            database: "appdb".into(),
            user: "app".into(),
            password: SAMPLE_PASSWORD.into(),
            role: None,
            host: host.into(),
            port,
            ca_path: "/ca.pem".into(),
        }
        .url()
    }

    lifecycle!(MysqlServer);
    fn login(&self, shape: Shape) -> Login {
        self.account(match shape {
            Shape::LeastPrivileged => MysqlAccount::LeastPrivileged,
            Shape::Superuser => MysqlAccount::AllOnStar,
            Shape::MissingGrant => MysqlAccount::MissingGrant,
        })
        .into()
    }
    fn marked(&self, marker: &str) -> Login {
        let login = self.login(Shape::LeastPrivileged);
        self.admin_sql(&format!(
            "INSERT INTO `{}`.signups (email) VALUES ('{marker}');",
            database(&login)
        ));
        login
    }
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login {
        let database = self.fresh_database();
        // Needs without a database are granted in the session's default database.
        self.admin_sql(&format!("USE {database};\n{}", statements.join("\n")));
        MysqlTestAccount {
            database,
            user: user.to_owned(),
            password: password.to_owned(),
            role: None,
            host: self.host().to_owned(),
            port: self.port(),
            ca_path: self.ca_path(),
        }
        .into()
    }
    fn revoke_one(&self, login: &Login) {
        self.admin_sql(&format!(
            "REVOKE INSERT ON `{}`.signups FROM '{}'@'%';",
            database(login),
            login.user
        ));
    }
    fn grant_extra(&self, login: &Login) {
        self.admin_sql(&format!(
            "GRANT DELETE ON `{}`.signups TO '{}'@'%';",
            database(login),
            login.user
        ));
    }
    fn demand_client_cert(&self, login: &Login) {
        self.admin_sql(&format!(
            "ALTER USER '{}'@'%' REQUIRE SUBJECT '/CN=attache-test-client';",
            login.user
        ));
    }
    fn binding_files(login: &Login) -> Vec<(&'static str, String)> {
        binding_files("mysql", login, &[("provider", "mariadb")])
    }
    fn decliner() -> Box<dyn Decliner> {
        Box::new(MysqlStripServer::start())
    }
    fn mitm() -> crate::MitmProxy {
        crate::MitmProxy::start_mysql()
    }
}

impl Service for RedisServer {
    const KIND: &'static str = "redis";
    const NEEDS: &'static [&'static str] = REDIS_NEEDS;
    const TLS_PARAMS: TlsParams = TlsParams {
        weak: &[
            ("ssl_cert_reqs", "none", CheckId::TlsUnverified),
            ("ssl_check_hostname", "false", CheckId::TlsUnverified),
        ],
        // Plaintext is the scheme, `redis://` (see `plaintext`).
        plaintext: ("", ""),
        ca: "ssl_ca_certs",
        client_cert: ["ssl_certfile", "ssl_keyfile"],
    };

    fn sample_url(host: &str, port: u16) -> String {
        RedisTestAccount {
            user: "app".into(),
            password: SAMPLE_PASSWORD.into(),
            host: host.into(),
            port,
            ca_path: "/ca.pem".into(),
        }
        .url()
    }

    lifecycle!(RedisServer);
    fn client_cert_server() -> &'static Self {
        static DEMANDING: OnceLock<RedisServer> = OnceLock::new();
        demanding(&DEMANDING, |pki| {
            RedisServer::start_with(
                pki,
                CertProfile::Valid,
                RedisOptions {
                    require_client_cert: true,
                    ..RedisOptions::default()
                },
            )
        })
    }
    fn login(&self, shape: Shape) -> Login {
        self.account(match shape {
            Shape::LeastPrivileged => RedisAccount::LeastPrivileged,
            Shape::Superuser => RedisAccount::AllPowerful,
            Shape::MissingGrant => RedisAccount::MissingGrant,
        })
        .into()
    }
    fn marked(&self, marker: &str) -> Login {
        // Every account sees every key: the marker is the server's, one key.
        self.admin(&["SET", "session:marker", marker]);
        self.login(Shape::LeastPrivileged)
    }
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login {
        self.admin_script(&statements.join("\n"));
        RedisTestAccount {
            user: user.to_owned(),
            password: password.to_owned(),
            host: self.host().to_owned(),
            port: self.port(),
            ca_path: self.ca_path(),
        }
        .into()
    }
    fn revoke_one(&self, login: &Login) {
        self.admin(&["ACL", "SETUSER", &login.user, "-get"]);
    }
    fn grant_extra(&self, login: &Login) {
        self.admin(&["ACL", "SETUSER", &login.user, "+del"]);
    }
    fn demand_client_cert(&self, _login: &Login) {
        // The whole server demands one (`tls-auth-clients yes`): see `client_cert_server`.
    }
    fn binding_files(login: &Login) -> Vec<(&'static str, String)> {
        binding_files("redis", login, &[])
    }
    fn weak_tls(url: &str) -> Vec<(String, CheckId)> {
        let mut weak: Vec<_> = Self::TLS_PARAMS
            .weak
            .iter()
            .map(|&(key, value, check)| (set_param(url, key, value), check))
            .collect();
        weak.push((format!("{url}#insecure"), CheckId::TlsUnverified));
        weak
    }
    fn plaintext(url: &str) -> String {
        let url = url.replacen("rediss://", "redis://", 1);
        url.split_once('?')
            .map_or(url.clone(), |(u, _)| u.to_owned())
    }
    fn decliner() -> Box<dyn Decliner> {
        Box::new(PlaintextServer::start())
    }
}

impl Service for RabbitServer {
    const KIND: &'static str = "amqp";
    const NEEDS: &'static [&'static str] = AMQP_NEEDS;
    const TLS_PARAMS: TlsParams = TlsParams {
        weak: &[
            ("verify", "verify_none", CheckId::TlsUnverified),
            ("server_name_indication", "disable", CheckId::TlsUnverified),
        ],
        // Plaintext is the scheme, `amqp://` (see `plaintext`).
        plaintext: ("", ""),
        ca: "cacertfile",
        client_cert: ["certfile", "keyfile"],
    };

    fn sample_url(host: &str, port: u16) -> String {
        RabbitTestAccount {
            user: "app".into(),
            password: SAMPLE_PASSWORD.into(),
            vhost: "appdb".into(),
            port,
            management_port: 15671,
            ca_path: "/ca.pem".into(),
        }
        .url()
        .replacen("127.0.0.1", host, 1)
    }

    lifecycle!(RabbitServer);
    fn client_cert_server() -> &'static Self {
        static DEMANDING: OnceLock<RabbitServer> = OnceLock::new();
        demanding(&DEMANDING, |pki| {
            RabbitServer::start_with(
                pki,
                CertProfile::Valid,
                RabbitOptions {
                    require_client_cert: true,
                },
            )
        })
    }
    fn login(&self, shape: Shape) -> Login {
        self.account(match shape {
            Shape::LeastPrivileged => RabbitAccount::LeastPrivileged,
            Shape::Superuser => RabbitAccount::Administrator,
            Shape::MissingGrant => RabbitAccount::MissingGrant,
        })
        .into()
    }
    fn marked(&self, marker: &str) -> Login {
        // The marker is in the vhost's name (`<marker>|<user>`): a vhost exists on one broker
        // only, so a client that opened it is connected to that broker.
        let least = self.account(RabbitAccount::LeastPrivileged);
        let vhost = format!("{marker}|{}", least.user);
        self.ctl(&["add_vhost", &vhost]);
        self.ctl(&[
            "set_permissions",
            "-p",
            &vhost,
            &least.user,
            "^(orders|orders\\.work)$",
            "^(orders|orders\\.work)$",
            "^(orders|orders\\.work)$",
        ]);
        self.account_of(&least.user, &least.password, &vhost).into()
    }
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login {
        // The statements set permissions in the resource's vhost, which the administrator makes.
        let vhost = format!("v_{user}");
        self.ctl(&["add_vhost", &vhost]);
        self.ctl_script(&statements.join("\n"), &[("VHOST", &vhost)]);
        self.account_of(user, password, &vhost).into()
    }
    fn revoke_one(&self, login: &Login) {
        let vhost = database(login);
        self.ctl(&[
            "set_permissions",
            "-p",
            vhost,
            &login.user,
            "^(orders|orders\\.work)$",
            "^(orders|orders\\.work)$",
            "^orders$",
        ]);
    }
    fn grant_extra(&self, login: &Login) {
        let vhost = database(login);
        self.ctl(&[
            "set_permissions",
            "-p",
            vhost,
            &login.user,
            ".*",
            "^(orders|orders\\.work)$",
            "^(orders|orders\\.work)$",
        ]);
    }
    fn demand_client_cert(&self, _login: &Login) {
        // The whole broker demands one (`fail_if_no_peer_cert`): see `client_cert_server`.
    }
    fn binding_files(login: &Login) -> Vec<(&'static str, String)> {
        binding_files("rabbitmq", login, &[])
    }
    fn plaintext(url: &str) -> String {
        let url = url.replacen("amqps://", "amqp://", 1);
        url.split_once('?')
            .map_or(url.clone(), |(u, _)| u.to_owned())
    }
    fn decliner() -> Box<dyn Decliner> {
        // What RabbitMQ answers a client whose first bytes are not AMQP's: its protocol header.
        Box::new(PlaintextServer::start_answering(b"AMQP\x00\x00\x09\x01"))
    }
}

impl From<NatsTestAccount> for Login {
    fn from(a: NatsTestAccount) -> Login {
        Login {
            url: a.url(),
            url_without_password: a.url_without_password(),
            database: None,
            user: a.user,
            password: a.password,
            port: a.port,
            ca_path: a.ca_path,
        }
    }
}

impl AsLogin for NatsTestAccount {
    fn login(&self) -> Login {
        self.clone().into()
    }
}

/// The server `login` lives on: the provisioning one, or `server`.
fn nats_server_of<'a>(server: &'a NatsServer, login: &Login) -> &'a NatsServer {
    let provisioning = NatsServer::provisioning();
    if login.port == provisioning.port() {
        provisioning
    } else {
        server
    }
}

/// What a NATS server says first: its `INFO`, here offering no TLS.
const NATS_INFO_PLAIN: &[u8] =
    b"INFO {\"server_id\":\"IMPOSTOR\",\"version\":\"2.10.0\",\"proto\":1,\"auth_required\":true,\"max_payload\":1048576}\r\n";
/// The same `INFO` requiring TLS, for the man in the middle.
const NATS_INFO_TLS: &[u8] =
    b"INFO {\"server_id\":\"IMPOSTOR\",\"version\":\"2.10.0\",\"proto\":1,\"auth_required\":true,\"tls_required\":true,\"max_payload\":1048576}\r\n";

impl Service for NatsServer {
    const KIND: &'static str = "nats";
    const NEEDS: &'static [&'static str] = NATS_NEEDS;
    const TLS_PARAMS: TlsParams = TlsParams {
        weak: &[("tls_verify", "false", CheckId::TlsUnverified)],
        // Plaintext is `tls=false`, without TLS material (see `plaintext`).
        plaintext: ("tls", "false"),
        ca: "tlsca",
        client_cert: ["tlscert", "tlskey"],
    };

    fn sample_url(host: &str, port: u16) -> String {
        NatsTestAccount {
            user: "app".into(),
            password: SAMPLE_PASSWORD.into(),
            port,
            ca_path: "/ca.pem".into(),
        }
        .url()
        .replacen("127.0.0.1", host, 1)
    }

    lifecycle!(NatsServer);
    fn client_cert_server() -> &'static Self {
        static DEMANDING: OnceLock<NatsServer> = OnceLock::new();
        demanding(&DEMANDING, |pki| {
            NatsServer::start_with(
                pki,
                CertProfile::Valid,
                NatsOptions {
                    require_client_cert: true,
                    ..NatsOptions::default()
                },
            )
        })
    }
    fn login(&self, shape: Shape) -> Login {
        self.account(match shape {
            Shape::LeastPrivileged => NatsAccount::LeastPrivileged,
            Shape::Superuser => NatsAccount::System,
            Shape::MissingGrant => NatsAccount::MissingGrant,
        })
        .into()
    }
    fn marked(&self, marker: &str) -> Login {
        // The marker is the server's: clients read its name from INFO.
        self.plant_marker(marker);
        self.login(Shape::LeastPrivileged)
    }
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login {
        // The statements are the user's entry for `authorization { users = [ … ] }`; here each
        // user lives in an account of its own, on the server that takes reloads.
        let server = NatsServer::provisioning();
        server.set_user(&format!("A_{user}"), user, statements.join("\n"));
        server.account_of(user, password).into()
    }
    fn revoke_one(&self, login: &Login) {
        nats_server_of(self, login)
            .edit_user(&login.user, |e| e.replace(", \"work.* workers\"", ""));
    }
    fn grant_extra(&self, login: &Login) {
        nats_server_of(self, login).edit_user(&login.user, |e| {
            e.replacen(
                "subscribe: { allow: [",
                "subscribe: { allow: [\"audit.>\", ",
                1,
            )
        });
    }
    fn demand_client_cert(&self, _login: &Login) {
        // The whole server demands one (`verify: true`): see `client_cert_server`.
    }
    fn binding_files(login: &Login) -> Vec<(&'static str, String)> {
        vec![
            ("type", "nats".to_owned()),
            ("host", "127.0.0.1".to_owned()),
            ("port", login.port.to_string()),
            ("username", login.user.clone()),
            ("password", format!("{}\n", login.password)),
            ("ca.crt", read_ca(&login.ca_path)),
        ]
    }
    fn plaintext(url: &str) -> String {
        let base = url.split_once('?').map_or(url, |(u, _)| u);
        format!("{base}?tls=false")
    }
    fn decliner() -> Box<dyn Decliner> {
        Box::new(PlaintextServer::start_greeting(NATS_INFO_PLAIN))
    }
    fn mitm() -> crate::MitmProxy {
        crate::MitmProxy::start_after_greeting(NATS_INFO_TLS)
    }
}

impl From<MqttTestAccount> for Login {
    fn from(a: MqttTestAccount) -> Login {
        Login {
            url: a.url(),
            url_without_password: a.url_without_password(),
            // MQTT has no databases.
            database: None,
            user: a.user,
            password: a.password,
            port: a.port,
            ca_path: a.ca_path,
        }
    }
}

impl AsLogin for MqttTestAccount {
    fn login(&self) -> Login {
        self.clone().into()
    }
}

impl Service for MosquittoServer {
    const KIND: &'static str = "mqtt";
    const NEEDS: &'static [&'static str] = MQTT_NEEDS;
    const TLS_PARAMS: TlsParams = TlsParams {
        weak: &[("insecure", "true", CheckId::TlsUnverified)],
        // Plaintext is the scheme, `mqtt://` (see `plaintext`).
        plaintext: ("", ""),
        ca: "cafile",
        client_cert: ["certfile", "keyfile"],
    };

    fn sample_url(host: &str, port: u16) -> String {
        MqttTestAccount {
            user: "app".into(),
            password: SAMPLE_PASSWORD.into(),
            port,
            ca_path: "/ca.pem".into(),
        }
        .url()
        .replacen("127.0.0.1", host, 1)
    }

    lifecycle!(MosquittoServer);
    fn client_cert_server() -> &'static Self {
        static DEMANDING: OnceLock<MosquittoServer> = OnceLock::new();
        demanding(&DEMANDING, |pki| {
            MosquittoServer::start_with(
                pki,
                CertProfile::Valid,
                MosquittoOptions {
                    require_client_cert: true,
                    ..MosquittoOptions::default()
                },
            )
        })
    }
    fn login(&self, shape: Shape) -> Login {
        self.account(match shape {
            Shape::LeastPrivileged => MqttAccount::LeastPrivileged,
            Shape::Superuser => MqttAccount::Admin,
            Shape::MissingGrant => MqttAccount::MissingGrant,
        })
        .into()
    }
    fn marked(&self, marker: &str) -> Login {
        // Every account reads the same topics: the marker is the broker's, one retained message.
        self.publish_retained(crate::MARKER_TOPIC, marker);
        self.login(Shape::LeastPrivileged)
    }
    fn provisioned(&self, user: &str, password: &str, statements: &[String]) -> Login {
        self.ctl_script(&statements.join("\n"));
        self.account_of(user, password).into()
    }
    fn revoke_one(&self, login: &Login) {
        self.ctl(&["removeRoleACL", &login.user, "subscribePattern", "orders/#"]);
    }
    fn grant_extra(&self, login: &Login) {
        self.ctl(&[
            "addRoleACL",
            &login.user,
            "subscribePattern",
            "$SYS/#",
            "allow",
        ]);
    }
    fn demand_client_cert(&self, _login: &Login) {
        // The whole broker demands one (`require_certificate true`): see `client_cert_server`.
    }
    fn binding_files(login: &Login) -> Vec<(&'static str, String)> {
        let login = Login {
            database: None,
            ..login.clone()
        };
        binding_files("mqtt", &login, &[])
    }
    fn plaintext(url: &str) -> String {
        let url = url.replacen("mqtts://", "mqtt://", 1);
        url.split_once('?')
            .map_or(url.clone(), |(u, _)| u.to_owned())
    }
    fn decliner() -> Box<dyn Decliner> {
        // A plaintext broker that lets anyone in: an MQTT 5 CONNACK, success.
        Box::new(PlaintextServer::start_answering(b"\x20\x03\x00\x00\x00"))
    }
}
