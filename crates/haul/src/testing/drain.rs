//! Draining queues inline: a built worker's own stages claim, run and complete the available
//! jobs of some queues one at a time, until none is left, and report what became of each.

use crate::attempts::{Kill, lease_ms};
use crate::complete::{EventOutcome, JobEvent};
use crate::db::ClaimedJob;
use crate::job::JobState;
use crate::worker::Worker;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Most attempts one drain runs before it stops. Defaults to 1,000.
pub const DRAIN_LIMIT_DEFAULT: usize = 1_000;

/// Most jobs one claim of a drain takes.
const CLAIM_MAX: usize = 100;

/// Most due jobs one statement makes available (repeated until fewer are due).
const SCHEDULE_MAX: i64 = 1_000;

/// Which queues a drain empties and how. Build one with [`Drain::queue`] or
/// [`Drain::all_queues`].
///
/// ```
/// use haul::testing::Drain;
/// let mail = Drain::queue("mail").with_queue("sms");
/// let everything_now = Drain::all_queues().with_scheduled().with_limit(50);
/// # let _ = (mail, everything_now);
/// ```
#[derive(Debug, Clone)]
pub struct Drain {
    queues: Option<Vec<String>>,
    scheduled: bool,
    limit: usize,
}

impl Drain {
    /// The jobs of `queue`.
    pub fn queue(queue: impl Into<String>) -> Self {
        Drain { queues: Some(vec![queue.into()]), scheduled: false, limit: DRAIN_LIMIT_DEFAULT }
    }

    /// The jobs of every queue that has any available.
    pub fn all_queues() -> Self {
        Drain { queues: None, scheduled: false, limit: DRAIN_LIMIT_DEFAULT }
    }

    /// The jobs of `queue` too.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queues.get_or_insert_with(Vec::new).push(queue.into());
        self
    }

    /// Before draining, makes every scheduled and retryable job of the queues available now,
    /// however far its time is. Only those waiting when the drain starts: a retry or snooze
    /// the drain itself records waits for its time. Without it, only jobs already due run.
    pub fn with_scheduled(mut self) -> Self {
        self.scheduled = true;
        self
    }

    /// Stops after `limit` attempts, jobs left or not (see [`DrainReport::limited`]). Defaults
    /// to [`DRAIN_LIMIT_DEFAULT`].
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// What a drain did: how many attempts came to each outcome, and each attempt's event.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DrainReport {
    /// Attempts that succeeded.
    pub completed: usize,
    /// Attempts that failed and will run again.
    pub retried: usize,
    /// Attempts that snoozed.
    pub snoozed: usize,
    /// Jobs cancelled.
    pub cancelled: usize,
    /// Jobs that landed in the dead letter.
    pub discarded: usize,
    /// Each attempt's event, in the order they ran (published after its outcome committed).
    pub events: Vec<JobEvent>,
    /// Whether the drain stopped at its limit (jobs may be left) rather than for want of
    /// available jobs.
    pub limited: bool,
}

impl DrainReport {
    /// Attempts run.
    pub fn attempts(&self) -> usize {
        self.events.len()
    }

    fn record(&mut self, event: JobEvent) {
        match event.outcome {
            EventOutcome::Completed => self.completed += 1,
            EventOutcome::Retrying { .. } => self.retried += 1,
            EventOutcome::Snoozed(_) => self.snoozed += 1,
            EventOutcome::Cancelled => self.cancelled += 1,
            EventOutcome::Discarded => self.discarded += 1,
        }
        self.events.push(event);
    }
}

