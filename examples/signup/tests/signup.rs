//! The signup service in-process against the test kit's TLS PostgreSQL, with an account made
//! from its own manifest's needs (exactly what `attache grants` prints).

use std::path::PathBuf;

use attache::postgres::{self, Postgres};
use attache::{Environment, Manifest, Secret};
use attache_testkit::{BindingDir, PgServer, TestAccount};
use serde_json::{Value, json};
use signup::{AppState, app};

fn manifest() -> Manifest {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("attache.toml");
    Manifest::load(path).unwrap()
}

/// A database on `server` with an account provisioned for the manifest's needs, and nothing more.
fn provisioned(server: &PgServer, user: &str) -> TestAccount {
    let m = manifest();
    let spec = m.resource("db").unwrap();
    let password = format!("planted-{user}");
    let database = server.fresh_database();
    let secret = Secret::new(password.clone());
    let sql = attache::kind::provision::<Postgres>(&m.path, spec, user, Some(&secret))
        .unwrap()
        .statements
        .join("\n");
    server.admin_sql(&database, &sql);
    TestAccount {
        database,
        user: user.to_owned(),
        password,
        host: server.host().to_owned(),
        port: server.port(),
        ca_path: server.ca_path(),
    }
}

/// Serves the app on 127.0.0.1:<ephemeral>; returns its base URL.
async fn serve(db: postgres::Attached) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app(AppState { db })).await.unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signups_are_stored_read_back_and_survive_a_live_database_swap() {
    let server = PgServer::shared();
    let first = provisioned(server, "signup_first");
    let second = provisioned(server, "signup_second");
    let root = tempfile::tempdir().unwrap();
    let mut binding = BindingDir::new(root.path(), "db");
    binding.publish_pg(&first);
    let env = Environment::from_pairs([(
        "SERVICE_BINDING_ROOT",
        root.path().to_string_lossy().into_owned(),
    )]);
    let db = postgres::Attached::attach(&manifest(), "db", env)
        .await
        .unwrap();
    let base = serve(db.clone()).await;
    let http = reqwest::Client::new();

    let created = http
        .post(format!("{base}/signups"))
        .json(&json!({ "email": "ada@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let read: Value = http
        .get(format!("{base}/signups/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["email"], "ada@example.com");
    assert!(read["created_at"].as_str().unwrap().ends_with('Z'));

    let missing = http
        .get(format!("{base}/signups/999999"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let invalid = http
        .post(format!("{base}/signups"))
        .json(&json!({ "email": "not an address" }))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let text = ready.text().await.unwrap();
    for secret in [&first.password, &second.password] {
        assert!(!text.contains(secret.as_str()), "{text}");
    }
    let ready: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["resources"][0]["status"]["generation"], 1);
    assert_eq!(ready["resources"][0]["status"]["resource"], "db");

    // Swap the database live: the new one has no signups yet.
    binding.publish_pg(&second);
    assert_eq!(db.reattach().await.unwrap(), 2);
    let gone = http
        .get(format!("{base}/signups/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "the app now reads the second database");
    let created = http
        .post(format!("{base}/signups"))
        .json(&json!({ "email": "grace@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let rows = server.admin_sql(&second.database, "SELECT email FROM public.signups;");
    assert_eq!(rows.trim(), "grace@example.com");

    // A superuser binding is refused; /readyz shows the refusal and the app keeps serving.
    let admin = server.account(attache_testkit::Account::Superuser);
    binding.publish_pg(&admin);
    db.reattach().await.expect_err("a superuser is refused");
    let ready: Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["resources"][0]["status"]["generation"], 2);
    let checks = &ready["resources"][0]["status"]["refused"]["checks"];
    assert!(
        checks
            .as_array()
            .unwrap()
            .contains(&json!("priv-superuser")),
        "{ready}"
    );
    assert!(!ready.to_string().contains(&admin.password));
}

/// A database that stops answering without closing (every postgres process stopped, as a hung
/// disk or a stalled VM looks) makes requests answer 503 within the resource's
/// `request_timeout`, not wait; once it runs again, the service answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_answers_503_within_the_request_timeout_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = PgServer::start(
        std::sync::Arc::new(attache_testkit::Pki::new(dir.path())),
        attache_testkit::CertProfile::Valid,
    );
    let account = provisioned(&server, "signup_frozen");
    let text = std::fs::read_to_string(manifest().path).unwrap();
    let manifest = Manifest::parse(
        "attache.toml",
        &text.replace(
            "excess = \"deny\"",
            "excess = \"deny\"\nrequest_timeout = \"1s\"",
        ),
    )
    .unwrap();
    let env = Environment::from_pairs([("DB_URL", account.url())]);
    let db = postgres::Attached::attach(&manifest, "db", env)
        .await
        .unwrap();
    assert_eq!(db.request_timeout(), std::time::Duration::from_secs(1));
    let base = serve(db.clone()).await;
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!("{base}/signups"))
            .json(&json!({ "email": "frozen@example.com" }))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 201);

    let frozen = server.freeze();
    let started = std::time::Instant::now();
    let stuck = post().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(stuck.status(), 503);
    // A bound, not a benchmark: the request_timeout (1 s) and well under the 5 s default.
    assert!(
        waited < std::time::Duration::from_secs(4),
        "waited {waited:?}"
    );
    drop(frozen);

    // The pool drops what the freeze left broken; the service answers again.
    let mut answered = false;
    for _ in 0..50 {
        if post().await.unwrap().status() == 201 {
            answered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        answered,
        "the service answers again after the database runs"
    );
}
