//! The cleaner: deletes final jobs past their state's retention, in bounded batches.

use super::ROUNDS_MAX;
use crate::job::JobState;
use crate::service::Throttle;
use crate::worker::Core;

pub(super) async fn run(core: &Core, throttle: &mut Throttle) {
    let cfg = &core.config;
    let retention = [
        (JobState::Completed, cfg.completed_retention),
        (JobState::Cancelled, cfg.cancelled_retention),
        (JobState::Discarded, cfg.discarded_retention),
    ];
    for (state, keep) in retention {
        for _ in 0..ROUNDS_MAX {
            match core.db.job_delete_finalized_before(state, keep.as_secs_f64(), cfg.maintenance_batch).await
            {
                Ok(n) if (n as i64) < cfg.maintenance_batch => break,
                Ok(_) => continue,
                Err(e) => return throttle.warn(|| tracing::warn!(error = %e, "cleaner failed")),
            }
        }
    }
}
