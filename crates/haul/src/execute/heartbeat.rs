//! The heartbeat: one statement per interval extends the leases of this process's attempts
//! whose lease is half used (short jobs finish before they need one). An attempt whose lease
//! could not be extended was rescued elsewhere, and one whose cancellation was requested is
//! stopped: in both cases the handler is told to stop, and a late outcome is fenced away.

use crate::attempts::{KillReason, Running, lease_ms};
use crate::db::Db;
use crate::health::Marks;
use crate::service::Throttle;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The heartbeat stage.
pub(crate) struct Heartbeat {
    /// A pool whose statements give up within half a lease, so a stuck beat is retried in time.
    pub db: Db,
    pub running: Arc<Running>,
    pub interval: Duration,
    pub lease: Duration,
    /// Where the heartbeat records its ticks and successful statements.
    pub health: Arc<Marks>,
}

impl Heartbeat {
    /// Beats until `stop` fires.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut throttle = Throttle::default();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                at = tick.tick() => {
                    self.health.beat_turned(at);
                    self.beat(&mut throttle).await;
                }
            }
        }
    }

    async fn beat(&self, throttle: &mut Throttle) {
        let (ids, attempts) = self.running.leases_due(self.lease / 2);
        if ids.is_empty() {
            return;
        }
        let sent = std::time::Instant::now();
        let held = match self.db.job_heartbeat_many(&ids, &attempts, lease_ms(self.lease)).await {
            Ok(held) => {
                self.health.beat_ok();
                held
            }
            Err(e) => {
                return throttle.warn(|| tracing::warn!(error = %e, running = ids.len(), "heartbeat failed"));
            }
        };
        self.running.renewed(held.iter().map(|(id, _)| *id), sent);
        if held.len() == ids.len() && held.iter().all(|(_, cancel)| !cancel) {
            return;
        }
        let held: HashMap<i64, bool> = held.into_iter().collect();
        for id in ids {
            // an attempt that finished since the snapshot is no longer tracked: kill is a no-op
            match held.get(&id) {
                Some(true) if self.running.kill(id, KillReason::Cancelled) => {
                    tracing::info!(job_id = id, "cancellation requested; stopping its handler")
                }
                None if self.running.kill(id, KillReason::LeaseLost) => {
                    tracing::warn!(job_id = id, "lease lost (job rescued elsewhere); stopping its handler")
                }
                _ => {}
            }
        }
    }
}
