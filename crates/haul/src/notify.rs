//! Stage 2, notify: one LISTEN connection per process hears the queues that inserts and the
//! scheduler announce and the requests sent to workers (`cancel:<id>`, `pause:<queue>`,
//! `resume:<queue>`, and `cancelled:<json>` for each waiting job an operator cancelled), and
//! hands them to its subscribers: a wake handle per queue, a channel of cancel requests, a
//! channel of pauses and resumes of its queues, and a channel of operators' cancels. It never calls into the
//! stages that subscribe. After every (re)connect it wakes every queue and reports that pauses
//! may have been missed, so a notification lost while away costs one poll or read, never a
//! job. A silent connection is checked with a query under a timeout, so a half-open socket is
//! noticed and replaced.

use crate::db::{Db, SLOT_MARK};
use crate::health::Marks;
use crate::service::{Backoff, Throttle};
use sqlx::Executor;
use sqlx::postgres::{PgListener, PgNotification, PgPoolOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// The listener and its subscriptions.
pub(crate) struct Notifier {
    db: Db,
    statement_timeout: Duration,
    check_interval: Duration,
    /// Where the listener records its connects, losses and what it hears.
    health: Arc<Marks>,
    queues: HashMap<Arc<str>, Arc<Wake>>,
    cancels: Option<mpsc::UnboundedSender<i64>>,
    pauses: Option<mpsc::UnboundedSender<QueueSignal>>,
    cancelled: Option<mpsc::UnboundedSender<CancelledNote>>,
}

/// A waiting job an operator cancelled, as the cancelling statement announced it at commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct CancelledNote {
    pub id: i64,
    pub kind: String,
    pub queue: String,
    pub attempt: i16,
    pub error: Option<String>,
}

/// A change of a subscribed queue's paused state, as the control channel carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueSignal {
    /// An operator paused the queue.
    Paused(String),
    /// An operator resumed the queue.
    Resumed(String),
    /// The listener (re)connected: signals sent while it was away are lost.
    Missed,
    /// An operator set or cleared a queue's limit.
    LimitChanged,
}

/// A queue's wake-up: the signal its producers wait on, and where the jobs it announced are.
/// A plain insert's notification names the rotating slot its jobs went to (`queue@1`), so
/// the claim that follows may read that slot's table alone; any other (a bare queue name,
/// a catch-up, a poll's probe), or two slots, means every slot.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    notify: Notify,
    /// Since the last claim took it: 0 nothing, 1 or 2 that slot only, [`EVERY_SLOT`].
    slot: AtomicU8,
}

/// [`Wake::slot`]'s value for jobs that may be in any slot.
const EVERY_SLOT: u8 = 3;

impl Wake {
    /// Wakes a producer for jobs in `slot` (1 or 2), or anywhere (`None`).
    pub(crate) fn wake(&self, slot: Option<u8>) {
        let merge = |old: u8| {
            Some(match (old, slot) {
                (0, Some(n)) => n,
                (old, Some(n)) if old == n => n,
                _ => EVERY_SLOT,
            })
        };
        let _ = self.slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, merge);
        self.notify.notify_one();
    }

    /// Waits for a wake.
    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }

    /// The one slot the wakes since the last call announced jobs in, if they named one; resets.
    pub(crate) fn take_slot(&self) -> Option<i16> {
        match self.slot.swap(0, Ordering::AcqRel) {
            n @ (1 | 2) => Some(i16::from(n)),
            _ => None,
        }
    }
}

/// A queue notification's queue and the slot it names, if it names one.
fn parse_wake(payload: &str) -> (&str, Option<u8>) {
    match payload.rsplit_once(SLOT_MARK) {
        Some((queue, "1")) => (queue, Some(1)),
        Some((queue, "2")) => (queue, Some(2)),
        _ => (payload, None),
    }
}

impl Notifier {
    /// A notifier on `db`'s channels; `statement_timeout` bounds each LISTEN and liveness check,
    /// and `check_interval` is the silence after which the connection is checked.
    pub(crate) fn new(
        db: Db,
        statement_timeout: Duration,
        check_interval: Duration,
        health: Arc<Marks>,
    ) -> Self {
        let queues = HashMap::new();
        Notifier {
            db,
            statement_timeout,
            check_interval,
            health,
            queues,
            cancels: None,
            pauses: None,
            cancelled: None,
        }
    }

    /// The handle a notification for `queue` (or a catch-up) wakes.
    pub(crate) fn subscribe_queue(&mut self, queue: &Arc<str>) -> Arc<Wake> {
        self.queues.entry(queue.clone()).or_default().clone()
    }

