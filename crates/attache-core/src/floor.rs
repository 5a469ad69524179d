//! The oldest TLS version a server accepts (`tls-weak-protocol`).
//!
//! attache itself speaks TLS 1.2 and 1.3 only (rustls cannot speak older versions), so its
//! own connections are never weak; other clients of the same server may be. Like sslscan and
//! testssl.sh, attache asks: on a fresh connection, after the kind's steps before TLS
//! ([`Kind::before_tls`](crate::Kind::before_tls)), it sends one ClientHello offering at most
//! TLS 1.1 (built and read with the `tls-parser` crate) and reads whether a ServerHello
//! answers, and with which version. It never continues the handshake: it closes right after
//! the answer, so no key exchange happens and nothing but a ClientHello is sent.

use std::time::Duration;

use tls_parser::{
    SNIType, TlsCipherSuiteID, TlsClientHelloContents, TlsCompressionID, TlsExtension, TlsMessage,
    TlsMessageHandshake, TlsPlaintext, TlsRecordHeader, TlsRecordType, TlsVersion,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::finding::{CheckId, Finding, Severity};

/// Cipher suites TLS 1.0 and 1.1 servers take: ECDHE with ECDSA and RSA certificates, and RSA
/// key exchange.
const LEGACY_SUITES: &[u16] = &[
    0xc00a, 0xc009, // ECDHE-ECDSA-AES256-SHA, ECDHE-ECDSA-AES128-SHA
    0xc014, 0xc013, // ECDHE-RSA-AES256-SHA, ECDHE-RSA-AES128-SHA
    0x0035, 0x002f, // AES256-SHA, AES128-SHA
];

/// The ClientHello: at most TLS 1.1 (in a TLS 1.0 record, as clients send it), SNI for a
/// DNS name, the usual curves, uncompressed points.
pub fn legacy_client_hello(host: &str) -> Vec<u8> {
    let random = [0x5au8; 32];
    let mut extensions = Vec::new();
    if host.parse::<std::net::IpAddr>().is_err() {
        extensions.push(TlsExtension::SNI(vec![(
            SNIType::HostName,
            host.as_bytes(),
        )]));
    }
    extensions.push(TlsExtension::EllipticCurves(vec![
        tls_parser::NamedGroup(0x0017),
        tls_parser::NamedGroup(0x0018),
        tls_parser::NamedGroup(0x001d),
    ]));
    let mut ext = cookie_factory_extensions(&extensions);
    // ec_point_formats: uncompressed (tls-parser does not write this one).
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    let hello = TlsClientHelloContents {
        version: TlsVersion::Tls11,
        random: &random,
        session_id: None,
        ciphers: LEGACY_SUITES.iter().map(|&c| TlsCipherSuiteID(c)).collect(),
        comp: vec![TlsCompressionID(0)],
        ext: Some(&ext),
    };
    let plaintext = TlsPlaintext {
        hdr: TlsRecordHeader {
            record_type: TlsRecordType::Handshake,
            version: TlsVersion::Tls10,
            len: 0,
        },
        msg: vec![TlsMessage::Handshake(TlsMessageHandshake::ClientHello(
            hello,
        ))],
    };
    use tls_parser::Serialize as _;
    plaintext
        .serialize()
        .expect("a ClientHello of fixed parts always serializes")
}

/// The extensions as a ClientHello carries them, without the list's own length.
fn cookie_factory_extensions(extensions: &[TlsExtension]) -> Vec<u8> {
    let bytes = cookie_factory::gen_simple(tls_parser::gen_tls_extensions(extensions), Vec::new())
        .expect("SNI and supported groups always serialize");
    bytes.get(2..).map(<[u8]>::to_vec).unwrap_or_default()
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Floor {
    /// A ServerHello with this version (`TLSv1.0`, `TLSv1.1`): the server accepts it.
    Accepts(&'static str),
    /// An alert, a close, or a ServerHello for TLS 1.2 or later: it does not.
    Refuses,
}

fn version_name(v: TlsVersion) -> Option<&'static str> {
    match v {
        TlsVersion::Ssl30 => Some("SSLv3"),
        TlsVersion::Tls10 => Some("TLSv1.0"),
        TlsVersion::Tls11 => Some("TLSv1.1"),
        _ => None,
    }
}

/// Reads the server's answer to [`legacy_client_hello`]: its first record, as far as its
/// first handshake message.
pub fn read_answer(bytes: &[u8]) -> Option<Floor> {
    let (_, record) = tls_parser::parse_tls_raw_record(bytes).ok()?;
    match record.hdr.record_type {
        TlsRecordType::Alert => Some(Floor::Refuses),
        TlsRecordType::Handshake => {
            let (_, message) = tls_parser::parse_tls_message_handshake(record.data).ok()?;
            match message {
                TlsMessage::Handshake(TlsMessageHandshake::ServerHello(hello)) => {
                    Some(match version_name(hello.version) {
                        Some(name) => Floor::Accepts(name),
                        None => Floor::Refuses,
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Sends the legacy ClientHello on `stream` (positioned where the kind's TLS begins) and reads
/// the answer within `timeout`. `None`: no answer that says (timeout, garbage).
pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    timeout: Duration,
) -> Option<Floor> {
    let run = async {
        stream.write_all(&legacy_client_hello(host)).await.ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                // Closed without an answer: it does not speak that version.
                return Some(Floor::Refuses);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(answer) = read_answer(&buf) {
                return Some(answer);
            }
            if buf.len() > 64 * 1024 {
                return None;
            }
        }
    };
    tokio::time::timeout(timeout, run).await.ok().flatten()
}

/// The `tls-weak-protocol` finding for a server that accepts `version`.
pub fn finding(resource: &str, target: &str, version: &str) -> Finding {
    Finding::new(
        CheckId::TlsWeakProtocol,
        Severity::Medium,
        resource,
        format!(
            "{target} accepts {version}: attache never speaks it, but any client of this server that allows it can be held to it"
        ),
        "set the server's minimum TLS version to 1.2",
    )
    .with_evidence([format!(
        "a ClientHello offering at most TLS 1.1 was answered with a ServerHello for {version}"
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_parses_back_as_tls_1_1_with_its_suites() {
        let bytes = legacy_client_hello("db.internal");
        let (_, record) = tls_parser::parse_tls_plaintext(&bytes).unwrap();
        assert_eq!(record.hdr.version, TlsVersion::Tls10);
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = &record.msg[0] else {
            panic!("not a ClientHello");
        };
        assert_eq!(hello.version, TlsVersion::Tls11);
        assert_eq!(hello.ciphers.len(), LEGACY_SUITES.len());
        let (_, extensions) =
            tls_parser::parse_tls_client_hello_extensions(hello.ext.unwrap()).unwrap();
        assert!(extensions.iter().any(|e| matches!(e, TlsExtension::SNI(_))));
        assert!(
            extensions
                .iter()
                .any(|e| matches!(e, TlsExtension::EcPointFormats(_)))
        );
        // No SNI for an IP address.
        let bytes = legacy_client_hello("127.0.0.1");
        let (_, record) = tls_parser::parse_tls_plaintext(&bytes).unwrap();
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = &record.msg[0] else {
            panic!("not a ClientHello");
        };
        let (_, extensions) =
            tls_parser::parse_tls_client_hello_extensions(hello.ext.unwrap()).unwrap();
        assert!(!extensions.iter().any(|e| matches!(e, TlsExtension::SNI(_))));
    }

    #[test]
    fn answers_are_read_by_record_and_message() {
        // An alert: handshake_failure.
        assert_eq!(read_answer(&[21, 3, 1, 0, 2, 2, 40]), Some(Floor::Refuses));
        assert_eq!(
            read_answer(&[21, 3, 1]),
            None,
            "a partial record says nothing yet"
        );
        assert_eq!(read_answer(b"HTTP/1.1 400"), None);
    }
}
