//! The app's running process, read from `/proc` (Linux), and its judgement: factor VI's
//! stateless, shared-nothing process, with no more reach than the manifest declares, and
//! factor III's environment audited as a whole.
//!
//! [`Snapshot::read`] reads, with no agent and no privilege beyond being the process's user
//! (or root):
//!
//! | what | from |
//! |---|---|
//! | its name and user ids (real, effective, saved, filesystem) | `/proc/PID/status`: `Name:`, `Uid:` |
//! | its effective capabilities | `/proc/PID/status`: `CapEff:`, a hexadecimal bit set |
//! | its environment, as it was given at `exec` | `/proc/PID/environ`, `NUL`-separated `NAME=value` |
//! | its sockets | `/proc/PID/fd/*` links `socket:[INODE]`, matched to the rows of `/proc/PID/net/{tcp,tcp6,udp,udp6}` with that inode (the process's own network namespace) |
//! | the files it holds open for writing | `/proc/PID/fd/*` links to paths, with `flags:` of `/proc/PID/fdinfo/*` opened write-only or read-write, regular files only |
//!
//! [`judge`] turns the snapshot into findings against the manifest: `proc-root`,
//! `proc-capabilities`, `proc-listener-undeclared` (against `[process] listen`), `cred-in-env`
//! for every variable of its environment, `proc-local-state` and `proc-undeclared-peer`
//! (its established outbound TCP connections against the resources' [`Endpoint`]s). Every
//! finding's resource is [`PROCESS`]. Environment values are held as [`Secret`]s and never
//! reach a finding: only names and the kind of secret do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::finding::{CheckId, Finding, Severity};
use crate::manifest::{Listen, Manifest, Protocol};
use crate::report::{HeldSecret, Listener, Peer, ProcessSummary};
use crate::scan;
use crate::secret::Secret;

/// The resource name of every finding about the process: no manifest resource can have it
/// (resource names hold only letters, digits, `_` and `-`).
pub const PROCESS: &str = "(process)";

/// Directories whose files are scratch space, not state: a process may write there.
pub const TEMPORARY_DIRS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm", "/run/user"];

/// A process that cannot be audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// There is no such process (or it exited while it was being read).
    #[error("no process with pid {pid}")]
    NotFound {
        /// The pid asked for.
        pid: u32,
    },
    /// Part of it cannot be read.
    #[error(
        "cannot read {path} of process {pid}: {reason} (attache reads /proc as the process's own user or as root)"
    )]
    Unreadable {
        /// The pid.
        pid: u32,
        /// The file or directory of `/proc`.
        path: String,
        /// The operating system's answer.
        reason: String,
    },
}

/// User ids of a process, as `Uid:` of `/proc/PID/status` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uids {
    /// Who started it.
    pub real: u32,
    /// Whose rights it has now.
    pub effective: u32,
    /// What it can switch its effective uid back to.
    pub saved: u32,
    /// Whose rights it has on files.
    pub filesystem: u32,
}

/// One socket of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Socket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Its own address.
    pub local: SocketAddr,
    /// The other end (unspecified for a listener).
    pub remote: SocketAddr,
    /// The kernel's state number (`st`): TCP's 0A is LISTEN, 01 ESTABLISHED.
    pub state: u8,
    /// Its inode.
    pub inode: u64,
}

impl Socket {
    /// A TCP socket in LISTEN, or a UDP socket bound and not connected.
    pub fn is_listening(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == 0x0A,
            Protocol::Udp => self.remote.port() == 0 && self.remote.ip().is_unspecified(),
        }
    }

    /// A TCP connection that is up.
    pub fn is_established(&self) -> bool {
        self.protocol == Protocol::Tcp && self.state == 0x01
    }
}

/// A regular file the process holds open for writing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpenFile {
    /// Its path, as the kernel names it.
    pub path: PathBuf,
    /// The descriptor.
    pub fd: u32,
    /// Opened to append (a log, usually).
    pub append: bool,
}

/// What `/proc` says about one process at one moment.
pub struct Snapshot {
    /// The pid.
    pub pid: u32,
    /// Its name (`Name:`: the executable's, at most 15 bytes).
    pub command: String,
    /// Its user ids.
    pub uids: Uids,
    /// Its effective capabilities, bit N being capability N.
    pub capabilities: u64,
    /// Its environment, in order, values held as secrets.
    pub environment: Vec<(String, Secret)>,
    /// Its TCP and UDP sockets.
    pub sockets: Vec<Socket>,
    /// The regular files it holds open for writing.
    pub written: Vec<OpenFile>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("pid", &self.pid)
            .field("command", &self.command)
            .field("uids", &self.uids)
            .field("capabilities", &format_args!("{:016x}", self.capabilities))
            .field(
                "environment",
                &self.environment.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("sockets", &self.sockets)
            .field("written", &self.written)
            .finish()
    }
}

impl Snapshot {
    /// Reads process `pid` from `/proc`.
    pub fn read(pid: u32) -> Result<Snapshot, ProcessError> {
        Snapshot::read_at(Path::new("/proc"), pid)
    }

