//! Completing attempts inline, for the `testing` helpers: one flush written now, through the
//! same plan, fenced statement, refusal isolation and events as the running completer's.

use super::Completer;
use crate::execute::Attempt;
use std::sync::Arc;

impl Completer {
    /// Writes `attempts` as one flush and returns once it is written and its events are sent.
    pub(crate) async fn complete_now(self: &Arc<Self>, attempts: Vec<Attempt>) {
        self.clone().flush(attempts).await;
    }
}
