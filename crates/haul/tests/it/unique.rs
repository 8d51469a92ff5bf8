//! Unique jobs: a taken key inserts nothing and reports the job that holds it; keys come from
//! the kind, chosen args fields and a period of the database's clock; the partial unique index
//! holds under concurrent inserters whose transactions roll back.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::noop;
use haul::{EventOutcome, Job, JobContext, JobError, NewJob, Unique, Worker};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One digest per user per hour.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Digest {
    user_id: i64,
    style: String,
}

impl Job for Digest {
    const KIND: &'static str = "digest";
    const UNIQUE: Option<Unique> = Some(Unique::by_args(&["user_id"]).per(Duration::from_secs(3600)));
}

async fn digest(_ctx: JobContext<()>, _job: Digest) -> Result<(), JobError> {
    Ok(())
}

fn digest_for(user_id: i64, style: &str) -> Digest {
    Digest { user_id, style: style.into() }
}

#[tokio::test]
async fn a_taken_key_inserts_nothing_and_reports_the_existing_job() {
    let db = TestDb::new().await;
    let job = || NewJob::raw("noop", serde_json::json!({"n": 1})).with_unique_key("order-42");
    let first = db.client.insert_many_checked(db.client.pool(), [job()]).await.unwrap();
    let again = db.client.insert_many_checked(db.client.pool(), [job(), job()]).await.unwrap();
    assert!(!first[0].duplicate);
    assert!(again.iter().all(|o| o.duplicate && o.id == first[0].id), "{again:?}");
    assert_eq!(db.client.insert(job()).await.unwrap(), first[0].id, "insert returns the holder's id");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 1);
}

#[tokio::test]
async fn keys_come_from_the_kind_the_chosen_fields_and_the_period() {
    let db = TestDb::new().await;
    let jobs = [digest_for(1, "short"), digest_for(1, "long"), digest_for(2, "short"), digest_for(1, "x")];
    let out = db.client.insert_many_checked(db.client.pool(), jobs.iter().map(NewJob::new)).await.unwrap();
    let dup: Vec<bool> = out.iter().map(|o| o.duplicate).collect();
    assert_eq!(dup, [false, true, false, true], "user 1 once, user 2 once, in the caller's order");
    assert_eq!((out[1].id, out[3].id), (out[0].id, out[0].id));
    assert_ne!(out[2].id, out[0].id);
    // an hour later by the database's clock, the key is free again
    db.client.clock().advance(Duration::from_secs(3600));
    let later = db.client.insert_many_checked(db.client.pool(), [NewJob::new(&digest_for(1, "short"))]).await;
    assert!(!later.unwrap()[0].duplicate, "a new period, a new job");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 3);
}

#[tokio::test]
async fn a_key_is_free_again_once_its_job_completes_and_holds_inside_a_transaction() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).handler(digest).config(fast_config());
    let mut w = start(worker.build().unwrap());
    let first = db.client.insert(digest_for(7, "a")).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == first).await.outcome, EventOutcome::Completed);
    let mut tx = db.pool.begin().await.unwrap();
    let second = db.client.insert_tx(&mut *tx, digest_for(7, "b")).await.unwrap();
    assert_ne!(second, first, "the completed job no longer holds the key");
    let in_tx = db.client.insert_many_checked(&mut *tx, [NewJob::new(&digest_for(7, "c"))]).await.unwrap();
    assert!(in_tx[0].duplicate && in_tx[0].id == second, "the transaction sees its own job");
    tx.rollback().await.unwrap();
    let third = db.client.insert_many_checked(db.client.pool(), [NewJob::new(&digest_for(7, "d"))]).await;
    assert!(!third.unwrap()[0].duplicate, "a rolled-back job holds nothing");
    w.stop().await;
}

#[tokio::test]
async fn concurrent_inserters_with_rollbacks_leave_exactly_one_job_per_key() {
    const KEYS: usize = 1000;
    let db = TestDb::new().await;
    let client = db.other_client(10).await;
    let mut inserters = Vec::new();
    for inserter in 0..8u64 {
        let client = client.clone();
        inserters.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            for round in 0..4u64 {
                let mut keys: Vec<usize> = (0..KEYS).collect();
                fastrand::Rng::with_seed(inserter * 10 + round).shuffle(&mut keys);
                let jobs = keys.iter().map(|k| {
                    NewJob::raw("noop", serde_json::json!({"k": k})).with_unique_key(format!("k{k}"))
                });
                let mut tx = client.pool().begin().await.unwrap();
                let out = client.insert_many_checked(&mut *tx, jobs).await.unwrap();
                if (inserter + round) % 4 == 0 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    committed.extend(out);
                }
            }
            committed
        }));
    }
    let mut answered = Vec::new();
    for task in inserters {
        // batches that took the keys in different orders would wait on each other for ever
        let done = tokio::time::timeout(Duration::from_secs(60), task).await.expect("no inserter stuck");
        answered.extend(done.expect("no inserter failed"));
    }
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, KEYS as i64);
    assert_eq!(db.scalar("SELECT count(DISTINCT unique_key) FROM {s}.jobs").await, KEYS as i64);
    let ids: Vec<String> = answered.iter().map(|o| o.id.to_string()).collect();
    let missing = format!(
        "SELECT count(*) FROM unnest('{{{}}}'::bigint[]) a(id) WHERE NOT EXISTS (SELECT 1 FROM {{s}}.jobs j WHERE j.id = a.id)",
        ids.join(",")
    );
    assert_eq!(db.scalar(&missing).await, 0, "every id answered (inserted or duplicate) is a committed job");
}

