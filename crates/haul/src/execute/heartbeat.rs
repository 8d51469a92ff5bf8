//! The heartbeat: one statement per interval extends the leases of all this process's running
//! attempts. An attempt whose lease could not be extended was rescued or cancelled elsewhere:
//! its handler is told to stop, and its late outcome will be fenced away.

use crate::fetch::lease_ms;
use crate::service::Throttle;
use crate::worker::Core;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Beats until `stop` fires.
pub(crate) async fn run_heartbeat(core: Arc<Core>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(core.config.heartbeat_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut throttle = Throttle::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => beat(&core, &mut throttle).await,
        }
    }
}

async fn beat(core: &Core, throttle: &mut Throttle) {
    let (ids, attempts) = core.running.leases();
    if ids.is_empty() {
        return;
    }
    match core.db.job_heartbeat_many(&ids, &attempts, lease_ms(core.config.lease)).await {
        Ok(held) if held.len() == ids.len() => {}
        Ok(held) => {
            let held: HashSet<i64> = held.into_iter().collect();
            for id in ids.iter().filter(|id| !held.contains(id)) {
                // gone from running, or finished meanwhile; cancelling a finished one is a no-op
                if core.running.cancel(*id) {
                    tracing::warn!(
                        job_id = id,
                        "lease lost (job rescued or cancelled elsewhere); asking its handler to stop"
                    );
                }
            }
        }
        Err(e) => throttle.warn(|| tracing::warn!(error = %e, running = ids.len(), "heartbeat failed")),
    }
}
