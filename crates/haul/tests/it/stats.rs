//! `Client::stats`: depth by state, oldest available age and dead letters on a seeded table;
//! outcomes, error rate and percentiles from the rollups of a known workload; rollups of two
//! workers merging, flushed at shutdown, deleted past their retention; the estimated depth of
//! a large table.

use crate::common::{TestDb, WAIT, fast_config, start};
use haul::{
    EventOutcome, Job, JobContext, JobError, JobState, NewJob, STATS_ERROR_BOUND, Stats, StatsQuery,
    StatsRow, Worker,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Sleeps `ms`, then succeeds: a known run time.
#[derive(Serialize, Deserialize)]
struct Sleepy {
    ms: u64,
}

impl Job for Sleepy {
    const KIND: &'static str = "sleepy";
    const QUEUE: &'static str = "work";
}

async fn sleepy(_ctx: JobContext<()>, job: Sleepy) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_millis(job.ms)).await;
    Ok(())
}

/// Ends as its args say.
#[derive(Serialize, Deserialize)]
struct Mixed {
    end: String,
}

impl Job for Mixed {
    const KIND: &'static str = "mixed";
    const QUEUE: &'static str = "work";
}

async fn mixed(_ctx: JobContext<()>, job: Mixed) -> Result<(), JobError> {
    let hour = Duration::from_secs(3600);
    match job.end.as_str() {
        "retry" => Err(JobError::retry_after("try later", hour)),
        "discard" => Err(JobError::discard("hopeless")),
        "snooze" => Err(JobError::snooze(hour)),
        "cancel" => Err(JobError::cancel("not wanted")),
        _ => Ok(()),
    }
}

fn worker(db: &TestDb, flush: Duration) -> Worker<()> {
    let config = fast_config().with_stats_flush_interval(flush).with_maintenance(false);
    Worker::builder(db.client.clone(), ())
        .queue("work", 20)
        .handler(sleepy)
        .handler(mixed)
        .config(config)
        .build()
        .unwrap()
}

/// Events `w` has received so far.
fn received(w: &mut crate::common::Running) -> usize {
    let mut n = w.seen.len();
    while w.events.try_recv().is_ok() {
        n += 1;
    }
    n
}

fn row<'a>(stats: &'a Stats, queue: &str, kind: &str) -> &'a StatsRow {
    let found =
        stats.rows.iter().find(|r| r.queue.as_deref() == Some(queue) && r.kind.as_deref() == Some(kind));
    found.unwrap_or_else(|| panic!("no row for {queue}/{kind} in {stats:#?}"))
}

fn queue<'a>(stats: &'a Stats, queue: &str) -> &'a StatsRow {
    let found = stats.queues.iter().find(|r| r.queue.as_deref() == Some(queue));
    found.unwrap_or_else(|| panic!("no row for queue {queue} in {stats:#?}"))
}

/// Jobs in known states and ages in queue `seeded`, which no worker runs.
async fn seed(db: &TestDb) {
    db.exec(
        "INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         SELECT 'available', 'a', 'seeded', '{}', 5, now() - s * interval '1 second', NULL
         FROM unnest(ARRAY[120, 60, 10]) s;
         INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         SELECT 'scheduled', 'a', 'seeded', '{}', 5, now() + interval '1 hour', NULL FROM generate_series(1, 2);
         INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         SELECT 'discarded', 'b', 'seeded', '{}', 5, now(), now() FROM generate_series(1, 4);",
    )
    .await;
}

#[tokio::test]
async fn stats_are_right_on_a_seeded_table_and_a_known_workload() {
    let db = TestDb::new().await;
    seed(&db).await;
    let mut w = start(worker(&db, Duration::from_secs(3600)));
    db.client.insert_many((0..10).map(|_| Sleepy { ms: 20 })).await.unwrap();
    let ends = ["retry", "retry", "discard", "discard", "discard", "snooze", "snooze", "cancel", "ok", "ok"];
    db.client.insert_many(ends.map(|end| NewJob::new(&Mixed { end: end.into() }))).await.unwrap();
    let events = w.collect(20, |_| true).await;
    w.stop().await; // the rollups are written at shutdown: the flush interval is an hour

    let stats = db.client.stats(&StatsQuery::default()).await.unwrap();
    assert!(stats.estimated.is_empty(), "a small table is counted exactly");
    let seeded = queue(&stats, "seeded");
    let (d, age) = (&seeded.depth, seeded.oldest_available.expect("available jobs").as_secs_f64());
    assert_eq!((d.available, d.scheduled, d.discarded, d.total()), (3, 2, 4, 9));
    assert!((120.0..150.0).contains(&age), "oldest available {age} s, seeded 120 s ago");
    assert_eq!(row(&stats, "seeded", "a").oldest_available, seeded.oldest_available);
    assert_eq!((seeded.dead_letters, row(&stats, "seeded", "b").dead_letters), (4, 4));
    assert_eq!((seeded.outcomes.attempts(), seeded.error_rate), (0, None));

    let m = row(&stats, "work", "mixed");
    let o = m.outcomes;
    assert_eq!((o.completed, o.retried, o.snoozed, o.cancelled, o.discarded), (2, 2, 2, 1, 3));
    assert_eq!(m.error_rate, Some(0.5), "(2 retried + 3 discarded) of 10 attempts");
    let d = &m.depth;
    assert_eq!((d.retryable, d.scheduled, d.cancelled, d.discarded, d.available), (2, 2, 1, 3, 0));
    assert_eq!(m.dead_letters, 3);
    let s = row(&stats, "work", "sleepy");
    assert_eq!((s.outcomes.completed, s.outcomes.attempts(), s.error_rate), (10, 10, Some(0.0)));
    assert!(s.throughput > 0.0 && (s.throughput - 10.0 / stats.window.as_secs_f64()).abs() < 1e-9);
    let mut runs: Vec<Duration> =
        events.iter().filter(|e| &*e.kind == "sleepy").map(|e| e.run_time).collect();
    runs.sort();
    let p = s.run_time.expect("run times");
    for (got, want) in [(p.p50, runs[4]), (p.p95, runs[9]), (p.p99, runs[9])] {
        let err = (got.as_secs_f64() - want.as_secs_f64()).abs() / want.as_secs_f64();
        assert!(err <= STATS_ERROR_BOUND, "{got:?} for {want:?} ({runs:?})");
    }
    assert!(s.queue_wait.is_some());
    assert!(events.iter().all(|e| e.outcome != EventOutcome::Completed || e.run_time > Duration::ZERO));

    let total = &stats.total;
    assert_eq!((total.outcomes.attempts(), total.dead_letters, total.depth.available), (20, 7, 3));
    assert_eq!(total.oldest_available, seeded.oldest_available);
    let only = db.client.stats(&StatsQuery::default().with_kind("mixed")).await.unwrap();
    assert_eq!((only.rows.len(), only.total.outcomes.attempts()), (1, 10));
}

