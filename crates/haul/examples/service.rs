//! A web service with a Haul worker beside its HTTP API, ready for an orchestrator:
//! `/healthz` (liveness) and `/readyz` (readiness) answer 200 or 503 with the worker's
//! [`haul::Health`] as JSON, `POST /welcome` enqueues a job, and SIGTERM (or Ctrl-C) takes the
//! graceful path: the server stops accepting connections, then the worker stops claiming,
//! lets running jobs finish within its soft timeout, cancels them, and after its hard timeout
//! releases what is left. A second signal forces the hard path at once.
//! `docs/deployment.md` sets Kubernetes' and systemd's timeouts from these.
//!
//! Run it against a PostgreSQL (it uses the schema `haul_example_service`):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run -p haul --example service
//! curl -s localhost:3000/readyz
//! curl -s -XPOST localhost:3000/welcome -H 'content-type: application/json' -d '{"email":"ada@example.com"}'
//! kill -TERM <pid>
//! ```
//!
//! `LISTEN_ADDR` sets the address (default `127.0.0.1:3000`).

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use haul::{
    CancellationToken, Client, ClientConfig, Health, HealthHandle, Job, JobContext, JobError, Worker,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct Welcome {
    email: String,
}

impl Job for Welcome {
    const KIND: &'static str = "welcome";
}

/// Takes two seconds, and stops early (to run again later) when asked to stop.
async fn welcome(ctx: JobContext<()>, job: Welcome) -> Result<(), JobError> {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(2)) => {
            tracing::info!(email = %job.email, "welcome sent");
            Ok(())
        }
        () = ctx.cancellation().cancelled() => Err(JobError::retry("stopped before sending")),
    }
}

#[derive(Clone)]
struct App {
    client: Client,
    health: HealthHandle,
}

/// Liveness: 503 only when a restart would help (the worker stopped or its loops stalled).
async fn healthz(State(app): State<App>) -> (StatusCode, Json<Health>) {
    let health = app.health.check();
    (status(health.is_live()), Json(health))
}

/// Readiness: 200 only while the worker runs (not draining) and hears from the database.
async fn readyz(State(app): State<App>) -> (StatusCode, Json<Health>) {
    let health = app.health.check();
    (status(health.is_ready()), Json(health))
}

fn status(ok: bool) -> StatusCode {
    if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
}

#[derive(Serialize)]
struct Enqueued {
    id: i64,
}

async fn enqueue(
    State(app): State<App>,
    Json(job): Json<Welcome>,
) -> Result<(StatusCode, Json<Enqueued>), (StatusCode, String)> {
    match app.client.insert(job).await {
        Ok(id) => Ok((StatusCode::ACCEPTED, Json(Enqueued { id }))),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());

    let pool = sqlx::PgPool::connect(&url).await.context("connecting to DATABASE_URL")?;
    let client = Client::with_config(pool, ClientConfig::default().with_schema("haul_example_service"))?;
    client.migrate().await?;
    let worker = Worker::builder(client.clone(), ()).queue("default", 10).handler(welcome).build()?;
    let app = App { client, health: worker.health() };

    let (stop_http, stop_worker, force) =
        (CancellationToken::new(), CancellationToken::new(), CancellationToken::new());
    tokio::spawn(on_signals(stop_http.clone(), force.clone()));
    let mut worker = tokio::spawn(worker.run_until(stop_worker.clone(), force));

    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/welcome", post(enqueue))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "serving; SIGTERM or Ctrl-C stops gracefully");
    let serve = axum::serve(listener, router).with_graceful_shutdown(stop_http.clone().cancelled_owned());
    let mut server = tokio::spawn(serve.into_future());

    tokio::select! {
        biased; // a signal stops the server too: see the signal first
        () = stop_http.cancelled() => {}
        ended = &mut worker => anyhow::bail!("the worker stopped on its own: {:?}", ended?.err()),
        ended = &mut server => anyhow::bail!("the server stopped on its own: {:?}", ended?.err()),
    }
    // the server accepts no more connections; requests in flight may still enqueue
    stop_worker.cancel();
    let report = worker.await??;
    tracing::info!(?report, "worker stopped");
    match tokio::time::timeout(Duration::from_secs(1), server).await {
        Ok(ended) => ended??,
        Err(_) => tracing::warn!("requests still open after the worker stopped; closing them"),
    }
    Ok(())
}

/// The first SIGTERM or SIGINT stops the server and then the worker gracefully; a second one
/// forces the worker's hard path.
async fn on_signals(graceful: CancellationToken, force: CancellationToken) {
    next_signal().await;
    tracing::info!("signal: stopping gracefully (a second signal forces)");
    graceful.cancel();
    next_signal().await;
    tracing::warn!("second signal: cancelling and releasing running jobs now");
    force.cancel();
}

async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
