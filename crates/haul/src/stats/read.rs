//! [`Client::stats`](crate::Client::stats): reads the depth and the window's rollups and puts
//! them together per queue and kind, per queue, and in all.

use super::depth::{self, Depth};
use super::histogram::{BUCKETS, quantile};
use super::report::{OutcomeCounts, Percentiles, Stats, StatsQuery, StatsRow};
use crate::db::{Db, RollupSum, StatsWindow};
use crate::error::Result;
use crate::job::JobState;
use crate::queue::JobCounts;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Reads the stats `query` asks for.
pub(crate) async fn read(db: &Db, query: &StatsQuery) -> Result<Stats> {
    query.validate()?;
    let window = db.stats_window(query.minutes()).await?;
    let depth = depth::read(db).await?;
    let rollups = db.stats_sum_since(window.since, query.queue(), query.kind()).await?;
    Ok(assemble(window, depth, rollups, query))
}

/// One row's numbers while they are gathered.
#[derive(Default)]
struct Acc {
    depth: JobCounts,
    oldest: Option<DateTime<Utc>>,
    outcomes: OutcomeCounts,
    run_time: Vec<i64>,
    queue_wait: Vec<i64>,
}

impl Acc {
    fn merge(&mut self, o: &Acc) {
        for s in JobState::ALL {
            self.depth.add(s, o.depth.get(s));
        }
        self.oldest = earliest(self.oldest, o.oldest);
        self.outcomes.add(&o.outcomes);
        add_hist(&mut self.run_time, &o.run_time);
        add_hist(&mut self.queue_wait, &o.queue_wait);
    }

    fn finish(self, queue: Option<String>, kind: Option<String>, w: &StatsWindow) -> StatsRow {
        let secs = (w.now - w.since).to_std().unwrap_or_default().as_secs_f64().max(1.0);
        let attempts = self.outcomes.attempts();
        let failed = self.outcomes.retried + self.outcomes.discarded;
        StatsRow {
            queue,
            kind,
            oldest_available: self.oldest.map(|t| (w.now - t).to_std().unwrap_or_default()),
            dead_letters: self.depth.discarded,
            depth: self.depth,
            throughput: self.outcomes.completed as f64 / secs,
            error_rate: (attempts > 0).then(|| failed as f64 / attempts as f64),
            outcomes: self.outcomes,
            run_time: percentiles(&self.run_time),
            queue_wait: percentiles(&self.queue_wait),
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn add_hist(to: &mut Vec<i64>, from: &[i64]) {
    if to.len() < from.len() {
        to.resize(from.len(), 0);
    }
    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
}

fn percentiles(h: &[i64]) -> Option<Percentiles> {
    let h = &h[..h.len().min(BUCKETS)];
    Some(Percentiles { p50: quantile(h, 0.50)?, p95: quantile(h, 0.95)?, p99: quantile(h, 0.99)? })
}

/// The rows, the queues and the total, from what was read.
fn assemble(w: StatsWindow, depth: Depth, rollups: Vec<RollupSum>, q: &StatsQuery) -> Stats {
    let wanted =
        |queue: &str, kind: &str| q.queue().is_none_or(|x| x == queue) && q.kind().is_none_or(|x| x == kind);
    let mut rows: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for r in depth.rows.into_iter().filter(|r| wanted(&r.queue, &r.kind)) {
        let acc = rows.entry((r.queue, r.kind)).or_default();
        acc.depth.add(r.state, r.n);
        acc.oldest = earliest(acc.oldest, r.oldest);
    }
    for r in rollups.into_iter().filter(|r| wanted(&r.queue, &r.kind)) {
        let acc = rows.entry((r.queue, r.kind)).or_default();
        let o = OutcomeCounts {
            completed: r.completed,
            retried: r.retried,
            snoozed: r.snoozed,
            cancelled: r.cancelled,
            discarded: r.discarded,
        };
        acc.outcomes.add(&o);
        add_hist(&mut acc.run_time, &r.run_time);
        add_hist(&mut acc.queue_wait, &r.queue_wait);
    }
    let mut queues: BTreeMap<String, Acc> = BTreeMap::new();
    for ((queue, _), acc) in &rows {
        queues.entry(queue.clone()).or_default().merge(acc);
    }
    if let Some(oldest) = depth.oldest {
        // a sampled depth has no oldest per kind: each queue's comes from its own read
        for r in oldest.into_iter().filter(|r| q.kind().is_none() && wanted(&r.queue, "")) {
            queues.entry(r.queue).or_default().oldest = r.oldest;
        }
    }
    let mut total = Acc::default();
    queues.values().for_each(|acc| total.merge(acc));
    Stats {
        at: w.now,
        since: w.since,
        window: (w.now - w.since).to_std().unwrap_or(Duration::ZERO),
        estimated: depth.estimated,
        rows: rows.into_iter().map(|((q, k), acc)| acc.finish(Some(q), Some(k), &w)).collect(),
        queues: queues.into_iter().map(|(q, acc)| acc.finish(Some(q), None, &w)).collect(),
        total: total.finish(None, None, &w),
    }
}
