//! Attached at runtime, against real servers: swap from one PostgreSQL server to another,
//! rotate a password, keep serving when a new binding is refused or removed, follow a
//! Kubernetes `..data` symlink swap. Requests run throughout and none may fail.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use attache_core::{AttachOptions, Attached, CheckId, Environment, Manifest};
use attache_postgres::Postgres;
use attache_testkit::{Account, BindingDir, NEEDS, PgServer, Pki, TestAccount};

type Db = Attached<Postgres>;

fn manifest() -> Manifest {
    let needs: Vec<String> = NEEDS.iter().map(|n| format!("{n:?}")).collect();
    Manifest::parse(
        "attache.toml",
        &format!(
            "[resources.db]\nkind = \"postgres\"\nneeds = [{}]\n[resources.db.policy]\nexcess = \"deny\"\n",
            needs.join(", ")
        ),
    )
    .unwrap()
}

fn options() -> AttachOptions {
    AttachOptions::default()
        .poll_every(Duration::from_millis(50))
        .debounce(Duration::from_millis(50))
        .drain_grace(Duration::from_secs(5))
        .warm_connections(2)
}

/// A second server, with its own CA.
fn server_b() -> &'static PgServer {
    static B: std::sync::OnceLock<PgServer> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        PgServer::start(
            Arc::new(Pki::new(&dir)),
            attache_testkit::CertProfile::Valid,
        )
    })
}

/// A least-privileged account whose database holds one signup, `marker`.
fn account_with_marker(server: &PgServer, marker: &str) -> TestAccount {
    let account = server.account(Account::LeastPrivileged);
    server.admin_sql(
        &account.database,
        &format!("INSERT INTO public.signups (email) VALUES ('{marker}');"),
    );
    account
}

/// The binding through `DB_URL_FILE` and `DB_PASSWORD_FILE`, rewritten by `point_at`.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn env(&self) -> Environment {
        Environment::from_pairs([
            ("DB_URL_FILE", self.path("url")),
            ("DB_PASSWORD_FILE", self.path("password")),
        ])
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// Replaces a file atomically (write beside it, rename over it), mode 0600.
    fn replace(&self, name: &str, contents: &str) {
        use std::os::unix::fs::PermissionsExt;
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
    }

    fn point_at(&self, account: &TestAccount) {
        self.replace("url", &account.url_without_password());
        self.replace("password", &account.password);
    }
}

async fn emails(db: &Db) -> Vec<String> {
    let pool = db.get();
    let client = pool.get().await.expect("a connection");
    client
        .query("SELECT email FROM public.signups ORDER BY id", &[])
        .await
        .expect("select")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Requests (INSERT then SELECT of the row) in a loop until stopped; counts failures.
struct Traffic {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    fn start(db: &Db, clients: usize) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let (db, stop, ok, failed) =
                    (db.clone(), stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let pool = db.get();
                        let result = async {
                            let client = pool.get().await.map_err(|e| e.to_string())?;
                            let row = client
                                .query_one(
                                    "INSERT INTO public.signups (email) VALUES ('traffic@example.com') RETURNING id",
                                    &[],
                                )
                                .await
                                .map_err(|e| e.to_string())?;
                            let id: i64 = row.get(0);
                            client
                                .query_one("SELECT email FROM public.signups WHERE id = $1", &[&id])
                                .await
                                .map_err(|e| e.to_string())?;
                            Ok::<_, String>(())
                        }
                        .await;
                        match result {
                            Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                eprintln!("request failed: {e}");
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                })
            })
            .collect();
        Traffic {
            stop,
            ok,
            failed,
            tasks,
        }
    }

    /// Stops the clients; returns (succeeded, failed).
    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Waits until at least `n` more requests have succeeded (bounded: 30 s).
    async fn wait_for(&self, n: u64) {
        let target = self.ok.load(Ordering::Relaxed) + n;
        for _ in 0..3000 {
            if self.ok.load(Ordering::Relaxed) >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("traffic stalled");
    }
}

