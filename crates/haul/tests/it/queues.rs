//! Queues as rows: pause and resume reach running workers (through LISTEN, and through the
//! poll when a notification is missed or the worker only polls), a paused queue claims nothing
//! but accepts inserts and lets its running jobs finish, and `Client::queues` lists every queue
//! with its counts.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Block, Noop, block, gate, noop};
use haul::{Error, EventOutcome, JobState, NewJob, Worker};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A poll interval no test waits for: only a notification can act within a test's deadline.
const NO_POLL: Duration = Duration::from_secs(30);

/// Waits until the worker sees `queue` as `paused`, failing after `within`; returns how long.
async fn until_paused(
    seen: &mut watch::Receiver<BTreeSet<String>>,
    queue: &str,
    paused: bool,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    let heard = tokio::time::timeout(within, seen.wait_for(|p| p.contains(queue) == paused)).await;
    assert!(heard.is_ok(), "the worker did not see `{queue}` paused={paused} within {within:?}");
    started.elapsed()
}

fn job_in(queue: &'static str, n: u64) -> NewJob {
    NewJob::new(&Noop { n }).with_queue(queue)
}

/// The job's state and attempt.
async fn state_of(db: &TestDb, id: i64) -> (JobState, i16) {
    let row = db.client.get(id).await.unwrap().expect("the job exists");
    (row.state, row.attempt)
}

#[tokio::test]
async fn a_pause_reaches_a_listening_worker_at_once_and_its_running_job_finishes() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let config = fast_config().with_fetch_poll_interval(NO_POLL);
    // one slot, held by `running` while the pause lands: no claim of `mail` can be under way
    // then (a claim already under way when the pause is heard still starts what it took)
    let worker = Worker::builder(db.client.clone(), g)
        .queue("mail", 1)
        .queue("other", 5)
        .handler(block)
        .config(config)
        .build()
        .unwrap();
    let mut seen = worker.paused_queues();
    let mut w = start(worker);
    let running =
        db.client.insert(NewJob::new(&Block { honors_cancel: false }).with_queue("mail")).await.unwrap();
    assert_eq!(ctl.wait_started().await, running);

    db.client.pause_queue("mail").await.unwrap();
    until_paused(&mut seen, "mail", true, Duration::from_secs(1)).await;
    let waiting = db.client.insert(NewJob::new(&Block { honors_cancel: false }).with_queue("mail")).await;
    let waiting = waiting.expect("a paused queue accepts inserts");
    // the worker hears and claims what is inserted after it, in another queue
    let other =
        db.client.insert(NewJob::new(&Block { honors_cancel: false }).with_queue("other")).await.unwrap();
    assert_eq!(ctl.wait_started().await, other, "the paused queue's job was not claimed first");
    ctl.open();
    for id in [running, other] {
        let e = w.next_where(|e| e.id == id).await;
        assert_eq!(e.outcome, EventOutcome::Completed, "a job running when paused finishes");
    }
    assert_eq!(state_of(&db, waiting).await, (JobState::Available, 0), "a slot freed, nothing claimed");

    let resumed = Instant::now();
    db.client.resume_queue("mail").await.unwrap();
    let e = w.next_where(|e| e.id == waiting).await;
    assert_eq!(e.outcome, EventOutcome::Completed);
    assert!(resumed.elapsed() < Duration::from_secs(1), "claimed {:?} after the resume", resumed.elapsed());
    w.stop().await;
}

#[tokio::test]
async fn a_poll_only_worker_hears_a_pause_on_its_poll_tick() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let config = fast_config().with_poll_only(true).with_fetch_poll_interval(Duration::from_secs(1));
    // `mail`'s one slot is held while the pause lands, so no claim of it is under way then
    let worker = Worker::builder(db.client.clone(), g)
        .queue("mail", 1)
        .queue("other", 5)
        .handler(block)
        .config(config);
    let worker = worker.build().unwrap();
    let mut seen = worker.paused_queues();
    let mut w = start(worker);
    let blocked = || NewJob::new(&Block { honors_cancel: false });
    let running = db.client.insert(blocked().with_queue("mail")).await.unwrap();
    assert_eq!(ctl.wait_started().await, running);

    db.client.pause_queue("mail").await.unwrap();
    let took = until_paused(&mut seen, "mail", true, Duration::from_secs(2)).await;
    assert!(took <= Duration::from_millis(1500), "a pause reaches a polling worker within a tick: {took:?}");
    let waiting = db.client.insert(blocked().with_queue("mail")).await.unwrap();
    ctl.open();
    w.next_where(|e| e.id == running).await;
    // two claims of `other`, a tick apart: every producer has ticked since `mail`'s slot freed
    for _ in 0..2 {
        let other = db.client.insert(blocked().with_queue("other")).await.unwrap();
        w.next_where(|e| e.id == other).await;
    }
    assert_eq!(state_of(&db, waiting).await, (JobState::Available, 0));

    db.client.resume_queue("mail").await.unwrap();
    until_paused(&mut seen, "mail", false, Duration::from_secs(2)).await;
    w.next_where(|e| e.id == waiting).await;
    w.stop().await;
}

