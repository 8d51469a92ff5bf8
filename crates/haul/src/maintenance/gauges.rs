//! The queue gauges, set on the leader every period through the `metrics` facade:
//! `haul_queue_depth{queue,state}`, `haul_queue_oldest_available_seconds{queue}` and
//! `haul_dead_letter_jobs{queue}`, from one stats reading. A queue that disappears keeps its
//! last values until the process exports them no more (a restart); its depth reads 0 while
//! it has a row in the stats.

use super::{Lead, Round};
use crate::db::Db;
use crate::service::Throttle;
use crate::stats::{Stats, StatsQuery};
use std::time::Duration;

/// The gauges service.
pub(crate) struct Gauges {
    db: Db,
    period: Duration,
    throttle: Throttle,
}

impl Gauges {
    pub(crate) fn new(db: Db, period: Duration) -> Self {
        Gauges { db, period, throttle: Throttle::default() }
    }
}

impl Round for Gauges {
    fn period(&self) -> Duration {
        self.period
    }

    fn at_once(&self) -> bool {
        true
    }

    async fn round(&mut self, _: Lead) {
        // the shortest window: only the depth is used
        let query = StatsQuery::default().with_window(Duration::from_secs(60));
        match crate::stats::read(&self.db, &query).await {
            Ok(stats) => set(&stats),
            Err(e) => self.throttle.warn(|| tracing::warn!(error = %e, "reading the queue gauges failed")),
        }
    }
}

/// Sets every queue's gauges from `stats`.
pub(crate) fn set(stats: &Stats) {
    for q in &stats.queues {
        let queue = q.queue.clone().unwrap_or_default();
        for state in crate::job::JobState::ALL {
            let labels = [("queue", queue.clone()), ("state", state.as_str().to_owned())];
            metrics::gauge!("haul_queue_depth", &labels).set(q.depth.get(state) as f64);
        }
        let oldest = q.oldest_available.map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!("haul_queue_oldest_available_seconds", "queue" => queue.clone()).set(oldest);
        metrics::gauge!("haul_dead_letter_jobs", "queue" => queue).set(q.dead_letters as f64);
    }
}