    /// Reads process `pid` from a `/proc` mounted at `proc` (a test's copy, a container's).
    pub fn read_at(proc: &Path, pid: u32) -> Result<Snapshot, ProcessError> {
        let dir = proc.join(pid.to_string());
        if !dir.is_dir() {
            return Err(ProcessError::NotFound { pid });
        }
        let fail = |path: &Path, e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() {
                ProcessError::NotFound { pid }
            } else {
                ProcessError::Unreadable {
                    pid,
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }
            }
        };
        let status_path = dir.join("status");
        let status = std::fs::read_to_string(&status_path).map_err(|e| fail(&status_path, e))?;
        let (command, uids, capabilities) =
            parse_status(&status).ok_or_else(|| ProcessError::Unreadable {
                pid,
                path: status_path.display().to_string(),
                reason: "no Name, Uid and CapEff lines".into(),
            })?;
        let environ_path = dir.join("environ");
        let environ = std::fs::read(&environ_path).map_err(|e| fail(&environ_path, e))?;
        let environment = parse_environ(environ);

        let fd_dir = dir.join("fd");
        let entries = std::fs::read_dir(&fd_dir).map_err(|e| fail(&fd_dir, e))?;
        let mut inodes = BTreeSet::new();
        let mut written = Vec::new();
        for entry in entries.flatten() {
            let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A descriptor closed since the listing is simply gone.
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            {
                inodes.insert(inode);
                continue;
            }
            if !target.starts_with('/') || target.ends_with(" (deleted)") {
                continue;
            }
            let Ok(info) = std::fs::read_to_string(dir.join("fdinfo").join(fd.to_string())) else {
                continue;
            };
            let Some(flags) = parse_flags(&info) else {
                continue;
            };
            const O_ACCMODE: u32 = 0o3;
            const O_APPEND: u32 = 0o2000;
            if flags & O_ACCMODE == 0 {
                continue;
            }
            // Through the descriptor's own link: the file it holds, wherever it is.
            if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
                written.push(OpenFile {
                    path: PathBuf::from(target),
                    fd,
                    append: flags & O_APPEND != 0,
                });
            }
        }
        written.sort();

        let mut sockets = Vec::new();
        for (file, protocol) in [
            ("tcp", Protocol::Tcp),
            ("tcp6", Protocol::Tcp),
            ("udp", Protocol::Udp),
            ("udp6", Protocol::Udp),
        ] {
            let path = dir.join("net").join(file);
            match std::fs::read_to_string(&path) {
                Ok(table) => sockets.extend(
                    parse_net(&table, protocol)
                        .into_iter()
                        .filter(|s| inodes.contains(&s.inode)),
                ),
                // A kernel without IPv6 has no tcp6.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.exists() => {}
                Err(e) => return Err(fail(&path, e)),
            }
        }
        sockets.sort();
        sockets.dedup();
        Ok(Snapshot {
            pid,
            command,
            uids,
            capabilities,
            environment,
            sockets,
            written,
        })
    }

    /// The process's `TMPDIR`, if its environment sets one.
    fn tmpdir(&self) -> Option<PathBuf> {
        self.environment
            .iter()
            .find(|(k, _)| k == "TMPDIR")
            .map(|(_, v)| PathBuf::from(v.expose_secret()))
            .filter(|p| p.is_absolute() && p != Path::new("/"))
    }
}

/// `Name:`, `Uid:` and `CapEff:` of a status file.
fn parse_status(status: &str) -> Option<(String, Uids, u64)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(str::trim)
    };
    let command = field("Name")?.to_owned();
    let ids: Vec<u32> = field("Uid")?
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let [real, effective, saved, filesystem] = ids[..] else {
        return None;
    };
    let capabilities = u64::from_str_radix(field("CapEff")?, 16).ok()?;
    Some((
        command,
        Uids {
            real,
            effective,
            saved,
            filesystem,
        },
        capabilities,
    ))
}

/// `NAME=value` entries separated by `NUL`; an entry without `=` is skipped.
fn parse_environ(environ: Vec<u8>) -> Vec<(String, Secret)> {
    let environ = zeroize::Zeroizing::new(environ);
    environ
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let at = entry.iter().position(|b| *b == b'=')?;
            let name = String::from_utf8_lossy(&entry[..at]).into_owned();
            let value = Secret::new(String::from_utf8_lossy(&entry[at + 1..]).into_owned());
            (!name.is_empty()).then_some((name, value))
        })
        .collect()
}

/// `flags:` of an fdinfo file, in octal.
fn parse_flags(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
}

