//! One worker on several queues, whose plain claims share statements: each queue still gets
//! at most its own slots, in priority order; a paused queue claims nothing; a limited queue
//! claims only through its limit.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, block, gate};
use haul::{EventOutcome, JobState, Limit, NewJob, Worker};

fn blocked(queue: &'static str, priority: i16) -> NewJob {
    NewJob::new(&Block { honors_cancel: false }).with_queue(queue).with_priority(priority)
}

/// Jobs running per queue, as `queue:count` sorted by queue.
async fn running_by_queue(db: &TestDb) -> Vec<String> {
    let sql =
        "SELECT queue || ':' || count(*) FROM {s}.jobs WHERE state = 'running' GROUP BY queue ORDER BY queue";
    let sql = sql.replace("{s}", &format!("\"{}\"", db.schema));
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await.unwrap()
}

#[tokio::test]
async fn shared_claims_keep_each_queues_slots_priorities_pause_and_limit() {
    let db = TestDb::new().await;
    db.client.pause_queue("paused").await.unwrap();
    db.client.set_limit("limited", &Limit::concurrency(1)).await.unwrap();
    let mut a = Vec::new();
    for priority in [3, 2, 1, 0, -1, -2] {
        a.push(db.client.insert(blocked("a", priority)).await.unwrap());
    }
    let b = db.client.insert_many((0..4).map(|_| blocked("b", 0))).await.unwrap();
    let paused = db.client.insert_many((0..2).map(|_| blocked("paused", 0))).await.unwrap();
    let limited = db.client.insert_many((0..3).map(|_| blocked("limited", 0))).await.unwrap();
    let (g, ctl) = gate();
    let builder = Worker::builder(db.client.clone(), g).queue("a", 2).queue("b", 3);
    let builder = builder.queue("paused", 5).queue("limited", 5).handler(block);
    let mut w = start(builder.config(fast_config()).build().unwrap());

    db.until_scalar("SELECT count(*) FROM {s}.jobs WHERE state = 'running'", 6).await;
    assert_eq!(running_by_queue(&db).await, ["a:2", "b:3", "limited:1"]);
    for (id, want) in a.iter().zip([0, 0, 0, 0, 1, 1]) {
        let attempt = db.client.get(*id).await.unwrap().unwrap().attempt;
        assert_eq!(attempt, want, "a's two most urgent jobs run first (job {id})");
    }
    ctl.open();
    let done = a.len() + b.len() + limited.len();
    let events = w.collect(done, |e| e.outcome == EventOutcome::Completed).await;
    let mut ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    let mut want: Vec<i64> = a.iter().chain(&b).chain(&limited).copied().collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    for id in paused {
        let row = db.client.get(id).await.unwrap().unwrap();
        assert_eq!((row.state, row.attempt), (JobState::Available, 0), "the paused queue's job waits");
    }
    w.stop().await;
}
