//! Working the demo's jobs with a live progress bar until all are finished, or until the
//! first SIGINT/SIGTERM stops the worker gracefully (then the demo ends as interrupted).

use super::jobs::*;
use crate::signals::{Interrupted, Signals};
use anyhow::{Context, Result};
use haul::{Client, EventOutcome, Worker, WorkerConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Works the `total` enqueued jobs (recording `metrics` if asked); returns how long that took
/// and the worker's stats.
pub async fn work(
    client: &Client,
    shop: Shop,
    total: u64,
    metrics: bool,
    signals: &Signals,
) -> Result<(Duration, haul::StatsSnapshot)> {
    let worker = build(client, shop, metrics)?;
    let (stats, mut events) = (worker.stats(), worker.subscribe());
    let stop = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(worker.run_until(stop.clone(), signals.force.clone()));
    let bar = progress_bar(total);
    let (mut finished, mut retried, mut dead) = (0u64, 0u64, 0u64);
    while finished < total {
        let next = tokio::time::timeout(Duration::from_secs(30), events.recv());
        let event = tokio::select! {
            e = next => e.context("no job finished for 30 s")??,
            () = signals.graceful.cancelled() => break,
        };
        match event.outcome {
            EventOutcome::Retrying { .. } => retried += 1,
            EventOutcome::Discarded => (dead, finished) = (dead + 1, finished + 1),
            EventOutcome::Snoozed(_) => {}
            _ => finished += 1,
        }
        bar.set_position(finished);
        bar.set_message(format!("retried {retried} · dead letters {dead}"));
    }
    let elapsed = started.elapsed();
    bar.finish();
    stop.cancel();
    let report = running.await??;
    if report.released > 0 {
        println!("  stopped early: {} unfinished jobs released for the next worker", report.released);
    }
    if finished < total {
        return Err(Interrupted.into());
    }
    Ok((elapsed, stats.snapshot()))
}

fn build(client: &Client, shop: Shop, metrics: bool) -> haul::Result<Worker<Shop>> {
    let config = WorkerConfig::default()
        .with_scheduler_interval(Duration::from_millis(100))
        .with_fetch_poll_interval(Duration::from_millis(250));
    let mut builder = Worker::builder(client.clone(), shop);
    if metrics {
        builder = builder.hook(haul::metrics::Metrics::new());
    }
    builder
        .queue("mail", 40)
        .queue("images", 8)
        .queue("reports", 1)
        .queue("webhooks", 10)
        .queue("default", 5)
        .handler(send_welcome_email)
        .handler(confirm_order)
        .handler(resize_image)
        .handler(build_monthly_report)
        .handler(notify_partner)
        .handler(import_customers)
        .config(config)
        .build()
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "  working {bar:36.green/white} {pos:>5}/{len} jobs  {msg}  [{elapsed}]",
    )
    .expect("valid template")
    .progress_chars("█▉▊▋▌▍▎▏ ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