#[tokio::test]
async fn a_pause_the_listener_missed_is_read_on_the_poll_tick() {
    let db = TestDb::new().await;
    let config = fast_config().with_fetch_poll_interval(Duration::from_millis(500));
    let worker = Worker::builder(db.client.clone(), ()).queue("mail", 5).handler(noop).config(config);
    let worker = worker.build().unwrap();
    let mut seen = worker.paused_queues();
    let w = start(worker);
    db.until_scalar("SELECT count(*) FROM {s}.queues WHERE name = 'mail'", 1).await;
    // written without the statement's NOTIFY, as if the notification were lost
    db.exec("UPDATE {s}.queues SET paused_at = now() WHERE name = 'mail'").await;
    until_paused(&mut seen, "mail", true, Duration::from_secs(2)).await;
    db.exec("UPDATE {s}.queues SET paused_at = NULL WHERE name = 'mail'").await;
    until_paused(&mut seen, "mail", false, Duration::from_secs(2)).await;
    w.stop().await;
}

#[tokio::test]
async fn a_worker_started_on_a_paused_queue_claims_nothing_from_it() {
    let db = TestDb::new().await;
    db.client.pause_queue("mail").await.unwrap();
    let waiting = db.client.insert(job_in("mail", 1)).await.unwrap();
    let worker = Worker::builder(db.client.clone(), ()).queue("mail", 5).queue("other", 5).handler(noop);
    let worker = worker.config(fast_config()).build().unwrap();
    let mut seen = worker.paused_queues();
    let mut w = start(worker);
    let other = db.client.insert(job_in("other", 2)).await.unwrap();
    w.next_where(|e| e.id == other).await;
    assert!(seen.borrow_and_update().contains("mail"), "read before the first claim");
    assert_eq!(state_of(&db, waiting).await, (JobState::Available, 0));
    let other_row = db.client.queues().await.unwrap().into_iter().find(|q| q.name == "other");
    assert!(other_row.is_some_and(|q| q.created_at.is_some()), "the worker created its queue's row");

    let resumed = Instant::now();
    db.client.resume_queue("mail").await.unwrap();
    w.next_where(|e| e.id == waiting).await;
    assert!(resumed.elapsed() < Duration::from_secs(5), "claimed {:?} after the resume", resumed.elapsed());
    w.stop().await;
}

#[tokio::test]
async fn pausing_an_unknown_queue_creates_its_row_and_inserting_never_does() {
    let db = TestDb::new().await;
    db.client.insert(job_in("fresh", 1)).await.unwrap();
    db.client.insert_many([job_in("fresh", 2), job_in("fresh", 3)]).await.unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.queues").await, 0, "inserts do not touch queues");

    db.client.pause_queue("never-used").await.unwrap();
    let first = db.client.queues().await.unwrap();
    let names: Vec<_> = first.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["fresh", "never-used"]);
    let (fresh, unknown) = (&first[0], &first[1]);
    assert_eq!((fresh.paused, fresh.created_at, fresh.counts.available), (false, None, 3));
    assert!(unknown.paused && unknown.created_at.is_some() && unknown.counts.total() == 0);

    db.client.pause_queue("never-used").await.unwrap();
    let again = db.client.queues().await.unwrap();
    assert_eq!(again[1].paused_at, unknown.paused_at, "pausing a paused queue keeps its paused_at");
    db.client.resume_queue("never-used").await.unwrap();
    db.client.resume_queue("never-used").await.unwrap();
    let resumed = &db.client.queues().await.unwrap()[1];
    assert_eq!((resumed.paused, resumed.paused_at), (false, None));
}

#[tokio::test]
async fn bad_queue_names_are_refused_before_any_sql() {
    let db = TestDb::new().await;
    let long = "q".repeat(129);
    for name in ["", "a b", "mail;drop", "é", long.as_str()] {
        for paused in [true, false] {
            let r = match paused {
                true => db.client.pause_queue(name).await,
                false => db.client.resume_queue(name).await,
            };
            let err = r.expect_err(name);
            assert!(matches!(err, Error::InvalidName { what: "queue", .. }), "{name}: {err}");
            assert!(err.to_string().contains("invalid queue"), "{err}");
        }
    }
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.queues").await, 0);
}

#[tokio::test]
async fn the_list_counts_each_queues_jobs_per_state() {
    let db = TestDb::new().await;
    let a = db.client.insert_many((1..=3).map(|n| job_in("a", n))).await.unwrap();
    db.client.cancel(a[0]).await.unwrap();
    db.client.insert(job_in("b", 4).with_delay(Duration::from_secs(3600))).await.unwrap();
    db.client.pause_queue("c").await.unwrap();
    let list = db.client.queues().await.unwrap();
    let summary: Vec<_> = list
        .iter()
        .map(|q| (q.name.as_str(), q.paused, q.counts.available, q.counts.cancelled, q.counts.scheduled))
        .collect();
    assert_eq!(summary, [("a", false, 2, 1, 0), ("b", false, 0, 0, 1), ("c", true, 0, 0, 0)]);
    assert_eq!(list.iter().map(|q| q.counts.total()).collect::<Vec<_>>(), [3, 1, 0]);
    assert_eq!(list[1].counts.get(JobState::Scheduled), 1);
}
