//! `scripts/demo`: a throwaway TLS PostgreSQL, a safe and a dangerous binding, and
//! `attache audit` on both. Everything is removed when it ends.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use attache_testkit::{Account, NEEDS, PgServer};

fn main() -> ExitCode {
    let attache = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("attache"),
        Err(e) => {
            eprintln!("attache-demo: cannot find the attache binary: {e}");
            return ExitCode::from(2);
        }
    };
    if !attache.exists() {
        eprintln!("attache-demo: build it first: cargo build -p attache-cli");
        return ExitCode::from(2);
    }

    eprintln!("demo: starting a throwaway PostgreSQL with TLS on a loopback port…");
    let server = PgServer::shared();
    let safe = server.account(Account::LeastPrivileged);
    let dangerous = server.account(Account::Superuser);
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("attache-demo: {e}");
            return ExitCode::from(2);
        }
    };

    let needs: Vec<String> = NEEDS.iter().map(|n| format!("  {n:?},")).collect();
    let manifest = format!(
        "[resources.db]\nkind = \"postgres\"\nenv = \"DATABASE_URL\"\nneeds = [\n{}\n]\n",
        needs.join("\n")
    );
    let manifest_path = dir.join("attache.toml");
    std::fs::write(&manifest_path, &manifest).expect("write the manifest");

    let pw = safe.write_password_file(&dir);
    let safe_env = dir.join("safe.env");
    std::fs::write(
        &safe_env,
        format!(
            "DATABASE_URL={}\nDB_PASSWORD_FILE={}\n",
            safe.url_without_password(),
            pw.display()
        ),
    )
    .expect("write safe.env");
    let dangerous_env = dir.join("dangerous.env");
    let dangerous_url = dangerous
        .url()
        .replace("sslmode=verify-full", "sslmode=require");
    std::fs::write(&dangerous_env, format!("DATABASE_URL={dangerous_url}\n"))
        .expect("write dangerous.env");

    println!("── attache.toml ──────────────────────────────────────────────");
    print!("{manifest}");
    let mut codes = Vec::new();
    for (title, env_file, what) in [
        (
            "safe binding",
            &safe_env,
            "least-privileged account, verify-full TLS, password in a 0600 file",
        ),
        (
            "dangerous binding",
            &dangerous_env,
            "superuser, sslmode=require, password inside DATABASE_URL",
        ),
    ] {
        println!();
        println!("── {title}: {what}");
        println!(
            "$ attache audit --manifest attache.toml --env-file {}",
            env_file.file_name().unwrap_or_default().to_string_lossy()
        );
        let started = Instant::now();
        let status = Command::new(&attache)
            .arg("audit")
            .arg("--manifest")
            .arg(&manifest_path)
            .arg("--env-file")
            .arg(env_file)
            .env_remove("DATABASE_URL")
            .env_remove("DB_PASSWORD_FILE")
            .env_remove("SERVICE_BINDING_ROOT")
            .status();
        let elapsed = started.elapsed();
        match status {
            Ok(s) => {
                let code = s.code().unwrap_or(-1);
                println!("(exit {code}, {:.2}s wall)", elapsed.as_secs_f64());
                codes.push(code);
            }
            Err(e) => {
                eprintln!("attache-demo: cannot run {}: {e}", attache.display());
                return ExitCode::from(2);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if codes == [0, 1] {
        println!(
            "\nThe safe binding passes (exit 0); the dangerous one fails (exit 1) and says why."
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("attache-demo: expected exit codes [0, 1], got {codes:?}");
        ExitCode::FAILURE
    }
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("attache-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
