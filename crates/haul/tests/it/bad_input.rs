//! Bad input gets a clear error and loses nothing: oversized payloads, bad names, undecodable
//! args, unknown kinds, panicking handlers, duplicate handlers, a schema not migrated.

use crate::common::{TestDb, fast_config, start};
use crate::jobs::{Explode, Noop, Typed, explode, noop, typed};
use haul::{Client, ClientConfig, Error, ErrorClass, EventOutcome, JobState, NewJob, Worker};

#[tokio::test]
async fn oversized_payload_is_refused_before_any_sql() {
    let db = TestDb::new().await;
    let client = Client::with_config(
        db.pool.clone(),
        ClientConfig::default().with_schema(&db.schema).with_max_payload_bytes(100),
    )
    .unwrap();
    let big = NewJob::raw("noop", serde_json::json!({"blob": "x".repeat(200)}));
    let err = client.insert_many([NewJob::new(&Noop { n: 1 }), big]).await.unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { size: 211, max: 100, .. }), "{err:?}");
    assert!(err.to_string().contains("store large data elsewhere"), "{err}");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0, "the whole batch is refused");
}

#[tokio::test]
async fn default_payload_cap_is_64_kib() {
    let db = TestDb::new().await;
    let big = NewJob::raw("noop", serde_json::json!({"blob": "x".repeat(70_000)}));
    assert!(matches!(db.client.insert(big).await, Err(Error::PayloadTooLarge { max: 65536, .. })));
}

#[tokio::test]
async fn bad_schema_name_is_refused_before_any_sql() {
    let db = TestDb::new().await;
    for bad in ["haul; DROP TABLE x", "Haul", "pg_catalog", "", "a\"b"] {
        let err = Client::with_config(db.pool.clone(), ClientConfig::default().with_schema(bad)).unwrap_err();
        assert!(matches!(err, Error::InvalidName { what: "schema", .. }), "{bad}: {err}");
    }
}

#[tokio::test]
async fn bad_queue_kind_tag_and_options_are_refused() {
    let db = TestDb::new().await;
    let cases = [
        NewJob::new(&Noop { n: 1 }).with_queue("has space"),
        NewJob::raw("", serde_json::json!({})),
        NewJob::new(&Noop { n: 1 }).with_tags(["a,b"]),
        NewJob::new(&Noop { n: 1 }).with_priority(11),
        NewJob::new(&Noop { n: 1 }).with_max_attempts(0),
        NewJob::new(&Noop { n: 1 }).with_timeout(std::time::Duration::ZERO),
    ];
    for job in cases {
        let err = db.client.insert(job).await.unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. } | Error::InvalidOption { .. }), "{err:?}");
    }
    let worker = Worker::builder(db.client.clone(), ()).queue("bad queue", 1).handler(noop).build();
    assert!(matches!(worker, Err(Error::InvalidName { what: "queue", .. })));
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
}

#[tokio::test]
async fn two_handlers_for_one_kind_is_an_error_at_build() {
    let db = TestDb::new().await;
    let err = Worker::builder(db.client.clone(), ()).handler(noop).handler(noop).build().err().unwrap();
    assert!(err.to_string().contains("two handlers registered for job kind `noop`"), "{err}");
}

#[tokio::test]
async fn zero_concurrency_and_duplicate_queues_are_errors() {
    let db = TestDb::new().await;
    let zero = Worker::builder(db.client.clone(), ()).queue("default", 0).handler(noop).build();
    assert!(matches!(zero, Err(Error::InvalidWorker(_))));
    let twice = Worker::builder(db.client.clone(), ()).queue("a", 1).queue("a", 2).handler(noop).build();
    assert!(matches!(twice, Err(Error::InvalidWorker(_))));
}

