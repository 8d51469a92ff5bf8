//! A service wiring Haul's observability: a `tracing` subscriber (every line a handler logs
//! carries `job_id`, `kind`, `queue`, `attempt`), the Prometheus recorder with Haul's buckets,
//! the logging middleware, the built-in metrics hook and a dead-letter alert hook.
//!
//! Run it against a PostgreSQL (it uses the schema `haul_example_prometheus`):
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run -p haul --example prometheus
//! ```
//!
//! It works a few jobs, then prints what `/metrics` would serve.

use haul::metrics::{BUCKETS, Metrics};
use haul::{
    Client, ClientConfig, Hook, Job, JobContext, JobError, Logging, Transition, Worker, WorkerConfig,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Serialize, Deserialize)]
struct Resize {
    image_id: u64,
}

impl Job for Resize {
    const KIND: &'static str = "resize";
    const MAX_ATTEMPTS: i16 = 1;
}

async fn resize(ctx: JobContext<()>, job: Resize) -> Result<(), JobError> {
    tracing::info!(image_id = job.image_id, "resizing"); // carries job_id, kind, queue, attempt
    if job.image_id == 13 {
        return Err(JobError::retry(format!("image {} is corrupt", job.image_id)));
    }
    tokio::time::sleep(Duration::from_millis(5 * ctx.attempt() as u64)).await;
    Ok(())
}

/// Pages someone when a job lands in the dead letter. Hooks run inline after the commit:
/// anything slow (an HTTP call) goes to a task of its own.
struct DeadLetterAlert;

impl Hook for DeadLetterAlert {
    fn on_discarded(&self, job: &Transition) {
        let (id, kind) = (job.id, job.kind.clone());
        tokio::spawn(async move { tracing::error!(job_id = id, %kind, "dead letter: paging on-call") });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. tracing: RUST_LOG=info shows the logging middleware's lines with their span fields
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();

    // 2. the recorder, before the worker: real histograms with Haul's buckets. A service serves
    //    `handle.render()` at /metrics from its own router, or lets the exporter do it with
    //    `.with_http_listener(([0, 0, 0, 0], 9187)).install()` instead of `install_recorder()`.
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Prefix("haul_job_".into()), BUCKETS)?
        .install_recorder()?;

    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = sqlx::PgPool::connect(&url).await?;
    let client = Client::with_config(pool, ClientConfig::default().with_schema("haul_example_prometheus"))?;
    client.migrate().await?;

    // 3. middleware and hooks on the worker
    let worker = Worker::builder(client.clone(), ())
        .handler(resize)
        .middleware(Logging::new())
        .hook(Metrics::new())
        .hook(DeadLetterAlert)
        .config(WorkerConfig::default())
        .build()?;
    let mut events = worker.subscribe();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));

    let ids = client.insert_many((10..20).map(|image_id| Resize { image_id })).await?;
    let mut ended = 0;
    while ended < ids.len() {
        if ids.contains(&events.recv().await?.id) {
            ended += 1;
        }
    }
    stop.cancel();
    running.await??;
    println!("{}", handle.render());
    Ok(())
}
