//! Prometheus-style metrics through the `metrics` facade: [`Metrics`] is a [`Hook`], so it
//! counts transitions only after they commit. Handles are cached per queue and kind, so
//! recording one costs an atomic add (and a read lock to find the handles), never a registry
//! lookup.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `haul_jobs_total` | counter | `queue`, `kind`, `outcome` = `completed`, `retried`, `snoozed`, `cancelled`, `discarded` |
//! | `haul_job_duration_seconds` | histogram | `queue`, `kind`: handler run time per attempt |
//! | `haul_job_queue_wait_seconds` | histogram | `queue`, `kind`: from due (`run_at`) to the claim |
//!
//! The recorder must be installed before the worker first records a queue and kind (install it
//! first thing in `main`). For real histograms in Prometheus, give the exporter buckets:
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
//! PrometheusBuilder::new()
//!     .set_buckets_for_metric(Matcher::Prefix("haul_job_".into()), haul::metrics::BUCKETS)?
//!     .with_http_listener(([127, 0, 0, 1], 9187))
//!     .install()?;
//! # Ok(()) }
//! ```

use crate::hooks::{Hook, Transition};
use crate::job::ErrorClass;
use ::metrics::{Counter, Histogram, Unit, counter, describe_counter, describe_histogram, histogram};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// Transitions recorded, by `queue`, `kind` and `outcome`.
pub const JOBS_TOTAL: &str = "haul_jobs_total";
/// Handler run time of each attempt, in seconds, by `queue` and `kind`.
pub const JOB_DURATION_SECONDS: &str = "haul_job_duration_seconds";
/// Time from due (`run_at`) to the claim, in seconds, by `queue` and `kind`.
pub const JOB_QUEUE_WAIT_SECONDS: &str = "haul_job_queue_wait_seconds";

/// Histogram bucket bounds for the two `haul_job_*_seconds` histograms, in seconds: from a
/// millisecond to an hour, for jobs that take milliseconds and jobs that take minutes.
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0,
];

/// The outcome label values, in [`Outcome`] order.
const OUTCOMES: [&str; 5] = ["completed", "retried", "snoozed", "cancelled", "discarded"];

#[derive(Clone, Copy)]
enum Outcome {
    Completed,
    Retried,
    Snoozed,
    Cancelled,
    Discarded,
}

/// The built-in metrics: a [`Hook`] recording `haul_jobs_total`, `haul_job_duration_seconds`
/// and `haul_job_queue_wait_seconds` into the installed `metrics` recorder. Register it with
/// [`WorkerBuilder::hook`](crate::WorkerBuilder::hook) on every worker: each process counts the
/// transitions it records (the maintenance leader also counts rescues and operators' cancels),
/// so summing over processes counts each transition once.
///
/// ```no_run
/// # async fn demo(client: haul::Client) -> haul::Result<()> {
/// let worker = haul::Worker::builder(client, ()).hook(haul::metrics::Metrics::new()).build()?;
/// # let _ = worker; Ok(()) }
/// ```
#[derive(Default)]
pub struct Metrics {
    handles: RwLock<ByQueue>,
}

/// Handles by queue, then kind (looked up by `&str` without allocating).
type ByQueue = HashMap<Arc<str>, HashMap<Arc<str>, Arc<Handles>>>;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// One queue and kind's handles.
struct Handles {
    jobs: [Counter; 5],
    duration: Histogram,
    wait: Histogram,
}

impl Handles {
    fn new(queue: &Arc<str>, kind: &Arc<str>) -> Self {
        let labels = [("queue", queue.to_string()), ("kind", kind.to_string())];
        let jobs = OUTCOMES.map(|o| {
            let with_outcome = [labels[0].clone(), labels[1].clone(), ("outcome", o.to_string())];
            counter!(JOBS_TOTAL, &with_outcome)
        });
        let duration = histogram!(JOB_DURATION_SECONDS, &labels);
        Handles { jobs, duration, wait: histogram!(JOB_QUEUE_WAIT_SECONDS, &labels) }
    }
}

impl Metrics {
    /// Metrics recording into the `metrics` recorder installed now (install yours first); the
    /// names are described to it with their units.
    pub fn new() -> Self {
        describe_counter!(JOBS_TOTAL, "Job transitions recorded, by outcome.");
        describe_histogram!(JOB_DURATION_SECONDS, Unit::Seconds, "Handler run time of each attempt.");
        describe_histogram!(JOB_QUEUE_WAIT_SECONDS, Unit::Seconds, "Time from due to claimed.");
        Metrics::default()
    }

    fn handles(&self, job: &Transition) -> Arc<Handles> {
        let read = self.handles.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = read.get(&*job.queue).and_then(|k| k.get(&*job.kind)) {
            return h.clone();
        }
        drop(read);
        let mut write = self.handles.write().unwrap_or_else(PoisonError::into_inner);
        let kinds = write.entry(job.queue.clone()).or_default();
        let h =
            kinds.entry(job.kind.clone()).or_insert_with(|| Arc::new(Handles::new(&job.queue, &job.kind)));
        h.clone()
    }

    /// Counts `outcome`; records the run time when `ran` (the attempt's one record).
    fn ended(&self, job: &Transition, outcome: Option<Outcome>, ran: bool) {
        let h = self.handles(job);
        if let Some(o) = outcome {
            h.jobs[o as usize].increment(1);
        }
        if let (true, Some(t)) = (ran, job.run_time) {
            h.duration.record(t.as_secs_f64());
        }
    }
}

impl Hook for Metrics {
    fn on_started(&self, job: &Transition) {
        if let Some(wait) = job.queue_wait {
            self.handles(job).wait.record(wait.as_secs_f64());
        }
    }

    fn on_completed(&self, job: &Transition) {
        self.ended(job, Some(Outcome::Completed), true);
    }

    fn on_failed(&self, job: &Transition, retry_in: Option<Duration>) {
        // without a retry, on_discarded follows and counts the job
        self.ended(job, retry_in.map(|_| Outcome::Retried), true);
    }

    fn on_snoozed(&self, job: &Transition, _delay: Duration) {
        self.ended(job, Some(Outcome::Snoozed), true);
    }

    fn on_cancelled(&self, job: &Transition) {
        self.ended(job, Some(Outcome::Cancelled), true);
    }

    fn on_discarded(&self, job: &Transition) {
        // a failed last attempt's run time was recorded by on_failed
        let on_purpose = matches!(job.error, Some((ErrorClass::Discard | ErrorClass::Decode, _)));
        self.ended(job, Some(Outcome::Discarded), on_purpose);
    }
}
