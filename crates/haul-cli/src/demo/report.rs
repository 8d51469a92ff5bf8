//! The demo's closing summary: outcomes, throughput, run-time percentiles, and every dead
//! letter with its error history.

use crate::escape::escaped;
use anyhow::Result;
use haul::{Client, JobState, StatsSnapshot};
use std::time::Duration;

pub async fn print(client: &Client, schema: &str, elapsed: Duration, s: &StatsSnapshot) -> Result<()> {
    let finished = s.completed + s.discarded + s.cancelled;
    println!("\nDone in {:.1} s", elapsed.as_secs_f64());
    println!("  completed      {:>6}", s.completed);
    println!("  retried        {:>6} attempts (failed, then ran again after backoff)", s.retried);
    println!("  dead letters   {:>6}", s.discarded);
    println!(
        "  throughput     {:>6.0} jobs/s (handlers sleep to mimic I/O)",
        finished as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  run time       p50 {:.1?} · p95 {:.1?} · p99 {:.1?}",
        s.run_time_p50, s.run_time_p95, s.run_time_p99
    );
    println!("  error rate     {:>5.1}% of attempts", s.error_rate() * 100.0);
    let orders = format!("SELECT count(*) FROM \"{schema}\".orders WHERE confirmed_at IS NOT NULL");
    let confirmed: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(orders)).fetch_one(client.pool()).await?;
    println!("  orders         {confirmed:>6} saved and confirmed (the rolled-back one left no job)");
    print_dead_letters(client).await?;
    print_depths(client).await
}

async fn print_dead_letters(client: &Client) -> Result<()> {
    let schema = client.schema();
    println!("\nDead letters (each keeps every attempt's error):");
    for job in client.dead_letters(10).await? {
        let (kind, queue) = (escaped(&job.kind), escaped(&job.queue));
        println!("  job {} · {kind} · queue {queue} · {} attempt(s)", job.id, job.attempt);
        for e in &job.errors {
            println!(
                "    attempt {} at {} [{}]: {}",
                e.attempt,
                e.at.format("%H:%M:%S%.3f"),
                class(e.class),
                escaped(&e.error)
            );
        }
    }
    println!(
        "  (look again: `haul dead list --schema {schema}`; run them again: `haul dead redrive --all --schema {schema}`)"
    );
    Ok(())
}

async fn print_depths(client: &Client) -> Result<()> {
    let depths = client.queue_depths().await?;
    let left: Vec<String> = depths
        .iter()
        .filter(|d| d.state != JobState::Discarded)
        .map(|d| format!("{}/{}: {}", escaped(&d.queue), d.state, d.count))
        .collect();
    let rows = if left.is_empty() {
        "none (completed jobs are deleted; dead letters are kept)".to_owned()
    } else {
        left.join(", ")
    };
    println!("\nJobs left in the table besides dead letters: {rows}");
    Ok(())
}

fn class(c: haul::ErrorClass) -> &'static str {
    c.as_str()
}
