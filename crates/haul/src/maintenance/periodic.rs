//! The periodic enqueuer: each round the leader reads every schedule's last tick and the
//! database's clock, then records each due tick with its job in one transaction (a
//! compare-and-set on the record, so no tick is enqueued twice across leaders), oldest first.

use super::{Lead, Round};
use crate::db::{Db, Seen, Tick};
use crate::error::{Error, Result};
use crate::insert::{NewJob, build_batch, plan_unique};
use crate::periodic::{Periodic, Step, tick_key};
use crate::service::Throttle;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Ticks one schedule records per round at most; the next round goes on from there.
const STEPS_MAX: usize = 100;

/// Builds the job of a tick.
pub(crate) type MakeJob = Box<dyn Fn() -> NewJob + Send + Sync>;

/// A registered schedule: its rule, its resolved name and its job.
pub(crate) struct PeriodicJob {
    pub periodic: Periodic,
    pub name: String,
    pub make: MakeJob,
}

/// The periodic stage.
pub(crate) struct Enqueuer {
    pub db: Db,
    pub interval: Duration,
    pub jobs: Vec<PeriodicJob>,
    /// The client's payload cap, which the tick's job is checked against.
    pub max_payload: usize,
    pub throttle: Throttle,
}

impl Round for Enqueuer {
    fn period(&self) -> Duration {
        self.interval
    }

    /// A new leader enqueues what came due during the failover at once.
    fn at_once(&self) -> bool {
        true
    }

    /// Each schedule on its own: one whose tick fails does not hold up the others.
    async fn round(&mut self, _: Lead) {
        let names: Vec<String> = self.jobs.iter().map(|j| j.name.clone()).collect();
        let mut failed = match self.db.periodic_seen(&names).await {
            Ok(seen) => self.enqueue_due(&seen).await,
            Err(e) => vec![("every schedule".to_owned(), e)],
        };
        if let Some((schedule, e)) = failed.pop() {
            self.throttle.warn(|| tracing::warn!(%schedule, error = %e, "periodic enqueuer failed"));
        }
    }
}

impl Enqueuer {
    /// Records every schedule's due ticks; returns the schedules that failed.
    async fn enqueue_due(&self, seen: &Seen) -> Vec<(String, Error)> {
        let mut failed = Vec::new();
        for job in &self.jobs {
            let Some(last) = seen.last_tick(&job.name) else { continue };
            let mut moved = false;
            for step in job.periodic.steps(last, seen.now, STEPS_MAX) {
                match self.record(job, step).await {
                    Ok(true) => moved = true,
                    Ok(false) => break,
                    Err(e) => {
                        failed.push((job.name.clone(), e));
                        break;
                    }
                }
            }
            if !moved && let Err(e) = self.keep_next(job, last, seen.next_tick(&job.name)).await {
                failed.push((job.name.clone(), e));
            }
        }
        failed
    }

    /// Records the schedule's next tick after `last` where the row holds another (`recorded`):
    /// a schedule seen for the first time, or changed in the workers' code.
    async fn keep_next(
        &self,
        job: &PeriodicJob,
        last: DateTime<Utc>,
        recorded: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let next = job.periodic.next_after(last);
        if next == recorded {
            return Ok(());
        }
        self.db.periodic_set_next(&job.name, next).await
    }

    /// Records one tick (with its job unless skipped); false when the record was already
    /// past it (another process leads, or led a moment ago).
    async fn record(&self, job: &PeriodicJob, step: Step) -> Result<bool> {
        let key = tick_key(&job.name, step.tick);
        let plan = if step.enqueue { self.batch(job, &key).map(plan_unique) } else { None };
        let next = job.periodic.next_after(step.tick);
        match self.db.periodic_advance(&job.name, (step.tick, next), plan.as_ref().map(|p| &p.sent)).await? {
            Tick::Passed => Ok(false),
            Tick::Advanced(None) => {
                tracing::info!(schedule = %job.name, tick = %step.tick, "periodic tick skipped");
                Ok(true)
            }
            Tick::Advanced(Some(ids)) => {
                let outcome = plan.map(|p| p.outcomes(ids)).transpose()?;
                let (id, duplicate) = outcome.and_then(|o| o.first().map(|i| (i.id, i.duplicate))).unzip();
                tracing::debug!(schedule = %job.name, tick = %step.tick, job_id = ?id, duplicate = ?duplicate, "periodic tick enqueued");
                Ok(true)
            }
        }
    }

    /// The tick's job with its unique key, or `None` (logged) when it fails its checks: the
    /// tick is then recorded as skipped rather than retried every round.
    fn batch(&self, job: &PeriodicJob, key: &str) -> Option<crate::db::InsertBatch> {
        let new = (job.make)().with_unique_key(key);
        match build_batch(vec![new], self.max_payload) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::error!(schedule = %job.name, error = %e, "periodic job is invalid; tick skipped");
                None
            }
        }
    }
}
