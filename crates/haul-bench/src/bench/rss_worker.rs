//! `haul-bench rss-worker` (hidden): W6's measured process. It runs a worker with the no-op
//! handler against a prepared backlog until it has processed its share or its time is up,
//! reads its own peak and current RSS from /proc/self/status, stops, and prints one JSON line.

use super::probe::Probe;
use super::tuning::TuningArgs;
use super::worker::RunningWorker;
use crate::connect;
use anyhow::{Context, Result};
use haul::{Client, ClientConfig};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Options of the measured process (the bench passes them; DATABASE_URL names the database).
#[derive(clap::Args)]
pub struct Args {
    /// Schema holding the prepared backlog.
    #[arg(long)]
    schema: String,
    /// Jobs to process before reading the memory.
    #[arg(long)]
    jobs: u64,
    /// Longest to run before reading the memory.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    #[command(flatten)]
    tuning: TuningArgs,
}

/// What the measured process prints.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChildReport {
    /// Handler calls when the memory was read.
    pub processed: u64,
    /// Jobs completed by the time the worker stopped.
    pub completed: u64,
    /// Jobs the shutdown put back to available.
    pub released: u64,
    /// Seconds from the worker's start to the reading.
    pub seconds: f64,
    /// Whether the time ran out before the jobs were processed.
    pub timed_out: bool,
    /// Peak resident set (VmHWM), KiB.
    pub vm_hwm_kib: u64,
    /// Resident set when read (VmRSS), KiB.
    pub vm_rss_kib: u64,
}

/// Runs the measured worker against `url` and prints its [`ChildReport`].
pub async fn run(url: &str, args: Args) -> Result<()> {
    let tuning = args.tuning.single()?;
    let pool = connect::pool(url, tuning.pool_max).await?;
    let client = Client::with_config(pool, ClientConfig::default().with_schema(&args.schema))?;
    let probe = Probe::counting();
    let started = Instant::now();
    let worker = RunningWorker::start(client, probe.clone(), &tuning)?;
    let limit = Duration::from_secs_f64(args.seconds.max(0.0));
    while probe.handled() < args.jobs && started.elapsed() < limit {
        worker.check_alive()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (processed, (vm_hwm_kib, vm_rss_kib)) = (probe.handled(), read_rss()?);
    let (report, stats) = worker.stop().await?;
    let out = ChildReport {
        processed,
        completed: stats.completed,
        released: report.released as u64,
        seconds,
        timed_out: processed < args.jobs,
        vm_hwm_kib,
        vm_rss_kib,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

/// This process's (VmHWM, VmRSS) in KiB.
fn read_rss() -> Result<(u64, u64)> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("W6 reads /proc/self/status (Linux)")?;
    let field = |name: &str| -> Result<u64> {
        let line =
            status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in status"))?;
        let kib = line.split_whitespace().nth(1).with_context(|| format!("no value in `{line}`"))?;
        Ok(kib.parse()?)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}
