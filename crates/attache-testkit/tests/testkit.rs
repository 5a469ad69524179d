//! Tests of the test kit itself: real servers, real clients (rustls and libpq's psql).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use attache_testkit::{Account, CertProfile, MitmProxy, NEEDS, PgServer, Pki, StripProxy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore};

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// psql from the newest installed PostgreSQL.
fn psql() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL installed")
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let psql = e.path().join("bin/psql");
            psql.is_file().then_some((version, psql))
        })
        .collect();
    found.sort();
    found.pop().expect("a psql binary").1
}

/// Runs psql with a connection string and a command, with no PG* settings from our environment.
fn run_psql(conninfo: &str, password: Option<&str>, sql: &str) -> Output {
    let mut cmd = Command::new(psql());
    cmd.args([
        "-X",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo,
        "-c",
        sql,
    ]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PGCONNECT_TIMEOUT", "10")
        .env("PGPASSFILE", "/dev/null");
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    cmd.stdin(Stdio::null()).output().expect("run psql")
}

fn client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    Arc::new(
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// SSLRequest, then a verifying rustls handshake for 127.0.0.1 trusting only `ca_pem`.
fn pg_tls_handshake(port: u16, ca_pem: &str) -> Result<(), rustls::Error> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    tcp.write_all(&SSL_REQUEST).expect("send SSLRequest");
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).expect("SSLRequest answer");
    assert_eq!(&answer, b"S", "server must accept TLS");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let mut conn = ClientConnection::new(client_config(ca_pem), name).expect("client");
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            let inner = e.into_inner().expect("rustls error inside io::Error");
            return Err(*inner.downcast::<rustls::Error>().expect("a rustls::Error"));
        }
    }
    Ok(())
}

fn is_expired(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        )
    )
}

fn not_after(pem_path: &std::path::Path) -> i64 {
    let pem = fs::read(pem_path).expect("read cert");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
    let cert = pem.parse_x509().expect("X.509");
    cert.validity().not_after.timestamp()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn shared_server_answers_admin_sql() {
    let server = PgServer::shared();
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.admin_sql("postgres", "SELECT 1").trim(), "1");
    // Several statements, each in its own transaction, rows as plain text.
    let out = server.admin_sql("postgres", "SELECT 1, 'a';\nSELECT 2, 'b';");
    assert_eq!(out, "1|a\n2|b\n");
}

#[test]
fn shared_server_is_tls_only_and_verifiable_with_its_ca() {
    let server = PgServer::shared();
    assert!(server.ca_path().is_file());
    pg_tls_handshake(server.port(), &server.pki().ca_pem()).expect("verified TLS handshake");
    let settings = server.admin_sql(
        "postgres",
        "SELECT current_setting('ssl'), current_setting('ssl_min_protocol_version')",
    );
    assert_eq!(settings.trim(), "on|TLSv1.2");

    let account = server.account(Account::LeastPrivileged);
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname={} user={} sslmode=disable",
        account.port, account.database, account.user
    );
    let out = run_psql(&conninfo, Some(&account.password), "SELECT 1");
    assert!(!out.status.success(), "plaintext login must be rejected");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no encryption"), "{stderr}");
}

#[test]
fn fresh_database_has_fixture_and_no_public_connect() {
    let server = PgServer::shared();
    let a = server.fresh_database();
    let b = server.fresh_database();
    assert_ne!(a, b);
    assert!(a.starts_with("t_"));
    assert_eq!(
        server
            .admin_sql(&a, "SELECT email FROM public.users")
            .trim(),
        "a@example.com"
    );
    let acl = server.admin_sql(
        "postgres",
        &format!("SELECT has_database_privilege('public', '{a}', 'CONNECT')"),
    );
    assert_eq!(acl.trim(), "f");
}

