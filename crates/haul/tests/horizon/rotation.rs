//! The rotation of the jobs table's slots (migration 0015): plain inserts take turns between
//! slots 1 and 2 by the clock (the tests move it a span on), the leader moves the long-lived
//! jobs of the slot they left to slot 0 and truncates it once no job is left, and nothing it does loses a job, waits on a lock, or is
//! stopped by a snapshot held elsewhere; a snapshot that read the jobs table only delays it.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Flaky, Noop};
use haul::{JobContext, JobError, NewJob, Worker};
use sqlx::Connection;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long plain inserts go to one slot (db/rotation.rs).
const SPAN: Duration = Duration::from_secs(30);

/// The slot plain inserts go to at `db`'s clock, and how far into its span that is, computed
/// as db/rotation.rs computes it.
fn slot_now(db: &TestDb) -> (i16, Duration) {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + db.clock.shift();
    let span = SPAN.as_micros();
    let slot = 1 + (since_epoch.as_micros() / span % 2) as i16;
    (slot, Duration::from_micros((since_epoch.as_micros() % span) as u64))
}

/// Moves `db`'s clock to 2 s into the next span, which the rotator acts in; returns its slot.
fn next_span(db: &TestDb) -> i16 {
    let (before, age) = slot_now(db);
    db.clock.advance(SPAN - age + Duration::from_secs(2));
    let (now, _) = slot_now(db);
    assert_eq!(now, 3 - before);
    now
}

/// Pages on disk of slot `n`.
fn pages(n: i16) -> String {
    format!("SELECT (pg_relation_size('{{s}}.jobs_{n}') / 8192)::int8")
}

/// The jobs each handler call ran, by `n`.
type Ran = Arc<Mutex<HashSet<u64>>>;

async fn record(ctx: JobContext<Ran>, job: Noop) -> Result<(), JobError> {
    ctx.state().lock().unwrap().insert(job.n);
    Ok(())
}

/// A worker recording the `Noop` jobs it ran.
fn rotating_worker(db: &TestDb) -> (crate::common::Running, Ran) {
    let ran = Ran::default();
    let worker = Worker::builder(db.client.clone(), ran.clone())
        .queue("default", 20)
        .handler(record)
        .config(fast_config())
        .build()
        .unwrap();
    (start(worker), ran)
}

/// Waits until `ran` holds every `n` in `0..want`.
async fn until_ran(ran: &Ran, want: u64) {
    let deadline = tokio::time::Instant::now() + crate::common::WAIT;
    while ran.lock().unwrap().len() < want as usize {
        assert!(tokio::time::Instant::now() < deadline, "ran {} of {want}", ran.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!((0..want).all(|n| ran.lock().unwrap().contains(&n)));
}

/// Inserts `Noop` jobs `from..to`, 100 per statement.
async fn insert(db: &TestDb, from: u64, to: u64) {
    for start in (from..to).step_by(100) {
        db.client.insert_many((start..(start + 100).min(to)).map(|n| Noop { n })).await.unwrap();
    }
}

#[tokio::test]
async fn clients_and_the_database_agree_on_the_slot() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let slot = next_span(&db);
    let now = chrono::Utc::now() + chrono::Duration::from_std(db.clock.shift()).unwrap();
    db.client.insert(Noop { n: 0 }).await.unwrap();
    db.client.insert_many([Noop { n: 1 }, Noop { n: 2 }]).await.unwrap();
    // a job due in the past goes through the parent, whose slot the database computes
    let past = now - chrono::Duration::seconds(5);
    db.client.insert(NewJob::new(&Noop { n: 3 }).with_run_at(past)).await.unwrap();
    db.client.insert_many([NewJob::new(&Noop { n: 4 }).with_run_at(past)]).await.unwrap();
    let later = now + chrono::Duration::hours(1);
    db.client.insert(NewJob::new(&Noop { n: 5 }).with_run_at(later)).await.unwrap();
    assert_eq!(db.scalar(&format!("SELECT count(*) FROM {{s}}.jobs_{slot}")).await, 5);
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs_0 WHERE state = 'scheduled'").await, 1);
}

#[tokio::test]
async fn plain_inserts_take_turns_and_the_slot_they_left_is_truncated() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let (w, ran) = rotating_worker(&db);
    let first = next_span(&db);
    insert(&db, 0, 500).await;
    until_ran(&ran, 500).await;
    assert!(db.scalar(&pages(first)).await > 0);
    // inserts move to the other slot; the one they left, with no job, is truncated
    let second = next_span(&db);
    db.until_scalar(&pages(first), 0).await;
    insert(&db, 500, 1000).await;
    until_ran(&ran, 1000).await;
    assert!(db.scalar(&pages(second)).await > 0);
    next_span(&db);
    db.until_scalar(&pages(second), 0).await;
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
    w.stop().await;
}

