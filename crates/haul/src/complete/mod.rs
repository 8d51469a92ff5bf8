//! Stage 5, complete: outcomes are buffered and written in one fenced statement per flush
//! (`job_complete_many` when all succeeded, else `job_set_state_if_running_many`); a flush
//! holding a job of a workflow (a batch child, a job others wait on, a saga step) writes it in
//! a transaction with the statements that settle what follows from it. Events
//! and counters follow only what committed; outcomes the fence refused are logged. A flush the
//! database refuses for a reason other than a lost connection is split until the refused
//! outcome is found: its batch-mates are written as planned, and it is recorded as a failed
//! attempt saying why ([`isolate`]).

mod event;
#[cfg(feature = "testing")]
mod inline;
mod isolate;
pub(crate) mod plan;

pub use event::{EventOutcome, JobEvent};

use crate::attempts::Running;
use crate::db::{CompletionBatch, Db};
use crate::error::Error;
use crate::execute::Attempt;
use crate::hooks::Hooks;
use crate::job::JobState;
use crate::service::{Backoff, Throttle};
use crate::stats::{Rollups, Sample, WorkerStats};
use plan::{Planned, plan};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A batch smaller than this waits one scheduler turn for more before it is written.
const GATHER_BELOW: usize = 64;

/// The complete stage: what writing outcomes and publishing their events uses.
pub(crate) struct Completer {
    pub db: Db,
    pub running: Arc<Running>,
    pub stats: Arc<WorkerStats>,
    pub rollups: Arc<Rollups>,
    pub events: broadcast::Sender<JobEvent>,
    /// Told of each outcome that committed.
    pub hooks: Hooks,
    /// Fires when shutdown gives up on writing outstanding outcomes.
    pub abandon: CancellationToken,
    pub batch_max: usize,
    pub concurrency: usize,
    pub keep_completed: bool,
    /// Bumped after each flush: producers of limited queues wait on it for running jobs to end.
    pub flushed: watch::Sender<u64>,
}

/// Why a statement wrote nothing.
enum Unwritten {
    /// The database refused it (not a lost connection): some outcome in it cannot be stored.
    Refused(Error),
    /// The database stayed away until shutdown gave up on it.
    GaveUp,
}

impl Completer {
    /// Writes outcomes until the channel closes, then flushes what is left and returns.
    pub(crate) async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Attempt>) {
        let mut flushes = JoinSet::new();
        loop {
            while flushes.len() >= self.concurrency {
                flushes.join_next().await;
            }
            let first = tokio::select! {
                a = rx.recv() => a,
                () = self.abandon.cancelled() => None,
            };
            let Some(first) = first else { break };
            let mut buf = vec![first];
            drain(&mut rx, &mut buf, self.batch_max);
            if buf.len() < GATHER_BELOW {
                // Outcomes of one claim arrive together: let the job tasks already running hand
                // theirs over before writing, rather than flush a few and make the rest wait.
                tokio::task::yield_now().await;
                drain(&mut rx, &mut buf, self.batch_max);
            }
            flushes.spawn(self.clone().flush(buf));
        }
        while flushes.join_next().await.is_some() {}
    }

    async fn flush(self: Arc<Self>, mut attempts: Vec<Attempt>) {
        attempts.sort_unstable_by_key(|a| a.info.id); // every batch statement locks rows in id order
        let mut plans: Vec<Planned> = attempts.iter().map(plan).collect();
        let written = self.write(&attempts, &mut plans).await;
        // written, refused or given up: either way no longer this worker's to heartbeat
        self.running.finish_many(attempts.iter().map(|a| a.info.id));
        if let Some(applied) = written {
            self.publish(&attempts, &plans, applied);
        }
        self.flushed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Counts, publishes and tells the hooks what committed, and logs what the fence refused.
    fn publish(&self, attempts: &[Attempt], plans: &[Planned], mut applied: Vec<(i64, JobState)>) {
        applied.sort_unstable_by_key(|(id, _)| *id);
        let applied_state =
            |id: i64| applied.binary_search_by_key(&id, |(id, _)| *id).ok().map(|i| applied[i].1);
        let mut counted = Vec::with_capacity(attempts.len());
        let mut rejected = Vec::new();
        let publish = self.events.receiver_count() > 0;
        for (a, p) in attempts.iter().zip(plans) {
            let state = if p.write { applied_state(a.info.id) } else { Some(JobState::Completed) };
            let Some(state) = state else {
                rejected.push((a.info.id, a.info.attempt));
                continue;
            };
            let outcome = p.outcome_in(state);
            counted.push((Planned::counted(outcome), a));
            if publish {
                let _ = self.events.send(p.event(a, outcome));
            }
            if !self.hooks.is_empty() {
                let (job, ended) = p.transition(a, outcome);
                self.hooks.ended(&job, ended);
            }
        }
        self.stats.record(counted.iter().map(|(c, a)| (*c, a.run_time)));
        self.rollups.record(counted.iter().map(|&(counted, a)| Sample {
            queue: &a.info.queue,
            kind: &a.info.kind,
            counted,
            run_time: a.run_time,
            queue_wait: a.info.queue_wait,
        }));
        if !rejected.is_empty() {
            self.stats.record_rejected(rejected.len() as u64);
            let first: Vec<_> = rejected.iter().take(10).collect();
            tracing::warn!(
                refused = rejected.len(),
                ?first,
                "outcomes refused by the fence: these (id, attempt) were no longer running (rescued, released or cancelled)"
            );
        }
    }

    /// Runs one statement for `batch`, retrying while the database is away.
    async fn write_batch(&self, batch: &CompletionBatch) -> Result<Vec<(i64, JobState)>, Unwritten> {
        let follow_up = !batch.settle.is_empty() || !batch.release.is_empty() || !batch.sagas.is_empty();
        if batch.len() == 0 && !follow_up {
            return Ok(Vec::new());
        }
        let keep = self.keep_completed;
        let (mut backoff, mut throttle) = (Backoff::default(), Throttle::default());
        loop {
            let res = if follow_up {
                self.db.job_finish_settling(batch, keep).await
            } else if batch.all_completed() {
                let done =
                    self.db.job_complete_many_pooled(&batch.ids, &batch.attempts, &batch.slots, keep).await;
                done.map(|ids| ids.into_iter().map(|id| (id, JobState::Completed)).collect())
            } else {
                self.db.job_set_state_if_running_many(batch, keep).await
            };
            match res {
                Ok(applied) => return Ok(applied),
                Err(e) if !e.is_transient() => return Err(Unwritten::Refused(e)),
                Err(e) if self.abandon.is_cancelled() => {
                    tracing::error!(
                        error = %e,
                        jobs = batch.len(),
                        "completion write failed at shutdown; the jobs stay running until their leases expire and the rescuer retries them"
                    );
                    return Err(Unwritten::GaveUp);
                }
                Err(e) => {
                    throttle.warn(
                        || tracing::warn!(error = %e, jobs = batch.len(), "completion write failed; retrying"),
                    );
                    tokio::select! {
                        () = backoff.wait() => {}
                        () = self.abandon.cancelled() => {}
                    }
                }
            }
        }
    }
}

/// Moves waiting outcomes into `buf` until it holds `max` or none is left.
fn drain(rx: &mut mpsc::Receiver<Attempt>, buf: &mut Vec<Attempt>, max: usize) {
    while buf.len() < max {
        match rx.try_recv() {
            Ok(a) => buf.push(a),
            Err(_) => break,
        }
    }
}
