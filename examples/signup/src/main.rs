//! The signup service. Reads `attache.toml` (or `$ATTACHE_MANIFEST`), attaches `db` from the
//! environment, follows changes to its binding, re-attaches on SIGHUP, and listens on
//! `$BIND:$PORT` (default `127.0.0.1:8080`; `BIND=0.0.0.0` in a container).
//! Prints `listening on <address>` once it accepts connections.

use std::net::SocketAddr;

use anyhow::Context;
use attache::postgres;
use attache::{Environment, Manifest};
use signup::{AppState, app};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let manifest_path =
        std::env::var("ATTACHE_MANIFEST").unwrap_or_else(|_| "attache.toml".to_owned());
    let manifest = Manifest::load(&manifest_path)?;
    // Refused (superuser, missing grant, unverified TLS, …): exit with the reasons.
    let db = postgres::Attached::attach(&manifest, "db", Environment::from_process()).await?;
    let _watch = db.watch();

    let mut hangup = signal(SignalKind::hangup()).context("install the SIGHUP handler")?;
    let on_hangup = db.clone();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: re-attaching");
            // A refusal is logged and shown by /readyz; the current pool keeps serving.
            let _ = on_hangup.reattach().await;
        }
    });

    let host = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("BIND={host} PORT={port} is not an address"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app(AppState { db }))
        .with_graceful_shutdown(async {
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    Ok(())
}
