//! What the `testing` helpers take from a built worker to run its jobs inline: the stage that
//! claims and executes them and the stage that completes them, as the running worker has them.

use super::Worker;
use crate::complete::Completer;
use crate::fetch::Producer;
use std::sync::Arc;

impl<S> Worker<S> {
    /// The worker's claim-and-execute stage and its completer.
    pub(crate) fn inline_stages(&self) -> (&Arc<Producer<S>>, &Arc<Completer>) {
        (&self.producer, &self.completer)
    }
}
