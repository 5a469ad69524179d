//! What every CLI test binary shares: running `attache` with a clean environment while
//! asserting no secret is printed, and a temporary project holding a manifest.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}
impl Run {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    pub(crate) fn checks(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["check"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Runs `attache` with exactly `envs` (plus PATH), and asserts none of `secrets` is printed.
pub(crate) fn attache(args: &[&str], envs: &[(&str, String)], secrets: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_attache"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().expect("exited normally, no signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !run.stdout.contains(s) && !run.stderr.contains(s),
            "a secret leaked:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

pub(crate) struct Project {
    pub(crate) dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new(manifest: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("attache.toml"), manifest).unwrap();
        Project { dir }
    }

    pub(crate) fn manifest(&self) -> String {
        self.path("attache.toml").to_string_lossy().into_owned()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn audit(&self, extra: &[&str], envs: &[(&str, String)], secrets: &[&str]) -> Run {
        let manifest = self.manifest();
        let mut args = vec!["audit", "--manifest", manifest.as_str()];
        args.extend_from_slice(extra);
        attache(&args, envs, secrets)
    }
}
