//! Enqueueing: single, bulk, inside the caller's transaction, with options and one NOTIFY per
//! queue per statement.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Noop, noop};
use haul::{JobState, NewJob, Worker};
use sqlx::postgres::PgListener;
use std::time::Duration;

#[tokio::test]
async fn transactional_enqueue_rolled_back_leaves_no_job_committed_runs() {
    let db = TestDb::new().await;
    db.exec("CREATE TABLE {s}.orders (id int PRIMARY KEY)").await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);

    let mut tx = db.pool.begin().await.unwrap();
    let sql = format!("INSERT INTO \"{}\".orders VALUES (1)", db.schema);
    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&mut *tx).await.unwrap();
    let lost = db.client.insert_tx(&mut *tx, Noop { n: 1 }).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(db.client.get(lost).await.unwrap().is_none());

    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.unwrap();
    let kept = db.client.insert_tx(&mut *tx, Noop { n: 2 }).await.unwrap();
    let many = db.client.insert_many_tx(&mut *tx, (3..6).map(|n| Noop { n })).await.unwrap();
    tx.commit().await.unwrap();

    let ran = w.collect(4, |_| true).await;
    let mut ids: Vec<i64> = ran.iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(ids, [vec![kept], many].concat());
    assert!(ran.iter().all(|e| e.id != lost));
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.orders").await, 1);
    w.stop().await;
}

#[tokio::test]
async fn bulk_insert_of_100_000_jobs_in_one_call() {
    let db = TestDb::new().await;
    let ids = db.client.insert_many((0..100_000).map(|n| Noop { n })).await.unwrap();
    assert_eq!(ids.len(), 100_000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids come back in input order");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'available'").await, 100_000);
    // the n-th id holds the n-th job
    let probe = ids[77_777];
    let row = db.client.get(probe).await.unwrap().unwrap();
    assert_eq!(row.args["n"], 77_777);
}

#[tokio::test]
async fn empty_bulk_insert_is_a_no_op() {
    let db = TestDb::new().await;
    let ids = db.client.insert_many(Vec::<Noop>::new()).await.unwrap();
    assert!(ids.is_empty());
}

#[tokio::test]
async fn options_are_stored_on_the_row() {
    let db = TestDb::new().await;
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let job = NewJob::new(&Noop { n: 9 })
        .with_queue("reports")
        .with_priority(-3)
        .with_max_attempts(7)
        .with_run_at(at)
        .with_timeout(Duration::from_secs(90))
        .with_metadata(serde_json::json!({"trace": "abc"}))
        .with_tags(["billing", "eu:west"]);
    let id = db.client.insert(job).await.unwrap();
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.queue.as_str(), row.priority, row.max_attempts), ("reports", -3, 7));
    assert_eq!(row.state, JobState::Scheduled);
    assert_eq!(row.run_at.timestamp_micros(), at.timestamp_micros());
    assert_eq!(row.metadata["trace"], "abc");
    assert_eq!(row.tags, vec!["billing", "eu:west"]);
    assert_eq!(db.scalar(&format!("SELECT timeout_ms::int8 FROM {{s}}.jobs WHERE id = {id}")).await, 90_000);
}

#[tokio::test]
async fn raw_insert_by_kind_and_json() {
    let db = TestDb::new().await;
    let id = db.client.insert(NewJob::raw("noop", serde_json::json!({"n": 5}))).await.unwrap();
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.kind.as_str(), row.queue.as_str(), row.args["n"].as_i64()), ("noop", "default", Some(5)));
}

#[tokio::test]
async fn one_notify_per_queue_per_statement_delivered_at_commit() {
    let db = TestDb::new().await;
    let mut listener = PgListener::connect_with(&db.pool).await.unwrap();
    let channel = format!("{}_jobs", db.schema);
    listener.listen(&channel).await.unwrap();

    let jobs = (0..1000).map(|n| NewJob::new(&Noop { n }).with_queue(if n % 2 == 0 { "a" } else { "b" }));
    let mut tx = db.pool.begin().await.unwrap();
    db.client.insert_many_tx(&mut *tx, jobs).await.unwrap();
    // scheduled jobs are not announced: the scheduler does that when they are due
    let later = NewJob::new(&Noop { n: 0 }).with_queue("c").with_delay(Duration::from_secs(60));
    db.client.insert_tx(&mut *tx, later).await.unwrap();
    tx.commit().await.unwrap();
    sqlx::query("SELECT pg_notify($1, 'end')").bind(&channel).execute(&db.pool).await.unwrap();

    let mut payloads = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await.unwrap().unwrap();
        if n.payload() == "end" {
            break;
        }
        payloads.push(n.payload().to_owned());
    }
    payloads.sort();
    assert_eq!(payloads, ["a", "b"]);
}
