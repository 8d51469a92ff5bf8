//! `haul-bench fleet-worker` (hidden): one process of W7's and W8's fleets. It connects and
//! prints `ready`, starts its worker when it reads `go` on stdin, and when stdin closes stops
//! the worker and prints its counters as one JSON line.

use super::pg::queue_names;
use super::probe::Probe;
use super::tuning::TuningArgs;
use super::worker::RunningWorker;
use crate::connect;
use anyhow::{Context, Result, bail};
use haul::{Client, ClientConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Options of a fleet process (the bench passes them; DATABASE_URL names the database).
#[derive(clap::Args)]
pub struct Args {
    /// Schema holding the backlog.
    #[arg(long)]
    schema: String,
    /// Queues to work (`default` for 1, else `q000`, `q001`, ...).
    #[arg(long, default_value_t = 1)]
    queues: usize,
    #[command(flatten)]
    tuning: TuningArgs,
}

/// What a fleet process prints when it stops.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct FleetReport {
    /// Handler calls.
    pub handled: u64,
    /// Jobs this process completed.
    pub completed: u64,
    /// Claim statements run.
    pub fetches: u64,
    /// Claim statements that claimed nothing.
    pub empty_fetches: u64,
}

/// Runs one fleet process against `url`.
pub async fn run(url: &str, args: Args) -> Result<()> {
    let tuning = args.tuning.single()?;
    let pool = connect::pool(url, tuning.pool_max).await?;
    let client = Client::with_config(pool, ClientConfig::default().with_schema(&args.schema))?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    println!("ready");
    match stdin.next_line().await? {
        Some(line) if line.trim() == "go" => {}
        other => bail!("fleet-worker: expected `go` on stdin, read {other:?}"),
    }
    let probe = Probe::counting();
    let worker = RunningWorker::start_queues(client, probe.clone(), &tuning, &queue_names(args.queues))?;
    let mut alive = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            line = stdin.next_line() => if line.context("reading stdin")?.is_none() { break },
            _ = alive.tick() => worker.check_alive()?,
        }
    }
    let (_, stats) = worker.stop().await?;
    let report = FleetReport {
        handled: probe.handled(),
        completed: stats.completed,
        fetches: stats.fetches,
        empty_fetches: stats.empty_fetches,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
