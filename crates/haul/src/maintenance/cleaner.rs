//! The cleaner: deletes final jobs past their state's retention, and stats rollups past theirs,
//! in bounded batches.

use super::{Lead, ROUNDS_MAX, Round};
use crate::db::Db;
use crate::job::JobState;
use crate::service::Throttle;
use std::time::Duration;

/// The cleaner stage.
pub(crate) struct Cleaner {
    pub db: Db,
    pub interval: Duration,
    /// How long rows in each final state are kept.
    pub retention: [(JobState, Duration); 3],
    /// How long stats rollups are kept.
    pub stats_retention: Duration,
    /// Rows one statement deletes at most.
    pub batch: i64,
    pub throttle: Throttle,
}

impl Round for Cleaner {
    fn period(&self) -> Duration {
        self.interval
    }

    async fn round(&mut self, _: Lead) {
        for (state, keep) in self.retention {
            for _ in 0..ROUNDS_MAX {
                match self.db.job_delete_finalized_before(state, keep.as_secs_f64(), self.batch).await {
                    Ok(n) if (n as i64) < self.batch => break,
                    Ok(_) => continue,
                    Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "cleaner failed")),
                }
            }
        }
        for _ in 0..ROUNDS_MAX {
            match self.db.stats_delete_before(self.stats_retention.as_secs_f64(), self.batch).await {
                Ok(n) if (n as i64) < self.batch => break,
                Ok(_) => continue,
                Err(e) => {
                    return self.throttle.warn(|| tracing::warn!(error = %e, "cleaner failed on rollups"));
                }
            }
        }
    }
}
