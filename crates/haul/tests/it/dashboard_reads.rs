//! The reads a dashboard polls: `Client::fleet` (leader and running jobs by worker),
//! `Client::stats_timeline` (outcomes minute by minute) and `Client::queue_summary` (queues
//! with bounded counts).

use crate::common::TestDb;
use haul::{JobState, NewJob, StatsQuery};
use std::time::Duration;

async fn insert(db: &TestDb, queue: &'static str, n: usize) -> Vec<i64> {
    let job = |i: usize| NewJob::raw("k", serde_json::json!({ "i": i })).with_queue(queue);
    db.client.insert_many((0..n).map(job)).await.unwrap()
}

async fn run_on(db: &TestDb, ids: &[i64], worker: &str, started_secs_ago: u32) {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    db.exec(&format!(
        "UPDATE {{s}}.jobs SET state = 'running', attempt = 1,
            attempted_at = now() - interval '{started_secs_ago} seconds',
            lease_expires_at = now() + interval '1 minute', attempted_by = '{worker}'
         WHERE id IN ({list})"
    ))
    .await;
}

#[tokio::test]
async fn fleet_groups_running_jobs_by_worker_and_queue_and_names_the_leader() {
    let db = TestDb::new().await;
    let fleet = db.client.fleet().await.unwrap();
    assert_eq!((fleet.leader, fleet.workers.len(), fleet.capped), (None, 0, false));

    let mail = insert(&db, "mail", 3).await;
    let reports = insert(&db, "reports", 2).await;
    run_on(&db, &mail[..2], "w-a", 30).await;
    run_on(&db, &reports, "w-a", 5).await;
    run_on(&db, &mail[2..], "w-b", 90).await;
    db.exec(
        "INSERT INTO {s}.leader (name, leader_id, elected_at, expires_at)
         VALUES ('maintenance', 'w-b', now(), now() + interval '1 minute')",
    )
    .await;

    let fleet = db.client.fleet().await.unwrap();
    assert_eq!(fleet.leader.as_deref(), Some("w-b"));
    let loads: Vec<_> =
        fleet.workers.iter().map(|w| (w.worker.as_deref().unwrap(), w.queue.as_str(), w.running)).collect();
    assert_eq!(loads, [("w-a", "mail", 2), ("w-a", "reports", 2), ("w-b", "mail", 1)]);
    let oldest = fleet.workers[2].oldest_started.unwrap();
    let age = (chrono::Utc::now() - oldest).num_seconds();
    assert!((85..=120).contains(&age), "w-b's job started about 90 s ago, not {age} s");
}

#[tokio::test]
async fn fleet_leaves_out_a_lapsed_leader() {
    let db = TestDb::new().await;
    db.exec(
        "INSERT INTO {s}.leader (name, leader_id, elected_at, expires_at)
         VALUES ('maintenance', 'gone', now() - interval '1 hour', now() - interval '1 minute')",
    )
    .await;
    assert_eq!(db.client.fleet().await.unwrap().leader, None);
}

