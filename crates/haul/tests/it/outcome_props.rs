//! Property: any text (control characters, NULs, megabytes) and any `Duration` in any outcome
//! never changes the outcome of a batch-mate, never panics the worker, and never leaves a job
//! running. Each case is a batch of jobs whose handlers return generated outcomes.

use crate::common::{Running, TestDb, fast_config, start};
use haul::{EventOutcome, Job, JobContext, JobError, Worker};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a handler returns.
#[derive(Debug, Clone)]
enum Spec {
    Ok,
    Retry(String, Option<Duration>),
    Snooze(Duration),
    Cancel(String),
    Discard(String),
}

type Specs = Arc<Mutex<HashMap<u64, Spec>>>;

/// Looks its outcome up by key (a NUL cannot travel in args: inserts refuse it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Generated {
    key: u64,
}

impl Job for Generated {
    const KIND: &'static str = "generated";
    const MAX_ATTEMPTS: i16 = 25;
}

async fn generated(ctx: JobContext<Specs>, job: Generated) -> Result<(), JobError> {
    let spec = ctx.state().lock().unwrap().get(&job.key).cloned().unwrap_or(Spec::Ok);
    match spec {
        Spec::Ok => Ok(()),
        Spec::Retry(e, None) => Err(JobError::retry(e)),
        Spec::Retry(e, Some(after)) => Err(JobError::retry_after(e, after)),
        Spec::Snooze(d) => Err(JobError::snooze(d)),
        Spec::Cancel(r) => Err(JobError::cancel(r)),
        Spec::Discard(r) => Err(JobError::discard(r)),
    }
}

fn text() -> impl Strategy<Value = String> {
    let chars = prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter);
    (chars, 0..4u8).prop_map(|(s, k)| if k == 3 { s.repeat(1 + (3 << 20) / (s.len() + 1)) } else { s })
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::MAX),
        (0..u64::MAX, 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (3600..86_400u64).prop_map(Duration::from_secs),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        Just(Spec::Ok),
        (text(), prop::option::of(duration())).prop_map(|(e, d)| Spec::Retry(e, d)),
        duration().prop_map(Spec::Snooze),
        text().prop_map(Spec::Cancel),
        text().prop_map(Spec::Discard),
    ]
}

fn expected(spec: &Spec, got: &EventOutcome) -> bool {
    matches!(
        (spec, got),
        (Spec::Ok, EventOutcome::Completed)
            | (Spec::Retry(..), EventOutcome::Retrying { .. })
            | (Spec::Snooze(_), EventOutcome::Snoozed(_))
            | (Spec::Cancel(_), EventOutcome::Cancelled)
            | (Spec::Discard(_), EventOutcome::Discarded)
    )
}

/// Runs one batch; returns an error naming the first job that did not end as its own spec says.
async fn run_case(
    db: &TestDb,
    w: &mut Running,
    specs: &Specs,
    next: &mut u64,
    batch: Vec<Spec>,
) -> Result<(), String> {
    let keys: Vec<u64> = (0..batch.len() as u64).map(|i| *next + i).collect();
    *next += batch.len() as u64;
    specs.lock().unwrap().extend(keys.iter().copied().zip(batch.iter().cloned()));
    let ids = db.client.insert_many(keys.iter().map(|&key| Generated { key })).await.unwrap();
    let events = w.collect(ids.len(), |e| ids.contains(&e.id) && e.attempt == 1).await;
    for (id, spec) in ids.iter().zip(&batch) {
        let e = events.iter().find(|e| e.id == *id).unwrap();
        if !expected(spec, &e.outcome) || e.error.as_ref().is_some_and(|t| t.contains('\0') || t.len() > 8300)
        {
            return Err(format!("job {id}: spec {spec:.80?} ended {:?}", e.outcome));
        }
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let running = db
        .scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE state = 'running' AND id IN ({list})"))
        .await;
    if running > 0 { Err(format!("{running} jobs left running")) } else { Ok(()) }
}

#[test]
fn any_text_and_any_delay_in_any_outcome_spare_the_batch_mates() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (db, w, specs) = rt.block_on(async {
        let db = TestDb::new().await;
        let specs = Specs::default();
        let config = fast_config().with_fetch_cooldown(Duration::from_millis(20));
        let worker =
            Worker::builder(db.client.clone(), specs.clone()).queue("default", 50).handler(generated);
        let w = start(worker.config(config).build().unwrap());
        (db, w, specs)
    });
    let (w, next) = (RefCell::new(w), Cell::new(0));
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    let result = runner.run(&prop::collection::vec(spec(), 1..10), |batch| {
        let (mut w, mut n) = (w.borrow_mut(), next.get());
        let outcome = rt.block_on(run_case(&db, &mut w, &specs, &mut n, batch));
        next.set(n);
        outcome.map_err(TestCaseError::fail)
    });
    rt.block_on(w.into_inner().stop());
    result.unwrap();
}
