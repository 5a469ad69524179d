//! TLS as attache does it: rustls with the aws-lc-rs provider, TLS 1.2 minimum, verify-full
//! (chain to the binding's CA or the system roots, and hostname/IP match), and the facts of
//! each handshake recorded as posture.
//!
//! There is no switch here that turns verification off.

use std::error::Error as StdError;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::binding::binding_invalid;
use crate::finding::{CheckId, Finding, Severity};
use crate::source::Sourced;

/// Installs aws-lc-rs as the process's rustls provider (once; an already-installed provider is
/// left alone). Every entry point calls it, so two providers in the dependency graph cannot
/// make the first handshake panic.
pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Which certificates a server's chain must lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's trust store.
    System,
    /// Exactly the CA certificates in this PEM file (the binding's CA parameter or `ca.crt`).
    PemFile(Sourced<PathBuf>),
}

/// A client certificate and its key, for servers that ask for one (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// PEM certificate chain.
    pub cert: Sourced<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Sourced<PathBuf>,
}

/// What a verify-full TLS client needs to know. Verification itself is not configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Trust anchors.
    pub roots: Roots,
    /// Client certificate, if the binding has one.
    pub identity: Option<ClientIdentity>,
}

/// A ready verify-full client configuration.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient(verify-full)")
    }
}

/// The operating system's trust anchors (loaded once), or why there are none.
pub fn system_roots() -> Result<&'static [CertificateDer<'static>], String> {
    static ROOTS: OnceLock<Result<Vec<CertificateDer<'static>>, String>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            Err(match found.errors.first() {
                Some(e) => format!("no system CA certificates could be loaded: {e}"),
                None => "the system trust store is empty".to_owned(),
            })
        } else {
            Ok(found.certs)
        }
    });
    roots.as_ref().map(Vec::as_slice).map_err(Clone::clone)
}

impl TlsSettings {
    /// Builds the client configuration. A CA or key file that cannot be used is a
    /// `binding-invalid` finding naming the field and its source.
    pub fn client(&self, resource: &str) -> Result<TlsClient, Finding> {
        install_provider();
        let mut roots = RootCertStore::empty();
        match &self.roots {
            Roots::System => {
                let certs = system_roots().map_err(|e| {
                    Finding::new(
                        CheckId::BindingInvalid,
                        Severity::High,
                        resource,
                        format!("no CA given and {e}"),
                        "name the server's CA in the binding (its CA parameter, or ca.crt in a service binding) or install ca-certificates",
                    )
                })?;
                roots.add_parsable_certificates(certs.iter().cloned());
            }
            Roots::PemFile(file) => {
                let certs = read_certs(&file.value)
                    .map_err(|e| binding_invalid(resource, "CA certificate", &file.source, e))?;
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        binding_invalid(
                            resource,
                            "CA certificate",
                            &file.source,
                            format!("unusable certificate: {e}"),
                        )
                    })?;
                }
            }
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("aws-lc-rs supports TLS 1.2 and 1.3")
            .with_root_certificates(roots);
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let chain = read_certs(&id.cert.value).map_err(|e| {
                    binding_invalid(resource, "client certificate", &id.cert.source, e)
                })?;
                let key = PrivateKeyDer::from_pem_file(&id.key.value).map_err(|e| {
                    binding_invalid(resource, "client key", &id.key.source, pem_error(&e))
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    binding_invalid(
                        resource,
                        "client key",
                        &id.key.source,
                        format!("does not fit the certificate: {e}"),
                    )
                })?
            }
        };
        Ok(TlsClient {
            config: Arc::new(config),
        })
    }
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("cannot read: {}", io.kind()),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item found".to_owned(),
        _ => "not valid PEM".to_owned(),
    }
}

fn read_certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&e))?;
    if certs.is_empty() {
        return Err("no certificate in the file".to_owned());
    }
    Ok(certs)
}