#[test]
fn accounts_have_the_expected_shape() {
    let server = PgServer::shared();
    let cases = [
        (Account::LeastPrivileged, false),
        (Account::Superuser, true),
        (Account::MemberOfSuperuserRole, false),
        (Account::WritesAllData, false),
        (Account::MissingGrant, false),
        (Account::TableOwner, false),
    ];
    for (case, superuser) in cases {
        let account = server.account(case);
        assert!(account.password.starts_with("planted-"), "{account:?}");
        assert!(account.password.len() >= 32);
        assert!(!format!("{account:?}").contains(&account.password));
        let row = server.admin_sql(
            "postgres",
            &format!(
                "SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = '{}'",
                account.user
            ),
        );
        let expected = if superuser { "t|t" } else { "f|t" };
        assert_eq!(row.trim(), expected, "{case:?}");

        let db = &account.database;
        let user = &account.user;
        let check = |sql: &str| server.admin_sql(db, sql).trim().to_owned();
        match case {
            Account::MemberOfSuperuserRole => {
                let groups = check(&format!(
                    "SELECT r.rolname, r.rolsuper FROM pg_auth_members m \
                     JOIN pg_roles r ON r.oid = m.roleid \
                     JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = '{user}'"
                ));
                assert!(
                    groups.starts_with("r_super_") && groups.ends_with("|t"),
                    "{groups}"
                );
                assert_eq!(
                    check(&format!(
                        "SELECT rolinherit FROM pg_roles WHERE rolname = '{user}'"
                    )),
                    "f"
                );
            }
            Account::WritesAllData => assert_eq!(
                check(&format!(
                    "SELECT pg_has_role('{user}', 'pg_write_all_data', 'MEMBER')"
                )),
                "t"
            ),
            Account::TableOwner => assert_eq!(
                check("SELECT tableowner FROM pg_tables WHERE tablename = 'signups'"),
                *user
            ),
            _ => {}
        }
        if case != Account::Superuser {
            let insert = check(&format!(
                "SELECT has_table_privilege('{user}', 'public.signups', 'INSERT')"
            ));
            let expected = if case == Account::MissingGrant {
                "f"
            } else {
                "t"
            };
            assert_eq!(insert, expected, "{case:?}");
            assert_eq!(
                check(&format!(
                    "SELECT has_column_privilege('{user}', 'public.users', 'password_hash', 'SELECT')"
                )),
                "f",
                "{case:?}: password_hash is never granted"
            );
        }
    }
    assert_eq!(NEEDS.len(), 3);
}

#[test]
fn least_privileged_account_logs_in_with_its_url_over_verified_tls() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    let url = account.url();
    assert!(url.starts_with(&format!(
        "postgres://{}:{}@127.0.0.1:{}/{}?sslmode=verify-full&sslrootcert=/",
        account.user, account.password, account.port, account.database
    )));

    let out = run_psql(
        &url,
        None,
        "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}|t", account.user)
    );

    // Granted: insert into signups (uses the sequence) and read users' id/email; not granted:
    // password_hash.
    let out = run_psql(
        &url,
        None,
        "INSERT INTO public.signups (email) VALUES ('b@example.com'); SELECT id, email FROM public.users",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_psql(&url, None, "SELECT password_hash FROM public.users");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));

    // The password-less URL plus the password file.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = account.write_password_file(dir.path());
    assert_eq!(fs::read_to_string(&file).unwrap(), account.password);
    assert_eq!(mode(&file), 0o600);
    let bare = account.url_without_password();
    assert!(!bare.contains(&account.password));
    assert!(bare.starts_with(&format!("postgres://{}@127.0.0.1:", account.user)));
    let out = run_psql(&bare, Some(&account.password), "SELECT current_user");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pki_writes_its_files_with_safe_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path());
    assert_eq!(pki.dir(), dir.path());
    for path in [
        pki.ca_path(),
        pki.server_cert_path(),
        pki.server_key_path(),
        pki.client_cert_path(),
        pki.client_key_path(),
    ] {
        assert!(path.is_file(), "{}", path.display());
    }
    assert_eq!(mode(&pki.server_key_path()), 0o600);
    assert_eq!(mode(&pki.client_key_path()), 0o600);
    assert_eq!(fs::read_to_string(pki.ca_path()).unwrap(), pki.ca_pem());

    let year = 365 * 86_400;
    let valid_until = not_after(&pki.server_cert_path());
    assert!((valid_until - now() - year).abs() < 3600);

    let (expired, key) = pki.issue_server_cert("old", CertProfile::Expired);
    assert_eq!(expired, dir.path().join("old.crt"));
    assert_eq!(mode(&key), 0o600);
    assert!(
        not_after(&expired) < now() - 86_400,
        "expired cert must have not_after in the past"
    );

    let (soon, _) = pki.issue_server_cert("soon", CertProfile::ExpiresInDays(5));
    assert!((not_after(&soon) - now() - 5 * 86_400).abs() < 3600);
}

#[test]
fn started_servers_present_the_requested_certificate_and_stop_on_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Arc::new(Pki::new(dir.path()));

    let expired = PgServer::start(pki.clone(), CertProfile::Expired);
    let err = pg_tls_handshake(expired.port(), &pki.ca_pem()).expect_err("expired must fail");
    assert!(is_expired(&err), "{err:?}");
    assert_eq!(expired.admin_sql("postgres", "SELECT 1").trim(), "1");

    let wrong = PgServer::start(pki.clone(), CertProfile::WrongName);
    let err = pg_tls_handshake(wrong.port(), &pki.ca_pem()).expect_err("wrong name must fail");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );

    let port = expired.port();
    drop(expired);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "a dropped server must stop listening"
    );
    drop(wrong);
}