async fn fail(_ctx: JobContext<Ran>, _job: Flaky) -> Result<(), JobError> {
    Err(JobError::retry_after("not yet", Duration::from_secs(3600)))
}

#[tokio::test]
async fn long_lived_jobs_move_to_slot_0_and_the_slot_is_still_truncated() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let ran = Ran::default();
    let config = fast_config().with_completed_retention(Duration::from_secs(600));
    let worker = Worker::builder(db.client.clone(), ran.clone())
        .queue("default", 20)
        .handler(record)
        .handler(fail)
        .config(config)
        .build()
        .unwrap();
    let w = start(worker);
    let first = next_span(&db);
    insert(&db, 0, 200).await;
    db.client.insert_many((0..5).map(|_| Flaky { fail_times: 3 })).await.unwrap();
    until_ran(&ran, 200).await;
    db.until_scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'retryable'", 5).await;
    // kept completions and retries an hour away hold the slot only until they move
    next_span(&db);
    db.until_scalar(&pages(first), 0).await;
    let kept = "SELECT count(*) FROM {s}.jobs_0 WHERE state = 'completed' AND kind = 'noop'";
    assert_eq!(db.scalar(kept).await, 200, "every kept completion moved, none lost");
    let retrying = "SELECT count(*) FROM {s}.jobs_0 WHERE state = 'retryable' AND cardinality(errors) = 1";
    assert_eq!(db.scalar(retrying).await, 5, "the retries moved with their errors");
    w.stop().await;
}

#[tokio::test]
async fn an_insert_committed_after_its_slot_was_left_still_runs() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let (w, ran) = rotating_worker(&db);
    let first = next_span(&db);
    let mut tx = db.pool.begin().await.unwrap();
    db.client.insert_tx(&mut *tx, Noop { n: 0 }).await.unwrap();
    let locks = format!("SELECT count(*) FROM pg_locks WHERE relation = '{{s}}.jobs_{first}'::regclass");
    assert_eq!(db.scalar(&locks).await, 1);
    // inserts move on; the slot cannot be emptied while the open transaction holds its lock
    next_span(&db);
    insert(&db, 1, 300).await;
    let others: Vec<u64> = (1..300).collect();
    let deadline = tokio::time::Instant::now() + crate::common::WAIT;
    while !others.iter().all(|n| ran.lock().unwrap().contains(n)) {
        assert!(tokio::time::Instant::now() < deadline, "the other jobs did not run");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(db.scalar(&pages(first)).await > 0, "the slot kept while the insert is open");
    tx.commit().await.unwrap();
    until_ran(&ran, 300).await;
    db.until_scalar(&pages(first), 0).await;
    w.stop().await;
}

/// Opens a REPEATABLE READ transaction on a connection of its own and takes its snapshot
/// with `read`.
async fn hold(read: &str) -> sqlx::PgConnection {
    let mut holder = sqlx::PgConnection::connect(&crate::common::database_url()).await.unwrap();
    let sql = format!("BEGIN ISOLATION LEVEL REPEATABLE READ; {read}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut holder).await.unwrap();
    holder
}

#[tokio::test]
async fn a_snapshot_held_elsewhere_does_not_stop_the_truncation() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let (w, ran) = rotating_worker(&db);
    let mut holder = hold("SELECT count(*) FROM pg_class").await;
    let first = next_span(&db);
    insert(&db, 0, 500).await;
    until_ran(&ran, 500).await;
    next_span(&db);
    db.until_scalar(&pages(first), 0).await;
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    w.stop().await;
}

#[tokio::test]
async fn a_snapshot_that_read_the_jobs_table_only_delays_the_truncation() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let (w, ran) = rotating_worker(&db);
    let mut holder = hold(&format!("SELECT count(*) FROM \"{}\".jobs", db.schema)).await;
    let first = next_span(&db);
    insert(&db, 0, 500).await;
    until_ran(&ran, 500).await;
    next_span(&db);
    insert(&db, 500, 1000).await;
    until_ran(&ran, 1000).await;
    assert!(db.scalar(&pages(first)).await > 0, "the slot kept while the holder has it locked");
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    db.until_scalar(&pages(first), 0).await;
    w.stop().await;
}
