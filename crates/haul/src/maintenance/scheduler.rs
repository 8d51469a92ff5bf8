//! The scheduler: scheduled and retryable jobs whose `run_at` has come become available,
//! and their queues are notified.

use super::ROUNDS_MAX;
use crate::service::Throttle;
use crate::worker::Core;

pub(super) async fn run(core: &Core, throttle: &mut Throttle) {
    let limit = core.config.maintenance_batch;
    for _ in 0..ROUNDS_MAX {
        match core.db.job_schedule_due(limit).await {
            Ok(n) if n < limit => return,
            Ok(_) => continue,
            Err(e) => return throttle.warn(|| tracing::warn!(error = %e, "scheduler failed")),
        }
    }
}
