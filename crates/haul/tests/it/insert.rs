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

/// A bulk insert sends a column every job shares as one value and a column no job sets as
/// none: batches that mix shared, varying and unset columns keep each job's own.
#[tokio::test]
async fn bulk_insert_keeps_each_jobs_own_columns() {
    let db = TestDb::new().await;
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let plain = |n| NewJob::new(&Noop { n });
    let shared = db.client.insert_many((0..3).map(plain)).await.unwrap();
    for id in shared {
        let row = db.client.get(id).await.unwrap().unwrap();
        assert_eq!(
            (row.kind.as_str(), row.queue.as_str(), row.priority, row.max_attempts),
            ("noop", "default", 0, 20)
        );
        assert_eq!((row.state, row.run_at), (JobState::Available, row.created_at));
        assert_eq!((row.metadata, row.tags), (serde_json::json!({}), Vec::<String>::new()));
    }

    let mixed = [
        plain(10),
        NewJob::raw("other", serde_json::json!({"x": 1}))
            .with_queue("reports")
            .with_priority(-3)
            .with_max_attempts(7)
            .with_run_at(at),
        plain(12).with_delay(Duration::from_secs(3600)).with_timeout(Duration::from_secs(90)),
        plain(13).with_metadata(serde_json::json!({"trace": "abc"})).with_tags(["billing"]),
        plain(14).with_priority(-3),
    ];
    let ids = db.client.insert_many(mixed).await.unwrap();
    let rows: Vec<_> = futures_util::future::join_all(ids.iter().map(|&id| db.client.get(id))).await;
    let rows: Vec<_> = rows.into_iter().map(|r| r.unwrap().unwrap()).collect();
    let col = |r: &haul::JobRow| (r.kind.clone(), r.queue.clone(), r.priority, r.max_attempts, r.state);
    assert_eq!(col(&rows[0]), ("noop".into(), "default".into(), 0, 20, JobState::Available));
    assert_eq!(col(&rows[1]), ("other".into(), "reports".into(), -3, 7, JobState::Scheduled));
    assert_eq!(rows[1].run_at.timestamp_micros(), at.timestamp_micros());
    assert_eq!(rows[1].args, serde_json::json!({"x": 1}));
    assert_eq!(rows[2].state, JobState::Scheduled);
    assert_eq!(
        rows[2].run_at - rows[2].created_at,
        chrono::Duration::hours(1),
        "delayed from the statement's time"
    );
    assert_eq!(
        (rows[3].metadata["trace"].as_str(), rows[3].tags.clone()),
        (Some("abc"), vec!["billing".to_owned()])
    );
    assert_eq!(col(&rows[4]), ("noop".into(), "default".into(), -3, 20, JobState::Available));
    for r in [&rows[0], &rows[1], &rows[4]] {
        assert_eq!((r.metadata.clone(), r.tags.len()), (serde_json::json!({}), 0));
    }
    let timeout = format!("SELECT timeout_ms::int8 FROM {{s}}.jobs WHERE id = {}", ids[2]);
    assert_eq!(db.scalar(&timeout).await, 90_000);
    let ids = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let set = format!("SELECT count(timeout_ms) FROM {{s}}.jobs WHERE id = ANY('{{{ids}}}')");
    assert_eq!(db.scalar(&set).await, 1, "only the job that set a timeout has one");

    // every job shares the queue but the last
    let queues = [plain(20), plain(21), plain(22).with_queue("last")];
    let ids = db.client.insert_many(queues).await.unwrap();
    let last = db.client.get(ids[2]).await.unwrap().unwrap();
    assert_eq!(
        (last.queue.as_str(), db.client.get(ids[1]).await.unwrap().unwrap().queue.as_str()),
        ("last", "default")
    );
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
    // a keyed job goes to slot 0: its notification names no slot
    db.client
        .insert_tx(&mut *tx, NewJob::raw("noop", serde_json::json!({})).with_queue("k").with_unique_key("k"))
        .await
        .unwrap();
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
    // plain jobs available at once name the rotating slot their statement put them in
    let slot = payloads[0].rsplit_once('@').map(|(_, n)| n.to_owned()).unwrap_or_default();
    assert!(slot == "1" || slot == "2", "{payloads:?}");
    assert_eq!(payloads, [format!("a@{slot}"), format!("b@{slot}"), "k".to_owned()]);
}
