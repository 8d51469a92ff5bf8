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

/// Lets a test see handlers start and decide when they finish.
#[derive(Clone)]
pub struct Gate {
    started: tokio::sync::mpsc::UnboundedSender<i64>,
    open: tokio::sync::watch::Receiver<bool>,
}

/// The test's side of a [`Gate`].
pub struct GateControl {
    pub started: tokio::sync::mpsc::UnboundedReceiver<i64>,
    open: tokio::sync::watch::Sender<bool>,
}

pub fn gate() -> (Gate, GateControl) {
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let (open, open_rx) = tokio::sync::watch::channel(false);
    (Gate { started: started_tx, open: open_rx }, GateControl { started, open })
}

impl GateControl {
    /// Waits until a handler has started; returns its job id.
    pub async fn wait_started(&mut self) -> i64 {
        tokio::time::timeout(crate::common::WAIT, self.started.recv())
            .await
            .expect("a handler starts")
            .unwrap()
    }

    /// Lets every waiting handler finish.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Gate {
    async fn opened(&self) {
        let mut open = self.open.clone();
        let _ = open.wait_for(|o| *o).await;
    }
}

/// Blocks until the gate opens. `honors_cancel`: stop with an error when asked to stop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Block {
    pub honors_cancel: bool,
}

impl Job for Block {
    const KIND: &'static str = "block";
    const MAX_ATTEMPTS: i16 = 5;
}

pub async fn block(ctx: JobContext<Gate>, job: Block) -> Result<(), JobError> {
    let _ = ctx.state().started.send(ctx.id());
    if job.honors_cancel {
        tokio::select! {
            () = ctx.state().opened() => Ok(()),
            () = ctx.cancellation().cancelled() => Err(JobError::retry("stopped on request")),
        }
    } else {
        ctx.state().opened().await;
        Ok(())
    }
}

/// The ranks of [`Ranked`] jobs in the order their handlers ran.
pub type Order = std::sync::Arc<std::sync::Mutex<Vec<i64>>>;

/// Records its rank in the worker's [`Order`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ranked {
    pub rank: i64,
}

impl Job for Ranked {
    const KIND: &'static str = "ranked";
}

pub async fn ranked(ctx: JobContext<Order>, job: Ranked) -> Result<(), JobError> {
    ctx.state().lock().unwrap().push(job.rank);
    Ok(())
}
