#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

// The job's path, in order: insert → notify → fetch → execute → complete → maintenance.
mod complete;
mod execute;
mod fetch;
mod hooks;
mod insert;
mod maintenance;
mod notify;

// The shared vocabulary and the pieces around the path.
mod attempts;
mod client;
mod clock;
pub mod config;
mod control;
mod db;
pub mod doctor;
mod error;
mod fleet;
mod health;
pub mod job;
mod limit;
pub mod metrics;
mod migrate;
pub mod names;
#[cfg(feature = "otel")]
pub mod otel;
mod periodic;
mod queue;
mod service;
mod stats;
mod storable;
mod worker;
mod workflow;

// Helpers for users' tests: assert what was enqueued, run handlers and drain queues inline.
#[cfg(feature = "testing")]
pub mod testing;

// The workflows guide's examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/workflows.md")]
struct WorkflowsGuide;

// Only under `--cfg haul_bench` (benches/hot_path.rs), so it is no part of the public API.
#[cfg(haul_bench)]
#[doc(hidden)]
pub mod bench_support;

pub use client::{CancelOutcome, Client};
pub use clock::Clock;
pub use complete::{EventOutcome, JobEvent};
pub use config::{ClientConfig, Compaction, WorkerConfig};
pub use control::{
    BulkAction, BulkReport, CONTROL_BATCH_DEFAULT, CONTROL_BATCH_MAX, Control, JobFilter, JobPage, PAGE_MAX,
    PAGE_SCAN_MAX, Page, RetryAttempts,
};
pub use error::{Error, Result};
pub use execute::{
    BoxError, BoxFuture, Handler, JobContext, JobError, JobMeta, JobResultExt, Logging, Middleware, Next,
};
pub use fleet::{FLEET_RUNNING_MAX, Fleet, WorkerLoad};
pub use health::{Health, HealthHandle, HealthProblem, ListenerHealth, WorkerState};
pub use hooks::{Hook, RecordedBy, Transition};
pub use insert::{
    Batch, Inserted, InsertedBatch, InsertedSaga, InsertedWorkflow, IntoNewJob, NewJob, Saga, TAGS_MAX,
    UNIQUE_KEY_MAX, Workflow,
};
pub use job::{AttemptError, ErrorClass, Job, JobRow, JobState, RetryPolicy, Unique, UniqueStates};
pub use limit::{LIMIT_ARG_MAX, LIMIT_MAX, LIMIT_PERIOD_MAX, Limit, Partition, QueueLimit, Rate};
pub use migrate::{MIGRATIONS, MigrateReport, Migration, MigrationState};
pub use periodic::{
    MISSED_AFTER_DEFAULT, Missed, PERIODIC_EVERY_MIN, PERIODIC_NAME_MAX, Periodic, PeriodicRecord,
};
pub use queue::{JobCounts, QueueDepth, QueueInfo, QueueSummary};
pub use stats::{
    ERROR_BOUND as STATS_ERROR_BOUND, OutcomeCounts, Percentiles, STATS_WINDOW_DEFAULT, STATS_WINDOW_MAX,
    Stats, StatsMinute, StatsQuery, StatsRow, StatsSnapshot, WorkerStats,
};
pub use storable::DELAY_MAX;
pub use worker::{ShutdownReport, Worker, WorkerBuilder};
pub use workflow::{BatchInfo, BatchResult, SagaInfo, SagaState, WaitingOn};

/// The time-zone database [`Periodic::in_tz`] takes its zones from (`chrono_tz::Europe::Paris`),
/// re-exported so its version is always the one Haul uses.
pub use chrono_tz;
/// The JSON library of Haul's args and metadata ([`NewJob::raw`] takes a
/// `serde_json::Value`), re-exported so its version is always the one Haul uses.
pub use serde_json;
/// The token that stops a worker ([`Worker::run`]) and that a running job's context watches
/// ([`JobContext::cancellation`]), re-exported from `tokio-util` so you need not depend on it.
pub use tokio_util::sync::CancellationToken;
