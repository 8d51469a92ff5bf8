//! Stage 5, complete: outcomes are buffered and written in one fenced statement per flush
//! (`job_complete_many` when all succeeded, else `job_set_state_if_running_many`). Events
//! and counters follow only what committed; outcomes the fence refused are logged.

mod event;
pub(crate) mod plan;

pub use event::{EventOutcome, JobEvent};

use crate::db::CompletionBatch;
use crate::execute::Attempt;
use crate::job::JobState;
use crate::service::{Backoff, Throttle};
use crate::worker::Core;
use plan::{Planned, plan, to_batch};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// A batch smaller than this waits one scheduler turn for more before it is written.
const GATHER_BELOW: usize = 64;

/// Writes outcomes until the channel closes, then flushes what is left and returns.
pub(crate) async fn run_completer(core: Arc<Core>, mut rx: mpsc::Receiver<Attempt>) {
    let mut flushes = JoinSet::new();
    loop {
        while flushes.len() >= core.config.complete_concurrency {
            flushes.join_next().await;
        }
        let first = tokio::select! {
            a = rx.recv() => a,
            () = core.abandon.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut buf = vec![first];
        drain(&mut rx, &mut buf, core.config.complete_batch_max);
        if buf.len() < GATHER_BELOW {
            // Outcomes of one claim arrive together: let the job tasks already running hand
            // theirs over before writing, rather than flush a few and make the rest wait.
            tokio::task::yield_now().await;
            drain(&mut rx, &mut buf, core.config.complete_batch_max);
        }
        flushes.spawn(flush(core.clone(), buf));
    }
    while flushes.join_next().await.is_some() {}
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

async fn flush(core: Arc<Core>, mut attempts: Vec<Attempt>) {
    attempts.sort_unstable_by_key(|a| a.info.id); // every batch statement locks rows in id order
    let plans: Vec<Planned> = attempts.iter().map(plan).collect();
    let batch = to_batch(&attempts, &plans);
    let written = write(&core, &batch).await;
    // written, refused or given up: either way no longer this worker's to heartbeat
    core.running.finish_many(attempts.iter().map(|a| a.info.id));
    let Some(mut applied) = written else { return };
    applied.sort_unstable_by_key(|(id, _)| *id);
    let applied_state = |id: i64| applied.binary_search_by_key(&id, |(id, _)| *id).ok().map(|i| applied[i].1);
    let mut counted = Vec::with_capacity(attempts.len());
    let mut rejected = Vec::new();
    let publish = core.events.receiver_count() > 0;
    for (a, p) in attempts.iter().zip(&plans) {
        let state = if p.write { applied_state(a.info.id) } else { Some(JobState::Completed) };
        let Some(state) = state else {
            rejected.push((a.info.id, a.info.attempt));
            continue;
        };
        let outcome = p.outcome_in(state);
        counted.push((Planned::counted(outcome), a.run_time));
        if publish {
            let _ = core.events.send(p.event(a, outcome));
        }
    }
    core.stats.record(counted.into_iter());
    if !rejected.is_empty() {
        core.stats.record_rejected(rejected.len() as u64);
        let first: Vec<_> = rejected.iter().take(10).collect();
        tracing::warn!(
            refused = rejected.len(),
            ?first,
            "outcomes refused by the fence: these (id, attempt) were no longer running (rescued, released or cancelled)"
        );
    }
}

/// Runs the statement, retrying while the database is away; `None` if it could not be written.
async fn write(core: &Core, batch: &CompletionBatch) -> Option<Vec<(i64, JobState)>> {
    if batch.len() == 0 {
        return Some(Vec::new());
    }
    let keep = !core.config.completed_retention.is_zero();
    let (mut backoff, mut throttle) = (Backoff::default(), Throttle::default());
    loop {
        let res = if batch.all_completed() {
            let done = core.db.job_complete_many_pooled(&batch.ids, &batch.attempts, keep).await;
            done.map(|ids| ids.into_iter().map(|id| (id, JobState::Completed)).collect())
        } else {
            core.db.job_set_state_if_running_many(batch, keep).await
        };
        match res {
            Ok(applied) => return Some(applied),
            Err(e) if e.is_transient() && !core.abandon.is_cancelled() => {
                throttle.warn(
                    || tracing::warn!(error = %e, jobs = batch.len(), "completion write failed; retrying"),
                );
                tokio::select! {
                    () = backoff.wait() => {}
                    () = core.abandon.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    jobs = batch.len(),
                    "completion write failed; the jobs stay running until their leases expire and the rescuer retries them"
                );
                return None;
            }
        }
    }
}
