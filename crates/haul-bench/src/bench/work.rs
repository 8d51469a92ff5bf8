//! W3 work: a queued backlog of no-op jobs (loaded with `insert_many`, then VACUUM ANALYZE and
//! CHECKPOINT, like the peers) worked to completion; the clock stops when the jobs table is
//! empty. Also `--sweep`: W3 over a grid of worker settings, ranked.

use super::Bench;
use super::enqueue::bulk_load;
use super::observe::Observe;
use super::plan::Workload;
use super::probe::Probe;
use super::record::{Outcome, Sink};
use super::stats::{rate, thousands};
use super::tuning::Tuning;
use super::worker::{RunningWorker, STALL, wait_empty};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::time::Instant;

/// Jobs per `insert_many` call when loading a backlog (not timed).
pub const LOAD_CHUNK: usize = 10_000;

/// W3 with the bench's settings and size; with `--observe both`, without then with
/// observability, as one outcome (the figures without, plus `observed`'s and the ratio).
pub async fn w3(b: &Bench) -> Result<Outcome> {
    if b.tuning.observe != Observe::Both {
        return measure(b, &b.tuning, b.plan.w3_jobs).await;
    }
    let mut off = measure(b, &b.tuning.with_observe(Observe::Off), b.plan.w3_jobs).await?;
    let on = measure(b, &b.tuning.with_observe(Observe::On), b.plan.w3_jobs).await?;
    let (off_rate, on_rate) =
        (off.number("jobs_per_s").unwrap_or(0.0), on.number("jobs_per_s").unwrap_or(0.0));
    let ratio = if off_rate > 0.0 { on_rate / off_rate } else { 0.0 };
    off.lines.push(format!(
        "W3 observed (logging middleware + metrics hook + no-op hook): {} jobs/s, {ratio:.3}× without",
        rate(on_rate)
    ));
    off.fields.insert("observed".into(), Value::Object(on.fields));
    off.fields.insert("observed_ratio".into(), json!(ratio));
    off.problems.extend(on.problems);
    Ok(off)
}

/// Loads `jobs` jobs, then times a worker with `tuning` until the table is empty.
pub async fn measure(b: &Bench, tuning: &Tuning, jobs: u64) -> Result<Outcome> {
    b.db.reset().await?;
    b.out.progress(&format!("W3: loading {} jobs", thousands(jobs)));
    bulk_load(&b.db.client, jobs, LOAD_CHUNK).await?;
    b.db.vacuum_analyze().await?;
    b.db.checkpoint().await?;
    let probe = Probe::tracking(jobs);
    let client = b.db.worker_client(tuning.pool_max).await?;
    let started = Instant::now();
    let worker = RunningWorker::start(client, probe.clone(), tuning)?;
    let timed = async {
        worker.wait_handled(&probe, jobs, "W3").await?;
        let handler_seconds = started.elapsed().as_secs_f64();
        let remaining = wait_empty(&b.db, STALL, "W3").await?;
        anyhow::Ok((handler_seconds, remaining, started.elapsed().as_secs_f64()))
    }
    .await;
    let stopped = worker.stop().await;
    let (handler_seconds, remaining, seconds) = timed?;
    stopped?;
    let per_s = jobs as f64 / seconds;
    let line = format!(
        "W3 work: {} jobs/s ({} jobs in {seconds:.2} s; handlers done at {handler_seconds:.2} s)",
        rate(per_s),
        thousands(jobs)
    );
    let fields = json!({
        "jobs": jobs, "seconds": seconds, "jobs_per_s": per_s, "handler_seconds": handler_seconds,
        "handled": probe.handled(), "remaining_in_db": remaining, "settings": b.settings(tuning),
    });
    let mut outcome = Outcome::new(Workload::W3, fields, vec![line]);
    let (handled, dup, missing) = (probe.handled(), probe.duplicates(), probe.missing());
    outcome.check(handled == jobs && dup == 0 && missing == 0, || {
        format!("W3: {handled} handler calls for {jobs} jobs ({dup} ran twice, {missing} never ran)")
    });
    Ok(outcome)
}

/// `--sweep`: W3 once per setting of `grid`, recorded to the tuning file, then ranked.
pub async fn sweep(b: &Bench, grid: &[Tuning]) -> Result<()> {
    let jobs = b.plan.sweep_jobs;
    b.out.say(&format!("W3 sweep: {} settings × {} jobs, one run each", grid.len(), thousands(jobs)));
    let mut ranked = Vec::new();
    let mut problems = Vec::new();
    for tuning in grid {
        let mut outcome = measure(b, tuning, jobs).await?;
        let per_s = outcome.number("jobs_per_s").unwrap_or(0.0);
        let wrong = if outcome.problems.is_empty() { "" } else { " · WRONG (see below)" };
        outcome.lines = vec![format!("W3 sweep · {}: {} jobs/s{wrong}", tuning.label(), rate(per_s))];
        b.out.emit(1, &outcome, Sink::Tuning)?;
        ranked.push((per_s, *tuning, !outcome.problems.is_empty()));
        problems.extend(outcome.problems);
    }
    // settings that lost or repeated jobs rank last, whatever their speed
    ranked.sort_by(|x, y| x.2.cmp(&y.2).then(y.0.total_cmp(&x.0)));
    b.out.say(&format!("\nW3 sweep ranking ({} jobs, one run each):", thousands(jobs)));
    for (per_s, tuning, wrong) in &ranked {
        let mark = if *wrong { "  WRONG: jobs lost or run twice" } else { "" };
        b.out.say(&format!("  {:>9} jobs/s  {}{mark}", rate(*per_s), tuning.label()));
    }
    if let Some((per_s, best, false)) = ranked.first() {
        b.out.say(&format!("W3 best: {} jobs/s with {}", rate(*per_s), best.child_flags().join(" ")));
    }
    if !problems.is_empty() {
        bail!("the sweep found wrong results:\n  - {}", problems.join("\n  - "));
    }
    Ok(())
}
