//! Graceful shutdown: stop fetching → let running jobs finish (soft timeout) → cancel them →
//! hard timeout → drop the handlers and release their jobs to `available` without using up an
//! attempt → flush every outcome. Nothing is left `running`.

use crate::attempts::Running;
use crate::db::Db;
use crate::fetch::Producer;
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

/// What shutdown uses.
pub(super) struct Drain {
    pub running: Arc<Running>,
    pub db: Db,
    pub soft: Duration,
    pub hard: Duration,
    /// Tells the completer to give up on outcomes it cannot write.
    pub abandon: CancellationToken,
}

impl Drain {
    /// Shuts down; `running_at_start` is how many jobs ran when the signal came. `producer`
    /// holds the last sender to the completer: dropping it lets the completer finish.
    pub(super) async fn run<S>(
        &self,
        producer: Arc<Producer<S>>,
        stages: Stages,
        running_at_start: usize,
    ) -> ShutdownReport {
        let Stages { producers, fetching, completer, force } = stages;
        fetching.cancel();
        for p in producers {
            let _ = p.await;
        }
        let mut report = ShutdownReport { running_at_start, ..Default::default() };
        if !self.wait(self.soft, &force).await {
            report.cancelled_handlers = true;
            self.running.cancel_all();
            if !self.wait(self.hard, &force).await {
                report.released = self.release().await;
            }
        }
        // jobs claimed between the signal and the producers stopping count as running too
        report.running_at_start = report.running_at_start.max(report.released);
        report.finished = report.running_at_start - report.released;
        // the last sender goes with `producer`: the completer then flushes what is left and stops
        drop(producer);
        self.flush(completer).await;
        report
    }

    /// Waits up to `limit` for running jobs to finish; false if some remain (or `force` fired).
    async fn wait(&self, limit: Duration, force: &CancellationToken) -> bool {
        tokio::select! {
            done = tokio::time::timeout(limit, self.running.wait_empty()) => done.is_ok(),
            () = force.cancelled() => self.running.len() == 0,
        }
    }

    async fn release(&self) -> usize {
        let (ids, attempts) = self.running.abort_all();
        let _ = tokio::time::timeout(ABORT_SETTLE, self.running.wait_empty()).await;
        match self.db.job_release_many(&ids, &attempts).await {
            Ok(released) => {
                tracing::warn!(
                    released = released.len(),
                    "released jobs whose handlers did not stop in time"
                );
                released.len()
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = ids.len(), "could not release unfinished jobs; the rescuer will retry them when their leases expire");
                0
            }
        }
    }

    async fn flush(&self, mut completer: JoinHandle<()>) {
        if tokio::time::timeout(self.hard, &mut completer).await.is_err() {
            tracing::error!(
                "outcomes could not be written before the hard timeout; those jobs will be rescued"
            );
            self.abandon.cancel();
            let _ = completer.await;
        }
    }
}
