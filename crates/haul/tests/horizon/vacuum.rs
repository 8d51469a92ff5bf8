//! The leader's upkeep of the jobs table: it vacuums the dead row versions a busy queue leaves,
//! and, where the application opted in, compacts the table once a transaction that held the
//! xmin horizon (and let it bloat) ends; by default it leaves the table's file alone.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Noop, noop};
use haul::{Compaction, Worker};
use sqlx::Connection;
use std::time::Duration;

/// Vacuums of slot 0, where `churn`'s rows go (a vacuum of `jobs` vacuums every slot).
const VACUUMS: &str = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = '{s}.jobs_0'::regclass";
const SIZE: &str =
    "SELECT sum(pg_total_relation_size(relid))::int8 FROM pg_partition_tree('{s}.jobs') WHERE isleaf";

const FILE: &str = "SELECT pg_relation_filenode('{s}.jobs_0')::int8";

fn vacuuming_worker(db: &TestDb, compaction: Compaction) -> crate::common::Running {
    let config = fast_config().with_vacuum_interval(Duration::from_millis(200)).with_compaction(compaction);
    let worker = Worker::builder(db.client.clone(), ())
        .queue("default", 500)
        .handler(noop)
        .config(config)
        .build()
        .unwrap();
    start(worker)
}

/// Leaves `n` dead row versions (rows of a queue no worker serves, inserted then deleted).
async fn churn(db: &TestDb, n: u32) {
    db.exec(&format!(
        "INSERT INTO {{s}}.jobs (kind, queue, args, state, max_attempts)
         SELECT 'noop', 'elsewhere', '{{\"n\": 12345}}', 'available', 25 FROM generate_series(1, {n});
         DELETE FROM {{s}}.jobs WHERE queue = 'elsewhere'"
    ))
    .await;
}

/// Waits until the vacuumer has run `n` vacuums in all.
async fn until_vacuums(db: &TestDb, n: i64) {
    db.until_scalar(&format!("SELECT least(({VACUUMS}), {n})"), n).await;
}

#[tokio::test]
async fn the_leader_vacuums_a_churning_jobs_table() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let w = vacuuming_worker(&db, Compaction::Off);
    // 30,000 jobs leave 60,000+ dead row versions (insert, claim, delete), over the threshold
    db.client.insert_many((0..30_000).map(|n| Noop { n })).await.unwrap();
    until_vacuums(&db, 1).await;
    w.stop().await;
}

/// Bloats the table under a held horizon, releases it, and returns the size before the hold.
async fn bloat_under_a_hold(db: &TestDb) -> i64 {
    churn(db, 30_000).await;
    until_vacuums(db, 1).await;
    let base = db.scalar(SIZE).await;
    // a REPEATABLE READ transaction that read the table pins the horizon (and holds a lock on it)
    let mut holder = sqlx::PgConnection::connect(&crate::common::database_url()).await.unwrap();
    let read = format!("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM \"{}\".jobs", db.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(read)).execute(&mut holder).await.unwrap();
    churn(db, 250_000).await;
    until_vacuums(db, 2).await; // a futile one: nothing could be removed
    let bloated = db.scalar(SIZE).await;
    assert!(bloated > 2 * base + (32 << 20), "the table grew under the hold: {base} -> {bloated} bytes");
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    base
}

#[tokio::test]
async fn by_default_the_leader_never_rewrites_the_table() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let w = vacuuming_worker(&db, Compaction::Off);
    let file = db.scalar(FILE).await;
    let base = bloat_under_a_hold(&db).await;
    // the release is seen before the next vacuum starts: a third vacuum comes after the decision
    until_vacuums(&db, 3).await;
    assert_eq!(db.scalar(FILE).await, file, "the table's file is the same: no VACUUM FULL ran");
    assert!(db.scalar(SIZE).await > base, "the space stays with the table until an operator compacts it");
    w.stop().await;
}

#[tokio::test]
async fn the_leader_compacts_the_table_once_a_held_horizon_is_released() {
    let _alone = crate::alone().await;
    let db = TestDb::new().await;
    let w = vacuuming_worker(&db, Compaction::VacuumFull);
    // live rows the compaction must carry over: jobs of a queue no worker serves
    db.exec("INSERT INTO {s}.jobs (kind, queue, args, state, max_attempts)
             SELECT 'noop', 'kept', jsonb_build_object('n', i), 'available', 25 FROM generate_series(1, 1000) i")
        .await;
    let kept = "SELECT sum(id + (args->>'n')::bigint)::int8 FROM {s}.jobs WHERE queue = 'kept'";
    let kept_sum = db.scalar(kept).await;
    let base = bloat_under_a_hold(&db).await;
    // plain vacuums never give the space back (vacuum_truncate is off): only a compaction does
    db.until_scalar(&format!("SELECT (({SIZE}) < {base})::int::int8"), 1).await;
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 1000, "no live row lost or made up");
    assert_eq!(db.scalar(kept).await, kept_sum, "the live rows are the same rows");
    let id = db.client.insert(Noop { n: 1 }).await.unwrap();
    assert!(id > 281_000, "ids go on from where they were: {id}");
    w.stop().await;
}
