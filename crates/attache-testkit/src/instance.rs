//! One server instance's directory and process, shared by every server the kit starts.
//!
//! Every instance lives in `/tmp/attache-tk/<pid>-<n>`. Dropping an [`Instance`] (also while a
//! panic unwinds out of a server's start) stops its server process and removes the directory. A
//! guardian shell process does the same if the test process dies without dropping it (always the
//! case for shared servers: statics are never dropped), and every first start in a process reaps
//! instances whose owning process is gone. `ATTACHE_TESTKIT_KEEP=1` keeps the directories.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::os::unix::process::CommandExt;

use crate::pki::write_file;
use crate::sys;

/// Every instance lives under here. Short on purpose: a unix socket path must fit in ~107 bytes.
pub(crate) const BASE_DIR: &str = "/tmp/attache-tk";
/// Set to `1` to keep instance directories (logs, data) after the server stops.
pub(crate) const KEEP_ENV: &str = "ATTACHE_TESTKIT_KEEP";

/// Unique suffixes for database, account and instance names within this process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A number not returned before in this process.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The directory and server process of one instance.
pub(crate) struct Instance {
    /// The instance directory (empty once shut down).
    pub(crate) dir: PathBuf,
    /// Whether the directory is kept after shutdown.
    pub(crate) keep: bool,
    server: Option<Child>,
    /// The signal that makes the server shut down quickly (`INT` for PostgreSQL, `TERM` else).
    stop_signal: &'static str,
    guardian: Option<Guardian>,
}

impl Instance {
    /// Makes a fresh instance directory (mode 0755, so a server running as another OS user
    /// can traverse it) and its guardian. `what` names the server in messages.
    pub(crate) fn create(what: &str) -> Instance {
        static REAP: Once = Once::new();
        REAP.call_once(reap_stale_instances);

        let base = Path::new(BASE_DIR);
        fs::create_dir_all(base).unwrap_or_else(|e| panic!("create {BASE_DIR}: {e}"));
        let _ = fs::set_permissions(base, fs::Permissions::from_mode(0o755));
        let dir = base.join(format!("{}-{}", std::process::id(), next_id()));
        make_dir(&dir, 0o755);
        let keep = std::env::var_os(KEEP_ENV).is_some_and(|v| v == "1");
        let guardian = Guardian::spawn(&dir, keep);
        let instance = Instance {
            dir: dir.clone(),
            keep,
            server: None,
            stop_signal: "TERM",
            guardian,
        };
        write_file(
            &dir.join("owner.pid"),
            std::process::id().to_string().as_bytes(),
            0o644,
        );
        if keep {
            write_file(&dir.join("keep"), b"", 0o644);
            eprintln!(
                "attache-testkit: keeping {what} instance dir {}",
                dir.display()
            );
        }
        instance
    }

    /// Records the server process: it is stopped with `stop_signal` on shutdown, by us or by
    /// the guardian, or by a later reap (its command line must mention the instance directory,
    /// so a reused pid is never signalled).
    pub(crate) fn set_server(&mut self, child: Child, stop_signal: &'static str) {
        if let Some(guardian) = &mut self.guardian {
            guardian.watch(child.id(), stop_signal);
        }
        write_file(
            &self.dir.join("server.pid"),
            format!("{} {stop_signal}\n", child.id()).as_bytes(),
            0o644,
        );
        self.stop_signal = stop_signal;
        self.server = Some(child);
    }

    /// The server process's pid, if it runs.
    pub(crate) fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// The running server process, if any.
    pub(crate) fn server_mut(&mut self) -> Option<&mut Child> {
        self.server.as_mut()
    }

    /// Forgets a server process that has exited on its own (e.g. before retrying a start).
    pub(crate) fn clear_server(&mut self) {
        self.server = None;
    }

