//! Periodic jobs: bad schedules fail the build; the leader enqueues each tick once as the
//! clock moves; ticks missed while no worker ran are skipped or run once.

use crate::common::{TestDb, fast_config, start};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use haul::{Error, Missed, NewJob, Periodic, Worker};
use std::time::Duration;

/// A job on a queue the test worker does not run, so every tick's job stays in the table.
fn tick_job() -> NewJob {
    NewJob::raw("tick", serde_json::json!({})).with_queue("ticks")
}

fn build(db: &TestDb, schedule: Periodic) -> haul::Result<Worker<()>> {
    Worker::builder(db.client.clone(), ()).config(fast_config()).periodic(schedule, tick_job).build()
}

#[tokio::test]
async fn bad_schedules_fail_the_build_with_what_to_fix() {
    let db = TestDb::unmigrated().await;
    for expr in ["", "61 * * * * *", "* * *", "0 0 32 * *", "every minute"] {
        let e = Periodic::cron(expr).expect_err(expr);
        assert!(matches!(e, Error::InvalidPeriodic { .. }), "{expr}: {e}");
    }
    let e = Periodic::cron("61 * * * * *").unwrap_err().to_string();
    assert!(e.contains("sec min hour day month weekday"), "{e}");
    for interval in [Duration::ZERO, Duration::from_millis(999)] {
        let e = build(&db, Periodic::every(interval)).err().expect("an interval under a second");
        assert!(matches!(&e, Error::InvalidPeriodic { reason, .. } if reason.contains("at least 1s")), "{e}");
    }
    let never = build(&db, Periodic::cron("0 0 0 30 2 *").unwrap()).err().expect("30 February");
    assert!(
        matches!(&never, Error::InvalidPeriodic { reason, .. } if reason.contains("never ticks")),
        "{never}"
    );
    let long = Periodic::every(Duration::from_secs(60)).named("n".repeat(201));
    assert!(matches!(build(&db, long), Err(Error::InvalidPeriodic { .. })));
    let e = Worker::builder(db.client.clone(), ())
        .periodic(Periodic::every(Duration::from_secs(60)), tick_job)
        .periodic(Periodic::every(Duration::from_secs(60)), tick_job)
        .build()
        .err()
        .expect("the same schedule twice");
    assert!(matches!(&e, Error::InvalidWorker(m) if m.contains("Periodic::named")), "{e}");
    let bad_job = || NewJob::raw("tick", serde_json::json!({})).with_queue("no spaces");
    let e = Worker::builder(db.client.clone(), ())
        .periodic(Periodic::every(Duration::from_secs(60)), bad_job)
        .build();
    assert!(matches!(e.err(), Some(Error::InvalidName { what: "queue", .. })), "a bad job fails the build");
}

#[tokio::test]
async fn default_names_come_from_the_kind_and_the_expression() {
    let db = TestDb::new().await;
    let cron = Periodic::cron("*/10 * * * * *").unwrap().in_tz(haul::chrono_tz::Asia::Kolkata);
    let worker = Worker::builder(db.client.clone(), ())
        .config(fast_config())
        .periodic(cron, tick_job)
        .periodic(Periodic::every(Duration::from_secs(90)), tick_job)
        .build()
        .unwrap();
    let running = start(worker);
    db.until_scalar("SELECT count(*) FROM {s}.periodic", 2).await;
    let names: Vec<String> = db.client.periodic().await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["tick:*/10 * * * * * Asia/Kolkata", "tick:every 90s"]);
    running.stop().await;
}

/// The tick keys of the jobs in the table, oldest first, each with its number of jobs.
async fn keys(db: &TestDb) -> Vec<(String, i64)> {
    let sql = format!(
        "SELECT unique_key, count(*) FROM \"{}\".jobs GROUP BY unique_key ORDER BY unique_key",
        db.schema
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&db.pool).await.unwrap()
}

