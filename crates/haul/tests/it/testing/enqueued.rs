//! Assertions on what was enqueued: by args value or predicate, queue, priority, state and
//! tags; on the pool and inside an uncommitted transaction; and the messages of failures.

use super::panic_message;
use crate::common::TestDb;
use haul::testing::{
    Expect, all_enqueued, all_enqueued_tx, assert_enqueued, assert_enqueued_tx, refute_enqueued,
    refute_enqueued_tx,
};
use haul::{Job, JobState, NewJob};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Welcome {
    user: i64,
    to: String,
}

impl Job for Welcome {
    const KIND: &'static str = "welcome";
    const QUEUE: &'static str = "mail";
}

fn welcome(user: i64) -> Welcome {
    Welcome { user, to: format!("user{user}@example.com") }
}

#[tokio::test]
async fn assert_enqueued_matches_args_by_value_or_predicate_and_returns_the_job() {
    let db = TestDb::new().await;
    let c = &db.client;
    let id = c.insert(NewJob::new(&welcome(7)).with_priority(2).with_tags(["signup"])).await.unwrap();
    c.insert(welcome(8)).await.unwrap();

    let job = assert_enqueued(c, welcome(7)).await;
    assert_eq!((job.row.id, job.args.user, job.row.queue.as_str()), (id, 7, "mail"));
    assert_eq!(job.row.state, JobState::Available);
    let by_pred = assert_enqueued(c, Expect::matching(|w: &Welcome| w.user > 7)).await;
    assert_eq!(by_pred.args, welcome(8));
    let narrowed = Expect::args(welcome(7)).with_queue("mail").with_priority(2).with_tag("signup");
    assert_eq!(assert_enqueued(c, narrowed).await.row.id, id);
    assert_enqueued(c, Expect::<Welcome>::any().with_state(JobState::Available)).await;
}

