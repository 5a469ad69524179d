//! What attache costs, side by side with what an app would do without it, in one run against
//! one real TLS PostgreSQL server (the test kit's, on loopback):
//!
//! - `per_call`: `Attached::get()` + pool checkout + `SELECT 1`, against the same on a plain
//!   `deadpool_postgres::Pool` (tokio-postgres-rustls, verifying the same CA);
//! - `lease`: `Attached::get()` alone, beside cloning a pool (what sharing a pool costs anyway);
//! - `cold_attach`: `attache::attach` (discover, verify-full connect, privilege inspection,
//!   pool) + first `SELECT 1`, against a bare tokio-postgres verify-full connect + `SELECT 1`.
//!
//! `cargo bench -p attache-postgres --bench attached`; figures in docs/benchmarks.md.

use std::sync::Arc;

use attache_core::{Attached, Environment, Manifest};
use attache_postgres::Postgres;
use attache_testkit::{Account, NEEDS, PgServer};
use criterion::{Criterion, criterion_group, criterion_main};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

fn manifest() -> Manifest {
    let needs: Vec<String> = NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Manifest::parse(
        "attache.toml",
        &format!(
            "[resources.db]\nkind = \"postgres\"\nneeds = [{}]\n",
            needs.join(", ")
        ),
    )
    .unwrap()
}

fn benches(c: &mut Criterion) {
    attache_core::tls::install_provider();
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    let dir = tempfile::tempdir().unwrap();
    let password_file = account.write_password_file(dir.path());
    let env = Environment::from_pairs([
        ("DB_URL", account.url_without_password()),
        (
            "DB_PASSWORD_FILE",
            password_file.to_string_lossy().into_owned(),
        ),
    ]);
    let manifest = manifest();

    // The baseline's TLS: rustls verifying the server against exactly the test CA.
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(&account.ca_path).unwrap();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let raw_tls = MakeRustlsConnect::new(tls_config);
    let mut pg = tokio_postgres::Config::new();
    pg.host(&account.host)
        .port(account.port)
        .user(&account.user)
        .password(&account.password)
        .dbname(&account.database)
        .ssl_mode(tokio_postgres::config::SslMode::Require);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let raw_pool = Pool::builder(Manager::from_config(
        pg.clone(),
        raw_tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    ))
    .max_size(16)
    .build()
    .unwrap();
    let attached = rt
        .block_on(Attached::<Postgres>::attach(&manifest, "db", env.clone()))
        .unwrap();

    let plain = rt
        .block_on(attache_core::attach::<Postgres>(&manifest, "db", &env))
        .unwrap();

    // Every pool in the same state: four open connections (what `Attached` warms by default),
    // handed out first in, first out, as deadpool does.
    rt.block_on(async {
        let raw: Vec<_> = futures_util::future::join_all((0..4).map(|_| raw_pool.get())).await;
        let ours: Vec<_> = futures_util::future::join_all((0..4).map(|_| plain.get())).await;
        assert!(raw.iter().chain(ours.iter()).all(Result::is_ok));
    });

    let mut per_call = c.benchmark_group("per_call");
    per_call.bench_function("raw deadpool: get + SELECT 1", |b| {
        b.to_async(&rt).iter(|| async {
            let client = raw_pool.get().await.unwrap();
            client.query_one("SELECT 1", &[]).await.unwrap();
        })
    });
    per_call.bench_function("attache pool: get + SELECT 1", |b| {
        b.to_async(&rt).iter(|| async {
            let client = plain.get().await.unwrap();
            client.query_one("SELECT 1", &[]).await.unwrap();
        })
    });
    per_call.bench_function("Attached: get + get + SELECT 1", |b| {
        b.to_async(&rt).iter(|| async {
            let pool = attached.get();
            let client = pool.get().await.unwrap();
            client.query_one("SELECT 1", &[]).await.unwrap();
        })
    });
    per_call.finish();

    // What `Attached` adds to a call, without the round trip that hides it: the lease.
    let mut lease = c.benchmark_group("lease");
    lease.bench_function("Attached::get (lease taken and dropped)", |b| {
        b.iter(|| std::hint::black_box(attached.get()))
    });
    lease.bench_function("Pool::clone (the cheapest way to share a pool)", |b| {
        b.iter(|| std::hint::black_box(plain.clone()))
    });
    lease.finish();

    let manifest = Arc::new(manifest);
    let mut cold = c.benchmark_group("cold_attach");
    cold.sample_size(30);
    cold.bench_function("raw tokio-postgres verify-full: connect + SELECT 1", |b| {
        b.to_async(&rt).iter(|| async {
            let (client, conn) = pg.connect(raw_tls.clone()).await.unwrap();
            let task = tokio::spawn(conn);
            client.query_one("SELECT 1", &[]).await.unwrap();
            drop(client);
            let _ = task.await;
        })
    });
    cold.bench_function("attache: attach + SELECT 1", |b| {
        b.to_async(&rt).iter(|| async {
            let pool = attache_core::attach::<Postgres>(&manifest, "db", &env)
                .await
                .unwrap();
            let client = pool.get().await.unwrap();
            client.query_one("SELECT 1", &[]).await.unwrap();
            drop(client);
            pool.close();
        })
    });
    cold.finish();
}

criterion_group!(attached, benches);
criterion_main!(attached);
