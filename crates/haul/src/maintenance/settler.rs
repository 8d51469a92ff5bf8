//! The batch settler: finishes batches whose last child ended outside a completer (the rescuer
//! sent it to the dead letter, an operator cancelled or deleted it, or its worker died between
//! completing it and settling). Completers settle their own batches in the completing
//! transaction; this sweep walks the unfinished batches a bounded slice per round, so none
//! waits on a child that has ended for longer than a walk through them.

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
    /// Where the walk resumes: the last batch id looked at.
    pub after: i64,
    pub throttle: Throttle,
}

impl Round for Settler {
    fn period(&self) -> Duration {
        self.interval
    }

    async fn round(&mut self, _: Lead) {
        for _ in 0..ROUNDS_MAX {
            match self.db.batch_settle_open(self.after, self.batch).await {
                Ok((Some(last), _)) => self.after = last,
                Ok((None, _)) => return self.after = 0,
                Err(e) => return self.throttle.warn(|| tracing::warn!(error = %e, "batch settler failed")),
            }
        }
    }
}
