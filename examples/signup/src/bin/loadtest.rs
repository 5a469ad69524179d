//! Load test: drives the signup service at a fixed concurrency while its database binding is
//! swapped between two PostgreSQL servers and its password is rotated, then checks that every
//! acknowledged write is on the server it went to.
//!
//! Everything runs on loopback: two TLS PostgreSQL servers from the test kit, the `signup`
//! binary (a separate process, as in production), and the clients here. Bounded in count
//! (`--requests`) and time (`--time-limit`).
//!
//! ```text
//! cargo run --release -p signup --bin loadtest -- --requests 100000 --clients 4 --swaps 20
//! ```
//!
//! Changes are spaced `--spacing-ms` apart (default 2 s), so that steady state and "within one
//! second of a swap" both have traffic; the run lasts until the last change is a spacing behind
//! and at least `--requests` requests were sent.
//!
//! Prints requests sent and failed, latency p50/p99 in steady state and within one second
//! after each swap, and the number of acknowledged writes not found; exits 1 if any request
//! failed or any write was lost.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use attache::postgres::Postgres;
use attache::{Manifest, Secret};
use attache_testkit::{BindingDir, CertProfile, PgServer, Pki, TestAccount};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Load-test the signup service through live database swaps and rotations")]
struct Args {
    /// Requests to send at least (each a `POST /signups`).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Time between two binding changes, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    spacing_ms: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Binding changes during the run, alternating: swap to the other server, rotate the
    /// password of the server now in use.
    #[arg(long, default_value_t = 20)]
    swaps: u64,
    /// Stop (and fail) if the run takes longer than this many seconds.
    #[arg(long, default_value_t = 900)]
    time_limit: u64,
    /// The signup binary (default: `signup` next to this one).
    #[arg(long)]
    signup: Option<PathBuf>,
}

/// One request: when it started (since the run began), how long it took, whether it passed.
struct Sample {
    start: Duration,
    latency: Duration,
    ok: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

/// The service's manifest, and an account on `server` provisioned for exactly its needs.
fn provision(server: &PgServer, user: &str, password: &str) -> TestAccount {
    let manifest = Manifest::load(concat!(env!("CARGO_MANIFEST_DIR"), "/attache.toml"))
        .expect("the example's manifest");
    let spec = manifest.resource("db").expect("resource db");
    let database = server.fresh_database();
    let secret = Secret::new(password.to_owned());
    let statements =
        attache::kind::provision::<Postgres>(&manifest.path, spec, user, Some(&secret))
            .expect("the needs parse");
    server.admin_sql(&database, &statements.statements.join("\n"));
    TestAccount {
        database,
        user: user.to_owned(),
        password: password.to_owned(),
        host: server.host().to_owned(),
        port: server.port(),
        ca_path: server.ca_path(),
    }
}

/// The signup service as a child process; killed on drop.
struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn start(binary: &PathBuf, binding_root: &std::path::Path) -> anyhow::Result<Service> {
        let mut child = Command::new(binary)
            .env("SERVICE_BINDING_ROOT", binding_root)
            .env(
                "ATTACHE_MANIFEST",
                concat!(env!("CARGO_MANIFEST_DIR"), "/attache.toml"),
            )
            .env("PORT", "0")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("signup did not start (first line: {line:?})");
        };
        Ok(Service {
            base: format!("http://{addr}"),
            child,
        })
    }

    fn hangup(&self) {
        let _ = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status();
    }
}

async fn generation(http: &reqwest::Client, base: &str) -> Option<u64> {
    let ready: serde_json::Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    ready["resources"][0]["status"]["generation"].as_u64()
}

