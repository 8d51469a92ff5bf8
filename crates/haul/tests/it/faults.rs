//! Database faults survived without restarting the worker: killed backends, half-open
//! connections, a server that goes away; plus bounded connections and throttled logging.

use crate::common::proxy::Proxy;
use crate::common::{TestDb, WAIT, fast_config, start};
use crate::jobs::{Noop, noop};
use haul::{EventOutcome, Worker, WorkerConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn app_name() -> String {
    format!("haul_test_{:08x}", fastrand::u32(..))
}

/// Polling so slow it cannot explain a quick pickup: only LISTEN (and its catch-up) can.
fn listen_only_config() -> WorkerConfig {
    fast_config().with_fetch_poll_interval(Duration::from_secs(120))
}

async fn run_noops(db: &TestDb, w: &mut crate::common::Running, n: u64) {
    let ids = db.client.insert_many((0..n).map(|n| Noop { n })).await.unwrap();
    let done = w.collect(ids.len(), |e| ids.contains(&e.id)).await;
    assert!(done.iter().all(|e| e.outcome == EventOutcome::Completed));
}

#[tokio::test]
async fn worker_survives_its_backends_being_terminated() {
    let db = TestDb::new().await;
    let app = app_name();
    let url = format!("{}?application_name={app}", crate::common::database_url());
    let client = db.client_at(&url, 4);
    let worker = Worker::builder(client, ()).handler(noop).config(listen_only_config()).build().unwrap();
    let mut w = start(worker);
    run_noops(&db, &mut w, 20).await;
    for round in 0..3 {
        let killed = db.scalar(&format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{app}'")).await;
        assert!(killed >= 1, "round {round}: the worker's listener at least was connected");
        run_noops(&db, &mut w, 20).await;
    }
    w.stop().await;
}

#[tokio::test]
async fn half_open_connections_are_noticed_and_replaced() {
    let db = TestDb::new().await;
    let proxy = Proxy::start().await;
    let client = db.client_at(&proxy.url(&app_name()), 4);
    let config = listen_only_config()
        .with_statement_timeout(Duration::from_millis(500))
        .with_listener_check_interval(Duration::from_millis(300));
    let worker = Worker::builder(client, ()).handler(noop).config(config).build().unwrap();
    let mut w = start(worker);
    run_noops(&db, &mut w, 10).await;
    proxy.blackhole_existing(); // every open socket goes silent; new ones work
    let started = Instant::now();
    run_noops(&db, &mut w, 10).await;
    assert!(started.elapsed() < Duration::from_secs(10), "recovered in {:?}", started.elapsed());
    w.stop().await;
}

#[tokio::test]
async fn jobs_finish_after_the_server_comes_back() {
    let db = TestDb::new().await;
    let proxy = Proxy::start().await;
    let client = db.client_at(&proxy.url(&app_name()), 4);
    let worker = Worker::builder(client, ()).handler(noop).config(listen_only_config()).build().unwrap();
    let mut w = start(worker);
    run_noops(&db, &mut w, 5).await;
    proxy.go_down();
    let ids = db.client.insert_many((0..10).map(|n| Noop { n })).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // an outage of a second and a half
    proxy.come_back();
    let done = w.collect(ids.len(), |e| ids.contains(&e.id)).await;
    assert_eq!(done.len(), 10);
    w.stop().await;
}

#[tokio::test]
async fn a_worker_uses_at_most_its_pool_plus_one_listener() {
    let db = TestDb::new().await;
    let app = app_name();
    let url = format!("{}?application_name={app}", crate::common::database_url());
    let client = db.client_at(&url, 3);
    let worker = Worker::builder(client, ())
        .queue("default", 50)
        .queue("a", 50)
        .queue("b", 50)
        .handler(noop)
        .config(fast_config().with_pool_size(3))
        .build()
        .unwrap();
    let mut w = start(worker);
    let count = format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'");
    let mut most = 0;
    for _ in 0..5 {
        let ids = db.client.insert_many((0..2000).map(|n| Noop { n })).await.unwrap();
        most = most.max(db.scalar(&count).await);
        w.collect(ids.len(), |e| ids.contains(&e.id)).await;
        most = most.max(db.scalar(&count).await);
    }
    assert!(most <= 4, "saw {most} connections for a worker pool of 3");
    w.stop().await;
}

/// Counts warn-or-worse log events.
struct CountWarnings(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() <= tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logging_is_throttled_while_the_database_is_away() {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(CountWarnings(warnings.clone()));
    let _guard = tracing::subscriber::set_default(subscriber); // this thread runs every task
    let db = TestDb::new().await;
    let proxy = Proxy::start().await;
    let client = db.client_at(&proxy.url(&app_name()), 4);
    let config = fast_config()
        .with_fetch_poll_interval(Duration::from_millis(20))
        .with_scheduler_interval(Duration::from_millis(20))
        .with_rescuer_interval(Duration::from_millis(20));
    let worker = Worker::builder(client, ()).handler(noop).config(config).build().unwrap();
    let mut w = start(worker);
    run_noops(&db, &mut w, 5).await;
    proxy.go_down();
    let before = warnings.load(Ordering::SeqCst);
    let outage = Duration::from_secs(3);
    tokio::time::sleep(outage).await; // the outage itself is what is under test
    let during = warnings.load(Ordering::SeqCst) - before;
    proxy.come_back();
    // components that may complain: producer, listener, pause watch, maintainer (heartbeat and
    // completer are idle): about one line per second each, plus one "held back" summary each
    let allowed = 4 * (outage.as_secs() as usize + 1) * 2;
    assert!(during <= allowed, "{during} warnings in {outage:?} (allowed {allowed})");
    assert!(during >= 1, "the outage was reported");
    run_noops(&db, &mut w, 5).await;
    let _ = tokio::time::timeout(WAIT, w.stop()).await;
}

#[tokio::test]
async fn the_server_cancels_a_worker_statement_that_overruns() {
    let db = TestDb::new().await;
    let app = app_name();
    let url = format!("{}?application_name={app}", crate::common::database_url());
    let config = fast_config().with_statement_timeout(Duration::from_millis(300));
    let worker = Worker::builder(db.client_at(&url, 4), ()).handler(noop).config(config).build().unwrap();
    let mut w = start(worker);
    run_noops(&db, &mut w, 3).await;
    // block every claim behind a lock held by another session
    let mut blocker = db.pool.begin().await.unwrap();
    let lock = format!("LOCK TABLE \"{}\".jobs IN ACCESS EXCLUSIVE MODE", db.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(lock)).execute(&mut *blocker).await.unwrap();
    // claims pile up behind the lock unless the server cancels them at the timeout
    let overrunning = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND state = 'active'
         AND now() - query_start > interval '1500 ms'"
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(db.scalar(&overrunning).await, 0, "a worker statement ran on past its timeout");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    blocker.rollback().await.unwrap();
    run_noops(&db, &mut w, 3).await;
    w.stop().await;
}
