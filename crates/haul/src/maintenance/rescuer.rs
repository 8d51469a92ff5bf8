//! The rescuer: running jobs whose lease expired (their worker died or froze) go back to
//! `retryable`, or to the dead letter when out of attempts. Liveness-based: a job whose
//! worker still heartbeats is never touched.

use super::ROUNDS_MAX;
use crate::job::JobState;
use crate::service::Throttle;
use crate::worker::Core;

pub(super) async fn run(core: &Core, throttle: &mut Throttle) {
    let limit = core.config.maintenance_batch;
    for _ in 0..ROUNDS_MAX {
        match core.db.job_rescue_many(limit).await {
            Ok(rescued) => {
                if !rescued.is_empty() {
                    let dead = rescued.iter().filter(|(_, s)| *s == JobState::Discarded).count();
                    tracing::warn!(
                        rescued = rescued.len(),
                        discarded = dead,
                        "rescued jobs whose leases expired"
                    );
                }
                if (rescued.len() as i64) < limit {
                    return;
                }
            }
            Err(e) => return throttle.warn(|| tracing::warn!(error = %e, "rescuer failed")),
        }
    }
}
