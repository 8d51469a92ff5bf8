//! `periodic-worker`: one Haul worker process with one periodic schedule (`tick`, every 10 s),
//! for the periodic test (`tests/periodic.rs`). Its clock starts `--shift-ms` ahead of the
//! database's and moves on each `advance <ms>` line read from stdin; when stdin closes it shuts
//! down gracefully. Its handler does nothing: completed rows are kept, so the harness counts
//! the jobs of each tick in the table.

use anyhow::{Context, Result};
use clap::Parser;
use haul::{Client, ClientConfig, Clock, JobContext, JobError, Periodic, Worker};
use haul_chaos::{PERIODIC_EVERY, PERIODIC_NAME, PeriodicTick};
use std::io::{BufRead, IsTerminal};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "One Haul worker with a periodic schedule, its clock moved from stdin")]
struct Args {
    /// The database.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    url: String,
    /// Haul's schema (already migrated).
    #[arg(long)]
    schema: String,
    /// This worker's id.
    #[arg(long)]
    id: String,
    /// How far the clock starts ahead of the database's, in milliseconds.
    #[arg(long, default_value_t = 0)]
    shift_ms: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let clock = Clock::database();
    clock.advance(Duration::from_millis(args.shift_ms));
    let shutdown = CancellationToken::new();
    let (moved, stop) = (clock.clone(), shutdown.clone());
    // a plain thread: a read on tokio's blocking pool would hold up the exit
    std::thread::spawn(move || follow_stdin(&moved, &stop));
    let pool = sqlx::PgPool::connect_lazy(&args.url).context("parsing the database url")?;
    let config = ClientConfig::default().with_schema(&args.schema).with_clock(clock);
    let client = Client::with_config(pool, config)?;
    let worker = Worker::builder(client, ())
        .id(&args.id)
        .config(haul_chaos::worker_config())
        .periodic(Periodic::every(PERIODIC_EVERY).named(PERIODIC_NAME), || PeriodicTick {})
        .handler(tick)
        .build()?;
    worker.run(shutdown).await?;
    Ok(())
}

/// Applies each `advance <ms>` line to `clock`; fires `stop` when stdin closes.
fn follow_stdin(clock: &Clock, stop: &CancellationToken) {
    for line in std::io::stdin().lock().lines().map_while(std::result::Result::ok) {
        match line.strip_prefix("advance ").map(str::parse::<u64>) {
            Some(Ok(ms)) => clock.advance(Duration::from_millis(ms)),
            _ => eprintln!("periodic-worker: ignoring the line `{line}`"),
        }
    }
    stop.cancel();
}

async fn tick(_ctx: JobContext<()>, _job: PeriodicTick) -> Result<(), JobError> {
    Ok(())
}
