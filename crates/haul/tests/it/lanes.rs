//! The jobs table's lanes (migration 0005): drained hot lanes are truncated, and a lane that
//! still holds a job — waiting, running, finished and kept, or scheduled for later — never
//! loses it.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, Noop, block, gate, noop};
use haul::{NewJob, Worker};
use std::time::Duration;

/// The lanes' period number now, by the database's clock (3-second periods).
const PERIOD: &str = "floor(date_part('epoch', clock_timestamp()) / 3)::bigint";
/// Heap bytes of one lane.
fn lane_bytes(lane: i64) -> String {
    format!("SELECT pg_relation_size('{{s}}.jobs_lane_{lane}')")
}

async fn period(db: &TestDb) -> i64 {
    db.scalar(&format!("SELECT {PERIOD}")).await
}

/// Waits (on the database's clock) until the period after `p` has begun.
async fn after_period(db: &TestDb, p: i64) {
    db.until_scalar(&format!("SELECT ({PERIOD} > {p})::int::int8"), 1).await;
}

async fn lane_of(db: &TestDb, id: i64) -> i64 {
    db.scalar(&format!("SELECT lane::int8 FROM {{s}}.jobs WHERE id = {id}")).await
}

#[tokio::test]
async fn new_jobs_go_to_the_lane_of_their_period() {
    let db = TestDb::new().await;
    loop {
        let before = period(&db).await;
        let id = db.client.insert(Noop { n: 1 }).await.unwrap();
        let lane = lane_of(&db, id).await;
        if period(&db).await == before {
            assert_eq!(lane, before.rem_euclid(2), "job {id} inserted in period {before}");
            return;
        }
        // the period turned during the insert: try again
    }
}

#[tokio::test]
async fn the_leader_truncates_a_drained_lane() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).queue("default", 200).handler(noop);
    let w = start(worker.config(fast_config()).build().unwrap());
    let first = db.client.insert_many((0..5_000).map(|n| Noop { n })).await.unwrap()[0];
    let lane = lane_of(&db, first).await;
    db.until_scalar("SELECT count(*) FROM {s}.jobs", 0).await;
    db.until_scalar(&lane_bytes(lane), 0).await;
    w.stop().await;
}

#[tokio::test]
async fn a_lane_holding_a_waiting_or_running_job_is_not_truncated() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let blocking = Worker::builder(db.client.clone(), g).queue("blocking", 10).handler(block);
    let b = start(blocking.config(fast_config()).build().unwrap());
    let worker = Worker::builder(db.client.clone(), ()).queue("default", 200).handler(noop);
    let w = start(worker.config(fast_config()).build().unwrap());
    // in one lane: a job no worker serves, and one that runs until the gate opens
    let held = loop {
        let p = period(&db).await;
        let waiting = db.client.insert(NewJob::new(&Noop { n: 1 }).with_queue("unserved")).await.unwrap();
        let blocker = NewJob::new(&Block { honors_cancel: false }).with_queue("blocking");
        let running = db.client.insert(blocker).await.unwrap();
        if lane_of(&db, waiting).await == lane_of(&db, running).await {
            break (p, waiting, running);
        }
    };
    let (p, waiting, running) = held;
    assert_eq!(ctl.wait_started().await, running);
    let held_lane = lane_of(&db, waiting).await;
    // the other lane takes jobs, drains and is truncated while this one holds its two
    after_period(&db, p).await;
    let other = loop {
        let id = db.client.insert_many((0..500).map(|n| Noop { n })).await.unwrap()[0];
        if lane_of(&db, id).await != held_lane {
            break lane_of(&db, id).await;
        }
    };
    db.until_scalar("SELECT count(*) FROM {s}.jobs WHERE kind = 'noop' AND queue = 'default'", 0).await;
    db.until_scalar(&lane_bytes(other), 0).await;
    let kept = format!("SELECT count(*) FROM {{s}}.jobs WHERE id IN ({waiting}, {running})");
    assert_eq!(db.scalar(&kept).await, 2, "both jobs are still there");
    assert!(db.scalar(&lane_bytes(held_lane)).await > 0);
    ctl.open();
    db.until_scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {running}"), 0).await;
    let state = format!("SELECT count(*) FROM {{s}}.jobs WHERE id = {waiting} AND state = 'available'");
    assert_eq!(db.scalar(&state).await, 1, "the waiting job is still available");
    b.stop().await;
    w.stop().await;
}

#[tokio::test]
async fn jobs_not_due_soon_and_dead_letters_move_to_the_cold_lane() {
    let db = TestDb::new().await;
    let later =
        db.client.insert(NewJob::new(&Noop { n: 1 }).with_delay(Duration::from_secs(3600))).await.unwrap();
    let dead = db.client.insert(NewJob::new(&Noop { n: 2 }).with_queue("unserved")).await.unwrap();
    db.exec(&format!("UPDATE {{s}}.jobs SET state = 'discarded', finalized_at = now() WHERE id = {dead}"))
        .await;
    let lanes = [lane_of(&db, later).await, lane_of(&db, dead).await];
    let worker = Worker::builder(db.client.clone(), ()).queue("default", 10).handler(noop);
    let w = start(worker.config(fast_config()).build().unwrap());
    for id in [later, dead] {
        db.until_scalar(&format!("SELECT lane::int8 FROM {{s}}.jobs WHERE id = {id}"), -1).await;
    }
    for lane in lanes {
        db.until_scalar(&lane_bytes(lane), 0).await;
    }
    let still = format!("SELECT count(*) FROM {{s}}.jobs WHERE id IN ({later}, {dead})");
    assert_eq!(db.scalar(&still).await, 2);
    w.stop().await;
}

#[tokio::test]
async fn a_transaction_reading_the_jobs_table_holds_off_truncation_until_it_ends() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).queue("default", 200).handler(noop);
    let w = start(worker.config(fast_config()).build().unwrap());
    let mut reader = db.pool.acquire().await.unwrap();
    let read = format!("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM \"{}\".jobs", db.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(read)).execute(&mut *reader).await.unwrap();
    let first = db.client.insert_many((0..2_000).map(|n| Noop { n })).await.unwrap()[0];
    let lane = lane_of(&db, first).await;
    db.until_scalar("SELECT count(*) FROM {s}.jobs", 0).await;
    // two periods on, the lane has been drained and due for truncation for a whole period
    let p = period(&db).await;
    after_period(&db, p + 1).await;
    assert!(db.scalar(&lane_bytes(lane)).await > 0, "the reader still holds lane {lane}");
    sqlx::raw_sql("COMMIT").execute(&mut *reader).await.unwrap();
    db.until_scalar(&lane_bytes(lane), 0).await;
    w.stop().await;
}
