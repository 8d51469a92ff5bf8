//! The workflow settler: finishes batches whose last child, settles waiting jobs whose last
//! dependency, and ends sagas whose step, ended outside a completer (the rescuer sent it to the dead letter, an
//! operator cancelled or deleted it, a handler completed it in its own transaction, or its
//! worker died between completing it and settling). Completers settle in the completing
//! transaction; this sweep walks the unfinished batches, pending jobs and running sagas a bounded slice
//! per round, so none waits on a job that has ended for longer than a walk through them. A
//! round first asks, in one statement, whether any workflow is unfinished: a database without
//! workflows sees no settler transaction.

use super::{Lead, ROUNDS_MAX, Round};
use crate::db::Db;
use crate::service::Throttle;
use std::time::Duration;

/// The settler stage.
pub(crate) struct Settler {
    pub db: Db,
    pub interval: Duration,
    /// Batches one statement looks at, at most.
    pub batch: i64,
    /// Where the walk over batches resumes: the last batch id looked at.
    pub after: i64,
    /// Where the walk over pending jobs resumes: the last job id looked at.
    pub after_job: i64,
    /// Where the walk over running sagas resumes: the last saga id looked at.
    pub after_saga: i64,
    pub throttle: Throttle,
}

impl Round for Settler {
    fn period(&self) -> Duration {
        self.interval
    }

    async fn round(&mut self, _: Lead) {
        match self.db.workflow_open().await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "workflow settler failed")),
        }
        self.batches().await;
        self.pending().await;
        self.sagas().await;
    }
}

impl Settler {
    async fn batches(&mut self) {
        for _ in 0..ROUNDS_MAX {
            match self.db.batch_settle_open(self.after, self.batch).await {
                Ok((Some(last), _)) => self.after = last,
                Ok((None, _)) => return self.after = 0,
                Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "batch settler failed")),
            }
        }
    }

    async fn pending(&mut self) {
        for _ in 0..ROUNDS_MAX {
            match self.db.pending_settle_open(self.after_job, self.batch).await {
                Ok(Some(last)) => self.after_job = last,
                Ok(None) => return self.after_job = 0,
                Err(e) => {
                    return self.throttle.warn(|| tracing::warn!(error = %e, "dependency settler failed"));
                }
            }
        }
    }

    async fn sagas(&mut self) {
        for _ in 0..ROUNDS_MAX {
            match self.db.saga_settle_open(self.after_saga, self.batch).await {
                Ok(Some(last)) => self.after_saga = last,
                Ok(None) => return self.after_saga = 0,
                Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "saga settler failed")),
            }
        }
    }
}
