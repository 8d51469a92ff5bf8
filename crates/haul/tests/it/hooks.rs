//! Lifecycle hooks fire once per transition, only after the statement recording it committed:
//! a worker's own outcomes, rescues by the leader, and operators' cancels from another client.

use crate::common::record::{Recorder, Seen};
use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Noop, noop};
use crate::lease::orphan;
use haul::{ErrorClass, Job, JobContext, JobError, JobFilter, RecordedBy, Worker};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Ends as `how` says: `ok`, `fail` (every attempt), `snooze` (once, then ok), `cancel`,
/// `discard`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fate {
    pub how: String,
}

impl Job for Fate {
    const KIND: &'static str = "fate";
    const MAX_ATTEMPTS: i16 = 2;
}

/// A retry's and a snooze's wait: long enough that a row read during the hook call still
/// shows the state the outcome wrote, before the scheduler makes it available.
const PAUSE: Duration = Duration::from_millis(500);

/// Ids of the jobs that have snoozed once.
pub type Snoozed = Arc<Mutex<HashSet<i64>>>;

pub async fn fate(ctx: JobContext<Snoozed>, job: Fate) -> Result<(), JobError> {
    match job.how.as_str() {
        "fail" => Err(JobError::retry_after("boom", PAUSE)),
        "snooze" if ctx.state().lock().unwrap().insert(ctx.id()) => Err(JobError::snooze(PAUSE)),
        "cancel" => Err(JobError::cancel("no longer wanted")),
        "discard" => Err(JobError::discard("bad input")),
        _ => Ok(()),
    }
}

fn methods(seen: &[Seen], id: i64) -> Vec<&'static str> {
    seen.iter().filter(|s| s.job.id == id).map(|s| s.method).collect()
}

#[tokio::test]
async fn each_outcome_reaches_the_hooks_once_after_it_committed() {
    let db = TestDb::new().await;
    let hook = Arc::new(Recorder::probing(&db.schema));
    let config = fast_config().with_completed_retention(Duration::from_secs(600));
    let worker = Worker::builder(db.client.clone(), Snoozed::default())
        .handler(fate)
        .hook(hook.clone())
        .config(config)
        .build()
        .unwrap();
    let w = start(worker);
    let hows = ["ok", "fail", "snooze", "cancel", "discard"];
    let ids = db.client.insert_many(hows.iter().map(|h| Fate { how: h.to_string() })).await.unwrap();
    let last = |s: &[Seen], id, m| s.iter().any(|x| x.job.id == id && x.method == m);
    hook.until("every job ended", |s| {
        last(s, ids[0], "completed")
            && last(s, ids[1], "discarded")
            && s.iter().any(|x| x.job.id == ids[2] && x.method == "completed")
            && last(s, ids[3], "cancelled")
            && last(s, ids[4], "discarded")
    })
    .await;
    w.stop().await;
    let seen = hook.seen();
    assert_eq!(methods(&seen, ids[0]), ["started", "completed"]);
    assert_eq!(methods(&seen, ids[1]), ["started", "failed", "started", "failed", "discarded"]);
    assert_eq!(methods(&seen, ids[2]), ["started", "snoozed", "started", "completed"]);
    assert_eq!(methods(&seen, ids[3]), ["started", "cancelled"]);
    assert_eq!(methods(&seen, ids[4]), ["started", "discarded"], "a discard on purpose is no failed attempt");
    // each call saw its transition committed: another connection read the new state
    let state = |id: i64, m: &str| -> Vec<Option<String>> {
        seen.iter().filter(|s| s.job.id == id && s.method == m).map(|s| s.state.clone()).collect()
    };
    let one = |s: &str| Some(s.to_owned());
    assert_eq!(state(ids[0], "started"), [one("running")]);
    assert_eq!(state(ids[0], "completed"), [one("completed")]);
    assert_eq!(state(ids[1], "failed"), [one("retryable"), one("discarded")]);
    assert_eq!(state(ids[2], "snoozed"), [one("scheduled")]);
    assert_eq!(state(ids[3], "cancelled"), [one("cancelled")]);
    assert_eq!(state(ids[4], "discarded"), [one("discarded")]);
    let failed: Vec<_> = seen.iter().filter(|s| s.job.id == ids[1] && s.method == "failed").collect();
    assert_eq!(failed[0].retry_in, Some(PAUSE));
    assert_eq!((failed[1].retry_in, failed[1].job.attempt), (None, 2), "the last attempt will not retry");
    let done = &hook.calls(ids[0], "completed")[0];
    assert!(done.job.run_time.is_some() && done.job.queue_wait.is_some());
    assert_eq!((done.job.by, &*done.job.kind, &*done.job.queue), (RecordedBy::Worker, "fate", "default"));
    let discarded = &hook.calls(ids[4], "discarded")[0];
    assert_eq!(discarded.job.error, Some((ErrorClass::Discard, "bad input".to_owned())));
}