#[tokio::test]
async fn undecodable_args_are_discarded_with_a_clear_error() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(typed).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(NewJob::raw("typed", serde_json::json!({"name": 42}))).await.unwrap();
    let ok = db.client.insert(Typed { name: "fine".into(), count: 1 }).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == id).await.outcome, EventOutcome::Discarded);
    assert_eq!(w.next_where(|e| e.id == ok).await.outcome, EventOutcome::Completed);
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt), (JobState::Discarded, 1));
    assert_eq!(row.errors[0].class, ErrorClass::Decode);
    assert!(row.errors[0].error.contains("args do not decode into"), "{}", row.errors[0].error);
    assert!(
        row.errors[0].error.contains("name: invalid type: integer `42`"),
        "names the field: {}",
        row.errors[0].error
    );
    assert!(row.errors[0].error.contains("Typed"), "{}", row.errors[0].error);
    w.stop().await;
}

#[tokio::test]
async fn unknown_kind_is_recorded_and_backed_off_not_spun() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).config(fast_config()).build().unwrap();
    let mut w = start(worker);
    let id = db.client.insert(NewJob::raw("mystery", serde_json::json!({}))).await.unwrap();
    let e = w.next_where(|e| e.id == id).await;
    assert!(
        matches!(e.outcome, EventOutcome::Retrying { after } if after >= std::time::Duration::from_secs(1))
    );
    let row = db.client.get(id).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempt), (JobState::Retryable, 1));
    assert_eq!(row.errors[0].class, ErrorClass::UnknownKind);
    assert!(row.errors[0].error.contains("no handler for job kind `mystery`"), "{}", row.errors[0].error);
    assert!(row.errors[0].error.contains("noop"), "names what it handles");
    // the worker keeps serving other jobs
    let next = db.client.insert(Noop { n: 1 }).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == next).await.outcome, EventOutcome::Completed);
    w.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_job() {
    let db = TestDb::new().await;
    let worker = Worker::builder(db.client.clone(), ())
        .queue("default", 1)
        .handler(explode)
        .handler(noop)
        .config(fast_config())
        .build()
        .unwrap();
    let mut w = start(worker);
    let boom = db.client.insert(Explode {}).await.unwrap();
    let fine = db.client.insert_many((0..5).map(|n| Noop { n })).await.unwrap();
    assert_eq!(w.next_where(|e| e.id == boom).await.outcome, EventOutcome::Discarded);
    let done = w.collect(5, |e| fine.contains(&e.id)).await;
    assert!(done.iter().all(|e| e.outcome == EventOutcome::Completed), "the slot was freed");
    let row = db.client.get(boom).await.unwrap().unwrap();
    assert_eq!(row.errors[0].class, ErrorClass::Panic);
    assert!(row.errors[0].error.contains("handler panicked: boom in a handler"));
    w.stop().await;
}

#[tokio::test]
async fn worker_on_an_unmigrated_schema_says_to_migrate() {
    let db = TestDb::unmigrated().await;
    let worker = Worker::builder(db.client.clone(), ()).handler(noop).build().unwrap();
    let err = worker.run(tokio_util::sync::CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, Error::NotMigrated { .. }), "{err:?}");
    assert!(err.to_string().contains("haul migrate up"), "{err}");
    let insert = db.client.insert(Noop { n: 1 }).await.unwrap_err();
    assert!(matches!(insert, Error::NotMigrated { .. }), "{insert:?}");
}

