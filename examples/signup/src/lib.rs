//! The signup service: a small stateless web service with no security code of its own.
//!
//! Its database is attached through attache ([`attache::postgres::Attached`]): the
//! manifest (`attache.toml`) says what it needs, the environment says where the database is,
//! and attache verifies TLS and the account's privileges, swaps the database or a rotated
//! password at runtime, and reports status for `/readyz`. The service keeps nothing locally:
//! every instance is the same.
//!
//! - `POST /signups` `{"email": "…"}` → `201 {"id": n}`
//! - `GET /signups/{id}` → `{"id", "email", "created_at"}`, or 404
//! - `GET /healthz` → 200 while the process runs
//! - `GET /readyz` → 200 when every resource is attached and answers, else 503; per-resource
//!   status as JSON, no secrets

use std::time::Duration;

use attache::postgres;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// What every handler shares: the attached database. Cloning it is cheap.
#[derive(Clone)]
pub struct AppState {
    /// The `db` resource.
    pub db: postgres::Attached,
}

/// The service's routes. Every request that touches the database is bounded by the
/// resource's `request_timeout` (5 s unless the manifest says otherwise): a stuck database
/// makes the request answer 503, never wait.
pub fn app(state: AppState) -> Router {
    let bound = state.db.request_timeout();
    Router::new()
        .route("/signups", post(create_signup))
        .route("/signups/{id}", get(read_signup))
        .route("/readyz", get(ready))
        .layer(axum::middleware::from_fn(move |req, next| {
            bounded(bound, req, next)
        }))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(state)
}

/// Runs the request within `bound`, else answers 503.
async fn bounded(
    bound: Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(bound, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("database: no answer within request_timeout ({bound:?})");
            ApiError(StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

#[derive(Deserialize)]
struct NewSignup {
    email: String,
}

/// An error the client sees: a status and a short message, never a driver's error text.
struct ApiError(StatusCode, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// A database failure: logged (driver errors carry no password), answered with 503.
fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("database: {e}");
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
}

async fn create_signup(
    State(state): State<AppState>,
    Json(new): Json<NewSignup>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let email = new.email.trim();
    if email.len() > 254 || !email.contains('@') {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email must be an address",
        ));
    }
    let pool = state.db.get();
    let client = pool.get().await.map_err(unavailable)?;
    let row = client
        .query_one(
            "INSERT INTO public.signups (email) VALUES ($1) RETURNING id",
            &[&email],
        )
        .await
        .map_err(unavailable)?;
    let id: i64 = row.get(0);
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

async fn read_signup(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pool = state.db.get();
    let client = pool.get().await.map_err(unavailable)?;
    let row = client
        .query_opt(
            "SELECT id, email, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM public.signups WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(unavailable)?
        .ok_or(ApiError(StatusCode::NOT_FOUND, "no such signup"))?;
    let (id, email, created_at): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
    Ok(Json(
        json!({ "id": id, "email": email, "created_at": created_at }),
    ))
}

/// Attached, and answering within a second.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let status = state.db.status();
    let answers = tokio::time::timeout(Duration::from_secs(1), async {
        let pool = state.db.get();
        let client = pool.get().await.ok()?;
        client.query_one("SELECT 1", &[]).await.ok()
    })
    .await
    .ok()
    .flatten()
    .is_some();
    let code = if answers {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "ready": answers,
        "resources": [{ "answers": answers, "status": status }],
    });
    (code, Json(body))
}