#[tokio::test]
async fn a_failed_assert_says_what_it_expected_and_lists_the_jobs_of_the_kind() {
    let db = TestDb::new().await;
    let c = &db.client;
    let a = c.insert(welcome(1)).await.unwrap();
    let b = c.insert(NewJob::new(&welcome(2)).with_queue("bulk").with_tags(["x"])).await.unwrap();

    let msg = panic_message(assert_enqueued(c, welcome(3))).await;
    let expected = r#"expected a job of kind `welcome` with args {"user":3,"to":"user3@example.com"}"#;
    assert!(msg.contains(expected), "{msg}");
    assert!(msg.contains("in state pending or scheduled or available or retryable"), "{msg}");
    assert!(msg.contains("found 2 job(s) of kind `welcome`:"), "{msg}");
    let line_a = format!(
        r#"id {a}, queue `mail`, state available, priority 0, tags [], args {{"to":"user1@example.com","user":1}}"#
    );
    let line_b = format!(r#"id {b}, queue `bulk`, state available, priority 0, tags ["x"], args"#);
    assert!(msg.contains(&line_a) && msg.contains(&line_b), "{msg}");

    let wrong_queue = Expect::args(welcome(2)).with_queue("mail").with_priority(1);
    let msg = panic_message(assert_enqueued(c, wrong_queue)).await;
    assert!(msg.contains("in queue `mail`, at priority 1"), "{msg}");

    let nothing = panic_message(assert_enqueued(c, Expect::<Unsent>::any())).await;
    assert!(nothing.contains("expected a job of kind `unsent`"), "{nothing}");
    assert!(nothing.contains("found no job of kind `unsent` in any state"), "{nothing}");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Unsent {}

impl Job for Unsent {
    const KIND: &'static str = "unsent";
}

#[tokio::test]
async fn a_transaction_sees_its_own_uncommitted_jobs_and_the_pool_does_not() {
    let db = TestDb::new().await;
    let c = &db.client;
    let mut tx = db.pool.begin().await.unwrap();
    c.insert_tx(&mut *tx, welcome(1)).await.unwrap();

    assert_enqueued_tx(c, &mut *tx, welcome(1)).await;
    assert_eq!(all_enqueued_tx(c, &mut *tx, Expect::<Welcome>::any()).await.len(), 1);
    refute_enqueued(c, Expect::<Welcome>::any()).await;
    let msg = panic_message(assert_enqueued(c, welcome(1))).await;
    assert!(msg.contains("found no job of kind `welcome`"), "the pool does not see it: {msg}");

    tx.commit().await.unwrap();
    assert_enqueued(c, welcome(1)).await;

    let mut tx = db.pool.begin().await.unwrap();
    c.insert_tx(&mut *tx, welcome(2)).await.unwrap();
    tx.rollback().await.unwrap();
    refute_enqueued(c, welcome(2)).await;
}

#[tokio::test]
async fn refute_passes_on_other_jobs_and_fails_listing_the_matches() {
    let db = TestDb::new().await;
    let c = &db.client;
    let id = c.insert(welcome(1)).await.unwrap();

    refute_enqueued(c, welcome(2)).await;
    refute_enqueued(c, Expect::args(welcome(1)).with_queue("bulk")).await;
    refute_enqueued(c, Expect::args(welcome(1)).with_state(JobState::Discarded)).await;
    let mut tx = db.pool.begin().await.unwrap();
    refute_enqueued_tx(c, &mut *tx, welcome(2)).await;
    let msg = panic_message(refute_enqueued_tx(c, &mut *tx, Expect::<Welcome>::any())).await;
    assert!(msg.contains("expected no job of kind `welcome`, in state"), "{msg}");
    assert!(
        msg.contains(&format!("found 1 job(s) like that of kind `welcome`:\n  id {id}, queue `mail`")),
        "{msg}"
    );
    tx.rollback().await.unwrap(); // a transaction left open would hold its locks past the test
}

#[tokio::test]
async fn all_enqueued_lists_the_waiting_jobs_oldest_first_with_their_rows() {
    let db = TestDb::new().await;
    let c = &db.client;
    let ids = c.insert_many([welcome(1), welcome(2)]).await.unwrap();
    let later = NewJob::new(&welcome(3)).with_delay(Duration::from_secs(3600));
    let scheduled = c.insert(later).await.unwrap();
    c.insert(Unsent {}).await.unwrap();

    let all = all_enqueued(c, Expect::<Welcome>::any()).await;
    let listed: Vec<(i64, i64)> = all.iter().map(|j| (j.row.id, j.args.user)).collect();
    assert_eq!(listed, [(ids[0], 1), (ids[1], 2), (scheduled, 3)]);
    let only_scheduled = all_enqueued(c, Expect::<Welcome>::any().with_state(JobState::Scheduled)).await;
    assert_eq!(only_scheduled.len(), 1);
    assert_eq!(only_scheduled[0].row.state, JobState::Scheduled);
    assert!(all_enqueued(c, Expect::<Welcome>::any().with_queue("bulk")).await.is_empty());
}

#[tokio::test]
async fn args_that_do_not_decode_fail_to_match_or_panic_when_the_job_is_wanted() {
    let db = TestDb::new().await;
    let c = &db.client;
    let odd = c.insert(NewJob::raw("welcome", serde_json::json!({"user": "seven"}))).await.unwrap();

    refute_enqueued(c, Expect::matching(|_: &Welcome| true)).await;
    let msg = panic_message(assert_enqueued(c, welcome(7))).await;
    assert!(
        msg.contains(&format!(
            r#"id {odd}, queue `default`, state available, priority 0, tags [], args {{"user":"seven"}}"#
        )),
        "{msg}"
    );
    let msg = panic_message(all_enqueued(c, Expect::<Welcome>::any())).await;
    assert!(msg.contains(&format!("job {odd} of kind `welcome` has args that do not decode into")), "{msg}");
}
