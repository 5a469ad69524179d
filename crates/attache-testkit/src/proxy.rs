//! Attack fixtures: fake PostgreSQL servers that try to get a client to give up its
//! credentials, by refusing TLS (downgrade) or by presenting a certificate from another CA (MITM).
//!
//! Both speak just enough of the protocol to make a careless client hand over its password: after
//! the StartupMessage they ask for the password in cleartext (`AuthenticationCleartextPassword`),
//! record the PasswordMessage, then fail the login with an ErrorResponse so the client does not hang.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::pki::{CertProfile, issue_server_cert, new_ca};

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// First byte of a TLS handshake record: a client using `sslnegotiation=direct` (PostgreSQL 17+)
/// starts with its ClientHello instead of an SSLRequest.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// Refuse messages bigger than this: we are not a real server.
const MAX_MESSAGE: usize = 1 << 20;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections on `127.0.0.1:<ephemeral>` and runs a handler thread per connection.
/// Dropping it stops accepting, shuts down every open connection and joins all threads.
struct Acceptor {
    port: u16,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Acceptor {
    fn start<F>(handler: F) -> Acceptor
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let workers = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let accept_thread = {
            let (stop, streams, workers) = (stop.clone(), streams.clone(), workers.clone());
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
                    let handler = handler.clone();
                    lock(&workers).push(thread::spawn(move || handler(stream)));
                }
            })
        };
        Acceptor {
            port,
            stop,
            accept_thread: Some(accept_thread),
            streams,
            workers,
        }
    }
}

impl Drop for Acceptor {
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

/// Reads from `inner` and appends every byte read to `sink`; writes pass through.
struct Tap<'a, S> {
    inner: S,
    sink: &'a Mutex<Vec<u8>>,
}

impl<S: Read> Read for Tap<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        lock(self.sink).extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Write for Tap<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stream that first yields bytes already read from `inner`.
struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    fn new(prefix: Vec<u8>, inner: S) -> Prefixed<S> {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: Read> Read for Prefixed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = buf.len().min(self.prefix.len() - self.pos);
            buf[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<S: Write> Write for Prefixed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The 8-byte SSLRequest / GSSENCRequest header: (length, code).
fn parse_request(header: &[u8; 8]) -> (u32, u32) {
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let code = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    (len, code)
}

/// Reads and discards `n` bytes (they are still recorded by a [`Tap`] underneath).
fn skip<S: Read>(stream: &mut S, n: u64) -> io::Result<()> {
    io::copy(&mut Read::take(stream, n), &mut io::sink())?;
    Ok(())
}

/// Plays a server that wants a cleartext password: reads the StartupMessage, sends
/// AuthenticationCleartextPassword, reads one message (the PasswordMessage, if the client is
/// careless enough), answers with a FATAL ErrorResponse, then drains until the client closes.
/// Recording is up to the caller (wrap `stream` in a [`Tap`]).
fn phish_password<S: Read + Write>(stream: &mut S) -> io::Result<()> {
    // StartupMessage: Int32 length (including itself), then the body.
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if !(8..=MAX_MESSAGE).contains(&len) {
        return Ok(());
    }
    skip(stream, len as u64 - 4)?;

    // 'R', length 8, auth code 3 = cleartext password.
    stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])?;
    stream.flush()?;

    // PasswordMessage: 'p', Int32 length, password.
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if (4..=MAX_MESSAGE).contains(&len) {
        skip(stream, len as u64 - 4)?;
    }

    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28P01"),
        (
            b'M',
            "password authentication failed (attache-testkit attack fixture)",
        ),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut error = vec![b'E'];
    error.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
    error.extend_from_slice(&fields);
    stream.write_all(&error)?;
    stream.flush()?;

    // Record whatever else comes (e.g. a Terminate) until the client hangs up.
    io::copy(stream, &mut io::sink())?;
    Ok(())
}

/// Attack fixture for TLS stripping: answers the PostgreSQL SSLRequest with `N` ("no TLS here")
/// and records every byte the client sends afterwards. A client that falls back to plaintext
/// sends its StartupMessage (user name, database) here, and then — since this fixture asks for
/// a cleartext password — its password.
///
/// Listens on `127.0.0.1:<ephemeral port>`; one thread per connection; stops on drop.
pub struct StripProxy {
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    acceptor: Acceptor,
}

impl fmt::Debug for StripProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripProxy")
            .field("port", &self.acceptor.port)
            .finish_non_exhaustive()
    }
}

impl StripProxy {
    /// Starts listening.
    pub fn start() -> StripProxy {
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (received, connections) = (received.clone(), connections.clone());
            Acceptor::start(move |stream| {
                connections.fetch_add(1, Ordering::SeqCst);
                let _ = strip(stream, &received);
            })
        };
        StripProxy {
            received,
            connections,
            acceptor,
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.acceptor.port
    }