impl TlsClient {
    /// The rustls configuration (verify-full, TLS 1.2+).
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// Runs the handshake over `stream`, verifying the chain and that the certificate is valid
    /// for `host` (a DNS name or an IP address), and records what was negotiated.
    pub async fn handshake<S>(&self, host: &str, stream: S) -> io::Result<(TlsStream<S>, TlsFacts)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{host}` is not a valid TLS server name"),
            )
        })?;
        let tls = TlsConnector::from(self.config.clone())
            .connect(name, stream)
            .await?;
        let facts = TlsFacts::of(tls.get_ref().1);
        Ok((tls, facts))
    }
}

/// What a handshake negotiated and what the server presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFacts {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// Always `verify-full`: chain and hostname were checked (attache makes no other kind).
    pub verification: String,
    /// The peer certificate's subject.
    pub peer_subject: String,
    /// Its issuer.
    pub peer_issuer: String,
    /// Its subject alternative names (`DNS:…`, `IP:…`).
    pub peer_sans: Vec<String>,
    /// When it expires, RFC 3339.
    pub peer_not_after: String,
    /// Whole days until it expires (negative once expired).
    pub peer_days_left: i64,
    /// The tls-server-end-point channel-binding hash (RFC 5929), for kinds whose login binds
    /// itself to the TLS channel.
    #[serde(skip)]
    pub channel_binding: Option<Vec<u8>>,
    /// The oldest TLS version the server accepts, as probed (`TLSv1.2` when it refuses older
    /// ones, `TLSv1.1` or `TLSv1.0` when it accepts them: `tls-weak-protocol`); `None` when the
    /// kind has no probe or the server gave no clear answer.
    pub floor: Option<String>,
}

impl TlsFacts {
    /// Reads the facts off an established connection.
    pub fn of(conn: &rustls::ClientConnection) -> TlsFacts {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        };
        let cipher_suite = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_else(|| "unknown".to_owned());
        let mut facts = TlsFacts {
            version,
            cipher_suite,
            verification: "verify-full".to_owned(),
            peer_subject: String::new(),
            peer_issuer: String::new(),
            peer_sans: Vec::new(),
            peer_not_after: String::new(),
            peer_days_left: 0,
            channel_binding: None,
            floor: None,
        };
        if let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) {
            facts.read_certificate(leaf.as_ref());
        }
        facts
    }

    fn read_certificate(&mut self, der: &[u8]) {
        use x509_parser::prelude::*;
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return;
        };
        self.peer_subject = cert.subject().to_string();
        self.peer_issuer = cert.issuer().to_string();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => self.peer_sans.push(format!("DNS:{d}")),
                    GeneralName::IPAddress(ip) => {
                        let ip = match ip.len() {
                            4 => <[u8; 4]>::try_from(*ip)
                                .map(|b| std::net::IpAddr::from(b).to_string())
                                .ok(),
                            16 => <[u8; 16]>::try_from(*ip)
                                .map(|b| std::net::IpAddr::from(b).to_string())
                                .ok(),
                            _ => None,
                        };
                        self.peer_sans
                            .push(format!("IP:{}", ip.unwrap_or_else(|| "?".into())));
                    }
                    _ => {}
                }
            }
        }
        let not_after = cert.validity().not_after.timestamp();
        if let Ok(t) = ::time::OffsetDateTime::from_unix_timestamp(not_after) {
            self.peer_not_after = t
                .format(&::time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
        }
        let now = ::time::OffsetDateTime::now_utc().unix_timestamp();
        self.peer_days_left = (not_after - now).div_euclid(86_400);
        self.channel_binding =
            channel_binding_hash(&cert.signature_algorithm.algorithm.to_id_string(), der);
    }
}

/// tls-server-end-point: the certificate hashed with its signature's hash, SHA-256 for MD5 and
/// SHA-1 (RFC 5929 §4.1). None for algorithms without a defined hash (Ed25519).
fn channel_binding_hash(sig_oid: &str, der: &[u8]) -> Option<Vec<u8>> {
    use sha2::{Digest, Sha256, Sha384, Sha512};
    match sig_oid {
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Some(Sha384::digest(der).to_vec()),
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Some(Sha512::digest(der).to_vec()),
        "1.3.101.112" | "1.3.101.113" => None,
        _ => Some(Sha256::digest(der).to_vec()),
    }
}

/// The `tls-cert-expiring` finding for a certificate that expires within 30 days (high within 7).
pub fn expiry_finding(resource: &str, facts: &TlsFacts) -> Option<Finding> {
    if facts.peer_not_after.is_empty() || facts.peer_days_left >= 30 {
        return None;
    }
    let severity = if facts.peer_days_left < 7 {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(
        Finding::new(
            CheckId::TlsCertExpiring,
            severity,
            resource,
            format!(
                "the server certificate expires in {} days",
                facts.peer_days_left
            ),
            "renew the server certificate before it expires; clients will refuse it afterwards",
        )
        .with_evidence([
            format!("subject {}", facts.peer_subject),
            format!("not after {}", facts.peer_not_after),
        ]),
    )
}

/// The rustls error in `err`'s source chain, looking inside `io::Error`s as well.
fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner),
            None => e.source(),
        };
    }
    None
}

/// If `err` (or anything in its source chain) is a certificate verification failure, why.
pub fn certificate_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = rustls_error(err)? else {
        return None;
    };
    Some(match c {
        C::UnknownIssuer => {
            "the certificate is not signed by a trusted CA (a wrong CA, or a man in the middle)"
                .to_owned()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the certificate is not valid for the host name in the binding".to_owned()
        }
        C::Expired | C::ExpiredContext { .. } => "the certificate has expired".to_owned(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the certificate is not valid yet".to_owned()
        }
        C::Revoked => "the certificate is revoked".to_owned(),
        C::BadSignature => "the certificate's signature is invalid".to_owned(),
        other => format!("the certificate was rejected: {other:?}"),
    })
}

/// If `err` (or its source chain) is any other TLS failure (alert, protocol), its text.
pub fn tls_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    rustls_error(err).map(ToString::to_string)
}