#[tokio::test]
async fn what_postgres_cannot_store_is_refused_before_any_sql_and_the_transaction_survives() {
    let db = TestDb::new().await;
    let at =
        |y: i32| chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let cases = [
        NewJob::raw("noop", serde_json::json!({"n": "a\u{0}b"})),
        NewJob::raw("noop", serde_json::json!({"a\u{0}": 1})),
        NewJob::new(&Noop { n: 1 }).with_metadata(serde_json::json!({"trace": "\u{0}"})),
        NewJob::new(&Noop { n: 1 }).with_run_at(at(-5000)),
        NewJob::new(&Noop { n: 1 }).with_delay(std::time::Duration::MAX),
    ];
    db.exec("CREATE TABLE {s}.orders (id int)").await;
    for job in cases {
        let mut tx = db.pool.begin().await.unwrap();
        db.exec_in(&mut tx, "INSERT INTO {s}.orders VALUES (1)").await;
        let err = db.client.insert_tx(&mut *tx, job).await.unwrap_err();
        assert!(matches!(err, Error::Unstorable { .. } | Error::InvalidOption { .. }), "{err:?}");
        db.exec_in(&mut tx, "INSERT INTO {s}.orders VALUES (2)").await; // the transaction is usable
        tx.commit().await.unwrap();
    }
    let nul = db.client.insert(NewJob::raw("noop", serde_json::json!({"n": "\u{0}"}))).await.unwrap_err();
    assert!(nul.to_string().contains("NUL"), "{nul}");
    let many = db.client.insert_many([
        NewJob::new(&Noop { n: 1 }),
        NewJob::new(&Noop { n: 2 }).with_delay(std::time::Duration::MAX),
    ]);
    assert!(matches!(many.await, Err(Error::InvalidOption { .. })));
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.orders").await, 10, "every business row committed");
    assert_eq!(db.scalar("SELECT count(*) FROM {s}.jobs").await, 0);
    let escaped = db.client.insert(NewJob::raw("noop", serde_json::json!({"n": "a\\u0000"}))).await;
    assert!(escaped.is_ok(), "a backslash followed by the text u0000 is no NUL: {escaped:?}");
}

#[tokio::test]
async fn every_setting_is_range_checked_at_build_naming_the_setter() {
    use haul::WorkerConfig;
    use std::time::Duration;
    let db = TestDb::new().await;
    let max = Duration::MAX;
    let cases: Vec<(WorkerConfig, &str)> = vec![
        (WorkerConfig::default().with_heartbeat_interval(max), "WorkerConfig::with_heartbeat_interval"),
        (WorkerConfig::default().with_statement_timeout(max), "WorkerConfig::with_statement_timeout"),
        (
            WorkerConfig::default().with_complete_batch_max(usize::MAX),
            "WorkerConfig::with_complete_batch_max",
        ),
        (WorkerConfig::default().with_leader_ttl(Duration::from_nanos(2)), "WorkerConfig::with_leader_ttl"),
        (WorkerConfig::default().with_lease(max), "WorkerConfig::with_lease"),
        (
            WorkerConfig::default().with_fetch_poll_interval(Duration::ZERO),
            "WorkerConfig::with_fetch_poll_interval",
        ),
        (WorkerConfig::default().with_cleaner_interval(max), "WorkerConfig::with_cleaner_interval"),
        (WorkerConfig::default().with_completed_retention(max), "WorkerConfig::with_completed_retention"),
        (WorkerConfig::default().with_maintenance_batch(-1), "WorkerConfig::with_maintenance_batch"),
        (WorkerConfig::default().with_fetch_concurrency(0), "WorkerConfig::with_fetch_concurrency"),
        (WorkerConfig::default().with_error_max_bytes(0), "WorkerConfig::with_error_max_bytes"),
        (
            WorkerConfig::default().with_health_stall_after(Duration::from_secs(20)),
            "WorkerConfig::with_health_stall_after",
        ),
        (
            WorkerConfig::default().with_health_silence_after(Duration::from_secs(1)),
            "WorkerConfig::with_health_silence_after",
        ),
    ];
    for (config, setter) in cases {
        let built = Worker::builder(db.client.clone(), ()).handler(noop).config(config).build();
        match built {
            Err(Error::InvalidConfig { setting, .. }) => assert_eq!(setting, setter),
            other => panic!("{setter}: {:?}", other.err()),
        }
    }
    let client = Client::with_config(db.pool.clone(), ClientConfig::default().with_max_payload_bytes(0));
    let err = client.err().unwrap();
    assert!(
        matches!(err, Error::InvalidConfig { setting: "ClientConfig::with_max_payload_bytes", .. }),
        "{err:?}"
    );
}
