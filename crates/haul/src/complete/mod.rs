//! Stage 5, complete: outcomes are buffered and written in one fenced statement per flush
//! (`job_complete_many` when all succeeded, else `job_set_state_if_running_many`). Events
//! and counters follow only what committed; outcomes the fence refused are logged.

mod event;
mod plan;

pub use event::{EventOutcome, JobEvent};

use crate::execute::Attempt;
use crate::service::{Backoff, Throttle};
use crate::worker::Core;
use plan::{Planned, plan, to_batch};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

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
        while buf.len() < core.config.complete_batch_max {
            match rx.try_recv() {
                Ok(a) => buf.push(a),
                Err(_) => break,
            }
        }
        flushes.spawn(flush(core.clone(), buf));
    }
    while flushes.join_next().await.is_some() {}
}

async fn flush(core: Arc<Core>, attempts: Vec<Attempt>) {
    let plans: Vec<Planned> = attempts.iter().map(plan).collect();
    let Some(applied) = write(&core, &attempts, &plans).await else { return };
    let all = applied.len() == attempts.len();
    let applied: HashSet<i64> = if all { HashSet::new() } else { applied.into_iter().collect() };
    let is_applied = |a: &Attempt| all || applied.contains(&a.info.id);
    let done = attempts.iter().zip(&plans).filter(|(a, _)| is_applied(a));
    core.stats.record(done.clone().map(|(a, p)| (p.counted(), a.run_time)));
    if core.events.receiver_count() > 0 {
        done.for_each(|(a, p)| drop(core.events.send(p.event(a))));
    }
    let rejected: Vec<_> =
        attempts.iter().filter(|a| !is_applied(a)).map(|a| (a.info.id, a.info.attempt)).collect();
    if !rejected.is_empty() {
        core.stats.record_rejected(rejected.len() as u64);
        tracing::warn!(
            ?rejected,
            "outcomes refused by the fence: these attempts were no longer running (rescued, released or cancelled)"
        );
    }
}

/// Runs the statement, retrying while the database is away; `None` if it could not be written.
async fn write(core: &Core, attempts: &[Attempt], plans: &[Planned]) -> Option<Vec<i64>> {
    let batch = to_batch(attempts, plans);
    let keep = !core.config.completed_retention.is_zero();
    let mut backoff = Backoff::default();
    let mut throttle = Throttle::default();
    loop {
        let res = if batch.all_completed() {
            core.db.job_complete_many(core.db.pool(), &batch.ids, &batch.attempts, keep).await
        } else {
            core.db.job_set_state_if_running_many(&batch, keep).await
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
                tracing::error!(error = %e, jobs = batch.len(), "completion write failed; the jobs stay running until their leases expire and the rescuer retries them");
                return None;
            }
        }
    }
}
