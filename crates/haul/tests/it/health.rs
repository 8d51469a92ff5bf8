//! A worker's health handle: what it reports before, while and after the worker runs, and how
//! readiness follows shutdown and the database's reachability. Waits poll the handle (a few
//! atomic reads) until a condition holds, never for a fixed time.

use crate::common::proxy::Proxy;
use crate::common::{TestDb, WAIT, fast_config, start};
use crate::jobs::{Block, block, gate, noop};
use haul::{Health, HealthHandle, HealthProblem, Worker, WorkerState};
use std::time::Duration;
use tokio::time::Instant;

/// Checks `health` every 10 ms until `pred` holds, failing the test after [`WAIT`].
async fn until(health: &HealthHandle, what: &str, pred: impl Fn(&Health) -> bool) -> Health {
    let deadline = Instant::now() + WAIT;
    loop {
        let h = health.check();
        if pred(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "waited {WAIT:?} for {what}; last: {h:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// When a signal of `age` happened (to compare two checks).
fn when(age: Option<Duration>) -> Instant {
    Instant::now() - age.expect("the signal happened")
}

#[tokio::test]
async fn before_run_the_worker_is_built_live_and_not_ready() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let h = worker.health().check();
    assert_eq!(h.worker, worker.id());
    assert_eq!((h.state, h.is_live(), h.is_ready()), (WorkerState::Built, true, false));
    assert_eq!(h.problems, vec![HealthProblem::NotStarted]);
    assert_eq!((h.fetch_age, h.heartbeat_age, h.database_age), (None, None, None));
    let listener = h.listener.expect("a listening worker reports its listener");
    assert_eq!((listener.up, listener.changed_age, listener.heard_age), (false, None, None));
    assert!(!h.leader);
}

#[tokio::test]
async fn a_running_worker_reports_advancing_fetch_and_heartbeat_its_listener_and_leadership() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(fast_config()).build().unwrap();
    let health = worker.health();
    let mut w = start(worker);
    let h = until(&health, "ready", Health::is_ready).await;
    assert_eq!((h.state, h.is_live()), (WorkerState::Running, true));
    until(&health, "leadership (the only worker)", |h| h.leader).await;
    until(&health, "the listener up", |h| h.listener.is_some_and(|l| l.up)).await;
    let h = until(&health, "a claim", |h| h.fetch_age.is_some()).await;
    let first = when(h.fetch_age);
    until(&health, "a later claim", |h| when(h.fetch_age) > first + Duration::from_millis(50)).await;

    // a job held past half its lease (1 s of 2 s) is heartbeated, again and again
    let id = db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    let h = until(&health, "a heartbeat", |h| h.heartbeat_age.is_some()).await;
    let first = when(h.heartbeat_age);
    until(&health, "a later heartbeat", |h| when(h.heartbeat_age) > first + Duration::from_millis(50)).await;
    let h = health.check();
    assert!(h.is_ready() && h.heartbeat_loop_age.unwrap() < Duration::from_secs(1), "{h:#?}");
    ctl.open();
    w.next_where(|e| e.id == id).await;
    w.stop().await;
}

#[tokio::test]
async fn readiness_ends_when_shutdown_begins_and_the_handle_reports_the_stop() {
    let db = TestDb::new().await;
    let (g, mut ctl) = gate();
    let worker = Worker::builder(db.client.clone(), g).handler(block).config(fast_config()).build().unwrap();
    let health = worker.health();
    let w = start(worker);
    until(&health, "ready", Health::is_ready).await;
    db.client.insert(Block { honors_cancel: false }).await.unwrap();
    ctl.wait_started().await;
    w.token.cancel(); // the job holds the shutdown in its soft wait
    let h = until(&health, "draining", |h| h.state == WorkerState::Draining).await;
    assert!(!h.is_ready() && h.is_live(), "draining: live, not ready: {h:#?}");
    assert_eq!(h.problems, vec![HealthProblem::Draining]);
    ctl.open();
    let report = tokio::time::timeout(WAIT, w.handle).await.unwrap().unwrap().unwrap();
    assert_eq!(report.finished, 1);
    let h = health.check();
    assert_eq!((h.state, h.is_live(), h.is_ready()), (WorkerState::Stopped, false, false));
    assert_eq!(h.problems, vec![HealthProblem::Stopped]);
    assert!(!h.leader && !h.listener.unwrap().up, "{h:#?}");
}

#[tokio::test]
async fn readiness_follows_the_database_and_an_outage_leaves_the_worker_live() {
    let db = TestDb::new().await;
    let proxy = Proxy::start().await;
    let client = db.client_at(&proxy.url(&format!("haul_health_{:08x}", fastrand::u32(..))), 4);
    let config = fast_config().with_health_silence_after(Duration::from_secs(1));
    let worker = Worker::builder(client, ()).handler(noop).config(config).build().unwrap();
    let health = worker.health();
    let w = start(worker);
    until(&health, "ready", Health::is_ready).await;
    proxy.go_down();
    let h = until(&health, "not ready", |h| !h.is_ready()).await;
    assert_eq!(h.problems, vec![HealthProblem::DatabaseSilent]);
    assert!(h.is_live(), "the loops go on retrying: {h:#?}");
    until(&health, "the listener down", |h| h.listener.is_some_and(|l| !l.up)).await;
    proxy.come_back();
    until(&health, "ready again", Health::is_ready).await;
    until(&health, "the listener back", |h| h.listener.is_some_and(|l| l.up)).await;
    w.stop().await;
}

#[tokio::test]
async fn a_worker_that_cannot_reach_the_database_at_start_reports_stopped() {
    let db = TestDb::new().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // nothing listens there now
    let client = db.client_at(&format!("postgres://postgres@127.0.0.1:{closed}/postgres"), 1);
    let config = fast_config().with_statement_timeout(Duration::from_millis(500));
    let worker = Worker::builder(client, ()).handler(noop).config(config).build().unwrap();
    let health = worker.health();
    let run = tokio::time::timeout(WAIT, worker.run(haul::CancellationToken::new())).await.unwrap();
    assert!(run.is_err(), "no database, no run");
    let h = health.check();
    assert_eq!((h.state, h.is_live(), h.is_ready()), (WorkerState::Stopped, false, false));
}

#[tokio::test]
async fn a_poll_only_worker_reports_no_listener() {
    let db = TestDb::new().await;
    let config = fast_config().with_poll_only(true);
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(config).build().unwrap();
    let health = worker.health();
    let w = start(worker);
    let h = until(&health, "ready", Health::is_ready).await;
    assert!(h.listener.is_none(), "{h:#?}");
    w.stop().await;
}