/// Polls `cond` every 20 ms for up to 20 s (a bound against hangs, not a timing assertion).
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_from_server_a_to_server_b_under_traffic() {
    let a = account_with_marker(PgServer::shared(), "a@example.com");
    let b = account_with_marker(server_b(), "b@example.com");
    let files = Files::new();
    files.point_at(&a);
    let db = Db::attach_with(&manifest(), "db", files.env(), options())
        .await
        .unwrap();
    assert_eq!(emails(&db).await, ["a@example.com"]);
    assert_eq!(db.status().generation, 1);

    let traffic = Traffic::start(&db, 4);
    traffic.wait_for(50).await;
    // A request that started on A and is still running when the swap happens.
    let on_a = db.get();
    files.point_at(&b);
    assert_eq!(db.reattach().await.unwrap(), 2);
    traffic.wait_for(50).await;
    let (ok, failed) = traffic.finish().await;
    assert_eq!(failed, 0, "{ok} requests succeeded, {failed} failed");

    let after = emails(&db).await;
    assert_eq!(after[0], "b@example.com", "the app now reads B's data");
    let status = db.status();
    assert_eq!(status.generation, 2);
    assert!(
        status.target.contains(&b.port.to_string()),
        "{}",
        status.target
    );
    assert!(status.refused.is_none());

    // The lease on A still works, and A's pool closes once it is released.
    let conn = on_a
        .get()
        .await
        .expect("the old pool serves its running request");
    let rows = conn
        .query("SELECT email FROM public.signups", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "a@example.com");
    assert_eq!(db.status().draining, 1);
    drop(conn);
    drop(on_a);
    eventually("the old pool drained and closed", || {
        db.status().draining == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rotation_under_traffic() {
    let server = PgServer::shared();
    let mut account = server.account(Account::LeastPrivileged);
    let files = Files::new();
    files.point_at(&account);
    let db = Db::attach_with(&manifest(), "db", files.env(), options())
        .await
        .unwrap();
    let traffic = Traffic::start(&db, 4);
    traffic.wait_for(50).await;

    // The rotation with no window: the new secret first, then the new password on the server.
    let old = account.clone();
    account.password = "planted-rotated-password".to_owned();
    files.replace("password", &account.password);
    server.admin_sql(
        &account.database,
        &format!(
            "ALTER ROLE {} PASSWORD '{}';",
            account.user, account.password
        ),
    );
    traffic.wait_for(20).await;
    // Before the re-attach, the pool in service still opens new connections: it reads the
    // rotated password file when the old password is refused.
    let pool = db.get();
    assert_eq!(pool.generation(), 1);
    let conns = futures_util::future::join_all((0..8).map(|_| pool.get())).await;
    assert!(
        conns.iter().all(Result::is_ok),
        "the pool in service opens connections after the rotation"
    );
    drop(conns);
    drop(pool);
    assert_eq!(db.reattach().await.unwrap(), 2);
    traffic.wait_for(50).await;
    let (ok, failed) = traffic.finish().await;
    assert_eq!(failed, 0, "{ok} requests succeeded, {failed} failed");

    // The old password stops working; the new pool logs in with the new one.
    let m = manifest();
    let stale = attache_core::attach::<Postgres>(
        &m,
        "db",
        &Environment::from_pairs([("DB_URL", old.url())]),
    )
    .await;
    let Err(err) = stale else {
        panic!("the old password still logs in");
    };
    assert!(
        err.findings()
            .iter()
            .any(|f| f.check == CheckId::AuthFailed),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(&old.password));
    let conn = db
        .get()
        .get()
        .await
        .expect("a fresh connection with the new password");
    conn.query_one("SELECT 1", &[]).await.unwrap();
}

/// Points the binding at something that must be refused; asserts the refusal names `check`,
/// carries no password, and that the app keeps serving generation 1.
async fn refused_keeps_serving(bad: &TestAccount, check: CheckId, url: Option<String>) {
    let good = account_with_marker(PgServer::shared(), "good@example.com");
    let files = Files::new();
    files.point_at(&good);
    let db = Db::attach_with(&manifest(), "db", files.env(), options())
        .await
        .unwrap();
    let traffic = Traffic::start(&db, 2);
    traffic.wait_for(20).await;
    files.point_at(bad);
    if let Some(url) = url {
        files.replace("url", &url);
    }
    let err = db.reattach().await.expect_err("the new binding is refused");
    assert!(
        err.findings().iter().any(|f| f.check == check),
        "expected {check}: {err}"
    );
    traffic.wait_for(20).await;
    let (ok, failed) = traffic.finish().await;
    assert_eq!(failed, 0, "{ok} requests succeeded, {failed} failed");
    let status = db.status();
    assert_eq!(status.generation, 1, "still serving the first binding");
    let refusal = status.refused.expect("the refusal is reported");
    assert!(refusal.checks.contains(&check), "{:?}", refusal.checks);
    let json = serde_json::to_string(&db.status()).unwrap();
    for secret in [&bad.password, &good.password] {
        assert!(!json.contains(secret.as_str()) && !refusal.message.contains(secret.as_str()));
        assert!(!format!("{err} {err:?}").contains(secret.as_str()));
    }
    assert_eq!(emails(&db).await[0], "good@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superuser_binding_is_refused_and_the_app_keeps_serving() {
    let bad = PgServer::shared().account(Account::Superuser);
    refused_keeps_serving(&bad, CheckId::PrivSuperuser, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_grant_binding_is_refused_and_the_app_keeps_serving() {
    let bad = PgServer::shared().account(Account::MissingGrant);
    refused_keeps_serving(&bad, CheckId::PrivMissing, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_binding_is_refused_and_the_app_keeps_serving() {
    // Server B's account, but with server A's CA: B's certificate does not verify.
    let mut bad = server_b().account(Account::LeastPrivileged);
    bad.ca_path = PgServer::shared().ca_path();
    refused_keeps_serving(&bad, CheckId::TlsCertInvalid, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_binding_keeps_serving_and_a_restored_one_is_picked_up() {
    let a = account_with_marker(PgServer::shared(), "a@example.com");
    let root = tempfile::tempdir().unwrap();
    let mut binding = BindingDir::new(root.path(), "db");
    binding.publish_pg(&a);
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let db = Db::attach_with(&manifest(), "db", env, options())
        .await
        .unwrap();
    let _watch = db.watch();
    let traffic = Traffic::start(&db, 2);

    binding.remove();
    eventually("the removal is noticed and refused", || {
        db.status()
            .refused
            .is_some_and(|r| r.checks.contains(&CheckId::BindingMissing))
    })
    .await;
    traffic.wait_for(20).await;
    assert_eq!(db.status().generation, 1);

    binding.publish_pg(&a);
    eventually("the restored binding is attached", || {
        let s = db.status();
        s.generation == 2 && s.refused.is_none()
    })
    .await;
    let (ok, failed) = traffic.finish().await;
    assert_eq!(failed, 0, "{ok} requests succeeded, {failed} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_symlink_swap_is_followed() {
    let a = account_with_marker(PgServer::shared(), "a@example.com");
    let b = account_with_marker(server_b(), "b@example.com");
    let root = tempfile::tempdir().unwrap();
    let mut binding = BindingDir::new(root.path(), "db");
    binding.publish_pg(&a);
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let db = Db::attach_with(&manifest(), "db", env, options())
        .await
        .unwrap();
    let _watch = db.watch();
    let traffic = Traffic::start(&db, 2);
    traffic.wait_for(20).await;

    binding.publish_pg(&b);
    eventually("the ..data swap is attached", || {
        db.status().generation == 2
    })
    .await;
    traffic.wait_for(20).await;
    let (ok, failed) = traffic.finish().await;
    assert_eq!(failed, 0, "{ok} requests succeeded, {failed} failed");
    assert_eq!(emails(&db).await[0], "b@example.com");
    assert!(
        Path::new(&db.status().target)
            .to_string_lossy()
            .contains(&b.port.to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_is_one_reattach() {
    let a = PgServer::shared().account(Account::LeastPrivileged);
    let root = tempfile::tempdir().unwrap();
    let mut binding = BindingDir::new(root.path(), "db");
    binding.publish_pg(&a);
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let opts = options()
        .poll_every(Duration::from_millis(20))
        .debounce(Duration::from_millis(300));
    let db = Db::attach_with(&manifest(), "db", env, opts).await.unwrap();
    let _watch = db.watch();
    // Re-publishing the same binding is no change at all.
    binding.publish_pg(&a);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        db.status().generation,
        1,
        "an identical binding is not re-attached"
    );

    // Five different bindings 30 ms apart: each within the debounce of the one before.
    let accounts: Vec<TestAccount> = (0..5)
        .map(|_| PgServer::shared().account(Account::LeastPrivileged))
        .collect();
    for account in &accounts {
        binding.publish_pg(account);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    eventually("the burst is attached", || db.status().generation >= 2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        db.status().generation,
        2,
        "one re-attach for the whole burst"
    );
    let user: String = db
        .get()
        .get()
        .await
        .unwrap()
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, accounts[4].user, "the last binding of the burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_starts_with_the_connection_inspection_used() {
    let server = PgServer::shared();
    let account = server.account(Account::LeastPrivileged);
    let files = Files::new();
    files.point_at(&account);
    let pool = attache_core::attach::<Postgres>(&manifest(), "db", &files.env())
        .await
        .unwrap();
    // Inspection's connection is still open, held for the pool: one backend for the account.
    let pids = server.admin_sql(
        "postgres",
        &format!(
            "SELECT pid FROM pg_stat_activity WHERE usename = '{}';",
            account.user
        ),
    );
    let pids: Vec<i32> = pids.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let client = pool.get().await.unwrap();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        pid, pids[0],
        "the first pooled connection is the inspected one"
    );
}
