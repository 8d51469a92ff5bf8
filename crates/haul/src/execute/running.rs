//! The attempts this worker is running now: their leases to heartbeat, their cancellation
//! tokens, and the abort handles that shutdown uses when handlers will not stop.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

struct Entry {
    attempt: i16,
    cancel: CancellationToken,
    abort: Option<AbortHandle>,
}

/// Running attempts by job id.
#[derive(Default)]
pub(crate) struct Running {
    map: Mutex<HashMap<i64, Entry>>,
    emptied: Notify,
}

impl Running {
    pub(crate) fn insert(&self, id: i64, attempt: i16, cancel: CancellationToken) {
        let entry = Entry { attempt, cancel, abort: None };
        self.lock().insert(id, entry);
    }

    pub(crate) fn set_abort(&self, id: i64, abort: AbortHandle) {
        if let Some(e) = self.lock().get_mut(&id) {
            e.abort = Some(abort);
        }
    }

    /// Forgets a finished attempt; true if it was still tracked.
    pub(crate) fn finish(&self, id: i64) -> bool {
        let mut map = self.lock();
        let was = map.remove(&id).is_some();
        if map.is_empty() {
            self.emptied.notify_waiters();
        }
        was
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Ids and attempts of everything running, for the heartbeat.
    pub(crate) fn leases(&self) -> (Vec<i64>, Vec<i16>) {
        self.lock().iter().map(|(id, e)| (*id, e.attempt)).unzip()
    }

    /// Fires one job's cancellation token; false if it is not running here.
    pub(crate) fn cancel(&self, id: i64) -> bool {
        self.lock().get(&id).map(|e| e.cancel.cancel()).is_some()
    }

    /// Fires every running job's cancellation token.
    pub(crate) fn cancel_all(&self) {
        self.lock().values().for_each(|e| e.cancel.cancel());
    }

    /// Aborts every running task and returns the attempts to release.
    pub(crate) fn abort_all(&self) -> (Vec<i64>, Vec<i16>) {
        let map = self.lock();
        map.values().filter_map(|e| e.abort.as_ref()).for_each(AbortHandle::abort);
        map.iter().map(|(id, e)| (*id, e.attempt)).unzip()
    }

    /// Waits until nothing is running.
    pub(crate) async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            tokio::pin!(emptied);
            emptied.as_mut().enable();
            if self.len() == 0 {
                return;
            }
            emptied.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}
