//! Two throwaway TLS PostgreSQL servers for trying the signup service by hand, and a binding
//! directory you can swap between them while the service runs.
//!
//! ```text
//! signup-devdb BINDING_ROOT
//! ```
//!
//! Starts both servers (the test kit's: ephemeral loopback ports, their own CA), creates on
//! each a database and the account `signup_app` with exactly the needs of the example's
//! `attache.toml` (the statements `attache grants` prints), and publishes the binding of
//! server A at `BINDING_ROOT/db/`. Then reads commands on stdin:
//!
//! - `swap`: publish the other server's binding (Kubernetes-style `..data` swap);
//! - `rotate`: a new password for the account in use (new secret first, then `ALTER ROLE`);
//! - `superuser`: publish a superuser's binding, which the service refuses and keeps serving;
//! - `count`: how many signups each server holds;
//! - `quit` (or end of input): stop the servers and remove everything.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use attache::postgres::Postgres;
use attache::{Manifest, Secret};
use attache_testkit::{Account, BindingDir, CertProfile, PgServer, Pki, TestAccount};

fn provision(server: &PgServer, password: &str) -> TestAccount {
    let manifest = Manifest::load(concat!(env!("CARGO_MANIFEST_DIR"), "/attache.toml"))
        .expect("the example's manifest");
    let spec = manifest.resource("db").expect("resource db");
    let database = server.fresh_database();
    let secret = Secret::new(password.to_owned());
    let sql =
        attache::kind::provision::<Postgres>(&manifest.path, spec, "signup_app", Some(&secret))
            .expect("the needs parse");
    server.admin_sql(&database, &sql.statements.join("\n"));
    TestAccount {
        database,
        user: "signup_app".to_owned(),
        password: password.to_owned(),
        host: server.host().to_owned(),
        port: server.port(),
        ca_path: server.ca_path(),
    }
}

fn main() {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: signup-devdb BINDING_ROOT");
        std::process::exit(2);
    };
    let pki_dir = tempfile::tempdir().expect("a temporary directory");
    let pki = Arc::new(Pki::new(pki_dir.path()));
    eprintln!("signup-devdb: starting servers A and B…");
    let servers = [
        PgServer::start(pki.clone(), CertProfile::Valid),
        PgServer::start(pki, CertProfile::Valid),
    ];
    let mut accounts = [
        provision(&servers[0], "dev-password-a-1"),
        provision(&servers[1], "dev-password-b-1"),
    ];
    let mut binding = BindingDir::new(&root, "db");
    let mut serving = 0;
    binding.publish_pg(&accounts[serving]);
    let names = ["A", "B"];
    println!(
        "server A on 127.0.0.1:{}, server B on 127.0.0.1:{}; binding of A published at {}",
        servers[0].port(),
        servers[1].port(),
        binding.path().display()
    );
    println!("commands: swap, rotate, superuser, count, quit");
    let mut rotations = 1;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "swap" => {
                serving = 1 - serving;
                binding.publish_pg(&accounts[serving]);
                println!("published the binding of server {}", names[serving]);
            }
            "rotate" => {
                rotations += 1;
                let account = &mut accounts[serving];
                account.password =
                    format!("dev-password-{}-{rotations}", names[serving].to_lowercase());
                binding.publish_pg(account);
                servers[serving].admin_sql(
                    &account.database,
                    &format!("ALTER ROLE signup_app PASSWORD '{}';", account.password),
                );
                println!("rotated the password on server {}", names[serving]);
            }
            "superuser" => {
                let admin = servers[serving].account(Account::Superuser);
                binding.publish_pg(&admin);
                println!(
                    "published a superuser's binding: the service refuses it (see /readyz); \
                     `swap` or `rotate` publishes a good one again"
                );
            }
            "count" => {
                for (i, (server, account)) in servers.iter().zip(&accounts).enumerate() {
                    let n =
                        server.admin_sql(&account.database, "SELECT count(*) FROM public.signups;");
                    println!("server {}: {} signups", names[i], n.trim());
                }
            }
            "quit" => break,
            "" => {}
            other => println!(
                "unknown command {other:?}; commands: swap, rotate, superuser, count, quit"
            ),
        }
    }
    binding.remove();
    eprintln!("signup-devdb: stopping the servers");
}
