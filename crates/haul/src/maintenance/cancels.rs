//! The leader's relay of operators' cancels to the hooks: each cancelling statement notifies
//! the control channel of the waiting jobs it cancelled (delivered at commit), every worker's
//! notifier hears it, and only the process leading maintenance at that moment tells its hooks,
//! so each cancel reaches the hooks once. A notification is not stored: a cancel committed
//! while no leader listens (none running, its listener reconnecting, a poll-only worker)
//! reaches no hook.

use super::Lead;
use crate::hooks::{Ended, Hooks, RecordedBy, Transition};
use crate::job::ErrorClass;
use crate::notify::CancelledNote;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The relay: the cancels the notifier hears, and the hooks to tell.
pub(crate) struct Cancels {
    pub notes: mpsc::UnboundedReceiver<CancelledNote>,
    pub hooks: Hooks,
}

impl Cancels {
    /// Relays until `stop` fires, telling the hooks only while `lead` says this process leads.
    pub(crate) async fn run(mut self, lead: watch::Receiver<Lead>, stop: CancellationToken) {
        loop {
            let note = tokio::select! {
                () = stop.cancelled() => return,
                note = self.notes.recv() => match note { Some(n) => n, None => return },
            };
            if lead.borrow().leader {
                self.hooks.ended(&transition(note), Ended::Cancelled);
            }
        }
    }
}

fn transition(note: CancelledNote) -> Transition {
    Transition {
        id: note.id,
        kind: note.kind.into(),
        queue: note.queue.into(),
        attempt: note.attempt,
        run_time: None,
        queue_wait: None,
        error: note.error.map(|e| (ErrorClass::Cancel, e)),
        by: RecordedBy::Operator,
    }
}