    /// The ids of jobs whose cancellation was requested, as the requests arrive.
    pub(crate) fn subscribe_cancels(&mut self) -> mpsc::UnboundedReceiver<i64> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.cancels = Some(tx);
        rx
    }

    /// Pauses and resumes of the subscribed queues, as they arrive.
    pub(crate) fn subscribe_pauses(&mut self) -> mpsc::UnboundedReceiver<QueueSignal> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.pauses = Some(tx);
        rx
    }

    /// The waiting jobs operators cancel, as the cancels commit.
    pub(crate) fn subscribe_cancelled(&mut self) -> mpsc::UnboundedReceiver<CancelledNote> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.cancelled = Some(tx);
        rx
    }

    /// Listens until `stop` fires, reconnecting with backoff whenever the connection drops.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let (mut backoff, mut throttle) = (Backoff::default(), Throttle::default());
        while !stop.is_cancelled() {
            let mut listener = match self.listen().await {
                Ok(l) => l,
                Err(e) => {
                    self.health.listener(false);
                    throttle.warn(|| tracing::warn!(error = %e, "LISTEN failed; polling until it is back"));
                    tokio::select! { () = backoff.wait() => {}, () = stop.cancelled() => {} }
                    continue;
                }
            };
            backoff.reset();
            self.health.listener(true);
            self.catch_up();
            if let Err(e) = self.relay(&mut listener, &stop).await {
                self.health.listener(false);
                throttle.warn(|| tracing::warn!(error = %e, "listener connection lost; reconnecting"));
            }
        }
    }

    /// A listener on a single connection of its own (a fresh one-connection pool each time, so
    /// a dead socket from before cannot hold the slot): the worker uses at most its pool + 1.
    async fn listen(&self) -> sqlx::Result<PgListener> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.statement_timeout)
            .connect_lazy_with((*self.db.pool().connect_options()).clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        let channels = [self.db.insert_channel(), self.db.control_channel()];
        let listen = listener.listen_all(channels.iter().map(String::as_str));
        tokio::time::timeout(self.statement_timeout, listen).await.map_err(|_| timed_out())??;
        Ok(listener)
    }

    /// Relays notifications until `stop` or an error; checks the connection after each silence.
    async fn relay(&self, listener: &mut PgListener, stop: &CancellationToken) -> sqlx::Result<()> {
        let control = self.db.control_channel();
        loop {
            let silence = tokio::time::sleep(self.check_interval);
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                msg = listener.try_recv() => match msg? {
                    Some(n) => self.on_message(&n, &control),
                    // the connection dropped and was re-established: catch up on what was missed
                    None => {
                        self.health.listener(true);
                        self.catch_up();
                    }
                },
                () = silence => {
                    self.check(listener).await?;
                    self.health.listener_heard();
                }
            }
        }
    }

    async fn check(&self, listener: &mut PgListener) -> sqlx::Result<()> {
        let ping = (&mut *listener).execute("SELECT 1");
        tokio::time::timeout(self.statement_timeout, ping).await.map_err(|_| timed_out())?.map(drop)
    }

    fn on_message(&self, n: &PgNotification, control: &str) {
        self.health.listener_heard();
        if n.channel() == control {
            self.on_control(n);
        } else {
            self.wake(n.payload());
        }
    }

    fn wake(&self, payload: &str) {
        let (queue, slot) = parse_wake(payload);
        if let Some(q) = self.queues.get(queue) {
            q.wake(slot);
        }
    }

    /// After a (re)connect: what was announced while away is unknown.
    fn catch_up(&self) {
        self.queues.values().for_each(|q| q.wake(None));
        self.send_pause(QueueSignal::Missed);
    }

    fn on_control(&self, n: &PgNotification) {
        let payload = n.payload();
        if let Some(id) = payload.strip_prefix("cancel:") {
            if let (Ok(id), Some(tx)) = (id.parse(), &self.cancels) {
                let _ = tx.send(id);
            }
        } else if let Some(queue) = payload.strip_prefix("pause:") {
            self.on_pause(queue, QueueSignal::Paused);
        } else if let Some(queue) = payload.strip_prefix("resume:") {
            self.on_pause(queue, QueueSignal::Resumed);
        } else if let Some(queue) = payload.strip_prefix("limit:") {
            self.on_pause(queue, |_| QueueSignal::LimitChanged);
        } else if let (Some(json), Some(tx)) = (payload.strip_prefix("cancelled:"), &self.cancelled) {
            match serde_json::from_str(json) {
                Ok(note) => drop(tx.send(note)),
                Err(e) => tracing::warn!(error = %e, "unreadable cancel notification"),
            }
        }
    }

    /// Relays a pause or resume of one of the subscribed queues.
    fn on_pause(&self, queue: &str, signal: fn(String) -> QueueSignal) {
        if self.queues.contains_key(queue) {
            self.send_pause(signal(queue.to_owned()));
        }
    }

    fn send_pause(&self, signal: QueueSignal) {
        if let Some(tx) = &self.pauses {
            let _ = tx.send(signal);
        }
    }
}

fn timed_out() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "listener did not answer in time"))
}

#[cfg(test)]
mod tests {
    use super::{Wake, parse_wake};

    #[test]
    fn a_plain_insert_names_its_slot_and_anything_else_names_none() {
        assert_eq!(parse_wake("emails@1"), ("emails", Some(1)));
        assert_eq!(parse_wake("a.b:c@2"), ("a.b:c", Some(2)));
        assert_eq!(parse_wake("emails"), ("emails", None));
        assert_eq!(parse_wake("emails@0"), ("emails@0", None), "slot 0 is never named");
        assert!(crate::names::validate_queue("emails@1").is_err(), "no queue's name has the mark");
    }

    #[test]
    fn wakes_from_one_slot_keep_it_and_any_other_wake_means_every_slot() {
        let w = Wake::default();
        assert_eq!(w.take_slot(), None, "no wake: every slot");
        w.wake(Some(2));
        w.wake(Some(2));
        assert_eq!(w.take_slot(), Some(2));
        assert_eq!(w.take_slot(), None, "taken");
        w.wake(Some(1));
        w.wake(Some(2));
        assert_eq!(w.take_slot(), None, "two slots");
        w.wake(Some(1));
        w.wake(None);
        w.wake(Some(1));
        assert_eq!(w.take_slot(), None, "a bare wake in between");
    }
}
