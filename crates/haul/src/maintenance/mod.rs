//! Stage 6, maintenance: the services that run only on the elected leader: the scheduler
//! (due jobs become available), the rescuer (expired leases), the cleaner (old final rows).
//! Every statement is batched and bounded; a service repeats while its batch came back full.

mod cleaner;
mod rescuer;
mod scheduler;

use crate::service::Throttle;
use crate::worker::Core;
use std::sync::Arc;
use tokio::time::{Interval, MissedTickBehavior, interval};
use tokio_util::sync::CancellationToken;

/// Rounds a service runs back to back while its batches come back full.
const ROUNDS_MAX: usize = 10;

/// Elects a leader through the lease row and, while this process leads, runs the services.
pub(crate) async fn run_maintainer(core: Arc<Core>, stop: CancellationToken) {
    let cfg = &core.config;
    let mut elect = ticker(cfg.leader_ttl / 3);
    let (mut sched, mut rescue, mut clean) =
        (ticker(cfg.scheduler_interval), ticker(cfg.rescuer_interval), ticker(cfg.cleaner_interval));
    let mut throttle = Throttle::default();
    let mut leader = false;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = elect.tick() => leader = elect_once(&core, leader, &mut throttle).await,
            _ = sched.tick(), if leader => scheduler::run(&core, &mut throttle).await,
            _ = rescue.tick(), if leader => rescuer::run(&core, &mut throttle).await,
            _ = clean.tick(), if leader => cleaner::run(&core, &mut throttle).await,
        }
    }
    if leader && let Err(e) = core.db.leader_resign(&core.worker_id).await {
        tracing::debug!(error = %e, "could not resign leadership; the lease will lapse");
    }
}

fn ticker(period: std::time::Duration) -> Interval {
    let mut t = interval(period);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

async fn elect_once(core: &Core, was_leader: bool, throttle: &mut Throttle) -> bool {
    let ttl_ms = crate::fetch::lease_ms(core.config.leader_ttl);
    match core.db.leader_attempt_elect(&core.worker_id, ttl_ms).await {
        Ok(now_leader) => {
            if now_leader != was_leader {
                tracing::info!(worker = %core.worker_id, leader = now_leader, "maintenance leadership changed");
            }
            now_leader
        }
        Err(e) => {
            throttle.warn(|| tracing::warn!(error = %e, "leader election failed"));
            false
        }
    }
}
