//! Range checks of every client and worker setting, run once when the client or worker is
//! built: a bad setting gets [`Error::InvalidConfig`] naming its setter, never a panic or a
//! failed statement later.

use super::{ClientConfig, WorkerConfig};
use crate::error::{Error, Result};
use crate::names;
use crate::storable::DELAY_MAX;
use std::time::Duration;

impl ClientConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        names::validate_schema(&self.schema)?;
        let payload = self.max_payload_bytes;
        check("ClientConfig::with_max_payload_bytes", (1..=PAYLOAD_CAP_MAX).contains(&payload), || {
            format!(
                "{payload} bytes is not in 1..={PAYLOAD_CAP_MAX} (PostgreSQL's jsonb holds at most 255 MiB)"
            )
        })
    }
}

impl WorkerConfig {
    /// Checks every setting; the error names the setter of the first bad one.
    pub(crate) fn validate(&self) -> Result<()> {
        self.validate_sizes()?;
        self.validate_intervals()?;
        let lease = self.lease;
        let beat = self.heartbeat_interval;
        check(
            "WorkerConfig::with_heartbeat_interval",
            beat.checked_mul(2).is_some_and(|b| b < lease),
            || {
                format!(
                    "{beat:?} must be under half the lease ({lease:?}): a lease is renewed once half used"
                )
            },
        )?;
        let ttl = self.leader_ttl();
        check("WorkerConfig::with_leader_ttl", ttl >= Duration::from_millis(3) && ttl <= DELAY_MAX, || {
            format!("{ttl:?} is not in 3 ms..=100 years (it is renewed every third of it)")
        })?;
        let st = self.statement_timeout;
        check("WorkerConfig::with_statement_timeout", st >= MS && st <= STATEMENT_TIMEOUT_MAX, || {
            format!("{st:?} is not in 1 ms..={STATEMENT_TIMEOUT_MAX:?} (PostgreSQL's statement_timeout)")
        })?;
        self.validate_health()
    }

    /// The health limits, where set: a healthy worker must never break them.
    fn validate_health(&self) -> Result<()> {
        if let Some(limit) = self.health_stall_after {
            let wait = self.loop_wait_max();
            check("WorkerConfig::with_health_stall_after", limit >= wait && limit <= DELAY_MAX, || {
                format!(
                    "{limit:?} is under {wait:?}, the longest a healthy loop waits between turns while \
                     the database hangs (2 × (statement timeout + 1 s) + 2.5 s + the longer of the poll \
                     and heartbeat intervals), or over 100 years; raise it or lower the statement timeout"
                )
            })?;
        }
        if let Some(limit) = self.health_silence_after {
            let poll = self.fetch_poll_interval;
            check("WorkerConfig::with_health_silence_after", limit > poll && limit <= DELAY_MAX, || {
                format!(
                    "{limit:?} must exceed the poll interval ({poll:?}), the longest an idle worker \
                     goes between statements, and be at most 100 years"
                )
            })?;
        }
        Ok(())
    }

    fn validate_sizes(&self) -> Result<()> {
        let sizes: [(&'static str, usize, usize, usize); 6] = [
            ("WorkerConfig::with_fetch_batch_max", self.fetch_batch_max, 1, BATCH_MAX),
            ("WorkerConfig::with_fetch_concurrency", self.fetch_concurrency, 1, CONCURRENCY_MAX),
            ("WorkerConfig::with_complete_batch_max", self.complete_batch_max, 1, BATCH_MAX),
            ("WorkerConfig::with_complete_concurrency", self.complete_concurrency, 1, CONCURRENCY_MAX),
            ("WorkerConfig::with_maintenance_batch", self.maintenance_batch.max(0) as usize, 1, BATCH_MAX),
            ("WorkerConfig::with_error_max_bytes", self.error_max_bytes, 64, ERROR_CAP_MAX),
        ];
        for (setting, value, min, max) in sizes {
            check(setting, (min..=max).contains(&value), || format!("{value} is not in {min}..={max}"))?;
        }
        Ok(())
    }

    fn validate_intervals(&self) -> Result<()> {
        let positive = [
            ("WorkerConfig::with_fetch_poll_interval", self.fetch_poll_interval),
            ("WorkerConfig::with_lease", self.lease),
            ("WorkerConfig::with_heartbeat_interval", self.heartbeat_interval),
            ("WorkerConfig::with_listener_check_interval", self.listener_check_interval),
            ("WorkerConfig::with_scheduler_interval", self.scheduler_interval),
            ("WorkerConfig::with_rescuer_interval", self.rescuer_interval),
            ("WorkerConfig::with_cleaner_interval", self.cleaner_interval),
            ("WorkerConfig::with_vacuum_interval", self.vacuum_interval),
            ("WorkerConfig::with_stats_flush_interval", self.stats_flush_interval),
            ("WorkerConfig::with_stats_retention", self.stats_retention),
            ("WorkerConfig::with_gauges_every", self.gauges_every.unwrap_or(MS)),
        ];
        for (setting, d) in positive {
            check(setting, d >= MS && d <= DELAY_MAX, || format!("{d:?} is not in 1 ms..=100 years"))?;
        }
        let may_be_zero = [
            ("WorkerConfig::with_fetch_cooldown", self.fetch_cooldown),
            ("WorkerConfig::with_timeout_grace", self.timeout_grace),
            ("WorkerConfig::with_completed_retention", self.completed_retention),
            ("WorkerConfig::with_cancelled_retention", self.cancelled_retention),
            ("WorkerConfig::with_discarded_retention", self.discarded_retention),
            ("WorkerConfig::with_shutdown_soft_timeout", self.shutdown_soft_timeout),
            ("WorkerConfig::with_shutdown_hard_timeout", self.shutdown_hard_timeout),
        ];
        for (setting, d) in may_be_zero {
            check(setting, d <= DELAY_MAX, || format!("{d:?} is over 100 years"))?;
        }
        Ok(())
    }
}

/// One millisecond: the finest interval the worker's statements and timers take.
const MS: Duration = Duration::from_millis(1);
/// The largest batch or size setting accepted.
const BATCH_MAX: usize = 1_000_000;
/// The most producers or completion statements in flight per worker.
const CONCURRENCY_MAX: usize = 1024;
/// The largest payload cap: PostgreSQL's jsonb holds at most 255 MiB.
const PAYLOAD_CAP_MAX: usize = 255 << 20;
/// The largest per-attempt error cap.
const ERROR_CAP_MAX: usize = 16 << 20;
/// PostgreSQL's largest `statement_timeout` (a 32-bit count of milliseconds).
const STATEMENT_TIMEOUT_MAX: Duration = Duration::from_millis(i32::MAX as u64);

fn check(setting: &'static str, ok: bool, reason: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::InvalidConfig { setting, reason: reason() }) }
}