#[tokio::test]
async fn rescues_reach_the_leaders_hooks_once_after_they_committed() {
    let db = TestDb::new().await;
    let (again, dead) = (orphan(&db, 1, 5).await, orphan(&db, 3, 3).await);
    let hook = Arc::new(Recorder::probing(&db.schema));
    let config = fast_config().with_completed_retention(Duration::from_secs(600));
    let worker = Worker::builder(db.client.clone(), ())
        .handler(noop)
        .hook(hook.clone())
        .config(config)
        .build()
        .unwrap();
    let w = start(worker);
    hook.until("the rescued job ran again and the other was discarded", |s| {
        s.iter().any(|x| x.job.id == again && x.method == "completed")
            && s.iter().any(|x| x.job.id == dead && x.method == "discarded")
    })
    .await;
    w.stop().await;
    let seen = hook.seen();
    assert_eq!(methods(&seen, again), ["failed", "started", "completed"]);
    assert_eq!(methods(&seen, dead), ["failed", "discarded"]);
    let rescued = &hook.calls(again, "failed")[0];
    assert_eq!((rescued.job.by, rescued.job.attempt), (RecordedBy::Rescuer, 1));
    assert_eq!(rescued.retry_in, Some(Duration::ZERO));
    // committed: no longer the rescued attempt running (meanwhile the scheduler may have made it
    // available, and the worker may have claimed it again, as attempt 2)
    let probed = (rescued.state.as_deref(), rescued.attempt);
    let committed = matches!(probed, (Some("retryable" | "available"), Some(1)) | (Some(_), Some(2)));
    assert!(committed, "{probed:?}");
    let error = rescued.job.error.as_ref().unwrap();
    assert_eq!(error.0, ErrorClass::Rescued);
    assert!(error.1.contains("dead-worker stopped heartbeating"), "{}", error.1);
    assert_eq!(&*rescued.job.kind, "noop");
    let dead_calls = hook.calls(dead, "discarded");
    assert_eq!(
        (dead_calls[0].job.by, dead_calls[0].state.as_deref()),
        (RecordedBy::Rescuer, Some("discarded"))
    );
}

#[tokio::test]
async fn operators_cancels_reach_the_leaders_hooks_once() {
    let db = TestDb::new().await;
    let (a, b) = (Arc::new(Recorder::probing(&db.schema)), Arc::new(Recorder::new()));
    let build = |client: haul::Client, hook: Arc<Recorder>, id: &str| {
        Worker::builder(client, ()).handler(noop).hook(hook).id(id).config(fast_config()).build().unwrap()
    };
    let wa = start(build(db.client.clone(), a.clone(), "worker-a"));
    let wb = start(build(db.other_client(3).await, b.clone(), "worker-b"));
    // both listen on the control channel, and one leads
    let control = format!("{}_control", db.schema);
    let listening = format!("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %{control}%'");
    db.until_scalar(&listening, 2).await;
    db.until_scalar("SELECT count(*) FROM {s}.leader WHERE expires_at > now()", 1).await;
    let later = || haul::NewJob::new(&Noop { n: 1 }).with_delay(Duration::from_secs(3600));
    let ids = db.client.insert_many([later(), later(), later()]).await.unwrap();
    let operator = db.other_client(2).await;
    operator.cancel(ids[0]).await.unwrap();
    let picked = JobFilter::new().with_state(haul::JobState::Scheduled);
    assert_eq!(operator.control().cancel(&picked).await.unwrap().changed, 2);
    let both = |s: &[Seen]| s.iter().filter(|x| x.method == "cancelled").count();
    let deadline = tokio::time::Instant::now() + crate::common::WAIT;
    while both(&a.seen()) + both(&b.seen()) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "cancels never reached a hook");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wa.stop().await;
    wb.stop().await;
    let all: Vec<Seen> = a.seen().into_iter().chain(b.seen()).filter(|s| s.method == "cancelled").collect();
    let mut cancelled: Vec<i64> = all.iter().map(|s| s.job.id).collect();
    cancelled.sort_unstable();
    assert_eq!(cancelled, ids, "each cancel reached the hooks once, on one worker");
    for s in &all {
        assert_eq!((s.job.by, &*s.job.kind, s.job.attempt), (RecordedBy::Operator, "noop", 0));
        assert_eq!(s.job.error.as_ref().map(|e| e.1.as_str()), Some("cancelled by an operator"));
    }
    for s in a.seen().iter().filter(|s| s.method == "cancelled") {
        assert_eq!(s.state.as_deref(), Some("cancelled"), "read during the call");
    }
}

/// Completes itself in its own transaction, then commits it or (`roll_back`) not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InTx {
    pub roll_back: bool,
}

impl Job for InTx {
    const KIND: &'static str = "in_tx";
}

async fn in_tx(ctx: JobContext<()>, job: InTx) -> Result<(), JobError> {
    let mut tx = ctx.pool().begin().await?;
    ctx.complete_in(&mut *tx).await?;
    if job.roll_back {
        tx.rollback().await?;
        return Err(JobError::retry_after("rolled back", Duration::from_secs(3600)));
    }
    tx.commit().await?;
    Ok(())
}

#[tokio::test]
async fn a_completion_in_a_rolled_back_transaction_reaches_no_completed_hook() {
    let db = TestDb::new().await;
    let hook = Arc::new(Recorder::probing(&db.schema));
    let config = fast_config().with_completed_retention(Duration::from_secs(600));
    let worker = Worker::builder(db.client.clone(), ())
        .handler(in_tx)
        .hook(hook.clone())
        .config(config)
        .build()
        .unwrap();
    let w = start(worker);
    let ids = db.client.insert_many([InTx { roll_back: true }, InTx { roll_back: false }]).await.unwrap();
    hook.until("both ended", |s| {
        s.iter().any(|x| x.job.id == ids[0] && x.method == "failed")
            && s.iter().any(|x| x.job.id == ids[1] && x.method == "completed")
    })
    .await;
    w.stop().await;
    let seen = hook.seen();
    assert_eq!(
        methods(&seen, ids[0]),
        ["started", "failed"],
        "the rolled-back completion never reached a hook"
    );
    assert_eq!(hook.calls(ids[0], "failed")[0].state.as_deref(), Some("retryable"));
    assert_eq!(methods(&seen, ids[1]), ["started", "completed"]);
    assert_eq!(hook.calls(ids[1], "completed")[0].state.as_deref(), Some("completed"));
}
