//! Leadership never waits on maintenance: the elector runs apart from the services it gates,
//! so a maintenance round held far past the leader lease neither loses nor splits leadership.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::noop;
use haul::Worker;
use sqlx::Connection;
use std::time::Duration;

#[tokio::test]
async fn a_maintenance_round_held_past_the_leader_lease_keeps_leadership() {
    let db = TestDb::new().await;
    let lease = Duration::from_millis(600);
    let config = fast_config().with_leader_ttl(lease);
    let build = |id: &str| {
        let w = Worker::builder(db.client.clone(), ()).handler(noop).id(id).config(config.clone());
        start(w.build().unwrap())
    };
    let first = build("first");
    db.until_scalar("SELECT count(*) FROM {s}.leader WHERE leader_id = 'first' AND expires_at > now()", 1)
        .await;
    let second = build("second");
    // the scheduler's next round blocks on this lock for four leases
    let mut holder = sqlx::PgConnection::connect(&crate::common::database_url()).await.unwrap();
    let lock = format!("BEGIN; LOCK TABLE \"{}\".jobs IN ACCESS EXCLUSIVE MODE", db.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock)).execute(&mut holder).await.unwrap();
    let blocked =
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%jobs%'";
    db.until_scalar(&format!("SELECT least(({blocked}), 1)"), 1).await;
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let held = tokio::time::Instant::now() + lease * 4;
    while tokio::time::Instant::now() < held {
        tick.tick().await;
        samples.push(db.client.maintenance_leader().await.unwrap());
    }
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    let lost: Vec<_> = samples.iter().filter(|s| s.as_deref() != Some("first")).collect();
    assert!(
        lost.is_empty(),
        "leadership held by `first` throughout; {} of {} samples: {lost:?}",
        lost.len(),
        samples.len()
    );
    second.stop().await;
    first.stop().await;
}