#[tokio::test]
async fn stats_timeline_has_every_minute_of_the_window_with_its_sums() {
    let db = TestDb::new().await;
    // two kinds in the minute before this one, one queue alone two minutes before that
    db.exec(
        "INSERT INTO {s}.stats_rollups (bucket, queue, kind, completed, retried, discarded, run_time, queue_wait)
         VALUES (date_trunc('minute', now()) - interval '1 minute', 'mail', 'a', 5, 1, 0, '{}', '{}'),
                (date_trunc('minute', now()) - interval '1 minute', 'mail', 'b', 2, 0, 1, '{}', '{}'),
                (date_trunc('minute', now()) - interval '3 minutes', 'reports', 'a', 7, 0, 0, '{}', '{}'),
                (date_trunc('minute', now()) - interval '2 hours', 'mail', 'a', 100, 0, 0, '{}', '{}')",
    )
    .await;
    let hour = StatsQuery::default().with_window(Duration::from_secs(3600));
    let minutes = db.client.stats_timeline(&hour).await.unwrap();
    assert_eq!(minutes.len(), 60, "every minute of the hour, the old rollup outside it");
    assert!(minutes.windows(2).all(|w| (w[1].at - w[0].at).num_seconds() == 60), "one per minute, in order");
    // positions counted from the end, so a minute turning over between insert and read only
    // moves both rows one place back
    let busy: Vec<(usize, i64)> = minutes
        .iter()
        .enumerate()
        .filter(|(_, m)| m.outcomes.completed > 0)
        .map(|(i, m)| (59 - i, m.outcomes.completed))
        .collect();
    assert!(busy == [(3, 7), (1, 7)] || busy == [(4, 7), (2, 7)], "{busy:?}");
    let failed: i64 = minutes.iter().map(|m| m.outcomes.retried + m.outcomes.discarded).sum();
    assert_eq!(failed, 2);
    let mail = db.client.stats_timeline(&hour.clone().with_queue("mail")).await.unwrap();
    assert_eq!(mail.iter().map(|m| m.outcomes.completed).sum::<i64>(), 7);
    let bad = StatsQuery::default().with_window(Duration::ZERO);
    assert!(db.client.stats_timeline(&bad).await.is_err(), "a bad window is refused before any SQL");
}

#[tokio::test]
async fn queue_summary_lists_what_queues_lists_with_exact_counts_on_a_small_table() {
    let db = TestDb::new().await;
    insert(&db, "mail", 3).await;
    let running = insert(&db, "reports", 2).await;
    run_on(&db, &running[..1], "w", 1).await;
    db.client.pause_queue("idle").await.unwrap();
    let summary = db.client.queue_summary().await.unwrap();
    assert!(summary.estimated.is_empty(), "a small table is counted exactly");
    assert_eq!(summary.queues, db.client.queues().await.unwrap());
    let reports = summary.queues.iter().find(|q| q.name == "reports").unwrap();
    assert_eq!((reports.counts.get(JobState::Available), reports.counts.running), (1, 1));
    assert!(summary.queues.iter().any(|q| q.name == "idle" && q.paused));
}

#[tokio::test]
async fn a_scan_limited_page_reads_no_further_and_pages_on_below() {
    let db = TestDb::new().await;
    let ids = insert(&db, "mail", 10).await;
    let dead = &ids[..2];
    db.exec(&format!(
        "UPDATE {{s}}.jobs SET state = 'discarded', finalized_at = now() WHERE id IN ({}, {})",
        dead[0], dead[1]
    ))
    .await;
    let control = db.client.control();
    let filter = haul::JobFilter::new().with_state(JobState::Discarded);
    let ids_of = |p: &haul::JobPage| p.jobs.iter().map(|j| j.id).collect::<Vec<_>>();

    let mut page = Some(haul::Page::first(5).with_scan_limit(4));
    let mut seen = Vec::new();
    let mut reads = 0;
    while let Some(p) = page {
        let listed = control.list(&filter, p).await.unwrap();
        seen.push(ids_of(&listed));
        page = listed.next;
        reads += 1;
        assert!(reads <= 3, "10 jobs by 4 is three reads");
    }
    assert_eq!(seen, [vec![], vec![], vec![dead[1], dead[0]]], "the windows 10..7, 6..3, then 2..1");
    let unbounded = control.list(&filter, haul::Page::first(5)).await.unwrap();
    assert_eq!((ids_of(&unbounded), unbounded.next), (vec![dead[1], dead[0]], None));

    let full = control.list(&haul::JobFilter::new(), haul::Page::first(3).with_scan_limit(4)).await.unwrap();
    assert_eq!(ids_of(&full), [ids[9], ids[8], ids[7]]);
    assert_eq!(full.next.and_then(|n| n.before_id()), Some(ids[7]), "a full page goes on below its last job");
    assert_eq!(full.next.and_then(|n| n.scan_limit()), Some(4), "and keeps its scan limit");
    let bad = control.list(&filter, haul::Page::first(5).with_scan_limit(0)).await.unwrap_err();
    assert!(bad.to_string().contains("a page reads 1 to 1000000 jobs"), "{bad}");
}
