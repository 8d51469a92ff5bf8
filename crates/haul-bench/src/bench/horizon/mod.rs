//! `horizon`: PgQue's held-horizon case. Producers insert one job per call at a fixed rate
//! (800 jobs/s from 4 tasks by default) into one worker with 4 slots, from a fresh schema,
//! sampled every few seconds for the whole run (30 minutes by default); with `--hold` another
//! connection keeps a REPEATABLE READ snapshot open from before the first insert to the end.

mod producer;
mod report;
mod sampler;

use super::Bench;
use super::plan::{HorizonPlan, Workload};
use super::probe::Probe;
use super::record::Outcome;
use super::stats::{mib, rate, thousands};
use super::tuning::Tuning;
use super::worker::{RunningWorker, STALL, wait_empty};
use anyhow::{Context, Result, bail};
use producer::HeldSnapshot;
use sampler::{Sample, Sampler};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a run measured.
struct Run {
    samples: Vec<Sample>,
    sent: u64,
    /// How long the snapshot was held, when it was.
    held: Option<Duration>,
    /// Pickup P50, P99 and max over the run, ms.
    pickup: Option<[f64; 3]>,
}

/// What the run holds, in words.
fn hold_words(p: &HorizonPlan) -> &'static str {
    match (p.hold, p.hold_reads_jobs) {
        (false, _) => "no held transaction",
        (true, false) => "a REPEATABLE READ transaction held throughout (its snapshot read the catalog)",
        (true, true) => "a REPEATABLE READ transaction held throughout (its snapshot read the jobs table)",
    }
}

/// The held-horizon run with the bench's plan.
pub async fn horizon(b: &Bench) -> Result<Outcome> {
    let p = b.plan.horizon;
    b.out.progress(&format!(
        "horizon: {} jobs/s for {:.1} min, {}",
        rate(p.rate),
        p.length.as_secs_f64() / 60.0,
        hold_words(&p)
    ));
    b.db.reset().await?;
    let size0 = b.db.table_bytes().await?;
    let probe = Probe::with_pickup_at(p.rate);
    let tuning = Tuning { queue_concurrency: p.slots, ..b.tuning };
    let worker = RunningWorker::start_on(&b.db, probe.clone(), &tuning).await?;
    let measured = measure(b, &p, &worker, &probe).await;
    let (_, stats) = worker.stop().await?;
    let run = measured?;
    let mut outcome = outcome(b, &p, &tuning, &run, size0);
    let (handled, completed) = (probe.handled(), stats.completed);
    outcome.check(handled == run.sent && completed == run.sent, || {
        format!("horizon: {} jobs sent, {handled} handler calls, {completed} completed", run.sent)
    });
    Ok(outcome)
}

/// Waits for the worker to listen, takes the snapshot if asked, runs the producers while
/// sampling, stops them, releases the snapshot and drains the queue.
async fn measure(b: &Bench, p: &HorizonPlan, worker: &RunningWorker, probe: &Arc<Probe>) -> Result<Run> {
    worker.wait_listening().await?;
    let held = if p.hold { Some(HeldSnapshot::take(&b.db, p.hold_reads_jobs).await?) } else { None };
    let stop = CancellationToken::new();
    let (mut producers, t0) = producer::start(&b.db, probe, p.producers, p.rate, &stop).await?;
    let sampled = sample_all(b, p, worker, probe, &mut producers, t0).await;
    stop.cancel();
    let mut sent = 0;
    while let Some(done) = producers.join_next().await {
        sent += done.context("a horizon producer panicked")??;
    }
    let sampler = sampled?;
    let held = match held {
        Some(h) => Some(h.release().await?),
        None => None,
    };
    b.out.progress(&format!("horizon: draining {} jobs", thousands(sent)));
    worker.wait_handled(probe, sent, "horizon drain").await?;
    wait_empty(&b.db, STALL, "horizon drain").await?;
    Ok(Run { samples: sampler.1, sent, held, pickup: sampler.0.run_pickup() })
}

/// Takes a sample every `p.sample` after `t0` until `p.length`, printing each row; fails if
/// the worker or a producer stops early.
async fn sample_all(
    b: &Bench,
    p: &HorizonPlan,
    worker: &RunningWorker,
    probe: &Arc<Probe>,
    producers: &mut JoinSet<Result<u64>>,
    t0: Instant,
) -> Result<(Sampler, Vec<Sample>)> {
    let (mut sampler, mut samples) = (Sampler::new()?, Vec::new());
    b.out.progress(report::header().trim_start());
    for k in 1..=p.length.as_nanos() / p.sample.as_nanos() {
        tokio::time::sleep_until(t0 + p.sample * k as u32).await;
        worker.check_alive()?;
        if let Some(done) = producers.try_join_next() {
            done.context("a horizon producer panicked")??;
            bail!("a horizon producer stopped before the run's end");
        }
        let s = sampler.take(t0.elapsed().as_secs_f64(), &b.db, worker.stats(), probe).await?;
        b.out.progress(report::row(&s).trim_start());
        samples.push(s);
    }
    Ok((sampler, samples))
}

/// The run's record and lines.
fn outcome(b: &Bench, p: &HorizonPlan, tuning: &Tuning, run: &Run, size0: i64) -> Outcome {
    let marks = report::marks(&run.samples, size0);
    let mut lines = vec![format!(
        "horizon: {} jobs/s from {} producers (one job per insert) into {} slots for {:.1} min, {}; samples every {:.0} s",
        rate(p.rate),
        p.producers,
        p.slots,
        p.length.as_secs_f64() / 60.0,
        match run.held {
            Some(d) => format!("{} ({:.0} s)", hold_words(p), d.as_secs_f64()),
            None => "no held transaction".into(),
        },
        p.sample.as_secs_f64()
    )];
    lines.extend(report::table(&run.samples));
    lines.push("horizon at the marks:".into());
    lines.extend(report::mark_lines(&marks));
    lines.push(summary_line(run, size0));
    let pickup = run.pickup.map(|[p50, p99, max]| json!({ "p50_ms": p50, "p99_ms": p99, "max_ms": max }));
    let fields = json!({
        "rate_per_s": p.rate, "producers": p.producers, "slots": p.slots, "hold": p.hold,
        "hold_reads_jobs": p.hold_reads_jobs,
        "minutes": p.length.as_secs_f64() / 60.0, "sample_seconds": p.sample.as_secs_f64(),
        "held_seconds": run.held.map(|d| d.as_secs_f64()), "sent": run.sent,
        "table_bytes_start": size0, "pickup_run": pickup, "marks": marks,
        "samples": run.samples, "settings": b.settings(tuning),
    });
    Outcome::new(Workload::Horizon, fields, lines)
}

/// Jobs sent, the run's pickup percentiles, the deepest queue and the table's growth.
fn summary_line(run: &Run, size0: i64) -> String {
    let deepest = run.samples.iter().max_by_key(|s| s.depth());
    let last = run.samples.last();
    format!(
        "horizon: sent {} jobs, all drained; pickup over the run {}; deepest queue {}; table {:.2} → {:.2} MiB",
        thousands(run.sent),
        run.pickup.map_or("–".into(), |[p50, p99, max]| format!(
            "p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"
        )),
        deepest.map_or("–".into(), |s| format!("{} at {:.0} s", s.depth(), s.t_s)),
        mib(size0 as f64),
        mib(last.map_or(size0, |s| s.table_bytes) as f64),
    )
}
