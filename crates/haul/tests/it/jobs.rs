//! Job kinds and handlers shared by the tests.

use haul::{Job, JobContext, JobError, RetryPolicy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Noop {
    pub n: u64,
}

impl Job for Noop {
    const KIND: &'static str = "noop";
}

pub async fn noop(_ctx: JobContext<()>, _job: Noop) -> Result<(), JobError> {
    Ok(())
}

/// Fails its first `fail_times` attempts, then succeeds. Backoff is an hour, so only a
/// moved clock brings the next attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flaky {
    pub fail_times: i16,
}

impl Job for Flaky {
    const KIND: &'static str = "flaky";
    const MAX_ATTEMPTS: i16 = 3;
    const RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_secs(3600));
}

pub async fn flaky(ctx: JobContext<()>, job: Flaky) -> Result<(), JobError> {
    if ctx.attempt() <= job.fail_times {
        return Err(JobError::retry(format!("transient failure on attempt {}", ctx.attempt())));
    }
    Ok(())
}

/// Always panics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explode {}

impl Job for Explode {
    const KIND: &'static str = "explode";
    const MAX_ATTEMPTS: i16 = 1;
}

pub async fn explode(_ctx: JobContext<()>, _job: Explode) -> Result<(), JobError> {
    panic!("boom in a handler")
}

/// Has required fields, to test undecodable args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Typed {
    pub name: String,
    pub count: u32,
}

impl Job for Typed {
    const KIND: &'static str = "typed";
}

pub async fn typed(_ctx: JobContext<()>, _job: Typed) -> Result<(), JobError> {
    Ok(())
}