    /// Every byte received after refusing TLS, from all connections, in arrival order. Includes
    /// the first bytes of a client that never asked for TLS at all.
    pub fn received_after_refusal(&self) -> Vec<u8> {
        lock(&self.received).clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn strip(mut stream: TcpStream, received: &Mutex<Vec<u8>>) -> io::Result<()> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header)?;
    // libpq may try GSSAPI encryption before TLS: refuse that too, then expect the SSLRequest.
    if parse_request(&header) == (8, GSSENC_REQUEST_CODE) {
        stream.write_all(b"N")?;
        stream.read_exact(&mut header)?;
    }
    let prefix = if parse_request(&header) == (8, SSL_REQUEST_CODE) {
        stream.write_all(b"N")?;
        Vec::new()
    } else {
        // No negotiation at all: the client is talking plaintext from its first byte.
        lock(received).extend_from_slice(&header);
        header.to_vec()
    };
    let mut tapped = Prefixed::new(
        prefix,
        Tap {
            inner: stream,
            sink: received,
        },
    );
    phish_password(&mut tapped)
}

/// Attack fixture for a man in the middle: answers the SSLRequest with `S` and completes a TLS
/// handshake as 127.0.0.1/localhost with a certificate from a CA of its own (not the test
/// [`Pki`](crate::Pki)'s). A client that accepts it sends its StartupMessage and — since this
/// fixture asks for a cleartext password — its password; every decrypted byte is recorded.
///
/// Listens on `127.0.0.1:<ephemeral port>`; one thread per connection; stops on drop. Also accepts
/// PostgreSQL 17's direct TLS (`sslnegotiation=direct`, ALPN `postgresql`).
pub struct MitmProxy {
    received: Arc<Mutex<Vec<u8>>>,
    handshakes: Arc<AtomicUsize>,
    acceptor: Acceptor,
}

impl fmt::Debug for MitmProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MitmProxy")
            .field("port", &self.acceptor.port)
            .finish_non_exhaustive()
    }
}

impl MitmProxy {
    /// Starts listening. `upstream_port` names the real server being impersonated; this fixture
    /// terminates every connection itself and never relays to it (recording what a client
    /// reveals is all the tests need).
    pub fn start(upstream_port: u16) -> MitmProxy {
        let _ = upstream_port;
        MitmProxy::launch(Greeting::None)
    }

    /// The same impostor for MySQL clients: it greets with `CLIENT_SSL`, reads the client's
    /// SSLRequest packet, then completes the TLS handshake with its own certificate and records
    /// every decrypted byte (the login packet of a client that accepted it).
    pub fn start_mysql() -> MitmProxy {
        MitmProxy::launch(Greeting::Mysql)
    }

    /// The same impostor for protocols whose server speaks first and then upgrades (NATS: an
    /// `INFO` saying `tls_required`): it sends `greeting`, then completes the TLS handshake with
    /// its own certificate and records every decrypted byte.
    pub fn start_after_greeting(greeting: &'static [u8]) -> MitmProxy {
        MitmProxy::launch(Greeting::Bytes(greeting))
    }

    fn launch(greeting: Greeting) -> MitmProxy {
        let config = Arc::new(mitm_config());
        let received = Arc::new(Mutex::new(Vec::new()));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (received, handshakes) = (received.clone(), handshakes.clone());
            Acceptor::start(move |stream| {
                let _ = match greeting {
                    Greeting::None => intercept(stream, config.clone(), &handshakes, &received),
                    Greeting::Mysql => intercept_after_greeting(
                        stream,
                        &crate::mysql::greeting(true),
                        true,
                        config.clone(),
                        &handshakes,
                        &received,
                    ),
                    Greeting::Bytes(bytes) => intercept_after_greeting(
                        stream,
                        bytes,
                        false,
                        config.clone(),
                        &handshakes,
                        &received,
                    ),
                };
            })
        };
        MitmProxy {
            received,
            handshakes,
            acceptor,
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.acceptor.port
    }

    /// Every decrypted byte received over completed TLS handshakes, from all connections.
    pub fn received(&self) -> Vec<u8> {
        lock(&self.received).clone()
    }

