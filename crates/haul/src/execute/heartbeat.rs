//! The heartbeat: one statement per interval extends the leases of this process's attempts
//! whose lease is half used (short jobs finish before they need one). An attempt whose lease could not be extended was rescued elsewhere, and one whose
//! cancellation was requested is stopped: in both cases the handler is told to stop, and a
//! late outcome is fenced away.

use super::running::KillReason;
use crate::fetch::lease_ms;
use crate::service::Throttle;
use crate::worker::Core;
use std::collections::HashMap;
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
    let (ids, attempts) = core.running.leases_due(core.config.lease / 2);
    if ids.is_empty() {
        return;
    }
    let sent = std::time::Instant::now();
    let held = match core.beat_db.job_heartbeat_many(&ids, &attempts, lease_ms(core.config.lease)).await {
        Ok(held) => held,
        Err(e) => {
            return throttle.warn(|| tracing::warn!(error = %e, running = ids.len(), "heartbeat failed"));
        }
    };
    core.running.renewed(held.iter().map(|(id, _)| *id), sent);
    if held.len() == ids.len() && held.iter().all(|(_, cancel)| !cancel) {
        return;
    }
    let held: HashMap<i64, bool> = held.into_iter().collect();
    for id in ids {
        // an attempt that finished since the snapshot is no longer tracked: kill is a no-op
        match held.get(&id) {
            Some(true) if core.running.kill(id, KillReason::Cancelled) => {
                tracing::info!(job_id = id, "cancellation requested; stopping its handler")
            }
            None if core.running.kill(id, KillReason::LeaseLost) => {
                tracing::warn!(job_id = id, "lease lost (job rescued elsewhere); stopping its handler")
            }
            _ => {}
        }
    }
}