/// The rows of `/proc/net/{tcp,tcp6,udp,udp6}`:
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`.
fn parse_net(table: &str, protocol: Protocol) -> Vec<Socket> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = parse_address(cols.get(1)?)?;
            let remote = parse_address(cols.get(2)?)?;
            let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
            let inode = cols.get(9)?.parse().ok()?;
            Some(Socket {
                protocol,
                local,
                remote,
                state,
                inode,
            })
        })
        .collect()
}

/// `0100007F:1F90` or a 32-digit IPv6 address and a port, as the kernel prints them: each
/// 32-bit word of the address in the machine's byte order, the port in hexadecimal. An
/// IPv4-mapped IPv6 address comes back as the IPv4 address.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        addr.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Linux's capabilities, by bit (`include/uapi/linux/capability.h`).
pub const CAPABILITIES: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// Capabilities that are as good as root: each lets the process read or write any file, take
/// another uid, load code into the kernel, or control other processes or the network stack.
pub const ROOT_EQUIVALENT: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_net_admin",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_ptrace",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_mknod",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_bpf",
    "cap_perfmon",
    "cap_checkpoint_restore",
];

/// The names of the capabilities in `set`, by bit; a bit this table does not know is
/// `cap_N`.
pub fn capability_names(set: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| set & (1u64 << bit) != 0)
        .map(|bit| {
            CAPABILITIES
                .get(bit)
                .map_or_else(|| format!("cap_{bit}"), |n| (*n).to_owned())
        })
        .collect()
}

/// Where a resource's binding points: the app's connections to it go there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The resource.
    pub resource: String,
    /// Its host: a DNS name or an IP address.
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl Endpoint {
    /// The addresses the host stands for: itself when it is an IP address, else what the
    /// system's resolver says (nothing when it cannot say).
    pub fn addresses(&self) -> Vec<IpAddr> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return vec![ip];
        }
        if self.host == "localhost" {
            return vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        }
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .unwrap_or_default()
    }
}

/// What judging a process found: the findings, and its part of the report's attack surface.
#[derive(Debug, Clone, Default)]
pub struct ProcessAudit {
    /// The findings, resource [`PROCESS`].
    pub findings: Vec<Finding>,
    /// Who it is.
    pub summary: ProcessSummary,
    /// Where it listens.
    pub listeners: Vec<Listener>,
    /// Its outbound connections by peer, declared (with the resource) or not.
    pub peers: Vec<Peer>,
    /// The secrets its environment holds, by name.
    pub secrets: Vec<HeldSecret>,
    /// The files it writes outside temporary directories.
    pub local_state: Vec<String>,
}

/// Judges `snapshot` against `manifest`: `endpoints` are where the resources' bindings point
/// (see [`Registry::endpoints`](crate::Registry::endpoints)); `reported(name, value)` says
/// whether the resource checks already judged the variable `name` with this very value (a
/// binding's URL variable, whose password is their `cred-in-env`), so it is not reported twice.
pub fn judge(
    snapshot: &Snapshot,
    manifest: &Manifest,
    endpoints: &[Endpoint],
    reported: &dyn Fn(&str, &Secret) -> bool,
) -> ProcessAudit {
    let pid = snapshot.pid;
    let who = format!("process {pid} ({})", snapshot.command);
    let mut audit = ProcessAudit {
        summary: ProcessSummary {
            pid,
            command: snapshot.command.clone(),
            uid: snapshot.uids.real,
            effective_uid: snapshot.uids.effective,
            capabilities: capability_names(snapshot.capabilities),
        },
        ..ProcessAudit::default()
    };
    audit.findings.extend(root(&who, snapshot));
    audit.findings.extend(capabilities(&who, snapshot));
    listeners(&who, snapshot, manifest, &mut audit);
    environment(&who, snapshot, reported, &mut audit);
    local_state(&who, snapshot, &mut audit);
    peers(&who, snapshot, endpoints, &mut audit);
    audit
        .findings
        .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    audit
}

fn root(who: &str, snapshot: &Snapshot) -> Option<Finding> {
    let Uids {
        real,
        effective,
        saved,
        filesystem,
    } = snapshot.uids;
    let message = if real == 0 && effective == 0 {
        format!("{who} runs as root (uid 0)")
    } else if effective == 0 {
        format!("{who} runs with effective uid 0, started by uid {real}: a setuid program")
    } else if saved == 0 || real == 0 {
        format!("{who} runs as uid {effective} but can take uid 0 back at any time")
    } else {
        return None;
    };
    Some(
        Finding::new(
            CheckId::ProcRoot,
            Severity::High,
            PROCESS,
            message,
            "run the process as an unprivileged user of its own: USER in the image, \
             runAsNonRoot and runAsUser in the pod's securityContext, User= in a systemd unit; \
             listen on a port above 1023, or grant cap_net_bind_service alone",
        )
        .with_evidence([format!(
            "Uid: real {real}, effective {effective}, saved {saved}, filesystem {filesystem} \
             (/proc/{}/status)",
            snapshot.pid
        )]),
    )
}

fn capabilities(who: &str, snapshot: &Snapshot) -> Option<Finding> {
    if snapshot.capabilities == 0 {
        return None;
    }
    let names = capability_names(snapshot.capabilities);
    let (rootlike, others): (Vec<&String>, Vec<&String>) = names
        .iter()
        .partition(|n| ROOT_EQUIVALENT.contains(&n.as_str()));
    let severity = if !rootlike.is_empty() {
        Severity::High
    } else if others.iter().all(|n| *n == "cap_net_bind_service") {
        Severity::Low
    } else {
        Severity::Medium
    };
    let count = match names.len() {
        1 => "1 effective capability".to_owned(),
        n => format!("{n} effective capabilities"),
    };
    let message = if rootlike.is_empty() {
        format!("{who} holds {count}: {}", join(&others))
    } else {
        format!(
            "{who} holds {count}, {} of them as good as root",
            rootlike.len()
        )
    };
    let mut evidence = vec![format!(
        "CapEff: {:016x} (/proc/{}/status)",
        snapshot.capabilities, snapshot.pid
    )];
    if !rootlike.is_empty() {
        evidence.push(format!("as good as root: {}", join(&rootlike)));
    }
    if !others.is_empty() && !rootlike.is_empty() {
        evidence.push(format!("others: {}", join(&others)));
    }
    Some(
        Finding::new(
            CheckId::ProcCapabilities,
            severity,
            PROCESS,
            message,
            "drop every capability the process does not use: --cap-drop=ALL (Docker), \
             capabilities.drop: [ALL] in the pod's securityContext, CapabilityBoundingSet= in a \
             systemd unit; add back cap_net_bind_service alone if it must listen below port 1024",
        )
        .with_evidence(evidence),
    )
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `0.0.0.0:8080`, `[::]:8080`.
fn address(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

fn listeners(who: &str, snapshot: &Snapshot, manifest: &Manifest, audit: &mut ProcessAudit) {
    let declared: &[Listen] = manifest
        .process
        .as_ref()
        .map_or(&[], |p| p.listen.as_slice());
    let declared_text = if manifest.process.is_none() {
        "the manifest has no [process] table".to_owned()
    } else if declared.is_empty() {
        "[process] listen is empty".to_owned()
    } else {
        format!(
            "[process] listen declares {}",
            declared
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut seen = BTreeSet::new();
    for s in snapshot.sockets.iter().filter(|s| s.is_listening()) {
        let (ip, port) = (s.local.ip(), s.local.port());
        if !seen.insert((s.protocol, ip, port)) {
            continue;
        }
        let ok = declared.iter().any(|l| l.allows(s.protocol, ip, port));
        audit.listeners.push(Listener {
            protocol: s.protocol,
            address: ip.to_string(),
            port,
            declared: ok,
        });
        if ok {
            continue;
        }
        let at = address(ip, port);
        let everywhere = if ip.is_unspecified() {
            ", every address"
        } else {
            ""
        };
        let evidence = [
            format!(
                "{} {at}, socket inode {} (/proc/{}/net/{}{})",
                s.protocol,
                s.inode,
                snapshot.pid,
                s.protocol,
                if ip.is_ipv6() { "6" } else { "" }
            ),
            declared_text.clone(),
        ];
        let same_port: Vec<&Listen> = declared
            .iter()
            .filter(|l| l.protocol == s.protocol && l.port == port)
            .collect();
        let finding = if same_port.is_empty() {
            Finding::new(
                CheckId::ProcListenerUndeclared,
                Severity::Medium,
                PROCESS,
                format!(
                    "{who} listens on {} {at}{everywhere}, which [process] listen does not declare",
                    s.protocol
                ),
                format!(
                    "find what opens the port (a debug or admin server, a profiler, a library's \
                     metrics endpoint) and close it; if the app is meant to listen there, declare \
                     it: [process] listen = [{}]",
                    listen_entry(s.protocol, ip, port)
                ),
            )
        } else {
            let only = same_port
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            Finding::new(
                CheckId::ProcListenerUndeclared,
                Severity::High,
                PROCESS,
                format!(
                    "{who} listens on {} {at}{everywhere}, where [process] listen declares {only} only",
                    s.protocol
                ),
                format!(
                    "bind the port to the address the manifest declares (127.0.0.1 or ::1 for \
                     loopback), so it is not reachable from the network; if it is meant to be, \
                     declare it on every address: [process] listen = [{port}]"
                ),
            )
        };
        audit.findings.push(finding.with_evidence(evidence));
    }
}

/// What the manifest would declare for this listener, as TOML: `8080`, `"8080/udp"`,
/// `"127.0.0.1:9090"`.
fn listen_entry(protocol: Protocol, ip: IpAddr, port: u16) -> String {
    match (ip.is_unspecified(), protocol) {
        (true, Protocol::Tcp) => port.to_string(),
        (true, Protocol::Udp) => format!("\"{port}/udp\""),
        (false, Protocol::Tcp) => format!("\"{}\"", address(ip, port)),
        (false, Protocol::Udp) => format!("\"{}/udp\"", address(ip, port)),
    }
}

fn environment(
    who: &str,
    snapshot: &Snapshot,
    reported: &dyn Fn(&str, &Secret) -> bool,
    audit: &mut ProcessAudit,
) {
    for (name, value) in &snapshot.environment {
        let Some(kind) = scan::in_variable(name, value.expose_secret()) else {
            continue;
        };
        let location = format!("env {name} of process {}", snapshot.pid);
        audit.secrets.push(HeldSecret {
            holder: PROCESS.to_owned(),
            secret: kind.describe().to_owned(),
            location: location.clone(),
        });
        if reported(name, value) {
            continue;
        }
        let what = match kind {
            scan::SecretKind::Named => "a credential".to_owned(),
            other => other.describe().to_owned(),
        };
        let why = match kind {
            scan::SecretKind::Named => "its name says it holds a credential",
            _ => "its value has the shape of one",
        };
        audit.findings.push(
            Finding::new(
                CheckId::CredInEnv,
                Severity::Medium,
                PROCESS,
                format!("{what} sits in the environment variable {name} of {who}"),
                format!(
                    "move it into a file only the app's user can read and give the process the \
                     file's path instead ({name}_FILE, a secret volume, a service binding); rotate \
                     it if others could read the environment"
                ),
            )
            .with_evidence([format!(
                "{name} in /proc/{}/environ: {why} (the value is not shown)",
                snapshot.pid
            )]),
        );
    }
}

fn local_state(who: &str, snapshot: &Snapshot, audit: &mut ProcessAudit) {
    let tmpdir = snapshot.tmpdir();
    let temporary = |path: &Path| {
        TEMPORARY_DIRS.iter().any(|d| path.starts_with(d))
            || tmpdir.as_ref().is_some_and(|t| path.starts_with(t))
            || ["/dev", "/proc", "/sys"]
                .iter()
                .any(|d| path.starts_with(d))
    };
    let mut files: BTreeMap<&Path, Vec<&OpenFile>> = BTreeMap::new();
    for f in snapshot.written.iter().filter(|f| !temporary(&f.path)) {
        files.entry(&f.path).or_default().push(f);
    }
    if files.is_empty() {
        return;
    }
    let evidence: Vec<String> = files
        .iter()
        .map(|(path, open)| {
            let fds: Vec<String> = open.iter().map(|f| f.fd.to_string()).collect();
            let append = if open.iter().all(|f| f.append) {
                ", appending"
            } else {
                ""
            };
            format!("{} (fd {}{append})", path.display(), fds.join(", "))
        })
        .collect();
    audit.local_state = files.keys().map(|p| p.display().to_string()).collect();
    let count = match files.len() {
        1 => "a file".to_owned(),
        n => format!("{n} files"),
    };
    audit.findings.push(
        Finding::new(
            CheckId::ProcLocalState,
            Severity::Low,
            PROCESS,
            format!(
                "{who} holds {count} open for writing outside temporary directories: state on local disk"
            ),
            "keep state in a backing service (a database, an object store, a cache) and write \
             logs to stdout; scratch files belong under /tmp or $TMPDIR, which the process may \
             lose at any restart",
        )
        .with_evidence(evidence),
    );
}

fn peers(who: &str, snapshot: &Snapshot, endpoints: &[Endpoint], audit: &mut ProcessAudit) {
    let listening: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| s.is_listening())
        .collect();
    // An accepted connection has a listener's port as its own: it is inbound.
    let inbound = |s: &Socket| {
        listening.iter().any(|l| {
            l.protocol == s.protocol
                && l.local.port() == s.local.port()
                && (l.local.ip().is_unspecified() || l.local.ip() == s.local.ip())
        })
    };
    // A connection to one of its own listeners is the process talking to itself.
    let to_itself = |s: &Socket| {
        listening.iter().any(|l| {
            l.protocol == s.protocol
                && l.local.port() == s.remote.port()
                && (l.local.ip() == s.remote.ip()
                    || (l.local.ip().is_unspecified() && s.remote.ip().is_loopback()))
        })
    };
    let outbound: Vec<&Socket> = snapshot
        .sockets
        .iter()
        .filter(|s| s.is_established() && !inbound(s) && !to_itself(s))
        .collect();
    if outbound.is_empty() {
        return;
    }
    let resolved: Vec<(&Endpoint, Vec<IpAddr>)> =
        endpoints.iter().map(|e| (e, e.addresses())).collect();
    let mut by_peer: BTreeMap<SocketAddr, Vec<&Socket>> = BTreeMap::new();
    for s in outbound {
        by_peer.entry(s.remote).or_default().push(s);
    }
    for (peer, sockets) in by_peer {
        let resource = resolved
            .iter()
            .find(|(e, ips)| e.port == peer.port() && ips.contains(&peer.ip()))
            .map(|(e, _)| e.resource.clone());
        audit.peers.push(Peer {
            protocol: Protocol::Tcp,
            address: peer.ip().to_string(),
            port: peer.port(),
            connections: sockets.len(),
            resource: resource.clone(),
        });
        if resource.is_some() {
            continue;
        }
        let count = match sockets.len() {
            1 => "a connection".to_owned(),
            n => format!("{n} connections"),
        };
        let mut evidence: Vec<String> = sockets
            .iter()
            .map(|s| format!("tcp {} -> {} established", s.local, s.remote))
            .collect();
        if resolved.is_empty() {
            evidence.push("the manifest's resources point nowhere this audit could read".into());
        } else {
            evidence.push(format!(
                "the resources point to {}",
                resolved
                    .iter()
                    .map(|(e, ips)| {
                        let host = if e.host.contains(':') {
                            format!("[{}]", e.host)
                        } else {
                            e.host.clone()
                        };
                        if ips.is_empty() {
                            format!("{} {host}:{} (unresolved)", e.resource, e.port)
                        } else {
                            format!("{} {host}:{}", e.resource, e.port)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        audit.findings.push(
            Finding::new(
                CheckId::ProcUndeclaredPeer,
                Severity::Medium,
                PROCESS,
                format!("{who} has {count} to {peer}, which no resource of the manifest points to"),
                "declare the backing service as a resource in attache.toml, so its TLS and its \
                 account are checked like the others; if the process has no business there, find \
                 out what opens the connection",
            )
            .with_evidence(evidence),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_the_kernels_byte_order() {
        let v4 = parse_address("0100007F:1F90").unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(v4, "127.0.0.1:8080".parse().unwrap());
            let v6 = parse_address("00000000000000000000000001000000:0050").unwrap();
            assert_eq!(v6, "[::1]:80".parse().unwrap());
            let mapped = parse_address("0000000000000000FFFF00000100007F:0050").unwrap();
            assert_eq!(mapped, "127.0.0.1:80".parse().unwrap());
        }
        let any = parse_address("00000000000000000000000000000000:1F90").unwrap();
        assert_eq!(any, "[::]:8080".parse().unwrap());
        assert_eq!(parse_address("0100007F"), None);
        assert_eq!(parse_address("01007F:1F90"), None);
    }

    #[test]
    fn status_gives_name_uids_and_capabilities() {
        let status = "Name:\tpython3\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n\
                      CapInh:\t0000000000000000\nCapEff:\t0000000000000401\n";
        let (name, uids, caps) = parse_status(status).unwrap();
        assert_eq!(name, "python3");
        assert_eq!((uids.real, uids.effective), (1000, 0));
        assert_eq!(
            capability_names(caps),
            ["cap_chown", "cap_net_bind_service"]
        );
        assert_eq!(capability_names(1 << 45), ["cap_45"]);
        assert_eq!(parse_status("Name:\tx\nUid:\t1\t2\n"), None);
    }

    #[test]
    fn environ_keeps_names_and_hides_values() {
        let env = parse_environ(b"A=1\0B=x=y\0junk\0=nameless\0".to_vec());
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(env[1].1.expose_secret(), "x=y");
        assert!(!format!("{env:?}").contains("x=y"));
    }

    #[test]
    fn net_tables_and_flags() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n\
           1: 0100007F:C350 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n\
           garbage\n";
        let sockets = parse_net(table, Protocol::Tcp);
        assert_eq!(sockets.len(), 2);
        assert!(sockets[0].is_listening() && !sockets[0].is_established());
        assert!(sockets[1].is_established());
        assert_eq!(sockets[1].inode, 4343);
        let udp = parse_net(table, Protocol::Udp);
        assert!(udp[0].is_listening() && !udp[1].is_listening());
        assert_eq!(
            parse_flags("pos:\t0\nflags:\t0102001\nmnt_id:\t25\n"),
            Some(0o102001)
        );
    }

    fn socket(protocol: Protocol, local: &str, remote: &str, state: u8) -> Socket {
        Socket {
            protocol,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            inode: 1,
        }
    }

    fn snapshot(uid: u32, capabilities: u64) -> Snapshot {
        Snapshot {
            pid: 4242,
            command: "app".into(),
            uids: Uids {
                real: uid,
                effective: uid,
                saved: uid,
                filesystem: uid,
            },
            capabilities,
            environment: Vec::new(),
            sockets: Vec::new(),
            written: Vec::new(),
        }
    }

    fn manifest(text: &str) -> Manifest {
        Manifest::parse("attache.toml", text).unwrap()
    }

    fn checks(audit: &ProcessAudit) -> Vec<(CheckId, Severity)> {
        audit
            .findings
            .iter()
            .map(|f| (f.check, f.severity))
            .collect()
    }

    #[test]
    fn root_and_its_capabilities() {
        let m = manifest("");
        let never = |_: &str, _: &Secret| false;
        let audit = judge(&snapshot(0, (1 << 41) - 1), &m, &[], &never);
        assert_eq!(
            checks(&audit),
            [
                (CheckId::ProcRoot, Severity::High),
                (CheckId::ProcCapabilities, Severity::High)
            ]
        );
        assert!(
            audit.findings[1]
                .message
                .contains("41 effective capabilities")
        );
        assert!(audit.findings[1].evidence[1].contains("cap_sys_admin"));
        assert_eq!(audit.summary.capabilities.len(), 41);

        let mut setuid = snapshot(1000, 0);
        setuid.uids.effective = 0;
        let audit = judge(&setuid, &m, &[], &never);
        assert!(audit.findings[0].message.contains("setuid"), "{audit:?}");
        let mut dropped = snapshot(1000, 0);
        dropped.uids.saved = 0;
        let audit = judge(&dropped, &m, &[], &never);
        assert!(audit.findings[0].message.contains("take uid 0 back"));

        let bind = judge(&snapshot(1000, 1 << 10), &m, &[], &never);
        assert_eq!(checks(&bind), [(CheckId::ProcCapabilities, Severity::Low)]);
        let raw = judge(&snapshot(1000, (1 << 10) | (1 << 13)), &m, &[], &never);
        assert_eq!(
            checks(&raw),
            [(CheckId::ProcCapabilities, Severity::Medium)]
        );
        assert!(
            raw.findings[0]
                .message
                .ends_with("cap_net_bind_service, cap_net_raw")
        );
        assert!(
            judge(&snapshot(1000, 0), &m, &[], &never)
                .findings
                .is_empty()
        );
    }

    #[test]
    fn listeners_against_the_manifest() {
        let m = manifest("[process]\nlisten = [8080, \"127.0.0.1:9090\", \"5353/udp\"]\n");
        let never = |_: &str, _: &Secret| false;
        let mut s = snapshot(1000, 0);
        s.sockets = vec![
            socket(Protocol::Tcp, "0.0.0.0:8080", "0.0.0.0:0", 0x0A),
            socket(Protocol::Tcp, "[::]:8080", "[::]:0", 0x0A),
            socket(Protocol::Tcp, "127.0.0.1:9090", "0.0.0.0:0", 0x0A),
            socket(Protocol::Udp, "0.0.0.0:5353", "0.0.0.0:0", 0x07),
        ];
        let clean = judge(&s, &m, &[], &never);
        assert!(clean.findings.is_empty(), "{:?}", clean.findings);
        assert!(clean.listeners.iter().all(|l| l.declared));
        assert_eq!(clean.listeners.len(), 4);

        s.sockets = vec![
            socket(Protocol::Tcp, "0.0.0.0:9090", "0.0.0.0:0", 0x0A),
            socket(Protocol::Tcp, "127.0.0.1:6060", "0.0.0.0:0", 0x0A),
            socket(Protocol::Udp, "0.0.0.0:8080", "0.0.0.0:0", 0x07),
        ];
        let audit = judge(&s, &m, &[], &never);
        assert_eq!(
            checks(&audit),
            [
                (CheckId::ProcListenerUndeclared, Severity::High),
                (CheckId::ProcListenerUndeclared, Severity::Medium),
                (CheckId::ProcListenerUndeclared, Severity::Medium),
            ]
        );
        let messages: Vec<&str> = audit.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(messages[0].contains("tcp 0.0.0.0:9090, every address, where [process] listen declares loopback:9090/tcp only"), "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.contains("tcp 127.0.0.1:6060, which"))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("udp 0.0.0.0:8080, every address, which"))
        );
        let none = judge(&s, &manifest(""), &[], &never);
        assert!(
            none.findings
                .iter()
                .all(|f| f.evidence[1] == "the manifest has no [process] table")
        );
    }

    #[test]
    fn peers_against_the_resources() {
        let never = |_: &str, _: &Secret| false;
        let m = manifest("[process]\nlisten = [8080]\n");
        let mut s = snapshot(1000, 0);
        s.sockets = vec![
            socket(Protocol::Tcp, "0.0.0.0:8080", "0.0.0.0:0", 0x0A),
            // Accepted on its own port: inbound.
            socket(Protocol::Tcp, "10.0.0.2:8080", "10.0.0.9:51000", 0x01),
            // To its own listener: itself.
            socket(Protocol::Tcp, "127.0.0.1:40000", "127.0.0.1:8080", 0x01),
            socket(Protocol::Tcp, "10.0.0.2:40001", "10.0.0.5:5432", 0x01),
            socket(Protocol::Tcp, "10.0.0.2:40002", "10.0.0.6:6379", 0x01),
            socket(Protocol::Tcp, "10.0.0.2:40003", "10.0.0.6:6379", 0x01),
            // Not established.
            socket(Protocol::Tcp, "10.0.0.2:40004", "10.0.0.7:25", 0x06),
        ];
        let endpoints = [Endpoint {
            resource: "db".into(),
            host: "10.0.0.5".into(),
            port: 5432,
        }];
        let audit = judge(&s, &m, &endpoints, &never);
        assert_eq!(
            checks(&audit),
            [(CheckId::ProcUndeclaredPeer, Severity::Medium)]
        );
        let f = &audit.findings[0];
        assert!(
            f.message.contains("2 connections to 10.0.0.6:6379"),
            "{}",
            f.message
        );
        assert_eq!(f.evidence.len(), 3);
        assert_eq!(f.evidence[2], "the resources point to db 10.0.0.5:5432");
        assert_eq!(audit.peers.len(), 2);
        assert_eq!(audit.peers[0].resource.as_deref(), Some("db"));
    }

    #[test]
    fn environment_names_the_variable_never_the_value() {
        let m = manifest("");
        let mut s = snapshot(1000, 0);
        let planted = format!("ghp_{}", "Q".repeat(36));
        let db_url = format!("postgres://app:{}@db/app", "planted-pw");
        let other_url = format!("postgres://app:{}@db/app", "planted-other");
        s.environment = [
            ("PATH", "/usr/bin"),
            ("API_TOKEN", planted.as_str()),
            ("DB_URL", db_url.as_str()),
            ("OTHER_URL", other_url.as_str()),
            ("SESSION_SECRET", "planted-session"),
            ("EMPTY_PASSWORD", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Secret::new(v.to_owned())))
        .collect();
        let seen = |name: &str, value: &Secret| name == "DB_URL" && value.expose_secret() == db_url;
        let audit = judge(&s, &m, &[], &seen);
        let messages: Vec<&str> = audit.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages.iter().any(|m| m.starts_with(
            "a GitHub token sits in the environment variable API_TOKEN of process 4242"
        )));
        assert!(messages.iter().any(|m| {
            m.contains("a URL with a password sits in the environment variable OTHER_URL")
        }));
        assert!(messages.iter().any(|m| {
            m.starts_with("a credential sits in the environment variable SESSION_SECRET")
        }));
        // DB_URL was the resource checks' to report; it is still a secret the process holds.
        assert_eq!(audit.secrets.len(), 4);
        let all = format!("{audit:?}");
        for value in [
            planted.as_str(),
            "planted-pw",
            "planted-other",
            "planted-session",
        ] {
            assert!(!all.contains(value), "{value} leaked");
        }
    }

    #[test]
    fn local_state_outside_temporary_directories() {
        let m = manifest("");
        let never = |_: &str, _: &Secret| false;
        let mut s = snapshot(1000, 0);
        let file = |path: &str, fd, append| OpenFile {
            path: path.into(),
            fd,
            append,
        };
        s.environment = vec![("TMPDIR".into(), Secret::new("/scratch".into()))];
        s.written = vec![
            file("/tmp/upload", 3, false),
            file("/scratch/x", 4, false),
            file("/dev/shm/y", 5, false),
            file("/var/lib/app/state.db", 6, false),
            file("/var/log/app.log", 7, true),
        ];
        let audit = judge(&s, &m, &[], &never);
        assert_eq!(checks(&audit), [(CheckId::ProcLocalState, Severity::Low)]);
        assert_eq!(
            audit.local_state,
            ["/var/lib/app/state.db", "/var/log/app.log"]
        );
        assert_eq!(
            audit.findings[0].evidence,
            [
                "/var/lib/app/state.db (fd 6)",
                "/var/log/app.log (fd 7, appending)"
            ]
        );
    }

    #[test]
    fn a_proc_tree_is_read_and_a_missing_pid_named() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("77");
        for sub in ["fd", "fdinfo", "net"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(
            dir.join("status"),
            "Name:\tapp\nUid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n",
        )
        .unwrap();
        std::fs::write(dir.join("environ"), b"HOME=/app\0DB_PASSWORD=x1\0").unwrap();
        let state = root.path().join("state.db");
        std::fs::write(&state, "").unwrap();
        symlink(&state, dir.join("fd/3")).unwrap();
        std::fs::write(dir.join("fdinfo/3"), "pos:\t0\nflags:\t0100002\n").unwrap();
        symlink("socket:[555]", dir.join("fd/4")).unwrap();
        symlink("/dev/null", dir.join("fd/5")).unwrap();
        std::fs::write(dir.join("fdinfo/5"), "flags:\t01\n").unwrap();
        std::fs::write(
            dir.join("net/tcp"),
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1\n\
             1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 556 1\n",
        )
        .unwrap();
        let snap = Snapshot::read_at(root.path(), 77).unwrap();
        assert_eq!(snap.command, "app");
        assert_eq!(snap.uids.effective, 1000);
        assert_eq!(snap.environment.len(), 2);
        assert_eq!(
            snap.sockets.len(),
            1,
            "only its own inode: {:?}",
            snap.sockets
        );
        assert_eq!(snap.sockets[0].inode, 555);
        assert_eq!(snap.written.len(), 1);
        assert_eq!(snap.written[0].path, state);
        assert!(!format!("{snap:?}").contains("x1"));

        assert_eq!(
            Snapshot::read_at(root.path(), 78).unwrap_err(),
            ProcessError::NotFound { pid: 78 }
        );
        assert_eq!(
            ProcessError::NotFound { pid: 78 }.to_string(),
            "no process with pid 78"
        );
        std::fs::remove_file(dir.join("environ")).unwrap();
        let e = Snapshot::read_at(root.path(), 77).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "cannot read {}/77/environ of process 77",
                root.path().display()
            )),
            "{e}"
        );
    }
}
