//! W5 sustained: a producer inserts at a fixed rate while a worker runs, sampled over time
//! (throughput, pickup latency, fetch latency, table size, dead tuples). Two phases, each from
//! a fresh schema: steady, then the same with a second connection holding a REPEATABLE READ
//! transaction open in the middle, and how long the figures take to come back after its COMMIT.

mod producer;
mod sampler;
mod table;
mod verdict;

use super::Bench;
use super::plan::Workload;
use super::probe::Probe;
use super::record::Outcome;
use super::stats::{mib, rate, thousands};
use super::worker::{RunningWorker, STALL, wait_empty};
use anyhow::{Context, Result};
use producer::{HoldTimes, hold_xmin, produce};
use sampler::{Sample, Sampler, schedule};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use verdict::{Baseline, Recovery, Trend};

/// Time between the worker's start and the producer's (so LISTEN is up).
const WARMUP: Duration = Duration::from_secs(1);

/// What one phase measured.
struct Phase {
    samples: Vec<Sample>,
    produced: u64,
    handled: u64,
    completed: u64,
    seconds: f64,
    hold: Option<HoldTimes>,
    trend: Trend,
}

/// W5 at `rate` jobs/s (`source` says where the rate came from).
pub async fn w5(b: &Bench, rate: f64, source: &str) -> Result<Outcome> {
    let p = b.plan.w5;
    let length = span(p.phase);
    b.out.progress(&format!("W5: two phases of {length} at {} jobs/s ({source})", self::rate(rate)));
    let steady = run_phase(b, rate, "steady", None).await?;
    let hold = (p.phase.saturating_sub(p.hold) / 2, p.hold);
    let held = run_phase(b, rate, "held", Some(hold)).await?;
    let times = held.hold.context("the held phase records its transaction's times")?;
    let base = verdict::baseline(&held.samples, times.begin_s);
    let rec = base.map(|base| verdict::recovery(&held.samples, &base, times.commit_s));
    let mut lines = vec![format!(
        "W5 sustained: producer at {} jobs/s ({source}), two phases of {length}, samples every {:.0} s \
         (every {:.0} s around the held transaction)",
        self::rate(rate),
        p.sample.as_secs_f64(),
        p.fine.as_secs_f64()
    )];
    lines.extend(phase_lines("steady (no held transaction)", &steady, rate));
    lines.push(format!("W5 verdict (steady): {}", steady.trend.line()));
    let hold_what = format!(
        "held (REPEATABLE READ transaction open {:.0} s, {:.1} s → {:.1} s)",
        p.hold.as_secs_f64(),
        times.begin_s,
        times.commit_s
    );
    lines.extend(phase_lines(&hold_what, &held, rate));
    lines.extend(recovery_lines(base.as_ref(), rec.as_ref()));
    lines.push(format!("W5 verdict (held): {}", held.trend.line()));
    let fields = json!({
        "rate_per_s": rate, "rate_source": source, "phase_seconds": p.phase.as_secs_f64(),
        "sample_seconds": p.sample.as_secs_f64(), "fine_sample_seconds": p.fine.as_secs_f64(),
        "hold_seconds": p.hold.as_secs_f64(), "back_rule": verdict::back_rule(),
        "fetch_figures": "cumulative since the worker started (WorkerStats::snapshot)",
        "steady": phase_json(&steady), "held": phase_json(&held),
        "hold": times, "baseline": base, "recovery": rec, "settings": b.settings(&b.tuning),
    });
    let mut outcome = Outcome::new(Workload::W5, fields, lines);
    for (name, ph) in [("steady", &steady), ("held", &held)] {
        outcome.check(ph.handled == ph.produced && ph.completed == ph.produced, || {
            format!(
                "W5 {name}: {} jobs sent, {} handler calls, {} completed",
                ph.produced, ph.handled, ph.completed
            )
        });
    }
    Ok(outcome)
}

/// One phase from a fresh schema: worker, producer, optional holder, samples, then a drain.
async fn run_phase(b: &Bench, rate: f64, name: &str, hold: Option<(Duration, Duration)>) -> Result<Phase> {
    let p = b.plan.w5;
    b.db.reset().await?;
    let probe = Probe::with_pickup_at(rate);
    let worker = RunningWorker::start_on(&b.db, probe.clone(), &b.tuning).await?;
    tokio::time::sleep(WARMUP).await;
    let (stop, t0) = (CancellationToken::new(), Instant::now());
    let producer = tokio::spawn(produce(b.db.client.clone(), probe.clone(), rate, stop.clone()));
    let holder =
        hold.map(|(start, len)| tokio::spawn(hold_xmin(b.db.url.clone(), b.db.jobs(), t0, start, len)));
    let points = schedule(p.phase, p.sample, p.fine, hold);
    let sampled = sample_all(b, name, &worker, &probe, &producer, t0, &points).await;
    stop.cancel();
    let produced = producer.await.context("W5's producer panicked")?;
    let finished = async {
        let (mut samples, produced) = (sampled?, produced?);
        let hold = match holder {
            Some(h) => Some(h.await.context("W5's holding task panicked")??),
            None => None,
        };
        if let Some(h) = hold {
            mark_hold(&mut samples, &h);
        }
        b.out.progress(&format!("W5 {name}: draining {} jobs", thousands(produced)));
        worker.wait_handled(&probe, produced, "W5 drain").await?;
        wait_empty(&b.db, STALL, "W5 drain").await?;
        anyhow::Ok((samples, produced, hold))
    }
    .await;
    let (_, stats) = worker.stop().await?;
    let (samples, produced, hold) = finished?;
    let trend = verdict::trend(&samples);
    let seconds = samples.last().map_or(0.0, |s| s.t_s);
    Ok(Phase {
        samples,
        produced,
        handled: probe.handled(),
        completed: stats.completed,
        seconds,
        hold,
        trend,
    })
}

