//! The rescuer: running jobs whose lease expired (their worker died or froze) go back to
//! `retryable`, or to the dead letter when out of attempts. Liveness-based: a job whose
//! worker still heartbeats is never touched.
//!
//! A round looks only at leases that expired since the previous complete round's cutoff: the
//! lease index holds an entry for every job claimed since the last vacuum, and while a
//! transaction holds the xmin horizon back a scan from the start would step over all of them
//! every round. Every [`FULL_EVERY`]th round scans from the start, for the rare job skipped
//! while another transaction held its row (a completion that then rolled back).

use super::{Lead, ROUNDS_MAX, Round};
use crate::db::{Db, RescuedJob};
use crate::hooks::{Ended, Hooks, RecordedBy, Transition};
use crate::job::{ErrorClass, JobState};
use crate::service::Throttle;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One rescue round in this many scans every expired lease, not just the newly expired.
pub(crate) const FULL_EVERY: u32 = 10;

/// The rescuer stage, with where the next round starts and rounds since the last full one.
pub(crate) struct Rescuer {
    db: Db,
    interval: Duration,
    /// Rows one statement rescues at most.
    batch: i64,
    throttle: Throttle,
    floor: Option<DateTime<Utc>>,
    since_full: u32,
    hooks: Hooks,
}

impl Rescuer {
    /// A rescuer whose first round scans every expired lease.
    pub(crate) fn new(db: Db, interval: Duration, batch: i64, hooks: Hooks) -> Self {
        let throttle = Throttle::default();
        Rescuer { db, interval, batch, throttle, floor: None, since_full: 0, hooks }
    }
}

impl Round for Rescuer {
    fn period(&self) -> Duration {
        self.interval
    }

    fn at_once(&self) -> bool {
        true
    }

    /// Rescues expired leases, in batches while batches come back full; nothing while the
    /// elector says to hold off.
    async fn round(&mut self, lead: Lead) {
        if !lead.may_rescue() {
            return;
        }
        let limit = self.batch;
        let full = self.floor.is_none() || self.since_full + 1 >= FULL_EVERY;
        let floor = if full { None } else { self.floor };
        for _ in 0..ROUNDS_MAX {
            match self.db.job_rescue_many(limit, floor).await {
                Ok((cutoff, rescued)) => {
                    log(&rescued);
                    tell(&self.hooks, &rescued);
                    if (rescued.len() as i64) < limit {
                        self.floor = Some(cutoff);
                        self.since_full = if full { 0 } else { self.since_full + 1 };
                        return;
                    }
                }
                Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "rescuer failed")),
            }
        }
    }
}

fn log(rescued: &[RescuedJob]) {
    if !rescued.is_empty() {
        let dead = rescued.iter().filter(|j| j.state == JobState::Discarded).count();
        tracing::warn!(rescued = rescued.len(), discarded = dead, "rescued jobs whose leases expired");
    }
}

/// Tells the hooks of each committed rescue: a failed attempt, retried at once, or the dead
/// letter when it was the last; or a cancellation that was requested while it ran.
fn tell(hooks: &Hooks, rescued: &[RescuedJob]) {
    if hooks.is_empty() {
        return;
    }
    for r in rescued {
        let ended = match r.state {
            JobState::Cancelled => Ended::Cancelled,
            JobState::Discarded => Ended::Discarded { failed: true },
            _ => Ended::Retrying(Duration::ZERO),
        };
        let job = Transition {
            id: r.id,
            kind: r.kind.as_str().into(),
            queue: r.queue.as_str().into(),
            attempt: r.attempt,
            run_time: None,
            queue_wait: None,
            error: Some((ErrorClass::Rescued, r.error.clone())),
            by: RecordedBy::Rescuer,
        };
        hooks.ended(&job, ended);
    }
}
