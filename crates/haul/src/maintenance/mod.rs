//! Stage 6, maintenance: the services that run only on the elected leader: the scheduler
//! (due jobs become available), the rescuer (expired leases), the cleaner (old final rows),
//! the vacuumer (dead row versions).
//! Every statement is batched and bounded; a service repeats while its batch came back full.

mod cleaner;
mod rescuer;
mod scheduler;
mod vacuumer;

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
    let (mut vacuum, mut vacuumer) = (ticker(cfg.vacuum_interval), vacuumer::Vacuumer::default());
    let mut horizon = ticker(vacuumer::HORIZON_POLL);
    let mut rescuer = rescuer::Rescuer::default();
    let mut throttle = Throttle::default();
    let (mut leader, mut hold) = (false, HoldOff::default());
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = elect.tick() => {
                let elected = elect_once(&core, leader, &mut throttle).await;
                hold.observe(elected.is_ok(), core.config.heartbeat_interval);
                leader = elected.unwrap_or(false);
            }
            _ = sched.tick(), if leader => scheduler::run(&core, &mut throttle).await,
            _ = rescue.tick(), if leader && hold.over() => rescuer.run(&core, &mut throttle).await,
            _ = clean.tick(), if leader => cleaner::run(&core, &mut throttle).await,
            _ = vacuum.tick(), if leader => vacuumer.run(&core, &mut throttle).await,
            _ = horizon.tick(), if leader && vacuumer.watching() => vacuumer.run(&core, &mut throttle).await,
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

/// Takes or renews leadership; `Err(())` when the database could not be reached.
async fn elect_once(core: &Core, was_leader: bool, throttle: &mut Throttle) -> Result<bool, ()> {
    let ttl_ms = crate::fetch::lease_ms(core.config.leader_ttl);
    match core.db.leader_attempt_elect(&core.worker_id, ttl_ms).await {
        Ok(now_leader) => {
            if now_leader != was_leader {
                tracing::info!(worker = %core.worker_id, leader = now_leader, "maintenance leadership changed");
            }
            Ok(now_leader)
        }
        Err(e) => {
            throttle.warn(|| tracing::warn!(error = %e, "leader election failed"));
            Err(())
        }
    }
}

/// After the database was unreachable, every lease may have lapsed while the workers holding
/// them are alive; they need a heartbeat or two to renew them. The rescuer waits that long
/// after the leader reaches the database again, so it does not rescue (and re-run) live jobs.
#[derive(Default)]
struct HoldOff {
    lost: bool,
    until: Option<tokio::time::Instant>,
}

impl HoldOff {
    fn observe(&mut self, reached: bool, heartbeat: std::time::Duration) {
        if !reached {
            self.lost = true;
        } else if self.lost {
            self.lost = false;
            self.until = Some(tokio::time::Instant::now() + heartbeat * 2);
        }
    }

    fn over(&self) -> bool {
        !self.lost && self.until.is_none_or(|t| tokio::time::Instant::now() >= t)
    }
}