/// Runs the available jobs of `drain`'s queues with `worker`'s handlers and settings, one at a
/// time, until none is available, and reports what became of them. `worker` is built as for
/// production ([`Worker::builder`], its handlers, its config) and need not run; the drain
/// claims with its claim statement, runs each job in its execute stage (decode, timeout,
/// panics caught) and writes each outcome with its completer's fenced statement, so retries,
/// snoozes, discards, cancels and `complete_in` transactions leave the rows as a running
/// worker would. Each round first makes due scheduled and retryable jobs available, as the
/// scheduler does, by the client's [`Clock`](crate::Clock).
///
/// - Jobs a handler enqueues run in the same drain when they are available in a drained queue.
/// - A retry or snooze is due later and waits (advance the [`Clock`](crate::Clock), or drain
///   again [`with_scheduled`](Drain::with_scheduled)); one due at once runs again in the same drain.
/// - A job whose kind has no handler in `worker` fails as with a worker (retried with backoff).
/// - Paused queues are drained too.
///
/// # Panics
/// When the database fails.
///
/// ```no_run
/// # async fn demo(worker: haul::Worker<()>) {
/// use haul::testing::{Drain, drain};
/// let report = drain(&worker, Drain::queue("mail")).await;
/// assert_eq!((report.completed, report.retried), (3, 1));
/// # }
/// ```
pub async fn drain<S: Clone + Send + Sync + 'static>(worker: &Worker<S>, drain: Drain) -> DrainReport {
    let mut events = worker.inline_stages().1.events.subscribe();
    if drain.scheduled {
        let db = worker.inline_stages().0.executor.client.db();
        check(db.job_available_now(drain.queues.as_deref()).await, "make scheduled jobs available");
    }
    let mut report = DrainReport::default();
    loop {
        let ran = round(worker, &drain, &mut report, &mut events).await;
        if report.attempts() >= drain.limit {
            report.limited = true;
            return report;
        }
        if ran == 0 {
            return report;
        }
    }
}

/// Makes due jobs available, then claims and runs the available jobs of each queue once;
/// returns how many ran.
async fn round<S: Clone + Send + Sync + 'static>(
    worker: &Worker<S>,
    drain: &Drain,
    report: &mut DrainReport,
    events: &mut broadcast::Receiver<JobEvent>,
) -> usize {
    let (producer, _) = worker.inline_stages();
    while check(producer.db.job_schedule_due(SCHEDULE_MAX).await, "make due jobs available") == SCHEDULE_MAX {
    }
    let queues = match &drain.queues {
        Some(queues) => queues.clone(),
        None => available_queues(worker).await,
    };
    let mut ran = 0;
    for queue in queues {
        let want = CLAIM_MAX.min(drain.limit.saturating_sub(report.attempts()));
        if want == 0 {
            break;
        }
        let lease = lease_ms(producer.lease);
        let claimed =
            producer.db.job_get_available(&queue, want as i64, lease, &producer.worker_id, None, None).await;
        let jobs = check(claimed, "claim jobs");
        for job in jobs {
            run_one(worker, job, &queue, report, events).await;
            ran += 1;
        }
    }
    ran
}

/// Runs one claimed job and writes its outcome, recording the event it published.
async fn run_one<S: Clone + Send + Sync + 'static>(
    worker: &Worker<S>,
    job: ClaimedJob,
    queue: &str,
    report: &mut DrainReport,
    events: &mut broadcast::Receiver<JobEvent>,
) {
    let (producer, completer) = worker.inline_stages();
    let id = job.id;
    let attempt = producer.executor.execute(job, queue.into(), Arc::new(Kill::default()), None).await;
    completer.complete_now(vec![attempt]).await;
    while let Ok(event) = events.try_recv() {
        if event.id == id {
            report.record(event);
        }
    }
}

/// The queues that have available jobs, by name.
async fn available_queues<S>(worker: &Worker<S>) -> Vec<String> {
    let db = worker.inline_stages().0.executor.client.db();
    let depths = check(db.job_count_by_queue_state().await, "count jobs by queue");
    let available = depths.into_iter().filter(|d| d.state == JobState::Available && d.count > 0);
    available.map(|d| d.queue).collect()
}

fn check<T>(result: crate::Result<T>, doing: &str) -> T {
    result.unwrap_or_else(|e| panic!("haul::testing: drain could not {doing}: {e}"))
}
