//! Small OS helpers, all in safe Rust (the workspace forbids `unsafe`): user lookup via
//! /etc/passwd, liveness via /proc, signals via kill(1).

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The effective uid of this process, read from /proc/self/status (`Uid: real effective ...`).
pub(crate) fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// (uid, gid) of an OS user, from /etc/passwd.
pub(crate) fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| format!("read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() >= 4 && fields[0] == name)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .ok_or_else(|| {
            format!(
                "no OS user {name:?} in /etc/passwd: PostgreSQL refuses to run as root; \
                 install the Debian `postgresql` package (it creates the user)"
            )
        })
}

/// Whether a process with this pid is running. A zombie counts as dead: once its parent is gone
/// it waits for init to reap it, which may take a while.
pub(crate) fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => !status
            .lines()
            .any(|l| l.starts_with("State:") && l[6..].trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether the process's command line contains `needle` (guards against pid reuse before we
/// signal a pid read from a stale file).
pub(crate) fn cmdline_contains(pid: u32, needle: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = needle.as_bytes();
    cmdline.windows(needle.len()).any(|w| w == needle)
}

/// Sends a signal with kill(1) (no libc: unsafe code is forbidden in this workspace).
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Waits for a child to exit for up to `timeout`; returns whether it did.
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            Ok(None) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Stops a child we spawned: `signal` (its server's quick shutdown), then SIGKILL after `grace`.
pub(crate) fn stop_and_reap(child: &mut Child, signal: &str, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    send_signal(child.id(), signal);
    if !wait_timeout(child, grace) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Stops a process that is not our child (so it cannot be waited for): `signal`, poll, SIGKILL.
pub(crate) fn stop_pid(pid: u32, signal: &str, grace: Duration) {
    send_signal(pid, signal);
    let deadline = Instant::now() + grace;
    while pid_alive(pid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if pid_alive(pid) {
        send_signal(pid, "KILL");
    }
}

/// A port that was free a moment ago. Racy by nature: callers retry on "address in use".
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// `len` random characters from [A-Za-z0-9], from the OS CSPRNG via rustls' aws-lc-rs provider.
pub(crate) fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let random = rustls::crypto::aws_lc_rs::default_provider().secure_random;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random.fill(&mut buf).expect("OS random number generator");
        // Rejection sampling keeps the distribution uniform: 248 = 4 * 62.
        out.extend(
            buf.iter()
                .filter(|&&b| b < 248)
                .map(|&b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
                .take(len - out.len()),
        );
    }
    out
}

/// The last `lines` lines of a text file (for panic messages).
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Characters left as they are in a URL component: RFC 3986 "unreserved".
pub(crate) const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// For a filesystem path in a URL's query value: unreserved plus `/`, which is legal there.
pub(crate) const URL_PATH_VALUE: &percent_encoding::AsciiSet = &URL_COMPONENT.remove(b'/');
