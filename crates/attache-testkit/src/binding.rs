//! Kubernetes-style service-binding directories that can be re-published atomically.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use crate::pg::TestAccount;

/// `<root>/<name>/` laid out as the kubelet lays out a secret volume: each entry is a symlink
/// `name -> ..data/name`, and `..data` is a symlink to a timestamped directory beside it.
/// [`publish`](BindingDir::publish) writes a new timestamped directory and swaps `..data` with
/// one `rename`, as the kubelet does, so a reader sees the old binding or the new one, never a
/// mix.
#[derive(Debug)]
pub struct BindingDir {
    dir: PathBuf,
    published: u64,
    current: Option<PathBuf>,
}

impl BindingDir {
    /// An empty binding directory `<root>/<name>/` (created).
    pub fn new(root: &Path, name: &str) -> BindingDir {
        let dir = root.join(name);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        BindingDir {
            dir,
            published: 0,
            current: None,
        }
    }

    /// The binding directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Publishes `files` (name, contents) as the binding's new contents; `password` and
    /// `tls.key` get mode 0600, the rest 0644.
    pub fn publish(&mut self, files: &[(&str, String)]) {
        self.published += 1;
        fs::create_dir_all(&self.dir)
            .unwrap_or_else(|e| panic!("create {}: {e}", self.dir.display()));
        let data = self.dir.join(format!("..2026_11_23_{:04}", self.published));
        fs::create_dir(&data).unwrap_or_else(|e| panic!("create {}: {e}", data.display()));
        for (name, contents) in files {
            let path = data.join(name);
            fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            let mode = if matches!(*name, "password" | "tls.key") {
                0o600
            } else {
                0o644
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let link = self.dir.join(name);
            if fs::symlink_metadata(&link).is_err() {
                symlink(Path::new("..data").join(name), &link).unwrap();
            }
        }
        // The kubelet's swap: a new symlink under a temporary name, renamed over `..data`.
        let tmp = self.dir.join("..data_tmp");
        let _ = fs::remove_file(&tmp);
        symlink(data.file_name().unwrap(), &tmp).unwrap();
        fs::rename(&tmp, self.dir.join("..data")).unwrap();
        if let Some(old) = self.current.replace(data) {
            let _ = fs::remove_dir_all(old);
        }
    }

    /// Publishes a PostgreSQL binding for `account` (password in the `password` file, CA in
    /// `ca.crt`).
    pub fn publish_pg(&mut self, account: &TestAccount) {
        self.publish(&[
            ("type", "postgresql".to_owned()),
            ("host", account.host.clone()),
            ("port", account.port.to_string()),
            ("username", account.user.clone()),
            ("password", format!("{}\n", account.password)),
            ("database", account.database.clone()),
            (
                "ca.crt",
                fs::read_to_string(&account.ca_path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", account.ca_path.display())),
            ),
        ]);
    }

    /// Removes the whole binding directory (the binding is gone).
    pub fn remove(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        self.current = None;
    }
}
