//! What the chaos worker (`chaos-worker`) and the chaos harness (`tests/chaos.rs`) share: the
//! job kind, the worker's short settings, the `executions` table and the worker's exit report;
//! and what the periodic worker (`periodic-worker`) and its test (`tests/periodic.rs`) share.
//!
//! The suite itself is the integration test: `cargo test -p haul-chaos -- --nocapture`.

use haul::{Job, RetryPolicy, WorkerConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The queue every chaos job runs on.
pub const QUEUE: &str = "default";
/// Jobs one worker runs at once.
pub const CONCURRENCY: usize = 20;
/// Connections in one worker's pool (the LISTEN connection comes on top).
pub const POOL_SIZE: u32 = 10;
/// A running job's lease: a worker silent this long loses its jobs.
pub const LEASE: Duration = Duration::from_secs(1);
/// How often a worker extends its leases.
pub const HEARTBEAT: Duration = Duration::from_millis(200);
/// How often the leader rescues jobs whose lease expired.
pub const RESCUER: Duration = Duration::from_millis(250);
/// How often the leader makes due retryable jobs available.
pub const SCHEDULER: Duration = Duration::from_millis(100);
/// Limit on each statement a worker runs.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);
/// Silence after which the LISTEN connection is checked.
pub const LISTENER_CHECK: Duration = Duration::from_millis(500);
/// How often a producer polls when no notification arrives.
pub const FETCH_POLL: Duration = Duration::from_millis(250);
/// Shutdown: how long running jobs may finish before they are cancelled.
pub const SHUTDOWN_SOFT: Duration = Duration::from_secs(2);
/// Shutdown: how long cancelled handlers get before they are dropped and their jobs released.
pub const SHUTDOWN_HARD: Duration = Duration::from_secs(1);
/// Completed rows are kept this long so the harness can check them.
pub const COMPLETED_RETENTION: Duration = Duration::from_secs(3600);

/// The worker settings of the suite: everything short, so faults heal within seconds. The
/// leader lease is left to its default, which follows the job lease (scenario (f) relies on it).
pub fn worker_config() -> WorkerConfig {
    WorkerConfig::default()
        .with_heartbeat_interval(HEARTBEAT)
        .with_lease(LEASE)
        .with_rescuer_interval(RESCUER)
        .with_scheduler_interval(SCHEDULER)
        .with_statement_timeout(STATEMENT_TIMEOUT)
        .with_listener_check_interval(LISTENER_CHECK)
        .with_fetch_poll_interval(FETCH_POLL)
        .with_shutdown_soft_timeout(SHUTDOWN_SOFT)
        .with_shutdown_hard_timeout(SHUTDOWN_HARD)
        .with_completed_retention(COMPLETED_RETENTION)
}

/// One unit of chaos work: sleep `work_ms`, then record the execution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChaosJob {
    /// The harness's sequence number, for reading logs.
    pub seq: u64,
    /// How long the handler works before it records its execution.
    pub work_ms: u64,
}

impl Job for ChaosJob {
    const KIND: &'static str = "chaos";
    const QUEUE: &'static str = QUEUE;
    /// Faults fail attempts (a terminated backend fails the handler's INSERT); no number of
    /// faults in one scenario may send a job to the dead letter.
    const MAX_ATTEMPTS: i16 = 100;
    /// Retry at once: the suite measures recovery, not backoff.
    const RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_millis(100));
    const TIMEOUT: Duration = Duration::from_secs(60);
}

/// The periodic worker's schedule name.
pub const PERIODIC_NAME: &str = "tick";
/// The periodic worker's interval.
pub const PERIODIC_EVERY: Duration = Duration::from_secs(10);

/// The periodic worker's job: one per tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeriodicTick {}

impl Job for PeriodicTick {
    const KIND: &'static str = "periodic_tick";
}

/// How the handler records its execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A separate INSERT, then `Ok(())`: at-least-once (a worker killed between the two
    /// leaves an execution whose completion was never written, and the job runs again).
    Plain,
    /// The INSERT and `JobContext::complete_in` in one transaction: exactly-once effects.
    Tx,
}

impl Mode {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Tx => "tx",
        }
    }
}

/// The quoted schema name, for splicing into SQL (Haul validates schema names strictly).
pub fn quoted(schema: &str) -> String {
    format!("\"{schema}\"")
}

/// Creates the `executions` table in `schema` if it is missing.
pub fn executions_ddl(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {}.executions (job_id bigint NOT NULL, attempt smallint NOT NULL, \
         worker text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())",
        quoted(schema)
    )
}

/// Records one execution: `$1` job id, `$2` attempt, `$3` worker id.
pub fn execution_insert(schema: &str) -> String {
    format!("INSERT INTO {}.executions (job_id, attempt, worker) VALUES ($1, $2, $3)", quoted(schema))
}

/// What a worker prints, as one JSON line on stdout, when it exits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The worker's id (its `attempted_by` and `application_name`).
    pub worker: String,
    /// Jobs running when shutdown began.
    pub running_at_start: usize,
    /// Of those, jobs whose handlers returned.
    pub finished: usize,
    /// Jobs released to `available` (attempt given back) because their handlers did not stop.
    pub released: usize,
    /// Whether the soft timeout passed and handlers were cancelled.
    pub cancelled_handlers: bool,
    /// Attempts this worker completed.
    pub completed: u64,
    /// Attempts that failed and will run again.
    pub retried: u64,
    /// Outcomes the fence refused (stale attempts: rescued, released or cancelled meanwhile).
    pub rejected: u64,
}
