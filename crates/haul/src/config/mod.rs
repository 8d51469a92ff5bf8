//! Configuration of the client and the worker: plain structs with `Default`, defaults as named
//! constants, one `with_*` setter each, validated once.

mod check;

use crate::clock::Clock;
use std::time::Duration;

/// Schema Haul's tables live in. Defaults to `"haul"`.
pub const SCHEMA_DEFAULT: &str = "haul";
/// Largest args + metadata of one job, in bytes of JSON. Defaults to 64 KiB.
pub const MAX_PAYLOAD_BYTES_DEFAULT: usize = 64 * 1024;
/// Most children one fan-out ([`Batch`](crate::Batch)) may insert. Defaults to 10,000.
pub const FAN_OUT_MAX_DEFAULT: usize = 10_000;
/// Jobs a queue runs at once in one worker. Defaults to 10.
pub const QUEUE_CONCURRENCY_DEFAULT: usize = 10;
/// Most jobs one fetch claims. Defaults to 500 (with two claims in flight: a few hundred per
/// statement is where claiming throughput lives).
pub const FETCH_BATCH_MAX_DEFAULT: usize = 500;
/// Claims a queue keeps in flight at once (producers per queue); a worker with several queues
/// also runs this many statements at once for their shared claims. Defaults to 2. Set 1 when
/// several worker processes work the same queues: their claims are side by side already, and a
/// second one per process walks over, and tries, the rows the others hold locked.
pub const FETCH_CONCURRENCY_DEFAULT: usize = 2;
/// How often a worker probes its idle queues for jobs no notification announced (one statement
/// for all of them, waking those that have some) and re-reads which of its queues are paused.
/// Defaults to 1 s.
pub const FETCH_POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// How long a producer with few free slots waits for more before fetching. Defaults to 2 ms.
pub const FETCH_COOLDOWN_DEFAULT: Duration = Duration::from_millis(2);
/// A running job's lease; a heartbeat extends it. Defaults to 10 s.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(10);
/// How often the worker extends the leases of its running jobs. Defaults to 2 s.
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_secs(2);
/// Most outcomes written by one completion statement. Defaults to 2,000.
pub const COMPLETE_BATCH_MAX_DEFAULT: usize = 2000;
/// Completion statements in flight at once. Defaults to 2.
pub const COMPLETE_CONCURRENCY_DEFAULT: usize = 2;
/// How long completed jobs are kept; zero deletes them on completion. Defaults to zero.
pub const COMPLETED_RETENTION_DEFAULT: Duration = Duration::ZERO;
/// How long cancelled jobs are kept. Defaults to 7 days, like dead letters.
pub const CANCELLED_RETENTION_DEFAULT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long dead letters (discarded jobs) are kept. Defaults to 7 days.
pub const DISCARDED_RETENTION_DEFAULT: Duration = Duration::from_secs(7 * 24 * 3600);
/// On shutdown, how long running jobs may finish before they are cancelled. Defaults to 10 s.
pub const SHUTDOWN_SOFT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// After cancelling, how long before handlers are dropped and their jobs released. Defaults to 5 s.
pub const SHUTDOWN_HARD_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// Limit on each statement a worker runs (fetch, completion, heartbeat, maintenance) and on
/// the listener's liveness check; a half-open connection then fails fast. Defaults to 10 s.
pub const STATEMENT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// How long the LISTEN connection may stay silent before it is checked. Defaults to 5 s.
pub const LISTENER_CHECK_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// After a timeout cancels a handler, how long before its future is dropped. Defaults to 1 s.
pub const TIMEOUT_GRACE_DEFAULT: Duration = Duration::from_secs(1);
/// How often the leader makes due scheduled/retryable jobs available. Defaults to 1 s.
pub const SCHEDULER_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// How often the leader rescues jobs whose lease expired. Defaults to 2 s.
pub const RESCUER_INTERVAL_DEFAULT: Duration = Duration::from_secs(2);
/// How often the leader deletes finalized jobs past retention. Defaults to 30 s.
pub const CLEANER_INTERVAL_DEFAULT: Duration = Duration::from_secs(30);
/// How often the leader checks whether the jobs table needs a VACUUM. Defaults to 5 s.
pub const VACUUM_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
/// Dead row versions in the jobs table below which the vacuumer never runs (above it, it runs
/// once they also exceed a fifth of the live rows).
pub const VACUUM_DEAD_MIN: i64 = 20_000;
/// The most bytes of error text one attempt records (longer text is cut and marked). Defaults
/// to 8 KiB.
pub const ERROR_MAX_BYTES_DEFAULT: usize = 8 * 1024;
/// How often a worker writes its stats rollups (one statement for all its queues and kinds;
/// also once at shutdown). Defaults to 10 s.
pub const STATS_FLUSH_INTERVAL_DEFAULT: Duration = Duration::from_secs(10);
/// How long the leader keeps stats rollups (one row per minute, queue and kind). Defaults to
/// 24 hours.
pub const STATS_RETENTION_DEFAULT: Duration = Duration::from_secs(24 * 3600);
/// Rows one maintenance statement touches at most. Defaults to 1,000.
pub const MAINTENANCE_BATCH_DEFAULT: i64 = 1000;
/// Liveness: how long a worker's producer loop or heartbeat timer may go without turning
/// before the worker counts as stalled (not live). Defaults to 60 s, or to twice the longest
/// a healthy loop waits between turns where that is longer (see
/// [`WorkerConfig::health_stall_after`]).
pub const HEALTH_STALL_AFTER_DEFAULT: Duration = Duration::from_secs(60);
/// Readiness: how long the database may leave every worker statement and the listener without
/// an answer before the worker counts as not ready. Defaults to 15 s, or to three poll
/// intervals where that is longer.
pub const HEALTH_SILENCE_AFTER_DEFAULT: Duration = Duration::from_secs(15);

