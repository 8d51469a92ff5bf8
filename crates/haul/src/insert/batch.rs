//! Turns validated [`NewJob`]s into the column arrays of one insert statement.

use super::NewJob;
use crate::db::InsertBatch;
use crate::error::Result;

/// Validates each job and lays them out as columns. Fails on the first bad job, before any SQL.
pub(crate) fn build_batch(jobs: Vec<NewJob>, max_payload: usize) -> Result<InsertBatch> {
    let mut b = InsertBatch::with_capacity(jobs.len());
    for mut j in jobs {
        let args = j.take_args()?;
        #[cfg(feature = "otel")]
        {
            j.metadata = crate::otel::inject(j.metadata.take());
        }
        j.validate(&args, max_payload)?;
        let unique = j.unique_spec(&args)?;
        b.kinds.push(j.kind);
        b.queues.push(j.queue);
        b.args.push(args);
        b.priorities.push(j.priority);
        b.max_attempts.push(j.max_attempts);
        b.run_at.push(j.run_at);
        b.delays_us.push(j.delay.map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)));
        b.timeouts_ms.push(j.timeout.map(|t| t.as_millis() as i32));
        b.metadata.push(j.metadata);
        b.tags.push((!j.tags.is_empty()).then(|| j.tags.join(",")));
        if let Some(u) = unique {
            b.set_unique(b.kinds.len() - 1, u.key, u.period, u.states);
        }
    }
    b.finish_unique();
    Ok(b)
}