async fn run(args: Args) -> anyhow::Result<()> {
    let binary = match args.signup.clone() {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("this binary's directory")?
            .join("signup"),
    };
    eprintln!("loadtest: starting two TLS PostgreSQL servers");
    let pki_dir = tempfile::tempdir()?;
    let pki = Arc::new(Pki::new(pki_dir.path()));
    let (servers, accounts) = tokio::task::spawn_blocking(move || {
        let servers = [
            PgServer::start(pki.clone(), CertProfile::Valid),
            PgServer::start(pki, CertProfile::Valid),
        ];
        let accounts = [
            provision(&servers[0], "signup_app", "planted-loadtest-a-0"),
            provision(&servers[1], "signup_app", "planted-loadtest-b-0"),
        ];
        (servers, accounts)
    })
    .await?;
    let servers = Arc::new(servers);
    let root = tempfile::tempdir()?;
    let mut binding = BindingDir::new(root.path(), "db");
    binding.publish_pg(&accounts[0]);
    let service = Service::start(&binary, root.path())?;
    eprintln!(
        "loadtest: signup at {}; {} requests, {} clients, {} swaps and rotations",
        service.base, args.requests, args.clients, args.swaps
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let began = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..args.clients {
        let (http, base, sent, stop, acked) = (
            http.clone(),
            service.base.clone(),
            sent.clone(),
            stop.clone(),
            acked.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                if stop.load(Ordering::Relaxed) {
                    return samples;
                }
                let n = sent.fetch_add(1, Ordering::Relaxed);
                let email = format!("lt-{c}-{n}@example.com");
                let start = began.elapsed();
                let t = Instant::now();
                let response = http
                    .post(format!("{base}/signups"))
                    .json(&serde_json::json!({ "email": email }))
                    .send()
                    .await;
                let id = match response {
                    Ok(r) if r.status() == 201 => r
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|v| v["id"].as_i64()),
                    Ok(r) => {
                        eprintln!("loadtest: request {n}: HTTP {}", r.status());
                        None
                    }
                    Err(e) => {
                        eprintln!("loadtest: request {n}: {e}");
                        None
                    }
                };
                samples.push(Sample {
                    start,
                    latency: t.elapsed(),
                    ok: id.is_some(),
                });
                if let Some(id) = id {
                    acked.lock().unwrap().push((email, id));
                }
            }
        }));
    }

    // The operator: at evenly spaced points of the run, swap or rotate, then wait until the
    // service reports the new generation.
    let mut swaps_at = Vec::new();
    let mut accounts = accounts;
    let mut serving = 0usize;
    let spacing = Duration::from_millis(args.spacing_ms);
    let limit = Duration::from_secs(args.time_limit);
    for i in 0..args.swaps {
        let at = spacing * (i as u32 + 1);
        while began.elapsed() < at {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if began.elapsed() > limit {
            stop.store(true, Ordering::Relaxed);
            bail!("time limit reached before change {i}");
        }
        let before = generation(&http, &service.base).await.unwrap_or(0);
        let what = if i % 2 == 0 {
            serving = 1 - serving;
            binding.publish_pg(&accounts[serving]);
            format!("swap to server {}", ["A", "B"][serving])
        } else {
            // The new secret first, then the new password on the server: the pool in service
            // reads the rotated file if it needs a connection before the re-attach.
            let account = &mut accounts[serving];
            account.password = format!("planted-loadtest-{serving}-{i}");
            binding.publish_pg(account);
            let sql = format!(
                "ALTER ROLE {} PASSWORD '{}';",
                account.user, account.password
            );
            let (servers2, db) = (servers.clone(), account.database.clone());
            tokio::task::spawn_blocking(move || servers2[serving].admin_sql(&db, &sql)).await?;
            format!("rotate the password on server {}", ["A", "B"][serving])
        };
        swaps_at.push(began.elapsed());
        service.hangup();
        let waited = Instant::now();
        loop {
            if generation(&http, &service.base).await > Some(before) {
                break;
            }
            if waited.elapsed() > Duration::from_secs(30) {
                stop.store(true, Ordering::Relaxed);
                bail!("the service did not take change {i} ({what}) within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        eprintln!(
            "loadtest: {:>3}/{} {what}: attached after {} ms",
            i + 1,
            args.swaps,
            waited.elapsed().as_millis()
        );
    }
    // Steady state after the last change, and at least the requests asked for.
    let end = spacing * (args.swaps as u32 + 1);
    while began.elapsed() < end || sent.load(Ordering::Relaxed) < args.requests {
        if began.elapsed() > limit {
            stop.store(true, Ordering::Relaxed);
            bail!("time limit of {} s reached", args.time_limit);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for c in clients {
        samples.extend(c.await?);
    }
    let elapsed = began.elapsed();
    if elapsed > Duration::from_secs(args.time_limit) {
        bail!("time limit of {} s exceeded", args.time_limit);
    }

    // Every acknowledged write must be on the server it went to: exactly one of the two.
    eprintln!("loadtest: checking every acknowledged write");
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let found: Vec<HashMap<String, i64>> = {
        let servers = servers.clone();
        let dbs = [accounts[0].database.clone(), accounts[1].database.clone()];
        tokio::task::spawn_blocking(move || {
            (0..2)
                .map(|s| {
                    servers[s]
                        .admin_sql(&dbs[s], "SELECT email, id FROM public.signups;")
                        .lines()
                        .filter_map(|l| {
                            let (email, id) = l.split_once('|')?;
                            Some((email.to_owned(), id.parse().ok()?))
                        })
                        .collect()
                })
                .collect()
        })
        .await?
    };
    let lost = acked
        .iter()
        .filter(|(email, id)| {
            let places = found.iter().filter(|f| f.get(email) == Some(id)).count();
            places != 1
        })
        .count();

    let failed = samples.iter().filter(|s| !s.ok).count();
    let near_swap = |s: &Sample| {
        swaps_at
            .iter()
            .any(|&at| s.start >= at && s.start < at + Duration::from_secs(1))
    };
    let (mut swap, mut steady): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for s in samples.iter().filter(|s| s.ok) {
        if near_swap(s) {
            swap.push(s.latency);
        } else {
            steady.push(s.latency);
        }
    }
    let (p50_steady, p99_steady) = percentiles(&mut steady);
    let (p50_swap, p99_swap) = percentiles(&mut swap);
    println!("requests sent:        {}", samples.len());
    println!("requests failed:      {failed}");
    println!("swaps and rotations:  {}", swaps_at.len());
    println!("acknowledged writes:  {}", acked.len());
    println!("writes not found:     {lost}");
    println!(
        "wall time:            {:.1} s ({:.0} req/s)",
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "steady state:         p50 {} p99 {} ({} requests)",
        ms(p50_steady),
        ms(p99_steady),
        steady.len()
    );
    println!(
        "within 1 s of a swap: p50 {} p99 {} ({} requests)",
        ms(p50_swap),
        ms(p99_swap),
        swap.len()
    );
    if let (Some(s), Some(w)) = (p99_steady, p99_swap) {
        println!(
            "p99 ratio swap/steady: {:.2}",
            w.as_secs_f64() / s.as_secs_f64()
        );
    }
    drop(service);
    if failed > 0 || lost > 0 {
        bail!("{failed} failed requests, {lost} lost writes");
    }
    Ok(())
}

fn percentiles(v: &mut [Duration]) -> (Option<Duration>, Option<Duration>) {
    if v.is_empty() {
        return (None, None);
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    (Some(at(0.50)), Some(at(0.99)))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    })
}