fn key(name: &str, tick: DateTime<Utc>) -> String {
    format!("periodic:{name}:{}", tick.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// The database's time as the test clock reads it.
async fn now(db: &TestDb) -> DateTime<Utc> {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()").fetch_one(&db.pool).await.unwrap();
    now + TimeDelta::from_std(db.clock.shift()).unwrap()
}

async fn until_key(db: &TestDb, key: &str) {
    db.until_scalar(&format!("SELECT count(*) FROM {{s}}.jobs WHERE unique_key = '{key}'"), 1).await;
}

#[tokio::test]
async fn each_cron_tick_is_enqueued_once_as_the_clock_moves() {
    let db = TestDb::new().await;
    let cron = Periodic::cron("*/10 * * * * *").unwrap().in_tz(haul::chrono_tz::Asia::Kolkata).named("c");
    let running = start(build(&db, cron).unwrap());
    db.until_scalar("SELECT count(*) FROM {s}.periodic", 1).await;
    let first = db.client.periodic().await.unwrap()[0].last_tick;
    let mut waited = first;
    for _ in 0..6 {
        db.clock.advance(Duration::from_secs(10));
        waited = now(&db).await.duration_trunc(TimeDelta::seconds(10)).unwrap();
        until_key(&db, &key("c", waited)).await;
    }
    running.stop().await;
    let last = db.client.periodic().await.unwrap()[0].last_tick;
    assert!(last >= waited);
    let mut expected = Vec::new();
    let mut t = first.duration_trunc(TimeDelta::seconds(10)).unwrap() + TimeDelta::seconds(10);
    while t <= last {
        expected.push((key("c", t), 1));
        t += TimeDelta::seconds(10);
    }
    assert!(expected.len() >= 6, "{expected:?}");
    assert_eq!(keys(&db).await, expected, "every tick from the first after the start, once");
}

#[tokio::test]
async fn ticks_missed_while_no_worker_ran_are_skipped_or_run_once() {
    let db = TestDb::new().await;
    let hourly = Duration::from_secs(3600);
    let worker = Worker::builder(db.client.clone(), ())
        .config(fast_config())
        .periodic(Periodic::every(hourly).named("skip"), tick_job)
        .periodic(Periodic::every(hourly).named("once").on_missed(Missed::RunOnce), tick_job)
        .build()
        .unwrap();
    let running = start(worker);
    db.until_scalar("SELECT count(*) FROM {s}.periodic", 2).await;
    let first = db.client.periodic().await.unwrap()[0].last_tick;
    // five hourly ticks pass; the last one 30 s ago is on time, the four before are missed
    let hour = TimeDelta::hours(1);
    let last_tick = first.duration_trunc(hour).unwrap() + hour * 5;
    let jump = last_tick + TimeDelta::seconds(30) - now(&db).await;
    db.clock.advance(jump.to_std().unwrap());
    let recorded =
        format!("SELECT count(*) FROM {{s}}.periodic WHERE last_tick = '{}'", last_tick.to_rfc3339());
    db.until_scalar(&recorded, 2).await;
    running.stop().await;
    let want =
        vec![(key("once", last_tick - hour), 1), (key("once", last_tick), 1), (key("skip", last_tick), 1)];
    assert_eq!(keys(&db).await, want, "skip: only the tick on time; run once: the latest missed too");
}

#[tokio::test]
async fn the_record_shows_the_next_run_and_moves_it_with_each_tick() {
    let db = TestDb::new().await;
    let minutely = Periodic::cron("0 * * * * *").unwrap().named("m");
    let running = start(build(&db, minutely).unwrap());
    db.until_scalar("SELECT count(*) FROM {s}.periodic WHERE next_tick IS NOT NULL", 1).await;
    let seen = db.client.periodic().await.unwrap().remove(0);
    let next = seen.next_tick.expect("the next run");
    assert!(next > seen.last_tick && next - seen.last_tick <= TimeDelta::seconds(60), "{seen:?}");
    assert_eq!(next, next.duration_trunc(TimeDelta::seconds(60)).unwrap(), "a minute's start: {seen:?}");
    db.clock.advance(Duration::from_secs(60));
    until_key(&db, &key("m", next)).await;
    db.until_scalar(
        &format!("SELECT count(*) FROM {{s}}.periodic WHERE last_tick = '{}'", next.to_rfc3339()),
        1,
    )
    .await;
    let ticked = db.client.periodic().await.unwrap().remove(0);
    assert_eq!(ticked.next_tick, Some(next + TimeDelta::seconds(60)), "the run after the tick: {ticked:?}");
    running.stop().await;
}
