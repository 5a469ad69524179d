//! A throwaway PKI (EC P-256, made with rcgen) written as PEM files.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// Which kind of server certificate to issue (see [`Pki::issue_server_cert`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProfile {
    /// SAN `IP:127.0.0.1, DNS:localhost`, valid from a day ago for 365 days.
    Valid,
    /// Same names, but valid from 30 days ago until 2 days ago.
    Expired,
    /// Same names, valid from a day ago until the given number of days from now.
    ExpiresInDays(u32),
    /// Valid dates, but the only SAN is `DNS:wrong.example`, so it does not match 127.0.0.1/localhost.
    WrongName,
}

impl CertProfile {
    /// A short lowercase name, used in file names.
    pub(crate) fn slug(self) -> String {
        match self {
            CertProfile::Valid => "valid".to_owned(),
            CertProfile::Expired => "expired".to_owned(),
            CertProfile::ExpiresInDays(days) => format!("expires-in-{days}d"),
            CertProfile::WrongName => "wrong-name".to_owned(),
        }
    }
}

/// A throwaway PKI written as PEM files into a directory: a CA ("attache test CA"), a server
/// certificate for `127.0.0.1`/`localhost` and a client certificate (`attache-test-client`) for mTLS.
pub struct Pki {
    dir: PathBuf,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Makes a new CA, server certificate (SAN `IP:127.0.0.1`, `DNS:localhost`, valid from a day
    /// ago for 365 days) and client certificate (CN `attache-test-client`), and writes them into
    /// `dir` (created if missing): `ca.crt`, `server.crt`, `server.key` (mode 0600), `client.crt`,
    /// `client.key` (0600).
    ///
    /// Panics on any failure: this is test support code.
    pub fn new(dir: &Path) -> Pki {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let (ca_cert, issuer) = new_ca("attache test CA");
        let ca_pem = ca_cert.pem();
        write_file(&dir.join("ca.crt"), ca_pem.as_bytes(), 0o644);
        let pki = Pki {
            dir: dir.to_owned(),
            ca_pem,
            issuer,
        };
        pki.issue_server_cert("server", CertProfile::Valid);

        let (cert, key) = issue_client_cert(&pki.issuer, "attache-test-client");
        write_file(&pki.client_cert_path(), cert.as_bytes(), 0o644);
        write_file(&pki.client_key_path(), key.as_bytes(), 0o600);
        pki
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the CA certificate (`ca.crt`).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Path of the valid server certificate (`server.crt`).
    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// Path of the server certificate's private key (`server.key`, PKCS#8, mode 0600).
    pub fn server_key_path(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// Path of the client certificate (`client.crt`, CN `attache-test-client`).
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.join("client.crt")
    }

    /// Path of the client certificate's private key (`client.key`, PKCS#8, mode 0600).
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.join("client.key")
    }

    /// The server certificate and key for `profile`: the PKI's own for
    /// [`CertProfile::Valid`], else a new one issued as the profile says.
    pub(crate) fn server_cert_for(&self, profile: CertProfile) -> (PathBuf, PathBuf) {
        match profile {
            CertProfile::Valid => (self.server_cert_path(), self.server_key_path()),
            other => self.issue_server_cert(
                &format!("server-{}-{}", other.slug(), crate::instance::next_id()),
                other,
            ),
        }
    }

    /// Issues a further server certificate signed by this CA, shaped by `profile`, and writes it
    /// as `<name>.crt` / `<name>.key` (0600) into [`Pki::dir`]. Returns (certificate path, key path).
    pub fn issue_server_cert(&self, name: &str, profile: CertProfile) -> (PathBuf, PathBuf) {
        let (cert, key) = issue_server_cert(&self.issuer, profile);
        let (cert, key) = (cert.pem(), key.serialize_pem());
        let cert_path = self.dir.join(format!("{name}.crt"));
        let key_path = self.dir.join(format!("{name}.key"));
        write_file(&cert_path, cert.as_bytes(), 0o644);
        write_file(&key_path, key.as_bytes(), 0o600);
        (cert_path, key_path)
    }
}

/// A self-signed CA certificate and the issuer to sign with.
pub(crate) fn new_ca(common_name: &str) -> (Certificate, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    let key = KeyPair::generate().expect("generate CA key");
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert, Issuer::new(params, key))
}

/// A server certificate shaped by `profile` and its key.
pub(crate) fn issue_server_cert(
    issuer: &Issuer<'static, KeyPair>,
    profile: CertProfile,
) -> (Certificate, KeyPair) {
    let now = OffsetDateTime::now_utc();
    let (not_before, not_after) = match profile {
        CertProfile::Valid | CertProfile::WrongName => {
            (now - Duration::days(1), now + Duration::days(365))
        }
        CertProfile::Expired => (now - Duration::days(30), now - Duration::days(2)),
        CertProfile::ExpiresInDays(days) => (
            now - Duration::days(1),
            now + Duration::days(i64::from(days)),
        ),
    };
    let (common_name, sans) = match profile {
        CertProfile::WrongName => (
            "wrong.example",
            vec![SanType::DnsName(
                "wrong.example".try_into().expect("valid DNS name"),
            )],
        ),
        _ => (
            "localhost",
            vec![
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                SanType::DnsName("localhost".try_into().expect("valid DNS name")),
            ],
        ),
    };
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.subject_alt_names = sans;
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("generate server key");
    let cert = params.signed_by(&key, issuer).expect("sign server cert");
    (cert, key)
}

fn issue_client_cert(issuer: &Issuer<'static, KeyPair>, common_name: &str) -> (String, String) {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("generate client key");
    let cert = params.signed_by(&key, issuer).expect("sign client cert");
    (cert.pem(), key.serialize_pem())
}

/// Writes `contents` to `path` with `mode`. The mode is applied when the file is created (so a
/// Writes `password` (no trailing newline) into `dir/<user>.password` with mode 0600 and returns
/// the path: every test account's password file.
pub(crate) fn password_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    let path = dir.join(format!("{user}.password"));
    write_file(&path, password.as_bytes(), 0o600);
    path
}

/// key is never briefly world-readable) and again afterwards in case the file already existed.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    file.write_all(contents)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