#[tokio::test]
async fn rollups_of_two_workers_on_one_queue_merge() {
    let db = TestDb::new().await;
    let mut a = start(worker(&db, Duration::from_millis(50)));
    let other = db.other_client(5).await;
    let b_worker = Worker::builder(other, ())
        .queue("work", 20)
        .handler(sleepy)
        .config(fast_config().with_stats_flush_interval(Duration::from_millis(50)).with_maintenance(false))
        .build()
        .unwrap();
    let mut b = start(b_worker);
    db.client.insert_many((0..400).map(|_| Sleepy { ms: 0 })).await.unwrap();
    db.until_scalar("SELECT count(*) FROM {s}.jobs", 0).await;
    let (ran_a, ran_b) = (received(&mut a), received(&mut b));
    a.stop().await;
    b.stop().await;
    assert!(ran_a > 0 && ran_b > 0, "both workers ran jobs ({ran_a}, {ran_b})");
    let stats = db.client.stats(&StatsQuery::default().with_queue("work")).await.unwrap();
    assert_eq!(stats.rows.len(), 1);
    assert_eq!(row(&stats, "work", "sleepy").outcomes.completed, 400);
    let rows = db.scalar("SELECT count(*) FROM {s}.stats_rollups").await;
    assert!((1..=2).contains(&rows), "one row per minute, queue and kind: {rows}");
}

#[tokio::test]
async fn rollups_older_than_the_retention_are_deleted() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO {s}.stats_rollups (bucket, queue, kind, completed, run_time, queue_wait)
         SELECT date_trunc('minute', now()) - m * interval '1 minute', 'q', 'k', 1, '{}', '{}'
         FROM unnest(ARRAY[0, 30, 90, 180]) m",
    )
    .await;
    let config = fast_config()
        .with_cleaner_interval(Duration::from_millis(50))
        .with_stats_retention(Duration::from_secs(3600));
    let worker = Worker::builder(db.client.clone(), ()).handler(sleepy).config(config).build().unwrap();
    let w = start(worker);
    db.until_scalar("SELECT count(*) FROM {s}.stats_rollups", 2).await;
    w.stop().await;
    let spread = db
        .scalar("SELECT extract(epoch FROM max(bucket) - min(bucket))::bigint FROM {s}.stats_rollups")
        .await;
    assert_eq!(spread, 1800, "the minutes 0 and 30 ago are kept, those 90 and 180 ago deleted");
    let stats = db.client.stats(&StatsQuery::default().with_window(Duration::from_secs(3600))).await.unwrap();
    assert_eq!(row(&stats, "q", "k").outcomes.completed, 2, "minutes 0 and 30 ago");
}

#[tokio::test]
async fn a_large_table_is_estimated_but_running_jobs_and_dead_letters_stay_exact() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO {s}.jobs (state, kind, queue, args, max_attempts, run_at, finalized_at)
         SELECT CASE WHEN g % 10 = 0 THEN 'discarded' ELSE 'available' END, 'k' || g % 2, 'big', '{}', 5,
                now() - interval '1 minute', CASE WHEN g % 10 = 0 THEN now() END
         FROM generate_series(1, 120000) g;
         ANALYZE {s}.jobs;",
    )
    .await;
    let took = std::time::Instant::now();
    let stats = db.client.stats(&StatsQuery::default()).await.unwrap();
    let took = took.elapsed();
    assert!(stats.estimated.contains(&JobState::Available), "{:?}", stats.estimated);
    assert!(!stats.estimated.contains(&JobState::Discarded) && !stats.estimated.contains(&JobState::Running));
    let big = queue(&stats, "big");
    assert_eq!((big.dead_letters, big.depth.running), (12_000, 0));
    let available = big.depth.available as f64;
    assert!((available - 108_000.0).abs() / 108_000.0 < 0.25, "estimated {available} of 108,000");
    let age = big.oldest_available.expect("an oldest available").as_secs_f64();
    assert!((60.0..90.0).contains(&age), "oldest {age} s");
    assert!(took < WAIT, "{took:?}");
}