#[test]
fn strip_proxy_refuses_tls_and_records_what_follows() {
    let proxy = StripProxy::start();
    let mut tcp = TcpStream::connect(("127.0.0.1", proxy.port())).expect("connect");
    tcp.write_all(&SSL_REQUEST).unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"N");
    // A downgrading client would now send its StartupMessage...
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(b"user\0victim\0\0");
    let mut msg = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&startup);
    tcp.write_all(&msg).unwrap();
    // ...and get asked for a cleartext password.
    let mut auth = [0u8; 9];
    tcp.read_exact(&mut auth).unwrap();
    assert_eq!(auth, [b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
    let password = b"planted-by-hand\0";
    let mut msg = vec![b'p'];
    msg.extend_from_slice(&((password.len() + 4) as u32).to_be_bytes());
    msg.extend_from_slice(password);
    tcp.write_all(&msg).unwrap();
    let mut kind = [0u8; 1];
    tcp.read_exact(&mut kind).unwrap();
    assert_eq!(&kind, b"E");
    drop(tcp);

    let received = String::from_utf8_lossy(&proxy.received_after_refusal()).into_owned();
    assert!(received.contains("victim"), "{received:?}");
    assert!(received.contains("planted-by-hand"), "{received:?}");
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn strip_proxy_catches_a_libpq_client_that_prefers_but_does_not_require_tls() {
    let proxy = StripProxy::start();
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=app user=victim sslmode=prefer gssencmode=disable",
        proxy.port()
    );
    let out = run_psql(&conninfo, Some("planted-libpq-secret"), "SELECT 1");
    assert!(!out.status.success());
    let received = String::from_utf8_lossy(&proxy.received_after_refusal()).into_owned();
    assert!(received.contains("planted-libpq-secret"), "{received:?}");

    // sslmode=require gives up instead and sends nothing.
    let strict = StripProxy::start();
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=app user=victim sslmode=require gssencmode=disable",
        strict.port()
    );
    let out = run_psql(&conninfo, Some("planted-libpq-secret"), "SELECT 1");
    assert!(!out.status.success());
    assert!(strict.received_after_refusal().is_empty());
    assert_eq!(strict.connections(), 1);
}

#[test]
fn mitm_proxy_certificate_is_not_signed_by_the_test_ca() {
    let server = PgServer::shared();
    let proxy = MitmProxy::start(server.port());
    let err = pg_tls_handshake(proxy.port(), &server.pki().ca_pem()).expect_err("must fail");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
    // The server side sees the client's alert, not a finished handshake.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(proxy.handshakes_completed(), 0);
    assert!(proxy.received().is_empty());

    // A client that verifies nothing completes the handshake and hands over its password.
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=app user=victim sslmode=require gssencmode=disable",
        proxy.port()
    );
    let out = run_psql(&conninfo, Some("planted-mitm-secret"), "SELECT 1");
    assert!(!out.status.success());
    assert_eq!(proxy.handshakes_completed(), 1);
    let received = String::from_utf8_lossy(&proxy.received()).into_owned();
    assert!(received.contains("planted-mitm-secret"), "{received:?}");

    // libpq with verify-full and the test CA refuses it.
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=app user=victim sslmode=verify-full sslrootcert={} gssencmode=disable",
        proxy.port(),
        server.ca_path().display()
    );
    let out = run_psql(&conninfo, Some("planted-mitm-secret-2"), "SELECT 1");
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&proxy.received()).contains("planted-mitm-secret-2"));
    assert_eq!(proxy.handshakes_completed(), 1);
}

/// Not a test on its own: the body of the child process that
/// `guardian_cleans_up_after_a_killed_process` starts and SIGKILLs.
#[test]
fn guardian_helper_process() {
    if std::env::var_os("ATTACHE_TESTKIT_HELPER").is_none() {
        return;
    }
    let server = PgServer::shared();
    println!("PORT={}", server.port());
    std::io::stdout().flush().unwrap();
    loop {
        thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn guardian_cleans_up_after_a_killed_process() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["guardian_helper_process", "--exact", "--nocapture"])
        .env("ATTACHE_TESTKIT_HELPER", "1")
        .env_remove("ATTACHE_TESTKIT_KEEP")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn helper");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines
        .find_map(|line| line.ok()?.strip_prefix("PORT=")?.parse().ok())
        .expect("helper reports its port");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    let prefix = format!("{pid}-");
    let instance_dirs = || {
        fs::read_dir("/tmp/attache-tk")
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(instance_dirs(), 1);

    child.kill().expect("SIGKILL the helper");
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(15);
    while (TcpStream::connect(("127.0.0.1", port)).is_ok() || instance_dirs() > 0)
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "postmaster still listening"
    );
    assert_eq!(instance_dirs(), 0, "instance dir left behind");
}