    /// How many TLS handshakes completed, i.e. how many clients accepted the impostor certificate.
    pub fn handshakes_completed(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

/// What the impostor says before its TLS handshake.
#[derive(Debug, Clone, Copy)]
enum Greeting {
    /// Nothing: PostgreSQL's SSLRequest, or TLS from the first byte.
    None,
    /// A MySQL greeting offering TLS, then the client's SSLRequest packet.
    Mysql,
    /// These bytes, then TLS.
    Bytes(&'static [u8]),
}

/// A rustls server config presenting a 127.0.0.1/localhost certificate from a brand-new CA.
fn mitm_config() -> ServerConfig {
    let (ca_cert, issuer) = new_ca("attache MITM CA");
    let (cert, key) = issue_server_cert(&issuer, CertProfile::Valid);
    let chain = vec![
        CertificateDer::from(cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions supported by aws-lc-rs")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("MITM certificate and key");
    // Needed by direct-TLS clients; clients that offer no ALPN are unaffected.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    config
}

fn intercept(
    mut stream: TcpStream,
    config: Arc<ServerConfig>,
    handshakes: &AtomicUsize,
    received: &Mutex<Vec<u8>>,
) -> io::Result<()> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header)?;
    if parse_request(&header) == (8, GSSENC_REQUEST_CODE) {
        stream.write_all(b"N")?;
        stream.read_exact(&mut header)?;
    }
    let prefix = if header[0] == TLS_HANDSHAKE_RECORD {
        header.to_vec()
    } else if parse_request(&header) == (8, SSL_REQUEST_CODE) {
        stream.write_all(b"S")?;
        Vec::new()
    } else {
        return Ok(()); // a plaintext client: the StripProxy's business, not ours
    };

    let mut transport = Prefixed::new(prefix, stream);
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        // An error here is the client rejecting our certificate (or hanging up): no handshake.
        let (read, written) = conn.complete_io(&mut transport)?;
        if read == 0 && written == 0 && conn.is_handshaking() {
            return Ok(());
        }
    }
    handshakes.fetch_add(1, Ordering::SeqCst);

    let mut tapped = Tap {
        inner: StreamOwned::new(conn, transport),
        sink: received,
    };
    phish_password(&mut tapped)
}

fn intercept_after_greeting(
    mut stream: TcpStream,
    greeting: &[u8],
    mysql_ssl_request: bool,
    config: Arc<ServerConfig>,
    handshakes: &AtomicUsize,
    received: &Mutex<Vec<u8>>,
) -> io::Result<()> {
    stream.write_all(greeting)?;
    if mysql_ssl_request {
        // The SSLRequest: a 4-byte header (3-byte length, sequence id), then its payload.
        let mut header = [0u8; 4];
        stream.read_exact(&mut header)?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]);
        skip(&mut stream, u64::from(len))?;
    }
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        let (read, written) = conn.complete_io(&mut stream)?;
        if read == 0 && written == 0 && conn.is_handshaking() {
            return Ok(());
        }
    }
    handshakes.fetch_add(1, Ordering::SeqCst);
    let mut tapped = Tap {
        inner: StreamOwned::new(conn, stream),
        sink: received,
    };
    io::copy(&mut tapped, &mut io::sink())?;
    Ok(())
}

/// Attack fixture for kinds whose TLS starts at the first byte (no STARTTLS-style upgrade): a
/// server that speaks plaintext. It reads the client's first flight (a ClientHello, for a
/// client that insists on TLS), answers with a plaintext error line, and records every byte the
/// client sends after that answer. A client that fell back to plaintext would send its
/// credentials in that first flight, so the first flight is recorded too, separately.
///
/// Listens on `127.0.0.1:<ephemeral port>`; one thread per connection; stops on drop.
pub struct PlaintextServer {
    first: Arc<Mutex<Vec<u8>>>,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    acceptor: Acceptor,
}

impl fmt::Debug for PlaintextServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlaintextServer")
            .field("port", &self.acceptor.port)
            .finish_non_exhaustive()
    }
}

impl PlaintextServer {
    /// Starts listening; it answers with an error line, as Redis would.
    pub fn start() -> PlaintextServer {
        PlaintextServer::start_answering(b"-ERR plaintext only (attache-testkit fixture)\r\n")
    }

    /// Starts listening; it answers every client's first bytes with `answer` (what the
    /// protocol's plaintext server says), then records what follows.
    pub fn start_answering(answer: &'static [u8]) -> PlaintextServer {
        PlaintextServer::launch(None, answer)
    }

    /// Starts listening; it greets every client with `greeting` before reading anything (what a
    /// server that speaks first says, NATS's `INFO` offering no TLS), then records what follows.
    pub fn start_greeting(greeting: &'static [u8]) -> PlaintextServer {
        PlaintextServer::launch(Some(greeting), b"")
    }

    fn launch(greeting: Option<&'static [u8]>, answer: &'static [u8]) -> PlaintextServer {
        let first = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let acceptor = {
            let (first, received, connections) =
                (first.clone(), received.clone(), connections.clone());
            Acceptor::start(move |mut stream| {
                connections.fetch_add(1, Ordering::SeqCst);
                if let Some(greeting) = greeting
                    && stream.write_all(greeting).is_err()
                {
                    return;
                }
                let mut buf = [0u8; 4096];
                let Ok(n) = stream.read(&mut buf) else { return };
                lock(&first).extend_from_slice(&buf[..n]);
                let _ = stream.write_all(answer);
                let mut tap = Tap {
                    inner: &mut stream,
                    sink: &received,
                };
                let _ = io::copy(&mut tap, &mut io::sink());
            })
        };
        PlaintextServer {
            first,
            received,
            connections,
            acceptor,
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.acceptor.port
    }

    /// What clients sent before the server's plaintext answer, from all connections.
    pub fn first_flights(&self) -> Vec<u8> {
        lock(&self.first).clone()
    }

    /// Every byte received after the plaintext answer, from all connections, less the TLS
    /// alert records a client sends when it gets plaintext where it expected a handshake.
    pub fn received_after_answer(&self) -> Vec<u8> {
        let mut rest = lock(&self.received).clone();
        // Alert record: content type 21, version 3.x, a two-byte length.
        while rest.len() >= 5 && rest[0] == 21 && rest[1] == 3 {
            let len = 5 + usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            if rest.len() < len {
                break;
            }
            rest.drain(..len);
        }
        rest
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