    /// Stops the server and removes the directory. Idempotent.
    pub(crate) fn shutdown(&mut self) {
        if let Some(mut server) = self.server.take() {
            sys::stop_and_reap(&mut server, self.stop_signal, Duration::from_secs(10));
        }
        if !self.dir.as_os_str().is_empty() {
            if self.keep {
                eprintln!("attache-testkit: kept instance dir {}", self.dir.display());
            } else {
                let _ = fs::remove_dir_all(&self.dir);
            }
            self.dir = PathBuf::new();
        }
        if let Some(guardian) = self.guardian.take() {
            guardian.dismiss();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Gives `path` to `owner` (the OS user a server runs as), when there is one.
pub(crate) fn chown_to(path: &Path, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}

/// Copies the server certificate and key for `profile`, and the CA, into `<dir>/tls/` as
/// `server.crt`, `server.key` (0600) and `ca.crt`, owned by `owner`, who must be able to read
/// them (PostgreSQL insists the key be its own). Returns the directory.
pub(crate) fn server_tls_dir(
    dir: &Path,
    pki: &crate::pki::Pki,
    profile: crate::pki::CertProfile,
    owner: Option<(u32, u32)>,
) -> PathBuf {
    let (cert_path, key_path) = pki.server_cert_for(profile);
    let tls_dir = dir.join("tls");
    make_dir(&tls_dir, 0o700);
    chown_to(&tls_dir, owner);
    for (from, name, mode) in [
        (cert_path, "server.crt", 0o644),
        (key_path, "server.key", 0o600),
        (pki.ca_path(), "ca.crt", 0o644),
    ] {
        let to = tls_dir.join(name);
        let contents = fs::read(&from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
        write_file(&to, &contents, mode);
        chown_to(&to, owner);
    }
    tls_dir
}

/// Creates a directory with `mode`.
pub(crate) fn make_dir(path: &Path, mode: u32) {
    fs::create_dir(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Removes instance directories whose owning test process is gone, stopping their server first.
/// Directories marked `keep` are left alone.
fn reap_stale_instances() {
    let Ok(entries) = fs::read_dir(BASE_DIR) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let dir = entry.path();
        if !dir.is_dir() || dir.join("keep").exists() {
            continue;
        }
        // owner.pid is written right after the directory is made; the name starts with the pid too.
        let owner = fs::read_to_string(dir.join("owner.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .or_else(|| {
                let name = entry.file_name();
                name.to_str()?.split('-').next()?.parse().ok()
            });
        let Some(owner) = owner else { continue };
        if owner == std::process::id() || sys::pid_alive(owner) {
            continue;
        }
        let server = fs::read_to_string(dir.join("server.pid")).ok();
        let mut fields = server.as_deref().unwrap_or("").split_whitespace();
        if let (Some(Ok(pid)), Some(signal)) = (fields.next().map(str::parse::<u32>), fields.next())
        {
            // Only signal it if it really is that instance's server (pids get reused).
            if sys::cmdline_contains(pid, &dir.to_string_lossy()) {
                sys::stop_pid(pid, signal, Duration::from_secs(5));
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// A `sh` process that cleans up after us if we die without dropping the instance.
///
/// Its stdin is a pipe whose only write end we hold (std makes pipes close-on-exec, so no other
/// child inherits it). We send it `pid <n> <signal>` for the server; `done` dismisses it. When
/// this process exits for any reason (including SIGKILL, or `exit` with a static server never
/// dropped) the pipe closes, `read` sees EOF, and the guardian stops the server and removes the
/// directory. It runs in its own process group and ignores SIGINT/SIGTERM/SIGHUP, so a Ctrl-C or
/// a group-wide kill aimed at the test process does not take it down too.
struct Guardian {
    child: Child,
    stdin: ChildStdin,
}

// `alive` treats a zombie as dead: the server's parent (us) is gone, so it stays a zombie until
// init reaps it, and `kill -0` would keep succeeding meanwhile.
const GUARDIAN_SCRIPT: &str = r#"
trap '' INT TERM HUP
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
pid=
sig=TERM
while IFS= read -r line; do
  case "$line" in
    done) exit 0 ;;
    "pid "*) rest=${line#pid }; pid=${rest%% *}; sig=${rest#* } ;;
  esac
done
if [ -n "$pid" ] && kill -"$sig" "$pid" 2>/dev/null; then
  i=0
  while alive "$pid" && [ "$i" -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
fi
[ "$2" = 1 ] || rm -rf -- "$1"
"#;

impl Guardian {
    fn spawn(dir: &Path, keep: bool) -> Option<Guardian> {
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(GUARDIAN_SCRIPT)
            .arg("attache-testkit-guardian")
            .arg(dir)
            .arg(if keep { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        match spawned {
            Ok(mut child) => {
                let stdin = child.stdin.take().expect("guardian stdin");
                Some(Guardian { child, stdin })
            }
            Err(e) => {
                // Not fatal: Drop still cleans up; only a crash would leave the instance behind
                // (and the next start reaps it).
                eprintln!("attache-testkit: cannot spawn cleanup guardian (sh): {e}");
                None
            }
        }
    }

    fn watch(&mut self, pid: u32, signal: &str) {
        let _ = writeln!(self.stdin, "pid {pid} {signal}");
    }

    /// We cleaned up ourselves: tell the guardian to exit without touching anything.
    fn dismiss(mut self) {
        let _ = writeln!(self.stdin, "done");
        drop(self.stdin);
        let _ = sys::wait_timeout(&mut self.child, Duration::from_secs(5));
    }
}