/// On the client's own pool a unique batch is tried as a plain insert first; a taken key fails
/// that statement whole, and the batch is sent again with `ON CONFLICT`.
#[tokio::test]
async fn on_the_pool_a_batch_with_a_taken_key_still_inserts_the_rest() {
    let db = TestDb::new().await;
    let job = |k: u32| NewJob::raw("noop", serde_json::json!({"k": k})).with_unique_key(format!("k{k}"));
    let held = db.client.insert(job(2)).await.unwrap();
    let ids = db.client.insert_many([job(1), job(2), job(3)]).await.unwrap();
    assert_eq!(ids[1], held, "the taken key answers with its holder");
    assert!(ids[0] != held && ids[2] != held && ids[0] != ids[2], "{ids:?}");
    let fresh = db.client.insert_many([job(4), job(5)]).await.unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 5, "{fresh:?}");
    let again = db.client.insert_many([job(4), job(5)]).await.unwrap();
    assert_eq!(again, fresh, "a repeated batch answers with the jobs it inserted before");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 5);
}

#[tokio::test]
async fn concurrent_inserters_on_the_pool_leave_exactly_one_job_per_key() {
    const KEYS: u64 = 500;
    let db = TestDb::new().await;
    let client = db.other_client(10).await;
    let mut inserters = Vec::new();
    for inserter in 0..6u64 {
        let client = client.clone();
        inserters.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for round in 0..3u64 {
                let mut keys: Vec<u64> = (0..KEYS).collect();
                fastrand::Rng::with_seed(inserter * 10 + round).shuffle(&mut keys);
                let jobs: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        NewJob::raw("noop", serde_json::json!({"k": k})).with_unique_key(format!("k{k}"))
                    })
                    .collect();
                let ids = client.insert_many(jobs).await.unwrap();
                answered.extend(keys.into_iter().zip(ids));
            }
            answered
        }));
    }
    let mut by_key = std::collections::HashMap::new();
    for task in inserters {
        let done = tokio::time::timeout(Duration::from_secs(60), task).await.expect("no inserter stuck");
        for (key, id) in done.expect("no inserter failed") {
            assert_eq!(*by_key.entry(key).or_insert(id), id, "key k{key} answered with two jobs");
        }
    }
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, KEYS as i64);
    assert_eq!(by_key.len() as u64, KEYS);
}

/// A batch goes in one of two shapes (`db::job::insert`): its keys' states once for all when
/// they share them and no key has a period, else one a row. Either way every keyed job stores
/// its own states, a job without a key none, and a taken key is reported.
#[tokio::test]
async fn a_batch_stores_each_keys_states_whether_they_share_them_or_not() {
    let db = TestDb::new().await;
    let done = haul::UniqueStates::DEFAULT.with(haul::JobState::Completed);
    let keyed = |k: &str| NewJob::raw("noop", serde_json::json!({})).with_unique_key(k);
    let plain = || NewJob::raw("noop", serde_json::json!({}));
    let shared = [keyed("a"), plain(), keyed("b")];
    let per_row =
        [keyed("c"), plain(), keyed("d").with_unique(Unique::by_kind().in_states(done)), keyed("a")];
    db.client.insert_many_checked(db.client.pool(), shared).await.unwrap();
    let out = db.client.insert_many_checked(db.client.pool(), per_row).await.unwrap();
    let dup: Vec<bool> = out.iter().map(|o| o.duplicate).collect();
    assert_eq!(dup, [false, false, false, true]);
    let states =
        |key: &str| format!("SELECT unique_states::bigint FROM {{s}}.jobs WHERE unique_key = '{key}'");
    let default = db.scalar(&states("a")).await;
    assert!(
        default > 0 && default == db.scalar(&states("b")).await && default == db.scalar(&states("c")).await
    );
    assert_eq!(db.scalar(&states("d")).await, default | 32, "and completed's bit (32)");
    let keyless = "SELECT count(*) FROM {s}.jobs WHERE unique_key IS NULL AND unique_states IS NULL";
    assert_eq!(db.scalar(keyless).await, 2);
}