/// Takes a sample at each point after `t0`, noting progress; fails if the worker or the
/// producer stops early.
async fn sample_all(
    b: &Bench,
    name: &str,
    worker: &RunningWorker,
    probe: &Arc<Probe>,
    producer: &JoinHandle<Result<u64>>,
    t0: Instant,
    points: &[Duration],
) -> Result<Vec<Sample>> {
    let log = probe.pickup().context("W5's probe logs pickups")?;
    let (mut sampler, mut samples) = (Sampler::default(), Vec::with_capacity(points.len()));
    for &at in points {
        tokio::time::sleep_until(t0 + at).await;
        worker.check_alive()?;
        anyhow::ensure!(!producer.is_finished(), "W5's producer stopped early (see the error below)");
        let s = sampler.take(t0.elapsed().as_secs_f64(), &b.db, worker.stats(), log).await?;
        b.out.progress(&format!(
            "W5 {name} {:>6.1} s: {} done/s, pickup p99 {} ms, table {:.2} MiB, backlog {}",
            s.t_s,
            rate(s.completed_per_s),
            s.pickup_p99_ms.map_or("–".into(), |v| format!("{v:.2}")),
            mib(s.table_bytes as f64),
            s.backlog
        ));
        samples.push(s);
    }
    Ok(samples)
}

/// Notes `hold` on the samples whose middle falls inside the held transaction.
fn mark_hold(samples: &mut [Sample], h: &HoldTimes) {
    for s in samples {
        let mid = s.t_s - s.interval_s / 2.0;
        if (h.begin_s..=h.commit_s).contains(&mid) {
            s.note = "hold";
        }
    }
}

/// `45 s` below two minutes, else `10.0 min`.
fn span(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 { format!("{s:.0} s") } else { format!("{:.1} min", s / 60.0) }
}

/// A phase's summary line and its time-series table.
fn phase_lines(what: &str, ph: &Phase, rate: f64) -> Vec<String> {
    let sent_rate = ph.produced as f64 / ph.seconds.max(1e-9);
    let behind = if sent_rate < 0.95 * rate { " — the producer fell behind its rate" } else { "" };
    let mut lines = vec![format!(
        "W5 {what}: sent {} jobs in {:.0} s ({} jobs/s{behind}), all {} done",
        thousands(ph.produced),
        ph.seconds,
        self::rate(sent_rate),
        thousands(ph.completed)
    )];
    lines.extend(table::lines(&ph.samples));
    lines
}

/// The baseline and recovery lines of the held phase.
fn recovery_lines(base: Option<&Baseline>, rec: Option<&Recovery>) -> Vec<String> {
    let (Some(base), Some(rec)) = (base, rec) else {
        return vec!["W5 baseline: no sample before the held transaction; recovery not judged".into()];
    };
    vec![
        format!(
            "W5 baseline (median of {} samples before the hold): {} jobs/s, pickup P99 {} ms, fetch mean {} ms, table {:.2} MiB",
            base.samples,
            rate(base.completed_per_s),
            base.pickup_p99_ms.map_or("–".into(), |v| format!("{v:.2}")),
            base.fetch_mean_ms.map_or("–".into(), |v| format!("{v:.2}")),
            mib(base.table_bytes)
        ),
        format!(
            "W5 back after the COMMIT: throughput {}, pickup P99 {}, fetch mean {}, table size {} (at the end {:.2}× the baseline)",
            verdict::seconds_or_never(rec.throughput_s),
            verdict::seconds_or_never(rec.pickup_p99_s),
            verdict::seconds_or_never(rec.fetch_mean_s),
            verdict::seconds_or_never(rec.table_size_s),
            rec.table_end_vs_baseline
        ),
        format!("    ({})", verdict::back_rule()),
    ]
}

/// A phase's record: counts, trend and every sample.
fn phase_json(ph: &Phase) -> Value {
    json!({
        "produced": ph.produced, "handled": ph.handled, "completed": ph.completed, "seconds": ph.seconds,
        "produced_per_s": ph.produced as f64 / ph.seconds.max(1e-9), "trend": ph.trend,
        "stable": ph.trend.stable(), "samples": ph.samples,
    })
}
