//! Graceful shutdown: stop fetching → let running jobs finish (soft timeout) → cancel them →
//! hard timeout → drop the handlers and release their jobs to `available` without using up an
//! attempt → flush every outcome. Nothing is left `running`.

use super::{Core, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long aborted handler tasks get to unwind before their jobs are released.
const ABORT_SETTLE: Duration = Duration::from_secs(1);

/// What a shutdown did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that were running when shutdown began.
    pub running_at_start: usize,
    /// Of those, jobs whose handlers returned (an outcome was recorded).
    pub finished: usize,
    /// Jobs put back to `available` because their handlers did not stop in time.
    pub released: usize,
    /// Whether handlers had to be cancelled (the soft timeout passed).
    pub cancelled_handlers: bool,
}

/// The running pieces shutdown stops, in order.
pub(super) struct Stages {
    pub producers: Vec<JoinHandle<()>>,
    pub fetching: CancellationToken,
    pub completer: JoinHandle<()>,
    pub force: CancellationToken,
}

/// Shuts down; `running_at_start` is how many jobs ran when the signal came.
pub(super) async fn drain<S>(
    core: &Arc<Core>,
    shared: Arc<Shared<S>>,
    stages: Stages,
    running_at_start: usize,
) -> ShutdownReport {
    let Stages { producers, fetching, completer, force } = stages;
    fetching.cancel();
    for p in producers {
        let _ = p.await;
    }
    let cfg = &core.config;
    let mut report = ShutdownReport { running_at_start, ..Default::default() };
    if !wait(core, cfg.shutdown_soft_timeout, &force).await {
        report.cancelled_handlers = true;
        core.running.cancel_all();
        if !wait(core, cfg.shutdown_hard_timeout, &force).await {
            report.released = release(core).await;
        }
    }
    // jobs claimed between the signal and the producers stopping count as running too
    report.running_at_start = report.running_at_start.max(report.released);
    report.finished = report.running_at_start - report.released;
    // the last sender goes with `shared`: the completer then flushes what is left and stops
    drop(shared);
    flush(core, completer).await;
    report
}

/// Waits up to `limit` for running jobs to finish; false if some remain (or `force` fired).
async fn wait(core: &Core, limit: Duration, force: &CancellationToken) -> bool {
    tokio::select! {
        done = tokio::time::timeout(limit, core.running.wait_empty()) => done.is_ok(),
        () = force.cancelled() => core.running.len() == 0,
    }
}

async fn release(core: &Core) -> usize {
    let (ids, attempts) = core.running.abort_all();
    let _ = tokio::time::timeout(ABORT_SETTLE, core.running.wait_empty()).await;
    match core.db.job_release_many(&ids, &attempts).await {
        Ok(released) => {
            tracing::warn!(released = released.len(), "released jobs whose handlers did not stop in time");
            released.len()
        }
        Err(e) => {
            tracing::error!(error = %e, jobs = ids.len(), "could not release unfinished jobs; the rescuer will retry them when their leases expire");
            0
        }
    }
}

async fn flush(core: &Core, mut completer: JoinHandle<()>) {
    let limit = core.config.shutdown_hard_timeout;
    if tokio::time::timeout(limit, &mut completer).await.is_err() {
        tracing::error!("outcomes could not be written before the hard timeout; those jobs will be rescued");
        core.abandon.cancel();
        let _ = completer.await;
    }
}
