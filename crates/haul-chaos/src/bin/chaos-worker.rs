//! `chaos-worker`: one Haul worker process for the chaos suite. It runs queue `default` with the
//! suite's short settings; its handler sleeps the job's `work_ms` and records the execution in
//! `<schema>.executions`, separately (`plain`) or in the job's completing transaction (`tx`).
//! The first SIGINT/SIGTERM shuts it down gracefully, the second forces it; on exit it prints
//! its shutdown report and counters as one JSON line on stdout. Logs go to stderr.
//!
//! It creates nothing but the executions table: the harness migrates the schema.

use anyhow::{Context, Result, bail};
use clap::Parser;
use haul::{Client, ClientConfig, Error, JobContext, JobError, Worker};
use haul_chaos::{ChaosJob, Mode, WorkerReport};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgExecutor, PgPool};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// How long the worker waits for the database at start before giving up.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// Command line (each flag also reads an environment variable).
#[derive(Parser, Debug)]
#[command(about = "One Haul worker for the chaos suite")]
struct Args {
    /// The database.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    url: String,
    /// Haul's schema (already migrated).
    #[arg(long, env = "CHAOS_SCHEMA")]
    schema: String,
    /// This worker's id: its `attempted_by` and its connections' `application_name`.
    #[arg(long, env = "CHAOS_WORKER_ID")]
    id: String,
    /// How executions are recorded.
    #[arg(long, env = "CHAOS_MODE", value_enum, default_value = "plain")]
    mode: Mode,
    /// Connections in the worker's pool.
    #[arg(long, env = "CHAOS_POOL", default_value_t = haul_chaos::POOL_SIZE)]
    pool: u32,
    /// Jobs run at once.
    #[arg(long, env = "CHAOS_CONCURRENCY", default_value_t = haul_chaos::CONCURRENCY)]
    concurrency: usize,
    /// Exit at once when stdin closes: the harness holds the pipe, so a worker never outlives
    /// a harness that was killed before it could stop its workers.
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

/// What every handler call shares.
#[derive(Clone)]
struct Recorder {
    /// The INSERT into `executions`, rendered once for the schema.
    insert: Arc<str>,
    /// This worker's id.
    worker: Arc<str>,
}

impl Recorder {
    /// Records one execution of (`id`, `attempt`) through `executor`.
    async fn record<'c>(&self, executor: impl PgExecutor<'c>, id: i64, attempt: i16) -> sqlx::Result<()> {
        let insert = sqlx::query(AssertSqlSafe(self.insert.clone()));
        insert.bind(id).bind(attempt).bind(&*self.worker).execute(executor).await.map(drop)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let (shutdown, force) = signal_tokens()?;
    let args = Args::parse();
    if args.exit_on_stdin_eof {
        // a plain thread: a read on tokio's blocking pool would hold up the exit at the end
        std::thread::spawn(exit_on_stdin_eof);
    }
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let pool = lazy_pool(&args)?;
    let client = Client::with_config(pool.clone(), ClientConfig::default().with_schema(&args.schema))?;
    let mut report = WorkerReport { worker: args.id.clone(), ..WorkerReport::default() };
    if create_executions(&pool, &args.schema, &shutdown).await? {
        report = run(client, &args, shutdown, force).await?;
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Reads stdin to its end, then exits the process at once (status 3).
fn exit_on_stdin_eof() {
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    eprintln!("stdin closed: the harness is gone; exiting");
    std::process::exit(3);
}

/// Installs SIGINT/SIGTERM handling: the first signal fires `shutdown`, the second `force`.
fn signal_tokens() -> Result<(CancellationToken, CancellationToken)> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let (shutdown, force) = (CancellationToken::new(), CancellationToken::new());
    let (first, second) = (shutdown.clone(), force.clone());
    tokio::spawn(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        first.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        second.cancel();
    });
    Ok((shutdown, force))
}

/// The worker's pool, connecting on demand (the database may be restarting when we start),
/// every connection named after the worker so the harness can find and terminate them.
fn lazy_pool(args: &Args) -> Result<PgPool> {
    let options: PgConnectOptions = args.url.parse().context("parsing the database url")?;
    Ok(PgPoolOptions::new()
        .max_connections(args.pool)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name(&args.id)))
}

/// Creates the executions table if missing, retrying while the database is away. False if
/// shutdown was asked for first.
async fn create_executions(pool: &PgPool, schema: &str, shutdown: &CancellationToken) -> Result<bool> {
    let ddl = haul_chaos::executions_ddl(schema);
    let started = Instant::now();
    loop {
        // concurrent CREATE ... IF NOT EXISTS can still collide in the catalog: retry that too
        match sqlx::raw_sql(AssertSqlSafe(ddl.clone())).execute(pool).await {
            Ok(_) => return Ok(true),
            Err(e) if started.elapsed() > STARTUP_LIMIT => bail!("creating the executions table: {e}"),
            Err(_) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(false),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Builds and runs the worker until the signals stop it; returns its report.
async fn run(
    client: Client,
    args: &Args,
    shutdown: CancellationToken,
    force: CancellationToken,
) -> Result<WorkerReport> {
    let recorder = Recorder {
        insert: haul_chaos::execution_insert(&args.schema).into(),
        worker: args.id.as_str().into(),
    };
    let builder = Worker::builder(client, recorder)
        .id(&args.id)
        .queue(haul_chaos::QUEUE, args.concurrency)
        .config(haul_chaos::worker_config());
    let builder = match args.mode {
        Mode::Plain => builder.handler(plain),
        Mode::Tx => builder.handler(transactional),
    };
    let worker = builder.build()?;
    let stats = worker.stats();
    let done = worker.run_until(shutdown, force).await?;
    let counters = stats.snapshot();
    Ok(WorkerReport {
        worker: args.id.clone(),
        running_at_start: done.running_at_start,
        finished: done.finished,
        released: done.released,
        cancelled_handlers: done.cancelled_handlers,
        completed: counters.completed,
        retried: counters.retried,
        rejected: counters.rejected,
    })
}

/// At-least-once: work, record the execution, return `Ok` (the completion is written later).
async fn plain(ctx: JobContext<Recorder>, job: ChaosJob) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_millis(job.work_ms)).await;
    ctx.state().record(ctx.pool(), ctx.id(), ctx.attempt()).await?;
    Ok(())
}

/// Exactly-once effects: work, then record the execution and complete the job in one
/// transaction; a stale attempt (`NotRunning`) rolls back and leaves no trace.
async fn transactional(ctx: JobContext<Recorder>, job: ChaosJob) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_millis(job.work_ms)).await;
    let mut tx = ctx.pool().begin().await?;
    ctx.state().record(&mut *tx, ctx.id(), ctx.attempt()).await?;
    match ctx.complete_in(&mut *tx).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(())
        }
        Err(e @ Error::NotRunning { .. }) => {
            tx.rollback().await?;
            Err(JobError::retry(e))
        }
        Err(e) => Err(JobError::retry(e)),
    }
}