/// How long past the server's statement timeout the worker waits before it gives up on a
/// connection itself (the server should have answered with a cancellation by then).
pub(crate) const STATEMENT_TIMEOUT_BACKSTOP: Duration = Duration::from_secs(1);

/// Settings of a [`Client`](crate::Client).
///
/// ```
/// let config = haul::ClientConfig::default()
///     .with_schema("jobs_eu")
///     .with_max_payload_bytes(16 * 1024);
/// assert_eq!(config.schema(), "jobs_eu");
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    schema: String,
    max_payload_bytes: usize,
    fan_out_max: usize,
    clock: Clock,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            schema: SCHEMA_DEFAULT.to_owned(),
            max_payload_bytes: MAX_PAYLOAD_BYTES_DEFAULT,
            fan_out_max: FAN_OUT_MAX_DEFAULT,
            clock: Clock::database(),
        }
    }
}

impl ClientConfig {
    /// Schema of Haul's tables. Defaults to [`SCHEMA_DEFAULT`].
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Cap on args + metadata per job. Defaults to [`MAX_PAYLOAD_BYTES_DEFAULT`].
    pub fn with_max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// Most children one [`Batch`](crate::Batch) may insert; a larger one is refused whole
    /// with [`Error::FanOutTooLarge`](crate::Error::FanOutTooLarge). Defaults to
    /// [`FAN_OUT_MAX_DEFAULT`].
    pub fn with_fan_out_max(mut self, children: usize) -> Self {
        self.fan_out_max = children;
        self
    }

    /// The clock statements read (tests shift it). Defaults to the database's `now()`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The schema name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The payload cap in bytes.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload_bytes
    }

    /// The most children one fan-out may insert.
    pub fn fan_out_max(&self) -> usize {
        self.fan_out_max
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

/// Settings of a [`Worker`](crate::Worker), apart from its queues and handlers.
///
/// ```
/// use std::time::Duration;
/// let config = haul::WorkerConfig::default()
///     .with_fetch_poll_interval(Duration::from_millis(500))
///     .with_completed_retention(Duration::from_secs(3600));
/// assert_eq!(config.completed_retention(), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub(crate) fetch_batch_max: usize,
    pub(crate) fetch_concurrency: usize,
    pub(crate) fetch_poll_interval: Duration,
    pub(crate) fetch_cooldown: Duration,
    pub(crate) poll_only: bool,
    pub(crate) lease: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) complete_batch_max: usize,
    pub(crate) complete_concurrency: usize,
    pub(crate) completed_retention: Duration,
    pub(crate) cancelled_retention: Duration,
    pub(crate) discarded_retention: Duration,
    pub(crate) shutdown_soft_timeout: Duration,
    pub(crate) shutdown_hard_timeout: Duration,
    pub(crate) timeout_grace: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) listener_check_interval: Duration,
    pub(crate) pool_size: u32,
    pub(crate) maintenance: bool,
    pub(crate) scheduler_interval: Duration,
    pub(crate) rescuer_interval: Duration,
    pub(crate) cleaner_interval: Duration,
    pub(crate) vacuum_interval: Duration,
    pub(crate) leader_ttl: Option<Duration>,
    pub(crate) maintenance_batch: i64,
    pub(crate) error_max_bytes: usize,
    pub(crate) compaction: Compaction,
    pub(crate) stats_flush_interval: Duration,
    pub(crate) stats_retention: Duration,
    pub(crate) gauges_every: Option<Duration>,
    pub(crate) health_stall_after: Option<Duration>,
    pub(crate) health_silence_after: Option<Duration>,
}

