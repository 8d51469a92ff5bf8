//! The elector: takes or renews the leader lease row every third of its TTL and publishes
//! whether this process leads. It runs alone in its task, so no maintenance round can make
//! it miss a renewal. After the database was unreachable it also publishes how long the
//! rescuer must hold off (live workers need a heartbeat or two to renew leases that lapsed
//! meanwhile).

use crate::attempts::lease_ms;
use crate::db::Db;
use crate::health::Marks;
use crate::service::Throttle;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// What the elector publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lead {
    /// Whether this process holds the leader lease.
    pub leader: bool,
    /// Rescue nothing before this instant (set after the database was unreachable).
    pub rescue_from: Option<Instant>,
}

impl Lead {
    /// Whether the rescuer may run now.
    pub(crate) fn may_rescue(&self) -> bool {
        self.leader && self.rescue_from.is_none_or(|t| Instant::now() >= t)
    }
}

/// The elector stage.
pub(crate) struct Elector {
    pub db: Db,
    pub worker_id: Arc<str>,
    /// The leader lease; renewed every third of it.
    pub ttl: Duration,
    /// The workers' heartbeat interval: the rescuer holds off two of them after an outage.
    pub heartbeat: Duration,
    /// Where leadership and each election's answer are recorded.
    pub health: Arc<Marks>,
}

impl Elector {
    /// Elects until `stop` fires, then resigns if it leads and publishes that it does not.
    pub(crate) async fn run(self, lead: watch::Sender<Lead>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.ttl / 3);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut throttle = Throttle::default();
        let mut lost = false;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    let was = *lead.borrow();
                    let next = match self.elect_once(was.leader, &mut throttle).await {
                        Ok(leader) => {
                            let hold = if std::mem::take(&mut lost) {
                                Some(Instant::now() + self.heartbeat * 2)
                            } else {
                                was.rescue_from.filter(|t| *t > Instant::now())
                            };
                            Lead { leader, rescue_from: hold }
                        }
                        Err(()) => {
                            lost = true;
                            Lead::default()
                        }
                    };
                    self.health.set_leader(next.leader);
                    lead.send_if_modified(|now| std::mem::replace(now, next) != next);
                }
            }
        }
        self.health.set_leader(false);
        let was = lead.send_replace(Lead::default());
        if was.leader
            && let Err(e) = self.db.leader_resign(&self.worker_id).await
        {
            tracing::debug!(error = %e, "could not resign leadership; the lease will lapse");
        }
    }

    /// Takes or renews leadership; `Err(())` when the database could not be reached.
    async fn elect_once(&self, was_leader: bool, throttle: &mut Throttle) -> Result<bool, ()> {
        match self.db.leader_attempt_elect(&self.worker_id, lease_ms(self.ttl)).await {
            Ok(now_leader) => {
                self.health.db_answered();
                if now_leader != was_leader {
                    tracing::info!(worker = %self.worker_id, leader = now_leader, "maintenance leadership changed");
                }
                Ok(now_leader)
            }
            Err(e) => {
                throttle.warn(|| tracing::warn!(error = %e, "leader election failed"));
                Err(())
            }
        }
    }
}
