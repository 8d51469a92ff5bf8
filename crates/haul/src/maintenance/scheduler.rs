//! The scheduler: scheduled and retryable jobs whose `run_at` has come become available,
//! and their queues are notified.

use super::{Lead, ROUNDS_MAX, Round};
use crate::db::Db;
use crate::service::Throttle;
use std::time::Duration;

/// The scheduler stage.
pub(crate) struct Scheduler {
    pub db: Db,
    pub interval: Duration,
    /// Rows one statement makes available at most.
    pub batch: i64,
    pub throttle: Throttle,
}

impl Round for Scheduler {
    fn period(&self) -> Duration {
        self.interval
    }

    fn at_once(&self) -> bool {
        true
    }

    async fn round(&mut self, _: Lead) {
        for _ in 0..ROUNDS_MAX {
            match self.db.job_schedule_due(self.batch).await {
                Ok(n) if n < self.batch => return,
                Ok(_) => continue,
                Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "scheduler failed")),
            }
        }
    }
}