/// Whether the leader compacts the jobs table (`VACUUM FULL`) after a held xmin horizon let it
/// bloat. Compaction gives the space back but holds a lock that every insert of the
/// application waits for (seconds on a large table), so it is off unless asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compaction {
    /// Never compact; log once per hold how to compact the table at a quiet time.
    #[default]
    Off,
    /// Compact with `VACUUM FULL` once the hold ends, waiting at most a second for the lock.
    VacuumFull,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            fetch_batch_max: FETCH_BATCH_MAX_DEFAULT,
            fetch_concurrency: FETCH_CONCURRENCY_DEFAULT,
            fetch_poll_interval: FETCH_POLL_INTERVAL_DEFAULT,
            fetch_cooldown: FETCH_COOLDOWN_DEFAULT,
            poll_only: false,
            lease: LEASE_DEFAULT,
            heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
            complete_batch_max: COMPLETE_BATCH_MAX_DEFAULT,
            complete_concurrency: COMPLETE_CONCURRENCY_DEFAULT,
            completed_retention: COMPLETED_RETENTION_DEFAULT,
            cancelled_retention: CANCELLED_RETENTION_DEFAULT,
            discarded_retention: DISCARDED_RETENTION_DEFAULT,
            shutdown_soft_timeout: SHUTDOWN_SOFT_TIMEOUT_DEFAULT,
            shutdown_hard_timeout: SHUTDOWN_HARD_TIMEOUT_DEFAULT,
            timeout_grace: TIMEOUT_GRACE_DEFAULT,
            statement_timeout: STATEMENT_TIMEOUT_DEFAULT,
            listener_check_interval: LISTENER_CHECK_INTERVAL_DEFAULT,
            pool_size: 0,
            maintenance: true,
            scheduler_interval: SCHEDULER_INTERVAL_DEFAULT,
            rescuer_interval: RESCUER_INTERVAL_DEFAULT,
            cleaner_interval: CLEANER_INTERVAL_DEFAULT,
            vacuum_interval: VACUUM_INTERVAL_DEFAULT,
            leader_ttl: None,
            maintenance_batch: MAINTENANCE_BATCH_DEFAULT,
            error_max_bytes: ERROR_MAX_BYTES_DEFAULT,
            compaction: Compaction::Off,
            stats_flush_interval: STATS_FLUSH_INTERVAL_DEFAULT,
            stats_retention: STATS_RETENTION_DEFAULT,
            gauges_every: None,
            health_stall_after: None,
            health_silence_after: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty => $with:ident;)*) => {
        impl WorkerConfig {
            $(
                $(#[$doc])*
                pub fn $with(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }

                $(#[$doc])*
                pub fn $field(&self) -> $ty {
                    self.$field
                }
            )*
        }
    };
}

setters! {
    /// Most jobs one fetch claims. Defaults to [`FETCH_BATCH_MAX_DEFAULT`].
    fetch_batch_max: usize => with_fetch_batch_max;
    /// Claims a queue keeps in flight (producers per queue). Defaults to [`FETCH_CONCURRENCY_DEFAULT`].
    fetch_concurrency: usize => with_fetch_concurrency;
    /// Poll interval, the fallback when no notification arrives (for jobs, and for pauses). Defaults to [`FETCH_POLL_INTERVAL_DEFAULT`].
    fetch_poll_interval: Duration => with_fetch_poll_interval;
    /// Wait for more free slots before a small fetch. Defaults to [`FETCH_COOLDOWN_DEFAULT`].
    fetch_cooldown: Duration => with_fetch_cooldown;
    /// Poll only, without LISTEN (for PgBouncer in transaction pooling). Defaults to `false`.
    poll_only: bool => with_poll_only;
    /// Lease of a running job. Defaults to [`LEASE_DEFAULT`].
    lease: Duration => with_lease;
    /// Heartbeat interval. Defaults to [`HEARTBEAT_INTERVAL_DEFAULT`].
    heartbeat_interval: Duration => with_heartbeat_interval;
    /// Most outcomes per completion statement. Defaults to [`COMPLETE_BATCH_MAX_DEFAULT`].
    complete_batch_max: usize => with_complete_batch_max;
    /// Completion statements in flight. Defaults to [`COMPLETE_CONCURRENCY_DEFAULT`].
    complete_concurrency: usize => with_complete_concurrency;
    /// How long completed jobs are kept (zero: deleted at once). Defaults to [`COMPLETED_RETENTION_DEFAULT`].
    completed_retention: Duration => with_completed_retention;
    /// How long cancelled jobs are kept. Defaults to [`CANCELLED_RETENTION_DEFAULT`].
    cancelled_retention: Duration => with_cancelled_retention;
    /// How long dead letters are kept. Defaults to [`DISCARDED_RETENTION_DEFAULT`].
    discarded_retention: Duration => with_discarded_retention;
    /// Shutdown: time for running jobs to finish. Defaults to [`SHUTDOWN_SOFT_TIMEOUT_DEFAULT`].
    shutdown_soft_timeout: Duration => with_shutdown_soft_timeout;
    /// Shutdown: time after cancelling before release. Defaults to [`SHUTDOWN_HARD_TIMEOUT_DEFAULT`].
    shutdown_hard_timeout: Duration => with_shutdown_hard_timeout;
    /// Time a timed-out handler gets to stop. Defaults to [`TIMEOUT_GRACE_DEFAULT`].
    timeout_grace: Duration => with_timeout_grace;
    /// Limit on each worker statement. Defaults to [`STATEMENT_TIMEOUT_DEFAULT`].
    statement_timeout: Duration => with_statement_timeout;
    /// Silence before the LISTEN connection is checked. Defaults to [`LISTENER_CHECK_INTERVAL_DEFAULT`].
    listener_check_interval: Duration => with_listener_check_interval;
    /// Connections of the worker's own pool (fetch, completion, heartbeat, maintenance); 0
    /// sizes it for the worker: one per queue, one per completion in flight, and two. Handlers
    /// use the client's pool, so they can never starve the heartbeat. Defaults to 0.
    pool_size: u32 => with_pool_size;
    /// Whether this worker takes part in leader election and maintenance. Defaults to `true`.
    maintenance: bool => with_maintenance;
    /// Scheduler interval. Defaults to [`SCHEDULER_INTERVAL_DEFAULT`].
    scheduler_interval: Duration => with_scheduler_interval;
    /// Rescuer interval. Defaults to [`RESCUER_INTERVAL_DEFAULT`].
    rescuer_interval: Duration => with_rescuer_interval;
    /// Cleaner interval. Defaults to [`CLEANER_INTERVAL_DEFAULT`].
    cleaner_interval: Duration => with_cleaner_interval;
    /// Vacuumer check interval (it vacuums only when dead rows pile up). Defaults to [`VACUUM_INTERVAL_DEFAULT`].
    vacuum_interval: Duration => with_vacuum_interval;
    /// Rows per maintenance statement. Defaults to [`MAINTENANCE_BATCH_DEFAULT`].
    maintenance_batch: i64 => with_maintenance_batch;
    /// The most bytes of error text one attempt records. Defaults to [`ERROR_MAX_BYTES_DEFAULT`].
    error_max_bytes: usize => with_error_max_bytes;
    /// Whether the leader compacts the jobs table after a held xmin horizon. Defaults to
    /// [`Compaction::Off`].
    compaction: Compaction => with_compaction;
    /// How often the worker writes its stats rollups. Defaults to [`STATS_FLUSH_INTERVAL_DEFAULT`].
    stats_flush_interval: Duration => with_stats_flush_interval;
    /// How long the leader keeps stats rollups. Defaults to [`STATS_RETENTION_DEFAULT`].
    stats_retention: Duration => with_stats_retention;
}

impl WorkerConfig {
    /// The leader's lease; it renews at a third of it. A dead leader's lease lapses as fast as
    /// a dead worker's job leases, so its jobs are rescued as fast. Defaults to the job lease.
    pub fn with_leader_ttl(mut self, ttl: Duration) -> Self {
        self.leader_ttl = Some(ttl);
        self
    }

    /// Sets the queue gauges every `period` on the maintenance leader, through the `metrics`
    /// facade: `haul_queue_depth{queue,state}`, `haul_queue_oldest_available_seconds{queue}`
    /// and `haul_dead_letter_jobs{queue}`, from [`Client::stats`](crate::Client::stats).
    /// Defaults to off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = haul::WorkerConfig::default().with_gauges_every(Duration::from_secs(15));
    /// assert_eq!(config.gauges_every(), Some(Duration::from_secs(15)));
    /// ```
    pub fn with_gauges_every(mut self, period: Duration) -> Self {
        self.gauges_every = Some(period);
        self
    }

    /// How often the leader sets the queue gauges, if it does.
    pub fn gauges_every(&self) -> Option<Duration> {
        self.gauges_every
    }

    /// The leader's lease in force.
    pub fn leader_ttl(&self) -> Duration {
        self.leader_ttl.unwrap_or(self.lease)
    }

    /// Liveness: a running worker whose producer loop has not turned (started a claim or seen a
    /// poll tick), or whose heartbeat timer has not fired, for longer than `limit` is not live
    /// ([`Health`](crate::Health)). Must be at least the longest a healthy loop waits between
    /// turns while the database hangs: 2 × (statement timeout + 1 s) (a connection, then its
    /// statement) + 2.5 s (the longest retry backoff) + the longer of the poll and heartbeat
    /// intervals; 26.5 s with the defaults. Defaults to [`HEALTH_STALL_AFTER_DEFAULT`] (60 s),
    /// or to twice that wait where that is longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = haul::WorkerConfig::default().with_health_stall_after(Duration::from_secs(30));
    /// assert_eq!(config.health_stall_after(), Duration::from_secs(30));
    /// let slow = haul::WorkerConfig::default().with_statement_timeout(Duration::from_secs(60));
    /// assert_eq!(slow.health_stall_after(), Duration::from_secs(253));
    /// ```
    pub fn with_health_stall_after(mut self, limit: Duration) -> Self {
        self.health_stall_after = Some(limit);
        self
    }

    /// The stall limit of liveness in force.
    pub fn health_stall_after(&self) -> Duration {
        let derived = HEALTH_STALL_AFTER_DEFAULT.max(self.loop_wait_max().saturating_mul(2));
        self.health_stall_after.unwrap_or(derived)
    }

    /// Readiness: a running worker is not ready once the database has answered none of its
    /// statements (claims, heartbeats, elections, reads of the paused queues) and not its
    /// LISTEN connection for longer than `limit` ([`Health`](crate::Health)). An idle worker
    /// reads its paused queues every poll interval, so `limit` must exceed the poll interval.
    /// Defaults to [`HEALTH_SILENCE_AFTER_DEFAULT`] (15 s), or to three poll intervals where
    /// that is longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = haul::WorkerConfig::default().with_health_silence_after(Duration::from_secs(5));
    /// assert_eq!(config.health_silence_after(), Duration::from_secs(5));
    /// ```
    pub fn with_health_silence_after(mut self, limit: Duration) -> Self {
        self.health_silence_after = Some(limit);
        self
    }

    /// The silence limit of readiness in force.
    pub fn health_silence_after(&self) -> Duration {
        let derived = HEALTH_SILENCE_AFTER_DEFAULT.max(self.fetch_poll_interval.saturating_mul(3));
        self.health_silence_after.unwrap_or(derived)
    }

    /// The longest a healthy producer loop or heartbeat timer waits between turns while the
    /// database hangs: a connection and then its statement, each up to the statement timeout
    /// plus the backstop; the longest retry backoff (jittered up to 1.25×); the longer interval.
    pub(crate) fn loop_wait_max(&self) -> Duration {
        let statement = self.statement_timeout.saturating_add(STATEMENT_TIMEOUT_BACKSTOP);
        let backoff = crate::service::RECONNECT_BACKOFF_MAX.mul_f64(1.25);
        let interval = self.fetch_poll_interval.max(self.heartbeat_interval);
        statement.saturating_mul(2).saturating_add(backoff).saturating_add(interval)
    }
}
