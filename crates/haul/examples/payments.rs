//! A payments saga: reserve inventory → charge the card → confirm the order; when a step fails
//! for good, the card is refunded and the inventory released, in that order, each a durable,
//! retried job. Two orders go through: the first is confirmed, the second's confirmation fails
//! and is compensated. Runs to completion on its own:
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1/postgres cargo run -p haul --example payments
//! ```
//!
//! The handlers record what they did in a ledger table, which the example prints at the end
//! (and `tests/it/sagas.rs` checks).

use haul::{Client, ClientConfig, Job, JobContext, JobError, NewJob, Saga, SagaState, Worker, WorkerConfig};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgPool};
use std::time::{Duration, Instant};

/// One order's step: what every payment job takes as args.
#[derive(Serialize, Deserialize)]
pub struct OrderStep {
    pub order: i64,
    pub cents: i64,
    /// Makes the confirmation fail for good (a rejected order).
    pub reject: bool,
}

macro_rules! kinds {
    ($($name:ident = $kind:literal),*) => {$(
        #[derive(Serialize, Deserialize)]
        pub struct $name(pub OrderStep);
        impl Job for $name { const KIND: &'static str = $kind; }
    )*};
}
kinds!(
    Reserve = "reserve_inventory",
    Release = "release_inventory",
    Charge = "charge_card",
    Refund = "refund_card",
    Confirm = "confirm_order"
);

/// Where the handlers record what they did.
#[derive(Clone)]
pub struct Ledger {
    pub pool: PgPool,
    pub table: String,
}

impl Ledger {
    /// Records `action` for the step's order.
    pub async fn record(&self, step: &OrderStep, action: &str) -> Result<(), JobError> {
        let sql = format!("INSERT INTO {} (order_id, action) VALUES ($1, $2)", self.table);
        sqlx::query(AssertSqlSafe(sql)).bind(step.order).bind(action).execute(&self.pool).await?;
        Ok(())
    }
}

async fn reserve(ctx: JobContext<Ledger>, job: Reserve) -> Result<(), JobError> {
    ctx.state().record(&job.0, "reserve").await
}
async fn release(ctx: JobContext<Ledger>, job: Release) -> Result<(), JobError> {
    ctx.state().record(&job.0, "release").await
}
async fn charge(ctx: JobContext<Ledger>, job: Charge) -> Result<(), JobError> {
    ctx.state().record(&job.0, "charge").await
}
async fn refund(ctx: JobContext<Ledger>, job: Refund) -> Result<(), JobError> {
    ctx.state().record(&job.0, "refund").await
}
async fn confirm(ctx: JobContext<Ledger>, job: Confirm) -> Result<(), JobError> {
    if job.0.reject {
        return Err(JobError::discard(format!("order {} rejected by the warehouse", job.0.order)));
    }
    ctx.state().record(&job.0, "confirm").await
}

/// The saga of one order.
pub fn order_saga(order: i64, cents: i64, reject: bool) -> Saga {
    let step = || OrderStep { order, cents, reject };
    Saga::new()
        .step_with_compensation(Reserve(step()), Release(step()))
        .step_with_compensation(Charge(step()), Refund(step()))
        .step(NewJob::new(&Confirm(step())).with_max_attempts(3))
}

/// A worker with every payment handler.
pub fn payments_worker(client: Client, ledger: Ledger, config: WorkerConfig) -> haul::Result<Worker<Ledger>> {
    Worker::builder(client, ledger)
        .config(config)
        .handler(reserve)
        .handler(release)
        .handler(charge)
        .handler(refund)
        .handler(confirm)
        .build()
}

/// Runs two orders through the saga in `schema` and returns the ledger: `(order, action)`
/// in the order the actions happened.
pub async fn run(pool: PgPool, schema: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let client = Client::with_config(pool.clone(), ClientConfig::default().with_schema(schema))?;
    client.migrate().await?;
    let table = format!("\"{schema}\".payments_ledger");
    let create = format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (seq bigserial, order_id bigint, action text)"
    );
    sqlx::raw_sql(AssertSqlSafe(create)).execute(&pool).await?;
    let stop = haul::CancellationToken::new();
    let ledger = Ledger { pool: pool.clone(), table: table.clone() };
    let worker = payments_worker(client.clone(), ledger, WorkerConfig::default())?;
    let running = tokio::spawn(worker.run(stop.clone()));

    let ok = client.insert_saga(order_saga(1, 4200, false)).await?;
    let rejected = client.insert_saga(order_saga(2, 1300, true)).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    for (saga, want) in [(ok.id, SagaState::Completed), (rejected.id, SagaState::Compensated)] {
        loop {
            let state = client.saga(saga).await?.map(|s| s.state);
            if state == Some(want) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "saga {saga} is {state:?}, not {want:?}, after 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    stop.cancel();
    running.await??;
    let read = format!("SELECT order_id, action FROM {table} ORDER BY seq");
    Ok(sqlx::query_as(AssertSqlSafe(read)).fetch_all(&pool).await?)
}

#[allow(dead_code)] // tests/it/sagas.rs includes this file and calls `run`
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1/postgres".into());
    let pool = PgPool::connect(&url).await?;
    for (order, action) in run(pool, "payments_example").await? {
        println!("order {order}: {action}");
    }
    Ok(())
}
